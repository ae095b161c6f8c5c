"""ContentBased, the tokenizer and TF-IDF: hand-computed profiles and cosines."""
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec import DataError, Interactions
from minigraphrec.models import ContentBased
from minigraphrec.models.content import _l2_rows, _user_profiles, tfidf_matrix, tokenize

# three items over two features: q0 = (1, 0), q1 = (0, 1), q2 = (1, 1)
FEATURES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def small_train(item_features=None, weights=None):
    # user 0 took item 0; user 1 took items 0 and 1; user 2 took nothing
    return Interactions([0, 1, 1], [0, 0, 1], n_users=3, n_items=3, weights=weights,
                        item_features=item_features, item_feature_names=["a", "b"]
                        if item_features is not None else None)


def test_tokenize():
    assert tokenize("Sci-Fi, 1995: 科幻片") == ["sci", "fi", "1995", "科", "幻", "片"]
    assert tokenize("Star_Wars  IV") == ["star", "wars", "iv"]
    assert tokenize("abc中文") == ["abc", "中", "文"]
    assert tokenize("Über café") == ["über", "café"]
    assert tokenize(" ,.; ") == []
    with pytest.raises(TypeError, match="str"):
        tokenize(3)


def test_tfidf_matrix_by_hand():
    X, vocab = tfidf_matrix(["a b a", "b c", "c c d"])
    assert vocab == ["a", "b", "c", "d"]
    l3, l15 = np.log(3.0), np.log(1.5)                            # idf: df 1 and df 2 of N = 3
    rows = np.array([[2 * l3, l15, 0, 0],
                     [0, l15, l15, 0],
                     [0, 0, 2 * l15, l3]])
    expected = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    np.testing.assert_allclose(X.toarray(), expected, rtol=1e-15)


def test_tfidf_term_everywhere_gets_zero_and_min_df():
    X, vocab = tfidf_matrix(["x y", "x z", "x"])
    assert vocab == ["x", "y", "z"]
    np.testing.assert_array_equal(X[:, 0].toarray(), 0.0)         # log(3/3) = 0
    np.testing.assert_array_equal(X[2].toarray(), 0.0)            # only "x": zero row, no NaN
    X2, vocab2 = tfidf_matrix(["x y", "x z", "x"], min_df=2)
    assert vocab2 == ["x"] and X2.shape == (3, 1)


def test_tfidf_rejects_bad_input():
    with pytest.raises(TypeError, match="single str"):
        tfidf_matrix("one text")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        tfidf_matrix(["ok", None])
    with pytest.raises(ValueError, match="min_df"):
        tfidf_matrix(["a"], min_df=0)


def test_cosine_scores_by_hand():
    model = ContentBased().fit(small_train(FEATURES))
    S = model.score([0, 1, 2])
    r = 1 / np.sqrt(2)
    # user 0: p = q0 = (1, 0); user 1: p = mean of unit q0, q1 = (.5, .5)
    np.testing.assert_allclose(S[0], [1.0, 0.0, r], rtol=1e-15)
    np.testing.assert_allclose(S[1], [r, r, 1.0], rtol=1e-15)
    np.testing.assert_array_equal(S[2], 0.0)                      # no items: zero profile
    np.testing.assert_allclose(model.user_profiles_[1], [0.5, 0.5])
    assert model.feature_names_ == ["a", "b"]
    items, _ = model.recommend([1], k=1)
    assert items[0, 0] == 2


def test_normalize_items_changes_the_profile():
    # items with more features pull the mean profile harder without normalisation
    F = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    raw = ContentBased(item_features=F, normalize_items=False).fit(small_train())
    np.testing.assert_allclose(raw.user_profiles_[1], [1.5, 0.5])
    unit = ContentBased(item_features=F).fit(small_train())
    np.testing.assert_allclose(unit.user_profiles_[1], [0.5, 0.5])
    p = np.array([1.5, 0.5])
    np.testing.assert_allclose(raw.score([1])[0, 2], p.sum() / (np.linalg.norm(p) * np.sqrt(2)),
                               rtol=1e-15)


