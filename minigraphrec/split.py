r"""Train / validation / test splits of an interaction log.

Every split returns :class:`~minigraphrec.Interactions` parts made with
:meth:`~minigraphrec.Interactions.subset`, so they share the whole log's id space
(``n_users``, ``n_items``, raw-id maps, features): a model fitted on
``train`` can score the users and items of ``test`` directly.

* :func:`random_split` -- per user, a random fraction of the items to test
  (the protocol behind the NGCF / LightGCN Gowalla data);
* :func:`leave_one_out` -- one item per user to test, random or the latest;
* :func:`temporal_split` -- the future to test: after a global cut in time,
  or each user's latest fraction.

Repeated events of one (user, item) pair. The random splits work on
distinct pairs: all events of a pair go to the same part, so a test item
is never also a training item (evaluation removes training items from the
ranking, so such a test item could never be hit). The temporal splits cut
events by time and then, by default, drop from test the events of pairs
already in train. Use :func:`minigraphrec.graph.deduplicate` first if you
want one row per pair.

Counts. A user with ``n`` distinct items sends ``ceil(test_size * n)`` of
them to test (``0.2 * 12 = 2.4 → 3``), which is how the NGCF / LightGCN
Gowalla split was made (train keeps ``floor(0.8 n)``; checked on that data
set: it holds for 99.8 % of its users). The product is rounded to 9
decimals first, so ``0.14 * 50`` counts as exactly 7 (in floating point it
is 7.000000000000001, whose ceiling is 8). The count is capped
at ``n - 1``: a user with two or more items always keeps one in train, and
a user with a single item keeps it in train and has no test item (the
evaluation protocol then skips that user).

Seeds. ``random_state`` is None, an int or a ``numpy.random.Generator``;
the same int gives the same split, whatever the order of the rows.
"""
from __future__ import annotations

import numbers

import numpy as np

from .data import Interactions
from .errors import DataError, check_bool, check_random_state
from .graph import _pair_ids

__all__ = ["random_split", "leave_one_out", "temporal_split"]


# --------------------------------------------------------------------- helpers
def _check_data(data, need=1):
    if not isinstance(data, Interactions):
        raise TypeError(f"data must be an Interactions, got {type(data).__name__}")
    if len(data) < need:
        raise DataError(f"data holds {len(data)} interactions; a split needs at least {need}")


def _check_fraction(name, value, allow_zero=False):
    """A float in (0, 1), or [0, 1) when ``allow_zero``. A float32 or float16 fraction is
    read as the decimal it prints as (``np.float32(0.2)`` as 0.2, not 0.2000000030): its
    rounding error would otherwise survive ``_n_held_out``'s rounding and add an item."""
    interval = "[0, 1)" if allow_zero else "(0, 1)"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise DataError(f"{name} must be a fraction in {interval}, got {value!r}")
    if isinstance(value, np.floating) and np.finfo(value.dtype).bits < 64:
        value = str(value)                                     # the shortest decimal
    value = float(value)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        raise DataError(f"{name} must be in {interval}, got {value}")
    return value


def _check_nonempty(rows, part, why):
    """DataError unless ``rows`` (a boolean mask of the rows going to ``part``) has one: a
    split that leaves a part empty fails here, not later in ``evaluate``."""
    if not rows.any():
        raise DataError(f"the {part} part would be empty: {why}")


def _rng(random_state):
    """A Generator from ``random_state`` (:func:`~minigraphrec.errors.check_random_state`)."""
    return np.random.default_rng(check_random_state(random_state))


def _n_held_out(n, fraction):
    r"""``min(ceil(fraction · n), n - 1)``, clipped at 0; ``n`` an int array."""
    k = np.ceil(np.round(fraction * n, 9)).astype(np.int64)
    return np.clip(k, 0, np.maximum(n - 1, 0))


def _rank_within(groups, keys):
    r"""Rank of each element within its group when sorted by ``keys`` (ties: position).

    ``groups``, ``keys`` : (m,). Returns (m,) int64, 0 for each group's smallest key.
    """
    m = groups.shape[0]
    order = np.lexsort((np.arange(m), keys, groups))             # (m,)
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])         # first position of each group
    first = np.repeat(starts, np.diff(np.r_[starts, m]))          # (m,) group start, sorted order
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m) - first
    return rank


def _pairs(data):
    """(pair id per row, user per pair, n_pairs)."""
    pair, n_pairs, _ = _pair_ids(data.users, data.items)
    pair_user = np.empty(n_pairs, dtype=np.int64)
    pair_user[pair] = data.users
    return pair, pair_user, n_pairs


