"""Loaders (strictness, error locations, fast/slow path parity), embedded data, download."""
import hashlib
import logging
import os
import urllib.request
import zipfile

import numpy as np
import pytest

import minigraphrec.datasets as ds
from minigraphrec.errors import DataError
from conftest import write, assert_line_error, pairs


# ================================================================ LightGCN
def test_lightgcn_hand_computed(tmp_path):
    train = write(tmp_path / "train.txt", "0 1 2\n1 0\n2\n4 2 2\n")
    test = write(tmp_path / "test.txt", "0 0\n4 1\n2\n")
    tr, te = ds.load_lightgcn(train, test)
    assert tr.users.tolist() == [0, 0, 1, 4, 4]
    assert tr.items.tolist() == [1, 2, 0, 2, 2]           # repeats kept as events
    assert te.users.tolist() == [0, 4] and te.items.tolist() == [0, 1]
    for d in (tr, te):                                     # one id space: max + 1
        assert (d.n_users, d.n_items) == (5, 3)
        assert d.weights is None and d.timestamps is None
    assert te.n_dropped == 0
    assert tr.user_ids.tolist() == [0, 1, 2, 3, 4]         # raw ids = internal ids
    single = ds.load_lightgcn(train)
    assert single.users.tolist() == tr.users.tolist() and single.n_users == 5


def test_lightgcn_whitespace_crlf_blank_lines_bom(tmp_path):
    f = write(tmp_path / "t.txt", b"\xef\xbb\xbf0\t1  2\r\n\n1 0 \r\n   \n")
    d = ds.load_lightgcn(f)
    assert d.users.tolist() == [0, 0, 1] and d.items.tolist() == [1, 2, 0]


def test_lightgcn_long_zero_padded_id_is_fine(tmp_path):
    f = write(tmp_path / "t.txt", "0 0000000000000000000000007\n")
    assert ds.load_lightgcn(f).items.tolist() == [7]


@pytest.mark.parametrize("content, line, message", [
    ("0 1\n1 x\n", 2, "item id 'x' is not a non-negative integer"),
    ("0 1\n-1 2\n", 2, "user id '-1' is not a non-negative integer"),
    ("0 1.5\n", 1, "item id '1.5' is not a non-negative integer"),
    ("0 \u0663\n", 1, "is not a non-negative integer"),              # Arabic-Indic digit
    ("0 1\n1 9223372036854775808\n", 2, "overflows int64"),
    ("0 1\n0 2\n", 2, "user 0 is listed again (first at line 1)"),
    (b"0 1\n1 2\xff 3\n", 2, "undecodable bytes b'\\xff'"),
])
def test_lightgcn_rejects(tmp_path, content, line, message):
    f = write(tmp_path / "bad.txt", content)
    assert_line_error(lambda: ds.load_lightgcn(f), f, line, message)


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("0\n1\n", r"no interactions in 2 line\(s\) \(every user line lists no items\)"),
    ("\n  \n\n", r"no interactions \(the file holds only blank lines, 3 of them\)")])
def test_lightgcn_rejects_files_without_interactions(tmp_path, content, message):
    f = write(tmp_path / "e.txt", content)
    with pytest.raises(DataError, match=message) as info:
        ds.load_lightgcn(f)
    assert str(f) in str(info.value)


def test_lightgcn_unknown_test_ids(tmp_path, caplog):
    train = write(tmp_path / "train.txt", "0 1\n1 2\n")
    for content, line, message in [("0 2\n2 1\n", 2, "user 2 is unknown to training"),
                                   ("0 2\n1 0 3\n", 2, "item 3 is unknown to training")]:
        test = write(tmp_path / "test.txt", content)
        with pytest.raises(DataError) as info:
            ds.load_lightgcn(train, test)
        assert f"test.txt, line {line}: {message}" in str(info.value)

    test = write(tmp_path / "test.txt", "0 2 3\n2 1\n1 0\n")
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        tr, te = ds.load_lightgcn(train, test, on_unknown="drop")
    assert te.n_dropped == 2
    assert "dropped 2 of 4 test interactions" in caplog.text
    assert list(zip(te.users.tolist(), te.items.tolist())) == [(0, 2), (1, 0)]
    assert (te.n_users, te.n_items) == (2, 3) == (tr.n_users, tr.n_items)

    write(test, "5 1\n")
    with pytest.raises(DataError, match="all 1 test interactions are unknown"):
        ds.load_lightgcn(train, test, on_unknown="drop")


def test_missing_files_and_bad_options(tmp_path):
    missing = tmp_path / "nope.txt"
    for load in (ds.load_lightgcn, ds.load_triples, ds.load_recbole):
        with pytest.raises(FileNotFoundError, match="nope.txt"):
            load(missing)
    with pytest.raises(FileNotFoundError, match="no-folder"):
        ds.load_movielens_100k(tmp_path / "no-folder")
    f = write(tmp_path / "t.txt", "0 1\n")
    with pytest.raises(ValueError, match="on_unknown"):
        ds.load_lightgcn(f, f, on_unknown="ignore")
    with pytest.raises(ValueError, match="sep"):
        ds.load_triples(f, sep="")


# ================================================================ triples
@pytest.mark.parametrize("sep", [" ", "\t", ",", "::"])
def test_triples_separators_detected(tmp_path, sep):
    rows = [("u1", "i9", "4", "100"), ("u2", "i9", "3.5", "101"), ("u1", "i7", "1", "99")]
    f = write(tmp_path / "t.txt", "".join(sep.join(r) + "\n" for r in rows))
    d = ds.load_triples(f)
    assert pairs(d) == [("u1", "i9"), ("u2", "i9"), ("u1", "i7")]
    assert d.users.tolist() == [0, 1, 0] and d.items.tolist() == [0, 0, 1]
    assert d.user_ids.tolist() == ["u1", "u2"] and d.item_ids.tolist() == ["i9", "i7"]
    assert d.weights.tolist() == [4.0, 3.5, 1.0]
    assert d.timestamps.tolist() == [100.0, 101.0, 99.0]


def test_triples_raw_ids_stay_strings(tmp_path):
    f = write(tmp_path / "t.csv", "007,1\n7,1\n")
    d = ds.load_triples(f)
    assert d.user_ids.tolist() == ["007", "7"]               # not merged as the integer 7
    assert d.weights is None and d.timestamps is None
    assert d.user_index["007"] == 0 and d.user_index["7"] == 1


@pytest.mark.parametrize("content, header, expected", [
    ("user,item,rating\n1,2,5\n", None, [("1", "2")]),
    ("userId,movieId\n1,2\n", None, [("1", "2")]),
    ("alice,pen\nbob,ink\n", None, "line 1: cannot tell whether this line is a header"),
    ("alice,pen\nbob,ink\n", True, [("bob", "ink")]),
    ("alice,pen\nbob,ink\n", False, [("alice", "pen"), ("bob", "ink")]),
    ("user,item,rating\n1,2,5\n", False, "rating 'rating' is not a number"),
    ("1,2,5\n3,4,1\n", True, [("3", "4")]),
])
def test_triples_header(tmp_path, content, header, expected):
    f = write(tmp_path / "t.csv", content)
    if isinstance(expected, str):
        with pytest.raises(DataError, match=expected):
            ds.load_triples(f, header=header)
    else:
        assert pairs(ds.load_triples(f, header=header)) == expected


def test_triples_comments_blank_lines_crlf_spacing(tmp_path):
    content = "# a comment\r\n\r\n\t# another\r\n  1   2  5 \r\n\r\n3 4 1\r\n\r\n"
    d = ds.load_triples(write(tmp_path / "t.txt", content))
    assert pairs(d) == [("1", "2"), ("3", "4")] and d.weights.tolist() == [5.0, 1.0]
    d = ds.load_triples(write(tmp_path / "t.csv", "a#1, b ,2\n"), comments="#")
    assert pairs(d) == [("a#1", "b")]                       # only whole-line comments


