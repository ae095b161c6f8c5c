"""Negative sampling: kernel == reference, identical across backends, uniform, never a positive."""
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec.errors import DataError
from minigraphrec.kernels.sampling import nth_absent
from minigraphrec.ops import sample_bpr, sample_negatives
from minigraphrec.ops.sampling import nth_absent_reference

BACKENDS = ("numba", "numpy")


def random_R(rng, n_users=40, n_items=30, density=0.15):
    """Binary canonical CSR, skewed: an empty user, a heavy one, one missing a single item."""
    R = (rng.random((n_users, n_items)) < density).astype(np.float64)
    R[0] = 0                                   # no positive
    R[1, : n_items - 1] = 1                    # all but the last item
    R[1, n_items - 1] = 0
    R[2] = rng.random(n_items) < 0.8           # heavy
    return sp.csr_matrix(R)


def chi2_bound(dof):
    """Chi-square statistic bound: mean + 6 sd; a correct sampler stays below it."""
    return dof + 6 * np.sqrt(2 * dof)


def chi2(observed, expected):
    return float(np.sum((observed - expected) ** 2 / expected))


# ------------------------------------------------------------- rank -> item map
def test_nth_absent_hand_computed():
    # row 0: positives {1, 2, 5} of 7 items -> non-positives 0, 3, 4, 6
    # row 1: no positive -> the rank is the item
    R = sp.csr_matrix(np.array([[0, 1, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0]], dtype=float))
    rows = np.array([0, 0, 0, 0, 1, 1], dtype=np.int64)
    ranks = np.array([0, 1, 2, 3, 0, 6], dtype=np.int64)
    want = [0, 3, 4, 6, 0, 6]
    np.testing.assert_array_equal(nth_absent_reference(R.indptr, R.indices, 7, rows, ranks), want)
    out = np.empty(6, dtype=np.int64)
    np.testing.assert_array_equal(nth_absent(R.indptr, R.indices, rows, ranks, out), want)


def test_nth_absent_kernel_equals_reference_and_brute_force():
    rng = np.random.default_rng(0)
    R = random_R(rng, n_users=60, n_items=45)
    deg = np.diff(R.indptr)
    rows = rng.integers(0, 60, size=5000)
    rows = rows[deg[rows] < 45]
    ranks = rng.integers(0, 45 - deg[rows])
    ref = nth_absent_reference(R.indptr, R.indices, 45, rows, ranks)
    got = nth_absent(R.indptr, R.indices, rows, ranks, np.empty(rows.size, dtype=np.int64))
    np.testing.assert_array_equal(got, ref)
    dense = R.toarray() != 0
    brute = [np.flatnonzero(~dense[u])[r] for u, r in zip(rows, ranks)]
    np.testing.assert_array_equal(ref, brute)


# ------------------------------------------------------------------- sample_bpr
def test_bpr_identical_across_backends_and_valid():
    rng = np.random.default_rng(1)
    R = random_R(rng)
    a = sample_bpr(R, random_state=42, backend="numba")
    b = sample_bpr(R, random_state=42, backend="numpy")
    for x, y in zip(a, b):
        assert x.dtype == np.int64 and x.shape == (R.nnz,)
        np.testing.assert_array_equal(x, y)
    users, pos, neg = a
    dense = R.toarray() != 0
    assert np.all(dense[users, pos]), "a positive is not a stored entry"
    assert not np.any(dense[users, neg]), "a negative is one of the user's positives"
    assert users.min() >= 0 and users.max() < R.shape[0]
    assert neg.min() >= 0 and neg.max() < R.shape[1]
    assert not np.any(users == 0), "the user without positives was sampled"


def test_bpr_determinism():
    R = random_R(np.random.default_rng(2))
    a = sample_bpr(R, n_samples=500, random_state=7)
    b = sample_bpr(R, n_samples=500, random_state=7)
    c = sample_bpr(R, n_samples=500, random_state=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[2], c[2])
    # a Generator is used in place: the same stream as its seed, then it moves on
    g = np.random.default_rng(7)
    first = sample_bpr(R, n_samples=500, random_state=g)
    second = sample_bpr(R, n_samples=500, random_state=g)
    np.testing.assert_array_equal(first[0], a[0])
    assert not np.array_equal(first[0], second[0])


