"""EASE: the closed form against its objective (per-column solve, KKT, a generic optimiser)."""
import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from conftest import check_bad_hyperparameter

from minigraphrec import Interactions
from minigraphrec.models import EASE


def random_train(seed, n_users=25, n_items=8, density=0.35):
    rng = np.random.default_rng(seed)
    R = (rng.random((n_users, n_items)) < density).astype(float)
    u, i = np.nonzero(R)
    return Interactions(u, i, n_users=n_users, n_items=n_items), R


@pytest.mark.parametrize("l2", [0.5, 10.0, 500.0])
def test_closed_form_equals_per_column_ridge_regression(l2):
    # with diag(B) = 0 the objective separates over columns: column j is the ridge
    # regression of R[:, j] on the other columns.
    train, R = random_train(0)
    B = EASE(l2=l2).fit(train).B_
    n = R.shape[1]
    for j in range(n):
        others = [i for i in range(n) if i != j]
        X = R[:, others]
        b = np.linalg.solve(X.T @ X + l2 * np.eye(n - 1), X.T @ R[:, j])
        np.testing.assert_allclose(B[others, j], b, rtol=1e-9, atol=1e-12)
        assert B[j, j] == 0.0


def test_kkt_conditions():
    # gradient of ||R - RB||² + λ||B||² is 2((RᵀR + λI) B - RᵀR); at the constrained
    # optimum it vanishes off the diagonal (the diagonal carries the multipliers).
    train, R = random_train(1, n_users=40, n_items=10)
    l2 = 3.0
    B = EASE(l2=l2).fit(train).B_
    G = R.T @ R
    grad = (G + l2 * np.eye(10)) @ B - G
    off = ~np.eye(10, dtype=bool)
    np.testing.assert_allclose(grad[off], 0.0, atol=1e-10)
    assert np.abs(np.diag(grad)).max() > 1e-3                     # the constraint is active


def test_closed_form_equals_generic_optimiser():
    train, R = random_train(2, n_users=12, n_items=5)
    l2 = 2.0
    n = 5
    off = ~np.eye(n, dtype=bool)

    def objective(x):
        B = np.zeros((n, n))
        B[off] = x
        E = R - R @ B
        grad = -2 * R.T @ E + 2 * l2 * B
        return np.sum(E ** 2) + l2 * np.sum(B ** 2), grad[off]

    res = scipy.optimize.minimize(objective, np.zeros(off.sum()), jac=True, method="L-BFGS-B",
                                  options=dict(gtol=1e-12, ftol=1e-15, maxiter=10000))
    assert res.success
    B = EASE(l2=l2).fit(train).B_
    np.testing.assert_allclose(B[off], res.x, atol=1e-6)


def test_scores_are_r_times_b():
    train, R = random_train(3)
    model = EASE(l2=5.0).fit(train)
    users = np.array([0, 7, 24])
    np.testing.assert_allclose(model.score(users), R[users] @ model.B_, rtol=1e-12, atol=1e-15)


def test_checkerboard_held_out_item_comes_first(checkerboard):
    train, held = checkerboard
    items, _ = EASE(l2=1.0).fit(train).recommend(np.arange(train.n_users), k=1)
    np.testing.assert_array_equal(items[:, 0], held)


def test_item_without_users_neither_gives_nor_gets_score():
    train = Interactions([0, 0, 1, 2], [0, 1, 1, 0], n_users=3, n_items=3)
    model = EASE(l2=1.0).fit(train)
    np.testing.assert_array_equal(model.B_[2], 0.0)
    np.testing.assert_array_equal(model.B_[:, 2], 0.0)


def test_memory_guard():
    train, _ = random_train(4, n_items=8)
    with pytest.raises(ValueError, match=r"8 x 8 float64.*max_items=7"):
        EASE(max_items=7).fit(train)
    assert EASE(max_items=None).fit(train).B_.shape == (8, 8)


