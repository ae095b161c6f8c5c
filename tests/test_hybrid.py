"""Hybrid: per-user normalisations by hand, the weight grid, tuning where the answer is known."""
import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec import DataError, Interactions
from minigraphrec.models import Hybrid, ItemKNN, Popularity, Recommender, UserKNN
from minigraphrec.models.hybrid import add_normalized, grid_top_k, normalize_scores, simplex_grid


class FixedScores(Recommender):
    """A stand-in recommender whose scores are a given matrix."""

    def __init__(self, S):
        self.S = S

    def fit(self, train):
        self._fit_interactions(train)
        return self

    def _score_batch(self, users):
        return np.asarray(self.S, dtype=np.float64)[users]


# ------------------------------------------------------------ normalisation
BACKENDS = ("numba", "numpy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_minmax_and_zscore_by_hand_over_candidates(backend):
    S = np.array([[1.0, 2.0, 3.0, 4.0]])
    seen = sp.csr_matrix(np.array([[0, 0, 0, 1]]))               # item 3 is a training item
    np.testing.assert_allclose(normalize_scores(S, "minmax", seen, backend),
                               [[0, 0.5, 1, 1.5]])
    sd = np.sqrt(2 / 3)                                           # population std of 1, 2, 3
    np.testing.assert_allclose(normalize_scores(S, "zscore", seen, backend),
                               [[-1 / sd, 0, 1 / sd, 2 / sd]], rtol=1e-15)
    np.testing.assert_allclose(normalize_scores(S, "minmax", backend=backend),
                               [[0, 1 / 3, 2 / 3, 1]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_by_hand_with_ties_and_exclusion(backend):
    S = np.array([[5.0, 5.0, 1.0], [1.0, 2.0, 3.0]])
    seen = sp.csr_matrix(np.array([[0, 0, 0], [0, 0, 1]]))
    Z = normalize_scores(S, "rank", seen, backend)
    np.testing.assert_allclose(Z[0], [2 / 3, 2 / 3, 0.5 / 3])      # mid-rank of the tie
    np.testing.assert_allclose(Z[1], [0.25, 0.75, 1.0])            # candidates 1, 2; 3 above all


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_is_invariant_to_monotone_rescaling(backend):
    rng = np.random.default_rng(0)
    S = rng.standard_normal((5, 30))
    np.testing.assert_array_equal(normalize_scores(S, "rank", backend=backend),
                                  normalize_scores(np.exp(3 * S) + 7, "rank", backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_constant_and_fully_excluded_rows(backend):
    S = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    everything = sp.csr_matrix(np.array([[0, 0, 0], [1, 1, 1]]))
    for method in ("minmax", "zscore"):
        Z = normalize_scores(S, method, everything, backend)
        np.testing.assert_array_equal(Z[0], 0.0)
        np.testing.assert_allclose(Z[1], normalize_scores(S[1:], method, backend=backend)[0])
    np.testing.assert_allclose(normalize_scores(S, "rank", backend=backend)[0], 0.5)


def _record_threads(monkeypatch):
    """Wrap the normalisation kernels so that each call records numba's thread count."""
    import numba
    from minigraphrec.kernels import normalize as nk
    seen = []
    for name in ("row_affine", "add_affine", "add_rank"):
        def spy(*args, _kernel=getattr(nk, name)):
            seen.append(numba.get_num_threads())
            return _kernel(*args)
        monkeypatch.setattr(nk, name, spy)
    return seen


@pytest.mark.parametrize("path", ["parallel", "serial"])
@pytest.mark.parametrize("method", ["minmax", "zscore", "rank"])
def test_normalize_on_one_thread_and_on_all_equals_the_reference(method, path, monkeypatch):
    """The normalisation kernels on the thread pool and, for small blocks, on one thread
    (``SERIAL_BELOW``, moved here so that every block takes ``path``): min-max and ranks
    are the reference's bits, z-scores agree to rounding (sums in another order, as the
    module says), and both paths give the same bits."""
    import numba
    from minigraphrec.models import hybrid
    monkeypatch.setattr(hybrid, "SERIAL_BELOW", 0 if path == "parallel" else 10 ** 12)
    seen = _record_threads(monkeypatch)
    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    before = numba.get_num_threads()
    rng = np.random.default_rng(4)
    try:
        numba.set_num_threads(threads)
        for n_rows in (1, 7, 40):
            S = rng.integers(-3, 4, (n_rows, 60)).astype(np.float64)          # ties
            S[:, ::2] += rng.standard_normal((n_rows, 30))
            E = sp.random(n_rows, 60, density=0.2, random_state=n_rows, format="csr")
            ref = normalize_scores(S, method, E, "numpy")
            fast = normalize_scores(S, method, E, "numba")
            if method == "zscore":
                np.testing.assert_allclose(fast, ref, rtol=1e-13, atol=1e-13)
            else:
                np.testing.assert_array_equal(fast, ref)
            out = np.ones(S.shape)
            add_normalized(out, S, 0.3, method, exclude=E)
            np.testing.assert_array_equal(out, 1.0 + 0.3 * fast)
        # the kernels ran on the path asked for
        assert set(seen) == ({threads} if path == "parallel" else {1})
        assert numba.get_num_threads() == threads                           # restored
    finally:
        numba.set_num_threads(before)


def test_normalizing_one_user_runs_on_one_thread(monkeypatch):
    """A one-user Hybrid ``score`` normalises one row per model: on one numba thread, without
    waking the pool (23 ms per kernel call on a busy 2-core machine); a large block uses
    the pool."""
    import numba
    from minigraphrec.models import hybrid
    seen = _record_threads(monkeypatch)
    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(threads)
        normalize_scores(np.arange(1_682.0)[None, :], "minmax")           # one ML-100K user
        assert seen == [1, 1]
        seen.clear()
        n_rows = hybrid.SERIAL_BELOW // 1_682 + 1
        normalize_scores(np.ones((n_rows, 1_682)), "rank")
        assert seen == [threads, threads]
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_normalize_rejects_bad_input(backend):
    with pytest.raises(ValueError, match="normalization"):
        normalize_scores(np.ones((1, 2)), "softmax", backend=backend)
    with pytest.raises(ValueError, match=r"entry \(0, 1\) is nan"):
        normalize_scores(np.array([[1.0, np.nan]]), "minmax", backend=backend)
    with pytest.raises(ValueError, match=r"entry \(1, 0\) is -inf"):
        normalize_scores(np.array([[1.0, 2.0], [-np.inf, np.nan]]), "rank", backend=backend)
    with pytest.raises(ValueError, match="2-d"):
        normalize_scores(np.ones(3), "minmax", backend=backend)
    with pytest.raises(ValueError, match="no items"):
        normalize_scores(np.ones((2, 0)), "minmax", backend=backend)
    with pytest.raises(ValueError, match="exclude has shape"):
        normalize_scores(np.ones((1, 2)), "minmax", sp.csr_matrix((2, 2)), backend=backend)
    with pytest.raises(Exception, match="backend"):
        normalize_scores(np.ones((1, 2)), "minmax", backend="torch")


def _messy_exclusions(n_rows, n_items, rng):
    """Random exclusions in a non-canonical CSR: unsorted, repeated, explicit zeros, full rows."""
    rows, cols, vals = [], [], []
    for r in range(n_rows):
        c = rng.choice(n_items, size=rng.integers(0, n_items // 4), replace=False)
        c = np.concatenate([c, c[: c.size // 3]])                 # repeated pairs
        rows += [r] * c.size
        cols += list(c)
        vals += list(rng.choice([0.0, 1.0, 2.0], size=c.size, p=[0.2, 0.6, 0.2]))
    for r in (1, n_rows - 1):                                     # every item excluded
        rows += [r] * n_items
        cols += list(range(n_items))
        vals += [1.0] * n_items
    E = sp.csr_matrix((vals, (rows, cols)), shape=(n_rows, n_items))
    E.has_canonical_format = False                                # keep the mess as given
    perm = rng.permutation(E.indptr[-1])                          # unsort inside each row
    order = np.lexsort((perm, np.repeat(np.arange(n_rows), np.diff(E.indptr))))
    E.indices, E.data = E.indices[order], E.data[order]
    return E


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["minmax", "zscore", "rank"])
def test_numba_kernels_agree_with_the_numpy_reference(method, dtype):
    rng = np.random.default_rng(7)
    n_rows, n_items = 40, 257
    S = rng.standard_normal((n_rows, n_items)).astype(dtype)
    S[2] = 3.0                                                    # constant row
    S[3] = np.round(S[3], 1)                                      # many ties
    S[4, 10:] = S[4, 0]                                           # constant over most items
    E = _messy_exclusions(n_rows, n_items, rng)
    before = E.copy()
    for exclude in (E, None):
        ref = normalize_scores(S, method, exclude, backend="numpy")
        got = normalize_scores(S, method, exclude, backend="numba")
        if method == "zscore":  # sums in another order: equal to rounding, scaled by 1 / std
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
        else:                                 # the same operations on the same values
            np.testing.assert_array_equal(got, ref)
    for name in ("indptr", "indices", "data"):                    # the caller's matrix is intact
        np.testing.assert_array_equal(getattr(E, name), getattr(before, name))


@pytest.mark.parametrize("method", ["minmax", "zscore", "rank"])
def test_add_normalized_blends_in_place_and_leaves_out_alone_on_error(method):
    rng = np.random.default_rng(3)
    S = rng.standard_normal((6, 50))
    E = sp.csr_matrix(rng.random((6, 50)) < 0.2)
    for backend in BACKENDS:
        out = np.full(S.shape, 0.25)
        add_normalized(out, S, 0.75, method, E, backend)
        expected = 0.25 + 0.75 * normalize_scores(S, method, E, backend="numpy")
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-14)
        bad = S.copy()
        bad[4, 7] = np.inf
        kept = out.copy()
        with pytest.raises(ValueError, match=r"entry \(4, 7\) is inf"):
            add_normalized(out, bad, 0.5, method, E, backend)
        np.testing.assert_array_equal(out, kept)
        with pytest.raises(ValueError, match="out must be"):
            add_normalized(out[:, :10], S, 0.5, method, E, backend)


def test_hybrid_scores_do_not_depend_on_the_backend_or_thread_count():
    import numba

    rng = np.random.default_rng(5)
    n_users, n_items = 30, 80
    R = rng.random((n_users, n_items)) < 0.15
    u, i = np.nonzero(R)
    train = Interactions(u, i, n_users=n_users, n_items=n_items)
    good = FixedScores(rng.standard_normal((n_users, n_items)))
    bad = FixedScores(rng.standard_normal((n_users, n_items)))
    users = np.arange(n_users)
    for method in ("minmax", "zscore", "rank"):
        model = Hybrid([good, bad], weights=[0.3, 0.7], normalization=method).fit(train)
        E = model.R_[users]
        expected = (0.3 * normalize_scores(good.S, method, E, backend="numpy")
                    + 0.7 * normalize_scores(bad.S, method, E, backend="numpy"))
        runs = []
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            try:
                runs.append(model.score(users))
            finally:
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        np.testing.assert_array_equal(runs[0], runs[1])
        np.testing.assert_allclose(runs[0], expected, rtol=0, atol=1e-13)


# ---------------------------------------------------------------- the grid
@pytest.mark.parametrize("n_models,step,n_points", [(1, 0.5, 1), (2, 0.1, 11), (3, 0.1, 66),
                                                    (4, 0.25, 35)])
def test_simplex_grid(n_models, step, n_points):
    grid = simplex_grid(n_models, step)
    assert grid.shape == (n_points, n_models)
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert grid.min() >= 0
    assert len({tuple(np.round(w, 9)) for w in grid}) == n_points
    with pytest.raises(ValueError, match="step"):
        simplex_grid(2, 0.3)


# ------------------------------------------------------------------ tuning
def oracle_and_decoy(n_users=6, n_items=10, seed=0):
    """Validation item v_u per user; the good model ranks it first, the bad one a decoy.

    After min-max normalisation the good model gives v_u 1 and the decoy 0.99, the
    bad one v_u 0 and the decoy 1: a blend with good weight g ranks v_u first iff
    g > 1/1.01, i.e. only g = 1 on a 0.1 grid.
    """
    rng = np.random.default_rng(seed)
    train_items = np.arange(n_users)                              # user u took item u
    val_items = (train_items + 3) % n_items
    decoys = (train_items + 5) % n_items
    good = rng.uniform(0.0, 0.5, (n_users, n_items))
    bad = rng.uniform(0.5, 0.9, (n_users, n_items))
    for u in range(n_users):
        good[u, train_items[u]] = bad[u, train_items[u]] = 0.3
        good[u, val_items[u]], good[u, decoys[u]] = 1.0, 0.99
        good[u, good[u] < 1e-3] = 0.2
        bad[u, val_items[u]], bad[u, decoys[u]] = 0.0, 1.0
    users = np.arange(n_users)
    train = Interactions(users, train_items, n_users=n_users, n_items=n_items)
    val = Interactions(users, val_items, n_users=n_users, n_items=n_items)
    return train, val, good, bad


def test_tuning_puts_all_weight_on_the_good_model():
    train, val, good, bad = oracle_and_decoy()
    hybrid = Hybrid([FixedScores(bad), FixedScores(good)], k=1).fit(train, validation=val)
    np.testing.assert_array_equal(hybrid.weights_, [0.0, 1.0])
    g = hybrid.grid_[:, 1]
    np.testing.assert_allclose(hybrid.grid_scores_[g == 1.0], 1.0)
    np.testing.assert_allclose(hybrid.grid_scores_[g < 1.0], 0.0)
    items, _ = hybrid.recommend(np.arange(6), k=1)
    np.testing.assert_array_equal(items[:, 0], (np.arange(6) + 3) % 10)


def test_tuning_with_ndcg_and_weights_tune_string():
    train, val, good, bad = oracle_and_decoy(seed=1)
    hybrid = Hybrid([FixedScores(good), FixedScores(bad)], weights="tune", metric="ndcg", k=1)
    hybrid.fit(train, validation=val)
    np.testing.assert_array_equal(hybrid.weights_, [1.0, 0.0])


def test_ties_go_to_the_most_uniform_weights():
    train, val, good, _ = oracle_and_decoy()
    hybrid = Hybrid([FixedScores(good), FixedScores(good)], k=1, step=0.25)
    hybrid.fit(train, validation=val)
    np.testing.assert_allclose(hybrid.grid_scores_, 1.0)          # every blend is perfect
    np.testing.assert_array_equal(hybrid.weights_, [0.5, 0.5])


def test_internal_holdout_refits_components_on_all_of_train():
    rng = np.random.default_rng(3)
    u = rng.integers(0, 40, 400)
    i = np.where(u < 20, rng.integers(0, 15, 400), rng.integers(15, 30, 400))  # two blocks
    train = Interactions(u, i, n_users=40, n_items=30)
    knn, pop = ItemKNN(k_neighbors=10), Popularity()
    hybrid = Hybrid([knn, pop], weights="tune", step=0.5).fit(train)
    assert hybrid.grid_.shape == (3, 2)
    assert hybrid.grid_scores_.shape == (3,)
    assert not hasattr(knn, "R_")                                 # the caller's, left unfitted
    assert (hybrid.models_[0].R_ != train.to_csr()).nnz == 0      # fitted on the whole train
    assert hybrid.weights_[0] >= 0.5                              # block structure: kNN wins
    again = Hybrid([ItemKNN(k_neighbors=10), Popularity()], weights="tune", step=0.5).fit(train)
    np.testing.assert_array_equal(again.grid_scores_, hybrid.grid_scores_)   # seeded split


def test_tuning_leaves_a_generator_seeded_component_as_fitted_alone():
    """The tuning probes fit copies whose generators are copies: the component's own fit
    draws from its generator as a fit of it alone would (the probes used to consume it)."""
    from minigraphrec.models import MF
    rng = np.random.default_rng(3)
    u = rng.integers(0, 40, 400)
    train = Interactions(u, rng.integers(0, 30, 400), n_users=40, n_items=30)
    mf = MF(dim=4, epochs=2, random_state=np.random.default_rng(7))
    hybrid = Hybrid([mf, Popularity()], weights="tune", step=0.5).fit(train)
    alone = MF(dim=4, epochs=2, random_state=np.random.default_rng(7)).fit(train)
    np.testing.assert_array_equal(hybrid.models_[0].params["E0"], alone.params["E0"])
    assert mf.random_state.integers(1 << 30) == np.random.default_rng(7).integers(1 << 30)


# ------------------------------------------------------- fixed and default weights
def test_fixed_weights_blend_by_hand():
    train, _, good, bad = oracle_and_decoy()
    hybrid = Hybrid([FixedScores(good), FixedScores(bad)], weights=[1, 3],
                    normalization="zscore").fit(train)
    np.testing.assert_allclose(hybrid.weights_, [0.25, 0.75])
    users = np.array([4, 1])
    E = train.to_csr()[users]
    expected = (0.25 * normalize_scores(good[users], "zscore", E)
                + 0.75 * normalize_scores(bad[users], "zscore", E))
    np.testing.assert_allclose(hybrid.score(users), expected, rtol=1e-15)


def test_default_weights_are_uniform_and_fitted_components_are_kept():
    train, _, good, bad = oracle_and_decoy()
    a = FixedScores(good).fit(train)
    a.marker = "kept"
    hybrid = Hybrid([a, FixedScores(bad)]).fit(train)
    np.testing.assert_array_equal(hybrid.weights_, [0.5, 0.5])
    assert hybrid.models_[0].marker == "kept"
    assert not hasattr(hybrid, "grid_")


def test_a_component_fitted_on_other_data_is_refitted():
    """A component is kept only if fitted on this very train; one fitted on other data (of
    another shape, or the same shape) is refitted, so Hybrid.fit(A).fit(C) is fit(C)."""
    train, _, good, _ = oracle_and_decoy()
    small = Interactions([0], [0], n_users=2, n_items=10)
    a = FixedScores(good[:2]).fit(small)
    a.S = good                                       # what a fit on train would score
    hybrid = Hybrid([a]).fit(train)
    assert hybrid.models_[0].R_.shape == (train.n_users, train.n_items)
    assert a.R_.shape == (2, 10)                      # the caller's component is left alone
    first = ItemKNN().fit(train)
    kept = first.similarity_
    assert Hybrid([first]).fit(train).models_[0] is first   # fitted on this train: used
    assert first.similarity_ is kept
    other = Interactions(train.users[::-1], (train.items[::-1] + 1) % train.n_items,
                         n_users=train.n_users, n_items=train.n_items)
    twice = Hybrid([ItemKNN(), UserKNN()], weights=[0.3, 0.7]).fit(train).fit(other)
    once = Hybrid([ItemKNN(), UserKNN()], weights=[0.3, 0.7]).fit(other)
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(twice.score(users), once.score(users))


def test_two_hybrids_from_one_list_of_components_do_not_share_fitted_state():
    """Fitting a second Hybrid built from the same components changed the first one's
    scores (the components were fitted in place): a grid search reusing one list."""
    train, _, good, _ = oracle_and_decoy()
    other = Interactions(train.users[::-1], (train.items[::-1] + 1) % train.n_items,
                         n_users=train.n_users, n_items=train.n_items)
    base = [Popularity(), ItemKNN(k_neighbors=3)]
    first = Hybrid(base).fit(train)
    users = np.arange(train.n_users)
    scores = first.score(users)
    Hybrid(base, normalization="rank").fit(other)
    np.testing.assert_array_equal(first.score(users), scores)
    fresh = Hybrid([Popularity(), ItemKNN(k_neighbors=3)]).fit(train)
    np.testing.assert_array_equal(fresh.score(users), scores)
    assert not any(hasattr(m, "R_") for m in base)


def test_a_failed_fit_leaves_the_hybrid_and_its_components_as_they_were():
    train, _, good, _ = oracle_and_decoy()
    knn = ItemKNN().fit(train)
    model = Hybrid([knn, UserKNN()], weights=[0.5, 0.5]).fit(train)
    users = np.arange(train.n_users)
    scores, knn_scores = model.score(users), knn.score(users)
    other = Interactions(train.users, train.items, n_users=train.n_users,
                         n_items=train.n_items)
    bad = UserKNN(k_neighbors=2.5)                    # refused when its turn comes
    model.set_params(models=[knn, bad])
    with pytest.raises(ValueError, match="k_neighbors"):
        model.fit(Interactions(other.users[1:], other.items[1:], n_users=train.n_users,
                               n_items=train.n_items))
    model.set_params(models=[knn, model.models_[1]])
    np.testing.assert_array_equal(model.score(users), scores)
    np.testing.assert_array_equal(knn.score(users), knn_scores)      # not refitted half-way


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("params,exc,match", [
    (dict(models=[]), ValueError, "non-empty list"),
    (dict(models=ItemKNN()), ValueError, "non-empty list"),
    (dict(models=[ItemKNN(), "pop"]), TypeError, r"models\[1\]"),
    (dict(weights=[1.0]), ValueError, "one number per model"),
    (dict(weights=[1.0, -1.0]), ValueError, "non-negative"),
    (dict(weights=[0.0, 0.0]), ValueError, "not all 0"),
    (dict(weights="auto"), ValueError, "weights"),
    (dict(normalization="softmax"), ValueError, "normalization"),
    (dict(metric="auc"), ValueError, "metric"),
    (dict(k=0), ValueError, "k must"),
    (dict(step=0.0), ValueError, "step"),
    (dict(step=1.5), ValueError, "step"),
    (dict(validation_size=1.0), ValueError, "validation_size"),
    (dict(refit="no"), ValueError, "refit must be True or False, got 'no'"),   # was truthy
    (dict(refit=None), ValueError, "refit must be True or False, got None"),
])
def test_bad_hyperparameters(params, exc, match):
    train, _, _, _ = oracle_and_decoy()
    kw = dict(models=[ItemKNN(), Popularity()])
    kw.update(params)
    with pytest.raises(exc, match=match):
        Hybrid(**kw).fit(train)


def test_validation_errors():
    train, val, good, bad = oracle_and_decoy()
    models = [FixedScores(good), FixedScores(bad)]
    with pytest.raises(ValueError, match="weights are fixed"):
        Hybrid(models, weights=[1, 1]).fit(train, validation=val)
    other = Interactions([0], [0], n_users=7, n_items=10)
    with pytest.raises(ValueError, match="one id space"):
        Hybrid(models).fit(train, validation=other)
    with pytest.raises(ValueError, match="nothing to tune"):
        Hybrid(models).fit(train, validation=train)              # every item already seen
    with pytest.raises(RuntimeError, match="not fitted"):
        Hybrid(models).score([0])


# ------------------------------------------------------- tuning's ranking
@pytest.mark.parametrize("k", [1, 7, 300])                        # 300 > n_items: padded
def test_grid_top_k_kernel_equals_the_numpy_reference(k):
    rng = np.random.default_rng(11)
    n_rows, n_items = 25, 120
    Z = np.round(rng.standard_normal((3, n_rows, n_items)), 1)     # coarse values: many ties
    Z[1, 4] = 0.0                                                  # a flat row in one model
    grid = simplex_grid(3, 0.25)                                   # 15 points, zeros included
    E = _messy_exclusions(n_rows, n_items, rng)
    for exclude in (E, None):
        ref = grid_top_k(Z, grid, k, exclude, backend="numpy")
        got = grid_top_k(Z, grid, k, exclude, backend="numba")
        assert got.shape == (grid.shape[0], n_rows, k)
        np.testing.assert_array_equal(got, ref)
    full = grid_top_k(Z, grid, k, E)
    assert np.all(full[:, [1, n_rows - 1]] == -1)                  # every item excluded


def test_grid_top_k_rejects_bad_input():
    Z = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"grid must be \(n_points, 2\)"):
        grid_top_k(Z, np.ones((3, 3)) / 3, 2)
    with pytest.raises(ValueError, match="positive weight in every row"):
        grid_top_k(Z, np.array([[0.5, 0.5], [0.0, 0.0]]), 2)
    with pytest.raises(ValueError, match="non-negative"):
        grid_top_k(Z, np.array([[1.5, -0.5]]), 2)
    bad = Z.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"Z\[1, 2, 3\] is nan"):
        grid_top_k(bad, np.array([[0.5, 0.5]]), 2)
    with pytest.raises(ValueError, match="Z must be"):
        grid_top_k(np.zeros((3, 4)), np.array([[1.0]]), 2)


@pytest.mark.parametrize("method", ["minmax", "zscore", "rank"])
def test_tuning_scores_equal_the_reference_blend_and_rank(method):
    from minigraphrec.metrics import recall_at_k
    from minigraphrec.rank import top_k

    rng = np.random.default_rng(2)
    n_users, n_items = 60, 90
    R = rng.random((n_users, n_items)) < 0.12
    V = (rng.random((n_users, n_items)) < 0.05) & ~R
    train = Interactions(*np.nonzero(R), n_users=n_users, n_items=n_items)
    validation = Interactions(*np.nonzero(V), n_users=n_users, n_items=n_items)
    parts = [FixedScores(np.round(rng.standard_normal((n_users, n_items)), 1))
             for _ in range(3)]
    model = Hybrid(parts, weights="tune", normalization=method, k=10, step=0.25)
    model.score_batch_size = 16                                    # several blocks, one short
    model.fit(train, validation=validation)
    E = sp.csr_matrix(R.astype(float))
    users = np.flatnonzero(V.any(axis=1))
    Z = [normalize_scores(p.S[users], method, E[users], backend="numpy") for p in parts]
    T = sp.csr_matrix(V[users].astype(float))
    expected = []
    for w in model.grid_:
        S = sum(w_m * Z_m for w_m, Z_m in zip(w, Z) if w_m > 0)
        L, _ = top_k(S, 10, exclude=E[users], backend="numpy")
        expected.append(recall_at_k(L, T, 10).mean())
    np.testing.assert_allclose(model.grid_scores_, expected, rtol=1e-12)


# ---------------------------------------------------------------------- forget
def test_forget_passes_the_method_on_to_the_trained_components():
    """method="retrain", the default, retrains the embedding components (each then equals a
    fit without the data), the others forget exactly as always; fine_tune when asked for."""
    from minigraphrec.datasets import synthetic
    from minigraphrec.models import MF

    data = synthetic(n_users=30, n_items=40, mean_interactions=6, random_state=0)

    def make():
        return Hybrid([MF(dim=4, epochs=2, random_state=0), ItemKNN(k_neighbors=5)])

    pair = np.array([[4, make().fit(data).R_[4].indices[0]]])
    retrained = make().fit(data)
    rest = retrained._removal(users=[2], interactions=pair)
    remaining = retrained._training_interactions(rest.R, rest.user_ids)
    retrained.forget(users=[2], interactions=pair, method="retrain")
    mf, knn = retrained.models_
    oracle_mf = MF(dim=4, epochs=2, random_state=0).fit(remaining)
    assert mf.forget_method_ == "retrain"
    assert all(np.array_equal(mf.params[k], oracle_mf.params[k]) for k in oracle_mf.params)
    assert (knn.similarity_ != ItemKNN(k_neighbors=5).fit(remaining).similarity_).nnz == 0
    tuned = make().fit(data).forget(users=[2], interactions=pair, epochs=0, method="fine_tune")
    assert tuned.models_[0].forget_method_ == "fine_tune"
    default = make().fit(data).forget(users=[2], interactions=pair)
    assert default.models_[0].forget_method_ == "retrain"
    assert all(np.array_equal(default.models_[0].params[k], oracle_mf.params[k])
               for k in oracle_mf.params)
    hybrid = make().fit(data)
    with pytest.raises(ValueError, match="method must be 'fine_tune' or 'retrain'"):
        hybrid.forget(users=[2], method="exact")
    assert hybrid.n_users_ == 30 and not hasattr(hybrid.models_[0], "forget_method_")


def test_updates_refuse_weights_changed_since_fit_also_after_load(tmp_path):
    """partial_fit kept the fit's weights_ while the blend reported (and saved) new weights."""
    data = mgr.datasets.synthetic(n_users=60, n_items=40, random_state=0)
    old, new = data.subset(data.users < 50), data.subset(data.users >= 50)
    hybrid = mgr.Hybrid([mgr.ItemKNN(), mgr.EASE()], weights=[0.5, 0.5]).fit(old)
    hybrid.save(tmp_path / "h.npz")
    mgr.load(tmp_path / "h.npz").partial_fit(new)                 # unchanged: updates run
    hybrid.set_params(weights=[0.2, 0.8])
    with pytest.raises(ValueError, match=r"weights=\[0\.5, 0\.5\] -> \[0\.2, 0\.8\]"):
        hybrid.partial_fit(new)
    hybrid.save(tmp_path / "changed.npz")
    with pytest.raises(ValueError, match=r"Hybrid\.forget: hyperparameters changed since fit"):
        mgr.load(tmp_path / "changed.npz").forget(users=[0])
    hybrid.set_params(weights=[0.5, 0.5], metric="ndcg", k=10, step=0.25).partial_fit(new)


def test_components_with_numpy_scalar_hyperparameters_update_after_load(tmp_path):
    """A component's np.float64(100.) came back from the file as 100.0: recorded by repr,
    the loaded Hybrid refused every update as 'changed since fit'."""
    data = mgr.datasets.synthetic(n_users=60, n_items=40, random_state=0)
    old, new = data.subset(data.users < 50), data.subset(data.users >= 50)
    hybrid = mgr.Hybrid([mgr.EASE(l2=np.float64(100.0)), mgr.ItemKNN(k_neighbors=np.int64(5))],
                        weights=[0.5, 0.5]).fit(old)
    hybrid.save(tmp_path / "h.npz")
    loaded = mgr.load(tmp_path / "h.npz")
    loaded.partial_fit(new).forget(users=[0])
    loaded.models[0].set_params(l2=50.0)                      # a component changed: refused
    with pytest.raises(ValueError, match="Hybrid.forget: hyperparameters changed since fit"):
        loaded.forget(users=[1])


# --------------------------------------------- validation before work, component errors
class CountingPopularity(Popularity):
    """Popularity that counts its fits (probe copies included: _clone keeps the class)."""
    fits = 0

    def fit(self, train):
        CountingPopularity.fits += 1
        return super().fit(train)


@pytest.mark.parametrize("step,n_models,match", [
    (0.3, 2, r"step must divide 1 into a whole number of parts.*got 0\.3"),
    (0.01, 4, r"the weight grid has 176851 points for 4 models at step 0\.01, above 20000"),
])
def test_a_bad_grid_is_refused_before_any_model_is_fitted(step, n_models, match):
    """The audit: weights="tune" without validation fitted every probe copy, then found that
    step=0.3 does not divide 1 (or that the grid was too large)."""
    from minigraphrec import DataError
    train, val, _, _ = oracle_and_decoy()
    CountingPopularity.fits = 0
    models = [CountingPopularity() for _ in range(n_models)]
    for kwargs, fit_kwargs in ((dict(weights="tune"), {}), ({}, dict(validation=val))):
        with pytest.raises(DataError, match=match):
            Hybrid(models, step=step, **kwargs).fit(train, **fit_kwargs)
        assert CountingPopularity.fits == 0
    # fixed weights never build the grid: the step is not theirs to refuse
    Hybrid(models, weights=[1.0] * n_models, step=step).fit(train)


@pytest.mark.parametrize("params,match", [
    (dict(models=[]), "non-empty list"),
    (dict(weights=[1.0]), "one number per model"),
    (dict(weights=[1.0, -1.0]), "non-negative"),
    (dict(weights="auto"), "weights"),
    (dict(normalization="softmax"), "normalization"),
    (dict(metric="auc"), "metric"),
    (dict(k=0), "k must"),
    (dict(step=1.5), "step"),
    (dict(validation_size=1.0), "validation_size"),
    (dict(refit=1), "refit must be True or False"),
    # parsed ("2" -> 2.0), taken as 0/1, or a raw TypeError of float() or of NumPy's cast
    (dict(weights=["1", "2"]), "weights must be integers or floats, got dtype <U1"),
    (dict(weights=[True, False]), "weights must be integers or floats, got dtype bool"),
    (dict(weights=[1 + 0j, 1]), "weights must be integers or floats, got dtype complex128"),
    (dict(weights=np.array([1, 2], dtype=object)), "weights must be integers or floats, got "
                                                   "dtype object"),
    (dict(weights={"a": 1, "b": 2}), "weights must be None, 'tune' or one number per model"),
    (dict(weights=[[1.0], [2.0, 3.0]]), "weights must hold one number per model"),
])
def test_bad_hyperparameter_values_are_data_errors(params, match):
    from minigraphrec import DataError
    train, _, _, _ = oracle_and_decoy()
    kw = dict(models=[ItemKNN(), Popularity()])
    kw.update(params)
    with pytest.raises(DataError, match=match):
        Hybrid(**kw).fit(train)
    with pytest.raises(DataError, match="step must divide 1"):
        simplex_grid(2, 0.3)


def test_a_failing_component_update_is_named_with_its_index_and_class():
    """Only NotImplementedError got the "Hybrid: component j (Class)" prefix; a ContentBased
    refusing new items said only "new_interactions has 1 items the model has no features
    for". Any error now names the component, keeps its type, and chains the original."""
    from minigraphrec import DataError
    from minigraphrec.models import ContentBased
    train = Interactions([0, 1, 2, 2], [0, 1, 1, 2], n_users=3, n_items=3)
    hybrid = Hybrid([Popularity(), ContentBased(item_features=np.eye(3))]).fit(train)
    state = dict(hybrid.__dict__)
    new = Interactions([0], [0], user_ids=[0], item_ids=[3])
    with pytest.raises(DataError, match=r"^Hybrid: component 1 \(ContentBased\): "
                                        r"new_interactions has 1 items the model has no "
                                        r"features for") as info:
        hybrid.partial_fit(new)
    assert isinstance(info.value.__cause__, DataError)
    assert str(info.value.__cause__).startswith("new_interactions has 1 items")
    assert all(hybrid.__dict__[k] is v for k, v in state.items())

    def out_of_memory(*args, **kwargs):
        raise MemoryError("boom")
    hybrid.models_[0].forget = out_of_memory               # copied along with the component
    state = dict(hybrid.__dict__)
    with pytest.raises(MemoryError, match=r"^Hybrid: component 0 \(Popularity\): boom$") as info:
        hybrid.forget(users=[1])
    assert isinstance(info.value.__cause__, MemoryError)
    assert all(hybrid.__dict__[k] is v for k, v in state.items())


def test_a_component_error_whose_type_takes_no_message_is_noted_not_replaced():
    from minigraphrec.models.hybrid import _naming_component
    exc = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    assert _naming_component(exc, 2, Popularity()) is exc
    assert exc.__notes__ == ["Hybrid: component 2 (Popularity)"]


def test_an_os_error_of_a_component_keeps_its_errno_and_file():
    """Rebuilt from its message alone, an OSError lost its errno and file name."""
    import errno
    from minigraphrec.models.hybrid import _naming_component
    exc = FileNotFoundError(errno.ENOENT, "No such file or directory", "items.txt")
    named = _naming_component(exc, 1, Popularity())
    assert named is exc and exc.errno == errno.ENOENT and exc.filename == "items.txt"
    assert exc.__notes__ == ["Hybrid: component 1 (Popularity)"]
    plain = _naming_component(DataError("bad ids"), 0, ItemKNN())
    assert type(plain) is DataError and str(plain) == "Hybrid: component 0 (ItemKNN): bad ids"


def test_an_empty_tuning_holdout_is_named_as_hybrids_own():
    """With one item per user the tuning holdout is empty; the message spoke of a "test
    part", which the caller (and the CLI without --test-size) never asked for."""
    data = Interactions(np.arange(50), np.arange(50) % 7)
    with pytest.raises(DataError, match=r"Hybrid: weights='tune' holds out validation_size=0\.2 "
                                        r"of each user's training items .* would be empty"):
        Hybrid([ItemKNN(), Popularity()], weights="tune").fit(data)


def test_validation_numbered_apart_from_train_is_refused_before_any_fit():
    """Only the sizes were compared: a validation set of the same sizes whose raw ids name
    other users and items was accepted and the weights tuned on mismatched rows, where
    evaluate refuses the same data."""
    rng = np.random.default_rng(0)
    ids_u, ids_i = np.arange(100, 120), np.arange(500, 515)
    train = Interactions(rng.integers(0, 20, 150), rng.integers(0, 15, 150), n_users=20,
                         n_items=15, user_ids=ids_u, item_ids=ids_i)
    users, items = rng.integers(0, 20, 30), rng.integers(0, 15, 30)
    apart = Interactions(users, items, n_users=20, n_items=15, user_ids=ids_u[::-1].copy(),
                         item_ids=ids_i[::-1].copy())
    CountingPopularity.fits = 0
    hybrid = Hybrid([CountingPopularity(), ItemKNN()])
    with pytest.raises(DataError, match=r"validation user 0 has raw id 119, but the model's "
                                        r"user 0 is 100.*validation.align\(train.user_ids"):
        hybrid.fit(train, validation=apart)
    assert CountingPopularity.fits == 0 and not hasattr(hybrid, "R_")
    items_apart = Interactions(users, items, n_users=20, n_items=15, user_ids=ids_u,
                               item_ids=ids_i[::-1].copy())
    with pytest.raises(DataError, match="validation item"):
        hybrid.fit(train, validation=items_apart)
    # the same ids, whole floats or as text, and validation aligned to train: accepted
    for ids in (dict(user_ids=ids_u.astype(float), item_ids=ids_i.astype(float)),
                dict(user_ids=ids_u.astype(str), item_ids=ids_i.astype(str))):
        Hybrid([Popularity(), ItemKNN()]).fit(
            train, validation=Interactions(users, items, n_users=20, n_items=15, **ids))
    aligned = apart.align(train.user_ids, train.item_ids)
    Hybrid([Popularity(), ItemKNN()]).fit(train, validation=aligned)


def test_huge_finite_weights_are_rescaled_not_zeroed():
    """``w / w.sum()`` with two weights of 1e308: the sum overflowed to inf and both weights
    became 0, so every blended score was 0. Rescaled by the largest weight first, they are
    the uniform blend's, bit for bit; ordinary weights keep ``w / w.sum()``."""
    train, _, good, bad = oracle_and_decoy()
    models = [FixedScores(good), FixedScores(bad)]
    huge = Hybrid(models, weights=[1e308, 1e308]).fit(train)
    uniform = Hybrid(models, weights=[1.0, 1.0]).fit(train)
    np.testing.assert_array_equal(huge.weights_, [0.5, 0.5])
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(huge.score(users), uniform.score(users))
    w = np.array([0.3, 0.7, 0.1])
    three = Hybrid(models + [FixedScores(good)], weights=list(w)).fit(train)
    np.testing.assert_array_equal(three.weights_, w / w.sum())
