r"""Benchmark: are the explanations faithful? Delete what they name and watch the score.

For every model that has ``explain`` (found at run time, so models that gain
it later join without a change here), on MovieLens-100K fitted on every
rating (an implicit positive each):

1. sample users with at least ``K_MAX + 1`` training items (seeded);
2. take each user's top recommended item ``i`` (``recommend(u, k=1)``) and
   its explanation ``explain(u, i, k=None)``; the *explanatory* items are the
   explanation's sources that are items of the user's history (``kind``
   ``"item"``, or item nodes of ``kind="node"``), largest contribution first;
3. for ``k`` in 1, 3, 5 delete the top-``k`` explanatory items from the
   history, or ``k`` history items drawn at random (``--draws`` draws,
   averaged), and score again;
4. record the drop of the item's score (absolute, and relative to its score
   before) and the item's rank after the deletion among the items outside
   the *original* history (so both arms rank the same candidates).

"Score again" has two modes, each named in the table:

* ``history``: ``model.score_history(history without the deleted items)``,
  the fitted model kept (every model with ``score_history``); the score
  before is ``score_history(history)`` too, so fold-in models are compared
  with themselves;
* ``forget``: ``model.forget(interactions=the deleted pairs)`` on a copy,
  i.e. (for the classic models, where forget is exact) the model *refitted*
  without them, then ``score(u)``. Slower: ``--forget-users`` users, the
  models of ``--forget-models`` (GF-CF's forget, exact too, is a full refit
  with its SVD per deletion, so it is left out by default).

Models whose explanation names users (UserKNN: neighbours) cannot lose
"explanatory items": for them the ``forget`` mode deletes the top-``k``
explanatory *neighbours* (``forget(users=...)``, exact) against ``k`` random
users among the user's neighbours. Popularity explains every user alike by
the item's users and is left out; Hybrid has no ``explain``.

Where "explained beats random" holds by construction, and where it is a test:

* ItemKNN, EASE, GF-CF, ``history`` mode: cannot fail. Their
  ``score_history`` is linear in the history and their explanation is that
  linear split (``score_history(history - S) = score - Σ_{j∈S} c_j``, to
  rounding), so deleting the ``k`` largest contributions always lowers the
  score at least as much as deleting ``k`` random items. Their
  ``rel_drop_*`` and ``explained_drop_larger`` columns check the identity;
  they say nothing about faithfulness. (The rank after deletion is not fixed
  by the identity, since the other items' scores move too.)
* LightGCN, ``history`` mode: the explanation splits the trained score over
  graph nodes, the user's own node among them, but ``score_history`` is a
  fold-in *without* the user's node (a different score), with the
  propagation weights renormalised to the shorter history. The comparison
  carries information, about the fold-in rather than about the explained
  score.
* ContentBased, ``history`` mode: a test. Its explanation is exact for the
  score, but deleting items renormalises the profile (a cosine), so the
  drop is not the sum of the deleted contributions.
* MF, GCN, NGCF, GAT (similarities or gradient × input, not exact splits)
  in ``history`` mode, and every model in the ``forget`` mode (a refit
  without the data; UserKNN's neighbours): real tests. For the trained
  models ``score_history`` is a fold-in, not the trained score.

    python benchmarks/bench_explain.py --data DIR
    python benchmarks/bench_explain.py --data DIR --models itemknn,ease
    python benchmarks/bench_explain.py --smoke --out /tmp/r       # synthetic, what tests run
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
from _common import (ML100K_FILES, benchmark_parser, read_record, require_data, save_figure,
                     write_results)

KS = (1, 3, 5)
K_MAX = max(KS)

#: models whose forget is exact (= a refit without the data) and cheap enough to repeat;
#: GF-CF's forget is exact too but a full refit (SVD) per deletion: --forget-models gfcf
FORGET_MODELS = ("itemknn", "userknn", "ease", "contentbased")

#: name -> (class name, constructor keyword arguments)
MODELS = {
    "itemknn": ("ItemKNN", {}),
    "userknn": ("UserKNN", {}),
    "ease": ("EASE", {}),
    "gfcf": ("GFCF", {"dtype": "float64"}),
    "contentbased": ("ContentBased", {}),
    "mf": ("MF", {"epochs": 40}),
    "lightgcn": ("LightGCN", {"epochs": 40}),
    "gcn": ("GCN", {"epochs": 20}),
    "ngcf": ("NGCF", {"epochs": 20}),
    "gat": ("GAT", {"epochs": 10}),
}


def has(model, method):
    """Whether ``model`` overrides the base class's ``method`` (``_explain``, ...)."""
    from minigraphrec.models.base import Recommender
    own = getattr(type(model), method, None)
    return own is not None and own is not getattr(Recommender, method)


