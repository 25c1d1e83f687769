"""One service per database: an ``flock(2)`` on a lock file beside it (``tracker.db.lock``).

The kernel drops the lock when the process ends, however it ends (even SIGKILL), so a leftover
lock file never blocks a restart: the lock, not the file, is what counts. The file holds the
holder's pid for messages and ``tracker status``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..errors import StorageError, TrackerError

#: ``tracker status`` probes the lock with a shared lock held for an instant; a service starting
#: in that instant tries again rather than reporting a second instance that does not exist
ACQUIRE_ATTEMPTS = 5
ACQUIRE_PAUSE = 0.05


class AlreadyRunningError(TrackerError):
    """Another ``tracker run`` holds the lock of this database."""


@dataclass(frozen=True)
class LockState:
    held: bool
    #: the holder's pid when held and readable
    pid: int | None = None


class InstanceLock:
    def __init__(self, path: Path, database: Path | None = None) -> None:
        self.path = Path(path)
        self.database = database
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid, or raise ``AlreadyRunningError`` at once."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot open the lock file: {exc.strerror}") from None
        if not _try_lock(fd, fcntl.LOCK_EX):
            pid = _read_pid(fd)
            os.close(fd)
            who = f"pid {pid}" if pid else "another process"
            raise AlreadyRunningError(
                f"the tracker service is already running ({who}) on "
                f"{self.database or self.path}; lock file {self.path}. "
                "Stop it first, or use 'tracker status' to see what it is doing."
            )
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)  # the lock goes with it
            raise StorageError(f"{self.path}: cannot write the lock file: {_why(exc)}") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # emptied first: a pid left behind would name a process that no longer holds the lock
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def probe(path: Path) -> LockState:
    """Whether a service holds the lock at ``path`` (and its pid), without disturbing it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return LockState(held=False)
    except OSError as exc:
        raise StorageError(f"{path}: cannot read the lock file: {exc.strerror}") from None
    try:
        if _free(fd):
            return LockState(held=False)
        return LockState(held=True, pid=_read_pid(fd))
    finally:
        os.close(fd)


def _free(fd: int) -> bool:
    """Try a shared lock and drop it again: True when nobody holds the exclusive lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def _try_lock(fd: int, kind: int) -> bool:
    for attempt in range(ACQUIRE_ATTEMPTS):
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < ACQUIRE_ATTEMPTS:
                time.sleep(ACQUIRE_PAUSE)
    return False


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full: free some space"
    return exc.strerror or str(exc)
