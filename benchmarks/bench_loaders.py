r"""Benchmark: how fast the loaders read interaction files, against a hand-written reader.

Question: is reading a file ever the slow step? A user's first alternative to
:func:`minigraphrec.datasets.load_triples` is a few lines of Python's :mod:`csv` module
(C-implemented) with a dict that numbers the ids and ``float()`` for the values; that
reader, written here (:func:`csv_reference`), is the reference. It checks nothing (field
counts, quotes, NaN, missing ids, timestamps' range), so a loader that is no slower than
it pays nothing for its checks.

Files (written once into a temporary folder, seeded, ``--lines`` lines each, 50,000 users
and 40,000 items with Zipf-like item popularity):

* ``csv``: ``user,item,rating,timestamp``, numeric (MovieLens' ``ratings.csv`` layout);
* ``tsv``: the same, tab-separated (``u.data``);
* ``dcolon``: the same, ``::``-separated (MovieLens-1M's ``ratings.dat``);
* ``quoted``: every field quoted, string ids (an Amazon export:
  ``"A00000000000042","B000000017","5.0","1600000000"``);
* ``iso``: ``user,item,timestamp`` with ISO-8601 times (``2009-05-04T23:08:57Z``);
* ``gzip``: ``csv`` compressed;
* ``commas``: ``quoted`` whose item names hold a comma inside the quotes (the
  line-by-line reader's case);
* ``lightgcn``: the LightGCN papers' ``user item item ...`` lists
  (:func:`~minigraphrec.datasets.load_lightgcn`), the same pairs grouped by user; its
  reference splits each line and maps it to ints.

With ``--data DIR`` (a folder holding ``ml-100k/u.data`` and ``gowalla/train.txt``), those
real files are read too (``u.data``: tab-separated, the ``tsv`` readers; ``train.txt``: the
``lightgcn`` ones).

Per file the two readers run interleaved (round ``r`` runs each once), ``--repeat`` rounds,
the median is reported; before timing, the loader's ids (as raw strings, in order of first
appearance), ratings and timestamps are checked equal to the reference's. Where pandas is
installed, ``pandas.read_csv`` plus ``factorize`` (what a pandas user writes) is timed too
(not for ``lightgcn``), for scale; it is not the reference.

No target: this is a record of what the loaders' checks cost against a reader that makes
none, and of which layouts leave the whole-chunk fast path (``commas``: a separator inside
quotes; it is read line by line, in Python).

Results: ``results/loaders.{json,md}`` and ``loaders.png`` (seconds per million interactions,
each file's loader beside its reference); ``loaders_smoke`` with ``--smoke``.

    python benchmarks/bench_loaders.py --data DATA
    python benchmarks/bench_loaders.py --smoke --out /tmp/r        # what the tests run
    python benchmarks/bench_loaders.py --plot-only         # redraw loaders.png from its JSON
"""
from __future__ import annotations

import csv
import datetime
import gzip
import json
import tempfile
from pathlib import Path

import numpy as np

from _common import (benchmark_parser, check_data, interleaved_times, require_file, save_figure,
                     write_results)

#: the real files read with --data, by row name, relative to --data
REAL_FILES = {"u.data": "ml-100k/u.data", "gowalla": "gowalla/train.txt"}

N_USERS, N_ITEMS = 50_000, 40_000


def draw_pairs(n_lines, seed=0):
    """``(users, items, ratings, times)``, int64 (n,) each, seeded; items Zipf-like."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, N_USERS, n_lines)
    items = (rng.zipf(1.3, n_lines) - 1) % N_ITEMS
    ratings = rng.integers(1, 6, n_lines)
    times = 1_600_000_000 + rng.integers(0, 100_000_000, n_lines)
    return users, items, ratings, times


def iso(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def write_files(folder, n_lines):
    """``{name: path}`` of the benchmark's files, written into ``folder``."""
    u, i, r, t = draw_pairs(n_lines)
    rows = list(zip(u.tolist(), i.tolist(), r.tolist(), t.tolist()))
    text = {
        "csv": "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in rows),
        "tsv": "".join(f"{a}\t{b}\t{c}\t{d}\n" for a, b, c, d in rows),
        "dcolon": "".join(f"{a}::{b}::{c}::{d}\n" for a, b, c, d in rows),
        "quoted": "".join(f'"A{a:014d}","B{b:09d}","{c}.0","{d}"\n' for a, b, c, d in rows),
        "iso": "".join(f"{a},{b},{iso(d)}\n" for a, b, c, d in rows),
        "commas": "".join(f'"A{a:014d}","Item {b}, vol. {b % 7}","{c}.0","{d}"\n'
                          for a, b, c, d in rows),
    }
    paths = {}
    for name, body in text.items():
        paths[name] = folder / f"{name}.{'tsv' if name == 'tsv' else 'csv'}"
        paths[name].write_text(body)
    paths["gzip"] = folder / "csv.csv.gz"
    with gzip.open(paths["gzip"], "wt", compresslevel=1) as f:
        f.write(text["csv"])
    by_user = {}
    for a, b in zip(u.tolist(), i.tolist()):
        by_user.setdefault(a, []).append(b)
    paths["lightgcn"] = folder / "train.txt"
    paths["lightgcn"].write_text("".join(f"{a} {' '.join(map(str, bs))}\n"
                                         for a, bs in sorted(by_user.items())))
    return paths