def explanatory_items(e, history, n_users):
    """The explanation's sources that are history items, largest contribution first."""
    if e.kind == "item":
        items = e.sources
    elif e.kind == "node":
        items = np.where(e.sources >= n_users, e.sources - n_users, -1)
    else:
        return None
    order = np.lexsort((items, -e.contributions))            # from_contributions' order
    items = items[order]
    return items[np.isin(items, history)]


def top_item(model, u):
    """The user's top recommended item (training items excluded; ties: smaller id).

    ``recommend(u, k=1)``'s answer, computed here with NumPy: the parallel
    top-k kernel costs a thread start-up per one-row call on a busy machine.
    """
    s = np.asarray(model.score([u])[0], dtype=np.float64)
    s[model.R_[u].indices] = -np.inf
    return int(np.argmax(s))


def rank_of(scores, item, candidates):
    """1 + the number of candidate items scored above ``item``."""
    s = scores[candidates]
    return 1 + int(np.sum(s > scores[item]))


def deletion_row(k, arm, item, s0, r0, candidates, afters):
    """The row of one arm: ``item``'s mean score drop and rank over ``afters``, the score
    vectors after each deletion (``s0``, ``r0``: its score and rank before)."""
    drops = [s0 - after[item] for after in afters]
    ranks = [rank_of(after, item, candidates) for after in afters]
    return {"k": k, "arm": arm, "drop": float(np.mean(drops)),
            "rel_drop": float(np.mean(drops) / abs(s0)) if s0 else float("nan"),
            "rank_before": r0, "rank_after": float(np.mean(ranks))}


def measure_history(model, u, i, history, explain_items, rng, draws):
    """Rows of the ``history`` mode for one (user, item) pair."""
    candidates = np.setdiff1d(np.arange(model.n_items_), history)
    before = np.asarray(model.score_history(history), dtype=np.float64)
    s0, r0 = before[i], rank_of(before, i, candidates)
    out = []
    for k in KS:
        arms = {"explained": [explain_items[:k]],
                "random": [rng.choice(history, size=k, replace=False) for _ in range(draws)]}
        for arm, deletions in arms.items():
            afters = [np.asarray(model.score_history(np.setdiff1d(history, gone)),
                                 dtype=np.float64) for gone in deletions]
            out.append(deletion_row(k, arm, i, s0, r0, candidates, afters))
    return out


def measure_forget(model, u, i, history, explain, rng, draws, kind):
    """Rows of the ``forget`` mode: the model refitted without the deleted data (exact forget)."""
    candidates = np.setdiff1d(np.arange(model.n_items_), history)
    before = model.score([u])[0].astype(np.float64)
    s0, r0 = before[i], rank_of(before, i, candidates)
    if kind == "user":
        pool = model.similarity_[u].indices                      # the user's neighbours

    def score_without(gone):
        m = copy.deepcopy(model)
        if kind == "user":
            m.forget(users=gone)
            v = u - int(np.sum(gone < u))                        # u renumbered
        else:
            m.forget(interactions=np.stack([np.full(len(gone), u), gone], axis=1))
            v = u
        return m.score([v])[0].astype(np.float64)

    out = []
    for k in KS:
        if kind == "user":
            if pool.size < k:
                continue
            arms = {"explained": [explain[:k]],
                    "random": [rng.choice(pool, size=k, replace=False) for _ in range(draws)]}
        else:
            arms = {"explained": [explain[:k]],
                    "random": [rng.choice(history, size=k, replace=False) for _ in range(draws)]}
        for arm, deletions in arms.items():
            afters = [score_without(gone) for gone in deletions]
            out.append(deletion_row(k, arm, i, s0, r0, candidates, afters))
    return out


