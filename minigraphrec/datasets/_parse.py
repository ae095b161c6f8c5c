r"""The strict line parsing every loader shares: messages that name file and line,
id and number tokens, gzip, CSV quoting, header and column-name rules, and the
chunked reader of delimited text tables."""
from __future__ import annotations

import codecs
import contextlib
import datetime
import gzip
import io
import logging
import math
import os
import re
import string
import zlib
from collections import defaultdict
from itertools import count, product, repeat

import numpy as np

from ..data import Interactions
from ..errors import DataError, check_bool

logger = logging.getLogger("minigraphrec.datasets")

_INT64_MAX = int(np.iinfo(np.int64).max)
_ON_UNKNOWN = ("error", "drop")


# =========================================================== shared helpers
def _fail(path, lineno, problem):
    """A DataError whose message starts with ``<file>, line <n>:``."""
    where = os.fspath(path) if lineno is None else f"{os.fspath(path)}, line {lineno}"
    return DataError(f"{where}: {problem}")


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")     # UTF-16 LE / BE (and UTF-32 LE) byte-order marks


def _decode(raw, path, lineno, encoding):
    """Decode one line of bytes; undecodable bytes are a DataError at that line, and so is
    a NUL character (NumPy's string arrays would drop it from the end of an id) and a
    UTF-16 byte-order mark at the start of line 1 (whatever ``encoding``).

    A UTF-8 byte-order mark at the start of line 1 is removed.
    """
    if lineno == 1 and raw.startswith(_UTF16_BOMS):
        raise _fail(path, lineno, f"the file starts with the bytes {raw[:2]!r}, a UTF-16 "
                                  f"byte-order mark: it looks like UTF-16 text, which the "
                                  f"loaders do not read (they read ASCII-compatible "
                                  f"encodings: UTF-8, latin-1, cp1252, ...); convert it to "
                                  f"UTF-8 (iconv -f UTF-16 -t UTF-8)")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start:exc.end]
        raise _fail(path, lineno, f"undecodable bytes {bad!r} at byte {exc.start + 1} of the "
                                  f"line (the file is read as {encoding})") from None
    if "\0" in text:
        utf16 = (" (UTF-16 text has one beside every ASCII character: if the file is UTF-16, "
                 "convert it to UTF-8)" if 3 * text.count("\0") >= len(text.strip()) else "")
        raise _fail(path, lineno, f"a NUL character (\\x00) at character "
                                  f"{text.index(chr(0)) + 1} of the line "
                                  f"{text.strip()[:80]!r}{utf16}")
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


_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")


def _float(token):
    """``float(token)`` for a number written in ASCII without ``_``, else ValueError: Python's
    ``float`` also reads ``1_000`` and non-ASCII digits (``٥`` is 5.0), which no data file
    means as a number (ids refuse them too)."""
    if not token.isascii() or "_" in token:
        raise ValueError(token)
    return float(token)


def _parse_float(token, path, lineno, what, iso_times=False):
    """A finite float written in ASCII (:func:`_float`); NaN and inf are errors.

    ``iso_times``: whether the format reads ISO-8601 timestamps (when its first one is):
    it words the error for a date in a timestamp field, which in such a file follows a
    numeric first timestamp, and elsewhere is not a timestamp the format reads at all.
    """
    try:
        value = _float(token)
    except ValueError:
        if what == "timestamp" and _is_iso_datetime(token):
            if iso_times:                                       # after numeric ones
                raise _fail(path, lineno, f"timestamp {token!r} is an ISO-8601 date-time, but "
                                          f"the file's first timestamp is a number: every "
                                          f"timestamp of a file has the first one's form") \
                    from None
            kind = "date" if len(token) == 10 else "date-time"     # YYYY-MM-DD: 10 characters
            raise _fail(path, lineno, f"timestamp {token!r} is a {kind}; this format's "
                                      f"timestamps are numbers (Unix seconds)") from None
        why = (" (only ASCII digits are read)" if not token.isascii() else
               " (digits are not grouped with '_')" if "_" in token else
               f" (a decimal comma? numbers are read with a decimal point, as "
               f"{token.replace(',', '.')})" if _DECIMAL_COMMA.fullmatch(token) else "")
        raise _fail(path, lineno, f"{what} {token!r} is not a number{why}") from None
    if not math.isfinite(value):
        raise _fail(path, lineno, f"{what} {token!r} is not finite")
    return value


def _is_number(token):
    try:
        _float(token)
    except ValueError:
        return False
    return True


def _check_on_unknown(on_unknown):
    if on_unknown not in _ON_UNKNOWN:
        raise ValueError(f"on_unknown must be one of {_ON_UNKNOWN}, got {on_unknown!r}")


_ON_MISSING = ("error", "drop", "keep")


def _check_on_missing(on_missing):
    if on_missing not in _ON_MISSING:
        raise ValueError(f"on_missing must be one of {_ON_MISSING}, got {on_missing!r}")


def _check_file(path):
    """Raise an OSError naming ``path`` unless it is a regular file: FileNotFoundError for no
    such path or another kind of entry (a device such as /dev/null), IsADirectoryError
    (not a FileNotFoundError) for a folder."""
    if os.path.isfile(path):
        return
    if os.path.isdir(path):
        raise IsADirectoryError(f"{os.fspath(path)} is a folder, not a file")
    if os.path.exists(path):
        raise FileNotFoundError(f"{os.fspath(path)} is not a regular file")
    raise FileNotFoundError(f"no such file: {os.fspath(path)}")


_GZIP_MAGIC = b"\x1f\x8b"
# the first bytes of the archives and compressed streams the loaders do not read: read as
# text, they would fail at their first undecodable byte, with a message about encodings
#: the first bytes of a zip archive (with members, empty); every file ``mgr.save`` writes is one
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OTHER_MAGIC = ((ZIP_MAGIC[0], "a zip archive", "unzip"),
                (ZIP_MAGIC[1], "an (empty) zip archive", "unzip"),
                (b"\xfd7zXZ\x00", "xz-compressed", "unxz"),
                (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "7z x"),
                (b"\x28\xb5\x2f\xfd", "zstd-compressed", "unzstd"))
_BZIP2_MAGIC = re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)")   # a block, or an empty stream


def _check_not_archive(path, head):
    """A DataError if ``head``, the first bytes of ``path``, open a zip, bzip2, xz, 7-Zip or
    zstd file: the loaders read plain or gzip-compressed text only."""
    found = next(((what, tool) for magic, what, tool in _OTHER_MAGIC if head.startswith(magic)),
                 None)
    if found is None and _BZIP2_MAGIC.match(head):
        found = "bzip2-compressed", "bunzip2"
    if found is not None:
        what, tool = found
        raise _fail(path, None, f"the file is {what} (its first bytes are {head[:4]!r}): unpack "
                                f"it first ({tool}); the loaders read plain or "
                                f"gzip-compressed text")


@contextlib.contextmanager
def _open_binary(path):
    """Open ``path`` to read bytes, decompressed on the fly if it is gzip.

    Gzip is recognised by its first two bytes (``1f 8b``), not by the name; a
    damaged or truncated gzip stream is a DataError naming the file, and so is a
    zip, bzip2, xz, 7-Zip or zstd file (by its first bytes), which is to be unpacked first.
    """
    with open(path, "rb") as f:
        head = f.read(10)
        _check_not_archive(path, head)
        compressed = head[:2] == _GZIP_MAGIC
        f.seek(0)
        if not compressed:
            yield f
            return
        try:
            with gzip.GzipFile(fileobj=f) as g:
                yield g
        except (OSError, EOFError, zlib.error) as exc:       # gzip.BadGzipFile is an OSError
            raise _fail(path, None, f"the gzip-compressed data cannot be read ({exc})") from None


