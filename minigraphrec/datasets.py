r"""Data sets: loaders for the usual interaction files, and embedded data.

Loaders (all stream their files -- a line, or a few MB of whole lines, at a
time, never the whole file as one string -- and all are strict: anything
they cannot read exactly raises :class:`~minigraphrec.errors.DataError`
naming the file, the 1-based line and the problem; nothing is skipped
silently):

* :func:`load_lightgcn` -- LightGCN ``train.txt`` / ``test.txt`` adjacency lists;
* :func:`load_triples` -- delimited ``user item [rating [timestamp]]`` lines;
* :func:`load_recbole` -- RecBole atomic ``.inter`` files with a typed header;
* :func:`load_movielens_100k` -- the GroupLens MovieLens-100K folder, with
  user and item feature matrices;
* :func:`fetch_movielens_100k` -- download MovieLens-100K once, verify its
  SHA-256, cache it, load it.

Embedded data, so that the demo and the tests need no download:

* :func:`synthetic` -- a seeded generator with planted communities and known
  generating probabilities (an oracle to compare models against);
* :func:`article_toy` -- the article's 10 users x 10 items example.

Conventions shared by every loader
----------------------------------
* A missing file raises ``FileNotFoundError`` naming the path (it is not
  malformed data, so it is not a ``DataError``).
* Given a test file, a loader returns ``(train, test)`` sharing one id space
  (the training one). A test interaction whose user or item the training
  file does not know is an error by default; with ``on_unknown="drop"`` it
  is dropped, a ``logging`` warning says how many, and ``test.n_dropped``
  holds the count (``0`` when nothing was dropped).
* Blank lines are ignored. A file with no interactions (empty, or only a
  header, comments or blank lines) is an error.
* Repeated (user, item) pairs are kept as repeated events; see
  :class:`~minigraphrec.data.Interactions`.
"""
from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from .data import Interactions
from .errors import DataError

__all__ = [
    "load_lightgcn", "load_triples", "load_recbole", "load_movielens_100k",
    "fetch_movielens_100k", "synthetic", "SyntheticTruth", "article_toy",
    "ML100K_URL", "ML100K_SHA256",
]

logger = logging.getLogger(__name__)

_INT64_MAX = int(np.iinfo(np.int64).max)
_ON_UNKNOWN = ("error", "drop")


# =========================================================== shared helpers
def _fail(path, lineno, problem):
    """A DataError whose message starts with ``<file>, line <n>:``."""
    where = os.fspath(path) if lineno is None else f"{os.fspath(path)}, line {lineno}"
    return DataError(f"{where}: {problem}")


def _decode(raw, path, lineno, encoding):
    """Decode one line of bytes; undecodable bytes are a DataError at that line.

    A UTF-8 byte-order mark at the start of line 1 is removed.
    """
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start:exc.end]
        raise _fail(path, lineno, f"undecodable bytes {bad!r} at byte {exc.start + 1} of the "
                                  f"line (the file is read as {encoding})") from None
    if lineno == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return text


def _parse_id(token, path, lineno, what):
    """An integer id: ASCII digits only, ``0 <= id <= 2**63 - 1``."""
    if not (token.isascii() and token.isdigit()):
        raise _fail(path, lineno, f"{what} {token!r} is not a non-negative integer")
    value = int(token)
    if value > _INT64_MAX:
        raise _fail(path, lineno, f"{what} {token} overflows int64 (largest allowed is "
                                  f"{_INT64_MAX})")
    return value


def _parse_float(token, path, lineno, what):
    """A finite float; NaN and inf are errors."""
    try:
        value = float(token)
    except ValueError:
        raise _fail(path, lineno, f"{what} {token!r} is not a number") from None
    if not math.isfinite(value):
        raise _fail(path, lineno, f"{what} {token!r} is not finite")
    return value


def _is_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def _check_on_unknown(on_unknown):
    if on_unknown not in _ON_UNKNOWN:
        raise ValueError(f"on_unknown must be one of {_ON_UNKNOWN}, got {on_unknown!r}")


def _check_file(path):
    """Raise FileNotFoundError naming ``path`` unless it is a readable file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {os.fspath(path)}")


def _report_dropped(test_path, n_dropped, n_total):
    if n_dropped:
        logger.warning("%s: dropped %d of %d test interactions whose user or item is unknown "
                       "to training (on_unknown='drop')", os.fspath(test_path), n_dropped,
                       n_total)


# ================================================================ LightGCN
# bytes that may appear in a well-formed LightGCN line; anything else sends
# the line down the slow path that decodes it and names the bad token
_ADJACENCY_BYTES = b"0123456789 \t\r\n"


def _adjacency_line_slow(raw, path, lineno):
    text = _decode(raw, path, lineno, "utf-8")
    tokens = text.split()
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
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            n_lines = lineno
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
    if not items:
        raise _fail(path, None, f"no interactions in {n_lines} line(s) (every user line "
                                f"lists no items)")
    return (np.asarray(line_user, dtype=np.int64), np.asarray(line_count, dtype=np.int64),
            np.asarray(line_no, dtype=np.int64), np.asarray(items, dtype=np.int64))


def _expand(line_user, line_count):
    return np.repeat(line_user, line_count)                    # (n_interactions,)


def load_lightgcn(train_path, test_path=None, *, on_unknown="error"):
    r"""Load the LightGCN ``train.txt`` / ``test.txt`` adjacency-list format.

    Format: one line per user, ``user item item ...``, 0-based non-negative
    integer ids separated by whitespace (the files use single spaces; tabs
    and runs of blanks are accepted too). A user line may list no items.
    Raw ids are the internal ids (``user_ids[u] == u``), so ids never seen
    still get rows: ``n_users = max user id + 1`` and
    ``n_items = max item id + 1`` over both files. As a test id above the
    training maximum is an error (or dropped), that is the training
    maximum + 1.

    Parameters
    ----------
    train_path : path-like
        The training file.
    test_path : path-like, optional
        The test file, same format. Given, the function returns ``(train, test)``.
    on_unknown : {"error", "drop"}
        What to do with a test line whose user id, or an item id, is larger
        than the largest one in the training file. ``"drop"`` drops those
        interactions, logs a warning and sets ``test.n_dropped``.

    Returns
    -------
    Interactions or (Interactions, Interactions)
        No weights, no timestamps. Interactions appear in file order.

    Raises
    ------
    DataError
        A token that is not a non-negative integer (``-1``, ``3.0``, ``x``),
        an id above ``2**63 - 1``, undecodable bytes (the file is read as
        UTF-8), a user listed on two lines, a file with no interactions, an
        unknown test id (``on_unknown="error"``). The message names the file
        and the line.
    FileNotFoundError
        A file does not exist.

    Notes
    -----
    Blank lines are ignored (they carry no user). Repeated items on a line are
    kept as repeated events, as the LightGCN reference code does.
    """
    _check_on_unknown(on_unknown)
    tr_user, tr_count, tr_line, tr_items = _read_adjacency(train_path)
    max_user, max_item = int(tr_user.max()), int(tr_items.max())
    train_users = _expand(tr_user, tr_count)
    if test_path is None:
        return Interactions(train_users, tr_items, n_users=max_user + 1, n_items=max_item + 1)

    te_user, te_count, te_line, te_items = _read_adjacency(test_path)
    te_users = _expand(te_user, te_count)                       # (n_test,)
    unknown = (te_users > max_user) | (te_items > max_item)     # (n_test,)
    if on_unknown == "error":
        bad_line_user = np.flatnonzero(te_user > max_user)
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
    n_dropped = int(unknown.sum())
    if n_dropped == len(te_items):
        raise _fail(test_path, None, f"all {n_dropped} test interactions are unknown to "
                                     f"training")
    _report_dropped(test_path, n_dropped, len(te_items))
    train = Interactions(train_users, tr_items, n_users=max_user + 1, n_items=max_item + 1)
    test = Interactions(te_users[~unknown], te_items[~unknown],
                        n_users=max_user + 1, n_items=max_item + 1)
    test.n_dropped = n_dropped
    return train, test


# ============================================================ text tables
# Delimited files are read a chunk of whole lines (~4 MB) at a time. A chunk
# is parsed with whole-chunk string operations when it looks regular (no
# comment, no blank line, the right field count everywhere, numbers that
# parse and are finite); otherwise, and whenever anything is off, the chunk is
# re-read line by line by `_TableReader._chunk_by_line`, the reference path,
# which decides what is an error and words the message. Both paths give the
# same columns (tested by running the same file through either).
_CHUNK_BYTES = 1 << 22
_SPACE_RUN = re.compile(r"[^\S\n]+")           # \s matches exactly str.isspace()
_EDGE_SPACE = re.compile(r"^ | $", re.M)
_ODD_ASCII_SPACE = "\t\r\f\v\x1c\x1d\x1e\x1f"


def _has_space_besides(text, d):
    """Whether fields may need stripping: non-ASCII text, or whitespace besides ``\\n``, ``d``."""
    return not text.isascii() or any(c in text for c in " " + _ODD_ASCII_SPACE if c != d)


def _single_spaced(text):
    """Whether whitespace in ``text`` is only single spaces between tokens and ``\\n``."""
    return not ("  " in text or "\n " in text or " \n" in text or text.startswith(" ")
                or text.endswith(" ") or any(c in text for c in _ODD_ASCII_SPACE)
                or (not text.isascii() and _SPACE_RUN.sub(" ", text) != text))


def _whole_line_blocks(f):
    """Yield the bytes of binary file ``f`` in blocks of about ``_CHUNK_BYTES`` whole lines."""
    rest = b""
    while True:
        block = f.read(_CHUNK_BYTES)
        if not block:
            if rest:
                yield rest                  # the last line, without a final newline
            return
        block = rest + block
        cut = block.rfind(b"\n") + 1       # 0: no line ends here yet, read on
        rest = block[cut:]
        if cut:
            yield block[:cut]


def _first_lines(path, comments, encoding, n=2):
    """The first ``n`` non-blank, non-comment lines as ``(lineno, line)``."""
    found = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = _decode(raw, path, lineno, encoding).rstrip("\r\n")
            stripped = line.strip()
            if not stripped or (comments and stripped.startswith(comments)):
                continue
            found.append((lineno, line))
            if len(found) == n:
                break
    return found


_WHITESPACE = r"\s+"                     # the `sep` that means runs of whitespace


def _detect_sep(line):
    """``'::'`` > tab > comma > whitespace (None), by what the line contains."""
    for candidate in ("::", "\t", ","):
        if candidate in line:
            return candidate
    return None


def _split_fields(line, sep):
    """Fields of one line: runs of whitespace (``sep=None``) or ``sep``, stripped."""
    if sep is None:
        return line.split()
    return [x.strip() for x in line.split(sep)]


class _Columns:
    """One file's interactions: raw id tokens, floats and 1-based line numbers."""

    def __init__(self, users, items, weights, times, lines):
        self.users = users        # list[str], (n,)
        self.items = items        # list[str], (n,)
        self.weights = weights    # ndarray (n,) or None
        self.times = times        # ndarray (n,) or None
        self.lines = lines        # ndarray of int64, (n,)


