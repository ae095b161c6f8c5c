"""Sequences: CSR layout, per-user ordering by time, prefixes, leave-last-out, next-item metrics."""
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import DataError
from minigraphrec.sequences import (Sequences, evaluate_next_item, filter_sessions,
                                    leave_last_out, next_item_ranks, prefix_examples,
                                    recent_fraction, sessions_by_gap, split_sessions_by_time,
                                    user_sequences)


@pytest.fixture
def log():
    # user 0: items 3 (t=3), 1 (t=1), 2 (t=2) -> [1, 2, 3]; user 1: [4, 0]; user 2: [1]
    return mgr.Interactions([0, 0, 0, 1, 1, 2], [3, 1, 2, 0, 4, 1], n_items=5,
                            timestamps=[3, 1, 2, 5, 4, 9])


def test_user_sequences_order_by_time_then_input(log):
    seqs = user_sequences(log)
    assert [list(s) for s in seqs] == [[1, 2, 3], [4, 0], [1]]
    assert list(seqs.users) == [0, 1, 2]
    tied = mgr.Interactions([0, 0, 0], [2, 0, 1], n_items=3, timestamps=[5, 5, 1])
    assert list(user_sequences(tied)[0]) == [1, 2, 0]            # equal times keep input order
    assert [list(s) for s in user_sequences(log, max_len=2)] == [[2, 3], [4, 0], [1]]


def test_user_sequences_need_timestamps():
    with pytest.raises(DataError, match="timestamps"):
        user_sequences(mgr.Interactions([0, 0], [0, 1]))


def test_prefix_examples(log):
    prefixes, targets = prefix_examples(user_sequences(log))
    assert [list(p) for p in prefixes] == [[1], [1, 2], [4]]
    assert list(targets) == [2, 3, 0]
    assert list(prefixes.users) == [0, 0, 1]
    cut, targets = prefix_examples(Sequences.from_lists([[5, 6, 7, 8]], n_items=9), max_len=2)
    assert [list(p) for p in cut] == [[5], [5, 6], [6, 7]] and list(targets) == [6, 7, 8]


def test_leave_last_out(log):
    train, test_prefixes, test_targets = leave_last_out(user_sequences(log))
    assert [list(s) for s in train] == [[1, 2], [4], [1]]       # the single item stays whole
    assert [list(s) for s in test_prefixes] == [[1, 2], [4]]
    assert list(test_targets) == [3, 0] and list(test_prefixes.users) == [0, 1]


def test_subset_and_bad_input():
    seqs = Sequences.from_lists([[0, 1], [2], [3, 4, 0]], n_items=5)
    assert [list(s) for s in seqs.subset([2, 0])] == [[3, 4, 0], [0, 1]]
    with pytest.raises(DataError, match="item id 7 at position 1 of sequence 1"):
        Sequences.from_lists([[0], [1, 7]], n_items=5)
    with pytest.raises(DataError, match="indptr"):
        Sequences([0, 3], [1, 2], n_items=5)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ranks_follow_the_tie_rule(backend):
    S = np.array([[0.5, 0.9, 0.5, 0.1],
                  [1.0, 1.0, 1.0, 1.0]])
    # row 0, target 2: item 1 is higher and item 0 ties with a smaller id -> rank 2
    # row 1, target 3: three equal scores with smaller ids ahead -> rank 3
    assert list(next_item_ranks(S, [2, 3], backend=backend)) == [2, 3]
    exclude = np.array([[False, True, False, False], [False, False, False, True]])
    assert list(next_item_ranks(S, [2, 3], exclude, backend=backend)) == [1, 4]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rank_kernel_equals_the_numpy_reference(dtype):
    import numba

    rng = np.random.default_rng(4)
    S = np.round(rng.standard_normal((300, 257)), 1).astype(dtype)   # many ties
    S[5] = 0.0                                                        # a constant row
    S[6, :] = -np.inf                                                 # infinities tie too
    S[7, 3] = np.inf
    t = rng.integers(0, 257, 300)
    t[7] = 3
    t[8], t[9] = 0, 256                                               # the loops' bounds
    exclude = rng.random(S.shape) < 0.2
    for mask in (None, exclude):
        ref = next_item_ranks(S, t, mask, backend="numpy")
        runs = []
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            try:
                runs.append(next_item_ranks(S, t, mask, backend="numba"))
            finally:
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        np.testing.assert_array_equal(runs[0], ref)
        np.testing.assert_array_equal(runs[1], ref)
    assert next_item_ranks(S, t, exclude)[exclude[np.arange(300), t]].tolist() == \
        [257] * int(exclude[np.arange(300), t].sum())                 # excluded targets


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ranks_refuse_bad_input(backend):
    S = np.zeros((2, 4))
    with pytest.raises(DataError, match=r"NaN \(row 1\)"):
        bad = S.copy()
        bad[1, 3] = np.nan                                            # not at the target
        next_item_ranks(bad, [0, 0], backend=backend)
    for where in ([1, 0], [1, 3]):                                  # at the target, at the end
        bad = S.copy()
        bad[tuple(where)] = np.nan
        with pytest.raises(DataError, match=r"NaN \(row 1\)"):
            next_item_ranks(bad, [0, 0], backend=backend)
        excluded = np.zeros(S.shape, dtype=bool)
        excluded[tuple(where)] = True                               # excluded, still refused
        with pytest.raises(DataError, match=r"NaN \(row 1\)"):
            next_item_ranks(bad, [0, 0], excluded, backend=backend)
    with pytest.raises(DataError, match=r"targets\[1\] = 4 is out of range 0..3"):
        next_item_ranks(S, [0, 4], backend=backend)
    with pytest.raises(DataError, match=r"targets\[0\] = -1"):
        next_item_ranks(S, [-1, 0], backend=backend)
    with pytest.raises(DataError, match="boolean mask of shape"):
        next_item_ranks(S, [0, 0], np.zeros((2, 3), dtype=bool), backend=backend)
    with pytest.raises(DataError, match=r"scores must be \(B, n_items\)"):
        next_item_ranks(S, [0, 0, 0], backend=backend)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ranks_refuse_fractional_and_bool_targets(backend):
    """Targets follow the package's rule for item ids (``_check_targets``): a fractional or
    NaN float, or a bool, is refused naming the position (1.7 was truncated to item 1);
    whole floats are taken."""
    S = np.array([[0.0, 5.0, 1.0], [3.0, 2.0, 1.0]])
    with pytest.raises(DataError, match=r"targets, position 1: 1.7 is not an integer item id"):
        next_item_ranks(S, [0, 1.7], backend=backend)
    with pytest.raises(DataError, match=r"targets, position 0: nan is not an integer item id"):
        next_item_ranks(S, np.array([np.nan, 1.0]), backend=backend)
    with pytest.raises(DataError, match=r"targets must hold integer item ids, got dtype bool"):
        next_item_ranks(S, np.array([True, False]), backend=backend)
    assert next_item_ranks(S, np.array([1.0, 2.0]), backend=backend).tolist() == \
        next_item_ranks(S, [1, 2], backend=backend).tolist() == [0, 2]