def test_bpr_users_and_positives_are_uniform():
    # skewed degrees: sampling edges instead of users would fail the user test badly
    rng = np.random.default_rng(3)
    R = random_R(rng, n_users=25, n_items=40, density=0.1)
    n = 200_000
    users, pos, _ = sample_bpr(R, n_samples=n, random_state=11)
    deg = np.diff(R.indptr)
    active = np.flatnonzero(deg)
    counts = np.bincount(users, minlength=R.shape[0])
    assert counts[deg == 0].sum() == 0
    assert chi2(counts[active], n / active.size) < chi2_bound(active.size - 1)
    # positives given the user: expected count of (u, i) is counts[u] / deg[u]
    pair = np.bincount(users * R.shape[1] + pos, minlength=R.shape[0] * R.shape[1])
    pair = pair.reshape(R.shape)
    dense = R.toarray() != 0
    expected = (counts / np.maximum(deg, 1))[:, None] * dense
    assert pair[~dense].sum() == 0
    dof = int(np.sum(deg[active] - 1))
    assert chi2(pair[dense], expected[dense]) < chi2_bound(dof)


def test_bpr_negatives_are_uniform_over_non_positives():
    R = sp.csr_matrix(np.array([[1, 0, 0, 1, 0, 0, 0, 1],
                                [0, 1, 1, 1, 1, 1, 1, 0],
                                [0, 0, 0, 0, 0, 0, 0, 1]], dtype=float))
    n = 120_000
    users, _, neg = sample_bpr(R, n_samples=n, random_state=5)
    dense = R.toarray() != 0
    stat, dof = 0.0, 0
    for u in range(3):
        counts = np.bincount(neg[users == u], minlength=8)
        assert counts[dense[u]].sum() == 0
        free = ~dense[u]
        stat += chi2(counts[free], counts.sum() / free.sum())
        dof += int(free.sum()) - 1
    assert stat < chi2_bound(dof)


def test_bpr_sizes_and_canonicalisation():
    R = random_R(np.random.default_rng(4))
    assert sample_bpr(R, n_samples=0, random_state=0)[0].shape == (0,)
    assert sample_bpr(R, n_samples=np.int64(17), random_state=0)[2].shape == (17,)
    # duplicates and unsorted indices: same triples as the canonical matrix, input untouched
    coo = R.tocoo()
    perm = np.random.default_rng(0).permutation(coo.nnz)
    rows = np.concatenate([coo.row[perm], coo.row[:5]])     # 5 duplicated pairs
    cols = np.concatenate([coo.col[perm], coo.col[:5]])
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=R.shape[0]))])
    messy = sp.csr_matrix((np.ones(rows.size), cols[order], indptr), shape=R.shape)
    assert messy.nnz == R.nnz + 5 and not messy.has_canonical_format
    before = messy.indices.copy()
    for backend in BACKENDS:
        got = sample_bpr(messy, random_state=3, backend=backend)
        want = sample_bpr(R, random_state=3, backend=backend)
        assert got[0].shape == (R.nnz,)                 # n_samples counts distinct pairs
        for x, y in zip(got, want):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(messy.indices, before)


def test_explicit_zeros_count_as_positives():
    R = sp.csr_matrix(np.array([[1.0, 0.0, 0.0, 0.0]]))
    R.indices = np.array([0, 2], dtype=R.indices.dtype)  # (0, 2) stored with value 0
    R.data = np.array([1.0, 0.0])
    R.indptr = np.array([0, 2], dtype=R.indptr.dtype)
    users, pos, neg = sample_bpr(R, n_samples=2000, random_state=0)
    assert set(np.unique(pos)) == {0, 2} and set(np.unique(neg)) == {1, 3}


def test_bpr_bad_inputs():
    R = random_R(np.random.default_rng(5))
    with pytest.raises(DataError, match="no stored entries"):
        sample_bpr(sp.csr_matrix((4, 5)))
    with pytest.raises(DataError, match="no items"):
        sample_bpr(sp.csr_matrix((4, 0)))
    full = R.tolil()
    full[7, :] = 1
    with pytest.raises(DataError, match=r"user 7 has all 30 items"):
        sample_bpr(full.tocsr(), random_state=0)
    with pytest.raises(TypeError, match="scipy sparse"):
        sample_bpr(R.toarray())
    # the counts are checked as every count is (check_int): a DataError, a bool or a float
    # included (they were a ValueError and a TypeError beside the models' DataError)
    with pytest.raises(DataError, match="n_samples must be an integer >= 0, got -1"):
        sample_bpr(R, n_samples=-1)
    with pytest.raises(DataError, match="n_samples must be an integer >= 0, got 2.5"):
        sample_bpr(R, n_samples=2.5)
    with pytest.raises(DataError, match="backend must be one of"):
        sample_bpr(R, backend="cpp")


