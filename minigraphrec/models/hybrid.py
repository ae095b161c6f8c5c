r"""Hybrid recommendation: a weighted blend of several recommenders.

The article's "mixed recommendation" (§1): combine content-based and
collaborative filtering so that each covers the other's blind spots. Scores
of different models live on different scales (cosines in [-1, 1], co-occurrence
sums, EASE's unbounded reconstructions), so each model's scores are first
normalised per user, then averaged with weights ``w`` (non-negative, summing
to 1):

.. math::
    s_u = \sum_m w_m\, \mathcal N\big(s^{(m)}_u\big).

Normalisations ``N`` (statistics over the user's *candidate* items, i.e. the
items not in their training row, because those are the ones that get
ranked; over all items if the user has no candidate):

* ``"minmax"``: ``(s - min) / (max - min)``, 0 for a constant row;
* ``"zscore"``: ``(s - mean) / std`` (population std), 0 for a constant row;
* ``"rank"``: the mid-rank percentile ``(#{c : s_c < s} + ½ #{c : s_c = s}) / |C|``
  over the candidates ``C``, in (0, 1); insensitive to any monotone
  rescaling of a model's scores.

Training items get the same transform (their values may leave the range);
``recommend`` excludes them anyway.

Weights are given, uniform by default, or tuned on held-out interactions by
grid search over the simplex ``{w : w_m ∈ {0, step, 2 step, ..., 1}, Σ w_m = 1}``
maximising recall@k (or NDCG@k) under the evaluation protocol of
:func:`minigraphrec.metrics.evaluate` (full ranking, training items excluded,
users with at least one held-out item).
"""
from __future__ import annotations

import copy
import inspect
import itertools
import math
import numbers

import numpy as np
import scipy.sparse as sp

from ..data import check_interactions
from ..errors import DataError, check_backend, check_bool, check_int, check_random_state
from .base import Recommender, plain_ids

__all__ = ["Hybrid", "add_normalized", "grid_top_k", "normalize_scores", "simplex_grid"]

NORMALIZATIONS = ("minmax", "zscore", "rank")
TUNING_METRICS = ("recall", "ndcg")
#: refuse a grid with more points than this (choose a coarser step)
MAX_GRID = 20000
#: score blocks of fewer entries than this are normalised on one numba thread
#: (:class:`~minigraphrec.threadpools.serial_if`): waking the thread pool costs a scheduler
#: time slice when the cores are busy. Min-max normalising and adding (``row_affine`` then
#: ``add_affine``) took 0.007 ms on one thread for 1 x 1,682 scores (one ML-100K user) and
#: 0.39 ms for 156 x 1,682 (2^18), against 23 ms and 0.19 ms (both threads awake) on two
#: (AMD EPYC, 2 cores, load average 4-6, 2026-12-07, ``/tmp`` script, not recorded): below
#: 2^18 a second thread saves at most about 0.2 ms. The threshold of the top-k kernel
#: (:data:`minigraphrec.kernels.topk.PARALLEL_FROM`).
SERIAL_BELOW = 1 << 18


def normalize_scores(S, method="minmax", exclude=None, backend="numba"):
    r"""Normalise each row of a score matrix over its candidate items.

    Parameters
    ----------
    S : array-like (n_rows, n_items), finite
    method : {"minmax", "zscore", "rank"}
        Formulas in the module docstring.
    exclude : scipy sparse (n_rows, n_items), optional
        Nonzeros mark non-candidates (a user's training items): they are left
        out of each row's statistics but transformed like the others. A row
        whose items are all excluded uses all of them.
    backend : {"numba", "numpy"}
        ``"numpy"`` is the readable reference below (a dense boolean mask of
        the candidates); ``"numba"`` (:mod:`minigraphrec.kernels.normalize`)
        walks each row's sorted exclusions instead and allocates nothing of
        the block's size but the result. Min-max and ranks agree bit for
        bit, z-scores to rounding (the mean and variance are summed in
        another order).

    Returns
    -------
    Z : ndarray float64 (n_rows, n_items)
    """
    S, E = _check_scores(S, method, exclude, backend)
    if backend == "numpy":
        return _normalize_numpy(S, method, E)
    return _add_normalized_numba(np.zeros(S.shape), S, 1.0, method, E)


