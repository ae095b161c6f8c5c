r"""Benchmark: how fast the loaders read interaction files, and their peak memory, against a
hand-written reader.

Question: is reading a file ever the slow step, or the memory-hungry one? A user's first
alternative to :func:`minigraphrec.datasets.load_triples` is a few lines of Python's
:mod:`csv` module (C-implemented) with a dict that numbers the ids and ``float()`` for the
values; that reader, written here (:func:`csv_reference`), is the reference. It checks
nothing (field counts, quotes, NaN, missing ids, timestamps' range), so a loader that is no
slower than it pays nothing for its checks.

Files (written once into a temporary folder, seeded, ``--lines`` lines each, 50,000 users
and 40,000 items with Zipf-like item popularity):

* ``csv``: ``user,item,rating,timestamp``, numeric (MovieLens' ``ratings.csv`` layout);
* ``tsv``: the same, tab-separated (``u.data``);
* ``dcolon``: the same, ``::``-separated (MovieLens-1M's ``ratings.dat``);
* ``quoted``: every field quoted, string ids (an Amazon export:
  ``"A00000000000042","B000000017","5.0","1600000000"``);
* ``iso``: ``user,item,timestamp`` with ISO-8601 times (``2009-05-04T23:08:57Z``);
* ``commas``: ``quoted`` whose item names hold a comma inside the quotes (the
  line-by-line reader's case);
* ``gzip``: ``csv`` compressed;
* ``lightgcn``: the LightGCN papers' ``user item item ...`` lists
  (:func:`~minigraphrec.datasets.load_lightgcn`), the same pairs grouped by user; its
  reference splits each line and maps it to ints;
* ``yoochoose`` and ``diginetica``: session logs read by
  :func:`~minigraphrec.datasets.load_sessions` (:func:`draw_sessions`: contiguous sessions
  of 3.5 clicks on average, a third of them with one of 20,000 users), in YooChoose's
  ``yoochoose-clicks.dat`` layout (``session,timestamp,item,category``, ISO-8601 times with
  milliseconds: ``format="triples", columns="session,timestamp,item,-"``) and DIGINETICA's
  (CIKM Cup 2016) ``train-item-views.csv`` layout (``sessionId;userId;itemId;timeframe;
  eventdate`` with a header, ``NA`` for anonymous users: ``format="cikm"``). Their
  reference (:func:`session_reference`) numbers and converts as the csv one does, then
  orders each session's events by time with ``np.lexsort``.

With ``--data DIR`` (a folder holding ``ml-100k/u.data`` and ``gowalla/train.txt``), those
real files are read too (``u.data``: tab-separated, the ``tsv`` readers; ``train.txt``: the
``lightgcn`` ones).

Time: per file the readers run interleaved in this process (round ``r`` runs each once,
their order rotated round by round), ``--repeat`` rounds, the median is reported; the load
averages at the start and the end of the run are recorded; before timing, the loader's
result (ids as raw strings in order of first appearance, ratings, timestamps; for the
session logs the sessions, their items in order, end times and users) is checked equal to
the reference's.
Where pandas is installed, ``pandas.read_csv`` plus ``factorize`` (and ``to_datetime`` for
ISO-8601 times and dates; what a pandas user writes to read the file, without grouping
sessions) is timed too (not for ``lightgcn``, ``gowalla`` and ``gzip``), for scale; it is
not the reference.

Memory: each reader reads each file once more in a fresh process of its own
(``--peak-of``), which imports what the reader needs, restarts the peak resident size
(``VmHWM := VmRSS`` through ``/proc/self/clear_refs``), notes ``VmRSS``, reads the file
and reports the peak ``VmHWM`` minus that ``VmRSS``: the resident memory the read added at
its peak, result included, in bytes per interaction (per line but for the ``lightgcn``
layouts, whose lines hold many). The peak resident size, not ``tracemalloc``: it counts
every allocation (NumPy's, the interpreter's free lists) as the operating system sees it,
as ``tests/test_datasets_memory.py`` measures its bounds. Linux only; elsewhere the
columns are empty.

No target: this is a record of what the loaders' checks cost against a reader that makes
none, of which layouts leave the whole-chunk fast path (``commas``: a separator inside
quotes; it is read line by line, in Python), and of the memory the loaders' block-by-block
numbering saves.

Results: ``results/loaders.{json,md}`` and ``loaders.png`` (left: seconds per million
interactions, each file's loader beside its references, with the ratio to the csv
reference; right: peak bytes per interaction); ``loaders_smoke`` with ``--smoke``.

    python benchmarks/bench_loaders.py --data DATA
    python benchmarks/bench_loaders.py --smoke --out /tmp/r        # what the tests run
    python benchmarks/bench_loaders.py --plot-only         # redraw loaders.png from its JSON
"""
from __future__ import annotations