class _Fixed:
    """Scores item i as -|i - last item - 1|: the next id is always first."""
    n_items = 6

    def score_sessions(self, sessions):
        last = np.array([s[-1] for s in sessions])
        return -np.abs(np.arange(6)[None, :] - (last[:, None] + 1)).astype(float)


def test_evaluate_next_item_by_hand():
    prefixes = Sequences.from_lists([[0, 1], [3], [2, 4]], n_items=6)
    targets = np.array([2, 5, 0])
    # ranks: target 2 after last 1 -> 0; target 5 after 3 -> item 4 first, 5 and 3 tie, 3 < 5
    # -> rank 2; target 0 after 4 -> ranks of |i-5|: 5,4/... item 0 is last -> rank 5
    out = evaluate_next_item(_Fixed(), prefixes, targets, k=(1, 3))
    assert out["hit@1"] == pytest.approx(1 / 3)
    assert out["hit@3"] == pytest.approx(2 / 3)
    assert out["mrr@3"] == pytest.approx((1 + 1 / 3) / 3)
    assert out["ndcg@3"] == pytest.approx((1 + 1 / np.log2(4)) / 3)
    assert out["n_examples"] == 3
    excl = evaluate_next_item(_Fixed(), prefixes, targets, k=3, exclude_seen=True)
    assert excl["hit@3"] == pytest.approx(2 / 3)                 # item 3 excluded: rank 1
    assert excl["mrr@3"] == pytest.approx((1 + 1 / 2) / 3)


class _Constant:
    """The scores of ``row`` for every session."""
    def __init__(self, row):
        self.row = np.asarray(row, dtype=float)

    def score_sessions(self, sessions):
        return np.tile(self.row, (len(sessions), 1))


def test_a_target_that_is_no_candidate_is_a_miss_at_every_k():
    """Excluded (in its own prefix) or scored -inf, a target is never a hit, even at a K
    beyond the catalogue, where every candidate is one."""
    prefixes = Sequences.from_lists([[0], [1]], n_items=4)
    out = evaluate_next_item(_Constant([3, 2, 1, 0]), prefixes, [0, 2], k=(1, 20),
                             exclude_seen=True)
    # example 0: target 0 is in its prefix; example 1: item 1 excluded, target 2 at rank 1
    assert out["hit@20"] == 0.5 and out["mrr@20"] == 0.25
    assert out["ndcg@20"] == pytest.approx(0.5 / np.log2(3)) and out["hit@1"] == 0.0
    out = evaluate_next_item(_Constant([3, 2, 1, -np.inf]), prefixes, [3, 2], k=(3, 20))
    assert out["hit@20"] == 0.5 and out["hit@3"] == 0.5 and out["mrr@20"] == 1 / 6
    assert mgr.rank.top_k(np.array([[3, 2, 1, -np.inf]]), 20)[0][0, :4].tolist() == \
        [0, 1, 2, -1]                                          # as top_k never lists it


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_target_scored_minus_inf_gets_the_excluded_rank(backend):
    S = np.array([[0.0, -np.inf, -np.inf], [-np.inf, -np.inf, 1.0]])
    assert next_item_ranks(S, [1, 1], backend=backend).tolist() == [3, 3]
    assert next_item_ranks(S, [0, 2], backend=backend).tolist() == [0, 0]


