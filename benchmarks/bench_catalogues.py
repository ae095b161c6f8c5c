"""Classic and closed-form models on a large catalogue: fit, evaluate, peak memory, cliffs.

The question: does every classic or closed-form model (Popularity, ItemKNN,
UserKNN, ContentBased, EASE, GF-CF, Hybrid) fit and evaluate a catalogue of
about 50,000 users x 50,000 items (about 300,000 interactions, popularity
skewed) on 2 cores, or refuse it up front with a clear message? And three
costs that once grew out of proportion (issue 10's "cliffs"), each as a ratio measured in
the same run:

* ItemKNN fit time / time of the sparse product ``Rᵀ R`` it starts from
  (target: at most 10), interleaved, median of repeats;
* EASE's tiled SPD inverse (:func:`minigraphrec.linalg.spd_inverse`, immune to
  the OpenBLAS threaded-Cholesky crash) / the plain ``cho_solve(cho_factor(G),
  I)`` at a size that does not crash, interleaved, with their max difference;
* GF-CF evaluate time / the time of its two score products alone (linear
  filter ``r_u R̃ᵀ R̃`` and ideal low-pass ``(r_u D^{-1/2} V)(Vᵀ D^{1/2})``
  for every evaluated user), its fit split into normalisation and SVD, and its
  fit time / the same two products (target: near 1).

The session baselines (SessionPopularity, MarkovChain, SessionItemKNN) and SR-GNN
(one epoch, the paper's other settings: what an epoch costs) on a
session catalogue of about 50,000 items (``synthetic_sessions``, 60,000
sessions, split by time, every test prefix predicting its next item): fit
time, ``evaluate_next_item`` time (HR@20, MRR@20, full ranking, repeats
allowed) and, as its floor, the time of ``score_sessions`` alone over the same
prefixes in the same blocks, written into one array as ``evaluate_next_item``
writes them, with their ratio (``catalogue_sessions.md``;
``--skip-sessions`` leaves it out).

Each model's fit and evaluation are timed once each, after an untimed fit and evaluation
on a tiny synthetic catalogue and an untimed evaluation of a few test users (numba's
cached kernels loaded, imports done): steady state, not first calls. (The records of
2026-12-06, ``catalogues.md`` and ``catalogues_gowalla.md``, were taken before this
warm-up: their fit_s and evaluate_s are first calls in a fresh process. The session
models' fit got its warm-up on 2026-12-08: the fit_s of ``catalogue_sessions.md`` are
first calls.)

Each model runs in a subprocess of its own (``--worker``): its peak resident
memory (``VmHWM``) is its own, restarted once the data are made (so that
making them does not hide the model's own peak), and a crash is recorded instead of ending
the benchmark (``--smoke`` runs them in-process on a tiny catalogue). Evaluation: 80/20 random split per user, Recall@20 and
NDCG@20, full ranking with training items excluded (``mgr.evaluate``).
Each result file has its figure next to it, of the same name (``.png``).

    python benchmarks/bench_catalogues.py                  # 50k x 50k synthetic
    python benchmarks/bench_catalogues.py --data DIR
    python benchmarks/bench_catalogues.py --smoke
    python benchmarks/bench_catalogues.py --plot-only      # redraw the five PNGs from their JSON
    python benchmarks/bench_catalogues.py --plot-only catalogue_sessions    # one of them

``--plot-only NAME ...`` draws ``<out>/NAME.png`` from ``NAME.json`` by the function of its
kind (``catalogue_ratios*``: :func:`plot_ratios`, ``catalogue_sessions*``:
:func:`plot_sessions`, else :func:`plot_catalogue`); without a NAME, the five committed
figures.
"""
from __future__ import annotations

import argparse
import json
import re
import textwrap
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (LIGHTGCN_FILES, benchmark_parser, check_data,  # noqa: E402
                     interleaved_times, peak_rss_bytes, read_record, reset_peak, save_figure,
                     status_bytes, write_results)

import minigraphrec as mgr  # noqa: E402
from minigraphrec.linalg import spd_inverse  # noqa: E402

