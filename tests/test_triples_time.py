"""``load_triples``' timestamps and quotes as exports write them: ISO-8601 text read as Unix
seconds, ``time_unit=`` (and the unit that cannot be right, refused), ``quoting=False`` for
TSV dumps with bare quotes, the command-line flags, and the fast path of plain files."""
import numpy as np
import pytest

import minigraphrec as mgr
import minigraphrec.datasets as ds
from minigraphrec.cli import main
from minigraphrec.datasets import _parse
from minigraphrec.errors import DataError
from conftest import write, assert_line_error, pairs


# ============================================================ ISO-8601 times
@pytest.mark.parametrize("token, seconds", [
    ("2009-05-04T23:08:57Z", 1241478537.0),                  # Last.fm-1K
    ("2016-05-09", 1462752000.0),                            # a date: 00:00 UTC
    ("2016-05-09 12:00:00", 1462795200.0),                   # an export; no zone is UTC
    ("2016-05-09T12:00", 1462795200.0),
    ("2016-05-09T14:00:00+02:00", 1462795200.0),
    ("2016-05-09T10:30:00-0130", 1462795200.0),
    ("2016-05-09T17:00:00+05", 1462795200.0),
    ("2016-05-09T12:00:00.5Z", 1462795200.5),
    ("2016-05-09T12:00:00,25", 1462795200.25),
    ("2016-05-09T12:00:00.123456789Z", 1462795200.123456),   # truncated to microseconds
    ("1969-12-31T23:59:59.250Z", -0.75),
])
def test_iso_timestamps_are_unix_seconds(tmp_path, token, seconds):
    f = write(tmp_path / "t.tsv", f"u1\ti1\t4\t{token}\nu2\ti1\t5\t{token}\n")
    data = ds.load_triples(f)
    assert data.timestamps.tolist() == [seconds, seconds]
    assert data.weights.tolist() == [4.0, 5.0] and pairs(data) == [("u1", "i1"), ("u2", "i1")]


def test_iso_timestamps_by_header_name_and_columns(tmp_path):
    named = write(tmp_path / "h.csv", "user_id,item_id,timestamp\nu1,i1,2016-05-09 12:00:00\n"
                                      "u1,i2,2016-05-10\n")          # two layouts: reference
    assert ds.load_triples(named).timestamps.tolist() == [1462795200.0, 1462838400.0]
    assert ds.load_triples(named).weights is None
    lastfm = write(tmp_path / "lastfm.tsv",
                   "user_000001\t2009-05-04T23:08:57Z\tf1b1cf71\tDeep Dish\n"
                   "user_000002\t2009-05-04T13:54:10Z\ta7f7df4a\tMoby\n")
    data = ds.load_triples(lastfm, columns="user,timestamp,-,item")
    assert pairs(data) == [("user_000001", "Deep Dish"), ("user_000002", "Moby")]
    assert data.timestamps.tolist() == [1241478537.0, 1241445250.0]


def test_header_guess_counts_iso_times_as_values(tmp_path):
    roles = dict(columns="user,item,timestamp")
    data = write(tmp_path / "d.csv", "alice,book,2009-05-04T23:08:57Z\nbob,film,2009-05-05\n")
    assert pairs(ds.load_triples(data, **roles)) == [("alice", "book"), ("bob", "film")]
    head = write(tmp_path / "h.csv", "who,what,when\nalice,book,2009-05-04T23:08:57Z\n")
    assert pairs(ds.load_triples(head, **roles)) == [("alice", "book")]   # word over a time


def test_iso_train_and_test(tmp_path):
    train = write(tmp_path / "train.csv", "u1,i1,1,2016-05-09\nu2,i2,1,2016-05-10\n")
    test = write(tmp_path / "test.csv", "u1,i2,1,2016-05-11T00:00:00Z\n")
    tr, te = ds.load_triples(train, test_path=test)
    assert tr.timestamps.tolist() == [1462752000.0, 1462838400.0]
    assert te.timestamps.tolist() == [1462924800.0]


