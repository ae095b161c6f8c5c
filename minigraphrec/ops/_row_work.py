r"""How the row kernels of :mod:`minigraphrec.kernels.propagate_rows` split their work.

Shared by the ops over some rows of a CSR matrix (``ops/propagate.py``'s ``rows_product``
and friends, ``ops/lightgcn_rows.py``) and by the models that call those kernels directly.
A pull (each output row summed by one thread) runs on one thread when its rows hold fewer
than :data:`PARALLEL_FROM` stored entries, else over :func:`row_blocks`; a push (the
scatter :func:`~minigraphrec.kernels.propagate_rows.push_rows`) splits its destinations by
:func:`push_bounds`. Neither split changes a bit of the result (every output row is summed
by one thread in a fixed order), only how evenly the threads are loaded.
"""
from __future__ import annotations

import numpy as np

__all__ = ["PARALLEL_FROM", "BLOCKS_PER_THREAD", "rows_nnz", "row_blocks", "push_bounds"]

#: products with fewer stored entries than this run serially (no thread pool)
PARALLEL_FROM = 1 << 16
#: row blocks per thread of a parallel pull, handed out one at a time
BLOCKS_PER_THREAD = 16


def rows_nnz(indptr, rows):
    """The stored entries of the CSR rows ``rows`` (a repeated row counts again): an int."""
    return int(indptr[rows + 1].sum() - indptr[rows].sum())


def row_blocks(indptr, rows):
    """Bounds (n_blocks + 1,) int64 of consecutive blocks of ``rows`` of about equal work
    (stored entries, :func:`~minigraphrec.kernels.propagate_rows.row_blocks_of`),
    :data:`BLOCKS_PER_THREAD` per numba thread, for a parallel pull run under
    ``numba.parallel_chunksize(1)`` (threads take the blocks one by one as they come free).
    The full-graph product splits every row itself
    (:func:`~minigraphrec.kernels.spmm.all_row_blocks`, a given number of blocks)."""
    from numba import get_num_threads
    from ..kernels.propagate_rows import row_blocks_of
    return row_blocks_of(indptr, rows, BLOCKS_PER_THREAD * get_num_threads())


def push_bounds(A, rows, n_out, parallel_from=PARALLEL_FROM):
    """Destination ranges (k + 1,) int64, from 0 to ``n_out``, for
    :func:`~minigraphrec.kernels.propagate_rows.push_rows` of the CSR rows ``rows`` of ``A``
    into an (n_out, d) array (``n_out = A.shape[1]``).

    One range (serial) on one thread or for a push of fewer than ``parallel_from`` stored
    entries; else one range per thread, each about a thread's share of ``A``'s stored
    entries (a proxy for the writes it receives): counted per row of ``A`` when ``A`` is
    square (its column counts when it is symmetric, as the propagation operators are),
    per column otherwise.
    """
    from numba import get_num_threads
    threads = get_num_threads()
    if threads == 1 or rows_nnz(A.indptr, rows) < parallel_from:
        return np.array([0, n_out], dtype=np.int64)
    counts = np.diff(A.indptr) if A.shape[0] == n_out else \
        np.bincount(A.indices, minlength=n_out)                     # (n_out,)
    cuts = np.searchsorted(np.cumsum(counts), np.arange(1, threads) * (A.nnz / threads))
    return np.concatenate([[0], cuts, [n_out]]).astype(np.int64)
