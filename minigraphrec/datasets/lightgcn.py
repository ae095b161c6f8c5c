r"""LightGCN-format files: one line per user, ``user item item ...``."""
from __future__ import annotations

import re

import numpy as np

from ..data import Interactions
from ._parse import (
    _CR_PROBLEM,
    _check_file,
    _check_on_unknown,
    _count_unknown,
    _decode,
    _fail,
    _open_binary,
    _parse_id,
)

# ================================================================ LightGCN
# bytes that may appear in a well-formed LightGCN line; anything else sends
# the line down the slow path that decodes it and names the bad token
_ADJACENCY_BYTES = b"0123456789 \t\r\n"

# Ids are row indices: max id + 1 rows are allocated, ids never seen included.
# Far more rows than distinct ids means the ids are not 0-based indices (raw
# ids such as 1000000000000, or a file in another format), so a training file
# may use up to _FREE_ROWS rows, and beyond that at most _ROWS_PER_ID rows per
# distinct id (1 row in 100 used); the check runs before any allocation.
_FREE_ROWS = 100_000
_ROWS_PER_ID = 100


_BLANKS = re.compile(r"[ \t]+")          # what separates ids: spaces and tabs, as bytes.split()
_OTHER_SPACE = re.compile(r"[^\S \t]")   # any other whitespace: \v, \f, \x1c, NBSP, ...


def _adjacency_line_slow(raw, path, lineno):
    r"""The ids of one line that the fast path leaves (a byte other than digits and blanks, a
    long token), split at spaces and tabs as the fast path splits; any other whitespace
    (``\v``, ``\f``, ``\x1c``, a no-break space, ...) is an error naming it."""
    text = _decode(raw, path, lineno, "utf-8").rstrip("\r\n")
    other = _OTHER_SPACE.search(text)
    if other:
        raise _fail(path, lineno, f"the character {other.group()!r} (at character "
                                  f"{other.start() + 1}) in {text.strip()[:80]!r}: ids are "
                                  f"separated by spaces or tabs only")
    tokens = _BLANKS.split(text.strip(" \t")) if text.strip(" \t") else []
    return [_parse_id(tok, path, lineno, "user id" if k == 0 else "item id")
            for k, tok in enumerate(tokens)]


def _read_adjacency(path):
    r"""One pass over a LightGCN adjacency-list file.

    Returns ``(line_user, line_count, line_no, items)``: per non-blank line
    its user id, number of items and 1-based line number, and all item ids
    concatenated in file order. Line ``k`` owns
    ``items[offsets[k]:offsets[k + 1]]`` with ``offsets = cumsum(count)``.
    """
    _check_file(path)
    line_user, line_count, line_no, items = [], [], [], []
    first_line_of = {}
    n_lines = 0
    with _open_binary(path) as f:
        for lineno, raw in enumerate(f, 1):
            n_lines = lineno
            if raw.count(b"\r") > raw.endswith(b"\r\n"):      # a \r that ends no line
                raise _fail(path, lineno, _CR_PROBLEM)
            tokens = raw.split()
            if raw.translate(None, _ADJACENCY_BYTES) or (
                    tokens and max(map(len, tokens)) > 18):
                # a byte other than digits/space, or a token long enough to overflow
                ids = _adjacency_line_slow(raw, path, lineno)
            else:
                ids = list(map(int, tokens))
            if not ids:                      # a blank line carries no data
                continue
            user = ids[0]
            if user in first_line_of:
                raise _fail(path, lineno, f"user {user} is listed again (first at line "
                                          f"{first_line_of[user]}); the format has one line "
                                          f"per user")
            first_line_of[user] = lineno
            line_user.append(user)
            line_count.append(len(ids) - 1)
            line_no.append(lineno)
            items.extend(ids[1:])
    if n_lines == 0:
        raise _fail(path, None, "the file is empty")
    if not line_user:
        raise _fail(path, None, f"no interactions (the file holds only blank lines, "
                                f"{n_lines} of them)")
    if not items:
        raise _fail(path, None, f"no interactions in {n_lines} line(s) (every user line "
                                f"lists no items)")
    return (np.asarray(line_user, dtype=np.int64), np.asarray(line_count, dtype=np.int64),
            np.asarray(line_no, dtype=np.int64), np.asarray(items, dtype=np.int64))


def _expand(line_user, line_count):
    return np.repeat(line_user, line_count)                    # (n_interactions,)


def _check_id_space(path, what, ids, line_of):
    """A DataError unless ``max(ids) + 1`` rows fit the bound above (``line_of(k)``: the
    line of ``ids[k]``)."""
    top = int(ids.max())
    if top < _FREE_ROWS:
        return
    n_distinct = len(np.unique(ids))
    if top + 1 <= _ROWS_PER_ID * n_distinct:
        return
    k = int(np.argmax(ids))
    raise _fail(path, int(line_of(k)),
                f"{what} id {top} is far beyond the {n_distinct} distinct {what} ids of the "
                f"file: this format's ids are 0-based row indices, so it would take "
                f"{top + 1} {what} rows (allowed: {_FREE_ROWS}, or {_ROWS_PER_ID} per "
                f"distinct id); renumber the ids 0..n-1, or keep raw ids in a 'user item' "
                f"file read by load_triples")


