"""Loss values against hand computation and the formulas of the module docstring; stability at ±1000.

(The gradients are checked against finite differences in test_gradients.py.)
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from minigraphrec import losses
from minigraphrec.errors import DataError
from conftest import child_env


def _sigmoid(x):                      # the textbook formula, fine for moderate x
    return 1 / (1 + np.exp(-x))


# ------------------------------------------------------------------ softplus
def test_softplus_values_and_extremes():
    z = np.array([-1000.0, -40.0, 0.0, 2.0, 1000.0])
    np.testing.assert_array_equal(losses.softplus(z)[[0, 2, 4]], [0.0, math.log(2), 1000.0])
    np.testing.assert_allclose(losses.softplus(z)[[1, 3]],
                               [math.log1p(math.exp(-40.0)), math.log1p(math.exp(2.0))], rtol=1e-15)


# ----------------------------------------------------------------------- BCE
def test_bce_hand_computed():
    loss, _ = losses.bce_with_logits_forward(np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    assert loss == pytest.approx(math.log(2), rel=1e-15)
    # x = 2, y = 1: log(1 + e^-2); x = -1, y = 0: log(1 + e^-1); mean of the two
    loss, cache = losses.bce_with_logits_forward(np.array([2.0, -1.0]), np.array([1.0, 0.0]))
    assert loss == pytest.approx((math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2,
                                 rel=1e-15)
    dx = losses.bce_with_logits_backward(cache)
    np.testing.assert_allclose(dx, [(_sigmoid(2.0) - 1) / 2, _sigmoid(-1.0) / 2], rtol=1e-14)


def test_bce_equals_the_cross_entropy_formula():
    rng = np.random.default_rng(0)
    x, y = 4 * rng.standard_normal(50), rng.random(50)           # soft labels too
    p = _sigmoid(x)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    loss, cache = losses.bce_with_logits_forward(x, y)
    assert loss == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(losses.bce_with_logits_backward(cache), (p - y) / 50, rtol=1e-12)


def test_bce_at_plus_minus_1000():
    x = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    loss, cache = losses.bce_with_logits_forward(x, y)
    assert loss == 500.0                       # per example 0, 1000, 1000, 0
    dx = losses.bce_with_logits_backward(cache)
    np.testing.assert_array_equal(dx, [0.0, -0.25, 0.25, 0.0])


def test_bce_keeps_relative_precision_of_tiny_losses():
    loss, cache = losses.bce_with_logits_forward(np.array([40.0]), np.array([1.0]))
    assert loss == pytest.approx(math.log1p(math.exp(-40.0)), rel=1e-15)    # 4.25e-18, not 0
    dx = losses.bce_with_logits_backward(cache)
    assert dx[0] == pytest.approx(-math.exp(-40.0) / (1 + math.exp(-40.0)), rel=1e-15)


def test_bce_backward_scales_with_dloss():
    x, y = np.array([0.3, -2.0, 1.5]), np.array([1.0, 0.0, 0.0])
    _, cache = losses.bce_with_logits_forward(x, y)
    np.testing.assert_allclose(losses.bce_with_logits_backward(cache, 2.5),
                               2.5 * losses.bce_with_logits_backward(cache), rtol=1e-15)


# ----------------------------------------------------------------------- BPR
def test_bpr_hand_computed():
    loss, cache = losses.bpr_forward(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    # softplus(0) = log 2, softplus(-2) = log(1 + e^-2)
    assert loss == pytest.approx((math.log(2) + math.log1p(math.exp(-2))) / 2, rel=1e-15)
    ds_pos, ds_neg = losses.bpr_backward(cache)
    np.testing.assert_allclose(ds_neg, [0.25, _sigmoid(-2.0) / 2], rtol=1e-14)
    np.testing.assert_array_equal(ds_pos, -ds_neg)


def test_bpr_equals_minus_log_sigmoid_of_the_margin():
    rng = np.random.default_rng(1)
    s_pos, s_neg = 3 * rng.standard_normal(40), 3 * rng.standard_normal(40)
    loss, _ = losses.bpr_forward(s_pos, s_neg)
    assert loss == pytest.approx(-np.mean(np.log(_sigmoid(s_pos - s_neg))), rel=1e-13)


def test_bpr_at_plus_minus_1000():
    loss, cache = losses.bpr_forward(np.array([1000.0, -1000.0]), np.array([-1000.0, 1000.0]))
    assert loss == 1000.0                      # per example 0 and 2000
    ds_pos, ds_neg = losses.bpr_backward(cache)
    np.testing.assert_array_equal(ds_neg, [0.0, 0.5])
    np.testing.assert_array_equal(ds_pos, [-0.0, -0.5])


# ------------------------------------------------------------------------ L2
def test_l2_hand_computed():
    rows = [np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 0.0]])]
    loss, cache = losses.l2_forward(rows, reg=0.5, batch_size=2)
    assert loss == 0.5 * 0.5 * (1 + 4 + 0 + 1 + 4) / 2           # = 1.25
    grads = losses.l2_backward(cache, dloss=2.0)
    assert isinstance(grads, list) and len(grads) == 2
    for g, r in zip(grads, rows):
        np.testing.assert_array_equal(g, 2.0 * 0.5 * r / 2)


def test_l2_of_float32_rows_is_their_float64_sum_of_squares():
    """Every square is exact in float64 and the sum is NumPy's (fixed order, not BLAS's):
    a batch of Gowalla's size in float32 is within float64 rounding of math.fsum."""
    rows = np.random.default_rng(0).standard_normal((3 * 8192, 64)).astype(np.float32)
    exact = math.fsum((rows.astype(np.float64) ** 2).ravel().tolist())
    loss, _ = losses.l2_forward([rows], reg=2.0, batch_size=1)       # reg · ½ = 1
    assert loss == pytest.approx(exact, rel=1e-13)


