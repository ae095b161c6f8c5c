"""explain, score_history, partial_fit and forget of the trained models (issue 11).

MF, LightGCN, GCN, NGCF and GAT on tiny synthetic data. Exact identities where
the algebra gives them (LightGCN's explanation sums to the score, its ad-hoc row
is the training user's row minus its own layer-0 term, ``partial_fit(epochs=0)``
is the graph update, ``forget(method="retrain")`` is a fit without the data),
properties where it is approximate (gradient × input against finite
differences, the fold-in's ranking), bad input, failed updates that leave the
model unchanged, determinism, and save/load round trips.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import minigraphrec as mgr
from conftest import raw_id_interactions
from minigraphrec.datasets import synthetic
from minigraphrec.errors import DataError
from minigraphrec.rank import score_matrix

MODELS = {
    "MF": (mgr.MF, {}),
    "LightGCN": (mgr.LightGCN, {"n_layers": 2}),
    "GCN": (mgr.GCN, {"n_layers": 2}),
    "NGCF": (mgr.NGCF, {"n_layers": 2}),
    "GAT": (mgr.GAT, {"n_layers": 2, "attention_dropout": 0.1}),
}


def make(name, **kw):
    cls, own = MODELS[name]
    params = dict(dim=6, epochs=2, batch_size=32, lr=0.01, dtype="float64", random_state=0)
    params.update(own)
    params.update(kw)
    return cls(**params)


@pytest.fixture(scope="module")
def data():
    return raw_id_interactions()


def new_events(data):
    """New interactions in raw ids: old users, old items, two new users and a new item."""
    users = np.array([1000, 1001, 1002, 9001, 9001, 9002, 1003])
    items = np.array([5003, 5004, 7001, 5000, 7001, 7001, 5010])
    user_raw, u = np.unique(users, return_inverse=True)          # one internal id per raw id
    item_raw, i = np.unique(items, return_inverse=True)
    return mgr.Interactions(u, i, user_ids=user_raw, item_ids=item_raw)


def union(model, merge):
    """The union data of a Merge as Interactions in the merge's id order (the refit oracle)."""
    return model._training_interactions(merge.R, merge.user_ids, merge.item_ids)


def params_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ================================================================ explain
def lightgcn_M(model):
    """Dense M = 1/(K+1) Σ_k Â^k of a small model."""
    A = model.A_hat_.toarray()
    K = model.n_layers
    P, M = np.eye(A.shape[0]), np.eye(A.shape[0])
    for _ in range(K):
        P = P @ A
        M += P
    return M / (K + 1)


@pytest.mark.parametrize("scoring", ["dot", "cosine"])
def test_lightgcn_explain_sums_to_the_score(data, scoring):
    m = make("LightGCN", scoring=scoring).fit(data)
    M = lightgcn_M(m)
    for user, item in [(0, 3), (5, 17), (12, 40)]:
        ex = m.explain(user, item, k=None)
        assert ex.exact and ex.kind == "node"
        assert ex.score == m.score([user])[0, item]
        assert abs(ex.total - ex.score) <= 1e-12 * max(1.0, abs(ex.score))
        # each contribution is M_uv E0_v · ẽ_i, against a dense M
        e_i = m.item_embeddings_[item]
        if scoring == "cosine":
            e_i = e_i / (np.linalg.norm(m.user_embeddings_[user]) * np.linalg.norm(e_i))
        want = M[user] * (m.params["E0"] @ e_i)
        np.testing.assert_allclose(ex.contributions, want[ex.sources], rtol=1e-12, atol=1e-15)
        assert set(ex.sources) == set(np.flatnonzero(M[user]))
        assert np.all(np.diff(ex.contributions) <= 0)


def test_lightgcn_explain_paths_split_the_node_contributions(data):
    m = make("LightGCN").fit(data)
    user, item = 7, 11
    nodes = m.explain(user, item, k=None)
    walks = m.explain(user, item, k=None, paths=True)
    assert walks.exact and abs(walks.total - walks.score) <= 1e-12 * max(1, abs(walks.score))
    # every walk starts at the user, has length <= K, follows edges, ends at its source
    A = m.A_hat_
    for path, src in zip(walks.paths, walks.sources):
        assert path[0] == user and len(path) <= m.n_layers + 1 and path[-1] == src
        assert all(A[a, b] != 0 for a, b in zip(path, path[1:]))
    # summed by their end node, the walks give the node split
    by_end = {}
    for s, c in zip(walks.sources, walks.contributions):
        by_end[int(s)] = by_end.get(int(s), 0.0) + c
    got = np.array([by_end[int(s)] for s in nodes.sources])
    np.testing.assert_allclose(got, nodes.contributions, rtol=1e-10, atol=1e-15)
    # the number of walks is Σ_k (A^k 1)_u
    B = (A != 0).astype(float).toarray()
    n_walks = sum(np.linalg.matrix_power(B, k)[user].sum() for k in range(m.n_layers + 1))
    assert len(walks) == n_walks
    top = m.explain(user, item, k=3, paths=True)
    assert len(top) == 3 and len(top.paths) == 3 and top.total == walks.total


def test_lightgcn_explain_refuses(data):
    m = make("LightGCN", scoring="euclidean").fit(data)
    with pytest.raises(ValueError, match="euclidean"):
        m.explain(0, 1)
    m = make("LightGCN").fit(data)
    with pytest.raises(ValueError, match="not in the catalogue"):
        m.explain(0, 50, paths=True)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        m.explain(0, 1, k=0, paths=True)
    m.max_paths = 5
    with pytest.raises(ValueError, match="max_paths"):
        m.explain(0, 1, paths=True)


