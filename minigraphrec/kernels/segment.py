r"""numba kernels for graph attention: segment (per-CSR-row) reductions over edges.

Raw arrays only, no validation: :mod:`minigraphrec.ops.attention` checks the
inputs and holds the NumPy/SciPy reference each kernel is tested against.

The graph is a CSR matrix whose row ``v`` is a *destination* node and whose
stored column indices ``indices[indptr[v]:indptr[v+1]]`` are the *source*
nodes (neighbours) sending it a message. Edge ``k`` is the ``k``-th stored
entry; per-edge arrays are indexed by ``k`` and carry one column per
attention head, ``(nnz, n_heads)``. Node arrays are ``(n, n_heads, d)``.

Determinism. Rows are split into contiguous blocks of about equal work
(:func:`minigraphrec.kernels.spmm.all_row_blocks`) run in parallel (``prange``);
every output row (or every edge of it) is written by exactly one thread, and
every sum runs over the row's edges in storage order. No reduction crosses
threads and there is no ``fastmath``: the result does not depend on the
number of threads. Sums accumulate in the dtype of the inputs.

Empty rows (nodes with no neighbour) write zero rows in the node-valued
kernels and nothing in the edge-valued ones (they own no edge).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .spmm import all_row_blocks

__all__ = ["edge_softmax_rows", "edge_softmax_backward_rows", "aggregate_rows",
           "edge_dot_rows", "segment_sum_rows", "gat_scores_rows"]


@njit(cache=True, inline="always")
def _exp_and_sum(x, start, end, h, m, out):
    r"""``out[k, h] = exp(x[k, h] - m)`` for ``k`` in ``start..end-1``; returns their sum.

    The numerator and denominator of one row's softmax (head ``h``), with
    ``m`` the row's largest logit (subtracted so that no ``exp`` overflows).
    The caller finds ``m`` and divides: :func:`edge_softmax_rows` here, and
    :func:`~minigraphrec.kernels.gat_rows.gat_forward_rows`, which fuses the
    max into the pass that writes the logits and the division into the one
    that drops and stores the coefficients. Summed in storage order, in
    the type of ``x - m``: ``x``'s dtype for an ``m`` of that dtype, float64
    for a float64 ``m`` (as ``gat_forward_rows`` passes, its max starting
    from ``-np.inf``). ``out`` may be ``x``.
    """
    s = x.dtype.type(0)
    for k in range(start, end):
        e = np.exp(x[k, h] - m)
        out[k, h] = e
        s += e
    return s


@njit(parallel=True, cache=True)
def edge_softmax_rows(indptr, logits, out, n_blocks):
    r"""Softmax of each head's logits over each row's edges.

    ``out[k, h] = exp(logits[k, h] - m_vh) / Σ_{j ∈ row v} exp(logits[j, h] - m_vh)``
    for every edge ``k`` of row ``v``, with ``m_vh = max_{j ∈ row v} logits[j, h]``.

    Parameters
    ----------
    indptr : (n_rows + 1,) int32 or int64
    logits : (nnz, n_heads) float32 or float64, finite
    out : (nnz, n_heads) same dtype, overwritten; may be ``logits`` itself.
    n_blocks : int >= 1, row blocks run in parallel (the result does not depend on it)
    """
    n_heads = logits.shape[1]
    bounds = all_row_blocks(indptr, n_blocks)
    for b in prange(bounds.shape[0] - 1):
        for v in range(bounds[b], bounds[b + 1]):
            start, end = indptr[v], indptr[v + 1]
            if start == end:                             # no edge: nothing to write
                continue
            for h in range(n_heads):
                m = logits[start, h]
                for k in range(start + 1, end):
                    if logits[k, h] > m:
                        m = logits[k, h]
                s = _exp_and_sum(logits, start, end, h, m, out)
                for k in range(start, end):
                    out[k, h] = out[k, h] / s
    return out


@njit(parallel=True, cache=True)
def edge_softmax_backward_rows(indptr, alpha, dalpha, out, n_blocks):
    r"""Backward of :func:`edge_softmax_rows`.

    ``out[k, h] = alpha[k, h] · (dalpha[k, h] - Σ_{j ∈ row v} alpha[j, h] dalpha[j, h])``.

    Parameters
    ----------
    indptr : (n_rows + 1,) int
    alpha, dalpha : (nnz, n_heads), the forward output and its gradient
    out : (nnz, n_heads), overwritten; may be ``dalpha`` itself.
    n_blocks : int >= 1
    """
    n_heads = alpha.shape[1]
    bounds = all_row_blocks(indptr, n_blocks)
    for b in prange(bounds.shape[0] - 1):
        for v in range(bounds[b], bounds[b + 1]):
            start, end = indptr[v], indptr[v + 1]
            for h in range(n_heads):
                s = alpha.dtype.type(0)
                for k in range(start, end):
                    s += alpha[k, h] * dalpha[k, h]
                for k in range(start, end):
                    out[k, h] = alpha[k, h] * (dalpha[k, h] - s)
    return out


@njit(parallel=True, cache=True)
def aggregate_rows(indptr, indices, alpha, Z, out, n_blocks):
    r"""Attention-weighted sum of the neighbours' rows, per head.

    ``out[v, h, :] = Σ_{k ∈ row v} alpha[k, h] · Z[indices[k], h, :]``; an empty
    row gives a zero row.

    Parameters
    ----------
    indptr : (n_dst + 1,) int; indices : (nnz,) int, each in ``0 .. n_src-1``
    alpha : (nnz, n_heads) float, same dtype as Z
    Z : (n_src, n_heads, d) float32 or float64, C-contiguous
    out : (n_dst, n_heads, d) same dtype, C-contiguous, not overlapping Z; overwritten.
    n_blocks : int >= 1

    Notes
    -----
    Each row is summed into a private ``(n_heads, d)`` buffer, edge by edge
    in storage order (reading one contiguous row ``Z[u]`` per edge), then
    copied out: the same order as SciPy's CSR product, head by head.
    """
    n_heads, d = Z.shape[1], Z.shape[2]
    bounds = all_row_blocks(indptr, n_blocks)
    for b in prange(bounds.shape[0] - 1):
        acc = np.empty((n_heads, d), dtype=Z.dtype)     # (n_heads, d) this thread's row
        for v in range(bounds[b], bounds[b + 1]):
            acc[:] = 0
            for k in range(indptr[v], indptr[v + 1]):
                z = Z[indices[k]]                         # (n_heads, d)
                for h in range(n_heads):
                    a = alpha[k, h]
                    for c in range(d):
                        acc[h, c] += a * z[h, c]
            out[v] = acc
    return out


@njit(parallel=True, cache=True)
def edge_dot_rows(indptr, indices, dout, Z, out, n_blocks):
    r"""Per-edge, per-head dot product of a destination row and a source row.

    ``out[k, h] = Σ_c dout[v, h, c] · Z[indices[k], h, c]`` for every edge ``k``
    of row ``v`` (the "sampled dense-dense product" that is the gradient of
    :func:`aggregate_rows` with respect to ``alpha``).

    Parameters
    ----------
    indptr : (n_dst + 1,) int; indices : (nnz,) int in ``0 .. n_src-1``
    dout : (n_dst, n_heads, d) float; Z : (n_src, n_heads, d) same dtype
    out : (nnz, n_heads) same dtype, overwritten.
    n_blocks : int >= 1
    """
    n_heads, d = Z.shape[1], Z.shape[2]
    bounds = all_row_blocks(indptr, n_blocks)
    for b in prange(bounds.shape[0] - 1):
        for v in range(bounds[b], bounds[b + 1]):
            g = dout[v]                                   # (n_heads, d)
            for k in range(indptr[v], indptr[v + 1]):
                z = Z[indices[k]]                         # (n_heads, d)
                for h in range(n_heads):
                    s = Z.dtype.type(0)
                    for c in range(d):
                        s += g[h, c] * z[h, c]
                    out[k, h] = s
    return out


@njit(parallel=True, cache=True)
def segment_sum_rows(indptr, values, out, n_blocks):
    r"""Per-row sum of per-edge values: ``out[v, h] = Σ_{k ∈ row v} values[k, h]``.

    Parameters
    ----------
    indptr : (n_rows + 1,) int
    values : (nnz, n_heads) float
    out : (n_rows, n_heads) same dtype, overwritten (empty rows get 0).
    n_blocks : int >= 1
    """
    n_heads = values.shape[1]
    bounds = all_row_blocks(indptr, n_blocks)
    for b in prange(bounds.shape[0] - 1):
        for v in range(bounds[b], bounds[b + 1]):
            for h in range(n_heads):
                s = values.dtype.type(0)
                for k in range(indptr[v], indptr[v + 1]):
                    s += values[k, h]
                out[v, h] = s
    return out


@njit(parallel=True, cache=True)
def gat_scores_rows(indptr, indices, s_src, s_dst, slope, out, n_blocks):
    r"""GAT's pre-softmax edge scores: ``out[k, h] = LeakyReLU(s_src[u, h] + s_dst[v, h])``.

    For every edge ``k`` of row ``v`` with ``u = indices[k]``; LeakyReLU is
    ``x`` for ``x > 0`` and ``slope · x`` otherwise.

    Parameters
    ----------
    indptr : (n + 1,) int; indices : (nnz,) int in ``0 .. n-1``
    s_src, s_dst : (n, n_heads) float, the per-node halves ``a_srcᵀ Z_u``, ``a_dstᵀ Z_v``
    slope : float, same dtype as s_src
    out : (nnz, n_heads) same dtype, overwritten. The pre-activation sums
        are not kept: for ``slope >= 0`` the caller recovers the LeakyReLU
        branch as ``out > 0`` (``x > 0`` exactly when ``out > 0``).
    n_blocks : int >= 1
    """
    n_heads = s_src.shape[1]
    bounds = all_row_blocks(indptr, n_blocks)
    for b in prange(bounds.shape[0] - 1):
        for v in range(bounds[b], bounds[b + 1]):
            for k in range(indptr[v], indptr[v + 1]):
                u = indices[k]
                for h in range(n_heads):
                    x = s_src[u, h] + s_dst[v, h]
                    out[k, h] = x if x > 0 else slope * x
    return out
