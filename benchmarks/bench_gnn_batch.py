r"""Benchmark: one BPR batch (loss and gradient) of GCN, NGCF and GAT against LightGCN, and one epoch of each.

The question: how much does a training step of the graph models beyond
LightGCN cost, relative to LightGCN's, on the same data and the same
triples? Target (issue 10, section 3): each at most 3× LightGCN's batch.

Models, float32, each with its constructor defaults except the batch
size (2048 for all, the LightGCN paper's): ``LightGCN(dim=64,
n_layers=3)``, ``GCN()`` (64 dims, 2 layers, symmetric Â with
self-loops, ReLU), ``NGCF()`` (64 dims, 3 layers, message dropout 0.1)
and ``GAT()`` (64 dims, 2 layers, one head, mean over depths). All four
propagate only the batch's K-hop ball (batch-local), which gives the same
loss and gradient as the full graph (tests/test_models.py, test_gat.py).

Batch time: ``model.loss_and_grad(PairBatch(...))`` on batches of 2048
triples drawn once by :func:`minigraphrec.ops.sample_bpr` (seed
``--seed``), the four models in turn on the same batch, round after round
(interleaved: a change of machine load hits all alike; their order rotated
round by round, ``_common.round_order``, so LightGCN is not always first); per model the
median over ``--repeat`` rounds, and the median over rounds of its time
divided by LightGCN's in the same round (the headline ratio, the one the
target is checked on; the ratio of the medians is reported too). The first call of each model (numba compilation or
cache load) is timed apart.

Epoch time (``--epoch``, written apart to ``gnn_epoch.json``/``.md``; ``--name X`` writes
``X_batch`` and ``X_epoch`` instead):
``loss_and_grad`` plus one ``Adam(backend="numba")`` step per batch, the
models taking turns by chunks of 10 batches (their order rotated from one round of chunks
to the next), over the batches of one epoch
(as many triples as training pairs, in batches of 2048, sampling not timed),
from fresh parameters, after one untimed Adam step per model on a copy of its parameters
(its numba kernels loaded; ``gnn_epoch_threaded_blas.md`` and ``gnn_intel_epoch.md``,
of 2026-12-04 and 2026-12-05, were taken before it: LightGCN's epoch there includes that
load). The result files are rewritten after every round of chunks, so an interrupted run leaves the batches it timed. With
``--epoch-batches N`` (or an interrupted run) only the first N batches are
timed and the epoch is *extrapolated* as their total × n_batches / N
(flagged in the results: ``batches_timed``, ``extrapolated``).

    python benchmarks/bench_gnn_batch.py --data DIR --repeat 15
    python benchmarks/bench_gnn_batch.py --data DIR --repeat 0 --epoch
    python benchmarks/bench_gnn_batch.py --smoke --epoch --out /tmp/r   # what the tests run
    python benchmarks/bench_gnn_batch.py --plot-only     # redraw gnn_batch.png from its JSON
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from _common import (benchmark_parser, first_call_time, load_lightgcn_train, read_record,
                     require_lightgcn_train, round_order, save_figure, write_results)

BATCH_SIZE = 2048
TARGET = 3.0
MODELS = ("lightgcn", "gcn", "ngcf", "gat")


def make_model(name, train, seed):
    """The model ``name`` with its defaults but batch 2048 (NGCF's own default is 1024),
    graph built and parameters drawn."""
    from minigraphrec.models import GCN, NGCF, LightGCN
    from minigraphrec.models.gat import GAT
    cls = {"lightgcn": LightGCN, "gcn": GCN, "ngcf": NGCF, "gat": GAT}[name]
    kw = dict(dim=64, n_layers=3) if name == "lightgcn" else {}
    model = cls(batch_size=BATCH_SIZE, random_state=seed, **kw).fit(train, epochs=0)
    model.step_ = 1                                   # a training step: dropout on
    return model


def epoch_batches(R, seed):
    """One epoch of BPR triples in draw order, as PairBatches of 2048."""
    from minigraphrec.batch import PairBatch
    from minigraphrec.ops import sample_bpr
    users, pos, neg = sample_bpr(R, random_state=seed)
    return [PairBatch(users[s:s + BATCH_SIZE], pos[s:s + BATCH_SIZE], neg[s:s + BATCH_SIZE])
            for s in range(0, users.shape[0], BATCH_SIZE)]


def warm_up_adam(models, batch):
    """One numba Adam step per model on a copy of its parameters, with its gradient on
    ``batch``, untimed: Adam's kernels are compiled (or loaded from numba's cache) here, not
    in the first timed batch of the epoch, which would charge them to whichever model runs
    first (0.75 s loaded, 1.4 s compiled, in a fresh process on AMD EPYC, 1 thread: about 3 %
    of a LightGCN epoch on Gowalla). The models' parameters are left as they were."""
    from minigraphrec.optim import Adam
    for model in models.values():
        _, grads = model.loss_and_grad(batch)
        Adam(lr=model.lr, backend="numba").step({k: model.params[k].copy() for k in grads},
                                                grads)


