# %% [markdown]
# # Backprop by hand: the GCN layer and BCE, checked by finite differences
#
# The article (§4) gives the graph-convolution layer
# $h_v^{\ell+1} = \sigma\big(\sum_{u \in \mathcal N(v)} W^\ell h_u^\ell + b^\ell\big)$
# and says (§5) that the network is trained by minimising a prediction
# error; its §5 code uses binary cross-entropy (BCE) and Adam. It never says
# how the gradients are computed. This tutorial derives them: for the layer
# (with respect to its input $H$, its weights $W$ and its bias $b$), for BCE
# with logits, and for one whole tiny model (layer → dot score → BCE). Each
# derivation is implemented by hand in NumPy, asserted equal to the library's
# forward/backward op pairs (`minigraphrec.ops`, `minigraphrec.losses`), and
# checked against central finite differences with `minigraphrec.gradcheck`.
# Then two things every gradient-checker user should have seen once: how the
# finite-difference error depends on the step (the "V curve"), and the check
# catching deliberately wrong gradients.
#
# Data: the article's 10 users × 10 items example, `mgr.datasets.article_toy()`
# (its edges are ours, its 10-dim features random, as in the article's §5).
# Everything runs in float64: float32 round-off (~1e-7) would drown a
# finite difference. Tutorial 01 computes the layer's forward pass node by
# node; this one starts where it stops.
#
# Run it as a script (`python tutorials/05_backprop_by_hand.py`) or cell by cell.

# %% parameters
seed = 0
hidden = 16            # the article's hidden size (§5)
n_directions = 20      # random directions whose median error the V curve shows
eps_check = 1e-6       # the first finite-difference step of every check (the library's default)

# %%
import numpy as np

import minigraphrec as mgr
from minigraphrec import graph, losses, ops, plot
from minigraphrec.gradcheck import (GradientMismatchError, check_grad, check_param_grads,
                                    check_vjp)

toy = mgr.datasets.article_toy(random_state=seed)
R = toy.to_csr()                                              # (10, 10), 34 interactions
n_users, n_items = R.shape
n = n_users + n_items                                         # 20 nodes, users first
A = graph.bipartite_adjacency(R).toarray()                    # (20, 20) 0/1, symmetric
X = np.vstack([toy.user_features, toy.item_features])         # (20, 10) node features
d_in = X.shape[1]

rng = np.random.default_rng(seed)
W = rng.standard_normal((d_in, hidden)) / np.sqrt(d_in)       # (10, 16)
b = 0.1 * rng.standard_normal(hidden)                         # (16,) nonzero, to test db
print(f"{n} nodes, {int(A.sum()) // 2} edges; X {X.shape}, W {W.shape}, b {b.shape}")

# %% [markdown]
# ## 1. The forward pass, in matrix form
# Stack the nodes' vectors $h_u$ as the rows of $H$ (here the features, $H = X$).
# Row $v$ of $A H$ is $\sum_{u \in \mathcal N(v)} h_u$, so the layer of §4
# with σ = ReLU is, for all nodes at once,
#
# $$Z = (A H)\, W + b, \qquad H' = \max(Z, 0).$$
#
# (Rows are vectors here, so the article's column $W h_u$ becomes the row
# $(W h_u)^\top = h_u^\top W^\top$; the $W$ of the formula above and of the code,
# (10, 16), is the transpose of the article's, as in tutorial 01.) Tutorial 01
# checks this node by node; here we check it against the three library ops
# and keep their caches for the backward pass.

# %%
AH = A @ X                                                    # (20, 10) neighbour sums
Z = AH @ W + b                                                # (20, 16)
H_out = np.maximum(Z, 0.0)                                    # (20, 16) H'

AH_op, c_prop = ops.propagate_forward(A, X)
Z_op, c_lin = ops.linear_forward(AH_op, W, b)
H_op, c_relu = ops.relu_forward(Z_op)
assert np.allclose(H_op, H_out, rtol=1e-13, atol=1e-13)
print(f"{int((Z > 0).sum())} of {Z.size} entries of Z are positive (ReLU passes them)")

