"""The training loop: learning, determinism, early stopping, failure on NaN, history and logging."""
import json
import logging

import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec import train as train_module
from minigraphrec.data import Interactions
from minigraphrec.datasets import synthetic
from minigraphrec.metrics import evaluate
from minigraphrec.models import GCN, MF, NGCF, LightGCN, Popularity
from minigraphrec.train import bce_batches, bpr_batches


def _planted(n_groups=4, users_per_group=25, items_per_group=20, p_in=0.5, seed=0):
    """Users of group g take each item of group g with prob p_in, nothing else; 70/30 split.

    Every item of a group is equally popular, so popularity cannot tell the
    groups apart, while any collaborative model can.
    """
    rng = np.random.default_rng(seed)
    n_users, n_items = n_groups * users_per_group, n_groups * items_per_group
    g_user = np.repeat(np.arange(n_groups), users_per_group)
    g_item = np.repeat(np.arange(n_groups), items_per_group)
    R = (g_user[:, None] == g_item[None, :]) & (rng.random((n_users, n_items)) < p_in)
    u, i = np.nonzero(R)
    test = rng.random(u.shape[0]) < 0.3
    train = Interactions(u[~test], i[~test], n_users=n_users, n_items=n_items)
    return train, Interactions(u[test], i[test], n_users=n_users, n_items=n_items)


@pytest.mark.parametrize("model", [
    MF(dim=16, lr=0.02, batch_size=128, epochs=8, random_state=0),
    LightGCN(dim=16, lr=0.02, batch_size=128, epochs=4, random_state=0),
    LightGCN(dim=16, loss="bce", n_negatives=2, lr=0.02, batch_size=256, epochs=4, random_state=0),
    GCN(dim=16, lr=0.02, batch_size=128, epochs=4, random_state=0),
    NGCF(dim=16, n_layers=2, lr=0.01, batch_size=128, epochs=4, random_state=0),
], ids=["mf", "lightgcn-bpr", "lightgcn-bce", "gcn", "ngcf"])
def test_training_beats_popularity_and_lowers_the_loss(model):
    train, test = _planted()
    pop = evaluate(Popularity().fit(train), test, k=10, metrics=["recall"])["recall@10"]
    model.fit(train)
    recall = evaluate(model, test, k=10, metrics=["recall"])["recall@10"]
    losses = [r["loss"] for r in model.history_]
    assert losses[-1] < losses[0]
    assert recall > pop + 0.3, (recall, pop)                      # popularity ~ 10/80 of a group


def test_same_seed_same_parameters_other_seed_other_parameters():
    train, _ = _planted()
    a = LightGCN(dim=8, epochs=2, batch_size=64, random_state=7).fit(train)
    b = LightGCN(dim=8, epochs=2, batch_size=64, random_state=7).fit(train)
    c = LightGCN(dim=8, epochs=2, batch_size=64, random_state=8).fit(train)
    np.testing.assert_array_equal(a.params["E0"], b.params["E0"])
    np.testing.assert_array_equal(a.user_embeddings_, b.user_embeddings_)
    assert [r["loss"] for r in a.history_] == [r["loss"] for r in b.history_]
    assert not np.array_equal(a.params["E0"], c.params["E0"])
    d = NGCF(dim=4, n_layers=1, epochs=1, batch_size=64, random_state=7).fit(train)
    e = NGCF(dim=4, n_layers=1, epochs=1, batch_size=64, random_state=7).fit(train)
    for k in d.params:                                             # dropout seeded too
        np.testing.assert_array_equal(d.params[k], e.params[k])


def test_history_records_and_callback_and_logging(caplog):
    train, val = _planted()
    seen = []
    with caplog.at_level(logging.INFO, logger="minigraphrec"):
        model = MF(dim=8, epochs=3, batch_size=256, verbose=True, metric="ndcg@5",
                   random_state=0).fit(train, validation=val, callback=seen.append)
    assert [r["epoch"] for r in model.history_] == [1, 2, 3]
    assert seen == model.history_
    for r in model.history_:
        assert {"epoch", "loss", "time", "eval_time", "ndcg@5", "recall@5"} <= set(r)
        assert r["time"] > 0 and np.isfinite(r["loss"])
    assert sum("MF epoch" in rec.getMessage() for rec in caplog.records) == 3
    quiet = MF(dim=8, epochs=1, random_state=0)
    with caplog.at_level(logging.INFO, logger="minigraphrec"):
        caplog.clear()
        quiet.fit(train)
    assert not caplog.records                                      # not verbose: DEBUG only


