"""The gradient checkers themselves: they pass right gradients and catch wrong ones."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import losses
from minigraphrec.batch import PairBatch
from minigraphrec.errors import DataError
from minigraphrec.gradcheck import (GradientMismatchError, NotDifferentiableError,
                                    RoundoffFloorWarning, check_grad, check_model_grads,
                                    check_param_grads, check_vjp, numerical_grad)
from minigraphrec.ops import dense, embedding, scoring


def _f(x):
    return np.sin(x) * x                                  # elementwise


def _vjp(x, v):
    return v * (np.cos(x) * x + np.sin(x))


# ================================================================== check_vjp
def test_check_vjp_passes_a_right_vjp_and_returns_both_numbers():
    x = np.random.default_rng(0).standard_normal((4, 3))
    x_before = x.copy()
    numeric, exact = check_vjp(_f, _vjp, x, rng=np.random.default_rng(1))
    assert numeric == pytest.approx(exact, rel=1e-8)
    assert exact != 0.0
    np.testing.assert_array_equal(x, x_before)            # x is not modified


def test_check_vjp_catches_a_gradient_off_by_one_part_in_10_000():
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(AssertionError, match=r"check_vjp: numeric .* != exact"):
        check_vjp(_f, lambda x, v: 1.0001 * _vjp(x, v), x, rng=np.random.default_rng(1))


def test_check_vjp_catches_a_wrong_single_entry():
    """A bug in one of 60 entries still moves the random projection."""
    x = np.random.default_rng(2).standard_normal(60)

    def buggy(x, v):
        g = _vjp(x, v)
        g[17] *= 1.01
        return g
    with pytest.raises(AssertionError):
        check_vjp(_f, buggy, x, rng=np.random.default_rng(3))


def test_check_vjp_scalar_output():
    x = np.random.default_rng(4).standard_normal(5)
    numeric, exact = check_vjp(lambda z: float(np.sum(z ** 3)), lambda z, v: 3 * v * z ** 2, x,
                               rng=5)
    assert numeric == pytest.approx(exact, rel=1e-8)


def test_default_atol_is_the_round_off_floor():
    """At a zero derivative the difference quotient is pure round-off (~1e-10 here)."""
    def f(x):
        return (x + 1) ** 2 - 2 * x                       # f'(0) = 0, f(0) = 1

    def vjp(x, v):
        return v * 2 * x
    x = np.zeros(20)
    with pytest.warns(RoundoffFloorWarning, match=r"check_vjp: passed only within the "
                                                  r"round-off floor"):
        numeric, exact = check_vjp(f, vjp, x, rng=np.random.default_rng(6))
    assert exact == 0.0 and numeric != 0.0
    with pytest.raises(AssertionError):
        check_vjp(f, vjp, x, rng=np.random.default_rng(6), atol=0.0)


def test_check_vjp_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        check_vjp(_f, _vjp, np.ones(3, dtype=np.float32))


def test_check_vjp_rejects_a_misshapen_vjp():
    with pytest.raises(DataError, match=r"vjp returned shape \(2,\), expected .* x \(3,\)"):
        check_vjp(_f, lambda x, v: v[:2], np.ones(3))


def test_check_vjp_reports_non_finite_values():
    with pytest.raises(AssertionError, match="non-finite"):
        check_vjp(_f, lambda x, v: np.full_like(x, np.nan), np.ones(3))


# ======================================================= check_grad / numerical
def test_numerical_grad_of_a_cubic():
    x = np.array([[0.5, -1.0], [2.0, 0.0]])
    g = numerical_grad(lambda z: np.sum(z ** 3), x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(x, [[0.5, -1.0], [2.0, 0.0]])


def test_check_grad_names_the_worst_entry():
    x = np.array([[0.5, -1.0], [2.0, 0.3]])

    def grad(z):
        g = 3 * z ** 2
        g[1, 0] += 1e-3
        return g
    numeric, exact = check_grad(lambda z: np.sum(z ** 3), lambda z: 3 * z ** 2, x)
    np.testing.assert_allclose(numeric, exact, rtol=1e-8)
    with pytest.raises(AssertionError, match=r"1 of 4 entries differ; worst at index \(1, 0\)"):
        check_grad(lambda z: np.sum(z ** 3), grad, x)


# ================================================================ param dicts
def _quadratic_params():
    rng = np.random.default_rng(7)
    params = {"a": rng.standard_normal((3, 2)), "b": rng.standard_normal(4)}

    def loss():
        return float(np.sum(params["a"] ** 2) + np.sum(np.sin(params["b"])))
    grads = {"a": 2 * params["a"], "b": np.cos(params["b"])}
    return params, loss, grads


def test_check_param_grads_checks_every_key_and_restores_bitwise():
    params, loss, grads = _quadratic_params()
    before = {k: v.copy() for k, v in params.items()}
    ids = {k: id(v) for k, v in params.items()}
    results = check_param_grads(loss, params, grads, rng=np.random.default_rng(8))
    assert set(results) == {"a", "b"}
    for numeric, exact in results.values():
        assert numeric == pytest.approx(exact, rel=1e-8)
    for k in params:
        assert id(params[k]) == ids[k]                       # perturbed in place
        np.testing.assert_array_equal(params[k], before[k])


def test_check_param_grads_names_the_wrong_key_and_still_restores():
    params, loss, grads = _quadratic_params()
    before = {k: v.copy() for k, v in params.items()}
    grads["b"] = 1.001 * grads["b"]
    with pytest.raises(AssertionError, match="gradient of 'b'"):
        check_param_grads(loss, params, grads, rng=np.random.default_rng(8))
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    assert set(check_param_grads(loss, params, grads, keys=["a"])) == {"a"}


def test_check_param_grads_restores_when_the_loss_raises():
    params = {"a": np.ones(3)}
    calls = []

    def loss():
        calls.append(params["a"].copy())
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        check_param_grads(loss, params, {"a": np.ones(3)})
    assert not np.array_equal(calls[0], np.ones(3))          # it was perturbed
    np.testing.assert_array_equal(params["a"], np.ones(3))   # and put back


@pytest.mark.parametrize("params, grads, error, match", [
    ({"a": np.ones(2, dtype=np.float32)}, {"a": np.ones(2)}, TypeError, "float64"),
    ({"a": [1.0, 2.0]}, {"a": np.ones(2)}, TypeError, "must be a writeable ndarray"),
    ({"a": np.ones(2)}, {"b": np.ones(2)}, DataError, "must be in both"),
    ({"a": np.ones(2)}, {"a": np.ones(3)}, DataError, r"grads\['a'\] has shape \(3,\)"),
])
def test_check_param_grads_rejects_bad_input(params, grads, error, match):
    with pytest.raises(error, match=match):
        check_param_grads(lambda: 0.0, params, grads)


@pytest.mark.parametrize("options, match", [
    (dict(eps=0.0), "eps must be a finite number > 0"),
    (dict(eps=-1e-6), "eps must be"), (dict(eps=float("nan")), "eps must be"),
    (dict(rtol=float("nan")), "rtol must be a finite number >= 0"), (dict(rtol=-1.0), "rtol"),
    (dict(atol=float("nan")), "atol must be a finite number >= 0"),
    (dict(atol=-1e-8), "atol must be a finite number >= 0"),
])
def test_options_that_would_hide_a_wrong_gradient_are_refused(options, match):
    """A NaN tolerance made every comparison false, and a gradient off by a factor 2 came
    out as NotDifferentiableError (no verdict); eps=0 divided by zero."""
    f, x = (lambda x: float(np.sum(x ** 3))), np.array([0.3, -1.2])
    wrong = lambda x: 2 * 3 * x ** 2                                    # noqa: E731
    with pytest.raises(ValueError, match=match):
        check_grad(f, wrong, x, **options)
    with pytest.raises(ValueError, match=match):
        check_vjp(lambda x: x ** 3, lambda x, v: 2 * 3 * x ** 2 * v, x, **options)
    with pytest.raises(ValueError, match=match):
        check_param_grads(lambda: 0.0, {"a": x.copy()}, {"a": np.ones(2)}, **options)
    with pytest.raises(TypeError, match="atol must be a real number, got str"):
        check_grad(f, wrong, x, atol="1e-8")
    if set(options) == {"eps"}:
        with pytest.raises(ValueError, match=match):
            numerical_grad(f, x, **options)
    with pytest.raises(mgr.DataError, match="rng must be None, an integer >= 0"):
        check_vjp(lambda x: x ** 3, lambda x, v: 3 * x ** 2 * v, x, rng=-1)


def test_one_key_may_be_given_as_a_string():
    params = {"ab": np.array([1.0, 2.0]), "c": np.array([3.0])}
    out = check_param_grads(lambda: float(np.sum(params["ab"] ** 2)), params,
                            {"ab": 2 * params["ab"], "c": np.zeros(1)}, keys="ab")
    assert list(out) == ["ab"]


# ================================================================ models
class _TinyMF:
    """Matrix factorisation with the BPR loss, built from the library's ops."""

    def __init__(self, n_users, n_items, dim, dtype=np.float64, grad_scale=None):
        rng = np.random.default_rng(9)
        self.params = {"U": rng.standard_normal((n_users, dim)).astype(dtype),
                       "V": rng.standard_normal((n_items, dim)).astype(dtype)}
        self.grad_scale = grad_scale or {}

    def loss_and_grad(self, batch):
        U, V = self.params["U"], self.params["V"]
        e_u, c_u = embedding.gather_forward(U, batch.users)
        e_i, c_i = embedding.gather_forward(V, batch.pos)
        e_j, c_j = embedding.gather_forward(V, batch.neg)
        s_i, c_si = scoring.dot_forward(e_u, e_i)
        s_j, c_sj = scoring.dot_forward(e_u, e_j)
        loss, c_bpr = losses.bpr_forward(s_i, s_j)
        reg, c_reg = losses.l2_forward([e_u, e_i, e_j], 0.1, batch.size)
        ds_i, ds_j = losses.bpr_backward(c_bpr)
        de_u1, de_i = scoring.dot_backward(c_si, ds_i)
        de_u2, de_j = scoring.dot_backward(c_sj, ds_j)
        r_u, r_i, r_j = losses.l2_backward(c_reg)
        grads = {"U": embedding.gather_backward(c_u, de_u1 + de_u2 + r_u),
                 "V": embedding.gather_backward(c_i, de_i + r_i)
                 + embedding.gather_backward(c_j, de_j + r_j)}
        for k, s in self.grad_scale.items():
            grads[k] = s * grads[k]
        return loss + reg, grads


