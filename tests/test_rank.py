"""Top-k selection (NumPy reference vs numba kernel) and similarity scores."""
import numba
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import child_env

from minigraphrec.errors import DataError
from minigraphrec.rank import score_matrix, top_k, top_k_by_similarity

BACKENDS = ("numpy", "numba")


def _csr(rows, n_items):
    """CSR of a list of item lists, one per row."""
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    return sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(len(rows), n_items))


# ----------------------------------------------------------------- hand cases
@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_hand_case_ties_break_toward_smaller_id(backend):
    S = np.array([[3.0, 1.0, 3.0, 2.0],
                  [0.0, 0.0, 0.0, 0.0]])
    items, scores = top_k(S, 3, backend=backend)
    # row 0: items 0 and 2 tie at 3 -> 0 first; then item 3 (2.0)
    # row 1: all tie -> ids 0, 1, 2
    np.testing.assert_array_equal(items, [[0, 2, 3], [0, 1, 2]])
    np.testing.assert_array_equal(scores, [[3.0, 3.0, 2.0], [0.0, 0.0, 0.0]])
    assert items.dtype == np.int64 and scores.dtype == np.float64


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_excludes_seen_items(backend):
    S = np.array([[3.0, 1.0, 3.0, 2.0],
                  [4.0, 3.0, 2.0, 1.0]])
    seen = _csr([[0], [1, 2]], 4)
    items, scores = top_k(S, 3, exclude=seen, backend=backend)
    # row 0 without item 0: 2 (3.0), 3 (2.0), 1 (1.0)
    # row 1 without items 1, 2: 0 (4.0), 3 (1.0), then padding
    np.testing.assert_array_equal(items, [[2, 3, 1], [0, 3, -1]])
    np.testing.assert_array_equal(scores, [[3.0, 2.0, 1.0], [4.0, 1.0, -np.inf]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_k_above_n_items_and_all_excluded_row(backend):
    S = np.array([[1.0, 2.0, 0.5],
                  [1.0, 2.0, 0.5]])
    seen = _csr([[], [0, 1, 2]], 3)
    items, scores = top_k(S, 5, exclude=seen, backend=backend)
    np.testing.assert_array_equal(items, [[1, 0, 2, -1, -1], [-1] * 5])
    np.testing.assert_array_equal(scores, [[2.0, 1.0, 0.5, -np.inf, -np.inf], [-np.inf] * 5])


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_infinite_scores(backend):
    # -inf marks a non-candidate; +inf ranks first like any large score
    S = np.array([[-np.inf, np.inf, 1.0, np.inf, -np.inf]])
    items, scores = top_k(S, 4, backend=backend)
    np.testing.assert_array_equal(items, [[1, 3, 2, -1]])
    np.testing.assert_array_equal(scores, [[np.inf, np.inf, 1.0, -np.inf]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_rejects_nan_naming_the_entry(backend):
    S = np.zeros((2, 3))
    S[1, 2] = np.nan
    with pytest.raises(DataError, match=r"scores\[1, 2\] is NaN"):
        top_k(S, 2, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_zero_items(backend):
    items, scores = top_k(np.zeros((2, 0)), 2, backend=backend)
    np.testing.assert_array_equal(items, -np.ones((2, 2)))
    assert np.all(np.isneginf(scores))


# --------------------------------------------- numba equals the reference
def _random_case(rng):
    """Scores with many ties and infinities; per-row exclusion density from 0 to 1."""
    n_rows = int(rng.integers(1, 40))
    n_items = int(rng.integers(1, 40))
    S = rng.integers(-3, 4, size=(n_rows, n_items)).astype(np.float64)   # few values: ties
    S[rng.random(S.shape) < 0.08] = -np.inf
    S[rng.random(S.shape) < 0.05] = np.inf
    density = rng.random((n_rows, 1)) ** 2
    density[0] = 1.0                                                   # an all-excluded row
    E = sp.csr_matrix(rng.random((n_rows, n_items)) < density, dtype=np.float64)
    k = int(rng.integers(1, n_items + 6))                             # k > n_items too
    return S, E, k


def test_top_k_numba_equals_numpy_on_random_cases():
    rng = np.random.default_rng(0)
    for trial in range(40):
        S, E, k = _random_case(rng)
        ref = top_k(S, k, exclude=E, backend="numpy")
        fast = top_k(S, k, exclude=E, backend="numba")
        np.testing.assert_array_equal(fast[0], ref[0], err_msg=f"trial {trial}")
        np.testing.assert_array_equal(fast[1], ref[1], err_msg=f"trial {trial}")


def test_top_k_numba_equals_numpy_on_continuous_scores_float32():
    rng = np.random.default_rng(1)
    S = rng.standard_normal((50, 300)).astype(np.float32)
    E = sp.random(50, 300, density=0.1, random_state=2, format="csr")
    ref = top_k(S, 20, exclude=E, backend="numpy")
    fast = top_k(S, 20, exclude=E, backend="numba")
    np.testing.assert_array_equal(fast[0], ref[0])
    np.testing.assert_array_equal(fast[1], ref[1])
    # the values are the float32 scores, widened exactly
    np.testing.assert_array_equal(fast[1], np.take_along_axis(S, fast[0], 1).astype(np.float64))


def _long_rows_case(rng, dtype):
    """Rows of several 64-item chunks: ties, signed zeros, all-negative rows, ±inf, exclusions."""
    n_rows, n_items = 12, int(rng.integers(1, 5)) * 64 + int(rng.integers(0, 3)) * 37
    kind = int(rng.integers(0, 3))
    if kind == 0:                                                  # continuous
        S = rng.standard_normal((n_rows, n_items))
    elif kind == 1:                                                # few values: ties
        S = rng.integers(-2, 3, size=(n_rows, n_items)).astype(np.float64)
    else:                                                          # all <= 0, signed zeros
        S = -rng.integers(0, 3, size=(n_rows, n_items)).astype(np.float64)   # 0, -1, -2
        zero = S == 0
        S[zero] = np.where(rng.random(zero.sum()) < 0.5, -0.0, 0.0)
    S[rng.random(S.shape) < 0.03] = -np.inf
    S[rng.random(S.shape) < 0.01] = np.inf
    S[1] = -np.inf                                                 # no candidate at all
    density = rng.random((n_rows, 1)) ** 2
    density[0] = 1.0                                               # an all-excluded row
    E = sp.csr_matrix(rng.random((n_rows, n_items)) < density, dtype=np.float64)
    return S.astype(dtype), E


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_k_numba_equals_numpy_on_long_rows(dtype):
    """Many chunks: the chunk maxima, the threshold and the second pass keep every tie exact."""
    rng = np.random.default_rng(10)
    for trial in range(30):
        S, E = _long_rows_case(rng, dtype)
        for k in (1, 7, 20, 200):
            ref = top_k(S, k, exclude=E, backend="numpy")
            fast = top_k(S, k, exclude=E, backend="numba")
            msg = f"trial {trial}, k {k}"
            np.testing.assert_array_equal(fast[0], ref[0], err_msg=msg)
            np.testing.assert_array_equal(fast[1], ref[1], err_msg=msg)


def test_top_k_signed_zeros_tie_across_chunks():
    """-0.0 == +0.0: an early -0.0 beats a later +0.0 on the item id, wherever the chunks are."""
    S = np.full((1, 640), -1.0)
    S[0, 5] = -0.0                                 # chunk 0
    S[0, 70] = -0.0                                # chunk 1
    S[0, 200::64] = 0.0                            # chunks 3..9, one +0.0 each
    for dtype in (np.float32, np.float64):
        for backend in BACKENDS:
            items, scores = top_k(S.astype(dtype), 4, backend=backend)
            np.testing.assert_array_equal(items, [[5, 70, 200, 264]])
            np.testing.assert_array_equal(scores, 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_rejects_nan_with_the_sign_bit_set(backend):
    S = np.zeros((2, 300))
    S[1, 250] = np.copysign(np.nan, -1.0)
    for dtype in (np.float32, np.float64):
        with pytest.raises(DataError, match=r"scores\[1, 250\] is NaN"):
            top_k(S.astype(dtype), 2, backend=backend)


def test_top_k_exclusion_in_any_sparse_form():
    # unsorted indices, a duplicate and an explicit zero (not excluded)
    S = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    messy = sp.csr_matrix((np.array([1.0, 0.0, 1.0, 1.0]), np.array([3, 1, 0, 3]),
                           np.array([0, 4])), shape=(1, 5))
    for E in (messy, messy.tocoo(), messy.tocsc()):
        for backend in BACKENDS:
            items, _ = top_k(S, 3, exclude=E, backend=backend)
            # excluded: 0 and 3 (item 1's entry is an explicit zero)
            np.testing.assert_array_equal(items, [[1, 2, 4]])


def test_top_k_numba_same_result_on_one_and_two_threads(monkeypatch):
    from minigraphrec.kernels import topk
    monkeypatch.setattr(topk, "PARALLEL_FROM", 0)      # the parallel kernel, this small block
    rng = np.random.default_rng(3)
    S = rng.integers(0, 5, size=(64, 200)).astype(np.float64)
    E = sp.random(64, 200, density=0.2, random_state=4, format="csr")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = top_k(S, 15, exclude=E, backend="numba")
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = top_k(S, 15, exclude=E, backend="numba")
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def _must_not_run(*args):
    raise AssertionError("the other top-k kernel ran")


@pytest.mark.parametrize("path", ["parallel", "serial"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_k_parallel_and_serial_kernels_equal_numpy_reference(path, dtype, monkeypatch):
    """Both top-k kernels (rows in parallel, and its serial twin for small blocks) give the
    reference's arrays bit for bit: ties, signed zeros, ±inf, exclusions, k above n_items.
    The threshold is moved so that every block takes ``path``, and the other kernel is
    replaced by a sentinel, so the test knows which one ran."""
    from minigraphrec.kernels import topk
    from minigraphrec.rank import _top_k_kernel
    monkeypatch.setattr(topk, "PARALLEL_FROM", 0 if path == "parallel" else 10 ** 12)
    chosen = topk.top_k_rows if path == "parallel" else topk.top_k_rows_serial
    assert _top_k_kernel(1, 1) is chosen
    monkeypatch.setattr(topk, "top_k_rows_serial" if path == "parallel" else "top_k_rows",
                        _must_not_run)
    rng = np.random.default_rng(20)
    for trial in range(12):
        S, E = _long_rows_case(rng, dtype)
        cases = [(S, E, k) for k in (1, 7, 200)] + [_random_case(rng)]
        for S_c, E_c, k in cases:
            S_c = S_c.astype(dtype)
            ref = top_k(S_c, k, exclude=E_c, backend="numpy")
            fast = top_k(S_c, k, exclude=E_c, backend="numba")
            msg = f"trial {trial}, k {k}"
            np.testing.assert_array_equal(fast[0], ref[0], err_msg=msg)
            np.testing.assert_array_equal(fast[1], ref[1], err_msg=msg)


def test_top_k_of_one_row_takes_the_serial_kernel():
    """A one-user ``recommend`` ranks one row: the serial twin, without waking the thread
    pool (on a busy 2-core machine that cost 8 ms per call); a large block runs in parallel."""
    from minigraphrec.kernels import topk
    from minigraphrec.rank import _top_k_kernel
    assert _top_k_kernel(1, 1_682) is topk.top_k_rows_serial               # ML-100K
    assert _top_k_kernel(1, 40_981) is topk.top_k_rows_serial              # Gowalla
    assert _top_k_kernel(1024, 1_682) is topk.top_k_rows                   # an evaluate block
    assert _top_k_kernel(1, topk.PARALLEL_FROM) is topk.top_k_rows


# -------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3", None])
def test_top_k_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        top_k(np.zeros((1, 3)), k)


def test_top_k_rejects_bad_inputs():
    with pytest.raises(DataError, match=r"scores must be 2-d .* got shape \(3,\)"):
        top_k(np.zeros(3), 1)
    with pytest.raises(DataError, match="scores must be numeric"):
        top_k(np.array([["a", "b"]]), 1)
    with pytest.raises(DataError, match=r"exclude has shape \(2, 4\), expected \(2, 3\)"):
        top_k(np.zeros((2, 3)), 1, exclude=sp.csr_matrix((2, 4)))
    with pytest.raises(DataError, match="exclude must be a scipy.sparse matrix"):
        top_k(np.zeros((2, 3)), 1, exclude=np.zeros((2, 3)))
    with pytest.raises(DataError, match="backend must be one of"):
        top_k(np.zeros((2, 3)), 1, backend="cuda")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_top_k_refuses_64_bit_integer_scores_float64_cannot_hold(backend):
    """int64/uint64 scores are ranked as float64: within ±2**53 exactly, beyond a DataError
    naming the entry (2**53 + 1 rounded to 2**53, tied with item 0 and lost to it)."""
    big = 2**53
    with pytest.raises(DataError, match=rf"scores\[0, 1\] = {big + 1} is beyond ±2\*\*53"):
        top_k(np.array([[big, big + 1]]), 1, backend=backend)
    with pytest.raises(DataError, match=rf"scores\[1, 0\] = {-big - 1} is beyond"):
        top_k(np.array([[0, 1], [-big - 1, 0]]), 1, backend=backend)
    with pytest.raises(DataError, match=rf"scores\[0, 0\] = {2**64 - 1} is beyond"):
        top_k(np.array([[2**64 - 1, 0]], np.uint64), 1, backend=backend)
    items, scores = top_k(np.array([[big - 1, big, -big]]), 3, backend=backend)   # exact
    assert items.tolist() == [[1, 0, 2]] and scores.tolist() == [[big, big - 1, -big]]
    items, _ = top_k(np.array([[3, 7, 5]], np.int32), 1, backend=backend)     # narrow: cast
    assert items.tolist() == [[1]]


# ------------------------------------------------------------------ scores
def test_score_matrix_hand_cases():
    U = np.array([[1.0, 0.0],
                  [0.0, 0.0]])                   # the second user is a zero vector
    V = np.array([[1.0, 1.0],
                  [3.0, 4.0],
                  [-2.0, 0.0]])
    # dot: [1, 3, -2], [0, 0, 0]
    np.testing.assert_array_equal(score_matrix(U, V, "dot"), [[1, 3, -2], [0, 0, 0]])
    # cosine: 1/sqrt(2), 3/5, -2/2 = -1; the zero vector gives 0, not NaN
    np.testing.assert_allclose(score_matrix(U, V, "cosine"),
                               [[1 / np.sqrt(2), 0.6, -1.0], [0, 0, 0]], rtol=1e-15, atol=0)
    # euclidean: -|(1,0)-(1,1)| = -1, -|(1,0)-(3,4)| = -sqrt(20), -|(1,0)-(-2,0)| = -3;
    # from the origin: -sqrt(2), -5, -2
    np.testing.assert_allclose(score_matrix(U, V, "euclidean"),
                               [[-1.0, -np.sqrt(20), -3.0], [-np.sqrt(2), -5.0, -2.0]],
                               rtol=1e-15, atol=0)


def test_score_matrix_cosine_stays_in_range_and_matches_formula():
    rng = np.random.default_rng(5)
    U = rng.standard_normal((30, 8))
    V = np.vstack([U[:5] * 3.0, rng.standard_normal((20, 8))])   # parallel vectors: cos = 1
    S = score_matrix(U, V, "cosine")
    assert S.min() >= -1.0 and S.max() <= 1.0
    expected = (U @ V.T) / np.outer(np.linalg.norm(U, axis=1), np.linalg.norm(V, axis=1))
    np.testing.assert_allclose(S, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.diag(S[:5, :5]), 1.0, rtol=1e-15)


@pytest.mark.parametrize("dtype, tiny", [(np.float32, 1e-25), (np.float32, 1e-40),
                                         (np.float64, 1e-170), (np.float64, 1e-310)])
def test_score_matrix_cosine_of_very_short_rows_is_still_the_cosine(dtype, tiny):
    """Two float32 rows of norm 1e-25 had cosine 0 (the product of their norms underflows);
    a float64 row of 1e-170 had a squared norm of 0. Other rows keep their bits."""
    U = np.array([[tiny, tiny, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    V = np.array([[1.0, 0.0, 0.0], [tiny, 0.0, tiny], [2.0, 1.0, 2.0]], dtype=dtype)
    S = score_matrix(U, V, "cosine", dtype=dtype)
    r = 2 ** -0.5
    np.testing.assert_allclose(S, [[r, 0.5, r], [0.6, 0.6 * r, 10 / 15], [0, 0, 0]],
                               rtol=1e-6 if dtype == np.float32 else 1e-15)
    normal = np.ix_([1, 2], [0, 2])                               # neither row is scaled
    plain = score_matrix(U[[1, 2]], V[[0, 2]], "cosine", dtype=dtype)
    assert np.array_equal(S[normal], plain)
    assert np.array_equal(U[0], np.array([tiny, tiny, 0.0], dtype=dtype))  # input untouched


def test_score_matrix_euclidean_is_accurate_for_close_vectors():
    rng = np.random.default_rng(6)
    U = rng.standard_normal((20, 16)) * 100.0
    V = np.vstack([U[:10] + 1e-7 * rng.standard_normal((10, 16)),   # near duplicates
                   U[10:15],                                        # exact duplicates
                   rng.standard_normal((10, 16)) * 100.0])
    S = score_matrix(U, V, "euclidean")
    exact = -np.sqrt(((U[:, None, :] - V[None, :, :]) ** 2).sum(axis=2))
    np.testing.assert_allclose(S, exact, rtol=1e-10, atol=0)
    np.testing.assert_array_equal(np.diag(S[10:15, 10:15]), 0.0)
    # the plain expansion alone would be wrong here by orders of magnitude
    d2 = (U ** 2).sum(1)[:, None] + (V ** 2).sum(1)[None, :] - 2 * U @ V.T
    naive = -np.sqrt(np.maximum(d2, 0))
    assert np.max(np.abs(naive[:10, :10].diagonal() - exact[:10, :10].diagonal())) > 1e-6


def test_score_matrix_rejects_bad_inputs():
    with pytest.raises(ValueError, match="kind must be one of"):
        score_matrix(np.zeros((1, 2)), np.zeros((1, 2)), "manhattan")
    with pytest.raises(DataError, match="U has 2 columns and V has 3"):
        score_matrix(np.zeros((1, 2)), np.zeros((1, 3)))
    with pytest.raises(DataError, match=r"V\[0, 1\] is nan"):
        score_matrix(np.zeros((1, 2)), np.array([[0.0, np.nan]]))
    with pytest.raises(DataError, match="U must be 2-d"):
        score_matrix(np.zeros(2), np.zeros((1, 2)))
    with pytest.raises(DataError, match=r"U\[0, 0\] is inf"):      # U is named first
        score_matrix(np.array([[np.inf, 0.0]]), np.array([[0.0, np.nan]]))


@pytest.mark.parametrize("kind", ["dot", "cosine", "euclidean"])
def test_top_k_by_similarity_equals_top_k_of_score_matrix(kind):
    rng = np.random.default_rng(7)
    U = rng.standard_normal((11, 4))
    V = rng.standard_normal((25, 4))
    E = sp.random(11, 25, density=0.3, random_state=8, format="csr")
    expected = top_k(score_matrix(U, V, kind), 6, exclude=E, backend="numpy")
    for backend in BACKENDS:
        got = top_k_by_similarity(U, V, 6, kind=kind, exclude=E, batch_size=4, backend=backend)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        top_k_by_similarity(U, V, 6, batch_size=0)


def _score_matrix_whole(U, V, kind):
    """The whole-matrix formulas score_matrix used before it worked in place, block by block."""
    U, V = U.astype(np.float64), V.astype(np.float64)
    D = U @ V.T
    if kind == "dot":
        return D
    if kind == "cosine":
        nu = np.sqrt(np.einsum("ud,ud->u", U, U))
        nv = np.sqrt(np.einsum("vd,vd->v", V, V))
        denom = np.outer(nu, nv)
        S = np.divide(D, denom, out=np.zeros_like(D), where=denom > 0)
        return np.clip(S, -1.0, 1.0, out=S)
    su = np.einsum("ud,ud->u", U, U)
    sv = np.einsum("vd,vd->v", V, V)
    scale = su[:, None] + sv[None, :]
    D2 = np.maximum(scale - 2.0 * D, 0.0)
    rows, cols = np.nonzero(D2 < 1e-3 * scale)
    diff = U[rows] - V[cols]
    D2[rows, cols] = np.einsum("pd,pd->p", diff, diff)
    return -np.sqrt(D2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["dot", "cosine", "euclidean"])
def test_score_matrix_blocks_and_out_give_the_whole_matrix_bits(kind, dtype):
    # 300 x 700 scores: the corrections run in 4 blocks of 93 rows, the last one short;
    # zero vectors, parallel vectors and near duplicates sit in every block
    rng = np.random.default_rng(11)
    V = rng.standard_normal((700, 8)) * 10.0
    V[[5, 400]] = 0.0                                               # zero items
    U = rng.standard_normal((300, 8)) * 10.0
    U[[0, 150, 299]] = 0.0                                          # zero users
    for r in (3, 120, 200, 290):                                     # near duplicates, parallel
        U[r] = V[r + 1] + 1e-6 * rng.standard_normal(8)
        U[r + 1] = 2.0 * V[r + 2]
    U, V = U.astype(dtype), V.astype(dtype)
    expected = _score_matrix_whole(U, V, kind)
    got = score_matrix(U, V, kind)
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))   # signs of zero too
    out = np.full((300, 700), np.nan)
    assert score_matrix(U, V, kind, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert np.array_equal(np.signbit(out), np.signbit(expected))


def test_score_matrix_rejects_a_bad_out():
    U, V = np.ones((2, 3)), np.ones((4, 3))
    for out in (np.zeros((2, 5)), np.zeros((2, 4), dtype=np.float32),
                np.zeros((4, 2)).T, np.zeros((2, 4)).tolist()):
        with pytest.raises(ValueError, match=r"out must be a writable C-contiguous float64 "
                                             r"array of shape \(2, 4\)"):
            score_matrix(U, V, out=out)
    frozen = np.zeros((2, 4))
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="out must be a writable"):
        score_matrix(U, V, out=frozen)


# ------------------------------------------------ NaN, counted by the kernel
@pytest.mark.parametrize("path", ["parallel", "serial"])
def test_top_k_kernels_count_nan_per_row_as_numpy_does(path):
    """The kernels count each row's NaN scores (excluded items included) in the pass that
    ranks it: the counts equal NumPy's ``isnan(S).sum(axis=1)``, in the heap's filling,
    in the chunks read once it is full, and among the excluded items."""
    from minigraphrec.kernels import topk
    from minigraphrec.rank import canonical_csr, csr_arrays
    kernel = topk.top_k_rows if path == "parallel" else topk.top_k_rows_serial
    rng = np.random.default_rng(31)
    for dtype in (np.float32, np.float64):
        S = rng.standard_normal((7, 500)).astype(dtype)
        S[rng.random(S.shape) < 0.01] = np.nan
        S[2] = np.nan                                    # every item
        S[3, 0] = np.nan                                 # while the heap fills
        S[4, 499] = np.nan                               # the last chunk
        E = sp.random(7, 500, density=0.05, random_state=1, format="csr")
        E = canonical_csr(E, S.shape, "E")
        S[5, E.indices[E.indptr[5]]] = np.nan            # an excluded item
        items = np.empty((7, 10), dtype=np.int64)
        scores = np.empty((7, 10))
        n_nan = np.full(7, -1, dtype=np.int64)
        kernel(S, 10, *csr_arrays(E), items, scores, n_nan)
        np.testing.assert_array_equal(n_nan, np.isnan(S).sum(axis=1))


def test_top_k_numba_reads_the_scores_once(monkeypatch):
    """The numba backend takes the NaN check from the kernel's count, with no pass over the
    block of its own (a quarter of top_k's time on 512 x 41,000 float32); the NumPy
    reference keeps its check."""
    import minigraphrec.rank as R

    def no_scan(*args, **kwargs):
        raise AssertionError("the scores were scanned for NaN before the kernel")

    monkeypatch.setattr(R, "_check_scores", no_scan)
    S = np.random.default_rng(0).standard_normal((4, 300))
    items, _ = top_k(S, 5, backend="numba")
    np.testing.assert_array_equal(items, np.argsort(-S, axis=1, kind="stable")[:, :5])
    with pytest.raises(AssertionError, match="scanned for NaN"):
        top_k(S, 5, backend="numpy")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_k_nan_errors_of_both_backends_agree(dtype):
    """One message from either backend, naming the first NaN in row order, wherever the
    kernel met it (excluded, in a full heap's chunk, in another row first)."""
    S = np.zeros((3, 300), dtype=dtype)
    S[2, 5] = np.nan
    S[1, 280] = np.nan                                   # first in row order
    S[1, 3] = 1.0
    E = sp.csr_matrix(([1.0], ([1], [280])), shape=S.shape)   # the NaN is excluded
    for exclude in (None, E):
        messages = []
        for backend in BACKENDS:
            with pytest.raises(DataError, match=r"scores\[1, 280\] is NaN") as err:
                top_k(S, 2, exclude=exclude, backend=backend)
            messages.append(str(err.value))
        assert messages[0] == messages[1]


# ------------------------------------------------------ scores wider than float64
@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_takes_long_double_scores_only_where_float64_holds_them(backend):
    """Scores are ranked as float64: a long double that float64 holds exactly is taken (the
    same ranking as its float64 copy), one it does not is refused naming the entry (1 and
    1 + 1e-18 would tie, and item 0 win). Was: cast silently, item 0 returned."""
    exact = np.array([[0.5, 2.0, -np.inf, 1.0]], dtype=np.longdouble)
    items, scores = top_k(exact, 3, backend=backend)
    assert items.tolist() == [[1, 3, 0]] and scores.tolist() == [[2.0, 1.0, 0.5]]
    if np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant:
        pytest.skip("long double is float64 on this platform")
    close = np.array([[1, 1 + np.longdouble(1e-18)]], dtype=np.longdouble)
    with pytest.raises(DataError, match=r"scores\[0, 1\] = 1\.0+1 is not a float64 value: float"):
        top_k(close, 1, backend=backend)
    huge = np.array([[0, np.longdouble(np.finfo(np.float64).max) * 4]], dtype=np.longdouble)
    with pytest.raises(DataError, match=r"scores\[0, 1\] = .* is not a float64 value"):
        top_k(huge, 1, backend=backend)
    nan = np.array([[0, np.nan]], dtype=np.longdouble)   # NaN keeps its own error
    with pytest.raises(DataError, match=r"scores\[0, 1\] is NaN"):
        top_k(nan, 1, backend=backend)


# ------------------------------------------------- sparse index arrays out of shape
def _bad_csr(indices, indptr, shape=(2, 5)):
    """A CSR matrix SciPy builds without complaint, whose index arrays do not fit ``shape``."""
    return sp.csr_matrix((np.ones(len(indices)), np.asarray(indices), np.asarray(indptr)),
                         shape=shape)


def test_canonical_csr_refuses_index_arrays_outside_the_shape():
    """SciPy's constructor checks neither the range of the indices nor the order of indptr;
    the kernels and SciPy's C++ routines would then read or write out of bounds."""
    from minigraphrec.rank import canonical_csr
    cases = [
        (_bad_csr([1, 10**7], [0, 1, 2]), r"row 1 holds column index 10000000, outside 0\.\.4"),
        (_bad_csr([-1, 2], [0, 1, 2]), r"row 0 holds column index -1, outside 0\.\.4"),
        (_bad_csr([1, 2], [0, 2, 1]), r"its indptr decreases at row 1 \(2 then 1\)"),
        (_bad_csr([1, 2, 3], [0, 3, 2], (2, 5)), r"its indptr decreases at row 1"),
    ]
    for X, message in cases:
        with pytest.raises(DataError, match=r"exclude is not a valid CSR matrix of shape "
                                            r"\(2, 5\): " + message):
            canonical_csr(X, (2, 5), "exclude")
    X = _bad_csr([1, 2], [0, 1, 2])
    X.indptr = np.array([0, 1, 2, 2])                    # one entry too many
    with pytest.raises(DataError, match="its indptr has 4 entries, 3 expected"):
        canonical_csr(X, (2, 5), "exclude")
    X = _bad_csr([1, 2], [0, 1, 2])
    X.indptr = np.array([1, 1, 2])
    with pytest.raises(DataError, match="its indptr runs from 1 to 2"):
        canonical_csr(X, (2, 5), "exclude")
    ok = _bad_csr([4, 0], [0, 1, 2])                     # in range: taken
    assert canonical_csr(ok, (2, 5), "exclude").toarray().tolist() == \
        [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0]]


def test_out_of_shape_sparse_inputs_are_errors_not_crashes():
    """In a child process (the unchecked inputs crashed it: a segfault, not a test
    failure): an exclusion or a test matrix with an index beyond its shape, given to
    top_k, auc_from_scores and evaluate's kernels, and a CSC one that SciPy's conversion
    would write out of bounds with, each a DataError naming the matrix and the row."""
    import subprocess
    import sys
    code = r"""
import numpy as np, scipy.sparse as sp
from minigraphrec.errors import DataError
from minigraphrec.metrics import auc_from_scores
from minigraphrec.rank import top_k
S = np.zeros((2, 5))
bad = sp.csr_matrix((np.ones(2), np.array([1, 10**7]), np.array([0, 1, 2])), shape=(2, 5))
bad_csc = sp.csc_matrix((np.ones(2), np.array([1, 10**7]), np.array([0, 1, 1, 2, 2, 2])),
                        shape=(2, 5))
ok = sp.csr_matrix(np.eye(2, 5))
calls = [lambda: top_k(S, 2, exclude=bad), lambda: top_k(S, 2, exclude=bad, backend="numpy"),
         lambda: top_k(S, 2, exclude=bad_csc),
         lambda: auc_from_scores(S, ok, exclude=bad), lambda: auc_from_scores(S, bad)]
for call in calls:
    try:
        call()
        print("no error")
    except DataError as err:
        print(err)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=child_env())
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    lines = out.stdout.splitlines()
    assert len(lines) == 5, out.stdout
    for line in lines[:2]:
        assert "exclude is not a valid CSR matrix of shape (2, 5): row 1 holds column " \
               "index 10000000" in line
    assert "exclude is not a valid CSC matrix of shape (2, 5): column 2 holds row index " \
           "10000000, outside 0..1" in lines[2]
    assert "exclude is not a valid CSR matrix" in lines[3]
    assert "test_rows is not a valid CSR matrix" in lines[4]


def test_argument_errors_are_data_errors():
    """A bad ``kind`` and a k whose padding would not fit are DataErrors (ValueErrors), as
    the checks beside them raise."""
    from minigraphrec.rank import _item_scorer
    with pytest.raises(DataError, match="kind must be one of"):
        score_matrix(np.zeros((1, 2)), np.zeros((1, 2)), "manhattan")
    with pytest.raises(DataError, match="kind must be one of"):
        _item_scorer(np.zeros((1, 2)), "manhattan")
    with pytest.raises(DataError, match="kind must be one of"):
        top_k_by_similarity(np.zeros((1, 2)), np.zeros((1, 2)), 1, kind="manhattan")
    with pytest.raises(DataError, match="slots of padding per row"):
        top_k(np.zeros((1, 3)), 2**40)
