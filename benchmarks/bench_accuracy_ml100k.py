r"""Benchmark: LightGCN and MF-BPR accuracy on MovieLens-100K (and PyTorch Geometric's LightGCN).

Data: the GroupLens MovieLens-100K folder (``--data DIR``, required but with
``--smoke``; MovieLens forbids redistribution, so none is shipped), every rating as an implicit positive
(:func:`minigraphrec.datasets.load_movielens_100k`), split per user at random
80/20 (:func:`minigraphrec.split.random_split`, ``test_size=0.2``,
``random_state=--split-seed``, default 2020).

Models, the LightGCN paper's settings: 64 dimensions, Adam lr 0.001, batches
of 2048 BPR triples (one epoch = as many triples as training pairs), reg
1e-4, ``--epochs`` epochs (default 300), no early stopping and no model
selection on the test set (the final parameters are evaluated):

* ``LightGCN(dim=64, n_layers=3, ...)`` (minigraphrec), target Recall@20 >= 0.34;
* ``MF(dim=64, ...)`` (minigraphrec, BPR), target Recall@20 >= 0.29;
* with torch and torch_geometric installed, ``torch_geometric.nn.models.LightGCN``
  (``pyg_reference.PyGLightGCN``: full-graph propagation per batch, the same
  loss, ``torch.optim.Adam``, PyG's own Xavier init: one table over users and
  items, bound 0.047 on ML-100K against our 0.077 (users) / 0.059 (items), so
  the same settings but the initial embeddings' scale), trained on the same
  split with triples drawn the same way (``sample_bpr``, its own seed), for
  the same-run comparison; skipped with a message otherwise;
* ``pyg-mf`` (optional, not in the default list): the same PyG model with 0
  layers, i.e. MF-BPR in torch with PyG's init, for a same-run MF reference.

``--inits xavier normal`` trains minigraphrec's models once per ``E0``
initialisation: ``xavier`` (the default, the paper's) and ``normal``
(``N(0, 0.1²)``, the authors' PyTorch port).

Evaluation: :func:`minigraphrec.metrics.evaluate` on the test pairs (full
ranking, each user's training items excluded, users with a test item):
Recall@20, NDCG@20, Precision@20, Hit@20. ``--curve-every N`` also records
Recall@20 / NDCG@20 every N epochs (a learning curve; it does not steer
training). Per-epoch training times are recorded (their median and total;
the per-epoch lists are in the JSON).

``--threads N`` runs numba, BLAS and torch on ``N`` threads
(:func:`_common.use_threads`; without it each keeps its default), recorded
with the results. A training step of minigraphrec's models runs BLAS on one
thread whatever the setting (:func:`minigraphrec.threadpools.serial_blas`).

    python benchmarks/bench_accuracy_ml100k.py --data DIR      # all three, 300 epochs
    python benchmarks/bench_accuracy_ml100k.py --data DIR --models lightgcn mf pyg \
        pyg-mf --inits xavier normal --threads 1
    python benchmarks/bench_accuracy_ml100k.py --data DIR --models lightgcn mf --seeds 2020 1 2
    python benchmarks/bench_accuracy_ml100k.py --smoke --out /tmp/r      # what the tests run
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from _common import (ML100K_FILES, benchmark_parser, ml100k_split, require_data, save_figure,
                     source_digests, threads_text, use_threads, write_results)

DIM, N_LAYERS, LR, BATCH_SIZE, REG = 64, 3, 1e-3, 2048, 1e-4
TARGETS = {"lightgcn": 0.34, "mf": 0.29}            # Recall@20 the issue asks for
METRICS = ("recall", "ndcg", "precision", "hit")


def load_split(args):
    """``(train, test, name)``: MovieLens-100K split 80/20 per user, or a small synthetic set."""
    return ml100k_split(args, 200, 300)


def glorot_bound(rows, dim=DIM):
    """The Glorot-uniform bound of a ``(rows, dim)`` table: ``sqrt(6 / (rows + dim))``."""
    return float(np.sqrt(6.0 / (rows + dim)))


def pyg_bound(train):
    """PyG's ``xavier_uniform_`` bound on its one ``(n_users + n_items, d)`` table."""
    return glorot_bound(train.n_users + train.n_items)


def ours_bounds(train):
    """minigraphrec's ``init="xavier"`` bounds, one Glorot table per side, as text."""
    return (f"{glorot_bound(train.n_users):.3f} (users) / "
            f"{glorot_bound(train.n_items):.3f} (items)")


def scores_of(E, n_users, train, test):
    """Recall/NDCG/Precision/Hit@20 of fixed final embeddings ``E`` (users first)."""
    from minigraphrec.metrics import evaluate
    from pyg_reference import FixedEmbeddings
    return evaluate(FixedEmbeddings(E, n_users, train), test, k=20, metrics=METRICS)


