"""The graph models' integer and boolean hyperparameters (NGCF, GCN, GAT): NumPy integers
train as Python ints do, and a bool hyperparameter takes True or False only."""
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import DataError
from minigraphrec.datasets import synthetic

from conftest import check_bad_hyperparameter

MODELS = {
    "NGCF": lambda **kw: mgr.NGCF(lr=0.01, random_state=0, **kw),
    "GCN": lambda **kw: mgr.GCN(lr=0.01, random_state=0, **kw),
    "GAT": lambda **kw: mgr.GAT(lr=0.01, attention_dropout=0.1, random_state=0, **kw),
}


@pytest.fixture(scope="module")
def train():
    data = synthetic(n_users=30, n_items=40, n_communities=3, mean_interactions=6,
                     min_interactions=3, random_state=0)
    data.user_features = data.item_features = None
    return data


# ------------------------------------------------------------------ integers
@pytest.mark.parametrize("integer", [np.int64, np.int32])
@pytest.mark.parametrize("name", list(MODELS))
def test_numpy_integer_hyperparameters_train_as_python_ints(train, name, integer):
    """``check_int`` takes NumPy integers; NGCF's message dropout then failed in its first
    step (``PCG64.advance(n * dim)`` refuses a NumPy integer) though ``fit(epochs=0)`` passed.
    The models compute with Python ints: the same parameters, bit for bit."""
    sizes = {"dim": 8, "n_layers": 2, "batch_size": 64, "epochs": 1}
    if name == "GAT":
        sizes["n_heads"] = 2
    got = MODELS[name](**{k: integer(v) for k, v in sizes.items()}).fit(train)
    expected = MODELS[name](**sizes).fit(train)
    assert got.params.keys() == expected.params.keys()
    for key, value in expected.params.items():
        assert np.array_equal(got.params[key], value), key
    assert np.array_equal(got.recommend(np.arange(3), k=3)[0],
                          expected.recommend(np.arange(3), k=3)[0])


# ------------------------------------------------------------------ booleans
BOOLS = [("NGCF", "normalize_layers"), ("GCN", "self_loops"), ("GCN", "final_activation"),
         ("GAT", "concat_heads"), ("GAT", "self_loops"), ("GAT", "final_activation")]


@pytest.mark.parametrize("value", ["no", 1.5, 1, None])
@pytest.mark.parametrize("name, hp", BOOLS)
def test_bool_hyperparameters_refuse_anything_but_true_or_false(train, name, hp, value):
    """``"no"`` is truthy and silently meant True; refused at ``fit``, naming the
    hyperparameter (scikit-learn's contract: the constructor only stores it)."""
    make = lambda **kw: MODELS[name](dim=4, n_layers=1, epochs=0, **kw)   # noqa: E731
    check_bad_hyperparameter(make, {hp: value}, rf"{hp} must be True or False, got {value!r}",
                             train, error=DataError)


@pytest.mark.parametrize("name, hp", BOOLS)
def test_bool_hyperparameters_take_python_and_numpy_bools(train, name, hp):
    """``np.True_``/``np.False_`` fit to the same parameters as ``True``/``False``."""
    for flag in (True, False):
        got = MODELS[name](dim=4, n_layers=2, batch_size=64, epochs=1,
                           **{hp: np.bool_(flag)}).fit(train)
        expected = MODELS[name](dim=4, n_layers=2, batch_size=64, epochs=1,
                                **{hp: flag}).fit(train)
        for key, value in expected.params.items():
            assert np.array_equal(got.params[key], value), (hp, flag, key)


# ------------------------------------------------------------------ GAT's kept arrays
def test_gat_positions_match_a_fresh_map_at_every_call():
    """``_positions`` resets only the entries its last call set: the same map as
    ``np.full(n, -1)`` with ``pos[rows] = arange``, whatever rows came before."""
    from minigraphrec.models.gat import _positions
    model, rng = mgr.GAT(), np.random.default_rng(0)
    for size in (5, 12, 0, 30, 7):
        rows = np.sort(rng.choice(30, size=size, replace=False))
        expected = np.full(30, -1, dtype=np.int64)
        expected[rows] = np.arange(size)
        assert np.array_equal(_positions(model, "pos", 30, rows), expected)


def test_gat_casts_the_log_weights_once_per_graph_and_dtype(train, monkeypatch):
    """The edges' ``log w`` in the model's dtype is kept between steps (it is the same for
    every step and layer), and made again for a new graph."""
    import minigraphrec.models.gat as gat
    made, kept = [], gat.kept
    monkeypatch.setattr(gat, "kept", lambda model, name, source, make, key=None: kept(
        model, name, source, lambda: made.append(name) or make(), key))
    model = MODELS["GAT"](dim=4, n_layers=2, batch_size=32, epochs=2, edge_weights="count")
    model.fit(train)
    assert made.count("_log_w") == 1
    model.fit(train)                                       # a new graph: cast again
    assert made.count("_log_w") == 2
    assert model._log_w.value.dtype == np.float32
    assert np.array_equal(model._log_w.value, model._graph.log_weights.astype(np.float32))