def test_weighted_profile():
    model = ContentBased(weighted=True).fit(small_train(FEATURES, weights=[1.0, 3.0, 1.0]))
    np.testing.assert_allclose(model.user_profiles_[1], [0.75, 0.25], rtol=1e-15)
    with pytest.raises(DataError, match="non-negative"):
        ContentBased(weighted=True).fit(small_train(FEATURES, weights=[1.0, -3.0, 1.0]))


def test_item_without_features_scores_zero():
    F = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    S = ContentBased(item_features=F).fit(small_train()).score([0, 1])
    np.testing.assert_array_equal(S[:, 1], 0.0)
    assert np.all(np.isfinite(S))


def test_sparse_features_equal_dense():
    rng = np.random.default_rng(0)
    F = (rng.random((20, 8)) < 0.3) * rng.random((20, 8))
    u = rng.integers(0, 10, 60)
    i = rng.integers(0, 20, 60)
    train = Interactions(u, i, n_users=10, n_items=20)
    users = np.arange(10)
    dense = ContentBased(item_features=F).fit(train).score(users)
    sparse = ContentBased(item_features=sp.csr_matrix(F)).fit(train).score(users)
    np.testing.assert_allclose(sparse, dense, rtol=1e-13, atol=1e-15)


def test_text_path_recommends_the_similar_item():
    texts = ["space opera starship", "space starship battle", "romantic comedy wedding",
             "wedding comedy", "space alien starship"]
    # user 0 liked the two space films, user 1 the two comedies
    train = Interactions([0, 0, 1, 1], [0, 1, 2, 3], n_users=2, n_items=5)
    model = ContentBased.from_texts(texts).fit(train)
    items, _ = model.recommend([0, 1], k=1)
    assert items[0, 0] == 4
    assert model.feature_names_[0] == "alien"
    S = model.score([1])
    assert S[0, 4] == 0.0                                          # no shared term
    same = ContentBased(item_texts=texts).fit(train).score([0, 1])
    np.testing.assert_array_equal(same, model.score([0, 1]))


def test_given_matrix_overrides_train_features():
    train = small_train(FEATURES)
    other = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    S = ContentBased(item_features=other).fit(train).score([0])
    np.testing.assert_allclose(S[0], [1.0, 0.0, 1 / np.sqrt(2)], rtol=1e-15)


def test_errors():
    with pytest.raises(DataError, match="needs item features"):
        ContentBased().fit(small_train())
    with pytest.raises(ValueError, match="not both"):
        ContentBased(item_features=FEATURES, item_texts=["a", "b", "c"]).fit(small_train())
    with pytest.raises(DataError, match="2 rows, expected one per item"):
        ContentBased(item_features=FEATURES[:2]).fit(small_train())
    with pytest.raises(DataError, match="NaN"):
        ContentBased(item_features=np.full((3, 2), np.nan)).fit(small_train())
    with pytest.raises(DataError, match="no columns"):
        ContentBased(item_features=np.zeros((3, 0))).fit(small_train())
    with pytest.raises(DataError, match="2-d"):
        ContentBased(item_features=np.ones(3)).fit(small_train())
    with pytest.raises(DataError, match="2 texts"):
        ContentBased(item_texts=["a", "b"]).fit(small_train())
    with pytest.raises(DataError, match="no term"):
        ContentBased(item_texts=["", "", ""]).fit(small_train())
    with pytest.raises(TypeError, match="single str"):
        ContentBased.from_texts("abc")
    with pytest.raises(ValueError, match="min_df"):
        ContentBased(item_texts=["a", "b", "c"], min_df=0).fit(small_train())
    with pytest.raises(RuntimeError, match="not fitted"):
        ContentBased().score([0])


