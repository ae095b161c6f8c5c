r"""numba kernel for :class:`~minigraphrec.models.sequential.MarkovChain`'s scores.

Raw arrays only, no validation: ``MarkovChain._score_sessions`` holds the NumPy
reference (the successor counts densified, then smoothed, divided and tie-broken
in place, chunk by chunk) that this kernel is tested against, bit for bit.

The reference passes over a block of scores four times (zero it, scatter the
counts, divide, add the tie-break); here every score is written once. Each entry
is the reference's expression in the reference's order,

.. math:: s_j = \frac{C_{ij} + α}{D} + \frac{p_j}{2D}
          \qquad(\text{``+ α'' only if } α \ne 0\text{, the tie-break only if asked}),

so the bits are the same: a count of 0 gives ``(0.0 + α) / D``, which is what the
zero-filled reference holds at that point. A row whose last item had no successor
in training (``D`` is then not used) gets the popularity back-off ``p_j``. One row
per thread (``prange``): the result does not depend on the thread count.

:func:`markov_scores`, what the model calls, picks :func:`markov_scores_rows` (rows in
parallel) or its serial twin :func:`markov_scores_rows_serial` (the same row function,
one thread) by the size of the block (:data:`PARALLEL_FROM`); the model's code calls it
as it called the one kernel before.
"""
from __future__ import annotations

from numba import njit, prange

__all__ = ["markov_scores", "markov_scores_rows", "markov_scores_rows_serial",
           "PARALLEL_FROM"]

#: score blocks of fewer entries (``B * n_items``) than this go to
#: :func:`markov_scores_rows_serial`: waking numba's thread pool costs a scheduler time
#: slice when the cores are busy. On 20 successors per item, the serial kernel took 0.001
#: ms for one session of 1,682 items, 0.10 ms for 156 (2^18 scores) and 0.2 ms for 16 of
#: 40,981; the parallel one took 12 ms, 0.05 ms (both threads awake) and 20 ms (AMD EPYC,
#: 2 cores, load average 4-6, 2026-12-07, ``/tmp`` script, not recorded). Below 2^18 a
#: second thread saves at most about 0.05 ms. The threshold of the top-k kernel
#: (:data:`minigraphrec.kernels.topk.PARALLEL_FROM`).
PARALLEL_FROM = 1 << 18


def markov_scores(indptr, indices, data, last, seen, D, p, alpha, tiebreak, S):
    r"""Write the scores of ``len(last)`` sessions into ``S`` (B, n_items): by
    :func:`markov_scores_rows`, or by :func:`markov_scores_rows_serial` when ``S`` has
    fewer than :data:`PARALLEL_FROM` entries (a session or a few). The same bits either
    way; the arguments are those of :func:`markov_scores_rows`."""
    kernel = markov_scores_rows if S.size >= PARALLEL_FROM else markov_scores_rows_serial
    kernel(indptr, indices, data, last, seen, D, p, alpha, tiebreak, S)


@njit(cache=True, inline="always")
def _markov_row(indptr, indices, data, last, seen, D, p, alpha, tiebreak, S, b):
    """Row ``b`` of :func:`markov_scores_rows`."""
    n_items = S.shape[1]
    row = S[b]
    if not seen[b]:                                      # back-off: the popularity
        for j in range(n_items):
            row[j] = p[j]
        return
    d = D[b]
    two_d = 2.0 * d
    base = ((0.0 + alpha) if alpha != 0.0 else 0.0) / d   # a count of 0, smoothed
    if tiebreak:
        for j in range(n_items):
            row[j] = base + p[j] / two_d
    else:
        for j in range(n_items):
            row[j] = base
    i = last[b]
    for k in range(indptr[i], indptr[i + 1]):
        j = indices[k]
        v = data[k]
        if alpha != 0.0:
            v = v + alpha
        v = v / d
        if tiebreak:
            v = v + p[j] / two_d
        row[j] = v


@njit(parallel=True, cache=True)
def markov_scores_rows(indptr, indices, data, last, seen, D, p, alpha, tiebreak, S):
    r"""Write the scores of ``len(last)`` sessions into ``S`` (B, n_items), rows in parallel.

    Parameters
    ----------
    indptr, indices, data : the CSR arrays of the transition counts ``C`` (no duplicates)
    last : int64 (B,), each session's last item ``i``
    seen : bool (B,), ``c_i > 0`` (the item had a successor in training)
    D : float64 (B,), ``c_i + α · n_items`` where ``seen``
    p : float64 (n_items,), the popularity distribution ``n_j / N``
    alpha : float64, the smoothing ``α``
    tiebreak : bool, add ``p_j / (2 D)``
    S : float64 (B, n_items), overwritten
    """
    for b in prange(S.shape[0]):
        _markov_row(indptr, indices, data, last, seen, D, p, alpha, tiebreak, S, b)


@njit(cache=True)
def markov_scores_rows_serial(indptr, indices, data, last, seen, D, p, alpha, tiebreak, S):
    r""":func:`markov_scores_rows` in one thread, for small blocks (:data:`PARALLEL_FROM`)."""
    for b in range(S.shape[0]):
        _markov_row(indptr, indices, data, last, seen, D, p, alpha, tiebreak, S, b)
