r"""Graph attention (GAT, Veličković et al., ICLR 2018) as differentiable op pairs.

One GAT layer over a graph with CSR adjacency ``A`` (row ``v`` = the node that
*receives*, its column indices ``u`` = the neighbours that *send*), input
features ``H`` (n, d_in), ``n_heads`` heads of width ``d_out``:

.. math::

    Z &= H W  \qquad (n, n_heads, d_out)                                         \\
    e_{vu,h} &= \mathrm{LeakyReLU}_{0.2}\big(a_{src,h}^\top Z_{u,h}
                 + a_{dst,h}^\top Z_{v,h}\big) + \beta_h \log w_{vu}              \\
    \alpha_{vu,h} &= \frac{\exp e_{vu,h}}{\sum_{u' \in N(v)} \exp e_{vu',h}}      \\
    H'_v &= \sigma\Big(\big\Vert_h \sum_{u \in N(v)} \tilde\alpha_{vu,h} Z_{u,h}\Big)
    \quad\text{or}\quad
    \sigma\Big(\tfrac{1}{n_heads} \sum_h \sum_{u \in N(v)} \tilde\alpha_{vu,h} Z_{u,h}\Big)

with :math:`\tilde\alpha` the attention after dropout (the paper drops
normalised attention coefficients) and ``‖`` concatenation over heads.

Notation. The paper writes ``e_ij = LeakyReLU(aᵀ [W h_i ‖ W h_j])`` for a
centre node ``i`` and its neighbour ``j``; splitting ``a = [a_1; a_2]`` gives
``a_dst = a_1`` (applied to the receiving node ``v = i``) and
``a_src = a_2`` (applied to the sending neighbour ``u = j``), the names
PyTorch Geometric uses. Each edge's logit needs only the two per-node
scores ``a_srcᵀ Z_u`` and ``a_dstᵀ Z_v``, never the concatenation.

Edge weights (our addition). Preprocessing may give each edge a weight
``w_vu > 0`` (interaction counts, time decay: :mod:`minigraphrec.graph`).
With a learned per-head ``β_h`` the term ``β_h log w_vu`` is added *after*
the LeakyReLU, so that

.. math:: \alpha_{vu,h} \propto w_{vu}^{\beta_h} \exp \mathrm{LeakyReLU}(\dots):

``β = 0`` ignores the weights, ``β = 1`` multiplies the learned attention
by the weight before renormalising. ``dβ_h = Σ_edges de_{vu,h} log w_vu``.

The building blocks, each a pure ``*_forward -> (out, cache)`` /
``*_backward(cache, d_out)`` pair with a NumPy/SciPy reference
(``backend="numpy"``) and a parallel numba kernel
(:mod:`minigraphrec.kernels.segment`, ``backend="numba"``):

* :func:`~minigraphrec.ops.edge_softmax_forward` -- softmax of per-edge logits over each row;
* :func:`~minigraphrec.ops.attention_aggregate_forward` -- ``out_v = Σ_{u ∈ row v} α_vu Z_u``;
* :func:`~minigraphrec.ops.gat_logits_forward` -- the logits ``e`` from ``Z``, ``a_src``, ``a_dst``;
* :func:`~minigraphrec.ops.gat_layer_forward` -- the whole layer, composing the three with the
  projection, attention dropout, head concatenation/averaging and σ.

Shapes. Per-edge arrays are ``(nnz,)`` for one head or ``(nnz, n_heads)``,
in the CSR's storage order; node arrays ``(n, d)`` for one head or
``(n, n_heads, d)``. Outputs keep the input dtype (float32 in training,
float64 in gradient checks).

Edge cases. A row with no stored entry (an isolated node; add self-loops to
avoid them, as the paper does) owns no edge, so the softmax has nothing to
normalise and the aggregate is a zero row -- never NaN. Logits must be
finite (a row of ``-inf`` would be ``0/0``, a NaN or ``+inf`` would make its
row NaN): :func:`~minigraphrec.ops.edge_softmax_forward` refuses
them, naming the first bad edge. The check is one ``isfinite`` pass, 5-10%
of the numba softmax's time (2M edges, 2 threads: about 0.4 ms of 5.5 ms
for one head, 2 of 22 ms for four), so
:func:`~minigraphrec.ops.gat_layer_forward`, on the training
path, calls the unchecked softmax on the logits it computes itself.

Determinism. The numba kernels sum every row in a fixed order (storage
order; the batch-local ones of :mod:`minigraphrec.kernels.gat_rows` four
terms at a time) and give the same bits for any thread count. The backends
agree to rounding, not bit for bit: NumPy's vectorised ``exp`` and LLVM's
(the C library's) differ in the last bit for many arguments (measured on an
Intel Xeon with AVX-512: 39 % of float32, 5 % of float64 ones), the NumPy
row sums (``np.add.reduceat``) do not add one term after the other, and the
transposed sums of the backward pass run in different orders.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..errors import (DataError, check_backend, check_finite_number, check_float_array,
                      check_grad_dtype, check_grad_shape, check_int, check_real_sparse)
from .dense import (ACTIVATIONS, dropout_backward, dropout_forward, linear_backward,
                    linear_forward)
from .embedding import segment_ids

__all__ = [
    "AttentionGraph", "attention_graph", "csr_transpose",
    "edge_softmax_forward", "edge_softmax_backward",
    "attention_aggregate_forward", "attention_aggregate_backward",
    "gat_logits_forward", "gat_logits_backward",
    "gat_layer_forward", "gat_layer_backward",
]

_EDGE_CHUNK = 1 << 16          # edges per block in the NumPy reference of the edge dot product


# ================================================================ validation
def _check_csr(indptr, indices=None, n_cols=None):
    r"""``indptr`` (and ``indices``) as int64 arrays forming a valid CSR structure.

    Both come back as int64 (a copy of SciPy's int32 arrays, O(nnz) like the
    checks themselves), so that every numba kernel is compiled for one index
    type only.
    """
    indptr = np.asarray(indptr)
    if indptr.ndim != 1 or indptr.shape[0] < 1:
        raise DataError(f"indptr must be 1-d with n_rows + 1 >= 1 entries, "
                        f"got shape {indptr.shape}")
    if not np.issubdtype(indptr.dtype, np.integer):
        raise DataError(f"indptr must have an integer dtype, got {indptr.dtype}")
    if indptr[0] != 0:
        raise DataError(f"indptr must start at 0, got {indptr[0]}")
    if np.any(indptr[1:] < indptr[:-1]):
        row = int(np.flatnonzero(indptr[1:] < indptr[:-1])[0])
        raise DataError(f"indptr must be non-decreasing; it decreases at row {row}")
    indptr = indptr.astype(np.int64, copy=False)
    if indices is None:
        return indptr, None
    indices = np.asarray(indices)
    if indices.ndim != 1:
        raise DataError(f"indices must be 1-d (nnz,), got shape {indices.shape}")
    if indices.size == 0:
        indices = indices.astype(np.int64)         # np.array([]) is float64
    if not np.issubdtype(indices.dtype, np.integer):
        raise DataError(f"indices must have an integer dtype, got {indices.dtype}")
    if indptr[-1] != indices.shape[0]:
        raise DataError(f"indptr ends at {indptr[-1]} but there are {indices.shape[0]} indices")
    if indices.size and (indices.min() < 0 or indices.max() >= n_cols):
        bad = indices[(indices < 0) | (indices >= n_cols)][0]
        raise DataError(f"column index {bad} in indices is out of range 0..{n_cols - 1}")
    return indptr, indices.astype(np.int64, copy=False)


def _check_edges(name, x, nnz):
    """Per-edge values (nnz,) or (nnz, n_heads) -> 2-d view (nnz, n_heads)."""
    x = check_float_array(x, name)
    if x.ndim not in (1, 2) or x.shape[0] != nnz:
        raise DataError(f"{name} must have shape (nnz,) or (nnz, n_heads) with nnz = {nnz}, "
                        f"got {x.shape}")
    return x if x.ndim == 2 else x.reshape(nnz, 1)


def _check_finite_edges(name, x, indptr):
    """:class:`DataError` naming the first edge of ``x`` (nnz, n_heads) that is NaN or
    infinite, with its row and head; one ``isfinite`` pass when all are finite."""
    ok = np.isfinite(x)                                                 # (nnz, H)
    if not ok.all():
        k, h = (int(i) for i in np.argwhere(~ok)[0])
        row = int(np.searchsorted(indptr, k, side="right")) - 1
        raise DataError(f"{name} must be finite: edge {k} (row {row}, head {h}) holds "
                        f"{x[k, h]}")


def _n_blocks():
    from numba import get_num_threads
    return 4 * get_num_threads()


# ============================================================ NumPy helpers
def _rows_of_edges(indptr):
    """(nnz,) the row (destination node) of every stored entry."""
    return segment_ids(np.diff(indptr))


def _segment_reduce(ufunc, values, indptr):
    r"""``ufunc.reduce`` of ``values`` (nnz, ...) over each CSR row -> (n_rows, ...).

    ``np.<ufunc>.reduceat`` at the row starts, with the empty rows left out
    (reduceat would return the next row's first element for them) and set
    to 0. NumPy chooses the order of a sum's additions, not one term after
    the other in storage order (measured, float32, one head: the last bit
    differed from that order for 43 % of random rows of 5 entries and 74 %
    of 20), so these sums equal the kernels' to rounding.
    """
    counts = np.diff(indptr)                               # (n_rows,)
    out = np.zeros((counts.shape[0],) + values.shape[1:], dtype=values.dtype)
    nonempty = counts > 0
    if values.shape[0]:
        out[nonempty] = ufunc.reduceat(values, indptr[:-1][nonempty], axis=0)
    return out


def _to_edges(row_values, indptr):
    """Broadcast per-row values (n_rows, ...) to the rows' edges (nnz, ...)."""
    return np.repeat(row_values, np.diff(indptr), axis=0)


def _scatter_sum(values, indices, n):
    r"""``out[u] = Σ_{k : indices[k] = u} values[k]``; values (nnz, n_heads) -> (n, n_heads).

    ``np.bincount`` per head: sequential in edge order, accumulated in float64 (so not
    :func:`~minigraphrec.ops.embedding.scatter_add`, which sums in the values' dtype: the
    same bits in float64, not in float32).
    """
    out = np.empty((n, values.shape[1]), dtype=values.dtype)
    for h in range(values.shape[1]):
        out[:, h] = np.bincount(indices, weights=values[:, h], minlength=n)
    return out


# ============================================================== transpose
def csr_transpose(indptr, indices, n_cols):
    r"""The transposed CSR structure and where each of its entries came from.

    Parameters
    ----------
    indptr : (n_rows + 1,) int
    indices : (nnz,) int in ``0 .. n_cols-1``
    n_cols : int

    Returns
    -------
    t_indptr : (n_cols + 1,) int64
    t_indices : (nnz,) int64, the *rows* of the original entries
    perm : (nnz,) int64, ``perm[t]`` is the original edge id of the ``t``-th
        entry of the transpose. Inside each transposed row the original edges
        keep their order (a stable sort), so per-edge values ``x`` are
        rearranged as ``x[perm]``.
    """
    n_cols = check_int(n_cols, "n_cols", at_least=0)
    indptr, indices = _check_csr(indptr, indices, n_cols)
    perm = np.argsort(indices, kind="stable").astype(np.int64)                  # (nnz,)
    t_indices = _rows_of_edges(indptr)[perm]                                    # (nnz,)
    t_indptr = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=n_cols), out=t_indptr[1:])         # (n_cols + 1,)
    return t_indptr, t_indices, perm


