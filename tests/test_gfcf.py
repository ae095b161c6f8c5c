"""GF-CF: the batched sparse scores against the dense formula, solvers, edge cases."""
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import check_bad_hyperparameter
from scipy.sparse.linalg import svds

from minigraphrec import DataError, Interactions
from minigraphrec.models import GFCF
from minigraphrec.models.gfcf import (
    _orthonormalize,
    normalized_interactions,
    svd_working_memory,
    top_right_singular_vectors,
)


def random_train(seed, n_users=30, n_items=40, density=0.12, empty_user=None, empty_item=None):
    rng = np.random.default_rng(seed)
    R = (rng.random((n_users, n_items)) < density).astype(float)
    if empty_user is not None:
        R[empty_user] = 0
    if empty_item is not None:
        R[:, empty_item] = 0
    u, i = np.nonzero(R)
    return Interactions(u, i, n_users=n_users, n_items=n_items), R


def dense_gfcf(R, alpha, k):
    """The paper's formula computed naively with dense matrices (zero degree -> 0)."""
    du, di = R.sum(1), R.sum(0)
    inv = lambda d: np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0.0)
    Rt = np.diag(inv(du)) @ R @ np.diag(inv(di))
    _, _, Vt = np.linalg.svd(Rt)
    V = Vt[:k].T
    linear = R @ Rt.T @ Rt
    ideal = R @ np.diag(inv(di)) @ V @ V.T @ np.diag(np.sqrt(di))
    return linear + alpha * ideal


def test_normalized_interactions_by_hand():
    R = sp.csr_matrix(np.array([[1., 1., 0.], [1., 0., 0.]]))
    Rt, du, di = normalized_interactions(R)
    np.testing.assert_array_equal(du, [2, 1])
    np.testing.assert_array_equal(di, [2, 1, 0])
    expected = [[1 / np.sqrt(4), 1 / np.sqrt(2), 0], [1 / np.sqrt(2), 0, 0]]
    np.testing.assert_allclose(Rt.toarray(), expected, rtol=1e-15)


