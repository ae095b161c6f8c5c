"""The shared layer of the open-problem APIs: Explanation and the base-class helpers."""
import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec.errors import DataError
from minigraphrec.explain import Explanation
from minigraphrec.models.base import Recommender


class _Rows(Recommender):
    """A tiny linear model for the base class: s_u = R_u W (W fixed, random)."""

    def fit(self, train):
        R = self._fit_interactions(train)
        self.W_ = np.random.default_rng(0).random((R.shape[1], R.shape[1]))
        return self

    def _score_batch(self, users):
        return np.asarray(self.R_[users] @ self.W_)

    def _score_history(self, items):
        return self.W_[items].sum(axis=0)


@pytest.fixture
def model():
    users = [0, 0, 1, 2, 2, 2, 3]
    items = [0, 1, 1, 2, 3, 4, 0]
    train = mgr.Interactions(users, items, user_ids=np.array([10, 11, 12, 13]),
                             item_ids=np.array([100, 101, 102, 103, 104]))
    return _Rows().fit(train)


# ------------------------------------------------------------ Explanation
def test_explanation_sorts_largest_first_ties_by_source():
    e = Explanation.from_contributions(1, 2, [7, 3, 5, 9], [0.2, 0.5, 0.2, -0.1], kind="item",
                                       score=0.8, exact=True, k=None)
    assert e.sources.tolist() == [3, 5, 7, 9]
    assert e.contributions.tolist() == [0.5, 0.2, 0.2, -0.1]
    assert e.total == pytest.approx(0.8)
    np.testing.assert_allclose(e.shares, np.array([0.5, 0.2, 0.2, -0.1]) / 0.8)


def test_explanation_k_keeps_total_and_prints_the_rest():
    e = Explanation.from_contributions(0, 0, [1, 2, 3], [3.0, 2.0, 1.0], kind="user",
                                       score=6.0, exact=True, k=2, method="test")
    assert len(e) == 2 and e.total == 6.0
    text = str(e)
    assert "others" in text and "50.0%" in text and "user" in text.splitlines()[1]


def test_explanation_paths_follow_the_order():
    e = Explanation.from_contributions(0, 1, [4, 2], [1.0, 2.0], kind="node", score=3.0,
                                       exact=True, paths=[(0, 4), (0, 2, 5)])
    assert e.paths == [(0, 2, 5), (0, 4)]
    assert "0 → 2 → 5" in str(e)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="thing"), "kind"),
    (dict(kind="item", sources=[1, 2]), "sources"),
    (dict(kind="item", paths=[(0,)]), "paths"),
])
def test_explanation_rejects_inconsistent_input(kwargs, match):
    args = dict(sources=[1, 2, 3], kind="item")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Explanation.from_contributions(0, 0, args.pop("sources"), [1.0, 2.0, 3.0], score=6.0,
                                       exact=True, **args)


# ------------------------------------------------------ histories, checks
def test_score_history_of_a_users_items_is_their_score(model):
    for u in range(model.n_users_):
        np.testing.assert_allclose(model.score_history(model.R_[u].indices), model.score([u])[0])


def test_recommend_history_matches_recommend_for_a_training_user(model):
    items, scores = model.recommend_history([2, 3, 4, 4], k=3)
    ref_items, ref_scores = model.recommend([2], k=3)
    np.testing.assert_array_equal(items, ref_items[0])
    np.testing.assert_allclose(scores, ref_scores[0])


@pytest.mark.parametrize("bad, match", [
    ([], "empty"), ([5], "not in the catalogue"), ([-1], "not in the catalogue"),
    ([[1]], "1-d"), ([1.5], "integer"),
])
def test_history_rejects_bad_items(model, bad, match):
    with pytest.raises(mgr.DataError, match=match):
        model.score_history(np.array(bad))


class _ExplainedRows(_Rows):
    """_Rows with an explanation of its own: explain checks the arguments before it."""

    def _explain(self, user, item, k):
        raise AssertionError("never reached with a bad argument")


def test_explain_validates_before_asking_the_model(model):
    # a model without _explain says so first: no user, item or k would change that
    for args, kwargs in (((0, 0), {}), ((4, 5), {"k": 0})):
        with pytest.raises(NotImplementedError, match="_Rows does not explain"):
            model.explain(*args, **kwargs)
    explaining = _ExplainedRows().fit(model._training_interactions())
    with pytest.raises(ValueError, match="not in the catalogue"):
        explaining.explain(0, 5)
    with pytest.raises(ValueError, match="unknown"):
        explaining.explain(4, 0)
    with pytest.raises(ValueError, match="k must be"):
        explaining.explain(0, 0, k=0)


