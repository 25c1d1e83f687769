"""The database: migrations, refusal of foreign files, and docs/schema.md matching the schema."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tracker.errors import StorageError
from tracker.storage import Store
from tracker.storage.schema import MIGRATIONS

SCHEMA_DOC = Path(__file__).parent.parent / "docs" / "schema.md"


def test_fresh_database_is_at_the_latest_schema(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "t.db", create=True)
    assert store.schema_version == len(MIGRATIONS)
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.integrity_check() == "ok"
    store.close()
    again = Store.open(tmp_path / "t.db")
    assert again.schema_version == len(MIGRATIONS)


def test_missing_database_without_create_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="tracker init"):
        Store.open(tmp_path / "none.db")


def test_other_sqlite_files_are_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="not a tracker database"):
        Store.open(path)
    assert path.read_bytes() == before


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError):
        Store.open(path)
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "t.db", create=True)
    store.db.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    store.close()
    with pytest.raises(StorageError, match="newer than this tracker"):
        Store.open(tmp_path / "t.db")


def test_fts_works_the_sqlite_utils_way(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "t.db", create=True)
    assert store.db["items"].detect_fts() == "items_fts"


def documented() -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    current = None
    for line in SCHEMA_DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `(\w+)`", line)
        if heading:
            current = heading.group(1)
            tables[current] = set()
        elif current and line.startswith("| `"):
            cell = line.split("|")[1]
            tables[current] |= set(re.findall(r"`(\w+)`", cell))
    return tables


def test_schema_doc_lists_every_table_and_column() -> None:
    store = Store.memory()
    docs = documented()
    for table in store.db.table_names():
        if table.startswith("items_fts"):
            continue
        assert table in docs, f"table {table} missing from docs/schema.md"
        columns = {c.name for c in store.db[table].columns}
        assert columns == docs[table], f"{table}: columns differ from docs/schema.md"
    for view in store.db.view_names():
        assert view in docs, f"view {view} missing from docs/schema.md"


def test_schema_doc_example_queries_run() -> None:
    store = Store.memory()
    queries = re.findall(r"```sql\n(.*?)```", SCHEMA_DOC.read_text(encoding="utf-8"), re.S)
    assert len(queries) >= 4
    for sql in queries:
        store.db.execute(sql).fetchall()


def test_upgrade_from_schema_1_gives_every_item_a_story(tmp_path: Path) -> None:
    import sqlite_utils

    from tracker.storage import APPLICATION_ID
    from tracker.storage.schema import _m1_initial

    db = sqlite_utils.Database(tmp_path / "old.db")
    _m1_initial(db)
    db.execute("INSERT INTO outlets (id, name) VALUES (1, 'The Guardian')")
    db.execute("INSERT INTO feeds (id, url, outlet_id) VALUES (1, 'https://x/rss', 1)")
    db.execute(
        "INSERT INTO items (id, outlet_id, feed_id, title, first_seen_at, content_hash) "
        "VALUES (7, 1, 1, 'Old item', '2025-08-19T10:00:00Z', 'h')"
    )
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 1")
    db.conn.commit()
    db.close()
    store = Store.open(tmp_path / "old.db")
    assert store.schema_version == len(MIGRATIONS)
    row = store.db.execute(
        "SELECT items.story_id, stories.title, stories.first_outlet_id FROM items "
        "JOIN stories ON stories.id = items.story_id WHERE items.id = 7"
    ).fetchone()
    assert row == (7, "Old item", 1)


# --- querying: views and their documentation ------------------------------------------------------


def test_schema_doc_lists_every_view_column() -> None:
    store = Store.memory()
    docs = documented()
    assert {"coverage", "daily_coverage", "first_reports", "feed_health"} <= set(
        store.db.view_names()
    )
    for view in store.db.view_names():
        columns = {c.name for c in store.db[view].columns}
        assert columns == docs[view], f"view {view}: columns differ from docs/schema.md"


def test_views_are_created_by_their_own_migration_on_an_older_database(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "t.db", create=True)
    for view in store.db.view_names():
        store.db.execute(f"DROP VIEW {view}")
    store.db.execute("PRAGMA user_version = 2")
    store.close()
    again = Store.open(tmp_path / "t.db")
    assert set(again.db.view_names()) >= {"coverage", "daily_coverage", "first_reports"}
    assert again.timezone() == "UTC"


def test_upgrade_stores_feed_urls_in_the_form_config_sync_looks_for(tmp_path: Path) -> None:
    """Feeds stored before URLs were normalised keep their id (and items) after an upgrade,
    instead of being disabled and added again under the new spelling."""
    from datetime import UTC, datetime

    from tracker.models import FeedSource
    from tracker.urls import feed_url

    now = datetime(2025, 8, 19, tzinfo=UTC)
    store = Store.open(tmp_path / "t.db", create=True)
    store.sync_config_feeds(
        [
            FeedSource(url="https://a.example/rss", outlet="A"),
            FeedSource(url="https://b.example/rss", outlet="B"),
        ],
        now,
    )
    with store.transaction():
        # as schema 5 stored them: spelled as typed; the second one collides once normalised
        store.db.execute("UPDATE feeds SET url = 'HTTPS://A.example:443/rss#top' WHERE id = 1")
        store.db.execute(
            "INSERT INTO feeds (url, outlet_id, enabled, consecutive_errors, "
            "consecutive_hard_errors) VALUES ('https://B.example/rss', 2, 1, 0, 0)"
        )
    store.db.conn.execute("PRAGMA user_version = 5")
    store.close()
    upgraded = Store.open(tmp_path / "t.db")
    urls = dict(upgraded.db.execute("SELECT id, url FROM feeds ORDER BY id").fetchall())
    assert urls == {
        1: "https://a.example/rss",
        2: "https://b.example/rss",
        3: "https://B.example/rss",
    }
    upgraded.sync_config_feeds([FeedSource(url=feed_url("https://A.example/rss"), outlet="A")], now)
    assert upgraded.db.execute("SELECT id FROM feeds WHERE enabled = 1").fetchall() == [(1,)]
    upgraded.close()


def test_upgrade_scopes_guid_keys_by_outlet_id(tmp_path: Path) -> None:
    """Guid keys stored under the outlet's name (schema 7) are rewritten under its id, even
    where a name holds a colon, starts like another, or is another outlet's id."""
    store = Store.open(tmp_path / "t.db", create=True)
    names = ["Wire", "Wire:World", "2"]
    for name in names:
        store.db.execute("INSERT INTO outlets (name) VALUES (?)", (name,))
    ids = {name: store.outlet_id(name) for name in names}
    store.db.execute(
        "INSERT INTO feeds (url, outlet_id, kind, origin, enabled) VALUES ('u', ?, 'auto', 'x', 1)",
        (ids["Wire"],),
    )
    old = {"guid:wire:a:1": "Wire", "guid:wire:world:b": "Wire:World", "guid:2:c": "2"}
    for n, key in enumerate(old, start=1):
        store.db.execute(
            "INSERT INTO items (id, outlet_id, feed_id, title, first_seen_at, content_hash) "
            "VALUES (?, 1, 1, 't', 'x', 'h')",
            (n,),
        )
        store.db.execute("INSERT INTO item_keys (key, item_id) VALUES (?, ?)", (key, n))
    store.db.execute("PRAGMA user_version = 7")
    store.close()
    keys = {r[0] for r in Store.open(tmp_path / "t.db").db.execute("SELECT key FROM item_keys")}
    assert keys == {
        f"guid:{ids['Wire']}:a:1",
        f"guid:{ids['Wire:World']}:b",
        f"guid:{ids['2']}:c",
    }
