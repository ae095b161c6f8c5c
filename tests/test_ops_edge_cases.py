"""Edge cases of the ops (``mgr.ops``): the one checked scatter-add, session graphs' inputs,
norms at the ends of the float range, the dtype of an incoming gradient, and the two
sigmoids."""
import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec.errors import DataError
from minigraphrec.kernels import session as session_kernels
from minigraphrec.ops import attention, dense, embedding, scoring, session
from minigraphrec.ops.embedding import scatter_add, segment_ids
from minigraphrec.sequences import Sequences

ops = mgr.ops


# ------------------------------------------------------------------ scatter_add
@pytest.mark.parametrize("index, match", [
    ([0, -1, 0], r"index\[1\] = -1 is out of range 0..3"),       # was: wrapped to row 3
    ([0, 7, 0], r"index\[1\] = 7 is out of range 0..3"),         # was: numpy's IndexError
    ([0, 1.7, 0], "index must hold integer ids, got dtype float64"),   # was: truncated to 1
    ([0, 1], "V has 3 rows but index has 2 ids"),                # was: a matmul error
])
def test_scatter_add_refuses_bad_ids(index, match):
    V = np.arange(6.0).reshape(3, 2)
    for f in (scatter_add, session.index_add):
        with pytest.raises(DataError, match=match):
            f(index, 4, V)


