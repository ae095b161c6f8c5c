r"""Benchmark: EASE on catalogues where most items have no user, against the full solve.

An item nobody took has a zero column in ``X``, so ``G = XᵀX`` has a zero row and column
there, ``P = (G + λI)⁻¹`` is ``1/λ`` on its diagonal and zero elsewhere in them, and ``B``'s
rows and columns for such items are exactly zero. ``EASE.fit`` therefore inverts only the
``m`` items that have a user. The reference, timed in the same run, is the full solve it
replaced: ``G + λI`` over all ``n`` items, inverted by :func:`minigraphrec.linalg.spd_inverse`
(the same tiled Cholesky), ``B = I − P diag(1/diag P)`` with a zero diagonal. Each fit runs
in a fresh process (``OPENBLAS_NUM_THREADS=1``: this machine's OpenBLAS has crashed in
threaded dense factorisations of large matrices), the two alternating, ``--repeat`` rounds;
the median is reported with the process's peak resident memory (``VmHWM``). The two ``B``
are compared wherever both ran (``max_rel_diff``: largest difference over ``max |B|``).

    python benchmarks/bench_ease_catalogue.py                        # 2,000 / 8,000 / 20,000
    python benchmarks/bench_ease_catalogue.py --smoke --out /tmp/r   # what the tests run
    python benchmarks/bench_ease_catalogue.py --plot-only            # redraw the PNG from its JSON

``--max-reference N`` skips the full solve above ``N`` items (default 8,000: at 20,000 it
ran for more than 200 s before it was stopped in the audit that found it). ``--data DIR``
(an unpacked MovieLens-100K folder) adds a real catalogue: its users 1-50 over all
1,682 items.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from _common import (ML100K_FILES, benchmark_parser, check_data, read_record, save_figure,
                     status_bytes, write_results)

TAG = "RESULT "
N_USERS, PER_USER, L2 = 200, 5, 10.0
ML100K_USERS = 50


def _data(source):
    """``source`` an item count: 200 users, 5 random items each, over that catalogue; else a
    MovieLens-100K folder: its users 1-50 (raw ids) over the whole catalogue."""
    import numpy as np

    import minigraphrec as mgr
    if not source.isdigit():
        data = mgr.datasets.load_movielens_100k(source)
        return data.subset(data.users < ML100K_USERS)
    n_items = int(source)
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(N_USERS), PER_USER)
    items = np.concatenate([rng.choice(n_items, PER_USER, replace=False)
                            for _ in range(N_USERS)])
    return mgr.Interactions(users, items, n_users=N_USERS, n_items=n_items)


def _full_solve(R, l2):
    """The full-catalogue solve EASE used before: every item in ``G``."""
    import numpy as np

    from minigraphrec.linalg import spd_inverse
    G = np.asarray((R.T @ R).toarray(order="C"), dtype=np.float64)
    G[np.diag_indices_from(G)] += l2
    P = spd_inverse(G, overwrite_a=True)
    B = -P / np.diag(P)
    B[np.diag_indices_from(B)] = 0.0
    return B


def worker(source, how, check):
    """In a fresh process: fit one way, print seconds, peak memory and (``check``) B's
    largest difference from the other way."""
    import numpy as np

    import minigraphrec as mgr
    train = _data(source)
    R = train.to_csr()
    t0 = time.perf_counter()
    if how == "ease":
        B = mgr.EASE(l2=L2, max_items=None).fit(train).B_
    else:
        B = _full_solve(R, L2)
    seconds = time.perf_counter() - t0
    peak = status_bytes("VmHWM") / 2**20                      # before the check's own solve
    diff = None
    if check:
        other = _full_solve(R, L2) if how == "ease" else mgr.EASE(l2=L2, max_items=None).fit(
            train).B_
        diff = float(np.abs(B - other).max() / np.abs(other).max())
    print(TAG + json.dumps({"n_items": R.shape[1], "active_items": int(np.unique(R.indices).size),
                            "how": how, "seconds": seconds,
                            "peak_MiB": peak, "max_rel_diff": diff}),
          flush=True)


def _run(source, how, check):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--worker", str(source), how, str(int(check))]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(TAG)]
    if proc.returncode != 0 or not lines:
        sys.exit(f"bench_ease_catalogue.py: error: {how} on {source} failed "
                 f"(status {proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][len(TAG):])


def _plot(rows, out_dir, name, record=None):
    """``<name>.png``: fit seconds of EASE.fit and of the full solve against the synthetic
    catalogue's size, log-log; ``record``, the results JSON drawn from, names the machine in a
    footer."""
    from minigraphrec import plot
    fig, ax = plot.subplots(figsize=(6.4, 4.2))
    for how, label, marker in (("ease", "EASE.fit (items with a user)", "o"),
                               ("full", "full solve (every item)", "s")):
        pts = [(r["n_items"], r[f"{how}_s"]) for r in rows
               if r["data"] == "synthetic" and r.get(f"{how}_s") is not None]
        if pts:
            ax.plot(*zip(*pts), marker=marker, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"catalogue size (items; {N_USERS} users, {PER_USER} items each)")
    ax.set_ylabel("fit seconds (median, 1 BLAS thread)")
    ax.set_title("EASE on sparse catalogues")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, name, out_dir, record=record)


def main():
    parser = benchmark_parser(__doc__.splitlines()[0],
                              smoke="catalogues of 300 and 600 items, 2 rounds",
                              repeat_help="rounds, each fit in its own process; the median "
                                          "is reported")
    parser.set_defaults(repeat=3)
    parser.add_argument("--items", type=int, nargs="+", default=[2000, 8000, 20000],
                        help="catalogue sizes (default 2000 8000 20000)")
    parser.add_argument("--max-reference", type=int, default=8000,
                        help="largest catalogue the full solve runs on (default 8000)")
    parser.add_argument("--data", metavar="DIR",
                        help="an unpacked MovieLens-100K folder: its users 1-50 over all "
                             "items are measured too")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw <out>/ease_catalogue.png from ease_catalogue.json; run "
                             "nothing")
    parser.add_argument("--worker", nargs=3, help=__import__("argparse").SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.worker[2] == "1")
    if args.plot_only:
        record = read_record(args.out, "ease_catalogue")
        return _plot(record["rows"], args.out, "ease_catalogue", record=record)
    if args.data is not None:
        check_data(args.data, ML100K_FILES, "the unpacked MovieLens-100K folder")
    sizes, repeat = ([300, 600], 2) if args.smoke else (args.items, args.repeat)
    sources = [str(n) for n in sizes] + ([os.path.abspath(args.data)] if args.data else [])
    name = "ease_catalogue_smoke" if args.smoke else "ease_catalogue"
    rows = []
    for source in sources:
        synthetic = source.isdigit()
        reference = not synthetic or int(source) <= args.max_reference
        times = {"ease": [], "full": []}
        peaks = {"ease": [], "full": []}
        diff, active = None, None
        for r in range(repeat):
            for how in ("ease", "full") if reference else ("ease",):
                res = _run(source, how, check=reference and r == 0 and how == "ease")
                times[how].append(res["seconds"])
                peaks[how].append(res["peak_MiB"])
                active, n = res["active_items"], res["n_items"]
                diff = res["max_rel_diff"] if res["max_rel_diff"] is not None else diff
        row = {"data": "synthetic" if synthetic else f"DATA/ml-100k, users 1-{ML100K_USERS}",
               "n_items": n, "active_items": active,
               "ease_s": statistics.median(times["ease"]),
               "full_s": statistics.median(times["full"]) if reference else None,
               "ease_peak_MiB": max(peaks["ease"]),
               "full_peak_MiB": max(peaks["full"]) if reference else None,
               "full/ease": (statistics.median(times["full"]) / statistics.median(times["ease"])
                             if reference else None),
               "max_rel_diff": diff}
        rows.append(row)
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
              flush=True)
    notes = (f"synthetic: {N_USERS} users, {PER_USER} random items each (seed 0); ml-100k: "
             f"users 1-{ML100K_USERS} (raw ids; internal ids below {ML100K_USERS}) "
             f"over the whole catalogue. l2 {L2}. Each fit in a "
             f"fresh process with OPENBLAS_NUM_THREADS=1, EASE.fit and the full solve "
             f"alternating, median of {repeat} rounds; peak_MiB: the process's VmHWM (data "
             f"and imports included). full solve: G + l2 I over every item, inverted by "
             f"minigraphrec.linalg.spd_inverse, what EASE.fit did before it inverted only the "
             f"items with a user; skipped above --max-reference {args.max_reference} items. "
             f"max_rel_diff: max |B_ease - B_full| / max |B_full|.")
    columns = ["data", "n_items", "active_items", "ease_s", "full_s", "full/ease", "ease_peak_MiB",
               "full_peak_MiB", "max_rel_diff"]
    json_path, _ = write_results(
        name, rows, columns, out_dir=args.out, notes=notes,
        threads="1 BLAS thread in each fit's process",
        md_rows=[{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
    _plot(rows, args.out, name, record=json.loads(json_path.read_text()))


if __name__ == "__main__":
    main()
