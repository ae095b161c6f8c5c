r"""Interaction logs: the edges of the user–item graph.

An :class:`Interactions` holds one row per logged event (user ``u`` touched
item ``i``), with 0-based contiguous ids, an optional weight (a rating or a
count) and an optional timestamp, the maps between raw ids (as they appeared
in the file) and internal ids, and optional user and item feature matrices.

Everything downstream (splits, graph preprocessing, models, evaluation)
consumes this one type.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .errors import DataError, _not_array_like, check_int, check_sparse_arrays

__all__ = ["Interactions", "check_interactions", "match_raw_ids"]


_INT64_MAX = np.iinfo(np.int64).max

#: the largest id space (``n_users`` or ``n_items``) an :class:`Interactions` takes: its
#: default raw-id map alone is 16 GiB, and ``n_users * n_items`` stays at most 2**62
_MAX_IDS = 2**31
#: an id space inferred from the largest id (no ``n_users`` / ``user_ids`` given) is taken
#: up to ``max(_SPARSE_FLOOR, _SPARSE_RATIO * n_interactions)`` ids; beyond, the ids are
#: almost all unused, as raw ids (or timestamps) passed as ids are
_SPARSE_FLOOR = 2**20
_SPARSE_RATIO = 64
#: :func:`_sorted_pairs` packs a pair's number and a row number into one int64 when they fit
_SORT_BITS = 63


_SUBSECOND = {"ms": 10**3, "us": 10**6, "ns": 10**9, "ps": 10**12, "fs": 10**15,
              "as": 10**18}                     # datetime64 units finer than a second


def _count(n, word):
    """``n`` and ``word``, in the plural unless ``n`` is 1: ``1 user``, ``2 users``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _datetime_seconds(name, arr):
    """datetime64 values (n,) -> float64 seconds since 1970-01-01T00:00 (UTC, as NumPy's
    datetimes are); NaT is a DataError naming its position.

    Whole seconds are exact. Finer ticks within 2**53 of the epoch (every microsecond date
    of years 1685-2255, every millisecond one) are divided once, correctly rounded, so a
    date gives the very float the loaders give for its ISO-8601 text or its number in
    milliseconds with ``time_unit="ms"``. Beyond that (most nanosecond dates), the whole
    seconds and the fraction are converted apart, which keeps the fraction's digits."""
    nat = np.isnat(arr)
    if nat.any():
        where = int(np.flatnonzero(nat)[0])
        raise DataError(f"{name}[{where}] is NaT (a missing date-time); timestamps must be "
                        f"finite")
    unit = np.datetime_data(arr.dtype)[0]
    if unit not in _SUBSECOND:                         # s, or coarser: whole seconds
        return arr.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    ticks = arr.astype(f"datetime64[{unit}]").astype(np.int64)     # (n,) e.g. '10ms' -> ms
    per_second = _SUBSECOND[unit]
    whole, rest = np.divmod(ticks, per_second)         # floor: rest in [0, ticks per second)
    split = whole.astype(np.float64) + rest / per_second
    exact = np.abs(ticks) <= 2**53                     # ticks -> float64 without rounding
    return np.where(exact, ticks / per_second, split)


def _strings_refused(name, arr, wanted):
    """DataError for ``arr`` (1-d) if it holds strings: a typed string array (dtype kind U
    or S), or an object array with a str or bytes entry (named with its position). Strings
    are never parsed as numbers: ``'7'``, ``'007'``, ``'+7'`` and ``' 7'`` would all be the
    id 7, and ``'1e1'`` the id 10. Raw ids that are strings belong in ``user_ids`` /
    ``item_ids``; the loaders parse files, naming the line of a bad field."""
    if not arr.size:
        return
    if name in ("users", "items"):
        kind = name[:-1]
        hint = (f"; string ids are raw ids: map them first, raw, {name} = "
                f"np.unique(values, return_inverse=True), and pass {kind}_ids=raw")
    elif name == "timestamps":
        hint = ("; convert them first, to numbers (timestamps.astype(np.float64)) or to "
                "dates (timestamps.astype('datetime64[s]'))")
    else:
        hint = f"; convert them to numbers first ({name}.astype(np.float64))"
    if arr.dtype.kind in "US":
        raise DataError(f"{name} must hold {wanted}, got strings (dtype {arr.dtype}){hint}")
    if arr.dtype == object:
        at = next((k for k, v in enumerate(arr.tolist()) if isinstance(v, (str, bytes))), None)
        if at is not None:
            v = arr[at]
            what = "an integer id" if wanted == "integer ids" else "a number"
            raise DataError(f"{name}[{at}] is {v!r} (a {type(v).__name__}), not {what}{hint}")


