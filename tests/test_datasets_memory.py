"""The delimited-file reader numbers ids chunk by chunk: any chunking gives the one-chunk result.

`_TableReader.read` numbers each chunk's raw ids as soon as the chunk is parsed, with one
dict per column kept across chunks, and converts ISO-8601 times chunk by chunk (so no
whole-file list of str is ever held). Every test here loads one file with a chunk of 4 MiB
(the whole file: the whole-file numbering), with tiny chunks (many, and some shorter
than a line), each through the fast path and through the line reader alone, and asserts
that every public result -- ids, raw ids and their dtype, values, lines, errors, logs -- is
the same. The last tests bound the peak memory a load adds per line.
"""
import io
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

import minigraphrec.datasets as ds
from minigraphrec.datasets import _parse
from minigraphrec.errors import DataError
from conftest import child_env, write

# (chunk bytes, line reader only); the first is the whole file in one chunk, fast path
SETTINGS = [(1 << 22, False), (1 << 22, True), (96, False), (96, True), (16, False)]
CHUNK = 96                      # the chunk of the "chunk 2", "chunk 3" cases below


def snapshot(result):
    """A comparable image of a loader's result: every attribute, arrays with their dtype."""
    if isinstance(result, (str, type(None))):
        return result
    if isinstance(result, tuple):
        return tuple(snapshot(x) for x in result)
    return {k: (v.dtype.str, v.shape, v.tolist()) if isinstance(v, np.ndarray) else v
            for k, v in vars(result).items()}


def under_every_setting(monkeypatch, caplog, load):
    """``[(snapshot of load() or its DataError's message, the log text)]``, one per setting."""
    out = []
    for chunk, by_line in SETTINGS:
        with monkeypatch.context() as m:
            m.setattr(_parse, "_CHUNK_BYTES", chunk)
            if by_line:
                m.setattr(_parse._TableReader, "_chunk_fast", lambda *a: None)
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="minigraphrec.datasets"):
                try:
                    got = snapshot(load())
                except DataError as exc:
                    got = str(exc)
            out.append((got, caplog.text.replace("\n", " | ")))
    return out


def assert_all_alike(monkeypatch, caplog, load):
    """Every setting gives the one-chunk result and log; returns that result."""
    results = under_every_setting(monkeypatch, caplog, load)
    for k, result in enumerate(results[1:], 1):
        assert result == results[0], SETTINGS[k]
    return results[0][0]


def blocks(path, monkeypatch, chunk=CHUNK):
    """The (first, last) file lines of each chunk the reader reads with ``chunk`` bytes."""
    out, start = [], 0
    with monkeypatch.context() as m:
        m.setattr(_parse, "_CHUNK_BYTES", chunk)
        for block in _parse._whole_line_blocks(io.BytesIO(path.read_bytes())):
            n = block.count(b"\n") + (not block.endswith(b"\n"))
            out.append((start + 1, start + n))
            start += n
    return out


