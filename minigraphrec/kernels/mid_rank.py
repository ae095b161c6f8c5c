r"""numba kernel for membership inference: the mid-rank of chosen items in their score rows.

Raw arrays only, no validation: :func:`minigraphrec.privacy.membership_inference`
checks the input (C-contiguous float32/float64 scores, all finite) and holds the
NumPy reference this kernel is tested against (``privacy._mid_ranks_numpy``: each
row sorted, then two ``searchsorted`` per item).

For item ``i`` of a row ``s`` over ``n`` items the signal is

.. math::
    \rho_i = \frac{\#\{j : s_j < s_i\} + \#\{j : s_j \le s_i\} - 1}{2 (n - 1)},

its share of the other items that it outscores, ties counting one half (the ``- 1``
takes ``i`` itself out of the ties). The reference sorts the whole row: ``n log n``
per row, about 1.5 ms for Gowalla's 41k items. Here the row is not sorted, and the
numerator, ``2 #{s_j < s_i} + #{s_j = s_i}``, is counted in one of two ways, as the
evaluation kernel counts its AUC (:mod:`minigraphrec.kernels.eval_rank`):

* **scan**, up to ``scan_max`` items in the row: per item, one vectorised pass over
  the row (``eval_rank._twice_below``, lanes of the row's dtype, exact per span);
* **merge**, more items: only the row's ``k`` chosen scores are sorted (``p``,
  ascending), and one pass over the row places every score ``s_j`` among them by a
  binary search, ``lo_j = #{p < s_j}`` and ``hi_j = #{p <= s_j}`` (``n log k``). Two
  histograms of those positions give every count at once, for a chosen score ``x``
  with ``L = #{p < x}`` and ``R = #{p <= x}`` (``x`` is among the ``p``, so
  ``L < R``):

  ``s_j < x`` exactly when ``hi_j <= L`` (every ``p <= s_j`` is below ``x``, and
  ``s_j >= x`` would put at least the ``p`` equal to ``x`` among them), and ``s_j <= x``
  exactly when ``lo_j <= R - 1`` (the same argument the other way). So ``#{s_j < x}``
  is a prefix sum of the ``hi`` histogram and ``#{s_j <= x}`` one of the ``lo`` one.

A scan costs ``n`` vector lanes per item, a merge ``n`` scalar binary searches per
row; ``scan_max`` chooses (``privacy._MID_RANK_SCAN_MAX``, the evaluation kernel's
threshold, not measured for this kernel). Either way the counts are integers, so the
result is exact, and the final division is the reference's, so the two give the same
bits. Rows run in parallel
(``prange``), each by one thread into its own outputs: no dependence on the thread
count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .eval_rank import _SPAN, _count_below, _count_not_above, _twice_below

__all__ = ["mid_ranks"]


@njit(parallel=True, cache=True)
def mid_ranks(S, indptr, items, scan_max, out):
    r"""``out[q]``: the mid-rank :math:`\rho` of item ``items[q]`` in row ``r`` of ``S``, for
    ``q`` in ``indptr[r]:indptr[r + 1]``.

    Parameters
    ----------
    S : float32 or float64 (n_rows, n_items), C-contiguous, finite, ``n_items >= 2``
    indptr : int64 (n_rows + 1,), ascending from 0: row ``r``'s items are
        ``items[indptr[r]:indptr[r + 1]]``
    items : int64, each in ``0 .. n_items-1``
    scan_max : int, rows with at most this many items count by scans, the others by merging
    out : float64 (len(items),), written at every position of a group
    """
    n_items = S.shape[1]
    one, zero = S.dtype.type(1), S.dtype.type(0)      # 1 and 0 in the scores' dtype
    for r in prange(S.shape[0]):
        a, b = indptr[r], indptr[r + 1]
        row = S[r]
        k = b - a
        if k <= scan_max:
            for q in range(a, b):
                x = row[items[q]]
                twice = 0                             # 2 #{s_j < x} + #{s_j == x}
                for c0 in range(0, n_items, _SPAN):
                    twice += int(_twice_below(row, c0, min(c0 + _SPAN, n_items), x, one, zero))
                out[q] = (twice - 1) / (2.0 * (n_items - 1))
            continue
        p = np.empty(k, dtype=S.dtype)
        for q in range(k):
            p[q] = row[items[a + q]]
        p = np.sort(p)                                  # (k,) the chosen scores, ascending
        below_hist = np.zeros(k + 1, dtype=np.int64)    # [h]: #{j : hi_j == h}
        upto_hist = np.zeros(k + 1, dtype=np.int64)     # [l]: #{j : lo_j == l}
        for j in range(n_items):
            v = row[j]
            hi = _count_not_above(p, v)                 # #{p <= v}
            lo = hi                                     # #{p < v}: a second search only
            if lo > 0 and p[lo - 1] == v:               # when v ties with a chosen score
                lo = _count_below(p, v)
            below_hist[hi] += 1
            upto_hist[lo] += 1
        below_cum = np.cumsum(below_hist)               # [L]: #{j : hi_j <= L}
        upto_cum = np.cumsum(upto_hist)                 # [R - 1]: #{j : lo_j <= R - 1}
        for q in range(k):
            x = row[items[a + q]]
            R = _count_not_above(p, x)
            L = _count_below(p, x)
            below, upto = below_cum[L], upto_cum[R - 1]
            out[a + q] = (below + upto - 1) / (2.0 * (n_items - 1))
