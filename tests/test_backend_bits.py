"""Same seed, same bits on both backends: LightGCN's batch-restricted propagation.

``backend="numpy"`` (SciPy row slices summed by
:func:`~minigraphrec.ops.lightgcn_rows.sum_by_fours`) and ``backend="numba"`` (the row
kernels of :mod:`minigraphrec.kernels.propagate_rows`) add the same terms in the same
order, on the same balls, so the forward rows, the gradient of ``E0`` and the parameters
after a few epochs of ``fit`` are the same bits, in float32 and float64
(``np.array_equal``, no tolerance). The rows here have from none to a few dozen entries,
so both the four-entry groups and the one-by-one tails are summed. GAT's two backends
agree to rounding only (README, "Every numba kernel"; tests/test_gat.py).
"""
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec import graph
from minigraphrec.batch import PairBatch
from minigraphrec.datasets import synthetic
from minigraphrec.kernels import propagate_rows as kernels
from minigraphrec.models import LightGCN
from minigraphrec.ops import lightgcn_rows as lg

DTYPES = [np.float32, np.float64]


def _graph(seed, dtype, n_users=40, n_items=50, density=0.15):
    """LightGCN's Â of a random bipartite graph (user 0 and item 0 isolated), E0 of ``dtype``."""
    rng = np.random.default_rng(seed)
    R = rng.random((n_users, n_items)) < density
    R[0, :] = False
    R[:, 0] = False
    R[1, 1] = True
    A = graph.bipartite_adjacency(sp.csr_matrix(R, dtype=np.float64))
    A_hat = graph.normalize_adjacency(A, "symmetric", self_loops=False).astype(dtype)
    assert A_hat.has_sorted_indices                    # storage order = column order
    return A_hat, rng.standard_normal((n_users + n_items, 7)).astype(dtype)


def _rows_both(A_hat, E0, K, nodes, dE_rows):
    """``(E_rows, dE0)`` of the NumPy and of the numba backend."""
    out = []
    for backend in ("numpy", "numba"):
        E_rows, cache = lg.lightgcn_rows_forward(A_hat, E0, K, nodes, backend=backend)
        out.append((E_rows, lg.lightgcn_rows_backward(cache, dE_rows)))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_rows", [1, 2, 7, 30])
