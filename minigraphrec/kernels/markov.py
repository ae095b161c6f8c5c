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
"""
from __future__ import annotations

from numba import njit, prange

__all__ = ["markov_scores"]


@njit(parallel=True, cache=True)
def markov_scores(indptr, indices, data, last, seen, D, p, alpha, tiebreak, S):
    r"""Write the scores of ``len(last)`` sessions into ``S`` (B, n_items).

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
    n_rows, n_items = S.shape
    for b in prange(n_rows):
        row = S[b]
        if not seen[b]:                                  # back-off: the popularity
            for j in range(n_items):
                row[j] = p[j]
            continue
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
