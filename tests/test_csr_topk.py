"""Top-k per CSR row: the numba kernel against the NumPy reference and a plain sort."""
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec import DataError
from minigraphrec.models import knn
from minigraphrec.models.knn import csr_top_k, topk_similarity


def by_hand(S, k):
    """Row by row: sort positive entries by (value desc, column asc), keep the first k."""
    S = sp.csr_matrix(S)
    out = np.zeros(S.shape)
    for r in range(S.shape[0]):
        lo, hi = S.indptr[r], S.indptr[r + 1]
        entries = [(-v, c) for v, c in zip(S.data[lo:hi], S.indices[lo:hi]) if v > 0]
        for negv, c in sorted(entries)[:k]:
            out[r, c] = -negv
    return out


@pytest.mark.parametrize("k", [1, 2, 5, 40])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_equals_reference_and_hand_sort(k, dtype):
    rng = np.random.default_rng(k)
    S = sp.random(30, 40, density=0.3, random_state=rng, format="csr")
    S.data = (np.round(S.data * 4 - 1) / 2).astype(np.float64)    # ties, zeros and negatives
    S = S.astype(dtype)
    S = sp.csr_matrix(sp.diags((np.arange(30) != 2).astype(dtype)) @ S)   # row 2 empty
    S.data[S.data == 0] = 0.0                                     # explicit zeros stay stored
    fast = csr_top_k(S, k, backend="numba")
    ref = csr_top_k(S, k, backend="numpy")
    for T in (fast, ref):
        assert T.dtype == dtype and T.has_sorted_indices
        assert np.all(T.data > 0) and np.all(np.diff(T.indptr) <= k)
        np.testing.assert_array_equal(T.toarray(), by_hand(S, k))
    np.testing.assert_array_equal(fast.indptr, ref.indptr)
    np.testing.assert_array_equal(fast.indices, ref.indices)
    np.testing.assert_array_equal(fast.data, ref.data)


def test_ties_at_the_cut_go_to_the_smaller_column():
    S = sp.csr_matrix(np.array([[0.0, 2.0, 1.0, 2.0, 1.0, 1.0, -3.0]]))
    for backend in ("numba", "numpy"):
        T = csr_top_k(S, 3, backend=backend)
        np.testing.assert_array_equal(T.indices, [1, 2, 3])
        np.testing.assert_array_equal(T.data, [2.0, 1.0, 2.0])


def test_unsorted_and_duplicate_input():
    # entries (0, 3) twice (summed to 2.0), columns out of order
    S = sp.csr_matrix((np.array([1.0, 0.5, 1.0, 3.0]), np.array([3, 1, 3, 0]),
                       np.array([0, 4])), shape=(1, 5))
    for backend in ("numba", "numpy"):
        T = csr_top_k(S, 2, backend=backend)
        np.testing.assert_array_equal(T.indices, [0, 3])
        np.testing.assert_array_equal(T.data, [3.0, 2.0])


def test_bad_input():
    S = sp.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="k must be"):
        csr_top_k(S, 0)
    with pytest.raises(TypeError, match="sparse"):
        csr_top_k(np.eye(3), 1)
    with pytest.raises(DataError, match="backend"):
        csr_top_k(S, 1, backend="torch")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_work_bounded_blocks_do_not_change_the_similarity(backend, monkeypatch):
    rng = np.random.default_rng(3)
    X = sp.random(60, 45, density=0.1, random_state=rng, format="csr", data_rvs=np.ones)
    X = sp.csr_matrix(sp.diags((np.arange(60) % 17 != 0).astype(float)) @ X)   # empty rows
    whole = topk_similarity(X, 5, "cosine", 0.5, block_size=60, backend=backend)
    monkeypatch.setattr(knn, "_BLOCK_PRODUCTS", 7)                 # a block every row or two
    XT = sp.csr_matrix(X.T)
    blocks = knn._row_blocks(sp.csr_matrix(X), XT, None)
    assert len(blocks) > 20 and blocks[0][0] == 0 and blocks[-1][1] == 60
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    small = topk_similarity(X, 5, "cosine", 0.5, backend=backend)
    np.testing.assert_array_equal(small.toarray(), whole.toarray())
