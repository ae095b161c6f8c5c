r"""Benchmark: the article's classic algorithms and the closed-form baselines on MovieLens-100K.

Data: the GroupLens MovieLens-100K folder (``--data DIR``, required but with
``--smoke``; MovieLens forbids redistribution, so none is shipped), every rating as an implicit positive
(:func:`minigraphrec.datasets.load_movielens_100k`), split per user at random
80/20 (:func:`minigraphrec.split.random_split`, ``test_size=0.2``,
``random_state=--split-seed``, default 2020). Item features for the
content-based model: the 19 genre flags and the release year that the loader
provides.

Models, each with its library defaults (nothing is tuned on the test set):

* ``Popularity`` -- the floor every personalised model must clear;
* ``ItemKNN``, ``UserKNN`` -- cosine, 100 neighbours; plus the BM25 +
  dot-product variants (implicit's BM25Recommender idea);
* ``EASE`` (λ = 500), ``GFCF`` (α = 0.3, 256 singular vectors);
* ``ContentBased`` -- genres + year, cosine;
* ``Hybrid`` -- ItemKNN + UserKNN + ContentBased, min-max normalised, the
  weights tuned by grid search (step 0.1) on a 20 % per-user holdout of the
  *training* set (``weights="tune"``), then the components refitted on all
  of it.

Evaluation: :func:`minigraphrec.metrics.evaluate` (full ranking, training
items excluded, users with a test item): Recall@20, NDCG@20 and catalogue
coverage@20; fit time is the median of ``--repeat`` fits.

LightGCN is trained with the paper's settings for 300 epochs, once (its fit
takes minutes); ``bench_accuracy_ml100k.py`` studies it (and MF) in more depth.

    python benchmarks/bench_baselines_ml100k.py --data DIR                # DIR: ml-100k/
    python benchmarks/bench_baselines_ml100k.py --data DIR --repeat 3
    python benchmarks/bench_baselines_ml100k.py --smoke --out /tmp/r     # what the tests run
    python benchmarks/bench_baselines_ml100k.py --plot-only              # redraw the PNG
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from _common import (ML100K_FILES, benchmark_parser, ml100k_split, read_record, require_data,
                     save_figure, threads_text, use_threads, write_results)

K = 20


def _models(smoke=False):
    """name -> (kind, factory). ``kind`` is "collaborative", "content", "hybrid" or "baseline"."""
    from minigraphrec.models import (EASE, GFCF, ContentBased, Hybrid, ItemKNN, LightGCN,
                                     Popularity, UserKNN)
    return {
        "Popularity": ("baseline", Popularity),
        "ItemKNN": ("collaborative", ItemKNN),
        "ItemKNN-BM25-dot": ("collaborative",
                             lambda: ItemKNN(weighting="bm25", similarity="dot")),
        "UserKNN": ("collaborative", UserKNN),
        "UserKNN-BM25-dot": ("collaborative",
                             lambda: UserKNN(weighting="bm25", similarity="dot")),
        "EASE": ("collaborative", EASE),
        "GFCF": ("collaborative", GFCF),
        "ContentBased": ("content", ContentBased),
        "Hybrid": ("hybrid", lambda: Hybrid([ItemKNN(), UserKNN(), ContentBased()],
                                            weights="tune", step=0.1)),
        # the paper's settings, as in bench_accuracy_ml100k.py: 64 dims, 3 layers, lr 1e-3,
        # batch 2048, reg 1e-4, BPR, 300 epochs (fitted once: its fit time is minutes)
        "LightGCN": ("collaborative", lambda: LightGCN(
            dim=64, n_layers=3, lr=1e-3, batch_size=2048, reg=1e-4, loss="bpr",
            epochs=2 if smoke else 300, random_state=2020)),
    }


def load_split(args):
    """``(train, test, name)``: MovieLens-100K split 80/20 per user, or a small synthetic set."""
    return ml100k_split(args, 120, 300)


def run(args, threads):
    """Fit and evaluate the models; write the results. ``threads``: the counts in effect
    (:func:`_common.use_threads`), recorded."""
    from minigraphrec.metrics import evaluate

    models = _models(args.smoke)
    names = args.models or list(models)
    unknown = [n for n in names if n not in models]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {', '.join(models)}")
    train, test, data_name = load_split(args)
    rows = []
    for name in names:
        kind, factory = models[name]
        times = []
        for _ in range(1 if name == "LightGCN" else args.repeat):
            model = factory()
            if name == "GFCF" and args.smoke:
                model.set_params(n_factors=16)                    # the smoke set is tiny
            t0 = time.perf_counter()
            model.fit(train)
            times.append(time.perf_counter() - t0)
        result = evaluate(model, test, k=K, metrics=("recall", "ndcg", "coverage"))
        row = {"model": name, "kind": kind, "data": data_name,
               f"recall@{K}": result[f"recall@{K}"], f"ndcg@{K}": result[f"ndcg@{K}"],
               f"coverage@{K}": result[f"coverage@{K}"],
               "fit_s": statistics.median(times), "fit_s_all": times,
               "n_users": result["n_users"], "params": repr(model)}
        if name == "Hybrid":
            row["hybrid_weights"] = [float(w) for w in model.weights_]
        rows.append(row)
        print(f"{name:18s} recall@{K} {row[f'recall@{K}']:.4f}  ndcg@{K} {row[f'ndcg@{K}']:.4f}  "
              f"coverage@{K} {row[f'coverage@{K}']:.4f}  fit {row['fit_s']:.2f} s", flush=True)

    pop = next((r for r in rows if r["model"] == "Popularity"), None)
    if pop is not None:
        for r in rows:
            r["beats_popularity"] = (r[f"recall@{K}"] > pop[f"recall@{K}"]
                                     and r[f"ndcg@{K}"] > pop[f"ndcg@{K}"])
    losers = [r["model"] for r in rows
              if r["kind"] == "collaborative" and not r.get("beats_popularity", True)]
    notes = (f"Split: per-user random 80/20, seed {args.split_seed}; fit time = median of "
             f"{args.repeat} fits, LightGCN fitted once (wall clock; the machine may be shared, "
             f"see the load average; threads: {threads_text(threads)}). beats_popularity: both "
             "Recall@20 and NDCG@20 above Popularity's.")
    if losers:
        notes += f" Collaborative models NOT beating Popularity: {', '.join(losers)}."
    others = [r["model"] for r in rows
              if r["kind"] != "collaborative" and r["model"] != "Popularity"
              and not r.get("beats_popularity", True)]
    if others:
        notes += (f" Below Popularity: {', '.join(others)} (a content model ranks by genre and "
                  "year alone, with no popularity signal: it is not expected to beat it on "
                  "this protocol; its use is coverage, cold items and the hybrid).")
    columns = ["model", "kind", f"recall@{K}", f"ndcg@{K}", f"coverage@{K}", "fit_s",
               "beats_popularity"]
    name = "baselines_ml100k_smoke" if args.smoke else "baselines_ml100k"
    paths = write_results(name, rows, columns, out_dir=args.out, notes=notes,
                          threads=threads)
    print("wrote", *paths)
    plot_baselines(rows, name, args.out, record=json.loads(Path(paths[0]).read_text()))
    return rows


def plot_baselines(rows, name, out_dir, record=None):
    """Recall@20, NDCG@20 and coverage@20 per model (bars, Popularity's Recall@20 dashed) and
    the fit time (log scale), models sorted by Recall@20; one PNG. With ``record`` (the results
    JSON), a footer names the machine the fit times were measured on."""
    import numpy as np
    from minigraphrec import plot
    rows = sorted(rows, key=lambda r: r[f"recall@{K}"])          # best on top
    fig, (ax, ax_t) = plot.subplots(1, 2, figsize=(11, 0.42 * len(rows) + 2.4), sharey=True,
                                    gridspec_kw={"width_ratios": [2.2, 1]})
    y = np.arange(len(rows))
    h = 0.27
    for j, (key, color) in enumerate(((f"recall@{K}", "#4C72B0"), (f"ndcg@{K}", "#DD8452"),
                                      (f"coverage@{K}", "#8C8C8C"))):
        label = key.replace("coverage", "catalogue coverage").replace("recall", "Recall") \
            .replace("ndcg", "NDCG")
        ax.barh(y + (1 - j) * h, [r[key] for r in rows], h, color=color, label=label)
    pop = next((r for r in rows if r["model"] == "Popularity"), None)
    if pop is not None:
        ax.axvline(pop[f"recall@{K}"], color="#4C72B0", linestyle="--", linewidth=1,
                   label=f"Popularity's Recall@{K}")
    for yi, r in zip(y, rows):
        ax.text(r[f"recall@{K}"] + 0.004, yi + h, f"{r[f'recall@{K}']:.3f}", va="center",
                fontsize=7)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['model']} ({r['kind']})" for r in rows], fontsize=8)
    ax.set_xlim(0, max(max(r[f"ndcg@{K}"], r[f"coverage@{K}"]) for r in rows) * 1.12)
    ax.set_xlabel(f"test metric at k = {K}")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    ax_t.barh(y, [r["fit_s"] for r in rows], 0.6, color="#55A868")
    for yi, r in zip(y, rows):
        ax_t.text(r["fit_s"] * 1.15, yi, f"{r['fit_s']:.3g} s", va="center", fontsize=7)
    ax_t.set_xscale("log")
    ax_t.set_xlim(min(r["fit_s"] for r in rows) / 2, max(r["fit_s"] for r in rows) * 20)
    fits = sorted({len(r.get("fit_s_all") or [r["fit_s"]]) for r in rows}, reverse=True)
    once = [r["model"] for r in rows if len(r.get("fit_s_all") or [0]) == 1]
    if fits and fits[0] > 1:                   # medians, and which models were fitted once
        how = f"median of {fits[0]} fits" + (f"; {', '.join(once)}: 1 fit" if once else "")
    else:
        how = "1 fit each"
    ax_t.set_xlabel(f"fit time, s (log scale)\n{how}", fontsize=8)
    ax_t.grid(axis="x", alpha=0.3)
    data = rows[0]["data"]
    trained = [r["model"] for r in rows if r["model"] == "LightGCN"]
    what = "Classic, closed-form" + (" and trained (LightGCN)" if trained else "")
    fig.suptitle(f"{what} recommenders on {data} (per-user 80/20 split)")
    return save_figure(fig, name, out_dir, record=record)


def main(argv=None):
    parser = benchmark_parser(
        "Classic recommenders and closed-form baselines on MovieLens-100K",
        smoke="a synthetic 120 x 300 set instead of ML-100K, one fit per model (LightGCN 2 "
              "epochs)",
        repeat_help="fits per model; the median fit time is reported (LightGCN is fitted once)")
    parser.set_defaults(repeat=3)
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the unpacked MovieLens-100K folder, ml-100k/ with u.data (required but with --smoke)")
    parser.add_argument("--split-seed", type=int, default=2020,
                        help="seed of the per-user 80/20 split (default 2020)")
    parser.add_argument("--models", nargs="+", help="a subset of the models (default all)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw <out>/baselines_ml100k.png from baselines_ml100k.json; "
                             "run nothing")
    parser.add_argument("--threads", type=int, default=None,
                        help="numba threads (default: numba's pool, all CPUs or "
                             "$NUMBA_NUM_THREADS; the recorded run used the default)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (default 1: the models are small, 1,682 items, and "
                             "on cores other jobs also used a 2-thread OpenBLAS made a 943 x "
                             "1,682 SVD 30x slower; 0 leaves BLAS as the environment set it)")
    args = parser.parse_args(argv)
    if args.plot_only:
        record = read_record(args.out, "baselines_ml100k")
        return plot_baselines(record["rows"], "baselines_ml100k", args.out, record=record)
    require_data(args, "the unpacked MovieLens-100K folder", files=ML100K_FILES)
    if args.smoke:
        args.repeat = 1
    with use_threads(args.threads, blas=args.blas_threads or None) as threads:
        return run(args, threads)


if __name__ == "__main__":
    main()