def load_lightgcn(train_path, test_path=None, *, on_unknown="error"):
    r"""Load the LightGCN ``train.txt`` / ``test.txt`` adjacency-list format.

    Format: one line per user, ``user item item ...``, 0-based non-negative
    integer ids separated by spaces (the files use single spaces; tabs
    and runs of spaces and tabs are accepted too; other whitespace, such as
    ``\v`` or a no-break space, is an error). A user line may list no items.
    Raw ids are the internal ids (``user_ids[u] == u``), so ids never seen
    still get rows: ``n_users = max user id + 1`` and
    ``n_items = max item id + 1`` over both files. As a test id above the
    training maximum is an error (or dropped), that is the training
    maximum + 1. Ids far beyond the number of distinct ids are an error
    (see Raises): they are not row indices. Lines end with ``\n`` or
    ``\r\n``; a gzip-compressed file is read as such (recognised by its
    first bytes).

    Parameters
    ----------
    train_path : path-like
        The training file.
    test_path : path-like, optional
        The test file, same format. Given, the function returns ``(train, test)``.
    on_unknown : {"error", "drop"}
        What to do with a test line whose user id, or an item id, is larger
        than the largest one in the training file (a test line that lists no
        items adds nothing, and its user is not checked). ``"drop"`` drops those
        interactions, logs a warning and sets ``test.n_dropped``. A test
        file whose every interaction is unknown is a ``DataError`` even with
        ``"drop"`` ("all N test interactions are unknown to training"): an
        empty test set would evaluate nothing.

    Returns
    -------
    Interactions or (Interactions, Interactions)
        No weights, no timestamps. Interactions appear in file order.

    Raises
    ------
    DataError
        A token that is not a non-negative integer (``-1``, ``3.0``, ``x``),
        an id above ``2**63 - 1``, whitespace other than spaces and tabs,
        undecodable bytes (the file is read as UTF-8), a zip, bzip2 or xz
        file (to be unpacked first), a ``\r`` inside a line (``\r``-only line
        ends), a user listed
        on two lines, a file with no interactions, an unknown test id
        (``on_unknown="error"``). Also a training id ``m >= 100000`` with
        ``m + 1 > 100 * (number of distinct ids of its kind)``: the ids would
        take ``m + 1`` rows of which more than 99 in 100 never occur (raw
        ids such as ``1000000000000``, not indices), checked before anything
        that size is allocated. The message names the file and the line.
    FileNotFoundError
        A file does not exist (or is not a regular file, such as a device).
    IsADirectoryError
        A path is a folder.

    Notes
    -----
    Blank lines are ignored (they carry no user). Repeated items on a line are
    kept as repeated events, as the LightGCN reference code does.
    """
    _check_on_unknown(on_unknown)
    tr_user, tr_count, tr_line, tr_items = _read_adjacency(train_path)
    _check_id_space(train_path, "user", tr_user, tr_line.__getitem__)
    offsets = np.cumsum(tr_count)                               # (n_lines,) end of each line
    _check_id_space(train_path, "item", tr_items,
                    lambda j: tr_line[np.searchsorted(offsets, j, side="right")])
    max_user, max_item = int(tr_user.max()), int(tr_items.max())
    train_users = _expand(tr_user, tr_count)
    if test_path is None:
        train = Interactions(train_users, tr_items, n_users=max_user + 1, n_items=max_item + 1)
        train.lines = _expand(tr_line, tr_count)                # (n,) for error messages
        return train

    te_user, te_count, te_line, te_items = _read_adjacency(test_path)
    te_users = _expand(te_user, te_count)                       # (n_test,)
    unknown = (te_users > max_user) | (te_items > max_item)     # (n_test,)
    if on_unknown == "error":
        # a line without items adds nothing: its user is not checked
        bad_line_user = np.flatnonzero((te_user > max_user) & (te_count > 0))
        if bad_line_user.size:
            k = bad_line_user[0]
            raise _fail(test_path, int(te_line[k]),
                        f"user {int(te_user[k])} is unknown to training (the largest "
                        f"training user id is {max_user}); pass on_unknown='drop' to drop it")
        if unknown.any():
            j = int(np.flatnonzero(unknown)[0])
            k = int(np.searchsorted(np.cumsum(te_count), j, side="right"))
            raise _fail(test_path, int(te_line[k]),
                        f"item {int(te_items[j])} is unknown to training (the largest "
                        f"training item id is {max_item}); pass on_unknown='drop' to drop it")
    n_dropped = _count_unknown(test_path, unknown)
    train = Interactions(train_users, tr_items, n_users=max_user + 1, n_items=max_item + 1)
    train.lines = _expand(tr_line, tr_count)
    test = Interactions(te_users[~unknown], te_items[~unknown],
                        n_users=max_user + 1, n_items=max_item + 1)
    test.lines = _expand(te_line, te_count)[~unknown]
    test.n_dropped = n_dropped
    return train, test
