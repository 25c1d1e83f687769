"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The text goes to a temporary file in the target's own directory (a rename is only atomic within
one file system), is flushed and fsynced, then renamed over the target; the directory is fsynced
too so the rename itself survives a power cut. If anything fails before the rename, the
temporary file is removed and the previous file is left exactly as it was. Several files
written together (a digest's Markdown, HTML and Atom feed) are all on disk before the first
is renamed, so a full disk leaves the previous set as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from .errors import OutputError

#: mode of a newly created file; an existing file keeps its own
NEW_FILE_MODE = 0o644


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically; creates the directory if needed."""
    return atomic_write_files([(path, data)])[0]


def atomic_write_text(path: Path, text: str) -> Path:
    """Replace ``path`` with UTF-8 ``text`` atomically (newlines written as given)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_files(files: Sequence[tuple[Path, bytes]]) -> list[Path]:
    """Replace several files together: each is first written whole to a temporary file beside
    it; only once all of them are on disk are they renamed into place, in the order given.

    So a failure while writing (a full disk, an I/O error) leaves every file as it was, not
    some replaced and some not. Only a failure between two renames, which write no data,
    could leave the set mixed: each file is still whole.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            staged.append((_stage(Path(path), data), Path(path)))
        while staged:
            tmp, path = staged[0]
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
            staged.pop(0)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
    paths = [Path(path) for path, _ in files]
    for directory in dict.fromkeys(p.parent for p in paths):
        _fsync_directory(directory)
    return paths


def _stage(path: Path, data: bytes) -> Path:
    """``data`` in a new temporary file in ``path``'s directory, flushed to disk."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else NEW_FILE_MODE
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    return tmp


@contextlib.contextmanager
def atomic_text_file(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file at ``path`` written as a stream, that appears only once complete.

    For output too large to hold in memory (an export): the text goes to a temporary file
    beside ``path``, renamed over it when the block ends. Any failure, inside the block or
    out, removes the temporary file and leaves ``path`` as it was; one the file system
    reports is an ``OutputError`` naming the path. A symbolic link is followed (the file it
    points to is replaced, not the link), and a device or a pipe (``/dev/null``, a terminal's
    ``/dev/stdout``) is written directly: there is nothing to rename over it.
    """
    path = Path(path)
    if _is_special(path):  # stat follows links, /dev/stdout's to a pipe included
        with _writing(path), path.open("w", encoding="utf-8", newline="") as out:
            yield out
        return
    target = path.resolve()
    with _writing(path):
        mode = target.stat().st_mode & 0o777 if target.exists() else NEW_FILE_MODE
        try:
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
            )
        except OSError as exc:
            if not target.parent.is_dir():
                raise  # _writing says "no such directory"
            # the directory is there but takes no new file (read-only, or /proc)
            raise OSError(
                exc.errno, f"cannot create a file in {target.parent}: {exc.strerror}"
            ) from None
    tmp = Path(tmp_name)
    try:
        with _writing(path):
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                yield out
            os.chmod(tmp, mode)  # mkstemp makes the file private
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _is_special(path: Path) -> bool:
    """An existing file that is not a regular file or a directory: a device, pipe or socket."""
    try:
        return not stat.S_ISREG(path.stat().st_mode) and not path.is_dir()
    except OSError:
        return False


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """OSErrors inside become one OutputError line: which file, and why."""
    try:
        yield
    except OSError as exc:
        if not path.parent.is_dir():
            reason = "no such directory"
        elif path.is_dir():
            reason = "it is a directory"
        else:
            reason = exc.strerror or str(exc)
        raise OutputError(f"{path}: cannot write: {reason}") from None


def _fsync_directory(directory: Path) -> None:
    # makes the rename durable; some platforms and file systems cannot open a directory
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def special_file_kind(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file ("a directory", "a character
    device", …), or None: a database or an output must be a file of its own, never a device
    that SQLite would write a ``-journal`` beside, nor a pipe that would never answer."""
    try:
        mode = path.stat().st_mode
    except OSError:  # missing (it will be created), or unreadable (opening it says why)
        return None
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((kind for test, kind in kinds if test(mode)), None)
