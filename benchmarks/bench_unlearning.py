r"""Benchmark: unlearning and updates of the classic models -- time against a refit, exactness.

For each classic model (Popularity, ItemKNN, UserKNN, EASE, GF-CF,
ContentBased) on MovieLens-100K (every rating an implicit positive):

``forget`` scenarios, on the model fitted on all the data:

* ``1 user`` / ``10 users``: users drawn at random (seeded) forgotten;
* ``20 pairs``: 20 training interactions drawn at random forgotten;

``partial_fit`` scenarios (the section item 3 of issue 11 asks to time):

* ``1 new user``: a user drawn at random is left out of the base fit (a
  new user to the model) and then added with all their ratings;
* ``latest 100 events``: the 100 latest ratings by timestamp are left out
  of the base fit, then added (new users and items among them included).

Each operation is timed against ``fit`` on the data it must equal (the
remaining data, or the union, in the model's id order: the oracle of the
tests), interleaved round by round, medians of ``--repeat`` runs; the model
is deep-copied before each timed update (the copy is not timed). Exactness:
``max |S - S_refit| / max |S_refit|`` over every user's scores, and whether
the saved ``.npz`` (``mgr.save``) holds the very same arrays as the refit's
file (``file_identical``: bit for bit; else the largest relative difference
of any array, ``file_max_rel_diff``) -- for ``forget``, that the saved file
keeps no trace of the forgotten data.

What each model recomputes (docstrings): ItemKNN / UserKNN the similarity
rows the change can reach; EASE a Woodbury update of ``P`` (a full inverse
when the change has rank > n_items / 8); GF-CF everything (degree changes
rescale ``R̃``, the SVD has no exact update); Popularity a recount;
ContentBased the user profiles.

The trained models (MF, LightGCN, GCN, NGCF, GAT) are measured by their own
benchmark (``bench_realtime.py``); a function for their residual influence
may be added below as a separate section.

The figure (``unlearning_ml100k.png``, :func:`plot_unlearning`): each update's time / its
refit's and its scores' distance to the refit's. :func:`plot_unlearning_embedding` draws
the trained models' rows that ``bench_realtime.py`` writes (``unlearning_embedding_*``).

    python benchmarks/bench_unlearning.py --data DIR --repeat 5
    python benchmarks/bench_unlearning.py --smoke --out /tmp/r        # synthetic, what tests run
    python benchmarks/bench_unlearning.py --plot-only              # redraw the PNG from its JSON
    python benchmarks/bench_unlearning.py --plot-only unlearning_embedding_ml100k

``--plot-only NAME`` redraws ``<out>/NAME.png`` from ``NAME.json``: by
:func:`plot_unlearning_embedding` when NAME starts with ``unlearning_embedding``, else by
:func:`plot_unlearning`; the titles are rebuilt from the file's notes and command.
"""
from __future__ import annotations

import copy
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (ML100K_FILES, benchmark_parser, machine_info, read_record, recorded_option,
                     require_data, save_figure, write_results)


MODELS = {
    "Popularity": {},
    "ItemKNN": {},
    "UserKNN": {},
    "EASE": {},
    "GFCF": {"dtype": "float64"},
    "ContentBased": {},
}


def compact(data, keep):
    """The interactions ``keep`` (mask) in an id space of only the users and items they use."""
    import minigraphrec as mgr
    users, items = data.users[keep], data.items[keep]
    u_ids, u_new = np.unique(users, return_inverse=True)
    i_ids, i_new = np.unique(items, return_inverse=True)
    features = None if data.item_features is None else data.item_features[i_ids]
    return mgr.Interactions(u_new, i_new, n_users=u_ids.size, n_items=i_ids.size,
                            timestamps=None if data.timestamps is None else data.timestamps[keep],
                            user_ids=data.user_ids[u_ids], item_ids=data.item_ids[i_ids],
                            item_features=features)


def with_features(inter, data):
    """``inter`` with the item features of ``data``, matched by raw item id."""
    if data.item_features is None:
        return inter
    where = {int(r): k for k, r in enumerate(data.item_ids)}
    rows = np.array([where[int(r)] for r in inter.item_ids])
    inter.item_features = data.item_features[rows]
    return inter


