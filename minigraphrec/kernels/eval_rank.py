r"""numba kernels for evaluation: per-row exact AUC, and top-k plus AUC in one visit per row.

Raw arrays only, no validation: :func:`minigraphrec.metrics.evaluate` and
:func:`minigraphrec.metrics.auc_from_scores` check the inputs (C-contiguous
float32/float64 scores, canonical CSR rows with sorted, duplicate-free int64
indices) and hold the NumPy references these kernels are tested against
(``metrics._rank_rows_numpy``: the reference top-k of
:func:`minigraphrec.rank.top_k` and the reference AUC ``metrics._auc_numpy``).

The AUC of one row lives here once (``_auc_row``); ``auc_rows`` runs it over
the rows of a score matrix, ``rank_rows`` runs it after the row's top-k.

Why one kernel for evaluation: with full ranking a score block is ``b ×
n_items`` numbers and everything after the scoring product is a pass over
it. Done as separate steps (NaN check, top-k, AUC) the block streams from
memory several times. Here one thread takes one row: one pass keeps its
top k and counts its NaN (``topk._best_k``), then the AUC scans read the
row again from the core's cache (41k float32 scores are 160 KB); the block
is read from memory once.

Order and counts are those of :mod:`minigraphrec.kernels.topk` (item ``a``
ranks before ``b`` when ``s_a > s_b``, or ``s_a == s_b`` and ``a < b``;
``-inf`` and excluded items are not candidates) and the AUC is the exact
Mann–Whitney count (twice the count accumulated as an int64). Rows run in
parallel (``prange``); each row is computed by one thread from its own inputs
into its own outputs, so results do not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .topk import _best_k

__all__ = ["rank_rows", "auc_rows"]

#: items counted at once by the AUC scan: counts within a span stay below
#: 2 * 4096 < 2^24, so summing them in float32 is exact
_SPAN = 4096


# The counting loop below adds 1 or 0 in the scores' own dtype rather than a
# bool into an int64: that keeps 8 float32 (4 float64) lanes per vector
# instruction instead of widening every comparison to int64 (measured ~3x
# faster than the int64 count). ``fastmath={"reassoc"}`` (reassociation
# only, no NaN or infinity assumption) lets LLVM split the sum over the lanes;
# over a span each partial sum is an integer below 2^24, so the counts are exact.

@njit(fastmath={"reassoc"}, cache=True)
def _twice_below(row, start, stop, x, one, zero):
    """``Σ_{j in [start, stop)} ([row[j] < x] + [row[j] <= x])``, i.e. 2·less + equal."""
    seg = row[start:stop]          # indices from 0: contiguous loads, vectorised
    acc = zero
    for j in range(seg.shape[0]):
        v = seg[j]
        acc += (one if v < x else zero) + (one if v <= x else zero)
    return acc


@njit(cache=True)
def _count_not_above(sorted_vals, x):
    """Number of entries of ``sorted_vals`` at or below ``x`` (upper bound)."""
    lo, hi = 0, sorted_vals.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_vals[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _count_below(sorted_vals, x):
    """Number of entries of ``sorted_vals`` strictly below ``x`` (lower bound): a binary
    search, not a walk back over the entries equal to ``x``, which costs one step per tie
    (a row of Popularity's or a kNN's scores ties thousands of items)."""
    lo, hi = 0, sorted_vals.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_vals[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _is_in(sorted_idx, start, end, j):
    """Whether item ``j`` is among ``sorted_idx[start:end]`` (binary search)."""
    lo = start + _count_below(sorted_idx[start:end], j)
    return lo < end and sorted_idx[lo] == j


@njit(cache=True)
def _twice_u_row(row, ex_indices, e0, e1, pos_indices, q0, q1, pos_s, m, scan_max, one, zero):
    r"""Twice the Mann–Whitney count ``2 Σ_t Σ_n ([s_t > s_n] + ½[s_t = s_n])`` of one row.

    ``pos_s[:m]``: the sorted scores of the row's non-excluded positives.
    Scan (``m <= scan_max``): per positive, one vector pass over the row
    counts the items below and equal to it, then the excluded items and the
    positives are subtracted (short lists). Merge (more positives): every
    negative is placed among the sorted positives by a binary search (and a
    second one when it ties with some of them).
    """
    n_items = row.shape[0]
    twice_u = 0
    if m <= scan_max:
        for t in range(m):
            x = pos_s[t]
            for c0 in range(0, n_items, _SPAN):       # all items, vectorised
                twice_u += int(_twice_below(row, c0, min(c0 + _SPAN, n_items), x, one, zero))
            for e in range(e0, e1):                   # minus the excluded items
                v = row[ex_indices[e]]
                twice_u -= (v < x) + (v <= x)
            for u in range(m):                        # minus the positives
                twice_u -= (pos_s[u] < x) + (pos_s[u] <= x)
    else:
        e = e0
        q = q0
        for j in range(n_items):
            while e < e1 and ex_indices[e] < j:
                e += 1
            if e < e1 and ex_indices[e] == j:
                continue                              # excluded
            while q < q1 and pos_indices[q] < j:
                q += 1
            if q < q1 and pos_indices[q] == j:
                continue                              # a positive
            s = row[j]
            not_above = _count_not_above(pos_s[:m], s)    # positives with s_t <= s
            below = not_above                         # positives with s_t < s: a search
            if below > 0 and pos_s[below - 1] == s:   # only when s ties with one of them
                below = _count_below(pos_s[:m], s)
            twice_u += 2 * (m - not_above) + (not_above - below)
    return twice_u


@njit(cache=True)
def _auc_row(row, ex_indices, e0, e1, pos_indices, q0, q1, scan_max, one, zero):
    r"""The exact AUC of one NaN-free score row.

    .. math::
        \mathrm{AUC} = \frac{1}{m\, n_\mathrm{neg}} \sum_{t} \sum_{n}
        \big( [s_t > s_n] + \tfrac12 [s_t = s_n] \big)

    over the ``m`` positives ``pos_indices[q0:q1]`` that are not excluded
    (``ex_indices[e0:e1]``) and the ``n_neg`` items neither excluded nor
    positive; NaN when ``m == 0`` or ``n_neg == 0``. ``one``, ``zero``: 1 and
    0 in the row's dtype (for the vectorised counts of ``_twice_below``).
    """
    n_items = row.shape[0]
    pos_s = np.empty(q1 - q0, dtype=row.dtype)
    m = 0
    for q in range(q0, q1):
        j = pos_indices[q]
        if not _is_in(ex_indices, e0, e1, j):
            pos_s[m] = row[j]
            m += 1
    n_neg = n_items - (e1 - e0) - m
    if m == 0 or n_neg == 0:
        return np.nan
    pos_s[:m] = np.sort(pos_s[:m])
    twice_u = _twice_u_row(row, ex_indices, e0, e1, pos_indices, q0, q1, pos_s, m, scan_max,
                           one, zero)
    return twice_u / (2.0 * m * n_neg)


@njit(parallel=True, cache=True)
def auc_rows(S, ex_indptr, ex_indices, pos_indptr, pos_indices, scan_max, out):
    r"""Per row of ``S``, the exact AUC of its positives against its negatives (``_auc_row``).

    Parameters
    ----------
    S : float32 or float64 (n_rows, n_items), C-contiguous, no NaN
    ex_indptr, ex_indices, pos_indptr, pos_indices : int64
        CSR rows of the excluded items and of the positives; indices sorted
        ascending, duplicate-free within each row, in ``0..n_items-1``.
    scan_max : int
        Rows with at most this many positives count by scans, the others by
        merging (same counts, see ``_twice_u_row``).
    out : float64 (n_rows,)
        NaN where the AUC is undefined (no positive or no negative).
    """
    one, zero = S.dtype.type(1), S.dtype.type(0)      # 1 and 0 in the scores' dtype
    for r in prange(S.shape[0]):
        out[r] = _auc_row(S[r], ex_indices, ex_indptr[r], ex_indptr[r + 1], pos_indices,
                          pos_indptr[r], pos_indptr[r + 1], scan_max, one, zero)


@njit(parallel=True, cache=True)
def rank_rows(S, k_heap, ex_indptr, ex_indices, pos_indptr, pos_indices, with_auc, scan_max,
              items_out, auc_out, nan_out):
    r"""Per row of ``S``: the ``k_heap`` best non-excluded items, the exact AUC, NaN count.

    Parameters
    ----------
    S : float32 or float64 (n_rows, n_items), C-contiguous
    k_heap : int, ``1 <= k_heap <= min(n_items, items_out.shape[1])``
    ex_indptr, ex_indices : int64
        CSR rows of the excluded items (training items); each row's indices
        sorted ascending, duplicate-free, in ``0..n_items-1``.
    pos_indptr, pos_indices : int64
        CSR rows of the positives (test items), same form. Read only when
        ``with_auc``.
    with_auc : bool
    scan_max : int
        Rows with at most this many positives count the AUC by scans, the
        others by merging (same counts, see ``_twice_u_row``).
    items_out : int64 (n_rows, K), K >= k_heap
        The kept items best first, then ``-1`` in the slots no candidate fills.
    auc_out : float64 (n_rows,)
        With ``with_auc``: ``2U / (2 m n_neg)``, ``m`` the non-excluded
        positives, ``n_neg`` the items neither excluded nor positive; NaN
        where ``m == 0`` or ``n_neg == 0``. Untouched otherwise.
    nan_out : int64 (n_rows,)
        The number of NaN scores in the row (excluded items included). A
        row with a NaN has meaningless other outputs; the caller raises.
    """
    one, zero = S.dtype.type(1), S.dtype.type(0)      # 1 and 0 in the scores' dtype
    for r in prange(S.shape[0]):
        row = S[r]
        e0 = ex_indptr[r]
        e1 = ex_indptr[r + 1]
        _, heap_i, n_found, n_nan = _best_k(row, k_heap, ex_indices, e0, e1, one, zero)
        nan_out[r] = n_nan
        for t in range(n_found):
            items_out[r, t] = heap_i[t]
        for t in range(n_found, items_out.shape[1]):
            items_out[r, t] = -1
        if with_auc:
            if n_nan > 0:
                auc_out[r] = np.nan
            else:
                auc_out[r] = _auc_row(row, ex_indices, e0, e1, pos_indices, pos_indptr[r],
                                      pos_indptr[r + 1], scan_max, one, zero)
