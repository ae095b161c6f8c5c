"""Graph attention ops: hand-computed cases, numba kernels against the NumPy/SciPy
references, a dense re-implementation of the whole layer, float64 gradient checks
(heads, averaging, edge weights, attention dropout), determinism and bad input."""
import warnings

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec.errors import DataError
from minigraphrec.gradcheck import check_vjp
from minigraphrec.kernels import segment as K
from minigraphrec.ops.attention import (
    attention_aggregate_backward, attention_aggregate_forward, attention_graph, csr_transpose,
    edge_softmax_backward, edge_softmax_forward, gat_layer_backward, gat_layer_forward,
    gat_logits_backward, gat_logits_forward)

BACKENDS = ["numpy", "numba"]
#: the whole-layer tests: each backend, heads concatenated or averaged, edges unweighted or weighted
LAYER_CASES = pytest.mark.parametrize("backend, concat, weighted", [
    (backend, concat, weighted) for backend in BACKENDS for concat in (True, False)
    for weighted in (False, True)])
# backends agree to rounding: exp may differ in the last ulp, transposed sums run in other orders
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


def random_graph(rng, n, density=0.25, empty_rows=(1, 4), weights=False):
    """Square CSR (int32 indices, as SciPy makes them) with the given rows empty."""
    A = sp.random(n, n, density=density, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.uniform(0.5, 3.0, k) if weights else np.ones(k))
    keep = np.ones(n)
    keep[list(empty_rows)] = 0
    A = sp.csr_matrix(sp.diags(keep) @ A)
    A.eliminate_zeros()
    A.sort_indices()
    assert all(A.indptr[r] == A.indptr[r + 1] for r in empty_rows)
    return A


def assert_close(got, ref, dtype):
    assert got.dtype == ref.dtype == dtype and got.shape == ref.shape
    scale = np.abs(ref).max() if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def leaky(x, slope=0.2):
    return np.where(x > 0, x, slope * x)