#: synthetic catalogue per size: n_users, n_items, n_communities
SIZES = {"smoke": (150, 120, 3), "full": (50000, 50000, 100)}
#: synthetic session catalogue per size: n_sessions, n_items, n_communities
SESSION_SIZES = {"smoke": (300, 80, 4), "full": (60000, 50000, 200)}
SESSION_MODELS = ("SessionPopularity", "MarkovChain", "SessionItemKNN", "SRGNN")
#: SR-GNN's epochs here: one, with the paper's other settings (the cost of an epoch)
SRGNN_EPOCHS = 1
#: EASE factorisation comparison size (dense n x n) per size
EASE_N = {"smoke": 100, "full": 4000}
MODELS = ("Popularity", "ItemKNN", "UserKNN", "ContentBased", "EASE", "GFCF", "Hybrid")
K = 20
#: the help of ``--worker`` and ``--spec``: internal (one model in this process), not listed
CLI_HIDDEN = argparse.SUPPRESS


def _peak_rss_mb():
    """This process's peak resident size in MB (MiB): ``VmHWM`` where Linux gives it (see
    ``_common.peak_rss_bytes`` for why not ``ru_maxrss``)."""
    return peak_rss_bytes() / 2**20


#: what the memory columns mean, for the notes
RSS_NOTE = ("peak_rss_mb is the process's peak resident memory from the moment the data were "
            "made (data included; the peak of making them left out: Linux's VmHWM restarted "
            "through /proc/self/clear_refs), extra_rss_mb its growth over the resident size "
            "at that moment.")


def _start_peak_here():
    """The resident size now, in MB, after starting the peak afresh from it, so that the peak
    measured next is the model's and not that of making the data (which can be higher).

    Linux resets a process's peak resident size (VmHWM) to its current size when 5 is
    written to ``/proc/self/clear_refs``. Where that fails, the peak
    keeps its history: returns the old peak, as before (the growth may then read 0).
    """
    rss = status_bytes("VmRSS")
    if not reset_peak():
        return _peak_rss_mb()
    return rss / 2**20 if rss is not None else _peak_rss_mb()


def _growth_mb(base_mb):
    """The peak since :func:`_start_peak_here` over its resident size, in MB; pages the
    process gives back meanwhile can put the peak a fraction of a MB under it: read as 0."""
    return max(0.0, _peak_rss_mb() - base_mb)


def load_catalogue(spec):
    """(name, train, test) from a spec: ``synthetic:N_USERS:N_ITEMS:N_COMM`` or a folder."""
    if spec.startswith("synthetic:"):
        n_users, n_items, n_comm = (int(x) for x in spec.split(":")[1:])
        data = mgr.datasets.synthetic(n_users=n_users, n_items=n_items, n_communities=n_comm,
                                      mean_interactions=6, min_interactions=3,
                                      random_state=0)
        train, test = mgr.split.random_split(data, test_size=0.2, random_state=0)
        return f"synthetic {n_users}x{n_items}", train, test
    folder = Path(spec)
    train, test = mgr.datasets.load_lightgcn(folder / "train.txt", folder / "test.txt")
    return folder.name, train, test


