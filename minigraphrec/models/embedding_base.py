r"""The shared base of the trainable embedding models (MF, LightGCN, GCN, NGCF, GAT).

A trainable model is an encoder: parameters ``params`` (a dict of arrays)
map every node of the user–item graph (users first, then items, ``n_nodes =
n_users + n_items``) to a final embedding. This class does the rest, the
same way for every model:

* ``fit(train, validation=None, epochs=None, callback=None, resume=False)``: build
  the model's graph, initialise ``params`` (or, with ``resume``, keep them and train
  on), train (:mod:`minigraphrec.train`), cache the final embeddings;
* ``loss_and_grad(batch)``: the loss (:mod:`minigraphrec.losses`) and its exact gradient,
  computed from the ops' forward/backward pairs;
* ``score`` / ``recommend`` from the cached final embeddings
  (``user_embeddings_``, ``item_embeddings_``: read-only arrays, so that the item table
  is checked and converted for scoring once, not on every call; assign new arrays to
  change them);
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
  ``half_life``): :func:`~minigraphrec.graph.edge_weight_matrix` (with the
  graph preprocessing, the article's §3 edge features) turns the training log into
  the weighted ``R_w`` that replaces the binary ``R`` when the model builds
  its graph; the model keeps it as ``R_weighted_`` (saved, so a loaded
  model rebuilds the same graph). Each model normalises *after* weighting.
* the layer-0 input (GCN, GAT: hyperparameter ``input``):
  ``_build_input`` / ``_init_input_params`` / ``_input_layer`` /
  ``_input_layer_backward`` give every node either a free id embedding
  (``"embedding"``), a learned projection of its side's feature matrix
  (``"features"``), or their sum (``"both"``).

Fitted state set here:
``n_users_``, ``n_items_``, ``R_``, ``user_ids_``/``item_ids_`` (raw ids),
``user_features_``/``item_features_``, ``history_``, ``best_epoch_``,
``step_`` (optimiser steps taken) and ``dropout_seed_``: a model with
dropout draws its masks from ``np.random.default_rng([dropout_seed_,
step_])``, so its loss is a fixed function of the parameters within a
step (gradient checks) and training stays reproducible.
"""
from __future__ import annotations

import hashlib
import logging

import numpy as np
import scipy.sparse as sp

from ..batch import PairBatch, PointBatch
from ..errors import DataError, check_bool, check_int, check_param_number, check_random_state
from ..graph import edge_weight_matrix
from ..losses import bce_with_logits_backward, bce_with_logits_forward
from ..losses import bpr_backward, bpr_forward, l2_backward, l2_forward
from ..metrics import parse_metric
from ..ops.dense import linear_backward, linear_forward
from ..ops.embedding import gather_backward, gather_forward
from ..ops.scoring import dot_backward, dot_forward
from .base import Recommender, _Kept, kept

__all__ = ["EmbeddingRecommender", "EdgeWeighted", "glorot_uniform", "id_embeddings",
           "hop_balls"]

logger = logging.getLogger(__name__)

LOSSES = ("bpr", "bce")
SCORINGS = ("dot", "cosine", "euclidean")
DTYPES = ("float32", "float64")
INPUTS = ("embedding", "features", "both")
INITS = ("xavier", "normal")


def glorot_uniform(rng, shape, dtype):
    r"""Xavier/Glorot uniform: ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``, as TensorFlow's
    ``glorot_uniform`` and PyTorch's ``xavier_uniform_`` define it for a 2-d shape."""
    fan_in, fan_out = shape[0], shape[1]
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def check_init(init):
    """Return ``init`` if it is one of :data:`INITS`, else raise DataError (a ValueError)."""
    if init not in INITS:
        raise DataError(f"init must be one of {INITS}, got {init!r}")
    return init


def id_embeddings(rng, n_users, n_items, dim, dtype, init="xavier"):
    r"""Layer-0 id embeddings ``E0`` (n_users + n_items, dim), users first.

    ``init="xavier"``: a Glorot-uniform table for the users and another for
    the items, as the LightGCN paper states ("initialized with the Xavier
    method", §4.1.2) and its TensorFlow code does (``xavier_initializer`` on
    ``[n_users, d]`` and ``[n_items, d]``). ``init="normal"``: ``N(0, 0.1²)``
    for every row, the choice of the authors' PyTorch port (LightGCN-PyTorch).
    The draw order is fixed (users, then items), so a seed gives one table.

    Parameters
    ----------
    rng : numpy Generator
    n_users, n_items : int
    dim : int, the embedding size ``d``
    dtype : numpy dtype of the table
    init : {"xavier", "normal"}

    Returns
    -------
    E0 : (n_users + n_items, dim) array of ``dtype``
    """
    if check_init(init) == "normal":
        return (0.1 * rng.standard_normal((n_users + n_items, dim))).astype(dtype)
    return np.vstack([glorot_uniform(rng, (n_users, dim), dtype),
                      glorot_uniform(rng, (n_items, dim), dtype)])


def hop_balls(A_hat, nodes, n_hops, backend="numba"):
    r"""The balls ``[S_0, S_1, ..., S_{n_hops}]`` around ``nodes`` in the graph of ``A_hat``.

    ``S_h`` (ascending node ids) holds the nodes at most ``h`` hops from
    ``nodes``; ``S_0 = nodes`` (distinct and sorted). From
    :func:`minigraphrec.ops.hop_levels`, whose numba kernel
    stops early once a ball holds half of the graph's stored entries: the
    later balls are then every node, a superset, which keeps a
    batch-restricted propagation exact (a row outside the true ball just
    computes a value nobody reads). Row ``r`` of ``Â`` links ``r`` to the
    nodes ``Â[r]`` stores, so a layer computed on ``S_h`` needs its input
    on ``S_{h+1}`` only.

    ``backend``: the models (GCN, NGCF, GAT) call the default, ``"numba"``; ``"numpy"`` is
    the readable reference (exact balls, no early stop), whose levels
    tests/test_lightgcn_rows.py compares with the kernel's and tests/test_models.py
    compares with these balls.
    """
    from ..ops.lightgcn_rows import hop_levels_core
    n = A_hat.shape[0]
    level, hops = hop_levels_core(A_hat, nodes, n_hops, backend)      # unchecked: model's graph
    return [np.flatnonzero(level <= h) if h <= hops else np.arange(n) for h in range(n_hops + 1)]


def scratch_rows(model, key, m, tail, dtype, capacity=0):
    r"""The first ``m`` rows of a C-contiguous ``(rows, *tail)`` scratch array kept between steps.

    Stored in ``model._workspace`` (never saved; ``_update_copy`` drops it), with room for
    ``max(capacity, m)`` rows, so that batches of changing sizes reuse one allocation: a
    fresh array of tens of MB costs its page faults on every step. NGCF's per-layer arrays
    and GAT's per-node and per-edge arrays (capacity: every node) and SR-GNN's output layer
    use it.
    """
    ws = model.__dict__.setdefault("_workspace", {})
    shape = (max(capacity, m),) + tuple(tail)
    buf = ws.get(key)
    if (buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:]
            or buf.dtype != dtype):
        buf = ws[key] = np.empty(shape, dtype=dtype)
    return buf[:m]



def _own_features(side, F, n_rows):
    """``F`` checked (:func:`~minigraphrec.data.check_features`) and as the model's own copy."""
    from ..data import check_features
    F = check_features(f"{side}_features", F, n_rows, side)
    return None if F is None else F.copy()


def _grown_features(side, F, new_data, new_raw, reads, who):
    """The model's ``side`` feature matrix ``F`` (n_old, f) or None, with one row per new
    node (raw ids ``new_raw``, in order) from ``new_data``'s own ``{side}_features``.

    ``F`` itself when no node is new or the model keeps none; None when the new data gives
    none for a model that does not read them (``reads`` False: nothing to keep them
    consistent with); a DataError when a model that reads them gets none, or other columns.
    """
    if F is None or len(new_raw) == 0:
        return F
    given = getattr(new_data, f"{side}_features")
    if given is None:
        if not reads:
            return None
        raise DataError(f"{who} reads {side} features, and new_interactions brings "
                        f"{len(new_raw)} new {side}s "
                        f"(the first: {new_raw[0]!r}) without {side}_features; give them, one "
                        f"row per {side} of new_interactions")
    from ..data import check_features, match_raw_ids
    rows = match_raw_ids(new_raw, getattr(new_data, f"{side}_ids"))      # (n_new,)
    # checked again (set after the Interactions was made?), named as the caller passed it
    added = check_features(f"new_interactions.{side}_features", given,
                           getattr(new_data, f"n_{side}s"), side)[rows]  # a copy: rows given
    if added.shape[1] != F.shape[1]:
        raise DataError(f"new_interactions' {side}_features have {added.shape[1]} columns; "
                        f"the model's have {F.shape[1]}")
    if sp.issparse(F):
        return sp.vstack([F, sp.csr_matrix(added, dtype=F.dtype)], format="csr")
    added = added.toarray() if sp.issparse(added) else added
    return np.vstack([F, np.asarray(added, dtype=F.dtype)])


def _read_only_copy(X):
    """``X`` as a C-ordered array of its own that cannot be written: the final embeddings a
    model keeps (:meth:`EmbeddingRecommender._item_scores` relies on their not changing)."""
    X = np.array(X, order="C")                           # a copy: never a view of E or params
    X.setflags(write=False)
    return X