def final_embeddings(model):
    """The model's current final embeddings ``E`` (n_nodes, d), from its parameters."""
    from minigraphrec.ops import lightgcn_forward
    E0 = model.params["E0"]
    if getattr(model, "n_layers", 0) == 0:
        return E0
    E, _ = lightgcn_forward(model.A_hat_, E0, int(model.n_layers))
    return E


def train_ours(kind, train, test, epochs, seed, curve_every, init="xavier"):
    """Fit minigraphrec's LightGCN or MF; ``(metrics dict, epoch times, curve)``."""
    from minigraphrec.metrics import evaluate
    from minigraphrec.models.lightgcn import LightGCN
    from minigraphrec.models.mf import MF
    common = dict(dim=DIM, lr=LR, batch_size=BATCH_SIZE, reg=REG, epochs=epochs,
                  random_state=seed, init=init)
    model = LightGCN(n_layers=N_LAYERS, **common) if kind == "lightgcn" else MF(**common)
    curve = []

    def callback(record):
        if curve_every and (record["epoch"] % curve_every == 0 or record["epoch"] == epochs):
            m = scores_of(final_embeddings(model), train.n_users, train, test)
            curve.append({"epoch": record["epoch"], "loss": record["loss"],
                          "recall@20": m["recall@20"], "ndcg@20": m["ndcg@20"]})
            print(f"  {kind} epoch {record['epoch']}: loss {record['loss']:.4f}, Recall@20 "
                  f"{m['recall@20']:.4f}, NDCG@20 {m['ndcg@20']:.4f}", flush=True)

    model.fit(train, callback=callback)
    metrics = evaluate(model, test, k=20, metrics=METRICS)
    return metrics, [r["time"] for r in model.history_], curve


def train_pyg(train, test, epochs, seed, curve_every, adjacency, n_layers=N_LAYERS):
    """Train PyG's LightGCN the same way; ``(metrics dict, epoch times, curve)``."""
    from pyg_reference import PyGLightGCN
    R = train.to_csr()
    pyg = PyGLightGCN(R, DIM, n_layers, LR, REG, adjacency=adjacency, seed=seed)
    rng = np.random.default_rng(seed)
    times, curve = [], []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        loss, _, _ = pyg.train_epoch(R, rng, BATCH_SIZE)
        times.append(time.perf_counter() - t0)
        if curve_every and (epoch % curve_every == 0 or epoch == epochs):
            m = scores_of(pyg.final_embeddings(), train.n_users, train, test)
            curve.append({"epoch": epoch, "loss": loss,
                          "recall@20": m["recall@20"], "ndcg@20": m["ndcg@20"]})
            print(f"  pyg ({n_layers} layers) epoch {epoch}: loss {loss:.4f}, Recall@20 "
                  f"{m['recall@20']:.4f}, NDCG@20 {m['ndcg@20']:.4f}", flush=True)
    return scores_of(pyg.final_embeddings(), train.n_users, train, test), times, curve