def add_normalized(out, S, weight, method="minmax", exclude=None, backend="numba"):
    r"""``out += weight * normalize_scores(S, method, exclude)``, in place: one term of the blend.

    With ``backend="numba"`` the term is added as it is computed (no
    temporary of the block's size); ``out`` (float64, C-contiguous, the
    shape of ``S``) is left untouched when ``S`` is rejected (a non-finite
    score, a wrong shape).
    """
    S, E = _check_scores(S, method, exclude, backend)
    if not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == S.shape
            and out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous float64 array of shape {S.shape}")
    if backend == "numpy":
        out += weight * _normalize_numpy(S, method, E)
        return out
    return _add_normalized_numba(out, S, float(weight), method, E)


def grid_top_k(Z, grid, k, exclude=None, backend="numba"):
    r"""The ``k`` best items of the blend ``Σ_m grid[g, m] Z[m]`` for every weight vector ``g``.

    What tuning the weights needs: the same normalised scores ranked once
    per grid point.

    Parameters
    ----------
    Z : array-like (M, n_rows, n_items), finite: each model's normalised scores
    grid : array-like (G, M), non-negative, each row with a positive weight
    k : int >= 1
    exclude : scipy sparse (n_rows, n_items), optional; nonzeros are never ranked
    backend : {"numba", "numpy"}
        ``"numpy"``: for each grid point, ``S = sum(w_m * Z_m for w_m > 0)``
        then :func:`~minigraphrec.rank.top_k`, the reference.
        ``"numba"``: :func:`minigraphrec.kernels.normalize.grid_top_k`, the
        same sums ranked row by row with the ranking's own kernel, so the
        items are identical.

    Returns
    -------
    items : int64 (G, n_rows, k), best first; -1 where a row has fewer than
        ``k`` candidates.
    """
    check_backend(backend)
    k = check_int(k, "k")
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    grid = np.ascontiguousarray(grid, dtype=np.float64)
    if Z.ndim != 3 or Z.shape[2] == 0:
        raise ValueError(f"Z must be (n_models, n_rows, n_items) with n_items >= 1, got "
                         f"shape {Z.shape}")
    if grid.ndim != 2 or grid.shape[1] != Z.shape[0]:
        raise ValueError(f"grid must be (n_points, {Z.shape[0]}) for {Z.shape[0]} models, got "
                         f"shape {grid.shape}")
    if not (np.all(np.isfinite(grid)) and np.all(grid >= 0) and np.all(grid.max(axis=1) > 0)):
        raise ValueError("grid weights must be finite and non-negative, with a positive "
                         "weight in every row")
    if not np.all(np.isfinite(Z)):
        m, r, c = np.argwhere(~np.isfinite(Z))[0]
        raise ValueError(f"Z must be finite; Z[{m}, {r}, {c}] is {Z[m, r, c]}")
    return _grid_top_k_core(Z, grid, k, exclude, backend)


def _grid_top_k_core(Z, grid, k, exclude, backend):
    """:func:`grid_top_k` on checked input (Hybrid's tuning: ``Z`` made finite by normalisation)."""
    from ..rank import canonical_csr, csr_arrays, top_k

    n_rows, n_items = Z.shape[1:]
    if backend == "numpy":
        out = np.empty((grid.shape[0], n_rows, k), dtype=np.int64)
        for g, w in enumerate(grid):
            S = sum(w_m * Z_m for w_m, Z_m in zip(w, Z) if w_m > 0)      # (n_rows, n_items)
            out[g], _ = top_k(S, k, exclude=exclude, backend="numpy")
        return out
    from ..kernels import normalize as normalize_kernels

    if exclude is None:
        ex_indptr = np.zeros(n_rows + 1, dtype=np.int64)
        ex_indices = np.zeros(0, dtype=np.int64)
    else:
        ex_indptr, ex_indices = csr_arrays(canonical_csr(exclude, (n_rows, n_items), "exclude"))
    out = np.empty((grid.shape[0], n_rows, k), dtype=np.int64)
    return normalize_kernels.grid_top_k(Z, grid, ex_indptr, ex_indices, min(k, n_items), out)


