"""Saving and loading models: round trips, and damaged files refused with clear errors."""
import json
import os
import zipfile

import numpy as np
import pytest
from conftest import resave
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec import io
from minigraphrec.batch import PairBatch
from minigraphrec.data import Interactions
from minigraphrec.errors import DataError
from minigraphrec.models import EASE, GCN, MF, NGCF, Hybrid, ItemKNN, LightGCN, Popularity


def _train(string_ids=False):
    rng = np.random.default_rng(0)
    R = rng.random((12, 15)) < 0.3
    R[0, 0] = True
    u, i = np.nonzero(R)
    kw = {}
    if string_ids:
        kw = dict(user_ids=np.array([f"user-{k}" for k in range(12)]),
                  item_ids=np.arange(100, 115))
    return Interactions(u, i, n_users=12, n_items=15,
                        user_features=rng.random((12, 3)),
                        item_features=sp.random(15, 4, density=0.5, random_state=1, format="csr"),
                        **kw)


MODELS = [
    MF(dim=4, epochs=1, batch_size=16, random_state=0),
    LightGCN(dim=4, n_layers=2, epochs=1, batch_size=16, random_state=0, scoring="cosine"),
    GCN(dim=4, input="both", epochs=1, batch_size=16, random_state=0),
    NGCF(dim=4, n_layers=2, epochs=1, batch_size=16, dtype="float64", random_state=0),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_round_trip_gives_identical_model(model, tmp_path):
    train = _train(string_ids=True)
    model.fit(train)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = io.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    users = np.arange(12)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    np.testing.assert_array_equal(loaded.recommend(users, 5)[0], model.recommend(users, 5)[0])
    assert loaded.params.keys() == model.params.keys()
    for k in model.params:
        np.testing.assert_array_equal(loaded.params[k], model.params[k])
        assert loaded.params[k].dtype == model.params[k].dtype
    assert loaded.history_ == model.history_
    np.testing.assert_array_equal(loaded.user_ids_, train.user_ids)
    np.testing.assert_array_equal(loaded.item_ids_, train.item_ids)
    assert (loaded.R_ != model.R_).nnz == 0
    batch = PairBatch.make([1, 2], [3, 4], [5, 6])                 # derived graph rebuilt
    loss, grads = model.loss_and_grad(batch)
    loss2, grads2 = loaded.loss_and_grad(batch)
    assert loss2 == loss
    for k in grads:
        np.testing.assert_array_equal(grads2[k], grads[k])
    loaded.fit(train, epochs=1)                                   # and it can be trained again


def test_round_trip_of_a_model_without_state_list(tmp_path):
    model = Popularity().fit(_train())
    io.save(model, tmp_path / "pop.npz")
    loaded = io.load(tmp_path / "pop.npz")
    np.testing.assert_array_equal(loaded.popularity_, model.popularity_)
    np.testing.assert_array_equal(loaded.score([0, 3]), model.score([0, 3]))


def test_round_trip_of_nested_models(tmp_path):
    """A Hybrid holds fitted models (models_) and the caller's (models): the fitted ones are
    saved with their state, once each, in the same file, and shared again; the caller's are
    saved as specifications (class and hyperparameters), whatever state they hold."""
    train = _train(string_ids=True)
    unfitted = MF(dim=3, epochs=1, random_state=1)              # a component that stays unfitted
    mf = MF(dim=3, epochs=1, random_state=0).fit(train)        # fitted ahead: used as it is
    inner = Hybrid([ItemKNN(k_neighbors=5), mf], weights=[1, 2]).fit(train)
    model = Hybrid([inner, Popularity()], weights="tune", random_state=0).fit(train)
    model.spare_ = [unfitted, model.models_[1]]
    model.save(tmp_path / "hybrid.npz")
    loaded = io.load(tmp_path / "hybrid.npz")
    users = np.arange(12)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    assert [type(m) for m in loaded.models] == [Hybrid, Popularity]
    assert [type(m) for m in loaded.models_] == [Hybrid, Popularity]
    assert not any(hasattr(m, "R_") for m in loaded.models)     # specifications
    assert loaded.models[0].models[1].get_params() == mf.get_params()
    assert not hasattr(loaded.models[0].models[1], "params")
    fitted_inner = loaded.models_[0]
    assert fitted_inner.models_[1] is not fitted_inner.models[1]  # state only in models_
    np.testing.assert_array_equal(fitted_inner.models_[1].params["E0"], mf.params["E0"])
    assert loaded.spare_[1] is loaded.models_[1]                 # met twice: one object
    assert loaded.spare_[0].get_params() == unfitted.get_params()
    assert not hasattr(loaded.spare_[0], "R_")
    with zipfile.ZipFile(tmp_path / "hybrid.npz") as z:             # E0 stored once
        assert sum(name.endswith("params/E0.npy") for name in z.namelist()) == 1
    _with_meta(tmp_path / "hybrid.npz",
               lambda m: m["attributes"]["models_"]["value"].__setitem__(0, {"__model_ref__": 99}))
    with pytest.raises(DataError, match="refers to an unknown model 99"):
        io.load(tmp_path / "hybrid.npz")


def test_a_hybrid_that_forgot_a_user_saves_no_trace_of_it(tmp_path):
    """The caller's fitted component still holds a user the blend forgot (Hybrid updates
    copies); it was written to the file with its state, user and all."""
    from minigraphrec.models import EASE
    train = _train()
    ease = EASE(l2=1.0).fit(train)
    model = Hybrid([ease, ItemKNN(k_neighbors=5)]).fit(train).forget(users=[3])
    model.save(tmp_path / "forgot.npz")
    loaded = io.load(tmp_path / "forgot.npz")
    assert [m.n_users_ for m in loaded.models_] == [11, 11]
    assert not hasattr(loaded.models[0], "R_")
    with zipfile.ZipFile(tmp_path / "forgot.npz") as z:
        assert not any(name.startswith("models.") for name in z.namelist())   # no arrays
    np.testing.assert_array_equal(loaded.score(np.arange(11)), model.score(np.arange(11)))


def _saved(tmp_path):
    path = tmp_path / "m.npz"
    MF(dim=3, epochs=1, random_state=0).fit(_train()).save(path)
    return path


def _rewrite(path, change):
    """Rewrite the archive with ``change(name, bytes) -> bytes`` applied to every member."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, change(name, data))


def test_tampered_array_is_detected(tmp_path):
    path = _saved(tmp_path)

    def flip(name, data):
        if name == "params/E0.npy":
            data = bytearray(data)
            data[-1] ^= 0x01                                       # one bit of one float
        return bytes(data)

    _rewrite(path, flip)
    with pytest.raises(DataError, match=f"{path}: checksum mismatch"):
        io.load(path)


def _with_meta(path, edit):
    """Re-save with the meta JSON edited and the checksum recomputed (a well-formed file)."""
    resave(path, edit_meta=edit)


def test_wrong_version_and_wrong_format_are_refused(tmp_path):
    path = _saved(tmp_path)
    _with_meta(path, lambda m: m.update(format_version=4))
    with pytest.raises(DataError,
                       match="format version 4; this minigraphrec reads versions 1, 2, 3"):
        io.load(path)
    path = _saved(tmp_path)                           # version 1 (no nested models) still loads
    _with_meta(path, lambda m: m.update(format_version=1))
    assert isinstance(io.load(path), type(io.load(_saved(tmp_path))))
    path = _saved(tmp_path)
    _with_meta(path, lambda m: m.update(module="os", **{"class": "system"}))
    with pytest.raises(DataError, match="os.system, which is not a Recommender"):
        io.load(path)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(DataError, match="not a minigraphrec model file"):
        io.load(other)


@pytest.mark.filterwarnings("error")         # np.load left its handle open: ResourceWarning
def test_truncated_and_missing_files_are_refused(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=f"{path}: not a readable .npz"):
        io.load(path)
    with pytest.raises(DataError, match="no such file"):
        io.load(tmp_path / "absent.npz")


def test_failed_save_leaves_no_file_and_keeps_the_old_one(tmp_path):
    model = MF(dim=3, epochs=1, random_state=0).fit(_train())
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()
    model.extra_ = np.array([object()], dtype=object)              # cannot be saved without pickle
    model._state_attrs = MF._state_attrs + ("extra_",)
    with pytest.raises(DataError, match="attribute 'extra_'.*pickle"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]              # no temporary file left
    with pytest.raises(DataError, match="cannot save hyperparameter 'dim'"):
        io.save(_unsaveable_hyperparameter(), tmp_path / "x.npz")
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def _unsaveable_hyperparameter():
    model = MF(dim=3, epochs=1, random_state=0).fit(_train())
    model.dim = object()
    return model


def test_unfitted_and_non_models_are_refused(tmp_path):
    with pytest.raises(RuntimeError, match="not fitted"):
        io.save(MF(), tmp_path / "x.npz")
    with pytest.raises(TypeError, match="Recommender"):
        io.save(object(), tmp_path / "x.npz")
    assert not os.listdir(tmp_path)


def test_file_holds_no_pickle(tmp_path):
    path = _saved(tmp_path)
    with np.load(path, allow_pickle=False) as z:                   # would raise on object arrays
        assert {"__meta__", "__sha256__", "params/E0", "R_/indptr"} <= set(z.files)
        assert all(z[k].dtype.kind != "O" for k in z.files)


def test_load_is_exported_at_the_top_level():
    assert mgr.load is io.load                                     # the public name: mgr.load


def test_a_save_failing_while_writing_leaves_no_half_written_file(tmp_path, monkeypatch):
    model = MF(dim=3, epochs=1, random_state=0).fit(_train())
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_fail(f, **arrays):                              # e.g. the disk filling up
        real_savez(f, **arrays)
        f.write(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="No space"):
        model.fit(_train(), epochs=1, resume=True).save(path)
    assert path.read_bytes() == before                             # the old checkpoint intact
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_a_checkpoint_keeps_zero_dimensional_arrays_and_the_generator_state(tmp_path):
    model = LightGCN(dim=4, n_layers=1, epochs=1, batch_size=16, random_state=0).fit(_train())
    model.note_ = np.array(2.5)                                    # a 0-d array attribute
    model._state_attrs = LightGCN._state_attrs + ("note_",)
    model.save(tmp_path / "m.npz")
    loaded = io.load(tmp_path / "m.npz")
    assert loaded.note_.shape == () and loaded.note_ == 2.5
    assert loaded.optimizer_state_.keys() == model.optimizer_state_.keys()
    for k, v in model.optimizer_state_.items():                    # Adam: lr, betas, m, v, t
        assert loaded.optimizer_state_[k].shape == v.shape
        np.testing.assert_array_equal(loaded.optimizer_state_[k], v)
    assert loaded.rng_state_ == model.rng_state_                   # 128-bit ints, exact
    assert model.rng_state_["state"]["state"] > 2**64


def test_a_generator_seed_is_saved_as_none_with_a_warning(tmp_path, caplog):
    model = MF(dim=4, epochs=1, random_state=np.random.default_rng(0)).fit(_train())
    with caplog.at_level("WARNING", logger="minigraphrec.io"):
        model.save(tmp_path / "m.npz")
    assert "MF: random_state is a Generator, saved as None" in caplog.text
    assert io.load(tmp_path / "m.npz").random_state is None
    caplog.clear()
    MF(dim=4, epochs=1, random_state=0).fit(_train()).save(tmp_path / "n.npz")
    assert not caplog.records


@pytest.mark.parametrize("kind", ["dense", "csr", "csc"])
def test_matrix_hyperparameters_round_trip(kind, tmp_path):
    """ContentBased(item_features=<matrix>) saves and loads (it raised DataError before): the
    matrix comes back equal, with its type; the file says version 3, one without a matrix
    hyperparameter still says 2; a Hybrid holding it nests it under its prefix."""
    from minigraphrec import ContentBased
    train = _train()
    rng = np.random.default_rng(0)
    F = (rng.random((train.n_items, 6)) < 0.4) * rng.random((train.n_items, 6))
    F = F if kind == "dense" else getattr(sp, f"{kind}_matrix")(F)
    model = ContentBased(item_features=F).fit(train)
    path = tmp_path / "cb.npz"
    model.save(path)
    again = io.load(path)
    G = again.get_params()["item_features"]
    assert type(G) is type(F)
    np.testing.assert_array_equal(G.toarray() if sp.issparse(G) else G,
                                  F.toarray() if sp.issparse(F) else F)
    np.testing.assert_array_equal(again.score([0, 1, 2]), model.score([0, 1, 2]))
    with np.load(path) as npz:
        assert json.loads(str(npz["__meta__"][()]))["format_version"] == 3
    hybrid = Hybrid([ContentBased(item_features=F), Popularity()]).fit(train)
    hybrid.save(tmp_path / "h.npz")
    np.testing.assert_array_equal(io.load(tmp_path / "h.npz").score([0, 1]), hybrid.score([0, 1]))
    with np.load(_saved(tmp_path)) as npz:
        assert json.loads(str(npz["__meta__"][()]))["format_version"] == 2
    bad = ContentBased(item_features=F.astype(object) if kind == "dense" else F)
    if kind == "dense":
        with pytest.raises(DataError, match="hyperparameter 'item_features'"):
            io._model_meta(bad, "", {}, {})


SESSION_MODELS = [
    mgr.SessionPopularity(), mgr.MarkovChain(smoothing=0.5),
    mgr.SessionItemKNN(k_neighbors=3, recency="linear"),
    mgr.SRGNN(dim=4, epochs=1, batch_size=8, random_state=0),
]


@pytest.mark.parametrize("model", SESSION_MODELS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("from_interactions", [True, False])
def test_session_models_round_trip(model, from_interactions, tmp_path):
    """A session model keeps its training sequences (score(users) scores each user's last
    one) and scores, recommends and evaluates as before; the derived indexes are rebuilt."""
    from minigraphrec.sequences import Sequences, evaluate_next_item, user_sequences
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(10), 6)
    items = rng.integers(0, 9, users.shape[0])
    data = Interactions(users, items, n_items=9, timestamps=np.arange(users.shape[0]),
                        user_ids=[f"u{u}" for u in range(10)],
                        item_ids=[f"i{i}" for i in range(9)])
    train = data if from_interactions else user_sequences(data)
    model.fit(train)
    path = tmp_path / "session.npz"
    model.save(path)
    loaded = io.load(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    s = Sequences.from_lists([[0, 1], [2], [3, 3, 4]], n_items=9)
    np.testing.assert_array_equal(loaded.score_sessions(s), model.score_sessions(s))
    np.testing.assert_array_equal(loaded.score(np.arange(10)), model.score(np.arange(10)))
    for a, b in zip(loaded.recommend_history([1, 2], k=4), model.recommend_history([1, 2], k=4)):
        np.testing.assert_array_equal(a, b)
    assert evaluate_next_item(loaded, s, [2, 3, 5], k=3) == \
        evaluate_next_item(model, s, [2, 3, 5], k=3)
    np.testing.assert_array_equal(loaded.item_ids_, model.item_ids_)
    np.testing.assert_array_equal(loaded.sequences_.items, model.sequences_.items)
    np.testing.assert_array_equal(loaded.sequences_.item_ids, model.sequences_.item_ids)


def test_damaged_sequences_are_refused(tmp_path):
    model = mgr.MarkovChain().fit(mgr.sequences.Sequences.from_lists([[0, 1], [1, 2]],
                                                                     n_items=3, users=[0, 1]))
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = dict(f)
    arrays["sequences_/items"] = np.array([0, 1, 1, 7])           # 7: beyond the catalogue
    meta = arrays.pop("__meta__")
    arrays.pop("__sha256__")
    arrays["__meta__"] = meta
    arrays["__sha256__"] = np.array(io._digest(str(meta), {k: v for k, v in arrays.items()
                                                           if k != "__meta__"}))
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=r"attribute 'sequences_' is not valid sequences: item "
                                        r"id 7 at position 1 of sequence 1 is out of range"):
        io.load(path)


def test_save_and_load_name_the_path_the_caller_gave(tmp_path):
    model = Popularity().fit(_train())
    with pytest.raises(IsADirectoryError, match=f"cannot save the model to {tmp_path}: it is "
                                                "a folder"):
        model.save(tmp_path)
    missing = tmp_path / "no" / "m.npz"
    with pytest.raises(FileNotFoundError, match=f"cannot save the model to {missing}: No such "
                                                "file or directory"):
        model.save(missing)
    data = tmp_path / "ratings.csv"
    data.write_text("u1,i1,5\n")
    with pytest.raises(DataError, match="ratings.csv is not a model file saved by minigraphrec "
                                        r"\(not a .npz archive"):
        io.load(data)
    with pytest.raises(DataError, match="is a folder, not a model file"):
        io.load(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["ratings.csv"]


def test_a_saved_model_has_the_mode_a_new_file_gets(tmp_path):
    """Not the temporary file's 0600: a model saved for a team is readable by it."""
    old = os.umask(0o022)
    try:
        MF(dim=4, epochs=1, random_state=0).fit(_train()).save(tmp_path / "m.npz")
        assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        MF(dim=4, epochs=1, random_state=0).fit(_train()).save(tmp_path / "p.npz")
        assert (tmp_path / "p.npz").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_a_file_without_adam_state_updates_and_refuses_to_resume(tmp_path):
    """Files saved before resumable training carry no ``optimizer_state_``: partial_fit and
    forget crashed with an AttributeError; they now start from fresh moments, as after
    fit(epochs=0), and resume says why it cannot."""
    path = _saved(tmp_path)
    _with_meta(path, lambda m: m["attributes"].pop("optimizer_state_"))
    model = io.load(path)
    assert model.optimizer_state_ is None
    model.forget(users=[0], method="fine_tune")
    io.load(path).partial_fit(Interactions([0, 12], [1, 15], n_users=13, n_items=16))
    with pytest.raises(RuntimeError, match="has no optimizer_state_"):
        io.load(path).fit(_train(), resume=True)


def test_a_value_refused_while_restoring_names_the_file(tmp_path):
    """A hyperparameter this version refuses (checked when the fitted model is rebuilt) was
    a bare ValueError without the file's name."""
    path = tmp_path / "bad_loss.npz"
    MF(dim=3, epochs=1, random_state=0).fit(_train()).save(path)
    _with_meta(path, lambda m: m["hyperparameters"].update(loss="hinge"))
    with pytest.raises(DataError, match=r"bad_loss.npz: cannot restore the fitted MF: loss "):
        io.load(path)


def test_an_empty_path_and_an_empty_file_say_so(tmp_path):
    model = MF(dim=3, epochs=1, random_state=0).fit(_train())
    with pytest.raises(DataError, match="the path is empty"):
        model.save("")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.npz is empty, not a model file"):
        io.load(empty)


def _with_arrays(path, edit):
    """Re-save with the arrays edited and the checksum recomputed (a well-formed file)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta_json = str(arrays.pop("__meta__"))
    arrays.pop("__sha256__")
    edit(arrays)
    arrays["__sha256__"] = np.array(io._digest(meta_json, arrays))
    arrays["__meta__"] = np.array(meta_json)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("make, edit_meta, edit_arrays, match", [
    (lambda: EASE(l2=10.0), lambda m: m["hyperparameters"].update(l2=-1.0), None,
     "l2 must be a finite number > 0, got -1.0"),
    (lambda: EASE(l2=10.0), None, lambda a: a.update(item_ids_=a["item_ids_"][:-2]),
     r"EASE does not agree with itself: item_ids_ holds \d+ ids for \d+ rows"),
    (lambda: ItemKNN(), None, lambda a: a.update(user_ids_=a["user_ids_"][:-1]),
     r"user_ids_ holds \d+ ids"),
    (lambda: MF(dim=4, epochs=1, random_state=0), lambda m: m["hyperparameters"].update(dim=2),
     None, r"MF's parameters do not match .*E0 is \(\d+, 4\) float32, \(\d+, 2\) float32 "
           r"expected"),
    (lambda: MF(dim=4, epochs=1, random_state=0), None,
     lambda a: a.update({"params/E0": a["params/E0"].astype(np.float64)}),
     r"E0 is \(\d+, 4\) float64, \(\d+, 4\) float32 expected"),
])
def test_a_file_edited_with_its_checksum_recomputed_is_refused(tmp_path, make, edit_meta,
                                                               edit_arrays, match):
    """Such files loaded and scored on mismatched arrays (an audit: l2=-1, a shortened
    item_ids_, dim=8 over 64-wide tables all recommended with status 0)."""
    path = tmp_path / "m.npz"
    make().fit(_train()).save(path)
    if edit_meta:
        _with_meta(path, edit_meta)
    if edit_arrays:
        _with_arrays(path, edit_arrays)
    with pytest.raises(DataError, match=f"{path}: cannot restore the fitted .*{match}"):
        io.load(path)


def _poisoned(a, key, index, value):
    arr = a[key].copy()
    arr[index] = value
    a[key] = arr


@pytest.mark.parametrize("make, key, index, value, match", [
    (lambda: MF(dim=4, epochs=1, random_state=0), "params/E0", (7, 2), np.nan,
     r"'params/E0' holds nan at \[7, 2\]"),
    (lambda: MF(dim=4, epochs=1, random_state=0), "optimizer_state_/lr", (), np.inf,
     r"'optimizer_state_/lr' holds inf;"),
    (lambda: EASE(l2=10.0), "B_", (3, 1), -np.inf, r"'B_' holds -inf at \[3, 1\]"),
    (lambda: ItemKNN(), "similarity_/data", (5,), np.nan, r"'similarity_/data' holds nan "
                                                          r"at \[5\]"),
])
def test_a_non_finite_fitted_array_is_refused_at_load_by_name(tmp_path, make, key, index,
                                                              value, match):
    """fit never finishes a diverged model, so NaN or inf in a file is an edit or damage; it
    loaded, and scoring failed later without naming the file."""
    path = tmp_path / "m.npz"
    make().fit(_train()).save(path)
    _with_arrays(path, lambda a: _poisoned(a, key, index, value))
    with pytest.raises(DataError, match=f"{path}: the fitted attribute {match}.*edited or "
                                        f"damaged"):
        io.load(path)


def test_huge_finite_values_are_not_taken_for_infinities():
    """The quick test sums in float64, which overflows here; the blocks then find no NaN."""
    arr = np.full((3, 4), 1e308)
    assert io._first_nonfinite(arr) is None
    arr[2, 1] = np.nan
    assert io._first_nonfinite(arr) == (2, 1)
    big = np.zeros(3_000_000, dtype=np.float32)
    big[2_500_001] = np.inf                                # in the third block
    assert io._first_nonfinite(big) == (2_500_001,)


def _umask_is_in_proc():
    try:
        with open("/proc/self/status", "rb") as f:
            return any(line.startswith(b"Umask:") for line in f)
    except OSError:
        return False


def test_replacing_a_file_keeps_its_permission_bits(tmp_path):
    """The old file's 0604 came back as 0644 (0o666 less the umask), as editors do not."""
    path = tmp_path / "m.npz"
    model = Popularity().fit(_train())
    old = os.umask(0o022)
    try:
        model.save(path)
        assert path.stat().st_mode & 0o777 == 0o644              # a new file: open()'s mode
        path.chmod(0o604)
        model.save(path)
        assert path.stat().st_mode & 0o777 == 0o604
        assert sorted(os.listdir(tmp_path)) == ["m.npz"]
    finally:
        os.umask(old)


def test_a_file_the_caller_may_not_write_is_not_replaced(tmp_path, monkeypatch):
    """A read-only model in a writable folder was replaced by the rename, where open() and the
    shell's '>' refuse. Tests run as root, for whom os.access says yes: it is patched here
    (and the real check runs below when not root)."""
    path = tmp_path / "keep.npz"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.fspath(p) == str(path)
                        and mode == os.W_OK else real(p, mode, **kw))
    with pytest.raises(PermissionError, match=f"cannot save the model to {path}: the file is "
                                              "read-only \\(mode 0444\\) for you"):
        Popularity().fit(_train()).save(path)
    assert path.read_bytes() == b"precious" and sorted(os.listdir(tmp_path)) == ["keep.npz"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write any file: os.access is permissive")
def test_a_read_only_file_is_not_replaced_for_real(tmp_path):
    path = tmp_path / "keep.npz"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        Popularity().fit(_train()).save(path)
    assert path.read_bytes() == b"precious"


@pytest.mark.skipif(not _umask_is_in_proc(), reason="no Umask line in /proc/self/status")
def test_the_umask_is_read_without_setting_it(tmp_path, monkeypatch):
    """Setting the process-wide umask to read it changed it for other threads a moment."""
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda *a: pytest.fail("the umask was set"))
        Popularity().fit(_train()).save(tmp_path / "m.npz")
        assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_the_folder_is_synced_after_the_rename(tmp_path, monkeypatch):
    import stat
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), (tmp_path / "m.npz").exists()))
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    Popularity().fit(_train()).save(tmp_path / "m.npz")
    assert synced == [(False, False), (True, True)]        # the file, then its folder


