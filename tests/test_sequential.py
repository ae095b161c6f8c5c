"""Session baselines: popularity, Markov chain, item kNN, each against a hand computation."""
import numpy as np
import pytest

import minigraphrec as mgr
from conftest import check_bad_session_histories, cyclic_walks
from minigraphrec import DataError
from minigraphrec.models.knn import topk_similarity
from minigraphrec.models.session_base import SessionRecommender
from minigraphrec.sequences import (Sequences, evaluate_next_item, leave_last_out,
                                    user_sequences)

# training sessions over 5 items (item 4 never occurs):
#   event counts n = [3, 3, 2, 1, 0], N = 9
#   transitions 0→1 twice, 1→2, 2→3, 3→0; successors per item c = [2, 1, 1, 1, 0]
#   session sets {0,1,2} {0,1} {0,2,3} {1}: supports [3, 3, 2, 1, 0], co-occurrence
#   (0,1) 2, (0,2) 2, (0,3) 1, (1,2) 1, (2,3) 1, (1,3) 0
TRAIN = [[0, 1, 2], [0, 1], [2, 3, 0], [1]]


@pytest.fixture
def train():
    return Sequences.from_lists(TRAIN, n_items=5)


def sessions(*lists):
    return Sequences.from_lists(list(lists), n_items=5)


def test_session_popularity_counts_events(train):
    model = mgr.SessionPopularity().fit(train)
    np.testing.assert_array_equal(model.score_sessions(sessions([4], [0, 1])),
                                  [[3, 3, 2, 1, 0]] * 2)


def test_markov_chain_by_hand(train):
    model = mgr.MarkovChain().fit(train)
    assert model.transitions_.toarray().tolist() == [[0, 2, 0, 0, 0], [0, 0, 1, 0, 0],
                                                     [0, 0, 0, 1, 0], [1, 0, 0, 0, 0],
                                                     [0, 0, 0, 0, 0]]
    pop = np.array([3, 3, 2, 1, 0]) / 9
    S = model.score_sessions(sessions([2, 0], [0, 1], [3], [4], [1, 2, 3, 4]))
    np.testing.assert_allclose(S[0], [0, 1, 0, 0, 0] + pop / (2 * 2), rtol=1e-15)  # c_0 = 2
    np.testing.assert_allclose(S[1], [0, 0, 1, 0, 0] + pop / (2 * 1), rtol=1e-15)
    np.testing.assert_allclose(S[2], [1, 0, 0, 0, 0] + pop / (2 * 1), rtol=1e-15)
    np.testing.assert_allclose(S[3], pop, rtol=1e-15)           # 4 never had a successor
    np.testing.assert_allclose(S[4], pop, rtol=1e-15)           # only the last item counts
    assert np.argsort(-S[0], kind="stable").tolist() == [1, 0, 2, 3, 4]

    smooth = mgr.MarkovChain(smoothing=1.0).fit(train).score_sessions(sessions([0]))[0]
    D = 2 + 1.0 * 5
    np.testing.assert_allclose(smooth, (np.array([0, 2, 0, 0, 0]) + 1) / D + pop / (2 * D),
                               rtol=1e-15)
    plain = mgr.MarkovChain(popularity_tiebreak=False).fit(train)
    np.testing.assert_array_equal(plain.score_sessions(sessions([0]))[0], [0, 1, 0, 0, 0])


def _markov_scores_whole_block(model, sessions):
    """The Markov chain's scores by whole-block formulas (before the chunked updates)."""
    last = sessions.items[sessions.indptr[1:] - 1]
    p_pop = model.popularity_ / model.popularity_.sum()
    seen = model._out[last] > 0
    D = np.where(seen, model._out[last] + float(model.smoothing) * model.n_items_, 1.0)[:, None]
    S = model.transitions_[last].toarray() + float(model.smoothing)
    S = S / D + (p_pop[None, :] / (2.0 * D) if model.popularity_tiebreak else 0.0)
    S[~seen] = p_pop
    return S


