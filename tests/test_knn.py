"""ItemKNN / UserKNN: weighting, pruned similarity and scores against hand computations."""
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec import Interactions
from minigraphrec.models import ItemKNN, UserKNN
from minigraphrec.models.knn import bm25_weight, tfidf_weight, topk_similarity


def random_binary(rng, shape, density):
    return sp.random(*shape, density=density, random_state=rng, format="csr",
                     data_rvs=np.ones)


def dense_reference(X, k, similarity="cosine", shrink=0.0):
    """Dense pruned similarity: full matrix, zero diagonal, top-k by (value desc, index asc)."""
    X = np.asarray(X.todense() if sp.issparse(X) else X, dtype=np.float64)
    D = X @ X.T
    if similarity == "cosine":
        n = np.linalg.norm(X, axis=1)
        den = np.outer(n, n) + shrink
        D = np.where(den > 0, D / np.where(den > 0, den, 1.0), 0.0)
    np.fill_diagonal(D, 0.0)
    out = np.zeros_like(D)
    for a in range(D.shape[0]):
        order = sorted(range(D.shape[1]), key=lambda b: (-D[a, b], b))
        kept = [b for b in order[:k] if D[a, b] > 0]
        out[a, kept] = D[a, kept]
    return out


# ----------------------------------------------------------------- weighting
X_COUNTS = sp.csr_matrix(np.array([[1., 0., 2., 0.],
                                   [0., 3., 1., 0.],
                                   [1., 1., 1., 0.]]))


def test_tfidf_weight_by_hand():
    # N = 3 documents; df = (2, 2, 3, 0); idf = (log 3/2, log 3/2, log 1 = 0, -)
    a = np.log(1.5)
    expected = np.array([[1 * a, 0, 0, 0],
                         [0, 3 * a, 0, 0],
                         [1 * a, 1 * a, 0, 0]])
    W = tfidf_weight(X_COUNTS)
    np.testing.assert_allclose(W.toarray(), expected, rtol=1e-15, atol=0)
    assert W.shape == X_COUNTS.shape


def test_bm25_weight_by_hand():
    K1, B = 1.2, 0.75
    idf = [np.log(1.5), np.log(1.5), 0.0, 0.0]
    length = [3.0, 4.0, 3.0]
    mean = 10.0 / 3.0
    expected = np.zeros((3, 4))
    for d in range(3):
        for t in range(4):
            x = X_COUNTS[d, t]
            if x:
                expected[d, t] = idf[t] * x * (K1 + 1) / (x + K1 * (1 - B + B * length[d] / mean))
    np.testing.assert_allclose(bm25_weight(X_COUNTS, K1, B).toarray(), expected,
                               rtol=1e-14, atol=0)


def test_bm25_with_b0_k1_0_is_binary_idf():
    # K1 = 0: x (0 + 1) / (x + 0) = 1 for every stored x, so w = idf
    W = bm25_weight(X_COUNTS, K1=0.0, B=0.0).toarray()
    np.testing.assert_allclose(W, (X_COUNTS.toarray() > 0) * np.log([1.5, 1.5, 1.0, 1.0]))


@pytest.mark.parametrize("K1,B", [(-0.1, 0.5), (1.0, 1.5), (1.0, -0.1), (np.nan, 0.5)])
def test_bm25_rejects_bad_parameters(K1, B):
    with pytest.raises(ValueError, match="K1|B"):
        bm25_weight(X_COUNTS, K1, B)


def test_weighting_rejects_negative_or_dense_input():
    with pytest.raises(ValueError, match="non-negative"):
        tfidf_weight(sp.csr_matrix(np.array([[1.0, -1.0]])))
    with pytest.raises(TypeError, match="sparse"):
        tfidf_weight(np.ones((2, 2)))