import argparse
import csv
import datetime
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import (benchmark_parser, check_data, interleaved_times, load_average, load_text,
                     peak_rss_bytes, read_record, reset_peak, save_figure, status_bytes,
                     write_results)

#: the real files read with --data, by row name, relative to --data
REAL_FILES = {"u.data": "ml-100k/u.data", "gowalla": "gowalla/train.txt"}

N_USERS, N_ITEMS = 50_000, 40_000
#: users of the session logs' named sessions
N_SESSION_USERS = 20_000
#: the session-log layouts, read by load_sessions
SESSION_FILES = ("yoochoose", "diginetica")
#: the readers, in the order of the rows' columns and the figure's bars
READERS = ("loader", "reference", "pandas")
#: the files whose peak memory --smoke measures (each reader's process takes ~0.5 s)
SMOKE_MEMORY = ("csv", "yoochoose")
TAG = "PEAK "                               # the line a --peak-of process prints its result on


def draw_pairs(n_lines, seed=0):
    """``(users, items, ratings, times)``, int64 (n,) each, seeded; items Zipf-like."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, N_USERS, n_lines)
    items = (rng.zipf(1.3, n_lines) - 1) % N_ITEMS
    ratings = rng.integers(1, 6, n_lines)
    times = 1_600_000_000 + rng.integers(0, 100_000_000, n_lines)
    return users, items, ratings, times


def draw_sessions(n_lines, seed=1):
    """``(sessions, items, ms, users)``, int64 (n,) each, seeded: contiguous sessions
    (1-based ids, a new one at each line with probability 1/3.5), items Zipf-like, times
    in milliseconds (a session starts in April-September 2014, its clicks 1-120 s apart),
    and each session's user (-1, anonymous, for two sessions in three)."""
    rng = np.random.default_rng(seed)
    new = rng.random(n_lines) < 1 / 3.5                           # (n,) a session starts
    new[0] = True
    sessions = np.cumsum(new)                                     # (n,) 1, 1, 2, ...
    n_sessions = int(sessions[-1])
    items = (rng.zipf(1.3, n_lines) - 1) % N_ITEMS
    gaps = rng.integers(1_000, 120_000, n_lines)                  # (n,) ms
    gaps[new] = 0
    elapsed = np.cumsum(gaps)
    elapsed -= elapsed[np.flatnonzero(new)][sessions - 1]         # ms since session start
    start = 1_396_310_400_000 + rng.integers(0, 183 * 86_400_000, n_sessions)   # (n_s,)
    owner = np.where(rng.random(n_sessions) < 1 / 3,
                     rng.integers(0, N_SESSION_USERS, n_sessions), -1)           # (n_s,)
    return sessions, items, start[sessions - 1] + elapsed, owner[sessions - 1]