def _check_transpose(transpose, n_dst, n_src, nnz):
    r"""``transpose`` (None or ``(t_indptr, t_indices, perm)``) safe for the kernels: a
    CSR structure over ``n_src`` rows with ``nnz`` entries in ``0 .. n_dst-1`` and a
    ``perm`` of ``nnz`` edge ids. O(nnz), like the checks of the graph itself; that it is
    this graph's transpose (not merely one the kernels can read) is not checked."""
    if transpose is None:
        return None
    if not isinstance(transpose, tuple) or len(transpose) != 3:
        raise TypeError("transpose must be None or the (t_indptr, t_indices, perm) of "
                        f"csr_transpose, got {type(transpose).__name__}")
    t_indptr, t_indices = _check_csr(transpose[0], transpose[1], n_dst)
    perm = np.asarray(transpose[2])
    if (t_indptr.shape != (n_src + 1,) or perm.shape != (nnz,)
            or not np.issubdtype(perm.dtype, np.integer)
            or (nnz and (perm.min() < 0 or perm.max() >= nnz))):
        raise DataError(f"transpose does not fit this graph ({n_dst} rows, {n_src} columns, "
                        f"nnz = {nnz}): t_indptr has shape {t_indptr.shape}, perm shape "
                        f"{perm.shape}; pass csr_transpose(indptr, indices, {n_src})")
    return t_indptr, t_indices, perm.astype(np.int64, copy=False)


