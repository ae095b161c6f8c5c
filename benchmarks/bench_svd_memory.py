r"""Benchmark: the memory of each truncated-SVD solver behind GF-CF, against its estimate.

``GFCF(svd_solver="auto")`` picks its solver by shape and ``k`` under a budget
(``max_svd_memory_mb``, default 8192 MiB), from
:func:`minigraphrec.models.gfcf.svd_working_memory`, an estimate counted from the arrays
each solver allocates. This script checks the estimate where it matters, on the
popularity-skewed synthetic graphs of ``bench_scaling.py`` (same shapes: ``E / 27`` users,
``E / 20`` items): for each size and solver, in a fresh process, the top ``k = 256``
singular vectors of ``R̃`` are computed and the process's peak resident memory above what
it held before the call (``VmHWM`` after resetting it, Linux) is compared with the
estimate; the wall time is recorded too. A ratio ``measured / estimate`` at or below 1
means the budget holds; PROPACK's is below 1 wherever it converges early, because NumPy
allocates its Lanczos bases whole and their pages become resident only as steps fill them.

    python benchmarks/bench_svd_memory.py --edges 3e5 1e6 3e6 1e7 --threads 1
    python benchmarks/bench_svd_memory.py --data DIR --name svd_memory_gowalla
    python benchmarks/bench_svd_memory.py --smoke --out /tmp/r       # what the tests run

The solvers run one after another (``--solvers``); one whose estimate exceeds ``--max-mb``
is skipped and one that exceeds ``--timeout`` seconds is stopped, each recorded as such.
``svd_memory.png`` (``--name``) draws measured against estimated memory (the budget holds below the
diagonal) and each solver's time against the graph's size; ``--plot-only`` redraws it from
``<out>/svd_memory.json`` without running anything. ``--data DIR`` measures a real
graph too (GF-CF's training set, ``DIR/train.txt``), alone unless ``--edges`` is given.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import (benchmark_parser, check_data, read_record, reset_peak, save_figure,
                     status_bytes, write_results)

USER_DEGREE, ITEM_DEGREE, MEAN_INTERACTIONS = 27, 20, 34      # as bench_scaling.py
SOLVERS = ("propack", "arpack", "chebyshev")
TAG = "RESULT "


def _synthetic_shape(edges):
    """(users, items) of bench_scaling's synthetic graph of ``edges`` nominal pairs."""
    return max(20, round(edges / USER_DEGREE)), max(20, round(edges / ITEM_DEGREE))


def _interactions(source):
    """The training interactions of ``source``: a nominal edge count (a synthetic graph of
    bench_scaling's shape, the whole set) or a LightGCN-format folder (its ``train.txt``)."""
    import minigraphrec as mgr
    try:
        edges = float(source)
    except ValueError:
        edges = None
    if edges is None:                # outside the except: a loader's error is not chained
        return mgr.datasets.load_lightgcn(Path(source) / "train.txt")
    n_users, n_items = _synthetic_shape(edges)
    return mgr.datasets.synthetic(n_users=n_users, n_items=n_items,
                                  mean_interactions=MEAN_INTERACTIONS, random_state=0)


def worker(source, solver, k):
    """In a fresh process: build ``R̃``, reset the peak, run the solver, print the result."""
    import numpy as np

    from minigraphrec.models.gfcf import (
        _resolve_solver,
        normalized_interactions,
        svd_working_memory,
        top_right_singular_vectors,
    )
    R = _interactions(source).to_csr()
    R.data[:] = 1.0
    Rt, _, _ = normalized_interactions(R)
    # compile and import first (numba's compiler takes ~100 MiB once): the peak is the solver's
    top_right_singular_vectors(Rt[:400, :500], 8, solver)
    before = status_bytes("VmRSS")
    if not reset_peak():                                      # VmHWM := VmRSS
        sys.exit("cannot reset the peak resident size (/proc/self/clear_refs)")
    t0 = time.perf_counter()
    try:
        s, _ = top_right_singular_vectors(Rt, k, solver)
        outcome, s_k = "converged", float(s[-1])
    except (np.linalg.LinAlgError, RuntimeError) as exc:    # PROPACK's limit, Chebyshev's
        outcome, s_k = f"did not converge ({type(exc).__name__}: {exc})", None
    seconds = time.perf_counter() - t0
    extra = status_bytes("VmHWM") - before
    estimate = svd_working_memory(solver, Rt.shape, k)
    print(TAG + json.dumps({
        "edges": R.nnz, "n_users": R.shape[0], "n_items": R.shape[1], "k": k,
        "solver": solver, "seconds": seconds, "measured_MiB": extra / 2**20,
        "estimate_MiB": estimate / 2**20, "measured/estimate": extra / estimate,
        "auto_picks": _resolve_solver("auto", Rt.shape, k), "s_k": s_k,
        "outcome": outcome}), flush=True)


