r"""Download MovieLens-100K once, verify its SHA-256, cache it, load it."""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from contextlib import closing
from pathlib import Path

from .._atomic import missing_folders, reworded
from ..errors import DataError
from .movielens import load_movielens_100k

# ---------------------------------------------------------------- download
#: where :func:`fetch_movielens_100k` downloads ``ml-100k.zip`` from (GroupLens)
ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# SHA-256 of ml-100k.zip (4,924,029 bytes), as pinned by TensorFlow Datasets in
# tensorflow_datasets/url_checksums/movielens.txt (and by several other public
# projects). Our local copy of the unpacked u.data matches the published member
# hash 06416e59...dca490. The archive has been unchanged since 1998.
#: SHA-256 of ``ml-100k.zip``, checked by :func:`fetch_movielens_100k` before it unpacks
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
        removed on any failure; ``data_home`` itself (and its parents), if
        this call created them, are removed too while still empty.
    OSError
        The download failed (no network, HTTP error); the message says
        where to put a hand-downloaded copy. Or the cache cannot be written:
        a file where ``data_home`` (or a parent) or ``<data_home>/ml-100k``
        should be a folder (NotADirectoryError, FileExistsError; found
        before anything is downloaded), no permission, a full disk. These
        messages name ``data_home`` or ``<data_home>/ml-100k``, never the
        temporary files.

    Notes
    -----
    The cache is keyed by the folder name only: a different ``url`` or
    ``sha256`` does not invalidate an existing ``<data_home>/ml-100k``.
    """

    home = _data_home(data_home)
    folder = home / _ML100K_FOLDER
    if folder.is_dir():
        return load_movielens_100k(folder)

    _check_home(home, folder)
    created = missing_folders(home)
    try:
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise reworded(exc, f"cannot create the data folder {home} ({_WHERE})") from None
        return _fetch(home, folder, url, sha256)
    except BaseException:
        for made in reversed(created):      # the folders this call made, while still empty
            try:
                os.rmdir(made)
            except OSError:
                break
        raise


#: where the data folder comes from, for messages
_WHERE = "data_home, else $MINIGRAPHREC_DATA, else ~/.cache/minigraphrec"


def _check_home(home, folder):
    """Refuse, before any download, a file (or a link to none) where ``home``, one of its
    parents, or ``folder`` (``<home>/ml-100k``) should be a folder."""
    if os.path.lexists(folder):             # and not a folder: is_dir() was False
        raise FileExistsError(errno.EEXIST, f"cannot fetch MovieLens-100K into {folder}: "
                              f"something that is not a folder is there; move it away, or "
                              f"give another data folder ({_WHERE})")
    existing = Path(os.path.abspath(home))
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"cannot fetch MovieLens-100K into {home}: "
                                 f"{existing} is a file, not a folder; give another data "
                                 f"folder ({_WHERE})")


def _chunks(url, sha256, home, folder):
    """The bytes at ``url``, in chunks; a failed download is an OSError saying what to do."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                yield chunk
    except (urllib.error.URLError, OSError) as exc:
        raise OSError(f"could not download {url}: {exc}. Download it by hand, "
                      f"check its SHA-256 is {sha256}, and unpack it into {home} "
                      f"(giving {folder})") from exc


def _fetch(home, folder, url, sha256):
    """Download, verify, unpack and load into ``folder``, in the existing ``home``."""
    try:
        fd, part = tempfile.mkstemp(dir=home, prefix=f".{_ML100K_FOLDER}.", suffix=".zip.part")
    except OSError as exc:
        raise reworded(exc, f"cannot download MovieLens-100K into {home} ({_WHERE})") from None
    unpack = None
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, closing(_chunks(url, sha256, home, folder)) as chunks:
            for chunk in chunks:
                digest.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:      # a full disk, say
                    raise reworded(exc, f"cannot save the download in {home}") from None
            try:
                out.flush()
            except OSError as exc:
                raise reworded(exc, f"cannot save the download in {home}") from None
        got = digest.hexdigest()
        if got != sha256.lower():
            raise DataError(f"{url}: SHA-256 mismatch, expected {sha256.lower()}, got {got}; "
                            f"the download was discarded")
        try:
            unpack = tempfile.mkdtemp(dir=home, prefix=f".{_ML100K_FOLDER}.", suffix=".unpack")
            with zipfile.ZipFile(part) as archive:
                _safe_extract(archive, unpack, _ML100K_FOLDER)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{url}: not a valid zip archive ({exc})") from None
        except OSError as exc:
            raise reworded(exc, f"cannot unpack MovieLens-100K in {home}") from None
        try:
            data = load_movielens_100k(os.path.join(unpack, _ML100K_FOLDER))
        except DataError as exc:            # name the archive's member, not the temporary copy
            text = str(exc).replace(os.path.join(unpack, ""), f"{url}: ")
            if text == str(exc):
                raise
            raise DataError(text) from None
        except OSError as exc:
            raise reworded(exc, f"cannot read the files unpacked from {url}") from None
        try:
            os.rename(os.path.join(unpack, _ML100K_FOLDER), folder)
        except OSError as exc:
            if not folder.is_dir():       # not merely another process winning the race
                raise reworded(exc, f"cannot put MovieLens-100K in place as {folder}") \
                    from None
        return data
    finally:
        if os.path.exists(part):
            os.remove(part)
        if unpack is not None:
            shutil.rmtree(unpack, ignore_errors=True)
