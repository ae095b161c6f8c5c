"""Edge cases of the propagation ops (:mod:`minigraphrec.ops.propagate`,
:mod:`minigraphrec.ops.lightgcn_rows`, :func:`minigraphrec.ops.spmm`): corrupt CSR arrays
on either backend, non-finite and negative values of ``Â``, a non-symmetric ``Â`` given to
the batch-restricted LightGCN, the dtype of an incoming gradient, the one dtype rule of
``Â``, and GCN's scratch arrays kept between steps.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import child_env

from minigraphrec import graph, ops
from minigraphrec.errors import DataError
from minigraphrec.ops import lightgcn_rows as lg
from minigraphrec.ops import propagate


def _A_hat(seed=0, n_users=6, n_items=7, density=0.4, dtype=np.float64):
    """LightGCN's symmetric Â of a random bipartite graph, and an (n, 3) E0."""
    rng = np.random.default_rng(seed)
    R = sp.csr_matrix((rng.random((n_users, n_items)) < density).astype(np.float64))
    A_hat = graph.normalize_adjacency(graph.bipartite_adjacency(R), "symmetric")
    return A_hat.astype(dtype), rng.standard_normal((n_users + n_items, 3)).astype(dtype)


def _forwards(A, X, backend):
    """Every public forward op that takes ``A`` as its operator, with ``X``."""
    return {"spmm": lambda: ops.spmm(A, X, backend=backend),
            "propagate_forward": lambda: propagate.propagate_forward(A, X, backend=backend),
            "lightgcn_forward": lambda: propagate.lightgcn_forward(A, X, 2, backend=backend),
            "propagate_rows_forward": lambda: propagate.propagate_rows_forward(
                A, X, [0, 2], backend=backend),
            "lightgcn_rows_forward": lambda: lg.lightgcn_rows_forward(A, X, 2, [0, 2],
                                                                      backend=backend)}