@pytest.mark.parametrize("k", [2.0, True, "5", (3, 0), ()])
def test_evaluate_next_item_refuses_a_k_that_is_no_positive_integer(k):
    prefixes = Sequences.from_lists([[0], [1]], n_items=4)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        evaluate_next_item(_Constant([3, 2, 1, 0]), prefixes, [1, 2], k=k)


def test_evaluate_next_item_names_the_index_of_an_empty_prefix():
    """Checked up front: the index in ``prefixes``, not within a block of ``batch_size``."""
    lists = [[1]] * 1300 + [[]] + [[1]] * 199
    prefixes = Sequences.from_lists(lists, n_items=4)
    markov = mgr.MarkovChain().fit(Sequences.from_lists([[0, 1, 2, 3]], n_items=4))
    for model in (markov, _Constant([3, 2, 1, 0])):
        with pytest.raises(DataError, match=r"prefixes\[1300\] is empty"):   # was sessions[276]
            evaluate_next_item(model, prefixes, np.zeros(1500, dtype=int))
    with pytest.raises(TypeError, match="prefixes must be a Sequences"):
        evaluate_next_item(_Constant([3, 2, 1, 0]), [[0], [1]], [1, 2])


def test_evaluate_next_item_refuses_targets_it_would_change():
    prefixes = Sequences.from_lists([[0], [1], [2]], n_items=4)
    model = _Constant([3, 2, 1, 0])
    with pytest.raises(DataError, match="targets, position 0: 3.7 is not an integer item id"):
        evaluate_next_item(model, prefixes, [3.7, 3, 3])          # was read as 3
    for targets, match in [([1, 2], "3 prefixes but 2 targets"),
                           ([[1, 2, 3]], "flat list"), ([True, False, True], "dtype bool"),
                           ([0, 4, 1], r"targets\[1\] = 4 is out of range 0..3"),
                           ([0, 1, float("nan")], "position 2: nan")]:
        with pytest.raises(DataError, match=match):
            evaluate_next_item(model, prefixes, targets)
    assert evaluate_next_item(model, prefixes, [3.0, 3, 3]) == \
        evaluate_next_item(model, prefixes, np.array([3, 3, 3], dtype=np.uint8))


def test_evaluate_next_item_checks_exclude_seen_and_batch_size():
    prefixes = Sequences.from_lists([[0], [1], [2]], n_items=4)
    model = _Constant([3, 2, 1, 0])
    with pytest.raises(ValueError, match="exclude_seen must be True or False, got 'no'"):
        evaluate_next_item(model, prefixes, [1, 2, 3], exclude_seen="no")   # was True
    for batch_size in (0, 2.5, True, "2"):
        with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
            evaluate_next_item(model, prefixes, [1, 2, 3], batch_size=batch_size)
    assert evaluate_next_item(model, prefixes, [1, 2, 3], batch_size=np.int64(2)) == \
        evaluate_next_item(model, prefixes, [1, 2, 3])


# ================================================================ sessions
@pytest.fixture
def clicks():
    # user 0 at t = 0, 10, 100, 105, 106, 300 (items 1 2 3 4 5 6, given out of order);
    # user 1 at t = 3, 4 (items 0, 1)
    return mgr.Interactions([0, 1, 0, 0, 0, 1, 0, 0], [6, 0, 2, 1, 3, 1, 4, 5], n_items=7,
                            timestamps=[300, 3, 10, 0, 100, 4, 105, 106],
                            user_ids=["ann", "bob"])


def test_sessions_by_gap(clicks):
    s = sessions_by_gap(clicks, gap=50)                           # cut where dt > 50
    assert [list(x) for x in s] == [[1, 2], [3, 4, 5], [6], [0, 1]]
    assert s.users.tolist() == [0, 0, 0, 1] and s.end_time.tolist() == [10, 106, 300, 4]
    assert s.user_ids.tolist() == ["ann", "bob"] and s.session_ids is None
    assert [list(x) for x in sessions_by_gap(clicks, gap=10)] == [[1, 2], [3, 4, 5], [6],
                                                                  [0, 1]]   # 10 is no gap
    assert [list(x) for x in sessions_by_gap(clicks, gap=9)] == [[1], [2], [3, 4, 5], [6],
                                                                 [0, 1]]
    both = sessions_by_gap(clicks, gap=50, max_len=2)             # then pieces of 2
    assert [list(x) for x in both] == [[1, 2], [3, 4], [5], [6], [0, 1]]
    assert both.end_time.tolist() == [10, 105, 106, 300, 4]
    alone = sessions_by_gap(clicks, max_len=4)                    # per user, by length only
    assert [list(x) for x in alone] == [[1, 2, 3, 4], [5, 6], [0, 1]]