class _TableReader:
    r"""Stream one delimited file into :class:`_Columns`.

    Parameters: the separator (``None``: runs of whitespace), the number of
    fields every data line has, the line number of the header to skip (or
    ``None``), the comment prefix (or ``None``), the encoding, and the
    column indices of user, item, rating and timestamp (the last two may be
    ``None``). Other columns are checked for their count only.
    """

    def __init__(self, path, sep, n_fields, header_line, comments, encoding,
                 col_user, col_item, col_weight, col_time):
        self.path, self.sep, self.n_fields = path, sep, n_fields
        self.header_line, self.comments, self.encoding = header_line, comments, encoding
        self.col_user, self.col_item = col_user, col_item
        self.col_weight, self.col_time = col_weight, col_time
        # a line whose first non-blank characters are the comment prefix
        self.comment_line = (None if not comments
                             else re.compile(r"(?:^|\n)[^\S\n]*" + re.escape(comments)))

    def read(self):
        users, items, weights, times, lines = [], [], [], [], []
        start = 0                                   # lines before the current chunk
        with open(self.path, "rb") as f:
            for chunk in _whole_line_blocks(f):
                part = self._chunk_fast(chunk, start) or self._chunk_by_line(chunk, start)
                for acc, new in zip((users, items, weights, times, lines), part):
                    acc.append(new)
                start += chunk.count(b"\n") + (not chunk.endswith(b"\n"))
        if sum(len(x) for x in lines) == 0:
            raise _fail(self.path, None, "no interactions (the file is empty or holds only a "
                                         "header, comments or blank lines)")
        return _Columns(
            list(chain.from_iterable(users)), list(chain.from_iterable(items)),
            None if self.col_weight is None else np.concatenate(weights),
            None if self.col_time is None else np.concatenate(times),
            np.concatenate(lines).astype(np.int64))

    # ---------------------------------------------------- reference path
    def _chunk_by_line(self, chunk, start):
        users, items, weights, times, lines = [], [], [], [], []
        for lineno, raw in enumerate(io.BytesIO(chunk), start + 1):   # lines end at b"\n"
            line = _decode(raw, self.path, lineno, self.encoding).rstrip("\r\n")
            stripped = line.strip()
            if (not stripped or lineno == self.header_line
                    or (self.comments and stripped.startswith(self.comments))):
                continue
            fields = _split_fields(line, self.sep)
            if len(fields) != self.n_fields:
                raise _fail(self.path, lineno, f"expected {self.n_fields} fields, got "
                                               f"{len(fields)} in {stripped[:80]!r}")
            for what, col in (("user", self.col_user), ("item", self.col_item)):
                if not fields[col]:
                    raise _fail(self.path, lineno, f"empty {what} id in {stripped[:80]!r}")
            users.append(fields[self.col_user])
            items.append(fields[self.col_item])
            if self.col_weight is not None:
                weights.append(_parse_float(fields[self.col_weight], self.path, lineno,
                                            "rating"))
            if self.col_time is not None:
                times.append(_parse_float(fields[self.col_time], self.path, lineno,
                                          "timestamp"))
            lines.append(lineno)
        return (users, items, np.asarray(weights, dtype=np.float64),
                np.asarray(times, dtype=np.float64), np.asarray(lines, dtype=np.int64))

    # ---------------------------------------------------------- fast path
    def _chunk_fast(self, chunk, start):
        """The same result as ``_chunk_by_line`` for a regular chunk, else None.

        The chunk is split into one flat token list with a single-character
        delimiter ``d`` standing for both the field separator and the line
        end (no per-line lists: this keeps the garbage collector idle); a
        per-line count of ``d`` checks that every line has ``n_fields``.
        """
        try:
            text = chunk.decode(self.encoding)
        except UnicodeDecodeError:
            return None
        if start == 0 and text.startswith("\ufeff"):
            text = text[1:]
        if text.endswith("\n"):
            text = text[:-1]
        if self.comments and self.comments in text and self.comment_line.search(text):
            return None
        # blank lines need no test of their own: they fail the count check below
        if self.sep is None:                # runs of whitespace -> single spaces
            if not _single_spaced(text):
                text = _EDGE_SPACE.sub("", _SPACE_RUN.sub(" ", text))
            d = " "
        elif len(self.sep) == 1:
            d = self.sep
        elif "\0" not in text:             # "::" -> NUL, scanned left to right as split does
            d, text = "\0", text.replace(self.sep, "\0")
        else:
            return None
        rows = text.split("\n")                                   # one per line of chunk
        first = start + 1                                         # line number of rows[0]
        if self.header_line is not None and first <= self.header_line < first + len(rows):
            if self.header_line != first:
                return None
            rows, first = rows[1:], first + 1
            text = "\n".join(rows)
        n = len(rows)
        if n == 0:
            return [], [], np.empty(0), np.empty(0), np.empty(0, dtype=np.int64)
        if set(map(str.count, rows, repeat(d, n))) != {self.n_fields - 1}:
            return None
        flat = text.replace("\n", d).split(d)                     # (n * n_fields,)
        strip = self.sep is not None and _has_space_besides(text, d)
        columns = {}
        for k in (self.col_user, self.col_item, self.col_weight, self.col_time):
            if k is not None:
                col = flat[k::self.n_fields]                      # (n,)
                columns[k] = list(map(str.strip, col)) if strip else col
        users, items = columns[self.col_user], columns[self.col_item]
        if "" in users or "" in items:
            return None
        numbers = []
        for k in (self.col_weight, self.col_time):
            if k is None:
                numbers.append(np.empty(0))
                continue
            try:
                values = np.fromiter(map(float, columns[k]), dtype=np.float64, count=n)
            except ValueError:
                return None
            if not np.isfinite(values).all():
                return None
            numbers.append(values)
        return users, items, numbers[0], numbers[1], np.arange(first, first + n)