@pytest.mark.parametrize("content, line, message", [
    ("1,2,3\n1,2\n", 2, "expected 3 fields, got 2"),
    ("1,2\n1,2,3\n", 2, "expected 2 fields, got 3"),
    ("1,2,3,4,5\n", 1, "expected 2 to 4 fields"),
    ("1\n", 1, "expected 2 to 4 fields"),
    ("1,2,3\n1,2,nan\n", 2, "rating 'nan' is not finite"),
    ("1,2,3\n1,2,1e999\n", 2, "rating '1e999' is not finite"),
    ("1,2,3,4\n1,2,3,inf\n", 2, "timestamp 'inf' is not finite"),
    ("1,2,3,4\n1,2,3,2020-01-01\n", 2,
     "timestamp '2020-01-01' is an ISO-8601 date-time, but the file's first"),
    ("1,2\n,2\n", 2, "empty user id"),
    ("1,2\n1, \n", 2, "empty item id"),
    ("1\t2\t3\n1\t2\t\n", 2, "rating '' is not a number"),
    (b"# fine\n1,2\n1,\xe9t\xe9\n", 3, "undecodable bytes"),
    ("user,item\n1,2\n3,4,5\n", 3, "expected 2 fields, got 3"),
])
def test_triples_rejects(tmp_path, content, line, message):
    f = write(tmp_path / "bad.csv", content)
    assert_line_error(lambda: ds.load_triples(f), f, line, message)


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n", "user,item,rating\n",
                                     "# c\nuser\titem\trating\ttimestamp\n\n"])
def test_triples_rejects_files_without_data(tmp_path, content):
    with pytest.raises(DataError, match="no interactions"):
        ds.load_triples(write(tmp_path / "e.csv", content))


def test_triples_test_file(tmp_path, caplog):
    train = write(tmp_path / "train.csv", "user,item,rating\nann,x,5\nbob,y,3\nann,y,4\n")
    test = write(tmp_path / "test.tsv", "bob\tx\t2\n")
    tr, te = ds.load_triples(train, test_path=test)        # format detected per file
    assert pairs(te) == [("bob", "x")] and te.weights.tolist() == [2.0]
    assert te.users.tolist() == [1] and te.items.tolist() == [0] and te.n_dropped == 0
    assert te.user_ids.tolist() == tr.user_ids.tolist() == ["ann", "bob"]

    write(test, "# c\nbob\tx\t2\ncat\tx\t1\nann\tz\t1\n")
    with pytest.raises(DataError) as info:
        ds.load_triples(train, test_path=test)
    assert "test.tsv, line 3: user 'cat' is unknown to training" in str(info.value)
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        tr, te = ds.load_triples(train, test_path=test, on_unknown="drop")
    assert te.n_dropped == 2 and pairs(te) == [("bob", "x")]
    assert "dropped 2 of 3 test interactions" in caplog.text


def random_triples_file(path, rng, n=2000, sep=",", extras=True, eol="\n"):
    """A file with odd ids, and (extras) blank lines and quoted fields in the middle."""
    lines, expected = [], []
    pad = " " if sep in (",", "::") else ""              # blanks around fields are stripped
    for k in range(n):
        u, i = f"u#{rng.integers(50)}", f"i:{rng.integers(80)}"    # '#' inside is data
        r, t = rng.integers(1, 6) / 2, 1e9 + rng.integers(10**6)
        lines.append(f"{u}{sep}{pad}{i}{pad}{sep}{r}{sep}{t:.0f}")
        expected.append((u, i, r, t))
        if extras and k % 700 == 350:     # below line 1, '#' starts data, not a comment
            lines += ["", "   ", f"#u0{sep}i:0{sep}1.0{sep}5",
                      f'{pad}"#u1"{sep}"i {sep} 1"{sep}2.0{sep}6']         # sep quoted
            expected += [("#u0", "i:0", 1.0, 5.0), ("#u1", f"i {sep} 1", 2.0, 6.0)]
    write(path, eol.join(lines) + eol)
    return expected, len(lines)


@pytest.mark.parametrize("sep, eol", [(",", "\n"), ("::", "\r\n"), (" ", "\r\n"),
                                     ("\t", "\n")])
def test_triples_fast_path_equals_line_by_line(tmp_path, monkeypatch, sep, eol):
    fast = ds._parse._TableReader._chunk_fast
    taken = []                                  # per chunk: did the fast path parse it?

    def spy(self, chunk, start):
        out = fast(self, chunk, start)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", spy)
    rng = np.random.default_rng(5)
    plain, _ = random_triples_file(tmp_path / "plain.txt", rng, sep=sep, extras=False, eol=eol)
    mixed, _ = random_triples_file(tmp_path / "mixed.txt", rng, sep=sep, eol=eol)
    results = []
    for name, expected, chunk, paths in [("plain.txt", plain, 1 << 22, {True}),
                                         ("mixed.txt", mixed, 1 << 22, {False}),
                                         ("mixed.txt", mixed, 200, {True, False})]:
        monkeypatch.setattr(ds._parse, "_CHUNK_BYTES", chunk)
        taken.clear()
        results.append((ds.load_triples(tmp_path / name), expected))
        assert set(taken) == paths
    monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", lambda *a: None)
    results.append((ds.load_triples(tmp_path / "mixed.txt"), mixed))   # reference path only
    for d, expected in results:
        assert pairs(d) == [(u, i) for u, i, _, _ in expected]
        assert d.weights.tolist() == [r for _, _, r, _ in expected]
        assert d.timestamps.tolist() == [t for _, _, _, t in expected]


def test_triples_irregular_whitespace_same_on_both_paths(tmp_path, monkeypatch):
    content = "a  b\t1\n c\u00a0d 2 \r\ne f\x0b3\n"
    f = write(tmp_path / "t.txt", content)
    d = ds.load_triples(f, sep=r"\s+")
    assert pairs(d) == [("a", "b"), ("c", "d"), ("e", "f")] and d.weights.tolist() == [1, 2, 3]
    g = write(tmp_path / "g.txt", "x  y 0\n" + content[7:])   # auto: no tab in line 1
    assert pairs(ds.load_triples(g)) == [("x", "y")] + pairs(d)[1:]
    monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", lambda *a: None)
    assert pairs(ds.load_triples(f, sep=r"\s+")) == pairs(d)
    assert pairs(ds.load_triples(g)) == [("x", "y")] + pairs(d)[1:]


def test_triples_lines_longer_than_a_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(ds._parse, "_CHUNK_BYTES", 5)
    f = write(tmp_path / "t.csv", "a_long_user,item_one,1\nb,item_two,2\nc,i,3")   # no final \n
    d = ds.load_triples(f)
    assert pairs(d) == [("a_long_user", "item_one"), ("b", "item_two"), ("c", "i")]
    assert d.weights.tolist() == [1, 2, 3]
    write(f, "a_long_user,item_one,1\nb,item_two,2\nc,i,x")
    with pytest.raises(DataError, match="t.csv, line 3: rating 'x' is not a number"):
        ds.load_triples(f)


