"""What every model takes as input (models/base.py): raw ids by one rule, ad-hoc histories,
``explain`` on a model without explanations, boolean hyperparameters."""
import copy
import pickle

import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import DataError, Interactions
from minigraphrec.models import MF, ItemKNN, Popularity
from minigraphrec.models.base import plain_ids
from minigraphrec.sequences import Sequences


def _train(**raw):
    return Interactions([0, 0, 1, 2], [0, 1, 1, 2], n_users=3, n_items=3, **raw)


# ------------------------------------------------------------------ raw ids
@pytest.mark.parametrize("ids, kept", [
    (np.array([7, 8, 9]), [7, 8, 9]),
    (np.array([7.0, 8.0, -9.0]), [7, 8, -9]),                  # whole floats: the integers
    (np.array([7, 8, 9], dtype=np.uint8), [7, 8, 9]),
    (np.array([7.0, 8, 9], dtype=object), [7, 8, 9]),
    (np.array(["a", "b", "c"]), ["a", "b", "c"]),
    (np.array([1, "b", 3.0], dtype=object), ["1", "b", "3"]),  # a mix: text, 3.0 as "3"
])
def test_raw_ids_are_kept_as_int64_or_str(ids, kept):
    model = Popularity().fit(_train(user_ids=ids))
    assert model.user_ids_.dtype.kind in "iU"
    assert model.user_ids_.tolist() == kept


@pytest.mark.parametrize("ids, match", [
    (np.array([1.5, 2.0, 3.0]), r"train.user_ids\[0\] = 1.5 is not a whole number"),
    (np.array([1.0, np.nan, 3.0]), r"train.user_ids\[1\] = nan is not a whole number"),
    (np.array([1.0, 2.0, 1e19]), r"train.user_ids\[2\] = 1e\+19 is beyond the int64"),
    (np.array([False, True]), r"train.user_ids\[0\] = False is a bool"),
    (np.array([2, True, 3], dtype=object), r"train.user_ids\[1\] = True is a bool"),
    (np.array(["a", 2.5, "c"], dtype=object), r"train.user_ids\[1\] = 2.5 is not a whole"),
    (np.array([1, 2, 2**63 + 5], dtype=np.uint64), r"train.user_ids\[2\] = 9223372036854775813"),
])
def test_raw_ids_that_are_no_ids_are_refused_at_fit_naming_the_first(ids, match):
    """Float ids became strings ('1.5', '2.0': the model could not find its own ids by
    them), bools 0/1 and a uint64 above 2**63 a negative id, silently."""
    model = Popularity()
    n = len(ids)
    with pytest.raises(DataError, match=match):
        model.fit(Interactions(np.arange(n), np.zeros(n, int), n_users=n, n_items=2,
                               user_ids=ids))
    assert not hasattr(model, "R_")                         # nothing set


def test_a_whole_float_id_is_the_integer_id_everywhere():
    """2.0 and 2 are one id: in fit, in the lookups, in partial_fit and forget."""
    floats = Popularity().fit(_train(user_ids=np.array([1.0, 2.0, 3.0])))
    ints = Popularity().fit(_train(user_ids=np.array([1, 2, 3])))
    np.testing.assert_array_equal(floats.user_ids_, ints.user_ids_)
    for model in (floats, ints):
        np.testing.assert_array_equal(model.users_from_raw([2.0, 3.0, 1]), [1, 2, 0])
        np.testing.assert_array_equal(model.users_from_raw(["1", "3"]), [0, 2])
        np.testing.assert_array_equal(model.users_from_raw(np.float32(3.0)), [2])
        with pytest.raises(DataError, match=r"raw user ids\[0\] = 2.5 is not a whole"):
            model.users_from_raw(2.5)
        with pytest.raises(DataError, match=r"raw user ids\[0\] = True is a bool"):
            model.users_from_raw(True)
    new = Interactions([0, 1], [0, 2], user_ids=np.array([2.0, 4.0]), n_items=3)
    ints.partial_fit(new)
    assert ints.user_ids_.tolist() == [1, 2, 3, 4]            # 2.0 is user 2; 4 is new
    assert ints.user_ids_.dtype == np.int64
    assert ints.R_[1, 0] == 1
    gone = Interactions([0], [2], user_ids=np.array([4.0]), n_items=3)
    ints.forget(interactions=gone)                            # found by 4.0
    assert ints.R_[3].nnz == 0
    with pytest.raises(DataError, match=r"new_interactions.user_ids\[0\] = 7.5 is not a"):
        ints.partial_fit(Interactions([0], [0], user_ids=np.array([7.5]), n_items=3))
    with pytest.raises(DataError, match=r"interactions.user_ids\[0\] = True is a bool"):
        ints.forget(interactions=Interactions([0], [0], user_ids=np.array([True]),
                                              n_items=3))


