"""Node and edge features through the GNNs (issue 5).

Edge weights (``edge_weights`` / ``half_life`` on GCN, LightGCN and GAT): the
weights themselves by hand, each model's propagation against a dense formula
with the weights normalised after weighting, LightGCN's batch-restricted path
against the full graph, save/load, errors. Feature matrices (dense or sparse)
as the layer-0 input of GCN and GAT, and cold start: items with features but
no training interaction get meaningful scores. The CLI path. Gradients of the
weighted and feature variants are in tests/test_gradients.py (MODEL_CASES).
"""
import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec.batch import PairBatch, PointBatch
from minigraphrec.cli import main
from minigraphrec.data import Interactions
from minigraphrec.datasets import synthetic
from minigraphrec.errors import DataError
from minigraphrec.graph import edge_weight_matrix
from minigraphrec.io import load
from minigraphrec.models import GAT, GCN, LightGCN
from minigraphrec.ops import lightgcn_rows as lg
from minigraphrec.ops.propagate import lightgcn_backward, lightgcn_forward

DAY = 86400.0
MODELS = [LightGCN, GCN, GAT]


# ===================================================================== data
def _events(seed=0, n_users=9, n_items=11, features=False):
    """A log with repeated pairs, ratings and timestamps; user 0 and item 0 without events."""
    rng = np.random.default_rng(seed)
    R = rng.random((n_users, n_items)) < 0.35
    R[0, :], R[:, 0] = False, False
    R[1, 1] = True
    u, i = np.nonzero(R)
    repeats = rng.integers(1, 4, u.size)
    u, i = np.repeat(u, repeats), np.repeat(i, repeats)
    kw = {}
    if features:
        kw = dict(user_features=rng.random((n_users, 3)),
                  item_features=sp.random(n_items, 4, density=0.5, random_state=seed,
                                          format="csr"))
    return Interactions(u, i, n_users=n_users, n_items=n_items,
                        weights=rng.integers(1, 6, u.size).astype(np.float64),
                        timestamps=rng.uniform(0, 60 * DAY, u.size), **kw)


def _dense_weights(train, kind, half_life=None):
    """R_w written out pair by pair from the events (the docstring's formulas)."""
    R = np.zeros((train.n_users, train.n_items))
    t_max = train.timestamps.max()
    for u, i, w, t in zip(train.users, train.items, train.weights, train.timestamps):
        R[u, i] += w * 0.5 ** ((t_max - t) / half_life) if kind == "time_decay" else w
    return np.log1p(R) if kind == "log1p" else R


def _bipartite(R):
    n_u, n_i = R.shape
    A = np.zeros((n_u + n_i, n_u + n_i))
    A[:n_u, n_u:], A[n_u:, :n_u] = R, R.T
    return A


def _normalise(A, kind):
    """symmetric D^-1/2 A D^-1/2, mean D^-1 A, sum A; weighted degrees, isolated rows zero."""
    d = A.sum(axis=1)
    with np.errstate(divide="ignore"):
        if kind == "symmetric":
            inv = np.where(d > 0, d ** -0.5, 0.0)
            return inv[:, None] * A * inv[None, :]
        if kind == "mean":
            return np.where(d[:, None] > 0, A / np.where(d > 0, d, 1)[:, None], 0.0)
    return A


def _bpr_loss(E, E0, batch, n_users, reg):
    """The BPR loss of minigraphrec.losses, written out: E final and E0 layer-0 tables (users first)."""
    u, i, j = batch.users, n_users + batch.pos, n_users + batch.neg
    x = np.sum(E[u] * E[j], axis=1) - np.sum(E[u] * E[i], axis=1)
    l2 = sum(np.sum(E0[idx] ** 2) for idx in (u, i, j))
    return np.mean(np.log1p(np.exp(x))) + reg * 0.5 * l2 / u.shape[0]