# ------------------------------------------------------------------ readers
LAYOUT = {"csv": (",", 4), "tsv": ("\t", 4), "dcolon": ("::", 4), "quoted": (",", 4),
          "gzip": (",", 4), "commas": (",", 4), "iso": (",", 3), "u.data": ("\t", 4)}





def _iso_seconds(token):
    return datetime.datetime.fromisoformat(token.replace("Z", "+00:00")).timestamp()


def csv_reference(path, name):
    """The hand-written reader: ``(user raw ids, item raw ids, user ids, item ids, ratings,
    times)``, ids numbered in order of first appearance, values float64 (None if absent)."""
    sep, n_fields = LAYOUT[name]
    users, items, u, i, r, t = {}, {}, [], [], [], []
    opener = gzip.open if name == "gzip" else open
    with opener(path, "rt", newline="") as f:
        if len(sep) == 1:
            lines = csv.reader(f, delimiter=sep)
        else:
            lines = (line.rstrip("\n").split(sep) for line in f)
        for row in lines:
            u.append(users.setdefault(row[0], len(users)))
            i.append(items.setdefault(row[1], len(items)))
            if n_fields == 4:
                r.append(float(row[2]))
                t.append(float(row[3]))
            else:
                t.append(_iso_seconds(row[2]))
    return (list(users), list(items), np.asarray(u), np.asarray(i),
            np.asarray(r) if r else None, np.asarray(t))


def lightgcn_reference(path):
    """``(users, items)`` int64 of ``user item item ...`` lines, split and mapped to ints."""
    u, i = [], []
    with open(path) as f:
        for line in f:
            ids = line.split()
            u.extend([int(ids[0])] * (len(ids) - 1))
            i.extend(map(int, ids[1:]))
    return np.asarray(u, dtype=np.int64), np.asarray(i, dtype=np.int64)


def pandas_reader(path, name):
    """``pandas.read_csv`` + ``factorize``, or None where pandas is not installed."""
    try:
        import pandas as pd
    except ImportError:
        return None
    sep, n_fields = LAYOUT[name]

    def read():
        frame = pd.read_csv(path, sep=sep, header=None, engine="c" if len(sep) == 1 else
                            "python", dtype={0: str, 1: str})
        pd.factorize(frame[0])
        pd.factorize(frame[1])
        if name == "iso":
            pd.to_datetime(frame[2], utc=True)
        return frame
    return read


def loader(path, name):
    from minigraphrec import datasets
    if name in ("lightgcn", "gowalla"):
        return lambda: datasets.load_lightgcn(path)
    columns = "user,item,timestamp" if name == "iso" else None
    return lambda: datasets.load_triples(path, header=False, columns=columns)


def check_equal(path, name):
    """The number of interactions, once the loader's result is checked equal to the
    reference's (ids in first-appearance order, values); AssertionError naming the file
    if not."""
    data = loader(path, name)()
    if name in ("lightgcn", "gowalla"):
        u, i = lightgcn_reference(path)
        assert np.array_equal(data.users, u) and np.array_equal(data.items, i), name
        return len(data)
    user_raw, item_raw, u, i, r, t = csv_reference(path, name)
    assert data.user_ids.tolist() == user_raw and data.item_ids.tolist() == item_raw, name
    assert np.array_equal(data.users, u) and np.array_equal(data.items, i), name
    assert (data.weights is None) == (r is None), name
    if r is not None:
        assert np.array_equal(data.weights, r), name
    assert np.array_equal(data.timestamps, t), name
    return len(data)


