"""Benchmark: membership inference's rank signal, the numba kernel against its NumPy reference.

``mgr.privacy.membership_inference(model, train, test)`` reads, for every (user, item) pair,
the item's mid-rank in the user's score row. ``backend="numpy"`` sorts each scored row;
``backend="numba"`` (``kernels.mid_rank``) counts without sorting: a vectorised pass per pair,
or, for a user with more than 128 pairs, one binary-search merge of the row. The attack with
``signal="score"`` reads the pairs' scores only, so its time is about that of scoring every
user once: the floor of the other two.

Models, on the LightGCN-format split of ``--data`` (Gowalla: all 810,128 training pairs as
members against the 217,242 test pairs): an MF of 64 dims at its initialisation (random
embeddings: scores almost never tie) and Popularity (a few thousand distinct scores: ties
everywhere, the merge path's hard case). Each attack is timed ``--repeat`` times round-robin
after one untimed call (compiling the kernel), and the two rank backends' signals are
compared bit for bit. A last row times one synthetic row alone, 41,000 items of which 20,000
chosen ones all tie at 0, through the kernel's merge path and the reference.

    python benchmarks/bench_membership_speed.py --data DATA/gowalla
    python benchmarks/bench_membership_speed.py --smoke --out /tmp/r     # what the tests run
    python benchmarks/bench_membership_speed.py --plot-only     # redraw the PNG from its JSON
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from _common import (benchmark_parser, interleaved_times, read_record, recorded_option,
                     require_data, save_figure, thread_counts, write_results)

ATTACKS = ("rank, numba", "rank, numpy", "score")


def load(args):
    """``(train, test, name)``: the LightGCN-format split of ``--data``, or with ``--smoke``
    a synthetic 300 x 400 one."""
    import minigraphrec as mgr
    if args.smoke:
        from minigraphrec.split import random_split
        data = mgr.datasets.synthetic(n_users=300, n_items=400, random_state=0)
        return (*random_split(data, test_size=0.2, random_state=0), "synthetic 300 x 400")
    train, test = mgr.datasets.load_lightgcn(args.data / "train.txt", args.data / "test.txt")
    return train, test, args.data.name


def attack_rows(name, model, train, test, repeat):
    """One row per attack on ``model``: median seconds, ratio to the score attack, and
    whether the two rank backends gave the same bits."""
    from minigraphrec.privacy import membership_inference

    results = {}

    def run(attack):
        signal, _, backend = attack.partition(", ")
        def call():
            results[attack] = membership_inference(model, train, test, signal=signal,
                                                   backend=backend or "numba")
        return call

    calls = {attack: run(attack) for attack in ATTACKS}
    calls["rank, numba"]()                                   # compiles (or loads) the kernel
    times = interleaved_times(calls, repeat)
    same = (np.array_equal(results["rank, numba"].member_signal,
                           results["rank, numpy"].member_signal)
            and np.array_equal(results["rank, numba"].non_member_signal,
                               results["rank, numpy"].non_member_signal))
    floor = times["score"][0]
    return [{"model": name, "attack": attack, "seconds_median": times[attack][0],
             "seconds_all": [round(t, 4) for t in times[attack][1]],
             "ratio_to_score": times[attack][0] / floor,
             "auc": results[attack].auc,
             # the numba and NumPy rank signals agree: a rank row's; the score attack has none
             "rank_backends_identical": same if attack.startswith("rank") else None}
            for attack in ATTACKS]


def tie_row(repeat, n_items=41_000, n_tied=20_000):
    """The kernel's merge path on one row of ``n_items`` scores, ``n_tied`` chosen items all
    tied at 0 (500 other items score above them), against the sorting reference."""
    from minigraphrec.kernels.mid_rank import mid_ranks
    from minigraphrec.privacy import _MID_RANK_SCAN_MAX, _mid_ranks_numpy
    rng = np.random.default_rng(0)
    S = np.zeros((1, n_items))
    S[0, :500] = rng.random(500)
    items = np.sort(rng.choice(np.arange(500, n_items), n_tied, replace=False)).astype(np.int64)
    indptr = np.array([0, n_tied], dtype=np.int64)
    out = {"numba": np.empty(n_tied), "numpy": np.empty(n_tied)}
    calls = {"rank, numba": lambda: mid_ranks(S, indptr, items, _MID_RANK_SCAN_MAX,
                                              out["numba"]),
             "rank, numpy": lambda: _mid_ranks_numpy(S, indptr, items, out["numpy"])}
    calls["rank, numba"]()
    times = interleaved_times(calls, repeat)
    same = bool(np.array_equal(out["numba"], out["numpy"]))
    return [{"model": f"one row, {n_tied:,} of {n_items:,} items tied", "attack": attack,
             "seconds_median": times[attack][0],
             "seconds_all": [round(t, 6) for t in times[attack][1]],
             "ratio_to_score": None, "auc": None, "rank_backends_identical": same}
            for attack in calls]


def title_of(data_name, threads):
    """The figure's title: the data and the thread count of the run."""
    return (f"membership_inference on {data_name}: rank signal, numba against NumPy "
            f"({threads} thread(s))")