def test_sessions_by_gap_rejects():
    with pytest.raises(DataError, match="timestamps"):
        sessions_by_gap(mgr.Interactions([0], [0]), gap=1)
    data = mgr.Interactions([0], [0], timestamps=[1])
    with pytest.raises(DataError, match="gap, max_len or both"):
        sessions_by_gap(data)
    for gap in (-1, float("nan"), float("inf")):
        with pytest.raises(DataError, match="gap"):
            sessions_by_gap(data, gap=gap)
    with pytest.raises(DataError, match="max_len"):
        sessions_by_gap(data, max_len=0)


def test_sequences_fields_follow_subset():
    s = Sequences.from_lists([[0, 1], [2], [3, 4, 0]], n_items=5, users=[1, -1, 0],
                             end_time=[5.0, 7.0, 6.0], session_ids=["a", "b", "c"],
                             user_ids=["u0", "u1"])
    t = s.subset([2, 0])
    assert t.end_time.tolist() == [6.0, 5.0] and t.session_ids.tolist() == ["c", "a"]
    assert t.user_ids.tolist() == ["u0", "u1"] and t.users.tolist() == [0, 1]
    assert s.subset(np.array([False, True, False])).end_time.tolist() == [7.0]
    with pytest.raises(DataError, match="end_time must hold 3"):
        Sequences.from_lists([[0], [1], [2]], n_items=3, end_time=[1.0])
    with pytest.raises(DataError, match=r"end_time\[1\] is nan"):
        Sequences.from_lists([[0], [1]], n_items=3, end_time=[1.0, np.nan])
    with pytest.raises(DataError, match="session_ids must hold 2"):
        Sequences.from_lists([[0], [1]], n_items=3, session_ids=["a"])
    with pytest.raises(DataError, match="user_ids has 1 entries but users go up to 1"):
        Sequences.from_lists([[0], [1]], n_items=3, users=[0, 1], user_ids=["a"])


def test_filter_sessions_as_the_papers():
    s = Sequences.from_lists([[0], [0, 1], [1, 2, 3], [0, 2], [3, 0]], n_items=5,
                             session_ids=["a", "b", "c", "d", "e"])
    out, stats = filter_sessions(s, min_length=2, min_item_count=2)
    # events of sessions b..e (a is too short): item 0 x3, 1 x2, 2 x2, 3 x2: none rare at 2
    assert [list(x) for x in out] == [[0, 1], [1, 2, 3], [0, 2], [3, 0]]
    assert stats["n_short_sessions"] == 1 and stats["n_rare_events"] == 0
    out, stats = filter_sessions(s, min_length=2, min_item_count=3)
    # rare at 3: items 1, 2, 3 -> b=[0], c=[], d=[0], e=[0]: all emptied below 2
    assert len(out) == 0 and stats["n_rare_items"] == 3 and stats["n_rare_events"] == 6
    assert stats["n_emptied_sessions"] == 4 and stats["n_events"] == 0
    out, stats = filter_sessions(Sequences.from_lists([[4, 4, 1], [4, 2]], n_items=5),
                                 min_item_count=2)
    assert [list(x) for x in out] == [[4, 4]] and stats["n_emptied_sessions"] == 1


@pytest.fixture
def log_sessions():
    # ends:    10   20   30   40   50 (session e ends last)
    return Sequences.from_lists([[0, 1, 2], [1, 2], [2, 0], [3, 1, 4], [0, 4]], n_items=6,
                                end_time=[10.0, 20.0, 30.0, 40.0, 50.0],
                                session_ids=list("abcde"))


def test_split_sessions_by_time_cutoff_and_unknown_items(log_sessions, caplog):
    import logging
    # train a, b, c hold items 0, 1, 2; test d = [3, 1, 4] loses 3 and 4 -> [1], and
    # e = [0, 4] loses 4 -> [0]: both under the default two items
    with pytest.raises(DataError, match="no test session: 2 session.*2 of them dropped"):
        split_sessions_by_time(log_sessions, cutoff=30)
    with caplog.at_level(logging.INFO, logger="minigraphrec.sequences"):
        train, test, stats = split_sessions_by_time(log_sessions, cutoff=30,
                                                    min_test_length=1)
    assert train.session_ids.tolist() == ["a", "b", "c"]
    assert [list(x) for x in test] == [[1], [0]] and test.session_ids.tolist() == ["d", "e"]
    assert stats == {"cutoff": 30.0, "n_train_sessions": 3, "n_test_sessions": 2,
                     "n_test_events_removed": 3, "n_test_sessions_dropped": 0,
                     "n_sessions_at_cut": 1, "n_items": 3}
    assert train.n_items == test.n_items == 3 and train.item_ids.tolist() == [0, 1, 2]
    assert test.end_time.tolist() == [40.0, 50.0]                  # kept after removals
    assert "removed 3 test events" in caplog.text


