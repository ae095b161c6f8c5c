r"""GCN: the article's graph convolution layer, trained as a recommender.

The layer (the article's §4, Kipf & Welling's form), per node with the article's column
vectors ``h_u``:

.. math::  h_v^{l+1} = \sigma\Big(\sum_{u \in N(v)} \hat A_{vu}\, W^l h_u^l + b^l\Big).

The code keeps the nodes in rows (``H^l`` is (n_nodes, dim), its row ``u`` is
``(h_u^l)ᵀ``), so its weight matrix ``W = params["W{l}"]`` is the article's ``(W^l)ᵀ``:
the row ``(h_u^l)ᵀ W`` is ``(W^l h_u^l)ᵀ`` (tutorials/01_article_gcn.py computes both).
In matrix form, with the code's ``W``:

.. math::  H^{l+1} = \sigma(\hat A H^l W + b^l), \qquad W = (W^l)^\top,

on the bipartite user–item graph (users first), computed as
``M = Â H`` (propagate), ``Z = M W + b`` (linear), ``H' = σ(Z)``.

Choices (hyperparameters):

* ``normalization``: ``"sum"`` is the formula as printed, ``Â = A`` (an
  unnormalised sum over neighbours; activations grow with the degree),
  ``"mean"`` is ``D^{-1} A`` (the neighbours' average), ``"symmetric"`` is
  ``D^{-1/2} A D^{-1/2}`` (Kipf & Welling); ``self_loops`` adds ``I`` to
  ``A`` first, so a node keeps its own features (the printed sum over
  ``N(v)`` does not include ``v``).
* ``activation`` σ: ``"relu"`` (the article's choice), ``"leaky_relu"``
  (slope 0.2), ``"tanh"``, ``"sigmoid"``, ``"identity"``.
* No dropout: Kipf & Welling drop 50 % of each layer's input in training;
  this model, as the article's layer, has none (NGCF's ``message_dropout``
  and GAT's ``attention_dropout`` are the library's dropouts).
* ``final_activation``: the article applies σ on every layer. With ReLU the
  last layer's embeddings are then non-negative, so every dot-product score
  is ``>= 0`` and a zero row scores nothing; by default (False) σ is applied
  on the hidden layers only and the last layer is linear, as in most GCN
  recommenders. ``True`` is the article as printed.
* ``input``: ``"embedding"`` gives every node a free id embedding
  ``H^0 = E0``; ``"features"`` projects the node features, as the article's
  §5 example does with its user and item feature matrices, which have
  different widths, hence two matrices:
  ``H^0 = [X_user W_user_in ; X_item W_item_in]`` (``X`` dense or SciPy
  sparse, the projections learned); ``"both"`` adds the two, which is the
  same model class as projecting the concatenation ``[one-hot id | X]``
  with one learned matrix (a side without features gets only its
  embedding).
* ``edge_weights`` (the article's edge features, §3): ``None`` is the
  binary graph; ``"count"``, ``"log1p"`` or ``"time_decay"`` (with
  ``half_life``, in the timestamps' unit) replace ``A``'s ones by the
  weights of :func:`~minigraphrec.graph.edge_weight_matrix`
  (interaction frequency, or recency), and the normalisation is applied
  *after* weighting, with weighted degrees ``d_v = Σ_u A_vu`` (+1 for the
  self-loop, which weighs 1): ``"mean"`` then averages the neighbours with
  weights ``w_vu / d_v``.

Cold start. An item (or user) with features but no training interaction
is an isolated node; with ``self_loops`` (the default) its row of ``Â`` is
its own self-loop, so with ``input="features"`` its final embedding is the
layers applied to its projected features alone, ``σ(…σ(x W_in W0 + b0)…)``
(the row ``x``, the code's ``W0``, ``b0``): a feature-driven, non-constant score for
every user. (Without self-loops an isolated node's hidden rows are
``σ(b^l)`` and its final row the last layer's bias ``b^{L-1}`` as it is
(``σ(b^{L-1})`` with ``final_activation``), the same for every such node;
with ``input="embedding"`` they come from an ``E0`` row no positive pair
ever trained.)

The final embedding of a node is its row of ``H^L``; scores are
``e_u · e_i`` (or cosine, see ``scoring``). Loss and L2 term as in
:mod:`minigraphrec.models.embedding_base`, with the layer-0 rows being the
batch's rows of ``H^0`` (the id embeddings, the projected features, or their
sum); the weights ``W``, ``b`` and the input projections are not
regularised (the convention of NGCF's code, documented there).

Batch-local training (same numbers, less work). The loss reads the final
embeddings of the batch's nodes ``S_0`` only, and a layer's row ``v`` needs
its input on ``v``'s neighbours only; so with ``S_h`` the nodes within ``h``
hops of the batch, layer ``l`` is computed on ``S_{L-1-l}`` alone (the
backward pass, its transpose, sends gradients from ``S_{L-1-l}`` to
``S_{L-l}``). Each computed row is the same sum as in the full-graph pass
(which ``GCN._all_embeddings`` still runs for scoring), so the loss and
its gradient are the same to rounding (tests/test_models.py compares them
with the full-graph pass in float64 to 1e-12). The products run through
``rows_product`` and friends (``ops/propagate.py``) (numba, thread
count independent); ``dW = Mᵀ dZ`` through ``xt_dot`` (``ops/dense.py``).
On Gowalla a batch of 2048 triples touches 5.8k nodes, whose 1-hop ball
holds 53k of the 71k nodes: the first layer still covers most of the graph,
the last one a twelfth of it. With a feature input (``"features"``, ``"both"``)
the layer-0 rows ``H^0`` (and ``dW_user_in``, ``dW_item_in``) are computed on
every node, where ``S_L`` would do: that is 53k of the 71k nodes with one layer and
every node from two layers on (the 2-hop ball is the whole graph), so it would save
at most a quarter of the input layer, 4-8 ms of a 33-49 ms one-layer step there
(measured with 32 + 64 dense or 300 + 1000 sparse feature columns, one thread).

Backend. GCN has no ``backend`` hyperparameter (LightGCN and GAT have one): it runs
the numba kernels only, in its passes as in its sampling and Adam steps. Each of those
kernels has a NumPy/SciPy reference that a test compares it with: the row products,
the products in halves and ``xt_dot`` in tests/test_models.py, the full-graph product
in tests/test_spmm.py, the samplers in tests/test_sampling.py and Adam in
tests/test_optim.py.
"""
from __future__ import annotations

