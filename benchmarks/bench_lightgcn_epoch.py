r"""Benchmark: one LightGCN training epoch, minigraphrec against PyTorch Geometric, same triples.

The LightGCN paper's setting on its Gowalla split (``DIR/train.txt``,
LightGCN format): 64 dimensions, 3 layers, Adam with lr 0.001, batches of
2048 BPR triples, reg 1e-4, one epoch = as many triples as training pairs
(810,128, so 396 batches). Both sides train on the *same* triples, drawn
once by :func:`minigraphrec.ops.sample_bpr` (seed ``--seed``) and cut into
batches in draw order, as minigraphrec's ``fit`` does; sampling is not
timed. A training step is, on both sides:

* PyTorch Geometric (``pyg_reference.PyGLightGCN``): full-graph
  propagation ``E = 1/(K+1) Σ_k Â^k E0`` through
  ``torch_geometric.nn.models.LightGCN`` (as the paper's code, every
  batch), the BPR loss with minigraphrec.losses' L2 term, ``backward()``, one
  ``torch.optim.Adam`` step;
* minigraphrec (``minigraphrec.models.lightgcn.LightGCN``):
  ``loss_and_grad(PairBatch)`` (the same loss and its exact gradient,
  propagating only the batch's K-hop ball, which gives the same numbers)
  and one ``minigraphrec.optim.Adam(backend="numba")`` step.

Reported: seconds per epoch for each (the sum of the timed batches; with
``--max-batches N`` only the first N batches are timed and the epoch time
is *extrapolated* as their total × n_batches / N, flagged as such), the
median seconds per batch, and the ratio PyG / ours from the same run. The
numba first call (compilation or cache load) is timed apart, as is
building each side's graph. Without ``--max-batches`` ours is also timed
through the user's path, ``LightGCN(...).fit(train, epochs=1)``, which
draws its own triples (same count) and includes sampling.

The sides take turns batch by batch (``--interleave batch``, the default):
batch ``b`` is one step of each side, in an order rotated from batch to
batch, so that a busy minute on the shared machine slows both alike.
(Runs before 2026-12-08 timed each side's whole pass in turn, as
``--interleave pass`` still does.)

Cross-check (printed and recorded): from identical initial embeddings
(minigraphrec's ``E0`` copied into PyG's table) both sides compute the
loss and the gradient of ``E0`` on the first batch; the relative loss
difference and the largest gradient difference relative to the largest
gradient entry are reported, in float32 (the timed dtype) and float64.

PyG adjacency variants (``--adjacency``, see ``pyg_reference.py``): the
default is ``csr_normalized_int32`` (Â as a ``torch.sparse_csr_tensor``
with int32 indices, ``LGConv(normalize=False)``), the fastest of the
variants on this machine (``--adjacency all`` times them all; recorded in
``results/lightgcn_epoch_first10.md``). Whatever the layout, torch's
backward of ``torch.sparse.mm`` builds ``Âᵀ`` by sorting on every call,
which dominates PyG's step. ``torch_sparse`` is not installed (PyPI has
only its source; building it against torch 2.13 was not attempted); on
CPU PyG 2.8 turns a ``SparseTensor`` into a torch CSR tensor and calls
``torch.sparse.mm(·, ·, "sum")`` anyway, whose backward sorts the same
way (timed alone: no faster).

Threads (``--threads 1 2``): each count is used by both sides in turn,
and rows compare the two at the same count; the headline compares each
side's fastest configuration. On a shared machine torch's OpenMP threads
lose badly to contention (``OMP_WAIT_POLICY=PASSIVE`` helps them; it is
recorded with the results).

Needs torch and torch_geometric for the reference; without them the
reference is skipped with a message and only minigraphrec is timed. torch
is never a dependency of minigraphrec: install it into the benchmark environment
(``pip install torch==2.13.0 torch_geometric``), e.g.

    python benchmarks/bench_lightgcn_epoch.py --data DIR
    python benchmarks/bench_lightgcn_epoch.py --data DIR \
        --max-batches 10 --adjacency all --threads 1 2
    python benchmarks/bench_lightgcn_epoch.py --smoke --out /tmp/r      # what the tests run
    python benchmarks/bench_lightgcn_epoch.py --plot-only              # redraw from the JSON
    python benchmarks/bench_lightgcn_epoch.py --plot-only lightgcn_epoch_first10
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from _common import (add_lightgcn_data_option, benchmark_parser, first_call_time,
                     load_lightgcn_train, read_record, recorded_option, require_lightgcn_train,
                     round_order, save_figure, source_digests, write_results)

# the paper's settings
DIM, N_LAYERS, LR, BATCH_SIZE, REG = 64, 3, 1e-3, 2048, 1e-4
# cross-check tolerances (relative), per dtype: rounding of a few million sums
CHECK_RTOL = {"float32": 1e-5, "float64": 1e-10}


def epoch_batches(R, batch_size, seed):
    """One epoch of BPR triples (``sample_bpr``) in draw order: a list of (users, pos, neg)."""
    from minigraphrec.ops import sample_bpr
    users, pos, neg = sample_bpr(R, random_state=seed)                 # (nnz,) each
    return [(users[s:s + batch_size], pos[s:s + batch_size], neg[s:s + batch_size])
            for s in range(0, users.shape[0], batch_size)]


def timed_pass(step, batches):
    """Per-batch wall times (s) of ``step(users, pos, neg)`` over ``batches``."""
    times = []
    for users, pos, neg in batches:
        t0 = time.perf_counter()
        step(users, pos, neg)
        times.append(time.perf_counter() - t0)
    return times


def timed_interleaved(steppers, batches, shift=0):
    """Per-batch wall times (s) of every side, ``{side: [s, ...]}``, the sides taking turns
    batch by batch: batch ``b`` is stepped by each side in :func:`round_order` ``(b +
    shift)``. Each side trains its own model, so the turns change no number; they put both
    sides under the same load, minute by minute, which whole passes one after the other do
    not (a busy minute during one side's pass went into the ratio)."""
    times = {side: [] for side in steppers}
    for b, (users, pos, neg) in enumerate(batches):
        for side in round_order(steppers, b + shift):
            t0 = time.perf_counter()
            steppers[side](users, pos, neg)
            times[side].append(time.perf_counter() - t0)
    return times


def ours_model(train, seed, dtype="float32"):
    """minigraphrec's LightGCN, graph built and ``E0`` drawn (``fit(train, epochs=0)``)."""
    from minigraphrec.models.lightgcn import LightGCN
    model = LightGCN(dim=DIM, n_layers=N_LAYERS, lr=LR, batch_size=BATCH_SIZE, reg=REG,
                     dtype=dtype, random_state=seed)
    return model.fit(train, epochs=0)


def ours_stepper(model):
    """``step(users, pos, neg)``: ``loss_and_grad`` + one numba Adam step, as ``fit`` does."""
    from minigraphrec.batch import PairBatch
    from minigraphrec.optim import Adam
    opt = Adam(lr=LR, backend="numba")
    # compile (or load) the Adam kernel on a throwaway table of the same dtype and rank
    Adam(lr=LR, backend="numba").step({"E0": np.zeros((2, DIM), model.params["E0"].dtype)},
                                      {"E0": np.ones((2, DIM), model.params["E0"].dtype)})

    def step(users, pos, neg):
        _, grads = model.loss_and_grad(PairBatch(users, pos, neg))
        opt.step(model.params, grads)
    return step


def cross_check(train, R, batch, adjacency, seed, dtype):
    """Loss and dE0 of both sides on ``batch`` from the same ``E0``; a result row (dict)."""
    from minigraphrec.batch import PairBatch
    from pyg_reference import PyGLightGCN
    model = ours_model(train, seed, dtype)
    loss_ours, grads = model.loss_and_grad(PairBatch(*batch))
    pyg = PyGLightGCN(R, DIM, N_LAYERS, LR, REG, adjacency=adjacency,
                      E0=model.params["E0"], dtype=dtype)
    loss_pyg, dE0_pyg = pyg.loss_and_grad(*batch)
    dE0 = grads["E0"].astype(np.float64)
    scale = float(np.max(np.abs(dE0_pyg)))
    loss_diff = abs(loss_ours - loss_pyg) / abs(loss_pyg)
    grad_diff = float(np.max(np.abs(dE0 - dE0_pyg))) / scale
    return {
        "check": f"first batch, {dtype}", "adjacency": adjacency,
        "loss_ours": float(loss_ours), "loss_pyg": loss_pyg,
        "loss_rel_diff": loss_diff, "grad_max_abs_diff_rel": grad_diff,
        "rtol": CHECK_RTOL[dtype],
        "agree": bool(loss_diff <= CHECK_RTOL[dtype] and grad_diff <= CHECK_RTOL[dtype]),
    }


def summarize(side, times, n_batches, repeat_times=None):
    """A timing row: s/epoch (measured or extrapolated) and the median s/batch."""
    measured = sum(times)
    per_epoch = measured * n_batches / len(times)
    return {
        "side": side, "batches_timed": len(times), "batches_per_epoch": n_batches,
        "timed_s": measured, "s_per_epoch": per_epoch,
        "extrapolated": len(times) < n_batches,
        "median_s_per_batch": statistics.median(times),
        "epochs_s_all_repeats": repeat_times,
    }


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0],
        smoke="a synthetic 300 x 400 graph instead of --data",
        repeat_help="timed epoch passes per side and thread count; the (lower) median is "
                    "reported")
    parser.set_defaults(repeat=1)
    add_lightgcn_data_option(parser)
    parser.add_argument("--max-batches", type=int, default=None,
                        help="time only the first N batches and extrapolate the epoch (flagged)")
    parser.add_argument("--adjacency", default="csr_normalized_int32",
                        help="PyG adjacency variant, or 'all' (see pyg_reference.ADJACENCIES)")
    parser.add_argument("--seed", type=int, default=2020, help="seed of E0 and the triples")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts, each used by both numba and torch in turn "
                             "(default: each library's default)")
    parser.add_argument("--no-reference", action="store_true",
                        help="time minigraphrec only, even if torch is installed")
    parser.add_argument("--interleave", choices=("batch", "pass"), default="batch",
                        help="batch (default): the sides take turns batch by batch, so that "
                             "both see the same machine load; pass: each side times a whole "
                             "pass in turn (the order alternating between repeats)")
    parser.add_argument("--no-fit", action="store_true",
                        help="skip timing LightGCN.fit(train, epochs=1)")
    parser.add_argument("--plot-only", nargs="?", const="lightgcn_epoch", metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json (default NAME "
                             "lightgcn_epoch; lightgcn_epoch_first10 for the --max-batches "
                             "run); run nothing")
    args = parser.parse_args()
    if args.plot_only:
        record = read_record(args.out, args.plot_only)
        graph = recorded_option(record, "--data") or record["setup"]["graph"]   # DATA/gowalla
        return plot_epochs(record["rows"], args.plot_only, args.out, graph, record=record)
    require_lightgcn_train(args)
    if args.max_batches is not None and args.max_batches < 1:
        parser.error(f"--max-batches must be >= 1, got {args.max_batches}")
    if args.threads is not None and min(args.threads) < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    load_start = os.getloadavg()

    from pyg_reference import torch_status, torch_versions
    have_torch, status = (False, "--no-reference given") if args.no_reference else torch_status()
    print(("PyTorch Geometric reference: " if have_torch else "skipping the PyTorch Geometric "
           "reference: ") + status, flush=True)
    kinds = []
    if have_torch:
        status = status.rsplit(",", 1)[0]              # the thread counts are per row
        import torch
        from pyg_reference import ADJACENCIES, PyGLightGCN, available_adjacencies
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")   # torch's beta-CSR notices
        have = available_adjacencies()
        kinds = have if args.adjacency == "all" else [args.adjacency]
        for k in kinds:
            if k not in ADJACENCIES:
                parser.error(f"--adjacency must be 'all' or one of {ADJACENCIES}, got {k!r}")
            if k not in have:
                parser.error(f"adjacency {k!r} needs torch_sparse, which is not installed")
    import numba
    from minigraphrec.batch import PairBatch

    def set_threads(n):
        """Use ``n`` threads in numba and torch (None: leave the defaults); return both counts."""
        if n is not None:
            numba.set_num_threads(n)
            if have_torch:
                torch.set_num_threads(n)
        return numba.get_num_threads(), (torch.get_num_threads() if have_torch else None)

    train, graph = load_lightgcn_train(args)
    R = train.to_csr()                                             # (n_users, n_items) binary
    t0 = time.perf_counter()
    batches = epoch_batches(R, BATCH_SIZE, args.seed)
    t_sample = time.perf_counter() - t0
    n_batches = len(batches)
    timed = batches if args.max_batches is None else batches[:args.max_batches]
    print(f"{graph}: {R.shape[0]} users, {R.shape[1]} items, {R.nnz} pairs; "
          f"{n_batches} batches of {BATCH_SIZE}, timing {len(timed)}; sampling took "
          f"{t_sample:.2f} s", flush=True)

    setup = {"graph": graph, "n_users": R.shape[0], "n_items": R.shape[1], "nnz": R.nnz,
             "sample_s": t_sample, "reference": status,
             "versions": torch_versions() if have_torch else None,
             "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
             "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
             "numba_threading_layer": None, "sources": source_digests()}

    # ---- correctness cross-check, identical E0, first batch
    checks = []
    for kind, dtype in [(k, d) for k in kinds for d in ("float32", "float64")]:
        row = cross_check(train, R, batches[0], kind, args.seed, dtype)
        checks.append(row)
        print(f"cross-check ({row['check']}, {row['adjacency']}): loss ours "
              f"{row['loss_ours']:.9g}, PyG {row['loss_pyg']:.9g}, rel. diff "
              f"{row['loss_rel_diff']:.2e}; max |dE0 diff| / max |dE0| "
              f"{row['grad_max_abs_diff_rel']:.2e} -> "
              f"{'agree' if row['agree'] else 'DISAGREE'} (rtol {row['rtol']:g})", flush=True)

    # ---- build both sides (timed apart), first calls (numba compile or cache load) apart
    t0 = time.perf_counter()
    model = ours_model(train, args.seed)
    setup["ours_build_s"] = time.perf_counter() - t0
    step_ours = ours_stepper(model)
    setup["ours_first_call_s"] = first_call_time(
        lambda: model.loss_and_grad(PairBatch(*batches[0])))       # no step: E0 unchanged
    try:
        setup["numba_threading_layer"] = numba.threading_layer()
    except ValueError:
        pass
    steppers = {"minigraphrec": step_ours}
    for k in kinds:
        t0 = time.perf_counter()
        pyg = PyGLightGCN(R, DIM, N_LAYERS, LR, REG, adjacency=k, E0=model.params["E0"],
                          dtype="float32")
        setup[f"pyg_build_s[{k}]"] = time.perf_counter() - t0
        setup[f"pyg_first_call_s[{k}]"] = first_call_time(lambda: pyg.loss_and_grad(*batches[0]))
        steppers[f"pyg[{k}]"] = pyg.step

    # ---- timed passes: per thread count, every side, taking turns batch by batch (or pass
    # by pass, the order alternating between repeats)
    setup["interleave"] = args.interleave
    rows = []
    for n_threads in (args.threads or [None]):
        threads = set_threads(n_threads)
        passes = {side: [] for side in steppers}
        order = list(steppers)
        for r in range(args.repeat):
            if args.interleave == "batch":
                done = timed_interleaved(steppers, timed, shift=r)
            else:
                done = {side: timed_pass(steppers[side], timed)
                        for side in (order if r % 2 == 0 else order[::-1])}
            for side in order:
                ts = done[side]
                passes[side].append(ts)
                print(f"  threads {threads[side != 'minigraphrec']}, repeat {r + 1}: {side}: "
                      f"{sum(ts):.2f} s for {len(ts)} batches (median "
                      f"{statistics.median(ts) * 1e3:.1f} ms/batch)", flush=True)
        block = []
        for side, runs in passes.items():
            med = sorted(runs, key=sum)[(len(runs) - 1) // 2]       # the (lower) median pass
            row = summarize(side, med, n_batches, [sum(p) * n_batches / len(p) for p in runs])
            row["threads"] = threads[side != "minigraphrec"]
            block.append(row)
        for row in block[1:]:
            row["ratio_vs_ours"] = row["s_per_epoch"] / block[0]["s_per_epoch"]
            row["batch_median_ratio"] = row["median_s_per_batch"] / block[0]["median_s_per_batch"]
        rows += block

    # ---- headline: ours at its fastest thread count against PyG's fastest configuration
    ours_rows = [r for r in rows if r["side"] == "minigraphrec"]
    pyg_rows = [r for r in rows if r["side"] != "minigraphrec"]
    headline = ""
    if pyg_rows:
        best_ours = min(ours_rows, key=lambda r: r["s_per_epoch"])
        best_pyg = min(pyg_rows, key=lambda r: r["s_per_epoch"])
        setup["headline_ratio"] = best_pyg["s_per_epoch"] / best_ours["s_per_epoch"]
        headline = (f"Headline: PyG's fastest configuration here, {best_pyg['side']} with "
                    f"{best_pyg['threads']} thread(s), {best_pyg['s_per_epoch']:.4g} s/epoch; "
                    f"minigraphrec's fastest, {best_ours['threads']} thread(s), "
                    f"{best_ours['s_per_epoch']:.4g} s/epoch; ratio "
                    f"{setup['headline_ratio']:.2f}"
                    + (" (both EXTRAPOLATED from a prefix)" if len(timed) < n_batches else "")
                    + ".")
        print(headline, flush=True)

    if args.max_batches is None and not args.no_fit:
        from minigraphrec.models.lightgcn import LightGCN
        threads = set_threads(max(args.threads) if args.threads else None)
        fit_model = LightGCN(dim=DIM, n_layers=N_LAYERS, lr=LR, batch_size=BATCH_SIZE, reg=REG,
                             random_state=args.seed)
        t0 = time.perf_counter()
        fit_model.fit(train, epochs=1)
        total = time.perf_counter() - t0
        rows.append({"side": "minigraphrec fit(train, epochs=1)", "threads": threads[0],
                     "batches_timed": n_batches, "batches_per_epoch": n_batches,
                     "timed_s": total, "s_per_epoch": fit_model.history_[0]["time"],
                     "extrapolated": False,
                     "note": "own triples; s_per_epoch = history_ time (sampling included); "
                             "timed_s adds graph build and final embeddings"})
        print(f"  minigraphrec fit(train, epochs=1), {threads[0]} threads: epoch "
              f"{fit_model.history_[0]['time']:.2f} s, whole fit {total:.2f} s", flush=True)

    load = os.getloadavg()
    notes = (
        f"{graph}: {R.shape[0]} users, {R.shape[1]} items, {R.nnz} training pairs. LightGCN "
        f"{DIM} dims, {N_LAYERS} layers, lr {LR}, batch {BATCH_SIZE}, reg {REG}, BPR; the same "
        f"{len(timed)} of {n_batches} batches of triples (sample_bpr, seed {args.seed}) on both "
        f"sides, float32, CPU, "
        + ("the sides taking turns batch by batch (each batch's order rotated)"
           if args.interleave == "batch" else "each side timing whole passes in turn")
        + ". s_per_epoch = the timed batches' total"
        + (" × batches_per_epoch / batches_timed (EXTRAPOLATED from a prefix)"
           if len(timed) < n_batches else "") +
        f"; with --repeat {args.repeat}, the (lower) median pass. ratio_vs_ours = PyG "
        f"s_per_epoch / minigraphrec s_per_epoch at the same thread count, same run. "
        f"numba threading layer {setup['numba_threading_layer']}, OMP_WAIT_POLICY "
        f"{setup['OMP_WAIT_POLICY'] or 'unset'}. Load average (1, 5, 15 min) at the start "
        f"{load_start[0]:.2f}, {load_start[1]:.2f}, {load_start[2]:.2f}; at the end "
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}. Reference: {status}."
    )
    if headline:
        notes += "\n\n" + headline
    if checks:
        notes += "\n\nCross-check, first batch from identical E0:\n\n" + "\n".join(
            f"- {c['check']} ({c['adjacency']}): loss ours {c['loss_ours']:.9g}, PyG "
            f"{c['loss_pyg']:.9g} (rel. diff {c['loss_rel_diff']:.1e}); max |dE0 diff| / "
            f"max |dE0| = {c['grad_max_abs_diff_rel']:.1e}; "
            f"{'agree' if c['agree'] else 'DISAGREE'} within rtol {c['rtol']:g}" for c in checks)
    notes += "\n\nSetup: " + ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in setup.items()
        if k not in ("reference", "versions", "sources"))
    for row in rows:
        row.setdefault("ratio_vs_ours", "")
    columns = ["side", "threads", "batches_timed", "batches_per_epoch", "extrapolated",
               "s_per_epoch", "median_s_per_batch", "ratio_vs_ours"]
    stem = "lightgcn_epoch" + ("_smoke" if args.smoke else "") + (
        f"_first{args.max_batches}" if args.max_batches is not None else "")
    json_path, md_path = write_results(                   # with the structured extras
        stem, rows, columns, out_dir=args.out, notes=notes,
        after_rows={"cross_check": checks, "setup": setup,
                    "load_average_start": list(load_start), "load_average_end": list(load)})
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    plot_epochs(rows, stem, args.out, graph, record=json.loads(Path(json_path).read_text()))
    if not all(c["agree"] for c in checks):
        sys.exit("the cross-check failed: the two implementations disagree (see above)")