def all_scores(model):
    return np.vstack([model.score(np.arange(s, min(s + 512, model.n_users_)))
                      for s in range(0, model.n_users_, 512)]).astype(np.float64)


def saved_arrays(model, folder, name):
    import minigraphrec as mgr
    path = Path(folder) / f"{name}.npz"
    mgr.save(model, path)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k not in ("__meta__", "__sha256__")}


def compare_files(a, b):
    """(identical bit for bit, largest relative difference over the arrays)."""
    if sorted(a) != sorted(b):
        return False, float("inf")
    worst, same = 0.0, True
    for key in a:
        x, y = a[key], b[key]
        if x.shape != y.shape or x.dtype.kind != y.dtype.kind:
            return False, float("inf")
        if not np.array_equal(x, y):
            same = False
            if x.dtype.kind in "fc":
                scale = max(float(np.abs(y).max()), 1e-300) if y.size else 1.0
                worst = max(worst, float(np.abs(x - y).max()) / scale)
            else:
                return False, float("inf")
    return same, worst


def measure(name, params, base, operation, oracle, repeat, folder):
    """Time ``operation(copy of base)`` against ``fit(oracle)``; check they agree."""
    import minigraphrec as mgr
    cls = getattr(mgr, name)
    updated = operation(copy.deepcopy(base))
    ref = cls(**params).fit(oracle)
    S, T = all_scores(updated), all_scores(ref)
    rel = float(np.abs(S - T).max() / max(np.abs(T).max(), 1e-300))
    same, file_rel = compare_files(saved_arrays(updated, folder, "updated"),
                                   saved_arrays(ref, folder, "refit"))
    t_update, t_refit = [], []
    for _ in range(repeat):                                  # interleaved rounds
        m = copy.deepcopy(base)
        t0 = time.perf_counter()
        operation(m)
        t_update.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cls(**params).fit(oracle)
        t_refit.append(time.perf_counter() - t0)
    info = getattr(updated, "_last_update", {})
    return {"update_s": float(np.median(t_update)), "refit_s": float(np.median(t_refit)),
            "ratio": float(np.median(t_update) / np.median(t_refit)),
            "score_max_rel_diff": rel, "file_identical": bool(same),
            "file_max_rel_diff": file_rel,
            "how": ", ".join(f"{k}={v}" for k, v in info.items())}


def scenarios(data, rng):
    """[(operation name, scenario, make(base model) -> (fn, oracle), base data)]."""
    full = compact(data, np.ones(len(data), dtype=bool))
    R = full.to_csr()
    out = []

    def forget_users(n):
        def make(model):
            users = np.sort(rng.choice(model.n_users_, size=n, replace=False))
            removal = model._removal(users=users)
            return (lambda m: m.forget(users=users),
                    with_features(model._training_interactions(removal.R, removal.user_ids),
                                  data))
        return make

    def forget_pairs(n):
        def make(model):
            coo = model.R_.tocoo()
            pick = rng.choice(coo.nnz, size=n, replace=False)
            pairs = np.stack([coo.row[pick], coo.col[pick]], axis=1)
            removal = model._removal(interactions=pairs)
            return (lambda m: m.forget(interactions=pairs),
                    with_features(model._training_interactions(removal.R, removal.user_ids),
                                  data))
        return make

    out += [("forget", "1 user", forget_users(1), full),
            ("forget", "10 users", forget_users(10), full),
            ("forget", "20 pairs", forget_pairs(20), full)]

    def add(new):
        def make(model):
            merge = model._merge_new(new)
            return (lambda m: m.partial_fit(new),
                    with_features(model._training_interactions(merge.R, merge.user_ids,
                                                               merge.item_ids), data))
        return make

    u = int(rng.choice(np.flatnonzero(np.diff(R.indptr) >= 20)))
    mask = full.users == u
    out.append(("partial_fit", f"1 new user ({int(mask.sum())} items)",
                add(compact(full, mask)), compact(full, ~mask)))
    if full.timestamps is not None:
        order = np.argsort(full.timestamps, kind="stable")
        late = np.zeros(len(full), dtype=bool)
        late[order[-100:]] = True
        out.append(("partial_fit", "latest 100 events", add(compact(full, late)),
                    compact(full, ~late)))
    return out