def test_updates_are_not_implemented_by_default(model):
    with pytest.raises(NotImplementedError, match="partial_fit"):
        model.partial_fit(model._training_interactions())
    with pytest.raises(NotImplementedError, match="forget"):
        model.forget(users=[0])


# ------------------------------------------------------------------ merge
def test_merge_new_keeps_old_ids_and_appends_new_ones(model):
    new = mgr.Interactions([0, 1, 2, 1], [0, 1, 0, 2], user_ids=np.array([12, 99, 98]),
                           item_ids=np.array([104, 200, 100]))
    R_before = model.R_.copy()
    m = model._merge_new(new)
    # new users 99, 98 in order of first appearance among the pairs; new item 200
    assert m.user_ids.tolist() == [10, 11, 12, 13, 99, 98]
    assert m.item_ids.tolist() == [100, 101, 102, 103, 104, 200]
    assert (m.n_new_users, m.n_new_items) == (2, 1)
    assert m.users.tolist() == [2, 4, 5, 4] and m.items.tolist() == [4, 5, 4, 0]
    expected = sp.lil_matrix((6, 6))
    expected[:4, :5] = R_before.toarray()
    expected[m.users, m.items] = 1
    np.testing.assert_array_equal(m.R.toarray(), expected.toarray())
    assert (model.R_ != R_before).nnz == 0 and model.n_users_ == 4      # self unchanged


def test_merge_new_rejects_empty_and_mismatched_ids(model):
    with pytest.raises(mgr.DataError, match="no interactions"):
        model._merge_new(mgr.Interactions([], [], n_users=1, n_items=1))
    with pytest.raises(TypeError, match="Interactions"):
        model._merge_new([(0, 1)])
    with pytest.raises(mgr.DataError, match="kind"):
        model._merge_new(mgr.Interactions([0], [0], user_ids=np.array(["x"]),
                                          item_ids=np.array([100])))


# ---------------------------------------------------------------- removal
def test_removal_drops_users_and_pairs(model):
    rm = model._removal(users=[1], interactions=np.array([[2, 3], [2, 3]]))
    assert rm.keep_users.tolist() == [0, 2, 3]
    assert rm.user_ids.tolist() == [10, 12, 13]
    assert rm.removed_pairs.tolist() == [[2, 3]]
    dense = model.R_.toarray()
    dense[2, 3] = 0
    np.testing.assert_array_equal(rm.R.toarray(), dense[[0, 2, 3]])
    assert model.R_[2, 3] == 1                                          # self unchanged


def test_removal_maps_raw_ids_of_an_interactions(model):
    forget = mgr.Interactions([0], [0], user_ids=np.array([13]), item_ids=np.array([100]))
    rm = model._removal(interactions=forget)
    assert rm.removed_pairs.tolist() == [[3, 0]]
    assert rm.R[3].nnz == 0


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(), ValueError, "users=... or interactions"),
    (dict(interactions=np.array([[0, 4]])), mgr.DataError, "not in the training data"),
    (dict(interactions=np.array([[0, 9]])), mgr.DataError, "not in the model's catalogue"),
    (dict(interactions=np.array([[0, 1], [7, 1]])), mgr.DataError,
     r"interactions\[1\] has user 7, not in the model's users"),
    (dict(interactions=np.array([0, 1])), mgr.DataError, r"\(n, 2\)"),
    (dict(users=[7]), ValueError, "unknown"),
    (dict(users=[0, 1, 2, 3]), mgr.DataError, "no training interactions"),
])
def test_removal_rejects_bad_input(model, kwargs, error, match):
    with pytest.raises(error, match=match):
        model._removal(**kwargs)


def test_training_interactions_round_trip(model):
    train = model._training_interactions()
    assert (train.to_csr() != model.R_).nnz == 0
    assert train.user_ids.tolist() == model.user_ids_.tolist()


def test_explain_options_reach_the_model_or_are_refused(model):
    class _WithOption(_Rows):
        def _explain(self, user, item, k, scale=1.0):
            return Explanation.from_contributions(user, item, [0], [scale], kind="item",
                                                  score=scale, exact=True, k=k)

    m = _WithOption().fit(model._training_interactions())
    assert m.explain(0, 1, scale=2.0).score == 2.0
    with pytest.raises(TypeError, match="no option 'paths'"):
        m.explain(0, 1, paths=True)


