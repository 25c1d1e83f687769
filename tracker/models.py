"""Small frozen dataclasses handed from one pipeline step to the next.

Named after the step that produces them: ``FetchedFeed`` (fetch) → ``ParsedFeed`` / ``ParsedItem``
(parse) → ``CleanItem`` (clean + identity) → stored rows. Timestamps are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, tzinfo
from typing import Any

#: the injectable clock: every step that needs "now" receives one of these
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outlet:
    name: str
    aliases: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    homepage: str | None = None


@dataclass(frozen=True)
class FeedSource:
    """A feed as configured: where to poll and whose outlet it is."""

    url: str
    outlet: str
    kind: str = "auto"  # auto | sitemap
    note: str = ""


@dataclass(frozen=True)
class FeedState:
    """A feed as stored: identity plus what conditional GET, scheduling and the next poll need."""

    id: int
    url: str
    outlet: str
    kind: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    consecutive_errors: int = 0
    consecutive_hard_errors: int = 0
    new_items_rate: float = 0.0
    enabled: bool = True
    #: the stable id of the feed's outlet (guid keys are scoped to it; names can change)
    outlet_id: int = 0
    ttl_minutes: int | None = None
    title: str | None = None
    kind_detected: str | None = None
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    last_result: str | None = None
    last_error: str | None = None
    next_poll_at: datetime | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True)
class FeedUpdate:
    """A feed's whole poll state after a poll, as the update decider leaves it."""

    feed_id: int
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    ttl_minutes: int | None
    title: str | None
    kind_detected: str | None
    new_items_rate: float
    consecutive_errors: int
    consecutive_hard_errors: int
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_result: str | None
    last_error: str | None
    next_poll_at: datetime | None
    enabled: bool
    disabled_reason: str | None


@dataclass(frozen=True)
class FetchedFeed:
    """What the fetch step returns: the final URL, status, headers and decoded body bytes."""

    url: str
    status: int
    headers: dict[str, str]
    content: bytes = b""
    #: the URL the feed now lives at when every redirect on the way was permanent, in the
    #: stored form (``urls.feed_url``); None too when config.yaml would refuse it
    permanent_url: str | None = None
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class ParsedItem:
    """One entry as the feed gave it; nothing cleaned yet."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    #: the entry's place among the document's entries (items it skipped included)
    position: int = -1


@dataclass(frozen=True)
class ParsedFeed:
    kind: str  # rss20, atom10, rdf, sitemap, …
    title: str
    items: tuple[ParsedItem, ...]
    ttl_minutes: int | None = None
    #: feedparser recovered items from a malformed document; kept as a warning
    warning: str | None = None


@dataclass(frozen=True)
class CleanItem:
    """An item ready to store: text and safe HTML, canonical URL, UTC dates, identity keys."""

    guid: str | None
    url: str | None
    canonical_url: str | None
    title: str
    summary: str
    summary_html: str
    author: str | None
    published_at: datetime | None
    content_hash: str
    #: dedup keys in priority order (guid, URL, content hash); the first stored one wins
    keys: tuple[str, ...] = field(default=())

    def is_same_as(self, matched_key: str, stored_keys: set[str]) -> bool:
        """Whether a stored item found by one of this item's keys really is this item.

        Some feeds give every item the same link (a section front) but distinct guids; a match
        on a weaker key with a stored item whose guid from the same outlet differs is therefore
        two items, not one.
        """
        if matched_key == self.keys[0] or not self.keys[0].startswith("guid:"):
            return True
        # "guid:<outlet id>:<guid>", and a guid may itself hold colons
        scope = ":".join(self.keys[0].split(":", 2)[:2]) + ":"
        return not any(k.startswith(scope) and k != self.keys[0] for k in stored_keys)


@dataclass(frozen=True)
class Relevance:
    score: float
    #: human-readable reasons, e.g. ``title: "security guarantees"``
    reasons: tuple[str, ...]
    tier: str = "related"
    story_score: float = 0.0


#: what the analyst can mark an item as, for an article (``tracker mark``)
LABELS = ("story", "related", "unrelated")


@dataclass(frozen=True)
class Judgement:
    """The analyst's label for an item and an article: it wins over the scorer's tier."""

    article_id: int
    item_id: int
    #: story | related | unrelated
    label: str
    judged_at: str
    note: str | None = None


# --- what a poll decides (tracker.update.decide) and the store writes -------------------------

#: (article id, relevance) for every article an item passes
Links = tuple[tuple[int, Relevance], ...]


@dataclass(frozen=True)
class Incoming:
    """One parsed and cleaned item of the poll, with its relevance already scored."""

    item: CleanItem
    #: hash of the item's raw element, when the body could be split into items
    raw_hash: str | None = None
    links: Links = ()


@dataclass(frozen=True)
class StoredItem:
    """What the store knows of an item one of the poll's keys led to."""

    id: int
    outlet_id: int
    content_hash: str
    keys: frozenset[str]
    #: the content hash of this feed's last listing of it; None if the feed never listed it
    said_before: str | None = None