def _index_first_appearance(tokens):
    """Raw tokens -> (internal ids (n,), raw ids in order of first appearance)."""
    index = {}                               # raw -> internal; a new raw id gets len(index)
    ids = [index.setdefault(tok, len(index)) for tok in tokens]
    return np.asarray(ids, dtype=np.int64), list(index)


def _build_string_id_split(path, train_cols, test_path, test_cols, on_unknown):
    r"""Interactions with raw string ids mapped in order of first appearance in training."""
    users, user_raw = _index_first_appearance(train_cols.users)
    items, item_raw = _index_first_appearance(train_cols.items)
    user_ids = np.asarray(user_raw, dtype=str)                  # (n_users,)
    item_ids = np.asarray(item_raw, dtype=str)                  # (n_items,)
    train = Interactions(
        users, items, n_users=len(user_raw), n_items=len(item_raw),
        weights=train_cols.weights, timestamps=train_cols.times,
        user_ids=user_ids, item_ids=item_ids)
    if test_cols is None:
        return train

    user_index = dict(zip(user_raw, range(len(user_raw))))
    item_index = dict(zip(item_raw, range(len(item_raw))))
    n_test = len(test_cols.users)
    te_users = np.fromiter(map(user_index.get, test_cols.users, repeat(-1, n_test)),
                           dtype=np.int64, count=n_test)        # (n_test,), -1 = unknown
    te_items = np.fromiter(map(item_index.get, test_cols.items, repeat(-1, n_test)),
                           dtype=np.int64, count=n_test)        # (n_test,)
    unknown = (te_users < 0) | (te_items < 0)                   # (n_test,)
    if on_unknown == "error" and unknown.any():
        j = int(np.flatnonzero(unknown)[0])
        what = (f"user {test_cols.users[j]!r}" if te_users[j] < 0
                else f"item {test_cols.items[j]!r}")
        raise _fail(test_path, int(test_cols.lines[j]),
                    f"{what} is unknown to training ({os.fspath(path)}); pass "
                    f"on_unknown='drop' to drop it")
    n_dropped = int(unknown.sum())
    if n_dropped == n_test:
        raise _fail(test_path, None, f"all {n_dropped} test interactions are unknown to "
                                     f"training")
    _report_dropped(test_path, n_dropped, n_test)
    keep = ~unknown
    test = Interactions(
        te_users[keep], te_items[keep], n_users=train.n_users, n_items=train.n_items,
        weights=None if test_cols.weights is None else test_cols.weights[keep],
        timestamps=None if test_cols.times is None else test_cols.times[keep],
        user_ids=user_ids, item_ids=item_ids)
    test.n_dropped = n_dropped
    return train, test


# ================================================================ triples
def _read_triples(path, sep, header, comments, encoding):
    _check_file(path)
    first = _first_lines(path, comments, encoding)
    if not first:
        raise _fail(path, None, "no interactions (the file is empty or holds only comments "
                                "or blank lines)")
    if sep is None:
        sep = _detect_sep(first[0][1])
    elif sep == _WHITESPACE:
        sep = None                          # internally, None splits on runs of whitespace
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


# ================================================================ RecBole
_RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")


def _read_recbole(path, fields, encoding):
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
    reader = _TableReader(path, "\t", len(names), header_line, None, encoding,
                          columns["user"], columns["item"], columns["rating"], columns["time"])
    return reader.read()


