"""The offline demo: replay 15–24 August 2025 from bundled real feed snapshots.

A local HTTP server on 127.0.0.1 serves, for each feed, the snapshot of the replayed day cut to
the items published by the replayed time, so polling every six hours shows the story appear and
spread across outlets as it did. A final second poll shows conditional GET at work (every feed
answers 304) and that re-polling stores no duplicate.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from importlib.resources import files
from pathlib import Path

from lxml import etree

from ..app import Tracker
from ..config import load_config
from ..errors import OutputError
from ..models import ManualClock
from ..storage.rows import DailyCoverageRow
from ..textout import fields_of, local_time, plural, table
from .localserver import Document, FeedServer, http_date

#: feed file prefix -> (outlet, the outlet's real feed URL the snapshot was recorded from)
DEMO_FEEDS = {
    "guardian-world": ("The Guardian", "https://www.theguardian.com/world/rss", "theguardian.com"),
    "bloomberg-politics": (
        "Bloomberg",
        "https://www.bloomberg.com/politics/feeds/site.xml",
        "bloomberg.com",
    ),
    "ft-world": ("Financial Times", "https://www.ft.com/world?format=rss", "ft.com"),
    "lemonde-en": ("Le Monde", "https://www.lemonde.fr/en/rss/une.xml", "lemonde.fr"),
    "nbc-world": ("NBC News", "https://feeds.nbcnews.com/nbcnews/public/world", "nbcnews.com"),
    "bbc-world-europe": (
        "BBC News",
        "https://feeds.bbci.co.uk/news/world/europe/rss.xml",
        "bbc.co.uk",
    ),
}
POLL_HOURS = (6, 12, 18, 24)
#: as in the shipped config.yaml (a test keeps the two the same)
INCLUDE_TERMS = ("security guarantee", "coalition of the willing", "troops", "peacekeeping")

#: the first line of every config the demo writes: how it knows a directory it may reuse
DEMO_MARK = "# Written by 'tracker demo'"
CONFIG_TEMPLATE = """\
# Written by 'tracker demo': the shipped article and six outlets' real feed snapshots, served
# from 127.0.0.1 (hence allow_private_networks).
database: {workdir}/tracker.db
timezone: Europe/London
articles:
  - path: {article}
    include_terms: [{include_terms}]
outlets:
{outlets}
  # cited by the article; their feeds have no snapshots from August 2025
  - name: Reuters
    domains: [reuters.com]
  - name: DW
    aliases: [Deutsche Welle]
    domains: [dw.com]
  - name: Euronews
    aliases: [Euronews.com]
    domains: [euronews.com]
fetch:
  allow_private_networks: true
  per_host_gap: 0s   # every demo feed is on 127.0.0.1
  deadline: 20s
digest:
  directory: {workdir}/digests