# %% [markdown]
# ## 2. The gradients of the layer, derived
# Backprop takes the gradient of a scalar loss $L$ with respect to the
# layer's output, $G = \partial L / \partial H'$ (20 × 16, the same shape as
# $H'$), and returns the gradients with respect to the layer's inputs. Write
# every product out with indices and differentiate one entry at a time.
#
# **ReLU.** $H'_{vj} = \max(Z_{vj}, 0)$ depends on $Z_{vj}$ alone, with slope 1
# where $Z_{vj} > 0$ and 0 where $Z_{vj} < 0$ (at exactly 0 there is no
# derivative; the library takes 0, as PyTorch does):
#
# $$\frac{\partial L}{\partial Z_{vj}} = G_{vj}\,[Z_{vj} > 0],
#   \qquad dZ = G \odot [Z > 0].$$
#
# **Bias.** $Z_{vj} = \sum_k (AH)_{vk} W_{kj} + b_j$: $b_j$ enters every row $v$
# with slope 1, so its gradient sums over the nodes,
# $db_j = \sum_v dZ_{vj}$.
#
# **Weights.** $\partial Z_{vj} / \partial W_{kj} = (AH)_{vk}$, and $W_{kj}$ enters
# column $j$ of every row:
#
# $$dW_{kj} = \sum_v (AH)_{vk}\, dZ_{vj}, \qquad dW = (A H)^\top dZ .$$
#
# **Input.** $d(AH) = dZ\, W^\top$ (the same rule with the roles of $AH$ and
# $W$ swapped), and $(AH)_{vk} = \sum_u A_{vu} H_{uk}$, so
#
# $$dH_{uk} = \sum_v A_{vu}\, d(AH)_{vk}, \qquad dH = A^\top dZ\, W^\top .$$
#
# Read per node, the last line says that $\partial L / \partial h_u$ is the sum
# of $dZ_v W^\top$ over the nodes $v$ that have $u$ among their neighbours:
# the backward pass sends messages along the edges reversed. The
# user–item graph is undirected ($A^\top = A$), so it is the same
# propagation as the forward pass, applied to gradients. $dH$ is what the
# layer below needs (a second GCN layer, or a learned input projection, §5).
#
# We take a random $G$, i.e. the loss $L = \sum_{vj} G_{vj} H'_{vj}$, compute
# the four formulas in matrix form and $dH$ once more as the per-node sum,
# and compare with the ops' backward functions applied in reverse order.

# %%
G = rng.standard_normal(H_out.shape)                          # (20, 16) ∂L/∂H'


def layer_backward_by_hand(G, X, W, Z):
    """(dX, dW, db) of H' = ReLU(A X W + b), from the formulas above."""
    dZ = G * (Z > 0)                                          # (20, 16)
    dW = (A @ X).T @ dZ                                       # (10, 16)
    db = dZ.sum(axis=0)                                       # (16,)
    dX = A.T @ dZ @ W.T                                       # (20, 10)
    return dX, dW, db


dX, dW, db = layer_backward_by_hand(G, X, W, Z)

dZ = G * (Z > 0)
dX_per_node = np.zeros_like(X)
for u in range(n):
    for v in np.flatnonzero(A[:, u]):                         # every v with u ∈ N(v)
        dX_per_node[u] += dZ[v] @ W.T
assert np.allclose(dX_per_node, dX, rtol=1e-12, atol=1e-14)

dZ_op = ops.relu_backward(c_relu, G)
dAH_op, dW_op, db_op = ops.linear_backward(c_lin, dZ_op)
dX_op = ops.propagate_backward(c_prop, dAH_op)
for name, mine, lib in (("dX", dX, dX_op), ("dW", dW, dW_op), ("db", db, db_op)):
    assert np.allclose(mine, lib, rtol=1e-12, atol=1e-14), name
print("dX, dW, db by hand equal the ops' backward pass")

# %% [markdown]
# ## 3. Checking them: central finite differences
# Taylor's formula along a direction $u$, for a smooth $f$:
# $f(x \pm \varepsilon u) = f(x) \pm \varepsilon\, f'_u + \tfrac{\varepsilon^2}{2} f''_u
# \pm \tfrac{\varepsilon^3}{6} f'''_u + O(\varepsilon^4)$. Subtracting the two
# cancels the even terms:
#
# $$\frac{f(x + \varepsilon u) - f(x - \varepsilon u)}{2\varepsilon}
#   = \nabla f(x) \cdot u + \frac{\varepsilon^2}{6} f'''_u + O(\varepsilon^4),$$
#
# while the one-sided quotient $(f(x + \varepsilon u) - f(x)) / \varepsilon$ is
# off by $\tfrac{\varepsilon}{2} f''_u$, a whole order worse. For a function with
# vector output, `check_vjp` draws a direction $u$ for the input and a random
# weighting $v$ for the output and compares
# $\langle v, (f(x+\varepsilon u) - f(x-\varepsilon u))/2\varepsilon\rangle$ with
# $\langle J^\top v, u\rangle$, the latter from our backward function (a
# vector–Jacobian product): one number per check, whatever the size.
# We check the layer with respect to each input in turn, the others held fixed.

# %%
def layer(X_, W_, b_):
    return np.maximum(A @ X_ @ W_ + b_, 0.0)                  # (20, 16)


checks = {
    "X": check_vjp(lambda X_: layer(X_, W, b),
                   lambda X_, V: layer_backward_by_hand(V, X_, W, A @ X_ @ W + b)[0], X,
                   rng=1, eps=eps_check),
    "W": check_vjp(lambda W_: layer(X, W_, b),
                   lambda W_, V: layer_backward_by_hand(V, X, W_, A @ X @ W_ + b)[1], W,
                   rng=2, eps=eps_check),
    "b": check_vjp(lambda b_: layer(X, W, b_),
                   lambda b_, V: layer_backward_by_hand(V, X, W, A @ X @ W + b_)[2], b,
                   rng=3, eps=eps_check),
}
for name, (numeric, exact) in checks.items():
    print(f"check_vjp d{name}: numeric {numeric:+.10f}  exact {exact:+.10f}")