# =========================================================== the weights
def test_edge_weights_hand_computed():
    # user 0 saw item 0 twice (rating 2 at t=0, rating 1 at t=10); half-life 10
    train = Interactions([0, 0, 1, 2], [0, 0, 1, 0], n_users=3, n_items=2,
                         weights=[2.0, 1.0, 3.0, 1.0], timestamps=[0.0, 10.0, 20.0, 20.0])
    assert edge_weight_matrix(train, None) is None
    count = edge_weight_matrix(train, "count")
    np.testing.assert_array_equal(count.toarray(), [[3, 0], [0, 3], [1, 0]])
    np.testing.assert_allclose(edge_weight_matrix(train, "log1p").toarray(),
                               [[np.log(4), 0], [0, np.log(4)], [np.log(2), 0]], rtol=1e-15)
    # 2 · 0.5^((20-0)/10) + 1 · 0.5^((20-10)/10) = 0.5 + 0.5; the others are at t_max
    decay = edge_weight_matrix(train, "time_decay", half_life=10)
    np.testing.assert_allclose(decay.toarray(), [[1.0, 0], [0, 3.0], [1.0, 0]], rtol=1e-15)
    binary = train.to_csr()
    for R_w in (count, decay):                       # the binary graph's pattern, weighted
        np.testing.assert_array_equal(R_w.indptr, binary.indptr)
        np.testing.assert_array_equal(R_w.indices, binary.indices)
    # half_life is ignored unless the weights decay
    np.testing.assert_array_equal(edge_weight_matrix(train, "count", half_life=5).toarray(),
                                  count.toarray())


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("kw, error, match", [
    (dict(edge_weights="time"), ValueError, "edge_weights must be one of"),
    (dict(edge_weights="time_decay"), ValueError, "needs half_life"),
    (dict(edge_weights="time_decay", half_life=0), ValueError, "half_life must be a finite "
                                                                "number > 0, got 0"),
    (dict(edge_weights="time_decay", half_life="week"), ValueError, "half_life must be a number"),
])
def test_bad_edge_weight_hyperparameters(cls, kw, error, match):
    with pytest.raises(error, match=match):
        cls(**kw).fit(_events(), epochs=0)


@pytest.mark.parametrize("cls", MODELS)
def test_edge_weight_data_errors(cls):
    no_time = Interactions([0, 1, 1], [0, 0, 1])
    with pytest.raises(DataError, match="'time_decay' needs timestamps, but the training "
                                        "Interactions has none"):
        cls(edge_weights="time_decay", half_life=1.0).fit(no_time, epochs=0)
    zero = Interactions([0, 1, 1], [0, 0, 1], weights=[1.0, 0.0, 2.0])
    with pytest.raises(DataError, match=r"gives 1 training pair\(s\) a weight that is not > 0, "
                                        r"e.g. user 1, item 0: 0.0"):
        cls(edge_weights="count").fit(zero, epochs=0)
    # 2000 half-lives old: 0.5^2000 underflows to 0
    old = Interactions([0, 1, 1], [0, 0, 1], timestamps=[0.0, 2000.0, 2000.0])
    with pytest.raises(DataError, match="half_life=1.0 is too short"):
        cls(edge_weights="time_decay", half_life=1.0).fit(old, epochs=0)


# ============================================================== LightGCN
@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("kind, half_life", [("count", None), ("log1p", None),
                                             ("time_decay", 20 * DAY)])
