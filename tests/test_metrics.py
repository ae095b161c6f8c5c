"""Ranking metrics against hand-computed values, AUC kernels, and evaluate()."""
import logging

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec.data import Interactions
from minigraphrec.errors import DataError
from minigraphrec.kernels.eval_rank import auc_rows, rank_rows
from minigraphrec.metrics import (
    METRICS, auc_from_scores, coverage_at_k, evaluate, hit_matrix, hit_rate_at_k,
    item_self_information, map_at_k, mrr_at_k, ndcg_at_k, novelty_at_k, precision_at_k,
    recall_at_k,
)
from minigraphrec.metrics import _rank_rows_numpy, parse_metric
from minigraphrec.models.base import Recommender
from minigraphrec.models.popularity import Popularity
from minigraphrec.rank import canonical_csr, csr_arrays

L2, L3, L5 = np.log2(2.0), np.log2(3.0), np.log2(5.0)     # discounts 1/log2(r+2), r = 0, 1, 3


def _csr(rows, n_items):
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    return sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(len(rows), n_items))


# Three users, six items, lists of length K = 4.
#   user 0: ranked [2, 0, 5, 1], test {0, 1, 3}  -> rel = [0, 1, 0, 1]
#   user 1: ranked [4, 3, -1, -1] (only two candidates), test {4} -> rel = [1, 0, 0, 0]
#   user 2: ranked [1, 2, 3, 0], test {5}  -> rel = [0, 0, 0, 0] (no hit)
RANKED = np.array([[2, 0, 5, 1],
                   [4, 3, -1, -1],
                   [1, 2, 3, 0]])
TEST = _csr([[0, 1, 3], [4], [5]], 6)

# per user, by hand
EXPECTED = {
    1: {  # k = 1: only user 1 has a hit, at rank 0, with |T| = 1
        "recall": [0, 1, 0], "precision": [0, 1, 0], "ndcg": [0, 1, 0],
        "hit": [0, 1, 0], "map": [0, 1, 0], "mrr": [0, 1, 0],
    },
    2: {
        # user 0: one hit at rank 1. recall 1/3, precision 1/2,
        #   DCG = 1/log2(3), IDCG over min(3, 2) = 2 slots = 1 + 1/log2(3),
        #   AP = (1/min(3, 2)) * P@2 = (1/2)(1/2) = 1/4, RR = 1/2
        # user 1: hit at rank 0, |T| = 1: recall 1, precision 1/2, NDCG 1, AP 1, RR 1
        "recall": [1 / 3, 1, 0], "precision": [1 / 2, 1 / 2, 0],
        "ndcg": [(1 / L3) / (1 + 1 / L3), 1, 0], "hit": [1, 1, 0],
        "map": [1 / 4, 1, 0], "mrr": [1 / 2, 1, 0],
    },
    4: {
        # user 0: hits at ranks 1 and 3. recall 2/3, precision 2/4,
        #   DCG = 1/log2(3) + 1/log2(5), IDCG over min(3, 4) = 3 slots = 1 + 1/log2(3) + 1/2,
        #   AP = (1/3)(P@2 + P@4) = (1/3)(1/2 + 2/4) = 1/3, RR = 1/2
        # user 1: precision 1/4 (the two padding slots count as misses)
        "recall": [2 / 3, 1, 0], "precision": [2 / 4, 1 / 4, 0],
        "ndcg": [(1 / L3 + 1 / L5) / (1 + 1 / L3 + 1 / 2), 1, 0], "hit": [1, 1, 0],
        "map": [1 / 3, 1, 0], "mrr": [1 / 2, 1, 0],
    },
}
FUNCTIONS = {"recall": recall_at_k, "precision": precision_at_k, "ndcg": ndcg_at_k,
             "hit": hit_rate_at_k, "map": map_at_k, "mrr": mrr_at_k}


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("metric", list(FUNCTIONS))
def test_metric_by_hand(metric, k):
    got = FUNCTIONS[metric](RANKED, TEST, k)
    np.testing.assert_allclose(got, EXPECTED[k][metric], rtol=1e-15, atol=0)


def test_hit_matrix_by_hand():
    np.testing.assert_array_equal(hit_matrix(RANKED, TEST),
                                  [[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]])


def test_perfect_ranking_gives_one():
    # test items ranked first: NDCG = MAP = MRR = hit = 1, recall = |T∩top k|/|T|
    ranked = np.array([[3, 1, 0, 2], [0, 1, 2, 3]])
    test = _csr([[1, 3], [0, 1, 2, 3]], 4)
    for k in (1, 2, 3, 4):
        np.testing.assert_allclose(ndcg_at_k(ranked, test, k), [1, 1], rtol=1e-15)
        np.testing.assert_allclose(map_at_k(ranked, test, k), [1, 1], rtol=1e-15)
        np.testing.assert_allclose(mrr_at_k(ranked, test, k), [1, 1], rtol=1e-15)
    # user 0 has 2 test items: recall@1 = 1/2, recall@2 = 1; user 1 has 4: k/4
    np.testing.assert_allclose(recall_at_k(ranked, test, 1), [1 / 2, 1 / 4])
    np.testing.assert_allclose(recall_at_k(ranked, test, 3), [1, 3 / 4])


