"""The trainable models: MF, LightGCN, GCN, NGCF.

Gradients are checked in tests/test_gradients.py (MODEL_CASES); here: the
forward values against references written out in dense NumPy, the row
kernels of the batch-restricted propagation against the SciPy reference
(the ops that use them: tests/test_lightgcn_rows.py), and the estimator
contract.
"""
import re

import numba
import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec.batch import PairBatch, PointBatch
from minigraphrec.data import Interactions
from minigraphrec.errors import DataError
from minigraphrec.kernels import propagate_rows as kernels
from minigraphrec.models import GAT, GCN, MF, NGCF, LightGCN
from minigraphrec.ops.propagate import lightgcn_forward


# ===================================================================== data
def _interactions(n_users=9, n_items=11, density=0.3, seed=0, features=False):
    """A random bipartite graph; user 0 has no interaction (an isolated node) and item 0 neither."""
    rng = np.random.default_rng(seed)
    R = rng.random((n_users, n_items)) < density
    R[0, :] = False
    R[:, 0] = False
    R[1, 1] = True                                     # no empty graph
    u, i = np.nonzero(R)
    kw = {}
    if features:
        kw = dict(user_features=rng.random((n_users, 3)),
                  item_features=sp.random(n_items, 4, density=0.5, random_state=seed,
                                          format="csr"))
    return Interactions(u, i, n_users=n_users, n_items=n_items, **kw)


def _dense_a_hat(train):
    """D^{-1/2} A D^{-1/2} of the bipartite graph, dense, isolated rows zero."""
    R = train.to_csr().toarray()
    n_u, n_i = R.shape
    A = np.zeros((n_u + n_i, n_u + n_i))
    A[:n_u, n_u:] = R
    A[n_u:, :n_u] = R.T
    deg = A.sum(1)
    inv = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1)), 0)
    return inv[:, None] * A * inv[None, :]


def _bpr_batch():
    return PairBatch.make([1, 2, 3, 2, 8], [1, 2, 5, 2, 10], [3, 0, 4, 7, 9])


def _bce_batch():
    return PointBatch.make([1, 2, 3, 2, 8], [1, 2, 5, 0, 10], [1, 0, 1, 0, 1])


# ======================================================== reference losses
def _expected_loss(E, E0, batch, n_users, reg):
    """The models' loss (minigraphrec.losses), written out: E final and E0 layer-0 tables (users first)."""
    u = batch.users
    if isinstance(batch, PairBatch):
        i, j = n_users + batch.pos, n_users + batch.neg
        s_pos = np.sum(E[u] * E[i], axis=1)
        s_neg = np.sum(E[u] * E[j], axis=1)
        main = np.mean(np.log1p(np.exp(s_neg - s_pos)))
        l2 = sum(np.sum(E0[idx] ** 2) for idx in (u, i, j))
    else:
        i = n_users + batch.items
        x = np.sum(E[u] * E[i], axis=1)
        y = batch.labels
        main = np.mean(-y * np.log(1 / (1 + np.exp(-x))) - (1 - y) * np.log(1 / (1 + np.exp(x))))
        l2 = sum(np.sum(E0[idx] ** 2) for idx in (u, i))
    return main + reg * 0.5 * l2 / u.shape[0]


@pytest.mark.parametrize("batch", [_bpr_batch(), _bce_batch()], ids=["bpr", "bce"])
@pytest.mark.parametrize("K", [0, 1, 3])
def test_lightgcn_loss_matches_dense_formula(batch, K):
    train = _interactions()
    model = LightGCN(dim=4, n_layers=K, reg=0.3, dtype="float64", random_state=0)
    model.fit(train, epochs=0)
    E0 = model.params["E0"]
    A = _dense_a_hat(train)
    E = sum(np.linalg.matrix_power(A, k) @ E0 for k in range(K + 1)) / (K + 1)
    loss, grads = model.loss_and_grad(batch)
    assert loss == pytest.approx(_expected_loss(E, E0, batch, 9, 0.3), rel=1e-12)
    assert set(grads) == {"E0"} and grads["E0"].shape == E0.shape
    assert grads["E0"].dtype == np.float64


@pytest.mark.parametrize("batch", [_bpr_batch(), _bce_batch()], ids=["bpr", "bce"])
def test_mf_loss_matches_formula_and_lightgcn_with_zero_layers(batch):
    train = _interactions()
    mf = MF(dim=4, reg=0.3, dtype="float64", random_state=0).fit(train, epochs=0)
    E0 = mf.params["E0"]
    loss, grads = mf.loss_and_grad(batch)
    assert loss == pytest.approx(_expected_loss(E0, E0, batch, 9, 0.3), rel=1e-12)
    light = LightGCN(dim=4, n_layers=0, reg=0.3, dtype="float64", random_state=0)
    light.fit(train, epochs=0)
    np.testing.assert_array_equal(light.params["E0"], E0)         # same initialisation
    loss0, grads0 = light.loss_and_grad(batch)
    assert loss0 == pytest.approx(loss, rel=1e-15)
    np.testing.assert_allclose(grads0["E0"], grads["E0"], rtol=1e-14, atol=1e-17)


def test_bpr_loss_hand_computed():
    """One user, one positive, one negative, 1-d embeddings: numbers by hand."""
    train = Interactions([0], [0], n_users=1, n_items=2)
    model = MF(dim=1, reg=0.5, dtype="float64").fit(train, epochs=0)
    model.params["E0"][:] = [[2.0], [1.0], [-1.0]]                 # e_u, e_i, e_j
    loss, grads = model.loss_and_grad(PairBatch.make([0], [0], [1]))
    # s_pos = 2, s_neg = -2: softplus(-4) + 0.5 * 0.5 * (4 + 1 + 1)
    assert loss == pytest.approx(np.log1p(np.exp(-4.0)) + 1.5, rel=1e-15)
    sig = 1 / (1 + np.exp(4.0))                                    # σ(s_neg - s_pos)
    # dL/de_u = σ·(e_j - e_i) + reg e_u; dL/de_i = -σ e_u + reg e_i; dL/de_j = σ e_u + reg e_j
    np.testing.assert_allclose(grads["E0"][:, 0],
                               [sig * (-2.0) + 1.0, -sig * 2 + 0.5, sig * 2 - 0.5], rtol=1e-14)


# ============================================== row kernels of the propagation
def _random_graph(seed, n_users=40, n_items=50, density=0.08):
    """Â of a random bipartite graph with isolated nodes, and a float64 E0."""
    train = _interactions(n_users, n_items, density, seed)
    model = LightGCN(dim=6, n_layers=3, dtype="float64", random_state=seed).fit(train, epochs=0)
    return model.A_hat_, model.params["E0"]


