"""Quantisation: per-row int8/float16 storage, the int8 kernels against their references, the
quantised recommenders (close to the float models), save/load and errors."""
import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec.datasets import synthetic
from minigraphrec.errors import DataError
from minigraphrec.quantization import (QuantizedEmbeddings, QuantizedGFCF, QuantizedItemItem,
                                   dequantize_rows, int8_dot_scores, int8_row_sum_scores,
                                   quantize, quantize_rows, scoring_nbytes)


@pytest.fixture(scope="module")
def split():
    from minigraphrec.split import random_split
    data = synthetic(n_users=120, n_items=150, mean_interactions=14, random_state=3)
    return random_split(data, test_size=0.2, random_state=0)


@pytest.fixture(scope="module")
def train(split):
    return split[0]


# ------------------------------------------------------------ row quantisation
def test_quantize_rows_by_hand():
    X = np.array([[1.27, -0.635, 0.0], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.5]])
    Q, s = quantize_rows(X, "int8")
    assert Q.dtype == np.int8 and s.dtype == np.float32
    # s = float32(0.01) is a hair below 0.01, so -0.635 / s is a hair beyond -63.5: -64
    assert Q[0].tolist() == [127, -64, 0]
    assert Q[1].tolist() == [0, 0, 0] and s[1] == 0                           # zero row
    assert Q[2].tolist() == [-127, 64, 32] and np.isclose(s[2], 2.0 / 127)
    assert np.isclose(s[0], 0.01)


def test_quantize_rows_error_bound_and_range():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 16)) * rng.uniform(1e-3, 1e3, (200, 1))
    Q, s = quantize_rows(X, "int8")
    assert np.abs(Q.astype(int)).max(axis=1).min() == 127                   # the peak hits ±127
    err = np.abs(X - dequantize_rows(Q, s).astype(np.float64))
    assert np.all(err <= 0.5 * s[:, None] * (1 + 1e-6) + 1e-12 * np.abs(X))
    Q16, s16 = quantize_rows(X, "float16")
    assert Q16.dtype == np.float16 and np.abs(Q16).max() == 1.0
    rel = np.abs(X - dequantize_rows(Q16, s16)) / s16[:, None]
    assert rel.max() < 2 ** -10                                              # half precision


def test_quantize_rows_float16_bound_down_to_the_subnormals():
    """float16: ``|x − s q| <= 2^-12 max|x|`` (plus float32's rounding of ``s`` and ``s q``),
    for entries from the row's peak down through float16's subnormals; entries above
    ``2^-14 max|x|`` keep 11 significant bits, entries under ``2^-25 max|x|`` come back 0."""
    rng = np.random.default_rng(4)
    mags = 2.0 ** -rng.uniform(0, 30, (300, 40))                             # 1 .. 1e-9
    X = rng.choice([-1.0, 1.0], (300, 40)) * mags * rng.uniform(0.1, 10, (300, 1))
    Q, s = quantize_rows(X, "float16")
    peak = np.abs(X).max(axis=1, keepdims=True)                              # (300, 1)
    err = np.abs(X - dequantize_rows(Q, s).astype(np.float64))
    assert np.all(err <= (2.0 ** -12 + 2.0 ** -23) * peak)
    assert (err / peak).max() > 0.9 * 2.0 ** -12                             # and it is tight
    normal = np.abs(X) >= 2.0 ** -14 * peak
    assert np.all(err[normal] <= (2.0 ** -11 + 2.0 ** -22) * np.abs(X[normal]))
    tiny = np.abs(X) < 2.0 ** -25 * peak * (1 - 1e-6)
    assert tiny.any() and np.all(Q[tiny] == 0)


@pytest.mark.parametrize("dtype", ["int8", "float16"])
def test_quantize_rows_tiny_rows_keep_a_scale_and_the_error_bound(dtype):
    """Rows whose scale falls below float32's normal range: the scale is rounded up, so a
    nonzero row keeps s > 0 (1e-45 came back as a zero row) and int8 never clips (a scale
    rounded down on the coarse subnormal grid needed |q| > 127: error 6 s)."""
    tiny = float(np.finfo(np.float32).smallest_subnormal)                   # 1.4e-45
    X = np.array([[6e-46, 0.0], [1e-45, 0.0], [1.05 * 127 * tiny, 0.3 * tiny],
                  [1.3 * 127 * tiny, -5 * tiny], [1e-40, 3e-41], [2e-37, -1e-37], [0.0, 0.0],
                  [1.27, -0.635]])
    Q, s = quantize_rows(X, dtype)
    assert np.all(s[:-2] > 0) and s[-2] == 0                                # only the zero row
    # every peak float32 can hold comes back nonzero (6e-46 is below float32's grid)
    assert np.all(np.abs(dequantize_rows(Q, s)[1:-2, 0]) > 0)
    if dtype == "int8":
        err = np.abs(X - dequantize_rows(Q, s).astype(np.float64))
        assert np.all(err <= 0.5 * s[:, None].astype(np.float64))
        assert np.all(np.abs(X[:-2]) / s[:-2, None].astype(np.float64) <= 127)   # no clip
    # a normal row keeps the nearest float32 scale
    assert s[-1] == np.float32(1.27 / (127 if dtype == "int8" else 1))


def test_quantize_rows_rejects_bad_input():
    with pytest.raises(DataError, match="dtype"):
        quantize_rows(np.ones((2, 2)), "int4")
    with pytest.raises(DataError, match="finite"):
        quantize_rows(np.array([[1.0, np.nan]]))
    with pytest.raises(DataError, match="2-d"):
        quantize_rows(np.ones(3))