# ---------------------------------------------------------------- similarity
def test_similarity_by_hand_with_shrink_and_pruning():
    # items as rows: i0 = (1,1,1), i1 = (1,0,1), i2 = (0,1,1) over 3 users
    R = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1]], dtype=float)
    X = sp.csr_matrix(R.T)
    full = topk_similarity(X, k_neighbors=None).toarray()
    c = 2 / np.sqrt(6)
    np.testing.assert_allclose(full, [[0, c, c], [c, 0, 0.5], [c, 0.5, 0]], rtol=1e-15)
    shrunk = topk_similarity(X, k_neighbors=None, shrink=1.0).toarray()
    cs = 2 / (np.sqrt(6) + 1)
    np.testing.assert_allclose(shrunk, [[0, cs, cs], [cs, 0, 1 / 3], [cs, 1 / 3, 0]], rtol=1e-15)
    # k = 1: row 0 has a tie (items 1 and 2): the smaller id wins
    top1 = topk_similarity(X, k_neighbors=1).toarray()
    np.testing.assert_allclose(top1, [[0, c, 0], [c, 0, 0], [c, 0, 0]], rtol=1e-15)
    dot = topk_similarity(X, k_neighbors=None, similarity="dot").toarray()
    np.testing.assert_array_equal(dot, [[0, 2, 2], [2, 0, 1], [2, 1, 0]])


@pytest.mark.parametrize("k", [1, 3, 7, None])
@pytest.mark.parametrize("similarity,shrink", [("cosine", 0.0), ("cosine", 2.5), ("dot", 0.0)])
@pytest.mark.parametrize("block_size", [1, 4, None])
def test_similarity_matches_dense_reference(k, similarity, shrink, block_size):
    rng = np.random.default_rng(5)
    X = random_binary(rng, (23, 30), 0.15)
    keep = np.ones(23)
    keep[3] = 0.0
    X = sp.csr_matrix(sp.diags(keep) @ X)                          # row 3 all zero
    X.eliminate_zeros()
    assert X[3].nnz == 0
    S = topk_similarity(X, k, similarity, shrink, block_size)
    expected = dense_reference(X, 23 if k is None else k, similarity, shrink)
    np.testing.assert_allclose(S.toarray(), expected, rtol=1e-14, atol=0)
    assert np.all(np.diff(S.indptr) <= (23 if k is None else k))
    assert np.all(S.data > 0) and np.all(S.diagonal() == 0)
    assert S.has_sorted_indices


@pytest.mark.parametrize("kwargs,match", [
    (dict(k_neighbors=0), "k_neighbors"), (dict(similarity="l2"), "similarity"),
    (dict(shrink=-1.0), "shrink"), (dict(shrink=1.0, similarity="dot"), "shrink"),
    (dict(block_size=0), "block_size"),
])
def test_topk_similarity_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        topk_similarity(X_COUNTS, **kwargs)
    with pytest.raises(TypeError, match="sparse"):
        topk_similarity(X_COUNTS.toarray())


def test_similarity_with_weights_matches_dense_reference():
    rng = np.random.default_rng(6)
    X = sp.random(15, 20, density=0.3, random_state=rng, format="csr")
    W = bm25_weight(X)
    np.testing.assert_allclose(topk_similarity(W, 4, shrink=0.5, block_size=2).toarray(),
                               dense_reference(W, 4, shrink=0.5), rtol=1e-13, atol=0)


# --------------------------------------------------------------- estimators
@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize("weighting", [None, "tfidf", "bm25"])
def test_checkerboard_held_out_item_comes_first(cls, weighting, checkerboard):
    train, held = checkerboard
    model = cls(k_neighbors=5, weighting=weighting).fit(train)
    items, scores = model.recommend(np.arange(train.n_users), k=2)
    np.testing.assert_array_equal(items[:, 0], held)
    assert np.all(scores[:, 0] > 0)
    assert np.all(scores[:, 1] == 0)                               # other block: no similarity


def test_item_knn_scores_are_r_times_w():
    rng = np.random.default_rng(1)
    R = random_binary(rng, (30, 25), 0.2)
    coo = R.tocoo()
    train = Interactions(coo.row, coo.col, n_users=30, n_items=25)
    model = ItemKNN(k_neighbors=6, shrink=1.0, weighting="tfidf").fit(train)
    W = dense_reference(tfidf_weight(R.T.tocsr()), 6, shrink=1.0)
    np.testing.assert_allclose(model.similarity_.toarray(), W, rtol=1e-13, atol=0)
    np.testing.assert_allclose(model.score(np.arange(30)), R.toarray() @ W, rtol=1e-13, atol=0)