def _kernel_graph(dtype):
    """Â of a random graph in ``dtype``, its size, and the tolerance of a kernel against SciPy."""
    A = _random_graph(7, density=0.2)[0].astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    return A, A.shape[0], tol


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pull_kernels_equal_scipy_reference(dtype):
    A, n, tol = _kernel_graph(dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 5)).astype(dtype)
    base = rng.standard_normal((n, 5)).astype(dtype)
    rows = np.sort(rng.choice(n, 30, replace=False))
    level = rng.integers(0, 3, n).astype(np.int32)
    bounds = kernels.row_blocks_of(A.indptr, rows, 7)
    for has_base in (True, False):
        expected = (base[rows] if has_base else 0) + A[rows] @ X
        for serial in (True, False):
            out = np.full((n, 5), np.nan, dtype=dtype)
            if serial:
                kernels.pull_block(A.indptr, A.indices, A.data, X, base, has_base, rows, 0, 30, out)
            else:
                kernels.pull_rows(A.indptr, A.indices, A.data, X, base, has_base, rows, bounds, out)
            np.testing.assert_allclose(out[rows], expected, **tol)
            assert np.isnan(np.delete(out, rows, axis=0)).all()     # other rows untouched
    X_far = np.where((level <= 1)[:, None], X, np.nan).astype(dtype)   # farther rows never read
    expected = A[rows] @ np.where((level <= 1)[:, None], X, 0)
    out_serial = np.empty((n, 5), dtype=dtype)
    kernels.pull_block_masked(A.indptr, A.indices, A.data, X_far, level, 1, rows, 0, 30, out_serial)
    out_par = np.empty((n, 5), dtype=dtype)
    kernels.pull_rows_masked(A.indptr, A.indices, A.data, X_far, level, 1, rows, bounds, out_par)
    np.testing.assert_allclose(out_serial[rows], expected, **tol)
    np.testing.assert_array_equal(out_par[rows], out_serial[rows])  # same bits, any split


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_push_rows_equals_scipy_reference(dtype):
    A, n, tol = _kernel_graph(dtype)
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(n, 12, replace=False))
    values = rng.standard_normal((12, 5)).astype(dtype)
    V = np.zeros((n, 5), dtype=dtype)                     # V[rows] = values, zero elsewhere
    V[rows] = values
    out = rng.standard_normal((n, 5)).astype(dtype)
    expected = out + A.T @ V                               # the scatter is Âᵀ V
    start = out.copy()
    whole = np.array([0, n])
    kernels.push_rows(A.indptr, A.indices, A.data, values, rows, whole, out)
    np.testing.assert_allclose(out, expected, **tol)
    for bounds in ([0, 1, 40, 41, n], [0, 0, n, n]):      # destination ranges: same bits
        split = start.copy()
        kernels.push_rows(A.indptr, A.indices, A.data, values, rows, np.array(bounds), split)
        np.testing.assert_array_equal(split, out)
    B = sp.random(n, n, density=0.2, random_state=3, format="csr", dtype=dtype)  # not symmetric
    out = np.zeros((n, 5), dtype=dtype)
    kernels.push_rows(B.indptr, B.indices, B.data, values, rows, whole, out)
    np.testing.assert_allclose(out, B.T @ V, **tol)


def test_add_rows_equals_numpy():
    rng = np.random.default_rng(0)
    out = rng.standard_normal((9, 3))
    rows = np.array([0, 4, 8])
    values = rng.standard_normal((3, 3))
    expected = out.copy()
    expected[rows] += values
    kernels.add_rows(out, rows, values)
    np.testing.assert_array_equal(out, expected)


def test_row_blocks_of_balances_work():
    indptr = np.array([0, 10, 10, 11, 12, 30, 31])
    rows = np.array([0, 1, 2, 3, 4, 5])
    bounds = kernels.row_blocks_of(indptr, rows, 3)
    assert bounds[0] == 0 and bounds[-1] == 6 and np.all(np.diff(bounds) >= 0)
    np.testing.assert_array_equal(kernels.row_blocks_of(indptr, rows[:0], 2), [0, 0, 0])


def test_restricted_training_gives_same_bits_for_any_thread_count():
    train = _interactions(60, 80, 0.2, seed=1)
    runs = []
    old = numba.get_num_threads()
    try:
        for threads in sorted({1, old}):
            numba.set_num_threads(threads)
            model = LightGCN(dim=8, epochs=2, batch_size=64, random_state=3).fit(train)
            runs.append(model.params["E0"])
    finally:
        numba.set_num_threads(old)
    for E0 in runs[1:]:
        np.testing.assert_array_equal(E0, runs[0])


# ======================================================= estimator contract
@pytest.mark.parametrize("cls, kw", [(MF, {}), (LightGCN, {}), (GCN, {}), (NGCF, {}),
                                     (GCN, {"input": "features"}), (GAT, {}),
                                     (GAT, {"input": "features", "n_heads": 2}),
                                     (LightGCN, {"edge_weights": "log1p"}),
                                     (GCN, {"edge_weights": "count", "input": "both"})])
def test_fit_epochs_zero_initialises_only(cls, kw):
    train = _interactions(features=True)
    model = cls(dim=4, random_state=0, **kw)
    assert model.fit(train, epochs=0) is model
    assert model.history_ == [] and model.step_ == 0
    again = cls(dim=4, random_state=0, **kw).fit(train, epochs=0)
    for k, v in model.params.items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, again.params[k])            # seeded initialisation
    width = model.user_embeddings_.shape[1]
    assert model.user_embeddings_.shape == (9, width)
    assert model.item_embeddings_.shape == (11, width)
    assert model.score([1, 2]).shape == (2, 11)
    one = cls(dim=4, random_state=0, epochs=3, **kw).fit(train, epochs=1)
    assert len(one.history_) == 1                                  # epochs=N overrides


def test_params_layout():
    train = _interactions(features=True)
    light = LightGCN(dim=5, random_state=0).fit(train, epochs=0)
    assert list(light.params) == ["E0"] and light.params["E0"].shape == (20, 5)
    gcn = GCN(dim=5, n_layers=2, input="both", random_state=0).fit(train, epochs=0)
    assert {k: v.shape for k, v in gcn.params.items()} == {
        "E0": (20, 5), "W_user_in": (3, 5), "W_item_in": (4, 5),
        "W0": (5, 5), "b0": (5,), "W1": (5, 5), "b1": (5,)}
    ngcf = NGCF(dim=5, n_layers=2, random_state=0).fit(train, epochs=0)
    assert sorted(ngcf.params) == sorted(["E0"] + [f"{w}_{l}" for l in range(2)
                                                  for w in ("W1", "b1", "W2", "b2")])
    assert ngcf.user_embeddings_.shape == (9, 15)                  # dim · (L + 1)


@pytest.mark.parametrize("cls", [MF, LightGCN, GCN, NGCF, GAT])
def test_id_embedding_init(cls):
    """Default: one Glorot-uniform table per side (the LightGCN paper); "normal": N(0, 0.1²)."""
    n_users, n_items, d = 300, 500, 64
    train = Interactions([0, n_users - 1], [0, n_items - 1], n_users=n_users, n_items=n_items)
    E0 = cls(dim=d, random_state=0).fit(train, epochs=0).params["E0"].astype(np.float64)
    for rows, fan in [(E0[:n_users], n_users + d), (E0[n_users:], n_items + d)]:
        bound = np.sqrt(6 / fan)
        assert np.abs(rows).max() <= bound                     # U(-a, a), a = sqrt(6 / fan)
        assert np.abs(rows).max() > 0.99 * bound               # and fills it
        assert rows.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
        assert abs(rows.mean()) < 0.01 * bound
    E0 = cls(dim=d, init="normal", random_state=0).fit(train, epochs=0).params["E0"]
    assert E0.astype(np.float64).std() == pytest.approx(0.1, rel=0.02)
    with pytest.raises(ValueError, match="init must be one of"):
        cls(init="kaiming").fit(train, epochs=0)


