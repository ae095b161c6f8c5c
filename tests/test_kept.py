"""``models.base.kept``: a value derived from a fitted model's state, made once, made again
when its source is another object or its key changes, never pickled or deep-copied."""
import copy
import pickle

import numpy as np
import pytest

from minigraphrec.models.base import kept


class _Holder:
    pass


def _counting(calls):
    def make():
        calls.append(1)
        return np.arange(len(calls))
    return make


def test_made_once_per_source_and_key():
    model, calls = _Holder(), []
    source = np.zeros(3)
    first = kept(model, "_x", source, _counting(calls))
    assert kept(model, "_x", source, _counting(calls)) is first and len(calls) == 1
    kept(model, "_x", source.copy(), _counting(calls))          # another object, equal values
    assert len(calls) == 2
    kept(model, "_x", source, _counting(calls), key=("cosine", "<f4"))
    kept(model, "_x", source, _counting(calls), key=("cosine", "<f4"))
    assert len(calls) == 3                     # back to the first source, with a key: one make
    kept(model, "_x", source, _counting(calls), key=("dot", "<f4"))
    assert len(calls) == 4


def test_a_failed_make_keeps_nothing_stale():
    model, calls = _Holder(), []
    old, new = np.zeros(2), np.ones(2)
    kept(model, "_x", old, _counting(calls))

    def fails():
        raise MemoryError("no room")
    with pytest.raises(MemoryError):
        kept(model, "_x", new, fails)
    assert model._x.value is None              # neither the old value nor a half-made one
    assert kept(model, "_x", old, _counting(calls)) is not None and len(calls) == 2


@pytest.mark.parametrize("duplicate", [lambda m: pickle.loads(pickle.dumps(m)),
                                       copy.deepcopy], ids=["pickle", "deepcopy"])
def test_copies_hold_an_empty_one(duplicate):
    model = _Holder()
    model.R_ = np.ones(4)
    kept(model, "_x", model.R_, lambda: np.full(10**5, 7.0))
    clone = duplicate(model)
    assert clone._x.value is None and clone._x.source is None
    assert model._x.value is not None                    # the original keeps its own
    assert np.array_equal(kept(clone, "_x", clone.R_, lambda: np.full(3, 1.0)), np.ones(3))


def test_fitted_models_pickle_without_their_kept_values():
    """Popularity's and GF-CF's column copies and UserKNN's query state are not pickled:
    a pickle taken after explain or score_history is one empty box larger than before
    (each of those values takes kilobytes here)."""
    from minigraphrec.datasets import synthetic
    from minigraphrec.models import GFCF, Popularity, UserKNN
    train = synthetic(n_users=60, n_items=40, mean_interactions=10, random_state=3)
    for model, use in [(Popularity(), lambda m: m.explain(0, 1)),
                       (GFCF(n_factors=4, svd_solver="dense"), lambda m: m.explain(0, 1)),
                       (UserKNN(k_neighbors=5), lambda m: m.score_history([0, 1, 2]))]:
        model.fit(train)
        before = len(pickle.dumps(model))
        use(model)
        assert before < len(pickle.dumps(model)) < before + 100, type(model).__name__