@pytest.mark.parametrize("smoothing, tiebreak", [(0.0, True), (0.5, True), (0.5, False)])
def test_markov_chunked_scores_equal_whole_block_bits(smoothing, tiebreak, monkeypatch):
    rng = np.random.default_rng(3)
    train = Sequences.from_lists([rng.integers(0, 40, rng.integers(2, 9)) for _ in range(200)],
                                 n_items=45)                      # items 40..44 never occur
    model = mgr.MarkovChain(smoothing=smoothing, popularity_tiebreak=tiebreak).fit(train)
    test = Sequences.from_lists([rng.integers(0, 45, rng.integers(1, 5)) for _ in range(37)],
                                n_items=45)
    assert (model._out[test.items[test.indptr[1:] - 1]] == 0).any()   # some back-off rows
    ref = _markov_scores_whole_block(model, test)
    model.set_params(backend="numpy")                             # the chunked reference
    for chunk in (1 << 20, 45 * 4, 45 * 5 + 7, 1):               # one chunk; 10, 8, 37 chunks
        monkeypatch.setattr("minigraphrec.rank._ROW_CHUNK", chunk)
        np.testing.assert_array_equal(model.score_sessions(test), ref)


def _assert_numba_scores_equal(model, test, ref):
    """``model`` with ``backend="numba"`` scores ``test`` as ``ref`` (the reference's
    scores), bit for bit, on one thread and on all, with and without ``out=``."""
    import numba
    model.set_params(backend="numba")
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            np.testing.assert_array_equal(model.score_sessions(test), ref)
            out = np.full(ref.shape, np.nan)
            assert model.score_sessions(test, out=out) is out
            np.testing.assert_array_equal(out, ref)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize("smoothing, tiebreak", [(0.0, True), (0.0, False), (0.5, True),
                                                 (2.0, False)])
def test_markov_kernel_equals_the_reference_bits_on_any_thread_count(smoothing, tiebreak):
    """The kernel writes (C_ij + α) / D + p_j / (2D) once per entry, the reference in four
    passes: the same bits, back-off rows included, with and without out=."""
    rng = np.random.default_rng(5)
    train = Sequences.from_lists([rng.integers(0, 60, rng.integers(2, 9)) for _ in range(300)],
                                 n_items=64)                      # items 60..63 never occur
    test = Sequences.from_lists([rng.integers(0, 64, rng.integers(1, 5)) for _ in range(90)],
                                n_items=64)
    model = mgr.MarkovChain(smoothing=smoothing, popularity_tiebreak=tiebreak,
                            backend="numpy").fit(train)
    assert (model._out[test.items[test.indptr[1:] - 1]] == 0).any()   # some back-off rows
    ref = model.score_sessions(test)
    np.testing.assert_array_equal(ref, _markov_scores_whole_block(model, test))
    _assert_numba_scores_equal(model, test, ref)


def test_markov_scores_allocate_one_block():
    """The tie-break's p_j / (2 D_s) is made per chunk of rows: scoring a block allocates
    the block and chunk-sized temporaries, not a second block."""
    import tracemalloc
    rng = np.random.default_rng(0)
    n_items = 20_000
    train = Sequences.from_lists([rng.integers(0, n_items, 6) for _ in range(2000)],
                                 n_items=n_items)
    model = mgr.MarkovChain(smoothing=0.1).fit(train)
    test = Sequences.from_lists([rng.integers(0, n_items, 3) for _ in range(400)],
                                n_items=n_items)
    model.score_sessions(test)                                    # warm-up
    block = 400 * n_items * 8                                     # 64 MB
    tracemalloc.start()
    try:
        S = model.score_sessions(test)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert S.shape == (400, n_items)
    assert peak < 1.3 * block, peak / block                       # was 2 blocks


@pytest.mark.parametrize("make", [mgr.SessionPopularity, lambda: mgr.MarkovChain(smoothing=0.1),
                                  mgr.SessionItemKNN])
def test_evaluate_next_item_holds_one_score_block_at_a_time(make):
    import tracemalloc
    rng = np.random.default_rng(1)
    n_items = 20_000
    train = Sequences.from_lists([rng.integers(0, n_items, 6) for _ in range(2000)],
                                 n_items=n_items)
    prefixes = Sequences.from_lists([rng.integers(0, n_items, 3) for _ in range(800)],
                                    n_items=n_items)
    targets = rng.integers(0, n_items, 800)
    model = make().fit(train)
    block = 200 * n_items * 8                                     # 32 MB of scores
    for exclude_seen in (False, True):                            # + a 4 MB boolean mask
        evaluate_next_item(model, prefixes, targets, batch_size=200, exclude_seen=exclude_seen)
        tracemalloc.start()
        try:
            evaluate_next_item(model, prefixes, targets, batch_size=200,
                               exclude_seen=exclude_seen)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1.5 * block, peak / block                   # two blocks alive: >= 2