def iso(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def session_texts(n_lines):
    """``{"yoochoose": text, "diginetica": text}`` of the same drawn sessions."""
    s, i, ms, who = draw_sessions(n_lines)
    stamp = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").tolist()
    day = np.datetime_as_string(ms.astype("datetime64[ms]").astype("datetime64[D]")).tolist()
    frame = (ms - ms[np.searchsorted(s, s)]).tolist()            # ms since the session began
    rows = list(zip(s.tolist(), i.tolist(), stamp, day, frame, who.tolist()))
    return {
        "yoochoose": "".join(f"{a},{t}Z,{214_500_000 + b},{'S' if b % 9 == 0 else 0}\n"
                             for a, b, t, _, _, _ in rows),
        "diginetica": "sessionId;userId;itemId;timeframe;eventdate\n" + "".join(
            f"{a};{'NA' if w < 0 else w};{b};{f};{d}\n" for a, b, _, d, f, w in rows),
    }


def write_files(folder, n_lines):
    """``{name: path}`` of the benchmark's files, written into ``folder``, in row order."""
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
    del text
    by_user = {}
    for a, b in zip(u.tolist(), i.tolist()):
        by_user.setdefault(a, []).append(b)
    paths["lightgcn"] = folder / "train.txt"
    paths["lightgcn"].write_text("".join(f"{a} {' '.join(map(str, bs))}\n"
                                         for a, bs in sorted(by_user.items())))
    for name, body in session_texts(n_lines).items():
        paths[name] = folder / f"{name}.{'dat' if name == 'yoochoose' else 'csv'}"
        paths[name].write_text(body)
    return paths


# ------------------------------------------------------------------ readers
LAYOUT = {"csv": (",", 4), "tsv": ("\t", 4), "dcolon": ("::", 4), "quoted": (",", 4),
          "gzip": (",", 4), "commas": (",", 4), "iso": (",", 3), "u.data": ("\t", 4)}
#: what pandas reads of each file: (separator, header lines to skip, id columns, time
#: column or None); the session logs' times are ISO-8601 text or dates
PANDAS = {**{name: (sep, 0, (0, 1), 2 if name == "iso" else None)
             for name, (sep, _) in LAYOUT.items()},
          "yoochoose": (",", 0, (0, 2), 1), "diginetica": (";", 1, (0, 1, 2), 4)}


def _iso_seconds(token):
    return datetime.datetime.fromisoformat(token.replace("Z", "+00:00")).timestamp()


def _day_seconds(token):
    """``'2016-05-09'`` -> Unix seconds at 00:00 UTC."""
    return float((datetime.date.fromisoformat(token) - datetime.date(1970, 1, 1)).days
                 * 86400)


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


def session_reference(path, name):
    """The hand-written reader of a session log: ``(session raw ids, item raw ids, indptr,
    items, end times, users, user raw ids)``.

    Ids numbered in order of first appearance (users among the lines that name one: not
    ``NA``); each session's events ordered by time, then file order (DIGINETICA: by
    timeframe, then date, then file order), its end time the latest (DIGINETICA: the
    latest date, at 00:00 UTC); ``users`` (n_sessions,) each session's user, -1 for none.
    """
    sessions, items, users, days = {}, {}, {}, {}
    s, i, u, t, d = [], [], [], [], []
    with open(path, newline="") as f:
        if name == "yoochoose":
            for row in csv.reader(f):
                s.append(sessions.setdefault(row[0], len(sessions)))
                i.append(items.setdefault(row[2], len(items)))
                t.append(_iso_seconds(row[1]))
        else:
            rows = csv.reader(f, delimiter=";")
            next(rows)                                                  # the header
            for row in rows:
                s.append(sessions.setdefault(row[0], len(sessions)))
                u.append(-1 if row[1] == "NA" else users.setdefault(row[1], len(users)))
                i.append(items.setdefault(row[2], len(items)))
                t.append(float(row[3]))
                day = days.get(row[4])
                if day is None:
                    day = days[row[4]] = _day_seconds(row[4])
                d.append(day)
    s, i, t = np.asarray(s), np.asarray(i), np.asarray(t)              # (n,) each
    end = np.asarray(d) if d else t                                    # (n,)
    keys = (np.arange(len(s)), t, s) if not d else (np.arange(len(s)), end, t, s)
    order = np.lexsort(keys)                         # by session, time, then file order
    indptr = np.concatenate([[0], np.cumsum(np.bincount(s))])          # (n_sessions + 1,)
    owner = np.full(len(sessions), -1)                                 # (n_sessions,)
    if u:
        u = np.asarray(u)
        owner[s[u >= 0]] = u[u >= 0]
    return (list(sessions), list(items), indptr, i[order],
            np.maximum.reduceat(end[order], indptr[:-1]), owner, list(users))


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
    """``pandas.read_csv`` + ``factorize`` of the id columns (+ ``to_datetime`` of ISO-8601
    times), or None where pandas is not installed or the file is not read with it."""
    if name not in PANDAS or name == "gzip":
        return None
    try:
        import pandas as pd
    except ImportError:
        return None
    sep, skip, ids, when = PANDAS[name]

    def read():
        frame = pd.read_csv(path, sep=sep, header=None, skiprows=skip,
                            engine="c" if len(sep) == 1 else "python",
                            dtype={k: str for k in ids})
        for k in ids:
            pd.factorize(frame[k])
        if when is not None:
            pd.to_datetime(frame[when], utc=True)
        return frame
    return read


def loader(path, name):
    from minigraphrec import datasets
    if name in ("lightgcn", "gowalla"):
        return lambda: datasets.load_lightgcn(path)
    if name == "yoochoose":
        return lambda: datasets.load_sessions(path, "triples",
                                              columns="session,timestamp,item,-")
    if name == "diginetica":
        return lambda: datasets.load_sessions(path)
    columns = "user,item,timestamp" if name == "iso" else None
    return lambda: datasets.load_triples(path, header=False, columns=columns)


def readers(path, name, which=READERS):
    """``{reader: callable}`` of the file ``name`` at ``path`` for the readers ``which``: the
    loader, the reference and, where it reads the file, pandas (each imports what it needs
    when built, so that a memory worker imports only its own reader's modules)."""
    found = {}
    if "loader" in which:
        found["loader"] = loader(path, name)
    if "reference" in which:
        if name in ("lightgcn", "gowalla"):
            found["reference"] = lambda: lightgcn_reference(path)
        elif name in SESSION_FILES:
            found["reference"] = lambda: session_reference(path, name)
        else:
            found["reference"] = lambda: csv_reference(path, name)
    read = pandas_reader(path, name) if "pandas" in which else None
    if read is not None:
        found["pandas"] = read
    return found


def check_equal(path, name):
    """The number of interactions, once the loader's result is checked equal to the
    reference's (ids in first-appearance order, values; sessions in order, their end times
    and users); AssertionError naming the file if not."""
    data = loader(path, name)()
    if name in ("lightgcn", "gowalla"):
        u, i = lightgcn_reference(path)
        assert np.array_equal(data.users, u) and np.array_equal(data.items, i), name
        return len(data)
    if name in SESSION_FILES:
        session_raw, item_raw, indptr, items, end, users, user_raw = session_reference(path,
                                                                                      name)
        assert data.session_ids.tolist() == session_raw, name
        assert data.item_ids.tolist() == item_raw, name
        assert np.array_equal(data.indptr, indptr) and np.array_equal(data.items, items), name
        assert np.array_equal(data.end_time, end), name
        assert np.array_equal(data.users, users) and data.user_ids.tolist() == user_raw, name
        return int(indptr[-1])
    user_raw, item_raw, u, i, r, t = csv_reference(path, name)
    assert data.user_ids.tolist() == user_raw and data.item_ids.tolist() == item_raw, name
    assert np.array_equal(data.users, u) and np.array_equal(data.items, i), name
    assert (data.weights is None) == (r is None), name
    if r is not None:
        assert np.array_equal(data.weights, r), name
    assert np.array_equal(data.timestamps, t), name
    return len(data)


# ------------------------------------------------------------------ memory
def peak_worker(reader, name, path):
    """In a fresh process (``--peak-of``): the resident bytes one read of the file added at
    its peak, printed after ``TAG`` (``null`` where ``/proc/self/status`` is missing)."""
    read = readers(Path(path), name, (reader,))[reader]   # imports what the reader needs
    before = status_bytes("VmRSS")
    if not reset_peak():                           # VmHWM := VmRSS; else the peak so far
        before = peak_rss_bytes() if before is not None else None
    result = read()
    peak = status_bytes("VmHWM")
    del result                                     # held until the peak is read
    print(TAG + json.dumps(None if before is None or peak is None else peak - before),
          flush=True)


def peak_bytes(reader, name, path):
    """The peak bytes of ``reader`` reading ``path`` (:func:`peak_worker`), in a fresh
    process; None where it cannot be measured."""
    cmd = [sys.executable, __file__, "--peak-of", reader, name, str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(TAG)]
    if proc.returncode or not lines:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len(TAG):])


