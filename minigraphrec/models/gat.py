r"""GAT: graph attention (Veličković et al., ICLR 2018) on the user–item graph, for recommendation.

Each layer is :func:`minigraphrec.ops.gat_layer_forward` over the
bipartite graph (users first), with self-loops by default (the paper's
neighbourhoods include the node itself):

.. math::

    e_{vu,h} &= \mathrm{LeakyReLU}_{0.2}(a_{src,h}^\top W_h h_u + a_{dst,h}^\top W_h h_v)
                \;[+\; \beta_h \log w_{vu}],
    \qquad \alpha_{vu,h} = \mathrm{softmax}_{u \in N(v)}\, e_{vu,h}, \\
    h'_v &= \sigma\Big(\big\Vert_{h=1}^{n_{heads}} \sum_{u \in N(v)} \alpha_{vu,h} W_h h_u\Big)
    \quad\text{(or the mean over heads)},

with the paper's column vectors ``h_u`` and one ``W_h`` (d_head, dim) per head.
The code keeps the nodes in rows (``H`` is (n_nodes, dim), its row ``u`` is ``h_uᵀ``)
and holds every head in one matrix ``W = params["W{l}"]`` (dim, n_heads · d_head), whose
column block ``h`` is ``W_hᵀ``: block ``h`` of the row ``h_uᵀ W`` is ``(W_h h_u)ᵀ``
(:func:`~minigraphrec.ops.gat_layer_forward` computes ``Z = H W``).

The layer runs ``L = n_layers`` times, starting from the layer-0 rows ``H^0``. The final
embedding is the mean over depths ``1/(L+1) Σ_l H^l`` (``layer_combination=
"mean"``, LightGCN's readout, the default) or ``H^L`` (``"last"``, the
paper's); a score is ``e_u · e_i`` (or cosine, see ``scoring``).

Choices (hyperparameters), and where they depart from the paper:

* ``n_heads`` and ``concat_heads``: with concatenation each head is
  ``dim / n_heads`` wide (``dim`` must be divisible), with averaging each
  head is ``dim`` wide; either way every layer maps ``dim`` to ``dim``.
  The paper concatenates on hidden layers and averages on the output
  layer; here one choice holds for every layer, so the layers can be
  averaged.
* ``activation`` σ on every layer but the last (``final_activation=True``
  for the last too). The paper uses ELU, which the ops do not have; the
  default here is ``"identity"`` (no nonlinearity, as LightGCN argues for
  collaborative filtering).
* ``attention_dropout``: inverted dropout on the normalised attention
  coefficients, as in the paper. The masks come from a generator seeded by
  ``(fit's seed, optimiser step)``, so ``loss_and_grad`` is a deterministic
  function of the parameters at a given step (gradient checks work with
  dropout on); final embeddings for scoring use no dropout. The paper's
  input dropout is not implemented.
* ``edge_weights`` (our addition; the article's edge features, §3):
  ``"count"``, ``"log1p"`` or ``"time_decay"`` (with ``half_life``) weigh
  each user–item edge ``w_vu`` by
  :func:`~minigraphrec.graph.edge_weight_matrix`, the same
  weights as :class:`~minigraphrec.models.gcn.GCN` and
  :class:`~minigraphrec.models.lightgcn.LightGCN` use. How they enter the
  propagation: through the attention, and only there. Every layer learns
  one ``β`` per head in the logits, ``e + β log w``, so that

  .. math:: \alpha_{vu,h} = \frac{w_{vu}^{\beta_h} \exp e_{vu,h}}
                              {\sum_{u'} w_{vu'}^{\beta_h} \exp e_{vu',h}} :

  the neighbours are weighted first and normalised after (by the
  softmax). ``β`` starts at 1, where the weights replace the binary
  adjacency: with equal logits (``a = 0``) a layer then aggregates the
  weighted mean ``D_w^{-1} (A_w + I) H W``, ``D_w`` the row sums of
  ``A_w + I``: GCN's ``"mean"`` normalisation of the weighted graph. Training moves ``β`` per head: 0 ignores the weights (the
  paper's GAT), above 1 sharpens them. Self-loops weigh 1 (``log w = 0``).
  The aggregated messages are not multiplied by ``w`` again: a message
  weight outside the softmax would be a second, unnormalised use of it.
* ``input``: as :class:`~minigraphrec.models.gcn.GCN` (same parameter
  names, the same code in
  :class:`~minigraphrec.models.embedding_base.EmbeddingRecommender`):
  ``"embedding"`` is a free id embedding ``H^0 = E0``; ``"features"``
  projects the node features, ``H^0 = [X_user W_user_in ; X_item
  W_item_in]`` (dense or sparse ``X``); ``"both"`` adds the two, which is
  the same model class as projecting the concatenation ``[one-hot id | X]``
  with one learned matrix. Cold start: a node with features but no
  training interaction attends only to its self-loop, so with
  ``input="features"`` its embedding comes from its own features
  (``self_loops=True``, the default, is needed for that).
* No bias (the paper has none). Regularisation is the library's L2
  term (:mod:`minigraphrec.losses`): ``reg/2B`` times the squared norms of the batch's ``H^0``
  rows; ``W``, ``a`` and ``β`` are not regularised.

Batch-local attention (``backend="numba"``, the default): each layer is
computed for the receivers the loss needs only (the batch's ``h``-hop
balls, as in :class:`~minigraphrec.models.gcn.GCN`), by the kernels of
:mod:`minigraphrec.kernels.gat_rows`, with the full graph's
attention-dropout masks. ``backend="numpy"`` attends the whole graph with
the readable ops of :mod:`minigraphrec.ops.attention`: the reference, equal
to rounding (tests/test_gat.py, float64, 1e-12).
"""
from __future__ import annotations

