r"""How many threads the numba kernels and the BLAS under NumPy/SciPy use: one switch for both.

Two thread pools do the heavy work here: numba's (the ``parallel=True`` kernels in
``minigraphrec/kernels``) and the BLAS library that NumPy and SciPy ship (OpenBLAS in the PyPI
wheels; dense products and factorisations). On a busy machine, or when both pools are awake
at once, they compete for the same cores and small calls slow down by orders of magnitude (a
3.5k-node ``spmm`` measured at 10 ms on two threads against 0.5 ms serially on a busy 2-core
machine). One thread each is then the fastest setting; on an idle machine with many cores, more.

    >>> import minigraphrec as mgr
    >>> train = mgr.datasets.synthetic(n_users=200, n_items=300, random_state=0)
    >>> model = mgr.MF(dim=8, epochs=2, random_state=0)
    >>> with mgr.threads(1):                 # numba and BLAS both serial inside the block
    ...     model = model.fit(train)
    >>> before = mgr.set_threads(2)          # or for the rest of the process; the old counts
    >>> mgr.get_threads()["numba"] <= 2      # (capped at numba's pool: 1 on a 1-core machine)
    True
    >>> _ = mgr.set_threads(before["numba"])  # back to the count it had

The command line takes ``--threads N`` (or ``$MINIGRAPHREC_THREADS``); the benchmarks take
``--threads``. Nothing here runs at import: the library never changes thread counts unless
asked, with one exception: a training step of the embedding models runs OpenBLAS on one thread
and restores its count after (:func:`serial_blas`; faster there, and the step's results then do
not depend on the BLAS thread count).

Thread counts are not the only contention: OpenBLAS's idle workers spin for about 2^28 cycles
(~0.1 s) after each call before they sleep, and a numba kernel started in that window shares a
core with one of them. ``OPENBLAS_THREAD_TIMEOUT=4`` in the environment makes them sleep at once;
OpenBLAS reads it when it is loaded (when NumPy is imported), so it belongs in the shell or the
job's environment, not in code (2 idle cores: Gowalla ``evaluate`` 2.43 s -> 2.09 s in
``benchmarks/bench_eval.py``; one LightGCN epoch timed once each way, 25.9 s -> 25.7 s). Adding
its OpenMP counterpart for numba's workers, ``OMP_WAIT_POLICY=PASSIVE``, made that epoch
27.0 s -> 33.7 s in the same one-off timing (every kernel launch then wakes sleeping threads).

How BLAS is reached: every OpenBLAS build loaded in the process (NumPy's and SciPy's wheels
each bring their own, with prefixed symbols such as ``scipy_openblas_set_num_threads64_``) is
found in ``/proc/self/maps`` on Linux and set through its own ``*_set_num_threads``; elsewhere,
or for MKL and other BLAS, :mod:`threadpoolctl` is used when it is installed. A BLAS that is
neither stays as it is and is reported as such by :func:`~minigraphrec.get_threads`.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

from .errors import check_int

__all__ = ["set_threads", "get_threads", "threads", "serial_blas", "serial_if", "few_rows_matmul",
           "usable_cpus", "THREADS_ENV"]

#: environment variable the command line and the benchmarks read for their default
THREADS_ENV = "MINIGRAPHREC_THREADS"

_SETTERS = [f"{p}openblas_set_num_threads{s}" for p in ("", "scipy_") for s in ("", "64_")]
_GETTERS = [f"{p}openblas_get_num_threads{s}" for p in ("", "scipy_") for s in ("", "64_")]


def _check_n(n):
    return check_int(n, "the number of threads")


def _openblas_libraries():
    """``{file name: (setter, getter)}`` for each OpenBLAS loaded in this process (Linux)."""
    import numpy  # noqa: F401  (loads NumPy's BLAS)
    import scipy.linalg  # noqa: F401  (loads SciPy's)
    found = {}
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower()}
    except OSError:
        return found
    for path in sorted(paths):
        if not os.path.isfile(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, s) for s in _SETTERS if hasattr(lib, s)), None)
        getter = next((getattr(lib, g) for g in _GETTERS if hasattr(lib, g)), None)
        if setter is not None and getter is not None:
            getter.restype = ctypes.c_int
            found[os.path.basename(path)] = (setter, getter)
    return found


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def usable_cpus():
    """The CPUs this process may run on (``taskset``, a container's cpuset), not the host's:
    ``len(os.sched_getaffinity(0))``, or ``os.cpu_count()`` where that does not exist."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def get_threads():
    r"""The current thread counts: ``{"numba": n or None, "blas": {library: n}}``.

    ``numba`` is None when numba has not been imported yet (its pool then starts with
    ``$NUMBA_NUM_THREADS`` or the number of CPUs).
    """
    numba = sys.modules.get("numba")
    out = {"numba": int(numba.get_num_threads()) if numba is not None else None, "blas": {}}
    libs = _openblas_libraries()
    if libs:
        out["blas"] = {name: int(getter()) for name, (_, getter) in libs.items()}
    else:
        tpc = _threadpoolctl()
        if tpc is not None:
            out["blas"] = {info["filepath"].rsplit("/", 1)[-1]: info["num_threads"]
                           for info in tpc.threadpool_info() if info["user_api"] == "blas"}
    return out


def set_threads(n):
    r"""Use ``n`` threads in numba's pool and in every BLAS loaded; return the previous counts.

    numba's count is capped at the size of its pool (``numba.config.NUMBA_NUM_THREADS``, fixed
    when numba starts). The returned dict is what :func:`~minigraphrec.get_threads` said
    before the change.

    The two counts reach differently: BLAS's is process-wide, numba's belongs to the Python
    thread that sets it (numba's rule; a new thread starts with the whole pool). A server
    that scores in worker threads (``ThreadPoolExecutor``, a web framework's) sets numba's
    count in each worker, e.g. ``with mgr.threads(1):`` around the worker's calls.
    """
    n = _check_n(n)
    before = get_threads()
    import numba
    numba_before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        _set_blas(n)
    except BaseException:                     # both counts or neither
        numba.set_num_threads(numba_before)
        raise
    return before


#: every ``threads`` and ``serial_blas`` block open in any Python thread. BLAS's count is
#: process-wide, so one rule sets it from all of them (:func:`_apply_blocks`); each block
#: restoring the count it found instead left a finished block's count in force, or put
#: threaded BLAS back under a training step still running in another thread.
_BLOCKS_LOCK = threading.Lock()
_blocks = {"threads": [],     # [token, n] of the open threads(n) blocks, oldest first
           "serial": 0,       # open serial_blas blocks
           "base": None}      # the BLAS counts from before the first open block


def _apply_blocks():
    """Set BLAS from the open blocks (called under ``_BLOCKS_LOCK`` after each enters or
    ends): one thread while a ``serial_blas`` block is open; else the ``n`` of the newest
    ``threads`` block; else, the last block ended, the counts from before the first."""
    if _blocks["serial"]:
        for setter, getter in _openblas_handles():
            if getter() != 1:
                setter(1)
    elif _blocks["threads"]:
        _set_blas(_blocks["threads"][-1][1])
    else:
        base, _blocks["base"] = _blocks["base"], None
        _restore_blas(base or {})


def _open_block(kind, value=None):
    """Register a block (under the lock); the first open block records the BLAS counts.

    If BLAS cannot be set, the block is taken out again (and BLAS set from the blocks
    still open, or back to the counts from before) before the error goes on: a block that
    never opened must leave no count in the books, where it would be in force after every
    later block ended."""
    if _blocks["base"] is None:
        _blocks["base"] = _blas_counts()
    if kind == "serial":
        _blocks["serial"] += 1
    else:
        _blocks["threads"].append(value)
    try:
        _apply_blocks()
    except BaseException:
        _close_block(kind, value, quiet=True)
        raise


def _close_block(kind, value=None, quiet=False):
    """Take a block out of the books (under the lock) and set BLAS from the others;
    ``quiet``: an error in setting BLAS is dropped (one is already on its way)."""
    if kind == "serial":
        _blocks["serial"] -= 1
    else:
        _blocks["threads"].remove(value)
    try:
        _apply_blocks()
    except Exception:
        if not quiet:
            raise


@contextlib.contextmanager
def threads(n):
    r"""Within the block, ``n`` threads for numba and BLAS; the previous counts after it.

    numba's count is the calling thread's own (:func:`set_threads`), restored at the end of
    the block. BLAS's is process-wide, so blocks open at once in several Python threads
    share it: the block started last sets it (one thread while a
    :func:`~minigraphrec.threadpools.serial_blas` block is open anywhere), and after the
    last block ends, BLAS has the counts from before the first.
    """
    import numba
    n = _check_n(n)
    token = [object(), n]
    before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        with _BLOCKS_LOCK:
            _open_block("threads", token)
    except BaseException:                     # the block never opened: numba's count back
        numba.set_num_threads(before)
        raise
    try:
        yield
    finally:
        numba.set_num_threads(before)
        with _BLOCKS_LOCK:
            _close_block("threads", token)


def _set_blas(n):
    """``n`` threads in every BLAS (the BLAS half of :func:`set_threads`)."""
    _openblas_handles()
    libs = _HANDLES
    if libs:
        for setter, _ in libs.values():
            setter(n)
    else:
        tpc = _threadpoolctl()
        if tpc is not None:
            tpc.threadpool_limits(limits=n, user_api="blas")


def _blas_counts():
    """``get_threads()["blas"]``: ``{library: n}``, read through the cached OpenBLAS handles
    when there are any (cheap: what every training step's :func:`serial_blas` reads)."""
    if _openblas_handles():
        return {name: int(getter()) for name, (_, getter) in _HANDLES.items()}
    return get_threads()["blas"]


def _restore_blas(counts):
    """Set every BLAS back to ``counts`` (``get_threads()["blas"]`` of an earlier moment)."""
    _openblas_handles()
    libs = _HANDLES
    for name, count in counts.items():
        if name in libs:
            libs[name][0](count)
    if not libs and counts:
        tpc = _threadpoolctl()
        if tpc is not None:
            tpc.threadpool_limits(limits=max(counts.values()), user_api="blas")


_HANDLES = None          # {file name: (setter, getter)} of the OpenBLAS builds, found once


def _openblas_handles():
    """The ``(setter, getter)`` pairs of :func:`_openblas_libraries`, found once per process
    (reading ``/proc/self/maps`` at every training step would cost more than the step's
    products)."""
    global _HANDLES
    if _HANDLES is None:
        _HANDLES = _openblas_libraries()
    return list(_HANDLES.values())


@contextlib.contextmanager
def serial_blas():
    r"""Within the block, every OpenBLAS loaded runs on one thread; its counts are restored after.

    What a training step of the embedding models runs in
    (:meth:`~minigraphrec.models.EmbeddingRecommender.loss_and_grad`). Their
    dense products are small (``(m, 2·64) @ (2·64, 64)``), and each sits between numba kernels:
    with more BLAS threads, the idle workers spin after every product on the cores those
    kernels need next (see the module docstring). The tall ones still use two cores: they are
    cut into two row halves, each a serial BLAS call on one of numba's threads
    (``halves_matmul`` in ``ops/dense.py``), which also keeps their bits independent
    of the thread count. On Gowalla, 2 idle cores, serial BLAS made
    one epoch of 396 batches 144 -> 98 s (NGCF), 130 -> 107 s (GAT) and 56 -> 37 s (GCN)
    (``benchmarks/results/gnn_epoch_threaded_blas.md`` against ``gnn_epoch.md``). One BLAS
    thread also makes the step's floating-point results independent of the BLAS thread count
    (OpenBLAS's threaded ``sgemm`` does not give the same bits as its serial one). numba's
    thread count is untouched.

    Only OpenBLAS (found as :func:`~minigraphrec.set_threads` finds it, once per process) is
    switched: other BLAS libraries keep their settings. The count is process-wide, so BLAS
    calls made by other Python threads while the block runs are serial too. Blocks open at
    once in several threads (two models trained side by side, a model scored while another
    trains, a server's worker inside :func:`threads`) share one setting, kept by
    :func:`_apply_blocks`: serial while any ``serial_blas`` block is open.
    """
    if not _openblas_handles():                      # no OpenBLAS: nothing is switched
        yield
        return
    with _BLOCKS_LOCK:
        _open_block("serial")
    try:
        yield
    finally:
        with _BLOCKS_LOCK:
            _close_block("serial")


#: a product of at most ``FEW_ROWS`` rows and fewer multiply-adds than ``SERIAL_BLAS_BELOW``
#: runs on one BLAS thread (:func:`few_rows_matmul`)
FEW_ROWS, SERIAL_BLAS_BELOW = 8, 1 << 24


def few_rows_matmul(A, B, out=None):
    r"""``A @ B`` (into ``out``: ``np.matmul``'s), on one BLAS thread when ``A`` has a few rows
    and no other Python thread runs.

    The serving products: one user's scores against a whole catalogue. OpenBLAS splits even a
    one-row product over a large ``B`` between its threads, and on busy cores waking the
    second one costs a scheduler time slice: a one-user ``recommend`` of MF on Gowalla took a
    median 8.8 ms with 2 BLAS threads against 2.1 ms with one, GF-CF's on a 3,000-item
    catalogue 8.0 against 0.32 ms (``benchmarks/bench_serving.py``, AMD EPYC, load about 2).
    For at most ``FEW_ROWS`` rows and below ``SERIAL_BLAS_BELOW`` multiply-adds (6 users of
    Gowalla at d = 64) the product runs inside :func:`serial_blas` (about 10 µs to switch and
    back), and its numbers do not depend on the BLAS thread count.

    Only while the calling thread is the process's only Python thread: OpenBLAS's count is
    process-wide, so switching it would also make another thread's product of the moment
    serial (a batch's scores would then take the serial product's bits or the threaded
    one's by timing: OpenBLAS's threaded product does not always give its serial product's
    bits, 87 of 210,000 entries of a 300 x 8 by 8 x 700 float64 product differed), and
    OpenBLAS does not promise that changing the count is safe while another thread is inside
    a product. A server that scores from several threads sets the count itself, once, as
    the README's "Serving from threads" says (``with mgr.threads(1):`` in each worker).
    Larger products (a block of ``evaluate``, a batch ``recommend``) keep every BLAS thread:
    the work pays for waking them.
    """
    import numpy as np
    if (A.shape[0] <= FEW_ROWS and A.shape[0] * A.shape[-1] * B.shape[-1] < SERIAL_BLAS_BELOW
            and threading.active_count() == 1):
        with serial_blas():
            return np.matmul(A, B, out=out)
    return np.matmul(A, B, out=out)


class serial_if:
    r"""``with serial_if(small):`` one numba thread (the calling thread's count) inside the
    block when ``small`` is true.

    For the models' kernels on a small set of rows (a batch's own rows),
    where waking the thread pool costs more than the work (NGCF's
    ``bi_inputs`` on a batch's 5,743 rows of Gowalla, 2-core machine at load
    average 21: 0.2 ms on one thread, 65 ms on two). The kernels give the same bits for any thread count, so
    this changes the speed only. The previous thread count is restored.
    """

    def __init__(self, small):
        self.small = bool(small)

    def __enter__(self):
        if self.small:
            import numba
            self.before = numba.get_num_threads()
            numba.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.small:
            import numba
            numba.set_num_threads(self.before)
