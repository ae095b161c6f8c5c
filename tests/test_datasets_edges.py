"""Loaders at the edges of their formats: encodings and byte-order marks, blanks around
fields, archives that are not gzip, very long ids and lines, the wording of errors (dates
where numbers are read, a detected separator, a CIKM timeframe), the argument order of
``load_triples``, and LightGCN's separators."""
import bz2
import codecs
import datetime
import gzip
import io
import lzma
import zipfile

import numpy as np
import pytest

import minigraphrec.datasets as ds
from minigraphrec.datasets import _parse, lightgcn, sessions
from minigraphrec.errors import DataError
from conftest import write, assert_line_error, pairs
from test_datasets import ML_DATA, ML_ITEMS, ML_USERS, ml_folder

CIKM_HEADER = "sessionId;userId;itemId;timeframe;eventdate\n"
RECBOLE_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


# ============================================================== MovieLens
@pytest.mark.parametrize("items", [
    ML_ITEMS.encode("latin-1"),                                 # the GroupLens file
    ML_ITEMS.encode("utf-8"),                                   # a copy re-saved as UTF-8
    codecs.BOM_UTF8 + ML_ITEMS.encode("utf-8"),
    codecs.BOM_UTF8 + ML_ITEMS.encode("latin-1"),
    gzip.compress(ML_ITEMS.encode("utf-8")),
], ids=["latin-1", "utf-8", "utf-8 BOM", "BOM latin-1", "gzip utf-8"])
def test_movielens_u_item_is_utf8_else_latin1(tmp_path, items):
    d = ds.load_movielens_100k(ml_folder(tmp_path / "ml", items=items))
    assert d.item_labels.tolist() == ["Toy Story (1995)", "Mis\xe9rables, Les (1995)",
                                      "Old (1931)", "unknown"]
    assert d.item_ids.tolist() == [1, 2, 3, 4]


def test_movielens_fields_are_stripped_titles_kept(tmp_path):
    users = ML_USERS.replace("|M|", "| M |")
    items = ML_ITEMS.replace("Toy Story (1995)", "Toy Story (1995) ").replace("|1|", "| 1|", 1)
    data = ML_DATA.replace("1\t1\t5", "1 \t 1\t5 ", 1).replace("\n", " \n")
    d = ds.load_movielens_100k(ml_folder(tmp_path / "ml", data=data, users=users,
                                         items=items))
    assert d.user_feature_names[:3] == ["age/100", "gender=F", "gender=M"]
    assert d.user_features.shape == (3, 6)
    assert d.users.tolist() == [0, 2, 1, 0] and d.weights.tolist() == [5, 1, 4, 3]
    assert d.item_labels[0] == "Toy Story (1995) "             # a title stays as written
    assert d.item_features[0, :19].tolist() == [0, 0, 0, 1, 1, 1] + [0] * 13


def test_movielens_gzip_files(tmp_path):
    folder = ml_folder(tmp_path / "ml")
    plain = ds.load_movielens_100k(folder)
    for name, text in (("u.data", ML_DATA), ("u.user", ML_USERS)):
        write(folder / name, gzip.compress(text.encode()))
    d = ds.load_movielens_100k(folder)
    assert d.users.tolist() == plain.users.tolist()
    np.testing.assert_array_equal(d.user_features, plain.user_features)


def test_movielens_iso_date_is_not_a_timestamp(tmp_path):
    folder = ml_folder(tmp_path / "ml", data="1\t1\t5\t1997-12-04\n")
    assert_line_error(lambda: ds.load_movielens_100k(folder), folder / "u.data", 1,
                      "timestamp '1997-12-04' is a date; this format's timestamps are numbers "
                      "(Unix seconds)")


