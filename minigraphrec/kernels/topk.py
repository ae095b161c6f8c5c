r"""numba kernel for ranking score rows: the k best items of each row, seen items excluded.

Raw arrays only, no validation: the wrapper :func:`minigraphrec.rank.top_k`
checks the inputs (C-contiguous scores, canonical CSR with sorted int64
indices within the row; NaN from the count the kernel returns) and holds the
readable NumPy reference this kernel is tested against. The per-row routine
``_best_k`` (fill a bounded heap with ``_top_k_row``, then sort it best first)
is also the top-k of the evaluation kernel
(:mod:`minigraphrec.kernels.eval_rank`), which holds the per-row AUC.

Rows run in parallel (``prange``); every row is computed by one thread from
its own inputs into its own output row, so the result does not depend on the
number of threads. :func:`top_k_rows_serial` runs the same row function in one
thread, for small blocks (:data:`PARALLEL_FROM`): a one-user ``recommend`` ranks
one row, and waking numba's thread pool for it cost a time slice when the cores
were busy (see :data:`PARALLEL_FROM`).

The item order used throughout is "higher score first, then smaller item id":
item ``a`` is *better* than item ``b`` when ``s_a > s_b`` or
``s_a == s_b and a < b``. It is a strict total order for NaN-free scores and
equals the order of a stable descending sort, which the NumPy reference uses.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["top_k_rows", "top_k_rows_serial", "PARALLEL_FROM"]

#: score blocks of fewer entries (``n_rows * n_items``) than this go to
#: :func:`top_k_rows_serial`. Waking the thread pool costs a scheduler time slice when
#: the cores are busy: on 2 threads this kernel took 8.0 ms for every
#: block from 1 x 1,682 to 156 x 40,981 float64 scores (k = 10), against 0.002 ms (one
#: ML-100K row), 0.05 ms (6 x 40,981) and 0.1-0.4 ms (156 x 1,682, about 2^18) serially
#: (AMD EPYC, 2 cores, load average 2-4, 2026-12-07, ``/tmp`` script, not recorded). Below
#: 2^18 scores a second thread could save at most about 0.2 ms (half the serial time) on
#: idle cores, against 8 ms lost on busy ones. The threshold of Adam's and the GRU's
#: serial kernels (:data:`minigraphrec.optim._PARALLEL_FROM`,
#: :data:`minigraphrec.kernels.session.PARALLEL_FROM`).
PARALLEL_FROM = 1 << 18


@njit(cache=True)
def _better(s_a, i_a, s_b, i_b):
    """True when item ``i_a`` (score ``s_a``) ranks before item ``i_b``."""
    return s_a > s_b or (s_a == s_b and i_a < i_b)


@njit(cache=True)
def _sift_down(heap_s, heap_i, size, pos):
    """Restore the heap below ``pos``; the root holds the *worst* kept item."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        # of the two children, follow the worse one
        if child + 1 < size and _better(heap_s[child], heap_i[child],
                                        heap_s[child + 1], heap_i[child + 1]):
            child += 1
        if not _better(heap_s[pos], heap_i[pos], heap_s[child], heap_i[child]):
            return
        heap_s[pos], heap_s[child] = heap_s[child], heap_s[pos]
        heap_i[pos], heap_i[child] = heap_i[child], heap_i[pos]
        pos = child


@njit(cache=True)
def _sift_up(heap_s, heap_i, pos):
    """Move the entry at ``pos`` up while it is worse than its parent."""
    while pos > 0:
        parent = (pos - 1) // 2
        if not _better(heap_s[parent], heap_i[parent], heap_s[pos], heap_i[pos]):
            return
        heap_s[pos], heap_s[parent] = heap_s[parent], heap_s[pos]
        heap_i[pos], heap_i[parent] = heap_i[parent], heap_i[pos]
        pos = parent


#: items tested at once against the heap's worst score (one vector pass)
_CHUNK = 64


