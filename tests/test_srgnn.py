"""SR-GNN: session graphs by hand, learning a planted order, the estimator API, bad input."""
import numpy as np
import pytest

import minigraphrec as mgr
from conftest import check_bad_hyperparameter, check_bad_session_histories, cyclic_walks
from minigraphrec import DataError
from minigraphrec.ops import session_graphs
from minigraphrec.ops.session import (_sigmoid, gru_cell_backward, gru_cell_forward, index_add,
                                      padded_adjacency)
from minigraphrec.sequences import Sequences, evaluate_next_item, leave_last_out, user_sequences


def test_session_graph_by_hand():
    # items 5 -> 2 -> 5 -> 5 -> 7: nodes (sorted ids) 2, 5, 7; edges 5→2, 2→5, 5→5, 5→7
    G = session_graphs(Sequences.from_lists([[5, 2, 5, 5, 7], [1]], n_items=8))
    assert G.node_items.tolist() == [2, 5, 7, 1] and G.node_ptr.tolist() == [0, 3, 4]
    assert G.alias.tolist() == [1, 0, 1, 1, 2, 3] and G.pos_ptr.tolist() == [0, 5, 6]
    assert G.last.tolist() == [4, 5]
    M = np.zeros((3, 3))
    for i, j in [(1, 0), (0, 1), (1, 1), (1, 2)]:
        M[i, j] = 1
    A_out = M / np.maximum(M.sum(1, keepdims=True), 1)           # node 5 points to 2, 5, 7
    A_in = M.T / np.maximum(M.T.sum(1, keepdims=True), 1)
    np.testing.assert_allclose(G.A_out.toarray()[:3, :3], A_out, rtol=0, atol=1e-15)
    np.testing.assert_allclose(G.A_in.toarray()[:3, :3], A_in, rtol=0, atol=1e-15)
    assert G.A_out.toarray()[1, :3].tolist() == [1 / 3, 1 / 3, 1 / 3]
    assert not G.A_in.toarray()[3].any() and not G.A_out.toarray()[3].any()   # one item
    assert G.A_in.nnz == G.A_out.nnz == 4                        # block diagonal: no cross edge
    D_in, D_out, nodes = padded_adjacency(G)                    # the padded dense layout
    assert nodes.tolist() == [[0, 1, 2], [3, -1, -1]]
    np.testing.assert_array_equal(D_out[0], G.A_out.toarray()[:3, :3])
    np.testing.assert_array_equal(D_in[0], A_in)
    assert not D_in[1].any() and not D_out[1].any()