def test_user_knn_scores_are_w_times_r():
    rng = np.random.default_rng(2)
    R = random_binary(rng, (30, 25), 0.2)
    coo = R.tocoo()
    train = Interactions(coo.row, coo.col, n_users=30, n_items=25)
    model = UserKNN(k_neighbors=4, weighting="bm25", similarity="dot", K1=2.0, B=0.5).fit(train)
    W = dense_reference(bm25_weight(R, 2.0, 0.5), 4, similarity="dot")
    np.testing.assert_allclose(model.similarity_.toarray(), W, rtol=1e-13, atol=0)
    users = np.array([3, 0, 29])
    np.testing.assert_allclose(model.score(users), W[users] @ R.toarray(), rtol=1e-13, atol=0)


def test_bm25_cosine_equals_tfidf_cosine_on_binary_data():
    # the module docstring's remark: the BM25 factor is constant per row for binary data
    rng = np.random.default_rng(3)
    R = random_binary(rng, (40, 30), 0.15)
    coo = R.tocoo()
    train = Interactions(coo.row, coo.col, n_users=40, n_items=30)
    a = ItemKNN(k_neighbors=None, weighting="bm25").fit(train).similarity_
    b = ItemKNN(k_neighbors=None, weighting="tfidf").fit(train).similarity_
    np.testing.assert_allclose(a.toarray(), b.toarray(), rtol=1e-12, atol=1e-15)
    c = ItemKNN(k_neighbors=None, weighting="bm25", shrink=1.0).fit(train).similarity_
    assert not np.allclose(c.toarray(), b.toarray())


def test_block_size_does_not_change_the_model():
    rng = np.random.default_rng(4)
    R = random_binary(rng, (50, 37), 0.1)
    coo = R.tocoo()
    train = Interactions(coo.row, coo.col, n_users=50, n_items=37)
    a = ItemKNN(k_neighbors=5, block_size=1).fit(train).similarity_
    b = ItemKNN(k_neighbors=5, block_size=37).fit(train).similarity_
    assert (a != b).nnz == 0


def test_empty_user_and_item_score_zero():
    train = Interactions([0, 0, 1], [0, 1, 1], n_users=3, n_items=3)
    for cls in (ItemKNN, UserKNN):
        S = cls().fit(train).score([0, 1, 2])
        np.testing.assert_array_equal(S[2], 0.0)                  # user 2 took nothing
        np.testing.assert_array_equal(S[:, 2], 0.0)               # item 2 nobody took
        assert np.all(np.isfinite(S))


# ---------------------------------------------------------------- errors
BAD_HYPERPARAMETERS = [
    (dict(k_neighbors=0), "k_neighbors"),
    (dict(k_neighbors=2.5), "k_neighbors"),
    (dict(k_neighbors=True), "k_neighbors"),
    (dict(shrink=-1.0), "shrink"),
    (dict(shrink=np.inf), "shrink"),
    (dict(shrink=1.0, similarity="dot"), "shrink"),
    (dict(similarity="pearson"), "similarity"),
    (dict(weighting="idf"), "weighting"),
    (dict(weighting="bm25", K1=-1.0), "K1"),
    (dict(weighting="bm25", B=2.0), "B"),
    (dict(block_size=0), "block_size"),
    (dict(backend="torch"), "backend"),
]


@pytest.mark.parametrize("params,match", BAD_HYPERPARAMETERS)
@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_bad_hyperparameters_are_rejected(cls, params, match, checkerboard):
    train, _ = checkerboard
    with pytest.raises(ValueError, match=match):
        cls(**params).fit(train)


@pytest.mark.parametrize("params,match", BAD_HYPERPARAMETERS)
@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_bad_hyperparameter_values_are_data_errors(cls, params, match, checkerboard):
    """One type for one kind of error: k_neighbors, block_size and backend raised DataError
    (check_int, check_backend), shrink, similarity, weighting, K1 and B a bare ValueError."""
    from minigraphrec import DataError
    train, _ = checkerboard
    with pytest.raises(DataError, match=match):
        cls(**params).fit(train)
    kwargs = {k: v for k, v in params.items() if k in ("similarity", "shrink", "k_neighbors")}
    if kwargs:
        with pytest.raises(DataError, match=match):
            topk_similarity(X_COUNTS, **kwargs)
    with pytest.raises(DataError, match="non-negative"):
        tfidf_weight(sp.csr_matrix(np.array([[1.0, -1.0]])))
    with pytest.raises(DataError, match="K1"):
        bm25_weight(X_COUNTS, -1.0, 0.5)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_unfitted_and_bad_input(cls, checkerboard):
    with pytest.raises(RuntimeError, match="not fitted"):
        cls().score([0])
    with pytest.raises(TypeError, match="Interactions"):
        cls().fit(np.ones((3, 3)))
    train, _ = checkerboard
    model = cls().fit(train)
    with pytest.raises(ValueError, match="user id 8"):
        model.score([8])


