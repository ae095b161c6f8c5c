"""Issue 11 for the classic models: explain, score_history, partial_fit, forget.

Oracles whose right answer is known:

* explain: the contributions over every source sum to ``score(user)[item]``
  (float64), and equal the model's own matrices entry by entry;
* score_history of a training user's own history equals ``score([u])``
  bit for bit (UserKNN: also the row a refit gives a new user);
* partial_fit equals ``fit`` on the union, forget equals ``fit`` on what
  remains (the neighbourhood models bit for bit, EASE to rounding), and the
  saved file after ``forget`` holds the same arrays as the file of that fit;
* bad input raises a clear error and leaves the model as it was.

The data are two taste groups that share no item, so that an update inside
one group leaves the other group's similarity rows untouched: the kNN models
must then recompute only part of ``W``.
"""
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import DataError, Interactions
from minigraphrec.models import (
    EASE,
    GFCF,
    ContentBased,
    Hybrid,
    ItemKNN,
    Popularity,
    UserKNN,
)

N_USERS, N_ITEMS = 40, 24


def make_train(seed=0, weights=False):
    """Users 0..19 take items 0..11, users 20..39 items 12..23; string raw ids; features."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(N_USERS):
        pool = np.arange(12) if u < 20 else np.arange(12, 24)
        took = rng.choice(pool, size=int(rng.integers(2, 7)), replace=False)
        users += [u] * took.size
        items += sorted(took.tolist())
    features = rng.random((N_ITEMS, 4)) * (rng.random((N_ITEMS, 4)) < 0.7)
    features[:, 0] += 0.1                                       # no all-zero profile
    return Interactions(users, items, n_users=N_USERS, n_items=N_ITEMS,
                        weights=rng.integers(1, 6, len(users)).astype(float) if weights else None,
                        user_ids=np.array([f"u{u}" for u in range(N_USERS)]),
                        item_ids=np.array([f"i{i}" for i in range(N_ITEMS)]),
                        item_features=features)


MODELS = {
    "popularity": lambda: Popularity(),
    "itemknn": lambda: ItemKNN(k_neighbors=4),
    "itemknn-all-shrink": lambda: ItemKNN(k_neighbors=None, shrink=3.0, backend="numpy"),
    "itemknn-tfidf": lambda: ItemKNN(k_neighbors=5, weighting="tfidf", backend="numpy"),
    "itemknn-bm25-dot": lambda: ItemKNN(k_neighbors=5, weighting="bm25", similarity="dot",
                                         backend="numpy"),
    "userknn": lambda: UserKNN(k_neighbors=4),
    "userknn-all-shrink": lambda: UserKNN(k_neighbors=None, shrink=3.0, backend="numpy"),
    "userknn-tfidf": lambda: UserKNN(k_neighbors=5, weighting="tfidf", backend="numpy"),
    "userknn-bm25": lambda: UserKNN(k_neighbors=5, weighting="bm25", shrink=1.0,
                                         backend="numpy"),
    "ease": lambda: EASE(l2=2.0),
    "gfcf": lambda: GFCF(n_factors=6, dtype="float64"),
    "gfcf-linear": lambda: GFCF(alpha=0.0, dtype="float64", backend="numpy"),
    "content": lambda: ContentBased(),
    "hybrid": lambda: Hybrid([ItemKNN(k_neighbors=4, backend="numpy"), EASE(l2=2.0)]),
}
EXPLAINED = [name for name in MODELS if name != "hybrid"]
#: models whose update recomputes W bit for bit (EASE: Woodbury, to rounding)
BITWISE = [name for name in MODELS if not name.startswith(("ease", "hybrid"))]


def fitted(name, train=None):
    return MODELS[name]().fit(make_train() if train is None else train)


def refitted(name, model, data):
    """The oracle: model ``name`` fitted afresh on ``data`` (the content model on the training
    features, the hybrid with ``model``'s learnt weights)."""
    if name == "content":
        data.item_features = make_train().item_features
    if name == "hybrid":
        return Hybrid([ItemKNN(k_neighbors=4, backend="numpy"), EASE(l2=2.0)],
                      weights=model.weights_).fit(data)
    return MODELS[name]().fit(data)


def scores(model):
    return np.vstack([model.score([u])[0] for u in range(model.n_users_)])


def assert_same_model(model, ref, name):
    """The updated model and the oracle fit: same ids, same R, same scores (and W)."""
    np.testing.assert_array_equal(model.user_ids_, ref.user_ids_)
    np.testing.assert_array_equal(model.item_ids_, ref.item_ids_)
    assert (model.R_ != ref.R_).nnz == 0 and model.R_.shape == ref.R_.shape
    if name in BITWISE:
        np.testing.assert_array_equal(scores(model), scores(ref))
        if hasattr(ref, "similarity_"):
            assert (model.similarity_ != ref.similarity_).nnz == 0
    else:
        S, T = scores(model), scores(ref)
        np.testing.assert_allclose(S, T, rtol=0, atol=1e-12 * np.abs(T).max())
        if hasattr(ref, "B_"):
            np.testing.assert_allclose(model.B_, ref.B_, rtol=0, atol=1e-12 * np.abs(ref.B_).max())


def new_interactions():
    """Old user u3 gets item i5 (group 1); new user n1 takes i1 and a new item x1."""
    return Interactions([0, 1, 1], [0, 1, 2], n_users=2, n_items=3,
                        user_ids=np.array(["u3", "n1"]),
                        item_ids=np.array(["i5", "i1", "x1"]))


def union_of(model, new):
    merge = model._merge_new(new)
    return model._training_interactions(merge.R, merge.user_ids, merge.item_ids)


# ====================================================================== explain
@pytest.mark.parametrize("name", EXPLAINED)
def test_explain_contributions_sum_to_the_score(name):
    model = fitted(name)
    S = scores(model)
    for u in range(0, N_USERS, 3):
        for i in range(0, N_ITEMS, 2):
            e = model.explain(u, i, k=None)
            assert e.exact and e.user == u and e.item == i
            assert e.score == S[u, i]
            assert abs(e.total - S[u, i]) <= 1e-12 * max(1.0, abs(S[u, i])), (u, i)
            assert np.all(np.diff(e.contributions) <= 0)           # largest first
            assert e.kind == ("user" if name.startswith(("userknn", "popularity")) else "item")
    short = model.explain(5, 3, k=2)
    assert len(short) <= 2 and short.total == model.explain(5, 3, k=None).total


def test_itemknn_and_ease_contributions_are_their_matrix_entries():
    for name, matrix in (("itemknn", lambda m: m.similarity_.toarray()),
                         ("ease", lambda m: m.B_)):
        model = fitted(name)
        W = matrix(model)
        e = model.explain(7, 4, k=None)
        items = model.R_[7].indices
        assert sorted(e.sources.tolist()) == sorted(items.tolist())
        for j, c in zip(e.sources, e.contributions):
            assert c == W[j, 4]


def test_userknn_contributions_are_neighbour_votes():
    model = fitted("userknn")
    W, R = model.similarity_.toarray(), model.R_.toarray()
    e = model.explain(2, 3, k=None)
    expected = {v: W[2, v] for v in range(N_USERS) if W[2, v] * R[v, 3] != 0}
    assert dict(zip(e.sources.tolist(), e.contributions.tolist())) == expected


def test_popularity_explains_by_the_items_users():
    model = fitted("popularity")
    e = model.explain(0, 13, k=None)
    assert sorted(e.sources.tolist()) == np.flatnonzero(model.R_.toarray()[:, 13]).tolist()
    assert np.all(e.contributions == 1.0) and e.total == model.popularity_[13]
    assert model.explain(30, 13, k=None).sources.tolist() == e.sources.tolist()


def test_gfcf_contributions_match_a_dense_reference_of_both_filters():
    model = fitted("gfcf")
    R = model.R_.toarray()
    du, di = R.sum(1), R.sum(0)
    inv_sqrt = np.where(di > 0, 1 / np.sqrt(np.maximum(di, 1)), 0.0)   # items nobody took: 0
    Rt = R / np.sqrt(du)[:, None] * inv_sqrt[None, :]
    V = np.linalg.svd(Rt)[2][:6].T                                  # (n_items, 6)
    filt = Rt.T @ Rt + 0.3 * np.diag(inv_sqrt) @ V @ V.T @ np.diag(np.sqrt(di))
    u, i = 4, 9
    e = model.explain(u, i, k=None)
    got = dict(zip(e.sources.tolist(), e.contributions.tolist()))
    for j in np.flatnonzero(R[u]):
        assert got[j] == pytest.approx(filt[j, i], rel=1e-10, abs=1e-13)
    assert "linear filter" in e.method and "ideal low-pass" in e.method


def test_content_based_weighted_explains_exactly():
    model = ContentBased(weighted=True).fit(make_train(weights=True))
    S = scores(model)
    for u, i in [(0, 0), (5, 7), (25, 20), (39, 1)]:
        assert model.explain(u, i, k=None).total == pytest.approx(S[u, i], rel=1e-12, abs=1e-15)


def test_hybrid_does_not_explain_and_says_why():
    with pytest.raises(NotImplementedError, match="normalised per user"):
        fitted("hybrid").explain(0, 1)


@pytest.mark.parametrize("name", ["itemknn", "ease", "gfcf", "popularity"])
def test_explain_rejects_unknown_ids(name):
    model = fitted(name)
    with pytest.raises(ValueError, match="user id 40 is unknown"):
        model.explain(N_USERS, 0)
    with pytest.raises(ValueError, match="item 24 is not in the catalogue"):
        model.explain(0, N_ITEMS)
    with pytest.raises(ValueError, match="k must be"):
        model.explain(0, 0, k=0)


# ================================================================ score_history
@pytest.mark.parametrize("name", MODELS)
def test_own_history_gives_the_users_scores_exactly(name):
    model = fitted(name)
    for u in range(N_USERS):
        history = model.R_[u].indices
        np.testing.assert_array_equal(model.score_history(history), model.score([u])[0])
    items, top = model.recommend([11], k=5)
    h_items, h_top = model.recommend_history(model.R_[11].indices[::-1], k=5)   # any order
    np.testing.assert_array_equal(h_items, items[0])
    np.testing.assert_array_equal(h_top, top[0])


def test_userknn_history_is_a_new_users_row_of_a_refit():
    """Without weighting, a history's neighbours are those a refit gives it as a new user."""
    train = make_train()
    for params in ({"k_neighbors": 3}, {"k_neighbors": None, "shrink": 2.0}):
        model = UserKNN(**params).fit(train)
        history = np.array([0, 4, 9, 14])                       # no training user has it
        both = Interactions(np.concatenate([train.users, [N_USERS] * 4]),
                            np.concatenate([train.items, history]), n_items=N_ITEMS)
        ref = UserKNN(**params).fit(both)
        np.testing.assert_array_equal(model.score_history(history), ref.score([N_USERS])[0])


def test_userknn_history_equal_to_duplicate_users_leaves_out_the_first():
    train = make_train()
    seven = train.items[train.users == 7]
    extra = Interactions(np.concatenate([train.users, [N_USERS] * seven.size]),
                         np.concatenate([train.items, seven]), n_items=N_ITEMS)
    rows = extra.to_csr().toarray()
    twins = np.flatnonzero((rows == rows[N_USERS]).all(axis=1))
    assert twins.tolist() == [7, N_USERS]                        # user 40 copies user 7
    model = UserKNN(k_neighbors=4).fit(extra)
    np.testing.assert_array_equal(model.score_history(seven), model.score([7])[0])
    # user 40 counts user 7 as a neighbour, and user 7 counts user 40: the same scores here
    np.testing.assert_array_equal(model.score([N_USERS])[0], model.score([7])[0])


@pytest.mark.parametrize("name", ["itemknn", "userknn", "ease", "gfcf", "popularity", "content"])
def test_history_bad_input_is_a_clear_error(name):
    model = fitted(name)
    with pytest.raises(DataError, match="empty"):
        model.score_history([])
    with pytest.raises(DataError, match=r"items\[1\] = 24 is not in the catalogue"):
        model.score_history([0, N_ITEMS])
    with pytest.raises(DataError, match="integer item ids"):
        model.recommend_history([0.5], k=2)


# ================================================================== partial_fit
@pytest.mark.parametrize("name", MODELS)
def test_partial_fit_equals_fit_on_the_union(name):
    model = fitted(name)
    new = new_interactions()
    union = union_of(model, new)
    if name == "content":
        with pytest.raises(DataError, match="no features for, such as 'x1'"):
            model.partial_fit(new)
        new = new.subset(np.array([0, 1]))                      # known items only
        union = union_of(model, new)
    ref = refitted(name, model, union)
    assert model.partial_fit(new) is model
    assert model.n_users_ == N_USERS + 1
    assert_same_model(model, ref, name)


@pytest.mark.parametrize("name", [n for n in MODELS if n != "content"])
def test_partial_fit_labels_the_new_items(name, tmp_path):
    """item_labels_ grows with the catalogue: new items take the new data's labels ("" if
    it has none), known items keep theirs, and the labels survive save/load."""
    train = make_train()
    train.item_labels = np.array([f"title {i}" for i in range(N_ITEMS)])
    model = MODELS[name]().fit(train)
    new = new_interactions()                                 # x1 is the one new item
    new.item_labels = np.array(["other title of i5", "other title of i1", "title x1"])
    model.partial_fit(new)
    assert model.item_labels_.tolist() == [*train.item_labels.tolist(), "title x1"]
    mgr.save(model, tmp_path / "m.npz")
    assert mgr.load(tmp_path / "m.npz").item_labels_.tolist() == model.item_labels_.tolist()
    unlabelled = Interactions([0], [0], user_ids=np.array(["u1"]), item_ids=np.array(["x2"]))
    model.partial_fit(unlabelled)
    assert model.item_labels_.tolist() == [*train.item_labels.tolist(), "title x1", ""]
    bare = MODELS[name]().fit(make_train())                  # labels only in the new data
    bare.partial_fit(new)
    assert bare.item_labels_.tolist() == [""] * N_ITEMS + ["title x1"]
    bare = MODELS[name]().fit(make_train())                  # labels nowhere: none kept
    bare.partial_fit(new_interactions())
    assert not hasattr(bare, "item_labels_")


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_knn_update_inside_one_group_recomputes_only_that_group(cls):
    model = cls(k_neighbors=4).fit(make_train())
    new = Interactions([0], [0], user_ids=np.array(["u30"]), item_ids=np.array(["i13"]))
    ref = cls(k_neighbors=4).fit(union_of(model, new))
    model.partial_fit(new)
    assert_same_model(model, ref, "itemknn")
    assert 0 < model._last_update["rows_recomputed"] <= model._last_update["rows"] // 2 + 1


def test_ease_large_update_refits_and_still_matches():
    model = fitted("ease")
    users = np.repeat(np.arange(8), 3)
    new = Interactions(users, (users * 5 + np.tile([1, 2, 3], 8)) % N_ITEMS, n_items=N_ITEMS,
                       user_ids=np.array([f"u{u}" for u in range(8)]),
                       item_ids=np.array([f"i{i}" for i in range(N_ITEMS)]))
    ref = EASE(l2=2.0).fit(union_of(model, new))
    model.partial_fit(new)
    assert model._last_update["method"] == "refit"
    assert_same_model(model, ref, "ease")
    small = fitted("ease").partial_fit(new_interactions())
    assert small._last_update["method"] == "woodbury"


def test_content_weighted_partial_fit_adds_the_new_weights():
    train = make_train(weights=True)
    model = ContentBased(weighted=True).fit(train)
    new = Interactions([0, 1], [0, 1], weights=[4.0, 2.0], user_ids=np.array(["u3", "n1"]),
                       item_ids=np.array(["i5", "i1"]))
    merge = model._merge_new(new)
    union = Interactions(np.concatenate([train.users, merge.users]),
                         np.concatenate([train.items, merge.items]), n_items=N_ITEMS,
                         weights=np.concatenate([train.weights, [4.0, 2.0]]),
                         user_ids=merge.user_ids, item_ids=merge.item_ids,
                         item_features=train.item_features)
    ref = ContentBased(weighted=True).fit(union)
    model.partial_fit(new)
    np.testing.assert_array_equal(scores(model), scores(ref))


@pytest.mark.parametrize("name", ["itemknn", "userknn", "ease", "gfcf", "popularity"])
def test_partial_fit_bad_input(name):
    model = fitted(name)
    with pytest.raises(TypeError, match="must be an Interactions"):
        model.partial_fit(np.array([[0, 1]]))
    with pytest.raises(DataError, match="holds no interactions"):
        model.partial_fit(Interactions([], [], n_users=1, n_items=1,
                                       user_ids=np.array(["u0"]), item_ids=np.array(["i0"])))


# ======================================================================= forget
def forget_cases(model):
    users = np.array([3, 25])
    pairs = np.array([[5, model.R_[5].indices[0]], [30, model.R_[30].indices[-1]]])
    raw = Interactions([0], [0], user_ids=np.array(["u8"]),
                       item_ids=np.array([f"i{model.R_[8].indices[1]}"]))
    return [{"users": users}, {"interactions": pairs}, {"interactions": raw},
            {"users": users, "interactions": pairs}]


@pytest.mark.parametrize("name", MODELS)
def test_forget_equals_fit_on_what_remains(name):
    for case in forget_cases(fitted(name)):
        model = fitted(name)
        removal = model._removal(**case)
        remaining = model._training_interactions(removal.R, removal.user_ids)
        ref = refitted(name, model, remaining)
        assert model.forget(**case) is model
        assert_same_model(model, ref, name)


def test_ease_forgetting_every_user_of_an_item_zeroes_it_exactly():
    model = fitted("ease")
    takers = np.flatnonzero(model.R_.toarray()[:, 2])
    pairs = np.stack([takers, np.full(takers.size, 2)], axis=1)
    model.forget(interactions=pairs)
    assert np.all(model.B_[2] == 0) and np.all(model.B_[:, 2] == 0)


@pytest.mark.parametrize("name", ["itemknn", "userknn", "ease", "gfcf", "popularity", "content"])
def test_forget_bad_input(name):
    model = fitted(name)
    absent = int(np.flatnonzero(model.R_.toarray()[0] == 0)[0])
    with pytest.raises(DataError, match=rf"\(user 0, item {absent}\) is not in the training data"):
        model.forget(interactions=np.array([[0, absent]]))
    with pytest.raises(ValueError, match="user id 40 is unknown"):
        model.forget(users=[N_USERS])
    with pytest.raises(ValueError, match="needs users=... or interactions="):
        model.forget()
    with pytest.raises(DataError, match=rf"interactions\[0\] has item {N_ITEMS}, not in the "
                                        rf"model's catalogue 0..{N_ITEMS - 1}"):
        model.forget(interactions=np.array([[0, N_ITEMS]]))
    # the row at fault, for a user as for an item (was: "user id 40 is unknown", no row)
    with pytest.raises(DataError, match=rf"interactions\[1\] has user {N_USERS}, not in the "
                                        rf"model's users 0..{N_USERS - 1}"):
        model.forget(interactions=np.array([[0, absent], [N_USERS, 0]]))


# ============================================================ save/load, no trace
def saved_arrays(model, path):
    mgr.save(model, path)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k not in ("__meta__", "__sha256__")}