def _check_scores(S, method, exclude, backend):
    """Validated ``S`` (float32/64 array, 2-d, at least one item) and ``exclude`` (CSR or None)."""
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")
    check_backend(backend)
    S = np.asarray(S)
    if S.dtype not in (np.float32, np.float64):
        S = S.astype(np.float64)
    if S.ndim != 2:
        raise ValueError(f"scores must be 2-d (n_rows, n_items), got shape {S.shape}")
    if S.shape[1] == 0:
        raise ValueError("scores have no items (shape (n_rows, 0)): nothing to normalise")
    E = None
    if exclude is not None:
        E = sp.csr_matrix(exclude)
        if E.shape != S.shape:
            raise ValueError(f"exclude has shape {E.shape}, expected {S.shape}")
    return S, E


def _normalize_numpy(S, method, E):
    """The reference: a dense boolean candidate mask and NumPy reductions."""
    S = np.array(S, dtype=np.float64)                                     # (n, n_items) copy
    if not np.all(np.isfinite(S)):
        r, c = np.argwhere(~np.isfinite(S))[0]
        raise ValueError(f"scores must be finite to be normalised; entry ({r}, {c}) is "
                         f"{S[r, c]}")
    C = np.ones(S.shape, dtype=bool)                                      # candidates
    if E is not None:
        E = E.copy()
        E.eliminate_zeros()
        rows = np.repeat(np.arange(S.shape[0]), np.diff(E.indptr))
        C[rows, E.indices] = False
        C[~C.any(axis=1)] = True                                          # nothing left: use all
    n_c = C.sum(axis=1)                                                   # (n,)
    if method == "rank":
        Z = np.empty_like(S)
        for r in range(S.shape[0]):
            c = np.sort(S[r, C[r]])                                       # (n_c,)
            below = np.searchsorted(c, S[r], side="left")                 # (n_items,)
            upto = np.searchsorted(c, S[r], side="right")
            Z[r] = (below + 0.5 * (upto - below)) / n_c[r]
        return Z
    if method == "minmax":
        lo = np.where(C, S, np.inf).min(axis=1)                           # (n,)
        hi = np.where(C, S, -np.inf).max(axis=1)
        shift, scale = lo, hi - lo
    else:
        mean = np.where(C, S, 0.0).sum(axis=1) / n_c                      # (n,)
        var = np.where(C, (S - mean[:, None]) ** 2, 0.0).sum(axis=1) / n_c
        shift, scale = mean, np.sqrt(var)
    inv = np.zeros_like(scale)
    np.divide(1.0, scale, out=inv, where=scale > 0)
    Z = (S - shift[:, None]) * inv[:, None]                               # (n, n_items)
    Z[scale <= 0] = 0.0                                                   # constant rows
    return Z