def test_get_params_roundtrip():
    model = ItemKNN(k_neighbors=7, weighting="bm25", K1=3.0)
    params = model.get_params()
    assert params["k_neighbors"] == 7 and params["K1"] == 3.0
    assert UserKNN(**params).get_params() == params


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_save_and_load_round_trip(cls, tmp_path, checkerboard):
    from minigraphrec.io import load
    train, _ = checkerboard
    model = cls(k_neighbors=3, weighting="bm25").fit(train)
    model.save(tmp_path / "knn.npz")
    again = load(tmp_path / "knn.npz")
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(again.score(users), model.score(users))


# ------------------------------------------------- the fused similarity kernel
def _messy_documents(rng, n=70, m=40):
    """A float CSR with popular columns, empty rows, ties, duplicates and unsorted indices."""
    rows, cols = [], []
    for a in range(n):
        if a % 17 == 5:
            continue                                              # an empty row
        size = rng.integers(1, 12)
        c = np.minimum(rng.zipf(1.6, size) - 1, m - 1)            # popular low columns
        rows += [a] * size
        cols += list(c)
    vals = rng.choice([1.0, 1.0, 2.0, 0.5], size=len(rows))       # ties, and duplicates summed
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, m))
    X.has_canonical_format = False
    perm = rng.permutation(X.indptr[-1])                          # unsort inside each row
    order = np.lexsort((perm, np.repeat(np.arange(n), np.diff(X.indptr))))
    X.indices, X.data = X.indices[order], X.data[order]
    return X


@pytest.mark.parametrize("fused_from", [0, np.inf])          # always / never the fused kernel
@pytest.mark.parametrize("similarity,shrink", [("cosine", 0.0), ("cosine", 2.5), ("dot", 0.0)])
@pytest.mark.parametrize("k", [1, 4, None])
def test_fused_similarity_kernel_gives_the_references_bits(similarity, shrink, k, fused_from,
                                                           monkeypatch):
    import numba

    from minigraphrec.models import knn
    monkeypatch.setattr(knn, "_FUSED_FROM", fused_from)

    from minigraphrec.models.knn import _similarity_rows

    rng = np.random.default_rng(8)
    for X in (_messy_documents(rng), bm25_weight(_messy_documents(rng), 1.2, 0.75)):
        ref = topk_similarity(X, k, similarity, shrink, backend="numpy")
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            try:
                got = topk_similarity(X, k, similarity, shrink, backend="numba")
            finally:
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
            for name in ("indptr", "indices", "data"):
                np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))
        Xf = sp.csr_matrix(X, dtype=np.float64)
        some = np.array([3, 5, 0, 41, 69])                        # a subset, out of order
        for backend in ("numba", "numpy"):
            part = _similarity_rows(Xf, some, k, similarity, shrink, None, backend)
            np.testing.assert_array_equal(part.toarray(), ref[some].toarray())


def test_row_products_counts_the_multiply_adds():
    from minigraphrec.models.knn import _row_products

    X = _messy_documents(np.random.default_rng(1))
    X = sp.csr_matrix(X, dtype=np.float64)
    X.sum_duplicates()
    B = (X != 0).astype(np.float64)                               # stored entries, as counted
    per_row = np.asarray((B @ np.asarray(B.sum(axis=0)).T)).ravel()   # Σ_t∈x_a nnz(col t)
    np.testing.assert_array_equal(_row_products(X, X.T.tocsr()), per_row)


# ---------------------------------------------- updates after a change of hyperparameter
@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize("param, value", [("k_neighbors", 2), ("similarity", "dot"),
                                          ("shrink", 1.0), ("weighting", "tfidf"),
                                          ("K1", 2.0), ("B", 0.5)])