# %% [markdown]
# A directional check can miss an error that happens to be orthogonal to the
# one direction drawn. `check_grad` perturbs every entry on its own
# ($2 \times 160$ evaluations for the 10 × 16 entries of $W$) and names the worst
# entry if any is off.
#
# ReLU has a kink at 0, where the derivative jumps. A central difference whose
# two points straddle a kink measures the average of two slopes, not either
# one. `check_grad` moves $W_{kj}$ by $\pm h$ with $h = \varepsilon \max(1, |W_{kj}|)$
# (the step scales with the entry, as SciPy's `approx_derivative` does), which
# moves every $Z_{vj}$ of column $j$ by $\pm h\,(AH)_{vk}$. The check is safe while
# no entry of $Z$ changes sign, i.e. while $h\,|(AH)_{vk}| < |Z_{vj}|$ for all of
# them. The script prints both sides: the largest such move is less than a
# thousandth of the smallest $|Z_{vj}|$.

# %%
L_of_W = lambda W_: float(np.sum(G * layer(X, W_, b)))       # the loss of section 2
fd_dW, _ = check_grad(L_of_W, lambda W_: layer_backward_by_hand(G, X, W_, A @ X @ W_ + b)[1], W,
                      eps=eps_check)
worst_dW = float(np.max(np.abs(fd_dW - dW)))
min_abs_Z = float(np.min(np.abs(Z)))
steps_W = eps_check * np.maximum(1.0, np.abs(W))              # (10, 16) h of each entry
max_move_Z = float(np.max(steps_W * np.abs(AH).max(axis=0)[:, None]))   # max h |(AH)_vk|
print(f"check_grad dW: {W.size} entries, worst |numeric - exact| = {worst_dW:.1e}")
print(f"distance of Z to the nearest kink: min |Z| = {min_abs_Z:.2e}; "
      f"largest move of an entry of Z in a step: {max_move_Z:.2e}")
assert max_move_Z < min_abs_Z                                  # no kink is crossed

# %% [markdown]
# ## 4. BCE with logits
# A model's score $s$ (a logit, any real number) becomes a probability
# $\sigma(s) = 1 / (1 + e^{-s})$, and the BCE of a label $y \in \{0, 1\}$ is
#
# $$\ell(s, y) = -\big[y \log \sigma(s) + (1 - y) \log(1 - \sigma(s))\big].$$
#
# Computed as written it breaks: for $s = -1000$, $\sigma(s)$ underflows to 0
# and $\log 0 = -\infty$; for $s = 40$, $y = 1$, $1 - \sigma(s)$ rounds to 0
# and the unused term becomes $0 \cdot \log 0 = $ NaN. Rewrite it with
# $\operatorname{softplus}(z) = \log(1 + e^z)$: since
# $\log \sigma(s) = -\operatorname{softplus}(-s)$,
# $\log(1 - \sigma(s)) = -\operatorname{softplus}(s)$ and
# $\operatorname{softplus}(-s) = \operatorname{softplus}(s) - s$,
#
# $$\ell(s, y) = \operatorname{softplus}(s) - y\,s
#   = \max(s, 0) - y\,s + \log\!\big(1 + e^{-|s|}\big),$$
#
# where no exponential of a positive number is ever taken. Its derivative is
# one line, $\operatorname{softplus}'(s) = \sigma(s)$:
#
# $$\frac{\partial \ell}{\partial s} = \sigma(s) - y .$$
#
# The library's `bce_with_logits_forward` averages over a batch of $B$ pairs,
# so its backward pass returns $(\sigma(s_b) - y_b) / B$. It evaluates
# $\sigma(s) - y$ as $(1 - y)\,\sigma(s) - y\,\sigma(-s)$ (the same number), so
# that a tiny gradient keeps its digits: at $s = 40$, $y = 1$,
# $\sigma(40) - 1$ rounds to 0 in float64, while $-\sigma(-40) = -4.25 \cdot 10^{-18}$.

# %%
s_test = np.array([-1000.0, -40.0, -2.0, 0.0, 2.0, 40.0, 1000.0])   # (7,) logits
y_test = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0])              # (7,) labels


def sigmoid(s):
    """σ(s) without overflow: exp of a non-positive number only."""
    z = np.exp(-np.abs(s))
    return np.where(s >= 0, 1 / (1 + z), z / (1 + z))


with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
    naive = -(y_test * np.log(1 / (1 + np.exp(-s_test)))
              + (1 - y_test) * np.log(1 - 1 / (1 + np.exp(-s_test))))
stable = np.maximum(s_test, 0) - y_test * s_test + np.log1p(np.exp(-np.abs(s_test)))
print("   s     y   naive loss      stable loss")
for s_, y_, a, c in zip(s_test, y_test, naive, stable):
    print(f"{s_:6.0f}  {y_:.0f}  {a:13.6g}  {c:13.6g}")