@pytest.mark.parametrize("alpha,k", [(0.3, 5), (1.0, 12), (0.0, 5)])
def test_batched_scores_equal_dense_formula(alpha, k):
    train, R = random_train(0, empty_user=3, empty_item=7)
    model = GFCF(alpha=alpha, n_factors=k, svd_solver="dense", dtype="float64").fit(train)
    model.score_batch_size = 7                                    # several batches in recommend
    users = np.arange(train.n_users)
    S = model.score(users)
    assert S.dtype == np.float64 and S.shape == (30, 40)
    np.testing.assert_allclose(S, dense_gfcf(R, alpha, k), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(S[3], 0.0)                      # user without items
    np.testing.assert_array_equal(S[:, 7], 0.0)                   # item without users
    items, _ = model.recommend(users, k=3)
    expected = np.argsort(-np.where(R > 0, -np.inf, S), axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(items[np.arange(30) != 3], expected[np.arange(30) != 3])


def test_float32_close_to_float64():
    train, _ = random_train(1)
    users = np.arange(30)
    a = GFCF(n_factors=6, svd_solver="dense", dtype="float32").fit(train).score(users)
    b = GFCF(n_factors=6, svd_solver="dense", dtype="float64").fit(train).score(users)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("solver", ["arpack", "propack", "randomized", "chebyshev"])
def test_solvers_agree_with_lapack(solver):
    train, R = random_train(2, n_users=50, n_items=60, density=0.1)
    Rt, _, _ = normalized_interactions(sp.csr_matrix(R))
    k = 4
    s_all = np.linalg.svd(Rt.toarray(), compute_uv=False)
    assert s_all[k - 1] - s_all[k] > 1e-3                         # a spectral gap at k
    s_ref, V_ref = top_right_singular_vectors(Rt, k, "dense")
    s, V = top_right_singular_vectors(Rt, k, solver, random_state=3, n_oversamples=20,
                                      n_power_iter=40)
    np.testing.assert_allclose(s, s_ref, rtol=1e-9)
    np.testing.assert_allclose(V @ V.T, V_ref @ V_ref.T, atol=1e-8)  # same subspace
    np.testing.assert_allclose(V.T @ V, np.eye(k), atol=1e-10)


def test_dense_solver_returns_descending_values():
    _, R = random_train(3)
    Rt, _, _ = normalized_interactions(sp.csr_matrix(R))
    s, V = top_right_singular_vectors(Rt, 10, "dense")
    assert np.all(np.diff(s) <= 0) and V.shape == (40, 10)
    np.testing.assert_allclose(s, np.linalg.svd(Rt.toarray(), compute_uv=False)[:10])


def test_randomized_solver_handles_rank_deficiency():
    # rank 2, sketch of 2 + 6 columns: Y^T Y is singular and CholeskyQR falls back to QR
    rng = np.random.default_rng(4)
    A = sp.csr_matrix(rng.random((20, 2)) @ rng.random((2, 15)))
    s, V = top_right_singular_vectors(A, 2, "randomized", n_oversamples=6, n_power_iter=3)
    s_ref, V_ref = top_right_singular_vectors(A, 2, "dense")
    np.testing.assert_allclose(s, s_ref, rtol=1e-10)
    # the contract: residuals ||G v - s^2 v|| <= 1e-10 * s_1^2, hence (Davis-Kahan) the
    # subspace within 1e-10 * s_1^2 / gap, where the gap to the null space is s_2^2 and
    # s_1^2 / s_2^2 is about 100 here
    residual = np.linalg.norm(A.T @ (A @ V) - V * s**2, axis=0)
    assert residual.max() <= 1e-10 * s[0] ** 2
    np.testing.assert_allclose(V @ V.T, V_ref @ V_ref.T, atol=1e-10 * s_ref[0] ** 2 / s_ref[1] ** 2)


def flat_spectrum(n_rows, n_cols, s, seed):
    """Sparse-typed ``U diag(s) Vᵀ`` with orthonormal random ``U``, ``V``: known singular pairs."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((n_rows, s.size)))[0]
    V = np.linalg.qr(rng.standard_normal((n_cols, s.size)))[0]
    return sp.csr_matrix((U * s) @ V.T), V


def test_chebyshev_solver_converges_on_a_flat_spectrum():
    # singular values 1.0 ... 0.90 (120 of them), k = 10 with 10 oversamples: plain subspace
    # iteration gains (0.90 / 0.99)^2 per step at the boundary; the filtered iteration must
    # still reach the exact pairs (residual 1e-10) within its pass limit
    s_true = np.linspace(1.0, 0.90, 120)
    A, V_true = flat_spectrum(300, 200, s_true, seed=12)
    s, V = top_right_singular_vectors(A, 10, "chebyshev", random_state=1, n_oversamples=10)
    np.testing.assert_allclose(s, s_true[:10], rtol=1e-10)
    P_true = V_true[:, :10] @ V_true[:, :10].T
    np.testing.assert_allclose(V @ V.T, P_true, atol=1e-8)
    np.testing.assert_allclose(V.T @ V, np.eye(10), atol=1e-12)


def test_chebyshev_solver_converges_when_the_top_value_stands_far_above_the_rest():
    """λ_1 / λ_k = 100 (as at k = 256 on MovieLens-100K): a degree-12 filter amplified the
    top direction 1e25 times more than the k-th, and the k-th residual stalled at about
    4e-6 for all 200 passes; the degree is now capped so that this ratio stays below 1e10."""
    from minigraphrec.models.gfcf import _filter_degree
    s_true = np.concatenate([[1.0], np.linspace(0.12, 0.10, 150)])
    A, V_true = flat_spectrum(400, 300, s_true, seed=3)
    s, V = top_right_singular_vectors(A, 20, "chebyshev", random_state=0, n_oversamples=10)
    np.testing.assert_allclose(s, s_true[:20], rtol=1e-10)
    residual = np.linalg.norm(A.T @ (A @ V) - V * s**2, axis=0)
    assert residual.max() <= 1e-10 * s[0] ** 2
    # the cap: T_m(t(θ_1)) / T_m(t(θ_k)) <= 1e10 at the chosen m, beyond it at m + 1
    t1, tk = 2 * 1.0 / 0.0095 - 1, 2 * 0.0121 / 0.0095 - 1
    m = _filter_degree(1.0, 0.0121, 0.0095, 12)
    ratio = lambda m: np.cosh(m * np.arccosh(t1)) / np.cosh(m * np.arccosh(tk))
    assert 1 <= m < 12 and ratio(m) <= 1e10 < ratio(m + 1)
    assert _filter_degree(1.0, 0.99, 0.9, 12) == 12              # a flat top: not capped


def test_chebyshev_solver_handles_rank_deficiency():
    rng = np.random.default_rng(4)
    A = sp.csr_matrix(rng.random((20, 2)) @ rng.random((2, 15)))     # rank 2, block of 8
    s, V = top_right_singular_vectors(A, 2, "chebyshev", n_oversamples=6)
    s_ref, V_ref = top_right_singular_vectors(A, 2, "dense")
    np.testing.assert_allclose(s, s_ref, rtol=1e-10)
    # the contract: residuals ||G v - s^2 v|| <= 1e-10 * s_1^2, hence (Davis-Kahan) the
    # subspace within 1e-10 * s_1^2 / gap, where the gap to the null space is s_2^2 and
    # s_1^2 / s_2^2 is about 100 here
    residual = np.linalg.norm(A.T @ (A @ V) - V * s**2, axis=0)
    assert residual.max() <= 1e-10 * s[0] ** 2
    np.testing.assert_allclose(V @ V.T, V_ref @ V_ref.T, atol=1e-10 * s_ref[0] ** 2 / s_ref[1] ** 2)


def test_chebyshev_solver_says_when_it_does_not_converge():
    from minigraphrec.models.gfcf import _chebyshev_right_vectors
    A, _ = flat_spectrum(300, 200, np.linspace(1.0, 0.90, 120), seed=12)
    with pytest.raises(RuntimeError, match=r"did not reach a residual of 1e-10 in 1 passes"):
        _chebyshev_right_vectors(A, 10, 10, np.random.default_rng(0), max_passes=1)


def test_chebyshev_solver_same_on_both_backends():
    _, R = random_train(6, n_users=60, n_items=70)
    Rt, _, _ = normalized_interactions(sp.csr_matrix(R))
    a = top_right_singular_vectors(Rt, 5, "chebyshev", 2, n_oversamples=10, backend="numba")
    b = top_right_singular_vectors(Rt, 5, "chebyshev", 2, n_oversamples=10, backend="numpy")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("scale", [1.0, 1e-5])
def test_orthonormalize(scale):
    # columns of very different norms (condition number 1e5 with scale 1e-5): CholeskyQR
    # needs a second pass; the basis must be orthonormal and span the same columns
    rng = np.random.default_rng(9)
    Y = rng.standard_normal((200, 6)) * np.array([1, 1, 1, 1, 1, scale])
    Q = _orthonormalize(Y)
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(Q @ (Q.T @ Y), Y, atol=1e-12)
    deficient = np.hstack([Y[:, :3], Y[:, :3]])                    # rank 3: Householder QR
    Q = _orthonormalize(deficient)
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(Q @ (Q.T @ deficient), deficient, atol=1e-12)


def test_orthonormalize_falls_back_to_qr_when_the_gram_overflows():
    """Columns of norm 1e160 gave an infinite QᵀQ, on which scipy's cholesky raised a
    ValueError instead of the documented fallback to Householder QR."""
    import warnings
    rng = np.random.default_rng(9)
    for scale in (1e160, 1e300):
        Y = rng.standard_normal((200, 6)) * scale
        with warnings.catch_warnings():
            warnings.simplefilter("error")                     # no overflow warning either
            Q = _orthonormalize(Y)
        np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-10)
        assert np.abs(Q @ (Q.T @ Y) - Y).max() <= 1e-12 * np.abs(Y).max()


def test_propack_and_dense_accept_n_factors_equal_to_min_dimension():
    train, _ = random_train(10)
    for solver in ("propack", "dense", "randomized", "chebyshev"):
        model = GFCF(n_factors=30, svd_solver=solver, dtype="float64").fit(train)
        assert model.V_.shape == (40, 30)


@pytest.mark.parametrize("solver", ["arpack", "propack", "randomized", "chebyshev"])
def test_same_seed_same_scores(solver):
    train, _ = random_train(5, n_users=40, n_items=50)
    users = np.arange(40)
    a = GFCF(n_factors=5, svd_solver=solver, random_state=11, dtype="float64").fit(train)
    b = GFCF(n_factors=5, svd_solver=solver, random_state=11, dtype="float64").fit(train)
    np.testing.assert_array_equal(a.score(users), b.score(users))


def test_numba_backend_equals_numpy(monkeypatch):
    from minigraphrec.models import gfcf
    monkeypatch.setattr(gfcf, "_ITEM_FILTER_PRODUCTS", 0)          # the backend's product path
    train, _ = random_train(6)
    users = np.arange(30)
    a = GFCF(n_factors=5, svd_solver="dense", dtype="float64", backend="numpy").fit(train)
    b = GFCF(n_factors=5, svd_solver="dense", dtype="float64", backend="numba").fit(train)
    np.testing.assert_allclose(a.score(users), b.score(users), rtol=1e-13, atol=1e-15)


def test_alpha_zero_is_the_linear_filter_without_svd():
    train, R = random_train(7)
    model = GFCF(alpha=0.0, n_factors=10_000, dtype="float64").fit(train)  # n_factors unused
    assert model.V_.shape == (40, 0) and model.singular_values_.shape == (0,)
    du, di = R.sum(1), R.sum(0)
    Rt = R / np.sqrt(np.outer(np.where(du > 0, du, 1), np.where(di > 0, di, 1)))
    np.testing.assert_allclose(model.score(np.arange(30)), R @ Rt.T @ Rt, rtol=1e-12)


def test_alpha_set_after_fit_rescales_the_ideal_term_and_is_checked():
    """set_params(alpha=-1) after fit was taken unchecked (the ideal term subtracted), and
    alpha 0 -> 0.3 after a fit without vectors was silently ignored."""
    train, R = random_train(7)
    users = np.arange(30)
    model = GFCF(alpha=0.3, n_factors=8, dtype="float64").fit(train)
    model.set_params(alpha=0.6)
    np.testing.assert_allclose(model.score(users), dense_gfcf(R, 0.6, 8), rtol=1e-10, atol=1e-12)
    for bad in (-1.0, float("nan")):
        model.set_params(alpha=bad)
        with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
            model.score(users)
    linear = GFCF(alpha=0.0, n_factors=8, dtype="float64").fit(train)
    linear.set_params(alpha=0.3)
    with pytest.raises(ValueError, match="fitted with alpha = 0 .* fit it again"):
        linear.score(users)
    with pytest.raises(ValueError, match="fitted with alpha = 0"):
        linear.explain(0, 1)


def test_checkerboard_held_out_item_comes_first(checkerboard):
    train, held = checkerboard
    items, _ = GFCF(n_factors=2).fit(train).recommend(np.arange(train.n_users), k=1)
    np.testing.assert_array_equal(items[:, 0], held)


BAD_HYPERPARAMETERS = [
    (dict(alpha=-0.1), "alpha"), (dict(alpha=np.nan), "alpha"), (dict(alpha=True), "alpha"),
    (dict(n_factors=0), "n_factors"), (dict(n_factors=2.0), "n_factors"),
    (dict(n_oversamples=-1), "n_oversamples"), (dict(n_power_iter=-1), "n_power_iter"),
    (dict(svd_solver="lanczos"), "svd_solver"), (dict(dtype="float16"), "dtype"),
    (dict(backend="torch"), "backend"),
    (dict(max_svd_memory_mb=0), "max_svd_memory_mb"),
    (dict(max_svd_memory_mb=np.inf), "max_svd_memory_mb"),
    (dict(max_svd_memory_mb="8G"), "max_svd_memory_mb"),
    (dict(n_factors=31), r"n_factors=31 is too large for a 30 x 40 .*<= 30"),
    (dict(n_factors=30, svd_solver="arpack"), r"n_factors=30 .*'arpack' .*< 30"),
]


@pytest.mark.parametrize("params,match", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters(params, match):
    check_bad_hyperparameter(GFCF, params, match, random_train(8)[0])


@pytest.mark.parametrize("params,match", BAD_HYPERPARAMETERS)
def test_bad_hyperparameter_values_are_data_errors(params, match):
    """One type for one kind of error: check_int's DataError (a ValueError) for every bad
    value, alpha, svd_solver, dtype and backend included (they raised bare ValueErrors)."""
    from minigraphrec import DataError
    check_bad_hyperparameter(GFCF, params, match, random_train(8)[0], error=DataError)


def test_propack_names_n_factors_and_the_rank_when_it_stops_below_n_factors():
    """The audit: one item nobody took makes rank(R̃) = 29 < 30 items, and PROPACK stopped
    with SciPy's bare "An invariant subspace of dimension 29 was found". Now a DataError
    names n_factors and the rank, keeps SciPy's error as its cause, and a refit that fails
    so leaves the fitted model as it was."""
    from minigraphrec import DataError
    train, R = random_train(8, n_users=40, n_items=30, density=0.3, empty_item=3)
    assert np.linalg.matrix_rank(R) == 29
    model = GFCF(n_factors=29, svd_solver="propack", dtype="float64").fit(train)
    model.set_params(n_factors=30)
    state = dict(model.__dict__)
    with pytest.raises(DataError, match=r"n_factors=30 is above what svd_solver='propack' "
                                        r"finds in R̃: .*invariant subspace of dimension 29.*"
                                        r"40 users and 29 items have interactions: the rank "
                                        r"is at most 29\); use n_factors <= 29") as info:
        model.fit(train)
    assert isinstance(info.value.__cause__, np.linalg.LinAlgError)
    assert model.__dict__.keys() == state.keys()
    assert all(model.__dict__[k] is v for k, v in state.items())
    # the other solvers complete the basis with null vectors, which add nothing to the scores
    ref = GFCF(n_factors=29, svd_solver="dense", dtype="float64").fit(train).score(np.arange(40))
    for solver, atol in (("dense", 0.0), ("auto", 0.0), ("chebyshev", 1e-10)):
        got = GFCF(n_factors=30, svd_solver=solver, dtype="float64").fit(train)
        np.testing.assert_allclose(got.score(np.arange(40)), ref, rtol=0, atol=atol)


def test_propack_names_n_factors_when_its_lanczos_process_ends_below_it():
    """Two identical item columns: every user and item has interactions (the degrees bound
    the rank by 30), yet the rank is 29; the message names the dimension PROPACK found."""
    from minigraphrec import DataError
    rng = np.random.default_rng(0)
    R = rng.random((40, 30)) < 0.3
    R[:, 0] = True
    R[:, 1] = R[:, 0]
    assert np.linalg.matrix_rank(R.astype(float)) == 29
    u, i = np.nonzero(R)
    train = Interactions(u, i, n_users=40, n_items=30)
    with pytest.raises(DataError, match=r"n_factors=30 is above what svd_solver='propack' "
                                        r"finds.*invariant subspace of dimension 29.*40 users "
                                        r"and 30 items .*at most 30\)") as info:
        GFCF(n_factors=30, svd_solver="propack").fit(train)
    assert isinstance(info.value.__cause__, np.linalg.LinAlgError)
    assert GFCF(n_factors=29, svd_solver="propack").fit(train).V_.shape == (30, 29)


def test_unfitted():
    with pytest.raises(RuntimeError, match="not fitted"):
        GFCF().score([0])


def test_save_and_load_round_trip(tmp_path):
    from minigraphrec.io import load
    train, _ = random_train(11)
    model = GFCF(n_factors=5, svd_solver="randomized").fit(train)
    model.save(tmp_path / "gfcf.npz")
    again = load(tmp_path / "gfcf.npz")
    users = np.arange(30)
    np.testing.assert_array_equal(again.score(users), model.score(users))


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_sparse_item_filter_and_transposed_product_agree(dtype, rtol, monkeypatch):
    # the linear term two ways: r_u (R̃ᵀR̃) through the sparse filter, or R̃ᵀ(R̃ r_uᵀ)
    from minigraphrec.models import gfcf
    rng = np.random.default_rng(11)
    R = (rng.random((40, 30)) < 0.15).astype(float)
    R[5] = 0.0                                                     # a user with no item
    u, i = np.nonzero(R)
    train = Interactions(u, i, n_users=40, n_items=30)
    with_filter = GFCF(alpha=0.3, n_factors=6, dtype=dtype).fit(train)
    assert with_filter._item_filter is not None
    monkeypatch.setattr(gfcf, "_ITEM_FILTER_PRODUCTS", 0)          # forbid the filter
    without = GFCF(alpha=0.3, n_factors=6, dtype=dtype).fit(train)
    assert without._item_filter is None
    users = np.arange(40)
    expected = dense_gfcf(R, 0.3, 6)
    np.testing.assert_allclose(with_filter.score(users), expected, rtol=rtol, atol=rtol * 1e-1)
    np.testing.assert_allclose(without.score(users), expected, rtol=rtol, atol=rtol * 1e-1)
    np.testing.assert_array_equal(with_filter.score([5]), 0.0)


def test_auto_solver_is_dense_when_small_else_propack_or_chebyshev(monkeypatch):
    from minigraphrec.models import gfcf

    assert gfcf._resolve_solver("auto", (2000, 50000)) == "dense"
    assert gfcf._resolve_solver("arpack", (10, 10)) == "arpack"
    monkeypatch.setattr(gfcf, "_propack_enabled", lambda: True)
    assert gfcf._resolve_solver("auto", (2001, 50000)) == "propack"
    monkeypatch.setattr(gfcf, "_propack_enabled", lambda: False)     # SciPy with PROPACK off
    assert gfcf._resolve_solver("auto", (2001, 50000)) == "chebyshev"


def test_propack_enabled_matches_what_svds_accepts():
    from minigraphrec.models.gfcf import _propack_enabled

    try:
        svds(sp.random(30, 20, density=0.3, random_state=0, format="csr"), k=2,
             solver="propack")
    except ValueError:
        assert not _propack_enabled()
    else:
        assert _propack_enabled()


def test_exact_solvers_agree_above_the_dense_limit():
    # 2,001 x 2,400 with 12,000 nonzeros: "auto" leaves LAPACK here; PROPACK, ARPACK and the
    # Chebyshev solver must give the same pairs (residual contract 1e-10, relative)
    R = sp.random(2001, 2400, density=0.0025, random_state=3, format="csr")
    R.data[:] = 1.0
    Rt, _, _ = normalized_interactions(R)
    # this uniform random matrix has its top singular values close together: PROPACK gives up
    # (LinAlgError) and "auto" falls back to the Chebyshev solver
    with pytest.raises(np.linalg.LinAlgError, match="did not converge"):
        top_right_singular_vectors(Rt, 8, "propack")
    s_auto, V_auto = top_right_singular_vectors(Rt, 8, "auto")
    for solver in ("arpack", "chebyshev"):
        s, V = top_right_singular_vectors(Rt, 8, solver)
        np.testing.assert_allclose(s, s_auto, rtol=1e-10)
        gap = s[-1] ** 2 - top_right_singular_vectors(Rt, 9, "arpack")[0][-1] ** 2
        # each side within 1e-10 * s_1^2 / gap of the exact projector (Davis-Kahan)
        np.testing.assert_allclose(V @ V.T, V_auto @ V_auto.T, atol=2e-10 * s[0] ** 2 / gap)


def test_exact_solvers_agree_on_a_skewed_catalogue():
    # popularity-skewed synthetic interactions, as in real catalogues: PROPACK converges and
    # is what "auto" runs above 2000 items
    from minigraphrec import datasets

    R = datasets.synthetic(2100, 2200, random_state=1).to_csr()
    R.data[:] = 1.0
    Rt, _, _ = normalized_interactions(R)
    s_auto, V_auto = top_right_singular_vectors(Rt, 16, "auto")
    s_pro, V_pro = top_right_singular_vectors(Rt, 16, "propack")
    np.testing.assert_array_equal(s_auto, s_pro)
    np.testing.assert_array_equal(V_auto, V_pro)
    s, V = top_right_singular_vectors(Rt, 16, "chebyshev")
    np.testing.assert_allclose(s, s_pro, rtol=1e-10)
    gap = s[-1] ** 2 - top_right_singular_vectors(Rt, 17, "propack")[0][-1] ** 2
    np.testing.assert_allclose(V @ V.T, V_pro @ V_pro.T, atol=2e-10 * s[0] ** 2 / gap)


def uniform_catalogue():
    """2,001 x 2,400, 12,000 uniformly random pairs: top singular values close together, so
    PROPACK stops at its limit of 10 k Lanczos steps (see the test above)."""
    R = sp.random(2001, 2400, density=0.0025, random_state=3, format="coo")
    return Interactions(R.row, R.col, n_users=2001, n_items=2400)


def test_estimator_auto_falls_back_when_propack_does_not_converge():
    # GFCF(svd_solver="auto") used to call PROPACK directly and die with its LinAlgError on
    # such a catalogue; it must take the function's fallback and say so in svd_solver_
    train = uniform_catalogue()
    model = GFCF(n_factors=8).fit(train)
    assert model.svd_solver_ == "chebyshev"
    Rt, _, _ = normalized_interactions(train.to_csr())
    s, V = top_right_singular_vectors(Rt, 8, "chebyshev")
    np.testing.assert_array_equal(model.singular_values_, s)
    np.testing.assert_array_equal(model.V_, V)


def skewed_train():
    from minigraphrec import datasets
    return datasets.synthetic(2100, 2200, random_state=1)


def test_auto_passes_over_propack_beyond_the_memory_budget():
    train = skewed_train()
    shape, k = (train.n_users, train.n_items), 16
    assert GFCF(n_factors=k).fit(train).svd_solver_ == "propack"        # the default budget
    # a budget between ARPACK's working arrays and PROPACK's: ARPACK, the same vectors as a
    # direct call
    between = (svd_working_memory("arpack", shape, k)
               + svd_working_memory("propack", shape, k)) / 2 / 2**20
    model = GFCF(n_factors=k, max_svd_memory_mb=between).fit(train)
    assert model.svd_solver_ == "arpack"
    Rt, _, _ = normalized_interactions(train.to_csr())
    s, V = top_right_singular_vectors(Rt, k, "arpack")
    np.testing.assert_array_equal(model.singular_values_, s)
    np.testing.assert_array_equal(model.V_, V)
    # an explicit solver is not swapped for another: above the budget it is refused up front
    with pytest.raises(DataError, match=r"svd_solver='propack' needs about [\d,]+ MiB .* "
                                        r"above max_svd_memory_mb="):
        GFCF(n_factors=k, svd_solver="propack", max_svd_memory_mb=between).fit(train)


def test_auto_fallback_respects_the_budget():
    # PROPACK does not converge; Chebyshev's block would exceed the budget: ARPACK
    train = uniform_catalogue()
    shape, k = (train.n_users, train.n_items), 8
    assert svd_working_memory("chebyshev", shape, k) > svd_working_memory("propack", shape, k)
    between = (svd_working_memory("propack", shape, k)
               + svd_working_memory("chebyshev", shape, k)) / 2 / 2**20
    assert GFCF(n_factors=k, max_svd_memory_mb=between).fit(train).svd_solver_ == "arpack"


def test_auto_refuses_up_front_when_no_solver_fits():
    from minigraphrec.models import gfcf
    train = skewed_train()
    model = GFCF(n_factors=16).fit(train)
    before = {name: getattr(model, name) for name in ("R_", "V_", "singular_values_")}
    tiny = svd_working_memory("arpack", (train.n_users, train.n_items), 16) / 2 / 2**20
    model.set_params(max_svd_memory_mb=tiny)
    with pytest.raises(MemoryError, match=r"2100 x 2200 .*ARPACK.*max_svd_memory_mb"):
        model.fit(train)
    for name, value in before.items():                  # nothing changed
        assert getattr(model, name) is value
    # the dense path is not taken when A.toarray() would exceed the budget either
    assert gfcf._resolve_solver("auto", (2000, 50000), 8, max_memory_mb=1024) == "propack"
    assert gfcf._resolve_solver("auto", (2000, 50000), 8) == "dense"


@pytest.mark.parametrize("solver", ["propack", "arpack", "chebyshev"])
def test_working_memory_estimate_bounds_the_measured_peak(solver):
    # the estimate against the solver's peak allocation: tracemalloc sees NumPy's arrays,
    # PROPACK's and ARPACK's work arrays among them (SciPy allocates them with NumPy), but
    # not numba's, so the Chebyshev solver runs on SciPy's products here; within a factor
    # of 2 either way (benchmarks/bench_svd_memory.py checks resident memory at scale)
    import tracemalloc
    train = skewed_train()
    Rt, _, _ = normalized_interactions(train.to_csr())
    tracemalloc.start()
    try:
        top_right_singular_vectors(Rt, 16, solver, backend="numpy")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = svd_working_memory(solver, Rt.shape, 16)
    assert estimate / 2 <= peak <= estimate * 2, (peak, estimate)


@pytest.mark.parametrize("solver", ["dense", "arpack", "propack", "randomized", "chebyshev"])
def test_vector_signs_are_canonical_and_do_not_follow_blas_threads(solver):
    """Chebyshev's V_ flipped 9 of 16 columns between 1 and 2 BLAS threads (scores agreed to
    2.6e-15): each column's largest entry is now positive, so V_ agrees to rounding."""
    from minigraphrec.datasets import synthetic
    from minigraphrec.threadpools import threads
    data = synthetic(random_state=0)
    fits = []
    for n in (1, 2):
        with threads(n):                                 # numba and every BLAS, restored after
            fits.append(GFCF(n_factors=16, svd_solver=solver, dtype="float64").fit(data))
    for model in fits:
        V = model.V_
        assert (V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])] > 0).all()
    np.testing.assert_allclose(fits[0].V_, fits[1].V_, rtol=0, atol=1e-10)