@njit(cache=True, inline="always")
def _heap_offer(heap_s, heap_i, size, size_max, s, i):
    """Offer item ``i`` (score ``s``) to a heap of at most ``size_max``: the heap's new size.

    While the heap has room the item goes in; then it replaces the root (the
    worst kept item) only if it is better. Inlined into its callers' hot
    loops (as a call it made the kNN kernels 1.6x slower on Gowalla).
    """
    if size < size_max:
        heap_s[size] = s
        heap_i[size] = i
        _sift_up(heap_s, heap_i, size)
        return size + 1
    if _better(s, i, heap_s[0], heap_i[0]):
        heap_s[0] = s
        heap_i[0] = i
        _sift_down(heap_s, heap_i, size, 0)
    return size


@njit(fastmath={"reassoc"}, cache=True)
def _n_not_below(row, start, stop, x, one, zero):
    """``#{j in [start, stop): not row[j] <= x}`` (above ``x``, or NaN) as a float (exact).

    Adding ``one`` or ``zero`` (1 and 0 in the scores' dtype) rather than a
    bool into an int64 keeps 8 float32 (4 float64) lanes per vector
    instruction instead of widening every comparison to int64 (measured ~3x
    faster). ``fastmath={"reassoc"}`` (reassociation only, no NaN or
    infinity assumption) lets LLVM split the sum over the lanes; every
    partial sum is a small integer, so the count is exact.
    """
    seg = row[start:stop]          # indices from 0: no negative-index wraparound, so
    acc = zero                     # LLVM sees contiguous loads and vectorises
    for j in range(seg.shape[0]):
        acc += zero if seg[j] <= x else one
    return acc


@njit(cache=True)
def _top_k_row(row, k_heap, ex_indices, e0, e1, heap_s, heap_i, one, zero):
    """Fill the bounded heap with the row's best non-excluded items.

    Returns ``(size, n_nan)``: the number of items kept and the number of
    NaN scores in the row (excluded items included; with a NaN the heap is
    meaningless and the caller raises). The heap's root is the worst kept
    item. Once the heap is full, the items are taken ``_CHUNK`` at a time:
    a branch-free count of the items not at or below the root's score
    (``_n_not_below``: greater, or NaN) decides whether the chunk needs a
    look item by item; most chunks do not, so the row is read once, with
    the NaN check for free. Every kept item has a smaller id than the items
    still to come, so on a tie the newcomer is the worse one: it enters only
    with a strictly greater score.
    """
    n_items = row.shape[0]
    size = 0
    n_nan = 0
    j = 0
    for p in range(e0, e1 + 1):
        stop = ex_indices[p] if p < e1 else n_items
        while j < stop and size < k_heap:            # fill the heap
            s = row[j]
            if s != s:
                n_nan += 1
            elif s != -np.inf:                        # -inf: not a candidate
                heap_s[size] = s
                heap_i[size] = j
                _sift_up(heap_s, heap_i, size)
                size += 1
            j += 1
        while j < stop:                               # the heap is full
            c_end = min(j + _CHUNK, stop)
            if _n_not_below(row, j, c_end, heap_s[0], one, zero) > zero:
                for t in range(j, c_end):
                    s = row[t]
                    if s > heap_s[0]:
                        heap_s[0] = s
                        heap_i[0] = t
                        _sift_down(heap_s, heap_i, size, 0)
                    elif s != s:
                        n_nan += 1
            j = c_end
        j = max(j, stop + 1)                          # skip the excluded id
    for p in range(e0, e1):                           # NaN among the excluded items
        s = row[ex_indices[p]]
        if s != s:
            n_nan += 1
    return size, n_nan


