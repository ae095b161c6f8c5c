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
:func:`~minigraphrec.graph.edge_weight_matrix`
(interaction frequency or recency) and the normalisation comes after the
weighting, with weighted degrees ``d_v = Σ_u w_vu``:
``Â_vu = w_vu / sqrt(d_v d_u)``. That ``Â`` is still symmetric, which is
all the batch-restricted propagation (next paragraph) relies on, so it
stays exact.

Batch-restricted propagation (same numbers, less work). The paper's code
propagates the whole graph for every mini-batch, though the loss reads
only the batch's rows. Training here computes ``E`` on those rows alone,
from ``E0`` on their ``K``-hop ball, with the op pair
:func:`~minigraphrec.ops.lightgcn_rows_forward` /
``lightgcn_rows_backward`` (the recurrence, its transpose and the numba
shortcuts are in :mod:`minigraphrec.ops.lightgcn_rows`). It is exact in
exact arithmetic; in floating point it adds the same terms in another
order (four stored entries at a time), so the model trains on the numbers
of the full-graph :func:`~minigraphrec.ops.lightgcn_forward`, which
``score`` uses, to rounding only (at most 3.3e-7 of the largest entry in
float32, 6.7e-16 in float64, on a synthetic graph of 2000 users and 3000
items, K = 3).