def test_too_many_factors_says_how_to_set_them():
    data = Interactions(np.arange(50), np.arange(50) % 7)
    with pytest.raises(DataError, match=r"n_factors=256 is too large for a 50 x 7 matrix: it "
                                        r"needs n_factors <= 7 \(GFCF\(n_factors=7\); on the "
                                        r"command line -p n_factors=7\)"):
        GFCF().fit(data)


def test_propack_triplets_that_are_wrong_are_refused_or_replaced(caplog):
    """SciPy's PROPACK returns singular values 1.18-1.40 for the identity's 1s, without an
    error (residuals 0.15). An explicit "propack" now says so; "auto" logs it and falls back,
    and gets the right values."""
    import logging
    from scipy.sparse.linalg import svds
    from minigraphrec.models.gfcf import top_right_singular_vectors
    if np.allclose(svds(sp.eye(50, format="csr"), k=5, solver="propack",
                        return_singular_vectors=False), 1.0, rtol=1e-10):
        pytest.skip("this SciPy's PROPACK gets the identity right (SciPy 1.10 does)")
    with pytest.raises(np.linalg.LinAlgError, match=r"relative residual of 0\.1\d .* as it can "
                                                    r"where singular values repeat"):
        top_right_singular_vectors(sp.eye(50, format="csr"), 5, "propack")
    with caplog.at_level(logging.WARNING, logger="minigraphrec"):
        s, V, used = top_right_singular_vectors(sp.eye(2100, format="csr"), 5, "auto",
                                                return_solver=True)
    assert used != "propack" and "PROPACK returned singular triplets" in caplog.text
    np.testing.assert_allclose(s, 1.0, rtol=1e-10)
    np.testing.assert_allclose(V.T @ V, np.eye(5), atol=1e-10)