@pytest.mark.parametrize("chunk", [1 << 22, 300])
def test_triples_error_line_numbers_in_late_chunks(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(ds._parse, "_CHUNK_BYTES", chunk)
    rng = np.random.default_rng(6)
    random_triples_file(tmp_path / "t.csv", rng, extras=False)   # fast path must notice
    lines = (tmp_path / "t.csv").read_text().split("\n")
    bad = lines.copy()
    bad[1500] = bad[1500].rsplit(",", 2)[0] + ",nan,5"         # line 1501
    write(tmp_path / "bad.csv", "\n".join(bad))
    with pytest.raises(DataError, match=r"bad.csv, line 1501: rating 'nan' is not finite"):
        ds.load_triples(tmp_path / "bad.csv")
    test = write(tmp_path / "test.csv", "\n".join(lines[:1800] + ["nobody,i:1,1,1"]))
    with pytest.raises(DataError, match=r"test.csv, line 1801: user 'nobody' is unknown"):
        ds.load_triples(tmp_path / "t.csv", test_path=test)


# ================================================================ RecBole
def test_recbole_columns_by_name(tmp_path):
    f = write(tmp_path / "ml.inter",
              "timestamp:float\titem_id:token\treview:token_seq\tuser_id:token\trating:float\n"
              "978300760\t1193\tgreat film\t1\t5\n"
              "978302109\t661\t\t1\t3\n"
              "978301968\t1193\tok\t2\t4\n")
    d = ds.load_recbole(f)
    assert pairs(d) == [("1", "1193"), ("1", "661"), ("2", "1193")]
    assert d.weights.tolist() == [5.0, 3.0, 4.0]
    assert d.timestamps.tolist() == [978300760.0, 978302109.0, 978301968.0]

    g = write(tmp_path / "plain.inter", "user_id:token\titem_id:token\na\tb\n")
    d = ds.load_recbole(g)
    assert pairs(d) == [("a", "b")] and d.weights is None and d.timestamps is None
    d = ds.load_recbole(write(tmp_path / "other.inter", "uid:token\tiid:token\n#1\tb\n"),
                        user_field="uid", item_field="iid")
    assert pairs(d) == [("#1", "b")]                        # no comment lines in RecBole


@pytest.mark.parametrize("content, line, message", [
    ("user_id\titem_id:token\n1\t2\n", 1, "header field 1 'user_id' is not 'name:type'"),
    ("user_id:token\titem_id:int\n1\t2\n", 1, "header field 2 'item_id:int'"),
    ("user_id:token\trating:float\n1\t2\n", 1, "no 'item_id' column"),
    ("user_id:token\titem_id:token\titem_id:float\n1\t2\t3\n", 1, "column 'item_id' twice"),
    ("user_id:token\titem_id:token\trating:token\n1\t2\t3\n", 1,
     "column 'rating' has type 'token', expected 'float'"),
    ("user_id:token\titem_id:token\trating:float\n1\t2\t5\n1\t3\n", 3,
     "expected 3 fields, got 2"),
    ("user_id:token\titem_id:token\trating:float\n1\t2\tNaN\n", 2, "rating 'NaN' is not finite"),
    ("user_id:token\titem_id:token\n1\t\n", 2, "empty item id"),
])
def test_recbole_rejects(tmp_path, content, line, message):
    f = write(tmp_path / "bad.inter", content)
    assert_line_error(lambda: ds.load_recbole(f), f, line, message)


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("user_id:token\titem_id:token\n", "no interactions")])
def test_recbole_rejects_files_without_data(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        ds.load_recbole(write(tmp_path / "e.inter", content))


def test_recbole_test_file(tmp_path):
    train = write(tmp_path / "d.train.inter", "user_id:token\titem_id:token\na\tx\nb\ty\n")
    test = write(tmp_path / "d.test.inter", "item_id:token\tuser_id:token\ny\ta\nz\tb\n")
    with pytest.raises(DataError, match=r"d.test.inter, line 3: item 'z' is unknown"):
        ds.load_recbole(train, test)
    tr, te = ds.load_recbole(train, test, on_unknown="drop")
    assert pairs(te) == [("a", "y")] and te.n_dropped == 1


# ============================================================= MovieLens
ML_USERS = "3|60|F|writer|55555\n1|24|M|technician|85711\n2|53|F|other|94043\n"
ML_ITEMS = ("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
            "2|Mis\xe9rables, Les (1995)|01-Jan-1995||http://y|0|0|0|0|0|0|0|0|1|0|0|0|1|0|0|0"
            "|0|0|0\n"
            "4|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
            "3|Old (1931)|12-Mar-1931||http://z|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1\n")
ML_DATA = "1\t1\t5\t881250949\n3\t4\t1\t881250950\n2\t2\t4\t881250951\n1\t3\t3\t881250952\n"


def ml_folder(path, data=ML_DATA, users=ML_USERS, items=ML_ITEMS):
    path.mkdir(exist_ok=True)
    write(path / "u.data", data)
    write(path / "u.user", users)
    write(path / "u.item", items.encode("latin-1") if isinstance(items, str) else items)
    return path


def test_movielens_hand_computed(tmp_path):
    d = ds.load_movielens_100k(ml_folder(tmp_path / "ml", data="\n" + ML_DATA + "\r\n\n"))
    assert d.user_ids.tolist() == [1, 2, 3] and d.item_ids.tolist() == [1, 2, 3, 4]
    assert d.lines.tolist() == [2, 3, 4, 5]                           # u.data's lines
    assert d.users.tolist() == [0, 2, 1, 0] and d.items.tolist() == [0, 3, 1, 2]
    assert d.weights.tolist() == [5, 1, 4, 3]
    assert d.timestamps.tolist() == [881250949, 881250950, 881250951, 881250952]
    assert d.user_feature_names == ["age/100", "gender=F", "gender=M", "occupation=other",
                                    "occupation=technician", "occupation=writer"]
    np.testing.assert_array_equal(d.user_features, [[0.24, 0, 1, 0, 1, 0],
                                                    [0.53, 1, 0, 1, 0, 0],
                                                    [0.60, 1, 0, 0, 0, 1]])
    assert d.item_feature_names[:2] == ["genre=unknown", "genre=Action"]
    assert d.item_feature_names[-3:] == ["genre=Western", "(year-1900)/100", "year_missing"]
    X = d.item_features
    assert X.shape == (4, 21)
    assert X[0, :19].tolist() == [0, 0, 0, 1, 1, 1] + [0] * 13          # item 1
    assert X[2, [1, 18]].tolist() == [1, 1] and X[2, :19].sum() == 2      # item 3
    assert X[:, 19].tolist() == pytest.approx([0.95, 0.95, 0.31, 0.95])  # item 4: median
    assert X[:, 20].tolist() == [0, 0, 0, 1]
    assert d.item_labels.tolist() == ["Toy Story (1995)", "Mis\xe9rables, Les (1995)",
                                      "Old (1931)", "unknown"]               # by raw id
    assert d.subset([0, 1]).item_labels.tolist() == d.item_labels.tolist()


@pytest.mark.parametrize("file, content, line, message", [
    ("u.data", "1\t1\t5\t1\n1\tx\t5\t1\n", 2, "item id 'x' is not a non-negative integer"),
    ("u.data", "-1\t1\t5\t1\n", 1, "user id '-1' is not a non-negative integer"),
    ("u.data", "1\t99999999999999999999\t5\t1\n", 1, "overflows int64"),
    ("u.data", "1\t1\t5\n", 1, "expected 4 '\\t'-separated fields, got 3"),
    ("u.data", "1\t1\t5\t1\r1\t3\t3\t2\r", 1, "end its lines with \\r alone"),  # was: got 7
    ("u.data", "1\t1\t1_000\t1\n", 1, "rating '1_000' is not a number"),
    ("u.data", "1\t1\tnan\t1\n", 1, "rating 'nan' is not finite"),
    ("u.data", "1\t1\t5\tinf\n", 1, "timestamp 'inf' is not finite"),
    ("u.data", "1\t1\t5\t1\n9\t1\t5\t1\n", 2, "user 9 is not listed in u.user"),
    ("u.data", "1\t7\t5\t1\n", 1, "item 7 is not listed in u.item"),
    ("u.data", b"1\t1\t5\t1\n1\t1\xff\t5\t1\n", 2, "undecodable bytes"),
    ("u.user", "1|24|M|technician|85711\n1|30|F|other|1\n", 2, "user 1 is listed again"),
    ("u.user", "1|old|M|technician|85711\n", 1, "age 'old' is not a non-negative integer"),
    ("u.item", "1|T|1995||u|" + "|".join("0" * 19) + "\n", 1,
     "release date '1995' is not like '01-Jan-1995'"),
    ("u.item", "1|T|01-Jan-1995||u|" + "|".join("0" * 18 + "2") + "\n", 1,
     "genre flag 'Western' is '2'"),
    ("u.item", "1|T|01-Jan-1995||u|" + "|".join("0" * 18) + "\n", 1, "expected 24"),
])
def test_movielens_rejects(tmp_path, file, content, line, message):
    folder = ml_folder(tmp_path / "ml")
    write(folder / file, content)
    assert_line_error(lambda: ds.load_movielens_100k(folder), folder / file, line, message)


def test_movielens_rejects_empty_and_missing_files(tmp_path):
    folder = ml_folder(tmp_path / "ml")
    write(folder / "u.data", "\n")
    with pytest.raises(DataError, match="u.data: the file is empty"):
        ds.load_movielens_100k(folder)
    (folder / "u.user").unlink()
    with pytest.raises(FileNotFoundError, match="u.user"):
        ds.load_movielens_100k(folder)


def test_movielens_align_names_the_u_data_line(tmp_path):
    """align's errors name the file line (they said "interaction k" for MovieLens)."""
    d = ds.load_movielens_100k(ml_folder(tmp_path / "ml", data="\n" + ML_DATA))
    with pytest.raises(DataError, match=r"u.data: 1 interaction has ids unknown to the model, "
                                        r"the first is user 3 \(line 3\)"):
        d.align([1, 2], [1, 2, 3, 4], source="u.data")


# ============================================================== download
def ml_zip(path, members=None):
    """A zip archive like GroupLens's, built from the tiny files above."""
    members = members or {"ml-100k/u.data": ML_DATA.encode(),
                          "ml-100k/u.user": ML_USERS.encode(),
                          "ml-100k/u.item": ML_ITEMS.encode("latin-1"),
                          "ml-100k/README": b"readme\n"}
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_downloads_verifies_caches(tmp_path, monkeypatch):
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    home = tmp_path / "cache"
    d = ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=digest)
    reference = ds.load_movielens_100k(ml_folder(tmp_path / "ref"))
    assert d.users.tolist() == reference.users.tolist()
    np.testing.assert_array_equal(d.item_features, reference.item_features)
    assert sorted(p.name for p in home.iterdir()) == ["ml-100k"]      # no leftovers
    assert (home / "ml-100k" / "README").exists()

    archive.unlink()                                                  # second call: cache
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda *a, **k: pytest.fail("downloaded again"))
    again = ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=digest)
    assert again.items.tolist() == d.items.tolist()

    # the default home, and the pinned release: this 4-rating copy is not the whole of it
    monkeypatch.setenv("MINIGRAPHREC_DATA", str(home))
    with pytest.raises(DataError, match=r"it holds 4 ratings of .* not MovieLens-100K's "
                       r"100,000, 943 and 1,682; .*ml-100k is the cached copy .*delete it"):
        ds.fetch_movielens_100k()