def make_model(name, train):
    if name == "Popularity":
        return mgr.Popularity()
    if name == "ItemKNN":
        return mgr.ItemKNN(k_neighbors=100)
    if name == "UserKNN":
        return mgr.UserKNN(k_neighbors=100)
    if name == "ContentBased":
        if train.item_features is not None:
            return mgr.ContentBased()
        # a LightGCN folder has no item features: one-hot of an id bucket, to time the model
        n_feat = 64
        F = sp.csr_matrix((np.ones(train.n_items),
                           (np.arange(train.n_items), np.arange(train.n_items) % n_feat)),
                          shape=(train.n_items, n_feat))
        return mgr.ContentBased(item_features=F)
    if name == "EASE":
        return mgr.EASE(l2=100.0)
    if name == "GFCF":
        return mgr.GFCF(n_factors=min(256, min(train.n_users, train.n_items) // 4))
    if name == "Hybrid":
        return mgr.Hybrid([mgr.ItemKNN(k_neighbors=100), mgr.Popularity()])
    raise ValueError(name)


#: the catalogue a worker fits and evaluates its model on, untimed, before the timed calls
WARM_UP_SPEC = "synthetic:{}:{}:{}".format(*SIZES["smoke"])
#: test users of the untimed evaluation on the real catalogue, before the timed one
WARM_UP_USERS = 64


def warm_up(model_name):
    """Fit and evaluate ``model_name`` once on the tiny :data:`WARM_UP_SPEC` catalogue,
    untimed, so that the timed fit and evaluation of a fresh worker do not include loading
    its numba kernels from the cache (or compiling them), importing what it imports and
    the first BLAS call's set-up. A refusal there (none is expected) is left to the real
    fit to report."""
    _, train, test = load_catalogue(WARM_UP_SPEC)
    model = make_model(model_name, train)
    try:
        model.fit(train)
    except (ValueError, MemoryError):
        return
    mgr.evaluate(model, test, k=K, metrics=["recall", "ndcg"])


def measure(model_name, spec):
    """Fit and evaluate one model after an untimed warm-up (:func:`warm_up`, then an
    evaluation of the first :data:`WARM_UP_USERS` test users): a result row (dict)."""
    name, train, test = load_catalogue(spec)
    warm_up(model_name)
    base_mb = _start_peak_here()
    row = {"catalogue": name, "model": model_name, "n_users": train.n_users,
           "n_items": train.n_items, "n_train": len(train)}
    model = make_model(model_name, train)
    t0 = time.perf_counter()
    try:
        model.fit(train)
    except (ValueError, MemoryError) as err:
        row.update(status=f"refused: {err}", fit_s=time.perf_counter() - t0)
        return row
    row["fit_s"] = time.perf_counter() - t0
    few = np.unique(test.users)[:WARM_UP_USERS]            # untimed: this catalogue's shapes
    mgr.evaluate(model, test.subset(np.isin(test.users, few)), k=K, metrics=["recall", "ndcg"])
    t0 = time.perf_counter()
    result = mgr.evaluate(model, test, k=K, metrics=["recall", "ndcg"])
    row["evaluate_s"] = time.perf_counter() - t0
    row.update({f"recall@{K}": result[f"recall@{K}"], f"ndcg@{K}": result[f"ndcg@{K}"],
                "status": "ok", "peak_rss_mb": _peak_rss_mb(),
                "extra_rss_mb": _growth_mb(base_mb)})
    if model_name == "GFCF":
        row["ratios"] = gfcf_ratios(model, train, test, t_fit=row["fit_s"])
    return row


def load_sessions(spec):
    """(name, train, prefixes, targets) from ``sessions:N_SESSIONS:N_ITEMS:N_COMM``."""
    from minigraphrec.sequences import prefix_examples, split_sessions_by_time
    n_sessions, n_items, n_comm = (int(x) for x in spec.split(":")[1:])
    sessions = mgr.datasets.synthetic_sessions(n_sessions=n_sessions, n_items=n_items,
                                               n_communities=n_comm, random_state=0)
    train, test, _ = split_sessions_by_time(sessions, test_fraction=0.2)
    prefixes, targets = prefix_examples(test)
    return f"sessions {n_sessions}x{n_items}", train, prefixes, targets


def make_session_model(name):
    """The session model ``name`` of :data:`SESSION_MODELS` as this benchmark runs it."""
    from minigraphrec.models import sequential
    if name == "SRGNN":
        return mgr.SRGNN(epochs=SRGNN_EPOCHS, random_state=0)
    return getattr(sequential, name)()


#: the session catalogue a worker fits and evaluates its model on, untimed, first
WARM_UP_SESSIONS_SPEC = "sessions:{}:{}:{}".format(*SESSION_SIZES["smoke"])


def warm_up_sessions(model_name):
    """Fit and evaluate the session model ``model_name`` once on the tiny
    :data:`WARM_UP_SESSIONS_SPEC` catalogue, untimed, as :func:`warm_up` does for the other
    models: the timed fit then leaves out loading its numba kernels (or compiling them) and
    the imports."""
    from minigraphrec.sequences import evaluate_next_item
    _, train, prefixes, targets = load_sessions(WARM_UP_SESSIONS_SPEC)
    model = make_session_model(model_name).fit(train)
    evaluate_next_item(model, prefixes, targets, k=K)


def measure_sessions(model_name, spec):
    """Fit a session baseline after an untimed warm-up (:func:`warm_up_sessions`), evaluate
    next items, and time its scores alone: a row."""
    from minigraphrec.sequences import evaluate_next_item
    name, train, prefixes, targets = load_sessions(spec)
    warm_up_sessions(model_name)
    base_mb = _start_peak_here()
    row = {"catalogue": name, "model": model_name, "n_items": train.n_items,
           "n_train_events": int(train.items.shape[0]), "n_prefixes": len(prefixes)}
    model = make_session_model(model_name)
    if model_name == "SRGNN":
        row["epochs"] = SRGNN_EPOCHS
    t0 = time.perf_counter()
    model.fit(train)
    row["fit_s"] = time.perf_counter() - t0
    block = 1024                                               # evaluate_next_item's default

    def scores_only():                          # into one block, as evaluate_next_item does
        out = None
        for start in range(0, len(prefixes), block):
            part = prefixes.subset(np.arange(start, min(start + block, len(prefixes))))
            out = model.score_sessions(part) if out is None else \
                model.score_sessions(part, out=out[:len(part)])

    def evaluate():
        return evaluate_next_item(model, prefixes, targets, k=K, batch_size=block)

    result = evaluate()                         # untimed (compile / cache load); the metrics
    timed = interleaved_times({"scores": scores_only, "evaluate": evaluate}, 2)
    row.update({"evaluate_s": timed["evaluate"][0], "scores_s": timed["scores"][0],
                "evaluate_over_scores": timed["evaluate"][0] / timed["scores"][0],
                f"hit@{K}": result[f"hit@{K}"], f"mrr@{K}": result[f"mrr@{K}"],
                "status": "ok", "peak_rss_mb": _peak_rss_mb(),
                "extra_rss_mb": _growth_mb(base_mb)})
    return row


def _measurer(spec):
    """The function that measures one model on ``spec``: sessions or interactions."""
    return measure_sessions if spec.startswith("sessions:") else measure


def run_worker(model_name, spec, timeout, in_process=False):
    """:func:`measure` in a subprocess (own peak memory, crash-proof), or here."""
    if in_process:
        return _measurer(spec)(model_name, spec)
    cmd = [sys.executable, __file__, "--worker", model_name, "--spec", spec]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": model_name, "status": f"timeout after {timeout} s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        return {"model": model_name, "status": f"crashed (exit {proc.returncode}) {tail[0]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ ratios
def knn_ratio(cls, train, repeat):
    """kNN fit time against the sparse product it starts from (RᵀR or R Rᵀ)."""
    R = train.to_csr()
    RT = R.T.tocsr()
    if cls is mgr.ItemKNN:
        product, label = (lambda: RT @ R), "R^T R"
    else:
        product, label = (lambda: R @ RT), "R R^T"
    model = cls(k_neighbors=100)
    model.fit(train)                                          # compile the kernel first
    timed = interleaved_times({"product": product, "fit": lambda: model.fit(train)}, repeat)
    t_prod, t_fit = timed["product"][0], timed["fit"][0]
    return {"measure": f"{cls.__name__} fit / sparse {label}", "reference_s": t_prod,
            "candidate_s": t_fit, "ratio": t_fit / t_prod, "target": "<= 10",
            "note": f"median of {repeat} interleaved; k_neighbors=100"}


def ease_ratio(n, repeat):
    rng = np.random.default_rng(0)
    X = rng.random((n, n // 2)) < 0.02
    G = (X @ X.T).astype(np.float64) + 100.0 * np.eye(n)   # (n, n) SPD, like RᵀR + λI
    eye = np.eye(n)

    def plain():
        return sla.cho_solve(sla.cho_factor(G, lower=True), eye)

    timed = interleaved_times({"plain": plain, "tiled": lambda: spd_inverse(G)}, repeat)
    P0, P1 = plain(), spd_inverse(G)
    diff = float(np.abs(P1 - P0).max() / np.abs(P0).max())
    return {"measure": f"EASE inverse n={n}: tiled spd_inverse / cho_solve(cho_factor, I)",
            "reference_s": timed["plain"][0], "candidate_s": timed["tiled"][0],
            "ratio": timed["tiled"][0] / timed["plain"][0], "target": "no crash; cost ~1",
            "note": f"max |diff| / max |P| = {diff:.2g}; median of {repeat} interleaved"}


def gfcf_ratios(model, train, test, t_fit):
    """GF-CF's fit split and its evaluate time against its score products (fitted model)."""
    from minigraphrec.models.gfcf import normalized_interactions

    rows = []
    solver = model.svd_solver_                        # the solver that ran ("auto" resolved)
    t0 = time.perf_counter()
    normalized_interactions(train.to_csr())
    t_norm = time.perf_counter() - t0
    rows.append({"measure": "GF-CF fit: normalisation / whole fit", "reference_s": t_fit,
                 "candidate_s": t_norm, "ratio": t_norm / t_fit, "target": "-",
                 "note": f"the rest is the truncated SVD (k={model.n_factors}, {solver})"})
    users = np.flatnonzero(np.diff(test.to_csr().indptr) > 0)
    Rt = model.R_tilde_
    RtT = Rt.T.tocsr()

    def products():
        for s in range(0, users.size, 512):
            R_b = model._R_scoring[users[s:s + 512]]
            if model._item_filter is not None:
                R_b @ model._item_filter                      # linear filter, sparse R̃ᵀR̃
            else:
                RtT @ (Rt @ R_b.T).toarray()                  # linear filter, transposed
            (R_b @ model._V_in) @ model._V_out                # ideal low-pass

    def evaluate():
        mgr.evaluate(model, test, k=K, metrics=["recall", "ndcg"])

    timed = interleaved_times({"products": products, "evaluate": evaluate}, 2)
    rows.append({"measure": "GF-CF evaluate / its two score products", "reference_s":
                 timed["products"][0], "candidate_s": timed["evaluate"][0],
                 "ratio": timed["evaluate"][0] / timed["products"][0], "target": "near 1",
                 "note": f"{users.size} users, median of 2 interleaved"})
    rows.append({"measure": "GF-CF fit / its two score products", "reference_s":
                 timed["products"][0], "candidate_s": t_fit, "ratio": t_fit / timed["products"][0],
                 "target": "near 1", "note": f"fit timed once, before; SVD solver {solver}"})
    return rows


# ------------------------------------------------------------------ figures
def _status_label(row):
    """A short label for a row that did not run: ``refused (needs 20.0 GB)``, ``timeout ...``."""
    status = row.get("status", "no result")
    if status.startswith("refused"):
        size = re.search(r"\(([\d.]+ [KMGT]B)\)", status)
        return "refused up front" + (f" (needs {size.group(1)})" if size else "")
    return textwrap.shorten(status, 40, placeholder="...")


def _catalogue_title(rows, what):
    ok = [r for r in rows if "n_users" in r]
    name = rows[0].get("catalogue", "?") if rows else "?"
    if not ok:
        return f"{what}, {name}"
    r = ok[0]
    return (f"{what}, {name}: {r['n_users']:,} users x {r['n_items']:,} items, "
            f"{r['n_train']:,} training pairs, each model in its own process")



def _paired_bars(ax, y, height, first, second, xlabel, offset=None):
    """Two metrics per row as horizontal bars (``first`` above, ``second`` below), each value
    written at its bar's end; ``first`` / ``second`` are ``(values, label)``."""
    offset = height / 2 if offset is None else offset
    (a, a_label), (b, b_label) = first, second
    ax.barh(y + offset, a, height, color="tab:purple", label=a_label)
    ax.barh(y - offset, b, height, color="tab:pink", label=b_label)
    top = np.nanmax(a) if np.isfinite(a).any() else 1.0
    for yy, v in list(zip(y + offset, a)) + list(zip(y - offset, b)):
        if np.isfinite(v):
            ax.text(v + top * 0.02, yy, f"{v:.3f}", va="center", fontsize=7)
    ax.set_xlim(0, top * 1.3)
    ax.set_xlabel(xlabel)

def plot_catalogue(rows, name, out_dir, record=None):
    """``<name>.png``: per model, fit and evaluate seconds (log scale), peak memory (its growth
    after loading the data shaded) and Recall@20 / NDCG@20; a model that did not run (EASE's
    up-front refusal) is named where its bars would be. ``record``, the results JSON drawn
    from, names the machine in a footer."""
    from minigraphrec import plot
    rows = rows[::-1]                                        # the first model on top
    y = np.arange(len(rows))
    h = 0.38
    fig, axes = plot.subplots(1, 3, figsize=(13.5, 0.45 * len(rows) + 2.0), sharey=True,
                              gridspec_kw={"width_ratios": [1.3, 1, 1]})
    ok = [r.get("status") == "ok" for r in rows]

    def values(key):
        return np.array([r.get(key, np.nan) if good else np.nan for r, good in zip(rows, ok)],
                        dtype=float)

    ax = axes[0]
    fit, ev = values("fit_s"), values("evaluate_s")
    ax.barh(y + h / 2, fit, h, color="tab:blue", label="fit")
    ax.barh(y - h / 2, ev, h, color="tab:orange", label="evaluate (Recall, NDCG @20)")
    ax.set_xscale("log")
    finite = np.concatenate([fit[np.isfinite(fit)], ev[np.isfinite(ev)]])
    lo, hi = (finite.min(), finite.max()) if finite.size else (1e-3, 1.0)
    ax.set_xlim(lo / 3, hi * 12)
    for yy, v in list(zip(y + h / 2, fit)) + list(zip(y - h / 2, ev)):
        if np.isfinite(v):
            ax.text(v * 1.12, yy, f"{v:.3g} s", va="center", fontsize=7)
    ax.set_xlabel("seconds (log scale)")

    ax = axes[1]
    peak, extra = values("peak_rss_mb"), values("extra_rss_mb")
    ax.barh(y, peak - extra, 0.6, color="0.75", label="after loading the data")
    ax.barh(y, extra, 0.6, left=peak - extra, color="tab:green",
            label="growth: the model's own")
    for yy, v in zip(y, peak):
        if np.isfinite(v):
            ax.text(v + np.nanmax(peak) * 0.02, yy, f"{v:.0f} MB", va="center", fontsize=7)
    ax.set_xlim(0, np.nanmax(peak) * 1.3 if np.isfinite(peak).any() else 1)
    ax.set_xlabel("MB, peak resident memory of the model's process")

    _paired_bars(axes[2], y, h, (values(f"recall@{K}"), f"Recall@{K}"),
                 (values(f"ndcg@{K}"), f"NDCG@{K}"),
                 "accuracy on the test split (full ranking)")

    for yy, r, good in zip(y, rows, ok):                     # the ones that did not run
        if not good:
            axes[0].text(0.02, yy, _status_label(r), transform=axes[0].get_yaxis_transform(),
                         va="center", fontsize=8, color="tab:red")
    axes[0].set_yticks(y, [r["model"] for r in rows])
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=7,
                  frameon=False)
    fig.suptitle(_catalogue_title(rows, "classic models"), fontsize=10)
    return save_figure(fig, name, out_dir, record=record)


def _target_value(target):
    """The number a ratio is held to (``"<= 10"`` -> 10, ``"near 1"`` -> 1), or None."""
    found = re.search(r"(?:<=|~|near)\s*([\d.]+)", target or "")
    return float(found.group(1)) if found else None


def plot_ratios(rows, name, out_dir, record=None):
    """``<name>.png``: every ratio of the run (candidate seconds / reference seconds, log
    scale), each with its target drawn on its own bar (red: an upper bound, black: near).
    ``record``, the results JSON drawn from, names the machine in a footer."""
    from minigraphrec import plot
    rows = rows[::-1]
    y = np.arange(len(rows))
    ratios = np.array([r["ratio"] for r in rows], dtype=float)
    fig, ax = plot.subplots(figsize=(10.5, 0.62 * len(rows) + 1.6))
    ax.barh(y, ratios, 0.55, color="tab:blue")
    bound = near = False
    for yy, r in zip(y, rows):
        value = _target_value(r.get("target"))
        right = max(r["ratio"], value or 0.0)               # the label clears the target
        if value is not None:
            upper = r["target"].strip().startswith("<=")
            ax.plot([value, value], [yy - 0.4, yy + 0.4], linewidth=2.5,
                    color="tab:red" if upper else "black",
                    label=None if (bound if upper else near) else
                    ("target: at most" if upper else "target: near"))
            bound, near = bound or upper, near or not upper
        ax.text(right * 1.15, yy, f"{r['ratio']:.3g}x  ({r['candidate_s']:.3g} s / "
                f"{r['reference_s']:.3g} s)", va="center", fontsize=7,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.8})
    ax.axvline(1.0, color="0.6", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(ratios.min() / 3, max(ratios.max(), 10) * 30)
    labels = [textwrap.fill(r["measure"], 46) for r in rows]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("ratio: candidate seconds / reference seconds (log scale)")
    catalogue = next((r["catalogue"] for r in rows if r.get("catalogue")), "?")
    ax.set_title(f"each step's time against the product or solve it is built on, {catalogue}, "
                 "measured in the same run\n(EASE: the tiled SPD inverse against the plain "
                 "Cholesky solve, n = 4000, not the catalogue)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, name, out_dir, record=record)


def plot_sessions(rows, name, out_dir, record=None):
    """``<name>.png``: per session model, fit, ``score_sessions`` alone and
    ``evaluate_next_item`` seconds (log scale), and HR@20 / MRR@20. ``record``, the results
    JSON drawn from, names the machine in a footer."""
    from minigraphrec import plot
    rows = rows[::-1]
    y = np.arange(len(rows))
    h = 0.27
    fig, axes = plot.subplots(1, 2, figsize=(11.5, 0.6 * len(rows) + 2.2), sharey=True,
                              gridspec_kw={"width_ratios": [1.5, 1]})
    ax = axes[0]
    allv = []
    for off, key, colour, label in ((h, "fit_s", "tab:blue", "fit"),
                                    (0, "scores_s", "tab:gray", "score_sessions alone"),
                                    (-h, "evaluate_s", "tab:orange", "evaluate_next_item")):
        v = np.array([r.get(key, np.nan) for r in rows], dtype=float)
        allv += list(v[np.isfinite(v)])
        ax.barh(y + off, v, h, color=colour, label=label)
        for yy, x in zip(y + off, v):
            if np.isfinite(x):
                ax.text(x * 1.12, yy, f"{x:.3g} s", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(min(allv or [1e-3]) / 3, max(allv or [1.0]) * 12)
    ax.set_xlabel("seconds (log scale)")
    ax.legend(loc="lower right", fontsize=7)
    ax = axes[1]
    hit = np.array([r.get(f"hit@{K}", np.nan) for r in rows], dtype=float)
    mrr = np.array([r.get(f"mrr@{K}", np.nan) for r in rows], dtype=float)
    _paired_bars(ax, y, h * 1.4, (hit, f"HR@{K}"), (mrr, f"MRR@{K}"),
                 "next-item accuracy on the test prefixes (full ranking)", offset=h / 2)
    ax.legend(loc="lower right", fontsize=7)
    labels = []
    for r in rows:
        extra = f"\n({r['epochs']} epoch)" if r.get("epochs") else ""
        ratio = (f"\neval / scores {r['evaluate_over_scores']:.2f}x"
                 if "evaluate_over_scores" in r else f"\n{_status_label(r)}")
        labels.append(r["model"] + extra + ratio)
    axes[0].set_yticks(y, labels, fontsize=8)
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    r0 = rows[0] if rows else {}
    fig.suptitle(f"session models, {r0.get('catalogue', '?')}: "
                 f"{r0.get('n_items', 0):,} items seen in training, "
                 f"{r0.get('n_prefixes', 0):,} test prefixes", fontsize=10)
    return save_figure(fig, name, out_dir, record=record)


#: the figures --plot-only redraws when it names none (those in results/)
COMMITTED_FIGURES = ("catalogues", "catalogue_ratios", "catalogue_sessions",
                     "catalogues_gowalla", "catalogue_ratios_gowalla")


def replot(names, out_dir):
    """Redraw ``<out_dir>/<name>.png`` from ``<name>.json`` for each name, by its kind."""
    records = [read_record(out_dir, name) for name in names]   # all there before any is drawn
    for name, record in zip(names, records):
        draw = (plot_ratios if name.startswith("catalogue_ratios") else
                plot_sessions if name.startswith("catalogue_sessions") else plot_catalogue)
        draw(record["rows"], name, out_dir, record=record)


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0],
        smoke="tiny synthetic catalogues (150 x 120, 300 sessions), each model in this process "
              "instead of its own, 2 rounds per ratio",
        repeat_help="sets the rounds of the interleaved kNN and EASE ratio timings, "
                    "max(REPEAT // 2, 2); their median is reported")
    parser.add_argument("--data", type=Path, metavar="DIR", help="a LightGCN-format folder with train.txt and "
                        "test.txt (e.g. the LightGCN repository's Gowalla folder): the models on it too")
    parser.add_argument("--skip-synthetic", action="store_true",
                        help="with --data: only the data folder (results named after it)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="the classic and closed-form models to run (default all)")
    parser.add_argument("--skip-sessions", action="store_true",
                        help="leave out the session baselines on a session catalogue")
    parser.add_argument("--only-sessions", action="store_true",
                        help="only the session baselines on the session catalogue (writes "
                             "catalogue_sessions alone)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds per model run (its own process) before it is recorded "
                             "as a timeout (default 3600)")
    parser.add_argument("--plot-only", nargs="*", metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json for each NAME (default: "
                             + ", ".join(COMMITTED_FIGURES) + "); run nothing")
    parser.add_argument("--worker", help=CLI_HIDDEN)
    parser.add_argument("--spec", help=CLI_HIDDEN)
    args = parser.parse_args()
    if args.plot_only is not None:
        return replot(args.plot_only or COMMITTED_FIGURES, args.out)
    if args.worker:
        print(json.dumps(_measurer(args.spec)(args.worker, args.spec)))
        return
    if args.smoke:
        args.repeat = 2
    size = "smoke" if args.smoke else "full"
    n_users, n_items, n_comm = SIZES[size]
    specs = [f"synthetic:{n_users}:{n_items}:{n_comm}"]
    if args.data is not None:
        specs.append(str(args.data))
    if args.skip_synthetic:
        if args.data is None:
            parser.error("--skip-synthetic needs --data")
        specs = specs[1:]
    if args.only_sessions:
        if args.skip_sessions or args.skip_synthetic or args.data is not None:
            parser.error("--only-sessions runs the session catalogue alone: no --skip-sessions, "
                         "--skip-synthetic or --data")
        specs = []
    if args.data is not None:              # here, once, before any worker starts
        check_data(args.data, LIGHTGCN_FILES, "a LightGCN-format folder")

    rows, ratios = [], []
    for spec in specs:
        for name in args.models:
            row = run_worker(name, spec, args.timeout, in_process=args.smoke)
            row.setdefault("catalogue", spec)
            print(json.dumps(row), flush=True)
            for r in row.pop("ratios", []):
                ratios.append({"catalogue": row["catalogue"], **r})
            rows.append(row)
    for spec in specs:
        name, train, _ = load_catalogue(spec)
        for cls in (mgr.ItemKNN, mgr.UserKNN):
            ratios.append({"catalogue": name, **knn_ratio(cls, train, max(args.repeat // 2, 2))})
    if not args.only_sessions:
        ratios.append(ease_ratio(EASE_N[size], max(args.repeat // 2, 2)))
    session_rows = []
    if not (args.skip_synthetic or args.skip_sessions):
        spec = "sessions:{}:{}:{}".format(*SESSION_SIZES[size])
        for name in SESSION_MODELS:
            row = run_worker(name, spec, args.timeout, in_process=args.smoke)
            row.setdefault("catalogue", spec)
            print(json.dumps(row), flush=True)
            session_rows.append(row)
    for r in ratios:
        print(json.dumps(r), flush=True)
    columns = ["catalogue", "model", "status", "fit_s", "evaluate_s", f"recall@{K}",
               f"ndcg@{K}", "peak_rss_mb", "extra_rss_mb"]
    suffix = ("_smoke" if args.smoke else "") + (f"_{args.data.name}" if args.skip_synthetic
                                                 else "")
    notes = (f"Each model in its own process; fit_s and evaluate_s timed once each, after "
             f"an untimed fit and evaluation of the same model on a tiny synthetic catalogue "
             f"({SIZES['smoke'][0]} x {SIZES['smoke'][1]}) and an "
             f"untimed evaluation of the first {WARM_UP_USERS} test users (numba's kernels "
             f"loaded: steady state, not first calls). {RSS_NOTE} "
             f"Ratios of the same run: see catalogue_ratios{suffix}.md.")
    if not args.only_sessions:
        json_path, _ = write_results("catalogues" + suffix, rows, columns, args.out, notes=notes)
        plot_catalogue(rows, "catalogues" + suffix, args.out,
                       record=json.loads(json_path.read_text()))
        json_path, _ = write_results("catalogue_ratios" + suffix, ratios,
                                     ["catalogue", "measure", "reference_s", "candidate_s",
                                      "ratio", "target", "note"], args.out)
        plot_ratios(ratios, "catalogue_ratios" + suffix, args.out,
                    record=json.loads(json_path.read_text()))
    if session_rows:
        session_columns = ["catalogue", "model", "status", "n_items", "n_prefixes", "epochs",
                           "fit_s", "scores_s", "evaluate_s", "evaluate_over_scores",
                           f"hit@{K}", f"mrr@{K}", "peak_rss_mb", "extra_rss_mb"]
        json_path, _ = write_results(
            "catalogue_sessions" + suffix, session_rows, session_columns, args.out,
            notes=("Session models, each in its own process (SR-GNN: fit_s is "
                   f"{SRGNN_EPOCHS} epoch), fit_s timed once after an untimed fit and "
                   f"evaluation on a tiny session catalogue ({SESSION_SIZES['smoke'][0]} "
                   f"sessions, {SESSION_SIZES['smoke'][1]} items). scores_s: "
                   "score_sessions alone over every test prefix in blocks of "
                   "1024, each written into the first (out=), the floor of "
                   "evaluate_next_item (same blocks; ranks, HR and MRR on top); "
                   "both the median of 2 interleaved runs "
                   f"after one untimed evaluation. {RSS_NOTE}"))
        plot_sessions(session_rows, "catalogue_sessions" + suffix, args.out,
                      record=json.loads(json_path.read_text()))


if __name__ == "__main__":
    main()
