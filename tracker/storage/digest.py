"""Reads for the daily digest (tracker/digest). Times are UTC text bounds: [start, end)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .base import StoreBase
from .reported import REPORT_ORDER, REPORTED_AT, local_day
from .rows import (
    DailyActivityRow,
    DailyCoverageRow,
    DigestItemRow,
    FeedHealthRow,
    FirstMoverRow,
    SeenRow,
    StoryListingRow,
    StoryReportRow,
    VersionRow,
)


class DigestMixin(StoreBase):
    def digest_items(self, article_id: int, start: str, end: str) -> list[DigestItemRow]:
        """Items linked to an article and first seen in [start, end), in the order they were
        reported (``storage.reported``), with the analyst's judgement (None: not judged)."""
        rows = self._rows(
            "SELECT items.id AS item_id, items.story_id, items.feed_id, items.title, "
            "coalesce(items.canonical_url, items.url) AS url, items.summary, "
            f"items.first_seen_at, items.published_at, {REPORTED_AT} AS reported_at, "
            "outlets.name AS outlet, "
            "article_items.score, article_items.tier, article_items.reasons, "
            "judgements.label AS judgement FROM items "
            # CROSS JOIN: walk the day's items by first_seen_at, not all of an article's links
            "CROSS JOIN article_items ON article_items.item_id = items.id "
            "AND article_items.article_id = ? "
            "JOIN outlets ON outlets.id = items.outlet_id "
            "LEFT JOIN judgements ON judgements.article_id = article_items.article_id "
            "AND judgements.item_id = items.id "
            "WHERE items.first_seen_at >= ? AND items.first_seen_at < ? "
            f"ORDER BY {REPORT_ORDER}",
            (article_id, start, end),
        )
        return [
            DigestItemRow(**{**row, "reasons": tuple(json.loads(row["reasons"] or "[]"))})
            for row in rows
        ]

    def digest_story_reports(
        self, article_id: int, story_ids: Sequence[int], end: str
    ) -> list[StoryReportRow]:
        """The items of these stories linked to the article and first seen before ``end``, in
        the order they were reported: who reported each story first, and which outlets did."""
        rows = self._in_chunks(
            "SELECT items.story_id, items.id AS item_id, outlets.name AS outlet, "
            f"{REPORTED_AT} AS reported_at, items.first_seen_at, "
            "coalesce(items.canonical_url, items.url, '') AS link, items.title FROM items "
            "JOIN article_items ON article_items.item_id = items.id "
            "AND article_items.article_id = ? "
            "JOIN outlets ON outlets.id = items.outlet_id WHERE items.story_id IN ({}) "
            "AND items.first_seen_at < ?",
            story_ids,
            (end,),
            before=(article_id,),
        )
        # chunks are read apart, so they are put in order here
        return sorted((StoryReportRow(**r) for r in rows), key=StoryReportRow.order)

    def digest_story_listings(
        self, article_id: int, story_ids: Sequence[int], end: str
    ) -> list[StoryListingRow]:
        """Where feeds of other outlets listed the stories' linked items before ``end`` (an
        outlet syndicating another's item), earliest first."""
        rows = self._in_chunks(
            "SELECT items.story_id, items.id AS item_id, outlets.name AS outlet, "
            "sightings.first_seen_at AS listed_at FROM items "
            "JOIN article_items ON article_items.item_id = items.id "
            "AND article_items.article_id = ? "
            "JOIN sightings ON sightings.item_id = items.id "
            "JOIN feeds ON feeds.id = sightings.feed_id "
            "JOIN outlets ON outlets.id = feeds.outlet_id WHERE items.story_id IN ({}) "
            "AND feeds.outlet_id != items.outlet_id AND sightings.first_seen_at < ?",
            story_ids,
            (end,),
            before=(article_id,),
        )
        listings = [StoryListingRow(**r) for r in rows]
        return sorted(listings, key=lambda r: (r.listed_at, r.outlet, r.item_id))

    def digest_versions(self, article_id: int, start: str, end: str) -> list[VersionRow]:
        """Every earlier version of the linked items that changed in [start, end).

        Rows are ordered by item and version; ``current_*`` are the item's values now.
        """
        rows = self._rows(
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
        return [VersionRow(**r) for r in rows]

    def digest_timeline(self, article_id: int, start: str, end: str) -> list[SeenRow]:
        """Outlet and first-seen time of each item linked to an article in [start, end)."""
        rows = self._rows(
            "SELECT outlets.name AS outlet, items.first_seen_at, article_items.tier FROM items "
            "CROSS JOIN article_items ON article_items.item_id = items.id "
            "AND article_items.article_id = ? "
            "JOIN outlets ON outlets.id = items.outlet_id "
            "WHERE items.first_seen_at >= ? AND items.first_seen_at < ? "
            "ORDER BY items.first_seen_at",
            (article_id, start, end),
        )
        return [SeenRow(**r) for r in rows]

    def first_movers(
        self, article_id: int, *, tier: str | None = None, before: str | None = None
    ) -> list[FirstMoverRow]:
        """Outlets in the order they first reported items linked to an article (of one tier,
        first seen before a time): each outlet's first item by ``storage.reported``'s order."""
        where = ["article_items.article_id = :article"]
        params: dict[str, str | int] = {"article": article_id}
        if tier is not None:
            where.append("article_items.tier = :tier")
            params["tier"] = tier
        if before is not None:
            where.append("items.first_seen_at < :before")
            params["before"] = before
        rows = self._rows(
            "WITH ranked AS (SELECT outlets.name AS outlet, items.id AS item_id, "
            f"{REPORTED_AT} AS reported_at, items.first_seen_at, "
            f"row_number() OVER (ORDER BY {REPORT_ORDER}) AS place, "
            "count(*) OVER (PARTITION BY items.outlet_id) AS items, "
            "row_number() OVER (PARTITION BY items.outlet_id ORDER BY "
            f"{REPORT_ORDER}) AS nth FROM article_items "
            "JOIN items ON items.id = article_items.item_id "
            f"JOIN outlets ON outlets.id = items.outlet_id WHERE {' AND '.join(where)}) "
            "SELECT outlet, item_id, reported_at, first_seen_at, items FROM ranked "
            "WHERE nth = 1 ORDER BY place",
            params,
        )
        return [FirstMoverRow(**r) for r in rows]

    def digest_feed_health(self, cutoff: str) -> list[FeedHealthRow]:
        """Every feed added by ``cutoff`` with its state as the fetch log shows it then.

        ``errors_in_a_row`` and ``failing_since`` describe the run of failed fetches that ends
        the log at the cut-off, inclusive (0 and NULL when the last fetch succeeded).
        """
        rows = self._rows(
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
        return [FeedHealthRow(**{**r, "enabled": bool(r["enabled"])}) for r in rows]

    def daily_coverage(self, article_id: int) -> list[DailyCoverageRow]:
        """The daily_coverage view for one article: linked items per local day (first seen)
        and outlet, oldest day first, the busiest outlet first."""
        rows = self._rows(
            "SELECT day, outlet, items, story_items, timezone, day_rule FROM daily_coverage "
            "WHERE article_id = ? ORDER BY day, items DESC, outlet",
            (article_id,),
        )
        return [DailyCoverageRow(**r) for r in rows]

    def daily_activity(self) -> list[DailyActivityRow]:
        """Per local day (the rule of daily_coverage): feeds fetched and items first seen."""
        rows = self._rows(
            "SELECT day, sum(fetches) AS fetches, sum(items) AS items FROM ("
            f"SELECT {local_day('fetches.started_at')} AS day, 1 AS fetches, 0 AS items "
            f"FROM fetches UNION ALL SELECT {local_day('items.first_seen_at')}, 0, 1 FROM items"
            ") GROUP BY day ORDER BY day"
        )
        return [DailyActivityRow(**r) for r in rows]

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
