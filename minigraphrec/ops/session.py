r"""Session graphs and the gated graph network of SR-GNN (Wu et al., AAAI 2019), as op pairs.

The article's FAQ (Q3) names graph recurrent networks for temporal data beside GCN and GAT.
SR-GNN is the model that made the idea standard for recommendation: a session (a time-ordered
list of items) becomes a small directed graph, a gated graph neural network (Li et al., ICLR
2016) gives each of its items a state, and an attention readout turns the states into one
session vector.

Layout: packed, never padded. A batch of ``B`` sessions has ``N`` nodes in all (node ``j`` of
session ``b`` is a distinct item of that session) and ``n_pos`` positions (its events, oldest
first). Node rows are stored session after session, ``node_ptr[b]:node_ptr[b + 1]`` being
session ``b``'s, and likewise positions (``pos_ptr``, the sessions' own ``indptr``). The
adjacency of the batch is one block-diagonal sparse ``(N, N)`` matrix per direction, so a
message step is one sparse product over the whole batch, and the dense products (the GRU, the
readout) run on real rows only. ``padded_adjacency`` (in this file) gives the other layout,
padded dense ``(B, L, L)`` with ``L`` the largest session's node count, which
:func:`session_propagate_forward` also accepts. A sparse message step costs ``O(n_edges · d)``
against ``O(B · L² · d)`` dense; measured (``benchmarks/bench_sequential.py --parts layout``,
one step's four products, batches of 100 training prefixes, d = 100, float32, one thread,
fastest of 5 runs per batch, an idle 2-CPU Intel Xeon, ``sequential_layout_maxlen*.md``):
MovieLens-100K user sequences cut to 50 items 0.75 ms packed vs 1.78 ms padded per batch
(real nodes: 78 % of the padded rows), cut to 20 items 0.32 vs 0.37 ms (90 %), synthetic
sessions 0.09 vs 0.11 ms (36 %).

Every differentiable op is a pure pair ``*_forward(...) -> (out, cache)``,
``*_backward(cache, d_out) -> grads``, checked in float64 in ``tests/test_gradients.py``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..errors import (DataError, check_backend, check_float_array, check_grad_shape,
                      check_real_sparse, float_dtype)
from ..sequences import Sequences
from .embedding import scatter_add, segment_ids

__all__ = [
    "SessionGraphs", "session_graphs", "padded_adjacency", "index_add",
    "session_propagate_forward", "session_propagate_backward",
    "gru_cell_forward", "gru_cell_backward",
    "session_readout_forward", "session_readout_backward",
]


class SessionGraphs(NamedTuple):
    r"""A batch of ``B`` session graphs, packed (``N`` nodes, ``n_pos`` positions in all).

    Attributes
    ----------
    node_items : int64 (N,)
        The item of each node; session ``b``'s nodes are rows ``node_ptr[b]:node_ptr[b+1]``,
        in increasing item id.
    node_ptr : int64 (B + 1,)
    alias : int64 (n_pos,)
        The node (row of ``node_items``) each position is.
    pos_ptr : int64 (B + 1,)
        Session ``b``'s positions are ``pos_ptr[b]:pos_ptr[b+1]``.
    last : int64 (B,)
        The position of each session's last item, ``pos_ptr[1:] - 1``.
    A_in, A_out : scipy.sparse.csr_matrix (N, N)
        Block diagonal: the normalised in- and out-adjacency of every session.
    """
    node_items: np.ndarray
    node_ptr: np.ndarray
    alias: np.ndarray
    pos_ptr: np.ndarray
    last: np.ndarray
    A_in: sp.csr_matrix
    A_out: sp.csr_matrix


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
    start node's out-degree), with occurrences counted once as its authors' code does (a
    departure from the paper's text: counting them, ``[1, 2, 1, 2, 1, 3]`` would give item
    1's row of ``A_out`` the weights 2/3 (to 2) and 1/3 (to 3) instead of 1/2 and 1/2).

    Parameters
    ----------
    sessions : minigraphrec.sequences.Sequences, every session non-empty (``TypeError`` for
        another kind of value: ``Sequences.from_lists`` makes one from lists of item ids)
    dtype : float32 or float64, the dtype of the adjacency (any other is a
        :class:`~minigraphrec.errors.DataError`: an integer dtype would truncate the
        weights 1/2, 1/3 to 0)

    Returns
    -------
    SessionGraphs
    """
    if not isinstance(sessions, Sequences):
        raise TypeError(f"sessions must be a minigraphrec.sequences.Sequences (e.g. "
                        f"Sequences.from_lists(lists, n_items)), got {type(sessions).__name__}")
    dtype = float_dtype(dtype)                           # the adjacency's weights 1/k
    lengths = sessions.lengths                                   # (B,)
    B = lengths.shape[0]
    if B == 0:
        raise DataError("session_graphs needs at least one session")
    if np.any(lengths == 0):
        raise DataError(f"session {int(np.flatnonzero(lengths == 0)[0])} is empty; every "
                        f"session needs at least one item")
    n_items = sessions.n_items
    seg = segment_ids(lengths)                                   # (n_pos,) session of each event
    keys = seg * n_items + sessions.items                        # (n_pos,) unique per (b, item)
    uniq, alias = np.unique(keys, return_inverse=True)           # (N,), (n_pos,)
    alias = alias.reshape(-1).astype(np.int64)
    node_items = uniq % n_items                                  # (N,)
    node_ptr = np.concatenate([[0], np.cumsum(np.bincount(uniq // n_items, minlength=B))])
    N = uniq.shape[0]

    same = seg[1:] == seg[:-1]                                   # consecutive events of one session
    edges = np.unique(alias[:-1][same] * N + alias[1:][same])    # (n_edges,) i·N + j, sorted by i
    src, dst = edges // N, edges % N
    out_deg = np.bincount(src, minlength=N)                      # (N,)
    in_deg = np.bincount(dst, minlength=N)
    A_out = sp.csr_matrix(((1.0 / out_deg[src]).astype(dtype), dst,
                           np.concatenate([[0], np.cumsum(out_deg)])), shape=(N, N))
    by_dst = np.lexsort((src, dst))                              # rows of A_in: destinations
    A_in = sp.csr_matrix(((1.0 / in_deg[dst[by_dst]]).astype(dtype), src[by_dst],
                          np.concatenate([[0], np.cumsum(in_deg)])), shape=(N, N))
    pos_ptr = sessions.indptr.astype(np.int64)
    return SessionGraphs(node_items, node_ptr, alias, pos_ptr, pos_ptr[1:] - 1, A_in, A_out)


def padded_adjacency(graphs):
    r"""The same adjacency padded and dense: ``(A_in, A_out, nodes)``.

    ``A_in[b]``, ``A_out[b]`` are session ``b``'s blocks, ``(B, L, L)`` with ``L`` the
    largest node count, zero outside a session's ``n_b × n_b`` corner; ``nodes[b, j]`` is
    the packed row of node ``j`` of session ``b``, ``-1`` in padding. The layout of the
    SR-GNN authors' code, for display and for measuring one layout against the other.
    """
    node_ptr = graphs.node_ptr
    n_nodes = np.diff(node_ptr)                                  # (B,)
    B, L = n_nodes.shape[0], int(n_nodes.max())
    nodes = np.full((B, L), -1, dtype=np.int64)
    seg = segment_ids(n_nodes)                                   # (N,) session of each node
    local = np.arange(node_ptr[-1]) - node_ptr[seg]              # (N,) index inside its session
    nodes[seg, local] = np.arange(node_ptr[-1])
    out = []
    for A in (graphs.A_in, graphs.A_out):
        C = A.tocoo()
        D = np.zeros((B, L, L), dtype=A.dtype)
        D[seg[C.row], local[C.row], local[C.col]] = C.data
        out.append(D)
    return out[0], out[1], nodes


#: the scatter-add of SR-GNN's gradients (positions -> nodes, nodes -> items), by the name
#: of PyTorch's ``index_add_``: :func:`minigraphrec.ops.embedding.scatter_add`
index_add = scatter_add


# ---------------------------------------------------------------- propagation
def session_propagate_forward(A, X):
    r"""Per-session message sum ``Y_b = A_b X_b``, in either layout.

    A : scipy sparse (N, N) block diagonal, X : (N, d) -> Y : (N, d)  (packed), or
    A : (B, L, L) dense, X : (B, L, d) -> Y : (B, L, d)  (padded).
    """
    X = check_float_array(X, "X")
    if sp.issparse(A):
        if X.ndim != 2 or A.shape != (X.shape[0], X.shape[0]):
            raise DataError(f"a sparse A must be (N, N) and X (N, d); got A {A.shape}, "
                            f"X {X.shape}")
        check_real_sparse(A, "A")
        Y = np.asarray(A @ X)                                    # (N, d)
        return Y, (A, Y.shape, Y.dtype)
    A = check_float_array(A, "A", ndim=3)
    if (X.ndim != 3 or A.shape[0] != X.shape[0] or A.shape[2] != X.shape[1]
            or A.shape[1] != A.shape[2]):
        raise DataError(f"a dense A must be (B, L, L) and X (B, L, d) with the same B and L; "
                        f"got A {A.shape}, X {X.shape}")
    Y = np.matmul(A, X)                                          # (B, L, d)
    return Y, (A, Y.shape, Y.dtype)


def session_propagate_backward(cache, dY):
    r"""``dX_b = A_bᵀ dY_b``.  dY: the shape of Y -> dX: the shape of X."""
    A, shape, dtype = cache
    dY = check_grad_shape(dY, "dY", shape, dtype=dtype, op="session_propagate_backward")
    if sp.issparse(A):
        return np.asarray(A.T @ dY)
    return np.matmul(A.transpose(0, 2, 1), dY)


# ------------------------------------------------------------------ GRU cell
def _sigmoid(X):
    r"""Logistic ``σ(x) = 1 / (1 + e^{-x})`` in four in-place passes, keeping the dtype.

    Exactly that formula, each step rounded: ``e^{-x}``, plus 1, reciprocal. No element
    takes a branch (``np.where`` on a random sign mask was the slowest pass of the GRU).
    Where ``e^{-x}`` overflows, for ``x`` below -88.7228 (float32) or -709.7827 (float64),
    it is ``inf`` (the overflow silenced) and the result is 0; the true ``σ(x) ≈ e^x``
    rounds to a nonzero subnormal number down to -103.972 (float32) and -745.133
    (float64), so there the result is off by all of its value, an absolute error below
    the smallest normal number (1.2e-38 and 2.2e-308). Where the result is normal it is
    within 4 units in the last place (measured on 200,000 random inputs against an 80-bit
    reference: at most 3.7 in float32, 2.0 in float64).
    :func:`~minigraphrec.ops.sigmoid_forward` is the more exact reference (it takes no
    ``exp`` of a positive number and returns those subnormals); the two agree bit for bit
    on about 71 % (float32) and 77 % (float64) of random inputs, each rounding in its own
    steps. SR-GNN (the GRU's gates, the readout's weights) keeps this one: its results
    are fixed by it.
    """
    Y = np.negative(X)
    with np.errstate(over="ignore"):
        np.exp(Y, out=Y)
    Y += X.dtype.type(1)
    np.reciprocal(Y, out=Y)
    return Y


def gru_cell_forward(a, h, W, U, b, backend="numba"):
    r"""One gated update of node states: the GRU of SR-GNN eqs. 2-5 (Cho et al., 2014) with a
    bias per gate.

    With the gates stacked ``[z | r | c]`` in the columns of ``W``, ``U``, ``b``:

    .. math::
        z = \sigma(a W_z + h U_z + b_z), \quad r = \sigma(a W_r + h U_r + b_r), \\
        \tilde h = \tanh(a W_c + (r \odot h) U_c + b_c), \quad
        h' = (1 - z) \odot h + z \odot \tilde h .

    The reset gate multiplies the state before ``U_c``, as in the paper. The gate biases
    ``b_z``, ``b_r``, ``b_c`` are not in the paper's eqs. 2-4 (its one bias is the message
    bias of eq. 1); the authors' code has GRU-style biases, and ``b = 0`` gives the paper's
    equations. That code writes its ``GNNCell`` out by hand with the arithmetic of
    PyTorch's ``GRUCell``, which applies the reset gate after, ``r ⊙ (h U_c + b)``, and names
    ``1 - z`` what is ``z`` here: the same family, not the same numbers.

    Cost: one ``(N, d_a) × (d_a, 3d)`` product for all three gates' inputs, one
    ``(N, d) × (d, 2d)`` for ``z`` and ``r`` together, one ``(N, d) × (d, d)`` for ``h̃``;
    ``h' = h + z ⊙ (h̃ - h)`` is one fused pass with ``backend="numba"``
    (:mod:`minigraphrec.kernels.session`), three NumPy passes otherwise; same bits.

    Parameters
    ----------
    a : (N, d_a), the messages
    h : (N, d), the states
    W : (d_a, 3d)
    U : (d, 3d)
    b : (3d,)
    backend : "numba" (default) or "numpy" (the reference); the backward pass uses the same one

    Returns
    -------
    h_new : (N, d); cache
    """
    backend = check_backend(backend)
    a = check_float_array(a, "a", ndim=2)
    h = check_float_array(h, "h", ndim=2)
    W, U = check_float_array(W, "W", ndim=2), check_float_array(U, "U", ndim=2)
    b = check_float_array(b, "b", ndim=1)
    d = h.shape[1]
    if (a.shape[0] != h.shape[0] or W.shape != (a.shape[1], 3 * d) or U.shape != (d, 3 * d)
            or b.shape != (3 * d,)):
        raise DataError(f"gru_cell_forward expects a (N, d_a), h (N, d), W (d_a, 3d), "
                        f"U (d, 3d), b (3d,); got a {a.shape}, h {h.shape}, W {W.shape}, "
                        f"U {U.shape}, b {b.shape}")
    G = a @ W                                                    # (N, 3d)
    G += b
    G[:, :2 * d] += h @ U[:, :2 * d]
    zr = _sigmoid(G[:, :2 * d])                                  # (N, 2d): [z | r]
    z, r = zr[:, :d], zr[:, d:]
    rh = r * h                                                   # (N, d)
    c = G[:, 2 * d:]                                             # (N, d), a view of G
    c += rh @ U[:, 2 * d:]
    np.tanh(c, out=c)                                            # h̃
    if backend == "numba" and h.dtype == G.dtype == zr.dtype:
        h_new = np.empty_like(h)
        _gru_kernel("gru_update_rows", h.size)(h, zr, c, h_new)
    else:
        h_new = c - h
        h_new *= z
        h_new += h                                               # (N, d) h + z (h̃ - h)
    return h_new, (a, h, W, U, zr, rh, c, backend)


def _gru_kernel(name, size):
    """The numba kernel ``name`` of :mod:`minigraphrec.kernels.session` for arrays of
    ``size`` elements: its serial twin below ``PARALLEL_FROM`` (the same bits either way)."""
    from ..kernels import session as kernels
    parallel, serial = kernels.GRU_KERNELS[name]
    return parallel if size >= kernels.PARALLEL_FROM else serial


def gru_cell_backward(cache, dh_new):
    r"""Gradients of :func:`gru_cell_forward`: ``(da, dh, dW, dU, db)``.

    With ``g_z, g_r, g_c`` the gates' pre-activations:
    ``dg_z = dh' ⊙ (h̃ - h) ⊙ z(1-z)``, ``dg_c = dh' ⊙ z ⊙ (1 - h̃²)``,
    ``d(r⊙h) = dg_c U_cᵀ``, ``dg_r = d(r⊙h) ⊙ h ⊙ r(1-r)``,
    ``dh = dh' ⊙ (1-z) + d(r⊙h) ⊙ r + [dg_z | dg_r] [U_z | U_r]ᵀ``,
    ``dW = aᵀ dG``, ``da = dG Wᵀ``, ``dU = [hᵀ [dg_z | dg_r] | (r⊙h)ᵀ dg_c]``, ``db = Σ dG``.
    The elementwise lines are two fused passes with the numba backend, about twenty NumPy
    passes without; the products are the same BLAS calls either way.
    """
    a, h, W, U, zr, rh, c, backend = cache
    d = h.shape[1]
    z, r = zr[:, :d], zr[:, d:]
    one = h.dtype.type(1)
    dh_new = check_grad_shape(dh_new, "dh_new", h.shape, dtype=np.result_type(h, c),
                              op="gru_cell_backward")           # (N, d); the kernels trust it
    dG = np.empty((h.shape[0], 3 * d), dtype=np.result_type(h, dh_new))   # (N, 3d)
    dgz, dgr, dgc = dG[:, :d], dG[:, d:2 * d], dG[:, 2 * d:]
    fused = backend == "numba" and h.dtype == dh_new.dtype == zr.dtype == c.dtype
    if fused:
        _gru_kernel("gru_backward_gates_rows", h.size)(dh_new, zr, c, h, dG)
    else:
        np.multiply(dh_new, z, out=dgc)
        dgc *= one - c * c                                       # through tanh
        np.subtract(c, h, out=dgz)
        dgz *= dh_new
        dgz *= z * (one - z)                                     # through σ
    drh = dgc @ U[:, 2 * d:].T                                   # (N, d)
    if fused:
        dh = np.empty_like(h)
        _gru_kernel("gru_backward_reset_rows", h.size)(drh, h, zr, dh_new, dG, dh)
    else:
        np.multiply(drh, h, out=dgr)
        dgr *= r * (one - r)
        dh = dh_new * (one - z)
        dh += drh * r
    dh += dG[:, :2 * d] @ U[:, :2 * d].T
    dU = np.empty_like(U)                                        # (d, 3d)
    np.matmul(h.T, dG[:, :2 * d], out=dU[:, :2 * d])
    np.matmul(rh.T, dgc, out=dU[:, 2 * d:])
    return dG @ W.T, dh, a.T @ dG, dU, dG.sum(axis=0)


# ------------------------------------------------------------- attention readout
def session_readout_forward(P, pos_ptr, W1, W2, c, q, W3=None):
    r"""SR-GNN's session vector from the states of a session's positions (the paper's
    "Generating Session Embeddings").

    For session ``b`` with position states ``p_1..p_n`` (rows ``pos_ptr[b]:pos_ptr[b+1]``
    of ``P``) and last state ``p_n``:

    .. math::
        \alpha_t = q^\top \sigma(W_1^\top p_n + W_2^\top p_t + c), \qquad
        s_g = \sum_{t=1}^{n} \alpha_t\, p_t, \qquad
        s_h = W_3^\top [\,p_n ; s_g\,],

    the "hybrid" readout; without ``W3`` the session vector is ``s_g`` alone (the paper's
    global-only ablation). The weights are the sigmoid scores themselves, not a softmax, as
    in the paper.

    Parameters
    ----------
    P : (n_pos, d), sessions one after the other
    pos_ptr : int (B + 1,), ``pos_ptr[0] = 0``, ``pos_ptr[-1] = n_pos``, every session
        non-empty
    W1, W2 : (d, d)
    c, q : (d,)
    W3 : (2d, d_out) or None

    Returns
    -------
    s : (B, d_out) (``d_out = d`` without ``W3``); cache
    """
    P = check_float_array(P, "P", ndim=2)
    n_pos, d = P.shape
    W1, W2 = check_float_array(W1, "W1", ndim=2), check_float_array(W2, "W2", ndim=2)
    c, q = check_float_array(c, "c", ndim=1), check_float_array(q, "q", ndim=1)
    pos_ptr = np.asarray(pos_ptr)
    if (W1.shape != (d, d) or W2.shape != (d, d) or c.shape != (d,) or q.shape != (d,)
            or pos_ptr.ndim != 1 or pos_ptr.shape[0] < 2
            or not np.issubdtype(pos_ptr.dtype, np.integer)):
        raise DataError(f"session_readout_forward expects P (n_pos, d), pos_ptr (B + 1,) "
                        f"integers, W1 and W2 (d, d), c and q (d,); got P {P.shape}, pos_ptr "
                        f"{pos_ptr.shape} {pos_ptr.dtype}, W1 {W1.shape}, W2 {W2.shape}, "
                        f"c {c.shape}, q {q.shape}")
    if pos_ptr[0] != 0 or pos_ptr[-1] != n_pos:
        raise DataError(f"pos_ptr must start at 0 and end at n_pos = {n_pos}, got "
                        f"{pos_ptr[0]} and {pos_ptr[-1]}")
    if np.any(np.diff(pos_ptr) < 1):
        b = int(np.flatnonzero(np.diff(pos_ptr) < 1)[0])
        raise DataError(f"pos_ptr must give every session at least one position: session {b} "
                        f"has pos_ptr[{b}] = {pos_ptr[b]}, pos_ptr[{b + 1}] = {pos_ptr[b + 1]}")
    starts, last = pos_ptr[:-1], pos_ptr[1:] - 1                 # (B,), (B,)
    seg = segment_ids(np.diff(pos_ptr))                          # (n_pos,) session of each
    p_last = P[last]                                             # (B, d)
    pre = P @ W2                                                 # (n_pos, d)
    pre += (p_last @ W1)[seg]
    pre += c
    g = _sigmoid(pre)                                            # (n_pos, d)
    alpha = g @ q                                                # (n_pos,)
    s_g = np.add.reduceat(alpha[:, None] * P, starts, axis=0)    # (B, d)
    if W3 is None:
        return s_g, (P, starts, seg, W1, W2, q, None, g, alpha, p_last, None)
    W3 = check_float_array(W3, "W3", ndim=2)
    if W3.shape[0] != 2 * d:
        raise DataError(f"W3 must have 2d = {2 * d} rows, got {W3.shape}")
    cat = np.concatenate([p_last, s_g], axis=1)                  # (B, 2d)
    return cat @ W3, (P, starts, seg, W1, W2, q, W3, g, alpha, p_last, cat)


def session_readout_backward(cache, ds):
    r"""Gradients of :func:`session_readout_forward`: ``(dP, dW1, dW2, dc, dq, dW3)``
    (``dW3`` is None without ``W3``)."""
    P, starts, seg, W1, W2, q, W3, g, alpha, p_last, cat = cache
    d = P.shape[1]
    s_dtype = np.result_type(alpha, P) if W3 is None else np.result_type(cat, W3)
    ds = check_grad_shape(ds, "ds", (starts.shape[0], d if W3 is None else W3.shape[1]),
                          dtype=s_dtype, op="session_readout_backward")
    if W3 is None:
        ds_g, dp_last, dW3 = ds, None, None
    else:
        dW3 = cat.T @ ds                                         # (2d, d_out)
        dcat = ds @ W3.T                                         # (B, 2d)
        dp_last, ds_g = dcat[:, :d], dcat[:, d:]
    ds_seg = ds_g[seg]                                           # (n_pos, d)
    dalpha = np.einsum("nd,nd->n", ds_seg, P)                    # (n_pos,)
    dP = ds_seg
    dP *= alpha[:, None]                                         # (n_pos, d)
    dq = g.T @ dalpha                                            # (d,)
    one = g.dtype.type(1)
    dpre = g * (one - g)                                         # (n_pos, d) through σ
    dpre *= q
    dpre *= dalpha[:, None]
    dc = dpre.sum(axis=0)
    dW2 = P.T @ dpre
    dP += dpre @ W2.T
    dpre_last = np.add.reduceat(dpre, starts, axis=0)            # (B, d)
    dW1 = p_last.T @ dpre_last
    dlast = dpre_last @ W1.T                                     # (B, d)
    if dp_last is not None:
        dlast += dp_last
    dP[np.append(starts[1:], P.shape[0]) - 1] += dlast           # last positions: distinct rows
    return dP, dW1, dW2, dc, dq, dW3