def test_save_and_load_round_trip(tmp_path):
    from minigraphrec.io import load
    texts = ["space opera", "space battle", "wedding comedy"]
    model = ContentBased.from_texts(texts).fit(small_train())
    model.save(tmp_path / "content.npz")
    again = load(tmp_path / "content.npz")
    np.testing.assert_array_equal(again.score([0, 1, 2]), model.score([0, 1, 2]))
    assert again.feature_names_ == model.feature_names_


def test_sparse_profiles_score_bit_for_bit_as_scipy_after_every_update(tmp_path):
    """Sparse profiles are scored by the spgemm_dense kernel: the same bits as SciPy's
    ``(P_unit[users] @ Q_unitᵀ).toarray()``, after fit, partial_fit, forget and load."""
    import minigraphrec as mgr
    rng = np.random.default_rng(5)
    n_users, n_items = 60, 90
    users = rng.integers(0, n_users, 700)
    items = rng.integers(0, n_items, 700)
    train = Interactions(users, items, n_users=n_users, n_items=n_items,
                         weights=rng.integers(1, 6, 700).astype(float))
    F = sp.random(n_items, 25, density=0.15, format="csr", random_state=1,
                  data_rvs=lambda n: rng.uniform(0.1, 3.0, n))

    def check(model):
        P, Q = model._P_unit, model._Q_unit
        assert sp.issparse(P) and sp.issparse(Q)
        batch = np.array([5, 0, 5, model.n_users_ - 1])
        np.testing.assert_array_equal(model.score(batch), (P[batch] @ Q.T).toarray())
        hist = np.array([3, 7, 11])
        r = sp.csr_matrix((np.ones(3), hist, [0, 3]), shape=(1, model.n_items_))
        p = _l2_rows(_user_profiles(r, model.item_profiles_))          # (1, f)
        np.testing.assert_array_equal(model.score_history(hist), (p @ Q.T).toarray()[0])

    model = ContentBased(item_features=F, weighted=True).fit(train)
    check(model)
    model.partial_fit(Interactions([1, 2], [4, 5], n_users=n_users, n_items=n_items,
                                   weights=[2.0, 5.0]))
    check(model)
    model.forget(users=[7])
    check(model)
    model.save(tmp_path / "cb.npz")
    check(mgr.load(tmp_path / "cb.npz"))


def test_each_weight_must_be_non_negative_at_fit_and_partial_fit_alike():
    """The audit: fit checked the summed matrix (a pair weighted 2 and -1 passed), partial_fit
    each new weight. Now both check each interaction's weight and name its position, so
    fit(union) and fit(old).partial_fit(new) accept the same data."""
    F = np.eye(3)
    summed = Interactions([0, 0, 1], [0, 0, 1], weights=[2.0, -1.0, 1.0], n_items=3)
    with pytest.raises(DataError, match=r"non-negative interaction weights: "
                                        r"train\.weights\[1\] is -1\.0"):
        ContentBased(item_features=F, weighted=True).fit(summed)
    ContentBased(item_features=F, weighted=False).fit(summed)       # weights unused: fine
    old = Interactions([0, 1], [0, 1], weights=[2.0, 1.0], user_ids=[0, 1], item_ids=[0, 1, 2])
    model = ContentBased(item_features=F, weighted=True).fit(old)
    state = dict(model.__dict__)
    new = Interactions([0, 0], [0, 1], weights=[1.0, -1.0], user_ids=[0], item_ids=[0, 2])
    with pytest.raises(DataError, match=r"new_interactions\.weights\[1\] is -1\.0"):
        model.partial_fit(new)
    assert all(model.__dict__[k] is v for k, v in state.items())


@pytest.mark.parametrize("name", ["weighted", "normalize_items"])
@pytest.mark.parametrize("value", ["yes", None, 1, 0.0])
def test_flags_must_be_booleans(name, value):
    # "no" would be truthy: only True and False (NumPy's too) are taken
    with pytest.raises(DataError, match=rf"{name} must be True or False, got {value!r}"):
        ContentBased(item_features=FEATURES, **{name: value}).fit(small_train())
    ContentBased(item_features=FEATURES, **{name: np.bool_(True)}).fit(small_train())


