r"""Session graphs and the gated graph network of SR-GNN (Wu et al., AAAI 2019), as op pairs.

The article's FAQ (Q3) names graph recurrent networks for temporal data beside GCN and GAT.
SR-GNN is the model that made the idea standard for recommendation: a session (a time-ordered
list of items) becomes a small directed graph, a gated graph neural network (Li et al., ICLR
2016) gives each of its items a state, and an attention readout turns the states into one
session vector.

A batch of ``B`` sessions is stored padded and dense: node ``j`` of session ``b`` is a distinct
item of that session, ``L`` is the largest number of distinct items in the batch and ``T`` the
largest session length. Measured against a block-diagonal sparse layout this is both simpler
and faster at session sizes (``L`` of tens): one batched ``matmul`` per product.

Every differentiable op is a pure pair ``*_forward(...) -> (out, cache)``,
``*_backward(cache, d_out) -> grads``, checked in float64 in ``tests/test_gradients.py``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .dense import _dense, sigmoid_forward

__all__ = [
    "SessionGraphs", "session_graphs",
    "session_propagate_forward", "session_propagate_backward",
    "gru_cell_forward", "gru_cell_backward",
    "session_readout_forward", "session_readout_backward",
]


class SessionGraphs(NamedTuple):
    r"""A batch of session graphs, padded.

    node_items : int64 (B, L), the item id of node ``j`` of session ``b`` (0 in padding)
    node_mask : bool (B, L), True for real nodes
    alias : int64 (B, T), the node each position of the session is (0 in padding)
    pos_mask : bool (B, T), True for real positions
    last : int64 (B,), the position of each session's last item (its length - 1)
    A_in, A_out : (B, L, L) float, the normalised in- and out-adjacency
    """
    node_items: np.ndarray
    node_mask: np.ndarray
    alias: np.ndarray
    pos_mask: np.ndarray
    last: np.ndarray
    A_in: np.ndarray
    A_out: np.ndarray


def session_graphs(sessions, dtype=np.float64):
    r"""Build the graphs of a batch of sessions.

    Session ``b`` with items ``s_1, ..., s_n`` (oldest first) has one node per distinct item
    (in increasing item id) and one edge ``s_{t-1} → s_t`` per consecutive pair; an edge
    that recurs is kept once, and a repeated item (``a → a``) is a self-loop. With
    ``M[i, j] = 1`` for an edge ``i → j``,

    .. math::
        A^{out}_{ij} = \frac{M_{ij}}{\sum_k M_{ik}}, \qquad
        A^{in}_{ij} = \frac{M_{ji}}{\sum_k M_{ki}},

    so row ``i`` of ``A_out`` averages over the nodes ``i`` points to and row ``i`` of
    ``A_in`` over the nodes that point to ``i``; a node without such edges has a zero row.
    This is the normalisation of the SR-GNN paper (§3.2, edge weight: occurrence over the
    start node's out-degree), with occurrences counted once as its authors' code does.

    Parameters
    ----------
    sessions : minigraphrec.sequences.Sequences, every session non-empty
    dtype : float dtype of the adjacency

    Returns
    -------
    SessionGraphs
    """
    lengths = sessions.lengths                                   # (B,)
    B = lengths.shape[0]
    if B == 0:
        raise DataError("session_graphs needs at least one session")
    if np.any(lengths == 0):
        raise DataError(f"session {int(np.flatnonzero(lengths == 0)[0])} is empty; every "
                        f"session needs at least one item")
    n_items = sessions.n_items
    seg = np.repeat(np.arange(B), lengths)                       # (N,) session of each event
    keys = seg * n_items + sessions.items                        # (N,) unique per (b, item)
    uniq, inv = np.unique(keys, return_inverse=True)             # (U,), (N,)
    u_seg = uniq // n_items
    n_nodes = np.bincount(u_seg, minlength=B)                    # (B,)
    u_start = np.cumsum(n_nodes) - n_nodes                       # (B,)
    u_pos = np.arange(uniq.shape[0]) - u_start[u_seg]            # (U,) node index in session
    L, T = int(n_nodes.max()), int(lengths.max())

    node_items = np.zeros((B, L), dtype=np.int64)
    node_mask = np.zeros((B, L), dtype=bool)
    node_items[u_seg, u_pos] = uniq % n_items
    node_mask[u_seg, u_pos] = True

    node_of_event = inv.reshape(-1) - u_start[seg]               # (N,)
    t_of_event = np.arange(seg.shape[0]) - sessions.indptr[seg]  # (N,) position in session
    alias = np.zeros((B, T), dtype=np.int64)
    pos_mask = np.zeros((B, T), dtype=bool)
    alias[seg, t_of_event] = node_of_event
    pos_mask[seg, t_of_event] = True

    M = np.zeros((B, L, L), dtype=dtype)                         # M[b, i, j] = 1 for i → j
    same = seg[1:] == seg[:-1]
    M[seg[1:][same], node_of_event[:-1][same], node_of_event[1:][same]] = 1
    out_deg = M.sum(axis=2, keepdims=True)                       # (B, L, 1)
    in_deg = M.sum(axis=1)[:, :, None]                           # (B, L, 1)
    A_out = np.divide(M, out_deg, out=np.zeros_like(M), where=out_deg > 0)
    A_in = np.divide(M.transpose(0, 2, 1), in_deg, out=np.zeros_like(M), where=in_deg > 0)
    return SessionGraphs(node_items, node_mask, alias, pos_mask, lengths - 1, A_in, A_out)


# ---------------------------------------------------------------- propagation
def session_propagate_forward(A, X):
    r"""Per-session message sum ``Y_b = A_b X_b``.  A: (B, L, L), X: (B, L, d) -> Y: (B, L, d)."""
    A = _dense("A", A, ndim=3)
    X = _dense("X", X, ndim=3)
    if A.shape[0] != X.shape[0] or A.shape[2] != X.shape[1] or A.shape[1] != A.shape[2]:
        raise DataError(f"A must be (B, L, L) and X (B, L, d) with the same B and L; "
                        f"got A {A.shape}, X {X.shape}")
    return np.matmul(A, X), A


def session_propagate_backward(cache, dY):
    r"""``dX_b = A_bᵀ dY_b``.  dY: (B, L, d) -> dX: (B, L, d)."""
    A = cache
    return np.matmul(A.transpose(0, 2, 1), dY)


# ------------------------------------------------------------------ GRU cell
def gru_cell_forward(a, h, W, U, b):
    r"""One gated update of node states (SR-GNN eqs. 2-5; Cho et al., 2014).

    With the gates stacked ``[z | r | c]`` in the columns of ``W``, ``U``, ``b``:

    .. math::
        z = \sigma(a W_z + h U_z + b_z), \quad r = \sigma(a W_r + h U_r + b_r), \\
        \tilde h = \tanh(a W_c + (r \odot h) U_c + b_c), \quad
        h' = (1 - z) \odot h + z \odot \tilde h .

    The reset gate multiplies the state before ``U_c``, as in the paper; PyTorch's
    ``GRUCell`` (used by the authors' code) applies it after, ``r ⊙ (h U_c + b)``, and names
    ``1 - z`` what is ``z`` here: the same family, not the same numbers.

    Parameters
    ----------
    a : (N, d_a) the messages; h : (N, d) the states
    W : (d_a, 3d); U : (d, 3d); b : (3d,)

    Returns
    -------
    h_new : (N, d); cache
    """
    a = _dense("a", a, ndim=2)
    h = _dense("h", h, ndim=2)
    W, U, b = _dense("W", W, ndim=2), _dense("U", U, ndim=2), _dense("b", b, ndim=1)
    d = h.shape[1]
    if (a.shape[0] != h.shape[0] or W.shape != (a.shape[1], 3 * d) or U.shape != (d, 3 * d)
            or b.shape != (3 * d,)):
        raise DataError(f"gru_cell_forward expects a (N, d_a), h (N, d), W (d_a, 3d), "
                        f"U (d, 3d), b (3d,); got a {a.shape}, h {h.shape}, W {W.shape}, "
                        f"U {U.shape}, b {b.shape}")
    G = a @ W + b                                                # (N, 3d)
    G[:, :2 * d] += h @ U[:, :2 * d]
    z, _ = sigmoid_forward(G[:, :d])                             # (N, d)
    r, _ = sigmoid_forward(G[:, d:2 * d])                        # (N, d)
    rh = r * h                                                   # (N, d)
    c = np.tanh(G[:, 2 * d:] + rh @ U[:, 2 * d:])                # (N, d)
    h_new = h + z * (c - h)                                      # (N, d)
    return h_new, (a, h, W, U, z, r, rh, c)


def gru_cell_backward(cache, dh_new):
    r"""Gradients of :func:`gru_cell_forward`: ``(da, dh, dW, dU, db)``."""
    a, h, W, U, z, r, rh, c = cache
    d = h.shape[1]
    dz = dh_new * (c - h)                                        # (N, d)
    dgc = dh_new * z * (1 - c * c)                               # (N, d) through tanh
    drh = dgc @ U[:, 2 * d:].T                                   # (N, d)
    dgz = dz * z * (1 - z)
    dgr = drh * h * r * (1 - r)
    dG = np.concatenate([dgz, dgr, dgc], axis=1)                 # (N, 3d)
    dh = dh_new * (1 - z) + drh * r + dG[:, :2 * d] @ U[:, :2 * d].T
    dU = np.concatenate([h.T @ dG[:, :2 * d], rh.T @ dgc], axis=1)   # (d, 3d)
    return dG @ W.T, dh, a.T @ dG, dU, dG.sum(axis=0)


# ------------------------------------------------------------- attention readout
def session_readout_forward(P, pos_mask, last, W1, W2, c, q, W3=None):
    r"""SR-GNN's session vector from the states of a session's positions (eqs. 6-8).

    For session ``b`` with position states ``p_1..p_n`` (``P[b, :n]``) and last state
    ``p_n``:

    .. math::
        \alpha_t = q^\top \sigma(W_1^\top p_n + W_2^\top p_t + c), \qquad
        s_g = \sum_{t=1}^{n} \alpha_t\, p_t, \qquad
        s_h = W_3^\top [\,p_n ; s_g\,],

    the "hybrid" readout; without ``W3`` the session vector is ``s_g`` alone (the paper's
    global-only ablation). Padded positions get no weight. The weights are the sigmoid
    scores themselves, not a softmax, as in the paper.

    Parameters
    ----------
    P : (B, T, d); pos_mask : bool (B, T); last : int (B,) position of the last item
    W1, W2 : (d, d); c, q : (d,); W3 : (2d, d_out) or None

    Returns
    -------
    s : (B, d_out) (``d_out = d`` without ``W3``); cache
    """
    P = _dense("P", P, ndim=3)
    B, T, d = P.shape
    W1, W2 = _dense("W1", W1, ndim=2), _dense("W2", W2, ndim=2)
    c, q = _dense("c", c, ndim=1), _dense("q", q, ndim=1)
    pos_mask = np.asarray(pos_mask, dtype=bool)
    last = np.asarray(last, dtype=np.int64)
    if (W1.shape != (d, d) or W2.shape != (d, d) or c.shape != (d,) or q.shape != (d,)
            or pos_mask.shape != (B, T) or last.shape != (B,)):
        raise DataError(f"session_readout_forward expects P (B, T, d), pos_mask (B, T), last "
                        f"(B,), W1 and W2 (d, d), c and q (d,); got P {P.shape}, pos_mask "
                        f"{pos_mask.shape}, last {last.shape}, W1 {W1.shape}, W2 {W2.shape}, "
                        f"c {c.shape}, q {q.shape}")
    if np.any(last < 0) or np.any(last >= T) or not np.all(pos_mask[np.arange(B), last]):
        raise DataError("last must index a real position of each session")
    p_last = P[np.arange(B), last]                               # (B, d)
    g, _ = sigmoid_forward((p_last @ W1)[:, None, :] + P @ W2 + c)   # (B, T, d)
    mask = pos_mask.astype(P.dtype)                              # (B, T)
    alpha = (g @ q) * mask                                       # (B, T)
    s_g = np.einsum("bt,btd->bd", alpha, P)                      # (B, d)
    if W3 is None:
        return s_g, (P, mask, last, W1, W2, q, None, g, alpha, p_last, None)
    W3 = _dense("W3", W3, ndim=2)
    if W3.shape[0] != 2 * d:
        raise DataError(f"W3 must have 2d = {2 * d} rows, got {W3.shape}")
    cat = np.concatenate([p_last, s_g], axis=1)                  # (B, 2d)
    return cat @ W3, (P, mask, last, W1, W2, q, W3, g, alpha, p_last, cat)


def session_readout_backward(cache, ds):
    r"""Gradients of :func:`session_readout_forward`: ``(dP, dW1, dW2, dc, dq, dW3)``
    (``dW3`` is None without ``W3``)."""
    P, mask, last, W1, W2, q, W3, g, alpha, p_last, cat = cache
    B, T, d = P.shape
    if W3 is None:
        ds_g, dp_last, dW3 = ds, np.zeros_like(p_last), None
    else:
        dW3 = cat.T @ ds                                         # (2d, d_out)
        dcat = ds @ W3.T                                         # (B, 2d)
        dp_last, ds_g = dcat[:, :d].copy(), dcat[:, d:]
    dalpha = np.einsum("bd,btd->bt", ds_g, P) * mask             # (B, T)
    dP = alpha[:, :, None] * ds_g[:, None, :]                    # (B, T, d)
    dq = np.einsum("bt,btd->d", dalpha, g)
    dpre = dalpha[:, :, None] * q * g * (1 - g)                  # (B, T, d) through σ
    dc = dpre.sum(axis=(0, 1))
    dW2 = np.einsum("btd,bte->de", P, dpre)
    dP += dpre @ W2.T
    dpre_last = dpre.sum(axis=1)                                 # (B, d)
    dW1 = p_last.T @ dpre_last
    dp_last += dpre_last @ W1.T
    np.add.at(dP, (np.arange(B), last), dp_last)
    return dP, dW1, dW2, dc, dq, dW3