@pytest.mark.parametrize("path", ["parallel", "serial"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_numba_kernels_equal_numpy_reference(dtype, path, monkeypatch):
    """The fused numba passes give the NumPy reference's bits, forward and backward, in
    parallel and in their serial twins (small arrays)."""
    from minigraphrec.kernels import session as kernels
    from minigraphrec.ops.session import _gru_kernel
    monkeypatch.setattr(kernels, "PARALLEL_FROM", 0 if path == "parallel" else 10 ** 9)
    chosen = _gru_kernel("gru_update_rows", 37 * 5)
    assert chosen is (kernels.gru_update_rows if path == "parallel"
                      else kernels.gru_update_rows_serial)
    rng = np.random.default_rng(0)
    a, h = rng.standard_normal((37, 10)), rng.standard_normal((37, 5))
    W, U, b = rng.standard_normal((10, 15)), rng.standard_normal((5, 15)), rng.standard_normal(15)
    dh = rng.standard_normal((37, 5))
    args = [x.astype(dtype) for x in (a, h, W, U, b)]
    out = {}
    for backend in ("numpy", "numba"):
        h_new, cache = gru_cell_forward(*args, backend=backend)
        out[backend] = (h_new,) + tuple(gru_cell_backward(cache, dh.astype(dtype)))
    for x, y in zip(out["numpy"], out["numba"]):
        assert x.dtype == dtype
        np.testing.assert_array_equal(x, y)


def test_sessions_of_one_batch_do_not_mix():
    """Each session's graph, states and session vector are what it gets alone."""
    lists = [[4, 1, 4, 2], [0], [3, 3, 5, 1, 0, 5], [2, 1]]
    model = mgr.SRGNN(dim=6, n_steps=2, dtype="float64", random_state=0).fit(
        Sequences.from_lists(lists, n_items=6), epochs=0)
    together = model.score_sessions(Sequences.from_lists(lists, n_items=6))
    for b, items in enumerate(lists):
        alone = model.score_history(items)
        np.testing.assert_allclose(together[b], alone, rtol=1e-12, atol=1e-12)


def test_index_add_and_sigmoid_against_references():
    rng = np.random.default_rng(0)
    index = rng.integers(0, 7, 40)
    V = rng.standard_normal((40, 3)).astype(np.float32)
    expected = np.zeros((9, 3), dtype=np.float32)
    np.add.at(expected, index, V)
    out = index_add(index, 9, V)
    assert out.dtype == np.float32 and out.shape == (9, 3)
    np.testing.assert_array_equal(out, expected)                  # the same sums, bit for bit
    # _sigmoid is the textbook formula, step for step (its docstring: what that costs below
    # -88.7 in float32, -709.8 in float64, where sigmoid_forward is the reference)
    x = np.array([-1000.0, -40.0, -1.5, 0.0, 2.0, 40.0, 1000.0])
    with np.errstate(over="ignore"):
        for dtype in (np.float64, np.float32):
            xd = x.astype(dtype)
            np.testing.assert_array_equal(_sigmoid(xd), 1 / (1 + np.exp(-xd)))
            assert _sigmoid(xd).dtype == dtype
    reference = mgr.ops.sigmoid_forward(x)[0]
    np.testing.assert_allclose(_sigmoid(x), reference, rtol=1e-15, atol=0)
    np.testing.assert_allclose(_sigmoid(x.astype(np.float32)), reference, rtol=2e-7, atol=0)


def test_index_add_into_an_array_adds_each_rows_sum_once():
    """With ``out``: every named row gets its terms' sum (summed in order from zero, as
    without ``out``) added once; the other rows keep their bits."""
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        index = rng.integers(0, 50, 300)
        index[:5] = 49                                            # a repeated row
        V = rng.standard_normal((300, 4)).astype(dtype)
        base = (rng.standard_normal((60, 4)) * 100).astype(dtype)
        base[55] = -0.0
        sums = np.zeros((60, 4), dtype=dtype)
        np.add.at(sums, index, V)                                 # in the order of k
        named = np.unique(index)
        expected = base.copy()
        expected[named] += sums[named]
        out = base.copy()
        assert index_add(index, 60, V, out=out) is out
        np.testing.assert_array_equal(out, expected)
        silent = np.setdiff1d(np.arange(60), named)
        assert np.array_equal(np.signbit(out[silent]), np.signbit(base[silent]))
        np.testing.assert_array_equal(index_add(index, 60, V), sums)   # the same sums alone
    assert index_add(np.zeros(0, dtype=np.int64), 3, np.zeros((0, 2))).shape == (3, 2)


def _catalogue_sessions(n_items=3000, n_users=120, length=9, seed=0):
    """Walks over a catalogue large enough that the output layer's products are BLAS calls
    OpenBLAS would thread (a batch of 64 x 32 x 3000)."""
    return cyclic_walks(n_items=n_items, n_users=n_users, length=length, seed=seed)


def test_training_does_not_depend_on_thread_counts():
    """numba and BLAS on one thread or two: the same model, bit for bit (the step runs BLAS
    serially and splits the output layer's products in fixed halves)."""
    data = _catalogue_sessions()
    fitted = []
    for n in (1, 2):
        with mgr.threads(n):
            fitted.append(mgr.SRGNN(dim=32, epochs=2, batch_size=64, random_state=0).fit(data))
    for k in fitted[0].params:
        np.testing.assert_array_equal(fitted[0].params[k], fitted[1].params[k])
    with mgr.threads(1):
        one = fitted[0].score([3, 7])
    with mgr.threads(2):
        np.testing.assert_array_equal(fitted[0].score([3, 7]), one)


def test_training_step_buffers_do_not_leak_into_loss_and_grad():
    """The training step reuses its scratch; the public ``loss_and_grad`` returns gradients
    a later call does not overwrite, with the training step's bits."""
    from minigraphrec.models.srgnn import SessionBatch
    from minigraphrec.sequences import prefix_examples
    from minigraphrec.threadpools import serial_blas
    model = mgr.SRGNN(dim=16, epochs=1, batch_size=50, random_state=0).fit(_catalogue_sessions())
    assert "_workspace" not in vars(model)                        # fit lets its scratch go
    prefixes, targets = prefix_examples(user_sequences(_catalogue_sessions()))
    first = SessionBatch(prefixes.subset(np.arange(50)), targets[:50])
    second = SessionBatch(prefixes.subset(np.arange(50, 80)), targets[50:80])
    loss1, g1 = model.loss_and_grad(first)
    kept = {k: v.copy() for k, v in g1.items()}
    loss2, g2 = model.loss_and_grad(second)
    for k in g1:
        np.testing.assert_array_equal(g1[k], kept[k])
    for batch, loss, grads in ((first, loss1, kept), (second, loss2, g2)):
        with serial_blas():                                       # as the training loop
            loss_r, grads_r = model._loss_and_grad(batch.sessions, batch.targets, reuse=True)
        assert loss_r == loss
        for k in grads:
            np.testing.assert_array_equal(grads_r[k], grads[k])


def test_forward_only_loss_is_the_loss_of_loss_and_grad_bit_for_bit():
    """fit's closing check reads one batch's loss without a backward pass."""
    from minigraphrec.sequences import prefix_examples
    from minigraphrec.threadpools import serial_blas
    model = mgr.SRGNN(dim=16, epochs=1, batch_size=50, random_state=0).fit(_catalogue_sessions())
    prefixes, targets = prefix_examples(user_sequences(_catalogue_sessions()))
    for idx in (np.arange(50), np.arange(3, 80, 7)):
        with serial_blas():
            loss = model._loss(prefixes.subset(idx), targets[idx])
            expected, _ = model._loss_and_grad(prefixes.subset(idx), targets[idx])
        assert np.isfinite(loss) and loss == expected


class _Popularity:
    def __init__(self, train):
        self.counts = np.bincount(train.items, minlength=train.n_items).astype(float)

    def score_sessions(self, sessions):
        return np.tile(self.counts, (len(sessions), 1))


def test_learns_a_planted_order_and_beats_popularity():
    train, prefixes, targets = leave_last_out(user_sequences(cyclic_walks()))
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
    data = cyclic_walks(n_users=10)
    a = mgr.SRGNN(dim=8, epochs=2, random_state=3).fit(data)
    b = mgr.SRGNN(dim=8, epochs=2, random_state=3).fit(data)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    seq = user_sequences(data)[4]
    np.testing.assert_array_equal(a.score([4])[0], a.score_history(seq))
    assert a.params["E"].dtype == np.float32


def test_numpy_and_numba_backends_train_the_same_model():
    data = cyclic_walks(n_users=10)
    a = mgr.SRGNN(dim=8, epochs=2, backend="numpy", random_state=1).fit(data)
    b = mgr.SRGNN(dim=8, epochs=2, backend="numba", random_state=1).fit(data)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    with pytest.raises(DataError, match="backend"):
        mgr.SRGNN(backend="cuda").fit(data)


def test_lr_decays_every_three_epochs():
    model = mgr.SRGNN(dim=4, epochs=7, random_state=0).fit(cyclic_walks(n_users=5))
    lrs = [r["lr"] for r in model.history_]
    assert lrs == pytest.approx([1e-3] * 3 + [1e-4] * 3 + [1e-5])


def test_validation_metrics_in_history():
    train, prefixes, targets = leave_last_out(user_sequences(cyclic_walks(n_users=8)))
    model = mgr.SRGNN(dim=4, epochs=1, random_state=0).fit(train, validation=(prefixes, targets))
    assert {"hit@20", "mrr@20", "ndcg@20"} <= set(model.history_[0])


def _planted_with_validation(n_users=8):
    train, prefixes, targets = leave_last_out(user_sequences(cyclic_walks(n_users=n_users)))
    return train, (prefixes, targets)


def test_the_best_validation_epoch_is_restored_and_patience_stops():
    train, validation = _planted_with_validation()
    full = mgr.SRGNN(dim=4, epochs=6, lr=0.05, lr_decay=1.0, metric="mrr@20",
                     random_state=0).fit(train, validation=validation)
    scores = [r["mrr@20"] for r in full.history_]
    best = int(np.argmax(scores)) + 1                       # the first of the best
    assert full.best_epoch_ == best < 6                     # a later epoch was worse
    got = evaluate_next_item(full, *validation, k=(20,))["mrr@20"]
    assert got == scores[best - 1]                          # the best epoch's parameters
    once = mgr.SRGNN(dim=4, epochs=best, lr=0.05, lr_decay=1.0, random_state=0).fit(train)
    for name, value in once.params.items():                 # a run that stopped there
        np.testing.assert_array_equal(full.params[name], value)
    # patience: the run ends after `patience` epochs in a row without a better mrr@20
    worse = [e for e in range(2, 7) if scores[e - 1] <= max(scores[:e - 1])]
    stopped = mgr.SRGNN(dim=4, epochs=6, lr=0.05, lr_decay=1.0, metric="mrr@20", patience=1,
                        random_state=0).fit(train, validation=validation)
    assert worse[0] < best and len(stopped.history_) == worse[0]
    assert stopped.best_epoch_ == int(np.argmax(scores[:worse[0]])) + 1
    assert stopped.history_ == [dict(r, time=s["time"]) for r, s in
                                zip(full.history_, stopped.history_)]


def test_patience_without_validation_warns_and_metric_is_checked(caplog):
    with caplog.at_level("WARNING", logger="minigraphrec"):
        model = mgr.SRGNN(dim=4, epochs=1, patience=2, random_state=0).fit(
            cyclic_walks(n_users=3))
    assert "patience=2 has no effect without validation data" in caplog.text
    assert model.best_epoch_ is None and len(model.history_) == 1
    for bad in ("recall@20", "hit", "hit@0", "hit@x", 20):
        with pytest.raises(DataError, match="metric must be 'hit@K', 'mrr@K' or 'ndcg@K'"):
            mgr.SRGNN(metric=bad).fit(cyclic_walks(n_users=3))
    with pytest.raises(DataError, match="patience must be an integer >= 1 or None"):
        mgr.SRGNN(patience=0).fit(cyclic_walks(n_users=3))
    train, validation = _planted_with_validation()
    model = mgr.SRGNN(dim=4, epochs=1, metric="ndcg@5", random_state=0).fit(
        train, validation=validation)
    assert {"hit@20", "ndcg@5"} <= set(model.history_[0]) and model.best_epoch_ == 1


def test_bad_input():
    with pytest.raises(DataError, match="timestamps"):
        mgr.SRGNN().fit(mgr.Interactions([0, 0], [0, 1]))
    singles = Sequences.from_lists([[0], [1]], n_items=3)
    with pytest.raises(DataError, match="at least two"):
        mgr.SRGNN(dim=4).fit(singles)
    model = mgr.SRGNN(dim=4, epochs=0, random_state=0).fit(cyclic_walks(n_users=3))
    check_bad_session_histories(model)
    with pytest.raises(RuntimeError, match="fit"):
        mgr.SRGNN().score_history([0])
    with pytest.raises(RuntimeError, match=r"SRGNN has no parameters yet.*epochs=0"):
        mgr.SRGNN().loss_and_grad(None)


def test_loss_and_grad_cuts_sessions_to_max_len_as_scoring():
    """The loss of a session longer than max_len is the cross-entropy of its scores."""
    from minigraphrec.models.srgnn import SessionBatch
    train = Sequences.from_lists([list(range(8)), [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]], n_items=8)
    model = mgr.SRGNN(dim=4, max_len=3, dtype="float64", random_state=0).fit(train, epochs=0)
    S = model.score_history([1, 2, 3, 4, 5, 6])                  # scored on [4, 5, 6]
    long = SessionBatch(Sequences.from_lists([[1, 2, 3, 4, 5, 6]], n_items=8), np.array([7]))
    loss, grads = model.loss_and_grad(long)
    assert loss == pytest.approx(np.log(np.exp(S).sum()) - S[7], rel=1e-12)   # was 2.1199
    short_loss, short_grads = model.loss_and_grad(
        SessionBatch(Sequences.from_lists([[4, 5, 6]], n_items=8), np.array([7])))
    assert loss == short_loss
    for k in grads:
        np.testing.assert_array_equal(grads[k], short_grads[k])


def test_loss_and_grad_checks_targets():
    from minigraphrec.models.srgnn import SessionBatch
    model = mgr.SRGNN(dim=4, dtype="float64", random_state=0).fit(
        Sequences.from_lists([[0, 1, 2], [2, 3]], n_items=4), epochs=0)
    two = Sequences.from_lists([[0, 1], [2]], n_items=4)
    ref, _ = model.loss_and_grad(SessionBatch(two, np.array([2, 3])))
    assert model.loss_and_grad(SessionBatch(two, [2, 3]))[0] == ref      # a list
    assert model.loss_and_grad(SessionBatch(two, [2.0, 3.0]))[0] == ref  # whole floats
    one = Sequences.from_lists([[0, 1]], n_items=4)
    for targets, match in [(np.array([1, 2]), "1 session but 2 targets"),
                           ([1, 2, 3], "1 session but 3 targets"),
                           (np.array([4]), r"targets\[0\] = 4 is out of range 0..3"),
                           ([-1], r"targets\[0\] = -1 is out of range"),
                           ([1.5], "targets, position 0: 1.5 is not an integer item id"),
                           (np.array([[1]]), "flat list"), (["a"], "integer item ids")]:
        with pytest.raises(DataError, match=match):
            model.loss_and_grad(SessionBatch(one, targets))
    with pytest.raises(DataError, match=r"2 sessions but 1 target$"):
        model.loss_and_grad(SessionBatch(two, [1]))
    with pytest.raises(DataError, match=r"targets\[1\] = 7"):
        model.loss_and_grad(SessionBatch(two, [1, 7]))


def test_validation_is_checked_before_any_training():
    train, prefixes, targets = leave_last_out(user_sequences(cyclic_walks(n_users=8)))
    model = mgr.SRGNN(dim=4, epochs=2, random_state=0).fit(train)
    before = {k: v.copy() for k, v in model.params.items()}
    epochs = []
    other = Sequences.from_lists([[0, 1]], n_items=5)
    for validation, error, match in [
            (cyclic_walks(n_users=2), TypeError, "validation must be a .Sequences, targets. "
                                                 "pair.*got Interactions"),
            ((prefixes, targets, 1), TypeError, "pair"),
            ((prefixes.items, targets), TypeError, "prefixes must be a Sequences"),
            ((prefixes, targets[:-1]), DataError, "prefixes but"),
            ((prefixes, targets + 0.5), DataError, "not an integer item id"),
            ((Sequences([0, 0, 1], [1], n_items=12), [1, 2]), DataError,
             r"prefixes\[0\] is empty"),
            ((other, [2]), DataError, "validation prefixes are over 5 items; train is over 12")]:
        with pytest.raises(error, match=match):
            model.fit(train, validation=validation, callback=epochs.append)
    assert epochs == []                                           # no epoch ran
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])