def _add_normalized_numba(out, S, weight, method, E):
    """``out += weight * N(S)`` by :mod:`minigraphrec.kernels.normalize` (input checked)."""
    from ..kernels import normalize as normalize_kernels     # numba compiles on first use

    n_rows = S.shape[0]
    if E is None:
        indptr, indices = np.zeros(n_rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    else:                                 # the kernels walk sorted, distinct, nonzero indices
        E = E.copy()
        E.eliminate_zeros()
        E.sum_duplicates()                # also sorts the indices
        indptr, indices = E.indptr, E.indices
    S = np.ascontiguousarray(S)
    code = normalize_kernels.ZSCORE if method == "zscore" else normalize_kernels.MINMAX
    with _serial_for_scores(S.size):
        shift, inv, bad = normalize_kernels.row_affine(S, indptr, indices, code)
    if np.any(bad >= 0):
        r = int(np.flatnonzero(bad >= 0)[0])
        c = int(bad[r])
        raise ValueError(f"scores must be finite to be normalised; entry ({r}, {c}) is "
                         f"{S[r, c]}")
    with _serial_for_scores(S.size):
        if method == "rank":
            return normalize_kernels.add_rank(S, indptr, indices, weight, out)
        return normalize_kernels.add_affine(S, shift, inv, weight, out)


def _serial_for_scores(n_scores):
    """One numba thread for the normalisation kernels on ``n_scores < SERIAL_BELOW`` scores
    (a few users); each row is computed by one thread, so the bits do not change."""
    from ..threadpools import serial_if
    return serial_if(n_scores < SERIAL_BELOW)


def _grid_parts(step):
    """``n = 1 / step`` as an int, DataError unless ``step`` divides 1 (to 1e-9)."""
    n = int(round(1.0 / step))
    if n < 1 or abs(n * step - 1.0) > 1e-9:
        raise DataError(f"step must divide 1 into a whole number of parts (0.5, 0.25, 0.1, "
                        f"...), got {step!r}")
    return n


def _check_grid_size(n_models, step):
    """The number of points of ``simplex_grid(n_models, step)``, DataError above
    :data:`MAX_GRID` (or if ``step`` does not divide 1), computed without building it."""
    n = _grid_parts(step)
    size = math.comb(n + n_models - 1, n_models - 1)
    if size > MAX_GRID:
        raise DataError(f"the weight grid has {size} points for {n_models} models at step "
                        f"{step}, above {MAX_GRID}; use a coarser step")
    return size


def simplex_grid(n_models, step):
    r"""Every weight vector with entries in ``{0, step, ..., 1}`` summing to 1.

    ``1 / step`` must be (close to) an integer ``n``; there are
    ``C(n + M - 1, M - 1)`` vectors for ``M`` models, returned as a float64
    array (n_grid, M) in lexicographic order of the integer compositions.
    """
    n = _grid_parts(step)
    grid = [np.diff((0,) + cuts + (n,))
            for cuts in itertools.combinations_with_replacement(range(n + 1), n_models - 1)]
    return np.array(grid, dtype=np.float64).reshape(-1, n_models) / n


def _clone(model):
    """An unfitted copy with the same hyperparameters (recursing into sub-models).

    A Generator hyperparameter is copied in its current state (as scikit-learn's ``clone``
    does): fitting the copy leaves the original's generator, and so the original's own fit,
    as they were.
    """
    def copy_value(v):
        if isinstance(v, Recommender):
            return _clone(v)
        if isinstance(v, np.random.Generator):
            return copy.deepcopy(v)
        if isinstance(v, (list, tuple)) and any(isinstance(x, Recommender) for x in v):
            return type(v)(copy_value(x) for x in v)
        return v
    return type(model)(**{k: copy_value(v) for k, v in model.get_params().items()})


def _naming_component(exc, j, model):
    """``exc`` again, its message prefixed with ``Hybrid: component j (Class)``: an exception
    of the same type (so ``except DataError`` still catches it), the original as its
    ``__cause__``; the original itself, with that as a note, when it holds more than a
    message (an OSError's errno and file name) or its type takes no message alone."""
    where = f"Hybrid: component {j} ({type(model).__name__})"
    if len(exc.args) == 1 and isinstance(exc.args[0], str):      # a message, and only that
        try:
            return type(exc)(f"{where}: {exc}")
        except Exception:               # a type whose constructor wants more than a message
            pass
    # e.g. an OSError keeps its errno and file name; __notes__ is what add_note (Python
    # 3.11) appends to, and Python 3.10 has no add_note
    exc.__notes__ = [*getattr(exc, "__notes__", []), where]
    return exc


def _is_fitted(model):
    return hasattr(model, "R_") and hasattr(model, "n_items_")


def _check_validation_ids(train, validation):
    """DataError unless each user and item of ``validation`` has the raw id ``train`` gives
    its internal id: ``evaluate``'s check of a test set (``metrics._check_same_raw_ids``), the
    raw ids read by the rule the fitted model keeps them by (:func:`~.base.plain_ids`)."""
    from ..metrics import _check_same_raw_ids

    fix = ("Load both files together (e.g. load_triples(train_path, test_path=...)), split "
           "one data set, or bring validation into train's ids with "
           "validation.align(train.user_ids, train.item_ids)")
    for kind, used, raw, ours in (
            ("user", validation.users, validation.user_ids, train.user_ids),
            ("item", validation.items, validation.item_ids, train.item_ids)):
        _check_same_raw_ids(kind, used, plain_ids(raw, f"validation.{kind}_ids"),
                            plain_ids(ours, f"train.{kind}_ids"), "validation", fix=fix)


class Hybrid(Recommender):
    r"""Weighted blend of per-user normalised scores of several recommenders.

    .. math::
        s_u = \sum_m w_m \,\mathcal N\big(s^{(m)}_u\big), \qquad w_m \ge 0,\ \sum_m w_m = 1.

    Parameters
    ----------
    models : list of Recommender
        Fitted or not; Hybrid never modifies them. ``fit`` fits an unfitted
        copy of each, as scikit-learn's ensembles fit clones (two Hybrids
        built from one list do not share fitted state; a Hybrid refitted on
        new data refits its copies), except a component already fitted on
        its very ``train`` (the same binary user-item matrix and raw ids: a
        model fitted ahead, say), which it uses as it is, as scikit-learn's
        ``StackingClassifier(cv="prefit")`` does (``refit=True`` copies and
        refits that one too). Such a component stays the caller's object:
        refitting it yourself later changes the blend. Features are not
        compared: a component fitted on the same pairs with other features
        is used as it is, unless ``refit=True``. ``save`` writes these as
        specifications (class and hyperparameters) and the fitted
        components, ``models_``, with their state.
    weights : None, "tune" or sequence of float
        None: uniform, unless ``fit`` gets a ``validation`` set (then
        tuned). A sequence: one non-negative weight per model (rescaled to
        sum 1). ``"tune"``: grid search; on ``validation`` if given, else on
        a per-user random ``validation_size`` holdout of ``train`` (copies
        of the models are fitted on the rest, then the models themselves on
        all of ``train``).
    normalization : {"minmax", "zscore", "rank"}
        See ``normalize_scores`` in :mod:`minigraphrec.models.hybrid`.
    metric : {"recall", "ndcg"}
        Tuning criterion, at cut-off ``k``.
    k : int, default 20
    step : float, default 0.1
        Grid resolution on the simplex (see ``simplex_grid`` in ``models/hybrid.py``): 11 points
        for 2 models, 66 for 3, 286 for 4. ``1 / step`` must be a whole
        number and the grid at most ``MAX_GRID`` points: checked when
        ``fit`` tunes, before it fits any model.
    validation_size : float in (0, 1), default 0.2
        ``weights="tune"`` without ``validation`` only.
    refit : bool, default False
        Refit components that are already fitted.
    random_state : None, int or numpy.random.Generator, default 0
        Seeds the internal holdout (``weights="tune"`` without ``validation``).
        None draws a new holdout on every fit, so the tuned weights may
        differ from fit to fit.

    Attributes
    ----------
    weights_ : ndarray float64 (n_models,), summing to 1
    models_ : list of the fitted components
        The fitted copies, and the components of ``models`` used as they
        were fitted.
    grid_ : ndarray (n_grid, n_models)
        The weight vectors tried (tuning only).
    grid_scores_ : ndarray (n_grid,)
        Their validation metric (tuning only).
    R_ : csr_matrix (n_users, n_items), binary training matrix
    n_users_, n_items_ : int

    Notes
    -----
    Among weight vectors with the best validation metric, the one closest
    to uniform weights is chosen (then the first in grid order). The
    components stay fitted on ``train`` when ``validation`` is given: refit
    them on train ∪ validation yourself if you want to use it for the
    final model.

    The article's open problems (§8): no ``explain`` (the per-user
    normalisation has no exact split over sources; explain a component);
    ``score_history`` blends the components' ``score_history`` normalised
    over the items outside the history (equal to ``score(u)`` for a user's
    own history when the components' are); ``partial_fit`` and ``forget``
    update every component (all or none) and keep the weights.
    """

    #: the weight search's settings may change after fit (updates never search again); a
    #: change of the components, the weights or the normalisation is refused by updates
    #: (Recommender._check_fit_params): they would build on state fitted with the old ones
    _params_free_after_fit = ("metric", "k", "step", "validation_size", "refit",
                              "random_state")

    def __init__(self, models, weights=None, normalization="minmax", metric="recall", k=20,
                 step=0.1, validation_size=0.2, refit=False, random_state=0):
        self.models = models
        self.weights = weights
        self.normalization = normalization
        self.metric = metric
        self.k = k
        self.step = step
        self.validation_size = validation_size
        self.refit = refit
        self.random_state = random_state

    # ------------------------------------------------------------ checks
    def _check_params(self):
        check_random_state(self.random_state)
        check_bool(self.refit, "refit")
        models = self.models
        if isinstance(models, Recommender) or not isinstance(models, (list, tuple)) \
                or len(models) == 0:
            raise DataError("models must be a non-empty list of recommenders, got "
                             f"{type(models).__name__}")
        for m, model in enumerate(models):
            if not isinstance(model, Recommender):
                raise TypeError(f"models[{m}] must be a Recommender, got {type(model).__name__}")
        if self.normalization not in NORMALIZATIONS:
            raise DataError(f"normalization must be one of {NORMALIZATIONS}, "
                            f"got {self.normalization!r}")
        if self.metric not in TUNING_METRICS:
            raise DataError(f"metric must be one of {TUNING_METRICS}, got {self.metric!r}")
        check_int(self.k, "k")
        s = self.step
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not 0 < s <= 1:
            raise DataError(f"step must be a number in (0, 1], got {s!r}")
        v = self.validation_size
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < v < 1:
            raise DataError(f"validation_size must be a number in (0, 1), got {v!r}")
        w = self.weights
        if w is None or (isinstance(w, str) and w == "tune"):
            return None
        if isinstance(w, (str, dict, set, bool)):
            raise DataError(f"weights must be None, 'tune' or one number per model, got {w!r}")
        try:
            w = np.asarray(w)
        except ValueError as err:                       # ragged nested sequences
            raise DataError(f"weights must hold one number per model: {err}") from None
        if w.shape != (len(models),):
            raise DataError(f"weights must hold one number per model ({len(models)}), "
                            f"got shape {w.shape}")
        # a string ("2") would be parsed, a bool taken as 0 or 1, a complex lose its
        # imaginary part: none is a weight
        if w.dtype.kind not in "iuf":
            raise DataError(f"weights must be integers or floats, got dtype {w.dtype}")
        w = w.astype(np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.max() <= 0:
            raise DataError(f"weights must be finite, non-negative and not all 0, got {w}")
        with np.errstate(over="ignore"):
            total = w.sum()
        if not np.isfinite(total):                      # finite weights whose sum overflows
            w = w / w.max()                             # (1e308 twice): rescale first
            total = w.sum()
        return w / total

    # ------------------------------------------------------------ fitting
    def fit(self, train, validation=None):
        r"""Fit the components, then set the weights (given, uniform or tuned).

        Parameters
        ----------
        train : Interactions
        validation : Interactions, optional
            Held-out interactions in the same id space: the weights are
            tuned on them (``weights`` must be None or ``"tune"``). Their
            raw ids are checked against ``train``'s as
            :func:`~minigraphrec.metrics.evaluate` checks a test set's: a
            validation file numbered apart from ``train`` (the same sizes,
            other people behind the ids) is a DataError, before any model
            is fitted.

        Returns
        -------
        self
        """
        fixed = self._check_params()
        check_interactions(train)
        if validation is not None:
            if fixed is not None:
                raise ValueError("fit got a validation set but weights are fixed; pass "
                                 "weights=None or 'tune' to tune them on it")
            check_interactions(validation, "validation")
            if (validation.n_users, validation.n_items) != (train.n_users, train.n_items):
                raise ValueError(f"validation has {validation.n_users} users and "
                                 f"{validation.n_items} items, train {train.n_users} and "
                                 f"{train.n_items}: they must share one id space")
            _check_validation_ids(train, validation)
        tune = validation is not None or (isinstance(self.weights, str))
        if tune:                            # before any model is fitted (probes included)
            _check_grid_size(len(self.models), float(self.step))
        self._fit_components(train, validation, tune, fixed)   # all or nothing: Recommender
        return self

    def _fit_components(self, train, validation, tune, fixed):
        """``fit``'s work: the components, then the weights."""
        R = self._fit_interactions(train)                                 # (n_users, n_items)
        for name in ("grid_", "grid_scores_"):                # a tuning's, not this fit's
            self.__dict__.pop(name, None)
        if tune and validation is None:
            from ..split import random_split
            try:
                sub, held = random_split(train, test_size=self.validation_size,
                                         random_state=self.random_state)
            except DataError as err:           # "the test part would be empty": ours, not theirs
                raise DataError(f"Hybrid: weights='tune' holds out validation_size="
                                f"{self.validation_size} of each user's training items to tune "
                                f"the weights, and that holdout would be empty ({err}); pass "
                                f"fixed weights, or validation data to fit") from None
            probes = [_clone(m).fit(sub) for m in self.models]
            self._tune(probes, sub.to_csr(), held)
        # a copy's Generator seed is a copy too: fitting it leaves the caller's as it was
        self.models_ = [m if not self.refit and self._fitted_on(m, R) else _clone(m).fit(train)
                        for m in self.models]
        if tune and validation is not None:
            self._tune(self.models_, R, validation)
        elif not tune:
            n = len(self.models_)
            self.weights_ = fixed if fixed is not None else np.full(n, 1.0 / n)

    def _fitted_on(self, model, R):
        """Whether ``model`` is fitted on the training data ``R`` and raw ids this fit has."""
        if not _is_fitted(model) or model.R_.shape != R.shape or (model.R_ != R).nnz:
            return False
        return all(np.array_equal(np.asarray(getattr(model, name)), getattr(self, name))
                   for name in ("user_ids_", "item_ids_"))

    def _tune(self, models, E, validation):
        r"""Grid search of the weights on ``validation``, training items ``E`` excluded."""
        from ..metrics import ndcg_at_k, recall_at_k

        metric_at_k = recall_at_k if self.metric == "recall" else ndcg_at_k
        T = sp.csr_matrix(validation.to_csr())                            # (n_users, n_items)
        T = T - T.multiply(E)                                             # a seen item can't be hit
        T.eliminate_zeros()
        users = np.flatnonzero(np.diff(T.indptr) > 0)
        if users.size == 0:
            raise ValueError("no user has a validation item that is not a training item: "
                             "nothing to tune the weights on")
        _check_grid_size(len(models), float(self.step))                   # checked in fit too
        grid = simplex_grid(len(models), float(self.step))                # (n_grid, M)
        total = np.zeros(grid.shape[0])
        Z = None
        for start in range(0, users.size, self.score_batch_size):
            batch = users[start:start + self.score_batch_size]
            E_b, T_b = E[batch], T[batch]
            if Z is None or Z.shape[1] != batch.size:           # kept from block to block
                Z = np.empty((len(models), batch.size, E.shape[1]))  # (M, b, n_items)
            for m, model in enumerate(models):
                Z[m] = 0.0
                add_normalized(Z[m], model.score(batch), 1.0, self.normalization, exclude=E_b)
            for g, L in enumerate(_grid_top_k_core(Z, grid, self.k, E_b, "numba")):  # (b, k)
                total[g] += metric_at_k(L, T_b, self.k).sum()
        self.grid_ = grid
        self.grid_scores_ = total / users.size
        best = self.grid_scores_.max()
        ties = np.flatnonzero(self.grid_scores_ >= best - 1e-12)
        spread = np.linalg.norm(grid[ties] - 1.0 / len(models), axis=1)
        self.weights_ = grid[ties[np.argmin(spread)]].copy()

    # ------------------------------------------------------------ scoring
    def _score_batch(self, users):
        r"""``Σ_m w_m N(s^{(m)})``: (len(users), n_items) float64."""
        E_b = self.R_[users]
        S = np.zeros((users.shape[0], self.n_items_))                     # (b, n_items)
        for w, m in zip(self.weights_, self.models_):
            if w > 0:
                add_normalized(S, m.score(users), w, self.normalization, exclude=E_b)
        return S

    # ------------------------------------------------------ open problems
    def _explain(self, user, item, k):
        raise NotImplementedError(
            "Hybrid does not explain its scores: each component's scores are normalised per "
            "user (min-max / z-score shift by a per-user constant, rank is not linear), so "
            "the blend has no exact split over items or users; explain a component instead, "
            "e.g. hybrid.models_[0].explain(user, item)")

    def _score_history(self, items):
        r"""``Σ_m w_m N(score_history_m(items))``, normalised over the items not in the history.

        Defined when every component has ``score_history``; equal to
        ``score(u)`` for a training user's own history whenever each
        component's is (exactly for the item-based and closed-form models).
        """
        E = sp.csr_matrix((np.ones(items.size), items, [0, items.size]),
                          shape=(1, self.n_items_))                       # (1, n_items) seen
        S = np.zeros((1, self.n_items_))                                  # (1, n_items)
        for w, m in zip(self.weights_, self.models_):
            if w > 0:
                s_m = np.asarray(m.score_history(items), dtype=np.float64)[None, :]
                add_normalized(S, s_m, w, self.normalization, exclude=E)
        return S[0]

    def _update_components(self, update):
        r"""Apply ``update(copy)`` to a copy of every component: the updated copies (the
        caller commits them all, or none). The components themselves are left as they are:
        one may be the caller's own object. A component's error is raised again naming it,
        ``Hybrid: component j (Class): ...``, of the same type, the original as its cause
        (:func:`_naming_component`)."""
        updated = []
        for j, m in enumerate(self.models_):
            c = copy.deepcopy(m)
            try:
                update(c)
            except Exception as exc:
                named = _naming_component(exc, j, m)
                if named is exc:
                    raise
                raise named from exc
            updated.append(c)
        return updated

    def partial_fit(self, new_interactions, epochs=None):
        r"""``partial_fit`` on every component (all or none); the weights are kept, not re-tuned.

        Equals ``fit`` on the union with ``weights=self.weights_`` fixed
        wherever each component's ``partial_fit`` equals its fit. A component
        without ``partial_fit`` makes the call fail and leaves everything
        unchanged, and so does a hyperparameter changed since ``fit`` (new
        ``weights``, other ``models``): refit to apply it.
        """
        merge = self._merge_new(new_interactions)
        updated = self._update_components(lambda m: m.partial_fit(new_interactions, epochs))
        for j, c in enumerate(updated):
            if (c.n_users_, c.n_items_) != merge.R.shape:                 # pragma: no cover
                raise ValueError(f"models[{j}] no longer matches the blend's id space")
        self.models_ = updated
        self.R_ = merge.R
        self.n_users_, self.n_items_ = merge.R.shape
        self.user_ids_, self.item_ids_ = merge.user_ids, merge.item_ids
        self._set_item_labels(merge.item_labels)
        return self

    def forget(self, users=None, interactions=None, *, method="retrain", epochs=None):
        r"""``forget`` in every component (all or none); the weights are kept.

        ``method`` and ``epochs`` reach the components whose ``forget`` takes
        them (the embedding models): ``"retrain"`` (default), a fit from
        scratch on what remains, or ``"fine_tune"``, the approximation asked
        for by name (see their ``forget``). The others (ItemKNN, EASE, GF-CF,
        ...) have a single ``forget``, equal to a fit without the data (EASE's
        to rounding), and are called without them; with ``method="retrain"``
        every component thus equals a fit without the data (a trained one when
        its ``random_state`` is an integer).

        The weights may have been tuned on data holding the forgotten
        interactions: they are a handful of numbers on a grid and are kept
        (refit with ``weights="tune"`` to re-tune them without it); the
        tuning record ``grid_scores_`` is dropped.
        """
        if method not in ("fine_tune", "retrain"):
            raise ValueError(f"method must be 'fine_tune' or 'retrain', got {method!r}")
        if method == "retrain" and epochs is not None:
            raise DataError(f"forget(epochs={epochs!r}) sets the epochs of method='fine_tune'; "
                            "method='retrain', the default, retrains each trained component "
                            "with its constructor's epochs: pass method='fine_tune' for the "
                            "approximation")
        if epochs is not None:
            check_int(epochs, "epochs", at_least=0)
        removal = self._removal(users, interactions)

        def forget_one(model):
            if "method" in inspect.signature(model.forget).parameters:
                return model.forget(users, interactions, method=method, epochs=epochs)
            return model.forget(users, interactions)

        updated = self._update_components(forget_one)
        self.models_ = updated
        for name in ("grid_", "grid_scores_"):
            if hasattr(self, name):
                delattr(self, name)
        self.R_ = removal.R
        self.n_users_ = removal.R.shape[0]
        self.user_ids_ = removal.user_ids
        return self
