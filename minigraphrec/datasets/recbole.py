r"""RecBole atomic ``.inter`` files with a typed header."""
from __future__ import annotations

from ..errors import check_bool
from ._parse import (
    _QUOTE_HINT,
    _build_string_id_split,
    _check_encoding,
    _check_file,
    _check_on_missing,
    _check_on_unknown,
    _fail,
    _first_lines,
    _TableReader,
)

# ================================================================ RecBole
_RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")


def _read_recbole(path, fields, encoding, quoting, on_missing):
    _check_file(path)
    first = _first_lines(path, None, encoding, n=1)
    if not first:
        raise _fail(path, None, "the file is empty (a RecBole file starts with a typed "
                                "header such as 'user_id:token')")
    header_line, header = first[0]
    names, types = [], []
    for k, entry in enumerate(header.split("\t")):
        parts = entry.strip().split(":")
        if len(parts) != 2 or not parts[0] or parts[1] not in _RECBOLE_TYPES:
            raise _fail(path, header_line, f"header field {k + 1} {entry!r} is not "
                                           f"'name:type' with type one of {_RECBOLE_TYPES}")
        if parts[0] in names:
            raise _fail(path, header_line, f"header names column {parts[0]!r} twice")
        names.append(parts[0])
        types.append(parts[1])
    columns = {}
    for role, (name, wanted, required) in fields.items():
        if name not in names:
            if required:
                raise _fail(path, header_line, f"no {name!r} column in the header "
                                               f"(columns: {names})")
            columns[role] = None
            continue
        col = names.index(name)
        if types[col] != wanted:
            raise _fail(path, header_line, f"column {name!r} has type {types[col]!r}, "
                                           f"expected {wanted!r}")
        columns[role] = col
    reader = _TableReader(path, "\t", len(names), header_line, encoding,
                          columns["user"], columns["item"], columns["rating"], columns["time"],
                          quoting=quoting, quote_hint=_QUOTE_HINT, on_missing=on_missing)
    return reader.read()


def load_recbole(path, test_path=None, *, user_field="user_id", item_field="item_id",
                 rating_field="rating", time_field="timestamp", on_unknown="error",
                 on_missing="error", quoting=True, encoding="utf-8"):
    r"""Load a RecBole atomic ``.inter`` file.

    Format (RecBole's "atomic files"): tab-separated, the first line a typed
    header whose entries are ``name:type`` with type ``token``,
    ``token_seq``, ``float`` or ``float_seq``, e.g. (columns separated by
    single tabs, shown here as spaces)::

        user_id:token   item_id:token   rating:float   timestamp:float
        1               1193            5              978300760

    The user and item columns are picked by name (``token`` type) and the
    rating and timestamp columns too (``float`` type; both optional). Any
    other column (``review:token_seq``, ``label:float``, ...) is read for
    its field count only and otherwise ignored. Ids are raw strings, mapped
    to contiguous internal ids in order of first appearance, as in
    :func:`load_triples`. Blank lines are ignored; there are no comment
    lines (``#`` may start a token). Fields may be quoted as in CSV, as
    RecBole's own reader (pandas) reads them (``quoting=False`` reads ``"`` as an
    ordinary character); a gzip-compressed file is read as such.

    Parameters
    ----------
    path : path-like
        The ``.inter`` file (e.g. ``ml-1m.inter`` or ``ml-1m.train.inter``).
    test_path : path-like, optional
        A test ``.inter`` file (its header may order the columns
        differently). Given, the function returns ``(train, test)``.
    user_field, item_field, rating_field, time_field : str
        Column names, RecBole's defaults (``USER_ID_FIELD`` etc.).
    on_unknown, on_missing, encoding
        As in :func:`load_triples`: ``on_missing`` says what a line whose user or item
        id is empty or a missing-value mark (``NA``, ``null``, ...) is -- an error,
        dropped (``"drop"``, logged) or, for a mark, an id (``"keep"``).
        ``on_unknown="drop"`` drops test interactions unknown to training, but a test
        file whose every interaction is unknown is still a ``DataError`` ("all N test
        interactions are unknown to training"): an empty test set would evaluate
        nothing.
    quoting : bool
        True reads CSV quoting; False reads ``"`` as an ordinary character, in every
        column (a ``token_seq`` of names such as ``"Weird Al" Yankovic``, even in a
        column that is otherwise ignored, is unreadable as CSV).

    Returns
    -------
    Interactions or (Interactions, Interactions)

    Raises
    ------
    DataError
        A header entry that is not ``name:type``, a missing user or item
        column, a column of the wrong type, a line with another number of
        fields than the header, an empty field, a missing id
        (``on_missing="error"``), an id longer than 1,024 characters, a NaN /
        inf / non-numeric rating or timestamp (an ISO-8601 date included: the
        format's timestamps are numbers), an unbalanced quote
        (``quoting=True``), undecodable bytes, a NUL character, a zip, bzip2 or
        xz file (to be unpacked first), no data lines, an unknown test id. The
        message names the file and the line.
    FileNotFoundError
        A file does not exist (or is not a regular file, such as a device).
    IsADirectoryError
        A path is a folder.
    ValueError
        A bad ``on_unknown``, ``on_missing``, ``quoting`` or ``encoding`` argument.
    """
    _check_on_unknown(on_unknown)
    _check_on_missing(on_missing)
    check_bool(quoting, "quoting")
    _check_encoding(encoding)
    fields = {"user": (user_field, "token", True), "item": (item_field, "token", True),
              "rating": (rating_field, "float", False), "time": (time_field, "float", False)}
    options = (fields, encoding, quoting, on_missing)
    train_cols = _read_recbole(path, *options)
    test_cols = None if test_path is None else _read_recbole(test_path, *options)
    return _build_string_id_split(path, train_cols, test_path, test_cols, on_unknown)