# ============================================================ ISO in numbers
def test_recbole_iso_date_is_not_a_timestamp(tmp_path):
    f = write(tmp_path / "d.inter", RECBOLE_HEADER + "1\t2\t3\t2020-01-01\n")
    assert_line_error(lambda: ds.load_recbole(f), f, 2, "timestamp '2020-01-01' is a date; "
                      "this format's timestamps are numbers")
    f = write(tmp_path / "t.inter", RECBOLE_HEADER + "1\t2\t3\t5\n1\t2\t3\t2020-01-01T10:00Z\n")
    assert_line_error(lambda: ds.load_recbole(f), f, 3, "is a date-time; this format's")


def test_triples_date_after_a_numeric_first_timestamp(tmp_path):
    f = write(tmp_path / "t.csv", "1,2,5,1577836800\n3,4,3,2020-01-01\n")
    assert_line_error(lambda: ds.load_triples(f), f, 2, "the file's first timestamp is a "
                                                        "number")


# ================================================================== archives
def zipped(text):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("ratings.csv", text)
    return buffer.getvalue()


ARCHIVES = [(zipped, "a zip archive", "unzip"), (bz2.compress, "bzip2-compressed", "bunzip2"),
            (lzma.compress, "xz-compressed", "unxz")]


@pytest.mark.parametrize("pack, what, tool", ARCHIVES)
def test_archives_are_named_not_decoded(tmp_path, pack, what, tool):
    loads = [("t.csv", "1,2,5\n3,4,3\n", ds.load_triples),
             ("t.txt", "0 1 2\n1 0\n", ds.load_lightgcn),
             ("t.inter", RECBOLE_HEADER + "1\t2\t3\t4\n", ds.load_recbole),
             ("s.csv", CIKM_HEADER + "1;NA;5;0;2016-01-01\n", ds.load_sessions)]
    for name, text, load in loads:
        f = write(tmp_path / name, pack(text.encode()))
        with pytest.raises(DataError, match=f"the file is {what} .*: unpack it first "
                                            f"\\({tool}\\)") as info:
            load(f)
        assert str(info.value).startswith(f"{f}: ")
    folder = ml_folder(tmp_path / "ml")
    write(folder / "u.user", pack(ML_USERS.encode()))
    with pytest.raises(DataError, match=f"u.user: the file is {what}"):
        ds.load_movielens_100k(folder)


def test_bzip2_magic_needs_its_block_mark(tmp_path):
    """An id that happens to start with "BZh9" is data: the bzip2 test reads on to the
    stream's block mark."""
    f = write(tmp_path / "t.csv", "BZh91,2,5\n3,4,3\n")
    assert pairs(ds.load_triples(f)) == [("BZh91", "2"), ("3", "4")]


# ================================================================= long ids
def test_ids_longer_than_the_bound_are_refused(tmp_path):
    bound = _parse._MAX_ID_CHARS
    assert bound == 1024
    ok = "u" * bound
    f = write(tmp_path / "ok.csv", f"{ok},i1,5\nu2,i1,3\n")
    assert ds.load_triples(f).user_ids.tolist() == [ok, "u2"]
    long_id = "x" * (bound + 1)
    f = write(tmp_path / "t.csv", f"u1,i1,5\nu2,i2,3\nu3,{long_id},4\nu4,{long_id},1\n")
    assert_line_error(lambda: ds.load_triples(f), f, 3, "item id 'xxxx")
    with pytest.raises(DataError, match=f"is {bound + 1} characters long; ids are at most "
                                        f"{bound} characters .*wrong separator"):
        ds.load_triples(f)
    train = write(tmp_path / "train.csv", "u1,i1,5\n")        # a test file's ids too
    test = write(tmp_path / "test.csv", f"u1,i1,5\n{long_id},i1,4\n")
    assert_line_error(lambda: ds.load_triples(train, test), test, 2, "user id 'xxx")