def test_split_sessions_by_time_span_fraction_and_ties(log_sessions):
    s = Sequences(log_sessions.indptr, log_sessions.items, 6,
                  end_time=[10.0, 20.0, 30.0, 30.0, 50.0], session_ids=list("abcde"))
    _, test, stats = split_sessions_by_time(s, test_span=25, min_test_length=1)
    assert stats["cutoff"] == 25.0 and test.session_ids.tolist() == ["c", "d", "e"]
    # test_fraction 0.4: 2 of 5 aimed at test; the cut is the 3rd end time, 30, and d
    # (also 30) stays in train with c: test is only e
    train, test, stats = split_sessions_by_time(s, test_fraction=0.4, min_test_length=1)
    assert stats["cutoff"] == 30.0 and train.session_ids.tolist() == ["a", "b", "c", "d"]
    assert [list(x) for x in test] == [[0, 4]] and stats["n_test_events_removed"] == 0
    # without compaction the ids stay; item 5 (never seen) is still in the catalogue
    train, test, stats = split_sessions_by_time(s, cutoff=30, compact_items=False,
                                                min_test_length=1)
    assert train.n_items == 6 and stats["n_items"] == 6 and train.item_ids is None
    assert [list(x) for x in test] == [[0, 4]]


def test_split_sessions_by_time_boundary_keeps_or_drops_the_sessions_at_the_cut(caplog):
    import logging
    # c and d end exactly at the cut 30; c alone holds item 3, which test session e holds
    s = Sequences.from_lists([[0, 1, 2], [1, 2], [2, 3, 1], [0, 1], [1, 3, 2], [0, 2]],
                             n_items=5, end_time=[10.0, 20.0, 30.0, 30.0, 40.0, 50.0],
                             session_ids=list("abcdef"))
    for how in ({"cutoff": 30}, {"test_span": 20}):
        train, test, stats = split_sessions_by_time(s, **how)               # "train"
        assert train.session_ids.tolist() == ["a", "b", "c", "d"]
        assert test.session_ids.tolist() == ["e", "f"] and stats["n_sessions_at_cut"] == 2
        assert [train.item_ids[x].tolist() for x in test] == [[1, 3, 2], [0, 2]]
        with caplog.at_level(logging.INFO, logger="minigraphrec.sequences"):
            train, test, stats = split_sessions_by_time(s, boundary="drop", **how)
        # the SR-GNN script's rule: train end < cut, test end > cut
        assert train.session_ids.tolist() == [k for k, t in zip("abcdef", s.end_time) if t < 30]
        assert test.session_ids.tolist() == [k for k, t in zip("abcdef", s.end_time) if t > 30]
        assert stats["n_sessions_at_cut"] == 2 and stats["n_train_sessions"] == 2
        # item 3 is known only through c: gone from the catalogue and from e
        assert train.item_ids.tolist() == [0, 1, 2] and stats["n_test_events_removed"] == 1
        assert [train.item_ids[x].tolist() for x in test] == [[1, 2], [0, 2]]
        assert "dropped 2 sessions ending exactly at the cut 30.0" in caplog.text
        caplog.clear()
    # nothing before the cut: the message counts the dropped sessions
    late = s.subset([2, 3, 4, 5])
    with pytest.raises(DataError, match=r"no training event: 2 of the 4 sessions end after "
                                        r"the cut 30.0, 2 end exactly at it \(dropped"):
        split_sessions_by_time(late, cutoff=30, boundary="drop")
    assert split_sessions_by_time(late, cutoff=30)[2]["n_train_sessions"] == 2
    with pytest.raises(ValueError, match="boundary must be 'train' or 'drop'.*'test'"):
        split_sessions_by_time(s, cutoff=30, boundary="test")
    with pytest.raises(ValueError, match="boundary='drop' goes with cutoff or test_span"):
        split_sessions_by_time(s, test_fraction=0.3, boundary="drop")


def _recent_fraction_by_brute_force(lists, end_time, fraction):
    """Sessions sorted by (end time, input position), taken newest first until their
    examples reach fraction * N: the indices, in input order."""
    n_ex = [max(len(x) - 1, 0) for x in lists]
    newest_first = sorted(range(len(lists)), key=lambda k: (end_time[k], k), reverse=True)
    kept, covered = [], 0
    for k in newest_first:
        kept.append(k)
        covered += n_ex[k]
        if covered >= fraction * sum(n_ex):
            break
    return sorted(kept)