import numpy as np

from ..errors import (DataError, check_backend, check_bool, check_ids, check_int,
                      check_param_number)
from ..graph import bipartite_adjacency, check_edge_weights, normalize_adjacency
from ..ops.attention import attention_graph, gat_layer_backward, gat_layer_forward
from ..ops._row_work import row_blocks      # the parallel kernels' row blocks, as the ops'
from ..ops.dense import ACTIVATIONS, linear_backward, linear_forward
from .base import kept
from .embedding_base import (INPUTS, EdgeWeighted, EmbeddingRecommender, check_init,
                             glorot_uniform, hop_balls, scratch_rows)

__all__ = ["GAT"]

SLOPE = 0.2                      # LeakyReLU's negative slope in the logits, the paper's
COMBINATIONS = ("mean", "last")

#: a kernel over rows with fewer stored entries than this runs on one thread
#: (:class:`~minigraphrec.threadpools.serial_if`): below it, waking the second thread
#: costs more than it saves. (At 1 << 18 the last layer's kernels, 0.19M edges on Gowalla,
#: ran serially: its backward took 8.5 ms against 4.8 ms on both threads.)
SERIAL_EDGES = 1 << 15


def _serial_for_edges(indptr, rows):
    """One numba thread for a kernel over ``rows`` with fewer than ``SERIAL_EDGES`` stored
    entries (counted in ``indptr``)."""
    from ..ops._row_work import rows_nnz
    from ..threadpools import serial_if
    return serial_if(rows_nnz(indptr, rows) < SERIAL_EDGES)


def _inverse_perm(model, g):
    """``inv[perm] = arange(nnz)``: each edge's entry in the transpose of ``g``, kept on ``model``.

    The kernels write the per-edge values the backward scatter reads straight
    into the transpose's order (no ``x[perm]`` gather per step).
    """
    def make():
        perm = g.transpose[2]
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.shape[0], dtype=perm.dtype)
        return inv
    return kept(model, "_inv_perm", g, make)


def _log_weights(model, g, dt):
    """``log w`` of ``g``'s edges (nnz,) in the model's dtype ``dt``, kept on ``model``.

    The same for every step and layer of a fit: cast once per graph and dtype
    (:func:`~minigraphrec.models.base.kept`), not once per layer per step.
    """
    return kept(model, "_log_w", g, lambda: g.log_weights.astype(dt), key=dt.str)


def _positions(model, key, n, rows):
    """``pos`` (n,) int64 with ``pos[rows[k]] = k`` and -1 elsewhere, kept between steps.

    Stored in ``model._workspace`` under ``key`` with the rows it was last given: a call
    resets those entries to -1 and sets the new ones, so a step costs ``O(len(rows))``
    instead of the ``O(n)`` of a fresh ``np.full(n, -1)``, with the same values. Valid until
    the next call with ``key``, as the other scratch arrays of a step.
    """
    ws = model.__dict__.setdefault("_workspace", {})
    pos, last = ws.get(key, (None, None))
    if pos is None or pos.shape[0] != n:
        pos = np.full(n, -1, dtype=np.int64)
    else:
        pos[last] = -1
    pos[rows] = np.arange(rows.shape[0])
    ws[key] = (pos, rows)
    return pos


