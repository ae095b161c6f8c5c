# %% [markdown]
# # Session graphs and SR-GNN by hand: the graph recurrent network
#
# The article's FAQ Q3 lists three graph networks for recommendation: the GCN, the GAT,
# and the *graph recurrent network*, "for temporal data, capturing the dynamic relations
# between users and items". Tutorials 01–12 use time only as a label on an edge (03 keeps
# the first or last of repeated events, 04 weights an edge by its age, 12 folds in the
# earlier half of the new items' events and tests on the later half); their models see a
# user's history as a set, not as a sequence. This one reads the order in which the items
# were taken. The model is SR-GNN (Wu, Tang, Zhu, Wang, Xie and Tan,
# "Session-based Recommendation with Graph Neural Networks", AAAI 2019): a session, a
# time-ordered list of items, becomes a small directed graph; a gated graph neural network
# (a GRU-style update driven by messages from in- and out-neighbours) gives each item of
# the session a state; an attention readout turns the states into one session vector;
# every item of the catalogue is scored against it.
#
# We compute one session's graph, one gated step, the readout and the scores by hand in
# NumPy, node by node, and assert that each equals the library
# (`mgr.ops.session_graphs`, `gru_cell_forward`, `session_readout_forward`, `mgr.SRGNN`).
# Then a short training run on the embedded `mgr.datasets.synthetic_sessions` data (no
# download) compares SR-GNN with the session baselines, and a figure draws a session's
# graph with its attention weights.
#
# Run it as a script (`python tutorials/13_session_graphs.py`) or cell by cell.

# %% parameters
seed = 0
session = [5, 2, 5, 7, 3, 7, 6]     # one session: item ids, oldest first (a revisit, a loop)
n_items_toy = 8
dim = 4                             # hidden size d on the toy (the paper: 100)
# the training run of section 6
n_sessions = 2000
train_dim = 32                      # the paper: 100
train_epochs = 4
train_lr = 0.01                     # 10x the paper's 0.001 (x0.1 after 3 epochs): a short run
# sphinx_gallery_start_ignore
import os

if os.environ.get("MINIGRAPHREC_TUTORIAL_TINY") == "1":   # the smaller run of the tests
    n_sessions, train_epochs = 600, 3
# sphinx_gallery_end_ignore

# %%
import numpy as np

import minigraphrec as mgr
from minigraphrec import ops, plot
from minigraphrec.models.sequential import MarkovChain, SessionItemKNN, SessionPopularity
from minigraphrec.ops.session import gru_cell_forward, session_readout_forward
from minigraphrec.sequences import (Sequences, evaluate_next_item, prefix_examples,
                                    split_sessions_by_time)

s = np.array(session)                                            # (n,) the session
n = s.shape[0]
print("session:", s)

# %% [markdown]
# ## 1. The session graph
#
# Each distinct item of the session is one node; we number the nodes in increasing item
# id, as the library does. Every step $s_{t-1} \to s_t$ is a directed edge; an edge that
# recurs is kept once (the authors' code; the paper's text weights an edge by how often it
# occurs), and an item followed by itself would be a self-loop. With $C_{ij} = 1$ for an
# edge $i \to j$ (the 0/1 connections) and 0 otherwise, SR-GNN (§3.2) normalises by
# degree:
#
# $$A^{out}_{ij} = \frac{C_{ij}}{\sum_k C_{ik}}, \qquad
#   A^{in}_{ij} = \frac{C_{ji}}{\sum_k C_{ki}},$$
#
# so row $i$ of $A^{out}$ averages over the nodes $i$ points to and row $i$ of $A^{in}$
# over the nodes pointing to $i$; a node with no such edge has a zero row (here the last
# item, 6, points nowhere).

# %%
nodes = np.unique(s)                                             # (n_nodes,) items of the nodes
n_nodes = nodes.shape[0]
node_of = {int(item): j for j, item in enumerate(nodes)}
alias = np.array([node_of[int(item)] for item in s])             # (n,) node of each position
C = np.zeros((n_nodes, n_nodes))
for t in range(1, n):
    C[alias[t - 1], alias[t]] = 1                                # edge s_{t-1} -> s_t, once
