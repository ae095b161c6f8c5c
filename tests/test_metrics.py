"""Ranking metrics against hand-computed values, AUC kernels, and evaluate()."""
import logging

import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec.data import Interactions
from minigraphrec.errors import DataError
from minigraphrec.kernels.topk import auc_rows
from minigraphrec.metrics import (
    METRICS, auc_from_scores, coverage_at_k, evaluate, hit_matrix, hit_rate_at_k,
    item_self_information, map_at_k, mrr_at_k, ndcg_at_k, novelty_at_k, precision_at_k,
    recall_at_k,
)
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
    with pytest.raises(ValueError, match="k must be a positive integer"):
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
    with pytest.raises(ValueError, match="k must be a positive integer"):
        evaluate(model, test, k=(10, 0))
    with pytest.raises(ValueError, match="k must be a positive integer or a non-empty"):
        evaluate(model, test, k=())
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        evaluate(model, test, batch_size=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        evaluate(Popularity(), test)
    with pytest.raises(TypeError, match="score method"):
        evaluate(object(), test)


def test_evaluate_rejects_nan_scores():
    model, _, test = _random_problem(4)
    model.S[0, 0] = np.nan
    user0 = Interactions([0], [int(test.items[test.users == 0][0])], n_users=40, n_items=30)
    with pytest.raises(DataError, match=r"model.score\(users\)\[0, 0\] is NaN"):
        evaluate(model, user0)
