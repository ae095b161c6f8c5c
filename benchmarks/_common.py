"""Shared helpers for ``benchmarks/bench_*.py``: timing, provenance, result files.

A benchmark builds its rows (one dict per measurement), then calls
:func:`write_results`, which stores them with the machine, the library
versions, the date, the exact command and the git commit (with whether tracked
files had uncommitted changes) in ``<out>/<name>.json`` and a small Markdown
table in ``<out>/<name>.md``.

Typical use::

    parser = benchmark_parser("numba spmm vs SciPy")
    args = parser.parse_args()          # --smoke without --out: a fresh temporary folder
    t, _ = median_time(lambda: A @ X, repeat=args.repeat)
    write_results("spmm", rows, columns=[...], out_dir=args.out)
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"

#: environment variables that set thread counts or thread behaviour, recorded in front of a
#: result's command: every ``OPENBLAS_*`` and ``MINIGRAPHREC_*`` (but ``MINIGRAPHREC_FIGURES``,
#: an output folder) and these
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _thread_env(environ):
    """``{name: value}`` of the thread-relevant variables set in ``environ``, sorted by name."""
    return {k: environ[k] for k in sorted(environ)
            if k in THREAD_ENV or k.startswith("OPENBLAS_")
            or k.startswith("MINIGRAPHREC_") and k != "MINIGRAPHREC_FIGURES"}


# taken when the script imports this module, before it sets any variable of its own (some set
# OPENBLAS_NUM_THREADS from --threads before NumPy loads): the environment the user gave
_START_ENV = _thread_env(os.environ)


# ------------------------------------------------------------------ memory
def status_bytes(field):
    """A size field of ``/proc/self/status`` (``"VmRSS"``, ``"VmHWM"``) in bytes; None where
    there is no such file (not Linux) or no such field."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return 1024 * int(line.split()[1])                  # the unit is kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes():
    """This process's peak resident size in bytes: ``VmHWM`` where Linux gives it, else
    ``ru_maxrss``. On Linux ``ru_maxrss`` also counts, for a process started by fork and
    exec, the peak of the process it was forked from (carried over the exec): a worker of a
    parent that peaked at 1 GB reads about 1 GB before doing anything, while its own
    ``VmHWM`` reads its own few MB."""
    peak = status_bytes("VmHWM")
    if peak is not None:
        return peak
    import resource
    scale = 1 if sys.platform == "darwin" else 1024                      # bytes / kB
    return scale * resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak():
    """Restart the peak from the current resident size (``VmHWM := VmRSS``, by writing 5 to
    ``/proc/self/clear_refs``; Linux 4.0 and later). True when done; False where it cannot
    be (the peak then keeps its history)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class _BenchmarkParser(argparse.ArgumentParser):
    """An ArgumentParser that fills in ``--out`` after parsing (see :func:`benchmark_parser`)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        if getattr(namespace, "out", RESULTS_DIR) is None:
            namespace.out = default_out(getattr(namespace, "smoke", False))
        elif getattr(namespace, "out", None) is not None:
            check_out(namespace.out, prog=self.prog)      # before any work, not at the end
        return namespace, rest