def load_recbole(path, test_path=None, *, user_field="user_id", item_field="item_id",
                 rating_field="rating", time_field="timestamp", on_unknown="error",
                 encoding="utf-8"):
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
    lines (``#`` may start a token).

    Parameters
    ----------
    path : path-like
        The ``.inter`` file (e.g. ``ml-1m.inter`` or ``ml-1m.train.inter``).
    test_path : path-like, optional
        A test ``.inter`` file (its header may order the columns
        differently). Given, the function returns ``(train, test)``.
    user_field, item_field, rating_field, time_field : str
        Column names, RecBole's defaults (``USER_ID_FIELD`` etc.).
    on_unknown : {"error", "drop"}
        As in :func:`load_triples`.
    encoding : str
        Text encoding, ASCII-compatible (UTF-8, the default; latin-1;
        cp1252; ...): lines are split at the byte ``\n``.

    Returns
    -------
    Interactions or (Interactions, Interactions)

    Raises
    ------
    DataError
        A header entry that is not ``name:type``, a missing user or item
        column, a column of the wrong type, a line with another number of
        fields than the header, an empty field, a NaN / inf / non-numeric
        rating or timestamp, undecodable bytes, no data lines, an unknown test
        id. The message names the file and the line.
    FileNotFoundError
        A file does not exist.
    """
    _check_on_unknown(on_unknown)
    fields = {"user": (user_field, "token", True), "item": (item_field, "token", True),
              "rating": (rating_field, "float", False), "time": (time_field, "float", False)}
    train_cols = _read_recbole(path, fields, encoding)
    test_cols = None if test_path is None else _read_recbole(test_path, fields, encoding)
    return _build_string_id_split(path, train_cols, test_path, test_cols, on_unknown)


# ============================================================= MovieLens
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
                 "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
                 "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
_MONTHS = {m: k + 1 for k, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                           "Aug", "Sep", "Oct", "Nov", "Dec"))}


def _ml_lines(path, sep, n_fields, encoding):
    """``(lineno, fields)`` for the non-blank lines of a MovieLens file."""
    _check_file(path)
    any_line = False
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            text = _decode(raw, path, lineno, encoding).rstrip("\r\n")
            if not text.strip():
                continue
            any_line = True
            fields = text.split(sep)
            if len(fields) != n_fields:
                raise _fail(path, lineno, f"expected {n_fields} {sep!r}-separated fields, "
                                          f"got {len(fields)}")
            yield lineno, fields
    if not any_line:
        raise _fail(path, None, "the file is empty (no non-blank line)")


def _read_ml_users(path):
    """u.user -> (raw ids, ages, genders, occupations) in file order."""
    ids, ages, genders, jobs, line_of = [], [], [], [], {}
    for lineno, (uid, age, gender, job, _zip) in _ml_lines(path, "|", 5, "utf-8"):
        raw = _parse_id(uid, path, lineno, "user id")
        if raw in line_of:
            raise _fail(path, lineno, f"user {raw} is listed again (first at line "
                                      f"{line_of[raw]})")
        line_of[raw] = lineno
        ids.append(raw)
        ages.append(_parse_id(age, path, lineno, "age"))
        if not gender or not job:
            raise _fail(path, lineno, "empty gender or occupation")
        genders.append(gender)
        jobs.append(job)
    return ids, ages, genders, jobs


def _parse_ml_year(date, path, lineno):
    """``'01-Jan-1995'`` -> 1995; ``''`` -> None (missing)."""
    if date == "":
        return None
    parts = date.split("-")
    if (len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit())
            or parts[1] not in _MONTHS or not (parts[2].isascii() and parts[2].isdigit()
                                               and len(parts[2]) == 4)):
        raise _fail(path, lineno, f"release date {date!r} is not like '01-Jan-1995'")
    return int(parts[2])


def _read_ml_items(path):
    """u.item (latin-1) -> (raw ids, years (None = missing), genre flags)."""
    ids, years, flags, line_of = [], [], [], {}
    for lineno, fields in _ml_lines(path, "|", 5 + len(ML100K_GENRES), "latin-1"):
        raw = _parse_id(fields[0], path, lineno, "item id")
        if raw in line_of:
            raise _fail(path, lineno, f"item {raw} is listed again (first at line "
                                      f"{line_of[raw]})")
        line_of[raw] = lineno
        ids.append(raw)
        years.append(_parse_ml_year(fields[2], path, lineno))
        genre = fields[5:]
        for name, flag in zip(ML100K_GENRES, genre):
            if flag not in ("0", "1"):
                raise _fail(path, lineno, f"genre flag {name!r} is {flag!r}, expected 0 or 1")
        flags.append([float(flag) for flag in genre])
    return ids, years, flags


def load_movielens_100k(folder):
    r"""Load the GroupLens MovieLens-100K folder: ratings plus user and item features.

    Files read (the rest of the folder is ignored):

    * ``u.data``: ``user item rating timestamp``, tab-separated, positive
      integer ids, rating 1--5, Unix seconds. Ratings become ``weights``.
    * ``u.user``: ``id|age|gender|occupation|zip``.
    * ``u.item``: ``id|title|release date|video release date|IMDb URL|`` then
      19 genre flags (0/1); encoded in latin-1 (titles such as
      ``Misérables``).

    Ids: ``user_ids`` / ``item_ids`` hold the MovieLens integer ids; internal
    ids follow ascending raw id (in the GroupLens files, internal = raw - 1).
    The id space is that of ``u.user`` and ``u.item``: every listed user and
    item has a row, even without ratings.

    User features, shape (n_users, 3 + n_occupations), float64, names in
    ``user_feature_names``:

    * ``"age/100"``: age in years divided by 100;
    * ``"gender=F"``, ``"gender=M"``: one-hot (the values found, sorted);
    * ``"occupation=<name>"``: one-hot over the occupations found, sorted
      (21 in the GroupLens file).

    Item features, shape (n_items, 21), float64:

    * ``"genre=<name>"`` for the 19 genres (``unknown``, ``Action``, ...,
      ``Western``), the file's 0/1 flags; a film may have several;
    * ``"(year-1900)/100"``: release year from the release date,
      ``(year - 1900) / 100``;
    * ``"year_missing"``: 1.0 where the release date is empty (item 267,
      "unknown", in the GroupLens file), else 0.0. Its year column holds the
      median release year of the items that have one (1995 in the GroupLens
      file; 1900 if no item has a date). Features must be finite, so the
      gap is imputed, and the flag lets a model tell the imputed value apart.

    Title, video release date, IMDb URL and zip code are not used.

    Parameters
    ----------
    folder : path-like
        The unpacked ``ml-100k`` folder.

    Returns
    -------
    Interactions
        100,000 interactions, 943 users, 1,682 items for the GroupLens
        files, in ``u.data`` order, with weights, timestamps and features.

    Raises
    ------
    DataError
        A wrong number of fields, an id or age that is not a non-negative
        integer or overflows int64, a NaN / inf / non-numeric rating or
        timestamp, a user or item in ``u.data`` that ``u.user`` / ``u.item``
        does not list, an id listed twice, a malformed date or genre flag,
        undecodable bytes (``u.data`` and ``u.user`` are read as UTF-8),
        an empty file. The message names the file and the line.
    FileNotFoundError
        The folder or one of the three files does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    user_raw, ages, genders, jobs = _read_ml_users(folder / "u.user")
    item_raw, years, genre_flags = _read_ml_items(folder / "u.item")

    user_order = np.argsort(np.asarray(user_raw, dtype=np.int64), kind="stable")
    item_order = np.argsort(np.asarray(item_raw, dtype=np.int64), kind="stable")
    user_ids = np.asarray(user_raw, dtype=np.int64)[user_order]          # (n_users,)
    item_ids = np.asarray(item_raw, dtype=np.int64)[item_order]          # (n_items,)
    user_index = {int(r): k for k, r in enumerate(user_ids)}
    item_index = {int(r): k for k, r in enumerate(item_ids)}

    data_path = folder / "u.data"
    users, items, ratings, times = [], [], [], []
    for lineno, (u, i, r, t) in _ml_lines(data_path, "\t", 4, "utf-8"):
        u = _parse_id(u, data_path, lineno, "user id")
        i = _parse_id(i, data_path, lineno, "item id")
        if u not in user_index:
            raise _fail(data_path, lineno, f"user {u} is not listed in u.user")
        if i not in item_index:
            raise _fail(data_path, lineno, f"item {i} is not listed in u.item")
        users.append(user_index[u])
        items.append(item_index[i])
        ratings.append(_parse_float(r, data_path, lineno, "rating"))
        times.append(_parse_float(t, data_path, lineno, "timestamp"))

    # ---- user features: age/100, gender one-hot, occupation one-hot
    gender_names = sorted(set(genders))
    job_names = sorted(set(jobs))
    gender_col = {g: k for k, g in enumerate(gender_names)}
    job_col = {j: k for k, j in enumerate(job_names)}
    n_users = len(user_raw)
    Xu = np.zeros((n_users, 1 + len(gender_names) + len(job_names)))  # (n_users, n_uf)
    for k, src in enumerate(user_order):            # row k <- k-th smallest raw id
        Xu[k, 0] = ages[src] / 100.0
        Xu[k, 1 + gender_col[genders[src]]] = 1.0
        Xu[k, 1 + len(gender_names) + job_col[jobs[src]]] = 1.0
    user_names = (["age/100"] + [f"gender={g}" for g in gender_names]
                  + [f"occupation={j}" for j in job_names])

    # ---- item features: 19 genre flags, (year-1900)/100 with imputation, flag
    known = [y for y in years if y is not None]
    fill = float(np.median(known)) if known else 1900.0
    year = np.array([fill if y is None else float(y) for y in years])   # (n_items,)
    missing = np.array([y is None for y in years], dtype=np.float64)    # (n_items,)
    Xi = np.column_stack([np.asarray(genre_flags, dtype=np.float64).reshape(-1, 19),
                          (year - 1900.0) / 100.0, missing])[item_order]  # (n_items, 21)
    item_names = [f"genre={g}" for g in ML100K_GENRES] + ["(year-1900)/100", "year_missing"]

    return Interactions(users, items, n_users=n_users, n_items=len(item_raw),
                        weights=ratings, timestamps=times, user_ids=user_ids,
                        item_ids=item_ids, user_features=Xu, item_features=Xi,
                        user_feature_names=user_names, item_feature_names=item_names)


# ---------------------------------------------------------------- download
ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# SHA-256 of ml-100k.zip (4,924,029 bytes), as pinned by TensorFlow Datasets in
# tensorflow_datasets/url_checksums/movielens.txt (and by several other public
# projects). Our local copy of the unpacked u.data matches the published member
# hash 06416e59...dca490. The archive has been unchanged since 1998.
ML100K_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
_ML100K_FOLDER = "ml-100k"
_ML100K_NEEDED = ("u.data", "u.item", "u.user")


def _data_home(data_home):
    if data_home is None:
        data_home = os.environ.get("MINIGRAPHREC_DATA") or os.path.join("~", ".cache",
                                                                        "minigraphrec")
    return Path(os.path.expanduser(os.fspath(data_home)))


def _safe_extract(archive, target, top):
    """Extract the members under ``top/``; refuse absolute or ``..`` paths and links."""
    names = archive.namelist()
    for info in archive.infolist():
        parts = info.filename.split("/")
        if info.filename.startswith("/") or ".." in parts or "\\" in info.filename:
            raise DataError(f"archive member {info.filename!r} has an unsafe path")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise DataError(f"archive member {info.filename!r} is a symbolic link")
    for needed in _ML100K_NEEDED:
        if f"{top}/{needed}" not in names:
            raise DataError(f"the archive has no {top}/{needed}")
    for info in archive.infolist():
        if info.filename.startswith(f"{top}/"):
            archive.extract(info, target)


def fetch_movielens_100k(data_home=None, *, url=ML100K_URL, sha256=ML100K_SHA256):
    r"""MovieLens-100K, downloaded once, checksum-verified, cached, loaded.

    The first call downloads ``url`` into ``<data_home>/``, verifies its
    SHA-256 against ``sha256`` before unpacking anything, unpacks the
    ``ml-100k/`` folder, checks that it loads, and only then moves it into
    place as ``<data_home>/ml-100k`` (one atomic rename). Later calls find
    that folder and load it without any network access. Read the GroupLens
    licence (``ml-100k/README``): no redistribution, research use only.

    Parameters
    ----------
    data_home : path-like, optional
        Cache folder. Default: the ``MINIGRAPHREC_DATA`` environment variable,
        else ``~/.cache/minigraphrec``.
    url : str
        Where to download the zip archive from (any URL ``urllib`` opens,
        including ``file://``; used by the tests).
    sha256 : str
        Expected SHA-256 (hex) of the archive.

    Returns
    -------
    Interactions
        As returned by :func:`load_movielens_100k`.

    Raises
    ------
    DataError
        The download's SHA-256 differs from ``sha256``, or the archive is not
        a zip holding ``ml-100k/u.data``, ``u.item`` and ``u.user``, or it
        holds unsafe paths, or its files do not load. Nothing is left in
        ``data_home`` then: the download goes to a temporary file and the
        unpacking to a temporary folder, both in ``data_home`` and both
        removed on any failure.
    OSError
        The download failed (no network, HTTP error); the message says
        where to put a hand-downloaded copy.

    Notes
    -----
    The cache is keyed by the folder name only: a different ``url`` or
    ``sha256`` does not invalidate an existing ``<data_home>/ml-100k``.
    """
    home = _data_home(data_home)
    folder = home / _ML100K_FOLDER
    if folder.is_dir():
        return load_movielens_100k(folder)

    home.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=home, prefix=f".{_ML100K_FOLDER}.", suffix=".zip.part")
    unpack = None
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    for chunk in iter(lambda: response.read(1 << 16), b""):
                        digest.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError) as exc:
                raise OSError(f"could not download {url}: {exc}. Download it by hand, "
                              f"check its SHA-256 is {sha256}, and unpack it into {home} "
                              f"(giving {folder})") from exc
        got = digest.hexdigest()
        if got != sha256.lower():
            raise DataError(f"{url}: SHA-256 mismatch, expected {sha256.lower()}, got {got}; "
                            f"the download was discarded")
        unpack = tempfile.mkdtemp(dir=home, prefix=f".{_ML100K_FOLDER}.", suffix=".unpack")
        try:
            with zipfile.ZipFile(part) as archive:
                _safe_extract(archive, unpack, _ML100K_FOLDER)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{url}: not a valid zip archive ({exc})") from None
        data = load_movielens_100k(os.path.join(unpack, _ML100K_FOLDER))
        try:
            os.rename(os.path.join(unpack, _ML100K_FOLDER), folder)
        except OSError:
            if not folder.is_dir():       # not merely another process winning the race
                raise
        return data
    finally:
        if os.path.exists(part):
            os.remove(part)
        if unpack is not None:
            shutil.rmtree(unpack, ignore_errors=True)


