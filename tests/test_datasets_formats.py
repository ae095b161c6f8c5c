"""Delimited files as public data ship them: header guessing, column roles by name or
``columns=``, CSV quoting, comment lines, gzip, line ends, LightGCN id bounds, and the
command-line flags that pass these options to the loaders."""
import gzip
import logging
import re
from pathlib import Path

import numpy as np
import pytest

import minigraphrec as mgr
import minigraphrec.datasets as ds
from minigraphrec.cli import _guess_format, main
from minigraphrec.errors import DataError
from conftest import write, assert_line_error, pairs


# ============================================================ header guess
@pytest.mark.parametrize("content, expected", [
    ("user_id,business_id\nu0094,b0149\nu0102,b0140\n",          # names: a header
     [("u0094", "b0149"), ("u0102", "b0140")]),
    ("A00007XYZ,0000000022\nA00075XYZ,0000000002\n",             # a number: data
     [("A00007XYZ", "0000000022"), ("A00075XYZ", "0000000002")]),
    ("u,i,r\nann,pen,5\n", [("ann", "pen")]),                    # word over a rating: header
    ("ann,pen,5\nbob,ink,4\n", [("ann", "pen"), ("bob", "ink")]),
])
def test_header_guessed_only_when_certain(tmp_path, content, expected):
    assert pairs(ds.load_triples(write(tmp_path / "t.csv", content))) == expected


def test_a_numeric_line_taken_as_a_header_is_warned_about(tmp_path, caplog):
    f = write(tmp_path / "ms.csv", "17,402,4,880000123000\n23,55,2,880000456000\n")
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        d = ds.load_triples(f, header=True, time_unit="ms")
    assert len(d) == 1 and "line 1 is skipped as a header (header=True), but every field " \
        "of it is a number" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        ds.load_triples(write(tmp_path / "h.csv", "user,item,rating\n1,2,3\n"), header=True)
    assert not caplog.records


def test_two_columns_of_word_ids_ask_for_header(tmp_path):
    f = write(tmp_path / "pairs.csv", "A2SUAM1J3GNN3B,B00005N7P0\nA1RSDE90N6RSZF,0000013714\n")
    assert_line_error(lambda: ds.load_triples(f), f, 1,
                      "cannot tell whether this line is a header or data")
    with pytest.raises(DataError, match="pass header=True if it is a header, header=False"):
        ds.load_triples(f)
    assert pairs(ds.load_triples(f, header=False)) == [("A2SUAM1J3GNN3B", "B00005N7P0"),
                                                      ("A1RSDE90N6RSZF", "0000013714")]
    assert pairs(ds.load_triples(f, header=True)) == [("A1RSDE90N6RSZF", "0000013714")]
    with pytest.raises(ValueError, match="header must be"):
        ds.load_triples(f, header="yes")


@pytest.mark.parametrize("content, message", [
    ("A1,B1,\nA2,B2,4\nA3,B1,5\n", "rating '' is not a number"),
    ("A1,B1,NA,x\nA2,B2,4,100\n", "rating 'NA' is not a number"),
    ("A1,B1,5,null\nA2,B2,4,100\n", "timestamp 'null' is not a number"),
])
def test_a_first_line_with_a_missing_value_is_data(tmp_path, content, message):
    f = write(tmp_path / "t.csv", content)
    assert_line_error(lambda: ds.load_triples(f), f, 1, message)


def test_session_triples_share_the_rules(tmp_path):
    iso = write(tmp_path / "iso.csv", "s1,10,2020-09-13T12:26:37Z\ns1,11,2020-09-13T12:27:37Z\n")
    s = ds.load_sessions(iso, format="triples")                  # ISO-8601: Unix seconds
    assert s.end_time.tolist() == [1600000057.0]                 # 1600000000 is 12:26:40Z
    mixed = write(tmp_path / "m.csv", "s1,10,1600000000\ns1,11,2020-09-13T12:27:37Z\n")
    assert_line_error(lambda: ds.load_sessions(mixed, format="triples"), mixed, 2,
                      "timestamp '2020-09-13T12:27:37Z' is an ISO-8601 date-time, but")
    words = write(tmp_path / "w.txt", "a b c\nd e f\n")
    assert_line_error(lambda: ds.load_sessions(words, format="triples"), words, 1,
                      "cannot tell whether this line is a header")
    named = write(tmp_path / "n.csv", "item_id,session_id,timestamp\na,s1,10\nb,s1,5\n")
    s = ds.load_sessions(named, format="triples")                # roles by name
    assert s.session_ids.tolist() == ["s1"] and s.item_ids.tolist() == ["a", "b"]
    assert [[str(s.item_ids[i]) for i in seq] for seq in s] == [["b", "a"]]


def test_cikm_default_suggests_triples(tmp_path):
    f = write(tmp_path / "sessions.csv", "session_id,item_id,timestamp\ns0,33,1600000297\n")
    assert_line_error(lambda: ds.load_sessions(f), f, 1, "needs format='triples'")
    assert len(ds.load_sessions(f, format="triples")) == 1


# ================================================================ columns
def test_header_names_assign_the_roles(tmp_path):
    d = ds.load_triples(write(tmp_path / "i.csv",
                              "user_id,item_id,timestamp\n256,338,987293735\n192,149,9\n"))
    assert d.weights is None and d.timestamps.tolist() == [987293735.0, 9.0]
    d = ds.load_triples(write(tmp_path / "a.csv", "asin,reviewerID,overall\nB01,A9,4.0\n"))
    assert pairs(d) == [("A9", "B01")] and d.weights.tolist() == [4.0]