def test_updates_refuse_a_hyperparameter_w_was_computed_with(cls, param, value, checkerboard):
    """"Hyperparameters must be those of the fit", enforced: the rows of W an update keeps
    were computed with the old value. block_size and backend may change."""
    train, _ = checkerboard
    model = cls(k_neighbors=3, weighting="bm25", shrink=0.5).fit(train)
    if param == "similarity":
        model.set_params(shrink=0.0)                         # dot takes no shrink
    model.set_params(**{param: value})
    W = model.similarity_
    new = Interactions([0], [0], user_ids=train.user_ids[[0]], item_ids=train.item_ids[[5]])
    for call in (lambda: model.partial_fit(new), lambda: model.forget(users=[1])):
        with pytest.raises(ValueError, match=f"{cls.__name__}\\.(partial_fit|forget): "
                                             f"hyperparameters changed since fit .*{param}="):
            call()
        assert model.similarity_ is W and model.n_users_ == train.n_users
    fresh = cls(k_neighbors=3, weighting="bm25", shrink=0.5).fit(train)
    fresh.set_params(block_size=2, backend="numpy").partial_fit(new).forget(users=[1])
    assert fresh.n_users_ == train.n_users - 1


def _history_data():
    rng = np.random.default_rng(3)
    R = rng.random((30, 20)) < 0.25
    u, i = np.nonzero(R)
    return Interactions(u, i, n_users=30, n_items=20)


@pytest.mark.parametrize("param,value", [("weighting", "tfidf"), ("k_neighbors", 2),
                                         ("shrink", 3.0), ("similarity", "dot"),
                                         ("K1", 0.5)])
def test_user_knn_history_refuses_a_hyperparameter_changed_since_fit(param, value):
    """score_history cached the weighted training rows and used the call's
    weighting, so after set_params(weighting="tfidf") a model that had answered one history
    gave other scores (0.39 apart) than one that had not. score_history and
    recommend_history now refuse a changed defining hyperparameter, as the updates do."""
    train = _history_data()
    h = np.array([0, 2, 5])
    base = dict(k_neighbors=5, weighting="bm25")
    model = UserKNN(**base).fit(train)
    before = model.score_history(h)                                 # fills the cache
    model.set_params(**{param: value})
    pattern = (rf"UserKNN\.{{}}: hyperparameters changed since fit \({param}=.* -> "
               rf".*\).*may change after fit: block_size, backend")
    with pytest.raises(ValueError, match=pattern.format("score_history")):
        model.score_history(h)
    with pytest.raises(ValueError, match=pattern.format("recommend_history")):
        model.recommend_history(h, k=3)
    # explain reads W and R only: still exact
    e = model.explain(1, 3, k=None)
    assert e.total == pytest.approx(model.score([1])[0, 3], abs=1e-12)
    # set back, with another block size and backend: the same bits as before
    model.set_params(**{param: base.get(param, UserKNN().get_params()[param])},
                     block_size=4, backend="numpy")
    np.testing.assert_array_equal(model.score_history(h), before)
    # a model fitted with the new value answers with its own, not a stale cache
    fresh = UserKNN(**{**base, param: value}).fit(train)
    own = train.to_csr()[7].indices
    np.testing.assert_array_equal(fresh.score_history(own), fresh.score([7])[0])


def test_item_knn_history_reads_the_fitted_w_only():
    # ItemKNN's score_history is r W: no cache, no hyperparameter read at the call
    train = _history_data()
    model = ItemKNN(k_neighbors=5).fit(train)
    h = np.array([0, 2, 5])
    before = model.score_history(h)
    model.set_params(weighting="tfidf")
    np.testing.assert_array_equal(model.score_history(h), before)


def test_ties_at_the_cut_are_equal_computed_values():
    """The documented tie rule covers equal *computed* similarities: cos(0, 1) = 3 / (√3 · 3)
    and cos(0, 2) = 1 / (√3 · 1) are both 1/√3, but come out 1 ulp apart, and the larger
    (column 2) is kept at k = 1; a bit-exact tie goes to the smaller column."""
    users = [0, 1, 2] + list(range(9)) + [0]
    items = [0, 0, 0] + [1] * 9 + [2]
    full = ItemKNN(k_neighbors=None).fit(Interactions(users, items)).similarity_[0]
    np.testing.assert_array_equal(full.indices, [1, 2])
    assert full.data[0] < full.data[1] and np.nextafter(full.data[0], 1.0) == full.data[1]
    top1 = ItemKNN(k_neighbors=1).fit(Interactions(users, items)).similarity_[0]
    np.testing.assert_array_equal(top1.indices, [2])
    # an exact tie: items 1 and 2 both identical to item 0's users
    exact = ItemKNN(k_neighbors=1).fit(Interactions([0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 2, 2]))
    np.testing.assert_array_equal(exact.similarity_[0].indices, [1])


