"""The connection, its transactions and migrations: what every part of the store stands on.

The connection runs in autocommit mode and every write happens inside ``transaction()``
(``BEGIN IMMEDIATE`` … ``COMMIT``), so a killed process leaves either all of a write or none of it.
Inside a transaction only plain ``execute`` is used: sqlite-utils' write helpers commit on their
own and would split it.

In the service one store (one connection) is shared by the worker threads: every statement and
every transaction holds the store's lock, so statements of different threads never interleave.
Other processes (``tracker poll``, queries) use their own connection; WAL and the busy timeout let
them work while the service runs.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import sqlite_utils

from ..errors import QueryError, StorageError
from ..files import special_file_kind
from .rows import to_db as to_db
from .schema import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000
APPLICATION_ID = 0x54524B31  # "TRK1": tells a tracker database from any other SQLite file


class StoreBase:
    def __init__(self, db: sqlite_utils.Database, path: Path | None) -> None:
        self.db = db
        self.path = path
        self._lock = threading.RLock()
        #: set by ``keep_to_this_thread``: the only thread that may still use the store
        self._owner: int | None = None
        #: (device, inode) of the file opened, to notice it deleted or replaced under us (set by
        #: ``open``; None: not checked)
        self._identity: tuple[int, int] | None = None

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Self:
        """Open (and migrate) a tracker database; with ``create`` make it if missing."""
        path = Path(path)
        if not path.exists() and not create:
            raise StorageError(f"{path}: no database here yet; run 'tracker init' first")
        kind = special_file_kind(path)
        if kind:  # config.yaml refuses it too; this is for a Config built by hand
            raise StorageError(f"{path}: {kind}, not a database file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"{path}: cannot open database: {exc}") from None
        store = cls(sqlite_utils.Database(conn), path)
        try:
            store._configure()
            store.migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise storage_error(path, exc) from None
        except UnicodeDecodeError as exc:
            conn.close()
            raise undecodable_error(path, exc) from None
        except StorageError:
            conn.close()
            raise
        with contextlib.suppress(FileNotFoundError):  # it exists now, also when just created
            store._identity = _identity(path)
        return store

    @classmethod
    def memory(cls) -> Self:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        store = cls(sqlite_utils.Database(conn), None)
        store._configure()
        store.migrate()
        return store

    def close(self) -> None:
        # under the lock: a transaction another thread has open ends before the connection goes
        with self._lock:
            self.db.conn.close()

    def keep_to_this_thread(self) -> None:
        """From now on only the calling thread may use the store; safe from any thread.

        A write transaction another thread has open is rolled back, never committed: a statement
        running now is interrupted, and that thread's next statement (or its COMMIT) fails with a
        StorageError. The service calls this when a stop's grace period is over, so the polls
        it abandons store nothing, and it exits without waiting for their writes to finish.
        """
        self._owner = threading.get_ident()
        self.db.conn.interrupt()

    def file_problem(self) -> str | None:
        """Why the database's path no longer leads to the file this store has open (deleted,
        its directory too, or replaced by another file), or None.

        SQLite goes on reading and writing the file it opened, unlinked or not: whatever it
        wrote there would be lost, and a new database at the path would be another one.
        """
        if self.path is None or self._identity is None:
            return None
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            return f"{self.path}: the database file was deleted while the tracker had it open"
        if now is not None and now != self._identity:
            return (
                f"{self.path}: the database file was replaced by another one while the tracker "
                "had it open"
            )
        return None

    def _check_file(self) -> None:
        problem = self.file_problem()
        if problem:
            raise StorageError(f"{problem}; nothing more is written to it")

    def _check_owner(self) -> None:
        if self._owner is not None and self._owner != threading.get_ident():
            raise StorageError(f"{self.path or 'database'}: closing; this write was rolled back")

    def _configure(self) -> None:
        execute = self.db.conn.execute
        execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        execute("PRAGMA foreign_keys = ON")
        app_id = execute("PRAGMA application_id").fetchone()[0]
        version = execute("PRAGMA user_version").fetchone()[0]
        has_tables = execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (version or has_tables):
            raise StorageError(f"{self.path}: this SQLite file is not a tracker database")
        if has_tables:
            # before anything is written: a damaged file must be refused, not patched over
            self._check_intact()
        if self.path is not None:
            execute("PRAGMA journal_mode = WAL")
            # with WAL, NORMAL keeps the database consistent after a crash of the process
            execute("PRAGMA synchronous = NORMAL")

    # --- transactions --------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One short write transaction; rolled back on any error."""
        with self._lock, self._storage_errors():
            self._check_owner()
            self._check_file()
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._check_owner()
                self.db.conn.execute("COMMIT")
            except BaseException:
                # after some errors (disk full, I/O) SQLite has already rolled back
                if self.db.conn.in_transaction:
                    self.db.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """The database failing (locked, full, read-only, damaged) is a StorageError."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not _environmental(exc):
                raise
            raise storage_error(self.path, exc) from None
        except UnicodeDecodeError as exc:
            raise undecodable_error(self.path, exc) from None

    def _check_intact(self) -> None:
        result = self._x("PRAGMA quick_check(1)").fetchone()[0]
        if result != "ok":
            problem = " ".join(result.replace("*** in database main ***", "").split())
            raise StorageError(f"{self.path}: the database is damaged ({problem}); {_DAMAGED}")

    def _x(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock, _in_range(params):
            self._check_owner()
            return self.db.conn.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self._lock, self._storage_errors(), _in_range(params):
            self._check_owner()
            return list(self.db.query(sql, params))

    def _outlet_id(self, name: str, homepage: str | None = None) -> int:
        """The outlet of that name, created when there is none (the ``feeds`` part has it)."""
        raise NotImplementedError

    # --- migrations ----------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self._x("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        with self._lock:
            for number, step in enumerate(MIGRATIONS, start=1):
                if self.schema_version < number:
                    step(self.db)
                    self._x(f"PRAGMA application_id = {APPLICATION_ID}")
                    self._x(f"PRAGMA user_version = {number}")
        if self.schema_version > len(MIGRATIONS):
            raise StorageError(
                f"{self.path}: database schema {self.schema_version} is newer than this tracker "
                f"({len(MIGRATIONS)}); upgrade the tracker"
            )

    def _in_chunks(
        self,
        sql: str,
        ids: Sequence[int],
        after: Sequence[Any] = (),
        *,
        before: Sequence[Any] = (),
    ) -> list[dict[str, Any]]:
        """Run ``sql`` with its ``IN ({})`` filled for each chunk of ids (SQLite caps params).

        ``before`` and ``after`` are the parameters that precede and follow the IN list.
        """
        rows: list[dict[str, Any]] = []
        unique = sorted(set(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows.extend(self._rows(sql.format(marks), [*before, *chunk, *after]))
        return rows


@contextmanager
def _in_range(params: Sequence[Any] | dict[str, Any]) -> Iterator[None]:
    """An integer argument beyond SQLite's 64 bits (an id typed as 99999999999999999999999)
    names nothing that can be stored: a QueryError saying so, not an OverflowError."""
    try:
        yield
    except OverflowError:
        values = params.values() if isinstance(params, dict) else params
        huge = next((v for v in values if isinstance(v, int) and v.bit_length() > 63), None)
        if huge is None:
            raise
        raise QueryError(
            f"{huge} is beyond SQLite's 64-bit integers: no id, count or limit is that large"
        ) from None


_DAMAGED = (
    "the file was left untouched: restore a backup, or recover what can be read with "
    "'sqlite3 FILE .recover', before running the tracker on it again"
)


def _environmental(exc: sqlite3.Error) -> bool:
    """Locked, full, read-only, I/O or damaged, as opposed to a bad statement (a bug in the
    tracker's SQL, or a user's full-text query): those are SQLITE_ERROR and stay as they are."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name:
        return name.startswith(_ENVIRONMENTAL)
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


