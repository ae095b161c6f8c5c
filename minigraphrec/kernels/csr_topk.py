r"""numba kernel: keep the k largest positive entries of each row of a CSR matrix.

Raw arrays only, no validation. The wrapper
:func:`minigraphrec.models.knn.csr_top_k` checks its input and holds the
NumPy reference (one ``np.lexsort``) that this kernel is tested against.

Order: entry ``(v_a, c_a)`` is *better* than ``(v_b, c_b)`` when
``v_a > v_b``, or ``v_a == v_b`` and ``c_a < c_b`` (ties go to the smaller
column index). Only entries with ``v > 0`` can be kept (NaN never is). Each
row keeps ``min(k, #positive)`` entries, written in increasing column order.

Two passes over the rows, both parallel (``prange``): count what each row
keeps, then (after a prefix sum) fill. Each row is handled by one thread
from its own input into its own output slots, with a bounded heap whose
root is the worst kept entry (``O(nnz_row log k)``), so the result does not
depend on the number of threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .topk import _heap_offer   # the same bounded heap, worst at the root

__all__ = ["row_keep_counts", "row_top_k"]


@njit(parallel=True, cache=True)
def row_keep_counts(indptr, data, k):
    r"""``counts[r] = min(k, #{p in row r : data[p] > 0})``, int64 (n_rows,)."""
    n_rows = indptr.shape[0] - 1
    counts = np.zeros(n_rows, dtype=np.int64)
    for r in prange(n_rows):
        c = 0
        for p in range(indptr[r], indptr[r + 1]):
            if data[p] > 0:
                c += 1
        counts[r] = min(c, k)
    return counts


@njit(parallel=True, cache=True)
def row_top_k(indptr, indices, data, k, out_indptr, out_indices, out_data):
    r"""Fill ``out_indices[out_indptr[r]:out_indptr[r+1]]`` (and ``out_data``) per row.

    ``out_indptr`` is the prefix sum of :func:`row_keep_counts`; row ``r``'s
    slots receive its best ``min(k, #positive)`` entries, sorted by column.
    """
    n_rows = indptr.shape[0] - 1
    for r in prange(n_rows):
        size_max = out_indptr[r + 1] - out_indptr[r]
        if size_max == 0:
            continue
        heap_v = np.empty(size_max, dtype=data.dtype)
        heap_c = np.empty(size_max, dtype=np.int64)
        size = 0
        for p in range(indptr[r], indptr[r + 1]):
            v = data[p]
            if not v > 0:
                continue
            size = _heap_offer(heap_v, heap_c, size, size_max, v, indices[p])
        order = np.argsort(heap_c)                        # distinct columns: any sort is exact
        base = out_indptr[r]
        for q in range(size):
            out_indices[base + q] = heap_c[order[q]]
            out_data[base + q] = heap_v[order[q]]
