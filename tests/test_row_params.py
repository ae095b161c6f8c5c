"""``EmbeddingRecommender._row_params``: the parameters ``partial_fit`` and ``forget`` grow and
shrink with the users and items, beyond ``E0``.

A custom model written the documented way (docs/extending.md): ``BiasedMF``, MF with an item
bias ``b`` ("items"), a user bias ``c`` ("users") and a shared global bias ``mu`` (not
listed), and ``NodeBiasedMF``, the same biases held in one node-indexed vector ``g``
("nodes"). Their gradients pass the check; ``partial_fit(epochs=0)`` gives the documented
new rows and zero Adam rows; ``forget`` drops the user rows and keeps the item rows; a listed
parameter of the wrong length is refused with the model unchanged; and the built-in models
give, bit for bit, what the E0-only code gave (an oracle written from it).
"""
from __future__ import annotations

import numpy as np
import pytest

import minigraphrec as mgr
from conftest import raw_id_interactions
from minigraphrec.errors import DataError
from minigraphrec.models.embedding_base import (_grow_rows, _neighbour_init, _remap_adam,
                                                _select_adam)


class BiasedMF(mgr.MF):
    r"""MF with biases: ``s_ui = e_u · e_i + b_i + c_u + mu``.

    The final embeddings carry the biases as extra columns, so the base class's dot product,
    loss and scoring see them: a user is ``[e_u, 1, c_u, mu]``, an item ``[e_i, b_i, 1, 1]``.
    The L2 term applies to ``E0`` (the layer-0 rows ``H0``) only.
    """

    _row_params = {**mgr.MF._row_params, "b": "items", "c": "users"}   # mu: shared

    def _init_params(self, rng):
        params = super()._init_params(rng)                              # E0 first, as MF
        params["b"] = (0.1 * rng.standard_normal(self.n_items_)).astype(self._dtype)
        params["c"] = (0.1 * rng.standard_normal(self.n_users_)).astype(self._dtype)
        params["mu"] = np.array([0.05], dtype=self._dtype)
        return params

    def _biases(self):
        """(user bias (n_users,), item bias (n_items,))."""
        return self.params["c"], self.params["b"]

    def _bias_grads(self, dc, db):
        return {"c": dc, "b": db}

    def _extra(self):
        """The bias columns of every node (n_nodes, 3): users [1, c_u, mu], items [b_i, 1, 1]."""
        c, b = self._biases()
        mu = self.params["mu"][0]
        users = np.column_stack([np.ones_like(c), c, np.full_like(c, mu)])
        items = np.column_stack([b, np.ones_like(b), np.ones_like(b)])
        return np.vstack([users, items])

    def _forward_rows(self, nodes):
        H0 = self.params["E0"][nodes]                                   # (m, d)
        return np.hstack([H0, self._extra()[nodes]]), H0, nodes        # Z (m, d + 3)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        nodes, n_u, d = cache, self.n_users_, self.params["E0"].shape[1]
        dE0 = np.zeros_like(self.params["E0"])
        dE0[nodes] = dZ[:, :d] + dH0                                    # nodes are distinct
        user, item = nodes < n_u, nodes >= n_u
        c, b = self._biases()
        dc, db = np.zeros_like(c), np.zeros_like(b)
        dc[nodes[user]] = dZ[user, d + 1]
        db[nodes[item] - n_u] = dZ[item, d]
        dmu = np.array([dZ[user, d + 2].sum()], dtype=dE0.dtype)
        return {"E0": dE0, "mu": dmu, **self._bias_grads(dc, db)}

    def _all_embeddings(self):
        return np.hstack([self.params["E0"], self._extra()])           # (n_nodes, d + 3)


class NodeBiasedMF(BiasedMF):
    """The same score, the user and item biases in one node-indexed vector ``g`` (users first)."""

    _row_params = {**mgr.MF._row_params, "g": "nodes"}

    def _init_params(self, rng):
        params = super()._init_params(rng)
        params["g"] = np.concatenate([params.pop("c"), params.pop("b")])
        return params

    def _biases(self):
        g = self.params["g"]
        return g[:self.n_users_], g[self.n_users_:]

    def _bias_grads(self, dc, db):
        return {"g": np.concatenate([dc, db])}