def test_fetch_refuses_checksum_mismatch_and_leaves_nothing(tmp_path):
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    home = tmp_path / "cache"
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(DataError, match=f"SHA-256 mismatch, expected {wrong}, got {digest}"):
        ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=wrong)
    assert not home.exists()                # the folder the call made is gone too
    home.mkdir()                            # one that was there stays, empty
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=wrong)
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("members, message", [
    ({"ml-100k/u.data": ML_DATA.encode(), "ml-100k/u.user": ML_USERS.encode()},
     "the archive has no ml-100k/u.item"),
    ({"ml-100k/u.data": ML_DATA.encode(), "ml-100k/u.user": ML_USERS.encode(),
      "ml-100k/u.item": ML_ITEMS.encode("latin-1"), "../evil": b"x"}, "unsafe path"),
    ({"ml-100k/u.data": b"1\tx\t5\t1\n", "ml-100k/u.user": ML_USERS.encode(),
      "ml-100k/u.item": ML_ITEMS.encode("latin-1")}, "item id 'x'"),
])
def test_fetch_refuses_bad_archives_and_leaves_nothing(tmp_path, members, message):
    archive, digest = ml_zip(tmp_path / "a.zip", members)
    home = tmp_path / "cache"
    with pytest.raises(DataError, match=message):
        ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=digest)
    assert not home.exists()


def test_fetch_not_a_zip_and_unreachable_url(tmp_path):
    blob = write(tmp_path / "x.zip", b"not a zip")
    home = tmp_path / "cache"
    with pytest.raises(DataError, match="not a valid zip"):
        ds.fetch_movielens_100k(home, url=blob.as_uri(),
                                sha256=hashlib.sha256(b"not a zip").hexdigest())
    with pytest.raises(OSError, match="could not download"):
        ds.fetch_movielens_100k(home, url=(tmp_path / "none.zip").as_uri())
    assert not home.exists()


def test_pinned_checksum_is_well_formed():
    assert ds.ML100K_URL == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert len(ds.ML100K_SHA256) == 64 and int(ds.ML100K_SHA256, 16) >= 0


# ============================================================= synthetic
def test_synthetic_is_deterministic_and_well_formed():
    a, b = ds.synthetic(random_state=3), ds.synthetic(random_state=3)
    for name in ("users", "items", "timestamps"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.user_features, b.user_features)
    c = ds.synthetic(random_state=4)
    assert len(c) != len(a) or not np.array_equal(c.items, a.items)

    d = ds.synthetic()
    assert (d.n_users, d.n_items) == (1000, 1500) and d.weights is None
    counts = np.bincount(d.users, minlength=d.n_users)
    assert counts.min() >= 5 and abs(counts.mean() - 20) < 0.5
    assert d.to_csr().nnz == len(d)                          # no repeated pairs
    assert np.all(np.diff(d.users) >= 0)                     # sorted by user, then time
    same_user = np.diff(d.users) == 0
    assert np.all(np.diff(d.timestamps)[same_user] >= 0)
    assert d.timestamps.min() >= 1_577_836_800 and d.timestamps.max() < 1_577_836_800 + 180 * 86400
    assert np.all(d.timestamps == np.round(d.timestamps))
    for X in (d.user_features, d.item_features):
        assert X.shape[1] == 10 and np.all(X.sum(axis=1) == 1)
    assert d.user_feature_names == [f"community={k}" for k in range(10)]


def test_synthetic_features_are_noisy_community_labels():
    d, truth = ds.synthetic(n_users=4000, n_items=4000, feature_noise=0.3, return_truth=True)
    p = 1 - 0.3 + 0.3 / 10                                   # P(observed label is right)
    for X, c in ((d.user_features, truth.user_community),
                 (d.item_features, truth.item_community)):
        right = np.mean(X.argmax(axis=1) == c)
        assert abs(right - p) < 4 * np.sqrt(p * (1 - p) / len(c))
    assert np.all(np.bincount(truth.user_community) == 400)   # balanced communities


def test_synthetic_sampler_matches_generating_probabilities():
    # one draw per user: the item frequencies of a community follow P exactly
    n = 40000
    d, truth = ds.synthetic(n_users=n, n_items=12, n_communities=3, mean_interactions=1,
                            min_interactions=1, p_in=0.7, random_state=9, return_truth=True)
    P = truth.probabilities()
    assert P.shape == (n, 12)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    for c in range(3):
        mask = truth.user_community[d.users] == c
        freq = np.bincount(d.items[mask], minlength=12) / mask.sum()
        p = P[truth.user_community == c][0]
        assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / mask.sum()) + 1e-12)


