r"""numba kernel for negative sampling: the r-th item a user has *not* touched.

Raw arrays only, no validation: the wrappers :func:`minigraphrec.ops.sample_bpr`
and :func:`minigraphrec.ops.sample_negatives` draw every random number with a
NumPy Generator, check the inputs (canonical CSR: sorted, duplicate-free
column indices; ranks in range) and hold the vectorised NumPy reference
:func:`minigraphrec.ops.sampling.nth_absent_reference` this kernel is tested
against. The kernel itself draws nothing, so both backends return identical
arrays for one seed.

The idea. Let user ``u``'s positives be ``p_0 < p_1 < ... < p_{n-1}``. The
number of non-positive items below ``p_k`` is ``p_k - k``, which never
decreases with ``k``. The ``r``-th non-positive item (0-based) is therefore

.. math:: x = r + \#\{k : p_k - k \le r\},

a binary search over ``k``. Drawing ``r`` uniformly from
``0 .. n_items - n - 1`` gives a negative uniform over the user's
non-positives in one draw, with no rejection loop.
"""
from __future__ import annotations

from numba import njit, prange

__all__ = ["nth_absent"]


@njit(parallel=True, cache=True)
def nth_absent(indptr, indices, rows, ranks, out):
    r"""``out[q]`` = the ``ranks[q]``-th (0-based) column absent from row ``rows[q]``.

    Parameters
    ----------
    indptr : (n_rows + 1,) int32 or int64
    indices : (nnz,) int32 or int64, sorted and distinct within each row
    rows : (n,) int64, each in ``0 .. n_rows-1``
    ranks : (n,) int64, ``0 <= ranks[q] < n_cols - nnz(row rows[q])``
    out : (n,) int64, overwritten

    Notes
    -----
    ``O(log nnz_row)`` per query, queries in parallel; each ``out[q]``
    depends only on ``rows[q]`` and ``ranks[q]``, so the result is the same
    for any number of threads.
    """
    for q in prange(rows.shape[0]):
        start = indptr[rows[q]]
        r = ranks[q]
        # count = #{k : indices[start + k] - k <= r}; the predicate holds for a prefix of k
        lo = 0
        hi = indptr[rows[q] + 1] - start
        while lo < hi:
            mid = (lo + hi) // 2
            if indices[start + mid] - mid <= r:
                lo = mid + 1
            else:
                hi = mid
        out[q] = r + lo
    return out