def drifting_rows(n=240, seed=0):
    """``(user, item, rating, time)`` rows whose new ids keep appearing to the end of the file,
    each id repeated in later chunks: user ``u<k>`` and item ``i<k>`` drawn from a pool that
    grows with the line number."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        u = int(rng.integers(0, 3 + k // 4))                  # pools grow along the file
        i = int(rng.integers(0, 2 + k // 6))
        rows.append((f"u{u}", f"i{i}", int(rng.integers(1, 6)), 1_400_000_000 + 37 * k))
    return rows


def first_appearance(tokens):
    """The whole-file numbering, written out: (ids, raw ids in order of first appearance)."""
    index = {}
    ids = [index.setdefault(tok, len(index)) for tok in tokens]
    return ids, list(index)


# ================================================================= numbering
def test_number_chunk_block_by_block_is_the_whole_numbering():
    rng = np.random.default_rng(1)
    tokens = [f"t{x}" for x in rng.integers(0, 60, 500)]
    ids, raw = first_appearance(tokens)
    cuts = [0, *np.sort(rng.choice(np.arange(1, 500), 30, replace=False)).tolist(), 500]
    index = {}                                        # one dict, block after block
    got = np.concatenate([_parse._number_chunk(index, tokens[a:b])
                          for a, b in zip(cuts, cuts[1:])])
    assert got.dtype == np.int64 and got.tolist() == ids and list(index) == raw
    whole = {}
    assert _parse._number_chunk(whole, tokens).tolist() == ids and list(whole) == raw
    assert _parse._number_chunk({}, []).shape == (0,)
    keep = rng.random(500) < 0.3                      # renumbering a subset of the lines
    sub_ids, sub_raw = _parse._renumber(np.asarray(ids)[keep], raw)
    assert (sub_ids.tolist(), sub_raw) == first_appearance([t for t, k in zip(tokens, keep)
                                                            if k])


# ================================================================== triples
def test_triples_ids_first_seen_in_late_chunks(tmp_path, monkeypatch, caplog):
    rows = drifting_rows()
    f = write(tmp_path / "t.csv", "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows))
    assert len(blocks(f, monkeypatch)) > 20
    got = assert_all_alike(monkeypatch, caplog, lambda: ds.load_triples(f))
    users, user_raw = first_appearance([u for u, _, _, _ in rows])
    items, item_raw = first_appearance([i for _, i, _, _ in rows])
    assert got["users"] == ("<i8", (240,), users) and got["items"][2] == items
    assert got["user_ids"][2] == user_raw and got["item_ids"][2] == item_raw
    assert got["user_ids"][0].startswith("<U")                   # raw ids stay str
    assert got["weights"][2] == [float(r) for _, _, r, _ in rows]
    assert got["lines"][2] == list(range(1, 241))
    # the ids new in the last chunk are the last raw ids
    assert user_raw[-1] in {u for u, _, _, _ in rows[-12:]}


def test_triples_iso_times_converted_chunk_by_chunk(tmp_path, monkeypatch, caplog):
    rows = drifting_rows(seed=2)
    iso = [f"2014-04-{1 + k % 28:02d}T10:{k % 60:02d}:09.{k:03d}Z" for k in range(240)]
    f = write(tmp_path / "t.csv", "user,item,timestamp\n" + "".join(
        f"{u},{i},{t}\n" for (u, i, _, _), t in zip(rows, iso)))
    got = assert_all_alike(monkeypatch, caplog, lambda: ds.load_triples(f))
    expected = (np.array([t[:-1] for t in iso], dtype="datetime64[ms]").astype(np.int64)
                / 1e3).tolist()
    assert got["timestamps"][2] == expected and got["lines"][2] == list(range(2, 242))


def test_missing_id_in_chunk_2(tmp_path, monkeypatch, caplog):
    rows = drifting_rows()
    text = [f"{u},{i},{r}\n" for u, i, r, _ in rows]
    f = write(tmp_path / "t.csv", "".join(text))
    start2, end2 = blocks(f, monkeypatch)[1]
    line = (start2 + end2) // 2                       # a line of chunk 2 (1-based)
    text[line - 1] = f"NA,{rows[line - 1][1]},1\n"
    text[line] = f"{rows[line][0]},,2\n"              # and an empty item on the next
    write(f, "".join(text))
    start2, end2 = blocks(f, monkeypatch)[1]
    assert start2 <= line < line + 1 <= end2          # both lines still in chunk 2
    error = assert_all_alike(monkeypatch, caplog, lambda: ds.load_triples(f))
    assert error.startswith(f"{f}, line {line}: missing user id 'NA'")
    got = assert_all_alike(monkeypatch, caplog,
                           lambda: ds.load_triples(f, on_missing="drop"))
    kept = [k for k in range(240) if k not in (line - 1, line)]
    assert got["lines"][2] == [k + 1 for k in kept]
    assert got["user_ids"][2] == first_appearance([rows[k][0] for k in kept])[1]
    log = under_every_setting(monkeypatch, caplog,
                              lambda: ds.load_triples(f, on_missing="drop"))[0][1]
    assert "dropped 2 of 240 lines with a missing user or item id" in log
    assert f"line(s) {line}, {line + 1}" in log


@pytest.mark.parametrize("bad, message", [
    ("rating", "rating 'x' is not a number"),
    ("fields", "expected 4 fields, got 3"),
    ("iso", "timestamp '2014-13-07T10:51:09.277Z' is not an ISO-8601 date-time"),
])
def test_bad_token_in_chunk_3_named_at_its_line(tmp_path, monkeypatch, caplog, bad, message):
    rows = drifting_rows(seed=3)
    text = [f"{u},{i},{r},2014-04-07T10:51:{k % 60:02d}.277Z\n"
            for k, (u, i, r, _) in enumerate(rows)]
    f = write(tmp_path / "t.csv", "".join(text))
    start3, end3 = blocks(f, monkeypatch)[2]
    line = (start3 + end3) // 2                       # a line of chunk 3
    u, i, r, _ = rows[line - 1]
    text[line - 1] = {"rating": f"{u},{i},x,2014-04-07T10:51:09.277Z\n",
                      "fields": f"{u},{i},{r}\n",
                      "iso": f"{u},{i},{r},2014-13-07T10:51:09.277Z\n"}[bad]
    write(f, "".join(text))
    start3, end3 = blocks(f, monkeypatch)[2]
    assert start3 <= line <= end3                     # still in chunk 3
    error = assert_all_alike(monkeypatch, caplog, lambda: ds.load_triples(f, header=False))
    assert error.startswith(f"{f}, line {line}: {message}")


def test_a_line_error_after_a_bad_iso_time_comes_first(tmp_path, monkeypatch, caplog):
    """The times are converted chunk by chunk, but a bad one is reported only once the file
    is read: a later line's field count, a problem of the reading itself, is named first, as
    when the times were converted after reading."""
    rows = drifting_rows(seed=4)
    text = [f"{u},{i},2014-04-07T10:51:{k % 60:02d}Z\n" for k, (u, i, _, _) in enumerate(rows)]
    text[3] = "u0,i0,2014-04-07T25:00:00Z\n"          # hour 25, chunk 1
    text[200] = "u0,i0\n"                             # a late chunk
    f = write(tmp_path / "t.csv", "".join(text))
    error = assert_all_alike(monkeypatch, caplog, lambda: ds.load_triples(
        f, header=False, columns="user,item,timestamp"))
    assert error.startswith(f"{f}, line 201: expected 3 fields, got 2")
    text[200] = "u0,i0,2014-04-07T10:51:00Z\n"
    write(f, "".join(text))
    error = assert_all_alike(monkeypatch, caplog, lambda: ds.load_triples(
        f, header=False, columns="user,item,timestamp"))
    assert error.startswith(f"{f}, line 4: timestamp '2014-04-07T25:00:00Z' is not")


def test_test_file_mapped_through_the_training_ids(tmp_path, monkeypatch, caplog):
    rows = drifting_rows(seed=5)
    f = write(tmp_path / "train.csv", "".join(f"{u},{i},{r}\n" for u, i, r, _ in rows))
    known_u = sorted({u for u, _, _, _ in rows}, key=lambda x: -int(x[1:]))  # late ones first
    known_i = sorted({i for _, i, _, _ in rows})
    test_rows = [(known_u[k % len(known_u)], known_i[(7 * k) % len(known_i)]) for k in range(60)]
    test_rows[41] = ("stranger", test_rows[41][1])    # unknown user, a late chunk
    test_rows[47] = (test_rows[47][0], "i_new")       # unknown item
    g = write(tmp_path / "test.csv", "".join(f"{u},{i},1\n" for u, i in test_rows))
    assert len(blocks(g, monkeypatch)) > 5
    error = assert_all_alike(monkeypatch, caplog, lambda: ds.load_triples(f, test_path=g))
    assert error.startswith(f"{g}, line 42: user 'stranger' is unknown to training ({f})")
    train, test = assert_all_alike(monkeypatch, caplog,
                                   lambda: ds.load_triples(f, test_path=g, on_unknown="drop"))
    assert test["n_dropped"] == 2 and test["lines"][2] == [k + 1 for k in range(60)
                                                           if k not in (41, 47)]
    assert test["user_ids"] == train["user_ids"]
    user_raw, item_raw = train["user_ids"][2], train["item_ids"][2]
    assert [(user_raw[u], item_raw[i]) for u, i in zip(test["users"][2], test["items"][2])] \
        == [p for k, p in enumerate(test_rows) if k not in (41, 47)]
    log = under_every_setting(monkeypatch, caplog,
                              lambda: ds.load_triples(f, test_path=g, on_unknown="drop"))
    assert "dropped 2 of 60 test interactions" in log[0][1]


def test_recbole_train_and_test(tmp_path, monkeypatch, caplog):
    rows = drifting_rows(seed=6)
    head = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    f = write(tmp_path / "a.inter", head + "".join(f"{u}\t{i}\t{r}\t{t}\n"
                                                  for u, i, r, t in rows))
    g = write(tmp_path / "b.inter", head + "".join(f"{u}\t{i}\t{r}\t{t}\n"
                                                  for u, i, r, t in rows[::-3]))
    train, test = assert_all_alike(monkeypatch, caplog, lambda: ds.load_recbole(f, g))
    assert train["user_ids"][2] == first_appearance([u for u, _, _, _ in rows])[1]
    assert test["timestamps"][2] == [float(t) for _, _, _, t in rows[::-3]]


# ================================================================= sessions
def yoochoose_clicks(n=300, seed=0):
    """YooChoose clicks lines, ``session,timestamp,item,category``, sessions contiguous."""
    rng = np.random.default_rng(seed)
    lines, session = [], 1
    for k in range(n):
        session += rng.random() < 0.3
        item = 214_500_000 + int(rng.integers(0, 4 + k // 3))
        lines.append(f"{session},2014-04-{1 + session % 28:02d}T10:51:{k % 60:02d}."
                     f"{k:03d}Z,{item},{'S' if k % 9 == 0 else 0}\n")
    return lines


def test_yoochoose_sessions(tmp_path, monkeypatch, caplog):
    f = write(tmp_path / "clicks.dat", "".join(yoochoose_clicks()))
    got = assert_all_alike(monkeypatch, caplog, lambda: ds.load_sessions(
        f, "triples", columns="session,timestamp,item,-"))
    assert got["session_ids"][0].startswith("<U") and got["item_ids"][0].startswith("<U")
    assert got["indptr"][2][-1] == 300
    items = [line.split(",")[2] for line in yoochoose_clicks()]
    assert got["item_ids"][2] == first_appearance(items)[1]


def test_sessions_with_users_events_and_missing_ids(tmp_path, monkeypatch, caplog):
    """A user column (anonymous users, a user named first in a late chunk), an event column
    (an item seen only in dropped events leaves no raw id), a missing session id in chunk 2."""
    rng = np.random.default_rng(7)
    rows, session = [], 0
    for k in range(300):
        session += rng.random() < 0.25
        user = ("NA", "", f"v{session % 23}")[int(rng.integers(0, 3))] if session % 3 else \
            f"v{session % 23}"
        event = "view" if k % 4 else "cart"
        item = f"x{k}" if event == "cart" and k % 8 == 0 else f"i{rng.integers(0, 5 + k // 5)}"
        rows.append([f"s{session}", user, item, str(1_400_000_000 + 11 * k), event])
    # one user per session: a session's named lines take its first named user
    owner = {}
    for r in rows:
        if r[1] not in ("NA", ""):
            r[1] = owner.setdefault(r[0], r[1])
    text = ["session,user,item,timestamp,event\n"] + [",".join(r) + "\n" for r in rows]
    f = write(tmp_path / "log.csv", "".join(text))
    start2, end2 = blocks(f, monkeypatch)[1]
    text[start2] = text[start2].replace(rows[start2 - 1][0], "null", 1)   # file line start2 + 1
    write(f, "".join(text))
    assert blocks(f, monkeypatch)[1][0] <= start2 + 1 <= blocks(f, monkeypatch)[1][1]
    load = lambda **kw: ds.load_sessions(f, "triples", events=("view",), **kw)   # noqa: E731
    error = assert_all_alike(monkeypatch, caplog, load)
    assert error.startswith(f"{f}, line {start2 + 1}: missing session id 'null'")
    got = assert_all_alike(monkeypatch, caplog, lambda: load(on_missing="drop"))
    kept = [r for k, r in enumerate(rows) if r[4] == "view" and k != start2 - 1]
    assert got["item_ids"][2] == first_appearance([r[2] for r in kept])[1]
    assert not any(x.startswith("x") for x in got["item_ids"][2])
    assert got["user_ids"][2] == first_appearance([r[1] for r in kept
                                                   if r[1] not in ("NA", "")])[1]
    assert -1 in got["users"][2]
    # two users in one session, the second at the session's last named view, late in the file
    named = [k for k, r in enumerate(rows)
             if r[4] == "view" and r[1] not in ("NA", "") and k != start2 - 1]
    k = max(k for k in named if any(j < k and rows[j][0] == rows[k][0] for j in named))
    text[k + 1] = ",".join([rows[k][0], "intruder", *rows[k][2:]]) + "\n"     # file line k + 2
    write(f, "".join(text))
    error = assert_all_alike(monkeypatch, caplog, lambda: load(on_missing="drop"))
    assert error.startswith(f"{f}, line {k + 2}: session {rows[k][0]!r} has user 'intruder' "
                            f"here but user {rows[k][1]!r} at line ")
    assert k + 2 > blocks(f, monkeypatch)[-4][0]      # in one of the last chunks


def test_user_logs_cut_by_gap(tmp_path, monkeypatch, caplog):
    rows = drifting_rows(seed=8)
    f = write(tmp_path / "log.tsv", "".join(f"{u}\t2009-05-04T23:{k % 60:02d}:57Z\t{i}\n"
                                            for k, (u, i, _, _) in enumerate(rows)))
    got = assert_all_alike(monkeypatch, caplog, lambda: ds.load_sessions(
        f, "triples", columns="user,timestamp,item", gap=1800))
    assert got["user_ids"][2] == first_appearance([u for u, _, _, _ in rows])[1]
    assert got["item_ids"][2] == first_appearance([i for _, i, _, _ in rows])[1]


def test_cikm_dates_and_users(tmp_path, monkeypatch, caplog):
    rng = np.random.default_rng(9)
    lines = ["sessionId;userId;itemId;timeframe;eventdate\n"]
    for k in range(250):
        s = k // 4
        user = "NA" if s % 2 else f"{1000 + s % 17}"
        lines.append(f"{s};{user};{rng.integers(0, 3 + k // 4)};{k * 1000 % 7919};"
                     f"2016-{1 + k // 60:02d}-{1 + k % 28:02d}\n")
    f = write(tmp_path / "views.csv", "".join(lines))
    got = assert_all_alike(monkeypatch, caplog, lambda: ds.load_sessions(f))
    assert got["user_ids"][2] == first_appearance([x.split(";")[1] for x in lines[1:]
                                                   if x.split(";")[1] != "NA"])[1]
    start3, end3 = blocks(f, monkeypatch)[2]
    bad = lines[end3 - 1].rsplit(";", 1)[0] + ";2016-02-30\n"          # file line end3
    lines[end3 - 1] = bad
    lines.append(bad.replace(f"{bad.split(';')[0]};", "999;", 1))      # the date again, later
    write(f, "".join(lines))
    error = assert_all_alike(monkeypatch, caplog, lambda: ds.load_sessions(f))
    assert error.startswith(f"{f}, line {end3}: eventdate '2016-02-30' is not a date")


# ==================================================================== memory
# One load in a fresh process: the peak resident size it adds above the resident size after
# the imports (VmHWM, restarted through /proc/self/clear_refs), per line, with the result
# held; what benchmarks/bench_loaders.py records for every layout.
PEAK_CHILD = """
import json, sys
import minigraphrec.datasets as ds

