"""Splits: partitions, per-user counts, seeds, time rules, errors."""
import math

import numpy as np
import pytest

from minigraphrec import split
from minigraphrec.data import Interactions
from minigraphrec.errors import DataError


def make_log(seed=0, n_users=40, n_items=60):
    """A log with users of 0, 1, 2, ... 30 distinct items, some pairs repeated.

    ``weights`` carries each row's position, so parts can be traced back to rows.
    """
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        n = u % 31                                   # 0 (user absent), 1, 2, ..., 30
        its = rng.choice(n_items, size=n, replace=False)
        reps = rng.integers(1, 4, size=n) * (rng.random(n) < 0.3) + (rng.random(n) >= 0.3)
        users += [u] * int(reps.sum())
        items += np.repeat(its, reps).tolist()
    order = rng.permutation(len(users))
    users, items = np.array(users)[order], np.array(items)[order]
    return Interactions(users, items, n_users=n_users, n_items=n_items,
                        weights=np.arange(len(users), dtype=float),
                        timestamps=rng.integers(0, 1000, len(users)).astype(float),
                        user_ids=[f"u{k}" for k in range(n_users)])


def pairs(d):
    return set(zip(d.users.tolist(), d.items.tolist()))


def pairs_per_user(d):
    out = np.zeros(d.n_users, dtype=int)
    for u, _ in pairs(d):
        out[u] += 1
    return out


def assert_partition(data, parts):
    tags = np.concatenate([p.weights for p in parts])
    assert sorted(tags.tolist()) == data.weights.tolist()          # union = all, disjoint
    for p in parts:
        assert np.all(np.diff(p.weights) > 0)                      # file order kept
        assert (p.n_users, p.n_items) == (data.n_users, data.n_items)
        assert p.user_ids is data.user_ids
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            assert not pairs(parts[a]) & pairs(parts[b])           # no pair in two parts


# ---------------------------------------------------------------- random_split
@pytest.mark.parametrize("test_size", [0.2, 0.5])
def test_random_split_partitions_and_per_user_counts(test_size):
    d = make_log()
    train, test = split.random_split(d, test_size=test_size, random_state=0)
    assert_partition(d, [train, test])
    n = pairs_per_user(d)
    expected = [min(math.ceil(round(test_size * k, 9)), max(k - 1, 0)) for k in n]
    np.testing.assert_array_equal(pairs_per_user(test), expected)
    n_train = pairs_per_user(train)
    assert np.all(n_train[n >= 1] >= 1)                            # at least one in train
    assert np.all(n_train[n == 1] == 1)                            # single-item users: train


def test_random_split_rounds_up_like_the_lightgcn_gowalla_split():
    # 12 items at 0.2 -> ceil(2.4) = 3; 50 items at 0.14 -> 7 (0.14 * 50 is
    # 7.000000000000001 in floating point: a plain ceil would give 8)
    d = Interactions(np.zeros(62, int), np.r_[np.arange(12), np.arange(50)],
                     n_users=1, n_items=50)
    assert len(split.random_split(d.subset(np.arange(12)), 0.2, random_state=0)[1]) == 3
    assert len(split.random_split(d.subset(np.arange(12, 62)), 0.14, random_state=0)[1]) == 7
    two = d.subset([0, 1])
    assert [len(p) for p in split.random_split(two, 0.2, random_state=0)] == [1, 1]
    assert [len(p) for p in split.random_split(two, 0.9, random_state=0)] == [1, 1]


def test_random_split_with_validation():
    d = make_log(1)
    train, val, test = split.random_split(d, test_size=0.2, val_size=0.1, random_state=3)
    assert_partition(d, [train, val, test])
    n = pairs_per_user(d)
    n_test = np.array([min(math.ceil(round(0.2 * k, 9)), max(k - 1, 0)) for k in n])
    n_val = np.array([min(math.ceil(round(0.1 * k, 9)), max(k - 1 - t, 0))
                      for k, t in zip(n, n_test)])
    np.testing.assert_array_equal(pairs_per_user(test), n_test)
    np.testing.assert_array_equal(pairs_per_user(val), n_val)
    assert np.all(pairs_per_user(train)[n >= 1] >= 1)


def test_random_split_seeds():
    d = make_log(2)
    a = split.random_split(d, 0.3, random_state=7)
    b = split.random_split(d, 0.3, random_state=7)
    c = split.random_split(d, 0.3, random_state=8)
    assert a[1].weights.tolist() == b[1].weights.tolist()
    assert a[1].weights.tolist() != c[1].weights.tolist()
    g = split.random_split(d, 0.3, random_state=np.random.default_rng(7))
    assert g[1].weights.tolist() == a[1].weights.tolist()