B_test = s_test.shape[0]
bce_loss, c_bce = losses.bce_with_logits_forward(s_test, y_test)
assert np.isclose(bce_loss, stable.mean(), rtol=1e-14)
ds_test = losses.bce_with_logits_backward(c_bce)              # (7,) (σ(s) - y) / B
ds_by_hand = (1 - y_test) * sigmoid(s_test) - y_test * sigmoid(-s_test)   # σ(s) - y, exactly
assert np.allclose(ds_test * B_test, ds_by_hand, rtol=1e-12, atol=0)
assert np.allclose(ds_by_hand, sigmoid(s_test) - y_test, rtol=1e-12, atol=1e-15)
tiny_gradient, rounded_to_zero = ds_by_hand[5], sigmoid(np.array([40.0]))[0] - 1.0
assert tiny_gradient < 0 and rounded_to_zero == 0             # the tiny gradient survives
print(f"dl/ds at s = 40, y = 1: {tiny_gradient:.3e} (written as sigma(s) - 1: {rounded_to_zero})")

# Finite differences, entry by entry, at moderate logits:
s_mid = rng.standard_normal(8) * 3                            # (8,)
y_mid = (rng.random(8) < 0.5).astype(float)                   # (8,)
fd_bce, _ = check_grad(lambda s: losses.bce_with_logits_forward(s, y_mid)[0],
                       lambda s: (sigmoid(s) - y_mid) / s.shape[0], s_mid, eps=eps_check)
worst_bce = float(np.max(np.abs(fd_bce - (sigmoid(s_mid) - y_mid) / s_mid.shape[0])))
print(f"check_grad dl/ds: worst |numeric - exact| = {worst_bce:.1e}")

# %% [markdown]
# ## 5. One whole tiny model, end to end
# The library's `GCN` with the article's layer as printed (plain sum over
# neighbours, no self-loops, ReLU on the output too) and the §5 input: each
# side's 10 features projected to 16 by a learned matrix. Its BCE loss on a
# batch of $B$ labelled (user, item) pairs, with no L2 term (`reg=0`):
#
# $$H^0 = \begin{pmatrix} X_U W_U \\ X_I W_I \end{pmatrix}, \quad
#   H = \max(A H^0 W_0 + b_0,\ 0), \quad
#   s_b = h_{u_b} \cdot h_{i_b}, \quad
#   L = \frac1B \sum_b \ell(s_b, y_b).$$
#
# Backward, link by link: $ds_b = (\sigma(s_b) - y_b)/B$; a dot product hands
# each side the other's vector, $dh_{u_b} \mathrel{+}= ds_b\, h_{i_b}$ and
# $dh_{i_b} \mathrel{+}= ds_b\, h_{u_b}$ (summed over the pairs a node is in);
# then section 2's layer formulas with $H = H^0$; and the projections are
# linear maps, $dW_U = X_U^\top\, dH^0_{\text{users}}$,
# $dW_I = X_I^\top\, dH^0_{\text{items}}$. The batch: the 34 observed pairs
# labelled 1, and for each one a uniformly drawn item its user never took,
# labelled 0 (`mgr.ops.sample_negatives`).
#
# The code asserts the chain by hand equal to the library's `model.loss_and_grad`,
# then checks both against finite differences: `check_model_grads` on the
# library's model (one random direction per parameter) and `check_grad` on our
# chain's $dW_0$, entry by entry.

# %%
model = mgr.GCN(dim=hidden, n_layers=1, normalization="sum", self_loops=False,
                final_activation=True, input="features", loss="bce", reg=0.0,
                dtype="float64", random_state=seed).fit(toy, epochs=0)
params = model.params                                         # W_user_in, W_item_in, W0, b0
params["b0"][:] = 0.1 * rng.standard_normal(hidden)           # a nonzero bias, as in section 1
print({k: v.shape for k, v in params.items()})

pos_users = np.repeat(np.arange(n_users), np.diff(R.indptr))  # (34,)
pos_items = R.indices.astype(np.int64)                        # (34,)
neg_items = ops.sample_negatives(R, pos_users, 1, random_state=seed)[:, 0]   # (34,)
batch = mgr.PointBatch.make(np.concatenate([pos_users, pos_users]),
                            np.concatenate([pos_items, neg_items]),
                            np.concatenate([np.ones(R.nnz), np.zeros(R.nnz)]))
bu, bi, y = batch.users, batch.items, batch.labels            # (68,) each
B = batch.size
X_U, X_I = toy.user_features, toy.item_features               # (10, 10) each


def model_forward(p):
    """Every intermediate of the chain, for the backward pass."""
    H0 = np.vstack([X_U @ p["W_user_in"], X_I @ p["W_item_in"]])   # (20, 16)
    M0 = A @ H0                                                     # (20, 16)
    Z0 = M0 @ p["W0"] + p["b0"]                                     # (20, 16)
    H = np.maximum(Z0, 0.0)                                         # (20, 16)
    s = np.sum(H[bu] * H[n_users + bi], axis=1)                     # (B,) dot scores
    loss = np.mean(np.maximum(s, 0) - y * s + np.log1p(np.exp(-np.abs(s))))
    return loss, (H0, M0, Z0, H, s)


