# %% [markdown]
# # Training a GNN recommender: MF, GCN, NGCF and LightGCN on one budget
#
# The article (§4) trains a graph neural network to produce user and item
# embeddings and ranks items by their similarity. This tutorial trains four
# encoders of that kind the same way and watches them learn:
#
# * matrix factorisation (MF), free embeddings and no graph, the baseline;
# * the article's GCN layer (§4), `mgr.GCN`;
# * NGCF (Wang et al., SIGIR 2019), `mgr.NGCF`;
# * LightGCN (He et al., SIGIR 2020), `mgr.LightGCN`.
#
# All four get the same split, the same loss (BPR), the same optimiser (Adam)
# and the same budget: embedding width, epochs, learning rate, batch size.
# We write one BPR step out by hand and check it against the library, draw
# the training curves (loss and validation Recall@20 per epoch), then vary
# the depth $K$ and measure over-smoothing: how alike the embeddings become
# as propagation is repeated.
#
# Data: the embedded `mgr.datasets.synthetic()` (planted taste communities,
# Zipf popularity) at 600 users × 900 items; every number quoted below comes
# from that default run. Set `MINIGRAPHREC_TUTORIAL_TINY=1` for a smaller,
# faster run (the test suite does). Set `MINIGRAPHREC_ML100K=/path/to/ml-100k`
# to train on MovieLens-100K instead (943 users × 1,682 items, 100,000 ratings
# used as binary interactions), with batches of 4,096 pairs instead of 1,024
# to keep the run to a few minutes (a batch's layers cover most of that denser
# graph, and GCN and NGCF multiply every covered row by their weight matrices).
# That run prints its own numbers; every number in the text
# is from the synthetic run and does not apply to it (there, at this budget,
# LightGCN is still improving at the last epoch and does not beat MF).
#
# Run it as a script (`python tutorials/09_training_gnn_recommenders.py`) or
# cell by cell.

# %% parameters
import os

seed = 0
n_users, n_items = 600, 900
# the shared budget: every model gets exactly these
dim = 32
epochs = 15
lr = 0.01                 # 10x the LightGCN paper's: a few epochs instead of hundreds
batch_size = 1024
reg = 1e-4                # the LightGCN paper's L2 weight
# depth and over-smoothing
lightgcn_depths = (0, 1, 2, 3, 4)   # K = 0 is checked equal to MF
gcn_depths = (1, 2)       # with 3 added, L = 3 ends at test Recall@20 0.343 (best epoch 14)
max_steps = 64            # powers Â^k E0 computed by hand, k = 0 .. max_steps (>= max K)
# sphinx_gallery_start_ignore
if os.environ.get("MINIGRAPHREC_TUTORIAL_TINY") == "1":   # the smaller run of the tests
    n_users, n_items, dim, epochs, batch_size = 200, 300, 16, 6, 512
# sphinx_gallery_end_ignore
ml100k_folder = os.environ.get("MINIGRAPHREC_ML100K")   # optional real data
if ml100k_folder:         # ~8x the synthetic pairs: larger, fewer steps, same budget for all
    batch_size = 4096
if max_steps < max(lightgcn_depths):
    raise ValueError(f"max_steps={max_steps} must be at least the deepest LightGCN, "
                     f"max(lightgcn_depths)={max(lightgcn_depths)}: section 5 checks its layer "
                     "mean against the library's")

# %%
import time

import numpy as np
from scipy.sparse.csgraph import connected_components

import minigraphrec as mgr
from minigraphrec import graph, ops, plot

# MovieLens-100K if ml100k_folder names it, else synthetic(n_users, n_items, random_state=seed)
data, data_name = mgr.datasets.example(n_users, n_items, random_state=seed, ml100k=ml100k_folder)
n_users, n_items = data.n_users, data.n_items
train, val, test = mgr.split.random_split(data, test_size=0.2, val_size=0.1,
                                          random_state=seed)
