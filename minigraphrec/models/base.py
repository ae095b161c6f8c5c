r"""The estimator contract every recommender follows.

scikit-learn conventions: ``__init__`` only stores hyperparameters, ``fit``
validates and learns, fitted state lives in attributes ending in ``_``.

Every recommender provides

* ``fit(train) -> self`` with ``train`` an :class:`~minigraphrec.data.Interactions`;
* ``score(users, out=None) -> ndarray (len(users), n_items)``: higher is better;
* ``recommend(users, k, exclude_seen=True) -> (items, scores)``, each
  ``(len(users), k)``, best first.

Subclasses implement ``fit`` (calling :meth:`Recommender._fit_interactions`
first) and ``_score_batch``; ``score`` and ``recommend`` come from here.

The article's open problems (§8) are methods too, on every model where they
are defined; each validates its input here and asks the subclass for the
model-specific part:

* ``explain(user, item, k=10) -> Explanation`` (subclass: ``_explain``);
* ``score_history(items)`` and ``recommend_history(items, k)`` for an ad-hoc
  history of item ids, without a user id (subclass: ``_score_history``);
* ``partial_fit(new_interactions, epochs=None) -> self``: new interactions,
  users and items join the fitted model (:meth:`Recommender._merge_new`
  gives the subclass the union, in an extended id space);
* ``forget(users=None, interactions=None) -> self``: people or interactions
  and their influence leave the model (:meth:`Recommender._removal`); empty
  ones are a no-op.

Both updates are transactional: a subclass computes the whole new state
first and assigns it only when nothing can fail any more, so that a failed
call leaves the model as it was. Both build on the fitted state, so a model
that lists ``_params_free_after_fit`` refuses them when another of its
hyperparameters changed since ``fit`` (:meth:`Recommender._check_fit_params`).
"""
from __future__ import annotations

import functools
import inspect
import itertools
import reprlib
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..data import Interactions, _key, check_interactions, match_raw_ids
from ..errors import DataError, check_bool, check_ids, check_int, int64_ids
from ..io import register_model_base
from ..io import save as _save
from ..rank import _score_blocks

__all__ = ["Recommender", "Merge", "Removal"]


class Merge(NamedTuple):
    r"""A fitted model's training data joined with new interactions (see ``_merge_new``).

    Old users and items keep their internal ids; new ones are appended, in
    order of first appearance among the new interactions.
    """
    R: sp.csr_matrix             #: (n_users', n_items') binary union of old and new pairs
    users: np.ndarray            #: (n_new_pairs,) internal user id of each new interaction
    items: np.ndarray            #: (n_new_pairs,) internal item id of each new interaction
    user_ids: np.ndarray         #: (n_users',) raw ids, the old ones first
    item_ids: np.ndarray         #: (n_items',) raw ids, the old ones first
    n_new_users: int
    n_new_items: int
    weights: np.ndarray | None   #: the new interactions' weights, if they have them
    timestamps: np.ndarray | None  #: their timestamps, if they have them
    #: (n_items',) item labels, the old ones first; a new item takes its label from
    #: ``new_interactions.item_labels`` ("" if those have none); None if neither has labels
    item_labels: np.ndarray | None = None


class Removal(NamedTuple):
    r"""What remains of a fitted model's training data after ``forget`` (see ``_removal``).

    Forgotten users' rows are gone and the remaining users renumbered in
    their old order (``keep_users[new_id] == old_id``); items keep their ids.
    """
    R: sp.csr_matrix             #: (len(keep_users), n_items) binary, what remains
    keep_users: np.ndarray       #: (n_users',) old internal id of each remaining user
    user_ids: np.ndarray         #: (n_users',) their raw ids
    removed_users: np.ndarray    #: old internal ids of the forgotten users
    removed_pairs: np.ndarray    #: (n, 2) old internal (user, item) pairs forgotten one by one


#: numbers each Recommender subclass as it is defined (``__init_subclass__``)
_DEFINITIONS = itertools.count()


class _Kept:
    """One derived value kept on a model (see :func:`kept`). Never saved, pickled or
    deep-copied: a pickle or a deep copy holds an empty one, which is made again on first use."""
    __slots__ = ("source", "key", "value")

    def __init__(self):
        self.source = self.key = self.value = None

    def __reduce__(self):
        return (_Kept, ())

    def __deepcopy__(self, memo):
        return _Kept()


def kept(model, name, source, make, key=None):
    """``make()``, kept on ``model`` as ``name`` while it is derived from ``source``.

    A fitted model often needs something derived from its fitted state that
    costs more to build than one query does (``R_`` in CSC for column reads,
    a transpose, an inverse permutation). It is made at the first call and
    kept with ``source``, the object it came from, and ``key``, whatever else
    it depends on; a later call with another ``source`` object (``fit``,
    ``partial_fit``, ``forget`` and ``load`` assign new arrays, never edit
    them in place) or another ``key`` makes it again. Dropping it early only
    frees memory: ``model.__dict__.pop(name, None)``.
    """
    box = model.__dict__.get(name)
    if not isinstance(box, _Kept):
        box = model.__dict__[name] = _Kept()
    if box.value is None or box.source is not source or box.key != key:
        box.value = None                        # the old value is not kept if make() fails
        box.value, box.source, box.key = make(), source, key
    return box.value


def _all_or_nothing(fit):
    """``fit`` that puts the model's attributes back as they were if it raises.

    A fit binds new objects to the model's attributes (a new ``R_``, new parameters); what
    it changes in place instead (a resumed run's parameters) it copies first, so restoring
    the attribute dictionary restores the model. Wrapped once per class (a subclass's fit
    calling ``super().fit`` restores twice, harmlessly).
    """
    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)                  # the attributes, not copies of them
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
    wrapper.all_or_nothing = True
    return wrapper


class _NothingToForget(Exception):
    """Raised by :meth:`Recommender._removal` when the users and pairs to forget are both
    empty; :func:`_empty_forget_is_a_no_op` turns it into ``return self``."""


