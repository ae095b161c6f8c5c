"""NGCF's bi-interaction backward kernel against its NumPy reference (kernels/ngcf.py)."""
import numba
import numpy as np
import pytest

from minigraphrec.kernels import ngcf as k


def _inputs(dtype, seed=0, n=40, m=25, d=6):
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, m, replace=False))
    dSE = rng.standard_normal((m, 2 * d)).astype(dtype)            # [dsum, dbi]
    E = rng.standard_normal((n, d)).astype(dtype)
    S = rng.standard_normal((m, d)).astype(dtype)
    return rows, dSE, E, S


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bi_backward_gather_equals_numpy_bitwise(dtype):
    rows, dSE, E, _ = _inputs(dtype)
    m, d = rows.size, E.shape[1]
    got = k.bi_backward(dSE, E, rows, np.full((m, d), np.nan, dtype), False)   # all overwritten
    ref = k.bi_backward_numpy(dSE, E, rows, np.full((m, d), np.nan, dtype), False)
    np.testing.assert_array_equal(got, ref)
    # the reference is the formula: dS = dsum + dbi ⊙ E[rows], written out by hand
    by_hand = np.empty((m, d), dtype)
    for q in range(m):
        by_hand[q] = dSE[q, :d] + dSE[q, d:] * E[rows[q]]
    np.testing.assert_array_equal(ref, by_hand)
    assert got.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bi_backward_scatter_equals_numpy_bitwise(dtype):
    rows, dSE, E, S = _inputs(dtype, seed=1)
    d = S.shape[1]
    got = k.bi_backward(dSE, S, rows, E.copy(), True)
    ref = k.bi_backward_numpy(dSE, S, rows, E.copy(), True)
    np.testing.assert_array_equal(got, ref)
    off = np.setdiff1d(np.arange(E.shape[0]), rows)
    np.testing.assert_array_equal(got[off], E[off])                # only the rows change
    by_hand = E.copy()
    for q, r in enumerate(rows):
        by_hand[r] = by_hand[r] + (dSE[q, :d] + dSE[q, d:] * S[q])
    np.testing.assert_array_equal(ref, by_hand)


def test_bi_backward_does_not_depend_on_the_thread_count():
    rows, dSE, E, S = _inputs(np.float64, seed=2, n=3000, m=2000, d=16)
    many = (k.bi_backward(dSE, E, rows, np.empty_like(S), False),
            k.bi_backward(dSE, S, rows, E.copy(), True))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = (k.bi_backward(dSE, E, rows, np.empty_like(S), False),
               k.bi_backward(dSE, S, rows, E.copy(), True))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(many, one):
        np.testing.assert_array_equal(a, b)


def test_bi_backward_of_no_rows_changes_nothing():
    _, _, E, _ = _inputs(np.float64)
    rows = np.zeros(0, np.int64)
    dSE = np.zeros((0, 2 * E.shape[1]))
    assert k.bi_backward(dSE, E, rows, np.empty((0, E.shape[1])), False).shape == (0, 6)
    np.testing.assert_array_equal(k.bi_backward(dSE, np.zeros((0, 6)), rows, E.copy(), True), E)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_kernels_without_dropout_and_on_no_rows(dtype):
    # p = 0: no mask is read or written; the bias-gradient blocks are the rows' sums in order
    rng = np.random.default_rng(5)
    n, m, d = 30, 11, 5
    rows = np.sort(rng.choice(n, m, replace=False))
    Z, dE = (rng.standard_normal((m, d)).astype(dtype) for _ in range(2))
    bias = rng.standard_normal(d).astype(dtype)
    slope, scale = dtype(0.2), dtype(1)
    Zb = Z + bias
    H = np.where(Zb > 0, Zb, Zb * slope)
    words = np.zeros(4, np.uint64)
    for kernel, draws in ((k.leaky_dropout, np.zeros((1, 1))), (k.leaky_dropout_pcg, words)):
        Zk, mask = Z.copy(), np.full((m, d), np.nan, dtype)
        E_out = kernel(Zk, bias, slope, draws, 0.0, scale, rows, mask, np.full((n, d), -7, dtype))
        np.testing.assert_array_equal(Zk, Zb)
        np.testing.assert_array_equal(E_out[rows], H)
        off = np.setdiff1d(np.arange(n), rows)
        assert np.all(E_out[off] == -7) and np.isnan(mask).all()    # only the rows written
    parts = np.full((3, d), np.nan, dtype)
    dZ = k.leaky_dropout_backward(dE, Zb, slope, dE, False, np.empty_like(dE), parts)
    np.testing.assert_array_equal(dZ, np.where(Zb > 0, dE, dE * slope))
    for b in range(3):
        acc = np.zeros(d, dtype)
        for q in range(m * b // 3, m * (b + 1) // 3):
            acc = acc + dZ[q]
        np.testing.assert_array_equal(parts[b], acc)
    # no rows: nothing written, the bias gradient's blocks are zero
    none = np.zeros(0, np.int64)
    E = np.full((n, d), -7, dtype)
    assert k.bi_inputs(np.zeros((0, d), dtype), E, none, np.empty((0, 2 * d), dtype)).shape \
        == (0, 2 * d)
    for kernel, draws in ((k.leaky_dropout, rng.random((n, d))), (k.leaky_dropout_pcg, words)):
        out = kernel(np.zeros((0, d), dtype), bias, slope, draws, 0.3, dtype(1 / 0.7), none,
                     np.zeros((0, d), dtype), E.copy())
        np.testing.assert_array_equal(out, E)
    parts = np.full((4, d), np.nan, dtype)
    k.leaky_dropout_backward(np.zeros((0, d), dtype), np.zeros((0, d), dtype), slope,
                             np.zeros((0, d), dtype), True, np.zeros((0, d), dtype), parts)
    np.testing.assert_array_equal(parts, 0)