def test_rows_without_test_items_are_nan():
    ranked = np.array([[0, 1], [1, 0]])
    test = _csr([[0], []], 3)
    for f in FUNCTIONS.values():
        values = f(ranked, test, 2)
        assert values[0] == 1.0 or f is precision_at_k
        assert np.isnan(values[1])


def test_coverage_by_hand():
    ranked = np.array([[0, 1], [1, 2], [1, -1]])
    # k = 1: {0, 1} of 5 items; k = 2: {0, 1, 2}; padding is not an item
    assert coverage_at_k(ranked, 5, 1) == 2 / 5
    assert coverage_at_k(ranked, 5, 2) == 3 / 5


def test_novelty_by_hand():
    # 4 training users; item degrees k_i = [4, 2, 1, 0]
    train = _csr([[0, 1, 2], [0, 1], [0], [0]], 4)
    # self-information log2(4 / k_i): [0, 1, 2, 2] (item 3 counted as k_i = 1)
    np.testing.assert_allclose(item_self_information(train), [0, 1, 2, 2], rtol=0, atol=1e-15)
    ranked = np.array([[1, 2], [0, -1], [-1, -1], [3, 2]])
    # rows: (1 + 2)/2 = 1.5; 0/1 = 0 (padding skipped); no item -> NaN; (2 + 2)/2 = 2
    np.testing.assert_allclose(novelty_at_k(ranked, train, 2), [1.5, 0, np.nan, 2])
    np.testing.assert_allclose(novelty_at_k(ranked, train, 1), [1, 0, np.nan, 2])


# ---------------------------------------------------------------------- AUC
def test_auc_by_hand():
    s = [0.9, 0.1, 0.5, 0.5, 0.3]
    S = np.array([s, s, s, s])
    exclude = _csr([[0], [], [0, 1, 4], []], 5)
    test = _csr([[2], [1, 3], [2, 3], []], 5)
    # row 0: positive 2 (0.5) vs negatives 1 (0.1), 3 (0.5), 4 (0.3): 1 + 1/2 + 1 = 2.5 of 3
    # row 1: positives 1 (0.1), 3 (0.5); negatives 0 (0.9), 2 (0.5), 4 (0.3):
    #        0.1 wins none; 0.5 beats 0.3 and ties 0.5 -> 1.5 of 2 * 3 = 6 pairs
    # row 2: every candidate is a positive -> no negative -> NaN
    # row 3: no positive -> NaN
    expected = [2.5 / 3, 1.5 / 6, np.nan, np.nan]
    for backend in ("numpy", "numba"):
        got = auc_from_scores(S, test, exclude, backend=backend)
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def test_auc_perfect_and_reversed():
    S = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0]])
    test = _csr([[0, 1], [2, 3]], 4)
    for backend in ("numpy", "numba"):
        np.testing.assert_array_equal(auc_from_scores(S, test, backend=backend), [1.0, 0.0])


def test_auc_kernel_paths_equal_reference():
    """Scan path (few positives) and merge path (many) give the reference's exact values."""
    rng = np.random.default_rng(0)
    for trial in range(30):
        n, m = int(rng.integers(1, 40)), int(rng.integers(1, 50))
        S = rng.integers(-3, 4, size=(n, m)).astype(np.float64)       # few values: ties
        S[rng.random(S.shape) < 0.1] = -np.inf
        S[rng.random(S.shape) < 0.1] = np.inf
        E = sp.csr_matrix(rng.random((n, m)) < 0.5 * rng.random((n, 1)) ** 2)
        T = sp.csr_matrix(rng.random((n, m)) < 0.8 * rng.random((n, 1)))
        ref = auc_from_scores(S, T, E, backend="numpy")
        Ec, Tc = canonical_csr(E, S.shape, "E"), canonical_csr(T, S.shape, "T")
        for scan_max in (0, 10_000):
            out = np.empty(n)
            auc_rows(S, *csr_arrays(Ec), *csr_arrays(Tc), scan_max, out)
            np.testing.assert_array_equal(out, ref, err_msg=f"trial {trial}, {scan_max}")