def test_a_long_epoch_logs_its_progress(caplog, monkeypatch):
    """Every PROGRESS_SECONDS inside an epoch, a line with the batch and the time left (an
    epoch on Amazon-Book-sized data ran 4 minutes with no line); the training is the same."""
    import re
    from minigraphrec import train as train_module
    train, _ = _planted()
    quiet = MF(dim=8, epochs=2, batch_size=64, random_state=0).fit(train)
    monkeypatch.setattr(train_module, "PROGRESS_SECONDS", 0.0)       # a line at every batch
    with caplog.at_level(logging.INFO, logger="minigraphrec"):
        model = MF(dim=8, epochs=2, batch_size=64, verbose=True, random_state=0).fit(train)
    n_batches = -(-train.to_csr().nnz // 64)
    lines = [r.getMessage() for r in caplog.records if "batch" in r.getMessage()]
    assert len(lines) == 2 * (n_batches - 1)                   # from the second batch on
    assert re.fullmatch(rf"MF epoch 2/2: batch {n_batches} of {n_batches}, \d+ s, about "
                        r"\d+ s left", lines[-1]), lines[-1]
    for k in quiet.params:
        np.testing.assert_array_equal(model.params[k], quiet.params[k])
    assert train_module._duration(59.4) == "59 s"
    assert train_module._duration(185) == "3 min 5 s"
    assert train_module._duration(7440) == "2 h 4 min"


def test_a_verbose_fit_logs_its_cold_users_and_items_once(caplog):
    # 6 users (user 5 has no pair) x 8 items (items 6 and 7 have none)
    train = Interactions([0, 0, 1, 2, 3, 4, 4], [0, 1, 2, 3, 4, 5, 0], n_users=6, n_items=8)
    with caplog.at_level(logging.INFO, logger="minigraphrec"):
        model = MF(dim=4, epochs=1, verbose=True, random_state=0).fit(train)
        cold = [r.getMessage() for r in caplog.records if "no training pair" in r.getMessage()]
        assert cold == ["MF: 1 of 6 users and 2 of 8 items have no training pair: a cold user "
                        "keeps its random initial embedding; a cold item is trained only as a "
                        "sampled negative"]
        caplog.clear()
        model.fit(train, epochs=1, resume=True)                    # said once, at the start
        assert not any("no training pair" in r.getMessage() for r in caplog.records)
        MF(dim=4, epochs=1, verbose=True, random_state=0).fit(
            Interactions([0, 1, 1], [1, 0, 2], n_users=2, n_items=3))   # none cold
        assert not any("no training pair" in r.getMessage() for r in caplog.records)
        # fed features only, a model has no free id rows to leave untrained
        data = synthetic(n_users=40, n_items=30, mean_interactions=5, random_state=0)
        features = data.subset(data.items < 25)                          # items 25-29 cold
        GCN(input="features", dim=4, epochs=1, verbose=True, random_state=0).fit(features)
        assert not any("no training pair" in r.getMessage() for r in caplog.records)
        GCN(dim=4, epochs=1, verbose=True, random_state=0).fit(features)
        assert sum("GCN: 0 of 40 users and 5 of 30 items have no training pair" in
                   r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("metric, key", [("auc", "auc"), ("ndcg@020", "ndcg@20"),
                                         ("coverage@5", "coverage@5")])
def test_every_metric_parse_metric_takes_validates(metric, key):
    """The key a metric is looked up by is evaluate's (it trained an epoch, then failed)."""
    train, val = _planted()
    model = MF(dim=8, epochs=2, batch_size=256, metric=metric, patience=5,
               random_state=0).fit(train, validation=val)
    assert [key in r for r in model.history_] == [True, True] and model.best_epoch_ in (1, 2)
    assert model.history_[model.best_epoch_ - 1][key] == max(r[key] for r in model.history_)


@pytest.mark.parametrize("metric, message", [("auc@20", "AUC ranks every item"),
                                             ("recall", "must look like 'recall@20'"),
                                             ("recall@0", "must look like")])
def test_bad_metrics_are_refused_before_training(metric, message):
    train, val = _planted()
    with pytest.raises(ValueError, match=message):
        MF(dim=8, epochs=2, metric=metric).fit(train, validation=val)


@pytest.mark.parametrize("patience, model_class", [(None, MF), (2, MF), (2, GCN)])
def test_a_checkpoint_of_a_validated_run_resumes_it_exactly(tmp_path, monkeypatch, patience,
                                                            model_class):
    """Saved from the callback at epoch 2 while epoch 1 is the best, a checkpoint carries
    the best parameters and the epochs since them: resumed, the run restores epoch 1's
    parameters and stops where the uninterrupted run stopped (it used to end on epoch 2's
    parameters while naming epoch 1, and to train on past the patience)."""
    train, val = _planted()
    scores = [0.3, 0.1, 0.2, 0.25, 0.1]                            # best at epoch 1

    def scripted(model, test, k, metrics):
        return {"recall@20": scores[len(model.history_)], "n_users": 1}

    monkeypatch.setattr("minigraphrec.metrics.evaluate", scripted)
    make = dict(dim=8, epochs=5, batch_size=256, patience=patience, random_state=0)
    if model_class is GCN:
        make["n_layers"] = 1
    whole = model_class(**make).fit(train, validation=val)
    path = tmp_path / "epoch2.npz"

    def save_at_2(record):
        if record["epoch"] == 2:
            mgr.save(model, path)
    model = model_class(**make)
    model.fit(train, validation=val, callback=save_at_2)
    checkpoint = mgr.load(path)
    assert checkpoint.since_best_ == 1 and checkpoint.best_epoch_ == 1
    resumed = checkpoint.fit(train, validation=val, epochs=3, resume=True)
    assert [r["epoch"] for r in resumed.history_] == [r["epoch"] for r in whole.history_]
    assert len(whole.history_) == (3 if patience == 2 else 5)
    assert resumed.best_epoch_ == whole.best_epoch_ == 1
    for k in whole.params:
        np.testing.assert_array_equal(resumed.params[k], whole.params[k])
    assert [r["loss"] for r in resumed.history_] == [r["loss"] for r in whole.history_]
    assert whole.best_params_ is None and resumed.since_best_ is None


def test_early_stopping_restores_the_best_epoch(monkeypatch):
    train, val = _planted()
    scripted = iter([0.1, 0.3, 0.2, 0.25, 0.1, 0.9])              # best at epoch 2

    def fake_evaluate(model, test, k, metrics):
        return {"recall@20": next(scripted), "n_users": 1}

    monkeypatch.setattr("minigraphrec.metrics.evaluate", fake_evaluate)
    snapshots = []
    model = LightGCN(dim=4, epochs=6, batch_size=256, patience=2, metric="recall@20",
                     random_state=0)
    model.fit(train, validation=val,
              callback=lambda r: snapshots.append(model.params["E0"].copy()))
    assert len(model.history_) == 4                                # stopped after 2 worse epochs
    assert model.best_epoch_ == 2
    np.testing.assert_array_equal(model.params["E0"], snapshots[1])
    assert not np.array_equal(snapshots[1], snapshots[3])
    E = np.vstack([model.user_embeddings_, model.item_embeddings_])   # cached from the best
    np.testing.assert_array_equal(E, model._all_embeddings())


def _broken_at(real, call, spoil):
    """``real`` (a model's ``_loss_and_grad``) with ``spoil(loss, grads) -> (loss, grads)``
    applied to its result at call number ``call`` (from 1); ``.calls`` counts them."""
    def broken(self, batch, reuse=False):
        broken.calls += 1
        loss, grads = real(self, batch, reuse)
        return spoil(loss, grads) if broken.calls == call else (loss, grads)
    broken.calls = 0
    return broken


def test_nan_loss_stops_training_and_leaves_the_model_as_it_was(monkeypatch):
    """A non-finite loss stops training, naming where; fit is all or nothing, so the model
    is what it was before the call: unfitted, or the earlier fit, bit for bit."""
    train, _ = _planted()
    real = MF._loss_and_grad
    flaky = _broken_at(real, 5, lambda loss, grads: (float("nan"), grads))
    monkeypatch.setattr(MF, "_loss_and_grad", flaky)
    model = MF(dim=4, epochs=3, batch_size=64, random_state=0)
    n_batches = -(-train.to_csr().nnz // 64)
    with pytest.raises(FloatingPointError, match=r"non-finite .* epoch 1, batch 5 of "
                                                 f"{n_batches}.*left as it was"):
        model.fit(train)
    assert vars(model) == MF(dim=4, epochs=3, batch_size=64, random_state=0).__dict__
    with pytest.raises(RuntimeError, match="not fitted"):
        model.score([0])
    monkeypatch.setattr(MF, "_loss_and_grad", real)
    model.fit(train, epochs=1)                                      # a good fit, then a bad one
    before = {k: v.copy() for k, v in model.params.items()}
    state = (model.step_, list(model.history_), model.rng_state_)
    scores = model.score(np.arange(10))
    flaky.calls = 0
    monkeypatch.setattr(MF, "_loss_and_grad", flaky)
    with pytest.raises(FloatingPointError):
        model.fit(train, epochs=2, resume=True)                     # in place from the start
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])
    assert (model.step_, model.history_, model.rng_state_) == state
    np.testing.assert_array_equal(model.score(np.arange(10)), scores)


@pytest.mark.parametrize("cls", [MF, LightGCN])
def test_a_nan_gradient_with_a_finite_loss_stops_training_at_its_batch(cls, monkeypatch):
    """The gradient check is Adam's count (optimizer.nonfinite): a NaN in one gradient entry
    is named at its batch, and the model is left as it was."""
    train, _ = _planted()

    def one_nan(loss, grads):
        grads["E0"][0, 0] = np.nan
        return loss, grads

    monkeypatch.setattr(cls, "_loss_and_grad", _broken_at(cls._loss_and_grad, 3, one_nan))
    model = cls(dim=4, epochs=2, batch_size=64, random_state=0)
    with pytest.raises(FloatingPointError, match=r"the gradient of E0 became non-finite "
                                                 r"\(loss [0-9.]+\) at epoch 1, batch 3 of"):
        model.fit(train)
    assert not hasattr(model, "params")


def test_huge_learning_rate_fails_cleanly():
    train, _ = _planted()
    model = LightGCN(dim=8, epochs=1, batch_size=64, random_state=0).fit(train)
    scores = model.score(np.arange(10))
    with pytest.raises(FloatingPointError, match="Try a smaller lr"):
        model.set_params(lr=1e30).fit(train)
    np.testing.assert_array_equal(model.score(np.arange(10)), scores)   # the earlier fit


def test_batches_cover_an_epoch():
    train, _ = _planted()
    R = train.to_csr()
    rng = np.random.default_rng(0)
    batches = bpr_batches(R, 100, rng)
    assert sum(b.size for b in batches) == R.nnz
    assert all(b.size == 100 for b in batches[:-1])
    assert all(R[b.users, b.pos].all() and not R[b.users, b.neg].any() for b in batches)
    point = bce_batches(R, 100, 3, rng)
    labels = np.concatenate([b.labels for b in point])
    assert labels.shape == (4 * R.nnz,) and labels.sum() == R.nnz
    users = np.concatenate([b.users for b in point])
    items = np.concatenate([b.items for b in point])
    np.testing.assert_array_equal(np.asarray(R[users, items]).ravel(), labels)
    assert not np.all(labels[:R.nnz] == 1)                         # shuffled


def test_fit_validates_epochs_and_keeps_fitting_from_scratch():
    train, _ = _planted()
    model = MF(dim=4, epochs=1, random_state=0)
    first = model.fit(train).params["E0"].copy()
    np.testing.assert_array_equal(model.fit(train).params["E0"], first)   # refit = fresh start
    assert train_module.logger.name == "minigraphrec"


# ----------------------------------------------------------------- resuming a run
def _same_run(a, b):
    """Assert two fitted models hold the same run, bit for bit."""
    assert a.params.keys() == b.params.keys()
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert a.params[k].dtype == b.params[k].dtype
    assert [(r["epoch"], r["loss"]) for r in a.history_] == \
        [(r["epoch"], r["loss"]) for r in b.history_]
    assert a.step_ == b.step_ and a.rng_state_ == b.rng_state_
    assert a.optimizer_state_.keys() == b.optimizer_state_.keys()
    for k in a.optimizer_state_:
        np.testing.assert_array_equal(a.optimizer_state_[k], b.optimizer_state_[k])
    np.testing.assert_array_equal(a.user_embeddings_, b.user_embeddings_)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_two_plus_three_epochs_through_a_file_equal_five_straight(dtype, backend, tmp_path):
    train, _ = _planted()
    kw = {"dim": 8, "n_layers": 2, "lr": 0.01, "batch_size": 128, "dtype": dtype,
          "backend": backend, "random_state": 5}
    straight = LightGCN(**kw).fit(train, epochs=5)
    first = LightGCN(**kw).fit(train, epochs=2)
    first.save(tmp_path / "run.npz")
    resumed = mgr.load(tmp_path / "run.npz").fit(train, epochs=3, resume=True)
    _same_run(resumed, straight)
    assert [r["epoch"] for r in resumed.history_] == [1, 2, 3, 4, 5]
    assert int(resumed.optimizer_state_["t:E0"]) == resumed.step_        # Adam's t moved on
    assert not np.array_equal(resumed.params["E0"], first.params["E0"])  # it did train


def test_resume_in_memory_and_in_several_pieces_with_dropout():
    train, _ = _planted()
    kw = {"dim": 4, "n_layers": 1, "message_dropout": 0.3, "node_dropout": 0.2,
          "batch_size": 128, "random_state": 1}
    straight = NGCF(**kw).fit(train, epochs=2)
    pieces = NGCF(**kw).fit(train, epochs=0)                 # initialise only, then 1 + 1
    pieces.fit(train, epochs=1, resume=True).fit(train, epochs=1, resume=True)
    _same_run(pieces, straight)


def test_resume_with_a_lower_learning_rate_uses_it():
    train, _ = _planted()
    model = MF(dim=4, lr=0.01, batch_size=128, random_state=0).fit(train, epochs=1)
    model.set_params(lr=0.001).fit(train, epochs=1, resume=True)
    assert float(model.optimizer_state_["lr"]) == 0.001
    other = MF(dim=4, lr=0.01, batch_size=128, random_state=0).fit(train, epochs=1)
    other.fit(train, epochs=1, resume=True)                   # same state, old lr
    assert not np.array_equal(model.params["E0"], other.params["E0"])


def test_resume_refuses_other_data_naming_what_differs():
    train, _ = _planted()
    model = LightGCN(dim=4, batch_size=128, random_state=0).fit(train, epochs=1)
    before = model.params["E0"].copy()
    fewer = Interactions(train.users[1:], train.items[1:], n_users=train.n_users,
                         n_items=train.n_items)
    with pytest.raises(mgr.DataError, match=r"data differ .*0 training pair\(s\) not in the "
                                            r"fitted data and 1 fitted pair\(s\) missing"):
        model.fit(fewer, epochs=1, resume=True)
    bigger = Interactions(train.users, train.items, n_users=train.n_users + 1,
                          n_items=train.n_items)
    with pytest.raises(mgr.DataError, match=r"n_users 100 \(fitted\) vs 101 \(given\)"):
        model.fit(bigger, epochs=1, resume=True)
    np.testing.assert_array_equal(model.params["E0"], before)   # nothing trained
    assert model.R_.nnz == train.to_csr().nnz and model.n_users_ == 100   # fitted data kept
    model.fit(train, epochs=1, resume=True)                       # the right data still works
    assert [r["epoch"] for r in model.history_] == [1, 2]


def test_resume_refuses_changed_model_hyperparameters_naming_them(tmp_path):
    train, _ = _planted()
    model = LightGCN(dim=4, n_layers=2, batch_size=128, random_state=0).fit(train, epochs=1)
    model.save(tmp_path / "m.npz")
    loaded = mgr.load(tmp_path / "m.npz").set_params(n_layers=3, init="normal")
    with pytest.raises(mgr.DataError, match=r"init='xavier' -> 'normal', n_layers=2 -> 3"):
        loaded.fit(train, epochs=1, resume=True)
    loaded.set_params(n_layers=2, init="xavier", batch_size=64, random_state=9)   # allowed
    loaded.fit(train, epochs=1, resume=True)
    assert len(loaded.history_) == 2


def test_resume_needs_a_fitted_run():
    train, _ = _planted()
    with pytest.raises(RuntimeError, match="never fitted"):
        LightGCN(dim=4).fit(train, resume=True)
    model = LightGCN(dim=4, batch_size=128, random_state=0).fit(train, epochs=1)
    model.optimizer_state_ = None                                  # as an old file would be
    with pytest.raises(RuntimeError, match="has no optimizer_state_"):
        model.fit(train, epochs=1, resume=True)


def test_resume_with_validation_keeps_the_best_epoch_to_beat(monkeypatch):
    train, val = _planted()
    scripted = iter([0.1, 0.5, 0.2, 0.3, 0.6])                    # best: 2, then 5

    def fake_evaluate(model, test, k, metrics):
        return {"recall@20": next(scripted), "n_users": 1}

    monkeypatch.setattr("minigraphrec.metrics.evaluate", fake_evaluate)
    model = LightGCN(dim=4, batch_size=128, random_state=0).fit(train, validation=val, epochs=3)
    assert model.best_epoch_ == 2
    best = model.params["E0"].copy()
    model.fit(train, validation=val, epochs=1, resume=True)        # 0.3 < 0.5: keep epoch 2
    assert model.best_epoch_ == 2 and [r["epoch"] for r in model.history_] == [1, 2, 3, 4]
    np.testing.assert_array_equal(model.params["E0"], best)
    model.fit(train, validation=val, epochs=1, resume=True)        # 0.6: epoch 5
    assert model.best_epoch_ == 5 and not np.array_equal(model.params["E0"], best)


@pytest.mark.parametrize("bit_generator", ["PCG64", "MT19937", "Philox", "SFC64"])
def test_generator_state_round_trips_through_json(bit_generator):
    rng = np.random.Generator(getattr(np.random, bit_generator)(123))
    rng.random(7)
    state = json.loads(json.dumps(train_module.generator_state(rng)))
    expected = rng.integers(0, 2**62, 50)
    np.testing.assert_array_equal(train_module.restore_generator(state).integers(0, 2**62, 50),
                                  expected)
    with pytest.raises(mgr.DataError, match="random generator"):
        train_module.restore_generator({"bit_generator": "NoSuchGenerator"})


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_numpy_backend_trains_through_the_references_only(loss, monkeypatch):
    """A model with backend="numpy" samples its batches and steps Adam with the NumPy
    references, in fit and in forget's fine-tuning: no numba kernel runs. The batches are
    the same on both backends."""
    import minigraphrec.kernels.adam as adam_kernels
    import minigraphrec.kernels.sampling as sampling_kernels

    train, _ = _planted()
    R = train.to_csr()
    for n_neg in (1, 3):
        a = bpr_batches(R, 50, np.random.default_rng(1)) if loss == "bpr" else \
            bce_batches(R, 50, n_neg, np.random.default_rng(1))
        b = bpr_batches(R, 50, np.random.default_rng(1), "numpy") if loss == "bpr" else \
            bce_batches(R, 50, n_neg, np.random.default_rng(1), "numpy")
        assert len(a) == len(b)
        for x, y in zip(a, b):
            for field in ("users", "pos", "neg", "items", "labels"):
                if hasattr(x, field):
                    np.testing.assert_array_equal(getattr(x, field), getattr(y, field))

    def forbidden(*args, **kwargs):
        raise AssertionError("a numba kernel ran under backend='numpy'")

    for name in ("adam_update", "adam_update_serial"):
        monkeypatch.setattr(adam_kernels, name, forbidden)
    monkeypatch.setattr(sampling_kernels, "nth_absent", forbidden)
    model = LightGCN(dim=8, epochs=2, batch_size=64, loss=loss, backend="numpy",
                     random_state=0).fit(train)
    assert len(model.history_) == 2
    model.forget(users=[0], epochs=1, method="fine_tune")       # the fine-tuning path too


@pytest.mark.parametrize("make", [lambda: MF(dim=4, epochs=4, batch_size=64, random_state=0),
                                  lambda: LightGCN(dim=4, epochs=4, batch_size=64,
                                                   random_state=0)])
@pytest.mark.parametrize("resumed", [False, True])
def test_a_checkpoint_saved_from_the_callback_resumes_the_run_bit_for_bit(make, resumed,
                                                                           tmp_path):
    """The documented way to keep a long run: save from the callback, and after the run
    dies, load the last checkpoint and resume; the same bits as the uninterrupted run, also
    for a checkpoint written inside a resumed fit."""
    train, _ = _planted()
    path = tmp_path / "ckpt.npz"

    def checkpoint(record):
        model.save(path)
        if record["epoch"] == 3:
            raise KeyboardInterrupt                               # the run dies here

    model = make()
    with pytest.raises(KeyboardInterrupt):
        if resumed:
            model.fit(train, epochs=1)                            # epoch 1, then 2-3 resumed
            model.fit(train, epochs=3, resume=True, callback=checkpoint)
        else:
            model.fit(train, callback=checkpoint)
    last = mgr.load(path)
    assert [r["epoch"] for r in last.history_] == [1, 2, 3]
    np.testing.assert_array_equal(last.score([0, 1]), last.score([0, 1]))   # it scores
    last.fit(train, epochs=1, resume=True)
    full = make().fit(train)
    for k in full.params:
        np.testing.assert_array_equal(last.params[k], full.params[k])
    np.testing.assert_array_equal(last.score(np.arange(10)), full.score(np.arange(10)))


class _PenalisedMF(MF):
    """MF whose loss adds lam * sum(E0) (a user's change of the loss, through the public
    loss_and_grad)."""
    lam = 0.05

    def loss_and_grad(self, batch):
        loss, grads = super().loss_and_grad(batch)
        grads = {k: v.copy() for k, v in grads.items()}
        grads["E0"] += self.lam
        return loss + self.lam * float(self.params["E0"].sum()), grads


def test_training_calls_an_overridden_loss_and_grad():
    train, _ = _planted()
    plain = MF(dim=4, epochs=2, batch_size=64, random_state=0).fit(train)
    penalised = _PenalisedMF(dim=4, epochs=2, batch_size=64, random_state=0).fit(train)
    assert not np.array_equal(penalised.params["E0"], plain.params["E0"])
    # the penalty pulls every entry down by the same push through Adam's normalised steps
    assert penalised.params["E0"].mean() < plain.params["E0"].mean()


@pytest.mark.parametrize("make", [lambda: MF(dim=4, random_state=0),
                                  lambda: LightGCN(dim=4, random_state=0),
                                  lambda: GCN(dim=4, random_state=0),
                                  lambda: NGCF(dim=4, random_state=0),
                                  lambda: mgr.GAT(dim=4, random_state=0)])
@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_the_reused_buffers_of_training_give_the_checked_gradients(make, loss):
    """Training's _loss_and_grad(batch, reuse=True) equals loss_and_grad(batch), the path
    check_model_grads checks, over consecutive batches (a stale buffer would show)."""
    train, _ = _planted()
    model = make().set_params(loss=loss, batch_size=40).fit(train, epochs=0)
    R = model.R_
    batches = (bpr_batches(R, 40, np.random.default_rng(0)) if loss == "bpr" else
               bce_batches(R, 40, 1, np.random.default_rng(0)))
    for batch in batches[:4]:
        loss_r, grads_r = model._loss_and_grad(batch, reuse=True)
        grads_r = {k: v.copy() for k, v in grads_r.items()}
        loss_c, grads_c = model.loss_and_grad(batch)
        assert loss_r == loss_c
        for k in grads_c:
            np.testing.assert_array_equal(grads_r[k], grads_c[k], err_msg=k)


class _PriorMF(MF):
    """MF with a matrix hyperparameter (a subclass's own, e.g. a prior per item)."""

    def __init__(self, prior=None, dim=4, epochs=1, batch_size=64, random_state=0):
        super().__init__(dim=dim, epochs=epochs, batch_size=batch_size,
                         random_state=random_state)
        self.prior = prior


class _KwargsMF(MF):
    """Against the contract: its hyperparameters pass through **kwargs."""

    def __init__(self, prior=None, **kwargs):
        super().__init__(**kwargs)
        self.prior = prior


def test_a_model_whose_init_takes_kwargs_is_refused_before_anything_is_written(tmp_path):
    """Its dim=4 never reached the file: it loaded as dim=64 over 4-wide tables. Now fit
    (and get_params, save) refuse the class, naming it, as scikit-learn does."""
    train, _ = _planted()
    model = _KwargsMF(dim=4, epochs=1, batch_size=64, random_state=0)
    with pytest.raises(TypeError, match=r"_KwargsMF.__init__ takes \*\*kwargs: a model's "
                                        "hyperparameters must be named in its __init__'s "
                                        "signature"):
        model.fit(train)
    assert not hasattr(model, "R_")                             # fit is all or nothing
    with pytest.raises(TypeError, match=r"_KwargsMF.__init__ takes \*\*kwargs"):
        model.get_params()
    assert repr(model) == ("_KwargsMF(<hyperparameters unreadable: _KwargsMF.__init__ takes "
                           "**kwargs>)")                         # a repr must not raise


def test_a_matrix_hyperparameter_fits_saves_and_guards_resume(tmp_path):
    train, _ = _planted()
    prior = np.linspace(0.0, 1.0, train.n_items)
    model = _PriorMF(prior=prior).fit(train)
    model.save(tmp_path / "m.npz")
    loaded = mgr.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.prior, prior)
    loaded.fit(train, epochs=1, resume=True)                       # the same prior: resumes
    loaded.prior = prior[::-1].copy()
    with pytest.raises(mgr.DataError, match="cannot resume this _PriorMF: hyperparameters "
                                            "that define the model"):
        loaded.fit(train, epochs=1, resume=True)