def test_a_folder_that_cannot_be_synced_is_no_error(tmp_path, monkeypatch):
    import stat
    real = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    model = Popularity().fit(_train())
    model.save(tmp_path / "m.npz")
    assert io.load(tmp_path / "m.npz").n_items_ == model.n_items_


def test_a_path_ending_in_a_slash_names_the_folder(tmp_path, monkeypatch):
    """'nodir/' said 'cannot save the model to nodir/: Not a directory'."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    model = Popularity().fit(_train())
    for given, named in (("nodir/", "nodir"), ("afile/", "afile")):
        with pytest.raises(IsADirectoryError,
                           match=f"cannot save the model to {given}: it names a folder "
                                 f"\\({named}, which does not exist as one\\); give a file "
                                 f"name, e.g. {named}/model.npz"):
            model.save(given)
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_a_complex_array_is_checked_part_by_part():
    z = np.array([1 + 1j, complex(2, np.nan)])
    with pytest.raises(DataError, match=r"'w_ \(imaginary part\)' holds nan at \[1\]"):
        io._check_finite(z, "w_", "m.npz")
    io._check_finite(np.array([1 + 1j, 2 - 3j]), "w_", "m.npz")


class _PopularityWithGaps(Popularity):
    """A model that stores NaN on purpose, and says so."""
    _may_hold_nonfinite = ("gaps_",)

    def fit(self, train):
        super().fit(train)
        self.gaps_ = np.r_[np.nan, np.ones(self.n_items_ - 1)]     # e.g. no value yet
        return self


def test_a_model_may_declare_attributes_that_hold_nan(tmp_path):
    model = _PopularityWithGaps().fit(_train())
    assert np.isnan(model.gaps_).any()
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(io.load(tmp_path / "m.npz").gaps_, model.gaps_)


# ============================ a class defined again (a notebook cell run twice)
class _Redefined(MF):
    generation = 1


_FIRST_REDEFINED = _Redefined(dim=4, epochs=1, batch_size=16, random_state=0)   # kept alive


class _Redefined(MF):                                                  # noqa: F811
    generation = 2


def test_load_takes_the_class_defined_last(tmp_path):
    """mgr.load gave back an instance of the first, stale definition while one of its
    instances was alive."""
    assert type(_FIRST_REDEFINED).generation == 1                     # both classes are live
    model = _Redefined(dim=4, epochs=1, batch_size=16, random_state=0).fit(_train())
    model.save(tmp_path / "m.npz")
    loaded = mgr.load(tmp_path / "m.npz")
    assert type(loaded) is _Redefined
    assert loaded.generation == 2


def test_load_refuses_when_it_cannot_tell_which_class_came_last(tmp_path, monkeypatch):
    """Two live classes of one name, one of them without a definition number."""
    model = _Redefined(dim=4, epochs=1, batch_size=16, random_state=0).fit(_train())
    model.save(tmp_path / "m.npz")
    monkeypatch.delattr(type(_FIRST_REDEFINED), "_definition_serial", raising=False)
    with pytest.raises(DataError, match=r"this Python session holds 2 live classes of that "
                                        r"name .* cannot tell which was defined last"):
        mgr.load(tmp_path / "m.npz")


# ---------------------------------------------------------------- incomplete or relabelled files
def _crafted(path, edit):
    """Rewrite the file as a tool rewriting archives could: ``edit(meta, arrays)`` changes the
    description and the arrays, and the checksum is recomputed (a well-formed file)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    arrays.pop("__sha256__")
    edit(meta, arrays)
    meta_json = json.dumps(meta, sort_keys=True)
    arrays["__sha256__"] = np.array(io._digest(meta_json, arrays))
    arrays["__meta__"] = np.array(meta_json)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _drop(name, prefix=""):
    """An edit removing attribute ``name`` (of the model at ``prefix``) and its arrays."""
    def edit(meta, arrays):
        attributes = meta["attributes"]
        if prefix:                                    # a component of a Hybrid: models_.0/
            index = int(prefix.rstrip("/").split(".")[-1])
            attributes = attributes["models_"]["value"][index]["__model__"]["attributes"]
        del attributes[name]
        for key in [k for k in arrays if k == prefix + name or k.startswith(prefix + name + "/")]:
            del arrays[key]
    return edit