def test_long_ids_refused_in_recbole_and_session_logs(tmp_path):
    long_id = "s" * 2000
    f = write(tmp_path / "t.inter", RECBOLE_HEADER + f"{long_id}\t2\t3\t4\n")
    assert_line_error(lambda: ds.load_recbole(f), f, 2, "user id 'sss")
    f = write(tmp_path / "s.csv", f"1,a,10\n{long_id},b,11\n")
    assert_line_error(lambda: ds.load_sessions(f, "triples"), f, 2,
                      "session id 'sss")
    f = write(tmp_path / "c.csv", CIKM_HEADER + f"1;NA;5;0;2016-01-01\n1;{long_id};6;0;"
                                                f"2016-01-01\n")
    assert_line_error(lambda: ds.load_sessions(f), f, 3, "user id 'sss")
    f = write(tmp_path / "e.csv", f"session,item,timestamp,event\n1,a,10,{long_id}\n")
    assert_line_error(lambda: ds.load_sessions(f, "triples", events="view"), f, 2,
                      "event 'sss")


# ================================================================ long lines
def whole_line_blocks_by_concatenation(f, size):
    """The block splitting as first written (``rest + block`` on every read)."""
    rest = b""
    while True:
        block = f.read(size)
        if not block:
            if rest:
                yield rest
            return
        block = rest + block
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        if cut:
            yield block[:cut]


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_whole_line_blocks_as_by_concatenation(monkeypatch, size):
    rng = np.random.default_rng(size)
    monkeypatch.setattr(_parse, "_CHUNK_BYTES", size)
    for _ in range(30):
        lengths = rng.choice([0, 1, 5, 200], size=rng.integers(0, 8))
        data = b"\n".join(b"x" * int(n) for n in lengths) + rng.choice([b"", b"\n"])
        got = list(_parse._whole_line_blocks(io.BytesIO(data)))
        assert got == list(whole_line_blocks_by_concatenation(io.BytesIO(data), size))
        assert b"".join(got) == data


def test_a_line_of_many_chunks_loads_as_it_did(tmp_path, monkeypatch):
    monkeypatch.setattr(_parse, "_CHUNK_BYTES", 64)
    name = "n" * 1000                                    # 16 chunks, under the id bound
    f = write(tmp_path / "t.csv", f"1,2,5\n{name},2,5\n3,{name},1\n")
    assert pairs(ds.load_triples(f)) == [("1", "2"), (name, "2"), ("3", name)]


# ============================================================== separators
def test_field_count_error_names_the_detected_separator(tmp_path):
    f = write(tmp_path / "t.csv", "1,2,5\n3 4 3\n")
    assert_line_error(lambda: ds.load_triples(f), f, 2,
                      "expected 3 fields, got 1 in '3 4 3'; split at ',' (detected from "
                      "line 1")
    f = write(tmp_path / "w.txt", "# c\n1 2 5\n3\t4\t3\t7\n")
    assert_line_error(lambda: ds.load_triples(f), f, 3,
                      "split at runs of whitespace (detected from line 2")
    f = write(tmp_path / "s.tsv", "1\t2\t5\n3\t4\n")
    assert_line_error(lambda: ds.load_sessions(f, "triples"), f, 2,
                      "split at '\\t' (detected from line 1")
    f = write(tmp_path / "g.csv", "1,2,5\n3 4 3\n")
    with pytest.raises(DataError) as info:
        ds.load_triples(f, sep=",")                        # given: nothing to add
    assert "expected 3 fields, got 1 in '3 4 3'" in str(info.value)
    assert "detected" not in str(info.value)


# ======================================================= load_triples' order
def test_load_triples_takes_the_test_file_second(tmp_path):
    train = write(tmp_path / "train.csv", "u1,a,5\nu2,b,3\n")
    test = write(tmp_path / "test.csv", "u2,a,1\n")
    tr, te = ds.load_triples(train, test)
    assert pairs(te) == [("u2", "a")] and te.n_users == tr.n_users == 2
    tr2, te2 = ds.load_triples(train, test_path=test, sep=",")
    assert pairs(te2) == pairs(te)
    with pytest.raises(TypeError, match="looks like a separator; sep is keyword-only"):
        ds.load_triples(train, ",")
    with pytest.raises(TypeError):
        ds.load_triples(train, test, ",")                  # sep by position