# ==================================== divergence in a fit's last step (numerics audit)
def _small():
    return mgr.datasets.synthetic(n_users=40, n_items=50, n_communities=3,
                                  mean_interactions=6, min_interactions=3, random_state=0)


@pytest.mark.parametrize("make, message", [
    (lambda: NGCF(dim=8, epochs=1, batch_size=100_000, lr=1e3, random_state=0),
     "the final embeddings are not finite although the parameters are"),
    (lambda: GCN(dim=8, epochs=1, batch_size=100_000, lr=1e30, random_state=0),
     "the final embeddings are not finite"),
    (lambda: MF(dim=8, epochs=3, batch_size=64, lr=0.01, reg=1e25, random_state=0),
     "Adam's second moment overflowed at epoch 1"),
])
def test_a_fit_whose_last_step_diverges_fails_and_changes_nothing(make, message):
    """One batch per epoch: the step that blows up is the fit's last, after the last loss
    check. fit returned normally with NaN embeddings (or, for the overflowing second
    moment, parameters that had silently stopped moving)."""
    data = _small()
    model = make()
    with pytest.raises(FloatingPointError, match=message):
        model.fit(data)
    assert not hasattr(model, "params")                          # all or nothing


def test_an_lr_beyond_float32_is_refused():
    with pytest.raises(ValueError, match="lr must be finite in float32"):
        MF(dim=4, epochs=1, lr=1e39).fit(_small())
    MF(dim=4, epochs=0, lr=1e39, dtype="float64").fit(_small())     # float64 holds it