@pytest.mark.parametrize("name", MODELS)
def test_save_load_after_partial_fit_and_forget(name, tmp_path):
    model = fitted(name)
    if name != "content":
        model.partial_fit(new_interactions())
        loaded = mgr.load(mgr.save(model, tmp_path / "p.npz") or tmp_path / "p.npz")
        np.testing.assert_array_equal(scores(loaded), scores(model))
        np.testing.assert_array_equal(loaded.user_ids_, model.user_ids_)
    forgotten = model.R_[6].indices
    model.forget(users=[6], interactions=np.array([[9, model.R_[9].indices[0]]]))
    mgr.save(model, tmp_path / "f.npz")
    loaded = mgr.load(tmp_path / "f.npz")
    np.testing.assert_array_equal(scores(loaded), scores(model))
    assert "u6" not in set(loaded.user_ids_.tolist())
    assert forgotten.size and loaded.R_.shape[0] == model.n_users_


@pytest.mark.parametrize("name", [*BITWISE, "ease"])
def test_forgotten_file_is_the_file_of_a_fit_without_them(name, tmp_path):
    """Every array of the saved file equals the one a fit on the remaining data saves."""
    model = fitted(name)
    case = {"users": [3], "interactions": np.array([[30, model.R_[30].indices[0]]])}
    removal = model._removal(**case)
    remaining = model._training_interactions(removal.R, removal.user_ids)
    remaining.item_features = make_train().item_features            # ContentBased's
    ref = MODELS[name]().fit(remaining)
    model.forget(**case)
    got = saved_arrays(model, tmp_path / "forgot.npz")
    want = saved_arrays(ref, tmp_path / "refit.npz")
    assert sorted(got) == sorted(want)
    for key in want:
        if name == "ease" and key in ("B_", "P_diag_"):
            np.testing.assert_allclose(got[key], want[key], rtol=0,
                                       atol=1e-12 * np.abs(want[key]).max())
        else:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)


