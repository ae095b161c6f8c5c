"""GAT recommender: float64 gradient checks of the full loss (BPR and BCE, heads, attention
dropout, edge weights, features), a closed form at zero attention, determinism, backends,
training on planted communities, and bad hyperparameters."""
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec.batch import PairBatch, PointBatch
from minigraphrec.data import Interactions
from minigraphrec.datasets import synthetic
from minigraphrec.errors import DataError
from minigraphrec.gradcheck import check_model_grads
from minigraphrec.metrics import evaluate
from minigraphrec.models.gat import GAT
from minigraphrec.models.popularity import Popularity
from minigraphrec.split import random_split


@pytest.fixture(scope="module")
def rated():
    """Tiny planted-community data with ratings (so count weights vary) and one-hot features."""
    return synthetic(n_users=30, n_items=40, n_communities=3, mean_interactions=6,
                     min_interactions=3, ratings=True, random_state=0)


def randomize(model, seed=1):
    """O(1) parameters, so attention is far from uniform and every gradient is sizeable."""
    rng = np.random.default_rng(seed)
    for v in model.params.values():
        v[...] = rng.standard_normal(v.shape)


def batches(rng, n_users, n_items, B=12):
    pair = PairBatch.make(rng.integers(0, n_users, B), rng.integers(0, n_items, B),
                          rng.integers(0, n_items, B))
    point = PointBatch.make(rng.integers(0, n_users, B), rng.integers(0, n_items, B),
                            (rng.random(B) < 0.5).astype(np.float64))
    return pair, point


CONFIGS = [
    dict(n_heads=2, concat_heads=True, attention_dropout=0.3, edge_weights="count",
         input="both", activation="tanh"),
    dict(n_heads=3, concat_heads=False, attention_dropout=0.3, edge_weights="log1p",
         layer_combination="last", final_activation=True, activation="tanh", backend="numpy"),
    dict(n_heads=1, input="features", self_loops=False, reg=0.5),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["concat-count-both", "mean-log1p-last-numpy",
                                                 "features-no-loops"])
def test_gradcheck_full_loss(rated, config):
    model = GAT(dim=6, n_layers=2, dtype="float64", random_state=0, **config).fit(rated, epochs=0)
    randomize(model)
    model.step_ = 5                                      # a fixed step: a fixed dropout mask
    for batch in batches(np.random.default_rng(2), rated.n_users, rated.n_items):
        results = check_model_grads(model, batch, rng=np.random.default_rng(3))
        assert set(results) == set(model.params)
        # the checks are not vacuous: every directional derivative is far above round-off
        assert all(abs(exact) > 1e-4 for _, exact in results.values()), results


def test_params_follow_the_documented_shapes(rated):
    model = GAT(dim=6, n_layers=2, n_heads=3, edge_weights="count", input="both",
                random_state=0).fit(rated, epochs=0)
    n, f_u, f_i = rated.n_users + rated.n_items, rated.user_features.shape[1], \
        rated.item_features.shape[1]
    want = {"E0": (n, 6), "W_user_in": (f_u, 6), "W_item_in": (f_i, 6)}
    for l in range(2):
        want.update({f"W{l}": (6, 6), f"a_src{l}": (3, 2), f"a_dst{l}": (3, 2), f"beta{l}": (3,)})
    assert {k: v.shape for k, v in model.params.items()} == want
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert np.all(model.params["beta0"] == 1) and model.history_ == []    # β starts at 1
    mean = GAT(dim=6, n_heads=3, concat_heads=False, random_state=0).fit(rated, epochs=0)
    assert mean.params["W0"].shape == (6, 18) and mean.params["a_src0"].shape == (3, 6)


