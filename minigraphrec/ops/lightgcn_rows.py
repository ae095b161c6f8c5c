r"""LightGCN's propagation restricted to a batch's neighbourhood: same numbers, less work.

``E = 1/(K+1) Σ_{k=0..K} Â^k E0`` (LightGCN's encoder,
:func:`minigraphrec.ops.lightgcn_forward` on every row) is needed
by a mini-batch on its own rows ``S_0`` only. Let ``S_h`` be the nodes
within ``h`` hops of ``S_0`` (:func:`~minigraphrec.ops.hop_levels`). Written in Horner form,
``Σ_k Â^k E0 = V_K`` with ``V_0 = E0``, ``V_j = E0 + Â V_{j-1}``, and row
``r`` of ``V_j`` needs ``V_{j-1}`` on ``r``'s neighbours only; so computing
``V_j`` on ``S_{K-j}`` alone is exact:

.. math::  V_j[S_{K-j}] = E_0[S_{K-j}] + \hat A[S_{K-j}, :]\, V_{j-1}, \qquad
           E[S_0] = V_K[S_0] / (K+1).

The backward pass is the transpose. With ``G`` the gradient of ``E[S_0]``
divided by ``K+1`` (zero off ``S_0``), ``dE0 = Σ_k (Âᵀ)^k G = T_K`` where
``T_0 = G``, ``T_k = G + Âᵀ T_{k-1}``; ``T_{k-1}`` is zero off ``S_{k-1}``
and ``Â`` is symmetric, so

.. math::  T_k[S_k] = G[S_k] + \hat A[S_k, S_{k-1}]\, T_{k-1}[S_{k-1}],
           \qquad T_k = 0 \text{ off } S_k .

:func:`~minigraphrec.ops.lightgcn_rows_forward` and
:func:`~minigraphrec.ops.lightgcn_rows_backward` compute exactly this, by SciPy row slices (``backend="numpy"``, the readable
reference) or by the kernels of :mod:`minigraphrec.kernels.propagate_rows`
(``backend="numba"``). The two backends give the same bits (tests/test_backend_bits.py):
the reference takes the same balls (the numba shortcuts below included) and sums every
row in the kernels' order, ``sum_by_fours`` (four stored entries at a time, in storage
order, then the last ones one by one), except the first backward hop, which both sum as
SciPy does (one entry after the other; the kernel pushes in the order of ``nodes``, so
this needs a symmetric ``Â`` whose rows store their columns in ascending order, SciPy's
canonical form, as LightGCN's ``Â``). Both equal the full-graph
:func:`~minigraphrec.ops.lightgcn_forward` /
:func:`~minigraphrec.ops.lightgcn_backward` to rounding (tested in float64 to 1e-12), and the
pair is gradient-checked in ``tests/test_gradients.py``. On Gowalla (64
dims, 3 layers, batches of 2048) the balls cover nearly the whole graph
after two hops, so the saving is the last hops: about 3.4M instead of 4.9M
stored entries per pass.

Three shortcuts of the numba path, all exact: (1) any superset of ``S_h``
works in the recurrences (a row outside the true ball just computes the
zero or unused value it should), so the ball search stops once a ball's rows
hold half of the graph's entries and takes every node beyond; (2) the first
backward hop, ``T_1 = G + Â G``, is pushed (scattered) from the rows of
``S_0``, which reads only their entries instead of scanning every row of
``S_1`` (on Gowalla 0.2M instead of 1.4M entries); (3) later hops read
``T_{k-1}`` only on ``S_{k-1}`` (the entries pointing elsewhere are
skipped), unless the buffer is valid on every row (zeroed whole, or
computed on every row), when the plain product is cheaper.

Inputs. ``Â`` must be symmetric (LightGCN's ``D^{-1/2} A D^{-1/2}`` of an
undirected graph, with or without edge weights): the backward recurrence
uses ``Â`` for ``Âᵀ``, so a non-symmetric ``Â`` (a row normalisation
``D^{-1} A``) gives a right forward pass and a wrong gradient.
:func:`~minigraphrec.ops.lightgcn_rows_backward` checks it after the checked
:func:`~minigraphrec.ops.lightgcn_rows_forward` (for ``K >= 1``: an O(nnz)
transpose, 12 ms on Gowalla's 1.6M stored entries, which a forward pass alone,
e.g. ``LightGCN.score_history``, does not pay) and refuses a difference
``|Â_rc - Â_cr|`` above ``sqrt(eps) · max|Â|`` in the computation dtype
(1.5e-8 · max|Â| in float64, 3.5e-4 · max|Â| in float32; smaller ones are
rounding and change the gradient by as little), naming the first such
``(r, c)``; use :func:`~minigraphrec.ops.lightgcn_forward` with ``A_hat_T``
for such an operator. The model's training steps call the unchecked
``lightgcn_rows_core`` on its own graph, whose caches skip the check. The rest of the checks and the dtype rule are
those of every propagation op (:mod:`minigraphrec.ops.propagate`: sparse
``A_hat`` only here, its values real, finite, cast to ``E0``'s dtype).
Rejected inputs raise :class:`~minigraphrec.errors.DataError` (shape,
dtype, range, order of ``nodes``, ``K``, backend; symmetry in the backward
pass), ``TypeError``
only for an argument of the wrong kind (``A_hat`` not sparse, ``workspace``
not a dict).

The two backends give the same bits for an exactly symmetric ``Â`` whose rows store their
columns in ascending order (the first backward hop, above): every ``Â`` the models build
(SciPy's canonical form). The checked wrapper sorts the indices of a copy of an ``Â``
that has them unsorted, so that this holds for any exactly symmetric input.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import (DataError, check_backend, check_float_array, check_finite_sparse,
                      check_grad_shape, check_ids, check_int, check_out, check_real_sparse)
from ._row_work import PARALLEL_FROM, push_bounds, row_blocks, rows_nnz
from .sparse import _cast_data, as_csr

__all__ = ["hop_levels", "lightgcn_rows_forward", "lightgcn_rows_backward"]

#: below this many stored entries a product runs serially; read at each call (the tests set
#: it to 0 here to run the blocked, parallel kernels on small graphs)
_PARALLEL_FROM = PARALLEL_FROM


# ==================================================================== balls
def hop_levels(A_hat, nodes, n_hops, backend="numba"):
    r"""Hop levels: ``level[v] = dist(v)`` if ``dist(v) <= hops``, else ``n_hops + 1``.

    ``dist(v)`` is the hop distance of ``v`` from the seeds (infinite if
    unreachable) and ``hops <= n_hops`` the number of hops done, returned
    with ``level``: ``n_hops`` on the NumPy backend, so there ``level =
    min(dist, n_hops + 1)``; possibly fewer on numba, which may stop early
    (below), so the two backends' ``level`` can differ for nodes beyond
    ``hops``. The contract both keep: ``S_h = {v : level[v] <= h}`` is
    exactly the ball of radius ``h`` around the seeds for every ``h <=
    hops``. Row ``r`` of ``A_hat`` links ``r`` to the nodes it stores.

    Parameters
    ----------
    A_hat : scipy sparse (n, n), CSR (other formats are converted, a copy)
    nodes : int array (m,), each in ``0 .. n-1`` (repeats allowed)
    n_hops : int >= 0
    backend : "numba" or "numpy"
        The numba kernel stops early once the ball's rows hold half of the
        graph's stored entries (such a ball is nearly the whole graph, and
        one more hop would scan all of them): then ``hops < n_hops``.

    Returns
    -------
    level : int32 (n,)
    hops : int ``<= n_hops``, ``S_h`` is exact for ``h <= hops``; for larger
        ``h`` callers take every node (a superset, which keeps the
        propagation exact).
    """
    check_backend(backend)
    A_hat = _check_square(A_hat)
    nodes = check_ids(nodes, "nodes", A_hat.shape[0])
    return hop_levels_core(A_hat, nodes, check_int(n_hops, "n_hops", at_least=0), backend)


def hop_levels_core(A_hat, nodes, n_hops, backend):
    """Unchecked core of :func:`hop_levels`, for the models' batches (every batch of GCN,
    NGCF and GAT through :func:`~minigraphrec.models.embedding_base.hop_balls`):
    ``A_hat`` CSR (n, n), ``nodes`` int64 in range, ``n_hops`` an int >= 0."""
    n = A_hat.shape[0]
    if backend == "numba":
        from ..kernels.propagate_rows import bfs_levels
        level = np.empty(n, dtype=np.int32)
        hops = bfs_levels(A_hat.indptr, A_hat.indices, nodes, n_hops, A_hat.nnz // 2, level)
        return level, int(hops)
    level = np.full(n, n_hops + 1, dtype=np.int32)
    level[nodes] = 0
    for h in range(1, n_hops + 1):
        ball = np.flatnonzero(level < h)                      # S_{h-1}
        reached = A_hat[ball].indices                         # their neighbours
        level[reached] = np.minimum(level[reached], h)
    return level, n_hops


def _levels(A_hat, nodes, n_hops, backend):
    r""":func:`hop_levels_core` with the numba kernel's early stop on both backends.

    The numba search stops before hop ``h`` once ``S_{h-1}``'s rows hold half of the
    graph's stored entries; the NumPy reference finds the exact levels, then stops at the
    same hop (and forgets the levels beyond it), so that both backends take the same balls
    and the same supersets, hence the same sums (see :func:`sum_by_fours`).
    """
    if backend == "numba":
        return hop_levels_core(A_hat, nodes, n_hops, backend)
    level, _ = hop_levels_core(A_hat, nodes, n_hops, backend)
    degree = np.diff(A_hat.indptr)
    hops = n_hops
    for h in range(1, n_hops + 1):
        if degree[level <= h - 1].sum() >= A_hat.nnz // 2:    # the kernel's max_work
            hops = h - 1
            break
    level[level > hops] = n_hops + 1
    return level, hops


def sum_by_fours(B, X, start=None):
    r"""``start + B @ X`` (``B`` CSR (m, n), ``X`` (n, d)), added in the numba kernels' order.

    Row ``r`` starts from ``start[r]`` (0 without ``start``) and takes its stored entries
    in storage order, four at a time, ``out[r] += ((p0 + p1) + p2) + p3`` with ``p =
    w · X[c]`` (one term per entry ``(r, c)`` of value ``w``), then the last 0-3 one by
    one, ``out[r] += p``: the order of
    :func:`~minigraphrec.kernels.propagate_rows._accumulate`, so the NumPy reference and
    the kernels give the same bits. (SciPy's ``B @ X`` adds the terms one after the other;
    a kernel adding in that order measured 6-9 % slower on one thread.) The reference pays
    for it instead, in its loop over groups of four: with ``backend="numpy"`` a LightGCN
    epoch on the built-in data took 0.357 s against 0.111 s with SciPy's product (3.2x; a
    review's 12 alternating runs, 2026-12-07), a forward pass on Gowalla 0.70 s against
    0.13 s.
    """
    out = np.zeros((B.shape[0], X.shape[1]), dtype=X.dtype) if start is None else start.copy()
    count, first = np.diff(B.indptr), B.indptr[:-1]
    longest_first = np.argsort(-count, kind="stable")        # rows by number of entries
    groups = count[longest_first] // 4                       # (m,), non-increasing

    def terms(k):                                            # (len(k), d), w · X[c] of entries k
        return B.data[k][:, None] * X[B.indices[k]]

    for g in range(int(groups[0]) if groups.size else 0):    # the g-th four entries of a row
        r = longest_first[:np.searchsorted(-groups, -g, side="left")]   # rows with > g groups
        k = first[r] + 4 * g
        out[r] += ((terms(k) + terms(k + 1)) + terms(k + 2)) + terms(k + 3)
    for i in range(3):                                       # the entries left, one by one
        r = np.flatnonzero(count % 4 > i)
        out[r] += terms(first[r] + count[r] // 4 * 4 + i)
    return out


def _keep_columns(B, keep):
    """``B`` (CSR) with only its entries whose column ``c`` has ``keep[c]``, in storage order
    (the entries a masked kernel reads; stored zeros are kept, as the kernel keeps them)."""
    kept = keep[B.indices]
    row = np.repeat(np.arange(B.shape[0]), np.diff(B.indptr))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row[kept], minlength=B.shape[0]))])
    return sp.csr_matrix((B.data[kept], B.indices[kept], indptr), shape=B.shape)


def _ball(level, hops, h, n):
    """The rows of ``S_h``, ascending: exact for ``h <= hops``, else all ``n`` nodes."""
    return np.flatnonzero(level <= h) if h <= hops else np.arange(n)


# =============================================================== validation
def _check_square(A_hat):
    A_hat = as_csr(A_hat, "A_hat")                        # TypeError if not sparse
    if A_hat.shape[0] != A_hat.shape[1]:
        raise DataError(f"A_hat must be square (n, n), got shape {A_hat.shape}")
    return A_hat


def _check_symmetric(A_hat):
    r"""DataError unless the CSR ``A_hat`` (float, finite) equals its transpose to
    ``sqrt(eps) · max|A_hat|`` (module docstring), naming the first asymmetric ``(r, c)``
    in storage order and both values. O(nnz): a transpose, compared entry by entry when
    both are canonical (sorted, no duplicates), else through ``A_hat - A_hatᵀ``."""
    nnz = A_hat.indptr[-1]
    if nnz == 0:
        return
    data = A_hat.data[:nnz]
    tol = np.sqrt(np.finfo(A_hat.dtype).eps) * np.abs(data).max()
    T = A_hat.T.tocsr()                                   # sorted indices
    if (A_hat.has_canonical_format and np.array_equal(A_hat.indptr, T.indptr)
            and np.array_equal(A_hat.indices[:nnz], T.indices)
            and np.abs(data - T.data).max() <= tol):
        return
    D = (A_hat - T).tocsr()                               # canonical, duplicates summed
    bad = np.abs(D.data) > tol
    if not bad.any():
        return
    p = int(np.flatnonzero(bad)[0])
    r, c = int(np.searchsorted(D.indptr, p, side="right")) - 1, int(D.indices[p])
    raise DataError(f"A_hat must be symmetric (the backward pass uses Â for Âᵀ), but "
                    f"A_hat[{r}, {c}] = {A_hat[r, c]} and A_hat[{c}, {r}] = {A_hat[c, r]} "
                    f"differ by more than {tol:.3g} (sqrt(eps) times max |A_hat|); for a "
                    "non-symmetric operator use lightgcn_forward with A_hat_T")


def _check_rows_args(A_hat, E0, K, nodes, backend, workspace):
    check_backend(backend)
    A_hat = check_real_sparse(_check_square(A_hat), "A_hat")
    n = A_hat.shape[0]
    K = check_int(K, "K (the number of layers)", at_least=0)
    E0 = check_float_array(E0, "E0")
    if E0.ndim != 2 or E0.shape[0] != n:
        raise DataError(f"E0 must have shape ({n}, d) to match A_hat {A_hat.shape}, got {E0.shape}")
    A_hat = _cast_data(check_finite_sparse(A_hat, "A_hat", E0.dtype), E0.dtype)   # as stored
    if not A_hat.has_sorted_indices:      # the backends' same bits need sorted rows
        A_hat = A_hat.sorted_indices()
    nodes = check_ids(nodes, "nodes", n)
    if nodes.size > 1 and np.any(nodes[1:] <= nodes[:-1]):
        at = int(np.flatnonzero(nodes[1:] <= nodes[:-1])[0]) + 1
        raise DataError(f"nodes must be distinct and ascending (np.unique gives that), but "
                        f"nodes[{at}] = {nodes[at]} follows {nodes[at - 1]}")
    if workspace is not None and not isinstance(workspace, dict):
        raise TypeError(f"workspace must be a dict or None, got {type(workspace).__name__}")
    return A_hat, np.ascontiguousarray(E0), K, nodes


# ============================================================ row products
def _pull(A_hat, X, rows, out, base=None, level=None, max_level=0):
    r"""``out[rows] = base[rows] + Â[rows] X`` (``base`` None: the sum alone).

    With ``level``, only the neighbours with ``level <= max_level`` count
    (and ``base`` is not used).
    """
    from numba import parallel_chunksize
    from ..kernels import propagate_rows as k
    indptr, indices, data = A_hat.indptr, A_hat.indices, A_hat.data
    has_base = base is not None
    base = X if base is None else base
    if rows_nnz(indptr, rows) < _PARALLEL_FROM:
        if level is None:
            k.pull_block(indptr, indices, data, X, base, has_base, rows, 0, rows.shape[0], out)
        else:
            k.pull_block_masked(indptr, indices, data, X, level, max_level, rows, 0,
                                rows.shape[0], out)
        return
    bounds = row_blocks(indptr, rows)
    with parallel_chunksize(1):           # threads take blocks one by one as they come free
        if level is None:
            k.pull_rows(indptr, indices, data, X, base, has_base, rows, bounds, out)
        else:
            k.pull_rows_masked(indptr, indices, data, X, level, max_level, rows, bounds, out)


# ================================================================== forward
def lightgcn_rows_forward(A_hat, E0, K, nodes, backend="numba", workspace=None):
    r"""Rows ``nodes`` of LightGCN's ``E = 1/(K+1) Σ_k Â^k E0``, touching only their K-hop ball.

    See the module docstring for the recurrence.

    Parameters
    ----------
    A_hat : scipy sparse (n, n), usually CSR, symmetric (LightGCN's
        ``D^{-1/2} A D^{-1/2}``; checked, module docstring); real, finite values,
        cast to ``E0``'s dtype (a copy per call unless they have it)
    E0 : ndarray (n, d), float32 or float64
    K : int >= 0
    nodes : int array (m,), distinct, ascending
    backend : "numba" (parallel kernels) or "numpy" (SciPy row slices)
    workspace : dict or None
        Scratch arrays kept between calls (the model passes one); created
        on demand. Saves allocating two (n, d) arrays per call.

    Returns
    -------
    E_rows : ndarray (m, d), ``E[nodes]``
    cache : for :func:`lightgcn_rows_backward`, which checks that ``A_hat`` is symmetric
        (module docstring).
    """
    A_hat, E0, K, nodes = _check_rows_args(A_hat, E0, K, nodes, backend, workspace)
    E_rows, cache = lightgcn_rows_core(A_hat, E0, K, nodes, backend, workspace)
    return E_rows, cache[:-1] + (K > 0,)          # the backward pass checks Â's symmetry


def lightgcn_rows_core(A_hat, E0, K, nodes, backend, workspace=None):
    """Unchecked core of :func:`lightgcn_rows_forward`, for a model that checked its graph once.

    ``A_hat`` CSR (n, n), symmetric, in ``E0``'s dtype, ``E0`` C-contiguous float32 or
    float64, ``K`` an int >= 0, ``nodes`` distinct ascending int64 in range
    (LightGCN's batches come from ``np.unique``). Skips the O(nnz) checks of
    ``A_hat`` (its arrays, values and symmetry) that the wrapper makes on every call.
    """
    n = E0.shape[0]
    level, hops = _levels(A_hat, nodes, max(K - 1, 0), backend)   # S_h = level <= h
    # the last field: check Â's symmetry in the backward pass (the checked wrapper's caches)
    cache = (A_hat, K, nodes, level, hops, backend, E0.shape, E0.dtype, workspace, False)
    if K == 0:
        return E0[nodes].copy(), cache                            # (m, d)
    if backend == "numpy":
        V = E0
        for j in range(1, K + 1):
            rows = _ball(level, hops, K - j, n)                   # S_{K-j} (or every node)
            V_next = np.zeros_like(E0)                            # (n, d), zero off S_{K-j}
            V_next[rows] = sum_by_fours(A_hat[rows], V, start=E0[rows])   # E0 + Â V
            V = V_next
        return V[nodes] / E0.dtype.type(K + 1), cache             # (m, d)

    buffers = _buffers(workspace, E0.shape, E0.dtype)
    V = E0
    for j in range(1, K + 1):
        rows = _ball(level, hops, K - j, n)                       # S_{K-j} (or a superset)
        out = buffers[j % 2]                                      # (n, d), valid on rows only
        _pull(A_hat, V, rows, out, base=E0)                       # V_j = E0 + Â V_{j-1} on rows
        V = out
    return V[nodes] / E0.dtype.type(K + 1), cache                 # (m, d)


def _buffers(workspace, shape, dtype):
    """Two (n, d) scratch arrays, from ``workspace`` when it holds fitting ones."""
    if workspace is None:
        return [np.empty(shape, dtype=dtype), np.empty(shape, dtype=dtype)]
    bufs = workspace.get("ping_pong")
    if bufs is None or bufs[0].shape != shape or bufs[0].dtype != dtype:
        bufs = workspace["ping_pong"] = [np.empty(shape, dtype=dtype), np.empty(shape, dtype=dtype)]
    return bufs


# ================================================================= backward
def lightgcn_rows_backward(cache, dE_rows, out=None):
    r"""``dE0 = 1/(K+1) Σ_{k=0..K} (Âᵀ)^k G``, ``G`` = ``dE_rows`` placed on the rows ``nodes``.

    Parameters
    ----------
    cache : from :func:`lightgcn_rows_forward`
    dE_rows : ndarray (m, d), the gradient of ``E[nodes]``, in its dtype (``E0``'s;
        :class:`~minigraphrec.errors.DataError` otherwise)
    out : ndarray (n, d) of E0's dtype, optional, overwritten and returned

    Returns
    -------
    dE0 : ndarray (n, d), dtype of ``E0``; zero outside the K-hop ball.
    """
    A_hat, K, nodes, level, hops, backend, shape, dtype, workspace, check_symmetry = cache
    dE_rows = check_grad_shape(dE_rows, "dE_rows", (nodes.shape[0], shape[1]),
                               of="the forward's rows have", dtype=dtype,
                               op="lightgcn_rows_backward")
    if out is not None:
        check_out(out, "out", shape, dtype)
    if check_symmetry:                        # after the checked forward pass (not the model's)
        _check_symmetric(A_hat)
    G = (dE_rows / (K + 1)).astype(dtype, copy=False)             # (m, d) on S_0
    if out is None:
        out = np.empty(shape, dtype=dtype)
    if K == 0:
        out[...] = 0
        out[nodes] = G
        return out
    if backend == "numpy":
        n = shape[0]
        G_full = np.zeros(shape, dtype=dtype)                     # (n, d), G on S_0
        G_full[nodes] = G
        T = G_full
        whole = K == 1 or hops < 2            # T_1 is read on every row, not only on S_1
        for k in range(1, K + 1):
            rows = _ball(level, hops, k, n) if k < K else np.arange(n)   # S_k (or every node)
            A_rows = A_hat[rows]
            T_next = np.zeros(shape, dtype=dtype)                 # zero off S_k
            if k == 1:                        # T_0 = G: a sum in column order, as SciPy's
                T_next[rows] = A_rows @ T
            elif whole:                       # T_{k-1} valid on every row: all the entries
                T_next[rows] = sum_by_fours(A_rows, T)
            else:                             # only the entries pointing into S_{k-1}
                T_next[rows] = sum_by_fours(_keep_columns(A_rows, level <= k - 1), T)
            T_next += G_full                                      # then G
            if k > 1:
                whole = rows.shape[0] == n
            T = T_next
        out[...] = T
        return out

    from ..kernels.propagate_rows import add_rows, push_rows
    n = shape[0]
    buffers = _buffers(workspace, shape, dtype)
    # T_1 = G + Â T_0 with T_0 = G on S_0 only: pushed from S_0's rows (their
    # entries alone), into a buffer zeroed where T_1 can be nonzero (S_1), and G
    # added after the sum (NumPy's order: each row's products in column order,
    # then G, so the same bits). When
    # the next product reads every row anyway (T_1 is the output, or S_2 is
    # taken as every node) the whole buffer is zeroed, so that the product can
    # read it unmasked.
    T = out if K == 1 else buffers[1]
    whole = K == 1 or hops < 2                    # T_k valid on every row, not only S_k
    if whole:
        T.fill(0)
    else:
        T[_ball(level, hops, 1, n)] = 0
    bounds = push_bounds(A_hat, nodes, n, _PARALLEL_FROM)         # destination ranges
    push_rows(A_hat.indptr, A_hat.indices, A_hat.data, G, nodes, bounds, T)
    add_rows(T, nodes, G)                                         # T[nodes] += G, after the sum
    for k in range(2, K + 1):
        # T_k on S_k; at k = K on every row, which writes all of ``out``
        rows = _ball(level, hops, k, n) if k < K else np.arange(n)
        T_next = out if k == K else buffers[k % 2]
        if whole:
            _pull(A_hat, T, rows, T_next)
        else:                             # T_{k-1} is valid on S_{k-1} only: skip the rest
            _pull(A_hat, T, rows, T_next, level=level, max_level=k - 1)
        add_rows(T_next, nodes, G)                                # T_next[nodes] += G
        whole = rows.shape[0] == n
        T = T_next
    return out