@pytest.mark.parametrize("header, message", [
    ("user_id,item_id,clicks_total", "header field 3 'clicks_total' is not a column name"),
    ("user,item,rating,score", "header fields 3 and 4 ('rating', 'score') both name the rating"),
    ("user,rating", "names no item column"),
])
def test_header_names_must_cover_every_column(tmp_path, header, message):
    n = header.count(",") + 1
    f = write(tmp_path / "t.csv", header + "\n" + ",".join(["1"] * n) + "\n")
    assert_line_error(lambda: ds.load_triples(f, header=True), f, 1, message)
    with pytest.raises(DataError, match="with columns="):
        ds.load_triples(f, header=True)


def test_columns_give_the_roles(tmp_path):
    amazon = "B000000338,A54O4T3DOZAMX8,1.0,987293735\n0000000149,AX118DU9R8Q7P6,4.0,5\n"
    f = write(tmp_path / "ratings.csv", amazon)
    assert pairs(ds.load_triples(f))[0] == ("B000000338", "A54O4T3DOZAMX8")   # positional
    d = ds.load_triples(f, columns=("item", "user", "rating", "timestamp"))
    assert pairs(d) == [("A54O4T3DOZAMX8", "B000000338"), ("AX118DU9R8Q7P6", "0000000149")]
    assert d.weights.tolist() == [1.0, 4.0] and d.timestamps.tolist() == [987293735.0, 5.0]
    d = ds.load_triples(f, columns="item,user,-,timestamp")
    assert d.weights is None and d.timestamps.tolist() == [987293735.0, 5.0]
    wide = write(tmp_path / "lastfm.tsv", "u1\t2009-05-04T23:08:57Z\ta1\tArtist, 1\tt1\tT, 1\n")
    d = ds.load_triples(wide, columns=["user", None, "-", None, "item", None],  # 6 fields
                        header=False)                 # no numeric column: it cannot tell
    assert pairs(d) == [("u1", "t1")] and d.weights is None and d.timestamps is None
    # a header is still recognised and skipped, but the roles are the given ones
    g = write(tmp_path / "h.csv", "user,item,rating\n1,2,5\n")
    assert pairs(ds.load_triples(g, columns=("item", "user", "rating"))) == [("2", "1")]
    assert_line_error(lambda: ds.load_triples(g, columns=("user", "item")), g, 1,
                      "expected 2 fields (one per entry of columns=), got 3")


@pytest.mark.parametrize("columns, message", [
    (("user", "itm"), "entry 2 'itm' is not one of"),
    ("user,item,user", "'user' is given twice"),
    (("user", "-", "rating"), "must give the item column"),
])
def test_bad_columns_are_value_errors(tmp_path, columns, message):
    f = write(tmp_path / "t.csv", "1,2,3\n")
    with pytest.raises(ValueError, match=message):
        ds.load_triples(f, columns=columns)


def test_five_fields_without_columns_name_the_option(tmp_path):
    f = write(tmp_path / "t.csv", "1,2,3,4,5\n")
    assert_line_error(lambda: ds.load_triples(f), f, 1, "with columns=")


# ================================================================ quoting
def test_quoted_fields_lose_their_quotes(tmp_path):
    f = write(tmp_path / "q.csv", '"user","item","rating","timestamp"\n'
                                  '"A54O4T3DOZAMX8","B000000338",1.0,987293735\n'
                                  '"A2","Item, with comma",5,123\n'
                                  ' "say ""hi""" , " padded ",2,7\n'
                                  '12" vinyl,b,3,8\n')
    d = ds.load_triples(f)
    assert pairs(d) == [("A54O4T3DOZAMX8", "B000000338"), ("A2", "Item, with comma"),
                        ('say "hi"', " padded "), ('12" vinyl', "b")]
    assert d.weights.tolist() == [1.0, 5.0, 2.0, 3.0]


@pytest.mark.parametrize("sep", ["\t", " ", "::", ";"])
def test_quoted_fields_with_other_separators(tmp_path, sep):
    f = write(tmp_path / "q.txt", f'"a{sep}b"{sep}i{sep}5\nc{sep}"d"{sep}4\n')
    d = ds.load_triples(f)
    assert pairs(d) == [(f"a{sep}b", "i"), ("c", "d")] and d.weights.tolist() == [5, 4]


def test_book_crossing_layout_is_read_without_options(tmp_path):
    """Book-Crossing's ratings: ';'-separated, every field quoted, "Book-Rating" named."""
    f = write(tmp_path / "BX-Book-Ratings.csv", '"User-ID";"ISBN";"Book-Rating"\n'
                                                '"276725";"034545104X";"0"\n'
                                                '"276726";"0155061224";"5"\n')
    d = ds.load_triples(f, encoding="latin-1")
    assert pairs(d) == [("276725", "034545104X"), ("276726", "0155061224")]
    assert d.weights.tolist() == [0.0, 5.0] and d.timestamps is None


def test_separator_detection_looks_outside_quotes(tmp_path):
    f = write(tmp_path / "q.csv", '"a::b",c,5\nd,e,4\n')
    assert pairs(ds.load_triples(f)) == [("a::b", "c"), ("d", "e")]


