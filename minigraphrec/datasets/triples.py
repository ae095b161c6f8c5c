r"""Delimited ``user item [rating [timestamp]]`` files (CSV, TSV, whitespace)."""
from __future__ import annotations

import os
from functools import partial

from ._parse import (
    _QUOTE_HINT,
    _build_string_id_split,
    _check_on_missing,
    _check_on_unknown,
    _check_table_options,
    _fail,
    _first_rows,
    _guess_header,
    _is_iso_datetime,
    _is_time_value,
    _iso_seconds,
    _parse_columns,
    _roles_from_header,
    _sep_note,
    _TableReader,
    _to_seconds,
    logger,
)

_ROLES = ("user", "item", "rating", "timestamp")      # the column roles, in headerless order
# a second positional argument that is a separator, not a test file (sep is keyword-only)
_SEP_LIKE = frozenset((",", "\t", ";", "::", " ", "|", r"\s+", "\\t"))


def _read_triples(path, sep, header, columns, comments, encoding, time_unit, quoting,
                  on_missing):
    """Columns of one file, timestamps in seconds (``time_unit=None``: as written).

    ``columns``: the parsed ``({role: index}, n_fields)`` or None. The timestamps are
    numbers, or ISO-8601 text if the first one is (then read as a text column and
    converted, every one of them).
    """
    given = sep
    first, rows, sep, where = _first_rows(path, sep, comments, encoding, "interactions",
                                          quoting, columns)
    first_line, n_fields = first[0][0], len(rows[0])
    if where is None:                                       # the headerless meaning
        if not 2 <= n_fields <= 4:
            raise _fail(path, first_line, f"expected 2 to 4 fields (user item [rating "
                                          f"[timestamp]]), got {n_fields}; give the roles "
                                          f"of other layouts with columns=")
        where = dict(zip(_ROLES, range(n_fields)))
    if header is None:
        numeric = [where[role] for role in ("rating", "timestamp") if role in where]
        header = _guess_header(path, first, rows, numeric, _ROLES, _is_time_value)
    elif header and all(_is_time_value(x) for x in rows[0]):
        logger.warning("%s: line %d is skipped as a header (header=True), but every field of "
                       "it is a number: if it is data, read it with header=False (--no-header)",
                       os.fspath(path), first_line)
    if header and columns is None:                          # names beat positions
        where = _roles_from_header(path, first_line, rows[0], _ROLES, _ROLES[:2]) or where
    if header and len(first) < 2:
        raise _fail(path, None, f"no interactions (the file holds only the header on line "
                                f"{first_line})")
    col_time = where.get("timestamp")
    if col_time is None and time_unit != "s":
        raise _fail(path, None, f"time_unit={time_unit!r} applies to a timestamp column, and "
                                f"the file has none (name one in the header or in columns=)")
    lineno, row = (first[1][0], rows[1]) if header else (first_line, rows[0])
    iso = None                                  # or (line, token) of the first timestamp
    if col_time is not None and len(row) == n_fields and _is_iso_datetime(row[col_time]):
        iso = (lineno, row[col_time])
    to_seconds = None          # ISO-8601 times: a text column the reader converts per chunk
    if iso:
        hint = f", as the first timestamp is (line {iso[0]}: {iso[1]!r})"
        to_seconds = partial(_iso_seconds, path=path, hint=hint)    # (tokens, lines) -> (n,)
    # every data line, the first included, must then have n_fields fields
    cols = _TableReader(path, sep, n_fields, first_line if header else first_line - 1,
                        encoding, where["user"], where["item"], where.get("rating"),
                        None if iso else col_time,
                        extra=[(col_time, "timestamp", False, to_seconds)] if iso else (),
                        quoting=quoting, quote_hint=_QUOTE_HINT,
                        on_missing=on_missing, iso_times=True,
                        sep_note=_sep_note(given, sep, first_line),
                        comments=comments is not None).read()
    if iso:
        cols.times, = cols.extra                                        # (n,) seconds
        cols.extra = ()
    if col_time is not None:
        cols.times = _to_seconds(cols.times, time_unit, cols.lines, path, iso)   # (n,)
    return cols


