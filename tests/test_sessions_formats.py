"""Public session logs as they ship (YooChoose, Retailrocket, Last.fm-1K, Nowplaying-like
user logs) through ``load_sessions(format="triples")``: ``columns=``, ISO-8601 times, the
time unit, event types, sessions cut by gap, semicolons, unquoted TSV; and the CIKM reader's
messages."""
import datetime
import logging

import numpy as np
import pytest

import minigraphrec.datasets as ds
from minigraphrec.datasets import _parse
from minigraphrec.errors import DataError
from conftest import write, assert_line_error


def raw_sessions(s):
    return [[str(s.item_ids[i]) for i in seq] for seq in s]


def triples(path, **kw):
    return ds.load_sessions(path, format="triples", **kw)


# ============================================================ YooChoose clicks
CLICKS = ("1,2014-04-07T10:54:09.868Z,214536500,0\n"
          "1,2014-04-07T10:51:09.277Z,214536502,0\n"
          "2,2014-04-07T13:56:37.614Z,214662742,S\n"
          "1,2014-04-07T10:57:00.306Z,214577561,2053763000\n"
          "2,2014-04-07T13:57:19.373Z,214536506,S\n")


def test_yoochoose_clicks_with_columns(tmp_path):
    f = write(tmp_path / "yoochoose-clicks.dat", CLICKS)
    assert_line_error(lambda: triples(f), f, 1, "give the roles of other layouts with columns=")
    s = triples(f, columns="session,timestamp,item,-")
    assert raw_sessions(s) == [["214536502", "214536500", "214577561"],     # by time
                               ["214662742", "214536506"]]
    assert s.item_ids.tolist() == ["214536500", "214536502", "214662742", "214577561",
                                   "214536506"]                 # the category is no item
    assert s.session_ids.tolist() == ["1", "2"]
    # 2014-04-07T00:00Z is 1396828800; + 10:57:00.306 and + 13:57:19.373, milliseconds kept
    assert s.end_time.tolist() == [1396868220.306, 1396879039.373]
    assert s.users.tolist() == [-1, -1]


def test_yoochoose_to_a_time_split_keeps_raw_ids(tmp_path):
    from minigraphrec.sequences import prefix_examples, split_sessions_by_time
    f = write(tmp_path / "c.dat", CLICKS + "3,2014-04-08T09:00:00.000Z,214536502,0\n"
                                          "3,2014-04-08T09:01:00.000Z,214536500,0\n")
    s = triples(f, columns=("session", "timestamp", "item", None))
    train, test, stats = split_sessions_by_time(s, test_span=3600)    # the last hour
    assert train.session_ids.tolist() == ["1", "2"] and test.session_ids.tolist() == ["3"]
    prefixes, targets = prefix_examples(test)
    assert [str(test.item_ids[t]) for t in targets] == ["214536500"]
    assert raw_sessions(prefixes) == [["214536502"]]


# ============================================================ ISO-8601 times
@pytest.mark.parametrize("token, seconds", [
    ("2014-04-07", 1396828800.0),
    ("2014-04-07T10:51", 1396867860.0),
    ("2014-04-07 10:51:09", 1396867869.0),
    ("2014-04-07T10:51:09.5", 1396867869.5),
    ("2014-04-07T10:51:09,25Z", 1396867869.25),
    ("2014-04-07T10:51:09.123456789Z", 1396867869.123456),     # truncated to microseconds
    ("2014-04-07T12:51:09+02:00", 1396867869.0),
    ("2014-04-07T09:21:09-0130", 1396867869.0),
    ("2014-04-07T15:51:09+05", 1396867869.0),
    ("1969-12-31T23:59:59.5Z", -0.5),
])
def test_iso_timestamps(tmp_path, token, seconds):
    f = write(tmp_path / "t.tsv", f"s\ta\t{token}\ns\tb\t{token}\n")    # "," may be in it
    s = triples(f)
    assert s.end_time.tolist() == [seconds] and raw_sessions(s) == [["a", "b"]]
    assert _parse._iso_microseconds(token) == round(seconds * 1e6)