def test_srgnn_whose_last_step_diverges_fails():
    sessions = mgr.datasets.synthetic_sessions(n_sessions=60, n_items=30, n_communities=3,
                                               random_state=0)
    model = mgr.SRGNN(dim=8, epochs=1, batch_size=100_000, lr=1e10, random_state=0)
    with pytest.raises(FloatingPointError, match="the model left by the last step gives a "
                                                 "non-finite loss"):
        model.fit(sessions)                                      # it scored inf silently
    assert not hasattr(model, "params")


def test_bad_validation_and_callback_are_refused_before_the_first_epoch(monkeypatch, caplog):
    """A validation set of the wrong kind, numbered beyond the model, or without an item
    outside training, and a callback that is no function, failed after a whole epoch (the
    callback as "'int' object is not callable")."""
    train = _small()
    epochs = []
    real = train_module.bpr_batches
    monkeypatch.setattr(train_module, "bpr_batches",
                        lambda *a, **k: epochs.append(1) or real(*a, **k))
    cases = [(dict(validation=[(0, 1)]), TypeError, "validation must be an Interactions"),
             (dict(validation=Interactions([train.n_users], [0], n_users=train.n_users + 1,
                                           n_items=train.n_items)), mgr.DataError, "validation"),
             (dict(validation=train), mgr.DataError, "no user has a validation item that is "
                                                     "not a training item"),
             (dict(callback=5), TypeError, "callback must be callable")]
    for kwargs, exc, match in cases:
        with pytest.raises(exc, match=match):
            MF(dim=4, random_state=0).fit(train, epochs=2, **kwargs)
    assert epochs == []
    with caplog.at_level(logging.WARNING, logger="minigraphrec"):
        MF(dim=4, patience=2, random_state=0).fit(train, epochs=1)
    assert "MF: patience=2 has no effect without validation data" in caplog.text