def test_mf_explain_is_a_similarity(data):
    m = make("MF").fit(data)
    ex = m.explain(3, 9, k=None)
    assert ex.kind == "item" and not ex.exact and "not an attribution" in ex.method
    assert sorted(ex.sources) == sorted(m.R_[3].indices)
    I = m.item_embeddings_
    want = I[ex.sources] @ I[9] / (np.linalg.norm(I[ex.sources], axis=1) * np.linalg.norm(I[9]))
    np.testing.assert_allclose(ex.contributions, want, rtol=1e-12)
    assert ex.score == m.score([3])[0, 9]


def test_gcn_gradient_input_is_exact_for_a_homogeneous_network(data):
    # zero biases (epochs=0) and ReLU: the score is homogeneous of degree 2 in E0,
    # so the halved gradient × input sums to it (Euler)
    m = make("GCN", epochs=0).fit(data)
    assert all(not m.params[f"b{l}"].any() for l in range(2))
    ex = m.explain(2, 5, k=None)
    assert not ex.exact and "approximate" in ex.method
    assert abs(ex.total - ex.score) <= 1e-10 * max(1.0, abs(ex.score))
    # with trained biases it is only an approximation
    trained = make("GCN", epochs=3, lr=0.05).fit(data)
    ex = trained.explain(2, 5, k=None)
    assert abs(ex.total - ex.score) > 1e-8


@pytest.mark.parametrize("name", ["GCN", "NGCF", "GAT"])
def test_gradient_input_matches_finite_differences(data, name):
    m = make(name, epochs=2, lr=0.05).fit(data)
    user, item = 4, 8
    ex = m.explain(user, item, k=4)
    assert ex.kind == "node" and not ex.exact and ex.score == m.score([user])[0, item]
    E0 = m.params["E0"]
    eps = 1e-6
    for v, c in zip(ex.sources, ex.contributions):
        row = E0[v].copy()
        scores = []
        for t in (eps, -eps):
            E0[v] = row * (1 + t)                        # move along the row itself
            m._refresh_embeddings()
            scores.append(m.score([user])[0, item])
        E0[v] = row
        m._refresh_embeddings()
        numeric = 0.5 * (scores[0] - scores[1]) / (2 * eps)     # ½ h0_v · ∂s/∂h0_v
        assert np.isclose(c, numeric, rtol=1e-5, atol=1e-12), (v, c, numeric)


def test_gradient_input_names_the_projected_features():
    d = synthetic(n_users=30, n_items=40, mean_interactions=6, random_state=1)
    m = mgr.GCN(dim=6, input="features", epochs=1, batch_size=32, dtype="float64",
                random_state=0).fit(d)
    ex = m.explain(1, 2, k=3)
    assert "projected features" in ex.method and len(ex) == 3
    assert np.all(np.diff(ex.contributions) <= 0) and ex.score == m.score([1])[0, 2]


def test_explain_leaves_dropout_and_the_model_unchanged(data):
    m = make("NGCF", message_dropout=0.3).fit(data)
    before = m.score([0]).copy()
    m.explain(0, 1)
    assert m.message_dropout == 0.3 and "_input_layer_backward" not in vars(m)
    np.testing.assert_array_equal(m.score([0]), before)


# ========================================================== score_history
def test_lightgcn_score_history_is_the_users_row_without_its_own_term(data):
    m = make("LightGCN").fit(data)
    K = m.n_layers
    for user in (0, 9, 21):
        got = m.score_history(m.R_[user].indices)
        e = m.user_embeddings_[user] - m.params["E0"][user] / (K + 1)
        want = score_matrix(e[None, :], m.item_embeddings_)[0]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # duplicates count once; order does not matter
    h = m.R_[3].indices
    np.testing.assert_array_equal(m.score_history(np.r_[h[::-1], h[:1]]), m.score_history(h))
    items, scores = m.recommend_history(h, k=5)
    assert not np.isin(items, h).any() and np.all(np.diff(scores) <= 0)


def test_lightgcn_score_history_of_a_new_history_by_hand(data):
    m = make("LightGCN").fit(data)
    h = np.array([1, 7, 30])
    n_u, K = m.n_users_, m.n_layers
    M_items = np.zeros((3, m.A_hat_.shape[0]))                # rows of Σ_{k<K} Â^k at the items
    A = m.A_hat_.toarray()
    P = np.eye(A.shape[0])
    for _ in range(K):
        M_items += P[n_u + h]
        P = P @ A
    deg = np.asarray(m.R_.sum(axis=0)).ravel()[h]
    a = 1 / np.sqrt(len(h) * deg)
    e = a @ (M_items @ m.params["E0"]) / (K + 1)
    np.testing.assert_allclose(m.score_history(h), m.item_embeddings_ @ e, rtol=1e-12)


@pytest.mark.parametrize("name", ["MF", "GCN", "NGCF", "GAT"])
def test_fold_in_is_deterministic(data, name):
    m = make(name).fit(data)
    h = m.R_[2].indices
    a, b = m.score_history(h), m.score_history(h)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (m.n_items_,) and np.all(np.isfinite(a))


def test_mf_fold_in_recovers_a_training_users_ranking(data):
    from scipy.stats import spearmanr
    m = mgr.MF(dim=8, epochs=60, batch_size=64, lr=0.1, reg=1e-3, dtype="float64",
               random_state=0).fit(data)
    own = [spearmanr(m.score_history(m.R_[u].indices), m.score([u])[0])[0] for u in range(6)]
    rng = np.random.default_rng(0)
    other = [spearmanr(m.score_history(rng.choice(50, m.R_[u].nnz, replace=False)),
                       m.score([u])[0])[0] for u in range(6)]
    assert np.median(own) > 0.9 and np.median(other) < 0.6, (own, other)


