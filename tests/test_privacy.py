"""Membership inference (minigraphrec.privacy): the attack's numbers against brute force, the
rank signal against a per-user count, the input checks, and what the audit is for: an
overfitted MF reveals its training pairs, and forgetting by retraining removes that."""
import copy

import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import DataError, Interactions
from minigraphrec.privacy import membership_inference, threshold_attack
from minigraphrec.split import random_split


# ------------------------------------------------------------ references
def brute_auc(x, y):
    """P(x > y) + ½ P(x = y) over all n·m pairs, the count as an integer (2U), one division."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    two_u = int(2 * np.sum(x[:, None] > y[None, :]) + np.sum(x[:, None] == y[None, :]))
    return two_u / (2 * x.size * y.size)


def brute_advantage(x, y):
    """max over every threshold t (each value, and +inf) of #{x >= t}/n - #{y >= t}/m, and
    the highest t reaching it (inf when none beats 0), by trying them all."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    best, best_t = 0, float("inf")                       # t = +inf: never "member", gain 0
    for t in sorted(set(x) | set(y), reverse=True):
        gain = int(np.sum(x >= t)) * y.size - int(np.sum(y >= t)) * x.size   # n m (TPR-FPR)
        if gain > best:
            best, best_t = gain, float(t)
    return best / (x.size * y.size), best_t


def brute_rank(S_row, item):
    """(#{j: s_j < s_i} + ½ #{j != i: s_j = s_i}) / (n_items - 1), by comparing every item."""
    s = S_row[item]
    below = np.sum(S_row < s)
    equal_others = np.sum(S_row == s) - 1
    return (below + 0.5 * equal_others) / (S_row.size - 1)


@pytest.fixture(scope="module")
def split():
    data = mgr.datasets.synthetic(n_users=150, n_items=120, mean_interactions=15,
                                  random_state=0)
    return random_split(data, test_size=0.3, random_state=0)


# ------------------------------------------------------------ the attack on signals
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shift", [1, 0, -1])
def test_auc_and_advantage_equal_brute_force_on_tied_integer_signals(seed, shift):
    """Integers in 0..4: many ties within and across the sets; half the members shifted
    up, not at all, or down; and every signal negated (the other orientation)."""
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 60, size=2)
    x = rng.integers(0, 5, size=n) + (rng.random(n) < 0.5) * shift
    y = rng.integers(0, 5, size=m)
    result = threshold_attack(x, y)
    assert result.auc == brute_auc(x, y)
    assert (result.advantage, result.threshold) == brute_advantage(x, y)
    assert (result.n_members, result.n_non_members) == (n, m)
    assert result.member_signal.dtype == np.float64
    assert np.array_equal(result.member_signal, x) and np.array_equal(result.non_member_signal, y)
    # the other orientation: AUC(-x, -y) = P(x < y) + ½ P(x = y) = 1 - AUC(x, y)
    flipped = threshold_attack(-x, -y)
    assert flipped.auc == brute_auc(-x, -y)
    assert flipped.auc == pytest.approx(1 - result.auc, abs=1e-15)
    assert (flipped.advantage, flipped.threshold) == brute_advantage(-x, -y)


def test_auc_on_continuous_signals_and_orientation():
    rng = np.random.default_rng(7)
    x, y = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 200)
    up, down = threshold_attack(x, y), threshold_attack(y, x)
    assert up.auc == brute_auc(x, y)
    assert down.auc == brute_auc(y, x)
    # no ties: the two orientations' AUCs sum to 1 (exactly: the same integer count)
    assert up.auc + down.auc == 1.0
    assert (up.advantage, up.threshold) == brute_advantage(x, y)
    assert (down.advantage, down.threshold) == brute_advantage(y, x)


@pytest.mark.parametrize("x, y, auc, advantage, threshold", [
    ([3.0], [1.0], 1.0, 1.0, 3.0),
    ([1.0], [3.0], 0.0, 0.0, float("inf")),
    ([2.0], [2.0], 0.5, 0.0, float("inf")),
    # t = 3: TPR 0, FPR 1/3; t = 2: TPR 1, FPR 2/3 (the best, 1/3); t = 1: TPR 1, FPR 1
    ([2.0], [1.0, 2.0, 3.0], 0.5, 1 / 3, 2.0),
    ([5.0, 5.0, 5.0], [5.0, 5.0], 0.5, 0.0, float("inf")),
    ([-np.inf, 1.0], [0.0], 0.5, 0.5, 1.0),
])
def test_small_cases_by_hand(x, y, auc, advantage, threshold):
    result = threshold_attack(x, y)
    assert result.auc == auc == brute_auc(x, y)
    assert (result.advantage, result.threshold) == (advantage, threshold) == brute_advantage(x, y)