def test_iso_array_twin_equals_reference(monkeypatch):
    monkeypatch.setattr(_parse, "_ISO_BLOCK", 7)                 # several blocks
    epoch = datetime.datetime(1970, 1, 1)
    micro = np.random.default_rng(0).integers(-2 * 10**15, 4 * 10**15, 50)
    for layout in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M",
                   "%Y-%m-%dT%H:%M:%S.%f123"):
        tokens = [(epoch + datetime.timedelta(microseconds=int(m))).strftime(layout)
                  for m in micro]
        fast = _parse._iso_microseconds_array(tokens)
        assert fast is not None, layout
        assert fast.tolist() == [_parse._iso_microseconds(t) for t in tokens], layout
    for other in (["2014-04-07", "2014-04-07T10:51"],            # two layouts
                  ["2014-04-07T10:51+01:00"], ["2014-04-07T10:51:09,5"],   # offset, comma
                  ["2014-04-07", "2014-13-07"], ["0000-01-01"]):            # refused values
        assert _parse._iso_microseconds_array(other) is None, other


@pytest.mark.parametrize("token", [
    "2014-13-07T10:51:09Z", "2014-02-30T10:51:09Z", "2014-04-07T24:51:09Z",
    "2014-04-07T10:51:60Z", "0000-04-07T10:51:09Z", "2014-04-07T10:51:09+24:00",
    "2014-04-07T10Z", "2014-4-7T10:51:09Z", "1396867869", "07/04/2014 10:51"])
def test_iso_timestamps_rejected_at_their_line(tmp_path, token):
    f = write(tmp_path / "t.csv", f"s,a,2014-04-07T10:51:09Z\ns,b,{token}\n")
    assert_line_error(lambda: triples(f), f, 2,
                      f"timestamp {token!r} is not an ISO-8601 date-time")
    assert_line_error(lambda: triples(f), f, 2,
                      "as the first timestamp is (line 1: '2014-04-07T10:51:09Z')")


def test_header_guess_counts_iso_times_as_values(tmp_path):
    data = write(tmp_path / "d.csv", "sA,itemX,2009-05-04T23:08:57Z\nsA,itemY,2009-05-04T23:09Z\n")
    assert raw_sessions(triples(data)) == [["itemX", "itemY"]]   # no number, yet data
    named = write(tmp_path / "h.csv", "a,b,c\nsA,itemX,2009-05-04T23:08:57Z\n")
    assert raw_sessions(triples(named)) == [["itemX"]]           # a word over a time: header


# ================================================================ time unit
def test_time_unit(tmp_path):
    ms = write(tmp_path / "ms.csv", "s1,a,1434455616864\ns1,b,1434455617000\n")
    assert_line_error(lambda: triples(ms), ms, 1, "timestamp 1434455616864 is 45455 years "
                                                  "from 1970 read as time_unit='s': pass "
                                                  "time_unit='ms'")
    assert triples(ms, time_unit="ms").end_time.tolist() == [1434455617.0]
    assert triples(ms, time_unit=None).end_time.tolist() == [1434455617000.0]   # as written
    us = write(tmp_path / "us.csv", "s1,a,1434455616864000\n")
    assert_line_error(lambda: triples(us, time_unit="ms"), us, 1, "pass time_unit='us'")
    ns = write(tmp_path / "ns.csv", "s1,a,1434455616000000000\n")
    assert triples(ns, time_unit="ns").end_time.tolist() == [1434455616.0]
    small = write(tmp_path / "s.csv", "s1,a,-5\ns1,b,1111\n")      # Tmall's MMDD: fine
    assert triples(small).end_time.tolist() == [1111.0]
    iso = write(tmp_path / "iso.csv", "s1,a,2014-04-07T10:51:09Z\n")
    assert_line_error(lambda: triples(iso, time_unit="ms"), iso, 1,
                      "time_unit='ms' applies to numeric timestamps")
    assert triples(iso, time_unit=None).end_time.tolist() == [1396867869.0]


# ====================================================== Retailrocket events
EVENTS = ("timestamp,visitorid,event,itemid,transactionid\n"
          "1433221332117,257597,view,355908,\n"
          "1433224214164,992329,view,248676,\n"
          "1433221999827,257597,addtocart,355908,\n"
          "1433222276276,257597,transaction,355908,4000\n"
          "1433223000000,257597,view,97879,\n"
          "1433230000000,257597,view,12,\n"
          "1433224300000,992329,view,5,\n")