# ========================================================= files without rows
@pytest.mark.parametrize("fmt, content, message", [
    ("cikm", CIKM_HEADER + "\n\n", "no events"),
    ("triples", "session,item,timestamp\n\n", "no events"),
])
def test_session_logs_without_rows_say_events(tmp_path, fmt, content, message):
    f = write(tmp_path / "s.csv", content)
    with pytest.raises(DataError, match=message) as info:
        ds.load_sessions(f, fmt)
    assert "interactions" not in str(info.value) and "comments" not in str(info.value)


def test_recbole_without_rows_mentions_no_comments(tmp_path):
    f = write(tmp_path / "h.inter", RECBOLE_HEADER + "\n")
    with pytest.raises(DataError, match="no interactions") as info:
        ds.load_recbole(f)
    assert "comments" not in str(info.value)


def test_a_folder_is_an_is_a_directory_error(tmp_path):
    for load in (ds.load_triples, ds.load_lightgcn, ds.load_recbole, ds.load_sessions):
        with pytest.raises(IsADirectoryError, match="is a folder"):
            load(tmp_path)
    with pytest.raises(NotADirectoryError):
        ds.load_movielens_100k(write(tmp_path / "ml-100k.zip", b"PK"))


# ===================================================================== CIKM
def test_cikm_timeframes_up_to_2_to_the_53(tmp_path):
    top = 2 ** 53 - 1
    f = write(tmp_path / "c.csv", CIKM_HEADER + f"1;NA;5;{top};2016-01-01\n1;NA;6;0;"
                                                f"2016-01-01\n")
    assert ds.load_sessions(f).items.tolist() == [1, 0]      # ordered by timeframe


def test_cikm_header_names_compared_as_load_triples_compares_them(tmp_path):
    f = write(tmp_path / "c.csv", "Session-ID;user.id;Item ID;time_frame;eventDate\n"
                                  "1;NA;5;0;2016-01-01\n")
    s = ds.load_sessions(f)
    assert s.item_ids.tolist() == ["5"]


def test_cikm_dates_as_days_since_1970(tmp_path):
    """The shared ISO-8601 reader gives the seconds the date arithmetic gives."""
    days = [datetime.date(1970, 1, 1), datetime.date(1969, 12, 31), datetime.date(1, 1, 1),
            datetime.date(9999, 12, 31), datetime.date(2016, 2, 29), datetime.date(2016, 5, 9)]
    rng = np.random.default_rng(0)
    days += [datetime.date.fromordinal(int(k)) for k in rng.integers(1, 3_652_059, 200)]
    raw = [d.isoformat() for d in days]
    ids = np.arange(len(raw))
    got = sessions._cikm_dates(ids, raw, ids + 2, "c.csv")
    expected = [float((d - datetime.date(1970, 1, 1)).days * 86400) for d in days]
    assert got.tolist() == expected
    for bad in ("2016-02-30", "2016-13-01", "2016-05-09T10:00", "0000-01-01"):
        with pytest.raises(DataError, match=f"c.csv, line 3: eventdate '{bad}' is not a date"):
            sessions._cikm_dates(np.array([0, 1]), ["2016-01-01", bad], np.array([2, 3]),
                                 "c.csv")


# ================================================================= LightGCN
@pytest.mark.parametrize("line, char", [
    ("0 1\x1c2", "\\x1c"), ("0 1\u00a02", "\\xa0"), ("0 1\x0b2", "\\x0b"), ("0 1\x0c2", "\\x0c"),
    ("0 1 2\u2028", "\\u2028"), ("\x0b", "\\x0b"),
])
def test_lightgcn_separates_ids_by_spaces_and_tabs_only(tmp_path, line, char):
    f = write(tmp_path / "t.txt", "5 6\n" + line + "\n")
    assert_line_error(lambda: ds.load_lightgcn(f), f, 2, f"the character '{char}'")
    with pytest.raises(DataError, match="separated by spaces or tabs only"):
        ds.load_lightgcn(f)