def _check_training_params(model):
    """Check the hyperparameters every gradient-trained model has (the embedding models and
    SR-GNN): ``lr`` > 0, ``batch_size`` >= 1, ``epochs`` >= 0, ``dtype`` float32 or float64,
    ``verbose`` True or False, or an integer >= 0 as scikit-learn's verbosity levels (above 0:
    on); a string such as ``"no"`` would silently mean True. Sets ``model._dtype``."""
    if not isinstance(model.verbose, (bool, np.bool_)):
        check_int(model.verbose, "verbose (True, False or an integer level)", at_least=0)
    check_param_number(model.lr, "lr", above=0.0)
    if model.lr > float(np.finfo(np.float32).max) and str(model.dtype) == "float32":
        raise DataError(f"lr must be finite in float32 (the model's dtype), got {model.lr}")
    check_int(model.batch_size, "batch_size")
    check_int(model.epochs, "epochs", at_least=0)
    check_random_state(model.random_state)
    try:
        dtype = np.dtype(model.dtype)
    except TypeError:                                   # e.g. "foo": not a dtype at all
        dtype = None
    if dtype is None or dtype.name not in DTYPES:
        raise DataError(f"dtype must be 'float32' or 'float64', got {model.dtype!r}")
    model._dtype = dtype


class EmbeddingRecommender(Recommender):
    """Trainable recommender whose scores are similarities of learned node embeddings.

    See the module docstring for what subclasses implement. The shared
    hyperparameters follow (each subclass lists them in its ``__init__``).

    Parameters
    ----------
    loss : {"bpr", "bce"}
        What ``fit`` trains: BPR triples (as LightGCN's code samples them: a
        uniformly drawn user, one of its positives, one uniformly drawn
        negative; an epoch draws as many triples as there are training
        pairs, so it need not visit every positive) or BCE pairs (every
        training pair labelled 1, each with ``n_negatives`` drawn negatives
        labelled 0).
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
        The validation metric (:func:`~minigraphrec.metrics.parse_metric`), e.g.
        ``"recall@20"``, ``"ndcg@20"`` or ``"auc"``.
    scoring : {"dot", "cosine", "euclidean"}
        How ``score``/``recommend`` compare final embeddings: the dot
        product (what the loss trains), the article's cosine similarity, or
        minus the Euclidean distance. Training always uses the dot product.
    dtype : {"float32", "float64"}
        float32 by default; float64 for gradient checks.
    random_state : None, int or numpy.random.Generator
        An integer gives the same model on every fit (and after ``save`` and
        ``load``). A Generator is drawn from as it stands, as in scikit-learn:
        a second fit with the same object differs, and ``save`` stores it as
        None. None draws fresh entropy on every fit.
    verbose : bool or int >= 0
        Log each epoch at INFO level (logger ``"minigraphrec"``) instead of DEBUG (an
        integer, as scikit-learn's levels: any above 0 is on);
        printed to stderr during ``fit`` when logging is not configured (no
        handler), else left to the configured handlers.
    score_dtype : {"float64", "float32"}
        The dtype of ``score`` (and so of the scores ``evaluate`` and
        ``recommend`` rank). float64 by default, whatever ``dtype``. float32
        runs the scoring product in float32: on Gowalla's 40,981 items at
        d = 64 it took about half the time of the float64 product
        (``benchmarks/results/eval_gowalla.md``), and full-ranking
        evaluation is mostly that product. Scores then differ from the
        float64 ones by float32 rounding (see
        :func:`~minigraphrec.rank.score_matrix`), which can swap items whose
        scores nearly tie. It may be changed after ``fit`` (``set_params``);
        training never uses it.
    """

    #: attributes that hold the fitted state, saved by :func:`minigraphrec.io.save`
    _state_attrs = ("params", "n_users_", "n_items_", "R_", "user_ids_", "item_ids_",
                    "user_features_", "item_features_", "user_embeddings_",
                    "item_embeddings_", "history_", "best_epoch_", "step_", "dropout_seed_",
                    "optimizer_state_", "rng_state_", "fit_hyperparameters_",
                    "forget_method_", "best_params_", "since_best_")
    #: of those, what a file may lack (:func:`minigraphrec.io.load`): ``forget_method_`` is set
    #: by ``forget`` only; the others came after the first saved version (``R_weighted_``:
    #: LightGCN's, GCN's and GAT's), and older files load without them
    _optional_state = ("forget_method_", "dropout_seed_", "optimizer_state_", "rng_state_",
                       "fit_hyperparameters_", "best_params_", "since_best_", "R_weighted_")

    #: hyperparameters that say how training proceeds, not what the model is: a resumed
    #: ``fit`` may run with new values of these (e.g. a lower lr); any other change is refused
    _resume_may_change = ("lr", "batch_size", "reg", "loss", "n_negatives", "epochs", "patience",
                          "metric", "scoring", "backend", "random_state", "verbose",
                          "score_dtype")

    #: the model's dropout rates (NGCF's message and node dropout, GAT's attention dropout).
    #: Dropout says how training proceeds (inverted: scoring never drops), so these join
    #: ``_resume_may_change`` on their own (``__init_subclass__``): they may change after
    #: fit, like ``lr`` (set to 0 to compare ``loss_and_grad`` with another framework);
    #: ``check_model_grads`` sets them to 0 while it compares the training rows with the
    #: scoring ones
    _dropout_params = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        missing = tuple(p for p in cls._dropout_params if p not in cls._resume_may_change)
        cls._resume_may_change = tuple(cls._resume_may_change) + missing

    @property
    def _params_free_after_fit(self):
        """``partial_fit`` and ``forget`` fine-tune as a resumed ``fit`` trains: they accept
        the changes ``resume`` accepts and refuse the others (a new ``dim`` kept the old
        table under the new label). One record, ``fit_hyperparameters_``, serves all three."""
        return self._resume_may_change

    # ------------------------------------------------------------ checks
    def _check_common(self):
        """Validate the shared hyperparameters; set ``self._dtype``."""
        if self.loss not in LOSSES:
            raise DataError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.scoring not in SCORINGS:
            raise DataError(f"scoring must be one of {SCORINGS}, got {self.scoring!r}")
        self._score_dtype()
        _check_training_params(self)                     # lr, batch_size, epochs, dtype
        check_param_number(self.reg, "reg", at_least=0.0)
        check_int(self.n_negatives, "n_negatives")
        if self.patience is not None:
            check_int(self.patience, "patience")
        parse_metric(self.metric)

    def _check_trainable(self):
        if not isinstance(getattr(self, "params", None), dict):
            raise RuntimeError(f"this {type(self).__name__} has no parameters yet; call "
                               "fit(train) (or fit(train, epochs=0) to initialise only) first")

    def _check_call_params(self, method):
        """``loss_and_grad``, ``explain``, ``score_history`` (and GAT's ``attention_along``)
        compute from ``params`` with the layers and widths of the call: refused, naming
        each, when ``set_params`` changed a hyperparameter that defines them since ``fit``
        (NGCF's kernels read past their buffers at a changed ``dim``; LightGCN's history
        scores silently used a changed ``n_layers``). ``score``/``recommend`` read the final
        embeddings and are unaffected."""
        self._check_fit_params(method)

    # --------------------------------------------------------------- fit
    def fit(self, train, validation=None, epochs=None, callback=None, resume=False):
        r"""Build the graph, initialise ``params`` and train (or, with ``resume``, train on).

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
        resume : bool, default False
            True or False (a string such as ``"no"`` is refused: it would mean True).
            Continue the training of this fitted model (e.g. one just read by
            ``mgr.load``) for ``epochs`` *more* epochs, instead of starting
            over: from its ``params``, Adam's moments and step counts
            (``optimizer_state_``), the random generator's state
            (``rng_state_``), ``step_`` and ``history_`` (epochs are numbered
            on). Without validation the continuation is exact: ``fit(train,
            epochs=2)``, save, load, ``fit(train, epochs=3, resume=True)``
            gives the parameters, losses and Adam state of ``fit(train,
            epochs=5)``, bit for bit. ``train`` must be the data the model
            was fitted on, and only the hyperparameters of
            ``_resume_may_change`` (how training proceeds: ``lr``,
            ``batch_size``, ``reg``, ...) may differ from that fit;
            ``random_state`` is then ignored. With ``validation``, an earlier
            ``best_epoch_`` is the score to beat, on the current ``metric``
            (when ``metric`` changed since, the best epoch's parameters are
            evaluated on it once, before the first epoch). A checkpoint saved from
            ``callback`` during a run with validation resumes exactly too (pass
            the same validation data): it carries the best epoch's parameters
            and the epochs since it (``best_params_``, ``since_best_``), and the
            stop test (current ``patience``) runs before the first resumed epoch,
            so the checkpoint of the epoch the run stopped on trains no epoch,
            whatever ``epochs`` asks, and ends as that run ended. A
            finished fit with validation ends on its best epoch's parameters,
            so resuming it continues from those, not from its last epoch, and
            its ``patience`` count starts again at 0 (a run stopped early
            therefore does not equal one resumed after it: resume from a
            ``callback`` checkpoint for that; to train on past an early stop,
            resume the finished fit, or the checkpoint with a larger
            ``patience``). Without ``validation``, a resume that moves the
            parameters sets ``best_epoch_`` to None: no validated epoch names
            them any more (so a later resume with validation starts with no
            score to beat). The rules in full: :mod:`minigraphrec.train`.

        Returns
        -------
        self

        Raises
        ------
        FloatingPointError
            If the loss, a gradient, the parameters or Adam's moments become
            NaN or infinite; the model is left as it was before this ``fit``
            (an unfitted model stays unfitted).
        DataError
            With ``resume``: other training data, or a changed hyperparameter
            that defines the model (each named). With ``epochs >= 1``: every
            user with training pairs has every item (no negative to sample; when
            only some do, their pairs are left out of training with a warning,
            :mod:`minigraphrec.train`).
        RuntimeError
            With ``resume`` on a model that was never fitted, or was saved
            without the state to resume from.
        """
        from ..train import generator_state, restore_generator, train_model

        self._check_hyperparameters()
        if epochs is not None:
            check_int(epochs, "epochs", at_least=0)
        n_epochs = int(self.epochs) if epochs is None else int(epochs)
        if check_bool(resume, "resume"):
            self._check_resumable(train)
            rng = restore_generator(self.rng_state_)
            # trained in place from here: copies, so that a failed call (fit is all or
            # nothing, Recommender) gives back the parameters and history it started from
            self.params = {k: v.copy() for k, v in self.params.items()}
            self.history_ = list(self.history_)
        else:
            R = self._fit_interactions(train)              # (n_users, n_items) binary
            # checked again (the attributes may have been set after the Interactions was
            # made) and copied: the model must not change when the caller's array does
            self.user_features_ = _own_features("user", train.user_features, train.n_users)
            self.item_features_ = _own_features("item", train.item_features, train.n_items)
            rng = np.random.default_rng(self.random_state)
            self._build(R, self.user_features_, self.item_features_)
            if getattr(self, "input", None) == "both" and self._X_user is None \
                    and self._X_item is None:
                logger.warning("%s(input='both'): the training Interactions has neither "
                               "user nor item features, so the input is the embedding table "
                               "alone, as with input='embedding'", type(self).__name__)
            self.params = self._checked_init_params(self._init_params(rng))
            self.history_ = []
            self.best_epoch_ = None
            self.step_ = 0
            self.dropout_seed_ = int(rng.integers(2**63 - 1))
            self.optimizer_state_ = None
            self.best_params_ = self.since_best_ = None
            if hasattr(self, "forget_method_"):          # a fresh fit has forgotten nothing
                del self.forget_method_
        try:
            train_model(self, validation=validation, epochs=n_epochs, callback=callback, rng=rng)
        finally:
            self.rng_state_ = generator_state(rng)
            with np.errstate(over="ignore", invalid="ignore"):    # reported just below
                self._refresh_embeddings()
        if not (np.isfinite(self.user_embeddings_).all()
                and np.isfinite(self.item_embeddings_).all()):
            raise FloatingPointError(
                f"{type(self).__name__}: the final embeddings are not finite although the "
                f"parameters are (the layers overflow {self._dtype.name}); the model is left "
                f"as it was before this fit. Try a smaller lr (now {self.lr}).")
        return self

    def _check_resumable(self, train):
        """Refuse to resume unless this model holds a run's state, fitted on ``train`` as it is."""
        name = type(self).__name__
        missing = [a for a in ("params", "history_", "rng_state_", "optimizer_state_",
                               "fit_hyperparameters_") if getattr(self, a, None) is None]
        if missing:
            if not hasattr(self, "R_"):
                raise RuntimeError(f"cannot resume: this {name} was never fitted; call "
                                   "fit(train) first, or mgr.load(path) a saved one")
            raise RuntimeError(f"cannot resume: this {name} has no {', '.join(missing)} (saved "
                               "by a minigraphrec before resumable training?); fit it anew")
        changed = self._changed_since_fit(self._resume_may_change)
        if changed:
            raise DataError(f"cannot resume this {name}: hyperparameters that define the model "
                            f"changed since it was fitted: {', '.join(changed)}; only "
                            f"{', '.join(self._resume_may_change)} may change when resuming")
        old = {a: getattr(self, a, None) for a in ("n_users_", "n_items_", "R_", "user_ids_",
                                                   "item_ids_", "R_weighted_")}
        try:
            self._fit_interactions(train)                  # sets these from train
            problem = _difference(old, {a: getattr(self, a, None) for a in old})
            problem = problem or _features_difference(
                (self.user_features_, self.item_features_),
                (train.user_features, train.item_features))
        finally:
            for a, v in old.items():                       # the fitted ones stay
                if hasattr(self, a) or v is not None:
                    setattr(self, a, v)
        if problem:
            raise DataError(f"cannot resume this {name}: the training data differ from the "
                            f"data it was fitted on: {problem}")

    def _checked_init_params(self, params):
        """``params`` (what ``_init_params`` returned), checked: a dict of arrays, each in
        the model's dtype. DataError naming the parameter otherwise (a float64 model whose
        ``_init_params`` returned float32 arrays trained, silently, in float32)."""
        name = type(self).__name__
        if not isinstance(params, dict) or not params:
            raise DataError(f"{name}._init_params(rng) must return a non-empty dict name -> "
                            f"array, got {type(params).__name__}")
        for key, p in params.items():
            if not isinstance(p, np.ndarray):
                raise DataError(f"{name}._init_params(rng) returned params[{key!r}] as "
                                f"{type(p).__name__}; every parameter must be a NumPy array "
                                f"in the model's dtype ({self._dtype.name})")
            if p.dtype != self._dtype:
                raise DataError(f"{name}._init_params(rng) returned params[{key!r}] in "
                                f"{p.dtype}, but the model's dtype is {self._dtype.name}: "
                                f"return every parameter in self._dtype (e.g. "
                                f".astype(self._dtype)), or the model trains in {p.dtype}")
        return params

    def _check_hyperparameters(self):
        """Subclasses extend this with their own checks."""
        self._check_common()

    def _restore(self):
        """Rebuild derived state after :func:`minigraphrec.io.load` set the saved attributes,
        and check it: the hyperparameters, the sizes (:meth:`Recommender._check_sizes`) and
        that ``params`` has the names, shapes and dtype ``_init_params`` gives the restored
        model (a ``dim`` edited to 8 over 64-wide tables loaded and scored)."""
        super()._restore()                           # hyperparameters, sizes, the fit record
        # a file saved before training was resumable has no Adam state: partial_fit and
        # forget then start from fresh moments, as after fit(epochs=0); resume refuses it
        self.optimizer_state_ = getattr(self, "optimizer_state_", None)
        self._embeddings_digest = self._params_digest()  # saved together: the cache's params
        self.user_embeddings_ = _read_only_copy(self.user_embeddings_)
        self.item_embeddings_ = _read_only_copy(self.item_embeddings_)
        self._build(self.R_, self.user_features_, self.item_features_)
        expected = self._init_params(np.random.default_rng(0))      # names, shapes, dtype
        problems = [f"{name} is not a parameter of this model"
                    for name in sorted(set(self.params) - set(expected))]
        for name, want in expected.items():
            got = self.params.get(name)
            if got is None or got.shape != want.shape or got.dtype != want.dtype:
                what = "missing" if got is None else f"{got.shape} {got.dtype}"
                problems.append(f"{name} is {what}, {want.shape} {want.dtype} expected")
        if problems:
            # (an __init__ taking **kwargs, whose hyperparameters never reached the file,
            # is refused before: Recommender._param_names)
            raise DataError(f"the fitted {type(self).__name__}'s parameters do not match its "
                            f"hyperparameters and data: {'; '.join(problems)}")

    # -------------------------------------------------------- embeddings
    def refresh_embeddings(self):
        r"""Recompute the cached final embeddings from ``params``. Returns ``self``.

        ``score``, ``recommend``, ``evaluate`` and ``score_history`` read the final
        embeddings (``user_embeddings_``, ``item_embeddings_``) that ``fit``,
        ``partial_fit`` and ``forget`` cache. A training loop of one's own, which steps
        ``params`` in place (``loss_and_grad`` and an optimiser's ``step``), leaves that
        cache as it was: call this before scoring. ``explain`` refuses such a stale cache
        (its contributions come from ``params``, its score from the cache).
        """
        self._check_trainable()
        self._check_call_params("refresh_embeddings")
        self._refresh_embeddings()
        return self

    def _params_digest(self):
        """A BLAKE2b digest of ``params`` (names, dtypes, shapes, bytes): what the cached final
        embeddings were computed from, recorded by :meth:`_refresh_embeddings`."""
        h = hashlib.blake2b(digest_size=16)
        for name in sorted(self.params):
            p = np.ascontiguousarray(self.params[name])
            h.update(f"{name}:{p.dtype.str}:{p.shape}".encode())
            h.update(memoryview(p).cast("B"))
        return h.hexdigest()

    def _check_cache_current(self):
        """RuntimeError unless the cached final embeddings were computed from ``params`` as
        they are now (:meth:`_params_digest`, exact): ``explain`` splits the cache's score
        into contributions computed from ``params``, which must describe the same model;
        a training loop of one's own steps ``params`` without refreshing the cache."""
        if getattr(self, "_embeddings_digest", None) != self._params_digest():
            raise RuntimeError(
                f"{type(self).__name__}.explain: params changed since the final embeddings "
                f"were cached (by fit, partial_fit or forget), as a training loop of one's own "
                f"changes them; call refresh_embeddings() first (score and recommend read "
                f"that cache too)")

    def _refresh_embeddings(self):
        """Cache the final embeddings: ``user_embeddings_`` (n_users, d), ``item_embeddings_``.

        Always arrays of their own: when ``_all_embeddings`` returns a parameter itself
        (MF's ``E0``), it is copied, so that the cache, what ``score`` and ``recommend``
        read, changes only when it is refreshed (by ``fit``, ``partial_fit``, ``forget``),
        as a graph model's does, and not when an optimiser steps ``params`` in place. MF
        then keeps its table twice (``(n_users + n_items) * dim`` floats more: 18 MB for
        Gowalla at ``dim=64`` in float32), as a graph model keeps ``E0`` and its
        propagated ``E``; ``save`` stored both halves apart already.
        """
        E = self._all_embeddings()                         # (n_nodes, d_out)
        n_nodes = self.n_users_ + self.n_items_
        if not (isinstance(E, np.ndarray) and E.ndim == 2 and E.shape[0] == n_nodes):
            got = (f"shape {E.shape}" if isinstance(E, np.ndarray)
                   else f"a {type(E).__name__}")
            raise DataError(f"{type(self).__name__}._all_embeddings() returned {got}; expected "
                            f"(n_users + n_items, d_out) = ({n_nodes}, d_out): one row per "
                            f"node, the {self.n_users_} users first, then the "
                            f"{self.n_items_} items")
        if any(np.may_share_memory(E, p) for p in self.params.values()):
            E = E.copy()                                   # MF: E is params["E0"] itself
        self.user_embeddings_ = _read_only_copy(E[:self.n_users_])
        self.item_embeddings_ = _read_only_copy(E[self.n_users_:])
        self._embeddings_digest = self._params_digest()

    _scores_into = True

    def _score_dtype(self):
        """``score_dtype`` as a NumPy dtype; DataError (a ValueError) naming it unless float32
        or float64."""
        from ..rank import float_dtype
        # getattr: a model unpickled from before score_dtype existed scores in float64
        return float_dtype(getattr(self, "score_dtype", "float64"), "score_dtype")

    def _score_batch(self, users, out=None):
        r"""Similarity of each user's final embedding to each item's: (len(users), n_items)
        in ``score_dtype``: ``score_matrix(user_embeddings_[users], item_embeddings_,
        scoring, out, score_dtype)``, with the item table prepared once (:meth:`_item_scores`)."""
        from ..rank import _check_embeddings
        U = _check_embeddings(self.user_embeddings_[users], "U", dtype=self._score_dtype())
        return self._item_scores()(U, out=out, checked=True)    # U's errors before V's

    def _scorer(self):
        """``_score_batch`` with the item table checked, converted to ``score_dtype`` and (for
        cosine and Euclidean) normed once, not once per block (about 6 ms a block on Gowalla's
        41k x 64 float32 table in float64: a tenth of the block's product), and not once per
        call while the table stays the same (:meth:`_item_scores`)."""
        if type(self)._score_batch is not EmbeddingRecommender._score_batch:
            return self._score_batch                       # a subclass's own scores count
        score = self._item_scores()
        U = self.user_embeddings_
        return lambda users, out=None: score(U[users], out=out)

    def _item_scores(self):
        """``rank._item_scorer(item_embeddings_, scoring, score_dtype)``, prepared once per
        item table: kept on the model while ``item_embeddings_`` is the same read-only array.

        Preparing the table (its finiteness check over every entry, its conversion to
        ``score_dtype``, its norms) cost more than the product itself for one user: 0.6 of
        1.25 ms on Gowalla's 41k x 64 float64 table, 2.2 of 5.6 ms at 92k items (an ad-hoc
        reading, 1 thread). The tables ``fit``, ``partial_fit``, ``forget`` and ``load`` set
        are read-only (:func:`_read_only_copy`), so they cannot change under the kept
        preparation; a table of one's own (``model.item_embeddings_ = X``) is kept only if it
        is read-only too, and else prepared on every call, as before. A fitted table made
        writable again (``setflags(write=True)``) drops the kept preparation at the next call;
        one made writable, edited and made read-only again between two calls is not seen:
        assign a new array instead.
        """
        from ..rank import _item_scorer, _read_only
        V, key = self.item_embeddings_, (self.scoring, self._score_dtype().str)
        if not _read_only(V):                      # writable (made so by hand?): keep nothing
            self.__dict__.pop("_prepared_items", None)
            return _item_scorer(V, *key)
        return kept(self, "_prepared_items", V, lambda: _item_scorer(V, *key), key=key)

    def __setstate__(self, state):
        """Unpickled or deep-copied: the fitted tables read-only again (a pickle or a deep
        copy gives writable arrays), so that the copy keeps its prepared item table too."""
        for name in ("user_embeddings_", "item_embeddings_"):
            X = state.get(name)
            if isinstance(X, np.ndarray):
                if X.base is None and X.flags.c_contiguous:
                    X.setflags(write=False)         # the copy's own array (deepcopy's)
                else:
                    X = _read_only_copy(X)          # a view of the pickle's buffer
                state[name] = X
        self.__dict__.update(state)

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
        parts = [(name, np.asarray(arr), n) for name, arr, n in parts]   # lists too
        B = parts[0][1].shape[0] if parts[0][1].ndim == 1 else -1
        if B == 0:
            raise DataError("the batch is empty")
        ids = []
        for name, arr, n in parts:
            if B < 0 or arr.shape != (B,) or not np.issubdtype(arr.dtype, np.integer):
                raise DataError(f"batch.{name} must be a 1-d integer array of the length of "
                                f"batch.users, got {arr.dtype} {arr.shape}"
                                + ("" if name == "users" else
                                   f" (batch.users: {parts[0][1].shape})"))
            bad = (arr < 0) | (arr >= n)
            if bad.any():
                raise DataError(f"batch.{name} holds id {int(arr[bad][0])}, out of range "
                                f"0..{n - 1} of the fitted model")
            ids.append(arr.astype(np.int64) + (0 if name == "users" else n_u))
        return kind, np.concatenate(ids), B

    def loss_and_grad(self, batch):
        r"""The batch loss (see the module docstring) and its gradient for every parameter.

        This is the training loss, dropout included: a model with dropout (NGCF's
        ``message_dropout``, 0.1 by default, and ``node_dropout``; GAT's
        ``attention_dropout``) applies it here, with the masks of ``step_``
        (``np.random.default_rng([dropout_seed_, step_])``), so two calls at one step agree
        (what a gradient check needs) and the values are those of a training step, not of
        the model that scores. To compare them with another framework's, switch dropout
        off in both: ``model.set_params(message_dropout=0.0, node_dropout=0.0)`` (GAT:
        ``attention_dropout=0.0``) on the fitted model; dropout says how training proceeds,
        not what the model is (scoring never drops), so it may change after ``fit``, as
        ``lr`` may, and set back before training on.

        Parameters
        ----------
        batch : PairBatch (BPR) or PointBatch (BCE), ids in the fitted id space

        Returns
        -------
        loss : float
        grads : dict, the keys and shapes of ``params``, in ``params``' dtype
        """
        self._check_trainable()
        self._check_call_params("loss_and_grad")
        return self._loss_and_grad(batch)

    def _loss_and_grad(self, batch, reuse=False):
        """``loss_and_grad``; with ``reuse`` a model may return grads in buffers it reuses.

        BLAS runs on one thread in here (:func:`~minigraphrec.threadpools.serial_blas`): the
        dense products between the numba kernels are small, and threaded BLAS slowed them
        and the kernels after them, and changed the results' last bits with the thread count.
        """
        from ..threadpools import serial_blas
        with serial_blas():
            return self._batch_loss_and_grad(batch, reuse)

    def _batch_loss_and_grad(self, batch, reuse):
        kind, node_ids, B = self._batch_nodes(batch)         # (S·B,) S = 3 (BPR) or 2 (BCE)
        nodes, inverse = np.unique(node_ids, return_inverse=True)   # (m,), (S·B,)
        Z, H0, cache = self._forward_rows(nodes)             # (m, d_out), (m, d_0)
        self._check_forward_rows(Z, H0, nodes.shape[0])
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

    def _check_forward_rows(self, Z, H0, m):
        """DataError naming ``_forward_rows`` unless ``Z`` and ``H0`` are 2-d arrays of ``m``
        rows, one per node of the batch (O(1): shapes only, on every call)."""
        for what, X, width in (("Z", Z, "d_out"), ("H0", H0, "d_0")):
            shape = getattr(X, "shape", None)
            if shape is None or len(shape) != 2 or shape[0] != m:
                got = (f"shape {tuple(shape)}" if shape is not None
                       else f"a {type(X).__name__}")
                raise DataError(
                    f"{type(self).__name__}._forward_rows(nodes) returned {what} with {got}; "
                    f"expected ({m}, {width}): one row per entry of nodes (the batch's {m} "
                    f"distinct node ids, sorted), in that order")

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
        self._X_user = as_feature_matrix(user_features, self._dtype, "user_features")
        self._X_item = as_feature_matrix(item_features, self._dtype, "item_features")
        if self.input == "features" and (self._X_user is None or self._X_item is None):
            missing = "user_features" if self._X_user is None else "item_features"
            name = type(self).__name__
            raise DataError(f"{name}(input='features') needs both user and item features, "
                            f"but the training Interactions has no {missing}; use "
                            "input='embedding' or input='both'")


    def _init_input_params(self, rng):
        r"""``E0`` (n_nodes, dim, :func:`id_embeddings` by ``self.init``) and Glorot
        ``W_user_in`` / ``W_item_in``, as used."""
        d, dt = int(self.dim), self._dtype
        params = {}
        if self.input in ("embedding", "both"):
            params["E0"] = id_embeddings(rng, self.n_users_, self.n_items_, d, dt, self.init)
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
        H0 = p["E0"].copy() if "E0" in p else np.zeros((n, int(self.dim)), dtype=self._dtype)
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

    # ================================================================================
    # The article's §8 open problems (docs, tutorial 12): explain, score_history,
    # partial_fit, forget.
    # ================================================================================
    #: fold-in of an ad-hoc history (``score_history``): Adam steps on one fresh user row
    fold_in_steps = 60
    #: Adam's learning rate for the fold-in, times the item embeddings' standard deviation
    fold_in_lr = 0.1
    #: negatives drawn per history item and step of the fold-in
    fold_in_negatives = 16
    #: seed of the fold-in's negative draws (a history gives the same scores every call)
    fold_in_seed = 0
    #: epochs ``partial_fit`` and ``forget(method="fine_tune")`` train when not told
    update_epochs = 5
    #: the parameters whose first axis runs over an id space, which ``partial_fit`` grows and
    #: ``forget(method="fine_tune")`` shrinks with it (and Adam's moments with them): name ->
    #: ``"nodes"`` (users, then items, as ``E0``), ``"users"`` or ``"items"``. A subclass
    #: extends it: an MF subclass with an item bias ``b`` (n_items,), as tests/test_row_params.py's
    #: ``BiasedMF``, sets ``{**MF._row_params, "b": "items"}`` (MF itself has ``E0`` only); a
    #: listed name missing from ``params`` is skipped, an unlisted parameter is shared and kept
    #: as it is.
    _row_params = {"E0": "nodes"}

    def _score_history(self, items):
        r"""Fold-in: a fresh user row ``z`` fitted to ``items`` with the item side frozen.

        See :meth:`fold_in`; the scores are ``score_matrix(z, item_embeddings_)``
        with the model's ``scoring``.
        """
        from ..rank import _check_embeddings
        z = self.fold_in(items)                                           # (d_out,)
        # score_matrix(z[None, :], item_embeddings_, scoring, score_dtype), z checked first
        z = _check_embeddings(z[None, :], "U", dtype=self._score_dtype())
        return self._item_scores()(z, checked=True)[0]

    def fold_in(self, items):
        r"""The final embedding ``z`` (d_out,) of a new user whose history is ``items``.

        The item side stays frozen (``item_embeddings_``, the final
        embeddings ``I``); ``z`` minimises the training loss of one user
        (BPR, the user's positives against uniformly drawn non-history items,
        plus the L2 term of :mod:`~minigraphrec.models.embedding_base`):

        .. math::
            L(z) = \frac{1}{|H| n_{neg}} \sum_{i \in H} \sum_{j} \mathrm{softplus}(z \cdot I_j
                   - z \cdot I_i) + \frac{reg}{2} \lVert z\rVert^2 ,

        ``n_neg = fold_in_negatives`` fresh negatives per history item and
        step. ``z`` starts at the mean of the history items' rows of ``I``
        (the neighbour mean) and takes ``fold_in_steps`` Adam steps (float64,
        step size ``fold_in_lr`` times the standard deviation of ``I``, taken
        over a strided sample of 2048 to 4095 rows, or all of them). The
        negatives come from ``np.random.default_rng(fold_in_seed)``: the same
        history gives the same ``z``, bit for bit. ``L`` is convex in ``z``.

        For MF this is exactly the user's part of training with the items
        fixed, so on a training user's own history it approximates that
        user's row (the ranking, not the scale: BPR's scale is set by ``reg``
        and the number of steps; how close depends on how far training went,
        see :class:`~minigraphrec.MF`); for the graph models it fits
        the user's *final* embedding directly, bypassing the layers: an
        approximation, the more so the more a user's embedding depends on
        the propagation (LightGCN overrides ``score_history`` with an exact
        propagation).
        """
        items = self._check_history(items)
        return _fold_in(self.item_embeddings_, items, float(self.reg), self.fold_in_steps,
                        self.fold_in_lr, self.fold_in_negatives, self.fold_in_seed)

    # ---------------------------------------------------------------- explain
    def _explain(self, user, item, k):
        return self._explain_gradient_input(user, item, k)

    def _layer0_rows(self):
        """Every node's layer-0 row ``H^0`` (n_nodes, d_0): ``E0``, projected features, or both."""
        if hasattr(self, "input"):
            return self._input_layer()[0]
        return self.params["E0"]

    def _explain_gradient_input(self, user, item, k):
        r"""Gradient × input over the layer-0 rows, halved; approximate (``exact=False``).

        ``c_v = ½ Σ_d H⁰_vd ∂s_ui/∂H⁰_vd`` for every node ``v`` (users first,
        then items), ``H⁰`` the layer-0 rows, the gradient that of the
        no-dropout score (dropout is switched off for the pass). The factor ½:
        a score ``e_u · e_i`` of a network that is positively homogeneous of
        degree 1 in ``H⁰`` (no biases, ReLU or identity activations) is of
        degree 2, so by Euler's theorem ``Σ_v H⁰_v · ∇_v s = 2 s`` and the
        halved contributions sum to ``s`` exactly; with biases, attention or
        NGCF's bi-interaction they do not, and ``total`` shows by how much.
        """
        import copy

        from ..explain import Explanation
        n_u = self.n_users_
        self._check_cache_current()            # the split reads params, the score the cache
        nodes = np.array([user, n_u + item], dtype=np.int64)              # sorted: user < n_u
        # The pass runs on a shallow copy with dropout off and the capture below: setting
        # them on the model itself, even for the pass, changed the model other threads were
        # explaining, scoring or updating with partial_fit (an audit: 15 of 20 GCN
        # explanations wrong with 4 threads, and NGCF's partial_fit trained without dropout).
        # The copy shares the parameter arrays, which the passes only read.
        model = copy.copy(self)
        model.__dict__.pop("_workspace", None)            # scratch buffers of its own, if any
        for name in ("message_dropout", "node_dropout", "attention_dropout"):
            if getattr(model, name, 0):
                setattr(model, name, 0.0)
        captured = {}
        input_backward = self._input_layer_backward

        def capture(caches, dH0, grads):                  # the gradient of the layer-0 rows
            captured["dH0"] = np.array(dH0, dtype=np.float64)
            return input_backward(caches, dH0, grads)

        model._input_layer_backward = capture             # instance attribute: shadows the method
        Z, H0_rows, cache = model._forward_rows(nodes)                     # (2, d_out)
        dZ = _score_gradient(Z[0], Z[1], self.scoring)                     # (2, d_out)
        grads = model._backward_rows(cache, dZ.astype(self._dtype), np.zeros_like(H0_rows),
                                     reuse=False)
        dH0 = captured.get("dH0")
        if dH0 is None:                                   # no input layer (NGCF): E0 is H^0
            dH0 = np.asarray(grads["E0"], dtype=np.float64)
        H0 = np.asarray(self._layer0_rows(), dtype=np.float64)             # (n, d_0)
        c = 0.5 * np.einsum("nd,nd->n", H0, dH0)                           # (n,)
        sources = np.flatnonzero(dH0.any(axis=1))
        score = float(self.score(np.array([user]))[0, item])
        rows = ("the projected features X W_in" if getattr(self, "input", "embedding") == "features"
                else "E0 + X W_in" if getattr(self, "input", "embedding") == "both" else "E0")
        return Explanation.from_contributions(
            user, item, sources, c[sources], kind="node", score=score, exact=False, k=k,
            method=f"gradient × input over the layer-0 rows ({rows}), halved: "
                   "c_v = ½ h0_v · ∂s/∂h0_v; approximate")

    # ------------------------------------------------------------- updates
    def partial_fit(self, new_interactions, epochs=None):
        r"""New interactions, users and items join the model; a few epochs over the touched users.

        1. The graph: ``R_`` becomes the union (:meth:`_merge_new`, raw ids;
           new users and items appended) and the model's graph and its
           normalisation are rebuilt from it (``_build``), exactly as ``fit``
           would build them on the union.
        2. Every parameter of ``_row_params`` (``E0``, and a subclass's own
           per-node, per-user or per-item ones) gets a row for each new node
           of its id space; old rows keep their values. A ``"nodes"``
           parameter (``E0``) starts new rows from their neighbours: a new
           item at the mean of its old users' rows, then a new user at the
           mean of its items' rows (new items included); a node with no such
           neighbour gets ``N(0, σ²)``, ``σ`` the standard deviation of the
           parameter's old rows, from the model's generator (the parameters
           in ``_row_params``' order). A ``"users"`` or ``"items"``
           parameter starts every new row at the mean of its old rows (an
           item bias: the average bias), as no neighbour lives in its space.
           Every other parameter is shared and keeps its values; Adam's
           moments get zero rows for the new entries (its step count goes
           on). A listed parameter whose first axis does not match its id
           space is refused (DataError) before anything changes.
        3. ``epochs`` epochs (default ``update_epochs``) of the model's loss on
           the examples of the *touched* users only, those in
           ``new_interactions`` (all of their positives, uniform negatives), one
           Adam step per mini-batch continuing from ``optimizer_state_``.

        With ``epochs=0`` the result is step 1 and 2 alone (tested). The same
        model state, data and seed give the same result, bit for bit. As for a
        resumed ``fit``, only the hyperparameters of ``_resume_may_change``
        (``lr``, ``batch_size``, ...) may have changed since ``fit``; another
        change (``dim``, ``n_layers``) is refused, here and in
        ``forget(method="fine_tune")``.
        Transactional: the new state is built on a copy and assigned at the
        end, so a failure leaves the model unchanged. Node features: the
        feature rows of new users and items come from ``new_interactions``'
        ``user_features`` / ``item_features`` (rows of its own users and
        items, matched by raw id); a model that reads them (``input`` other
        than ``"embedding"``) needs them for every new node (a clear error
        otherwise), and the input projections ``W_user_in`` / ``W_item_in``
        are shared, so a new node's layer-0 row is its features projected
        (plus its ``E0`` row with ``input="both"``). A model that does not
        read them keeps the grown matrices when given, else none. Not
        supported (a clear error): edge weights (``edge_weights`` other than
        None).

        Returns
        -------
        self
        """
        self._check_trainable()
        epochs = self.update_epochs if epochs is None else check_int(epochs, "epochs", at_least=0)
        merge = self._merge_new(new_interactions)
        row_params = self._checked_row_params()
        name = type(self).__name__
        if getattr(self, "edge_weights", None) is not None:
            raise DataError(f"{name}.partial_fit does not update edge weights "
                            f"(edge_weights={self.edge_weights!r}); refit instead")
        reads = getattr(self, "input", "embedding") != "embedding"
        n_u0, n_i0 = self.n_users_, self.n_items_
        who = f"{name}(input={getattr(self, 'input', 'embedding')!r})"
        user_features = _grown_features("user", self.user_features_, new_interactions,
                                        merge.user_ids[n_u0:], reads, who)
        item_features = _grown_features("item", self.item_features_, new_interactions,
                                        merge.item_ids[n_i0:], reads, who)
        new = self._update_copy()
        rng = new._update_rng()
        n_u, n_i = merge.R.shape
        new.R_, new.n_users_, new.n_items_ = merge.R, n_u, n_i
        new.user_ids_, new.item_ids_ = merge.user_ids, merge.item_ids
        new._set_item_labels(merge.item_labels)
        new.user_features_, new.item_features_ = user_features, item_features
        new._build(merge.R, new.user_features_, new.item_features_)
        sizes = _space_sizes(n_u, n_i)
        for param, space in row_params:
            at = _space_rows(space, np.arange(n_u0), np.arange(n_i0), n_u)   # new id of old rows
            grown = _grow_rows(self.params[param], at, sizes[space])
            if space == "nodes":
                grown = _neighbour_init(grown, merge.R, n_u0, n_i0, rng)
            else:                                         # the old rows come first
                grown[at.size:] = grown[:at.size].mean(axis=0)
            new.params[param] = grown
            new.optimizer_state_ = _remap_adam(new.optimizer_state_, param, at, sizes[space])
        touched = np.unique(merge.users)
        new._train_users(touched, epochs, rng)
        new._finish_update(rng)
        self._take_state(new)
        return self

    def forget(self, users=None, interactions=None, *, method="retrain", epochs=None):
        r"""Remove users or interactions, and retrain (default) or fine-tune without them.

        ``method="retrain"`` (the default): ``fit(remaining)`` from scratch, with the
        constructor's hyperparameters as they are now: the constructor's
        ``epochs``, every one of them, and no validation data (an ``epochs``
        argument is refused with this method: it sets fine-tuning's epochs). A
        model fitted with ``fit(train, validation=..., ...)`` (early stopping by
        ``patience``, the best epoch restored) or with ``fit(train, epochs=n)``
        is thus retrained on the full schedule without early stopping, which is not the run
        that made it (to repeat that run, fit a new model the same way on
        the remaining data). Otherwise identical to a model fitted without
        the data (tested) when ``random_state`` is an integer (a Generator
        has moved on since the first fit, and None draws anew), at the cost
        of a full fit. Not available with edge weights (the raw event log
        is not kept): such a model needs ``method="fine_tune"``.

        ``method="fine_tune"``, an opt-in approximation: the graph is rebuilt
        without the forgotten data, the forgotten users' rows leave every ``"nodes"`` and
        ``"users"`` parameter of ``_row_params`` (``E0``) and Adam's moments
        (the others are renumbered; items keep their ids and ``"items"``
        parameters their rows; a parameter not listed is kept as it is; a
        listed one whose first axis does not match its id space is refused
        before anything changes), then ``epochs``
        (default ``update_epochs``) epochs train on the examples of the users
        the removal touched: those who lost an interaction and every
        remaining user of an item that lost one. Approximate unlearning: the
        old parameters still carry what the forgotten data taught them, less
        so with more epochs; ``benchmarks/bench_realtime.py`` measures the
        residual influence (the forgotten items' rank before, after, and in
        a model retrained from scratch). It is not the default because it
        leaves the forgotten data in effect: a user's forgotten items are no
        longer excluded from ``recommend`` as seen, while the user's
        embedding still points at them, so they can fill that user's top of
        the list.

        Either way ``forget_method_`` records which, ``R_`` and every array
        derived from it (the graph, ``R_weighted_``, the rows of the
        ``_row_params`` and of Adam's moments,
        the cached embeddings) no longer hold the forgotten users or pairs,
        and so neither does a file saved afterwards; nor does anything the model kept
        from its old state for reuse (:meth:`_take_state`). Transactional: a failure
        leaves the model unchanged. Nothing to forget (empty ``users`` and
        ``interactions``) is a no-op, whatever ``method``: no epoch runs and
        ``forget_method_`` is not set.
        """
        self._check_trainable()
        if method not in ("fine_tune", "retrain"):
            raise DataError(f"method must be 'fine_tune' or 'retrain', got {method!r}")
        if method == "retrain" and epochs is not None:
            raise DataError(f"forget(epochs={epochs!r}) sets the epochs of method='fine_tune'; "
                            f"method='retrain', the default, trains the constructor's "
                            f"epochs={self.epochs!r} from scratch: pass method='fine_tune' for "
                            f"the approximation, or set_params(epochs=...) for the retrain")
        epochs = self.update_epochs if epochs is None else check_int(epochs, "epochs", at_least=0)
        removal = self._removal(users, interactions, refit=method == "retrain")
        keep = removal.keep_users
        uf = None if self.user_features_ is None else self.user_features_[keep]
        R_w = getattr(self, "R_weighted_", None)
        if method == "retrain":
            if R_w is not None:
                raise DataError("forget(method='retrain'), the default, cannot rebuild the "
                                "edge weights (the raw event log is not kept); pass "
                                "method='fine_tune' for the approximation")
            train = self._training_interactions(removal.R, removal.user_ids)
            train.user_features, train.item_features = uf, self.item_features_
            new = type(self)(**self.get_params()).fit(train)
            new.forget_method_ = "retrain"
            self._take_state(new)
            return self
        row_params = self._checked_row_params()
        new = self._update_copy()
        rng = new._update_rng()
        n_u0, n_i = self.n_users_, self.n_items_
        n_u = keep.shape[0]
        new.R_, new.n_users_, new.user_ids_, new.user_features_ = removal.R, n_u, removal.user_ids, uf
        if R_w is not None:                               # the same pairs as R
            new.R_weighted_ = _mask_pattern(R_w[keep], removal.R)
        new._build(removal.R, uf, new.item_features_)
        for param, space in row_params:
            at = _space_rows(space, keep, np.arange(n_i), n_u0)          # old id of each row
            new.params[param] = np.ascontiguousarray(self.params[param][at])
            new.optimizer_state_ = _select_adam(new.optimizer_state_, param, at)
        # touched: users who lost a pair, and the remaining users of every item that lost one
        lost = [removal.removed_pairs[:, 1], self.R_[removal.removed_users].indices]
        items = np.unique(np.concatenate(lost)).astype(np.int64)
        old_to_new = np.full(n_u0, -1, dtype=np.int64)
        old_to_new[keep] = np.arange(n_u)
        direct = old_to_new[removal.removed_pairs[:, 0]]
        via_items = np.flatnonzero(np.asarray(removal.R[:, items].sum(axis=1)).ravel() > 0)
        touched = np.unique(np.concatenate([direct[direct >= 0], via_items]))
        new._train_users(touched, epochs, rng)
        new.forget_method_ = "fine_tune"
        new._finish_update(rng)
        self._take_state(new)
        return self

    def _checked_row_params(self):
        """``(name, space)`` of each ``_row_params`` entry present in ``params``, checked.

        ValueError for a space other than ``"nodes"``, ``"users"`` and ``"items"``; DataError
        naming the parameter when its first axis does not run over its space's ids.
        """
        who = type(self).__name__
        sizes = _space_sizes(self.n_users_, self.n_items_)
        checked = []
        for name, space in self._row_params.items():
            if name not in self.params:
                continue
            if space not in sizes:
                raise ValueError(f"{who}._row_params[{name!r}] must be one of "
                                 f"{tuple(sizes)}, got {space!r}")
            shape = np.shape(self.params[name])
            if not shape or shape[0] != sizes[space]:
                raise DataError(f"{who}: parameter {name!r} is listed in _row_params as indexed "
                                f"by {space} ({sizes[space]} rows: n_users={self.n_users_}, "
                                f"n_items={self.n_items_}), but has shape {shape}; the model "
                                "is unchanged")
            checked.append((name, space))
        return checked

    def _update_copy(self):
        """A copy to build an update on: its own ``params``, Adam state, history and workspace,
        and none of the values kept for reuse (:func:`~minigraphrec.models.base.kept`), which
        it would otherwise share with the model, and refill from its new state."""
        import copy
        new = copy.copy(self)
        _drop_kept(new)
        new.params = {k: np.array(v, copy=True) for k, v in self.params.items()}
        state = getattr(self, "optimizer_state_", None)
        new.optimizer_state_ = None if state is None else {k: np.array(v, copy=True)
                                                           for k, v in state.items()}
        new.history_ = list(getattr(self, "history_", []) or [])
        new.best_params_ = new.since_best_ = None         # an update ends no validated run
        new.best_epoch_ = None                            # and its params are no epoch's
        new.__dict__.pop("_workspace", None)              # _build (or the model) makes a new one
        return new

    def _take_state(self, new):
        """Make ``new`` (the update built on :meth:`_update_copy`, or the model ``forget``
        retrained) this model's state: the last step of ``partial_fit`` and ``forget``.

        ``new``'s attributes replace the model's, and what the model derived from its old
        state to reuse goes with that state: the values kept by
        :func:`~minigraphrec.models.base.kept` (the prepared item table, GAT's edge
        permutation) and the scratch arrays of ``_workspace``, each made again at first
        use. None would be read again (a kept value is remade for a new source), but each
        would hold in memory what the old state computed: after a ``forget``, the item
        table of the model that had seen the forgotten data.
        """
        _drop_kept(self)
        self.__dict__.pop("_workspace", None)
        self.__dict__.update(new.__dict__)

    def _update_rng(self):
        """The model's generator: where ``fit`` (or the last update) left it, else ``random_state``."""
        from ..train import restore_generator
        state = getattr(self, "rng_state_", None)
        if state is not None:
            return restore_generator(state)
        return np.random.default_rng(self.random_state)

    def _finish_update(self, rng):
        from ..train import generator_state
        self.rng_state_ = generator_state(rng)
        self._refresh_embeddings()

    def _train_users(self, users, epochs, rng):
        r"""``epochs`` epochs of the model's loss over the examples of ``users`` only.

        One epoch: :func:`~minigraphrec.train.bpr_batches` (or ``bce_batches``)
        on ``R_`` with every other user's row emptied, so triples are drawn
        from ``users`` (uniformly), their positives and uniform negatives; one
        Adam step per mini-batch, continuing ``optimizer_state_``. Those of
        ``users`` who have every item have no negative: their rows are emptied
        too, with one warning (``minigraphrec.train._sampling_matrix``), and
        when no other is left no step is taken.
        """
        from ..optim import Adam
        from ..train import (_sampling_matrix, batch_gradient, epoch_batches,
                             optimizer_state_attr, optimizer_state_from_attr, run_epoch)
        if epochs == 0 or users.size == 0:
            return
        R = self.R_
        mask = np.zeros(R.shape[0])
        mask[users] = 1.0
        R_t = sp.csr_matrix(sp.diags(mask) @ R)                            # (n_users, n_items)
        R_t.eliminate_zeros()
        R_t = _sampling_matrix(self, R_t, update=True)           # users with every item: out
        if R_t.nnz == 0:
            return
        backend = getattr(self, "backend", "numba")               # as in train.fit_epochs
        optimizer = Adam(lr=self.lr, backend=backend)
        if getattr(self, "optimizer_state_", None):
            optimizer.load_state_dict(optimizer_state_from_attr(self.optimizer_state_))
            optimizer.lr = float(self.lr)
        gradient = batch_gradient(self)
        for epoch in range(1, epochs + 1):          # on a copy: a failure changes nothing
            run_epoch(self, epoch_batches(self, R_t, rng, backend), optimizer, gradient, epoch,
                      on_failure="the update stopped and the model is unchanged")
        self.optimizer_state_ = optimizer_state_attr(optimizer.state_dict())


    # ------------------------------------------------------ for subclasses
    # (the module docstring and 'Writing your own model' in the documentation)
    def _build(self, R, user_features, item_features):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _build(R, user_features, item_features): "
            "set the state derived from the (n_users, n_items) training matrix, e.g. "
            "self.A_hat_ (it runs again on load); a model without any can just pass")

    def _init_params(self, rng):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _init_params(rng): return the parameters, "
            "a dict of arrays in self._dtype, e.g. {'E0': id_embeddings(...)}")

    def _forward_rows(self, nodes):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _forward_rows(nodes): return (Z, H0, cache), "
            "the final embeddings Z (m, d_out) and layer-0 rows H0 (m, d_0) of the m sorted, "
            "distinct node ids, and what _backward_rows needs")

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _backward_rows(cache, dZ, dH0, reuse=False): "
            "return the gradient of every parameter, a dict with the keys and full shapes "
            "of self.params")

    def _all_embeddings(self):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _all_embeddings(): return the final "
            "embeddings of every node, (n_users + n_items, d_out), users first")