def _head_scores(Z, a_src, a_dst):
    r"""``s_src[:, h] = Z[:, h] a_src[h]`` and ``s_dst`` alike, (m, H) each, C-contiguous.

    One BLAS product per head, ``Z[:, h] [a_src[h], a_dst[h]]`` (m, d) @ (d, 2), so ``Z`` is
    read once (NumPy reference: ``np.einsum("nhd,hd->nh", Z, a)``, equal to rounding).
    """
    m, H, _ = Z.shape
    s_src, s_dst = np.empty((m, H), dtype=Z.dtype), np.empty((m, H), dtype=Z.dtype)
    for h in range(H):
        P = Z[:, h, :] @ np.stack([a_src[h], a_dst[h]], axis=1)             # (m, 2)
        s_src[:, h], s_dst[:, h] = P[:, 0], P[:, 1]
    return s_src, s_dst


def _head_scores_backward(ds_src, ds_dst, Z):
    r"""``(da_src, da_dst)`` (H, d) each: ``da_src[h] = Σ_n ds_src[n, h] Z[n, h]``, and alike.

    One BLAS product per head, ``[ds_src[:, h], ds_dst[:, h]]ᵀ Z[:, h]`` (2, m) @ (m, d)
    (NumPy reference: ``np.einsum("nh,nhd->hd", ds, Z)``, equal to rounding).
    """
    _, H, d = Z.shape
    da_src, da_dst = np.empty((H, d), dtype=Z.dtype), np.empty((H, d), dtype=Z.dtype)
    for h in range(H):
        G = np.stack([ds_src[:, h], ds_dst[:, h]]) @ Z[:, h, :]              # (2, d)
        da_src[h], da_dst[h] = G
    return da_src, da_dst


