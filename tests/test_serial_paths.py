"""Small calls stay off numba's thread pool: the serial twins of the serving kernels.

A ``parallel=True`` kernel wakes the thread pool on every call; on busy cores that cost a
scheduler time slice (5-13 ms on a 2-core machine at load average 4-6) for microseconds of
work, so a one-user ``recommend`` took about 12 ms. The kernels a one-user call runs have a
serial twin (the same row function in one thread, the same bits) chosen below a size.
Here: the Markov chain's kernel (its own tests are in test_sequential.py), and a check
that a one-user call of each model family whose serving kernels have a twin runs no
parallel kernel. The top-k, int8 row-sum and Hybrid normalisation paths are tested in
test_rank.py, test_quantize.py and test_hybrid.py.
"""
import importlib
import pkgutil

import numba
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec.sequences import Sequences


def _must_not_run(*args):
    raise AssertionError("the other kernel ran")


# ------------------------------------------------------------------- Markov chain
@pytest.mark.parametrize("path", ["parallel", "serial"])
@pytest.mark.parametrize("smoothing, tiebreak", [(0.0, True), (0.5, False), (2.0, True)])
def test_markov_parallel_and_serial_kernels_equal_the_reference(smoothing, tiebreak, path,
                                                                monkeypatch):
    """``markov_scores_rows`` (rows in parallel) and its serial twin give the reference's
    scores bit for bit, back-off rows and one-session blocks included. The threshold is
    moved so that every block takes ``path``; the other kernel is a sentinel."""
    from minigraphrec.kernels import markov
    monkeypatch.setattr(markov, "PARALLEL_FROM", 0 if path == "parallel" else 10 ** 12)
    monkeypatch.setattr(markov, "markov_scores_rows_serial" if path == "parallel"
                        else "markov_scores_rows", _must_not_run)
    rng = np.random.default_rng(8)
    train = Sequences.from_lists([rng.integers(0, 50, rng.integers(2, 9)) for _ in range(250)],
                                 n_items=55)                      # items 50..54 never occur
    model = mgr.MarkovChain(smoothing=smoothing, popularity_tiebreak=tiebreak,
                            backend="numpy").fit(train)
    for n_sessions in (1, 4, 60):
        test = Sequences.from_lists([rng.integers(0, 55, rng.integers(1, 5))
                                     for _ in range(n_sessions)], n_items=55)
        model.set_params(backend="numpy")
        ref = model.score_sessions(test)
        model.set_params(backend="numba")
        np.testing.assert_array_equal(model.score_sessions(test), ref)
        out = np.full(ref.shape, np.nan)
        assert model.score_sessions(test, out=out) is out
        np.testing.assert_array_equal(out, ref)
    last = test.items[test.indptr[1:] - 1]
    assert (model._out[last] == 0).any()                          # some back-off rows


def test_markov_scores_of_one_session_take_the_serial_kernel(monkeypatch):
    """One session of ML-100K's 1,682 items: the serial twin (12 ms per call through the
    pool on a busy 2-core machine); a large block runs in parallel."""
    from minigraphrec.kernels import markov
    calls = []
    for name in ("markov_scores_rows", "markov_scores_rows_serial"):
        def spy(*args, _name=name, _kernel=getattr(markov, name)):
            calls.append(_name)
            return _kernel(*args)
        monkeypatch.setattr(markov, name, spy)
    rng = np.random.default_rng(0)
    n_items = 1_682
    model = mgr.MarkovChain().fit(Sequences.from_lists(
        [rng.integers(0, n_items, 6) for _ in range(300)], n_items=n_items))
    model.score_sessions(Sequences.from_lists([[3, 5]], n_items=n_items))
    assert calls == ["markov_scores_rows_serial"]
    calls.clear()
    n_rows = markov.PARALLEL_FROM // n_items + 1
    model.score_sessions(Sequences.from_lists([[3, 5]] * n_rows, n_items=n_items))
    assert calls == ["markov_scores_rows"]


# ------------------------------------------------------- one-user calls, every model
def _parallel_kernels():
    """``(module, name)`` of every ``parallel=True`` kernel in ``minigraphrec.kernels``."""
    import minigraphrec.kernels as K
    found = []
    for info in pkgutil.iter_modules(K.__path__):
        mod = importlib.import_module(f"minigraphrec.kernels.{info.name}")
        for name, obj in vars(mod).items():
            if (isinstance(obj, numba.core.registry.CPUDispatcher)
                    and obj.targetoptions.get("parallel") and obj.__module__ == mod.__name__):
                found.append((mod, name))
    return found


@pytest.fixture
def parallel_calls(monkeypatch):
    """Every parallel kernel of ``minigraphrec.kernels`` wrapped: the names of those that ran
    on more than one numba thread (woke the pool; one thread, as Hybrid's ``serial_if`` sets,
    does not). A kernel imported by name into another module at import time is not seen;
    the serving code imports its kernels at call time."""
    ran = []
    for mod, name in _parallel_kernels():
        def spy(*args, _kernel=getattr(mod, name), _name=f"{mod.__name__}.{name}"):
            if numba.get_num_threads() > 1:
                ran.append(_name)
            return _kernel(*args)
        monkeypatch.setattr(mod, name, spy)
    return ran


def _fitted(name, train):
    from minigraphrec.models import (EASE, MF, ContentBased, Hybrid, ItemKNN, LightGCN,
                                     Popularity, UserKNN)
    from minigraphrec.quantization import quantize
    small = dict(dim=8, epochs=1, random_state=0)
    make = {
        "Popularity": Popularity, "EASE": EASE, "ItemKNN": ItemKNN, "UserKNN": UserKNN,
        "MF": lambda: MF(**small), "LightGCN": lambda: LightGCN(n_layers=2, **small),
        "ContentBased": lambda: ContentBased(item_features=np.eye(train.n_items)),
        "Hybrid": lambda: Hybrid([ItemKNN(), UserKNN()], weights=[0.6, 0.4]),
        "MarkovChain": mgr.MarkovChain, "SessionPopularity": mgr.SessionPopularity,
    }
    base, _, dtype = name.partition("-")
    model = make[base]().fit(train)
    return quantize(model, dtype) if dtype else model