def test_merge_new_refuses_int_ids_for_a_model_with_str_ids():
    train = mgr.Interactions([0, 1], [0, 1], user_ids=np.array(["a", "b"]),
                             item_ids=np.array(["x", "y"]))
    m = _Rows().fit(train)
    with pytest.raises(mgr.DataError, match="not of the kind"):
        m._merge_new(mgr.Interactions([0], [0], user_ids=np.array([999]),
                                      item_ids=np.array(["x"])))
    merged = m._merge_new(mgr.Interactions([0], [0], user_ids=np.array(["c"]),
                                           item_ids=np.array(["x"])))
    assert merged.user_ids.tolist() == ["a", "b", "c"]


def test_explanation_says_exact_once():
    e = Explanation.from_contributions(0, 0, [1], [1.0], kind="item", score=1.0, exact=True,
                                       method="exact: s = W")
    assert str(e).splitlines()[0].endswith("(exact: s = W)")


class _Forgetting(_Rows):
    """_Rows with a forget of its own (as a user would write one) and hyperparameters."""

    _params_free_after_fit = ("block",)

    def __init__(self, alpha=1.0, M=None, block=8):
        self.alpha = alpha
        self.M = M
        self.block = block

    def forget(self, users=None, interactions=None):
        removal = self._removal(users, interactions)
        self.R_, self.user_ids_ = removal.R, removal.user_ids
        self.n_users_ = removal.R.shape[0]
        self.forgotten_ = getattr(self, "forgotten_", 0) + 1
        return self


def test_forget_of_nothing_returns_before_any_subclass_changes_a_thing(model):
    """The no-op is the base class's, for every subclass: ``_removal`` signals it and the
    wrapper every ``forget`` gets returns the model."""
    from minigraphrec.models.base import _NothingToForget
    m = _Forgetting().fit(model._training_interactions())
    for case in ({"users": []}, {"interactions": []}, {"interactions": np.zeros((0, 2), int)}):
        assert m.forget(**case) is m and not hasattr(m, "forgotten_")
        with pytest.raises(_NothingToForget):
            m._removal(**case)
    assert m.forget(users=[0]).forgotten_ == 1 and m.n_users_ == 3


def test_fit_record_refuses_changed_hyperparameters_but_the_free_ones(model, tmp_path):
    M = sp.random(5, 5, density=0.5, random_state=0, format="csr")
    m = _Forgetting(alpha=2.0, M=M).fit(model._training_interactions())
    m.set_params(block=64, M=M.copy())                  # free, and an equal matrix: accepted
    m.forget(users=[0])
    assert m.forgotten_ == 1
    m.set_params(alpha=3.0, M=M * 2)
    with pytest.raises(ValueError, match=r"_Forgetting\.forget: hyperparameters changed since "
                                         r"fit \(M=<a matrix, sha256 \w{12}\.\.\.> -> <5 x 5 "
                                         r"\w+>; alpha=2\.0 -> 3\.0\).*\(may change after fit: "
                                         r"block\)"):
        m.forget(users=[0])
    with pytest.raises(ValueError, match=r"_Forgetting\.partial_fit: .*alpha=2\.0 -> 3\.0"):
        m._merge_new(mgr.Interactions([0], [0], user_ids=[10], item_ids=[100]))
    assert m.forgotten_ == 1 and m.n_users_ == 3
    m.fit(model._training_interactions())               # a new fit records the new values
    assert m.forget(users=[0]).forgotten_ == 2


# -------------------------------------------- what the numbers are (quantity)
def test_similarity_is_not_a_split_no_shares_no_others():
    e = Explanation.from_contributions(0, 5, [3, 1, 2], [0.36, 0.27, 0.22], kind="item",
                                       score=-0.0059, exact=False, k=2, quantity="similarity")
    assert e.quantity == "similarity" and not e.additive
    assert np.isnan(e.shares).all() and e.shares.shape == (2,)
    assert all(np.isnan(r["share"]) for r in e.to_rows())
    text = str(e)
    assert "cosine" in text and "not a split" in text
    assert "share" not in text and "%" not in text and "others" not in text


def test_gradient_input_far_from_the_score_shows_the_gap_not_shares():
    e = Explanation.from_contributions(0, 1, [4, 2, 7], [0.1, -0.3, -0.059], kind="node",
                                       score=2.17, exact=False, k=2)
    assert e.quantity == "gradient_input" and not e.additive
    assert e.gap == pytest.approx(-0.259 - 2.17)
    assert np.isnan(e.shares).all()
    text = str(e)
    assert "grad×input" in text and "share" not in text.splitlines()[1]
    assert "others" not in text and "%" not in "".join(text.splitlines()[:-1])
    assert "sum over every source: -0.259" in text and "score 2.17" in text
    assert "gap -2.429" in text and "not a split" in text