#: where an exact (0) score difference is drawn on the log scale
_EXACT_FLOOR = 1e-17


def replot(record, name, out_dir):
    """Redraw ``<out_dir>/<name>.png`` from a results record, the title rebuilt as the run
    that wrote it built it (from its notes and command)."""
    notes = record.get("notes") or ""
    if name.startswith("unlearning_embedding"):             # written by bench_realtime.py
        found = re.match(r"Data: (\S+) .*?(\d+) users x (\d+) training items forgotten",
                         notes)
        title = (f"{found.group(1)}: forgetting {found.group(2)} users' {found.group(3)} "
                 f"training items each" if found else "")
        return plot_unlearning_embedding(record["rows"], name, out_dir, title=title,
                                         record=record)
    data = recorded_option(record, "--data")
    rounds = re.search(r"interleaved rounds, (\d+) each", notes)
    if notes.startswith("SMOKE RUN"):
        title = ", smoke run (synthetic)"
    else:
        title = (f", {Path(data).name}" if data else "") + (
            f", medians of {rounds.group(1)} interleaved rounds" if rounds else "")
    return plot_unlearning(record["rows"], name, out_dir, title, record=record)


def plot_unlearning(rows, name, out_dir, title="", record=None):
    """``<name>.png``: per model and scenario, the update's time / the refit's (log scale, 1
    = as slow as the refit) and how far its scores are from the refit's (0: bit for bit the
    same, drawn at the bottom; hollow: the saved file differs from the refit's). ``record``,
    the results JSON drawn from, names the machine in a footer."""
    from matplotlib.ticker import FuncFormatter
    from minigraphrec import plot
    models = list(dict.fromkeys(r["model"] for r in rows))
    scenarios = list(dict.fromkeys((r["operation"], r["scenario"]) for r in rows))
    shades = {"forget": ["#08519c", "#3182bd", "#6baed6", "#9ecae1"],
              "partial_fit": ["#a63603", "#e6550d", "#fdae6b", "#fdd0a2"]}
    colours, seen = [], {}
    for operation, _ in scenarios:
        k = seen[operation] = seen.get(operation, -1) + 1
        palette = shades.get(operation, ["0.4", "0.6", "0.8"])
        colours.append(palette[k % len(palette)])
    width = 0.8 / len(scenarios)
    fig, axes = plot.subplots(2, 1, figsize=(max(8.0, 1.5 * len(models) + 3.0), 7.4),
                              sharex=True, gridspec_kw={"height_ratios": [1.6, 1]})
    ratio_ax, diff_ax = axes
    for j, (operation, scenario) in enumerate(scenarios):
        colour = colours[j]
        label = f"{operation}: {scenario}"
        for i, m in enumerate(models):
            r = next((r for r in rows if r["model"] == m and r["operation"] == operation
                      and r["scenario"] == scenario), None)
            x = i - 0.4 + (j + 0.5) * width
            if r is None or "ratio" not in r:
                if r is not None:
                    ratio_ax.text(x, 1.0, "refused", rotation=90, ha="center", va="bottom",
                                  fontsize=7, color="tab:red")
                continue
            ratio_ax.bar(x, r["ratio"], width, color=colour, label=label)
            label = None
            diff = r["score_max_rel_diff"]
            diff_ax.plot(x, max(diff, _EXACT_FLOOR), "o", color=colour,
                         markerfacecolor=colour if r["file_identical"] else "white")
    ratio_ax.axhline(1.0, color="tab:red", linestyle="--", linewidth=1,
                     label="as slow as the refit")
    ratio_ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ratio_ax.yaxis.set_major_formatter(plain)
    spread = [r["ratio"] for r in rows if "ratio" in r] + [1.0]
    few = max(spread) / min(spread) < 100                 # under 2 decades: label 2 and 5 too
    ratio_ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if few and round(v / 10 ** np.floor(np.log10(v))) in (2, 5)
        else ""))
    ratio_ax.set_ylabel("update time / refit time\n(log scale; below 1: faster)")
    ratio_ax.grid(axis="y", alpha=0.3)
    ratio_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    for i, m in enumerate(models):                           # the refit's own time, for scale
        refit = [r["refit_s"] for r in rows if r["model"] == m and "refit_s" in r]
        if refit:
            ratio_ax.text(i, 1.0, f"refit {np.median(refit):.3g} s", ha="center",
                          va="bottom", fontsize=7, transform=ratio_ax.get_xaxis_transform())
    diff_ax.set_yscale("log")
    diffs = [r["score_max_rel_diff"] for r in rows if "score_max_rel_diff" in r]
    top = max([d for d in diffs if d > 0] + [1e-15])
    diff_ax.set_ylim(_EXACT_FLOOR / 3, top * 30)
    exponents = range(-16, int(np.floor(np.log10(top * 30))) + 1)
    diff_ax.set_yticks([_EXACT_FLOOR] + [10.0 ** e for e in exponents],
                       ["0 (exact)"] + [f"1e{e}" for e in exponents])
    diff_ax.minorticks_off()
    diff_ax.axhline(np.finfo(np.float64).eps, color="0.5", linestyle=":", linewidth=1)
    diff_ax.text(1.0, np.finfo(np.float64).eps, " float64 eps", va="center", fontsize=7,
                 color="0.4", transform=diff_ax.get_yaxis_transform())
    diff_ax.set_ylabel("max |S - S_refit| / max |S_refit|\n(hollow: saved file differs)")
    diff_ax.grid(axis="y", alpha=0.3)
    diff_ax.set_xticks(range(len(models)), models)
    diff_ax.set_xlabel("model")
    fig.suptitle("forget / partial_fit against a refit on the data it must equal" + title
                 + "\n(above each model: the median time of its refits)", fontsize=10)
    return save_figure(fig, name, out_dir, record=record)


