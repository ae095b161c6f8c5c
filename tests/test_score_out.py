"""``score(users, out=)`` and the score block ``evaluate`` and ``recommend`` reuse.

Models that write their scores into the caller's array (``_scores_into``: the
embedding models and GF-CF) must give the bits they give without it; the
others copy into it. ``evaluate`` and ``recommend`` score every block into the
first one for the former, which must not change a metric or a ranking.
"""
import numpy as np
import pytest

from minigraphrec import Interactions
from minigraphrec.metrics import evaluate
from minigraphrec.models import EASE, GFCF, MF, Hybrid, ItemKNN, LightGCN, Popularity
from minigraphrec.split import random_split


def _data(seed=0, n_users=60, n_items=45, density=0.15):
    rng = np.random.default_rng(seed)
    R = rng.random((n_users, n_items)) < density
    R[np.arange(n_users), rng.integers(0, n_items, n_users)] = True    # everybody has an item
    u, i = np.nonzero(R)
    return Interactions(u, i, n_users=n_users, n_items=n_items)


MODELS = {
    "MF-dot": lambda: MF(dim=8, scoring="dot", dtype="float64", random_state=0),
    "MF-cosine": lambda: MF(dim=8, scoring="cosine", random_state=0),
    "LightGCN-euclidean": lambda: LightGCN(dim=8, scoring="euclidean", random_state=0),
    "MF-float32-scores": lambda: MF(dim=8, score_dtype="float32", random_state=0),
    "LightGCN-cosine-float32-scores": lambda: LightGCN(dim=8, scoring="cosine",
                                                       score_dtype="float32", random_state=0),
    "GFCF-float32": lambda: GFCF(n_factors=6, dtype="float32"),
    "GFCF-float64": lambda: GFCF(n_factors=6, dtype="float64"),
    "GFCF-alpha0": lambda: GFCF(alpha=0.0, n_factors=6, dtype="float64"),
    "ItemKNN": lambda: ItemKNN(k_neighbors=10),
    "Popularity": lambda: Popularity(),
    "EASE": lambda: EASE(l2=10.0),
    "Hybrid": lambda: Hybrid([ItemKNN(k_neighbors=10), Popularity()], weights=[0.7, 0.3]),
}
INTO = {"MF-dot", "MF-cosine", "LightGCN-euclidean", "MF-float32-scores",
        "LightGCN-cosine-float32-scores", "GFCF-float32", "GFCF-float64", "GFCF-alpha0"}


def _fit(name, train):
    model = MODELS[name]()
    if isinstance(model, (MF, LightGCN)):
        return model.fit(train, epochs=1)
    return model.fit(train)


