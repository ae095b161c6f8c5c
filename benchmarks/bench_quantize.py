r"""Benchmark: int8 / float16 quantisation (``mgr.quantize``): memory, Recall@20, scoring speed.

The issue's targets (issue 11 §4), on the LightGCN paper's Gowalla split:

* memory of the arrays ``score`` reads about 4x smaller at int8
  (:func:`minigraphrec.quantization.scoring_nbytes`; the seen-item matrix
  ``R_``, which every model keeps, is left out);
* Recall@20 within 1 % (relative) of the float model;
* scoring speed against the float model in the same run: ``model.score`` of
  one batch of ``--batch`` users, the float model and its int8 and float16
  versions timed round-robin (``interleaved_times``), medians of
  ``--repeat`` rounds.

Models (``--models``):

* ``gfcf``: GF-CF (alpha 0.3, 256 factors, ``--svd-solver``, default
  PROPACK as ``bench_gfcf_gowalla.py``), training-free; quantised: the
  singular vectors (the linear term stays exact);
* ``lightgcn``: LightGCN, 64 dims, 3 layers, BPR, reg 1e-4. Loaded from
  ``--checkpoint`` (a ``model.npz`` of ``bench_lightgcn_long.py``) when that
  file exists, else trained here for ``--lightgcn-epochs`` epochs with
  ``--lr`` / ``--batch-size`` (default the ``fast`` preset of
  ``bench_lightgcn_long.py``: Adam lr 1e-2, batches of 8192). Which one
  was used is in the results. Quantised: the final embeddings.

Every evaluation is the full-ranking protocol of ``mgr.evaluate``
(training items excluded). Results: ``results/quantize_gowalla.{json,md,png}``
(``quantize_gowalla_<model>`` when ``--models`` names one model;
``quantize_smoke`` with ``--smoke``: a synthetic split, tiny models).

    python benchmarks/bench_quantize.py --data DIR --models gfcf --svd-solver randomized
    python benchmarks/bench_quantize.py --smoke --out /tmp/r        # what the tests run
    python benchmarks/bench_quantize.py --plot-only quantize_gowalla_gfcf  # redraw from the JSON
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np

from _common import (LIGHTGCN_FILES, REPO, benchmark_parser, interleaved_times, portable_path,
                     read_record, require_data, save_figure, use_threads, warm_up_evaluate,
                     write_results)

DEFAULT_CHECKPOINT = REPO / "benchmarks" / "checkpoints" / "fast" / "model.npz"
K = 20


def _data(args):
    from minigraphrec.datasets import load_lightgcn, synthetic
    from minigraphrec.split import random_split
    if args.smoke:
        data = synthetic(n_users=300, n_items=400, mean_interactions=15, random_state=0)
        train, test = random_split(data, test_size=0.2, random_state=0)
        return train, test, "synthetic-300x400"
    folder = Path(args.data)
    train, test = load_lightgcn(folder / "train.txt", folder / "test.txt")
    return train, test, "DATA/" + folder.name


def _models(args, train):
    """``[(name, fitted model, how it was obtained, fit seconds)]``."""
    import minigraphrec as mgr
    out = []
    for name in args.models:
        t0 = time.perf_counter()
        if name == "gfcf":
            params = dict(alpha=0.3, n_factors=32 if args.smoke else 256,
                          svd_solver="dense" if args.smoke else args.svd_solver)
            model = mgr.GFCF(**params).fit(train)
            how = f"GFCF({', '.join(f'{k}={v!r}' for k, v in params.items())}) fitted"
        else:
            ckpt = Path(args.checkpoint) if args.checkpoint else None
            if ckpt is not None and ckpt.exists() and not args.smoke:
                model = mgr.load(ckpt)
                epochs = getattr(model, "step_", None)
                shown = portable_path(str(ckpt))
                how = (f"loaded {shown}"
                       f" (epochs trained: {len(getattr(model, 'history_', []) or [])}, "
                       f"optimiser steps: {epochs})")
            else:
                epochs = 2 if args.smoke else args.lightgcn_epochs
                dim = 16 if args.smoke else 64
                model = mgr.LightGCN(dim=dim, n_layers=3, lr=args.lr, batch_size=args.batch_size,
                                     reg=1e-4, epochs=epochs, random_state=0).fit(train)
                how = (f"trained here: {epochs} epochs, dim {dim}, 3 layers, lr {args.lr}, "
                       f"batch {args.batch_size}, reg 1e-4, seed 0")
        out.append((name, model, how, time.perf_counter() - t0))
        print(f"{name}: {how} ({out[-1][3]:.1f} s)", flush=True)
    return out


def _exact_nbytes(model):
    """Bytes of what quantisation leaves exact: GF-CF's linear term (R̃, R̃ᵀ, item filter)."""
    from minigraphrec.models import GFCF
    from minigraphrec.quantization import QuantizedGFCF, _nbytes
    if isinstance(model, QuantizedGFCF):
        model = model.linear_
    if isinstance(model, GFCF):
        return sum(_nbytes(x) for x in (model.R_tilde_, model._R_tilde_T, model._item_filter))
    return 0