def check_out(out, option="--out", prog=None):
    """Stop with one line (:func:`script_error`) unless the results folder ``out`` is a
    writable folder, or can be made: a file of that name, or an existing parent that is a
    file or not writable, would otherwise end the run with a traceback when it writes."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            script_error(f"{option} {out} is a file, not a folder", prog)
        if not os.access(out, os.W_OK | os.X_OK):
            script_error(f"{option} {out}: the folder is not writable", prog)
        return
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        script_error(f"{option} {out} cannot be made: {parent} is a file", prog)
    if not os.access(parent, os.W_OK | os.X_OK):
        script_error(f"{option} {out} cannot be made: {parent} is not writable", prog)


def default_out(smoke):
    """Where results go without ``--out``: ``benchmarks/results`` for a real run; for a
    ``--smoke`` run a fresh temporary folder (printed), so that a smoke run never overwrites
    or adds to the committed results."""
    if not smoke:
        return RESULTS_DIR
    out = Path(tempfile.mkdtemp(prefix="minigraphrec-smoke-"))
    print(f"--smoke without --out: results go to {out}", flush=True)
    return out


#: ``--smoke``'s help where a script gives no text of its own
SMOKE_HELP = "a small, quick run on small synthetic data (for the test suite)"
#: ``--repeat``'s help where a script gives no text of its own
REPEAT_HELP = "runs per measurement; the median is reported"


def benchmark_parser(description, repeat=True, smoke=SMOKE_HELP, repeat_help=REPEAT_HELP):
    """An ArgumentParser with the options every benchmark takes.

    ``--smoke`` (a small, quick run that keeps the script tested; ``smoke`` says what it runs
    in this script) and ``--out DIR`` (where results go: ``benchmarks/results`` by default, a
    fresh temporary folder with ``--smoke``). With ``repeat=True``, also ``--repeat N``
    (``repeat_help`` says what the script does with it: by default, runs per measurement, the
    median reported; default 7, which a script changes by ``parser.set_defaults(repeat=N)``:
    the help shows the default in force). A script that measures each thing once passes
    ``repeat=False``.
    """
    parser = _BenchmarkParser(description=description)
    parser.add_argument("--smoke", action="store_true",
                        help=f"{smoke}; without --out its results go to a fresh temporary "
                             "folder")
    if repeat:
        parser.add_argument("--repeat", type=int, default=7,
                            help=f"{repeat_help} (default %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results folder (default {RESULTS_DIR.relative_to(REPO)}; "
                             "with --smoke a fresh temporary folder)")
    return parser


#: the files each data layout's loader reads, relative to the folder given
ML100K_FILES = ("u.data", "u.user", "u.item")
LIGHTGCN_FILES = ("train.txt", "test.txt")


def script_error(message, prog=None):
    """Stop as argparse does on a bad argument, without its usage lines: ``<prog>: error:
    <message>`` as one line on stderr, exit status 2, no traceback. ``prog``: the script's
    name (default ``sys.argv[0]``'s, as argparse names it)."""
    prog = prog or os.path.basename(sys.argv[0]) or "benchmark"
    one_line = " ".join(str(message).splitlines())
    sys.stderr.write(f"{prog}: error: {one_line}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def ml100k_split(args, smoke_users, smoke_items):
    """``(train, test, name)``: MovieLens-100K from ``args.data`` split 80/20 per user at
    random (seed ``args.split_seed``), or with ``args.smoke`` the embedded synthetic data at
    ``smoke_users`` x ``smoke_items`` (15 interactions per user on average, seed 0), split
    alike. The ML-100K benchmarks share it, so they score the same split."""
    from minigraphrec.datasets import load_movielens_100k, synthetic
    from minigraphrec.split import random_split
    if args.smoke:
        data = synthetic(n_users=smoke_users, n_items=smoke_items, mean_interactions=15,
                         random_state=0)
        name = f"synthetic-{smoke_users}x{smoke_items}"
    else:
        data, name = load_movielens_100k(args.data), "ml-100k"
    train, test = random_split(data, test_size=0.2, random_state=args.split_seed)
    return train, test, name


def check_data(folder, files, what, option="--data"):
    """Stop with one line (:func:`script_error`) unless ``folder`` is an existing folder that
    holds every file of ``files`` (paths relative to it: ``"u.data"``, ``"gowalla/train.txt"``).

    ``what`` names the layout expected (``"the unpacked MovieLens-100K folder"``); the message
    names the option, the path, the missing files and the layout. Meant to run before any
    work, so that a wrong path costs no minutes of benchmarking."""
    folder = Path(folder)
    files = tuple(files)
    named = not files or all(f in what for f in files)       # "... with a train.txt" says it
    expected = f"expected {what}" if named else f"expected {what}, holding {', '.join(files)}"
    if not folder.exists():
        script_error(f"{option} {folder}: no such folder ({expected})")
    if not folder.is_dir():
        script_error(f"{option} {folder} is a file, not a folder ({expected})")
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        script_error(f"{option} {folder} has no {', '.join(missing)} "
                     + (f"(expected {what})" if len(missing) == len(files) else f"({expected})"))


def require_file(path, option, hint=""):
    """Stop with one line (:func:`script_error`) unless ``path`` is a file: ``option`` names
    what reads it (``"--plot-only"``), ``hint`` how to point it elsewhere."""
    if not Path(path).is_file():
        script_error(f"{option} reads {path}, which does not exist"
                     + (f" ({hint})" if hint else ""))


def read_record(out, name, hint="give --out the folder of an earlier run"):
    """The results JSON ``<out>/<name>.json`` of an earlier run, as a dict, which
    ``--plot-only`` redraws; one line and exit 2 (:func:`require_file`) when it is missing."""
    source = Path(out) / f"{name}.json"
    require_file(source, "--plot-only", hint)
    return json.loads(source.read_text())


def recorded_option(record, option):
    """The value ``option`` (``"--data"``) had in the command a results ``record`` names, as
    written there (``DATA/gowalla``), or None."""
    found = re.search(rf"{re.escape(option)}[ =](\S+)", record.get("command") or "")
    return found.group(1) if found else None


def require_data(args, what, hint="DIR", files=None, option="--data"):
    """Stop with a one-line message (:func:`script_error`, status 2) unless ``--data`` was
    given (or ``--smoke``, which brings its own data): the data are never shipped, and no
    folder is assumed. With ``files``, a ``--data`` given to a real run is also checked by
    :func:`check_data`: it must be a folder holding those files (``what`` names its layout)."""
    data = getattr(args, option.lstrip("-").replace("-", "_"))
    smoke = getattr(args, "smoke", False)
    if data is None and not smoke:
        script_error(f"give {option} {hint} ({what}), or --smoke for a small synthetic run")
    if data is not None and files is not None and not smoke:
        check_data(data, files, what, option)


def median_time(f, repeat):
    """Median wall time of ``repeat`` calls of ``f()`` in seconds, and all times."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def round_order(names, r):
    """``names`` in the order round ``r`` (from 0) runs them: rotated left by ``r`` places
    (``[a, b, c]``, ``[b, c, a]``, ``[c, a, b]``, ``[a, b, c]``, ...): over ``len(names)``
    rounds each candidate takes each place once, so whatever a place costs or saves (the
    first call of the run, caches left by the call before) is shared by all rather than
    carried by one. (Within a round each still follows the same neighbour: a rotation keeps
    the cyclic order.)"""
    names = list(names)
    if not names:
        return names
    shift = r % len(names)
    return names[shift:] + names[:shift]


def interleaved_times(candidates, repeat, progress=False):
    """Time several callables round-robin: ``{name: (median seconds, all times)}``.

    Round ``r`` calls every candidate once, so that a change of machine load
    (other processes, thermal state) hits all of them alike and their ratio
    stays fair; the order is rotated round by round (:func:`round_order`), so
    that none always runs first. ``candidates``
    maps a name to a callable; the times are kept by name, in round order
    (``times[name][r]`` is round ``r``'s, whatever its place in the round), so
    per-round ratios pair the same round. With ``progress``, each call's time
    is printed as it ends (for long rounds).
    """
    times = {name: [] for name in candidates}
    for r in range(repeat):
        for name in round_order(candidates, r):
            f = candidates[name]
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
            if progress:
                print(f"round {r + 1}/{repeat}: {name} {times[name][-1]:.3f} s", flush=True)
    return {name: (statistics.median(ts), ts) for name, ts in times.items()}


def first_call_time(f):
    """Wall time of one call of ``f()`` in seconds (for compile time: call it first)."""
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def thread_counts():
    """The thread counts in effect: ``{"numba": n or None, "blas": {library: n}}`` by
    :func:`minigraphrec.threadpools.get_threads` (numba None when it was not imported)."""
    from minigraphrec.threadpools import get_threads
    return get_threads()


_SAME = object()


@contextlib.contextmanager
def use_threads(n, blas=_SAME, load_torch=False):
    """Within the block, numba, BLAS and (where it is loaded) torch on ``n`` threads; yields
    the counts in effect (:func:`thread_counts`, with ``"torch"`` where torch is loaded), the
    dict to record as the measurement's threads.

    One setting for every benchmark: :func:`minigraphrec.threads` sets numba's pool and every
    BLAS loaded (at run time, so it works whatever was imported before, unlike environment
    variables, which BLAS reads only when NumPy loads it), and torch's count is set after
    numba's pool has started (numba resets the OpenMP count both share when its pool starts,
    undoing a ``torch.set_num_threads`` made before).

    Parameters
    ----------
    n : int or None
        Threads of numba and torch; None leaves them as they are (numba's pool as
        ``$NUMBA_NUM_THREADS`` or the CPUs give it, torch's default).
    blas : int or None, optional
        Threads of BLAS where they differ from ``n`` (default ``n``); None leaves BLAS as
        the environment set it.
    load_torch : bool
        Import torch first (a script that times it), so that its count is set too.
    """
    import numba

    import minigraphrec as mgr
    blas = n if blas is _SAME else blas
    outer = numba.get_num_threads()                   # starts numba's pool if it is not up
    torch = importlib.import_module("torch") if load_torch else sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    with (mgr.threads(blas) if blas is not None else contextlib.nullcontext()):
        # mgr.threads set numba's count to ``blas``: numba's own is ``n`` (or as it was)
        numba.set_num_threads(outer if n is None
                              else min(n, numba.config.NUMBA_NUM_THREADS))
        try:
            if torch is not None and n is not None:
                torch.set_num_threads(n)
            counts = thread_counts()
            if torch is not None:
                counts["torch"] = int(torch.get_num_threads())
            yield counts
        finally:
            numba.set_num_threads(outer)
            if torch is not None:
                torch.set_num_threads(torch_before)


def warm_up_evaluate(k=20, metrics=("recall", "ndcg")):
    """Compile (or load from numba's cache) the evaluation kernels before a timed evaluation.

    :func:`minigraphrec.metrics.evaluate`'s kernels compile on their first call in a
    process, once per score dtype, and that time went into the first timed evaluation
    (``results/accuracy.md``: ML-100K's popularity, the first model of its run, 0.99 s
    against 0.20-0.35 s for the closed-form models after it). Evaluates (``k``, ``metrics``,
    the default backend) one model scoring in float64 (Popularity) and one in float32
    (GF-CF) on a 60 x 80 synthetic set. A model's own scoring code may still compile within
    its first evaluation."""
    from minigraphrec.datasets import synthetic
    from minigraphrec.metrics import evaluate
    from minigraphrec.models import GFCF, Popularity
    from minigraphrec.split import random_split
    train, test = random_split(synthetic(n_users=60, n_items=80, random_state=0),
                               test_size=0.2, random_state=0)
    for model in (Popularity(), GFCF(n_factors=8)):
        evaluate(model.fit(train), test, k=k, metrics=metrics)


def machine_info():
    """CPU model, logical CPUs, the CPUs this process may use, the 1-minute load, OS, Python
    and the thread counts in effect (:func:`thread_counts`)."""
    from minigraphrec.threadpools import usable_cpus
    usable = usable_cpus()
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "load_average_1min": load,
        "os": platform.platform(),
        "python": platform.python_version(),
        "threads": thread_counts(),
    }


def versions(modules=("numpy", "scipy", "numba", "minigraphrec"), extra=()):
    """``{module: __version__}`` of ``modules`` (None where not importable), then of the
    distributions ``extra`` (``"pandas"``, ``"torch"``: optional ones a script times) from
    their installed metadata, without importing them (None where not installed)."""
    from importlib import metadata
    found = {}
    for name in modules:
        try:
            found[name] = getattr(importlib.import_module(name), "__version__", "unknown")
        except ImportError:
            found[name] = None
    for name in extra:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def portable_path(arg, cwd=None):
    """``arg`` as a result file should name it: no machine's own paths.

    A path inside the repository becomes relative to its root; any other existing path
    becomes ``DATA/<what follows its last "data" folder>`` (``/x/shared/data/gowalla`` ->
    ``DATA/gowalla``), or ``DATA/<name>`` when it has no such folder. ``--opt=PATH`` keeps
    its option. Anything that is not an existing path is returned unchanged.
    """
    if arg.startswith("-") and "=" in arg:
        opt, value = arg.split("=", 1)
        return f"{opt}={portable_path(value, cwd)}"
    try:                  # an argument too long for a path (python -c CODE) is none
        if arg.startswith("-") or "/" not in arg and not Path(cwd or os.getcwd(), arg).exists():
            return arg
        path = Path(cwd or os.getcwd(), arg).resolve()
        if not path.exists():
            return arg
    except OSError:
        return arg
    if path == REPO or REPO in path.parents:
        return path.relative_to(REPO).as_posix() or "."
    parts = path.parts
    if "data" in parts:
        last = len(parts) - 1 - parts[::-1].index("data")
        rest = parts[last + 1:]
        return "/".join(("DATA",) + rest) if rest else "DATA"
    return f"DATA/{path.name}"


#: the benchmarks' flags that name a folder they write into
OUTPUT_FLAGS = ("--out", "--checkpoints")


def portable_command(argv, cwd=None):
    """The command line with ``python`` for the interpreter and :func:`portable_path` paths.

    An output folder (``--out DIR``, ``--checkpoints DIR``, or ``--flag=DIR``) outside the
    repository is named ``OUT/<its name>``: it is where results went, not data to read.
    """
    head, *rest = argv
    if Path(head).name.startswith("python"):
        head = "python"
    words = []
    for prev, arg in zip([None] + rest, rest):
        flag = next((f for f in OUTPUT_FLAGS if prev == f or arg.startswith(f + "=")), None)
        if flag is not None:
            opt, value = ("", arg) if prev == flag else (flag + "=", arg[len(flag) + 1:])
            kept = portable_path(value, cwd)
            if kept.startswith("DATA"):
                kept = f"OUT/{Path(cwd or os.getcwd(), value).resolve().name}"
            words.append(opt + kept)
        else:
            words.append(portable_path(arg, cwd))
    return shlex.join([head] + words)


def env_prefix(env):
    """``NAME=value ...`` (shell-quoted, paths made portable) to put before a command."""
    return " ".join(f"{k}={shlex.quote(portable_path(v))}" for k, v in env.items())


def recorded_command(argv=None):
    """This process's command as a result file records it: :func:`portable_command` of
    ``argv`` (default: the interpreter and its arguments), after the thread-relevant
    environment variables it was started with (:func:`env_prefix`)."""
    if argv is None:
        argv = getattr(sys, "orig_argv", [sys.executable] + sys.argv)
    command = portable_command(argv)
    return (env_prefix(_START_ENV) + " " + command) if _START_ENV else command


#: what :func:`git_state` records where it cannot tell
NOT_RECORDED = "not recorded"


def git_state(repo=REPO):
    """``{"commit": HEAD's full hash, "dirty": bool}`` of the repository ``repo`` (default:
    the one holding these scripts), ``dirty`` meaning that tracked files had uncommitted
    changes (``git status --porcelain --untracked-files=no`` lists any); both
    :data:`NOT_RECORDED` where ``repo`` is not the top of a git work tree (the scripts copied
    out of it, an unpacked archive) or git is not installed or fails.

    A result file's version number alone does not say which code it measured: the commit
    does, and ``dirty`` says whether the code was that commit's. The check asks git not to
    take the index lock (``GIT_OPTIONAL_LOCKS=0``), so it writes nothing into the repository
    and cannot collide with a git command running beside the benchmark."""
    unknown = {"commit": NOT_RECORDED, "dirty": NOT_RECORDED}
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=60, env=env)
    try:
        top = git("rev-parse", "--show-toplevel")
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != Path(repo).resolve():
            return unknown                       # not a repository, or inside another one
        head = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return unknown
    commit = head.stdout.strip()
    if head.returncode != 0 or status.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}",
                                                                           commit):
        return unknown                           # a repository without a commit yet
    return {"commit": commit, "dirty": bool(status.stdout.strip())}


def git_text(state):
    """The Markdown header's words for a :func:`git_state` dict: ``commit 0e19885a1b2c`` plus
    ``, uncommitted changes to tracked files`` or ``, no uncommitted changes``; ``not
    recorded`` where the commit was not."""
    commit = state.get("commit", NOT_RECORDED) if isinstance(state, dict) else NOT_RECORDED
    if commit == NOT_RECORDED:
        return NOT_RECORDED
    dirty = state.get("dirty")
    return f"commit {commit[:12]}, " + (
        "uncommitted changes to tracked files" if dirty is True
        else "no uncommitted changes to tracked files" if dirty is False
        else "uncommitted changes not recorded")


def load_average():
    """The load averages (1, 5, 15 min), each to 2 decimals; None where the platform has none
    (Windows). Scripts take it at their start and their end (:func:`load_text`), since the
    files' header gives only the 1-minute load when written."""
    if not hasattr(os, "getloadavg"):
        return None
    return [round(x, 2) for x in os.getloadavg()]


def load_text(start, end):
    """``load average (1, 5, 15 min) at the start 0.80, 1.09, 1.47; at the end 1.94, 1.62,
    1.47`` for two :func:`load_average` readings (``not recorded`` for a None)."""
    def text(v):
        return "not recorded" if v is None else ", ".join(f"{x:.2f}" for x in v)
    return (f"load average (1, 5, 15 min) at the start {text(start)}; at the end "
            f"{text(end)}")


def utc_now():
    """The date and time now, UTC, ISO 8601 to the second: what a record's ``date`` holds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(extra_versions=()):
    """Date (UTC, ISO 8601), the command line without machine paths, machine, versions (also
    of the optional distributions ``extra_versions``, see :func:`versions`) and the git commit
    with whether tracked files had uncommitted changes (:func:`git_state`).

    The command begins with the thread-relevant environment variables the script was started
    with (:data:`THREAD_ENV`), as a shell would take them: ``OPENBLAS_THREAD_TIMEOUT=4 python
    benchmarks/bench_eval.py ...``; they are also kept apart, under ``environment``."""
    return {
        "date": utc_now(),
        "command": recorded_command(),
        "environment": dict(_START_ENV),
        "machine": machine_info(),
        "versions": versions(extra=extra_versions),
        "git": git_state(),
    }


def threads_text(threads):
    """``numba 2, BLAS 2 (openblas)`` for a :func:`thread_counts` dict; a string as it is."""
    if isinstance(threads, str):
        return threads
    blas = ", ".join(f"{n} ({lib})" for lib, n in threads["blas"].items()) or "not found"
    torch = f", torch {threads['torch']}" if threads.get("torch") is not None else ""
    return f"numba {threads['numba']}, BLAS {blas}{torch}"


def markdown_cell(v):
    """One table cell: floats to 4 digits; ``|`` escaped (``max \\|dp\\|``), which would
    otherwise end the cell; a line break becomes a space."""
    text = f"{v:.4g}" if isinstance(v, float) else str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows, columns):
    """A Markdown table of ``rows`` (dicts) over ``columns`` (keys); floats to 4 digits."""
    lines = ["| " + " | ".join(markdown_cell(c) for c in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(markdown_cell(r.get(c, "")) for c in columns) + " |"
              for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------ files, atomically
def write_files(contents):
    """Write each ``{path: content}`` atomically, and the files together as far as a file
    system allows, by the rule every file minigraphrec writes follows
    (:func:`minigraphrec._atomic.write_files`): every content goes to a temporary file
    (``.minigraphrec-<pid>-<random>.tmp``) beside its target, flushed to disk, and only once
    all are complete are they renamed over their targets (``os.replace``), in order, and
    their folders synced. Return the paths.

    ``content``: a str (text, as ``Path.write_text`` writes it), bytes, or a callable that
    writes into the binary file object it is given (``shutil.copyfileobj``, say).

    Refused before anything is written: a target that is a folder (IsADirectoryError), an
    existing file the caller may not write (PermissionError: a read-only results file is
    not replaced), a device, FIFO or socket (FileExistsError). A failure before the renames
    (disk full, an error while writing, Ctrl-C) leaves every target as it was and no
    temporary file; an OSError then names the target, not the temporary file (one that
    names another file, a source being copied, is raised as it is). A failure during the
    renames (which do not fail in practice: the temporary files are complete and in the
    right folders) removes the temporary files left and says on stderr which targets were
    replaced and which kept their old contents. A new file gets the mode a plain ``open``
    would give it (0o666 less the umask); a file replaced keeps its permission bits, as
    ``open(path, "w")`` keeps them (not a set-user-id, set-group-id or sticky bit); a
    symbolic link at a target is replaced by the file."""
    from minigraphrec import _atomic            # here: a script sets its threads before NumPy

    def partial(written, kept, err):
        sys.stderr.write(f"wrote {', '.join(map(str, written))}, but not "
                         f"{', '.join(map(str, kept))} (kept its old contents): {err!r}\n")
        sys.stderr.flush()
    return _atomic.write_files(contents, on_partial=partial)


def write_text(path, text):
    """Write ``text`` to ``path`` atomically (:func:`write_files`)."""
    return write_files({path: text})[0]


def copy_file(source, target):
    """Copy the file ``source`` to ``target`` atomically (:func:`write_files`): ``target`` is
    the whole copy or what it was before."""
    import shutil

    def copy(f):
        with open(source, "rb") as src:
            shutil.copyfileobj(src, f)
    return write_files({target: copy})[0]


def _strict(value):
    """``value`` with every non-finite float as None (NaN: not measured or not compared; an
    infinity too, which no result holds), so that the JSON written is strict (``null``;
    Python writes ``NaN`` and ``Infinity``, which JSON has not)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def write_results(name, rows, columns, out_dir=RESULTS_DIR, notes="", extra=None, command=None,
                  threads=None, extra_versions=(), after_rows=None, md_rows=None, md_after=""):
    """Write ``<out_dir>/<name>.json`` (provenance + rows, and the entries of ``extra``) and
    ``<name>.md``; return both paths. ``command``: the command that measured the rows, where
    it is not this process's (a table rebuilt from a run's own record); the notes should then
    name the command that wrote the file.

    The thread counts recorded (``machine.threads``) are those in effect when the file is
    written. ``threads`` gives those of the measurement where they differ: a
    :func:`thread_counts` dict taken inside a ``mgr.threads(n)`` block that has ended, or a
    text (the counts of worker processes); it goes to ``machine.measured_threads`` and into
    the Markdown header. ``extra_versions``: optional distributions to record the versions of
    (``("pandas",)``), see :func:`versions`. The git commit (``git``, :func:`git_state`) is
    the repository's when the file is written, like the thread counts: a file rebuilt from
    an earlier run's record (``command``) names the code that rebuilt it.

    ``after_rows``: entries to put in the JSON after ``rows`` (structured extras);
    ``md_rows``: the rows of the Markdown table where they differ from ``rows`` (``None``
    shown blank, say); ``md_after``: text to end the Markdown with, after the table.

    Both files are built in full first, then written together by :func:`write_files`: a
    failure leaves both as they were (or says which one was written)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = provenance(extra_versions)
    if command is not None:
        meta["command"] = command
    if threads is not None:
        meta["machine"]["measured_threads"] = threads
    json_path = out_dir / f"{name}.json"
    md_path = out_dir / f"{name}.md"
    record = {**meta, "notes": notes, **(extra or {}), "rows": rows}
    record.update(after_rows or {})
    json_text = json.dumps(_strict(record), indent=2, allow_nan=False) + "\n"
    m = meta["machine"]
    header = [
        f"# {name}",
        "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} CPUs, "
        f"1-min load average {m['load_average_1min']} when written, {m['os']}",
    ]
    if m.get("measured_threads"):
        header.append(f"- threads of the measurement: {threads_text(m['measured_threads'])}")
    if m.get("threads"):
        header.append(f"- threads when written: {threads_text(m['threads'])}")
    header += [
        "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        f"- git: {git_text(meta['git'])} (when written)",
    ]
    if notes:
        header += ["", notes]
    md_text = ("\n".join(header) + "\n\n"
               + markdown_table(rows if md_rows is None else md_rows, columns) + "\n" + md_after)
    write_files({json_path: json_text, md_path: md_text})
    return json_path, md_path


def refuse_disagreement(rows, where, keys=("kernel", "graph", "workload", "dtype", "threads")):
    """Exit with an error naming every row of ``rows`` whose two sides disagreed (its
    ``identical`` or ``within_tolerance`` is False), after the caller has written them.

    A speed ratio is worth nothing if the fast side computed something else: the run's files
    keep the evidence, and the exit status (and the smoke tests) make it impossible to miss."""
    bad = [r for r in rows if r.get("identical") is False or r.get("within_tolerance") is False]
    if bad:
        names = "; ".join(", ".join(f"{k} {r[k]}" for k in keys if k in r) for r in bad)
        raise SystemExit(f"{len(bad)} row(s) of {where} disagree with their reference: {names}")


def add_lightgcn_data_option(parser):
    """Add the ``--data DIR`` option that :func:`load_lightgcn_train` reads."""
    parser.add_argument("--data", type=Path,
                        help="folder with a LightGCN-format train.txt (e.g. the Gowalla "
                             "folder of the LightGCN repository)")


def require_lightgcn_train(args):
    """:func:`require_data` for :func:`load_lightgcn_train`: ``--data`` (but with ``--smoke``)
    is a folder holding ``train.txt``. Call it right after parsing, before any work."""
    require_data(args, "a folder with a LightGCN-format train.txt", files=("train.txt",))


def load_lightgcn_train(args):
    """``(train Interactions, graph name)``: ``DIR/train.txt`` of ``--data DIR`` (LightGCN
    format, named ``DATA/<folder>``), or with ``--smoke`` a small synthetic graph."""
    from minigraphrec.datasets import load_lightgcn, synthetic
    if args.smoke:
        return synthetic(n_users=300, n_items=400, mean_interactions=12, random_state=0), \
            "synthetic-300x400"
    require_lightgcn_train(args)
    return load_lightgcn(Path(args.data) / "train.txt"), "DATA/" + Path(args.data).name


def threads_short(threads):
    """``numba 1, BLAS 1`` for a :func:`thread_counts` dict (one BLAS count when the libraries
    agree); a string as it is."""
    if isinstance(threads, str):
        return threads
    parts = []
    if threads.get("numba") is not None:
        parts.append(f"numba {threads['numba']}")
    blas = sorted(set((threads.get("blas") or {}).values()))
    if blas:
        parts.append("BLAS " + "/".join(map(str, blas)))
    if threads.get("torch") is not None:
        parts.append(f"torch {threads['torch']}")
    return ", ".join(parts)


def figure_footer(record):
    """``machine: AMD EPYC, 2 CPUs; threads: numba 1, BLAS 1; 2026-11-28`` from a results
    record (what :func:`write_results` wrote: ``machine``, ``date``, ``command``).

    Timing figures are compared across runs made on different machines (AMD EPYC and Intel
    Xeon so far): the footer says which one a figure measured. Threads are the measured ones
    where recorded, else those when written, else the command's ``--threads N [M ...]``, else a
    ``BLAS threads: N`` of the notes, else the rows' own ``threads``."""
    m = record.get("machine") or {}
    cpu = m.get("cpu") or "CPU not recorded"
    cpus = m.get("usable_cpus") or m.get("logical_cpus")
    machine = f"{cpu}, {cpus} CPUs" if cpus else cpu
    threads = threads_short(m.get("measured_threads") or m.get("threads") or {})
    if not threads:
        # every count of a --threads that takes several (bench_kernels: --threads 1 2)
        found = re.search(r"--(?:blas-)?threads[ =](\d+(?: \d+)*)", record.get("command") or "")
        noted = re.search(r"BLAS threads?: (\d+)", str(record.get("notes") or ""))
        per_row = sorted({r["threads"] for r in record.get("rows") or ()
                          if isinstance(r, dict) and isinstance(r.get("threads"), int)})
        threads = (f"--threads {found.group(1)}" if found
                   else f"BLAS {noted.group(1)} (notes)" if noted
                   else f"{', '.join(map(str, per_row))} (per row)" if per_row
                   else "not recorded")
    date = str(record["date"])[:10] if record.get("date") else "date not recorded"
    return f"machine: {machine}; threads: {threads}; {date}"


def _with_footer(fig, text, dpi=120):
    """A new figure: ``fig`` rendered at ``dpi`` (its pixels as they are, whatever its layout
    or its legends outside the axes) over a strip of 0.2 in holding ``text``, right-aligned.
    ``fig`` is closed."""
    import io
    import matplotlib.image
    from matplotlib import pyplot as plt          # loaded already: fig was drawn through it
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    plt.close(fig)
    buffer.seek(0)
    image = matplotlib.image.imread(buffer, format="png")                 # (h, w, 4)
    h, w = image.shape[:2]
    strip = int(round(0.2 * dpi))                                          # pixels
    out = plt.figure(figsize=(w / dpi, (h + strip) / dpi), dpi=dpi)
    out.figimage(image, xo=0, yo=strip, origin="upper")
    out.text(1 - 6 / w, 0.5 * strip / (h + strip), text, ha="right", va="center",
             fontsize=6.5, color="0.35")
    return out


def save_figure(fig, name, out_dir, record=None):
    """Write ``fig`` as ``<out_dir>/<name>.png`` by :func:`minigraphrec.plot.save_figure`,
    print ``wrote PATH`` and return the path; ``MINIGRAPHREC_FIGURES`` is restored after.

    With ``record`` (a results record, e.g. the JSON a figure is redrawn from), a small footer
    under the figure names the machine, threads and date it measured (:func:`figure_footer`),
    in a strip added under the figure as drawn (so no layout or legend can cover it)."""
    from minigraphrec import plot
    if record is not None:
        fig = _with_footer(fig, figure_footer(record))
    before = os.environ.get("MINIGRAPHREC_FIGURES")
    os.environ["MINIGRAPHREC_FIGURES"] = str(out_dir)
    try:
        path = plot.save_figure(fig, name)
    finally:
        if before is None:
            os.environ.pop("MINIGRAPHREC_FIGURES")
        else:
            os.environ["MINIGRAPHREC_FIGURES"] = before
    print("wrote", path)
    return path


def source_digests(names=("models/lightgcn.py", "models/mf.py", "models/embedding_base.py",
                          "train.py", "ops/lightgcn_rows.py", "kernels/propagate_rows.py",
                          "kernels/adam.py")):
    """``{file: sha256[:12]}`` of the minigraphrec sources measured (maybe uncommitted)."""
    import hashlib
    import minigraphrec
    root = Path(minigraphrec.__file__).parent
    return {n: hashlib.sha256((root / n).read_bytes()).hexdigest()[:12]
            for n in names if (root / n).exists()}