A_out_by_hand = np.zeros((n_nodes, n_nodes))
A_in_by_hand = np.zeros((n_nodes, n_nodes))
for i in range(n_nodes):
    if C[i].sum() > 0:
        A_out_by_hand[i] = C[i] / C[i].sum()                     # out-neighbours of i
    if C[:, i].sum() > 0:
        A_in_by_hand[i] = C[:, i] / C[:, i].sum()                # in-neighbours of i
print("nodes (items):", nodes, " alias:", alias)
print("A_out =\n", A_out_by_hand.round(3), "\nA_in =\n", A_in_by_hand.round(3))

G = ops.session_graphs(Sequences.from_lists([s], n_items=n_items_toy))
assert np.array_equal(G.node_items, nodes) and np.array_equal(G.alias, alias)
assert np.allclose(G.A_out.toarray(), A_out_by_hand, rtol=1e-15, atol=0)
assert np.allclose(G.A_in.toarray(), A_in_by_hand, rtol=1e-15, atol=0)
n_edges = int(C.sum())

# %% [markdown]
# ## 2. Messages from in- and out-neighbours
#
# Node states start as the items' embeddings, $h_j^{(0)} = E_{item(j)}$, from the same
# table $E$ (n_items × d) that scores items at the end. A gated step first collects, for
# every node $i$, what its in-neighbours and its out-neighbours send, each through its own
# weight matrix (SR-GNN eq. 1):
#
# $$a_i = \Big[\,\sum_j A^{in}_{ij}\, h_j W_{in} \;;\; \sum_j A^{out}_{ij}\, h_j W_{out}\Big]
#   + b_a \;\in \mathbb{R}^{2d}.$$
#
# The paper concatenates the out-part first ($[A^{out}, A^{in}]$); the authors' code and
# the library put the in-part first, which only swaps the rows of the GRU's $W$ below.
# We take the parameters from an untrained `mgr.SRGNN` (float64, `epochs=0`: initialised,
# not trained) fitted on our one session; `n_items=8` gives every item of the catalogue,
# 0 to 7, a row of $E$, also those the session does not visit. It draws every parameter
# from $U(-1/\sqrt d, 1/\sqrt d)$, as the authors' released code does (that
# initialisation is the code's, not taken from the paper's text).

# %%
toy = Sequences.from_lists([s], n_items=n_items_toy)
model = mgr.SRGNN(dim=dim, dtype="float64", random_state=seed).fit(toy, epochs=0)
p = model.params
assert p["E"].shape == (n_items_toy, dim)                        # (8, d) one row per item
H0 = p["E"][nodes]                                               # (n_nodes, d) initial states
a_by_hand = np.zeros((n_nodes, 2 * dim))
for i in range(n_nodes):
    for j in range(n_nodes):
        a_by_hand[i, :dim] += A_in_by_hand[i, j] * (H0[j] @ p["W_in"])
        a_by_hand[i, dim:] += A_out_by_hand[i, j] * (H0[j] @ p["W_out"])
a_by_hand += p["b_a"]

m_in, _ = ops.session_propagate_forward(G.A_in, H0 @ p["W_in"])
m_out, _ = ops.session_propagate_forward(G.A_out, H0 @ p["W_out"])
assert np.allclose(np.concatenate([m_in, m_out], axis=1) + p["b_a"], a_by_hand,
                   rtol=1e-12, atol=1e-14)