def test_sessions_raw_ids_follow_the_same_rule():
    seqs = Sequences.from_lists([[0, 1], [1, 2]], n_items=3, users=[0, 1])
    seqs.user_ids = np.array([10.0, 11.0])
    model = mgr.MarkovChain().fit(seqs)
    assert model.user_ids_.tolist() == [10, 11] and model.user_ids_.dtype == np.int64
    seqs.item_ids = np.array([0.5, 1.0, 2.0])
    with pytest.raises(DataError, match=r"train.item_ids\[0\] = 0.5 is not a whole"):
        mgr.MarkovChain().fit(seqs)


def test_plain_ids_of_nothing_is_an_empty_int64_array():
    for empty in ([], np.zeros(0, bool), np.zeros(0)):
        out = plain_ids(empty)
        assert out.dtype == np.int64 and out.shape == (0,)


# ------------------------------------------------------------------ histories
def test_a_uint64_history_id_above_2_63_is_named_as_given():
    """It was reported as its wrapped negative value (-9223372036854775803)."""
    model = Popularity().fit(_train())
    with pytest.raises(DataError, match=r"items\[1\] = 9223372036854775813 is not in the "
                                        r"catalogue"):
        model.score_history(np.array([1, 2**63 + 5], dtype=np.uint64))
    np.testing.assert_array_equal(model.score_history(np.array([1], dtype=np.uint64)),
                                  model.popularity_)


# ------------------------------------------------------------------ explain
@pytest.mark.parametrize("make, train", [
    (mgr.MarkovChain, Sequences.from_lists([[0, 1], [1, 2]], n_items=3)),        # no users
    (mgr.MarkovChain, Sequences.from_lists([[0, 1], [1, 2]], n_items=3, users=[0, 1])),
    (mgr.SessionItemKNN, Sequences.from_lists([[0, 1], [1, 2]], n_items=3)),
])
def test_explain_on_a_model_without_explanations_says_so_first(make, train):
    """A model fitted on anonymous sessions said "these training sessions carry no users"
    although it has no explain at all."""
    model = make().fit(train)
    for user in (0, 5, "x"):
        with pytest.raises(NotImplementedError, match=f"{make.__name__} does not explain"):
            model.explain(user, 0)
    with pytest.raises(NotImplementedError, match="does not explain"):
        make().explain(0, 0)                                   # fitted or not


def test_explain_of_a_model_with_explanations_still_checks_its_arguments_first():
    model = ItemKNN().fit(_train())
    with pytest.raises(DataError, match="user id 7 is unknown"):
        model.explain(7, 0)
    with pytest.raises(NotImplementedError, match="Hybrid does not explain its scores: each"):
        mgr.Hybrid([Popularity(), ItemKNN()]).fit(_train()).explain(0, 0)


