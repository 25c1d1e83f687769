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
import tempfile
from collections.abc import Sequence
from pathlib import Path

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
