# %% [markdown]
# # The article's GCN, formula by formula
#
# The article (§4) writes one graph-convolution layer as
#
# $$h_v^{\ell+1} = \sigma\Big(\sum_{u \in \mathcal N(v)} W^\ell h_u^\ell + b^\ell\Big)$$
#
# where $h_v^\ell$ is node $v$'s embedding after layer $\ell$ (a column vector
# of length $d_\ell$; $h_v^0$ is its input features), $\mathcal N(v)$ the set
# of $v$'s neighbours in the graph, $W^\ell$ a learned $d_{\ell+1} \times d_\ell$
# weight matrix and $b^\ell$ a learned bias of length $d_{\ell+1}$, both shared
# by every node, and $\sigma$ an activation applied entry by entry (the
# article: "usually ReLU", $\mathrm{ReLU}(x) = \max(x, 0)$, the one used here).
# It then ranks items for a user by cosine similarity
# $\mathrm{sim}(u, v) = \frac{u \cdot v}{\lVert u\rVert\,\lVert v\rVert}$.
# The letters change meaning between the two formulas: in the layer, $u$ and
# $v$ are any two nodes (users and items alike, $u$ a neighbour of $v$); in
# $\mathrm{sim}(u, v)$, $u$ is a user's embedding and $v$ an item's.
# Its worked example has 10 users and 10 items (§4) with 10 features each (§5).
# The article calls the whole system "the LLAMA model", and its introduction
# calls LLAMA a language model; but what it describes (§3–§5, its code
# included) is this graph network over users and items, with no language
# model anywhere. The tutorials follow what it describes, and call each
# model by what it is.
# This tutorial computes both formulas by hand in NumPy on that example,
# checks each against the library, then reproduces the article's §5 code and
# the reason it cannot work as printed.
#
# Run it as a script (`python tutorials/01_article_gcn.py`) or cell by cell.

# %% parameters
hidden = 16          # the article's hidden size
seed = 0
epochs = 100         # the article's 100 epochs
lr = 0.001           # the article's Adam learning rate

# %%
import numpy as np

import minigraphrec as mgr
from minigraphrec import graph, ops, plot

toy = mgr.datasets.article_toy(random_state=seed)
R = toy.to_csr()                                   # (10 users, 10 items), 1 = interacted
print(toy)
print(R.toarray().astype(int))

# %% [markdown]
# ## 1. The user–item graph
# Users and items are the nodes (users first), interactions the edges:
# $A = \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}$, 20 × 20.
# The article never lists its edges; the 34 above are ours
# (`mgr.datasets.article_toy`): two taste groups, u1–u5 with v1–v5 and
# u6–u10 with v6–v10, joined by two bridge edges, u5–v6 and u10–v1.

# %%
A = graph.bipartite_adjacency(R)                   # (20, 20) CSR
A_by_hand = np.block([[np.zeros((10, 10)), R.toarray()],
                      [R.toarray().T, np.zeros((10, 10))]])
assert np.array_equal(A.toarray(), A_by_hand)

# %% [markdown]
# ## 2. One layer, exactly as printed
# $\sum_{u\in\mathcal N(v)} W h_u$ is row $v$ of $A\,H\,W$: the plain sum over
# neighbours, no normalisation. Node features $H$ (20 × 10) are the article's
# 10-dim user and item features stacked (users first, one row per node). The
# article's $W$ multiplies a column vector, $W h_u$; here nodes are rows of $H$,
# so the code's `W` is the transpose of the article's, $h_u^\top W$, of shape
# (10, `hidden`) = (10, 16), and the layer's output $\sigma(A H W + b)$ is
# 20 × 16.

# %%
H0 = np.vstack([toy.user_features, toy.item_features])        # (20, 10)
rng = np.random.default_rng(seed)
W = rng.standard_normal((10, hidden)) / np.sqrt(10)          # (10, 16)
b = np.zeros(hidden)                                         # (16,)

H1_by_hand = np.zeros((20, hidden))
for v in range(20):
    neighbours = np.flatnonzero(A_by_hand[v])
    total = sum(W.T @ H0[u] for u in neighbours) + b if len(neighbours) else b
    H1_by_hand[v] = np.maximum(total, 0.0)                   # σ = ReLU

# %% [markdown]
# The library computes the same layer as three op pairs (each with its backward
# beside it, gradient-checked): propagate `A X`, linear `X W + b`, ReLU.

# %%
AH, _ = ops.propagate_forward(A, H0)                          # (20, 10) = A H
Z, _ = ops.linear_forward(AH, W, b)                           # (20, 16) = A H W + b
H1, _ = ops.relu_forward(Z)
assert np.allclose(H1, H1_by_hand, rtol=1e-12, atol=1e-12)
print("layer output, node u1:", np.round(H1[0, :6], 3))

