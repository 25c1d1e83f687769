"""The daily digest: one local day of coverage, as Markdown, HTML and an Atom feed of digests.

Three separate steps:

- **select** (:func:`select_day`): Store reads turned into a :class:`DayDigest` of plain frozen
  data. Day boundaries are local midnights in the configured time zone (a day across a DST change
  is 23 or 25 hours long); an item belongs to the day it was first seen, and items are listed in
  the order their outlets reported them (``storage.reported``: the rules every output shares).
- **render** (``digest_render``): pure, data in and text out.
- **write** (:func:`write_digest`): each file replaced atomically (``files``), then the Atom feed
  rebuilt from the newest ``digest.keep`` digests in the directory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import overload
from zoneinfo import ZoneInfo

from ..config import DigestSettings
from ..errors import DigestError
from ..files import atomic_write_files
from ..storage import Store, StoredArticle, from_db, is_marked_reason, to_db
from ..storage.rows import (
    DigestItemRow,
    FeedHealthRow,
    StoryListingRow,
    StoryReportRow,
    VersionRow,
)
from .data import (
    AlsoIn,
    ArticleDigest,
    Change,
    DayDigest,
    DigestItem,
    FeedIssue,
    FirstMover,
    StoryGroup,
    Timeline,
    TimelineRow,
    Totals,
)
from .render import render_atom, render_html, render_markdown

FORMATS = ("md", "html", "atom")
ATOM_NAME = "digests.atom"
TIMELINE_DAYS = 14
#: a feed that brought no new item for this long is reported as silent
SILENT_AFTER = timedelta(hours=48)
FIRST_MOVERS = 8
_DIGEST_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(?:md|html)$")
_REASON = re.compile(r'^\s*(?:[\w -]+):\s*"(.+)"\s*$')


# --- select ----------------------------------------------------------------------------------


def day_window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day, in UTC."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def local_today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def check_day(day: date, today: date, tz: ZoneInfo) -> None:
    """Refuse a day that has not started yet (its digest would be empty and say "in
    progress"), and one whose timeline reaches past the ends of the calendar."""
    if day > today:
        raise DigestError(
            f"{day} has not started yet in {tz.key} (today is {today}): a digest shows a past "
            "day, or today so far"
        )
    try:
        day_window(day - timedelta(days=TIMELINE_DAYS - 1), tz)
        day_window(day, tz)
    except OverflowError:
        raise DigestError(
            f"{day} is beyond the calendar for a digest: the day and the {TIMELINE_DAYS - 1} "
            "days before it (its timeline) must fall within the years 1 to 9999"
        ) from None


def select_day(
    store: Store, day: date, *, tz: ZoneInfo, now: datetime, brief: bool = False
) -> DayDigest:
    """Everything one day's digest shows, read from the store.

    ``brief`` leaves out what an Atom entry does not show: the timeline and the first movers.
    """
    start, end = day_window(day, tz)
    cutoff = min(now, end)
    articles = store.articles()
    # inclusive in whole seconds: a fetch at "now" has happened; one at midnight is tomorrow's
    feeds = store.digest_feed_health(_db(min(now, end - timedelta(seconds=1))))
    polled = polled_outlets(feeds, cutoff)
    return DayDigest(
        day=day,
        timezone=tz.key,
        start=start,
        end=end,
        generated_at=now,
        articles=tuple(
            _article_digest(store, a, day, tz, (start, end), polled, brief) for a in articles
        ),
        health=feed_issues(feeds, cutoff),
        totals=Totals(**store.digest_totals()),
        feed_key=feed_key(articles),
    )


def _article_digest(
    store: Store,
    article: StoredArticle,
    day: date,
    tz: ZoneInfo,
    window: tuple[datetime, datetime],
    polled: frozenset[str],
    brief: bool,
) -> ArticleDigest:
    start, end = _db(window[0]), _db(window[1])
    items = tuple(_item(row) for row in store.digest_items(article.id, start, end))
    story_ids = sorted({i.story_id for i in items})
    groups = group_stories(
        items,
        store.digest_story_reports(article.id, story_ids, end),
        store.digest_story_listings(article.id, story_ids, end),
    )
    outlets = tuple(dict.fromkeys(i.outlet for i in items))
    movers = [] if brief else store.first_movers(article.id, tier="story", before=end)
    quiet = [o for o in article.cited_outlets if o not in outlets]
    return ArticleDigest(
        article_id=article.id,
        title=article.title,
        url=article.url,
        items=items,
        stories=tuple(g for g in groups if g.tier == "story"),
        related=tuple(g for g in groups if g.tier != "story"),
        outlets=outlets,
        cited=article.cited_outlets,
        cited_silent=tuple(o for o in quiet if o in polled),
        cited_unpolled=tuple(o for o in quiet if o not in polled),
        first_movers=tuple(
            FirstMover(m.outlet, _dt(m.reported_at), m.items) for m in movers[:FIRST_MOVERS]
        ),
        changes=changes_from_versions(store.digest_versions(article.id, start, end), start, end),
        timeline=None if brief else _timeline(store, article.id, day, tz),
    )


def polled_outlets(feeds: Sequence[FeedHealthRow], cutoff: datetime) -> frozenset[str]:
    """Outlets with a feed being polled at ``cutoff``: enabled, or (the database keeps no date
    of disabling) fetched after the cut-off, so still on then. A cited outlet without one is
    not silent: the tracker could not have heard from it."""
    return frozenset(
        row.outlet for row in feeds if row.enabled or (_dt(row.last_fetch_at) or cutoff) > cutoff
    )


def _timeline(store: Store, article_id: int, day: date, tz: ZoneInfo) -> Timeline:
    first = day - timedelta(days=TIMELINE_DAYS - 1)
    start, _ = day_window(first, tz)
    _, end = day_window(day, tz)
    rows = store.digest_timeline(article_id, _db(start), _db(end))
    days = tuple(first + timedelta(days=n) for n in range(TIMELINE_DAYS))
    return build_timeline(days, ((r.outlet, _dt(r.first_seen_at)) for r in rows), tz)


def build_timeline(
    days: Sequence[date], seen: Iterable[tuple[str, datetime]], tz: ZoneInfo
) -> Timeline:
    """Count (outlet, first seen) pairs per outlet and local day; busiest outlets first."""
    index = {d: n for n, d in enumerate(days)}
    counts: dict[str, list[int]] = {}
    for outlet, moment in seen:
        column = index.get(moment.astimezone(tz).date())
        if column is not None:
            counts.setdefault(outlet, [0] * len(days))[column] += 1
    rows = sorted(
        (TimelineRow(outlet, tuple(c)) for outlet, c in counts.items()),
        key=lambda r: (-r.total, r.outlet.casefold()),
    )
    return Timeline(tuple(days), tuple(rows))


def group_stories(
    items: Sequence[DigestItem],
    reports: Sequence[StoryReportRow],
    listings: Sequence[StoryListingRow] = (),
) -> tuple[StoryGroup, ...]:
    """The day's items grouped by story, in the order they were reported, with who reported
    each story first and which other outlets carried it.

    ``items`` come in the order they were reported; ``reports`` are every linked item of the
    stories up to the end of the day in that order (``Store.digest_story_reports``), and
    ``listings`` where other outlets' feeds listed them (``Store.digest_story_listings``).
    "Also in" names the outlets of the story none of whose items the group shows: never an item's
    own outlet or feed.
    """
    by_story: dict[int, list[DigestItem]] = {}
    for item in items:
        by_story.setdefault(item.story_id, []).append(item)
    reported: dict[int, list[StoryReportRow]] = {}
    for report in reports:
        reported.setdefault(report.story_id, []).append(report)
    listed: dict[int, list[StoryListingRow]] = {}
    for listing in listings:
        listed.setdefault(listing.story_id, []).append(listing)
    groups = []
    for story_id, members in by_story.items():
        lead = members[0]
        first = next(iter(reported.get(story_id, ())), None)
        groups.append(
            StoryGroup(
                story_id=story_id,
                tier="story" if any(m.tier == "story" for m in members) else "related",
                items=tuple(members),
                first_outlet=first.outlet if first else lead.outlet,
                first_reported_at=_dt(first.reported_at) if first else lead.reported_at,
                first_item_id=first.item_id if first else lead.item_id,
                also_in=_also_in(
                    {m.outlet for m in members},
                    reported.get(story_id, ()),
                    listed.get(story_id, ()),
                ),
            )
        )
    return tuple(groups)


def _also_in(
    shown: set[str], reports: Sequence[StoryReportRow], listings: Sequence[StoryListingRow]
) -> tuple[AlsoIn, ...]:
    earliest: dict[str, datetime] = {}
    for outlet, at in [(r.outlet, r.reported_at) for r in reports] + [
        (r.outlet, r.listed_at) for r in listings
    ]:
        moment = _dt(at)
        if outlet not in shown and (outlet not in earliest or moment < earliest[outlet]):
            earliest[outlet] = moment
    return tuple(
        AlsoIn(outlet, at) for outlet, at in sorted(earliest.items(), key=lambda e: (e[1], e[0]))
    )


def changes_from_versions(rows: Sequence[VersionRow], start: str, end: str) -> tuple[Change, ...]:
    """Before and after of each item that changed in [start, end).

    ``rows`` hold every earlier version of the changed items (digest_versions). "Before" is the
    version the window's first change replaced; "after" is what the item said at the end of the
    window: the version replaced next after it, or the item as it is now.
    """
    by_item: dict[int, list[VersionRow]] = {}
    for row in rows:
        by_item.setdefault(row.item_id, []).append(row)
    changes = []
    for versions in by_item.values():
        today = [v for v in versions if start <= v.replaced_at < end]
        if not today:
            continue
        later = [v for v in versions if v.replaced_at >= end]
        before, now = today[0], versions[-1]
        after = (
            (later[0].title, later[0].summary)
            if later
            else (now.current_title, now.current_summary)
        )
        change = Change(
            item_id=now.item_id,
            outlet=now.outlet,
            url=now.url,
            tier=now.tier,
            first_seen_at=_dt(now.first_seen_at),
            changed_at=_dt(today[-1].replaced_at),
            changes=len(today),
            old_title=before.title or "",
            new_title=after[0] or "",
            old_summary=before.summary or "",
            new_summary=after[1] or "",
        )
        if change.title_changed or change.summary_changed:
            changes.append(change)
    return tuple(sorted(changes, key=lambda c: (c.changed_at, c.item_id)))


def feed_issues(rows: Sequence[FeedHealthRow], cutoff: datetime) -> tuple[FeedIssue, ...]:
    """Failing, disabled and silent feeds as of ``cutoff``, in that order."""
    order = {"failing": 0, "disabled": 1, "silent": 2}
    issues = [issue for row in rows if (issue := _feed_issue(row, cutoff)) is not None]
    return tuple(sorted(issues, key=lambda i: (order[i.state], i.outlet.casefold(), i.url)))


def _feed_issue(row: FeedHealthRow, cutoff: datetime) -> FeedIssue | None:
    base = (row.outlet, feed_name(row.title, row.note), row.url)
    last_fetch = _dt(row.last_fetch_at)
    # the database keeps no date of disabling: a feed fetched after the cut-off was still on
    if not row.enabled and (last_fetch is None or last_fetch <= cutoff):
        return FeedIssue("disabled", *base, since=last_fetch, reason=row.disabled_reason)
    if row.errors_in_a_row:
        return FeedIssue(
            "failing",
            *base,
            since=_dt(row.failing_since),
            errors=row.errors_in_a_row,
            error=row.last_error,
        )
    last_item = _dt(row.last_item_at)
    quiet_since = last_item or _dt(row.added_at)
    if quiet_since is not None and cutoff - quiet_since >= SILENT_AFTER:
        return FeedIssue("silent", *base, since=quiet_since, had_items=last_item is not None)
    return None


def feed_name(title: str | None, note: str | None) -> str:
    """How a feed is named to a person: its own title, else the note from config, else ''."""
    return (title or "").strip() or (note or "").strip()


def feed_key(articles: Sequence[StoredArticle]) -> str:
    """A short stable key of the tracked articles, for the Atom feed's and entries' ids."""
    names = sorted(a.url or a.title for a in articles)
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()[:16]


def terms_of(reasons: Iterable[str]) -> tuple[str, ...]:
    """The matched terms of stored reasons (``story phrase: "security guarantee"``), once."""
    terms = []
    for reason in reasons:
        if is_marked_reason(reason):  # not a term: the digest says "marked by you" apart
            continue
        m = _REASON.match(reason)
        terms.append(m.group(1) if m else reason.strip())
    return tuple(t for t in dict.fromkeys(terms) if t)


def _item(row: DigestItemRow) -> DigestItem:
    return DigestItem(
        item_id=row.item_id,
        story_id=row.story_id if row.story_id is not None else -row.item_id,
        outlet=row.outlet,
        title=row.title,
        url=row.url,
        summary=row.summary or "",
        first_seen_at=_dt(row.first_seen_at),
        published_at=_dt(row.published_at),
        reported_at=_dt(row.reported_at),
        score=row.score or 0.0,
        tier=row.tier,
        terms=terms_of(row.reasons),
        judgement=row.judgement,
    )


def _db(moment: datetime) -> str:
    return to_db(moment) or ""


@overload
def _dt(value: str) -> datetime: ...
@overload
def _dt(value: str | None) -> datetime | None: ...
def _dt(value: str | None) -> datetime | None:
    moment = from_db(value)
    return moment.astimezone(UTC) if moment is not None else None


# --- write -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestOutput:
    day: date
    digest: DayDigest
    #: format -> rendered text
    texts: Mapping[str, str]
    #: files written (empty when only rendered)
    paths: tuple[Path, ...] = ()


def render_day(
    store: Store,
    settings: DigestSettings,
    day: date,
    *,
    tz: ZoneInfo,
    now: datetime,
    formats: Sequence[str] = FORMATS,
) -> DigestOutput:
    """Select and render one day; the Atom feed also covers the digests already written."""
    digest = select_day(store, day, tz=tz, now=now)
    texts = {}
    if "md" in formats:
        texts["md"] = render_markdown(digest)
    if "html" in formats:
        texts["html"] = render_html(digest)
    if "atom" in formats:
        days = atom_days(settings.directory, day, settings.keep)
        entries = [
            digest if d == day else select_day(store, d, tz=tz, now=now, brief=True) for d in days
        ]
        texts["atom"] = render_atom(entries, base_url=settings.base_url)
    return DigestOutput(day, digest, texts)


def write_digest(output: DigestOutput, directory: Path) -> DigestOutput:
    """Write the rendered texts: ``YYYY-MM-DD.md``, ``YYYY-MM-DD.html``, ``digests.atom``.

    All of them reach the disk before any replaces its previous version (a full disk leaves
    the previous digest whole), then day files are renamed into place before the feed, so the
    feed never links a digest that is not there.
    """
    names = {"md": f"{output.day}.md", "html": f"{output.day}.html", "atom": ATOM_NAME}
    paths = atomic_write_files(
        [
            (directory / names[fmt], output.texts[fmt].encode("utf-8"))
            for fmt in FORMATS
            if fmt in output.texts
        ]
    )
    return DigestOutput(output.day, output.digest, output.texts, tuple(paths))


def atom_days(directory: Path, day: date, keep: int) -> list[date]:
    """The newest ``keep`` days that have a digest file in ``directory``, plus ``day``."""
    found = {day}
    if directory.is_dir():
        for path in directory.iterdir():
            m = _DIGEST_FILE.match(path.name)
            if m:
                try:
                    found.add(date.fromisoformat(m.group(1)))
                except ValueError:
                    continue
    return sorted(found, reverse=True)[:keep]