@pytest.mark.parametrize("first, later, message", [
    ("2016-05-09T12:00:00Z", "1462795200",
     "timestamp '1462795200' is not an ISO-8601 date-time"),
    ("2016-05-09T12:00:00Z", "2016-13-09T12:00:00Z",            # month 13
     "timestamp '2016-13-09T12:00:00Z' is not an ISO-8601 date-time"),
    ("2016-05-09", "09/05/2016", "timestamp '09/05/2016' is not an ISO-8601 date-time"),
    ("1462795200", "2016-05-09T12:00:00Z", "timestamp '2016-05-09T12:00:00Z' is an ISO-8601 "
                                           "date-time, but the file's first timestamp is a "
                                           "number"),
    ("1462795200", "yesterday", "timestamp 'yesterday' is not a number"),
])
def test_numeric_and_iso_mixed_refused_at_the_line(tmp_path, first, later, message):
    f = write(tmp_path / "t.csv", f"u1,i1,5,{first}\nu1,i2,5,{first}\nu2,i1,4,{later}\n")
    assert_line_error(lambda: ds.load_triples(f), f, 3, message)
    if "-" in first:                     # the ISO-8601 form comes from the first timestamp
        assert_line_error(lambda: ds.load_triples(f), f, 3,
                          f"as the first timestamp is (line 1: {first!r})")


@pytest.mark.parametrize("bytes_safe", [True, False])
def test_iso_dates_parse_alike_from_bytes_and_from_str(tmp_path, monkeypatch, bytes_safe):
    """NumPy 1.x parses from str (it crashed the interpreter on b"2016-13-09" from bytes);
    both paths give the same times, and the same refusal of an invalid date."""
    from minigraphrec.datasets import _parse
    if bytes_safe and not _parse._BYTES_DATES_SAFE:
        pytest.skip("NumPy 1.x: parsing invalid dates from bytes crashes the interpreter")
    monkeypatch.setattr(_parse, "_BYTES_DATES_SAFE", bytes_safe)
    good = write(tmp_path / "good.csv", "u1,i1,1,2016-05-09T12:00:00Z\nu2,i2,1,2016-02-29\n")
    assert ds.load_triples(good).timestamps.tolist() == [1462795200.0, 1456704000.0]
    bad = write(tmp_path / "bad.csv", "u1,i1,1,2016-05-09\nu1,i2,1,2016-02-30\n")
    assert_line_error(lambda: ds.load_triples(bad), bad, 2,
                      "timestamp '2016-02-30' is not an ISO-8601 date-time")


def test_iso_first_timestamp_is_found_below_the_header(tmp_path):
    f = write(tmp_path / "t.csv", "# exported\nuser,item,time\nu1,i1,2016-05-09\n"
                                  "u1,i2,1462795200\n")
    assert_line_error(lambda: ds.load_triples(f), f, 4,
                      "as the first timestamp is (line 3: '2016-05-09')")


# ================================================================ time unit
def test_time_unit(tmp_path):
    ms = write(tmp_path / "ms.csv", "u1,i1,1,1434455616864\nu1,i2,1,1434455617000\n")
    assert_line_error(lambda: ds.load_triples(ms), ms, 1,
                      "timestamp 1434455616864 is 45455 years from 1970 read as "
                      "time_unit='s': pass time_unit='ms' if that is its unit; "
                      "time_unit=None keeps the numbers as they are")
    assert ds.load_triples(ms, time_unit="ms").timestamps.tolist() == [1434455616.864,
                                                                        1434455617.0]
    assert ds.load_triples(ms, time_unit=None).timestamps.tolist() == [1434455616864.0,
                                                                        1434455617000.0]
    us = write(tmp_path / "us.csv", "u1,i1,1,1434455616864000\n")
    assert_line_error(lambda: ds.load_triples(us, time_unit="ms"), us, 1,
                      "pass time_unit='us'")
    ns = write(tmp_path / "ns.csv", "u1,i1,1,1434455616000000000\n")
    assert ds.load_triples(ns, time_unit="ns").timestamps.tolist() == [1434455616.0]
    late = write(tmp_path / "late.csv", "u1,i1,1,5\nu1,i2,1,-1e11\n")    # at its own line
    assert_line_error(lambda: ds.load_triples(late), late, 2, "pass time_unit='ms'")
    days = write(tmp_path / "days.csv", "u1,i1,1,-5\nu1,i2,1,16930\n")  # small numbers: fine
    assert ds.load_triples(days).timestamps.tolist() == [-5.0, 16930.0]