# ============================================================ edge softmax
def _edge_softmax(indptr, logits, backend):
    """Unchecked core of :func:`edge_softmax_forward` on (nnz, n_heads)."""
    if backend == "numba":
        from ..kernels.segment import edge_softmax_rows
        return edge_softmax_rows(indptr, np.ascontiguousarray(logits),
                                 np.empty_like(logits, order="C"), _n_blocks())
    m = _segment_reduce(np.maximum, logits, indptr)                 # (n_rows, H) row maxima
    ex = np.exp(logits - _to_edges(m, indptr))                      # (nnz, H)
    s = _segment_reduce(np.add, ex, indptr)                         # (n_rows, H)
    return ex / _to_edges(s, indptr)                                # (nnz, H)


def _edge_softmax_grad(indptr, alpha, dalpha, backend):
    if backend == "numba":
        from ..kernels.segment import edge_softmax_backward_rows
        return edge_softmax_backward_rows(indptr, np.ascontiguousarray(alpha),
                                          np.ascontiguousarray(dalpha),
                                          np.empty_like(alpha), _n_blocks())
    s = _segment_reduce(np.add, alpha * dalpha, indptr)             # (n_rows, H)
    return alpha * (dalpha - _to_edges(s, indptr))                  # (nnz, H)


def edge_softmax_forward(indptr, logits, backend="numba"):
    r"""Softmax of per-edge logits over each CSR row (each node's incoming edges).

    .. math:: \alpha_k = \frac{\exp(e_k - m_v)}{\sum_{j \in \mathrm{row}\,v} \exp(e_j - m_v)},
              \qquad m_v = \max_{j \in \mathrm{row}\,v} e_j

    for every edge ``k`` stored in row ``v``, per head. Subtracting the row
    maximum keeps ``exp`` from overflowing; it does not change the result.

    Parameters
    ----------
    indptr : (n_rows + 1,) int, the CSR row pointer
    logits : (nnz,) or (nnz, n_heads) float32/float64, finite
        NaN or ±inf is a :class:`~minigraphrec.errors.DataError` naming the
        first such edge (its row and head), before any softmax is computed.
    backend : ``"numba"`` (default, :func:`~minigraphrec.kernels.segment.edge_softmax_rows`)
        or ``"numpy"`` (``np.maximum.reduceat`` / ``np.add.reduceat``).

    Returns
    -------
    alpha : shape and dtype of ``logits``; each non-empty row sums to 1 per
        head. Empty rows own no edge and produce nothing.
    cache : ``(indptr, alpha, backend)``
    """
    check_backend(backend)
    indptr, _ = _check_csr(indptr)
    e = _check_edges("logits", logits, int(indptr[-1]))                      # (nnz, H)
    _check_finite_edges("logits", e, indptr)
    alpha = _edge_softmax(indptr, e, backend)                                # (nnz, H)
    return alpha.reshape(np.shape(logits)), (indptr, alpha, backend)


def edge_softmax_backward(cache, dalpha):
    r"""``dlogits_k = α_k (dα_k - Σ_{j ∈ row v} α_j dα_j)`` per head; shaped like ``dalpha``."""
    indptr, alpha, backend = cache
    shape = np.shape(dalpha)
    g = check_grad_dtype(_check_edges("dalpha", dalpha, alpha.shape[0]), "dalpha",
                         alpha.dtype, "edge_softmax_backward")
    if g.shape != alpha.shape:
        raise DataError(f"dalpha has shape {shape}, expected that of alpha {alpha.shape}")
    return _edge_softmax_grad(indptr, alpha, g, backend).reshape(shape)


