r"""Benchmark: how LightGCN training, GF-CF fitting, evaluation and memory grow with the graph.

Graphs. :func:`minigraphrec.datasets.synthetic` (planted communities,
Zipf popularity inside each, the embedded generator) at nominal sizes
``E`` = 10^4, 3·10^4, ..., 10^7 training edges, grown with Gowalla's
shape: ``n_users = E / 27`` and ``n_items = E / 20`` (Gowalla's LightGCN
split: 810,128 training pairs, 29,858 users, 40,981 items, so 27.1 pairs
per user and 19.8 per item) and ``mean_interactions = 34`` per user before
an 80/20 per-user random split (:func:`minigraphrec.split.random_split`,
seed ``--seed``), which leaves about ``E`` training pairs (the x axis is the
*measured* number of training pairs) and a held-out test set. So the mean
degrees stay fixed and the graph gets sparser as it grows, as real
catalogues do; at ``E`` ≈ 8·10^5 the graph has Gowalla's size. Generation
runs in the parent (not measured); the split is handed to the workers in a
temporary ``.npz``.

Per size, two fresh worker processes (so that a crash of BLAS in one, or
the memory of one, does not affect the others, and each peak is honest),
one after the other, each with ``--threads`` numba and BLAS threads:

1. ``lightgcn``: ``LightGCN()`` with the project's defaults (64 dims,
   3 layers, BPR, batches of 2048, Adam lr 1e-3, float32, numba),
   ``fit(train, epochs=0)`` (graph built, ``E0`` drawn; ``build_s``), then
   one epoch as ``fit`` runs it: :func:`minigraphrec.ops.sample_bpr` draws
   as many triples as training pairs (``sample_s``), cut into batches in
   draw order, each batch ``model._loss_and_grad(batch, reuse=True)`` + one
   numba Adam step, exactly the steps of :func:`minigraphrec.train.train_model`.
   One untimed step first (numba compile or cache load). When the epoch
   has more than ``--max-batches`` batches, only the first
   ``--max-batches`` are timed and the epoch time is **extrapolated** as
   ``sample_s + (their total) × n_batches / max_batches`` (flagged
   ``epoch_extrapolated``). Peak memory: the process's peak resident set
   (``VmHWM``) from start (imports, split loaded) to the end of those steps.
   Then ``evaluate``: the embeddings are refreshed (``embeddings_s``,
   one full propagation) and ``mgr.evaluate(model, test, k=20)`` (full
   ranking over every item, training items excluded, every default
   metric) is timed, after one untimed evaluation of a single test user
   (``eval_warmup_s``: loading the ranking kernels, the first BLAS call; the
   sweeps recorded before this warm-up, ``scaling.md`` of 2026-12-04 among
   them, timed that with the evaluation). Where ``test users × items`` exceeds
   :data:`EVAL_FULL_SCORES`, it is timed on a random sample of test users
   holding about :data:`EVAL_SAMPLE_SCORES` scores and on a single user (its
   fixed cost: exclusion and test matrices, item popularity), and the full
   time is **extrapolated** as ``t_1 + (t_m - t_1) (n - 1) / (m - 1)``
   (flagged ``eval_extrapolated``). Its peak memory is measured from a
   reset of ``VmHWM`` (``/proc/self/clear_refs``) just before, with the
   model resident. Between the two, unless ``--scaled-batches 0``: the
   same steps with the batch set by the graph to ``ceil(E / 396)``, so
   that every size's epoch has the 396 batches of Gowalla's at 2048
   (below Gowalla's size the batch is smaller than 2048;
   ``epoch_scaled_s``, timed and extrapolated the same way).
2. ``gfcf``: ``GFCF(svd_solver=--gfcf-solver)`` (default ``"auto"``:
   dense LAPACK up to 2000 rows, else PROPACK; otherwise the defaults,
   256 singular vectors, float32 scoring) ``.fit(train)``, timed once,
   with its peak memory; ``--gfcf-solver randomized`` repeats the
   earlier sweeps.

Why two epochs. Exact LightGCN training cannot make an epoch at a fixed
batch size linear in the graph. A batch's loss reads the final
embeddings of its users and items, each a weighted sum over its 3-hop
ball; on a popularity-skewed graph the 3-hop ball of a few thousand
nodes is nearly the whole graph, so the exact gradient is nonzero on
about every row of ``E0``, and computing it, and the Adam step that
applies it, cost ``Θ(E)`` per batch. ``E / 2048`` such batches make the
epoch ``Θ(E² / 2048)``: slope 2, whatever the kernels. So the
implementation is judged by the cost of one batch (``batch_median_s``,
slope 1 when nothing else grows) and by the epoch at a fixed number of
batches, which users of large graphs choose (the batch as a
hyperparameter; the model and the loss are the same). Full-ranking
evaluation likewise scores ``users × items``, both proportional to
``E`` here: slope 2, judged per score (``eval_s_per_score``, slope 0
when nothing else grows).

Every time is a single run (the sweep's budget allows no repeats) on a
shared machine: the 1-minute load average before and after each worker is
recorded. The plot (``results/scaling.png``) is log-log with a least-squares
slope fitted over the sizes with at least ``--fit-from`` training edges
(default 10^5; below it fixed costs dominate), also given for all sizes.
The largest graph that trains an epoch within 8 GB (8·10^9 bytes): the
largest measured size whose LightGCN peak is below it, and the edges where
a straight line through the LightGCN peaks of the two largest sizes
reaches 8 GB; ``--limit-check`` then runs the LightGCN worker (2 timed
batches, no evaluation) at 90 % of that prediction to confirm it, and
``--limit-edges E`` runs only that check, at ``E`` edges, without the sweep
(results in ``results/scaling_limit.{json,md}``).

Targets (issue 10 §4): slope ≤ 1.1 for the epoch and evaluation times; 10^7
edges fit (in 8 GB), judged apart for LightGCN's epoch and for GF-CF's fit
(each peak its own process's; ``scaling.md`` of 2026-12-04 judged LightGCN's
alone). All are reported; by the argument above the first
two cannot hold for the fixed-batch epoch and full ranking, and are
also judged on the epoch at a fixed number of batches.

    python benchmarks/bench_scaling.py                       # 10^4 .. 10^7 (16.0 min in
                                                             # results/scaling.md: AMD EPYC,
                                                             # 1 thread, --budget-minutes 50)
    python benchmarks/bench_scaling.py --max-edges 1e6       # a quicker sweep
    python benchmarks/bench_scaling.py --limit-edges 3e7     # one LightGCN memory check
    python benchmarks/bench_scaling.py --smoke --out /tmp/r  # 10^4 and 3·10^4 (the tests)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import (benchmark_parser, peak_rss_bytes, require_file, reset_peak, save_figure,
                     status_bytes, write_results)

#: the thread counts of the measurement, recorded in the result files (the workers measure)
WORKER_THREADS = "{} numba and BLAS thread(s) in each worker process (mgr.set_threads)"

SIZES = (1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7)
SMOKE_SIZES = (1e4, 3e4)
USER_DEGREE, ITEM_DEGREE = 27, 20          # training pairs per user / per item (Gowalla)
MEAN_INTERACTIONS = 34                     # per user before the 80/20 split
TEST_SIZE = 0.2
EVAL_K = 20
EVAL_FULL_SCORES = 4e9                     # above this many test-user x item scores: sample
EVAL_SAMPLE_SCORES = 1e9                   # scores in the sampled evaluation
MEMORY_LIMIT = 8e9                         # bytes
GOWALLA_BATCHES = 396                      # ceil(810,128 / 2048): batches per Gowalla epoch
WORKER_TAG = "RESULT "


# -------------------------------------------------------------------- data
def graph_shape(edges):
    """``(n_users, n_items)`` of the nominal size ``edges`` (training pairs)."""
    return max(20, round(edges / USER_DEGREE)), max(20, round(edges / ITEM_DEGREE))


def make_split(edges, seed, path):
    """Generate, split 80/20 per user, save to ``path`` (.npz); return a summary dict."""
    import minigraphrec as mgr
    n_users, n_items = graph_shape(edges)
    t0 = time.perf_counter()
    data = mgr.datasets.synthetic(n_users=n_users, n_items=n_items,
                                  mean_interactions=MEAN_INTERACTIONS, random_state=seed)
    train, test = mgr.split.random_split(data, test_size=TEST_SIZE, random_state=seed)
    seconds = time.perf_counter() - t0
    np.savez(path, train_users=train.users, train_items=train.items, test_users=test.users,
             test_items=test.items, n_users=n_users, n_items=n_items)
    return {"n_users": n_users, "n_items": n_items, "interactions": len(data),
            "train_edges": len(train), "test_pairs": len(test),
            "test_users": int(np.unique(test.users).size), "generate_s": seconds}


def load_split(path):
    import minigraphrec as mgr
    z = np.load(path)
    n_users, n_items = int(z["n_users"]), int(z["n_items"])
    train = mgr.Interactions(z["train_users"], z["train_items"], n_users=n_users, n_items=n_items)
    test = mgr.Interactions(z["test_users"], z["test_items"], n_users=n_users, n_items=n_items)
    return train, test


# ----------------------------------------------------------------- workers
def time_steps(model, optimizer, triples, batch_size, max_batches):
    """Training steps as ``fit`` runs them, on the triples in draw order cut into batches of
    ``batch_size``: ``model._loss_and_grad(batch, reuse=True)`` and one ``optimizer`` step each.

    One untimed step on the first batch (numba compile or cache load, a new batch shape),
    then the first ``max_batches`` batches timed (all with None). Returns ``(seconds of the
    untimed step, [seconds of each timed step], batches in the epoch)``."""
    from minigraphrec.batch import PairBatch
    users, pos, neg = triples                                          # (nnz,) each
    starts = list(range(0, users.shape[0], batch_size))
    timed = starts if max_batches is None else starts[:max_batches]

    def step(s):
        batch = PairBatch(users[s:s + batch_size], pos[s:s + batch_size],
                          neg[s:s + batch_size])
        _, grads = model._loss_and_grad(batch, reuse=True)
        optimizer.step(model.params, grads)

    t0 = time.perf_counter()
    step(starts[0])
    first = time.perf_counter() - t0
    times = []
    for s in timed:
        t0 = time.perf_counter()
        step(s)
        times.append(time.perf_counter() - t0)
    return first, times, len(starts)


def worker_lightgcn(train, test, args):
    """One LightGCN epoch (timed or extrapolated), then evaluation; a result dict."""
    import minigraphrec as mgr
    from minigraphrec.ops import sample_bpr

    out = {"base_rss_MB": (status_bytes("VmRSS") or 0) / 1e6}
    t0 = time.perf_counter()
    model = mgr.LightGCN(random_state=args.seed).fit(train, epochs=0)   # the defaults
    out["build_s"] = time.perf_counter() - t0
    out["A_hat_nnz"] = int(model.A_hat_.nnz)
    rng = np.random.default_rng(args.seed)
    optimizer = mgr.Adam(lr=model.lr, backend="numba")

    t0 = time.perf_counter()
    triples = sample_bpr(model.R_, random_state=rng)                   # (nnz,) users, pos, neg
    out["sample_s"] = time.perf_counter() - t0
    n_triples = triples[0].shape[0]
    B = model.batch_size
    # one untimed step first: compile / cache load
    out["first_step_s"], times, n_batches = time_steps(model, optimizer, triples, B,
                                                       args.max_batches)
    out.update({"batch_size": B, "n_batches": n_batches, "timed_batches": len(times),
                "batch_median_s": float(np.median(times)),
                "epoch_s": out["sample_s"] + sum(times) * n_batches / len(times),
                "epoch_extrapolated": len(times) < n_batches,
                "lightgcn_peak_MB": peak_rss_bytes() / 1e6})
    if args.scaled_batches:
        # The same steps with the batch set by the graph: a fixed number of batches
        # per epoch (Gowalla's at batch 2048), so that an epoch propagates the graph a
        # fixed number of times.  Timed after the peak above, on the same model; one untimed
        # step first (a new batch shape).
        B = math.ceil(n_triples / args.scaled_batches)
        _, times, n_batches = time_steps(model, optimizer, triples, B, args.max_batches)
        out.update({"scaled_batch_size": B, "scaled_n_batches": n_batches,
                    "scaled_batch_median_s": float(np.median(times)),
                    "epoch_scaled_s": out["sample_s"] + sum(times) * n_batches / len(times),
                    "epoch_scaled_extrapolated": len(times) < n_batches})
    del triples                                   # freed before the evaluation's peak
    if args.no_eval:
        return out

    out["eval_peak_reset"] = reset_peak()
    t0 = time.perf_counter()
    model._refresh_embeddings()                             # what fit does at its end
    out["embeddings_s"] = time.perf_counter() - t0
    test_users = np.unique(test.users)
    n = test_users.size
    n_items = train.n_items
    # untimed: one user's evaluation first, so that the timed ones do not include loading the
    # ranking kernels from numba's cache (or compiling them) and the first BLAS call's setup;
    # before this, the sampled evaluation below paid them and the one-user one did not, which
    # inflated t_m - t_1 and so the extrapolation by (n - 1) / (m - 1)
    t0 = time.perf_counter()
    mgr.evaluate(model, test.subset(test.users == test_users[0]), k=EVAL_K)
    out["eval_warmup_s"] = time.perf_counter() - t0
    if n * n_items <= EVAL_FULL_SCORES:
        t0 = time.perf_counter()
        result = mgr.evaluate(model, test, k=EVAL_K)
        out.update(eval_s=time.perf_counter() - t0, eval_extrapolated=False,
                   eval_timed_users=int(result["n_users"]))
    else:
        pick = np.random.default_rng(args.seed)
        m = max(2, min(n, math.ceil(EVAL_SAMPLE_SCORES / n_items)))
        sample = pick.choice(test_users, size=m, replace=False)
        t0 = time.perf_counter()
        result = mgr.evaluate(model, test.subset(np.isin(test.users, sample)), k=EVAL_K)
        t_m = time.perf_counter() - t0
        one = test.subset(test.users == sample[0])
        t0 = time.perf_counter()
        mgr.evaluate(model, one, k=EVAL_K)
        t_1 = time.perf_counter() - t0
        out.update(eval_s=t_1 + (t_m - t_1) * (n - 1) / (m - 1), eval_extrapolated=True,
                   eval_timed_users=m, eval_sample_s=t_m, eval_one_user_s=t_1)
    out["eval_users"] = int(n)
    out["recall@20"] = result[f"recall@{EVAL_K}"]
    out["eval_peak_MB"] = peak_rss_bytes() / 1e6
    return out


def worker_gfcf(train, test, args):
    """``GFCF(svd_solver=args.gfcf_solver).fit(train)``, timed once; a result dict."""
    import minigraphrec as mgr
    out = {"base_rss_MB": (status_bytes("VmRSS") or 0) / 1e6}
    t0 = time.perf_counter()
    model = mgr.GFCF(svd_solver=args.gfcf_solver).fit(train)
    out["gfcf_fit_s"] = time.perf_counter() - t0
    out["gfcf_solver"] = model.svd_solver_              # the solver that ran ("auto" resolved)
    out["gfcf_peak_MB"] = peak_rss_bytes() / 1e6
    return out


def worker_main(argv):
    import argparse
    parser = argparse.ArgumentParser(description="bench_scaling worker (internal)")
    parser.add_argument("--worker", choices=("lightgcn", "gfcf"), required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-batches", type=int, default=None)
    parser.add_argument("--no-eval", action="store_true")
    parser.add_argument("--scaled-batches", type=int, default=0)
    parser.add_argument("--gfcf-solver", default="auto")
    args = parser.parse_args(argv)
    import minigraphrec as mgr
    mgr.set_threads(args.threads)
    train, test = load_split(args.split)
    run = worker_lightgcn if args.worker == "lightgcn" else worker_gfcf
    print(WORKER_TAG + json.dumps(run(train, test, args)), flush=True)


def run_worker(kind, split, args, timeout, extra=()):
    """Run one worker in a fresh process; ``(result dict or None, error text, load pair)``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--split", str(split),
           "--threads", str(args.threads), "--seed", str(args.seed), *extra]
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", (load_before, os.getloadavg()[0])
    load = (load_before, os.getloadavg()[0])
    for line in proc.stdout.splitlines():
        if line.startswith(WORKER_TAG):
            return json.loads(line[len(WORKER_TAG):]), "", load
    if proc.returncode < 0:
        error = f"killed by signal {-proc.returncode}"
    else:
        error = f"exit code {proc.returncode}"
    tail = (proc.stderr.strip().splitlines() or [""])[-1]
    return None, f"{error}: {tail}"[:300], load