def test_both_feature_sources_is_a_data_error():
    with pytest.raises(DataError, match="not both"):
        ContentBased(item_features=FEATURES, item_texts=["a", "b", "c"]).fit(small_train())


def test_explain_refuses_weighted_changed_since_fit():
    """explain splits the score over the weights that ``weighted`` selects at the call: a
    model fitted weighted and switched off after fit split the weighted profile's score
    over binary weights (contributions no longer summing to the score)."""
    train = small_train(FEATURES, weights=[1.0, 3.0, 1.0])
    model = ContentBased(weighted=True).fit(train)
    e = model.explain(1, 2, k=None)
    assert e.total == pytest.approx(model.score([1])[0, 2], abs=1e-15)
    model.set_params(weighted=False)
    with pytest.raises(ValueError, match=r"ContentBased\.explain: hyperparameters changed "
                                         r"since fit \(weighted=True -> False\)"):
        model.explain(1, 2)
    # score_history reads the fitted item profiles only
    np.testing.assert_array_equal(model.score_history([0]),
                                  model.set_params(weighted=True).score_history([0]))


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("normalize_items", [True, False])
@pytest.mark.parametrize("magnitude", [1e300, 1e-200])
def test_features_of_extreme_magnitude_give_the_scores_of_unit_ones(magnitude, normalize_items,
                                                                     sparse):
    """The cosine does not depend on a feature matrix's scale, but the row norms were sums of
    squares: beyond about 1e154 they overflowed to inf, below about 1e-154 to 0, and every
    profile came back 0, every score 0 (and ``explain`` split a score of 0). Such rows are
    rescaled by a power of two first; the scores are those of the same features at scale 1."""
    rng = np.random.default_rng(0)
    F = rng.random((12, 4))
    F[F < 0.3] = 0.0
    F[5] = 0.0                                                  # an item without features
    train = Interactions(rng.integers(0, 9, 40), rng.integers(0, 12, 40), n_users=9,
                         n_items=12)
    def fitted(G):
        return ContentBased(item_features=sp.csr_matrix(G) if sparse else G,
                            normalize_items=normalize_items).fit(train)
    unit, extreme = fitted(F), fitted(F * magnitude)
    users = np.arange(9)
    S = extreme.score(users)
    assert np.abs(S).max() > 0.5
    np.testing.assert_allclose(S, unit.score(users), rtol=0, atol=1e-15)
    for u, i in ((0, 1), (3, 7), (8, 2)):
        e = extreme.explain(u, i, k=None)
        assert abs(e.total - e.score) <= 1e-15 and e.score == extreme.score([u])[0, i]


def test_ordinary_rows_keep_their_normalised_bits():
    """Only rows whose norm is out of range are rescaled: the others are ``x * (1 / ‖x‖)``
    as before, bit for bit, dense and sparse, zero rows zero."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 6))
    X[3] = 0.0
    norms = np.linalg.norm(X, axis=1)
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    np.testing.assert_array_equal(_l2_rows(X), X * inv[:, None])
    Xs = sp.csr_matrix(X)                          # sparse norms: the stored squares summed
    sparse_norms = np.sqrt(np.asarray(Xs.multiply(Xs).sum(axis=1)).ravel())
    inv_s = np.divide(1.0, sparse_norms, out=np.zeros_like(norms), where=sparse_norms > 0)
    np.testing.assert_array_equal(_l2_rows(Xs).toarray(), (sp.diags(inv_s) @ Xs).toarray())
    Y = X.copy()
    Y[7] *= 1e200                                               # one row out of range
    np.testing.assert_array_equal(np.delete(_l2_rows(Y), 7, axis=0),
                                  np.delete(X * inv[:, None], 7, axis=0))
    np.testing.assert_allclose(_l2_rows(Y)[7], X[7] * inv[7], rtol=1e-15)
