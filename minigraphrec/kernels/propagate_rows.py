r"""numba kernels for propagation restricted to a set of rows (batch-restricted LightGCN).

Raw arrays only, no validation: the ops
:func:`minigraphrec.ops.lightgcn_rows.lightgcn_rows_forward` and
:func:`~minigraphrec.ops.lightgcn_rows.lightgcn_rows_backward` check the inputs
and hold the readable SciPy reference (``A_hat[rows] @ X``, one line per hop)
that these kernels are tested against.

Why rows. A BPR batch touches a few thousand nodes ``S_0``, but LightGCN's
final embedding ``E = 1/(K+1) Σ_k Â^k E0`` of a node depends on its ``K``-hop
ball only. With ``S_h`` the nodes at most ``h`` hops from ``S_0``
(:func:`bfs_levels`), the forward pass needs ``Â^k E0`` only on
``S_{K-k}``, and the backward pass, ``dE0 = 1/(K+1) Σ_k Â^k G`` with ``G``
nonzero on ``S_0``, grows its support one hop at a time. Every kernel here
computes some rows of a sparse-times-dense product and skips the rest: by
pulling (each output row sums its neighbours) or, for an input nonzero on a
few rows only, by pushing those rows to their neighbours (:func:`push_rows`).

Speed. The rows of one product are split into blocks of about equal work
(:func:`row_blocks_of`), the blocks run in parallel (``prange``), and each
output row is owned by one thread; the ``*_block`` kernels run one block
serially (the wrapper calls them directly for small products, where waking
threads costs more than the work), and each ``*_rows`` kernel is its
``*_block`` kernel on every block (inlined, ``inline="always"``, so the
parallel loop compiles as if written out). A row's sum is accumulated in ``out[r]``
four stored entries at a time, ``out[r] += ((w0 x0 + w1 x1) + w2 x2) + w3 x3``
(one read-modify-write of the row per four neighbours), while the rows
needed sixteen entries later are prefetched (:func:`_accumulate`). The
grouping fixes the summation order, so results do not depend on the thread
count or the block split; they differ from SciPy's strictly sequential sum
by rounding only (tests: float64, rtol 1e-12). LightGCN's NumPy reference
adds in this order (:func:`~minigraphrec.ops.lightgcn_rows.sum_by_fours`), so
that its two backends give the same bits. (Summing one term after the other,
SciPy's order, measured 6-9 % slower on one thread on Gowalla: each group then
waits on four dependent additions instead of one.)
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["bfs_levels", "row_blocks_of", "pull_block", "pull_rows", "pull_block_masked",
           "pull_rows_masked", "push_rows", "add_rows", "spread_rows", "pull_compact_block",
           "pull_compact_rows", "pull_indirect_block", "pull_indirect_rows"]


@njit(cache=True)
def bfs_levels(indptr, indices, seeds, n_hops, max_work, level):
    r"""Breadth-first hop distance from ``seeds``, for up to ``n_hops`` hops.

    The kernel of :func:`minigraphrec.ops.hop_levels` (``backend="numba"``), which
    holds its NumPy reference.

    Parameters
    ----------
    indptr, indices : CSR structure of a square adjacency (n, n); an entry
        ``(r, c)`` is an edge ``r -> c`` (for a symmetric Â, both ways).
    seeds : (m,) int64, node ids (repeats allowed)
    n_hops : int >= 0
    max_work : int
        Stop before a hop once the ball reached so far has this many stored
        entries in its rows (expanding it would scan them all; a ball that
        big is nearly the whole graph). ``indptr[-1] + 1`` never stops early.
    level : (n,) int32, overwritten: ``level[v]`` is the hop distance of
        ``v`` from the seeds if ``v`` was reached, else ``n_hops + 1``.

    Returns
    -------
    hops : int, the hops done (``<= n_hops``). ``S_h = {level <= h}`` is
        the exact ball for ``h <= hops``; beyond, it is not known.
    """
    n = level.shape[0]
    far = n_hops + 1
    for v in range(n):
        level[v] = far
    frontier = np.empty(n, dtype=np.int64)      # nodes in order of discovery
    m = 0
    work = 0
    for q in range(seeds.shape[0]):
        s = seeds[q]
        if level[s] != 0:
            level[s] = 0
            frontier[m] = s
            m += 1
            work += indptr[s + 1] - indptr[s]
    start = 0
    hops = 0
    for h in range(1, n_hops + 1):
        if work >= max_work:
            break
        end = m
        for q in range(start, end):
            r = frontier[q]
            for p in range(indptr[r], indptr[r + 1]):
                c = indices[p]
                if level[c] == far:
                    level[c] = h
                    frontier[m] = c
                    m += 1
                    work += indptr[c + 1] - indptr[c]
        start = end
        hops = h
    return hops


@njit(cache=True)
def row_blocks_of(indptr, rows, n_blocks):
    r"""Split ``rows`` into ``n_blocks`` contiguous blocks of about equal work.

    The work of row ``r`` is ``nnz_r + 1``. Block ``b`` is
    ``rows[bounds[b]:bounds[b+1]]``. Over every row (``rows = arange(n_rows)``) it is
    :func:`minigraphrec.kernels.spmm.all_row_blocks`, which needs no ``rows`` array.

    Returns
    -------
    bounds : (n_blocks + 1,) int64, non-decreasing, from 0 to ``len(rows)``.
    """
    m = rows.shape[0]
    total = 0
    for q in range(m):
        total += indptr[rows[q] + 1] - indptr[rows[q]] + 1
    bounds = np.empty(n_blocks + 1, dtype=np.int64)
    bounds[0] = 0
    q = 0
    done = 0
    for b in range(1, n_blocks):
        target = total * b // n_blocks
        while q < m and done < target:
            done += indptr[rows[q] + 1] - indptr[rows[q]] + 1
            q += 1
        bounds[b] = q
    bounds[n_blocks] = m
    return bounds


@intrinsic
def _prefetch(typingctx, X, i, j):
    r"""Ask the CPU to start loading the cache line of ``X[i, j]`` (2-d ``X``); values are unaffected.

    LLVM's ``llvm.prefetch`` (read, keep in all cache levels); on x86 it
    becomes ``prefetcht0``, which never faults.
    """
    def codegen(context, builder, signature, args):
        X_type, i_type, j_type = signature.args
        array = context.make_array(X_type)(context, builder, args[0])
        index = [context.cast(builder, args[1], i_type, types.intp),
                 context.cast(builder, args[2], j_type, types.intp)]
        ptr = cgutils.get_item_pointer(context, builder, X_type, array, index,
                                       wraparound=False, boundscheck=False)
        i8_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn_type = ir.FunctionType(ir.VoidType(), [i8_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8_ptr), ir.Constant(i32, 0),   # read,
                          ir.Constant(i32, 3), ir.Constant(i32, 1)])          # all levels, data
        return context.get_dummy_value()
    return types.void(X, i, j), codegen


#: how many stored entries ahead the rows of ``X`` are prefetched
AHEAD = 16


@njit(cache=True, inline="always")
def _accumulate(X, cols, weights, lo, hi, limit, r, out):
    r"""``out[r] += Σ_{lo<=q<hi} weights[q] · X[cols[q]]``, four entries at a time.

    While summing entry ``q`` it prefetches the row ``X[cols[q + AHEAD]]``
    (if ``q + AHEAD < limit``): the gathers of a sparse product wait on
    memory, and starting them early measured 1.2-1.3x faster on Gowalla.
    Inlined into the kernels; ``X`` and ``out`` are indexed element by
    element (no row views), which lets numba mark them as not aliasing
    inside a ``prange`` body, so LLVM vectorises the ``t`` loops without
    runtime overlap checks (1.3x on the arithmetic).
    """
    d = X.shape[1]
    line = 64 // X.itemsize                                  # elements per 64-byte cache line
    q = lo
    while q + 4 <= hi:
        if q + AHEAD + 4 <= limit:
            for a in range(AHEAD, AHEAD + 4):
                for t in range(0, d, line):
                    _prefetch(X, cols[q + a], t)
        c0, c1, c2, c3 = cols[q], cols[q + 1], cols[q + 2], cols[q + 3]
        w0, w1, w2, w3 = weights[q], weights[q + 1], weights[q + 2], weights[q + 3]
        for t in range(d):
            out[r, t] += ((w0 * X[c0, t] + w1 * X[c1, t]) + w2 * X[c2, t]) + w3 * X[c3, t]
        q += 4
    while q < hi:
        c0, w0 = cols[q], weights[q]
        for t in range(d):
            out[r, t] += w0 * X[c0, t]
        q += 1


@njit(cache=True, inline="always")
def _pull_row(indptr, indices, data, X, base, has_base, r, out):
    r"""``out[r] = base[r] + Σ_p data[p] · X[indices[p]]`` over row ``r``'s stored entries.

    The sum starts from ``base[r]`` (or 0 without ``has_base``): one pass over
    the row instead of a second one to add ``base``.
    """
    d = X.shape[1]
    if has_base:
        for t in range(d):
            out[r, t] = base[r, t]
    else:
        for t in range(d):
            out[r, t] = 0
    _accumulate(X, indices, data, indptr[r], indptr[r + 1], indices.shape[0], r, out)


@njit(cache=True, inline="always")
def _pull_row_masked(indptr, indices, data, X, level, max_level, r, cols, weights, out):
    r"""``out[r] = Σ_{p : level[indices[p]] <= max_level} data[p] · X[indices[p]]``.

    The kept neighbours are first collected into ``cols``/``weights``
    without a branch, then summed; the others are never read.
    """
    n_kept = 0
    for p in range(indptr[r], indptr[r + 1]):
        c = indices[p]
        cols[n_kept] = c                                     # written always, kept if near
        weights[n_kept] = data[p]
        n_kept += level[c] <= max_level
    for t in range(X.shape[1]):
        out[r, t] = 0
    _accumulate(X, cols, weights, 0, n_kept, n_kept, r, out)


@njit(cache=True, inline="always")
def _block_scratch(indptr, rows, lo, hi, col_dtype, weight_dtype):
    r"""Room for one row's kept entries, for any row of the block ``rows[lo:hi]``.

    Returns ``(cols, weights)``, empty arrays of ``col_dtype`` and
    ``weight_dtype`` as long as the block's widest row (its most stored
    entries). A row's kept neighbours are collected there, then summed by
    :func:`_accumulate`; one allocation serves the whole block.
    """
    width = 0
    for q in range(lo, hi):
        width = max(width, indptr[rows[q] + 1] - indptr[rows[q]])
    return np.empty(width, dtype=col_dtype), np.empty(width, dtype=weight_dtype)


@njit(cache=True, inline="always")
def pull_block(indptr, indices, data, X, base, has_base, rows, lo, hi, out):
    r"""``out[r] = base[r] + Σ_p data[p] · X[indices[p]]`` for ``r`` in ``rows[lo:hi]``, serially.

    Parameters
    ----------
    indptr, indices, data : CSR of Â (n, n); ``data`` in ``X``'s dtype
    X : (n, d), read only on the neighbours of the rows
    base : (n, d), read on the rows only if ``has_base`` (LightGCN: ``E0``)
    has_base : bool; without, ``out[r]`` is the sum alone
    rows : (m,) int64, distinct
    lo, hi : the block ``rows[lo:hi]``
    out : (n, d), written on the rows only; must not overlap ``X`` or ``base``.
    """
    for q in range(lo, hi):
        _pull_row(indptr, indices, data, X, base, has_base, rows[q], out)


@njit(parallel=True, cache=True)
def pull_rows(indptr, indices, data, X, base, has_base, rows, bounds, out):
    r""":func:`pull_block` on every block ``rows[bounds[b]:bounds[b+1]]``, blocks in parallel."""
    for b in prange(bounds.shape[0] - 1):
        pull_block(indptr, indices, data, X, base, has_base, rows, bounds[b], bounds[b + 1], out)


@njit(cache=True, inline="always")
def pull_block_masked(indptr, indices, data, X, level, max_level, rows, lo, hi, out):
    r"""``out[r] = Σ_{p : level[indices[p]] <= max_level} data[p] · X[indices[p]]``, ``r`` in ``rows[lo:hi]``.

    The neighbours farther than ``max_level`` are skipped, never read: ``X``
    need only be valid on the nodes with ``level <= max_level``.

    Parameters
    ----------
    indptr, indices, data : CSR of Â (n, n); ``data`` in ``X``'s dtype
    X : (n, d)
    level : (n,) int32, from :func:`bfs_levels`
    max_level : int
    rows : (m,) int64, distinct
    lo, hi : the block ``rows[lo:hi]``
    out : (n, d), written on the rows only; must not overlap ``X``.
    """
    cols, weights = _block_scratch(indptr, rows, lo, hi, indices.dtype, data.dtype)
    for q in range(lo, hi):
        _pull_row_masked(indptr, indices, data, X, level, max_level, rows[q], cols, weights, out)


@njit(parallel=True, cache=True)
def pull_rows_masked(indptr, indices, data, X, level, max_level, rows, bounds, out):
    r""":func:`pull_block_masked` on every block ``rows[bounds[b]:bounds[b+1]]``, in parallel."""
    for b in prange(bounds.shape[0] - 1):
        pull_block_masked(indptr, indices, data, X, level, max_level, rows, bounds[b],
                          bounds[b + 1], out)


@njit(parallel=True, cache=True)
def push_rows(indptr, indices, data, values, rows, bounds, out):
    r"""``out[c] += Σ_q data[p] · values[q]`` over the stored entries ``p = (rows[q], c)``.

    The scatter (push) form of ``out += Âᵀ V`` for a ``V`` that is nonzero
    on the rows ``rows`` only (``V[rows[q]] = values[q]``): it reads just
    those rows' entries, where a pull would scan every output row's. For a
    symmetric ``Â`` it is ``out += Â V``.

    The destinations are split into the id ranges ``[bounds[b],
    bounds[b+1])``, one task each, run in parallel: a task scans every
    entry and adds only those landing in its range, so no two threads write
    one row. Each ``out[c]`` receives its terms in the order of ``q``
    whatever the split, so the result does not depend on the thread count.

    Parameters
    ----------
    indptr, indices, data : CSR of Â (n, n); ``data`` in ``values``' dtype
    values : (m, d)
    rows : (m,) int64 (repeats allowed: each adds its terms)
    bounds : (k + 1,) int64, ascending, from 0 to n
    out : (n, d), updated in place; must not overlap ``values``.
    """
    d = values.shape[1]
    for b in prange(bounds.shape[0] - 1):
        lo, hi = bounds[b], bounds[b + 1]
        for q in range(rows.shape[0]):
            r = rows[q]
            for p in range(indptr[r], indptr[r + 1]):
                c = indices[p]
                if lo <= c < hi:
                    w = data[p]
                    for t in range(d):
                        out[c, t] += w * values[q, t]


@njit(cache=True)
def add_rows(out, rows, values):
    r"""``out[rows[q]] += values[q]`` for every ``q``.   values: (m, d).

    NumPy's ``out[rows] += values`` (gather, add, scatter through
    temporaries) in one pass, for distinct ``rows``; a repeated row gets every
    one of its values added (``np.add.at``), where NumPy's would keep the last.
    """
    for q in range(rows.shape[0]):
        r = rows[q]
        for t in range(out.shape[1]):
            out[r, t] += values[q, t]


@njit(parallel=True, cache=True)
def spread_rows(Y, rows, values, n_blocks):
    r"""``Y[:] = 0; Y[rows] = values`` in one pass: ``rows`` ascending and distinct.

    Y : (n, d), overwritten; rows : (m,) int64; values : (m, d). The rows of
    ``Y`` are cut into ``n_blocks`` ranges written in parallel, each row once
    (a copy or zeros), so the result is NumPy's bit for bit (tests/test_models.py)
    for any block or thread count.
    """
    n, d = Y.shape
    m = rows.shape[0]
    for b in prange(n_blocks):
        lo = n * b // n_blocks
        hi = n * (b + 1) // n_blocks
        q = np.searchsorted(rows, lo)
        for r in range(lo, hi):
            if q < m and rows[q] == r:
                for t in range(d):
                    Y[r, t] = values[q, t]
                q += 1
            else:
                for t in range(d):
                    Y[r, t] = 0
    return Y


@njit(cache=True, inline="always")
def _pull_compact_row(indptr, indices, data, X, r, q, out):
    r"""``out[q] = Σ_p data[p] · X[indices[p]]`` over row ``r``'s stored entries."""
    for t in range(X.shape[1]):
        out[q, t] = 0
    _accumulate(X, indices, data, indptr[r], indptr[r + 1], indices.shape[0], q, out)