def _sessions_model():
    from minigraphrec.sequences import user_sequences
    users = np.repeat(np.arange(10), 6)
    items = np.random.default_rng(0).integers(0, 9, users.shape[0])
    data = Interactions(users, items, n_items=9, timestamps=np.arange(users.shape[0]))
    return mgr.SRGNN(dim=4, epochs=1, batch_size=8, random_state=0).fit(user_sequences(data))


_FITTED = {
    "EASE": lambda: EASE(l2=10.0).fit(_train()),
    "ItemKNN": lambda: ItemKNN(k_neighbors=5).fit(_train()),
    "MF": lambda: MF(dim=4, epochs=1, batch_size=16, random_state=0).fit(_train()),
    "LightGCN": lambda: LightGCN(dim=4, n_layers=2, epochs=1, batch_size=16,
                                 random_state=0).fit(_train()),
    "Hybrid": lambda: Hybrid([ItemKNN(k_neighbors=5), EASE(l2=10.0)]).fit(_train()),
    "q-MF": lambda: mgr.quantize(MF(dim=4, epochs=1, batch_size=16,
                                    random_state=0).fit(_train()), "int8"),
    "SRGNN": _sessions_model,
    "MarkovChain": lambda: mgr.MarkovChain().fit(mgr.sequences.Sequences.from_lists(
        [[0, 1], [1, 2]], n_items=3, users=[0, 1])),        # no item_ids to count the items
}


