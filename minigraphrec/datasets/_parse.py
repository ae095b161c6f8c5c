r"""The strict line parsing every loader shares: messages that name file and line,
id and number tokens, and the chunked reader of delimited text tables."""
from __future__ import annotations

import io
import logging
import math
import os
import re
from itertools import chain, repeat

import numpy as np

from ..data import Interactions
from ..errors import DataError

logger = logging.getLogger("minigraphrec.datasets")

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


def _first_lines_and_sep(path, sep, comments, encoding, what):
    """The first data lines of ``path`` and the separator to split them with.

    ``sep=None`` detects it from the first line; the whitespace separator
    becomes None, which splits on runs of whitespace. ``what`` names the
    rows ("interactions", "events") in the error for a file without any.
    """
    _check_file(path)
    first = _first_lines(path, comments, encoding)
    if not first:
        raise _fail(path, None, f"no {what} (the file is empty or holds only comments or "
                                "blank lines)")
    if sep is None:
        sep = _detect_sep(first[0][1])
    elif sep == _WHITESPACE:
        sep = None                          # internally, None splits on runs of whitespace
    return first, sep


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
