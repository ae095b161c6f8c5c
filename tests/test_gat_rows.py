"""The batch-local GAT kernels (kernels/gat_rows.py) against the full-graph layer in NumPy,
restricted to some receiving rows: the forward pass, the per-edge backward and the senders'
scatter, in float32 and float64, with and without attention dropout and edge weights, for
empty row sets, rows without edges, and 1 or 2 numba threads."""
import numba
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec.kernels.gat_rows import gat_backward_rows, gat_forward_rows, gat_scatter_rows
from minigraphrec.kernels.segment import edge_softmax_rows
from minigraphrec.ops._row_work import row_blocks
from minigraphrec.ops.attention import attention_graph

SLOPE = 0.2


def _graph(n=30, seed=0):
    """A weighted (n, n) attention graph: rows 3 and 7 (and their columns) have no edge."""
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=0.15, random_state=seed, format="csr")
    A.data = rng.uniform(0.5, 3.0, A.nnz)                            # weights > 0
    A = A + A.T + sp.eye(n)
    iso = np.ones(n)
    iso[[3, 7]] = 0
    A = sp.csr_matrix(sp.diags(iso) @ A @ sp.diags(iso))
    A.eliminate_zeros()
    return attention_graph(A, weighted=True)


def _reference(g, Z, a_src, a_dst, beta, U, p, R, dY_R):
    """The full-graph layer in NumPy, restricted to the receivers ``R``: per edge the logits
    (before and after ``β log w``), the softmax, the dropped coefficients and their
    gradients; per row the aggregate ``Y`` and ``Σ dpre``; per sender the scatter."""
    dt = Z.dtype.type
    n, H, d = Z.shape
    rows = np.repeat(np.arange(n), np.diff(g.indptr))                   # (nnz,) receivers
    cols = g.indices
    s_src, s_dst = np.einsum("nhd,hd->nh", Z, a_src), np.einsum("nhd,hd->nh", Z, a_dst)
    pre = s_src[cols] + s_dst[rows]                                    # (nnz, H)
    e = np.where(pre > 0, pre, pre * dt(SLOPE))
    logit = e + g.log_weights.astype(Z.dtype)[:, None] * beta
    alpha = edge_softmax_rows(g.indptr, np.ascontiguousarray(logit), np.empty_like(logit), 4)
    mask = (U >= p).astype(Z.dtype) * dt(1 / (1 - p)) if p > 0 else np.ones_like(alpha)
    a_drop = alpha * mask
    Y = np.zeros((n, H, d), Z.dtype)
    for k in range(cols.shape[0]):
        Y[rows[k]] += a_drop[k][:, None] * Z[cols[k]]
    dY = np.zeros((n, H, d), Z.dtype)
    dY[R] = dY_R
    on = np.isin(rows, R)                                              # the receivers' edges
    da = np.einsum("khd,khd->kh", dY[rows], Z[cols]) * mask
    s = np.zeros((n, H), Z.dtype)
    np.add.at(s, rows, alpha * da)
    de = alpha * (da - s[rows])
    dpre = np.where(e > 0, de, de * dt(SLOPE))
    ds_dst, dbeta = np.zeros((n, H), Z.dtype), np.zeros((n, H), Z.dtype)
    np.add.at(ds_dst, rows, dpre)
    np.add.at(dbeta, rows, de * g.log_weights.astype(Z.dtype)[:, None])
    ds_src, dZ = np.zeros((n, H), Z.dtype), np.zeros((n, H, d), Z.dtype)
    np.add.at(ds_src, cols[on], dpre[on])
    np.add.at(dZ, cols[on], a_drop[on][:, :, None] * dY[rows[on]])
    ds_dst_on = np.where(np.isin(np.arange(n), R)[:, None], ds_dst, 0)
    dZ += ds_src[:, :, None] * a_src + ds_dst_on[:, :, None] * a_dst
    return dict(e=e, alpha=alpha, a_drop=a_drop, Y=Y, dpre=dpre, ds_dst=ds_dst, dbeta=dbeta,
                ds_src=ds_src, dZ=dZ, on=on, ds_dst_on=ds_dst_on)


def _run(g, Z, a_src, a_dst, beta, U, p, R, dY_R, has_w=True):
    """The three kernels on the receivers ``R`` (senders: every node, ``pos`` the identity,
    or the receivers' one-hop ball), outputs filled with NaN first."""
    dt = Z.dtype.type
    n, H, d = Z.shape
    nnz = g.indices.shape[0]
    In = np.union1d(R, g.indices[np.concatenate(
        [np.arange(g.indptr[v], g.indptr[v + 1]) for v in R] + [np.zeros(0, np.int64)])])
    In = In.astype(np.int64)
    pos = np.full(n, -1, np.int64)
    pos[In] = np.arange(In.shape[0])
    Z_in = np.ascontiguousarray(Z[In])
    s_src = np.ascontiguousarray(np.einsum("nhd,hd->nh", Z, a_src)[In])
    s_dst = np.ascontiguousarray(np.einsum("nhd,hd->nh", Z, a_dst)[In])
    t_indptr, t_indices, perm = g.transpose
    inv = np.empty_like(perm)
    inv[perm] = np.arange(nnz)
    log_w = g.log_weights.astype(Z.dtype)
    nan = lambda *shape: np.full(shape, np.nan, Z.dtype)                # noqa: E731
    e, alpha, alpha_T, Y = nan(nnz, H), nan(nnz, H), nan(nnz, H), nan(R.shape[0], H, d)
    gat_forward_rows(g.indptr, g.indices, R, row_blocks(g.indptr, R), pos, s_src, s_dst,
                     dt(SLOPE), log_w, beta, has_w, U, p, dt(1 / (1 - p)), Z_in, e, alpha, inv,
                     alpha_T, Y)
    dpre, dpre_T, ds_dst, dbeta = nan(nnz, H), nan(nnz, H), nan(R.shape[0], H), \
        nan(R.shape[0], H)
    gat_backward_rows(g.indptr, g.indices, R, row_blocks(g.indptr, R), pos, Z_in, dY_R, e, alpha,
                      U, p, dt(1 / (1 - p)), dt(SLOPE), log_w, has_w, inv, dpre, dpre_T, ds_dst,
                      dbeta)
    pos_R = np.full(n, -1, np.int64)
    pos_R[R] = np.arange(R.shape[0])
    ds_dst_in = np.zeros((In.shape[0], H), Z.dtype)
    ds_dst_in[pos[R]] = ds_dst
    dZ, ds_src = nan(In.shape[0], H, d), nan(In.shape[0], H)
    gat_scatter_rows(t_indptr, t_indices, In, row_blocks(t_indptr, In), pos_R, alpha_T, dpre_T,
                     dY_R, ds_dst_in, a_src, a_dst, dZ, ds_src)
    return dict(In=In, inv=inv, e=e, alpha=alpha, alpha_T=alpha_T, Y=Y, dpre_T=dpre_T,
                ds_dst=ds_dst, dbeta=dbeta, dZ=dZ, ds_src=ds_src)


