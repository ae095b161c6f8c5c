"""Input checks of the ops (``mgr.ops``) and of ``mgr.rank``, from an audit.

The rule (README, ``minigraphrec/errors.py``): a rejected array raises ``DataError`` (a
ValueError) naming what and where; ``TypeError`` only for an argument that is no array at
all; nothing is broadcast or silently dropped.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec import rank
from minigraphrec.errors import DataError, check_ids
from minigraphrec.ops import dense, embedding, propagate, scoring, session
from minigraphrec.ops.lightgcn_rows import lightgcn_rows_backward, lightgcn_rows_forward

ops = mgr.ops
RNG = np.random.default_rng(0)


def _gru(N=3, d=2, backend="numba"):
    rng = np.random.default_rng(1)
    return ops.gru_cell_forward(rng.standard_normal((N, d)), rng.standard_normal((N, d)),
                                rng.standard_normal((d, 3 * d)), rng.standard_normal((d, 3 * d)),
                                rng.standard_normal(3 * d), backend=backend)


# ------------------------------------------------------------ 1. gru_cell_backward
@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (1, 2), (3,), (4, 2)])
def test_gru_cell_backward_checks_dh_new_shape(backend, shape):
    _, cache = _gru(backend=backend)
    with pytest.raises(DataError, match=r"dh_new has shape .*forward's output has \(3, 2\)"):
        ops.gru_cell_backward(cache, np.ones(shape))


def test_gru_cell_backward_short_dh_new_on_many_rows_is_refused_not_read_past():
    _, cache = _gru(N=20000, d=8)          # the kernel would read 20000 rows of a 1-row array
    with pytest.raises(DataError, match="dh_new"):
        ops.gru_cell_backward(cache, np.ones((1, 8)))


# ------------------------------------------------------------ 2. backward shapes
def _bwd_cases():
    X = RNG.standard_normal((2,))
    U = RNG.standard_normal((3, 2))
    cases = []
    for name in ("relu", "leaky_relu", "sigmoid", "tanh", "identity"):
        fwd, bwd = dense.ACTIVATIONS[name]
        cases.append((name, bwd, fwd(X)[1], np.ones((3, 2))))
    cases.append(("dropout", dense.dropout_backward,
                  dense.dropout_forward(np.ones((5, 3)), 0.5, np.random.default_rng(0))[1],
                  np.ones((2, 5, 3))))
    cases.append(("dot", scoring.dot_backward, scoring.dot_forward(U, U)[1], np.ones((3, 1))))
    cases.append(("dot scalar", scoring.dot_backward, scoring.dot_forward(U, U)[1], 1.0))
    cases.append(("cosine", scoring.cosine_backward, scoring.cosine_forward(U, U)[1],
                  np.ones((3, 1))))
    cases.append(("euclidean", scoring.euclidean_backward,
                  scoring.euclidean_forward(U, U + 1)[1], np.ones((3, 1))))
    cases.append(("normalize", scoring.normalize_backward, scoring.normalize_forward(U)[1],
                  np.ones((1, 2))))
    cases.append(("gather", embedding.gather_backward,
                  embedding.gather_forward(np.ones((4, 2)), [0, 1, 3])[1], np.ones((3, 5))))
    cases.append(("gather_rows", embedding.gather_backward_rows,
                  embedding.gather_forward(np.ones((4, 2)), [0, 1, 3])[1], np.ones((3, 1))))
    cases.append(("linear", dense.linear_backward,
                  dense.linear_forward(U, np.ones((2, 4)), np.ones(4))[1], np.ones((3, 5))))
    A = sp.random(3, 3, density=0.5, random_state=0, format="csr")
    cases.append(("propagate", propagate.propagate_backward,
                  propagate.propagate_forward(A, U)[1], np.ones((3, 3))))
    cases.append(("lightgcn", propagate.lightgcn_backward,
                  propagate.lightgcn_forward(A, U, 2)[1], np.ones((3, 1))))
    cases.append(("propagate_rows", propagate.propagate_rows_backward,
                  propagate.propagate_rows_forward(A, U, [0, 2])[1], np.ones((2, 3))))
    cases.append(("session_propagate", session.session_propagate_backward,
                  session.session_propagate_forward(A, U)[1], np.ones((3, 1))))
    P = RNG.standard_normal((5, 2))
    W, c = np.eye(2), np.ones(2)
    for n in (3, 1):                       # B = 2 sessions: one row too many, one too few
        cases.append((f"readout {n}", session.session_readout_backward,
                      session.session_readout_forward(P, [0, 2, 5], W, W, c, c)[1],
                      np.ones((n, 2))))
    cases.append(("readout W3", session.session_readout_backward,
                  session.session_readout_forward(P, [0, 2, 5], W, W, c, c, np.ones((4, 3)))[1],
                  np.ones((2, 2))))
    G = ops.attention_graph(sp.eye(3, format="csr") + A)
    cases.append(("gat_layer", ops.gat_layer_backward,
                  ops.gat_layer_forward(G, U, np.ones((2, 4)), np.ones((2, 2)),
                                        np.ones((2, 2)))[1], np.ones((3, 2))))
    return cases


@pytest.mark.parametrize("name, bwd, cache, grad", _bwd_cases(), ids=lambda c: c
                         if isinstance(c, str) else "")
def test_every_backward_rejects_a_gradient_of_another_shape(name, bwd, cache, grad):
    with pytest.raises(DataError, match=r"has shape|must have \d+ rows"):
        bwd(cache, grad)


def test_gather_backward_takes_its_width_from_E_not_from_drows():
    _, cache = ops.gather_forward(np.ones((4, 2)), [0, 1, 2])
    with pytest.raises(DataError, match=r"E's row shape \(2,\).*got \(3, 5\)"):
        ops.gather_backward(cache, np.ones((3, 5)))
    assert ops.gather_backward(cache, np.ones((3, 2))).shape == (4, 2)


def test_linear_backward_names_dZ_not_an_internal_helper():
    _, cache = ops.linear_forward(np.ones((3, 2)), np.ones((2, 4)))
    with pytest.raises(DataError, match=r"dZ has shape \(2, 4\), the forward's output has "
                                        r"\(3, 4\)"):
        ops.linear_backward(cache, np.ones((2, 4)))


def test_backward_rejects_an_integer_gradient():
    _, cache = ops.relu_forward(np.ones(3))
    with pytest.raises(DataError, match="dY must be float32 or float64, got int64"):
        ops.relu_backward(cache, np.ones(3, dtype=np.int64))


# ------------------------------------------------------------ 3. integer / float16 norms
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16])
def test_normalize_and_cosine_reject_dtypes_where_eps_is_zero(dtype):
    with pytest.raises(DataError, match=f"must be float32 or float64, got {np.dtype(dtype)}"):
        ops.normalize_forward(np.array([[0, 0], [3, 4]], dtype=dtype))
    with pytest.raises(DataError, match=f"U must be float32 or float64, got {np.dtype(dtype)}"):
        ops.cosine_forward(np.zeros((1, 2), dtype), np.ones((1, 2), dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_zero_row_scores_zero_in_the_ops_dtypes(dtype):
    Y, _ = ops.normalize_forward(np.array([[0, 0], [3, 4]], dtype=dtype))
    np.testing.assert_array_equal(Y, np.array([[0, 0], [0.6, 0.8]], dtype=dtype))
    s, _ = ops.cosine_forward(np.zeros((1, 2), dtype), np.ones((1, 2), dtype))
    assert s[0] == 0


def test_normalize_rejects_an_eps_that_is_zero_in_the_dtype_or_not_finite():
    with pytest.raises(DataError, match="eps must be positive.*float32"):
        ops.normalize_forward(np.ones((2, 2), np.float32), eps=1e-50)
    with pytest.raises(DataError, match="eps must be a finite number"):
        ops.normalize_forward(np.ones((2, 2)), eps=np.inf)


# ------------------------------------------------------------ 4. exception types
A3 = sp.identity(3, format="csr")


@pytest.mark.parametrize("call, match", [
    (lambda: ops.spmm(A3, np.ones((3, 2), int)), "X must be float32 or float64, got int64"),
    (lambda: ops.propagate_forward(A3, np.ones((3, 2), int)), "X must be float32"),
    (lambda: ops.lightgcn_forward(A3, np.ones((3, 2), int), 2), "E0 must be float32"),
    (lambda: ops.lightgcn_forward(A3, np.ones((3, 2), np.float16), 2),
     "E0 must be float32 or float64, got float16"),
    (lambda: ops.propagate_rows_forward(A3, np.ones((3, 2), np.float16), [0]), "X must be"),
    (lambda: ops.linear_forward(np.ones((3, 2), int), np.ones((2, 2))), "X must be float32"),
    (lambda: ops.sigmoid_forward(np.ones(2, np.float16)), "X must be float32"),
    (lambda: ops.dot_forward(np.ones((1, 2), int), np.ones((1, 2))), "U must be float32"),
    (lambda: ops.edge_softmax_forward([0, 1], np.ones(1, int)), "logits must be float32"),
    (lambda: ops.edge_softmax_forward(np.array([0.0, 1.0]), np.ones(1)),
     "indptr must have an integer dtype"),
    (lambda: ops.gat_logits_forward([0, 1], [0], np.ones((1, 2)), np.ones(2, np.float32),
                                    np.ones(2, np.float32)), "Z's dtype"),
    (lambda: ops.gru_cell_forward(np.ones((3, 2), int), np.ones((3, 2)), np.ones((2, 6)),
                                  np.ones((2, 6)), np.ones(6)), "a must be float32"),
])
def test_a_wrong_dtype_is_a_data_error(call, match):
    with pytest.raises(DataError, match=match):
        call()


def test_lightgcn_forward_and_rows_forward_agree_on_the_error_type():
    E0 = np.ones((3, 2), dtype=int)
    for call in (lambda: ops.lightgcn_forward(A3, E0, 2),
                 lambda: ops.lightgcn_rows_forward(A3, E0, 2, [0])):
        with pytest.raises(DataError, match="E0 must be float32 or float64"):
            call()


def test_no_array_at_all_is_a_type_error_naming_its_type():
    with pytest.raises(TypeError, match="X must be a float32 or float64 array, got NoneType"):
        ops.spmm(A3, None)
    with pytest.raises(TypeError, match="got str"):
        ops.relu_forward("1.0")


@pytest.mark.parametrize("name", ["identity", "relu", "leaky_relu", "sigmoid", "tanh"])
def test_every_activation_checks_X_alike(name):
    """identity_forward returned a string or an int array unchecked; now it is checked as
    the other activations check X, and still returns a float array itself, uncopied."""
    fwd = dense.ACTIVATIONS[name][0]
    with pytest.raises(TypeError, match="X must be a float32 or float64 array, got str"):
        fwd("abc")
    with pytest.raises(TypeError, match="got NoneType"):
        fwd(None)
    with pytest.raises(DataError, match="X must be float32 or float64, got int64"):
        fwd(np.ones((2, 2), dtype=np.int64))
    with pytest.raises(DataError, match="got complex128 \\(complex values are not taken"):
        fwd(np.ones(2, dtype=complex))
    X = np.ones((2, 3), np.float32)
    Y, _ = fwd(X)
    assert Y.dtype == np.float32 and Y.shape == (2, 3)
    if name == "identity":
        assert Y is X


def test_propagate_rows_backward_checks_out():
    _, cache = ops.propagate_rows_forward(A3, np.ones((3, 2)), [0, 2])
    with pytest.raises(TypeError, match="out must be an ndarray, got list"):
        ops.propagate_rows_backward(cache, np.ones((2, 2)), out=[0])
    ro = np.zeros((3, 2))
    ro.flags.writeable = False
    with pytest.raises(DataError, match="writeable"):
        ops.propagate_rows_backward(cache, np.ones((2, 2)), out=ro)


def test_lightgcn_rows_backward_checks_out():
    _, cache = lightgcn_rows_forward(A3, np.ones((3, 2)), 1, [0])
    with pytest.raises(TypeError, match="out must be an ndarray, got list"):
        lightgcn_rows_backward(cache, np.ones((1, 2)), out=[0])
    ro = np.zeros((3, 2))
    ro.flags.writeable = False
    with pytest.raises(DataError, match="writeable"):
        lightgcn_rows_backward(cache, np.ones((1, 2)), out=ro)


def test_check_ids_names_a_uint64_id_beyond_int64_as_it_is():
    with pytest.raises(DataError, match=r"idx\[0\] = 9223372036854775809 is out of range 0..2"):
        ops.gather_forward(np.ones((3, 2)), np.array([2**63 + 1], np.uint64))
    with pytest.raises(DataError, match=r"ids\[1\] = 18446744073709551615 is beyond int64"):
        check_ids(np.array([0, 2**64 - 1], np.uint64), "ids")
    np.testing.assert_array_equal(check_ids(np.array([1, 2], np.uint64), "ids", 3), [1, 2])


# ------------------------------------------------------------ 5. complex input
C = sp.csr_matrix(np.array([[1 + 2j, 0], [0, 1j]]))


@pytest.mark.parametrize("call, match", [
    (lambda: ops.spgemm_dense(C, C), "A must have a real"),
    (lambda: ops.spgemm_dense(sp.identity(2, format="csr"), C), "B must have a real"),
    (lambda: ops.linear_forward(C, np.ones((2, 2))), "X must have a real"),
    (lambda: ops.propagate_forward(C, np.ones((2, 2))), "A_hat must have a real"),
    (lambda: ops.propagate_forward(C.toarray(), np.ones((2, 2))), "A_hat must have a real"),
    (lambda: ops.propagate_rows_forward(C, np.ones((2, 2)), [0]), "A_hat must have a real"),
    (lambda: ops.spmm(C, np.ones((2, 2))), "A must have a real"),
    (lambda: ops.session_propagate_forward(C, np.ones((2, 2))), "A must have a real"),
    (lambda: ops.gat_layer_forward(ops.attention_graph(sp.identity(2, format="csr")), C,
                                   np.ones((2, 2)), np.ones((1, 2)), np.ones((1, 2))),
     "H must have a real"),
    (lambda: ops.attention_graph(C, weighted=True), "values of A must be real"),
    (lambda: ops.relu_forward(np.ones(2, complex)), "imaginary part"),
    (lambda: ops.dot_backward(ops.dot_forward(np.ones((1, 2)), np.ones((1, 2)))[1],
                              np.ones(1, complex)), "ds must be float32 or float64"),
])
def test_complex_input_is_rejected_not_truncated(call, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # no ComplexWarning on the way
        with pytest.raises(DataError, match=match):
            call()


# ------------------------------------------------------------ 6. option values
@pytest.mark.parametrize("p", ["0.5", None, True])
def test_dropout_p_must_be_a_number(p):
    with pytest.raises(TypeError, match="dropout probability p must be a real number"):
        ops.dropout_forward(np.ones(3), p, np.random.default_rng(0))


def test_dropout_p_numpy_scalar_still_works():
    Y, _ = ops.dropout_forward(np.ones(4), np.float32(0.5), np.random.default_rng(0))
    assert Y.shape == (4,)


@pytest.mark.parametrize("slope", [np.nan, np.inf, -np.inf])
def test_leaky_relu_rejects_a_non_finite_slope(slope):
    with pytest.raises(DataError, match="slope must be a finite number"):
        ops.leaky_relu_forward(np.ones(3), slope=slope)


def test_leaky_relu_slope_of_the_wrong_kind_is_a_type_error():
    with pytest.raises(TypeError, match="slope must be a real number"):
        ops.leaky_relu_forward(np.ones(3), slope="0.2")


# ------------------------------------------------------------ 7. duplicates in attention_graph
@pytest.mark.parametrize("weighted", [False, True])
def test_attention_graph_is_the_same_for_csr_and_coo_with_duplicates(weighted):
    data, rows, cols = np.array([1.0, 2.0, 3.0]), np.array([0, 0, 1]), np.array([1, 1, 0])
    csr = sp.csr_matrix((data, cols, np.array([0, 2, 3])), shape=(2, 2))
    coo = sp.coo_matrix((data, (rows, cols)), shape=(2, 2))
    g_csr = ops.attention_graph(csr, weighted=weighted)
    g_coo = ops.attention_graph(coo, weighted=weighted)
    np.testing.assert_array_equal(g_csr.indptr, [0, 1, 2])
    for a, b in zip(g_csr[:2], g_coo[:2]):
        np.testing.assert_array_equal(a, b)
    if weighted:                                      # 1 + 2 summed, as SciPy does
        np.testing.assert_allclose(np.exp(g_csr.log_weights), [3.0, 3.0])
        np.testing.assert_array_equal(g_csr.log_weights, g_coo.log_weights)


def test_attention_graph_keeps_an_unsorted_duplicate_free_csr_as_given():
    A = sp.csr_matrix((np.ones(3), np.array([2, 0, 1]), np.array([0, 2, 3, 3])), shape=(3, 3))
    g = ops.attention_graph(A)
    np.testing.assert_array_equal(g.indices, [2, 0, 1])


# ------------------------------------------------------------ rank: overflow and huge k
def test_score_matrix_float32_overflow_is_a_data_error_naming_rows_and_dtype():
    U, V = np.array([[1.0, 1.0], [1e30, 1e30]]), np.array([[1e30, -1e30], [1.0, 0.0]])
    with pytest.raises(DataError, match=r"dot score of U\[1\] and V\[0\] overflowed float32"):
        rank.score_matrix(U, V, dtype=np.float32)
    assert np.isfinite(rank.score_matrix(U, V)).all()            # float64 holds it


@pytest.mark.parametrize("kind", ["dot", "cosine", "euclidean"])
def test_score_matrix_float64_overflow_is_a_data_error(kind):
    U = np.array([[1.0, 2.0], [1e200, 1e200]])
    V = np.array([[1e200, -1e200]])
    with pytest.raises(DataError, match=f"{kind} score of U\\[\\d\\] and V\\[0\\] overflowed "
                                        "float64"):
        rank.score_matrix(U, V, kind=kind)


def test_cosine_float32_norm_product_overflow_is_not_a_silent_zero():
    U = np.array([[1e20, 1e20]])
    with pytest.raises(DataError, match="cosine score of U\\[0\\] and V\\[0\\] overflowed float32"):
        rank.score_matrix(U, U, kind="cosine", dtype=np.float32)
    np.testing.assert_allclose(rank.score_matrix(U, U, kind="cosine"), [[1.0]])


def test_top_k_by_similarity_names_the_callers_row_not_a_scores_entry():
    U = np.array([[1.0, 1.0], [2.0, 1.0], [1e200, 1e200]])
    V = np.array([[1e200, -1e200], [1.0, 0.0]])
    with pytest.raises(DataError, match=r"U\[2\] and V\[0\] overflowed"):
        rank.top_k_by_similarity(U, V, 1, batch_size=2)


def test_score_matrix_large_but_safe_values_keep_their_bits():
    """Norms past the guard's bound (the overflow scan runs), scores still finite: the same
    bits as the plain product, for a few users (checked after) and many (bounded before)."""
    rng = np.random.default_rng(3)
    for n_users in (2, 50):                              # <= d and > d: the two checks
        s = 5e153                                        # |u|, |v| <= 2s; u·v <= 4s² = 1e308
        U = s * rng.uniform(0.9, 1.0, (n_users, 4))
        V = s * rng.choice([-1.0, 1.0], (6, 4)) * rng.uniform(0.9, 1.0, (6, 4))
        reach = np.sqrt(np.linalg.norm(U, axis=1).max() * np.linalg.norm(V, axis=1).max())
        assert reach ** 2 >= np.finfo(np.float64).max / 4                  # the guarded path
        S = rank.score_matrix(U, V)
        assert np.isfinite(S).all()
        np.testing.assert_array_equal(S, U @ V.T)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_top_k_refuses_a_k_whose_padding_would_not_fit(backend):
    with pytest.raises(ValueError, match=r"ask for k <= 3"):
        rank.top_k(np.ones((2, 3)), 2**40, backend=backend)
    with pytest.raises(ValueError, match=r"ask for k <= 2"):
        rank.top_k_by_similarity(np.ones((2, 2)), np.ones((2, 2)), 2**40)
    items, _ = rank.top_k(np.ones((2, 3)), 5, backend=backend)      # small padding: as before
    np.testing.assert_array_equal(items[:, 3:], -1)


# ------------------------------------------------------------ kernels' wrappers
def test_halves_products_check_shapes_before_the_kernels():
    with pytest.raises(DataError, match="halves_matmul needs"):
        dense.halves_matmul(np.ones((4, 3)), np.ones((2, 5)), min_rows=2)
    with pytest.raises(DataError, match=r"out has shape \(2, 5\) and dtype float64, expected "
                                        r"\(4, 5\)"):
        dense.halves_matmul(np.ones((4, 3)), np.ones((3, 5)), np.empty((2, 5)), min_rows=2)
    with pytest.raises(DataError, match="halves_xt_dot needs"):
        dense.halves_xt_dot(np.ones((4, 3)), np.ones((2, 5)), min_rows=2)
    with pytest.raises(DataError, match=r"work has shape \(1, 5\)"):
        dense.halves_xt_dot(np.ones((4, 3)), np.ones((4, 5)), min_rows=2, work=np.empty((1, 5)))
    # a float32 out was rounded into on the numpy backend and a numba TypingError on the
    # other; a transposed out a bare AssertionError: errors.check_out now, on both
    for backend in ("numpy", "numba"):
        with pytest.raises(DataError, match="dtype float32, expected .* float64"):
            dense.halves_matmul(np.ones((4, 3)), np.ones((3, 5)), np.empty((4, 5), np.float32),
                                min_rows=2, backend=backend)
        with pytest.raises(DataError, match="out must be C-contiguous"):
            dense.halves_matmul(np.ones((4, 3)), np.ones((3, 5)), np.empty((5, 4)).T,
                                min_rows=2, backend=backend)


def test_a_failed_backward_writes_nothing_into_out():
    """propagate_rows_backward overwrites ``out``: a refused dY leaves it as it was."""
    A = sp.random(6, 6, density=0.5, random_state=0, format="csr")
    A = ((A + A.T) > 0).astype(np.float64)
    _, cache = ops.propagate_rows_forward(A, np.ones((6, 2)), np.array([0, 3]))
    out = np.arange(12.0).reshape(6, 2)
    before = out.copy()
    with pytest.raises(DataError):
        ops.propagate_rows_backward(cache, np.ones((3, 2)), out=out)
    np.testing.assert_array_equal(out, before)
    assert ops.propagate_rows_backward(cache, np.ones((2, 2)), out=out) is out


def test_attention_ops_check_a_given_transpose_before_the_kernels_read_it():
    indptr, indices = np.array([0, 1, 2]), np.array([1, 0])
    big = ops.csr_transpose(np.array([0, 2, 3, 3]), np.array([0, 2, 1]), 3)   # another graph
    with pytest.raises(DataError, match="transpose does not fit this graph"):
        ops.attention_aggregate_forward(indptr, indices, np.ones(2), np.ones((2, 3)),
                                        transpose=big)
    with pytest.raises(DataError, match="transpose does not fit this graph|out of range"):
        ops.gat_logits_forward(indptr, indices, np.ones((2, 3)), np.ones(3), np.ones(3),
                               transpose=big)
    ok = ops.csr_transpose(indptr, indices, 2)
    out, cache = ops.attention_aggregate_forward(indptr, indices, np.ones(2), np.ones((2, 3)),
                                                 transpose=ok)
    assert ops.attention_aggregate_backward(cache, np.ones((2, 3)))[1].shape == (2, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_and_cosine_keep_rows_whose_squares_overflow(dtype):
    """A row [1e20, 1e20, 0] in float32 (1e160 in float64) became the zero vector, and its
    cosine 0 instead of 0.707: its squares overflowed."""
    big = 1e20 if dtype == np.float32 else 1e160
    X = np.array([[big, big, 0.0], [3.0, 4.0, 0.0]], dtype=dtype)
    Y, _ = ops.normalize_forward(X)
    np.testing.assert_allclose(Y, [[2 ** -0.5, 2 ** -0.5, 0], [0.6, 0.8, 0]], rtol=1e-6)
    s, _ = ops.cosine_forward(X, np.array([[1, 0, 0], [1, 0, 0]], dtype=dtype))
    np.testing.assert_allclose(s, [2 ** -0.5, 0.6], rtol=1e-6)
    plain = np.array([[3.0, 4.0, 0.0]], dtype=dtype)              # unchanged bits
    assert np.array_equal(ops.normalize_forward(plain)[0], plain / np.float64(5.0).astype(dtype))
