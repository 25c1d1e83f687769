"""Outlets and feeds: what to poll, and each feed's state after a poll."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any

from ..errors import ConflictError, NotFoundError
from ..models import FeedResult, FeedRow, FeedSource, FeedState, FeedUpdate, Outlet
from .base import StoreBase
from .rows import from_db, to_db


class FeedsMixin(StoreBase):
    def sync_outlets(self, outlets: Iterable[Outlet]) -> None:
        with self.transaction():
            for o in outlets:
                self._x(
                    "INSERT INTO outlets (name, aliases, domains, homepage) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET aliases = excluded.aliases, "
                    "domains = excluded.domains, homepage = excluded.homepage",
                    (o.name, json.dumps(o.aliases), json.dumps(o.domains), o.homepage),
                )

    def feed_owners(self) -> dict[str, str]:
        """Every stored feed URL with its outlet's name."""
        return dict(
            self._x(
                "SELECT feeds.url, outlets.name FROM feeds JOIN outlets ON outlets.id = outlet_id"
            )
        )

    def rename_outlet(self, old: str, new: str) -> bool:
        """Give an outlet a new name (its id, feeds and items stay); False when the new name is
        another outlet's already."""
        with self.transaction():
            taken = self._x("SELECT 1 FROM outlets WHERE name = ? COLLATE NOCASE", (new,))
            if taken.fetchone():
                return False
            self._x("UPDATE outlets SET name = ? WHERE name = ?", (new, old))
        return True

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

    def outlet_names(self) -> list[str]:
        """Every name and alias of every stored outlet."""
        names: list[str] = []
        for outlet in self.outlets():
            names.extend((outlet.name, *outlet.aliases))
        return names

    def _outlet_id(self, name: str, homepage: str | None = None) -> int:
        """The outlet of that name, created (with ``homepage``) when there is none."""
        row = self._x("SELECT id FROM outlets WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        if row is None:
            self._x("INSERT INTO outlets (name, homepage) VALUES (?, ?)", (name, homepage))
            row = self._x("SELECT id FROM outlets WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def sync_config_feeds(self, feeds: Iterable[FeedSource], now: datetime) -> None:
        """Make the stored config feeds match config.yaml; feeds dropped from it are disabled."""
        feeds = list(feeds)
        with self.transaction():
            for feed in feeds:
                self._upsert_feed(feed, "config", now)
            urls = [f.url for f in feeds]
            # an empty list disables them all (SQLite takes "NOT IN ()"; "NOT IN (NULL)" is
            # never true, so no outlet left in the file disabled nothing)
            marks = ",".join("?" * len(urls))
            self._x(
                f"UPDATE feeds SET enabled = 0, disabled_reason = 'removed from config' "
                f"WHERE origin = 'config' AND enabled = 1 AND url NOT IN ({marks})",
                urls,
            )

    def add_feed(
        self, feed: FeedSource, now: datetime, origin: str = "cli", homepage: str | None = None
    ) -> tuple[int, bool]:
        """Add a feed: (id, True), or (id, False) when its outlet already has that URL.

        A feed of another outlet is refused with ConflictError, not moved: its stored items
        would keep the old outlet. (Config sync, where the file decides, may move feeds.) An
        outlet created for it gets ``homepage``; an existing outlet keeps its own.
        """
        with self.transaction():
            existing = self._x(
                "SELECT feeds.id, outlets.name FROM feeds "
                "JOIN outlets ON outlets.id = feeds.outlet_id WHERE feeds.url = ?",
                (feed.url,),
            ).fetchone()
            if existing is None:
                self._outlet_id(feed.outlet, homepage)
                return self._upsert_feed(feed, origin, now), True
            feed_id, outlet = int(existing[0]), existing[1]
            if outlet.casefold() != feed.outlet.casefold():
                raise ConflictError(
                    f"feed {feed_id} already exists, for {outlet}, not {feed.outlet}: {feed.url}"
                )
            return feed_id, False

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
        """Enable a feed (due at once) or disable it by hand (no next poll; the reason says
        who stopped it)."""
        with self.transaction():
            cursor = self._x(
                "UPDATE feeds SET enabled = ?, disabled_reason = ?, consecutive_errors = 0, "
                "consecutive_hard_errors = 0, next_poll_at = ? WHERE id = ?",
                (
                    int(enabled),
                    None if enabled else DISABLED_BY_HAND,
                    to_db(now) if enabled else None,
                    feed_id,
                ),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"no feed with id {feed_id}")

    def feeds(self) -> list[FeedRow]:
        """Every feed with its state, its outlet's name and the items it listed, by outlet."""
        rows = self._rows(
            f"SELECT {_FEED_COLUMNS}, outlets.name AS outlet, "
            "(SELECT count(*) FROM sightings WHERE sightings.feed_id = feeds.id) AS items "
            "FROM feeds JOIN outlets ON outlets.id = feeds.outlet_id "
            "ORDER BY outlets.name, feeds.id"
        )
        return [FeedRow(**{**r, "enabled": bool(r["enabled"])}) for r in rows]

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

    def save_feed_state(self, update: FeedUpdate) -> None:
        """Write a feed's state after a poll, as the update decider left it."""
        self._x(
            "UPDATE feeds SET etag = ?, last_modified = ?, body_hash = ?, ttl_minutes = ?, "
            "title = ?, kind_detected = ?, new_items_rate = ?, consecutive_errors = ?, "
            "consecutive_hard_errors = ?, last_fetch_at = ?, last_success_at = ?, "
            "last_result = ?, last_error = ?, next_poll_at = ?, enabled = ?, "
            "disabled_reason = ? WHERE id = ?",
            (
                update.etag,
                update.last_modified,
                update.body_hash,
                update.ttl_minutes,
                update.title,
                update.kind_detected,
                update.new_items_rate,
                update.consecutive_errors,
                update.consecutive_hard_errors,
                to_db(update.last_fetch_at),
                to_db(update.last_success_at),
                update.last_result,
                update.last_error,
                to_db(update.next_poll_at),
                int(update.enabled),
                update.disabled_reason,
                update.feed_id,
            ),
        )

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

    def outlet_id(self, name: str) -> int:
        """The id of an existing outlet (names compare case-insensitively)."""
        row = self._x("SELECT id FROM outlets WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        if row is None:
            names = [r[0] for r in self._x("SELECT name FROM outlets ORDER BY name")]
            raise NotFoundError(f"no outlet named {name!r}; outlets: {', '.join(names) or 'none'}")
        return int(row[0])


#: the feeds table's columns a FeedRow holds (not ``feeds.*``: a migrated table may order them
#: otherwise, and a row has exactly these)
_FEED_COLUMNS = ", ".join(
    f"feeds.{f.name}" for f in fields(FeedRow) if f.name not in ("outlet", "items")
)

#: disabled_reason of a feed stopped with 'tracker feeds disable'
DISABLED_BY_HAND = "disabled with 'tracker feeds disable'"


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
        outlet_id=row["outlet_id"],
        ttl_minutes=row["ttl_minutes"],
        title=row["title"],
        kind_detected=row["kind_detected"],
        last_fetch_at=from_db(row["last_fetch_at"]),
        last_success_at=from_db(row["last_success_at"]),
        last_result=row["last_result"],
        last_error=row["last_error"],
        next_poll_at=from_db(row["next_poll_at"]),
        disabled_reason=row["disabled_reason"],
    )