def test_synthetic_probabilities_hand_computed():
    truth = ds.SyntheticTruth(user_community=np.array([0, 1]), item_community=np.array([0, 0, 1]),
                              item_weight=np.array([1.0, 0.5, 1.0]), p_in=0.8)
    W = 2.5
    expected = [[0.8 * 1 / 1.5 + 0.2 * 1 / W, 0.8 * 0.5 / 1.5 + 0.2 * 0.5 / W, 0.2 * 1 / W],
                [0.2 * 1 / W, 0.2 * 0.5 / W, 0.8 + 0.2 * 1 / W]]
    np.testing.assert_allclose(truth.probabilities(), expected, rtol=1e-14)
    np.testing.assert_allclose(truth.probabilities([1]), expected[1:], rtol=1e-14)


def test_synthetic_ratings():
    d, truth = ds.synthetic(ratings=True, return_truth=True)
    assert set(np.unique(d.weights)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    inside = truth.item_community[d.items] == truth.user_community[d.users]
    assert d.weights[inside].mean() - d.weights[~inside].mean() > 1.0


@pytest.mark.parametrize("kwargs", [dict(n_items=5, n_communities=10), dict(n_communities=0),
                                    dict(min_interactions=0), dict(min_interactions=30),
                                    dict(p_in=1.0), dict(p_in=-0.1), dict(feature_noise=1.5),
                                    dict(popularity_exponent=-1)])
def test_synthetic_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        ds.synthetic(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_users=20.0), DataError, "n_users must be an integer >= 1, got 20.0"),
    (dict(n_items=np.array(30)), DataError, "n_items must be an integer"),
    (dict(min_interactions=5.0), DataError, "min_interactions must be an integer"),
    (dict(min_interactions=30), DataError, "mean_interactions must be >= min_interactions"),
    (dict(mean_interactions=float("nan")), DataError, "mean_interactions must be a finite"),
    (dict(p_in="0.5"), TypeError, "p_in must be a real number, got str"),
    (dict(p_in=1.0), DataError, "p_in must be below 1"),
    (dict(popularity_exponent=float("nan")), DataError, "popularity_exponent must be a finite"),
    (dict(popularity_exponent=float("inf")), DataError, "popularity_exponent must be a finite"),
    (dict(feature_noise=1.5), DataError, r"feature_noise must be a probability in \[0, 1\]"),
    (dict(ratings="no"), DataError, "ratings must be True or False"),
    (dict(n_items=5, n_communities=10), DataError, "n_items must be >= n_communities")])
def test_synthetic_names_the_bad_parameter(kwargs, error, message):
    with pytest.raises(error, match=message):
        ds.synthetic(**kwargs)


@pytest.mark.parametrize("exponent", [11.0, 50.0, 1e300])
def test_synthetic_refuses_draws_that_would_not_end(exponent):
    """Beyond each community's top items a large Zipf exponent leaves (next to) nothing:
    the redraws for a user's distinct items would run for hours or forever; the check
    comes before any draw."""
    with pytest.raises(DataError, match="needs 32 distinct items, but the items left .* "
                                        "lower popularity_exponent, or mean_interactions"):
        ds.synthetic(popularity_exponent=exponent)
    with pytest.raises(DataError, match=r"needs 6 distinct items, .* probability 0 per draw "
                                        r"\(3 of 30 items can be drawn at all\)"):  # the tops
        ds.synthetic(n_users=20, n_items=30, n_communities=3, mean_interactions=6,
                     min_interactions=6, popularity_exponent=exponent * 100)


def test_synthetic_large_exponent_still_runs_when_reachable():
    """A large exponent whose rare items are still reachable passes: many redraws, each
    user's items distinct."""
    d = ds.synthetic(n_users=6, n_items=150, n_communities=2, mean_interactions=8,
                     popularity_exponent=6.0, random_state=0)
    assert np.array_equal(np.bincount(d.users), np.bincount(d.users, minlength=6))
    assert len(set(zip(d.users.tolist(), d.items.tolist()))) == d.n_interactions


def holdout_80_20(data, seed):
    """Per user, round(0.2 n_u) random interactions go to test."""
    rng = np.random.default_rng(seed)
    order = np.argsort(data.users, kind="stable")
    starts = np.searchsorted(data.users[order], np.arange(data.n_users + 1))
    test = np.zeros(len(data), dtype=bool)
    for u in range(data.n_users):
        rows = order[starts[u]:starts[u + 1]]
        test[rng.permutation(rows)[:int(round(0.2 * rows.size))]] = True
    return data.subset(~test), data.subset(test)


def recall_at_k(S, train, test, k=20):
    """LightGCN protocol: full ranking, train items excluded, hits / |test|."""
    S = np.array(S, dtype=np.float64)                              # (n_users, n_items)
    R_train, R_test = train.to_csr(), test.to_csr()
    S[R_train.nonzero()] = -np.inf
    top = np.argpartition(-S, k, axis=1)[:, :k]                    # (n_users, k), any order
    hits = np.take_along_axis(R_test.toarray(), top, axis=1).sum(axis=1)
    n_test = np.diff(R_test.indptr)
    return float(np.mean(hits[n_test > 0] / n_test[n_test > 0]))


def test_synthetic_oracle_beats_popularity_as_documented():
    data, truth = ds.synthetic(return_truth=True)
    train, test = holdout_80_20(data, seed=0)
    oracle = recall_at_k(truth.probabilities(), train, test)
    counts = np.bincount(train.items, minlength=data.n_items).astype(float)
    # ties in popularity broken by a tiny item-id term, as a stable sort would
    popularity = recall_at_k(np.tile(counts - 1e-9 * np.arange(data.n_items),
                                     (data.n_users, 1)), train, test)
    assert abs(oracle - 0.455) < 0.01, oracle                      # the docstring's numbers
    assert abs(popularity - 0.176) < 0.01, popularity
    assert oracle > popularity + 0.2