# ---------------------------------------------------------------------- random
def random_split(data, test_size=0.2, val_size=0.0, random_state=None):
    r"""Per-user random holdout: each user's items split at random.

    For a user with ``n`` distinct items (pairs), a uniformly random
    ``n_test = min(ceil(test_size · n), n - 1)`` of them go to test, then
    ``n_val = min(ceil(val_size · n), n - 1 - n_test)`` of the rest to
    validation; train keeps the others (at least one). Every event of a
    pair goes where its pair goes. See the module notes for the rounding.

    Parameters
    ----------
    data : Interactions
    test_size : float in (0, 1)
    val_size : float in [0, 1), with ``test_size + val_size < 1``
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    (train, test), or (train, val, test) when ``val_size > 0``
        Interactions over the same id space, partitioning the rows of
        ``data`` (each row in exactly one part, in file order), with no
        (user, item) pair in two parts.

    Raises
    ------
    DataError
        With a bad ``test_size`` or ``val_size``, or when test (or
        validation) would be empty: no user has enough distinct items.
    """
    _check_data(data)
    test_size = _check_fraction("test_size", test_size)
    val_size = _check_fraction("val_size", val_size, allow_zero=True)
    if test_size + val_size >= 1:
        raise DataError(f"test_size + val_size must be < 1, got {test_size} + {val_size}")
    rng = _rng(random_state)

    pair, pair_user, n_pairs = _pairs(data)                      # (n,), (n_pairs,)
    rank = _rank_within(pair_user, rng.random(n_pairs))          # (n_pairs,) random order per user
    n = np.bincount(pair_user, minlength=data.n_users)           # (n_users,) pairs per user
    n_test = _n_held_out(n, test_size)                           # (n_users,)
    n_val = np.minimum(np.ceil(np.round(val_size * n, 9)).astype(np.int64),
                       np.maximum(n - 1 - n_test, 0))            # (n_users,)
    r, u = rank[pair], pair_user[pair]                           # (n,) per row
    is_test = r < n_test[u]
    is_val = ~is_test & (r < n_test[u] + n_val[u])
    is_train = ~is_test & ~is_val
    _check_nonempty(is_test, "test", "no user has two distinct items (train keeps one)")
    if val_size > 0:
        _check_nonempty(is_val, "validation", "no user has enough distinct items for a "
                        "training, a test and a validation item at these sizes")
        return data.subset(is_train), data.subset(is_val), data.subset(is_test)
    return data.subset(is_train), data.subset(is_test)


def leave_one_out(data, random_state=None, by_time=False):
    r"""Hold out one item per user: a random one, or the latest.

    Every user with at least two distinct items sends one of them (all its
    events) to test; users with a single item keep it in train.

    * ``by_time=False``: the held-out item is drawn uniformly among the
      user's distinct items.
    * ``by_time=True``: it is the item of the user's latest event
      (timestamps required). Ties in time go to the event later in the
      file. If that item also has earlier events, they go to test with it.

    Parameters
    ----------
    data : Interactions
    random_state : None, int or numpy.random.Generator
        Used only when ``by_time=False``, but checked either way.
    by_time : bool

    Returns
    -------
    (train, test)
        A partition of the rows of ``data``; no pair in both.
    """
    _check_data(data)
    by_time = check_bool(by_time, "by_time")
    check_random_state(random_state)                     # a typo is an error with by_time too
    pair, pair_user, n_pairs = _pairs(data)
    n = np.bincount(pair_user, minlength=data.n_users)           # (n_users,)
    if by_time:
        if data.timestamps is None:
            raise DataError("leave_one_out(by_time=True) needs timestamps; data has none")
        rows = np.arange(len(data))
        # the latest event of each user: max by (timestamp, row)
        order = np.lexsort((rows, data.timestamps, data.users))   # (n,)
        u = data.users[order]
        is_last = np.r_[u[1:] != u[:-1], True]
        held = np.zeros(n_pairs, dtype=bool)
        held[pair[order[is_last]]] = True                         # one pair per user
    else:
        rng = _rng(random_state)
        held = _rank_within(pair_user, rng.random(n_pairs)) == 0  # (n_pairs,)
    held &= n[pair_user] >= 2
    is_test = held[pair]                                          # (n,)
    _check_nonempty(is_test, "test", "no user has two distinct items (train keeps one)")
    return data.subset(~is_test), data.subset(is_test)