def test_roc_curve_area_is_the_auc_and_its_best_point_the_advantage():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 6, 80) + 1, rng.integers(0, 6, 50)
    result = threshold_attack(x, y)
    fpr, tpr = result.roc_curve()
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))   # trapezoids
    assert area == pytest.approx(result.auc, rel=1e-13)
    assert np.max(tpr - fpr) == pytest.approx(result.advantage, rel=1e-13)


def test_repr_is_readable():
    result = threshold_attack([3, 2, 1], [0, 1], signal="rank")
    text = repr(result)
    assert text.startswith("MembershipAttack(signal='rank', auc=0.9167, advantage=")
    assert "3 members vs 2 non-members" in text
    assert "no threshold beats guessing" in repr(threshold_attack([0], [1]))


@pytest.mark.parametrize("x, y, match", [
    ([], [1.0], "member_signal is empty"),
    ([1.0], [], "non_member_signal is empty"),
    ([[1.0]], [1.0], "member_signal must be 1-d"),
    ([1.0, np.nan], [1.0], r"member_signal\[1\] is NaN"),
    ([1.0], ["a"], "must be real numbers"),
])
def test_threshold_attack_refuses_bad_signals(x, y, match):
    with pytest.raises(DataError, match=match):
        threshold_attack(x, y)


# ------------------------------------------------------------ the signals from a model
@pytest.mark.parametrize("make", [mgr.Popularity, mgr.ItemKNN])
@pytest.mark.parametrize("signal", ["rank", "score"])
def test_signals_equal_a_brute_force_per_user_count(split, make, signal):
    """Popularity: many ties (items of equal counts), so the mid-rank rule is exercised."""
    train, test = split
    model = make().fit(train)
    result = membership_inference(model, train, test, signal=signal)
    S = model.score(np.arange(model.n_users_))                          # (n_users, n_items)
    for pairs, values in ((result.members, result.member_signal),
                          (result.non_members, result.non_member_signal)):
        if signal == "rank":
            expected = [brute_rank(S[u], i) for u, i in pairs]
        else:
            expected = [S[u, i] for u, i in pairs]
        assert np.array_equal(values, expected)
    # the pairs are the distinct pairs of each set, sorted by (user, item)
    for pairs, inter in ((result.members, train), (result.non_members, test)):
        assert np.array_equal(pairs, np.unique(np.stack([inter.users, inter.items], 1), axis=0))
    assert result.auc == brute_auc(result.member_signal, result.non_member_signal)
    if make is mgr.Popularity and signal == "rank":
        assert len(np.unique(result.member_signal)) < 0.5 * result.n_members   # ties indeed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