def _drop_kept(model):
    """Remove from ``model`` every value kept by :func:`~minigraphrec.models.base.kept`."""
    for name in [k for k, v in model.__dict__.items() if isinstance(v, _Kept)]:
        del model.__dict__[name]


def _difference(old, new):
    """What differs between the fitted data (``old``) and the new (``new``), or ''."""
    for a in ("n_users_", "n_items_"):
        if old[a] != new[a]:
            return f"{a[:-1]} {old[a]} (fitted) vs {new[a]} (given)"
    R_old, R_new = old["R_"], new["R_"]
    if R_old.nnz != R_new.nnz or (R_old != R_new).nnz:
        n_new, n_old = (R_new > R_old).nnz, (R_old > R_new).nnz
        return (f"{n_new} training pair(s) not in the fitted data and {n_old} fitted pair(s) "
                f"missing ({R_old.nnz} fitted, {R_new.nnz} given)")
    for a in ("user_ids_", "item_ids_"):
        if not np.array_equal(old[a], new[a]):
            k = int(np.flatnonzero(np.asarray(old[a]) != np.asarray(new[a]))[0])
            return (f"the raw {a[:-5]} ids differ, first at index {k}: {old[a][k]!r} (fitted) "
                    f"vs {new[a][k]!r} (given)")
    W_old, W_new = old["R_weighted_"], new["R_weighted_"]       # same pattern as R_ here
    if (W_old is None) != (W_new is None) or W_old is not None and not (
            np.array_equal(W_old.indices, W_new.indices) and np.array_equal(W_old.data, W_new.data)):
        return "the edge weights (from the weights or timestamps) differ"
    return ""


