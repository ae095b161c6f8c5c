"""SGD and Adam: hand-computed steps, closed forms, the numba twin, checkpoints, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from minigraphrec.errors import DataError
from minigraphrec.optim import SGD, Adam


# ====================================================================== Adam
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_adam_first_two_steps_by_hand(backend):
    # tolerances: a few roundings of 1e-16 each (1 - 0.999 is 0.0010000000000000009)
    lr, eps = 0.1, 1e-8
    p = np.array([1.0, -2.0])
    opt = Adam(lr=lr, betas=(0.9, 0.999), eps=eps, backend=backend)
    # step 1, g = (0.5, 0.1): m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g²
    opt.step({"p": p}, {"p": np.array([0.5, 0.1])})
    p1 = np.array([1.0 - lr * 0.5 / (0.5 + eps), -2.0 - lr * 0.1 / (0.1 + eps)])
    np.testing.assert_allclose(p, p1, rtol=1e-14)
    np.testing.assert_allclose(opt.m["p"], [0.05, 0.01], rtol=1e-14)
    np.testing.assert_allclose(opt.v["p"], [0.00025, 0.00001], rtol=1e-14)
    # step 2, g = (-1, 0.1): m = (0.045 - 0.1, 0.009 + 0.01),
    #                        v = (0.00024975 + 0.001, 0.00000999 + 0.00001)
    opt.step({"p": p}, {"p": np.array([-1.0, 0.1])})
    m2, v2 = np.array([-0.055, 0.019]), np.array([0.00124975, 0.00001999])
    np.testing.assert_allclose(opt.m["p"], m2, rtol=1e-14)
    np.testing.assert_allclose(opt.v["p"], v2, rtol=1e-14)
    m_hat = m2 / (1 - 0.9 ** 2)                 # / 0.19
    v_hat = v2 / (1 - 0.999 ** 2)               # / 0.001999
    np.testing.assert_allclose(m_hat, [-0.055 / 0.19, 0.1], rtol=1e-14)
    np.testing.assert_allclose(v_hat, [0.00124975 / 0.001999, 0.01], rtol=1e-13)
    np.testing.assert_allclose(p, p1 - lr * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-14)
    assert opt.t == {"p": 2}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_adam_constant_gradient_closed_form(backend):
    """With g fixed, m̂_t = g and v̂_t = g² exactly, so p_t = p_0 - t · lr · g / (|g| + eps)."""
    g = np.array([3.0, -0.25, 1e-3, 0.0])
    p0 = np.array([0.5, 1.0, -1.0, 2.0])
    p = p0.copy()
    opt = Adam(lr=0.01, eps=1e-8, backend=backend)
    for _ in range(100):
        opt.step({"w": p}, {"w": g})
    np.testing.assert_allclose(p, p0 - 100 * 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12, atol=0)


def test_adam_minimises_a_quadratic():
    H, b = np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([1.0, -1.0])
    x = np.zeros(2)
    opt = Adam(lr=0.01)
    for _ in range(1000):
        opt.step({"x": x}, {"x": H @ x - b})
    np.testing.assert_allclose(x, np.linalg.solve(H, b), rtol=0, atol=1e-10)


def test_adam_weight_decay_is_an_l2_term_in_the_gradient():
    rng = np.random.default_rng(0)
    p_a = rng.standard_normal((4, 3))
    p_b = p_a.copy()
    decayed, plain = Adam(lr=0.05, weight_decay=0.3), Adam(lr=0.05)
    for _ in range(5):
        g = rng.standard_normal((4, 3))
        decayed.step({"w": p_a}, {"w": g})
        plain.step({"w": p_b}, {"w": g + 0.3 * p_b})
    np.testing.assert_array_equal(p_a, p_b)


def test_adam_missing_or_none_gradient_leaves_parameter_and_state_alone():
    params = {"a": np.ones(3), "b": np.ones(2)}
    opt = Adam(lr=0.1)
    opt.step(params, {"a": np.ones(3)})
    np.testing.assert_array_equal(params["b"], np.ones(2))
    assert "b" not in opt.m and opt.t == {"a": 1}
    opt.step(params, {"a": np.ones(3), "b": None})
    assert opt.t == {"a": 2}
    # "b"'s first update is a first step (its own t = 1): p - lr · sign(g)
    opt.step(params, {"b": np.array([2.0, -3.0])})
    np.testing.assert_allclose(params["b"], [1 - 0.1 * 2 / (2 + 1e-8), 1 + 0.1 * 3 / (3 + 1e-8)],
                               rtol=1e-15)
    assert opt.t == {"a": 2, "b": 1}


def test_adam_updates_in_place_and_keeps_dtype():
    p = np.ones((3, 2), dtype=np.float32)
    params = {"E0": p}
    Adam(lr=0.1).step(params, {"E0": np.ones((3, 2), dtype=np.float64)})   # grad is cast
    assert params["E0"] is p and p.dtype == np.float32
    np.testing.assert_allclose(p, 0.9, rtol=1e-6)


def test_adam_lr_can_change_between_steps():
    p = np.zeros(1)
    opt = Adam(lr=0.1)
    opt.step({"p": p}, {"p": np.ones(1)})
    opt.lr = 0.0
    opt.step({"p": p}, {"p": np.ones(1)})
    np.testing.assert_allclose(p, [-0.1 / (1 + 1e-8)], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("shape", [(257, 7), (4097, 64)], ids=["serial", "parallel"])
def test_adam_numba_kernel_equals_numpy_reference_bitwise(dtype, weight_decay, shape):
    from minigraphrec import optim
    assert (np.prod(shape) >= optim._PARALLEL_FROM) == (shape[0] > 257)   # both kernels run
    E0_init = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    runs = {}
    for backend in ("numpy", "numba"):
        r = np.random.default_rng(3)
        params = {"E0": E0_init.copy(), "b": r.standard_normal(7).astype(dtype)}
        opt = Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay, backend=backend)
        for t in range(4):
            grads = {"E0": r.standard_normal(shape).astype(dtype)}
            if t % 2:
                grads["b"] = r.standard_normal(7).astype(dtype)
            opt.step(params, grads)
        runs[backend] = (params, opt)
    (p_np, o_np), (p_nb, o_nb) = runs["numpy"], runs["numba"]
    for k in p_np:
        assert p_nb[k].dtype == dtype
        np.testing.assert_array_equal(p_nb[k], p_np[k])
        np.testing.assert_array_equal(o_nb.m[k], o_np.m[k])
        np.testing.assert_array_equal(o_nb.v[k], o_np.v[k])
    assert o_nb.t == o_np.t == {"E0": 4, "b": 2}
    assert np.all(p_np["E0"] != E0_init)                 # every entry moved


@pytest.mark.parametrize("shape", [(257, 7), (4097, 64)], ids=["serial", "parallel"])
def test_adam_names_the_parameters_whose_gradient_was_not_finite(shape):
    """The training loops' NaN/inf gradient check is counted during the update (a pass of
    its own took about a quarter of an MF epoch); both backends count the same."""
    from minigraphrec.kernels.adam import adam_update, adam_update_serial
    for backend in ("numpy", "numba"):
        opt = Adam(lr=0.01, weight_decay=0.01, backend=backend)
        params = {"E0": np.ones(shape), "b": np.ones(3)}
        g = np.zeros(shape)
        g[5, 3], g[-1, -1] = np.nan, -np.inf
        with np.errstate(invalid="ignore"):              # the reference's inf / inf
            opt.step(params, {"E0": g, "b": np.ones(3)})
            assert opt.nonfinite == ["E0"]
            opt.step(params, {"b": np.ones(3)})
            assert opt.nonfinite == []
            opt.step({"p": np.array([np.inf])}, {"p": np.zeros(1)})   # 0 + decay · inf
            assert opt.nonfinite == ["p"]
    one = np.ones(5)
    args = (0.9, 0.1, 0.999, 0.001, 0.01, 1.0, 1e-8, 0.0)
    for update in (adam_update, adam_update_serial):
        grad = np.array([0.0, np.nan, np.inf, -np.inf, 1e308])
        assert update(one.copy(), grad, np.zeros(5), np.zeros(5), *args) == 3


def test_adam_numba_needs_contiguous_parameters():
    p = np.ones((4, 6))[:, ::2]
    with pytest.raises(DataError, match="not C-contiguous"):
        Adam(backend="numba").step({"w": p}, {"w": np.ones_like(p)})


def test_adam_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((5, 3))
    grads = [rng.standard_normal((5, 3)) for _ in range(6)]
    p = p0.copy()
    ours = Adam(lr=0.01, betas=(0.9, 0.99), eps=1e-7, weight_decay=0.1)
    tp = torch.tensor(p0, requires_grad=True)
    theirs = torch.optim.Adam([tp], lr=0.01, betas=(0.9, 0.99), eps=1e-7, weight_decay=0.1)
    for g in grads:
        ours.step({"p": p}, {"p": g})
        tp.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-13, atol=1e-15)


# ==================================================================== SGD
def test_sgd_plain_step():
    p = np.array([1.0, 2.0])
    SGD(lr=0.5).step({"p": p}, {"p": np.array([0.25, -1.0])})
    np.testing.assert_array_equal(p, [0.875, 2.5])


def test_sgd_momentum_and_weight_decay_by_hand():
    p = np.array([1.0])
    opt = SGD(lr=0.1, momentum=0.5, weight_decay=0.25)
    opt.step({"p": p}, {"p": np.array([2.0])})
    # g' = 2 + 0.25·1 = 2.25, buf = 2.25, p = 1 - 0.225
    np.testing.assert_allclose(p, [0.775], rtol=1e-15)
    opt.step({"p": p}, {"p": np.array([2.0])})
    # g' = 2 + 0.25·0.775 = 2.19375, buf = 0.5·2.25 + 2.19375 = 3.31875, p = 0.775 - 0.331875
    np.testing.assert_allclose(opt.momentum_buffer["p"], [3.31875], rtol=1e-15)
    np.testing.assert_allclose(p, [0.443125], rtol=1e-15)


def test_sgd_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal(6)
    p = p0.copy()
    ours = SGD(lr=0.05, momentum=0.9, weight_decay=0.01)
    tp = torch.tensor(p0, requires_grad=True)
    theirs = torch.optim.SGD([tp], lr=0.05, momentum=0.9, weight_decay=0.01)
    for _ in range(5):
        g = rng.standard_normal(6)
        ours.step({"p": p}, {"p": g})
        tp.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-13, atol=1e-15)


# ============================================================ checkpoints
def _train(opt, params, rng, n_steps):
    for _ in range(n_steps):
        opt.step(params, {k: rng.standard_normal(v.shape) for k, v in params.items()})


@pytest.mark.parametrize("make", [lambda: Adam(lr=0.02, weight_decay=0.1),
                                  lambda: SGD(lr=0.02, momentum=0.9)], ids=["Adam", "SGD"])
def test_state_dict_round_trip_through_npz_continues_identically(make, tmp_path):
    rng = np.random.default_rng(5)
    params = {"E0": rng.standard_normal((6, 3)), "W/1": rng.standard_normal(3)}
    opt = make()
    _train(opt, params, np.random.default_rng(6), 3)
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    saved_params = {k: v.copy() for k, v in params.items()}

    _train(opt, params, np.random.default_rng(7), 2)                  # uninterrupted

    restored = make()
    restored.lr = 123.0                                               # overwritten by the load
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as state:
        restored.load_state_dict(dict(state))
    assert restored.lr == 0.02
    _train(restored, saved_params, np.random.default_rng(7), 2)       # resumed
    for k in params:
        np.testing.assert_array_equal(saved_params[k], params[k])


def test_state_dict_is_a_copy():
    p = np.ones(2)
    opt = Adam(lr=0.1)
    opt.step({"p": p}, {"p": np.ones(2)})
    state = opt.state_dict()
    assert sorted(state) == ["beta1", "beta2", "eps", "lr", "m/p", "t/p", "v/p", "weight_decay"]
    state["m/p"][:] = 99.0
    assert not np.any(opt.m["p"] == 99.0)
    assert int(state["t/p"]) == 1


@pytest.mark.parametrize("edit, match", [
    (lambda s: s.update({"velocity/p": np.ones(2)}), "unexpected key 'velocity/p'"),
    (lambda s: s.update({"momentum": np.float64(0.9)}), "unexpected key 'momentum'"),
    (lambda s: s.pop("beta2"), r"lacks \['beta2'\]"),
    (lambda s: s.pop("v/p"), "same names"),
    (lambda s: s.update({"v/p": np.ones(3)}), "m has shape"),
])
def test_load_state_dict_rejects_malformed_state(edit, match):
    opt = Adam(lr=0.1)
    opt.step({"p": np.ones(2)}, {"p": np.ones(2)})
    state = opt.state_dict()
    edit(state)
    with pytest.raises(DataError, match=match):
        Adam().load_state_dict(state)


def test_loaded_state_must_fit_the_parameters():
    opt = Adam()
    opt.load_state_dict({"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
                         "m/p": np.zeros(3), "v/p": np.zeros(3), "t/p": np.int64(1)})
    with pytest.raises(DataError, match=r"state m\['p'\] has shape \(3,\)"):
        opt.step({"p": np.ones(2)}, {"p": np.ones(2)})


# ================================================================= errors
@pytest.mark.parametrize("make, error, match", [
    (lambda: Adam(lr=-1.0), DataError, "lr must be a finite number >= 0"),
    (lambda: Adam(betas=(0.9, 1.0)), DataError, r"betas must be in \[0, 1\)"),
    (lambda: Adam(eps=0.0), DataError, "eps must be > 0"),
    (lambda: Adam(backend="cuda"), DataError, "backend must be one of"),
    (lambda: SGD(lr=0.1, momentum=1.0), DataError, r"momentum must be in \[0, 1\)"),
    (lambda: SGD(lr=float("nan")), DataError, "lr must be a finite number"),
])
def test_bad_hyperparameters(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("opt", [Adam(), SGD(lr=0.1)], ids=["Adam", "SGD"])
@pytest.mark.parametrize("params, grads, error, match", [
    ({"a": np.ones(2)}, {"b": np.ones(2)},
     DataError, r"grads has keys \['b'\] that are not in params"),
    ({"a": np.ones(2)}, {"a": np.ones(3)}, DataError, r"grads\['a'\] has shape \(3,\)"),
    ({"a": np.ones(2, dtype=int)}, {"a": np.ones(2)}, DataError,
     r"params\['a'\] must be floating, got dtype int64"),
    ({"a": [1.0, 2.0]}, {"a": np.ones(2)}, TypeError, r"params\['a'\] must be an ndarray"),
    ({"a": np.ones(2)}, {"a": np.ones(2) * 1j}, DataError, "is complex"),
    ([np.ones(2)], [np.ones(2)], TypeError, "must be dicts"),
])
def test_step_rejects_bad_input(opt, params, grads, error, match):
    with pytest.raises(error, match=match):
        opt.step(params, grads)


@pytest.mark.parametrize("make", [lambda: Adam(lr=0.1), lambda: Adam(lr=0.1, backend="numpy"),
                                  lambda: SGD(lr=0.1, momentum=0.9)])
def test_a_failed_step_changes_nothing(make):
    """Every key is checked before any is updated: a bad later key leaves the earlier
    parameters and the optimiser's state as they were (they used to be updated)."""
    opt = make()
    p = {"a": np.ones(3), "b": np.ones((2, 2))}
    opt.step(p, {"a": np.ones(3), "b": np.ones((2, 2))})
    before = ({k: v.copy() for k, v in p.items()},
              {k: np.array(v, copy=True) for k, v in opt.state_dict().items()})
    bad_grads = [{"a": np.ones(3), "b": np.ones(3)},                # wrong shape
                 {"a": np.ones(3), "b": np.ones((2, 2)), "c": np.ones(1)}]   # unknown key
    read_only = {"a": p["a"], "b": p["b"].copy()}
    read_only["b"].flags.writeable = False
    cases = [(p, g) for g in bad_grads] + [(read_only, {"a": np.ones(3), "b": np.ones((2, 2))})]
    for params, grads in cases:
        with pytest.raises(DataError):
            opt.step(params, grads)
        for k in p:
            np.testing.assert_array_equal(p[k], before[0][k])
        state = opt.state_dict()
        assert state.keys() == before[1].keys()
        for k, v in state.items():
            np.testing.assert_array_equal(v, before[1][k])
    if isinstance(opt, Adam) and opt.backend == "numba":
        fortran = {"a": p["a"], "f": np.asfortranarray(np.ones((2, 3)))}
        with pytest.raises(DataError, match="not C-contiguous"):
            opt.step(fortran, {"a": np.ones(3), "f": np.ones((2, 3))})
        np.testing.assert_array_equal(p["a"], before[0]["a"])