@pytest.mark.parametrize("model, name, prefix, who", [
    ("EASE", "B_", "", "EASE"),
    ("EASE", "R_", "", "EASE"),
    ("ItemKNN", "similarity_", "", "ItemKNN"),
    ("ItemKNN", "R_", "", "ItemKNN"),
    ("MF", "user_embeddings_", "", "MF"),
    ("LightGCN", "item_embeddings_", "", "LightGCN"),
    ("Hybrid", "models_", "", "Hybrid"),
    ("Hybrid", "weights_", "", "Hybrid"),
    ("Hybrid", "similarity_", "models_.0/", "ItemKNN at models_.0"),
    ("q-MF", "user_q_", "", "QuantizedEmbeddings"),
    ("q-MF", "item_scale_", "", "QuantizedEmbeddings"),
    ("q-MF", "n_users_", "", "QuantizedEmbeddings"),
    ("SRGNN", "R_", "", "SRGNN"),
    ("SRGNN", "params", "", "SRGNN"),
])
def test_a_file_without_a_fitted_attribute_is_refused_naming_it(model, name, prefix, who,
                                                                tmp_path):
    """An audit: such files (a valid checksum) loaded, and the first scoring call failed
    without the file's name (AttributeError: 'EASE' object has no attribute 'B_'; "not fitted
    yet" without R_)."""
    path = tmp_path / f"{model}.npz"
    _FITTED[model]().save(path)
    _crafted(path, _drop(name, prefix))
    with pytest.raises(DataError, match=rf"{path}: the saved {who} has no fitted attribute "
                                        rf"'{name}'"):
        io.load(path)


