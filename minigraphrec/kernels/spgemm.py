r"""numba kernel for sparse times sparse with a dense result: ``A[rows] @ B``.

Raw arrays only, no validation. The wrapper :func:`minigraphrec.ops.sparse.spgemm_dense`
checks its input and holds the SciPy reference (``(A[rows] @ B).toarray()``) that this
kernel is tested against, bit for bit.

Why. ContentBased scores a block of users by the cosine of their profiles with every item's
(``P_blk @ Qᵀ``, both sparse). When profiles share features with most items the product is
nearly dense, and SciPy builds it as a sparse matrix (two passes, an index and a value per
entry) before ``toarray`` writes it again. Here each output row is accumulated straight into
its dense row (Gustavson's row-wise product: over ``A``'s entries of the row in stored
order, and for each over the entries of that row of ``B`` in stored order, which is
SciPy's order, so every sum is the same bits). Rows run in parallel (``prange``), each
written by one thread, so the result does not depend on the number of threads.
"""
from __future__ import annotations

from numba import njit, prange

__all__ = ["csr_rows_times_csr"]


@njit(parallel=True, cache=True)
def csr_rows_times_csr(a_indptr, a_indices, a_data, rows, b_indptr, b_indices, b_data, out):
    r"""``out[q] = A[rows[q]] @ B`` as a dense row, for every ``q``.

    a_indptr, a_indices, a_data : CSR of ``A`` (n, f), float64 data
    rows : int64 (r,), rows of ``A``
    b_indptr, b_indices, b_data : CSR of ``B`` (f, m), float64 data
    out : float64 (r, m), C-contiguous, overwritten
    """
    m = out.shape[1]
    for q in prange(rows.shape[0]):
        r = rows[q]
        for j in range(m):
            out[q, j] = 0.0
        for p in range(a_indptr[r], a_indptr[r + 1]):
            f = a_indices[p]
            a = a_data[p]
            for t in range(b_indptr[f], b_indptr[f + 1]):
                out[q, b_indices[t]] += a * b_data[t]
    return out