# -------------------------------------------------------------------- kernels
@pytest.mark.parametrize("b, d", [(1, 37), (4, 37), (7, 37), (9, 37), (9, 1024), (5, 1100)])
def test_int8_dot_kernel_equals_reference_exactly(b, d):
    """The fast path (a float32 product up to d = 1,024, the int64 kernel beyond) and the
    reference give the same bits."""
    rng = np.random.default_rng(b)
    Qu = rng.integers(-127, 128, (b, d)).astype(np.int8)
    Qi = rng.integers(-127, 128, (53, d)).astype(np.int8)
    su = rng.uniform(0.01, 2.0, b).astype(np.float32)
    si = rng.uniform(0.01, 2.0, 53).astype(np.float32)
    fast = int8_dot_scores(Qu, su, Qi, si, backend="numba")
    ref = int8_dot_scores(Qu, su, Qi, si, backend="numpy")
    np.testing.assert_array_equal(fast, ref)
    # and both are the int32 sum scaled: the integer product in int32 NumPy arithmetic
    acc = Qu.astype(np.int32) @ Qi.astype(np.int32).T
    expect = (acc.astype(np.float32) * su[:, None]) * si[None, :]
    np.testing.assert_array_equal(fast, expect)
    ones = int8_dot_scores(Qu, np.ones(b, np.float32), Qi, np.ones(53, np.float32))
    np.testing.assert_array_equal(ones, acc.astype(np.float32))


@pytest.mark.parametrize("kernel", ["int8_dot", "int8_dot_serial"])
def test_int8_dot_numba_kernel_equals_reference_exactly(kernel):
    """The integer kernels themselves (the fast path takes the parallel one for more than
    ``FEW_ROWS`` users and d > 1,024, the serial one for at most ``FEW_ROWS``), at any d."""
    import minigraphrec.kernels.quantize as kq
    int8_dot = getattr(kq, kernel)
    rng = np.random.default_rng(5)
    for b, d in ((1, 37), (4, 37), (9, 64), (6, 300)):
        Qu = rng.integers(-128, 128, (b, d)).astype(np.int8)
        Qi = rng.integers(-128, 128, (41, d)).astype(np.int8)
        su = rng.uniform(0.01, 2.0, b).astype(np.float32)
        si = rng.uniform(0.01, 2.0, 41).astype(np.float32)
        out = np.full((b, 41), np.nan, dtype=np.float32)
        int8_dot(Qu, su, Qi, si, out)
        np.testing.assert_array_equal(out, int8_dot_scores(Qu, su, Qi, si, backend="numpy"))


@pytest.mark.parametrize("d", [1024, 1025])
def test_int8_dot_float32_product_is_exact_at_its_bound(d):
    """At d = 1,024 every partial sum of products of int8 values is an integer of magnitude
    <= 2^24: a float32 product sums them exactly. Mixed signs make BLAS's partial sums differ
    from the final one; d = 1,025 takes the int64 kernel."""
    rng = np.random.default_rng(d)
    Qu = np.where(rng.random((6, d)) < 0.5, -128, 127).astype(np.int8)
    Qu[0] = -128                                                   # |sum| = d · 128² at row 0
    Qi = np.where(rng.random((5, d)) < 0.5, -128, 127).astype(np.int8)
    Qi[0] = -128
    ones_u, ones_i = np.ones(6, np.float32), np.ones(5, np.float32)
    S = int8_dot_scores(Qu, ones_u, Qi, ones_i)
    exact = Qu.astype(np.int64) @ Qi.astype(np.int64).T
    assert S[0, 0] == d * 128 * 128 == exact[0, 0]
    np.testing.assert_array_equal(S, exact.astype(np.float32))
    np.testing.assert_array_equal(S, int8_dot_scores(Qu, ones_u, Qi, ones_i, backend="numpy"))


def test_int8_dot_extreme_values_do_not_overflow():
    Qu = np.full((5, 1000), -127, dtype=np.int8)
    Qi = np.full((3, 1000), -127, dtype=np.int8)
    S = int8_dot_scores(Qu, np.ones(5, np.float32), Qi, np.ones(3, np.float32))
    assert np.all(S == 127 * 127 * 1000)


@pytest.mark.parametrize("b", [1, 9])                     # the serial and the parallel kernel
def test_int8_dot_kernels_sum_beyond_int32(b):
    """The kernels' accumulators are int64: 140,000 products of -128 · -128 sum to
    2,293,760,000, beyond int32 (2^31 - 1); float32 holds that multiple of 2^14 exactly."""
    import minigraphrec.kernels.quantize as kq
    d = 140_000
    Qu = np.full((b, d), -128, dtype=np.int8)
    Qi = np.full((2, d), -128, dtype=np.int8)
    out = np.empty((b, 2), np.float32)
    kernel = kq.int8_dot_serial if b == 1 else kq.int8_dot
    kernel(Qu, np.ones(b, np.float32), Qi, np.ones(2, np.float32), out)
    assert np.all(out == 128 * 128 * d) and 128 * 128 * d > 2**31
    np.testing.assert_array_equal(
        int8_dot_scores(Qu, np.ones(b, np.float32), Qi, np.ones(2, np.float32)), out)


@pytest.mark.parametrize("sparse", [False, True])
def test_int8_row_sum_kernels_equal_reference_exactly(sparse):
    rng = np.random.default_rng(1)
    R_b = sp.random(9, 30, density=0.3, random_state=2, format="csr")
    R_b.data[:] = rng.uniform(0.5, 3.0, R_b.nnz)        # values are ignored: taken as 1
    W = rng.integers(-127, 128, (30, 25)).astype(np.int8)
    c = rng.uniform(0.01, 1.0, 25).astype(np.float32)
    if sparse:
        W[rng.random(W.shape) < 0.7] = 0
        Wc = sp.csr_matrix(W)
        Q = (Wc.indptr, Wc.indices, Wc.data.astype(np.int8))
    else:
        Q = W
    fast = int8_row_sum_scores(R_b, Q, c, backend="numba")
    ref = int8_row_sum_scores(R_b, Q, c, backend="numpy")
    np.testing.assert_array_equal(fast, ref)
    binary = (R_b != 0).astype(np.int32)
    expect = np.asarray(binary @ W.astype(np.int32)).astype(np.float32) * c[None, :]
    np.testing.assert_array_equal(fast, expect)


