r"""LightGCN (He et al., SIGIR 2020), with propagation restricted to each batch's neighbourhood.

The model. Layer-0 embeddings ``E0`` (n_nodes, d), users first, and the
symmetric normalisation of the bipartite graph without self-loops,
``Â = D^{-1/2} A D^{-1/2}``. No weights, no nonlinearity; the final
embedding is the mean over depths,

.. math::  E = \frac{1}{K+1} \sum_{k=0}^{K} \hat A^k E_0 ,

and a user–item score is the dot product of their rows of ``E``. Trained
with the BPR loss of the paper's code (see
:mod:`minigraphrec.models.embedding_base`), Adam over the whole table.

Edge weights (our addition, off by default). With ``edge_weights`` =
``"count"``, ``"log1p"`` or ``"time_decay"`` (with ``half_life``) the ones
of ``A`` become the weights of
:func:`~minigraphrec.models.embedding_base.edge_weight_matrix`
(interaction frequency or recency) and the normalisation comes after the
weighting, with weighted degrees ``d_v = Σ_u w_vu``:
``Â_vu = w_vu / sqrt(d_v d_u)``. That ``Â`` is still symmetric, which is
all the batch-restricted propagation below relies on, so it stays exact.

Batch-restricted propagation (same numbers, less work). The paper's code
propagates the whole graph for every mini-batch, though the loss reads
only the batch's rows ``S_0``. Let ``S_h`` be the nodes within ``h`` hops
of ``S_0``. Written in Horner form, ``Σ_k Â^k E0 = V_K`` with ``V_0 = E0``,
``V_j = E0 + Â V_{j-1}``, and row ``r`` of ``V_j`` needs ``V_{j-1}`` on
``r``'s neighbours only; so computing ``V_j`` on ``S_{K-j}`` alone is
exact:

.. math::  V_j[S_{K-j}] = E_0[S_{K-j}] + \hat A[S_{K-j}, :]\, V_{j-1}, \qquad
           E[S_0] = V_K[S_0] / (K+1).

The backward pass is the transpose. With ``G`` the gradient of ``E[S_0]``
divided by ``K+1`` (zero off ``S_0``), ``dE0 = Σ_k (Âᵀ)^k G = T_K`` where
``T_0 = G``, ``T_k = G + Âᵀ T_{k-1}``; ``T_{k-1}`` is zero off ``S_{k-1}``
and ``Â`` is symmetric, so

.. math::  T_k[S_k] = G[S_k] + \hat A[S_k, S_{k-1}]\, T_{k-1}[S_{k-1}],
           \qquad T_k = 0 \text{ off } S_k .

:func:`lightgcn_rows_forward` and :func:`lightgcn_rows_backward` compute
exactly this, by SciPy row slices (``backend="numpy"``, the readable
reference) or by the kernels of :mod:`minigraphrec.kernels.propagate_rows`
(``backend="numba"``). Both equal the full-graph
:func:`minigraphrec.ops.propagate.lightgcn_forward` /
``lightgcn_backward`` to rounding (tested in float64 to 1e-12). On Gowalla
(64 dims, 3 layers, batches of 2048) the balls cover nearly the whole graph
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

Departures from the paper's code: none in the math. ``E0`` is drawn as
the paper says, two Xavier tables (``init="xavier"``); ``init="normal"``
gives the ``N(0, 0.1²)`` of the authors' PyTorch port. BPR triples come from
:func:`minigraphrec.ops.sample_bpr` (the same distribution as the code's
``UniformSample_original``, see there).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import DataError, check_backend
from ..graph import bipartite_adjacency, normalize_adjacency
from ..ops.propagate import lightgcn_forward
from .embedding_base import (EdgeWeighted, EmbeddingRecommender, _positive_int,
                             check_edge_weights, check_init, id_embeddings)

__all__ = ["LightGCN", "lightgcn_rows_forward", "lightgcn_rows_backward", "hop_levels"]


# ==================================================================== balls
def hop_levels(A_hat, nodes, n_hops, backend="numba"):
    r"""Hop distance of every node from ``nodes``: ``level[v] = min(dist(v), n_hops + 1)``.

    ``S_h = {v : level[v] <= h}`` is the ball of radius ``h`` around the
    seeds.

    Parameters
    ----------
    A_hat : scipy CSR (n, n); an entry ``(r, c)`` links r to c
    nodes : int64 (m,)
    n_hops : int >= 0
    backend : "numba" or "numpy"
        The numba kernel stops early once the ball's rows hold half of the
        graph's stored entries (such a ball is nearly the whole graph, and
        one more hop would scan all of them): then ``hops < n_hops``.

    Returns
    -------
    level : int32 (n,)
    hops : int, ``S_h`` is exact for ``h <= hops``; for larger ``h`` callers
        take every node (a superset, which keeps the propagation exact).
    """
    n = A_hat.shape[0]
    if backend == "numba":
        from ..kernels.propagate_rows import hop_levels as kernel
        level = np.empty(n, dtype=np.int32)
        hops = kernel(A_hat.indptr, A_hat.indices, nodes, n_hops, A_hat.nnz // 2, level)
        return level, int(hops)
    level = np.full(n, n_hops + 1, dtype=np.int32)
    level[nodes] = 0
    for h in range(1, n_hops + 1):
        ball = np.flatnonzero(level < h)                      # S_{h-1}
        reached = A_hat[ball].indices                         # their neighbours
        level[reached] = np.minimum(level[reached], h)
    return level, n_hops


def _ball(level, hops, h, n):
    """The rows of ``S_h``, ascending: exact for ``h <= hops``, else all ``n`` nodes."""
    return np.flatnonzero(level <= h) if h <= hops else np.arange(n)


def _check_rows_args(A_hat, E0, K, nodes, backend):
    check_backend(backend)
    if not sp.issparse(A_hat) or A_hat.format != "csr":
        raise TypeError(f"A_hat must be a scipy CSR matrix, got {type(A_hat).__name__}")
    n = A_hat.shape[0]
    if A_hat.shape != (n, n):
        raise DataError(f"A_hat must be square (n, n), got shape {A_hat.shape}")
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 0:
        raise ValueError(f"K must be a non-negative integer (number of layers), got {K!r}")
    E0 = np.asarray(E0)
    if E0.ndim != 2 or E0.shape[0] != n:
        raise DataError(f"E0 must have shape ({n}, d) to match A_hat {A_hat.shape}, got {E0.shape}")
    if E0.dtype not in (np.float32, np.float64):
        raise TypeError(f"E0 must be float32 or float64, got {E0.dtype}")
    if A_hat.dtype != E0.dtype:
        raise TypeError(f"A_hat has dtype {A_hat.dtype} and E0 {E0.dtype}; cast A_hat once "
                        "with A_hat.astype(E0.dtype)")
    nodes = np.asarray(nodes)
    if nodes.ndim != 1 or not np.issubdtype(nodes.dtype, np.integer):
        raise ValueError(f"nodes must be a 1-d integer array, got {nodes.dtype} {nodes.shape}")
    nodes = nodes.astype(np.int64, copy=False)
    if nodes.size and (nodes.min() < 0 or nodes.max() >= n):
        bad = nodes[(nodes < 0) | (nodes >= n)][0]
        raise ValueError(f"node id {bad} is out of range 0..{n - 1}")
    if nodes.size > 1 and np.any(nodes[1:] <= nodes[:-1]):
        raise ValueError("nodes must be distinct and sorted ascending (np.unique gives that)")
    return np.ascontiguousarray(E0), int(K), nodes


#: products with fewer stored entries than this run serially, without the thread pool
#: (the parallel kernels are also faster per entry: inside a ``prange`` body numba
#: can tell LLVM that ``X`` and ``out`` do not overlap)
_PARALLEL_FROM = 1 << 16
#: blocks per thread of a parallel product, handed out one at a time (dynamic
#: scheduling: a thread the OS preempts holds up one small block, not a share)
_BLOCKS_PER_THREAD = 16


def _pull(A_hat, X, rows, out, base=None, level=None, max_level=0):
    r"""``out[rows] = base[rows] + Â[rows] X`` (``base`` None: the sum alone).

    With ``level``, only the neighbours with ``level <= max_level`` count
    (and ``base`` is not used).
    """
    from numba import get_num_threads, parallel_chunksize
    from ..kernels import propagate_rows as k
    indptr, indices, data = A_hat.indptr, A_hat.indices, A_hat.data
    has_base = base is not None
    base = X if base is None else base
    if int(indptr[rows + 1].sum() - indptr[rows].sum()) < _PARALLEL_FROM:
        if level is None:
            k.pull_block(indptr, indices, data, X, base, has_base, rows, 0, rows.shape[0], out)
        else:
            k.pull_block_masked(indptr, indices, data, X, level, max_level, rows, 0,
                                rows.shape[0], out)
        return
    bounds = k.row_blocks_of(indptr, rows, _BLOCKS_PER_THREAD * get_num_threads())
    with parallel_chunksize(1):           # threads take blocks one by one as they come free
        if level is None:
            k.pull_rows(indptr, indices, data, X, base, has_base, rows, bounds, out)
        else:
            k.pull_rows_masked(indptr, indices, data, X, level, max_level, rows, bounds, out)


def _push_bounds(A_hat, rows):
    """Destination ranges for :func:`~minigraphrec.kernels.propagate_rows.push_rows`.

    One range (serial) for a small push; else one per thread, each about a
    thread's share of the graph's stored entries (a proxy for the writes
    it receives).
    """
    from numba import get_num_threads
    n = A_hat.shape[0]
    indptr = A_hat.indptr
    threads = get_num_threads()
    if threads == 1 or int(indptr[rows + 1].sum() - indptr[rows].sum()) < _PARALLEL_FROM:
        return np.array([0, n], dtype=np.int64)
    cuts = np.searchsorted(indptr, np.arange(1, threads) * (A_hat.nnz / threads))
    return np.concatenate([[0], cuts, [n]]).astype(np.int64)


# ================================================================== forward
def lightgcn_rows_forward(A_hat, E0, K, nodes, backend="numba", workspace=None):
    r"""Rows ``nodes`` of LightGCN's ``E = 1/(K+1) Σ_k Â^k E0``, touching only their K-hop ball.

    See the module docstring for the recurrence.

    Parameters
    ----------
    A_hat : scipy CSR (n, n), symmetric (LightGCN's ``D^{-1/2} A D^{-1/2}``),
        dtype of ``E0``
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
    cache : for :func:`lightgcn_rows_backward`.
    """
    E0, K, nodes = _check_rows_args(A_hat, E0, K, nodes, backend)
    n = E0.shape[0]
    level, hops = hop_levels(A_hat, nodes, max(K - 1, 0), backend)   # S_h = level <= h
    cache = (A_hat, K, nodes, level, hops, backend, E0.shape, E0.dtype, workspace)
    if K == 0:
        return E0[nodes].copy(), cache                            # (m, d)
    if backend == "numpy":
        V = E0
        for j in range(1, K + 1):
            rows = np.flatnonzero(level <= K - j)                 # S_{K-j}
            V_next = np.zeros_like(E0)                            # (n, d), zero off S_{K-j}
            V_next[rows] = E0[rows] + A_hat[rows] @ V
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
    dE_rows : ndarray (m, d), the gradient of ``E[nodes]``
    out : ndarray (n, d) of E0's dtype, optional, overwritten and returned

    Returns
    -------
    dE0 : ndarray (n, d), dtype of ``E0``; zero outside the K-hop ball.
    """
    A_hat, K, nodes, level, hops, backend, shape, dtype, workspace = cache
    dE_rows = np.asarray(dE_rows)
    if dE_rows.shape != (nodes.shape[0], shape[1]):
        raise DataError(f"dE_rows must have shape {(nodes.shape[0], shape[1])}, "
                        f"got {dE_rows.shape}")
    G = (dE_rows / (K + 1)).astype(dtype, copy=False)             # (m, d) on S_0
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise DataError(f"out must be a C-contiguous {dtype} array of shape {shape}")
    if K == 0:
        out[...] = 0
        out[nodes] = G
        return out
    if backend == "numpy":
        G_full = np.zeros(shape, dtype=dtype)                     # (n, d), G on S_0
        G_full[nodes] = G
        T = G_full
        for k in range(1, K + 1):
            rows = np.flatnonzero(level <= k) if k < K else np.arange(shape[0])   # S_k
            T_next = G_full.copy()                                # zero off S_k
            T_next[rows] += A_hat[rows] @ T
            T = T_next
        out[...] = T
        return out

    from ..kernels.propagate_rows import add_rows, push_rows
    n = shape[0]
    buffers = _buffers(workspace, shape, dtype)
    # T_1 = G + Â T_0 with T_0 = G on S_0 only: pushed from S_0's rows (their
    # entries alone), into a buffer zeroed where T_1 can be nonzero (S_1). When
    # the next product reads every row anyway (T_1 is the output, or S_2 is
    # taken as every node) the whole buffer is zeroed, so that the product can
    # read it unmasked.
    T = out if K == 1 else buffers[1]
    whole = K == 1 or hops < 2                    # T_k valid on every row, not only S_k
    if whole:
        T.fill(0)
    else:
        T[_ball(level, hops, 1, n)] = 0
    add_rows(T, nodes, G)
    push_rows(A_hat.indptr, A_hat.indices, A_hat.data, G, nodes, _push_bounds(A_hat, nodes), T)
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


# ==================================================================== model
class LightGCN(EdgeWeighted, EmbeddingRecommender):
    r"""LightGCN: the mean of K propagation depths of free id embeddings, no weights.

    ``E = 1/(K+1) Σ_{k=0..K} Â^k E0`` with ``Â = D^{-1/2} A D^{-1/2}`` (no
    self-loops), scores ``e_u · e_i``. See the module docstring for the
    batch-restricted propagation.

    Parameters
    ----------
    dim : int
        The embedding width d (paper: 64).
    n_layers : int >= 0
        K, the number of propagation layers (paper: 3); ``K = 0`` is matrix factorisation.
    init : {"xavier", "normal"}
        ``E0``'s initialisation: Glorot-uniform user and item tables (the
        paper, default) or ``N(0, 0.1²)`` (the authors' PyTorch port); see
        :func:`~minigraphrec.models.embedding_base.id_embeddings`.
    loss, lr, batch_size, reg, n_negatives, epochs, patience, metric,
    scoring, dtype, random_state, verbose :
        see :class:`~minigraphrec.models.embedding_base.EmbeddingRecommender`.
        Paper settings: ``lr=1e-3, batch_size=2048, reg=1e-4``.
    backend : {"numba", "numpy"}
        Parallel numba kernels or the SciPy reference; the same numbers up to rounding.
    edge_weights : None, "count", "log1p" or "time_decay"
        None (default) is the paper's binary graph; otherwise ``A`` holds
        these edge weights before the normalisation (module docstring).
    half_life : float > 0, optional
        Required with ``edge_weights="time_decay"`` (in the timestamps' unit), ignored
        otherwise.

    Attributes
    ----------
    params : dict
        ``{"E0": ndarray (n_users + n_items, dim)}``, users first.
    A_hat_ : scipy.sparse.csr_matrix (n_nodes, n_nodes)
        Â in the model's dtype.
    R_weighted_ : scipy.sparse.csr_matrix (n_users, n_items) or None
        The float64 edge weights used, None for the binary graph.
    user_embeddings_ : ndarray (n_users, dim)
        The users' rows of the final embeddings ``E``, cached after ``fit``.
    item_embeddings_ : ndarray (n_items, dim)
        The items' rows of ``E``.
    history_ : list of dict
        One entry per epoch (see :mod:`minigraphrec.train`).

    Explanations, ad-hoc histories, updates (issue 11)
    --------------------------------------------------
    * ``explain(user, item, k, paths=False)``: **exact**. ``E = M E0`` with
      ``M = 1/(K+1) Σ_k Â^k``, so ``s_ui = Σ_v M_uv E0_v · e_i`` over the
      layer-0 nodes ``v`` within ``K`` hops of the user (``kind="node"``),
      or, with ``paths=True``, over the walks of length ≤ K from the user;
      the contributions sum to ``score(user)[item]`` (dot or cosine scoring).
    * ``score_history(items)``: a new user node joined to ``items``,
      normalised as a training user with that history would be, with a zero
      layer-0 row, propagated once: for a training user's own history it is
      **exactly** ``score`` computed without the user's own ``E0`` term
      ``E0_u / (K+1)`` (see :meth:`_score_history`).
    * ``partial_fit(new, epochs)`` and ``forget(users, interactions,
      method="fine_tune"|"retrain", epochs)``: the graph and its
      normalisation rebuilt, rows added (from their neighbours) or removed,
      a few epochs over the touched users; approximate (``"retrain"``:
      identical to a fit without the data). See
      :meth:`~minigraphrec.models.embedding_base.EmbeddingRecommender.partial_fit`
      and ``forget``.
    """

    _state_attrs = EmbeddingRecommender._state_attrs + ("R_weighted_",)

    def __init__(self, dim=64, n_layers=3, loss="bpr", lr=1e-3, batch_size=2048, reg=1e-4,
                 n_negatives=1, epochs=50, patience=None, metric="recall@20", scoring="dot",
                 backend="numba", dtype="float32", random_state=None, verbose=False,
                 edge_weights=None, half_life=None, init="xavier"):
        self.dim = dim
        self.n_layers = n_layers
        self.loss = loss
        self.lr = lr
        self.batch_size = batch_size
        self.reg = reg
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.patience = patience
        self.metric = metric
        self.scoring = scoring
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.edge_weights = edge_weights
        self.half_life = half_life
        self.init = init

    def _check_hyperparameters(self):
        self._check_common()
        _positive_int("dim", self.dim)
        _positive_int("n_layers", self.n_layers, minimum=0)
        check_backend(self.backend)
        check_edge_weights(self.edge_weights, self.half_life)
        check_init(self.init)

    def _build(self, R, user_features, item_features):
        A = bipartite_adjacency(self._graph_matrix(R))                    # (n, n), weighted
        self.A_hat_ = normalize_adjacency(A, "symmetric", self_loops=False).astype(self._dtype)
        self._workspace = {}
        # the items' (weighted) degrees d_i, for score_history's new rows
        self._item_degree = np.asarray(A.sum(axis=0)).ravel()[R.shape[0]:]    # (n_items,)

    def _init_params(self, rng):
        return {"E0": id_embeddings(rng, self.n_users_, self.n_items_, self.dim, self._dtype,
                                    self.init)}

    def _forward_rows(self, nodes):
        E0 = self.params["E0"]
        Z, cache = lightgcn_rows_forward(self.A_hat_, E0, self.n_layers, nodes,
                                         backend=self.backend, workspace=self._workspace)
        return Z, E0[nodes], cache                                        # (m, d), (m, d)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        out = None
        if reuse:
            out = self._workspace.get("dE0")
            E0 = self.params["E0"]
            if out is None or out.shape != E0.shape or out.dtype != E0.dtype:
                out = self._workspace["dE0"] = np.empty_like(E0)
        dE0 = lightgcn_rows_backward(cache, dZ, out=out)                  # (n, d)
        nodes = cache[2]
        if self.backend == "numba":
            from ..kernels.propagate_rows import add_rows
            add_rows(dE0, nodes, dH0.astype(dE0.dtype, copy=False))      # dE0[nodes] += dH0
        else:
            dE0[nodes] += dH0                                             # the L2 term
        return {"E0": dE0}

    def _all_embeddings(self):
        backend = self.backend
        E, _ = lightgcn_forward(self.A_hat_, self.params["E0"], int(self.n_layers),
                                backend=backend, A_hat_T=self.A_hat_)
        return E

    # ================================================================================
    # Open problems (issue 11): exact explanations, ad-hoc histories by propagation.
    # ================================================================================
    #: explain(paths=True) refuses to enumerate more walks than this
    max_paths = 2_000_000

    def _explain(self, user, item, k, paths=False):
        r"""Exact: ``s_ui = Σ_v c_v`` over layer-0 nodes ``v``, or over walks from ``u``.

        ``E = M E0`` with ``M = 1/(K+1) Σ_{k=0..K} Â^k``, so the user's final
        embedding is ``e_u = Σ_v M_uv E0_v``: a sum over the nodes ``v``
        within ``K`` hops of the user, and, expanding ``(Â^k)_uv`` as the sum
        over the walks ``u = x_0, x_1, ..., x_k = v`` of ``Π_t Â_{x_{t-1} x_t}``,
        a sum over those walks. With ``ẽ_i`` the item's final embedding
        (divided by ``|e_u| |e_i|`` for ``scoring="cosine"``):

        .. math::
            c_v = M_{uv}\, (E0_v \cdot \tilde e_i), \qquad
            c_{walk} = \frac{\prod_t \hat A_{x_{t-1} x_t}}{K+1}\, (E0_{x_k} \cdot \tilde e_i),

        and ``Σ_v c_v = Σ_walks c_walk = e_u · ẽ_i = s_ui`` exactly (computed
        in float64; equal to ``score(user)[item]`` to rounding, 1e-12 relative
        for a float64 model, tested). The node split is the walk split summed
        by the walk's end. It is the *user-side* split: what each layer-0 row
        adds to the user's embedding, measured along the item's. The sources
        are graph nodes (``kind="node"``): the user itself (``K ≥ 0``), its
        items (1 hop), their other users (2 hops), ... ``scoring="euclidean"``
        is not linear in ``e_u`` and is refused.
        """
        from ..explain import Explanation
        if self.scoring == "euclidean":
            raise ValueError("LightGCN.explain splits dot and cosine scores; this model has "
                             "scoring='euclidean', which is not linear in the user's embedding")
        K = int(self.n_layers)
        A = self.A_hat_.astype(np.float64)                                # (n, n) symmetric
        E0 = np.asarray(self.params["E0"], dtype=np.float64)              # (n, d)
        e_u = np.asarray(self.user_embeddings_[user], dtype=np.float64)   # (d,)
        e_i = np.asarray(self.item_embeddings_[item], dtype=np.float64)
        if self.scoring == "cosine":
            norm = np.linalg.norm(e_u) * np.linalg.norm(e_i)
            e_i = e_i / norm if norm > 0 else np.zeros_like(e_i)
        q = E0 @ e_i                                                      # (n,) E0_v · ẽ_i
        score = float(self.score(np.array([user]))[0, item])
        if paths:
            walks, weights = _walks(A, user, K, self.max_paths)
            c = np.concatenate([w / (K + 1) * q[x[:, -1]] for x, w in zip(walks, weights)])
            ends = np.concatenate([x[:, -1] for x in walks])
            return Explanation.from_contributions(
                user, item, ends, c, kind="node", score=score, exact=True, k=k,
                paths=_WalkList(walks),
                method="exact: s_ui = Σ over walks u→…→v of length ≤ K of "
                       "Π Â / (K+1) · E0_v·e_i")
        x = np.zeros(A.shape[0])
        x[user] = 1.0                                                     # row u of Â^0
        m = x.copy()
        for _ in range(K):
            x = A @ x                                                     # row u of Â^k (Â = Âᵀ)
            m += x
        m /= K + 1                                                        # (n,) row u of M
        sources = np.flatnonzero(m)
        return Explanation.from_contributions(
            user, item, sources, m[sources] * q[sources], kind="node", score=score, exact=True,
            k=k, method="exact: s_ui = Σ_v M_uv E0_v·e_i, M = 1/(K+1) Σ_k Â^k")

    def _score_history(self, items):
        r"""Scores for a new user node joined to ``items``: one propagation of its row.

        The new node ``u*`` gets the edges to ``items`` a training user with
        that history has, normalised with its degree ``d_* = |H|`` and the
        items' degrees ``d_i`` *as in the fitted graph*
        (``Â_{*i} = 1/sqrt(d_* d_i)``; with edge weights each new edge weighs
        what one fresh event gives: 1 for ``"count"`` and ``"time_decay"``,
        ``log 2`` for ``"log1p"``), and, as it was never trained, a zero
        layer-0 row. Its final embedding is then exactly the LightGCN row
        ``1/(K+1) (0 + Σ_{i∈H} Â_{*i} V_{K-1}[i])``, ``V_{K-1} = Σ_{k<K} Â^k E0``
        (computed on the ``K-1``-hop ball of the history alone), and the
        scores ``score_matrix(e_*, item_embeddings_)``.

        The identity (tested to 1e-12 in float64): for a training user ``u``
        and their own history, ``e_* = e_u - E0_u / (K+1)``; their
        ``score_history`` is ``score(u)`` without the user's own layer-0
        term, the one thing a new user cannot have. The graph is not
        changed: the new node reads the item side but does not write to it
        (the items keep their degrees and embeddings; :meth:`partial_fit`
        is what adds a user for good). An item with no training edge gets
        ``d_i = 1`` (its new edge). With ``n_layers=0`` (MF) there is nothing
        to propagate and the fold-in of
        :meth:`~minigraphrec.models.embedding_base.EmbeddingRecommender.fold_in`
        is used instead.
        """
        from ..rank import score_matrix
        K = int(self.n_layers)
        if K == 0:
            return super()._score_history(items)
        w0 = {None: 1.0, "count": 1.0, "time_decay": 1.0, "log1p": float(np.log(2.0))}[
            self.edge_weights]
        nodes = self.n_users_ + items                                     # (m,) sorted
        E0 = self.params["E0"]
        V, _ = lightgcn_rows_forward(self.A_hat_, E0, K - 1, nodes, backend=self.backend)
        V = np.asarray(V, dtype=np.float64) * K                           # (m, d) V_{K-1}[items]
        d_i = self._item_degree[items]
        d_i = np.where(d_i > 0, d_i, w0)
        a = w0 / np.sqrt(w0 * items.size * d_i)                           # (m,) Â_{*i}
        e = (a @ V) / (K + 1)                                             # (d,)
        return score_matrix(e[None, :].astype(E0.dtype), self.item_embeddings_,
                            kind=self.scoring)[0]


class _WalkList:
    """Walks stored by length (arrays (n_k, k+1)), indexed as one list of node-id tuples."""

    def __init__(self, walks):
        self._walks = walks
        self._starts = np.cumsum([0] + [w.shape[0] for w in walks])

    def __len__(self):
        return int(self._starts[-1])

    def __getitem__(self, j):
        k = int(np.searchsorted(self._starts, j, side="right") - 1)
        return tuple(int(v) for v in self._walks[k][j - self._starts[k]])


def _walks(A, start, K, max_walks):
    r"""Every walk of length 0..K from ``start`` in the graph of ``A`` and its weight ``Π Â``.

    Returns two lists indexed by length ``k``: node arrays (n_k, k+1) and
    weights (n_k,). A ValueError if there are more than ``max_walks``.
    """
    walks = [np.array([[start]], dtype=np.int64)]
    weights = [np.ones(1)]
    total = 1
    for _ in range(K):
        last, w = walks[-1], weights[-1]
        ends = last[:, -1]
        deg = np.diff(A.indptr)[ends]                                     # (n_k,)
        total += int(deg.sum())
        if total > max_walks:
            raise ValueError(f"more than max_paths={max_walks} walks of length <= {K} start at "
                             "this user; explain with paths=False (the node split), or raise "
                             "model.max_paths")
        rep = np.repeat(np.arange(last.shape[0]), deg)                    # (n_{k+1},)
        first = np.cumsum(deg) - deg                                      # (n_k,) offsets
        pos = (np.repeat(A.indptr[ends], deg)
               + np.arange(rep.shape[0]) - np.repeat(first, deg))         # (n_{k+1},) entries
        walks.append(np.concatenate([last[rep], A.indices[pos][:, None]], axis=1))
        weights.append(w[rep] * A.data[pos])
    return walks, weights