def test_fit_logs_the_solver_that_ran_and_its_time(caplog):
    """Which solver ran (and whether "auto" chose it), at INFO: their speeds differ by data."""
    import logging
    import re
    train, _ = random_train(0, n_users=60, n_items=80)
    with caplog.at_level(logging.INFO, logger="minigraphrec"):
        auto = GFCF(n_factors=8).fit(train)
        GFCF(n_factors=8, svd_solver="arpack").fit(train)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("GFCF: top")]
    assert re.fullmatch(rf"GFCF: top 8 singular vectors of the 60 x 80 R~ by "
                        rf"svd_solver='{auto.svd_solver_}' \(the 'auto' choice\) in \d+\.\d s",
                        lines[0]), lines
    assert re.fullmatch(r"GFCF: top 8 singular vectors of the 60 x 80 R~ by "
                        r"svd_solver='arpack' in \d+\.\d s", lines[1]), lines
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="minigraphrec"):
        GFCF(alpha=0.0).fit(train)                          # no SVD, no line
    assert not [r for r in caplog.records if r.getMessage().startswith("GFCF: top")]


def test_auto_says_when_propack_fails_and_what_runs_instead(monkeypatch, caplog):
    """Whatever PROPACK's error ("did not converge within kmax", an invariant subspace),
    "auto" warns with it, the seconds lost and the solver it falls back to; and fit says
    before the SVD starts what it computes (an Amazon-Book-sized fit ran 8.7 minutes
    without a word, and fell back silently)."""
    from minigraphrec.models import gfcf

    real = gfcf.svds

    def failing(A, k, solver, **kw):
        if solver == "propack":
            raise np.linalg.LinAlgError("An invariant subspace of dimension 3 was found.")
        return real(A, k=k, solver=solver, **kw)
    monkeypatch.setattr(gfcf, "svds", failing)
    monkeypatch.setattr(gfcf, "_resolve_solver", lambda solver, *a, **kw:
                        "propack" if solver == "auto" else solver)
    R = sp.random(60, 40, density=0.2, random_state=0, format="csr")
    R.data[:] = 1.0
    train = Interactions(*R.nonzero(), n_users=60, n_items=40)
    with caplog.at_level("INFO", logger="minigraphrec"):
        model = GFCF(n_factors=5, svd_solver="auto").fit(train)
    assert model.svd_solver_ != "propack"
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("GFCF: computing the top 5 singular vectors of the 60 x 40 R~ "
                            "(svd_solver='auto')") for m in messages)
    warned = [m for m in messages if "chose PROPACK, which failed after" in m]
    assert len(warned) == 1 and "invariant subspace of dimension 3" in warned[0]
    assert f"using svd_solver={model.svd_solver_!r} instead" in warned[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_few_users_linear_term_gives_the_whole_product_bits(dtype, backend, monkeypatch):
    """A few users' linear term goes through the rows of R̃ they touch only
    (``_few_linear_T``); it gives the bits of the product over all of R̃ᵀ (the path of a
    larger block, forced here by a threshold of 0), signs of zero included, for scores,
    an ad-hoc history and the users of a batch."""
    import minigraphrec.models.gfcf as gfcf
    train, _ = random_train(4, n_users=90, n_items=70, density=0.08)
    model = GFCF(n_factors=6, dtype=dtype, backend=backend).fit(train)
    model._item_filter = None          # the linear term as on a large catalogue (Gowalla's)
    calls = []
    real = GFCF._few_linear_T
    monkeypatch.setattr(GFCF, "_few_linear_T", lambda self, X: calls.append(1) or real(self, X))
    blocks = [[3], [0, 89, 3], list(range(gfcf.FEW_ROWS))]
    few = [model.score(b) for b in blocks] + [model.score_history(np.array([1, 5, 9]))]
    assert len(calls) == len(blocks) + 1
    monkeypatch.setattr(gfcf, "FEW_ROWS", 0)
    whole = [model.score(b) for b in blocks] + [model.score_history(np.array([1, 5, 9]))]
    assert len(calls) == len(blocks) + 1
    for a, b in zip(few, whole):
        np.testing.assert_array_equal(a, b)
        assert np.array_equal(np.signbit(a), np.signbit(b))


# ------------------------------------------------- the public functions' input checks
A3 = sp.csr_matrix(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]]))   # rank 3


