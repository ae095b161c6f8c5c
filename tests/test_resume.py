"""Resuming a validated run: the stop, the best epoch and its score (audit of the training
loop, findings F1-F3 and F5). The exact-continuation tests without validation, and those of
checkpoints before the stop, are in test_train.py."""
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec.data import Interactions
from minigraphrec.models import MF, LightGCN
from minigraphrec.train import train_model


def _data(seed=0, n_groups=3, users_per_group=12, items_per_group=15, p_in=0.45):
    """Small planted groups: a training and a validation Interactions (70/30)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = n_groups * users_per_group, n_groups * items_per_group
    g_user = np.repeat(np.arange(n_groups), users_per_group)
    g_item = np.repeat(np.arange(n_groups), items_per_group)
    R = (g_user[:, None] == g_item[None, :]) & (rng.random((n_users, n_items)) < p_in)
    R |= rng.random((n_users, n_items)) < 0.05                     # some noise: scores wander
    u, i = np.nonzero(R)
    val = rng.random(u.shape[0]) < 0.3
    return (Interactions(u[~val], i[~val], n_users=n_users, n_items=n_items),
            Interactions(u[val], i[val], n_users=n_users, n_items=n_items))


def _assert_same_run(a, b):
    """Every part of the fitted state two runs can differ in, bit for bit."""
    assert a.params.keys() == b.params.keys()
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert a.optimizer_state_.keys() == b.optimizer_state_.keys()
    for k in a.optimizer_state_:
        np.testing.assert_array_equal(a.optimizer_state_[k], b.optimizer_state_[k])
    strip = [{k: v for k, v in r.items() if k not in ("time", "eval_time")} for r in a.history_]
    assert strip == [{k: v for k, v in r.items() if k not in ("time", "eval_time")}
                     for r in b.history_]
    assert (a.best_epoch_, a.step_, a.rng_state_) == (b.best_epoch_, b.step_, b.rng_state_)
    assert a.best_params_ is None and b.best_params_ is None
    assert a.since_best_ is None and b.since_best_ is None
    np.testing.assert_array_equal(a.user_embeddings_, b.user_embeddings_)
    np.testing.assert_array_equal(a.item_embeddings_, b.item_embeddings_)


def _scripted(monkeypatch, scores, seen=None):
    """Replace evaluate by one that returns ``scores`` in turn (under every metric asked),
    and records the user embeddings each call scored in ``seen``."""
    it = iter(scores)

    def evaluate(model, test, k, metrics):
        if seen is not None:
            seen.append(model.user_embeddings_.copy())
        value = next(it)
        out = {f"{m}@{k}" if m != "auc" else "auc": value for m in metrics}
        out["n_users"] = 1
        return out

    monkeypatch.setattr("minigraphrec.metrics.evaluate", evaluate)


# --------------------------------------------------------------- F1: the stop
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("patience", [1, 2])
def test_a_checkpoint_of_any_epoch_resumes_to_the_same_stop(tmp_path, seed, patience):
    """Checkpoints saved at every epoch, the stopping epoch included, resume to the
    uninterrupted run's end, bit for bit, also when asked for more epochs than remained
    (the checkpoint of the stopping epoch used to train on past the stop: F1)."""
    train, val = _data(seed)
    make = dict(dim=6, batch_size=64, lr=0.05, random_state=seed, metric="recall@10",
                patience=patience)
    epochs = 12
    whole = MF(**make).fit(train, validation=val, epochs=epochs)
    stop = len(whole.history_)
    paths = {}
    model = MF(**make)

    def save_each(record):
        paths[record["epoch"]] = tmp_path / f"e{record['epoch']}.npz"
        mgr.save(model, paths[record["epoch"]])

    model.fit(train, validation=val, epochs=epochs, callback=save_each)
    _assert_same_run(model, whole)
    assert sorted(paths) == list(range(1, stop + 1))
    for epoch, path in paths.items():
        resumed = mgr.load(path).fit(train, validation=val, epochs=epochs - epoch, resume=True)
        _assert_same_run(resumed, whole)
    if stop < epochs:                                   # stopped early (7 of the 8 cases)
        last = mgr.load(paths[stop])
        assert last.since_best_ == patience
        more = last.fit(train, validation=val, epochs=epochs + 5, resume=True)
        _assert_same_run(more, whole)


def test_the_stop_checkpoint_stops_at_once_whatever_epochs(monkeypatch, tmp_path):
    """Scripted scores, so the run surely stops early; the stop checkpoint trains no epoch
    and restores the best parameters; the stop test uses the current patience."""
    train, val = _data()
    scores = [0.2, 0.4, 0.3, 0.35] + [0.9] * 10                    # best 2, stops after 4
    _scripted(monkeypatch, scores)
    kept = {}
    model = LightGCN(dim=4, n_layers=1, batch_size=64, lr=0.05, patience=2, random_state=0)

    def keep(record):
        kept[record["epoch"]] = {k: v.copy() for k, v in model.params.items()}
        mgr.save(model, tmp_path / "last.npz")

    model.fit(train, validation=val, epochs=10, callback=keep)
    assert len(model.history_) == 4 and model.best_epoch_ == 2
    _scripted(monkeypatch, [0.9] * 10)                              # would improve
    resumed = mgr.load(tmp_path / "last.npz").fit(train, validation=val, epochs=50, resume=True)
    assert len(resumed.history_) == 4 and resumed.best_epoch_ == 2
    np.testing.assert_array_equal(resumed.params["E0"], kept[2]["E0"])
    _assert_same_run(resumed, model)
    # a larger patience on resume: the run goes on from the checkpoint (epoch 4's params)
    _scripted(monkeypatch, [0.1, 0.9])
    longer = mgr.load(tmp_path / "last.npz").set_params(patience=4)
    longer.fit(train, validation=val, epochs=2, resume=True)
    assert len(longer.history_) == 6 and longer.best_epoch_ == 6
    # the finished fit restarts its count: resuming it trains (from epoch 2's params)
    _scripted(monkeypatch, [0.1, 0.1, 0.1])
    resumed.fit(train, validation=val, epochs=5, resume=True)
    assert len(resumed.history_) == 6 and resumed.best_epoch_ == 2     # patience 2, no better
    np.testing.assert_array_equal(resumed.params["E0"], kept[2]["E0"])


# ------------------------------------------------------ F2: a stale best_epoch_
def test_a_resume_without_validation_clears_best_epoch(monkeypatch):
    """The params trained on without validation are no validated epoch's: best_epoch_ goes
    to None, and a later validated resume does not restore them as 'epoch 2' (it did: F2)."""
    train, val = _data()
    _scripted(monkeypatch, [0.1, 0.5, 0.2])
    model = MF(dim=4, batch_size=64, lr=0.05, random_state=0).fit(train, validation=val,
                                                                  epochs=3)
    assert model.best_epoch_ == 2
    model.fit(train, epochs=0, resume=True)                        # nothing moves: kept
    assert model.best_epoch_ == 2
    model.fit(train, epochs=2, resume=True)                        # no validation
    assert model.best_epoch_ is None and len(model.history_) == 5
    _scripted(monkeypatch, [0.3, 0.25])                            # below epoch 2's 0.5
    snapshots = []
    model.fit(train, validation=val, epochs=2, resume=True,
              callback=lambda r: snapshots.append(model.params["E0"].copy()))
    assert model.best_epoch_ == 6                                  # the first scored epoch
    np.testing.assert_array_equal(model.params["E0"], snapshots[0])


def test_a_checkpoint_resumed_without_validation_names_no_best_epoch(monkeypatch, tmp_path):
    """A checkpoint whose params are not the best epoch's (best_params_ set): resumed without
    validation, even for 0 epochs, it ends on its own params, which no epoch names."""
    train, val = _data()
    _scripted(monkeypatch, [0.5, 0.1, 0.1])
    model = MF(dim=4, batch_size=64, lr=0.05, random_state=0)

    def save_at_2(record):
        if record["epoch"] == 2:
            mgr.save(model, tmp_path / "e2.npz")

    model.fit(train, validation=val, epochs=3, callback=save_at_2)
    checkpoint = mgr.load(tmp_path / "e2.npz")
    assert checkpoint.best_epoch_ == 1 and checkpoint.best_params_ is not None
    E2 = checkpoint.params["E0"].copy()
    checkpoint.fit(train, epochs=0, resume=True)
    assert checkpoint.best_epoch_ is None and checkpoint.best_params_ is None
    np.testing.assert_array_equal(checkpoint.params["E0"], E2)


def test_partial_fit_clears_best_epoch(monkeypatch):
    train, val = _data()
    _scripted(monkeypatch, [0.5, 0.1])
    model = MF(dim=4, batch_size=64, lr=0.05, random_state=0).fit(train, validation=val,
                                                                  epochs=2)
    assert model.best_epoch_ == 1
    new = Interactions(np.array([0, 1]), np.array([3, 4]), n_users=train.n_users,
                       n_items=train.n_items)
    model.partial_fit(new, epochs=1)
    assert model.best_epoch_ is None


# ------------------------------------------------- F3: a metric changed on resume
@pytest.mark.parametrize("from_checkpoint", [False, True])
def test_a_changed_metric_rescores_the_best_epoch(monkeypatch, tmp_path, from_checkpoint):
    """recall@10 -> recall@20: the best epoch's record has no recall@20, so its parameters
    are scored on it before training; a worse epoch does not replace them (it did: F3)."""
    train, val = _data()
    seen = []
    _scripted(monkeypatch, [0.1, 0.5, 0.2], seen)                 # recall@10: best 2
    model = MF(dim=4, batch_size=64, lr=0.05, metric="recall@10", random_state=0)

    def save_at_3(record):
        if record["epoch"] == 3:
            mgr.save(model, tmp_path / "e3.npz")

    model.fit(train, validation=val, epochs=3, callback=save_at_3)
    best_embeddings = seen[1]
    if from_checkpoint:                                           # best in best_params_
        model = mgr.load(tmp_path / "e3.npz")
        assert model.best_params_ is not None
    best = model.best_params_["E0"].copy() if from_checkpoint else model.params["E0"].copy()
    seen.clear()
    _scripted(monkeypatch, [0.4, 0.3], seen)                      # best rescored 0.4; epoch 4 0.3
    model.set_params(metric="recall@20").fit(train, validation=val, epochs=1, resume=True)
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[0], best_embeddings)       # the best epoch was scored
    assert model.best_epoch_ == 2 and len(model.history_) == 4
    np.testing.assert_array_equal(model.params["E0"], best)
    assert "recall@20" not in model.history_[1]                   # the records are the runs'


def test_a_changed_metric_with_a_recorded_score_reads_the_record(monkeypatch):
    """recall@10 -> ndcg@10: every epoch records ndcg@10 too; no extra evaluation."""
    train, val = _data()
    _scripted(monkeypatch, [0.1, 0.5, 0.2])
    model = MF(dim=4, batch_size=64, lr=0.05, metric="recall@10", random_state=0)
    model.fit(train, validation=val, epochs=3)
    seen = []
    _scripted(monkeypatch, [0.45], seen)
    model.set_params(metric="ndcg@10").fit(train, validation=val, epochs=1, resume=True)
    assert len(seen) == 1 and model.best_epoch_ == 2


def test_a_changed_metric_on_real_data_keeps_the_better_best():
    """The audit's case, unscripted: the resumed epoch (a tiny lr: the same ranking) is no
    better on recall@20 than the best epoch's parameters, which stay; whichever is better,
    the kept parameters score the better of the two (the resumed epoch used to win against
    a score of -inf)."""
    train, val = _data()
    model = MF(dim=6, batch_size=64, lr=0.05, metric="recall@10", random_state=3)
    model.fit(train, validation=val, epochs=8)
    best, epoch = model.params["E0"].copy(), model.best_epoch_
    before = mgr.evaluate(model, val, k=20)["recall@20"]
    model.set_params(metric="recall@20", lr=1e-9).fit(train, validation=val, epochs=1,
                                                     resume=True)
    after = model.history_[-1]["recall@20"]
    assert after <= before
    assert model.best_epoch_ == epoch
    np.testing.assert_array_equal(model.params["E0"], best)
    assert mgr.evaluate(model, val, k=20)["recall@20"] == max(before, after)


# -------------------------------------------- F5: train_model is no all-or-nothing fit
def test_train_model_says_to_go_through_fit():
    doc = train_model.__doc__
    assert "through the model's ``fit``" in doc and "Discard such a model" in doc


def test_a_failed_resumed_fit_leaves_the_model_resumable():
    train, _ = _data()
    model = MF(dim=4, random_state=0, batch_size=64).fit(train, epochs=1)
    before = model.params["E0"].copy()
    model.set_params(lr=1e30, reg=1e30)
    with pytest.raises(FloatingPointError):
        model.fit(train, epochs=1, resume=True)                   # all or nothing
    np.testing.assert_array_equal(model.params["E0"], before)
    model.set_params(lr=1e-3, reg=1e-4).fit(train, epochs=1, resume=True)
    assert len(model.history_) == 2


@pytest.mark.parametrize("cls, names", [(mgr.NGCF, ("message_dropout", "node_dropout")),
                                        (mgr.GAT, ("attention_dropout",))])
def test_dropout_may_change_after_fit_as_a_training_setting(cls, names):
    """set_params(message_dropout=0) on a fitted NGCF was refused by loss_and_grad, so a
    comparison with another framework needed a rebuilt model; dropout says how training
    proceeds (scoring never drops), like lr. What the model is (dim) is still refused."""
    data = mgr.datasets.synthetic(n_users=40, n_items=50, random_state=0)
    model = cls(dim=4, epochs=1, random_state=0, **{n: 0.3 for n in names}).fit(data)
    scores = model.score([0, 1])
    batch = mgr.train.bpr_batches(model.R_, 16, np.random.default_rng(0))[0]
    dropped, _ = model.loss_and_grad(batch)
    model.set_params(**{n: 0.0 for n in names})
    plain, _ = model.loss_and_grad(batch)
    assert plain != dropped                                     # the masks are gone
    np.testing.assert_array_equal(model.score([0, 1]), scores)   # scoring never dropped
    assert len(model.fit(data, epochs=1, resume=True).history_) == 2
    model.set_params(dim=8)
    with pytest.raises(ValueError, match=r"dim=4 -> 8"):
        model.loss_and_grad(batch)


def test_a_class_dropout_rates_join_resume_may_change_on_their_own():
    """A model that names its dropout rates in _dropout_params may change them after fit,
    as NGCF and GAT may, without listing them again in _resume_may_change (was: each class
    added them by hand, and one that forgot refused a changed rate on resume)."""
    from minigraphrec.models import LightGCN, NGCF, GAT

    class DropLightGCN(LightGCN):
        _dropout_params = ("my_dropout",)

    assert "my_dropout" in DropLightGCN._resume_may_change
    assert DropLightGCN._resume_may_change[:-1] == LightGCN._resume_may_change
    assert "my_dropout" not in LightGCN._resume_may_change
    for cls in (NGCF, GAT):
        assert set(cls._dropout_params) <= set(cls._resume_may_change)
        assert len(set(cls._resume_may_change)) == len(cls._resume_may_change)   # once each


def test_resume_must_be_a_bool():
    """A string such as "no" is truthy, and would resume a fitted model instead of fitting anew."""
    from minigraphrec.datasets import synthetic
    from minigraphrec.errors import DataError
    train = synthetic(n_users=30, n_items=20, mean_interactions=5, random_state=0)
    m = mgr.MF(dim=4, epochs=1, random_state=0).fit(train)
    for bad in ("no", 0, 1.0, None):
        with pytest.raises(DataError, match="resume must be True or False"):
            m.fit(train, resume=bad)
    assert len(m.history_) == 1
    assert len(m.fit(train, resume=np.True_).history_) == 2
