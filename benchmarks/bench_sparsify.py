r"""Benchmark: graph sparsification before training, the accuracy / time trade-off on Gowalla.

The article's FAQ names graph pruning as a way to make graph recommenders
cheaper. Two sparsifications of :mod:`minigraphrec.graph` are applied to
the training graph (the test pairs are never touched):

* ``drop_edges(train, fraction=f)``: the fraction ``f`` of edges with the
  smallest LightGCN propagation weight ``1/sqrt(d_u d_i)`` (hub–hub edges)
  goes;
* ``cap_degree(train, max_user=..., max_item=...)``: each user / item keeps
  its heaviest edges (same weight) up to the cap; an edge stays when both
  ends keep it. (Gowalla in LightGCN format has no timestamps, so
  ``by="recent"`` does not apply here.)

Measured per sparsified graph, in one process:

* accuracy: Recall@20 / NDCG@20 on the full test set of GF-CF's linear
  filter (``GFCF(alpha=0)``: ``s_u = r_u R̃ᵀR̃``, two hops of LightGCN's
  normalised propagation, training-free, so the accuracy reflects the
  graph alone and needs no training budget). Every row leaves the full
  training set's items out of the rankings (``evaluate(..., train=train)``),
  so a dropped training pair is neither recommended nor counted as a miss.
  Users whose every training edge was dropped still count, with what the
  model gives them;
* time: LightGCN's training step (64 dims, 3 layers, BPR, Adam lr 1e-3,
  batches of 2048, the paper's setting): the median of ``--batches`` steps
  (``loss_and_grad`` + Adam), the graphs' steps interleaved (round ``r``
  runs step ``r`` on every graph), and the epoch it implies (one epoch's
  BPR sampling + median step × batches per epoch, which shrinks with the
  edges); and the GF-CF fit + evaluation wall time (not interleaved:
  indicative only; the load average is recorded at each row).

Results: ``results/sparsify_gowalla.{json,md}`` and ``sparsify_gowalla.png``
(``sparsify_smoke`` with ``--smoke``; ``sparsify_gowalla_timing`` with ``--no-accuracy``).
``--plot-only`` redraws ``sparsify_gowalla.png`` from the JSON: its epoch times from
``sparsify_gowalla_timing.json`` (interleaved) where that file exists.

    python benchmarks/bench_sparsify.py --data DIR --threads 2      # as sparsify_gowalla.md
    python benchmarks/bench_sparsify.py --smoke --out /tmp/r        # what the tests run
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from _common import (LIGHTGCN_FILES, benchmark_parser, read_record, require_data, save_figure,
                     threads_short, threads_text, use_threads, write_results)

K = 20


def configurations(smoke):
    """``[(label, function of train -> sparsified train)]``."""
    from minigraphrec import graph
    caps = (5, 5, 10) if smoke else (50, 50, 100)
    return [
        ("none", lambda t: t),
        ("drop 10%", lambda t: graph.drop_edges(t, fraction=0.10)),
        ("drop 25%", lambda t: graph.drop_edges(t, fraction=0.25)),
        ("drop 50%", lambda t: graph.drop_edges(t, fraction=0.50)),
        (f"cap users {caps[0]}", lambda t: graph.cap_degree(t, max_user=caps[0])),
        (f"cap items {caps[1]}", lambda t: graph.cap_degree(t, max_item=caps[1])),
        (f"cap both {caps[2]}", lambda t: graph.cap_degree(t, max_user=caps[2],
                                                           max_item=caps[2])),
    ]


def lightgcn_step_times(graphs, dim, batch_size, n_batches):
    r"""Median time of one LightGCN training step on each graph, timed round-robin.

    A step is what ``fit`` does per batch: ``loss_and_grad`` on a batch of
    BPR triples, then Adam's update. Round ``r`` runs step ``r`` on every
    graph in turn (after one untimed step each), so a change of machine
    load hits all graphs alike; the median of ``n_batches`` rounds is kept.
    An epoch is estimated as one epoch's BPR sampling time plus
    ``median step × batches per epoch`` (the number of batches shrinks with
    the edges).

    Returns a list of dicts, one per graph.
    """
    import statistics

    import numpy as np

    import minigraphrec as mgr
    from minigraphrec.train import bpr_batches

    setups = []
    for train in graphs:
        model = mgr.LightGCN(dim=dim, n_layers=3, lr=1e-3, batch_size=batch_size, reg=1e-4,
                             random_state=0).fit(train, epochs=0)    # graph and E0 only
        t0 = time.perf_counter()
        batches = bpr_batches(model.R_, batch_size, np.random.default_rng(0))
        sample_s = time.perf_counter() - t0
        setups.append((model, mgr.Adam(lr=1e-3), batches, sample_s, []))
    n_rounds = 1 + min(n_batches, min(len(s[2]) for s in setups) - 1)
    for r in range(n_rounds):
        for model, opt, batches, _, times in setups:
            t0 = time.perf_counter()
            _, grads = model.loss_and_grad(batches[r])
            opt.step(model.params, grads)
            times.append(time.perf_counter() - t0)
    out = []
    for _, _, batches, sample_s, times in setups:
        step_s = statistics.median(times[1:] if len(times) > 1 else times)
        out.append({"lightgcn_step_s": step_s, "batches_per_epoch": len(batches),
                    "lightgcn_epoch_s": sample_s + step_s * len(batches)})
    return out


def _load_range(rows):
    """The rows' 1-minute loads, ``"1.0-1.2"`` (one decimal; one value when both ends agree:
    whole numbers made 0.96-1.18 read ``"1-1"``)."""
    loads = [r["load_1min"] for r in rows if r.get("load_1min") is not None]
    if not loads:
        return "not recorded"
    low, high = f"{min(loads):.1f}", f"{max(loads):.1f}"
    return low if low == high else f"{low}-{high}"


def plot_rows(rows, name, out, data_name, model, timing_note, timing_rows=None, record=None):
    """``<out>/<name>.png``: Recall@20 of GF-CF's linear filter (left) and LightGCN's epoch
    time relative to the unsparsified graph's (right), against the share of edges kept.
    ``timing_rows``: the epoch times to draw instead of those of ``rows`` (an interleaved
    ``--no-accuracy`` run, matched by graph label); ``timing_note`` says where they come from;
    ``record``, the results JSON the epoch times come from, names their machine in a footer."""
    from minigraphrec import plot
    times = rows if timing_rows is None else timing_rows
    kept = {r["graph"]: 100 * r["edges_kept"] for r in list(rows) + list(times)}
    colour = {g: f"C{i % 10}" for i, g in enumerate(kept)}
    # each graph its own marker too: the points are not told apart by colour alone
    marker = {g: "osD^vP*X<>"[i % 10] for i, g in enumerate(kept)}
    rel = {r["graph"]: r for r in times if "epoch_time_rel" in r}
    fig, (ax1, ax2) = plot.subplots(1, 2, figsize=(12, 5.4))
    for g in kept:                                   # one colour per graph, one legend entry
        acc = next((r for r in rows if r["graph"] == g and "recall@20" in r), None)
        label = g
        if acc is not None:
            ax1.scatter(kept[g], acc["recall@20"], color=colour[g], marker=marker[g],
                        s=45)
            label += f": Recall@20 {acc['recall@20']:.4f}"
        if g in rel:
            ax2.scatter(kept[g], rel[g]["epoch_time_rel"], color=colour[g], marker=marker[g],
                        s=45)
            label += (f", epoch {rel[g]['epoch_time_rel']:.2f}x "
                      f"({rel[g]['lightgcn_epoch_s']:.0f} s)")
        ax1.scatter([], [], color=colour[g], marker=marker[g], label=label)
    if not any("recall@20" in r for r in rows):
        ax1.text(0.5, 0.5, "accuracy not measured (--no-accuracy)", ha="center",
                 transform=ax1.transAxes)
    ax1.set_xlabel("training edges kept (%)")
    ax1.set_ylabel("Recall@20, GF-CF linear filter")
    ax1.set_title(f"accuracy ({data_name})", fontsize=10)
    ax2.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax2.set_xlabel("training edges kept (%)")
    ax2.set_ylabel("LightGCN epoch time / unsparsified graph's")
    ax2.set_title(f"LightGCN epoch, estimated ({model})\n{timing_note}", fontsize=9)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8)
    return save_figure(fig, name, out, record=record)


def replot(out):
    """Redraw ``sparsify_gowalla.png`` from the committed JSON: the accuracy of
    ``sparsify_gowalla.json``, the epoch times of ``sparsify_gowalla_timing.json`` (steps
    interleaved across the graphs) where that file exists."""
    import json
    acc = read_record(out, "sparsify_gowalla")
    timing_path = Path(out) / "sparsify_gowalla_timing.json"
    rows, timing, note, record = acc["rows"], None, "", acc
    if timing_path.exists():
        t = json.loads(timing_path.read_text())
        timing, record = t["rows"], t
        loads = [{"load_1min": t["machine"]["load_average_1min"]}] + timing
        note = (f"steps interleaved across graphs (sparsify_gowalla_timing.json, "
                f"{t['date'][:10]}),\n1-min load {_load_range(loads)} on 2 cores, 1 thread")
    elif "(interleaved)" in acc["notes"]:      # the file's own steps interleaved (2026-12-07 on)
        measured = acc.get("machine", {}).get("measured_threads")
        threads = re.search(r"(\d+) thread\(s\) \(mgr\.threads\)", acc["notes"])
        note = (f"{threads_short(measured)}, " if measured else         # as main titles it
                f"{threads.group(1)} thread(s), " if threads else "") + \
            f"load {_load_range(rows)}"
    else:
        note = f"not interleaved, 1-min load {_load_range(rows)} on 2 cores"
    data_name = acc["notes"].split(",", 1)[0].removeprefix("Data: ")
    plot_rows(rows, "sparsify_gowalla", out, data_name, "64 dims, 3 layers, batch 2048", note,
              timing, record=record)


def main():
    parser = benchmark_parser(
        "graph sparsification on Gowalla: accuracy against time", repeat=False,
        smoke="a synthetic 300 x 400 split instead of --data, lower degree caps, LightGCN dim 16")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="a LightGCN-format folder with train.txt and test.txt (required but with --smoke)")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba and BLAS threads (_common.use_threads; default 1, whatever "
                             "the environment says)")
    parser.add_argument("--no-accuracy", action="store_true",
                        help="skip GF-CF's accuracy; results go to <name>_timing")
    parser.add_argument("--no-lightgcn", action="store_true",
                        help="skip the LightGCN step timing")
    parser.add_argument("--batches", type=int, default=30,
                        help="LightGCN steps timed per graph (default 30)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw <out>/sparsify_gowalla.png from sparsify_gowalla.json, "
                             "its epoch times from sparsify_gowalla_timing.json (interleaved) "
                             "where that file exists; run nothing")
    args = parser.parse_args()
    if args.plot_only:
        return replot(args.out)
    require_data(args, "a LightGCN-format folder", files=LIGHTGCN_FILES)

    import minigraphrec as mgr
    from minigraphrec.datasets import load_lightgcn, synthetic
    from minigraphrec.split import random_split

    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.smoke:
        data = synthetic(n_users=300, n_items=400, mean_interactions=15, random_state=0)
        train, test = random_split(data, test_size=0.2, random_state=0)
        data_name, out_name = "synthetic-300x400", "sparsify_smoke"
    else:
        train, test = load_lightgcn(args.data / "train.txt", args.data / "test.txt")
        data_name, out_name = "DATA/" + args.data.name, "sparsify_gowalla"
    if args.no_accuracy:
        out_name += "_timing"
    n_pairs = train.to_csr().nnz
    rows = []
    dim, batch_size = (16, 256) if args.smoke else (64, 2048)
    with use_threads(args.threads) as measured_threads:   # recorded: the block ends first
        # warm-up on a tiny graph, so that no row pays numba's first-call compilation
        tiny_train, tiny_test = random_split(synthetic(n_users=60, n_items=80, random_state=1),
                                             test_size=0.2, random_state=0)
        mgr.evaluate(mgr.GFCF(alpha=0.0).fit(tiny_train), tiny_test, k=K,
                     metrics=("recall", "ndcg"))
        if not args.no_lightgcn:
            lightgcn_step_times([tiny_train], 8, 64, 2)
        graphs = []
        for label, sparsify in configurations(args.smoke):
            t0 = time.perf_counter()
            sparse = sparsify(train)
            sparsify_s = time.perf_counter() - t0
            R = sparse.to_csr()
            row = {"graph": label, "edges": int(R.nnz), "edges_kept": R.nnz / n_pairs,
                   "users_without_edges": int((R.getnnz(axis=1) == 0).sum()),
                   "sparsify_s": sparsify_s}
            if not args.no_accuracy:
                t0 = time.perf_counter()
                model = mgr.GFCF(alpha=0.0).fit(sparse)
                # train=train: every row leaves out the same items, all of the user's
                # training items, not only the pairs its sparser graph kept
                res = mgr.evaluate(model, test, k=K, train=train, metrics=("recall", "ndcg"))
                row.update({"recall@20": res["recall@20"], "ndcg@20": res["ndcg@20"],
                            "gfcf_fit_eval_s": time.perf_counter() - t0})
            graphs.append(sparse)
            row["load_1min"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            print(row, flush=True)
        if not args.no_lightgcn:
            for row, timing in zip(rows, lightgcn_step_times(graphs, dim, batch_size,
                                                             args.batches)):
                row.update(timing)
                print(row["graph"], timing, flush=True)
    base = rows[0]
    for row in rows:
        if "recall@20" in row:
            row["recall_rel_%"] = 100 * (row["recall@20"] / base["recall@20"] - 1)
        if "lightgcn_epoch_s" in row:
            row["epoch_time_rel"] = row["lightgcn_epoch_s"] / base["lightgcn_epoch_s"]

    plot_rows(rows, out_name, args.out, data_name, f"{dim} dims, 3 layers, batch {batch_size}",
              f"{threads_short(measured_threads)}, load {_load_range(rows)}")

    notes = (f"Data: {data_name}, {train.n_users} users, {train.n_items} items, {n_pairs} "
             f"training pairs; the test set is the full one for every row, and every row leaves "
             "the full training set's items out of its rankings (evaluate(train=train)). "
             "Weights: LightGCN's "
             "1/sqrt(d_u d_i) on the unsparsified graph. Accuracy: GFCF(alpha=0) (linear filter, "
             f"training-free). lightgcn_step_s: median of {args.batches} training steps "
             f"(loss_and_grad + Adam), every graph's step r timed in round r (interleaved), of LightGCN(dim {dim}, 3 layers, lr 1e-3, batch "
             f"{batch_size}, reg 1e-4); lightgcn_epoch_s = one epoch's BPR sampling + step "
             "× batches_per_epoch. gfcf_fit_eval_s is not interleaved: compare with the load "
             "average of the row (warm-up on a tiny graph first). "
             f"{args.threads} thread(s) (mgr.threads): {threads_text(measured_threads)}.")
    cols = ["graph", "edges", "edges_kept", "users_without_edges", "recall@20", "ndcg@20",
            "recall_rel_%", "gfcf_fit_eval_s", "lightgcn_step_s", "batches_per_epoch",
            "lightgcn_epoch_s", "epoch_time_rel",
            "sparsify_s", "load_1min"]
    for p in write_results(out_name, rows, cols, out_dir=args.out, notes=notes,
                           threads=measured_threads):
        print("wrote", p)


if __name__ == "__main__":
    main()