def time_epoch(model, opt, batches):
    """Per-batch wall times of ``loss_and_grad`` + one numba Adam step (as ``fit`` does)."""
    times = []
    for batch in batches:
        t0 = time.perf_counter()
        _, grads = model.loss_and_grad(batch)
        opt.step(model.params, grads)
        model.step_ += 1
        times.append(time.perf_counter() - t0)
    return times


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0],
        smoke="a synthetic 300 x 400 graph instead of --data, 2 rounds, and --epoch too",
        repeat_help="interleaved rounds of the batch timing; the median is reported (0 with "
                    "--epoch: the epoch alone)")
    parser.set_defaults(repeat=15)
    parser.add_argument("--data", type=Path,
                        help="folder with a LightGCN-format train.txt "
                             "(e.g. the LightGCN repository's Gowalla folder)")
    parser.add_argument("--epoch", action="store_true",
                        help="also time one epoch of each model (results: gnn_epoch.json/.md)")
    parser.add_argument("--epoch-batches", type=int, default=None,
                        help="with --epoch: time only the first N batches and extrapolate "
                             "(flagged)")
    parser.add_argument("--seed", type=int, default=2020, help="seed of the parameters and triples")
    parser.add_argument("--name", default="gnn",
                        help="results' stem: <name>_batch, <name>_epoch (default gnn)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw <out>/<name>_batch.png from <name>_batch.json (the "
                             "rounds' times, all_ms); run nothing")
    args = parser.parse_args()
    if args.plot_only:
        stem = f"{args.name}_batch"
        record = read_record(args.out, stem, "give --out (and --name) of an earlier run")
        times = {r["model"]: [ms / 1e3 for ms in r["all_ms"]] for r in record["rows"]}
        return plot_round_ratios(times, stem, args.out, record["notes"].split(":")[0],
                                 record=record)
    require_lightgcn_train(args)
    if args.smoke:
        args.repeat, args.epoch = 2, True          # the epoch path too (the graph is tiny)
    args.epoch = args.epoch or args.epoch_batches is not None
    if args.epoch_batches is not None and args.epoch_batches < 1:
        parser.error(f"--epoch-batches must be >= 1, got {args.epoch_batches}")
    if args.repeat < 0 or (args.repeat == 0 and not args.epoch):
        parser.error("--repeat must be >= 1 (or 0 with --epoch: the epoch alone)")
    load_start = os.getloadavg()
    import numba

    train, graph = load_lightgcn_train(args)
    R = train.to_csr()
    batches = epoch_batches(R, args.seed)
    n_batches = len(batches)
    print(f"{graph}: {R.shape[0]} users, {R.shape[1]} items, {R.nnz} pairs; {n_batches} batches "
          f"of {BATCH_SIZE}; numba threads {numba.get_num_threads()}", flush=True)

    # ---- build, first call apart
    models, setup = {}, {}
    for name in MODELS:
        t0 = time.perf_counter()
        models[name] = make_model(name, train, args.seed)
        setup[f"{name}_build_s"] = time.perf_counter() - t0
        setup[f"{name}_first_call_s"] = first_call_time(
            lambda m=models[name]: m.loss_and_grad(batches[0]))
    describe = (f"{graph}: {R.shape[0]} users, {R.shape[1]} items, {R.nnz} training pairs; "
                f"batches of {BATCH_SIZE} BPR triples (sample_bpr, seed {args.seed}); float32; "
                f"numba threads {numba.get_num_threads()}. ")
    if args.repeat > 0:
        batch_rounds(args, models, batches, describe, setup, load_start)
    if args.epoch:
        warm_up_adam(models, batches[0])             # Adam's first call out of the epoch
        del models
        epoch_run(args, train, batches, describe, load_start)