# %% [markdown]
# ## 3. The gated update (a GRU cell)
#
# The messages $a_i$ and the old state $h_i$ pass through a gated recurrent unit (Cho et
# al., 2014): SR-GNN eqs. 2–5 with a bias per gate, $W$, $U$, $b$ holding the three gates
# side by side (`W_gru` = $[W_z \,|\, W_r \,|\, W_c]$, and likewise `U_gru`, `b_gru`):
#
# $$z_i = \sigma(a_i W_z + h_i U_z + b_z), \qquad r_i = \sigma(a_i W_r + h_i U_r + b_r),$$
# $$\tilde h_i = \tanh\big(a_i W_c + (r_i \odot h_i)\, U_c + b_c\big), \qquad
#   h_i' = (1 - z_i) \odot h_i + z_i \odot \tilde h_i .$$
#
# The update gate $z$ decides how much of the new candidate $\tilde h$ replaces the old
# state; the reset gate $r$ how much of the old state the candidate may read. The biases
# $b_z, b_r, b_c$ are not in the paper's eqs. 2–4, whose one bias is $b_a$ of eq. 1; the
# authors' code has GRU-style biases, and the library follows it here ($b = 0$ is the
# paper's cell). The library's other departures from the paper are listed in the
# docstring of `minigraphrec.models.srgnn`: the `max_len` cut, edges counted once
# (section 1), the initialisation, the order of the messages. The authors' code departs
# from the equations above in two small ways of its own. Their PyTorch code
# (`GNNCell` in `pytorch_code/model.py`) writes the gates out by hand with the arithmetic
# of PyTorch's `GRUCell`: $r$ multiplies $h_i U_c$ plus its own bias, after the product
# rather than before it, and $z$ weights the old state instead of the candidate
# ($h_i' = z_i \odot h_i + (1 - z_i) \odot \tilde h_i$). Their TensorFlow code calls
# `tf.nn.rnn_cell.GRUCell`, which applies $r$ before $U_c$, as here, and swaps $z$ and
# $1 - z$ in the same way. The same family of functions, then, but not the same numbers
# from the same parameters; there we follow the paper. `n_steps` such steps may be
# stacked; the paper uses one.

# %%
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


W_z, W_r, W_c = np.split(p["W_gru"], 3, axis=1)                 # each (2d, d)
U_z, U_r, U_c = np.split(p["U_gru"], 3, axis=1)                 # each (d, d)
b_z, b_r, b_c = np.split(p["b_gru"], 3)
z = np.zeros((n_nodes, dim))
r = np.zeros((n_nodes, dim))
h_tilde = np.zeros((n_nodes, dim))
H1_by_hand = np.zeros((n_nodes, dim))
for i in range(n_nodes):
    z[i] = sigmoid(a_by_hand[i] @ W_z + H0[i] @ U_z + b_z)
    r[i] = sigmoid(a_by_hand[i] @ W_r + H0[i] @ U_r + b_r)
    h_tilde[i] = np.tanh(a_by_hand[i] @ W_c + (r[i] * H0[i]) @ U_c + b_c)
    H1_by_hand[i] = (1 - z[i]) * H0[i] + z[i] * h_tilde[i]
print("update gate z of each node:\n", z.round(3))

H1, _ = gru_cell_forward(a_by_hand, H0, p["W_gru"], p["U_gru"], p["b_gru"])
assert np.allclose(H1, H1_by_hand, rtol=1e-12, atol=1e-14)

# %% [markdown]
# ## 4. The attention readout: from node states to one session vector
#
# Each position $t$ of the session takes its item's state, $p_t = h'_{alias(t)}$ (a
# revisited item appears at several positions with one state). The last item is the
# user's current interest, $s_l = p_n$. The whole session is a weighted sum whose weights
# come from a soft attention of every position on the last one (the paper's "Generating
# Session Embeddings"):
#
# $$\alpha_t = q^\top \sigma\big(W_1^\top p_n + W_2^\top p_t + c\big), \qquad
#   s_g = \sum_{t=1}^{n} \alpha_t\, p_t,$$
#
# and the hybrid session vector is $s_h = W_3^\top [\, s_l ; s_g \,]$. The weights
# are the scores themselves, not a softmax over them, as in the paper: they may be
# negative and need not sum to one.