_BATCH = PairBatch.make([0, 1, 2, 0], [1, 3, 0, 1], [2, 2, 3, 0])


def test_check_model_grads_passes_a_right_model():
    model = _TinyMF(3, 4, 2)
    before = {k: v.copy() for k, v in model.params.items()}
    results = check_model_grads(model, _BATCH, rng=np.random.default_rng(10))
    assert set(results) == {"U", "V"}
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])


def test_check_model_grads_catches_a_wrong_model():
    with pytest.raises(AssertionError, match="gradient of 'V'"):
        check_model_grads(_TinyMF(3, 4, 2, grad_scale={"V": 1.001}), _BATCH)


def test_check_model_grads_needs_float64_params_and_matching_keys():
    with pytest.raises(TypeError, match="float64"):
        check_model_grads(_TinyMF(3, 4, 2, dtype=np.float32), _BATCH)
    model = _TinyMF(3, 4, 2)
    model.params["extra"] = np.ones(2)
    # the training loop's contract check, and its error type: no verdict on the values
    with pytest.raises(DataError, match=r"_TinyMF.loss_and_grad .*no gradient for 'extra'"):
        check_model_grads(model, _BATCH)

    class _Float32Grads(_TinyMF):
        def loss_and_grad(self, batch):
            loss, grads = super().loss_and_grad(batch)
            return loss, {**grads, "V": grads["V"].astype(np.float32)}
    with pytest.raises(DataError, match=r"grads\['V'\] is \(4, 2\) float32, params\['V'\] is "
                                        r"\(4, 2\) float64"):
        check_model_grads(_Float32Grads(3, 4, 2), _BATCH)
    with pytest.raises(TypeError, match="non-empty params dict"):
        check_model_grads(object(), _BATCH)


# =========================================================== one tolerance rule
def test_the_floor_does_not_grow_with_a_constant_offset():
    """f = x² + 1e5: f(x ± εu) is rounded to ~1e-11, D(ε) good to ~1e-5; 0.1 % is caught."""
    x = np.random.default_rng(0).standard_normal((4, 3))

    def f(z):
        return z ** 2 + 1e5
    numeric, exact = check_vjp(f, lambda z, v: 2 * z * v, x)
    assert abs(numeric - exact) < 1e-4
    with pytest.raises(AssertionError, match=r"check_vjp: numeric .* != exact"):
        check_vjp(f, lambda z, v: 1.001 * 2 * z * v, x)


def test_a_small_gradient_under_a_large_loss_is_still_checked():
    """L ≈ 500: a key whose derivative along u is 2.6e-6 must not pass with a zero gradient."""
    rng = np.random.default_rng(0)
    params = {"big": rng.standard_normal(5), "small": rng.standard_normal(3)}

    def loss():
        return 500.0 + float(np.sum(params["big"] ** 2)) + 1e-6 * float(np.sum(params["small"]))
    right = {"big": 2 * params["big"], "small": np.full(3, 1e-6)}
    numeric, exact = check_param_grads(loss, params, right)["small"]
    assert abs(exact) > 2e-6 and abs(numeric - exact) < 1e-6
    with pytest.raises(AssertionError, match="gradient of 'small'"):
        check_param_grads(loss, params, {**right, "small": np.zeros(3)})