@pytest.mark.parametrize("params, error, match", [
    (dict(readout="max"), DataError, "readout"), (dict(dim=0), DataError, "dim"),
    (dict(lr=0.0), DataError, "lr must"), (dict(batch_size=0), DataError, "batch_size"),
    (dict(epochs=-1), DataError, "epochs"), (dict(dtype="int8"), DataError, "dtype"),
    (dict(dtype="no such type"), DataError, "dtype"),      # not a dtype at all: no TypeError
    (dict(lr_decay=1.5), DataError, "lr_decay"), (dict(max_len=0), DataError, "max_len"),
    # the same parameter, the same error type: lr_decay=0 was a plain ValueError, 2 a
    # DataError; l2 and lr plain ValueErrors beside DataErrors for dim and readout
    (dict(lr_decay=0), DataError, r"lr_decay must be a finite number > 0, got 0"),
    (dict(lr_decay=2), DataError, r"lr_decay must be in \(0, 1\], got 2"),
    # check_finite_number's message, as a DataError (the models' rule for every bad value)
    (dict(lr_decay="x"), DataError, "lr_decay must be a finite number > 0, got 'x'"),
    (dict(lr_decay="0.5"), DataError, "lr_decay must be a finite number > 0"),  # was parsed
    (dict(l2=-1), DataError, "l2 must be a finite number >= 0"),
    (dict(lr=float("nan")), DataError, "lr must"),
    (dict(lr=1e39), DataError, "lr must be finite in float32"),
    (dict(random_state=-1), DataError, "random_state"),
    (dict(random_state=1.5), TypeError, "random_state"),   # not of the kind asked for at all
    # a string such as "no" was truthy (True), None falsy
    (dict(verbose="no"), DataError, r"verbose \(True, False or an integer level\) must be an "
                                    r"integer >= 0, got 'no'"),
    (dict(verbose=None), DataError, r"verbose \(True, False or an integer level\) must be an "
                                    r"integer >= 0, got None"),
])
def test_bad_hyperparameters(params, error, match):
    check_bad_hyperparameter(mgr.SRGNN, params, match, cyclic_walks(n_users=3), error)


