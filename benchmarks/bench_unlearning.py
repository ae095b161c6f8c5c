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

    python benchmarks/bench_unlearning.py --data ../shared/data/ml-100k --repeat 5
    python benchmarks/bench_unlearning.py --smoke --out /tmp/r        # synthetic, what tests run
"""
from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import benchmark_parser, machine_info, write_results

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"

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


def main():
    parser = benchmark_parser("forget / partial_fit of the classic models against a refit")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="MovieLens-100K folder")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=1,
                        help="numba and BLAS threads (default 1: on a shared machine a "
                             "2-thread OpenBLAS made a 943 x 1,682 SVD up to 30x slower)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
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
    for path in write_results(name, rows, columns, out_dir=args.out, notes=notes):
        print("wrote", path)


if __name__ == "__main__":
    main()
