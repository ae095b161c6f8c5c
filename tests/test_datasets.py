"""Loaders (strictness, error locations, fast/slow path parity), embedded data, download."""
import hashlib
import logging
import urllib.request
import zipfile

import numpy as np
import pytest

import minigraphrec.datasets as ds
from minigraphrec.errors import DataError


def write(path, content):
    """Write str (UTF-8) or bytes to ``path`` and return it."""
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def pairs(data):
    """The interactions as a list of (raw user, raw item) pairs, in order."""
    return [(str(data.user_ids[u]), str(data.item_ids[i]))
            for u, i in zip(data.users, data.items)]


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
    with pytest.raises(DataError) as info:
        ds.load_lightgcn(f)
    assert f"{f}, line {line}: " in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("content, message", [("", "the file is empty"),
                                              ("0\n1\n", "no interactions")])
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
    ("alice,book\nbob,pen\n", None, [("alice", "book"), ("bob", "pen")]),   # ambiguous: data
    ("alice,book\nbob,pen\n", True, [("bob", "pen")]),
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
    content = "# a comment\r\n\r\n  1   2  5 \r\n\t# another\r\n3 4 1\r\n\r\n"
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
    ("1,2,3,4\n1,2,3,2020-01-01\n", 2, "timestamp '2020-01-01' is not a number"),
    ("1,2\n,2\n", 2, "empty user id"),
    ("1,2\n1, \n", 2, "empty item id"),
    ("1\t2\t3\n1\t2\t\n", 2, "rating '' is not a number"),
    (b"1,2\n# fine\n1,\xe9t\xe9\n", 3, "undecodable bytes"),
    ("user,item\n1,2\n3,4,5\n", 3, "expected 2 fields, got 3"),
])
def test_triples_rejects(tmp_path, content, line, message):
    f = write(tmp_path / "bad.csv", content)
    with pytest.raises(DataError) as info:
        ds.load_triples(f)
    assert f"{f}, line {line}: " in str(info.value)
    assert message in str(info.value)


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
    """A file with odd ids, and (extras) comments and blank lines in the middle."""
    lines, expected = [], []
    pad = " " if sep in (",", "::") else ""              # blanks around fields are stripped
    for k in range(n):
        u, i = f"u#{rng.integers(50)}", f"i:{rng.integers(80)}"    # '#' inside is data
        r, t = rng.integers(1, 6) / 2, 1e9 + rng.integers(10**6)
        lines.append(f"{u}{sep}{pad}{i}{pad}{sep}{r}{sep}{t:.0f}")
        expected.append((u, i, r, t))
        if extras and k % 700 == 350:          # comments that look like data, too
            lines += ["# comment", "", "   ", f"#u0{sep}i:0{sep}1.0{sep}5",
                      f"  #u1{sep}i:1{sep}2.0{sep}6"]
    write(path, eol.join(lines) + eol)
    return expected, len(lines)


@pytest.mark.parametrize("sep, eol", [(",", "\n"), ("::", "\r\n"), (" ", "\r\n"),
                                     ("\t", "\n")])
def test_triples_fast_path_equals_line_by_line(tmp_path, monkeypatch, sep, eol):
    fast = ds._TableReader._chunk_fast
    taken = []                                  # per chunk: did the fast path parse it?

    def spy(self, chunk, start):
        out = fast(self, chunk, start)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(ds._TableReader, "_chunk_fast", spy)
    rng = np.random.default_rng(5)
    plain, _ = random_triples_file(tmp_path / "plain.txt", rng, sep=sep, extras=False, eol=eol)
    mixed, _ = random_triples_file(tmp_path / "mixed.txt", rng, sep=sep, eol=eol)
    results = []
    for name, expected, chunk, paths in [("plain.txt", plain, 1 << 22, {True}),
                                         ("mixed.txt", mixed, 1 << 22, {False}),
                                         ("mixed.txt", mixed, 200, {True, False})]:
        monkeypatch.setattr(ds, "_CHUNK_BYTES", chunk)
        taken.clear()
        results.append((ds.load_triples(tmp_path / name), expected))
        assert set(taken) == paths
    monkeypatch.setattr(ds._TableReader, "_chunk_fast", lambda *a: None)
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
    monkeypatch.setattr(ds._TableReader, "_chunk_fast", lambda *a: None)
    assert pairs(ds.load_triples(f, sep=r"\s+")) == pairs(d)
    assert pairs(ds.load_triples(g)) == [("x", "y")] + pairs(d)[1:]