# ------------------------------------------------------------------ boolean hyperparameters
@pytest.mark.parametrize("value", ["no", None, -1, 0.0])
def test_mf_verbose_must_be_a_bool_or_a_level(value):
    """``verbose="no"`` silently meant True, None False; a bool or an integer level >= 0 (as
    scikit-learn's) is taken."""
    model = MF(dim=4, epochs=1, verbose=value)
    with pytest.raises(DataError, match=r"verbose \(True, False or an integer level\) must be "
                                        rf"an integer >= 0, got {value!r}"):
        model.fit(_train())
    for ok in (np.True_, 0, 2):
        MF(dim=4, epochs=1, verbose=ok, random_state=0).fit(_train())


# ------------------------------------------------------------------ Popularity's columns
def test_popularity_explain_converts_R_to_csc_once_per_R(monkeypatch):
    import scipy.sparse as sp

    import minigraphrec.models.popularity as popularity
    calls, csc_matrix = [], sp.csc_matrix

    def counting(R):
        calls.append(R)
        return csc_matrix(R)
    monkeypatch.setattr(popularity.sp, "csc_matrix", counting)
    model = Popularity().fit(_train())
    first = model.explain(0, 1)
    model.explain(1, 0)
    model.explain(2, 1)
    assert len(calls) == 1                                    # made once, then reused
    np.testing.assert_array_equal(first.sources, [0, 1])
    # not saved, pickled or deep-copied; made anew from the R_ each update leaves
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert other._columns.source is None and other._columns.value is None
        np.testing.assert_array_equal(other.explain(0, 1).sources, [0, 1])
    model.partial_fit(Interactions([0], [0], user_ids=np.array([5]), item_ids=np.array([1])))
    np.testing.assert_array_equal(model.explain(0, 1).sources, [0, 1, 3])
    model.forget(users=[0])
    np.testing.assert_array_equal(model.explain(0, 1).sources, [0, 2])
    model.fit(_train())
    np.testing.assert_array_equal(model.explain(0, 2).sources, [2])


def test_popularity_saves_without_its_columns(tmp_path):
    model = Popularity().fit(_train())
    model.explain(0, 1)
    model.save(tmp_path / "m.npz")
    loaded = mgr.load(tmp_path / "m.npz")
    assert "_columns" not in vars(loaded)
    np.testing.assert_array_equal(loaded.explain(0, 1).sources, [0, 1])


# ------------------------------------------------------------------ float raw ids, evaluated
def test_whole_float_raw_ids_are_found_by_evaluate_and_align():
    """A model keeps whole-float raw ids as integers (2.0 is the id 2); a test set whose raw
    ids are those floats, numbered as the training data or not, matches them: evaluate takes
    it, align maps it, and a fractional id matches nothing."""
    from minigraphrec.data import match_raw_ids
    assert match_raw_ids(np.array([2.0, 7.0, 1.5, np.nan]), np.array([7, 2])).tolist() == \
        [1, 0, -1, -1]
    users = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    items = np.array([0, 1, 1, 2, 2, 3, 3, 0])
    raw_users, raw_items = np.array([10.0, 11.0, 12.0, 13.0]), np.array([5.0, 6.0, 7.0, 8.0])
    train = mgr.Interactions(users, items, user_ids=raw_users, item_ids=raw_items)
    model = Popularity().fit(train)
    assert model.user_ids_.tolist() == [10, 11, 12, 13] and model.user_ids_.dtype == np.int64
    test = mgr.Interactions([0, 1], [2, 3], user_ids=raw_users, item_ids=raw_items)
    assert mgr.evaluate(model, test, k=2)["n_users"] == 2
    apart = mgr.Interactions([0, 1], [0, 1], user_ids=np.array([13.0, 10.0]),
                             item_ids=np.array([6.0, 7.0]))           # numbered apart
    with pytest.raises(DataError, match="numbered apart"):
        mgr.evaluate(model, apart, k=2)
    aligned = apart.align(model.user_ids_, model.item_ids_)
    assert aligned.users.tolist() == [3, 0] and aligned.items.tolist() == [1, 2]
