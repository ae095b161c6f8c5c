r"""numba kernels for the dense products of the training steps: ``Xᵀ D`` and tall ``A @ B``.

Raw arrays only, no validation: :func:`minigraphrec.ops.dense.xt_dot`,
:func:`~minigraphrec.ops.dense.halves_matmul` and
:func:`~minigraphrec.ops.dense.halves_xt_dot` prepare the inputs. The NumPy
reference of :func:`xt_dot_blocks` is ``X.T @ D`` (equal to rounding); those of the halves
make the same BLAS calls in SciPy's BLAS (``ops.dense._numba_dot``), the same bits
(tests/test_models.py).

:func:`xt_dot_blocks` sums in numba. :func:`matmul_halves` and
:func:`xt_dot_halves` call BLAS (``np.dot``, which numba sends to SciPy's
BLAS) on two fixed row halves, one per numba thread: the training steps run
BLAS on one thread (:func:`minigraphrec.threadpools.serial_blas`), and this
puts the second half on numba's other worker, the one that is spinning
after the step's previous kernel anyway (a Python helper thread measured
slower there: it had to take its core from that spinning worker). With one
numba thread the halves run in turn: the same calls, the same bits.

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

import numpy as np
from numba import njit, prange

__all__ = ["xt_dot_blocks", "matmul_halves", "xt_dot_halves"]


@njit(parallel=True, cache=True)
def matmul_halves(A, B, out):
    r"""``out = A @ B`` as ``out[:h] = A[:h] @ B`` and ``out[h:] = A[h:] @ B``, ``h = m // 2``.

    A : (m, k) C-contiguous; B : (k, q) C- or F-contiguous (``W.T``); out : (m, q)
    C-contiguous, overwritten; all one float dtype. The halves in parallel.
    """
    m = A.shape[0]
    h = m // 2
    for i in prange(2):
        lo = 0 if i == 0 else h
        hi = h if i == 0 else m
        np.dot(A[lo:hi], B, out[lo:hi])
    return out


@njit(parallel=True, cache=True)
def xt_dot_halves(X, D, first, second):
    r"""``first = X[:h]ᵀ D[:h]``, ``second = X[h:]ᵀ D[h:]`` (``h = m // 2``), in parallel.

    X : (m, p), D : (m, q) C-contiguous; first, second : (p, q) C-contiguous, overwritten.
    ``first + second`` is ``Xᵀ D``.
    """
    m = X.shape[0]
    h = m // 2
    for i in prange(2):
        if i == 0:
            np.dot(X[:h].T, D[:h], first)
        else:
            np.dot(X[h:].T, D[h:], second)
    return first, second


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
