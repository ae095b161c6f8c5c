"""fetch_movielens_100k at its edges: downloads cut short or interrupted, arguments refused
before any download, oversized downloads and archives, unsafe members, a race with another
process, a cached copy that does not load, and messages that say what to do by hand. No
network: a local HTTP server or a stand-in for ``urlopen``."""
import hashlib
import http.client
import http.server
import os
import threading
import zipfile

import pytest

import minigraphrec.datasets as ds
from minigraphrec.datasets import download
from minigraphrec.errors import DataError
from test_datasets import ML_DATA, ML_ITEMS, ML_USERS, ml_folder, ml_zip


class Response:
    """A stand-in for ``urlopen``'s answer: ``body`` in reads of ``step`` bytes, then
    ``end`` raised (or b"" returned), with a Content-Length header of ``length``."""

    def __init__(self, body, length=None, end=None, step=1000):
        self.body, self.end, self.step, self.at = body, end, step, 0
        self.headers = {} if length is None else {"Content-Length": str(length)}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, n):
        if self.at >= len(self.body):
            if self.end is not None:
                raise self.end
            return b""
        chunk = self.body[self.at:self.at + min(n, self.step)]
        self.at += len(chunk)
        return chunk


def answer(monkeypatch, response):
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: response)


def assert_nothing_left(home):
    assert not home.exists() or list(home.iterdir()) == []


# ============================================================ cut downloads
@pytest.fixture
def server(tmp_path):
    """A local HTTP server: /whole sends the archive, /cut announces its length and closes
    the connection halfway."""
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    blob = archive.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob if self.path == "/whole" else blob[:len(blob) // 2])

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", digest, len(blob)
    httpd.shutdown()
    httpd.server_close()


def test_a_connection_closed_early_is_a_cut_download_not_a_bad_checksum(tmp_path, server):
    """http.client ends a body cut short as if it were whole: the byte count against
    Content-Length tells, where the checksum would only say "mismatch"."""
    base, digest, size = server
    home = tmp_path / "cache"
    with pytest.raises(OSError, match=f"the connection closed after {size // 2:,} of "
                                      f"{size:,} bytes; try again") as info:
        ds.fetch_movielens_100k(home, url=f"{base}/cut", sha256=digest)
    assert not isinstance(info.value, DataError)
    assert_nothing_left(home)
    d = ds.fetch_movielens_100k(home, url=f"{base}/whole", sha256=digest)
    assert len(d) == 4 and sorted(p.name for p in home.iterdir()) == ["ml-100k"]


def test_an_incomplete_chunked_read_is_an_os_error_saying_what_to_do(tmp_path, monkeypatch):
    """IncompleteRead (a cut chunked body) is an HTTPException, not an OSError."""
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    answer(monkeypatch, Response(archive.read_bytes()[:100],
                                 end=http.client.IncompleteRead(b"")))
    home = tmp_path / "cache"
    with pytest.raises(OSError, match=r"could not download .*IncompleteRead.*Download it by "
                                      r"hand from .*, check its SHA-256 is "
                                      rf"{digest} .*so that .*u\.data exists"):
        ds.fetch_movielens_100k(home, url="https://example.org/ml-100k.zip", sha256=digest)
    assert_nothing_left(home)


def test_ctrl_c_mid_download_leaves_nothing(tmp_path, monkeypatch):
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    blob = archive.read_bytes()
    answer(monkeypatch, Response(blob[:300], length=len(blob), end=KeyboardInterrupt()))
    home = tmp_path / "cache"
    home.mkdir()
    with pytest.raises(KeyboardInterrupt):
        ds.fetch_movielens_100k(home, url="https://example.org/ml-100k.zip", sha256=digest)
    assert_nothing_left(home)                         # no .part file for a later call
    answer(monkeypatch, Response(blob, length=len(blob)))
    assert len(ds.fetch_movielens_100k(home, url="https://example.org/x.zip",
                                       sha256=digest)) == 4


# ============================================================ bad arguments
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(sha256=None), TypeError, "sha256 must be a string, got NoneType"),
    (dict(sha256="abc"), DataError, "sha256 must be the archive's SHA-256, 64 hexadecimal"),
    (dict(sha256="d41d8cd98f00b204e9800998ecf8427e"), DataError, "64 hexadecimal digits"),
    (dict(sha256="g" * 64), DataError, "64 hexadecimal digits"),
    (dict(url=None), TypeError, "url must be a string, got NoneType"),
    (dict(url="ml-100k.zip"), DataError, "url must be a URL with a scheme"),
])
def test_arguments_refused_before_any_download(tmp_path, monkeypatch, kwargs, error, message):
    monkeypatch.setattr(download.urllib.request, "urlopen",
                        lambda *a, **k: pytest.fail("downloaded"))
    home = tmp_path / "cache"
    with pytest.raises(error, match=message):
        ds.fetch_movielens_100k(home, **kwargs)
    assert not home.exists()