# ================================================================ transactional
@pytest.mark.parametrize("name", ["itemknn", "userknn", "ease", "gfcf", "popularity"])
def test_failed_update_leaves_the_model_unchanged(name, monkeypatch):
    model = fitted(name)
    before = scores(model)
    R_before, ids_before = model.R_.copy(), model.user_ids_.copy()
    with pytest.raises(DataError):
        model.forget(users=[1], interactions=np.array([[0, int(np.flatnonzero(
            model.R_.toarray()[0] == 0)[0])]]))
    # a failure deep inside the update, after the union was built
    import minigraphrec.models.knn as knn_module
    boom = RuntimeError("injected failure")

    def fail(*args, **kwargs):
        raise boom
    if name in ("itemknn", "userknn"):
        monkeypatch.setattr(knn_module, "_similarity_rows", fail)
    elif name == "ease":
        monkeypatch.setattr(np.linalg, "solve", fail)
    elif name == "gfcf":
        monkeypatch.setattr(type(model), "fit", fail)
    else:
        monkeypatch.setattr(np, "bincount", fail)
    with pytest.raises(RuntimeError, match="injected"):
        model.partial_fit(new_interactions())
    with pytest.raises(RuntimeError, match="injected"):
        model.forget(users=[2])
    monkeypatch.undo()
    np.testing.assert_array_equal(scores(model), before)
    assert (model.R_ != R_before).nnz == 0 and model.n_users_ == N_USERS
    np.testing.assert_array_equal(model.user_ids_, ids_before)


