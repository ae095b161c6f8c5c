r"""Session logs (CIKM Cup 2016 / Diginetica, or delimited event logs) as Sequences."""
from __future__ import annotations

import re
from functools import partial

import numpy as np

from ..errors import check_finite_number
from ._parse import (
    _MISSING,
    _NAME_NOISE,
    _QUOTE_HINT,
    _check_encoding,
    _check_file,
    _check_on_missing,
    _check_table_options,
    _decode,
    _fail,
    _first_lines,
    _first_rows,
    _guess_header,
    _is_iso_datetime,
    _is_time_value,
    _iso_microseconds,
    _iso_seconds,
    _open_binary,
    _parse_columns,
    _renumber,
    _role_of,
    _roles_from_header,
    _sep_note,
    _split_line,
    _TableReader,
    _to_seconds,
    logger,
)

# ============================================================ session logs
# Session logs become Sequences (minigraphrec.sequences): one ordered item list per
# session, with its end time (what a split by time cuts on) and the raw ids.
_SESSION_FORMATS = ("cikm", "triples")
_TRIPLES_ROLES = ("session", "item", "timestamp")        # in headerless order
_ROLES = ("session", "user", "item", "timestamp", "event")   # what a column may be
_CIKM_COLUMNS = ("sessionid", "userid", "itemid", "timeframe", "eventdate")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# timeframes are read as float64, exact for integers below 2**53 only
_MAX_TIMEFRAME = 2 ** 53


def _cikm_header(path, encoding):
    """Line number and column index of each CIKM column, from the header line."""
    first = _first_lines(path, None, encoding, n=1)
    if not first:
        raise _fail(path, None, "the file is empty (a CIKM Cup 2016 file starts with the "
                                "header 'sessionId;userId;itemId;timeframe;eventdate')")
    header_line, header = first[0]
    # compared as load_triples compares header names: without case, "_", "-", "." and blanks
    names = [_NAME_NOISE.sub("", name).lower() for name in header.split(";")]
    where = {}
    for wanted in _CIKM_COLUMNS:
        if names.count(wanted) != 1:
            other = ("; a file of 'session item timestamp' lines needs format='triples'"
                     if len(names) < len(_CIKM_COLUMNS) else "")
            raise _fail(path, header_line, f"the header {header.strip()[:80]!r} must name the "
                                           f"column {wanted!r} once (';'-separated; case, "
                                           f"'_', '-', '.' and blanks are ignored: "
                                           f"'session_id' = 'sessionId' = 'Session ID')"
                                           f"{other}")
        where[wanted] = names.index(wanted)
    return header_line, len(names), where


def _numbered(ids, index):
    """``(ids (n,) int64, raw ids (list of str))`` of a column the reader numbered: its
    internal ids, and the keys of its dict (raw -> internal id) in order."""
    return ids, list(index)


def _cikm_dates(ids, raw, lines, path):
    """Numbered ``'2016-05-09'`` tokens -> Unix seconds at 00:00 UTC, (n,) float64.

    ``ids`` (n,) index ``raw``, the distinct dates in file order (the reader numbers the
    column): each date is converted once, by the ISO-8601 reader of the other formats
    (:func:`_iso_microseconds`; a date alone is its midnight UTC), and a bad one is named at
    its first line. Only a date is read: a time of day is an error too.
    """
    seconds = np.empty(len(raw), dtype=np.float64)     # (n_dates,)
    for k, tok in enumerate(raw):                       # the first bad date in file order
        try:
            if not _ISO_DATE.fullmatch(tok):
                raise ValueError
            seconds[k] = _iso_microseconds(tok) / 1e6   # whole days: exact
        except ValueError:
            first = int(np.argmax(ids == k))            # its first line
            raise _fail(path, int(lines[first]),
                        f"eventdate {tok!r} is not a date like '2016-05-09'") from None
    return seconds[ids]                                 # (n,)