def test_lightgcn_weighted_loss_matches_dense_formula(backend, kind, half_life):
    train = _events()
    model = LightGCN(dim=4, n_layers=3, reg=0.3, edge_weights=kind, half_life=half_life,
                     backend=backend, dtype="float64", random_state=0).fit(train, epochs=0)
    A_hat = _normalise(_bipartite(_dense_weights(train, kind, half_life)), "symmetric")
    np.testing.assert_allclose(model.A_hat_.toarray(), A_hat, rtol=1e-14, atol=1e-16)
    assert not np.allclose(A_hat, _normalise(_bipartite(train.to_csr().toarray()), "symmetric"))
    E0 = model.params["E0"]
    E = sum(np.linalg.matrix_power(A_hat, k) @ E0 for k in range(4)) / 4
    batch = PairBatch.make([1, 2, 3, 2, 8], [1, 2, 5, 2, 10], [3, 0, 4, 7, 9])
    loss, _ = model.loss_and_grad(batch)              # the batch-restricted path
    assert loss == pytest.approx(_bpr_loss(E, E0, batch, 9, 0.3), rel=1e-12)
    np.testing.assert_allclose(model.item_embeddings_, E[9:], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("K", [1, 2, 3])
@pytest.mark.parametrize("kind", ["count", "time_decay"])
def test_lightgcn_weighted_restricted_equals_full_graph(backend, K, kind):
    train = _events(seed=K, n_users=40, n_items=50)
    model = LightGCN(dim=6, n_layers=K, edge_weights=kind, half_life=10 * DAY, dtype="float64",
                     random_state=K).fit(train, epochs=0)
    A_hat, E0 = model.A_hat_, model.params["E0"]
    rng = np.random.default_rng(K)
    nodes = np.unique(np.r_[0, rng.integers(0, A_hat.shape[0], 7)])     # with an isolated node
    E_rows, cache = lg.lightgcn_rows_forward(A_hat, E0, K, nodes, backend=backend)
    E_full, c_full = lightgcn_forward(A_hat, E0, K, A_hat_T=A_hat)
    np.testing.assert_allclose(E_rows, E_full[nodes], rtol=1e-12, atol=1e-15)
    dE_rows = rng.standard_normal(E_rows.shape)
    dE = np.zeros_like(E_full)
    dE[nodes] = dE_rows
    np.testing.assert_allclose(lg.lightgcn_rows_backward(cache, dE_rows),
                               lightgcn_backward(c_full, dE), rtol=1e-12, atol=1e-15)


# =================================================================== GCN
@pytest.mark.parametrize("normalization, self_loops", [("symmetric", True), ("mean", True),
                                                       ("sum", False), ("symmetric", False)])
def test_gcn_weighted_forward_matches_dense_formula(normalization, self_loops):
    """H^{l+1} = σ(Â H^l W^l + b^l), Â the normalisation of A_w (+ I): weights first."""
    train = _events(features=True)
    model = GCN(dim=4, n_layers=2, normalization=normalization, self_loops=self_loops,
                input="both", edge_weights="time_decay", half_life=15 * DAY, dtype="float64",
                random_state=0).fit(train, epochs=0)
    A = _bipartite(_dense_weights(train, "time_decay", 15 * DAY)) + (np.eye(20) if self_loops
                                                                       else 0)
    A_hat = _normalise(A, normalization)
    p = model.params
    H = p["E0"] + np.vstack([train.user_features @ p["W_user_in"],
                             train.item_features.toarray() @ p["W_item_in"]])
    H = np.maximum(A_hat @ H @ p["W0"] + p["b0"], 0)
    H = A_hat @ H @ p["W1"] + p["b1"]                                  # last layer: no σ
    np.testing.assert_allclose(np.vstack([model.user_embeddings_, model.item_embeddings_]), H,
                               rtol=1e-12, atol=1e-14)


# =================================================================== GAT
@pytest.mark.parametrize("beta", [1.0, 0.0, 2.0])
def test_gat_zero_attention_is_the_weighted_mean(beta):
    """a = 0: α_vu = w_vu^β / Σ_u' w_vu'^β over N(v) ∪ {v}, self-loops weighing 1.

    β = 1 (the initial value) is the weighted graph normalised after weighting,
    D_w^{-1} (A_w + I); β = 0 the unweighted mean. One layer, identity σ and
    the mean readout: E = (H0 + P H0 W) / 2.
    """
    train = _events()
    model = GAT(dim=4, n_layers=1, edge_weights="log1p", dtype="float64",
                random_state=0).fit(train, epochs=0)
    np.testing.assert_array_equal(model.params["beta0"], [1.0])
    model.params["a_src0"][...] = 0
    model.params["a_dst0"][...] = 0
    model.params["beta0"][...] = beta
    R_w = _dense_weights(train, "log1p")
    A = _bipartite(R_w ** beta * (R_w > 0)) + np.eye(20)              # 0^0 is no edge
    P = A / A.sum(axis=1, keepdims=True)
    H0, W = model.params["E0"], model.params["W0"]
    model._refresh_embeddings()
    np.testing.assert_allclose(np.vstack([model.user_embeddings_, model.item_embeddings_]),
                               (H0 + P @ H0 @ W) / 2, rtol=1e-12, atol=1e-14)


# ============================================================ save / load
@pytest.mark.parametrize("cls", MODELS)
def test_save_load_keeps_the_weighted_graph(cls, tmp_path):
    train = _events(n_users=20, n_items=25)
    model = cls(dim=4, edge_weights="time_decay", half_life=10 * DAY, epochs=2, batch_size=16,
                lr=0.01, random_state=0).fit(train)
    model.save(tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.R_weighted_.toarray(), model.R_weighted_.toarray())
    if cls is GAT:
        np.testing.assert_array_equal(loaded._graph.log_weights, model._graph.log_weights)
    else:
        np.testing.assert_array_equal(loaded.A_hat_.toarray(), model.A_hat_.toarray())
    loaded._refresh_embeddings()                      # recomputed from the rebuilt graph
    users = np.arange(20)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    # the weights matter: the binary graph gives other scores from the same parameters
    binary = cls(dim=4, epochs=0, random_state=0).fit(train)
    binary.params = {k: v.copy() for k, v in model.params.items() if not k.startswith("beta")}
    binary._refresh_embeddings()
    assert not np.allclose(binary.score(users), model.score(users), rtol=1e-3)


# ======================================================= feature inputs
def _with_features(train, user, item):
    return Interactions(train.users, train.items, train.n_users, train.n_items,
                        weights=train.weights, timestamps=train.timestamps,
                        user_features=user, item_features=item)


@pytest.mark.parametrize("cls", [GCN, GAT])
@pytest.mark.parametrize("input", ["features", "both"])
def test_feature_input_is_the_documented_projection(cls, input):
    """H^0 = [X_user W_user_in ; X_item W_item_in] (+ E0), X dense or sparse, same numbers."""
    base = _events(features=True)
    X_u, X_i = base.user_features, base.item_features.toarray()
    formats = {"dense": (X_u, X_i), "sparse": (sp.csr_matrix(X_u), sp.csr_matrix(X_i)),
               "coo, dense": (sp.coo_matrix(X_u), X_i)}
    batch = PointBatch.make([1, 2, 3, 2, 8], [1, 2, 5, 0, 10], [1, 0, 1, 0, 1])
    results = {}
    for name, (U, I) in formats.items():
        model = cls(dim=4, input=input, dtype="float64", random_state=0)
        model.fit(_with_features(base, U, I), epochs=0)
        p = model.params
        H0, _ = model._input_layer()
        expected = np.vstack([X_u @ p["W_user_in"], X_i @ p["W_item_in"]])
        if input == "both":
            expected = expected + p["E0"]
        else:
            assert "E0" not in p
        np.testing.assert_allclose(H0, expected, rtol=1e-13, atol=1e-15)
        results[name] = model.loss_and_grad(batch)
    loss, grads = results["dense"]
    assert grads["W_user_in"].any() and grads["W_item_in"].any()      # the projection learns
    for name in ("sparse", "coo, dense"):
        assert results[name][0] == pytest.approx(loss, rel=1e-13)
        for k in grads:
            np.testing.assert_allclose(results[name][1][k], grads[k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_both_with_one_side_featureless_uses_ids_there(cls):
    base = _events(features=True)
    train = _with_features(base, None, base.item_features)
    model = cls(dim=4, input="both", dtype="float64", random_state=0).fit(train, epochs=0)
    assert "W_user_in" not in model.params and "W_item_in" in model.params
    H0, _ = model._input_layer()
    np.testing.assert_array_equal(H0[:9], model.params["E0"][:9])
    with pytest.raises(DataError, match=rf"{cls.__name__}\(input='features'\) needs both user "
                                        "and item features.*no user_features"):
        cls(input="features").fit(train, epochs=0)


# ============================================================ cold start
def _auc_per_column(S, positive):
    """AUC of each column's scores for separating ``positive`` rows (ties count half)."""
    from scipy.stats import rankdata
    out = []
    for s, pos in zip(S.T, positive.T):
        r = rankdata(s)
        n_pos, n_neg = pos.sum(), (~pos).sum()
        out.append((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return np.array(out)


@pytest.fixture(scope="module")
def cold_start():
    """Planted communities, features = the community; every event of 12 items held out."""
    data, truth = synthetic(n_users=90, n_items=120, n_communities=3, mean_interactions=10,
                            feature_noise=0.0, random_state=0, return_truth=True)
    cold = np.sort(np.random.default_rng(0).choice(120, 12, replace=False))
    train = data.subset(~np.isin(data.items, cold))
    same = truth.user_community[:, None] == truth.item_community[cold][None, :]   # (90, 12)
    return train, cold, same


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_cold_items_are_scored_from_their_features(cls, cold_start):
    train, cold, same = cold_start
    assert not np.isin(train.items, cold).any()                       # never seen in training
    kw = dict(dim=16, lr=0.01, batch_size=256, epochs=5, random_state=0)
    model = cls(input="features", **kw).fit(train)
    S = model.score(np.arange(90))[:, cold]                           # (90 users, 12 cold items)
    assert np.all(S.std(axis=0) > 0.1)                                # not a constant per item
    auc = _auc_per_column(S, same)
    # measured 0.99-1.0 over seeds 0-2: each cold item ranks its community's users first
    assert auc.min() > 0.95, auc
    # the same model on free id embeddings knows nothing about them (measured 0.51-0.64)
    ids = cls(input="embedding", **kw).fit(train)
    assert _auc_per_column(ids.score(np.arange(90))[:, cold], same).mean() < 0.8


# ==================================================================== CLI
def _movielens_folder(path, n_users=30, n_items=25, seed=0):
    """A small folder in MovieLens-100K's format: two taste groups, dated ratings."""
    rng = np.random.default_rng(seed)
    path.mkdir()
    jobs = ["artist", "engineer", "writer"]
    (path / "u.user").write_text("".join(
        f"{u}|{rng.integers(18, 70)}|{'MF'[u % 2]}|{jobs[u % 3]}|0000{u}\n"
        for u in range(1, n_users + 1)))
    lines = []
    for i in range(1, n_items + 1):
        genres = ["0"] * 19
        genres[1 + i % 2] = "1"
        lines.append(f"{i}|Film {i} (1990)|01-Jan-199{i % 10}||http://x|" + "|".join(genres))
    (path / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    rows = []
    for u in range(1, n_users + 1):
        for i in rng.choice(np.arange(1 + u % 2, n_items + 1, 2), size=8, replace=False):
            rows.append(f"{u}\t{i}\t{rng.integers(1, 6)}\t{881250949 + rng.integers(0, 10**7)}")
    (path / "u.data").write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("model, params", [
    ("gat", dict(n_heads=2, edge_weights="time_decay", half_life=2592000, input="features")),
    ("gcn", dict(input="features", edge_weights="log1p")),
    ("lightgcn", dict(edge_weights="time_decay", half_life=1e6)),
])
def test_cli_trains_with_features_and_edge_weights(tmp_path, capsys, model, params):
    folder = _movielens_folder(tmp_path / "ml")
    out = tmp_path / "m.npz"
    extra = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
    assert main(["train", str(folder), "--model", model, "--epochs", "2", "--dim", "8",
                 "--test-size", "0.2", "--seed", "0", "-q", "-o", str(out)] + extra) == 0
    assert "recall@20" in capsys.readouterr().out
    fitted = mgr.load(out)
    assert {k: fitted.get_params()[k] for k in params} == params
    assert fitted.R_weighted_ is not None and fitted.R_weighted_.nnz == fitted.R_.nnz
    if params.get("input") == "features":
        # age, gender F/M, 3 occupations; 19 genres, year, year_missing
        assert "E0" not in fitted.params and fitted.params["W_user_in"].shape == (6, 8)
        assert fitted.params["W_item_in"].shape == (21, 8)


def test_cli_time_decay_without_timestamps_is_a_clear_error(tmp_path, capsys):
    data = tmp_path / "r.csv"
    data.write_text("user,item\nu1,i1\nu1,i2\nu2,i1\n")
    assert main(["train", str(data), "--model", "lightgcn", "--epochs", "1", "-p",
                 "edge_weights=time_decay", "-p", "half_life=10"]) == 2
    assert "'time_decay' needs timestamps" in capsys.readouterr().err


def test_a_model_keeps_its_own_copy_of_the_features():
    """The caller's array reused after fit no longer changes the model (a float64 model held
    the caller's array: its saved features, its resumed training and its updates changed)."""
    import minigraphrec as mgr
    d = mgr.datasets.synthetic(n_users=60, n_items=80, random_state=0)
    Xu, Xi = d.user_features.copy(), d.item_features.copy()
    tr = mgr.Interactions(d.users, d.items, n_users=d.n_users, n_items=d.n_items,
                          user_features=Xu, item_features=Xi)
    m = mgr.GCN(dim=8, input="features", dtype="float64", epochs=1, random_state=0).fit(tr)
    before = m.score([0, 1, 2])
    Xu[:] = 0.0
    assert not np.shares_memory(m.user_features_, Xu)
    np.testing.assert_array_equal(m._all_embeddings()[:3] @ m._all_embeddings()[60:].T,
                                  m.user_embeddings_[:3] @ m.item_embeddings_.T)
    np.testing.assert_array_equal(m.score([0, 1, 2]), before)


def test_features_are_checked_again_at_fit():
    """An attribute set after the Interactions was made is checked by fit (NaN features
    used to end in 'Try a smaller lr', a wrong row count in a NumPy broadcast error)."""
    import minigraphrec as mgr
    from minigraphrec.errors import DataError
    d = mgr.datasets.synthetic(n_users=60, n_items=80, random_state=0)
    bad = d.subset(np.arange(len(d)))
    bad.user_features = d.user_features.copy()
    bad.user_features[0, 0] = np.nan
    with pytest.raises(DataError, match="user_features contains NaN or inf"):
        mgr.GCN(dim=8, input="features", epochs=1).fit(bad)
    bad.user_features = d.user_features[:-1]
    with pytest.raises(DataError, match="user_features has 59 rows, expected one per user"):
        mgr.GCN(dim=8, input="features", epochs=1).fit(bad)
    with pytest.raises(DataError, match="must hold real numbers, got dtype complex128"):
        mgr.Interactions([0], [0], user_features=np.ones((1, 2)) * 1j)