def test_auc_reference_ranks_no_infinity(monkeypatch):
    """SciPy before 1.13 ranks a row holding both +inf and -inf as all NaN (a NaN AUC from
    the NumPy backend): the reference ranks the values' integer codes instead."""
    import scipy.stats
    rankdata = scipy.stats.rankdata

    def old_rankdata(a, *args, **kwargs):              # SciPy 1.10-1.12 on such a row
        a = np.asarray(a)
        if np.isposinf(a).any() and np.isneginf(a).any():
            return np.full(a.shape, np.nan)
        return rankdata(a, *args, **kwargs)
    monkeypatch.setattr(scipy.stats, "rankdata", old_rankdata)
    S = np.array([[np.inf, 1.0, -np.inf, 1.0, 0.5], [-np.inf, np.inf, 2.0, 2.0, 0.0]])
    T = _csr([[0, 3], [2]], 5)
    # row 0: positives inf and 1 against negatives 1, -inf, 0.5: (3 + 2.5) / 6
    # row 1: positive 2 against -inf, inf, 2, 0: (1 + 0 + 0.5 + 1) / 4
    np.testing.assert_array_equal(auc_from_scores(S, T, backend="numpy"), [5.5 / 6, 2.5 / 4])
    np.testing.assert_array_equal(auc_from_scores(S, T, backend="numba"), [5.5 / 6, 2.5 / 4])


def test_auc_wrapper_with_many_positives_float32():
    rng = np.random.default_rng(1)
    S = rng.standard_normal((6, 400)).astype(np.float32)
    S[:, ::7] = S[:, 0:1]                                   # ties
    T = sp.random(6, 400, density=0.4, random_state=2, format="csr")   # ~160 > 64 positives
    E = sp.random(6, 400, density=0.1, random_state=3, format="csr")
    ref = auc_from_scores(S, T, E, backend="numpy")
    np.testing.assert_array_equal(auc_from_scores(S, T, E, backend="numba"), ref)
    assert np.all((ref > 0.3) & (ref < 0.7))               # random scores: AUC near 1/2


def test_auc_rejects_nan():
    with pytest.raises(DataError, match=r"scores\[0, 1\] is NaN"):
        auc_from_scores(np.array([[0.0, np.nan]]), _csr([[0]], 2))


# ------------------------------------------------------ array-function errors
def test_array_functions_reject_bad_inputs():
    with pytest.raises(DataError, match="lists item 2 twice"):
        recall_at_k(np.array([[2, 2]]), _csr([[2]], 3), 1)
    with pytest.raises(DataError, match=r"ranked\[0, 1\] is -2"):
        recall_at_k(np.array([[0, -2]]), _csr([[0]], 3), 1)
    with pytest.raises(DataError, match=r"ranked\[0, 1\] is item 7, outside the 3 items"):
        ndcg_at_k(np.array([[0, 7]]), _csr([[0]], 3), 1)
    with pytest.raises(DataError, match="k=3 exceeds the length 2"):
        map_at_k(np.array([[0, 1]]), _csr([[0]], 3), 3)
    with pytest.raises(DataError, match="test_rows has 2 rows but ranked has 1"):
        mrr_at_k(np.array([[0, 1]]), _csr([[0], [1]], 3), 1)
    with pytest.raises(DataError, match="test_rows must be a scipy.sparse matrix"):
        hit_rate_at_k(np.array([[0, 1]]), [[0]], 1)
    with pytest.raises(DataError, match="integer item ids"):
        precision_at_k(np.array([[0.0, 1.0]]), _csr([[0]], 3), 1)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        recall_at_k(np.array([[0, 1]]), _csr([[0]], 3), 0)


# ------------------------------------------------------------------ evaluate
def _hand_model():
    # 4 users, 5 items. train: u0 {0, 1}, u1 {0, 2}, u2 {0, 1}, u3 {3}
    # popularity = [3, 2, 1, 1, 0]; rankings without seen items (ties -> smaller id):
    #   u0 [2, 3, 4], u1 [1, 3, 4], u2 [2, 3, 4], u3 [0, 1, 2, 4]
    train = Interactions([0, 0, 1, 1, 2, 2, 3], [0, 1, 0, 2, 0, 1, 3], n_users=4, n_items=5)
    # test: u0 {3}, u1 {4, 1}, u2 none, u3 {2, 0} and (3, 3), which is also a train pair
    test = Interactions([0, 1, 1, 3, 3, 3], [3, 4, 1, 2, 0, 3], n_users=4, n_items=5)
    return Popularity().fit(train), train, test