# =============================================================== synthetic
_T0 = 1_577_836_800          # 2020-01-01T00:00:00Z
_SPAN = 180 * 24 * 3600      # timestamps fall in the following 180 days


@dataclass(frozen=True)
class SyntheticTruth:
    r"""The hidden structure behind :func:`synthetic`.

    Attributes
    ----------
    user_community : ndarray of int64, shape (n_users,)
    item_community : ndarray of int64, shape (n_items,)
    item_weight : ndarray of float64, shape (n_items,)
        Popularity weight ``w_i = (r_i + 1) ** -popularity_exponent``, with
        ``r_i`` the item's 0-based popularity rank inside its community.
    p_in : float
        Probability that a draw comes from the user's own community.
    """

    user_community: np.ndarray
    item_community: np.ndarray
    item_weight: np.ndarray
    p_in: float

    def probabilities(self, users=None):
        r"""The generating distribution of each user's draws.

        .. math::
            P_u(i) = p_{in} \frac{w_i [c_i = c_u]}{\sum_{j: c_j = c_u} w_j}
                     + (1 - p_{in}) \frac{w_i}{\sum_j w_j}

        Parameters
        ----------
        users : array-like of int, optional
            Default: all users.

        Returns
        -------
        ndarray, shape (len(users), n_items)
            Each row sums to 1. Ranking a user's unseen items by it is the
            oracle recommender.
        """
        cu = self.user_community if users is None else self.user_community[np.asarray(users)]
        w, ci = self.item_weight, self.item_community
        W_c = np.bincount(ci, weights=w)                            # (n_communities,)
        own = (ci[None, :] == cu[:, None]) * (w / W_c[ci])[None, :]  # (n_users, n_items)
        return self.p_in * own + (1.0 - self.p_in) * (w / w.sum())[None, :]


def _balanced_labels(n, n_groups, rng):
    """A random assignment of n things to groups whose sizes differ by at most 1."""
    return rng.permutation(np.arange(n) % n_groups).astype(np.int64)


def _noisy_one_hot(labels, n_groups, noise, rng):
    """One-hot of ``labels``, each replaced by a uniform random label with prob. ``noise``."""
    flip = rng.random(labels.shape[0]) < noise
    observed = np.where(flip, rng.integers(0, n_groups, labels.shape[0]), labels)
    X = np.zeros((labels.shape[0], n_groups))                    # (n, n_groups)
    X[np.arange(labels.shape[0]), observed] = 1.0
    return X