def _empty_forget_is_a_no_op(forget):
    """``forget`` that returns the model untouched when there is nothing to forget.

    A subclass's ``forget`` validates its own options, then calls ``_removal`` before it
    changes anything; ``_removal`` checks the users and pairs and raises
    :class:`_NothingToForget` when both are empty (``users=[]``, an ``(0, 2)`` array, an
    empty Interactions). Caught here, once for every model: no attribute changes, no epoch
    runs. Wrapped once per class, as ``fit`` is.
    """
    @functools.wraps(forget)
    def wrapper(self, *args, **kwargs):
        try:
            return forget(self, *args, **kwargs)
        except _NothingToForget:
            return self
    wrapper.empty_is_no_op = True
    return wrapper


def _param_repr(value):
    """A hyperparameter's value for an error message, short: a matrix by its shape, one
    recorded by ``fit`` (JSON data) by the start of its SHA-256."""
    if isinstance(value, np.ndarray) or sp.issparse(value):
        return f"<{' x '.join(map(str, value.shape))} {type(value).__name__}>"
    if isinstance(value, dict) and set(value) == {"sha256"}:
        return f"<a matrix, sha256 {value['sha256'][:12]}...>"
    if isinstance(value, dict) and set(value) == {"repr"}:
        return reprlib.repr(value["repr"])
    return reprlib.repr(value)


def _check_k(k):
    """``k`` (the number of items to recommend) as an int >= 1; ValueError otherwise."""
    return check_int(k, "k")


def plain_ids(ids, name="ids"):
    r"""Raw ids as an int64 or str array (never object, so they save without pickle).

    The one rule for the raw ids a model keeps (``user_ids_``, ``item_ids_``) and is asked
    to look up (``users_from_raw``, ``partial_fit``, ``forget``), so that an id found in
    one place is found in all of them:

    * integers, and floats that are whole numbers, become int64: ``2.0`` and ``2`` are one
      id (a column of integer ids comes back as floats from pandas when it had a missing
      value, say);
    * strings stay strings, and so does a mix of numbers and strings (``[1, "a"]`` becomes
      ``["1", "a"]``, a whole float in it the integer it spells);
    * refused, with a :class:`~minigraphrec.errors.DataError` naming ``name``, the first
      such id and its position: a float that is not a whole number (``1.5``, NaN, inf: as
      text ``"1.5"`` it would not be found by ``1.5``; pass such ids as strings), a number
      beyond int64 (a uint64 above 2**63 - 1 would wrap to a negative id), and a bool
      (``True`` as the id 1 would go unnoticed).

    ``ids``: any 1-d array-like; an empty one gives an empty int64 array.
    """
    arr = np.asarray(ids)
    kind = arr.dtype.kind
    if kind == "U":
        return arr
    if kind == "b":
        if arr.size:
            raise DataError(f"{name}[0] = {bool(arr[0])} is a bool, not a raw id: pass integers "
                            f"or strings")
        return arr.astype(np.int64)
    if kind in "iu":
        return int64_ids(arr, name, "raw ids")
    if kind == "f":
        _check_whole(arr, name)
        return arr.astype(np.int64)
    if kind != "O":
        return arr.astype(str)
    values = [_key(v) for v in arr.tolist()]             # NumPy scalars as Python ones
    for k, v in enumerate(values):
        if isinstance(v, bool):
            raise DataError(f"{name}[{k}] = {v!r} is a bool, not a raw id: pass integers or "
                            f"strings")
        if isinstance(v, float):
            _check_whole(np.array([v]), name, at=k)
            values[k] = int(v)
    if all(isinstance(v, int) for v in values):
        for k, v in enumerate(values):
            if not -2**63 <= v < 2**63:
                raise DataError(f"{name}[{k}] = {v} is beyond the int64 raw ids")
        return np.array(values, dtype=np.int64).reshape(arr.shape)
    return np.array(values, dtype=object).reshape(arr.shape).astype(str)


def _check_whole(arr, name, at=0):
    """DataError naming the first entry of the float array ``arr`` that is not a whole number
    within int64 (its position ``at`` + its index): :func:`plain_ids`' rule for float ids."""
    whole = np.isfinite(arr) & (arr == np.round(arr)) & (arr >= -2.0**63) & (arr < 2.0**63)
    if not whole.all():
        k = int(np.flatnonzero(~whole)[0])
        v = float(arr[k])
        why = ("is beyond the int64 raw ids" if np.isfinite(v) and v == np.round(v) else
               "is not a whole number: a float raw id is taken when whole (2.0 is the id 2); "
               "pass other ids as strings")
        raise DataError(f"{name}[{at + k}] = {v!r} {why}")


def _extend_ids_loop(old_raw, new_raw_per_pair, kind, name):
    """``_merge_new``'s id extension, the reference: a dictionary of every known raw id.

    Returns ``(ids, raw_all, n_added)``: each pair's index (known ids keep theirs, unknown
    ones are numbered on from ``len(old_raw)`` in order of first appearance), the extended
    raw ids and how many were added. Raw ids compare by Python equality (5 and
    ``np.int64(5)`` alike); new ids of another kind than the model's are a DataError.
    """
    index = {_key(r): k for k, r in enumerate(old_raw)}
    added = []
    ids = np.empty(len(new_raw_per_pair), dtype=np.int64)
    for n, raw in enumerate(new_raw_per_pair):
        key = _key(raw)
        k = index.get(key)
        if k is None:
            k = index[key] = len(old_raw) + len(added)
            added.append(raw)
        ids[n] = k
    raw_all = old_raw
    if added:
        new_raw = plain_ids(np.asarray(added, dtype=object))
        if (old_raw.dtype.kind == "U") != (new_raw.dtype.kind == "U"):
            raise DataError(f"{name}: {kind} ids such as {_key(added[0])!r} are not of "
                            f"the kind the model's {kind} ids are ({old_raw.dtype})")
        raw_all = np.concatenate([old_raw, new_raw.astype(
            str if old_raw.dtype.kind == "U" else np.int64)])
    return ids, raw_all, len(added)