def _hand_expected():
    # evaluated users: 0, 1, 3 (user 2 has no test item). rel:
    #   u0 [2, 3, ...] vs {3}    -> [0, 1]
    #   u1 [1, 3, ...] vs {1, 4} -> [1, 0]
    #   u3 [0, 1, ...] vs {0, 2} -> [1, 0]   (the (3, 3) pair is dropped: it is in train)
    ndcg2 = (1 / L3 + 2 * (1 / (1 + 1 / L3))) / 3
    # novelty: 4 users, degrees [3, 2, 1, 1, 0] -> -log2 p = [log2(4/3), 1, 2, 2, 2]
    #   top 1: u0 item 2 -> 2, u1 item 1 -> 1, u3 item 0 -> log2(4/3)
    #   top 2: u0 (2 + 2)/2, u1 (1 + 2)/2, u3 (log2(4/3) + 1)/2
    nov1 = (2 + 1 + np.log2(4 / 3)) / 3
    nov2 = (2 + 1.5 + (np.log2(4 / 3) + 1) / 2) / 3
    # AUC: u0 candidates 2 (1), 3 (1), 4 (0), positive 3: tie 1/2 + win 1 -> 1.5/2
    #      u1 candidates 1 (2), 3 (1), 4 (0), positives 1, 4: 1 beats 3, 4 loses -> 1/2
    #      u3 candidates 0 (3), 1 (2), 2 (1), 4 (0), positives 0, 2: 3 wins of 4 -> 3/4
    return {
        "recall@1": (0 + 1 / 2 + 1 / 2) / 3, "recall@2": (1 + 1 / 2 + 1 / 2) / 3,
        "precision@1": 2 / 3, "precision@2": 1 / 2,
        "ndcg@1": 2 / 3, "ndcg@2": ndcg2,
        "hit@1": 2 / 3, "hit@2": 1.0,
        "map@1": 2 / 3, "map@2": (1 / 2 + 1 / 2 + 1 / 2) / 3,
        "mrr@1": 2 / 3, "mrr@2": (1 / 2 + 1 + 1) / 3,
        "auc": (0.75 + 0.5 + 0.75) / 3,
        "coverage@1": 3 / 5, "coverage@2": 4 / 5,           # {2, 1, 0} and {2, 3, 1, 0}
        "novelty@1": nov1, "novelty@2": nov2,
        "n_users": 3,
    }


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_evaluate_popularity_by_hand(backend, caplog):
    model, _, test = _hand_model()
    with caplog.at_level(logging.WARNING, logger="minigraphrec.metrics"):
        got = evaluate(model, test, k=(2, 1), backend=backend, batch_size=2)
    assert "1 test pairs are also training pairs" in caplog.text
    expected = _hand_expected()
    order = [m if m == "auc" else f"{m}@{k}"
             for m in METRICS for k in ((None,) if m == "auc" else (1, 2))]
    assert list(got) == order + ["n_users"]
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-14, abs=0), key
    assert isinstance(got["n_users"], int) and isinstance(got["recall@1"], float)


def test_evaluate_metric_subset_and_int_k():
    model, _, test = _hand_model()
    got = evaluate(model, test, k=2, metrics=["ndcg", "auc"])
    assert set(got) == {"ndcg@2", "auc", "n_users"}


class _FixedScores(Recommender):
    """A test model whose scores are a fixed matrix (ties included)."""

    def __init__(self, S=None):
        self.S = S

    def fit(self, train):
        self._fit_interactions(train)
        return self

    def _score_batch(self, users):
        return self.S[users]