def make(cls=BiasedMF, **kw):
    params = dict(dim=4, epochs=2, batch_size=32, lr=0.01, dtype="float64", random_state=0)
    params.update(kw)
    return cls(**params)


@pytest.fixture(scope="module")
def data():
    return raw_id_interactions()


def new_events():
    """Old users and items, new users 9001, 9002 (neighbours) and 9003 (an orphan with the
    orphan item 7002), a new item 7001 with an old user: merged ids 40, 41, 42; 50, 51."""
    users = np.array([1000, 1001, 1002, 9001, 9001, 9002, 1003, 9003])
    items = np.array([5003, 5004, 7001, 5000, 7001, 7001, 5010, 7002])
    user_raw, u = np.unique(users, return_inverse=True)
    item_raw, i = np.unique(items, return_inverse=True)
    return mgr.Interactions(u, i, user_ids=user_raw, item_ids=item_raw)


def copy_state(m):
    return ({k: v.copy() for k, v in m.params.items()},
            {k: np.array(v, copy=True) for k, v in m.optimizer_state_.items()})


def same(a, b):
    return a.keys() == b.keys() and all(
        np.asarray(a[k]).dtype == np.asarray(b[k]).dtype and np.array_equal(a[k], b[k])
        for k in a)


# ================================================================ the custom model
@pytest.mark.parametrize("cls", [BiasedMF, NodeBiasedMF])
def test_the_biased_models_gradients_pass_the_check(data, cls):
    m = make(cls).fit(data, epochs=0)
    rng = np.random.default_rng(0)
    for batch in (mgr.train.bpr_batches(m.R_, 16, rng)[0],
                  mgr.train.bce_batches(m.R_, 16, 2, rng)[0]):
        checked = mgr.check_model_grads(m, batch)
        assert set(checked) == set(m.params)
    S = m.score(np.arange(3))                                           # the score it claims
    c, b = m._biases()
    E0 = m.params["E0"]
    expected = E0[:3] @ E0[40:].T + b[None, :] + c[:3, None] + m.params["mu"][0]
    np.testing.assert_allclose(S, expected, rtol=1e-12, atol=1e-14)


# ================================================================ partial_fit
def test_partial_fit_grows_each_listed_parameter_by_its_space(data):
    m = make().fit(data)
    (P, A), n_u, n_i = copy_state(m), 43, 52
    step = m.step_
    m.partial_fit(new_events(), epochs=0)
    assert (m.n_users_, m.n_items_) == (n_u, n_i) and m.step_ == step
    old_users, old_items = np.arange(40), np.arange(50)
    old_nodes = np.r_[old_users, n_u + old_items]
    # the item bias: old entries unchanged, new ones at the mean of the old entries
    b, c = m.params["b"], m.params["c"]
    assert b.shape == (n_i,) and c.shape == (n_u,)
    np.testing.assert_array_equal(b[:50], P["b"])
    np.testing.assert_array_equal(b[50:], np.full(2, P["b"].mean()))
    np.testing.assert_array_equal(c[:40], P["c"])
    np.testing.assert_array_equal(c[40:], np.full(3, P["c"].mean()))
    np.testing.assert_array_equal(m.params["mu"], P["mu"])               # shared: kept
    # E0 as for every model: old rows kept, new ones from their neighbours
    E0 = m.params["E0"]
    np.testing.assert_array_equal(E0[old_nodes], P["E0"])
    np.testing.assert_allclose(E0[n_u + 50], P["E0"][2])                # item 7001: user 1002
    np.testing.assert_allclose(E0[40], E0[[n_u + 0, n_u + 50]].mean(axis=0))   # user 9001
    # Adam's moments: grown like their parameters, zero rows for the new entries
    for slot in ("m", "v"):
        for key, old_rows, n in (("E0", old_nodes, n_u + n_i), ("b", old_items, n_i),
                                 ("c", old_users, n_u)):
            M = m.optimizer_state_[f"{slot}:{key}"]
            assert M.shape == (n,) + A[f"{slot}:{key}"].shape[1:]
            np.testing.assert_array_equal(M[old_rows], A[f"{slot}:{key}"])
            assert not np.delete(M, old_rows, axis=0).any()
        np.testing.assert_array_equal(m.optimizer_state_[f"{slot}:mu"], A[f"{slot}:mu"])
    # the scores are those of the grown parameters
    S = m.score(np.arange(n_u))
    expected = E0[:n_u] @ E0[n_u:].T + b[None, :] + c[:, None] + P["mu"][0]
    np.testing.assert_allclose(S, expected, rtol=1e-12, atol=1e-14)