# ------------------------------------------------------------- from an audit of SR-GNN
def test_docs_list_every_departure_from_the_paper():
    """The module docstring called max_len "the one departure from the paper" and credited
    the uniform initialisation to the paper; the gate biases, the edges counted once and
    the [in; out] order departed too, unlisted. The GRU op presented its biased equations as
    "SR-GNN eqs. 2-5"."""
    import minigraphrec.models.srgnn as srgnn_module
    doc = " ".join(srgnn_module.__doc__.split())
    assert "one departure" not in doc
    departures = doc[doc.index("Where this model departs from the paper"):
                     doc.index("Where the authors' PyTorch code departs")]
    for what in ("``max_len``", "gate biases", "``b_gru", "eqs. 2-4 have none",
                 "edges counted once", "initialisation", "U(-1/√d, 1/√d)",
                 "``reset_parameters``", "not taken from the paper", "[A_out, A_in]"):
        assert what in departures, what
    assert "Training follows the paper: every prefix" not in doc
    gru_doc = " ".join(gru_cell_forward.__doc__.split())
    assert "not in the paper's eqs. 2-4" in gru_doc and "``b = 0`` gives the paper's" in gru_doc
    graphs_doc = " ".join(session_graphs.__doc__.split())
    assert "departure from the paper's text" in graphs_doc


