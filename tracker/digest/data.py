"""The daily digest's data: plain frozen values, selected by ``digest`` and rendered by
``digest_render``. Times are aware UTC datetimes; rendering converts them to local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class AlsoIn:
    """Another outlet that carried the story: its first item of it (reported time), or the
    first time its feeds listed another outlet's item of it."""

    outlet: str
    at: datetime


@dataclass(frozen=True)
class DigestItem:
    item_id: int
    story_id: int
    outlet: str
    title: str
    url: str | None
    summary: str
    first_seen_at: datetime
    published_at: datetime | None
    #: the outlet's published time, no later than first seen (``storage.reported``)
    reported_at: datetime
    score: float
    tier: str
    #: the matched terms, strongest first
    terms: tuple[str, ...]
    #: the analyst's label (``tracker mark``) when it was judged: it overrides the score
    judgement: str | None = None


@dataclass(frozen=True)
class StoryGroup:
    """The day's items of one story in the order they were reported, who reported the story
    first (by the end of the day), and the other outlets that carried it."""

    story_id: int
    tier: str
    items: tuple[DigestItem, ...]
    first_outlet: str
    first_reported_at: datetime
    first_item_id: int
    #: outlets with none of this day's items of the story, earliest first
    also_in: tuple[AlsoIn, ...]

    @property
    def lead(self) -> DigestItem:
        return self.items[0]

    @property
    def started_earlier(self) -> bool:
        """The story was first reported by an item before this day's first item of it."""
        return self.first_item_id != self.lead.item_id


@dataclass(frozen=True)
class Change:
    """A linked item whose title or summary changed during the day."""

    item_id: int
    outlet: str
    url: str | None
    tier: str
    first_seen_at: datetime
    changed_at: datetime
    changes: int
    old_title: str
    new_title: str
    old_summary: str
    new_summary: str

    @property
    def title_changed(self) -> bool:
        return self.old_title != self.new_title

    @property
    def summary_changed(self) -> bool:
        return self.old_summary != self.new_summary


@dataclass(frozen=True)
class TimelineRow:
    outlet: str
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Timeline:
    """Linked items per outlet per local day, oldest day first."""

    days: tuple[date, ...]
    rows: tuple[TimelineRow, ...]

    @property
    def totals(self) -> tuple[int, ...]:
        return tuple(sum(col) for col in zip(*(r.counts for r in self.rows), strict=True)) or (
            (0,) * len(self.days)
        )

    @property
    def peak(self) -> int:
        return max((c for r in self.rows for c in r.counts), default=0)


@dataclass(frozen=True)
class FirstMover:
    outlet: str
    #: when the outlet's first item was reported
    reported_at: datetime
    items: int


@dataclass(frozen=True)
class ArticleDigest:
    article_id: int
    title: str
    url: str | None
    items: tuple[DigestItem, ...]
    stories: tuple[StoryGroup, ...]
    related: tuple[StoryGroup, ...]
    #: outlets with items this day, in the order of their first item
    outlets: tuple[str, ...]
    cited: tuple[str, ...]
    #: cited outlets whose feeds were polled but brought no item this day
    cited_silent: tuple[str, ...]
    #: cited outlets without an enabled feed: nothing of theirs could come in
    cited_unpolled: tuple[str, ...]
    first_movers: tuple[FirstMover, ...]
    changes: tuple[Change, ...]
    timeline: Timeline | None

    @property
    def story_items(self) -> int:
        return sum(item.tier == "story" for item in self.items)

    @property
    def related_items(self) -> int:
        return len(self.items) - self.story_items

    @property
    def first_today(self) -> DigestItem | None:
        """The day's first reported same-story item, or its first item when none is."""
        return next((i for i in self.items if i.tier == "story"), None) or next(
            iter(self.items), None
        )


@dataclass(frozen=True)
class FeedIssue:
    state: str  # failing | disabled | silent
    outlet: str
    feed: str
    url: str
    #: failing: first failure of the run; silent: last new item (or when the feed was added)
    since: datetime | None
    errors: int = 0
    error: str | None = None
    reason: str | None = None
    had_items: bool = True


@dataclass(frozen=True)
class Totals:
    """Whole-database figures at generation time."""

    items: int
    stories: int
    linked: int
    outlets: int
    feeds: int
    enabled_feeds: int
    fetches: int


@dataclass(frozen=True)
class DayDigest:
    day: date
    timezone: str
    start: datetime
    end: datetime
    generated_at: datetime
    articles: tuple[ArticleDigest, ...]
    health: tuple[FeedIssue, ...]
    totals: Totals
    #: stable across runs for the same tracked articles: the Atom feed's identity
    feed_key: str

    @property
    def complete(self) -> bool:
        return self.generated_at >= self.end

    @property
    def cutoff(self) -> datetime:
        return min(self.generated_at, self.end)

    @property
    def new_items(self) -> int:
        return sum(len(a.items) for a in self.articles)

    @property
    def outlets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o for a in self.articles for o in a.outlets))

    @property
    def updated(self) -> datetime:
        """When this day's content last changed: the generation time, or the day's end."""
        return self.cutoff