def summarise(name, mode, per_pair, seconds, exact, deleted):
    """One table row per (k): means over pairs, and how often the explained arm wins."""
    rows = []
    for k in KS:
        ex = [r for r in per_pair if r["k"] == k and r["arm"] == "explained"]
        rd = [r for r in per_pair if r["k"] == k and r["arm"] == "random"]
        if not ex:
            continue
        wins = np.mean([a["drop"] > b["drop"] for a, b in zip(ex, rd)])
        rows.append({
            "model": name, "mode": mode, "deleted": deleted, "exact": exact, "k": k,
            "pairs": len(ex),
            "drop_explained": float(np.mean([r["drop"] for r in ex])),
            "drop_random": float(np.mean([r["drop"] for r in rd])),
            "rel_drop_explained": float(np.nanmean([r["rel_drop"] for r in ex])),
            "rel_drop_random": float(np.nanmean([r["rel_drop"] for r in rd])),
            "rank_before": float(np.mean([r["rank_before"] for r in ex])),
            "rank_after_explained": float(np.mean([r["rank_after"] for r in ex])),
            "rank_after_random": float(np.mean([r["rank_after"] for r in rd])),
            "median_rank_after_explained": float(np.median([r["rank_after"] for r in ex])),
            "median_rank_after_random": float(np.median([r["rank_after"] for r in rd])),
            "explained_drop_larger": float(wins),
            "seconds": round(seconds, 2),
        })
    return rows


def run_model(name, model, users, draws, forget_users, forget_draws, rng_seed,
              forget_models=FORGET_MODELS):
    """Every row for one fitted model."""
    rows = []
    n_users = model.n_users_
    probe = model.explain(int(users[0]), top_item(model, int(users[0])), k=None)
    kind, exact = probe.kind, bool(probe.exact)
    if kind in ("item", "node") and has(model, "_score_history"):
        rng, per_pair, t0 = np.random.default_rng(rng_seed), [], time.perf_counter()
        for u in users:
            u = int(u)
            i = top_item(model, u)
            history = model.R_[u].indices.astype(np.int64)
            items = explanatory_items(model.explain(u, i, k=None), history, n_users)
            if items.size < K_MAX:
                continue
            per_pair += measure_history(model, u, i, history, items, rng, draws)
        rows += summarise(name, "history", per_pair, time.perf_counter() - t0, exact,
                          "history items")
    if forget_users and name in forget_models:
        rng, per_pair, t0 = np.random.default_rng(rng_seed + 1), [], time.perf_counter()
        for u in users[:forget_users]:
            u = int(u)
            i = top_item(model, u)
            history = model.R_[u].indices.astype(np.int64)
            e = model.explain(u, i, k=None)
            if kind == "user":
                order = np.lexsort((e.sources, -e.contributions))
                explain = e.sources[order]
                if explain.size < 1:
                    continue
            else:
                explain = explanatory_items(e, history, n_users)
                if explain.size < K_MAX:
                    continue
            per_pair += measure_forget(model, u, i, history, explain, rng, forget_draws, kind)
        rows += summarise(name, "forget", per_pair, time.perf_counter() - t0, exact,
                          "neighbour users" if kind == "user" else "history items")
    return rows


def load(args):
    import minigraphrec as mgr
    if args.smoke:
        return mgr.datasets.synthetic(n_users=120, n_items=150, random_state=0)
    return mgr.datasets.load_movielens_100k(args.data)