def plot_unlearning_embedding(rows, name, out_dir, title="", record=None):
    """``<name>.png`` for the trained models' forget rows (``unlearning_embedding_*``, written by
    ``bench_realtime.py``): per model, before / fine-tune / retrain (the oracle), the median
    rank of the forgotten items (the kept control items as black marks), the share of them
    still in the top 20, and the seconds each method took. ``record``, the results JSON drawn
    from, names the machine in a footer."""
    from minigraphrec import plot
    models = list(dict.fromkeys(r["model"] for r in rows))
    methods = list(dict.fromkeys(r["what"] for r in rows))
    colours = {"before": "0.6", "fine_tune": "tab:orange", "retrain": "tab:blue"}
    width = 0.8 / len(methods)
    fig, axes = plot.subplots(1, 3, figsize=(13.0, 4.4))
    panels = (("median_rank_forgotten", "median rank of the forgotten items\n"
               "(1 = top; higher = more forgotten)", "{:.3g}"),
              ("top20_share_forgotten", "share of the forgotten items still in the top 20",
               "{:.2f}"),
              ("seconds", "seconds (one thread)", "{:.3g} s"))
    for ax, (key, ylabel, fmt) in zip(axes, panels):
        for j, what in enumerate(methods):
            for i, m in enumerate(models):
                r = next((r for r in rows if r["model"] == m and r["what"] == what), None)
                if r is None or r.get(key) is None:
                    continue
                x = i - 0.4 + (j + 0.5) * width
                ax.bar(x, r[key], width, color=colours.get(what, "tab:green"),
                       label=what if i == 0 else None)
                if key == "seconds" and r[key] == 0:
                    ax.text(x, 0, "no\nupdate", ha="center", va="bottom", fontsize=7)
                else:
                    ax.text(x, r[key], fmt.format(r[key]), ha="center", va="bottom",
                            fontsize=7)
                if key == "median_rank_forgotten" and "median_rank_kept_control" in r:
                    ax.plot([x - width / 2, x + width / 2], [r["median_rank_kept_control"]] * 2,
                            color="black", linewidth=2,
                            label="kept control items (median rank)" if (i, j) == (0, 0)
                            else None)
        ax.set_xticks(range(len(models)), models)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4,
               fontsize=8, frameon=False)
    pairs = rows[0].get("pairs", "?") if rows else "?"
    fig.suptitle(f"forgetting {pairs} training pairs of the trained models: fine-tune "
                 f"against a retrain without them (the oracle)" + (f"\n{title}" if title else ""),
                 fontsize=10)
    return save_figure(fig, name, out_dir, record=record)