def test_a_url_urllib_cannot_open_is_an_os_error(tmp_path):
    home = tmp_path / "cache"
    with pytest.raises(OSError, match="could not download nope://x: .*unknown url type"):
        ds.fetch_movielens_100k(home, url="nope://x", sha256=ds.ML100K_SHA256)
    assert not home.exists()


def test_an_upper_case_checksum_is_taken(tmp_path):
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    d = ds.fetch_movielens_100k(tmp_path / "c", url=archive.as_uri(), sha256=digest.upper())
    assert len(d) == 4


# ============================================================== sizes
def test_an_announced_oversized_download_is_not_started(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_MAX_DOWNLOAD_BYTES", 1000)
    response = Response(b"x" * 5000, length=5000)
    answer(monkeypatch, response)
    home = tmp_path / "cache"
    with pytest.raises(DataError, match="announces 5,000 bytes, more than the 1,000 allowed"):
        ds.fetch_movielens_100k(home, url="https://example.org/x.zip",
                                sha256=ds.ML100K_SHA256)
    assert response.at == 0 and not home.exists()


def test_an_endless_download_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_MAX_DOWNLOAD_BYTES", 1000)
    response = Response(b"x" * 50_000)                    # no Content-Length
    answer(monkeypatch, response)
    home = tmp_path / "cache"
    with pytest.raises(DataError, match="the download exceeds the 1,000 bytes allowed"):
        ds.fetch_movielens_100k(home, url="https://example.org/x.zip",
                                sha256=ds.ML100K_SHA256)
    assert response.at <= 2000 and not home.exists()


def test_a_zip_bomb_is_refused_before_unpacking(tmp_path, monkeypatch):
    archive, digest = ml_zip(tmp_path / "a.zip", {
        "ml-100k/u.data": ML_DATA.encode(), "ml-100k/u.user": ML_USERS.encode(),
        "ml-100k/u.item": ML_ITEMS.encode("latin-1"), "ml-100k/pad": b"\0" * 100_000})
    monkeypatch.setattr(download, "_MAX_UNPACKED_BYTES", 50_000)
    written = []
    real_extract = zipfile.ZipFile.extract
    monkeypatch.setattr(zipfile.ZipFile, "extract",
                        lambda self, *a, **k: written.append(a) or real_extract(self, *a, **k))
    home = tmp_path / "cache"
    with pytest.raises(DataError, match=rf"{archive.as_uri()}: the archive's ml-100k/ files "
                                        r"would unpack to 100,[0-9]{3} bytes, more than the "
                                        r"50,000 allowed"):
        ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=digest)
    assert written == [] and not home.exists()


# ============================================================ unsafe members
GOOD = {"ml-100k/u.data": ML_DATA.encode(), "ml-100k/u.user": ML_USERS.encode(),
        "ml-100k/u.item": ML_ITEMS.encode("latin-1")}