def _as_1d(name, values, dtype, n, times=False):
    """``values`` as a checked 1-d array of ``dtype``: integer ids (``np.int64``: whole
    numbers of any real dtype, never truncated; bool is refused, as ``check_ids`` does), or
    numbers (``np.float64``). Strings are refused, not parsed (:func:`_strings_refused`);
    ``TypeError`` for a value that is no array at all (None, a string, a dict, a set), as
    ``check_ids``. ``times``: datetime64 values become Unix seconds
    (:func:`_datetime_seconds`) and timedelta64 ones are refused; elsewhere both are."""
    wanted = "integer ids" if np.issubdtype(dtype, np.integer) else "numbers"
    if _not_array_like(values):
        raise TypeError(f"{name} must be an array of {wanted}, got {type(values).__name__}")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-d, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise DataError(f"{name} has {arr.shape[0]} entries, expected {n} (one per interaction)")
    if np.iscomplexobj(arr):
        raise DataError(f"{name} is complex ({arr.dtype})")
    _strings_refused(name, arr, wanted)
    if times and arr.dtype.kind == "m":
        raise DataError(f"{name} is {arr.dtype} (durations), not points in time: pass "
                        f"datetime64 values, or numbers such as Unix seconds")
    if times and arr.dtype.kind == "M":
        return _datetime_seconds(name, arr)
    if arr.size and (arr.dtype.kind in "mM" or (wanted == "integer ids"
                                                and arr.dtype.kind == "b")):
        raise DataError(f"{name} must hold {wanted}, got dtype {arr.dtype}")
    if np.issubdtype(dtype, np.integer) and arr.size and not np.issubdtype(arr.dtype, np.integer):
        # ids given as floats (or anything else) must be whole numbers; never truncate
        if arr.dtype == object:
            # what a typed array refuses by its dtype (bools; strings, above) is refused
            # here too, instead of float(True) reading a bool as the id 1
            at = next((k for k, v in enumerate(arr.tolist())
                       if isinstance(v, (bool, np.bool_))), None)
            if at is not None:
                v = arr[at]
                raise DataError(f"{name}[{at}] is {v!r} (a {type(v).__name__}), not an "
                                f"integer id")
        try:
            as_float = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{name} must hold integer ids, got dtype {arr.dtype}") from None
        bad = (~np.isfinite(as_float) | (as_float != np.round(as_float))
               | (as_float >= 2.0**63) | (as_float < -2.0**63))
        if bad.any():
            where = int(np.flatnonzero(bad)[0])
            raise DataError(f"{name}[{where}] is {arr[where]}, not an integer id"
                            + (" (beyond int64)" if np.isfinite(as_float[where])
                               and as_float[where] == np.round(as_float[where]) else ""))
    # int(): NumPy 1.24 compares a uint64 scalar with a Python int through float64
    elif arr.dtype.kind == "u" and arr.size and int(arr.max()) > _INT64_MAX:
        where = int(np.argmax(arr > _INT64_MAX))
        raise DataError(f"{name}[{where}] is {arr[where]}, beyond the int64 ids")
    elif not np.issubdtype(dtype, np.integer) and arr.size and arr.dtype.kind not in "iufb":
        try:
            arr = arr.astype(dtype)
        except (TypeError, ValueError):
            raise DataError(f"{name} must hold numbers, got dtype {arr.dtype}") from None
    return arr.astype(dtype, copy=False)


def _default_ids(kind, n):
    """The default raw-id map ``0..n-1`` (int64), or a DataError naming ``n_{kind}s`` when
    it cannot be allocated."""
    try:
        return np.arange(n)
    except MemoryError:
        raise DataError(f"n_{kind}s={n}: its default raw-id map (0..n_{kind}s-1, "
                        f"{8 * n / 2**30:.3g} GiB) cannot be allocated; ids are positions "
                        f"0..n_{kind}s-1, not raw ids") from None


