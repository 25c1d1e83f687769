"""Removing a feed or an article, with what only it brought, and nothing another one stored.

Each removal is one transaction. A dry run performs the very same deletes and rolls them back,
so the counts it reports are exactly what the removal would do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import NotFoundError
from .prune import PruneMixin

#: items deleted per statement (each id is bound twice in some of them)
_CHUNK = 2000


class _DryRun(Exception):
    """Raised inside a removal's transaction to roll it back after counting."""


class RemoveMixin(PruneMixin):
    def remove_feed(self, feed_id: int, *, dry_run: bool = False) -> dict[str, int]:
        """Delete a feed, its fetch log and sightings, and the items no other feed carried
        (with their links, versions, keys and the stories they leave empty).

        Items another feed also carried stay, with their links; those stored under this feed
        move to the other feed that saw them first. The outlet stays. Returns rows deleted per
        table, and ``items_kept``: the feed's items that stay because another feed carried them.
        """
        counts: dict[str, int] = {}
        with self._removal(dry_run):
            if self._x("SELECT 1 FROM feeds WHERE id = ?", (feed_id,)).fetchone() is None:
                raise NotFoundError(f"no feed with id {feed_id}")
            only_here = [
                row[0]
                for row in self._x(
                    "SELECT id FROM items WHERE (feed_id = :feed OR id IN "
                    "(SELECT item_id FROM sightings WHERE feed_id = :feed)) AND NOT EXISTS "
                    "(SELECT 1 FROM sightings AS other WHERE other.item_id = items.id "
                    "AND other.feed_id != :feed) ORDER BY id",
                    {"feed": feed_id},
                )
            ]
            counts["items_kept"] = self._x(
                "SELECT count(*) FROM items WHERE (feed_id = :feed OR id IN "
                "(SELECT item_id FROM sightings WHERE feed_id = :feed)) AND EXISTS "
                "(SELECT 1 FROM sightings AS other WHERE other.item_id = items.id "
                "AND other.feed_id != :feed)",
                {"feed": feed_id},
            ).fetchone()[0]
            # an item's alerts go with it (ON DELETE CASCADE); counted here to be reported
            counts["alerts"] = sum(
                self._x(
                    f"SELECT count(*) FROM alerts WHERE item_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchone()[0]
                for chunk in _chunks(only_here)
            )
            for chunk in _chunks(only_here):
                for table, deleted in self._delete_items(chunk).items():
                    counts[table] = counts.get(table, 0) + deleted
            self._x(
                "UPDATE items SET feed_id = (SELECT other.feed_id FROM sightings AS other "
                "WHERE other.item_id = items.id AND other.feed_id != :feed "
                "ORDER BY other.first_seen_at, other.feed_id LIMIT 1) WHERE feed_id = :feed",
                {"feed": feed_id},
            )
            counts["sightings"] = (
                counts.get("sightings", 0)
                + self._x("DELETE FROM sightings WHERE feed_id = ?", (feed_id,)).rowcount
            )
            counts["fetches"] = self._x(
                "DELETE FROM fetches WHERE feed_id = ?", (feed_id,)
            ).rowcount
            counts["feeds"] = self._x("DELETE FROM feeds WHERE id = ?", (feed_id,)).rowcount
        return {table: counts.get(table, 0) for table in FEED_REMOVAL_COUNTS}

    def remove_article(self, article_id: int, *, dry_run: bool = False) -> dict[str, int]:
        """Delete an article, its links to items and the outlets it cites; every item stays."""
        counts: dict[str, int] = {}
        with self._removal(dry_run):
            if self._x("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone() is None:
                raise NotFoundError(f"no article with id {article_id} (see 'tracker article list')")
            for table in ARTICLE_REMOVAL_COUNTS[:-1]:
                counts[table] = self._x(
                    f"DELETE FROM {table} WHERE article_id = ?", (article_id,)
                ).rowcount
            counts["articles"] = self._x(
                "DELETE FROM articles WHERE id = ?", (article_id,)
            ).rowcount
        return counts

    @contextmanager
    def _removal(self, dry_run: bool) -> Iterator[None]:
        try:
            with self.transaction():
                yield
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]


#: what remove_feed reports, in this order
FEED_REMOVAL_COUNTS = (
    "feeds",
    "items",
    "items_kept",
    "article_items",
    "alerts",
    "item_versions",
    "item_keys",
    "sightings",
    "stories",
    "fetches",
)
#: what remove_article reports, in this order (the article's own row last)
ARTICLE_REMOVAL_COUNTS = ("article_items", "article_outlets", "alerts", "articles")