R = train.to_csr()                                     # (n_users, n_items) binary
# After model selection on val, the test ranking leaves out train AND val items.
seen = mgr.Interactions(np.concatenate([train.users, val.users]),
                        np.concatenate([train.items, val.items]),
                        n_users=data.n_users, n_items=data.n_items)
print("train:", train, "\nval:  ", val, "\ntest: ", test)

# %% [markdown]
# ## 1. Four encoders
# Each model maps the nodes of the user–item graph (users first, then items)
# to final embeddings $E$; a score is the dot product $s_{ui} = e_u \cdot e_i$.
# $\hat A = D^{-1/2} A D^{-1/2}$ is the normalised bipartite adjacency, and
# $\hat A_\text{sl} = \tilde D^{-1/2} \tilde A \tilde D^{-1/2}$ the same with
# self-loops, with $\tilde A = A + I$ and $\tilde D$ the degrees of $\tilde A$
# (Kipf & Welling's normalisation; tutorials 01 and 04 use the same symbols).
#
# * **MF**: $E = E_0$, one free row per user and per item.
# * **GCN** (the article's §4 layer, with Kipf & Welling's normalisation and
#   self-loops, the library's default):
#   $H^{\ell+1} = \sigma(\hat A_\text{sl} H^\ell W^\ell + b^\ell)$, $H^0 = E_0$,
#   ReLU between layers, the last layer linear; $E = H^L$, $L = 2$.
# * **NGCF** (Wang et al., SIGIR 2019):
#   $E^{\ell+1} = \mathrm{LeakyReLU}\big((\hat A + I) E^\ell W_1^\ell + b_1^\ell +
#   (\hat A E^\ell \odot E^\ell) W_2^\ell + b_2^\ell\big)$, and $E$ concatenates
#   $E^0$ and the L2-normalised $E^1, \dots, E^L$ (the authors' code normalises
#   the propagated layers; $E^0$ enters as is), $L = 3$.
#   The two biases are not in the paper's equations but in the authors' code,
#   and the library keeps them (`minigraphrec.models.ngcf`).
#   We switch its message dropout off (the paper uses 0.1) so that all four
#   minimise the same loss.
# * **LightGCN** (He et al., SIGIR 2020): no weights, no nonlinearity,
#   $E = \frac{1}{K+1}\sum_{k=0}^{K} \hat A^k E_0$, $K = 3$.
#
# Same budget for all: `dim`, `epochs`, `lr`, `batch_size`, `reg` and the seed.

# %%
budget = dict(dim=dim, epochs=epochs, lr=lr, batch_size=batch_size, reg=reg,
              random_state=seed)


def make_models():
    """The four models, untrained, with the shared budget."""
    return {"MF": mgr.MF(**budget),
            "GCN": mgr.GCN(n_layers=2, **budget),
            "NGCF": mgr.NGCF(n_layers=3, message_dropout=0.0, **budget),
            "LightGCN": mgr.LightGCN(n_layers=3, **budget)}


models = make_models()
for name, model in models.items():
    model.fit(train, epochs=0)                         # build the graph, draw E0 and W
n_params = {name: sum(p.size for p in m.params.values()) for name, m in models.items()}
print("parameters:", n_params)
assert n_params["GCN"] - n_params["MF"] == 2 * (dim * dim + dim)           # 2 layers: W, b
assert n_params["NGCF"] - n_params["MF"] == 3 * (2 * dim * dim + 2 * dim)   # 3: W1, W2, b1, b2

# %% [markdown]
# The graph models add little: $E_0$ has $(n_{users} + n_{items})\, d$
# entries in every model (here $1{,}500 \cdot 32 = 48{,}000$); GCN adds a
# $d \times d$ matrix and a bias per layer ($2 \cdot (32^2 + 32) = 2{,}112$),
# NGCF two of each per layer ($3 \cdot (2 \cdot 32^2 + 2 \cdot 32) = 6{,}336$),
# LightGCN nothing at all.

