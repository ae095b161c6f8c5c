"""spmm: the numba kernel against SciPy's ``A @ X``, edge cases, determinism, bad input."""
import numba
import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec.errors import DataError
from minigraphrec.kernels.spmm import all_row_blocks, spmm_csr
from minigraphrec.ops import spmm

# float64 sums agree to the last bits; float32 to a few ulps of the row's scale
RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def random_csr(rng, n_rows, n_cols, density=0.2, dtype=np.float64, empty_rows=3):
    """Seeded CSR with some rows forced empty and values in [-1, 1)."""
    A = sp.random(n_rows, n_cols, density=density, format="csr", dtype=np.float64,
                  random_state=rng, data_rvs=lambda n: rng.uniform(-1, 1, n))
    if n_rows and empty_rows:
        mask = np.ones(n_rows)
        mask[rng.choice(n_rows, size=min(empty_rows, n_rows), replace=False)] = 0
        A = sp.diags(mask) @ A
        A.eliminate_zeros()
    return sp.csr_matrix(A, dtype=dtype)


def assert_close(got, ref, dtype):
    assert got.dtype == ref.dtype == dtype
    assert got.shape == ref.shape
    scale = np.abs(ref).max() if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(37, 53), (60, 20), (1, 1)])
@pytest.mark.parametrize("d", [1, 7, 64])
def test_kernel_equals_scipy(dtype, shape, d):
    rng = np.random.default_rng([shape[0], shape[1], d])
    A = random_csr(rng, *shape, dtype=dtype, empty_rows=min(3, shape[0] - 1))
    X = rng.standard_normal((shape[1], d)).astype(dtype)
    ref = A @ X                                           # SciPy, in dtype
    assert_close(spmm(A, X, backend="numba"), ref, dtype)
    assert_close(spmm(A, X, backend="numpy"), ref, dtype)
    # the raw kernel against the same reference, with an odd block count
    out = np.full((shape[0], d), np.nan, dtype=dtype)
    spmm_csr(A.indptr, A.indices, A.data, X, out, 3)
    assert_close(out, ref, dtype)


def test_hand_computed():
    # rows: 2*x1 ; x0 + x0 (a duplicate entry) - x1 ; nothing
    indptr = np.array([0, 1, 4, 4])
    indices = np.array([1, 0, 1, 0])
    data = np.array([2.0, 1.0, -1.0, 1.0])
    A = sp.csr_matrix((data, indices, indptr), shape=(3, 2))
    X = np.array([[1.0, 10.0], [3.0, 30.0]])
    want = np.array([[6.0, 60.0], [-1.0, -10.0], [0.0, 0.0]])
    for backend in ("numba", "numpy"):
        np.testing.assert_array_equal(spmm(A, X, backend=backend), want)


