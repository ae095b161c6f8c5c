"""The shared checks of minigraphrec.errors: the backend check and ``check_ids``."""
import numpy as np
import pytest

import scipy.sparse as sp

from minigraphrec.errors import (DataError, check_backend, check_finite_sparse, check_ids, check_int,
                                 check_param_number, check_sparse_arrays)


def test_check_ids_returns_int64_and_keeps_the_values():
    for x in ([3, 0, 2], np.array([3, 0, 2], dtype=np.uint8), np.array([3, 0, 2], np.int32)):
        out = check_ids(x, "ids", 4)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, [3, 0, 2])
    empty = check_ids(np.array([]), "ids", 4)               # np.array([]) is float64
    assert empty.dtype == np.int64 and empty.shape == (0,)
    np.testing.assert_array_equal(check_ids([10 ** 12], "ids"), [10 ** 12])   # no bound


@pytest.mark.parametrize("x, n, match", [
    ([0, 4], 4, r"ids\[1\] = 4 is out of range 0..3"),
    ([-1, 2], 4, r"ids\[0\] = -1 is out of range 0..3"),
    ([2, -3], None, r"ids\[1\] = -3 is negative; ids are >= 0"),
    ([0.0, 1.0], 4, "ids must hold integer ids, got dtype float64"),
    ([True, False], 4, "ids must hold integer ids, got dtype bool"),
    (["a"], 4, "ids must hold integer ids, got dtype <U1"),
    ([[0, 1]], 4, r"ids must be a 1-d array of integer ids, got shape \(1, 2\)"),
    (3, 4, r"ids must be a 1-d array of integer ids, got shape \(\)"),
    ([[0], [1, 2]], 4, "ids must be a 1-d array of integer ids"),          # ragged
])
def test_check_ids_rejects_bad_arrays_with_a_data_error(x, n, match):
    with pytest.raises(DataError, match=match):
        check_ids(x, "ids", n)


@pytest.mark.parametrize("x", [None, "0 1 2", {0: 1}, {0, 1}])
def test_check_ids_type_error_only_for_what_is_no_array(x):
    with pytest.raises(TypeError, match="ids must be an array of integer ids"):
        check_ids(x, "ids", 4)


def test_check_backend():
    assert check_backend("numba") == "numba"
    with pytest.raises(DataError, match="backend must be one of"):
        check_backend("cuda")


def test_check_int_returns_a_python_int():
    assert check_int(np.int16(3), "k") == 3 and type(check_int(np.int16(3), "k")) is int
    assert check_int(0, "epochs", at_least=0) == 0
    assert check_int(None, "max_len", or_none=True) is None


@pytest.mark.parametrize("value, kwargs, match", [
    (0, {}, r"k must be an integer >= 1, got 0"),
    (-1, dict(at_least=0), r"k must be an integer >= 0, got -1"),
    (2.0, {}, r"got 2\.0"),                                    # never rounded
    ("3", {}, r"got '3'"),                                     # never parsed
    (True, {}, r"got True"),                                   # a bool is no count
    (np.bool_(True), {}, r"got np\.True_|got True"),
    (None, {}, r"k must be an integer >= 1, got None"),
    (0, dict(or_none=True), r"k must be an integer >= 1 or None, got 0"),
])
def test_check_int_refuses_with_a_data_error_naming_the_argument(value, kwargs, match):
    with pytest.raises(DataError, match=match):
        check_int(value, "k", **kwargs)


def test_int64_ids_takes_any_integer_dtype_and_names_what_it_refuses():
    """The one int64 conversion of 2-d id arrays (membership pairs, ranked lists): a uint64
    id above 2**63 - 1 would wrap to a negative one, so it is refused by its index."""
    from minigraphrec.errors import int64_ids
    got = int64_ids(np.array([[1, 2], [3, 4]], dtype=np.uint8), "pairs")
    assert got.dtype == np.int64 and got.tolist() == [[1, 2], [3, 4]]
    same = np.zeros((2, 2), dtype=np.int64)
    assert int64_ids(same, "pairs") is same                       # not copied
    big = np.array([[0, 1], [2**63, 5]], dtype=np.uint64)
    with pytest.raises(DataError, match=rf"pairs\[1, 0\] = {2**63} is beyond the int64 ids"):
        int64_ids(big, "pairs")
    with pytest.raises(DataError, match="ranked must hold integer item ids, got dtype bool"):
        int64_ids(np.ones((1, 2), dtype=bool), "ranked", "item ids")
    assert int64_ids(np.zeros((0, 2)), "pairs").dtype == np.int64   # empty: any dtype