"""


@dataclass(frozen=True)
class Snapshot:
    feed: str
    day: date
    body: bytes


def demo_data() -> Path:
    return Path(str(files("tracker") / "demo_data"))


def load_snapshots(directory: Path) -> dict[str, list[Snapshot]]:
    found: dict[str, list[Snapshot]] = {}
    for path in sorted(directory.glob("*.xml")):
        feed, stamp = path.stem.rsplit("-", 1)
        day = datetime.strptime(stamp, "%Y%m%d").date()
        found.setdefault(feed, []).append(Snapshot(feed, day, path.read_bytes()))
    return found


def cut_to(body: bytes, until: datetime) -> bytes:
    """The snapshot as the live feed looked at ``until``: items published later removed."""
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    for item in root.iter("item"):
        published = item.findtext("pubDate")
        parent = item.getparent()
        if published and parent is not None and parsedate_to_datetime(published) > until:
            parent.remove(item)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_config(workdir: Path, server: FeedServer) -> Path:
    outlets = "\n".join(
        f"  - name: {outlet}\n    domains: [{domain}]\n"
        f"    feeds:\n      - url: {server.url(f'/{feed}.xml')}\n        note: replay of {real}"
        for feed, (outlet, real, domain) in DEMO_FEEDS.items()
    )
    path = workdir / "config.yaml"
    path.write_text(
        CONFIG_TEMPLATE.format(
            workdir=workdir,
            article=demo_data() / "article.txt",
            outlets=outlets,
            include_terms=", ".join(INCLUDE_TERMS),
        ),
        encoding="utf-8",
    )
    return path


def serve_as_of(server: FeedServer, snapshots: dict[str, list[Snapshot]], when: datetime) -> None:
    for feed, series in snapshots.items():
        # before a feed's first snapshot, serve that snapshot cut to the time (often empty)
        current = [s for s in series if s.day <= when.date()] or series[:1]
        body = cut_to(current[-1].body, when)
        document = server.routes.get(f"/{feed}.xml")
        # an unchanged feed keeps its Last-Modified so conditional GETs get 304s
        if isinstance(document, Document) and document.body == body:
            continue
        server.add(f"/{feed}.xml", body, last_modified=http_date(when))


def check_keep_dir(directory: Path) -> None:
    """Refuse a directory holding a config, database or digests the demo did not write.

    The demo replaces config.yaml, tracker.db and digests/ in the directory it keeps, so a user's
    own would be lost. An earlier demo's directory (its config.yaml starts with ``DEMO_MARK``)
    may be reused.
    """
    config = directory / "config.yaml"
    if _written_by_demo(config):
        return
    found = [p.name for p in (config, *sorted(directory.glob("tracker.db*"))) if _taken(p)]
    digests = directory / "digests"
    if digests.is_dir() and any(digests.iterdir()):
        found.append("digests/")
    if found:
        raise OutputError(
            f"{directory.resolve()}: --keep would overwrite {', '.join(found)}, which "
            "'tracker demo' did not write; give a new or empty directory, or one an earlier "
            "demo kept"
        )


def _taken(path: Path) -> bool:
    # a dangling symlink counts: writing through it would create the file it names
    return path.exists() or path.is_symlink()


def _written_by_demo(config: Path) -> bool:
    try:
        with config.open(encoding="utf-8") as handle:
            return handle.readline().startswith(DEMO_MARK)
    except (OSError, UnicodeDecodeError):
        return False


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        check_keep_dir(keep)
        keep.mkdir(parents=True, exist_ok=True)
        for stale in keep.glob("tracker.db*"):
            stale.unlink()
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="tracker-demo-") as tmp:
        yield Path(tmp)


def run_demo(echo: Callable[[str], None], keep: Path | None = None) -> None:
    snapshots = load_snapshots(demo_data() / "replay")
    days = sorted({s.day for series in snapshots.values() for s in series})
    clock = ManualClock(datetime.combine(days[0], time(0), UTC))
    with _workdir(keep) as workdir, FeedServer() as server:
        serve_as_of(server, snapshots, clock())
        tracker = Tracker(load_config(write_config(workdir, server)), clock=clock)
        with tracker:
            report = tracker.init()
            article = report.articles[0]
            echo(f'Tracking "{article.draft.title}"')
            echo("  cites: " + ", ".join(c.outlet for c in article.citations))
            unserved = [c.outlet for c in article.citations if c.outlet not in _served_outlets()]
            if unserved:
                echo(
                    f"  The demo has no feed snapshots of {_and(unserved)}: it cannot poll "
                    f"{'it' if len(unserved) == 1 else 'them'}, and the digests list "
                    f"{'it' if len(unserved) == 1 else 'them'} as not polled, not as silent."
                )
            echo(
                f"Replaying {days[0]} to {days[-1]}: {sum(map(len, snapshots.values()))} real "
                f"snapshots of {len(snapshots)} feeds served from {server.url('/')}, polled "
                f"at {', '.join(f'{h - 1:02d}:59:59' for h in POLL_HOURS)} UTC\n"
            )
            for day in days:
                _replay_day(tracker, server, snapshots, clock, day)
            rows = day_rows(tracker, article.article_id)
            echo(
                table(
                    rows,
                    ["day", "polls", "new items", "linked", "story", "linked by outlet"],
                    tty=True,
                )
            )
            echo(
                f"Days are {tracker.config.timezone} days: an item counts on the day the tracker "
                "first saw it, in this table, the digests and the daily_coverage view alike."
            )
            _second_poll(tracker, echo)
            _summaries(tracker, article.article_id, echo)
            clock.set(datetime.combine(days[-1] + timedelta(days=1), time(7), UTC))
            _digests(tracker, rows[:-1], echo, kept=keep is not None)
        if keep is not None:
            echo(
                f"\nKept in {workdir}. Explore with:\n"
                f"  tracker --config {workdir}/config.yaml coverage\n"
                f"  sqlite-utils search {workdir}/tracker.db items troops"
            )


def _served_outlets() -> set[str]:
    return {outlet for outlet, _, _ in DEMO_FEEDS.values()}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _replay_day(
    tracker: Tracker,
    server: FeedServer,
    snapshots: dict[str, list[Snapshot]],
    clock: ManualClock,
    day: date,
) -> None:
    start = datetime.combine(day, time(0), UTC)
    for hour in POLL_HOURS:
        clock.set(start + timedelta(hours=hour, seconds=-1))
        serve_as_of(server, snapshots, clock())
        tracker.poll(all_feeds=True)


def day_rows(tracker: Tracker, article_id: int) -> list[dict[str, object]]:
    """One row per local day of the replay, counted as daily_coverage counts (the day an item
    was first seen), then the totals: the days add up to the whole."""
    activity = {r.day: r for r in tracker.store.daily_activity()}
    linked: dict[str, list[DailyCoverageRow]] = {}
    for row in tracker.store.daily_coverage(article_id):
        linked.setdefault(row.day, []).append(row)
    rows: list[dict[str, object]] = []
    totals = dict.fromkeys(("polls", "new items", "linked", "story"), 0)
    for day in sorted(activity.keys() | linked.keys()):
        outlets = linked.get(day, [])
        active = activity.get(day)
        counts = {
            "polls": active.fetches if active else 0,
            "new items": active.items if active else 0,
            "linked": sum(o.items for o in outlets),
            "story": sum(o.story_items for o in outlets),
        }
        for key, count in counts.items():
            totals[key] += count
        rows.append(
            {
                "day": day,
                **counts,
                "linked by outlet": ", ".join(f"{o.outlet} {o.items}" for o in outlets),
            }
        )
    return [*rows, {"day": "total", **totals, "linked by outlet": ""}]


def _digests(
    tracker: Tracker, rows: list[dict[str, object]], echo: Callable[[str], None], *, kept: bool
) -> None:
    """Write each replayed day's digest, as the service does every morning, and show one."""
    days = [date.fromisoformat(str(r["day"])) for r in rows]
    for day in days:
        tracker.write_digest(day)
    # the day with the most same-story items; the earliest of equals
    busiest = days[max(range(len(rows)), key=lambda n: (rows[n]["story"], -n))]
    text = tracker.digest(busiest, formats=("md",), write=False).texts["md"]
    directory = tracker.config.digest.directory
    where = (
        f"to {directory} (open {directory / f'{busiest}.html'} in a browser)"
        if kept
        else f"to {directory}, a temporary directory removed when the demo ends: run "
        "'tracker demo --keep DIR' (or 'make demo') to keep them, with the database, in DIR"
    )
    echo(
        f"\nDaily digests of {days[0]} to {days[-1]} written {where}. Markdown, HTML and an "
        f"Atom feed; the start of {busiest}'s:\n"
    )
    echo("\n".join(text.splitlines()[:14]))