def test_mid_rank_kernel_gives_the_bits_of_the_sorting_reference(dtype, seed):
    """``kernels.mid_rank.mid_ranks`` against ``privacy._mid_ranks_numpy``, exact: rows of
    few distinct values (ties everywhere), of distinct values, with ±huge finite scores,
    rows with no item, one item, and every item; by scans, by merges and by both; under one
    thread and two."""
    from minigraphrec.kernels.mid_rank import mid_ranks
    from minigraphrec.privacy import _mid_ranks_numpy
    rng = np.random.default_rng(seed)
    n_rows, n_items = 12, 300
    S = np.where(rng.random((n_rows, n_items)) < 0.5,
                 rng.integers(-3, 4, (n_rows, n_items)),
                 rng.standard_normal((n_rows, n_items))).astype(dtype)
    S[1] = 2.0                                                    # one value: all tied
    S[2, :5] = [np.finfo(dtype).max, -np.finfo(dtype).max, 0.0, -0.0, np.finfo(dtype).tiny]
    sizes = rng.integers(0, 40, n_rows)
    sizes[[0, 1, 3]] = [0, n_items, 1]                            # none, every item, one
    items = np.concatenate([np.sort(rng.choice(n_items, size, replace=False))
                            for size in sizes]).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    expected = np.full(items.size, np.nan)
    _mid_ranks_numpy(S, indptr, items, expected)
    assert not np.isnan(expected).any()
    assert np.array_equal(expected[indptr[1]:indptr[2]], np.full(n_items, 0.5))   # all tied
    for scan_max in (0, 5, 10_000):                 # all merges, both paths, all scans
        for n_threads in (1, 2):
            got = np.full(items.size, np.nan)
            with mgr.threads(n_threads):
                mid_ranks(S, indptr, items, scan_max, got)
            assert np.array_equal(got, expected), (scan_max, n_threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mid_rank_kernel_over_several_spans_and_thousands_of_ties(dtype):
    """Rows longer than the scan's span (4096 items: counts summed span by span) and a row
    whose 3,000 items all tie at 0 (the merge path's searches; they walked the ties one by
    one, a quadratic cost, before)."""
    from minigraphrec.kernels.mid_rank import mid_ranks
    from minigraphrec.privacy import _mid_ranks_numpy
    rng = np.random.default_rng(1)
    n = 3 * 4096 + 17
    S = rng.integers(-2, 3, (3, n)).astype(dtype)
    S[2] = 0.0
    S[2, :40] = rng.random(40)
    items = np.concatenate([rng.choice(n, 50, replace=False), rng.choice(n, 500, replace=False),
                            40 + rng.choice(n - 40, 3000, replace=False)]).astype(np.int64)
    indptr = np.array([0, 50, 550, 3550], dtype=np.int64)
    expected = np.full(items.size, np.nan)
    _mid_ranks_numpy(S, indptr, items, expected)
    for scan_max in (0, 128, 10**9):
        got = np.full(items.size, np.nan)
        mid_ranks(S, indptr, items, scan_max, got)
        assert np.array_equal(got, expected), scan_max


@pytest.mark.parametrize("make", [mgr.Popularity, lambda: mgr.MF(dim=8, epochs=2,
                                                                  random_state=0)])
def test_membership_inference_same_bits_on_both_backends(split, make):
    train, test = split
    model = make().fit(train)
    a = membership_inference(model, train, test, backend="numba", batch_size=7)
    b = membership_inference(model, train, test, backend="numpy")
    assert np.array_equal(a.member_signal, b.member_signal)
    assert np.array_equal(a.non_member_signal, b.non_member_signal)
    assert (a.auc, a.advantage, a.threshold) == (b.auc, b.advantage, b.threshold)
    with pytest.raises(DataError, match="backend must be one of"):
        membership_inference(model, train, test, backend="torch")


def test_rank_by_hand_on_popularity():
    """Item counts 3, 1, 1, 0 (items 0..3): item 1 beats item 3, ties item 2: (1 + ½) / 3."""
    train = Interactions([0, 1, 2, 0, 1], [0, 0, 0, 1, 2], n_users=4, n_items=4)
    model = mgr.Popularity().fit(train)
    result = membership_inference(model, np.array([[0, 1], [1, 2], [2, 0]]),
                                  np.array([[3, 3], [3, 1]]))
    assert np.array_equal(result.member_signal, [1.5 / 3, 1.5 / 3, 1.0])
    assert np.array_equal(result.non_member_signal, [1.5 / 3, 0.0])   # (3, 1), (3, 3) sorted
    assert np.array_equal(result.non_members, [[3, 1], [3, 3]])
    # members' x = ½, ½, 1 against y = ½, 0: 2U = (1 + 2) + (1 + 2) + (2 + 2) = 10, of 2·3·2
    assert result.auc == 10 / 12


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_blocks_do_not_change_the_result(split, batch_size):
    train, test = split
    model = mgr.MF(dim=8, epochs=2, random_state=0).fit(train)
    whole = membership_inference(model, train, test, batch_size=10_000)     # one block
    blocks = membership_inference(model, train, test, batch_size=batch_size)
    assert np.array_equal(whole.member_signal, blocks.member_signal)
    assert np.array_equal(whole.non_member_signal, blocks.non_member_signal)
    assert (whole.auc, whole.advantage, whole.threshold) == \
        (blocks.auc, blocks.advantage, blocks.threshold)


def test_interactions_and_pair_arrays_agree_and_repeats_count_once(split):
    train, test = split
    model = mgr.ItemKNN().fit(train)
    as_inter = membership_inference(model, train, test)
    arr = np.stack([train.users, train.items], 1)
    arr = np.concatenate([arr, arr[:5]])                            # 5 repeated pairs
    as_array = membership_inference(model, arr, np.stack([test.users, test.items], 1)[::-1])
    assert as_array.n_members == as_inter.n_members == len(np.unique(arr, axis=0))
    assert np.array_equal(as_array.member_signal, as_inter.member_signal)
    assert np.array_equal(as_array.non_member_signal, as_inter.non_member_signal)
    assert as_array.auc == as_inter.auc


def test_same_input_same_result(split):
    train, test = split
    a = membership_inference(mgr.MF(dim=8, epochs=3, random_state=1).fit(train), train, test)
    b = membership_inference(mgr.MF(dim=8, epochs=3, random_state=1).fit(train), train, test)
    assert np.array_equal(a.member_signal, b.member_signal)
    assert np.array_equal(a.non_member_signal, b.non_member_signal)
    assert (a.auc, a.advantage, a.threshold) == (b.auc, b.advantage, b.threshold)


# ------------------------------------------------------------ input checks
@pytest.fixture(scope="module")
def small():
    """Popularity on 6 users x 5 items; non-members (5, 4), (4, 4) are not training pairs."""
    train = Interactions([0, 0, 1, 2, 3, 4], [0, 1, 1, 2, 3, 0], n_users=6, n_items=5)
    return mgr.Popularity().fit(train)


@pytest.mark.parametrize("members, non_members, match", [
    ([[0, 0], [9, 1]], [[5, 4]], r"members user id 9 in row 1 is outside the model's users "
                                 r"0\.\.5"),
    ([[0, 0]], [[5, 5]], r"non_members item id 5 in row 0 is outside the model's items 0\.\.4"),
    ([[0, -1]], [[5, 4]], r"members item id -1 in row 0 is outside"),
    (np.array([[0.0, 0.0]]), [[5, 4]], "members must hold integer ids, got dtype float64"),
    ([[0, 0, 1]], [[5, 4]], r"members must be an \(n, 2\) array"),
    (np.zeros((0, 2), dtype=int), [[5, 4]], "members is empty"),
    ([[0, 0]], [], "non_members is empty"),
    ([[0, 0], [5, 4]], [[5, 4]], r"1 pair is both members and non-members, the first "
                                 r"\(user 5, item 4\)"),
    ([[0, 0]], [[5, 4], [1, 1], [2, 2], [4, 4]],
     r"2 of the 4 non-members are training pairs of the model \(in its R_\), the first "
     r"\(user 1, item 1\)"),
    ([[1, 1]], [[0, 0]], r"1 of the 1 non-members is a training pair .* \(user 0, item 0\)"),
    ((np.array([0, 1]), np.array([0, 1])), [[5, 4]], r"\(users, items\) pair of arrays.*"
                                                     r"np.column_stack"),
])
def test_bad_pairs_are_refused_with_what_and_where(small, members, non_members, match):
    with pytest.raises(DataError, match=match):
        membership_inference(small, members, non_members)


def test_interactions_out_of_range_and_numbered_apart(small):
    with pytest.raises(DataError, match=r"non_members user id 7 at position 1 is outside the "
                                        r"model's users 0\.\.5"):
        membership_inference(small, [[0, 0]], Interactions([5, 7], [4, 4], n_users=8))
    raw = Interactions([5], [4], n_users=6, n_items=5,
                       user_ids=np.array(list("abcdef")), item_ids=np.arange(5))
    model = mgr.Popularity().fit(Interactions([0, 0], [0, 1], n_users=6, n_items=5,
                                              user_ids=np.array(list("fedcba"))))
    with pytest.raises(DataError, match=r"non_members user 5 has raw id 'f', but the model's "
                                        r"user 5 is 'a'.*numbered apart"):
        membership_inference(model, [[0, 0]], raw)


def test_unknown_signal_unfitted_model_and_one_item(small):
    with pytest.raises(DataError, match=r"signal must be one of \('rank', 'score'\), got 'loss'"):
        membership_inference(small, [[0, 0]], [[5, 4]], signal="loss")
    with pytest.raises(RuntimeError, match="not fitted yet"):
        membership_inference(mgr.Popularity(), [[0, 0]], [[5, 4]])
    with pytest.raises(TypeError, match="score method"):
        membership_inference(object(), [[0, 0]], [[5, 4]])
    with pytest.raises(TypeError, match="members must be an Interactions or an .n, 2. integer "
                                        "array .* got NoneType"):
        membership_inference(small, None, [[5, 4]])
    one = mgr.Popularity().fit(Interactions([0, 1], [0, 0], n_users=3, n_items=1))
    with pytest.raises(DataError, match="rank signal needs at least 2 items"):
        membership_inference(one, [[0, 0]], [[2, 0]])
    assert membership_inference(one, [[0, 0]], [[2, 0]], signal="score").auc == 0.5


class _Broken(mgr.Popularity):
    """Popularity whose score of user 2 for item 3 is ``value`` (set after fit)."""

    value = np.nan

    def _score_batch(self, users):
        S = super()._score_batch(users)
        S[users == 2, 3] = self.value
        return S


@pytest.mark.parametrize("value, shown", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_scores_name_the_user(value, shown):
    model = _Broken().fit(Interactions([0, 1, 2, 3], [0, 1, 2, 3], n_users=4, n_items=5))
    model.value = value
    with pytest.raises(DataError, match=f"the score of user 2 for item 3 is {shown}; the "
                                        "attack needs finite scores"):
        membership_inference(model, [[0, 0], [2, 2]], [[1, 4]])
    # users whose rows are never scored are not checked
    assert membership_inference(model, [[0, 0]], [[1, 4]]).n_members == 1


class _IntegerScores(mgr.Popularity):
    """Popularity scored in int64, with ``2**60`` for user 2 and item 3."""

    def _score_batch(self, users):
        S = np.rint(super()._score_batch(users) * 1000).astype(np.int64)
        S[users == 2, 3] = 2**60
        return S


def test_integer_scores_float64_cannot_hold_name_the_user():
    model = _IntegerScores().fit(Interactions([0, 1, 2, 3], [0, 1, 2, 3], n_users=4, n_items=5))
    with pytest.raises(DataError, match=rf"the score of user 2 for item 3 is {2**60}, beyond "):
        membership_inference(model, [[0, 0], [2, 2]], [[1, 4]], batch_size=1)


# ------------------------------------------------------------ what the audit is for
def test_overfitted_mf_reveals_members_and_retrain_forgets_them(split):
    """MF without L2, 30 epochs at lr 0.01, on 150 users x 120 items: it memorises its
    training pairs. Then 200 random training pairs F are forgotten.

    Margins: under the null (two sets of pairs the model treats alike) the AUC of n against
    m independent values has standard error sqrt((n + m + 1) / (12 n m)) (Mann and Whitney),
    0.013 for train (1488 pairs) against test (739) and 0.023 for F (200) against test. The
    retrained model is a fit without F (exact, integer seed), so it never saw F nor the test
    pairs, both random pairs of the same users: its AUC of F against test is ½ up to
    sampling. Pairs of one user are correlated, so the spread is somewhat larger than that
    standard error; 4 of them (0.09) leave room for it (measured 0.498). The overfitted
    model's member AUC must be above 0.75, about 19 standard errors from ½ (measured 0.93);
    the fine-tuned model (5 epochs on the touched users, from the parameters that memorised
    F) must keep F's AUC at least 0.2 above the retrain's (measured 0.92 against 0.50).
    """
    train, test = split
    mf = mgr.MF(dim=32, lr=1e-2, reg=0.0, batch_size=256, epochs=30, random_state=0).fit(train)
    members = membership_inference(mf, train, test)
    assert members.auc > 0.75
    assert members.advantage > 0.3

    R = mf.R_.tocoo()
    pick = np.random.default_rng(0).choice(R.nnz, 200, replace=False)
    F = np.stack([R.row[pick], R.col[pick]], axis=1)                 # (200, 2)
    before = membership_inference(mf, F, test)
    retrained = copy.deepcopy(mf).forget(interactions=F)             # method="retrain"
    tuned = copy.deepcopy(mf).forget(interactions=F, method="fine_tune")
    after_retrain = membership_inference(retrained, F, test)
    after_tune = membership_inference(tuned, F, test)
    se = np.sqrt((200 + after_retrain.n_non_members + 1) / (12 * 200 * after_retrain.n_non_members))
    assert before.auc > 0.75
    assert abs(after_retrain.auc - 0.5) < 4 * se
    assert after_tune.auc > after_retrain.auc + 0.2
    # F are no longer training pairs, so they could not be given as non-members before
    with pytest.raises(DataError, match="200 of the 200 non-members are training pairs"):
        membership_inference(mf, test, F)
    assert membership_inference(retrained, test, F).auc == pytest.approx(1 - after_retrain.auc,
                                                                          abs=1e-12)