def test_hybrid_update_is_all_or_nothing():
    train = make_train()
    knn = ItemKNN(k_neighbors=4)
    model = Hybrid([knn, ContentBased()]).fit(train)
    fitted = model.models_[0]
    before, W_before = scores(model), fitted.similarity_.copy()
    with pytest.raises(DataError, match="no features"):
        model.partial_fit(new_interactions())                   # ContentBased refuses x1
    assert (fitted.similarity_ != W_before).nnz == 0 and fitted.n_users_ == N_USERS
    assert model.models_[0] is fitted
    np.testing.assert_array_equal(scores(model), before)
    model.partial_fit(new_interactions().subset(np.array([0, 1])))
    assert model.models_[0].n_users_ == N_USERS + 1
    assert fitted.n_users_ == N_USERS and not hasattr(knn, "R_")   # copies updated


@pytest.mark.parametrize("kind", ["int", "str"])
def test_id_extension_by_sorting_equals_the_dictionary_loop(kind):
    """``_merge_new`` extends ids by sorting where the kinds allow it: the same indices, raw
    ids and count as the reference loop, for repeated, interleaved, known and new ids."""
    from minigraphrec.models.base import _extend_ids_loop, _extend_ids_sorted
    rng = np.random.default_rng(3)
    for trial in range(30):
        old = rng.choice(10_000, size=rng.integers(0, 300), replace=False).astype(np.int64)
        new = rng.choice(np.concatenate([old, rng.integers(10_000, 10_050, 40)]),
                         size=rng.integers(1, 120)) if old.size else \
            rng.integers(0, 50, size=rng.integers(1, 120))
        if kind == "str":
            old, new = old.astype(str), np.array([f"{x}" for x in new])
        ids, raw_all, n_added = _extend_ids_sorted(old, new)
        ref_ids, ref_raw, ref_added = _extend_ids_loop(old, new, "user", "new")
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(raw_all, ref_raw)
        assert raw_all.dtype.kind == ref_raw.dtype.kind and n_added == ref_added, trial
        assert ids.dtype == np.int64


