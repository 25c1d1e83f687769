"""Retention: deleting old items and log rows, and giving the space back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import StorageError
from .base import StoreBase
from .rows import to_db


class PruneMixin(StoreBase):
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
            last, deleted = self._prune_batch({**params, "after": after, "batch": batch})
            if last is None:
                break
            for table, count in deleted.items():
                counts[table] += count
            after = last
            if progress:
                progress(deleted["items"])
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

    def _prune_batch(self, params: dict[str, Any]) -> tuple[int | None, dict[str, int]]:
        """Choose the next batch of prunable items and delete them, in one transaction.

        Chosen inside the transaction that deletes them: a poll's sighting that commits first
        moves an item's last_seen_at past the cutoff, and the item stays; one that commits later
        waits for this transaction (issue 18: ids chosen before it were deleted however recently
        a poll had seen them). Returns the last id looked at (None when none is left) and the
        rows deleted per table.
        """
        try:
            with self.transaction():
                ids = [
                    row[0]
                    for row in self._x(
                        f"SELECT id FROM items WHERE id > :after AND {_PRUNABLE} ORDER BY id "
                        "LIMIT :batch",
                        params,
                    )
                ]
                if not ids:
                    return None, {}
                return ids[-1], self._delete_items(ids)
        except sqlite3.IntegrityError as exc:
            raise StorageError(
                f"prune: items are still referenced from another table ({exc}); nothing in "
                "this batch was deleted"
            ) from None

    def _delete_items(self, ids: list[int]) -> dict[str, int]:
        """Delete items with their links, versions, keys and sightings, and the stories they
        leave empty; rows deleted per table. Runs inside the caller's transaction."""
        marks = ",".join("?" * len(ids))
        counts = {}
        stories = [
            row[0]
            for row in self._x(
                f"SELECT id FROM stories WHERE first_item_id IN ({marks}) UNION "
                f"SELECT story_id FROM items WHERE id IN ({marks})",
                ids * 2,
            )
        ]
        for table in ("article_items", "item_versions", "item_keys", "sightings"):
            counts[table] = self._x(f"DELETE FROM {table} WHERE item_id IN ({marks})", ids).rowcount
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
