r"""The shared base of the trainable embedding models (MF, LightGCN, GCN, NGCF, GAT).

A trainable model is an encoder: parameters ``params`` (a dict of arrays)
map every node of the user–item graph (users first, then items, ``n_nodes =
n_users + n_items``) to a final embedding. This class does the rest, the
same way for every model:

* ``fit(train, validation=None, epochs=None, callback=None)``: build the
  model's graph, initialise ``params``, train (:mod:`minigraphrec.train`),
  cache the final embeddings;
* ``loss_and_grad(batch)``: the loss of DESIGN.md and its exact gradient,
  computed from the ops' forward/backward pairs;
* ``score`` / ``recommend`` from the cached final embeddings
  (``user_embeddings_``, ``item_embeddings_``);
* ``save(path)`` (:mod:`minigraphrec.io`).

The losses, for a batch of ``B`` examples, ``e`` the final and ``e⁰`` the
layer-0 embeddings (``E0`` rows; for a GCN or GAT fed with node features,
the projected features, see :class:`~minigraphrec.models.gcn.GCN`):

.. math::

    L_{BPR} &= \frac1B \sum_b \mathrm{softplus}(e_u\cdot e_j - e_u\cdot e_i)
              + \frac{reg}{2B} \sum_b \big(\lVert e^0_u\rVert^2 + \lVert e^0_i\rVert^2
              + \lVert e^0_j\rVert^2\big) \\
    L_{BCE} &= \frac1B \sum_b \mathrm{BCEWithLogits}(e_u\cdot e_i, y_b)
              + \frac{reg}{2B} \sum_b \big(\lVert e^0_u\rVert^2 + \lVert e^0_i\rVert^2\big)

The batch type picks the loss: a :class:`~minigraphrec.batch.PairBatch` is
BPR, a :class:`~minigraphrec.batch.PointBatch` is BCE (``fit`` builds the
kind its ``loss`` hyperparameter names). A node drawn twice in a batch is
regularised twice, as in LightGCN's code.

A subclass provides

* ``_build(R, user_features, item_features)``: graph state from the binary
  training matrix (and features), e.g. ``A_hat_``;
* ``_init_params(rng)`` -> dict of arrays in ``self._dtype``;
* ``_forward_rows(nodes)`` -> ``(Z, H0, cache)``: the final embeddings
  ``Z`` (m, d_out) and layer-0 rows ``H0`` (m, d_0) of the distinct,
  sorted node ids ``nodes`` (m,);
* ``_backward_rows(cache, dZ, dH0, reuse=False)`` -> grads dict (full
  shapes); with ``reuse`` (the training loop) the arrays may be buffers the
  model overwrites on its next call, otherwise they are new;
* ``_all_embeddings()`` -> (n_nodes, d_out) final embeddings of every node.

and may extend ``_check_hyperparameters`` (call ``_check_common`` first)
and ``_state_attrs`` (the attributes :func:`minigraphrec.io.save` stores;
anything ``_build`` derives is rebuilt on load).

Two pieces shared by the graph models live here, so that they behave the
same everywhere:

* edge weights (GCN, LightGCN, GAT: hyperparameters ``edge_weights`` and
  ``half_life``): :func:`edge_weight_matrix` turns the training log into
  the weighted ``R_w`` that replaces the binary ``R`` when the model builds
  its graph; the model keeps it as ``R_weighted_`` (saved, so a loaded
  model rebuilds the same graph). Each model normalises *after* weighting.
* the layer-0 input (GCN, GAT: hyperparameter ``input``):
  ``_build_input`` / ``_init_input_params`` / ``_input_layer`` /
  ``_input_layer_backward`` give every node either a free id embedding
  (``"embedding"``), a learned projection of its side's feature matrix
  (``"features"``), or their sum (``"both"``). Fitted state set here:
``n_users_``, ``n_items_``, ``R_``, ``user_ids_``/``item_ids_`` (raw ids),
``user_features_``/``item_features_``, ``history_``, ``best_epoch_``,
``step_`` (optimiser steps taken) and ``dropout_seed_``: a model with
dropout draws its masks from ``np.random.default_rng([dropout_seed_,
step_])``, so its loss is a fixed function of the parameters within a
step (gradient checks) and training stays reproducible.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..batch import PairBatch, PointBatch
from ..errors import DataError
from ..losses import bce_with_logits_backward, bce_with_logits_forward
from ..losses import bpr_backward, bpr_forward, l2_backward, l2_forward
from ..ops.dense import linear_backward, linear_forward
from ..ops.embedding import gather_backward, gather_forward
from ..ops.scoring import dot_backward, dot_forward
from .base import Recommender

__all__ = ["EmbeddingRecommender", "glorot_uniform", "id_embeddings", "edge_weight_matrix",
           "hop_balls"]

LOSSES = ("bpr", "bce")
SCORINGS = ("dot", "cosine", "euclidean")
DTYPES = ("float32", "float64")
EDGE_WEIGHTS = (None, "count", "log1p", "time_decay")
INPUTS = ("embedding", "features", "both")
INITS = ("xavier", "normal")


def glorot_uniform(rng, shape, dtype):
    r"""Xavier/Glorot uniform: ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``, as TensorFlow's
    ``glorot_uniform`` and PyTorch's ``xavier_uniform_`` define it for a 2-d shape."""
    fan_in, fan_out = shape[0], shape[1]
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def check_init(init):
    """Return ``init`` if it is one of :data:`INITS`, else raise ValueError."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return init


def id_embeddings(rng, n_users, n_items, dim, dtype, init="xavier"):
    r"""Layer-0 id embeddings ``E0`` (n_users + n_items, dim), users first.

    ``init="xavier"``: a Glorot-uniform table for the users and another for
    the items, as the LightGCN paper states ("initialized with the Xavier
    method", §4.1.2) and its TensorFlow code does (``xavier_initializer`` on
    ``[n_users, d]`` and ``[n_items, d]``). ``init="normal"``: ``N(0, 0.1²)``
    for every row, the choice of the authors' PyTorch port (LightGCN-PyTorch).
    The draw order is fixed (users, then items), so a seed gives one table.
    """
    if check_init(init) == "normal":
        return (0.1 * rng.standard_normal((n_users + n_items, dim))).astype(dtype)
    return np.vstack([glorot_uniform(rng, (n_users, dim), dtype),
                      glorot_uniform(rng, (n_items, dim), dtype)])


def hop_balls(A_hat, nodes, n_hops, backend="numba"):
    r"""The balls ``[S_0, S_1, ..., S_{n_hops}]`` around ``nodes`` in the graph of ``A_hat``.

    ``S_h`` (ascending node ids) holds the nodes at most ``h`` hops from
    ``nodes``; ``S_0 = nodes`` (distinct and sorted). From
    :func:`minigraphrec.models.lightgcn.hop_levels`, whose numba kernel
    stops early once a ball holds half of the graph's stored entries: the
    later balls are then every node, a superset, which keeps a
    batch-restricted propagation exact (a row outside the true ball just
    computes a value nobody reads). Row ``r`` of ``Â`` links ``r`` to the
    nodes ``Â[r]`` stores, so a layer computed on ``S_h`` needs its input
    on ``S_{h+1}`` only.
    """
    from .lightgcn import hop_levels
    n = A_hat.shape[0]
    level, hops = hop_levels(A_hat, nodes, n_hops, backend)
    return [np.flatnonzero(level <= h) if h <= hops else np.arange(n) for h in range(n_hops + 1)]


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _nonneg_float(name, value, strict=False):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(x) or x < 0 or (strict and x == 0):
        bound = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {bound} 0, got {value!r}")
    return x


def parse_metric(metric):
    r"""``"recall@20"`` -> ``("recall", 20)``; a clear error for anything else."""
    from ..metrics import METRICS
    name, sep, k = str(metric).partition("@")
    if not sep or name not in METRICS or not k.isdigit() or int(k) < 1:
        raise ValueError(f"metric must look like 'recall@20' (one of {', '.join(METRICS)} "
                         f"at a positive cut-off), got {metric!r}")
    return name, int(k)


class EmbeddingRecommender(Recommender):
    """Trainable recommender whose scores are similarities of learned node embeddings.

    See the module docstring for what subclasses implement. The shared
    hyperparameters follow (each subclass lists them in its ``__init__``).

    Parameters
    ----------
    loss : {"bpr", "bce"}
        What ``fit`` trains: BPR triples (one uniformly drawn negative per
        sampled positive) or BCE pairs (every training pair labelled 1, each
        with ``n_negatives`` drawn negatives labelled 0).
    lr : float > 0
        Adam's learning rate.
    batch_size : int >= 1
    reg : float >= 0
        The L2 weight on the batch's layer-0 rows.
    n_negatives : int >= 1
        Negatives per positive for BCE.
    epochs : int >= 0
    patience : int >= 1 or None
        With validation data: stop after this many epochs without a better
        ``metric``; None trains every epoch. Either way the parameters of
        the best validation epoch are restored at the end.
    metric : str
        The validation metric, e.g. ``"recall@20"`` or ``"ndcg@20"``.
    scoring : {"dot", "cosine", "euclidean"}
        How ``score``/``recommend`` compare final embeddings: the dot
        product (what the loss trains), the article's cosine similarity, or
        minus the Euclidean distance. Training always uses the dot product.
    dtype : {"float32", "float64"}
        float32 by default; float64 for gradient checks.
    random_state : None, int or numpy.random.Generator
    verbose : bool
        Log each epoch at INFO level (logger ``"minigraphrec"``) instead of DEBUG.
    """

    #: attributes that hold the fitted state, saved by :func:`minigraphrec.io.save`
    _state_attrs = ("params", "n_users_", "n_items_", "R_", "user_ids_", "item_ids_",
                    "user_features_", "item_features_", "user_embeddings_",
                    "item_embeddings_", "history_", "best_epoch_", "step_", "dropout_seed_")

    # ------------------------------------------------------------ checks
    def _check_common(self):
        """Validate the shared hyperparameters; set ``self._dtype``."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, got {self.scoring!r}")
        _nonneg_float("lr", self.lr, strict=True)
        _nonneg_float("reg", self.reg)
        _positive_int("batch_size", self.batch_size)
        _positive_int("n_negatives", self.n_negatives)
        _positive_int("epochs", self.epochs, minimum=0)
        if self.patience is not None:
            _positive_int("patience", self.patience)
        parse_metric(self.metric)
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype is None or dtype.name not in DTYPES:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        self._dtype = dtype

    def _check_trainable(self):
        if not isinstance(getattr(self, "params", None), dict):
            raise RuntimeError(f"this {type(self).__name__} has no parameters yet; call "
                               "fit(train) (or fit(train, epochs=0) to initialise only) first")

    # --------------------------------------------------------------- fit
    def fit(self, train, validation=None, epochs=None, callback=None):
        r"""Build the graph, initialise ``params`` and train.

        Parameters
        ----------
        train : Interactions
        validation : Interactions, optional
            Held-out pairs in the same id space; evaluated after every epoch
            on ``metric`` (training items excluded), for early stopping and
            for restoring the best epoch's parameters.
        epochs : int >= 0, optional
            Overrides the constructor's ``epochs``. ``0`` builds the graph
            and initialises the parameters without a training step.
        callback : callable, optional
            Called after every epoch with that epoch's ``history_`` record.

        Returns
        -------
        self

        Raises
        ------
        FloatingPointError
            If the loss becomes NaN or infinite; the parameters keep the
            values they had before the failing step.
        """
        from ..train import train_model

        self._check_hyperparameters()
        if epochs is not None:
            _positive_int("epochs", epochs, minimum=0)
        R = self._fit_interactions(train)                  # (n_users, n_items) binary
        self.user_features_ = train.user_features
        self.item_features_ = train.item_features
        rng = np.random.default_rng(self.random_state)
        self._build(R, train.user_features, train.item_features)
        self.params = self._init_params(rng)
        self.history_ = []
        self.best_epoch_ = None
        self.step_ = 0
        self.dropout_seed_ = int(rng.integers(2**63 - 1))
        n_epochs = self.epochs if epochs is None else int(epochs)
        try:
            train_model(self, validation=validation, epochs=n_epochs, callback=callback, rng=rng)
        finally:
            self._refresh_embeddings()
        return self

    def _check_hyperparameters(self):
        """Subclasses extend this with their own checks."""
        self._check_common()

    def _restore(self):
        """Rebuild derived state after :func:`minigraphrec.io.load` set the saved attributes."""
        self._check_hyperparameters()
        self._build(self.R_, self.user_features_, self.item_features_)

    @property
    def _dropout_seed(self):
        """Alias of ``dropout_seed_`` (the seed dropout masks derive from, with ``step_``)."""
        return self.dropout_seed_

    # -------------------------------------------------------- embeddings
    def _refresh_embeddings(self):
        """Cache the final embeddings: ``user_embeddings_`` (n_users, d), ``item_embeddings_``."""
        E = self._all_embeddings()                         # (n_nodes, d_out)
        self.user_embeddings_ = np.ascontiguousarray(E[:self.n_users_])
        self.item_embeddings_ = np.ascontiguousarray(E[self.n_users_:])

    def _score_batch(self, users):
        r"""Similarity of each user's final embedding to each item's: (len(users), n_items) float64."""
        from ..rank import score_matrix
        return score_matrix(self.user_embeddings_[users], self.item_embeddings_, kind=self.scoring)

    # ------------------------------------------------------------ losses
    def _batch_nodes(self, batch):
        """Check the batch's ids; return (kind, node ids of every slot (S·B,), B)."""
        n_u, n_i = self.n_users_, self.n_items_
        if isinstance(batch, PairBatch):
            kind, parts = "bpr", (("users", batch.users, n_u), ("pos", batch.pos, n_i),
                                  ("neg", batch.neg, n_i))
        elif isinstance(batch, PointBatch):
            kind, parts = "bce", (("users", batch.users, n_u), ("items", batch.items, n_i))
        else:
            raise TypeError("batch must be a PairBatch (BPR) or a PointBatch (BCE), got "
                            f"{type(batch).__name__}")
        B = parts[0][1].shape[0]
        if B == 0:
            raise ValueError("the batch is empty")
        ids = []
        for name, arr, n in parts:
            arr = np.asarray(arr)
            if arr.shape != (B,) or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"batch.{name} must be a ({B},) integer array, got "
                                 f"{arr.dtype} {arr.shape}")
            bad = (arr < 0) | (arr >= n)
            if bad.any():
                raise ValueError(f"batch.{name} holds id {int(arr[bad][0])}, out of range "
                                 f"0..{n - 1} of the fitted model")
            ids.append(arr.astype(np.int64) + (0 if name == "users" else n_u))
        return kind, np.concatenate(ids), B

    def loss_and_grad(self, batch):
        r"""The batch loss (see the module docstring) and its gradient for every parameter.

        Parameters
        ----------
        batch : PairBatch (BPR) or PointBatch (BCE), ids in the fitted id space

        Returns
        -------
        loss : float
        grads : dict, the keys and shapes of ``params``, in ``params``' dtype
        """
        self._check_trainable()
        return self._loss_and_grad(batch)

    def _loss_and_grad(self, batch, reuse=False):
        """``loss_and_grad``; with ``reuse`` a model may return grads in buffers it reuses."""
        kind, node_ids, B = self._batch_nodes(batch)         # (S·B,) S = 3 (BPR) or 2 (BCE)
        nodes, inverse = np.unique(node_ids, return_inverse=True)   # (m,), (S·B,)
        Z, H0, cache = self._forward_rows(nodes)             # (m, d_out), (m, d_0)
        rows, c_rows = gather_forward(Z, inverse.reshape(-1))    # (S·B, d_out)
        rows0, c_rows0 = gather_forward(H0, inverse.reshape(-1)) # (S·B, d_0)
        e_u = rows[:B]                                       # (B, d_out)
        if kind == "bpr":
            e_i, e_j = rows[B:2 * B], rows[2 * B:]           # (B, d_out) each
            s_pos, c_pos = dot_forward(e_u, e_i)             # (B,)
            s_neg, c_neg = dot_forward(e_u, e_j)             # (B,)
            loss, c_loss = bpr_forward(s_pos, s_neg)
            ds_pos, ds_neg = bpr_backward(c_loss)
            de_u1, de_i = dot_backward(c_pos, ds_pos)
            de_u2, de_j = dot_backward(c_neg, ds_neg)
            drows = np.concatenate([de_u1 + de_u2, de_i, de_j])    # (3B, d_out)
        else:
            e_i = rows[B:]
            logits, c_dot = dot_forward(e_u, e_i)            # (B,)
            loss, c_loss = bce_with_logits_forward(logits, batch.labels)
            de_u, de_i = dot_backward(c_dot, bce_with_logits_backward(c_loss))
            drows = np.concatenate([de_u, de_i])             # (2B, d_out)
        # Σ_b ‖e⁰_u‖² + ‖e⁰_i‖² (+ ‖e⁰_j‖²): the squared norm of all S·B rows at once
        loss_reg, c_reg = l2_forward([rows0], self.reg, B)
        (drows0,) = l2_backward(c_reg)
        dZ = gather_backward(c_rows, drows)                  # (m, d_out) summed per node
        dH0 = gather_backward(c_rows0, drows0)               # (m, d_0)
        grads = self._backward_rows(cache, dZ, dH0, reuse=reuse)
        return loss + loss_reg, grads

    def _graph_matrix(self, R):
        """The user–item matrix to build the graph from: ``R_weighted_`` if set, else ``R``."""
        R_w = getattr(self, "R_weighted_", None)
        return R if R_w is None else R_w

    # ----------------------------------------- the layer-0 input (GCN, GAT)
    def _build_input(self, user_features, item_features):
        """Keep the feature matrices the ``input`` hyperparameter uses (``_X_user``, ``_X_item``)."""
        self._X_user = self._X_item = None
        if self.input == "embedding":
            return
        self._X_user = as_dense_features(user_features, self._dtype, "user_features")
        self._X_item = as_dense_features(item_features, self._dtype, "item_features")
        if self.input == "features" and (self._X_user is None or self._X_item is None):
            missing = "user_features" if self._X_user is None else "item_features"
            name = type(self).__name__
            raise DataError(f"{name}(input='features') needs both user and item features, "
                            f"but the training Interactions has no {missing}; use "
                            "input='embedding' or input='both'")

    def _init_input_params(self, rng):
        r"""``E0 ~ N(0, 0.1²)`` (n_nodes, dim) and Glorot ``W_user_in`` / ``W_item_in``, as used."""
        d, dt = self.dim, self._dtype
        params = {}
        if self.input in ("embedding", "both"):
            n = self.n_users_ + self.n_items_
            params["E0"] = (0.1 * rng.standard_normal((n, d))).astype(dt)
        if self._X_user is not None:
            params["W_user_in"] = glorot_uniform(rng, (self._X_user.shape[1], d), dt)
        if self._X_item is not None:
            params["W_item_in"] = glorot_uniform(rng, (self._X_item.shape[1], d), dt)
        return params

    def _input_layer(self):
        r"""``H^0 = E0 + [X_user W_user_in ; X_item W_item_in]`` (n_nodes, dim), terms as used.

        With ``input="features"`` there is no ``E0`` term; with ``"both"`` a
        side without features gets only its id embedding. ``X`` may be a
        dense array or a SciPy CSR matrix (a constant: no gradient).
        Returns ``H0`` and the projections' caches for ``_input_layer_backward``.
        """
        p, n_u = self.params, self.n_users_
        n = n_u + self.n_items_
        H0 = p["E0"].copy() if "E0" in p else np.zeros((n, self.dim), dtype=self._dtype)
        c_user = c_item = None
        if self._X_user is not None:
            P_user, c_user = linear_forward(self._X_user, p["W_user_in"])   # (n_users, dim)
            H0[:n_u] += P_user
        if self._X_item is not None:
            P_item, c_item = linear_forward(self._X_item, p["W_item_in"])   # (n_items, dim)
            H0[n_u:] += P_item
        return H0, (c_user, c_item)

    def _input_layer_backward(self, caches, dH0, grads):
        r"""Put ``dE0 = dH0``, ``dW_user_in = X_userᵀ dH0[users]``, ``dW_item_in`` into ``grads``."""
        c_user, c_item = (None, None) if caches is None else caches
        n_u = self.n_users_
        if "E0" in self.params:
            grads["E0"] = dH0                                                # (n_nodes, dim)
        if c_user is not None:
            _, grads["W_user_in"], _ = linear_backward(c_user, dH0[:n_u])    # (n_user_feat, dim)
        if c_item is not None:
            _, grads["W_item_in"], _ = linear_backward(c_item, dH0[n_u:])    # (n_item_feat, dim)
        return grads

    # ------------------------------------------------------ for subclasses
    def _build(self, R, user_features, item_features):
        raise NotImplementedError

    def _init_params(self, rng):
        raise NotImplementedError

    def _forward_rows(self, nodes):
        raise NotImplementedError

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        raise NotImplementedError

    def _all_embeddings(self):
        raise NotImplementedError