RR = "timestamp,user,event,item,-"


def test_retailrocket_views_cut_by_gap(tmp_path, caplog):
    f = write(tmp_path / "events.csv", EVENTS)
    assert_line_error(lambda: triples(f), f, 1, "header field 5 'transactionid' is not a "
                                                "column name")
    with caplog.at_level(logging.INFO, logger="minigraphrec.datasets"):
        s = triples(f, columns=RR, events="view", time_unit="ms", gap=1800)
    assert "dropped 2 of the other types ('addtocart': 1, 'transaction': 1)" in caplog.text
    # visitor 257597: views at +0, +1667.883 s (one session), +8667.883 s (a new one)
    assert raw_sessions(s) == [["355908", "97879"], ["12"], ["248676", "5"]]
    assert s.end_time.tolist() == [1433223000.0, 1433230000.0, 1433224300.0]
    assert s.users.tolist() == [0, 0, 1] and s.user_ids.tolist() == ["257597", "992329"]
    assert s.session_ids is None
    every = triples(f, columns="timestamp,user,-,item,-", time_unit="ms", gap=1800)
    assert raw_sessions(every) == [["355908", "355908", "355908", "97879"], ["12"],
                                   ["248676", "5"]]


def test_event_types_never_kept_or_dropped_unasked(tmp_path):
    f = write(tmp_path / "events.csv", EVENTS)
    with pytest.raises(DataError, match=r"has an event column, with the types 'addtocart' "
                                        r"\(1\), 'transaction' \(1\), 'view' \(5\); pass "
                                        r"events="):
        triples(f, columns=RR, time_unit="ms", gap=1800)
    with pytest.raises(DataError, match=r"events= asks for \['views'\]"):
        triples(f, columns=RR, events=("view", "views"), time_unit="ms", gap=1800)
    plain = write(tmp_path / "p.csv", "s1,a,1\n")
    with pytest.raises(DataError, match="no event column"):
        triples(plain, events="view")


# ============================================ user logs cut into sessions by gap
def test_user_logs_need_a_gap(tmp_path):
    f = write(tmp_path / "nowplaying.csv", "user_id,item_id,timestamp\nu1,a,100\nu2,b,50\n"
                                           "u1,b,200\nu1,c,5000\nu2,a,60\n")
    with pytest.raises(DataError, match="no session column: pass gap="):
        triples(f)
    s = triples(f, gap=1800)
    assert raw_sessions(s) == [["a", "b"], ["c"], ["b", "a"]]
    assert s.end_time.tolist() == [200.0, 5000.0, 60.0] and s.users.tolist() == [0, 0, 1]
    anonymous = write(tmp_path / "na.csv", "user_id,item_id,timestamp\nu1,a,1\nNA,b,2\n")
    assert_line_error(lambda: triples(anonymous, gap=1800), anonymous, 3,
                      "missing user id 'NA'")
    with_sessions = write(tmp_path / "s.csv", "s1,a,1\n")
    with pytest.raises(DataError, match="has a session column"):
        triples(with_sessions, gap=1800)


def test_session_logs_with_a_user_column(tmp_path):
    f = write(tmp_path / "s.csv", "session_id,user_id,item_id,timestamp\ns1,NA,a,1\n"
                                  "s1,u7,b,2\ns2,u8,a,3\n")
    s = triples(f)
    assert s.users.tolist() == [0, 1] and s.user_ids.tolist() == ["u7", "u8"]
    clash = write(tmp_path / "c.csv", "session_id,user_id,item_id,timestamp\ns1,u7,a,1\n"
                                      "s1,u8,b,2\n")
    assert_line_error(lambda: triples(clash), clash, 3,
                      "session 's1' has user 'u8' here but user 'u7' at line 2")
    names = write(tmp_path / "n.csv", "item_id,timestamp\na,1\n")
    assert_line_error(lambda: triples(names), names, 1, "names neither a session nor a user")


@pytest.mark.parametrize("mark", ["NA", "na", "null", "NULL", "NaN", "None", "nil", "N/A", "?",
                                  ""])