# -------------------------------------------------------------------- temporal
def temporal_split(data, test_size=0.2, per_user=False, drop_repeats=True):
    r"""Train on the past, test on the future.

    Events are ordered by time (ties by file order). With ``n`` events in
    the group -- the whole log, or one user's events when ``per_user`` --
    the latest ``n_test = min(ceil(test_size · n), n - 1)`` are aimed at
    test, and the cut time ``t*`` is the timestamp of the last event left
    in train. **Tie rule**: an event goes to test iff its time is strictly
    after ``t*``, so events sharing a timestamp never straddle the cut and
    test can come out smaller than ``n_test``.

    * ``per_user=False``: one global cut, so no training event is later
      than a test event (no leakage from the future). Users whose every
      event is after the cut appear only in test (cold-start users), and
      likewise items; they are kept, and a model meets them untrained.
      To evaluate warm users only, use
      ``test.subset(np.isin(test.users, np.unique(train.users)))``.
    * ``per_user=True``: each user's own latest fraction goes to test; every
      user with two or more events at distinct times keeps some in train.
      Different users' cuts differ, so one user's training events may be
      later than another's test events.

    Parameters
    ----------
    data : Interactions
        Must have timestamps.
    test_size : float in (0, 1)
    per_user : bool
    drop_repeats : bool, default True
        Drop test events whose (user, item) pair also occurs in train: a
        re-consumed item is excluded from the ranking as "seen", so it
        could never be hit. With False, such pairs are in both parts.

    Returns
    -------
    (train, test)
        Rows of ``data`` in file order. Train ∪ test is all of ``data``
        unless repeats were dropped.

    Raises
    ------
    DataError
        Without timestamps, with a bad ``test_size``, or when test would be
        empty: (global cut) the log is too small, every event has one
        timestamp (no cut can separate them), or every event at or after
        the cut shares the cut's timestamp; (``per_user``) no user has an
        event strictly later than its own cut, because no user has events
        at two distinct times or because each user's events at or after its
        cut share the cut's timestamp (a larger ``test_size`` moves the cuts
        earlier); or every test event is a repeat that ``drop_repeats``
        drops.
    """
    _check_data(data)
    test_size = _check_fraction("test_size", test_size)
    per_user = check_bool(per_user, "per_user")
    drop_repeats = check_bool(drop_repeats, "drop_repeats")
    if data.timestamps is None:
        raise DataError("temporal_split needs timestamps; data has none")
    t = data.timestamps
    n_rows = len(data)
    rows = np.arange(n_rows)
    if per_user:
        rank = _rank_within(data.users, t)                        # (n,) time rank per user
        n = np.bincount(data.users, minlength=data.n_users)       # (n_users,)
        cut_rank = n - _n_held_out(n, test_size) - 1              # (n_users,) last train event
        is_cut = rank == cut_rank[data.users]                     # one event per user
        t_cut = np.full(data.n_users, np.inf)
        t_cut[data.users[is_cut]] = t[is_cut]                     # (n_users,)
        is_test = t > t_cut[data.users]
        if not is_test.any():
            t_min = np.full(data.n_users, np.inf)
            np.minimum.at(t_min, data.users, t)
            t_max = np.full(data.n_users, -np.inf)
            np.maximum.at(t_max, data.users, t)
            spread = np.flatnonzero(t_max > t_min)                # users with two times
            if spread.size == 0:
                why = "no user has events at two distinct times"
            else:
                u = int(spread[0])
                why = (f"each user's events at or after its cut time share that timestamp, "
                       f"and the tie rule keeps them in train (e.g. user {u}, with events "
                       f"from {t_min[u]} to {t_max[u]}, has its cut at {t_cut[u]}); raise "
                       "test_size so that the cuts fall earlier")
            _check_nonempty(is_test, "test", why)
    else:
        if n_rows < 2:
            raise DataError(f"a global temporal split needs at least 2 events, got {n_rows}")
        n_test = int(_n_held_out(np.int64(n_rows), test_size))
        order = np.lexsort((rows, t))
        t_cut = t[order[n_rows - n_test - 1]]
        is_test = t > t_cut
        if not is_test.any() and t[order[0]] == t_cut:
            raise DataError(f"every event has the same timestamp ({t_cut}), so no cut in time "
                            "separates a test part; a temporal split needs events at two "
                            "times at least (random_split needs none)")
        if not is_test.any():
            raise DataError(f"every event at or after the cut time {t_cut} shares that "
                            "timestamp, so the test part would be empty; raise test_size "
                            "so that the cut falls earlier, or use per_user=True")
    if drop_repeats:
        pair, n_pairs, _ = _pair_ids(data.users, data.items)
        in_train = np.zeros(n_pairs, dtype=bool)
        in_train[pair[~is_test]] = True
        keep = ~(is_test & in_train[pair])
        _check_nonempty(is_test & keep, "test", "every test event repeats a (user, item) "
                        "pair of train, and drop_repeats drops those")
        return data.subset(~is_test), data.subset(is_test & keep)
    return data.subset(~is_test), data.subset(is_test)