import numpy as np

from ..graph import bipartite_adjacency, check_edge_weights, normalize_adjacency
from ..ops.dense import ACTIVATIONS, linear_backward, linear_forward
from ..ops.propagate import propagate_forward
from ..errors import DataError, check_bool, check_int
from .embedding_base import (INPUTS, EdgeWeighted, EmbeddingRecommender, check_init,
                             glorot_uniform, hop_balls, scratch_rows)

__all__ = ["GCN"]

NORMALIZATIONS = {"sum": "none", "mean": "left", "symmetric": "symmetric"}


class GCN(EdgeWeighted, EmbeddingRecommender):
    r"""The article's GCN: ``H^{l+1} = σ(Â H^l W + b^l)``, ``n_layers`` times.

    Nodes are rows, so ``W = params["W{l}"]`` is the article's ``(W^l)ᵀ`` (module docstring).

    Parameters
    ----------
    dim : int, width of every layer (the article's example: 16)
    n_layers : int >= 1
    normalization : {"symmetric", "mean", "sum"}
    self_loops : bool, add ``I`` to the adjacency before normalising
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "identity"}
    final_activation : bool, apply σ after the last layer too (the article)
    input : {"embedding", "features", "both"}
    edge_weights : None, "count", "log1p" or "time_decay"; weighted ``A``
        (see the module docstring)
    half_life : float > 0, required with ``edge_weights="time_decay"``
        (the timestamps' unit), ignored otherwise
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
        ``"W_user_in"`` (n_user_features, dim) and ``"W_item_in"``
        (n_item_features, dim) with a feature input; ``"W0", "b0", ...,
        "W{L-1}", "b{L-1}"``, each ``W`` (dim, dim) and ``b`` (dim,).
    A_hat_ : scipy CSR (n_nodes, n_nodes), Â in the model's dtype
    R_weighted_ : scipy CSR (n_users, n_items) float64 or None, the edge weights used
    user_embeddings_, item_embeddings_ : rows of ``H^L``

    Notes
    -----
    Initialisation: ``E0`` by ``init`` (Glorot-uniform tables by default), every ``W``
    Glorot-uniform, ``b = 0``.

    **Explanations, ad-hoc histories, updates.**

    * ``explain(user, item, k)``: **approximate**, gradient × input over the layer-0 rows ``H⁰``
      (``E0``; with ``input="features"`` the projected features ``X W_in``, with ``"both"``
      their sum), halved: ``c_v = ½ h⁰_v · ∂s_ui/∂h⁰_v`` (``kind="node"``, ``exact=False``);
      with zero biases and ReLU or identity the score is homogeneous of degree 2 in ``H⁰`` and
      the halves sum to it exactly (Euler), otherwise they do not.
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

    def __init__(self, dim=64, n_layers=2, normalization="symmetric", self_loops=True,
                 activation="relu", final_activation=False, input="embedding",
                 edge_weights=None, half_life=None, loss="bpr", lr=1e-3, batch_size=2048,
                 reg=1e-4, n_negatives=1, epochs=50, patience=None, metric="recall@20",
                 scoring="dot", dtype="float32", random_state=None, verbose=False,
                 init="xavier", score_dtype="float64"):
        self.dim = dim
        self.n_layers = n_layers
        self.normalization = normalization
        self.self_loops = self_loops
        self.activation = activation
        self.final_activation = final_activation
        self.input = input
        self.edge_weights = edge_weights
        self.half_life = half_life
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
        check_init(self.init)
        for name in ("self_loops", "final_activation"):      # "no" would silently mean True
            check_bool(getattr(self, name), name)
        if self.normalization not in NORMALIZATIONS:
            raise DataError(f"normalization must be one of {tuple(NORMALIZATIONS)}, "
                             f"got {self.normalization!r}")
        if self.activation not in ACTIVATIONS:
            raise DataError(f"activation must be one of {tuple(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.input not in INPUTS:
            raise DataError(f"input must be one of {INPUTS}, got {self.input!r}")
        check_edge_weights(self.edge_weights, self.half_life)

    # -------------------------------------------------------------- build
    def _build(self, R, user_features, item_features):
        A = bipartite_adjacency(self._graph_matrix(R))                     # (n, n), weighted
        A_hat = normalize_adjacency(A, NORMALIZATIONS[self.normalization],
                                    self_loops=self.self_loops)            # after weighting
        self.A_hat_ = A_hat.astype(self._dtype)
        # Â is symmetric except for the mean (row) normalisation
        self._A_hat_T = (self.A_hat_ if self.normalization != "mean"
                         else self.A_hat_.T.tocsr())
        self._build_input(user_features, item_features)                   # _X_user, _X_item

    def _init_params(self, rng):
        d, dt = int(self.dim), self._dtype
        params = self._init_input_params(rng)                   # E0, W_user_in, W_item_in
        for layer in range(self.n_layers):
            params[f"W{layer}"] = glorot_uniform(rng, (d, d), dt)
            params[f"b{layer}"] = np.zeros(d, dtype=dt)
        return params

    # ------------------------------------------------------------ forward
    def _propagate(self, H0):
        """H^L (n_nodes, dim) and the per-layer caches: every layer on every node.

        Scoring (:meth:`_all_embeddings`) reads ``H^L`` only and discards the caches;
        training runs batch-local (:meth:`_forward_rows`). The caches are kept as the
        full-graph reference for tests/test_models.py (``_FullGCN``), which backpropagates
        through them and compares the batch-local loss and gradients.
        """
        act_forward = ACTIVATIONS[self.activation][0]
        H, caches = H0, []
        for layer in range(self.n_layers):
            M, c_prop = propagate_forward(self.A_hat_, H, backend="numba",
                                          A_hat_T=self._A_hat_T)          # (n, dim)  Â H
            Z, c_lin = linear_forward(M, self.params[f"W{layer}"], self.params[f"b{layer}"])
            if layer < self.n_layers - 1 or self.final_activation:
                H, c_act = act_forward(Z)                                  # (n, dim)  σ(Z)
            else:
                H, c_act = Z, None
            caches.append((c_prop, c_lin, c_act))
        return H, caches

    def _forward_rows(self, nodes):
        r"""``H^L`` on the batch's rows, each layer computed on the rows the next one reads.

        Layer ``l`` (0-based) is computed on the ball ``S_{L-1-l}`` only
        (:func:`~minigraphrec.models.embedding_base.hop_balls` in the graph
        of ``Â``): ``M = Â[S_{L-1-l}] H^l`` reads ``H^l`` on ``S_{L-l}``, the
        rows the previous layer computed, and ``S_0`` is the batch. Every row
        is the same sum as in the full-graph pass (:meth:`_propagate`), so
        the loss and its gradient are the same, to rounding.
        """
        from ..ops.propagate import rows_product
        L, n = self.n_layers, self.A_hat_.shape[0]
        balls = hop_balls(self.A_hat_, nodes, L - 1)                       # S_0 .. S_{L-1}
        if self.input == "embedding":
            H0, c_in = self.params["E0"], None                             # no copy
        else:
            H0, c_in = self._input_layer()                                 # (n, dim)
        act_forward = ACTIVATIONS[self.activation][0]
        H, caches = np.ascontiguousarray(H0), []
        for layer in range(L):
            rows = balls[L - 1 - layer]                                    # S_{L-1-l}
            M = rows_product(self.A_hat_, H, rows, "numba")                # (m, dim) Â[rows] H
            Z, c_lin = linear_forward(M, self.params[f"W{layer}"], self.params[f"b{layer}"],
                                      backend="numba")                     # (m, dim) M W + b
            if layer < L - 1 or self.final_activation:
                Hr, c_act = act_forward(Z)                                 # (m, dim) σ(Z)
            else:
                Hr, c_act = Z, None
            caches.append((rows, c_lin, c_act))
            if layer < L - 1:                   # the next layer reads H^{l+1} by node id
                if rows.shape[0] == n:          # every node, in order: Hr is H^{l+1}
                    H = Hr
                else:                           # (n, dim) kept between steps, valid on rows
                    H = scratch_rows(self, "H", n, (Hr.shape[1],), Hr.dtype)
                    H[rows] = Hr                # the next layer reads the neighbours of its
                                                # rows, all in these rows (S_{L-2-l} ⊂ S_{L-1-l})
        return Hr, H0[nodes], (nodes, H0.shape, c_in, caches)             # rows S_0 = nodes

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        r"""The transpose of :meth:`_forward_rows`: ``dH^l = Â[S_{L-1-l}]ᵀ dM``, on ``S_{L-l}``.

        Computed by pushing ``dM`` from its rows or by pulling through the
        rows of ``Âᵀ`` on ``S_{L-l}``, whichever reads fewer stored entries, into
        scratch arrays kept between steps (the gradient of ``H^0``, returned, only
        when ``reuse``: fit's steps).
        """
        from ..ops.propagate import rows_product_T_on
        nodes, shape, c_in, caches = cache
        act_backward = ACTIVATIONS[self.activation][1]
        n, dt = shape[0], self._dtype
        grads = {}
        dH = np.asarray(dZ, dtype=dt)                                      # (|S_0|, dim)
        for layer in reversed(range(self.n_layers)):
            rows, c_lin, c_act = caches[layer]
            dZl = dH if c_act is None else act_backward(c_act, dH)         # (m, dim)
            dM, grads[f"W{layer}"], grads[f"b{layer}"] = linear_backward(c_lin, dZl)
            # H^l is needed on the rows of layer l-1 (S_{L-l}), H^0 on every node
            targets = caches[layer - 1][0] if layer > 0 else np.arange(n)
            d = dM.shape[1]
            out = (scratch_rows(self, ("dH", layer), targets.shape[0], (d,), dt, capacity=n)
                   if layer > 0 or reuse else None)
            dH = rows_product_T_on(self.A_hat_, self._A_hat_T, rows,
                                   np.ascontiguousarray(dM, dtype=dt), targets, "numba",
                                   work=scratch_rows(self, "work", n, (d,), dt), out=out)
        dH[nodes] += dH0                                                   # the L2 term
        self._input_layer_backward(c_in, dH, grads)                        # E0, W_*_in
        return {k: grads[k].astype(self._dtype, copy=False) for k in self.params}

    def _all_embeddings(self):
        H0, _ = self._input_layer()
        H, _ = self._propagate(H0)
        return H