def model_loss(p):
    return model_forward(p)[0]


def model_grads(p, bug=None):
    """The chain rule, link by link; ``bug`` plants one of section 7's mistakes."""
    _, (H0, M0, Z0, H, s) = model_forward(p)
    ds = (sigmoid(s) - y) / B                                       # (B,)
    dH = np.zeros_like(H)                                           # (20, 16)
    np.add.at(dH, bu, ds[:, None] * H[n_users + bi])
    np.add.at(dH, n_users + bi, ds[:, None] * H[bu])
    dZ0 = dH if bug == "no ReLU mask" else dH * (Z0 > 0)            # (20, 16)
    g = {"W0": M0.T @ dZ0,                                          # (16, 16)
         "b0": dZ0.mean(axis=0) if bug == "bias: mean, not sum" else dZ0.sum(axis=0)}
    W0_back = p["W0"] if bug == "W not transposed" else p["W0"].T
    dH0 = dZ0 @ W0_back if bug == "A left out" else A.T @ dZ0 @ W0_back   # (20, 16)
    g["W_user_in"] = X_U.T @ dH0[:n_users]                          # (10, 16)
    g["W_item_in"] = X_I.T @ dH0[n_users:]                          # (10, 16)
    return g


loss_by_hand = model_loss(params)
grads_by_hand = model_grads(params)
loss_lib, grads_lib = model.loss_and_grad(batch)
assert np.isclose(loss_lib, loss_by_hand, rtol=1e-12)
for k in params:
    assert np.allclose(grads_lib[k], grads_by_hand[k], rtol=1e-10, atol=1e-12), k
print(f"batch of {B}: BCE loss {loss_by_hand:.6f} by hand and from model.loss_and_grad")

model_check = mgr.check_model_grads(model, batch, rng=seed, eps=eps_check)   # every key, once
for k, (numeric, exact) in model_check.items():
    print(f"check_model_grads {k:9s}: numeric {numeric:+.9f}  exact {exact:+.9f}")
fd_W0, exact_W0 = check_grad(lambda W0_: model_loss({**params, "W0": W0_}),
                             lambda W0_: model_grads({**params, "W0": W0_})["W0"], params["W0"],
                             eps=eps_check)                   # our chain, entry by entry
worst_W0 = float(np.max(np.abs(fd_W0 - exact_W0)))
print(f"check_grad dW0 of the chain by hand: {params['W0'].size} entries, "
      f"worst |numeric - exact| = {worst_W0:.1e}")

# %% [markdown]
# The article ranks by cosine similarity (§4) rather than the dot product.
# Swapping the score is one op pair, `ops.cosine_forward` / `cosine_backward`
# (the dot product of the unit vectors; the backward pass removes the radial
# part, $du = ds\,(\hat v - s\,\hat u)/\lVert u\rVert$), and the rest of the chain
# is unchanged. Checked on the embeddings $H$ of the model above:

# %%
_, (_, _, _, H_emb, _) = model_forward(params)


def cosine_bce(H_):
    s_cos, _ = ops.cosine_forward(H_[bu], H_[n_users + bi])   # (B,)
    return losses.bce_with_logits_forward(s_cos, y)[0]


def cosine_bce_grad(H_):
    s_cos, c_cos = ops.cosine_forward(H_[bu], H_[n_users + bi])
    _, c_loss = losses.bce_with_logits_forward(s_cos, y)
    dU, dV = ops.cosine_backward(c_cos, losses.bce_with_logits_backward(c_loss))
    dH_ = np.zeros_like(H_)
    np.add.at(dH_, bu, dU)
    np.add.at(dH_, n_users + bi, dV)
    return dH_


assert np.all(np.linalg.norm(H_emb, axis=1) > 1e-3)          # no zero row: cosine is smooth here
fd_cos, _ = check_grad(cosine_bce, cosine_bce_grad, H_emb)
print(f"cosine score + BCE: check_grad over {H_emb.size} entries passes")