def test_zero_attention_is_the_mean_aggregator(rated):
    # a = 0 makes every score equal: α = 1/deg over N(v) ∪ {v}, so with one layer,
    # identity σ and the mean readout, E = (H0 + D^{-1}(A + I) H0 W) / 2
    model = GAT(dim=4, n_layers=1, dtype="float64", random_state=0).fit(rated, epochs=0)
    model.params["a_src0"][...] = 0
    model.params["a_dst0"][...] = 0
    R = rated.to_csr()
    A = sp.bmat([[None, R], [R.T, None]]).toarray() + np.eye(R.shape[0] + R.shape[1])
    H0, W = model.params["E0"], model.params["W0"]
    E = (H0 + (A / A.sum(axis=1, keepdims=True)) @ H0 @ W) / 2
    model._refresh_embeddings()
    np.testing.assert_allclose(np.vstack([model.user_embeddings_, model.item_embeddings_]), E,
                               rtol=1e-12, atol=1e-14)


def test_dropout_mask_is_fixed_per_step(rated):
    model = GAT(dim=4, attention_dropout=0.5, dtype="float64", random_state=0).fit(rated, epochs=0)
    randomize(model)
    batch, _ = batches(np.random.default_rng(4), rated.n_users, rated.n_items)
    model.step_ = 1
    loss_a, grads_a = model.loss_and_grad(batch)
    loss_b, grads_b = model.loss_and_grad(batch)
    assert loss_a == loss_b and all(np.array_equal(grads_a[k], grads_b[k]) for k in grads_a)
    model.step_ = 2
    assert model.loss_and_grad(batch)[0] != loss_a
    # scoring uses no dropout: the embeddings do not depend on the step
    model._refresh_embeddings()
    U = model.user_embeddings_.copy()
    model.step_ = 1
    model._refresh_embeddings()
    np.testing.assert_array_equal(model.user_embeddings_, U)