def test_check_grad_uses_the_round_off_floor_of_the_shared_rule():
    """Σx² + 1e5: D(ε) is off by ~1e-5 from round-off alone; a fixed atol of 1e-8 fails it."""
    x = np.random.default_rng(0).standard_normal((4, 3))

    def f(z):
        return float(np.sum(z ** 2)) + 1e5
    numeric, exact = check_grad(f, lambda z: 2 * z, x)
    assert np.max(np.abs(numeric - exact)) < 1e-4
    check_grad(f, lambda z: 2 * z, x, atol=None)                 # the documented default
    with pytest.raises(AssertionError, match="entries differ"):
        check_grad(f, lambda z: 2 * z, x, atol=1e-8)             # an explicit atol is taken as is
    with pytest.raises(AssertionError, match="entries differ"):
        check_grad(f, lambda z: 1.001 * 2 * z, x)


def test_check_grad_rejects_a_finite_difference_that_is_not_finite():
    x = np.array([1e-7, 1.0, 2.0])                               # log(x - eps) is nan at 0

    def f(z):
        return float(np.sum(np.log(z)))
    with np.errstate(invalid="ignore"):
        assert np.isnan(numerical_grad(f, x)[0])
        with pytest.raises(AssertionError, match=r"difference is not finite at index \(0,\)"):
            check_grad(f, lambda z: 1 / z, x)
    check_grad(f, lambda z: 1 / z, x[1:])


_X = np.linspace(-1.0, 1.0, 6)