def _check_unique(kind, raw):
    """DataError naming the first raw id that ``raw`` (index -> raw id) holds twice: two
    internal ids with one raw id could not both be looked up. Numbers and strings are
    compared sorted, in NumPy; objects (and the message's positions) in Python."""
    if raw.dtype.kind in "biufUS" and raw.size > 1:
        ordered = np.sort(raw)                   # equal ids side by side (NaN equals none)
        if not (ordered[1:] == ordered[:-1]).any():
            return
    keys = [_key(r) for r in raw.tolist()]
    if len(set(keys)) == len(keys):
        return
    first = {}
    for k, key in enumerate(keys):
        if key in first:
            raise DataError(f"{kind}_ids holds {key!r} twice (positions {first[key]} and {k}); "
                            f"raw ids name one {kind} each")
        first[key] = k


def _feature_names(name, names, F):
    if names is None:
        return None
    names = list(names)
    if F is None:
        raise DataError(f"{name} given without the features they name")
    if len(names) != F.shape[1]:
        raise DataError(f"{name} has {len(names)} names for {F.shape[1]} feature columns")
    return names


def check_features(name, F, n_rows, side):
    r"""A feature matrix as float64 ndarray or CSR of shape (n_rows, n_features), checked.

    ``side`` ("user" or "item") names what a row is, for the messages. None
    passes through. Raises :class:`~minigraphrec.errors.DataError` if ``F`` is
    not 2-d, is not rectangular (a ragged nested list), has the wrong number of
    rows, holds NaN or inf, or is a sparse matrix whose index arrays do not fit
    its shape (:func:`~minigraphrec.errors.check_sparse_arrays`).
    """
    if F is None:
        return None
    if sp.issparse(F):
        dtype = F.dtype
    else:
        try:
            dtype = np.asarray(F).dtype
        except ValueError as err:                      # ragged nested sequences
            raise DataError(f"{name} must be a 2-d array (n_{side}s, n_features): "
                            f"{err}") from None
    if dtype.kind not in "biuf":
        raise DataError(f"{name} must hold real numbers, got dtype {dtype}"
                        + (" (the imaginary part would be lost)" if dtype.kind == "c" else ""))
    if sp.issparse(F):
        F = sp.csr_matrix(check_sparse_arrays(F, name), dtype=np.float64)
        values = F.data
    else:
        F = np.asarray(F, dtype=np.float64)
        if F.ndim != 2:
            raise DataError(f"{name} must be 2-d (n_{side}s, n_features), got shape {F.shape}")
        values = F
    if F.shape[0] != n_rows:
        raise DataError(f"{name} has {F.shape[0]} rows, expected one per {side} ({n_rows})")
    if not np.all(np.isfinite(values)):
        raise DataError(f"{name} contains NaN or inf")
    return F