def _extend_ids_sorted(old_raw, new_raw):
    """``_merge_new``'s id extension by sorting, where the raw ids allow it; else None.

    ``old_raw``: the model's unique raw ids (int64 or str); ``new_raw``: one raw id per new
    pair. Returns ``(ids, raw_all, n_added)`` as the dictionary loop in ``_merge_new``
    does (known ids keep their index; unknown ones are numbered on from ``len(old_raw)`` in
    order of first appearance), in ``O(n log n)`` NumPy instead of a Python dictionary of
    every known id (~70 ms per call on Gowalla). Only for int64 ids with signed-integer new
    ids and str ids with str new ids: other pairings (floats, objects, mixed kinds) keep
    the loop's Python equality and its error messages.
    """
    if not ((old_raw.dtype.kind == "i" and new_raw.dtype.kind == "i")
            or (old_raw.dtype.kind == "U" and new_raw.dtype.kind == "U")):
        return None
    order = np.argsort(old_raw, kind="stable")
    sorted_old = old_raw[order]
    pos = np.minimum(np.searchsorted(sorted_old, new_raw), max(len(old_raw) - 1, 0))
    found = (sorted_old[pos] == new_raw) if len(old_raw) else np.zeros(len(new_raw), bool)
    ids = np.where(found, order[pos], -1).astype(np.int64)
    unseen = ~found
    if not unseen.any():
        return ids, old_raw, 0
    uniq, first, inverse = np.unique(new_raw[unseen], return_index=True, return_inverse=True)
    by_appearance = np.argsort(first, kind="stable")        # unique ids in order of first use
    rank = np.empty_like(by_appearance)
    rank[by_appearance] = np.arange(by_appearance.size)
    ids[unseen] = len(old_raw) + rank[inverse.reshape(-1)]
    added = uniq[by_appearance].astype(str if old_raw.dtype.kind == "U" else np.int64)
    return ids, np.concatenate([old_raw, added]), int(added.size)


def _match_raw_ids(old_raw, raw_per_pair, kind, name):
    """The internal id of each pair's raw id, by :func:`_extend_ids_sorted` where the kinds
    allow it, else the dictionary loop :func:`_extend_ids_loop` (which refuses raw ids of
    another kind than the model's): ``(ids, raw_all, n_added)``, unknown ids numbered on
    from ``len(old_raw)``. ``partial_fit``'s rule (``forget`` only looks ids up, as
    ``evaluate`` does: :func:`~minigraphrec.data.match_raw_ids`)."""
    fast = _extend_ids_sorted(old_raw, np.asarray(raw_per_pair))
    return fast if fast is not None else _extend_ids_loop(old_raw, raw_per_pair, kind, name)


def _internal_ids(name, known, raw_ids, kind):
    """The indices in ``known`` (raw ids, index -> raw) of ``raw_ids``, read by the rule of
    :func:`plain_ids` (``7.0`` finds 7); DataError naming the raw ids not among them."""
    if isinstance(raw_ids, (set, frozenset, dict)):
        raise TypeError(f"{name}: raw {kind} ids must be one id or a list of ids (in the order "
                        f"of the internal ids wanted), got a {type(raw_ids).__name__}")
    raw = np.asarray(raw_ids)
    if raw.ndim == 0:
        raw = raw.reshape(1)
    if raw.ndim != 1:
        raise DataError(f"{name}: raw {kind} ids must be one id or a 1-d list of ids, got an "
                        f"array of shape {raw.shape}")
    raw = plain_ids(raw, f"{name}: raw {kind} ids")
    found = match_raw_ids(raw, known) if raw.size else np.empty(0, dtype=np.int64)
    unknown = np.flatnonzero(found < 0)
    if unknown.size:
        first = raw[unknown[0]]
        first = first.item() if isinstance(first, np.generic) else first
        raise DataError(f"{name}: {unknown.size} of the {raw.size} raw {kind} id(s) given "
                        f"are not known to the model (first: {first!r}, at position "
                        f"{int(unknown[0])}); it knows {len(known)} {kind}s")
    return found