def test_partial_fit_trains_saves_and_goes_on(data, tmp_path):
    a, b = make().fit(data), make().fit(data)
    a.partial_fit(new_events(), epochs=2)
    b.partial_fit(new_events(), epochs=2)
    assert same(a.params, b.params) and same(a.optimizer_state_, b.optimizer_state_)
    assert a.params["b"].shape == (52,) and np.isfinite(a.score(np.arange(43))).all()
    path = tmp_path / "biased.npz"
    a.save(path)
    back = mgr.load(path)
    assert same(back.params, a.params) and same(back.optimizer_state_, a.optimizer_state_)
    more = mgr.Interactions([0], [0], user_ids=[9100], item_ids=[7100])   # one more of each
    back.partial_fit(more, epochs=1)
    assert back.params["b"].shape == (53,) and back.params["c"].shape == (44,)


def test_a_node_indexed_parameter_grows_as_e0(data):
    """A "nodes" parameter of any trailing shape takes E0's rule: its new rows from their
    neighbours, the orphans' drawn after E0's, in _row_params' order."""
    m = make(NodeBiasedMF).fit(data)
    (P, A), n_u, n_i = copy_state(m), 43, 52
    rng = m._update_rng()
    merge = m._merge_new(new_events())
    m.partial_fit(new_events(), epochs=0)
    old_nodes = np.r_[np.arange(40), n_u + np.arange(50)]
    E0 = _neighbour_init(_grow_rows(P["E0"], old_nodes, n_u + n_i), merge.R, 40, 50, rng)
    g = _neighbour_init(_grow_rows(P["g"], old_nodes, n_u + n_i), merge.R, 40, 50, rng)
    np.testing.assert_array_equal(m.params["E0"], E0)
    np.testing.assert_array_equal(m.params["g"], g)
    np.testing.assert_array_equal(g[n_u + 50], P["g"][2])                # item 7001: user 1002
    assert g[42] != 0 and g[n_u + 51] != 0                               # the orphans: drawn
    for slot in ("m", "v"):
        M = m.optimizer_state_[f"{slot}:g"]
        np.testing.assert_array_equal(M[old_nodes], A[f"{slot}:g"])
        assert not np.delete(M, old_nodes).any()


# ================================================================ forget
@pytest.mark.parametrize("cls", [BiasedMF, NodeBiasedMF])
def test_forget_drops_the_user_rows_and_keeps_the_item_rows(data, cls):
    m = make(cls).fit(data)
    P, A = copy_state(m)
    keep = np.setdiff1d(np.arange(40), [2, 7])
    rows = {"E0": np.r_[keep, 40 + np.arange(50)], "b": np.arange(50), "c": keep,
            "g": np.r_[keep, 40 + np.arange(50)], "mu": slice(None)}
    m.forget(users=[2, 7], epochs=0, method="fine_tune")
    assert m.n_users_ == 38 and m.params.keys() == P.keys()
    for key, value in m.params.items():
        np.testing.assert_array_equal(value, P[key][rows[key]])
        for slot in ("m", "v"):
            np.testing.assert_array_equal(m.optimizer_state_[f"{slot}:{key}"],
                                          A[f"{slot}:{key}"][rows[key]])
    c, b = m._biases()
    E0 = m.params["E0"]
    expected = E0[:38] @ E0[38:].T + b[None, :] + c[:, None] + P["mu"][0]
    np.testing.assert_allclose(m.score(np.arange(38)), expected, rtol=1e-12, atol=1e-14)
    m.forget(users=[0], epochs=2, method="fine_tune")                   # and it trains on
    assert [v.shape for v in m._biases()] == [(37,), (50,)]
    assert np.isfinite(m.score(np.arange(37))).all()