def as_dense_features(F, dtype, name):
    """A feature matrix in the model's dtype: CSR stays sparse, anything else dense."""
    if F is None:
        return None
    if sp.issparse(F):
        return sp.csr_matrix(F, dtype=dtype)
    F = np.asarray(F, dtype=dtype)
    if F.ndim != 2:
        raise DataError(f"{name} must be 2-d, got shape {F.shape}")
    return F


# ============================================================ edge weights
def check_edge_weights(edge_weights, half_life):
    """Validate the ``edge_weights`` / ``half_life`` hyperparameters; ``half_life`` as a float."""
    if edge_weights not in EDGE_WEIGHTS:
        raise ValueError(f"edge_weights must be one of {EDGE_WEIGHTS}, got {edge_weights!r}")
    if edge_weights != "time_decay":
        return None                                   # half_life is ignored
    if half_life is None:
        raise ValueError("edge_weights='time_decay' needs half_life (in the timestamps' unit, "
                         "e.g. 30 * 86400 for 30 days of Unix seconds), got None")
    return _nonneg_float("half_life", half_life, strict=True)


def edge_weight_matrix(train, edge_weights, half_life=None):
    r"""The weighted user–item matrix ``R_w`` that replaces the binary ``R`` in propagation.

    ``edge_weights`` names the weight of edge ``(u, i)``, from the events
    ``E(u, i)`` of the pair in ``train`` (``w_e`` their ``weights``, 1 when
    ``train`` has none; ``t_e`` their ``timestamps``):

    * ``None``: no weights (returns None; the model uses the binary ``R``);
    * ``"count"``: ``Σ_e w_e``, the number of events of a raw log
      (:func:`minigraphrec.graph.frequency_weights`);
    * ``"log1p"``: ``log(1 + Σ_e w_e)``, damping heavy repeaters;
    * ``"time_decay"``: ``Σ_e w_e 0.5^{(t_max - t_e) / half_life}``, with
      ``t_max`` the latest training timestamp
      (:func:`minigraphrec.graph.time_decay_weights`): an edge used at
      ``t_max`` weighs ``w_e``, one a half-life older half as much.

    Rating data carries the rating in ``w_e``, so ``"count"`` sums ratings
    and ``"time_decay"`` decays them; drop ``weights`` from the
    :class:`~minigraphrec.data.Interactions` first for plain counts or pure
    recency.

    Parameters
    ----------
    train : Interactions
    edge_weights : None, "count", "log1p" or "time_decay"
    half_life : float > 0, required for ``"time_decay"`` (ignored otherwise)

    Returns
    -------
    R_w : scipy CSR (n_users, n_items) float64, the sparsity pattern of
        ``train.to_csr()``, or None for ``edge_weights=None``.

    Raises
    ------
    DataError
        ``"time_decay"`` without timestamps; a weight that is not finite
        and > 0 (a training pair outside the graph would still be excluded
        from recommendations; with ``"time_decay"`` it means ``half_life``
        is so short that old events underflow to 0).
    """
    from ..graph import frequency_weights, time_decay_weights

    half_life = check_edge_weights(edge_weights, half_life)
    if edge_weights is None:
        return None
    if edge_weights == "time_decay":
        if train.timestamps is None:
            raise DataError("edge_weights='time_decay' needs timestamps, but the training "
                            "Interactions has none; use edge_weights='count' or None")
        R_w = time_decay_weights(train, half_life)                 # (n_users, n_items)
    else:
        R_w = frequency_weights(train, edge_weights)               # (n_users, n_items)
    bad = ~(np.isfinite(R_w.data) & (R_w.data > 0))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        u = int(np.searchsorted(R_w.indptr, k, side="right") - 1)
        hint = (f"; half_life={half_life} is too short for events that old" if
                edge_weights == "time_decay" and R_w.data[k] == 0 else "")
        raise DataError(f"edge_weights={edge_weights!r} gives {int(bad.sum())} training pair(s) "
                        f"a weight that is not > 0, e.g. user {u}, item {int(R_w.indices[k])}: "
                        f"{R_w.data[k]}{hint}; edge weights must be finite and positive")
    return R_w


class EdgeWeighted:
    """Mixin for graph models with the ``edge_weights`` / ``half_life`` hyperparameters.

    Fitting also sets ``R_weighted_`` (see :func:`edge_weight_matrix`), which
    ``_graph_matrix`` then builds the graph from.
    """

    def _fit_interactions(self, train):
        R = super()._fit_interactions(train)                              # (n_users, n_items)
        self.R_weighted_ = edge_weight_matrix(train, self.edge_weights, self.half_life)
        return R