@pytest.fixture(scope="module")
def split():
    return random_split(_data(), test_size=0.3, random_state=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_score_into_out_gives_the_same_bits(name, split):
    model = _fit(name, split[0])
    assert model._scores_into == (name in INTO)
    users = np.array([7, 0, 59, 7, 31])
    expected = model.score(users)
    out = np.full(expected.shape, np.nan, dtype=expected.dtype)
    assert model.score(users, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert np.array_equal(np.signbit(out), np.signbit(expected))
    # a row slice of a bigger block, as evaluate passes it
    block = np.full((9, model.n_items_), -7.0, dtype=expected.dtype)
    model.score(users, out=block[:5])
    np.testing.assert_array_equal(block[:5], expected)
    np.testing.assert_array_equal(block[5:], -7.0)                 # rows beyond are untouched


@pytest.mark.parametrize("name", ["MF-dot", "MF-float32-scores", "GFCF-float32", "ItemKNN"])
def test_score_rejects_a_bad_out_before_writing(name, split):
    """A bad ``out`` is a DataError (it was a bare ValueError, where ``errors.check_out``
    gives the ops a DataError); TypeError if it is no array at all."""
    from minigraphrec import DataError
    model = _fit(name, split[0])
    dtype = model.score([0]).dtype
    n_items = model.n_items_
    with pytest.raises(DataError, match=rf"out has shape \(2, {n_items + 1}\); the scores of "
                                        rf"3 users need \(len\(users\), n_items\) = "
                                        rf"\(3, {n_items}\)"):
        model.score([0, 1, 2], out=np.zeros((2, n_items + 1), dtype=dtype))
    other = np.float32 if dtype == np.float64 else np.float64
    with pytest.raises(DataError, match=f"out has dtype {np.dtype(other)}; this "
                                        f"{type(model).__name__} scores in {dtype}"):
        model.score([0, 1], out=np.zeros((2, n_items), dtype=other))
    strided = np.zeros((4, n_items), dtype=dtype)[::2]
    with pytest.raises(DataError, match="out must be C-contiguous and writable"):
        model.score([0, 1], out=strided)
    with pytest.raises(TypeError, match="out must be a numpy array, got list"):
        model.score([0], out=[[0.0] * n_items])
    with pytest.raises(ValueError, match="user id 60 is unknown"):
        model.score([60], out=np.zeros((1, n_items), dtype=dtype))
    untouched = np.full((2, n_items), 3.0, dtype=dtype)
    with pytest.raises(ValueError):
        model.score([0, 99], out=untouched)
    np.testing.assert_array_equal(untouched, 3.0)                   # nothing written


@pytest.mark.parametrize("name", sorted(INTO))
def test_evaluate_and_recommend_reusing_one_block_change_nothing(name, split, monkeypatch):
    train, test = split
    model = _fit(name, train)
    fresh = evaluate(model, test, k=(5, 10), batch_size=7)            # blocks of 7 users
    one = evaluate(model, test, k=(5, 10), batch_size=1000)           # one block
    items, scores = model.recommend(np.arange(60), k=6)
    calls = []
    real = type(model)._scorer

    def spy_scorer(self):                        # evaluate and recommend score through _scorer
        score = real(self)

        def spy(users, out=None):
            calls.append(out is not None)
            return score(users, out=out)
        return spy

    monkeypatch.setattr(type(model), "_scorer", spy_scorer)
    reused = evaluate(model, test, k=(5, 10), batch_size=7)
    assert calls[0] is False and all(calls[1:]) and len(calls) > 3   # blocks after the first reuse it
    monkeypatch.setattr(type(model), "score_batch_size", 8, raising=False)
    calls.clear()
    got_items, got_scores = model.recommend(np.arange(60), k=6)
    assert calls[0] is False and all(calls[1:]) and len(calls) == 8
    # a fresh block per call, each scored by _score_batch alone (nothing prepared)
    monkeypatch.setattr(type(model), "_scores_into", False)
    monkeypatch.setattr(type(model), "_scorer", lambda self: self._score_batch)
    plain = evaluate(model, test, k=(5, 10), batch_size=7)
    assert reused == plain == fresh
    assert one == fresh
    np.testing.assert_array_equal(got_items, items)
    np.testing.assert_array_equal(got_scores, scores)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_block_scorer_gives_score_batchs_bits(name, split):
    """``_scorer()`` prepares what every block shares (the embedding models: the item table
    checked, converted and normed once); its scores are ``_score_batch``'s, bit for bit,
    with and without ``out``."""
    train, _ = split
    model = _fit(name, train)
    scorer = model._scorer()
    for users in (np.arange(60), np.array([5, 0, 59, 5]), np.array([], dtype=np.int64)):
        want = model._score_batch(users)
        got = scorer(users)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        if model._scores_into:
            out = np.full(want.shape, np.nan, dtype=want.dtype)
            assert scorer(users, out=out) is out
            np.testing.assert_array_equal(out, want)


def test_evaluate_scores_through_an_overridden_score(split):
    """A subclass (or an instance) that overrides ``score`` is evaluated with its scores,
    not with the prepared block scorer its parent class would use."""
    train, test = split

    class Reversed(MF):
        def score(self, users, out=None):
            return -super().score(users, out=out)

    base = MF(dim=8, random_state=0).fit(train)
    rev = Reversed(dim=8, random_state=0).fit(train)
    assert evaluate(rev, test, k=5) != evaluate(base, test, k=5)
    flipped = MF(dim=8, random_state=0).fit(train)
    flipped.score = lambda users, out=None: -MF.score(flipped, users)
    assert evaluate(flipped, test, k=5) == evaluate(rev, test, k=5)

    class NoOut(MF):                           # an override that knows nothing of out=
        def score(self, users):
            return -super().score(users)

    no_out = NoOut(dim=8, random_state=0).fit(train)
    assert evaluate(no_out, test, k=5, batch_size=7) == evaluate(rev, test, k=5)


def test_a_subclass_scoring_its_own_way_is_evaluated_its_own_way(split):
    """The embedding models' prepared block scorer stands in for their ``_score_batch``
    only; a subclass that overrides ``_score_batch`` is scored by it in evaluate and
    recommend."""
    train, test = split

    class Shifted(MF):
        def _score_batch(self, users, out=None):
            S = super()._score_batch(users, out=out)
            S[:, :5] += 100.0                                   # items 0..4 always first
            return S

    model = Shifted(dim=8, random_state=0).fit(train)
    items, _ = model.recommend(np.arange(60), k=3, exclude_seen=False)
    assert set(items.ravel().tolist()) <= {0, 1, 2, 3, 4}
    assert evaluate(model, test, k=5) != evaluate(MF(dim=8, random_state=0).fit(train), test, k=5)