def synthetic(n_users=1000, n_items=1500, n_communities=10, mean_interactions=20,
              min_interactions=5, p_in=0.8, popularity_exponent=1.0, feature_noise=0.3,
              ratings=False, random_state=0, return_truth=False):
    r"""Interactions with planted communities: the embedded default data set.

    Generative model:

    1. Users and items are split at random into ``n_communities`` communities
       of equal size (sizes differ by at most one): ``c_u``, ``c_i``.
    2. Inside each community the items get a random popularity rank ``r_i``
       and weight ``w_i = (r_i + 1) ** -popularity_exponent`` (Zipf).
    3. User ``u`` makes ``n_u = min_interactions + Poisson(mean_interactions
       - min_interactions)`` draws (at most ``n_items``); each draw comes with
       probability ``p_in`` from the own community (item ``i`` with
       probability ``∝ w_i``) and otherwise from all items (``∝ w_i``,
       global popularity). Repeats are redrawn, so ``u`` has ``n_u``
       distinct items (successive sampling without replacement from
       :meth:`SyntheticTruth.probabilities`).
    4. Each interaction gets a timestamp, uniform over the 180 days from
       2020-01-01 UTC in whole Unix seconds, independent of the item; rows
       are sorted by user, then time.
    5. With ``ratings=True``, a weight ``clip(round(m + N(0, 1)), 1, 5)``
       with ``m = 4`` when ``c_i = c_u`` and ``m = 2.5`` otherwise.
    6. Features: a one-hot of the community, ``(n, n_communities)``, names
       ``"community=<k>"``, where each label is replaced by a uniformly random
       one with probability ``feature_noise`` (so it is right with
       probability ``1 - feature_noise + feature_noise / n_communities``):
       informative, not a give-away.

    So the structure is there for a collaborative or feature-based model to
    find, while global popularity mixes every community's hits. Measured on
    the defaults (about 20,000 interactions) with a per-user 80/20 random
    split (``round(0.2 n_u)`` random test items per user, split seed 0) and
    the LightGCN protocol (full ranking, training items excluded, Recall@20
    = hits / \|test items\|, averaged over users with a test item):

    ================================================ =========
    scorer                                           Recall@20
    ================================================ =========
    oracle: ``truth.probabilities()``                  0.455
    EASE (λ = 100), a learned closed-form model        0.418
    popularity: training interaction counts            0.176
    ================================================ =========

    Over data seeds 0, 1, 2 the oracle gives 0.441--0.455 and popularity
    0.166--0.176. ``tests/test_datasets.py`` recomputes the oracle and
    popularity numbers for seed 0.

    Parameters
    ----------
    n_users, n_items : int
        Sizes, ``n_items >= n_communities``.
    n_communities : int
        Number of communities, ``>= 1``.
    mean_interactions, min_interactions : float, int
        Mean and minimum number of distinct items per user,
        ``1 <= min_interactions <= mean_interactions``.
    p_in : float
        Probability that a draw is from the user's community, ``0 <= p_in < 1``
        (below 1 so that every item can be drawn).
    popularity_exponent : float
        Zipf exponent of popularity inside a community, ``>= 0`` (0: uniform).
    feature_noise : float
        Probability, in ``[0, 1]``, that a feature label is randomised.
    ratings : bool
        Whether to generate rating weights.
    random_state : int or numpy.random.Generator
        Seed; the same seed gives the same data.
    return_truth : bool
        Also return the :class:`SyntheticTruth`.

    Returns
    -------
    Interactions or (Interactions, SyntheticTruth)
        With timestamps, user and item features, and weights if ``ratings``.
        Raw ids are the internal ids.
    """
    if n_communities < 1 or n_items < n_communities or n_users < 1:
        raise ValueError(f"need n_users >= 1 and n_items >= n_communities >= 1, got "
                         f"n_users={n_users}, n_items={n_items}, n_communities={n_communities}")
    if not 1 <= min_interactions <= mean_interactions:
        raise ValueError(f"need 1 <= min_interactions <= mean_interactions, got "
                         f"{min_interactions} and {mean_interactions}")
    if not 0.0 <= p_in < 1.0:
        raise ValueError(f"p_in must be in [0, 1), got {p_in}")
    if popularity_exponent < 0 or not 0.0 <= feature_noise <= 1.0:
        raise ValueError(f"need popularity_exponent >= 0 and 0 <= feature_noise <= 1, got "
                         f"{popularity_exponent} and {feature_noise}")
    rng = np.random.default_rng(random_state)

    cu = _balanced_labels(n_users, n_communities, rng)          # (n_users,)
    ci = _balanced_labels(n_items, n_communities, rng)          # (n_items,)
    rank = np.empty(n_items, dtype=np.int64)
    members = [np.flatnonzero(ci == c) for c in range(n_communities)]   # items per community
    for idx in members:
        rank[idx] = rng.permutation(idx.size)
    w = (rank + 1.0) ** -popularity_exponent                    # (n_items,)

    # per community: the cumulative distribution over its items
    cdf_own = [np.cumsum(w[m]) / w[m].sum() for m in members]
    cdf_all = np.cumsum(w) / w.sum()                            # (n_items,)

    n_u = min_interactions + rng.poisson(mean_interactions - min_interactions, n_users)
    n_u = np.minimum(n_u, n_items)                              # (n_users,)
    users, items = [], []
    for u in range(n_users):
        c, need = cu[u], int(n_u[u])
        chosen = {}                                             # dict keeps draw order
        while len(chosen) < need:
            m = 2 * (need - len(chosen)) + 8
            from_own = rng.random(m) < p_in
            own = members[c][np.minimum(np.searchsorted(cdf_own[c], rng.random(m),
                                                        side="right"), members[c].size - 1)]
            anywhere = np.minimum(np.searchsorted(cdf_all, rng.random(m), side="right"),
                                  n_items - 1)
            for i in np.where(from_own, own, anywhere).tolist():
                if i not in chosen:
                    chosen[i] = None
                    if len(chosen) == need:
                        break
        users.extend([u] * need)
        items.extend(chosen)
    users = np.asarray(users, dtype=np.int64)                   # (n_interactions,)
    items = np.asarray(items, dtype=np.int64)                   # (n_interactions,)
    times = _T0 + rng.integers(0, _SPAN, users.size).astype(np.float64)
    order = np.lexsort((times, users))
    users, items, times = users[order], items[order], times[order]

    weights = None
    if ratings:
        mean = np.where(ci[items] == cu[users], 4.0, 2.5)
        weights = np.clip(np.round(mean + rng.standard_normal(users.size)), 1.0, 5.0)

    names = [f"community={k}" for k in range(n_communities)]
    data = Interactions(
        users, items, n_users=n_users, n_items=n_items, weights=weights, timestamps=times,
        user_features=_noisy_one_hot(cu, n_communities, feature_noise, rng),
        item_features=_noisy_one_hot(ci, n_communities, feature_noise, rng),
        user_feature_names=names, item_feature_names=names)
    if return_truth:
        return data, SyntheticTruth(cu, ci, w, float(p_in))
    return data


# ============================================================= article toy
#           v1 ... v10
_ARTICLE_TOY_R = (
    "1110000000",   # u1   taste group A (u1-u5, v1-v5)
    "1101100000",   # u2
    "0110100000",   # u3
    "1011100000",   # u4
    "0010110000",   # u5   + v6: a bridge into group B
    "0000011100",   # u6   taste group B (u6-u10, v6-v10), the mirror of A
    "0000011011",   # u7
    "0000001101",   # u8
    "0000010111",   # u9
    "1000000101",   # u10  + v1: a bridge into group A
)


