"""The read-only connection for user-written SQL and exports."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import QueryError, StorageError
from .base import BUSY_TIMEOUT_MS, disk_full, disk_full_error, undecodable_error
from .rows import to_db

#: how much of the file a read-only connection maps (SQLite caps it at its build's maximum)
READ_MMAP_BYTES = 2**31
#: the largest value (string or blob) a query may return: stored values are a few kB, and a
#: SELECT randomblob(900000000) would otherwise be made whole, then copied and printed (6 GB)
READ_MAX_VALUE_BYTES = 16 * 2**20

#: what a read-only connection may do: read, select, call functions (not load_extension)
_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}
#: pragmas that only describe the schema (none of them can be assigned), for pragma_*() functions
_READ_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "database_list",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
    # read-only; FTS5 asks it before each full-text query
    "data_version",
}
#: functions that load code: load_extension(), and fts3_tokenizer(), which with one argument
#: gives the address of a tokenizer in memory and with two registers any address as one (SQLite
#: builds with SQLITE_ENABLE_FTS3_TOKENIZER, as Debian's, have it)
_REFUSED_FUNCTIONS = {"load_extension", "fts3_tokenizer"}
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name.replace("_", " ")
    for name in (
        "CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER "
        "CREATE_TEMP_VIEW CREATE_TRIGGER CREATE_VIEW DELETE DROP_INDEX DROP_TABLE "
        "DROP_TEMP_INDEX DROP_TEMP_TABLE DROP_TEMP_TRIGGER DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW "
        "INSERT PRAGMA TRANSACTION UPDATE ATTACH DETACH ALTER_TABLE REINDEX ANALYZE "
        "CREATE_VTABLE DROP_VTABLE SAVEPOINT"
    ).split()
}


class ReadOnlyStore:
    """A connection that cannot change the database, for user-written SQL and exports.

    Three locks, any of which is enough: the file is opened read-only (``mode=ro``),
    ``PRAGMA query_only`` is on, and an authorizer refuses every statement that is not a read
    (INSERT, DROP, ATTACH, PRAGMA, load_extension(), …) with a clear error. It never migrates:
    ``Tracker`` opens the database normally first.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, timeout: float | None) -> None:
        self.conn = conn
        self.path = path
        self.timeout = timeout
        self._refused: str | None = None
        self._deadline: float | None = None
        self._stopped: str | None = None

    @classmethod
    def open(cls, path: Path, *, timeout: float | None = None) -> ReadOnlyStore:
        """Open read-only; a statement running longer than ``timeout`` seconds is stopped."""
        path = Path(path)
        if not path.exists():
            raise StorageError(f"{path}: no database here yet; run 'tracker init' first")
        try:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            # reads through a memory map skip a system call per page: at a million items a
            # B-tree's inner pages no longer fit SQLite's small page cache
            conn.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
            conn.execute("PRAGMA query_only = 1")
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, READ_MAX_VALUE_BYTES)
        except sqlite3.Error as exc:
            if disk_full(path):
                raise disk_full_error(path) from None
            raise StorageError(f"{path}: cannot open database read-only: {exc}") from None
        except UnicodeDecodeError as exc:
            raise undecodable_error(path, exc) from None
        store = cls(conn, path, timeout)
        conn.set_authorizer(store._authorize)
        # a Python callback every few thousand VM steps enforces the timeout, and gives Ctrl-C a
        # chance to stop a runaway query (SQLite alone never looks at Python's signals)
        conn.set_progress_handler(store._tick, 5_000)
        return store

    def _tick(self) -> int:
        # Ctrl-C raises KeyboardInterrupt in here; SQLite then stops with "interrupted"
        return 1 if self._overdue() else 0

    def _overdue(self) -> bool:
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._stopped = f"the query ran longer than {self.timeout:g} s and was stopped"
            return True
        return False

    def close(self) -> None:
        self.conn.close()

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _REFUSED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
            return sqlite3.SQLITE_OK
        # the first use of a pragma_*() table function registers it in the schema; SQL itself
        # can never change sqlite_master (that needs PRAGMA writable_schema, refused above)
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            self._refused = f"{(arg2 or '').lower()}()"
        elif action == sqlite3.SQLITE_PRAGMA:
            self._refused = f"PRAGMA {arg1}"
        else:
            self._refused = _ACTION_NAMES.get(action, f"action {action}")
        return sqlite3.SQLITE_DENY

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Rows:
        """Run one statement; its rows stream as dicts while the Rows object is iterated."""
        if _statement_text(sql) == "":
            raise QueryError("the SQL statement is empty")
        self._refused = self._stopped = None
        self._deadline = time.monotonic() + self.timeout if self.timeout else None
        try:
            cursor = self.conn.execute(sql, params)
        except (sqlite3.Error, sqlite3.Warning) as exc:
            if self._refused and not self._refused.startswith(("PRAGMA", "load_")):
                # name the statement the user wrote, not the step SQLite checked first
                # (DROP TABLE is refused at its DELETE from sqlite_master)
                self._refused = _statement_name(sql) or self._refused
            raise QueryError(self._explain(exc)) from None
        columns = tuple(d[0] for d in cursor.description or ())
        _check_distinct(columns)
        # the timeout covers the time the rows take to be read and printed too
        return Rows(columns, cursor, self._explain, self._overdue if self.timeout else None)

    def coverage(
        self,
        article_id: int | None = None,
        *,
        tier: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Rows:
        """The coverage view, oldest first per article, for exports."""
        where, params = [], {}
        for clause, name, value in (
            ("article_id = :article", "article", article_id),
            ("tier = :tier", "tier", tier),
            ("reported_at >= :since", "since", to_db(since)),
            ("reported_at < :until", "until", to_db(until)),
        ):
            if value is not None:
                where.append(clause)
                params[name] = value
        sql = "SELECT * FROM coverage"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.rows(sql + " ORDER BY article_id, first_seen_at, item_id", params)

    def _explain(self, exc: BaseException) -> str:
        if self._stopped:
            return self._stopped
        if self._refused:
            return (
                f"the query connection is read-only: {self._refused} is not allowed; only "
                "SELECT statements (WITH … SELECT, pragma_table_info() and the like) run here"
            )
        message = str(exc)
        if message == "interrupted":
            return "the query was interrupted"
        if message == "string or blob too big":
            return (
                f"a value of the result would be larger than {READ_MAX_VALUE_BYTES >> 20} MiB, "
                "the most a query returns (string or blob too big)"
            )
        if "one statement at a time" in message:
            return "one SQL statement at a time, please"
        if "attempt to write a readonly database" in message or "query_only" in message:
            return "the query connection is read-only: it cannot change the database"
        if "no such table" in message:
            return f"{message} (tables and views: SELECT name FROM sqlite_master)"
        if re.match(r"Binding \d+ has no name", message):
            return (
                "the statement has a parameter with no name (?), and values are given by name: "
                "write :name in the SQL (WHERE article_id = :article) and pass it with "
                "-p article VALUE"
            )
        missing = re.search(r"value for binding parameter \W?(\w+)", message)
        if missing:
            name = missing.group(1)
            return f"the statement's parameter :{name} has no value: pass one with -p {name} VALUE"
        return f"SQL error: {message}"


def _check_distinct(columns: Sequence[str]) -> None:
    """Rows are dicts keyed by column name: a second column of the same name would silently
    replace the first (SELECT i.id, f.id ...), so it is an error instead."""
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise QueryError(
                f"the result has two columns named {column!r}: give each its own name with AS "
                "(SELECT items.id AS item_id, feeds.id AS feed_id ...)"
            )
        seen.add(column)


def _statement_text(sql: str) -> str:
    """The SQL without its comments, blanks and semicolons: empty when there is no statement."""
    return re.sub(r"--[^\n]*|/\*.*?(?:\*/|$)|[\s;]+", " ", sql, flags=re.S).strip()


def _statement_name(sql: str) -> str | None:
    words = re.findall(r"[A-Za-z_]+", _statement_text(sql))[:3]
    if not words or words[0].upper() in ("WITH", "SELECT", "VALUES", "EXPLAIN"):
        return None
    first = words[0].upper()
    if first in ("CREATE", "DROP") and len(words) > 1:
        kind = words[2] if words[1].upper() in ("TEMP", "TEMPORARY", "VIRTUAL") else words[1]
        return f"{first} {kind.upper()}"
    return str(first)


class Rows:
    """Rows of one query, as dicts, fetched one at a time (constant memory, even when each row
    holds values of many MiB)."""

    def __init__(
        self,
        columns: tuple[str, ...],
        cursor: sqlite3.Cursor,
        explain: Callable[[BaseException], str],
        overdue: Callable[[], bool] | None = None,
    ) -> None:
        self.columns = columns
        self._cursor = cursor
        self._explain = explain
        self._overdue = overdue

    def __iter__(self) -> Iterator[dict[str, Any]]:
        columns, overdue = self.columns, self._overdue
        try:
            for values in self._cursor:
                if overdue is not None and overdue():
                    raise sqlite3.OperationalError("interrupted")  # explained as the timeout
                yield dict(zip(columns, values, strict=True))
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise QueryError(self._explain(exc)) from None