# ==================================================== attention aggregation
def _aggregate(indptr, indices, alpha, Z, backend):
    """``out[v, h] = Σ_{k ∈ row v} alpha[k, h] Z[indices[k], h]``; alpha (nnz, H), Z (n, H, d)."""
    n_dst = indptr.shape[0] - 1
    if backend == "numba":
        from ..kernels.segment import aggregate_rows
        out = np.empty((n_dst,) + Z.shape[1:], dtype=Z.dtype)
        return aggregate_rows(indptr, indices, np.ascontiguousarray(alpha),
                              np.ascontiguousarray(Z), out, _n_blocks())
    out = np.empty((n_dst,) + Z.shape[1:], dtype=Z.dtype)               # (n_dst, H, d)
    for h in range(Z.shape[1]):
        A_h = sp.csr_matrix((alpha[:, h], indices, indptr), shape=(n_dst, Z.shape[0]))
        out[:, h, :] = A_h @ Z[:, h, :]                                   # (n_dst, d)
    return out


def _aggregate_grad(indptr, indices, alpha, Z, dout, transpose, backend):
    r"""Gradients of :func:`_aggregate`, for edge ``k = (v, u)`` (row ``v``, column ``u``).

    ``dalpha[k, h] = <dout[v, h], Z[u, h]>`` and
    ``dZ[u, h] = Σ_{k : indices[k] = u} alpha[k, h] dout[v_k, h]``.
    """
    n_dst, n_src = indptr.shape[0] - 1, Z.shape[0]
    if backend == "numba":
        from ..kernels.segment import aggregate_rows, edge_dot_rows
        dout = np.ascontiguousarray(dout)
        Z = np.ascontiguousarray(Z)
        dalpha = edge_dot_rows(indptr, indices, dout, Z,
                               np.empty(alpha.shape, dtype=Z.dtype), _n_blocks())   # (nnz, H)
        t_indptr, t_indices, perm = (csr_transpose(indptr, indices, n_src)
                                     if transpose is None else transpose)
        dZ = aggregate_rows(t_indptr, t_indices, alpha[perm], dout,
                            np.empty(Z.shape, dtype=Z.dtype), _n_blocks())          # (n_src, H, d)
        return dalpha, dZ
    rows = _rows_of_edges(indptr)                                                   # (nnz,)
    dalpha = np.empty(alpha.shape, dtype=Z.dtype)                                   # (nnz, H)
    for s in range(0, rows.shape[0], _EDGE_CHUNK):                  # bounded memory: (chunk, H, d)
        r, c = rows[s:s + _EDGE_CHUNK], indices[s:s + _EDGE_CHUNK]
        dalpha[s:s + _EDGE_CHUNK] = np.sum(dout[r] * Z[c], axis=-1)
    dZ = np.empty(Z.shape, dtype=Z.dtype)                                           # (n_src, H, d)
    for h in range(Z.shape[1]):
        A_h = sp.csr_matrix((alpha[:, h], indices, indptr), shape=(n_dst, n_src))
        dZ[:, h, :] = A_h.T @ dout[:, h, :]
    return dalpha, dZ


def _check_alpha_Z(alpha, Z, nnz):
    """alpha (nnz,)/(nnz, H) and Z (n, d)/(n, H, d) -> (nnz, H) and (n, H, d) views."""
    alpha = check_float_array(alpha, "alpha")
    Z = check_float_array(Z, "Z")
    if alpha.ndim == 1 and Z.ndim == 2:
        a2, Z3 = alpha.reshape(-1, 1), Z.reshape(Z.shape[0], 1, Z.shape[1])
    elif alpha.ndim == 2 and Z.ndim == 3 and alpha.shape[1] == Z.shape[1]:
        a2, Z3 = alpha, Z
    else:
        raise DataError("alpha and Z must be (nnz,) and (n_src, d) for one head, or "
                        f"(nnz, n_heads) and (n_src, n_heads, d); got {alpha.shape} and {Z.shape}")
    if a2.shape[0] != nnz:
        raise DataError(f"alpha has {a2.shape[0]} entries but the graph has nnz = {nnz} edges")
    if alpha.dtype != Z.dtype:
        raise DataError(f"alpha and Z must have the same dtype, got {alpha.dtype} and {Z.dtype}")
    return a2, Z3


def attention_aggregate_forward(indptr, indices, alpha, Z, backend="numba", transpose=None):
    r"""Attention-weighted sum of neighbours: ``out_v = Σ_{u ∈ row v} α_vu Z_u``, per head.

    .. math:: \mathrm{out}_{v,h,:} = \sum_{k=\mathrm{indptr}_v}^{\mathrm{indptr}_{v+1}-1}
              \alpha_{k,h}\, Z_{\mathrm{indices}_k,h,:}

    i.e. for each head the product of the CSR matrix with values
    ``alpha[:, h]`` and ``Z[:, h, :]``.

    Parameters
    ----------
    indptr : (n_dst + 1,) int
    indices : (nnz,) int in ``0 .. n_src-1``
    alpha : (nnz,) or (nnz, n_heads) float, one weight per edge and head
    Z : (n_src, d) with 1-d ``alpha``, or (n_src, n_heads, d); dtype of ``alpha``
    backend : ``"numba"`` (default, :func:`~minigraphrec.kernels.segment.aggregate_rows`)
        or ``"numpy"`` (a SciPy CSR product per head).
    transpose : the output of :func:`csr_transpose` for this graph, or None.
        Only the numba backward pass uses it (to compute ``dZ`` in parallel
        without races); without it the backward pass rebuilds it (a sort of
        ``indices``) on every call. Checked to be a transpose structure the
        kernels can read (shapes and ranges), not that it is this graph's.

    Returns
    -------
    out : (n_dst, d) or (n_dst, n_heads, d), dtype of ``Z``; empty rows are zero.
    cache : for :func:`attention_aggregate_backward`.
    """
    check_backend(backend)
    indptr, _ = _check_csr(indptr)
    a2, Z3 = _check_alpha_Z(alpha, Z, int(indptr[-1]))
    indptr, indices = _check_csr(indptr, indices, Z3.shape[0])
    transpose = _check_transpose(transpose, indptr.shape[0] - 1, Z3.shape[0], indices.shape[0])
    out = _aggregate(indptr, indices, a2, Z3, backend)                       # (n_dst, H, d)
    cache = (indptr, indices, a2, Z3, np.ndim(alpha), transpose, backend)
    return out.reshape((out.shape[0],) + np.shape(Z)[1:]), cache