def test_dtype_float64_and_bad_hyperparameters():
    train = _interactions()
    model = LightGCN(dim=3, dtype=np.float64).fit(train, epochs=0)
    assert model.params["E0"].dtype == np.float64 and model.A_hat_.dtype == np.float64
    for kw, msg in [({"loss": "mse"}, "loss must be one of"), ({"dtype": "int8"}, "dtype"),
                    ({"lr": 0}, "lr must be"), ({"batch_size": 0}, "batch_size"),
                    ({"metric": "recall"}, "metric must look like"),
                    ({"scoring": "jaccard"}, "scoring"), ({"patience": 0}, "patience"),
                    ({"dim": 0}, "dim"), ({"backend": "gpu"}, "backend")]:
        with pytest.raises(ValueError, match=msg):
            LightGCN(**kw).fit(train, epochs=0)
    with pytest.raises(ValueError, match="epochs"):
        LightGCN().fit(train, epochs=-1)
    with pytest.raises(ValueError, match="normalization"):
        GCN(normalization="row").fit(train, epochs=0)
    with pytest.raises(ValueError, match="message_dropout"):
        NGCF(message_dropout=1.0).fit(train, epochs=0)


def test_loss_and_grad_rejects_bad_batches():
    train = _interactions()
    model = MF(dim=3).fit(train, epochs=0)
    with pytest.raises(ValueError, match=r"batch.pos holds id 11, out of range 0..10"):
        model.loss_and_grad(PairBatch.make([1], [11], [2]))
    with pytest.raises(ValueError, match=r"batch.users holds id -1"):         # unvalidated
        model.loss_and_grad(PointBatch(np.array([-1]), np.array([1]), np.array([1.0])))
    with pytest.raises(DataError, match=r"users\[0\] = -1 is negative"):   # validated
        PointBatch.make([-1], [1], [1])
    with pytest.raises(TypeError, match="PairBatch"):
        model.loss_and_grad((np.array([1]), np.array([1]), np.array([2])))
    with pytest.raises(ValueError, match="empty"):
        model.loss_and_grad(PairBatch.make([], [], []))
    with pytest.raises(RuntimeError, match="fit"):
        MF().loss_and_grad(PairBatch.make([1], [1], [2]))
    # plain lists (an AttributeError before), a 2-d array, a length mismatch, floats
    assert model.loss_and_grad(PairBatch([1], [1], [2]))[0] == \
        model.loss_and_grad(PairBatch.make([1], [1], [2]))[0]
    for batch, where in [(PairBatch(np.ones((1, 1), int), [1], [2]), "users"),
                         (PairBatch([1, 2], [1], [2]), "pos"),
                         (PointBatch([1], [1.0], [1.0]), "items")]:
        with pytest.raises(DataError, match=rf"batch.{where} must be a 1-d integer array"):
            model.loss_and_grad(batch)


def test_gcn_input_features_needs_features(caplog):
    with pytest.raises(DataError, match="needs both user and item features"):
        GCN(input="features").fit(_interactions(features=False), epochs=0)
    # input="both" without features: id embeddings only, and a warning says so
    with caplog.at_level("WARNING", logger="minigraphrec.models.embedding_base"):
        model = GCN(input="both", dim=3).fit(_interactions(features=False), epochs=0)
    assert "W_user_in" not in model.params and "E0" in model.params
    assert "GCN(input='both'): the training Interactions has neither" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="minigraphrec.models.embedding_base"):
        model._restore()                                   # as load does: said once, at fit
        model.forget(users=[0], method="fine_tune")     # a retrain is a new fit
    assert caplog.text == ""
    with caplog.at_level("WARNING", logger="minigraphrec.models.embedding_base"):
        GCN(input="both", dim=3).fit(_interactions(features=True), epochs=0)
    assert caplog.text == ""


@pytest.mark.parametrize("normalization, self_loops", [("sum", False), ("sum", True),
                                                       ("symmetric", True), ("mean", False)])
def test_gcn_forward_matches_dense_formula(normalization, self_loops):
    """H^{l+1} = σ(Â H^l W^l + b^l), σ on hidden layers only, Â as documented."""
    train = _interactions(features=True)
    model = GCN(dim=4, n_layers=2, normalization=normalization, self_loops=self_loops,
                input="both", dtype="float64", random_state=0).fit(train, epochs=0)
    p = model.params
    R = train.to_csr().toarray()
    A = np.zeros((20, 20))
    A[:9, 9:], A[9:, :9] = R, R.T
    if self_loops:
        A += np.eye(20)
    deg = A.sum(1)
    with np.errstate(divide="ignore"):
        if normalization == "symmetric":
            inv = np.where(deg > 0, deg ** -0.5, 0)
            A = inv[:, None] * A * inv[None, :]
        elif normalization == "mean":
            A = np.where(deg[:, None] > 0, A / np.maximum(deg, 1)[:, None], 0)
    X_u, X_i = train.user_features, train.item_features.toarray()
    H = p["E0"] + np.vstack([X_u @ p["W_user_in"], X_i @ p["W_item_in"]])
    H = np.maximum(A @ H @ p["W0"] + p["b0"], 0)
    H = A @ H @ p["W1"] + p["b1"]                                  # last layer: no σ
    np.testing.assert_allclose(np.vstack([model.user_embeddings_, model.item_embeddings_]), H,
                               rtol=1e-12, atol=1e-14)


def test_gcn_final_activation_applies_sigma_on_the_last_layer():
    train = _interactions()
    model = GCN(dim=4, final_activation=True, random_state=0).fit(train, epochs=0)
    assert model.user_embeddings_.min() >= 0 and model.item_embeddings_.max() > 0


def test_ngcf_forward_matches_dense_formula():
    train = _interactions()
    model = NGCF(dim=3, n_layers=2, message_dropout=0.0, dtype="float64",
                 random_state=0).fit(train, epochs=0)
    p, L = model.params, _dense_a_hat(train)
    E, parts = p["E0"], [p["E0"]]
    for l in range(2):
        Z = (L @ E + E) @ p[f"W1_{l}"] + p[f"b1_{l}"] + ((L @ E) * E) @ p[f"W2_{l}"] + p[f"b2_{l}"]
        E = np.where(Z > 0, Z, 0.2 * Z)
        parts.append(E / np.linalg.norm(E, axis=1, keepdims=True))
    expected = np.hstack(parts)
    got = np.vstack([model.user_embeddings_, model.item_embeddings_])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    # the training loss uses the same embeddings when dropout is off
    batch = _bpr_batch()
    assert model.loss_and_grad(batch)[0] == pytest.approx(
        _expected_loss(expected, p["E0"], batch, 9, model.reg), rel=1e-12)


def test_ngcf_dropout_is_fixed_within_a_step_and_changes_across_steps():
    train = _interactions()
    model = NGCF(dim=3, message_dropout=0.5, node_dropout=0.3, dtype="float64",
                 random_state=0).fit(train, epochs=0)
    batch = _bpr_batch()
    first = model.loss_and_grad(batch)[0]
    assert model.loss_and_grad(batch)[0] == first
    model.step_ += 1
    assert model.loss_and_grad(batch)[0] != first
    no_drop = NGCF(dim=3, message_dropout=0.0, dtype="float64", random_state=0).fit(train, epochs=0)
    # scoring embeddings use no dropout
    np.testing.assert_array_equal(model.user_embeddings_, no_drop.user_embeddings_)