def test_b_gru_zero_is_the_papers_biasless_gru_cell():
    """What the docs now say: with b_gru = 0 the cell is the paper's eqs. 2-5."""
    rng = np.random.default_rng(0)
    a, h = rng.standard_normal((5, 6)), rng.standard_normal((5, 3))
    W, U = rng.standard_normal((6, 9)), rng.standard_normal((3, 9))
    h_new, _ = gru_cell_forward(a, h, W, U, np.zeros(9), backend="numpy")
    sig = _sigmoid
    z = sig(a @ W[:, :3] + h @ U[:, :3])
    r = sig(a @ W[:, 3:6] + h @ U[:, 3:6])
    cand = np.tanh(a @ W[:, 6:] + (r * h) @ U[:, 6:])
    np.testing.assert_allclose(h_new, (1 - z) * h + z * cand, rtol=1e-13, atol=1e-14)


def test_validation_raw_ids_are_checked_before_the_first_epoch():
    """Prefixes numbered apart from train (other raw item ids) were refused by
    evaluate_next_item at the end of the first epoch, after a whole epoch of training;
    fit's docstring promised the check before any training."""
    train = Sequences.from_lists([[0, 1, 2, 3], [3, 2, 1, 0]] * 50, n_items=4,
                                 item_ids=np.array([10, 11, 12, 13]))
    apart = Sequences.from_lists([[0], [1]], n_items=4, item_ids=np.array([20, 21, 22, 23]))
    model = mgr.SRGNN(dim=4, epochs=3, batch_size=20, random_state=0)
    steps = []
    step = model._loss_and_grad
    model._loss_and_grad = lambda *a, **k: steps.append(1) or step(*a, **k)  # counts the steps
    epochs = []
    with pytest.raises(DataError, match=r"prefixes item 0 has raw id 20, but the model's item "
                                        r"0 is 10") as info:
        model.fit(train, validation=(apart, [1, 2]), callback=epochs.append)
    assert steps == [] and epochs == []                           # no training step at all
    assert not hasattr(model, "params") and not hasattr(model, "R_")   # still unfitted
    assert "the validation prefixes from one data set" in str(info.value)
    # the same ids (or none, the internal ids themselves) train and evaluate
    same = Sequences.from_lists([[0], [1]], n_items=4, item_ids=np.array([10, 11, 12, 13]))
    model.fit(train, validation=(same, [1, 2]), callback=epochs.append)
    assert len(epochs) == 3 and len(steps) > 0 and "hit@20" in epochs[0]
    mgr.SRGNN(dim=4, epochs=1, random_state=0).fit(
        train, validation=(Sequences.from_lists([[0], [1]], n_items=4), [1, 2]))
    # an Interactions' raw ids are checked the same way
    data = cyclic_walks(n_users=6)
    data_raw = mgr.Interactions(data.users, data.items, n_items=12, timestamps=data.timestamps,
                                item_ids=np.arange(100, 112))
    prefixes = Sequences.from_lists([[0, 1]], n_items=12, item_ids=np.arange(200, 212))
    fresh = mgr.SRGNN(dim=4, epochs=2, random_state=0)
    with pytest.raises(DataError, match="prefixes item 0 has raw id 200, but the model's item "
                                        "0 is 100"):
        fresh.fit(data_raw, validation=(prefixes, [2]))
    assert not hasattr(fresh, "params")