def plot_rows(rows, out_dir, name="explain_ml100k"):
    from minigraphrec import plot
    if not rows:
        return None
    labels = sorted({(r["model"], r["mode"]) for r in rows}, key=lambda t: (t[1], t[0]))
    fig, axes = plot.subplots(2, 1, figsize=(max(10.0, 0.9 * len(labels)), 9))
    width = 0.8 / (2 * len(KS))
    x = np.arange(len(labels))
    colours = {"explained": ["#08519c", "#3182bd", "#6baed6"],
               "random": ["#a63603", "#e6550d", "#fd8d3c"]}
    for ax, key, ylabel in ((axes[0], "rel_drop", "relative score drop of the item"),
                            (axes[1], "rank_after", "mean rank of the item after deletion")):
        n = 0
        for arm in ("explained", "random"):
            for j, k in enumerate(KS):
                vals = []
                for model, mode in labels:
                    hit = [r for r in rows if r["model"] == model and r["mode"] == mode
                           and r["k"] == k]
                    vals.append(hit[0][f"{key}_{arm}"] if hit else np.nan)
                ax.bar(x - 0.4 + (n + 0.5) * width, vals, width, color=colours[arm][j],
                       label=f"{arm}, k={k}")
                n += 1
        ax.set_xticks(x)
        ax.set_xticklabels([f"{m} ({mode})" for m, mode in labels], rotation=25, ha="right",
                           fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    before = [np.mean([r["rank_before"] for r in rows if (r["model"], r["mode"]) == lab])
              for lab in labels]
    axes[1].scatter(x, before, marker="_", s=400, color="black", zorder=3,
                    label="rank before deletion")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("model (how the score is recomputed: history = score_history, "
                       "model kept; forget = exact forget, i.e. a refit)")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].legend(fontsize=7, loc="upper left")
    axes[0].set_title("deleting the top-k explanatory sources vs k random ones")
    axes[1].set_title("the item's rank after the deletion (log scale; black: before)")
    return save_figure(fig, name, out_dir)