def test_attributes_a_file_may_lack_are_optional(tmp_path):
    """What older versions did not save, or save only when set, still loads: SRGNN's
    best_epoch_ (new), an embedding model's optimizer_state_ and LightGCN's R_weighted_, EASE's
    P_diag_ (set only by later versions)."""
    for model, name in [("SRGNN", "best_epoch_"), ("SRGNN", "fit_hyperparameters_"),
                        ("LightGCN", "R_weighted_"), ("LightGCN", "rng_state_"),
                        ("MF", "optimizer_state_"), ("EASE", "P_diag_")]:
        path = tmp_path / f"{model}-{name}.npz"
        fitted = _FITTED[model]()
        fitted.save(path)
        _crafted(path, _drop(name))
        loaded = io.load(path)
        if model == "SRGNN":
            s = mgr.sequences.Sequences.from_lists([[0, 1], [2]], n_items=9)
            np.testing.assert_array_equal(loaded.score_sessions(s), fitted.score_sessions(s))
        else:
            np.testing.assert_array_equal(loaded.score([0, 1]), fitted.score([0, 1]))


def _shrink(name, axes=(0,)):
    """An edit dropping the last row (and column, ``axes=(0, 1)``) of array ``name``."""
    def edit(meta, arrays):
        arr = arrays[name]
        for axis in axes:
            arr = np.delete(arr, -1, axis=axis)
        arrays[name] = arr
    return edit