@pytest.mark.parametrize("scoring", ["dot", "cosine", "euclidean"])
def test_scores_from_cached_embeddings(scoring):
    train = _interactions()
    model = LightGCN(dim=4, scoring=scoring, random_state=0).fit(train, epochs=0)
    U = model.user_embeddings_.astype(np.float64)
    V = model.item_embeddings_.astype(np.float64)
    S = model.score([1, 4])
    if scoring == "dot":
        expected = U[[1, 4]] @ V.T
    elif scoring == "cosine":
        expected = (U[[1, 4]] / np.linalg.norm(U[[1, 4]], axis=1, keepdims=True)) @ \
            (V / np.linalg.norm(V, axis=1, keepdims=True)).T
    else:
        expected = -np.linalg.norm(U[[1, 4]][:, None, :] - V[None, :, :], axis=2)
    np.testing.assert_allclose(S, expected, rtol=1e-6, atol=1e-6)
    items, _ = model.recommend([1, 4], k=3)
    seen = train.to_csr()
    for row, u in zip(items, [1, 4]):
        assert not set(row) & set(seen[u].indices)                 # seen items excluded
    E, _ = lightgcn_forward(model.A_hat_, model.params["E0"], 3, A_hat_T=model.A_hat_)
    np.testing.assert_allclose(model.user_embeddings_, E[:9], rtol=1e-6)


def test_top_level_exports():
    assert mgr.MF is MF and mgr.LightGCN is LightGCN and mgr.GCN is GCN and mgr.NGCF is NGCF
    assert mgr.GAT is GAT
    assert LightGCN().get_params()["n_layers"] == 3


# ============================================ GCN and NGCF: batch-local = full graph
# The references: the full-graph passes the models had before they went batch-local,
# written out here as they were (every layer on every node, then the rows of the batch).
class _FullGCN(GCN):
    def _forward_rows(self, nodes):
        H0, c_in = self._input_layer()
        H, caches = self._propagate(H0)
        return H[nodes], H0[nodes], (nodes, H.shape, c_in, caches)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        from minigraphrec.ops.dense import ACTIVATIONS, linear_backward
        from minigraphrec.ops.propagate import propagate_backward
        nodes, shape, c_in, caches = cache
        grads, dH = {}, np.zeros(shape)
        dH[nodes] = dZ
        for layer in reversed(range(self.n_layers)):
            c_prop, c_lin, c_act = caches[layer]
            dZl = dH if c_act is None else ACTIVATIONS[self.activation][1](c_act, dH)
            dM, grads[f"W{layer}"], grads[f"b{layer}"] = linear_backward(c_lin, dZl)
            dH = propagate_backward(c_prop, dM)
        dH[nodes] += dH0
        self._input_layer_backward(c_in, dH, grads)
        return grads


class _FullNGCF(NGCF):
    def _forward_rows(self, nodes):
        from minigraphrec.ops.scoring import normalize_forward
        layers, caches = self._propagate(training=True)
        parts, c_norms = [layers[0][nodes]], []
        for E in layers[1:]:
            rows, c = normalize_forward(E[nodes], eps=1e-12) if self.normalize_layers \
                else (E[nodes], None)
            parts.append(rows)
            c_norms.append(c)
        return np.concatenate(parts, axis=1), layers[0][nodes], (nodes, caches, c_norms)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        from minigraphrec.ops.dense import dropout_backward, leaky_relu_backward, linear_backward
        from minigraphrec.ops.propagate import propagate_backward
        from minigraphrec.ops.scoring import normalize_backward
        nodes, caches, c_norms = cache
        d, grads = self.dim, {}
        dE = np.zeros(self.params["E0"].shape)
        for layer in reversed(range(self.n_layers)):
            drows = dZ[:, (layer + 1) * d:(layer + 2) * d]
            if c_norms[layer] is not None:
                drows = normalize_backward(c_norms[layer], drows)
            dE[nodes] += drows
            S, E, c_prop, c_1, c_2, c_act, c_drop = caches[layer]
            dZ12 = leaky_relu_backward(c_act, dropout_backward(c_drop, dE))
            dsum, grads[f"W1_{layer}"], grads[f"b1_{layer}"] = linear_backward(c_1, dZ12)
            dbi, grads[f"W2_{layer}"], grads[f"b2_{layer}"] = linear_backward(c_2, dZ12)
            dE = dsum + dbi * S + propagate_backward(c_prop, dsum + dbi * E)
        dE[nodes] += dZ[:, :d] + dH0
        grads["E0"] = dE
        return grads


def _weighted_interactions(n_users, n_items, density, seed):
    """Random log with repeated events, ratings, timestamps and features (every option varies)."""
    rng = np.random.default_rng(seed)
    base = _interactions(n_users, n_items, density, seed=seed, features=True)
    repeats = rng.integers(1, 4, base.users.size)
    return Interactions(np.repeat(base.users, repeats), np.repeat(base.items, repeats),
                        n_users=n_users, n_items=n_items,
                        weights=rng.integers(1, 6, repeats.sum()).astype(np.float64),
                        timestamps=rng.uniform(0, 100.0, repeats.sum()),
                        user_features=base.user_features, item_features=base.item_features)


LOCAL_CASES = [
    (GCN, _FullGCN, {}),
    (GCN, _FullGCN, dict(normalization="mean", n_layers=3, activation="sigmoid",
                         edge_weights="log1p", input="both")),
    (GCN, _FullGCN, dict(normalization="sum", self_loops=False, final_activation=True,
                         activation="leaky_relu", input="features")),
    (GCN, _FullGCN, dict(n_layers=1, edge_weights="time_decay", half_life=40.0)),
    (NGCF, _FullNGCF, {}),
    (NGCF, _FullNGCF, dict(message_dropout=0.3, node_dropout=0.3, n_layers=2)),
    (NGCF, _FullNGCF, dict(n_layers=4, message_dropout=0.0, normalize_layers=False)),
]


@pytest.mark.parametrize("size", ["small", "mid"])
@pytest.mark.parametrize("cls, full_cls, kw", LOCAL_CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(LOCAL_CASES)])
def test_batch_local_loss_and_grads_equal_the_full_graph(cls, full_cls, kw, size):
    """GCN and NGCF propagate only the batch's ball: same loss and gradients, float64, 1e-12."""
    n_users, n_items, density, B = (9, 11, 0.3, 7) if size == "small" else (150, 220, 0.04, 300)
    train = _weighted_interactions(n_users, n_items, density, seed=4)
    rng = np.random.default_rng(5)
    models = [c(dim=5, reg=0.2, dtype="float64", random_state=0, **kw).fit(train, epochs=0)
              for c in (cls, full_cls)]
    for name, v in models[0].params.items():
        v[...] = 0.5 * rng.standard_normal(v.shape)
        models[1].params[name][...] = v
    for m in models:
        m.step_ = 3                                   # a training step: the dropout masks
    users = rng.integers(0, n_users, B)
    for batch in (PairBatch.make(users, rng.integers(0, n_items, B), rng.integers(0, n_items, B)),
                  PointBatch.make(users, rng.integers(0, n_items, B), rng.random(B) < 0.5)):
        (loss, grads), (ref_loss, ref_grads) = (m.loss_and_grad(batch) for m in models)
        assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss)
        assert set(grads) == set(ref_grads) == set(models[0].params)
        for name, g in ref_grads.items():
            assert grads[name].shape == g.shape and grads[name].dtype == np.float64
            scale = np.abs(g).max()
            assert scale > 0, name                    # every parameter gets a gradient
            np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-12 * scale, err_msg=name)