# %%
P = H1_by_hand[alias]                                            # (n, d) position states
p_last = P[-1]
alpha_by_hand = np.array([p["q"] @ sigmoid(p_last @ p["W1"] + P[t] @ p["W2"] + p["c"])
                          for t in range(n)])                    # (n,)
s_g = (alpha_by_hand[:, None] * P).sum(axis=0)                   # (d,)
s_h_by_hand = np.concatenate([p_last, s_g]) @ p["W3"]            # (d,)
print("alpha per position:", alpha_by_hand.round(3))

s_h, _ = session_readout_forward(P, np.array([0, n]), p["W1"], p["W2"], p["c"], p["q"],
                                 p["W3"])
assert np.allclose(s_h[0], s_h_by_hand, rtol=1e-12, atol=1e-14)

# %% [markdown]
# ## 5. Scores, and the loss
#
# Every item $i$ scores $\hat z_i = s_h^\top E_i$ and the softmax over the whole
# catalogue is the predicted next-item distribution; training minimises its cross-entropy
# against the item that actually came next (the paper's "Making Recommendation and Model
# Training"). The library's `score_history` runs sections 1–4 on a session given as a list
# of item ids.

# %%
scores_by_hand = p["E"] @ s_h_by_hand                            # (n_items,)
assert np.allclose(model.score_history(s), scores_by_hand, rtol=1e-12, atol=1e-14)

prefix, target = s[:-1], s[-1]                                   # predict the last item
logits = model.score_history(prefix)                             # (n_items,)
loss_by_hand = np.log(np.exp(logits).sum()) - logits[target]
loss, grads = model.loss_and_grad(mgr.SessionBatch(Sequences.from_lists([prefix],
                                                                        n_items=n_items_toy),
                                                   np.array([target])))
assert np.isclose(loss, loss_by_hand, rtol=1e-12)
print(f"cross-entropy of the true next item {target} after {prefix}: {loss:.4f} "
      f"(log n_items = {np.log(n_items_toy):.4f} for a uniform guess)")

# %% [markdown]
# Every op above is a forward/backward pair checked against finite differences in float64
# (`tests/test_gradients.py`), and `benchmarks/bench_sequential.py` checks the whole loss
# and every gradient against PyTorch autograd. In the library a batch of sessions is
# *packed*: all nodes of all sessions are rows of one matrix, and $A^{in}$, $A^{out}$ are
# one block-diagonal sparse matrix each, so nothing is spent on padding.
#
# ## 6. Training on sessions that drift through communities
#
# `mgr.datasets.synthetic_sessions` draws sessions that wander through item communities;
# each item also has a favourite successor, taken with probability 0.3 at every step. The
# latest 20 % of sessions (by end time) are the test set, and every prefix of a test
# session predicts its next item. The split keeps only the items seen in training and
# numbers them anew (`compact_items=True`, its default): test events of other items are
# dropped (`split_stats` counts them), so the catalogue printed below is a little smaller
# than the 1,000 items drawn. The baselines show what each kind of information is
# worth: popularity ignores the session, the first-order Markov chain reads only the last
# item, item kNN reads the whole session without its order. HR@20 is the hit rate at 20
# (the session papers call it P@20), MRR@20 the mean reciprocal rank, over every item:
# the prefix's own items stay in the ranking (`exclude_seen=False`, the default; with
# `exclude_seen=True` a target already in its prefix could never be hit and counts as a
# miss), and equal scores go to the smaller item id.

# %%
sessions = mgr.datasets.synthetic_sessions(n_sessions=n_sessions, random_state=seed)
train, test, split_stats = split_sessions_by_time(sessions, test_fraction=0.2)
test_prefixes, test_targets = prefix_examples(test)
print(f"{len(train)} training sessions, {len(test)} test sessions, {train.n_items} items, "
      f"{len(test_targets)} test prefixes")

srgnn = mgr.SRGNN(dim=train_dim, epochs=train_epochs, lr=train_lr, random_state=seed)
results = {}
for name, rec in [("SessionPopularity", SessionPopularity()), ("MarkovChain", MarkovChain()),
                  ("SessionItemKNN", SessionItemKNN()), ("SRGNN", srgnn)]:
    rec.fit(train)
    results[name] = evaluate_next_item(rec, test_prefixes, test_targets, k=20)
