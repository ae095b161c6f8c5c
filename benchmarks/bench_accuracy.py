r"""Benchmark: Recall@20, NDCG@20 and fit time of every model on ML-100K, Last.fm and Gowalla.

One table, one row per (data set, model), beside the published figures where
a paper reports this split (the source is named in each row) and PyTorch Geometric's
LightGCN trained with the same settings but the initial embeddings' scale where torch and
torch_geometric are installed (``pyg_reference.py``).

Data (``--data DIR``, required but with ``--smoke`` or ``--plot-only``: the parent folder
holding ``ml-100k/``, ``lastfm/`` and ``gowalla/``; none is shipped):

* ``ml-100k`` -- the GroupLens folder (:func:`minigraphrec.datasets.load_movielens_100k`),
  every rating an implicit positive, split per user at random 80/20
  (:func:`minigraphrec.split.random_split`, seed ``--split-seed``, default 2020),
  as in ``bench_accuracy_ml100k.py`` and ``bench_baselines_ml100k.py``;
* ``lastfm`` -- hetrec-2011 Last.fm as LightGCN-PyTorch ships it: ``data1.txt``
  (train) and ``test1.txt`` (test), tab-separated ``user item count`` with
  1-based ids, read with :func:`minigraphrec.datasets.load_triples`; the
  counts are ignored (implicit feedback). Ids keep the files' numbering
  (id - 1, 1,892 users x 4,489 items, as LightGCN-PyTorch does), so the 41
  test pairs whose item never occurs in training stay in the test set (they
  count as misses) instead of being dropped;
* ``gowalla`` -- the LightGCN paper's split, ``train.txt`` / ``test.txt``
  (:func:`minigraphrec.datasets.load_lightgcn`).

Models and settings (nothing is tuned on the test set; the final parameters
are evaluated, no early stopping):

* ``popularity``; ``itemknn`` and ``userknn`` (cosine, 100 neighbours);
  ``ease`` (l2 = 500; it refuses catalogues above ``max_items`` = 20,000,
  i.e. Gowalla, and the row says so); ``gfcf`` (alpha 0.3, 256 singular
  vectors; SVD solver ``auto`` -- dense LAPACK -- on the two small sets and
  ``--gfcf-solver`` on Gowalla, default ``propack``: exact, it reproduces the
  paper's 0.1849 / 0.1518; the randomized solver is close, not equal (its
  subspace approximates the trailing singular directions): 0.1856 / 0.1531
  with ``n_power_iter=2`` in ``results/gfcf_gowalla_randomized.md``
  (``bench_gfcf_gowalla.py``; this script's GFCF keeps the class default,
  ``n_power_iter=4``, with no recorded Gowalla run); fit times, from
  separate runs, are in ``results/gfcf_gowalla*.md`` (PROPACK 10.4 s, ARPACK
  30.3 s, Chebyshev 40.1 s, randomized 4.8 s); ``auto`` is now PROPACK, or our
  Chebyshev solver where SciPy has it off);
* trained with BPR, Adam, one epoch = as many triples as training pairs:
  ``mf`` and ``lightgcn`` (3 layers) with the LightGCN paper's settings: 64
  dims, lr 1e-3, batch 2048, reg 1e-4, Xavier init; ``ngcf`` with the NGCF
  paper's: 64 dims, 3 layers, lr 1e-4, batch 1024, reg 1e-5, message
  dropout 0.1 (the class defaults); ``gcn`` and ``gat`` with the class
  defaults (64 dims, 2 layers, lr 1e-3, batch 2048, reg 1e-4; GCN symmetric
  with self-loops and ReLU, GAT one head); ``pyg-lightgcn``: PyG's
  ``LightGCN`` with LightGCN's settings, the same loss and triples drawn the
  same way (``pyg_reference.PyGLightGCN``, CSR adjacency, float32), except
  the initial embeddings' scale: PyG draws one Xavier-uniform table over
  users and items, bound ``sqrt(6 / (n_users + n_items + 64))``, ours one per
  side (``sqrt(6 / (n_users + 64))``, ``sqrt(6 / (n_items + 64))``): ML-100K
  0.047 against 0.077 / 0.059 (users / items), Last.fm 0.031 against
  0.055 / 0.036, Gowalla 0.0092 against 0.014 / 0.012.
  ``--epochs`` (default 300) epochs on ML-100K and Last.fm; on Gowalla
  ``--gowalla-epochs`` (default 1000, about what the LightGCN paper's code
  needs) within a wall-time budget per model (``--budget``, minutes, default
  lightgcn=15 mf=5 pyg-lightgcn=8 gcn=5 ngcf=5 gat=5; ``--budget-datasets``
  says which data sets they apply to, default Gowalla only): minigraphrec's
  models stop after the first epoch that ends past the budget (``fit``'s
  epoch callback; at least one epoch always runs), PyG's after the first
  batch past it (its epochs may be fractional), and the ``budget`` column
  says so and how many epochs ran. A budgeted model is NOT at its paper's
  accuracy; its row is a point on its learning curve, and on a shared
  machine how far it gets depends on the load (each row records it).

Evaluation: :func:`minigraphrec.metrics.evaluate` (full ranking over every
item, the user's training items excluded, every user with a test item),
Recall@20 and NDCG@20. ``fit_s`` is the wall time of ``fit`` (training
included, evaluation not), ``eval_s`` that of ``evaluate`` (after a warm-up
evaluation on a tiny synthetic set, :func:`_common.warm_up_evaluate`, so that it leaves
out the kernels' compile time); the machine is shared (each row keeps the
1-minute load average when it finished).

Runs can be partial: ``--datasets`` and ``--models`` select, and each row is
merged into ``<out>/accuracy.json`` as soon as it is measured (replacing an
older row of the same data set and model; ``--fresh`` starts over), so an
interrupted run loses only the model in progress. Each row keeps its own
date, command and load. ``<out>/accuracy.md`` and the plot
``<out>/accuracy_recall.png`` (grouped bars: Recall@20 per model per data
set, the published figures marked) are rewritten from the merged rows.

    python benchmarks/bench_accuracy.py --data DIR --datasets ml-100k lastfm
    python benchmarks/bench_accuracy.py --data DIR --datasets gowalla \
        --models lightgcn pyg-lightgcn --budget lightgcn=20 pyg-lightgcn=10
    python benchmarks/bench_accuracy.py --plot-only           # redraw table and plot
    python benchmarks/bench_accuracy.py --smoke --out /tmp/r  # what the tests run
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from pathlib import Path

from _common import LIGHTGCN_FILES, ML100K_FILES, benchmark_parser, recorded_command, \
    require_data, save_figure, utc_now, warm_up_evaluate, write_results

DATASETS = ("ml-100k", "lastfm", "gowalla")
#: the files :func:`load_dataset` reads in each data set's folder
DATASET_FILES = {"ml-100k": ML100K_FILES, "lastfm": ("data1.txt", "test1.txt"),
                 "gowalla": LIGHTGCN_FILES}
MODELS = ("popularity", "itemknn", "userknn", "ease", "gfcf", "mf", "gcn", "ngcf", "gat",
          "lightgcn", "pyg-lightgcn")
TRAINED = ("mf", "gcn", "ngcf", "gat", "lightgcn", "pyg-lightgcn")
K = 20
NAME = "accuracy"
DEFAULT_BUDGET_MIN = {"lightgcn": 15.0, "mf": 5.0, "pyg-lightgcn": 8.0, "gcn": 5.0, "ngcf": 5.0,
                      "gat": 5.0}
DIM, N_LAYERS, LR, BATCH_SIZE, REG = 64, 3, 1e-3, 2048, 1e-4      # LightGCN paper
PYG_ADJACENCY = "csr_normalized_int32"
GOWALLA_EPOCHS = 1000               # about what the LightGCN paper's code trains on Gowalla

# Published Recall@20 / NDCG@20 on the same split and protocol, with their sources.
SOURCES = {
    "lightgcn-paper": "He et al., LightGCN, SIGIR 2020 (64 dims, 3 layers)",
    "ngcf-paper": "Wang et al., NGCF, SIGIR 2019",
    "gfcf-paper": "Shen et al., GF-CF, CIKM 2021",
    "design-unnamed": "the project's design notes, 'later papers, same split' (no paper "
                      "named there; not checked)",
}
#: sources that name no paper: kept in the table, labelled, but not drawn as "published"
UNSOURCED = {"design-unnamed"}
PUBLISHED = {
    ("gowalla", "lightgcn"): (0.1830, 0.1554, "lightgcn-paper"),
    ("gowalla", "pyg-lightgcn"): (0.1830, 0.1554, "lightgcn-paper"),
    ("gowalla", "ngcf"): (0.1570, 0.1327, "lightgcn-paper"),
    ("gowalla", "gfcf"): (0.1849, 0.1518, "gfcf-paper"),
    ("gowalla", "mf"): (0.1291, 0.1109, "ngcf-paper"),
    ("gowalla", "ease"): (0.1765, 0.1467, "design-unnamed"),
}


# ------------------------------------------------------------------ data
def load_lastfm(folder):
    """``(train, test)``: LightGCN-PyTorch's Last.fm files, ids - 1, 1,892 x 4,489 id space."""
    import numpy as np
    from minigraphrec.data import Interactions
    from minigraphrec.datasets import load_triples
    folder = Path(folder)
    parts = [load_triples(folder / f, sep="\t", header=False) for f in ("data1.txt", "test1.txt")]

    def raw(part):
        users = part.user_ids.astype(np.int64)[part.users] - 1            # (n,)
        items = part.item_ids.astype(np.int64)[part.items] - 1
        return users, items
    (tu, ti), (su, si) = raw(parts[0]), raw(parts[1])
    n_users = int(max(tu.max(), su.max())) + 1
    n_items = int(max(ti.max(), si.max())) + 1
    return (Interactions(tu, ti, n_users=n_users, n_items=n_items),
            Interactions(su, si, n_users=n_users, n_items=n_items))


