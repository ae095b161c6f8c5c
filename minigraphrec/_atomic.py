r"""Atomic file writes: the one rule every file minigraphrec writes follows.

:func:`minigraphrec.io.save` (models), :func:`minigraphrec.plot.save_figure` (figures) and
the benchmarks' result files (``benchmarks/_common.write_files``) all write through
:func:`write_files`; :func:`reworded` is also how the dataset downloader names its cache
in an ``OSError``. The rule, for each target file:

1. Checked before anything is written (all targets first, when several are written
   together): a folder there (or a symbolic link to one) is refused with
   ``IsADirectoryError``; another kind of file that is not a regular file (a device, a
   FIFO, a socket) with ``FileExistsError``, as a rename would replace it rather than write
   into it; an existing regular file the caller may not write
   (``os.access(path, os.W_OK)`` false: a read-only 0o444 file, say) with
   ``PermissionError``, as ``open(path, "w")`` and the shell's ``>`` refuse it. A symbolic
   link at the target is replaced by the file, not written through.
2. The content goes to a new temporary file in the target's own folder, named
   ``.minigraphrec-<pid>-<8 hex digits>.tmp`` (short, whatever the target's name; created
   with ``O_EXCL``, private, 0o600, while it is written). It is flushed, given its final
   permission bits, and ``fsync``-ed.
3. The final mode is the replaced file's permission bits (``0o777`` of them: never a
   set-user-id, set-group-id or sticky bit), or, for a new file, the mode a plain ``open``
   gives one: ``0o666 & ~umask`` (the umask read from ``/proc/self/status`` where Linux
   gives it, so that it is never set to be read). Owner and group become the writer's.
4. ``os.replace`` renames it over the target; then the target's folder is ``fsync``-ed
   (best effort, where the platform lets a folder be opened), so that the rename itself
   survives a power cut.
5. On any failure (an ``OSError``, an error of the content's writer, ``KeyboardInterrupt``)
   the temporary files not yet renamed are removed and every target not yet renamed keeps
   its old contents. An ``OSError`` is re-raised :func:`reworded` to name the target (with
   the caller's words, e.g. ``cannot save the model to m.npz: No space left on device``),
   never the temporary file, keeping its type and errno; one that names another file (a
   source being copied) is raised as it is.

Several files are written together: every one is written in full and synced to its
temporary file before the first rename, so a failure before the renames leaves every target
as it was. The renames themselves (which do not fail in practice: the temporary files are
complete and in the right folders) go in order; should one fail, the error says (a note on
the exception, and ``on_partial``) which targets were replaced and which kept their old
contents, and the folders of those replaced are synced as after a success. Only a
process killed while writing (SIGKILL, a power cut) can leave a temporary
``.minigraphrec-*.tmp`` file beside a target, which is then still whole.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from .errors import DataError

__all__ = ["PathWriter", "write_file", "write_files", "reworded", "new_file_mode",
           "fsync_folder", "missing_folders"]

#: the start and end of every temporary file name (``.minigraphrec-<pid>-<hex>.tmp``)
TEMP_PREFIX, TEMP_SUFFIX = ".minigraphrec-", ".tmp"


class PathWriter:
    r"""Content written by a function given the temporary file's path (a ``pathlib.Path``),
    for writers that open their file themselves (matplotlib's ``savefig``).

    Parameters
    ----------
    write : callable
        ``write(path)`` writes the whole content into the file at ``path`` (opening it,
        truncating it, as ``open(path, "wb")`` does); it must not remove or rename it.
    """

    __slots__ = ("write",)

    def __init__(self, write):
        if not callable(write):
            raise TypeError(f"write must be callable, got {type(write).__name__}")
        self.write = write


def write_file(path, content, prefix=None):
    r"""Write ``content`` to ``path`` atomically by the module's rule; return ``Path(path)``.

    Parameters
    ----------
    path : str or os.PathLike
    content : str, bytes-like, callable or PathWriter
        As in :func:`write_files`.
    prefix : str, optional
        The words an ``OSError`` begins with, naming the target (default
        ``"cannot write <path>"``); the reason follows after ``": "``.
    """
    text = f"cannot write {path}" if prefix is None else prefix
    return write_files({path: content}, describe=lambda p: text)[0]


def write_files(contents, describe=None, on_partial=None):
    r"""Write each ``{path: content}`` atomically, all complete before any is renamed.

    Parameters
    ----------
    contents : dict
        ``{path: content}``, renamed in this order. ``content`` is a str (text, written as
        ``open(path, "w")`` writes it: the locale's encoding, newlines translated), a
        bytes-like object, a callable that writes into the binary file object it is given
        (``np.savez``, ``shutil.copyfileobj``), or a :class:`PathWriter`.
    describe : callable, optional
        ``describe(path)`` gives the words an ``OSError`` about ``path`` begins with
        (``path`` as given, as a ``Path``); default ``"cannot write <path>"``.
    on_partial : callable, optional
        Called as ``on_partial(written, kept, error)`` (two lists of ``Path``) before
        ``error`` is raised, when a rename failed after others had been done.

    Returns
    -------
    list of pathlib.Path
        The targets, in order.

    Raises
    ------
    IsADirectoryError, FileExistsError, PermissionError
        A target that is a folder, that is no regular file, or a regular file the caller
        may not write: found before anything is written.
    OSError
        Any other failure to write (no such folder, no permission, a full disk),
        :func:`reworded` to name the target; the temporary files are gone.
    DataError
        The same target given twice.
    TypeError
        A content of another type, before anything is written.
    """
    describe = (lambda p: f"cannot write {p}") if describe is None else describe
    items = [(Path(os.fspath(p)), c) for p, c in contents.items()]
    seen = set()
    for path, content in items:
        key = os.path.normcase(os.path.abspath(path))
        if key in seen:
            raise DataError(f"{describe(path)}: it is given twice")
        seen.add(key)
        if not (isinstance(content, (str, bytes, bytearray, memoryview, PathWriter))
                or callable(content)):
            raise TypeError(f"{describe(path)}: the content must be a str, bytes, a callable "
                            f"or a PathWriter, got {type(content).__name__}")
    modes = [_target_mode(path, describe(path)) for path, _ in items]   # all before writing
    temps, renamed, at = [], 0, None
    try:
        for at, ((path, content), mode) in enumerate(zip(items, modes)):
            _write_temp(path, content, mode, temps)
        for at, ((path, _), tmp) in enumerate(zip(items, temps)):
            os.replace(tmp, path)
            renamed += 1
    except BaseException as err:
        for tmp in temps[renamed:]:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raised = err
        if (isinstance(err, OSError) and at is not None
                and not _names_another_file(err, items[at][0])):
            raised = reworded(err, describe(items[at][0]))
        if renamed:
            written = [p for p, _ in items[:renamed]]
            kept = [p for p, _ in items[renamed:]]
            # the rule's 4 for the renames that were done: they survive a power cut too
            for folder in dict.fromkeys(os.path.dirname(os.path.abspath(p)) for p in written):
                fsync_folder(folder)
            # add_note's list, which Python 3.11 prints; 3.10 has no add_note
            raised.__notes__ = [*getattr(raised, "__notes__", []),
                                f"wrote {', '.join(map(str, written))}, but not "
                                f"{', '.join(map(str, kept))} (kept its old contents)"]
            if on_partial is not None:
                on_partial(written, kept, raised)
        if raised is err:
            raise
        raise raised from None
    for folder in dict.fromkeys(os.path.dirname(os.path.abspath(p)) for p, _ in items):
        fsync_folder(folder)
    return [p for p, _ in items]


def _target_mode(path, prefix):
    r"""The permission bits ``path``'s new content gets (the rule's 1 and 3), or the error."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:               # nothing there (or no folder: the temp says so)
        return new_file_mode()
    except OSError as err:                  # a file as a parent folder, a name too long
        raise reworded(err, prefix) from None
    if stat.S_ISDIR(st.st_mode) or (stat.S_ISLNK(st.st_mode) and os.path.isdir(path)):
        link = " (a symbolic link to one)" if stat.S_ISLNK(st.st_mode) else ""
        raise IsADirectoryError(errno.EISDIR, f"{prefix}: it is a folder{link}")
    if stat.S_ISLNK(st.st_mode):            # replaced by the file, not written through
        return new_file_mode()
    if not stat.S_ISREG(st.st_mode):
        raise FileExistsError(errno.EEXIST, f"{prefix}: it is {_kind(st.st_mode)}, not a "
                              "regular file, and would be replaced; remove it first or "
                              "choose another name")
    if not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, f"{prefix}: the file is read-only (mode "
                              f"{stat.S_IMODE(st.st_mode):04o}) for you; make it writable or "
                              "remove it first")
    return stat.S_IMODE(st.st_mode) & 0o777