def test_markov_chain_never_links_two_sessions():
    model = mgr.MarkovChain().fit(Sequences.from_lists([[0, 1], [2, 3]], n_items=4))
    assert model.transitions_[1, 2] == 0 and model.transitions_.sum() == 2


def test_markov_chain_without_a_transition_warns_and_scores_popularity(train, caplog):
    import logging
    ones = Sequences.from_lists([[2], [0], [2], [1]], n_items=4)       # no session of two
    with caplog.at_level(logging.WARNING, logger="minigraphrec"):
        model = mgr.MarkovChain().fit(ones)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].name == "minigraphrec.models.sequential"
    assert "MarkovChain.fit: no transition in the 4 training sessions" in warned[0].message
    np.testing.assert_array_equal(model.score_sessions(Sequences.from_lists([[2], [0, 1]],
                                                                            n_items=4)),
                                  [[0.25, 0.25, 0.5, 0.0]] * 2)         # n_j / N
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="minigraphrec"):
        mgr.MarkovChain().fit(train)                                   # transitions: silent
    assert not caplog.records


def test_markov_tiebreak_ranks_by_probability_then_popularity():
    rng = np.random.default_rng(0)
    train = Sequences.from_lists([rng.integers(0, 30, rng.integers(2, 8)) for _ in range(300)],
                                 n_items=30)
    for smoothing in (0.0, 0.5):
        model = mgr.MarkovChain(smoothing=smoothing).fit(train)
        C = model.transitions_.toarray()
        for last in range(30):
            if C[last].sum() == 0:
                continue
            s = model.score_history([last])
            # lexicographic: counts first, popularity second, then the smaller id
            expected = np.lexsort((np.arange(30), -model.popularity_, -C[last]))
            order = np.lexsort((np.arange(30), -s))
            assert order.tolist() == expected.tolist()


def test_session_item_knn_by_hand(train):
    r2, r3, r6 = np.sqrt(2), np.sqrt(3), np.sqrt(6)
    sim = np.array([[0, 2 / 3, 2 / r6, 1 / r3, 0],
                    [2 / 3, 0, 1 / r6, 0, 0],
                    [2 / r6, 1 / r6, 0, 1 / r2, 0],
                    [1 / r3, 0, 1 / r2, 0, 0],
                    [0, 0, 0, 0, 0]])
    model = mgr.SessionItemKNN().fit(train)
    np.testing.assert_allclose(model.similarity_.toarray(), sim, rtol=1e-14)
    S = model.score_sessions(sessions([0, 3], [4]))
    np.testing.assert_allclose(S[0], sim[0] + sim[3], rtol=1e-14)
    np.testing.assert_array_equal(S[1], np.zeros(5))
    linear = mgr.SessionItemKNN(recency="linear").fit(train).score_history([0, 3])
    np.testing.assert_allclose(linear, 0.5 * sim[0] + 1.0 * sim[3], rtol=1e-14)
    last = mgr.SessionItemKNN(recency="last").fit(train).score_history([0, 3])
    np.testing.assert_allclose(last, sim[3], rtol=1e-14)
    repeat = model.score_history([0, 0, 3])                     # once per occurrence
    np.testing.assert_allclose(repeat, 2 * sim[0] + sim[3], rtol=1e-14)

    shrunk = mgr.SessionItemKNN(shrink=1.0).fit(train).similarity_.toarray()
    assert shrunk[0, 1] == pytest.approx(2 / (3 + 1)) and shrunk[2, 3] == pytest.approx(
        1 / (r2 + 1))
    top1 = mgr.SessionItemKNN(k_neighbors=1).fit(train)
    # row 0 keeps 2 (0.816 > 0.667), row 3 keeps 2 (0.707 > 0.577)
    np.testing.assert_allclose(top1.score_history([0, 3]), [0, 0, 2 / r6 + 1 / r2, 0, 0],
                               rtol=1e-14)