Departures from the paper's code: none in the math. ``E0`` is drawn as
the paper says, two Xavier tables (``init="xavier"``); ``init="normal"``
gives the ``N(0, 0.1²)`` of the authors' PyTorch port. BPR triples come from
:func:`minigraphrec.ops.sample_bpr` (the same distribution as the code's
``UniformSample_original``, see there).
"""
from __future__ import annotations

import numpy as np

from ..errors import check_backend, check_int
from ..graph import bipartite_adjacency, check_edge_weights, normalize_adjacency
from ..ops.lightgcn_rows import lightgcn_rows_backward, lightgcn_rows_core, lightgcn_rows_forward
from ..ops.propagate import lightgcn_forward
from .embedding_base import (EdgeWeighted, EmbeddingRecommender, check_init,
                             id_embeddings)

__all__ = ["LightGCN"]


# ==================================================================== model
class LightGCN(EdgeWeighted, EmbeddingRecommender):
    r"""LightGCN: free id embeddings averaged over the K + 1 propagation depths 0..K, no weights.

    .. math::
        E = \frac{1}{K+1} \sum_{k=0}^{K} \hat A^k E^0, \qquad
        \hat A = D^{-1/2} A D^{-1/2}, \qquad s_{ui} = e_u \cdot e_i,

    ``Â`` without self-loops. See the module docstring for the batch-restricted
    propagation.

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
    loss, lr, batch_size, reg, n_negatives, epochs, patience, metric
        The training hyperparameters shared by the trainable models: see
        :class:`~minigraphrec.models.EmbeddingRecommender`.
        Paper settings: ``lr=1e-3, batch_size=2048, reg=1e-4``.
    scoring, dtype, random_state, verbose, score_dtype
        Shared as well: see :class:`~minigraphrec.models.EmbeddingRecommender`.
    backend : {"numba", "numpy"}
        Parallel numba kernels or the SciPy/NumPy references, for the propagation, the
        BPR/BCE sampling and Adam: the same bits (for a symmetric ``Â`` with sorted
        indices, as ``fit`` builds; tests/test_backend_bits.py).
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

    Notes
    -----
    **Explanations, ad-hoc histories, updates.**

    * ``explain(user, item, k, paths=False)``: **exact**. ``E = M E0`` with
      ``M = 1/(K+1) Σ_k Â^k``, so ``s_ui = Σ_v M_uv E0_v · e_i`` over the
      layer-0 nodes ``v`` within ``K`` hops of the user (``kind="node"``),
      or, with ``paths=True``, over the walks of length ≤ K from the user;
      the contributions sum to ``score(user)[item]`` (dot or cosine scoring).
    * ``score_history(items)``: a new user node joined to ``items``,
      normalised as a training user with that history would be, with a zero
      layer-0 row, propagated once: for a training user's own history it is
      **exactly** ``score`` computed without the user's own ``E0`` term
      ``E0_u / (K+1)`` (see :meth:`_score_history`), without edge weights; with
      them a new edge weighs one event, so a user with repeated events differs
      (an audit: 0.66 relative with ``"count"`` where half the events repeat).
    * ``partial_fit(new, epochs)`` and ``forget(users, interactions,
      method="fine_tune"|"retrain", epochs)``: the graph and its
      normalisation rebuilt, rows added (from their neighbours) or removed,
      a few epochs over the touched users; approximate (``"retrain"``:
      identical to a fit without the data, with an integer ``random_state``). See
      :meth:`~minigraphrec.models.EmbeddingRecommender.partial_fit`
      and ``forget``.
    """

    _state_attrs = EmbeddingRecommender._state_attrs + ("R_weighted_",)

    def __init__(self, dim=64, n_layers=3, loss="bpr", lr=1e-3, batch_size=2048, reg=1e-4,
                 n_negatives=1, epochs=50, patience=None, metric="recall@20", scoring="dot",
                 backend="numba", dtype="float32", random_state=None, verbose=False,
                 edge_weights=None, half_life=None, init="xavier",
                 score_dtype="float64"):
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
        self.score_dtype = score_dtype

    def _check_hyperparameters(self):
        self._check_common()
        check_int(self.dim, "dim")
        check_int(self.n_layers, "n_layers", at_least=0)
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
        # unchecked core: A_hat_ is the model's own graph, nodes distinct and sorted
        Z, cache = lightgcn_rows_core(self.A_hat_, E0, int(self.n_layers), nodes,
                                      self.backend, self._workspace)
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
    # The article's §8 open problems (docs, tutorial 12): exact explanations, ad-hoc
    # histories by propagation.
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
        self._check_cache_current()                   # the split reads params, the score the cache
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

        The identity (tested to 1e-12 in float64) without edge weights, or
        with them for a user with one event per item: for a training user ``u``
        and their own history, ``e_* = e_u - E0_u / (K+1)``; their
        ``score_history`` is ``score(u)`` without the user's own layer-0
        term, the one thing a new user cannot have. The graph is not
        changed: the new node reads the item side but does not write to it
        (the items keep their degrees and embeddings; :meth:`partial_fit`
        is what adds a user for good). An item with no training edge gets
        ``d_i = 1`` (its new edge). With ``n_layers=0`` (MF) there is nothing
        to propagate and the fold-in of
        :meth:`~minigraphrec.models.EmbeddingRecommender.fold_in`
        is used instead.
        """
        from ..rank import _check_embeddings
        K = int(self.n_layers)
        if K == 0:
            return super()._score_history(items)
        w0 = {None: 1.0, "count": 1.0, "time_decay": 1.0, "log1p": float(np.log(2.0))}[
            self.edge_weights]
        nodes = self.n_users_ + items                                     # (m,) sorted
        E0 = self.params["E0"]
        # with K - 1 layers the rows are the mean over the K depths 0..K-1,
        # 1/K Σ_{k<K} Â^k E0; times K, the sum V_{K-1} = Σ_{k<K} Â^k E0 (to rounding)
        V, _ = lightgcn_rows_forward(self.A_hat_, E0, K - 1, nodes, backend=self.backend)
        V = np.asarray(V, dtype=np.float64) * K                           # (m, d) V_{K-1}[items]
        d_i = self._item_degree[items]
        d_i = np.where(d_i > 0, d_i, w0)
        a = w0 / np.sqrt(w0 * items.size * d_i)                           # (m,) Â_{*i}
        e = (a @ V) / (K + 1)                                             # (d,)
        # score_matrix(e, item_embeddings_, scoring, score_dtype), e checked first
        e = _check_embeddings(e[None, :].astype(E0.dtype), "U", dtype=self._score_dtype())
        return self._item_scores()(e, checked=True)[0]


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