def plot_rows(rows, stem, out, title, record=None):
    """Seconds per attack and model, log scale; ``record``, the results JSON drawn from, names
    the machine in a footer."""
    from minigraphrec import plot
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = plot.subplots(figsize=(8, 3.6))
    width = 0.27
    for k, attack in enumerate(ATTACKS):
        xs, ys = [], []
        for m, model in enumerate(models):
            row = next((r for r in rows if r["model"] == model and r["attack"] == attack), None)
            if row is not None:
                xs.append(m + (k - 1) * width)
                ys.append(row["seconds_median"])
        bars = ax.bar(xs, ys, width, label=attack)
        ax.bar_label(bars, labels=[f"{y:.3g} s" for y in ys], fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(models)), models, fontsize=8)
    ax.set_ylabel("seconds (median, log scale)")
    ax.set_title(title, fontsize=9)
    ax.legend(title="attack", fontsize=8)
    return save_figure(fig, stem, out, record=record)


def main():
    parser = benchmark_parser(__doc__.splitlines()[0], smoke="a synthetic 300 x 400 split",
                              repeat_help="timed rounds")
    parser.set_defaults(repeat=3)
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="a folder with a LightGCN-format train.txt and test.txt "
                             "(required but with --smoke)")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba and BLAS threads (default 1)")
    parser.add_argument("--plot-only", nargs="?", const="membership_speed_gowalla",
                        metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json (default NAME "
                             "membership_speed_gowalla); run nothing")
    args = parser.parse_args()
    if args.plot_only:
        record = read_record(args.out, args.plot_only)
        data_name = record["notes"].removeprefix("Data: ").split(":", 1)[0]     # gowalla
        return plot_rows(record["rows"], args.plot_only, args.out,
                         title_of(data_name, recorded_option(record, "--threads") or 1),
                         record=record)
    require_data(args, "a LightGCN-format split", files=("train.txt", "test.txt"))
    import minigraphrec as mgr

    train, test, data_name = load(args)
    load_before = os.getloadavg()[0]
    with mgr.threads(args.threads):
        threads = thread_counts()
        rows = attack_rows("MF (random, 64 dims)", mgr.MF(dim=64, epochs=0, random_state=0)
                           .fit(train), train, test, args.repeat)
        rows += attack_rows("Popularity", mgr.Popularity().fit(train), train, test,
                            args.repeat)
        rows += tie_row(args.repeat, *((4_100, 2_000) if args.smoke else ()))
    notes = (f"Data: {data_name}: members all {len(train):,} training pairs, non-members all "
             f"{len(test):,} test pairs (distinct pairs count once). Median of {args.repeat} "
             "round-robin runs after one untimed call of the numba backend; ratio_to_score: "
             "the attack's time over the score attack's (about one scoring of every user). "
             "rank_backends_identical: the numba and NumPy signals are the same bits (None "
             "on the score attack's rows, which have one backend). The "
             "last two rows time the kernel and the reference alone on one synthetic row. "
             f"1-min load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at "
             "the end.")
    stem = "membership_speed_smoke" if args.smoke else f"membership_speed_{data_name}"
    columns = ["model", "attack", "seconds_median", "ratio_to_score", "auc",
               "rank_backends_identical"]
    json_path, md_path = write_results(stem, rows, columns, out_dir=args.out, notes=notes,
                                       threads=threads)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    plot_rows(rows, stem, args.out, title_of(data_name, args.threads),
              record=json.loads(Path(json_path).read_text()))


if __name__ == "__main__":
    main()