def test_scatter_add_refuses_an_out_of_another_dtype_or_shape_and_non_float_V():
    V = np.arange(6.0).reshape(3, 2)
    with pytest.raises(DataError, match=r"out has shape \(4, 2\) and dtype float32, expected "
                                        r"\(4, 2\) and float64"):   # was: silently float32
        session.index_add([0, 1, 1], 4, V, out=np.zeros((4, 2), np.float32))
    with pytest.raises(DataError, match="out has shape"):
        scatter_add([0, 1, 1], 4, V, out=np.zeros((5, 2)))
    with pytest.raises(TypeError, match="out must be an ndarray"):
        scatter_add([0, 1, 1], 4, V, out=[[0.0, 0.0]] * 4)
    with pytest.raises(DataError, match="V must be float32 or float64, got int64"):
        scatter_add([0, 1, 1], 4, np.ones((3, 2), dtype=np.int64))
    with pytest.raises(DataError, match="n_rows must be an integer >= 0"):
        scatter_add([0], 2.0, V[:1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("row_shape", [(), (5,), (2, 3)])
def test_scatter_add_equals_add_at_bit_for_bit(dtype, row_shape):
    rng = np.random.default_rng(3)
    index = rng.integers(0, 40, 700)
    V = rng.standard_normal((700,) + row_shape).astype(dtype)
    expected = np.zeros((45,) + row_shape, dtype=dtype)
    np.add.at(expected, index, V)
    got = scatter_add(index, 45, V)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    base = rng.standard_normal((45,) + row_shape).astype(dtype)
    named = np.unique(index)
    want = base.copy()
    want[named] += expected[named]                    # each row's sum, added once
    out = base.copy()
    assert scatter_add(index, 45, V, out=out) is out
    np.testing.assert_array_equal(out, want)
    rows, summed = embedding.gather_backward_rows(
        embedding.gather_forward(np.zeros((45,) + row_shape, dtype), index)[1], V)
    np.testing.assert_array_equal(rows, named)
    np.testing.assert_array_equal(summed, expected[named])


def test_scatter_add_of_nothing_and_index_add_is_it():
    assert session.index_add is scatter_add
    np.testing.assert_array_equal(scatter_add(np.array([], dtype=np.int64), 3, np.zeros((0, 2))),
                                  np.zeros((3, 2)))
    assert scatter_add([], 0, np.zeros((0, 2), np.float32)).shape == (0, 2)


def test_segment_ids_is_the_repeat_of_the_segment_numbers():
    counts = np.array([2, 0, 1, 3])
    np.testing.assert_array_equal(segment_ids(counts), [0, 0, 2, 3, 3, 3])
    assert segment_ids(counts).dtype == np.int64
    assert segment_ids(np.zeros(0, dtype=np.int64)).shape == (0,)


# -------------------------------------------------------------- session_graphs
@pytest.mark.parametrize("dtype", [np.int64, int, np.float16, np.longdouble, "complex128",
                                   "no such dtype"])
def test_session_graphs_refuses_a_dtype_that_is_not_float32_or_float64(dtype):
    sessions = Sequences.from_lists([[1, 2, 1, 3]], n_items=4)   # int64 weights were 0
    with pytest.raises(DataError, match="dtype must be 'float32' or 'float64'"):
        ops.session_graphs(sessions, dtype=dtype)


def test_session_graphs_takes_float32_by_name_and_refuses_lists():
    G = ops.session_graphs(Sequences.from_lists([[1, 2, 1, 3]], n_items=4), dtype="float32")
    assert G.A_out.dtype == np.float32
    assert G.A_out.toarray()[0].tolist() == [0.0, 0.5, 0.5]      # node of item 1 -> 2 and 3
    with pytest.raises(TypeError, match="sessions must be a minigraphrec.sequences.Sequences"):
        ops.session_graphs([[1, 2]])                            # was: AttributeError


def test_session_readout_names_the_empty_session():
    P, W, c = np.ones((5, 3)), np.eye(3), np.zeros(3)
    with pytest.raises(DataError, match=r"session 1 has pos_ptr\[1\] = 2, pos_ptr\[2\] = 2"):
        ops.session_readout_forward(P, [0, 2, 2, 5], W, W, c, c)


# ------------------------------------------------------------ norms: non-finite rows
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_non_finite_row_normalizes_to_nan_and_leaves_the_others(bad, dtype):
    """NaN goes through as in the other ops (a diverged model is then caught where its
    embeddings are checked); the clamp made ``[nan, 1]`` into ``[nan, 1e8]`` and an
    infinite row's cosine inf."""
    X = np.ones((3, 2), dtype=dtype)
    X[2, 1] = bad
    Y, cache = ops.normalize_forward(X)
    assert np.isnan(Y[2]).all()
    np.testing.assert_array_equal(Y[:2], ops.normalize_forward(X[:2])[0])
    assert np.isnan(ops.normalize_backward(cache, np.ones_like(X))[2]).all()
    s, _ = ops.cosine_forward(np.ones_like(X), X)
    assert np.isnan(s[2]) and np.all(np.abs(s[:2]) <= 1)
    s, _ = ops.euclidean_forward(X, np.zeros_like(X))
    assert np.isnan(s[2]) if np.isnan(bad) else s[2] == -np.inf


def test_a_finite_row_with_a_norm_beyond_the_dtype_is_still_its_unit_vector():
    X = np.array([[3e38, 3e38], [-3e38, 1.0]], dtype=np.float32)   # norm 4.2e38 > 3.4e38
    Y, cache = ops.normalize_forward(X)                         # was: [0, 0] (x / inf)
    np.testing.assert_allclose(Y, [[0.5 ** 0.5, 0.5 ** 0.5], [-1.0, 0.0]], rtol=1e-6, atol=1e-38)
    s, _ = ops.cosine_forward(X, X)
    np.testing.assert_allclose(s, [1.0, 1.0], rtol=1e-6)
    # 1 / norm is below the smallest float32: the gradient of the first row rounds to 0
    np.testing.assert_array_equal(ops.normalize_backward(cache, np.ones_like(X))[0], 0.0)


# ------------------------------------------------------- norms at the float range's ends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_euclidean_is_exact_for_huge_and_tiny_differences(dtype):
    """A difference with one nonzero entry ``a`` has the distance ``|a|`` exactly and the
    gradient ``∓1`` in that entry; the plain sum of squares gave ``-inf`` and a zero
    gradient for float32 ``1e20``, and 0 and a gradient of ``-1e-23`` for ``1e-23``."""
    for a in (1e20, 1e-23, 1e-40 if dtype == np.float32 else 1e-310, 3.0):
        U = np.array([[0.0, a]], dtype=dtype)
        V = np.zeros_like(U)
        s, cache = ops.euclidean_forward(U, V)
        assert s[0] == -U[0, 1]
        dU, dV = ops.euclidean_backward(cache, np.ones(1, dtype))
        np.testing.assert_array_equal(dU, [[0.0, -1.0]])
        np.testing.assert_array_equal(dV, [[0.0, 1.0]])
    # two entries: sqrt(3² + 4²) = 5 at any scale, to rounding
    for scale in (1e-30, 1e30):
        U = np.array([[3 * scale, 4 * scale]], dtype=dtype)
        s, _ = ops.euclidean_forward(U, np.zeros_like(U))
        np.testing.assert_allclose(s, [-5 * scale], rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_norms_of_ordinary_rows_are_the_plain_sum_of_squares(dtype):
    """The scaled norm changes only rows whose squares leave the normal range: ordinary
    rows keep the bits of ``sqrt(Σ x²)``, which the models' results depend on."""
    rng = np.random.default_rng(8)
    X = (rng.standard_normal((500, 16)) * rng.uniform(1e-3, 1e3, (500, 1))).astype(dtype)
    Y = (rng.standard_normal((500, 16))).astype(dtype)
    plain = np.sqrt(np.einsum("bd,bd->b", X, X))
    np.testing.assert_array_equal(scoring._row_norms(X), plain)
    s, _ = ops.euclidean_forward(X, Y)
    diff = X - Y
    np.testing.assert_array_equal(s, -np.sqrt(np.einsum("bd,bd->b", diff, diff)))
    Xn, _ = ops.normalize_forward(X)
    np.testing.assert_array_equal(Xn, X / plain[:, None])


def test_normalize_keeps_zero_rows_and_scales_tiny_ones():
    X = np.array([[0.0, 0.0], [1e-23, 0.0], [3e-30, 4e-30]], dtype=np.float32)
    Y, _ = ops.normalize_forward(X, eps=np.finfo(np.float32).smallest_subnormal)
    np.testing.assert_array_equal(Y[0], [0.0, 0.0])
    np.testing.assert_array_equal(Y[1], [1.0, 0.0])             # the sum of squares was 0
    np.testing.assert_allclose(Y[2], [0.6, 0.8], rtol=1e-6)


# ------------------------------------------------ the dtype of an incoming gradient
def _forward_float32():
    """(op name, backward, cache, gradient of the forward output's shape) for every
    backward pass that combines its gradient with what its forward pass kept."""
    rng = np.random.default_rng(0)
    f32 = np.float32

    def r(*shape):
        return rng.standard_normal(shape).astype(f32)

    cases = []
    U, V = r(4, 3), r(4, 3)
    for name in ("dot", "cosine", "euclidean"):
        fwd, bwd = getattr(scoring, name + "_forward"), getattr(scoring, name + "_backward")
        out, cache = fwd(U, V)
        cases.append((name + "_backward", bwd, cache, out.shape))
    out, cache = scoring.normalize_forward(U)
    cases.append(("normalize_backward", scoring.normalize_backward, cache, out.shape))
    out, cache = dense.linear_forward(U, r(3, 2), r(2))
    cases.append(("linear_backward", dense.linear_backward, cache, out.shape))
    for name, (fwd, bwd) in dense.ACTIVATIONS.items():
        out, cache = fwd(U)
        cases.append((name + "_backward", bwd, cache, out.shape))
    out, cache = dense.dropout_forward(U, 0.5, np.random.default_rng(1))
    cases.append(("dropout_backward", dense.dropout_backward, cache, out.shape))
    h_new, cache = session.gru_cell_forward(r(5, 4), r(5, 2), r(4, 6), r(2, 6), r(6))
    cases.append(("gru_cell_backward", session.gru_cell_backward, cache, h_new.shape))
    A = sp.random(5, 5, density=0.4, random_state=0, format="csr", dtype=f32)
    out, cache = session.session_propagate_forward(A, r(5, 2))
    cases.append(("session_propagate_backward", session.session_propagate_backward, cache,
                  out.shape))
    W, c = r(2, 2), r(2)
    for W3 in (None, r(4, 3)):
        out, cache = session.session_readout_forward(r(5, 2), [0, 2, 5], W, W, c, c, W3)
        cases.append(("session_readout_backward", session.session_readout_backward, cache,
                      out.shape))
    G = attention.attention_graph(sp.eye(5, format="csr") + A)
    alpha, cache = attention.edge_softmax_forward(G.indptr, r(G.indices.shape[0], 2))
    cases.append(("edge_softmax_backward", attention.edge_softmax_backward, cache, alpha.shape))
    out, cache = attention.attention_aggregate_forward(G.indptr, G.indices, alpha, r(5, 2, 3))
    cases.append(("attention_aggregate_backward", attention.attention_aggregate_backward, cache,
                  out.shape))
    e, cache = attention.gat_logits_forward(G.indptr, G.indices, r(5, 2, 3), r(2, 3), r(2, 3))
    cases.append(("gat_logits_backward", attention.gat_logits_backward, cache, e.shape))
    out, cache = attention.gat_layer_forward(G, r(5, 4), r(4, 6), r(2, 3), r(2, 3))
    cases.append(("gat_layer_backward", attention.gat_layer_backward, cache, out.shape))
    return cases


@pytest.mark.parametrize("op, backward, cache, shape", _forward_float32(),
                         ids=lambda c: c if isinstance(c, str) else "")
def test_every_backward_refuses_a_gradient_of_another_dtype_than_its_output(op, backward,
                                                                             cache, shape):
    """A float64 gradient after a float32 forward pass is refused, naming the op and both
    dtypes; it was promoted in some ops, cast down in others (the attention ops), and
    mixed in one (gru_cell_backward: dU float32, the rest float64)."""
    with pytest.raises(DataError, match=rf"{op}: \w+ has dtype float64, the forward's output "
                                        r"has float32"):
        backward(cache, np.ones(shape, dtype=np.float64))
    grads = backward(cache, np.ones(shape, dtype=np.float32))   # the output's dtype: taken
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert all(g.dtype == np.float32 for g in grads if g is not None)


# ------------------------------------------------------------------ halves products
def test_halves_products_check_their_operands():
    A, B = np.ones((3, 2)), np.ones((2, 1))
    np.testing.assert_array_equal(dense.halves_matmul([[1.0, 2.0]], B), [[3.0]])   # array-like
    for bad, match in ((np.ones((3, 2), int), "A must be float32 or float64, got int64"),
                       (np.ones((3, 2), complex), "A must be float32 or float64, got complex128"),
                       (np.ones(3), r"A must be 2-d, got shape \(3,\)")):
        with pytest.raises(DataError, match=match):             # int, complex were multiplied
            dense.halves_matmul(bad, B)
    with pytest.raises(DataError, match="B must be float32 or float64, got int64"):
        dense.halves_matmul(A, np.ones((2, 1), int))
    with pytest.raises(TypeError, match="B must be a float32 or float64 array, got NoneType"):
        dense.halves_matmul(A, None)                            # was: AttributeError
    np.testing.assert_array_equal(dense.halves_xt_dot([[1.0, 2.0]], [[3.0]]), [[3.0], [6.0]])
    with pytest.raises(DataError, match="D must be float32 or float64, got int64"):
        dense.halves_xt_dot(A, np.ones((3, 1), int))
    with pytest.raises(DataError, match="X must be float32 or float64, got complex128"):
        dense.halves_xt_dot(np.ones((3, 2), complex), np.ones((3, 1)))


# ------------------------------------------------------------------ csr_transpose
def test_csr_transpose_checks_n_cols():
    with pytest.raises(DataError, match="n_cols must be an integer >= 0, got None"):
        ops.csr_transpose([0, 1], [0], None)                    # was: a TypeError comparing
    with pytest.raises(DataError, match="n_cols must be an integer >= 0, got 2.0"):
        ops.csr_transpose([0, 1], [0], 2.0)
    t_indptr, t_indices, perm = ops.csr_transpose([0, 1, 2], [1, 1], 2)
    assert t_indptr.tolist() == [0, 0, 2] and t_indices.tolist() == [0, 1]


# ------------------------------------------------------------------ the sigmoids
@pytest.mark.parametrize("dtype, lo, hi", [(np.float32, -103.97, -88.73),
                                           (np.float64, -745.13, -709.79)])
def test_the_gru_sigmoid_flushes_the_subnormal_range_to_zero(dtype, lo, hi):
    """What its docstring says: where ``e^{-x}`` overflows, SR-GNN's ``_sigmoid`` is 0,
    while ``sigmoid_forward`` (the reference) returns the subnormal ``σ(x)``; both are
    below the smallest normal number there. Above that range both are within 4 units in
    the last place of σ where it is normal (float32 against a float64 reference)."""
    x = np.linspace(lo, hi, 1001).astype(dtype)
    with np.errstate(over="ignore"):
        fast = session._sigmoid(x)
    ref = ops.sigmoid_forward(x)[0]
    assert np.all(fast == 0)
    assert np.all((ref > 0) & (ref < np.finfo(dtype).tiny))
    x = np.linspace(hi + 0.01, 40, 100001).astype(dtype)
    fast, ref = session._sigmoid(x), ops.sigmoid_forward(x)[0]
    if dtype == np.float32:                                     # float64: within 4 units
        exact = 1 / (1 + np.exp(-x.astype(np.float64)))
        normal = exact >= np.finfo(dtype).tiny
        ulp = np.spacing(exact.astype(dtype))[normal]
        assert np.all(np.abs(fast - exact)[normal] <= 4 * ulp)
        assert np.all(np.abs(ref - exact)[normal] <= 4 * ulp)
    else:                                                       # each within 4: apart by 8
        normal = ref >= np.finfo(dtype).tiny
        assert np.all(np.abs(fast - ref)[normal] <= 8 * np.spacing(ref[normal]))


def test_gru_kernels_are_looked_up_by_an_explicit_table():
    assert set(session_kernels.GRU_KERNELS) == {
        "gru_update_rows", "gru_backward_gates_rows", "gru_backward_reset_rows"}
    for name, (parallel, serial) in session_kernels.GRU_KERNELS.items():
        assert parallel is getattr(session_kernels, name)
        assert serial is getattr(session_kernels, name + "_serial")
        assert session._gru_kernel(name, session_kernels.PARALLEL_FROM) is parallel
        assert session._gru_kernel(name, 1) is serial
