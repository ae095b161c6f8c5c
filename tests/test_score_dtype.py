"""float32 scores: ``score_matrix(..., dtype=np.float32)`` and the embedding models'
``score_dtype``.

float32 scoring must stay within float32 rounding of the float64 scores (a bound
that a float16 product, or a float32 norm that overflows, would break), keep the
exact corrections (identical vectors at distance exactly 0), and leave every
float64 result as it was.
"""
import numpy as np
import pytest

from minigraphrec import DataError, Interactions
from minigraphrec.io import load, save
from minigraphrec.metrics import evaluate
from minigraphrec.models import GAT, GCN, MF, NGCF, LightGCN
from minigraphrec.rank import score_matrix
from minigraphrec.split import random_split

EPS32 = 2.0 ** -24                                                  # float32 unit roundoff


def _embeddings(rng, n, d, scale=3.0):
    return (rng.standard_normal((n, d)) * scale).astype(np.float32)


def _reference(U, V, kind):
    """Plain float64 formulas, independent of score_matrix (Euclidean by the differences)."""
    U, V = U.astype(np.float64), V.astype(np.float64)
    if kind == "dot":
        return U @ V.T
    if kind == "cosine":
        norms = np.outer(np.linalg.norm(U, axis=1), np.linalg.norm(V, axis=1))
        return np.divide(U @ V.T, norms, out=np.zeros_like(norms), where=norms > 0)
    return -np.sqrt(((U[:, None, :] - V[None, :, :]) ** 2).sum(axis=2))


@pytest.mark.parametrize("kind", ["dot", "cosine", "euclidean"])
def test_float32_scores_are_within_float32_rounding_of_float64(kind):
    rng = np.random.default_rng(3)
    d = 64
    U, V = _embeddings(rng, 150, d), _embeddings(rng, 400, d)
    U[7] = V[11]                                                     # identical vectors
    U[8] = 0.0                                                       # a zero user
    for r in range(9, 14):                                           # near duplicates
        U[r] = V[r + 3] * np.float32(1 + 1e-3 * r) + np.float32(1e-3)
    for r in range(14, 40):                                          # parallel: cosine 1
        U[r] = V[r] * np.float32(0.5 + r / 8)
    ref = _reference(U, V, kind)
    S32 = score_matrix(U, V, kind, dtype=np.float32)
    assert S32.dtype == np.float32 and S32.shape == ref.shape
    U64, V64 = U.astype(np.float64), V.astype(np.float64)
    # the classic bound of a float32 sum of d products: |error| <= d u sum_k |u_k v_k|
    dot_bound = d * EPS32 * (np.abs(U64) @ np.abs(V64).T)
    if kind == "dot":
        bound = dot_bound + EPS32 * np.abs(ref)                      # + the final rounding
    elif kind == "cosine":
        norms = np.outer(np.linalg.norm(U64, axis=1), np.linalg.norm(V64, axis=1))
        bound = np.divide(dot_bound, norms, out=np.zeros_like(norms), where=norms > 0)
        bound += 8 * EPS32                                           # the norms, the division
        assert np.all(S32[8] == 0.0)                                 # 0/0 taken as 0
        assert S32.max() == 1.0 and S32.min() >= -1.0                # clipped to [-1, 1]
    else:
        # ‖u - v‖² = ‖u‖² + ‖v‖² - 2 u·v: an absolute error of about
        # (2 dot_bound + 4 u (‖u‖² + ‖v‖²)) on the squared distance s², so
        # about that / (2 s) on s, or its square root where s is small
        scale = np.add.outer((U64 ** 2).sum(1), (V64 ** 2).sum(1))
        err2 = 2 * dot_bound + 4 * EPS32 * scale
        s = -ref
        bound = np.minimum(np.sqrt(err2), err2 / np.maximum(2 * s, 1e-300)) + 2 * EPS32 * s
        # pairs this close are recomputed from their differences in float64, so they
        # carry only the final float32 roundings, not the expansion's cancellation
        close = s ** 2 < 1e-4 * scale
        assert close.sum() >= 6 and close[7, 11] and close[9:14].sum() >= 5
        bound[close] = 4 * EPS32 * s[close]
        assert S32[7, 11] == 0.0                                     # identical: exactly 0
    excess = np.abs(S32.astype(np.float64) - ref) - bound
    assert excess.max() <= 0.0, f"{kind}: float32 scores off by more than the rounding bound"
    # float32 into a float32 out gives the same bits again
    out = np.full(S32.shape, np.nan, dtype=np.float32)
    assert score_matrix(U, V, kind, out=out, dtype="float32") is out
    np.testing.assert_array_equal(out, S32)


def test_float32_scores_of_float64_embeddings_round_them_first():
    rng = np.random.default_rng(4)
    U, V = rng.standard_normal((5, 16)), rng.standard_normal((9, 16))
    expected = score_matrix(U.astype(np.float32), V.astype(np.float32), "dot", dtype=np.float32)
    np.testing.assert_array_equal(score_matrix(U, V, "dot", dtype=np.float32), expected)


