"""The embedding models prepare their item table for scoring once, not once per call.

Preparing ``item_embeddings_`` (its finiteness check, its conversion to ``score_dtype``, its
norms) cost more than one user's product; the models keep the preparation while the table
is the same read-only array. These tests hold the three things that makes safe: the tables
``fit``, ``partial_fit``, ``forget`` and ``load`` set are read-only arrays of their own; a
kept preparation is used only for the very table, scoring and dtype it was made for; and a
table of one's own that can be written is prepared afresh on every call, so an edit shows.
"""
import copy
import pickle

import numpy as np
import pytest

import minigraphrec.rank as rank
from minigraphrec import Interactions, load, save
from minigraphrec.models import GAT, GCN, MF, NGCF, LightGCN
from minigraphrec.rank import _read_only, score_matrix


def _data(seed=0, n_users=40, n_items=30, density=0.2):
    rng = np.random.default_rng(seed)
    R = rng.random((n_users, n_items)) < density
    R[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    u, i = np.nonzero(R)
    return Interactions(u, i, n_users=n_users, n_items=n_items)


MODELS = {
    "MF": lambda: MF(dim=8, random_state=0),
    "LightGCN-cosine": lambda: LightGCN(dim=8, scoring="cosine", random_state=0),
    "GCN": lambda: GCN(dim=8, random_state=0),
    "NGCF": lambda: NGCF(dim=8, random_state=0),
    "GAT-euclidean": lambda: GAT(dim=8, scoring="euclidean", random_state=0),
}


@pytest.fixture
def preparations(monkeypatch):
    """Count the item tables prepared (calls of ``rank._item_scorer``)."""
    calls = []
    real = rank._item_scorer

    def counting(V, *args, **kwargs):
        calls.append(V)
        return real(V, *args, **kwargs)

    monkeypatch.setattr(rank, "_item_scorer", counting)
    return calls


def _fitted(name):
    return MODELS[name]().fit(_data(), epochs=1)


def _count(preparations, table):
    """How many times ``table`` itself was prepared (the references' copies are not)."""
    return sum(V is table for V in preparations)


def _expected(model, users):
    return score_matrix(np.array(model.user_embeddings_[users]),
                        np.array(model.item_embeddings_), kind=model.scoring,
                        dtype=model.score_dtype)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fitted_tables_are_read_only_arrays_of_their_own(name):
    model = _fitted(name)
    for table in (model.user_embeddings_, model.item_embeddings_):
        assert _read_only(table) and table.base is None and table.flags.c_contiguous
        with pytest.raises(ValueError, match="read-only"):
            table[0, 0] = 1.0
    for table in model.params.values():               # the parameters still train in place
        assert table.flags.writeable


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_table_is_prepared_once_and_scores_the_same_bits(name, preparations):
    model = _fitted(name)
    want = _expected(model, [3, 0, 3])
    for _ in range(3):
        np.testing.assert_array_equal(model.score([3, 0, 3]), want)
        model.recommend([5], k=4)
    assert _count(preparations, model.item_embeddings_) == 1


def test_a_new_dtype_or_scoring_or_table_is_prepared_again(preparations):
    model = _fitted("MF")
    model.score([1])
    model.set_params(score_dtype="float32")
    np.testing.assert_array_equal(model.score([1]), _expected(model, [1]))
    model.set_params(scoring="cosine")
    np.testing.assert_array_equal(model.score([1]), _expected(model, [1]))
    model.score([2])
    old = model.item_embeddings_
    assert _count(preparations, old) == 3
    more = _data(seed=1)
    model.partial_fit(Interactions(more.users[:10], more.items[:10], n_users=40, n_items=30),
                      epochs=1)
    assert model.item_embeddings_ is not old and _read_only(model.item_embeddings_)
    np.testing.assert_array_equal(model.score([1]), _expected(model, [1]))
    model.recommend([1, 2], k=3)
    assert _count(preparations, model.item_embeddings_) == 1


def test_a_writable_table_of_ones_own_is_prepared_on_every_call(preparations):
    model = _fitted("MF")
    X = np.array(model.item_embeddings_)              # writable
    model.item_embeddings_ = X
    first = model.score([1])
    X[:] *= 2.0                                       # an edit in place shows at once
    np.testing.assert_array_equal(model.score([1]), 2.0 * first)
    assert _count(preparations, X) == 2
    # a read-only view of a writable array can still change: not kept either
    view = X[:]
    view.setflags(write=False)
    model.item_embeddings_ = view
    model.score([1])
    X[:] /= 2.0
    np.testing.assert_array_equal(model.score([1]), first)
    assert _count(preparations, view) == 2


def test_history_scores_use_the_prepared_table(preparations):
    for name in ("MF", "LightGCN-cosine"):
        model = _fitted(name)
        items = np.array([2, 5, 7])
        a = model.score_history(items)
        b = model.score_history(items)
        np.testing.assert_array_equal(a, b)
        assert _count(preparations, model.item_embeddings_) == 1
    model = _fitted("MF")
    z = model.fold_in(np.array([2, 5, 7]))
    np.testing.assert_array_equal(model.score_history(np.array([2, 5, 7])),
                                  score_matrix(z[None, :], model.item_embeddings_)[0])


def test_copies_pickles_and_files_score_alike(tmp_path, preparations):
    model = _fitted("LightGCN-cosine")
    want = model.score([0, 4])                        # the preparation is now kept
    clones = [pickle.loads(pickle.dumps(model)), copy.deepcopy(model), copy.copy(model)]
    save(model, tmp_path / "m.npz")
    clones.append(load(tmp_path / "m.npz"))
    for clone in clones:
        np.testing.assert_array_equal(clone.score([0, 4]), want)
    for clone in clones:                              # read-only, so each keeps its table
        assert _read_only(clone.item_embeddings_) and _read_only(clone.user_embeddings_)
        clone.score([1])
    # the shallow copy shares the table, so its kept preparation too; the others prepare
    # their own (the pickle and the deep copy hold an empty one)
    assert _count(preparations, model.item_embeddings_) == 1
    for clone in clones[:2] + clones[3:]:
        assert clone.item_embeddings_ is not model.item_embeddings_
        assert _count(preparations, clone.item_embeddings_) == 1


def test_a_table_made_writable_again_drops_the_kept_preparation(preparations):
    model = _fitted("MF")
    first = model.score([1])
    V = model.item_embeddings_
    V.setflags(write=True)
    V *= 2.0
    np.testing.assert_array_equal(model.score([1]), 2.0 * first)
    assert "_prepared_items" not in model.__dict__
    V.setflags(write=False)                           # read-only again: prepared afresh
    np.testing.assert_array_equal(model.score([1]), 2.0 * first)
    assert _count(preparations, V) == 3