# ------------------------------------------------------------------ figure
def _per(row, column):
    """``row[column]`` per interaction, seconds per million for a time; NaN for None."""
    value = row.get(column)
    if value is None:
        return np.nan
    return value * 1e6 / row["interactions"] if column.endswith("_s") else value


def plot(rows, name, out_dir, record=None):
    """``<name>.png``: per file layout, left the seconds per million interactions of each
    reader (the ratio to the csv reference beside minigraphrec's bar), right the peak bytes
    per interaction of each (:func:`peak_worker`); ``record``, the results JSON drawn from,
    names the machine in a footer."""
    from minigraphrec.plot import subplots
    fig, (left, right) = subplots(1, 2, figsize=(11, 0.42 * len(rows) + 2.2), sharey=True)
    y = np.arange(len(rows))
    bars = [("loader", "minigraphrec", "tab:blue", None),
            ("reference", "csv module + dict (lightgcn: str.split)", "tab:gray", "//")]
    if any(r.get("pandas_s") is not None for r in rows):
        bars.append(("pandas", "pandas.read_csv + factorize", "tab:orange", ".."))
    height = 0.8 / len(bars)
    for ax, suffix in ((left, "_s"), (right, "_B")):
        for k, (key, label, colour, hatch) in enumerate(bars):
            values = [_per(r, key + suffix) for r in rows]
            ax.barh(y + (k - (len(bars) - 1) / 2) * height, values, height, label=label,
                    color=colour, hatch=hatch, edgecolor="white", linewidth=0)
        ax.grid(axis="x", alpha=0.3)
    for yi, r in zip(y, rows):
        left.annotate(f"{r['ratio']:.2f}×", (r["loader_s"] * 1e6 / r["interactions"],
                                              yi - (len(bars) - 1) / 2 * height),
                      xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        if r.get("loader_B") is not None:
            right.annotate(f"{r['loader_B']:.0f}", (r["loader_B"],
                                                    yi - (len(bars) - 1) / 2 * height),
                           xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    left.set_yticks(y, [r["file"] for r in rows])
    left.invert_yaxis()
    left.set_xlabel("seconds per million interactions\n(label: minigraphrec / csv reference, "
                    "median of rounds)")
    right.set_xlabel("peak bytes per interaction, fresh process\n(VmHWM above the RSS "
                     "after imports; label: minigraphrec)")
    left.set_title("Time (median of interleaved rounds)", fontsize=10)
    right.set_title("Peak memory", fontsize=10)
    left.legend(frameon=False, fontsize=8, loc="lower right")
    fig.suptitle("Reading interaction files: minigraphrec's loaders against hand-written "
                 "readers")
    return save_figure(fig, name, out_dir, record=record)


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0],
        smoke="2,000-line synthetic files instead of --lines, 2 rounds, peak memory of the "
              "csv and yoochoose files only (a --data folder is still read)",
        repeat_help="interleaved rounds per file; the median is reported")
    parser.set_defaults(repeat=5)
    parser.add_argument("--lines", type=int, default=1_000_000,
                        help="lines per file (default 1,000,000)")
    parser.add_argument("--data", type=Path,
                        help="folder holding ml-100k/u.data and gowalla/train.txt, timed "
                             "too (also with --smoke)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw <out>/loaders.png from loaders.json; run nothing")
    parser.add_argument("--peak-of", nargs=3, metavar=("READER", "FILE", "PATH"),
                        help=argparse.SUPPRESS)    # the memory worker (peak_worker)
    args = parser.parse_args()
    if args.peak_of:
        return peak_worker(*args.peak_of)
    if args.plot_only:
        record = read_record(args.out, "loaders")
        return plot(record["rows"], "loaders", args.out, record=record)
    if args.data is not None:                           # read even with --smoke
        check_data(args.data, REAL_FILES.values(),
                   "the folder holding the ml-100k/ and gowalla/ folders")
    n_lines, repeat = (2_000, 2) if args.smoke else (args.lines, args.repeat)
    name = "loaders_smoke" if args.smoke else "loaders"
    load_start = load_average()                     # the header has only the load when written
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), n_lines)
        if args.data is not None:
            paths.update({name: args.data / file for name, file in REAL_FILES.items()})
        for file, path in paths.items():
            n_inter = check_equal(path, file)
            candidates = readers(path, file)
            times = interleaved_times(candidates, repeat)
            row = {"file": file, "interactions": n_inter,
                   "MB": round(path.stat().st_size / 1e6, 1)}
            for reader in READERS:
                row[f"{reader}_s"] = times[reader][0] if reader in times else None
            row["ratio"] = row["loader_s"] / row["reference_s"]
            measure = not args.smoke or file in SMOKE_MEMORY      # a process per reader
            for reader in READERS:                         # bytes per interaction
                peak = peak_bytes(reader, file, path) if measure and reader in candidates \
                    else None
                row[f"{reader}_B"] = None if peak is None else round(peak / n_inter, 1)
            rows.append(row)
            per = {k: "-" if row[f"{k}_B"] is None else f"{row[f'{k}_B']:.0f}"
                   for k in READERS}
            print(f"{file:10s} loader {row['loader_s']:.3f} s  reference "
                  f"{row['reference_s']:.3f} s  ratio {row['ratio']:.2f}"
                  + (f"  pandas {row['pandas_s']:.3f} s" if row["pandas_s"] else "")
                  + f"  | bytes per interaction: loader {per['loader']}, reference "
                    f"{per['reference']}, pandas {per['pandas']}", flush=True)
    load_end = load_average()
    load_end_text = load_text(load_start, load_end)
    notes = (f"synthetic files: {n_lines:,} lines each, {N_USERS:,} users, {N_ITEMS:,} items "
             f"(Zipf-like); yoochoose and diginetica: session logs (sessions of 3.5 clicks "
             f"on average, a third with one of {N_SESSION_USERS:,} users), read by "
             f"load_sessions; u.data and gowalla (with --data): the real files. Time: median "
             f"of {repeat} interleaved rounds in one process, one thread (the loaders use "
             f"none). reference: the csv module and a dict (lightgcn: str.split and int; "
             f"session logs: then np.lexsort into sessions), checked equal to the loader "
             f"before timing. ratio = loader_s / reference_s (no target). pandas: read_csv + "
             f"factorize (+ to_datetime), for scale, no grouping into sessions (empty: not "
             f"installed, or gzip/lightgcn/gowalla). *_B: bytes per interaction at the peak "
             f"of one read in a fresh process: VmHWM above the VmRSS after imports "
             f"(clear_refs), result included"
             + (f"; --smoke: for {' and '.join(SMOKE_MEMORY)} only." if args.smoke else ".")
             + f" The machine's {load_end_text}.")
    columns = ["file", "interactions", "MB", *(f"{k}_s" for k in READERS), "ratio",
               *(f"{k}_B" for k in READERS)]
    md_rows = [{k: "" if v is None else v for k, v in r.items()} for r in rows]
    json_path, _ = write_results(name, rows, columns, out_dir=args.out, notes=notes,
                                 extra_versions=("pandas",), md_rows=md_rows,
                                 after_rows={"load_average_start": load_start,
                                             "load_average_end": load_end})
    plot(rows, name, args.out, record=json.loads(Path(json_path).read_text()))


if __name__ == "__main__":
    main()