_ENVIRONMENTAL = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_IOERR",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "SQLITE_CANTOPEN",
    "SQLITE_PERM",
    "SQLITE_AUTH",
    "SQLITE_NOMEM",
    "SQLITE_INTERRUPT",
    "SQLITE_PROTOCOL",
)


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when it cannot be looked at. Raises
    FileNotFoundError when nothing is there (its directory gone too)."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(path) from None
    except OSError:
        return None
    return info.st_dev, info.st_ino


#: less free space than this beside the database is a full disk (SQLite's -shm alone is 32 KiB)
DISK_FULL_BELOW = 1 << 20


def disk_full(path: Path | None) -> bool:
    """Whether the file system holding ``path`` has (next to) no space left for its user."""
    if path is None:
        return False
    try:
        fs = os.statvfs(path.parent)
    except OSError:
        return False
    return fs.f_bavail * fs.f_frsize < DISK_FULL_BELOW


def disk_full_error(path: Path) -> StorageError:
    return StorageError(
        f"{path}: the disk holding {path.parent} is full: free some space (the tracker needs "
        "room beside the database for its -wal and -shm files, even to read)"
    )


def undecodable_error(path: Path | None, exc: UnicodeDecodeError) -> StorageError:
    """SQLite's error message was not UTF-8, so Python could not read it: it quotes text of the
    file that is not UTF-8 (a bit flipped in the schema's SQL makes it unparsable), which only
    damage puts there."""
    said = bytes(exc.object).decode("utf-8", "replace") if exc.object else str(exc)
    return StorageError(f"{path or 'database'}: the database is damaged ({said}); {_DAMAGED}")


def storage_error(path: Path | None, exc: sqlite3.Error) -> StorageError:
    """One clear line for the database failing, saying what to do about it."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        where = path.parent if path else "its directory"
        problem = (
            "cannot write to the database: the tracker needs write access to the file and to "
            f"{where} (for its -wal and -shm files)"
        )
    elif name.startswith("SQLITE_BUSY"):
        problem = f"another process kept the database locked for over {BUSY_TIMEOUT_MS // 1000} s"
    elif name.startswith("SQLITE_FULL"):
        problem = "the disk is full; the write was rolled back"
    elif name.startswith("SQLITE_IOERR") and path is not None and disk_full(path):
        # SQLite says "disk I/O error" when it cannot even create its -shm file to read
        return disk_full_error(path)
    elif name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        problem = f"not a usable tracker database, {_DAMAGED}"
    else:
        problem = "the database cannot be used"
    return StorageError(f"{path or 'database'}: {problem} ({exc})")
