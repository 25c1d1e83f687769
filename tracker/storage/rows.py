"""Rows as they cross the store's boundary, and the one text form of a time in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload


@overload
def to_db(value: datetime) -> str: ...
@overload
def to_db(value: None) -> None: ...
@overload
def to_db(value: datetime | None) -> str | None: ...
def to_db(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, in seconds: sorts as text, and SQLite's date functions read it."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class StoredArticle:
    id: int
    location: str
    url: str | None
    title: str
    published_at: str | None
    text: str
    key_terms: dict[str, float]
    cited_outlets: tuple[str, ...]
    added_at: str
    #: the relevance model (JSON), built against the items stored when it was made
    model: dict[str, Any]
    #: stored items with an id up to this one still wait to be rescored with the model
    rescore_cursor: int | None = None


# --- the daily digest's reads (``storage.digest``, read by ``tracker.digest.build``) -------------
# Times are the stored UTC text, as the digest's bounds are: [start, end) compare as text.


@dataclass(frozen=True)
class DigestItemRow:
    """An item linked to an article and first seen in the digest's day."""

    item_id: int
    story_id: int | None
    feed_id: int | None
    title: str
    url: str | None
    summary: str | None
    first_seen_at: str
    published_at: str | None
    reported_at: str
    outlet: str
    score: float | None
    tier: str
    reasons: tuple[str, ...]
    #: the analyst's label, None when not judged
    judgement: str | None


@dataclass(frozen=True)
class StoryReportRow:
    """A linked item of a story, for who reported it first (``storage.reported``'s order)."""

    story_id: int
    item_id: int
    outlet: str
    reported_at: str
    first_seen_at: str
    #: canonical URL, else URL, else ''
    link: str
    title: str

    def order(self) -> tuple[str, str, str, str, str, int]:
        """``REPORT_ORDER`` in Python, for rows read in pieces. Text compares by code point
        here and by UTF-8 bytes in SQLite: the same order."""
        return (
            self.reported_at,
            self.first_seen_at,
            self.outlet,
            self.link,
            self.title,
            self.item_id,
        )


@dataclass(frozen=True)
class StoryListingRow:
    """A feed of another outlet listing a story's linked item (syndication)."""

    story_id: int
    item_id: int
    outlet: str
    listed_at: str


@dataclass(frozen=True)
class VersionRow:
    """An earlier version of a linked item, with the item as it is now (``current_*``)."""

    item_id: int
    version: int
    title: str | None
    summary: str | None
    replaced_at: str
    current_title: str | None
    current_summary: str | None
    url: str | None
    first_seen_at: str
    outlet: str
    tier: str
    score: float | None


@dataclass(frozen=True)
class SeenRow:
    """When an outlet's linked item was first seen (the digest's timeline)."""

    outlet: str
    first_seen_at: str
    tier: str


@dataclass(frozen=True)
class FirstMoverRow:
    """An outlet's first linked item, in the order outlets first reported."""

    outlet: str
    item_id: int
    reported_at: str
    first_seen_at: str
    #: the outlet's linked items in all
    items: int


@dataclass(frozen=True)
class FeedHealthRow:
    """A feed's state as its fetch log shows it at the digest's cut-off."""

    feed_id: int
    url: str
    title: str | None
    note: str | None
    enabled: bool
    disabled_reason: str | None
    added_at: str | None
    last_fetch_at: str | None
    outlet: str
    last_ok_at: str | None
    #: the run of failed fetches that ends the log at the cut-off (0: the last one succeeded)
    errors_in_a_row: int
    failing_since: str | None
    last_item_at: str | None
    last_error: str | None


@dataclass(frozen=True)
class DailyCoverageRow:
    """The daily_coverage view: an article's linked items of one local day and outlet."""

    day: str
    outlet: str
    items: int
    story_items: int
    timezone: str
    day_rule: str


@dataclass(frozen=True)
class DailyActivityRow:
    """Feeds fetched and items first seen on one local day."""

    day: str
    fetches: int
    items: int


# --- clustering and alerts -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterRow:
    """An item as clustering reads it."""

    id: int
    #: every item has a story (a new item starts one of its own)
    story_id: int
    outlet_id: int
    title: str
    summary: str | None
    first_seen_at: datetime
    #: published, else first seen
    happened_at: datetime


@dataclass(frozen=True)
class AlertCandidate:
    """An item linked to an article and first seen since a cycle began."""

    item_id: int
    outlet_id: int
    outlet: str
    tier: str
    title: str
    url: str | None
    first_seen_at: str
    published_at: str | None


@dataclass(frozen=True)
class ClaimedAlert:
    """A pending alert claimed for sending, with its item, outlet and article."""

    id: int
    article_id: int
    #: the article's title
    article: str
    #: the target's key (the URL without its secrets)
    target: str
    target_url: str
    reason: str
    attempts: int
    title: str
    url: str | None
    outlet: str
    first_seen_at: str
    published_at: str | None


@dataclass(frozen=True)
class ExpiredAlerts:
    """Alerts of an article and target given up on, too old to send."""

    article_id: int
    target_url: str
    alerts: int
    last_error: str | None