def batch_rounds(args, models, batches, describe, setup, load_start):
    """The four models on the same batch, round after round; writes gnn_batch.json/.md."""
    n_batches = len(batches)
    times = {name: [] for name in MODELS}
    for r in range(args.repeat):
        batch = batches[1 + r % (n_batches - 1)] if n_batches > 1 else batches[0]
        for name in round_order(MODELS, r):              # LightGCN not always first
            t0 = time.perf_counter()
            models[name].loss_and_grad(batch)
            times[name].append(time.perf_counter() - t0)
        print(f"  round {r + 1}: " + ", ".join(f"{n} {times[n][-1] * 1e3:.0f} ms" for n in MODELS),
              flush=True)
    base = statistics.median(times["lightgcn"])
    rows = []
    for name in MODELS:
        med = statistics.median(times[name])
        per_round = [t / b for t, b in zip(times[name], times["lightgcn"])]
        round_ratio = statistics.median(per_round)
        rows.append({"measure": "batch (loss_and_grad)", "model": name,
                     "median_ms": 1e3 * med, "ratio_vs_lightgcn": med / base,
                     "median_round_ratio": round_ratio,
                     "target_met": "" if name == "lightgcn" else bool(round_ratio <= TARGET),
                     "rounds": args.repeat, "all_ms": [1e3 * t for t in times[name]]})
    load = os.getloadavg()
    verdict = "; ".join(f"{r['model']} {r['median_round_ratio']:.2f}x "
                        f"({'meets' if r['target_met'] else 'misses'} <= {TARGET:g}x)"
                        for r in rows if r["model"] != "lightgcn")
    notes = (
        describe + f"Median of {args.repeat} interleaved rounds (each round: the four models "
        f"on one batch, their order rotated round by round); median_round_ratio = the "
        f"median over rounds of the model's time / "
        f"LightGCN's in the same round (the headline: robust to load changing between "
        f"rounds), ratio_vs_lightgcn = ratio of the medians. " + _load_note(load_start, load)
        + f" Target <= {TARGET:g}x LightGCN per batch (median round ratio): {verdict}."
        f"\n\nSetup: " + ", ".join(f"{k} {v:.3g}" for k, v in setup.items()))
    columns = ["measure", "model", "median_ms", "ratio_vs_lightgcn", "median_round_ratio",
               "target_met"]
    stem = f"{args.name}_batch" + ("_smoke" if args.smoke else "")
    json_path, md_path = write_results(stem, rows, columns, out_dir=args.out, notes=notes)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    plot_round_ratios(times, stem, args.out, describe.split(":")[0],
                      record=json.loads(json_path.read_text()))