def _inputs(g, dtype, H, d, m, seed=1):
    rng = np.random.default_rng(seed)
    n, nnz = g.n_nodes, g.indices.shape[0]
    Z = rng.standard_normal((n, H, d)).astype(dtype)
    a_src, a_dst = rng.standard_normal((2, H, d)).astype(dtype)
    beta = rng.uniform(0.5, 1.5, H).astype(dtype)
    U = rng.random((nnz, H))
    R = np.sort(np.concatenate([[3], rng.choice(np.setdiff1d(np.arange(n), [3, 7]), m - 1,
                                                replace=False)])).astype(np.int64) if m else \
        np.zeros(0, np.int64)                                          # row 3: no edge
    dY_R = np.ascontiguousarray(rng.standard_normal((m, H, d)).astype(dtype))
    return Z, a_src, a_dst, beta, U, R, dY_R


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H, p", [(1, 0.0), (2, 0.3), (1, 0.3)])
def test_gat_rows_kernels_equal_the_full_graph_layer(dtype, H, p):
    g = _graph()
    Z, a_src, a_dst, beta, U, R, dY_R = _inputs(g, dtype, H, 5, 9)
    ref = _reference(g, Z, a_src, a_dst, beta, U, p, R, dY_R)
    got = _run(g, Z, a_src, a_dst, beta, U, p, R, dY_R)
    on = ref["on"]
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    # the logits: the same operations, bit for bit; the softmax too in float64 (in float32
    # the kernel's exponentials and their sum are float64, so equal to rounding)
    np.testing.assert_array_equal(got["e"][on], ref["e"][on])
    same = np.testing.assert_array_equal if dtype == np.float64 else \
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)
    same(got["alpha"][on], ref["alpha"][on])
    same(got["alpha_T"][got["inv"][on]], ref["a_drop"][on])
    # only the receivers' edges are written
    assert np.isnan(got["e"][~on]).all() and np.isnan(got["alpha_T"][got["inv"][~on]]).all()
    np.testing.assert_allclose(got["Y"], ref["Y"][R], **tol)     # summed by fours
    np.testing.assert_array_equal(got["Y"][R == 3], 0)           # a row without edges: 0
    np.testing.assert_allclose(got["dpre_T"][got["inv"][on]], ref["dpre"][on], **tol)
    assert np.isnan(got["dpre_T"][got["inv"][~on]]).all()
    np.testing.assert_allclose(got["ds_dst"], ref["ds_dst"][R], **tol)
    np.testing.assert_allclose(got["dbeta"], ref["dbeta"][R], **tol)
    In = got["In"]
    np.testing.assert_allclose(got["ds_src"], ref["ds_src"][In], **tol)
    np.testing.assert_allclose(got["dZ"], ref["dZ"][In], **tol)
    assert all(got[k].dtype == dtype for k in ("e", "Y", "dZ", "ds_src"))


def test_gat_rows_kernels_on_no_rows_write_nothing():
    g = _graph()
    Z, a_src, a_dst, beta, U, R, dY_R = _inputs(g, np.float64, 2, 4, 0)
    got = _run(g, Z, a_src, a_dst, beta, U, 0.3, R, dY_R)
    assert got["Y"].shape == (0, 2, 4) and got["In"].shape == (0,)
    assert np.isnan(got["e"]).all() and np.isnan(got["alpha_T"]).all()
    assert np.isnan(got["dpre_T"]).all()
    assert got["dZ"].shape == (0, 2, 4) and got["ds_src"].shape == (0, 2)


def test_gat_rows_kernels_do_not_depend_on_the_thread_count():
    g = _graph(n=400, seed=2)
    Z, a_src, a_dst, beta, U, R, dY_R = _inputs(g, np.float64, 2, 8, 150, seed=3)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        many = _run(g, Z, a_src, a_dst, beta, U, 0.2, R, dY_R)
        numba.set_num_threads(1)
        one = _run(g, Z, a_src, a_dst, beta, U, 0.2, R, dY_R)
    finally:
        numba.set_num_threads(old)
    for k in many:
        np.testing.assert_array_equal(many[k], one[k], err_msg=k)