def test_knn_sparse_path_equals_topk_similarity():
    rng = np.random.default_rng(1)
    train = Sequences.from_lists([rng.integers(0, 40, rng.integers(1, 9)) for _ in range(200)],
                                 n_items=40)
    full = mgr.SessionItemKNN(shrink=0.5).fit(train).similarity_
    pruned = mgr.SessionItemKNN(shrink=0.5, k_neighbors=40).fit(train).similarity_
    np.testing.assert_allclose(full.toarray(), pruned.toarray(), rtol=1e-12, atol=0)
    rows = np.repeat(np.arange(len(train)), train.lengths)
    import scipy.sparse as sp
    B = sp.csr_matrix((np.ones(rows.shape[0]), (rows, train.items)), shape=(200, 40))
    B.data[:] = 1
    ref = topk_similarity(B.T.tocsr(), 5, "cosine", 0.5)
    np.testing.assert_array_equal(mgr.SessionItemKNN(shrink=0.5, k_neighbors=5).fit(train)
                                  .similarity_.toarray(), ref.toarray())


def test_markov_chain_finds_a_planted_order_popularity_cannot():
    train, prefixes, targets = leave_last_out(user_sequences(cyclic_walks()))
    markov = evaluate_next_item(mgr.MarkovChain().fit(train), prefixes, targets, k=(1, 5))
    pop = evaluate_next_item(mgr.SessionPopularity().fit(train), prefixes, targets, k=(1, 5))
    knn = evaluate_next_item(mgr.SessionItemKNN(recency="last").fit(train), prefixes,
                             targets, k=(1, 5))
    assert markov["hit@1"] == 1.0 and pop["hit@5"] < 0.6
    assert knn["hit@1"] < 0.8 < knn["hit@5"]     # symmetric: last - 1 ties with last + 1


@pytest.mark.parametrize("make", [mgr.SessionPopularity, mgr.MarkovChain, mgr.SessionItemKNN])
def test_estimator_api(make):
    data = cyclic_walks(n_users=6)
    model = make().fit(data)                                   # Interactions with timestamps
    seqs = user_sequences(data)
    np.testing.assert_array_equal(model.score([2, 4]),
                                  np.stack([model.score_history(seqs[2]),
                                            model.score_history(seqs[4])]))
    items, scores = model.recommend([1], k=3)                  # 8 seen items excluded
    assert len(set(seqs[1].tolist())) == 8 and not set(items[0].tolist()) & set(seqs[1].tolist())
    top, _ = model.recommend_history([3, 4], k=3, exclude_seen=True)
    assert 3 not in top and 4 not in top
    top_all, s_all = model.recommend_history([3, 4], k=12)
    np.testing.assert_array_equal(s_all, np.sort(model.score_history([3, 4]))[::-1])

    # sessions with users: score(users) reads each user's last session
    sess = Sequences.from_lists([[0, 1], [5, 6], [2, 3]], n_items=12, users=[0, 1, 0])
    model = make().fit(sess)
    np.testing.assert_array_equal(model.score([0])[0], model.score_history([2, 3]))
    assert model.R_.shape == (2, 12) and model.R_[0].indices.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("make", [mgr.SessionPopularity, mgr.MarkovChain, mgr.SessionItemKNN])
def test_a_user_without_a_training_sequence_is_named_with_what_to_do(make):
    sess = Sequences.from_lists([[0, 1], [2, 3]], n_items=6, users=[0, 2],
                                user_ids=np.array([10, 11, 12]))        # user 1: none
    model = make().fit(sess)
    np.testing.assert_array_equal(model.score([2])[0], model.score_history([2, 3]))
    test = mgr.Interactions([1, 2], [4, 5], n_users=3, n_items=6,
                            user_ids=np.array([10, 11, 12]))
    for call in (lambda: model.score([0, 1]), lambda: mgr.evaluate(model, test)):
        with pytest.raises(DataError, match="user 1 has no training sequence .* leave such "
                                            "users out"):
            call()