# a line split at b"\n" that still holds a \r: the file ends its lines with \r alone
_CR_PROBLEM = ("a carriage return (\\r) inside the line: the file seems to end its lines with "
               "\\r alone (classic Mac OS); convert the line ends to \\n or \\r\\n")


def _count_unknown(test_path, unknown):
    """How many test interactions are dropped, ``unknown`` (n_test,) bool marking them (under
    ``on_unknown="drop"``; logged): a DataError if that is every one, as an empty test set
    would evaluate nothing."""
    n_dropped, n_test = int(unknown.sum()), unknown.shape[0]
    if n_dropped == n_test:
        raise _fail(test_path, None, f"all {n_dropped} test interactions are unknown to "
                                     f"training")
    if n_dropped:
        logger.warning("%s: dropped %d of %d test interactions whose user or item is unknown "
                       "to training (on_unknown='drop')", os.fspath(test_path), n_dropped,
                       n_test)
    return n_dropped


# ========================================================== ISO-8601 times
# Session logs date their events with ISO-8601 text: YooChoose
# "2014-04-07T10:51:09.277Z", Last.fm "2009-05-04T23:08:57Z". They are read as
# Unix seconds by a reference parser, one token at a time, and by a whole-array
# twin for the usual case -- every token of one layout, "Z" or no zone -- which
# gives the same integers (tested on the same tokens through either).
_ISO_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"                              # YYYY-MM-DD
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"    # THH:MM[:SS[.fff]]
    r"(Z|[+-]\d{2}(?::?\d{2})?)?)?",                        # Z, +HH, +HHMM, +HH:MM
    re.ASCII)                                               # \d: ASCII digits only
_ISO_FORM = ("an ISO-8601 date-time (YYYY-MM-DD, optionally followed by THH:MM[:SS[.fff]] "
             "and Z or an offset +HH:MM; no zone is UTC)")
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_MIN_MICROSECONDS = (datetime.date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86400 * 10**6
_TO_ZERO = str.maketrans("123456789", "000000000")
_ISO_BLOCK = 1 << 18                 # tokens per block of the array twin (bounds its memory)
#: NumPy 2 parses dates from bytes and raises ValueError on an invalid one; NumPy 1.x
#: crashes the interpreter on one (``np.array([b"2014-13-07"]).astype("datetime64[us]")``,
#: 1.24 and 1.26), and raises only from str, which took 8x the time in one ad-hoc timing
#: (2^18 dates, NumPy 2.4: 71 ms against 9 ms): so only 1.x parses from str
_BYTES_DATES_SAFE = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _is_iso_datetime(token):
    """Whether ``token`` has the form of an ISO-8601 date-time (its values unchecked)."""
    return _ISO_DATETIME.fullmatch(token) is not None


def _iso_microseconds(token):
    r"""Microseconds since 1970-01-01T00:00Z of one ISO-8601 token: the reference.

    ``days·86400 + h·3600 + m·60 + s − offset`` seconds, then the fraction truncated to
    microseconds; no zone means UTC. ValueError for anything else: a month 13, an hour
    24, a leap second 60, year 0, an offset beyond 23:59.
    """
    m = _ISO_DATETIME.fullmatch(token)
    if m is None:
        raise ValueError(token)
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    days = datetime.date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    hour, minute, second = int(hour or 0), int(minute or 0), int(second or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(token)
    offset = 0                                               # seconds east of UTC
    if zone and zone != "Z":
        zone_h, zone_m = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
        if zone_h > 23 or zone_m > 59:
            raise ValueError(token)
        offset = (zone_h * 3600 + zone_m * 60) * (1 if zone[0] == "+" else -1)
    micro = int((fraction or "")[:6].ljust(6, "0"))
    return (days * 86400 + hour * 3600 + minute * 60 + second - offset) * 10**6 + micro


def _iso_microseconds_array(tokens):
    r"""The reference's integers, (n,) int64, for tokens of one layout; None otherwise.

    One layout: every token is ASCII, has the length of the first, digits where it has
    digits and its characters elsewhere (checked on the (n, L) array of bytes: byte
    minus the expected ``"0"`` or character is below 10 or 1, wrapping around below),
    the layout matches the ISO pattern, its zone is ``Z`` or none and its fraction mark
    ``.``. NumPy's ``datetime64[us]`` then parses (it truncates a finer fraction, as the
    reference does); a token it refuses, or a year 0, returns None, and the reference
    finds and words the error.
    """
    if not tokens or len(set(map(len, tokens))) != 1 or not tokens[0].isascii():
        return None
    layout = tokens[0].translate(_TO_ZERO)                   # "0000-00-00T00:00:00.000Z"
    m = _ISO_DATETIME.fullmatch(layout)
    if m is None or m.group(8) not in (None, "Z") or "," in layout:
        return None
    width = len(layout)
    stem = width - (m.group(8) == "Z")                       # the characters NumPy reads
    expected = np.frombuffer(layout.encode(), dtype=np.uint8)            # (L,)
    below = np.where(expected == ord("0"), 10, 1).astype(np.uint8)       # (L,)
    out = np.empty(len(tokens), dtype=np.int64)
    for start in range(0, len(tokens), _ISO_BLOCK):
        try:
            raw = "".join(tokens[start:start + _ISO_BLOCK]).encode("ascii")
        except UnicodeEncodeError:
            return None
        codes = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)    # (b, L)
        if not ((codes - expected) < below).all():
            return None
        text = np.ascontiguousarray(codes[:, :stem]).view(f"S{stem}").ravel()   # (b,)
        try:
            if not _BYTES_DATES_SAFE:          # NumPy 1.x: from str (see _BYTES_DATES_SAFE)
                text = text.astype(f"U{stem}")
            micro = text.astype("datetime64[us]").astype(np.int64)          # (b,)
        except ValueError:
            return None
        if micro.min() < _MIN_MICROSECONDS:
            return None
        out[start:start + micro.shape[0]] = micro
    return out


def _iso_seconds(tokens, lines, path, what="timestamp", hint=""):
    """ISO-8601 tokens -> Unix seconds, (n,) float64; a bad token is a DataError at its line."""
    micro = _iso_microseconds_array(tokens)                  # (n,) int64, or None
    if micro is None:
        micro = np.empty(len(tokens), dtype=np.int64)
        for j, token in enumerate(tokens):
            try:
                micro[j] = _iso_microseconds(token)
            except ValueError:
                raise _fail(path, int(lines[j]), f"{what} {token!r} is not {_ISO_FORM}"
                                                 f"{hint}") from None
    return micro / 1e6


def _is_time_value(token):
    """A timestamp, for the header guess: a number or an ISO-8601 date-time."""
    return _is_number(token) or _is_iso_datetime(token)


# ============================================================== time units
# The loaders that read timestamps (load_triples, load_sessions' "triples") take the
# unit of numeric ones and return Unix seconds, refusing a unit that cannot be right.
_TIME_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}    # per second
# |t| >= 1e11 seconds is beyond the year 5138: a Unix time in a finer unit read as seconds
_MAX_SECONDS = 1e11
_YEAR = 365.25 * 86400
# ends the messages of a badly quoted field, in the loaders that take quoting=
_QUOTE_HINT = ("; if the file does not quote its fields (a TSV dump such as Last.fm's), pass "
               "quoting=False")