@pytest.mark.parametrize("content, line, message", [
    ('a,b,5\n"c,d,4\n', 2, "unbalanced double quote: field 1 opens a quote"),
    ('a,b,5\nc,"d"",4\n', 2, "unbalanced double quote: field 2"),
    ('a,b,5\n"c""",d,4\n"e" x,f,3\n', 3, "field 1 goes on after its closing quote"),
    ('a,b,5\n"c"x,d,4\n', 2, "field 1 goes on after its closing quote"),
    ("a,b,5\nc,d,e,4\n", 2, "expected 3 fields, got 4 in 'c,d,e,4' (a field that holds ','"
                            " must be quoted"),
])
def test_bad_quoting_names_the_line(tmp_path, content, line, message):
    f = write(tmp_path / "q.csv", content)
    assert_line_error(lambda: ds.load_triples(f), f, line, message)


def test_recbole_fields_may_be_quoted(tmp_path):
    f = write(tmp_path / "q.inter", 'user_id:token\titem_id:token\n"a b"\t"x\ty"\n')
    assert pairs(ds.load_recbole(f)) == [("a b", "x\ty")]


# =============================================================== comments
def test_hash_ids_below_the_first_line_are_data(tmp_path):
    f = write(tmp_path / "h.csv", "user,item,rating\n#u1,i1,5\nu2,i2,4\n#u3,i3,3\n")
    assert pairs(ds.load_triples(f)) == [("#u1", "i1"), ("u2", "i2"), ("#u3", "i3")]
    g = write(tmp_path / "g.csv", "# export\n  # of a shop\n\n1,2,5\n#3,4,1\n")
    assert pairs(ds.load_triples(g)) == [("1", "2"), ("#3", "4")]
    h = write(tmp_path / "bad.csv", "1,2,5\n# a note\n")
    assert_line_error(lambda: ds.load_triples(h), h, 2,
                      "a later line starting with '#' is data")


def test_skipped_comment_lines_are_reported(tmp_path, caplog):
    f = write(tmp_path / "c.csv", "# export of 2024\n#u1,i1,5\nu2,i2,4\n")
    with caplog.at_level(logging.INFO, logger="minigraphrec.datasets"):
        assert pairs(ds.load_triples(f)) == [("u2", "i2")]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "line(s) 2 split into 3 fields" in warnings[0].getMessage()
    assert "pass comments=None" in warnings[0].getMessage()
    g = write(tmp_path / "g.csv", "#u1,i1,5\nu2,i2,4\n")
    assert pairs(ds.load_triples(g, comments=None)) == [("#u1", "i1"), ("u2", "i2")]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="minigraphrec.datasets"):
        ds.load_triples(write(tmp_path / "p.csv", "# notes, one line\n1,2,5\n"))
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "skipped 1 comment line(s) starting with '#' above line 2" in caplog.text