def _field_at(path, lineno, col, encoding):
    """Field ``col`` (0-based) of line ``lineno`` of a CIKM file, as written: the token of
    an error found after the whole file was read (only the numbers were kept)."""
    with _open_binary(path) as f:
        for k, raw in enumerate(f, 1):
            if k == lineno:
                line = _decode(raw, path, k, encoding).strip()
                return _split_line(line, ";", path, k)[col]
    raise AssertionError(f"{path} has no line {lineno}")       # the reader read it


def _read_cikm(path, encoding, on_missing):
    r"""Columns of a CIKM Cup 2016 file: (sessions, items, users, timeframes, dates, lines).

    One streaming pass of the shared strict reader: session and item as the ids,
    timeframe as the number, user and eventdate as extra columns numbered like the ids.
    Sessions, items and users are ``(ids (n,), raw ids)`` (:func:`_numbered`).
    """
    header_line, n_fields, col = _cikm_header(path, encoding)
    cols = _TableReader(path, ";", n_fields, header_line, encoding, col["sessionid"],
                        col["itemid"], None, col["timeframe"],
                        extra=((col["userid"], "user id", True),       # empty: anonymous
                               (col["eventdate"], "eventdate")),
                        id_names=("session", "item"), on_missing=on_missing,
                        time_name="timeframe", rows="events").read()
    frame = cols.times                                                 # (n,) milliseconds
    bad = (frame != np.floor(frame)) | (frame < 0) | (frame >= _MAX_TIMEFRAME)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        lineno = int(cols.lines[j])
        token = _field_at(path, lineno, col["timeframe"], encoding)
        why = ("is 2**53 or more, beyond the integers a float64 holds exactly"
               if frame[j] >= _MAX_TIMEFRAME else "is not a non-negative integer")
        raise _fail(path, lineno, f"timeframe {token!r} {why} (milliseconds since the "
                                  f"session began)")
    (users, user_index), (date_ids, date_index) = cols.extra         # (n,) each, dicts
    dates = _cikm_dates(date_ids, list(date_index), cols.lines, path)  # (n,) seconds
    return (_numbered(cols.users, cols.user_index), _numbered(cols.items, cols.item_index),
            _numbered(users, user_index), frame, dates, cols.lines)


def _field_count_error(path, lineno, n_fields):
    return _fail(path, lineno, f"expected 3 fields (session item timestamp), got {n_fields}; "
                               f"give the roles of other layouts with columns= (YooChoose's "
                               f"clicks: columns='session,timestamp,item,-')")


def _session_layout(path, sep, header, columns, comments, encoding, quoting):
    r"""How to read an event log: ``(where, sep, n_fields, n_skip, first_time, sep_note)``.

    ``where``: the column of each role; ``n_skip``: the lines above the first event;
    ``first_time``: ``(line, token)`` of the first event's timestamp, whose form (a
    number or ISO-8601 text) every other timestamp must share; ``sep_note``: what the
    field-count error says of a detected separator (:func:`_sep_note`).
    """
    given = sep
    first, rows, sep, where = _first_rows(path, sep, comments, encoding, "events", quoting,
                                          columns)
    first_line, n_fields = first[0][0], len(rows[0])
    if where is None and n_fields == 3:
        where = dict(zip(_TRIPLES_ROLES, range(3)))        # the headerless meaning
    if header is None and where is None:  # no roles by position: only names can give them
        if not any(_role_of(x, _ROLES) for x in rows[0]):
            raise _field_count_error(path, first_line, n_fields)
        header = True                     # and every field must be a name, checked below
    if header is None:                    # the rules of load_triples; a time is a value
        header = _guess_header(path, first, rows, [where["timestamp"]], _ROLES,
                               _is_time_value)
    if header and columns is None:        # names beat positions, as in load_triples
        where = _roles_from_header(path, first_line, rows[0], _ROLES,
                                   ("item", "timestamp")) or where
        if where is not None and "session" not in where and "user" not in where:
            raise _fail(path, first_line, f"the header {', '.join(rows[0])!r} names neither "
                                          f"a session nor a user column; give the roles "
                                          f"with columns=")
    if where is None:
        raise _field_count_error(path, first_line, n_fields)
    if header and len(first) < 2:
        raise _fail(path, None, f"no events (the file holds only the header on line "
                                f"{first_line})")
    lineno, row = (first[1][0], rows[1]) if header else (first_line, rows[0])
    token = row[where["timestamp"]] if len(row) == n_fields else ""
    return (where, sep, n_fields, first_line if header else first_line - 1, (lineno, token),
            _sep_note(given, sep, first_line))