# %% [markdown]
# ## 6. The V curve: how the step size decides the error
# The truncation error of the central difference shrinks like $\varepsilon^2$
# (section 3), but the two values $f(x \pm \varepsilon u)$ are each rounded to
# about $\epsilon_{\text{mach}}\,|f| \approx 10^{-16}|f|$, and their difference
# is divided by $2\varepsilon$: a round-off error growing like $1/\varepsilon$.
# The total, $\approx \tfrac{\varepsilon^2}{6}|f'''| + \epsilon_{\text{mach}} |f| / \varepsilon$,
# is smallest near $\varepsilon \approx (3\,\epsilon_{\text{mach}} |f| / |f'''|)^{1/3}$,
# about $10^{-5}$ to $10^{-6}$ for values of order one. The one-sided
# difference, $\tfrac{\varepsilon}{2}|f''| + 2\epsilon_{\text{mach}}|f|/\varepsilon$,
# bottoms out higher and earlier, near
# $\varepsilon \approx 2\sqrt{\epsilon_{\text{mach}} |f| / |f''|}$: of the order of
# $\sqrt{\epsilon_{\text{mach}}} \approx 10^{-8}$, times a factor that depends on $f$
# (the run below finds its best step near $2 \times 10^{-9}$).
#
# We measure both on the model's loss along random directions $U$ of $W_0$:
# the relative error $|\text{numeric} - \nabla L \cdot U| / |\nabla L \cdot U|$,
# median over the directions, for steps from $10^{-13}$ to $10^{-1}$. On the
# right, past a certain step, $Z_0 = M_0 (W_0 + \varepsilon U) + b_0$ changes
# the sign of some entry: a ReLU kink is crossed and the error jumps. For each
# direction that happens at $\varepsilon > \min_{vj} |Z_{0,vj}| / |(M_0 U)_{vj}|$.

# %%
eps_grid = np.logspace(-13, -1, 49)                           # (49,) steps
exact_grad = grads_by_hand["W0"]                              # (16, 16)
W0 = params["W0"]
_, (_, M0, Z0, _, _) = model_forward(params)
rel_central = np.empty((n_directions, eps_grid.size))
rel_forward = np.empty((n_directions, eps_grid.size))
kink_eps = np.empty(n_directions)
L0 = model_loss(params)
dir_rng = np.random.default_rng(seed + 1)
for t in range(n_directions):
    U = dir_rng.standard_normal(W0.shape)                     # (16, 16)
    exact = float(np.sum(exact_grad * U))
    kink_eps[t] = np.min(np.abs(Z0) / np.abs(M0 @ U))
    for e, eps in enumerate(eps_grid):
        L_plus = model_loss({**params, "W0": W0 + eps * U})
        L_minus = model_loss({**params, "W0": W0 - eps * U})
        rel_central[t, e] = abs((L_plus - L_minus) / (2 * eps) - exact) / abs(exact)
        rel_forward[t, e] = abs((L_plus - L0) / eps - exact) / abs(exact)
err_central = np.median(rel_central, axis=0)                  # (49,)
err_forward = np.median(rel_forward, axis=0)
kink_median = float(np.median(kink_eps))


def slope(err, lo, hi):
    """Least-squares slope of log10(err) against log10(eps) over lo <= eps <= hi."""
    keep = (eps_grid >= lo) & (eps_grid <= hi)
    return float(np.polyfit(np.log10(eps_grid[keep]), np.log10(err[keep]), 1)[0])


slope_central_right = slope(err_central, 1e-5, 0.3 * kink_eps.min())
slope_central_left = slope(err_central, 1e-12, 1e-8)
slope_forward_right = slope(err_forward, 1e-6, 0.3 * kink_eps.min())
slope_forward_left = slope(err_forward, 1e-13, 1e-10)
best = int(np.argmin(err_central))
eps_best_central, err_best_central = float(eps_grid[best]), float(err_central[best])
eps_best_forward = float(eps_grid[np.argmin(err_forward)])
err_best_forward = float(err_forward.min())
err_at_check = float(err_central[np.argmin(np.abs(eps_grid - eps_check))])
print(f"loss {L0:.3f}; first ReLU kink crossed at eps ~ {kink_median:.1e} (median over directions)")
print(f"central:   slope {slope_central_right:+.2f} right, {slope_central_left:+.2f} left; "
      f"best {err_best_central:.1e} at eps = {eps_best_central:.1e}")
print(f"one-sided: slope {slope_forward_right:+.2f} right, {slope_forward_left:+.2f} left; "
      f"best {err_best_forward:.1e} at eps = {eps_best_forward:.1e}")
print(f"at the checks' eps = {eps_check:g}: central relative error {err_at_check:.1e}")

# %%
fig, ax = plot.subplots(figsize=(7.0, 4.6))
ax.loglog(eps_grid, err_central, "o-", ms=3.5, color="C0",
          label="central  (f(x+εu) − f(x−εu)) / 2ε")
ax.loglog(eps_grid, err_forward, "s-", ms=3.0, color="C1",
          label="one-sided  (f(x+εu) − f(x)) / ε")
at = lambda eps: float(err_central[np.argmin(np.abs(eps_grid - eps))])   # the curve near eps
guide = (eps_grid >= 1e-5) & (eps_grid <= 3e-4)
ax.loglog(eps_grid[guide], 4 * at(1e-4) * (eps_grid[guide] / 1e-4) ** 2, "k--", lw=1)
ax.text(1.2e-5, 4 * at(1e-4) * 0.1, "∝ ε²", fontsize=9, ha="right")
guide = (eps_grid >= 1e-12) & (eps_grid <= 1e-9)
ax.loglog(eps_grid[guide], 0.25 * at(1e-10) * (1e-10 / eps_grid[guide]), "k:", lw=1)
ax.text(3e-11, 0.25 * at(1e-10) * 3 / 20, "∝ 1/ε", fontsize=9, va="top")
ax.axvline(kink_median, color="0.5", lw=1, ls="-.")
ax.text(kink_median * 1.3, 1e-6, "ReLU kinks\ncrossed →", fontsize=8, color="0.35")
ax.annotate(f"best: {err_best_central:.0e}\nat ε = {eps_best_central:.0e}",
            xy=(eps_best_central, err_best_central), xytext=(1e-8, 1e-12),
            arrowprops=dict(arrowstyle="->", lw=0.8), fontsize=9)