def status(field):
    with open("/proc/self/status") as fh:
        return next(1024 * int(line.split()[1]) for line in fh if line.startswith(field + ":"))

with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")                                       # VmHWM := VmRSS
before = status("VmRSS")
path, layout = sys.argv[1:]
if layout == "sessions":
    result = ds.load_sessions(path, "triples", columns="session,timestamp,item,-")
    n = int(result.indptr[-1])
else:
    result = ds.load_triples(path, header=False)
    n = len(result)
print(json.dumps((status("VmHWM") - before) / n))
"""


def peak_bytes_per_line(path, layout):
    proc = subprocess.run([sys.executable, "-c", PEAK_CHILD, str(path), layout],
                          capture_output=True, text=True, env=child_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def yoochoose_text(n, seed=0):
    """``n`` YooChoose-layout clicks (``session,timestamp,item,category``): contiguous
    sessions of 3.5 clicks on average, items Zipf-like over 40,000, ISO-8601 times in ms."""
    rng = np.random.default_rng(seed)
    sessions = np.cumsum(rng.random(n) < 1 / 3.5) + 1                  # (n,)
    items = 214_500_000 + (rng.zipf(1.3, n) - 1) % 40_000              # (n,)
    ms = 1_396_310_400_000 + np.sort(rng.integers(0, 183 * 86_400_000, n))
    stamps = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").tolist()
    return "".join(f"{s},{t}Z,{i},0\n" for s, t, i in zip(sessions.tolist(), stamps,
                                                           items.tolist()))


def amazon_text(n, seed=0):
    """``n`` quoted ``user,item,rating,time`` lines with string ids, 50,000 users and 40,000
    items (Zipf-like), as an Amazon export."""
    rng = np.random.default_rng(seed)
    rows = zip(rng.integers(0, 50_000, n).tolist(),
               ((rng.zipf(1.3, n) - 1) % 40_000).tolist(), rng.integers(1, 6, n).tolist(),
               (1_600_000_000 + rng.integers(0, 10**8, n)).tolist())
    return "".join(f'"A{u:014d}","B{i:09d}","{r}.0","{t}"\n' for u, i, r, t in rows)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                    reason="the peak resident size is read and restarted through Linux's /proc")
@pytest.mark.parametrize("layout", ["sessions", "triples"])
def test_peak_memory_per_line(tmp_path, layout):
    """300k lines: at most 200 bytes per line at the peak, the result included. Measured
    (AMD EPYC, 2026-12-07): YooChoose clicks 127, string-id triples 131 bytes per line; a
    Python string per field kept until the end (757f0af) took 366 and 279, and blocks of
    4 MB (7a69be2), whose first block held the whole 13-15 MB file as strings, 255 and 235."""
    n = 300_000
    text = yoochoose_text(n) if layout == "sessions" else amazon_text(n)
    f = write(tmp_path / "lines.csv", text)
    assert peak_bytes_per_line(f, layout) < 200
