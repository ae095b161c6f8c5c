"""The one atomic-write rule (``minigraphrec._atomic``), checked with injected faults through
every writer that follows it: the rule's own ``write_file``, ``io.save``,
``plot.save_figure`` and the benchmarks' ``write_files``."""
import errno
import os
import re
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import fail_replace_at

from minigraphrec import DataError, io, plot
from minigraphrec.data import Interactions
from minigraphrec.models import Popularity

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _common  # noqa: E402

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
TEMP_NAME = re.compile(r"\.minigraphrec-\d+-[0-9a-f]{8}\.tmp")


def _atomic():
    """The module, imported here: a snapshot without it fails only the cases that use it."""
    from minigraphrec import _atomic
    return _atomic


_MODEL = []


def _model():
    if not _MODEL:
        rng = np.random.default_rng(0)
        u, i = np.nonzero(rng.random((8, 9)) < 0.4)
        _MODEL.append(Popularity().fit(Interactions(u, i, n_users=8, n_items=9)))
    return _MODEL[0]


class Writer:
    """One writer of the rule: ``write(path)`` writes a file at ``path`` (named ``*.png``,
    as save_figure needs); with ``fail``, its content writer puts some bytes into the
    temporary file and then raises ``fail``; ``calls`` counts the content writer's calls."""

    def __init__(self, kind, monkeypatch):
        self.kind, self.mp, self.calls = kind, monkeypatch, 0

    def words(self, path):
        """What an OSError about ``path`` begins with."""
        return {"io": f"cannot save the model to {path}",
                "plot": f"cannot write {path.name} in {path.parent}"}.get(
                    self.kind, f"cannot write {path}")

    def _content(self, fail):
        def content(f):
            self.calls += 1
            f.write(b"new contents")
            if fail is not None:
                raise fail
        return content

    def write(self, path, fail=None):
        if self.kind == "atomic":
            return _atomic().write_file(path, self._content(fail))
        if self.kind == "write_files":
            return _common.write_files({path: self._content(fail)})[0]
        if self.kind == "io":
            real = np.savez

            def savez(f, **arrays):
                self.calls += 1
                real(f, **arrays)
                if fail is not None:
                    raise fail
            with self.mp.context() as m:
                m.setattr(np, "savez", savez)
                io.save(_model(), path)
            return path
        assert self.kind == "plot" and path.suffix == ".png"
        fig, ax = plot.subplots()
        ax.plot([0, 1], [1, 0])
        real = fig.savefig

        def savefig(fname, **kwargs):
            self.calls += 1
            if fail is None:
                return real(fname, **kwargs)
            Path(fname).write_bytes(b"\x89PNG partial")
            raise fail
        with self.mp.context() as m:
            m.setenv(plot.FIGURES_ENV, str(path.parent))
            m.setattr(fig, "savefig", savefig)
            return plot.save_figure(fig, path.stem)


WRITERS = ["atomic", "io", "plot", "write_files"]


@pytest.fixture(params=WRITERS)
def writer(request, monkeypatch):
    yield Writer(request.param, monkeypatch)
    plot._pyplot().close("all")


def _old(tmp_path, mode=0o644):
    """An existing target with known bytes: ``(path, bytes)``."""
    path = tmp_path / "target.png"
    path.write_bytes(b"old contents")
    path.chmod(mode)
    return path, b"old contents"


