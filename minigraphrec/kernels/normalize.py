r"""numba kernels for :class:`~minigraphrec.models.hybrid.Hybrid`: per-user score
normalisation, blended into a running sum, and the ranking of every blend its
weight tuning tries.

Raw arrays only, no validation. The wrappers
:func:`minigraphrec.models.hybrid.normalize_scores` (and ``add_normalized``)
and :func:`minigraphrec.models.hybrid.grid_top_k` check the input and hold
the NumPy references (a boolean candidate mask, ``np.where`` reductions, a
sort per row for ranks; one blend and one :func:`~minigraphrec.rank.top_k`
per weight vector) that these kernels are tested against.

Each row ``r`` of the score block ``S`` (float32 or float64, read as
float64) has its *candidates*: the columns not listed in row ``r`` of the
exclusion CSR (sorted, duplicate-free indices), or every column when all
are listed. The reference builds a dense boolean mask of them; here one
pointer walks the row's sorted exclusions beside the column index, so a
block is read twice (statistics, then the blend) and nothing of its size is
allocated. Every row is handled by one thread (``prange``), so results do
not depend on the number of threads.

Agreement with the reference. Min-max and ranks are the same operations on
the same values, so they agree bit for bit. The z-score's mean and variance
are sums: the reference's NumPy reductions sum pairwise, these kernels in
column order, so they agree to rounding (about 1e-16 relative).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .topk import _best_k   # the ranking's own top-k: same order, same exclusions

__all__ = ["MINMAX", "ZSCORE", "row_affine", "add_affine", "add_rank", "grid_top_k"]

MINMAX = 0
ZSCORE = 1


@njit(cache=True, inline="always")
def _n_candidates(ex_indptr, r, n_items):
    """Number of candidates of row ``r`` and whether the exclusions apply (not all listed)."""
    n_ex = ex_indptr[r + 1] - ex_indptr[r]
    if n_ex >= n_items:
        return n_items, False
    return n_items - n_ex, True


@njit(parallel=True, cache=True)
def row_affine(S, ex_indptr, ex_indices, method):
    r"""Each row's shift and inverse scale over its candidates, and its first non-finite column.

    ``method`` :data:`MINMAX`: shift = min, scale = max - min; :data:`ZSCORE`:
    shift = mean, scale = population standard deviation (two passes). The
    normalised score is ``(s - shift) * inv`` with ``inv = 1 / scale`` where
    ``scale > 0``, else ``inv = 0`` and the row normalises to 0.

    Returns
    -------
    shift, inv : (n_rows,) float64
    bad : (n_rows,) int64
        The first column of the row (any column, candidate or not) whose
        score is NaN or infinite, else -1; ``shift`` and ``inv`` of such a
        row are meaningless.
    """
    n_rows, n_items = S.shape
    shift = np.zeros(n_rows)
    inv = np.zeros(n_rows)
    bad = np.full(n_rows, -1, dtype=np.int64)
    for r in prange(n_rows):
        n_c, use_ex = _n_candidates(ex_indptr, r, n_items)
        for j in range(n_items):
            if not np.isfinite(S[r, j]):
                bad[r] = j
                break
        if bad[r] >= 0:
            continue
        p, end = ex_indptr[r], ex_indptr[r + 1]
        if method == MINMAX:
            lo, hi = np.inf, -np.inf
            for j in range(n_items):
                if use_ex and p < end and ex_indices[p] == j:
                    p += 1
                    continue
                s = np.float64(S[r, j])
                if s < lo:
                    lo = s
                if s > hi:
                    hi = s
            shift[r], scale = lo, hi - lo
        else:
            total = 0.0
            for j in range(n_items):
                if use_ex and p < end and ex_indices[p] == j:
                    p += 1
                    continue
                total += np.float64(S[r, j])
            mean = total / n_c
            p = ex_indptr[r]
            sq = 0.0
            for j in range(n_items):
                if use_ex and p < end and ex_indices[p] == j:
                    p += 1
                    continue
                dev = np.float64(S[r, j]) - mean
                sq += dev * dev
            shift[r], scale = mean, np.sqrt(sq / n_c)
        if scale > 0:
            inv[r] = 1.0 / scale
    return shift, inv, bad


@njit(parallel=True, cache=True)
def add_affine(S, shift, inv, weight, out):
    r"""``out[r, j] += weight * ((S[r, j] - shift[r]) * inv[r])``; 0 for rows with ``inv[r] == 0``."""
    n_rows, n_items = S.shape
    for r in prange(n_rows):
        a, b = shift[r], inv[r]
        if b == 0:
            for j in range(n_items):
                out[r, j] += weight * 0.0
            continue
        for j in range(n_items):
            out[r, j] += weight * ((np.float64(S[r, j]) - a) * b)
    return out


@njit(parallel=True, cache=True)
def add_rank(S, ex_indptr, ex_indices, weight, out):
    r"""``out[r, j] += weight * (#{c : s_c < s_j} + ½ #{c : s_c = s_j}) / |C|`` over candidates ``C``.

    Scores must be finite (checked by :func:`row_affine` first). Each row
    sorts a copy of its candidates' scores and finds each score's rank by
    two binary searches, as the reference does.
    """
    n_rows, n_items = S.shape
    for r in prange(n_rows):
        n_c, use_ex = _n_candidates(ex_indptr, r, n_items)
        c = np.empty(n_c)                                 # (n_c,) this row's candidates
        p, end, q = ex_indptr[r], ex_indptr[r + 1], 0
        for j in range(n_items):
            if use_ex and p < end and ex_indices[p] == j:
                p += 1
                continue
            c[q] = S[r, j]
            q += 1
        c.sort()
        for j in range(n_items):
            s = np.float64(S[r, j])
            below = np.searchsorted(c, s, side="left")
            upto = np.searchsorted(c, s, side="right")
            out[r, j] += weight * ((below + 0.5 * (upto - below)) / n_c)
    return out


@njit(parallel=True, cache=True)
def grid_top_k(Z, grid, ex_indptr, ex_indices, k_heap, items_out):
    r"""For every weight vector ``w = grid[g]``: the top items of ``Σ_m w_m Z[m]``, per row.

    Hybrid's weight tuning ranks the same normalised scores once per grid
    point. Here each row's blend is formed in a row buffer (terms with
    ``w_m > 0`` only, summed in model order from 0, as the reference's
    ``sum(w_m * Z_m ...)`` does) and ranked at once, so the ``M`` rows of
    ``Z`` stay in cache across the grid and no block-sized blend is written.

    Parameters
    ----------
    Z : float64 (M, n_rows, n_items), finite
    grid : float64 (G, M)
    ex_indptr, ex_indices : int64 CSR rows of excluded items, sorted (as
        for :func:`~minigraphrec.kernels.topk.top_k_rows`)
    k_heap : int, ``1 <= k_heap <= min(n_items, items_out.shape[2])``
    items_out : int64 (G, n_rows, k), written in full: best first, then -1.
    """
    n_models, n_rows, n_items = Z.shape
    for r in prange(n_rows):
        blend = np.empty(n_items)                          # (n_items,) this row's blend
        for g in range(grid.shape[0]):
            blend[:] = 0.0
            for m in range(n_models):
                w = grid[g, m]
                if w > 0:
                    for j in range(n_items):
                        blend[j] += w * Z[m, r, j]
            _, heap_i, n_found, _ = _best_k(blend, k_heap, ex_indices, ex_indptr[r],
                                            ex_indptr[r + 1], 1.0, 0.0)
            for t in range(n_found):
                items_out[g, r, t] = heap_i[t]
            for t in range(n_found, items_out.shape[2]):
                items_out[g, r, t] = -1
    return items_out
