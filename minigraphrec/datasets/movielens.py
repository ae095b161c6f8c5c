r"""The GroupLens MovieLens-100K folder, with user and item features."""
from __future__ import annotations

import codecs
import re
from pathlib import Path

import numpy as np

from ..data import Interactions
from ._parse import (
    _CR_PROBLEM,
    _check_file,
    _decode,
    _fail,
    _open_binary,
    _parse_float,
    _parse_id,
)

# ============================================================= MovieLens
#: the 19 genres of ``u.item``, in the order of its 0/1 flag columns (item features
#: ``"genre=<name>"``)
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
                 "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
                 "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
_MONTHS = {m: k + 1 for k, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                           "Aug", "Sep", "Oct", "Nov", "Dec"))}


def _utf8_or_latin1(path):
    """``"utf-8"`` if the whole of ``path`` (a UTF-8 byte-order mark aside) is valid UTF-8,
    else ``"latin-1"``, which decodes any bytes: GroupLens's ``u.item`` is latin-1, and a
    re-saved copy may be UTF-8; a latin-1 file with accents is almost never valid UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with _open_binary(path) as f:
        try:
            for block in iter(lambda: f.read(1 << 16), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "latin-1"
    return "utf-8"


def _ml_lines(path, sep, n_fields, encoding, as_written=()):
    """``(lineno, fields)`` for the non-blank lines of a MovieLens file.

    Read as the delimited loaders read (:func:`_open_binary`: gzip too; :func:`_decode`):
    a UTF-8 byte-order mark is removed, fields are stripped of surrounding blanks (as
    :func:`_split_fields` strips them) except those of the columns ``as_written``
    (``u.item``'s titles, three of which end with a blank in the GroupLens file), and
    ``encoding=None`` is :func:`_utf8_or_latin1` of the file.
    """
    _check_file(path)
    if encoding is None:
        encoding = _utf8_or_latin1(path)
    blank = re.compile(rf"[^\S{re.escape(sep)}]")        # whitespace other than sep
    any_line = False
    with _open_binary(path) as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]         # whatever the encoding
            text = _decode(raw, path, lineno, encoding).rstrip("\r\n")
            if not text.strip():
                continue
            any_line = True
            if "\r" in text:
                raise _fail(path, lineno, _CR_PROBLEM)
            fields = text.split(sep)
            if len(fields) != n_fields:
                raise _fail(path, lineno, f"expected {n_fields} {sep!r}-separated fields, "
                                          f"got {len(fields)}")
            if blank.search(text):                      # else no field has a blank to strip
                fields = [x if k in as_written else x.strip() for k, x in enumerate(fields)]
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
    """u.item (UTF-8, else latin-1) -> (raw ids, titles, years (None = missing), genre flags)."""
    ids, titles, years, flags, line_of = [], [], [], [], {}
    for lineno, fields in _ml_lines(path, "|", 5 + len(ML100K_GENRES), None, as_written=(1,)):
        raw = _parse_id(fields[0], path, lineno, "item id")
        if raw in line_of:
            raise _fail(path, lineno, f"item {raw} is listed again (first at line "
                                      f"{line_of[raw]})")
        line_of[raw] = lineno
        ids.append(raw)
        titles.append(fields[1])
        years.append(_parse_ml_year(fields[2], path, lineno))
        genre = fields[5:]
        for name, flag in zip(ML100K_GENRES, genre):
            if flag not in ("0", "1"):
                raise _fail(path, lineno, f"genre flag {name!r} is {flag!r}, expected 0 or 1")
        flags.append([float(flag) for flag in genre])
    return ids, titles, years, flags


def load_movielens_100k(folder):
    r"""Load the GroupLens MovieLens-100K folder: ratings plus user and item features.

    Files read (the rest of the folder is ignored):

    * ``u.data``: ``user item rating timestamp``, tab-separated, positive
      integer ids, rating 1--5, Unix seconds. Ratings become ``weights``.
    * ``u.user``: ``id|age|gender|occupation|zip``.
    * ``u.item``: ``id|title|release date|video release date|IMDb URL|`` then
      19 genre flags (0/1). The GroupLens file is latin-1 (titles such as
      ``Misérables``); a copy re-saved as UTF-8 is read as such: the file is
      decoded as UTF-8 if the whole of it is valid UTF-8, else as latin-1
      (which a latin-1 file with accents almost never is).

    Fields are stripped of surrounding blanks (titles excepted: kept as
    written); a UTF-8 byte-order mark at the start of a file is removed, and a
    gzip-compressed file is read as such.

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

    Titles become ``item_labels`` (what the command line prints beside an item
    id); video release date, IMDb URL and zip code are not used.

    Parameters
    ----------
    folder : path-like
        The unpacked ``ml-100k`` folder.

    Returns
    -------
    Interactions
        100,000 interactions, 943 users, 1,682 items for the GroupLens
        files, in ``u.data`` order, with weights, timestamps and features,
        and ``lines``, each interaction's 1-based line of ``u.data``.

    Raises
    ------
    DataError
        A wrong number of fields, an id or age that is not a non-negative
        integer or overflows int64, a NaN / inf / non-numeric rating or
        timestamp, a user or item in ``u.data`` that ``u.user`` / ``u.item``
        does not list, an id listed twice, a malformed date or genre flag,
        undecodable bytes (``u.data`` and ``u.user`` are read as UTF-8), a NUL
        character, a ``\r`` inside a line (``\r``-only line ends), an ISO-8601
        date as a timestamp (they are Unix seconds), a zip, bzip2 or xz file
        (to be unpacked first), an empty file. The message names the file and
        the line.
    FileNotFoundError
        The folder or one of the three files does not exist (a folder in place
        of a file too).
    NotADirectoryError
        ``folder`` is a file (the zip archive, say), not the unpacked folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise (NotADirectoryError(f"{folder} is a file; the MovieLens-100K loader reads the "
                                  f"unpacked folder (u.data, u.user, u.item)")
               if folder.exists() else FileNotFoundError(f"no such folder: {folder}"))
    missing = [f for f in ("u.data", "u.user", "u.item") if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is read as the MovieLens-100K folder, and it has no "
                                f"{', '.join(missing)}")
    user_raw, ages, genders, jobs = _read_ml_users(folder / "u.user")
    item_raw, titles, years, genre_flags = _read_ml_items(folder / "u.item")

    user_order = np.argsort(np.asarray(user_raw, dtype=np.int64), kind="stable")
    item_order = np.argsort(np.asarray(item_raw, dtype=np.int64), kind="stable")
    user_ids = np.asarray(user_raw, dtype=np.int64)[user_order]          # (n_users,)
    item_ids = np.asarray(item_raw, dtype=np.int64)[item_order]          # (n_items,)
    user_index = {int(r): k for k, r in enumerate(user_ids)}
    item_index = {int(r): k for k, r in enumerate(item_ids)}

    data_path = folder / "u.data"
    users, items, ratings, times, lines = [], [], [], [], []
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
        lines.append(lineno)

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

    data = Interactions(users, items, n_users=n_users, n_items=len(item_raw),
                        weights=ratings, timestamps=times, user_ids=user_ids,
                        item_ids=item_ids, user_features=Xu, item_features=Xi,
                        user_feature_names=user_names, item_feature_names=item_names,
                        item_labels=np.asarray(titles)[item_order])
    data.lines = np.asarray(lines, dtype=np.int64)      # (n,) u.data lines, for align's errors
    return data
