r"""Session logs (CIKM Cup 2016 / Diginetica, or session triples) as Sequences."""
from __future__ import annotations

import re

import numpy as np

from ._parse import (
    _check_file,
    _fail,
    _first_lines,
    _first_lines_and_sep,
    _guess_header,
    _index_first_appearance,
    _roles_from_header,
    _split_line,
    _TableReader,
)

# ============================================================ session logs
# Session logs become Sequences (minigraphrec.sequences): one ordered item list per
# session, with its end time (what a split by time cuts on) and the raw ids.
_SESSION_FORMATS = ("cikm", "triples")
_TRIPLES_ROLES = ("session", "item", "timestamp")        # in headerless order
_CIKM_COLUMNS = ("sessionid", "userid", "itemid", "timeframe", "eventdate")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY = 86400


def _cikm_header(path, encoding):
    """Line number and column index of each CIKM column, from the header line."""
    first = _first_lines(path, None, encoding, n=1)
    if not first:
        raise _fail(path, None, "the file is empty (a CIKM Cup 2016 file starts with the "
                                "header 'sessionId;userId;itemId;timeframe;eventdate')")
    header_line, header = first[0]
    names = [name.strip().lower().replace("_", "") for name in header.split(";")]
    where = {}
    for wanted in _CIKM_COLUMNS:
        if names.count(wanted) != 1:
            other = ("; a file of 'session item timestamp' lines needs format='triples'"
                     if len(names) < len(_CIKM_COLUMNS) else "")
            raise _fail(path, header_line, f"the header {header.strip()[:80]!r} must name the "
                                           f"column {wanted!r} once (';'-separated; case and "
                                           f"'_' are ignored: 'session_id' = 'sessionId')"
                                           f"{other}")
        where[wanted] = names.index(wanted)
    return header_line, len(names), where


def _cikm_dates(tokens, lines, path):
    """``'2016-05-09'`` tokens -> Unix seconds at 00:00 UTC, (n,) float64."""
    import datetime

    seconds = {}
    for tok in dict.fromkeys(tokens):              # each distinct date once, in file order
        try:
            if not _ISO_DATE.fullmatch(tok):
                raise ValueError
            day = datetime.date.fromisoformat(tok)
        except ValueError:
            raise _fail(path, int(lines[tokens.index(tok)]),
                        f"eventdate {tok!r} is not a date like '2016-05-09'") from None
        seconds[tok] = float((day - datetime.date(1970, 1, 1)).days * _DAY)
    return np.fromiter(map(seconds.__getitem__, tokens), dtype=np.float64, count=len(tokens))