def test_lightgcn_without_layers_folds_in(data):
    m = make("LightGCN", n_layers=0).fit(data)
    s = m.score_history(m.R_[0].indices)
    np.testing.assert_array_equal(s, score_matrix(m.fold_in(m.R_[0].indices)[None],
                                                  m.item_embeddings_)[0])


@pytest.mark.parametrize("name", ["MF", "LightGCN"])
def test_score_history_bad_input(data, name):
    m = make(name).fit(data)
    with pytest.raises(DataError, match="empty"):
        m.score_history([])
    with pytest.raises(DataError, match="not in the catalogue"):
        m.recommend_history([1, 50])


# ============================================================ partial_fit
@pytest.mark.parametrize("name", list(MODELS))
def test_partial_fit_with_no_epochs_is_the_graph_update(data, name):
    m = make(name).fit(data)
    old_E0, old_m = m.params["E0"].copy(), m.optimizer_state_["m:E0"].copy()
    others = {k: v.copy() for k, v in m.params.items() if k != "E0"}
    new = new_events(data)
    merge = m._merge_new(new)
    m.partial_fit(new, epochs=0)
    n_u, n_i = merge.R.shape
    assert (m.n_users_, m.n_items_) == (n_u, n_i) == (42, 51)
    assert (m.R_ != merge.R).nnz == 0
    np.testing.assert_array_equal(m.user_ids_, merge.user_ids)
    old_nodes = np.r_[np.arange(40), n_u + np.arange(50)]
    np.testing.assert_array_equal(m.params["E0"][old_nodes], old_E0)     # old rows kept
    np.testing.assert_array_equal(m.optimizer_state_["m:E0"][old_nodes], old_m)
    assert not m.optimizer_state_["m:E0"][[40, 41, n_u + 50]].any()     # zero moments for new
    assert params_equal({k: v for k, v in m.params.items() if k != "E0"}, others)
    # new rows from their neighbours: item 7001 (users 1002, 9001, 9002: one old) first
    E0 = m.params["E0"]
    np.testing.assert_allclose(E0[n_u + 50], old_E0[2])
    np.testing.assert_allclose(E0[40], E0[[n_u + 0, n_u + 50]].mean(axis=0))   # user 9001
    np.testing.assert_allclose(E0[41], E0[n_u + 50])                           # user 9002
    # the model equals a model built on the union with these parameters
    fresh = make(name).fit(union(m, merge), epochs=0)
    fresh.params = {k: v.copy() for k, v in m.params.items()}
    fresh._refresh_embeddings()
    users = np.arange(n_u)
    np.testing.assert_allclose(m.score(users), fresh.score(users), rtol=1e-12, atol=1e-14)
    graph = {"LightGCN": "A_hat_", "GCN": "A_hat_", "NGCF": "L_"}.get(name)
    if graph:
        assert abs(getattr(m, graph) - getattr(fresh, graph)).max() == 0


@pytest.mark.parametrize("name", list(MODELS))
def test_partial_fit_trains_the_touched_users_only_and_is_deterministic(data, name):
    a, b = make(name).fit(data), make(name).fit(data)
    step0 = a.step_
    new = new_events(data)
    a.partial_fit(new, epochs=2)
    b.partial_fit(new, epochs=2)
    assert params_equal(a.params, b.params)
    assert params_equal(a.optimizer_state_, b.optimizer_state_)
    np.testing.assert_array_equal(a.score(np.arange(42)), b.score(np.arange(42)))
    touched = np.array([0, 1, 2, 3, 40, 41])            # the users of new_events
    nnz = a.R_[touched].nnz
    assert a.step_ - step0 == 2 * int(np.ceil(nnz / a.batch_size))   # batches of touched users


def test_partial_fit_with_only_known_ids_keeps_the_shapes(data):
    m = make("LightGCN").fit(data)
    new = mgr.Interactions([0, 1], [0, 1], user_ids=[1005, 1006], item_ids=[5020, 5021])
    m.partial_fit(new, epochs=1)
    assert (m.n_users_, m.n_items_) == (40, 50) and m.R_[5, 20] == 1 and m.R_[6, 21] == 1
    assert m.user_embeddings_.shape == (40, 6)


@pytest.mark.parametrize("name", ["MF", "LightGCN"])
def test_partial_fit_failures_leave_the_model_unchanged(data, name):
    m = make(name, batch_size=4).fit(data)
    before, R, E0 = m.score(np.arange(40)), m.R_.copy(), m.params["E0"].copy()
    with pytest.raises(DataError, match="no interactions"):
        m.partial_fit(mgr.Interactions([], [], n_users=0, n_items=0))
    with pytest.raises(TypeError):
        m.partial_fit(np.array([[0, 1]]))
    with pytest.raises(ValueError, match="epochs"):
        m.partial_fit(new_events(data), epochs=-1)
    m.lr = 1e200                                     # the update diverges after a step or two
    with pytest.raises(FloatingPointError):
        m.partial_fit(new_events(data), epochs=3)
    m.lr = 0.01
    assert (m.R_ != R).nnz == 0 and m.n_users_ == 40
    np.testing.assert_array_equal(m.params["E0"], E0)
    np.testing.assert_array_equal(m.score(np.arange(40)), before)


