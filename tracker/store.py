"""The only module that talks to SQLite.

Schema changes are numbered migrations (``PRAGMA user_version``). The connection runs in autocommit
mode and every write the pipeline makes happens inside ``Store.transaction()`` (``BEGIN
IMMEDIATE`` … ``COMMIT``), one per polled feed, so a killed process leaves either all of a feed's
poll or none of it. Inside a transaction only plain ``execute`` is used: sqlite-utils' write helpers
commit on their own and would split it. Tables, views and FTS are created the sqlite-utils way so
``sqlite-utils`` and Datasette understand the database.

In the service one ``Store`` (one connection) is shared by the worker threads: every statement and
every transaction holds the store's lock, so statements of different threads never interleave.
Other processes (``tracker poll``, queries) use their own connection; WAL and the busy timeout
let them work while the service runs.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, overload

import sqlite_utils

from .errors import ConflictError, NotFoundError, QueryError, StorageError
from .models import CleanItem, CycleSummary, FeedResult, FeedSource, FeedState, Outlet, Relevance
from .urls import feed_url

BUSY_TIMEOUT_MS = 10_000
APPLICATION_ID = 0x54524B31  # "TRK1": tells a tracker database from any other SQLite file


@overload
def to_db(value: datetime) -> str: ...
@overload
def to_db(value: None) -> None: ...
@overload
def to_db(value: datetime | None) -> str | None: ...
def to_db(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, in seconds: sorts as text, and SQLite's date functions read it."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class ItemOutcome:
    item_id: int
    status: str  # new | updated | seen
    item: CleanItem


@dataclass(frozen=True)
class StoredArticle:
    id: int
    location: str
    url: str | None
    title: str
    published_at: str | None
    text: str
    key_terms: dict[str, float]
    cited_outlets: tuple[str, ...]
    added_at: str
    #: the relevance model (JSON), built against the items stored when it was made
    model: dict[str, Any]


class Store:
    def __init__(self, db: sqlite_utils.Database, path: Path | None) -> None:
        self.db = db
        self.path = path
        self._lock = threading.RLock()
        #: set by ``keep_to_this_thread``: the only thread that may still use the store
        self._owner: int | None = None

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Store:
        """Open (and migrate) a tracker database; with ``create`` make it if missing."""
        path = Path(path)
        if not path.exists() and not create:
            raise StorageError(f"{path}: no database here yet; run 'tracker init' first")
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
        except StorageError:
            conn.close()
            raise
        return store

    @classmethod
    def memory(cls) -> Store:
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

    def _check_intact(self) -> None:
        result = self._x("PRAGMA quick_check(1)").fetchone()[0]
        if result != "ok":
            problem = " ".join(result.replace("*** in database main ***", "").split())
            raise StorageError(f"{self.path}: the database is damaged ({problem}); {_DAMAGED}")

    def _x(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            self._check_owner()
            return self.db.conn.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self._lock, self._storage_errors():
            self._check_owner()
            return list(self.db.query(sql, params))

    # --- migrations ----------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return self._x("PRAGMA user_version").fetchone()[0]

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

    # --- outlets and feeds ---------------------------------------------------------------------

    def sync_outlets(self, outlets: Iterable[Outlet]) -> None:
        with self.transaction():
            for o in outlets:
                self._x(
                    "INSERT INTO outlets (name, aliases, domains, homepage) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET aliases = excluded.aliases, "
                    "domains = excluded.domains, homepage = excluded.homepage",
                    (o.name, json.dumps(o.aliases), json.dumps(o.domains), o.homepage),
                )

    def outlets(self) -> list[Outlet]:
        return [
            Outlet(
                r["name"],
                tuple(json.loads(r["aliases"])),
                tuple(json.loads(r["domains"])),
                r["homepage"],
            )
            for r in self._rows("SELECT * FROM outlets ORDER BY name")
        ]

    def outlet_names(self) -> list[str]:
        """Every name and alias of every stored outlet."""
        names = []
        for outlet in self.outlets():
            names.extend((outlet.name, *outlet.aliases))
        return names

    def _outlet_id(self, name: str) -> int:
        row = self._x("SELECT id FROM outlets WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        if row is None:
            self._x("INSERT INTO outlets (name) VALUES (?)", (name,))
            row = self._x("SELECT id FROM outlets WHERE name = ?", (name,)).fetchone()
        return row[0]

    def sync_config_feeds(self, feeds: Iterable[FeedSource], now: datetime) -> None:
        """Make the stored config feeds match config.yaml; feeds dropped from it are disabled."""
        feeds = list(feeds)
        with self.transaction():
            for feed in feeds:
                self._upsert_feed(feed, "config", now)
            urls = [f.url for f in feeds]
            # an empty list disables them all (SQLite takes "NOT IN ()"; "NOT IN (NULL)" is
            # never true, so no outlet left in the file disabled nothing)
            marks = ",".join("?" * len(urls))
            self._x(
                f"UPDATE feeds SET enabled = 0, disabled_reason = 'removed from config' "
                f"WHERE origin = 'config' AND enabled = 1 AND url NOT IN ({marks})",
                urls,
            )

    def add_feed(self, feed: FeedSource, now: datetime, origin: str = "cli") -> tuple[int, bool]:
        """Add a feed: (id, True), or (id, False) when its outlet already has that URL.

        A feed of another outlet is refused with ConflictError, not moved: its stored items
        would keep the old outlet. (Config sync, where the file decides, may move feeds.)
        """
        with self.transaction():
            existing = self._x(
                "SELECT feeds.id, outlets.name FROM feeds "
                "JOIN outlets ON outlets.id = feeds.outlet_id WHERE feeds.url = ?",
                (feed.url,),
            ).fetchone()
            if existing is None:
                return self._upsert_feed(feed, origin, now), True
            feed_id, outlet = int(existing[0]), existing[1]
            if outlet.casefold() != feed.outlet.casefold():
                raise ConflictError(
                    f"feed {feed_id} already exists, for {outlet}, not {feed.outlet}: {feed.url}"
                )
            return feed_id, False

    def _upsert_feed(self, feed: FeedSource, origin: str, now: datetime) -> int:
        outlet_id = self._outlet_id(feed.outlet)
        row = self._x("SELECT id, enabled, disabled_reason FROM feeds WHERE url = ?", (feed.url,))
        existing = row.fetchone()
        if existing is None:
            cursor = self._x(
                "INSERT INTO feeds (url, outlet_id, kind, note, origin, enabled, added_at, "
                "next_poll_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                (feed.url, outlet_id, feed.kind, feed.note, origin, to_db(now), to_db(now)),
            )
            return int(cursor.lastrowid or 0)
        # a feed back in config after removal is enabled again; one disabled for failing is not
        revive = existing[2] == "removed from config"
        self._x(
            "UPDATE feeds SET outlet_id = ?, kind = ?, note = ?, "
            "enabled = CASE WHEN ? THEN 1 ELSE enabled END, "
            "disabled_reason = CASE WHEN ? THEN NULL ELSE disabled_reason END WHERE id = ?",
            (outlet_id, feed.kind, feed.note, revive, revive, existing[0]),
        )
        return int(existing[0])

    def set_feed_enabled(self, feed_id: int, enabled: bool, now: datetime) -> None:
        with self.transaction():
            cursor = self._x(
                "UPDATE feeds SET enabled = ?, disabled_reason = NULL, consecutive_errors = 0, "
                "consecutive_hard_errors = 0, next_poll_at = ? WHERE id = ?",
                (int(enabled), to_db(now), feed_id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"no feed with id {feed_id}")

    def feeds(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT feeds.*, outlets.name AS outlet, "
            "(SELECT count(*) FROM sightings WHERE sightings.feed_id = feeds.id) AS items "
            "FROM feeds JOIN outlets ON outlets.id = feeds.outlet_id "
            "ORDER BY outlets.name, feeds.id"
        )

    def due_feeds(self, now: datetime) -> list[FeedState]:
        rows = self._rows(
            "SELECT feeds.*, outlets.name AS outlet FROM feeds "
            "JOIN outlets ON outlets.id = feeds.outlet_id "
            "WHERE enabled = 1 AND (next_poll_at IS NULL OR next_poll_at <= ?) "
            "ORDER BY next_poll_at, feeds.id",
            (to_db(now),),
        )
        return [_feed_state(r) for r in rows]

    def feed_state(self, feed_id: int) -> FeedState:
        rows = self._rows(
            "SELECT feeds.*, outlets.name AS outlet FROM feeds "
            "JOIN outlets ON outlets.id = feeds.outlet_id WHERE feeds.id = ?",
            (feed_id,),
        )
        if not rows:
            raise NotFoundError(f"no feed with id {feed_id}")
        return _feed_state(rows[0])

    # --- recording a poll ----------------------------------------------------------------------

    def record_fetch(self, result: FeedResult) -> None:
        self._x(
            "INSERT INTO fetches (feed_id, url, started_at, duration_ms, http_status, bytes, "
            "result, error_kind, error_message, items_new, items_updated, items_seen, "
            "items_linked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.feed_id,
                result.url,
                to_db(result.started_at),
                result.duration_ms,
                result.http_status,
                result.bytes,
                result.result,
                result.error_kind,
                result.error_message,
                result.items_new,
                result.items_updated,
                result.items_seen,
                result.items_linked,
            ),
        )

    def update_feed_after_poll(self, feed_id: int, now: datetime, **changes: Any) -> None:
        """Set the given feed columns (validated against the schema) plus last_fetch_at."""
        changes["last_fetch_at"] = to_db(now)
        unknown = set(changes) - FEED_STATE_COLUMNS
        if unknown:
            raise ValueError(f"not feed state columns: {sorted(unknown)}")
        assignments = ", ".join(f"{column} = :{column}" for column in changes)
        self._x(f"UPDATE feeds SET {assignments} WHERE id = :id", {**changes, "id": feed_id})

    def move_feed(self, feed_id: int, new_url: str) -> bool:
        """Follow a permanent redirect; False when another feed already has that URL."""
        try:
            self._x("SAVEPOINT move_feed")
            self._x("UPDATE feeds SET url = ? WHERE id = ?", (new_url, feed_id))
            self._x("RELEASE move_feed")
        except sqlite3.IntegrityError:
            self._x("ROLLBACK TO move_feed")
            self._x("RELEASE move_feed")
            return False
        return True

    def upsert_items(
        self, feed: FeedState, items: Sequence[CleanItem], now: datetime
    ) -> list[ItemOutcome]:
        """Insert new items, update changed ones (keeping the old version), record sightings.

        Lookups are batched (one query for every key of the poll, one for this feed's earlier
        sightings) because this runs for every item of every poll.
        """
        stamp = to_db(now)
        outlet_id = self._x("SELECT outlet_id FROM feeds WHERE id = ?", (feed.id,)).fetchone()[0]
        known = self._item_ids_by_key([key for item in items for key in item.keys])
        said_before = self._sighting_hashes(feed.id, set(known.values()))
        outcomes, new_keys, sightings = [], [], []
        listed: set[int] = set()
        for item in items:
            item_id = self._match(item, known)
            if item_id in listed:
                # listed twice in one poll: the first listing counts, or the two would take
                # turns as the current version at every poll
                outcomes.append(ItemOutcome(item_id, "seen", item))
                continue
            if item_id is None:
                item_id = self._insert_item(item, feed.id, outlet_id, stamp)
                status = "new"
            else:
                status = self._refresh_item(item_id, item, said_before.get(item_id), stamp)
            said_before[item_id] = item.content_hash
            listed.add(item_id)
            for key in item.keys:
                if key not in known:
                    known[key] = item_id
                    new_keys.append((key, item_id))
            sightings.append((item_id, feed.id, stamp, stamp, item.content_hash))
            outcomes.append(ItemOutcome(item_id, status, item))
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO item_keys (key, item_id) VALUES (?, ?)", new_keys
        )
        self.db.conn.executemany(
            "INSERT INTO sightings (item_id, feed_id, first_seen_at, last_seen_at, times_seen, "
            "content_hash) VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT(item_id, feed_id) DO UPDATE SET "
            "last_seen_at = excluded.last_seen_at, times_seen = times_seen + 1, "
            "content_hash = excluded.content_hash",
            sightings,
        )
        self.db.conn.executemany(
            "UPDATE items SET last_seen_at = ? WHERE id = ?",
            [(stamp, o.item_id) for o in outcomes if o.status != "new"],
        )
        return outcomes

    def _item_ids_by_key(self, keys: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._x(f"SELECT key, item_id FROM item_keys WHERE key IN ({marks})", chunk)
            )
        return found

    def _sighting_hashes(self, feed_id: int, item_ids: set[int]) -> dict[int, str]:
        rows = self._x("SELECT item_id, content_hash FROM sightings WHERE feed_id = ?", (feed_id,))
        return {item_id: digest for item_id, digest in rows if item_id in item_ids}

    def _match(self, item: CleanItem, known: dict[str, int]) -> int | None:
        for key in item.keys:
            if key in known:
                if key == item.keys[0]:
                    return known[key]
                existing = {
                    r[0]
                    for r in self._x("SELECT key FROM item_keys WHERE item_id = ?", (known[key],))
                }
                return known[key] if item.is_same_as(key, existing) else None
        return None

    def _insert_item(self, item: CleanItem, feed_id: int, outlet_id: int, stamp: str) -> int:
        cursor = self._x(
            "INSERT INTO items (outlet_id, feed_id, guid, url, canonical_url, title, summary, "
            "summary_html, author, published_at, first_seen_at, last_seen_at, content_hash, "
            "version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (
                outlet_id,
                feed_id,
                item.guid,
                item.url,
                item.canonical_url,
                item.title,
                item.summary,
                item.summary_html,
                item.author,
                to_db(item.published_at),
                stamp,
                stamp,
                item.content_hash,
            ),
        )
        item_id = int(cursor.lastrowid or 0)
        story = self._x(
            "INSERT INTO stories (title, first_seen_at, first_item_id, first_outlet_id) "
            "VALUES (?, ?, ?, ?)",
            (item.title, stamp, item_id, outlet_id),
        )
        self._x("UPDATE items SET story_id = ? WHERE id = ?", (story.lastrowid, item_id))
        return item_id

    def _refresh_item(
        self, item_id: int, item: CleanItem, said_before: str | None, stamp: str
    ) -> str:
        # An update only counts when the same feed changed what it said. Comparing across feeds
        # would flip the item back and forth when two feeds word it differently.
        if said_before is None or said_before == item.content_hash:
            return "seen"
        current = self._x("SELECT content_hash FROM items WHERE id = ?", (item_id,)).fetchone()[0]
        if current == item.content_hash:
            return "seen"
        self._x(
            "INSERT INTO item_versions (item_id, version, title, summary, summary_html, "
            "published_at, replaced_at) SELECT id, version, title, summary, summary_html, "
            "published_at, ? FROM items WHERE id = ?",
            (stamp, item_id),
        )
        self._x(
            "UPDATE items SET title = ?, summary = ?, summary_html = ?, author = ?, "
            "content_hash = ?, updated_at = ?, version = version + 1, "
            "published_at = coalesce(published_at, ?) WHERE id = ?",
            (
                item.title,
                item.summary,
                item.summary_html,
                item.author,
                item.content_hash,
                stamp,
                to_db(item.published_at),
                item_id,
            ),
        )
        return "updated"

    def link_item(self, article_id: int, item_id: int, relevance: Relevance, now: datetime) -> None:
        self._x(
            "INSERT INTO article_items (article_id, item_id, score, story_score, tier, reasons, "
            "linked_at, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(article_id, item_id) DO UPDATE SET score = excluded.score, "
            "story_score = excluded.story_score, tier = excluded.tier, "
            "reasons = excluded.reasons, scored_at = excluded.scored_at",
            (
                article_id,
                item_id,
                round(relevance.score, 4),
                round(relevance.story_score, 4),
                relevance.tier,
                json.dumps(list(relevance.reasons), ensure_ascii=False),
                to_db(now),
                to_db(now),
            ),
        )

    # --- articles ------------------------------------------------------------------------------

    def save_article(
        self,
        *,
        location: str,
        url: str | None,
        title: str,
        published_at: datetime | None,
        text: str,
        key_terms: dict[str, float],
        cited: Sequence[tuple[str, str]],
        now: datetime,
    ) -> int:
        """Insert or refresh an article (matched by location); ``cited`` is (outlet, evidence)."""
        with self.transaction():
            self._x(
                "INSERT INTO articles (location, url, title, published_at, text, key_terms, "
                "added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(location) DO "
                "UPDATE SET url = excluded.url, title = excluded.title, "
                "published_at = excluded.published_at, text = excluded.text, "
                "key_terms = excluded.key_terms, updated_at = excluded.updated_at",
                (
                    location,
                    url,
                    title,
                    to_db(published_at),
                    text,
                    json.dumps(key_terms, ensure_ascii=False),
                    to_db(now),
                    to_db(now),
                ),
            )
            article_id = self._x(
                "SELECT id FROM articles WHERE location = ?", (location,)
            ).fetchone()[0]
            self._x("DELETE FROM article_outlets WHERE article_id = ?", (article_id,))
            for outlet, evidence in cited:
                self._x(
                    "INSERT OR IGNORE INTO article_outlets (article_id, outlet_id, evidence) "
                    "VALUES (?, ?, ?)",
                    (article_id, self._outlet_id(outlet), evidence),
                )
        return int(article_id)

    def move_article(self, article_id: int, location: str) -> None:
        """Store an article under another spelling of its location (its resolved path)."""
        with self.transaction():
            self._x("UPDATE articles SET location = ? WHERE id = ?", (location, article_id))

    def articles(self) -> list[StoredArticle]:
        return [self._article(r) for r in self._rows("SELECT * FROM articles ORDER BY id")]

    def article(self, article_id: int) -> StoredArticle:
        rows = self._rows("SELECT * FROM articles WHERE id = ?", (article_id,))
        if not rows:
            raise NotFoundError(f"no article with id {article_id} (see 'tracker article list')")
        return self._article(rows[0])

    def _article(self, row: dict[str, Any]) -> StoredArticle:
        cited = self._rows(
            "SELECT outlets.name FROM article_outlets JOIN outlets ON outlets.id = outlet_id "
            "WHERE article_id = ? ORDER BY outlets.name",
            (row["id"],),
        )
        return StoredArticle(
            id=row["id"],
            location=row["location"],
            url=row["url"],
            title=row["title"],
            published_at=row["published_at"],
            text=row["text"],
            key_terms=json.loads(row["key_terms"]),
            cited_outlets=tuple(r["name"] for r in cited),
            added_at=row["added_at"],
            model=json.loads(row["model"] or "{}"),
        )

    # --- reading -------------------------------------------------------------------------------

    def coverage(
        self, article_id: int, *, limit: int | None = None, tier: str | None = None
    ) -> list[dict[str, Any]]:
        """Items linked to an article, newest first."""
        self.article(article_id)
        sql = (
            "SELECT items.id AS item_id, outlets.name AS outlet, items.first_seen_at, "
            "items.published_at, items.title, items.url, items.summary, article_items.score, "
            "article_items.story_score, article_items.tier, article_items.reasons, "
            "items.story_id FROM article_items "
            "JOIN items ON items.id = article_items.item_id "
            "JOIN outlets ON outlets.id = items.outlet_id WHERE article_items.article_id = ?"
        )
        params: list[Any] = [article_id]
        if tier:
            sql += " AND article_items.tier = ?"
            params.append(tier)
        sql += " ORDER BY items.first_seen_at DESC, items.id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._rows(sql, params)
        for row in rows:
            row["reasons"] = json.loads(row["reasons"])
        return rows

    def save_article_model(
        self, article_id: int, model: dict[str, Any], key_terms: dict[str, float]
    ) -> None:
        with self.transaction():
            self._x(
                "UPDATE articles SET model = ?, key_terms = ? WHERE id = ?",
                (
                    json.dumps(model, ensure_ascii=False),
                    json.dumps(key_terms, ensure_ascii=False),
                    article_id,
                ),
            )

    def replace_links(
        self, article_id: int, links: Sequence[tuple[int, Relevance]], now: datetime
    ) -> None:
        """Make an article's links exactly ``links`` (after a rescore); kept ones keep linked_at."""
        with self.transaction():
            self._x("CREATE TEMP TABLE IF NOT EXISTS keep_links (item_id INTEGER PRIMARY KEY)")
            self._x("DELETE FROM keep_links")
            self.db.conn.executemany(
                "INSERT INTO keep_links VALUES (?)", [(item_id,) for item_id, _ in links]
            )
            self._x(
                "DELETE FROM article_items WHERE article_id = ? "
                "AND item_id NOT IN (SELECT item_id FROM keep_links)",
                (article_id,),
            )
            for item_id, relevance in links:
                self.link_item(article_id, item_id, relevance, now)

    # --- stories -------------------------------------------------------------------------------

    def items_for_clustering(self, since: datetime) -> list[dict[str, Any]]:
        """Items published or first seen since a time, oldest first, with their story and outlet.

        The order does not depend on which feed of a cycle was stored first, so clustering
        gives the same stories for the same items.
        """
        return self._rows(
            "SELECT id, story_id, outlet_id, title, summary, first_seen_at, "
            "coalesce(published_at, first_seen_at) AS happened_at FROM items "
            "WHERE first_seen_at >= :since OR published_at >= :since "
            "ORDER BY first_seen_at, happened_at, canonical_url, id",
            {"since": to_db(since)},
        )

    def move_to_story(self, moves: Sequence[tuple[int, int]]) -> None:
        """Put items into other stories; stories left without items are removed."""
        with self.transaction():
            for item_id, story_id in moves:
                old = self._x("SELECT story_id FROM items WHERE id = ?", (item_id,)).fetchone()[0]
                self._x("UPDATE items SET story_id = ? WHERE id = ?", (story_id, item_id))
                self._x(
                    "DELETE FROM stories WHERE id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM items WHERE story_id = ?)",
                    (old, old),
                )

    def item_count(self) -> int:
        return self._x("SELECT count(*) FROM items").fetchone()[0]

    def item_text(self, item_id: int) -> tuple[str, str]:
        row = self._x("SELECT title, summary FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no item with id {item_id}")
        return row[0], row[1] or ""

    def items_for_scoring(self) -> list[tuple[int, str, str]]:
        return [
            (r[0], r[1], r[2] or "")
            for r in self._x("SELECT id, title, summary FROM items ORDER BY id")
        ]

    def duplicate_urls(self) -> int:
        """Canonical URLs stored on more than one item (should be 0)."""
        return self._x(
            "SELECT count(*) FROM (SELECT canonical_url FROM items WHERE canonical_url IS NOT NULL "
            "GROUP BY canonical_url HAVING count(*) > 1)"
        ).fetchone()[0]

    def counts(self) -> dict[str, int]:
        tables = (
            "articles",
            "feeds",
            "items",
            "sightings",
            "item_versions",
            "article_items",
            "fetches",
        )
        return {t: self._x(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    def integrity_check(self) -> str:
        return self._x("PRAGMA integrity_check").fetchone()[0]

    # --- digest --------------------------------------------------------------------------------
    # Reads for the daily digest (digest.py). Times are UTC text bounds: [start, end).

    def digest_items(self, article_id: int, start: str, end: str) -> list[dict[str, Any]]:
        """Items linked to an article and first seen in [start, end), earliest first."""
        rows = self._rows(
            "SELECT items.id AS item_id, items.story_id, items.feed_id, items.title, "
            "coalesce(items.canonical_url, items.url) AS url, "
            "items.summary, items.first_seen_at, items.published_at, outlets.name AS outlet, "
            "article_items.score, article_items.tier, article_items.reasons FROM items "
            # CROSS JOIN: walk the day's items by first_seen_at, not all of an article's links
            "CROSS JOIN article_items ON article_items.item_id = items.id "
            "AND article_items.article_id = ? "
            "JOIN outlets ON outlets.id = items.outlet_id "
            "WHERE items.first_seen_at >= ? AND items.first_seen_at < ? "
            "ORDER BY items.first_seen_at, items.id",
            (article_id, start, end),
        )
        for row in rows:
            row["reasons"] = json.loads(row["reasons"] or "[]")
        return rows

    def digest_stories(self, story_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The stories with the outlet and time each was first seen."""
        return self._in_chunks(
            "SELECT stories.id AS story_id, stories.title, stories.first_seen_at, "
            "outlets.name AS first_outlet FROM stories "
            "LEFT JOIN outlets ON outlets.id = stories.first_outlet_id WHERE stories.id IN ({})",
            story_ids,
        )

    def digest_sightings(self, story_ids: Sequence[int], end: str) -> list[dict[str, Any]]:
        """Every feed that listed an item of these stories before ``end``, earliest first."""
        rows = self._in_chunks(
            "SELECT items.story_id, items.id AS item_id, items.feed_id AS item_feed_id, "
            "sightings.feed_id, sightings.first_seen_at, outlets.name AS outlet, "
            "feeds.title AS feed_title, feeds.note AS feed_note, feeds.url AS feed_url "
            "FROM items JOIN sightings ON sightings.item_id = items.id "
            "JOIN feeds ON feeds.id = sightings.feed_id "
            "JOIN outlets ON outlets.id = feeds.outlet_id WHERE items.story_id IN ({}) "
            "AND sightings.first_seen_at < ?",
            story_ids,
            (end,),
        )
        return sorted(rows, key=lambda r: (r["first_seen_at"], r["item_id"], r["feed_id"]))

    def digest_versions(self, article_id: int, start: str, end: str) -> list[dict[str, Any]]:
        """Every earlier version of the linked items that changed in [start, end).

        Rows are ordered by item and version; ``current_*`` are the item's values now.
        """
        return self._rows(
            "SELECT item_versions.item_id, item_versions.version, item_versions.title, "
            "item_versions.summary, item_versions.replaced_at, items.title AS current_title, "
            "items.summary AS current_summary, coalesce(items.canonical_url, items.url) AS url, "
            "items.first_seen_at, "
            "outlets.name AS outlet, article_items.tier, article_items.score FROM item_versions "
            "JOIN article_items ON article_items.item_id = item_versions.item_id "
            "AND article_items.article_id = ? "
            "JOIN items ON items.id = item_versions.item_id "
            "JOIN outlets ON outlets.id = items.outlet_id WHERE item_versions.item_id IN "
            "(SELECT item_id FROM item_versions WHERE replaced_at >= ? AND replaced_at < ?) "
            "ORDER BY item_versions.item_id, item_versions.version",
            (article_id, start, end),
        )

    def digest_timeline(self, article_id: int, start: str, end: str) -> list[dict[str, Any]]:
        """Outlet and first-seen time of each item linked to an article in [start, end)."""
        return self._rows(
            "SELECT outlets.name AS outlet, items.first_seen_at, article_items.tier FROM items "
            "CROSS JOIN article_items ON article_items.item_id = items.id "
            "AND article_items.article_id = ? "
            "JOIN outlets ON outlets.id = items.outlet_id "
            "WHERE items.first_seen_at >= ? AND items.first_seen_at < ? "
            "ORDER BY items.first_seen_at",
            (article_id, start, end),
        )

    def digest_first_movers(self, article_id: int, end: str, tier: str) -> list[dict[str, Any]]:
        """Outlets in the order they first carried linked items of a tier before ``end``."""
        return self._rows(
            "SELECT outlets.name AS outlet, min(items.first_seen_at) AS first_seen_at, "
            "count(*) AS items FROM article_items JOIN items ON items.id = article_items.item_id "
            "JOIN outlets ON outlets.id = items.outlet_id WHERE article_items.article_id = ? "
            "AND article_items.tier = ? AND items.first_seen_at < ? "
            "GROUP BY outlets.id ORDER BY first_seen_at, outlets.name",
            (article_id, tier, end),
        )

    def digest_feed_health(self, cutoff: str) -> list[dict[str, Any]]:
        """Every feed added by ``cutoff`` with its state as the fetch log shows it then.

        ``errors_in_a_row`` and ``failing_since`` describe the run of failed fetches that ends
        the log at the cut-off, inclusive (0 and NULL when the last fetch succeeded).
        """
        return self._rows(
            "WITH last_ok AS (SELECT feed_id, max(started_at) AS at FROM fetches "
            "WHERE result != 'error' AND started_at <= :cutoff GROUP BY feed_id), "
            "streak AS (SELECT fetches.feed_id, count(*) AS errors, min(started_at) AS since "
            "FROM fetches LEFT JOIN last_ok ON last_ok.feed_id = fetches.feed_id "
            "WHERE result = 'error' AND started_at <= :cutoff "
            "AND started_at > coalesce(last_ok.at, '') GROUP BY fetches.feed_id) "
            "SELECT feeds.id AS feed_id, feeds.url, feeds.title, feeds.note, feeds.enabled, "
            "feeds.disabled_reason, feeds.added_at, feeds.last_fetch_at, "
            "outlets.name AS outlet, last_ok.at AS last_ok_at, "
            "coalesce(streak.errors, 0) AS errors_in_a_row, streak.since AS failing_since, "
            "(SELECT max(first_seen_at) FROM sightings WHERE sightings.feed_id = feeds.id "
            "AND first_seen_at <= :cutoff) AS last_item_at, "
            "(SELECT coalesce(error_kind || ': ', '') || coalesce(error_message, '') "
            "FROM fetches WHERE fetches.feed_id = feeds.id AND started_at <= :cutoff "
            "AND result = 'error' ORDER BY started_at DESC, id DESC LIMIT 1) AS last_error "
            "FROM feeds JOIN outlets ON outlets.id = feeds.outlet_id "
            "LEFT JOIN last_ok ON last_ok.feed_id = feeds.id "
            "LEFT JOIN streak ON streak.feed_id = feeds.id "
            "WHERE feeds.added_at IS NULL OR feeds.added_at <= :cutoff "
            "ORDER BY outlets.name, feeds.id",
            {"cutoff": cutoff},
        )

    def digest_totals(self) -> dict[str, int]:
        """Whole-database figures for the digest's footer."""
        row = self._rows(
            "SELECT (SELECT count(*) FROM items) AS items, "
            "(SELECT count(*) FROM stories) AS stories, "
            "(SELECT count(DISTINCT item_id) FROM article_items) AS linked, "
            "(SELECT count(*) FROM outlets) AS outlets, "
            "(SELECT count(*) FROM feeds) AS feeds, "
            "(SELECT count(*) FROM feeds WHERE enabled = 1) AS enabled_feeds, "
            "(SELECT count(*) FROM fetches) AS fetches"
        )[0]
        return {key: int(value) for key, value in row.items()}

    def _in_chunks(
        self, sql: str, ids: Sequence[int], after: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        """Run ``sql`` with its ``IN ({})`` filled for each chunk of ids (SQLite caps params).

        ``after`` are the parameters that follow the IN list.
        """
        rows: list[dict[str, Any]] = []
        unique = sorted(set(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows.extend(self._rows(sql.format(",".join("?" * len(chunk))), [*chunk, *after]))
        return rows

    # --- querying: time zone, search, retention ----------------------------------------------

    def timezone(self) -> str:
        """The zone timezone_spans holds (what daily_coverage's local days are in)."""
        row = self._x("SELECT timezone FROM timezone_spans ORDER BY starts_at LIMIT 1").fetchone()
        return row[0] if row else "UTC"

    def sync_timezone(self, name: str, spans: Sequence[tuple[str, str, int]]) -> bool:
        """Replace timezone_spans with the given (starts_at, ends_at, offset_minutes) spans."""
        stored = self._x(
            "SELECT starts_at, ends_at, offset_minutes, timezone FROM timezone_spans "
            "ORDER BY starts_at"
        ).fetchall()
        wanted = [(*span, name) for span in spans]
        if stored == wanted:
            return False
        with self.transaction():
            self._x("DELETE FROM timezone_spans")
            self.db.conn.executemany(
                "INSERT INTO timezone_spans (starts_at, ends_at, offset_minutes, timezone) "
                "VALUES (?, ?, ?, ?)",
                wanted,
            )
        return True

    def outlet_id(self, name: str) -> int:
        """The id of an existing outlet (names compare case-insensitively)."""
        row = self._x("SELECT id FROM outlets WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        if row is None:
            names = [r[0] for r in self._x("SELECT name FROM outlets ORDER BY name")]
            raise NotFoundError(f"no outlet named {name!r}; outlets: {', '.join(names) or 'none'}")
        return int(row[0])

    def search(
        self,
        match: str,
        *,
        article_id: int | None = None,
        outlet_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 20,
    ) -> list[dict[str, Any]]:
        """Items matching an FTS5 query, best first (bm25; a title match counts double).

        Matches are ranked inside the full-text index and only the best ``limit`` are joined
        to their items, so a common word costs microseconds per match, not an item read each.
        """
        where, params = ["items_fts MATCH :match"], {"match": match}
        if article_id is not None:
            where.append(
                "items_fts.rowid IN (SELECT item_id FROM article_items WHERE article_id = :article)"
            )
            params["article"] = article_id
        for clause, name, value in (
            ("items.outlet_id = :outlet", "outlet", outlet_id),
            (f"{_REPORTED_AT} >= :since", "since", to_db(since)),
            (f"{_REPORTED_AT} < :until", "until", to_db(until)),
        ):
            if value is not None:
                where.append(clause)
                params[name] = value
        # outlet and time filters read the item; without them the index alone ranks
        needs_items = any(name in params for name in ("outlet", "since", "until"))
        sql = SEARCH_SQL.format(
            join="JOIN items ON items.id = items_fts.rowid" if needs_items else "",
            where=" AND ".join(where),
            limit="LIMIT :limit" if limit else "",
        )
        params["limit"] = limit or -1
        try:
            return self._rows(sql, params)
        except sqlite3.OperationalError as exc:
            raise QueryError(
                f"search: {match!r} is not a valid full-text query ({exc}); "
                f"{_fts_hint(match, str(exc))}"
            ) from None

    def prune(
        self,
        cutoff: datetime,
        *,
        include_linked: bool = False,
        dry_run: bool = False,
        batch: int = 2000,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, int]:
        """Delete items last seen before ``cutoff`` (unlinked ones unless ``include_linked``)
        with their versions, keys and sightings, and the fetch and service-cycle log rows
        started before it.

        Returns rows deleted (or that would be, with ``dry_run``) per table. Items go in
        batches, one short transaction each, so a running service's polls are never held up
        for long; each batch leaves the database consistent.
        """
        stamp = to_db(cutoff)
        params: dict[str, Any] = {"cutoff": stamp, "all": int(include_linked)}
        if dry_run:
            return self._prune_counts(params)
        counts = dict.fromkeys(PRUNED_TABLES, 0)
        after = 0
        while True:
            ids = [
                row[0]
                for row in self._x(
                    f"SELECT id FROM items WHERE id > :after AND {_PRUNABLE} ORDER BY id "
                    "LIMIT :batch",
                    {**params, "after": after, "batch": batch},
                )
            ]
            if not ids:
                break
            for table, deleted in self._prune_items(ids).items():
                counts[table] += deleted
            after = ids[-1]
            if progress:
                progress(len(ids))
        for table in LOG_TABLES:
            counts[table] = self._prune_log(table, stamp, batch)
        return counts

    def _prune_counts(self, params: dict[str, Any]) -> dict[str, int]:
        doomed = f"SELECT id FROM items WHERE {_PRUNABLE}"
        kept = _prunable("other")
        queries = {
            "items": f"SELECT count(*) FROM items WHERE {_PRUNABLE}",
            "item_versions": f"SELECT count(*) FROM item_versions WHERE item_id IN ({doomed})",
            "item_keys": f"SELECT count(*) FROM item_keys WHERE item_id IN ({doomed})",
            "sightings": f"SELECT count(*) FROM sightings WHERE item_id IN ({doomed})",
            "article_items": f"SELECT count(*) FROM article_items WHERE item_id IN ({doomed})",
            "stories": f"SELECT count(*) FROM stories WHERE (id IN (SELECT story_id FROM items "
            f"WHERE {_PRUNABLE}) OR first_item_id IN ({doomed})) AND NOT EXISTS (SELECT 1 FROM "
            f"items AS other WHERE other.story_id = stories.id AND NOT ({kept}))",
            **{
                table: f"SELECT count(*) FROM {table} WHERE started_at < :cutoff"
                for table in LOG_TABLES
            },
        }
        with self._lock:
            return {table: self._x(sql, params).fetchone()[0] for table, sql in queries.items()}

    def _prune_items(self, ids: list[int]) -> dict[str, int]:
        marks = ",".join("?" * len(ids))
        counts = {}
        try:
            with self.transaction():
                stories = [
                    row[0]
                    for row in self._x(
                        f"SELECT id FROM stories WHERE first_item_id IN ({marks}) UNION "
                        f"SELECT story_id FROM items WHERE id IN ({marks})",
                        ids * 2,
                    )
                ]
                for table in ("article_items", "item_versions", "item_keys", "sightings"):
                    counts[table] = self._x(
                        f"DELETE FROM {table} WHERE item_id IN ({marks})", ids
                    ).rowcount
                # a story keeps its first_seen_at and first_outlet_id; its first_item_id moves
                # to its earliest remaining item (NULL when none is left, and the story goes)
                self._x(
                    f"UPDATE stories SET first_item_id = (SELECT min(items.id) FROM items "
                    f"WHERE items.story_id = stories.id AND items.id NOT IN ({marks})) "
                    f"WHERE first_item_id IN ({marks})",
                    ids * 2,
                )
                counts["items"] = self._x(f"DELETE FROM items WHERE id IN ({marks})", ids).rowcount
                story_marks = ",".join("?" * len(stories))
                counts["stories"] = self._x(
                    f"DELETE FROM stories WHERE id IN ({story_marks}) AND NOT EXISTS "
                    "(SELECT 1 FROM items WHERE items.story_id = stories.id)",
                    stories,
                ).rowcount
        except sqlite3.IntegrityError as exc:
            raise StorageError(
                f"prune: items are still referenced from another table ({exc}); nothing in "
                "this batch was deleted"
            ) from None
        return counts

    def _prune_log(self, table: str, cutoff: str, batch: int) -> int:
        deleted = 0
        while True:
            with self.transaction():
                count = self._x(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                    "WHERE started_at < ? LIMIT ?)",
                    (cutoff, batch),
                ).rowcount
            deleted += count
            if count < batch:
                return deleted

    def reclaim_space(self) -> tuple[int, int]:
        """Compact the full-text index and VACUUM; returns the file size before and after.

        VACUUM cannot run inside a transaction and holds the database for its duration (writers
        wait up to the busy timeout), which is why prune offers to skip it.
        """
        before = self.file_size()
        with self._lock:
            with self.transaction():
                self._x("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
            self._x("VACUUM")
            if self.path is not None:
                self._x("PRAGMA wal_checkpoint(TRUNCATE)")
        return before, self.file_size()

    def file_size(self) -> int:
        if self.path is None:
            return 0
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    # --- service -------------------------------------------------------------------------------

    def start_service_run(
        self,
        *,
        pid: int,
        host: str,
        version: str,
        config: str,
        heartbeat_every: float,
        now: datetime,
    ) -> int:
        """Record a service start; an earlier run without a stop record was killed or crashed."""
        with self.transaction():
            self._x(
                "UPDATE service_runs SET stopped_at = heartbeat_at, "
                "stop_reason = 'not stopped cleanly (killed or crashed)' WHERE stopped_at IS NULL"
            )
            cursor = self._x(
                "INSERT INTO service_runs (pid, host, version, config, started_at, heartbeat_at, "
                "heartbeat_every, in_flight) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (pid, host, version, config, to_db(now), to_db(now), heartbeat_every),
            )
        return int(cursor.lastrowid or 0)

    def service_heartbeat(self, run_id: int, now: datetime, in_flight: int) -> None:
        with self.transaction():
            self._x(
                "UPDATE service_runs SET heartbeat_at = ?, in_flight = ? WHERE id = ?",
                (to_db(now), in_flight, run_id),
            )

    def finish_service_run(self, run_id: int, now: datetime, reason: str) -> None:
        with self.transaction():
            self._x(
                "UPDATE service_runs SET heartbeat_at = ?, stopped_at = ?, stop_reason = ?, "
                "in_flight = 0 WHERE id = ?",
                (to_db(now), to_db(now), reason, run_id),
            )

    def service_runs(self, limit: int = 1) -> list[dict[str, Any]]:
        """The latest runs of the service, newest first."""
        return self._rows("SELECT * FROM service_runs ORDER BY id DESC LIMIT ?", (limit,))

    def first_service_start(self) -> datetime | None:
        """When the service first ran on this database."""
        return from_db(self._x("SELECT min(started_at) FROM service_runs").fetchone()[0])

    def record_cycle(
        self,
        run_id: int,
        *,
        started_at: datetime,
        finished_at: datetime,
        due: int,
        cancelled: int,
        summary: CycleSummary,
    ) -> int:
        """Store the summary of one dispatch cycle; returns its id (the cycle number in logs)."""
        with self.transaction():
            cursor = self._x(
                "INSERT INTO service_cycles (run_id, started_at, finished_at, duration_ms, "
                "feeds_due, feeds_polled, ok, not_modified, errors, cancelled, items_new, "
                "items_updated, items_linked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    to_db(started_at),
                    to_db(finished_at),
                    summary.duration_ms,
                    due,
                    len(summary.results),
                    summary.count("ok"),
                    summary.count("not-modified") + summary.count("unchanged"),
                    summary.count("error"),
                    cancelled,
                    summary.items_new,
                    sum(r.items_updated for r in summary.results),
                    summary.items_linked,
                ),
            )
        return int(cursor.lastrowid or 0)

    def service_cycles(self, limit: int = 1) -> list[dict[str, Any]]:
        """The latest dispatch cycles, newest first."""
        return self._rows("SELECT * FROM service_cycles ORDER BY id DESC LIMIT ?", (limit,))

    def digest_days_written(self, since: date) -> set[date]:
        """Days from ``since`` on whose digest the service wrote successfully."""
        rows = self._rows(
            "SELECT day FROM service_digests WHERE result = 'ok' AND day >= ?",
            (since.isoformat(),),
        )
        return {date.fromisoformat(r["day"]) for r in rows}

    def record_digest(
        self, day: date, *, run_id: int, trigger: str, now: datetime, error: str | None = None
    ) -> None:
        with self.transaction():
            self._x(
                "INSERT INTO service_digests (day, run_id, trigger, attempted_at, result, error, "
                "attempts) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT(day) DO UPDATE SET "
                "run_id = excluded.run_id, trigger = excluded.trigger, "
                "attempted_at = excluded.attempted_at, result = excluded.result, "
                "error = excluded.error, attempts = attempts + 1",
                (day.isoformat(), run_id, trigger, to_db(now), "error" if error else "ok", error),
            )

    def service_digests(self, limit: int = 3) -> list[dict[str, Any]]:
        """The digests the service wrote or tried to, latest day first."""
        return self._rows("SELECT * FROM service_digests ORDER BY day DESC LIMIT ?", (limit,))


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
    elif name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        problem = f"not a usable tracker database, {_DAMAGED}"
    else:
        problem = "the database cannot be used"
    return StorageError(f"{path or 'database'}: {problem} ({exc})")


FEED_STATE_COLUMNS = {
    "etag",
    "last_modified",
    "body_hash",
    "ttl_minutes",
    "title",
    "kind_detected",
    "consecutive_errors",
    "consecutive_hard_errors",
    "last_fetch_at",
    "last_success_at",
    "last_result",
    "last_error",
    "next_poll_at",
    "enabled",
    "disabled_reason",
    "new_items_rate",
}


def _feed_state(row: dict[str, Any]) -> FeedState:
    return FeedState(
        id=row["id"],
        url=row["url"],
        outlet=row["outlet"],
        kind=row["kind"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        consecutive_errors=row["consecutive_errors"],
        consecutive_hard_errors=row["consecutive_hard_errors"],
        new_items_rate=row["new_items_rate"] or 0.0,
        enabled=bool(row["enabled"]),
    )


# --- querying: SQL of search and retention, and the read-only connection ----------------------

#: when an item was reported: the outlet's published time, or first-seen when the feed gave none
_REPORTED_AT = "coalesce(items.published_at, items.first_seen_at)"


def _fts_hint(match: str, error: str) -> str:
    """What to write instead, for the FTS5 mistakes people make most."""
    if "no such column" in error and "-" in match:
        # FTS5 reads "-russia" (and "ukraine-russia") as a column filter, not as negation
        return (
            "a '-' is not negation in this syntax: write 'ukraine NOT russia' to leave a word "
            'out, put hyphenated words in double quotes ("ukraine-russia"), or use --literal'
        )
    if "no such column" in error:
        return (
            "'word:' filters on a column (title or summary): put the text in double quotes, or "
            "use --literal"
        )
    return (
        'put phrases in double quotes ("security guarantees"), or use --literal to match the '
        "words as typed"
    )


SEARCH_SQL = """
WITH best AS (
  SELECT items_fts.rowid AS id, bm25(items_fts, 2.0, 1.0) AS rank
  FROM items_fts {join}
  WHERE {where}
  ORDER BY rank, items_fts.rowid DESC
  {limit}
)
SELECT
  items.id AS item_id,
  outlets.name AS outlet,
  items.published_at,
  items.first_seen_at,
  items.title,
  items.url,
  (SELECT group_concat(article_id) FROM article_items WHERE item_id = items.id) AS articles,
  round(best.rank, 3) AS rank
FROM best
JOIN items ON items.id = best.id
JOIN outlets ON outlets.id = items.outlet_id
ORDER BY best.rank, best.id DESC
"""

#: tables prune deletes from, in the order it reports them
PRUNED_TABLES = (
    "items",
    "item_versions",
    "item_keys",
    "sightings",
    "article_items",
    "stories",
    "fetches",
    "service_cycles",
)
#: logs kept as long as the items: one row per fetch, one per service cycle
LOG_TABLES = ("fetches", "service_cycles")


def _prunable(alias: str) -> str:
    """Items last seen before :cutoff, and unlinked unless :all is 1."""
    return (
        f"coalesce({alias}.last_seen_at, {alias}.first_seen_at) < :cutoff AND (:all OR NOT "
        f"EXISTS (SELECT 1 FROM article_items AS linked WHERE linked.item_id = {alias}.id))"
    )


_PRUNABLE = _prunable("items")

#: how much of the file a read-only connection maps (SQLite caps it at its build's maximum)
READ_MMAP_BYTES = 2**31

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
        except sqlite3.Error as exc:
            raise StorageError(f"{path}: cannot open database read-only: {exc}") from None
        store = cls(conn, path, timeout)
        conn.set_authorizer(store._authorize)
        # a Python callback every few thousand VM steps enforces the timeout, and gives Ctrl-C a
        # chance to stop a runaway query (SQLite alone never looks at Python's signals)
        conn.set_progress_handler(store._tick, 5_000)
        return store

    def _tick(self) -> int:
        # Ctrl-C raises KeyboardInterrupt in here; SQLite then stops with "interrupted"
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._stopped = f"the query ran longer than {self.timeout:g} s and was stopped"
            return 1
        return 0

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
        return Rows(columns, cursor, self._explain)

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
            ("coalesce(published_at, first_seen_at) >= :since", "since", to_db(since)),
            ("coalesce(published_at, first_seen_at) < :until", "until", to_db(until)),
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
    return first


class Rows:
    """Rows of one query, as dicts, fetched a batch at a time (constant memory)."""

    def __init__(
        self,
        columns: tuple[str, ...],
        cursor: sqlite3.Cursor,
        explain: Callable[[BaseException], str],
    ) -> None:
        self.columns = columns
        self._cursor = cursor
        self._explain = explain

    def __iter__(self) -> Iterator[dict[str, Any]]:
        columns = self.columns
        try:
            while batch := self._cursor.fetchmany(500):
                for values in batch:
                    yield dict(zip(columns, values, strict=True))
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise QueryError(self._explain(exc)) from None


# --- migrations: append only; a released step is never edited ---------------------------------


def _m1_initial(db: sqlite_utils.Database) -> None:
    db["outlets"].create(
        {"id": int, "name": str, "aliases": str, "domains": str, "homepage": str},
        pk="id",
        not_null={"name"},
        defaults={"aliases": "[]", "domains": "[]"},
        if_not_exists=True,
    )
    db["feeds"].create(
        {
            "id": int,
            "url": str,
            "outlet_id": int,
            "kind": str,
            "kind_detected": str,
            "title": str,
            "note": str,
            "origin": str,
            "enabled": int,
            "disabled_reason": str,
            "etag": str,
            "last_modified": str,
            "body_hash": str,
            "ttl_minutes": int,
            "consecutive_errors": int,
            "consecutive_hard_errors": int,
            "last_fetch_at": str,
            "last_success_at": str,
            "last_result": str,
            "last_error": str,
            "next_poll_at": str,
            "new_items_rate": float,
            "added_at": str,
        },
        pk="id",
        foreign_keys=[("outlet_id", "outlets", "id")],
        not_null={"url", "outlet_id", "enabled", "consecutive_errors", "consecutive_hard_errors"},
        defaults={
            "kind": "auto",
            "origin": "config",
            "enabled": 1,
            "consecutive_errors": 0,
            "consecutive_hard_errors": 0,
            "new_items_rate": 0.0,
        },
        if_not_exists=True,
    )
    db["fetches"].create(
        {
            "id": int,
            "feed_id": int,
            "url": str,
            "started_at": str,
            "duration_ms": int,
            "http_status": int,
            "bytes": int,
            "result": str,
            "error_kind": str,
            "error_message": str,
            "items_new": int,
            "items_updated": int,
            "items_seen": int,
            "items_linked": int,
        },
        pk="id",
        foreign_keys=[("feed_id", "feeds", "id")],
        not_null={"feed_id", "result"},
        if_not_exists=True,
    )
    db["items"].create(
        {
            "id": int,
            "outlet_id": int,
            "feed_id": int,
            "guid": str,
            "url": str,
            "canonical_url": str,
            "title": str,
            "summary": str,
            "summary_html": str,
            "author": str,
            "published_at": str,
            "first_seen_at": str,
            "last_seen_at": str,
            "updated_at": str,
            "content_hash": str,
            "version": int,
        },
        pk="id",
        foreign_keys=[("outlet_id", "outlets", "id"), ("feed_id", "feeds", "id")],
        not_null={"outlet_id", "feed_id", "title", "first_seen_at", "content_hash"},
        if_not_exists=True,
    )
    db["item_keys"].create(
        {"key": str, "item_id": int},
        pk="key",
        foreign_keys=[("item_id", "items", "id")],
        not_null={"item_id"},
        if_not_exists=True,
    )
    db["item_versions"].create(
        {
            "id": int,
            "item_id": int,
            "version": int,
            "title": str,
            "summary": str,
            "summary_html": str,
            "published_at": str,
            "replaced_at": str,
        },
        pk="id",
        foreign_keys=[("item_id", "items", "id")],
        if_not_exists=True,
    )
    db["sightings"].create(
        {
            "item_id": int,
            "feed_id": int,
            "first_seen_at": str,
            "last_seen_at": str,
            "times_seen": int,
            "content_hash": str,
        },
        pk=("item_id", "feed_id"),
        foreign_keys=[("item_id", "items", "id"), ("feed_id", "feeds", "id")],
        if_not_exists=True,
    )
    db["articles"].create(
        {
            "id": int,
            "location": str,
            "url": str,
            "title": str,
            "published_at": str,
            "text": str,
            "key_terms": str,
            "added_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"location", "title"},
        if_not_exists=True,
    )
    db["article_outlets"].create(
        {"article_id": int, "outlet_id": int, "evidence": str},
        pk=("article_id", "outlet_id"),
        foreign_keys=[("article_id", "articles", "id"), ("outlet_id", "outlets", "id")],
        if_not_exists=True,
    )
    db["article_items"].create(
        {
            "article_id": int,
            "item_id": int,
            "score": float,
            "tier": str,
            "reasons": str,
            "linked_at": str,
            "scored_at": str,
        },
        pk=("article_id", "item_id"),
        foreign_keys=[("article_id", "articles", "id"), ("item_id", "items", "id")],
        if_not_exists=True,
    )
    for table, columns, unique in (
        ("outlets", ["name"], True),
        ("feeds", ["url"], True),
        ("feeds", ["enabled", "next_poll_at"], False),
        ("fetches", ["feed_id", "started_at"], False),
        ("items", ["first_seen_at"], False),
        ("items", ["canonical_url"], False),
        ("items", ["outlet_id", "first_seen_at"], False),
        ("item_keys", ["item_id"], False),
        ("item_versions", ["item_id"], False),
        ("sightings", ["feed_id"], False),
        ("articles", ["location"], True),
        ("article_items", ["item_id"], False),
    ):
        db[table].create_index(columns, unique=unique, if_not_exists=True)
    db["items"].enable_fts(["title", "summary"], create_triggers=True, replace=True)


def _m2_stories(db: sqlite_utils.Database) -> None:
    """Stories group items about the same event; until clustering joins them, one per item."""
    db["stories"].create(
        {
            "id": int,
            "title": str,
            "first_seen_at": str,
            "first_item_id": int,
            "first_outlet_id": int,
        },
        pk="id",
        foreign_keys=[("first_item_id", "items", "id"), ("first_outlet_id", "outlets", "id")],
        if_not_exists=True,
    )
    columns = {c.name for c in db["items"].columns}
    if "story_id" not in columns:
        db.execute("ALTER TABLE items ADD COLUMN story_id INTEGER REFERENCES stories(id)")
    db.execute(
        "INSERT OR IGNORE INTO stories (id, title, first_seen_at, first_item_id, first_outlet_id) "
        "SELECT id, title, first_seen_at, id, outlet_id FROM items WHERE story_id IS NULL"
    )
    db.execute("UPDATE items SET story_id = id WHERE story_id IS NULL")
    db["items"].create_index(["story_id"], if_not_exists=True)


def _m3_relevance_model(db: sqlite_utils.Database) -> None:
    """Articles keep their relevance model; links keep the story part of their score."""
    if "model" not in {c.name for c in db["articles"].columns}:
        db.execute("ALTER TABLE articles ADD COLUMN model TEXT")
    if "story_score" not in {c.name for c in db["article_items"].columns}:
        db.execute("ALTER TABLE article_items ADD COLUMN story_score REAL")


def _m4_query_views(db: sqlite_utils.Database) -> None:
    """Views for the common questions, and the UTC offsets that give daily_coverage local days.

    SQLite has no time-zone database, so ``timezone_spans`` holds the configured zone's UTC
    offsets as spans between its transitions (written from Python's zoneinfo by
    ``Store.sync_timezone``); a view finds a timestamp's offset with one index seek, so a local
    day stays right across DST changes, in plain SQL that sqlite3 and Datasette run as they are.
    Until a tracker with a config opens the database it holds one span: UTC.
    """
    # WITHOUT ROWID (sqlite-utils cannot say it): the table is its starts_at B-tree, so finding
    # a timestamp's span is one seek whatever the query planner's statistics say
    db.execute(
        "CREATE TABLE IF NOT EXISTS timezone_spans (starts_at TEXT PRIMARY KEY, "
        "ends_at TEXT NOT NULL, offset_minutes INTEGER NOT NULL, timezone TEXT NOT NULL) "
        "WITHOUT ROWID"
    )
    db.execute(
        "INSERT OR IGNORE INTO timezone_spans (starts_at, ends_at, offset_minutes, timezone) "
        "VALUES (?, ?, 0, 'UTC')",
        (SPANS_START, SPANS_END),
    )
    # feed_health counts a feed's recent sightings per feed and time
    db["sightings"].create_index(["feed_id", "first_seen_at"], if_not_exists=True)
    # prune finds the stories whose first item it removes
    db["stories"].create_index(["first_item_id"], if_not_exists=True)
    for name, sql in QUERY_VIEWS.items():
        db.create_view(name, sql, replace=True)


#: the open ends of timezone_spans: every stored timestamp falls inside one span
SPANS_START = "0001-01-01T00:00:00Z"
SPANS_END = "9999-12-31T23:59:59Z"

#: when an item was reported: the outlet's published time, or first-seen when the feed gave none
_M4_REPORTED_AT = "coalesce(items.published_at, items.first_seen_at)"

#: the views of migration 4, as released: never edit; a later migration replaces a view
QUERY_VIEWS = {
    "coverage": """
SELECT
  article_items.article_id,
  articles.title AS article,
  items.id AS item_id,
  items.story_id,
  stories.title AS story,
  items.outlet_id,
  outlets.name AS outlet,
  items.first_seen_at,
  items.published_at,
  items.title,
  items.url,
  article_items.score,
  article_items.tier,
  article_items.reasons,
  article_items.linked_at,
  items.summary
FROM article_items
JOIN articles ON articles.id = article_items.article_id
JOIN items ON items.id = article_items.item_id
JOIN outlets ON outlets.id = items.outlet_id
LEFT JOIN stories ON stories.id = items.story_id
""",
    "daily_coverage": f"""
SELECT
  article_id,
  day,
  outlet_id,
  outlets.name AS outlet,
  count(*) AS items,
  sum(tier = 'story') AS story_items,
  min(reported_at) AS first_reported_at,
  (SELECT timezone FROM timezone_spans LIMIT 1) AS timezone
FROM (
  SELECT
    article_items.article_id,
    article_items.tier,
    items.outlet_id,
    {_M4_REPORTED_AT} AS reported_at,
    date(
      {_M4_REPORTED_AT},
      (
        SELECT offset_minutes FROM timezone_spans
        WHERE starts_at <= {_M4_REPORTED_AT} ORDER BY starts_at DESC LIMIT 1
      ) || ' minutes'
    ) AS day
  FROM article_items
  JOIN items ON items.id = article_items.item_id
)
JOIN outlets ON outlets.id = outlet_id
GROUP BY article_id, day, outlet_id
""",
    "first_reports": f"""
WITH per_outlet AS (
  SELECT
    article_items.article_id,
    items.story_id,
    items.outlet_id,
    outlets.name AS outlet,
    min({_M4_REPORTED_AT}) AS reported_at,
    min(items.first_seen_at) AS first_seen_at,
    count(*) AS items
  FROM article_items
  JOIN items ON items.id = article_items.item_id
  JOIN outlets ON outlets.id = items.outlet_id
  GROUP BY article_items.article_id, items.story_id, items.outlet_id
),
placed AS (
  SELECT
    per_outlet.*,
    row_number() OVER by_time AS place,
    -- whole minutes, exact: integer seconds since the epoch, divided as integers
    (strftime('%s', reported_at) - strftime('%s', first_value(reported_at) OVER by_time)) / 60
      AS minutes_behind
  FROM per_outlet
  WINDOW by_time AS (
    PARTITION BY article_id, story_id ORDER BY reported_at, first_seen_at, outlet_id
  )
),
summed AS (
  SELECT
    placed.*,
    lead(outlet) OVER later AS next_outlet,
    lead(minutes_behind) OVER later AS lead_minutes,
    json_group_array(json_object('outlet', outlet, 'minutes_behind', minutes_behind))
      OVER (later ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS followers,
    count(*) OVER story AS outlets,
    sum(items) OVER story AS story_items,
    max(minutes_behind) OVER story AS spread_minutes,
    min(first_seen_at) OVER story AS story_first_seen_at
  FROM placed
  WINDOW
    later AS (PARTITION BY article_id, story_id ORDER BY place),
    story AS (PARTITION BY article_id, story_id)
)
-- window functions instead of a GROUP BY: a WHERE on article_id then reaches article_items' index
SELECT
  summed.article_id,
  summed.story_id,
  stories.title AS story,
  summed.outlet_id AS first_outlet_id,
  summed.outlet AS first_outlet,
  summed.reported_at AS first_reported_at,
  summed.story_first_seen_at AS first_seen_at,
  summed.outlets,
  summed.story_items AS items,
  summed.next_outlet,
  summed.lead_minutes,
  summed.spread_minutes,
  summed.followers
FROM summed
LEFT JOIN stories ON stories.id = summed.story_id
WHERE summed.place = 1
""",
    "feed_health": """
SELECT
  feeds.id AS feed_id,
  outlets.name AS outlet,
  feeds.url,
  CASE
    WHEN NOT feeds.enabled THEN 'disabled'
    WHEN feeds.last_fetch_at IS NULL THEN 'never polled'
    WHEN feeds.last_result = 'error' THEN 'failing'
    ELSE 'ok'
  END AS status,
  feeds.enabled,
  feeds.disabled_reason,
  feeds.last_success_at,
  feeds.last_fetch_at,
  feeds.last_result,
  feeds.consecutive_errors,
  feeds.last_error,
  feeds.next_poll_at,
  (
    SELECT count(*) FROM sightings WHERE sightings.feed_id = feeds.id
    AND sightings.first_seen_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')
  ) AS items_24h,
  (
    SELECT count(*) FROM sightings WHERE sightings.feed_id = feeds.id
    AND sightings.first_seen_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')
  ) AS items_7d,
  (
    SELECT count(*) FROM fetches WHERE fetches.feed_id = feeds.id AND fetches.result = 'error'
    AND fetches.started_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')
  ) AS errors_24h
FROM feeds
JOIN outlets ON outlets.id = feeds.outlet_id
""",
}


def _m5_service(db: sqlite_utils.Database) -> None:
    """The background service: its runs with their heartbeat, its cycles, the digests it wrote."""
    db["service_runs"].create(
        {
            "id": int,
            "pid": int,
            "host": str,
            "version": str,
            "config": str,
            "started_at": str,
            "heartbeat_at": str,
            "heartbeat_every": float,
            "in_flight": int,
            "stopped_at": str,
            "stop_reason": str,
        },
        pk="id",
        not_null={"pid", "started_at"},
        if_not_exists=True,
    )
    db["service_cycles"].create(
        {
            "id": int,
            "run_id": int,
            "started_at": str,
            "finished_at": str,
            "duration_ms": int,
            "feeds_due": int,
            "feeds_polled": int,
            "ok": int,
            "not_modified": int,
            "errors": int,
            "cancelled": int,
            "items_new": int,
            "items_updated": int,
            "items_linked": int,
        },
        pk="id",
        foreign_keys=[("run_id", "service_runs", "id")],
        not_null={"run_id", "started_at"},
        if_not_exists=True,
    )
    db["service_cycles"].create_index(["run_id"], if_not_exists=True)
    db["service_digests"].create(
        {
            "day": str,
            "run_id": int,
            "trigger": str,
            "attempted_at": str,
            "result": str,
            "error": str,
            "attempts": int,
        },
        pk="day",
        foreign_keys=[("run_id", "service_runs", "id")],
        not_null={"result"},
        if_not_exists=True,
    )


def _m6_feed_urls(db: sqlite_utils.Database) -> None:
    """Feed URLs in the one form config.yaml and ``feeds add`` now store (``urls.feed_url``), so
    a feed stored before under another spelling is not taken for a new one and disabled. Where
    two stored feeds share that form, both stay as they are and config sync sorts them out."""
    taken = {row[0] for row in db.execute("SELECT url FROM feeds")}
    for feed_id, url in db.execute("SELECT id, url FROM feeds").fetchall():
        normal = feed_url(url)
        if normal != url and normal not in taken:
            db.execute("UPDATE feeds SET url = ? WHERE id = ?", (normal, feed_id))
            taken.add(normal)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _m1_initial,
    _m2_stories,
    _m3_relevance_model,
    _m4_query_views,
    _m5_service,
    _m6_feed_urls,
]