def test_time_unit_applies_to_train_and_test(tmp_path):
    train = write(tmp_path / "train.csv", "u1,i1,1,1434455616864\nu2,i2,1,1434455617000\n")
    test = write(tmp_path / "test.csv", "u1,i2,1,1434455618500\n")
    tr, te = ds.load_triples(train, test_path=test, time_unit="ms")
    assert tr.timestamps.tolist() == [1434455616.864, 1434455617.0]
    assert te.timestamps.tolist() == [1434455618.5]
    test_s = write(tmp_path / "test_s.csv", "u1,i2,1,1434455618\n")
    assert_line_error(lambda: ds.load_triples(train, test_path=test_s), train, 1,
                      "pass time_unit='ms'")


def test_time_unit_that_does_not_apply(tmp_path):
    iso = write(tmp_path / "iso.csv", "u1,i1,1,2016-05-09T12:00:00Z\n")
    assert_line_error(lambda: ds.load_triples(iso, time_unit="ms"), iso, 1,
                      "time_unit='ms' applies to numeric timestamps; '2016-05-09T12:00:00Z' "
                      "is an ISO-8601 date-time, read as Unix seconds")
    assert ds.load_triples(iso, time_unit=None).timestamps.tolist() == [1462795200.0]
    untimed = write(tmp_path / "untimed.csv", "u1,i1,5\nu2,i1,4\n")
    with pytest.raises(DataError, match="time_unit='ms' applies to a timestamp column, and "
                                        "the file has none"):
        ds.load_triples(untimed, time_unit="ms")
    assert ds.load_triples(untimed).timestamps is None


@pytest.mark.parametrize("kw, message", [
    (dict(time_unit="sec"), "time_unit must be one of ('s', 'ms', 'us', 'ns') or None"),
    (dict(quoting="no"), "quoting must be True or False"),
])
def test_bad_arguments(tmp_path, kw, message):
    f = write(tmp_path / "t.csv", "u1,i1,1,5\n")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ds.load_triples(f, **kw)


# ================================================================== quoting
LASTFM = ("user_000001\tf1b1cf71\t12\tDeep Dish\n"
          "user_000001\ta7f7df4a\t3\t\"Weird Al\" Yankovic\n"
          "user_000002\ta7f7df4a\t1\t\"Weird Al\" Yankovic\n")


def test_quoting_false_reads_bare_quotes(tmp_path):
    f = write(tmp_path / "artists.tsv", LASTFM)
    assert_line_error(lambda: ds.load_triples(f, columns="user,-,rating,item"), f, 2,
                      "pass quoting=False")
    data = ds.load_triples(f, columns="user,-,rating,item", quoting=False)
    assert pairs(data) == [("user_000001", "Deep Dish"),
                           ("user_000001", '"Weird Al" Yankovic'),
                           ("user_000002", '"Weird Al" Yankovic')]
    assert data.weights.tolist() == [12.0, 3.0, 1.0]
    csv = write(tmp_path / "q.csv", 'u1,"a,b"\nu2,c\n')
    assert pairs(ds.load_triples(csv, header=False)) == [("u1", "a,b"), ("u2", "c")]
    assert_line_error(lambda: ds.load_triples(csv, header=False, quoting=False), csv, 1,
                      "rating 'b\"' is not a number")     # the comma splits: 3 fields


# ===================================================== fast path, reference path
def _by_line_only(monkeypatch):
    monkeypatch.setattr(_parse._TableReader, "_chunk_fast", lambda self, chunk, start: None)


def _fast_only(monkeypatch):
    def refuse(self, chunk, start):
        raise AssertionError("the line-by-line path was taken")
    monkeypatch.setattr(_parse._TableReader, "_chunk_by_line", refuse)


def _same(a, b):
    assert pairs(a) == pairs(b) and a.lines.tolist() == b.lines.tolist()
    for x, y in ((a.weights, b.weights), (a.timestamps, b.timestamps)):
        assert (x is None and y is None) or x.tolist() == y.tolist()