def _read_event_log(path, sep, header, columns, comments, encoding, quoting, on_missing):
    r"""Columns of a ``"triples"`` file: ``(numbered, times, lines, iso)``.

    ``numbered``: ``{role: (ids (n,), raw ids)}`` (:func:`_numbered`) for the session or
    user, item, and the user and event columns if any; ``times``: (n,) float64, numbers as
    written or ISO-8601 text as Unix seconds (converted by the reader, chunk by chunk);
    ``iso``: ``(line, token)`` of the first timestamp if it is ISO text, else None. One
    streaming pass of the shared strict reader.
    """
    where, sep, n_fields, n_skip, first_time, sep_note = _session_layout(
        path, sep, header, columns, comments, encoding, quoting)
    iso = first_time if _is_iso_datetime(first_time[1]) else None
    ids = "session" if "session" in where else "user"       # what sessions are made of
    text = [role for role in ("user", "event") if role in where and role != ids]
    # beside a session column, an empty user field is an anonymous user
    extra = [(where[role], "user id", True) if role == "user" else (where[role], role)
             for role in text]
    if iso:
        hint = f", as the first timestamp is (line {iso[0]}: {iso[1]!r})"
        extra.append((where["timestamp"], "timestamp", False,
                      partial(_iso_seconds, path=path, hint=hint)))   # (tokens, lines) -> (n,)
    cols = _TableReader(path, sep, n_fields, n_skip, encoding, where[ids], where["item"],
                        None, None if iso else where["timestamp"], extra=extra,
                        id_names=(ids, "item"), quoting=quoting,
                        quote_hint=_QUOTE_HINT, on_missing=on_missing, iso_times=True,
                        sep_note=sep_note, rows="events",
                        comments=comments is not None).read()
    numbered = {ids: _numbered(cols.users, cols.user_index),
                "item": _numbered(cols.items, cols.item_index),
                **{role: _numbered(*column) for role, column in zip(text, cols.extra)}}
    times = cols.extra[-1] if iso else cols.times                    # (n,)
    return numbered, times, cols.lines, iso


def _keep_event_types(path, ids, raw, events):
    """Boolean mask (n,) of the events whose type is in ``events``; counts are logged.

    ``ids`` (n,) index ``raw``, the distinct event types (the reader numbers the column).
    """
    types = np.asarray(raw)                                              # (n_types,)
    order = np.argsort(types)                       # sorted, as np.unique would give them
    kinds = types[order]
    counts = np.bincount(ids, minlength=len(raw))[order]                 # (n_types,)
    seen = ", ".join(f"{k!r} ({c})" for k, c in zip(kinds.tolist(), counts.tolist()))
    if events is None:
        raise _fail(path, None, f"the file has an event column, with the types {seen}; pass "
                                f"events= to keep some of them (events=('view',)), or mark "
                                f"the column '-' in columns= to keep every event")
    present = set(kinds.tolist())
    missing = [e for e in events if e not in present]
    if missing:
        raise _fail(path, None, f"events= asks for {missing!r}, which the event column never "
                                f"holds (its types: {seen})")
    keep = np.isin(types, list(events))[ids]                             # (n,)
    n_dropped = int((~keep).sum())
    if n_dropped:
        logger.info("%s: kept %d events of type(s) %s; dropped %d of the other types (%s)",
                    path, int(keep.sum()), ", ".join(map(repr, events)), n_dropped,
                    ", ".join(f"{k!r}: {c}" for k, c in zip(kinds.tolist(), counts.tolist())
                              if k not in events))
    return keep