@pytest.mark.parametrize("name, message", [
    ("/etc/evil", "has an unsafe path"), ("ml-100k/../../evil", "has an unsafe path"),
    ("ml-100k\\..\\evil", "has an unsafe path"), ("ml-100k/link", "is a symbolic link"),
])
def test_unsafe_members_are_refused(tmp_path, name, message):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        for member, blob in GOOD.items():
            z.writestr(member, blob)
        info = zipfile.ZipInfo(name)
        if name.endswith("link"):
            info.external_attr = (0o120777 << 16)         # a symbolic link to /etc/passwd
        z.writestr(info, b"/etc/passwd")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    home = tmp_path / "cache"
    with pytest.raises(DataError, match=f"{path.as_uri()}: archive member .* {message}"):
        ds.fetch_movielens_100k(home, url=path.as_uri(), sha256=digest)
    assert not home.exists() and not (tmp_path / "evil").exists()


# ============================================================ the checksum
def test_a_checksum_mismatch_says_what_to_do_by_hand(tmp_path, monkeypatch):
    answer(monkeypatch, Response(b"<html>please log in</html>", length=26))
    home = tmp_path / "cache"
    with pytest.raises(DataError, match=r"SHA-256 mismatch, expected .*; the download was "
                                        r"discarded\. It is not the archive expected .*"
                                        r"Download it by hand from https://example.org/x.zip"):
        ds.fetch_movielens_100k(home, url="https://example.org/x.zip",
                                sha256=ds.ML100K_SHA256)
    assert not home.exists()


# ================================================================ the cache
def test_a_cached_copy_that_does_not_load_says_to_delete_it(tmp_path):
    home = tmp_path / "cache"
    (home / "ml-100k").mkdir(parents=True)                 # empty: a failed hand copy
    with pytest.raises(FileNotFoundError, match="has no u.data.*; .*ml-100k is the cached "
                                                "copy .*: delete it"):
        ds.fetch_movielens_100k(home)
    ml_folder(home / "ml-100k", data=ML_DATA[:-10])        # a cut line
    with pytest.raises(DataError, match="u.data, line 4: .*; .*ml-100k is the cached copy"):
        ds.fetch_movielens_100k(home)


def test_another_process_winning_the_race_is_fine(tmp_path, monkeypatch):
    """Two fetches at once: the one whose rename comes second loads its own copy and
    leaves nothing behind."""
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    home = tmp_path / "cache"
    real_load = download.load_movielens_100k

    def load_while_another_finishes(folder):
        ml_folder(home / "ml-100k")                        # the other process's rename
        return real_load(folder)

    monkeypatch.setattr(download, "load_movielens_100k", load_while_another_finishes)
    d = ds.fetch_movielens_100k(home, url=archive.as_uri(), sha256=digest)
    assert len(d) == 4 and sorted(p.name for p in home.iterdir()) == ["ml-100k"]


def test_an_unwritable_cache_names_the_folder(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "cache" / ".x.part"))

    monkeypatch.setattr(download.tempfile, "mkstemp", refuse)
    home = tmp_path / "cache"
    home.mkdir()
    with pytest.raises(PermissionError, match=f"cannot download MovieLens-100K into {home} "
                                              r"\(data_home, else \$MINIGRAPHREC_DATA") as info:
        ds.fetch_movielens_100k(home, url="https://example.org/x.zip",
                                sha256=ds.ML100K_SHA256)
    assert ".part" not in str(info.value)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names open files by /proc")
def test_unpacked_files_are_synced_before_the_rename(tmp_path, monkeypatch):
    archive, digest = ml_zip(tmp_path / "ml-100k.zip")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(download.os, "fsync", lambda fd: synced.append(
        os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))) or real_fsync(fd))
    ds.fetch_movielens_100k(tmp_path / "cache", url=archive.as_uri(), sha256=digest)
    assert {"u.data", "u.item", "u.user", "README"} <= set(synced)