def test_partial_fit_refuses_edge_weights_and_new_nodes_without_the_features_it_reads():
    d = synthetic(n_users=30, n_items=40, mean_interactions=6, random_state=1)
    m = mgr.LightGCN(dim=4, epochs=1, edge_weights="count", random_state=0).fit(d)
    new = mgr.Interactions([0], [0], user_ids=[d.user_ids[0]], item_ids=[d.item_ids[1]])
    with pytest.raises(DataError, match="edge weights"):
        m.partial_fit(new)
    g = mgr.GCN(dim=4, epochs=1, input="features", random_state=0).fit(d)
    with pytest.raises(DataError, match=r"GCN\(input='features'\) reads user features, and "
                                        r"new_interactions brings 1 new users"):
        g.partial_fit(mgr.Interactions([0], [0], user_ids=[10**6], item_ids=[d.item_ids[1]]))
    with pytest.raises(DataError, match="have 3 columns; the model's have 10"):
        g.partial_fit(mgr.Interactions([0], [0], user_ids=[10**6], item_ids=[d.item_ids[1]],
                                       user_features=np.ones((1, 3))))


@pytest.mark.parametrize("input", ["features", "both"])
def test_partial_fit_gives_new_nodes_of_a_feature_model_their_features(input):
    """New users and items of a model that reads node features take their rows from the new
    data (it refused any new node before): with epochs=0 the model is the old parameters on
    the union's graph and features, as a fit on the union with those parameters would be."""
    d = synthetic(n_users=30, n_items=40, mean_interactions=6, random_state=1)
    g = mgr.GCN(dim=4, epochs=2, input=input, dtype="float64", random_state=0).fit(d)
    before = {k: v.copy() for k, v in g.params.items()}
    rng = np.random.default_rng(0)
    uf, itf = rng.random((2, 10)), rng.random((2, 10))
    new = mgr.Interactions([0, 1, 1], [0, 0, 1], user_ids=[d.user_ids[3], 10**6],
                           item_ids=[d.item_ids[1], 10**6 + 1], user_features=uf,
                           item_features=itf)
    g.partial_fit(new, epochs=0)
    assert (g.n_users_, g.n_items_) == (31, 41)
    np.testing.assert_array_equal(g.user_features_, np.vstack([d.user_features, uf[1:]]))
    np.testing.assert_array_equal(g.item_features_, np.vstack([d.item_features, itf[1:]]))
    for k in ("W_user_in", "W_item_in", "W0"):
        np.testing.assert_array_equal(g.params[k], before[k])     # shared, unchanged
    union = g._training_interactions()
    union.user_features, union.item_features = g.user_features_, g.item_features_
    fresh = mgr.GCN(dim=4, input=input, dtype="float64", random_state=0).fit(union, epochs=0)
    fresh.params = {k: v.copy() for k, v in g.params.items()}
    fresh._refresh_embeddings()
    np.testing.assert_allclose(g.score(np.arange(31)), fresh.score(np.arange(31)),
                               rtol=1e-12, atol=1e-14)
    g.partial_fit(new, epochs=2)                                   # and it trains on from there
    assert np.isfinite(g.score([30])).all()


# ================================================================= forget
@pytest.mark.parametrize("name", list(MODELS))
def test_forget_with_no_epochs_drops_the_rows_and_the_edges(data, name):
    m = make(name).fit(data)
    E0, mom = m.params["E0"].copy(), m.optimizer_state_["m:E0"].copy()
    pair = np.array([[5, m.R_[5].indices[0]]])
    removal = m._removal(users=[2, 7], interactions=pair)
    m.forget(users=[2, 7], interactions=pair, epochs=0, method="fine_tune")
    assert m.forget_method_ == "fine_tune" and m.n_users_ == 38
    assert (m.R_ != removal.R).nnz == 0
    np.testing.assert_array_equal(m.user_ids_, np.delete(1000 + np.arange(40), [2, 7]))
    old_nodes = np.r_[removal.keep_users, 40 + np.arange(50)]
    np.testing.assert_array_equal(m.params["E0"], E0[old_nodes])
    np.testing.assert_array_equal(m.optimizer_state_["m:E0"], mom[old_nodes])
    fresh = make(name).fit(m._training_interactions(), epochs=0)
    fresh.params = {k: v.copy() for k, v in m.params.items()}
    fresh._refresh_embeddings()
    np.testing.assert_allclose(m.score(np.arange(38)), fresh.score(np.arange(38)),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["MF", "LightGCN", "GCN"])
def test_forget_removes_the_pairs_everywhere_including_the_file(data, name, tmp_path):
    m = make(name).fit(data)
    u, i = 5, int(m.R_[5].indices[1])
    m.forget(interactions=np.array([[u, i]]), epochs=2, method="fine_tune")
    assert m.R_[u, i] == 0 and m.n_users_ == 40
    if hasattr(m, "A_hat_"):
        assert m.A_hat_[u, 40 + i] == 0 and m.A_hat_[40 + i, u] == 0
    path = tmp_path / "m.npz"
    mgr.save(m, path)
    back = mgr.load(path)
    assert back.R_[u, i] == 0 and back.forget_method_ == "fine_tune"
    if hasattr(back, "A_hat_"):
        assert back.A_hat_[u, 40 + i] == 0
    np.testing.assert_array_equal(back.score(np.arange(40)), m.score(np.arange(40)))
    np.testing.assert_array_equal(back.optimizer_state_["v:E0"], m.optimizer_state_["v:E0"])
    # a forgotten user's raw id is nowhere in the file
    m.forget(users=[0])
    mgr.save(m, path)
    assert 1000 not in mgr.load(path).user_ids_
    with np.load(path) as z:
        assert z["params/E0"].shape[0] == 39 + 50