@pytest.mark.parametrize("path", ["parallel", "serial"])
@pytest.mark.parametrize("sparse", [False, True])
def test_int8_row_sum_parallel_and_serial_kernels_equal_reference_exactly(sparse, path,
                                                                         monkeypatch):
    """``int8_row_sums`` (users in parallel) and its serial twin (small work) give the
    reference's float32 array bit for bit, empty rows and a one-user block included. The
    threshold is moved so that every call takes ``path``, and the other kernel is replaced
    by a sentinel, so the test knows which one ran."""
    import minigraphrec.kernels.quantize as kq
    from minigraphrec.quantization import _int8_row_sums_kernel
    monkeypatch.setattr(kq, "PARALLEL_FROM", 0 if path == "parallel" else 10 ** 12)
    chosen = kq.int8_row_sums if path == "parallel" else kq.int8_row_sums_serial
    monkeypatch.setattr(kq, "int8_row_sums_serial" if path == "parallel" else "int8_row_sums",
                        _kernel_must_not_run)
    rng = np.random.default_rng(7)
    W = rng.integers(-128, 128, (40, 33)).astype(np.int8)
    if sparse:
        W[rng.random(W.shape) < 0.6] = 0
        Wc = sp.csr_matrix(W)
        Q = (Wc.indptr, Wc.indices, Wc.data.astype(np.int8))
    else:
        Q = W
    c = rng.uniform(0.01, 1.0, 33).astype(np.float32)
    for n_users in (1, 3, 17):
        R_b = sp.random(n_users, 40, density=0.3, random_state=n_users, format="csr")
        keep = np.ones(n_users)
        keep[1:2] = 0.0                                   # an empty row (its sums are 0)
        R_b = sp.csr_matrix(sp.diags(keep) @ R_b)
        R_b.eliminate_zeros()
        assert R_b.getrow(0).nnz > 0 and (n_users == 1 or R_b.getrow(1).nnz == 0)
        indices = R_b.indices.astype(np.int64)
        assert _int8_row_sums_kernel(indices, Q if sparse else W,
                                     np.empty((n_users, 33), np.float32)) is chosen
        fast = int8_row_sum_scores(R_b, Q, c, backend="numba")
        ref = int8_row_sum_scores(R_b, Q, c, backend="numpy")
        assert fast.dtype == np.float32
        np.testing.assert_array_equal(fast, ref)


def test_int8_dot_of_a_few_users_reads_the_int8_rows(monkeypatch):
    """At most ``FEW_ROWS`` users go through the serial integer kernel, which reads the int8
    item rows as they are: a one-user score does not widen the whole table to float32 (6 ms
    for GF-CF's 40,981 x 256 singular vectors). More users take the float32 product."""
    import minigraphrec.kernels.quantize as kq
    from minigraphrec.threadpools import FEW_ROWS
    calls = []
    serial = kq.int8_dot_serial
    monkeypatch.setattr(kq, "int8_dot_serial", lambda *a: calls.append(a) or serial(*a))
    rng = np.random.default_rng(2)
    Qi = rng.integers(-127, 128, (30, 16)).astype(np.int8)
    si = rng.uniform(0.1, 1, 30).astype(np.float32)
    for b in (1, FEW_ROWS, FEW_ROWS + 1):
        Qu = rng.integers(-127, 128, (b, 16)).astype(np.int8)
        su = rng.uniform(0.1, 1, b).astype(np.float32)
        S = int8_dot_scores(Qu, su, Qi, si)
        np.testing.assert_array_equal(S, int8_dot_scores(Qu, su, Qi, si, backend="numpy"))
    assert [a[0].shape[0] for a in calls] == [1, FEW_ROWS]              # not FEW_ROWS + 1
    assert all(a[2].dtype == np.int8 for a in calls)                    # Qi not widened


def test_float16_widen_gives_numpys_conversion_bit_for_bit():
    """The numba table lookup against NumPy's ``astype(float32) * scale``: every finite
    float16 bit pattern (subnormals and both zeros included), with scales from tiny to large,
    as rows of a table and as the 1-d data of a sparse matrix, and an empty table."""
    from minigraphrec.quantization import _widen
    patterns = np.arange(2**16, dtype=np.uint16).view(np.float16)
    finite = patterns[np.isfinite(patterns)]                                # 63,488 values
    assert (finite == 0).sum() == 2 and np.any(np.abs(finite[finite != 0]) < 6.1e-5)
    Q = np.ascontiguousarray(finite.reshape(-1, 16))                          # (3968, 16)
    rng = np.random.default_rng(0)
    scale = np.exp(rng.uniform(np.log(1e-30), np.log(1e30), Q.shape[0])).astype(np.float32)
    scale[:3] = (0.0, 1.0, np.finfo(np.float32).tiny)
    for scale_ in (scale, None):
        fast = _widen(Q, scale_, "numba")
        ref = _widen(Q, scale_, "numpy")
        expect = Q.astype(np.float32) * (1 if scale_ is None else scale_[:, None])
        assert fast.dtype == ref.dtype == np.float32 and fast.shape == Q.shape
        np.testing.assert_array_equal(fast.view(np.uint32), expect.view(np.uint32))
        np.testing.assert_array_equal(ref.view(np.uint32), expect.view(np.uint32))
    np.testing.assert_array_equal(_widen(finite, None, "numba").view(np.uint32),
                                  finite.astype(np.float32).view(np.uint32))
    np.testing.assert_array_equal(_widen(Q[:, ::3], scale, "numba"),         # not contiguous
                                  dequantize_rows(Q[:, ::3], scale))
    assert _widen(np.zeros((0, 4), np.float16), np.zeros(0, np.float32)).shape == (0, 4)