def _fitted_with_users():
    return mgr.SRGNN(dim=4, epochs=1, dtype="float64", random_state=0).fit(
        cyclic_walks(n_users=6))


@pytest.mark.parametrize("change, named", [
    (dict(readout="global"), "readout='hybrid' -> 'global'"),
    (dict(dim=3), "dim=4 -> 3"), (dict(n_steps=2), "n_steps=1 -> 2"),
    (dict(max_len=3), "max_len=20 -> 3"), (dict(dtype="float32"), "dtype='float64' -> "
                                                                   "'float32'"),
])
def test_a_defining_hyperparameter_changed_after_fit_is_refused_by_name(change, named):
    """set_params(readout=...) after fit was ignored (the params decided the readout), and
    get_params / repr / save described another function than the one computed;
    set_params(dim=...) let score_sessions run and made loss_and_grad fail on an unrelated
    shape; n_steps and max_len took effect on trained parameters. Now every scoring path and
    loss_and_grad refuse, naming the change, as partial_fit and forget refuse in the other
    models (Recommender._check_fit_params), until it is set back or the model fitted again."""
    from minigraphrec.models.srgnn import SessionBatch
    model = _fitted_with_users()
    q = Sequences.from_lists([[0, 1, 2], [5]], n_items=12)
    S0 = model.score_sessions(q)
    batch = SessionBatch(q, [3, 6])
    loss0, _ = model.loss_and_grad(batch)
    assert model.fit_hyperparameters_ == {"dim": 4, "n_steps": 1, "readout": "hybrid",
                                          "max_len": 20, "dtype": "float64"}
    model.set_params(**change)
    calls = {"score_sessions": lambda: model.score_sessions(q),
             "score": lambda: model.score([0]), "recommend": lambda: model.recommend([0]),
             "score_history": lambda: model.score_history([0, 1]),
             "recommend_history": lambda: model.recommend_history([0, 1]),
             "evaluate_next_item": lambda: evaluate_next_item(model, q, [3, 6]),
             "loss_and_grad": lambda: model.loss_and_grad(batch)}
    for what, call in calls.items():
        method = "loss_and_grad" if what == "loss_and_grad" else "score_sessions"
        with pytest.raises(ValueError, match=rf"SRGNN\.{method}: hyperparameters changed "
                                             rf"since fit \({named}\).*fit again"):
            call()
    model.set_params(**{k: _fitted_with_users().get_params()[k] for k in change})  # back
    np.testing.assert_array_equal(model.score_sessions(q), S0)
    assert model.loss_and_grad(batch)[0] == loss0
    model.set_params(**change).fit(cyclic_walks(n_users=6))       # fitted anew: the new ones
    assert all(model.fit_hyperparameters_[k] == v for k, v in change.items())
    model.score_sessions(q)
    model.loss_and_grad(batch)


