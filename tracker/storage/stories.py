"""Stories: groups of items about one event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .base import StoreBase
from .rows import ClusterRow, to_db


class StoriesMixin(StoreBase):
    def items_for_clustering(self, since: datetime) -> list[ClusterRow]:
        """Items first seen since a time, oldest first, with their story and outlet.

        The order does not depend on which feed of a cycle was stored first, so clustering
        gives the same stories for the same items.
        """
        rows = self._rows(
            "SELECT id, story_id, outlet_id, title, summary, first_seen_at, "
            "coalesce(published_at, first_seen_at) AS happened_at FROM items "
            # by first-seen alone, so the index serves it: a published time is never later
            # than first-seen (normalising clamps it), so nothing published since is left out
            "WHERE first_seen_at >= :since "
            "ORDER BY first_seen_at, happened_at, canonical_url, id",
            {"since": to_db(since)},
        )
        return [
            ClusterRow(
                **{
                    **r,
                    "first_seen_at": datetime.fromisoformat(r["first_seen_at"]),
                    "happened_at": datetime.fromisoformat(r["happened_at"]),
                }
            )
            for r in rows
        ]

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