def _names(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# ------------------------------------------------------------------ modes
def test_a_new_file_gets_the_mode_open_gives(writer, tmp_path):
    """0o666 less the umask, as a plain open() gives, whatever the temporary file had;
    a umask that takes the owner's write bit still lets the file be written."""
    old = os.umask(0o022)
    try:
        for umask, want in ((0o027, 0o640), (0o077, 0o600), (0o222, 0o444)):
            os.umask(umask)
            path = tmp_path / f"u{umask:o}" / "target.png"
            path.parent.mkdir()
            writer.write(path)
            assert stat.S_IMODE(path.stat().st_mode) == want, oct(umask)
            assert _names(path.parent) == ["target.png"]
    finally:
        os.umask(old)


def test_a_replaced_file_keeps_its_permission_bits(writer, tmp_path):
    """A replaced file keeps its own bits (0o604 stays 0o604), but no set-group-id bit: a
    file rewritten is not made to run with another group's rights."""
    path, _ = _old(tmp_path, 0o604)
    writer.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o604
    path.chmod(0o2755)
    if not stat.S_IMODE(path.stat().st_mode) & stat.S_ISGID:
        pytest.skip("this file system does not keep a set-group-id bit")
    writer.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert _names(tmp_path) == ["target.png"]


# ------------------------------------------------------------------ refused targets
def test_a_file_the_caller_may_not_write_is_refused_before_writing(writer, tmp_path,
                                                                   monkeypatch):
    """A read-only target in a writable folder was replaced by the rename (save_figure,
    write_files), where open() and the shell's '>' refuse it. Tests run as root, for whom
    os.access says yes: it is patched here, and the real check runs below when not root."""
    path, before = _old(tmp_path, 0o444)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False
                        if os.fspath(p) == str(path) and mode == os.W_OK
                        else real(p, mode, **kw))
    with pytest.raises(PermissionError) as info:
        writer.write(path)
    assert str(info.value) == (f"[Errno 13] {writer.words(path)}: the file is read-only "
                               f"(mode 0444) for you; make it writable or remove it first")
    assert path.read_bytes() == before and _names(tmp_path) == ["target.png"]
    assert writer.calls == 0                                    # found before writing


@pytest.mark.skipif(not hasattr(os, "geteuid") or AS_ROOT,
                    reason="root may write any file: os.access is permissive")
def test_a_read_only_file_is_refused_for_real(writer, tmp_path):
    path, before = _old(tmp_path, 0o444)
    with pytest.raises(PermissionError, match="read-only"):
        writer.write(path)
    assert path.read_bytes() == before and _names(tmp_path) == ["target.png"]