@njit(cache=True, inline="always")
def pull_compact_block(indptr, indices, data, X, rows, lo, hi, out):
    r"""``out[q] = Σ_p data[p] · X[indices[p]]`` over row ``rows[q]``, ``q`` in ``lo..hi-1``, serially.

    The compact twin of :func:`pull_block`: output row ``q`` belongs to node
    ``rows[q]`` (``out`` is (len(rows), d), not (n, d)); the reference is
    ``A[rows] @ X``. Same summation order as :func:`pull_block`.

    Parameters
    ----------
    indptr, indices, data : CSR of Â (n_out, n_in); ``data`` in ``X``'s dtype
    X : (n_in, d), read only on the neighbours of the rows
    rows : (m,) int64
    lo, hi : the block ``rows[lo:hi]``
    out : (m, d), written on ``lo..hi-1``; must not overlap ``X``.
    """
    for q in range(lo, hi):
        _pull_compact_row(indptr, indices, data, X, rows[q], q, out)


@njit(parallel=True, cache=True)
def pull_compact_rows(indptr, indices, data, X, rows, bounds, out):
    r""":func:`pull_compact_block` on every block ``rows[bounds[b]:bounds[b+1]]``, in parallel."""
    for b in prange(bounds.shape[0] - 1):
        pull_compact_block(indptr, indices, data, X, rows, bounds[b], bounds[b + 1], out)