# ------------------------------------------------------------------ figure
def plot(rows, name, out_dir, record=None):
    """``<name>.png``: seconds per million interactions of each loader per file layout, the
    ratio to the csv reference over minigraphrec's bar; ``record``, the results JSON drawn
    from, names the machine in a footer."""
    from minigraphrec.plot import subplots
    fig, ax = subplots(figsize=(8, 4.2))
    x = np.arange(len(rows))
    bars = [("loader", "minigraphrec", "tab:blue"), ("reference", "csv module + dict",
                                                      "tab:gray")]
    if any(r.get("pandas_s") is not None for r in rows):
        bars.append(("pandas", "pandas.read_csv + factorize", "tab:orange"))
    width = 0.8 / len(bars)
    for k, (key, label, colour) in enumerate(bars):
        values = [(r.get(f"{key}_s") or np.nan) * 1e6 / r["interactions"] for r in rows]
        ax.bar(x + (k - (len(bars) - 1) / 2) * width, values, width, label=label,
               color=colour)
    for xi, r in zip(x, rows):
        ax.annotate(f"{r['ratio']:.2f}×", (xi, r["loader_s"] * 1e6 / r["interactions"]),
                    ha="center",
                    va="bottom", fontsize=8, xytext=(-width * 30, 2),
                    textcoords="offset points")
    ax.set_xticks(x, [r["file"] for r in rows])
    ax.set_xlabel("file layout (ratio: minigraphrec / csv reference, median of rounds)")
    ax.set_ylabel("seconds per million interactions")
    ax.set_title("Reading interaction files (median of interleaved rounds)")
    ax.legend(frameon=False)
    return save_figure(fig, name, out_dir, record=record)


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0],
        smoke="2,000-line synthetic files instead of --lines, 2 rounds (a --data folder is "
              "still read)",
        repeat_help="interleaved rounds per file; the median is reported")
    parser.set_defaults(repeat=5)
    parser.add_argument("--lines", type=int, default=1_000_000,
                        help="lines per file (default 1,000,000)")
    parser.add_argument("--data", type=Path,
                        help="folder holding ml-100k/u.data and gowalla/train.txt, timed "
                             "too (also with --smoke)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw <out>/loaders.png from loaders.json; run nothing")
    args = parser.parse_args()
    if args.plot_only:
        source = Path(args.out) / "loaders.json"
        require_file(source, "--plot-only", "give --out the folder of an earlier run")
        record = json.loads(source.read_text())
        return plot(record["rows"], "loaders", args.out, record=record)
    if args.data is not None:                           # read even with --smoke
        check_data(args.data, REAL_FILES.values(),
                   "the folder holding the ml-100k/ and gowalla/ folders")
    n_lines, repeat = (2_000, 2) if args.smoke else (args.lines, args.repeat)
    name = "loaders_smoke" if args.smoke else "loaders"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), n_lines)
        if args.data is not None:
            paths.update({name: args.data / file for name, file in REAL_FILES.items()})
        for file, path in paths.items():
            n_inter = check_equal(path, file)
            candidates = {"loader": loader(path, file)}
            if file in ("lightgcn", "gowalla"):
                candidates["reference"] = lambda p=path: lightgcn_reference(p)
            else:
                candidates["reference"] = lambda p=path, f=file: csv_reference(p, f)
                read = None if file in ("gzip", "gowalla") else pandas_reader(path, file)
                if read is not None:
                    candidates["pandas"] = read
            times = interleaved_times(candidates, repeat)
            row = {"file": file, "interactions": n_inter,
                   "MB": round(path.stat().st_size / 1e6, 1),
                   "loader_s": times["loader"][0], "reference_s": times["reference"][0],
                   "pandas_s": times["pandas"][0] if "pandas" in times else None}
            row["ratio"] = row["loader_s"] / row["reference_s"]
            rows.append(row)
            print(f"{file:9s} loader {row['loader_s']:.3f} s  reference "
                  f"{row['reference_s']:.3f} s  ratio {row['ratio']:.2f}"
                  + (f"  pandas {row['pandas_s']:.3f} s" if row["pandas_s"] else ""))
    notes = (f"synthetic files: {n_lines:,} lines each, {N_USERS:,} users, {N_ITEMS:,} items "
             f"(Zipf-like); u.data and gowalla (with --data): the real files; "
             f"median of {repeat} interleaved rounds. reference: the csv module and a dict "
             f"(lightgcn: str.split and int), checked equal to the loader before timing. "
             f"ratio = loader / reference (no target). pandas: read_csv + factorize, for "
             f"scale (empty: not installed, or gzip/lightgcn/gowalla). One process, one "
             f"thread (the loaders use none).")
    json_path, _ = write_results(name, rows, ["file", "interactions", "MB", "loader_s",
                                              "reference_s", "pandas_s", "ratio"],
                                 out_dir=args.out, notes=notes, extra_versions=("pandas",))
    plot(rows, name, args.out, record=json.loads(Path(json_path).read_text()))


if __name__ == "__main__":
    main()
