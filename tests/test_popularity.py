"""The popularity baseline on a hand case."""
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec.data import Interactions
from minigraphrec.models import Popularity as ExportedPopularity
from minigraphrec.models.popularity import Popularity


def _train():
    # 4 users, 5 items. Pairs (user, item), (1, 2) logged twice:
    #   u0: 0, 1      u1: 0, 2, 2     u2: 0, 1     u3: 3
    # distinct users per item: [3, 2, 1, 1, 0] (the repeat of (1, 2) counts once)
    return Interactions([0, 0, 1, 1, 1, 2, 2, 3], [0, 1, 0, 2, 2, 0, 1, 3],
                        n_users=4, n_items=5)


def test_fit_counts_distinct_training_users():
    model = Popularity()
    assert model.fit(_train()) is model
    np.testing.assert_array_equal(model.popularity_, [3, 2, 1, 1, 0])
    assert model.popularity_.dtype == np.float64
    assert (model.n_users_, model.n_items_) == (4, 5)


def test_score_is_the_same_row_for_every_user():
    model = Popularity().fit(_train())
    S = model.score([3, 0, 3])
    np.testing.assert_array_equal(S, [[3, 2, 1, 1, 0]] * 3)
    S[0, 0] = -1.0                                   # a fresh array: the model is untouched
    assert model.popularity_[0] == 3


def test_recommend_excludes_seen_and_breaks_ties_by_id():
    model = Popularity().fit(_train())
    items, scores = model.recommend([0, 1, 3], k=3)
    # u0 (seen 0, 1): 2 and 3 tie at 1 -> 2 first, then 4 (0)
    # u1 (seen 0, 2): 1 (2), 3 (1), 4 (0)
    # u3 (seen 3):    0 (3), 1 (2), 2 (1)
    np.testing.assert_array_equal(items, [[2, 3, 4], [1, 3, 4], [0, 1, 2]])
    np.testing.assert_array_equal(scores, [[1, 1, 0], [2, 1, 0], [3, 2, 1]])
    items, _ = model.recommend([0], k=6, exclude_seen=False)
    np.testing.assert_array_equal(items, [[0, 1, 2, 3, 4, -1]])


def test_estimator_conventions():
    model = Popularity()
    assert model.get_params() == {} and repr(model) == "Popularity()"
    assert ExportedPopularity is Popularity
    with pytest.raises(RuntimeError, match="not fitted"):
        model.score([0])
    with pytest.raises(TypeError, match="train must be an Interactions"):
        model.fit(np.zeros((2, 2)))
    fitted = Popularity().fit(_train())
    with pytest.raises(ValueError, match="user id 4 is unknown"):
        fitted.score([4])


def test_a_subclass_with_an_object_hyperparameter_fits_and_records_it():
    """fit records the hyperparameters as JSON data; an object that is none (an oracle's
    truth, say) is recorded by its repr, so such a model fits and updates."""
    class Tagged(mgr.Popularity):
        _params_free_after_fit = ()                  # every hyperparameter recorded at fit

        def __init__(self, tag=None):
            self.tag = tag

    class Tag:
        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return f"Tag({self.name!r})"
    data = mgr.datasets.synthetic(n_users=30, n_items=20, random_state=0)
    old, new = data.subset(data.users < 25), data.subset(data.users >= 25)
    model = Tagged(tag=Tag("a")).fit(old)
    assert model.fit_hyperparameters_ == {"tag": {"repr": "Tag('a')"}}
    model.set_params(tag=Tag("a")).partial_fit(new)                 # the same repr: accepted
    with pytest.raises(ValueError, match=r"tag=\"Tag\('a'\)\" -> Tag\('b'\)"):
        model.set_params(tag=Tag("b")).forget(users=[0])


def test_an_embedding_subclass_with_an_object_hyperparameter_fits():
    """The embedding models' record failed their fit with "cannot save hyperparameter"."""
    class TaggedMF(mgr.MF):
        def __init__(self, dim=4, epochs=1, random_state=0, tag=None):
            super().__init__(dim=dim, epochs=epochs, random_state=random_state)
            self.tag = tag
    data = mgr.datasets.synthetic(n_users=30, n_items=60, random_state=0)
    model = TaggedMF(tag=object()).fit(data)
    assert model.fit_hyperparameters_["tag"]["repr"].startswith("<object object at")