def _sparse_square(name, n):
    """An edit replacing sparse attribute ``name`` with an (n, n) identity."""
    def edit(meta, arrays):
        M = sp.identity(n, format="csr")
        arrays.update({f"{name}/indptr": M.indptr, f"{name}/indices": M.indices,
                       f"{name}/data": M.data, f"{name}/shape": np.array(M.shape)})
    return edit


@pytest.mark.parametrize("model, edit, who, match", [
    ("EASE", _shrink("B_", (0, 1)), "EASE", r"B_ has shape \(14, 14\), \(15, 15\) expected"),
    ("ItemKNN", _sparse_square("similarity_", 12), "ItemKNN",
     r"similarity_ has shape \(12, 12\), \(15, 15\) expected"),
    ("MF", _shrink("user_embeddings_"), "MF",
     r"user_embeddings_ has shape \(11, 4\), \(12, d\) expected"),
    ("LightGCN", _shrink("item_embeddings_"), "LightGCN",
     r"item_embeddings_ has shape \(14, 4\), \(15, d\) expected"),
    ("Hybrid", _shrink("weights_"), "Hybrid", r"weights_ has shape \(1,\), 2 expected"),
    ("Hybrid", _shrink("models_.1/B_", (0, 1)), "EASE at models_.1",
     r"B_ has shape \(14, 14\), \(15, 15\) expected"),
    ("q-MF", _shrink("item_scale_"), "QuantizedEmbeddings",
     r"item_scale_ has shape \(14,\), 15 expected"),
    ("q-MF", _shrink("user_q_", (1,)), "QuantizedEmbeddings",
     r"user_q_ has 3 columns and item_q_ 4: they must agree"),
    ("MarkovChain", lambda meta, arrays: meta["attributes"]["sequences_"].update(n_items=5),
     "MarkovChain", r"sequences_ has n_items 5"),
])
def test_a_file_whose_sizes_disagree_is_refused(model, edit, who, match, tmp_path):
    """Arrays of other sizes than n_users_ and n_items_ say loaded, and scoring failed (a
    matmul dimension mismatch) or read past the users' rows."""
    path = tmp_path / f"{model}.npz"
    fitted = _FITTED[model]()
    fitted.save(path)
    _crafted(path, edit)
    with pytest.raises(DataError, match=rf"{path}: the saved {who} does not agree with itself "
                                        rf"\(n_users_={fitted.n_users_}, "
                                        rf"n_items_={fitted.n_items_}\): {match}"):
        io.load(path)