def main():
    parser = benchmark_parser(
        "forget / partial_fit of the classic models against a refit",
        smoke="a synthetic 150 x 120 set instead of ML-100K: Popularity, ItemKNN and EASE, "
              "1 round",
        repeat_help="interleaved rounds; the median is reported")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the unpacked MovieLens-100K folder, ml-100k/ with u.data (required but with --smoke)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {', '.join(MODELS)} (default all)")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba and BLAS threads (default 1: on a shared machine a "
                             "2-thread OpenBLAS made a 943 x 1,682 SVD up to 30x slower)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the users and items forgotten or added (default 0)")
    parser.add_argument("--plot-only", nargs="?", const="unlearning_ml100k", metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json (default NAME "
                             "unlearning_ml100k; unlearning_embedding_ml100k for "
                             "bench_realtime.py's trained models); run nothing")
    args = parser.parse_args()
    if args.plot_only:
        return replot(read_record(args.out, args.plot_only), args.plot_only, args.out)
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        parser.error(f"--models: unknown {', '.join(map(repr, unknown))}; choose from "
                     f"{', '.join(MODELS)}")
    require_data(args, "the unpacked MovieLens-100K folder", files=ML100K_FILES)
    import minigraphrec as mgr
    from minigraphrec.threadpools import set_threads

    set_threads(args.threads)

    if args.smoke:
        data = mgr.datasets.synthetic(n_users=150, n_items=120, random_state=0)
        args.repeat = 1
        args.models = "Popularity,ItemKNN,EASE"
    else:
        data = mgr.datasets.load_movielens_100k(args.data)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            params = MODELS[name]
            rng = np.random.default_rng(args.seed)
            for operation, scenario, make, base_data in scenarios(data, rng):
                base = getattr(mgr, name)(**params).fit(with_features(base_data, data))
                fn, oracle = make(base)
                try:
                    result = measure(name, params, base, fn, oracle, args.repeat, folder)
                except mgr.DataError as exc:
                    result = {"how": f"refused: {exc}"[:120]}
                row = {"model": name, "operation": operation, "scenario": scenario, **result,
                       "load_1min": machine_info()["load_average_1min"]}
                print(row, flush=True)
                rows.append(row)
    notes = ("update_s: median time of the update on a copy of the fitted model; refit_s: "
             "median time of fit on the data the update must equal (interleaved rounds, "
             f"{args.repeat} each). score_max_rel_diff = max|S - S_refit| / max|S_refit| over "
             "all users and items; file_identical: the .npz written by mgr.save after the "
             "update holds exactly the arrays of the refit's file (else file_max_rel_diff). "
             "Shared 2-core machine: times are noisy; the ratio is the number to read. "
             "GF-CF in float64; other models with library defaults.")
    if args.smoke:
        notes = "SMOKE RUN on synthetic data, not a result. " + notes
    columns = ["model", "operation", "scenario", "update_s", "refit_s", "ratio",
               "score_max_rel_diff", "file_identical", "file_max_rel_diff", "how", "load_1min"]
    name = "unlearning_smoke" if args.smoke else "unlearning_ml100k"
    paths = write_results(name, rows, columns, out_dir=args.out, notes=notes)
    for path in paths:
        print("wrote", path)
    plot_unlearning(rows, name, args.out, ", smoke run (synthetic)" if args.smoke else
                    f", {args.data.name}, medians of {args.repeat} interleaved rounds",
                    record=json.loads(Path(paths[0]).read_text()))


if __name__ == "__main__":
    main()