def test_score_matrix_dtype_and_out_are_checked():
    U = np.ones((2, 3), dtype=np.float32)
    V = np.ones((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'int8'"):
        score_matrix(U, V, dtype="int8")
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'banana'"):
        score_matrix(U, V, dtype="banana")
    with pytest.raises(ValueError, match=r"out must be a writable C-contiguous float32 array "
                                         r"of shape \(2, 4\)"):
        score_matrix(U, V, out=np.zeros((2, 4)), dtype=np.float32)  # float64 out
    with pytest.raises(ValueError, match=r"out must be a writable C-contiguous float64 array"):
        score_matrix(U, V, out=np.zeros((2, 4), dtype=np.float32))
    big = np.ones((2, 3))
    big[1, 2] = 1e300                                                # finite, but not in float32
    with pytest.raises(DataError, match=r"U\[1, 2\] is 1e\+300, beyond the range of float32; "
                                        "embeddings must be finite"):
        score_matrix(big, V, dtype=np.float32)
    score_matrix(big, V)                                             # fine in float64
    big[1, 2] = np.nan
    with pytest.raises(DataError, match=r"U\[1, 2\] is nan; embeddings must be finite"):
        score_matrix(big, V, dtype=np.float32)


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    R = rng.random((80, 60)) < 0.12
    R[np.arange(80), rng.integers(0, 60, 80)] = True
    u, i = np.nonzero(R)
    return random_split(Interactions(u, i, n_users=80, n_items=60), test_size=0.3,
                        random_state=0)


@pytest.mark.parametrize("cls", [MF, LightGCN, GCN, NGCF, GAT])
def test_every_embedding_model_scores_in_its_score_dtype(cls, split):
    train, test = split
    model = cls(dim=8, random_state=0).fit(train, epochs=1)
    assert model.get_params()["score_dtype"] == "float64"
    users = np.array([0, 5, 79])
    S64 = model.score(users)
    assert S64.dtype == np.float64
    model.set_params(score_dtype="float32")                          # after fit: allowed
    S32 = model.score(users)
    assert S32.dtype == np.float32
    expected = score_matrix(model.user_embeddings_[users], model.item_embeddings_,
                            model.scoring, dtype=np.float32)
    np.testing.assert_array_equal(S32, expected)
    assert model.score_history([1, 2, 3]).dtype == np.float32


def test_float32_scores_rank_like_float64_here_and_reuse_a_float32_block(split):
    train, test = split
    model = LightGCN(dim=16, scoring="cosine", random_state=0).fit(train, epochs=3)
    ref = evaluate(model, test, k=(5, 10), train=train)
    items, _ = model.recommend(np.arange(80), k=10)
    model.set_params(score_dtype="float32")
    got = evaluate(model, test, k=(5, 10), train=train, batch_size=9)   # reuses a float32 block
    for name, value in ref.items():                                  # no near ties in this data
        assert got[name] == pytest.approx(value, abs=1e-12), name
    got_items, got_scores = model.recommend(np.arange(80), k=10)
    np.testing.assert_array_equal(got_items, items)
    assert got_scores.dtype == np.float64                             # recommend's contract
    with pytest.raises(ValueError, match="out has dtype float64; this LightGCN scores in float32"):
        model.score([0], out=np.zeros((1, 60)))


def test_a_bad_score_dtype_is_refused_before_fit_changes_anything(split):
    train, _ = split
    with pytest.raises(ValueError, match="score_dtype must be 'float32' or 'float64', "
                                         "got 'float16'"):
        MF(dim=4, score_dtype="float16").fit(train, epochs=1)
    model = MF(dim=4, random_state=0).fit(train, epochs=1)
    before = model.user_embeddings_.copy()
    model.set_params(score_dtype="int64")
    with pytest.raises(ValueError, match="score_dtype must be 'float32' or 'float64', "
                                         "got 'int64'"):
        model.score([0])
    with pytest.raises(ValueError, match="score_dtype must be"):
        model.fit(train, epochs=1, resume=True)
    np.testing.assert_array_equal(model.user_embeddings_, before)


def test_score_dtype_is_saved_and_may_change_on_resume(split, tmp_path):
    train, _ = split
    model = MF(dim=4, score_dtype="float32", random_state=0).fit(train, epochs=1)
    path = tmp_path / "mf.npz"
    save(model, path)
    back = load(path)
    assert back.score_dtype == "float32"
    np.testing.assert_array_equal(back.score(np.arange(80)), model.score(np.arange(80)))
    back.set_params(score_dtype="float64")                           # not a defining one
    back.fit(train, epochs=1, resume=True)
    assert back.score([0]).dtype == np.float64
    del back.score_dtype                                             # a model from before it
    assert back.score([0]).dtype == np.float64