# ------------------------------------------------ the public functions' input checks
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_non_finite_entries_are_named(value, backend):
    """topk_similarity and csr_top_k took NaN and infinite entries without a word (a NaN
    similarity was dropped, an infinite one ranked first)."""
    from minigraphrec import DataError
    from minigraphrec.models.knn import csr_top_k
    X = X_COUNTS.tolil()
    X[1, 2] = value
    for given in (X, X.tocsr(), X.tocoo()):
        with pytest.raises(DataError, match=rf"X\[1, 2\] = {value} is not finite"):
            topk_similarity(given, 2, backend=backend)
        with pytest.raises(DataError, match=rf"S\[1, 2\] = {value} is not finite"):
            csr_top_k(given, 2, backend)
    S = sp.csr_matrix((np.array([np.inf, -np.inf]), np.array([0, 0]), np.array([0, 0, 2])),
                      shape=(2, 3))                      # a duplicate pair summing to NaN
    with pytest.raises(DataError, match=r"S\[1, 0\] = nan is not finite"):
        csr_top_k(S, 1, backend)


def test_complex_entries_are_refused():
    """The imaginary part was dropped with a ComplexWarning only."""
    from minigraphrec import DataError
    from minigraphrec.models.knn import csr_top_k
    X = sp.csr_matrix(X_COUNTS, dtype=np.complex128)
    with pytest.raises(DataError, match="X must have a real .* imaginary part"):
        topk_similarity(X, 2)
    with pytest.raises(DataError, match="S must have a real .* imaginary part"):
        csr_top_k(X, 2)


@pytest.mark.parametrize("fused_from", [0, 1, 10**9])        # the fused kernel always / never
def test_negative_entries_are_computed_with_alike_by_both_backends(monkeypatch, fused_from):
    """Signed rows have a cosine too; only the positive similarities are kept. Both backends
    keep the same entries with the same bits, as for non-negative data."""
    from minigraphrec.models import knn
    monkeypatch.setattr(knn, "_FUSED_FROM", fused_from)
    rng = np.random.default_rng(11)
    X = sp.random(25, 18, density=0.3, random_state=rng, format="csr")
    X.data = rng.standard_normal(X.nnz)                    # signed, no ties
    for k, similarity, shrink in [(3, "cosine", 0.0), (None, "cosine", 1.5), (4, "dot", 0.0)]:
        ref = topk_similarity(X, k, similarity, shrink, block_size=4, backend="numpy")
        got = topk_similarity(X, k, similarity, shrink, backend="numba")
        for a, b in ((ref.indptr, got.indptr), (ref.indices, got.indices), (ref.data, got.data)):
            np.testing.assert_array_equal(a, b)
        expected = dense_reference(X, 25 if k is None else k, similarity, shrink)
        np.testing.assert_allclose(ref.toarray(), expected, rtol=1e-13, atol=1e-15)
        assert np.all(ref.data > 0)


# --------------------------------------------------- UserKNN's history query state
def _old_weighted_query(model, items):
    """The history weighted as the code did before the BM25 formula was shared and the
    training statistics cached: the reference, bit for bit."""
    from minigraphrec.models.knn import _idf
    x = model._history_row(items)
    if model.weighting is None:
        return x
    R = sp.csr_matrix(model.R_, dtype=np.float64)
    idf = _idf(R)
    if model.weighting == "tfidf":
        x.data *= idf[x.indices]
        return x
    K1, B = float(model.K1), float(model.B)
    length = np.asarray(R.sum(axis=1)).ravel()
    mean_length = length.mean() if length.size and length.mean() > 0 else 1.0
    norm = K1 * (1.0 - B + B * float(items.size) / mean_length)
    x.data = idf[x.indices] * x.data * (K1 + 1.0) / (x.data + norm)
    return x


@pytest.mark.parametrize("weighting,K1,B", [(None, 1.2, 0.75), ("tfidf", 1.2, 0.75),
                                            ("bm25", 1.2, 0.75), ("bm25", 0.3, 1.0),
                                            ("bm25", 2.0, 0.0)])