def test_random_split_does_not_depend_on_row_order():
    d = make_log(3)
    perm = np.random.default_rng(0).permutation(len(d))
    _, t1 = split.random_split(d, 0.25, random_state=11)
    _, t2 = split.random_split(d.subset(perm), 0.25, random_state=11)
    assert pairs(t1) == pairs(t2)


def test_random_split_keeps_repeats_of_a_pair_together():
    # user 0: item 5 four times and items 1, 2, 3 once: whichever side item 5
    # lands on, all four events go with it.
    d = Interactions([0] * 7, [5, 1, 5, 2, 5, 3, 5], n_users=1, n_items=6)
    for seed in range(20):
        train, test = split.random_split(d, 0.5, random_state=seed)
        assert len(test.items) in (2, 5)                           # 2 pairs out of 4
        assert np.sum(train.items == 5) in (0, 4)
        assert not pairs(train) & pairs(test)


@pytest.mark.parametrize("kwargs,match", [
    ({"test_size": 0.0}, r"test_size must be in \(0, 1\), got 0.0"),
    ({"test_size": 1.0}, r"test_size must be in \(0, 1\), got 1.0"),
    ({"test_size": -0.2}, r"test_size must be in \(0, 1\)"),
    ({"test_size": "0.2"}, "test_size must be a fraction"),
    ({"test_size": True}, "test_size must be a fraction"),
    ({"test_size": np.nan}, r"test_size must be in \(0, 1\), got nan"),
    ({"val_size": 1.0}, r"val_size must be in \[0, 1\), got 1.0"),
    ({"val_size": -0.1}, r"val_size must be in \[0, 1\)"),
    ({"val_size": "0.1"}, r"val_size must be a fraction in \[0, 1\), got '0.1'"),   # was (0, 1)
    ({"test_size": 0.6, "val_size": 0.4}, "test_size \\+ val_size must be < 1, got 0.6 \\+ 0.4"),
    ({"random_state": -1}, "random_state must be None, an integer >= 0 or a numpy.random.Generator, got -1"),
])
def test_random_split_errors(kwargs, match):
    with pytest.raises(DataError, match=match):
        split.random_split(make_log(), **kwargs)


def test_split_type_errors_and_empty_data():
    with pytest.raises(TypeError, match="random_state must be None, an integer >= 0 or a numpy"):
        split.random_split(make_log(), random_state=1.5)
    with pytest.raises(TypeError, match="data must be an Interactions, got ndarray"):
        split.random_split(np.zeros((3, 2)))
    empty = Interactions([], [], n_users=3, n_items=3, timestamps=[])
    for fn in (split.random_split, split.leave_one_out, split.temporal_split):
        with pytest.raises(DataError, match="holds 0 interactions"):
            fn(empty)


# --------------------------------------------------------------- leave_one_out
def test_leave_one_out_random():
    d = make_log(4)
    train, test = split.leave_one_out(d, random_state=0)
    assert_partition(d, [train, test])
    n = pairs_per_user(d)
    np.testing.assert_array_equal(pairs_per_user(test), (n >= 2).astype(int))
    again = split.leave_one_out(d, random_state=0)[1]
    other = split.leave_one_out(d, random_state=1)[1]
    assert again.weights.tolist() == test.weights.tolist()
    assert pairs(other) != pairs(test)


def test_leave_one_out_by_time_by_hand():
    # user 0: latest event is item 2 at t=9 (and item 2 also has an older event at t=1)
    # user 1: items 0 and 3 tie at t=5: the later row (item 3) is held out
    # user 2: one item, two events: nothing to hold out
    d = Interactions([0, 0, 0, 0, 1, 1, 2, 2],
                     [1, 2, 0, 2, 0, 3, 4, 4],
                     timestamps=[4, 1, 6, 9, 5, 5, 1, 2], weights=np.arange(8.0))
    train, test = split.leave_one_out(d, by_time=True)
    assert test.weights.tolist() == [1, 3, 5]
    assert train.weights.tolist() == [0, 2, 4, 6, 7]


def test_leave_one_out_by_time_latest_per_user():
    d = make_log(5)
    _, test = split.leave_one_out(d, by_time=True)
    latest = {}
    for u, i, t in zip(d.users.tolist(), d.items.tolist(), d.timestamps.tolist()):
        latest[u] = max(latest.get(u, -1), t)
    for u, i in pairs(test):
        assert d.timestamps[(d.users == u) & (d.items == i)].max() == latest[u]