# ------------------------------------------------------------- sample_negatives
def test_negatives_identical_across_backends_and_valid():
    rng = np.random.default_rng(6)
    R = random_R(rng)
    users = rng.integers(0, R.shape[0], size=300)
    a = sample_negatives(R, users, n_negatives=4, random_state=9, backend="numba")
    b = sample_negatives(R, users, n_negatives=4, random_state=9, backend="numpy")
    assert a.dtype == np.int64 and a.shape == (300, 4)
    np.testing.assert_array_equal(a, b)
    dense = R.toarray() != 0
    assert not np.any(dense[users[:, None], a])
    assert a.min() >= 0 and a.max() < R.shape[1]
    # user 1 lacks only the last item: it is the only possible negative
    assert np.all(sample_negatives(R, [1, 1], 3, random_state=0) == R.shape[1] - 1)
    c = sample_negatives(R, users, n_negatives=4, random_state=10)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(sample_negatives(R, users, 4, random_state=9), a)


def test_negatives_uniform():
    R = sp.csr_matrix(np.array([[1, 0, 1, 0, 0, 1, 0, 0, 0, 1],
                                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=float))
    draws = sample_negatives(R, [0, 1], n_negatives=60_000, random_state=1)
    dense = R.toarray() != 0
    stat, dof = 0.0, 0
    for u in range(2):
        counts = np.bincount(draws[u], minlength=10)
        assert counts[dense[u]].sum() == 0
        free = ~dense[u]
        stat += chi2(counts[free], 60_000 / free.sum())
        dof += int(free.sum()) - 1
    assert stat < chi2_bound(dof)


def test_negatives_empty_users():
    R = random_R(np.random.default_rng(7))
    assert sample_negatives(R, np.array([], dtype=np.int64), 3).shape == (0, 3)
    assert sample_negatives(R, [], 2).shape == (0, 2)


def test_negatives_bad_inputs():
    R = random_R(np.random.default_rng(8))
    full = R.tolil()
    full[4, :] = 1
    full = full.tocsr()
    with pytest.raises(DataError, match=r"user 4 has all 30 items"):
        sample_negatives(full, [0, 3, 4, 5])
    sample_negatives(full, [0, 3, 5])                   # the full user is not asked for
    with pytest.raises(DataError, match=r"users\[1\] = 40 is out of range 0..39"):
        sample_negatives(R, [3, 40])
    with pytest.raises(DataError, match=r"users\[0\] = -1 is out of range"):
        sample_negatives(R, [-1])
    with pytest.raises(DataError, match="integer ids, got dtype float64"):
        sample_negatives(R, [1.0, 2.0])
    with pytest.raises(DataError, match="integer ids, got dtype bool"):
        sample_negatives(R, [True, False])
    with pytest.raises(DataError, match=r"users must be a 1-d array"):
        sample_negatives(R, [[1, 2]])
    with pytest.raises(DataError, match="n_negatives must be an integer >= 1, got 0"):
        sample_negatives(R, [1], n_negatives=0)
    with pytest.raises(DataError, match="n_negatives must be an integer >= 1, got True"):
        sample_negatives(R, [1], n_negatives=True)
    with pytest.raises(DataError, match="no items"):
        sample_negatives(sp.csr_matrix((3, 0)), [1])
    with pytest.raises(DataError, match="backend must be one of"):
        sample_negatives(R, [1], backend="gpu")


def test_the_error_for_users_with_every_item_counts_them():
    """It named the first such user only and said "drop that user before sampling"; now it
    counts them (distinct users) and says how, and that the models' training does it."""
    R = random_R(np.random.default_rng(9)).tolil()
    R[[5, 7, 9], :] = 1
    R = R.tocsr()
    with pytest.raises(DataError, match=r"user 5 has all 30 items as positives in R, and so "
                       r"do 2 other user\(s\) asked for: no negative item exists for them. "
                       r"Empty their rows of R before sampling \(the models' training leaves "
                       r"such users out"):
        sample_bpr(R, random_state=0)
    with pytest.raises(DataError, match=r"user 9 has all 30 items .* so do 1 other user"):
        sample_negatives(R, [3, 9, 9, 4, 7, 9])
    with pytest.raises(DataError, match=r"user 7 has all 30 items as positives in R, the only "
                       r"such user asked for"):
        sample_negatives(R, [7, 7, 3])