def _features_difference(old, new):
    """'' if the user and item features are equal, else which differ."""
    for side, F_old, F_new in zip(("user", "item"), old, new):
        if F_old is None and F_new is None:
            continue
        if F_old is None or F_new is None:
            return f"{side}_features {'absent' if F_old is None else 'present'} when fitted, " \
                   f"{'absent' if F_new is None else 'present'} now"
        a = F_old.toarray() if sp.issparse(F_old) else np.asarray(F_old)
        b = F_new.toarray() if sp.issparse(F_new) else np.asarray(F_new)
        if a.shape != b.shape or not np.array_equal(a, b):
            return f"the {side}_features differ"
    return ""


def as_feature_matrix(F, dtype, name):
    """``F`` (n, f) as a feature matrix in the model's dtype, or None: a SciPy sparse matrix
    becomes a CSR (sparse, not densified: products with it stay sparse), anything else a
    2-d ndarray."""
    if F is None:
        return None
    if sp.issparse(F):
        return sp.csr_matrix(F, dtype=dtype)
    F = np.asarray(F, dtype=dtype)
    if F.ndim != 2:
        raise DataError(f"{name} must be 2-d, got shape {F.shape}")
    return F


class EdgeWeighted:
    """Mixin for graph models with the ``edge_weights`` / ``half_life`` hyperparameters.

    Fitting also sets ``R_weighted_`` (see :func:`~minigraphrec.graph.edge_weight_matrix`), which
    ``_graph_matrix`` then builds the graph from.
    """

    def _fit_interactions(self, train):
        R = super()._fit_interactions(train)                              # (n_users, n_items)
        self.R_weighted_ = edge_weight_matrix(train, self.edge_weights, self.half_life)
        return R