def main():
    parser = benchmark_parser(
        "truncated-SVD solvers' memory against their estimate", repeat=False,
        smoke="one synthetic graph (6e4 nominal edges), k = 32")
    parser.add_argument("--edges", type=float, nargs="+",
                        help="nominal training pairs per synthetic graph (default 3e5 1e6, "
                             "none with --data)")
    parser.add_argument("--data", type=Path,
                        help="also a real graph: a folder with a LightGCN-format train.txt "
                             "(e.g. the LightGCN repository's Gowalla folder)")
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS,
                        help="solvers to measure, each in a fresh process (default all)")
    parser.add_argument("--k", type=int, default=256,
                        help="singular vectors computed (default 256; 32 with --smoke)")
    parser.add_argument("--threads", type=int, default=1, help="numba and BLAS threads")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds per solver and graph before its process is stopped and "
                             "recorded as such (default 3600)")
    parser.add_argument("--max-mb", type=float, default=12288.0,
                        help="skip a solver whose estimate exceeds this many MiB "
                             "(default 12288)")
    parser.add_argument("--name", default="svd_memory",
                        help="results' file stem (default svd_memory)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw <name>.png from <out>/<name>.json and stop")
    parser.add_argument("--worker", nargs=3, help=argparse_hidden())
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker[0], args.worker[1], int(args.worker[2]))
    if args.plot_only:
        record = read_record(args.out, args.name, "give --out and --name of an earlier run")
        return _plot(record["rows"], args.out, args.name, record=record)
    if args.data is not None and not args.smoke:       # --smoke runs on its own graph
        check_data(args.data, ("train.txt",), "a folder with a LightGCN-format train.txt")
    if not os.path.exists("/proc/self/clear_refs"):
        sys.exit("this benchmark reads /proc/self/status and resets VmHWM: Linux only")
    from minigraphrec.models.gfcf import svd_working_memory
    if args.smoke:
        graphs, k = [("synthetic", 6e4, "6e4")], 32
        args.name += "" if args.name.endswith("_smoke") else "_smoke"     # never a real result's
    else:
        k = args.k
        edges = args.edges if args.edges is not None else ([] if args.data else [3e5, 1e6])
        graphs = [("synthetic", e, repr(e)) for e in edges]
        if args.data:
            graphs.append(("DATA/" + args.data.name, None, str(args.data.resolve())))
    env = {**os.environ, "NUMBA_NUM_THREADS": str(args.threads),
           "OPENBLAS_NUM_THREADS": str(args.threads), "OMP_NUM_THREADS": str(args.threads)}
    rows = []
    for graph, e, source in graphs:
        shape = _interactions(source).to_csr().shape if e is None else _synthetic_shape(e)
        for solver in args.solvers:
            need = svd_working_memory(solver, shape, k) / 2**20
            if need > args.max_mb:
                rows.append({"graph": graph, "edges_nominal": e, "n_users": shape[0],
                             "n_items": shape[1], "k": k,
                             "solver": solver, "seconds": "skipped",
                             "estimate_MiB": need, "measured_MiB": f"> --max-mb {args.max_mb:g}"})
                continue
            cmd = [sys.executable, __file__, "--worker", source, solver, str(k)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                                      timeout=args.timeout)
            except subprocess.TimeoutExpired:
                rows.append({"graph": graph, "edges_nominal": e, "solver": solver,
                             "seconds": f"> {args.timeout:g}"})
                continue
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(TAG)]
            if proc.returncode or not lines:
                sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
            row = {"graph": graph, "edges_nominal": e, **json.loads(lines[-1][len(TAG):])}
            row["load"] = os.getloadavg()[0]
            rows.append(row)
            print(row, flush=True)
            _write(rows, args)                  # after every row: a long sweep keeps its rows
    _write(rows, args)


