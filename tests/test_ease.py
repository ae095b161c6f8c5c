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


# ------------------------------------------------- items without training users (audit F10)
def dense_reference_B(R, l2):
    """The textbook EASE on the whole catalogue: P = (RᵀR + λI)⁻¹ by one dense solve."""
    import scipy.linalg as sla
    n = R.shape[1]
    P = sla.cho_solve(sla.cho_factor(R.T @ R + l2 * np.eye(n)), np.eye(n))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


def train_with_inactive_items(seed, n_users=30, n_items=40, n_inactive=15, density=0.15):
    rng = np.random.default_rng(seed)
    R = (rng.random((n_users, n_items)) < density).astype(float)
    R[:, rng.choice(n_items, n_inactive, replace=False)] = 0.0
    u, i = np.nonzero(R)
    return Interactions(u, i, n_users=n_users, n_items=n_items), R


@pytest.mark.parametrize("block_size", [1, 4, 2048])
def test_items_without_users_are_left_out_of_the_inverse_exactly(monkeypatch, block_size):
    """An item nobody has makes G + λI block diagonal, so fit inverts only the m items that
    have users (the audit: 200 users x 20,000 items with 1,000 interactions, cubic in the
    nominal 20,000, was killed at 150 s). B equals the full solve; the left-out rows and
    columns are exact zeros and P_jj = 1/λ there, as the updates need."""
    import minigraphrec.models.ease as ease_module
    shapes = []
    real = ease_module.spd_inverse

    def spy(A, *args, **kwargs):
        shapes.append(A.shape)
        return real(A, *args, **kwargs)
    monkeypatch.setattr(ease_module, "spd_inverse", spy)
    train, R = train_with_inactive_items(10)
    l2 = 2.5
    model = EASE(l2=l2, block_size=block_size).fit(train)
    active = R.sum(axis=0) > 0
    m = int(active.sum())
    assert 0 < m < 40 - 14
    assert shapes == [(m, m)]                                     # not (40, 40)
    B_ref = dense_reference_B(R, l2)
    assert model.B_.shape == (40, 40) and model.B_.dtype == np.float64
    assert model.B_.flags.c_contiguous
    np.testing.assert_allclose(model.B_, B_ref, rtol=0, atol=1e-12 * np.abs(B_ref).max())
    assert np.all(model.B_[~active] == 0.0) and np.all(model.B_[:, ~active] == 0.0)
    assert np.all(np.diag(model.B_) == 0.0)
    np.testing.assert_array_equal(model.P_diag_[~active], 1.0 / l2)
    P_ref = np.linalg.inv(R.T @ R + l2 * np.eye(40))
    np.testing.assert_allclose(model.P_diag_, np.diag(P_ref), rtol=1e-12)


def test_spread_moves_the_leading_block_in_place():
    from minigraphrec.models.ease import _leading_square, _spread
    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 14))
        m = int(rng.integers(0, n + 1))
        idx = np.sort(rng.choice(n, m, replace=False))
        A = np.zeros((n, n))
        C = rng.standard_normal((m, m))
        block = _leading_square(A, m)
        assert block.flags.c_contiguous and (m == 0 or np.shares_memory(block, A))
        block[:] = C
        _spread(A, idx)
        expected = np.zeros((n, n))
        expected[np.ix_(idx, idx)] = C
        np.testing.assert_array_equal(A, expected)


def test_every_item_active_gives_the_full_solve_to_the_bit():
    """With no item left out, fit is the full tiled solve, unchanged (the code before the
    restriction, pinned here: Gram, + λI, spd_inverse in place, B = -P / diag P)."""
    from minigraphrec.linalg import spd_inverse
    for seed, block_size in [(12, 2048), (13, 5)]:
        train, R = random_train(seed, n_users=50, n_items=23, density=0.4)
        assert np.all(R.sum(axis=0) > 0)
        model = EASE(l2=3.0, block_size=block_size).fit(train)
        G = model._gram(train.to_csr())
        G[np.diag_indices_from(G)] += 3.0
        P = spd_inverse(G, block_size, overwrite_a=True)
        p = np.diag(P).copy()
        B = P / -p[None, :]
        B[np.diag_indices_from(B)] = 0.0
        np.testing.assert_array_equal(model.B_, B)
        np.testing.assert_array_equal(np.signbit(model.B_), np.signbit(B))
        np.testing.assert_array_equal(model.P_diag_, p)