def plot_accuracy(rows, name, out_dir, curves=None):
    """Final test Recall@20 / NDCG@20 per model (bars, the issue's Recall@20 target as a black
    tick) and, given the JSON's ``curves``, test Recall@20 against the epoch; one PNG."""
    from minigraphrec import plot
    ok = [r for r in rows if r.get("recall@20") is not None]
    if not ok:
        return None
    curves = {k: c for k, c in (curves or {}).items() if c}
    several_seeds = len({r["seed"] for r in ok}) > 1
    labels = [r["model"] + (f", seed {r['seed']}" if several_seeds else "") for r in ok]
    ncols = 2 if curves else 1
    fig, axes = plot.subplots(1, ncols, figsize=(6.4 * ncols, 0.5 * len(ok) + 2.6),
                              squeeze=False)
    ax = axes[0, 0]
    y = np.arange(len(ok))[::-1]                     # first row on top
    h = 0.38
    ax.barh(y + h / 2, [r["recall@20"] for r in ok], h, color="#4C72B0", label="Recall@20")
    ax.barh(y - h / 2, [r["ndcg@20"] for r in ok], h, color="#DD8452", label="NDCG@20")
    for yi, r in zip(y, ok):
        for dy, key in ((h / 2, "recall@20"), (-h / 2, "ndcg@20")):
            ax.text(r[key] + 0.004, yi + dy, f"{r[key]:.3f}", va="center", fontsize=7)
    targets = [(yi, r["target_recall@20"]) for yi, r in zip(y, ok)
               if isinstance(r.get("target_recall@20"), (int, float))
               and not isinstance(r.get("target_recall@20"), bool)]
    if targets:
        ax.scatter([t for _, t in targets], [yi + h / 2 for yi, _ in targets], marker="|",
                   s=260, linewidths=2.2, color="black", zorder=3,
                   label="Recall@20 target")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(0, max(max(r["recall@20"], r["ndcg@20"]) for r in ok) * 1.45)  # legend room
    ax.set_xlabel("test metric at k = 20 (final parameters)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    epochs = sorted({r["epochs"] for r in ok})
    ax.set_title(f"after {', '.join(map(str, epochs))} epochs", fontsize=10)
    if curves:
        ax = axes[0, 1]
        markers = ("o", "s", "^", "D", "v", "P", "X", "*")
        seen = {"MF": 0, "LightGCN": 0}
        for i, (label, curve) in enumerate(curves.items()):
            # dashed for MF, solid for LightGCN, and each curve its own marker and (within a
            # family) line style: never told apart by colour alone (red against green)
            family = "MF" if "MF" in label else "LightGCN"
            style = (("--", ":") if family == "MF" else ("-", "-."))[seen[family] % 2]
            seen[family] += 1
            ax.plot([c["epoch"] for c in curve], [c["recall@20"] for c in curve],
                    linestyle=style, color=f"C{i % 10}", marker=markers[i % len(markers)],
                    markersize=3.5, label=label)
        for kind, target in TARGETS.items():
            if targets:
                ax.axhline(target, color="gray", linestyle=":", linewidth=1)
                ax.annotate(f"{'LightGCN' if kind == 'lightgcn' else 'MF'}\ntarget",
                            (1.01, target), xycoords=("axes fraction", "data"),
                            va="center", fontsize=7, color="dimgray")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test Recall@20")
        ax.set_title("learning curves (they do not steer training)", fontsize=10)
        ax.legend(fontsize=6.5, loc="best")
        ax.grid(alpha=0.3)
    data = "ML-100K" if targets else "synthetic data (smoke)"
    fig.suptitle(f"LightGCN and MF-BPR on {data}: test accuracy")
    return save_figure(fig, name, out_dir)


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0], repeat=False,
        smoke="a synthetic 200 x 300 set instead of ML-100K, 3 epochs, a curve point every epoch")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the unpacked MovieLens-100K folder, ml-100k/ with u.data (required but with --smoke)")
    parser.add_argument("--epochs", type=int, default=300, help="training epochs (default 300)")
    parser.add_argument("--split-seed", type=int, default=2020, help="seed of the 80/20 split")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2020],
                        help="model seeds (init and triples); one row per model and seed")
    parser.add_argument("--models", nargs="+", default=["lightgcn", "mf", "pyg"],
                        choices=["lightgcn", "mf", "pyg", "pyg-mf"], help="what to train")
    parser.add_argument("--curve-every", type=int, default=25,
                        help="record test Recall/NDCG@20 every N epochs (0: never)")
    parser.add_argument("--adjacency", default="csr_normalized_int32",
                        help="PyG adjacency variant (see pyg_reference.ADJACENCIES)")
    parser.add_argument("--inits", nargs="+", default=["xavier"], choices=["xavier", "normal"],
                        help="E0 initialisations of minigraphrec's models (default: xavier, "
                             "the paper's and the models' default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for numba, BLAS and torch (_common.use_threads; default: "
                             "the libraries' defaults, as the environment sets them)")
    args = parser.parse_args()
    require_data(args, "the unpacked MovieLens-100K folder", files=ML100K_FILES)
    if args.smoke:
        args.epochs, args.curve_every = 3, 1
    load_start = os.getloadavg()

    from pyg_reference import torch_status
    models = list(args.models)
    status = None
    if "pyg" in models or "pyg-mf" in models:
        ok, status = torch_status()
        if ok:
            warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
            print(f"PyTorch Geometric reference: {status}", flush=True)
        else:
            print(f"skipping the PyTorch Geometric reference: {status}", flush=True)
            models = [m for m in models if not m.startswith("pyg")]
    pyg = any(m.startswith("pyg") for m in models)
    with use_threads(args.threads, load_torch=pyg) as threads:
        if "torch" in threads and status:
            status = status.rsplit(",", 1)[0] + f", {threads['torch']} threads"
        print(f"threads: {threads}", flush=True)
        rows, curves, name, train, test = run(args, models)
    load = os.getloadavg()
    write(args, rows, curves, name, train, test, load_start, load, status, threads)