@pytest.mark.parametrize("cls, kw", [(GCN, dict(normalization="mean")),
                                     (NGCF, dict(node_dropout=0.2)),
                                     (GAT, dict(n_heads=2, attention_dropout=0.2))])
def test_batch_local_models_give_same_bits_for_any_thread_count(cls, kw):
    train = _interactions(120, 160, 0.05, seed=2)
    batch = PairBatch.make(np.arange(0, 120, 2), np.arange(60) % 160, (np.arange(60) * 7) % 160)
    runs = []
    old = numba.get_num_threads()
    try:
        for threads in sorted({1, old}):
            numba.set_num_threads(threads)
            model = cls(dim=16, random_state=1, **kw).fit(train, epochs=0)
            model.step_ = 2
            runs.append(model.loss_and_grad(batch))
    finally:
        numba.set_num_threads(old)
    for loss, grads in runs[1:]:
        assert loss == runs[0][0]
        for name, g in grads.items():
            np.testing.assert_array_equal(g, runs[0][1][name])


def test_hop_balls_reference_equals_the_kernel_or_lies_inside_its_early_stop():
    """hop_balls' ``backend="numpy"`` (exact balls) is the reference of the default numba
    path the models take, which may stop early and give every node for the outer balls."""
    from minigraphrec.models.embedding_base import hop_balls
    n = 40
    path = sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")   # 0-1-...-39
    for nodes in (np.array([0]), np.array([3, 10])):
        ref = hop_balls(path, nodes, 3, backend="numpy")
        assert [b.tolist() for b in hop_balls(path, nodes, 3)] == [b.tolist() for b in ref]
    assert ref[2].tolist() == [1, 2, 3, 4, 5, 8, 9, 10, 11, 12]
    # a star 0-{1..9} with a tail 9-10-11-12-13: {0..9} holds 19 of the 26 stored entries,
    # so the kernel stops before the third hop and S_3 is every node, a superset
    r, c = zip(*([(0, i) for i in range(1, 10)] + [(9, 10), (10, 11), (11, 12), (12, 13)]))
    A = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(14, 14))
    A = (A + A.T).tocsr()
    ref, got = hop_balls(A, np.array([1]), 3, "numpy"), hop_balls(A, np.array([1]), 3)
    assert [b.tolist() for b in got[:3]] == [b.tolist() for b in ref[:3]]
    assert ref[3].tolist() == list(range(11)) and got[3].tolist() == list(range(14))


# ----------------------------------------------- their kernels against NumPy
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_products_equal_scipy(dtype):
    from minigraphrec.ops.propagate import (propagate_rows_backward, propagate_rows_forward,
                                            rows_product_T_on, rows_product_T_pull)
    rng = np.random.default_rng(0)
    A = sp.random(300, 300, density=0.3, random_state=1, format="csr", dtype=dtype)
    X = rng.standard_normal((300, 8)).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for rows in (np.array([3, 17, 150]), np.sort(rng.choice(300, 250, replace=False))):
        for backend in ("numpy", "numba"):
            Y, cache = propagate_rows_forward(A, X, rows, backend=backend)
            np.testing.assert_allclose(Y, A[rows] @ X, rtol=rtol, atol=rtol)
            dY = rng.standard_normal(Y.shape).astype(dtype)
            np.testing.assert_allclose(propagate_rows_backward(cache, dY), A[rows].T @ dY,
                                       rtol=rtol, atol=rtol)
        dY = rng.standard_normal((rows.size, 8)).astype(dtype)
        targets = np.arange(0, 300, 3)
        expected = (A[rows].T @ dY)[targets]
        A_T = A.T.tocsr()
        np.testing.assert_allclose(rows_product_T_pull(A_T, rows, dY, targets, "numba"), expected,
                                   rtol=rtol, atol=rtol)
        np.testing.assert_allclose(rows_product_T_on(A, A_T, rows, dY, targets, "numba"),
                                   expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_halves_products_equal_numpy_and_ignore_the_thread_count(dtype, monkeypatch):
    from minigraphrec.ops import dense
    rng = np.random.default_rng(2)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-11)
    for split_from in (dense.HALVES_FROM, 4):             # the default (one call here) and split
        monkeypatch.setattr(dense, "HALVES_FROM", split_from)
        monkeypatch.setattr(dense, "HALVES_MIN_WORK", 0 if split_from == 4 else 1 << 24)
        for m in (0, 1, 5, 3001):
            A = rng.standard_normal((m, 9)).astype(dtype)
            W = rng.standard_normal((9, 4)).astype(dtype)
            D = rng.standard_normal((m, 4)).astype(dtype)
            got = dense.halves_matmul(A, W)
            assert got.dtype == dtype and got.shape == (m, 4)
            np.testing.assert_allclose(got, A @ W, **tol)
            out = np.full((m, 9), np.nan, dtype)
            assert dense.halves_matmul(D, W.T, out=out) is out      # a transposed B, in place
            np.testing.assert_allclose(out, D @ W.T, **tol)
            xt = dense.halves_xt_dot(A, D)
            assert xt.dtype == dtype and xt.shape == (9, 4)
            np.testing.assert_allclose(xt, A.T @ D, **tol)
        old = numba.get_num_threads()
        try:                                              # halves in turn: the same bits
            numba.set_num_threads(1)
            one = dense.halves_matmul(A, W), dense.halves_xt_dot(A, D)
        finally:
            numba.set_num_threads(old)
        np.testing.assert_array_equal(one[0], dense.halves_matmul(A, W))
        np.testing.assert_array_equal(one[1], dense.halves_xt_dot(A, D))