def article_toy(random_state=0):
    r"""The article's worked example: 10 users u1..u10, 10 items v1..v10.

    The article (§4) names the users and items and (§5) gives each a
    10-dimensional feature vector, but it never lists the edges: its code
    draws ``torch.randint(0, 1, ...)``, which is all zeros, an empty graph.
    **The edges here are ours**, hand-written so that the example has an
    answer: two taste groups, mirror images of each other, joined by two
    bridge edges (rows users, columns items)::

              v1 v2 v3 v4 v5 v6 v7 v8 v9 v10
        u1     1  1  1  .  .  .  .  .  .  .
        u2     1  1  .  1  1  .  .  .  .  .
        u3     .  1  1  .  1  .  .  .  .  .
        u4     1  .  1  1  1  .  .  .  .  .
        u5     .  .  1  .  1  1  .  .  .  .
        u6     .  .  .  .  .  1  1  1  .  .
        u7     .  .  .  .  .  1  1  .  1  1
        u8     .  .  .  .  .  .  1  1  .  1
        u9     .  .  .  .  .  1  .  1  1  1
        u10    1  .  .  .  .  .  .  1  .  1

    u1's clear best recommendation is v5 (the item the article scores for
    u1): every other member of u1's group has it; u6's, by symmetry, is v10.

    Parameters
    ----------
    random_state : int or numpy.random.Generator
        Seed of the feature matrices.

    Returns
    -------
    Interactions
        34 interactions, raw ids ``"u1".."u10"`` and ``"v1".."v10"``; user and
        item features of shape (10, 10), standard normal as the article's
        ``torch.randn(10, 10)`` (random, so uninformative), names
        ``"x1".."x10"``. No weights or timestamps.
    """
    R = np.array([[int(ch) for ch in row] for row in _ARTICLE_TOY_R])   # (10, 10)
    users, items = np.nonzero(R)                                         # (34,), (34,)
    rng = np.random.default_rng(random_state)
    X_user = rng.standard_normal((10, 10))                               # (10, 10)
    X_item = rng.standard_normal((10, 10))                               # (10, 10)
    names = [f"x{k}" for k in range(1, 11)]
    return Interactions(users, items, n_users=10, n_items=10,
                        user_ids=np.array([f"u{k}" for k in range(1, 11)]),
                        item_ids=np.array([f"v{k}" for k in range(1, 11)]),
                        user_features=X_user, item_features=X_item,
                        user_feature_names=names, item_feature_names=names)


# ============================================================ session logs
# Session logs become Sequences (minigraphrec.sequences): one ordered item list per
# session, with its end time (what a split by time cuts on) and the raw ids.
_SESSION_FORMATS = ("cikm", "triples")
_CIKM_COLUMNS = ("sessionid", "userid", "itemid", "timeframe", "eventdate")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY = 86400