def attention_aggregate_backward(cache, dout):
    r"""Gradients of :func:`attention_aggregate_forward`.

    ``dα_{k,h} = ⟨dout_{v,h,:}, Z_{u,h,:}⟩`` for edge ``k = (v, u)`` and
    ``dZ_{u,h,:} = Σ_{k : indices_k = u} α_{k,h} dout_{v_k,h,:}`` (the
    transposed product).

    Returns
    -------
    dalpha : shape of ``alpha``
    dZ : shape of ``Z``
    """
    indptr, indices, a2, Z3, alpha_ndim, transpose, backend = cache
    want = (indptr.shape[0] - 1,) + (Z3.shape[1:] if alpha_ndim == 2 else Z3.shape[2:])
    dout = check_grad_shape(dout, "dout", want, dtype=Z3.dtype, op="attention_aggregate_backward")
    g = dout.reshape(want[0], Z3.shape[1], Z3.shape[2])
    dalpha, dZ = _aggregate_grad(indptr, indices, a2, Z3, g, transpose, backend)
    if alpha_ndim == 1:
        return dalpha[:, 0], dZ[:, 0, :]
    return dalpha, dZ


# ============================================================== GAT logits
def _gat_logits(indptr, indices, Z, a_src, a_dst, slope, log_w, beta, backend):
    """Unchecked core: Z (n, H, d), a_* (H, d), log_w (nnz,) or None, beta (H,) or None."""
    s_src = np.ascontiguousarray(np.einsum("nhd,hd->nh", Z, a_src))   # (n, H) a_srcᵀ Z_u
    s_dst = np.ascontiguousarray(np.einsum("nhd,hd->nh", Z, a_dst))   # (n, H) a_dstᵀ Z_v
    if backend == "numba":
        from ..kernels.segment import gat_scores_rows
        e = gat_scores_rows(indptr, indices, s_src, s_dst, Z.dtype.type(slope),
                            np.empty((indices.shape[0], Z.shape[1]), dtype=Z.dtype), _n_blocks())
        positive = e > 0                                            # (nnz, H) LeakyReLU branch
    else:
        pre = s_src[indices] + s_dst[_rows_of_edges(indptr)]        # (nnz, H)
        positive = pre > 0
        e = np.where(positive, pre, pre * Z.dtype.type(slope))      # (nnz, H)
    if beta is not None:
        e += log_w[:, None] * beta                                  # (nnz, H)
    return e, positive


def _gat_logits_grad(indptr, indices, Z, a_src, a_dst, slope, positive, log_w, beta, de,
                     transpose, backend):
    n = Z.shape[0]
    dpre = np.where(positive, de, de * Z.dtype.type(slope))                # (nnz, H)
    if backend == "numba":
        from ..kernels.segment import segment_sum_rows
        t_indptr, _, perm = (csr_transpose(indptr, indices, n) if transpose is None else transpose)
        ds_dst = segment_sum_rows(indptr, dpre, np.empty((n, Z.shape[1]), Z.dtype), _n_blocks())
        ds_src = segment_sum_rows(t_indptr, dpre[perm], np.empty((n, Z.shape[1]), Z.dtype),
                                  _n_blocks())                              # (n, H)
    else:
        ds_dst = _segment_reduce(np.add, dpre, indptr)                      # (n, H)
        ds_src = _scatter_sum(dpre, indices, n)                             # (n, H)
    dZ = ds_src[:, :, None] * a_src + ds_dst[:, :, None] * a_dst            # (n, H, d)
    da_src = np.einsum("nh,nhd->hd", ds_src, Z)                             # (H, d)
    da_dst = np.einsum("nh,nhd->hd", ds_dst, Z)                             # (H, d)
    dbeta = None if beta is None else (de * log_w[:, None]).sum(axis=0)     # (H,)
    return dZ, da_src, da_dst, dbeta


def _check_slope(slope):
    return check_finite_number(slope, "slope (of the LeakyReLU)", at_least=0)


def _check_attention_vectors(Z, a_src, a_dst):
    """Z (n, d)/(n, H, d), a_* (d,)/(H, d) -> (n, H, d), (H, d), (H, d)."""
    a_src, a_dst = check_float_array(a_src, "a_src"), check_float_array(a_dst, "a_dst")
    if a_src.shape != a_dst.shape:
        raise DataError(f"a_src and a_dst must have the same shape, got {a_src.shape} "
                        f"and {a_dst.shape}")
    if Z.ndim == 2 and a_src.ndim == 1 and a_src.shape[0] == Z.shape[1]:
        return Z.reshape(Z.shape[0], 1, Z.shape[1]), a_src.reshape(1, -1), a_dst.reshape(1, -1)
    if Z.ndim == 3 and a_src.shape == Z.shape[1:]:
        return Z, a_src, a_dst
    raise DataError("Z and a_src/a_dst must be (n, d) and (d,) for one head, or (n, n_heads, d) "
                    f"and (n_heads, d); got Z {Z.shape} and a_src {a_src.shape}")