@numba.njit(cache=False)
def _numba_np_dot(A, B, out):
    np.dot(A, B, out)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_numpy_reference_makes_numba_s_blas_call_in_scipy_s_blas(dtype, monkeypatch):
    """``ops.dense._numba_dot`` against numba's ``np.dot(A, B, out)`` on every path numba
    takes (``dot``, ``gemv`` on either operand, ``gemm``; C- and F-ordered operands): the
    same bits, through SciPy's BLAS, the library numba calls. Was: the halves' NumPy
    reference called ``np.matmul``, NumPy's own BLAS, which gave other bits than the kernel
    (13 % of a float32 product, 2.2e-6 relative) where the wheels bring different OpenBLAS
    builds (NumPy 1.24.4's 0.3.21, SciPy 1.10.1's 0.3.18, on an AMD EPYC)."""
    from scipy.linalg import blas
    from minigraphrec.ops.dense import _numba_dot
    rng = np.random.default_rng(5)
    shapes = [(1, 9, 1), (37, 9, 1), (1, 9, 301), (37, 9, 301), (301, 64, 64), (5, 1, 7)]
    calls = []
    real = blas.get_blas_funcs
    monkeypatch.setattr(blas, "get_blas_funcs",
                        lambda names, arrays: calls.append(names) or real(names, arrays))
    for m, k, n in shapes:
        for order_a in "CF":
            for order_b in "CF":
                A = np.asarray(rng.standard_normal((m, k)), dtype=dtype, order=order_a)
                B = np.asarray(rng.standard_normal((k, n)), dtype=dtype, order=order_b)
                expected = _numba_np_dot(A, B, np.empty((m, n), dtype))
                got = _numba_dot(A, B, np.full((m, n), np.nan, dtype))
                assert np.array_equal(got, expected), (m, k, n, order_a, order_b)
    assert len(calls) == 4 * len(shapes)                    # every product went through SciPy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_short_wide_products_in_halves_same_bits_on_both_backends_and_any_thread_count(
        dtype, monkeypatch):
    """min_rows=2 (SR-GNN's output layer: a batch of rows against the whole catalogue): the
    numba kernel and the NumPy reference make the same two BLAS calls, so the same bits,
    with one numba thread or two; ``out`` and ``work`` are used in place. (Products this
    small are one call by default, ``HALVES_MIN_WORK``: set to 0, they are split.)"""
    from minigraphrec.ops import dense
    monkeypatch.setattr(dense, "HALVES_MIN_WORK", 0)
    rng = np.random.default_rng(3)
    for m in (1, 2, 7, 100):
        S = rng.standard_normal((m, 13)).astype(dtype)            # session vectors
        E = rng.standard_normal((3001, 13)).astype(dtype)         # item embeddings
        Z = rng.standard_normal((m, 3001)).astype(dtype)          # logit gradients
        results = []
        for backend, threads in (("numpy", None), ("numba", 1), ("numba", None)):
            old = numba.get_num_threads()
            try:
                if threads:
                    numba.set_num_threads(threads)
                out = np.full((m, 3001), np.nan, dtype)
                logits = dense.halves_matmul(S, E.T, out, min_rows=2, backend=backend)
                assert logits is out
                dS = dense.halves_matmul(Z, E, min_rows=2, backend=backend)
                dE, work = np.full(E.shape, np.nan, dtype), np.full(E.shape, np.nan, dtype)
                got = dense.halves_xt_dot(Z, S, min_rows=2, backend=backend, out=dE, work=work)
                assert got is dE
            finally:
                numba.set_num_threads(old)
            results.append((logits, dS, dE))
        for other in results[1:]:
            for a, b in zip(results[0], other):
                np.testing.assert_array_equal(a, b)
        tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-11)
        np.testing.assert_allclose(results[0][0], S @ E.T, **tol)
        np.testing.assert_allclose(results[0][1], Z @ E, **tol)
        np.testing.assert_allclose(results[0][2], Z.T @ S, **tol)
    with pytest.raises(DataError, match="backend"):
        dense.halves_matmul(S, E.T, backend="cuda")


@pytest.mark.parametrize("cls, full_cls, kw", [LOCAL_CASES[0], LOCAL_CASES[4], LOCAL_CASES[5]],
                         ids=["GCN", "NGCF", "NGCF-dropout"])