def test_verbose_prints_each_epoch_when_logging_is_not_configured():
    """verbose=True printed nothing: Python drops INFO records when no handler is set up
    (a subprocess: pytest installs its own)."""
    import subprocess
    import sys
    code = ("import minigraphrec as mgr; d = mgr.datasets.synthetic(n_users=30, n_items=40, "
            "random_state=0); mgr.MF(dim=4, verbose=True, random_state=0).fit(d, epochs=2); "
            "import logging; assert not logging.getLogger('minigraphrec').handlers")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "MF epoch 1/2: loss" in run.stderr and "MF epoch 2/2: loss" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize("bad", [dict(lr=-1.0), dict(lr="a"), dict(reg=np.inf), dict(reg=-1),
                                 dict(loss="hinge"), dict(scoring="l1"), dict(dtype="float16"),
                                 dict(init="zeros"), dict(metric="recall@0"),
                                 dict(score_dtype="int8"), dict(batch_size=0)])
def test_every_bad_hyperparameter_raises_a_data_error(bad):
    """lr and reg raised ValueError where batch_size, epochs, patience, dim raised DataError
    (a ValueError subclass): now DataError throughout, naming the hyperparameter."""
    train, _ = _planted()
    with pytest.raises(mgr.DataError, match=next(iter(bad))):
        MF(dim=4, **bad).fit(train, epochs=1)