def test_csr_rows_and_touched_rows_are_scipys():
    """The row selection of a CSR matrix without building it, against SciPy's ``W[rows]``
    (empty rows, a repeated row, rows out of order); and a history restricted to the items it
    touches, whose product with those rows of a table is the full product."""
    from minigraphrec.quantization import _csr_rows, _touched_rows
    W = sp.random(12, 9, density=0.3, random_state=1, format="csr")
    W = sp.diags((np.arange(12) != 4).astype(float)) @ W                   # row 4 empty
    W.eliminate_zeros()
    assert W.indptr[4] == W.indptr[5]
    for rows in (np.array([4]), np.array([0, 4, 11]), np.array([7, 2, 7, 4]),
                 np.arange(12), np.zeros(0, np.int64)):
        indptr, indices, data = _csr_rows(W.indptr.astype(np.int64), W.indices, W.data, rows)
        got = sp.csr_matrix((data, indices, indptr), shape=(rows.shape[0], 9))
        np.testing.assert_array_equal(got.toarray(), W[rows].toarray())
        np.testing.assert_array_equal(got.indices, W[rows].indices)
    R = sp.random(5, 12, density=0.25, random_state=2, format="csr")
    rows, R_c = _touched_rows(R, R.data)
    np.testing.assert_array_equal(rows, np.unique(R.indices))
    T = np.random.default_rng(3).standard_normal((12, 4)).astype(np.float32)
    np.testing.assert_array_equal(R_c @ T[rows], R @ T)


def test_int8_row_sums_of_one_user_take_the_serial_kernel():
    """A one-user ``score`` of an int8 item-item model sums the user's rows of ``W``: the
    serial twin, without waking the thread pool (7.6 ms per call on a busy 2-core machine);
    many users over a large dense ``W`` run in parallel."""
    import minigraphrec.kernels.quantize as kq
    from minigraphrec.quantization import _int8_row_sums_kernel
    n = 1_682                                                       # ML-100K's items
    W = np.zeros((n, n), np.int8)                                   # a dense EASE
    one_user = np.arange(0, n, 3, dtype=np.int64)                   # 561 items seen
    assert _int8_row_sums_kernel(one_user, W, np.empty((1, n), np.float32)) \
        is kq.int8_row_sums_serial
    many = np.tile(one_user, 64)                                    # 64 such users
    assert _int8_row_sums_kernel(many, W, np.empty((64, n), np.float32)) is kq.int8_row_sums
    # a sparse W (100 neighbours per row) counts its stored entries only
    Wc = sp.random(n, n, density=100 / n, random_state=0, format="csr")
    Q = (Wc.indptr.astype(np.int64), Wc.indices.astype(np.int64), Wc.data.astype(np.int8))
    assert _int8_row_sums_kernel(np.tile(one_user, 8), Q, np.empty((8, n), np.float32)) \
        is kq.int8_row_sums_serial


def test_kernel_wrappers_reject_bad_input():
    Q = np.zeros((2, 3), np.int8)
    with pytest.raises(DataError, match="int8"):
        int8_dot_scores(Q.astype(np.int16), np.ones(2), Q, np.ones(2))
    with pytest.raises(DataError, match="one scale"):
        int8_dot_scores(Q, np.ones(3), Q, np.ones(2))
    with pytest.raises(DataError, match="dimension"):
        int8_dot_scores(Q, np.ones(2), np.zeros((2, 4), np.int8), np.ones(2))
    with pytest.raises(DataError, match="backend"):
        int8_dot_scores(Q, np.ones(2), Q, np.ones(2), backend="cuda")
    with pytest.raises(DataError, match="rows"):
        int8_row_sum_scores(sp.csr_matrix((1, 5)), Q, np.ones(3, np.float32))


def _kernel_must_not_run(*args):
    raise AssertionError("the kernel ran on unchecked input")


