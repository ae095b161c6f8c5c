"""One switch for numba's and BLAS's thread counts."""
import subprocess
import sys

import pytest

import minigraphrec as mgr
from minigraphrec import DataError
from conftest import child_env


def test_context_sets_and_restores_both_pools():
    import numba
    before = mgr.get_threads()
    with mgr.threads(1):
        inside = mgr.get_threads()
        assert inside["numba"] == 1
        assert inside["blas"] and set(inside["blas"].values()) == {1}
    after = mgr.get_threads()
    assert after["blas"] == before["blas"]
    assert after["numba"] == (before["numba"] if before["numba"] is not None
                              else numba.config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", None])
def test_bad_counts_are_refused(bad):
    with pytest.raises(DataError, match="number of threads"):
        mgr.set_threads(bad)


def test_cli_threads_flag_and_env(tmp_path):
    code = ("import minigraphrec as mgr, sys; from minigraphrec.cli import main;"
            "main(['--threads', '1', 'demo', '--models', 'popularity']);"
            "t = mgr.get_threads(); print(t['numba'], sorted(set(t['blas'].values())))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env=child_env())
    out = out.stdout.strip().splitlines()[-1]
    assert out == "1 [1]"
    proc = subprocess.run([sys.executable, "-m", "minigraphrec.cli", "demo", "--models",
                           "popularity"], capture_output=True, text=True, cwd=tmp_path,
                          env=child_env({"MINIGRAPHREC_THREADS": "zero", "PATH": ""}))
    assert proc.returncode != 0 and "MINIGRAPHREC_THREADS" in proc.stderr


def test_serial_blas_sets_one_thread_and_restores_even_on_error():
    import numba

    from minigraphrec.threadpools import serial_blas
    with mgr.threads(2):
        before = mgr.get_threads()
        with pytest.raises(RuntimeError, match="inside"), serial_blas():
            inside = mgr.get_threads()
            raise RuntimeError("inside")
        assert inside["blas"] and set(inside["blas"].values()) == {1}
        assert inside["numba"] == numba.get_num_threads()          # numba's untouched
        assert mgr.get_threads() == before


def _step(model_cls, n_threads):
    """One training step's loss and gradients with numba and BLAS at ``n_threads`` threads."""
    import numpy as np

    from minigraphrec.batch import PairBatch
    from minigraphrec.ops import sample_bpr
    data = mgr.datasets.synthetic(n_users=3000, n_items=4000, mean_interactions=20,
                                  random_state=0)
    model = model_cls(batch_size=2048, random_state=0).fit(data, epochs=0)
    model.step_ = 1                                                # dropout on where it has it
    users, pos, neg = sample_bpr(model.R_, random_state=np.random.default_rng(0))
    with mgr.threads(n_threads):
        loss, grads = model.loss_and_grad(PairBatch(users[:2048], pos[:2048], neg[:2048]))
    return loss, {k: v.copy() for k, v in grads.items()}


@pytest.mark.parametrize("name", ["GCN", "NGCF", "GAT"])
def test_training_step_does_not_depend_on_the_thread_count(name):
    # threaded OpenBLAS sgemm gives other last bits than its serial one; the step runs
    # BLAS serially (threadpools.serial_blas), so the thread count the user set is moot
    import numpy as np
    cls = getattr(mgr, name)
    loss1, grads1 = _step(cls, 1)
    loss2, grads2 = _step(cls, 2)
    assert loss1 == loss2
    for key in grads1:
        assert np.array_equal(grads1[key], grads2[key]), key


_FIT_DIGEST = """
import hashlib, numpy as np, minigraphrec as mgr
data = mgr.datasets.synthetic(n_users=600, n_items=800, mean_interactions=15, random_state=0)
m = getattr(mgr, {name!r})(dim=16, n_layers=2, batch_size=512, random_state=0) \\
    if {name!r} == "LightGCN" else getattr(mgr, {name!r})(dim=16, batch_size=512, random_state=0)
m.fit(data, epochs=2)
blob = b"".join(np.ascontiguousarray(v).tobytes() for _, v in sorted(m.params.items()))
print(hashlib.sha256(blob).hexdigest(), repr([h["loss"] for h in m.history_]))
"""


@pytest.mark.parametrize("name", ["MF", "LightGCN"])
def test_fit_does_not_depend_on_the_cpus_blas_kernel(name):
    """OpenBLAS picks kernels by CPU (SkylakeX on AVX-512 machines, Haswell, Zen ...) and
    their float32 sums differ in the last bits. MF's and LightGCN's training touches BLAS
    nowhere it matters, so their parameters and losses are the same bits under any kernel.
    (GCN, NGCF and GAT multiply by dense weights through BLAS: same bits per kernel only.)"""
    import os
    out = set()
    for core in (None, "Haswell", "Sandybridge"):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        if core:
            env["OPENBLAS_CORETYPE"] = core
        out.add(subprocess.run([sys.executable, "-c", _FIT_DIGEST.format(name=name)],
                               env=child_env(env),
                               check=True, capture_output=True, text=True).stdout)
    assert len(out) == 1, out


def test_usable_cpus_are_the_affinity_mask_else_the_cpu_count(monkeypatch):
    """One reading of the CPUs a process may use, for the command line and the benchmarks."""
    import os
    from minigraphrec.threadpools import usable_cpus
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    assert usable_cpus() == 2
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert usable_cpus() == 7


def _in_order(*steps):
    """Run ``steps`` (callables) in order, alternating between two Python threads: the odd
    ones in a helper thread, the even ones here, each waiting for the one before."""
    import threading
    turn = [threading.Event() for _ in steps]
    errors = []

    def run(indices):
        for i in indices:
            if i:
                assert turn[i - 1].wait(10), f"step {i - 1} never finished"
            try:
                steps[i]()
            except BaseException as exc:           # reported by the main thread
                errors.append(exc)
            turn[i].set()
    other = threading.Thread(target=run, args=(range(1, len(steps), 2),))
    other.start()
    run(range(0, len(steps), 2))
    other.join(10)
    if errors:
        raise errors[0]


def test_blocks_open_in_two_threads_restore_blas_when_the_last_ends():
    """serial_blas in two threads, the first to start ending first: the second still runs
    on serial BLAS, and the counts from before both come back after the last. Was: the
    first block's end put threaded BLAS back under the second. The same for threads(n)."""
    import contextlib

    from minigraphrec.threadpools import serial_blas
    with mgr.threads(2):
        before = mgr.get_threads()["blas"]
        if not before or set(before.values()) != {2}:
            pytest.skip("no OpenBLAS whose count can be set")
        for make in (serial_blas, lambda: mgr.threads(1)):
            a, b = contextlib.ExitStack(), contextlib.ExitStack()
            seen = {}
            _in_order(lambda: a.enter_context(make()),                 # A starts
                      lambda: b.enter_context(make()),                 # B starts
                      lambda: a.close(),                               # A ends first
                      lambda: seen.setdefault("B", mgr.get_threads()["blas"]),
                      lambda: None,
                      lambda: b.close())                               # then B
            assert set(seen["B"].values()) == {1}
            assert mgr.get_threads()["blas"] == before


def test_nested_blocks_in_one_thread_restore_each_level():
    with mgr.threads(2):
        outer = mgr.get_threads()
        with mgr.threads(1):
            assert set(mgr.get_threads()["blas"].values()) <= {1}
        assert mgr.get_threads() == outer


def test_threads_and_serial_blas_blocks_in_two_threads_share_one_rule():
    """A threads(4) block in one thread, a serial_blas block (a training step) in another:
    BLAS stays serial while the step runs, whichever ends first, and the count from before
    both comes back after the last. Was: each kind kept its own books, so the threads block's
    end put 2 threads back under the step, and the step's end left 4 in force."""
    import contextlib

    from minigraphrec.threadpools import serial_blas
    with mgr.threads(2):
        before = mgr.get_threads()["blas"]
        if not before or set(before.values()) != {2}:
            pytest.skip("no OpenBLAS whose count can be set")
        for first, second in ((lambda: mgr.threads(4), serial_blas),
                              (serial_blas, lambda: mgr.threads(4))):
            a, b = contextlib.ExitStack(), contextlib.ExitStack()
            seen = {}
            _in_order(lambda: a.enter_context(first()),
                      lambda: b.enter_context(second()),
                      lambda: seen.setdefault("both", mgr.get_threads()["blas"]),
                      lambda: None,
                      lambda: a.close(),
                      lambda: seen.setdefault("second", mgr.get_threads()["blas"]),
                      lambda: None,
                      lambda: b.close())
            assert set(seen["both"].values()) == {1}                 # the step is serial
            assert set(seen["second"].values()) == ({1} if second is serial_blas else {4})
            assert mgr.get_threads()["blas"] == before


def test_a_block_whose_blas_cannot_be_set_leaves_no_count_behind(monkeypatch):
    """A threads(n) or serial_blas block whose BLAS setting raised stayed in the books: numba
    kept n, and after every later block BLAS went back to the failed block's count instead
    of the one from before. Now the failed block is taken out and the error goes on."""
    from minigraphrec import threadpools as tp
    with mgr.threads(2):
        before = mgr.get_threads()
        if not before["blas"] or set(before["blas"].values()) != {2}:
            pytest.skip("no OpenBLAS whose count can be set")

        def broken(*args):
            raise OSError("no BLAS today")
        with monkeypatch.context() as patch:
            patch.setattr(tp, "_set_blas", broken)
            with pytest.raises(OSError, match="no BLAS today"), mgr.threads(1):
                pass
        assert mgr.get_threads() == before                       # numba's count too
        with monkeypatch.context() as patch:
            patch.setattr(tp, "_openblas_handles", lambda: [(broken, lambda: 2)])
            with pytest.raises(OSError, match="no BLAS today"), tp.serial_blas():
                pass
        assert tp._blocks["serial"] == 0
        with mgr.threads(1):                                     # a later block ends:
            pass
        assert mgr.get_threads() == before                       # the count from before


def test_set_threads_changes_both_counts_or_neither(monkeypatch):
    import numba

    from minigraphrec import threadpools as tp
    with mgr.threads(2):
        before = numba.get_num_threads()

        def broken(n):
            raise OSError("no BLAS today")
        monkeypatch.setattr(tp, "_set_blas", broken)
        with pytest.raises(OSError, match="no BLAS today"):
            mgr.set_threads(1)
        assert numba.get_num_threads() == before