class Interactions:
    r"""A log of user–item interactions with 0-based contiguous ids.

    Parameters
    ----------
    users, items : array-like of int, shape (n_interactions,)
        Internal ids, ``0 <= users < n_users`` and ``0 <= items < n_items``
        (whole numbers of any real dtype; bool is refused, and so are
        strings, never parsed as numbers: ``'7'`` and ``'007'`` are two raw
        ids, which go to ``user_ids`` / ``item_ids``, e.g. ``raw, users =
        np.unique(df.user_id.astype(str).values, return_inverse=True)``).
    n_users, n_items : int, optional
        Sizes of the id spaces, at most 2**31 each. Default: one more than
        the largest id, or the length of ``user_ids`` / ``item_ids`` when
        those are given. A split keeps the sizes of the whole data set, so a
        user absent from the test part still has a row. A size inferred from
        the largest id may not exceed ``max(2**20, 64 * n_interactions)``:
        beyond, almost every id would be unused, as when raw ids (or
        timestamps) are passed as ids; map those first (``raw, users =
        np.unique(raw_ids, return_inverse=True)``, then ``user_ids=raw``), or
        give ``n_users`` when the id space really is that large.
    weights : array-like of float, shape (n_interactions,), optional
        A rating or a count per interaction. Must be finite; numbers (strings
        are refused, as for the ids).
    timestamps : array-like of float or datetime64, shape (n_interactions,), optional
        Event time per interaction (any unit, usually Unix seconds). Finite.
        ``datetime64`` values (a pandas column's ``.values``) become Unix
        seconds, float64 (``2016-05-09T12:00`` is 1462795200.0), whatever
        their unit; NaT is an error, and so are ``timedelta64`` values
        (durations, not times) and strings (an ISO date becomes a
        ``datetime64`` by ``.astype("datetime64[s]")``).
    user_ids, item_ids : array-like, shape (n_users,) / (n_items,), optional
        Raw ids: ``user_ids[u]`` is the id user ``u`` had in the source file.
        Default: the internal ids themselves.
    user_features, item_features : ndarray or sparse matrix, optional
        Shapes (n_users, n_user_features) and (n_items, n_item_features).
    user_feature_names, item_feature_names : sequence of str, optional
        Column names of the feature matrices.
    item_labels : sequence of str, shape (n_items,), optional
        What to show a person for each item (a film's title); the command
        line prints them beside the raw ids.

    Notes
    -----
    Duplicated (user, item) pairs are allowed: they are repeated events, and
    :func:`minigraphrec.graph.deduplicate` decides what to do with them.
    :meth:`to_csr` collapses them.

    The arrays are checked once, here, and are not copied when they already
    have the stored dtype (int64 ids, float64 weights and timestamps, and
    ``user_ids`` / ``item_ids`` / float64 features as given): a large log is
    not held twice. So the object shares them with the caller, and so do the
    objects derived from it (:meth:`subset`, the splits, ``deduplicate``
    share raw-id maps and features). Editing such an array afterwards, through
    the caller's name or the attribute, bypasses the checks (an id out of
    range, say): pass copies (``users.copy()``) of arrays you will modify.

    The file loaders set two more attributes on what they return: ``lines``,
    (n_interactions,) int64, the 1-based file line of each interaction (which
    :meth:`align`'s errors name), and, on a test part, ``n_dropped``, the
    interactions left out for ids unknown to training. Anything derived from
    the object (a split, say) has neither.
    """

    def __init__(self, users, items, n_users=None, n_items=None, weights=None,
                 timestamps=None, user_ids=None, item_ids=None,
                 user_features=None, item_features=None,
                 user_feature_names=None, item_feature_names=None, item_labels=None):
        self.users = _as_1d("users", users, np.int64, None)
        n = self.users.shape[0]
        self.items = _as_1d("items", items, np.int64, n)
        self.weights = None if weights is None else _as_1d("weights", weights, np.float64, n)
        self.timestamps = (None if timestamps is None
                           else _as_1d("timestamps", timestamps, np.float64, n, times=True))
        for name, arr in (("weights", self.weights), ("timestamps", self.timestamps)):
            if arr is not None and not np.all(np.isfinite(arr)):
                bad = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise DataError(f"{name}[{bad}] is {arr[bad]}; values must be finite")

        self.n_users = self._size("user", self.users, n_users, user_ids)
        self.n_items = self._size("item", self.items, n_items, item_ids)
        self.user_ids = (_default_ids("user", self.n_users) if user_ids is None
                         else np.asarray(user_ids))
        self.item_ids = (_default_ids("item", self.n_items) if item_ids is None
                         else np.asarray(item_ids))
        for kind, raw, size in (("user", self.user_ids, self.n_users),
                                ("item", self.item_ids, self.n_items)):
            if raw.shape != (size,):
                raise DataError(f"{kind}_ids has shape {raw.shape}, expected ({size},)")
        if user_ids is not None:
            _check_unique("user", self.user_ids)
        if item_ids is not None:
            _check_unique("item", self.item_ids)
        self.user_features = check_features("user_features", user_features, self.n_users, "user")
        self.item_features = check_features("item_features", item_features, self.n_items, "item")
        self.user_feature_names = _feature_names("user_feature_names", user_feature_names,
                                                 self.user_features)
        self.item_feature_names = _feature_names("item_feature_names", item_feature_names,
                                                 self.item_features)
        self.item_labels = None if item_labels is None else np.asarray(item_labels, dtype=str)
        if self.item_labels is not None and self.item_labels.shape != (self.n_items,):
            raise DataError(f"item_labels has shape {self.item_labels.shape}, expected "
                             f"({self.n_items},)")
        self._user_index = None
        self._item_index = None

    @staticmethod
    def _size(kind, ids, n, raw):
        source = ""                                   # where the size came from, for messages
        if n is None and raw is not None:
            source = f" (n_{kind}s = len({kind}_ids) = {len(raw)})"
        if n is None and raw is None and ids.size:
            # the size is the largest id + 1: refuse, before anything of that size is
            # allocated, ids that leave almost all of it unused or that no array could hold
            hi = int(ids.max())
            if hi + 1 > max(_SPARSE_FLOOR, _SPARSE_RATIO * ids.size) or hi + 1 > _MAX_IDS:
                where = int(np.flatnonzero(ids == hi)[0])
                also = (f", or pass n_{kind}s={hi + 1} if the id space really is that large"
                        if hi + 1 <= _MAX_IDS else "")
                raise DataError(
                    f"{kind} id {hi} at position {where} implies {hi + 1} {kind}s for "
                    f"{ids.size} interaction(s); ids are positions 0..n_{kind}s-1, not raw ids: "
                    f"map raw ids first (raw, {kind}s = np.unique(raw_ids, "
                    f"return_inverse=True), then pass {kind}_ids=raw) or load the file with "
                    f"minigraphrec.datasets.load_triples{also}")
        if n is None:
            n = len(raw) if raw is not None else (int(ids.max()) + 1 if ids.size else 0)
        n = check_int(n, f"n_{kind}s", at_least=0)
        if n > _MAX_IDS:
            raise DataError(f"n_{kind}s={n}{source} is more than the {_MAX_IDS} (2**31) {kind}s "
                            f"an id space may hold; ids are positions 0..n_{kind}s-1, not raw "
                            f"ids: pass raw ids as {kind}_ids")
        if ids.size:
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= n:
                bad = lo if lo < 0 else hi
                where = int(np.flatnonzero(ids == bad)[0])
                raise DataError(f"{kind} id {bad} at position {where} is out of range "
                                f"0..{n - 1}{source}")
        return n

    # ------------------------------------------------------------------ basics
    def __len__(self):
        return self.users.shape[0]

    @property
    def n_interactions(self):
        return self.users.shape[0]

    def __repr__(self):
        extras = [name for name in ("weights", "timestamps", "user_features", "item_features")
                  if getattr(self, name) is not None]
        more = f", with {', '.join(extras)}" if extras else ""
        return (f"Interactions({_count(self.n_users, 'user')}, {_count(self.n_items, 'item')}, "
                f"{_count(len(self), 'interaction')}{more})")

    def to_csr(self, weighted=False):
        r"""The user–item matrix R, shape (n_users, n_items), CSR, float64.

        ``R[u, i] = 1`` if u interacted with i (repeats collapse to 1); with
        ``weighted=True``, ``R[u, i]`` is the sum of the weights of the
        repeats (the count when there are no weights), added one row at a
        time in row (file) order, as :func:`~minigraphrec.graph.deduplicate`
        (``keep="sum"``) adds them: so ``R`` and the summed weights of
        ``deduplicate(self, "sum")`` agree bit for bit. A pair whose
        weights sum to 0 is stored, as an explicit 0. Indices are sorted,
        with no duplicates.
        """
        if weighted:
            data = (self.weights if self.weights is not None
                    else np.ones(len(self), dtype=np.float64))
            return _pair_sums(self.users, self.items, data, self.n_users, self.n_items)
        data = np.ones(len(self), dtype=np.float64)
        R = sp.csr_matrix((data, (self.users, self.items)),
                          shape=(self.n_users, self.n_items), dtype=np.float64)
        R.sum_duplicates()
        R.data[:] = 1.0
        R.sort_indices()
        return R

    # ----------------------------------------------------------- id mapping
    @property
    def user_index(self):
        """dict raw user id -> internal id."""
        if self._user_index is None:
            self._user_index = {_key(r): k for k, r in enumerate(self.user_ids)}
        return self._user_index

    @property
    def item_index(self):
        """dict raw item id -> internal id."""
        if self._item_index is None:
            self._item_index = {_key(r): k for k, r in enumerate(self.item_ids)}
        return self._item_index

    def subset(self, mask_or_index):
        r"""The interactions selected by a boolean mask or an index array.

        Keeps ``n_users``, ``n_items``, the raw-id maps and the feature
        matrices, so that a train and a test part share one id space. An index
        array holds positions ``0 .. len(self) - 1`` (no negative ones); a mask
        has one boolean per interaction.
        """
        from .errors import check_ids

        sel = np.asarray(mask_or_index)
        if sel.dtype == bool:
            if sel.shape != (len(self),):
                raise DataError(f"mask has shape {sel.shape}, expected ({len(self)},)")
        else:
            sel = check_ids(sel, "index", len(self))
        out = Interactions(
            self.users[sel], self.items[sel], n_users=self.n_users, n_items=self.n_items,
            weights=None if self.weights is None else self.weights[sel],
            timestamps=None if self.timestamps is None else self.timestamps[sel],
            user_features=self.user_features, item_features=self.item_features,
            user_feature_names=self.user_feature_names,
            item_feature_names=self.item_feature_names, item_labels=self.item_labels)
        out.user_ids, out.item_ids = self.user_ids, self.item_ids    # checked once, when made
        return out

    def align(self, user_ids, item_ids, on_unknown="error", source="data"):
        r"""The same interactions re-indexed into another id space.

        Used to bring a separately loaded test file into a fitted model's id
        space: raw id ``user_ids[k]`` becomes internal id ``k``. Raw ids match
        as :func:`~minigraphrec.data.match_raw_ids` says: exactly, or, between an integer and a
        string, when the string spells the integer (a test file read as text
        against a model whose raw ids are LightGCN's integers).

        Parameters
        ----------
        user_ids, item_ids : array-like
            The target space's raw ids, index -> raw.
        on_unknown : {"error", "drop"}
            What to do with interactions whose raw user or item id is not in
            the target space. ``"drop"`` removes them; the count is stored on
            the result as ``n_dropped``.
        source : str
            Named in error messages (a file name, say), with the file line of
            the first unknown interaction when the loader recorded ``lines``.

        Returns
        -------
        Interactions
            The pairs with their weights and timestamps, in the target space
            (``n_dropped`` on it). Features and item labels are not carried:
            they describe this data's users and items, not the target
            space's, and the fitted model holds its own (evaluation reads
            only the pairs).
        """
        if on_unknown not in ("error", "drop"):
            raise ValueError(f"on_unknown must be 'error' or 'drop', got {on_unknown!r}")
        target = Interactions([], [], n_users=len(user_ids), n_items=len(item_ids),
                              user_ids=user_ids, item_ids=item_ids)     # raw ids checked
        u_map = match_raw_ids(self.user_ids, target.user_ids)      # (self.n_users,), -1: none
        i_map = match_raw_ids(self.item_ids, target.item_ids)      # (self.n_items,)
        users = u_map[self.users] if len(self) else self.users
        items = i_map[self.items] if len(self) else self.items
        unknown = (users < 0) | (items < 0)
        if unknown.any() and on_unknown == "error":
            k = int(np.flatnonzero(unknown)[0])
            kind, raw = (("user", self.user_ids[self.users[k]]) if users[k] < 0
                         else ("item", self.item_ids[self.items[k]]))
            lines = getattr(self, "lines", None)                     # set by file loaders
            where = (f"line {int(lines[k])}" if lines is not None and len(lines) == len(self)
                     else f"interaction {k}")
            if unknown.all():
                what = ("its one interaction has" if len(self) == 1
                        else f"all {len(self)} interactions have")
                raise DataError(f"{source}: {what} ids unknown to "
                                f"the model, the first is {kind} {_key(raw)!r} ({where}); "
                                f"were they numbered for another data set?")
            n = int(unknown.sum())
            what = f"{_count(n, 'interaction')} {'has' if n == 1 else 'have'}"
            raise DataError(f"{source}: {what} ids unknown to "
                            f"the model, the first is {kind} {_key(raw)!r} ({where}); "
                            f"on_unknown='drop' leaves them out")
        keep = ~unknown
        out = Interactions(
            users[keep], items[keep], n_users=target.n_users, n_items=target.n_items,
            weights=None if self.weights is None else self.weights[keep],
            timestamps=None if self.timestamps is None else self.timestamps[keep],
            user_ids=target.user_ids, item_ids=target.item_ids)
        out.n_dropped = int(unknown.sum())
        return out