def test_pull_kernels_give_the_bits_of_sum_by_fours(dtype, n_rows):
    """LightGCN's row kernels against the NumPy reference of their order,
    :func:`~minigraphrec.ops.lightgcn_rows.sum_by_fours` (+ ``base``; masked: only the
    entries into the near nodes), bit for bit, for rows of 0 to 40 stored entries (stored
    zeros included), serially and in any block split."""
    rng = np.random.default_rng(n_rows)
    n, d = 60, 5
    D = rng.standard_normal((n, n)) * (rng.random((n, n)) < 0.3)
    D[3] = 0                                                    # an empty row
    D[7, :40] = rng.standard_normal(40)                         # a long one
    A = sp.csr_matrix(D.astype(dtype))
    A.data[::9] = 0                                             # stored zeros count as entries
    X = rng.standard_normal((n, d)).astype(dtype)
    base = rng.standard_normal((n, d)).astype(dtype)
    rows = np.sort(np.concatenate([[7, 3], rng.choice(np.r_[0:3, 4:7, 8:n], n_rows - 1,
                                                      replace=False)])[:n_rows])
    level = rng.integers(0, 3, n).astype(np.int32)
    m = rows.shape[0]
    # block bounds must ascend (the kernels' contract): with one row, [0, 1, 0, 1] gave two
    # threads the same row, which they raced to add into, and the test failed 1 run in 30
    splits = (None, [0, m], sorted({0, 1, m // 2, m}))
    for has_base in (True, False):
        expected = lg.sum_by_fours(A[rows], X, start=base[rows] if has_base else None)
        assert not np.array_equal(expected, (base[rows] if has_base else 0) + A[rows] @ X), \
            "SciPy's order gives other bits here (else this test could not tell)"
        for bounds in splits:
            out = np.full((n, d), np.nan, dtype=dtype)
            if bounds is None:
                kernels.pull_block(A.indptr, A.indices, A.data, X, base, has_base, rows, 0,
                                   rows.shape[0], out)
            else:
                kernels.pull_rows(A.indptr, A.indices, A.data, X, base, has_base, rows,
                                  np.array(bounds, dtype=np.int64), out)
            assert np.array_equal(out[rows], expected)
    expected = lg.sum_by_fours(lg._keep_columns(A[rows], level <= 1), X)
    X_far = np.where((level <= 1)[:, None], X, np.nan).astype(dtype)   # never read
    for bounds in splits:
        out = np.empty((n, d), dtype=dtype)
        if bounds is None:
            kernels.pull_block_masked(A.indptr, A.indices, A.data, X_far, level, 1, rows, 0,
                                      rows.shape[0], out)
        else:
            kernels.pull_rows_masked(A.indptr, A.indices, A.data, X_far, level, 1, rows,
                                     np.array(bounds, dtype=np.int64), out)
        assert np.array_equal(out[rows], expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "blocked"])
@pytest.mark.parametrize("K", [1, 2, 3, 4])
@pytest.mark.parametrize("n_seeds", [1, 8, 60])
def test_lightgcn_rows_ops_give_the_same_bits_on_both_backends(dtype, parallel, K, n_seeds,
                                                              monkeypatch):
    if parallel:
        monkeypatch.setattr(lg, "_PARALLEL_FROM", 0)        # blocked kernels for any size
    A_hat, E0 = _graph(K + n_seeds, dtype)
    rng = np.random.default_rng(K)
    nodes = np.unique(np.concatenate([[0], rng.integers(0, A_hat.shape[0], n_seeds)]))
    dE_rows = rng.standard_normal((nodes.shape[0], E0.shape[1])).astype(dtype)
    (E_np, dE0_np), (E_nb, dE0_nb) = _rows_both(A_hat, E0, K, nodes, dE_rows)
    assert E_nb.dtype == E_np.dtype == dE0_nb.dtype == dE0_np.dtype == dtype
    assert np.array_equal(E_nb, E_np)
    assert np.array_equal(dE0_nb, dE0_np)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lightgcn_rows_same_bits_when_the_ball_search_stops_early(dtype):
    """A dense graph whose 1-hop ball holds half the entries: numba stops the ball search
    (``hops < K - 1``) and propagates on every node beyond, unmasked; still NumPy's bits."""
    A_hat, E0 = _graph(3, dtype, n_users=30, n_items=30, density=0.3)
    nodes = np.arange(0, 60, 4)
    assert lg.hop_levels(A_hat, nodes, 2, backend="numba")[1] < 2
    dE_rows = np.random.default_rng(0).standard_normal((nodes.shape[0], 7)).astype(dtype)
    for K in (2, 3):
        (E_np, dE0_np), (E_nb, dE0_nb) = _rows_both(A_hat, E0, K, nodes, dE_rows)
        assert np.array_equal(E_nb, E_np)
        assert np.array_equal(dE0_nb, dE0_np)


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=40, n_items=50, n_communities=3, mean_interactions=8,
                     min_interactions=3, ratings=True, random_state=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lightgcn_loss_and_grad_give_the_same_bits_on_both_backends(data, dtype):
    models = [LightGCN(dim=8, n_layers=3, dtype=dtype, random_state=0, backend=b).fit(
        data, epochs=0) for b in ("numpy", "numba")]
    rng = np.random.default_rng(4)
    batch = PairBatch(rng.integers(0, data.n_users, 24), rng.integers(0, data.n_items, 24),
                      rng.integers(0, data.n_items, 24))
    (loss_np, g_np), (loss_nb, g_nb) = (m.loss_and_grad(batch) for m in models)
    assert loss_nb == loss_np
    assert g_nb.keys() == g_np.keys() == {"E0"}
    assert g_nb["E0"].dtype == np.dtype(dtype)
    assert np.array_equal(g_nb["E0"], g_np["E0"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", [dict(), dict(edge_weights="count", loss="bce")],
                         ids=["default", "count-bce"])
def test_lightgcn_fit_gives_the_same_bits_on_both_backends(data, dtype, config):
    """Three epochs of ``fit`` (27 Adam steps): the same losses, ``E0`` and final embeddings,
    bit for bit. (At HEAD about half of ``E0``'s entries differed in the last bits.)"""
    kw = dict(dim=8, n_layers=3, epochs=3, batch_size=32, lr=0.01, dtype=dtype, random_state=0)
    ref, got = (LightGCN(backend=b, **kw, **config).fit(data) for b in ("numpy", "numba"))
    assert got.step_ == ref.step_ > 0
    assert [h["loss"] for h in got.history_] == [h["loss"] for h in ref.history_]
    assert np.array_equal(got.params["E0"], ref.params["E0"])
    assert np.array_equal(got.user_embeddings_, ref.user_embeddings_)
    assert np.array_equal(got.item_embeddings_, ref.item_embeddings_)