def test_leave_one_out_by_time_checks_random_state_too():
    """by_time=True took any random_state unchecked (a typo went unnoticed)."""
    d = Interactions([0, 0], [0, 1], timestamps=[1.0, 2.0])
    for bad in ("abc", 1.5, True):
        with pytest.raises(TypeError, match="random_state must be None, an integer >= 0"):
            split.leave_one_out(d, random_state=bad, by_time=True)
    with pytest.raises(DataError, match="random_state must be None, an integer >= 0"):
        split.leave_one_out(d, random_state=-1, by_time=True)
    assert split.leave_one_out(d, random_state=3, by_time=True)[1].items.tolist() == [1]


def test_leave_one_out_by_time_needs_timestamps():
    with pytest.raises(DataError, match="by_time=True\\) needs timestamps"):
        split.leave_one_out(Interactions([0, 0], [0, 1]), by_time=True)


# -------------------------------------------------------------- temporal_split
def test_temporal_global_cut_with_ties_by_hand():
    # 10 events, test_size 0.3 -> 3 aimed at test; the 7th earliest is at t=7, so t* = 7
    # and only t > 7 go to test: the tied event at t=7 stays in train.
    t = [1, 2, 3, 4, 5, 6, 7, 7, 8, 9]
    d = Interactions(np.arange(10) % 3, np.arange(10), timestamps=t, weights=np.arange(10.0))
    train, test = split.temporal_split(d, test_size=0.3)
    assert test.timestamps.tolist() == [8, 9]
    assert_partition(d, [train, test])
    train, test = split.temporal_split(d, test_size=0.2)        # t* = 7 again
    assert test.timestamps.tolist() == [8, 9]
    train, test = split.temporal_split(d, test_size=0.1)        # t* = 8
    assert test.timestamps.tolist() == [9]


def test_temporal_global_all_tied_is_an_error():
    d = Interactions([0, 1, 2, 0], [0, 1, 2, 3], timestamps=[1, 5, 5, 5])
    with pytest.raises(DataError, match="shares that timestamp"):
        split.temporal_split(d, test_size=0.5)
    # the hint said "lower test_size", but only a larger one moves the cut earlier
    with pytest.raises(DataError, match="raise test_size so that the cut falls earlier"):
        split.temporal_split(d, test_size=0.5)
    assert len(split.temporal_split(d, test_size=0.75)[1]) == 3


def test_temporal_global_one_timestamp_says_so():
    """Neither a larger test_size nor per_user=True (which the message advised) helps."""
    d = Interactions([0, 1, 2, 0], [0, 1, 2, 3], timestamps=[5, 5, 5, 5])
    for test_size in (0.25, 0.75):
        with pytest.raises(DataError, match=r"^every event has the same timestamp \(5.0\), so "
                                            r"no cut in time separates a test part"):
            split.temporal_split(d, test_size=test_size)


def test_temporal_per_user_empty_test_names_the_tie_not_distinct_times():
    """User 0 has events at two times; its test part is empty because its latest events
    share the cut's timestamp (the tie rule), not for want of distinct times."""
    d = Interactions([0, 0, 0], [0, 1, 2], timestamps=[1.0, 2.0, 2.0])
    with pytest.raises(DataError, match=r"each user's events at or after its cut time share "
                                        r"that timestamp, and the tie rule keeps them in train "
                                        r"\(e.g. user 0, with events from 1.0 to 2.0, has its "
                                        r"cut at 2.0\); raise test_size") as err:
        split.temporal_split(d, 0.2, per_user=True)
    assert "distinct times" not in str(err.value)
    assert len(split.temporal_split(d, 0.5, per_user=True)[1]) == 2     # as the hint says
    with pytest.raises(DataError, match="at least 2 events"):
        split.temporal_split(d.subset([0]), test_size=0.5)


def test_temporal_global_no_future_in_train_and_cold_users_kept():
    d = make_log(6)
    train, test = split.temporal_split(d, test_size=0.25, drop_repeats=False)
    assert sorted(np.r_[train.weights, test.weights].tolist()) == d.weights.tolist()
    assert train.timestamps.max() < test.timestamps.min()
    # user 31 has no events; give it one late event: it is in test only (cold start, kept)
    late = Interactions(np.r_[d.users, 31], np.r_[d.items, 0], n_users=40, n_items=60,
                        timestamps=np.r_[d.timestamps, 5000.0])
    train, test = split.temporal_split(late, test_size=0.25)
    assert 31 in test.users and 31 not in train.users


def test_temporal_drop_repeats():
    # pair (0, 0) at t=1 and again at t=9; (1, 1) only at t=8
    d = Interactions([0, 1, 0, 1, 0], [0, 0, 0, 1, 1], timestamps=[1, 2, 9, 8, 3],
                     weights=np.arange(5.0))
    train, test = split.temporal_split(d, test_size=0.4)           # t* = 3
    assert train.weights.tolist() == [0, 1, 4]
    assert test.weights.tolist() == [3]                            # row 2 dropped: (0,0) seen
    _, test = split.temporal_split(d, test_size=0.4, drop_repeats=False)
    assert test.weights.tolist() == [2, 3]