def test_backends_agree(rated):
    kw = dict(dim=6, n_heads=2, attention_dropout=0.2, edge_weights="count", dtype="float64",
              random_state=0)
    models = [GAT(backend=b, **kw).fit(rated, epochs=0) for b in ("numpy", "numba")]
    batch, _ = batches(np.random.default_rng(5), rated.n_users, rated.n_items)
    (loss_np, g_np), (loss_nb, g_nb) = (m.loss_and_grad(batch) for m in models)
    assert np.isclose(loss_np, loss_nb, rtol=1e-13)
    for k in g_np:
        np.testing.assert_allclose(g_nb[k], g_np[k], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("config", [
    dict(),
    dict(n_heads=2, attention_dropout=0.2, edge_weights="count", input="both",
         activation="tanh", loss="bce"),
], ids=["default", "heads-dropout-count-both-bce"])
def test_fit_on_both_backends_gives_the_same_model(rated, config):
    """Three epochs of fit in float64 (18-36 Adam steps): the batch-local numba kernels and the
    full-graph NumPy reference see the same batches and dropout masks, so the losses, every
    parameter and the final embeddings agree to rounding, 1e-13 of their scale (measured:
    below 1e-15). Bit-for-bit equality across thread counts is tests/test_models.py's."""
    kw = dict(dim=8, epochs=3, batch_size=32, lr=0.01, dtype="float64", random_state=0)
    ref, got = (GAT(backend=b, **kw, **config).fit(rated) for b in ("numpy", "numba"))
    assert got.step_ == ref.step_ > 0
    np.testing.assert_allclose([h["loss"] for h in got.history_],
                               [h["loss"] for h in ref.history_], rtol=1e-13, atol=0)
    for name, value in ref.params.items():
        np.testing.assert_allclose(got.params[name], value, rtol=0,
                                   atol=1e-13 * np.abs(value).max(), err_msg=name)
    for E, E_ref in ((got.user_embeddings_, ref.user_embeddings_),
                     (got.item_embeddings_, ref.item_embeddings_)):
        np.testing.assert_allclose(E, E_ref, rtol=0, atol=1e-13 * np.abs(E_ref).max())


def test_sparse_and_dense_features_give_the_same_model(rated):
    dense = GAT(dim=4, input="features", dtype="float64", random_state=0).fit(rated, epochs=0)
    as_sparse = Interactions(rated.users, rated.items, rated.n_users, rated.n_items,
                             user_features=sp.csr_matrix(rated.user_features),
                             item_features=sp.csr_matrix(rated.item_features))
    sparse = GAT(dim=4, input="features", dtype="float64", random_state=0).fit(as_sparse, epochs=0)
    batch, _ = batches(np.random.default_rng(6), rated.n_users, rated.n_items)
    (l_d, g_d), (l_s, g_s) = dense.loss_and_grad(batch), sparse.loss_and_grad(batch)
    assert np.isclose(l_d, l_s, rtol=1e-13)
    for k in g_d:
        np.testing.assert_allclose(g_s[k], g_d[k], rtol=1e-12, atol=1e-15)


def test_trains_and_beats_popularity_on_planted_communities():
    data, truth = synthetic(n_users=200, n_items=250, n_communities=4, mean_interactions=12,
                            random_state=1, return_truth=True)
    train, test = random_split(data, test_size=0.2, random_state=0)
    model = GAT(dim=16, n_layers=2, n_heads=2, attention_dropout=0.1, lr=0.03, batch_size=512,
                epochs=10, random_state=0).fit(train)
    losses = [r["loss"] for r in model.history_]
    assert len(losses) == 10 and losses[-1] < 0.5 * losses[0]
    recall = evaluate(model, test, k=20)["recall@20"]
    popularity = evaluate(Popularity().fit(train), test, k=20)["recall@20"]     # 0.357
    oracle = evaluate(Oracle(truth).fit(train), test, k=20)["recall@20"]        # 0.596
    # measured 0.452: demand at least 30% of the way from popularity to the oracle
    assert recall > popularity + 0.3 * (oracle - popularity), (recall, popularity, oracle)


class Oracle(Popularity):
    """Ranks by the generating probabilities of the planted-community data."""

    def __init__(self, truth=None):
        self.truth = truth

    def _score_batch(self, users):
        return self.truth.probabilities(users)


def test_same_seed_same_parameters(rated):
    kw = dict(dim=8, n_heads=2, attention_dropout=0.2, edge_weights="count", lr=0.01,
              batch_size=64, epochs=3, random_state=7)
    a, b = GAT(**kw).fit(rated), GAT(**kw).fit(rated)
    assert a.step_ == b.step_ > 0
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    c = GAT(**dict(kw, random_state=8)).fit(rated)
    assert not np.array_equal(a.params["E0"], c.params["E0"])


def test_trains_with_bce(rated):
    model = GAT(dim=8, loss="bce", lr=0.01, batch_size=64, epochs=5, random_state=0).fit(rated)
    losses = [r["loss"] for r in model.history_]
    assert losses[-1] < losses[0]
    items, scores = model.recommend(np.arange(3), k=5)
    assert items.shape == (3, 5) and np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize("bad, match", [
    (dict(dim=6, n_heads=4), "divisible by n_heads"),
    (dict(attention_dropout=1.0), r"attention_dropout must be in \[0, 1\)"),
    (dict(activation="elu"), "activation must be one of"),
    (dict(layer_combination="concat"), "layer_combination must be one of"),
    (dict(edge_weights="time"), "edge_weights must be one of"),
    (dict(backend="cuda"), "backend must be one of"),
    (dict(n_heads=0), "n_heads must be an integer >= 1"),
])
def test_bad_hyperparameters(rated, bad, match):
    with pytest.raises(ValueError, match=match):
        GAT(**bad).fit(rated, epochs=0)


@pytest.mark.parametrize("path, match", [
    ((0, -1), r"path\[1\] = -1 is out of range 0..69"),        # would read node 69
    ((0, 70), r"path\[1\] = 70 is out of range 0..69"),
    ((0, 2.0), "path must hold integer ids"),
    ((), "path must hold at least one node id"),
])
def test_attention_along_refuses_bad_paths(rated, path, match):
    model = GAT(dim=4, epochs=0, random_state=0).fit(rated)
    with pytest.raises(DataError, match=match):
        model.attention_along(path)
    assert model.attention_along((0,)).shape == (0,)                 # one node: no hop


def test_features_required_for_feature_input():
    train = Interactions([0, 1, 1], [0, 0, 1])
    with pytest.raises(DataError, match="needs both user and item features"):
        GAT(input="features").fit(train, epochs=0)


@pytest.mark.parametrize("edge_weights", [None, "count"])
def test_save_and_load_round_trip(rated, tmp_path, edge_weights):
    from minigraphrec.io import load

    model = GAT(dim=4, n_heads=2, edge_weights=edge_weights, input="both", epochs=1,
                batch_size=64, random_state=0).fit(rated)
    model.save(tmp_path / "gat.npz")
    loaded = load(tmp_path / "gat.npz")
    assert type(loaded) is GAT and loaded.get_params() == model.get_params()
    users = np.arange(rated.n_users)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    # the rebuilt graph gives the same embeddings as the fitted one
    loaded._refresh_embeddings()
    np.testing.assert_array_equal(loaded.item_embeddings_, model.item_embeddings_)


@pytest.mark.parametrize("config", [
    dict(),
    dict(n_heads=2, attention_dropout=0.3, edge_weights="count", input="both", activation="tanh"),
    dict(n_heads=3, concat_heads=False, edge_weights="log1p", layer_combination="last",
         final_activation=True, activation="relu", attention_dropout=0.2),
    dict(input="features", self_loops=False, n_layers=3),
], ids=["default", "concat-dropout-count-both", "mean-heads-last-log1p", "features-no-loops"])
def test_batch_local_attention_equals_the_full_graph(rated, config):
    """backend="numba" attends only the batch's ball; "numpy" the whole graph: same numbers."""
    full_config = {**config, "backend": "numpy"}
    models = [GAT(dim=6, dtype="float64", random_state=0, **c).fit(rated, epochs=0)
              for c in (config, full_config)]
    randomize(models[0])
    randomize(models[1])
    for m in models:
        m.step_ = 4
    for batch in batches(np.random.default_rng(6), rated.n_users, rated.n_items, B=9):
        (loss, grads), (ref_loss, ref_grads) = (m.loss_and_grad(batch) for m in models)
        assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss)
        top = max(np.abs(g).max() for g in ref_grads.values())
        for name, g in ref_grads.items():
            scale = np.abs(g).max()
            if scale < 1e-10 * top:
                # zero up to rounding in the reference (e.g. the last layer's a_dst when every
                # logit of a row is on one side of the LeakyReLU: the softmax ignores a shift)
                assert np.abs(grads[name]).max() < 1e-12 * top, name
                continue
            np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-12 * scale, err_msg=name)