def test_recent_fraction_equals_brute_force_and_covers_the_script():
    rng = np.random.default_rng(0)
    for trial in range(320):
        # the last 20 trials large enough for int(N / 64) to be 10 or more, so that the
        # check against the script's examples bites at 1/64 too
        n = int(rng.integers(1, 30)) if trial < 300 else int(rng.integers(300, 600))
        lists = [rng.integers(0, 8, rng.integers(1, 7)).tolist() for _ in range(n)]
        if all(len(x) < 2 for x in lists):
            lists[0] = [1, 2]
        end = rng.integers(0, 6, n).astype(float)                  # many ties
        fraction = [1 / 64, 1 / 4, 0.5, 1.0, float(rng.uniform(0.01, 1))][trial % 5]
        s = Sequences.from_lists(lists, n_items=9, end_time=end, session_ids=np.arange(n))
        out = recent_fraction(s, fraction)
        expected = _recent_fraction_by_brute_force(lists, end, fraction)
        assert out.session_ids.tolist() == expected
        assert out.n_items == 9 and out.end_time.tolist() == end[expected].tolist()
        # the authors' script: examples of the time-ordered sessions, each session's longest
        # prefix first, the last int(N * fraction) kept; all of them are kept here, and the
        # rest come from one session, the oldest kept
        order = sorted(range(n), key=lambda k: (end[k], k))
        script = [(k, len(lists[k]) - i) for k in order for i in range(1, len(lists[k]))]
        if trial >= 300:
            assert int(len(script) * fraction) >= 10 or fraction > 1 / 64
        script = script[len(script) - int(len(script) * fraction):]
        ours = [(k, t) for k in expected for t in range(1, len(lists[k]))]
        extra = set(ours) - set(script)
        assert set(script) <= set(ours) and len({k for k, _ in extra}) <= 1
        assert {k for k, _ in extra} <= {min(expected, key=lambda k: (end[k], k))}


def test_recent_fraction_by_hand_and_rejects(log_sessions):
    # examples per session a..e: 2, 1, 1, 2, 1 (N = 7), ends 10..50: newest first e, d, ...
    assert recent_fraction(log_sessions, 1 / 7).session_ids.tolist() == ["e"]
    assert recent_fraction(log_sessions, 3 / 7).session_ids.tolist() == ["d", "e"]
    assert recent_fraction(log_sessions, 0.5).session_ids.tolist() == ["c", "d", "e"]
    assert recent_fraction(log_sessions, 1).session_ids.tolist() == list("abcde")
    tied = Sequences(log_sessions.indptr, log_sessions.items, 6, end_time=[9.0] * 5,
                     session_ids=list("abcde"))          # equal ends: later input is newer
    assert recent_fraction(tied, 1 / 7).session_ids.tolist() == ["e"]
    for bad in (0, -0.5, 1.5, float("nan")):
        with pytest.raises(DataError, match="fraction must be"):
            recent_fraction(log_sessions, bad)
    with pytest.raises(TypeError, match="fraction must be a real number"):
        recent_fraction(log_sessions, "1/64")
    with pytest.raises(DataError, match="recent_fraction needs each session's end_time"):
        recent_fraction(Sequences.from_lists([[0, 1]]), 0.5)
    with pytest.raises(DataError, match="none of the 2 sessions holds a prefix example"):
        recent_fraction(Sequences.from_lists([[0], [1]], end_time=[1.0, 2.0]), 0.5)
    with pytest.raises(TypeError, match="sessions must be a Sequences"):
        recent_fraction([[0, 1]], 0.5)


def test_split_sessions_by_time_rejects(log_sessions):
    with pytest.raises(DataError, match="end_time"):
        split_sessions_by_time(Sequences.from_lists([[0, 1]]), cutoff=1)
    for kwargs in ({}, {"cutoff": 1, "test_span": 2}):
        with pytest.raises(DataError, match="exactly one"):
            split_sessions_by_time(log_sessions, **kwargs)
    with pytest.raises(DataError, match="no training event"):
        split_sessions_by_time(log_sessions, cutoff=0)
    with pytest.raises(DataError, match="test_fraction"):
        split_sessions_by_time(log_sessions, test_fraction=1.0)
    with pytest.raises(DataError, match="test_span"):
        split_sessions_by_time(log_sessions, test_span=-1)
    with pytest.raises(DataError, match="min_test_length"):
        split_sessions_by_time(log_sessions, cutoff=30, min_test_length=0)
    with pytest.raises(DataError, match="min_length"):
        filter_sessions(log_sessions, min_length=0)
    with pytest.raises(DataError, match="min_item_count"):
        filter_sessions(log_sessions, min_item_count=-1)