def _kind(mode):
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _write_temp(path, content, mode, temps):
    r"""Create a temporary file beside ``path`` (appended to ``temps`` at once), write
    ``content`` into it, give it ``mode`` and sync it."""
    folder = path.parent
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_CLOEXEC", 0))
    for _ in range(100):
        tmp = folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary file name in its folder")
    temps.append(tmp)
    if isinstance(content, PathWriter):
        try:
            content.write(tmp)
            _set_mode(fd, tmp, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    try:
        f = os.fdopen(fd, "w" if isinstance(content, str) else "wb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        if callable(content):
            content(f)
        else:
            f.write(content)
        f.flush()
        _set_mode(f.fileno(), tmp, mode)
        os.fsync(f.fileno())


def _set_mode(fd, tmp, mode):
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:                                   # Windows: only the read-only flag
        os.chmod(tmp, mode)


def _names_another_file(err, target):
    r"""Whether the OSError ``err`` names a file other than ``target`` and a temporary file
    beside it (a source being copied, say): such an error already says what failed."""
    for name in (err.filename, err.filename2):
        if name is None or isinstance(name, int):          # no name, or a file descriptor
            continue
        try:
            name = os.fsdecode(name)
        except TypeError:
            continue
        full, folder = os.path.abspath(name), os.path.dirname(os.path.abspath(target))
        base = os.path.basename(full)
        if full == os.path.abspath(target) or (
                os.path.dirname(full) == folder and base.startswith(TEMP_PREFIX)
                and base.endswith(TEMP_SUFFIX)):             # a temporary file of ours
            continue
        return True
    return False


def reworded(err, text):
    r"""The OSError ``err`` with the message ``"<text>: <its reason>"``, of the same type
    and errno, so that it names what the caller asked for (``text``) and not a temporary
    file. The reason is ``err.strerror`` (else ``str(err)``); the new error names no file.
    A type that cannot be built as ``type(err)(errno, message)`` (a ``urllib`` error, say)
    gives the plain ``OSError`` of that errno (``PermissionError`` for EACCES, ...)."""
    message = f"{text}: {err.strerror or str(err) or type(err).__name__}"
    args = (message,) if err.errno is None else (err.errno, message)
    try:
        new = type(err)(*args)
    except Exception:                       # a constructor of its own, other arguments
        new = None
    if not (isinstance(new, OSError) and new.errno == err.errno
            and (new.strerror if err.errno is not None else str(new)) == message):
        new = OSError(*args)
    return new


def new_file_mode():
    r"""The mode ``open`` gives a new file: ``0o666`` less the process's umask."""
    return 0o666 & ~umask()


def umask():
    r"""The process's umask: read from ``/proc/self/status`` where there is one (Linux 4.7
    and later), as setting it to read it would change it for every thread for a moment;
    elsewhere by setting it and putting it back."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def missing_folders(folder):
    """The folders (``Path``) that creating ``folder`` would make, outermost first: what a
    writer that creates them removes again when it fails."""
    missing = []
    folder = Path(os.path.abspath(folder))
    while not os.path.lexists(folder) and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


def fsync_folder(folder):
    r"""Flush ``folder``'s entries (a rename into it) to disk, where the platform lets a
    folder be opened and synced; best effort, failures ignored (the files are synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