# %% [markdown]
# The plain sum grows with the degree: a node with 5 neighbours gets a 5× larger
# input than one with 1. Kipf & Welling's GCN (ICLR 2017) first adds self-loops, so a
# node keeps its own features, then divides by the square root of both
# degrees: $\hat A_\text{sl} = \tilde D^{-1/2} (A + I) \tilde D^{-1/2}$, with
# $\tilde D$ the degrees of $A + I$. Without the self-loops,
# $\hat A = D^{-1/2} A D^{-1/2}$, $\hat A_{vu} = 1/\sqrt{d_v d_u}$ for each edge
# $(v, u)$ ($d_v$ the degree of $v$, $D$ the diagonal matrix of the degrees), it
# is the form LightGCN (He et al., SIGIR 2020) uses (tutorial 02). Both, by hand,
# as 20 × 20 matrices:

# %%
A_hat = graph.normalize_adjacency(A, kind="symmetric")                  # LightGCN's
d = A_by_hand.sum(axis=1)
A_hat_by_hand = A_by_hand / np.sqrt(np.outer(d, d))
assert np.allclose(A_hat.toarray(), A_hat_by_hand, rtol=1e-14, atol=0)
A_hat_kw = graph.normalize_adjacency(A, kind="symmetric", self_loops=True)   # Kipf & Welling's
A_tilde = A_by_hand + np.eye(20)
d_tilde = A_tilde.sum(axis=1)                                           # = d + 1
A_hat_kw_by_hand = A_tilde / np.sqrt(np.outer(d_tilde, d_tilde))
assert np.allclose(A_hat_kw.toarray(), A_hat_kw_by_hand, rtol=1e-14, atol=0)

# %% [markdown]
# ## 3. Cosine similarity
# For user $u_1$ and item $v_5$, with embeddings from the layer above:

# %%
u1, v5 = H1[0], H1[10 + 4]
sim_by_hand = u1 @ v5 / (np.linalg.norm(u1) * np.linalg.norm(v5))
sims = mgr.rank.score_matrix(H1[:10], H1[10:], kind="cosine")   # (10 users, 10 items)
assert np.isclose(sims[0, 4], sim_by_hand, rtol=1e-12, atol=1e-15)
print(f"sim(u1, v5) = {sim_by_hand:.4f} (untrained, random W)")

# %% [markdown]
# ## 4. The article's §5 code, and why it learns nothing
# It builds the edges with `torch.randint(0, 1, (10, 10))`. `randint`'s upper
# bound is exclusive, so every entry is drawn from {0}: the graph is empty.
# NumPy's `integers` has the same convention:

# %%
edges_as_printed = np.random.default_rng(seed).integers(0, 1, size=(10, 10))
n_edges_as_printed = int(edges_as_printed.sum())
assert n_edges_as_printed == 0
print("edges in the article's graph:", n_edges_as_printed)

# %% [markdown]
# Its labels are `torch.zeros`, so BCE is minimised by predicting "no" for
# everything, and its `output_size=1` makes each embedding a single number, for
# which cosine similarity is only a sign (±1). Fixed: a real graph (our toy's
# edges), observed pairs as positives against sampled negatives (one per
# positive, drawn afresh every epoch), and 16-dim embeddings. We train the
# article's layer with the article's settings: the plain sum over $\mathcal N(v)$
# (`normalization="sum"`, and `self_loops=False`, since the printed sum does
# not include $v$ itself), node features as input, BCE, Adam with lr 0.001
# for 100 epochs, each epoch one step on all 68 labelled pairs
# (`batch_size=68`); then we rank by cosine similarity. This is the repaired
# program of tutorial 06 (section 5), which prints the same losses.
# Training and ranking use different scores: BCE fits the dot-product logit
# $e_u \cdot e_i$, while the ranking (`scoring="cosine"`) divides it by the two
# lengths. Cosine is the article's choice (§4), kept here, although the
# article's §5 code computes a dot product under the name `cosine_similarities`
# (tutorial 06, section 6); tutorial 07 (section 2) shows what ranking by a
# score other than the trained one costs.
#
# Two departures from the layer of section 2. The first is the input:
# `input="features"` does not feed the 10 features to the layer directly. It
# first projects each side's features with its own learned matrix,
# $H^0 = [X_\text{user} W_\text{user,in};\ X_\text{item} W_\text{item,in}]$
# (`W_user_in`, `W_item_in`, each 10 × 16; the article's §5 code, too, gives
# its GCN separate `num_user_features` and `num_item_features`). The layer
# (`W0`, 16 × 16, and `b0`) then acts on these 16-dim rows.
#
# The second is the output: with one layer, that layer is the last, and its
# output is the embedding a score is computed from. A ReLU there makes every
# coordinate $\ge 0$, so every dot-product logit is $\ge 0$: no pair can be
# predicted below probability ½, and a negative pair costs at least $\log 2$.
# The library keeps the last layer linear by default
# (`final_activation=False`); we also train the ReLU version
# (`final_activation=True`, the layer as printed) to see the difference. Half
# of the 68 pairs are negatives, so its loss can never fall below
# $\tfrac12 \log 2 \approx 0.347$.