def test_mf_cached_embeddings_are_no_views_of_its_parameters():
    """MF's user_embeddings_/item_embeddings_ were halves of params["E0"] itself: a manual
    Adam step changed MF's scores, not LightGCN's. Now both cache copies, refreshed by fit."""
    from minigraphrec.optim import Adam
    train, _ = _planted()
    for model_class in (MF, LightGCN):
        model = model_class(dim=4, batch_size=64, random_state=0).fit(train, epochs=1)
        assert not np.shares_memory(model.user_embeddings_, model.params["E0"])
        assert not np.shares_memory(model.item_embeddings_, model.params["E0"])
        before = model.score(np.array([0])).copy()
        batch = bpr_batches(model.R_, 64, np.random.default_rng(0))[0]
        _, grads = model.loss_and_grad(batch)
        Adam(lr=0.1).step(model.params, grads)
        np.testing.assert_array_equal(model.score(np.array([0])), before)   # the cache
        model.fit(train, epochs=0, resume=True)                             # refreshed
        assert not np.array_equal(model.score(np.array([0])), before)
        np.testing.assert_array_equal(
            np.vstack([model.user_embeddings_, model.item_embeddings_]), model._all_embeddings())


# ----------------------------------------------- users who have every item (no negative)
FULL = [2, 7, 10]                       # internal ids of the users with every item, below