def test_membership_pairs_refuse_uint64_ids_beyond_int64():
    """(Ranked lists: tests/test_input_checks.py.)"""
    from minigraphrec.privacy import membership_inference
    import minigraphrec as mgr
    model = mgr.Popularity().fit(mgr.Interactions([0, 1], [0, 1], n_users=2, n_items=3))
    pairs = np.array([[0, 0], [1, 2**63]], dtype=np.uint64)
    with pytest.raises(DataError, match=rf"members\[1, 1\] = {2**63} is beyond the int64 ids"):
        membership_inference(model, pairs, [[0, 2]])


@pytest.mark.parametrize("value, kwargs, match", [
    ("1e-3", {"above": 0.0}, r"lr must be a finite number > 0, got '1e-3'"),
    (True, {"at_least": 0.0}, r"lr must be a finite number >= 0, got True"),
    (None, {}, r"lr must be a finite number, got None"),
    (np.nan, {}, r"lr must be a finite number, got nan"),
    (0.0, {"above": 0.0}, r"lr must be a finite number > 0, got 0.0"),
    (np.array(0.1), {}, r"lr must be a finite number, got array\(0.1\)"),
])
def test_check_param_number_refuses_every_bad_value_with_a_data_error(value, kwargs, match):
    """A model's float hyperparameter: a value of the wrong kind is a DataError too (never
    parsed), saying the bound; a NumPy float is taken."""
    with pytest.raises(DataError, match=match):
        check_param_number(value, "lr", **kwargs)
    assert check_param_number(np.float32(0.5), "lr", above=0.0) == 0.5


def test_check_finite_sparse_names_the_first_bad_entry_in_row_order():
    A = sp.coo_matrix((np.array([np.inf, -1.0, np.nan, 2.0]), (np.array([2, 0, 1, 0]),
                                                              np.array([0, 3, 1, 1]))),
                      shape=(3, 4)).tocsr()
    with pytest.raises(DataError, match=r"^A\[1, 1\] = nan is not finite; one NaN or inf "):
        check_finite_sparse(A, "A")
    with pytest.raises(DataError, match=r"^A\[0, 3\] = -1.0 is negative: counts are >= 0$"):
        check_finite_sparse(A, "A", nonnegative=True, why_nonnegative=": counts are >= 0")
    ok = sp.csr_matrix(np.array([[0.0, 1.0], [2.0, 0.0]]))
    assert check_finite_sparse(ok, "A", nonnegative=True) is ok


def _reversed_rows(A):
    """``A`` (CSR) with each row's entries stored in reverse column order."""
    order = np.concatenate([np.arange(b - 1, a - 1, -1) for a, b in zip(A.indptr[:-1], A.indptr[1:])])
    B = sp.csr_matrix((A.data[order], A.indices[order], A.indptr), shape=A.shape)
    assert not B.has_sorted_indices
    return B


@pytest.mark.parametrize("convert", [
    lambda D: D, sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.lil_matrix,
    lambda D: _reversed_rows(sp.csr_matrix(D)),
], ids=["dense", "csr", "csc", "coo", "lil", "csr-unsorted"])
def test_check_finite_sparse_row_order_in_every_format(convert):
    """Every format names the same first bad entry in row order (a CSC stores column 0
    first, an unsorted CSR row its last column first), its value and, when only the
    product's dtype makes it infinite, its value in that dtype."""
    D = np.array([[0.0, 2.0, 1e300], [np.nan, 0.0, 1.0]])
    A = convert(D)
    with pytest.raises(DataError, match=r"^A\[0, 2\] = 1e\+300, inf in float32 is not finite"):
        check_finite_sparse(A, "A", np.float32)
    with pytest.raises(DataError, match=r"^A\[1, 0\] = nan is not finite"):
        check_finite_sparse(A, "A")
    D[1, 0] = 3.0
    assert check_finite_sparse(convert(D), "A") is not None