ax.set_xlabel("finite-difference step ε")
ax.set_ylabel("relative error of the directional derivative")
ax.set_title(f"GCN + BCE loss, d/dW₀ (median of {n_directions} directions, float64)")
ax.set_ylim(1e-13, 10)
ax.legend(loc="upper left", fontsize=8)
print("wrote", plot.save_figure(fig, "05_v_curve"))

# %% [markdown]
# Both arms have the predicted slopes, and the central difference's best
# error is several orders of magnitude below the one-sided one's. At the
# checks' default step $10^{-6}$ the relative error is below $10^{-10}$:
# a tolerance of `rtol=1e-6` leaves four orders of magnitude of margin for
# a correct gradient, and any real mistake (next section) is far above it.

# %% [markdown]
# ## 7. Catching a wrong gradient
# Four mistakes that are easy to make in the chain of section 5, each planted
# alone in `model_grads`:
#
# * **no ReLU mask**: $dZ = dH$, forgetting that ReLU blocks the gradient of
#   negative entries;
# * **W not transposed**: $dH^0 = A^\top dZ\, W_0$ instead of $W_0^\top$; it runs,
#   because $W_0$ is square (16 × 16), and it corrupts the gradients *below*
#   the layer ($W_U$, $W_I$), not $dW_0$;
# * **A left out**: $dH^0 = dZ\, W_0^\top$, forgetting to send the gradient
#   back over the edges at all (a missing *transpose* alone would do no harm here:
#   $A$ is symmetric);
# * **bias: mean, not sum**: $db = \frac1n \sum_v dZ_v$, off by the factor 20.
#
# For each, `check_param_grads` (the check behind `check_model_grads`) runs
# with the library's tolerance; it raises `GradientMismatchError` (an
# `AssertionError`) at the first wrong parameter, which we catch and print.
# (Catch that class, not any `AssertionError`: the check's other error,
# `NotDifferentiableError`, means it could not reach a verdict.) For the figure we
# also record, for each parameter $k$ and one fixed direction $u_k$, the relative error
# $|g_k \cdot u_k - D_k| / \max(|g_k \cdot u_k|, |D_k|)$ of the gradient $g_k$ under test
# against the central difference $D_k$ at step $10^{-6}$ (at most 2 when the two
# differ in sign).

# %%
bugs = ["no ReLU mask", "W not transposed", "A left out", "bias: mean, not sum"]
param_names = ["W_user_in", "W_item_in", "W0", "b0"]
directions = {k: np.random.default_rng([seed, j]).standard_normal(params[k].shape)
              for j, k in enumerate(param_names)}
numeric_dir = {}
for k in param_names:
    L_plus = model_loss({**params, k: params[k] + eps_check * directions[k]})
    L_minus = model_loss({**params, k: params[k] - eps_check * directions[k]})
    numeric_dir[k] = (L_plus - L_minus) / (2 * eps_check)


def relative_errors(g):
    return {k: abs(float(np.sum(g[k] * directions[k])) - numeric_dir[k])
            / max(abs(numeric_dir[k]), abs(float(np.sum(g[k] * directions[k]))))
            for k in param_names}


rel_errors = {"correct": relative_errors(grads_by_hand)}
caught = {}
check_param_grads(lambda: model_loss(params), params, grads_by_hand, rng=seed,
                  eps=eps_check)                              # the correct gradient passes
for bug in bugs:
    wrong = model_grads(params, bug=bug)
    rel_errors[bug] = relative_errors(wrong)
    try:
        check_param_grads(lambda: model_loss(params), params, wrong, rng=seed, eps=eps_check)
        caught[bug] = None
    except GradientMismatchError as err:
        caught[bug] = str(err)
        print(f"[{bug}] caught: {err}")
assert all(message is not None for message in caught.values())

print(f"\n{'relative error':22s}" + "".join(f"{k:>12s}" for k in param_names))
for name, errs in rel_errors.items():
    print(f"{name:22s}" + "".join(f"{errs[k]:12.1e}" for k in param_names))

