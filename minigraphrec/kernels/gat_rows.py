r"""numba kernels for a GAT layer restricted to some receiving rows (batch-local attention).

Raw arrays only, no validation: :class:`minigraphrec.models.gat.GAT`
prepares the inputs. The NumPy/SciPy reference is the full-graph layer,
:func:`minigraphrec.ops.attention.gat_layer_forward` /
``gat_layer_backward`` (whose numba kernels are in
:mod:`minigraphrec.kernels.segment`): restricted to the rows ``rows``,
these kernels compute the same values to rounding (tests/test_gat_rows.py
compares each kernel with the layer written in NumPy, tests/test_gat.py the
model's two paths); where the order differs is said in each kernel's docstring.

Layout. The layer is computed for the receiving nodes ``rows`` (m,) only.
Per-edge arrays are (nnz, n_heads) in the graph's storage order, written
(and read) only on the edges of those rows; the two the backward scatter
reads (the dropped coefficients, the logits' gradients) are written in the
transpose's order instead (``x_T[inv_perm[k]]``), so the scatter reads
them in sequence and no ``x[perm]`` gather is made. Senders are read through ``pos``
(node id -> row of the compact node arrays ``Z``, ``s_src``, ``s_dst``), so
only the nodes within one hop of ``rows`` need ``Z``.

Memory. The gathers of node rows (``Z[pos[u]]``, ``dY[q]``) wait on memory;
each kernel asks for the rows of a row's first :data:`AHEAD` edges as soon
as it starts the row (:func:`_prefetch_first`), and for the rest
:data:`AHEAD` edges ahead. (Prefetching only ahead within a row left the
first sixteen gathers of every row waiting: the backward kernel measured
1.3-1.6x slower, one thread, on Gowalla.) Prefetches change no value.

Determinism. Each receiving row (forward, backward) or each sending node
(the transposed scatter) is handled by one thread, summing in a fixed
order: the same bits for any thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .propagate_rows import _accumulate, _block_scratch, _prefetch
from .segment import _exp_and_sum

#: how many edges ahead the gathered node rows are prefetched
AHEAD = 16


@njit(cache=True, inline="always")
def _prefetch_row(X, i):
    r"""Start loading row ``i`` of the 2-d ``X`` into the cache (values unaffected)."""
    line = 64 // X.itemsize
    for t in range(0, X.shape[1], line):
        _prefetch(X, i, t)

@njit(cache=True, inline="always")
def _prefetch_first(X, indices, pos, start, end):
    r"""Prefetch ``X[pos[indices[k]]]`` for the first :data:`AHEAD` edges ``k`` of ``start..end``."""
    for k in range(start, min(end, start + AHEAD)):
        _prefetch_row(X, pos[indices[k]])


__all__ = ["gat_forward_rows", "gat_backward_rows", "gat_scatter_rows"]


@njit(parallel=True, cache=True)
def gat_forward_rows(indptr, indices, rows, bounds, pos, s_src, s_dst, slope, log_w, beta,
                     has_w, U, p, scale, Z, e, alpha, inv_perm, alpha_drop_T, Y):
    r"""Logits, edge softmax, attention dropout and the aggregate, for the receivers ``rows``.

    For row ``v = rows[q]`` and each of its edges ``k`` (sender
    ``u = indices[k]``), per head ``h``:

    * ``x = s_src[pos[u], h] + s_dst[pos[v], h]``;
      ``e[k, h] = x if x > 0 else slope · x`` (kept: its sign is the
      LeakyReLU branch the backward pass needs, as ``slope >= 0``);
    * ``l = e[k, h] (+ log_w[k] · beta[h] with has_w)``;
      ``alpha[k, h] = exp(l_k - max_row l) / Σ_row exp(l - max_row l)``;
    * ``alpha_drop_T[inv_perm[k], h] = alpha[k, h] · (scale if U[k, h] >= p else 0)``
      (the dropped coefficient, stored in the transpose's order, where the
      backward scatter reads it)
      (``p = 0``: ``alpha``), the full graph's dropout draws;
    * ``Y[q, h, :] = Σ_k alpha_drop[k, h] · Z[pos[u], h, :]``, edges in
      storage order, four at a time with prefetching
      (:func:`~minigraphrec.kernels.propagate_rows._accumulate`; an empty
      row gives 0).

    The logits are the full-graph kernel's
    (:func:`~minigraphrec.kernels.segment.gat_scores_rows`) bit for bit. The
    softmax is ``edge_softmax_rows``' in the same order, bit for bit in
    float64; in float32 its exponentials and their sum are float64 (the row
    maximum ``m`` starts from the float64 ``-inf``, so ``x - m`` is float64,
    :func:`~minigraphrec.kernels.segment._exp_and_sum`), equal to rounding. The
    aggregate groups its sum by four (equal to ``aggregate_rows`` to rounding).

    Parameters
    ----------
    indptr, indices : the CSR structure of the attention graph (n, n)
    rows : (m,) int64, distinct; bounds : (n_blocks + 1,) int64, row blocks run in
        parallel (:func:`~minigraphrec.kernels.propagate_rows.row_blocks_of`);
    pos : (n,) int64, node -> row of ``Z``/``s_*``
    s_src, s_dst : (n_in, H); Z : (n_in, H, d); slope, scale : Z's dtype
    log_w : (nnz,) Z's dtype (unread without ``has_w``); beta : (H,)
    U : (nnz, H) float64 uniform draws (unread when ``p == 0``); p : float
    e, alpha : (nnz, H), written on the rows' edges only;
    inv_perm : (nnz,) int64, edge -> its entry in the transpose
        (``inv_perm[perm] = arange(nnz)``, ``perm`` from
        :func:`~minigraphrec.ops.attention.csr_transpose`);
    alpha_drop_T : (nnz, H), written on the entries of the rows' edges;
    Y : (m, H, d), overwritten.
    """
    H = Z.shape[1]
    Z2 = Z.reshape(Z.shape[0], H * Z.shape[2])             # (n_in, H d), C-contiguous
    Y2 = Y.reshape(Y.shape[0], H * Y.shape[2])
    for b in prange(bounds.shape[0] - 1):
        lo, hi = bounds[b], bounds[b + 1]
        cols, weights = _block_scratch(indptr, rows, lo, hi, pos.dtype, Z.dtype)  # senders, coefs
        for q in range(lo, hi):
            v = rows[q]
            start, end = indptr[v], indptr[v + 1]
            pv = pos[v]
            _prefetch_first(Z2, indices, pos, start, end)  # the aggregate's first gathers
            for h in range(H):
                Yh = Y[:, h, :]
                for c in range(Y.shape[2]):
                    Yh[q, c] = 0
                if start == end:
                    continue
                m = -np.inf
                for k in range(start, end):
                    x = s_src[pos[indices[k]], h] + s_dst[pv, h]
                    x = x if x > 0 else slope * x
                    e[k, h] = x
                    if has_w:
                        x = x + log_w[k] * beta[h]
                    alpha[k, h] = x
                    if x > m:
                        m = x
                s = _exp_and_sum(alpha, start, end, h, m, alpha)
                for k in range(start, end):
                    a = alpha[k, h] / s
                    alpha[k, h] = a
                    if p > 0:
                        a = a * (scale if U[k, h] >= p else Z.dtype.type(0))
                    alpha_drop_T[inv_perm[k], h] = a
                    cols[k - start] = pos[indices[k]]
                    weights[k - start] = a
                if H == 1:                                 # contiguous rows: vectorised
                    _accumulate(Z2, cols, weights, 0, end - start, end - start, q, Y2)
                else:
                    _accumulate(Z[:, h, :], cols, weights, 0, end - start, end - start, q, Yh)


@njit(cache=True, fastmath={"reassoc"})
def _dot(A, i, h, B, j):
    r"""``Σ_c A[i, h, c] · B[j, h, c]``, summed in the order the compiled code picks.

    The one place where this module lets LLVM reassociate (``fastmath={"reassoc"}``,
    on this function only; it is compiled apart, so the flag stays on its own
    instructions when LLVM inlines it): the 64 products are then added in vector lanes,
    which made the backward kernel 1.6-1.7x faster on Gowalla (one thread: 74 -> 43 ms on
    the first layer's 1.5M edges; an ad-hoc timing of 2026-12-04, commit 8b4c9e5, not
    recorded in benchmarks/results) than eight scalar running sums in a written order. The
    order is fixed by the machine code, so the bits are the same on every call and for any
    thread count on one machine; another CPU's vector width may group the terms otherwise
    (equal to rounding, as the full-graph reference is: tests/test_gat.py).
    """
    s = A.dtype.type(0)
    for c in range(A.shape[2]):
        s += A[i, h, c] * B[j, h, c]
    return s


@njit(parallel=True, cache=True)
def gat_backward_rows(indptr, indices, rows, bounds, pos, Z, dY, e, alpha, U, p, scale, slope,
                      log_w, has_w, inv_perm, dpre, dpre_T, ds_dst, dbeta_rows):
    r"""Per-edge gradients of :func:`gat_forward_rows`, for the receivers ``rows``.

    For edge ``k`` of row ``v = rows[q]`` (sender ``u``), per head ``h``:
    ``dad = <dY[q, h], Z[pos[u], h]>`` (:func:`_dot`, vector lanes);
    ``da = dad · mask`` (the dropout
    mask again); ``de = alpha (da - Σ_row alpha · da)``;
    ``dpre_T[inv_perm[k], h] = de if e[k, h] > 0 else slope · de`` (in the
    transpose's order, for the scatter; ``dpre`` (nnz, H) holds ``da`` in
    between);
    ``ds_dst[q, h] = Σ_row dpre``; ``dbeta_rows[q, h] = Σ_row de · log_w``.
    ``dpre``, ``dpre_T`` written on the rows' edges; ``ds_dst``, ``dbeta_rows``
    (m, H) overwritten. ``bounds``: blocks of ``rows`` run in parallel (as
    :func:`gat_forward_rows`). The same operations and order as the full-graph
    kernels ``edge_dot_rows`` (but its dot product in vector lanes),
    ``edge_softmax_backward_rows`` and ``segment_sum_rows``.
    """
    H = Z.shape[1]
    Z2 = Z.reshape(Z.shape[0], H * Z.shape[2])
    for blk in prange(bounds.shape[0] - 1):             # blocks of about equal work
        for q in range(bounds[blk], bounds[blk + 1]):
            v = rows[q]
            start, end = indptr[v], indptr[v + 1]
            _prefetch_first(Z2, indices, pos, start, end)
            for h in range(H):
                s = Z.dtype.type(0)
                for k in range(start, end):
                    if h == 0 and k + AHEAD < end:             # the gathers wait on memory
                        _prefetch_row(Z2, pos[indices[k + AHEAD]])
                    g = _dot(dY, q, h, Z, pos[indices[k]])
                    if p > 0:
                        g = g * (scale if U[k, h] >= p else Z.dtype.type(0))
                    dpre[k, h] = g                                   # dalpha, for now
                    s += alpha[k, h] * g
                t_d = Z.dtype.type(0)
                t_b = Z.dtype.type(0)
                for k in range(start, end):
                    de = alpha[k, h] * (dpre[k, h] - s)
                    if has_w:
                        t_b += de * log_w[k]
                    g = de if e[k, h] > 0 else de * slope
                    dpre_T[inv_perm[k], h] = g
                    t_d += g
                ds_dst[q, h] = t_d
                dbeta_rows[q, h] = t_b


@njit(parallel=True, cache=True)
def gat_scatter_rows(t_indptr, t_indices, targets, bounds, pos_R, alpha_T, dpre_T, dY, ds_dst,
                     a_src, a_dst, dZ, ds_src):
    r"""The senders' sums: ``dZ[i] = Σ alpha_drop · dY[q]``, ``ds_src[i] = Σ dpre``.

    For target ``u = targets[i]``, over the transposed entries ``t`` of
    column ``u`` (``t_indptr[u] ..``; receiver ``v = t_indices[t]``) whose
    receiver was computed (``q = pos_R[v] >= 0``), in the transposed
    storage order, per head (``dZ`` summed four entries at a time, with
    prefetching, :func:`~minigraphrec.kernels.propagate_rows._accumulate`).
    ``alpha_T``, ``dpre_T`` (nnz, H) are the per-edge values in transposed
    order (NumPy: ``alpha_drop[perm]``; the other kernels write them there
    directly), read only where the receiver was computed. The first
    :data:`AHEAD` kept rows of ``dY`` are prefetched while they are
    collected. ``bounds``: blocks of ``targets`` run in parallel. Then the
    logits' share is added, ``dZ[i, h] += ds_src[i, h] a_src[h] + ds_dst[i, h]
    a_dst[h]`` (``ds_dst`` (len(targets), H), zero off the receivers), as
    ``gat_layer_backward`` does. ``dZ`` (len(targets), H, d) and ``ds_src``
    (len(targets), H) overwritten.
    """
    H = dZ.shape[1]
    dY2 = dY.reshape(dY.shape[0], H * dY.shape[2])         # C-contiguous 2-d views
    dZ2 = dZ.reshape(dZ.shape[0], H * dZ.shape[2])
    for b in prange(bounds.shape[0] - 1):
        lo, hi = bounds[b], bounds[b + 1]
        cols, weights = _block_scratch(t_indptr, targets, lo, hi, pos_R.dtype, dZ.dtype)
        for i in range(lo, hi):
            u = targets[i]
            for h in range(H):
                n_kept = 0
                acc_s = dZ.dtype.type(0)
                for t in range(t_indptr[u], t_indptr[u + 1]):
                    q = pos_R[t_indices[t]]
                    if q >= 0:
                        if h == 0 and n_kept < AHEAD:      # the first gathers of dY
                            _prefetch_row(dY2, q)
                        cols[n_kept] = q
                        weights[n_kept] = alpha_T[t, h]
                        acc_s += dpre_T[t, h]
                        n_kept += 1
                ds_src[i, h] = acc_s
                dZh = dZ[:, h, :]
                for c in range(dZ.shape[2]):
                    dZh[i, c] = 0
                if H == 1:                                 # contiguous rows: vectorised
                    _accumulate(dY2, cols, weights, 0, n_kept, n_kept, i, dZ2)
                else:
                    _accumulate(dY[:, h, :], cols, weights, 0, n_kept, n_kept, i, dZh)
                g_src, g_dst = acc_s, ds_dst[i, h]
                for c in range(dZ.shape[2]):
                    dZh[i, c] = dZh[i, c] + (g_src * a_src[h, c] + g_dst * a_dst[h, c])