def load_dataset(name, data_dir, split_seed):
    """``(train, test)`` of one data set (see the module doc)."""
    from minigraphrec.datasets import load_lightgcn, load_movielens_100k, synthetic
    from minigraphrec.split import random_split
    if name == "synthetic":
        data = synthetic(n_users=150, n_items=200, mean_interactions=12, random_state=0)
        return random_split(data, test_size=0.2, random_state=split_seed)
    folder = Path(data_dir) / name
    if not folder.is_dir():
        raise SystemExit(f"no {name} folder at {folder}; pass --data DIR (the folder holding "
                         f"{', '.join(DATASETS)})")
    if name == "ml-100k":                     # the split of the other ML-100K benchmarks
        return random_split(load_movielens_100k(folder), test_size=0.2, random_state=split_seed)
    if name == "lastfm":
        return load_lastfm(folder)
    if name == "gowalla":
        return load_lightgcn(folder / "train.txt", folder / "test.txt")
    raise SystemExit(f"unknown data set {name!r}")


# ------------------------------------------------------------------ models
def make_model(name, dataset, args, seed):
    """``(model, settings text)``; ``model`` is None for ``pyg-lightgcn``."""
    from minigraphrec.models import (EASE, GAT, GCN, GFCF, MF, NGCF, ItemKNN, LightGCN,
                                     Popularity, UserKNN)
    trained = dict(dim=DIM, lr=LR, batch_size=BATCH_SIZE, reg=REG, loss="bpr",
                   random_state=seed)
    paper = f"{DIM} dims, Adam lr {LR:g}, batch {BATCH_SIZE}, reg {REG:g}, BPR"
    if name == "popularity":
        return Popularity(), "training users per item"
    if name == "itemknn":
        return ItemKNN(), "cosine, 100 neighbours"
    if name == "userknn":
        return UserKNN(), "cosine, 100 neighbours"
    if name == "ease":
        return EASE(), "l2 500, max_items 20000"
    if name == "gfcf":
        solver = args.gfcf_solver if dataset == "gowalla" else "auto"
        n_factors = 16 if args.smoke else 256
        return (GFCF(alpha=0.3, n_factors=n_factors, svd_solver=solver),
                f"alpha 0.3, {n_factors} singular vectors, SVD solver {solver}")
    if name == "mf":
        return MF(init="xavier", **trained), paper + ", Xavier init"
    if name == "lightgcn":
        return (LightGCN(n_layers=N_LAYERS, init="xavier", **trained),
                f"{N_LAYERS} layers, " + paper + ", Xavier init")
    if name == "ngcf":
        m = NGCF(random_state=seed)
        return m, (f"{m.n_layers} layers, {m.dim} dims, Adam lr {m.lr:g}, batch {m.batch_size}, "
                   f"reg {m.reg:g}, message dropout {m.message_dropout:g}, BPR, {m.init} init "
                   "(NGCF paper)")
    if name == "gcn":
        m = GCN(random_state=seed)
        return m, (f"{m.n_layers} layers, {m.dim} dims, {m.normalization} norm, self-loops "
                   f"{m.self_loops}, {m.activation}, Adam lr {m.lr:g}, batch {m.batch_size}, "
                   f"reg {m.reg:g}, BPR, {m.init} init")
    if name == "gat":
        m = GAT(random_state=seed)
        return m, (f"{m.n_layers} layers, {m.dim} dims, {m.n_heads} head(s), Adam lr {m.lr:g}, "
                   f"batch {m.batch_size}, reg {m.reg:g}, BPR, {m.init} init")
    if name == "pyg-lightgcn":
        return None, (f"torch_geometric LightGCN, {N_LAYERS} layers, " + paper
                      + f", PyG Xavier init (one table over users and items), "
                        f"{PYG_ADJACENCY} adjacency, float32")
    raise SystemExit(f"unknown model {name!r}")


