"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The text goes to a temporary file in the target's own directory (a rename is only atomic within
one file system), is flushed and fsynced, then renamed over the target; the directory is fsynced
too so the rename itself survives a power cut. If anything fails before the rename, the
temporary file is removed and the previous file is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import OutputError

#: mode of a newly created file; an existing file keeps its own
NEW_FILE_MODE = 0o644


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically; creates the directory if needed."""
    path = Path(path)
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
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    _fsync_directory(path.parent)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Replace ``path`` with UTF-8 ``text`` atomically (newlines written as given)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


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
