"""Benchmark: ``minigraphrec.ops.spmm`` (numba) against SciPy's ``A_hat @ X``.

The matrix is LightGCN's propagation matrix: the bipartite user–item
adjacency ``A = [[0, R], [Rᵀ, 0]]`` with symmetric normalisation
``A_hat = D^{-1/2} A D^{-1/2}``, times dense embeddings ``X`` (n_nodes, d).

Graphs: seeded synthetic ones at three sizes (users uniform, item
popularity Zipf-like), and with ``--data DIR`` the LightGCN-format
``DIR/train.txt`` too (e.g. the Gowalla split). For each graph, dtype and
thread count: the median of ``--repeat`` runs of each (SciPy and every
thread count timed round-robin, so load changes hit all alike, their order
rotated round by round so that SciPy is not always first), the ratio,
and whether the outputs are bit-identical. The headline is
``speedup_per_round``: the median over rounds of SciPy's time over numba's
in that round (one round runs every candidate once, so both see the same
load); ``speedup``, the ratio of the two medians, is reported beside it.
The numba kernel's first call (compilation, or loading it from numba's
cache) is timed apart; ``--cold`` points numba at an empty cache so that
it really compiles.

    python benchmarks/bench_spmm.py                          # synthetic sizes
    python benchmarks/bench_spmm.py --data DIR
    python benchmarks/bench_spmm.py --data DIR --sizes   # Gowalla only
    python benchmarks/bench_spmm.py --smoke --out /tmp/r     # what the tests run
    python benchmarks/bench_spmm.py --plot-only              # redraw spmm.png from its JSON
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from _common import (benchmark_parser, check_data, first_call_time, interleaved_times,
                     portable_path, read_record, recorded_option, refuse_disagreement, save_figure,
                     write_results)

TARGET = 2.0                            # numba / SciPy, median per-round ratio, 2 threads
# name: (n_users, n_items, n_interactions drawn before de-duplication)
SIZES = {
    "small": (2_000, 1_500, 20_000),
    "medium": (20_000, 15_000, 300_000),
    "large": (50_000, 40_000, 1_500_000),
}


def synthetic_R(n_users, n_items, n_draws, seed=0):
    """Binary (n_users, n_items) CSR: users uniform, items with Zipf-like popularity."""
    rng = np.random.default_rng(seed)
    weight = 1.0 / (np.arange(n_items) + 10.0) ** 0.8
    users = rng.integers(0, n_users, n_draws)
    items = rng.permutation(n_items)[rng.choice(n_items, n_draws, p=weight / weight.sum())]
    R = sp.csr_matrix((np.ones(n_draws), (users, items)), shape=(n_users, n_items))
    R.data[:] = 1.0                                       # repeated pairs collapse to 1
    return R


def lightgcn_R(folder):
    """Binary CSR from ``folder/train.txt``: one line per user, ``user item item ...``."""
    users, items = [], []
    with open(Path(folder) / "train.txt") as fh:
        for line in fh:
            ids = line.split()
            if len(ids) > 1:
                row = np.array(ids, dtype=np.int64)
                users.append(np.full(row.size - 1, row[0]))
                items.append(row[1:])
    users, items = np.concatenate(users), np.concatenate(items)
    R = sp.csr_matrix((np.ones(users.size), (users, items)),
                      shape=(users.max() + 1, items.max() + 1))
    R.data[:] = 1.0
    return R


def normalized_adjacency(R):
    """``D^{-1/2} [[0, R], [Rᵀ, 0]] D^{-1/2}``, CSR float64, sorted indices; isolated nodes 0."""
    A = sp.bmat([[None, R], [R.T, None]], format="csr")      # (n, n), n = n_users + n_items
    deg = np.asarray(A.sum(axis=1)).ravel()                   # (n,)
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    A_hat = sp.csr_matrix(sp.diags(inv_sqrt) @ A @ sp.diags(inv_sqrt))
    A_hat.sort_indices()
    return A_hat


def _with_threads(numba, threads, spmm, A, X):
    numba.set_num_threads(threads)
    return spmm(A, X)


def bench_graph(name, R, args, spmm, spmm_csr, numba):
    """Rows for one graph: every dtype x thread count."""
    A64 = normalized_adjacency(R)
    rows = []
    for dtype in (np.float32, np.float64):
        A = A64.astype(dtype)                                # both sides get A in X's dtype
        X = np.random.default_rng(1).standard_normal((A.shape[0], args.dim)).astype(dtype)
        n_sigs, n_hits = len(spmm_csr.signatures), sum(spmm_csr.stats.cache_hits.values())
        first = first_call_time(lambda: spmm(A, X))
        if len(spmm_csr.signatures) == n_sigs:
            first_kind = "warm"                             # compiled earlier in this run
        elif sum(spmm_csr.stats.cache_hits.values()) > n_hits:
            first_kind = "cache load"
        else:
            first_kind = "compile"
        ref = A @ X
        candidates = {"scipy": lambda: A @ X}
        for threads in args.threads:
            candidates[threads] = partial(_with_threads, numba, threads, spmm, A, X)
        timed = interleaved_times(candidates, args.repeat)
        t_scipy, runs_scipy = timed["scipy"]
        for threads in args.threads:
            numba.set_num_threads(threads)
            got = spmm(A, X)
            t_numba, runs_numba = timed[threads]
            rows.append({
                "graph": name, "n_nodes": A.shape[0], "nnz": A.nnz, "d": args.dim,
                "dtype": np.dtype(dtype).name, "threads": threads,
                "scipy_ms": 1e3 * t_scipy, "numba_ms": 1e3 * t_numba,
                "speedup": t_scipy / t_numba,
                "speedup_per_round": float(np.median(np.array(runs_scipy)
                                                     / np.array(runs_numba))),
                "scipy_min_ms": 1e3 * min(runs_scipy), "numba_min_ms": 1e3 * min(runs_numba),
                "first_call_s": first, "first_call": first_kind,
                "identical": bool(np.array_equal(got, ref)),
                "max_abs_diff": float(np.max(np.abs(got - ref))) if ref.size else 0.0,
            })
            first, first_kind = "", ""                      # reported once per dtype
    numba.set_num_threads(max(args.threads))
    return rows


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0],
        smoke="the small synthetic graph only, 2 runs (a --data graph is still read)")
    parser.add_argument("--data", type=Path, help="folder with a LightGCN-format train.txt")
    parser.add_argument("--dim", type=int, default=64, help="columns of X (default 64)")
    parser.add_argument("--threads", type=int, nargs="+",
                        help="numba thread counts (default: 1 and the maximum)")
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES), default=list(SIZES),
                        help="synthetic sizes to run (default all; none with --data: "
                             "that graph only); --smoke runs small only")
    parser.add_argument("--cold", action="store_true",
                        help="use an empty numba cache, so the first call compiles")
    parser.add_argument("--plot-only", nargs="?", const="spmm", metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json (default NAME spmm); run "
                             "nothing")
    args = parser.parse_args()
    if args.plot_only:
        record = read_record(args.out, args.plot_only)
        return plot_speedups(record["rows"], args.plot_only, args.out,
                             data=recorded_option(record, "--data"), record=record)
    if args.data is not None:                           # read even with --smoke
        check_data(args.data, ("train.txt",), "a folder with a LightGCN-format train.txt")
    if args.cold:                                       # before numba is imported
        os.environ["NUMBA_CACHE_DIR"] = cache = tempfile.mkdtemp(prefix="numba-cold-")
        # removed when the script ends, also by an error or Ctrl-C
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
    if args.smoke:
        args.repeat = 2

    import numba
    from minigraphrec.kernels.spmm import spmm_csr
    from minigraphrec.ops import spmm

    if args.threads is None:
        args.threads = sorted({1, numba.config.NUMBA_NUM_THREADS})
    sizes = ["small"] if args.smoke else args.sizes
    load_before = os.getloadavg()[0]
    rows = []
    for name in sizes:
        rows += bench_graph(f"synthetic-{name}", synthetic_R(*SIZES[name]), args,
                            spmm, spmm_csr, numba)
    if args.data is not None:
        rows += bench_graph(args.data.name, lightgcn_R(args.data), args, spmm, spmm_csr, numba)

    columns = ["graph", "n_nodes", "nnz", "dtype", "threads", "scipy_ms", "numba_ms",
               "speedup", "speedup_per_round", "first_call_s", "first_call", "identical"]
    notes = (f"Median of {args.repeat} runs, SciPy and numba timed round-robin, their order "
             "rotated round by round; "
             "speedup = scipy_ms / numba_ms (ratio of the medians); speedup_per_round = the "
             "median over rounds of the ratio within one round (both timed under the same "
             "load: the figure the 2x-on-2-threads target is judged on). "
             f"1-min load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} "
             "at the end. "
             "first_call_s: the numba backend's first call for that graph and dtype, "
             "which compiles the kernel, loads it from numba's cache, or finds it "
             "already compiled in this process (first_call says which); "
             "--cold forces compilation.")
    stem = "spmm_smoke" if args.smoke else "spmm"
    json_path, md_path = write_results(stem, rows, columns, out_dir=args.out, notes=notes)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    plot_speedups(rows, stem, args.out,
                  data=portable_path(str(args.data)) if args.data is not None else None,
                  record=json.loads(json_path.read_text()))        # the footer names the machine
    refuse_disagreement(rows, json_path.name)


def ratio_ticks(axis, lo, hi, unit="x"):
    """Label a log ``axis`` spanning ``lo..hi`` as plain numbers with ``unit`` (``2x``, not
    ``2×10⁰``); its minor ticks too when it spans less than a decade and a half."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    plain = FuncFormatter(lambda v, _: f"{v:g}{unit}")
    axis.set_major_formatter(plain)
    if hi / lo < 30:
        axis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}{unit}" if round(v / 10 ** np.floor(np.log10(v)), 6)
            in (2, 3, 5) else ""))
    else:
        axis.set_minor_formatter(NullFormatter())


