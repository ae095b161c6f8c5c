"""The gradient checkers themselves: they pass right gradients and catch wrong ones."""
from __future__ import annotations

import numpy as np
import pytest

from minigraphrec import losses
from minigraphrec.batch import PairBatch
from minigraphrec.errors import DataError
from minigraphrec.gradcheck import (check_grad, check_model_grads, check_param_grads, check_vjp,
                                    numerical_grad)
from minigraphrec.ops import embedding, scoring


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
    ({"a": [1.0, 2.0]}, {"a": np.ones(2)}, TypeError, "must be an ndarray"),
    ({"a": np.ones(2)}, {"b": np.ones(2)}, KeyError, "must be in both"),
    ({"a": np.ones(2)}, {"a": np.ones(3)}, DataError, r"grads\['a'\] has shape \(3,\)"),
])
def test_check_param_grads_rejects_bad_input(params, grads, error, match):
    with pytest.raises(error, match=match):
        check_param_grads(lambda: 0.0, params, grads)


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
    with pytest.raises(AssertionError, match="loss_and_grad returned grads for"):
        check_model_grads(model, _BATCH)
    with pytest.raises(TypeError, match="non-empty params dict"):
        check_model_grads(object(), _BATCH)