def test_every_missing_mark_and_an_empty_field_is_an_anonymous_user(tmp_path, mark,
                                                                   monkeypatch):
    """The marks of load_triples' on_missing, in any case, and the empty field that pandas
    writes for NaN: anonymous (was a user 'null' shared by the sessions, or 'empty user
    id')."""
    body = f"s1,{mark},a,1\ns1,u7,b,2\ns2,{mark},a,3\ns3,{mark},c,4\n"
    f = write(tmp_path / "s.csv", "session_id,user_id,item_id,timestamp\n" + body)
    for on_missing in ("error", "drop", "keep"):
        s = triples(f, on_missing=on_missing)
        assert s.users.tolist() == [0, -1, -1] and s.user_ids.tolist() == ["u7"]
    monkeypatch.setattr(ds._parse._TableReader, "_chunk_fast", lambda *a: None)
    assert triples(f).users.tolist() == [0, -1, -1]                  # the line reader
    cikm = write(tmp_path / "v.csv", "sessionId;userId;itemId;timeframe;eventdate\n"
                                     f"1;{mark};5;0;2016-01-01\n2;{mark};6;0;2016-01-01\n")
    assert ds.load_sessions(cikm).users.tolist() == [-1, -1]


# ======================================================= separators, quotes
def test_semicolons_are_detected(tmp_path):
    f = write(tmp_path / "s.csv", "session;item;time\ns1;a;10\ns1;b;5\n")
    assert raw_sessions(triples(f)) == [["b", "a"]]


LASTFM = ("user_000001\t2009-05-04T23:08:57Z\tf1b1cf71\tDeep Dish\t\tFuck Me Im Famous\n"
          "user_000001\t2009-05-04T13:54:10Z\ta7f7df4a\t\"Weird Al\" Yankovic\tt2\tSong\n"
          "user_000001\t2009-05-04T13:52:04Z\ta7f7df4b\t坂本龍一\tt3\tAcid Rain\n")


def test_unquoted_tsv_of_lastfm(tmp_path):
    f = write(tmp_path / "lastfm.tsv", LASTFM)
    by_artist = dict(columns="user,timestamp,-,item,-,-", gap=1800)
    assert_line_error(lambda: triples(f, **by_artist), f, 2, "pass quoting=False")
    s = triples(f, quoting=False, **by_artist)
    assert raw_sessions(s) == [["坂本龍一", '"Weird Al" Yankovic'], ["Deep Dish"]]
    assert s.end_time.tolist() == [1241445250.0, 1241478537.0]
    by_track = dict(quoting=False, columns="user,timestamp,-,-,item,-", gap=1800)
    assert_line_error(lambda: triples(f, **by_track), f, 1,
                      r"empty item id in 'user_000001\t2009-05-04T23:08:57Z\tf1b1cf71")
    assert_line_error(lambda: triples(f, **by_track), f, 1, "on_missing='drop' drops such")
    s = triples(f, on_missing="drop", **by_track)              # the empty track id goes
    assert raw_sessions(s) == [["t3", "t2"]] and s.item_ids.tolist() == ["t2", "t3"]


def test_missing_ids_of_session_logs(tmp_path, caplog):
    """on_missing treats the session and item ids; NA in a user column stays anonymous."""
    f = write(tmp_path / "s.csv", "session_id,user_id,item_id,timestamp\ns1,NA,a,1\n"
                                  "null,u7,b,2\ns2,NA,NaN,3\ns2,u8,c,4\n")
    assert_line_error(lambda: triples(f), f, 3, "missing session id 'null'")
    with caplog.at_level(logging.WARNING, logger="minigraphrec.datasets"):
        s = triples(f, on_missing="drop")
    assert raw_sessions(s) == [["a"], ["c"]] and s.users.tolist() == [-1, 0]
    assert "dropped 2 of 4 lines with a missing session or item id" in caplog.text
    assert "line(s) 3, 4" in caplog.text
    kept = triples(f, on_missing="keep")
    assert raw_sessions(kept) == [["a"], ["b"], ["NaN", "c"]]
    assert kept.session_ids.tolist() == ["s1", "null", "s2"]
    cikm = write(tmp_path / "v.csv", "sessionId;userId;itemId;timeframe;eventdate\n"
                                     "1;NA;5;0;2016-01-01\n1;NA;NA;9;2016-01-01\n")
    assert_line_error(lambda: ds.load_sessions(cikm), cikm, 3, "missing item id 'NA'")
    assert raw_sessions(ds.load_sessions(cikm, on_missing="drop")) == [["5"]]
    with pytest.raises(ValueError, match="on_missing must be one of"):
        ds.load_sessions(cikm, on_missing="skip")