@pytest.mark.parametrize("forget_p_diag", [False, True])
def test_updates_that_activate_or_deactivate_items_equal_a_refit(forget_p_diag):
    """partial_fit touching an item nobody had (and a new item), and forget removing an item's
    only users, by the Woodbury update restricted to the items active before or after: equal
    to a fit on the result, with exact zeros where no user is left. ``forget_p_diag``: a
    model saved before P_diag_ existed (diag(P) recovered from B)."""
    rng = np.random.default_rng(14)
    n_users, n_items = 120, 200
    R = (rng.random((n_users, n_items)) < 0.03).astype(float)
    R[:, 150:] = 0.0                                              # items 150.. nobody has
    R[:, 10] = 0.0
    R[[3, 4], 10] = 1.0                                           # item 10: users 3, 4 only
    u, i = np.nonzero(R)
    l2 = 2.0
    model = EASE(l2=l2).fit(Interactions(u, i, n_users=n_users, n_items=n_items))
    if forget_p_diag:
        del model.P_diag_
    # user 7 takes inactive item 160 and a new item 200; a new user takes 170 and 5
    model.partial_fit(Interactions([0, 0, 1, 1], [0, 1, 2, 3], user_ids=[7, n_users],
                                   item_ids=[160, n_items, 170, 5]))
    assert model._last_update["method"] == "woodbury"
    R2 = np.zeros((n_users + 1, n_items + 1))
    R2[:n_users, :n_items] = R
    R2[7, [160, n_items]] = 1.0
    R2[n_users, [170, 5]] = 1.0
    B_ref = dense_reference_B(R2, l2)
    tol = 1e-12 * np.abs(B_ref).max()
    np.testing.assert_allclose(model.B_, B_ref, rtol=0, atol=tol)
    for j in (160, 170, n_items):
        assert np.abs(model.B_[:, j]).max() > 0                  # now active
    u2, i2 = np.nonzero(R2)
    refit = EASE(l2=l2).fit(Interactions(u2, i2, n_users=n_users + 1, n_items=n_items + 1))
    np.testing.assert_allclose(model.B_, refit.B_, rtol=0, atol=tol)
    np.testing.assert_allclose(model.P_diag_, refit.P_diag_, rtol=1e-12)
    # forget users 3 and 4: item 10 has nobody left; forget user 7's 160 only: 160 too
    model.forget(users=[3, 4], interactions=[(7, 160)])
    assert model._last_update["method"] == "woodbury"
    keep = np.setdiff1d(np.arange(n_users + 1), [3, 4])
    R3 = R2.copy()
    R3[7, 160] = 0.0
    R3 = R3[keep]
    B_ref = dense_reference_B(R3, l2)
    np.testing.assert_allclose(model.B_, B_ref, rtol=0, atol=1e-12 * np.abs(B_ref).max())
    for j in (10, 160, *range(150, 160), *range(161, 170), *range(171, n_items)):
        assert np.all(model.B_[j] == 0.0) and np.all(model.B_[:, j] == 0.0), j
        assert model.P_diag_[j] == 1.0 / l2
    u3, i3 = np.nonzero(R3)
    refit = EASE(l2=l2).fit(Interactions(u3, i3, n_users=R3.shape[0], n_items=n_items + 1))
    np.testing.assert_allclose(model.B_, refit.B_, rtol=0, atol=1e-12 * np.abs(B_ref).max())
    np.testing.assert_allclose(model.P_diag_, refit.P_diag_, rtol=1e-12)


def test_forget_is_guarded_by_max_items_as_partial_fit_is():
    """forget keeps the old B_ until the new one is complete: two n x n matrices, which the
    docs said max_items bounds while forget never checked it."""
    train, _ = random_train(4, n_users=30, n_items=8)
    model = EASE(max_items=None).fit(train).set_params(max_items=7)
    with pytest.raises(ValueError, match=r"EASE\.forget needs two dense 8 x 8 float64 matrices"):
        model.forget(users=[0])


def test_b_depends_on_the_blas_thread_count_in_its_last_bits_only():
    """What the module docstring says (Threads): the same count gives the same bits, 1 and 2
    BLAS threads agree to rounding, and scoring does not depend on the count."""
    import minigraphrec as mgr
    data = mgr.datasets.synthetic(n_users=300, n_items=400, random_state=0)
    fits = []
    for n in (1, 2, 1):
        with mgr.threads(n):
            fits.append(EASE(l2=50.0, block_size=150).fit(data))
    B1, B2, B1_again = (m.B_ for m in fits)
    np.testing.assert_array_equal(B1, B1_again)
    np.testing.assert_allclose(B2, B1, rtol=0, atol=1e-13 * np.abs(B1).max())
    users = np.arange(data.n_users)
    with mgr.threads(1):
        s1 = fits[0].score(users)
    with mgr.threads(2):
        s2 = fits[0].score(users)
    np.testing.assert_array_equal(s1, s2)