def test_user_knn_history_query_is_the_old_one_bit_for_bit(weighting, K1, B):
    """The idf, BM25's mean length and Rᵀ are now made once per fitted R_ (they were made at
    every call), and bm25_weight and the history share one BM25 formula: the same bits."""
    train = _history_data()
    model = UserKNN(k_neighbors=5, weighting=weighting, K1=K1, B=B).fit(train)
    R = train.to_csr()
    rng = np.random.default_rng(0)
    histories = [R[u].indices for u in range(R.shape[0])] + [
        np.sort(rng.choice(20, size=s, replace=False)) for s in (1, 3, 7, 20)]
    for items in histories:
        items = items.astype(np.int64)
        old, new = _old_weighted_query(model, items), model._weighted_query(items)
        np.testing.assert_array_equal(new.indices, old.indices)
        np.testing.assert_array_equal(new.data, old.data)
    for u in range(R.shape[0]):                          # a user's own history: score(u)
        np.testing.assert_array_equal(model.score_history(R[u].indices), model.score([u])[0])


def test_user_knn_history_state_follows_r_and_is_not_saved(tmp_path):
    import pickle

    from minigraphrec import io
    train = _history_data()
    model = UserKNN(k_neighbors=5, weighting="bm25").fit(train)
    h = np.array([0, 2, 5])
    model.score_history(h)
    state = model._query.value
    model.score_history(h)
    assert model._query.value is state                   # made once
    # an update resets it; the scores are those of a fresh fit on the union
    new = Interactions([0, 1], [0, 1], user_ids=[3, 31], item_ids=[4, 9])
    model.partial_fit(new)
    assert "_query" not in model.__dict__
    fresh = UserKNN(k_neighbors=5, weighting="bm25").fit(
        model._training_interactions(model.R_, model.user_ids_, model.item_ids_))
    np.testing.assert_array_equal(model.score_history(h), fresh.score_history(h))
    # R_ replaced by another object: made again
    model.R_ = model.R_.copy()
    model.score_history(h)
    assert model._query.source is model.R_
    # never pickled (a pickle holds an empty one, made again at the first query) or saved
    again = pickle.loads(pickle.dumps(model))
    assert again._query.value is None
    np.testing.assert_array_equal(again.score_history(h), model.score_history(h))
    path = tmp_path / "userknn.npz"
    model.save(path)
    loaded = io.load(path)
    assert getattr(loaded, "_query", None) is None
    np.testing.assert_array_equal(loaded.score_history(h), model.score_history(h))


