"""The only module that talks to SQLite.

Schema changes are numbered migrations (``PRAGMA user_version``). The connection runs in autocommit
mode and every write the pipeline makes happens inside ``Store.transaction()`` (``BEGIN
IMMEDIATE`` … ``COMMIT``), one per polled feed, so a killed process leaves either all of a feed's
poll or none of it. Inside a transaction only plain ``execute`` is used: sqlite-utils' write helpers
commit on their own and would split it. Tables, views and FTS are created the sqlite-utils way so
``sqlite-utils`` and Datasette understand the database.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import NotFoundError, StorageError
from .identity import accepts_match
from .models import ArticleProfile, CleanItem, FeedResult, FeedSource, FeedState, Outlet, Relevance

BUSY_TIMEOUT_MS = 10_000
APPLICATION_ID = 0x54524B31  # "TRK1": tells a tracker database from any other SQLite file


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


class Store:
    def __init__(self, db: sqlite_utils.Database, path: Path | None) -> None:
        self.db = db
        self.path = path
        self._lock = threading.RLock()

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
        self.db.conn.close()

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
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
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
        return self.db.conn.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self._lock, self._storage_errors():
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
            marks = ",".join("?" * len(urls)) or "NULL"
            self._x(
                f"UPDATE feeds SET enabled = 0, disabled_reason = 'removed from config' "
                f"WHERE origin = 'config' AND enabled = 1 AND url NOT IN ({marks})",
                urls,
            )

    def add_feed(self, feed: FeedSource, now: datetime, origin: str = "cli") -> int:
        with self.transaction():
            return self._upsert_feed(feed, origin, now)

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
                return known[key] if accepts_match(key, item.keys, existing) else None
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
            "INSERT INTO article_items (article_id, item_id, score, tier, reasons, linked_at, "
            "scored_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(article_id, item_id) DO UPDATE "
            "SET score = excluded.score, tier = excluded.tier, reasons = excluded.reasons, "
            "scored_at = excluded.scored_at",
            (
                article_id,
                item_id,
                round(relevance.score, 4),
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
        )

    def article_profiles(
        self,
        threshold: float,
        story_threshold: float,
        overrides: Callable[[str], dict[str, Any]] | None = None,
    ) -> list[ArticleProfile]:
        profiles = []
        for a in self.articles():
            extra = overrides(a.location) if overrides else {}
            profiles.append(
                ArticleProfile(
                    id=a.id,
                    title=a.title,
                    terms=a.key_terms,
                    threshold=extra.get("threshold") or threshold,
                    story_threshold=extra.get("story_threshold") or story_threshold,
                    include_terms=tuple(extra.get("include_terms", ())),
                    exclude_terms=tuple(extra.get("exclude_terms", ())),
                )
            )
        return profiles

    # --- reading -------------------------------------------------------------------------------

    def coverage(
        self, article_id: int, *, limit: int | None = None, tier: str | None = None
    ) -> list[dict[str, Any]]:
        """Items linked to an article, newest first."""
        self.article(article_id)
        sql = (
            "SELECT items.id AS item_id, outlets.name AS outlet, items.first_seen_at, "
            "items.published_at, items.title, items.url, items.summary, article_items.score, "
            "article_items.tier, article_items.reasons FROM article_items "
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

    def items_for_scoring(self) -> list[tuple[int, str, str]]:
        return [tuple(r) for r in self._x("SELECT id, title, summary FROM items ORDER BY id")]

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


_DAMAGED = (
    "the file was left untouched: restore a backup, or recover what can be read with "
    "'sqlite3 FILE .recover', before running the tracker on it again"
)


def _environmental(exc: sqlite3.Error) -> bool:
    """Locked, full, read-only, I/O or damaged, as opposed to a bug in the tracker's SQL."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


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


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1_initial, _m2_stories]