@pytest.mark.parametrize("key, value, match", [
    ("lr", np.array(float("nan")), "lr must be a finite number"),
    ("beta1", np.array(1.5), r"betas must be in \[0, 1\)"),
    ("eps", np.array(0.0), "eps must be > 0"),
    ("lr", np.ones(2), r"state_dict\['lr'\] must be one number"),
    ("t/a", np.array(-3), "must be a count of steps"),
    ("t/a", np.array(2.7), "must be a count of steps"),
    ("m/a", np.array(["x", "y", "z"]), "must be finite floating values"),
    ("v/a", -np.ones(3), "holds negative entries"),
    ("m/a", np.array([1.0, np.nan, 0.0]), "non-finite"),
])
def test_adam_load_state_dict_checks_what_the_constructor_checks(key, value, match):
    opt = Adam(lr=0.1)
    opt.step({"a": np.ones(3)}, {"a": np.ones(3)})
    state = opt.state_dict()
    good = {k: np.array(v, copy=True) for k, v in state.items()}
    with pytest.raises(DataError, match=match):
        opt.load_state_dict(state | {key: value})
    for k, v in opt.state_dict().items():                         # unchanged
        np.testing.assert_array_equal(v, good[k])
    with pytest.raises(TypeError, match="is a dict of arrays"):
        opt.load_state_dict([("lr", 0.1)])


def test_sgd_load_state_dict_checks_what_the_constructor_checks():
    opt = SGD(lr=0.1, momentum=0.5)
    state = opt.state_dict()
    for key, value, match in (("momentum", 2.0, r"momentum must be in \[0, 1\)"),
                              ("weight_decay", -1.0, "weight_decay must be a finite number")):
        with pytest.raises(DataError, match=match):
            opt.load_state_dict(state | {key: np.array(value)})
    assert opt.momentum == 0.5


def test_step_rejects_read_only_parameters():
    p = np.ones(2)
    p.flags.writeable = False
    with pytest.raises(DataError, match="read-only"):
        Adam().step({"p": p}, {"p": np.ones(2)})


def test_repr_shows_hyperparameters():
    assert repr(Adam(lr=0.01)) == ("Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, "
                                   "weight_decay=0.0, backend='numba')")
    assert repr(SGD(lr=0.5, momentum=0.9)) == "SGD(lr=0.5, momentum=0.9, weight_decay=0.0)"
    assert math.isclose(Adam().betas[1], 0.999)