def _random_problem(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 30
    pairs = rng.random((n_users, n_items)) < 0.25
    is_test = rng.random((n_users, n_items)) < 0.3
    tr_u, tr_i = np.nonzero(pairs & ~is_test)
    te_u, te_i = np.nonzero(pairs & is_test)
    train = Interactions(tr_u, tr_i, n_users=n_users, n_items=n_items)
    test = Interactions(te_u, te_i, n_users=n_users, n_items=n_items)
    S = rng.integers(0, 6, size=(n_users, n_items)).astype(np.float64)
    return _FixedScores(S).fit(train), train, test


def test_evaluate_equals_array_functions_on_recommend():
    model, train, test = _random_problem(1)
    got = evaluate(model, test, k=(3, 10), batch_size=7)
    T = test.to_csr()
    users = np.flatnonzero(np.diff(T.indptr) > 0)
    items, _ = model.recommend(users, 10)                 # the protocol, spelled out
    Tu = T[users]
    for k in (3, 10):
        for name, f in FUNCTIONS.items():
            assert got[f"{name}@{k}"] == pytest.approx(f(items, Tu, k).mean(), rel=1e-14), name
        assert got[f"coverage@{k}"] == coverage_at_k(items, 30, k)
        assert got[f"novelty@{k}"] == pytest.approx(
            np.nanmean(novelty_at_k(items, train.to_csr(), k)), rel=1e-14)
    auc = auc_from_scores(model.score(users), Tu, model.R_[users], backend="numpy")
    assert got["auc"] == pytest.approx(np.nanmean(auc), rel=1e-14)
    assert got["n_users"] == users.size


def test_evaluate_is_the_same_for_any_batch_size_and_backend():
    model, _, test = _random_problem(2)
    ref = evaluate(model, test, k=(5,), batch_size=1000, backend="numpy")
    for batch_size in (1, 3, 1000):
        assert evaluate(model, test, k=(5,), batch_size=batch_size, backend="numba") == ref


def test_evaluate_train_argument_excludes_more():
    model, train, test = _random_problem(3)
    # excluding the test pairs as well leaves nothing to hit: every test pair is dropped
    both = Interactions(np.concatenate([train.users, test.users]),
                        np.concatenate([train.items, test.items]), n_users=40, n_items=30)
    with pytest.raises(DataError, match="no user has a test item"):
        evaluate(model, test, train=both)
    # passing the training set itself is the default
    assert evaluate(model, test, train=train) == evaluate(model, test)


def test_evaluate_rejects_bad_inputs():
    model, train, test = _hand_model()
    with pytest.raises(DataError, match=r"test item id 5 at position 1 is outside the model's "
                                         r"items 0\.\.4"):
        evaluate(model, Interactions([0, 1], [1, 5]))
    with pytest.raises(DataError, match=r"test user id 4 at position 0 is outside"):
        evaluate(model, Interactions([4], [1]))
    with pytest.raises(DataError, match="no user has a test item"):
        evaluate(model, Interactions([], [], n_users=4, n_items=5))
    with pytest.raises(TypeError, match="test must be an Interactions"):
        evaluate(model, test.to_csr())
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        evaluate(model, test, metrics=["recall", "f1"])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        evaluate(model, test, k=(10, 0))
    with pytest.raises(ValueError, match="k must be an integer >= 1 or a non-empty"):
        evaluate(model, test, k=())
    for k in (2.0, True, "20"):
        with pytest.raises(ValueError, match="k must be an integer >= 1, got"):
            evaluate(model, test, k=k)
    with pytest.raises(ValueError, match=r"unknown metric 'recall@20'.*\(cut-offs go in k=: "
                                         r"metrics=\('recall',\), k=20\)"):
        evaluate(model, test, metrics="recall@20")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        evaluate(model, test, batch_size=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        evaluate(Popularity(), test)
    with pytest.raises(TypeError, match="score method"):
        evaluate(object(), test)


def test_evaluate_rejects_nan_scores():
    model, _, test = _random_problem(4)
    model.S[0, 0] = np.nan
    user0 = Interactions([0], [int(test.items[test.users == 0][0])], n_users=40, n_items=30)
    with pytest.raises(DataError, match=r"model.score\(users\): the score of user 0 for item 0 "
                                        r"is NaN"):
        evaluate(model, user0)


# ------------------------------------- the evaluation kernel (top-k + AUC)
def _rank_rows_case(rng, n, n_items, dtype, ties):
    """Scores with ties, ±inf, excluded items and test items (some of them excluded)."""
    if ties:
        S = rng.integers(-3, 4, size=(n, n_items)).astype(dtype)
    else:
        S = rng.standard_normal((n, n_items)).astype(dtype)
    S[rng.random(S.shape) < 0.05] = -np.inf
    S[rng.random(S.shape) < 0.02] = np.inf
    E = rng.random((n, n_items)) < 0.5 * rng.random((n, 1)) ** 2
    T = rng.random((n, n_items)) < 0.3 * rng.random((n, 1)) ** 2
    if n > 2:
        E[0] = True                                      # a row with every item excluded
        T[1] = True                                      # a row with no negative
    E, T = sp.csr_matrix(E), sp.csr_matrix(T)
    return S, canonical_csr(E, S.shape, "E"), canonical_csr(T, S.shape, "T")


def _run_rank_rows(S, K, E, T, scan_max, with_auc=True):
    n = S.shape[0]
    items = np.full((n, K), -7, dtype=np.int64)
    auc = np.full(n, -7.0)
    n_nan = np.full(n, -7, dtype=np.int64)
    rank_rows(S, min(K, S.shape[1]), *csr_arrays(E), *csr_arrays(T), with_auc, scan_max,
              items, auc, n_nan)
    return items, auc, n_nan


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rank_rows_kernel_equals_reference(dtype):
    """Top-k and AUC of the fused kernel equal the NumPy reference, on both AUC paths."""
    rng = np.random.default_rng(5)
    # small rows with many ties, then rows long enough for the kernel's chunks
    # (64 items) and spans (4096 items) to matter
    shapes = [(int(rng.integers(2, 30)), int(rng.integers(1, 60))) for _ in range(25)]
    shapes += [(6, 300), (4, 5000), (3, 9000)]
    all_auc = []
    for trial, (n, n_items) in enumerate(shapes):
        S, E, T = _rank_rows_case(rng, n, n_items, dtype, ties=trial % 2 == 0)
        ref_auc = auc_from_scores(S, T, E, backend="numpy")
        # scan_max 0: every row merges; 3: rows of both kinds; 10_000: every row scans
        for K, scan_max in ((7, 0), (7, 3), (7, 10_000), (1, 3), (n_items + 3, 3)):
            ref_items, _ = _rank_rows_numpy(S, K, E, T, False)
            items, auc, n_nan = _run_rank_rows(S, K, E, T, scan_max)
            msg = f"trial {trial}, K={K}, scan_max={scan_max}"
            np.testing.assert_array_equal(items, ref_items, err_msg=msg)
            np.testing.assert_array_equal(auc, ref_auc, err_msg=msg)
            np.testing.assert_array_equal(n_nan, 0)
        all_auc.append(ref_auc)
    # the cases are not trivial: many defined AUCs, spread out, and undefined ones
    all_auc = np.concatenate(all_auc)
    assert np.isfinite(all_auc).sum() > 100 and np.nanstd(all_auc) > 0.1
    assert np.isnan(all_auc).sum() > 10


def test_rank_rows_without_auc_and_nan_counts():
    rng = np.random.default_rng(6)
    S, E, T = _rank_rows_case(rng, 8, 200, np.float64, ties=False)
    S[3, 5] = np.nan
    S[3, 150] = np.nan
    S[6, int(E[6].indices[0]) if E[6].nnz else 0] = np.nan      # NaN at an excluded item
    items, auc, n_nan = _run_rank_rows(S, 4, E, T, 10, with_auc=False)
    np.testing.assert_array_equal(auc, -7.0)                      # untouched
    np.testing.assert_array_equal(n_nan, [0, 0, 0, 2, 0, 0, 1, 0])
    ok = np.array([0, 1, 2, 4, 5, 7])
    ref_items, _ = _rank_rows_numpy(S[ok], 4, E[ok], T[ok], False)
    np.testing.assert_array_equal(items[ok], ref_items)


def test_rank_rows_counts_nan_of_either_sign_in_any_chunk():
    """NaN with the sign bit clear or set, alone in a chunk of finite scores, is counted."""
    rng = np.random.default_rng(9)
    S = rng.standard_normal((6, 1000))                 # 16 chunks of 64 items
    neg_nan = np.copysign(np.nan, -1.0)
    S[1, 700] = np.nan
    S[2, 3] = neg_nan
    S[3, 999] = neg_nan
    S[3, 64] = np.nan
    S[4, :] = -1.0 - rng.random(1000)                  # an all-negative row, then -NaN in it
    S[4, 130] = neg_nan
    E = canonical_csr(sp.csr_matrix((6, 1000)), S.shape, "E")
    for dtype in (np.float32, np.float64):
        Sd = S.astype(dtype)
        assert np.signbit(Sd[2, 3]) and np.isnan(Sd[2, 3])
        items, _, n_nan = _run_rank_rows(Sd, 5, E, E, 10)
        np.testing.assert_array_equal(n_nan, [0, 1, 1, 2, 1, 0], err_msg=str(dtype))
        ok = np.array([0, 5])
        ref_items, _ = _rank_rows_numpy(Sd[ok], 5, E[ok], E[ok], False)
        np.testing.assert_array_equal(items[ok], ref_items)


def test_rank_rows_same_result_on_one_and_two_threads():
    rng = np.random.default_rng(7)
    S, E, T = _rank_rows_case(rng, 64, 500, np.float32, ties=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _run_rank_rows(S, 15, E, T, 2)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _run_rank_rows(S, 15, E, T, 2)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


class _Float32Scores(Recommender):
    """Scores ``U[users] @ Vᵀ`` in float32, rounded so that ties are common."""

    def __init__(self, U, V, R):
        self.U, self.V, self.R_ = U, V, R
        self.n_users_, self.n_items_ = R.shape

    def _score_batch(self, users):
        return np.round(self.U[users] @ self.V.T, 1)               # (b, n_items) float32


def test_evaluate_numba_equals_numpy_on_a_long_float32_catalogue():
    rng = np.random.default_rng(8)
    n_users, n_items = 50, 6000
    R = sp.csr_matrix(rng.random((n_users, n_items)) < 0.01)
    model = _Float32Scores(rng.standard_normal((n_users, 8)).astype(np.float32),
                           rng.standard_normal((n_items, 8)).astype(np.float32), R)
    users, items = np.nonzero((rng.random((n_users, n_items)) < 0.004) & ~R.toarray())
    test = Interactions(users, items, n_users=n_users, n_items=n_items)
    ref = evaluate(model, test, k=(5, 20), backend="numpy", batch_size=64)
    for batch_size in (None, 7):
        assert evaluate(model, test, k=(5, 20), batch_size=batch_size) == ref
    assert 0.3 < ref["auc"] < 0.7


def test_evaluate_rejects_nan_at_an_excluded_item():
    model, train, test = _random_problem(4)
    u = int(test.users[0])
    seen = int(train.items[train.users == u][0])
    model.S[u, seen] = np.nan
    for backend in ("numba", "numpy"):
        with pytest.raises(DataError, match=rf"the score of user {u} for item {seen} is NaN"):
            evaluate(model, test, backend=backend)
        with pytest.raises(DataError, match=rf"the score of user {u} for item {seen} is NaN"):
            evaluate(model, test, backend=backend, batch_size=2)    # was its row in a block


def test_a_test_pair_in_the_given_train_is_named_as_such(caplog):
    """With ``train=`` (say train ∪ validation), a test pair among its pairs is dropped as
    one of them; the warning no longer calls it a training pair (it may be a validation
    pair the model never trained on)."""
    model, train, test = _random_problem(4)
    extra = Interactions(test.users[:3], test.items[:3], n_users=40, n_items=30)
    both = Interactions(np.concatenate([train.users, extra.users]),
                        np.concatenate([train.items, extra.items]), n_users=40, n_items=30)
    with caplog.at_level(logging.WARNING, logger="minigraphrec.metrics"):
        evaluate(model, test, train=both)
    assert ("3 test pairs are also pairs of train (the pairs left out of the rankings); they "
            "cannot be recommended") in caplog.text
    assert "training pairs" not in caplog.text


def test_evaluate_refuses_an_empty_list_of_metrics():
    """Was: ``metrics=[]`` returned ``{"n_users": ...}`` and nothing else, silently."""
    model, _, test = _random_problem(4)
    for empty in ([], ()):
        with pytest.raises(ValueError, match="metrics is empty; name at least one of recall"):
            evaluate(model, test, metrics=empty)


def test_evaluate_says_how_many_test_users_have_no_training_item(caplog):
    """Users without a training item are evaluated (on what the model scores for a user it
    knows nothing of); how many is logged, as after a temporal split most may be."""
    model, train, test = _random_problem(4)
    cold = [u for u in np.unique(test.users)[:3]]
    keep = ~np.isin(train.users, cold)
    model = _FixedScores(model.S).fit(train.subset(keep))
    with caplog.at_level(logging.INFO, logger="minigraphrec.metrics"):
        result = evaluate(model, test)
    n = result["n_users"]
    assert n == np.unique(test.users).size
    assert f"3 of the {n} evaluated users have no training item" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="minigraphrec.metrics"):
        evaluate(_FixedScores(model.S).fit(train), test)
    assert "have no training item" not in caplog.text


def test_evaluate_names_the_user_of_an_integer_score_float64_cannot_hold():
    """An int64 score beyond ±2**53 is named by user and item, as a NaN is. Was: by its
    row within the block (``model.score(users)[0, 7]`` for user 4 in blocks of one)."""
    model, train, test = _random_problem(4)
    model.S = model.S.astype(np.int64)
    u = int(test.users[-1])
    model.S[u, 7] = 2**60
    for batch_size in (None, 1):
        with pytest.raises(DataError, match=rf"model.score\(users\): the score of user {u} "
                                            rf"for item 7 is {2**60}, beyond ±2\*\*53"):
            evaluate(model, test, batch_size=batch_size)


@pytest.mark.parametrize("name", ["Popularity", "ItemKNN", "UserKNN"])
def test_a_models_preferred_evaluation_block_sets_the_default_and_changes_no_result(name,
                                                                                monkeypatch):
    """Popularity, ItemKNN and UserKNN ask evaluate for blocks of 2^22 scores (cheaper for
    scores written entry by entry); the block decides the calls, never the numbers."""
    import minigraphrec as mgr
    from minigraphrec.datasets import synthetic
    from minigraphrec.split import random_split
    train, test = random_split(synthetic(n_users=60, n_items=80, random_state=1),
                               test_size=0.3, random_state=0)
    cls = getattr(mgr, name)
    assert cls.eval_block_scores == 2 ** 22 and Recommender.eval_block_scores is None
    model = cls().fit(train)
    whole = evaluate(model, test, k=(5, 20), batch_size=train.n_users)       # one block
    monkeypatch.setattr(cls, "eval_block_scores", 7 * train.n_items)          # 7 users a block
    sizes = []
    score = model.score
    monkeypatch.setattr(model, "score", lambda users: sizes.append(len(users)) or score(users))
    blocked = evaluate(model, test, k=(5, 20))
    assert max(sizes) == 7 and len(sizes) > 1
    assert blocked.keys() == whole.keys()
    for key in whole:
        assert blocked[key] == whole[key] or (np.isnan(blocked[key]) and np.isnan(whole[key]))


def test_evaluate_refuses_a_test_set_numbered_apart_from_the_model():
    """A test set built with its own raw-id maps (a file loaded on its own) would be scored
    against the wrong users and items: refused, naming the first differing id."""
    train = Interactions([0, 0, 1, 2], [0, 1, 1, 2], user_ids=["ann", "bob", "cy"],
                         item_ids=["x", "y", "z"])
    model = Popularity().fit(train)
    apart = Interactions([0, 1], [2, 0], user_ids=["cy", "ann"], item_ids=["z", "y", "x"])
    with pytest.raises(DataError, match=r"test user 0 has raw id 'cy', but the model's user 0 "
                                        r"is 'ann' \(2 of the 2 users in test differ\)"):
        evaluate(model, apart, k=1)
    with pytest.raises(DataError, match="train user 0 has raw id 'cy'"):
        evaluate(model, train, k=1, train=apart)
    aligned = apart.align(model.user_ids_, model.item_ids_)         # the fix the error names
    assert evaluate(model, aligned, k=1)["n_users"] == 2
    # internal ids (raw ids 0..n-1, the default) and ids equal up to int/str are accepted
    assert evaluate(model, Interactions([1], [2], n_users=3, n_items=3), k=1)["n_users"] == 1
    numeric = Popularity().fit(Interactions([0, 1, 2], [0, 1, 2], user_ids=[10, 11, 12],
                                            item_ids=[5, 6, 7]))
    as_text = Interactions([0], [1], user_ids=["10"], item_ids=["5", "006"])   # align's rule
    assert evaluate(numeric, as_text, k=1)["n_users"] == 1
    with pytest.raises(DataError, match="test item 1 has raw id '7'"):
        evaluate(numeric, Interactions([0], [1], user_ids=["10"], item_ids=["5", "7"]), k=1)


def test_evaluate_with_a_k_far_beyond_the_catalogue_ranks_only_the_catalogue():
    """k = 10**8 on 30 items: the slots past the catalogue are misses, counted through k
    alone (precision divides by k; NDCG's ideal and MAP's normaliser run to min(|T|, k),
    which the catalogue bounds), so evaluate ranks 30 slots and its memory does not grow
    with k. Was: refused by a guard counting 16 bytes per padded slot, while the metrics'
    (b, k) temporaries took several times that (2 GB at k = 2,000,000 on 25 items)."""
    import tracemalloc
    model, _, test = _random_problem(4)
    n_items = 30
    base = evaluate(model, test, k=n_items)
    evaluate(model, test, k=n_items + 1)                  # imports and compiles done
    k = 10**8
    tracemalloc.start()
    try:
        big = evaluate(model, test, k=k)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**21, peak                             # 2 MB; the padding alone: 38 GB
    for name in ("recall", "ndcg", "hit", "map", "mrr", "coverage", "novelty"):
        assert big[f"{name}@{k}"] == base[f"{name}@{n_items}"], name
    assert big["auc"] == base["auc"]
    assert big[f"precision@{k}"] == pytest.approx(base[f"precision@{n_items}"] * n_items / k,
                                                  rel=1e-14)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_evaluate_beyond_the_catalogue_equals_the_padded_lists(backend):
    """The metrics at k > n_items from the n_items ranked slots equal the array functions on
    the padded lists recommend gives (k slots, -1 beyond the candidates), in blocks of
    any size: the short hit matrix changes no value."""
    model, train, test = _random_problem(5)
    ks = (7, 30, 31, 77)
    T = test.to_csr()
    users = np.flatnonzero(np.diff(T.indptr) > 0)
    items, _ = model.recommend(users, 77)                 # (n, 77), padded
    for batch_size in (1, 6, None):
        got = evaluate(model, test, k=ks, batch_size=batch_size, backend=backend)
        for k in ks:
            for name, f in FUNCTIONS.items():
                assert got[f"{name}@{k}"] == pytest.approx(f(items, T[users], k).mean(),
                                                           rel=1e-14), (name, k)
            assert got[f"novelty@{k}"] == pytest.approx(
                np.nanmean(novelty_at_k(items, train.to_csr(), k)), rel=1e-14)


def test_evaluate_computes_its_metrics_in_chunks_of_rows_with_the_same_values(monkeypatch):
    """The metrics' (rows, K) temporaries are bounded by chunks of rows (_METRIC_CHUNK
    slots); a chunk of one row gives every value bit for bit."""
    import minigraphrec.metrics as M
    model, _, test = _random_problem(6)
    whole = evaluate(model, test, k=(3, 20, 40), batch_size=16)
    monkeypatch.setattr(M, "_METRIC_CHUNK", 1)
    assert evaluate(model, test, k=(3, 20, 40), batch_size=16) == whole


def test_metrics_arguments_errors_are_data_errors():
    """A bad k, metric name or metrics list is a DataError (a ValueError), as the checks
    around them raise."""
    from minigraphrec.metrics import metric_key
    model, _, test = _random_problem(4)
    with pytest.raises(DataError, match="k must be an integer >= 1 or a non-empty sequence"):
        evaluate(model, test, k=[])
    with pytest.raises(DataError, match="unknown metric 'f1'"):
        evaluate(model, test, metrics=["f1"])
    with pytest.raises(DataError, match="metrics is empty"):
        evaluate(model, test, metrics=[])
    with pytest.raises(DataError, match="unknown metric 'f1'"):
        metric_key("f1", 10)


def test_metric_names_take_ascii_digits_only():
    for bad in ("recall@\u00b2", "recall@\u0661\u0662"):           # '²', Arabic-Indic 12
        with pytest.raises(ValueError, match="metric must look like 'recall@20'"):
            parse_metric(bad)