def test_gradient_input_that_adds_up_gets_shares_and_its_gap():
    score = 1.0
    e = Explanation.from_contributions(0, 1, [4, 2, 7], [0.6, 0.3, 0.1 + 1e-4], kind="node",
                                       score=score, exact=False, k=2)
    assert e.additive and not e.exact
    np.testing.assert_allclose(e.shares, np.array([0.6, 0.3]) / (1.0 + 1e-4))
    text = str(e)
    assert "contribution" in text and "share" in text and "others" in text
    assert "gap +0.0001" in text and "not a split" not in text


def test_quantity_is_checked():
    with pytest.raises(ValueError, match="quantity must be one of"):
        Explanation.from_contributions(0, 0, [1], [1.0], kind="item", score=1.0, exact=False,
                                       quantity="saliency")
    with pytest.raises(ValueError, match="not a split"):
        Explanation.from_contributions(0, 0, [1], [1.0], kind="item", score=1.0, exact=True,
                                       quantity="similarity")


@pytest.fixture(scope="module")
def small():
    return mgr.datasets.synthetic(n_users=40, n_items=60, random_state=0)


def test_models_label_what_their_explanations_are(small):
    mf = mgr.MF(dim=8, epochs=2, random_state=0).fit(small)
    e = mf.explain(0, 5, k=3)
    assert e.quantity == "similarity" and np.isnan(e.shares).all()
    assert "%" not in str(e) and "others" not in str(e)
    knn = mgr.ItemKNN().fit(small)
    e = knn.explain(0, int(np.argmax(knn.score([0])[0])), k=2)
    assert e.quantity == "split" and e.exact and "share" in str(e)
    # zero biases, ReLU: GCN's halved gradient × input sums to the score (Euler)
    gcn = mgr.GCN(dim=8, epochs=0, random_state=0).fit(small)
    e = gcn.explain(0, 5, k=3)
    assert e.quantity == "gradient_input" and e.additive and np.isfinite(e.shares).all()
    ngcf = mgr.NGCF(dim=8, epochs=3, lr=0.05, random_state=0).fit(small)
    e = ngcf.explain(0, 5, k=3)
    # bi-interaction and biases: far from the score, no shares
    assert e.quantity == "gradient_input" and abs(e.total - e.score) > 0.01 * abs(e.score)
    assert not e.additive and np.isnan(e.shares).all() and "gap" in str(e).splitlines()[-1]


def test_quantity_defaults_as_documented_when_built_directly():
    """The field defaulted to "split" whatever exact said; the docstring says
    "gradient_input" when not exact."""
    common = dict(user=0, item=1, sources=np.array([2]), kind="item",
                  contributions=np.array([0.5]), score=1.0, total=0.5)
    assert Explanation(**common, exact=False).quantity == "gradient_input"
    assert Explanation(**common, exact=True).quantity == "split"
    with pytest.raises(DataError, match="quantity must be one of"):
        Explanation(**common, exact=False, quantity="saliency")


@pytest.mark.parametrize("cls, kw", [(mgr.GCN, {}), (mgr.NGCF, {"message_dropout": 0.1}),
                                     (mgr.GAT, {"attention_dropout": 0.2})])
def test_gradient_input_leaves_the_model_untouched_and_threads_agree(small, cls, kw,
                                                                     monkeypatch):
    """The pass runs with dropout off and a capture hook, on a copy: the model itself, which
    other threads may be explaining, scoring or updating, never changes. Was: both were set
    on the model for the pass (4 threads: 15 of 20 GCN explanations wrong)."""
    from concurrent.futures import ThreadPoolExecutor
    model = cls(dim=8, epochs=1, random_state=0, **kw).fit(small)
    name, value = next(iter(kw.items()), (None, None))
    seen = []
    real = cls._forward_rows

    def spy(self, nodes):
        seen.append((self is model, getattr(model, name) if name else None,
                     "_input_layer_backward" in model.__dict__))
        return real(self, nodes)
    with monkeypatch.context() as m:
        m.setattr(cls, "_forward_rows", spy)
        model.explain(0, 1)
    assert seen == [(False, value, False)]
    pairs = [(u, i) for u in range(5) for i in range(4)]
    alone = [model.explain(u, i, k=None) for u, i in pairs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda p: model.explain(*p, k=None), pairs))
    for a, b in zip(alone, threaded):
        np.testing.assert_array_equal(a.sources, b.sources)
        np.testing.assert_array_equal(a.contributions, b.contributions)