# %% [markdown]
# ## 2. One BPR step, by hand
# `fit` repeats one step: draw a batch of $B$ triples $(u, i, j)$ (user $u$
# took item $i$, not item $j$; `mgr.ops.sample_bpr`), compute the loss and
# its gradient, and let Adam move every parameter. The loss (BPR, Rendle et
# al., UAI 2009, with the L2 term of the LightGCN code; the library defines
# it in the module docstrings of `minigraphrec.losses` and of
# `minigraphrec.models.embedding_base`, to which every model's
# `loss_and_grad` refers) is the same for every encoder:
#
# $$L = \frac1B \sum_{b=1}^{B} \operatorname{softplus}\big(e_u\cdot e_j - e_u \cdot e_i\big)
#     + \frac{reg}{2B} \sum_{b=1}^{B} \big(\lVert e^0_u\rVert^2 + \lVert e^0_i\rVert^2
#     + \lVert e^0_j\rVert^2\big),$$
#
# $\operatorname{softplus}(z) = \log(1 + e^z)$, $e$ the final and $e^0$ the
# layer-0 ($E_0$) rows. Only $E$ differs between the models. We take the
# final embeddings each model caches after `fit` (tutorial 02 computes
# LightGCN's by hand) and write the loss out in NumPy, in float64, for one
# batch; the models compute in float32, so we compare to `rtol=1e-5`.

# %%
users, pos, neg = mgr.ops.sample_bpr(R, n_samples=batch_size, random_state=seed)   # (B,) each
batch = mgr.PairBatch.make(users, pos, neg)
B = batch.size


def bpr_loss_by_hand(model):
    """L of one batch from the model's cached embeddings and its E0."""
    U = model.user_embeddings_.astype(np.float64)       # (n_users, d_out)
    V = model.item_embeddings_.astype(np.float64)       # (n_items, d_out)
    E0 = model.params["E0"].astype(np.float64)          # (n_users + n_items, dim)
    total = 0.0
    for u, i, j in zip(users, pos, neg):                # one triple at a time, as written
        z = U[u] @ V[j] - U[u] @ V[i]
        total += np.logaddexp(0.0, z)                   # softplus(z), stable
        total += reg / 2 * (E0[u] @ E0[u] + E0[n_users + i] @ E0[n_users + i]
                            + E0[n_users + j] @ E0[n_users + j])
    return total / B


init_loss = {}
for name, model in models.items():
    loss, grads = model.loss_and_grad(batch)
    assert np.isclose(loss, bpr_loss_by_hand(model), rtol=1e-5, atol=0), name
    assert grads.keys() == model.params.keys()
    init_loss[name] = loss
print("batch loss at initialisation:", {k: round(v, 4) for k, v in init_loss.items()},
      f"(log 2 = {np.log(2):.4f})")

# %% [markdown]
# At initialisation every embedding is small, every score is close to 0, and
# the loss is close to $\operatorname{softplus}(0) = \log 2$ for all four.

# %% [markdown]
# ## 3. Training curves
# `fit(train, validation=val)` trains and, after every epoch, evaluates
# Recall@20 on the validation pairs (all items ranked, training items left
# out). Each epoch appends a record to `history_`: the mean batch loss, the
# seconds it took, and the validation metrics. With `patience=None` (the
# default) it trains every epoch; either way it restores the parameters of
# the best validation epoch at the end (`best_epoch_`), and with
# `patience=p` it would stop after $p$ epochs without improvement.
# The test set is only used once, at the end, with train and validation
# items left out of the ranking.

# %%
popularity = mgr.Popularity().fit(train)
val_recall_popularity = mgr.evaluate(popularity, val, k=20)["recall@20"]
test_recall_popularity = mgr.evaluate(popularity, test, k=20, train=seen)["recall@20"]