def _sessions_by_user_gap(users, items, times, gap):
    """Each user's events cut at inactivity gaps (:func:`sessions_by_gap`) as Sequences.

    ``users``, ``items``: ``(ids (n,), raw ids)``, numbered in order of first appearance.
    """
    from ..data import Interactions
    from ..sequences import sessions_by_gap

    (user, user_raw), (item, item_raw) = users, items            # (n,), (n_users,), ...
    data = Interactions(user, item, n_users=len(user_raw), n_items=len(item_raw),
                        timestamps=times, user_ids=np.asarray(user_raw, dtype=str),
                        item_ids=np.asarray(item_raw, dtype=str))
    return sessions_by_gap(data, gap=gap)


def load_sessions(path, format="cikm", *, sep=None, header=None, columns=None,
                  time_unit="s", events=None, gap=None, quoting=True, on_missing="error",
                  comments="#", encoding="utf-8"):
    r"""Load a session log: one ordered item sequence per session, with its end time.

    Formats:

    * ``"cikm"``: the CIKM Cup 2016 personalised e-commerce search challenge layout
      (DIGINETICA's ``train-item-views.csv``, the data of the SR-GNN, NARM and STAMP
      papers): ``;``-separated, a header line, then
      ``session_id;user_id;item_id;timeframe;eventdate`` per item view, e.g.
      ``1;NA;81766;526309;2016-05-09``. Columns are found by header name, ignoring case,
      ``_``, ``-``, ``.`` and blanks (``sessionId`` = ``session_id``), as
      :func:`load_triples` compares header names; other columns are read for their count
      only. ``timeframe`` is the time since the session began, a non-negative integer
      (milliseconds); ``eventdate`` a date ``YYYY-MM-DD``. A session's events are
      ordered by timeframe, then eventdate, then file order; its end time is its latest
      eventdate, as Unix seconds at 00:00 UTC. The SR-GNN authors' script
      (``datasets/preprocess.py``) takes the date on the session's last line in file
      order instead: the two differ only for a session whose lines are not in date
      order in the file. With these times, ``split_sessions_by_time(...,
      test_span=7 * 86400)`` gives the script's test, the sessions of the last 7 days;
      its train is the days before the cut day only with ``boundary="drop"`` (the
      default ``"train"`` adds the sessions of the cut day, which the script drops).
      ``user_id`` is ``NA``
      for anonymous views (as is an empty field or another missing-value mark of
      :func:`load_triples`, ``null``, ``NaN``, ..., in any case); a session takes the user
      of its lines that name one, and two different users in one session are an error.
    * ``"triples"``: a delimited event log, one event per line. By default
      ``session item timestamp``; a header whose names are recognised assigns the
      columns by name, and ``columns`` gives them for any layout. Fields are separated
      by runs of whitespace, commas, tabs, ``::`` or semicolons (detected on the first
      line: ``::`` > tab > comma > ``;`` > whitespace, several of them told apart as in
      :func:`load_triples`; or given by ``sep``), may be quoted as in CSV, with an
      optional header (guessed by the rules of :func:`load_triples`, a timestamp counting
      as a value, or given by ``header``) and ``#`` comment lines above the first line.
      A column is one of:

      - ``session``: the session id (names ``session``, ``session_id``, ``sid``);
      - ``user``: the user id (the user names of :func:`load_triples`, ``visitorid``
        among them). With a session column, an empty field or a missing-value mark
        (``NA``, ``null``, ``NaN``, ..., any case, as in :func:`load_triples`) marks an
        anonymous event and a session's users must agree, as in ``"cikm"``. Without
        one, ``gap`` is required and each user's events are cut into sessions at
        inactivity gaps longer than ``gap`` seconds
        (:func:`~minigraphrec.sequences.sessions_by_gap`; Retailrocket, Last.fm, Tmall,
        Nowplaying);
      - ``item`` and ``timestamp`` (the names of :func:`load_triples`), required;
      - ``event``: the event type (names ``event``, ``event_type``, ``action``,
        ``action_type``, ``behavior``, ``behaviour``, ``behavior_type``). Only the types
        listed in ``events`` are kept, and the others' counts are logged; a file with an
        event column needs ``events`` (or that column marked ``-`` in ``columns``, to
        keep every event) -- an event of another type is never kept or dropped unasked.

      A timestamp is a finite number or ISO-8601 text, as the first event's is, for
      every line: ``YYYY-MM-DD``, optionally followed by ``THH:MM[:SS[.fff]]`` (a blank
      for ``T``, any number of fraction digits, truncated to microseconds) and ``Z`` or
      an offset ``+HH:MM`` / ``+HHMM`` / ``+HH``; no zone is UTC. YooChoose's
      ``2014-04-07T10:51:09.277Z`` and Last.fm's ``2009-05-04T23:08:57Z`` are read as
      Unix seconds. Numbers are in ``time_unit`` and converted to seconds. A session's
      events are ordered by timestamp, then file order; its end time is its latest
      timestamp, in seconds.

    Either format may be gzip-compressed (recognised by its first bytes).

    Memory: ids are numbered and ISO-8601 times converted one block of about 128 KiB of
    lines at a time, so a line costs its int and float arrays, not Python strings: about
    120-130 bytes per line at the peak (YooChoose-layout lines, peak RSS: 176 MiB for 1M
    lines, 521 MiB for 4M, of which 54 MiB is the imports; 2026-12-07, ad hoc; 1M lines of
    each layout in ``benchmarks/results/loaders.md``), so the 33M lines of
    ``yoochoose-clicks.dat`` would need about 4 GB (extrapolated, not measured).

    Raw session, item and user ids are strings numbered in order of first appearance in
    the file (sessions need not be contiguous). Sessions of one event are kept: cleaning
    is :func:`~minigraphrec.sequences.filter_sessions`, the split by time
    :func:`~minigraphrec.sequences.split_sessions_by_time`.

    Parameters
    ----------
    path : path-like
    format : {"cikm", "triples"}
    sep, header, comments : for ``"triples"`` only, as in :func:`load_triples` (``sep``
        may also be ``";"``, which is detected too)
    columns : sequence or str, for ``"triples"`` only
        The role of every field, in file order: ``"session"``, ``"user"``, ``"item"``,
        ``"timestamp"``, ``"event"``, or None / ``"-"`` for a column to skip; a string
        is split at commas. YooChoose's clicks: ``"session,timestamp,item,-"``;
        Retailrocket's ``events.csv``: ``"timestamp,user,event,item,-"``; Last.fm-1K by
        artist name: ``"user,timestamp,-,item,-,-"`` (its ids are empty on some lines).
        Item, timestamp, and a session or user column are required. Default: from the
        header's names, else by position (3 fields).
    time_unit : {"s", "ms", "us", "ns"} or None, for ``"triples"`` only
        The unit of numeric timestamps, converted to seconds (Retailrocket's are
        ``"ms"``). A timestamp 1e11 seconds or more from 1970 (the year 5138) is an
        error that names the unit that fits: it is a finer unit read as seconds. None
        keeps the numbers as they are, in their own unit (``gap`` and the ``end_time``
        are then in it too). ISO-8601 timestamps are always seconds.
    events : sequence of str or str, for ``"triples"`` only
        The event types to keep (``("view",)``; a string is split at commas). Each must
        occur in the event column.
    gap : float >= 0, for ``"triples"`` without a session column
        Seconds (the timestamps' unit with ``time_unit=None``) of inactivity after which
        a user's next event starts a new session (1800: half an hour).
    quoting : bool, for ``"triples"`` only
        False reads ``"`` as an ordinary character (a TSV dump whose names hold quotes,
        such as Last.fm-1K's ``"Weird Al" Yankovic``); True reads CSV quoting.
    on_missing : {"error", "drop", "keep"}
        What to do with an event whose item id, or session id (user id when sessions are
        cut by ``gap``), is missing: an empty field or a missing-value mark (``NA``,
        ``null``, ..., as in :func:`load_triples`). ``"error"`` stops at the line;
        ``"drop"`` drops the line and logs a warning with the count and the first lines
        (Last.fm-1K leaves some track ids empty); ``"keep"`` reads a mark as an ordinary
        id, while an empty field stays an error. An empty field or a mark in a ``user``
        column beside a session column is not an id but an anonymous user, whatever
        ``on_missing``.
    encoding : str, ASCII-compatible
        As in :func:`load_triples`: checked before the file is read (ValueError).

    Returns
    -------
    Sequences
        ``items`` per session, oldest first; ``end_time`` (n_sessions,), Unix seconds
        unless ``time_unit=None``; ``item_ids`` (raw, per item); ``users`` (internal,
        ``-1`` for anonymous sessions and for every session of a log without a user
        column) and ``user_ids``. With a session column: sessions in order of first
        appearance, ``session_ids`` (raw, per session). Cut by ``gap``: sessions ordered by
        user, then time, and ``session_ids`` None (the file names none).

    Raises
    ------
    DataError
        A line with the wrong number of fields, an empty field (a user's excepted, above),
        a header without the five CIKM columns (a header without ``;`` suggests
        ``format="triples"``), a timeframe that is not a non-negative integer below
        ``2**53`` (the integers a float64 holds exactly), a date that
        is not ``YYYY-MM-DD``, a NaN / inf / non-numeric timestamp (or, after an ISO-8601
        first one, one that is not ISO-8601), a timestamp too far from 1970 for
        ``time_unit``, an event column without ``events`` or an ``events`` type it never
        holds, a log without a session column and without ``gap``, a missing id
        (``on_missing="error"``; every line dropped under ``"drop"``), an id (or event
        type) longer than 1,024 characters, undecodable bytes, a
        NUL character, a UTF-16 byte-order mark, a zip, bzip2 or xz file (to be unpacked
        first), a separator that cannot be told, two users
        in one session, a first line that may or may not be a header, a file with no
        events. The message names the file and, for a line's problem, the 1-based line.
    FileNotFoundError
        The file does not exist (or is not a regular file, such as a device).
    IsADirectoryError
        The path is a folder.
    ValueError
        A bad argument, or an argument for the other format.
    """
    if format not in _SESSION_FORMATS:
        raise ValueError(f"format must be one of {_SESSION_FORMATS}, got {format!r}")
    if format == "cikm":
        given = [name for name, value in (("sep", sep), ("header", header), ("columns", columns),
                                          ("events", events), ("gap", gap)) if value is not None]
        given += ["time_unit"] * (time_unit != "s") + ["quoting"] * (quoting is not True)
        if given:
            raise ValueError(f"{', '.join(given)} apply to format='triples' only (a CIKM file "
                             f"is ';'-separated with a header, its times fixed)")
        _check_on_missing(on_missing)
        _check_encoding(encoding)
        _check_file(path)
        sessions, items, users, frame, date, lines = _read_cikm(path, encoding, on_missing)
        keys = (np.arange(len(lines)), date, frame)            # lexsort: last key first
        end = date
        return _sessions_by_id(path, sessions, items, users, keys, end, lines)

    _check_table_options(sep, header, time_unit, quoting, encoding, comments)
    _check_on_missing(on_missing)
    if columns is not None:
        given, columns = columns, _parse_columns(columns, _ROLES, ("item", "timestamp"))
        if "session" not in columns[0] and "user" not in columns[0]:
            raise ValueError(f"columns must give a session column, or a user column and "
                             f"gap=; got {given!r}")
    if isinstance(events, str):
        events = events.split(",")
    if events is not None:
        events = tuple(events)
        if not events or not all(isinstance(e, str) and e.strip() for e in events):
            raise ValueError(f"events must be event types (non-empty strings), got {events!r}")
        events = tuple(e.strip() for e in events)
    if gap is not None:
        check_finite_number(gap, "gap (seconds)", at_least=0)

    numbered, times, lines, iso = _read_event_log(path, sep, header, columns, comments,
                                                  encoding, quoting, on_missing)
    times = _to_seconds(times, time_unit, lines, path, iso)              # (n,)
    if "event" in numbered:
        keep = _keep_event_types(path, *numbered.pop("event"), events)       # (n,)
        if not keep.all():            # ids of the kept events only, numbered among them
            numbered = {role: _renumber(ids[keep], raw)
                        for role, (ids, raw) in numbered.items()}
            times, lines = times[keep], lines[keep]
    elif events is not None:
        raise _fail(path, None, "events= was given, but the file has no event column (name "
                                "one in the header or in columns=)")
    if "session" not in numbered:
        if gap is None:
            raise _fail(path, None, "the file has a user column but no session column: pass "
                                    "gap= (the seconds of inactivity that end a session) to "
                                    "cut each user's events into sessions")
        return _sessions_by_user_gap(numbered["user"], numbered["item"], times, gap)
    if gap is not None:
        raise _fail(path, None, "gap= cuts a user's events into sessions, but the file has a "
                                "session column: its sessions are used as they are")
    keys = (np.arange(len(lines)), times)
    return _sessions_by_id(path, numbered["session"], numbered["item"], numbered.get("user"),
                           keys, times, lines)