def test_unsorted_and_duplicate_indices_match_dense():
    rng = np.random.default_rng(3)
    n_rows, n_cols, nnz = 20, 15, 120
    rows = np.sort(rng.integers(0, n_rows, nnz))
    cols = rng.integers(0, n_cols, nnz)                   # unsorted within rows, repeats
    vals = rng.standard_normal(nnz)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    A = sp.csr_matrix((vals, cols, indptr), shape=(n_rows, n_cols))
    dense = np.zeros((n_rows, n_cols))
    np.add.at(dense, (rows, cols), vals)
    X = rng.standard_normal((n_cols, 5))
    np.testing.assert_allclose(spmm(A, X), dense @ X, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("a_dtype", [np.float64, np.int64, np.bool_])
def test_non_canonical_A_of_another_dtype_gives_the_same_bits(a_dtype):
    """Duplicates and unsorted indices in an ``A`` whose dtype is not X's: both backends sum
    in storage order (SciPy's ``astype`` would have sorted and merged the reference's copy)."""
    A = sp.csr_matrix((np.array([1e8, 1.0, -1e8]), np.array([0, 2, 1]), np.array([0, 3])),
                      shape=(1, 3))
    X = np.ones((3, 1), np.float32)
    np.testing.assert_array_equal(spmm(A, X, backend="numpy"), [[0.0]])    # float32 order
    np.testing.assert_array_equal(spmm(A, X, backend="numba"), [[0.0]])
    rng = np.random.default_rng(7)
    for _ in range(60):
        n_rows, n_cols, d = rng.integers(1, 25), rng.integers(1, 25), rng.integers(1, 5)
        lengths = rng.integers(0, 9, n_rows)
        indptr = np.r_[0, np.cumsum(lengths)]
        indices = rng.integers(0, n_cols, indptr[-1])               # unsorted, duplicates
        if a_dtype is np.float64:
            data = rng.standard_normal(indptr[-1]) * 10.0 ** rng.integers(-4, 8, indptr[-1])
        else:
            data = rng.integers(-3, 4, indptr[-1]).astype(a_dtype)
        A = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
        X = (rng.standard_normal((n_cols, d)) * 10.0 ** rng.integers(-3, 6, (n_cols, 1)))
        X = X.astype(np.float32)
        before = (A.indices.copy(), A.data.copy())
        np.testing.assert_array_equal(spmm(A, X, backend="numba"), spmm(A, X, backend="numpy"))
        np.testing.assert_array_equal(A.indices, before[0])                   # A unchanged
        np.testing.assert_array_equal(A.data, before[1])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_empty_shapes(backend):
    X = np.ones((5, 3))
    assert spmm(sp.csr_matrix((0, 5)), X, backend=backend).shape == (0, 3)
    np.testing.assert_array_equal(spmm(sp.csr_matrix((4, 0)), np.ones((0, 3)), backend=backend),
                                  np.zeros((4, 3)))
    np.testing.assert_array_equal(spmm(sp.csr_matrix((4, 5)), X, backend=backend),
                                  np.zeros((4, 3)))
    A = random_csr(np.random.default_rng(0), 4, 5)
    assert spmm(A, np.ones((5, 0)), backend=backend).shape == (4, 0)


def test_int64_indices_and_other_formats():
    rng = np.random.default_rng(5)
    A = random_csr(rng, 30, 25)
    X = rng.standard_normal((25, 4))
    ref = A @ X
    A64 = A.copy()
    A64.indices = A.indices.astype(np.int64)              # SciPy's constructor would downcast
    A64.indptr = A.indptr.astype(np.int64)
    assert A64.indices.dtype == np.int64
    assert_close(spmm(A64, X), ref, np.float64)
    assert_close(spmm(A.tocoo(), X), ref, np.float64)
    assert_close(spmm(A.tocsc(), X), ref, np.float64)
    assert_close(spmm(sp.csr_array(A), X), ref, np.float64)


def test_dtype_follows_X():
    rng = np.random.default_rng(6)
    A = random_csr(rng, 20, 30)                           # float64 values
    X32 = rng.standard_normal((30, 8)).astype(np.float32)
    ref = A.astype(np.float32) @ X32                      # the documented cast
    for backend in ("numba", "numpy"):
        assert_close(spmm(A, X32, backend=backend), ref, np.float32)
    B = sp.csr_matrix(A != 0)                             # bool values count as 1
    assert_close(spmm(B, X32), B.astype(np.float32) @ X32, np.float32)


def test_non_contiguous_X():
    rng = np.random.default_rng(7)
    A = random_csr(rng, 12, 10)
    X = np.asfortranarray(rng.standard_normal((10, 6)))
    assert_close(spmm(A, X), A @ X, np.float64)
    Xs = rng.standard_normal((10, 12))[:, ::2]
    assert_close(spmm(A, Xs), A @ np.ascontiguousarray(Xs), np.float64)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_out_is_written_and_returned(backend):
    rng = np.random.default_rng(8)
    A = random_csr(rng, 9, 11)
    X = rng.standard_normal((11, 4))
    out = np.full((9, 4), np.nan)
    got = spmm(A, X, backend=backend, out=out)
    assert got is out
    assert_close(out, A @ X, np.float64)


def test_deterministic_for_any_thread_count_and_block_split():
    rng = np.random.default_rng(9)
    A = random_csr(rng, 400, 300, density=0.05)
    X = rng.standard_normal((300, 16)).astype(np.float32)
    first = spmm(A, X)
    np.testing.assert_array_equal(spmm(A, X), first)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        np.testing.assert_array_equal(spmm(A, X), first)
    finally:
        numba.set_num_threads(before)
    data = A.data.astype(np.float32)
    for n_blocks in (1, 2, 5, 1000):
        out = np.empty_like(first)
        spmm_csr(A.indptr, A.indices, data, X, out, n_blocks)
        np.testing.assert_array_equal(out, first)


def test_row_blocks_cover_rows_with_balanced_work():
    rng = np.random.default_rng(10)
    deg = rng.integers(0, 50, size=1000)
    deg[:10] = 2000                                       # a few heavy rows first
    indptr = np.concatenate([[0], np.cumsum(deg)])
    bounds = all_row_blocks(indptr, 8)
    assert bounds[0] == 0 and bounds[-1] == 1000 and bounds.shape == (9,)
    assert np.all(np.diff(bounds) >= 0)
    work = indptr[bounds] + bounds                        # cumulative work at the bounds
    per_block = np.diff(work)
    # every block ends at the first row reaching its target, so it exceeds
    # total/8 by at most one row's work
    assert per_block.max() <= work[-1] / 8 + (deg.max() + 1)
    empty = all_row_blocks(np.zeros(1, dtype=np.int64), 4)
    np.testing.assert_array_equal(empty, np.zeros(5))
    # the row kernels' split of a subset of rows, over every row: the same bounds
    from minigraphrec.kernels.propagate_rows import row_blocks_of
    for n_blocks in (1, 3, 8, 2000):
        np.testing.assert_array_equal(row_blocks_of(indptr, np.arange(1000), n_blocks),
                                      all_row_blocks(indptr, n_blocks))


# ------------------------------------------------------------------ bad input
def test_bad_inputs():
    rng = np.random.default_rng(11)
    A = random_csr(rng, 6, 5)
    X = rng.standard_normal((5, 3))
    with pytest.raises(TypeError, match="scipy sparse"):
        spmm(A.toarray(), X)
    with pytest.raises(TypeError, match="dense ndarray"):
        spmm(A, sp.csr_matrix(X))
    with pytest.raises(DataError, match="float32 or float64, got int64"):
        spmm(A, np.ones((5, 3), dtype=np.int64))
    with pytest.raises(DataError, match=r"2-d \(n, d\), got shape \(5,\)"):
        spmm(A, np.ones(5))
    with pytest.raises(DataError, match=r"A has shape \(6, 5\) and X has shape \(4, 3\)"):
        spmm(A, np.ones((4, 3)))
    with pytest.raises(DataError, match="real .* dtype, got complex128"):
        spmm(A.astype(np.complex128), X)
    with pytest.raises(DataError, match="backend must be one of"):
        spmm(A, X, backend="torch")


def test_bad_out():
    rng = np.random.default_rng(12)
    A = random_csr(rng, 6, 6)
    X = rng.standard_normal((6, 3))
    with pytest.raises(DataError, match=r"out has shape \(6, 4\) and dtype float64, "
                                        r"expected \(6, 3\) and float64"):
        spmm(A, X, out=np.empty((6, 4)))
    with pytest.raises(DataError, match="expected"):
        spmm(A, X, out=np.empty((6, 3), dtype=np.float32))
    with pytest.raises(DataError, match="C-contiguous"):
        spmm(A, X, out=np.empty((6, 3), order="F"))
    with pytest.raises(DataError, match="overlaps X"):
        spmm(A, X, out=X)
    with pytest.raises(TypeError, match="out must be an ndarray"):
        spmm(A, X, out=[[0.0] * 3] * 6)


def test_corrupt_csr_is_refused():
    X = np.ones((3, 2))
    bad_col = sp.csr_matrix((np.ones(2), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 3))
    bad_col.indices[1] = 7                               # bypasses SciPy's constructor
    with pytest.raises(DataError, match=r"row 1 holds column index 7, outside 0..2"):
        spmm(bad_col, X)
    bad_col.indices[1] = -1
    with pytest.raises(DataError, match=r"row 1 holds column index -1, outside 0..2"):
        spmm(bad_col, X)
    decreasing = sp.csr_matrix((np.ones(2), np.array([0, 1]), np.array([0, 2, 2])), shape=(2, 3))
    decreasing.indptr[1] = 3
    decreasing.indptr[2] = 2
    with pytest.raises(DataError, match="indptr"):
        spmm(decreasing, X)


# ------------------------------------------------ sparse x sparse, dense result
def _messy_csr(rng, shape, density):
    """Random CSR (values of mixed magnitudes) with empty rows, each row's indices in random
    order, and row 0 holding column 0 twice (a duplicate SciPy keeps, in storage order)."""
    n_rows, n_cols = shape
    indptr, indices = [0], []
    for r in range(n_rows):
        cols = np.flatnonzero(rng.random(n_cols) < density)
        if r == 0:
            cols = np.concatenate([[0, 0], cols[cols > 0]])
        elif r % 5 == 1:
            cols = cols[:0]                                       # an empty row
        indices.extend(rng.permutation(cols) if r else cols)
        indptr.append(len(indices))
    data = rng.standard_normal(len(indices)) * 10.0 ** rng.integers(-8, 3, len(indices))
    return sp.csr_matrix((data, np.array(indices, dtype=np.int32), np.array(indptr)),
                         shape=shape)


def test_spgemm_dense_equals_scipy_bit_for_bit_on_any_thread_count():
    from minigraphrec.ops.sparse import spgemm_dense
    rng = np.random.default_rng(0)
    for shape_a, shape_b, density in (((40, 30), (30, 500), 0.2), ((7, 3), (3, 9), 0.9),
                                      ((25, 60), (60, 80), 0.02)):
        A = _messy_csr(rng, shape_a, density)
        B = _messy_csr(rng, shape_b, density)
        for rows in (None, np.array([3, 0, 3, shape_a[0] - 1]), np.zeros(0, dtype=np.int64)):
            expected = spgemm_dense(A, B, rows, backend="numpy")
            sel = np.arange(shape_a[0]) if rows is None else rows
            np.testing.assert_array_equal(expected, (A[sel] @ B).toarray())
            old = numba.get_num_threads()
            try:
                for n in (1, old):
                    numba.set_num_threads(n)
                    got = spgemm_dense(A, B, rows)
                    assert got.dtype == np.float64 and got.shape == expected.shape
                    np.testing.assert_array_equal(got, expected)
                    assert np.array_equal(np.signbit(got), np.signbit(expected))
                    for backend in ("numba", "numpy"):               # into the caller's array
                        out = np.full(expected.shape, np.nan)
                        assert spgemm_dense(A, B, rows, backend=backend, out=out) is out
                        np.testing.assert_array_equal(out, expected)
            finally:
                numba.set_num_threads(old)


def test_spgemm_dense_bad_input():
    from minigraphrec.ops.sparse import spgemm_dense
    A = sp.random(4, 3, density=0.5, format="csr", random_state=0)
    B = sp.random(3, 5, density=0.5, format="csr", random_state=1)
    with pytest.raises(DataError, match=r"A is \(4, 3\) and B is \(4, 3\)"):
        spgemm_dense(A, A)
    with pytest.raises(DataError, match=r"rows\[1\] = 4 is outside A's rows 0..3"):
        spgemm_dense(A, B, rows=[0, 4])
    with pytest.raises(DataError, match="rows must be a 1-d integer array"):
        spgemm_dense(A, B, rows=[0.5])
    with pytest.raises(TypeError, match="A must be a scipy sparse"):
        spgemm_dense(A.toarray(), B)
    with pytest.raises(DataError, match="backend"):
        spgemm_dense(A, B, backend="cuda")
    for out, match in ((np.empty((4, 4)), r"out has shape \(4, 4\) .* expected \(4, 5\)"),
                       (np.empty((4, 5), dtype=np.float32), "dtype float32, expected"),
                       (np.empty((5, 4)).T, "out must be C-contiguous")):
        with pytest.raises(DataError, match=match):
            spgemm_dense(A, B, out=out)


def _with_int64_indices(A):
    """``A`` with int64 ``indptr`` and ``indices`` (SciPy's constructor would downcast them)."""
    A64 = A.copy()
    A64.indptr, A64.indices = A.indptr.astype(np.int64), A.indices.astype(np.int64)
    return A64


def test_spgemm_dense_int64_indices_give_the_same_bits(monkeypatch):
    """int64 index arrays (a matrix past 2**31 entries, or one built so) compile the kernel
    for another index type: the same bits as the int32 run and as SciPy, in every mix."""
    from minigraphrec.kernels import spgemm as kernels
    from minigraphrec.ops.sparse import spgemm_dense
    rng = np.random.default_rng(4)
    A, B = _messy_csr(rng, (30, 20), 0.3), _messy_csr(rng, (20, 70), 0.3)
    assert A.indices.dtype == B.indices.dtype == np.int32
    seen = []                                                  # index dtypes the kernel got
    kernel = kernels.csr_rows_times_csr

    def spy(a_indptr, a_indices, a_data, rows, b_indptr, b_indices, b_data, out):
        seen.append((a_indptr.dtype, a_indices.dtype, b_indptr.dtype, b_indices.dtype))
        return kernel(a_indptr, a_indices, a_data, rows, b_indptr, b_indices, b_data, out)

    monkeypatch.setattr(kernels, "csr_rows_times_csr", spy)
    for rows in (None, np.array([29, 0, 7, 7], dtype=np.int32)):
        expected = spgemm_dense(A, B, rows, backend="numpy")
        for A_, B_ in ((_with_int64_indices(A), _with_int64_indices(B)),
                       (_with_int64_indices(A), B), (A, _with_int64_indices(B))):
            np.testing.assert_array_equal(spgemm_dense(A_, B_, rows, backend="numpy"), expected)
            got = spgemm_dense(A_, B_, rows)
            assert seen[-1] == (A_.indptr.dtype, A_.indices.dtype, B_.indptr.dtype,
                                B_.indices.dtype)                  # int64 reached the kernel
            np.testing.assert_array_equal(got, expected)
            assert np.array_equal(np.signbit(got), np.signbit(expected))


def test_propagation_of_a_non_canonical_A_of_another_dtype_gives_the_same_bits():
    """propagate_forward / lightgcn_forward / propagate_rows_forward's NumPy path cast A with
    SciPy's astype, which merged duplicates and sorted the copy: another order of summation
    than the kernel's."""
    from minigraphrec.ops.propagate import (lightgcn_forward, propagate_forward,
                                            propagate_rows_forward)
    A = sp.csr_matrix((np.array([1e8, 1.0, -1e8]), np.array([0, 2, 1]), np.array([0, 3, 3, 3])),
                      shape=(3, 3))
    X = np.ones((3, 2), np.float32)
    for backend in ("numpy", "numba"):
        np.testing.assert_array_equal(propagate_forward(A, X, backend=backend)[0][0], [0, 0])
        np.testing.assert_array_equal(propagate_rows_forward(A, X, [0], backend=backend)[0],
                                      [[0, 0]])
        np.testing.assert_array_equal(lightgcn_forward(A, X, 1, backend=backend)[0][0],
                                      [0.5, 0.5])        # (E0 + A E0) / 2: 1/2 + 0/2


def test_small_products_run_on_one_numba_thread_with_the_same_bits(monkeypatch):
    """Below SERIAL_BELOW multiply-adds (GF-CF's one-user products) spmm's kernel runs on one
    numba thread, and spgemm_dense's below SERIAL_BELOW outputs; above, on the pool; the
    same bits either way, equal to the NumPy reference."""
    import numba
    import scipy.sparse as sp

    from minigraphrec.kernels import spgemm as spgemm_kernels
    from minigraphrec.kernels import spmm as spmm_kernels
    from minigraphrec.ops import sparse
    threads = []
    for module, name in ((spmm_kernels, "spmm_csr"), (spgemm_kernels, "csr_rows_times_csr")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real:
                            threads.append(numba.get_num_threads()) or real(*a))
    A = sp.random(300, 200, density=0.05, format="csr", random_state=0)
    X = np.random.default_rng(0).standard_normal((200, 3))
    B = sp.random(200, 50, density=0.1, format="csr", random_state=1)
    expected = (sparse.spmm(A, X, backend="numpy"),
                sparse.spgemm_dense(A, B, rows=[4, 7], backend="numpy"))
    for below in (0, 10 ** 9):                               # pool, then one thread
        monkeypatch.setattr(sparse, "SERIAL_BELOW", below)
        with mgr.threads(2):
            got = sparse.spmm(A, X), sparse.spgemm_dense(A, B, rows=[4, 7])
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
    pool = min(2, numba.config.NUMBA_NUM_THREADS)
    assert threads == [pool, pool, 1, 1]