def run(args, models):
    """Train and evaluate every model and seed; ``(rows, curves, name, train, test)``."""
    train, test, name = load_split(args)
    print(f"{name}: {train.n_users} users, {train.n_items} items; {len(train)} train, "
          f"{len(test)} test rows (split seed {args.split_seed})", flush=True)

    rows, curves = [], {}
    runs = [(kind, init) for kind in models
            for init in ([None] if kind.startswith("pyg") else args.inits)]
    for seed in args.seeds:
        for kind, init in runs:
            t0 = time.perf_counter()
            if kind.startswith("pyg"):
                n_layers = 0 if kind == "pyg-mf" else N_LAYERS
                metrics, times, curve = train_pyg(train, test, args.epochs, seed,
                                                  args.curve_every, args.adjacency, n_layers)
                label = ("PyG LightGCN, 0 layers (MF-BPR)" if n_layers == 0
                         else f"PyG LightGCN ({args.adjacency})")
            else:
                metrics, times, curve = train_ours(kind, train, test, args.epochs, seed,
                                                   args.curve_every, init)
                label = {"lightgcn": "minigraphrec LightGCN",
                         "mf": "minigraphrec MF-BPR"}[kind] + f" (init {init})"
            wall = time.perf_counter() - t0
            target = None if args.smoke else TARGETS.get(kind)     # targets are for ML-100K
            row = {"model": label, "seed": seed, "epochs": args.epochs,
                   "recall@20": metrics["recall@20"], "ndcg@20": metrics["ndcg@20"],
                   "precision@20": metrics["precision@20"], "hit@20": metrics["hit@20"],
                   "n_users_evaluated": metrics["n_users"],
                   "median_epoch_s": statistics.median(times), "train_s": sum(times),
                   "wall_s": wall,
                   "target_recall@20": target if target is not None else "",
                   "meets_target": (metrics["recall@20"] >= target) if target is not None
                   else "", "epoch_times_s": times}
            rows.append(row)
            curves[f"{label}, seed {seed}"] = curve
            print(f"{label}, seed {seed}: Recall@20 {row['recall@20']:.4f}, NDCG@20 "
                  f"{row['ndcg@20']:.4f}; median epoch {row['median_epoch_s']:.3f} s, "
                  f"train {row['train_s']:.1f} s"
                  + (f"; target {target} {'met' if row['meets_target'] else 'MISSED'}"
                     if target is not None else ""), flush=True)
    return rows, curves, name, train, test


def write(args, rows, curves, name, train, test, load_start, load, status, threads):
    """The results (JSON, Markdown, PNG) of :func:`run`; exits non-zero if a target was
    missed."""
    notes = (
        f"{name}: {train.n_users} users, {train.n_items} items, {len(train)} train / "
        f"{len(test)} test rows, per-user random 80/20 split (random_split, seed "
        f"{args.split_seed}), ratings as implicit feedback. {DIM} dims, LightGCN {N_LAYERS} "
        f"layers, Adam lr {LR}, batch {BATCH_SIZE}, reg {REG}, BPR, {args.epochs} epochs, final "
        f"parameters (no early stopping). Metrics: minigraphrec.metrics.evaluate on the test "
        f"pairs, full ranking, training items excluded. Targets (issue 3): LightGCN Recall@20 "
        f">= {TARGETS['lightgcn']}, MF-BPR >= {TARGETS['mf']}. median_epoch_s: median "
        f"training time of one epoch (sampling included, evaluation not). init: E0's "
        f"initialisation (xavier: a Glorot-uniform table per side, as the LightGCN paper "
        f"states and the models' default; normal: N(0, 0.1^2), the authors' PyTorch port). "
        f"PyG initialises its one (users + items) table with xavier_uniform_ (bound "
        f"sqrt(6 / (n_users + n_items + d)), {pyg_bound(train):.3f} here, against "
        f"{ours_bounds(train)} for ours): the same settings but the initial embeddings' "
        f"scale. Threads: {threads_text(threads)}. Load average (1, 5, 15 min) at the start: "
        f"{load_start[0]:.2f}, {load_start[1]:.2f}, {load_start[2]:.2f}; at the end: "
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}."
        + (f" PyG reference: {status}." if status else "")
    )
    columns = ["model", "seed", "epochs", "recall@20", "ndcg@20", "median_epoch_s", "train_s",
               "target_recall@20", "meets_target"]
    stem = "accuracy_ml100k" + ("_smoke" if args.smoke else "")
    lines = []
    if any(curves.values()):
        lines = ["", "Learning curves (test Recall@20 / NDCG@20; they do not steer training):", ""]
        for label, curve in curves.items():
            lines.append(f"- {label}: " + ", ".join(
                f"{c['epoch']}: {c['recall@20']:.4f} / {c['ndcg@20']:.4f}" for c in curve))
    json_path, md_path = write_results(
        stem, rows, columns, out_dir=args.out, notes=notes, threads=threads,
        after_rows={"curves": curves, "sources": source_digests(),
                    "load_average_start": list(load_start), "load_average_end": list(load)},
        md_after="\n".join(lines) + "\n" if lines else "")
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    plot_accuracy(rows, stem, args.out, curves)
    if not args.smoke and any(r["meets_target"] is False for r in rows):
        sys.exit("a model missed its Recall@20 target (see the table)")


if __name__ == "__main__":
    main()