def _relabel(module, name):
    def edit(meta, arrays):
        meta.update(module=module, **{"class": name})
    return edit


def test_a_file_relabelled_as_another_class_is_refused(tmp_path):
    """An audit: an MF file labelled LightGCN loaded and served MF's scores under LightGCN's
    name; an ItemKNN file labelled UserKNN loaded and failed at scoring (matmul: dimension
    mismatch). The first has MF's hyperparameters only (no n_layers); the second an item-item
    similarity_ where UserKNN keeps a user-user one."""
    path = tmp_path / "mf.npz"
    _FITTED["MF"]().save(path)
    _crafted(path, _relabel("minigraphrec.models.lightgcn", "LightGCN"))
    with pytest.raises(DataError, match=rf"{path}: the saved model is labelled LightGCN, but "
                                        r"its hyperparameters are MF's \(it has no .*n_layers"):
        io.load(path)
    path = tmp_path / "knn.npz"
    _FITTED["ItemKNN"]().save(path)
    _crafted(path, _relabel("minigraphrec.models.knn", "UserKNN"))
    with pytest.raises(DataError, match=rf"{path}: the saved UserKNN does not agree with itself "
                                        r".*similarity_ has shape \(15, 15\), \(12, 12\)"):
        io.load(path)


def test_a_hybrid_component_without_state_is_refused(tmp_path):
    """A Hybrid whose fitted component lost all its state loaded it as an unfitted model."""
    path = tmp_path / "h.npz"
    _FITTED["Hybrid"]().save(path)

    def strip(meta, arrays):
        meta["attributes"]["models_"]["value"][1]["__model__"]["attributes"] = {}
        for key in [k for k in arrays if k.startswith("models_.1/")]:
            del arrays[key]
    _crafted(path, strip)
    with pytest.raises(DataError, match=rf"{path}: the saved Hybrid's models_\[1\] \(EASE\) "
                                        "holds no fitted state"):
        io.load(path)


