"""Graph preprocessing: de-duplication, k-core, edge weights, adjacency, normalisation."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec import graph
from minigraphrec.data import Interactions
from minigraphrec.errors import DataError

S2, S6 = np.sqrt(2.0), np.sqrt(6.0)


@pytest.fixture
def strict():
    """Any floating-point warning or NumPy FP error becomes an exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


def random_log(seed, n_users=12, n_items=15, n=120, timestamps=True):
    rng = np.random.default_rng(seed)
    return Interactions(rng.integers(0, n_users, n), rng.integers(0, n_items, n),
                        n_users=n_users, n_items=n_items,
                        timestamps=rng.integers(0, 50, n).astype(float) if timestamps else None)


# ------------------------------------------------------------------ dedup
# rows:      0  1  2  3  4  5
DUP_U = [0, 1, 0, 0, 0, 1]
DUP_I = [1, 0, 1, 2, 1, 0]
DUP_T = [5., 3., 2., 7., 9., 3.]      # rows 1 and 5 tie in time
DUP_W = [1., 2., 4., 1., 8., 5.]


def dup_log(timestamps=True, weights=True):
    return Interactions(DUP_U, DUP_I, n_users=2, n_items=3,
                        timestamps=DUP_T if timestamps else None,
                        weights=DUP_W if weights else None,
                        user_ids=["ann", "bob"], item_ids=["x", "y", "z"],
                        item_features=np.arange(6.0).reshape(3, 2))


def rows_of(d):
    return list(zip(d.users.tolist(), d.items.tolist(),
                    [] if d.weights is None else d.weights.tolist(),
                    [] if d.timestamps is None else d.timestamps.tolist()))


def test_deduplicate_count_and_sum_by_hand():
    # pairs in order of first appearance: (0,1) row 0, (1,0) row 1, (0,2) row 3
    out = graph.deduplicate(dup_log(), keep="count")
    assert out.users.tolist() == [0, 1, 0] and out.items.tolist() == [1, 0, 2]
    assert out.weights.tolist() == [3.0, 2.0, 1.0]          # number of events
    assert out.timestamps.tolist() == [9.0, 3.0, 7.0]       # latest event
    out = graph.deduplicate(dup_log(), keep="sum")
    assert out.weights.tolist() == [1 + 4 + 8, 2 + 5, 1]
    # without weights, "sum" counts
    assert graph.deduplicate(dup_log(weights=False), keep="sum").weights.tolist() == [3, 2, 1]
    assert graph.deduplicate(dup_log(timestamps=False)).timestamps is None


def test_deduplicate_first_last_by_time_with_ties_in_file_order():
    # (0,1): times 5, 2, 9 at rows 0, 2, 4 -> first row 2, last row 4
    # (1,0): times 3, 3 at rows 1, 5 (tie) -> first row 1, last row 5
    first = graph.deduplicate(dup_log(), keep="first")
    assert rows_of(first) == [(1, 0, 2.0, 3.0), (0, 1, 4.0, 2.0), (0, 2, 1.0, 7.0)]
    last = graph.deduplicate(dup_log(), keep="last")
    assert rows_of(last) == [(0, 2, 1.0, 7.0), (0, 1, 8.0, 9.0), (1, 0, 5.0, 3.0)]


def test_deduplicate_without_timestamps_uses_file_order():
    first = graph.deduplicate(dup_log(timestamps=False), keep="first")
    assert first.weights.tolist() == [1.0, 2.0, 1.0]         # rows 0, 1, 3
    last = graph.deduplicate(dup_log(timestamps=False), keep="last")
    assert last.weights.tolist() == [1.0, 8.0, 5.0]          # rows 3, 4, 5


def test_deduplicate_keeps_id_space_and_features():
    out = graph.deduplicate(dup_log())
    assert (out.n_users, out.n_items) == (2, 3)
    assert out.item_ids.tolist() == ["x", "y", "z"]
    np.testing.assert_array_equal(out.item_features, np.arange(6.0).reshape(3, 2))


@pytest.mark.parametrize("keep", ["count", "sum", "first", "last"])
def test_deduplicate_leaves_one_row_per_pair(keep):
    d = random_log(0)
    out = graph.deduplicate(d, keep=keep)
    pairs = set(zip(out.users.tolist(), out.items.tolist()))
    assert len(pairs) == len(out) == len(set(zip(d.users.tolist(), d.items.tolist())))
    assert (out.to_csr() != d.to_csr()).nnz == 0


def test_deduplicate_rejects_bad_keep():
    with pytest.raises(DataError, match="keep must be"):
        graph.deduplicate(dup_log(), keep="mean")


# ----------------------------------------------------------------- k-core
def cascade_log():
    # Hand-made 2-core cascade (min_user = min_item = 2):
    #   item 3 has one user (3)        -> removed in round 1
    #   user 4 has item 0 three times  -> degree 1 on distinct pairs, removed in round 1
    #   user 3 then has item 2 only    -> removed in round 2
    #   item 2 then has user 2 only    -> removed in round 3
    #   user 2 then has item 1 (twice) -> degree 1, removed in round 4
    # Left: users {0, 1} x items {0, 1}. User 5 and item 4 never had an interaction.
    u = [0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4]
    i = [0, 1, 0, 1, 1, 1, 2, 2, 3, 0, 0, 0]
    return Interactions(u, i, n_users=6, n_items=5,
                        timestamps=np.arange(12.0),
                        user_ids=list("abcdef"), item_ids=list("pqrst"),
                        user_features=np.arange(12.0).reshape(6, 2),
                        item_features=sp.csr_matrix(np.eye(5)))