print(f"{'model':18s} {'HR@20':>7s} {'MRR@20':>7s}")
for name, m in results.items():
    print(f"{name:18s} {m['hit@20']:7.3f} {m['mrr@20']:7.3f}")
losses = [rec["loss"] for rec in srgnn.history_]
print("SR-GNN training loss by epoch:", " ".join(f"{x:.2f}" for x in losses))
hit_srgnn, hit_markov = results["SRGNN"]["hit@20"], results["MarkovChain"]["hit@20"]
hit_pop = results["SessionPopularity"]["hit@20"]

# %% [markdown]
# The default run (2,000 sessions, 4 epochs of a 32-dimensional SR-GNN) prints HR@20
# 0.165 for popularity, 0.513 for the Markov chain, 0.511 for item kNN and 0.524 for
# SR-GNN; MRR@20 0.029, 0.299, 0.173 and 0.236. After 4 epochs SR-GNN is far above
# popularity and a little above both on HR@20, but the Markov chain ranks the right item
# higher (MRR). Read that as a statement about this budget, not about the two models:
# SR-GNN's training loss (`history_["loss"]`, the mean cross-entropy over the epoch's
# training prefixes) is still falling by about 0.8 per epoch at the last epoch
# (6.50, 5.45, 4.56, 3.77; section 7 draws it; the last epoch already trains at a tenth
# of the learning rate, `SRGNN`'s default decay every 3 epochs), so it is far from
# converged, and more
# epochs may close the MRR gap or reverse it. The baselines are counts, fitted in one
# pass, with nothing left to learn. The Markov chain is also strong here by
# construction: the planted successor is exactly what it counts, while SR-GNN has to
# learn each successor in an embedding from a few thousand examples; what SR-GNN adds,
# the community of the whole session and its order, helps after a jump.
# `benchmarks/bench_sequential.py` runs the paper's full-size model on the default 5,000
# sessions and on MovieLens-100K.
#
# ## 7. A session graph and its attention weights
#
# We take the longest test session that revisits an item (cut to its last `max_len`
# items, as the model reads it) and run the trained model on it: the function `attention`
# below repeats sections 1-5, and the code asserts its scores equal the model's
# `score_history`. Then we draw the session's graph: nodes left to right in order of first
# appearance, edges as arrows (straight to the next node, arcing above when they skip
# ahead, below when they go back), and each node's colour the size of its total
# attention weight $w_j = \sum_{t:\, alias(t) = j} \alpha_t$ in $s_g$, $|w_j|$ on a
# scale from 0 (the signed $w_j$ is printed under each node). In the default run every
# weight of the drawn session comes out negative (the readout's $W_3$ can absorb a
# sign), so what matters is their relative size: an item visited twice gathers two
# positions' weight.

# %%
def attention(model, items):
    """Nodes, alias, each position's alpha and every item's score for one session, as in
    sections 1-5 (the hybrid readout, the library's default)."""
    g = ops.session_graphs(Sequences.from_lists([items], n_items=model.n_items_))
    q = model.params
    H = q["E"][g.node_items]                                     # (n_nodes, d)
    for _ in range(model.n_steps):
        m_i, _ = ops.session_propagate_forward(g.A_in, H @ q["W_in"])
        m_o, _ = ops.session_propagate_forward(g.A_out, H @ q["W_out"])
        H, _ = gru_cell_forward(np.concatenate([m_i, m_o], axis=1) + q["b_a"], H,
                                q["W_gru"], q["U_gru"], q["b_gru"])
    Pq = H[g.alias]                                              # (n, d) position states
    a = sigmoid(Pq[-1] @ q["W1"] + Pq @ q["W2"] + q["c"]) @ q["q"]   # (n,) alpha_t
    s_hybrid = np.concatenate([Pq[-1], a @ Pq]) @ q["W3"]        # (d,) W_3^T [s_l ; s_g]
    return g.node_items, g.alias, a, q["E"] @ s_hybrid           # scores: (n_items,)