# %% [markdown]
# **Reading a message.** Its first part is the verdict: `numeric` (the finite
# difference), `exact` (the planted gradient along the same direction), their
# difference, and the tolerance it exceeds. The rest says how `numeric` was
# obtained. Along its random direction $u$ the checker looks at the loss as a
# function of one number, $\varphi(t) = L(\theta + t u)$, and at the central
# difference of section 3 with step $s$,
# $D(s) = \big(\varphi(s) - \varphi(-s)\big) / 2s$, first at $s = 10^{-6}$.
# If $D(10^{-6})$ agrees with `exact`, the check passes there. If not, that is
# not yet a verdict: $D(s)$ is the *mean* slope over $[-s, s]$, and a ReLU kink
# inside that interval mixes the slopes on its two sides, so even a correct
# gradient could miss. Before blaming the gradient, the checker tests whether
# $\varphi$ is smooth within $\pm s$, from two more values $\varphi(\pm s/2)$
# and $\varphi(0)$:
#
# * **halving the step**: for a smooth $\varphi$, $D(s)$ and $D(s/2)$ differ
#   only by $s^2 \varphi'''/8$ (section 3's error term); a kink inside moves
#   them apart;
# * **the fourth difference**
#   $\delta^4 = \varphi(s) - 4\varphi(s/2) + 6\varphi(0) - 4\varphi(-s/2) + \varphi(-s)$
#   is $s^4 \varphi''''/16$ for a smooth $\varphi$, i.e. zero up to round-off,
#   while a kink within $\pm s/2$ generally leaves $|\delta^4|/s$ of the order
#   of the slope's jump (exactly the jump for a kink at $t = 0$, which moves
#   $D(s)$ and $D(s/2)$ alike and so escapes the first test).
#
# If both tests pass, the check decides with `numeric` $= D(s/2)$, "D(5e-07)"
# in the messages, and to allow for a kink both tests missed it widens `atol`
# by $|D(s) - D(s/2)| + |\delta^4|/s$. If either test fails, it halves $s$ again,
# down to $10^{-6}/1024$; where $\varphi$ never looks smooth it raises
# `NotDifferentiableError` ("not differentiable within the step, not a
# gradient mismatch"): check at another point.
#
# The **round-off floor**, the first part of that `atol`, is section 6's
# left arm: each value of $\varphi$ is rounded to about
# $\epsilon_{\text{mach}} |L|$, and a difference quotient divides that by the
# step. The checker trusts four such units per value, which for a scalar loss
# comes to $4\, \epsilon_{\text{mach}} |L| / s$: no finite difference resolves
# a gradient more finely. By hand, at $s = 5 \times 10^{-7}$:

# %%
eps_mach = np.finfo(np.float64).eps                           # 2.2e-16
floor_by_hand = 4 * eps_mach * abs(L0) / (eps_check / 2)
print(f"round-off floor of D({eps_check / 2:g}): 4 · {eps_mach:.1e} · {L0:.3f} / "
      f"{eps_check / 2:g} = {floor_by_hand:.2e}")
assert all(f"round-off floor {floor_by_hand:.2e}" in message for message in caught.values())

# %% [markdown]
# That is the round-off floor every message above quotes. Here $\varphi$ was
# smooth at the first step, the widened `atol` is still below $10^{-8}$, and
# each planted bug misses by more than 1.
#
# Entry by entry, `check_grad` also counts the wrong entries and names the
# worst. With the ReLU mask forgotten every entry of $dW_0$ is wrong: each
# column $j$ of $Z_0$ has some negative entries, whose gradient leaks through.

# %%
try:
    check_grad(lambda W0_: model_loss({**params, "W0": W0_}),
               lambda W0_: model_grads({**params, "W0": W0_}, bug="no ReLU mask")["W0"],
               params["W0"], eps=eps_check)
    entrywise_message = None
except GradientMismatchError as err:
    entrywise_message = str(err)
    print("[no ReLU mask, entry by entry] caught:", entrywise_message)

# %%
fig, ax = plot.subplots(figsize=(7.4, 4.0))
variants = list(rel_errors)
width = 0.8 / len(param_names)
for j, k in enumerate(param_names):
    heights = [max(rel_errors[v][k], 1e-16) for v in variants]
    ax.bar(np.arange(len(variants)) + (j - 1.5) * width, heights, width, label=k)
ax.axhline(1e-6, color="k", ls="--", lw=1)
ax.text(-0.45, 1.6e-6, "rtol = 1e-6", fontsize=8)
ax.set_yscale("log")
ax.set_ylim(1e-11, 1e4)
ax.set_xticks(np.arange(len(variants)), variants, fontsize=8)
ax.set_xlabel("gradient under test: the correct one, or one planted bug")
ax.set_ylabel("relative error vs central difference")
ax.set_title("The gradient check on the tiny GCN: correct and four planted bugs")
ax.legend(title="parameter", fontsize=8, ncol=4, loc="upper center")
print("wrote", plot.save_figure(fig, "05_wrong_gradients"))

# %% [markdown]
# The correct gradient agrees to better than $10^{-9}$ in every parameter; each
# bug misses by a relative error of order 1 in the parameters it touches,
# and leaves the others at the correct gradient's level: a transposed
# $W_0$ keeps $dW_0$ and $db_0$ right and breaks only the gradients that flow
# through it to the input projections. That is why the library checks every
# parameter of every model (`tests/test_gradients.py`), not just one.