def _to_seconds(times, time_unit, lines, path, iso):
    """Numeric timestamps in ``time_unit`` -> seconds, refusing a unit that cannot be right.

    ``times`` (n,) float64; ``iso``: ``(line, token)`` of the first timestamp when the
    file's are ISO-8601 text (already seconds), else None. ``time_unit=None`` keeps the
    numbers as they are.
    """
    if iso is not None:
        if time_unit not in ("s", None):
            raise _fail(path, iso[0], f"time_unit={time_unit!r} applies to numeric "
                                      f"timestamps; {iso[1]!r} is an ISO-8601 date-time, "
                                      f"read as Unix seconds")
        return times
    if time_unit is None:
        return times
    seconds = times / _TIME_UNITS[time_unit] if time_unit != "s" else times     # (n,)
    far = np.abs(seconds) >= _MAX_SECONDS
    if far.any():
        j = int(np.flatnonzero(far)[0])
        fits = [u for u, f in _TIME_UNITS.items() if abs(times[j]) / f < _MAX_SECONDS]
        advice = f"pass time_unit={fits[0]!r} if that is its unit; " if fits else ""
        raise _fail(path, int(lines[j]), f"timestamp {times[j]:.17g} is "
                                         f"{abs(seconds[j]) / _YEAR:.0f} years from 1970 read "
                                         f"as time_unit={time_unit!r}: {advice}time_unit=None "
                                         f"keeps the numbers as they are, in their own unit")
    return seconds


# ============================================================ text tables
# Delimited files are read a chunk of whole lines (~128 KiB) at a time. A chunk
# is parsed with whole-chunk string operations when it looks regular (no
# comment, no blank line, the right field count everywhere, numbers that
# parse and are finite); otherwise, and whenever anything is off, the chunk is
# re-read line by line by `_TableReader._chunk_by_line`, the reference path,
# which decides what is an error and words the message. Both paths give the
# same columns (tested by running the same file through either). Either gives
# a chunk's fields as str tokens, which `_TableReader.read` turns into numbers
# before the next chunk (ids numbered, ISO-8601 times converted): the tokens
# of one chunk at a time, never of the whole file, are held as Python objects.
# A chunk is small so that its strings (~1 MB of objects) are still in the CPU's
# cache when they are numbered, freed, and their memory reused by the next
# chunk's: with 4 MB chunks (tens of MB of strings) each of those steps missed
# the cache, and loads took up to 30 % more time than keeping every string to
# the end; with 128 KiB they take 3-44 % less (1M- and 4M-line files, fresh
# processes, AMD EPYC; 2026-12-07, ad hoc), and the peak falls too.
_CHUNK_BYTES = 1 << 17                         # bytes read at a time (tests make it tiny)
# the longest raw id (characters) the delimited readers take: raw ids end as NumPy string
# arrays (user_ids, item_ids), 4 bytes per character of the longest id for every id, so
# one 20,000-character id among 2,000 short ones takes 160 MB (at this bound, one among a
# million takes 4 GB); a longer field is a wrong separator or column, not an id
_MAX_ID_CHARS = 1024
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


def _join(blocks):
    """One (n,) array of a list of (n_block,) arrays, emptied on the way: the blocks are
    freed column by column, not held beside the whole columns until the end."""
    whole = np.concatenate(blocks)
    blocks.clear()
    return whole


def _whole_line_blocks(f):
    """Yield the bytes of binary file ``f`` in blocks of about ``_CHUNK_BYTES`` whole lines.

    The bytes after the last line end are kept as a list of reads, joined once their line
    ends, and only each new read is searched for ``\\n``: a line of many reads costs time in
    proportion to its length, not to its square.
    """
    rest = []                               # reads since the last line end, none has b"\n"
    while True:
        block = f.read(_CHUNK_BYTES)
        if not block:
            if rest:
                yield b"".join(rest)        # the last line, without a final newline
            return
        cut = block.rfind(b"\n") + 1       # 0: no line ends here yet, read on
        if not cut:
            rest.append(block)
            continue
        rest.append(block[:cut])
        yield b"".join(rest) if len(rest) > 1 else rest[0]
        rest = [block[cut:]] if cut < len(block) else []