def test_forget_edge_weights_drop_the_pair():
    d = synthetic(n_users=30, n_items=40, mean_interactions=6, random_state=1)
    d = mgr.Interactions(d.users, d.items, timestamps=d.timestamps)
    m = mgr.LightGCN(dim=4, epochs=1, edge_weights="count", random_state=0).fit(d)
    i = int(m.R_[3].indices[0])
    m.forget(interactions=np.array([[3, i]]), epochs=1, method="fine_tune")
    assert m.R_weighted_[3, i] == 0 and (m.R_weighted_ > 0).nnz == m.R_.nnz
    with pytest.raises(DataError, match=r"forget\(method='retrain'\), the default, cannot rebuild "
                                        r"the edge weights .* pass method='fine_tune'"):
        m.forget(users=[0])                                   # the default: retrain


@pytest.mark.parametrize("name", ["MF", "LightGCN"])
def test_forget_retrain_is_a_fit_without_the_data(data, name):
    m = make(name).fit(data)
    pair = np.array([[5, m.R_[5].indices[0]]])
    rest = m._removal(users=[3], interactions=pair)
    oracle = make(name).fit(m._training_interactions(rest.R, rest.user_ids))
    m.forget(users=[3], interactions=pair, method="retrain")
    assert m.forget_method_ == "retrain"
    assert params_equal(m.params, oracle.params)
    np.testing.assert_array_equal(m.user_ids_, oracle.user_ids_)


@pytest.mark.parametrize("name", ["MF", "LightGCN"])
def test_forget_fine_tune_is_deterministic_and_unlearns(data, name):
    a, b = (make(name, epochs=30, batch_size=64, lr=0.05).fit(data) for _ in range(2))
    pairs = np.array([[u, a.R_[u].indices[0]] for u in range(10)])

    def ranks(m):                                      # 0 = the user's best-scored item
        S = m.score(pairs[:, 0])
        return np.array([(S[r] > S[r, i]).sum() for r, i in enumerate(pairs[:, 1])])

    before = ranks(a)
    a.forget(interactions=pairs, epochs=10, method="fine_tune")
    b.forget(interactions=pairs, epochs=10, method="fine_tune")
    assert params_equal(a.params, b.params)
    assert ranks(a).mean() > before.mean() + 2         # the forgotten items lose ground


def test_forget_bad_input_leaves_the_model_unchanged(data):
    m = make("LightGCN").fit(data)
    before = m.score(np.arange(40))
    missing = int(np.setdiff1d(np.arange(50), m.R_[0].indices)[0])
    with pytest.raises(DataError, match="not in the training data"):
        m.forget(interactions=np.array([[0, missing]]))
    with pytest.raises(ValueError, match="method"):
        m.forget(users=[0], method="bogus")
    with pytest.raises(ValueError, match="unknown"):
        m.forget(users=[40])
    with pytest.raises(ValueError, match="users=... or interactions"):
        m.forget()
    assert m.n_users_ == 40 and not hasattr(m, "forget_method_")
    np.testing.assert_array_equal(m.score(np.arange(40)), before)


def test_partial_fit_labels_the_new_items(data):
    labelled = mgr.Interactions(data.users, data.items, n_users=data.n_users,
                                n_items=data.n_items, user_ids=data.user_ids,
                                item_ids=data.item_ids,
                                item_labels=[f"t{i}" for i in range(data.n_items)])
    m = make("LightGCN").fit(labelled)
    new = new_events(data)
    new.item_labels = np.array([f"new {i}" for i in new.item_ids])
    m.partial_fit(new, epochs=0)
    assert m.item_labels_.tolist() == [f"t{i}" for i in range(data.n_items)] + ["new 7001"]


def test_partial_fit_then_save_and_load(data, tmp_path):
    m = make("LightGCN").fit(data)
    m.partial_fit(new_events(data), epochs=1)
    mgr.save(m, tmp_path / "m.npz")
    back = mgr.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.score(np.arange(42)), m.score(np.arange(42)))
    np.testing.assert_array_equal(back.score_history([1, 2, 50]), m.score_history([1, 2, 50]))
    assert back.explain(40, 50, k=None).total == pytest.approx(m.score([40])[0, 50], rel=1e-12)
    assert (back.R_ != m.R_).nnz == 0 and sp.issparse(back.R_)


def test_gat_paths_have_the_largest_attention_product(data):
    m = make("GAT", epochs=2, lr=0.05).fit(data)
    user, item = 4, 8
    ex = m.explain(user, item, k=6)
    assert len(ex.paths) == 6 and "attention" in ex.method
    A = [a.toarray() for a in m._attention_matrices()]              # (n, n) per layer
    L, targets = m.n_layers, (user, 40 + item)
    for path, v in zip(ex.paths, ex.sources):
        assert path[-1] == v and path[0] in targets
        got = np.prod(m.attention_along(path))
        # brute force over every target and path of 1..L hops ending at v
        best = max([1.0 if v in targets else 0.0]
                   + [A[L - 1][t, v] for t in targets]
                   + [A[L - 1][t, x] * A[L - 2][x, v] for t in targets for x in range(90)])
        assert np.isclose(got, best, rtol=1e-12), (path, got, best)
    with pytest.raises(ValueError, match="hops"):
        m.attention_along((0, 40, 1, 41))


