"""The schema: numbered migrations (``PRAGMA user_version``), append only; the SQL of the query
views they create, as each migration released it, is in ``views``.

Tables, views and FTS are created the sqlite-utils way so ``sqlite-utils`` and Datasette
understand the database.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from ..urls import feed_url
from .views import QUERY_VIEWS, QUERY_VIEWS_7, QUERY_VIEWS_13, SPANS_END, SPANS_START

# --- migrations: append only; a released step is never edited ---------------------------------


def _m1_initial(db: sqlite_utils.Database) -> None:
    db.table("outlets").create(
        {"id": int, "name": str, "aliases": str, "domains": str, "homepage": str},
        pk="id",
        not_null={"name"},
        defaults={"aliases": "[]", "domains": "[]"},
        if_not_exists=True,
    )
    db.table("feeds").create(
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
    db.table("fetches").create(
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
    db.table("items").create(
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
    db.table("item_keys").create(
        {"key": str, "item_id": int},
        pk="key",
        foreign_keys=[("item_id", "items", "id")],
        not_null={"item_id"},
        if_not_exists=True,
    )
    db.table("item_versions").create(
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
    db.table("sightings").create(
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
    db.table("articles").create(
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
    db.table("article_outlets").create(
        {"article_id": int, "outlet_id": int, "evidence": str},
        pk=("article_id", "outlet_id"),
        foreign_keys=[("article_id", "articles", "id"), ("outlet_id", "outlets", "id")],
        if_not_exists=True,
    )
    db.table("article_items").create(
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
        db.table(table).create_index(columns, unique=unique, if_not_exists=True)
    db.table("items").enable_fts(["title", "summary"], create_triggers=True, replace=True)


def _m2_stories(db: sqlite_utils.Database) -> None:
    """Stories group items about the same event; until clustering joins them, one per item."""
    db.table("stories").create(
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
    db.table("items").create_index(["story_id"], if_not_exists=True)


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
    db.table("sightings").create_index(["feed_id", "first_seen_at"], if_not_exists=True)
    # prune finds the stories whose first item it removes
    db.table("stories").create_index(["first_item_id"], if_not_exists=True)
    for name, sql in QUERY_VIEWS.items():
        db.create_view(name, sql, replace=True)


def _m5_service(db: sqlite_utils.Database) -> None:
    """The background service: its runs with their heartbeat, its cycles, the digests it wrote."""
    db.table("service_runs").create(
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
    db.table("service_cycles").create(
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
    db.table("service_cycles").create_index(["run_id"], if_not_exists=True)
    db.table("service_digests").create(
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


def _m7_raw_item_hashes(db: sqlite_utils.Database) -> None:
    """What each feed last sent for an item, byte for byte (a hash of its raw element), so an
    item a feed sends again unchanged is recognised without being parsed."""
    if "raw_hash" not in {c.name for c in db["sightings"].columns}:
        db.execute("ALTER TABLE sightings ADD COLUMN raw_hash TEXT")
    db.table("sightings").create_index(["feed_id", "raw_hash"], if_not_exists=True)


def _m8_guid_keys_by_outlet_id(db: sqlite_utils.Database) -> None:
    """Guid keys scoped to the outlet's id (``guid:<id>:<guid>``) instead of its name, so an
    outlet renamed in config.yaml keeps its items' identity. Rewritten through a temporary
    prefix, as an outlet may be named like another's id; longest names first, as a name may
    hold a colon and start like another."""
    outlets = db.execute("SELECT id, name FROM outlets").fetchall()
    for outlet_id, name in sorted(outlets, key=lambda o: -len(o[1])):
        old = f"guid:{name.casefold()}:"
        db.execute(
            "UPDATE OR IGNORE item_keys SET key = ? || substr(key, ?) WHERE substr(key, 1, ?) = ?",
            (f"guid-{outlet_id}:", len(old) + 1, len(old), old),
        )
    db.execute(
        "UPDATE OR IGNORE item_keys SET key = 'guid:' || substr(key, 6) WHERE key LIKE 'guid-%'"
    )


def _m9_index_only_text_changes(db: sqlite_utils.Database) -> None:
    """The full-text index is rewritten when an item's title or summary changes, not at every
    update of the row: marking items seen, or moving them to a story, re-indexed their text."""
    db.execute("DROP TRIGGER IF EXISTS items_au")
    db.execute(
        "CREATE TRIGGER items_au AFTER UPDATE OF title, summary ON items BEGIN "
        "INSERT INTO items_fts (items_fts, rowid, title, summary) "
        "VALUES ('delete', old.rowid, old.title, old.summary); "
        "INSERT INTO items_fts (rowid, title, summary) VALUES (new.rowid, new.title, new.summary); "
        "END"
    )


def _m10_rescore_cursor(db: sqlite_utils.Database) -> None:
    """Where an article's rescore has got to: stored items are rescored newest first, a chunk at
    a time between polls, after its model changed (NULL: nothing left to rescore)."""
    if "rescore_cursor" not in {c.name for c in db["articles"].columns}:
        db.execute("ALTER TABLE articles ADD COLUMN rescore_cursor INTEGER")


def _m11_alerts(db: sqlite_utils.Database) -> None:
    """Alerts: one row per item, article and target, so each is sent once, and one that failed
    is retried. Rows go with their item or article (ON DELETE CASCADE: prune and remove need
    not know of them). A target is kept as a hash of its URL and the URL with its secrets
    masked: the URL itself may hold a token or a password."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY,
  article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
  target TEXT NOT NULL,
  target_url TEXT NOT NULL,
  reason TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  queued_at TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_attempt_at TEXT,
  last_error TEXT,
  claimed_until TEXT,
  sent_at TEXT,
  UNIQUE (article_id, item_id, target)
)"""
    )
    db.table("alerts").create_index(["status", "queued_at"], if_not_exists=True)
    # deleting an item looks its alerts up by item_id
    db.table("alerts").create_index(["item_id"], if_not_exists=True)


def _m12_one_rule_per_question(db: sqlite_utils.Database) -> None:
    """The views answer as every other output does (``storage.reported``): a day's count takes
    each item on the local day it was first seen (daily_coverage counted the published day, so
    its days disagreed with the digest's), and who reported first goes by the published time
    kept no later than first-seen, then first-seen, then the outlet's name (first_reports broke
    ties by outlet id). ``coverage`` gains ``reported_at``; ``daily_coverage`` gains
    ``first_seen_at`` and ``day_rule``, which says how its days are counted."""
    for name, sql in QUERY_VIEWS_7.items():
        db.create_view(name, sql, replace=True)


def _m13_judgements(db: sqlite_utils.Database) -> None:
    """The analyst's judgements (``tracker mark``): an item marked story, related or unrelated
    for an article, one per article and item, which the scorer's verdict never overrides
    (``storage.judgements``). Rows go with their item or article (ON DELETE CASCADE: prune and
    remove need not know of them). The ``coverage`` view gains ``judgement`` and
    ``judgement_note``."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS judgements (
  article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
  label TEXT NOT NULL CHECK (label IN ('story', 'related', 'unrelated')),
  judged_at TEXT NOT NULL,
  note TEXT,
  PRIMARY KEY (article_id, item_id)
)"""
    )
    # deleting an item looks its judgements up by item_id
    db.table("judgements").create_index(["item_id"], if_not_exists=True)
    db.create_view("coverage", QUERY_VIEWS_13["coverage"], replace=True)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _m1_initial,
    _m2_stories,
    _m3_relevance_model,
    _m4_query_views,
    _m5_service,
    _m6_feed_urls,
    _m7_raw_item_hashes,
    _m8_guid_keys_by_outlet_id,
    _m9_index_only_text_changes,
    _m10_rescore_cursor,
    _m11_alerts,
    _m12_one_rule_per_question,
    _m13_judgements,
]
