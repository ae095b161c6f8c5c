r"""numba kernel for kNN similarities: each row's dot products with every other row, then its
``k`` best neighbours, without forming the sparse product.

Raw arrays only, no validation. The wrapper
:func:`minigraphrec.models.knn.topk_similarity` checks its input and holds the
SciPy reference (blocks of ``X_blk @ Xᵀ``, cosine scaling, then
:func:`~minigraphrec.models.knn.csr_top_k`) that this kernel is tested
against, bit for bit.

Why. When ``X Xᵀ`` is nearly dense (a few very popular items shared by most
users), SciPy builds it as a sparse matrix: two passes (its size, then its
values) and a sparse entry per dot product. Here each row ``a`` accumulates
``x_a · x_b`` for every ``b`` into a dense row buffer (Gustavson's row-wise
product: over ``x_a``'s entries in index order, and for each over the
entries of that column in ``Xᵀ`` in index order, which is SciPy's order, so
the sums are the same bits), scales the touched entries and keeps the best
``k`` in a bounded heap with the ranking's order (larger value first, then
smaller column). Rows are split into blocks run in parallel (``prange``),
each with its own buffers; every row is computed by one thread, so the
result does not depend on the number of threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .topk import _heap_offer   # the same bounded heap, worst at the root

__all__ = ["similarity_top_k"]


@njit(parallel=True, cache=True)
def similarity_top_k(x_indptr, x_indices, x_data, xt_indptr, xt_indices, xt_data, rows,
                     norms, cosine, shrink, k, bounds, counts, cols, vals):
    r"""For each ``q``, row ``a = rows[q]``: its best ``k`` neighbours ``b != a`` by similarity.

    ``s_ab = x_a · x_b``; with ``cosine``, ``s_ab / (‖x_a‖ ‖x_b‖ + shrink)`` where that
    denominator is positive, else 0. Only ``s_ab > 0`` can be kept.

    Parameters
    ----------
    x_indptr, x_indices, x_data : CSR of ``X`` (n, m), float64 data
    xt_indptr, xt_indices, xt_data : CSR of ``Xᵀ`` (m, n), indices sorted in each row
    rows : int64 (r,), the rows of ``X`` to compute
    norms : float64 (n,), ``‖x_b‖`` (read with ``cosine`` only)
    cosine : bool; shrink : float >= 0
    k : int >= 1, the heap size (columns of ``cols`` / ``vals``)
    bounds : int64 (n_blocks + 1,), blocks of ``rows`` run in parallel
    counts : int64 (r,), written: how many neighbours row ``q`` keeps
    cols, vals : int64 / float64 (r, k), written: its neighbours in increasing column
        order in the first ``counts[q]`` slots.
    """
    n = norms.shape[0]
    for blk in prange(bounds.shape[0] - 1):
        acc = np.zeros(n)                                  # (n,) dot products of one row
        touched = np.empty(n, dtype=np.int64)              # columns written, first touch order
        seen = np.zeros(n, dtype=np.bool_)
        heap_v = np.empty(k)
        heap_c = np.empty(k, dtype=np.int64)
        for q in range(bounds[blk], bounds[blk + 1]):
            a = rows[q]
            n_touched = 0
            for p in range(x_indptr[a], x_indptr[a + 1]):
                t, w = x_indices[p], x_data[p]
                for pp in range(xt_indptr[t], xt_indptr[t + 1]):
                    b = xt_indices[pp]
                    if not seen[b]:
                        seen[b] = True
                        touched[n_touched] = b
                        n_touched += 1
                    acc[b] += w * xt_data[pp]
            size = 0
            for i in range(n_touched):
                b = touched[i]
                v = acc[b]
                acc[b] = 0.0                               # ready for the next row
                seen[b] = False
                if b == a:
                    continue                               # no self-similarity
                if cosine:
                    denom = norms[a] * norms[b] + shrink
                    v = v / denom if denom > 0 else 0.0
                if not v > 0:
                    continue
                size = _heap_offer(heap_v, heap_c, size, k, v, b)
            order = np.argsort(heap_c[:size])               # distinct columns: any sort is exact
            for j in range(size):
                cols[q, j] = heap_c[order[j]]
                vals[q, j] = heap_v[order[j]]
            counts[q] = size
    return counts