def test_a_fifo_is_refused_not_replaced(writer, tmp_path):
    """A FIFO (or a device: as root, /dev/null) at the target was replaced by a regular
    file; it is refused before anything is written."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "target.png"
    os.mkfifo(path)
    with pytest.raises(FileExistsError) as info:
        writer.write(path)
    assert info.value.errno == errno.EEXIST
    assert str(info.value).startswith(f"[Errno 17] {writer.words(path)}: it is a FIFO, "
                                      "not a regular file")
    assert stat.S_ISFIFO(os.lstat(path).st_mode) and _names(tmp_path) == ["target.png"]
    assert writer.calls == 0


@pytest.mark.parametrize("link", [False, True], ids=["folder", "link to a folder"])
def test_a_folder_is_refused_before_writing(writer, tmp_path, link):
    path = tmp_path / "target.png"
    if link:
        (tmp_path / "real").mkdir()
        path.symlink_to(tmp_path / "real")
    else:
        path.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        writer.write(path)
    assert info.value.errno == errno.EISDIR and ".tmp" not in str(info.value)
    assert writer.calls == 0 and path.is_dir()
    assert _names(tmp_path) == (["real", "target.png"] if link else ["target.png"])


def test_a_symbolic_link_is_replaced_not_written_through(writer, tmp_path):
    other = tmp_path / "other"
    other.write_bytes(b"elsewhere")
    path = tmp_path / "target.png"
    path.symlink_to(other)
    writer.write(path)
    assert not path.is_symlink() and path.is_file() and other.read_bytes() == b"elsewhere"


def test_a_missing_folder_is_named_at_the_target(writer, tmp_path):
    """save_figure creates its folder (its own rule), the others do not."""
    path = tmp_path / "no" / "target.png"
    if writer.kind == "plot":
        writer.write(path)
        assert path.is_file() and _names(path.parent) == ["target.png"]
        return
    with pytest.raises(FileNotFoundError) as info:
        writer.write(path)
    assert str(info.value) == f"[Errno 2] {writer.words(path)}: No such file or directory"
    assert _names(tmp_path) == [] and writer.calls == 0


# ------------------------------------------------------------------ injected faults
@pytest.mark.parametrize("fault", ["disk full", "ctrl-c", "runtime error"])
def test_a_failure_while_writing_keeps_the_old_file_and_leaves_no_temporary(
        writer, tmp_path, fault):
    exc = {"disk full": OSError(errno.ENOSPC, "No space left on device"),
           "ctrl-c": KeyboardInterrupt(), "runtime error": RuntimeError("agg died")}[fault]
    path, before = _old(tmp_path)
    with pytest.raises(type(exc)) as info:
        writer.write(path, fail=exc)
    assert writer.calls == 1
    assert path.read_bytes() == before and _names(tmp_path) == ["target.png"]
    if fault == "disk full":
        assert type(info.value) is OSError and info.value.errno == errno.ENOSPC
        assert str(info.value) == f"[Errno 28] {writer.words(path)}: No space left on device"


def test_a_failing_fsync_keeps_the_old_file_and_names_the_target(writer, tmp_path,
                                                                 monkeypatch):
    """save_figure never synced its PNG: a figure could be empty after a power cut."""
    path, before = _old(tmp_path)
    real = os.fsync

    def fsync(fd):
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EIO, "Input/output error")
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError) as info:
        writer.write(path)
    assert info.value.errno == errno.EIO
    assert str(info.value) == f"[Errno 5] {writer.words(path)}: Input/output error"
    assert path.read_bytes() == before and _names(tmp_path) == ["target.png"]


@pytest.mark.parametrize("exc", [OSError(errno.EXDEV, "Invalid cross-device link"),
                                 KeyboardInterrupt()], ids=["oserror", "ctrl-c"])
def test_a_failing_rename_keeps_the_old_file_and_names_the_target(writer, tmp_path,
                                                                  monkeypatch, exc):
    path, before = _old(tmp_path)

    def replace(src, dst):
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror, os.fspath(src), os.fspath(dst))
        raise exc
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(type(exc)) as info:
        writer.write(path)
    if isinstance(exc, OSError):
        assert str(info.value) == (f"[Errno 18] {writer.words(path)}: "
                                   f"Invalid cross-device link")
    assert path.read_bytes() == before and _names(tmp_path) == ["target.png"]


def test_the_file_then_its_folder_is_synced(writer, tmp_path, monkeypatch):
    """The file before the rename, its folder after it (save_figure and write_files synced
    no folder, and save_figure not even the file)."""
    path = tmp_path / "target.png"
    synced, real = [], os.fsync

    def fsync(fd):
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), path.exists()))
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    writer.write(path)
    assert synced == [(False, False), (True, True)]


def test_a_folder_that_cannot_be_synced_is_no_error(writer, tmp_path, monkeypatch):
    path = tmp_path / "target.png"
    real = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    writer.write(path)
    assert _names(tmp_path) == ["target.png"] and path.stat().st_size > 0


def test_the_temporary_file_is_beside_the_target_with_a_short_name(writer, tmp_path,
                                                                   monkeypatch):
    """``.minigraphrec-<pid>-<8 hex>.tmp`` in the target's folder, whatever the target's
    name: write_files' ``.<name>.<pid>-<hex>.tmp`` could not be made beside a name of 240
    bytes or more (ENAMETOOLONG)."""
    renamed, real = [], os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append(Path(src)),
                                                         real(src, dst))[1])
    path = tmp_path / ("a" * 250 + ".png")                          # 254 bytes, the most
    writer.write(path)
    assert len(renamed) == 1 and renamed[0].parent == tmp_path
    assert TEMP_NAME.fullmatch(renamed[0].name) and f"-{os.getpid()}-" in renamed[0].name
    assert _names(tmp_path) == [path.name]


def test_an_error_naming_another_file_is_raised_as_it_is(writer, tmp_path):
    """An OSError about a file other than the target and its temporary file (a source being
    copied, a font while drawing) already names what failed; reworded, it would say the
    target could not be written ('No such file or directory' for a target whose folder
    exists)."""
    source = str(tmp_path / "elsewhere" / "source.bin")
    exc = FileNotFoundError(errno.ENOENT, "No such file or directory", source)
    path, before = _old(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        writer.write(path, fail=exc)
    assert info.value is exc and info.value.filename == source
    assert path.read_bytes() == before and _names(tmp_path) == ["target.png"]


# ------------------------------------------------------------------ several files together
MULTI = ["atomic", "write_files"]


def _write_many(kind, contents, **kwargs):
    if kind == "atomic":
        return _atomic().write_files(contents, **kwargs)
    return _common.write_files(contents)


@pytest.mark.parametrize("kind", MULTI)
def test_several_files_are_renamed_only_once_all_are_complete(kind, tmp_path, monkeypatch):
    events, real = [], os.replace

    def content(name):
        def write(f):
            events.append(f"write {name}")
            f.write(name.encode())
        return write
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append(
        f"rename {Path(dst).name}"), real(src, dst))[1])
    (tmp_path / "b").mkdir()
    paths = [tmp_path / "a", tmp_path / "b" / "b"]
    assert _write_many(kind, {paths[0]: content("a"), paths[1]: content("b")}) == paths
    assert events == ["write a", "write b", "rename a", "rename b"]
    assert paths[0].read_bytes() == b"a" and paths[1].read_bytes() == b"b"
    assert _names(tmp_path) == ["a", "b"] and _names(tmp_path / "b") == ["b"]


@pytest.mark.parametrize("kind", MULTI)
@pytest.mark.parametrize("fault", ["disk full", "ctrl-c"])
def test_a_failure_writing_the_second_file_keeps_both(kind, fault, tmp_path, monkeypatch):
    exc = OSError(errno.ENOSPC, "No space left on device") if fault == "disk full" \
        else KeyboardInterrupt()
    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "b").write_bytes(b"old b")
    renames = []
    monkeypatch.setattr(os, "replace", lambda *a: renames.append(a))

    def fail(f):
        f.write(b"half")
        raise exc
    with pytest.raises(type(exc)) as info:
        _write_many(kind, {tmp_path / "a": b"new a", tmp_path / "b": fail})
    if fault == "disk full":
        assert str(info.value) == (f"[Errno 28] cannot write {tmp_path / 'b'}: No space left "
                                   f"on device")
    assert renames == []
    assert (tmp_path / "a").read_bytes() == b"old a" and (tmp_path / "b").read_bytes() == b"old b"
    assert _names(tmp_path) == ["a", "b"]


@pytest.mark.parametrize("exc", [OSError(errno.EIO, "Input/output error"), KeyboardInterrupt()],
                         ids=["oserror", "ctrl-c"])
def test_a_failing_second_rename_says_which_file_was_written(exc, tmp_path, monkeypatch):
    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "b").write_bytes(b"old b")
    told = []
    fail_replace_at(monkeypatch, 2, exc)
    with pytest.raises(type(exc)) as info:
        _atomic().write_files({tmp_path / "a": b"new a", tmp_path / "b": b"new b"},
                              on_partial=lambda *args: told.append(args))
    assert (tmp_path / "a").read_bytes() == b"new a" and (tmp_path / "b").read_bytes() == b"old b"
    assert _names(tmp_path) == ["a", "b"]
    assert len(told) == 1 and told[0][:2] == ([tmp_path / "a"], [tmp_path / "b"])
    assert told[0][2] is info.value
    if isinstance(exc, OSError):
        assert str(info.value) == f"[Errno 5] cannot write {tmp_path / 'b'}: Input/output error"
    if sys.version_info >= (3, 11):
        assert info.value.__notes__ == [f"wrote {tmp_path / 'a'}, but not {tmp_path / 'b'} "
                                        f"(kept its old contents)"]


@pytest.mark.parametrize("kind", MULTI)
def test_each_folder_is_synced_once_after_every_rename(kind, tmp_path, monkeypatch):
    (tmp_path / "x").mkdir()
    paths = [tmp_path / "a", tmp_path / "x" / "b", tmp_path / "c"]
    synced, real = [], os.fsync

    def fsync(fd):
        st = os.fstat(fd)
        synced.append((stat.S_ISDIR(st.st_mode), st.st_ino, all(p.exists() for p in paths)))
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    _write_many(kind, {p: p.name for p in paths})
    assert [s[0] for s in synced] == [False, False, False, True, True]
    assert {s[1] for s in synced[3:]} == {tmp_path.stat().st_ino,
                                          (tmp_path / "x").stat().st_ino}
    assert all(s[2] for s in synced[3:]) and not any(s[2] for s in synced[:3])


# ------------------------------------------------------------------ the module's own API
def test_contents_of_each_kind(tmp_path):
    """str as open(path, "w") writes it, bytes-like objects, a callable given the binary
    file, a PathWriter given the temporary file's path."""
    A = _atomic()
    text = "a line\nand é\n"
    with open(tmp_path / "by_open", "w") as f:
        f.write(text)
    seen = []

    def by_path(tmp):
        seen.append(tmp)
        Path(tmp).write_bytes(b"by path")
    A.write_files({tmp_path / "text": text, tmp_path / "bytes": b"\x00\x01",
                   tmp_path / "view": memoryview(b"view"),
                   tmp_path / "call": lambda f: f.write(b"call"),
                   tmp_path / "path": A.PathWriter(by_path)})
    assert (tmp_path / "text").read_bytes() == (tmp_path / "by_open").read_bytes()
    assert (tmp_path / "bytes").read_bytes() == b"\x00\x01"
    assert (tmp_path / "view").read_bytes() == b"view"
    assert (tmp_path / "call").read_bytes() == b"call"
    assert (tmp_path / "path").read_bytes() == b"by path"
    assert seen[0].parent == tmp_path and TEMP_NAME.fullmatch(seen[0].name)
    assert A.write_file(tmp_path / "one", b"1", prefix="cannot keep it") == tmp_path / "one"