@dataclass(frozen=True)
class Known:
    """The stored items the poll's keys name, read in the transaction that writes the intents."""

    by_key: Mapping[str, int]
    items: Mapping[int, StoredItem]


@dataclass(frozen=True)
class Meta:
    """What the feed's own envelope said; None where it was not parsed this time."""

    kind: str | None = None
    title: str | None = None
    ttl_minutes: int | None = None
    warning: str | None = None


@dataclass(frozen=True)
class NewItem:
    item: CleanItem
    raw_hash: str | None
    #: the item's keys no stored item holds yet
    keys: tuple[str, ...]
    links: Links


@dataclass(frozen=True)
class ChangedItem:
    item_id: int
    item: CleanItem
    raw_hash: str | None
    links: Links


@dataclass(frozen=True)
class Seen:
    """An existing item listed by this feed: a sighting, not an edit."""

    item_id: int
    content_hash: str
    raw_hash: str | None


@dataclass(frozen=True)
class ItemIntents:
    new: tuple[NewItem, ...] = ()
    changed: tuple[ChangedItem, ...] = ()
    seen: tuple[Seen, ...] = ()
    #: (key, item id): keys an existing item gains (a second feed's guid for it)
    keys: tuple[tuple[str, int], ...] = ()
    #: raw hashes of items the feed sent again byte for byte (never parsed this time)
    resent: tuple[str, ...] = ()
    #: listings that changed nothing: seen items, resent ones, an item listed twice
    unchanged_listings: int = 0

    @property
    def counts(self) -> tuple[int, int, int]:
        """(new, updated, seen), as the fetch log counts them."""
        return len(self.new), len(self.changed), self.unchanged_listings


@dataclass(frozen=True)
class FeedResult:
    """The outcome of polling one feed, as recorded in the ``fetches`` table."""

    feed_id: int
    outlet: str
    url: str
    result: str  # ok | not-modified | unchanged | error
    started_at: datetime
    duration_ms: int
    http_status: int | None = None
    bytes: int = 0
    items_new: int = 0
    items_updated: int = 0
    items_seen: int = 0
    items_linked: int = 0
    error_kind: str | None = None
    error_message: str | None = None
    next_poll_at: datetime | None = None


@dataclass(frozen=True)
class CycleSummary:
    results: tuple[FeedResult, ...]
    duration_ms: int

    def count(self, result: str) -> int:
        return sum(1 for r in self.results if r.result == result)

    @property
    def items_new(self) -> int:
        return sum(r.items_new for r in self.results)

    @property
    def items_linked(self) -> int:
        return sum(r.items_linked for r in self.results)


# --- what the library's reads return (``Tracker.feeds``, ``coverage``, ``search``, ``status``) ---
# Times in these rows are the stored text: ISO 8601 in UTC with a Z, to the second (``to_db``),
# so JSON output shows them exactly as the database and ``tracker query`` do.