def _second_poll(tracker: Tracker, echo: Callable[[str], None]) -> None:
    before = tracker.store.counts()["items"]
    summary = tracker.poll(all_feeds=True)
    after = tracker.store.counts()["items"]
    echo(
        f"\nSecond poll of the last day: {plural(len(summary.results), 'feed')}, "
        f"{summary.count('not-modified')} not modified (HTTP 304), "
        f"{plural(summary.items_new, 'new item')}, {plural(after - before, 'row')} added."
    )


def _summaries(tracker: Tracker, article_id: int, echo: Callable[[str], None]) -> None:
    counts = tracker.store.counts()
    duplicates = tracker.store.duplicate_urls()
    tz = tracker.config.tz
    echo(
        f"Database: {plural(counts['items'], 'item')} from "
        f"{plural(counts['sightings'], 'sighting')}, {plural(duplicates, 'duplicate URL')}, "
        f"{plural(counts['item_versions'], 'earlier version')} kept, "
        f"{counts['article_items']} linked to the article."
    )
    order = ", ".join(
        f"{m.outlet} ({local_time(m.reported_at, tz)})"
        for m in tracker.store.first_movers(article_id)
    )
    echo(
        "Outlets in the order they first reported linked coverage (by the time they published "
        f"it, never later than first seen): {order}\n"
    )
    rows = tracker.coverage(article_id)
    echo(f"Coverage linked to the article, latest reported 25 of {len(rows)}:")
    shown = [
        {
            **fields_of(r),
            "reported": local_time(r.reported_at, tz),
            "why": ", ".join(r.reasons[:3]),
        }
        for r in rows[:25]
    ]
    echo(
        table(
            shown,
            ["reported", "outlet", "score", "tier", "title", "why"],
            tty=True,
            widths={"title": 60, "why": 45, "outlet": 15},
        )
    )
