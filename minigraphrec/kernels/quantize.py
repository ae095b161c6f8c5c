r"""numba kernels for scoring with quantised arrays: exact int8 sums, float16 widened.

Raw arrays only, no validation: :mod:`minigraphrec.quantization` checks the
inputs and holds the NumPy reference of each kernel (an integer matrix
product, then the float32 scale products in the same order). Integer
arithmetic is exact and associative, so each kernel returns the *same*
float32 array as its reference, bit for bit, in any summation order and on
any thread count.

Overflow bounds: an int8 product is at most ``128² = 16,384`` in magnitude;
the dot products (:func:`int8_dot`) sum them in int64, which no length
of row can overflow in practice (``d < 5.6 · 10^14``). A sum of ``m`` int8
rows (:func:`int8_row_sums`) is at most ``128 m`` in magnitude and runs in
int32 arrays, for ``m < 16.7 million``. The wrappers check the bounds.

float16 arrays are widened to float32 by a table lookup
(:func:`float16_widen`), which gives NumPy's conversion bit for bit.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["int8_dot", "int8_dot_serial", "float16_widen", "int8_row_sums", "int8_row_sums_serial",
           "PARALLEL_FROM"]

#: :func:`int8_row_sums` with fewer int32 additions than this (the output's entries plus the
#: entries of the ``Q`` rows added: :func:`minigraphrec.quantization._int8_row_sums_kernel`)
#: goes to :func:`int8_row_sums_serial`: waking numba's thread pool costs a scheduler time
#: slice when the cores are busy, and a one-user call has one row, which one thread does
#: anyway. On a dense 1,682 x 1,682 ``Q`` (an int8 EASE of ML-100K) the serial kernel took
#: 0.003 ms for one user of 20 items (2^15 additions), 0.05 ms for one of 700 (2^20) and
#: 0.5 ms for 16 users of 300 (2^23); the parallel kernel took 14 ms for the first and 11 ms
#: for the last when the other core was busy (AMD EPYC, 2 cores, load average 3-4,
#: 2026-12-07, ``/tmp`` script, not recorded). At about 20 additions per nanosecond they
#: are far cheaper than the top-k kernel's comparisons, hence a threshold above its
#: :data:`minigraphrec.kernels.topk.PARALLEL_FROM`: below this one the serial kernel takes
#: about 0.25 ms at most.
PARALLEL_FROM = 1 << 22


@njit(cache=True, inline="always")
def _int8_dot_group(Qu, su, Qi, si, out, g):
    r"""Users ``4 g .. 4 g + 3`` of :func:`int8_dot` (fewer in the last group).

    Each item row is read once per group of four and feeds four int64
    accumulators; the loop over ``d`` widens int8 to int64 and LLVM
    vectorises it (an integer reduction may be reordered: it stays exact).
    (numba's integer arithmetic is 64-bit: int32 operands would be widened
    anyway.)
    The two scale products are done in that order, in float32, as the
    reference does them.
    """
    b, d = Qu.shape
    n = Qi.shape[0]
    u0 = 4 * g
    if u0 + 4 <= b:
        s0, s1, s2, s3 = su[u0], su[u0 + 1], su[u0 + 2], su[u0 + 3]
        for j in range(n):
            a0 = np.int64(0)
            a1 = np.int64(0)
            a2 = np.int64(0)
            a3 = np.int64(0)
            for k in range(d):
                q = np.int64(Qi[j, k])
                a0 += np.int64(Qu[u0, k]) * q
                a1 += np.int64(Qu[u0 + 1, k]) * q
                a2 += np.int64(Qu[u0 + 2, k]) * q
                a3 += np.int64(Qu[u0 + 3, k]) * q
            t = si[j]
            out[u0, j] = np.float32(a0) * s0 * t
            out[u0 + 1, j] = np.float32(a1) * s1 * t
            out[u0 + 2, j] = np.float32(a2) * s2 * t
            out[u0 + 3, j] = np.float32(a3) * s3 * t
    else:
        for u in range(u0, b):
            s = su[u]
            for j in range(n):
                acc = np.int64(0)
                for k in range(d):
                    acc += np.int64(Qu[u, k]) * np.int64(Qi[j, k])
                out[u, j] = np.float32(acc) * s * si[j]


@njit(parallel=True, cache=True)
def int8_dot(Qu, su, Qi, si, out):
    r"""``out[u, j] = float32(Σ_k Qu[u, k] · Qi[j, k]) · su[u] · si[j]``, the sum in int64.

    Parameters
    ----------
    Qu : (b, d) int8, C-contiguous
    su : (b,) float32, the users' scales
    Qi : (n, d) int8, C-contiguous
    si : (n,) float32, the items' scales
    out : (b, n) float32, overwritten

    Notes
    -----
    Users in groups of four (:func:`_int8_dot_group`), the groups in parallel.
    """
    for g in prange((Qu.shape[0] + 3) // 4):
        _int8_dot_group(Qu, su, Qi, si, out, g)
    return out


@njit(cache=True)
def int8_dot_serial(Qu, su, Qi, si, out):
    r""":func:`int8_dot` in one thread: for a few users (one group of four does them
    anyway), where waking the thread pool would cost more than the sums. It reads the int8
    rows as they are, so a one-user score need not widen the whole item table to float32."""
    for g in range((Qu.shape[0] + 3) // 4):
        _int8_dot_group(Qu, su, Qi, si, out, g)
    return out


@njit(cache=True)
def float16_widen(bits, table, scale, out):
    r"""``out[i, k] = table[bits[i, k]] · scale[i]`` in float32: float16 rows, dequantised.

    Parameters
    ----------
    bits : (n, d) uint16, C-contiguous
        A float16 array viewed as its bit patterns (numba has no float16 type).
    table : (65536,) float32
        The float32 value of every float16 bit pattern, made by NumPy's own
        conversion, so the lookup *is* that conversion.
    scale : (n,) float32, one per row; ones leave the widened values as they are
    out : (n, d) float32, overwritten

    Notes
    -----
    The reference, ``Q.astype(np.float32) * scale[:, None]``, gives the same
    bits: the conversion is exact and the product is one float32 rounding.
    On this project's 2-core AMD EPYC (NumPy 2.4, one thread, a 40,981 x 64
    table), NumPy's conversion and scale product took 7.3 ms, about 2.8 ns
    an entry, and this lookup with its product 1.6 ms, about 0.6 ns (the
    256 KiB table stays in the L2 cache); ``/tmp`` script, not recorded.
    """
    n, d = bits.shape
    for i in range(n):
        s = scale[i]
        for k in range(d):
            out[i, k] = table[bits[i, k]] * s
    return out


@njit(cache=True, inline="always")
def _add_int8_row(Q, i, acc):
    r"""``acc += Q[i]`` in int32; ``Q`` dense, or a CSR matrix as ``(indptr, indices, data)``.

    ``isinstance`` is resolved when numba compiles (one branch per type of
    ``Q``), so each caller's specialisation holds one loop only.
    """
    if isinstance(Q, tuple):
        q_indptr, q_indices, q_data = Q
        for r in range(q_indptr[i], q_indptr[i + 1]):
            acc[q_indices[r]] += np.int32(q_data[r])
    else:
        for j in range(acc.shape[0]):
            acc[j] += np.int32(Q[i, j])


@njit(cache=True, inline="always")
def _row_sum_row(indptr, indices, Q, c, out, u):
    """Row ``u`` of :func:`int8_row_sums`: its rows of ``Q`` added in int32, then scaled."""
    n_cols = out.shape[1]
    acc = np.zeros(n_cols, dtype=np.int32)
    for p in range(indptr[u], indptr[u + 1]):
        _add_int8_row(Q, indices[p], acc)
    for j in range(n_cols):
        out[u, j] = np.float32(acc[j]) * c[j]


@njit(parallel=True, cache=True)
def int8_row_sums(indptr, indices, Q, c, out):
    r"""``out[u, j] = float32(Σ_{p ∈ row u} Q[indices[p], j]) · c[j]``, the sum in int32.

    ``R_b Q`` for a binary CSR ``R_b`` (a user's history picks the rows of
    ``Q`` to add), then the column scales.

    Parameters
    ----------
    indptr : (b + 1,) int64, indices : (nnz,) int64
        The CSR arrays of ``R_b`` (b, n_rows); its values are taken as 1.
    Q : (n_rows, n_cols) int8, C-contiguous; or the tuple ``(q_indptr,
        q_indices, q_data)`` (int64, int64, int8) of a CSR ``Q`` (n_rows,
        n_cols), whose rows are added entry by entry (:func:`_add_int8_row`)
    c : (n_cols,) float32, the column scales
    out : (b, n_cols) float32, overwritten
    """
    for u in prange(indptr.shape[0] - 1):
        _row_sum_row(indptr, indices, Q, c, out, u)
    return out


@njit(cache=True)
def int8_row_sums_serial(indptr, indices, Q, c, out):
    r""":func:`int8_row_sums` in one thread, for small work (:data:`PARALLEL_FROM`)."""
    for u in range(indptr.shape[0] - 1):
        _row_sum_row(indptr, indices, Q, c, out, u)
    return out