def test_l2_is_the_same_on_every_blas_kernel():
    """OpenBLAS picks its kernels by CPU (SkylakeX, Haswell, Zen...); the loss must not."""
    import subprocess
    import sys
    code = ("import numpy as np; from minigraphrec import losses; "
            "r = np.random.default_rng(0).standard_normal((3 * 8192, 64)).astype(np.float32); "
            "print(repr(losses.l2_forward([r], 1e-4, 8192)[0]))")
    out = set()
    for core in (None, "Haswell", "Sandybridge"):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        if core:
            env["OPENBLAS_CORETYPE"] = core
        out.add(subprocess.run([sys.executable, "-c", code], env=child_env(env), check=True,
                               capture_output=True, text=True).stdout)
    assert len(out) == 1, out


def test_design_md_bpr_objective_composes_from_the_pieces():
    """L = mean_b softplus(s_uj - s_ui) + reg · ½ (‖e⁰_u‖² + ‖e⁰_i‖² + ‖e⁰_j‖²) / B, by hand."""
    rng = np.random.default_rng(2)
    B, d, reg = 6, 4, 1e-2
    e_u, e_i, e_j = (rng.standard_normal((B, d)) for _ in range(3))
    s_ui, s_uj = np.sum(e_u * e_i, 1), np.sum(e_u * e_j, 1)
    by_hand = sum(math.log(1 + math.exp(s_uj[b] - s_ui[b])) for b in range(B)) / B
    by_hand += reg * 0.5 * sum(float(e[b] @ e[b]) for e in (e_u, e_i, e_j) for b in range(B)) / B
    total = losses.bpr_forward(s_ui, s_uj)[0] + losses.l2_forward([e_u, e_i, e_j], reg, B)[0]
    assert total == pytest.approx(by_hand, rel=1e-13)


# -------------------------------------------------------------------- dtypes
def test_float32_inputs_give_float_loss_and_float32_grads():
    x = np.array([0.5, -1.0], dtype=np.float32)
    loss, cache = losses.bce_with_logits_forward(x, np.array([1, 0]))
    assert isinstance(loss, float)
    assert losses.bce_with_logits_backward(cache).dtype == np.float32
    loss, cache = losses.bpr_forward(x, x[::-1])
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in losses.bpr_backward(cache))
    _, cache = losses.l2_forward([x.reshape(1, 2)], 0.1, 1)
    assert losses.l2_backward(cache)[0].dtype == np.float32


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, error, match", [
    (lambda: losses.bce_with_logits_forward(np.array([]), np.array([])),
     DataError, "logits is empty"),
    (lambda: losses.bce_with_logits_forward(np.ones((2, 2)), np.ones((2, 2))), DataError,
     r"logits must be 1-d \(B,\)"),
    (lambda: losses.bce_with_logits_forward(np.ones(3), np.ones(2)), DataError,
     r"labels must have the shape of logits \(3,\)"),
    (lambda: losses.bce_with_logits_forward(np.ones(2), np.array([0.0, 2.0])), DataError,
     r"labels must lie in \[0, 1\]"),
    (lambda: losses.bce_with_logits_forward(np.array([1, 2]), np.ones(2)),
     DataError, "floating dtype"),
    (lambda: losses.bpr_forward(np.ones(3), np.ones(4)), DataError, "same shape"),
    (lambda: losses.l2_forward(np.ones((2, 2)), 0.1, 2), TypeError, "list or tuple"),
    (lambda: losses.l2_forward([np.ones(2)], -0.1, 2), DataError, "reg must be >= 0"),
    (lambda: losses.l2_forward([np.ones(2)], 0.1, 0), DataError, "batch_size must be an integer >= 1"),
    (lambda: losses.l2_forward([np.ones(2, dtype=int)], 0.1, 1), DataError,
     r"rows_list\[0\] must have a floating dtype"),
])
def test_losses_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_in_place_gives_the_same_bits(dtype):
    """overwrite=True (SR-GNN's training step) writes over the logits, then over the cached
    exponentials, and changes no bit of the loss or the gradient."""
    rng = np.random.default_rng(4)
    z = (rng.standard_normal((6, 11)) * 30).astype(dtype)
    z[2, 3] = 1000.0                                              # the max-shift matters
    t = rng.integers(0, 11, 6)
    loss, cache = losses.softmax_cross_entropy_forward(z, t)
    dz = losses.softmax_cross_entropy_backward(cache, dloss=0.7)
    scratch = z.copy()
    loss_in, cache_in = losses.softmax_cross_entropy_forward(scratch, t, overwrite=True)
    assert cache_in[0] is scratch                                 # exponentials in place
    dz_in = losses.softmax_cross_entropy_backward(cache_in, dloss=0.7, overwrite=True)
    assert dz_in is scratch and dz_in.dtype == dtype
    assert loss_in == loss
    np.testing.assert_array_equal(dz_in, dz)
    frozen = z.copy()
    frozen.flags.writeable = False
    with pytest.raises(DataError, match="writable"):
        losses.softmax_cross_entropy_forward(frozen, t, overwrite=True)


