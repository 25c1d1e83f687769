"""One service per database: an ``flock(2)`` on a lock file beside it (``tracker.db.lock``).

The kernel drops the lock when the process ends, however it ends (even SIGKILL), so a leftover
lock file never blocks a restart: the lock, not the file, is what counts. The file holds the
holder's pid for messages and ``tracker status``.

A lock on a file is lost with the file: delete the database's directory under a running service,
``tracker init`` again, and a second service would lock the new file (issue 18). So on Linux the
service also holds a name of its own, derived from the lock file's path, in the abstract socket
namespace: like the flock it goes when the process ends, but no file operation can take it away.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..errors import AlreadyRunningError, StorageError

#: ``tracker status`` probes the lock with a shared lock held for an instant; a service starting
#: in that instant tries again rather than reporting a second instance that does not exist
ACQUIRE_ATTEMPTS = 5
ACQUIRE_PAUSE = 0.05


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
        self._name: socket.socket | None = None

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
            raise self._running(pid)
        try:
            name = _claim_name(self.path)
        except _NameTaken as taken:
            # the lock file was deleted under a service that still runs (and locks the old one)
            os.close(fd)
            raise self._running(taken.pid) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)  # the lock goes with it
            if name is not None:
                name.close()
            raise StorageError(f"{self.path}: cannot write the lock file: {_why(exc)}") from None
        self._fd = fd
        self._name = name

    def _running(self, pid: int | None) -> AlreadyRunningError:
        who = f"pid {pid}" if pid else "another process"
        return AlreadyRunningError(
            f"the tracker service is already running ({who}) on "
            f"{self.database or self.path}; lock file {self.path}. "
            "Stop it first, or use 'tracker status' to see what it is doing."
        )

    def release(self) -> None:
        if self._name is not None:
            self._name.close()
            self._name = None
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
        fd = None
    except OSError as exc:
        raise StorageError(f"{path}: cannot read the lock file: {exc.strerror}") from None
    if fd is not None:
        try:
            if not _free(fd):
                return LockState(held=True, pid=_read_pid(fd))
        finally:
            os.close(fd)
    # the lock file may be new (its directory deleted and made again) under a running service
    return _name_holder(path)


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


def _abstract_name(lock_path: Path) -> bytes:
    digest = hashlib.sha256(str(Path(lock_path).resolve()).encode()).hexdigest()
    return b"\0tracker-service/" + digest.encode()


class _NameTaken(Exception):
    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid


def _claim_name(lock_path: Path) -> socket.socket | None:
    """Bind the service's name for ``lock_path`` and return the socket holding it; raise
    ``_NameTaken`` (with the holder's pid) when a live process has it. None where there is no
    abstract socket namespace (not Linux, or a sandbox): the flock alone is the lock there."""
    if not sys.platform.startswith("linux"):
        return None
    name = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        name.bind(_abstract_name(lock_path))
        # listening only so that a refused second service or 'tracker status' can ask who holds
        # it (nothing accepts: each asks once, and only while the lock file is not locked)
        name.listen(128)
    except OSError as exc:
        name.close()
        if exc.errno == errno.EADDRINUSE:
            raise _NameTaken(_name_holder(lock_path).pid) from None
        return None
    return name


def _name_holder(lock_path: Path) -> LockState:
    """Whether a process holds the service's name for ``lock_path``, and its pid."""
    if not sys.platform.startswith("linux"):
        return LockState(held=False)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as asking:
        asking.settimeout(1.0)
        try:
            asking.connect(_abstract_name(lock_path))
            credentials = asking.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
            )
        except (ConnectionRefusedError, FileNotFoundError):
            return LockState(held=False)
        except OSError:
            return LockState(held=True)  # bound, but not answering: held, by whom unknown
    return LockState(held=True, pid=struct.unpack("3i", credentials)[0] or None)
