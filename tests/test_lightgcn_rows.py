"""The batch-restricted LightGCN propagation ops (:mod:`minigraphrec.ops.lightgcn_rows`).

Gradients are checked in tests/test_gradients.py (OP_CASES "lightgcn_rows/…");
here: the rows against the full-graph ``lightgcn_forward`` / ``_backward`` on
random graphs with isolated nodes, the early stop of the ball search, the
``bfs_levels`` kernel against its NumPy reference, and the input errors.
The row kernels themselves are tested against SciPy in tests/test_models.py.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec import graph
from minigraphrec.errors import DataError
from minigraphrec.kernels import propagate_rows as kernels
from minigraphrec.ops import lightgcn_rows as lg
from minigraphrec.ops.propagate import lightgcn_backward, lightgcn_forward


def _random_graph(seed, n_users=40, n_items=50, density=0.08):
    """LightGCN's symmetric Â of a random bipartite graph (user 0, item 0 isolated), float64 E0."""
    rng = np.random.default_rng(seed)
    R = rng.random((n_users, n_items)) < density
    R[0, :] = False
    R[:, 0] = False
    R[1, 1] = True                                                 # no empty graph
    A = graph.bipartite_adjacency(sp.csr_matrix(R, dtype=np.float64))
    A_hat = graph.normalize_adjacency(A, "symmetric", self_loops=False)
    return A_hat, rng.standard_normal((n_users + n_items, 6))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("K", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("n_seeds", [1, 6, 60])
def test_rows_forward_backward_equal_full_graph(backend, K, n_seeds):
    A_hat, E0 = _random_graph(K + n_seeds)
    rng = np.random.default_rng(K)
    nodes = np.unique(rng.integers(0, A_hat.shape[0], n_seeds))
    nodes[0] = 0                                                   # an isolated node
    nodes = np.unique(nodes)
    # scratch buffers full of NaN: a value read where it was never written shows up
    workspace = {"ping_pong": [np.full_like(E0, np.nan), np.full_like(E0, np.nan)]}
    E_rows, cache = lg.lightgcn_rows_forward(A_hat, E0, K, nodes, backend=backend,
                                             workspace=workspace)
    E_full, c_full = lightgcn_forward(A_hat, E0, K, A_hat_T=A_hat)
    np.testing.assert_allclose(E_rows, E_full[nodes], rtol=1e-12, atol=1e-15)
    dE_rows = rng.standard_normal(E_rows.shape)
    dE = np.zeros_like(E_full)
    dE[nodes] = dE_rows
    dE0 = lg.lightgcn_rows_backward(cache, dE_rows, out=np.full_like(E0, np.nan))
    np.testing.assert_allclose(dE0, lightgcn_backward(c_full, dE), rtol=1e-12, atol=1e-15)


def test_rows_propagation_stops_the_ball_early_and_stays_exact():
    """A batch whose 1-hop ball holds half the graph: the kernel stops expanding (hops < K-1)."""
    A_hat, E0 = _random_graph(3, n_users=30, n_items=30, density=0.3)
    nodes = np.arange(0, 60, 4)
    level, hops = lg.hop_levels(A_hat, nodes, 2, backend="numba")
    assert hops < 2
    E_rows, cache = lg.lightgcn_rows_forward(A_hat, E0, 3, nodes)
    E_full, c_full = lightgcn_forward(A_hat, E0, 3, A_hat_T=A_hat)
    np.testing.assert_allclose(E_rows, E_full[nodes], rtol=1e-12, atol=1e-15)
    dE_rows = np.random.default_rng(0).standard_normal(E_rows.shape)
    dE = np.zeros_like(E_full)
    dE[nodes] = dE_rows
    np.testing.assert_allclose(lg.lightgcn_rows_backward(cache, dE_rows),
                               lightgcn_backward(c_full, dE), rtol=1e-12, atol=1e-15)


def test_hop_levels_kernel_equals_reference():
    A_hat, _ = _random_graph(5, density=0.05)
    nodes = np.array([2, 7, 45])
    for n_hops in range(4):
        level_ref, hops_ref = lg.hop_levels(A_hat, nodes, n_hops, backend="numpy")
        level = np.empty(A_hat.shape[0], dtype=np.int32)
        hops = kernels.bfs_levels(A_hat.indptr, A_hat.indices, nodes, n_hops, A_hat.nnz + 1, level)
        assert hops == hops_ref == n_hops
        np.testing.assert_array_equal(level, level_ref)
    # hand case: path 0 - 1 - 2 - 3, node 4 isolated
    P = sp.csr_matrix(np.diag(np.ones(3), 1) + np.diag(np.ones(3), -1))
    P.resize(5, 5)
    P = sp.csr_matrix(P)
    level = np.empty(5, dtype=np.int32)
    assert kernels.bfs_levels(P.indptr, P.indices, np.array([0]), 2, 7, level) == 2
    np.testing.assert_array_equal(level, [0, 1, 2, 3, 3])
    # the wrapper stops once the ball's rows hold half of the 6 stored entries: {0, 1} has 3
    level, hops = lg.hop_levels(P, np.array([0]), 2)
    assert hops == 1
    np.testing.assert_array_equal(level, [0, 1, 3, 3, 3])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_hop_levels_keeps_its_documented_contract(backend):
    """The summary line, on both backends: ``level[v] = dist(v)`` if ``dist(v) <= hops``,
    else ``n_hops + 1``; ``hops == n_hops`` on NumPy, ``<= n_hops`` on numba (which may
    stop early), so ``S_h = {level <= h}`` is the exact ball for every ``h <= hops``."""
    from scipy.sparse.csgraph import shortest_path
    A = sp.random(6, 6, density=0.3, format="csr", random_state=0)       # the audit's case
    level, hops = lg.hop_levels(A, [0, 3], 2, backend)
    assert (hops, list(level)) == ((1, [0, 3, 1, 0, 1, 1]) if backend == "numba"
                                   else (2, [0, 2, 1, 0, 1, 1]))
    for seed in range(12):
        A_hat, _ = _random_graph(seed, density=0.02 + 0.01 * (seed % 4))
        nodes = np.random.default_rng(seed).integers(0, A_hat.shape[0], 1 + seed % 3)
        dist = shortest_path(A_hat, unweighted=True, indices=nodes).min(axis=0)   # inf: far
        for n_hops in range(5):
            level, hops = lg.hop_levels(A_hat, nodes, n_hops, backend)
            assert 0 <= hops <= n_hops and (hops == n_hops or backend == "numba")
            want = np.where(dist <= hops, dist, n_hops + 1)
            np.testing.assert_array_equal(level, want)


def test_rows_ops_reject_bad_input():
    A_hat, E0 = _random_graph(0)
    n = A_hat.shape[0]
    one = np.array([1])
    for call, error, match in [
        (lambda: lg.lightgcn_rows_forward(A_hat, E0.astype(np.float16), 2, one),
         DataError, "E0 must be float32 or float64"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0[:5], 2, one),
         DataError, rf"E0 must have shape \({n}, d\)"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, np.array([3, 1])),
         DataError, r"distinct and ascending .* nodes\[1\] = 1 follows 3"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, np.array([1, 1])),
         DataError, "distinct and ascending"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, np.array([1, 999])),
         DataError, rf"nodes\[1\] = 999 is out of range 0..{n - 1}"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, np.array([-1, 2])),
         DataError, r"nodes\[0\] = -1 is out of range"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, np.array([1.0, 2.0])),
         DataError, "nodes must hold integer ids, got dtype float64"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, np.array([[1, 2]])),
         DataError, "nodes must be a 1-d array"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, None),
         TypeError, "nodes must be an array of integer ids"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, one, backend="cuda"),
         DataError, "backend must be one of"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, -1, one),
         DataError, "K .* must be an integer >= 0"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 1.5, one),
         DataError, "K .* must be an integer >= 0"),
        (lambda: lg.lightgcn_rows_forward(A_hat.toarray(), E0, 2, one),
         TypeError, "A_hat must be a scipy sparse matrix"),
        (lambda: lg.lightgcn_rows_forward(sp.csr_matrix((n, n + 1)), E0, 2, one),
         DataError, "A_hat must be square"),
        (lambda: lg.lightgcn_rows_forward(A_hat, E0, 2, one, workspace=[]),
         TypeError, "workspace must be a dict or None"),
        (lambda: lg.hop_levels(A_hat, np.array([n]), 1),
         DataError, rf"nodes\[0\] = {n} is out of range"),
        (lambda: lg.hop_levels(A_hat, one, -1), DataError, "n_hops must be an integer >= 0"),
    ]:
        with pytest.raises(error, match=match):
            call()
    _, cache = lg.lightgcn_rows_forward(A_hat, E0, 2, np.array([1, 4]))
    with pytest.raises(DataError, match=r"dE_rows has shape \(3, 6\), the forward's rows "
                                        r"have \(2, 6\)"):
        lg.lightgcn_rows_backward(cache, np.zeros((3, 6)))
    for dtype in (int, np.float16):              # float16 was cast to float64 unchecked
        with pytest.raises(DataError, match="dE_rows must be float32 or float64"):
            lg.lightgcn_rows_backward(cache, np.zeros((2, 6), dtype=dtype))
    with pytest.raises(DataError, match=r"out has shape .* dtype float32, expected .* float64"):
        lg.lightgcn_rows_backward(cache, np.zeros((2, 6)), out=np.zeros((n, 6), np.float32))