def test_id_extension_leaves_other_kinds_to_the_loop():
    from minigraphrec.models.base import _extend_ids_sorted
    old = np.arange(5, dtype=np.int64)
    assert _extend_ids_sorted(old, np.array(["3"])) is None          # mixed kinds: the error
    assert _extend_ids_sorted(old, np.array([3.0])) is None          # floats: Python equality
    assert _extend_ids_sorted(old, np.array([3], dtype=np.uint64)) is None


# ===================================================== forget: raw ids, empty calls
def int_id_train():
    """make_train with integer raw ids: users 1000 + 7u, items 5 + 3i."""
    t = make_train()
    return Interactions(t.users, t.items, n_users=N_USERS, n_items=N_ITEMS,
                        user_ids=1000 + 7 * np.arange(N_USERS),
                        item_ids=5 + 3 * np.arange(N_ITEMS), item_features=t.item_features)


def test_forget_of_an_unknown_raw_id_names_it_and_suggests_no_option():
    """forget has no on_unknown: the message must not offer one (it was align's)."""
    model = ItemKNN(k_neighbors=4).fit(int_id_train())
    before = scores(model)
    with pytest.raises(DataError) as err:
        model.forget(interactions=Interactions([0, 1], [0, 0], user_ids=[1000, 123456],
                                               item_ids=[5]))
    assert "interactions[1] has user 123456, which is not in the model" in str(err.value)
    assert "forget removes only what the model was fitted on" in str(err.value)
    assert "on_unknown" not in str(err.value)
    with pytest.raises(DataError, match="interactions\\[0\\] has item 6, which is not in"):
        model.forget(interactions=Interactions([0], [0], user_ids=[1000], item_ids=[6]))
    np.testing.assert_array_equal(scores(model), before)