def test_a_fresh_fit_clears_forget_method():
    data = mgr.datasets.synthetic(n_users=40, n_items=200, random_state=0)
    model = mgr.MF(dim=4, epochs=1, random_state=0).fit(data)
    model.forget(users=[0], method="fine_tune")
    assert model.forget_method_ == "fine_tune"
    model.fit(data, epochs=1)
    assert not hasattr(model, "forget_method_")


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", ["fine_tune", "retrain"])
def test_forgetting_nothing_is_a_no_op_whatever_the_method(data, name, method):
    """Empty users and pairs (a periodic unlearning job with nothing to do): no epoch, no
    retrain, no forget_method_; every attribute the same object as before."""
    m = make(name).fit(data)
    before = dict(m.__dict__)
    empty = mgr.Interactions([], [], n_users=0, n_items=0, user_ids=m.user_ids_[:0],
                             item_ids=m.item_ids_[:0])
    for case in ({"users": []}, {"interactions": np.zeros((0, 2), dtype=np.int64)},
                 {"interactions": empty}, {"users": [], "interactions": []}):
        epochs = {"epochs": 3} if method == "fine_tune" else {}
        assert m.forget(**case, method=method, **epochs) is m, case
        assert m.__dict__.keys() == before.keys(), case
        assert all(m.__dict__[k] is v for k, v in before.items()), case
    with pytest.raises(ValueError, match="method must be"):      # options still checked
        m.forget(users=[], method="bogus")
    with pytest.raises(ValueError, match="epochs"):
        m.forget(users=[], method="fine_tune", epochs=-1)


def test_embedding_updates_refuse_a_changed_definition_and_accept_training_settings():
    """MF's partial_fit after set_params(dim=4) kept the (n, 8) table under dim=4; LightGCN
    fine-tuned its 3-layer embeddings as a 1-layer model. Training settings may change, as
    for a resumed fit."""
    data = mgr.datasets.synthetic(n_users=60, n_items=40, random_state=0)
    old, new = data.subset(data.users < 50), data.subset(data.users >= 50)
    mf = mgr.MF(dim=8, epochs=1, random_state=0).fit(old).set_params(dim=4)
    params = {k: v.copy() for k, v in mf.params.items()}
    with pytest.raises(ValueError, match=r"MF\.partial_fit: hyperparameters changed since fit "
                                         r"\(dim=8 -> 4\)"):
        mf.partial_fit(new)
    assert all(np.array_equal(mf.params[k], v) for k, v in params.items())
    lightgcn = mgr.LightGCN(dim=8, n_layers=3, epochs=1, random_state=0).fit(old)
    with pytest.raises(ValueError, match=r"LightGCN\.forget: .*\(n_layers=3 -> 1\)"):
        lightgcn.set_params(n_layers=1).forget(users=[0], method="fine_tune")
    lightgcn.set_params(n_layers=3, lr=1e-3, batch_size=16).partial_fit(new, epochs=1)
    assert lightgcn.n_users_ == 60
    # a retrain fits anew with the hyperparameters as they are now: nothing to refuse
    lightgcn.set_params(n_layers=1).forget(users=[0], method="retrain")
    assert lightgcn.fit_hyperparameters_["n_layers"] == 1 and lightgcn.n_users_ == 59


@pytest.mark.parametrize("name, change", [
    ("MF", {"dim": 4}), ("LightGCN", {"dim": 4}), ("LightGCN", {"n_layers": 1}),
    ("GCN", {"n_layers": 1}), ("NGCF", {"dim": 4}), ("NGCF", {"n_layers": 1}),
    ("GAT", {"dim": 4}), ("GAT", {"n_layers": 1}),
])
def test_what_computes_from_params_refuses_a_changed_definition(name, change):
    """After set_params(dim=4) NGCF's loss_and_grad and explain read past their kernels'
    buffers (malloc abort); GCN, NGCF and GAT with fewer layers failed with a KeyError; and
    LightGCN's score_history silently propagated the history through the new n_layers.
    score and recommend read the final embeddings and still answer as fitted."""
    from minigraphrec.models.embedding_base import PairBatch
    data = mgr.datasets.synthetic(n_users=60, n_items=40, random_state=0)
    model = getattr(mgr, name)(dim=8, n_layers=2, epochs=1, random_state=0) \
        if name != "MF" else mgr.MF(dim=8, epochs=1, random_state=0)
    model.fit(data)
    batch = PairBatch(np.array([0, 1]), np.array([0, 1]), np.array([2, 3]))
    loss, history, scores = model.loss_and_grad(batch)[0], model.score_history([0, 1, 2]), \
        model.score([0, 1])
    (key, value), = change.items()
    model.set_params(**change)
    calls = {"loss_and_grad": lambda: model.loss_and_grad(batch),
             "explain": lambda: model.explain(0, 1),
             "score_history": lambda: model.score_history([0, 1, 2]),
             "recommend_history": lambda: model.recommend_history([0, 1, 2])}
    if name == "GAT":
        calls["attention_along"] = lambda: model.attention_along([0, 60 + 1])
    old = 8 if key == "dim" else 2
    for method, call in calls.items():
        with pytest.raises(ValueError, match=fr"{name}\.{method}: hyperparameters changed "
                                             fr"since fit \({key}={old} -> {value}\)"):
            call()
    np.testing.assert_array_equal(model.score([0, 1]), scores)
    model.set_params(**{key: old}, reg=0.5, lr=0.1)          # training settings are free
    assert model.loss_and_grad(batch)[0] != loss             # reg enters the loss
    model.set_params(reg=mgr.MF().reg if name == "MF" else getattr(mgr, name)().reg)
    assert model.loss_and_grad(batch)[0] == loss
    np.testing.assert_array_equal(model.score_history([0, 1, 2]), history)