@pytest.mark.parametrize("make", [mgr.SessionPopularity, mgr.MarkovChain, mgr.SessionItemKNN])
def test_bad_input(make):
    with pytest.raises(RuntimeError, match="fit"):
        make().score_history([0])
    with pytest.raises(DataError, match="timestamps"):
        make().fit(mgr.Interactions([0, 0], [0, 1]))
    with pytest.raises(TypeError, match="Interactions or a Sequences"):
        make().fit([[0, 1]])
    model = make().fit(Sequences.from_lists([[0, 1], [1, 2]], n_items=4, users=[-1, 1]))
    check_bad_session_histories(model)
    with pytest.raises(DataError, match="over 5 items"):
        model.score_sessions(Sequences.from_lists([[0]], n_items=5))
    with pytest.raises(DataError, match=r"sessions\[1\] is empty"):
        model.score_sessions(Sequences([0, 1, 1], [0], n_items=4))
    with pytest.raises(DataError, match="user 0 has no training sequence"):
        model.score([0])
    with pytest.raises(DataError, match="no event"):
        make().fit(Sequences([0, 0], np.zeros(0, dtype=np.int64), n_items=3))


def test_bad_hyperparameters(train):
    for model, name in [(mgr.MarkovChain(smoothing=-1), "smoothing"),
                        (mgr.SessionItemKNN(k_neighbors=0), "k_neighbors"),
                        (mgr.SessionItemKNN(shrink=float("nan")), "shrink"),
                        (mgr.SessionItemKNN(recency="exp"), "recency"),
                        # a string such as "no" was truthy (True), None falsy
                        (mgr.MarkovChain(popularity_tiebreak="no"),
                         "popularity_tiebreak must be True or False, got 'no'"),
                        (mgr.MarkovChain(popularity_tiebreak=None), "popularity_tiebreak"),
                        (mgr.SessionItemKNN(max_memory_mb=0),
                         r"max_memory_mb \(None: no limit\) must be a finite number > 0, got 0"),
                        (mgr.SessionItemKNN(max_memory_mb="1"), "max_memory_mb"),
                        (mgr.SessionItemKNN(max_memory_mb=float("inf")), "max_memory_mb")]:
        with pytest.raises(DataError, match=name):
            model.fit(train)


@pytest.mark.parametrize("make", [mgr.SessionPopularity, mgr.MarkovChain,
                                  lambda: mgr.MarkovChain(smoothing=0.5), mgr.SessionItemKNN,
                                  lambda: mgr.SRGNN(dim=4, epochs=1, dtype="float64",
                                                    random_state=0)])
def test_scores_are_the_callers_to_change_single_block_or_many(make, train):
    model = make().fit(train)
    s = sessions([0, 1], [2], [3, 0, 1])
    before = model.score_sessions(s).copy()
    # SR-GNN's dense products round differently for other batch sizes (BLAS picks its
    # kernel by shape); the count-based models give the same bits
    rtol = 1e-12 if isinstance(model, mgr.SRGNN) else 0
    for block in (1024, 2):                                       # one block; two blocks
        model.score_batch_size = block
        S = model.score_sessions(s)
        assert S.dtype == np.float64 and S.flags.c_contiguous
        np.testing.assert_allclose(S, before, rtol=rtol, atol=0)
        S[:] = 99.0                                               # must not reach the model
        np.testing.assert_allclose(model.score_sessions(s), before, rtol=rtol, atol=0)


SESSION_MODELS = [mgr.SessionPopularity, mgr.MarkovChain, lambda: mgr.MarkovChain(smoothing=0.5),
                  lambda: mgr.SessionItemKNN(recency="linear"),
                  lambda: mgr.SRGNN(dim=4, epochs=1, dtype="float64", random_state=0),
                  lambda: mgr.SRGNN(dim=4, epochs=1, random_state=0)]     # float32


@pytest.mark.parametrize("make", SESSION_MODELS)
def test_scores_into_out_are_the_same_bits(make, train):
    """score_sessions(out=) and score(users, out=) write the scores they return without it,
    in one block and in several, and return ``out`` itself."""
    model = make().fit(train)
    s = sessions([0, 1], [2], [3, 0, 1], [4], [1, 1, 2])
    for block in (1024, 2):
        model.score_batch_size = block
        ref = model.score_sessions(s)
        out = np.full(ref.shape, np.nan)
        assert model.score_sessions(s, out=out) is out
        np.testing.assert_array_equal(out, ref)
    model = make().fit(cyclic_walks())                            # users with sequences
    users = np.array([2, 0, 3])
    ref = model.score(users)
    out = np.full(ref.shape, np.nan)
    assert model.score(users, out=out) is out
    np.testing.assert_array_equal(out, ref)