# %%
def article_gcn(final_activation=False, random_state=seed):
    """The article's layer, once: plain sum over N(v), node features, BCE, Adam."""
    return mgr.GCN(dim=hidden, n_layers=1, normalization="sum", self_loops=False,
                   final_activation=final_activation, input="features", loss="bce", lr=lr,
                   epochs=epochs, batch_size=68, n_negatives=1, reg=0.0, scoring="cosine",
                   dtype="float64", random_state=random_state)


model = article_gcn().fit(toy)
assert not model.self_loops and not model.A_hat_.diagonal().any()   # A itself, no I
assert {k: v.shape for k, v in model.params.items()} == {
    "W_user_in": (10, hidden), "W_item_in": (10, hidden), "W0": (hidden, hidden), "b0": (hidden,)}
first_loss, last_loss = model.history_[0]["loss"], model.history_[-1]["loss"]
print(f"BCE loss: epoch 1 {first_loss:.4f} -> epoch {epochs} {last_loss:.4f}")

relu_model = article_gcn(final_activation=True).fit(toy)
relu_first_loss, relu_last_loss = relu_model.history_[0]["loss"], relu_model.history_[-1]["loss"]
assert relu_last_loss >= np.log(2) / 2                              # the floor of a ReLU output
print(f"with a ReLU on the output: epoch 1 {relu_first_loss:.4f} -> epoch {epochs} "
      f"{relu_last_loss:.4f} (floor log(2)/2 = {np.log(2) / 2:.4f})")

# %%
fig, ax = plot.subplots(figsize=(6.4, 3.8))
epochs_axis = np.arange(1, epochs + 1)
ax.plot(epochs_axis, [h["loss"] for h in model.history_],
        label="linear output (the library's default)")
ax.plot(epochs_axis, [h["loss"] for h in relu_model.history_],
        label="ReLU on the output (the layer as printed)")
ax.axhline(np.log(2) / 2, color="gray", linestyle=":",
           label=r"floor with a ReLU output: $\frac{1}{2}\log 2$")
ax.set_xlabel("epoch (one Adam step on the 68 labelled pairs)")
ax.set_ylabel("BCE loss")
ax.set_ylim(0, None)
ax.set_title("The article's one-layer GCN on the toy graph", fontsize=10)
ax.legend(fontsize=8)
print("wrote", plot.save_figure(fig, "01_output_activation"))

# %%
S = model.score(np.arange(10))                                # (10, 10) cosine scores
observed = R.toarray() > 0
gap = S[observed].mean() - S[~observed].mean()
print(f"mean score of observed pairs minus unobserved: {gap:.3f}")

# %% [markdown]
# The linear output layer takes the BCE loss from 2.2501 to 0.1895 in 100
# steps (tutorial 06 prints the same numbers), and observed pairs end with a
# cosine 0.425 higher than unobserved ones on average. With the ReLU on the
# output the loss has fallen only to 0.5760 by epoch 100, still drifting
# down but well above its floor of 0.347, which it can never cross: the
# negatives cannot be pushed below probability ½. The figure
# (`01_output_activation`) shows both runs; their curves are jagged because
# every epoch draws its 34 negatives afresh, so each step fits a different
# set of unobserved pairs.

# %% [markdown]
# ## 5. What the graph itself says, and what 34 edges can teach
# Before any training, two hops of propagation already rank items for u1:
# $R R^\top R$ counts, for each item, the paths user → item → user → item,
# i.e. how often u1's co-users chose it. Every other member of u1's group has
# v5; u1 does not yet.

# %%
paths = (R @ R.T @ R).toarray()                                 # (10, 10)
paths[observed] = -np.inf                                       # seen items out
graph_top_u1 = toy.item_ids[int(np.argmax(paths[0]))]
print("u1's best unseen item by co-occurrence:", graph_top_u1)

# %% [markdown]
# A model fitted to 34 edges need not agree: there are far more parameters
# (two 10 × $d$ input projections, the $d \times d$ layer and its bias:
# $2 \cdot 10\,d + d^2 + d = 592$ at $d$ = `hidden` = 16) than observations,
# and the answer moves with the seed.
# Here are u1's top items from three seeds; the gap between observed and
# unobserved pairs above is the robust sign that training worked.

# %%
n_params = sum(p.size for p in model.params.values())
assert n_params == 2 * 10 * hidden + hidden * hidden + hidden      # 592 at hidden = 16
print("parameters:", n_params, "for", int(R.sum()), "observed pairs")
seeds_top_u1 = []
for s in range(3):
    m = article_gcn(random_state=s).fit(toy)
    seeds_top_u1.append(str(toy.item_ids[m.recommend([0], k=1)[0][0, 0]]))
print("u1's top item, seeds 0, 1, 2:", seeds_top_u1)