@pytest.mark.parametrize("content, kw", [
    ("user,item,rating,timestamp\n" + "".join(f"u{k % 7},i{k % 5},{k % 5 + 1},{1.4e9 + k}\n"
                                              for k in range(300)), {}),
    ("".join(f"u{k % 7}\ti{k % 5}\t1\t{1434455616000 + k}\n" for k in range(300)),
     dict(time_unit="ms")),
    (LASTFM * 50, dict(columns="user,-,rating,item", quoting=False)),
    ("".join(f"u{k % 7}\ti{k % 5}\t1\t2016-05-09T12:{k % 60:02d}:00Z\n" for k in range(300)),
     {}),
])
def test_fast_path_taken_and_equal_to_reference(tmp_path, monkeypatch, content, kw):
    f = write(tmp_path / "t.tsv", content)
    with monkeypatch.context() as m:
        _fast_only(m)
        fast = ds.load_triples(f, **kw)
    with monkeypatch.context() as m:
        _by_line_only(m)
        reference = ds.load_triples(f, **kw)
    _same(fast, reference)


def test_fast_path_numbers_unchanged(tmp_path):
    """Plain numeric timestamps come out as written (seconds), bit for bit."""
    t = np.random.default_rng(0).integers(0, 99_999_999_999, 500)       # (500,), < 1e11
    f = write(tmp_path / "t.csv", "".join(f"u{k % 9},i{k % 4},1,{v}\n" for k, v in enumerate(t)))
    assert ds.load_triples(f).timestamps.tolist() == t.astype(float).tolist()


# ============================================================== command line
def _train(args, capsys):
    code = main(["train", *map(str, args), "--model", "popularity", "-q"])
    return code, capsys.readouterr()


def test_cli_time_unit(tmp_path, capsys, monkeypatch):
    f = write(tmp_path / "events.csv", "user,item,rating,timestamp\n"
                                       "u1,i1,1,1434455616864\nu2,i1,1,1434455617000\n"
                                       "u2,i2,1,1434455618000\n")
    code, out = _train([f], capsys)
    assert code == 2
    assert "pass --time-unit ms if that is its unit; --time-unit none keeps" in out.err
    assert "time_unit=" not in out.err
    seen = {}
    real = ds.load_triples

    def spy(path, **kw):
        data = real(path, **kw)
        seen[str(path)] = data.timestamps.tolist()
        return data
    monkeypatch.setattr(ds, "load_triples", spy)
    assert _train([f, "--time-unit", "ms"], capsys)[0] == 0
    assert seen[str(f)] == [1434455616.864, 1434455617.0, 1434455618.0]
    assert _train([f, "--time-unit", "none"], capsys)[0] == 0
    assert seen[str(f)] == [1434455616864.0, 1434455617000.0, 1434455618000.0]

    iso = write(tmp_path / "iso.csv", "u1,i1,1,2016-05-09\nu2,i1,1,2016-05-10\n")
    code, out = _train([iso, "--time-unit", "ms"], capsys)
    assert code == 2 and "--time-unit ms applies to numeric timestamps" in out.err
    assert _train([iso], capsys)[0] == 0 and seen[str(iso)] == [1462752000.0, 1462838400.0]


def test_cli_no_quoting(tmp_path, capsys):
    f = write(tmp_path / "artists.tsv", LASTFM)
    model = tmp_path / "m.npz"
    code, out = _train([f, "--columns", "user,-,rating,item"], capsys)
    assert code == 2 and "pass --no-quoting" in out.err and "quoting=" not in out.err
    code, _ = _train([f, "--columns", "user,-,rating,item", "--no-quoting", "-o", model],
                     capsys)
    assert code == 0
    assert sorted(mgr.load(model).item_ids_.tolist()) == ['"Weird Al" Yankovic', "Deep Dish"]


def test_cli_time_flags_refused_where_they_do_not_apply(tmp_path, capsys):
    f = write(tmp_path / "train.txt", "0 1 2\n1 0\n")
    for flag in (["--time-unit", "ms"], ["--no-quoting"]):
        code = main(["train", str(f), *flag, "--model", "popularity", "-q"])
        err = capsys.readouterr().err
        formats = "triples" if flag[0] == "--time-unit" else "triples and recbole"
        assert code == 2 and f"{flag[0]} applies to {formats} files only" in err