def _check_beta(beta, n_heads, dtype):
    beta = check_float_array(beta, "beta")
    if beta.shape != (n_heads,):
        raise DataError(f"beta must have shape ({n_heads},) (one per head), got {beta.shape}")
    return beta.astype(dtype, copy=False)


def _log_weights(edge_weights, nnz, what="edge_weights"):
    """(nnz,) float64 log of positive finite weights, or a clear error."""
    w = np.asarray(edge_weights)
    if w.dtype.kind not in "biuf":
        raise DataError(f"{what} must be real numbers, got dtype {w.dtype}")
    w = w.astype(np.float64, copy=False)
    if w.shape != (nnz,):
        raise DataError(f"{what} must have shape ({nnz},) (one per edge), got {w.shape}")
    if not np.all(np.isfinite(w) & (w > 0)):
        raise DataError(f"{what} must be finite and > 0 (their log enters the logits), "
                        f"got a minimum of {w.min()}")
    return np.log(w)


def _check_edge_weights(edge_weights, beta, nnz, n_heads, dtype):
    """-> (log_w (nnz,) or None, beta (n_heads,) or None), both in ``dtype``."""
    if (edge_weights is None) != (beta is None):
        raise DataError("edge_weights and beta go together: pass both (weighted attention) "
                        f"or neither; got edge_weights {'None' if edge_weights is None else 'set'} "
                        f"and beta {'None' if beta is None else 'set'}")
    if beta is None:
        return None, None
    return _log_weights(edge_weights, nnz).astype(dtype), _check_beta(beta, n_heads, dtype)


def gat_logits_forward(indptr, indices, Z, a_src, a_dst, slope=0.2, edge_weights=None,
                       beta=None, backend="numba", transpose=None):
    r"""GAT's per-edge attention logits.

    .. math:: e_{k,h} = \mathrm{LeakyReLU}_{slope}\big(a_{src,h}^\top Z_{u,h}
              + a_{dst,h}^\top Z_{v,h}\big) \;[+\; \beta_h \log w_k]

    for edge ``k`` in row ``v`` with source ``u = indices[k]``. The graph is
    over one node set: ``Z`` holds both the senders and the receivers. The
    LeakyReLU derivative at exactly 0 is taken as ``slope`` (as in
    :func:`minigraphrec.ops.leaky_relu_forward`).

    Parameters
    ----------
    indptr : (n + 1,) int
    indices : (nnz,) int in ``0 .. n-1``
    Z : (n, d) or (n, n_heads, d) float, the projected features ``H W``
    a_src, a_dst : (d,) or (n_heads, d), dtype of ``Z``
    slope : float >= 0, LeakyReLU's negative slope (the paper's 0.2)
    edge_weights : (nnz,) positive floats or None
        Edge weights ``w_k`` in storage order (e.g. ``A.data``).
    beta : (n_heads,) float or None
        Learned exponent per head; required with ``edge_weights`` (for one
        head, shape (1,)).
    backend : ``"numba"`` (default) or ``"numpy"`` (the edge scores and the
        backward's per-node sums; the per-node dot products are NumPy).
    transpose : :func:`csr_transpose` of the graph or None (numba backward only); checked
        to be a structure the kernels can read, not that it is this graph's.

    Returns
    -------
    e : (nnz,) for one head, else (nnz, n_heads); dtype of ``Z``
    cache : for :func:`gat_logits_backward`.
    """
    check_backend(backend)
    Z = check_float_array(Z, "Z")
    Z3, a_s, a_d = _check_attention_vectors(Z, a_src, a_dst)
    if a_s.dtype != Z.dtype:
        raise DataError(f"a_src and a_dst must have Z's dtype {Z.dtype}, got {a_s.dtype}")
    indptr, indices = _check_csr(indptr, indices, Z3.shape[0])
    if indptr.shape[0] - 1 != Z3.shape[0]:
        raise DataError(f"the graph has {indptr.shape[0] - 1} rows but Z has {Z3.shape[0]}; "
                        "the attention graph must be square over one node set")
    slope = _check_slope(slope)
    transpose = _check_transpose(transpose, Z3.shape[0], Z3.shape[0], indices.shape[0])
    log_w, beta = _check_edge_weights(edge_weights, beta, indices.shape[0], Z3.shape[1], Z.dtype)
    e, positive = _gat_logits(indptr, indices, Z3, a_s, a_d, slope, log_w, beta, backend)
    cache = (indptr, indices, Z3, a_s, a_d, slope, positive, log_w, beta, Z.ndim, transpose,
             backend)
    return (e[:, 0] if Z.ndim == 2 else e), cache


def gat_logits_backward(cache, de):
    r"""Gradients of :func:`gat_logits_forward`.

    With ``g_k = de_k · LeakyReLU'(pre_k)`` and the per-node sums
    ``G_src[u] = Σ_{k: indices_k = u} g_k``, ``G_dst[v] = Σ_{k ∈ row v} g_k``:
    ``dZ_{n,h} = G_src[n, h] a_{src,h} + G_dst[n, h] a_{dst,h}``,
    ``da_src,h = Σ_n G_src[n, h] Z_{n,h}``, ``da_dst,h = Σ_n G_dst[n, h] Z_{n,h}``,
    ``dβ_h = Σ_k de_{k,h} log w_k``.

    Returns
    -------
    (dZ, da_src, da_dst, dbeta) shaped like ``Z``, ``a_src``, ``a_dst``, ``beta``;
    ``dbeta`` is None when the forward pass had no edge weights.
    """
    (indptr, indices, Z3, a_s, a_d, slope, positive, log_w, beta, z_ndim, transpose,
     backend) = cache
    g = check_grad_dtype(_check_edges("de", de, indices.shape[0]), "de", Z3.dtype,
                         "gat_logits_backward")
    if g.shape != positive.shape or (z_ndim == 2) != (np.ndim(de) == 1):
        want = positive.shape if z_ndim == 3 else positive.shape[:1]
        raise DataError(f"de must have the shape of the logits, {want}, got {np.shape(de)}")
    dZ, da_src, da_dst, dbeta = _gat_logits_grad(indptr, indices, Z3, a_s, a_d, slope, positive,
                                                 log_w, beta, g, transpose, backend)
    if z_ndim == 2:
        return dZ[:, 0, :], da_src[0], da_dst[0], dbeta
    return dZ, da_src, da_dst, dbeta