# ------------------------------------------------------------ hand-computed
# rows (receivers): 0 <- {1, 2}, 1 <- {}, 2 <- {0, 1, 2}
INDPTR = np.array([0, 2, 2, 5])
INDICES = np.array([1, 2, 0, 1, 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_edge_softmax_hand_computed(backend):
    logits = np.array([0.0, np.log(3.0), 1.0, 1.0, 1.0 + np.log(2.0)])
    alpha, _ = edge_softmax_forward(INDPTR, logits, backend)
    np.testing.assert_allclose(alpha, [1 / 4, 3 / 4, 1 / 4, 1 / 4, 1 / 2], rtol=1e-15)
    # huge logits do not overflow: subtracting the row maximum makes them 0 and -1
    alpha, _ = edge_softmax_forward(INDPTR, np.array([1000.0, 999.0, -1000.0, -1000.0, -1000.0]),
                                    backend)
    e = np.exp(-1.0)
    np.testing.assert_allclose(alpha, [1 / (1 + e), e / (1 + e), 1 / 3, 1 / 3, 1 / 3], rtol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_edge_softmax_refuses_non_finite_logits_naming_the_edge(backend, bad):
    """A NaN or ±inf logit made its whole row NaN, silently; now a DataError names the
    first such edge, its row (row 1 of INDPTR is empty) and head."""
    logits = np.array([0.0, 1.0, 2.0, bad, 1.0])
    with pytest.raises(DataError, match=rf"logits must be finite: edge 3 \(row 2, head 0\) "
                                        rf"holds {bad}"):
        edge_softmax_forward(INDPTR, logits, backend)
    two_heads = np.zeros((5, 2), np.float32)
    two_heads[4, 1], two_heads[0, 0] = bad, 0.5
    with pytest.raises(DataError, match=r"edge 4 \(row 2, head 1\)"):
        edge_softmax_forward(INDPTR, two_heads, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_aggregate_hand_computed(backend):
    alpha = np.array([0.25, 0.75, 0.5, 0.25, 0.25])
    Z = np.array([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
    out, cache = attention_aggregate_forward(INDPTR, INDICES, alpha, Z, backend)
    want = np.array([[3.0, 3.5],                  # 0.25 Z1 + 0.75 Z2
                     [0.0, 0.0],                  # empty row: zero, not NaN
                     [1.5, 1.5]])                 # 0.5 Z0 + 0.25 Z1 + 0.25 Z2
    np.testing.assert_allclose(out, want, rtol=1e-15)
    dout = np.array([[1.0, 0.0], [7.0, 7.0], [0.0, 1.0]])
    dalpha, dZ = attention_aggregate_backward(cache, dout)
    np.testing.assert_allclose(dalpha, [0.0, 4.0, 0.0, 2.0, 4.0], rtol=1e-15)
    # dZ_u = Σ over edges leaving u of alpha · dout[receiver]
    np.testing.assert_allclose(dZ, [[0.0, 0.5], [0.25, 0.25], [0.75, 0.25]], rtol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gat_logits_hand_computed(backend):
    Z = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    a_src, a_dst = np.array([1.0, -2.0]), np.array([0.5, 0.0])
    # s_src = Z a_src = [1, -2, -1] (the sender u), s_dst = Z a_dst = [0.5, 0, 0.5] (receiver v)
    e, _ = gat_logits_forward(INDPTR, INDICES, Z, a_src, a_dst, backend=backend)
    # edges (v, u): (0, 1) (0, 2) (2, 0) (2, 1) (2, 2)
    pre = np.array([-2 + 0.5, -1 + 0.5, 1 + 0.5, -2 + 0.5, -1 + 0.5])
    np.testing.assert_allclose(e, leaky(pre), rtol=1e-15)
    # weighted: + beta log w
    w = np.array([1.0, 2.0, 4.0, 1.0, 0.5])
    e_w, _ = gat_logits_forward(INDPTR, INDICES, Z, a_src, a_dst, edge_weights=w,
                                beta=np.array([1.5]), backend=backend)
    np.testing.assert_allclose(e_w, leaky(pre) + 1.5 * np.log(w), rtol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_beta_one_with_flat_scores_gives_attention_proportional_to_weights(backend):
    A = sp.csr_matrix((np.array([1.0, 3.0, 2.0, 2.0, 4.0]), INDICES, INDPTR), shape=(3, 3))
    graph = attention_graph(A, weighted=True)
    H = np.eye(3)
    W = np.array([[1.0], [2.0], [3.0]])
    zeros = np.zeros((1, 1))                       # a = 0: every LeakyReLU score is 0
    out, _ = gat_layer_forward(graph, H, W, zeros, zeros, beta=np.array([1.0]), backend=backend)
    np.testing.assert_allclose(out[:, 0], [(1 * 2 + 3 * 3) / 4, 0.0, (2 * 1 + 2 * 2 + 4 * 3) / 8],
                               rtol=1e-15)


# ------------------------------------------------- kernels against references
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_heads", [1, 3])
def test_edge_softmax_backends_agree(dtype, n_heads):
    rng = np.random.default_rng(n_heads)
    A = random_graph(rng, 40)
    e = (3 * rng.standard_normal((A.nnz, n_heads))).astype(dtype)
    d = rng.standard_normal((A.nnz, n_heads)).astype(dtype)
    (a_np, c_np), (a_nb, c_nb) = (edge_softmax_forward(A.indptr, e, b) for b in BACKENDS)
    assert_close(a_nb, a_np, dtype)
    sums = np.add.reduceat(a_np.astype(np.float64), A.indptr[:-1][np.diff(A.indptr) > 0], axis=0)
    np.testing.assert_allclose(sums, 1.0, rtol=RTOL[dtype])
    assert_close(edge_softmax_backward(c_nb, d), edge_softmax_backward(c_np, d), dtype)
    # the raw kernels (on the int64 indices the wrappers pass) with odd block counts
    indptr = A.indptr.astype(np.int64)
    for n_blocks in (1, 3, 64):
        out = K.edge_softmax_rows(indptr, e, np.full_like(e, np.nan), n_blocks)
        np.testing.assert_array_equal(out, a_nb)
        back = K.edge_softmax_backward_rows(indptr, a_nb, d, np.full_like(e, np.nan), n_blocks)
        np.testing.assert_array_equal(back, edge_softmax_backward(c_nb, d))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_heads", [None, 1, 3])
def test_aggregate_backends_agree(dtype, n_heads):
    rng = np.random.default_rng(7)
    A = random_graph(rng, 35)
    shape_a = (A.nnz,) if n_heads is None else (A.nnz, n_heads)
    shape_z = (35, 6) if n_heads is None else (35, n_heads, 6)
    alpha = rng.uniform(0, 1, shape_a).astype(dtype)
    Z = rng.standard_normal(shape_z).astype(dtype)
    dout = rng.standard_normal(shape_z).astype(dtype)
    res = {}
    for b in BACKENDS:
        out, cache = attention_aggregate_forward(A.indptr, A.indices, alpha, Z, b)
        assert out.shape == shape_z
        assert not out[[1, 4]].any()                       # empty rows -> zero rows
        res[b] = (out,) + attention_aggregate_backward(cache, dout)
    for got, ref in zip(res["numba"], res["numpy"]):
        assert_close(got, ref, dtype)
    # with the transpose built once, the same result
    t = csr_transpose(A.indptr, A.indices, 35)
    _, cache = attention_aggregate_forward(A.indptr, A.indices, alpha, Z, "numba", transpose=t)
    for got, ref in zip(attention_aggregate_backward(cache, dout), res["numba"][1:]):
        np.testing.assert_array_equal(got, ref)


def test_raw_aggregate_kernels_match_scipy_for_any_block_count():
    rng = np.random.default_rng(11)
    A = random_graph(rng, 30)
    alpha = rng.uniform(0, 1, (A.nnz, 2))
    Z = rng.standard_normal((30, 2, 5))
    dout = rng.standard_normal((30, 2, 5))
    ref = np.stack([sp.csr_matrix((alpha[:, h], A.indices, A.indptr), shape=(30, 30)) @ Z[:, h]
                    for h in range(2)], axis=1)
    rows = np.repeat(np.arange(30), np.diff(A.indptr))
    ref_dot = np.einsum("khd,khd->kh", dout[rows], Z[A.indices])
    indptr, indices = A.indptr.astype(np.int64), A.indices.astype(np.int64)
    for n_blocks in (1, 3, 64):
        out = K.aggregate_rows(indptr, indices, alpha, Z, np.full_like(Z, np.nan), n_blocks)
        np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
        dot = K.edge_dot_rows(indptr, indices, dout, Z, np.full_like(alpha, np.nan), n_blocks)
        np.testing.assert_allclose(dot, ref_dot, rtol=1e-13, atol=1e-13)
        seg = K.segment_sum_rows(indptr, alpha, np.full((30, 2), np.nan), n_blocks)
        np.testing.assert_allclose(seg, np.stack([np.bincount(rows, alpha[:, h], 30)
                                                  for h in range(2)], axis=1), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_heads", [None, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_gat_logits_backends_agree(dtype, n_heads, weighted):
    rng = np.random.default_rng(5)
    A = random_graph(rng, 30, weights=weighted)
    Z = rng.standard_normal((30, 4) if n_heads is None else (30, n_heads, 4)).astype(dtype)
    a_shape = (4,) if n_heads is None else (n_heads, 4)
    a_src, a_dst = (rng.standard_normal(a_shape).astype(dtype) for _ in range(2))
    kw = dict(edge_weights=A.data, beta=rng.standard_normal(n_heads or 1).astype(dtype)) \
        if weighted else {}
    de = rng.standard_normal((A.nnz,) if n_heads is None else (A.nnz, n_heads)).astype(dtype)
    res = {}
    for b in BACKENDS:
        e, cache = gat_logits_forward(A.indptr, A.indices, Z, a_src, a_dst, backend=b, **kw)
        grads = gat_logits_backward(cache, de)
        assert (grads[3] is None) == (not weighted)
        res[b] = (e,) + tuple(g for g in grads if g is not None)
    for got, ref in zip(res["numba"], res["numpy"]):
        assert_close(got, ref, dtype)


def graph_with_duplicates(rng, n=12, empty_row=3):
    """A raw CSR structure (int32, as SciPy's) whose rows repeat columns, unsorted, with row
    ``empty_row`` empty: each stored entry is an edge of its own (the ops never merge them;
    :func:`attention_graph` does)."""
    counts = rng.integers(2, 7, n)
    counts[empty_row] = 0
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    indices = rng.integers(0, n // 2, indptr[-1]).astype(np.int32)   # half the columns: repeats
    rows = np.repeat(np.arange(n), counts)
    assert np.unique(rows * n + indices).size < indices.size           # some entry repeats
    return indptr, indices, rows


@pytest.mark.parametrize("n_heads", [None, 2])
def test_duplicate_edges_backends_agree_with_the_per_entry_reference(n_heads):
    """Softmax, aggregate and logits with repeated (row, column) entries: numba equals NumPy,
    and both equal the formulas written per stored entry (a repeat counts as two edges)."""
    rng = np.random.default_rng(40)
    n, d = 12, 3
    indptr, indices, rows = graph_with_duplicates(rng, n)
    nnz, H = indices.size, n_heads or 1
    edge = (nnz,) if n_heads is None else (nnz, n_heads)
    node = (n, d) if n_heads is None else (n, n_heads, d)
    e, d_alpha = 3 * rng.standard_normal(edge), rng.standard_normal(edge)
    Z, dout = rng.standard_normal(node), rng.standard_normal(node)
    a_src, a_dst = (rng.standard_normal((d,) if n_heads is None else (n_heads, d))
                    for _ in range(2))
    e2, da2 = e.reshape(nnz, H), d_alpha.reshape(nnz, H)
    Z3, dout3 = Z.reshape(n, H, d), dout.reshape(n, H, d)
    # the references, one stored entry at a time
    alpha_ref = np.empty((nnz, H))
    for v in range(n):
        k = slice(indptr[v], indptr[v + 1])
        p = np.exp(e2[k] - e2[k].max(axis=0, initial=-np.inf))
        alpha_ref[k] = p / p.sum(axis=0)
    # row sums per entry (reduceat's value for the empty row is never read: no entry is in it)
    dlogits_ref = alpha_ref * (da2 - np.add.reduceat(alpha_ref * da2, indptr[:-1], axis=0)[rows])
    alpha = alpha_ref.reshape(edge)
    out_ref, dZ_ref = np.zeros((n, H, d)), np.zeros((n, H, d))
    np.add.at(out_ref, rows, alpha_ref[:, :, None] * Z3[indices])
    np.add.at(dZ_ref, indices, alpha_ref[:, :, None] * dout3[rows])
    dalpha_ref = np.sum(dout3[rows] * Z3[indices], axis=-1)             # (nnz, H)
    a_s, a_d = a_src.reshape(H, d), a_dst.reshape(H, d)
    pre = np.einsum("khd,hd->kh", Z3[indices], a_s) + np.einsum("khd,hd->kh", Z3[rows], a_d)
    g = np.where(pre > 0, 1.0, 0.2) * da2               # LeakyReLU'(pre) de, with de = d_alpha
    dZ_logits_ref = np.zeros((n, H, d))
    np.add.at(dZ_logits_ref, indices, g[:, :, None] * a_s)
    np.add.at(dZ_logits_ref, rows, g[:, :, None] * a_d)
    for b in BACKENDS:
        got, cache = edge_softmax_forward(indptr, e, b)
        assert_close(got, alpha, np.float64)
        assert_close(edge_softmax_backward(cache, d_alpha), dlogits_ref.reshape(edge),
                     np.float64)
        out, cache = attention_aggregate_forward(indptr, indices, alpha, Z, b)
        assert_close(out, out_ref.reshape(node), np.float64)
        dalpha, dZ = attention_aggregate_backward(cache, dout)
        assert_close(dalpha, dalpha_ref.reshape(edge), np.float64)
        assert_close(dZ, dZ_ref.reshape(node), np.float64)
        logits, cache = gat_logits_forward(indptr, indices, Z, a_src, a_dst, backend=b)
        assert_close(logits, np.where(pre > 0, pre, 0.2 * pre).reshape(edge), np.float64)
        assert_close(gat_logits_backward(cache, d_alpha)[0], dZ_logits_ref.reshape(node),
                     np.float64)
    # the backward of the aggregate, the transposed scatter, against finite differences
    check_vjp(lambda x: attention_aggregate_forward(indptr, indices, alpha, x, "numba")[0],
              lambda x, v: attention_aggregate_backward(
                  attention_aggregate_forward(indptr, indices, alpha, x, "numba")[1], v)[1],
              Z, rng)


def test_csr_transpose_matches_scipy():
    rng = np.random.default_rng(2)
    A = sp.random(12, 9, density=0.3, format="csr", random_state=rng)
    t_indptr, t_indices, perm = csr_transpose(A.indptr, A.indices, 9)
    T = sp.csr_matrix((A.data[perm], t_indices, t_indptr), shape=(9, 12))
    np.testing.assert_array_equal(T.toarray(), A.toarray().T)
    assert t_indices.dtype == t_indptr.dtype == np.int64
    for r in range(9):                              # stable: original order kept in each row
        assert np.all(np.diff(perm[t_indptr[r]:t_indptr[r + 1]]) > 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_graph_without_edges(backend):
    indptr, indices = np.zeros(4, dtype=np.int64), np.array([], dtype=np.int64)
    alpha, cache = edge_softmax_forward(indptr, np.zeros((0, 2)), backend)
    assert alpha.shape == (0, 2)
    assert edge_softmax_backward(cache, np.zeros((0, 2))).shape == (0, 2)
    out, cache = attention_aggregate_forward(indptr, indices, np.zeros(0), np.ones((3, 4)),
                                             backend)
    np.testing.assert_array_equal(out, np.zeros((3, 4)))
    dalpha, dZ = attention_aggregate_backward(cache, np.ones((3, 4)))
    assert dalpha.shape == (0,)
    np.testing.assert_array_equal(dZ, np.zeros((3, 4)))
    H_out, cache = gat_layer_forward(sp.csr_matrix((3, 3)), np.ones((3, 2)), np.ones((2, 4)),
                                     np.ones((2, 2)), np.ones((2, 2)), backend=backend)
    np.testing.assert_array_equal(H_out, np.zeros((3, 4)))
    dH, dW, *_ = gat_layer_backward(cache, np.ones((3, 4)))
    assert not dH.any() and not dW.any()


# ------------------------------------------- the layer against a dense version
def dense_gat(A, H, W, a_src, a_dst, beta, concat, activation=np.tanh, slope=0.2):
    """The layer written from the paper's formulas with dense (n, n) matrices."""
    n = A.shape[0]
    n_heads, d_out = a_src.shape
    mask = A.toarray() != 0 if A.nnz == np.count_nonzero(A.data) else None
    assert mask is not None
    logw = np.log(np.where(mask, A.toarray(), 1.0))
    Z = (H @ W).reshape(n, n_heads, d_out)
    heads = []
    for h in range(n_heads):
        # E[v, u] = LeakyReLU(a_dstᵀ Z_v + a_srcᵀ Z_u) + beta log w_vu, v receives from u
        E = leaky((Z[:, h] @ a_dst[h])[:, None] + (Z[:, h] @ a_src[h])[None, :], slope)
        if beta is not None:
            E = E + beta[h] * logw
        E = np.where(mask, E, -np.inf)
        m = np.max(E, axis=1, keepdims=True)
        P = np.exp(E - np.where(np.isfinite(m), m, 0.0))
        S = P.sum(axis=1, keepdims=True)
        alpha = np.divide(P, S, out=np.zeros_like(P), where=S > 0)
        heads.append(alpha @ Z[:, h])
    Y = np.concatenate(heads, axis=1) if concat else np.mean(heads, axis=0)
    return activation(Y)


@LAYER_CASES
def test_layer_equals_dense_reference(backend, concat, weighted):
    rng = np.random.default_rng(21)
    A = random_graph(rng, 25, weights=weighted)
    H = rng.standard_normal((25, 6))
    W = rng.standard_normal((6, 3 * 4))
    a_src, a_dst = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    beta = rng.standard_normal(3) if weighted else None
    out, _ = gat_layer_forward(attention_graph(A, weighted=weighted), H, W, a_src, a_dst,
                               concat=concat, activation="tanh", beta=beta, backend=backend)
    assert out.shape == (25, 12 if concat else 4)
    np.testing.assert_allclose(out, dense_gat(A, H, W, a_src, a_dst, beta, concat),
                               rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("concat", [True, False])
def test_layer_backends_agree_with_dropout_and_sparse_features(concat):
    rng = np.random.default_rng(8)
    A = random_graph(rng, 40, weights=True)
    graph = attention_graph(A, weighted=True)
    H = sp.random(40, 10, density=0.3, format="csr", random_state=rng)    # sparse features
    W = rng.standard_normal((10, 2 * 5)).astype(np.float32)
    a_src, a_dst = (rng.standard_normal((2, 5)).astype(np.float32) for _ in range(2))
    beta = np.array([0.5, -1.0], dtype=np.float32)
    dH_out = rng.standard_normal((40, 10 if concat else 5)).astype(np.float32)
    res = {}
    for b in BACKENDS:
        out, cache = gat_layer_forward(graph, H, W, a_src, a_dst, concat=concat, dropout=0.4,
                                       rng=np.random.default_rng(3), activation="relu",
                                       beta=beta, backend=b)
        dH, *grads = gat_layer_backward(cache, dH_out)
        assert dH is None                                   # constant sparse features
        res[b] = [out] + grads
    for got, ref in zip(res["numba"], res["numpy"]):
        assert_close(got, ref, np.float32)


def test_dropout_mask_depends_only_on_the_seed():
    rng = np.random.default_rng(4)
    A = random_graph(rng, 30)
    graph = attention_graph(A)
    H = rng.standard_normal((30, 4))
    W, a = rng.standard_normal((4, 4)), rng.standard_normal((1, 4))

    def run(seed, **kw):
        return gat_layer_forward(graph, H, W, a, a, rng=np.random.default_rng(seed), **kw)[0]

    np.testing.assert_array_equal(run(1, dropout=0.5), run(1, dropout=0.5))
    assert not np.allclose(run(1, dropout=0.5), run(2, dropout=0.5))
    np.testing.assert_array_equal(run(1, dropout=0.5, training=False), run(1))
    # float32 uses the same mask as float64
    out32 = gat_layer_forward(graph, H.astype(np.float32), W.astype(np.float32),
                              a.astype(np.float32), a.astype(np.float32), dropout=0.5,
                              rng=np.random.default_rng(1))[0]
    np.testing.assert_allclose(out32, run(1, dropout=0.5), rtol=1e-4, atol=1e-5)


def test_numba_is_deterministic_across_thread_counts():
    rng = np.random.default_rng(9)
    A = random_graph(rng, 200, density=0.05)
    graph = attention_graph(A)
    H = rng.standard_normal((200, 8))
    W = rng.standard_normal((8, 2 * 8))
    a_src, a_dst = rng.standard_normal((2, 8)), rng.standard_normal((2, 8))
    dH_out = rng.standard_normal((200, 16))
    saved = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, saved}):
            numba.set_num_threads(threads)
            out, cache = gat_layer_forward(graph, H, W, a_src, a_dst, backend="numba")
            results.append((out,) + gat_layer_backward(cache, dH_out)[:4])
    finally:
        numba.set_num_threads(saved)
    for got, ref in zip(results[-1], results[0]):
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolated_nodes_give_zero_rows_without_warnings(backend):
    rng = np.random.default_rng(12)
    A = random_graph(rng, 20, empty_rows=(0, 7, 19))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = gat_layer_forward(A, rng.standard_normal((20, 3)), rng.standard_normal((3, 4)),
                                       rng.standard_normal((2, 2)), rng.standard_normal((2, 2)),
                                       backend=backend)
        grads = gat_layer_backward(cache, np.ones((20, 4)))
    assert np.all(np.isfinite(out)) and not out[[0, 7, 19]].any()
    assert all(np.all(np.isfinite(g)) for g in grads if g is not None)


# -------------------------------------------------------- gradient checks
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_heads", [None, 3])
def test_gradcheck_edge_softmax(backend, n_heads):
    rng = np.random.default_rng(30)
    A = random_graph(rng, 20)
    shape = (A.nnz,) if n_heads is None else (A.nnz, n_heads)
    check_vjp(lambda e: edge_softmax_forward(A.indptr, e, backend)[0],
              lambda e, v: edge_softmax_backward(edge_softmax_forward(A.indptr, e, backend)[1], v),
              rng.standard_normal(shape), rng)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_heads", [None, 2])
def test_gradcheck_aggregate(backend, n_heads):
    rng = np.random.default_rng(31)
    A = random_graph(rng, 20)
    alpha = rng.uniform(0, 1, (A.nnz,) if n_heads is None else (A.nnz, n_heads))
    Z = rng.standard_normal((20, 3) if n_heads is None else (20, n_heads, 3))

    def fwd(alpha, Z):
        return attention_aggregate_forward(A.indptr, A.indices, alpha, Z, backend)

    check_vjp(lambda x: fwd(x, Z)[0], lambda x, v: attention_aggregate_backward(fwd(x, Z)[1], v)[0],
              alpha, rng)
    check_vjp(lambda x: fwd(alpha, x)[0],
              lambda x, v: attention_aggregate_backward(fwd(alpha, x)[1], v)[1], Z, rng)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_heads", [None, 2])
def test_gradcheck_gat_logits(backend, n_heads):
    rng = np.random.default_rng(32)
    A = random_graph(rng, 20, weights=True)
    Z = rng.standard_normal((20, 3) if n_heads is None else (20, n_heads, 3))
    a_shape = (3,) if n_heads is None else (n_heads, 3)
    args = dict(Z=Z, a_src=rng.standard_normal(a_shape), a_dst=rng.standard_normal(a_shape),
                beta=rng.standard_normal(n_heads or 1))
    for i, name in enumerate(["Z", "a_src", "a_dst", "beta"]):
        def run(x, name=name):
            kw = dict(args, **{name: x})
            return gat_logits_forward(A.indptr, A.indices, kw["Z"], kw["a_src"], kw["a_dst"],
                                      edge_weights=A.data, beta=kw["beta"], backend=backend)
        check_vjp(lambda x: run(x)[0], lambda x, v, i=i: gat_logits_backward(run(x)[1], v)[i],
                  args[name], rng)


@LAYER_CASES
def test_gradcheck_layer_with_heads_and_dropout(backend, concat, weighted):
    rng = np.random.default_rng(33)
    A = random_graph(rng, 20, weights=weighted)
    A = A + sp.identity(20, format="csr")                   # self-loops, as the paper
    graph = attention_graph(A, weighted=weighted)
    args = dict(H=rng.standard_normal((20, 5)), W=rng.standard_normal((5, 3 * 2)),
                a_src=rng.standard_normal((3, 2)), a_dst=rng.standard_normal((3, 2)),
                beta=rng.standard_normal(3) if weighted else None)
    names = ["H", "W", "a_src", "a_dst"] + (["beta"] if weighted else [])
    for i, name in enumerate(names):
        def run(x, name=name):
            kw = dict(args, **{name: x})
            return gat_layer_forward(graph, kw["H"], kw["W"], kw["a_src"], kw["a_dst"],
                                     concat=concat, dropout=0.3, rng=np.random.default_rng(6),
                                     activation="tanh", beta=kw["beta"], backend=backend)
        check_vjp(lambda x: run(x)[0], lambda x, v, i=i: gat_layer_backward(run(x)[1], v)[i],
                  args[name], rng)


@pytest.mark.parametrize("side", [-1, 1])
def test_gradcheck_next_to_the_leaky_relu_kink(side):
    # both edges' pre-activation scores are ±1e-4: a step of ~1e-7 stays on their side
    indptr, indices = np.array([0, 1, 2]), np.array([1, 0])
    Z = np.array([[1.0, 0.0], [0.0, 1.0]])
    a_src = np.array([side * 1e-4, side * 1e-4])            # s_src = [±1e-4, ±1e-4]
    a_dst = np.array([0.0, 0.0])

    def run(x):
        return gat_logits_forward(indptr, indices, Z, x, a_dst)

    e, _ = run(a_src)
    np.testing.assert_allclose(e, side * 1e-4 * (1.0 if side > 0 else 0.2), rtol=1e-15)
    check_vjp(lambda x: run(x)[0], lambda x, v: gat_logits_backward(run(x)[1], v)[1], a_src,
              np.random.default_rng(1), eps=1e-7)


# ------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    e = np.zeros(5)
    with pytest.raises(DataError, match="backend"):
        edge_softmax_forward(INDPTR, e, backend="cuda")
    with pytest.raises(DataError, match="start at 0"):
        edge_softmax_forward(np.array([1, 2, 5]), e)
    with pytest.raises(DataError, match="decreases at row 1"):
        edge_softmax_forward(np.array([0, 3, 2, 5]), e)
    with pytest.raises(DataError, match=r"nnz = 5"):
        edge_softmax_forward(INDPTR, np.zeros(4))
    with pytest.raises(DataError, match="float32 or float64"):
        edge_softmax_forward(INDPTR, np.zeros(5, dtype=np.int64))
    with pytest.raises(DataError, match="out of range 0..2"):
        attention_aggregate_forward(INDPTR, np.array([1, 2, 3, 1, 2]), e, np.ones((3, 2)))
    with pytest.raises(DataError, match="ends at 5 but there are 4 indices"):
        attention_aggregate_forward(INDPTR, INDICES[:4], e, np.ones((3, 2)))
    with pytest.raises(DataError, match=r"\(nnz, n_heads\) and \(n_src, n_heads, d\)"):
        attention_aggregate_forward(INDPTR, INDICES, e, np.ones((3, 2, 2)))
    with pytest.raises(DataError, match="same dtype"):
        attention_aggregate_forward(INDPTR, INDICES, e, np.ones((3, 2), dtype=np.float32))
    _, cache = attention_aggregate_forward(INDPTR, INDICES, e, np.ones((3, 2)))
    with pytest.raises(DataError, match=r"dout has shape \(3, 3\), the forward's output has \(3, 2\)"):
        attention_aggregate_backward(cache, np.ones((3, 3)))
    Z, a = np.ones((3, 2)), np.ones(2)
    with pytest.raises(DataError, match="slope"):
        gat_logits_forward(INDPTR, INDICES, Z, a, a, slope=-0.1)
    with pytest.raises(DataError, match="go together"):
        gat_logits_forward(INDPTR, INDICES, Z, a, a, edge_weights=np.ones(5))
    with pytest.raises(DataError, match="finite and > 0"):
        gat_logits_forward(INDPTR, INDICES, Z, a, a, edge_weights=np.array([1, 0, 1, 1, 1.0]),
                           beta=np.ones(1))
    with pytest.raises(DataError, match=r"beta must have shape \(1,\)"):
        gat_logits_forward(INDPTR, INDICES, Z, a, a, edge_weights=np.ones(5), beta=np.ones(2))
    with pytest.raises(DataError, match="square over one node set"):
        gat_logits_forward(INDPTR, INDICES, np.ones((4, 2)), a, a)
    with pytest.raises(DataError, match="Z and a_src"):
        gat_logits_forward(INDPTR, INDICES, Z, np.ones(3), np.ones(3))


def test_bad_layer_inputs_raise_clear_errors():
    A = sp.csr_matrix((np.ones(5), INDICES, INDPTR), shape=(3, 3))
    H, W, a = np.ones((3, 2)), np.ones((2, 4)), np.ones((2, 2))
    with pytest.raises(DataError, match="square"):
        attention_graph(sp.csr_matrix((3, 4)))
    with pytest.raises(TypeError, match="scipy sparse"):
        attention_graph(A.toarray())
    with pytest.raises(DataError, match="finite and > 0"):
        attention_graph(sp.csr_matrix((np.array([1, -1, 1, 1, 1.0]), INDICES, INDPTR)),
                        weighted=True)
    with pytest.raises(DataError, match=r"\(d_in, 4\)"):
        gat_layer_forward(A, H, np.ones((2, 3)), a, a)
    with pytest.raises(DataError, match=r"one row per node.*\(3, d_in\); got shape \(4, 2\)"):
        gat_layer_forward(A, np.ones((4, 2)), W, a, a)
    with pytest.raises(DataError, match="activation"):
        gat_layer_forward(A, H, W, a, a, activation="elu")
    with pytest.raises(DataError, match="unweighted, beta is set"):
        gat_layer_forward(A, H, W, a, a, beta=np.ones(2))
    with pytest.raises(DataError, match="weighted, beta is None"):
        gat_layer_forward(attention_graph(A, weighted=True), H, W, a, a)
    with pytest.raises(DataError, match="H must have W's dtype"):
        gat_layer_forward(A, H.astype(np.float32), W, a, a)
    with pytest.raises(TypeError, match="Generator"):
        gat_layer_forward(A, H, W, a, a, dropout=0.5)