# ===================================================== the tutorials' data
def assert_same_interactions(a, b):
    """Every field of two ``Interactions`` is equal (arrays to the bit, None to None)."""
    assert (a.n_users, a.n_items) == (b.n_users, b.n_items)
    for name in ("users", "items", "weights", "timestamps", "user_ids", "item_ids",
                 "user_features", "item_features", "item_labels"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.user_feature_names == b.user_feature_names
    assert a.item_feature_names == b.item_feature_names


def test_example_is_synthetic_without_a_folder(monkeypatch):
    monkeypatch.delenv("MINIGRAPHREC_ML100K", raising=False)
    data, name = ds.example(n_users=60, n_items=90, random_state=4)
    assert name == "synthetic data"
    assert_same_interactions(data, ds.synthetic(n_users=60, n_items=90, random_state=4))
    monkeypatch.setenv("MINIGRAPHREC_ML100K", "")                  # empty: as if unset
    data, name, truth = ds.example(n_users=60, n_items=90, random_state=4, ratings=True,
                                   return_truth=True)
    reference, reference_truth = ds.synthetic(n_users=60, n_items=90, random_state=4,
                                              ratings=True, return_truth=True)
    assert_same_interactions(data, reference)
    assert data.weights is not None and truth.p_in == reference_truth.p_in
    for field in ("user_community", "item_community", "item_weight"):
        np.testing.assert_array_equal(getattr(truth, field), getattr(reference_truth, field))
    # an explicit empty folder wins over the environment: synthetic again
    monkeypatch.setenv("MINIGRAPHREC_ML100K", "/no/such/ml-100k")
    assert_same_interactions(ds.example(60, 90, random_state=4, ml100k="")[0],
                             ds.synthetic(n_users=60, n_items=90, random_state=4))


def test_example_reads_movielens_from_the_folder_or_the_environment(tmp_path, monkeypatch):
    folder = ml_folder(tmp_path / "ml-100k")
    reference = ds.load_movielens_100k(folder)
    monkeypatch.delenv("MINIGRAPHREC_ML100K", raising=False)
    data, name = ds.example(ml100k=folder)
    assert name == "MovieLens-100K"
    assert_same_interactions(data, reference)
    monkeypatch.setenv("MINIGRAPHREC_ML100K", str(folder))
    data, name, truth = ds.example(n_users=60, n_items=90, ratings=True, return_truth=True)
    assert (name, truth) == ("MovieLens-100K", None)            # sizes unused, no generator
    assert_same_interactions(data, reference)


def test_example_names_a_missing_folder(tmp_path, monkeypatch):
    missing = tmp_path / "no-ml-100k"
    monkeypatch.delenv("MINIGRAPHREC_ML100K", raising=False)
    with pytest.raises(FileNotFoundError, match="no such folder: .*no-ml-100k$"):
        ds.example(ml100k=missing)
    monkeypatch.setenv("MINIGRAPHREC_ML100K", str(missing))
    with pytest.raises(FileNotFoundError,
                       match=r"no such folder: .*no-ml-100k \(named by \$MINIGRAPHREC_ML100K\)"):
        ds.example()
    write(ml_folder(tmp_path / "bad") / "u.data", "1\t1\tfive\t1\n")   # the loader's DataError
    with pytest.raises(DataError, match="u.data, line 1: rating 'five' is not a number"):
        ds.example(ml100k=tmp_path / "bad")


# =========================================================== article toy
def test_article_toy_graph_and_features():
    d = ds.article_toy()
    assert (d.n_users, d.n_items, len(d)) == (10, 10, 34)
    assert d.user_ids.tolist() == [f"u{k}" for k in range(1, 11)]
    assert d.item_ids.tolist() == [f"v{k}" for k in range(1, 11)]
    R = d.to_csr().toarray()
    assert R[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]           # u1: v1 v2 v3
    np.testing.assert_array_equal(R[5:, 5:], R[:5, :5])               # B mirrors A
    assert R[:5, 5:].sum() == 1 and R[4, 5] == 1                      # bridge u5-v6
    assert R[5:, :5].sum() == 1 and R[9, 0] == 1                      # bridge u10-v1
    assert d.user_features.shape == d.item_features.shape == (10, 10)
    assert d.user_feature_names == [f"x{k}" for k in range(1, 11)]
    np.testing.assert_array_equal(d.user_features, ds.article_toy().user_features)
    assert not np.allclose(d.item_features, ds.article_toy(random_state=1).item_features)


def test_article_toy_u1_best_recommendation_is_v5():
    R = ds.article_toy().to_csr().toarray()                           # (10, 10)
    # item-based co-occurrence scores
    C = R.T @ R
    np.fill_diagonal(C, 0)
    S = np.where(R > 0, -np.inf, R @ C)
    assert S[0].argmax() == 4 and np.sort(S[0])[-1] - np.sort(S[0])[-2] >= 2   # v5, clearly
    assert S[5].argmax() == 9                                                 # u6 -> v10
    # LightGCN-style propagation from one-hot embeddings, K = 3
    A = np.block([[np.zeros((10, 10)), R], [R.T, np.zeros((10, 10))]])
    deg = A.sum(axis=1)
    A_hat = A / np.sqrt(np.outer(deg, deg))
    E = np.mean([np.linalg.matrix_power(A_hat, k) for k in range(4)], axis=0)
    S = np.where(R > 0, -np.inf, E[:10] @ E[10:].T)
    top2 = np.sort(S[0])[-2:]
    assert S[0].argmax() == 4 and top2[1] > 1.2 * top2[0]


# ============================================================ session logs
CIKM = ("sessionId;userId;itemId;timeframe;eventdate\n"
        "1;NA;81766;526309;2016-05-09\n"
        "1;NA;31331;1031018;2016-05-09\n"
        "2;7;32118;243569;2016-05-10\n"
        "1;NA;9;5;2016-05-09\n"
        "2;NA;81766;10;2016-05-11\n"
        "3;8;9;0;2016-05-10\n"
        "3;8;31331;0;2016-05-09\n"           # same timeframe: the earlier date first
        "3;8;7;0;2016-05-09\n")              # same timeframe and date: file order


def day(date):
    return float(np.datetime64(date, "s").astype(np.int64))


def raw_sessions(s):
    return [[str(s.item_ids[i]) for i in seq] for seq in s]


def test_load_sessions_cikm_hand_computed(tmp_path):
    s = ds.load_sessions(write(tmp_path / "views.csv", CIKM))
    assert raw_sessions(s) == [["9", "81766", "31331"], ["81766", "32118"],
                               ["31331", "7", "9"]]
    assert s.item_ids.tolist() == ["81766", "31331", "32118", "9", "7"]  # first appearance
    assert s.items.tolist() == [3, 0, 1, 0, 2, 1, 4, 3]
    assert s.session_ids.tolist() == ["1", "2", "3"]
    assert s.users.tolist() == [-1, 0, 1] and s.user_ids.tolist() == ["7", "8"]
    assert s.end_time.tolist() == [day("2016-05-09"), day("2016-05-11"), day("2016-05-10")]
    assert day("2016-05-09") == 1462752000.0
    # the SR-GNN scripts' header spelling, CRLF line ends, an extra column
    other = ("session_id;user_id;item_id;timeframe;eventdate;x\r\n"
             + "".join(line + ";0\r\n" for line in CIKM.splitlines()[1:]))
    t = ds.load_sessions(write(tmp_path / "v2.csv", other))
    assert raw_sessions(t) == raw_sessions(s) and t.end_time.tolist() == s.end_time.tolist()


@pytest.mark.parametrize("content, line, message", [
    ("sessionId;userId;itemId;timeframe\n1;NA;5;0\n", 1, "must name the column 'eventdate'"),
    ("session;userId;itemId;timeframe;eventdate\n1;NA;5;0;2016-01-01\n", 1,
     "must name the column 'sessionid'"),
    ("1;NA;5;0;2016-01-01;\n", 2, "expected 5 fields, got 6"),
    ("1;NA;5;0\n", 2, "expected 5 fields, got 4"),
    ("1;NA;;0;2016-01-01\n", 2, "empty item id"),
    ("1;NA;5;x;2016-01-01\n", 2, "timeframe 'x' is not a number"),
    ("1;NA;5;nan;2016-01-01\n", 2, "timeframe 'nan' is not finite"),
    ("1;NA;5;0;2016-01-01\n1;NA;5;1.5;2016-01-01\n", 3, "timeframe '1.5' is not a non-negative"),
    ("1;NA;5;-3;2016-01-01\n", 2, "timeframe '-3' is not a non-negative"),
    # the token as written, not as :g formats it (526310, 1.23457e+06)
    ("1;NA;5;0;2016-01-01\n1;NA;5;526309.5;2016-01-01\n", 3,
     "timeframe '526309.5' is not a non-negative integer"),
    ('1;NA;5;0;2016-01-01\n1;NA;5;"1234567.5";2016-01-01\n', 3,
     "timeframe '1234567.5' is not a non-negative integer"),
    # 2**53 and beyond: not every such integer is a float64, so none is read
    ("1;NA;5;1e300;2016-01-01\n", 2, "timeframe '1e300' is 2**53 or more"),
    ("1;NA;5;9007199254740992;2016-01-01\n", 2, "timeframe '9007199254740992' is 2**53 or more"),
    ("1;NA;5;0;2016-01-01\n1;NA;5;0;2016-13-01\n", 3, "eventdate '2016-13-01' is not a date"),
    ("1;NA;5;0;09.05.2016\n", 2, "eventdate '09.05.2016' is not a date"),
    ("1;3;5;0;2016-01-01\n1;NA;6;0;2016-01-01\n1;4;6;0;2016-01-01\n", 4,
     "session '1' has user '4' here but user '3' at line 2"),
    (b"1;NA;5;0;2016-01-01\n1;NA;\xe9;0;2016-01-01\n", 3, "undecodable bytes"),
])
def test_load_sessions_cikm_rejects(tmp_path, content, line, message):
    header = "sessionId;userId;itemId;timeframe;eventdate\n"
    if line == 1:
        header = ""
    body = content if isinstance(content, bytes) else content.encode()
    f = write(tmp_path / "bad.csv", header.encode() + body)
    assert_line_error(lambda: ds.load_sessions(f), f, line, message)


@pytest.mark.parametrize("fmt, content", [
    ("cikm", ""), ("cikm", "sessionId;userId;itemId;timeframe;eventdate\n"),
    ("triples", ""), ("triples", "# c\n\n"), ("triples", "session item time\n")])
def test_load_sessions_rejects_files_without_events(tmp_path, fmt, content):
    f = write(tmp_path / "e.txt", content)
    with pytest.raises(DataError) as info:
        ds.load_sessions(f, format=fmt)
    assert str(f) in str(info.value)
    assert "empty" in str(info.value) or "no events" in str(info.value) \
        or "no interactions" in str(info.value)


@pytest.mark.parametrize("content", [
    "s1 a 10\ns2 b 5\ns1 c 3\ns1 a 12\n",
    "# comment\nsession,item,time\ns1,a,10\ns2,b,5\n\ns1,c,3\n\ns1,a,12\n",
    "s1\ta\t10\ns2\tb\t5\ns1\tc\t3\ns1\ta\t12\n"])
def test_load_sessions_triples(tmp_path, content):
    s = ds.load_sessions(write(tmp_path / "t.txt", content), format="triples")
    assert raw_sessions(s) == [["c", "a", "a"], ["b"]]          # ordered by time
    assert s.session_ids.tolist() == ["s1", "s2"] and s.item_ids.tolist() == ["a", "b", "c"]
    assert s.end_time.tolist() == [12.0, 5.0] and s.users.tolist() == [-1, -1]


@pytest.mark.parametrize("content, line, message", [
    ("s1 a 10\ns1 b nan\n", 2, "timestamp 'nan' is not finite"),
    ("s1 a 10\ns1 b 2016-01-01\n", 2,
     "timestamp '2016-01-01' is an ISO-8601 date-time, but the file's first"),
    ("s1 a 10\ns1 b\n", 2, "expected 3 fields, got 2"),
    ("s1 a\n", 1, "expected 3 fields (session item timestamp), got 2"),
])
def test_load_sessions_triples_rejects(tmp_path, content, line, message):
    f = write(tmp_path / "bad.txt", content)
    assert_line_error(lambda: ds.load_sessions(f, format="triples"), f, line, message)


def test_load_sessions_bad_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        ds.load_sessions(tmp_path / "nope.csv")
    f = write(tmp_path / "t.txt", "s a 1\n")
    with pytest.raises(ValueError, match="format"):
        ds.load_sessions(f, format="yoochoose")
    with pytest.raises(ValueError, match="triples"):
        ds.load_sessions(f, format="cikm", sep=" ")


def test_loaded_sessions_split_by_time(tmp_path):
    from minigraphrec.sequences import split_sessions_by_time
    s = ds.load_sessions(write(tmp_path / "views.csv", CIKM))
    # end times: session 1 on 05-09, 2 on 05-11, 3 on 05-10; two days back from 05-11
    train, test, stats = split_sessions_by_time(s, test_span=2 * 86400)
    assert stats["cutoff"] == day("2016-05-09")
    assert train.session_ids.tolist() == ["1"] and test.session_ids.tolist() == ["3"]
    # session 2 lost 32118 (unknown) and dropped as a single item; session 3 lost 7
    assert stats["n_test_events_removed"] == 2 and stats["n_test_sessions_dropped"] == 1
    assert train.item_ids.tolist() == ["81766", "31331", "9"] and stats["n_items"] == 3
    assert raw_sessions(train) == [["9", "81766", "31331"]]
    assert raw_sessions(test) == [["31331", "9"]] and test.users.tolist() == [1]


# =================================================== synthetic sessions
def test_synthetic_sessions_deterministic_and_well_formed():
    a = ds.synthetic_sessions(n_sessions=300, random_state=5)
    b = ds.synthetic_sessions(n_sessions=300, random_state=5)
    for name in ("indptr", "items", "end_time"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = ds.synthetic_sessions(n_sessions=300, random_state=6)
    assert not np.array_equal(a.items[:50], c.items[:50])
    s, truth = ds.synthetic_sessions(return_truth=True)
    assert len(s) == 5000 and s.n_items == 1000 and s.lengths.min() >= 2
    assert abs(s.lengths.mean() - 6) < 0.1
    assert np.all(s.users == -1) and s.session_ids is None
    assert s.item_ids.tolist() == list(range(1000))
    assert np.all(truth.successor != np.arange(1000))
    assert np.bincount(truth.item_community).tolist() == [50] * 20
    t0, span = 1_577_836_800, 180 * 86400                     # start in [t0, t0 + span)
    gaps = s.end_time - t0                                      # >= the n - 1 gaps of 10+ s
    assert np.all(gaps >= 10 * (s.lengths - 1))
    assert np.all(gaps < span + 299 * (s.lengths - 1))


def test_synthetic_sessions_extremes_follow_the_rules():
    # no drift, no jump: every session stays in its first item's community
    s, truth = ds.synthetic_sessions(n_sessions=200, drift=0.0, p_transition=0.0,
                                     return_truth=True)
    c = truth.item_community
    assert all(len(set(c[seq].tolist())) == 1 for seq in s)
    # always jump: every next item is the successor of the previous one
    s, truth = ds.synthetic_sessions(n_sessions=200, p_transition=1.0, return_truth=True)
    assert all(np.array_equal(seq[1:], truth.successor[seq[:-1]]) for seq in s)
    # full drift, no jump: consecutive ordinary draws are one community step apart
    s, truth = ds.synthetic_sessions(n_sessions=200, drift=1.0, p_transition=0.0,
                                     return_truth=True)
    c = truth.item_community
    steps = np.concatenate([(c[seq[1:]] - c[seq[:-1]]) % 20 for seq in s])
    assert set(steps.tolist()) == {1, 19}


def test_synthetic_sessions_oracle_matches_the_sampler():
    from minigraphrec.sequences import Sequences
    # tiny catalogue: the empirical P(x2 | x1) over many sessions of two items is the
    # oracle's distribution after the one-item prefix [x1]
    s, truth = ds.synthetic_sessions(n_sessions=40000, n_items=6, n_communities=3,
                                     drift=0.4, p_transition=0.3, mean_length=2,
                                     min_length=2, random_state=1, return_truth=True)
    first, second = s.items[s.indptr[:-1]], s.items[s.indptr[:-1] + 1]
    P = truth.next_item_probabilities(Sequences.from_lists([[i] for i in range(6)],
                                                           n_items=6))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    for i in range(6):
        n = int((first == i).sum())
        emp = np.bincount(second[first == i], minlength=6) / n
        assert np.all(np.abs(emp - P[i]) < 4 * np.sqrt(P[i] * (1 - P[i]) / n) + 1e-9), i
    # a longer prefix: the hidden community is filtered, rows still sum to 1
    P2 = truth.next_item_probabilities(Sequences.from_lists([[0, 3, 1], [5]], n_items=6))
    np.testing.assert_allclose(P2.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_synthetic_sessions_oracle_restarts_on_an_impossible_step():
    from minigraphrec.sequences import Sequences
    _, truth = ds.synthetic_sessions(n_sessions=10, n_items=40, n_communities=4,
                                     drift=0.0, p_transition=0.0, return_truth=True)
    c = truth.item_community
    a = int(np.flatnonzero(c == 0)[0])
    b = int(np.flatnonzero(c == 2)[0])                         # unreachable without drift
    P = truth.next_item_probabilities(Sequences.from_lists([[a, b], [b]], n_items=40))
    np.testing.assert_allclose(P[0], P[1], rtol=0, atol=1e-15)   # as if b started it


@pytest.mark.parametrize("kwargs", [dict(n_items=1), dict(n_communities=30, n_items=20),
                                    dict(drift=1.5), dict(p_transition=-0.1),
                                    dict(min_length=0), dict(mean_length=1, min_length=2),
                                    dict(popularity_exponent=-1)])
def test_synthetic_sessions_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        ds.synthetic_sessions(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_sessions=10.0), DataError, "n_sessions must be an integer >= 1, got 10.0"),
    (dict(n_items=1), DataError, "n_items must be an integer >= 2, got 1"),
    (dict(n_communities=30, n_items=20), DataError, "n_items must be >= n_communities"),
    (dict(drift="0.1"), TypeError, "drift must be a real number, got str"),
    (dict(p_transition=1.5), DataError, r"p_transition must be a probability in \[0, 1\]"),
    (dict(min_length=2.0), DataError, "min_length must be an integer >= 1, got 2.0"),
    (dict(mean_length=1, min_length=2), DataError, "mean_length must be >= min_length"),
    (dict(popularity_exponent=float("nan")), DataError, "popularity_exponent must be a finite"),
    (dict(return_truth=1), DataError, "return_truth must be True or False")])