# ================================================================ the layer
class AttentionGraph(NamedTuple):
    r"""A graph prepared once for repeated GAT layers (see :func:`attention_graph`).

    Attributes
    ----------
    indptr, indices : the CSR structure (row = receiver, column = sender), int arrays
    n_nodes : int
    transpose : ``(t_indptr, t_indices, perm)`` from :func:`csr_transpose`
    log_weights : (nnz,) float64, ``log w`` of the edge weights in storage
        order, or None (unweighted)
    """

    indptr: np.ndarray
    indices: np.ndarray
    n_nodes: int
    transpose: tuple
    log_weights: np.ndarray | None


def attention_graph(A, weighted=False):
    r"""Prepare a square sparse adjacency for :func:`gat_layer_forward`.

    Validates ``A`` once and builds its transpose map once, so that repeated
    layers and training steps do not. Self-loops are not added here: add
    them to ``A`` first (e.g. ``graph.normalize_adjacency(A, "none",
    self_loops=True)``) to let each node attend to itself, as the paper does.

    Parameters
    ----------
    A : scipy sparse (n, n); converted to CSR. Its pattern defines the
        neighbourhoods (explicit zeros count as edges). Duplicate entries (the same
        ``(row, column)`` stored twice) are summed into one edge, as SciPy's canonical
        form does, whatever the format: a COO and a CSR matrix with the same entries
        give the same graph (a duplicate is never two edges, so never twice the
        attention). Its values must be real when ``weighted``.
    weighted : bool
        Keep ``A``'s values as edge weights (they must be finite and > 0)
        for the ``β log w`` term.

    Returns
    -------
    AttentionGraph
    """
    if not sp.issparse(A):
        raise TypeError(f"A must be a scipy sparse matrix or array, got {type(A).__name__}")
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise DataError(f"A must be square (n, n), got shape {A.shape}")
    A = A.tocsr()
    n = A.shape[0]
    _check_csr(A.indptr, A.indices, n)
    if not A.has_canonical_format:                # maybe duplicates (COO's were summed)
        summed = A.copy()
        summed.sum_duplicates()                   # also sorts each row's indices
        if summed.nnz != A.nnz:                   # only then: else keep the order as given
            A = summed
    indptr, indices = _check_csr(A.indptr, A.indices, n)
    log_w = _log_weights(A.data, indices.shape[0], "the values of A") if weighted else None
    return AttentionGraph(indptr, indices, n, csr_transpose(indptr, indices, n), log_w)


class GATLayerCache(NamedTuple):
    """What :func:`gat_layer_forward` keeps for :func:`gat_layer_backward`; a tuple, so it
    unpacks as one, with names for a reader of one field (``cache.alpha``: the layer's
    attention weights, one per stored edge and head, (nnz, n_heads))."""
    graph: object
    lin_cache: tuple
    Z: np.ndarray
    a_src: np.ndarray
    a_dst: np.ndarray
    slope: float
    positive: object
    log_w: object
    beta: object
    alpha: np.ndarray
    alpha_drop: np.ndarray
    drop_cache: object
    concat: bool
    activation: str
    act_cache: object
    backend: str