@pytest.mark.parametrize("reg", [np.inf, -np.inf, np.nan, -1.0, "x", None, "0.5", True])
def test_l2_refuses_a_weight_that_is_not_finite_and_nonnegative(reg):
    """reg=inf used to give an infinite loss (the models refuse it, not l2_forward); a
    numeric string was parsed and True read as 1.0, as the models' check did: no longer."""
    with pytest.raises(DataError, match="reg must be >= 0 and finite"):
        losses.l2_forward([np.ones(2)], reg, 2)


def test_l2_takes_a_weight_as_the_models_do():
    """What the models' check takes (a NumPy float, an int) still works."""
    for reg in (np.float32(0.5), 0, np.int64(2)):
        loss, _ = losses.l2_forward([np.ones(2)], reg, 2)
        assert loss == float(reg) * 0.5


def test_bpr_gradients_of_mixed_dtypes_come_in_the_common_dtype():
    """float32 and float64 scores: the forward subtracts them in float64, and both
    gradients come in float64, equal to those of the scores cast to float64 (documented)."""
    rng = np.random.default_rng(0)
    s_pos = rng.standard_normal(5).astype(np.float32)
    s_neg = rng.standard_normal(5)
    loss, cache = losses.bpr_forward(s_pos, s_neg)
    ds_pos, ds_neg = losses.bpr_backward(cache, dloss=0.5)
    assert ds_pos.dtype == ds_neg.dtype == np.float64
    ref_loss, ref_cache = losses.bpr_forward(s_pos.astype(np.float64), s_neg)
    ref_pos, ref_neg = losses.bpr_backward(ref_cache, dloss=0.5)
    assert loss == ref_loss
    np.testing.assert_array_equal(ds_pos, ref_pos)
    np.testing.assert_array_equal(ds_neg, ref_neg)
    assert "np.result_type(s_pos, s_neg)" in losses.__doc__


def test_point_batch_labels_plain_constructor_and_make():
    """The plain NamedTuple constructor checks nothing (documented); ``make`` refuses soft
    labels; a model's loss_and_grad takes labels in [0, 1] (soft ones as BCE defines them)
    and refuses others."""
    import minigraphrec as mgr
    from minigraphrec.batch import PointBatch
    with pytest.raises(DataError, match="labels must be 0 or 1"):
        PointBatch.make([0, 1], [0, 1], [0.5, 1.0])
    batch = PointBatch(np.array([0, 1]), np.array([0, 1]), np.array([0.5, 1.0]))  # unchecked
    data = mgr.Interactions(np.array([0, 1, 1]), np.array([0, 1, 2]), n_users=2, n_items=3)
    model = mgr.MF(dim=2, loss="bce", random_state=0, dtype="float64").fit(data, epochs=0)
    loss, grads = model.loss_and_grad(batch)
    assert np.isfinite(loss) and grads["E0"].shape == (5, 2)
    with pytest.raises(DataError, match=r"labels must lie in \[0, 1\]"):
        model.loss_and_grad(PointBatch(np.array([0]), np.array([0]), np.array([2.0])))
    assert "check nothing" in mgr.batch.__doc__


@pytest.mark.parametrize("labels, error, match", [
    (["1", "0"], DataError, r"labels must hold numbers 0 or 1 \(bool, integer or float\), "
                            r"got dtype <U1"),                  # was read as 1.0, 0.0
    (["yes", "no"], DataError, r"labels must hold numbers 0 or 1"),   # was a bare ValueError
    ([1, 2], DataError, r"labels must be 0 or 1; labels\[1\] = 2$"),
    ([1.0, np.nan], DataError, r"labels must be 0 or 1; labels\[1\] = nan$"),
    (None, TypeError, r"labels must be an array of 0s and 1s, got NoneType"),
])
def test_point_batch_make_names_the_bad_label(labels, error, match):
    from minigraphrec.batch import PointBatch
    with pytest.raises(error, match=match):
        PointBatch.make([0, 1], [0, 1], labels)


def test_point_batch_make_takes_bool_int_and_float_labels():
    from minigraphrec.batch import PointBatch
    for labels in ([True, False], [1, 0], np.array([1.0, 0.0], dtype=np.float32)):
        y = PointBatch.make([0, 1], [0, 1], labels).labels
        assert y.dtype == np.float64 and y.tolist() == [1.0, 0.0]
    assert PointBatch.make([], [], []).labels.shape == (0,)
