"""Sequences: CSR layout, per-user ordering by time, prefixes, leave-last-out, next-item metrics."""
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import DataError
from minigraphrec.sequences import (Sequences, evaluate_next_item, leave_last_out,
                                    next_item_ranks, prefix_examples, user_sequences)


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


def test_ranks_follow_the_tie_rule():
    S = np.array([[0.5, 0.9, 0.5, 0.1],
                  [1.0, 1.0, 1.0, 1.0]])
    # row 0, target 2: item 1 is higher and item 0 ties with a smaller id -> rank 2
    # row 1, target 3: three equal scores with smaller ids ahead -> rank 3
    assert list(next_item_ranks(S, [2, 3])) == [2, 3]
    exclude = np.array([[False, True, False, False], [False, False, False, True]])
    assert list(next_item_ranks(S, [2, 3], exclude)) == [1, 4]


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