@pytest.mark.parametrize("call, match", [
    (lambda: check_vjp(lambda z: np.sin(z).astype(np.float32), lambda z, v: v * np.cos(z), _X),
     r"f\(x\) must be float64"),
    (lambda: check_vjp(np.sin, lambda z, v: (v * np.cos(z)).astype(np.float32), _X),
     r"vjp\(x, v\) must be float64"),
    (lambda: check_grad(lambda z: np.float32(np.sum(np.sin(z))), np.cos, _X),
     r"f\(x \+ h_i·e_i\) must be float64"),
    (lambda: check_grad(lambda z: np.sum(np.sin(z)), lambda z: np.cos(z).astype(np.float32), _X),
     r"grad\(x\) must be float64"),
    (lambda: check_param_grads(lambda: np.float32(1.0), {"a": np.ones(2)}, {"a": np.zeros(2)}),
     r"loss_fn\(\) must be float64"),
    (lambda: check_param_grads(lambda: 1.0, {"a": np.ones(2)}, {"a": np.zeros(2, np.float32)}),
     r"grads\['a'\] must be float64"),
], ids=["f", "vjp", "check_grad f", "check_grad grad", "loss", "grads"])
def test_a_float32_value_or_gradient_is_rejected(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_float32_hidden_inside_f_is_not_called_a_gradient_mismatch():
    x = np.random.default_rng(0).standard_normal((4, 3))

    def f(z):
        return np.tanh(z.astype(np.float32)).astype(np.float64)       # a float32 step inside
    for seed in range(3):
        with pytest.raises(NotDifferentiableError, match="float32"):
            check_vjp(f, lambda z, v: v * (1 - np.tanh(z) ** 2), x, rng=seed)


# ======================================================================== kinks
def test_check_grad_halves_the_step_past_a_kink():
    """ReLU at 3e-7: D(1e-6) = 0.65 straddles the kink; from s = 2.5e-7 on the step does not."""
    x = np.array([3e-7, 1.0, -2.0])

    def f(z):
        return float(np.sum(np.maximum(z, 0.0)))

    def grad(z):
        return (z > 0).astype(np.float64)
    assert numerical_grad(f, x)[0] == pytest.approx(0.65, rel=1e-8)
    numeric, exact = check_grad(f, grad, x)
    assert numeric[0] == pytest.approx(1.0, rel=1e-8) and exact[0] == 1.0
    one_wrong = r"1 of 3 entries differ; worst at index \(0,\)"
    with pytest.raises(AssertionError, match=one_wrong) as err:
        check_grad(f, lambda z: grad(z) * np.array([1.001, 1.0, 1.0]), x)
    assert err.type is GradientMismatchError                           # a mismatch, not a kink


def test_a_kink_at_the_point_itself_is_reported_as_a_kink():
    """ReLU at exactly 0 has no derivative: neither a pass nor a gradient mismatch."""
    x = np.array([[0.0, 0.5], [-1.0, 2.0]])

    def relu(z):
        return dense.relu_forward(z)[0]

    def relu_vjp(z, v):
        return dense.relu_backward(dense.relu_forward(z)[1], v)

    def f(z):
        return float(np.sum(relu(z)))
    with pytest.raises(NotDifferentiableError, match="not differentiable within the step, not a "
                                                     "gradient mismatch"):
        check_vjp(relu, relu_vjp, x)
    with pytest.raises(NotDifferentiableError, match=r"1 of 4 entries, first at index \(0, 0\)"):
        check_grad(f, lambda z: relu_vjp(z, np.ones_like(z)), x)
    with pytest.raises(AssertionError, match=r"1 of 4 entries differ; 1 more with a kink within "
                                             r"the step \(first at index \(0, 0\)\); worst at "
                                             r"index \(0, 1\)") as err:
        check_grad(f, lambda z: relu_vjp(z, np.ones_like(z)) * [[1.0, 1.01], [1.0, 1.0]], x)
    assert err.type is GradientMismatchError


def test_check_param_grads_reports_a_kink_and_restores_the_params():
    params = {"a": np.array([0.0, 1.0, -2.0])}

    def loss():
        return float(np.sum(np.maximum(params["a"], 0.0)))
    with pytest.raises(NotDifferentiableError, match="gradient of 'a'"):
        check_param_grads(loss, params, {"a": np.array([0.0, 1.0, 0.0])})
    np.testing.assert_array_equal(params["a"], [0.0, 1.0, -2.0])


def _relu_layer_near_a_kink(distance):
    """``relu(A X W + b)`` with ``Z[0, 0] = distance``; where check_vjp (rng 0) meets its kink."""
    rng = np.random.default_rng(3)
    A, X, W = rng.random((5, 5)), rng.standard_normal((5, 3)), rng.standard_normal((3, 4))
    b = rng.standard_normal(4)
    b[0] -= (A @ X @ W + b)[0, 0] - distance                    # Z[0, 0] = distance

    def f(X_):
        return dense.relu_forward(A @ X_ @ W + b)[0]            # (5, 4)

    def vjp(X_, v):
        return A.T @ dense.relu_backward(dense.relu_forward(A @ X_ @ W + b)[1], v) @ W.T

    check_rng = np.random.default_rng(0)                        # check_vjp's draws: u, then v
    u, v = check_rng.standard_normal(X.shape), check_rng.standard_normal((5, 4))
    t0 = -(A @ X @ W + b)[0, 0] / (A @ u @ W)[0, 0]            # Z[0, 0](t) = 0 at t = t0
    plain = float(np.sum(v * (f(X + 1e-6 * u) - f(X - 1e-6 * u)))) / 2e-6
    return f, vjp, X, t0, plain


def test_check_vjp_passes_a_right_relu_layer_with_a_kink_within_the_step():
    f, vjp, X, t0, plain = _relu_layer_near_a_kink(2e-8)
    assert abs(t0) < 1e-6                                       # inside ±eps
    numeric, exact = check_vjp(f, vjp, X, rng=0)
    assert abs(plain - exact) > 1e-3 * abs(exact)               # one step of 1e-6 would fail it
    assert abs(numeric - exact) <= 1e-6 * abs(exact) + 1e-8


def test_check_vjp_catches_a_wrong_relu_layer_next_to_a_kink():
    f, vjp, X, _, _ = _relu_layer_near_a_kink(2e-8)
    with pytest.raises(AssertionError, match=r"check_vjp: numeric .* != exact .* had a kink "
                                             r"within") as err:
        check_vjp(f, lambda X_, v: 1.001 * vjp(X_, v), X, rng=0)
    assert err.type is GradientMismatchError


def _gcn_with_a_pre_activation_at(distance):
    """A ReLU GCN (float64, dim 8); its layer-0 pre-activation (batch user, column 3) = distance."""
    data = mgr.datasets.synthetic(n_users=30, n_items=40, mean_interactions=6, random_state=0)
    model = mgr.GCN(dim=8, n_layers=2, dtype=np.float64, random_state=0).fit(data, epochs=0)
    r = np.random.default_rng(0)
    batch = PairBatch.make(r.integers(0, 30, 16), r.integers(0, 40, 16), r.integers(0, 40, 16))
    p = model.params
    Z0 = (model.A_hat_ @ p["E0"]) @ p["W0"] + p["b0"]           # (70, 8) before the ReLU
    p["b0"][3] -= Z0[int(batch.users[0]), 3] - distance
    return model, batch


def test_check_model_grads_passes_a_relu_gcn_with_a_pre_activation_next_to_0():
    """The default GCN's false failure at full size, made small: one pre-activation at 1e-7."""
    model, batch = _gcn_with_a_pre_activation_at(1e-7)
    p = model.params
    _, grads = model.loss_and_grad(batch)
    u = np.random.default_rng(1).standard_normal(p["E0"].shape)   # check_model_grads' first draw
    saved = p["E0"].copy()
    p["E0"][...] = saved + 1e-6 * u
    f_plus = model.loss_and_grad(batch)[0]
    p["E0"][...] = saved - 1e-6 * u
    f_minus = model.loss_and_grad(batch)[0]
    p["E0"][...] = saved
    exact = float(np.sum(grads["E0"] * u))
    assert abs((f_plus - f_minus) / 2e-6 - exact) > 1e-2 * abs(exact)   # one step: 9 % off
    before = {k: v.copy() for k, v in p.items()}
    results = check_model_grads(model, batch, rng=np.random.default_rng(1))
    assert results["E0"][1] == exact
    for k, (numeric, exact_k) in results.items():
        assert abs(numeric - exact_k) <= 1e-6 * abs(exact_k) + 1e-8, k
        np.testing.assert_array_equal(p[k], before[k])


def test_check_model_grads_catches_a_wrong_relu_gcn_next_to_a_kink():
    model, batch = _gcn_with_a_pre_activation_at(1e-7)

    class Wrong:
        params = model.params

        def loss_and_grad(self, b):
            loss, grads = model.loss_and_grad(b)
            return loss, {**grads, "E0": 1.001 * grads["E0"]}
    with pytest.raises(AssertionError, match="gradient of 'E0'.* had a kink within") as err:
        check_model_grads(Wrong(), batch, rng=np.random.default_rng(1))
    assert err.type is GradientMismatchError


# ------------------------------------------------------------ the step's scale
def _decay(t):
    h, t_max = 7 * 86400.0, 1.7e9 + 10 * 86400
    return np.sum(0.5 ** ((t_max - t) / h)), np.log(2) / h * 0.5 ** ((t_max - t) / h)


def test_a_correct_gradient_passes_at_unix_timestamps():
    """At |x| ~ 1.7e9 a fixed step of 1e-6 is mostly rounded away (x moves in units of
    2.4e-7): every entry of this correct gradient failed, relative 4.6e-2."""
    t = 1.7e9 + np.array([0.0, 1.0, 3.0, 7.0]) * 86400
    check_grad(lambda t: _decay(t)[0], lambda t: _decay(t)[1], t)
    check_vjp(lambda t: 0.5 ** ((1.7e9 - t) / 1e5), lambda t, v: v * np.log(2) / 1e5
              * 0.5 ** ((1.7e9 - t) / 1e5), t)
    x = np.random.default_rng(0).uniform(1e5, 2e5, 25)
    check_grad(lambda x: np.sum(np.sin(x)), np.cos, x)           # 11 of 25 failed


def test_a_wrong_gradient_still_fails_at_large_scale():
    """A 0.1 % error at |x| ~ 1e6 passed: the floor 4 ε |f| / ε_step was larger than it."""
    x = np.random.default_rng(1).normal(0, 1e6, 10)
    check_vjp(lambda x: x ** 3, lambda x, v: 3 * v * x ** 2, x)
    with pytest.raises(AssertionError, match="numeric .* != exact"):
        check_vjp(lambda x: x ** 3, lambda x, v: 3 * v * x ** 2 * (1 + 1e-3), x)
    params = {"p": np.random.default_rng(2).normal(0, 1e4, 6)}

    def loss():
        return float(np.sum(params["p"] ** 2)) / 1e4
    check_param_grads(loss, params, {"p": 2 * params["p"] / 1e4})
    with pytest.raises(AssertionError, match="gradient of 'p'"):
        check_param_grads(loss, params, {"p": 2 * params["p"] / 1e4 * np.r_[-1, 1, 1, 1, 1, 1]})


def test_smooth_curvature_below_the_step_is_told_from_a_kink():
    """x³ at x ~ 1e-9: the step 1e-6 is far larger than x, the differences shrink like s²;
    the message said 'kink (ReLU...)' and now says to take a smaller eps, which passes."""
    x = np.random.default_rng(3).normal(0, 1e-9, 5)
    with pytest.raises(NotDifferentiableError, match="shrinks four times per halving.*an eps "
                                                     "about a thousand times smaller"):
        check_vjp(lambda x: x ** 3, lambda x, v: 3 * v * x ** 2, x)
    check_vjp(lambda x: x ** 3, lambda x, v: 3 * v * x ** 2, x, eps=1e-12)
    with pytest.raises(NotDifferentiableError, match="has a kink"):   # a real kink still is one
        check_vjp(lambda x: np.maximum(x, 0.0), lambda x, v: v * (x > 0), np.zeros(3))


@pytest.mark.parametrize("params, grads, keys, error, match", [
    ({}, {}, None, DataError, "nothing to check"),
    ({"a": np.ones(2)}, {"a": np.ones(2)}, [], DataError, "nothing to check"),
    ([np.ones(2)], {"a": np.ones(2)}, None, TypeError, "params must be a dict"),
    ({"a": np.ones(2)}, [np.ones(2)], None, TypeError, "grads must be a dict"),
    ({"a": np.ones(2)}, {"a": np.ones(2)}, 3, TypeError, "keys must be None, a str or an iterable of str"),
    ({"a": np.ones(2)}, {"a": np.ones(2)}, [0], TypeError, "keys must be None, a str or an iterable of str"),
    ({"a": np.ones(2, np.int64)}, {"a": np.ones(2)}, None, TypeError,
     r"params\['a'\] must be float64 for a finite-difference check, got int64$"),
])
def test_check_param_grads_refuses_what_it_cannot_check(params, grads, keys, error, match):
    with pytest.raises(error, match=match):
        check_param_grads(lambda: 1.0, params, grads, keys=keys)


def test_keys_may_be_any_iterable_of_names():
    params = {"a": np.ones(2), "b": np.ones(3)}
    grads = {"a": 2 * np.ones(2), "b": 2 * np.ones(3)}

    def loss():
        return float(np.sum(params["a"] ** 2) + np.sum(params["b"] ** 2))
    for keys in (params.keys(), ("a", "b"), (k for k in ["b"]), np.array(["a"])):
        assert set(check_param_grads(loss, params, grads, keys=keys)) <= {"a", "b"}


def test_a_read_only_parameter_is_named():
    p = np.ones(3)
    p.flags.writeable = False
    with pytest.raises(TypeError, match=r"params\['a'\] must be a writeable ndarray .* read-only"):
        check_param_grads(lambda: float(p.sum()), {"a": p}, {"a": np.ones(3)})
    with pytest.raises(TypeError, match="loss_fn\\(\\) must be float64 .* got None"):
        check_param_grads(lambda: None, {"a": np.ones(3)}, {"a": np.ones(3)})


def test_check_model_grads_copes_with_a_loss_and_grad_that_reuses_its_buffers():
    """A second key 'failed' (relative 2e-5): the check's own loss evaluations overwrote
    the gradient buffers the first call had returned."""
    class Reusing:
        def __init__(self):
            rng = np.random.default_rng(4)
            self.params = {"a": rng.standard_normal(5), "b": rng.standard_normal(5)}
            self._g = {"a": np.empty(5), "b": np.empty(5)}

        def loss_and_grad(self, batch):
            a, b = self.params["a"], self.params["b"]
            np.multiply(2 * a, b ** 2, out=self._g["a"])
            np.multiply(2 * b, a ** 2, out=self._g["b"])
            return float(np.sum(a ** 2 * b ** 2)), self._g
    check_model_grads(Reusing(), None)


# ================================= passes the round-off floor decided (loss + 1e6)
def _quadratic(C, sign):
    """L(W) = C + Σ a W², small a: the directional derivative (~2e-4) is below the floor of
    |L| = 1e6 (~9e-4 at eps = 1e-6), above that of |L| ~ 1e-4; ``sign=-1`` flips the
    gradient."""
    rng = np.random.default_rng(0)
    W, a = rng.standard_normal((4, 4)), 1e-5 * rng.standard_normal((4, 4))
    params = {"W": W}
    return (lambda: C + float(np.sum(a * params["W"] ** 2)), params,
            {"W": sign * 2 * a * W}, a)


def test_a_sign_flipped_gradient_under_a_large_loss_passes_only_with_a_warning():
    """Adding 1e6 to the loss let a sign-flipped gradient pass, silently: the floor, not
    rtol, decided, and |exact| was below it."""
    loss, params, grads, _ = _quadratic(1e6, -1)
    with pytest.warns(RoundoffFloorWarning) as record:
        (numeric, exact), = check_param_grads(loss, params, grads).values()
    assert np.sign(numeric) == -np.sign(exact)                   # it did pass the wrong sign
    message = str(record[0].message)
    floor = float(message.split("below the floor ")[1].split(" ")[0])
    assert f"|exact| {abs(exact):.3e} is below the floor" in message and abs(exact) < floor
    assert message.startswith("gradient of 'W': passed only within the round-off floor")
    assert "subtract the constant from the loss, check a smaller batch" in message
    # the documented way to a verdict: without the constant the flip is a mismatch
    loss, params, grads, _ = _quadratic(0.0, -1)
    with pytest.raises(GradientMismatchError, match="gradient of 'W'"):
        check_param_grads(loss, params, grads)
    loss, params, grads, _ = _quadratic(0.0, 1)                  # and the right one passes
    with warnings.catch_warnings():
        warnings.simplefilter("error", RoundoffFloorWarning)     # rtol decided: no warning
        check_param_grads(loss, params, grads)


def test_check_grad_warns_once_for_the_entries_the_floor_decided():
    _, params, _, a = _quadratic(1e6, -1)
    W = params["W"]
    with pytest.warns(RoundoffFloorWarning, match=r"check_grad: 16 of 16 entries, first at "
                                                  r"index \(0, 0\): passed only within the "
                                                  r"round-off floor") as record:
        check_grad(lambda x: 1e6 + float(np.sum(a * x ** 2)), lambda x: -2 * a * x, W)
    assert len([w for w in record if issubclass(w.category, RoundoffFloorWarning)]) == 1
    with pytest.raises(GradientMismatchError, match="check_grad: 16 of 16 entries differ"):
        check_grad(lambda x: float(np.sum(a * x ** 2)), lambda x: -2 * a * x, W)


def test_check_model_grads_warns_on_a_sign_flip_under_a_large_constant():
    """The audit's case: a model's loss_and_grad returning loss + 1e6 and a sign-flipped
    gradient of a parameter with a small gradient."""
    data = mgr.datasets.synthetic(n_users=40, n_items=200, random_state=0)

    class Offset(mgr.MF):                                # the loss scaled down, plus 1e6
        def loss_and_grad(self, batch):
            loss, grads = super().loss_and_grad(batch)
            return 1e-3 * loss + 1e6, {k: -1e-3 * g for k, g in grads.items()}   # flipped

    model = Offset(dim=4, dtype="float64", random_state=0).fit(data, epochs=0)
    batch = mgr.train.bpr_batches(model.R_, 64, np.random.default_rng(0))[0]
    with pytest.warns(RoundoffFloorWarning, match="gradient of 'E0': passed only within"):
        check_model_grads(model, batch)


# ============================================ what each outcome is: mismatch or none
def test_a_mismatch_is_a_gradient_mismatch_error_and_no_verdict_is_not():
    """The docs' ``except AssertionError: print("caught")`` counted NotDifferentiableError,
    no verdict, as a caught bug: a mismatch has its own class now."""
    with pytest.raises(GradientMismatchError):
        check_vjp(_f, lambda x, v: 2 * _vjp(x, v), np.ones(3))
    x = np.array([[0.0, 0.5], [-1.0, 2.0]])                      # ReLU at exactly 0
    with pytest.raises(NotDifferentiableError) as err:
        check_vjp(lambda z: dense.relu_forward(z)[0],
                  lambda z, v: dense.relu_backward(dense.relu_forward(z)[1], v), x)
    assert not isinstance(err.value, GradientMismatchError)
    assert issubclass(GradientMismatchError, AssertionError)     # old handlers still catch it


def _float32_sin(x):
    return np.sin(x.astype(np.float32)).astype(np.float64)


@pytest.mark.parametrize("check", [
    lambda: check_vjp(_float32_sin, lambda x, v: v * np.cos(x),
                      np.random.default_rng(0).standard_normal(50)),
    lambda: check_grad(lambda x: float(np.sum(_float32_sin(x), dtype=np.float32)), np.cos,
                       np.random.default_rng(0).standard_normal(5)),
])
def test_float32_inside_f_leads_with_the_float32_advice(check):
    """A float32 step inside f gave "not differentiable ... kink (ReLU, ...)" (check_vjp),
    or even a mismatch verdict (check_grad: float32 steps made D(s) = D(s/2))."""
    with pytest.raises(NotDifferentiableError, match=r"f does not resolve the steps in float64 "
                                                     r"\(is part of f computed in float32\?\), "
                                                     r"not a gradient mismatch") as err:
        check()
    assert "is exactly a float32 number" in str(err.value)
    assert 'dtype="float64"' in str(err.value)


def test_a_float32_model_is_told_to_build_its_float64_twin():
    data = mgr.datasets.synthetic(n_users=40, n_items=200, random_state=0)
    model = mgr.MF(dim=4, random_state=0).fit(data, epochs=0)
    batch = mgr.train.bpr_batches(model.R_, 64, np.random.default_rng(0))[0]
    with pytest.raises(TypeError, match=r"params\['E0'\] of this MF is float32; a "
                                        r"finite-difference check needs float64 .* build the "
                                        r"model with dtype=\"float64\""):
        check_model_grads(model, batch)


def test_zeros_to_rounding_beside_checked_values_do_not_warn():
    """A gradient that is 0 for entries f does not depend on comes out as rounding residue
    (tutorial 02's 12 of 88 entries at 5e-21, GAT's a_dst2 at 3e-16): beside entries rtol
    decided, no warning; when the floor decided everything, a warning still."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(8)
    x = rng.standard_normal(12)

    def f(x):                                   # entries 8..11 do not enter f
        return 1e3 + float(np.sum(a * x[:8] ** 2))

    def grad(x):
        g = np.zeros_like(x)
        g[:8] = 2 * a * x[:8]
        g[8:] = 1e-20 * rng.standard_normal(4)  # residue, not 0
        return g
    with warnings.catch_warnings():
        warnings.simplefilter("error", RoundoffFloorWarning)
        check_grad(f, grad, x)
        params = {"W": x[:8].copy(), "c": np.zeros(3)}
        check_param_grads(lambda: 1e3 + float(np.sum(a * params["W"] ** 2))
                          + 0.0 * float(params["c"].sum()), params,
                          {"W": 2 * a * params["W"], "c": np.full(3, 1e-22)})
    # an all-zero (wrong) gradient under a large constant: nothing was decided by rtol
    with pytest.warns(RoundoffFloorWarning, match=r"check_grad: 16 of 16 entries"):
        check_grad(lambda x: 1e6 + 1e-5 * float(np.sum(x ** 2)), lambda x: np.zeros_like(x),
                   np.ones(16))


# ======================================= a function that never changes along the step
class _CopiedMF(_TinyMF):
    """``_TinyMF`` whose loss reads a copy of ``V`` made once (as a torch tensor made from
    the parameters would be): the check's in-place steps of ``V`` never reach it."""

    def __init__(self):
        super().__init__(3, 4, 2)
        self._frozen_V = self.params["V"].copy()

    def loss_and_grad(self, batch):
        live = self.params["V"]
        self.params["V"] = self._frozen_V            # the loss reads the copy...
        try:
            return super().loss_and_grad(batch)
        finally:
            self.params["V"] = live                  # ...the check perturbs the original


_W = np.random.default_rng(5).standard_normal((3, 4))
_W_COPY = _W.copy()                                  # made once: the steps of _W miss it


@pytest.mark.parametrize("check, match", [
    (lambda: check_param_grads(lambda: float(np.sum(_W_COPY ** 2)), {"W": _W.copy()},
                               {"W": 2 * _W}),
     r"gradient of 'W': loss_fn returned the same value \(.*\), bit for bit, at all 5 points "
     r"params\['W'\] - 1e-06·u \.\. params\['W'\] \+ 1e-06·u, while the exact derivative "
     r"along the step is .*: it does not read params\['W'\] in place \(a copy, a torch "
     r"tensor made once"),
    (lambda: check_model_grads(_CopiedMF(), _BATCH, keys="V"),
     r"gradient of 'V': _CopiedMF.loss_and_grad\(batch\) returned the same value .* it does "
     r"not read params\['V'\] in place"),
    (lambda: check_vjp(lambda z: np.sin(_W_COPY), lambda z, v: v * np.cos(z), _W.copy()),
     r"check_vjp: f returned the same value, bit for bit, at all 5 points x - 1e-06·u \.\. "
     r"x \+ 1e-06·u, .*: f ignores its argument"),
    (lambda: check_grad(lambda z: float(np.sum(np.sin(_W_COPY))), np.cos, _W.copy()),
     r"check_grad: 12 of 12 entries differ; worst at index .*: f returned the same value "
     r"\(.*\), bit for bit, .*: f does not read x\["),
])
def test_a_function_that_never_changes_is_named_as_such(check, match):
    """A loss reading a copy of the parameters was reported as "numeric 0.0 != exact -1.79
    ... f is smooth": now the message leads with what the values show. Still a mismatch:
    the finite differences of f are exact (0), so either f is not the function meant or
    the gradient claims a dependence f does not have."""
    with pytest.raises(GradientMismatchError, match=match) as err:
        check()
    assert "numeric 0.0 != exact" in str(err.value)
    assert "f is smooth" not in str(err.value)
    # the same, reading the parameters in place, passes: the message is about the copy
    params = {"W": _W.copy()}
    check_param_grads(lambda: float(np.sum(params["W"] ** 2)), params, {"W": 2 * _W})


# ============================== check_model_grads: the scoring path is the trained one
class _SGC(mgr.LightGCN):
    """A researcher's SGC-like model: LightGCN's propagation, then a weight matrix ``W``."""

    def _init_params(self, rng):
        params = super()._init_params(rng)
        params["W"] = np.eye(self.dim) + 0.3 * rng.standard_normal((self.dim, self.dim))
        return params

    def _forward_rows(self, nodes):
        Y, H0, cache = super()._forward_rows(nodes)                  # (m, d) propagated
        Z, c_lin = dense.linear_forward(Y, self.params["W"])         # (m, d) Y W
        return Z, H0, (cache, c_lin)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        inner, c_lin = cache
        dY, dW, _ = dense.linear_backward(c_lin, dZ)
        return {**super()._backward_rows(inner, dY, dH0, reuse=reuse), "W": dW}

    def _all_embeddings(self):
        return super()._all_embeddings() @ self.params["W"]


class _SGCWithoutW(_SGC):
    """The audit's slip: the scoring path leaves out ``W``; the training path is right."""

    def _all_embeddings(self):
        return mgr.LightGCN._all_embeddings(self)


def _sgc(cls, **kw):
    data = mgr.datasets.synthetic(n_users=30, n_items=40, mean_interactions=6, random_state=0)
    model = cls(dim=4, n_layers=2, dtype="float64", random_state=0, **kw).fit(data, epochs=0)
    r = np.random.default_rng(0)
    return model, PairBatch.make(r.integers(0, 30, 16), r.integers(0, 40, 16),
                                 r.integers(0, 40, 16))


def test_check_model_grads_catches_a_scoring_path_that_leaves_out_a_step():
    """An SGC whose _all_embeddings left out W passed check_model_grads (its gradients are
    right), trained normally and scored another function."""
    model, batch = _sgc(_SGC)
    check_model_grads(model, batch)                              # consistent: passes
    model, batch = _sgc(_SGCWithoutW)
    params = model.params                                        # the training path is right:
    def loss():
        return model.loss_and_grad(batch)[0]
    check_param_grads(loss, params, model.loss_and_grad(batch)[1])
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(GradientMismatchError) as err:
        check_model_grads(model, batch)
    for k, v in params.items():
        np.testing.assert_array_equal(v, before[k])
    nodes = np.unique(model._batch_nodes(batch)[1])
    Z, E = model._forward_rows(nodes)[0], model._all_embeddings()[nodes]
    i, j = np.unravel_index(np.argmax(np.abs(Z - E)), Z.shape)
    v = int(nodes[i])
    message = str(err.value)
    assert message.startswith("_SGCWithoutW: _all_embeddings() (the scoring path")
    assert "!= _forward_rows() (the training path" in message
    assert f"on {nodes.size} of the batch's {nodes.size} nodes" in message
    side = f"user {v}" if v < 30 else f"item {v - 30}"
    assert (f"worst at node {v} ({side}), column {j}: _all_embeddings {float(E[i, j])!r} vs "
            f"_forward_rows {float(Z[i, j])!r}") in message
    assert "= 64 ε_mach · max|E|" in message


class _NGCFScoredOff(mgr.NGCF):
    """NGCF whose scoring path is off by 1e-9 of its value: far above rounding."""

    def _all_embeddings(self):
        return super()._all_embeddings() * (1 + 1e-9)


class _GATScoredOff(mgr.GAT):
    def _all_embeddings(self):
        return super()._all_embeddings() * (1 + 1e-9)


@pytest.mark.parametrize("cls, dropout", [
    (_NGCFScoredOff, {"message_dropout": 0.3, "node_dropout": 0.3}),
    (_GATScoredOff, {"attention_dropout": 0.3}),
])
def test_the_scoring_path_is_compared_with_dropout_off(cls, dropout):
    """Dropout is switched off for the comparison, not a reason to skip it: a slip of 1e-9
    is caught with NGCF's and GAT's dropout on, and the hyperparameters are restored."""
    model, batch = _sgc(cls, **dropout)
    model.step_ = 3
    listed = ", ".join(f"{k}={v!r}" for k, v in dropout.items())
    with pytest.raises(GradientMismatchError, match=rf"^{cls.__name__}: _all_embeddings\(\) .* "
                                                    rf"dropout off \({listed} set to 0 for the "
                                                    r"comparison\); worst at node"):
        check_model_grads(model, batch)
    assert {k: getattr(model, k) for k in dropout} == dropout
    assert model.step_ == 3


class _OwnDropout(mgr.LightGCN):
    """LightGCN with a dropout of its own on the final rows (masks of ``step_``), which the
    check does not know how to switch off."""

    def _forward_rows(self, nodes):
        Y, H0, cache = super()._forward_rows(nodes)
        rng = np.random.default_rng([self.dropout_seed_, self.step_])
        Z, c_drop = dense.dropout_forward(Y, 0.5, rng)
        return Z, H0, (cache, c_drop)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        inner, c_drop = cache
        return super()._backward_rows(inner, dense.dropout_backward(c_drop, dZ), dH0, reuse)


def test_a_training_path_with_dropout_of_its_own_is_not_compared_but_said_so():
    model, batch = _sgc(_OwnDropout)
    with pytest.warns(UserWarning, match=r"_OwnDropout._all_embeddings\(\) \(the scoring path\) "
                                         r"was not compared .* the training rows change with "
                                         r"step_"):
        results = check_model_grads(model, batch)
    assert set(results) == {"E0"}                                # the gradients still checked


class _SGCScoresTooFewRows(_SGC):
    def _all_embeddings(self):
        return super()._all_embeddings()[:-1]                    # the last item left out


def test_a_scoring_table_of_the_wrong_shape_is_a_mismatch():
    # fit refuses such a table (_refresh_embeddings); a model whose code changed after its
    # fit (a class edited in a notebook) reaches the check with it
    model, batch = _sgc(_SGC)                                     # 30 users, 40 items
    model.__class__ = _SGCScoresTooFewRows
    with pytest.raises(GradientMismatchError, match=r"_SGCScoresTooFewRows: _all_embeddings\(\) "
                                                    r"returned shape \(69, 4\), expected 70 rows "
                                                    r"\(one per node, users first\) of the 4 "
                                                    r"columns _forward_rows gives"):
        check_model_grads(model, batch)


def test_floor_warnings_name_the_caller_s_line_and_spare_only_zeros_to_rounding():
    """The warning pointed into gradcheck.py for check_vjp and check_model_grads; and a
    threshold of 1e-8 let a wrong gradient 1e-9 of the largest pass without one."""
    a = np.array([1.0, 1.0, 1e-9, 1e-9])

    def f(x):
        return 1e6 + float(np.sum(a * x ** 2))
    flipped = np.array([1.0, 1.0, -1.0, -1.0])
    with pytest.warns(RoundoffFloorWarning, match=r"check_grad: 2 of 4 entries") as record:
        check_grad(f, lambda x: flipped * 2 * a * x, np.ones(4))
    assert record[0].filename == __file__
    with pytest.warns(RoundoffFloorWarning, match="check_vjp") as record:
        check_vjp(lambda x: 1e6 + 1e-5 * float(np.sum(x ** 2)),
                  lambda x, v: -v * 2e-5 * x, np.ones(3), rng=np.random.default_rng(0))
    assert record[0].filename == __file__
    loss, params, grads, _ = _quadratic(1e6, -1)
    with pytest.warns(RoundoffFloorWarning) as record:
        check_param_grads(loss, params, grads)
    assert record[0].filename == __file__


# --------------------------------------------------------------------------- the caller's arrays

def test_numerical_grad_and_check_grad_step_a_transposed_array():
    """x.T (Fortran order) was perturbed in a copy f never saw: numerical_grad gave zeros."""
    X = np.random.default_rng(0).standard_normal((4, 3)).T           # (3, 4), Fortran order
    f = lambda x: float(np.sum(np.sin(x) * np.arange(12.0).reshape(3, 4)))
    grad = lambda x: np.cos(x) * np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(numerical_grad(f, X), grad(X), rtol=1e-8, atol=1e-9)
    with pytest.raises(GradientMismatchError, match="of 12 entries differ"):
        check_grad(f, lambda x: grad(x).T.reshape(3, 4), X)            # a transposed gradient


def test_an_in_place_vjp_gets_its_own_v():
    """A correct vjp that scales v in place changed the check's own v: a mismatch verdict."""
    x = np.random.default_rng(1).standard_normal(6)

    def vjp(x, v):
        v *= np.cos(x)                                                 # J^T v, in place
        return v
    numeric, exact = check_vjp(np.sin, vjp, x)
    assert abs(numeric - exact) < 1e-8


def test_functions_that_modify_their_argument_leave_x_and_the_check_alone():
    x = np.random.default_rng(2).standard_normal(5)
    kept = x.copy()

    def f(x):                                            # sum(x + 1)², adding 1 in place
        x += 1.0
        return float(np.sum(x ** 2))

    def grad(x):
        x += 1.0
        return 2 * x
    check_grad(f, grad, x)                               # was NotDifferentiableError
    np.testing.assert_array_equal(x, kept)
    check_vjp(lambda x: np.add(x, 1.0, out=x) ** 2, lambda x, v: 2 * v * np.add(x, 1.0, out=x), x)
    np.testing.assert_array_equal(x, kept)
    with pytest.raises(GradientMismatchError):           # a wrong one still fails
        check_grad(f, lambda x: 2 * x, x)


def test_a_value_returned_in_a_reused_buffer_is_copied():
    """A loss returned in the same 1-entry buffer every call looked constant."""
    P = {"w": np.random.default_rng(3).standard_normal(4)}
    out = np.empty(1)

    def loss():
        out[0] = np.sum(np.sin(P["w"]))
        return out
    with pytest.raises(GradientMismatchError) as info:
        check_param_grads(loss, P, {"w": 1.001 * np.cos(P["w"])})
    assert "the same value" not in str(info.value)


def test_a_loss_that_changes_params_is_refused_and_undone():
    rng = np.random.default_rng(4)
    P = {"W": rng.standard_normal((3, 2)), "c": rng.standard_normal(2)}
    kept = {k: v.copy() for k, v in P.items()}
    c = P["c"]

    def loss_with_a_step():                              # an optimizer step inside the loss
        value = float(np.sum(P["W"] ** 2) + np.sum(P["c"] ** 3))
        P["c"] -= 0.1 * 3 * P["c"] ** 2
        return value
    grads = {"W": 2 * P["W"], "c": 3 * P["c"] ** 2}
    with pytest.raises(DataError, match=r"loss_fn changed params\['c'\] in place while "
                                        r"evaluated at params\['W'\] \+ 1e-06·u \(2 entries, "
                                        r"first at index \(0,\)"):
        check_param_grads(loss_with_a_step, P, grads)
    for k in P:
        np.testing.assert_array_equal(P[k], kept[k])

    def loss_rebinding():
        value = float(np.sum(P["W"] ** 2) + np.sum(P["c"] ** 3))
        P["c"] = P["c"] * 0.5
        return value
    with pytest.raises(DataError, match=r"replaced params\['c'\] by another object"):
        check_param_grads(loss_rebinding, P, grads)
    assert P["c"] is c
    np.testing.assert_array_equal(c, kept["c"])


def test_params_of_other_kinds_outside_the_keys_are_left_alone():
    """Only the checked keys need be float; an array of names or ids beside them in
    ``params`` is compared and put back, not refused (``np.isnan`` takes no strings)."""
    P = {"W": np.array([0.3, -1.2, 2.0]), "idx": np.array([2, 0, 1]),
         "names": np.array(["a", "b"])}
    result = check_param_grads(lambda: float(np.sum(np.sin(P["W"]))), P,
                               {"W": np.cos(P["W"])}, keys="W")
    numeric, exact = result["W"]
    assert np.isclose(numeric, exact, rtol=1e-6)

    def renaming():
        P["names"][0] = "z"
        return float(np.sum(np.sin(P["W"])))
    with pytest.raises(DataError, match=r"changed params\['names'\] in place .* first at "
                                        r"index \(0,\): 'a' -> 'z'"):
        check_param_grads(renaming, P, {"W": np.cos(P["W"])}, keys="W")
    assert P["names"].tolist() == ["a", "b"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_point_is_refused_naming_the_entry(bad):
    """A NaN parameter was a GradientMismatchError on the gradient ("exact nan")."""
    x = np.array([1.0, bad, 2.0])
    with pytest.raises(DataError, match=r"x is not finite at index \(1,\)"):
        check_grad(lambda x: float(np.sum(x)), np.ones_like, x)
    with pytest.raises(DataError, match=r"x is not finite at index \(1,\)"):
        check_vjp(np.sin, lambda x, v: v * np.cos(x), x)
    with pytest.raises(DataError, match=r"params\['w'\] is not finite at index \(1,\)"):
        check_param_grads(lambda: 0.0, {"w": x}, {"w": np.ones(3)})


def test_an_empty_point_is_nothing_to_check():
    """An empty x passed whatever the gradient."""
    wrong = lambda x, v=None: np.full(x.shape, np.nan)
    with pytest.raises(DataError, match=r"x is empty \(shape \(0,\)\): nothing to check"):
        check_grad(lambda x: 0.0, wrong, np.zeros(0))
    with pytest.raises(DataError, match=r"x is empty \(shape \(3, 0\)\)"):
        check_vjp(lambda x: x, wrong, np.zeros((3, 0)))
    P = {"w": np.ones(2), "b": np.zeros(0)}
    with pytest.raises(DataError, match=r"every parameter checked \('b'\) is empty"):
        check_param_grads(lambda: 0.0, P, {"w": np.ones(2), "b": np.zeros(0)}, keys="b")
    res = check_param_grads(lambda: float(np.sum(P["w"] ** 2)), P, {"w": 2 * P["w"], "b": P["b"]})
    assert res["b"] == (0.0, 0.0)                        # an empty one among others is fine


def test_a_wider_float_is_not_called_float32_round_off():
    with pytest.raises(TypeError, match=r"got float128 \(the check computes in float64"):
        check_grad(lambda x: 0.0, np.zeros_like, np.ones(2, dtype=np.longdouble))
    with pytest.raises(TypeError, match=r"got float16 \(float16 round-off"):
        check_grad(lambda x: 0.0, np.zeros_like, np.ones(2, dtype=np.float16))