@pytest.mark.parametrize("args,kwargs,match", [
    ((A3, 2, "bogus"), {}, r"solver must be one of \('auto', 'dense'"),
    ((A3, 0, "dense"), {}, r"k must be an integer >= 1, got 0"),
    ((A3, "2", "dense"), {}, r"k must be an integer >= 1, got '2'"),
    ((A3, 2.0, "dense"), {}, r"k must be an integer >= 1, got 2.0"),
    ((A3, 2, "dense"), dict(n_oversamples=-1), "n_oversamples"),
    ((A3, 2, "randomized"), dict(n_power_iter=1.5), "n_power_iter"),
    ((A3, 2, "auto"), dict(max_memory_mb=0), r"max_memory_mb must be a finite number > 0"),
    ((A3, 2, "auto"), dict(max_memory_mb="big"), r"max_memory_mb must be a finite number"),
    ((A3, 2, "chebyshev"), dict(backend="torch"), "backend"),
    ((A3, 2, "dense"), dict(return_solver="yes"), "return_solver"),
    ((A3.astype(np.complex128), 2, "dense"), {}, "A must have a real .* imaginary part"),
    ((np.ones(3), 1, "dense"), {}, r"A must be 2-d, got shape \(3,\)"),
])
def test_top_right_singular_vectors_checks_its_arguments(args, kwargs, match):
    """An unknown solver ran PROPACK; k = 0 gave (3, 0) vectors or a bare NumPy error,
    k = '2' a TypeError from a slice."""
    with pytest.raises(DataError, match=match):
        top_right_singular_vectors(*args, **kwargs)