def test_A_hat_is_cast_to_E0s_dtype_as_every_propagation_op_does():
    """The one dtype rule of the propagation ops (ops/propagate.py's module docstring):
    a float64 ``Â`` with a float32 ``E0`` is cast entry by entry (it was refused here
    and cast silently by propagate_rows_forward); the same bits as ``Â`` cast once."""
    A_hat, E0 = _random_graph(4)
    E0 = E0.astype(np.float32)
    nodes = np.array([2, 40, 77])
    for backend in ("numba", "numpy"):
        E_cast, c_cast = lg.lightgcn_rows_forward(A_hat, E0, 2, nodes, backend=backend)
        E_once, c_once = lg.lightgcn_rows_forward(A_hat.astype(np.float32), E0, 2, nodes,
                                                  backend=backend)
        assert E_cast.dtype == np.float32
        np.testing.assert_array_equal(E_cast, E_once)
        dE = np.ones_like(E_cast)
        np.testing.assert_array_equal(lg.lightgcn_rows_backward(c_cast, dE),
                                      lg.lightgcn_rows_backward(c_once, dE))


def test_other_sparse_formats_are_converted():
    A_hat, E0 = _random_graph(2)
    nodes = np.array([3, 50, 61])
    E_csr, _ = lg.lightgcn_rows_forward(A_hat, E0, 2, nodes)
    E_coo, _ = lg.lightgcn_rows_forward(A_hat.tocoo(), E0, 2, nodes)
    np.testing.assert_array_equal(E_coo, E_csr)