MODELS = ["Popularity", "MF", "LightGCN", "EASE", "ItemKNN", "UserKNN", "ContentBased",
          "Hybrid", "MarkovChain", "SessionPopularity", "MF-int8", "ItemKNN-int8",
          "EASE-int8", "EASE-float16"]


#: no ad-hoc history (the quantised models), or one whose scoring runs kernels of files this
#: change did not cover
HISTORY_ELSEWHERE = {"MF-int8", "ItemKNN-int8", "EASE-int8", "EASE-float16"}


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one numba thread: no parallel kernel can wake a second")
@pytest.mark.parametrize("name", MODELS)
def test_one_user_calls_wake_no_thread_pool(name, parallel_calls):
    """``recommend`` and ``score`` of one user (and ``recommend_history`` of one history)
    run no parallel kernel on more than one thread, with 2 numba threads set: nothing wakes
    the thread pool."""
    from conftest import cyclic_walks
    train = cyclic_walks(n_items=300, n_users=60, length=12)
    model = _fitted(name, train)
    parallel_calls.clear()                                        # what fit ran
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(2)
        model.recommend([3], k=10)
        model.score([3])
        if name not in HISTORY_ELSEWHERE:
            model.recommend_history([4, 5, 6], k=10)
        if hasattr(model, "score_sessions"):
            model.score_sessions(Sequences.from_lists([[4, 5, 6]], n_items=train.n_items))
    finally:
        numba.set_num_threads(before)
    assert parallel_calls == []


# ------------------------------------------------------------------- BLAS products
@pytest.fixture
def serial_blocks(monkeypatch):
    """Record each ``serial_blas`` block ``few_rows_matmul`` opens (and still open it)."""
    import contextlib

    from minigraphrec import threadpools
    entered, real = [], threadpools.serial_blas

    @contextlib.contextmanager
    def recording():
        entered.append(True)
        with real():
            yield

    monkeypatch.setattr(threadpools, "serial_blas", recording)
    return entered


def test_a_few_users_scores_run_on_one_blas_thread(serial_blocks):
    """``score_matrix``'s product for a few users runs inside ``serial_blas`` (and gives the
    bits of the product on one BLAS thread); a block of many users keeps BLAS's threads."""
    from minigraphrec import rank, threadpools
    rng = np.random.default_rng(3)
    V = rng.standard_normal((5000, 64))
    for kind in ("dot", "cosine", "euclidean"):
        for n_users in (1, threadpools.FEW_ROWS):
            U = rng.standard_normal((n_users, 64))
            serial_blocks.clear()
            got = rank.score_matrix(U, V, kind)
            assert serial_blocks == [True], (kind, n_users)
            with mgr.threads(1):
                np.testing.assert_array_equal(got, rank._item_scorer(V, kind)(U))
        serial_blocks.clear()
        rank.score_matrix(rng.standard_normal((threadpools.FEW_ROWS + 1, 64)), V, kind)
        assert serial_blocks == []
    serial_blocks.clear()                             # few users, but above the work bound
    rank.score_matrix(np.ones((2, 64)),
                      np.ones((threadpools.SERIAL_BLAS_BELOW // 128 + 1, 64)))
    assert serial_blocks == []


@pytest.mark.parametrize("name", ["GFCF", "QuantizedEmbeddings-float16",
                                  "QuantizedGFCF-float16", "ContentBased"])
def test_one_user_products_of_other_models_run_on_one_blas_thread(name, serial_blocks):
    """The dense products of GF-CF's, the float16 quantised models' and ContentBased's
    one-user scores run on one BLAS thread, with the bits of a 1-thread call. (An int8 model's
    one-user score runs no BLAS product: the serial int8 kernel, ``test_quantize.py``.)"""
    train = mgr.datasets.synthetic(n_users=60, n_items=200, mean_interactions=8,
                                   random_state=0)
    if name == "GFCF":
        model = mgr.GFCF(n_factors=8).fit(train)
    elif name.startswith("QuantizedEmbeddings"):
        model = mgr.quantize(mgr.MF(dim=8, random_state=0).fit(train, epochs=1),
                             name.split("-")[1])
    elif name.startswith("QuantizedGFCF"):
        model = mgr.quantize(mgr.GFCF(n_factors=8).fit(train), name.split("-")[1])
    else:
        rng = np.random.default_rng(0)
        features = rng.random((200, 6))
        train = mgr.Interactions(train.users, train.items, n_users=60, n_items=200,
                                 item_features=features)
        model = mgr.ContentBased().fit(train)
    serial_blocks.clear()
    got = model.score([3])
    assert serial_blocks, name
    with mgr.threads(1):
        np.testing.assert_array_equal(got, model.score([3]))


def test_with_another_python_thread_the_blas_count_is_left_alone(serial_blocks):
    """The BLAS count is process-wide: while another Python thread runs (it might be inside a
    product), a few users' product does not switch it."""
    import threading

    from minigraphrec import rank
    if threading.active_count() != 1:
        pytest.skip("the test process already runs other Python threads")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        rank.score_matrix(np.ones((1, 16)), np.ones((100, 16)))
        assert serial_blocks == []
    finally:
        release.set()
        other.join()
    rank.score_matrix(np.ones((1, 16)), np.ones((100, 16)))
    assert serial_blocks == [True]