def gat_layer_forward(graph, H, W, a_src, a_dst, concat=True, dropout=0.0, rng=None,
                      training=True, activation="identity", slope=0.2, beta=None,
                      backend="numba"):
    r"""One multi-head GAT layer (formulas in the module docstring).

    Steps: ``Z = H W`` reshaped (n, n_heads, d_out); logits
    (:func:`gat_logits_forward`); ``α`` = edge softmax; ``α̃`` = inverted
    dropout of ``α`` (:func:`~minigraphrec.ops.dropout_forward`,
    mask drawn from ``rng``); ``Y = aggregate(α̃, Z)``; heads concatenated
    (n, n_heads · d_out) or averaged (n, d_out); then ``σ``.

    Parameters
    ----------
    graph : AttentionGraph (from :func:`attention_graph`) or a square scipy
        sparse adjacency (prepared on every call, unweighted)
    H : (n, d_in) dense float, or scipy sparse (a constant feature matrix:
        no gradient is returned for it)
    W : (d_in, n_heads · d_out), dtype of the output
    a_src, a_dst : (n_heads, d_out); their shape sets ``n_heads`` and ``d_out``
    concat : bool, concatenate the heads (True) or average them (False)
    dropout : float in [0, 1), probability of dropping an attention coefficient
    rng : numpy Generator, required when ``dropout > 0`` and ``training``
    training : bool; False switches dropout off
    activation : a name in :data:`minigraphrec.ops.ACTIVATIONS`
    slope : LeakyReLU's negative slope in the logits
    beta : (n_heads,) or None; with a weighted ``graph``, the exponent of the
        edge weights (required: a weighted graph without ``beta`` is an error,
        as is ``beta`` on an unweighted graph)
    backend : ``"numba"`` (default) or ``"numpy"``; also the projection's
        (:func:`~minigraphrec.ops.linear_forward`)

    Returns
    -------
    H_out : (n, n_heads · d_out) or (n, d_out), dtype of ``W``
    cache : for :func:`gat_layer_backward`.

    Notes
    -----
    No bias term (the paper has none). The same ``rng`` state gives the same
    dropout mask on both backends and in float32 and float64.
    """
    check_backend(backend)
    if not isinstance(graph, AttentionGraph):
        graph = attention_graph(graph)
    if activation not in ACTIVATIONS:
        raise DataError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    W = check_float_array(W, "W")
    a_src, a_dst = check_float_array(a_src, "a_src"), check_float_array(a_dst, "a_dst")
    if a_src.ndim != 2 or a_src.shape != a_dst.shape:
        raise DataError(f"a_src and a_dst must both be (n_heads, d_out), got {a_src.shape} "
                        f"and {a_dst.shape}")
    n_heads, d_out = a_src.shape
    if W.ndim != 2 or W.shape[1] != n_heads * d_out:
        raise DataError(f"W must be (d_in, n_heads * d_out) = (d_in, {n_heads * d_out}) for "
                        f"a_src {a_src.shape}, got {W.shape}")
    if a_src.dtype != W.dtype or a_dst.dtype != W.dtype:
        raise DataError(f"a_src and a_dst must have W's dtype {W.dtype}, got {a_src.dtype}")
    if sp.issparse(H):
        H = check_real_sparse(H, "H").astype(W.dtype, copy=False)   # a constant feature matrix
    else:
        H = check_float_array(H, "H")
        if H.dtype != W.dtype:
            raise DataError(f"H must have W's dtype {W.dtype}, got {H.dtype}")
    if H.ndim != 2 or H.shape[0] != graph.n_nodes:
        raise DataError(f"H must be 2-d with one row per node, (n_nodes, d_in) = "
                        f"({graph.n_nodes}, d_in); got shape {H.shape}")
    if (graph.log_weights is None) != (beta is None):
        raise DataError("beta must be given exactly when the graph is weighted: the graph is "
                        f"{'un' if graph.log_weights is None else ''}weighted, beta is "
                        f"{'None' if beta is None else 'set'}")
    slope = _check_slope(slope)
    log_w = None
    if beta is not None:
        beta = _check_beta(beta, n_heads, W.dtype)
        log_w = graph.log_weights.astype(W.dtype)                     # (nnz,)

    indptr, indices, n = graph.indptr, graph.indices, graph.n_nodes
    Zf, lin_cache = linear_forward(H, W, backend=backend)             # (n, n_heads * d_out)
    Z = Zf.reshape(n, n_heads, d_out)                                 # (n, n_heads, d_out)
    e, positive = _gat_logits(indptr, indices, Z, a_src, a_dst, slope, log_w, beta, backend)
    alpha = _edge_softmax(indptr, e, backend)                         # (nnz, n_heads)
    alpha_drop, drop_cache = dropout_forward(alpha, dropout, rng, training)
    Y = _aggregate(indptr, indices, alpha_drop, Z, backend)           # (n, n_heads, d_out)
    Y = Y.reshape(n, n_heads * d_out) if concat else Y.mean(axis=1)  # (n, H d_out) or (n, d_out)
    act_fwd, _ = ACTIVATIONS[activation]
    H_out, act_cache = act_fwd(Y)
    cache = GATLayerCache(graph, lin_cache, Z, a_src, a_dst, slope, positive, log_w, beta, alpha,
                          alpha_drop, drop_cache, concat, activation, act_cache, backend)
    return H_out, cache


def gat_layer_backward(cache, dH_out):
    r"""Gradients of :func:`gat_layer_forward`.

    Returns
    -------
    dH : (n, d_in), or None when ``H`` was sparse
    dW : (d_in, n_heads · d_out)
    da_src, da_dst : (n_heads, d_out)
    dbeta : (n_heads,) or None (unweighted graph)
    """
    (graph, lin_cache, Z, a_src, a_dst, slope, positive, log_w, beta, alpha, alpha_drop,
     drop_cache, concat, activation, act_cache, backend) = cache
    n, n_heads, d_out = Z.shape
    dH_out = check_grad_shape(dH_out, "dH_out", (n, n_heads * d_out if concat else d_out),
                              dtype=Z.dtype, op="gat_layer_backward")
    _, act_bwd = ACTIVATIONS[activation]
    dY = np.asarray(act_bwd(act_cache, dH_out), dtype=Z.dtype)
    if concat:
        dY = dY.reshape(n, n_heads, d_out)                                   # (n, H, d_out)
    else:
        dY = np.repeat(dY[:, None, :] / Z.dtype.type(n_heads), n_heads, axis=1)  # (n, H, d_out)
    indptr, indices, t = graph.indptr, graph.indices, graph.transpose
    dalpha_drop, dZ = _aggregate_grad(indptr, indices, alpha_drop, Z, dY, t, backend)
    dalpha = dropout_backward(drop_cache, dalpha_drop)                       # (nnz, H)
    de = _edge_softmax_grad(indptr, alpha, dalpha, backend)                  # (nnz, H)
    dZ_e, da_src, da_dst, dbeta = _gat_logits_grad(indptr, indices, Z, a_src, a_dst, slope,
                                                   positive, log_w, beta, de, t, backend)
    dZ += dZ_e                                                               # (n, H, d_out)
    dH, dW, _ = linear_backward(lin_cache, dZ.reshape(n, n_heads * d_out))
    return dH, dW, da_src, da_dst, dbeta