@pytest.mark.parametrize("params,match", [
    (dict(l2=0.0), "l2"), (dict(l2=-1.0), "l2"), (dict(l2=np.nan), "l2"),
    (dict(l2="big"), "l2"), (dict(l2=True), "l2"),
    (dict(max_items=0), "max_items"), (dict(max_items=2.5), "max_items"),
    (dict(block_size=0), "block_size"), (dict(block_size=None), "block_size"),
])
def test_bad_hyperparameters(params, match):
    check_bad_hyperparameter(EASE, params, match, random_train(5)[0])


def test_unfitted_and_bad_input():
    with pytest.raises(RuntimeError, match="not fitted"):
        EASE().score([0])
    with pytest.raises(TypeError, match="Interactions"):
        EASE().fit(sp.eye(3, format="csr"))


def test_save_and_load_round_trip(tmp_path):
    from minigraphrec.io import load
    train, _ = random_train(6)
    model = EASE(l2=2.0).fit(train)
    model.save(tmp_path / "ease.npz")
    again = load(tmp_path / "ease.npz")
    np.testing.assert_array_equal(again.score(np.arange(25)), model.score(np.arange(25)))


@pytest.mark.parametrize("block_size", [1, 3, 7, 2048])
def test_tiled_inverse_equals_the_plain_cholesky_solve(block_size):
    # the reference EASE code: P = cho_solve(cho_factor(G + λI), I), one LAPACK call each
    import scipy.linalg as sla
    train, R = random_train(7, n_users=60, n_items=17, density=0.3)
    l2 = 4.0
    G = R.T @ R + l2 * np.eye(17)
    P = sla.cho_solve(sla.cho_factor(G), np.eye(17))
    B_ref = -P / np.diag(P)[None, :]
    np.fill_diagonal(B_ref, 0.0)
    B = EASE(l2=l2, block_size=block_size).fit(train).B_
    np.testing.assert_allclose(B, B_ref, rtol=0, atol=1e-13 * np.abs(B_ref).max())
    assert np.all(np.diag(B) == 0.0)


def test_updates_refuse_a_changed_l2_and_leave_the_model_as_it_was(tmp_path):
    """B_ was computed with the fit's l2: an update with another one would mix the two (the
    audit: set_params(l2=200).partial_fit gave the B of l2=20 on the union, labelled 200)."""
    from minigraphrec.io import load
    train, _ = random_train(7, n_users=30)
    old, new = train.subset(train.users < 25), train.subset(train.users >= 25)
    model = EASE(l2=20.0).fit(old).set_params(l2=200.0)
    state = dict(model.__dict__)
    for call in (lambda: model.partial_fit(new), lambda: model.forget(users=[0])):
        with pytest.raises(ValueError, match=r"hyperparameters changed since fit "
                                             r"\(l2=20\.0 -> 200\.0\).*set them back, or fit "
                                             r"again.*may change after fit: max_items, "
                                             r"block_size"):
            call()
        assert model.__dict__.keys() == state.keys()
        assert all(model.__dict__[k] is v for k, v in state.items())
    # set back, and with a size guard and tile size of its own: the update runs
    model.set_params(l2=20.0, block_size=3, max_items=100).partial_fit(new)
    np.testing.assert_allclose(model.B_, EASE(l2=20.0).fit(train).B_, rtol=0, atol=1e-12)
    # saved and loaded, the model updates on, and refuses a change made after loading
    model.save(tmp_path / "ease.npz")
    loaded = load(tmp_path / "ease.npz")
    loaded.forget(users=[0])
    np.testing.assert_allclose(loaded.B_, model.forget(users=[0]).B_, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"EASE\.forget: .*\(l2=20\.0 -> 5\.0\)"):
        load(tmp_path / "ease.npz").set_params(l2=5.0).forget(users=[0])
    # a file saved after the change keeps the fit's record: its load refuses the update too
    # (it was rebuilt from the saved l2=200 and accepted it, on a B of l2=20)
    model.set_params(l2=200.0).save(tmp_path / "changed.npz")
    reloaded = load(tmp_path / "changed.npz")
    assert reloaded.l2 == 200.0 and reloaded.fit_hyperparameters_["l2"] == 20.0
    with pytest.raises(ValueError, match=r"\(l2=20\.0 -> 200\.0\)"):
        reloaded.partial_fit(new)