def _with_full_users(seed=0):
    """12 users x 6 items, raw ids 'a'..'l'; 'c', 'h' and 'k' (internal 2, 7, 10) have every
    item, every other user lacks at least one, and 'l' has none."""
    rng = np.random.default_rng(seed)
    R = rng.random((12, 6)) < 0.5
    R[np.arange(12), np.arange(12) % 6] = False
    R[0, 1] = True
    R[FULL] = True
    R[11] = False
    u, i = np.nonzero(R)
    return Interactions(u, i, n_users=12, n_items=6, user_ids=np.array(list("abcdefghijkl")),
                        item_ids=np.array(list("uvwxyz")))


def _capture_batches(monkeypatch):
    """Record the batches training draws (fit, partial_fit and forget all call these)."""
    seen = []
    real_bpr, real_bce = train_module.bpr_batches, train_module.bce_batches

    def bpr(*args, **kwargs):
        seen.append(real_bpr(*args, **kwargs))
        return seen[-1]

    def bce(*args, **kwargs):
        seen.append(real_bce(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(train_module, "bpr_batches", bpr)
    monkeypatch.setattr(train_module, "bce_batches", bce)
    return seen


def _flat(batches, fields):
    return {f: np.concatenate([getattr(b, f) for b in batches]) for f in fields}


def _full_user_warnings(caplog):
    return [r for r in caplog.records if "items as positives" in r.getMessage()]


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_users_with_every_item_are_left_out_of_training_with_one_warning(loss, caplog,
                                                                         monkeypatch):
    """One user with every item used to refuse the whole data set (DataError from the
    sampler). Its pairs give no triple and no negative: they are left out, with one warning
    per fit naming how many users and pairs and the first user by raw id. BCE leaves their
    positives out too, so every positive still comes with its n_negatives negatives."""
    train = _with_full_users()
    R = train.to_csr()
    n_kept = R.nnz - 6 * len(FULL)
    seen = _capture_batches(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="minigraphrec"):
        model = MF(dim=4, epochs=3, batch_size=16, loss=loss, n_negatives=2,
                   random_state=0).fit(train)
    assert len(model.history_) == 3 and all(np.isfinite(r["loss"]) for r in model.history_)
    (record,) = _full_user_warnings(caplog)                    # one for the fit, not per epoch
    assert record.levelno == logging.WARNING and record.name == "minigraphrec"
    message = record.getMessage()
    assert "3 user(s) have all 6 items" in message and "user 'c'" in message
    assert f"their {6 * len(FULL)} training pair(s) are left out" in message
    assert len(seen) == 3
    dense = R.toarray() != 0
    for batches in seen:
        if loss == "bpr":
            got = _flat(batches, ["users", "pos", "neg"])
            assert got["users"].shape == (n_kept,)               # one triple per kept pair
            assert not np.isin(got["users"], FULL).any()
            assert dense[got["users"], got["pos"]].all()
            assert not dense[got["users"], got["neg"]].any()
        else:
            got = _flat(batches, ["users", "items", "labels"])
            assert got["users"].shape == (3 * n_kept,)           # each kept pair + 2 negatives
            assert not np.isin(got["users"], FULL).any()
            ones = got["labels"] == 1
            kept = dense.copy()
            kept[FULL] = False
            np.testing.assert_array_equal(                       # every kept pair, once
                np.sort(got["users"][ones] * 6 + got["items"][ones]),
                np.flatnonzero(kept.ravel()))
            assert not dense[got["users"][~ones], got["items"][~ones]].any()


@pytest.mark.parametrize("make", [lambda: mgr.LightGCN(dim=4, n_layers=2),
                                  lambda: mgr.GCN(dim=4), lambda: mgr.NGCF(dim=4, n_layers=1),
                                  lambda: mgr.GAT(dim=4, n_layers=1)],
                         ids=["lightgcn", "gcn", "ngcf", "gat"])
def test_every_embedding_model_trains_on_data_with_users_who_have_every_item(make, caplog):
    model = make().set_params(epochs=1, batch_size=16, random_state=0)
    with caplog.at_level(logging.WARNING, logger="minigraphrec"):
        model.fit(_with_full_users())
    assert len(model.history_) == 1 and len(_full_user_warnings(caplog)) == 1
    assert np.isfinite(model.score(np.arange(12))).all()


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_with_users_who_have_every_item_both_backends_sample_and_train_the_same(loss,
                                                                              monkeypatch):
    from minigraphrec.ops import sample_bpr
    from minigraphrec.train import _without_full_users
    train = _with_full_users(1)
    R = train.to_csr()
    R_kept, full = _without_full_users(R)
    np.testing.assert_array_equal(full, FULL)
    dense = R.toarray()
    dense[FULL] = 0                                   # as if their pairs were not there
    for backend in ("numba", "numpy"):
        got = sample_bpr(R_kept, random_state=5, backend=backend)
        want = sample_bpr(sp.csr_matrix(dense), random_state=5, backend="numba")
        for x, y in zip(got, want):
            np.testing.assert_array_equal(x, y)
    seen = _capture_batches(monkeypatch)
    fields = ["users", "pos", "neg"] if loss == "bpr" else ["users", "items", "labels"]
    models = [LightGCN(dim=4, n_layers=2, epochs=2, batch_size=16, loss=loss, backend=backend,
                       random_state=3).fit(train) for backend in ("numba", "numpy")]
    assert len(seen) == 4
    for a, b in zip(seen[:2], seen[2:]):
        a, b = _flat(a, fields), _flat(b, fields)
        for f in fields:
            np.testing.assert_array_equal(a[f], b[f])
        assert not np.isin(a["users"], FULL).any()
    # the same batches; the propagation's float32 sums may round differently per backend
    np.testing.assert_allclose(models[0].params["E0"], models[1].params["E0"], rtol=1e-5,
                               atol=1e-6)


def test_data_without_users_who_have_every_item_train_on_the_batches_they_did(monkeypatch):
    """Pinned from the code before users with every item were left out (same seed, same
    batches): fit (BPR over 2 epochs, BCE) and partial_fit's fine-tuning. User 0 has all
    but one item."""
    rng = np.random.default_rng(5)
    R = rng.random((6, 7)) < 0.4
    R[:, 0] = True
    R[0, :] = True
    R[0, 3] = False
    u, i = np.nonzero(R)
    train = Interactions(u, i, n_users=6, n_items=7)
    seen = _capture_batches(monkeypatch)
    MF(dim=4, epochs=2, batch_size=8, random_state=3).fit(train)
    bpr = [_flat(b, ["users", "pos", "neg"]) for b in seen]
    assert bpr[0]["users"].tolist() == [4, 1, 3, 5, 0, 1, 3, 3, 2, 2, 0, 3, 5, 1, 4, 1, 0, 4,
                                        1, 4, 1, 3]
    assert bpr[0]["pos"].tolist() == [6, 4, 2, 0, 1, 4, 2, 0, 5, 5, 6, 2, 3, 1, 3, 4, 4, 6, 1,
                                      6, 4, 0]
    assert bpr[0]["neg"].tolist() == [4, 3, 1, 1, 3, 3, 1, 4, 1, 4, 3, 6, 4, 2, 2, 3, 3, 4, 3,
                                      2, 6, 4]
    assert bpr[1]["users"].tolist() == [5, 5, 4, 0, 1, 4, 3, 5, 4, 4, 0, 1, 4, 3, 2, 0, 3, 0,
                                        4, 4, 4, 0]
    assert bpr[1]["pos"].tolist() == [2, 0, 3, 5, 0, 0, 2, 2, 0, 6, 2, 4, 3, 5, 5, 2, 2, 5, 0,
                                      3, 3, 0]
    assert bpr[1]["neg"].tolist() == [1, 1, 5, 3, 5, 4, 6, 4, 2, 5, 3, 2, 4, 1, 3, 3, 4, 3, 4,
                                      4, 4, 3]
    seen.clear()
    MF(dim=4, epochs=1, batch_size=8, loss="bce", n_negatives=2, random_state=3).fit(train)
    bce = _flat(seen[0], ["users", "items", "labels"])
    assert bce["users"].tolist() == [
        0, 4, 1, 3, 0, 0, 5, 1, 0, 0, 4, 3, 4, 1, 0, 0, 3, 5, 5, 5, 0, 4, 1, 0, 5, 4, 3, 1, 2,
        0, 5, 4, 4, 1, 3, 0, 1, 2, 1, 0, 2, 3, 3, 4, 2, 0, 2, 3, 2, 4, 3, 5, 0, 5, 2, 2, 0, 4,
        0, 5, 0, 4, 1, 2, 0, 4]
    assert bce["items"].tolist() == [
        3, 5, 2, 1, 3, 3, 4, 5, 3, 0, 2, 5, 6, 6, 4, 3, 1, 5, 6, 6, 5, 5, 3, 3, 1, 1, 1, 4, 3,
        3, 2, 4, 5, 1, 4, 3, 3, 2, 0, 6, 3, 2, 6, 2, 1, 1, 4, 0, 0, 3, 6, 6, 3, 0, 4, 4, 3, 4,
        3, 3, 2, 2, 6, 5, 3, 0]
    assert np.flatnonzero(bce["labels"]).tolist() == [
        9, 11, 12, 14, 20, 25, 27, 30, 33, 37, 38, 39, 41, 45, 47, 48, 49, 53, 59, 60, 63, 65]
    seen.clear()
    model = MF(dim=4, epochs=0, batch_size=8, random_state=3).fit(train)
    model.partial_fit(Interactions([1, 6], [2, 5]), epochs=1)
    pf = _flat(seen[0], ["users", "pos", "neg"])
    assert (pf["users"].tolist(), pf["pos"].tolist(), pf["neg"].tolist()) == (
        [6, 1, 6, 6, 1], [5, 1, 5, 5, 2], [3, 5, 2, 0, 5])


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_a_fit_where_every_user_has_every_item_is_refused(loss):
    train = Interactions([0, 0, 1, 1], [0, 1, 0, 1], n_users=3, n_items=2,
                         user_ids=np.array(["zoë", "ana", "bo"]))
    with pytest.raises(mgr.DataError, match=r"each of the 2 user\(s\) with training pairs has "
                       r"all 2 items as positives \(first: user 'zoë'\), so no negative item "
                       r"exists for any of them"):
        MF(dim=4, epochs=1, loss=loss).fit(train)
    MF(dim=4, epochs=0, loss=loss).fit(train)                 # nothing to sample: no error


def test_partial_fit_and_forget_leave_out_the_users_who_have_every_item(caplog, monkeypatch):
    """The audit's example: a partial_fit that completes a user's row was refused, and so
    was any forget whose fine-tuning touched such a user (they share every item)."""
    ids = np.array(["zoë", "ana", "bo"])
    model = MF(dim=4, epochs=1, random_state=0).fit(
        Interactions([0, 0, 1, 1, 2], [0, 1, 0, 1, 2], user_ids=ids,
                     item_ids=np.array(["x", "y", "z"])))
    seen = _capture_batches(monkeypatch)
    before = model.params["E0"].copy()
    with caplog.at_level(logging.WARNING, logger="minigraphrec"):
        model.partial_fit(Interactions([0], [0], user_ids=np.array(["zoë"]),
                                       item_ids=np.array(["z"])))
    assert model.R_[0].nnz == 3 and seen == []                # zoë alone touched: no step
    np.testing.assert_array_equal(model.params["E0"], before)
    (record,) = _full_user_warnings(caplog)
    assert "1 user(s) have all 3 items" in record.getMessage()
    assert "user 'zoë'" in record.getMessage() and "fine-tuning" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="minigraphrec"):
        # ana completes her row too, bo does not: only bo is fine-tuned
        model.partial_fit(Interactions([0, 1], [0, 1], user_ids=np.array(["ana", "bo"]),
                                       item_ids=np.array(["z", "x"])), epochs=2)
        # forgetting bo's z touches everyone who has z: zoë and ana are left out
        model.forget(interactions=Interactions([0], [0], user_ids=np.array(["bo"]),
                                               item_ids=np.array(["z"])), epochs=1,
                     method="fine_tune")
    first, second = (r.getMessage() for r in _full_user_warnings(caplog))   # one per update
    assert "1 user(s) have all 3 items" in first and "user 'ana'" in first
    assert "2 user(s) have all 3 items" in second and "user 'zoë'" in second
    assert len(seen) == 3
    for batches in seen:
        np.testing.assert_array_equal(np.unique(_flat(batches, ["users"])["users"]), [2])