def _read_cikm(path, encoding):
    r"""Columns of a CIKM Cup 2016 file: (sessions, items, users, timeframes, dates, lines).

    Two streaming passes of the shared strict reader: session, item and timeframe, then
    user and eventdate (it reads two text columns per pass).
    """
    header_line, n_fields, col = _cikm_header(path, encoding)
    first = _TableReader(path, ";", n_fields, header_line, encoding,
                         col["sessionid"], col["itemid"], None, col["timeframe"]).read()
    second = _TableReader(path, ";", n_fields, header_line, encoding,
                          col["userid"], col["eventdate"], None, None).read()
    frame = first.times                                                # (n,) milliseconds
    bad = (frame != np.floor(frame)) | (frame < 0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise _fail(path, int(first.lines[j]), f"timeframe {float(frame[j]):g} is not a "
                                               f"non-negative integer (milliseconds)")
    dates = _cikm_dates(second.items, second.lines, path)              # (n,) seconds
    return first.users, first.items, second.users, frame, dates, first.lines


def _read_session_triples(path, sep, header, comments, encoding):
    """Columns of a ``session item timestamp`` file: (sessions, items, times, lines)."""
    first, sep = _first_lines_and_sep(path, sep, comments, encoding, "events")
    rows = [_split_line(line, sep, path, lineno) for lineno, line in first]
    first_line = first[0][0]
    if len(rows[0]) != 3:
        raise _fail(path, first_line, f"expected 3 fields (session item timestamp), got "
                                      f"{len(rows[0])}")
    if header is None:                    # the rules of load_triples, timestamp numeric
        header = _guess_header(path, first, rows, [2], _TRIPLES_ROLES)
    where = dict(zip(_TRIPLES_ROLES, range(3)))
    if header:                            # names beat positions, as in load_triples
        where = _roles_from_header(path, first_line, rows[0], _TRIPLES_ROLES,
                                   _TRIPLES_ROLES) or where
    if header and len(first) < 2:
        raise _fail(path, None, f"no events (the file holds only the header on line "
                                f"{first_line})")
    cols = _TableReader(path, sep, 3, first_line if header else first_line - 1, encoding,
                        where["session"], where["item"], None, where["timestamp"]).read()
    return cols.users, cols.items, cols.times, cols.lines


def load_sessions(path, format="cikm", *, sep=None, header=None, comments="#",
                  encoding="utf-8"):
    r"""Load a session log: one ordered item sequence per session, with its end time.

    Formats:

    * ``"cikm"``: the CIKM Cup 2016 personalised e-commerce search challenge layout
      (DIGINETICA's ``train-item-views.csv``, the data of the SR-GNN, NARM and STAMP
      papers): ``;``-separated, a header line, then
      ``session_id;user_id;item_id;timeframe;eventdate`` per item view, e.g.
      ``1;NA;81766;526309;2016-05-09``. Columns are found by header name, ignoring case
      and ``_`` (``sessionId`` = ``session_id``); other columns are read for their count
      only. ``timeframe`` is the time since the session began, a non-negative integer
      (milliseconds); ``eventdate`` a date ``YYYY-MM-DD``. A session's events are
      ordered by timeframe, then eventdate, then file order; its end time is its latest
      eventdate, as Unix seconds at 00:00 UTC (the session time of the papers' scripts,
      so ``test_span=7 * 86400`` gives their last-7-days test). ``user_id`` is ``NA``
      for anonymous views; a session takes the user of its lines that name one, and two
      different users in one session are an error.
    * ``"triples"``: ``session item timestamp`` per line, separated by runs of
      whitespace, commas, tabs (detected on the first line, as in :func:`load_triples`,
      or given by ``sep``), fields quoted as in CSV if need be, with an optional header
      (guessed by the rules of :func:`load_triples`, the timestamp being the numeric
      column, or given by ``header``; a header whose names are recognised --
      ``session``, ``session_id``, ``sid``; the item and timestamp names of
      :func:`load_triples` -- assigns the columns by name) and ``#`` comment lines above
      the first line. Timestamps are finite numbers in any unit (an ISO date is an
      error); a session's events are ordered by timestamp, then file order, and its end
      time is its latest timestamp.

    Either format may be gzip-compressed (recognised by its first bytes).

    Raw session, item and user ids are strings numbered in order of first appearance in
    the file (sessions need not be contiguous). Sessions of one event are kept: cleaning
    is :func:`~minigraphrec.sequences.filter_sessions`, the split by time
    :func:`~minigraphrec.sequences.split_sessions_by_time`.

    Parameters
    ----------
    path : path-like
    format : {"cikm", "triples"}
    sep, header, comments : for ``"triples"`` only, as in :func:`load_triples`
    encoding : str, ASCII-compatible

    Returns
    -------
    Sequences
        ``items`` per session, oldest first; ``end_time`` (n_sessions,); ``session_ids``
        (raw, per session); ``item_ids`` (raw, per item); ``users`` (internal, ``-1`` for
        anonymous sessions and for every session of a triples file) and ``user_ids``.

    Raises
    ------
    DataError
        A line with the wrong number of fields, an empty field, a header without the five
        CIKM columns (a header without ``;`` suggests ``format="triples"``), a timeframe
        that is not a non-negative integer, a date that is not ``YYYY-MM-DD``, a NaN / inf
        / non-numeric timestamp, undecodable bytes, two users in one session, a first line
        that may or may not be a header, a file with no events. The message names the file
        and the 1-based line.
    FileNotFoundError
        The file does not exist.
    """
    from ..sequences import Sequences

    if format not in _SESSION_FORMATS:
        raise ValueError(f"format must be one of {_SESSION_FORMATS}, got {format!r}")
    if format == "cikm":
        if sep is not None or header is not None:
            raise ValueError("sep and header apply to format='triples' only (a CIKM file is "
                             "';'-separated with a header)")
        _check_file(path)
        sess_tok, item_tok, user_tok, frame, date, lines = _read_cikm(path, encoding)
        keys = (np.arange(len(lines)), date, frame)            # lexsort: last key first
        end = date
    else:
        if sep is not None and (not isinstance(sep, str) or not sep or "\n" in sep
                                or "\r" in sep):
            raise ValueError(f"sep must be a non-empty string without line breaks, or None "
                             f"to detect it; got {sep!r}")
        sess_tok, item_tok, end, lines = _read_session_triples(path, sep, header, comments,
                                                               encoding)
        user_tok = None
        keys = (np.arange(len(lines)), end)
    session, session_raw = _index_first_appearance(sess_tok)   # (n,), (n_sessions,)
    item, item_raw = _index_first_appearance(item_tok)         # (n,), (n_items,)
    order = np.lexsort(keys + (session,))                      # session, time, file order
    counts = np.bincount(session, minlength=len(session_raw))  # (n_sessions,)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    end_time = np.maximum.reduceat(end[order], indptr[:-1])    # (n_sessions,)

    users = np.full(len(session_raw), -1, dtype=np.int64)      # (n_sessions,)
    user_raw = []
    if user_tok is not None:
        named = np.flatnonzero(np.asarray(user_tok, dtype=object) != "NA")   # file order
        user, user_raw = _index_first_appearance([user_tok[j] for j in named])
        named_session = session[named]                            # (n_named,)
        owner, first = np.unique(named_session, return_index=True)
        users[owner] = user[first]                                # each session's first user
        clash = np.flatnonzero(user != users[named_session])
        if clash.size:
            k = int(clash[0])
            s = int(named_session[k])
            earlier = int(lines[named[first[np.searchsorted(owner, s)]]])
            raise _fail(path, int(lines[named[k]]),
                        f"session {session_raw[s]!r} has user {user_tok[named[k]]!r} here but "
                        f"user {user_raw[users[s]]!r} at line {earlier}")
    return Sequences(indptr, item[order], len(item_raw), users=users,
                     item_ids=np.asarray(item_raw, dtype=str), end_time=end_time,
                     session_ids=np.asarray(session_raw, dtype=str),
                     user_ids=np.asarray(user_raw, dtype=str))