def test_classes_of_ones_own_load_without_what_save_skipped(tmp_path):
    """save skips an attribute of _state_attrs the model lacks, so load must not require a
    class of one's own to have it; nor hold its arrays to the library's sizes (a session
    model whose popularity_ ends with the total). Was: both refused, as files save did not
    write."""
    import minigraphrec as mgr
    from minigraphrec.models.session_base import SessionRecommender

    class Extra(mgr.Popularity):                 # an attribute set only sometimes
        _state_attrs = ("n_users_", "n_items_", "R_", "user_ids_", "item_ids_", "popularity_",
                        "extra_")

        def __init__(self, keep=False):
            self.keep = keep

        def fit(self, train):
            super().fit(train)
            if self.keep:
                self.extra_ = np.ones(3)
            return self

    class SmoothedPop(SessionRecommender):       # popularity_: a count per item, then the total
        def __init__(self, alpha=1.0):
            self.alpha = alpha

        def _check_params(self):
            pass

        def _fit_model(self, seqs):
            c = np.bincount(seqs.items, minlength=seqs.n_items).astype(float)
            self.popularity_ = np.append(c, c.sum())                   # (n_items + 1,)

        def _score_sessions(self, sessions):
            p = (self.popularity_[:-1] + self.alpha) / (self.popularity_[-1] + self.alpha)
            return np.tile(p, (len(sessions), 1))

    data = mgr.datasets.synthetic(n_users=20, n_items=15, random_state=0)
    for keep in (False, True):
        path = tmp_path / f"extra_{keep}.npz"
        Extra(keep=keep).fit(data).save(path)
        assert hasattr(io.load(path), "extra_") == keep
    sessions = mgr.datasets.synthetic_sessions(n_sessions=50, n_items=30, random_state=0)
    model = SmoothedPop().fit(sessions)
    model.save(tmp_path / "sp.npz")
    np.testing.assert_array_equal(io.load(tmp_path / "sp.npz").popularity_, model.popularity_)