lengths = test.lengths
revisits = [b for b in range(len(test)) if len(np.unique(test[b])) < lengths[b]]
pick = max(revisits, key=lambda b: (lengths[b], -b)) if revisits else int(np.argmax(lengths))
items = test[pick]
if srgnn.max_len is not None:
    items = items[-srgnn.max_len:]                               # what the model reads
node_items, node_alias, alpha, scores_drawn = attention(srgnn, items)
# the same computation as the trained model's (float32 there, so to float32 round-off)
assert srgnn.readout == "hybrid"
library_scores = srgnn.score_history(items)                      # (n_items,)
assert np.allclose(scores_drawn, library_scores, rtol=1e-4,
                   atol=1e-5 * np.abs(library_scores).max())
first_seen = [int(node_alias[t]) for t in range(len(items))]
order = list(dict.fromkeys(first_seen))                          # nodes by first appearance
x_of = {node: k for k, node in enumerate(order)}
weight = np.zeros(len(node_items))
np.add.at(weight, node_alias, alpha)                             # total alpha of each node

fig, ax = plot.subplots(figsize=(8, 3.4))
edges = {(int(node_alias[t - 1]), int(node_alias[t])) for t in range(1, len(items))}
for u, v in sorted(edges):
    xu, xv = x_of[u], x_of[v]
    if u == v:                                                   # a self-loop, above the node
        ax.annotate("", xy=(xu + 0.1, 0.12), xytext=(xu - 0.1, 0.12),
                    arrowprops=dict(arrowstyle="-|>", connectionstyle="arc3,rad=-2.5",
                                    color="0.3", lw=1.2))
        continue
    # forward edges to the next node straight, longer ones arc above, backward ones below
    rad = 0.0 if xv == xu + 1 else (-0.3 if xv > xu else -0.4)
    ax.annotate("", xy=(xv, 0), xytext=(xu, 0),
                arrowprops=dict(arrowstyle="-|>", shrinkA=11, shrinkB=11, color="0.3", lw=1.2,
                                mutation_scale=14, connectionstyle=f"arc3,rad={rad}"))
xs = [x_of[j] for j in range(len(node_items))]
size = np.abs(weight)                                            # |w_j|, the colour
top = max(float(size.max()), 1e-12)                              # a one-sided scale 0..top
sc = ax.scatter(xs, np.zeros(len(xs)), s=420, c=size, cmap="Blues", vmin=0.0, vmax=top,
                edgecolors="black", zorder=3)
for j, item in enumerate(node_items):
    ax.text(xs[j], 0, str(int(item)), ha="center", va="center", fontsize=7, zorder=4,
            color="white" if size[j] > 0.6 * top else "black")   # readable on dark blue
fig.colorbar(sc, ax=ax, label=r"$|w_j|$, size of the node's summed $\alpha$")
ax.set_xlim(-0.6, len(order) - 0.4)
ax.set_ylim(-0.6, 0.6)
ax.set_yticks([])
ax.set_xticks(range(len(order)))
ax.set_xticklabels([f"{k + 1}\n{weight[node]:+.2f}" for k, node in enumerate(order)],
                   fontsize=8)
ax.set_xlabel("node in order of first appearance, and its weight (circle: item id)")
ax.set_title(f"SR-GNN's readout weights on test session {pick}:\n"
             f"{' → '.join(str(int(i)) for i in items)}", fontsize=9)
print("wrote", plot.save_figure(fig, "13_session_graph"))

fig, ax = plot.subplots()
ax.plot(range(1, len(losses) + 1), losses, marker="o")
ax.set_xlabel("epoch")
ax.set_xticks(range(1, len(losses) + 1))
ax.set_ylabel("mean training cross-entropy")
ax.set_title("SR-GNN on synthetic sessions")
print("wrote", plot.save_figure(fig, "13_training_loss"))
