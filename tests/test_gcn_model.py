"""GCN with a feature input, several layers and isolated nodes: the batch-local loss and
gradients against the full-graph pass and finite differences (float64), and the same bits
for the same seed and for any numba thread count."""
import numba
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec import Interactions, PairBatch, PointBatch
from minigraphrec.models import GCN

from test_models import _FullGCN


def _graph(dense_items=False, seed=0):
    """30 users, 40 items, features on both sides; users 0-2 and items 0-3 are isolated."""
    rng = np.random.default_rng(seed)
    R = rng.random((30, 40)) < 0.12
    R[:3, :] = False
    R[:, :4] = False
    u, i = np.nonzero(R)
    items = (rng.random((40, 5)) if dense_items
             else sp.random(40, 6, density=0.4, random_state=seed, format="csr"))
    return Interactions(u, i, n_users=30, n_items=40, user_features=rng.random((30, 3)),
                        item_features=items)


def _batches(rng, B=25):
    """A BPR and a BCE batch, each holding isolated users and items."""
    users = np.concatenate([[0, 1, 2], rng.integers(0, 30, B - 3)])
    items = np.concatenate([[0, 3, 2], rng.integers(0, 40, B - 3)])
    return (PairBatch.make(users, items, np.concatenate([[1, 0, 39], rng.integers(0, 40, B - 3)])),
            PointBatch.make(users, items, rng.random(B) < 0.5))


CASES = [
    dict(input="features", n_layers=3, activation="tanh"),
    dict(input="features", n_layers=2, normalization="sum", self_loops=False,
         final_activation=True, activation="relu"),
    dict(input="both", n_layers=3, normalization="mean", activation="identity",
         final_activation=True),
    dict(input="both", n_layers=4, normalization="symmetric", self_loops=False,
         activation="leaky_relu", edge_weights="count"),
    dict(input="embedding", n_layers=3, normalization="sum", activation="sigmoid"),
]


def _set_params(models, rng):
    for name, v in models[0].params.items():
        v[...] = 0.4 * rng.standard_normal(v.shape)
        for other in models[1:]:
            other.params[name][...] = v


@pytest.mark.parametrize("dense_items", [False, True])
@pytest.mark.parametrize("kw", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_batch_local_equals_the_full_graph_with_features_and_isolated_nodes(kw, dense_items):
    train = _graph(dense_items)
    rng = np.random.default_rng(1)
    models = [c(dim=4, reg=0.3, dtype="float64", random_state=0, **kw).fit(train, epochs=0)
              for c in (GCN, _FullGCN)]
    _set_params(models, rng)
    for batch in _batches(rng):
        (loss, grads), (ref_loss, ref_grads) = (m.loss_and_grad(batch) for m in models)
        assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss)
        assert set(grads) == set(ref_grads) == set(models[0].params)
        for name, g in ref_grads.items():
            scale = np.abs(g).max()
            assert scale > 0, name
            np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-12 * scale, err_msg=name)


@pytest.mark.parametrize("kw", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_batch_local_gradients_equal_finite_differences(kw):
    """<grad, u> against the central difference of the loss along a random u, per parameter.
    (Smooth activations: a ReLU pre-activation within the step of 0 breaks the difference,
    not the gradient; the ReLUs are checked exactly by the full-graph comparison above.)"""
    train = _graph(dense_items=True, seed=2)
    rng = np.random.default_rng(3)
    kw = {**kw, "activation": {"relu": "tanh", "leaky_relu": "sigmoid"}.get(kw["activation"],
                                                                             kw["activation"])}
    model = GCN(dim=3, reg=0.3, dtype="float64", random_state=0, **kw).fit(train, epochs=0)
    _set_params([model], rng)
    for p in model.params.values():              # off the ReLU kink of zero biases
        p += 0.05
    eps = 1e-6
    for batch in _batches(rng, B=12):
        _, grads = model.loss_and_grad(batch)
        for name, p in model.params.items():
            u = rng.standard_normal(p.shape)
            base = p.copy()
            p[...] = base + eps * u
            plus = model.loss_and_grad(batch)[0]
            p[...] = base - eps * u
            minus = model.loss_and_grad(batch)[0]
            p[...] = base
            numeric, exact = (plus - minus) / (2 * eps), float(np.sum(grads[name] * u))
            assert abs(numeric - exact) <= 1e-6 * max(abs(exact), 1e-3), (name, numeric, exact)


@pytest.mark.parametrize("halves", [False, True])
@pytest.mark.parametrize("kw", [CASES[0], CASES[3]], ids=["features", "both"])
def test_a_feature_input_fit_gives_the_same_bits_for_a_seed_and_any_thread_count(
        kw, halves, monkeypatch):
    """Two fits with one seed, on 1 and on 2 numba threads (and with every dense product
    split in two, as on Gowalla-sized balls): the same parameters and scores, bit for bit."""
    from minigraphrec.ops import dense
    if halves:
        monkeypatch.setattr(dense, "HALVES_FROM", 2)
        monkeypatch.setattr(dense, "HALVES_MIN_WORK", 0)
    train = _graph(dense_items=True, seed=4)
    runs = []
    old = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS), 1):
            numba.set_num_threads(threads)
            model = GCN(dim=8, epochs=2, batch_size=32, lr=0.01, random_state=5, **kw)
            model.fit(train)
            runs.append((model.params, model.score(np.arange(30))))
    finally:
        numba.set_num_threads(old)
    for params, scores in runs[1:]:
        assert params.keys() == runs[0][0].keys()
        for name, v in params.items():
            np.testing.assert_array_equal(v, runs[0][0][name], err_msg=name)
        np.testing.assert_array_equal(scores, runs[0][1])
