r"""Benchmark: do node features and time-decayed edges help GCN and GAT on MovieLens-100K?

Data: the GroupLens MovieLens-100K folder (``--data DIR``, required but with
``--smoke``; MovieLens forbids redistribution, so none is shipped) through
:func:`minigraphrec.datasets.load_movielens_100k`: every rating is an implicit
positive (the rating values are dropped, so edge weights are pure recency),
timestamps kept; user features (age/100, gender, occupation: 24 columns) and
item features (19 genres, release year, a missing-year flag: 21 columns).
Split per user at random 80/20 (:func:`minigraphrec.split.random_split`,
``test_size=0.2``, ``random_state=2020``); a validation set is carved from the
training part the same way (``test_size=0.1``, ``random_state=0``).

Models, all 64 dimensions, BPR, Adam (``--lr``, default 0.01), batches of
2048 triples, reg 1e-4, each with ``edge_weights`` None (binary graph) or
``"time_decay"`` (``half_life = --half-life-days`` days before the latest
training event):

* ``LightGCN(n_layers=3)``: id embeddings only, the reference;
* ``GCN(n_layers=2)`` (ReLU, symmetric normalisation with self-loops) with
  ``input`` = ``"embedding"`` (ids), ``"both"`` (ids + projected features) or
  ``"features"`` (features only: no per-node parameters, cold-start capable);
* ``GAT(n_layers=2, n_heads=2)`` (concatenated heads, identity σ, mean
  readout), the same three inputs.

Training: at most ``--max-epochs`` epochs (default 40), validation Recall@20
after each, early stopping after ``--patience`` (default 5) epochs without
improvement, the best validation epoch's parameters restored (the models'
own ``fit(train, validation)``). Then Recall@20 / NDCG@20 on the test pairs
(:func:`minigraphrec.metrics.evaluate`, full ranking, the items of the whole
training part, validation included, excluded). ``fit_s`` is the wall time of
``fit`` (training and per-epoch validation), ``train_s`` the training alone.

    python benchmarks/bench_features_ml100k.py --data DIR      # all rows, ~15 min on 1 thread
    python benchmarks/bench_features_ml100k.py --data DIR --models gcn --inputs both \
        --edges none
    python benchmarks/bench_features_ml100k.py --smoke --out /tmp/r   # what the tests run
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from _common import (ML100K_FILES, benchmark_parser, require_data, save_figure, threads_text,
                     use_threads, write_results)

DIM, BATCH_SIZE, REG = 64, 2048, 1e-4
DAY = 86400.0


def load_data(args):
    """``(train, test, name)``: ML-100K as implicit feedback with features, or a tiny synthetic set."""
    from minigraphrec.data import Interactions
    from minigraphrec.datasets import load_movielens_100k, synthetic
    from minigraphrec.split import random_split
    if args.smoke:
        data = synthetic(n_users=60, n_items=80, n_communities=3, mean_interactions=8,
                         random_state=0)
        name = "synthetic-60x80"
    else:
        data, name = load_movielens_100k(args.data), "ml-100k"
    data = Interactions(data.users, data.items, data.n_users, data.n_items,    # ratings dropped
                        timestamps=data.timestamps, user_ids=data.user_ids,
                        item_ids=data.item_ids, user_features=data.user_features,
                        item_features=data.item_features,
                        user_feature_names=data.user_feature_names,
                        item_feature_names=data.item_feature_names)
    train, test = random_split(data, test_size=0.2, random_state=args.split_seed)
    return train, test, name


def configurations(args, seed):
    """``(model, input, edges, factory)`` for every requested row, LightGCN first."""
    from minigraphrec.models import GAT, GCN, LightGCN
    common = dict(dim=DIM, lr=args.lr, batch_size=BATCH_SIZE, reg=REG, epochs=args.max_epochs,
                  patience=args.patience, metric="recall@20", random_state=seed)
    half_life = args.half_life_days * DAY
    rows = []
    for edges in args.edges:
        weights = (dict(edge_weights="time_decay", half_life=half_life) if edges == "time_decay"
                   else {})
        if "lightgcn" in args.models:
            rows.append(("LightGCN", "embedding", edges,
                         lambda w=weights: LightGCN(n_layers=3, **common, **w)))
    for name, cls, kw in (("GCN", GCN, dict(n_layers=2)),
                          ("GAT", GAT, dict(n_layers=2, n_heads=2))):
        if name.lower() not in args.models:
            continue
        for inp in args.inputs:
            for edges in args.edges:
                weights = (dict(edge_weights="time_decay", half_life=half_life)
                           if edges == "time_decay" else {})
                rows.append((name, inp, edges,
                             lambda c=cls, k=kw, i=inp, w=weights: c(input=i, **k, **common, **w)))
    return rows


def plot_features(rows, name, out_dir, runs=None, data="MovieLens-100K"):
    """Test Recall@20 and NDCG@20 per model and layer-0 input, binary vs time-decayed edges:
    bars = mean over seeds with the sd as error bars, each seed a dot (given the JSON's
    ``runs``); LightGCN's mean with binary edges dashed. ``data`` names the data set in the
    title. One PNG, two panels."""
    import numpy as np
    from minigraphrec import plot
    inputs = ("embedding", "both", "features")
    groups = sorted({(r["model"], r["input"]) for r in rows},
                    key=lambda g: (["LightGCN", "GCN", "GAT"].index(g[0])
                                   if g[0] in ("LightGCN", "GCN", "GAT") else 9,
                                   inputs.index(g[1]) if g[1] in inputs else 9))
    edges = [e for e in ("none", "time_decay") if any(r["edges"] == e for r in rows)]
    by = {(r["model"], r["input"], r["edges"]): r for r in rows}
    colors = {"none": "#4C72B0", "time_decay": "#DD8452"}
    edge_label = {"none": "binary edges", "time_decay": "time-decayed edges"}
    fig, axes = plot.subplots(2, 1, figsize=(max(7.0, 1.2 * len(groups) + 2), 7.4),
                              sharex=True)
    x = np.arange(len(groups))
    width = 0.8 / len(edges)
    for ax, key in zip(axes, ("recall@20", "ndcg@20")):
        for j, e in enumerate(edges):
            xs = x + (j - (len(edges) - 1) / 2) * width
            got = [by.get(g + (e,)) for g in groups]
            ax.bar(xs, [r[key] if r else np.nan for r in got], width * 0.95,
                   yerr=[r[f"{key}_sd"] if r else 0 for r in got], capsize=3,
                   error_kw={"elinewidth": 1, "ecolor": "#333333"}, color=colors[e],
                   alpha=0.85, label=f"{edge_label[e]}: mean ± sd over seeds")
            for xi, g in zip(xs, groups):
                seeds = [r[key] for r in runs or ()
                         if (r["model"], r["input"], r["edges"]) == g + (e,)]
                offsets = np.linspace(-0.25, 0.25, len(seeds)) * width if len(seeds) > 1 \
                    else [0.0] * len(seeds)                    # beside the error bar
                ax.scatter(xi + np.asarray(offsets), seeds, s=12,
                           color="white", edgecolors="black", linewidths=0.8, zorder=3,
                           label="one seed" if j == 0 and g == groups[0] else None)
        ref = by.get(("LightGCN", "embedding", "none"))
        if ref is not None:
            ax.axhline(ref[key], color="gray", linestyle="--", linewidth=1,
                       label="LightGCN, binary edges")
        low = min(r[key] - r[f"{key}_sd"] for r in rows)
        seeds = [r[key] for r in runs or ()]
        low = min([low] + seeds)
        high = max([r[key] + r[f"{key}_sd"] for r in rows] + seeds)
        ax.set_ylim(max(0.0, low - 0.25 * (high - low)), high + 0.1 * (high - low))
        ax.set_ylabel(f"test {key.replace('recall', 'Recall').replace('ndcg', 'NDCG')}")
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4,
               fontsize=8)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels([f"{m}\n{'ids' if i == 'embedding' else i}" for m, i in groups])
    axes[1].set_xlabel("model and layer-0 input (ids: id embeddings only; features: "
                       "node features only; both: their sum)")
    n_seeds = sorted({r["n_seeds"] for r in rows})
    fig.suptitle(f"Node features and time-decayed edges on {data} "
                 f"({'/'.join(map(str, n_seeds))} seeds, y axis not from 0)")
    return save_figure(fig, name, out_dir)


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0], repeat=False,
        smoke="a synthetic 60 x 80 set instead of ML-100K, at most 2 epochs (patience 1)")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the unpacked MovieLens-100K folder, ml-100k/ with u.data (required but with --smoke)")
    parser.add_argument("--max-epochs", type=int, default=40,
                        help="most training epochs, before early stopping (default 40)")
    parser.add_argument("--patience", type=int, default=5,
                        help="early stopping: epochs without a better validation Recall@20")
    parser.add_argument("--lr", type=float, default=0.01,
                        help="Adam learning rate (default 0.01)")
    parser.add_argument("--half-life-days", type=float, default=30.0,
                        help="half-life of the time-decayed edges, in days (default 30)")
    parser.add_argument("--split-seed", type=int, default=2020, help="seed of the 80/20 split")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="model seeds (init, sampling); one row per configuration and seed")
    parser.add_argument("--name", default="features_ml100k",
                        help="results file stem (default features_ml100k)")
    parser.add_argument("--models", nargs="+", default=["lightgcn", "gcn", "gat"],
                        choices=["lightgcn", "gcn", "gat"], help="models to train (default all)")
    parser.add_argument("--inputs", nargs="+", default=["embedding", "both", "features"],
                        choices=["embedding", "both", "features"],
                        help="layer-0 inputs of GCN and GAT")
    parser.add_argument("--edges", nargs="+", default=["none", "time_decay"],
                        choices=["none", "time_decay"],
                        help="edge weights: none (binary) or time_decay (see --half-life-days; "
                             "default both)")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba threads (default 1: on a shared 2-core machine one thread "
                             "ran these graphs 2-3x faster than two)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (default 1: the dense products here are (2,625 x 64) "
                             "@ (64 x 64), too small for threads to pay; on a shared 2-core "
                             "machine a multi-threaded OpenBLAS made each 10-25x slower)")
    args = parser.parse_args()
    require_data(args, "the unpacked MovieLens-100K folder", files=ML100K_FILES)
    if args.smoke:
        args.max_epochs, args.patience = 2, 1
    load_start = os.getloadavg()

    with use_threads(args.threads, blas=args.blas_threads) as threads:
        # recorded: the counts in effect while the models train
        from minigraphrec.metrics import evaluate
        from minigraphrec.split import random_split

        train, test, name = load_data(args)
        fit_part, valid = random_split(train, test_size=0.1, random_state=0)
        print(f"{name}: {train.n_users} users, {train.n_items} items; {len(fit_part)} fit / "
              f"{len(valid)} validation / {len(test)} test rows; user features "
              f"{train.user_features.shape[1]}, item features {train.item_features.shape[1]}",
              flush=True)

        rows = []
        runs = [(seed, *c) for seed in args.seeds for c in configurations(args, seed)]
        for seed, model_name, inp, edges, factory in runs:
            model = factory()
            t0 = time.perf_counter()
            model.fit(fit_part, validation=valid)
            fit_s = time.perf_counter() - t0
            metrics = evaluate(model, test, k=20, train=train, metrics=("recall", "ndcg"))
            times = [r["time"] for r in model.history_]
            row = {"model": model_name, "input": inp, "edges": edges, "seed": seed,
                   "recall@20": metrics["recall@20"], "ndcg@20": metrics["ndcg@20"],
                   "valid_recall@20": max(r["recall@20"] for r in model.history_),
                   "best_epoch": model.best_epoch_, "epochs_run": len(model.history_),
                   "median_epoch_s": statistics.median(times), "train_s": sum(times),
                   "fit_s": fit_s, "n_users_evaluated": metrics["n_users"]}
            rows.append(row)
            print(f"{model_name:8s} input={inp:9s} edges={edges:10s} seed {seed}: Recall@20 "
                  f"{row['recall@20']:.4f}, NDCG@20 {row['ndcg@20']:.4f} (best epoch "
                  f"{row['best_epoch']} of {row['epochs_run']}; fit {fit_s:.1f} s)", flush=True)

        load = os.getloadavg()
        summary = summarize(rows)
        notes = (
            f"{name}: {train.n_users} users, {train.n_items} items; ratings as implicit feedback "
            f"(values dropped), per-user random 80/20 split (random_split, seed {args.split_seed}); "
            f"validation = 10% of each user's training rows (random_split, seed 0). "
            f"{DIM} dims, BPR, Adam lr {args.lr}, batch {BATCH_SIZE}, reg {REG}, model seeds "
            f"{', '.join(map(str, args.seeds))}; at most {args.max_epochs} epochs, early stopping on "
            f"validation Recall@20 with patience {args.patience}, best epoch restored; test metrics "
            f"with the whole training part excluded from the ranking. LightGCN 3 layers; GCN 2 "
            f"layers (ReLU, symmetric + self-loops); GAT 2 layers, 2 concatenated heads, identity, "
            f"mean readout. edges=time_decay: edge_weights='time_decay', half_life "
            f"{args.half_life_days:g} days before the latest training event. input: embedding = id "
            f"embeddings, features = projected user/item features only, both = their sum. Table: "
            f"mean over seeds, sd = standard deviation over seeds (0 with one seed); fit_s: wall "
            f"time of fit (training + per-epoch validation); median_epoch_s: training only; the "
            f"per-seed runs are in the JSON (runs). Threads: {threads_text(threads)}. Load "
            f"average (1, 5, 15 min) at the start: {load_start[0]:.2f}, {load_start[1]:.2f}, "
            f"{load_start[2]:.2f}; at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}."
        )
        columns = ["model", "input", "edges", "n_seeds", "recall@20", "recall@20_sd", "ndcg@20",
                   "ndcg@20_sd", "best_epoch", "median_epoch_s", "fit_s"]
        stem = args.name + ("_smoke" if args.smoke else "")
        lines = effects(rows)
        json_path, md_path = write_results(
            stem, summary, columns, out_dir=args.out, notes=notes, threads=threads,
            after_rows={"runs": rows, "effects": lines, "load_average_start": list(load_start),
                        "load_average_end": list(load)},
            md_after=("\nEffects on test Recall@20, paired by seed (mean difference; per seed):\n\n"
                      + "\n".join(f"- {line}" for line in lines) + "\n"))
        print(md_path.read_text())
        print(f"wrote {json_path} and {md_path}")
        plot_features(summary, stem, args.out, runs=rows, data=name)


def summarize(rows):
    """One row per configuration: means and standard deviations over seeds."""
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["input"], r["edges"]), []).append(r)
    summary = []
    for (model, inp, edges), rs in groups.items():
        def mean(key):
            return statistics.fmean(r[key] for r in rs)

        def sd(key):
            return statistics.stdev(r[key] for r in rs) if len(rs) > 1 else 0.0
        summary.append({"model": model, "input": inp, "edges": edges, "n_seeds": len(rs),
                        "recall@20": mean("recall@20"), "recall@20_sd": sd("recall@20"),
                        "ndcg@20": mean("ndcg@20"), "ndcg@20_sd": sd("ndcg@20"),
                        "best_epoch": mean("best_epoch"), "median_epoch_s": mean("median_epoch_s"),
                        "fit_s": mean("fit_s")})
    return summary


def effects(rows):
    """What changing one factor does, paired by seed: time decay vs binary, features vs ids."""
    by = {(r["model"], r["input"], r["edges"], r["seed"]): r["recall@20"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    configs = sorted({(r["model"], r["input"], r["edges"]) for r in rows})
    lines = []

    def compare(label, a, b):
        diffs = [by[b + (s,)] - by[a + (s,)] for s in seeds
                 if a + (s,) in by and b + (s,) in by]
        if diffs:
            lines.append(f"{label}: {statistics.fmean(diffs):+.4f} ("
                         + ", ".join(f"{d:+.4f}" for d in diffs) + ")")

    for model, inp, edges in configs:
        if edges == "none" and (model, inp, "time_decay") in configs:
            compare(f"{model}, input={inp}: time-decayed vs binary edges",
                    (model, inp, "none"), (model, inp, "time_decay"))
    for model, inp, edges in configs:
        if inp != "embedding" and (model, "embedding", edges) in configs:
            compare(f"{model}, edges={edges}: input={inp} vs ids only",
                    (model, "embedding", edges), (model, inp, edges))
    for model, inp, edges in configs:
        if model != "LightGCN" and edges == "none" and ("LightGCN", "embedding", "none") in configs:
            compare(f"{model}, input={inp}, binary edges vs LightGCN",
                    ("LightGCN", "embedding", "none"), (model, inp, "none"))
    return lines


if __name__ == "__main__":
    main()