def main():
    parser = benchmark_parser(
        "faithfulness of explain: delete the top-k explanatory items", repeat=False,
        smoke="a synthetic 120 x 150 set instead of ML-100K: ItemKNN, UserKNN and EASE, 8 users, "
              "2 forget-mode users, 1 draw")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the unpacked MovieLens-100K folder, ml-100k/ with u.data (required but with --smoke)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--users", type=int, default=200, help="users sampled (history mode)")
    parser.add_argument("--forget-users", type=int, default=12,
                        help="users of the forget mode (0: skip it)")
    parser.add_argument("--forget-models", default=",".join(FORGET_MODELS),
                        help="models measured in the forget mode (exact forget only)")
    parser.add_argument("--forget-draws", type=int, default=1,
                        help="random deletions per pair in the forget mode")
    parser.add_argument("--draws", type=int, default=3, help="random deletions per pair")
    parser.add_argument("--epochs", default="",
                        help="epochs of trained models, e.g. mf=10,lightgcn=10 (default: "
                             "those in MODELS)")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba and BLAS threads (default 1: on a shared machine a "
                             "2-thread OpenBLAS made a 943 x 1,682 SVD up to 30x slower)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the users sampled and of the random deletions (default 0)")
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of other models already in the result file (an "
                             "earlier run; its command and date go into the notes)")
    parser.add_argument("--plot-only", action="store_true",
                        help="only redraw the figure from the result file in --out")
    parser.add_argument("--replot", dest="plot_only", action="store_true",
                        help=argparse.SUPPRESS)                 # the option's earlier name
    args = parser.parse_args()
    if args.plot_only:
        return plot_rows(read_record(args.out, "explain_ml100k")["rows"], args.out)
    for option, names, known in (("--models", args.models, MODELS),
                                 ("--forget-models", args.forget_models, FORGET_MODELS)):
        unknown = [m for m in names.split(",") if m and m not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(map(repr, unknown))}; choose from "
                         f"{', '.join(known)}")
    require_data(args, "the unpacked MovieLens-100K folder", files=ML100K_FILES)
    if args.smoke:
        args.users, args.forget_users, args.draws = 8, 2, 1
        args.models = "itemknn,userknn,ease"
    import minigraphrec as mgr
    from minigraphrec.threadpools import set_threads

    set_threads(args.threads)

    data = load(args)
    R = data.to_csr()
    rng = np.random.default_rng(args.seed)
    eligible = np.flatnonzero(np.diff(R.indptr) > K_MAX)
    users = np.sort(rng.choice(eligible, size=min(args.users, eligible.size), replace=False))
    rows, skipped = [], []
    for name in args.models.split(","):
        cls_name, params = MODELS[name]
        cls = getattr(mgr, cls_name, None)
        if cls is None:
            skipped.append(f"{name}: not in this version")
            continue
        params = dict(params)
        epochs = dict(pair.split("=") for pair in args.epochs.split(",") if pair)
        if name in epochs:
            params["epochs"] = int(epochs[name])
        if args.smoke and "epochs" in params:
            params["epochs"] = 1
        if name == "gfcf" and args.smoke:
            params["n_factors"] = 32
        model = cls(**params)
        if not has(model, "_explain"):
            skipped.append(f"{name}: no explain")
            continue
        t0 = time.perf_counter()
        model.fit(data)
        fit_s = time.perf_counter() - t0
        print(f"{name}: fitted in {fit_s:.1f} s", flush=True)
        got = run_model(name, model, users, args.draws, args.forget_users, args.forget_draws,
                        args.seed, args.forget_models.split(","))
        for row in got:
            row["fit_seconds"] = round(fit_s, 2)
            if "epochs" in params:
                row["epochs"] = params["epochs"]
            print({k: row[k] for k in ("model", "mode", "k", "pairs", "rel_drop_explained",
                                       "rel_drop_random", "rank_after_explained",
                                       "rank_after_random")}, flush=True)
        rows += got
    notes = ("MovieLens-100K, every rating an implicit positive, models fitted on all of it "
             "(library defaults; GF-CF in float64; trained models with the epochs in the "
             "rows' epochs field: few, for time, so these are lightly trained). Pairs: a "
             "sampled user (more than 5 training items) and the user's top recommended item. drop = score before - score after deleting k sources "
             "(explained: the top-k of explain(); random: k drawn from the history, or from "
             "the neighbours for UserKNN, mean of --draws draws, --forget-draws in the forget "
             "mode); rank among the items outside the "
             "original history. mode history: score_history(history minus the items), model "
             "kept; mode forget: model.forget(...) of the items' pairs (or of the neighbour "
             "users), exact for these models = a refit without them. "
             "explained_drop_larger: fraction of pairs where the explained drop beats the "
             "random one. Skipped: " + ("; ".join(skipped) or "none") + ".")
    if args.smoke:
        notes = "SMOKE RUN on synthetic data, not a result. " + notes
    name = "explain_smoke" if args.smoke else "explain_ml100k"
    previous = Path(args.out) / f"{name}.json"
    if args.append and previous.exists():
        import json
        earlier = json.loads(previous.read_text())
        ran = {row["model"] for row in rows}
        kept = [row for row in earlier["rows"] if row["model"] not in ran]
        if kept:
            models = sorted({row["model"] for row in kept})
            notes += (f" Rows of {', '.join(models)} come from an earlier run: "
                      f"`{earlier['command']}` on {earlier['date']} (load "
                      f"{earlier['machine']['load_average_1min']}).")
            rows = kept + rows
    columns = ["model", "mode", "deleted", "exact", "k", "pairs", "rel_drop_explained",
               "rel_drop_random", "rank_after_explained", "rank_after_random",
               "median_rank_after_explained", "median_rank_after_random",
               "explained_drop_larger", "epochs"]
    for path in write_results(name, rows, columns, out_dir=args.out, notes=notes):
        print("wrote", path)
    plot_rows(rows, args.out, name)


if __name__ == "__main__":
    main()