# ================================================================================
# The article's §8 open problems (docs, tutorial 12): module-level helpers.
# ================================================================================
def _fold_in(I, items, reg, steps, lr, n_neg, seed):
    r"""Adam on one user row ``z`` against frozen item rows ``I`` (see ``fold_in``); float64.

    Only the rows it reads are cast to float64 (the history's and each
    step's negatives'); the step size's scale, the standard deviation of
    ``I``, is taken over every ``n_items // 2048``-th row (all of them below 4096 items;
    from 2048 to 4095 rows above).

    The Adam step is written out rather than taken from :class:`~minigraphrec.optim.Adam`:
    it computes ``sqrt(v / (1 - β2^t))`` and ``step / (1 - β1^t) · m`` where ``Adam``
    computes ``sqrt(v) / sqrt(1 - β2^t)`` and ``(m / denom) · lr / (1 - β1^t)``, which
    round differently (by about 1e-15 on a float64 ``z``): taking it would change the ``z``
    of every fold-in (``score_history``, ``recommend_history``).
    """
    n_items = I.shape[0]
    candidates = np.setdiff1d(np.arange(n_items), items)                  # non-history items
    P = np.asarray(I[items], dtype=np.float64)                            # (p, d)
    z = P.mean(axis=0)                                                    # (d,) neighbour mean
    if candidates.size == 0 or steps == 0:
        return z
    rng = np.random.default_rng(seed)
    scale = float(np.asarray(I[::max(1, n_items // 2048)], dtype=np.float64).std())
    step = lr * scale if scale > 0 else lr
    m, v = np.zeros_like(z), np.zeros_like(z)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        neg = candidates[rng.integers(0, candidates.size, size=(items.size, n_neg))]  # (p, n)
        _, cache = fold_in_loss_forward(z, P, np.asarray(I[neg], dtype=np.float64), reg)
        dz = fold_in_loss_backward(cache)                                 # (d,)
        m = b1 * m + (1 - b1) * dz
        v = b2 * v + (1 - b2) * dz * dz
        z = z - step / (1 - b1 ** t) * m / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return z


def fold_in_loss_forward(z, P, N, reg):
    r"""The fold-in loss of one user row: ``L = mean_{i,j} softplus(z·N_ij - z·P_i) + reg/2 |z|²``.

    z: (d,), P: (p, d) the history items' rows, N: (p, n, d) the negatives'
    rows drawn for each, reg >= 0 -> scalar. Stable at any score (``logaddexp``).
    """
    x = N @ z - (P @ z)[:, None]                                          # (p, n) s_j - s_i
    loss = float(np.logaddexp(0.0, x).mean() + 0.5 * reg * (z @ z))
    return loss, (z, P, N, x, reg)


def fold_in_loss_backward(cache, dloss=1.0):
    r"""``dz = dloss (Σ_ij σ(x_ij) (N_ij - P_i) / (p n) + reg z)``, ``x_ij = z·N_ij - z·P_i``."""
    z, P, N, x, reg = cache
    g = 0.5 * (1.0 + np.tanh(0.5 * x)) / x.size                           # σ(x) / (p n), stable
    return dloss * (np.einsum("pn,pnd->d", g, N) - g.sum(axis=1) @ P + reg * z)   # (d,)


def _score_gradient(e_u, e_i, scoring):
    r"""``∂s/∂e_u`` and ``∂s/∂e_i`` (rows of a (2, d) float64 array) for the model's scoring.

    dot: ``(e_i, e_u)``; cosine ``s = e_u·e_i / (|e_u| |e_i|)``:
    ``e_i / (|e_u||e_i|) - s e_u / |e_u|²`` and symmetrically (0 for a zero
    vector); euclidean ``s = -|e_u - e_i|``: ``-(e_u - e_i)/|e_u - e_i|`` and its negative.
    """
    u, i = np.asarray(e_u, dtype=np.float64), np.asarray(e_i, dtype=np.float64)
    if scoring == "dot":
        return np.stack([i, u])
    if scoring == "cosine":
        nu, ni = np.linalg.norm(u), np.linalg.norm(i)
        if nu == 0 or ni == 0:
            return np.zeros((2, u.shape[0]))
        s = u @ i / (nu * ni)
        return np.stack([i / (nu * ni) - s * u / nu ** 2, u / (nu * ni) - s * i / ni ** 2])
    diff = u - i
    dist = np.linalg.norm(diff)
    if dist == 0:
        return np.zeros((2, u.shape[0]))
    return np.stack([-diff / dist, diff / dist])


def _space_sizes(n_users, n_items):
    """The number of ids of each ``_row_params`` space."""
    return {"nodes": n_users + n_items, "users": n_users, "items": n_items}


def _space_rows(space, user_rows, item_rows, n_users):
    """Rows of an array over ``space``: ``user_rows``, ``item_rows``, or (``"nodes"``) both,
    the items offset by ``n_users`` (users first)."""
    if space == "users":
        return user_rows
    if space == "items":
        return item_rows
    return np.concatenate([user_rows, n_users + item_rows])


def _grow_rows(X, old_rows, n_rows):
    """``X`` (m, ...) placed at ``old_rows`` of a zero (n_rows, ...) array."""
    out = np.zeros((n_rows,) + X.shape[1:], dtype=X.dtype)
    out[old_rows] = X
    return out


def _neighbour_init(X, R, n_u0, n_i0, rng):
    r"""Fill the new rows of a node-indexed ``X`` (users ``>= n_u0``, items ``>= n_i0``) from
    their neighbours; ``X`` is ``E0`` or another ``"nodes"`` parameter, of any trailing shape.

    A new item: the mean of its old users' rows; then a new user: the mean
    of its items' rows (new items included). A new node with neither:
    ``N(0, σ²)``, ``σ`` the standard deviation of the old rows, drawn in
    node order from ``rng``.

    Each mean is ``X[neighbours].mean(axis=0)`` over the neighbours in ``R``'s order, the
    same bits (:func:`_neighbour_means`); the nodes are taken by degree rather than one by
    one (40,000 new nodes of Gowalla's graph, d = 64, 1 thread: 0.15 s, one by one 0.55 s).
    """
    n_u, n_i = R.shape
    X = X.copy()
    sigma = float(np.concatenate([X[:n_u0], X[n_u:n_u + n_i0]]).std())
    C = sp.csc_matrix(R)                               # a column's users in ascending order
    indptr, users = _rows_of(C, n_i0, n_i)             # each new item's users
    indptr, users = _kept_entries(indptr, users, users < n_u0)           # the old ones
    no_user = _neighbour_means(X, n_u + np.arange(n_i0, n_i), indptr, users)
    orphan_items = n_i0 + np.flatnonzero(no_user)                        # new items, sorted
    indptr, items = _rows_of(R, n_u0, n_u)             # each new user's items
    unset = np.zeros(n_i, dtype=bool)
    unset[orphan_items] = True                         # still zero rows: not neighbours
    indptr, items = _kept_entries(indptr, items, ~unset[items])
    no_item = _neighbour_means(X, np.arange(n_u0, n_u), indptr, n_u + items)
    orphans = np.concatenate([n_u0 + np.flatnonzero(no_item), n_u + orphan_items])  # sorted
    if orphans.size:
        X[orphans] = (sigma * rng.standard_normal((orphans.size,) + X.shape[1:])).astype(X.dtype)
    return X


def _rows_of(M, start, stop):
    """``(indptr, indices)`` of the compressed rows (CSR) or columns (CSC) ``start:stop`` of
    ``M``, ``indptr`` from 0."""
    lo, hi = M.indptr[start], M.indptr[stop]
    return M.indptr[start:stop + 1] - lo, M.indices[lo:hi]


def _kept_entries(indptr, indices, keep):
    """The compressed rows ``(indptr, indices)`` with only the entries where ``keep`` (nnz,)
    is True, in their order."""
    before = np.concatenate([[0], np.cumsum(keep)])    # (nnz + 1,) entries kept before each
    return before[indptr], indices[keep]


def _neighbour_means(X, targets, indptr, neighbours):
    r"""``X[targets[r]] = X[neighbours[indptr[r]:indptr[r + 1]]].mean(axis=0)`` for each row
    ``r`` with a neighbour, in place; returns the mask (n_rows,) of the rows without one.

    The rows of one degree ``k`` are done together, as ``X[nbrs].mean(axis=1)`` with
    ``nbrs`` (n_k, k): NumPy then sums each row's ``k`` neighbours as it sums them in
    ``X[nbrs[r]].mean(axis=0)`` (one after another over a trailing shape of more than one
    entry; pairwise, over the same ``k``, when a row has a single entry: shape (), (1,),
    (1, 1)) and divides by the same ``k``, so every row has the bits of the one-row mean
    (tests/test_open_problems_embedding.py compares them over float32 and float64,
    degrees up to 20,000 and trailing shapes (), (1,), (d,), (h, d)).
    """
    deg = np.diff(indptr)                                                # (n_rows,)
    for k in np.unique(deg[deg > 0]):
        rows = np.flatnonzero(deg == k)                                  # (n_k,)
        nbrs = neighbours[indptr[rows][:, None] + np.arange(k)]          # (n_k, k)
        X[targets[rows]] = X[nbrs].mean(axis=1)                          # (n_k, ...)
    return deg == 0


def _map_adam(state, name, f):
    """A copy of Adam's ``state`` with ``f`` applied to both moments of parameter ``name``.

    ``state`` is the model's ``optimizer_state_``, keyed ``"m:E0"``: ``Adam.state_dict()``'s
    ``"m/E0"`` with ``/`` made ``:`` (:func:`~minigraphrec.train.optimizer_state_attr`)."""
    if not state:
        return state
    state = dict(state)
    for slot in ("m", "v"):
        key = f"{slot}:{name}"
        if key in state:
            state[key] = f(np.asarray(state[key]))
    return state


def _remap_adam(state, name, old_rows, n_rows):
    """Adam's moments of parameter ``name`` moved to ``old_rows`` of ``n_rows`` (zeros elsewhere)."""
    return _map_adam(state, name, lambda M: _grow_rows(M, old_rows, n_rows))


def _select_adam(state, name, rows):
    """Adam's moments of parameter ``name`` restricted to ``rows`` (in that order)."""
    return _map_adam(state, name, lambda M: np.ascontiguousarray(M[rows]))


def _mask_pattern(W, R):
    """``W`` (CSR) keeping only the entries where ``R`` has one (same shape)."""
    W = sp.csr_matrix(W.multiply(R > 0))
    W.eliminate_zeros()
    W.sort_indices()
    return W