# ------------------------------------------------------------ memory guard
def _everyone_shares(n_docs, n_terms=20, per=3, seed=0):
    """Interactions whose documents (items) all share three users who took every item, so
    ``W`` with ``k_neighbors=None`` is dense: ``n_docs (n_docs - 1)`` entries."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(3, n_terms), per)
    i = rng.integers(0, n_docs, u.size)
    u = np.concatenate([u, np.repeat([0, 1, 2], n_docs)])
    i = np.concatenate([i, np.tile(np.arange(n_docs), 3)])
    return Interactions(u, i, n_users=n_terms, n_items=n_docs)


def _transposed(train):
    return Interactions(train.items, train.users, n_users=train.n_items, n_items=train.n_users)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_a_dense_w_on_50000_documents_is_refused_up_front(cls, backend):
    """Unpruned, 50,000 items (or users) sharing three users (items) make 2.5 billion
    similarities, about 170 GiB while W is built: fit ran until the machine ran out of
    memory. Now refused before any product, naming the limit; a fitted model stays as it was."""
    from minigraphrec import DataError
    train = _everyone_shares(50_000)
    train = train if cls is ItemKNN else _transposed(train)
    for kw in (dict(k_neighbors=None), dict(k_neighbors=20_000, max_memory_mb=20_000)):
        with pytest.raises(DataError, match=r"keeps at least \d+ similarities in W .*"
                                            r"above max_memory_mb=.*keep fewer neighbours"):
            cls(backend=backend, **kw).fit(train)
    small = _everyone_shares(40)
    small = small if cls is ItemKNN else _transposed(small)
    model = cls(k_neighbors=None, backend=backend).fit(small)
    W = model.similarity_
    with pytest.raises(DataError, match="max_memory_mb"):
        model.fit(train)
    assert model.similarity_ is W and model.n_items_ + model.n_users_ == 60


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_memory_limit_stops_as_soon_as_the_rows_computed_pass_it(cls, backend):
    """Where the lower bound is under the limit and W is not, fit stops after the first
    block whose rows pass it; under the limit (or with None) W is the same bits."""
    from minigraphrec import DataError
    from minigraphrec.models import knn
    rng = np.random.default_rng(3)
    train = Interactions(rng.integers(0, 300, 6000), rng.integers(0, 400, 6000),
                         n_users=300, n_items=400)
    ref = cls(k_neighbors=None, backend=backend, max_memory_mb=None).fit(train).similarity_
    n_docs = ref.shape[0]
    lower = knn._entries_lower_bound(sp.csr_matrix(
        (train.to_csr().T if cls is ItemKNN else train.to_csr()), dtype=np.float64),
        np.arange(n_docs), n_docs)
    assert lower * 4 < ref.nnz                            # the bound says little here
    mb = 2 * lower * knn.W_BYTES_PER_ENTRY / 2**20        # over the bound, under W
    with pytest.raises(DataError, match=r"keeps more than \d+ similarities in W \(counted "
                                        rf"on \d+ of the {n_docs}"):
        cls(k_neighbors=None, backend=backend, block_size=16, max_memory_mb=mb).fit(train)
    enough = (ref.nnz + 1) * knn.W_BYTES_PER_ENTRY / 2**20
    for limit in (enough, 1e9):
        W = cls(k_neighbors=None, backend=backend, max_memory_mb=limit).fit(train).similarity_
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(W, part), getattr(ref, part))


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_updates_keep_to_the_memory_limit_and_may_change_it(cls):
    """partial_fit and forget count the kept rows of W with the recomputed ones; the limit
    may change after fit (W does not depend on it), and a refused update changes nothing."""
    from minigraphrec import DataError
    from minigraphrec.models import knn
    train = _everyone_shares(60, n_terms=30)
    train = train if cls is ItemKNN else _transposed(train)
    model = cls(k_neighbors=None, max_memory_mb=None).fit(train)
    W, R = model.similarity_, model.R_
    tight = (W.nnz - 10) * knn.W_BYTES_PER_ENTRY / 2**20      # W itself no longer fits
    new = Interactions([0], [0], user_ids=[model.user_ids_[0]],
                       item_ids=[model.item_ids_[0]])                  # a pair of R
    model.set_params(max_memory_mb=tight)
    with pytest.raises(DataError, match="max_memory_mb"):
        model.partial_fit(Interactions([0], [0], user_ids=[10**6],
                                       item_ids=[model.item_ids_[-1]]))
    with pytest.raises(DataError, match="max_memory_mb"):
        model.forget(interactions=new)
    assert model.similarity_ is W and model.R_ is R
    model.set_params(max_memory_mb=1e6)                         # not refused as changed
    model.forget(interactions=new)
    expected = cls(k_neighbors=None).fit(
        model._training_interactions(model.R_, model.user_ids_, model.item_ids_)).similarity_
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(model.similarity_, part),
                                      getattr(expected, part))


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), "2GB", True])
def test_bad_memory_limits_are_data_errors(value, checkerboard):
    from minigraphrec import DataError
    train, _ = checkerboard
    with pytest.raises(DataError, match=r"max_memory_mb \(None: no limit\) must be a finite "
                                        r"number > 0"):
        ItemKNN(max_memory_mb=value).fit(train)


def test_entries_lower_bound_is_below_the_entries_kept():
    """The bound behind the up-front refusal, on random non-negative data with explicit
    zeros (TF-IDF stores a zero weight for a term in every document): never above W."""
    from minigraphrec.models import knn
    rng = np.random.default_rng(7)
    for trial in range(30):
        X = random_binary(rng, (int(rng.integers(2, 40)), int(rng.integers(1, 15))),
                          rng.uniform(0.05, 0.7))
        X = tfidf_weight(X) if trial % 2 else X
        k = int(rng.integers(1, X.shape[0] + 1))
        rows = np.sort(rng.choice(X.shape[0], size=int(rng.integers(1, X.shape[0] + 1)),
                                  replace=False))
        S = topk_similarity(X, k, shrink=float(trial % 3))
        assert knn._entries_lower_bound(sp.csr_matrix(X), rows, k) <= S[rows].nnz
    X = random_binary(rng, (30, 4), 1.0)                        # dense X Xᵀ: exact
    assert knn._entries_lower_bound(X, np.arange(30), 30) == topk_similarity(X, None).nnz