@njit(cache=True)
def _best_k(row, k_heap, ex_indices, e0, e1, one, zero):
    """The row's best non-excluded items, best first: ``(scores, items, n_found, n_nan)``.

    ``scores`` (of the row's dtype) and ``items`` (int64) are length-``k_heap``
    arrays whose first ``n_found`` entries are the kept items, best first;
    ``n_nan`` counts the row's NaN scores (see :func:`_top_k_row`, which
    fills the heap). The heap is then sorted where it stands: the root
    (the worst kept item) is swapped to the heap's last slot, the heap
    shrinks by one and is repaired, until one item is left (heapsort).
    """
    heap_s = np.empty(k_heap, dtype=row.dtype)
    heap_i = np.empty(k_heap, dtype=np.int64)
    n_found, n_nan = _top_k_row(row, k_heap, ex_indices, e0, e1, heap_s, heap_i, one, zero)
    for size in range(n_found - 1, 0, -1):
        heap_s[0], heap_s[size] = heap_s[size], heap_s[0]
        heap_i[0], heap_i[size] = heap_i[size], heap_i[0]
        _sift_down(heap_s, heap_i, size, 0)
    return heap_s, heap_i, n_found, n_nan


@njit(cache=True, inline="always")
def _top_k_out_row(S, r, k_heap, ex_indptr, ex_indices, items_out, scores_out, nan_out):
    """Row ``r`` of :func:`top_k_rows`: its best items into ``items_out[r]``, ``scores_out[r]``,
    its number of NaN scores into ``nan_out[r]``."""
    one, zero = S.dtype.type(1), S.dtype.type(0)           # 1 and 0 in the scores' dtype
    heap_s, heap_i, n_found, n_nan = _best_k(S[r], k_heap, ex_indices, ex_indptr[r],
                                             ex_indptr[r + 1], one, zero)
    nan_out[r] = n_nan
    for t in range(n_found):
        items_out[r, t] = heap_i[t]
        scores_out[r, t] = np.float64(heap_s[t])
    for t in range(n_found, items_out.shape[1]):
        items_out[r, t] = -1
        scores_out[r, t] = -np.inf


@njit(parallel=True, cache=True)
def top_k_rows(S, k_heap, ex_indptr, ex_indices, items_out, scores_out, nan_out):
    r"""Per row of ``S``, the ``k_heap`` best non-excluded items, best first.

    Parameters
    ----------
    S : float32 or float64 (n_rows, n_items), C-contiguous
    k_heap : int, ``1 <= k_heap <= min(n_items, items_out.shape[1])`` (the
        wrapper passes ``min(k, n_items)``)
    ex_indptr : int64 (n_rows + 1,); ex_indices : int64 (nnz,)
        CSR rows of excluded items, each row's indices sorted ascending and
        within ``0..n_items-1`` (duplicates are harmless).
    items_out : int64 (n_rows, k); scores_out : float64 (n_rows, k)
        Written in full: the kept items best first, then item ``-1`` and
        score ``-inf`` for the slots no candidate fills.
    nan_out : int64 (n_rows,)
        The number of NaN scores in each row (excluded items included), counted
        in the pass that ranks it, so that the wrapper needs no pass of its own
        to refuse NaN. A row with a NaN has meaningless other outputs; the
        caller raises.

    Notes
    -----
    One pass over the row with a bounded min-heap whose root is the worst of
    the (at most ``k_heap``) items kept so far (``_top_k_row``): O(n_items
    log k) per row, and in the common case one vectorised comparison per
    item. The row is walked in the runs of items between consecutive
    excluded ids, so the hot loop has no exclusion test. Items scored
    ``-inf`` are not candidates (as in the reference, which marks excluded
    items ``-inf``). The heap holds the scores in ``S``'s dtype; they are
    written to ``scores_out`` as float64 (exactly).
    """
    for r in prange(S.shape[0]):
        _top_k_out_row(S, r, k_heap, ex_indptr, ex_indices, items_out, scores_out, nan_out)


@njit(cache=True)
def top_k_rows_serial(S, k_heap, ex_indptr, ex_indices, items_out, scores_out, nan_out):
    r""":func:`top_k_rows` in one thread, for small blocks (:data:`PARALLEL_FROM`)."""
    for r in range(S.shape[0]):
        _top_k_out_row(S, r, k_heap, ex_indptr, ex_indices, items_out, scores_out, nan_out)