# ================================================================ refused
def test_a_listed_parameter_of_the_wrong_length_is_refused_with_the_model_unchanged(data):
    m = make().fit(data)
    m.params["b"] = m.params["b"][:-1]                                  # (49,), 50 items
    P, A = copy_state(m)
    R, scores = m.R_.copy(), m.score(np.arange(40))
    with pytest.raises(DataError, match=r"parameter 'b' is listed in _row_params as indexed "
                                        r"by items \(50 rows.*shape \(49,\)"):
        m.partial_fit(new_events(), epochs=0)
    with pytest.raises(DataError, match="parameter 'b'"):
        m.forget(users=[3], epochs=0, method="fine_tune")
    assert m.forget(users=[]) is m                                      # nothing to forget
    assert (m.n_users_, m.n_items_) == (40, 50) and (m.R_ != R).nnz == 0
    assert same(m.params, P) and same(m.optimizer_state_, A)
    np.testing.assert_array_equal(m.score(np.arange(40)), scores)
    assert not hasattr(m, "forget_method_")


def test_an_unknown_space_is_refused(data):
    class Bad(BiasedMF):
        _row_params = {**mgr.MF._row_params, "b": "item"}

    m = make(Bad).fit(data)
    P, _ = copy_state(m)
    with pytest.raises(ValueError, match=r"Bad._row_params\['b'\] must be one of "
                                         r"\('nodes', 'users', 'items'\), got 'item'"):
        m.partial_fit(new_events(), epochs=0)
    assert m.n_users_ == 40 and same(m.params, P)


# ================================================ the built-in models, as before
def e0_only_partial_fit(m, new, epochs):
    """What partial_fit did before _row_params (a model without features or edge weights)."""
    merge = m._merge_new(new)
    n_u0, n_i0 = m.n_users_, m.n_items_
    out = m._update_copy()
    rng = out._update_rng()
    n_u, n_i = merge.R.shape
    out.R_, out.n_users_, out.n_items_ = merge.R, n_u, n_i
    out.user_ids_, out.item_ids_ = merge.user_ids, merge.item_ids
    out._set_item_labels(merge.item_labels)
    out._build(merge.R, None, None)
    old_nodes = np.concatenate([np.arange(n_u0), n_u + np.arange(n_i0)])
    E0 = _grow_rows(m.params["E0"], old_nodes, n_u + n_i)
    out.params["E0"] = _neighbour_init(E0, merge.R, n_u0, n_i0, rng)
    out.optimizer_state_ = _remap_adam(m.optimizer_state_, "E0", old_nodes, n_u + n_i)
    out._train_users(np.unique(merge.users), epochs, rng)
    out._finish_update(rng)
    return out


def e0_only_forget(m, users, epochs):
    """What forget(users, method="fine_tune") did before _row_params (no features or weights)."""
    removal = m._removal(users)
    keep = removal.keep_users
    out = m._update_copy()
    rng = out._update_rng()
    n_u0, n_i = m.n_users_, m.n_items_
    out.R_, out.n_users_, out.user_ids_ = removal.R, keep.shape[0], removal.user_ids
    out._build(removal.R, None, None)
    old_nodes = np.concatenate([keep, n_u0 + np.arange(n_i)])
    out.params["E0"] = np.ascontiguousarray(m.params["E0"][old_nodes])
    out.optimizer_state_ = _select_adam(m.optimizer_state_, "E0", old_nodes)
    items = np.unique(np.concatenate([m.R_[u].indices for u in removal.removed_users]))
    touched = np.flatnonzero(np.asarray(removal.R[:, items].sum(axis=1)).ravel() > 0)
    out._train_users(touched, epochs, rng)
    out._finish_update(rng)
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cls", [mgr.MF, mgr.LightGCN])
def test_the_built_in_models_update_as_before(data, cls, dtype):
    m = make(cls, dtype=dtype, dim=6).fit(data)
    oracle = e0_only_partial_fit(m, new_events(), epochs=2)
    m.partial_fit(new_events(), epochs=2)
    assert same(m.params, oracle.params) and same(m.optimizer_state_, oracle.optimizer_state_)
    assert m.step_ == oracle.step_
    np.testing.assert_array_equal(m.score(np.arange(43)), oracle.score(np.arange(43)))
    oracle = e0_only_forget(m, [2, 41], epochs=2)
    m.forget(users=[2, 41], epochs=2, method="fine_tune")
    assert same(m.params, oracle.params) and same(m.optimizer_state_, oracle.optimizer_state_)
    np.testing.assert_array_equal(m.score(np.arange(41)), oracle.score(np.arange(41)))
