"""SR-GNN: session graphs by hand, learning a planted order, the estimator API, bad input."""
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import DataError
from minigraphrec.ops import session_graphs
from minigraphrec.sequences import Sequences, evaluate_next_item, leave_last_out, user_sequences


def test_session_graph_by_hand():
    # items 5 -> 2 -> 5 -> 5 -> 7: nodes (sorted ids) 2, 5, 7; edges 5→2, 2→5, 5→5, 5→7
    G = session_graphs(Sequences.from_lists([[5, 2, 5, 5, 7], [1]], n_items=8))
    assert G.node_items.tolist() == [[2, 5, 7], [1, 0, 0]]
    assert G.node_mask.tolist() == [[True, True, True], [True, False, False]]
    assert G.alias[0].tolist() == [1, 0, 1, 1, 2] and G.last.tolist() == [4, 0]
    assert G.pos_mask[1].tolist() == [True, False, False, False, False]
    M = np.zeros((3, 3))
    for i, j in [(1, 0), (0, 1), (1, 1), (1, 2)]:
        M[i, j] = 1
    A_out = M / np.maximum(M.sum(1, keepdims=True), 1)           # node 5 points to 2, 5, 7
    A_in = M.T / np.maximum(M.T.sum(1, keepdims=True), 1)
    np.testing.assert_allclose(G.A_out[0], A_out, rtol=0, atol=1e-15)
    np.testing.assert_allclose(G.A_in[0], A_in, rtol=0, atol=1e-15)
    assert G.A_out[0, 1].tolist() == [1 / 3, 1 / 3, 1 / 3]
    assert not G.A_in[1].any() and not G.A_out[1].any()          # one item, no edge


def _cyclic(n_items=12, n_users=40, length=8, seed=0):
    """Each user walks the catalogue in steps of +1 from a random start: next = last + 1."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        start = rng.integers(n_items)
        for t in range(length):
            users.append(u)
            items.append((start + t) % n_items)
            times.append(t)
    return mgr.Interactions(users, items, n_items=n_items, timestamps=times)


class _Popularity:
    def __init__(self, train):
        self.counts = np.bincount(train.items, minlength=train.n_items).astype(float)

    def score_sessions(self, sessions):
        return np.tile(self.counts, (len(sessions), 1))


def test_learns_a_planted_order_and_beats_popularity():
    train, prefixes, targets = leave_last_out(user_sequences(_cyclic()))
    model = mgr.SRGNN(dim=16, epochs=8, lr=0.01, lr_decay_every=100, batch_size=32,
                      random_state=0).fit(train)
    losses = [r["loss"] for r in model.history_]
    assert losses[-1] < 0.5 * losses[0]
    ours = evaluate_next_item(model, prefixes, targets, k=(1, 5))
    pop = evaluate_next_item(_Popularity(train), prefixes, targets, k=(1, 5))
    assert ours["hit@1"] > 0.8 and pop["hit@5"] < 0.6
    items, _ = model.recommend_history([3, 4, 5], k=1)
    assert items[0] == 6


def test_same_seed_same_model_and_score_equals_history():
    data = _cyclic(n_users=10)
    a = mgr.SRGNN(dim=8, epochs=2, random_state=3).fit(data)
    b = mgr.SRGNN(dim=8, epochs=2, random_state=3).fit(data)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    seq = user_sequences(data)[4]
    np.testing.assert_array_equal(a.score([4])[0], a.score_history(seq))
    assert a.params["E"].dtype == np.float32


def test_lr_decays_every_three_epochs():
    model = mgr.SRGNN(dim=4, epochs=7, random_state=0).fit(_cyclic(n_users=5))
    lrs = [r["lr"] for r in model.history_]
    assert lrs == pytest.approx([1e-3] * 3 + [1e-4] * 3 + [1e-5])


def test_validation_metrics_in_history():
    train, prefixes, targets = leave_last_out(user_sequences(_cyclic(n_users=8)))
    model = mgr.SRGNN(dim=4, epochs=1, random_state=0).fit(train, validation=(prefixes, targets))
    assert {"hit@20", "mrr@20", "ndcg@20"} <= set(model.history_[0])


def test_bad_input():
    with pytest.raises(DataError, match="timestamps"):
        mgr.SRGNN().fit(mgr.Interactions([0, 0], [0, 1]))
    singles = Sequences.from_lists([[0], [1]], n_items=3)
    with pytest.raises(DataError, match="at least two"):
        mgr.SRGNN(dim=4).fit(singles)
    model = mgr.SRGNN(dim=4, epochs=0, random_state=0).fit(_cyclic(n_users=3))
    with pytest.raises(DataError, match="item 12 at position 1"):
        model.recommend_history([1, 12])
    with pytest.raises(DataError, match="non-empty"):
        model.score_history([])
    with pytest.raises(DataError, match="integers"):
        model.score_history([1.5])
    with pytest.raises(DataError, match="readout"):
        mgr.SRGNN(readout="max").fit(_cyclic(n_users=3))
    with pytest.raises(RuntimeError, match="fit"):
        mgr.SRGNN().score_history([0])