def test_lightgcn_both_paths_split_alike():
    """A line of digits and blanks read by the fast path (bytes.split) and by the slow one
    (the one that decodes and words errors) gives the same ids."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        tokens = [str(x) for x in rng.integers(0, 10 ** 6, rng.integers(0, 6))]
        blanks = [rng.choice([" ", "\t", "  ", " \t "]) for _ in range(len(tokens) + 1)]
        text = "".join(b + t for b, t in zip(blanks, tokens)) + blanks[-1]
        raw = (text + rng.choice(["\n", "\r\n", ""])).encode()
        assert lightgcn._adjacency_line_slow(raw, "t.txt", 1) == list(map(int, raw.split()))


def test_lightgcn_test_line_without_items_is_not_checked(tmp_path):
    train = write(tmp_path / "train.txt", "0 1 2\n1 2\n")
    test = write(tmp_path / "test.txt", "0 1\n5\n")        # user 5 lists nothing
    tr, te = ds.load_lightgcn(train, test)
    assert te.users.tolist() == [0] and te.items.tolist() == [1] and te.n_dropped == 0
    test = write(tmp_path / "test2.txt", "0 1\n5 1\n")
    assert_line_error(lambda: ds.load_lightgcn(train, test), test, 2,
                      "user 5 is unknown to training")


# ================================================================= embedded
def test_synthetic_truth_refuses_users_out_of_range():
    """A negative id indexed from the end: user -1 silently got the last user's row."""
    data, truth = ds.synthetic(n_users=30, n_items=40, n_communities=3, mean_interactions=6,
                               return_truth=True)
    np.testing.assert_array_equal(truth.probabilities(np.array([29, 0])),
                                  truth.probabilities()[[29, 0]])
    for users, message in (([-1], r"users\[0\] = -1 is out of range 0..29"),
                           ([0, 30], r"users\[1\] = 30 is out of range 0..29"),
                           ([0.5], "must hold integer ids")):
        with pytest.raises(DataError, match=message):
            truth.probabilities(users)


def test_session_oracle_refuses_another_catalogue():
    from minigraphrec.sequences import Sequences

    _, truth = ds.synthetic_sessions(n_sessions=50, n_items=30, n_communities=3,
                                     return_truth=True)
    for n_items in (20, 500):                    # renumbered items, another generator's
        with pytest.raises(DataError, match=f"sessions must use the generator's 30 item ids, "
                                            f"got a catalogue of {n_items} items"):
            truth.next_item_probabilities(Sequences.from_lists([[0, 1], [2]], n_items=n_items))


def test_example_checks_return_truth():
    """"no" is truthy: it returned the truth it was asked not to."""
    with pytest.raises(DataError, match="return_truth must be True or False, got 'no'"):
        ds.example(n_users=20, n_items=30, ml100k="", return_truth="no")
    assert len(ds.example(n_users=20, n_items=30, ml100k="", return_truth=False)) == 2


def test_embedded_data_needs_no_file_and_is_deterministic():
    """The default data is generated, not shipped: the package holds no data file, and the
    same seed gives the same bytes."""
    import hashlib
    import pathlib

    package = pathlib.Path(ds.__file__).parents[1]
    assert [p for p in package.rglob("*") if p.is_file() and p.suffix != ".py"
            and "__pycache__" not in p.parts] == []
    a, b = ds.synthetic(), ds.synthetic()
    for name in ("users", "items", "timestamps"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    assert (a.n_users, a.n_items, len(a)) == (1000, 1500, 20082)
    assert hashlib.sha256(a.users.tobytes() + a.items.tobytes()
                          + a.timestamps.tobytes()).hexdigest()[:16] == "192286f71b544105"