def test_evaluate_next_item_refuses_prefixes_numbered_apart_from_the_model():
    import minigraphrec as mgr
    train = Sequences.from_lists([[0, 1, 2], [1, 2]], n_items=3, item_ids=["a", "b", "c"])
    model = mgr.MarkovChain().fit(train)
    apart = Sequences.from_lists([[0], [1]], n_items=3, item_ids=["c", "b", "a"])
    with pytest.raises(DataError, match=r"prefixes item 0 has raw id 'c', but the model's item "
                                        r"0 is 'a' .*Make the training sessions and the "
                                        r"prefixes from one data set"):
        evaluate_next_item(model, apart, [1, 2])
    same = Sequences.from_lists([[0], [1]], n_items=3, item_ids=["a", "b", "c"])
    assert evaluate_next_item(model, same, [1, 2])["n_examples"] == 2


def test_ids_beyond_int64_are_named_not_wrapped():
    """1e20 and 2**63 + 5 wrapped in the cast to int64 and were reported as id
    -9223372036854775808, a number the caller never wrote."""
    for ids in ([1.0, 1e20], np.array([1, 2**63 + 5], dtype=np.uint64)):
        with pytest.raises(DataError, match=r"sequence 0, position 1: .* is not an item id "
                                            r"\(beyond int64\)"):
            Sequences.from_lists([ids], n_items=5)


def test_evaluate_next_item_checks_the_score_shape_and_names_a_nan_example():
    """A model scoring 3 of 5 items blamed the targets; one scoring 8 was evaluated over 8
    items; a NaN was named by its row within a block."""
    prefixes = Sequences.from_lists([[0, 1], [3], [2, 4], [1]], n_items=5)
    targets = np.array([2, 4, 0, 3])
    for width in (3, 8):
        with pytest.raises(DataError, match=rf"score_sessions returned shape \(4, {width}\), "
                                            r"expected \(4, 5\)"):
            evaluate_next_item(_Constant(np.arange(width, dtype=float)), prefixes, targets)
    row = np.arange(5, dtype=float)

    class NaNAtThird:
        def score_sessions(self, sessions):
            S = np.tile(row, (len(sessions), 1))
            if self.first + len(sessions) > 2 >= self.first:
                S[2 - self.first, 1] = np.nan
            self.first += len(sessions)
            return S
    for batch_size in (1, 2, 1024):
        model = NaNAtThird()
        model.first = 0
        with pytest.raises(DataError, match="score_sessions gave NaN for example 2"):
            evaluate_next_item(model, prefixes, targets, batch_size=batch_size)


def test_prefix_examples_refuses_a_quadratic_blow_up_naming_the_longest(monkeypatch):
    """One 100,000-event sequence would ask for 5e9 ids (40 GB); the size
    is known before anything is allocated. max_len keeps it linear."""
    import minigraphrec.sequences as sq
    monkeypatch.setattr(sq, "_MAX_PREFIX_IDS", 40)
    seqs = Sequences.from_lists([[0, 1, 2], list(range(10)), [3, 4]], n_items=10)
    with pytest.raises(DataError, match=r"prefix_examples would hold 49 item ids .* sequence 1 "
                                        r"has 10 items; pass max_len"):
        sq.prefix_examples(seqs)
    prefixes, targets = sq.prefix_examples(seqs, max_len=3)              # 3 + 24 + 1 ids
    assert prefixes.items.size == 28 and targets.tolist() == [1, 2, *range(1, 10), 4]


# ---------------------------------------------------------------- lossy casts, named arguments
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ranks_refuse_complex_scores_not_cut_to_their_real_part(backend):
    """A complex block was cast to float64 with only a ComplexWarning: its imaginary part,
    which can change the order, was dropped."""
    S = np.array([[0.0, 1.0, 2.0]]) + np.array([[3j, 0j, 0j]])
    with pytest.raises(DataError, match=r"scores must have a real \(bool, integer or float\) "
                                        r"dtype, got complex128: the imaginary part"):
        next_item_ranks(S, [0], backend=backend)
    with pytest.raises(DataError, match="scores must have a real .* got <U1"):
        next_item_ranks(np.array([["a", "b"]]), [0], backend=backend)
    assert next_item_ranks(np.array([[0, 5, 1]]), [2], backend=backend).tolist() == [1]


def test_evaluate_next_item_refuses_a_model_that_scores_in_complex():
    class Complex(_Fixed):
        def score_sessions(self, sessions):
            return super().score_sessions(sessions) + 1j

    prefixes = Sequences.from_lists([[0, 1], [3]], n_items=6)
    with pytest.raises(DataError, match="scores must have a real .* complex128"):
        evaluate_next_item(Complex(), prefixes, [2, 4])