def test_score_sessions_refuses_a_bad_out(train):
    model = mgr.MarkovChain().fit(train)
    s = sessions([0, 1], [2])
    with pytest.raises(ValueError, match=r"out has shape \(3, 5\); the scores of 2 sessions"):
        model.score_sessions(s, out=np.empty((3, 5)))
    with pytest.raises(ValueError, match="out has dtype float32; this MarkovChain scores in "
                                         "float64"):
        model.score_sessions(s, out=np.empty((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous and writable"):
        model.score_sessions(s, out=np.empty((5, 2)).T)
    with pytest.raises(TypeError, match="out must be a numpy array"):
        model.score_sessions(s, out=[[0.0] * 5] * 2)


@pytest.mark.parametrize("make", SESSION_MODELS)
def test_no_session_gives_an_empty_block(make, train):
    model = make().fit(train)
    empty = Sequences.from_lists([], n_items=5)
    S = model.score_sessions(empty)
    assert S.shape == (0, 5) and S.dtype == np.float64
    out = np.empty((0, 5))
    assert model.score_sessions(empty, out=out) is out


@pytest.mark.parametrize("make", SESSION_MODELS)
def test_score_users_of_anonymous_sessions_says_there_are_none(make, train):
    model = make().fit(train)                                     # no users
    for call in (lambda: model.score([0]), lambda: model.recommend([0]),
                 lambda: model.score(np.array([3, 1]))):
        with pytest.raises(DataError, match="these training sessions carry no users; use "
                                            "score_sessions / score_history"):
            call()
    assert model.score([]).shape == (0, 5)
    with pytest.raises(DataError, match="user id 2 is unknown"):   # with users: as before
        make().fit(Sequences.from_lists(TRAIN, n_items=5, users=[0, 1, 0, 1])).score([2])


@pytest.mark.parametrize("make", SESSION_MODELS)
def test_recommend_history_refuses_a_truthy_exclude_seen(make, train):
    model = make().fit(train)
    with pytest.raises(ValueError, match="exclude_seen must be True or False, got 'no'"):
        model.recommend_history([0, 1], k=2, exclude_seen="no")
    top, _ = model.recommend_history([0, 1], k=5, exclude_seen=np.False_)
    assert 0 in top and 1 in top


def test_hyperparameters_set_after_fit_are_checked_when_scoring(train):
    """set_params after fit changes what scoring reads; it is checked there as in fit."""
    for model, name, value in [(mgr.MarkovChain(), "smoothing", -1),
                               (mgr.MarkovChain(backend="numpy"), "smoothing", float("nan")),
                               (mgr.SessionItemKNN(), "recency", "exp"),
                               (mgr.MarkovChain(), "popularity_tiebreak", "no"),
                               # was: any backend but "numba" took the NumPy path silently
                               (mgr.MarkovChain(), "backend", "torch")]:
        model.fit(train).set_params(**{name: value})
        with pytest.raises(DataError, match=name):
            model.score_history([0, 1])


class _OwnScores(SessionRecommender):
    """A user's subclass: ``_score_sessions`` without ``out`` (scores: the last item + 1)."""

    def __init__(self):
        pass

    def _fit_model(self, seqs):
        pass

    def _score_sessions(self, sessions):
        last = sessions.items[sessions.indptr[1:] - 1]
        return -np.abs(np.arange(self.n_items_)[None, :] - (last[:, None] + 1)).astype(float)


class _Fresh:
    """Any object with score_sessions: a fresh array per block, never ``out``."""

    def __init__(self, model):
        self.model = model

    def score_sessions(self, sessions):
        return self.model.score_sessions(sessions)


@pytest.mark.parametrize("make", SESSION_MODELS + [_OwnScores])
def test_evaluate_next_item_reusing_blocks_equals_fresh_blocks(make):
    """evaluate_next_item scores the library's models into one block and reuses one seen-item
    mask: the same metrics as fresh blocks, and as one block, with and without exclusion
    (a mask entry left over from an earlier block would exclude a target)."""
    data = cyclic_walks(n_items=12, n_users=40, length=8)
    train, prefixes, targets = leave_last_out(user_sequences(data))
    model = make().fit(train)
    # each prefix holds its own target: excluded in its own block only
    prefixes = Sequences.from_lists([list(p) + [int(t)] for p, t in zip(prefixes, targets)],
                                    n_items=12)
    targets = np.roll(targets, 1)
    for exclude_seen in (False, True):
        one = evaluate_next_item(_Fresh(model), prefixes, targets, k=(1, 5),
                                 exclude_seen=exclude_seen, batch_size=1000)
        for batch_size in (7, 16):
            assert evaluate_next_item(model, prefixes, targets, k=(1, 5),
                                      exclude_seen=exclude_seen, batch_size=batch_size) == one
            assert evaluate_next_item(_Fresh(model), prefixes, targets, k=(1, 5),
                                      exclude_seen=exclude_seen, batch_size=batch_size) == one


@pytest.mark.parametrize("params", [dict(), dict(recency="linear", shrink=0.5),
                                    dict(k_neighbors=5, recency="last")])
def test_session_knn_kernel_equals_the_scipy_product_bits(params):
    """SessionItemKNN's scores W @ sim written row by row into the block equal SciPy's
    sparse product then toarray, bit for bit, with and without out=, on any thread count
    (repeated items in a session: duplicates summed in W)."""
    rng = np.random.default_rng(8)
    train = Sequences.from_lists([rng.integers(0, 50, rng.integers(2, 9)) for _ in range(300)],
                                 n_items=55)
    test = Sequences.from_lists([rng.integers(0, 55, rng.integers(1, 7)) for _ in range(70)],
                                n_items=55)
    model = mgr.SessionItemKNN(backend="numpy", **params).fit(train)
    ref = model.score_sessions(test)
    _assert_numba_scores_equal(model, test, ref)


# ------------------------------------------------------------- from an audit of SR-GNN
@pytest.mark.parametrize("make", SESSION_MODELS)
def test_ad_hoc_sessions_take_whole_floats_as_sequences_do(make, train):
    """score_history([1.0, 2.0]) was refused ("must be integers, got dtype float64") while
    Sequences.from_lists and the next-item targets take whole floats; now they agree: whole
    floats are the ids, never truncated, and anything else is refused by position."""
    model = make().fit(train)
    np.testing.assert_array_equal(model.score_history([0.0, 2.0]), model.score_history([0, 2]))
    np.testing.assert_array_equal(
        model.score_history([0.0, 2.0]),
        model.score_sessions(Sequences.from_lists([[0.0, 2.0]], n_items=5))[0])
    for k in (0, 1):
        np.testing.assert_array_equal(model.recommend_history(np.array([1.0, 0.0]), k=3)[k],
                                      model.recommend_history([1, 0], k=3)[k])
    for bad, match in [([0.0, 1.5], "integers: 1.5 at position 1"),
                       ([np.nan], "integers: nan at position 0"),
                       ([0.0, np.inf], "integers: inf at position 1"),
                       ([0.0, 5.0], "item 5 at position 1 of the session is not in the "
                                    r"catalogue 0..4"),
                       ([-1.0], "item -1 at position 0"), ([1e300], "item 1000000"),
                       (["a"], "integers, got dtype <U1"), ([True], "integers, got dtype bool")]:
        with pytest.raises(DataError, match=match):
            model.score_history(bad)


@pytest.mark.parametrize("make", SESSION_MODELS)
def test_fit_on_interactions_without_timestamps_names_fit(make):
    """The message named user_sequences, which the caller never called."""
    name = type(make()).__name__
    with pytest.raises(DataError, match=rf"^{name}\.fit reads an Interactions as one "
                                        r"time-ordered sequence per user and needs its "
                                        r"timestamps") as info:
        make().fit(mgr.Interactions([0, 0], [0, 1]))
    assert "user_sequences" not in str(info.value)
    empty = mgr.Interactions([], [], n_users=1, n_items=3, timestamps=[])
    with pytest.raises(DataError, match=rf"^{name}\.fit: train holds no interaction$"):
        make().fit(empty)


@pytest.mark.parametrize("make", SESSION_MODELS)
def test_recommend_history_keeps_the_sessions_items_by_default_and_says_why(make, train):
    """A session model's recommend_history defaults to exclude_seen=False, the other models'
    to True: deliberate (sessions come back to their items, as evaluate_next_item ranks
    them), now said in the docstring, against the other default by name."""
    model = make().fit(train)
    top, _ = model.recommend_history([0, 1], k=5)
    assert 0 in top and 1 in top                                  # the session's own items
    top, _ = model.recommend_history([0, 1], k=5, exclude_seen=True)
    assert 0 not in top and 1 not in top
    doc = " ".join(SessionRecommender.recommend_history.__doc__.split())
    for what in ("differs on purpose", "Recommender.recommend_history", "``True``",
                 "revisit", "evaluate_next_item", "``exclude_seen=False`` by default"):
        assert what in doc, what


def test_session_knn_refuses_a_cooccurrence_matrix_above_its_memory_budget(train, monkeypatch):
    """k_neighbors=None built G = BᵀB with no bound (several GB on large data); fit now says
    how much it would need, before building it, and what to do."""
    import minigraphrec.models.sequential as sequential
    # G of TRAIN: 5 diagonal entries for items 0..3 and 5 co-occurring pairs, each twice
    need = 14 * sequential.G_BYTES_PER_ENTRY / 2**20
    model = mgr.SessionItemKNN(max_memory_mb=need * 0.99)
    with pytest.raises(DataError, match=r"G = BᵀB, 14 stored entries over 5 items.*about "
                                        r"0.000748 MiB, above max_memory_mb=.*k_neighbors=100"):
        model.fit(train)
    assert not hasattr(model, "similarity_")
    monkeypatch.setattr(sequential, "_COUNT_BLOCK", 2)           # counted in many blocks
    with pytest.raises(DataError, match="14 stored entries"):
        model.fit(train)
    # the bound, Σ_i min(Σ_{s ∋ i} d_s, n_items) = 5 + 5 + 5 + 3 + 0 = 18 entries, is above
    # the budget, the exact count is not: fitted, the same bits as without a budget
    full = mgr.SessionItemKNN(max_memory_mb=None).fit(train).similarity_
    for mb in (need, 2048):
        fitted = mgr.SessionItemKNN(max_memory_mb=mb).fit(train).similarity_
        for a in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(fitted, a), getattr(full, a))
    mgr.SessionItemKNN(k_neighbors=2, max_memory_mb=1e-9).fit(train)   # bounded: no check


def test_session_knn_backend_reaches_the_neighbourhoods(monkeypatch):
    """fit called topk_similarity without backend=, so backend="numpy" still built the
    neighbourhoods with the numba kernel; the two give the same bits."""
    import minigraphrec.models.sequential as sequential
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("backend"))
        return topk_similarity(*args, **kwargs)
    monkeypatch.setattr(sequential, "topk_similarity", spy)
    rng = np.random.default_rng(3)
    train = Sequences.from_lists([rng.integers(0, 30, rng.integers(1, 8)) for _ in range(150)],
                                 n_items=30)
    fits = {b: mgr.SessionItemKNN(k_neighbors=4, shrink=0.5, backend=b).fit(train)
            for b in ("numpy", "numba")}
    assert seen == ["numpy", "numba"]
    S = {b: m.similarity_ for b, m in fits.items()}
    for a in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(S["numpy"], a), getattr(S["numba"], a))


@pytest.mark.parametrize("make", SESSION_MODELS)
def test_a_model_fitted_on_object_raw_ids_saves_and_loads(make, tmp_path):
    """Raw ids in an object array (a pandas column): user_ids_ and item_ids_ were made plain
    (str), but sequences_ kept the object arrays, and save refused the model ("arrays of
    dtype object need pickle")."""
    data = mgr.Interactions([0, 0, 0, 1, 1], [0, 1, 2, 2, 0], timestamps=[1, 2, 3, 4, 5],
                            user_ids=np.array([70, "b"], dtype=object),
                            item_ids=np.array([5, "x", 7.0], dtype=object))
    model = make().fit(data)
    model.save(tmp_path / "m.npz")
    loaded = mgr.load(tmp_path / "m.npz")
    assert model.sequences_.user_ids.tolist() == model.user_ids_.tolist() == ["70", "b"]
    assert model.sequences_.item_ids.tolist() == model.item_ids_.tolist() == ["5", "x", "7"]
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))