@njit(cache=True, inline="always")
def _pull_indirect_row(indptr, indices, data, Y, pos, r, q, cols, weights, out):
    r"""``out[q] = Σ_{p : pos[indices[p]] >= 0} data[p] · Y[pos[indices[p]]]`` over row ``r``."""
    n_kept = 0
    for p in range(indptr[r], indptr[r + 1]):
        c = pos[indices[p]]
        cols[n_kept] = c                                     # written always, kept if stored
        weights[n_kept] = data[p]
        n_kept += c >= 0
    for t in range(Y.shape[1]):
        out[q, t] = 0
    _accumulate(Y, cols, weights, 0, n_kept, n_kept, q, out)


@njit(cache=True, inline="always")
def pull_indirect_block(indptr, indices, data, Y, pos, rows, lo, hi, out):
    r"""``out[q] = Σ_p data[p] · Y[pos[indices[p]]]`` over row ``rows[q]``'s entries with ``pos >= 0``.

    A product whose input is stored compactly: node ``c`` is row ``pos[c]``
    of ``Y`` (or absent, ``pos[c] = -1``, and skipped, as a zero row would
    add nothing). NumPy reference: with ``Y_full`` the (n, d) array holding
    ``Y[pos[c]]`` on the stored nodes and 0 elsewhere, ``out = A[rows] @ Y_full``.
    Serial over ``q`` in ``lo..hi-1``; the kept entries of a row are summed
    in storage order, four at a time (as :func:`pull_block`).

    Parameters
    ----------
    indptr, indices, data : CSR of Â (n_out, n); ``data`` in ``Y``'s dtype
    Y : (k, d); pos : (n,) int64, ``-1`` or a row of ``Y``
    rows : (m,) int64; lo, hi : the block
    out : (m, d), written on ``lo..hi-1``; must not overlap ``Y``.
    """
    cols, weights = _block_scratch(indptr, rows, lo, hi, pos.dtype, data.dtype)
    for q in range(lo, hi):
        _pull_indirect_row(indptr, indices, data, Y, pos, rows[q], q, cols, weights, out)


@njit(parallel=True, cache=True)
def pull_indirect_rows(indptr, indices, data, Y, pos, rows, bounds, out):
    r""":func:`pull_indirect_block` on every block ``rows[bounds[b]:bounds[b+1]]``, in parallel."""
    for b in prange(bounds.shape[0] - 1):
        pull_indirect_block(indptr, indices, data, Y, pos, rows, bounds[b], bounds[b + 1], out)
