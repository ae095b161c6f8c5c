r"""Download MovieLens-100K once, verify its SHA-256, cache it, load it."""
from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from contextlib import closing
from pathlib import Path

from .._atomic import fsync_folder, missing_folders, reworded
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
#: the largest download taken (the archive is 4.9 MB): more is not MovieLens-100K, and is
#: stopped before it fills the disk
_MAX_DOWNLOAD_BYTES = 64 << 20
#: the largest total unpacked size of the ``ml-100k/`` members (GroupLens's: 16 MB); a
#: larger one (a zip bomb) is refused before anything is unpacked
_MAX_UNPACKED_BYTES = 256 << 20
#: seconds without data after which a download is abandoned
_TIMEOUT = 60


def _data_home(data_home):
    if data_home is None:
        data_home = os.environ.get("MINIGRAPHREC_DATA") or os.path.join("~", ".cache",
                                                                        "minigraphrec")
    return Path(os.path.expanduser(os.fspath(data_home)))


def _safe_extract(archive, target, top):
    """Extract the members under ``top/``, each file synced to disk; refuse absolute or
    ``..`` paths, links, and more than :data:`_MAX_UNPACKED_BYTES` unpacked, before
    anything is written."""
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
    members = [info for info in archive.infolist() if info.filename.startswith(f"{top}/")]
    # zipfile stops each member at its declared size (and then checks its CRC), so the
    # declared sizes bound what is written
    unpacked = sum(info.file_size for info in members)
    if unpacked > _MAX_UNPACKED_BYTES:
        raise DataError(f"the archive's {top}/ files would unpack to {unpacked:,} bytes, "
                        f"more than the {_MAX_UNPACKED_BYTES:,} allowed (MovieLens-100K's "
                        f"are 16 MB): refused, nothing unpacked")
    for info in members:
        path = archive.extract(info, target)
        if not info.is_dir():               # whole on disk before the folder is renamed
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def fetch_movielens_100k(data_home=None, *, url=ML100K_URL, sha256=ML100K_SHA256):
    r"""MovieLens-100K, downloaded once, checksum-verified, cached, loaded.

    The first call downloads ``url`` into ``<data_home>/``, verifies its
    SHA-256 against ``sha256`` before unpacking anything, unpacks the
    ``ml-100k/`` folder, checks that it loads, and only then moves it into
    place as ``<data_home>/ml-100k`` (one atomic rename). Later calls find
    that folder and load it without any network access. Read the GroupLens
    licence (``ml-100k/README``): no redistribution, research use only.

    Offline, or behind a firewall: download ``ml-100k.zip`` from
    :data:`ML100K_URL` by other means, check its SHA-256 is
    :data:`ML100K_SHA256` (``sha256sum ml-100k.zip``) and unzip it into the
    data folder (``unzip ml-100k.zip -d ~/.cache/minigraphrec``), so that
    ``<data_home>/ml-100k/u.data`` exists; the next call loads it. A failed
    download's message says all this with the paths filled in.

    Parameters
    ----------
    data_home : path-like, optional
        Cache folder. Default: the ``MINIGRAPHREC_DATA`` environment variable,
        else ``~/.cache/minigraphrec``.
    url : str
        Where to download the zip archive from (any URL ``urllib`` opens,
        including ``file://``; used by the tests). A proxy is taken from the
        usual ``https_proxy`` / ``http_proxy`` environment variables.
    sha256 : str
        Expected SHA-256 of the archive, 64 hexadecimal digits.

    Returns
    -------
    Interactions
        As returned by :func:`load_movielens_100k`.

    Raises
    ------
    TypeError
        ``url`` or ``sha256`` is not a string.
    DataError
        ``sha256`` is not 64 hexadecimal digits, or ``url`` has no scheme
        (both found before anything is downloaded); or the download's SHA-256
        differs from ``sha256``, or it is over 64 MiB, or the archive is not
        a zip holding ``ml-100k/u.data``, ``u.item`` and ``u.user``, or it
        holds unsafe paths or links, or would unpack to over 256 MiB, or its
        files do not load. Also a cached ``<data_home>/ml-100k`` that does
        not load (a partial copy, say; ``FileNotFoundError`` for a missing
        file), or, for the pinned ``sha256``, does not hold the release's
        100,000 ratings of 943 users and 1,682 items: the message says to delete it, after which the next call
        downloads it again. Nothing is left in
        ``data_home`` then: the download goes to a temporary file and the
        unpacking to a temporary folder, both in ``data_home`` and both
        removed on any failure; ``data_home`` itself (and its parents), if
        this call created them, are removed too while still empty.
    OSError
        The download failed (no network, an HTTP error, no data for 60 s, the
        connection closed before the end); the message says where to put a
        hand-downloaded copy. Or the cache cannot be written:
        a file where ``data_home`` (or a parent) or ``<data_home>/ml-100k``
        should be a folder (NotADirectoryError, FileExistsError; found
        before anything is downloaded), no permission, a full disk. These
        messages name ``data_home`` or ``<data_home>/ml-100k``, never the
        temporary files.

    Notes
    -----
    The cache is keyed by the folder name only: a different ``url`` or
    ``sha256`` does not invalidate an existing ``<data_home>/ml-100k``.
    Several processes may fetch at once: each downloads and unpacks into its
    own temporary names, the first rename wins and the others load their own
    copy. A process killed outright (SIGKILL, a power cut) can leave a
    ``.ml-100k.*.zip.part`` file or ``.ml-100k.*.unpack`` folder in
    ``data_home``; no call takes them for the data, and they can be deleted.
    """
    _check_source(url, sha256)
    home = _data_home(data_home)
    folder = home / _ML100K_FOLDER
    if folder.is_dir():
        return _load_cached(folder, whole=sha256.lower() == ML100K_SHA256)

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