# ------------------------------------------------------- from_contributions' own checks
@pytest.mark.parametrize("k", [-1, 0, 1.5, "2", True])
def test_from_contributions_refuses_a_bad_k(k):
    """k=-1 silently dropped the last source; 1.5 and "2" raised TypeError from slicing."""
    with pytest.raises(DataError, match=f"k must be an integer >= 1 or None, got {k!r}"):
        Explanation.from_contributions(0, 0, [1, 2, 3], [3.0, 2.0, 1.0], kind="item",
                                       score=6.0, exact=True, k=k)
    e = Explanation.from_contributions(0, 0, [1, 2, 3], [3.0, 2.0, 1.0], kind="item",
                                       score=6.0, exact=True, k=np.int64(2))
    assert len(e) == 2


@pytest.mark.parametrize("contributions, score, match", [
    ([3.0, np.nan, 1.0], 6.0, r"contributions\[1\] \(source 7\) is nan; contributions must "
                              r"be finite"),
    ([3.0, 2.0, -np.inf], 6.0, r"contributions\[2\] \(source 2\) is -inf"),
    ([3.0, 2.0, 1.0], np.nan, "score must be a finite number, got nan"),
    ([3.0, 2.0, 1.0], np.inf, "score must be a finite number, got inf"),
    ([3.0, 2.0, 1.0 + 1j], 6.0, "contributions must be real, got complex128"),
])
def test_from_contributions_refuses_non_finite_numbers(contributions, score, match):
    """A NaN contribution made ``total`` and every share NaN ("nan%" in the table)."""
    with pytest.raises(DataError, match=match):
        Explanation.from_contributions(0, 0, [5, 7, 2], contributions, kind="item",
                                       score=score, exact=True, k=None)


def test_a_split_of_a_zero_total_prints_no_nan_share():
    e = Explanation.from_contributions(0, 0, [1, 2], [1.0, -1.0], kind="item", score=0.0,
                                       exact=True, k=None)
    assert np.isnan(e.shares).all()                          # no share of a total of 0
    text = str(e)
    assert "nan" not in text
    assert text.splitlines()[2:] == ["       1             1        -",
                                     "       2            -1        -"]


def test_all_contributions_kept_print_no_others_row_of_rounding():
    """With ``k=None`` nothing is left out, so ``total - sum(contributions)`` is 0 exactly:
    ``total`` was summed in the enumeration order and the kept ones in the sorted order,
    and the difference (an ulp or so) printed as an "others" row in most tables."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        c = rng.standard_normal(int(rng.integers(3, 40)))
        e = Explanation.from_contributions(0, 0, np.arange(c.size), c, kind="item",
                                           score=float(c.sum()), exact=True, k=None)
        assert e.total == e.contributions.sum()
        assert "others" not in str(e)
    # a 3-term example whose two orders round differently
    c = np.array([0.1, 0.7, 0.2])
    assert (0.1 + 0.7) + 0.2 != (0.7 + 0.2) + 0.1
    e = Explanation.from_contributions(0, 0, [0, 1, 2], c, kind="item", score=1.0,
                                       exact=True, k=None)
    assert "others" not in str(e)
    kept = Explanation.from_contributions(0, 0, [0, 1, 2], c, kind="item", score=1.0,
                                          exact=True, k=2)                # item 0 left out
    assert "others" in str(kept) and np.isclose(kept.total - kept.contributions.sum(), 0.1)


@pytest.mark.parametrize("args, match", [
    ({"sources": [1.7, 2.2]}, "sources must hold integer ids, got dtype float64"),
    ({"sources": [-1, 2]}, r"sources\[0\] = -1 is negative"),
    ({"sources": [True, False]}, "sources must hold integer ids, got dtype bool"),
    ({"sources": [[1, 2]]}, r"sources must be a 1-d array of integer ids, got shape \(1, 2\)"),
    ({"contributions": ["1", "2"]}, "contributions must be integers or floats, got dtype <U1"),
    ({"contributions": [True, False]}, "contributions must be integers or floats, got dtype "
                                       "bool"),
    ({"exact": "no"}, "exact must be True or False, got 'no'"),
    ({"user": 1.7}, "user must be an integer >= 0, got 1.7"),
    ({"item": -1}, "item must be an integer >= 0, got -1"),
])
def test_from_contributions_refuses_ids_and_flags_of_the_wrong_kind(args, match):
    """Float source ids were truncated (1.7 -> 1), negative ones kept, strings parsed as
    contributions, and ``exact="no"`` meant True."""
    given = dict(user=0, item=0, sources=[1, 2], contributions=[1.0, 2.0], kind="item",
                 score=3.0, exact=True, k=None)
    given.update(args)
    with pytest.raises(DataError, match=match):
        Explanation.from_contributions(**given)