def plot_epochs(rows, name, out_dir, graph, record=None):
    """``<name>.png``: seconds per epoch of every side (minigraphrec, each PyG adjacency,
    ``fit``) at each thread count as bars, every repeat as a dot, each PyG bar labelled with
    its ratio to ours at the same thread count; log scale when the times span 30x.
    ``record``, the results JSON drawn from, names the machine in a footer."""
    from matplotlib.ticker import FuncFormatter
    from minigraphrec import plot

    def side_label(side):
        if side == "minigraphrec":
            return "minigraphrec\n(loss_and_grad + numba Adam)"
        if side.startswith("pyg["):
            return f"PyTorch Geometric\n({side[4:-1]})"
        return side.replace(" fit(", "\nfit(") + ",\nown triples, sampling incl."

    sides = list(dict.fromkeys(r["side"] for r in rows))
    threads = sorted({r["threads"] for r in rows}, key=lambda t: (t is None, t))
    colors = ["#9ecae1", "#4292c6", "#08519c"][max(0, 3 - len(threads)):]
    height = 0.8 / len(threads)
    seconds = [r["s_per_epoch"] for r in rows]
    log = max(seconds) / min(seconds) > 30
    fig, ax = plot.subplots(figsize=(8.4, 1.6 + 0.3 * len(rows) + 0.25 * len(sides)))
    for i, side in enumerate(sides):
        for j, t in enumerate(threads):
            r = next((r for r in rows if (r["side"], r["threads"]) == (side, t)), None)
            if r is None:
                continue
            y = i + (j - (len(threads) - 1) / 2) * height
            ax.barh(y, r["s_per_epoch"], height=height * 0.9, color=colors[min(j, 2)],
                    label=f"{t} thread{'s' * (t != 1)}")
            runs = r.get("epochs_s_all_repeats") or []
            if len(runs) > 1:
                ax.plot(runs, [y] * len(runs), "o", color="k", markersize=3,
                        label="each repeat (bar: the lower median)")
            sec = r["s_per_epoch"]
            text = f"{sec:,.0f} s" if sec >= 100 else f"{sec:.3g} s"
            if r.get("ratio_vs_ours") not in (None, ""):
                text += f"  ({r['ratio_vs_ours']:.3g}x ours)"
            ax.annotate(text, (max([sec] + runs), y), xytext=(5, 0), textcoords="offset points",
                        va="center", fontsize=7)
    ax.set_yticks(range(len(sides)), [side_label(s) for s in sides], fontsize=8)
    ax.set_ylim(len(sides) - 0.5, -0.5)                        # the first side on top
    if log:
        ax.set_xscale("log")
        ax.set_xlim(min(seconds) / 1.5, max(seconds) * 4)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if round(v / 10 ** np.floor(np.log10(v)), 6) in (2, 5)
            else ""))
        ax.tick_params(axis="x", which="minor", labelsize=8)
    else:
        ax.set_xlim(0, max(seconds) * 1.35)
    extrapolated = [r for r in rows if r.get("extrapolated")]
    ax.set_xlabel("seconds per epoch" + (" (log scale)" if log else "")
                  + ("; EXTRAPOLATED from the first "
                     f"{extrapolated[0]['batches_timed']} of "
                     f"{extrapolated[0]['batches_per_epoch']} batches" if extrapolated else ""))
    handles, texts = ax.get_legend_handles_labels()
    seen = dict(zip(texts, handles))
    ax.legend(seen.values(), seen.keys(), loc="lower right", fontsize=7)
    n_batches = rows[0]["batches_per_epoch"]
    ax.set_title(f"one LightGCN training epoch, {graph}: {n_batches} batches of {BATCH_SIZE} "
                 f"BPR triples,\n{DIM} dims, {N_LAYERS} layers, Adam, float32, CPU; "
                 f"the same triples on both sides", fontsize=9)
    save_figure(fig, name, out_dir, record=record)


if __name__ == "__main__":
    main()
