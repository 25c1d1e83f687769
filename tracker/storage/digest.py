"""Reads for the daily digest (tracker/digest). Times are UTC text bounds: [start, end)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .base import StoreBase


class DigestMixin(StoreBase):
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