def test_check_finite_sparse_integers_and_unused_storage():
    """Integer values are finite but may be negative; a CSR's values past ``indptr[-1]``
    (storage a kernel never reads) are not checked."""
    A = sp.csr_matrix(np.array([[0, 3], [-2, 0]], dtype=np.int64))
    assert check_finite_sparse(A, "A") is A
    with pytest.raises(DataError, match=r"^A\[1, 0\] = -2 is negative$"):
        check_finite_sparse(A, "A", nonnegative=True)
    B = sp.csr_matrix((np.array([1.0, np.nan]), np.array([0, 1]), np.array([0, 1, 1])),
                      shape=(2, 2))
    assert check_finite_sparse(B, "B", nonnegative=True) is B


def test_as_csr_refuses_a_coo_matrix_whose_indices_were_edited():
    """A COO matrix edited after SciPy built it (row 10^6 in a 2 x 2 matrix) crashed the
    process in ``tocsr``; every path through ``ops.sparse.as_csr`` now names the entry."""
    from minigraphrec.ops.sparse import as_csr
    M = sp.coo_matrix(np.eye(2))
    M.row[0] = 10**6
    with pytest.raises(DataError, match=r"^M is not a valid COO matrix of shape \(2, 2\): "
                       r"entry 0 has row index 1000000, outside 0\.\.1$"):
        as_csr(M, "M")
    M.row[0], M.col[1] = 0, -1
    with pytest.raises(DataError, match=r"entry 1 has column index -1, outside 0\.\.1$"):
        check_sparse_arrays(M, "M")
    ok = sp.coo_matrix(np.eye(2))
    assert check_sparse_arrays(ok, "M") is ok and as_csr(ok).nnz == 2


def test_check_compressed_sees_a_decreasing_unsigned_indptr():
    """``np.diff`` of a uint64 ``indptr`` wraps (1 - 2 is 2^64 - 1), so ``[0, 2, 1, 2]`` passed
    as rising: its row 1 would read entries 2..0."""
    from minigraphrec.errors import check_compressed
    indptr = np.array([0, 2, 1, 2], dtype=np.uint64)
    with pytest.raises(DataError, match=r"its indptr decreases at row 1 \(2 then 1\)"):
        check_compressed(indptr, np.array([0, 1]), np.ones(2), (3, 2), "csr", "M")
    check_compressed(np.array([0, 1, 1, 2], dtype=np.uint64), np.array([0, 1], np.uint32),
                     np.ones(2), (3, 2), "csr", "M")


def test_check_sparse_arrays_refuses_a_bsr_whose_data_is_short():
    """A BSR matrix whose data array was cut after SciPy built it: tocsr read past its end."""
    M = sp.bsr_matrix(np.eye(8), blocksize=(2, 2))
    M.data = M.data[:1]
    with pytest.raises(DataError, match=r"^M is not a valid BSR matrix: its data has shape "
                                        r"\(1, 2, 2\) for 4 blocks of 2x2$"):
        check_sparse_arrays(M, "M")


def test_lightgcn_rows_names_a_value_that_only_the_cast_makes_infinite():
    """As every propagation op: the value as stored and in the embeddings' dtype, no
    overflow warning from a cast first."""
    import warnings
    from minigraphrec.ops import lightgcn_rows_forward
    A = sp.csr_matrix(np.array([[0.0, 1e300], [1e300, 0.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"A_hat\[0, 1\] = 1e\+300, inf in float32 is "
                                            r"not finite"):
            lightgcn_rows_forward(A, np.ones((2, 3), np.float32), 1, np.array([0]))