@pytest.mark.parametrize("solver", ["dense", "randomized", "chebyshev", "arpack", "propack"])
def test_k_above_what_the_solver_computes_is_refused(solver):
    """k = 5 on a 3 x 3 matrix gave 3 vectors with "dense", "randomized" and "chebyshev"
    (the docstring promises V (n, k)); k = min(shape) is ARPACK's error only."""
    with pytest.raises(DataError, match=r"k=4 is too large for a 3 x 3 matrix: it needs "
                                        r"k <= 3"):
        top_right_singular_vectors(A3, 4, solver, n_oversamples=1)
    if solver == "arpack":
        with pytest.raises(DataError, match=r"the 'arpack' solver needs k < 3"):
            top_right_singular_vectors(A3, 3, solver)
    else:
        s, V = top_right_singular_vectors(A3, 3, solver, n_oversamples=1)
        assert s.shape == (3,) and V.shape == (3, 3)
        np.testing.assert_allclose(s, [2.0, 1.0, 1.0], rtol=1e-8)
    with pytest.raises(DataError, match=r"k=1 is too large for a 0 x 3 matrix"):
        top_right_singular_vectors(sp.csr_matrix((0, 3)), 1, solver)


@pytest.mark.parametrize("solver", ["dense", "randomized", "chebyshev", "arpack"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_entries_are_named(solver, value):
    """NaN made LAPACK say "SVD did not converge" and Chebyshev "array must not contain
    infs or NaNs", without saying where."""
    A = A3.tolil()
    A[2, 1] = value
    A[1, 2] = value
    for given in (A, A.tocsr(), A.tocoo(), A.tocsc()):
        with pytest.raises(DataError, match=rf"A\[1, 2\] = {value} is not finite"):
            top_right_singular_vectors(given, 1, solver, n_oversamples=1)


@pytest.mark.parametrize("solver", ["dense", "randomized", "chebyshev", "arpack", "propack"])
def test_dense_and_integer_input_give_the_sparse_float_results(solver):
    """A dense array raised AttributeError (.tocsr, .toarray) with three of the solvers."""
    train, _ = random_train(3)
    A = train.to_csr()
    s, V = top_right_singular_vectors(A, 4, solver)
    for other in (A.toarray(), A.astype(np.int64), A.astype(bool).tolil()):
        s2, V2 = top_right_singular_vectors(other, 4, solver)
        np.testing.assert_array_equal(s2, s)
        np.testing.assert_array_equal(V2, V)


@pytest.mark.parametrize("R,match", [
    (np.array([[1.0, -1.0], [0.0, 1.0]]), r"R\[0, 1\] = -1.0 is negative"),
    (np.array([[1.0, 0.0], [np.nan, 1.0]]), r"R\[1, 0\] = nan is not finite"),
    (np.array([[1.0, 0.0], [1.0, np.inf]]), r"R\[1, 1\] = inf is not finite"),
    (np.array([[1.0, 1j]]), "R must have a real .* imaginary part"),
])
def test_normalized_interactions_refuses_what_is_no_interaction_matrix(R, match):
    """A negative entry gave an all-zero R̃ without a word."""
    for given in (R, sp.csr_matrix(R), sp.coo_matrix(R)):
        with pytest.raises(DataError, match=match):
            normalized_interactions(given)


def test_normalized_interactions_takes_dense_and_integer_input():
    R = np.array([[1, 2, 0], [1, 0, 0]])
    Rt, du, di = normalized_interactions(sp.csr_matrix(R, dtype=np.float64))
    for given in (R, sp.csr_matrix(R), sp.coo_matrix(R.astype(np.int8))):
        Rt2, du2, di2 = normalized_interactions(given)
        np.testing.assert_array_equal(Rt2.toarray(), Rt.toarray())
        np.testing.assert_array_equal(du2, du)
        np.testing.assert_array_equal(di2, di)


# ------------------------------------------ the memory budget holds for every solver
@pytest.mark.parametrize("solver", ["dense", "arpack", "propack", "randomized", "chebyshev"])
def test_an_explicit_solver_above_the_budget_is_refused_up_front(solver):
    """The budget applied to "auto" only: an explicit "dense" on Gowalla (29,858 x 40,981,
    k = 256) would have taken 28,000 MiB (svd_working_memory) without a word."""
    train, _ = random_train(1)
    shape, k = (train.n_users, train.n_items), 4
    need = svd_working_memory(solver, shape, k, 128)
    model = GFCF(n_factors=k, svd_solver=solver).fit(train)
    before = {name: getattr(model, name) for name in ("R_", "V_", "singular_values_")}
    model.set_params(max_svd_memory_mb=need / 2**20 * 0.99)
    enough = int(np.ceil(need / 2**20))
    with pytest.raises(DataError, match=(
            rf"svd_solver='{solver}' needs about [\d,]+ MiB of working arrays for the top 4 "
            rf"singular vectors of the 30 x 40 R̃ \(svd_working_memory\), above "
            rf"max_svd_memory_mb=[\d.e-]+: raise it \(GFCF\(max_svd_memory_mb={enough}\); on "
            rf"the command line -p max_svd_memory_mb={enough}\) or use another svd_solver")):
        model.fit(train)
    for name, value in before.items():                  # nothing changed
        assert getattr(model, name) is value
    model.set_params(max_svd_memory_mb=need / 2**20)    # exactly the estimate: runs
    assert model.fit(train).svd_solver_ == solver


def test_the_budget_message_for_dense_on_gowalla():
    model = GFCF(svd_solver="dense")                     # default budget, 8192 MiB
    with pytest.raises(DataError, match=r"svd_solver='dense' needs about 28,006 MiB .* "
                                        r"above max_svd_memory_mb=8192"):
        model._check_svd((29858, 40981), 256)
    model.set_params(svd_solver="propack")               # 2,061 MiB: within the budget
    model._check_svd((29858, 40981), 256)


# ------------------------------------------------------ explain's cached CSC of R̃
def test_explain_reuses_its_csc_of_r_tilde_and_follows_the_updates(tmp_path):
    """explain built csc_matrix(R_tilde_) at every call; now once, kept until R̃ changes, and
    never saved. Its contributions are those of a fresh model, bit for bit."""
    from minigraphrec import io
    train, _ = random_train(4)
    model = GFCF(n_factors=4, svd_solver="dense", dtype="float64").fit(train)
    user = int(np.flatnonzero(np.diff(model.R_.indptr) > 1)[0])
    first = model.explain(user, 5, k=None)
    cached = model._explain_csc.value
    again = model.explain(user, 5, k=None)
    assert model._explain_csc.value is cached                         # not built again
    np.testing.assert_array_equal(again.contributions, first.contributions)
    expected = sp.csc_matrix(model.R_tilde_, dtype=np.float64)
    assert (cached != expected).nnz == 0 and cached.dtype == np.float64
    # partial_fit: R̃ changes, the cache follows (a fresh fit on the union gives the same)
    model.partial_fit(Interactions([0, 1], [0, 1], user_ids=model.user_ids_[[user, 0]],
                                   item_ids=model.item_ids_[[5, 6]]))
    assert "_explain_csc" not in model.__dict__
    fresh = GFCF(**model.get_params()).fit(model._training_interactions(
        model.R_, model.user_ids_, model.item_ids_))
    for m in (model, fresh):
        m.explain(user, 5, k=None)
    np.testing.assert_array_equal(model.explain(user, 5, k=None).contributions,
                                  fresh.explain(user, 5, k=None).contributions)
    # R_tilde_ replaced behind its back: built again
    model.R_tilde_ = model.R_tilde_.copy()
    model.explain(user, 5, k=None)
    assert model._explain_csc.source is model.R_tilde_
    # not saved, and a loaded model builds its own
    path = tmp_path / "gfcf.npz"
    model.save(path)
    assert not any("csc" in name for name in np.load(path).files)
    loaded = io.load(path)
    np.testing.assert_array_equal(loaded.explain(user, 5, k=None).contributions,
                                  model.explain(user, 5, k=None).contributions)