@pytest.mark.parametrize("end_time, match", [
    (["x", "y"], r"end_time must hold numbers \(times\), got dtype <U1; end_time\[0\] is 'x'"),
    ([1.0, None], r"end_time\[1\] is None; a time is a number"),
    ([1.0, "2"], r"end_time must hold numbers \(times\), got dtype <U32; end_time\[0\] is '1.0'"),
    ([1.0, 2j], r"end_time must hold numbers \(times\), got dtype complex128 \(complex values "
                r"are not taken: the imaginary part would be lost\)"),
    ([True, False], r"end_time must hold numbers \(times\), got dtype bool"),
    ([1.0], r"end_time must hold 2 times \(one per sequence\), got shape \(1,\)"),
    ([1.0, np.inf], r"end_time\[1\] is inf; times must be finite"),
])
def test_end_time_is_refused_naming_it(end_time, match):
    """Was: "could not convert string to float: 'x'" (no argument named), and a complex time
    silently cut to its real part."""
    with pytest.raises(DataError, match=match):
        Sequences([0, 1, 2], [0, 1], 2, end_time=end_time)
    times = Sequences([0, 1, 2], [0, 1], 2, end_time=[3, 4.5]).end_time      # ints and floats
    assert times.dtype == np.float64 and times.tolist() == [3.0, 4.5]
    assert Sequences([0, 1, 2], [0, 1], 2,
                     end_time=np.array([3, 4.5], dtype=object)).end_time.tolist() == [3.0, 4.5]


def test_user_sequences_carry_the_raw_user_ids_and_end_times():
    """user_sequences dropped data's user_ids (sessions_by_gap kept them), so a model fitted on
    them numbered the users 0..n-1 where one fitted on data knows them as 70, 30; and it set no
    end_time, which split_sessions_by_time and recent_fraction need."""
    data = mgr.Interactions([0, 0, 1, 1, 1], [0, 1, 1, 2, 0], timestamps=[1, 7, 3, 4, 2],
                            user_ids=[70, 30], item_ids=[5, 6, 7])
    seqs = user_sequences(data)
    assert seqs.user_ids.tolist() == [70, 30] and seqs.end_time.tolist() == [7.0, 4.0]
    assert user_sequences(data, max_len=1).end_time.tolist() == [7.0, 4.0]
    model = mgr.MarkovChain().fit(seqs)
    assert model.user_ids_.tolist() == mgr.MarkovChain().fit(data).user_ids_.tolist() == [70, 30]


def test_prefixes_and_leave_last_out_keep_the_id_maps():
    """prefix_examples and leave_last_out dropped user_ids and session_ids: a model fitted on
    their output lost the users' raw ids."""
    seqs = Sequences.from_lists([[0, 1, 2], [2, 1], [3]], n_items=4, users=[1, 0, 1],
                                user_ids=["b", "a"], session_ids=[10, 11, 12])
    P, T = prefix_examples(seqs)
    assert P.user_ids.tolist() == ["b", "a"] and P.session_ids.tolist() == [10, 10, 11]
    assert P.users.tolist() == [1, 1, 0]
    train, test_prefixes, _ = leave_last_out(seqs)
    for part, sessions in ((train, [10, 11, 12]), (test_prefixes, [10, 11])):
        assert part.user_ids.tolist() == ["b", "a"] and part.session_ids.tolist() == sessions


def test_sequences_refuse_bad_users_ids_and_positions_by_name():
    """A uint64 user id beyond int64 wrapped to -1 (an anonymous session, silently); a bool
    users array was named by its (right) shape; item_ids as a scalar crashed in len(); a 0-d
    user_ids was said to hold "0 entries"; a ragged list of ids raised NumPy's ValueError
    naming no sequence; ``seqs[True]`` was sequence 1 and ``seqs[1.5]`` NumPy's IndexError."""
    with pytest.raises(DataError, match=r"users\[0\] = 18446744073709551615 is beyond"):
        Sequences([0, 1], [0], 2, users=np.array([2**64 - 1], dtype=np.uint64))
    with pytest.raises(DataError, match="users must hold integer user ids, got dtype bool"):
        Sequences([0, 1], [0], 2, users=[True])
    with pytest.raises(DataError, match=r"item_ids must hold 2 raw ids \(one per item\), got "
                                        r"shape \(\)"):
        Sequences([0, 1], [0], 2, item_ids=5)
    with pytest.raises(DataError, match=r"item_ids must hold 2 raw ids .* shape \(2, 1\)"):
        Sequences([0, 1], [0], 2, item_ids=[[5], [6]])
    with pytest.raises(DataError, match=r"user_ids must be a 1-d array .* shape \(\)"):
        Sequences([0, 1], [0], 2, user_ids=5)
    with pytest.raises(DataError, match="sequence 1 must be a flat list of item ids"):
        Sequences.from_lists([[0], [1, [2]]])
    seqs = Sequences.from_lists([[0, 1], [2]], n_items=3)
    for bad in (True, np.bool_(False), 1.0, "1", None):
        with pytest.raises(TypeError, match="indexed by one integer position"):
            seqs[bad]
    assert seqs[np.int64(-1)].tolist() == [2] and seqs[0].tolist() == [0, 1]