@pytest.mark.parametrize("chunk", [1 << 22, 16])
def test_leading_block_skipped_on_both_paths(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(ds._parse, "_CHUNK_BYTES", chunk)
    users = [f"{'#' if k % 9 == 4 else ''}u{k % 7}" for k in range(60)]   # '#u4': data
    body = "".join(f"{u},i{k % 5},{k % 5 + 1},{k}\n" for k, u in enumerate(users))
    f = write(tmp_path / "t.csv", "# a,b,c\n\n# d\nuser,item,rating,time\n" + body)
    fast = ds.load_triples(f)
    monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", lambda *a: None)
    slow = ds.load_triples(f)
    expected = [(u, f"i{k % 5}") for k, u in enumerate(users)]
    assert pairs(fast) == pairs(slow) == expected
    assert fast.timestamps.tolist() == slow.timestamps.tolist() == list(range(60))


# ========================================================== missing ids
MISSING = "u1,i1,5\nNA,i2,4\nu2,null,3\nu3,,2\nu1,i3,1\n"


def test_missing_ids_are_errors_unless_dropped_or_kept(tmp_path, caplog):
    f = write(tmp_path / "m.csv", MISSING)
    assert_line_error(lambda: ds.load_triples(f), f, 2,
                      "missing user id 'NA' in 'NA,i2,4' (on_missing='drop' drops such lines, "
                      "and on_missing='keep' reads 'NA' as an id)")
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        d = ds.load_triples(f, on_missing="drop")
    assert pairs(d) == [("u1", "i1"), ("u1", "i3")] and d.lines.tolist() == [1, 5]
    assert d.weights.tolist() == [5.0, 1.0]
    assert ("dropped 3 of 5 lines with a missing user or item id (on_missing='drop'): "
            "line(s) 2, 3, 4") in caplog.text
    assert_line_error(lambda: ds.load_triples(f, on_missing="keep"), f, 4,
                      "empty item id in 'u3,,2' (on_missing='drop' drops such lines)")
    kept = ds.load_triples(write(tmp_path / "k.csv", "Nil,None,5\nu1,?,4\n"),
                           on_missing="keep")
    assert pairs(kept) == [("Nil", "None"), ("u1", "?")]
    every = write(tmp_path / "e.csv", "NA,i1\nu1,nan\n")
    with pytest.raises(DataError, match=r"every data line \(2\) has a missing user or item "
                                        r"id: nothing is left after on_missing='drop'"):
        ds.load_triples(every, on_missing="drop")
    with pytest.raises(ValueError, match="on_missing must be one of"):
        ds.load_triples(f, on_missing=True)


def test_missing_ids_dropped_alike_on_both_paths_and_in_the_test_file(tmp_path, monkeypatch):
    """A chunk with a missing id leaves the fast path; the result is the line reader's,
    wherever the chunks are cut."""
    rows = [(f"u{k % 7}" if k % 11 != 3 else "N/A", f"i{k % 5}" if k % 13 != 5 else "")
            for k in range(80)]
    f = write(tmp_path / "t.csv", "".join(f"{u},{i},{k % 5 + 1}\n"
                                          for k, (u, i) in enumerate(rows)))
    test = write(tmp_path / "test.csv", "u1,i1,1\nu2,NULL,1\n")
    kept = [k for k, (u, i) in enumerate(rows) if u != "N/A" and i]
    results = []
    for chunk in (1 << 22, 64):
        monkeypatch.setattr(ds._parse, "_CHUNK_BYTES", chunk)
        results.append(ds.load_triples(f, test_path=test, on_missing="drop"))
    monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", lambda *a: None)
    results.append(ds.load_triples(f, test_path=test, on_missing="drop"))
    for train, te in results:
        assert pairs(train) == [rows[k] for k in kept]
        assert train.lines.tolist() == [k + 1 for k in kept]
        assert train.weights.tolist() == [k % 5 + 1 for k in kept]
        assert pairs(te) == [("u1", "i1")] and te.lines.tolist() == [1]


def test_the_fast_paths_mark_shortcut_holds_for_every_mark():
    """A chunk is searched for marks only if it holds an 'n', 'N' or '?': every mark must."""
    for mark in ds._parse._MISSING - {""}:
        for form in (mark, mark.upper(), mark.title()):
            assert ds._parse._may_hold_missing_mark(form), form
    assert not ds._parse._may_hold_missing_mark("1,2,5.0,1e9\n3,4,1,2\n")


def test_cli_on_missing(tmp_path, capsys, caplog):
    f = write(tmp_path / "m.csv", MISSING)
    code, out = _train([f], capsys)
    assert code == 2 and "--on-missing drop drops such lines" in out.err
    assert "--on-missing keep reads 'NA' as an id" in out.err
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        code, out = _train([f, "--on-missing", "drop", "--test-size", "0"], capsys)
    assert code == 0 and "2 interactions" in out.err            # progress: stderr
    assert "dropped 3 of 5 lines with a missing user or item id" in caplog.text


# ============================================================ compression
@pytest.mark.parametrize("name, load, content", [
    ("r.csv", ds.load_triples, "userId,movieId,rating\n1,10,4.5\n2,10,3\n"),
    ("r.csv.gz", ds.load_triples, "userId,movieId,rating\n1,10,4.5\n2,10,3\n"),
    ("train.txt.gz", ds.load_lightgcn, "0 1 2\n1 0\n"),
    ("d.inter.gz", ds.load_recbole, "user_id:token\titem_id:token\na\tx\nb\ty\n"),
    ("s.csv.gz", lambda f: ds.load_sessions(f, format="triples"), "s1,a,1\ns1,b,2\n"),
])
def test_gzip_files_read_as_the_plain_ones(tmp_path, name, load, content):
    plain = load(write(tmp_path / "plain", content))
    packed = load(write(tmp_path / name, gzip.compress(content.encode())))
    assert plain.items.tolist() == packed.items.tolist()
    if isinstance(plain, mgr.Interactions):
        assert pairs(plain) == pairs(packed)


def test_damaged_gzip_names_the_file(tmp_path):
    data = gzip.compress(("".join(f"{k},{k + 1},3\n" for k in range(2000))).encode())
    f = write(tmp_path / "r.csv.gz", data[:len(data) // 2])
    with pytest.raises(DataError, match=r"r\.csv\.gz: the gzip-compressed data cannot be read"):
        ds.load_triples(f, header=False)


def test_cli_guesses_the_format_under_gz():
    assert _guess_format("ratings.csv.gz") == "triples"
    assert _guess_format("train.TXT.gz") == "lightgcn"
    assert _guess_format("ml.inter.gz") == "recbole"


# ============================================================ line ends
def test_cr_only_line_ends_are_named(tmp_path):
    f = write(tmp_path / "mac.csv", "1,10,5,100\r2,11,4,101\r3,12,3,102\r")
    assert_line_error(lambda: ds.load_triples(f), f, 1, "\\r alone (classic Mac OS)")
    g = write(tmp_path / "mac.txt", "0 1 2\r1 2\r")                 # was one user line
    assert_line_error(lambda: ds.load_lightgcn(g), g, 1, "carriage return")
    h = write(tmp_path / "mixed.csv", "1,2,5\r\n3,4,1\r5,6,2\n7,8,3\n")
    assert_line_error(lambda: ds.load_triples(h), h, 2, "carriage return")


# ========================================================== LightGCN ids
def test_lightgcn_ids_far_beyond_the_distinct_ids(tmp_path):
    f = write(tmp_path / "train.txt", "0 2 3\n1 3 4\n1000000000000 3 4 5\n")
    assert_line_error(lambda: ds.load_lightgcn(f), f, 3,
                      "user id 1000000000000 is far beyond the 3 distinct user ids")
    g = write(tmp_path / "items.txt", "0 1 2\n1 5 100000\n")
    assert_line_error(lambda: ds.load_lightgcn(g), g, 2,
                      "item id 100000 is far beyond the 4 distinct item ids")
    assert ds.load_lightgcn(write(tmp_path / "ok.txt", "0 99999\n")).n_items == 100_000
    dense = " ".join(map(str, range(1000)))                          # 1001 distinct items
    d = ds.load_lightgcn(write(tmp_path / "ok2.txt", f"0 {dense} 100000\n"))
    assert d.n_items == 100_001


# =========================================================== command line
def _train(args, capsys):
    code = main(["train", *map(str, args), "--model", "popularity", "-q"])
    return code, capsys.readouterr()


def test_cli_header_flags(tmp_path, capsys):
    f = write(tmp_path / "pairs.csv", "A2SUAM1J3GNN3B,B00005N7P0\nA1RSDE90N6RSZF,0000013714\n"
                                      "A2SUAM1J3GNN3B,0000013714\n")
    code, out = _train([f], capsys)
    assert code == 2 and "pass --header if it is a header, --no-header if it is data" in out.err
    assert "header=" not in out.err
    model = tmp_path / "m.npz"
    code, out = _train([f, "--no-header", "-o", model], capsys)
    assert code == 0
    assert sorted(mgr.load(model).user_ids_.tolist()) == ["A1RSDE90N6RSZF", "A2SUAM1J3GNN3B"]
    assert _train([f, "--header", "-o", model], capsys)[0] == 0
    assert mgr.load(model).item_ids_.tolist() == ["0000013714"]


def test_cli_columns_encoding_comments(tmp_path, capsys):
    f = write(tmp_path / "amazon.csv", "B01,A9,1.0,5\nB02,A9,4.0,6\nB01,A8,3.0,7\n")
    model = tmp_path / "m.npz"
    code, _ = _train([f, "--columns", "item,user,rating,timestamp", "-o", model], capsys)
    assert code == 0 and sorted(mgr.load(model).user_ids_.tolist()) == ["A8", "A9"]
    code, out = _train([f, "--columns", "item,usr,rating,timestamp"], capsys)
    assert code == 2 and "--columns: entry 2 'usr' is not one of" in out.err
    code, out = _train([f, "--columns", "item,user"], capsys)
    assert code == 2 and "(one per entry of --columns), got 4" in out.err

    latin = write(tmp_path / "latin.csv",
                  "user,item\nJos\xe9,Caf\xe9\nAna,P\xe3o\n".encode("latin-1"))
    assert _train([latin], capsys)[0] == 2
    assert _train([latin, "--encoding", "latin-1", "-o", model], capsys)[0] == 0
    assert mgr.load(model).user_ids_.tolist() == ["José", "Ana"]

    hashed = write(tmp_path / "hash.csv", "#u1,i1,5\nu2,i2,4\n")
    assert _train([hashed, "--comments", "", "-o", model], capsys)[0] == 0
    assert mgr.load(model).user_ids_.tolist() == ["#u1", "u2"]


def _run(argv, capsys):
    """``main(argv)``'s exit status and stderr."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_loader_flags_refused_where_they_do_not_apply(tmp_path, capsys):
    f = write(tmp_path / "train.txt", "0 1 2\n1 0\n")
    code, _, err = _run(["train", str(f), "--no-header", "--model", "popularity", "-q"], capsys)
    assert code == 2 and re.search("--header/--no-header applies to triples files only, and .*train.txt is read as lightgcn", err)
    code, _, err = _run(["train", str(f), "--encoding", "latin-1", "--model", "popularity", "-q"], capsys)
    assert code == 2 and re.search("--encoding applies to triples and recbole files", err)


def test_cli_evaluate_passes_loader_options(tmp_path, capsys):
    train = write(tmp_path / "train.csv", "user,item\nA1,B1\nA1,B2\nA2,B1\nA2,B3\n")
    model = tmp_path / "m.npz"
    assert _train([train, "-o", model], capsys)[0] == 0
    test = write(tmp_path / "test.csv", "A1,B3\nA2,B2\n")
    assert main(["evaluate", str(model), str(test)]) == 2
    assert "--no-header" in capsys.readouterr().err
    assert main(["evaluate", str(model), str(test), "--no-header"]) == 0


# ================================================================= docs
def test_recognised_names_are_documented():
    """The names listed in load_triples' docstring and the data-formats page are the ones
    the loader recognises."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "data_formats.md").read_text()
    for role, names in ds._parse._COLUMN_NAMES.items():
        row = re.search(rf"^\| {role}\b.*$", page, re.M).group()
        assert re.findall(r"`(\w+)`", row) == list(names), role
        if role not in ("session", "event"):          # the roles of session logs only
            doc = " ".join(ds.load_triples.__doc__.split())
            listed = re.search(rf"{role}: ((?:``\w+``(?:, )?)+)", doc).group(1)
            assert re.findall(r"``(\w+)``", listed) == list(names), role


def test_loaders_record_the_file_line_of_each_interaction(tmp_path):
    """``lines``: the 1-based line of each interaction, after headers, comments and blank
    lines, and after test interactions dropped for unknown ids."""
    train = tmp_path / "train.csv"
    train.write_text("# exported\nuser,item,rating\nu1,i1,5\n\nu2,i2,4\nu1,i2,3\n")
    test = tmp_path / "test.csv"
    test.write_text("user,item,rating\nu9,i1,1\nu2,i1,2\n")
    data = mgr.datasets.load_triples(train)
    assert data.lines.tolist() == [3, 5, 6]
    tr, te = mgr.datasets.load_triples(train, test_path=test, on_unknown="drop")
    assert tr.lines.tolist() == [3, 5, 6] and te.lines.tolist() == [3]
    adj = tmp_path / "train.txt"
    adj.write_text("0 1 2\n\n1 0\n")
    adj_test = tmp_path / "test.txt"
    adj_test.write_text("0 5\n1 2 1\n")
    tr, te = mgr.datasets.load_lightgcn(adj, adj_test, on_unknown="drop")
    assert tr.lines.tolist() == [1, 1, 3] and te.lines.tolist() == [2, 2]


def _read_both_ways(path, monkeypatch, **kw):
    """``(fast, reference)``: what load_triples gives (or the message it raises) with the
    whole-chunk fast path and with the line reader alone."""
    out = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(ds._parse._TableReader, "_chunk_fast", lambda *a: None)
            try:
                d = ds.load_triples(path, header=False, **kw)
                out.append((pairs(d), d.weights.tolist(), d.lines.tolist()))
            except DataError as e:
                out.append(str(e))
    return out


def test_quoted_chunks_read_alike_on_both_paths_fuzzed(tmp_path, monkeypatch):
    """Random lines of quoted, unquoted, empty, doubled, blank-edged and stray-quote fields
    (the cases the counting shortcuts must tell apart): the fast path gives the line
    reader's result or error, every time; and the every-field-quoted layout is taken."""
    rng = np.random.default_rng(11)
    pieces = ['"a1"', '"b 2"', "c3", '""', '" d"', '"e "', '"f,g"', '"h""i"', 'j"k', '"l',
              'm"', ' "n"', '"o" ', '"p";"q"', "r\ts"]
    rating = ['"5"', "4", '"3.5"', '" 2"', '"x"', '""']
    for trial in range(300):
        lines = []
        for _ in range(rng.integers(1, 5)):
            if rng.random() < 0.5:                     # mostly the export layout
                fields = [f'"u{rng.integers(3)}"', f'"i{rng.integers(3)}"', '"4"']
            else:
                fields = [pieces[rng.integers(len(pieces))] for _ in range(2)]
                fields.append(rating[rng.integers(len(rating))])
            lines.append(",".join(fields))
        text = "\n".join(lines) + ("\n" if rng.random() < 0.7 else "")
        if rng.random() < 0.1:
            text = text.replace("\n", "\r\n")
        f = write(tmp_path / f"f{trial}.csv", text)
        fast, ref = _read_both_ways(f, monkeypatch, columns="user,item,rating")
        assert fast == ref, text
    export = "".join(f'"u{k % 4}","i{k % 7}","{k % 5 + 1}"\n' for k in range(50))
    assert ds._parse._unquote_every_field(export[:-1], ",", 3) == export[:-1].replace('"', "")
    for odd in ('"a","\n"b"c"', '"a",\n"b","c"', '"a","b""c"', '" a","b","c"'):
        assert ds._parse._unquote_every_field(odd, ",", 3) is None, odd


@pytest.mark.parametrize("sep, eol", [(",", "\n"), ("\t", "\r\n"), (";", "\n")])
def test_simply_quoted_files_take_the_fast_path_with_the_same_result(tmp_path, monkeypatch,
                                                                      sep, eol):
    """Every field quoted (an Amazon export) is read by the whole-chunk fast path; a quoted
    separator, a "" escape or blanks around a quote send the chunk to the line reader; both
    give what the line reader gives."""
    rng = np.random.default_rng(3)
    rows = [(f"A{u:05d}", f"{i:010d}", float(rng.integers(1, 6)), 1.4e9 + k)
            for k, (u, i) in enumerate(zip(rng.integers(0, 50, 300), rng.integers(0, 80, 300)))]
    plain = eol.join(sep.join(f'"{x}"' if j < 2 else f'"{x:g}"' if j == 2 else f"{x:.0f}"
                              for j, x in enumerate(r)) for r in rows) + eol
    odd = plain.replace(f'"{rows[7][0]}"', f'"{rows[7][0]}{sep}x"', 1)        # sep in quotes
    odd = odd.replace(f'"{rows[9][1]}"', f' "{rows[9][1]}"', 1)                 # a blank first
    fast = ds._parse._TableReader._chunk_fast
    taken = []

    def spy(self, chunk, start):
        out = fast(self, chunk, start)
        taken.append(out is not None)
        return out

    for name, text, path in (("plain", plain, {True}), ("odd", odd, {False})):
        f = write(tmp_path / f"{name}.csv", text)
        monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", spy)
        taken.clear()
        got = ds.load_triples(f, sep=sep, header=False)
        assert set(taken) == path
        monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", lambda *a: None)
        ref = ds.load_triples(f, sep=sep, header=False)            # the line reader alone
        assert pairs(got) == pairs(ref)
        np.testing.assert_array_equal(got.weights, ref.weights)
        np.testing.assert_array_equal(got.timestamps, ref.timestamps)
    assert pairs(got)[7][0] == f"{rows[7][0]}{sep}x"


# ======================================================== separators (audit)
@pytest.mark.parametrize("content, sep, expected", [
    ("1;2;4,5\n1;3;3,0\n", ";", [("1", "2"), ("1", "3")]),       # was split at the commas
    ("u1\ti1\t2016-05-09T12:00:00,25\nu2\ti2\t2016-05-09T12:00:01,5\n", "\t",
     [("u1", "i1"), ("u2", "i2")]),                             # a fraction's comma
    ("u1\tArtist, The\nu2\tOther\n", "\t", [("u1", "Artist, The"), ("u2", "Other")]),  # uneven
])
def test_several_separators_are_told_apart_by_the_first_lines(tmp_path, content, sep,
                                                              expected):
    f = write(tmp_path / "t.csv", content)
    assert ds._parse._first_lines_and_sep(f, None, "#", "utf-8", "interactions")[1] == sep
    columns = ("user", "item", None)[:len(content.split("\n")[0].split(sep))]
    assert pairs(ds.load_triples(f, header=False, columns=columns)) == expected
    if sep == ";":
        assert_line_error(lambda: ds.load_triples(f), f, 1,
                          "rating '4,5' is not a number (a decimal comma? numbers are read "
                          "with a decimal point, as 4.5)")
    elif "T12" in content:
        d = ds.load_triples(f, header=False, columns="user,item,timestamp")
        assert d.timestamps.tolist() == [1462795200.25, 1462795201.5]


def test_a_separator_that_cannot_be_told_asks_for_sep(tmp_path):
    f = write(tmp_path / "t.csv", "a;4,5\nb;3,5\n")                 # 2 fields either way
    assert_line_error(lambda: ds.load_triples(f), f, 1,
                      "cannot tell the field separator: the line holds ',' and ';' outside "
                      "quotes, and ',' and ';' split each of the first 2 data line(s) into as "
                      "many fields (2 at ',', 2 at ';'); pass sep=',' or sep=';'")
    assert pairs(ds.load_triples(f, sep=";", header=False,
                                 columns=("user", "item"))) == [("a", "4,5"), ("b", "3,5")]
    g = write(tmp_path / "u.csv", "a;b,c\na;b;c,d,e\n")             # neither is even
    assert_line_error(lambda: ds.load_triples(g), g, 1, "none splits each of the first 2")
    # columns= gives the field count: the separator that gives it wins
    h = write(tmp_path / "h.csv", "a;b,c;d\ne;f,g;h\n")              # 3 at ';', 2 at ','
    assert pairs(ds.load_triples(h, columns="user,item", header=False)) == [("a;b", "c;d"),
                                                                          ("e;f", "g;h")]


def test_cli_sep_flag(tmp_path, capsys):
    f = write(tmp_path / "r.csv", "u1;i1,5\nu2;i2,5\n")
    code, out = _train([f], capsys)
    assert code == 2 and "pass --sep ',' or --sep ';'" in out.err and "sep=" not in out.err
    model = tmp_path / "m.npz"
    assert _train([f, "--sep", ";", "--no-header", "--columns", "user,item", "-o", model],
                  capsys)[0] == 0
    assert mgr.load(model).item_ids_.tolist() == ["i1,5", "i2,5"]
    t = write(tmp_path / "t.csv", "u1\ti1, x\nu2\ti2, y\n")
    assert _train([t, "--sep", "\\t", "--no-header", "-o", model], capsys)[0] == 0
    assert mgr.load(model).item_ids_.tolist() == ["i1, x", "i2, y"]


# ============================================ header guessed from one word (audit)
@pytest.mark.parametrize("content", ["u1,i1,-\nu2,i2,4\nu3,i3,5\n", "u1,i1,5 stars\nu2,i2,4\n",
                                     "u,i,r\nann,pen,5\n"])
def test_a_header_guessed_from_a_word_over_a_number_is_warned_about(tmp_path, caplog, content):
    f = write(tmp_path / "t.csv", content)
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        d = ds.load_triples(f)
    head = content.split("\n")[0]
    assert pairs(d)[0] == ("u2", "i2") or head == "u,i,r"
    assert f"line 1 ({head!r}) is skipped as a header, as its field 3" in caplog.text
    assert "if it is data, read it with header=False (--no-header)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        assert len(ds.load_triples(f, header=True)) == len(d)             # said: no warning
        ds.load_triples(write(tmp_path / "h.csv", "user,item,rating\n1,2,3\n"))  # names
    assert caplog.text == ""


# ================================================================ encoding (audit)
@pytest.mark.parametrize("encoding, message", [
    ("bogus", "encoding 'bogus' is not an encoding Python knows"),     # was a bare LookupError
    ("utf-16", "encoding 'utf-16' is not ASCII-compatible"),           # was a field count
    ("cp500", "encoding 'cp500' is not ASCII-compatible"),             # EBCDIC
    ("hex", "encoding 'hex' is not a text encoding"),
    (5, "encoding must be the name of a text encoding"),
])
def test_encodings_are_checked_before_reading(tmp_path, encoding, message):
    f = write(tmp_path / "t.csv", "a,b\n")
    inter = write(tmp_path / "t.inter", "user_id:token\titem_id:token\na\tb\n")
    for load in (lambda: ds.load_triples(f, encoding=encoding),
                 lambda: ds.load_sessions(f, "triples", encoding=encoding),
                 lambda: ds.load_sessions(f, encoding=encoding),
                 lambda: ds.load_recbole(inter, encoding=encoding)):
        with pytest.raises(ValueError, match=re.escape(message)):
            load()
    for fine in ("utf-8", "utf-8-sig", "latin-1", "cp1252", "ascii", "gbk", "shift_jis"):
        ds._parse._check_encoding(fine)


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_a_utf16_file_is_named_as_such(tmp_path, bom):
    text = "user,item\nu1,i1\n".encode("utf-16-le" if bom == b"\xff\xfe" else "utf-16-be")
    f = write(tmp_path / "t.csv", bom + text)
    for load in (ds.load_triples, lambda p: ds.load_triples(p, encoding="latin-1"),
                 ds.load_lightgcn, ds.load_recbole):
        assert_line_error(lambda: load(f), f, 1, "a UTF-16 byte-order mark: it looks like "
                                                 "UTF-16 text")
    g = write(tmp_path / "nobom.csv", text)                         # no mark: the NULs
    assert_line_error(lambda: ds.load_triples(g), g, 1, "if the file is UTF-16, convert it")


# ======================================================================= NUL (audit)
@pytest.mark.parametrize("content, line", [
    ("a\x00,1\na,2\n", 1),                      # was "user_ids holds 'a' twice", no line
    ("a,1\nb,2\x00\n", 2),
    ("a::1\nb\x00::2\n", 2),                    # the '::' fast path uses NUL of its own
])
def test_a_nul_character_is_an_error_at_its_line(tmp_path, content, line):
    f = write(tmp_path / "t.csv", content)
    assert_line_error(lambda: ds.load_triples(f, header=False), f, line,
                      "a NUL character (\\x00) at character")
    g = write(tmp_path / "train.txt", "0 1\x00\n")
    assert_line_error(lambda: ds.load_lightgcn(g), g, 1, "a NUL character")


# ================================================================= numbers (audit)
@pytest.mark.parametrize("token, why", [("1_000", "(digits are not grouped with '_')"),
                                        ("\u0665", "(only ASCII digits are read)"),
                                        ("\uff15", "(only ASCII digits are read)")])
@pytest.mark.parametrize("column", ["rating", "timestamp"])
def test_numbers_are_ascii_without_underscores(tmp_path, token, why, column, monkeypatch):
    row = f"u2,i2,{token},5\n" if column == "rating" else f"u2,i2,5,{token}\n"
    f = write(tmp_path / "t.csv", "u1,i1,4,3\n" + row)
    message = f"{column} {token!r} is not a number {why}"
    assert_line_error(lambda: ds.load_triples(f), f, 2, message)        # was 1000.0 / 5.0
    monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", lambda *a: None)
    assert_line_error(lambda: ds.load_triples(f), f, 2, message)        # the line reader
    s = write(tmp_path / "s.csv", f"s1,i1,3\ns1,i2,{token}\n")
    if column == "timestamp":
        assert_line_error(lambda: ds.load_sessions(s, "triples"), s, 2, message)


def test_iso_timestamps_take_ascii_digits_only(tmp_path):
    f = write(tmp_path / "t.csv", "u1,i1,1,2016-05-09\nu2,i2,1,\u0662016-05-09\n")
    assert_line_error(lambda: ds.load_triples(f), f, 2, "is not an ISO-8601 date-time")


# ================================================================= options (audit)
@pytest.mark.parametrize("kw, message", [
    (dict(comments=5), "comments must be a non-empty string"),        # was str.startswith's
    (dict(comments=""), "comments must be a non-empty string"),       # every line a comment
    (dict(columns=5), "columns must be a sequence of roles or a comma-separated string"),
])
def test_bad_comments_and_columns_name_the_option(tmp_path, kw, message):
    f = write(tmp_path / "t.csv", "a,b,1\n")
    for load in (ds.load_triples, lambda p, **k: ds.load_sessions(p, "triples", **k)):
        with pytest.raises(ValueError, match=message):
            load(f, **kw)


# =========================================================== RecBole options (audit)
def test_recbole_on_missing_and_quoting(tmp_path, caplog):
    f = write(tmp_path / "d.inter", "user_id:token\titem_id:token\tname:token_seq\n"
                                    "a\tx\t\"Weird Al\" Yankovic\nNA\ty\tz\nb\tz\tq\n")
    assert_line_error(lambda: ds.load_recbole(f), f, 2, "quoting=False")
    assert_line_error(lambda: ds.load_recbole(f, quoting=False), f, 3,
                      "on_missing='drop' drops such lines")
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        d = ds.load_recbole(f, quoting=False, on_missing="drop")
    assert pairs(d) == [("a", "x"), ("b", "z")] and d.lines.tolist() == [2, 4]
    assert "dropped 1 of 3 lines with a missing user or item id" in caplog.text
    d = ds.load_recbole(f, quoting=False, on_missing="keep")
    assert pairs(d)[1] == ("NA", "y")
    for kw, message in ((dict(on_missing="skip"), "on_missing must be one of"),
                        (dict(quoting="no"), "quoting must be True or False")):
        with pytest.raises(ValueError, match=message):
            ds.load_recbole(f, **kw)


def test_cli_recbole_on_missing_and_no_quoting(tmp_path, capsys):
    f = write(tmp_path / "d.inter", "user_id:token\titem_id:token\tname:token_seq\n"
                                    "a\tx\t\"Weird Al\" Yankovic\nNA\ty\tz\nb\tz\tq\na\tz\tq\n")
    code, out = _train([f], capsys)
    assert code == 2 and "pass --no-quoting" in out.err
    code, out = _train([f, "--no-quoting"], capsys)
    assert code == 2 and "--on-missing drop drops such lines" in out.err
    model = tmp_path / "m.npz"
    code, out = _train([f, "--no-quoting", "--on-missing", "drop", "-o", model], capsys)
    assert code == 0 and sorted(mgr.load(model).user_ids_.tolist()) == ["a", "b"]


# ========================================================== .txt format guess (audit)
def test_cli_refuses_to_guess_a_txt_of_even_3_or_4_fields(tmp_path, capsys):
    for k, body in ((3, "u1 i1 4.5\nu2 i2 3\n"), (4, "1 2 4 978300760\n1 3 5 978300761\n"),
                    (3, "0 1 2\n1 0 2\n")):            # LightGCN lists of 2 items: asked too
        f = write(tmp_path / "r.txt", body)
        with pytest.raises(SystemExit, match=f"each of its first 2 line\\(s\\) has {k} fields"):
            _guess_format(str(f))
        code, out = _train([f], capsys)
        assert code == 2 and "give --format lightgcn or --format triples" in out.err
        assert _train([f, "--format", "triples", "--no-header"], capsys)[0] == 0
    # LightGCN lists of varying length, the real files' shape: no flag needed
    f = write(tmp_path / "train.txt", "0 1 2\n1 0\n2 0 1 2 3\n")
    assert _guess_format(str(f)) == "lightgcn" and _train([f], capsys)[0] == 0
    g = write(tmp_path / "g.txt.gz", gzip.compress(b"0 1 2\n1 0 2\n"))
    with pytest.raises(SystemExit, match="has 3 fields"):
        _guess_format(str(g))