def test_batch_local_with_products_in_halves_equal_the_full_graph(cls, full_cls, kw, monkeypatch):
    """Every dense product split in two (as on Gowalla-sized balls): still the full graph's."""
    from minigraphrec.ops import dense
    monkeypatch.setattr(dense, "HALVES_FROM", 2)
    monkeypatch.setattr(dense, "HALVES_MIN_WORK", 0)
    test_batch_local_loss_and_grads_equal_the_full_graph(cls, full_cls, kw, "mid")
    test_batch_local_models_give_same_bits_for_any_thread_count(cls, kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_xt_dot_kernel_equals_numpy_and_ignores_the_thread_count(dtype):
    from minigraphrec.ops.dense import xt_dot
    rng = np.random.default_rng(1)
    for m in (0, 5, 3001, 9000):
        X = rng.standard_normal((m, 7)).astype(dtype)
        D = rng.standard_normal((m, 6)).astype(dtype)
        got = xt_dot(X, D, backend="numba")
        assert got.dtype == dtype and got.shape == (7, 6)
        np.testing.assert_allclose(got, X.T @ D, rtol=1e-4 if dtype == np.float32 else 1e-12,
                                   atol=1e-3 if dtype == np.float32 else 1e-11)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = xt_dot(X, D, backend="numba")
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(one, xt_dot(X, D, backend="numba"))
    with pytest.raises(DataError, match="D must be float32 or float64, got float16"):
        xt_dot(X, D.astype(np.float16), backend="numba")
    with pytest.raises(DataError, match="X and D must both be float32 or both float64"):
        xt_dot(X, D.astype(np.float32 if dtype == np.float64 else np.float64))
    with pytest.raises(TypeError, match="X must be a float32 or float64 array, got NoneType"):
        xt_dot(None, D)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ngcf_kernels_equal_numpy_bitwise(dtype):
    from minigraphrec.kernels import ngcf as k
    rng = np.random.default_rng(2)
    n, m, d, p = 40, 25, 6, 0.3
    rows = np.sort(rng.choice(n, m, replace=False))
    S, Z, dE = (rng.standard_normal((m, d)).astype(dtype) for _ in range(3))
    E = rng.standard_normal((n, d)).astype(dtype)
    U = rng.random((n, d))
    slope, scale = dtype(0.2), dtype(1 / (1 - p))
    np.testing.assert_array_equal(k.bi_inputs(S, E, rows, np.empty((m, 2 * d), dtype)),
                                  np.concatenate([S + E[rows], S * E[rows]], axis=1))
    mask = np.empty((m, d), dtype)
    bias = rng.standard_normal(d).astype(dtype)
    Zb = Z + bias                                        # what the kernel leaves in Z
    E_out = k.leaky_dropout(Z, bias, slope, U, p, scale, rows, mask, np.zeros((n, d), dtype))
    np.testing.assert_array_equal(Z, Zb)
    ref_mask = (U[rows] >= p).astype(dtype) * scale
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_array_equal(E_out[rows], np.where(Zb > 0, Zb, Zb * slope) * ref_mask)
    ref_dZ = np.where(Zb > 0, dE * mask, dE * mask * slope)
    for n_blocks in (1, 4, 64):                          # more blocks than rows too
        parts = np.full((n_blocks, d), np.nan, dtype)
        np.testing.assert_array_equal(
            k.leaky_dropout_backward(dE, Zb, slope, mask, True, np.empty_like(dE), parts), ref_dZ)
        np.testing.assert_allclose(parts.sum(axis=0), ref_dZ.sum(axis=0),
                                   rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-6)


# ------------------------------------- the PCG64 twin: NumPy's uniforms, read at any row
def _pcg_words(rng):
    from minigraphrec.kernels.pcg64 import split128
    state = rng.bit_generator.state["state"]
    return np.array([*split128(state["state"]), *split128(state["inc"])], dtype=np.uint64)


@pytest.mark.parametrize("seed", [0, [7, 3], 2**70 + 5])
def test_pcg64_uniform_rows_equal_numpy_bitwise(seed):
    from minigraphrec.kernels.pcg64 import advance, uniform_rows
    n, d = 300, 7
    rng = np.random.default_rng(seed)
    rng.random(11)                                      # start mid-stream
    w = _pcg_words(rng)
    U = rng.random((n, d))                              # the reference: NumPy's own draw
    pick = np.random.default_rng(1)
    for rows in (np.arange(n), np.sort(pick.choice(n, 40, replace=False)),
                 pick.integers(0, n, 50), np.array([n - 1, 0, 0, 5]), np.zeros(0, np.int64)):
        got = uniform_rows(w[0], w[1], w[2], w[3], rows.astype(np.int64),
                           np.empty((rows.size, d)))
        np.testing.assert_array_equal(got, U[rows])
    # advance(a) then advance(b) is advance(a + b); advancing past the draw is NumPy's state
    h, lo = advance(w[0], w[1], w[2], w[3], 123)
    assert advance(h, lo, w[2], w[3], 1000 - 123) == advance(w[0], w[1], w[2], w[3], 1000)
    assert all(0 <= x < 2**64 for x in advance(h, lo, w[2], w[3], 5))   # unsigned words
    after = _pcg_words(rng)
    assert advance(w[0], w[1], w[2], w[3], n * d) == (after[0], after[1])


def test_pcg64_threshold_bits_decide_as_the_doubles():
    from minigraphrec.kernels.pcg64 import threshold_bits
    rng = np.random.default_rng(4)
    ks = np.concatenate([rng.integers(0, 2**53, 10_000, dtype=np.uint64),
                         np.array([0, 1, 2**52, 2**53 - 1], dtype=np.uint64)])
    for p in (1e-300, 0.1, 0.3, 0.5, 1 / 3, 0.9999999999999999, float(ks[7]) * 2.0**-53):
        c = threshold_bits(p)
        np.testing.assert_array_equal(ks.astype(np.float64) * 2.0**-53 >= p, ks >= c)


def test_pcg64_affine_map_steps_as_the_generator():
    from minigraphrec.kernels.pcg64 import advance, affine, next_double, output_double, step_by
    w = _pcg_words(np.random.default_rng(9))
    U = np.random.default_rng(9).random(12)
    h, lo, states = w[0], w[1], []
    for _ in range(12):
        h, lo, _u = next_double(h, lo, w[2], w[3])
        h, lo = np.uint64(h), np.uint64(lo)               # numba types Python ints as int64
        states.append((h, lo))
    assert [output_double(*s) for s in states] == list(U)
    def words(t):                                       # numba may box a uint64 as signed
        return tuple(np.uint64(int(x) % 2**64) for x in t)

    for k in (0, 1, 4, 7):
        m4 = words(affine(w[2], w[3], k))
        for i in range(12 - k):
            assert words(step_by(*states[i], *m4)) == states[i + k]
        assert words(step_by(w[0], w[1], *m4)) == words(advance(w[0], w[1], w[2], w[3], k))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("d", [6, 8, 64])       # 8, 64: the four interleaved chains; 6: one
def test_ngcf_leaky_dropout_pcg_equals_the_numpy_draw(dtype, p, d):
    from minigraphrec.kernels import ngcf as k
    rng = np.random.default_rng(3)
    n, m = 500, 120
    rows = np.sort(rng.choice(n, m, replace=False))
    Z = rng.standard_normal((m, d)).astype(dtype)
    gen = np.random.default_rng([4, 2])
    w = _pcg_words(gen)
    U = gen.random((n, d))                               # what the NumPy path reads
    slope, scale = dtype(0.2), dtype(1 / (1 - p))
    mask, ref_mask = np.full((m, d), -1, dtype), np.full((m, d), -1, dtype)
    bias = rng.standard_normal(d).astype(dtype)
    Z0 = Z.copy()
    got = k.leaky_dropout_pcg(Z, bias, slope, w, p, scale, rows, mask, np.zeros((n, d), dtype))
    Zb, Z = Z, Z0.copy()
    ref = k.leaky_dropout(Z, bias, slope, U, p, scale, rows, ref_mask, np.zeros((n, d), dtype))
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(Zb, Z)
    np.testing.assert_array_equal(Z, Z0 + bias)
    np.testing.assert_array_equal(mask, ref_mask)
    expected = np.where(Z > 0, Z, Z * slope)
    if p > 0:
        expected = expected * ((U[rows] >= p).astype(dtype) * scale)
    np.testing.assert_array_equal(got[rows], expected)
    old = numba.get_num_threads()
    try:                                                 # the same bits on one thread
        numba.set_num_threads(1)
        one = k.leaky_dropout_pcg(Z0.copy(), bias, slope, w, p, scale, rows, mask,
                                  np.zeros((n, d), dtype))
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(one, got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spread_rows_equals_numpy_bitwise(dtype):
    from minigraphrec.kernels.propagate_rows import spread_rows
    rng = np.random.default_rng(8)
    for n, rows in ((50, np.sort(rng.choice(50, 30, replace=False))), (7, np.arange(7)),
                    (9, np.zeros(0, np.int64)), (6, np.array([5]))):
        values = rng.standard_normal((rows.size, 3)).astype(dtype)
        ref = np.zeros((n, 3), dtype)
        ref[rows] = values
        for n_blocks in (1, 3, 64):
            Y = np.full((n, 3), np.nan, dtype)
            np.testing.assert_array_equal(spread_rows(Y, rows.astype(np.int64), values, n_blocks),
                                          ref)


def test_rows_product_T_on_with_a_work_array_equals_without():
    from minigraphrec.ops.propagate import rows_product_T_on
    from minigraphrec.threadpools import serial_if
    rng = np.random.default_rng(6)
    A = sp.random(200, 200, density=0.1, random_state=2, format="csr", dtype=np.float64)
    A = (A + A.T).tocsr()
    for rows in (np.arange(5), np.sort(rng.choice(200, 150, replace=False)), np.arange(200)):
        dY = rng.standard_normal((rows.size, 4))
        for targets in (np.arange(200), np.arange(0, 200, 3)):
            plain = rows_product_T_on(A, A, rows, dY, targets, "numba")
            work = np.full((200, 4), np.nan)
            np.testing.assert_array_equal(
                rows_product_T_on(A, A, rows, dY, targets, "numba", work=work), plain)
            np.testing.assert_allclose(plain, (A[rows].T @ dY)[targets], rtol=1e-12, atol=1e-12)
    before = numba.get_num_threads()
    with serial_if(True):
        assert numba.get_num_threads() == 1
    with serial_if(False):
        assert numba.get_num_threads() == before
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("make", [
    lambda rs: mgr.MF(dim=4, epochs=1, random_state=rs),
    lambda rs: mgr.LightGCN(dim=4, epochs=1, random_state=rs),
    lambda rs: mgr.SRGNN(dim=4, epochs=1, random_state=rs),
    lambda rs: mgr.GFCF(random_state=rs),
    lambda rs: mgr.Hybrid([mgr.Popularity(), mgr.ItemKNN()], random_state=rs),
])
@pytest.mark.parametrize("bad, error", [("abc", TypeError), (-1, DataError),
                                        (1.5, TypeError), (True, TypeError)])
def test_a_bad_random_state_is_named_before_fitting(make, bad, error):
    """The package's one check (errors.check_random_state): TypeError for another kind of
    value, DataError for a negative integer."""
    data = mgr.datasets.synthetic(n_users=30, n_items=20, random_state=0)
    with pytest.raises(error, match=r"random_state must be None, an integer >= 0 or a "
                                    r"numpy.random.Generator, got " + re.escape(repr(bad))):
        make(bad).fit(data)


def _small(n_users=60, n_items=40, seed=0):
    return mgr.datasets.synthetic(n_users=n_users, n_items=n_items, random_state=seed)


def _bare(n_users=50, n_items=45, seed=1):
    """The same kind of data without node features."""
    d = _small(n_users, n_items, seed)
    return Interactions(d.users, d.items, n_users=d.n_users, n_items=d.n_items)


@pytest.mark.parametrize("make, bad_fit", [
    # validation from another id space: refused after the new data were taken in
    (lambda: mgr.MF(dim=4, epochs=1, random_state=0),
     lambda m: m.fit(_small(50, 45, 1), validation=_small())),
    (lambda: mgr.LightGCN(dim=4, epochs=1, random_state=0),
     lambda m: m.fit(_small(50, 45, 1), validation=_small())),
    # features asked for, none given: refused once sizes and R_ were set
    (lambda: mgr.GCN(dim=4, epochs=1, random_state=0),
     lambda m: m.set_params(input="features").fit(_bare())),
    (lambda: mgr.GAT(dim=4, epochs=1, random_state=0),
     lambda m: m.set_params(input="features").fit(_bare())),
    # a run that diverges
    (lambda: mgr.NGCF(dim=4, epochs=1, random_state=0),
     lambda m: m.set_params(lr=1e30, epochs=2).fit(_small())),
    (lambda: mgr.SRGNN(dim=4, epochs=1, random_state=0),
     lambda m: m.set_params(lr=1e30, epochs=2).fit(_small())),
])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")             # the diverging runs
def test_a_failed_fit_leaves_the_earlier_model_as_it_was(make, bad_fit):
    """fit is all or nothing: whatever it had done when it raised is undone, the earlier
    fit still scores, recommends and saves as before."""
    model = make().fit(_small())
    users = np.arange(10)
    scores, attrs = model.score(users), dict(vars(model))
    with pytest.raises((ValueError, FloatingPointError)):
        bad_fit(model)
    model.set_params(**{k: v for k, v in make().get_params().items()})
    assert vars(model).keys() == attrs.keys()
    assert all(vars(model)[k] is v for k, v in attrs.items())        # the very same objects
    np.testing.assert_array_equal(model.score(users), scores)


def test_session_models_drop_the_titles_of_an_earlier_fit():
    users = np.repeat(np.arange(6), 4)
    data = Interactions(users, np.arange(24) % 8, n_items=8, timestamps=np.arange(24),
                        item_labels=[f"title {i}" for i in range(8)])
    model = mgr.MarkovChain().fit(data)
    assert len(model.item_labels_) == 8
    model.fit(mgr.sequences.Sequences.from_lists([[0, 1, 2], [2, 3]], n_items=5))
    assert not hasattr(model, "item_labels_")


@pytest.mark.parametrize("make", [mgr.SessionPopularity, mgr.MarkovChain,
                                  lambda: mgr.SRGNN(dim=4, epochs=1, random_state=0)])
def test_session_models_score_no_user_as_an_empty_block(make):
    users = np.repeat(np.arange(6), 4)
    model = make().fit(Interactions(users, np.arange(24) % 8, n_items=8,
                                    timestamps=np.arange(24)))
    assert model.score([]).shape == (0, 8)


def test_user_ids_and_k_are_checked_not_converted():
    model = mgr.Popularity().fit(_small())
    for bad in ([-1], [60], [[0, 1]], [0.5], [True]):
        with pytest.raises(DataError):
            model.score(bad)
    for bad in (None, "0"):
        with pytest.raises(TypeError, match="users must be an array of integer ids"):
            model.score(bad)
    for k in (2.7, "3", True, 0):
        with pytest.raises(ValueError, match="k must be an integer >= 1"):
            model.recommend([0], k=k)
        with pytest.raises(ValueError, match="k must be an integer >= 1"):
            model.recommend_history([0, 1], k=k)
    assert model.recommend([0], k=np.int64(3))[0].shape == (1, 3)


def test_quantized_scores_are_float32_and_out_must_be_too():
    model = mgr.quantize(mgr.MF(dim=4, epochs=1, random_state=0).fit(_small()), "int8")
    S = model.score([0, 1])
    assert S.dtype == np.float32
    out = np.empty((2, 40), dtype=np.float32)
    np.testing.assert_array_equal(model.score([0, 1], out=out), S)
    with pytest.raises(ValueError, match="scores in float32"):
        model.score([0, 1], out=np.empty((2, 40)))


def _contents(model):
    """Every attribute's value, arrays and dicts of arrays copied (to compare contents)."""
    import copy
    return {k: copy.deepcopy(v) for k, v in vars(model).items() if not k.startswith("_")}


def _assert_same_contents(before, model):
    after = _contents(model)
    assert after.keys() == before.keys()
    for k, v in before.items():
        if isinstance(v, dict) and all(isinstance(x, np.ndarray) for x in v.values()):
            assert v.keys() == after[k].keys(), k
            for key in v:
                np.testing.assert_array_equal(after[k][key], v[key], err_msg=f"{k}[{key}]")
        elif isinstance(v, np.ndarray):
            np.testing.assert_array_equal(after[k], v, err_msg=k)
        elif sp.issparse(v):
            assert (after[k] != v).nnz == 0, k
        elif not isinstance(v, (mgr.sequences.Sequences,)):
            assert after[k] == v, k


class _Stop(Exception):
    pass


def _stop_after_one_epoch(record):
    raise _Stop


@pytest.mark.parametrize("make", [
    lambda: mgr.MF(dim=4, epochs=3, random_state=0),
    lambda: mgr.LightGCN(dim=4, epochs=3, random_state=0),
    lambda: mgr.GCN(dim=4, epochs=3, random_state=0),
    lambda: mgr.NGCF(dim=4, epochs=3, random_state=0),
    lambda: mgr.GAT(dim=4, epochs=3, random_state=0),
])
@pytest.mark.parametrize("resume", [False, True])
def test_a_fit_stopped_after_training_leaves_every_array_as_it_was(make, resume):
    """A fit that trained an epoch, then raised (from its callback), gives back every
    attribute's contents: nothing the epoch changed in place survives, resumed or not."""
    data = _small()
    model = make().fit(data, epochs=1)
    before = _contents(model)
    with pytest.raises(_Stop):
        model.fit(data if resume else _small(seed=3), epochs=2, resume=resume,
                  callback=_stop_after_one_epoch)
    _assert_same_contents(before, model)


def test_small_products_are_one_blas_call_whatever_min_rows(monkeypatch):
    """Below HALVES_MIN_WORK multiply-adds the halves are not split (waking numba's second
    thread would cost more than the product): the kernel is not called, and the result is
    NumPy's product, bit for bit; from it on, the kernel splits the rows."""
    from minigraphrec.kernels import dense as kernels
    from minigraphrec.ops import dense
    calls = []
    for name in ("matmul_halves", "xt_dot_halves"):
        real = getattr(kernels, name)
        monkeypatch.setattr(kernels, name, lambda *a, real=real, name=name:
                            calls.append(name) or real(*a))
    rng = np.random.default_rng(4)
    S = rng.standard_normal((100, 16)).astype(np.float32)       # SR-GNN: a batch of 100, d 16
    E = rng.standard_normal((300, 16)).astype(np.float32)       # 300 items: 480k multiply-adds
    Z = rng.standard_normal((100, 300)).astype(np.float32)
    np.testing.assert_array_equal(dense.halves_matmul(S, E.T, min_rows=2), S @ E.T)
    np.testing.assert_array_equal(dense.halves_xt_dot(Z, S, min_rows=2), Z.T @ S)
    assert calls == []
    monkeypatch.setattr(dense, "HALVES_MIN_WORK", 100 * 16 * 300)   # now exactly at the bound
    dense.halves_matmul(S, E.T, min_rows=2)
    dense.halves_xt_dot(Z, S, min_rows=2)
    assert calls == ["matmul_halves", "xt_dot_halves"]
