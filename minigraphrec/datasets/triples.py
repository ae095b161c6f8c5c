r"""Delimited ``user item [rating [timestamp]]`` files (CSV, TSV, whitespace)."""
from __future__ import annotations

from ._parse import (
    _build_string_id_split,
    _check_on_unknown,
    _fail,
    _first_lines_and_sep,
    _is_number,
    _split_fields,
    _TableReader,
)


def _read_triples(path, sep, header, comments, encoding):
    first, sep = _first_lines_and_sep(path, sep, comments, encoding, "interactions")
    fields = [_split_fields(line, sep) for _, line in first]
    if header is None:
        # a header names every column; ratings and timestamps are numbers,
        # so an all-words first line with 3+ fields cannot be data; with two
        # fields it is a header only if the next line has a numeric id
        words = not any(_is_number(x) for x in fields[0])
        if len(fields[0]) >= 3:
            header = words
        else:
            header = words and len(first) > 1 and any(_is_number(x) for x in fields[1][:2])
    first_line, n_fields = first[0][0], len(fields[0])
    if not 2 <= n_fields <= 4:
        raise _fail(path, first_line, f"expected 2 to 4 fields (user item [rating "
                                      f"[timestamp]]), got {n_fields}")
    if header and len(first) < 2:
        raise _fail(path, None, f"no interactions (the file holds only the header on line "
                                f"{first_line})")
    # every data line, the first included, must then have n_fields fields
    reader = _TableReader(path, sep, n_fields, first_line if header else None, comments,
                          encoding, 0, 1, 2 if n_fields >= 3 else None,
                          3 if n_fields == 4 else None)
    return reader.read()


def load_triples(path, sep=None, header=None, test_path=None, *, on_unknown="error",
                 comments="#", encoding="utf-8"):
    r"""Load delimited ``user item [rating [timestamp]]`` lines.

    Format: one interaction per line with 2, 3 or 4 fields, the same number
    on every line: user, item, then optionally a rating (becomes
    ``weights``) and a timestamp (becomes ``timestamps``), both finite
    numbers. Ids are raw strings of any form (``42``, ``u17``,
    ``a3f9-...``), mapped to contiguous 0-based internal ids in order of
    first appearance in the training file; ``user_ids`` / ``item_ids`` keep
    them as strings. Fields are stripped of surrounding whitespace. Blank
    lines and lines whose first non-blank character starts ``comments``
    are ignored (a ``#`` inside a line is data). There is no quoting.

    Parameters
    ----------
    path : path-like
        The (training) file.
    sep : str, optional
        Field separator, taken literally (``","``, ``"\t"``, ``"::"``, ``";"``,
        ...), or ``r"\s+"`` for runs of whitespace (as in pandas). Default:
        detected on the first non-comment line of each file -- ``"::"`` if it
        occurs there (MovieLens-1M), else tab, else comma, else runs of
        whitespace.
    header : bool, optional
        Whether the first non-comment line is a header (skipped; it must
        have as many fields as the data). Default: detected -- it is a header
        when none of its fields is a number and either it has 3 or more
        fields (ratings and timestamps are numbers, so it cannot be data)
        or the next line starts with a numeric id. A two-column file whose
        ids are words (``user,item`` / ``alice,book``) cannot be told
        apart: pass ``header`` explicitly.
    test_path : path-like, optional
        A test file (format detected separately unless ``sep`` / ``header``
        are given). Given, the function returns ``(train, test)`` in the
        training id space.
    on_unknown : {"error", "drop"}
        What to do with a test interaction whose user or item does not
        occur in training; ``"drop"`` drops it, logs a warning and sets
        ``test.n_dropped``.
    comments : str or None
        Prefix of comment lines; ``None`` turns comments off.
    encoding : str
        Text encoding, ASCII-compatible (UTF-8, the default; latin-1;
        cp1252; ...): lines are split at the byte ``\n``.

    Returns
    -------
    Interactions or (Interactions, Interactions)
        Interactions in file order; ``weights`` / ``timestamps`` present when
        the file has a 3rd / 4th column.

    Raises
    ------
    DataError
        A line with a different number of fields (or fewer than 2, more than
        4), an empty field, a rating or timestamp that is not a finite
        number (``nan``, ``inf``, ``1e999``, dates), undecodable bytes, a
        file with no data lines, an unknown test id (``on_unknown="error"``).
        The message names the file and the line.
    FileNotFoundError
        A file does not exist.
    """
    _check_on_unknown(on_unknown)
    if sep is not None and (not isinstance(sep, str) or not sep or "\n" in sep
                            or "\r" in sep):
        raise ValueError(f"sep must be a non-empty string without line breaks, or None "
                         f"to detect it; got {sep!r}")
    train_cols = _read_triples(path, sep, header, comments, encoding)
    test_cols = (None if test_path is None
                 else _read_triples(test_path, sep, header, comments, encoding))
    return _build_string_id_split(path, train_cols, test_path, test_cols, on_unknown)