def title_of(data_name, batch_users, threads):
    """The end of the figure's title: data, users per timed batch, threads."""
    return f", {data_name}, {batch_users} users per batch, {threads} thread(s)"


def replot(record, name, out_dir):
    """``plot_quantize`` on a results record, the title's data, batch and threads read back
    from its notes (written by :func:`main`)."""
    notes = record["notes"]
    batch = re.search(r"model\.score of (\d+) users", notes)
    threads = re.search(r"(\d+) thread\(s\) \(mgr\.threads\)", notes)
    data = re.search(r"Data: ([^,]+),", notes)
    title = (title_of(data.group(1), batch.group(1), threads.group(1))
             if batch and threads and data else "")
    return plot_quantize(record["rows"], name, out_dir, title, record=record)


def score_dtype(row):
    """The dtype ``score`` returns for a row's model: the row's ``score_dtype``; in records
    written before it was kept, float64 for LightGCN's float model (its ``score`` computes in
    float64 from float32 parameters, as the notes of those records say), else unknown."""
    if row.get("score_dtype"):
        return row["score_dtype"]
    if row["model"] == "lightgcn" and row.get("memory_ratio") == 1.0:
        return "float64"
    return None


def bar_label(row):
    """A bar's label under the model name: the variant by its stored dtype, and the dtype it
    scores in where that differs (LightGCN's float model: float32 parameters, float64 scores:
    the speed it is the reference of is float64 scoring's)."""
    if "only" in row["dtype"]:
        return "float32 U Vᵀ\n(no model)"
    scores = score_dtype(row)
    if scores is not None and scores != row["dtype"]:
        return f"{row['dtype']} params,\n{scores} scoring"
    return row["dtype"]


