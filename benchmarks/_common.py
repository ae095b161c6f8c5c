"""Shared helpers for ``benchmarks/bench_*.py``: timing, provenance, result files.

A benchmark builds its rows (one dict per measurement), then calls
:func:`write_results`, which stores them with the machine, the library
versions, the date and the exact command in ``<out>/<name>.json`` and a
small Markdown table in ``<out>/<name>.md``.

Typical use::

    parser = benchmark_parser("numba spmm vs SciPy")
    args = parser.parse_args()
    t, _ = median_time(lambda: A @ X, repeat=args.repeat)
    write_results("spmm", rows, columns=[...], out_dir=args.out)
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"


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


def benchmark_parser(description):
    """An ArgumentParser with the options every benchmark takes.

    ``--smoke`` (smallest size, two runs: keeps the script tested),
    ``--repeat N`` (runs per measurement, the median is reported) and
    ``--out DIR`` (where results go, default ``benchmarks/results``).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true",
                        help="smallest size only, 2 runs (for the test suite)")
    parser.add_argument("--repeat", type=int, default=7,
                        help="runs per measurement; the median is reported (default 7)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help=f"results folder (default {RESULTS_DIR})")
    return parser


def median_time(f, repeat):
    """Median wall time of ``repeat`` calls of ``f()`` in seconds, and all times."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def interleaved_times(candidates, repeat):
    """Time several callables round-robin: ``{name: (median seconds, all times)}``.

    Round ``r`` calls every candidate once, in order, so that a change of
    machine load (other processes, thermal state) hits all of them alike and
    their ratio stays fair. ``candidates`` maps a name to a callable.
    """
    times = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, f in candidates.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
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


def machine_info():
    """CPU model, logical CPUs, the CPUs this process may use, OS and Python."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:                               # not on Linux
        usable = os.cpu_count()
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "load_average_1min": load,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(modules=("numpy", "scipy", "numba", "minigraphrec")):
    """``{module: __version__}`` for the importable ones."""
    found = {}
    for name in modules:
        try:
            found[name] = getattr(importlib.import_module(name), "__version__", "unknown")
        except ImportError:
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
    if arg.startswith("-") or "/" not in arg and not Path(cwd or os.getcwd(), arg).exists():
        return arg
    path = Path(cwd or os.getcwd(), arg).resolve()
    if not path.exists():
        return arg
    if path == REPO or REPO in path.parents:
        return path.relative_to(REPO).as_posix() or "."
    parts = path.parts
    if "data" in parts:
        last = len(parts) - 1 - parts[::-1].index("data")
        rest = parts[last + 1:]
        return "/".join(("DATA",) + rest) if rest else "DATA"
    return f"DATA/{path.name}"


def portable_command(argv, cwd=None):
    """The command line with ``python`` for the interpreter and :func:`portable_path` paths.

    An output folder (``--out DIR`` or ``--out=DIR``) outside the repository is named
    ``OUT/<its name>``: it is where the results went, not data to read.
    """
    head, *rest = argv
    if Path(head).name.startswith("python"):
        head = "python"
    words = []
    for prev, arg in zip([None] + rest, rest):
        if prev == "--out" or arg.startswith("--out="):
            opt, value = ("--out=", arg[len("--out="):]) if prev != "--out" else ("", arg)
            kept = portable_path(value, cwd)
            if kept.startswith("DATA"):
                kept = f"OUT/{Path(cwd or os.getcwd(), value).resolve().name}"
            words.append(opt + kept)
        else:
            words.append(portable_path(arg, cwd))
    return shlex.join([head] + words)


def provenance():
    """Date (UTC, ISO 8601), the command line without machine paths, machine and versions."""
    argv = getattr(sys, "orig_argv", [sys.executable] + sys.argv)
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": portable_command(argv),
        "machine": machine_info(),
        "versions": versions(),
    }


def markdown_table(rows, columns):
    """A Markdown table of ``rows`` (dicts) over ``columns`` (keys); floats to 4 digits."""
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_results(name, rows, columns, out_dir=RESULTS_DIR, notes="", extra=None):
    """Write ``<out_dir>/<name>.json`` (provenance + rows, and the entries of ``extra``) and
    ``<name>.md``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = provenance()
    json_path = out_dir / f"{name}.json"
    md_path = out_dir / f"{name}.md"
    json_path.write_text(json.dumps({**meta, "notes": notes, **(extra or {}), "rows": rows},
                                    indent=2) + "\n")
    m = meta["machine"]
    header = [
        f"# {name}",
        "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} CPUs, "
        f"1-min load average {m['load_average_1min']} when written, {m['os']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
    ]
    if notes:
        header += ["", notes]
    md_path.write_text("\n".join(header) + "\n\n" + markdown_table(rows, columns) + "\n")
    return json_path, md_path


def add_lightgcn_data_option(parser):
    """Add the ``--data DIR`` option that :func:`load_lightgcn_train` reads."""
    parser.add_argument("--data", type=Path,
                        help="folder with a LightGCN-format train.txt "
                             "(e.g. ../shared/data/gowalla)")


def load_lightgcn_train(args):
    """``(train Interactions, graph name)``: ``DIR/train.txt`` of ``--data DIR`` (LightGCN
    format, named ``DATA/<folder>``), or with ``--smoke`` a small synthetic graph."""
    from minigraphrec.datasets import load_lightgcn, synthetic
    if args.smoke:
        return synthetic(n_users=300, n_items=400, mean_interactions=12, random_state=0), \
            "synthetic-300x400"
    if args.data is None:
        sys.exit("give --data DIR (a folder with a LightGCN-format train.txt) or --smoke")
    return load_lightgcn(Path(args.data) / "train.txt"), "DATA/" + Path(args.data).name


def save_figure(fig, name, out_dir):
    """Write ``fig`` as ``<out_dir>/<name>.png`` by :func:`minigraphrec.plot.save_figure`,
    print ``wrote PATH`` and return the path; ``MINIGRAPHREC_FIGURES`` is restored after."""
    from minigraphrec import plot
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