__all__ += ["load_sessions", "synthetic_sessions", "SyntheticSessionsTruth"]


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
            raise _fail(path, header_line, f"the header {header.strip()[:80]!r} must name the "
                                           f"column {wanted!r} once (';'-separated; case and "
                                           f"'_' are ignored: 'session_id' = 'sessionId')")
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
    first = _TableReader(path, ";", n_fields, header_line, None, encoding,
                         col["sessionid"], col["itemid"], None, col["timeframe"]).read()
    second = _TableReader(path, ";", n_fields, header_line, None, encoding,
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
    _check_file(path)
    first = _first_lines(path, comments, encoding)
    if not first:
        raise _fail(path, None, "no events (the file is empty or holds only comments or "
                                "blank lines)")
    if sep is None:
        sep = _detect_sep(first[0][1])
    elif sep == _WHITESPACE:
        sep = None
    fields = _split_fields(first[0][1], sep)
    if len(fields) != 3:
        raise _fail(path, first[0][0], f"expected 3 fields (session item timestamp), got "
                                       f"{len(fields)}")
    if header is None:                    # a header: a first line whose timestamp is a word
        header = not _is_number(fields[2])
    if header and len(first) < 2:
        raise _fail(path, None, f"no events (the file holds only the header on line "
                                f"{first[0][0]})")
    cols = _TableReader(path, sep, 3, first[0][0] if header else None, comments, encoding,
                        0, 1, None, 2).read()
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
      or given by ``sep``), with an optional header (detected: a first line whose third
      field is not a number) and ``#`` comment lines. Timestamps are finite numbers in
      any unit; a session's events are ordered by timestamp, then file order, and its end
      time is its latest timestamp.

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
        CIKM columns, a timeframe that is not a non-negative integer, a date that is not
        ``YYYY-MM-DD``, a NaN / inf / non-numeric timestamp, undecodable bytes, two users
        in one session, a file with no events. The message names the file and the 1-based
        line.
    FileNotFoundError
        The file does not exist.
    """
    from .sequences import Sequences

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


@dataclass(frozen=True)
class SyntheticSessionsTruth:
    r"""The hidden structure behind :func:`synthetic_sessions`.

    Attributes
    ----------
    item_community : (n_items,) int64, ``c_i``
    item_weight : (n_items,) float64, ``w_i = (r_i + 1) ** -popularity_exponent``
    successor : (n_items,) int64, ``σ(i)``: the item a strong transition goes to
    drift, p_transition : float
    n_communities : int
    """

    item_community: np.ndarray
    item_weight: np.ndarray
    successor: np.ndarray
    drift: float
    p_transition: float
    n_communities: int

    def _kernel(self):
        """K (C, C): one step of the community walk, ``K[c, c'] = P(c_{t+1} = c' | c_t = c)``."""
        C = self.n_communities
        K = np.eye(C) * (1.0 - self.drift)
        for side in (-1, 1):
            np.add.at(K, (np.arange(C), (np.arange(C) + side) % C), self.drift / 2)
        return K

    def _own(self):
        """O (C, n_items): ``O[c, j] = w_j [c_j = c] / Σ_{l: c_l = c} w_l``."""
        c, w = self.item_community, self.item_weight
        W_c = np.bincount(c, weights=w, minlength=self.n_communities)    # (C,)
        O = np.zeros((self.n_communities, c.shape[0]))
        O[c, np.arange(c.shape[0])] = w / W_c[c]
        return O

    def next_item_probabilities(self, sessions):
        r"""The exact distribution of the next item after each session: (n, n_items).

        The community ``c_t`` is hidden, so this is the forward algorithm of the hidden
        Markov model the generator is: ``α_1 = onehot(c_{x_1})``, and for ``t ≥ 1``

        .. math::
            α_{t+1}(c) ∝ (α_t K)(c)\,\bigl(p\,[x_{t+1} = σ(x_t)]
                         + (1-p)\,O_{c, x_{t+1}}\bigr),

            P(x_{n+1} = j \mid x_{1..n}) = p\,[j = σ(x_n)] + (1-p)\,(α_n K\, O)_j,

        with ``K`` the walk's step, ``O[c, j]`` the Zipf draw inside community ``c`` and
        ``p = p_transition``. Ranking by it is the Bayes-optimal next-item predictor: the
        ceiling for any model. Sessions must use the generator's item ids.

        A step that has probability 0 under the model (possible once events were removed
        from a session, by :func:`~minigraphrec.sequences.split_sessions_by_time` say)
        restarts the filter as at a first item: ``α = onehot(c_{x_{t+1}})``.
        """
        from .sequences import Sequences

        if not isinstance(sessions, Sequences):
            raise TypeError(f"sessions must be a Sequences, got {type(sessions).__name__}")
        if np.any(sessions.lengths == 0):
            raise DataError("every session needs an item")
        K, O = self._kernel(), self._own()
        p, succ = self.p_transition, self.successor
        start, lengths = sessions.indptr[:-1], sessions.lengths
        alpha = np.zeros((len(sessions), self.n_communities))           # (n, C)
        alpha[np.arange(len(sessions)), self.item_community[sessions.items[start]]] = 1.0
        for t in range(1, int(lengths.max())):
            rows = np.flatnonzero(lengths > t)
            prev, x = sessions.items[start[rows] + t - 1], sessions.items[start[rows] + t]
            a = (alpha[rows] @ K) * (p * (x == succ[prev])[:, None] + (1 - p) * O[:, x].T)
            z = a.sum(axis=1)                                            # (b,)
            restart = z <= 0                                             # impossible step
            a[restart] = 0.0
            a[restart, self.item_community[x[restart]]] = 1.0
            z[restart] = 1.0
            alpha[rows] = a / z[:, None]
        P = (1 - p) * (alpha @ K) @ O                                     # (n, n_items)
        P[np.arange(len(sessions)), succ[sessions.items[sessions.indptr[1:] - 1]]] += p
        return P


def synthetic_sessions(n_sessions=5000, n_items=1000, n_communities=20, drift=0.1,
                       p_transition=0.3, mean_length=6.0, min_length=2,
                       popularity_exponent=1.0, random_state=0, return_truth=False):
    r"""Sessions that wander through item communities: embedded data for sequence models.

    Generative model (a hidden Markov model over communities):

    1. Items are split at random into ``n_communities`` communities of equal size (sizes
       differ by at most one), ``c_i``, arranged on a ring; inside each, a random
       popularity rank ``r_i`` gives the Zipf weight ``w_i = (r_i + 1) ** -a``
       (``a = popularity_exponent``), as in :func:`synthetic`.
    2. Every item ``i`` gets a successor ``σ(i)``, drawn uniformly from all other items
       (any community): the strong item-to-item transition.
    3. A session has ``n = min_length + Poisson(mean_length - min_length)`` events. It
       starts in a uniformly random community ``c_1`` and draws its first item inside it
       (item ``j`` with probability ``∝ w_j``). Before each next event the walk moves to a
       neighbouring community (``c ± 1`` on the ring, each side with probability
       ``drift / 2``), then the item is ``σ(previous item)`` with probability
       ``p_transition``, else a Zipf draw inside the walk's current community. A jump to
       ``σ`` does not move the walk, so the next ordinary draw comes back to it.
    4. Times: a session starts at a uniform second of the 180 days from 2020-01-01 UTC and
       its events follow 10--299 s apart; ``end_time`` is its last event's time. Sessions
       are returned in order of start time.

    What a model can find: popularity alone knows only ``w`` (and mixes every
    community); co-occurrence within sessions finds the communities (items drawn by one
    walk are mostly of one or two neighbouring communities) but not the direction of
    ``i → σ(i)``; the last item alone (a first-order Markov chain) finds ``σ``, but after
    a jump the last item's community is not the walk's, which the earlier items of the
    session reveal: order and the whole session both matter. The exact next-item
    distribution, the ceiling, is :meth:`SyntheticSessionsTruth.next_item_probabilities`.
    Measured on the defaults (5,000 sessions, about 30,000 events), the latest 20 % of
    sessions as test (``split_sessions_by_time(s, test_fraction=0.2,
    compact_items=False)``), every test prefix predicting its next item, full ranking
    (:func:`~minigraphrec.sequences.evaluate_next_item`, 4,907 examples):

    ================================================ ========= =========
    scorer                                           HR@20     MRR@20
    ================================================ ========= =========
    oracle: ``truth.next_item_probabilities``          0.785     0.430
    ``SessionItemKNN(recency="linear")``               0.613     0.258
    ``SessionItemKNN()``                               0.596     0.220
    ``MarkovChain()``                                  0.594     0.364
    ``SessionItemKNN(recency="last")``                 0.563     0.280
    ``SessionPopularity()``                            0.154     0.029
    ================================================ ========= =========

    Over data seeds 0, 1, 2 the oracle gives HR@20 0.785--0.791 and the Markov chain
    0.594--0.611; ``tests/test_datasets.py`` recomputes the seed-0 oracle, Markov and
    popularity rows.

    Parameters
    ----------
    n_sessions, n_items : int >= 1, ``n_items >= max(n_communities, 2)``
    n_communities : int >= 1
    drift : float in [0, 1]
    p_transition : float in [0, 1]
    mean_length : float >= min_length; min_length : int >= 1
    popularity_exponent : float >= 0
    random_state : int or numpy.random.Generator; the same seed gives the same sessions
    return_truth : bool, also return the :class:`SyntheticSessionsTruth`

    Returns
    -------
    Sequences or (Sequences, SyntheticSessionsTruth)
        Anonymous sessions (``users`` all ``-1``) with ``end_time`` (Unix seconds),
        ``item_ids`` the internal ids, ``session_ids`` ``None`` (the position is the id):
        what :func:`load_sessions` returns, so the same code serves both.
    """
    from .sequences import Sequences

    if n_sessions < 1 or n_communities < 1 or n_items < max(n_communities, 2):
        raise ValueError(f"need n_sessions >= 1 and n_items >= max(n_communities, 2) >= 2 "
                         f"with n_communities >= 1; got n_sessions={n_sessions}, "
                         f"n_items={n_items}, n_communities={n_communities}")
    if not (0.0 <= drift <= 1.0 and 0.0 <= p_transition <= 1.0):
        raise ValueError(f"drift and p_transition must be in [0, 1], got {drift} and "
                         f"{p_transition}")
    if int(min_length) != min_length or min_length < 1 or not mean_length >= min_length:
        raise ValueError(f"need an integer min_length >= 1 and mean_length >= min_length, "
                         f"got {min_length} and {mean_length}")
    if popularity_exponent < 0:
        raise ValueError(f"popularity_exponent must be >= 0, got {popularity_exponent}")
    rng = np.random.default_rng(random_state)
    C = int(n_communities)
    ci = _balanced_labels(n_items, C, rng)                          # (n_items,)
    rank = np.empty(n_items, dtype=np.int64)
    for c in range(C):
        idx = np.flatnonzero(ci == c)
        rank[idx] = rng.permutation(idx.size)
    w = (rank + 1.0) ** -popularity_exponent                        # (n_items,)
    successor = rng.integers(0, n_items - 1, n_items)               # (n_items,), never i
    successor += successor >= np.arange(n_items)

    # inverse-CDF draws inside a community: items sorted by community, and the key
    # c + (cumulative weight within c) in (c, c + 1]; c + u falls in community c's block
    by_comm = np.argsort(ci, kind="stable")                         # (n_items,)
    cw = np.cumsum(w[by_comm])
    block_end = np.cumsum(np.bincount(ci, minlength=C))             # (C,) exclusive ends
    block_start = block_end - np.bincount(ci, minlength=C)
    before = np.r_[0.0, cw][block_start]                            # (C,) weight before c
    total = np.r_[0.0, cw][block_end] - before                      # (C,) W_c
    key = ci[by_comm] + (cw - before[ci[by_comm]]) / total[ci[by_comm]]

    def draw(comm):
        pos = np.searchsorted(key, comm + rng.random(comm.shape[0]), side="right")
        return by_comm[np.minimum(pos, block_end[comm] - 1)]

    lengths = int(min_length) + rng.poisson(mean_length - min_length, n_sessions)
    comm = rng.integers(0, C, n_sessions)                           # (n_sessions,) c_1
    steps = np.zeros((n_sessions, int(lengths.max())), dtype=np.int64)   # (n, T) items
    steps[:, 0] = draw(comm)
    for t in range(1, steps.shape[1]):
        move = rng.random(n_sessions) < drift
        side = np.where(rng.random(n_sessions) < 0.5, -1, 1)
        comm = np.where(move, (comm + side) % C, comm)
        jump = rng.random(n_sessions) < p_transition
        steps[:, t] = np.where(jump, successor[steps[:, t - 1]], draw(comm))
    start = _T0 + rng.integers(0, _SPAN, n_sessions)                # (n_sessions,)
    gaps = rng.integers(10, 300, steps.shape)                       # (n, T), [:, 0] unused
    gaps[:, 0] = 0
    gaps[np.arange(steps.shape[1])[None, :] >= lengths[:, None]] = 0
    end_time = (start + gaps.sum(axis=1)).astype(np.float64)        # (n_sessions,)

    order = np.lexsort((np.arange(n_sessions), start))              # by start time
    lengths, steps, end_time = lengths[order], steps[order], end_time[order]
    valid = np.arange(steps.shape[1])[None, :] < lengths[:, None]   # (n, T)
    sessions = Sequences(np.concatenate([[0], np.cumsum(lengths)]), steps[valid], n_items,
                         item_ids=np.arange(n_items), end_time=end_time)
    if return_truth:
        return sessions, SyntheticSessionsTruth(ci, w, successor, float(drift),
                                                float(p_transition), C)
    return sessions