def test_forget_names_a_pair_not_in_training_in_the_raw_ids_it_was_given():
    model = ItemKNN(k_neighbors=4).fit(int_id_train())
    absent = int(np.flatnonzero(model.R_.toarray()[0] == 0)[0])
    raw_item = 5 + 3 * absent
    with pytest.raises(DataError, match=rf"interactions\[0\] = \(user 1000, item {raw_item}\), "
                                        rf"internal \(user 0, item {absent}\), is not in the "
                                        "training data"):
        model.forget(interactions=Interactions([0], [0], user_ids=[1000], item_ids=[raw_item]))


@pytest.mark.parametrize("train", [make_train, int_id_train])
def test_forget_looks_raw_ids_up_as_evaluate_does(train):
    """forget only looks ids up, as align and evaluate do (match_raw_ids): a string that
    spells an integer raw id finds it; an id the model does not know is named."""
    model = ItemKNN(k_neighbors=4).fit(train())
    item = int(model.R_[8].indices[0])
    known_user, known_item = model.user_ids_[8], model.item_ids_[item]
    spelled = (str if model.user_ids_.dtype.kind == "i" else (lambda x: x))
    before = scores(model)
    unknown = Interactions([0], [0], user_ids=["no such user"], item_ids=[spelled(known_item)])
    with pytest.raises(DataError, match="interactions\\[0\\] has user 'no such user', which is "
                                        "not in the model"):
        model.forget(interactions=unknown)
    np.testing.assert_array_equal(scores(model), before)
    right = Interactions([0], [0], user_ids=[spelled(known_user)],
                         item_ids=[spelled(known_item)])
    nnz = model.R_.nnz
    assert model.forget(interactions=right).R_[8, item] == 0
    assert model.n_users_ == N_USERS and model.R_.nnz == nnz - 1