def _sorted_pairs(users, items, n_users, n_items):
    r"""The event rows sorted by (user, item) pair, a pair's rows in row order: the one
    numbering of the distinct pairs, shared by :func:`_pair_sums` and
    :func:`minigraphrec.graph._pair_ids`.

    ``users``, ``items``: int64 (n,) ids within the sizes, which are at most ``_MAX_IDS``,
    so a pair's number ``u * n_items + i`` fits in an int64. Returns ``rows`` (n,) int64,
    the rows in that order; ``key`` (n,) int64, the pair number of each of them
    (ascending); ``starts`` (n,) bool, True at the first row of each pair. So the ``p``-th
    pair in (user, item) order has number ``key[starts][p]`` and first row
    ``rows[starts][p]``. When the pair and row numbers fit one int64 together
    (``_SORT_BITS``), one plain sort orders the rows (800k rows: about 1.2× SciPy's
    summing conversion); otherwise a stable argsort does, about 1.5 times slower (1M rows).
    """
    n = users.shape[0]
    key = users * n_items + items                        # (n,) pair number, (user, item) order
    shift = max(n - 1, 0).bit_length()                   # bits of a row number
    if max(n_users * n_items - 1, 0).bit_length() + shift <= _SORT_BITS:
        # one plain sort of (pair number, row) packed in an int64: a pair's rows in row order
        both = (key << shift) | np.arange(n)             # (n,)
        both.sort()
        rows = both & ((1 << shift) - 1)                 # (n,) rows, sorted by pair then row
        key = both >> shift
    else:
        rows = np.argsort(key, kind="stable")            # (n,) a pair's rows in row order
        key = key[rows]
    starts = np.empty(n, dtype=bool)                     # (n,) first row of a pair, sorted
    starts[:1] = True
    np.not_equal(key[1:], key[:-1], out=starts[1:])
    return rows, key, starts