def ratio_text(v, target=TARGET):
    """``v`` as ``1.42x``; one more digit near ``target``, so 1.997 does not read as 2x."""
    return f"{v:.4g}x" if abs(v / target - 1) < 0.01 else f"{v:.3g}x"


def _short(n):
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k" if n >= 1e3 else str(n)


def plot_speedups(rows, name, out_dir, data=None, record=None):
    """``<name>.png``: one panel per dtype, SciPy's time over numba's (median per-round
    ratio) for every graph and thread count as bars from 1x, the ratio of the medians as a
    dash, the 2x target on 2 threads as a line; log scale. ``data``: how to name the
    ``--data`` graph (e.g. ``DATA/gowalla``); ``record``, the results JSON drawn from, names
    the machine in a footer."""
    from minigraphrec import plot
    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    graphs = list(dict.fromkeys(r["graph"] for r in rows))
    threads = sorted({r["threads"] for r in rows})
    colors = ["#9ecae1", "#4292c6", "#08519c"][max(0, 3 - len(threads)):]
    data_name = None if data is None else Path(data).name
    ratios = [r[k] for r in rows for k in ("speedup_per_round", "speedup")]
    lo, hi = min(ratios + [1.0]) / 1.8, max(ratios + [TARGET]) * 1.8
    fig, axes = plot.subplots(1, len(dtypes), sharey=True,
                              figsize=(max(4.2, 1.3 * len(graphs) + 1.0) * len(dtypes), 4.6),
                              squeeze=False)
    width = 0.8 / len(threads)
    # a 7-pt value label's height as a factor on the log axis (about 3.2 in tall for lo..hi)
    text_h = (hi / lo) ** (0.14 / 3.2)
    for ax, dtype in zip(axes[0], dtypes):
        for j, t in enumerate(threads):
            for i, g in enumerate(graphs):
                r = next((r for r in rows if (r["graph"], r["dtype"], r["threads"])
                          == (g, dtype, t)), None)
                if r is None:
                    continue
                x, v = i + (j - (len(threads) - 1) / 2) * width, r["speedup_per_round"]
                ax.bar(x, v - 1, bottom=1, width=width * 0.9, color=colors[min(j, 2)],
                       label=f"{t} thread{'s' * (t > 1)}" if i == 0 else None)
                ax.plot(x, r["speedup"], "_", color="k", markersize=10, markeredgewidth=1.5,
                        label="ratio of the medians" if i == j == 0 else None)
                end = max(v, r["speedup"]) * 1.1 if v >= 1 else min(v, r["speedup"]) / 1.1
                if 2 in threads and v >= 1 and end < TARGET * 1.03 and end * text_h > TARGET:
                    end = TARGET * 1.04            # above the target line, not across it
                ax.text(x, end, ratio_text(v), ha="center", va="bottom" if v >= 1 else "top",
                        fontsize=7, zorder=3,
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        ax.axhline(1, color="0.5", linewidth=0.8)
        if 2 in threads:
            ax.axhline(TARGET, color="tab:red", linestyle="--", linewidth=1,
                       label=f"target >= {TARGET:g}x on 2 threads")
        labels = []
        for g in graphs:
            r = next(r for r in rows if r["graph"] == g)
            shown = data if data is not None and g == data_name else g
            labels.append(f"{shown}\n{_short(r['n_nodes'])} nodes\n{_short(r['nnz'])} nonzeros")
        ax.set_xticks(range(len(graphs)), labels, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylim(lo, hi)
        ratio_ticks(ax.yaxis, lo, hi)
        ax.set_title(dtype, fontsize=9)
    axes[0, 0].set_ylabel("SciPy time / numba time\n(median per-round ratio, log scale)")
    handles, texts = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, texts, loc="outside lower center", ncols=len(texts), fontsize=8)
    named = (["synthetic graphs"] * any(g.startswith("synthetic") for g in graphs)
             + [data] * (data_name in graphs))
    fig.suptitle(f"ops.spmm (numba) vs SciPy's serial Â @ X, X with {rows[0]['d']} columns"
                 + (": " + " and ".join(named) if named else ""), fontsize=10)
    save_figure(fig, name, out_dir, record=record)


if __name__ == "__main__":
    main()