def test_training_settings_may_change_after_fit_and_save_keeps_the_record(tmp_path):
    """lr, batch_size, epochs, the lr schedule, l2, random_state, verbose and backend do not
    define the trained parameters: scoring after changing them gives the same bits. A
    changed defining one survives save/load as a refusal, not as a silent mismatch."""
    from minigraphrec.models.srgnn import SessionBatch
    model = _fitted_with_users()
    q = Sequences.from_lists([[0, 1, 2], [5]], n_items=12)
    S0, (loss0, _) = model.score_sessions(q), model.loss_and_grad(SessionBatch(q, [3, 6]))
    model.set_params(lr=0.5, lr_decay=0.5, lr_decay_every=1, l2=0.1, batch_size=7, epochs=9,
                     backend="numpy", random_state=5, verbose=True)
    np.testing.assert_array_equal(model.score_sessions(q), S0)
    assert model.loss_and_grad(SessionBatch(q, [3, 6]))[0] == loss0
    model.set_params(readout="global").save(tmp_path / "m.npz")
    loaded = mgr.load(tmp_path / "m.npz")
    assert loaded.readout == "global" and loaded.fit_hyperparameters_["readout"] == "hybrid"
    with pytest.raises(ValueError, match=r"readout='hybrid' -> 'global'"):
        loaded.score_sessions(q)
    np.testing.assert_array_equal(loaded.set_params(readout="hybrid").score_sessions(q), S0)


def test_loss_and_grad_of_no_session_names_its_argument():
    """A batch of 0 sessions failed in an internal function ('session_graphs needs at least
    one session')."""
    from minigraphrec.models.srgnn import SessionBatch
    model = mgr.SRGNN(dim=4, epochs=0, random_state=0).fit(cyclic_walks(n_users=3))
    with pytest.raises(DataError, match=r"^loss_and_grad: batch\.sessions holds no session"):
        model.loss_and_grad(SessionBatch(Sequences([0], [], model.n_items_), []))
    assert model.score_sessions(Sequences([0], [], model.n_items_)).shape == (0, 12)


def test_history_loss_is_the_mean_over_the_epochs_examples():
    """history_["loss"] was the unweighted mean of the batch means: a last batch of 1 weighed
    as much as one of 64. It is the mean cross-entropy over the epoch's examples (each at
    its step's parameters), what tutorial 13 plots; training itself is unchanged."""
    from minigraphrec.sequences import prefix_examples
    data = cyclic_walks(n_users=10)
    n = prefix_examples(user_sequences(data))[1].shape[0]          # 70 examples
    model = mgr.SRGNN(dim=4, epochs=2, batch_size=23, random_state=0)   # 23, 23, 23, 1
    assert n % 23 == 1
    batches = []
    step = model._loss_and_grad

    def recorded(sessions, targets, reuse=False):
        loss, grads = step(sessions, targets, reuse=reuse)
        batches.append((loss, targets.shape[0]))
        return loss, grads
    model._loss_and_grad = recorded
    model.fit(data)
    for epoch, record in enumerate(model.history_):
        mine = batches[4 * epoch:4 * epoch + 4]
        assert [b for _, b in mine] == [23, 23, 23, 1]
        weighted = sum(loss * b for loss, b in mine) / n
        assert record["loss"] == pytest.approx(weighted, rel=1e-12)
        assert abs(weighted - np.mean([loss for loss, _ in mine])) > 1e-6   # not the same
    reference = mgr.SRGNN(dim=4, epochs=2, batch_size=23, random_state=0).fit(data)
    for k in reference.params:                                     # the same training
        np.testing.assert_array_equal(model.params[k], reference.params[k])


def test_a_long_epoch_logs_its_progress(caplog, monkeypatch):
    """Every PROGRESS_SECONDS inside an epoch, the batch and the time left, as fit's loop."""
    import logging
    import re
    from minigraphrec import train as train_module
    data = _catalogue_sessions(n_items=50, n_users=30)
    quiet = mgr.SRGNN(dim=8, epochs=1, batch_size=32, random_state=0).fit(data)
    monkeypatch.setattr(train_module, "PROGRESS_SECONDS", 0.0)       # a line at every batch
    with caplog.at_level(logging.INFO, logger="minigraphrec"):
        model = mgr.SRGNN(dim=8, epochs=1, batch_size=32, verbose=True, random_state=0).fit(data)
    lines = [r.getMessage() for r in caplog.records if "batch" in r.getMessage()]
    n_batches = int(lines[-1].split(" of ")[1].split(",")[0])
    assert n_batches > 2 and len(lines) == n_batches - 1
    assert re.fullmatch(rf"SRGNN epoch 1/1: batch {n_batches} of {n_batches}, \d+ s, about "
                        r"\d+ s left", lines[-1]), lines[-1]
    for k in quiet.params:
        np.testing.assert_array_equal(model.params[k], quiet.params[k])