class GAT(EdgeWeighted, EmbeddingRecommender):
    r"""Multi-head graph attention over the user–item graph, ``n_layers`` layers.

    Parameters
    ----------
    dim : int, width of ``H^0`` and of every layer's output
    n_layers : int >= 1
    n_heads : int >= 1
    concat_heads : bool, concatenate the heads (each ``dim / n_heads`` wide)
        or average them (each ``dim`` wide)
    attention_dropout : float in [0, 1), dropout on the attention coefficients
    self_loops : bool, let every node attend to itself (the paper: yes)
    activation : a name in :data:`minigraphrec.ops.ACTIVATIONS`
    final_activation : bool, apply σ after the last layer too
    layer_combination : {"mean", "last"}, the final embedding
    edge_weights : None, "count", "log1p" or "time_decay"; weighted attention
        (see the module docstring)
    half_life : float > 0, required with ``edge_weights="time_decay"``
        (the timestamps' unit), ignored otherwise
    input : {"embedding", "features", "both"}
    backend : {"numba", "numpy"}, batch-local attention by numba kernels, or the
        full-graph NumPy/SciPy reference (same numbers to rounding); the BPR sampling
        and Adam follow it (the same bits either way)
    init : {"xavier", "normal"}
        ``E0``'s initialisation: Glorot-uniform user and item tables (default, as
        MF and LightGCN) or ``N(0, 0.1²)``; see
        :func:`~minigraphrec.models.embedding_base.id_embeddings`.
    loss, lr, batch_size, reg, n_negatives, epochs, patience, metric
        The training hyperparameters shared by the trainable models: see
        :class:`~minigraphrec.models.EmbeddingRecommender`.
    scoring, dtype, random_state, verbose, score_dtype
        Shared as well: see :class:`~minigraphrec.models.EmbeddingRecommender`.

    Attributes
    ----------
    params : dict
        ``"E0"`` (n_nodes, dim) with an id embedding input;
        ``"W_user_in"`` (n_user_features, dim), ``"W_item_in"``
        (n_item_features, dim) with a feature input; per layer ``l``:
        ``"W{l}"`` (dim, n_heads · d_head), ``"a_src{l}"`` and ``"a_dst{l}"``
        (n_heads, d_head), and with edge weights ``"beta{l}"`` (n_heads,).
    R_weighted_ : scipy CSR (n_users, n_items) or None, the edge weights used
    user_embeddings_, item_embeddings_ : rows of the final embedding

    Notes
    -----
    Initialisation: ``E0`` by ``init`` (Glorot-uniform tables by default); ``W``,
    ``a_src``, ``a_dst`` and the
    input projections Glorot-uniform; ``β = 1``.

    **Explanations, ad-hoc histories, updates.**

    * ``explain(user, item, k)``: **approximate**, gradient × input over the layer-0 rows ``H⁰``
      (``E0`` or the projected features, as GCN), halved: ``c_v = ½ h⁰_v · ∂s_ui/∂h⁰_v``
      (``kind="node"``, ``exact=False``); each source also gets, in ``paths``, the path of
      largest attention product to the user's or the item's node, and ``attention_along(path)``
      the weights along it.
    * ``score_history(items)``: fold-in of the user's *final* embedding with the items frozen,
      seeded (``fold_in``); approximate.
    * ``partial_fit`` / ``forget``: see
      :class:`~minigraphrec.models.embedding_base.EmbeddingRecommender` (approximate;
      ``forget(method="retrain")`` is exact); with a feature input (``"features"`` or
      ``"both"``), ``partial_fit`` takes the new users' and items' feature rows from
      ``new_interactions``' ``user_features`` / ``item_features`` (a clear error when a new
      node has none), and projects them with the shared ``W_user_in`` / ``W_item_in``.
    """

    _state_attrs = EmbeddingRecommender._state_attrs + ("R_weighted_",)
    _dropout_params = ("attention_dropout",)

    def __init__(self, dim=64, n_layers=2, n_heads=1, concat_heads=True, attention_dropout=0.0,
                 self_loops=True, activation="identity", final_activation=False,
                 layer_combination="mean", edge_weights=None, half_life=None,
                 input="embedding", backend="numba", loss="bpr", lr=1e-3, batch_size=2048, reg=1e-4,
                 n_negatives=1, epochs=50, patience=None, metric="recall@20", scoring="dot",
                 dtype="float32", random_state=None, verbose=False, init="xavier",
                 score_dtype="float64"):
        self.dim = dim
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.concat_heads = concat_heads
        self.attention_dropout = attention_dropout
        self.self_loops = self_loops
        self.activation = activation
        self.final_activation = final_activation
        self.layer_combination = layer_combination
        self.edge_weights = edge_weights
        self.half_life = half_life
        self.input = input
        self.backend = backend
        self.loss = loss
        self.lr = lr
        self.batch_size = batch_size
        self.reg = reg
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.patience = patience
        self.metric = metric
        self.scoring = scoring
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.init = init
        self.score_dtype = score_dtype

    def _check_hyperparameters(self):
        self._check_common()
        check_int(self.dim, "dim")
        check_int(self.n_layers, "n_layers")
        check_int(self.n_heads, "n_heads")
        check_init(self.init)
        for name in ("concat_heads", "self_loops", "final_activation"):  # "no": silently True
            check_bool(getattr(self, name), name)
        if self.concat_heads and self.dim % self.n_heads:
            raise DataError(f"with concat_heads=True, dim ({self.dim}) must be divisible by "
                             f"n_heads ({self.n_heads}): each head is dim / n_heads wide")
        p = check_param_number(self.attention_dropout, "attention_dropout", at_least=0.0)
        if p >= 1:
            raise DataError(f"attention_dropout must be in [0, 1), got {p}")
        if self.activation not in ACTIVATIONS:
            raise DataError(f"activation must be one of {tuple(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        for name, allowed in (("layer_combination", COMBINATIONS), ("input", INPUTS)):
            if getattr(self, name) not in allowed:
                raise DataError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        check_backend(self.backend)
        check_edge_weights(self.edge_weights, self.half_life)

    @property
    def _d_head(self):
        return int(self.dim) // int(self.n_heads) if self.concat_heads else int(self.dim)

    # -------------------------------------------------------------- build
    def _build(self, R, user_features, item_features):
        weighted = getattr(self, "R_weighted_", None) is not None
        A = bipartite_adjacency(self._graph_matrix(R))                     # (n, n), weighted
        if self.self_loops:
            A = normalize_adjacency(A, "none", self_loops=True)            # A + I, loops weigh 1
        self._graph = attention_graph(A, weighted=weighted)                # log w for β log w
        self._pattern = A.tocsr()                                          # for the hop balls
        self._build_input(user_features, item_features)                   # _X_user, _X_item

    def _init_params(self, rng):
        d, dt, n_heads, d_head = int(self.dim), self._dtype, int(self.n_heads), self._d_head
        params = self._init_input_params(rng)                   # E0, W_user_in, W_item_in
        for layer in range(self.n_layers):
            params[f"W{layer}"] = glorot_uniform(rng, (d, n_heads * d_head), dt)
            params[f"a_src{layer}"] = glorot_uniform(rng, (n_heads, d_head), dt)
            params[f"a_dst{layer}"] = glorot_uniform(rng, (n_heads, d_head), dt)
            if self.edge_weights is not None:
                params[f"beta{layer}"] = np.ones(n_heads, dtype=dt)   # weights replace A's ones
        return params

    # ------------------------------------------------------------ forward
    def _attend(self, H0, training):
        """The final embeddings (n_nodes, dim) and the per-layer caches."""
        p = self.params
        dropout = float(self.attention_dropout) if training else 0.0
        rng = np.random.default_rng([self.dropout_seed_, self.step_]) if dropout > 0 else None
        H, total, caches = H0, H0.copy(), []
        for layer in range(self.n_layers):
            last = layer == self.n_layers - 1
            act = self.activation if (not last or self.final_activation) else "identity"
            H, cache = gat_layer_forward(
                self._graph, H, p[f"W{layer}"], p[f"a_src{layer}"], p[f"a_dst{layer}"],
                concat=bool(self.concat_heads), dropout=dropout, rng=rng, activation=act,
                slope=SLOPE, beta=p.get(f"beta{layer}"), backend=self.backend)   # (n, dim)
            caches.append(cache)
            total += H
        if self.layer_combination == "mean":
            return total / self._dtype.type(self.n_layers + 1), caches       # (n, dim)
        return H, caches

    def _forward_rows(self, nodes):
        if self.backend == "numpy":                    # the full-graph reference
            H0, c_in = self._input_layer()
            E, caches = self._attend(H0, training=True)
            return E[nodes], H0[nodes], ("full", nodes, E.shape, c_in, caches)
        return self._forward_rows_local(nodes)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        if cache[0] == "local":
            return self._backward_rows_local(cache, dZ, dH0)
        _, nodes, shape, c_in, caches = cache
        grads = {}
        dE = np.zeros(shape, dtype=self._dtype)                            # (n, dim)
        dE[nodes] = dZ
        mean = self.layer_combination == "mean"
        if mean:
            dE /= self._dtype.type(self.n_layers + 1)                      # every depth's share
        dH = dE.copy()                                                     # gradient of H^L
        for layer in reversed(range(self.n_layers)):
            dH, grads[f"W{layer}"], grads[f"a_src{layer}"], grads[f"a_dst{layer}"], dbeta = \
                gat_layer_backward(caches[layer], dH)                     # dH of H^{layer}
            if dbeta is not None:
                grads[f"beta{layer}"] = dbeta
            if mean:
                dH += dE                                                   # H^{layer} in the mean
        dH[nodes] += dH0                                                   # the L2 term
        self._input_layer_backward(c_in, dH, grads)                        # E0, W_*_in
        return {k: grads[k].astype(self._dtype, copy=False) for k in self.params}

    # ------------------------------------------- batch-local attention (numba)
    def _scratch(self, key, rows, *tail):
        r"""A C-contiguous ``(rows, *tail)`` array of the model's dtype, kept between steps.

        The first ``rows`` of one buffer per ``key`` (grown when a batch needs more), so the
        per-edge and per-node arrays of a step reuse memory instead of page-faulting tens
        of MB in every step (the same scatter kernel took 20 ms in one step and 47 ms in
        another on Gowalla). Valid until the next step: the forward pass's cache lives in
        them. :func:`~minigraphrec.models.embedding_base.scratch_rows`, with room for every
        node (or every edge, when a step needs more rows).
        """
        return scratch_rows(self, key, rows, tail, self._dtype, capacity=self._graph.n_nodes)

    def _forward_rows_local(self, nodes):
        r"""The batch's final embeddings, each layer attended on the rows the next one reads.

        With ``S_h`` the ``h``-hop balls of the batch
        (:func:`~minigraphrec.models.embedding_base.hop_balls`), layer ``l``
        (0-based) computes ``H^{l+1}`` for the receivers ``S_{L-1-l}`` only:
        their logits, softmax and aggregate need ``Z = H^l W`` on their
        neighbours, within ``S_{L-l}``, where ``H^l`` was computed. The
        attention-dropout mask is the full graph's (an ``(nnz, n_heads)``
        draw per layer, in the same order), of which the computed edges are
        used. Kernels: :mod:`minigraphrec.kernels.gat_rows`; every row is
        the full-graph layer's computation, equal to rounding (the aggregate sums
        by fours; in float32 the softmax sums in float64: the kernels' docstrings).

        The mask's draw grows with the whole graph, not the batch (``nnz · n_heads``
        uniforms per layer and step); NGCF draws only its rows' with a skip-ahead
        (:mod:`minigraphrec.kernels.pcg64`). It stays a full draw here: another draw
        would change the random stream, and so every GAT trained with attention dropout.
        """
        from ..kernels.gat_rows import gat_forward_rows
        p, g, dt, L = self.params, self._graph, self._dtype, int(self.n_layers)
        n, H, d = g.n_nodes, int(self.n_heads), self._d_head
        balls = hop_balls(self._pattern, nodes, L)                         # S_0 .. S_L
        if self.input == "embedding":
            H0, c_in = p["E0"], None                                       # no copy
        else:
            H0, c_in = self._input_layer()                                 # (n, dim)
        dropout = float(self.attention_dropout)
        rng = np.random.default_rng([self.dropout_seed_, self.step_]) if dropout > 0 else None
        H_in = H0 if balls[L].shape[0] == n else H0[balls[L]]              # (m_in, dim)
        total = H0[nodes].copy()                                           # (|S_0|, dim)
        caches = []
        for layer in range(L):
            R, In = balls[L - 1 - layer], balls[L - layer]                 # receivers, senders
            m, m_in = R.shape[0], In.shape[0]
            pos = _positions(self, ("pos", layer), n, In)                # (n,) node -> row of In
            W = p[f"W{layer}"]
            Zf, c_lin = linear_forward(np.ascontiguousarray(H_in), W, backend="numba")
            Z = Zf.reshape(m_in, H, d)                                     # (m_in, H, d)
            a_src, a_dst = p[f"a_src{layer}"], p[f"a_dst{layer}"]
            s_src, s_dst = _head_scores(Z, a_src, a_dst)                   # (m_in, H) each
            beta = p.get(f"beta{layer}")
            has_w = beta is not None
            log_w = _log_weights(self, g, dt) if has_w else np.zeros(1, dtype=dt)
            nnz = g.indices.shape[0]
            # the full graph's draw, for the same mask as the full-graph layer's: O(nnz) per
            # layer and step however small the batch (NGCF skips the rows it does not use
            # with kernels/pcg64's skip-ahead); changing it would change the random stream
            U = rng.random((nnz, H)) if dropout > 0 else np.zeros((1, 1))
            e = self._scratch(("e", layer), nnz, H)                        # valid on R's edges
            alpha = self._scratch(("alpha", layer), nnz, H)
            alpha_T = self._scratch(("alpha_T", layer), nnz, H)  # dropped, transposed order
            Y = self._scratch(("Y", layer), m, H, d)
            with _serial_for_edges(g.indptr, R):
                gat_forward_rows(g.indptr, g.indices, R, row_blocks(g.indptr, R), pos, s_src,
                                 s_dst, dt.type(SLOPE),
                                 log_w, beta if has_w else np.zeros(H, dtype=dt), has_w, U,
                                 dropout,
                                 dt.type(1 / (1 - dropout)), Z, e, alpha, _inverse_perm(self, g),
                                 alpha_T, Y)
            Y = Y.reshape(m, H * d) if self.concat_heads else Y.mean(axis=1)   # (m, dim)
            last = layer == L - 1
            act = self.activation if (not last or self.final_activation) else "identity"
            H_out, c_act = ACTIVATIONS[act][0](Y)                          # (m, dim)
            caches.append((R, In, pos, c_lin, Z, e, alpha, alpha_T, U, dropout,
                           log_w, has_w, act, c_act))
            total += H_out if m == nodes.shape[0] else H_out[np.searchsorted(R, nodes)]
            H_in = H_out
        if self.layer_combination == "mean":
            E = total / dt.type(L + 1)                                     # (|S_0|, dim)
        else:
            E = H_out                                                      # R = S_0 = nodes
        return E, H0[nodes], ("local", nodes, balls, c_in, caches)

    def _backward_rows_local(self, cache, dZ, dH0):
        r"""The transpose of :meth:`_forward_rows_local`, layer by layer on the same rows."""
        from ..kernels.gat_rows import gat_backward_rows, gat_scatter_rows
        _, nodes, balls, c_in, caches = cache
        p, g, dt, L = self.params, self._graph, self._dtype, int(self.n_layers)
        n, H, d = g.n_nodes, int(self.n_heads), self._d_head
        t_indptr, t_indices, _ = g.transpose
        inv_perm = _inverse_perm(self, g)                                  # edge -> transposed
        grads = {}
        dE = np.asarray(dZ, dtype=dt)                                      # (|S_0|, dim)
        mean = self.layer_combination == "mean"
        if mean:
            dE = dE / dt.type(L + 1)                                       # every depth's share
        dH = dE.copy()                                                     # gradient of H^L on S_0
        for layer in reversed(range(L)):
            (R, In, pos, c_lin, Z, e, alpha, alpha_T, U, dropout, log_w, has_w, act,
             c_act) = caches[layer]
            m, m_in = R.shape[0], In.shape[0]
            dYa = np.asarray(ACTIVATIONS[act][1](c_act, dH), dtype=dt)     # (m, dim)
            if self.concat_heads:
                dY = dYa.reshape(m, H, d)
            else:
                dY = np.repeat(dYa[:, None, :] / dt.type(H), H, axis=1)    # (m, H, d)
            dY = np.ascontiguousarray(dY)
            dpre = self._scratch("dpre", e.shape[0], H)
            dpre_T = self._scratch("dpre_T", e.shape[0], H)                # transposed order
            ds_dst = np.empty((m, H), dtype=dt)
            dbeta_rows = np.empty((m, H), dtype=dt)
            with _serial_for_edges(g.indptr, R):
                gat_backward_rows(g.indptr, g.indices, R, row_blocks(g.indptr, R), pos, Z, dY,
                                  e, alpha, U, dropout,
                                  dt.type(1 / (1 - dropout)), dt.type(SLOPE), log_w, has_w,
                                  inv_perm, dpre, dpre_T, ds_dst, dbeta_rows)
            pos_R = _positions(self, "pos_R", n, R)                          # (n,) node -> row of R
            ds_dst_in = np.zeros((m_in, H), dtype=dt)                      # (m_in, H)
            ds_dst_in[pos[R]] = ds_dst
            a_src, a_dst = p[f"a_src{layer}"], p[f"a_dst{layer}"]
            dZa = self._scratch("dZa", m_in, H, d)
            ds_src = np.empty((m_in, H), dtype=dt)
            # dZ on the senders In: the aggregate's share + ds_src a_src + ds_dst a_dst
            with _serial_for_edges(t_indptr, In):                      # the senders' entries
                gat_scatter_rows(t_indptr, t_indices, In, row_blocks(t_indptr, In), pos_R,
                                 alpha_T, dpre_T, dY, ds_dst_in, a_src, a_dst,
                                 dZa, ds_src)                                  # (m_in, H, d)
            grads[f"a_src{layer}"], grads[f"a_dst{layer}"] = _head_scores_backward(
                ds_src, ds_dst_in, Z)                                          # (H, d) each
            if has_w:
                grads[f"beta{layer}"] = dbeta_rows.sum(axis=0)                 # (H,)
            dH, grads[f"W{layer}"], _ = linear_backward(c_lin, dZa.reshape(m_in, H * d))
            if mean:                                                       # H^{layer} in the mean
                dH[nodes if m_in == n else np.searchsorted(In, nodes)] += dE
        if balls[L].shape[0] != n:                                         # H^0 on S_L only
            dH_full = np.zeros((n, dH.shape[1]), dtype=dt)
            dH_full[balls[L]] = dH
            dH = dH_full
        dH[nodes] += dH0                                                   # the L2 term
        self._input_layer_backward(c_in, dH, grads)                        # E0, W_*_in
        return {k: grads[k].astype(self._dtype, copy=False) for k in self.params}

    def _all_embeddings(self):
        H0, _ = self._input_layer()
        E, _ = self._attend(H0, training=False)
        return E

    # ================================================================================
    # The article's §8 open problems (docs, tutorial 12): explanations with the attention
    # paths.
    # ================================================================================
    def _explain(self, user, item, k):
        r"""Gradient × input over the layer-0 rows (approximate), with attention paths.

        The contributions are those of
        :meth:`~minigraphrec.models.embedding_base.EmbeddingRecommender._explain_gradient_input`
        (``c_v = ½ h⁰_v · ∂s/∂h⁰_v``, ``exact=False``: attention is not
        linear in ``H⁰``). Each source ``v`` also gets, in ``paths``, the path
        of largest attention product by which its layer-0 row reaches the
        user's or the item's node: ``t = x_0, x_1, ..., x_h = v`` with
        ``h ≤ L``, hop ``j`` through layer ``L - j`` (the last layer feeds
        ``t``), maximising ``Π_j α^{(L-j)}_{x_{j-1} x_j}`` over both targets and
        every ``h`` (``α`` the head mean of a layer's attention, no dropout;
        self-loops can appear as repeated nodes). :meth:`attention_along`
        gives the weights along a path. A source that reaches neither target
        by an attention edge (``h = 0``) is the target itself.
        """
        ex = self._explain_gradient_input(user, item, k=None)
        alphas = self._attention_matrices()
        targets = (user, self.n_users_ + item)
        best = [_best_attention_paths(alphas, t) for t in targets]
        paths = []
        for v in ex.sources:
            choice = max(((b[0][h][v], -h, t) for t, b in zip(range(2), best)
                          for h in range(len(b[0])) if b[0][h][v] > 0), default=None)
            if choice is None:
                paths.append((int(v),))
                continue
            _, minus_h, t = choice
            paths.append(_backtrack(best[t][1], -minus_h, int(v)))
        from ..explain import Explanation
        return Explanation.from_contributions(
            user, item, ex.sources, ex.contributions, kind="node", score=ex.score, exact=False,
            k=k, paths=paths,
            method=ex.method + "; paths: largest attention product to the user or item node")

    def _attention_matrices(self):
        r"""Per layer ``l``: the (n, n) CSR of ``α^{(l)}[r, s]``, receiver ``r``, sender ``s``,
        averaged over heads, without dropout (the attention of the final embeddings)."""
        import scipy.sparse as sp
        H0, _ = self._input_layer()
        _, caches = self._attend(H0, training=False)
        g, n = self._graph, self._graph.n_nodes
        return [sp.csr_matrix((np.asarray(c.alpha, dtype=np.float64).mean(axis=1), g.indices,
                               g.indptr), shape=(n, n)) for c in caches]

    def attention_along(self, path):
        r"""The attention weights along ``path`` (node ids, from the user's or item's node).

        Hop ``j`` (from ``path[j-1]``, the receiver, to ``path[j]``, the
        sender) uses layer ``L - j``: the weights of the paths in
        :meth:`explain`. Returns a float64 array of ``len(path) - 1`` weights
        (0 where there is no edge). DataError for a path that is empty or holds an id
        outside ``0 .. n_users + n_items - 1`` (a negative id would index from the end).
        """
        self._check_trainable()
        self._check_call_params("attention_along")
        path = check_ids(path, "path", self.n_users_ + self.n_items_)   # (len,) node ids
        if path.shape[0] == 0:
            raise DataError("path must hold at least one node id (the user's or the item's "
                            "node first), got an empty path")
        L = int(self.n_layers)
        if path.shape[0] - 1 > L:
            raise ValueError(f"a path has at most n_layers = {L} hops, got {path.shape[0] - 1}")
        alphas = self._attention_matrices()
        return np.array([alphas[L - j][path[j - 1], path[j]] for j in range(1, path.shape[0])],
                        dtype=np.float64)


def _best_attention_paths(alphas, target):
    r"""Viterbi from ``target``: ``best[h][v]`` the largest attention product of an ``h``-hop
    path ``target → … → v`` (hop ``j`` through layer ``L - j``) and the back-pointers."""
    import scipy.sparse as sp
    L = len(alphas)
    n = alphas[0].shape[0]
    value = np.zeros(n)
    value[target] = 1.0
    best, back = [value], [None]
    for j in range(1, L + 1):
        M = sp.diags(best[-1]) @ alphas[L - j]                            # (n, n) rows: receivers
        M = sp.csc_matrix(M)
        best.append(np.asarray(M.max(axis=0).todense()).ravel())          # (n,)
        back.append(np.asarray(M.argmax(axis=0)).ravel())                 # (n,) best receiver
    return best, back


def _backtrack(back, h, v):
    path = [v]
    for j in range(h, 0, -1):
        path.append(int(back[j][path[-1]]))
    return tuple(reversed(path))