class _BudgetReached(Exception):
    """Raised from the epoch callback to end a fit at its wall-time budget."""


def fit_trained(model, train, epochs, budget_s):
    """Fit an EmbeddingRecommender for ``epochs``, stopping after the epoch that ends past
    ``budget_s`` wall seconds (None: no budget). Returns the number of epochs run."""
    t0 = time.perf_counter()

    def callback(record):
        if budget_s is not None and record["epoch"] < epochs \
                and time.perf_counter() - t0 >= budget_s:
            raise _BudgetReached
    with contextlib.suppress(_BudgetReached):
        model.fit(train, epochs=epochs, callback=callback)   # fit refreshes E on the way out
    return len(model.history_)


def fit_pyg(train, epochs, budget_s, seed, threads):
    """Train PyG's LightGCN (same settings, loss and triple sampling) on ``threads`` threads.

    Returns ``(model, epochs run, torch's thread count while training)``; the budget is
    checked after every batch (a PyG epoch on Gowalla is minutes), so the epochs run may be
    fractional (batches done / per epoch).

    torch's count is set here, not at start-up: torch and numba's OpenMP layer share one
    ``libgomp``, and numba sets that library's count to its own pool size when the pool
    starts (its first parallel kernel, or ``numba.set_num_threads``), which silently undid a
    ``torch.set_num_threads`` made before (seen on 2026-12-04: the "1 thread" PyG rows had
    run on 2).
    """
    import numba
    import numpy as np
    import torch
    from pyg_reference import FixedEmbeddings, PyGLightGCN
    numba.get_num_threads()                           # starts numba's pool if it is not up
    torch.set_num_threads(threads)
    R = train.to_csr()
    t0 = time.perf_counter()
    pyg = PyGLightGCN(R, DIM, N_LAYERS, LR, REG, adjacency=PYG_ADJACENCY, seed=seed)
    rng = np.random.default_rng(seed)

    def over_budget():
        return budget_s is not None and time.perf_counter() - t0 >= budget_s
    done = 0
    for e in range(epochs):
        _, ran, per_epoch = pyg.train_epoch(R, rng, BATCH_SIZE, stop=over_budget)
        if ran < per_epoch or (e + 1 < epochs and over_budget()):
            done += ran / per_epoch                  # the budget ended training here
            return FixedEmbeddings(pyg.final_embeddings(), train.n_users, train), \
                round(done, 3), torch.get_num_threads()
        done += 1
    return (FixedEmbeddings(pyg.final_embeddings(), train.n_users, train), int(done),
            torch.get_num_threads())