# -------------------------------------------------------------------- fits
def loglog_slope(x, y):
    """Least-squares slope of log y on log x (None with fewer than 2 points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return None
    return float(np.polyfit(np.log10(x[ok]), np.log10(y[ok]), 1)[0])


SERIES = {   # column: label
    "epoch_s": "LightGCN epoch (BPR, batch 2048)",
    "epoch_scaled_s": f"LightGCN epoch, {GOWALLA_BATCHES} batches (batch ∝ edges)",
    "batch_median_s": "LightGCN: one batch of 2048 (median)",
    "eval_s": "evaluate (full ranking, k 20)",
    "gfcf_fit_s": "GF-CF fit",
}
EXTRAPOLATED = {"epoch_s": "epoch_extrapolated", "epoch_scaled_s": "epoch_scaled_extrapolated",
                "eval_s": "eval_extrapolated"}
MEMORY_SERIES = {
    "lightgcn_peak_MB": "LightGCN build + epoch steps",
    "eval_peak_MB": "evaluate (model resident)",
    "gfcf_peak_MB": "GF-CF fit",
}


def slopes(rows, fit_from):
    found = {}
    for col in list(SERIES) + list(MEMORY_SERIES) + ["eval_s_per_score"]:
        pts = [(r["train_edges"], r[col]) for r in rows if isinstance(r.get(col), float)]
        big = [(x, y) for x, y in pts if x >= fit_from]
        found[col] = {"all": loglog_slope(*zip(*pts)) if len(pts) >= 2 else None,
                      "fit": loglog_slope(*zip(*big)) if len(big) >= 2 else None,
                      "n_fit": len(big)}
    return found


def memory_limit_edges(rows):
    """Edges where a line through the LightGCN peaks of the two largest sizes hits 8 GB."""
    pts = sorted((r["train_edges"], r["lightgcn_peak_MB"] * 1e6) for r in rows
                 if r.get("lightgcn_peak_MB") is not None)
    if len(pts) < 2:
        return None
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    slope = (y1 - y0) / (x1 - x0)
    return float(x1 + (MEMORY_LIMIT - y1) / slope) if slope > 0 else None


def plot_results(rows, fits, fit_from, name, out_dir, record=None):
    """``<out_dir>/<name>.png``: time (left) and peak memory (right) against the training
    edges, log-log, with the fitted slopes; ``record``, the results JSON drawn from, names the
    machine in a footer."""
    from minigraphrec import plot
    fig, (ax_t, ax_m) = plot.subplots(1, 2, figsize=(12, 4.8))
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    markers = {"epoch_s": "o", "epoch_scaled_s": "D", "batch_median_s": "v", "eval_s": "s",
               "gfcf_fit_s": "^",
               "lightgcn_peak_MB": "o", "eval_peak_MB": "s", "gfcf_peak_MB": "^"}
    for ax, series, scale in ((ax_t, SERIES, 1.0), (ax_m, MEMORY_SERIES, 1e-3)):
        for col, label in series.items():
            flag = EXTRAPOLATED.get(col)
            pts = [(r["train_edges"], r[col] * scale, bool(flag and r.get(flag)))
                   for r in rows if isinstance(r.get(col), float)]
            if not pts:
                continue
            x, y, extra = map(np.array, zip(*pts))
            s = fits[col]["fit"]
            text = f"{label}: slope {s:.2f}" if s is not None else label
            line, = ax.plot(x, y, marker=markers[col], label=text)
            if extra.any():                                 # extrapolated points: hollow
                ax.plot(x[extra], y[extra], linestyle="none", marker=markers[col],
                        markerfacecolor="white", color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training edges (user–item pairs)")
        ax.grid(True, which="both", alpha=0.3)
        edges = [r["train_edges"] for r in rows]
        if min(edges) < fit_from <= max(edges):
            ax.axvline(fit_from, color="grey", linestyle=":", linewidth=1)
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if ax is ax_m else (1.0,)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax_t.set_ylabel("seconds (hollow: extrapolated)")
    fitted = any(f.get("fit") is not None for f in fits.values())
    ax_t.set_title(f"time; slopes fitted from {fit_from:.0e} edges" if fitted
                   else "time (too few sizes for a slope)")
    ax_m.axhline(MEMORY_LIMIT / 1e9, color="red", linestyle="--", linewidth=1, label="8 GB")
    ax_m.set_ylabel("peak resident memory of the process, GB")
    ax_m.set_title("peak memory (fresh process per size)")
    ax_t.legend(fontsize=8, loc="upper left")
    # the legend hangs just under the 8 GB line (top left, where the small graphs leave room):
    # above it, it covered the line
    lo, hi = ax_m.get_ylim()
    limit_at = math.log(MEMORY_LIMIT / 1e9 / lo) / math.log(hi / lo)      # axes fraction
    ax_m.legend(fontsize=8, loc="upper left",
                bbox_to_anchor=(0.0, limit_at - 0.03 if 0.5 < limit_at < 1 else 1.0))
    return save_figure(fig, name, out_dir, record=record)           # prints "wrote PATH"


# -------------------------------------------------------------------- main
def limit_check(edges, args, tmp):
    """LightGCN worker (2 timed batches, no evaluation) at ``edges``: its result dict."""
    split = Path(tmp) / "split_limit.npz"
    print(f"--- limit check at {edges:.3g} edges: generating", flush=True)
    shape = make_split(edges, args.seed, split)
    result, error, load = run_worker("lightgcn", split, args, 7200.0,
                                     ("--max-batches", "2", "--no-eval"))
    split.unlink()
    check = {"edges_nominal": int(edges), **shape, "load": list(load),
             **(result or {"lightgcn_error": error})}
    print("    lightgcn: " + json.dumps(check), flush=True)
    return check


def limit_only(args):
    """``--limit-edges``: the memory check alone, written to ``scaling_limit``."""
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        check = limit_check(args.limit_edges, args, tmp)
    peak = check.get("lightgcn_peak_MB")
    check["within_8GB"] = peak is not None and peak * 1e6 <= MEMORY_LIMIT
    notes = (f"One size only: mgr.datasets.synthetic grown as in the sweep (n_users = "
             f"E/{USER_DEGREE}, n_items = E/{ITEM_DEGREE}), LightGCN with the defaults in a "
             f"fresh process: build, one epoch's BPR triples drawn, one untimed step and 2 "
             f"timed steps; lightgcn_peak_MB = VmHWM of that process; 8 GB = 8e9 bytes. "
             f"{args.threads} threads. 1-min load average {check['load'][0]:.2f} before, "
             f"{check['load'][1]:.2f} after.")
    columns = ["edges_nominal", "train_edges", "n_users", "n_items", "A_hat_nnz", "build_s",
               "batch_median_s", "lightgcn_peak_MB", "within_8GB"]
    json_path, md_path = write_results("scaling_limit", [check], columns, out_dir=args.out,
                                       notes=notes, threads=WORKER_THREADS.format(args.threads))
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0], repeat=False,
        smoke="two small sizes (1e4 and 3e4 edges), 1 thread, 3 batches")
    parser.add_argument("--data", type=Path, default=None,
                        help="not used (synthetic graphs only); accepted for uniformity")
    parser.add_argument("--threads", type=int, default=None,
                        help="numba and BLAS threads in the workers (default: the CPUs "
                             "this process may use; 1 with --smoke)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the synthetic graphs, their splits and LightGCN (default 0)")
    parser.add_argument("--max-edges", type=float, default=max(SIZES),
                        help="largest nominal size of the sweep (default 1e7)")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="LightGCN batches timed per epoch; more: extrapolated "
                             "(default 10; 3 with --smoke)")
    parser.add_argument("--fit-from", type=float, default=1e5,
                        help="fit slopes over sizes with at least this many edges (default 1e5)")
    parser.add_argument("--budget-minutes", type=float, default=40.0,
                        help="skip the sizes that would start after this wall time (default 40)")
    parser.add_argument("--limit-check", action="store_true",
                        help="after the sweep, run LightGCN at 90%% of the predicted 8 GB size")
    parser.add_argument("--limit-edges", type=float, default=None,
                        help="no sweep: only the LightGCN memory check at this many edges")
    parser.add_argument("--gfcf-solver", default="auto",
                        choices=["auto", "dense", "arpack", "propack", "randomized", "chebyshev"],
                        help="GFCF svd_solver in the sweep (default auto: dense up to 2000 rows "
                             "or columns, else PROPACK, each only where its working arrays fit "
                             "GFCF's max_svd_memory_mb, 8192 MiB; else ARPACK (Chebyshev where "
                             "SciPy lacks PROPACK); PROPACK that does not converge falls back "
                             "to Chebyshev, or ARPACK where Chebyshev does not fit the budget; "
                             "a MemoryError up front where even ARPACK does not fit. The JSON's "
                             "gfcf_solver is the solver that ran)")
    parser.add_argument("--scaled-batches", type=int, default=GOWALLA_BATCHES,
                        help="also time an epoch of this many batches, the batch grown with "
                             f"the graph (default {GOWALLA_BATCHES}, Gowalla's at 2048; 0: off)")
    parser.add_argument("--plot-only", type=Path, default=None, metavar="JSON",
                        help="no sweep: redraw the plot from a results JSON of this script "
                             "(the PNG goes next to it)")
    parser.add_argument("--replot", dest="plot_only", type=Path,
                        help=argparse.SUPPRESS)                 # the option's earlier name
    args = parser.parse_args()
    if args.threads is None:
        from minigraphrec.threadpools import usable_cpus
        args.threads = 1 if args.smoke else usable_cpus()        # the CPUs this process may use
    if args.max_batches is None:
        args.max_batches = 3 if args.smoke else 10

    if args.limit_edges is not None:
        return limit_only(args)
    if args.plot_only is not None:
        require_file(args.plot_only, "--plot-only")
        record = json.loads(args.plot_only.read_text())
        rows = [r for r in record["rows"]
                if isinstance(r.get("train_edges"), int)]
        fits = slopes(rows, args.fit_from)
        plot_results(rows, fits, args.fit_from, args.plot_only.stem, args.plot_only.parent,
                     record=record)                  # prints "wrote PATH"
        return
    sizes = SMOKE_SIZES if args.smoke else tuple(e for e in SIZES if e <= args.max_edges)
    start = time.perf_counter()
    deadline = start + 60 * args.budget_minutes
    rows, skipped = [], []
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for edges in sizes:
            if time.perf_counter() > deadline:
                skipped.append(edges)
                continue
            split = Path(tmp) / f"split_{int(edges)}.npz"
            print(f"--- {edges:.0e} edges: generating", flush=True)
            row = {"edges_nominal": int(edges), **make_split(edges, args.seed, split)}
            for kind in ("lightgcn", "gfcf"):
                timeout = max(120.0, deadline - time.perf_counter() + 300.0)
                extra = ("--max-batches", str(args.max_batches),
                         "--scaled-batches", str(args.scaled_batches),
                         "--gfcf-solver", args.gfcf_solver)
                result, error, load = run_worker(kind, split, args, timeout, extra)
                row[f"{kind}_load"] = [round(v, 2) for v in load]
                loads += load
                if result is None:
                    row[f"{kind}_error"] = error
                    print(f"    {kind}: FAILED ({error})", flush=True)
                else:
                    row.update({f"{kind}_{k}" if k == "base_rss_MB" else k: v
                                for k, v in result.items()})
                    print(f"    {kind}: " + ", ".join(
                        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in result.items()), flush=True)
            if row.get("eval_s") is not None:
                row["eval_s_per_score"] = row["eval_s"] / (row["eval_users"] * row["n_items"])
            split.unlink()
            rows.append(row)

        fits = slopes(rows, args.fit_from)
        within = [r["train_edges"] for r in rows
                  if r.get("lightgcn_peak_MB") is not None and r["lightgcn_peak_MB"] * 1e6
                  <= MEMORY_LIMIT]
        predicted = memory_limit_edges(rows)
        check = None
        if args.limit_check and predicted is not None and not args.smoke:
            check = limit_check(0.9 * predicted, args, tmp)
            loads += check["load"]

    elapsed = time.perf_counter() - start
    targets = {
        "epoch slope <= 1.1": fits["epoch_s"]["fit"] is not None and fits["epoch_s"]["fit"] <= 1.1,
        f"epoch slope <= 1.1 at {args.scaled_batches} batches per epoch":
            fits["epoch_scaled_s"]["fit"] is not None and fits["epoch_scaled_s"]["fit"] <= 1.1,
        "eval slope <= 1.1": fits["eval_s"]["fit"] is not None and fits["eval_s"]["fit"] <= 1.1,
        # each model's own peak: LightGCN's epoch and GF-CF's fit are separate processes
        "1e7 edges within 8 GB (LightGCN)": any(
            r["edges_nominal"] >= 1e7 and r.get("lightgcn_peak_MB")
            and r["lightgcn_peak_MB"] * 1e6 <= MEMORY_LIMIT for r in rows),
        "1e7 edges within 8 GB (GF-CF fit)": any(
            r["edges_nominal"] >= 1e7 and r.get("gfcf_peak_MB")
            and r["gfcf_peak_MB"] * 1e6 <= MEMORY_LIMIT for r in rows),
    }
    name = "scaling_smoke" if args.smoke else "scaling"

    notes = [
        f"Synthetic graphs (mgr.datasets.synthetic, seed {args.seed}): n_users = E/{USER_DEGREE}, "
        f"n_items = E/{ITEM_DEGREE}, {MEAN_INTERACTIONS} interactions per user on average, "
        f"80/20 per-user random split; train_edges is the measured training graph. Each size: "
        f"a fresh process for LightGCN (defaults: 64 dims, 3 layers, batch 2048, Adam, float32; "
        f"one untimed step, then up to {args.max_batches} batches timed, the epoch extrapolated "
        f"from them when it has more) followed by evaluate (k={EVAL_K}, every default metric, "
        f"after one untimed evaluation of one test user, eval_warmup_s in the JSON; "
        f"above {EVAL_FULL_SCORES:.0e} test-user x item scores timed on a sample of users and "
        f"on one user and extrapolated), and a fresh process for "
        f"GFCF(svd_solver={args.gfcf_solver!r}) (gfcf_solver in the JSON: the solver it used; "
        f"'auto' falls back from PROPACK to Chebyshev where PROPACK does not converge, and "
        f"takes ARPACK where PROPACK's arrays could exceed max_svd_memory_mb, 8192 MiB). "
        f"epoch_scaled_s: after the timed batches of 2048, in the same process, the same steps "
        f"with the batch set to ceil(train_edges / {args.scaled_batches}), "
        f"so that every size's epoch has {args.scaled_batches} batches, as Gowalla's at 2048 "
        f"does; up to {args.max_batches} timed and extrapolated likewise. "
        f"Single runs, {args.threads} threads. Peak memory = VmHWM of the worker process "
        f"(evaluation: reset just before it, the model resident). The last two rows give the "
        f"log-log slope of each column against train_edges, over the sizes >= "
        f"{args.fit_from:.0e} edges and over all sizes.",
        f"Largest measured size whose LightGCN peak is within 8 GB (8e9 bytes): "
        f"{max(within) if within else None} training edges."]
    if predicted is not None:
        notes.append(f"A line through the LightGCN peaks of the two largest sizes reaches 8 GB "
                     f"at {predicted:.3g} training edges.")
    if check is not None:
        notes.append(f"Limit check (LightGCN worker, 2 timed batches, no evaluation): "
                     f"{json.dumps(check)}.")
    notes.append(f"Targets: {json.dumps(targets)}.")
    if skipped:
        notes.append(f"Skipped (over the {args.budget_minutes:g}-min budget): {skipped}.")
    notes.append(f"1-min load average during the run {min(loads):.2f}-{max(loads):.2f} "
                 f"(per worker: the *_load columns of the JSON); wall {elapsed / 60:.1f} min.")

    columns = ["edges_nominal", "train_edges", "n_users", "n_items", "n_batches",
               "timed_batches", "batch_median_s", "epoch_s", "epoch_extrapolated",
               "scaled_batch_size", "epoch_scaled_s",
               "lightgcn_peak_MB", "eval_users", "eval_timed_users", "eval_s",
               "eval_extrapolated", "eval_peak_MB", "gfcf_solver", "gfcf_fit_s", "gfcf_peak_MB"]
    for r in rows:
        for kind, col in (("lightgcn", "epoch_s"), ("gfcf", "gfcf_fit_s")):
            if f"{kind}_error" in r:
                r[col] = "FAILED: " + r[f"{kind}_error"]
    for which, label in (("fit", f"slope (>= {args.fit_from:.0e})"), ("all", "slope (all)")):
        rows.append({"edges_nominal": label, **{
            col: (round(f[which], 3) if f[which] is not None else "n/a")
            for col, f in fits.items()}, "summary": {
                "targets": targets, "within_8GB_max_measured_edges":
                max(within) if within else None, "predicted_8GB_edges": predicted,
                "limit_check": check, "skipped": skipped, "wall_s": elapsed}})
    json_path, md_path = write_results(name, rows, columns, out_dir=args.out,
                                       notes=" ".join(notes),
                                       threads=WORKER_THREADS.format(args.threads))
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    # drawn from the record written, so that its footer names the machine, threads and date
    sizes_measured = [r for r in rows if isinstance(r.get("train_edges"), int)]  # no slopes
    plot_results(sizes_measured, fits, args.fit_from, name, args.out,
                 record=json.loads(json_path.read_text()))


if __name__ == "__main__":
    if "--worker" in sys.argv[1:]:
        worker_main(sys.argv[1:])
    else:
        main()