def test_bad_contents_and_repeated_targets_are_refused_before_writing(tmp_path):
    A = _atomic()
    with pytest.raises(TypeError, match=f"cannot write {tmp_path / 'b'}: the content must be "
                                        "a str, bytes, a callable or a PathWriter, got int"):
        A.write_files({tmp_path / "a": b"a", tmp_path / "b": 3})
    with pytest.raises(DataError, match="it is given twice"):
        A.write_files({tmp_path / "a": b"a", str(tmp_path / "a"): b"b"})
    with pytest.raises(TypeError, match="write must be callable"):
        A.PathWriter(b"not a function")
    assert _names(tmp_path) == []


def test_a_prefix_gives_the_words_of_the_error(tmp_path):
    A = _atomic()

    def fail(f):
        raise PermissionError(errno.EACCES, "Permission denied")
    with pytest.raises(PermissionError) as info:
        A.write_file(tmp_path / "m", fail, prefix="cannot keep the thing at m")
    assert str(info.value) == "[Errno 13] cannot keep the thing at m: Permission denied"
    assert _names(tmp_path) == []


def test_reworded_keeps_the_type_and_errno():
    import urllib.error
    A = _atomic()
    for exc, want in [(PermissionError(errno.EACCES, "Permission denied", "/x/.tmp"),
                       "[Errno 13] cannot write t: Permission denied"),
                      (IsADirectoryError(errno.EISDIR, "Is a directory"),
                       "[Errno 21] cannot write t: Is a directory"),
                      (OSError("No space left on device"), "cannot write t: No space left "
                                                           "on device")]:
        new = A.reworded(exc, "cannot write t")
        assert type(new) is type(exc) and new.errno == exc.errno and str(new) == want
        assert new.filename is None
    # a type built from other arguments: the plain OSError of its errno, never a TypeError
    new = A.reworded(urllib.error.URLError("unreachable"), "cannot write t")
    assert type(new) is OSError and str(new) == "cannot write t: <urlopen error unreachable>"