# ------------------------------------------------------------------ results
def _lock(out_dir):
    """An exclusive lock (a file in the temporary folder, named after ``out_dir``) while the
    merged rows are rewritten, so that runs in parallel do not lose each other's rows."""
    import fcntl
    import hashlib
    import tempfile
    out_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"minigraphrec-{NAME}-{key}.lock"

    @contextlib.contextmanager
    def held():
        with open(lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    return held()


def _order(row):
    ds = row["dataset"]
    return (DATASETS.index(ds) if ds in DATASETS else -1,
            MODELS.index(row["model"]) if row["model"] in MODELS else len(MODELS))


NOTES = (
    "One row per data set and model; each row was measured by the command, on the date and at "
    "the 1-minute load average (`load`) it records in accuracy.json. Metrics: "
    "minigraphrec.metrics.evaluate, full ranking, training items excluded, every user with a "
    "test item. fit_s: wall time of fit (training included), eval_s: of evaluate; the machine "
    "(2 cores) was shared with other jobs. Settings per row in `settings` (trained models: "
    "BPR, one epoch = as many triples as training pairs, final parameters, no early stopping). "
    "`budget`: empty = the planned epochs all ran; otherwise the wall-time budget that ended "
    "training and how many epochs ran (such a row is a point on the learning curve, not the "
    "model's converged accuracy). ML-100K: per-user random 80/20 split, seed 2020; Last.fm: "
    "LightGCN-PyTorch's data1/test1 files; Gowalla: the LightGCN paper's split. Published "
    "figures (Gowalla only; no paper we know of reports these ML-100K or Last.fm splits): "
    + "; ".join(f"[{k}] {v}" for k, v in SOURCES.items()) + ". pyg-lightgcn: lightgcn's "
    "settings, loss and triple sampling, but not its initial embeddings' scale: PyG draws "
    "one Xavier-uniform table over users and items (bound sqrt(6 / (n_users + n_items + 64)): "
    "ML-100K 0.047, Last.fm 0.031, Gowalla 0.0092), ours one per side (ML-100K 0.077 / 0.059, "
    "Last.fm 0.055 / 0.036, Gowalla 0.014 / 0.012, users / items)."
)
COLUMNS = ["dataset", "model", "recall@20", "ndcg@20", "published", "fit_s", "eval_s", "epochs",
           "budget", "status", "settings"]


def _notes(rows, missing, corrections):
    """The results' notes: :data:`NOTES`, the commands that measured the rows (each row
    records its own), the pairs with no row, then the dated corrections, each as written."""
    commands = list(dict.fromkeys(r["command"] for r in rows if r.get("command")))
    text = NOTES
    if commands:
        text += (" The rows were measured by these commands (each row's `command` in "
                 "accuracy.json; this table and accuracy_recall.png were then rebuilt from the "
                 "rows by the command above): " + "; ".join(f"`{c}`" for c in commands) + ".")
    if missing:
        text += f" Not measured (no row): {', '.join(missing)}."
    return " ".join([text, *corrections])


def write_merged(new_rows, out_dir, fresh=False, smoke=False):
    """Merge ``new_rows`` into ``<out>/<name>.json`` (same data set and model replaced) and
    rewrite the JSON, the Markdown table and the plot; return the merged rows.

    The notes are rebuilt from the rows (:func:`_notes`); the record's ``corrections``, a
    list of dated notes written by hand (a row corrected without re-running it, a caveat
    found later), are carried over to every rewrite, and dropped by ``fresh``."""
    name = NAME + ("_smoke" if smoke else "")
    out_dir = Path(out_dir)
    with _lock(out_dir):
        path = out_dir / f"{name}.json"
        record = {} if fresh or not path.exists() else json.loads(path.read_text())
        old = record.get("rows", [])
        corrections = record.get("corrections", [])      # dated notes, kept until --fresh
        for r in old + list(new_rows):                # "" from an older writer means missing
            for key in ("recall@20", "ndcg@20", "fit_s", "eval_s", "published_recall@20",
                        "published_ndcg@20", "published_source"):
                if r.get(key) == "":
                    r[key] = None
        keys = {(r["dataset"], r["model"]) for r in new_rows}
        rows = sorted([r for r in old if (r["dataset"], r["model"]) not in keys] + new_rows,
                      key=_order)
        for r in rows:
            r["published"] = (f"{r['published_recall@20']:.4f} / {r['published_ndcg@20']:.4f} "
                              f"[{r['published_source']}]"
                              if r.get("published_recall@20") is not None else "")
        present = {(r["dataset"], r["model"]) for r in rows}
        seen = [d for d in DATASETS if any(r["dataset"] == d for r in rows)]
        missing = [f"{d} {m}" for d in seen for m in MODELS if (d, m) not in present]
        notes = _notes(rows, missing, corrections)
        blank = [{k: ("" if v is None else v) for k, v in r.items()} for r in rows]
        write_results(name, rows, COLUMNS, out_dir=out_dir, notes=notes, md_rows=blank,
                      extra={"corrections": corrections} if corrections else None)
        plot_recall(rows, out_dir, name)
    return rows


def plot_recall(rows, out_dir, name):
    """Grouped bars: Recall@20 per model (x) and data set (bars); published figures marked."""
    import numpy as np
    from minigraphrec import plot
    ok = [r for r in rows if r.get("recall@20") is not None]
    if not ok:
        return None
    datasets = [d for d in DATASETS + ("synthetic",) if any(r["dataset"] == d for r in rows)]
    models = [m for m in MODELS if any(r["model"] == m for r in rows)]
    fig, ax = plot.subplots(figsize=(11, 4.6))
    width = 0.8 / len(datasets)
    colors = ["#4C72B0", "#DD8452", "#55A868", "#8172B3"]
    for j, ds in enumerate(datasets):
        x = np.arange(len(models)) + (j - (len(datasets) - 1) / 2) * width
        by_model = {r["model"]: r for r in rows if r["dataset"] == ds}
        heights = [by_model[m]["recall@20"] if m in by_model and by_model[m].get("recall@20")
                   is not None else 0.0 for m in models]
        budgeted = [bool(by_model.get(m, {}).get("budget")) for m in models]
        bars = ax.bar(x, heights, width, label=ds, color=colors[j % len(colors)])
        for bar, b, m in zip(bars, budgeted, models):
            r = by_model.get(m)
            if b:
                bar.set_hatch("///")
                bar.set_edgecolor("white")
                ax.text(bar.get_x() + width / 2, bar.get_height() + 0.004,
                        f"{r['epochs']:g} ep", rotation=90, ha="center", va="bottom",
                        fontsize=6.5)
            if r is None or r.get("recall@20") is None:
                text = ("not run" if r is None else "refused" if "refused" in r["status"]
                        else "error")
                ax.text(bar.get_x() + width / 2, 0.004, text, rotation=90, ha="center",
                        va="bottom", fontsize=6.5, color="dimgray")
        pub = [(xi, by_model[m]["published_recall@20"]) for xi, m in zip(x, models)
               if m in by_model and by_model[m].get("published_recall@20") is not None
               and by_model[m].get("published_source") not in UNSOURCED]
        if pub:
            ax.scatter([p[0] for p in pub], [p[1] for p in pub], marker="_", s=220,
                       linewidths=2.2, color="black", zorder=3,
                       label=f"published, a named paper ({ds})" if len(datasets) > 1
                       else "published, a named paper")
    top = max([r["recall@20"] for r in ok]
              + [r["published_recall@20"] for r in rows if r.get("published_recall@20")
                 and r.get("published_source") not in UNSOURCED])
    ax.set_ylim(0, top * 1.15)                        # room for the epoch labels
    ax.set_xticks(np.arange(len(models)))
    ax.set_xticklabels(models, rotation=20)
    ax.set_xlabel("model")
    ax.set_ylabel("Recall@20 (test)")
    ax.set_title("Recall@20 per model and data set (hatched: training cut short by a "
                 "wall-time budget or epoch cap, after the epochs written above it)", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, f"{name}_recall", out_dir)    # the variable restored after


# ------------------------------------------------------------------ main
def parse_budget(specs):
    """``["lightgcn=15", ...]`` -> ``{model: minutes}`` over :data:`DEFAULT_BUDGET_MIN`."""
    budget = dict(DEFAULT_BUDGET_MIN)
    for spec in specs or []:
        model, _, minutes = spec.partition("=")
        if model not in TRAINED or not minutes:
            raise SystemExit(f"--budget takes MODEL=MINUTES with MODEL in {', '.join(TRAINED)}; "
                             f"got {spec!r}")
        budget[model] = float(minutes)
    return budget


def run_one(dataset, model_name, train, test, args, budget_min, command):
    """Fit and evaluate one model on one data set; the result row."""
    from minigraphrec.metrics import evaluate
    model, settings = make_model(model_name, dataset, args, args.seed)
    trained = model_name in TRAINED
    if args.smoke:
        planned = 2
    elif dataset == "gowalla":
        planned = args.gowalla_epochs
    else:
        planned = args.epochs
    budget_s = (budget_min[model_name] * 60.0
                if trained and dataset in args.budget_datasets and not args.smoke else None)
    row = {"dataset": dataset, "model": model_name, "settings": settings, "status": "ok",
           "recall@20": None, "ndcg@20": None, "fit_s": None, "eval_s": None,
           "epochs": planned if trained else "", "budget": "", "seed": args.seed,
           "threads": args.threads}
    pub = PUBLISHED.get((dataset, model_name))
    row.update({"published_recall@20": pub[0] if pub else None,
                "published_ndcg@20": pub[1] if pub else None,
                "published_source": pub[2] if pub else None,
                "published_source_text": SOURCES[pub[2]] if pub else None})
    row.update({"date": utc_now(), "command": command})
    t0 = time.perf_counter()
    try:
        if model_name == "pyg-lightgcn":
            model, done, row["torch_threads"] = fit_pyg(train, planned, budget_s, args.seed,
                                                        args.threads)
            row["settings"] += f", torch on {row['torch_threads']} thread(s)"
        elif trained:
            done = fit_trained(model, train, planned, budget_s)
        else:
            model.fit(train)
            done = None
    except Exception as exc:                          # noqa: BLE001 -- recorded in the row
        row["fit_s"] = time.perf_counter() - t0
        refused = isinstance(exc, ValueError) and "max_items" in str(exc)   # EASE's own refusal
        row["status"] = (f"refused: {exc}" if refused
                         else f"error: {type(exc).__name__}: {exc}")
        row["load"] = round(os.getloadavg()[0], 2)
        print(f"  {dataset} {model_name}: {row['status']}", flush=True)
        return row
    row["fit_s"] = time.perf_counter() - t0
    if trained:
        row["epochs"] = done
        if done < planned:
            row["budget"] = (f"{budget_min[model_name]:g} min: {done} of {planned} epochs")
        elif dataset == "gowalla" and planned < GOWALLA_EPOCHS and not args.smoke:
            row["budget"] = f"capped at {planned} of {GOWALLA_EPOCHS} epochs (--gowalla-epochs)"
    t0 = time.perf_counter()
    try:
        m = evaluate(model, test, k=K, metrics=("recall", "ndcg"))
    except Exception as exc:                          # noqa: BLE001 -- recorded in the row
        row["eval_s"] = time.perf_counter() - t0
        row["status"] = f"evaluate error: {type(exc).__name__}: {exc}"
        row["load"] = round(os.getloadavg()[0], 2)
        print(f"  {dataset} {model_name}: {row['status']}", flush=True)
        return row
    row["eval_s"] = time.perf_counter() - t0
    row.update({"recall@20": m["recall@20"], "ndcg@20": m["ndcg@20"],
                "n_users_evaluated": m["n_users"]})
    row["load"] = round(os.getloadavg()[0], 2)
    return row


def main(argv=None):
    parser = benchmark_parser(
        __doc__.splitlines()[0], repeat=False,
        smoke="every chosen model on a synthetic 150 x 200 set instead of the data sets, the "
              "trained ones for 2 epochs")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help=f"parent folder of {', '.join(DATASETS)} (required but with "
                             "--smoke or --plot-only)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS,
                        help="data sets to run, each a folder in --data (default all)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        help="models to run (default all; pyg-lightgcn is skipped where "
                             "PyTorch Geometric is not installed)")
    parser.add_argument("--epochs", type=int, default=300,
                        help="epochs of the trained models on ML-100K and Last.fm (default 300)")
    parser.add_argument("--gowalla-epochs", type=int, default=GOWALLA_EPOCHS,
                        help="planned epochs on Gowalla, cut by --budget (default 1000)")
    parser.add_argument("--budget", nargs="*", metavar="MODEL=MIN",
                        help="wall-time budget in minutes per trained model (defaults: "
                             + " ".join(f"{k}={v:g}" for k, v in DEFAULT_BUDGET_MIN.items())
                             + ")")
    parser.add_argument("--budget-datasets", nargs="*", default=["gowalla"], choices=DATASETS,
                        help="data sets the budgets apply to (default gowalla)")
    parser.add_argument("--gfcf-solver", default="propack",
                        choices=["arpack", "propack", "randomized", "chebyshev"],
                        help="GF-CF's SVD solver on Gowalla (default propack)")
    parser.add_argument("--split-seed", type=int, default=2020, help="ML-100K split seed")
    parser.add_argument("--seed", type=int, default=2020, help="model seed (init, triples)")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba, BLAS and torch threads (default 1: the machine is shared)")
    parser.add_argument("--fresh", action="store_true",
                        help="do not merge with the rows already in accuracy.json")
    parser.add_argument("--plot-only", action="store_true",
                        help="rewrite the table and plot from accuracy.json, run nothing")
    args = parser.parse_args(argv)
    budget_min = parse_budget(args.budget)
    if args.plot_only:
        write_merged([], args.out)
        print((Path(args.out) / f"{NAME}.md").read_text())
        return
    what = f"the parent folder of {', '.join(d + '/' for d in args.datasets)}"
    require_data(args, what, files=[f"{d}/{f}" for d in args.datasets for f in DATASET_FILES[d]])
    import minigraphrec as mgr

    models = list(args.models)
    if "pyg-lightgcn" in models:
        from pyg_reference import torch_status
        ok, status = torch_status()
        if ok:
            import torch
            torch.set_num_threads(args.threads)
            warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
            status = status.rsplit(",", 1)[0] + f", {torch.get_num_threads()} thread(s)"
        else:
            models.remove("pyg-lightgcn")
        print(("PyTorch Geometric reference: " if ok else "skipping pyg-lightgcn: ") + status,
              flush=True)
    datasets = ["synthetic"] if args.smoke else list(args.datasets)
    Path(args.out).mkdir(parents=True, exist_ok=True)     # so that the command names it
    command = recorded_command()
    with mgr.threads(args.threads):
        warm_up_evaluate(k=K)                         # eval_s then times the evaluation only
        for ds in datasets:
            t0 = time.perf_counter()
            train, test = load_dataset(ds, args.data, args.split_seed)
            print(f"{ds}: {train.n_users} users, {train.n_items} items, {len(train)} train / "
                  f"{len(test)} test pairs (loaded in {time.perf_counter() - t0:.1f} s)",
                  flush=True)
            for name in models:
                row = run_one(ds, name, train, test, args, budget_min, command)
                row.update({"n_users": train.n_users, "n_items": train.n_items,
                            "n_train": len(train), "n_test": len(test)})
                if row["recall@20"] is not None:
                    print(f"  {ds} {name}: Recall@20 {row['recall@20']:.4f}, NDCG@20 "
                          f"{row['ndcg@20']:.4f}; fit {row['fit_s']:.1f} s, eval "
                          f"{row['eval_s']:.1f} s" + (f", epochs {row['epochs']}"
                                                      if row['epochs'] != "" else "")
                          + (f" (budget {row['budget']})" if row["budget"] else "")
                          + f"; load {row['load']}", flush=True)
                write_merged([row], args.out, fresh=args.fresh, smoke=args.smoke)
                args.fresh = False                    # the first row started over; merge after
    stem = NAME + ("_smoke" if args.smoke else "")
    print((Path(args.out) / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