def test_synthetic_sessions_names_the_bad_parameter(kwargs, error, message):
    with pytest.raises(error, match=message):
        ds.synthetic_sessions(**kwargs)


def test_synthetic_sessions_measured_as_documented():
    import minigraphrec as mgr
    from minigraphrec.sequences import evaluate_next_item, prefix_examples, \
        split_sessions_by_time
    s, truth = ds.synthetic_sessions(random_state=0, return_truth=True)
    train, test, _ = split_sessions_by_time(s, test_fraction=0.2, compact_items=False)
    prefixes, targets = prefix_examples(test)

    class Oracle:
        def score_sessions(self, sessions):
            return truth.next_item_probabilities(sessions)

    got = {name: evaluate_next_item(model, prefixes, targets, k=20)
           for name, model in [("oracle", Oracle()),
                               ("markov", mgr.MarkovChain().fit(train)),
                               ("pop", mgr.SessionPopularity().fit(train))]}
    assert got["oracle"]["n_examples"] == 4907
    for name, hit, mrr in [("oracle", 0.785, 0.430), ("markov", 0.594, 0.364),
                           ("pop", 0.154, 0.029)]:
        assert round(got[name]["hit@20"], 3) == hit and round(got[name]["mrr@20"], 3) == mrr


@pytest.mark.parametrize("make", ["synthetic", "article_toy", "synthetic_sessions"])
def test_generators_check_random_state_as_models_do(make):
    """random_state=True silently meant seed 1, and a legacy RandomState was taken."""
    gen = getattr(ds, make)
    with pytest.raises(TypeError, match="random_state must be None, an integer >= 0"):
        gen(random_state=True)
    with pytest.raises(TypeError, match="random_state must be None, an integer >= 0"):
        gen(random_state=np.random.RandomState(0))
    with pytest.raises(DataError, match="random_state must be None, an integer >= 0"):
        gen(random_state=-1)