@pytest.mark.parametrize("parallel", [False, True])
def test_int64_indices_give_the_same_bits(monkeypatch, parallel):
    """int64 index arrays compile the row kernels for another index type: the same bits as
    with SciPy's int32 ones, on the serial and the parallel (blocked) kernels, and equal to
    the NumPy path to rounding."""
    if parallel:
        monkeypatch.setattr(lg, "_PARALLEL_FROM", 0)           # blocked kernels for any size
    A_hat, E0 = _random_graph(7)
    A64 = A_hat.copy()
    A64.indptr, A64.indices = A_hat.indptr.astype(np.int64), A_hat.indices.astype(np.int64)
    assert A_hat.indices.dtype == np.int32 and A64.indices.dtype == np.int64
    dE_rows = np.random.default_rng(1).standard_normal((4, 6))
    for K, nodes in ((1, np.array([0, 3, 41, 80])), (3, np.array([2, 9, 45, 60]))):
        E32, c32 = lg.lightgcn_rows_forward(A_hat, E0, K, nodes)
        E64, c64 = lg.lightgcn_rows_forward(A64, E0, K, nodes)
        assert c64[0].indices.dtype == np.int64                  # not cast back to int32
        np.testing.assert_array_equal(E64, E32)
        dE0 = lg.lightgcn_rows_backward(c64, dE_rows)
        np.testing.assert_array_equal(dE0, lg.lightgcn_rows_backward(c32, dE_rows))
        E_np, c_np = lg.lightgcn_rows_forward(A64, E0, K, nodes, backend="numpy")
        np.testing.assert_allclose(E64, E_np, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dE0, lg.lightgcn_rows_backward(c_np, dE_rows), rtol=1e-12,
                                   atol=1e-15)
    level, _ = lg.hop_levels(A64, np.array([2, 9]), 2)
    np.testing.assert_array_equal(level, lg.hop_levels(A_hat, np.array([2, 9]), 2)[0])
    np.testing.assert_array_equal(level, lg.hop_levels(A64, np.array([2, 9]), 2,
                                                       backend="numpy")[0])


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_fit_on_both_backends_gives_the_same_model(loss):
    """Three epochs of LightGCN.fit in float64 (24-48 Adam steps): the numba row kernels and
    the NumPy row slices see the same batches and add in the same order, so the losses, E0
    and the final embeddings are the same bits (float32 too: tests/test_backend_bits.py).
    Bit-for-bit equality across thread counts is tests/test_models.py's."""
    from minigraphrec.datasets import synthetic
    from minigraphrec.models import LightGCN
    data = synthetic(n_users=40, n_items=50, n_communities=3, mean_interactions=6,
                     min_interactions=3, random_state=0)
    kw = dict(dim=8, n_layers=2, epochs=3, batch_size=32, lr=0.01, loss=loss, dtype="float64",
              random_state=0)
    ref, got = (LightGCN(backend=b, **kw).fit(data) for b in ("numpy", "numba"))
    assert got.step_ == ref.step_ > 0
    assert [h["loss"] for h in got.history_] == [h["loss"] for h in ref.history_]
    for E, E_ref in ((got.params["E0"], ref.params["E0"]),
                     (got.user_embeddings_, ref.user_embeddings_),
                     (got.item_embeddings_, ref.item_embeddings_)):
        np.testing.assert_array_equal(E, E_ref)