@pytest.mark.parametrize("max_len", [None, 3])
def test_fit_on_examples_equals_fit_on_their_sessions(max_len):
    """``fit((prefixes, targets))`` trains on the examples as given: those of
    ``prefix_examples(sessions)`` give the model of ``fit(sessions)``, bit for bit, and the
    same ``score(users)`` (each user's state: the last prefix with its target). Was: a pair
    was refused (train had to be sessions), so examples made elsewhere (the SR-GNN authors'
    preprocessed files, a fraction cut inside a session) could not be trained on."""
    rng = np.random.default_rng(3)
    log = mgr.Interactions(rng.integers(0, 12, 300), rng.integers(0, 30, 300), n_users=12,
                           n_items=30, timestamps=rng.permutation(300).astype(float))
    sessions = user_sequences(log)
    from minigraphrec.sequences import prefix_examples
    P, T = prefix_examples(sessions)
    a = mgr.SRGNN(dim=8, epochs=2, batch_size=16, max_len=max_len, random_state=0).fit(sessions)
    b = mgr.SRGNN(dim=8, epochs=2, batch_size=16, max_len=max_len, random_state=0).fit((P, T))
    for key in a.params:
        assert np.array_equal(a.params[key], b.params[key]), key
    assert np.array_equal(a.score(np.arange(12)), b.score(np.arange(12)))
    # a part of the examples (the last 40, cut inside a session) is trained on as it is
    c = mgr.SRGNN(dim=8, epochs=2, batch_size=16, max_len=max_len, random_state=0)
    c.fit((P.subset(np.arange(len(P) - 40, len(P))), T[-40:]))
    assert c.n_items_ == 30 and not np.array_equal(c.params["E"], a.params["E"])
    assert len(c.history_) == 2


def test_fit_on_examples_refuses_bad_pairs():
    from minigraphrec.sequences import prefix_examples
    sessions = Sequences([0, 3, 5], [0, 1, 2, 1, 3], 4)
    P, T = prefix_examples(sessions)
    model = mgr.SRGNN(dim=4, epochs=1)
    with pytest.raises(TypeError, match=r"train as examples must be a \(Sequences, targets\) "
                                        r"pair, got a tuple of 3"):
        model.fit((P, T, T))
    with pytest.raises(DataError, match="train holds no example"):
        model.fit((P.subset(np.arange(0)), T[:0]))
    with pytest.raises(DataError, match=r"targets\[1\] = 9 is out of range 0..3"):
        model.fit((P, np.array([1, 9, 3])))
    with pytest.raises(DataError, match="validation prefixes are over 5 items; train is over 4"):
        model.fit((P, T), validation=(Sequences([0, 1], [0], 5), np.array([1])))
    assert not hasattr(model, "params")                          # nothing set by a refused fit


def test_a_tie_keeps_the_earlier_epoch(monkeypatch):
    """Validation metrics equal in every epoch (hit@20 on a small set often are): the best
    epoch is the first, and its parameters are restored."""
    import minigraphrec.sequences as sq
    train, validation = _planted_with_validation()
    monkeypatch.setattr(sq, "evaluate_next_item",
                        lambda model, prefixes, targets, k=(20,), **kw:
                        {f"{m}@{K}": 0.5 for m in ("hit", "mrr", "ndcg") for K in k})
    model = mgr.SRGNN(dim=4, epochs=3, lr=0.05, random_state=0).fit(train, validation=validation)
    once = mgr.SRGNN(dim=4, epochs=1, lr=0.05, random_state=0).fit(train)
    assert model.best_epoch_ == 1 and len(model.history_) == 3
    for name, value in once.params.items():
        np.testing.assert_array_equal(model.params[name], value)


def test_fit_on_examples_keeps_the_raw_user_ids_of_fit_on_sessions():
    """prefix_examples dropped the sessions' user_ids (and fit on examples did too): the model
    fitted on the examples of sessions knew users 70 and 30 as 0 and 1."""
    log = mgr.Interactions([0, 0, 0, 1, 1, 1], [0, 1, 2, 2, 1, 3], timestamps=[1, 2, 3, 4, 5, 6],
                           user_ids=[70, 30])
    from minigraphrec.sequences import prefix_examples, sessions_by_gap
    sessions = sessions_by_gap(log, gap=100)
    a = mgr.SRGNN(dim=4, epochs=1, random_state=0).fit(sessions)
    b = mgr.SRGNN(dim=4, epochs=1, random_state=0).fit(prefix_examples(sessions))
    assert a.user_ids_.tolist() == b.user_ids_.tolist() == [70, 30]
    np.testing.assert_array_equal(a.score([0, 1]), b.score([0, 1]))


def test_docs_say_the_authors_code_decays_the_learning_rate_one_epoch_early():
    """Its StepLR steps at the start of each epoch (train_test): the first decay at epoch 3.
    The docs said the schedule followed the paper and listed no difference from the code."""
    import minigraphrec.models.srgnn as srgnn_module
    doc = " ".join(srgnn_module.__doc__.split())
    code = doc[doc.index("Where the authors' PyTorch code departs"):]
    assert "decays one epoch early" in code and "``lr · lr_dc^(e // 3)``" in code
    assert "``lr · lr_decay^((e - 1) // lr_decay_every)``" in " ".join(
        mgr.SRGNN.__doc__.split())