results = {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(train, validation=val)
    seconds = time.perf_counter() - start
    scores = mgr.evaluate(model, test, k=20, train=seen)
    results[name] = {"params": n_params[name], "seconds": seconds,
                     "best_epoch": model.best_epoch_,
                     "val_recall": max(r["recall@20"] for r in model.history_),
                     "test_recall": scores["recall@20"], "test_ndcg": scores["ndcg@20"]}

print(f"{'model':9s} {'params':>7s} {'seconds':>7s} {'best ep':>7s} {'val R@20':>8s} "
      f"{'test R@20':>9s} {'test N@20':>9s}")
for name, r in results.items():
    print(f"{name:9s} {r['params']:7d} {r['seconds']:7.1f} {r['best_epoch']:7d} "
          f"{r['val_recall']:8.3f} {r['test_recall']:9.3f} {r['test_ndcg']:9.3f}")
print(f"{'Popular.':9s} {0:7d} {'':7s} {'':7s} {val_recall_popularity:8.3f} "
      f"{test_recall_popularity:9.3f}")

first_loss = {name: m.history_[0]["loss"] for name, m in models.items()}
last_loss = {name: m.history_[-1]["loss"] for name, m in models.items()}
test_recall = {name: r["test_recall"] for name, r in results.items()}
epochs_to_beat_mf = {name: next((r["epoch"] for r in m.history_
                                 if r["recall@20"] >= results["MF"]["val_recall"]), None)
                     for name, m in models.items()}
print("training loss, first -> last epoch:",
      ", ".join(f"{name} {first_loss[name]:.3f} -> {last_loss[name]:.3f}" for name in models))
print("first epoch reaching MF's best validation Recall@20:", epochs_to_beat_mf)
print("validation Recall@20 by epoch:")
for name, m in models.items():
    print(f"  {name:9s}", " ".join(f"{r['recall@20']:.3f}" for r in m.history_))

# %% [markdown]
# `mgr.plot.plot_history` draws a `history_` (or a dict of them) into the
# axes it is given and returns them, so the lesson's marks go on top: each
# model's best epoch, the Popularity baseline, and log 2, the BPR loss of
# untrained scores.

# %%
fig, (ax_loss, ax_recall) = plot.subplots(1, 2)
plot.plot_history(models, metric="loss", ax=ax_loss)
plot.plot_history(models, metric="recall@20", ax=ax_recall)
for line, model in zip(ax_recall.get_lines(), models.values()):   # one line per model
    best = model.history_[model.best_epoch_ - 1]
    ax_recall.plot(best["epoch"], best["recall@20"], "o", ms=9, mfc="none",
                   color=line.get_color())
ax_recall.axhline(val_recall_popularity, color="grey", ls=":", label="Popularity")
ax_loss.axhline(np.log(2), color="grey", ls=":", lw=1)
ax_loss.annotate("log 2", (epochs, np.log(2)), ha="right", va="top", color="grey")
ax_loss.set(xlabel="epoch", ylabel="BPR loss (mean over the epoch's batches)",
            title=f"training loss ({data_name})")
ax_recall.set(xlabel="epoch", ylabel="validation Recall@20",
              title="validation Recall@20 (circle: best epoch)")
ax_recall.legend(loc="lower right", fontsize=8)
print("wrote", plot.save_figure(fig, "09_training_curves"))

# %% [markdown]
# On the default data the curves tell the story of the LightGCN paper in
# miniature. LightGCN is ahead from the first epoch: its validation
# Recall@20 after one epoch is already above the best MF reaches in all 15
# (0.44 against 0.40). It levels off by epoch 3 (0.465) and then stays
# within a few thousandths of that: the best epoch, 9 (0.468), is only
# 0.003 above epoch 3, about as much as the curve moves from one epoch to
# the next (epoch 5 also rounds to 0.468), and in the last epochs it dips
# (0.458 at epoch 14, 0.463 at epoch 15) while the training loss keeps
# falling. So "the best epoch is 9" is a coin toss among near-ties; what the
# budget shows is a plateau from epoch 3 on. That is also why `fit` keeps
# the best epoch rather than the last. GCN and NGCF, which add weight
# matrices and nonlinearities to the propagation, push the training loss
# down fastest in the first epochs (mean loss of epoch 1: 0.59 and 0.60,
# against 0.69 for MF and LightGCN); after 15 epochs they stand, like MF,
# near 0.40 test Recall@20, well below LightGCN's 0.47. But their validation
# recall is still rising at the last epoch (both keep epoch 15 as their
# best), so this budget shows that they learn more slowly than LightGCN, not
# where they would end with more epochs. MF, with no graph, starts slowest,
# levels off at about 0.40 from epoch 10, and ends with the lowest training
# loss of all (0.10, against 0.12 to 0.16 for the others).
#
# So a low training loss is not the goal: the loss is measured on triples
# drawn from the training pairs, the recall on pairs the model never saw.
# (The seconds in the table are this machine's and move with its load. All
# three graph models compute a batch's layers on its neighbourhood only, the
# rows within $L$ hops of its users and items; GCN and NGCF cost more per
# batch for their weight matrices, NGCF also for its three layers to GCN's two.)

# %% [markdown]
# ## 4. Depth: Recall@20 against the number of layers
# LightGCN with $K = 0$ is MF: the sum has only the $k = 0$ term. With the
# same seed it draws the same $E_0$ and the same batches, so it must give
# the same embeddings, bit for bit. Then each extra layer mixes one more
# ring of neighbours into every embedding. We train LightGCN at
# $K = 0, \dots, 4$ and the article's GCN at a few depths, on the same budget.

# %%
# LightGCN with K = 3 and GCN with L = 2 are section 3's models: same budget, same seed.
lightgcn_by_depth = {3: models["LightGCN"]} if 3 in lightgcn_depths else {}
gcn_by_depth = {2: models["GCN"]} if 2 in gcn_depths else {}
for K in lightgcn_depths:
    if K not in lightgcn_by_depth:
        lightgcn_by_depth[K] = mgr.LightGCN(n_layers=K, **budget).fit(train, validation=val)
for L in gcn_depths:
    if L not in gcn_by_depth:
        gcn_by_depth[L] = mgr.GCN(n_layers=L, **budget).fit(train, validation=val)
lightgcn_by_depth = dict(sorted(lightgcn_by_depth.items()))
gcn_by_depth = dict(sorted(gcn_by_depth.items()))

if 0 in lightgcn_by_depth:                             # K = 0 is MF, bit for bit
    assert np.array_equal(lightgcn_by_depth[0].user_embeddings_, models["MF"].user_embeddings_)
    assert np.array_equal(lightgcn_by_depth[0].item_embeddings_, models["MF"].item_embeddings_)

recall_lightgcn_by_depth = {K: mgr.evaluate(m, test, k=20, train=seen)["recall@20"]
                            for K, m in lightgcn_by_depth.items()}
recall_gcn_by_depth = {L: mgr.evaluate(m, test, k=20, train=seen)["recall@20"]
                       for L, m in gcn_by_depth.items()}
print("test Recall@20, LightGCN by K:",
      {K: round(r, 3) for K, r in recall_lightgcn_by_depth.items()})
print("test Recall@20, GCN by L:     ",
      {L: round(r, 3) for L, r in recall_gcn_by_depth.items()})

# %% [markdown]
# ## 5. Over-smoothing, by hand
# Why not 10 or 50 layers? Each propagation step averages a node with its
# neighbours, and repeated averaging forgets where it started. Take a random
# $E_0$ (LightGCN's Xavier draw) and compute $\hat A^k E_0$ for growing $k$.
# As a measure of likeness we use the mean cosine similarity (the article's
# §4 similarity) over all pairs of distinct users,
#
# $$\bar c = \frac{1}{n(n-1)} \sum_{u \ne w}
#     \frac{x_u \cdot x_w}{\lVert x_u\rVert\,\lVert x_w\rVert}
#   = \frac{\lVert \sum_u \hat x_u \rVert^2 - n}{n(n-1)},
#   \qquad \hat x_u = x_u / \lVert x_u \rVert,$$
#
# where the second form (the square of the sum of the unit vectors, minus its
# $n$ diagonal terms) costs $O(n d)$ instead of $O(n^2 d)$. We check it once
# against the full $n \times n$ cosine matrix of `mgr.rank.score_matrix`.

# %%
def mean_pairwise_cosine(X):
    """Mean cosine similarity over all ordered pairs of distinct rows of X (n, d)."""
    X_unit = X / np.linalg.norm(X, axis=1, keepdims=True)   # (n, d)
    s = X_unit.sum(axis=0)                                  # (d,)
    n = X.shape[0]
    return (s @ s - n) / (n * (n - 1))


A_hat = graph.normalize_adjacency(graph.bipartite_adjacency(R), kind="symmetric")  # float64
E0 = mgr.LightGCN(dim=dim, n_layers=0, dtype="float64",
                  random_state=seed).fit(train, epochs=0).params["E0"]            # (n, dim)

C = mgr.rank.score_matrix(E0[:n_users], E0[:n_users], kind="cosine")              # (n_u, n_u)
assert np.isclose(mean_pairwise_cosine(E0[:n_users]), (C.sum() - np.trace(C)) /
                  (n_users * (n_users - 1)), rtol=1e-10, atol=1e-14)

steps = np.arange(max_steps + 1)
cosine_power, cosine_mean = [], []                      # Â^k E0 and the layer mean, per k
P, total = E0.copy(), np.zeros_like(E0)                 # P = Â^k E0 (n, dim)
for k in steps:
    total += P                                          # Σ_{k' <= k} Â^k' E0
    cosine_power.append(mean_pairwise_cosine(P[:n_users]))
    cosine_mean.append(mean_pairwise_cosine(total[:n_users] / (k + 1)))
    if k == max(lightgcn_depths):                       # LightGCN's E, by hand vs the op
        E_op, _ = ops.lightgcn_forward(A_hat, E0, int(k))
        assert np.allclose(total / (k + 1), E_op, rtol=1e-12, atol=1e-15)
    P = A_hat @ P
cosine_power, cosine_mean = np.array(cosine_power), np.array(cosine_mean)
above_099 = np.flatnonzero(cosine_power > 0.99)
steps_to_099 = int(above_099[0]) if above_099.size else None   # None: not within max_steps
K_max = max(lightgcn_depths)                            # the deepest LightGCN trained
print(f"mean pairwise user cosine of Â^k E0: k=0 {cosine_power[0]:.3f}, "
      f"k={K_max} {cosine_power[K_max]:.3f}, k={max_steps} {cosine_power[max_steps]:.4f} "
      + (f"(above 0.99 from k={steps_to_099})" if steps_to_099 is not None
         else f"(not above 0.99 by k={max_steps})"))
print(f"... of the layer mean 1/(K+1) Σ Â^k E0: K={K_max} {cosine_mean[K_max]:.3f}, "
      f"K={max_steps} {cosine_mean[max_steps]:.3f}")

# %% [markdown]
# The powers collapse: from $k = 16$ on, the mean cosine of the users' rows of
# $\hat A^k E_0$ is above 0.99; every user points the same way. That is
# linear algebra, not bad luck. $\hat A$ is symmetric with eigenvalues in
# $[-1, 1]$; on a connected bipartite graph the eigenvalue $1$ has
# eigenvector $\sqrt{\deg}$ (entries $\sqrt{\deg_v}$, $\deg_v$ the degree of
# node $v$) and $-1$ has the same vector with the item entries negated. Every
# other component of $E_0$ shrinks like $|\lambda|^k$ with $|\lambda| < 1$, and
# what survives, restricted to the users, is $\sqrt{\deg_u}$ times one vector:
# all user rows become parallel, cosine 1. (Our training graph has one
# component holding every user; the few items without a training pair sit
# alone and do not touch the users' rows. We check the first part below.)
#
# LightGCN's layer mean keeps the $k = 0$ term, $E_0$ itself, with weight
# $1/(K+1)$, and that term keeps users apart: at $K = 4$ the mean cosine of
# the layer mean is 0.005, where $\hat A^4 E_0$ alone is at 0.28, and even
# after 64 steps the mean is below 0.5.

# %%
_, component = connected_components(graph.bipartite_adjacency(R), directed=False)
users_in_one_component = len(np.unique(component[:n_users])) == 1
cosine_trained = {K: float(mean_pairwise_cosine(m.user_embeddings_.astype(np.float64)))
                  for K, m in lightgcn_by_depth.items()}
print("every user in one component:", users_in_one_component)
print("mean pairwise user cosine, trained LightGCN by K:",
      {K: round(c, 3) for K, c in cosine_trained.items()})

# %%
fig, (ax_depth, ax_smooth) = plot.subplots(1, 2)
Ks = list(recall_lightgcn_by_depth)
ax_depth.plot(Ks, list(recall_lightgcn_by_depth.values()), "o-", label="LightGCN")
ax_depth.plot(list(recall_gcn_by_depth), list(recall_gcn_by_depth.values()), "s-",
              label="GCN (K&W normalisation, self-loops)")
ax_depth.axhline(test_recall_popularity, color="grey", ls=":", label="Popularity")
ax_depth.set_xticks(Ks)
ax_depth.set(xlabel="number of layers K (LightGCN K = 0 is MF)", ylabel="test Recall@20",
             title=f"depth, same budget ({epochs} epochs, {data_name})")
ax_depth.legend(loc="best")

ax_smooth.plot(steps, cosine_power, label=r"$\hat A^k E_0$ (untrained)")
ax_smooth.plot(steps, cosine_mean, label=r"layer mean $\frac{1}{K+1}\sum_{k\leq K}\hat A^k E_0$")
ax_smooth.plot(Ks, list(cosine_trained.values()), "o", color="black",
               label="trained LightGCN, K layers")
ax_smooth.set_xscale("symlog", linthresh=1)
ticks = [0] + [2 ** j for j in range(int(np.log2(max_steps)) + 1)] if max_steps else [0]
ax_smooth.set_xticks(ticks)
ax_smooth.set_xticklabels([str(t) for t in ticks])
ax_smooth.set_xlim(-0.3, max_steps * 1.15)          # room for the points at k = 0 and 64
ax_smooth.set(xlabel="propagation steps k (or layers K)",
              ylabel="mean cosine over pairs of users", title=f"over-smoothing ({data_name})")
ax_smooth.legend(loc="best", fontsize="small")
print("wrote", plot.save_figure(fig, "09_depth_oversmoothing"))

# %% [markdown]
# Left: depth helps LightGCN a lot at first, the step from $K = 0$ (MF) to
# $K = 1$ being by far the largest (0.40 to 0.46 on the default data), then
# it levels off: $K = 2, 3, 4$ are within 0.01 of each other. The article's
# GCN does not gain from depth on this budget: every layer adds a weight
# matrix to learn and a ReLU, and the deeper the GCN, the more slowly it
# learns: its test Recall@20 falls from 0.407 at $L = 1$ to 0.394 at
# $L = 2$, whose validation recall is still rising at epoch 15, and a third
# layer (not run here; see the comment on `gcn_depths`) is lower still. So on 15
# epochs depth costs the GCN accuracy; whether it would ever pay off, only a
# longer run can tell. Removing the weight matrices and the nonlinearity
# from NGCF is what made it more accurate in the LightGCN paper's ablations
# (He et al., SIGIR 2020).
#
# Right: the powers $\hat A^k E_0$ make the users indistinguishable within a
# few dozen steps; the layer mean slows this down a great deal. The trained
# LightGCN embeddings (black dots) grow more alike with depth from one layer
# on, from a mean cosine of 0.05 at $K = 1$ to 0.33 at $K = 4$ (the point at
# $K = 0$, MF's free embeddings, sits at 0.086, above $K = 1$: one layer of
# averaging does not make users alike by itself): training pulls them
# together faster than the untrained layer mean would, though they are far
# from collapse. The LightGCN paper's ablation of its layer combination
# found the same pattern on real data: reading out the last layer alone,
# accuracy rises for the first layers and then falls, which the authors put
# down to over-smoothing, while with the layer mean it levels off instead.