def _fields(row: object) -> dict[str, Any]:
    """A row's fields as a dict, in order, values as they are (not recursively converted)."""
    return {f.name: getattr(row, f.name) for f in fields(row)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class FeedRow:
    """A feed as ``feeds list`` shows it: its stored state, its outlet, the items it listed."""

    id: int
    url: str
    outlet_id: int
    kind: str | None
    kind_detected: str | None
    title: str | None
    note: str | None
    #: config | cli | opml: who added it
    origin: str | None
    enabled: bool
    disabled_reason: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    ttl_minutes: int | None
    consecutive_errors: int
    consecutive_hard_errors: int
    last_fetch_at: str | None
    last_success_at: str | None
    last_result: str | None
    last_error: str | None
    next_poll_at: str | None
    new_items_rate: float | None
    added_at: str | None
    #: the outlet's name
    outlet: str
    #: items the feed listed (one item listed by two feeds counts in both)
    items: int

    def to_json(self) -> dict[str, Any]:
        """The row as JSON shows it: ``enabled`` is 1 or 0, as the feeds table stores it."""
        return {**_fields(self), "enabled": int(self.enabled)}


@dataclass(frozen=True)
class CoverageRow:
    """An item linked to an article, with the link's tier, scores and reasons."""

    article_id: int
    item_id: int
    outlet: str
    #: the outlet's published time, never later than first seen (``storage.reported``)
    reported_at: str
    first_seen_at: str
    published_at: str | None
    title: str
    url: str | None
    summary: str | None
    score: float
    story_score: float | None
    #: story | related
    tier: str
    reasons: tuple[str, ...]
    story_id: int | None
    #: the analyst's label (``tracker mark``), None when not judged
    judgement: str | None
    judgement_note: str | None


@dataclass(frozen=True)
class StoryRow:
    """Linked coverage of one story: who reported it first, every outlet in the order it did."""

    article_id: int
    story_id: int | None
    #: the first report's item
    item_id: int
    first_reported_at: str
    first_seen_at: str
    first_outlet: str
    title: str
    url: str | None
    outlets: tuple[str, ...]
    items: int
    #: story when any of its items is of the story tier, else related
    tier: str
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SearchHit:
    """An item matching a full-text search."""

    item_id: int
    outlet: str
    published_at: str | None
    first_seen_at: str
    reported_at: str
    title: str
    url: str | None
    #: ids of the articles it is linked to, comma-separated (None: linked to none)
    articles: str | None
    #: bm25, lower is better
    rank: float


@dataclass(frozen=True)
class ServiceRun:
    """One run of the background service (``service_runs``)."""

    id: int
    pid: int
    host: str | None
    version: str | None
    config: str | None
    started_at: str
    heartbeat_at: str | None
    heartbeat_every: float | None
    in_flight: int | None
    stopped_at: str | None
    stop_reason: str | None


@dataclass(frozen=True)
class ServiceCycle:
    """One dispatch cycle of the service (``service_cycles``)."""

    id: int
    run_id: int
    started_at: str
    finished_at: str | None
    duration_ms: int | None
    feeds_due: int | None
    feeds_polled: int | None
    ok: int | None
    not_modified: int | None
    errors: int | None
    cancelled: int | None
    items_new: int | None
    items_updated: int | None
    items_linked: int | None


@dataclass(frozen=True)
class ServiceDigest:
    """A digest the service wrote or tried to (``service_digests``)."""

    #: the local day, YYYY-MM-DD
    day: str
    run_id: int | None
    trigger: str | None
    attempted_at: str | None
    #: ok | error
    result: str
    error: str | None
    attempts: int | None


class ManualClock:
    """A clock that only moves when told: for the demo's replay and for tests."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


def as_utc(value: datetime, naive_zone: tzinfo = UTC) -> datetime:
    """The same instant in UTC; a time without a zone is read in ``naive_zone``."""
    return (value if value.tzinfo else value.replace(tzinfo=naive_zone)).astimezone(UTC)


def parse_iso(value: str | None) -> datetime | None:
    """ISO 8601 text as a UTC time (without a zone: UTC); None when it is empty or no such time."""
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None