@pytest.mark.parametrize("name", ["LightGCN", "GCN"])
def test_explain_refuses_a_cache_older_than_params(name):
    """After loss_and_grad and Adam steps by hand, LightGCN's exact split summed to 0.00319
    against a reported score of 0.00158 (layer-0 rows from params, the score from the cache
    fit had left); GCN's halves (zero biases, ReLU: exact) did not add up either. Now a
    stale cache is refused, and refresh_embeddings() makes the split add up again."""
    from minigraphrec.models.embedding_base import PairBatch
    data = mgr.datasets.synthetic(n_users=60, n_items=40, random_state=0)
    kw = dict(dim=8, n_layers=2, epochs=1, random_state=0, dtype="float64")
    model = getattr(mgr, name)(**kw).fit(data)
    biases = [key for key in model.params if key.startswith("b")]
    batch = PairBatch(np.arange(10), np.arange(10) % 40, (np.arange(10) + 7) % 40)
    opt = mgr.Adam(lr=0.05)
    for _ in range(3):
        opt.step(model.params, model.loss_and_grad(batch)[1])
        for key in biases:
            model.params[key][...] = 0.0                 # no biases: GCN's halves are exact
    cached = model.score([0])[0, 5]
    with pytest.raises(RuntimeError, match=fr"{name}\.explain: params changed since the final "
                                           r"embeddings were cached .* refresh_embeddings\(\)"):
        model.explain(0, 5)
    assert model.refresh_embeddings() is model
    assert model.score([0])[0, 5] != cached              # the cache was stale until now
    e = model.explain(0, 5, k=None)
    assert e.score == model.score([0])[0, 5]
    np.testing.assert_allclose(e.contributions.sum(), e.score, rtol=1e-12)


@pytest.mark.parametrize("name", ["LightGCN", "GAT"])
def test_explain_refuses_even_a_tiny_step(name, tmp_path):
    """One float32 Adam step at lr 1e-4 moved LightGCN's rows by less than a tolerance of
    1e-4 would see, and its "exact" split summed to 0.000512 against 0.000508: the check
    compares a digest of params, not values. A loaded model's cache is taken as current."""
    from minigraphrec.models.embedding_base import PairBatch
    data = mgr.datasets.synthetic(n_users=60, n_items=40, random_state=0)
    model = getattr(mgr, name)(dim=8, n_layers=2, epochs=1, random_state=0).fit(data)
    model.explain(0, 5)
    batch = PairBatch(np.arange(10), np.arange(10) % 40, (np.arange(10) + 7) % 40)
    mgr.Adam(lr=1e-4).step(model.params, model.loss_and_grad(batch)[1])
    with pytest.raises(RuntimeError, match="refresh_embeddings"):
        model.explain(0, 5)
    model.refresh_embeddings().save(tmp_path / "m.npz")
    assert mgr.load(tmp_path / "m.npz").explain(0, 5).score == model.explain(0, 5).score


def test_refresh_embeddings_checks_the_model():
    with pytest.raises(RuntimeError, match="no parameters yet"):
        mgr.LightGCN().refresh_embeddings()
    data = mgr.datasets.synthetic(n_users=60, n_items=40, random_state=0)
    model = mgr.MF(dim=4, epochs=1, random_state=0).fit(data).set_params(dim=8)
    with pytest.raises(ValueError, match=r"MF\.refresh_embeddings: hyperparameters changed"):
        model.refresh_embeddings()


@pytest.mark.parametrize("name", ["MF", "LightGCN"])
def test_forget_retrains_by_default(data, name):
    """The default was fine_tune, which leaves what the forgotten pairs taught in the
    parameters (and the items no longer excluded as seen): forget now means a fit without
    the data unless the approximation is asked for."""
    m = make(name).fit(data)
    rest = m._removal(users=[4])
    oracle = make(name).fit(m._training_interactions(rest.R, rest.user_ids))
    m.forget(users=[4])
    assert m.forget_method_ == "retrain"
    assert params_equal(m.params, oracle.params)


@pytest.mark.parametrize("name", ["MF", "LightGCN"])
def test_forget_refuses_epochs_for_a_retrain_rather_than_drop_them(data, name):
    """forget(users=[1], epochs=2) meant two epochs of fine-tuning; with retrain the default
    it ran the constructor's epochs and dropped the 2, silently."""
    m = make(name).fit(data)
    before = {k: v.copy() for k, v in m.params.items()}
    with pytest.raises(DataError, match=r"forget\(epochs=2\) sets the epochs of "
                                        r"method='fine_tune'; method='retrain', the default"):
        m.forget(users=[1], epochs=2)
    assert all(np.array_equal(v, before[k]) for k, v in m.params.items())   # unchanged
    assert m.forget(users=[1], epochs=2, method="fine_tune").forget_method_ == "fine_tune"
    hybrid = mgr.Hybrid([make(name), mgr.ItemKNN()]).fit(data)
    with pytest.raises(DataError, match=r"forget\(epochs=2\) sets the epochs"):
        hybrid.forget(users=[1], epochs=2)


@pytest.mark.parametrize("name", list(MODELS))
def test_forget_keeps_nothing_derived_from_the_old_state(data, name):
    """After forget, neither a value kept for reuse (the prepared item table, GAT's edge
    permutation) nor a scratch array computed before it stays on the model: they held,
    in memory, what the model that saw the forgotten data computed."""
    from minigraphrec.models.base import _Kept

    def derived(model):
        return ({k: v.value for k, v in vars(model).items() if isinstance(v, _Kept)},
                vars(model).get("_workspace"))

    for method, kw in (("fine_tune", {"epochs": 0}), ("retrain", {})):
        m = make(name).fit(data)
        m.score(np.arange(3))                        # prepares (and keeps) the item table
        kept, workspace = derived(m)
        assert kept["_prepared_items"] is not None
        m.set_params(epochs=0)                       # a retrain without training steps
        m.forget(users=[2], method=method, **kw)
        now_kept, now_workspace = derived(m)
        assert not any(now_kept.get(k) is v for k, v in kept.items() if v is not None), method
        assert workspace is None or now_workspace is not workspace, method
        m.score(np.arange(3))                        # made again from the new state
        assert vars(m)["_prepared_items"].source is m.item_embeddings_