def plot_quantize(rows, name, out_dir, title="", record=None):
    """``<name>.png``: per model, the float model and its int8 / float16 versions side by side:
    the memory ``score`` reads (the part quantisation leaves exact hatched; the issue's
    about-4x-smaller target as a red line), Recall@20's relative change (the +-1 % target
    shaded) and the seconds to score one batch (with the bare float32 product when measured).
    ``record``, the results JSON drawn from, names the machine in a footer."""
    from minigraphrec import plot
    models = list(dict.fromkeys(r["model"] for r in rows))
    variants = [r for r in rows if "scoring_MB" in r]
    colours = {"int8": "tab:orange", "float16": "tab:green"}
    n_bars = len(rows) + 0.6 * (len(models) - 1)              # the widest panel: speed
    if n_bars <= 5:
        fig, axes = plot.subplots(1, 3, figsize=(13.5, 4.4))
    else:                                                    # several models: one panel a row
        fig, axes = plot.subplots(3, 1, figsize=(max(8.0, 1.0 * n_bars + 2.0), 11.0))
    for ax, key in zip(axes, ("scoring_MB", "recall_rel_change_%", "score_batch_s")):
        shown = variants if key != "score_batch_s" else rows
        x, ticks, gap = [], [], 0
        for m in models:
            for r in (r for r in shown if r["model"] == m):
                x.append((gap, r))
                ticks.append(f"{m}\n" + bar_label(r))
                gap += 1
            gap += 0.6                                       # space between models
        pos = np.array([p for p, _ in x])
        vals = np.array([r[key] for _, r in x], dtype=float)
        cols = [colours.get(r["dtype"], "0.55" if "only" in r["dtype"] else "tab:blue")
                for _, r in x]
        ax.bar(pos, vals, 0.7, color=cols)
        ax.set_xticks(pos, ticks, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        if key == "scoring_MB":
            exact = np.array([r["scoring_MB"] - r["quantised_part_MB"] for _, r in x])
            if exact.max() > 0:
                ax.bar(pos, exact, 0.7, color="none", edgecolor="black", hatch="//",
                       linewidth=0.5, label="kept exact (GF-CF's linear term)")
            for m in models:
                base = next((r["scoring_MB"] for _, r in x if r["model"] == m
                             and r["memory_ratio"] == 1.0), None)
                at = [p for p, r in x if r["model"] == m]
                if base is not None:
                    ax.plot([min(at) - 0.4, max(at) + 0.4], [base / 4] * 2, "--",
                            color="tab:red", linewidth=1,
                            label="float / 4 (target at int8)" if m == models[0] else None)
            for p, r in x:
                ratio = ("reference" if r["memory_ratio"] == 1.0
                         else f"{r['memory_ratio']:.2f}x smaller")
                ax.text(p, r["scoring_MB"], f"{r['scoring_MB']:.3g} MB\n{ratio}",
                        ha="center", va="bottom", fontsize=7)
            ax.set_ylim(0, vals.max() * 1.25)
            ax.set_ylabel("MB that model.score reads (R_ excluded)")
            ax.set_title("memory", fontsize=9)
            ax.legend(loc="upper right", fontsize=7)
        elif key == "recall_rel_change_%":
            ax.axhspan(-1, 1, color="tab:green", alpha=0.12, label="target: within 1 %")
            ax.axhline(0, color="0.3", linewidth=0.8)
            for p, r in x:
                v = r[key]
                ax.text(p, 0.08 if v >= 0 else -0.08,
                        f"{v:+.3g} %\nRecall {r[f'recall@{K}']:.4f}", ha="center",
                        va="bottom" if v >= 0 else "top", fontsize=7)
            span = max(1.5, np.abs(vals).max() * 1.5)
            ax.set_ylim(-span, span)
            ax.set_ylabel(f"Recall@{K} change vs the float model (%)")
            ax.set_title(f"accuracy (full ranking, Recall@{K})", fontsize=9)
            ax.legend(loc="upper right", fontsize=7)
        else:
            for p, r in x:
                speed = ("reference" if r["speed_vs_float"] == 1.0
                         else f"speed {r['speed_vs_float']:.2f}x")
                ax.text(p, r[key], f"{r[key]:.3g} s\n{speed}", ha="center", va="bottom",
                        fontsize=7)
            ax.set_ylim(0, vals.max() * 1.25)
            ax.set_ylabel("seconds to score one batch of users (median)")
            ax.set_title("scoring speed (interleaved rounds; speed: float's time / this)",
                         fontsize=9)
    fig.suptitle(f"mgr.quantize: int8 and float16 against the float model{title}", fontsize=10)
    return save_figure(fig, name, out_dir, record=record)


def main():
    parser = benchmark_parser(
        "mgr.quantize: memory, Recall@20 and scoring speed on Gowalla",
        smoke="a synthetic 300 x 400 split instead of --data: GF-CF with 32 factors (dense SVD), "
              "LightGCN trained 2 epochs, 2 rounds",
        repeat_help="interleaved rounds of the scoring timing; the median is reported")
    parser.set_defaults(repeat=5)
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="a LightGCN-format folder with train.txt and test.txt (required but with --smoke)")
    parser.add_argument("--models", nargs="+", default=["gfcf", "lightgcn"],
                        choices=["gfcf", "lightgcn"], help="models to quantize (default both)")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                        help="a saved LightGCN (.npz) to load instead of training, if it exists")
    parser.add_argument("--svd-solver", default="propack",
                        choices=["auto", "dense", "arpack", "propack", "randomized", "chebyshev"],
                        help="GF-CF's SVD solver (default propack, as bench_gfcf_gowalla.py)")
    parser.add_argument("--lightgcn-epochs", type=int, default=5,
                        help="epochs of the LightGCN trained here when --checkpoint does not exist "
                             "(default 5; --smoke always trains, 2 epochs)")
    parser.add_argument("--lr", type=float, default=1e-2,
                        help="that LightGCN's learning rate (default 0.01)")
    parser.add_argument("--batch-size", type=int, default=8192,
                        help="that LightGCN's BPR triples per batch (default 8192)")
    parser.add_argument("--batch", type=int, default=1024, help="users per timed score call")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba and BLAS threads (mgr.threads; default 1, whatever the "
                             "environment says)")
    parser.add_argument("--plot-only", nargs="?", const="quantize_gowalla", metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json (default NAME "
                             "quantize_gowalla; quantize_gowalla_gfcf or _lightgcn for a "
                             "one-model run); run nothing")
    args = parser.parse_args()
    if args.plot_only:
        return replot(read_record(args.out, args.plot_only), args.plot_only, args.out)
    require_data(args, "a LightGCN-format folder", files=LIGHTGCN_FILES)

    import minigraphrec as mgr
    from minigraphrec.quantization import quantize, scoring_nbytes

    threads = args.threads
    repeat = 2 if args.smoke else args.repeat
    load_start = os.getloadavg()
    rows, notes = [], []
    with use_threads(threads) as measured_threads:     # recorded: the block ends before writing
        warm_up_evaluate(k=K)                          # evaluate_s then leaves the compile out
        train, test, data_name = _data(args)
        rng = np.random.default_rng(0)
        batch = np.sort(rng.choice(train.n_users, size=min(args.batch, train.n_users),
                                   replace=False))
        for name, model, how, fit_s in _models(args, train):
            notes.append(f"{name}: {how} in {fit_s:.1f} s.")
            variants = {"float": model}
            for dtype in ("int8", "float16"):
                t0 = time.perf_counter()
                variants[dtype] = quantize(model, dtype)
                notes.append(f"{name}: quantize(..., {dtype!r}) took "
                             f"{time.perf_counter() - t0:.2f} s.")
            scores = {k: str(v.score(batch[:8]).dtype)    # warm-up: numba compile, caches
                      for k, v in variants.items()}
            candidates = {k: (lambda v=v: v.score(batch)) for k, v in variants.items()}
            if hasattr(model, "user_embeddings_"):      # the bare float32 BLAS product, a floor
                U32 = model.user_embeddings_.astype(np.float32)
                V32 = model.item_embeddings_.astype(np.float32)
                candidates["product"] = lambda: U32[batch] @ V32.T
            speed = interleaved_times(candidates, repeat)
            base = None
            for dtype, v in variants.items():
                t0 = time.perf_counter()
                res = mgr.evaluate(v, test, k=K, metrics=("recall", "ndcg"))
                eval_s = time.perf_counter() - t0
                if base is None:
                    base = res
                nbytes = scoring_nbytes(v)
                exact = _exact_nbytes(v)              # GF-CF's linear term, kept as it is
                print(f"{name} {dtype}: recall@20 {res['recall@20']:.5f}, "
                      f"evaluate {eval_s:.1f} s", flush=True)
                rows.append({
                    "model": name, "dtype": dtype if dtype != "float" else
                    str(getattr(model, "dtype", "float")),
                    "score_dtype": scores[dtype],
                    "recall@20": res["recall@20"], "ndcg@20": res["ndcg@20"],
                    "recall_rel_change_%": 100 * (res["recall@20"] / base["recall@20"] - 1),
                    "within_1%": abs(res["recall@20"] / base["recall@20"] - 1) <= 0.01,
                    "scoring_MB": nbytes / 1e6,
                    "memory_ratio": scoring_nbytes(model) / nbytes,
                    "quantised_part_MB": (nbytes - exact) / 1e6,
                    "quantised_part_ratio": (scoring_nbytes(model) - _exact_nbytes(model))
                    / (nbytes - exact),
                    "score_batch_s": speed[dtype][0],
                    "speed_vs_float": speed["float"][0] / speed[dtype][0],
                    "evaluate_s": eval_s,
                })
            if "product" in speed:
                rows.append({"model": name, "dtype": "float32 U Vᵀ only (no model)",
                             "score_batch_s": speed["product"][0],
                             "speed_vs_float": speed["float"][0] / speed["product"][0]})
    load_end = os.getloadavg()
    notes.append(f"Scoring speed: model.score of {len(batch)} users, the float model, its "
                 f"int8 and float16 versions and (for embedding models) the bare float32 "
                 f"product, round-robin, median of {repeat} rounds; speed_vs_float > 1 means "
                 f"faster than the float model. {threads} thread(s) (mgr.threads). Load average "
                 f"(1, 5, 15 min) at the start {', '.join(f'{x:.2f}' for x in load_start)}, "
                 f"at the end {', '.join(f'{x:.2f}' for x in load_end)}. scoring_MB: the arrays "
                 "model.score reads (minigraphrec.quantization.scoring_nbytes), R_ excluded. "
                 "quantised_part: the same without what stays exact (GF-CF's linear term: R̃, R̃ᵀ "
                 "and its sparse item filter). The row 'float32 U Vᵀ only' times the bare float32 "
                 "BLAS product of the same embeddings (the model's own score computes in float64, "
                 "as minigraphrec.rank.score_matrix does). evaluate_s: one full evaluation (Recall@20, "
                 "NDCG@20), not interleaved: indicative only; evaluate's kernels are compiled "
                 "first, on a tiny synthetic set, so that no variant's time includes their "
                 f"compile. Data: {data_name}, {train.n_users} users, {train.n_items} "
                 f"items, {len(train)} training pairs.")
    out_name = "quantize_smoke" if args.smoke else "quantize_gowalla"
    if len(set(args.models)) == 1 and not args.smoke:
        out_name += "_" + args.models[0]
    paths = write_results(out_name, rows,
                          ["model", "dtype", "recall@20", "ndcg@20", "recall_rel_change_%",
                           "within_1%", "scoring_MB", "memory_ratio", "quantised_part_MB",
                           "quantised_part_ratio", "score_batch_s",
                           "speed_vs_float", "evaluate_s"],
                          out_dir=args.out, notes=" ".join(notes), threads=measured_threads)
    for p in paths:
        print("wrote", p)
    plot_quantize(rows, out_name, args.out, title_of(data_name, len(batch), threads),
                  record=json.loads(Path(paths[0]).read_text()))


if __name__ == "__main__":
    main()