def test_triples_lines_longer_than_a_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "_CHUNK_BYTES", 5)
    f = write(tmp_path / "t.csv", "a_long_user,item_one,1\nb,item_two,2\nc,i,3")   # no final \n
    d = ds.load_triples(f)
    assert pairs(d) == [("a_long_user", "item_one"), ("b", "item_two"), ("c", "i")]
    assert d.weights.tolist() == [1, 2, 3]
    write(f, "a_long_user,item_one,1\nb,item_two,2\nc,i,x")
    with pytest.raises(DataError, match="t.csv, line 3: rating 'x' is not a number"):
        ds.load_triples(f)


@pytest.mark.parametrize("chunk", [1 << 22, 300])
def test_triples_error_line_numbers_in_late_chunks(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(ds, "_CHUNK_BYTES", chunk)
    rng = np.random.default_rng(6)
    random_triples_file(tmp_path / "t.csv", rng, extras=False)   # fast path must notice
    lines = (tmp_path / "t.csv").read_text().split("\n")
    bad = lines.copy()
    bad[1500] = bad[1500].rsplit(",", 2)[0] + ",nan,5"         # line 1501
    write(tmp_path / "bad.csv", "\n".join(bad))
    with pytest.raises(DataError, match=r"bad.csv, line 1501: rating 'nan' is not finite"):
        ds.load_triples(tmp_path / "bad.csv")
    test = write(tmp_path / "test.csv", "\n".join(lines[:1800] + ["nobody,i:1,1,1"]))
    with pytest.raises(DataError, match=rf"test.csv, line 1801: user 'nobody' is unknown"):
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
    with pytest.raises(DataError) as info:
        ds.load_recbole(f)
    assert f"{f}, line {line}: " in str(info.value)
    assert message in str(info.value)


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
    d = ds.load_movielens_100k(ml_folder(tmp_path / "ml", data=ML_DATA + "\r\n\n"))
    assert d.user_ids.tolist() == [1, 2, 3] and d.item_ids.tolist() == [1, 2, 3, 4]
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


@pytest.mark.parametrize("file, content, line, message", [
    ("u.data", "1\t1\t5\t1\n1\tx\t5\t1\n", 2, "item id 'x' is not a non-negative integer"),
    ("u.data", "-1\t1\t5\t1\n", 1, "user id '-1' is not a non-negative integer"),
    ("u.data", "1\t99999999999999999999\t5\t1\n", 1, "overflows int64"),
    ("u.data", "1\t1\t5\n", 1, "expected 4 '\\t'-separated fields, got 3"),
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
    with pytest.raises(DataError) as info:
        ds.load_movielens_100k(folder)
    assert f"{folder / file}, line {line}: " in str(info.value)
    assert message in str(info.value)


def test_movielens_rejects_empty_and_missing_files(tmp_path):
    folder = ml_folder(tmp_path / "ml")
    write(folder / "u.data", "\n")
    with pytest.raises(DataError, match="u.data: the file is empty"):
        ds.load_movielens_100k(folder)
    (folder / "u.user").unlink()
    with pytest.raises(FileNotFoundError, match="u.user"):
        ds.load_movielens_100k(folder)


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

    monkeypatch.setenv("MINIGRAPHREC_DATA", str(home))                # default home
    assert len(ds.fetch_movielens_100k()) == len(d)


def test_fetch_refuses_checksum_mismatch_and_leaves_nothing(tmp_path):
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    home = tmp_path / "cache"
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(DataError, match=f"SHA-256 mismatch, expected {wrong}, got {digest}"):
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
    assert list(home.iterdir()) == []


def test_fetch_not_a_zip_and_unreachable_url(tmp_path):
    blob = write(tmp_path / "x.zip", b"not a zip")
    home = tmp_path / "cache"
    with pytest.raises(DataError, match="not a valid zip"):
        ds.fetch_movielens_100k(home, url=blob.as_uri(),
                                sha256=hashlib.sha256(b"not a zip").hexdigest())
    with pytest.raises(OSError, match="could not download"):
        ds.fetch_movielens_100k(home, url=(tmp_path / "none.zip").as_uri())
    assert list(home.iterdir()) == []


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