def _first_lines(path, comments, encoding, n=2, skipped=None):
    r"""The first ``n`` non-blank lines as ``(lineno, line)``, after the leading comments.

    Only the comment lines above the first data line are skipped (lines whose
    first non-blank characters are ``comments``); once a data line is found,
    a line starting with ``comments`` is data. ``skipped``, a list, collects the
    skipped comment lines. A ``\r`` inside a line is an error (``_CR_PROBLEM``).
    """
    found = []
    with _open_binary(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = _decode(raw, path, lineno, encoding).rstrip("\r\n")
            if "\r" in line:
                raise _fail(path, lineno, _CR_PROBLEM)
            stripped = line.strip()
            if not stripped:
                continue
            if not found and comments and stripped.startswith(comments):
                if skipped is not None:
                    skipped.append((lineno, line))
                continue
            found.append((lineno, line))
            if len(found) == n:
                break
    return found


_WHITESPACE = r"\s+"                     # the `sep` that means runs of whitespace
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')  # a quoted field; group 1 its text, "" for each "
_SPACES = re.compile(r"\s+")


_SEPARATORS = ("::", "\t", ",", ";")   # what _detect_sep looks for, in order
_SEP_SAMPLE = 20                        # the data lines that tell apart several candidates


def _sep_candidates(line):
    """The separators of ``_SEPARATORS`` that ``line`` holds outside quotes, in that order."""
    line = _QUOTED.sub("", line)
    return [candidate for candidate in _SEPARATORS if candidate in line]


def _detect_sep(path, lines, n_fields=None):
    r"""The separator of a file from its first data lines ``(lineno, line)``.

    The one of ``'::'``, tab, comma and ``';'`` that line 1 holds outside quotes; none:
    runs of whitespace (None). If line 1 holds several, only those that occur as often
    (outside quotes) in each of ``lines`` -- that give every line one field count -- are
    in the running, and of these the one that gives ``n_fields`` fields (the length of
    ``columns=``, when given), else the one that gives the most: a tab beside the comma of
    an artist's name or of a decimal fraction, ``;`` beside a decimal comma (``1;2;4,5``:
    3 fields at ``;``, 2 at ``,``). If that leaves no single one (``a;4,5``: 2 fields
    either way), a DataError names them and asks for ``sep=``.
    """
    candidates = _sep_candidates(lines[0][1])
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    texts = [_QUOTED.sub("", line) for _, line in lines]
    counts = {c: {text.count(c) + 1 for text in texts} for c in candidates}   # fields
    fields = {c: counts[c].pop() for c in candidates if len(counts[c]) == 1}  # even ones
    fit = [c for c in fields if fields[c] == n_fields]
    most = [c for c in fields if fields[c] == max(fields.values())]
    for chosen in (fit, most):
        if len(chosen) == 1:
            return chosen[0]
    named = " and ".join(map(repr, candidates))
    if fields:
        split = ", ".join(f"{k} at {c!r}" for c, k in fields.items())
        why = (f"{' and '.join(map(repr, fields))} split each of the first {len(lines)} data "
               f"line(s) into as many fields ({split})")
    else:
        why = f"none splits each of the first {len(lines)} data lines into as many fields"
    example = (" (sep=';' for a ';'-separated file with decimal commas, such as '1;4,5')"
               if "," in candidates and ";" in candidates else "")
    raise _fail(path, lines[0][0], f"cannot tell the field separator: the line holds {named} "
                                   f"outside quotes, and {why}; pass "
                                   f"{' or '.join(f'sep={c!r}' for c in candidates)}{example}")


def _sep_note(given, sep, lineno):
    """What the field-count error adds about the separator: where it was detected, or
    nothing when ``given`` (the ``sep`` argument) is not None."""
    if given is not None:
        return ""
    split = "runs of whitespace" if sep is None else repr(sep)
    return f"; split at {split} (detected from line {lineno}; pass sep= to choose it)"


def _split_fields(line, sep):
    """Fields of a line without quotes: runs of whitespace (``sep=None``) or ``sep``, stripped."""
    if sep is None:
        return line.split()
    return [x.strip() for x in line.split(sep)]


def _split_line(line, sep, path, lineno, quoting=True, hint=""):
    """Fields of one line, stripped; a field may be quoted (:func:`_split_quoted`).

    ``quoting=False``: a ``"`` is an ordinary character everywhere. ``hint`` ends the
    messages of a badly quoted field.
    """
    if quoting and '"' in line:
        return _split_quoted(line, sep, path, lineno, hint)
    return _split_fields(line, sep)


def _next_sep(line, pos, sep):
    """``(start, end)`` of the first separator at or after ``pos``; ``(len, len)`` if none."""
    if sep is None:
        m = _SPACES.search(line, pos)
        return m.span() if m else (len(line), len(line))
    k = line.find(sep, pos)
    return (k, k + len(sep)) if k >= 0 else (len(line), len(line))


def _split_quoted(line, sep, path, lineno, hint=""):
    r"""Fields of one line with CSV (RFC 4180) double quotes.

    A field whose first non-blank character is ``"`` is quoted: it runs to the
    next ``"`` that is not doubled, separators inside it are data, ``""``
    stands for one ``"``, and its text is kept as it is (not stripped); only
    blanks may follow it before the separator. A ``"`` anywhere else in a
    field is an ordinary character. A quote that does not close on its line
    is an error: a field never spans lines. Unquoted fields are stripped, as
    in :func:`_split_fields`.
    """
    if sep is None:
        line = line.strip()
    fields, pos, n = [], 0, len(line)
    while True:
        while pos < n and line[pos].isspace() and (sep is None or line[pos] not in sep):
            pos += 1                                    # blanks before the field
        if line.startswith('"', pos):
            m = _QUOTED.match(line, pos)
            if m is None or line.startswith('"', m.end()):   # "ab""  -> no closing quote
                raise _fail(path, lineno, f"unbalanced double quote: field {len(fields) + 1} "
                                          f"opens a quote that does not close on this line, in "
                                          f"{line.strip()[:80]!r} (a quoted field ends at a "
                                          f"single '\"'; write '\"\"' for a quote inside it)"
                                          f"{hint}")
            value = m.group(1).replace('""', '"')
            start, end = _next_sep(line, m.end(), sep)
            if line[m.end():start].strip():
                raise _fail(path, lineno, f"field {len(fields) + 1} goes on after its closing "
                                          f"quote: {line[pos:start].strip()[:80]!r} (a quoted "
                                          f"field ends at a single '\"'; write '\"\"' for a quote "
                                          f"inside it){hint}")
        else:
            start, end = _next_sep(line, pos, sep)
            value = line[pos:start].strip()
        fields.append(value)
        if start == n:
            return fields
        pos = end


def _first_lines_and_sep(path, sep, comments, encoding, what, n_fields=None):
    """The first data lines of ``path`` and the separator to split them with.

    ``sep=None`` detects it from the first line, or the first ``_SEP_SAMPLE`` lines when the
    first holds several candidates (:func:`_detect_sep`, which prefers one that gives
    ``n_fields``, the length of ``columns=``); the whitespace separator
    becomes None, which splits on runs of whitespace. ``what`` names the
    rows ("interactions", "events") in the error for a file without any.
    Comment lines skipped at the top are logged; a warning names those that
    split into as many fields as the first data line (data, perhaps, whose
    first id starts with ``comments``).
    """
    _check_file(path)
    skipped = []
    first = _first_lines(path, comments, encoding, skipped=skipped)
    if not first:
        raise _fail(path, None, f"no {what} (the file is empty or holds only comments or "
                                "blank lines)")
    if sep is None:
        several = len(_sep_candidates(first[0][1])) > 1
        sep = _detect_sep(path, _first_lines(path, comments, encoding, n=_SEP_SAMPLE)
                          if several else first, n_fields)
    elif sep == _WHITESPACE:
        sep = None                          # internally, None splits on runs of whitespace
    if skipped:
        n_fields = len(_split_fields(first[0][1], sep))
        alike = [lineno for lineno, line in skipped if len(_split_fields(line, sep)) == n_fields]
        if alike:
            logger.warning("%s: skipped %d comment line(s) starting with %r above the first "
                           "data line; line(s) %s split into %d fields like the data: pass "
                           "comments=None if they are data", os.fspath(path), len(skipped),
                           comments, ", ".join(map(str, alike)), n_fields)
        else:
            logger.info("%s: skipped %d comment line(s) starting with %r above line %d",
                        os.fspath(path), len(skipped), comments, first[0][0])
    return first, sep


_ASCII_PROBE = string.printable          # digits, letters, punctuation, blanks, \n, \r


def _check_encoding(encoding):
    r"""ValueError unless ``encoding`` names a text encoding Python knows in which the ASCII
    bytes are the ASCII characters (UTF-8, latin-1, cp1252, ...): the readers split lines at
    the byte ``\n`` and find separators, quotes and digits as ASCII bytes, so UTF-16 or
    EBCDIC text cannot be read. Checked before the file is opened."""
    if not isinstance(encoding, str):
        raise ValueError(f"encoding must be the name of a text encoding (e.g. 'utf-8', "
                         f"'latin-1'), got {encoding!r}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not an encoding Python knows (e.g. "
                         f"'utf-8', 'latin-1', 'cp1252')") from None
    try:
        same = _ASCII_PROBE.encode("ascii").decode(encoding) == _ASCII_PROBE
    except LookupError:                          # a codec of bytes to bytes, such as 'hex'
        raise ValueError(f"encoding {encoding!r} is not a text encoding (e.g. 'utf-8', "
                         f"'latin-1', 'cp1252')") from None
    except UnicodeDecodeError:
        same = False
    if not same:
        raise ValueError(f"encoding {encoding!r} is not ASCII-compatible: the loaders read "
                         f"text whose ASCII characters (line ends, separators, quotes, "
                         f"digits) are single ASCII bytes, as in UTF-8, latin-1 or cp1252; "
                         f"convert the file to UTF-8 (iconv -f {encoding} -t UTF-8)")


def _check_comments(comments):
    """ValueError unless ``comments`` is None or a non-empty string (``""`` would make every
    line a comment)."""
    if comments is not None and (not isinstance(comments, str) or not comments):
        raise ValueError(f"comments must be a non-empty string (the prefix of the comment "
                         f"lines, e.g. '#') or None for no comment lines, got {comments!r}")


def _check_table_options(sep, header, time_unit, quoting, encoding, comments):
    """ValueError for a bad ``sep``, ``header``, ``time_unit``, ``quoting``, ``encoding`` or
    ``comments`` argument of a delimited-file loader (``load_triples``, ``load_sessions``)."""
    if sep is not None and (not isinstance(sep, str) or not sep or "\n" in sep
                            or "\r" in sep):
        raise ValueError(f"sep must be a non-empty string without line breaks, or None "
                         f"to detect it; got {sep!r}")
    if header not in (None, True, False):
        raise ValueError(f"header must be None (guess), True or False; got {header!r}")
    if time_unit is not None and time_unit not in _TIME_UNITS:
        raise ValueError(f"time_unit must be one of {tuple(_TIME_UNITS)} or None, got "
                         f"{time_unit!r}")
    check_bool(quoting, "quoting")
    _check_encoding(encoding)
    _check_comments(comments)


def _first_rows(path, sep, comments, encoding, what, quoting, columns):
    """The first data lines, split: ``(first, rows, sep, where)``.

    ``first``: the lines as ``(lineno, line)`` (:func:`_first_lines_and_sep`); ``rows``:
    their fields; ``where``: the column of each role given by ``columns`` (the parsed
    ``({role: index}, n_fields)``), whose field count the first line must have, or None
    without ``columns`` (each loader then has its headerless layout).
    """
    first, sep = _first_lines_and_sep(path, sep, comments, encoding, what,
                                      None if columns is None else columns[1])
    rows = [_split_line(line, sep, path, lineno, quoting, _QUOTE_HINT)
            for lineno, line in first]
    where = None
    if columns is not None:
        where, n_given = columns
        if len(rows[0]) != n_given:
            raise _fail(path, first[0][0], f"expected {n_given} fields (one per entry of "
                                           f"columns=), got {len(rows[0])}")
    return first, rows, sep, where


# ============================================================ column names
# Header names the loaders recognise, compared after lower-casing and dropping
# "_", "-", "." and blanks ("userId" = "user_id" = "User ID"). A header field
# that is empty or a missing-value mark is data (a header names every column).
_COLUMN_NAMES = {
    "user": ("user", "userid", "uid", "customer", "customerid", "reviewer", "reviewerid",
             "visitor", "visitorid"),
    "item": ("item", "itemid", "iid", "movie", "movieid", "product", "productid", "asin",
             "business", "businessid", "book", "bookid", "isbn", "track", "trackid", "song",
             "songid", "artist", "artistid", "article", "articleid"),
    "rating": ("rating", "bookrating", "score", "stars", "overall", "weight", "count", "clicks",
               "plays", "playcount"),
    "timestamp": ("timestamp", "time", "ts", "unixtime", "unixreviewtime", "datetime", "date",
                  "eventtime"),
    "session": ("session", "sessionid", "sid"),
    "event": ("event", "eventtype", "action", "actiontype", "behavior", "behaviour",
              "behaviortype"),
}
_ROLE_OF_NAME = {name: role for role, names in _COLUMN_NAMES.items() for name in names}
_NAME_NOISE = re.compile(r"[\s_.\-]")
_MISSING = frozenset(("", "na", "n/a", "nan", "null", "none", "nil", "?"))
# every spelling of a mark, any case ("NA", "nA", "Na", ...): the tokens whose lower() is in
# _MISSING (the marks are ASCII, and no other character lowers to an ASCII letter but the
# Kelvin sign, to "k", in no mark: tested), for a set lookup without a lower() per token
_MISSING_ANY_CASE = frozenset("".join(chars) for mark in _MISSING
                              for chars in product(*({c, c.upper()} for c in mark)))


def _role_of(field, roles):
    """The role (one of ``roles``) that header field ``field`` names, or None."""
    role = _ROLE_OF_NAME.get(_NAME_NOISE.sub("", field).lower())
    return role if role in roles else None


def _guess_header(path, first, rows, numeric, roles, is_value=_is_number):
    r"""Whether the first data line is a header, decided only where it is certain.

    ``first``: the first (two) data lines as ``(lineno, line)``; ``rows``:
    their fields; ``numeric``: the positions of the numeric columns (rating,
    timestamp); ``roles``: the roles whose names count; ``is_value``: what
    counts as "a number" below (a loader that reads ISO-8601 times passes a
    test that accepts them too). In this order:

    1. a field of line 1 is empty or a missing-value mark (``NA``, ``NaN``,
       ``null``, ``None``, ``?``): data -- a header names every column, so a
       bad value there is reported like on any other line;
    2. every field of line 1 is a recognised column name: a header;
    3. a field of line 1 is a number: data -- a number names no column;
    4. a numeric column holds a number in line 2 (and, by 3, a word in line
       1): a header -- as data, line 1 would be an error. As its names are
       not all known ones, a warning names the line (``u1,i1,-`` may be data
       with a bad rating): ``header=False`` reads it as data, ``header=True``
       says it is a header, without the warning;
    5. otherwise (two columns of word ids, say: ``alice,book``) no rule can
       tell: a DataError at line 1 asks for ``header=True`` or ``header=False``.
    """
    head = rows[0]
    if any(x.lower() in _MISSING for x in head):
        return False
    if all(_role_of(x, roles) for x in head):
        return True
    if any(is_value(x) for x in head):
        return False
    if len(rows) > 1 and len(rows[1]) == len(head):
        valued = [k for k in numeric if is_value(rows[1][k])]
        if valued:
            k = valued[0]
            logger.warning("%s: line %d (%r) is skipped as a header, as its field %d %r is not "
                           "a number while line %d has one there, but not all of its fields "
                           "are known column names: if it is data, read it with header=False "
                           "(--no-header); header=True (--header) takes it as a header "
                           "without this warning", os.fspath(path), first[0][0],
                           first[0][1].strip()[:80], k + 1, head[k], first[1][0])
            return True
    raise _fail(path, first[0][0], f"cannot tell whether this line is a header or data "
                                   f"({first[0][1].strip()[:80]!r}: no field is a number and "
                                   f"not every field is a known column name); pass "
                                   f"header=True if it is a header, header=False if it is data")


def _roles_from_header(path, lineno, header, roles, required):
    """Column index of each role, read from the header's names; None if it names none.

    Once one field is a known name, every field must be one, each role named
    once and the ``required`` roles present: otherwise some column would be
    dropped or read as another's role, so it is a DataError asking for
    ``columns=``.
    """
    named = [_role_of(x, roles) for x in header]
    if not any(named):
        return None
    known = "; ".join(f"{role}: {', '.join(_COLUMN_NAMES[role])}" for role in roles)
    where = {}
    for k, (field, role) in enumerate(zip(header, named)):
        if role is None:
            raise _fail(path, lineno, f"header field {k + 1} {field!r} is not a column name "
                                      f"this loader knows, so the columns cannot be told apart "
                                      f"by name; give their roles with columns= (known names, "
                                      f"case, blanks, '_', '.' and '-' ignored: {known})")
        if role in where:
            raise _fail(path, lineno, f"header fields {where[role] + 1} and {k + 1} "
                                      f"({header[where[role]]!r}, {field!r}) both name the "
                                      f"{role}; give the roles with columns=")
        where[role] = k
    for role in required:
        if role not in where:
            raise _fail(path, lineno, f"the header {', '.join(header)!r} names no {role} "
                                      f"column; give the roles with columns=")
    return where


def _parse_columns(columns, roles, required):
    """The ``columns`` argument -> ``({role: index}, n_fields)``; bad values are ValueErrors.

    One entry per field: a role from ``roles``, or None / ``"-"`` for a
    column to skip; a string is split at commas (``"item,user,-,timestamp"``).
    """
    if isinstance(columns, str):
        entries = columns.split(",")
    else:
        try:
            entries = list(columns)
        except TypeError:
            raise ValueError(f"columns must be a sequence of roles or a comma-separated "
                             f"string (e.g. 'user,item,rating'), got {columns!r}") from None
    where = {}
    for k, entry in enumerate(entries):
        role = entry.strip().lower() if isinstance(entry, str) else entry
        if role is None or role == "-":
            continue
        if role not in roles:
            raise ValueError(f"columns: entry {k + 1} {entry!r} is not one of {roles} or "
                             f"None / '-' (a column to skip)")
        if role in where:
            raise ValueError(f"columns: {role!r} is given twice (entries {where[role] + 1} "
                             f"and {k + 1})")
        where[role] = k
    missing = [role for role in required if role not in where]
    if missing:
        raise ValueError(f"columns must give the {' and '.join(missing)} column(s); got "
                         f"{columns!r}")
    return where, len(entries)


class _Columns:
    """One file's interactions: internal ids, floats and 1-based line numbers.

    The reader numbers the raw ids as it reads (:func:`_number_chunk`): ``users`` and
    ``items`` are internal ids in order of first appearance in the file, and
    ``user_index`` / ``item_index`` map each raw id to its internal id -- the dicts' keys,
    in order, are the raw ids of internal ids 0, 1, 2, ...
    """

    def __init__(self, users, items, user_index, item_index, weights, times, lines, extra=()):
        self.users = users            # ndarray of int64, (n,): internal user ids
        self.items = items            # ndarray of int64, (n,): internal item ids
        self.user_index = user_index  # dict str -> int, (n_users,): raw id -> internal id
        self.item_index = item_index  # dict str -> int, (n_items,)
        self.weights = weights        # ndarray (n,) or None
        self.times = times            # ndarray (n,) or None
        self.lines = lines            # ndarray of int64, (n,)
        # the reader's extra columns, in order: (ids (n,), index) like users and
        # user_index for a numbered column, the (n,) array for a converted one
        self.extra = extra


class _TableReader:
    r"""Stream one delimited file (gzip or not) into :class:`_Columns`.

    Parameters: the separator (``None``: runs of whitespace), the number of
    fields every data line has, the number of leading lines to skip (the
    header, and the comment and blank lines above the first data line), the
    encoding, and the column indices of user, item, rating and timestamp (the
    last two may be ``None``). ``extra``: more text columns to read, as
    ``(index, what)`` pairs (``what`` names the field in the message for an
    empty one), or ``(index, what, True)`` for a column whose field may be
    empty (a session log's user: anonymous), numbered as the ids are; or
    ``(index, what, empty_ok, convert)`` for a column converted chunk by
    chunk, ``convert(tokens, lines)`` -> (n_chunk,) array (ISO-8601 times
    to seconds), whose first DataError is raised once the whole file is
    read (a line's own problems, anywhere in the file, come first). They are
    returned as ``_Columns.extra`` in that order; ``id_names``:
    what the messages call the two id columns (a session log reads a session
    id in the user's place), ``time_name`` the time column (a CIKM file's
    ``timeframe``); ``quoting=False``: a ``"`` is an ordinary
    character (``quote_hint`` ends the messages of a badly quoted field).
    ``on_missing``: what a missing id is (an empty field, or a missing-value
    mark of ``_MISSING`` such as ``NA``) -- ``"error"``, ``"drop"`` (the line
    is skipped, unparsed, and counted in ``dropped``, the file lines, logged
    by :meth:`read`) or ``"keep"`` (a mark is an id; an empty field is still an
    error). Other columns
    are checked for their count only. Blank lines are skipped anywhere;
    fields may be quoted (:func:`_split_quoted`). ``iso_times``: whether the
    format reads ISO-8601 timestamps (:func:`_parse_float`); ``sep_note`` ends
    the field-count error (:func:`_sep_note`); ``rows`` names the rows
    ("interactions", "events") and ``comments`` says whether comment lines
    may be skipped, for the error of a file without any row. A numbered
    column's raw id longer than ``_MAX_ID_CHARS`` is an error.
    """

    def __init__(self, path, sep, n_fields, n_skip, encoding,
                 col_user, col_item, col_weight, col_time, extra=(), id_names=("user", "item"),
                 quoting=True, quote_hint="", on_missing="error", time_name="timestamp",
                 iso_times=False, sep_note="", rows="interactions", comments=False):
        self.path, self.sep, self.n_fields = path, sep, n_fields
        self.n_skip, self.encoding = n_skip, encoding
        self.col_user, self.col_item = col_user, col_item
        self.col_weight, self.col_time = col_weight, col_time
        # (index, what, whether the field may be empty) per extra column
        self.extra = tuple((e[0], e[1], len(e) > 2 and e[2]) for e in extra)
        # per extra column: its converter, or None for a column numbered like the ids
        self.convert = tuple(e[3] if len(e) > 3 else None for e in extra)
        self.id_names, self.time_name = id_names, time_name
        self.quoting, self.quote_hint = quoting, quote_hint
        self.on_missing = on_missing
        self.iso_times, self.sep_note = iso_times, sep_note
        self.rows, self.comments = rows, comments
        self.dropped = []                 # file lines dropped for a missing id (list of int)

    def read(self):
        r"""The whole file as :class:`_Columns`, read one block of lines at a time.

        A block's tokens live only while it is read: its ids are numbered at once, in one
        dict per id column kept from block to block (:func:`_number_chunk`), and its
        converted columns converted, so what is kept of a block is int and float arrays
        (n_block,) and the raw ids not seen before, never one ``str`` per line.
        """
        user_index, item_index = _id_index(), _id_index()   # raw id -> internal id, whole file
        extra_index = [_id_index() if convert is None else None for convert in self.convert]
        # users, items, weights, times, lines, then the extra columns: each a list of blocks
        parts = [[] for _ in range(5 + len(self.extra))]
        failed = None                   # the first DataError of a converter, raised at the end
        start = 0                                   # lines before the current chunk
        with _open_binary(self.path) as f:
            for chunk in _whole_line_blocks(f):
                part = self._chunk_fast(chunk, start) or self._chunk_by_line(chunk, start)
                user_tok, item_tok, weights, times, lines, *extra_tok = part
                new = [_number_chunk(user_index, user_tok), _number_chunk(item_index, item_tok),
                       weights, times, lines]                        # (n_block,) each
                for tokens, index, convert in zip(extra_tok, extra_index, self.convert):
                    block = None                # once a conversion failed, none is done
                    if convert is None:
                        block = _number_chunk(index, tokens)         # (n_block,) int64
                    elif failed is None:
                        try:
                            block = convert(tokens, lines)           # (n_block,)
                        except DataError as exc:
                            failed = exc        # the lines after it are still checked
                    new.append(block)
                # the block's str tokens go before the next block is read
                del part, user_tok, item_tok, extra_tok
                for acc, block in zip(parts, new):
                    acc.append(block)
                start += chunk.count(b"\n") + (not chunk.endswith(b"\n"))
        users, items, weights, times, lines = parts[:5]
        n_kept = sum(len(x) for x in lines)
        if self.dropped:
            self._report_dropped(n_kept)
        if n_kept == 0:
            above = "a header, comments" if self.comments else "a header"
            raise _fail(self.path, None, f"no {self.rows} (the file is empty or holds only "
                                         f"{above} or blank lines)")
        if failed is not None:
            raise failed
        for index in (user_index, item_index, *extra_index):
            if index is not None:       # now plain mappings: a missing raw id is a KeyError
                index.default_factory = None
        extra = tuple(_join(blocks) if index is None else (_join(blocks), index)
                      for blocks, index in zip(parts[5:], extra_index))
        cols = _Columns(
            _join(users), _join(items), user_index, item_index,
            None if self.col_weight is None else _join(weights),
            None if self.col_time is None else _join(times),
            _join(lines).astype(np.int64, copy=False), extra)
        numbered = [(f"{self.id_names[0]} id", cols.users, user_index),
                    (f"{self.id_names[1]} id", cols.items, item_index)]
        numbered += [(what, *column) for (_, what, _), column in zip(self.extra, extra)
                     if isinstance(column, tuple)]
        for what, ids, index in numbered:
            self._check_id_length(what, ids, index, cols.lines)
        return cols

    def _check_id_length(self, what, ids, index, lines):
        """A DataError at the first line of the first raw id of ``index`` longer than
        ``_MAX_ID_CHARS`` (``ids`` (n,): the column's internal ids, ``lines`` (n,) their
        file lines)."""
        if max(map(len, index), default=0) <= _MAX_ID_CHARS:      # the loop over keys in C
            return
        k, token = next((k, tok) for k, tok in enumerate(index) if len(tok) > _MAX_ID_CHARS)
        j = int(np.argmax(ids == k))                              # its first line
        raise _fail(self.path, int(lines[j]),
                    f"{what} {token[:40]!r}... is {len(token)} characters long; ids are at "
                    f"most {_MAX_ID_CHARS} characters (a wrong separator, or a text column "
                    f"read as ids? check sep= and columns=)")

    # ---------------------------------------------------- reference path
    def _chunk_by_line(self, chunk, start):
        users, items, weights, times, lines = [], [], [], [], []
        extras = [[] for _ in self.extra]
        for lineno, raw in enumerate(io.BytesIO(chunk), start + 1):   # lines end at b"\n"
            if lineno <= self.n_skip:
                continue
            line = _decode(raw, self.path, lineno, self.encoding).rstrip("\r\n")
            stripped = line.strip()
            if not stripped:
                continue
            if "\r" in line:
                raise _fail(self.path, lineno, _CR_PROBLEM)
            fields = _split_line(line, self.sep, self.path, lineno, self.quoting,
                                 self.quote_hint)
            if len(fields) != self.n_fields:
                raise _fail(self.path, lineno, f"expected {self.n_fields} fields, got "
                                               f"{len(fields)} in {stripped[:80]!r}"
                                               f"{self._count_hint(stripped, len(fields))}"
                                               f"{self.sep_note}")
            if self._missing_id(fields, lineno, stripped):
                continue
            for (col, what, empty_ok), acc in zip(self.extra, extras):
                if not fields[col] and not empty_ok:
                    raise _fail(self.path, lineno, f"empty {what} in {stripped[:80]!r}")
                acc.append(fields[col])
            users.append(fields[self.col_user])
            items.append(fields[self.col_item])
            if self.col_weight is not None:
                weights.append(_parse_float(fields[self.col_weight], self.path, lineno,
                                            "rating"))
            if self.col_time is not None:
                times.append(_parse_float(fields[self.col_time], self.path, lineno,
                                          self.time_name, self.iso_times))
            lines.append(lineno)
        return (users, items, np.asarray(weights, dtype=np.float64),
                np.asarray(times, dtype=np.float64), np.asarray(lines, dtype=np.int64),
                *extras)

    def _missing_id(self, fields, lineno, stripped):
        """Whether the line's user or item id is missing and the line is to be dropped;
        raises for a missing id that is not to be dropped."""
        for what, col in zip(self.id_names, (self.col_user, self.col_item)):
            tok = fields[col]
            if tok and (self.on_missing == "keep" or tok.lower() not in _MISSING):
                continue
            if self.on_missing == "drop":
                self.dropped.append(lineno)
                return True
            found = f"empty {what} id" if not tok else f"missing {what} id {tok!r}"
            remedy = ("on_missing='drop' drops such lines" if not tok else
                      f"on_missing='drop' drops such lines, and on_missing='keep' reads "
                      f"{tok!r} as an id")
            raise _fail(self.path, lineno, f"{found} in {stripped[:80]!r} ({remedy})")
        return False

    def _report_dropped(self, n_kept):
        """Log the lines dropped for a missing id; an error if no line is left."""
        n = len(self.dropped)
        shown = ", ".join(map(str, self.dropped[:10])) + (", ..." if n > 10 else "")
        if n_kept == 0:
            raise _fail(self.path, None, f"every data line ({n}) has a missing "
                                         f"{' or '.join(self.id_names)} id: nothing is left "
                                         f"after on_missing='drop'")
        logger.warning("%s: dropped %d of %d lines with a missing %s id (on_missing='drop'): "
                       "line(s) %s", os.fspath(self.path), n, n + n_kept,
                       " or ".join(self.id_names), shown)

    def _count_hint(self, stripped, n_got):
        """What a wrong field count may mean, for the error message."""
        if stripped.startswith("#"):
            return (" (only the comment lines above the first data line are skipped; a later "
                    "line starting with '#' is data)")
        if self.sep is not None and n_got > self.n_fields and self.quoting:
            return f" (a field that holds {self.sep!r} must be quoted: \"...\")"
        return ""

    # ---------------------------------------------------------- fast path
    def _chunk_fast(self, chunk, start):
        """The same result as ``_chunk_by_line`` for a regular chunk, else None.

        The chunk is split into one flat token list with a single-character
        delimiter ``d`` standing for both the field separator and the line
        end (no per-line lists: this keeps the garbage collector idle); a
        per-line count of ``d`` checks that every line has ``n_fields``. A
        chunk with a ``\\r`` that does not end a line is left to the reference
        path; so is one with a ``"`` (``quoting=True``) unless its quotes all
        wrap whole fields simply (:func:`_unquote_every_field`,
        :func:`_unquote_simple`), which are then removed here: one scan for
        ``"``, so the plain chunks stay as fast as before quoting was read.
        """
        if b"\0" in chunk:                       # a NUL: an error, worded line by line
            return None
        try:
            text = chunk.decode(self.encoding)
        except UnicodeDecodeError:
            return None
        if start == 0 and text.startswith("\ufeff"):
            text = text[1:]
        if "\r" in text and text.count("\r") != text.count("\r\n"):
            return None
        if text.endswith("\n"):
            text = text[:-1]
        first = start + 1                                         # line number of text's 1st
        if self.n_skip >= first:                  # the header, the comments above the data
            kept = text.split("\n")[self.n_skip - start:]
            if not kept:
                return ([], [], np.empty(0), np.empty(0), np.empty(0, dtype=np.int64),
                        *([] for _ in self.extra))
            first, text = self.n_skip + 1, "\n".join(kept)
        if self.quoting and '"' in text:               # "A","B","5" -> A,B,5, else None
            unquoted = _unquote_every_field(text, self.sep, self.n_fields)
            text = unquoted if unquoted is not None else _unquote_simple(text, self.sep)
            if text is None:
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
        n = len(rows)
        if set(map(str.count, rows, repeat(d, n))) != {self.n_fields - 1}:
            return None
        flat = text.replace("\n", d).split(d)                     # (n * n_fields,)
        strip = self.sep is not None and _has_space_besides(text, d)
        columns = {}
        extra_cols = [k for k, _, _ in self.extra]
        for k in (self.col_user, self.col_item, self.col_weight, self.col_time, *extra_cols):
            if k is not None:
                col = flat[k::self.n_fields]                      # (n,)
                columns[k] = list(map(str.strip, col)) if strip else col
        users, items = columns[self.col_user], columns[self.col_item]
        extras = [columns[k] for k in extra_cols]
        if "" in users or "" in items or any("" in x for x, (_, _, empty_ok)
                                             in zip(extras, self.extra) if not empty_ok):
            return None
        if (self.on_missing != "keep" and _may_hold_missing_mark(text)
                and (_has_missing_mark(users) or _has_missing_mark(items))):
            return None
        numbers = []
        for k in (self.col_weight, self.col_time):
            if k is None:
                numbers.append(np.empty(0))
                continue
            joined = "".join(columns[k])          # 1_000 and non-ASCII digits: not numbers
            if "_" in joined or not joined.isascii():
                return None
            try:
                values = np.fromiter(map(float, columns[k]), dtype=np.float64, count=n)
            except ValueError:
                return None
            if not np.isfinite(values).all():
                return None
            numbers.append(values)
        return users, items, numbers[0], numbers[1], np.arange(first, first + n), *extras


_QUOTE_EDGE_SPACE = re.compile(r"(?:^|\x00)\s|\s(?:\x00|$)")   # a blank at a field's edge


def _unquote_every_field(text, sep, n_fields):
    r"""``text`` without its quotes if every field of every line is simply quoted, or None.

    The layout of most quoted exports (``"A2SUAM1J3GNN3B","0000013714","5.0"`` on every
    line), recognised by counting, with no split: the text opens and closes with ``"``,
    every separator sits in ``"<sep>"`` and every line end in ``"\n"`` (no two of these
    sharing a quote), and there are no other quotes (two per field). Every quote is then at
    a field's edge, and no quoted text holds a quote, a separator or a line end; with no
    blank beside a quote, the text between each pair is what :func:`_split_quoted` reads,
    so dropping the quotes leaves a chunk for the fast path. Anything else (``\r\n`` line
    ends, unquoted fields, ``""``, a whitespace separator, non-ASCII text with blanks)
    gives None, and :func:`_unquote_simple` decides.
    """
    if (sep is None or len(sep) != 1 or sep in '"\r\n\x00' or sep.isspace()
            or not text.startswith('"') or not text.endswith('"')):
        return None
    n_lines = text.count("\n") + 1
    n_seps = text.count(sep)
    if (n_seps != (n_fields - 1) * n_lines or text.count(f'"{sep}"') != n_seps
            or text.count('"\n"') != n_lines - 1 or text.count('"') != 2 * n_fields * n_lines):
        return None
    shared = (f'"{sep}"\n', f'\n"{sep}"', '""')         # a quote in two boundaries, or ""
    if (any(x in text for x in shared) or text.startswith(f'"{sep}') or text.endswith(f'{sep}"')
            or text.startswith('"\n') or text.endswith('\n"')):
        return None
    if _has_space_besides(text, sep):
        if not text.isascii():
            return None
        if any(f'"{c}' in text or f'{c}"' in text for c in " " + _ODD_ASCII_SPACE):
            return None                                  # a blank at a quoted field's edge
    return text.replace('"', "")


def _unquote_simple(text, sep):
    r"""``text`` with the quotes of its simply quoted fields removed, or None.

    A simply quoted field opens with ``"`` at the start of a line or right after the
    (one-character) separator, holds no quote, separator or line end and no blank at
    either end, and closes with ``"`` right before the separator or the line end:
    ``"A2SUAM1J3GNN3B","0000013714","5.0"``, every field of an Amazon export. Its value
    is the text between the quotes, what :func:`_split_quoted` reads, so removing the
    quotes leaves a chunk for the fast path. Anything else (a separator or ``""`` inside
    quotes, blanks around or inside the quotes' edges, a quote inside a field) gives None,
    and the chunk goes to the line-by-line reader.

    Checked with whole-string operations, no loop per field: split at the quotes, the
    odd parts are the quoted texts (none may hold a separator or a line end, nor start or
    end with a blank), and every opening quote must follow a line start or a separator,
    every closing one precede a separator or a line end (counted: with the texts checked,
    an opening quote is never preceded by one, nor a closing one followed by one).
    """
    if sep is None or len(sep) != 1 or sep in '"\r\n\x00' or "\x00" in text:
        return None
    parts = text.split('"')
    if len(parts) % 2 == 0:                                   # an odd number of quotes
        return None
    n_quoted = len(parts) // 2
    inside = "\x00".join(parts[1::2])                         # the quoted texts
    if sep in inside or "\n" in inside or "\r" in inside:
        return None
    if _has_space_besides(inside, "\x00") and _QUOTE_EDGE_SPACE.search(inside):
        return None
    opened = text.count(sep + '"') + text.count('\n"') + text.startswith('"')
    closed = (text.count('"' + sep) + text.count('"\n') + text.count('"\r')
              + text.endswith('"'))
    if opened != n_quoted or closed != n_quoted:
        return None
    return "".join(parts)


def _may_hold_missing_mark(text):
    """False if no field of ``text`` can be a missing-value mark: each of ``_MISSING`` holds an
    ``n`` or a ``?`` (a numeric chunk is ruled out by three scans, without a set of its ids)."""
    return "n" in text or "N" in text or "?" in text


def _has_missing_mark(tokens):
    """Whether a token of ``tokens`` is a missing-value mark (``_MISSING``, any case).

    One set lookup per token, the loop in C (``isdisjoint``): a Python ``lower()`` per
    distinct token of each block cost about 5 % of a DIGINETICA-layout load, whose user
    column's ``NA`` sends every block here."""
    return not _MISSING_ANY_CASE.isdisjoint(tokens)


def _id_index():
    """An empty raw id -> internal id dict for :func:`_number_chunk` that numbers a raw id it
    does not hold by itself: a ``defaultdict`` whose factory counts 0, 1, 2, ..., called
    only for a missing key, so that it gives ``len(index)`` (nothing else stores keys)."""
    return defaultdict(count().__next__)


def _number_chunk(index, tokens):
    r"""Internal ids (n,) int64 of one block's raw id ``tokens`` (list of str, (n,)).

    ``index`` (raw id -> internal id) is one dict for the whole file (an :func:`_id_index`
    in the reader), kept from block to block: a raw id it does not hold yet gets the next
    internal id, ``len(index)``, in order of first appearance. Block after block this gives
    the ids that numbering the whole file at once gives, and ``index``'s keys are the raw
    ids in that order.
    """
    if isinstance(index, defaultdict) and index.default_factory is not None:
        # an _id_index, as the reader passes: one lookup per token, the loop in C (map,
        # fromiter; a new raw id numbered by the factory), no list of Python ints: 16-33 %
        # less time than the loop below on user, item and date columns in an ad-hoc timing
        # of blocks of 3,000 tokens (8 % more on session ids, a new one every 3.5 tokens)
        return np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    # any other dict: the plain setdefault loop, the same numbering, which the tests
    # compare the _id_index form with
    number = index.setdefault
    return np.array([number(tok, len(index)) for tok in tokens], dtype=np.int64)


def _renumber(ids, raw):
    r"""Number afresh internal ids that use only some of ``raw``'s: ``(ids (n,), raw ids)``.

    ``ids`` (n,) int64 index ``raw`` (list of str); the result is what numbering the
    tokens ``raw[ids]`` in order of first appearance gives (after dropping some lines,
    for instance), without building those tokens.
    """
    used, first = np.unique(ids, return_index=True)          # (n_used,) each
    used = used[np.argsort(first)]                           # old ids, by first appearance
    new_of_old = np.full(len(raw), -1, dtype=np.int64)       # (len(raw),)
    new_of_old[used] = np.arange(used.shape[0])
    return new_of_old[ids], [raw[k] for k in used.tolist()]


def _build_string_id_split(path, train_cols, test_path, test_cols, on_unknown):
    r"""Interactions with raw string ids mapped in order of first appearance in training."""
    user_raw, item_raw = list(train_cols.user_index), list(train_cols.item_index)
    user_ids = np.asarray(user_raw, dtype=str)                  # (n_users,)
    item_ids = np.asarray(item_raw, dtype=str)                  # (n_items,)
    train = Interactions(
        train_cols.users, train_cols.items, n_users=len(user_raw), n_items=len(item_raw),
        weights=train_cols.weights, timestamps=train_cols.times,
        user_ids=user_ids, item_ids=item_ids)
    train.lines = train_cols.lines                              # (n,) for error messages
    if test_cols is None:
        return train

    # the test file's ids are numbered in its own order: each of its raw ids -> training's
    te_user_raw, te_item_raw = list(test_cols.user_index), list(test_cols.item_index)
    to_user = np.fromiter(map(train_cols.user_index.get, te_user_raw, repeat(-1)),
                          dtype=np.int64, count=len(te_user_raw))   # (n_test_users,), -1: unknown
    to_item = np.fromiter(map(train_cols.item_index.get, te_item_raw, repeat(-1)),
                          dtype=np.int64, count=len(te_item_raw))   # (n_test_items,)
    te_users = to_user[test_cols.users]                         # (n_test,), -1 = unknown
    te_items = to_item[test_cols.items]                         # (n_test,)
    unknown = (te_users < 0) | (te_items < 0)                   # (n_test,)
    if on_unknown == "error" and unknown.any():
        j = int(np.flatnonzero(unknown)[0])
        what = (f"user {te_user_raw[test_cols.users[j]]!r}" if te_users[j] < 0
                else f"item {te_item_raw[test_cols.items[j]]!r}")
        raise _fail(test_path, int(test_cols.lines[j]),
                    f"{what} is unknown to training ({os.fspath(path)}); pass "
                    f"on_unknown='drop' to drop it")
    n_dropped = _count_unknown(test_path, unknown)
    keep = ~unknown
    test = Interactions(
        te_users[keep], te_items[keep], n_users=train.n_users, n_items=train.n_items,
        weights=None if test_cols.weights is None else test_cols.weights[keep],
        timestamps=None if test_cols.times is None else test_cols.times[keep],
        user_ids=user_ids, item_ids=item_ids)
    test.lines = test_cols.lines[keep]
    test.n_dropped = n_dropped
    return train, test