_BAD_Q_TUPLES = [
    # (indptr, indices, data), n_cols, what the message names. The structure is
    # errors.check_compressed's (its messages); dtype, the end of indptr and the order of
    # each row's indices are the kernels' own conditions.
    ((np.array([0, 1, 2]), np.array([5, 100000000]), np.array([1, 1], np.int8)), 2,
     r"Q is not a valid CSR matrix of shape \(2, 2\): row 0 holds column index 5, "
     r"outside 0..1"),
    ((np.array([0, 1, 2]), np.array([1, -1]), np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: row 1 holds column index -1, outside 0..2"),
    ((np.array([0, 1, 2], np.uint64), np.array([0, 2**63 + 1], np.uint64),
      np.array([5, 1], np.int8)), 3,
     r"Q indices\[1\] = 9223372036854775809 is beyond the int64 column indices"),
    ((np.array([0, 2, 1, 2]), np.array([0, 1]), np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: its indptr decreases at row 1 \(2 then 1\)"),
    # uint64: a decreasing indptr wraps around in np.diff unless widened to int64 first
    ((np.array([0, 2, 1, 2], np.uint64), np.array([0, 1], np.uint64),
      np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: its indptr decreases at row 1 \(2 then 1\)"),
    ((np.array([1, 2, 2]), np.array([0, 1]), np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: its indptr runs from 1 to 2, not from 0 to at most the 2 "
     r"stored entries"),
    ((np.array([0, 1, 3]), np.array([0, 1]), np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: its indptr runs from 0 to 3"),
    ((np.array([0, 1, 1]), np.array([0, 1]), np.array([5, 1], np.int8)), 3,
     r"Q indptr ends at 1, but Q holds 2 entries: a canonical CSR matrix uses every one"),
    ((np.array([0, 1, 2]), np.array([0, 1]), np.array([5, 1, 2], np.int8)), 3,
     r"Q is not a valid CSR .*: its data \(shape \(3,\)\) and indices \(shape \(2,\)\) must "
     r"be 1-d of one length"),
    ((np.array([], np.int64), np.array([], np.int64), np.array([], np.int8)), 3,
     r"Q indptr is empty"),
    ((np.array([0, 1, 2]), np.array([0.0, 1.0]), np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: its indices must be a 1-d integer array, got float64"),
    ((np.array([0.0, 1.0, 2.0]), np.array([0, 1]), np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: its indptr must be a 1-d integer array, got float64"),
    ((np.array([0, 1, 2]), np.array([True, False]), np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: its indices must be a 1-d integer array, got bool"),
    ((np.array([0, 1, 2]), np.array([0, 1]), np.array([5, 1], np.int16)), 3,
     r"the CSR data of Q must be int8, got int16"),
    ((np.array([[0, 1, 2]]), np.array([0, 1]), np.array([5, 1], np.int8)), 3,
     r"Q is not a valid CSR .*: its indptr must be a 1-d integer array, got int64 of shape "
     r"\(1, 3\)"),
    ((np.array([0, 1, 2]), np.array([0, 1])), 3, r"Q must be a tuple \(indptr, indices, data\)"),
    # row 1 holds columns 2, 0: unsorted; row 0 holds 1, 1: a duplicate (int32 bound broken)
    ((np.array([0, 1, 3]), np.array([1, 2, 0]), np.array([5, 1, 1], np.int8)), 3,
     r"Q indices\[2\] = 0 in row 1 is not above the index before it \(2\)"),
    ((np.array([0, 2, 2]), np.array([1, 1]), np.array([5, 1], np.int8)), 3,
     r"Q indices\[1\] = 1 in row 0 is not above"),
]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("Q, n_cols, match", _BAD_Q_TUPLES)
def test_int8_row_sum_scores_checks_the_csr_tuple_before_any_kernel(Q, n_cols, match, backend,
                                                                    monkeypatch):
    """A bad CSR tuple is a DataError naming the array and its first bad position, raised
    before the kernel or SciPy runs (the unchecked kernel crashed or wrapped around). Both
    the kernel and the reference's SciPy product are replaced by sentinels, so an unchecked
    call fails the test instead of crashing the process."""
    import minigraphrec.kernels.quantize as kq
    import minigraphrec.quantization as quant
    monkeypatch.setattr(kq, "int8_row_sums", _kernel_must_not_run)
    monkeypatch.setattr(kq, "int8_row_sums_serial", _kernel_must_not_run)

    class _NoSparse:                     # the reference builds Q with sp.csr_matrix
        def __getattr__(self, name):
            if name == "csr_matrix":
                return _kernel_must_not_run
            return getattr(sp, name)
    R_b = sp.csr_matrix(np.ones((1, Q[0].shape[-1] - 1 if len(Q[0]) else 0)))
    monkeypatch.setattr(quant, "sp", _NoSparse())
    with pytest.raises(DataError, match=match):
        int8_row_sum_scores(R_b, Q, np.ones(n_cols, np.float32), backend=backend)


def test_int8_row_sum_scores_checks_R_b():
    """``R_b``'s column indices pick rows of ``Q``: out of range is a DataError, not a read
    past ``Q``."""
    R_b = sp.csr_matrix((np.ones(1), np.array([0]), np.array([0, 1])), shape=(1, 2))
    R_b.indices[0] = 7                                   # scipy does not check on assignment
    with pytest.raises(DataError, match="R_b is not a valid CSR matrix .*column index 7, outside 0..1"):
        int8_row_sum_scores(R_b, np.zeros((2, 3), np.int8), np.ones(3, np.float32))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_int8_row_sum_scores_canonical_csr_tuples_with_empty_rows_pass(backend):
    """Canonical CSR tuples pass the check (empty first, middle and last rows, int32 or
    uint32 or int64 index arrays) and give the dense product."""
    rng = np.random.default_rng(4)
    W = rng.integers(-128, 128, (7, 6)).astype(np.int8)
    W[rng.random(W.shape) < 0.6] = 0
    W[[0, 3, 6]] = 0
    Wc = sp.csr_matrix(W)
    R_b = sp.random(4, 7, density=0.5, random_state=1, format="csr")
    c = rng.uniform(0.1, 1.0, 6).astype(np.float32)
    dense = int8_row_sum_scores(R_b, W, c, backend=backend)
    for itype in (np.int32, np.uint32, np.int64):
        Q = (Wc.indptr.astype(itype), Wc.indices.astype(itype), Wc.data.astype(np.int8))
        np.testing.assert_array_equal(int8_row_sum_scores(R_b, Q, c, backend=backend), dense)


def test_int8_row_sum_scores_counts_every_stored_entry():
    """The documented formula: a sum over R_b's stored entries, an explicit 0 counting."""
    Q = np.array([[1, 2], [3, 4]], np.int8)
    R_b = sp.csr_matrix((np.array([0.0, 1.0]), np.array([0, 1]), np.array([0, 2])), shape=(1, 2))
    for backend in ("numba", "numpy"):
        np.testing.assert_array_equal(int8_row_sum_scores(R_b, Q, np.ones(2, np.float32),
                                                          backend), [[4.0, 6.0]])


def test_quantized_item_item_checks_its_csr_arrays_on_restore(train):
    """A saved ItemKNN whose W arrays were altered is refused on restore (load), so scoring,
    which skips the per-call check, never sees them."""
    q = quantize(mgr.ItemKNN(k_neighbors=10).fit(train), "int8")
    q.W_indices_ = q.W_indices_.copy()
    q.W_indices_[3] = q.n_items_ + 4
    with pytest.raises(DataError, match=rf"W is not a valid CSR .* holds column index "
                                        rf"{q.n_items_ + 4}, outside 0..{q.n_items_ - 1}"):
        q._restore()


def _edited(q, tmp_path, edit):
    """``q`` saved, its arrays edited by ``edit`` (the checksum recomputed), loaded back."""
    from conftest import resave
    path = tmp_path / "q.npz"
    mgr.save(q, path)
    resave(path, edit_arrays=edit)
    return mgr.load(path)


def _set(name, value):
    return lambda a: a.__setitem__(name, value(a[name]))


@pytest.mark.parametrize("source, name, value, match", [
    # a negative or float64 scale, read as it is, flipped or rounded the scores silently
    ("MF", "item_scale_", lambda s: -s, r"item_scale_\[0\] = -[0-9.e-]+: a scale is finite "
                                        r"and >= 0"),
    ("MF", "user_scale_", lambda s: s.astype(np.float64),
     r"user_scale_ must be a 1-d float32 array, got float64"),
    # the CSR check read the columns' count from col_scale_: "W indices[14] = 149 is out of
    # range 0..146"; it reads n_items_ now, and load names the short array
    ("ItemKNN", "col_scale_", lambda s: s[:-3], r"col_scale_ has shape \(147,\), 150 expected"),
    # one row short: the CSR arrays must describe an (n_items, n_items) matrix
    ("ItemKNN", "W_indptr_", lambda p: p[:-1],
     r"W is not a valid CSR matrix of shape \(150, 150\): its indptr has 150 entries, 151 "
     r"expected"),
    ("GFCF", "V_scale_", lambda s: s[:-2],
     r"V_scale_ must be a \(150,\) float32 array, got float32 of shape \(148,\)"),
    ("GFCF", "d_items_", lambda d: d[:-2],
     r"d_items_ must hold the 150 item degrees, got float64 of shape \(148,\)"),
])
def test_a_loaded_quantised_model_checks_its_scales_and_shapes(train, tmp_path, source, name,
                                                               value, match):
    """A file whose scales or degrees were altered is refused at load, naming the array; they
    were read as they were (a sign flip, a float64 rounded at each score) or failed at the
    first score in a broadcast (``operands could not be broadcast``)."""
    model = {"MF": lambda: mgr.MF(dim=8, epochs=1, random_state=0),
             "ItemKNN": lambda: mgr.ItemKNN(k_neighbors=10),
             "GFCF": lambda: mgr.GFCF(n_factors=8)}[source]().fit(train)
    q = quantize(model, "int8")
    if name == "item_scale_":
        assert np.any(q.item_scale_ > 0)
    with pytest.raises(DataError, match=match):
        _edited(q, tmp_path, _set(name, value))


# -------------------------------------------------------- quantised models
def _top_overlap(a, b):
    """Mean |top-k of a ∩ top-k of b| / k over users."""
    return np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b)])


def _models():
    return [mgr.LightGCN(dim=16, n_layers=2, epochs=3, random_state=0),
            mgr.MF(dim=16, epochs=3, random_state=0, scoring="cosine"),
            mgr.MF(dim=16, epochs=3, random_state=0, scoring="euclidean"),
            mgr.ItemKNN(k_neighbors=30),
            mgr.EASE(l2=20.0),
            mgr.GFCF(n_factors=24)]


@pytest.fixture(scope="module")
def fitted(train):
    return [m.fit(train) for m in _models()]


@pytest.mark.parametrize("dtype", ["int8", "float16"])
def test_quantized_scores_close_and_top_k_overlap(fitted, dtype):
    users = np.arange(120)
    for model in fitted:
        q = quantize(model, dtype)
        S, S0 = q.score(users), model.score(users)
        assert S.shape == S0.shape == (120, 150)
        # error relative to the score range: int8 about half a level (1/254), float16 far less
        rel = np.abs(S - S0).max() / np.abs(S0).max()
        assert rel < (0.02 if dtype == "int8" else 1e-3), (type(model).__name__, rel)
        items, _ = q.recommend(users, k=10)
        items0, _ = model.recommend(users, k=10)
        assert _top_overlap(items, items0) > (0.85 if dtype == "int8" else 0.97), \
            type(model).__name__


def test_int8_top_k_overlap_on_random_embeddings():
    """Random embeddings (no training): int8 top-20 agrees with float32 on > 90 % of items."""
    rng = np.random.default_rng(7)
    model = mgr.MF(dim=32, epochs=0, random_state=0)
    model.fit(synthetic(n_users=60, n_items=500, mean_interactions=5, random_state=1))
    model.user_embeddings_ = rng.standard_normal((60, 32)).astype(np.float32)
    model.item_embeddings_ = rng.standard_normal((500, 32)).astype(np.float32)
    q = quantize(model, "int8")
    items, _ = q.recommend(np.arange(60), k=20)
    items0, _ = model.recommend(np.arange(60), k=20)
    assert _top_overlap(items, items0) > 0.9


@pytest.mark.parametrize("dtype", ["int8", "float16"])
def test_both_backends_give_identical_models(fitted, dtype):
    users = np.arange(0, 120, 3)
    for model in fitted:
        a = quantize(model, dtype, backend="numba").score(users)
        b = quantize(model, dtype, backend="numpy").score(users)
        np.testing.assert_array_equal(a, b)


def test_quantized_types_and_memory(fitted, train):
    kinds = [QuantizedEmbeddings] * 3 + [QuantizedItemItem] * 2 + [QuantizedGFCF]
    for model, kind in zip(fitted, kinds):
        q = quantize(model, "int8")
        assert isinstance(q, kind) and isinstance(q, mgr.Recommender)
        assert q.source_ == type(model).__name__
        assert scoring_nbytes(q) < scoring_nbytes(model)
    lgcn = fitted[0]
    q = quantize(lgcn, "int8")
    d = lgcn.item_embeddings_.shape[1]                       # float32: 4d bytes a row -> d + 4
    assert scoring_nbytes(lgcn) / scoring_nbytes(q) == pytest.approx(4 * d / (d + 4))
    ease = fitted[4]                                         # float64 B -> int8 + column scales
    assert scoring_nbytes(ease) / scoring_nbytes(quantize(ease)) > 7.5


def test_evaluate_close_to_float(fitted, split):
    test = split[1]
    for model in fitted:
        r0 = mgr.evaluate(model, test, k=10)["recall@10"]
        r = mgr.evaluate(quantize(model, "int8"), test, k=10)["recall@10"]
        assert abs(r - r0) < 0.03, (type(model).__name__, r0, r)


def test_recommend_excludes_seen_items(fitted, train):
    R = train.to_csr()
    for model in fitted:
        items, _ = quantize(model).recommend(np.arange(120), k=5)
        for u in range(120):
            assert not set(items[u]) & set(R.indices[R.indptr[u]:R.indptr[u + 1]])


@pytest.mark.parametrize("dtype", ["int8", "float16"])
def test_save_load_round_trip(fitted, dtype, tmp_path):
    users = np.arange(120)
    for k, model in enumerate(fitted):
        q = quantize(model, dtype)
        path = tmp_path / f"q{k}.npz"
        mgr.save(q, path)
        back = mgr.load(path)
        assert type(back) is type(q) and back.get_params() == q.get_params()
        np.testing.assert_array_equal(back.score(users), q.score(users))
        np.testing.assert_array_equal(back.recommend(users, 7)[0], q.recommend(users, 7)[0])


def test_quantize_rejects_bad_input(fitted, train):
    with pytest.raises(DataError, match="dtype"):
        quantize(fitted[0], "int4")
    with pytest.raises(DataError, match="backend"):
        quantize(fitted[0], backend="gpu")
    with pytest.raises(DataError, match="supports"):
        quantize(mgr.Popularity().fit(train))
    with pytest.raises(DataError, match="supports"):
        quantize(mgr.UserKNN().fit(train))
    with pytest.raises(DataError, match="Recommender"):
        quantize(np.zeros((3, 3)))
    with pytest.raises(DataError, match="already"):
        quantize(quantize(fitted[0]))
    with pytest.raises(RuntimeError, match="not fitted"):
        quantize(mgr.LightGCN())
    with pytest.raises(RuntimeError, match="not fitted"):
        quantize(mgr.EASE())
    q = quantize(fitted[0])
    with pytest.raises(ValueError, match="unknown"):
        q.score([120])
    with pytest.raises(TypeError, match="quantize"):
        q.fit(train)


def test_source_model_unchanged(fitted):
    model = fitted[0]
    before = model.score(np.arange(10)).copy()
    quantize(model, "int8")
    np.testing.assert_array_equal(model.score(np.arange(10)), before)


@pytest.mark.parametrize("dtype", ["int8", "float16"])
@pytest.mark.parametrize("source", ["MF-dot", "MF-cosine", "MF-euclidean", "GFCF", "ItemKNN",
                                    "EASE"])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_block_scorer_gives_score_batchs_bits(train, dtype, source, backend):
    """``_scorer`` (evaluate's and recommend's path) widens or dequantises the item rows once
    per call; its scores are ``_score_batch``'s and the other backend's, bit for bit. A few
    users (at most ``FEW_ROWS``: the serial int8 kernel, only the touched rows of GF-CF's
    ``V`` and the item-item ``W``) get the rows a whole batch gets."""
    from minigraphrec.threadpools import FEW_ROWS
    if source == "GFCF":
        model = mgr.GFCF(n_factors=12, dtype="float64").fit(train)
    elif source == "ItemKNN":
        model = mgr.ItemKNN(k_neighbors=20).fit(train)
    elif source == "EASE":
        model = mgr.EASE(l2=20.0).fit(train)
    else:
        model = mgr.MF(dim=8, scoring=source[3:], epochs=2, random_state=0).fit(train)
    q = quantize(model, dtype, backend=backend)
    other = quantize(model, dtype, backend="numpy" if backend == "numba" else "numba")
    scorer = q._scorer()
    everyone = np.arange(q.n_users_)
    S_all = scorer(everyone)
    few = np.array([3, 0, 3, q.n_users_ - 1])
    # float16 embeddings and GF-CF's float16 ideal term are float32 BLAS products, whose
    # bits depend on how many rows BLAS is given (and on its threads); the rest is exact
    # integer sums or SciPy's sparse products, the same for any batch
    blas = dtype == "float16" and source[:2] in ("MF", "GF")
    for users in (everyone, few, np.array([7]), np.arange(FEW_ROWS + 1)):
        S = scorer(users)
        np.testing.assert_array_equal(S, q._score_batch(users))
        np.testing.assert_array_equal(S, other._score_batch(users))
        if blas:
            np.testing.assert_allclose(S, S_all[users], rtol=0,
                                       atol=1e-6 * np.abs(S_all).max())
        else:
            np.testing.assert_array_equal(S, S_all[users])
    items, scores = q.recommend([5], k=10)                            # one user: few rows
    S_5 = np.where(q.R_[5].toarray()[0] > 0, -np.inf, scorer(np.array([5]))[0])
    np.testing.assert_array_equal(scores[0], np.sort(S_5)[::-1][:10])
    np.testing.assert_array_equal(S_5[items[0]], scores[0])


@pytest.mark.parametrize("dtype", ["int8", "float16"])
def test_quantized_gfcf_scores_are_the_plain_formulas_bits(train, dtype, monkeypatch):
    """GF-CF's quantised ideal term, accumulated into the linear term chunk by chunk of rows,
    gives the bits of the whole-block formula ``S = linear + ideal``."""
    import scipy.sparse as sp_
    from minigraphrec.rank import _row_chunks
    q = quantize(mgr.GFCF(n_factors=12, dtype="float64").fit(train), dtype)
    monkeypatch.setattr("minigraphrec.rank._ROW_CHUNK", 7 * q.n_items_ + 3)
    assert len(_row_chunks(q.n_users_, q.n_items_)) > 2     # several chunks of rows
    users = np.arange(q.n_users_)
    S = np.asarray(q.linear_._score_batch(users), dtype=np.float32)
    R_b = q.R_[users]
    W_b = sp_.csr_matrix((q._in_weight[R_b.indices], R_b.indices, R_b.indptr), shape=R_b.shape)
    X = np.asarray(W_b @ q.V_q_.astype(np.float32))
    if dtype == "int8":
        Qx, sx = quantize_rows(X, "int8")
        sx = (sx * np.float32(q.alpha_)).astype(np.float32)
        S += int8_dot_scores(Qx, sx, q.V_q_, q._out_scale, backend="numpy")
    else:
        V_out = q.V_q_.astype(np.float32) * q._out_scale[:, None]
        S += np.float32(q.alpha_) * (X.astype(np.float32) @ V_out.T)
    np.testing.assert_array_equal(q._score_batch(users), S)


def test_a_subclass_with_its_own_scoring_is_refused():
    """A quantised copy scores the stored arrays as the library does: a subclass that
    changes its scores (a popularity prior, say) would lose the change silently."""
    import minigraphrec as mgr

    class PriorMF(mgr.MF):
        def _score_batch(self, users, out=None):
            return super()._score_batch(users) + np.log1p(self.R_.sum(axis=0).A1)

    class PlainMF(mgr.MF):                         # a subclass that changes no scoring
        pass

    data = mgr.datasets.synthetic(n_users=40, n_items=80, random_state=0)
    with pytest.raises(mgr.DataError, match=r"PriorMF overrides _score_batch .*would drop "
                                            r"that change"):
        mgr.quantize(PriorMF(dim=4, epochs=1, random_state=0).fit(data))
    assert mgr.quantize(PlainMF(dim=4, epochs=1, random_state=0).fit(data)).score([0]).shape \
        == (1, 80)


def test_a_subclass_with_its_own_final_embeddings_is_quantised():
    """Overriding _all_embeddings (a LightGCN variant, say) changes what is stored, not how
    it is scored: quantize takes it, and scores its embeddings."""
    import minigraphrec as mgr

    class Doubled(mgr.MF):
        def _all_embeddings(self):
            return 2.0 * super()._all_embeddings()

    data = mgr.datasets.synthetic(n_users=40, n_items=80, random_state=0)
    model = Doubled(dim=4, epochs=1, random_state=0).fit(data)
    q = mgr.quantize(model, "float16")
    np.testing.assert_allclose(q.score([0, 1]), model.score([0, 1]), rtol=2e-2, atol=1e-3)


def test_hyperparameters_changed_after_quantize_are_refused(fitted, tmp_path):
    """set_params(scoring="cosine") on a quantised dot model was taken and gave the dot
    products clipped to [-1, 1]; dtype="float16" on int8 rows kept the int8 rows under the
    new name (and saved them so). The stored arrays are made for the quantize-time values."""
    users = np.arange(5)
    for model in fitted:
        q = quantize(model, "int8")
        before = q.score(users)
        q.set_params(dtype="float16")
        with pytest.raises(ValueError, match=r"quantised with other hyperparameters \(dtype="):
            q.score(users)
        with pytest.raises(ValueError, match="quantised with other"):
            q.recommend(users, 3)
        q.set_params(dtype="int8", backend="numpy")              # the backend may change
        np.testing.assert_array_equal(q.score(users), before)
    q = quantize(fitted[0], "int8")                              # a dot-product LightGCN
    q.set_params(scoring="cosine")
    with pytest.raises(ValueError, match=r"scoring='dot' -> 'cosine'"):
        q.score(users)
    q.set_params(scoring="dot", dtype="float16")
    with pytest.raises(ValueError, match="quantised with other"):
        mgr.save(q, tmp_path / "mislabelled.npz")                # not saved mislabelled
    assert not (tmp_path / "mislabelled.npz").exists()
    from test_io import _with_meta                               # nor loaded so
    q.set_params(dtype="int8")
    mgr.save(q, tmp_path / "q.npz")
    _with_meta(tmp_path / "q.npz", lambda m: m["hyperparameters"].update(dtype="float16"))
    with pytest.raises(DataError, match=r"dtype is 'float16' but the quantised arrays are int8"):
        mgr.load(tmp_path / "q.npz")


def test_quantized_models_keep_the_item_labels():
    labels = np.array([f"title {i}" for i in range(12)])
    data = mgr.Interactions([0, 0, 1, 2, 3], [0, 1, 2, 3, 4], n_users=4, n_items=12,
                            item_labels=labels)
    for model in (mgr.EASE(l2=1.0), mgr.MF(dim=4, epochs=1, random_state=0)):
        q = quantize(model.fit(data), "int8")
        np.testing.assert_array_equal(q.item_labels_, labels)