def _sessions_by_id(path, sessions, items, users, keys, end, lines):
    r"""Sequences of the sessions named in ``sessions``, events ordered by ``keys``.

    ``sessions``, ``items``: ``(ids (n,), raw ids)``, numbered in order of first
    appearance; ``keys``: the lexsort keys (last first) that order a session's events;
    ``end`` (n,): each event's time, whose maximum is its session's end time; ``users``:
    None, or each event's user as ``(ids (n,), raw ids)`` (anonymous: empty or a
    missing-value mark of ``_MISSING``, any case, such as ``NA`` or ``null``), one user per
    session.
    """
    from ..sequences import Sequences

    session, session_raw = sessions                            # (n,), (n_sessions,)
    item, item_raw = items                                     # (n,), (n_items,)
    order = np.lexsort(keys + (session,))                      # session, time, file order
    counts = np.bincount(session, minlength=len(session_raw))  # (n_sessions,)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    end_time = np.maximum.reduceat(end[order], indptr[:-1])    # (n_sessions,)

    users_of = np.full(len(session_raw), -1, dtype=np.int64)   # (n_sessions,)
    user_raw = []
    if users is not None:
        user_tok, user_tok_raw = users          # (n,), the raw tokens, anonymous ones too
        anonymous = np.fromiter((tok.lower() in _MISSING for tok in user_tok_raw), dtype=bool,
                                count=len(user_tok_raw))                  # (n_tokens,)
        named = np.flatnonzero(~anonymous[user_tok])                      # file order
        user, user_raw = _renumber(user_tok[named], user_tok_raw)         # (n_named,)
        named_session = session[named]                            # (n_named,)
        owner, first = np.unique(named_session, return_index=True)
        users_of[owner] = user[first]                             # each session's first user
        clash = np.flatnonzero(user != users_of[named_session])
        if clash.size:
            k = int(clash[0])
            s = int(named_session[k])
            earlier = int(lines[named[first[np.searchsorted(owner, s)]]])
            raise _fail(path, int(lines[named[k]]),
                        f"session {session_raw[s]!r} has user "
                        f"{user_tok_raw[user_tok[named[k]]]!r} here but "
                        f"user {user_raw[users_of[s]]!r} at line {earlier}")
    return Sequences(indptr, item[order], len(item_raw), users=users_of,
                     item_ids=np.asarray(item_raw, dtype=str), end_time=end_time,
                     session_ids=np.asarray(session_raw, dtype=str),
                     user_ids=np.asarray(user_raw, dtype=str))