def _pair_sums(users, items, values, n_users, n_items):
    r"""The (n_users, n_items) CSR float64 matrix of ``values`` summed per (user, item) pair.

    ``R[u, i]`` is the sum of ``values[k]`` over the rows ``k`` with ``users[k] == u`` and
    ``items[k] == i``, added one row at a time in row order (``np.bincount`` over
    :func:`_sorted_pairs`' order, which has a pair's rows in row order), as
    :func:`~minigraphrec.graph.deduplicate` (``keep="sum"``) adds them: so the two agree
    bit for bit. Every pair that occurs is stored, a zero sum as an explicit 0; indices are
    sorted. ``users``, ``items``: int64 (n,) ids within the sizes.
    """
    rows, key, starts = _sorted_pairs(users, items, n_users, n_items)
    sums = np.bincount(np.cumsum(starts) - 1, weights=values[rows])     # (n_pairs,)
    pair_key = key[starts]                               # (n_pairs,) ascending
    pair_user = pair_key // n_items
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_user, minlength=n_users), out=indptr[1:])
    R = sp.csr_matrix((sums, pair_key - pair_user * n_items, indptr),
                      shape=(n_users, n_items))
    R.sort_indices()                                     # sorted already: sets the flag
    return R


def match_raw_ids(raw, target):
    r"""For each raw id in ``raw``, its index in ``target`` (raw ids, index -> raw), or -1.

    Ids of one kind match exactly (``5`` and ``np.int64(5)`` alike). Between kinds, an
    integer and a string match when the string spells the integer in decimal: against
    integer raw ids (LightGCN files, whose raw ids are the internal ones) a token ``"7"``,
    ``"007"`` or ``"+7"`` is 7, as the LightGCN loader reads it; against string raw ids an
    integer 7 is ``"7"`` (not ``"007"``, which is another string). A float array against
    integer raw ids matches by value when whole (``2.0`` is 2), as a model keeps float ids
    (``models.base.plain_ids``). Returns (len(raw),) int64.
    """
    raw, target = np.asarray(raw), np.asarray(target)
    int_raw, int_target = raw.dtype.kind in "iu", target.dtype.kind in "iu"
    if int_target and raw.dtype.kind == "f":          # whole floats against integers
        keys = [int(r) if math.isfinite(r) and r == int(r) else None for r in raw.tolist()]
    elif int_target and not int_raw:                  # text against integers: parse the text
        keys = [_spelled_int(r) for r in raw.tolist()]
    elif int_raw and not int_target:                  # integers against text: spell them
        keys = [str(r) for r in raw.tolist()]
    else:
        keys = [_key(r) for r in raw.tolist()]
    index = {_key(r): k for k, r in enumerate(target.tolist())}
    return np.fromiter((index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))


def _spelled_int(text):
    """The integer a raw id's text spells (optional sign, ASCII digits), or None."""
    text = str(text).strip()
    digits = text[1:] if text[:1] in "+-" else text
    return int(text) if digits.isascii() and digits.isdigit() else None


def check_interactions(data, name="train"):
    """``data`` itself if it is a non-empty Interactions; else TypeError, or DataError if empty."""
    if not isinstance(data, Interactions):
        raise TypeError(f"{name} must be an Interactions, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError(f"{name} holds no interactions")
    return data


def _key(raw):
    """Raw ids become plain Python scalars so that 5, np.int64(5) look alike."""
    return raw.item() if isinstance(raw, np.generic) else raw