@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (2, 0, 2), (0, 2, 1)])
def test_forget_refuses_a_malformed_empty_array(shape):
    """Only [] and a (0, 2) array are 'nothing to forget'; (3, 0) and the like were silently
    taken as nothing."""
    model = ItemKNN(k_neighbors=4).fit(make_train())
    with pytest.raises(DataError, match="interactions must be an \\(n, 2\\) integer array"):
        model.forget(interactions=np.zeros(shape, dtype=np.int64))


def empty_forgets(model):
    """Every way to forget nothing."""
    no_pairs = Interactions([], [], n_users=0, n_items=0,
                            user_ids=model.user_ids_[:0], item_ids=model.item_ids_[:0])
    return [{"users": []}, {"users": np.array([], dtype=np.int64)},
            {"interactions": np.zeros((0, 2), dtype=np.int64)}, {"interactions": []},
            {"interactions": no_pairs}, {"users": [], "interactions": np.zeros((0, 2), int)}]


@pytest.mark.parametrize("name", MODELS)
def test_forgetting_nothing_is_a_no_op_that_changes_no_attribute(name):
    model = fitted(name)
    for case in empty_forgets(model):
        before = dict(model.__dict__)
        assert model.forget(**case) is model, case
        assert model.__dict__.keys() == before.keys(), case
        assert all(model.__dict__[k] is v for k, v in before.items()), case
    with pytest.raises(ValueError, match="needs users=... or interactions="):
        model.forget()                                      # nothing given is still an error
    with pytest.raises(ValueError, match="user id 40 is unknown"):
        model.forget(users=[N_USERS], interactions=np.zeros((0, 2), int))


# ====================================== hyperparameters changed between fit and update
#: per model, a hyperparameter the fitted state depends on, and another value of it
FIT_DEPENDENT = {
    "itemknn": ("k_neighbors", 3), "itemknn-all-shrink": ("shrink", 1.0),
    "itemknn-tfidf": ("weighting", "bm25"), "itemknn-bm25-dot": ("K1", 2.0),
    "userknn": ("similarity", "dot"), "userknn-all-shrink": ("k_neighbors", 5),
    "userknn-tfidf": ("weighting", None), "userknn-bm25": ("B", 0.5),
    "ease": ("l2", 20.0), "content": ("normalize_items", False),
}
#: per model, the hyperparameters that may change after fit, and a new value for each
FREE = {"itemknn": {"backend": "numpy", "block_size": 3}, "ease": {"block_size": 3,
                                                                   "max_items": 1000}}


@pytest.mark.parametrize("name", FIT_DEPENDENT)
def test_update_refuses_a_hyperparameter_changed_since_fit(name):
    """A DataError (it was a bare ValueError, where a resumed ``fit`` refusing a changed
    hyperparameter raised a DataError)."""
    model = fitted(name)
    param, value = FIT_DEPENDENT[name]
    old = model.get_params()[param]
    model.set_params(**{param: value})
    before = dict(model.__dict__)
    S = scores(model)
    calls = {"partial_fit": lambda: model.partial_fit(new_interactions().subset(np.array([0]))),
             "forget": lambda: model.forget(users=[3])}
    for method, call in calls.items():
        with pytest.raises(DataError) as err:
            call()
        message = str(err.value)
        assert f"{type(model).__name__}.{method}: hyperparameters changed since fit " \
               f"({param}={old!r} -> {value!r})" in message
        assert "set them back, or fit again" in message
        assert model.__dict__.keys() == before.keys()
        assert all(model.__dict__[k] is v for k, v in before.items())
        np.testing.assert_array_equal(scores(model), S)
    model.set_params(**{param: old})                         # set back: the update runs
    model.forget(users=[3])
    assert model.n_users_ == N_USERS - 1


def test_content_refuses_other_item_features_and_names_them_by_shape():
    model = fitted("content")
    model.set_params(item_features=np.ones((N_ITEMS, 2)))
    with pytest.raises(ValueError, match=r"item_features=None -> <24 x 2 ndarray>"):
        model.forget(users=[3])
    model.set_params(item_features=None)
    assert model.forget(users=[3]).n_users_ == N_USERS - 1


@pytest.mark.parametrize("name", FREE)
def test_update_accepts_the_hyperparameters_that_may_change_after_fit(name):
    model = fitted(name)
    model.set_params(**FREE[name])
    new = new_interactions()
    ref = refitted(name, model, union_of(model, new))
    assert_same_model(model.partial_fit(new), ref, name)
    case = {"users": [3], "interactions": np.array([[30, model.R_[30].indices[0]]])}
    removal = model._removal(**case)
    ref = refitted(name, model, model._training_interactions(removal.R, removal.user_ids))
    assert_same_model(model.forget(**case), ref, name)