@pytest.mark.parametrize("name", ["MF", "GCN", "GAT"])
def test_an_interrupted_update_leaves_the_model_unchanged(data, name, monkeypatch):
    """A KeyboardInterrupt in the second epoch of partial_fit or forget's fine-tuning."""
    import minigraphrec.train as train
    m = make(name).fit(data)
    scores = m.score(np.arange(40))
    state = dict(vars(m))
    params = {k: v.copy() for k, v in m.params.items()}
    moments = {k: v.copy() for k, v in m.optimizer_state_.items()}
    history = list(m.history_)
    run_epoch = train.run_epoch

    def interrupted(model, batches, optimizer, gradient, epoch, *args, **kwargs):
        if epoch == 2:
            raise KeyboardInterrupt
        return run_epoch(model, batches, optimizer, gradient, epoch, *args, **kwargs)

    monkeypatch.setattr(train, "run_epoch", interrupted)
    for update in (lambda: m.partial_fit(new_events(data), epochs=3),
                   lambda: m.forget(users=[1], method="fine_tune", epochs=3)):
        with pytest.raises(KeyboardInterrupt):
            update()
        assert set(vars(m)) <= set(state) and m.n_users_ == 40 and m.R_ is state["R_"]
        assert params_equal(m.params, params) and params_equal(m.optimizer_state_, moments)
        assert m.history_ == history and m.rng_state_ == state["rng_state_"]
        np.testing.assert_array_equal(m.score(np.arange(40)), scores)


def test_partial_fit_names_the_new_features_it_refuses(data):
    m = mgr.GCN(dim=4, epochs=1, input="both", random_state=0).fit(
        synthetic(n_users=30, n_items=20, mean_interactions=5, random_state=0))
    new = mgr.Interactions([0, 1], [0, 1], user_ids=[500, 501], item_ids=[0, 1],
                           user_features=np.ones((2, m.user_features_.shape[1])),
                           item_features=np.ones((2, m.item_features_.shape[1])))
    new.user_features = np.full_like(new.user_features, np.nan)    # set after the check
    with pytest.raises(DataError, match=r"new_interactions\.user_features contains NaN"):
        m.partial_fit(new, epochs=0)


def _neighbour_init_one_by_one(X, R, n_u0, n_i0, rng):
    """The readable reference of embedding_base._neighbour_init: one node at a time."""
    n_u, n_i = R.shape
    X = X.copy()
    sigma = float(np.concatenate([X[:n_u0], X[n_u:n_u + n_i0]]).std())
    orphans = []
    C = sp.csc_matrix(R)
    for j in range(n_i0, n_i):                                            # new items
        users = C.indices[C.indptr[j]:C.indptr[j + 1]]
        users = users[users < n_u0]
        if users.size:
            X[n_u + j] = X[users].mean(axis=0)
        else:
            orphans.append(n_u + j)
    done = set(orphans)
    for u in range(n_u0, n_u):                                            # new users
        items = R.indices[R.indptr[u]:R.indptr[u + 1]]
        items = items[np.array([n_u + j not in done for j in items], dtype=bool)]
        if items.size:
            X[u] = X[n_u + items].mean(axis=0)
        else:
            orphans.append(u)
    if orphans:
        orphans = np.sort(np.asarray(orphans))
        X[orphans] = (sigma * rng.standard_normal((orphans.size,) + X.shape[1:])).astype(X.dtype)
    return X


def test_neighbour_init_has_the_bits_of_the_one_by_one_means():
    """Taken by degree, the means are NumPy's X[nbrs].mean(axis=0) of each node, bit for
    bit: sequential sums over a trailing shape of several entries, pairwise ones (which
    differ from sequential from 8 terms on) over shapes (), (1,), (1, 1); degrees past 8
    and 128 (the pairwise blocks) and a 3,000-user item."""
    from minigraphrec.models.embedding_base import _neighbour_init
    rng = np.random.default_rng(0)
    for trial in range(6):
        n_u, n_i = 3000 if trial == 0 else 90, 70
        R = sp.random(n_u, n_i, density=0.3 if trial else 0.01, format="lil", random_state=trial)
        R[:, n_i - 1] = 1                                 # a new item every user has
        R[n_u - 1, :] = 1                                 # a new user with every item
        R = sp.csr_matrix(R)
        R.data[:] = 1.0
        R.sort_indices()
        n_u0, n_i0 = n_u - 1 - trial * 5, n_i - 1 - trial * 9
        for dtype in (np.float32, np.float64):
            for tail in ((), (1,), (1, 1), (2,), (9,), (3, 1), (2, 5)):
                X = (rng.standard_normal((n_u + n_i,) + tail) * 30).astype(dtype)
                X[n_u0:n_u] = 0
                X[n_u + n_i0:] = 0
                want = _neighbour_init_one_by_one(X, R, n_u0, n_i0, np.random.default_rng(1))
                got = _neighbour_init(X, R, n_u0, n_i0, np.random.default_rng(1))
                assert got.dtype == want.dtype and got.shape == want.shape
                assert got.tobytes() == want.tobytes(), (trial, dtype, tail)