def test_k_core_cascade_by_hand():
    core = graph.k_core(cascade_log(), min_user=2, min_item=2)
    assert (core.n_users, core.n_items) == (2, 2)
    assert core.users.tolist() == [0, 0, 1, 1] and core.items.tolist() == [0, 1, 0, 1]
    assert core.timestamps.tolist() == [0.0, 1.0, 2.0, 3.0]       # rows 0..3 survive
    assert core.user_ids.tolist() == ["a", "b"] and core.item_ids.tolist() == ["p", "q"]
    np.testing.assert_array_equal(core.user_features, [[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(core.item_features.toarray(), np.eye(5)[:2])
    assert core.user_index == {"a": 0, "b": 1}


def test_k_core_without_compaction_keeps_id_space():
    core = graph.k_core(cascade_log(), min_user=2, min_item=2, compact=False)
    assert (core.n_users, core.n_items) == (6, 5)
    assert core.timestamps.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert core.user_features.shape == (6, 2)


def test_k_core_separate_thresholds():
    # min_item=1: only users matter. User 3 (items 2, 3) and user 2 (items 1, 2) keep
    # degree 2; user 4 (item 0 x3) goes; nothing cascades.
    core = graph.k_core(cascade_log(), min_user=2, min_item=1, compact=False)
    assert core.timestamps.tolist() == list(range(9))
    # min_user=1, min_item=3: item 0 has users {0,1,4}, item 1 {0,1,2}: both stay;
    # items 2, 3 go; users keep any remaining item.
    core = graph.k_core(cascade_log(), min_user=1, min_item=3, compact=False)
    assert core.timestamps.tolist() == [0, 1, 2, 3, 4, 5, 9, 10, 11]


def brute_force_core(users, items, min_user, min_item):
    """Remove one offending node at a time, in Python, until none is left."""
    edges = set(zip(users, items))
    while True:
        du, di = {}, {}
        for u, i in edges:
            du[u] = du.get(u, 0) + 1
            di[i] = di.get(i, 0) + 1
        bad_u = [u for u, k in du.items() if k < min_user]
        bad_i = [i for i, k in di.items() if k < min_item]
        if bad_u:
            edges = {(u, i) for u, i in edges if u != bad_u[0]}
        elif bad_i:
            edges = {(u, i) for u, i in edges if i != bad_i[0]}
        else:
            return edges


@pytest.mark.parametrize("seed,min_user,min_item", [(0, 3, 2), (1, 5, 4), (2, 2, 6)])
def test_k_core_matches_brute_force(seed, min_user, min_item):
    d = random_log(seed, n_users=20, n_items=25, n=200)
    core = graph.k_core(d, min_user=min_user, min_item=min_item, compact=False)
    expected = brute_force_core(d.users.tolist(), d.items.tolist(), min_user, min_item)
    assert set(zip(core.users.tolist(), core.items.tolist())) == expected
    # every event of a surviving pair survives
    keep = np.array([(u, i) in expected for u, i in zip(d.users.tolist(), d.items.tolist())])
    assert len(core) == keep.sum()
    np.testing.assert_array_equal(core.timestamps, d.timestamps[keep])


def test_k_core_checks_compact_before_pruning():
    """A bad compact was reported only after the whole pruning, and an empty core hid it."""
    with pytest.raises(ValueError, match="compact must be True or False, got 'no'"):
        graph.k_core(cascade_log(), min_user=3, min_item=3, compact="no")   # empty core


def test_k_core_errors():
    with pytest.raises(DataError, match="min_user must be an integer >= 1"):
        graph.k_core(cascade_log(), min_user=0)
    with pytest.raises(DataError, match="min_item must be an integer >= 1"):
        graph.k_core(cascade_log(), min_user=2, min_item=2.5)
    with pytest.raises(DataError, match="min_user must be an integer >= 1"):
        graph.k_core(cascade_log(), min_user=True)
    with pytest.raises(DataError, match=r"the \(3, 3\)-core is empty"):
        graph.k_core(cascade_log(), min_user=3, min_item=3)
    with pytest.raises(DataError, match="holds no interactions"):
        graph.k_core(Interactions([], [], n_users=2, n_items=2))
    with pytest.raises(TypeError, match="must be an Interactions"):
        graph.k_core(np.eye(3))


# ------------------------------------------------------------ edge weights
def test_frequency_weights_count_and_log1p():
    R = graph.frequency_weights(dup_log(weights=False), transform="count")
    assert R.shape == (2, 3) and R.has_sorted_indices
    np.testing.assert_array_equal(R.toarray(), [[0, 3, 1], [2, 0, 0]])
    R = graph.frequency_weights(dup_log(weights=False), transform="log1p")
    np.testing.assert_array_equal(R.toarray(), np.log1p([[0, 3, 1], [2, 0, 0]]))
    # after deduplicate(keep="count") the stored counts are the frequencies
    dd = graph.deduplicate(dup_log(), keep="count")
    np.testing.assert_array_equal(graph.frequency_weights(dd).toarray(), [[0, 3, 1], [2, 0, 0]])
    with pytest.raises(DataError, match="transform must be"):
        graph.frequency_weights(dup_log(), transform="sqrt")


def test_frequency_weights_match_deduplicate_sum_bit_for_bit():
    """frequency_weights (to_csr's SciPy sum after an unstable sort) and deduplicate's
    "sum" (np.bincount, row order) differed in the last bit for some pairs: 67 of 2,355.
    Both add a pair's weights in row order now."""
    rng = np.random.default_rng(5)
    for trial in range(300):
        n = int(rng.integers(3, 40))
        d = Interactions(rng.integers(0, 3, n), rng.integers(0, 3, n),
                         weights=rng.random(n) * 10, n_users=3, n_items=3,
                         timestamps=rng.random(n))
        g = graph.deduplicate(d, "sum")
        F = graph.frequency_weights(d)
        assert (F != graph.frequency_weights(g)).nnz == 0, trial
        assert [F[a, b] for a, b in zip(g.users, g.items)] == g.weights.tolist(), trial
        # the time-decayed sums take the same order: a sequential sum in row order
        T = graph.time_decay_weights(d, 0.3)
        decayed = d.weights * 0.5 ** ((d.timestamps.max() - d.timestamps) / 0.3)
        for a, b in zip(g.users.tolist(), g.items.tolist()):
            total = 0.0
            for x in decayed[(d.users == a) & (d.items == b)]:
                total += x
            assert T[a, b] == total, trial


def test_time_decay_is_half_at_one_half_life():
    d = Interactions([0, 0, 1, 1], [0, 1, 0, 0], n_users=2, n_items=2,
                     timestamps=[0.0, 10.0, 20.0, 10.0])
    R = graph.time_decay_weights(d, half_life=10.0)            # now = 20
    # powers of two: exact
    np.testing.assert_array_equal(R.toarray(), [[0.25, 0.5], [1.0 + 0.5, 0.0]])
    R = graph.time_decay_weights(d, half_life=10.0, now=30.0)
    np.testing.assert_array_equal(R.toarray(), [[0.125, 0.25], [0.5 + 0.25, 0.0]])
    R = graph.time_decay_weights(d, half_life=20.0)
    assert R[0, 0] == 0.5                                      # one half-life back
    np.testing.assert_allclose(R[0, 1], 2 ** -0.5, rtol=1e-15)


def test_time_decay_multiplies_event_weights():
    d = Interactions([0, 0], [0, 1], timestamps=[0.0, 4.0], weights=[3.0, 2.0])
    np.testing.assert_array_equal(graph.time_decay_weights(d, 4.0).toarray(), [[1.5, 2.0]])


def test_time_decay_errors():
    d = Interactions([0, 1], [1, 0], timestamps=[1.0, 5.0])
    with pytest.raises(DataError, match="needs timestamps"):
        graph.time_decay_weights(Interactions([0], [0]), 1.0)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(DataError, match="half_life must be a finite number > 0"):
            graph.time_decay_weights(d, bad)
    for bad in ("10", True):              # as the models' hyperparameter (was a TypeError)
        with pytest.raises(DataError, match=r"half_life must be a number \(a duration in the "
                                            r"timestamps' unit\), got (str '10'|bool True)"):
            graph.time_decay_weights(d, bad)
        with pytest.raises(DataError, match=r"half_life must be a number \(a duration"):
            graph.edge_weight_matrix(d, "time_decay", half_life=bad)
    with pytest.raises(DataError, match="now=4.0 precedes the latest timestamp 5.0"):
        graph.time_decay_weights(d, 1.0, now=4.0)
    for bad in (True, "20"):                             # True was 1.0
        with pytest.raises(TypeError, match="now must be a real number"):
            graph.time_decay_weights(d, 1.0, now=bad)
    with pytest.raises(DataError, match="now must be a finite number"):   # NaN "preceded"
        graph.time_decay_weights(d, 1.0, now=np.nan)
    signed = Interactions([0, 0], [0, 0], weights=[3.0, -3.0], timestamps=[1.0, 2.0])
    with pytest.raises(DataError, match="needs non-negative weights"):
        graph.time_decay_weights(signed, 1e12)                # gave -2.08e-12
    zero = Interactions([0, 1], [0, 1], weights=[0.0, 1.0], timestamps=[10.0, 10.0])
    with pytest.raises(DataError, match="its events' weights include 0; edge weights") as err:
        graph.edge_weight_matrix(zero, "time_decay", half_life=1e9)   # not "too short"
    assert "too short" not in str(err.value)
    for bad in (True, "5"):
        with pytest.raises(ValueError, match="half_life must be a number"):
            graph.check_edge_weights("time_decay", bad)
    with pytest.raises(ValueError, match="edge_weights must be one of"):
        graph.check_edge_weights(np.array(["count"]), None)


@pytest.mark.parametrize("w", [1e-170, 1e-160, 1e155, 1e300])
def test_symmetric_normalisation_survives_degrees_out_of_float64_range(w):
    """A lone edge normalises to 1 whatever its weight (sqrt(d_v d_w) underflowed to 0 or
    overflowed to inf for such weights, from a short time-decay half-life, say)."""
    A = sp.csr_matrix(np.array([[0.0, w], [w, 0.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A_hat = graph.normalize_adjacency(A).toarray()
    np.testing.assert_allclose(A_hat, [[0, 1], [1, 0]], rtol=1e-15)
    assert (A_hat == A_hat.T).all()


def test_deduplicate_and_k_core_keep_the_item_labels():
    d = Interactions([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 2], item_labels=["a", "b", "c"])
    for keep in ("first", "last", "count", "sum"):
        assert graph.deduplicate(d, keep).item_labels.tolist() == ["a", "b", "c"]
    core = graph.k_core(d, 2, 2)                          # item 2 falls out
    assert core.item_labels.tolist() == ["a", "b"] and core.n_items == 2


# --------------------------------------------------------------- adjacency
R_HAND = np.array([[1.0, 1.0, 0.0],      # user 0: items 0, 1
                   [1.0, 0.0, 0.0]])     # user 1: item 0; item 2 isolated
# nodes: u0 u1 i0 i1 i2; degrees 2 1 2 1 0


def test_bipartite_adjacency_users_first():
    A = graph.bipartite_adjacency(sp.csr_matrix(R_HAND))
    assert A.shape == (5, 5) and A.dtype == np.float64 and A.has_sorted_indices
    assert sp.isspmatrix_csr(A)
    expected = np.zeros((5, 5))
    expected[:2, 2:] = R_HAND
    expected[2:, :2] = R_HAND.T
    np.testing.assert_array_equal(A.toarray(), expected)
    # dense input and duplicate COO entries (summed) give the same
    np.testing.assert_array_equal(graph.bipartite_adjacency(R_HAND).toarray(), expected)
    coo = sp.coo_matrix(([0.5, 0.5, 1.0, 1.0], ([0, 0, 0, 1], [0, 0, 1, 0])), shape=(2, 3))
    np.testing.assert_array_equal(graph.bipartite_adjacency(coo).toarray(), expected)


def test_bipartite_adjacency_weights_in_csr_order():
    R = sp.csr_matrix(R_HAND)                   # stored: (0,0), (0,1), (1,0)
    A = graph.bipartite_adjacency(R, weights=[2.0, 3.0, 5.0])
    assert (A[0, 2], A[0, 3], A[1, 2]) == (2.0, 3.0, 5.0)
    assert (A[2, 0], A[3, 0], A[2, 1]) == (2.0, 3.0, 5.0)
    assert R.data.tolist() == [1.0, 1.0, 1.0]   # the input is not modified
    with pytest.raises(DataError, match=r"weights has shape \(2,\), expected \(3,\)"):
        graph.bipartite_adjacency(R, weights=[1.0, 2.0])
    with pytest.raises(DataError, match="finite and non-negative"):
        graph.bipartite_adjacency(R, weights=[1.0, -2.0, 1.0])


def test_bipartite_adjacency_errors():
    with pytest.raises(DataError, match=r"R\[1, 0\] = -1.0; edge weights must be non-negative"):
        graph.bipartite_adjacency(np.array([[1.0, 0.0], [-1.0, 0.0]]))
    with pytest.raises(DataError, match=r"R\[0, 0\] = nan; edge weights must be finite"):
        graph.bipartite_adjacency(np.array([[np.nan, 0.0]]))
    with pytest.raises(DataError, match="2-d matrix"):
        graph.bipartite_adjacency(np.ones(3))
    with pytest.raises(TypeError, match="to_csr"):
        graph.bipartite_adjacency(dup_log())


def test_symmetric_normalization_by_hand(strict):
    A_hat = graph.normalize_adjacency(graph.bipartite_adjacency(R_HAND))
    # A_hat[v, w] = 1 / sqrt(d_v d_w): (u0,i0) 1/sqrt(2*2), (u0,i1) 1/sqrt(2*1), (u1,i0) 1/sqrt(1*2)
    expected = np.zeros((5, 5))
    expected[0, 2] = expected[2, 0] = 0.5
    expected[0, 3] = expected[3, 0] = 1 / S2
    expected[1, 2] = expected[2, 1] = 1 / S2
    np.testing.assert_allclose(A_hat.toarray(), expected, rtol=1e-15, atol=0)
    assert A_hat.dtype == np.float64 and A_hat.has_sorted_indices
    assert A_hat[4].nnz == 0 and A_hat[:, 4].nnz == 0         # isolated item 2


def test_left_normalization_by_hand(strict):
    A_hat = graph.normalize_adjacency(graph.bipartite_adjacency(R_HAND), kind="left")
    expected = np.zeros((5, 5))
    expected[0, 2] = expected[0, 3] = 0.5        # u0: mean of i0, i1
    expected[1, 2] = 1.0                         # u1: i0
    expected[2, 0] = expected[2, 1] = 0.5        # i0: mean of u0, u1
    expected[3, 0] = 1.0                         # i1: u0
    np.testing.assert_array_equal(A_hat.toarray(), expected)
    np.testing.assert_array_equal(np.asarray(A_hat.sum(axis=1)).ravel(), [1, 1, 1, 1, 0])


def test_self_loops_by_hand(strict):
    A = graph.bipartite_adjacency(R_HAND)
    # degrees with self-loops: 3 2 3 2 1
    expected = np.zeros((5, 5))
    expected[0, 2] = expected[2, 0] = 1 / 3
    expected[0, 3] = expected[3, 0] = 1 / S6
    expected[1, 2] = expected[2, 1] = 1 / S6
    expected[np.diag_indices(5)] = [1 / 3, 1 / 2, 1 / 3, 1 / 2, 1]
    np.testing.assert_allclose(graph.normalize_adjacency(A, self_loops=True).toarray(),
                               expected, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(graph.normalize_adjacency(A, "none", self_loops=True).toarray(),
                                  A.toarray() + np.eye(5))
    left = graph.normalize_adjacency(A, "left", self_loops=True)
    np.testing.assert_allclose(np.asarray(left.sum(axis=1)).ravel(), np.ones(5), rtol=1e-15)
    assert left[4, 4] == 1.0


def test_none_normalization_is_a_float_copy():
    A = sp.csr_matrix(np.array([[0, 2], [2, 0]], dtype=np.int64))
    out = graph.normalize_adjacency(A, kind="none")
    assert out.dtype == np.float64 and out is not A
    np.testing.assert_array_equal(out.toarray(), [[0, 2], [2, 0]])


def test_weighted_normalization_uses_weighted_degrees(strict):
    R = np.array([[2.0, 0.0], [1.0, 3.0]])       # degrees u0 2, u1 4, i0 3, i1 3
    A = graph.bipartite_adjacency(R)
    sym = graph.normalize_adjacency(A).toarray()
    np.testing.assert_allclose([sym[0, 2], sym[1, 2], sym[1, 3]],
                               [2 / S6, 1 / np.sqrt(12), 3 / np.sqrt(12)], rtol=1e-15)
    left = graph.normalize_adjacency(A, "left").toarray()
    np.testing.assert_allclose([left[0, 2], left[1, 2], left[1, 3], left[2, 0], left[2, 1],
                                left[3, 1]], [1, 1 / 4, 3 / 4, 2 / 3, 1 / 3, 1], rtol=1e-15)


def test_symmetric_matches_dense_formula_and_is_exactly_symmetric(strict):
    d = random_log(3, n_users=30, n_items=40, n=300)
    R = sp.hstack([d.to_csr(), sp.csr_matrix((30, 3))], format="csr")
    A = graph.bipartite_adjacency(R)                          # items 40..42 isolated
    A_hat = graph.normalize_adjacency(A)
    D = A.toarray().sum(axis=1)
    inv = np.zeros_like(D)
    inv[D > 0] = D[D > 0] ** -0.5
    expected = inv[:, None] * A.toarray() * inv[None, :]
    np.testing.assert_allclose(A_hat.toarray(), expected, rtol=1e-15, atol=0)
    assert (A_hat != A_hat.T).nnz == 0                        # bit-for-bit symmetric
    assert (D == 0).any()                                     # the case of isolated nodes is hit


def test_isolated_nodes_and_empty_graph_give_zeros_without_warnings(strict):
    empty = graph.bipartite_adjacency(sp.csr_matrix((3, 4)))
    for kind in ("symmetric", "left", "none"):
        out = graph.normalize_adjacency(empty, kind=kind)
        assert out.shape == (7, 7) and out.nnz == 0
    # explicit zeros in an isolated row: stay zero, no 0/0
    A = sp.csr_matrix((np.array([0.0, 0.0]), (np.array([0, 1]), np.array([1, 0]))), shape=(3, 3))
    for kind in ("symmetric", "left"):
        out = graph.normalize_adjacency(A, kind=kind)
        assert np.all(np.isfinite(out.data)) and np.all(out.data == 0)


def test_normalize_errors():
    with pytest.raises(DataError, match="kind must be"):
        graph.normalize_adjacency(np.eye(2), kind="right")
    with pytest.raises(DataError, match=r"A must be square, got shape \(2, 3\)"):
        graph.normalize_adjacency(np.ones((2, 3)))
    with pytest.raises(DataError, match="non-negative"):
        graph.normalize_adjacency(-np.eye(2))


# -------------------------------------------------------------- build_graph
def test_build_graph_is_the_composition():
    d = random_log(4)
    train = graph.deduplicate(d)
    for norm in ("symmetric", "left", "none"):
        for loops in (False, True):
            expected = graph.normalize_adjacency(graph.bipartite_adjacency(d.to_csr()),
                                                 kind=norm, self_loops=loops)
            out = graph.build_graph(d, normalization=norm, self_loops=loops)
            assert (out != expected).nnz == 0
    log1p = graph.build_graph(train, weights="log1p")
    expected = graph.normalize_adjacency(graph.bipartite_adjacency(
        graph.frequency_weights(train, "log1p")))
    assert (log1p != expected).nnz == 0
    decay = graph.time_decay_weights(d, half_life=10.0)
    assert (graph.build_graph(d, weights=decay)
            != graph.normalize_adjacency(graph.bipartite_adjacency(decay))).nnz == 0


def test_edge_weight_matrix_checks_train_on_every_path():
    """time_decay read train.timestamps first: a raw NumPy error for an empty log, an
    AttributeError for a list."""
    empty = Interactions([], [], n_users=3, n_items=3, timestamps=[])
    for name in ("time_decay", "count", "log1p"):
        with pytest.raises(DataError, match="^train holds no interactions$"):
            graph.edge_weight_matrix(empty, name, 10.0)
        with pytest.raises(TypeError, match="^train must be an Interactions, got list$"):
            graph.edge_weight_matrix([1, 2], name, 1.0)
    assert graph.edge_weight_matrix([1, 2], None) is None          # no weights: no graph


def test_edge_weight_matrix_hint_is_the_pairs_own_cause():
    """The hint blamed zero weights whenever the data had one, though the reported pair's
    weight was 1 and had underflowed; each cause is named when the pair has it."""
    old = Interactions([0, 1, 2], [0, 0, 0], timestamps=[0, 1e6, 1e6], weights=[1, 1, 0])
    with pytest.raises(DataError, match=r"e.g. user 0, item 0: 0.0; half_life=1.0 is too "
                                        r"short for its events, which are up to 1e\+06 older "
                                        r"than the latest; edge weights must") as err:
        graph.edge_weight_matrix(old, "time_decay", 1.0)
    assert "include 0" not in str(err.value)
    both = Interactions([0, 0, 1], [0, 0, 0], timestamps=[0, 0, 1e6], weights=[0, 1, 1])
    with pytest.raises(DataError, match=r"user 0, item 0: 0.0; its events' weights include 0; "
                                        r"half_life=1.0 is too short"):
        graph.edge_weight_matrix(both, "time_decay", 1.0)
    huge = Interactions([0, 0], [0, 0], weights=[1e308, 1e308])
    with pytest.raises(DataError, match=r"inf; the sum of its weights overflows float64"):
        graph.edge_weight_matrix(huge, "count")


@pytest.mark.parametrize("call", [
    lambda M: graph.bipartite_adjacency(M),
    lambda M: graph.bipartite_adjacency(sp.csr_matrix(M)),
    lambda M: graph.normalize_adjacency(sp.csr_matrix(np.array([[0, 1 + 1j], [1 - 1j, 0]]))),
    lambda M: graph.build_graph(Interactions([0], [0], n_items=2), weights=M),
    lambda M: graph.edge_weights(Interactions([0], [0], n_items=2), weights=M),
    lambda M: graph.bipartite_adjacency(np.ones((1, 2)), weights=M.ravel()),
])
def test_complex_matrices_are_refused(call, strict):
    """Their imaginary part was dropped, with only a ComplexWarning."""
    with pytest.raises(DataError, match=r"must have a real \(bool, integer or float\) dtype, "
                                        r"got complex128: the imaginary part would be lost"):
        call(np.array([[1 + 1j, 0]]))


def test_bad_matrix_messages_name_the_matrix_and_the_entry():
    with pytest.raises(DataError, match=r"^R must have a real \(bool, integer or float\) "
                                        r"dtype, got <U1$"):
        graph.bipartite_adjacency(np.array([["a", "b"]]))      # "could not convert string"
    with pytest.raises(DataError, match=r"^A\[1, 0\] = inf; edge weights must be finite$"):
        graph.normalize_adjacency(sp.csr_matrix(np.array([[0, 1.0], [np.inf, 0]])))
    with pytest.raises(DataError, match=r"^weights\[1\] = nan; edge weights must be finite "
                                        r"and non-negative$"):
        graph.bipartite_adjacency(np.ones((1, 2)), weights=[1, np.nan])
    with pytest.raises(DataError, match=r"^weights\[0\] = -1.0; edge weights must be"):
        graph.bipartite_adjacency(np.ones((1, 2)), weights=[-1, 1])
    R = graph.bipartite_adjacency(np.array([[1, 0]], dtype=object))   # numbers: taken
    assert R.toarray().tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]


def test_normalize_adjacency_survives_an_overflowing_degree(strict):
    """A row sum beyond float64 (inf) made every entry of its row and column 0."""
    A = np.array([[0, 1e308, 1e308], [1e308, 0, 0], [1e308, 0, 0]])
    sym = graph.normalize_adjacency(A)
    np.testing.assert_allclose(sym.toarray(), [[0, S2 / 2, S2 / 2], [S2 / 2, 0, 0],
                                               [S2 / 2, 0, 0]], rtol=1e-15)
    left = graph.normalize_adjacency(A, "left")
    assert left.toarray().tolist() == [[0, 0.5, 0.5], [1, 0, 0], [1, 0, 0]]
    for kind, out in (("symmetric", sym), ("left", left)):
        # Â does not change when A is scaled by a power of two: the very same floats
        assert (out != graph.normalize_adjacency(A / 1024, kind)).nnz == 0
        with np.errstate(under="ignore"):                     # the loops' ~1e-308 entries
            with_loops = graph.normalize_adjacency(A, kind, self_loops=True)
        assert np.all(np.isfinite(with_loops.data)) and with_loops.nnz == 7


def test_build_graph_refuses_a_matrix_that_is_no_array():
    """A nested list said "weights has shape None, expected (1, 1)"."""
    d = Interactions([0], [0])
    with pytest.raises(DataError, match=r"^weights must be None, 'count', 'log1p' or a matrix "
                                        r"\(ndarray or scipy sparse\) of shape \(1, 1\), "
                                        r"got list$"):
        graph.build_graph(d, weights=[[1]])


def test_build_graph_errors():
    d = random_log(5)
    with pytest.raises(DataError, match="weights must be None, 'count', 'log1p' or a matrix"):
        graph.build_graph(d, weights="decay")
    with pytest.raises(DataError, match=r"expected \(12, 15\)"):
        graph.build_graph(d, weights=sp.csr_matrix((12, 14)))
    with pytest.raises(DataError, match=r"^normalization must be 'symmetric', 'left' or "
                                        r"'none', got 'sym'$"):   # was "kind must be ..."
        graph.build_graph(d, normalization="sym")
    with pytest.raises(TypeError, match="train must be an Interactions"):
        graph.build_graph(d.to_csr())


# --------------------------------------------------------- sparsification
def star_log():
    """User 0 takes items 0..3, users 1..3 take item 0 only, user 4 takes items 3 and 4.

    Degrees: users [4, 1, 1, 1, 2], items [4, 1, 1, 2, 1]. Pair (0, 1) is repeated.
    """
    users = [0, 0, 0, 0, 1, 2, 3, 4, 4, 0]
    items = [0, 1, 2, 3, 0, 0, 0, 3, 4, 1]
    times = [1., 2., 3., 4., 5., 6., 7., 8., 9., 10.]
    return Interactions(users, items, n_users=5, n_items=5, timestamps=times)


def test_edge_weights_normalized_by_hand():
    pu, pi, w, pair = graph.edge_weights(star_log())
    pairs = list(zip(pu.tolist(), pi.tolist()))
    assert pairs == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (2, 0), (3, 0), (4, 3), (4, 4)]
    expect = [1 / 4, 1 / 2, 1 / 2, 1 / np.sqrt(8), 1 / 2, 1 / 2, 1 / 2, 1 / 2, 1 / np.sqrt(2)]
    np.testing.assert_allclose(w, expect, rtol=1e-15)
    assert pair.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 1]
    _, _, wc, _ = graph.edge_weights(star_log(), "count")
    assert wc.tolist() == [1, 2, 1, 1, 1, 1, 1, 1, 1]


def test_drop_edges_fraction_and_threshold_by_hand():
    data = star_log()
    out = graph.drop_edges(data, fraction=0.25)          # floor(0.25 * 9) = 2 pairs go
    # the lightest: (0,0) 1/4, then (0,3) 1/sqrt(8); both events of the others stay
    kept = set(zip(out.users.tolist(), out.items.tolist()))
    assert (0, 0) not in kept and (0, 3) not in kept and len(out) == 8
    assert out.timestamps.tolist() == [2., 3., 5., 6., 7., 8., 9., 10.]     # file order
    assert out.n_users == 5 and out.n_items == 5
    out = graph.drop_edges(data, threshold=0.5)
    assert sorted(set(zip(out.users.tolist(), out.items.tolist()))) == \
        [(0, 1), (0, 2), (1, 0), (2, 0), (3, 0), (4, 3), (4, 4)]
    assert len(graph.drop_edges(data, fraction=0.0)) == len(data)
    # ties: among equal weights the later pair goes first
    # 3 of 9 pairs go; all but (0, 1) weigh 1
    out = graph.drop_edges(data, fraction=0.4, weights="count")
    assert sorted(set(zip(out.users.tolist(), out.items.tolist()))) == \
        [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (2, 0)]


def test_drop_edges_keeps_the_heaviest_pairs_on_random_logs():
    for seed in range(5):
        data = random_log(seed)
        pu, pi, w, _ = graph.edge_weights(data)
        weight = dict(zip(zip(pu.tolist(), pi.tolist()), w.tolist()))
        out = graph.drop_edges(data, fraction=0.3)
        kept = set(zip(out.users.tolist(), out.items.tolist()))
        dropped = set(weight) - kept
        assert len(dropped) == int(0.3 * len(weight))
        assert min(weight[p] for p in kept) >= max(weight[p] for p in dropped)
        # the rows kept are exactly the events of the kept pairs, repeats included
        assert len(out) == sum(p in kept for p in zip(data.users.tolist(), data.items.tolist()))


def test_cap_degree_by_hand():
    data = star_log()
    out = graph.cap_degree(data, max_user=2)              # user 0 keeps its two heaviest:
    kept = set(zip(out.users.tolist(), out.items.tolist()))   # (0,1), (0,2) weigh 1/2
    assert {p for p in kept if p[0] == 0} == {(0, 1), (0, 2)}
    assert len(out) == 3 + 3 + 2                          # (0,1) twice, (0,2), users 1..4
    out = graph.cap_degree(data, max_item=2, by="recent")  # item 0 keeps users 3, 2 (t=7, 6)
    kept = set(zip(out.users.tolist(), out.items.tolist()))
    assert {p for p in kept if p[1] == 0} == {(3, 0), (2, 0)}
    assert (0, 3) in kept and (4, 3) in kept              # item 3 has degree 2: untouched
    out = graph.cap_degree(data, max_user=1, by="recent")  # each user's latest pair
    assert sorted(set(zip(out.users.tolist(), out.items.tolist()))) == \
        [(0, 1), (1, 0), (2, 0), (3, 0), (4, 4)]


def test_cap_degree_bounds_and_order_independence():
    for seed in range(5):
        data = random_log(seed, n=200)
        out = graph.cap_degree(data, max_user=4, max_item=5, weights="count")
        R = out.to_csr()
        assert np.diff(R.indptr).max() <= 4
        assert np.bincount(R.indices, minlength=data.n_items).max() <= 5
        both = set(zip(out.users.tolist(), out.items.tolist()))
        u_only = graph.cap_degree(data, max_user=4, weights="count")
        i_only = graph.cap_degree(data, max_item=5, weights="count")
        assert both == set(zip(u_only.users.tolist(), u_only.items.tolist())) & \
            set(zip(i_only.users.tolist(), i_only.items.tolist()))
        # a cap at or above every degree keeps everything
        assert len(graph.cap_degree(data, max_user=10**6)) == len(data)


def test_sparsification_rejects_bad_input():
    data = star_log()
    with pytest.raises(DataError, match="exactly one"):
        graph.drop_edges(data)
    with pytest.raises(DataError, match="exactly one"):
        graph.drop_edges(data, fraction=0.1, threshold=0.2)
    for bad in (1.0, -0.1, True, "0.5", np.nan):
        with pytest.raises(DataError, match="fraction"):
            graph.drop_edges(data, fraction=bad)
    with pytest.raises(DataError, match="threshold"):
        graph.drop_edges(data, threshold=np.inf)
    with pytest.raises(DataError, match="no edge"):
        graph.drop_edges(data, threshold=2.0)
    with pytest.raises(DataError, match="weights"):
        graph.drop_edges(data, fraction=0.1, weights="pagerank")
    with pytest.raises(DataError, match="shape"):
        graph.drop_edges(data, fraction=0.1, weights=np.ones((2, 2)))
    with pytest.raises(DataError, match="non-negative"):
        graph.drop_edges(data, fraction=0.1, weights=-np.ones((5, 5)))
    with pytest.raises(DataError, match="max_user, max_item"):
        graph.cap_degree(data)
    for bad in (0, 1.5, True):
        with pytest.raises(DataError, match="max_user"):
            graph.cap_degree(data, max_user=bad)
    with pytest.raises(DataError, match="by"):
        graph.cap_degree(data, max_user=2, by="random")
    with pytest.raises(DataError, match="timestamps"):
        graph.cap_degree(random_log(0, timestamps=False), max_user=2, by="recent")
    with pytest.raises(TypeError):
        graph.cap_degree(data.to_csr(), max_user=2)


def test_a_half_life_far_beyond_the_timestamps_span_is_warned_about(caplog):
    """Timestamps in days with a half-life in seconds: every weight is 1 to four digits,
    the graph is binary in effect, and nothing said so."""
    d = Interactions([0, 1, 2], [0, 1, 0], timestamps=[0.0, 90.0, 180.0])     # days
    with caplog.at_level("WARNING", logger="minigraphrec.graph"):
        graph.edge_weight_matrix(d, "time_decay", half_life=30 * 86400.0)
    assert "half_life=2.592e+06 is 14400 times the span of the timestamps (180)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="minigraphrec.graph"):
        graph.edge_weight_matrix(d, "time_decay", half_life=30.0)
    assert not caplog.records


def test_k_core_of_a_long_chain_matches_brute_force():
    """A chain peels two nodes per round (a round per pair of nodes): the peeling, which
    touches only the pairs it removes, gives the one core a node-at-a-time removal gives."""
    n = 300                                   # user j -> items j and j+1, then a 3x3 block
    users = np.r_[np.arange(n), np.arange(n), np.repeat([n, n + 1, n + 2], 3), n]
    items = np.r_[np.arange(n), np.arange(n) + 1, np.tile([n + 1, n + 2, n + 3], 3), 0]
    d = Interactions(users, items)
    core = graph.k_core(d, min_user=2, min_item=2, compact=False)
    expected = brute_force_core(users.tolist(), items.tolist(), 2, 2)
    assert set(zip(core.users.tolist(), core.items.tolist())) == expected
    assert len(expected) == 9                 # the block; the chain and its tie are gone


@pytest.mark.parametrize("seed", range(6))
def test_k_core_matches_brute_force_with_repeats_and_unused_ids(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = int(rng.integers(2, 15)), int(rng.integers(2, 15))
    d = Interactions(rng.integers(0, n_users, 150), rng.integers(0, n_items, 150),
                     n_users=n_users + 3, n_items=n_items + 2)      # some ids never used
    min_user, min_item = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    expected = brute_force_core(d.users.tolist(), d.items.tolist(), min_user, min_item)
    if not expected:
        with pytest.raises(DataError, match="core is empty"):
            graph.k_core(d, min_user, min_item)
        return
    core = graph.k_core(d, min_user, min_item)
    raw = set(zip(core.user_ids[core.users].tolist(), core.item_ids[core.items].tolist()))
    assert raw == expected
    assert core.n_users == len({u for u, _ in expected})
    assert core.n_items == len({i for _, i in expected})


def _cap_degree_lexsort(data, max_user=None, max_item=None, by="weight", weights="normalized"):
    """cap_degree's ranking as its docstring states it, one lexsort per side."""
    pu, pi, w, pair = graph.edge_weights(data, weights)
    t = np.zeros(w.shape[0])
    if data.timestamps is not None:
        t = np.full(w.shape[0], -np.inf)
        np.maximum.at(t, pair, data.timestamps)
    ids = np.arange(w.shape[0])
    primary, secondary = (-w, -t) if by == "weight" else (-t, -w)
    keep = np.ones(w.shape[0], dtype=bool)
    for node, cap in ((pu, max_user), (pi, max_item)):
        if cap is not None:
            order = np.lexsort((ids, secondary, primary, node))
            rank = np.empty_like(ids)
            rank[order] = ids - np.searchsorted(node[order], node[order])
            keep &= rank < cap
    return data.subset(keep[pair])


@pytest.mark.parametrize("seed", range(4))
def test_cap_degree_ranks_as_one_lexsort_per_side(seed):
    rng = np.random.default_rng(seed)
    n = 150
    data = Interactions(rng.integers(0, 9, n), rng.integers(0, 11, n),
                        timestamps=rng.integers(0, 4, n).astype(float),    # ties in time
                        weights=rng.integers(0, 3, n).astype(float))       # and in weight
    for by in ("weight", "recent"):
        for weights in ("normalized", "count"):
            for caps in ((2, None), (None, 3), (3, 2)):
                got = graph.cap_degree(data, *caps, by=by, weights=weights)
                want = _cap_degree_lexsort(data, *caps, by=by, weights=weights)
                np.testing.assert_array_equal(got.users, want.users)
                np.testing.assert_array_equal(got.items, want.items)


def _bad_sparse(kind):
    """A 2x2 matrix whose arrays were edited after SciPy checked them."""
    if kind == "csr":
        M = sp.csr_matrix(np.eye(2))
        M.indices[1] = 10**6
    elif kind == "csc":
        M = sp.csc_matrix(np.eye(2))
        M.indices[0] = 10**6
    elif kind == "coo":
        M = sp.coo_matrix(np.eye(2))
        M.row[0] = 10**6
    else:
        M = sp.bsr_matrix(np.eye(2))
        M.indices[0] = 10**6
    return M


@pytest.mark.parametrize("kind", ["csr", "csc", "coo", "bsr"])
def test_sparse_matrices_with_indices_out_of_range_are_refused(kind):
    """SciPy's conversions read and write out of bounds on such arrays (a CSC crashed the
    process, a COO lost its entry silently, a CSR raised an IndexError)."""
    for call in (lambda M: graph.normalize_adjacency(M),
                 lambda M: graph.bipartite_adjacency(M),
                 lambda M: graph.build_graph(Interactions([0, 1], [0, 1]), weights=M),
                 lambda M: graph.edge_weights(Interactions([0, 1], [0, 1]), M)):
        with pytest.raises(DataError, match="not a valid|index 1000000"):
            call(_bad_sparse(kind))


@pytest.mark.skipif(sp.coo_array(np.ones(3)).ndim != 1,
                    reason="SciPy before 1.13 makes no 1-d sparse arrays")
def test_sparse_matrices_must_be_2d():
    with pytest.raises(DataError, match=r"2-d matrix, got a sparse array of shape \(3,\)"):
        graph.bipartite_adjacency(sp.coo_array(np.ones(3)))
    with pytest.raises(DataError, match="2-d matrix"):
        graph.normalize_adjacency(sp.coo_array(np.ones(3)))


def test_matrices_must_be_arrays():
    for bad in (None, "A", {0: 1}):
        with pytest.raises(TypeError, match="must be a matrix"):
            graph.normalize_adjacency(bad)


def test_time_decay_of_ages_beyond_float64_is_zero_without_warnings(strict):
    d = Interactions([0, 1, 2], [0, 1, 2], timestamps=[-1e308, 0.0, 1e308])
    R = graph.time_decay_weights(d, half_life=1.0)        # now - t overflows to inf
    assert R.toarray().diagonal().tolist() == [0.0, 0.0, 1.0]
    R = graph.time_decay_weights(Interactions([0, 1], [0, 1], timestamps=[0.0, 1.0]),
                                 half_life=5e-324)         # the age / half_life overflows
    assert R.toarray().diagonal().tolist() == [0.0, 1.0]
    with pytest.raises(DataError, match="half_life=1.0 is too short"):
        graph.edge_weight_matrix(d, "time_decay", half_life=1.0)