def test_gfcf_update_is_a_fit_with_the_current_hyperparameters():
    """GF-CF reuses nothing of its fitted state: a hyperparameter changed after fit is not
    refused, it takes effect in the update, as in a new fit."""
    model = fitted("gfcf").set_params(n_factors=4, svd_solver="dense")
    new = new_interactions()
    ref = GFCF(n_factors=4, svd_solver="dense", dtype="float64").fit(union_of(model, new))
    model.partial_fit(new)
    assert model.V_.shape[1] == 4
    assert_same_model(model, ref, "gfcf")


@pytest.mark.parametrize("name", ["itemknn", "userknn-tfidf", "ease", "content", "popularity"])
def test_loaded_model_updates_and_refuses_changes_as_the_fitted_one(name, tmp_path):
    """The record of the fit's hyperparameters is rebuilt on load (from the saved ones):
    partial_fit and forget run after load, and a change made after load is refused."""
    model = fitted(name)
    mgr.save(model, tmp_path / "m.npz")
    loaded = mgr.load(tmp_path / "m.npz")
    new = new_interactions().subset(np.array([0, 1]))          # known items: ContentBased too
    model.partial_fit(new).forget(users=[3])
    loaded.partial_fit(new).forget(users=[3])
    np.testing.assert_array_equal(scores(loaded), scores(model))
    if name in FIT_DEPENDENT:
        param, value = FIT_DEPENDENT[name]
        again = mgr.load(tmp_path / "m.npz").set_params(**{param: value})
        with pytest.raises(ValueError, match=f"{param}="):
            again.partial_fit(new)
        with pytest.raises(ValueError, match=f"{param}="):
            again.forget(users=[3])


@pytest.mark.parametrize("name", ["userknn-tfidf", "userknn-bm25"])
def test_userknn_weighted_forget_is_the_renumbered_refit_not_an_empty_row_refit(name):
    """What the README and the docstrings call "fitted without them": the remaining users
    renumbered; a fit that keeps the forgotten user as an empty row (``train.subset``) counts
    it among the idf's N documents (and BM25's mean length) and scores otherwise."""
    train = make_train()
    model = fitted(name).forget(users=[3])
    renumbered = train.subset(train.users != 3)
    renumbered = Interactions(np.searchsorted(np.setdiff1d(np.arange(N_USERS), [3]),
                                              renumbered.users), renumbered.items,
                              n_users=N_USERS - 1, n_items=N_ITEMS,
                              user_ids=np.delete(train.user_ids, 3), item_ids=train.item_ids)
    np.testing.assert_array_equal(scores(model), scores(MODELS[name]().fit(renumbered)))
    empty_row = MODELS[name]().fit(train.subset(train.users != 3))
    kept = np.delete(np.arange(N_USERS), 3)
    assert np.abs(scores(model) - empty_row.score(kept)).max() > 1e-3


def test_a_person_is_forgotten_by_raw_id_once_and_then_unknown():
    """forget renumbers the users it keeps: users=[3] twice forgot two people. Looked up by
    raw id before each call, the second call is refused, naming the id."""
    data = Interactions([0, 1, 2, 3, 0, 2], [0, 1, 0, 2, 2, 1],
                        user_ids=["ann", "bob", "cy", "dee"], item_ids=[10, 20, 30])
    model = ItemKNN().fit(data)
    np.testing.assert_array_equal(model.users_from_raw(["dee", "ann"]), [3, 0])
    np.testing.assert_array_equal(model.items_from_raw(["30", 10]), [2, 0])  # "30" spells 30
    model.forget(users=model.users_from_raw("bob"))
    assert model.user_ids_.tolist() == ["ann", "cy", "dee"]
    np.testing.assert_array_equal(model.users_from_raw("dee"), [2])           # renumbered
    with pytest.raises(DataError, match=r"ItemKNN: 1 of the 2 raw user id\(s\) given are not "
                                        r"known to the model \(first: 'bob', at position 1\); "
                                        r"it knows 3 users"):
        model.users_from_raw(["ann", "bob"])
    with pytest.raises(DataError, match=r"ItemKNN: raw item ids must be one id or a 1-d list "
                                        r"of ids, got an array of shape \(1, 1\)"):
        model.items_from_raw([[10]])
    with pytest.raises(TypeError, match=r"ItemKNN: raw user ids must be one id or a list of "
                                        r"ids .*, got a set"):
        model.users_from_raw({"ann"})
    assert model.users_from_raw([]).shape == (0,)
    with pytest.raises(RuntimeError, match="not fitted"):
        ItemKNN().users_from_raw("ann")