@register_model_base
class Recommender:
    """Base class: hyperparameter handling, user validation, batched top-k.

    ``fit`` is all or nothing, in every subclass: if it raises (a bad value, data it
    refuses, a run that diverges, an interrupt), the model is left exactly as it was before
    the call, fitted or not (:func:`_all_or_nothing`). To keep the progress of a long run,
    save checkpoints from its ``callback`` and resume from the last one.

    ``forget`` with nothing to forget (empty users and pairs) returns the model untouched,
    in every subclass (:func:`_empty_forget_is_a_no_op`).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # the order classes are defined in: mgr.load takes the latest of several live
        # classes of one module and name (a notebook cell run twice), io._find_class
        cls._definition_serial = next(_DEFINITIONS)
        fit = cls.__dict__.get("fit")
        if fit is not None and not getattr(fit, "all_or_nothing", False):
            cls.fit = _all_or_nothing(fit)
        forget = cls.__dict__.get("forget")
        if forget is not None and not getattr(forget, "empty_is_no_op", False):
            cls.forget = _empty_forget_is_a_no_op(forget)

    #: The hyperparameters that ``partial_fit`` and ``forget`` accept changed since ``fit``:
    #: those the fitted state does not depend on (a backend, a block size, a size guard).
    #: Any other is recorded at ``fit`` in ``fit_hyperparameters_`` (saved with the model;
    #: :meth:`_record_fit_params`), and a change is refused (:meth:`_check_fit_params`):
    #: the update builds on state computed with the old value and would mix the two. None:
    #: nothing is recorded or refused (the model's updates use the current values
    #: throughout, or keep no such state; embedding models keep their own record for
    #: ``resume``, :attr:`~EmbeddingRecommender._resume_may_change`).
    _params_free_after_fit = None

    #: of the fitted attributes ``_state_attrs`` lists, those a saved file may lack (set only
    #: sometimes, or added after earlier files were written): :func:`minigraphrec.io.load`
    #: refuses a file without any of the others, naming it
    _optional_state = ()

    #: users scored at once by ``recommend``; bounds memory to
    #: ``score_batch_size * n_items`` floats.
    score_batch_size = 1024

    #: scores per block of :func:`~minigraphrec.metrics.evaluate` when its ``batch_size``
    #: is not given; None: evaluate's default (2^25, what a BLAS product wants). Models
    #: whose scores are written rather than multiplied out by BLAS set a smaller block.
    eval_block_scores = None

    # ------------------------------------------------------------ params
    @classmethod
    def _param_names(cls):
        """The constructor's parameter names, read once per class (``inspect.signature`` is
        slow, and the fitted-hyperparameter checks ask on every scoring call)."""
        names = cls.__dict__.get("_param_names_cache")
        if names is None or names[0] is not cls.__init__:
            if cls.__init__ is object.__init__:            # no constructor of its own
                names = (cls.__init__, ())
            else:
                params = inspect.signature(cls.__init__).parameters.values()
                varargs = [("*" if p.kind == p.VAR_POSITIONAL else "**") + p.name
                           for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
                if varargs:
                    # what **kwargs carries, get_params cannot see: repr, save, load,
                    # resume and the fitted-hyperparameter checks would all use the
                    # defaults instead (scikit-learn refuses this too)
                    raise TypeError(
                        f"{cls.__name__}.__init__ takes {' and '.join(varargs)}: a model's "
                        f"hyperparameters must be named in its __init__'s signature (get_params, "
                        f"repr, save, load and resume read them from there and would silently "
                        f"use the defaults of what {' and '.join(varargs)} carries); list "
                        f"each one, e.g. def __init__(self, dim=16, lr=1e-2, ...), and pass "
                        f"them on to super().__init__ by name")
                names = (cls.__init__, tuple(p.name for p in params if p.name != "self"))
            cls._param_names_cache = names
        return names[1]

    def get_params(self, deep=False):
        """The constructor's hyperparameters, as a dict.

        Each is read from the attribute of its name (scikit-learn's convention): a
        constructor argument ``K`` must be stored as ``self.K``, unchanged. TypeError for an
        ``__init__`` that takes ``*args`` or ``**kwargs`` (:meth:`_param_names`).
        """
        params = {}
        for name in self._param_names():
            try:
                params[name] = getattr(self, name)
            except AttributeError:
                raise AttributeError(
                    f"{type(self).__name__} has no attribute {name!r}: the constructor "
                    f"argument {name!r} must be stored as self.{name} = {name}, unchanged "
                    f"(get_params, repr, save and the fitted-hyperparameter checks read each "
                    f"hyperparameter from the attribute of its name; keep a derived value "
                    f"under another name, e.g. in fit)") from None
        return params

    def set_params(self, **params):
        """Set hyperparameters by name; unknown names are an error."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no hyperparameter {name!r}; "
                                 f"valid: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        try:
            params = self.get_params()
        except (TypeError, AttributeError) as err:
            # a repr must not raise (notebook echo, debuggers, logs, test reports); the
            # error is the one get_params and fit give, first sentence only
            why = str(err).split(":")[0]
            return f"{type(self).__name__}(<hyperparameters unreadable: {why}>)"
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({args})"

    def save(self, path):
        """Save the fitted model to ``path`` (.npz, no pickle); see :func:`minigraphrec.io.save`."""
        _save(self, path)

    # ------------------------------------------------------------- fitting
    def fit(self, train):
        """Learn from ``train`` (an :class:`~minigraphrec.data.Interactions`); return ``self``.

        Every model implements it: validate the hyperparameters, call
        ``_fit_interactions`` first, then set the fitted attributes (names ending in
        ``_``). A subclass's ``fit`` is made all or nothing (see the class docstring).
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement fit(train): check the hyperparameters, "
            "call self._fit_interactions(train), set the fitted attributes (ending in '_') "
            "and return self (see 'Writing your own model' in the documentation)")

    def _fit_interactions(self, train):
        """Validate ``train`` and keep what scoring needs: sizes, ``R_`` and the raw ids."""
        check_interactions(train)
        type(self)._param_names()              # TypeError for an __init__ with **kwargs
        user_ids = plain_ids(train.user_ids, "train.user_ids")   # checked before any is set
        item_ids = plain_ids(train.item_ids, "train.item_ids")
        self.n_users_ = train.n_users
        self.n_items_ = train.n_items
        self.R_ = train.to_csr()               # (n_users, n_items) binary, the seen items
        self.user_ids_ = user_ids              # (n_users,) raw ids, for the CLI and files
        self.item_ids_ = item_ids              # (n_items,)
        if train.item_labels is not None:             # titles, for people (the CLI)
            self.item_labels_ = train.item_labels
        elif hasattr(self, "item_labels_"):
            del self.item_labels_
        self._record_fit_params()
        return self.R_

    def _restore(self):
        """Check and rebuild what a saved file does not hold, after
        :func:`~minigraphrec.io.load` set the saved attributes: the saved hyperparameters
        pass the model's own check (:meth:`_check_own_params`), the sizes agree
        (:meth:`_check_sizes`), and a file saved before ``fit_hyperparameters_`` existed gets
        that record from the saved hyperparameters. A subclass's ``_restore`` calls this
        one first."""
        self._check_own_params()
        self._check_sizes()
        if getattr(self, "fit_hyperparameters_", None) is None:
            self._record_fit_params()

    def _check_own_params(self):
        """Run the model's own hyperparameter check, which ``fit`` runs first:
        ``_check_hyperparameters`` (embedding models) or ``_check_params`` (the others),
        whichever it has."""
        check = getattr(self, "_check_hyperparameters", None) or getattr(self, "_check_params",
                                                                         None)
        if check is not None:
            check()

    def _check_sizes(self):
        """DataError unless ``R_`` is ``(n_users_, n_items_)`` with one raw id per row and per
        column: a file damaged (or edited) with its checksum recomputed would otherwise
        load and score on mismatched arrays."""
        R = getattr(self, "R_", None)
        if R is None:
            return
        sizes = (self.n_users_, self.n_items_)
        problems = [f"R_ has shape {R.shape}, n_users_ and n_items_ say {sizes}"
                    ] if R.shape != sizes else []
        for name, size in (("user_ids_", sizes[0]), ("item_ids_", sizes[1])):
            ids = getattr(self, name, None)
            if ids is not None and len(ids) != size:
                problems.append(f"{name} holds {len(ids)} ids for {size} rows")
        if problems:
            raise DataError(f"the fitted {type(self).__name__} does not agree with itself: "
                            + "; ".join(problems))

    def _defining_hyperparameters(self, free, params=None):
        """The hyperparameters outside ``free``, as JSON data (what ``fit`` used, as a file
        stores it); a matrix (a subclass's, say) as its SHA-256 (``io._array_digest``), any
        other object as its ``repr`` (such a model fits, but ``save`` refuses it)."""
        from ..io import _array_digest, _json_value

        def record(name, value):
            if isinstance(value, Recommender):            # a component: by its own record
                return {"model": type(value).__name__,
                        "params": value._defining_hyperparameters(())}
            if isinstance(value, (list, tuple)) and any(isinstance(v, Recommender) for v in value):
                return [record(name, v) for v in value]
            if isinstance(value, np.ndarray) or sp.issparse(value):
                return {"sha256": _array_digest(value)}
            try:
                return _json_value(value, f"hyperparameter {name!r}")
            except DataError:
                return {"repr": repr(value)}
        params = self.get_params() if params is None else params
        return {name: record(name, value) for name, value in params.items() if name not in free}

    def _record_fit_params(self):
        """Record in ``fit_hyperparameters_`` the hyperparameters the fitted state depends
        on: all but ``_params_free_after_fit`` (nothing when it is None)."""
        if self._params_free_after_fit is not None:
            self.fit_hyperparameters_ = self._defining_hyperparameters(
                self._params_free_after_fit)

    def _changed_since_fit(self, free):
        """``["name=old -> new", ...]``: the hyperparameters outside ``free`` whose value
        differs from the record ``fit_hyperparameters_`` (empty without a record)."""
        fitted = getattr(self, "fit_hyperparameters_", None)
        if not fitted:
            return []
        params = self.get_params()
        current = self._defining_hyperparameters(free, params)
        return [f"{name}={_param_repr(fitted.get(name))} -> {_param_repr(params.get(name))}"
                for name in sorted(set(fitted) | set(current))
                if fitted.get(name) != current.get(name)]

    def _check_fit_params(self, method):
        """Refuse ``method`` (``"partial_fit"``, ``"forget"``, or a method that computes from
        the fitted parameters, :meth:`_check_call_params`) if a recorded hyperparameter
        changed since ``fit``: :class:`DataError` (a ValueError, as a resumed ``fit``
        raises for the same cause) naming each, with its old and new value."""
        if self._params_free_after_fit is None:
            return
        changed = self._changed_since_fit(self._params_free_after_fit)
        if changed:
            free = ", ".join(self._params_free_after_fit) or "none"
            raise DataError(
                f"{type(self).__name__}.{method}: hyperparameters changed since fit "
                f"({'; '.join(changed)}), and the fitted state was computed with the old "
                f"values: set them back, or fit again with the new ones (may change after "
                f"fit: {free})")

    def _check_call_params(self, method):
        """Hook for ``explain``, ``score_history`` and ``recommend_history``: a model whose
        ``method`` recomputes from its fitted parameters with the hyperparameters of the call
        (the embedding models: the layers, the width) refuses ones changed since ``fit``
        (:meth:`_check_fit_params`). Here nothing: these methods read the fitted state only."""

    def _check_fitted(self):
        if not hasattr(self, "R_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(train) first")

    def _check_users(self, users):
        """Users as an int64 array of internal ids, each in 0..n_users-1."""
        self._check_fitted()
        if np.ndim(users) == 0 and not isinstance(users, (str, bytes, dict, set)) \
                and users is not None:
            users = [users]                                   # one user id
        arr = check_ids(users, "users")                       # (n,) int64, >= 0
        bad = arr >= self.n_users_
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            where = f"users[{at}] = " if arr.shape[0] > 1 else ""    # a list: which entry
            raise DataError(f"{where}user id {int(arr[at])} is unknown: the model was fitted "
                            f"on users 0..{self.n_users_ - 1}")
        return arr

    def users_from_raw(self, raw_ids):
        r"""The internal ids of raw user ids, as ``score``, ``recommend`` and ``forget`` take them.

        Parameters
        ----------
        raw_ids : raw id or array-like of raw ids
            As ``user_ids_`` holds them (what the data's files named the users). Raw ids
            match as :func:`~minigraphrec.data.match_raw_ids` says: exactly, or, between an
            integer and a string, when the string spells the integer (``"7"`` finds 7).

        Returns
        -------
        ndarray of int64, shape (len(raw_ids),)

        Raises
        ------
        DataError
            Naming the raw ids the model does not know (how many, and the first).

        ``forget`` renumbers the users it keeps, so an internal id means another person
        after it: look a person up anew before each call, e.g.
        ``model.forget(users=model.users_from_raw(["alice"]))`` (asked again, that raises:
        ``"alice"`` is no longer known).
        """
        self._check_fitted()
        return _internal_ids(type(self).__name__, self.user_ids_, raw_ids, "user")

    def items_from_raw(self, raw_ids):
        r"""The internal ids of raw item ids (``item_ids_``); see :meth:`users_from_raw`."""
        self._check_fitted()
        return _internal_ids(type(self).__name__, self.item_ids_, raw_ids, "item")

    def _check_item(self, item, name="item"):
        """One internal item id, as an int in 0..n_items-1."""
        self._check_fitted()
        arr = np.asarray(item)
        if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.integer):
            raise DataError(f"{name} must be one integer item id, got {item!r}")
        i = int(arr)
        if not 0 <= i < self.n_items_:
            raise DataError(f"{name} {i} is not in the catalogue: the model was fitted on "
                            f"items 0..{self.n_items_ - 1}")
        return i

    def _check_user(self, user, name="user"):
        """One internal user id, as an int in 0..n_users-1."""
        arr = np.asarray(user)
        if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.integer):
            raise DataError(f"{name} must be one integer user id, got {user!r}")
        return int(self._check_users(arr)[0])

    def _check_history(self, items, name="items"):
        """A history of internal item ids: sorted, duplicates collapsed, non-empty."""
        self._check_fitted()
        arr = np.asarray(items)
        if arr.ndim != 1:
            raise DataError(f"{name} must be a 1-d array of item ids, got shape {arr.shape}")
        if arr.size == 0:
            raise DataError(f"{name} is empty: a history needs at least one item")
        if not np.issubdtype(arr.dtype, np.integer):
            raise DataError(f"{name} must hold integer item ids, got dtype {arr.dtype}")
        bad = (arr < 0) | (arr >= self.n_items_)     # before the cast: a uint64 could wrap
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DataError(f"{name}[{k}] = {arr[k]} is not in the catalogue: the model "
                            f"was fitted on items 0..{self.n_items_ - 1}")
        return np.unique(arr.astype(np.int64, copy=False))

    # ------------------------------------------------------------- scoring
    #: True when ``_score_batch(users, out=)`` writes the scores into the caller's array.
    #: ``evaluate`` and ``recommend`` then score every block into one array instead of a
    #: fresh one per block (a fresh block of 2^25 floats is page-faulted in each time).
    _scores_into = False

    def _score_batch(self, users, out=None):
        """Scores of ``users`` (validated int64) for every item, (len(users), n_items).

        Subclasses with ``_scores_into = True`` write them into ``out`` when it is given
        (checked by :meth:`score`) and return it; the others take no ``out``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement _score_batch(users): the scores of the "
            "validated int64 user ids for every item, a new (len(users), n_items) float64 "
            "array (see 'Writing your own model' in the documentation)")

    def _score_dtype(self):
        """The dtype of the arrays ``score`` returns."""
        return np.dtype(np.float64)

    def _scorer(self):
        """``_score_batch`` with what every block shares prepared once: a function
        ``(users, out=None) -> scores`` for scoring many blocks of validated users within one
        call (:meth:`recommend`, :func:`~minigraphrec.metrics.evaluate`). The same bits as
        ``_score_batch``. The embedding models check and convert their item table once here;
        the others have nothing to prepare."""
        return self._score_batch

    def _block_scorer(self):
        """What ``evaluate`` scores its blocks with: :meth:`_scorer`, unless :meth:`score` is
        overridden (by a subclass or on the instance), whose own scores then count."""
        if getattr(self.score, "__func__", None) is Recommender.score:   # not overridden
            return self._scorer()
        return self.score

    def score(self, users, out=None):
        r"""Scores of every item for each user, shape (len(users), n_items); higher is better.

        Parameters
        ----------
        users : array-like of int
            Internal user ids.
        out : ndarray, optional
            Where to write the scores: C-contiguous, writable, of shape
            ``(len(users), n_items)`` and of the dtype ``score`` returns
            (float64; GF-CF's ``dtype``; the embedding models'
            ``score_dtype``; float32 for a quantised model). The same values as without it, bit
            for bit. Scoring many users block by block into one array saves
            allocating (and page-faulting in) a fresh block each time.

        Returns
        -------
        ndarray (len(users), n_items)
            ``out`` when given.
        """
        users = self._check_users(users)
        if out is None:
            return self._score_batch(users)
        self._check_out(out, users.shape[0])
        if self._scores_into:
            return self._score_batch(users, out=out)
        out[...] = self._score_batch(users)
        return out

    def _check_out(self, out, n_rows, what="users"):
        """``out`` for ``score`` (and ``score_sessions``, ``what="sessions"``): an ndarray of
        the right shape and dtype, C-contiguous, writable. The convention of
        :func:`~minigraphrec.errors.check_out` (``TypeError`` if it is no ndarray, else
        :class:`DataError`), with messages that say what the model needs."""
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        shape = (n_rows, int(self.n_items_))
        if out.shape != shape:
            raise DataError(f"out has shape {out.shape}; the scores of {n_rows} {what} need "
                            f"(len({what}), n_items) = {shape}")
        dtype = self._score_dtype()
        if out.dtype != dtype:
            raise DataError(f"out has dtype {out.dtype}; this {type(self).__name__} scores "
                            f"in {dtype}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise DataError("out must be C-contiguous and writable")

    def recommend(self, users, k=10, exclude_seen=True):
        r"""The ``k`` best items per user, best first.

        Returns
        -------
        items : ndarray of int64, shape (len(users), k)
        scores : ndarray of float, shape (len(users), k)
            When a user has fewer than ``k`` candidate items (all others
            seen), the tail is padded with item ``-1`` and score ``-inf``.
        """
        from ..rank import top_k

        users = self._check_users(users)
        k = _check_k(k)
        exclude_seen = check_bool(exclude_seen, "exclude_seen")
        items = np.empty((users.shape[0], k), dtype=np.int64)
        scores = np.empty((users.shape[0], k), dtype=np.float64)
        blocks = _score_blocks(self._scorer(), users, self.score_batch_size, self._scores_into)
        for start, batch, S in blocks:                 # S: (b, n_items)
            seen = self.R_[batch] if exclude_seen else None
            items[start:start + len(batch)], scores[start:start + len(batch)] = top_k(S, k, exclude=seen)
            del S                                      # not alive while the next is scored
        return items, scores

    # ------------------------------------------------------ explanations
    def explain(self, user, item, k=10, **options):
        r"""Why the model scores ``item`` for ``user``: the contributions, largest first.

        Parameters
        ----------
        user, item : int
            Internal ids.
        k : int >= 1 or None
            How many contributions to keep; None keeps every one.
        **options
            What a model's ``_explain`` takes besides (LightGCN: ``paths=True``
            splits the score over walks instead of nodes).

        Returns
        -------
        Explanation
            ``.sources``, ``.kind``, ``.contributions``, ``.score``,
            ``.exact``; printing it shows a small table. Each model's
            docstring says what its sources are and whether the split is exact.

        Raises
        ------
        NotImplementedError
            For a model that has no explanations (no ``_explain`` of its own), before
            its arguments are looked at.
        """
        if type(self)._explain is Recommender._explain:      # said first: no user id fixes it
            raise NotImplementedError(f"{type(self).__name__} does not explain its scores")
        user = self._check_user(user)
        item = self._check_item(item)
        self._check_call_params("explain")
        if k is not None:
            k = check_int(k, "k")
        if options:
            accepted = inspect.signature(self._explain).parameters
            unknown = [name for name in options if name not in accepted]
            if unknown:
                raise TypeError(f"{type(self).__name__}.explain has no option {unknown[0]!r}")
        return self._explain(user, item, k, **options)

    def _explain(self, user, item, k):
        raise NotImplementedError(f"{type(self).__name__} does not explain its scores")

    # --------------------------------------------------- ad-hoc histories
    def score_history(self, items):
        r"""Scores of every item for an ad-hoc history of item ids, without a user id.

        Parameters
        ----------
        items : array-like of int
            Internal item ids; duplicates count once. Must not be empty.

        Returns
        -------
        ndarray (n_items,), in the dtype ``score`` returns
            For a training user's own history, the model's scores for that
            user wherever the model defines a user by their items (each
            model's docstring says whether that holds exactly).
        """
        items = self._check_history(items)
        self._check_call_params("score_history")
        return self._score_history(items)

    def _score_history(self, items):
        raise NotImplementedError(f"{type(self).__name__} cannot score an ad-hoc history")

    def _history_row(self, items, dtype=np.float64):
        r"""The 0/1 row ``r`` of a checked history (sorted, distinct ids): csr (1, n_items)."""
        return sp.csr_matrix((np.ones(items.size, dtype=dtype), items, [0, items.size]),
                             shape=(1, self.n_items_))

    def recommend_history(self, items, k=10, exclude_seen=True):
        r"""The ``k`` best items for an ad-hoc history, best first.

        Returns
        -------
        items : ndarray of int64, shape (k,)
        scores : ndarray of float64, shape (k,)
            Padded with item -1 and score -inf as in :meth:`recommend`. With
            ``exclude_seen`` the history's own items are left out.
        """
        from ..rank import top_k

        history = self._check_history(items)
        self._check_call_params("recommend_history")
        k = _check_k(k)
        exclude_seen = check_bool(exclude_seen, "exclude_seen")
        scores = np.asarray(self._score_history(history), dtype=np.float64)[None, :]
        seen = self._history_row(history) if exclude_seen else None
        top, top_scores = top_k(scores, k, exclude=seen)
        return top[0], top_scores[0]

    # ------------------------------------------------------------ updates
    def partial_fit(self, new_interactions, epochs=None):
        r"""Add new interactions (and new users and items) without a full refit.

        ``new_interactions`` is an :class:`~minigraphrec.data.Interactions`
        matched to the model by *raw* ids: known users and items keep their
        internal ids, unknown ones are appended. Each model's docstring says
        what it recomputes and whether the result equals a full refit. "Equals
        a fit on the union, bit for bit" means the union numbered as here: the
        old ids first, in their order, then the new ones in order of first
        appearance. Numbered otherwise (by sorted raw id, say), the same model
        comes out to rounding, as sums run in another order (Popularity and
        UserKNN identical).
        """
        raise NotImplementedError(f"{type(self).__name__} has no partial_fit")

    def forget(self, users=None, interactions=None):
        r"""Remove users, or single interactions, and their influence from the model.

        ``users`` are internal ids; ``interactions`` is an ``(n, 2)`` array of
        internal ``(user, item)`` pairs or an :class:`~minigraphrec.data.Interactions`
        in raw ids. Forgotten users leave the model and the others are
        renumbered (``user_ids_`` keeps the raw ids); items keep their ids. So
        an internal id names another person after a ``forget``: look people up
        by raw id before each call (:meth:`users_from_raw`). A user all of whose
        pairs are forgotten through ``interactions`` stays, as an empty row with
        its raw id; ``users`` removes it.
        Raw ids are looked up as ``evaluate`` and ``recommend`` look them up
        (:func:`~minigraphrec.data.match_raw_ids`: the string ``"7"`` finds
        the integer raw id 7), and each pair must be in the training data. Empty ``users`` and
        ``interactions`` (``[]``, a ``(0, 2)`` array, an empty Interactions)
        are a no-op: the model is returned untouched. Each model's docstring
        says whether the result is identical to a model fitted without the
        forgotten data: the remaining users numbered as here, in their old
        order, none kept as an empty row.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot forget")

    def _training_interactions(self, R=None, user_ids=None, item_ids=None):
        """The binary training pairs ``R`` (default ``R_``) as Interactions with raw ids."""
        R = self.R_ if R is None else R
        coo = sp.coo_matrix(R)
        order = np.lexsort((coo.col, coo.row))
        return Interactions(coo.row[order], coo.col[order], n_users=R.shape[0],
                            n_items=R.shape[1],
                            user_ids=self.user_ids_ if user_ids is None else user_ids,
                            item_ids=self.item_ids_ if item_ids is None else item_ids)

    def _merge_new(self, new_interactions, name="new_interactions"):
        r"""Join ``new_interactions`` (raw ids) with ``R_``; nothing on ``self`` changes.

        Returns a :class:`Merge`. Raises DataError if the new data is empty, or if a
        recorded hyperparameter changed since ``fit`` (:meth:`_check_fit_params`).
        """
        self._check_fitted()
        self._check_fit_params("partial_fit")
        if not isinstance(new_interactions, Interactions):
            raise TypeError(f"{name} must be an Interactions, got "
                            f"{type(new_interactions).__name__}")
        if len(new_interactions) == 0:
            raise DataError(f"{name} holds no interactions")
        new = new_interactions
        # the new raw ids by fit's rule (plain_ids: 7.0 is the id 7), then one per pair
        new_users = plain_ids(new.user_ids, f"{name}.user_ids")[new.users]
        new_items = plain_ids(new.item_ids, f"{name}.item_ids")[new.items]
        users, user_ids, n_new_users = _match_raw_ids(self.user_ids_, new_users, "user", name)
        items, item_ids, n_new_items = _match_raw_ids(self.item_ids_, new_items, "item", name)
        shape = (len(user_ids), len(item_ids))
        old = sp.csr_matrix(self.R_, copy=True)
        old.resize(shape)
        added = sp.csr_matrix((np.ones(users.size), (users, items)), shape=shape)
        R = (old + added).tocsr()
        R.data[:] = 1.0
        R.sort_indices()
        return Merge(R, users, items, user_ids, item_ids, n_new_users, n_new_items,
                     new.weights, new.timestamps, self._merged_labels(new, items))

    def _merged_labels(self, new, items):
        """Item labels for the merged catalogue (see :class:`Merge`), or None."""
        old = getattr(self, "item_labels_", None)
        if old is None and new.item_labels is None:
            return None
        n0 = self.n_items_
        n_added = int(items.max()) + 1 - n0 if items.size and items.max() >= n0 else 0
        if old is None and not n_added:      # labels for known items only: nothing to show
            return None
        added = np.full(n_added, "", dtype=object)
        if n_added and new.item_labels is not None:
            is_new = items >= n0                   # each new item's first pair gives its label
            merged_id, first = np.unique(items[is_new], return_index=True)
            added[merged_id - n0] = new.item_labels[new.items[is_new][first]]
        old = np.full(n0, "", dtype=object) if old is None else old.astype(object)
        return np.concatenate([old, added]).astype(str)

    def _set_item_labels(self, labels):
        """Keep ``labels`` as ``item_labels_`` (None: the model has no labels)."""
        if labels is not None:
            self.item_labels_ = labels
        elif hasattr(self, "item_labels_"):
            del self.item_labels_

    def _removal(self, users=None, interactions=None, refit=False):
        r"""What remains after forgetting ``users`` and ``interactions``; ``self`` unchanged.

        Returns a :class:`Removal`. ``users=None`` with ``interactions=None`` is a
        ValueError; a recorded hyperparameter changed since ``fit`` a DataError
        (:meth:`_check_fit_params`), unless ``refit`` (the caller fits anew on what
        remains, with the hyperparameters as they are now). Raw ids of an Interactions are looked up by
        :func:`~minigraphrec.data.match_raw_ids`, and an id the model does not know is a
        DataError; so is a pair not in the training data (the first one named, in raw ids
        too when it was given in raw ids). When the users and the pairs are both empty,
        raises :class:`_NothingToForget`, which the wrapper of every ``forget`` turns into
        ``return self`` (:func:`_empty_forget_is_a_no_op`): call ``_removal`` from ``forget``
        only, and let that exception through.
        """
        self._check_fitted()
        if not refit:
            self._check_fit_params("forget")
        if users is None and interactions is None:
            raise ValueError("forget needs users=... or interactions=...")
        removed_users = (np.zeros(0, dtype=np.int64) if users is None
                         else np.unique(self._check_users(users)))
        pairs, raw = self._pairs_to_forget(interactions)
        if removed_users.size == 0 and pairs.shape[0] == 0:
            raise _NothingToForget
        R = sp.csr_matrix(self.R_, copy=True)
        if pairs.shape[0]:
            present = np.asarray(R[pairs[:, 0], pairs[:, 1]]).ravel() != 0
            if not present.all():
                n = int(np.flatnonzero(~present)[0])
                u, i = int(pairs[n, 0]), int(pairs[n, 1])
                where = (f"(user {u}, item {i})" if raw is None else
                         f"(user {_key(raw[0][n])!r}, item {_key(raw[1][n])!r}), internal "
                         f"(user {u}, item {i}),")
                raise DataError(f"interactions[{n}] = {where} is not in the training data")
            pairs = np.unique(pairs, axis=0)
            gone = sp.csr_matrix((np.ones(pairs.shape[0]), (pairs[:, 0], pairs[:, 1])),
                                 shape=R.shape)
            R = (R - R.multiply(gone)).tocsr()               # O(nnz), R stays binary
            R.eliminate_zeros()
        keep = np.setdiff1d(np.arange(self.n_users_), removed_users)
        R = R[keep].tocsr()
        R.sort_indices()
        if R.nnz == 0:
            raise DataError("forget would leave no training interactions")
        return Removal(R, keep, self.user_ids_[keep], removed_users, pairs)

    def _pairs_to_forget(self, interactions):
        """``forget``'s ``interactions`` as ``(pairs, raw)``: (n, 2) int64 internal pairs,
        checked against the model's users and catalogue (not yet against ``R_``), and, for
        an Interactions, each pair's raw ``(users, items)`` (else None)."""
        if interactions is None:
            return np.zeros((0, 2), dtype=np.int64), None
        if isinstance(interactions, Interactions):
            raw = (plain_ids(interactions.user_ids, "interactions.user_ids")[interactions.users],
                   plain_ids(interactions.item_ids, "interactions.item_ids")[interactions.items])
            ids = [self._known_raw_ids(known, r, kind) for known, r, kind in
                   ((self.user_ids_, raw[0], "user"), (self.item_ids_, raw[1], "item"))]
            return np.stack(ids, axis=1), raw                              # (n, 2)
        pairs = np.asarray(interactions)
        if pairs.shape in ((0,), (0, 2)):                                 # [] or no rows
            return np.zeros((0, 2), dtype=np.int64), None
        if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
            raise DataError("interactions must be an (n, 2) integer array of internal "
                            f"(user, item) pairs or an Interactions; got shape {pairs.shape}, "
                            f"dtype {pairs.dtype}")
        pairs = pairs.astype(np.int64)
        for column, kind, n_ids, where in ((0, "user", self.n_users_, "users"),
                                           (1, "item", self.n_items_, "catalogue")):
            bad = np.flatnonzero((pairs[:, column] < 0) | (pairs[:, column] >= n_ids))
            if bad.size:
                n = int(bad[0])
                raise DataError(f"interactions[{n}] has {kind} {int(pairs[n, column])}, not "
                                f"in the model's {where} 0..{n_ids - 1}")
        return pairs, None

    @staticmethod
    def _known_raw_ids(known, raw, kind):
        """The internal ids of raw ``kind`` ids (one per pair) among the model's ``known``
        ones, looked up as ``evaluate`` looks them up (:func:`~minigraphrec.data.match_raw_ids`);
        an unknown id is a DataError."""
        ids = match_raw_ids(raw, known)                                   # (n,), -1: unknown
        unknown = np.flatnonzero(ids < 0)
        if unknown.size:
            n = int(unknown[0])
            raise DataError(f"interactions[{n}] has {kind} {_key(raw[n])!r}, which is not in "
                            f"the model: forget removes only what the model was fitted on")
        return ids