# ================================================================ CIKM reader
@pytest.mark.parametrize("body, line, message", [
    (";NA;5;0;2016-01-01\n", 2, "empty session id"),
    ("1;NA;5;0;\n", 2, "empty eventdate"),
    ("1;NA;5;0;\n1;NA;5;x;2016-01-01\n", 2, "empty eventdate"),     # one pass: first line
    ("1;NA;5;;2016-01-01\n", 2, "timeframe '' is not a number"),        # not "timestamp"
    ("1;NA;5;0;2016-01-01\n1;NA;5;x;2016-01-01\n", 3, "timeframe 'x' is not a number"),
])
def test_cikm_messages_name_the_column(tmp_path, body, line, message):
    f = write(tmp_path / "v.csv", "sessionId;userId;itemId;timeframe;eventdate\n" + body)
    assert_line_error(lambda: ds.load_sessions(f), f, line, message)


def test_cikm_day_times_split_as_the_srgnn_script(tmp_path):
    """test_span=7 days on CIKM dates: the script's test; its train with boundary="drop"."""
    from minigraphrec.sequences import split_sessions_by_time
    days = {"a": "2016-01-01", "b": "2016-01-02", "c": "2016-01-03", "d": "2016-01-03",
            "e": "2016-01-04", "f": "2016-01-10"}          # cut: 01-10 - 7 days = 01-03
    lines = [f"{sid};NA;{item};{t};{day}\n" for sid, day in days.items()
             for t, item in enumerate((5, 6))]
    s = ds.load_sessions(write(tmp_path / "v.csv",
                               "sessionId;userId;itemId;timeframe;eventdate\n" + "".join(lines)))
    # the script's rule restated: train date < cut, test date > cut, the cut day dropped
    cut = datetime.datetime(2016, 1, 3, tzinfo=datetime.timezone.utc).timestamp()
    end = dict(zip(s.session_ids.tolist(), s.end_time.tolist()))
    script_train = [k for k in days if end[k] < cut]
    script_test = [k for k in days if end[k] > cut]
    assert script_train == ["a", "b"] and script_test == ["e", "f"]
    train, test, stats = split_sessions_by_time(s, test_span=7 * 86400, boundary="drop")
    assert stats["cutoff"] == cut and stats["n_sessions_at_cut"] == 2
    assert train.session_ids.tolist() == script_train
    assert test.session_ids.tolist() == script_test
    train, test, _ = split_sessions_by_time(s, test_span=7 * 86400)      # boundary="train"
    assert train.session_ids.tolist() == ["a", "b", "c", "d"]
    assert test.session_ids.tolist() == script_test


# ================================================================== options
def test_bad_options(tmp_path):
    f = write(tmp_path / "t.txt", "s a 1\n")
    for kw in (dict(columns="session,item,timestamp"), dict(time_unit="ms"),
               dict(events="view"), dict(gap=1800), dict(quoting=False)):
        with pytest.raises(ValueError, match="apply to format='triples' only"):
            ds.load_sessions(f, **kw)
    for kw, message in ((dict(columns="item,timestamp"), "a session column, or a user"),
                        (dict(columns="session,item"), "timestamp"),
                        (dict(time_unit="sec"), "time_unit must be"),
                        (dict(events=[""]), "events must be"),
                        (dict(gap=-1), r"gap \(seconds\) must be"), (dict(gap=float("nan")), "gap"),
                        (dict(quoting="no"), "quoting must be"),
                        (dict(header="yes"), "header must be")):
        with pytest.raises(ValueError, match=message):
            triples(f, **kw)
    with pytest.raises(TypeError, match=r"gap \(seconds\) must be a real number, got bool"):
        triples(f, gap=True)
