"""Items, their keys, versions and sightings: the stored facts a poll's decisions need, and
the writing of those decisions (``tracker.update.decide``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from ..errors import NotFoundError
from ..models import CleanItem, ItemIntents, Known, StoredItem
from .base import StoreBase
from .rows import to_db

#: SQLite's default limit on host parameters is 32,766; lists are bound in pieces of this size
CHUNK = 500


def chunks(values: Sequence[object], size: int = CHUNK) -> Iterator[Sequence[object]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


class ItemsMixin(StoreBase):
    def known_items(self, feed_id: int, keys: Iterable[str]) -> Known:
        """The stored items the keys name, with what this feed last said about each.

        Indexed lookups of the poll's own keys only: the cost follows the poll, not the store.
        """
        by_key: dict[str, int] = {}
        for chunk in chunks(sorted(set(keys))):
            by_key.update(
                self._x(f"SELECT key, item_id FROM item_keys WHERE key IN ({marks(chunk)})", chunk)
            )
        ids = sorted(set(by_key.values()))
        rows: dict[int, tuple[int, str]] = {}
        keys_of: dict[int, set[str]] = {i: set() for i in ids}
        said: dict[int, str] = {}
        for chunk in chunks(ids):
            m = marks(chunk)
            for item_id, outlet_id, digest in self._x(
                f"SELECT id, outlet_id, content_hash FROM items WHERE id IN ({m})", chunk
            ):
                rows[item_id] = (outlet_id, digest)
            for item_id, key in self._x(
                f"SELECT item_id, key FROM item_keys WHERE item_id IN ({m})", chunk
            ):
                keys_of[item_id].add(key)
            said.update(
                self._x(
                    f"SELECT item_id, content_hash FROM sightings WHERE feed_id = ? "
                    f"AND item_id IN ({m})",
                    [feed_id, *chunk],
                )
            )
        items = {
            item_id: StoredItem(
                item_id, outlet_id, digest, frozenset(keys_of[item_id]), said.get(item_id)
            )
            for item_id, (outlet_id, digest) in rows.items()
        }
        return Known({k: v for k, v in by_key.items() if v in items}, items)

    def resent(self, feed_id: int, raw_hashes: Iterable[str]) -> set[str]:
        """Which of a body's raw item hashes this feed sent before, for an item still stored."""
        found: set[str] = set()
        for chunk in chunks(sorted(set(raw_hashes))):
            found.update(
                row[0]
                for row in self._x(
                    f"SELECT raw_hash FROM sightings WHERE feed_id = ? AND raw_hash IN "
                    f"({marks(chunk)})",
                    [feed_id, *chunk],
                )
            )
        return found

    def write_items(
        self, feed_id: int, outlet_id: int, intents: ItemIntents, now: datetime
    ) -> list[int]:
        """Write a poll's item intents (inside the caller's transaction); returns the ids of the
        new items, in the order of ``intents.new``."""
        stamp = to_db(now)
        new_ids = [self._insert_item(n.item, feed_id, outlet_id, stamp) for n in intents.new]
        for change in intents.changed:
            self._replace_item(change.item_id, change.item, stamp)
        keys = [
            (key, new_id) for n, new_id in zip(intents.new, new_ids, strict=True) for key in n.keys
        ]
        keys.extend(intents.keys)
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO item_keys (key, item_id) VALUES (?, ?)", keys
        )
        sightings = [
            (new_id, feed_id, stamp, stamp, n.item.content_hash, n.raw_hash)
            for n, new_id in zip(intents.new, new_ids, strict=True)
        ]
        sightings += [
            (c.item_id, feed_id, stamp, stamp, c.item.content_hash, c.raw_hash)
            for c in intents.changed
        ]
        sightings += [
            (s.item_id, feed_id, stamp, stamp, s.content_hash, s.raw_hash) for s in intents.seen
        ]
        self.db.conn.executemany(
            "INSERT INTO sightings (item_id, feed_id, first_seen_at, last_seen_at, times_seen, "
            "content_hash, raw_hash) VALUES (?, ?, ?, ?, 1, ?, ?) "
            "ON CONFLICT(item_id, feed_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, "
            "times_seen = times_seen + 1, content_hash = excluded.content_hash, "
            "raw_hash = coalesce(excluded.raw_hash, raw_hash)",
            sightings,
        )
        old = [c.item_id for c in intents.changed] + [s.item_id for s in intents.seen]
        self.db.conn.executemany(
            "UPDATE items SET last_seen_at = ? WHERE id = ?", [(stamp, i) for i in old]
        )
        return new_ids

    def resight(self, feed_id: int, raw_hashes: Sequence[str], now: datetime) -> int:
        """Mark the items behind raw hashes this feed sent again as seen now; returns how many
        sightings that touched (fewer than asked when an item was pruned meanwhile)."""
        stamp, touched = to_db(now), 0
        for chunk in chunks(sorted(set(raw_hashes))):
            params = [feed_id, *chunk]
            where = f"feed_id = ? AND raw_hash IN ({marks(chunk)})"
            self._x(
                f"UPDATE items SET last_seen_at = ? WHERE id IN "
                f"(SELECT item_id FROM sightings WHERE {where})",
                [stamp, *params],
            )
            touched += self._x(
                f"UPDATE sightings SET last_seen_at = ?, times_seen = times_seen + 1 WHERE {where}",
                [stamp, *params],
            ).rowcount
        return touched

    def _insert_item(self, item: CleanItem, feed_id: int, outlet_id: int, stamp: str) -> int:
        # every item is a story of its own until clustering joins it to another; the story comes
        # first so the item is written once (a second write would index its text again)
        story = self._x(
            "INSERT INTO stories (title, first_seen_at, first_outlet_id) VALUES (?, ?, ?)",
            (item.title, stamp, outlet_id),
        ).lastrowid
        cursor = self._x(
            "INSERT INTO items (outlet_id, feed_id, guid, url, canonical_url, title, summary, "
            "summary_html, author, published_at, first_seen_at, last_seen_at, content_hash, "
            "version, story_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
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
                story,
            ),
        )
        item_id = int(cursor.lastrowid or 0)
        self._x("UPDATE stories SET first_item_id = ? WHERE id = ?", (item_id, story))
        return item_id

    def _replace_item(self, item_id: int, item: CleanItem, stamp: str) -> None:
        """The item's new wording; the old one is kept in item_versions."""
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

    def item_count(self) -> int:
        return int(self._x("SELECT count(*) FROM items").fetchone()[0])

    def item_text(self, item_id: int) -> tuple[str, str]:
        row = self._x("SELECT title, summary FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no item with id {item_id}")
        return row[0], row[1] or ""

    def newest_item_id(self) -> int:
        return int(self._x("SELECT coalesce(max(id), 0) FROM items").fetchone()[0])

    def newest_items(self, limit: int, after: int = 0) -> list[tuple[int, str, str, str, int]]:
        """(id, title, summary, content hash, outlet id) of the newest ``limit`` items with an id
        above ``after``, oldest first: the window relevance models learn from."""
        rows = self._x(
            "SELECT id, title, summary, content_hash, outlet_id FROM items WHERE id > ? "
            "ORDER BY id DESC LIMIT ?",
            (after, limit),
        ).fetchall()
        return [(r[0], r[1], r[2] or "", r[3], r[4]) for r in reversed(rows)]

    def items_up_to(self, high: int, limit: int) -> list[tuple[int, str, str, str]]:
        """(id, title, summary, content hash) of the ``limit`` items with the highest ids up to
        ``high``, highest first."""
        rows = self._x(
            "SELECT id, title, summary, content_hash FROM items WHERE id <= ? "
            "ORDER BY id DESC LIMIT ?",
            (high, limit),
        )
        return [(r[0], r[1], r[2] or "", r[3]) for r in rows]

    def items_for_scoring(self) -> list[tuple[int, str, str]]:
        return [
            (r[0], r[1], r[2] or "")
            for r in self._x("SELECT id, title, summary FROM items ORDER BY id")
        ]

    def duplicate_urls(self) -> int:
        """Canonical URLs stored on more than one item (should be 0)."""
        return int(
            self._x(
                "SELECT count(*) FROM (SELECT canonical_url FROM items "
                "WHERE canonical_url IS NOT NULL GROUP BY canonical_url HAVING count(*) > 1)"
            ).fetchone()[0]
        )

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
        return str(self._x("PRAGMA integrity_check").fetchone()[0])