# ------------------------------------------------------------ corrupt CSR arrays
def test_a_column_index_out_of_range_is_refused_on_both_backends_in_a_subprocess():
    """The NumPy backend multiplied SciPy's CSR arrays unchecked: a column index just past
    the end read garbage (4.9e-324), a far one crashed the process; a bad ``A_hat_T`` was
    found at backward time only, under the name ``A``. Run apart: the old code segfaults."""
    script = textwrap.dedent("""
        import numpy as np, scipy.sparse as sp
        from minigraphrec import graph
        from minigraphrec.errors import DataError
        from minigraphrec.ops import lightgcn_rows, propagate
        R = sp.csr_matrix(np.eye(6, 7) + np.eye(6, 7, 1))
        A = graph.normalize_adjacency(graph.bipartite_adjacency(R), "symmetric")
        X = np.ones((13, 3))
        calls = {
            "propagate": lambda B, be: propagate.propagate_forward(B, X, backend=be),
            "lightgcn": lambda B, be: propagate.lightgcn_forward(B, X, 1, backend=be),
            "rows": lambda B, be: propagate.propagate_rows_forward(B, X, [0, 5], backend=be),
            "lightgcn_rows": lambda B, be: lightgcn_rows.lightgcn_rows_forward(
                B, X, 1, [0, 5], backend=be),
            "A_hat_T": lambda B, be: propagate.propagate_forward(A, X, backend=be, A_hat_T=B),
        }
        for bad in (14, 200_000_000):
            B = A.copy()
            B.indices = B.indices.copy()
            B.indices[0] = bad
            for name, call in calls.items():
                for be in ("numpy", "numba"):
                    try:
                        call(B, be)
                        print("accepted", name, be, bad)
                    except DataError as err:
                        print("refused", name, be, bad, err)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=child_env())
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 20 and all(line.startswith("refused") for line in lines), lines
    for line in lines:
        name = "A_hat_T" if " A_hat_T " in line else "A_hat"
        bad = line.split()[3]
        assert line.endswith(f" {name} is not a valid CSR matrix of shape (13, 13): row 0 "
                             f"holds column index {bad}, outside 0..12"), line


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_decreasing_indptr_is_refused_naming_A_hat_or_A_hat_T_in_the_forward(backend):
    A, X = _A_hat()
    B = A.copy()
    B.indptr = B.indptr.copy()
    B.indptr[3] = B.indptr[2] - 1
    for call in (lambda: propagate.propagate_forward(B, X, backend=backend),
                 lambda: propagate.lightgcn_forward(B, X, 2, backend=backend)):
        with pytest.raises(DataError, match=r"^A_hat is not a valid CSR matrix of shape "
                                            r"\(13, 13\): its indptr decreases at row 2"):
            call()
    # a bad A_hat_T: refused where it is given, not when the backward pass first reads it
    for call in (lambda: propagate.propagate_forward(A, X, backend=backend, A_hat_T=B),
                 lambda: propagate.lightgcn_forward(A, X, 2, backend=backend, A_hat_T=B)):
        with pytest.raises(DataError, match=r"^A_hat_T is not a valid CSR matrix"):
            call()


def test_a_csc_A_hat_T_is_converted_and_checked_once():
    A, X = _A_hat()
    dY = np.random.default_rng(1).standard_normal(X.shape)
    for backend in ("numpy", "numba"):
        _, cache = propagate.propagate_forward(A, X, backend=backend, A_hat_T=A.T)   # CSC
        assert cache[1].format == "csr"
        np.testing.assert_array_equal(propagate.propagate_backward(cache, dY), A.T @ dY)
        _, cache = propagate.propagate_forward(A, X, backend=backend, A_hat_T=A)
        assert cache[1] is cache[0]                     # symmetric: checked once, kept once


# ------------------------------------------------------------ non-finite values
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_of_A_hat_is_refused_naming_its_row_and_column(backend, value):
    """NaN and inf went through every op on both backends, into every row reading them."""
    A, X = _A_hat()
    A.data[5] = value
    row = int(np.searchsorted(A.indptr, 5, side="right")) - 1
    col = int(A.indices[5])
    for name, call in _forwards(A, X, backend).items():
        who = "A" if name == "spmm" else "A_hat"
        with pytest.raises(DataError, match=rf"^{who}\[{row}, {col}\] = {value} is not "
                                            r"finite"):
            call()


def test_a_value_that_overflows_the_cast_and_a_non_finite_A_hat_T_are_refused():
    A, X = _A_hat()
    big = A.copy()
    big.data[0] = 1e300                                     # finite in float64, inf in float32
    with pytest.raises(DataError, match=r"A_hat\[0, \d+\] = 1e\+300, inf in float32 is not "
                                        r"finite"):
        propagate.propagate_forward(big, X.astype(np.float32))
    propagate.propagate_forward(big, X)                     # float64: finite, taken
    with pytest.raises(DataError, match=r"^A_hat_T\[0, \d+\] = nan"):
        bad = A.copy()
        bad.data[0] = np.nan
        propagate.propagate_forward(A, X, A_hat_T=bad)
    dense = A.toarray()
    dense[2, 9] = np.nan
    with pytest.raises(DataError, match=r"^A_hat\[2, 9\] = nan is not finite"):
        propagate.propagate_forward(dense, X)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_negative_weights_are_taken(backend):
    A, X = _A_hat()
    A.data[::2] *= -1                                       # still symmetric: (r, c), (c, r)
    A = (A + A.T) * 0.5
    Y, _ = propagate.propagate_forward(A, X, backend=backend)
    np.testing.assert_allclose(Y, A.toarray() @ X, rtol=1e-13, atol=1e-15)
    E_rows, _ = lg.lightgcn_rows_forward(A, X, 2, [0, 3], backend=backend)
    E, _ = propagate.lightgcn_forward(A, X, 2, backend=backend)
    np.testing.assert_allclose(E_rows, E[[0, 3]], rtol=1e-12, atol=1e-15)


# --------------------------------------------------- symmetry of lightgcn_rows' Â
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lightgcn_rows_refuses_a_non_symmetric_A_hat_naming_the_first_pair(backend):
    """A row-normalised Â gave the right forward rows and a gradient 40 % off: the forward
    rows are still given (they are right), the backward pass refuses."""
    A, X = _A_hat()
    A_mean = graph.normalize_adjacency(graph.bipartite_adjacency(A[:6, 6:]), "left")
    D = (A_mean - A_mean.T).tocsr()
    D.eliminate_zeros()
    r, c = int(np.searchsorted(D.indptr, 0, side="right")) - 1, int(D.indices[0])
    E_rows, cache = lg.lightgcn_rows_forward(A_mean, X, 2, [0, 3], backend=backend)
    E, _ = propagate.lightgcn_forward(A_mean, X, 2, backend=backend)
    np.testing.assert_allclose(E_rows, E[[0, 3]], rtol=1e-12, atol=1e-15)
    with pytest.raises(DataError, match=rf"A_hat must be symmetric .* A_hat\[{r}, {c}\] = "
                                        rf"{A_mean[r, c]} and A_hat\[{c}, {r}\] = "
                                        rf"{A_mean[c, r]} differ"):
        lg.lightgcn_rows_backward(cache, np.ones_like(E_rows))
    _, cache = lg.lightgcn_rows_forward(A_mean, X, 0, [0, 3], backend=backend)
    lg.lightgcn_rows_backward(cache, np.ones((2, 3)))             # K = 0 reads no Â
    # the unchecked core (the model's steps) skips the check
    _, cache = lg.lightgcn_rows_core(A_mean, X, 2, np.array([0, 3]), backend)
    lg.lightgcn_rows_backward(cache, np.ones((2, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lightgcn_rows_takes_a_symmetric_A_hat_up_to_rounding(dtype):
    """A difference of a few ulps is rounding (the tolerance is sqrt(eps) max|Â|), and a
    stored zero whose mirror is not stored is symmetric."""
    A, X = _A_hat(dtype=dtype)
    noisy = A.copy()
    noisy.data[3] = np.nextafter(noisy.data[3], dtype(2), dtype=dtype)
    noisy.data[3] = np.nextafter(noisy.data[3], dtype(2), dtype=dtype)
    dE = np.ones((2, 3), dtype=dtype)
    lg.lightgcn_rows_backward(lg.lightgcn_rows_forward(noisy, X, 2, [0, 3])[1], dE)
    coo = A.tocoo()
    with_zero = sp.csr_matrix((np.append(coo.data, dtype(0)), (np.append(coo.row, 0),
                                                              np.append(coo.col, 0))),
                              shape=A.shape)
    assert with_zero.nnz == A.nnz + 1 and with_zero[0, 0] == 0   # the stored zero (0, 0)
    lg.lightgcn_rows_backward(lg.lightgcn_rows_forward(with_zero, X, 2, [0, 3])[1], dE)
    far = A.copy()
    far.data[3] *= 1 + 10 * np.sqrt(np.finfo(dtype).eps)
    _, cache = lg.lightgcn_rows_forward(far, X, 2, [0, 3])
    with pytest.raises(DataError, match="A_hat must be symmetric"):
        lg.lightgcn_rows_backward(cache, dE)


def _non_canonical(A):
    """``A`` with every entry split in two halves (duplicates) and each row's entries in
    descending column order: the same operator, unsorted."""
    coo = A.tocoo()
    r = np.concatenate([coo.row, coo.row])
    c = np.concatenate([coo.col, coo.col])
    v = np.concatenate([coo.data * 0.25, coo.data * 0.75])
    order = np.lexsort((-c, r))
    indptr = np.searchsorted(r[order], np.arange(A.shape[0] + 1))
    B = sp.csr_matrix((v[order], c[order], indptr), shape=A.shape)
    assert not B.has_sorted_indices
    return B


@pytest.mark.parametrize("K", [1, 3])
def test_lightgcn_rows_backends_give_the_same_bits_on_unsorted_indices(K):
    """The wrapper sorts a copy of an unsorted Â: the first backward hop then adds in one
    order on both backends (the gradients differed in the last bits)."""
    A, X = _A_hat(7)                                        # differed at K = 1 and 3
    B = _non_canonical(A)
    nodes = np.array([0, 3, 8])
    G = np.random.default_rng(0).standard_normal((3, 3))
    out = {}
    for backend in ("numpy", "numba"):
        E, cache = lg.lightgcn_rows_forward(B, X, K, nodes, backend=backend)
        out[backend] = E, lg.lightgcn_rows_backward(cache, G)
    np.testing.assert_array_equal(out["numpy"][0], out["numba"][0])
    np.testing.assert_array_equal(out["numpy"][1], out["numba"][1])
    assert not B.has_sorted_indices                         # the caller's matrix untouched


# ------------------------------------------------- the dtype of an incoming gradient
def _backward_cases(dtype, backend):
    """(backward name, backward, cache, gradient shape) after a forward pass in ``dtype``."""
    A, X = _A_hat(dtype=dtype)
    cases = []
    Y, c = propagate.propagate_forward(A, X, backend=backend)
    cases.append(("propagate_backward", propagate.propagate_backward, c, Y.shape))
    Y, c = propagate.lightgcn_forward(A, X, 2, backend=backend, A_hat_T=A)
    cases.append(("lightgcn_backward", propagate.lightgcn_backward, c, Y.shape))
    Y, c = propagate.propagate_rows_forward(A, X, [1, 1, 4], backend=backend)
    cases.append(("propagate_rows_backward", propagate.propagate_rows_backward, c, Y.shape))
    Y, c = lg.lightgcn_rows_forward(A, X, 2, [1, 4], backend=backend)
    cases.append(("lightgcn_rows_backward", lg.lightgcn_rows_backward, c, Y.shape))
    return cases


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype, other", [(np.float32, np.float64), (np.float64, np.float32)])
def test_every_propagation_backward_refuses_a_gradient_of_another_dtype(backend, dtype, other):
    """The full-graph backwards returned the gradient's dtype, the row ones cast it to the
    forward's: both are refused now, as every backward pass of mgr.ops does."""
    for op, backward, cache, shape in _backward_cases(dtype, backend):
        with pytest.raises(DataError, match=rf"^{op}: \w+ has dtype {np.dtype(other)}, the "
                                            rf"forward's output has {np.dtype(dtype)}"):
            backward(cache, np.ones(shape, dtype=other))
        assert backward(cache, np.ones(shape, dtype=dtype)).dtype == dtype


# ------------------------------------------------------------ the dtype rule of Â
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_every_op_casts_A_hat_to_the_dense_arguments_dtype(backend):
    """One rule (ops/propagate.py's module docstring): a float64 Â with float32 features
    is cast entry by entry, the output is float32, the same bits as Â cast once."""
    A, X = _A_hat(4)
    X32 = X.astype(np.float32)
    for (name, cast), once in zip(_forwards(A, X32, backend).items(),
                                  _forwards(A.astype(np.float32), X32, backend).values()):
        got, want = cast(), once()
        got, want = (got, want) if name == "spmm" else (got[0], want[0])
        assert got.dtype == np.float32, name
        np.testing.assert_array_equal(got, want)


def test_the_row_ops_refuse_a_dense_A_hat_and_the_full_graph_ops_take_it():
    A, X = _A_hat()
    dense = A.toarray()
    for call in (lambda: propagate.propagate_rows_forward(dense, X, [0]),
                 lambda: lg.lightgcn_rows_forward(dense, X, 2, [0])):
        with pytest.raises(TypeError, match="A_hat must be a scipy sparse matrix"):
            call()
    np.testing.assert_allclose(propagate.propagate_forward(dense, X)[0], A @ X,
                               rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(propagate.lightgcn_forward(dense, X, 2)[0],
                               propagate.lightgcn_forward(A, X, 2)[0], rtol=1e-14, atol=1e-15)


# ------------------------------------------------------------ GCN's scratch arrays
def test_gcn_steps_reuse_their_scratch_arrays_without_carrying_values_over():
    """The batch-local GCN keeps H (n, dim) and the backward's arrays between steps; a
    batch's loss and gradients do not depend on the batches before it."""
    import minigraphrec as mgr
    data = mgr.datasets.synthetic(n_users=60, n_items=80, n_communities=3,
                                  mean_interactions=6, min_interactions=3, random_state=0)
    model = mgr.GCN(dim=8, n_layers=3, random_state=0, dtype="float64").fit(data, epochs=0)
    model.step_ = 1
    rng = np.random.default_rng(0)
    b1, b2 = (mgr.PairBatch(rng.integers(0, 60, 4), rng.integers(0, 80, 4),
                            rng.integers(0, 80, 4)) for _ in range(2))
    loss1, grads1 = model.loss_and_grad(b1)
    grads1 = {k: v.copy() for k, v in grads1.items()}
    H = model._workspace["H"]
    model.loss_and_grad(b2)
    loss1_again, grads1_again = model.loss_and_grad(b1)
    assert model._workspace["H"] is H                        # one allocation, reused
    assert loss1_again == loss1
    for k in grads1:
        np.testing.assert_array_equal(grads1_again[k], grads1[k])