def test_temporal_per_user_counts_and_tie_rule():
    d = make_log(7)
    d = Interactions(d.users, d.items, n_users=d.n_users, n_items=d.n_items,
                     weights=d.weights, timestamps=d.weights * 3.0)   # distinct times
    train, test = split.temporal_split(d, test_size=0.2, per_user=True, drop_repeats=False)
    assert sorted(np.r_[train.weights, test.weights].tolist()) == d.weights.tolist()
    n = np.bincount(d.users, minlength=d.n_users)
    expected = [min(math.ceil(round(0.2 * k, 9)), max(k - 1, 0)) for k in n]
    np.testing.assert_array_equal(np.bincount(test.users, minlength=d.n_users), expected)
    for u in np.unique(test.users):                                 # each user's latest
        assert train.timestamps[train.users == u].max() < test.timestamps[test.users == u].min()
    # ties: user 0's events at 1, 2, 2, 2 -> ceil(0.5*4) = 2 aimed at test, t* = 2, none after
    tied = Interactions([0, 0, 0, 0, 1, 1], [0, 1, 2, 3, 0, 1], timestamps=[1, 2, 2, 2, 1, 2])
    train, test = split.temporal_split(tied, test_size=0.5, per_user=True)
    assert test.users.tolist() == [1] and test.items.tolist() == [1]
    assert len(train) == 5


def test_temporal_per_user_single_event_users_stay_in_train():
    d = Interactions([0, 1, 1, 2], [0, 0, 1, 1], timestamps=[5, 1, 2, 9])
    train, test = split.temporal_split(d, test_size=0.5, per_user=True)
    assert sorted(pairs(train)) == [(0, 0), (1, 0), (2, 1)]
    assert pairs(test) == {(1, 1)}


def test_temporal_errors():
    with pytest.raises(DataError, match="temporal_split needs timestamps"):
        split.temporal_split(Interactions([0, 0], [0, 1]))
    d = make_log()
    with pytest.raises(DataError, match=r"test_size must be in \(0, 1\)"):
        split.temporal_split(d, test_size=1.2)


@pytest.mark.parametrize("fraction", [np.float32(0.2), np.float16(0.2), 0.2])
def test_a_float32_fraction_counts_as_the_decimal_it_prints_as(fraction):
    """np.float32(0.2) is 0.2000000030 as a float: 5 items held out 2 (ceil of 1.000000015),
    and a global cut of 10 events at float32(0.3) held out 4."""
    d = Interactions([0] * 5, [0, 1, 2, 3, 4], timestamps=[1, 2, 3, 4, 5])
    assert len(split.random_split(d, fraction, random_state=0)[1]) == 1
    assert len(split.temporal_split(d, fraction, per_user=True)[1]) == 1
    log = Interactions(np.arange(10) % 3, np.arange(10), timestamps=np.arange(10))
    assert len(split.temporal_split(log, type(fraction)(0.3))[1]) == 3


def test_a_split_with_an_empty_part_is_refused():
    """random_split, leave_one_out and a per-user temporal split returned an empty test part
    silently (the global cut already refused it): evaluate failed later."""
    single = Interactions([0, 1, 2], [0, 1, 1], timestamps=[1, 2, 3])   # one item per user
    for call in (lambda: split.random_split(single, 0.5, random_state=0),
                 lambda: split.leave_one_out(single, random_state=0),
                 lambda: split.leave_one_out(single, by_time=True)):
        with pytest.raises(DataError, match="the test part would be empty: no user has two"):
            call()
    tied = Interactions([0, 0], [0, 1], timestamps=[5, 5])
    with pytest.raises(DataError, match="no user has events at two distinct times"):
        split.temporal_split(tied, 0.5, per_user=True)
    repeats = Interactions([0, 0, 0, 0], [0, 1, 0, 1], timestamps=[1, 2, 3, 4])
    with pytest.raises(DataError, match="every test event repeats a"):
        split.temporal_split(repeats, 0.5)
    assert len(split.temporal_split(repeats, 0.5, drop_repeats=False)[1]) == 2
    two = Interactions([0, 0, 1, 1], [0, 1, 0, 1])                      # two items each
    with pytest.raises(DataError, match="the validation part would be empty"):
        split.random_split(two, 0.3, val_size=0.3, random_state=0)


def test_split_switches_must_be_bools():
    d = make_log()
    with pytest.raises(ValueError, match="by_time must be True or False, got 'no'"):
        split.leave_one_out(d, by_time="no")
    for name in ("per_user", "drop_repeats"):
        with pytest.raises(ValueError, match=f"{name} must be True or False"):
            split.temporal_split(d, 0.2, **{name: "no"})