# ============================================================== download: what is in the way
@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if anything is fetched (no test touches the network either way)."""
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda *a, **k: pytest.fail("downloaded anyway"))


def test_fetch_refuses_a_file_where_ml_100k_goes_before_downloading(tmp_path, no_download):
    """It downloaded, checked and unpacked the archive, then failed naming its temporary
    folder: "NotADirectoryError: ... '.ml-100k.w8loayvz.unpack/ml-100k' -> '.../ml-100k'"."""
    home = tmp_path / "cache"
    home.mkdir()
    (home / "ml-100k").write_text("oops")
    with pytest.raises(FileExistsError, match=f"cannot fetch MovieLens-100K into "
                                              f"{home / 'ml-100k'}: something that is not a "
                                              f"folder is there; move it away"):
        ds.fetch_movielens_100k(home)
    assert [p.name for p in home.iterdir()] == ["ml-100k"]


@pytest.mark.parametrize("where", ["cache", "cache/sub"])
def test_fetch_refuses_a_file_where_the_data_folder_goes(tmp_path, no_download, where):
    """A file as data_home said only "FileExistsError: [Errno 17] File exists: '...'"."""
    (tmp_path / "cache").write_text("a file")
    home = tmp_path / where
    with pytest.raises(NotADirectoryError, match=f"cannot fetch MovieLens-100K into {home}: "
                                                 f"{tmp_path / 'cache'} is a file, not a "
                                                 f"folder; give another data folder "
                                                 f"\\(data_home, else \\$MINIGRAPHREC_DATA"):
        ds.fetch_movielens_100k(home)
    assert (tmp_path / "cache").read_text() == "a file"


def test_fetch_removes_the_folders_it_made_when_it_fails(tmp_path):
    home = tmp_path / "a" / "b" / "cache"
    with pytest.raises(OSError, match="could not download"):
        ds.fetch_movielens_100k(home, url=(tmp_path / "none.zip").as_uri())
    assert list(tmp_path.iterdir()) == []


def test_fetch_messages_name_the_cache_not_temporary_files(tmp_path, monkeypatch):
    """A read-only data home said "Permission denied: '/ro/.ml-100k.l1b1zvuw.zip.part'"."""
    import errno
    from minigraphrec.datasets import download
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    home = tmp_path / "cache"
    home.mkdir()

    def mkstemp(dir, prefix, suffix):
        raise PermissionError(errno.EACCES, "Permission denied",
                              os.path.join(dir, f"{prefix}l1b1zvuw{suffix}"))
    with monkeypatch.context() as m:
        m.setattr(download.tempfile, "mkstemp", mkstemp)
        with pytest.raises(PermissionError) as info:
            ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=digest)
    assert str(info.value) == (f"[Errno 13] cannot download MovieLens-100K into {home} "
                               f"(data_home, else $MINIGRAPHREC_DATA, else "
                               f"~/.cache/minigraphrec): Permission denied")

    fdopen = os.fdopen

    class Full:                                   # the download file, on a full disk
        def __init__(self, fd, mode):
            self.f = fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass
    with monkeypatch.context() as m:
        m.setattr(download.os, "fdopen", Full)
        with pytest.raises(OSError, match=f"^\\[Errno 28\\] cannot save the download in "
                                          f"{home}: No space left on device$"):
            ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=digest)

    def rename(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link", src, dst)
    with monkeypatch.context() as m:
        m.setattr(download.os, "rename", rename)
        with pytest.raises(OSError) as info:
            ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=digest)
    assert str(info.value) == (f"[Errno 18] cannot put MovieLens-100K in place as "
                               f"{home / 'ml-100k'}: Invalid cross-device link")
    assert list(home.iterdir()) == []


def test_fetch_names_a_bad_member_by_its_place_in_the_archive(tmp_path):
    members = {"ml-100k/u.data": b"1\tx\t5\t1\n", "ml-100k/u.user": ML_USERS.encode(),
               "ml-100k/u.item": ML_ITEMS.encode("latin-1")}
    archive, digest = ml_zip(tmp_path / "a.zip", members)
    with pytest.raises(DataError) as info:
        ds.fetch_movielens_100k(tmp_path / "cache", url=archive.as_uri(), sha256=digest)
    assert str(info.value).startswith(f"{archive.as_uri()}: ml-100k{os.sep}u.data")
    assert ".unpack" not in str(info.value)
