"""Items, their keys, versions and sightings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..errors import NotFoundError
from ..models import CleanItem, FeedState
from .base import StoreBase
from .rows import ItemOutcome, to_db


class ItemsMixin(StoreBase):
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