def test_the_umask_is_read_without_setting_it(monkeypatch):
    with open("/proc/self/status", "rb") if os.path.exists("/proc/self/status") else \
            open(os.devnull, "rb") as f:
        if not any(line.startswith(b"Umask:") for line in f):
            pytest.skip("no Umask line in /proc/self/status")
    A = _atomic()
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda *a: pytest.fail("the umask was set"))
        assert A.new_file_mode() == 0o640
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_a_failing_later_rename_still_syncs_the_folders_of_the_files_it_replaced(
        tmp_path, monkeypatch):
    """The rule's 4 holds for the renames that were done before one failed: their folders
    are synced before the error is raised (they were not: a power cut could undo the
    replaced file's rename, while the error said it was written)."""
    (tmp_path / "x").mkdir()
    paths = [tmp_path / "a", tmp_path / "x" / "b", tmp_path / "c"]
    synced = []
    fail_replace_at(monkeypatch, 3, OSError(errno.EXDEV, "Invalid cross-device link"))
    monkeypatch.setattr(_atomic(), "fsync_folder", lambda folder: synced.append(folder))
    with pytest.raises(OSError, match="cannot write .*c: Invalid cross-device link"):
        _atomic().write_files({p: p.name for p in paths})
    assert synced == [str(tmp_path), str(tmp_path / "x")]
    assert [(p.exists() and p.read_text()) for p in paths] == ["a", "b", False]
