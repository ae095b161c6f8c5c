r"""numba kernel for the weight gradient of a linear layer, ``Xᵀ D`` over many rows.

Raw arrays only, no validation: :func:`minigraphrec.ops.dense.xt_dot`
checks the inputs and holds the NumPy reference ``X.T @ D`` this kernel is
tested against.

Why a kernel. ``dW = Xᵀ dZ`` with ``X`` (m, d_in) and ``dZ`` (m, d_out) tall
and thin (m in the tens of thousands, d = 64) is a product whose long
dimension is the summed one. OpenBLAS threads it poorly next to numba's
OpenMP threads on a loaded machine (measured 10-30x slower than its own
single-threaded speed on this project's 2-core machine). Here the rows are
cut into a fixed number of blocks; each block's partial product is summed
row by row (four rows per pass over the accumulator) into its own
``(d_in, d_out)`` slice, and the partials are then added in block order.

Determinism. The blocks depend on ``m`` and ``n_blocks`` only, never on
the thread count, and every sum has a fixed order: the same bits for any
number of threads. Agreement with BLAS is to rounding (a different
summation order).
"""
from __future__ import annotations

from numba import njit, prange

__all__ = ["xt_dot_blocks"]


@njit(parallel=True, cache=True)
def xt_dot_blocks(X, D, n_blocks, partial):
    r"""``partial[b] = X[rows_b]ᵀ D[rows_b]`` for ``n_blocks`` contiguous row blocks.

    Parameters
    ----------
    X : (m, p) float32 or float64, C-contiguous
    D : (m, q) same dtype, C-contiguous
    n_blocks : int >= 1; block ``b`` is rows ``m·b // n_blocks .. m·(b+1) // n_blocks - 1``
    partial : (n_blocks, p, q) same dtype, overwritten. ``partial.sum(axis=0)``
        (in block order) is ``Xᵀ D``.

    Notes
    -----
    Inside a block, four rows at a time:
    ``acc[i, j] += ((X[r,i] D[r,j] + X[r+1,i] D[r+1,j]) + X[r+2,i] D[r+2,j]) + X[r+3,i] D[r+3,j]``
    (one read-modify-write of the accumulator per four rows), then the rest
    one by one.
    """
    m, p = X.shape
    q = D.shape[1]
    for b in prange(n_blocks):
        lo = m * b // n_blocks
        hi = m * (b + 1) // n_blocks
        for i in range(p):
            for j in range(q):
                partial[b, i, j] = 0
        r = lo
        while r + 4 <= hi:
            for i in range(p):
                x0, x1, x2, x3 = X[r, i], X[r + 1, i], X[r + 2, i], X[r + 3, i]
                for j in range(q):
                    partial[b, i, j] += ((x0 * D[r, j] + x1 * D[r + 1, j]) + x2 * D[r + 2, j]) \
                        + x3 * D[r + 3, j]
            r += 4
        while r < hi:
            for i in range(p):
                x0 = X[r, i]
                for j in range(q):
                    partial[b, i, j] += x0 * D[r, j]
            r += 1
    return partial