def test_batch_local_attention_with_products_in_halves_equals_the_full_graph(rated, monkeypatch):
    """The linear maps split in two row halves (as on Gowalla-sized balls): the same numbers."""
    from minigraphrec.ops import dense
    monkeypatch.setattr(dense, "HALVES_FROM", 2)
    monkeypatch.setattr(dense, "HALVES_MIN_WORK", 0)
    test_batch_local_attention_equals_the_full_graph(rated, dict(n_heads=2,
                                                                 attention_dropout=0.3))



def test_the_layer_cache_names_the_attention_before_dropout():
    """``GAT._attention_matrices`` reads ``cache.alpha`` of ``gat_layer_forward``: the
    attention before dropout, which sums to 1 over each receiver's edges, per head (the
    dropped attention, ``cache.alpha_drop``, does not); the cache still unpacks as a tuple."""
    from minigraphrec.ops import attention_graph, gat_layer_forward
    rng = np.random.default_rng(0)
    g = attention_graph(sp.csr_matrix((rng.random((6, 6)) < 0.5) + np.eye(6)))  # no empty row
    H, W = rng.standard_normal((6, 4)), rng.standard_normal((4, 6))
    a_src, a_dst = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    _, cache = gat_layer_forward(g, H, W, a_src, a_dst, dropout=0.5,
                                 rng=np.random.default_rng(1))
    alpha = cache.alpha                                                     # (nnz, 2)
    assert alpha.shape == (g.indptr[-1], 2) and alpha is tuple(cache)[9]
    np.testing.assert_allclose(np.add.reduceat(alpha, g.indptr[:-1], axis=0), 1.0, rtol=1e-12)
    assert not np.allclose(np.add.reduceat(cache.alpha_drop, g.indptr[:-1], axis=0), 1.0)