def plot_round_ratios(times, stem, out_dir, graph, record=None):
    """``<stem>.png``: each model's time / LightGCN's in the same round, every round, with the
    3x target: the spread the headline median is taken over. ``record``, the results JSON
    drawn from, names the machine in a footer."""
    from minigraphrec import plot
    others = [name for name in MODELS if name != "lightgcn"]
    ratios = [[t / b for t, b in zip(times[name], times["lightgcn"])] for name in others]
    fig, ax = plot.subplots(figsize=(6.4, 4.2))
    ax.boxplot(ratios, whis=(0, 100), widths=0.5, medianprops={"color": "tab:blue"})
    for i, r in enumerate(ratios, start=1):                  # every round as a point
        jitter = 0.08 * (np.arange(len(r)) / max(len(r) - 1, 1) - 0.5)
        ax.plot(i + jitter, r, ".", color="0.35", markersize=4)
    ax.axhline(TARGET, color="tab:red", linestyle="--", label=f"target <= {TARGET:g}x")
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.set_xticks(range(1, len(others) + 1),
                  [f"{n.upper()}\nmedian {statistics.median(r):.2f}x" for n, r in zip(others, ratios)])
    ax.set_ylabel("time / LightGCN's, same round")
    ax.set_ylim(bottom=0)
    ax.set_title(f"one BPR batch of {BATCH_SIZE} (loss and gradient), {graph}\n"
                 f"{len(ratios[0])} interleaved rounds; box: quartiles, whiskers: min-max",
                 fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    save_figure(fig, stem, out_dir, record=record)


def _load_note(start, end):
    return (f"Load average (1, 5, 15 min) at the start {start[0]:.2f}, {start[1]:.2f}, "
            f"{start[2]:.2f}; at the end {end[0]:.2f}, {end[1]:.2f}, {end[2]:.2f} (2-core "
            f"machine shared with other jobs: absolute times are inflated, ratios are the "
            f"measure).")


def epoch_run(args, train, batches, describe, load_start):
    """One epoch of each model (or its first --epoch-batches), interleaved by chunks of 10
    batches; gnn_epoch.json/.md rewritten after every round of chunks."""
    from minigraphrec.optim import Adam
    n_batches = len(batches)
    timed = batches if args.epoch_batches is None else batches[:args.epoch_batches]
    fresh = {name: make_model(name, train, args.seed) for name in MODELS}   # new parameters
    opts = {name: Adam(lr=m.lr, backend="numba") for name, m in fresh.items()}
    epoch_times = {name: [] for name in MODELS}
    stem = f"{args.name}_epoch" + ("_smoke" if args.smoke else "")
    for s in range(0, len(timed), 10):
        for name in round_order(MODELS, s // 10):      # the order rotated chunk by chunk
            epoch_times[name] += time_epoch(fresh[name], opts[name], timed[s:s + 10])
        rows = []
        for name in MODELS:
            ts = epoch_times[name]
            total = sum(ts)
            rows.append({"measure": "epoch (loss_and_grad + Adam)", "model": name,
                         "batches_timed": len(ts), "batches_per_epoch": n_batches,
                         "extrapolated": len(ts) < n_batches,
                         "s_per_epoch": total * n_batches / len(ts),
                         "median_batch_ms": 1e3 * statistics.median(ts)})
        for r in rows:
            r["ratio_vs_lightgcn"] = r["s_per_epoch"] / rows[0]["s_per_epoch"]
        done = len(epoch_times["lightgcn"])
        notes = (describe + "loss_and_grad + Adam step per batch from fresh parameters "
                 "(Adam's kernels loaded before, by an untimed step on copies), the "
                 "models taking turns by chunks of 10 batches (their order rotated from one "
                 "round of chunks to the next), over "
                 + (f"the first {done} of {n_batches} batches, EXTRAPOLATED to the epoch"
                    if done < n_batches else f"all {n_batches} batches (one full epoch)")
                 + ". " + _load_note(load_start, os.getloadavg()))
        columns = ["measure", "model", "s_per_epoch", "ratio_vs_lightgcn", "median_batch_ms",
                   "batches_timed", "batches_per_epoch", "extrapolated"]
        json_path, md_path = write_results(stem, rows, columns, out_dir=args.out, notes=notes)
        print(f"  epoch: {done}/{n_batches} batches timed: " + ", ".join(
            f"{r['model']} {r['s_per_epoch']:.1f} s/epoch" for r in rows), flush=True)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