def load_triples(path, test_path=None, *, sep=None, header=None, columns=None,
                 on_unknown="error", on_missing="error", time_unit="s", quoting=True,
                 comments="#", encoding="utf-8"):
    r"""Load delimited ``user item [rating [timestamp]]`` lines.

    Format: one interaction per line, the same number of fields on every
    line. Without a header or ``columns``, the fields are user, item, then
    optionally a rating (becomes ``weights``, a finite number) and a
    timestamp (becomes ``timestamps``, Unix seconds). A header that names its columns
    assigns the roles by name instead (``user_id,item_id,timestamp`` has no
    rating; ``asin,reviewerID,overall`` puts the item first), and
    ``columns`` gives them explicitly for any layout. Ids are raw strings of
    any form (``42``, ``u17``, ``a3f9-...``), mapped to contiguous 0-based
    internal ids in order of first appearance in the training file;
    ``user_ids`` / ``item_ids`` keep them as strings. Fields are stripped of
    surrounding blanks. Fields may be quoted as in CSV (RFC 4180): a field
    starting with ``"`` runs to the closing ``"``, may hold the separator,
    and writes a quote inside as ``""``; its text is kept as it is. A quote
    that does not close on its line is an error. Blank lines are ignored, and
    so is a block of comment lines (first non-blank characters ``comments``)
    above the first line (header or data); they are logged, with a warning
    if they split into as many fields as the data. Below it a line starting
    with ``#`` is data (ids such as ``#u1`` exist). A gzip-compressed file
    is read as such (recognised by its first bytes, whatever its name).

    Timestamps: in each file, every timestamp has the form of the first: a
    finite number, in ``time_unit``, converted to seconds (``t / 1000`` for
    ``"ms"``); or ISO-8601 text, ``YYYY-MM-DD`` optionally followed by
    ``THH:MM[:SS[.fff]]`` (a blank for ``T``, any number of fraction digits,
    truncated to microseconds) and ``Z`` or an offset ``+HH:MM`` / ``+HHMM``
    / ``+HH``, no zone meaning UTC, read as Unix seconds
    (``days·86400 + h·3600 + m·60 + s − offset``): Last.fm-1K's
    ``2009-05-04T23:08:57Z`` is 1241478537.0, ``2016-05-09`` is 1462752000.0.
    ``timestamps`` are thus Unix seconds (float64), the unit in which the
    ``half_life`` of :func:`~minigraphrec.graph.time_decay_weights` and the
    ``gap`` of :func:`~minigraphrec.sequences.sessions_by_gap` are then
    given; with ``time_unit=None`` numeric ones stay as written.

    Parameters
    ----------
    path : path-like
        The (training) file.
    test_path : path-like, optional
        A test file (separator and header detected separately unless
        ``sep`` / ``header`` are given; ``columns`` applies to both).
        Given, the function returns ``(train, test)`` in the training id
        space. The one argument after ``path`` that may be given by position,
        as in :func:`load_lightgcn` and :func:`load_recbole`
        (``load_triples(train, test)``); every other one is keyword-only.
    sep : str, optional
        Field separator, taken literally (``","``, ``"\t"``, ``"::"``, ``";"``,
        ...), or ``r"\s+"`` for runs of whitespace (as in pandas). Default:
        detected on the first non-comment line of each file -- ``"::"`` if it
        occurs there outside quotes (MovieLens-1M), else tab, else comma, else
        ``";"`` (Book-Crossing's ``"276725";"034545104X";"0"``), else runs of
        whitespace. If that line holds several of them outside quotes, those
        that split each of the first 20 data lines into as many fields are in
        the running, and of these the one that gives ``len(columns)`` fields,
        else the one that gives the most: ``1;2;4,5`` (decimal commas) is
        ``;``, 3 fields, and a TSV with commas in its names or ISO-8601
        fractions is tab. If that leaves no single one (``a;4,5``: 2 fields
        either way), a DataError names them and asks for ``sep``.
    header : bool, optional
        Whether the first non-comment line is a header (skipped; it must have
        as many fields as the data). Default: guessed where the lines leave
        no doubt, else a DataError at line 1 asks for ``header=True`` or
        ``header=False``. A line with an empty field or a missing-value mark
        (``NA``, ``NaN``, ``null``) is data; a line whose every field is a
        recognised column name (below) is a header; a line with a number (or
        an ISO-8601 date-time) in it is data; a line whose rating or
        timestamp field is a word while the next line has a number (or
        date-time) there is a header, with a warning naming it (``u1,i1,-``
        may be data with a bad rating; pass ``header`` to say which). Two
        columns of word ids (``alice,book``, Amazon's
        ``A2SUAM1J3GNN3B,B00005N7P0``) look the same either way: pass
        ``header``.
    columns : sequence or str, optional
        The role of every field, in file order: ``"user"``, ``"item"``,
        ``"rating"``, ``"timestamp"``, or None / ``"-"`` for a column to
        skip, e.g. ``("item", "user", "rating", "timestamp")`` for Amazon's
        ratings-only files, or the string ``"user,item,-,timestamp"``. User
        and item are required; every line must have ``len(columns)`` fields;
        a header's names are then not used (the header is still detected
        and skipped). Default: from the header's names when it has a header
        whose names are recognised, else by position (user, item, rating,
        timestamp; 2 to 4 fields).

        Recognised header names, compared without case and without ``_``,
        ``-``, ``.`` and blanks (``userId`` = ``user_id``) -- user: ``user``,
        ``userid``, ``uid``, ``customer``, ``customerid``, ``reviewer``,
        ``reviewerid``, ``visitor``, ``visitorid``; item: ``item``, ``itemid``,
        ``iid``, ``movie``, ``movieid``, ``product``, ``productid``, ``asin``,
        ``business``, ``businessid``, ``book``, ``bookid``, ``isbn``,
        ``track``, ``trackid``, ``song``, ``songid``, ``artist``, ``artistid``,
        ``article``, ``articleid``; rating: ``rating``, ``bookrating``, ``score``, ``stars``,
        ``overall``, ``weight``, ``count``, ``clicks``, ``plays``,
        ``playcount``; timestamp: ``timestamp``, ``time``, ``ts``,
        ``unixtime``, ``unixreviewtime``, ``datetime``, ``date``,
        ``eventtime``. A header with some recognised names must name every
        column, each role once, user and item included; else it is a
        DataError (give ``columns``). A header with no recognised name keeps
        the positional meaning.
    on_unknown : {"error", "drop"}
        What to do with a test interaction whose user or item does not
        occur in training; ``"drop"`` drops it, logs a warning and sets
        ``test.n_dropped``. A test file whose every interaction is unknown
        is a :class:`~minigraphrec.errors.DataError` even with ``"drop"``
        ("all N test interactions are unknown to training"): an empty test
        set would evaluate nothing.
    on_missing : {"error", "drop", "keep"}
        What to do with a line whose user or item id is missing: an empty
        field, or a missing-value mark -- ``NA``, ``N/A``, ``NaN``, ``null``,
        ``None``, ``nil`` or ``?``, in any case (pandas reads most of these as
        NaN). ``"error"`` (the default) stops at the line; ``"drop"`` drops the
        line (in training and test files alike) and logs a warning with the
        count and the first lines dropped (``lines`` keeps the file line of
        each interaction kept); ``"keep"`` reads a mark as an ordinary id (an
        artist called ``Nil``), while an empty field stays an error.
    time_unit : {"s", "ms", "us", "ns"} or None
        The unit of numeric timestamps, converted to seconds (exports that
        write Unix milliseconds, such as Retailrocket's, are ``"ms"``). A
        timestamp 1e11 seconds or more from 1970 (the year 5138) is an error
        that names the unit that fits: it is a finer unit read as seconds.
        None keeps the numbers as they are, in their own unit (day numbers,
        say). ISO-8601 timestamps are always seconds (a unit other than
        ``"s"`` or None for them is an error), and a file without a
        timestamp column takes only ``"s"``.
    quoting : bool
        True reads CSV quoting (above); False reads ``"`` as an ordinary
        character everywhere (a TSV dump whose names hold quotes, such as
        ``"Weird Al" Yankovic``).
    comments : str or None
        Prefix of the comment lines skipped above the first line (a non-empty
        string); ``None`` skips none (a headerless file whose first id starts
        with ``#``).
    encoding : str
        Text encoding, ASCII-compatible (UTF-8, the default; latin-1;
        cp1252; ...): lines are split at the byte ``\n``. Checked before the
        file is read: an unknown name, or an encoding whose ASCII characters
        are not single ASCII bytes (UTF-16, EBCDIC), is a ValueError. A file
        starting with a UTF-16 byte-order mark is a DataError. Lines end with
        ``\n`` or ``\r\n``; a ``\r`` alone (classic Mac OS) is an error.

    Returns
    -------
    Interactions or (Interactions, Interactions)
        Interactions in file order; ``weights`` / ``timestamps`` present when
        the file has a rating / timestamp column, timestamps in seconds
        (``time_unit=None``: as written).

    Raises
    ------
    DataError
        A line with a different number of fields (or, without ``columns``,
        fewer than 2 or more than 4; the message names the separator when it
        was detected), an empty field, an id longer than 1,024 characters
        (a wrong separator or column), a missing id
        (``on_missing="error"``; every line dropped under ``"drop"``), a rating that is not a
        finite number written in ASCII (``nan``, ``inf``, ``1e999``, dates,
        ``1_000``, non-ASCII digits such as ``٥``), a timestamp that
        is not one either (or, after an ISO-8601 first one, not ISO-8601 text
        with valid values), a timestamp too far from 1970 for ``time_unit``,
        a ``time_unit`` for a file without timestamps, an unbalanced quote
        (``quoting=True``), a ``\r`` inside a line, a NUL character,
        undecodable bytes, a UTF-16 byte-order mark, a zip, bzip2 or xz file
        (to be unpacked first), a separator that cannot
        be told (``sep=None``), a first line that may or may not be a header
        (``header=None``), a header whose names do not give every column a
        role, a file with no data lines, an unknown test id
        (``on_unknown="error"``). The message names the file and the line.
    FileNotFoundError
        A file does not exist (or is not a regular file, such as a device).
    IsADirectoryError
        A path is a folder.
    ValueError
        A bad ``sep``, ``header``, ``columns``, ``on_unknown``, ``on_missing``,
        ``time_unit``, ``quoting``, ``comments`` or ``encoding`` argument.
    TypeError
        A separator (``","``, ``"\t"``, ...) that names no file given as the
        second positional argument, ``test_path``: ``sep`` is keyword-only.
    """
    if isinstance(test_path, str) and test_path in _SEP_LIKE and not os.path.exists(test_path):
        raise TypeError(f"load_triples: test_path={test_path!r} looks like a separator; sep is "
                        f"keyword-only: load_triples(path, sep={test_path!r}), and the test "
                        f"file goes second or as test_path=")
    _check_on_unknown(on_unknown)
    _check_on_missing(on_missing)
    _check_table_options(sep, header, time_unit, quoting, encoding, comments)
    columns = None if columns is None else _parse_columns(columns, _ROLES, _ROLES[:2])
    options = (sep, header, columns, comments, encoding, time_unit, quoting, on_missing)
    train_cols = _read_triples(path, *options)
    test_cols = None if test_path is None else _read_triples(test_path, *options)
    return _build_string_id_split(path, train_cols, test_path, test_cols, on_unknown)