def _check_source(url, sha256):
    """Refuse, before any download, a ``url`` or ``sha256`` that cannot be right."""
    for name, value in (("url", url), ("sha256", sha256)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise DataError(f"sha256 must be the archive's SHA-256, 64 hexadecimal digits, "
                        f"got {sha256!r}")
    if not urllib.parse.urlsplit(url).scheme:
        raise DataError(f"url must be a URL with a scheme (https://..., file:///...), "
                        f"got {url!r}")


def _by_hand(url, sha256, home, folder):
    """What to do when the download does not work: the end of those messages."""
    return (f"Download it by hand from {url}, check its SHA-256 is {sha256.lower()} "
            f"(sha256sum), and unzip it into {home} (unzip <file> -d {home}) so that "
            f"{folder / _ML100K_NEEDED[0]} exists; the next call loads it")


#: what the pinned release holds (GroupLens' README for ml-100k): ratings, users, items
_ML100K_SIZES = (100_000, 943, 1_682)


def _load_cached(folder, whole=False):
    """The cached ``folder``; one that does not load (a partial copy, say) is an error saying
    to delete it (the next call then downloads it again). With ``whole`` (the pinned release
    asked for), it must also hold that release's 100,000 ratings of 943 users and 1,682
    items: a copy cut at a line boundary loads, and would give another data set silently."""
    def stale(why, kind=DataError):
        return kind(f"{why}; {folder} is the cached copy (an earlier download, or unpacked "
                    f"by hand): delete it, and the next call downloads MovieLens-100K again")
    try:
        data = load_movielens_100k(folder)
    except (DataError, FileNotFoundError) as exc:
        raise stale(exc, type(exc)) from None
    sizes = (len(data), data.n_users, data.n_items)
    if whole and sizes != _ML100K_SIZES:
        raise stale(f"it holds {sizes[0]:,} ratings of {sizes[1]:,} users and {sizes[2]:,} "
                    f"items, not MovieLens-100K's {_ML100K_SIZES[0]:,}, {_ML100K_SIZES[1]:,} "
                    f"and {_ML100K_SIZES[2]:,}")
    return data


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
    """The bytes at ``url``, in chunks, at most :data:`_MAX_DOWNLOAD_BYTES`; a failed or
    cut download is an OSError saying what to do."""
    got, length = 0, None
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:
            headers = getattr(response, "headers", None)
            length = headers.get("Content-Length") if headers is not None else None
            length = int(length) if length and length.strip().isdigit() else None
            if length is not None and length > _MAX_DOWNLOAD_BYTES:
                raise DataError(f"{url}: the server announces {length:,} bytes, more than "
                                f"the {_MAX_DOWNLOAD_BYTES:,} allowed (ml-100k.zip is "
                                f"4,924,029): not downloaded")
            for chunk in iter(lambda: response.read(1 << 16), b""):
                got += len(chunk)
                if got > _MAX_DOWNLOAD_BYTES:
                    raise DataError(f"{url}: the download exceeds the {_MAX_DOWNLOAD_BYTES:,} "
                                    f"bytes allowed (ml-100k.zip is 4,924,029): stopped and "
                                    f"discarded")
                yield chunk
    except (OSError, http.client.HTTPException) as exc:   # IncompleteRead is not an OSError
        why = str(exc) or type(exc).__name__
        raise OSError(f"could not download {url}: {why}. "
                      f"{_by_hand(url, sha256, home, folder)}") from exc
    if length is not None and got != length:   # http.client ends a cut body as if whole
        raise OSError(f"could not download {url}: the connection closed after {got:,} of "
                      f"{length:,} bytes; try again. {_by_hand(url, sha256, home, folder)}")


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
                            f"the download was discarded. It is not the archive expected (a "
                            f"proxy's or login page's answer, or a changed file): "
                            f"{_by_hand(url, sha256, home, folder)}")
        try:
            unpack = tempfile.mkdtemp(dir=home, prefix=f".{_ML100K_FOLDER}.", suffix=".unpack")
            with zipfile.ZipFile(part) as archive:
                try:
                    _safe_extract(archive, unpack, _ML100K_FOLDER)
                except DataError as exc:
                    raise DataError(f"{url}: {exc}") from None
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
        fsync_folder(home)                  # the rename itself survives a power cut
        return data
    finally:
        if os.path.exists(part):
            os.remove(part)
        if unpack is not None:
            shutil.rmtree(unpack, ignore_errors=True)