def test_bad_l2_is_a_data_error():
    """Every bad hyperparameter value is a DataError (a ValueError), as check_int gives for
    max_items and block_size (the audit: l2 raised a bare ValueError)."""
    from minigraphrec import DataError
    for l2 in (0.0, -1.0, np.nan, "big", True):
        check_bad_hyperparameter(EASE, dict(l2=l2), "l2", random_train(5)[0], error=DataError)


@pytest.mark.parametrize("block_size", [1, 3, 5, 2048])
def test_gram_is_built_exactly_in_c_order(block_size):
    # the Gram rows are built in blocks of at most block_size² entries; R is binary, so each
    # entry is an integer count and the blocks give SciPy's product to the bit
    train, R = random_train(8, n_users=30, n_items=13, density=0.4)
    model = EASE(block_size=block_size)
    G = model._gram(train.to_csr())
    assert G.flags.c_contiguous and G.dtype == np.float64
    np.testing.assert_array_equal(G, (train.to_csr().T @ train.to_csr()).toarray())
    np.testing.assert_array_equal(G, R.T @ R)


def test_fit_inverts_the_gram_matrix_in_place(monkeypatch):
    """spd_inverse works in place only on a C-contiguous array and silently copies any other:
    ``(R.T @ R).toarray()`` is Fortran-ordered (a CSC product), so fit held two n x n arrays
    (the audit: a peak of 2.55 n² float64 at 6000 items)."""
    import minigraphrec.models.ease as ease_module
    calls = []
    real = ease_module.spd_inverse

    def spy(A, *args, **kwargs):
        out = real(A, *args, **kwargs)
        calls.append((A.flags.c_contiguous, out is A, kwargs.get("overwrite_a")))
        return out
    monkeypatch.setattr(ease_module, "spd_inverse", spy)
    EASE(l2=3.0, block_size=4).fit(random_train(9, n_items=11)[0])
    assert calls == [(True, True, True)]


def test_peak_memory_is_about_one_matrix_for_fit_and_two_for_updates():
    """fit: one n x n float64 array plus tiles (was 2.1 n² here: a copy of the Gram matrix);
    partial_fit / forget: the old B_ and the new P (was 3.1 n²: an n x n temporary)."""
    import tracemalloc
    rng = np.random.default_rng(0)
    n = 1200
    train = Interactions(rng.integers(0, 800, 30000), rng.integers(0, n, 30000),
                         n_users=800, n_items=n)
    unit = 8 * n * n
    tracemalloc.start()
    try:
        model = EASE(l2=10.0, block_size=128).fit(train)
        fit_peak = tracemalloc.get_traced_memory()[1] / unit
        tracemalloc.reset_peak()
        model.partial_fit(Interactions([0], [0], user_ids=[3], item_ids=[5]))
        update_peak = tracemalloc.get_traced_memory()[1] / unit     # B_ included
        tracemalloc.reset_peak()
        model.forget(users=[0, 1, 2])
        forget_peak = tracemalloc.get_traced_memory()[1] / unit
    finally:
        tracemalloc.stop()
    assert model._last_update["method"] == "woodbury"
    assert fit_peak < 1.25, fit_peak
    assert update_peak < 2.25, update_peak
    assert forget_peak < 2.25, forget_peak


def test_memory_guard_names_what_each_method_holds():
    train, _ = random_train(4, n_users=30, n_items=8)
    old, _ = random_train(4, n_users=30, n_items=7)
    with pytest.raises(ValueError, match=r"EASE\.fit needs a dense 8 x 8 float64 matrix"):
        EASE(max_items=7).fit(train)
    model = EASE(max_items=7).fit(old)
    new = Interactions([0], [0], user_ids=[0], item_ids=[7])
    with pytest.raises(ValueError, match=r"EASE\.partial_fit needs two dense 8 x 8 float64 "
                                         r"matrices, the old B and the new \(0\.0 GB\).*"
                                         r"max_items=7"):
        model.partial_fit(new)