def _write(rows, args):
    """Write the rows so far and draw them, with the footer (machine, threads, date) that
    ``--plot-only`` draws from the same record."""
    json_path, _ = write_results(
        args.name, rows,
        ["graph", "edges_nominal", "edges", "n_users", "n_items", "k", "solver", "seconds", "measured_MiB",
         "estimate_MiB", "measured/estimate", "auto_picks", "s_k", "outcome", "load"],
        out_dir=args.out,
        notes=("Synthetic graphs of bench_scaling.py's shapes (seed 0; edges_nominal: its "
               "size, the training pairs after its 80/20 split); here the whole synthetic set "
               "is factorised, edges its nonzeros (about 1.26 x nominal); a DATA/ graph is "
               "its train.txt, as GF-CF fits it. Each row: a fresh "
               f"process, {args.threads} thread(s); measured_MiB: peak "
               "resident memory during the solver call above the resident memory before it "
               "(VmHWM reset by /proc/self/clear_refs); estimate_MiB: svd_working_memory, "
               "what GFCF's 'auto' compares with max_svd_memory_mb; auto_picks: its choice "
               "under the default budget; s_k: the k-th singular value (the solvers agree); "
               "outcome: whether the solver converged (PROPACK stops at 10 k Lanczos steps, "
               "where GFCF's 'auto' falls back). "
               "load: 1-minute load average after the row."),
        threads=(f"{args.threads} thread(s) in each worker process (NUMBA_NUM_THREADS, "
                 "OPENBLAS_NUM_THREADS and OMP_NUM_THREADS)"))
    _plot(rows, args.out, args.name, record=json.loads(Path(json_path).read_text()))


MARKERS = {"propack": "o", "arpack": "s", "chebyshev": "^"}


def _plot(rows, out_dir, name="svd_memory", record=None):
    """Left: measured against estimated MiB, log-log, with the diagonal (at or below it the
    budget holds). Right: seconds against nonzeros per solver. Rows that were skipped or timed
    out carry no measurement and are left out; a solver that stopped without converging is
    drawn hollow."""
    from minigraphrec import plot

    done = [r for r in rows if isinstance(r.get("measured_MiB"), (int, float))]
    if not done:
        return None
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, (ax_m, ax_t) = plot.subplots(1, 2, figsize=(11, 4.6))
    one_graph = len({r["edges"] for r in done}) == 1      # then the times are bars
    for solver in SOLVERS:
        mine = [r for r in done if r["solver"] == solver]
        if not mine:
            continue
        conv = [r for r in mine if r.get("outcome", "converged") == "converged"]
        fail = [r for r in mine if r not in conv]
        colour = ax_m.plot([r["estimate_MiB"] for r in conv], [r["measured_MiB"] for r in conv],
                           MARKERS[solver], ls="none", label=solver)[0].get_color()
        if fail:
            ax_m.plot([r["estimate_MiB"] for r in fail], [r["measured_MiB"] for r in fail],
                      MARKERS[solver], ls="none", mfc="none", color=colour,
                      label=f"{solver}, did not converge")
        if one_graph:
            ax_t.bar([solver], [r["seconds"] for r in mine], color=colour,
                     fill=bool(conv), edgecolor=colour)
            continue
        ordered = sorted(conv, key=lambda r: r["edges"])
        ax_t.plot([r["edges"] for r in ordered], [r["seconds"] for r in ordered],
                  MARKERS[solver] + "-", color=colour, label=solver)
        if fail:
            ax_t.plot([r["edges"] for r in fail], [r["seconds"] for r in fail], MARKERS[solver],
                      ls="none", mfc="none", color=colour, label=f"{solver}, did not converge")
    lo = min(min(r["estimate_MiB"], r["measured_MiB"]) for r in done) / 1.5
    hi = max(max(r["estimate_MiB"], r["measured_MiB"]) for r in done) * 1.5
    ax_m.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = estimate")
    ax_m.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
             xlabel="estimated working memory (MiB, svd_working_memory)",
             ylabel="measured peak above baseline (MiB)",
             title="the budget holds below the diagonal")
    k = done[0]["k"]
    if one_graph:
        ax_t.set(xlabel="solver", ylabel="solver wall time (s)",
                 title=f"top-{k} singular vectors, {done[0]['edges']:,} nonzeros")
    else:
        ax_t.set(xscale="log", yscale="log", xlabel="nonzeros of R (edges)",
                 ylabel="solver wall time (s)", title=f"top-{k} singular vectors")
        ax_t.legend(fontsize=8)
    ax_m.legend(fontsize=8)
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    for ax in (ax_m, ax_t):
        ax.grid(True, which="both", alpha=0.3)
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_locator(LogLocator(subs=(1, 2, 5)))     # 100, 200, 500, ...
                axis.set_major_formatter(plain)
                axis.set_minor_formatter(NullFormatter())
    return save_figure(fig, name, out_dir, record=record)   # record: a footer names the machine


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
