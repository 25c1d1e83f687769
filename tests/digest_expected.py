"""Golden digests: a database built from the story's real archive, rendered with a fixed clock.

The database is what the tracker would have stored polling the six archived feeds (1,072 real
entries, 15–24 August 2025, ``tests/data/archive-2025``): each archived entry is stored at the
time the archive first saw it, through the pipeline's own steps (normalise, dedup and store,
score and link, fetch log and feed state). Added to it:

- Reuters' news sitemap and news-search feed (``tests/data/handmade/``), parsed by the real
  parser: the same two stories in two feeds, so the digest shows "also in";
- ``revisions-handmade.jsonl``: later wordings of two real Guardian items (the archive keeps
  only one wording of each entry), so the digest shows "changed since first seen";
- feed failures recorded by the pipeline's failure path: DW's world feed timing out through
  19 August, Euronews' feed answering 410 Gone on 18 August (so disabled).

``python tests/digest_expected.py`` rewrites ``tests/data/digest/`` after a deliberate change;
review the diff, and open the HTML, before committing. The tests compare against those files.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

from tracker.app import Tracker
from tracker.config import load_config
from tracker.errors import FeedError, FetchTimeoutError, HTTPStatusError
from tracker.ingest.clean import html_to_text
from tracker.ingest.normalise import normalise_item
from tracker.ingest.parse import parse_feed
from tracker.models import FeedState, FetchedFeed, ManualClock, Meta, ParsedFeed, ParsedItem
from tracker.update.pipeline import Read, _record_failure, cluster_new_items, record_read

DATA = Path(__file__).parent / "data"
ARCHIVE = DATA / "archive-2025"
HANDMADE = DATA / "handmade"
EXPECTED = DATA / "digest"
ARTICLE = Path(__file__).parent.parent / "articles" / "shifting-sands-of-support.txt"

#: archive file -> outlet; the feed URL is the one each archived entry names
ARCHIVE_OUTLETS = {
    "guardian-world": "The Guardian",
    "bloomberg-politics": "Bloomberg",
    "ft-world": "Financial Times",
    "lemonde-en": "Le Monde",
    "nbc-world": "NBC News",
    "bbc-world-europe": "BBC News",
}
REUTERS_SITEMAP = "https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml"
REUTERS_SEARCH = "https://www.bing.com/news/search?q=site%3Areuters.com+Ukraine&format=rss"
DW_ALL = "https://rss.dw.com/rdf/rss-en-all"
DW_WORLD = "https://rss.dw.com/rdf/rss-en-world"
EURONEWS = "https://www.euronews.com/rss?format=mrss&level=theme&name=news"

#: the tracker was set up just before the archive starts
STARTED = datetime(2025, 8, 15, 0, 0, tzinfo=UTC)
#: the morning after the archive ends: every golden digest is rendered at this time
NOW = datetime(2025, 8, 27, 6, 0, tzinfo=UTC)
#: a busy day, a quiet day after the archive ends, and the Atom feed of those and the days between
GOLDEN_DAYS = (date(2025, 8, 19), date(2025, 8, 26))
ATOM_DAYS = (date(2025, 8, 18), date(2025, 8, 19), date(2025, 8, 20))
#: entries of one feed first seen this close together were found by one poll
POLL_GAP = timedelta(minutes=2)

CONFIG = """\
database: {workdir}/tracker.db
timezone: Europe/London
articles:
  - path: {article}
    include_terms: [security guarantee, coalition of the willing, troops, peacekeeping]
outlets:
  - name: The Guardian
    aliases: [Guardian, theguardian.com]
    domains: [theguardian.com]
    feeds:
      - https://www.theguardian.com/world/rss
  - name: Bloomberg
    aliases: [Bloomberg.com, Bloomberg News]
    domains: [bloomberg.com]
    feeds:
      - https://www.bloomberg.com/politics/feeds/site.xml
  - name: Financial Times
    domains: [ft.com]
    feeds:
      - https://www.ft.com/world?format=rss
  - name: Le Monde
    domains: [lemonde.fr]
    feeds:
      - https://www.lemonde.fr/en/rss/une.xml
  - name: NBC News
    domains: [nbcnews.com]
    feeds:
      - https://feeds.nbcnews.com/nbcnews/public/world
  - name: BBC News
    domains: [bbc.co.uk]
    feeds:
      - https://feeds.bbci.co.uk/news/world/europe/rss.xml
  - name: Reuters
    domains: [reuters.com]
    feeds:
      - url: {reuters_sitemap}
        kind: sitemap
        note: news sitemap (no public RSS)
      - url: {reuters_search}
        note: news-search fallback restricted to reuters.com
  - name: DW
    aliases: [Deutsche Welle, DW.com]
    domains: [dw.com]
    feeds:
      - {dw_all}
      - {dw_world}
  - name: Euronews
    aliases: [Euronews.com]
    domains: [euronews.com]
    feeds:
      - {euronews}
digest:
  directory: {workdir}/digests
"""


def write_config(workdir: Path) -> Path:
    path = workdir / "config.yaml"
    path.write_text(
        CONFIG.format(
            workdir=workdir,
            article=ARTICLE,
            reuters_sitemap=REUTERS_SITEMAP,
            reuters_search=REUTERS_SEARCH,
            dw_all=DW_ALL,
            dw_world=DW_WORLD,
            euronews=EURONEWS,
        ),
        encoding="utf-8",
    )
    return path


# --- replaying the archive -------------------------------------------------------------------


def archived_entries() -> list[dict[str, Any]]:
    entries = []
    for stem, outlet in ARCHIVE_OUTLETS.items():
        for line in (ARCHIVE / f"{stem}.jsonl").read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            entries.append({**entry, "outlet": outlet, "seen": _time(entry["first_seen"])})
    return entries


def polls_of(entries: list[dict[str, Any]]) -> list[tuple[datetime, str, list[ParsedItem]]]:
    """Group each feed's entries into the polls that found them: (time, feed URL, items)."""
    polls: list[tuple[datetime, str, list[ParsedItem]]] = []
    by_feed: dict[str, list[dict[str, Any]]] = {}
    for entry in sorted(entries, key=lambda e: e["seen"]):
        by_feed.setdefault(entry["feed"], []).append(entry)
    for feed, found in by_feed.items():
        batch: list[dict[str, Any]] = []
        for entry in found:
            if batch and entry["seen"] - batch[0]["seen"] > POLL_GAP:
                polls.append(_poll(feed, batch))
                batch = []
            batch.append(entry)
        polls.append(_poll(feed, batch))
    return polls


def _poll(feed: str, batch: list[dict[str, Any]]) -> tuple[datetime, str, list[ParsedItem]]:
    # the poll ended when its last entry was seen: nothing is stored before the archive saw it
    when = max(e["seen"] for e in batch).replace(microsecond=0) + timedelta(seconds=1)
    return when, feed, [_parsed(e) for e in batch]


def _parsed(entry: dict[str, Any]) -> ParsedItem:
    # as the parser hands items on: title and author as plain text
    return ParsedItem(
        guid=entry.get("guid"),
        link=entry["link"],
        title=html_to_text(entry["title"]),
        summary_html=entry.get("summary_html") or "",
        author=html_to_text(entry.get("author") or "") or None,
        published=_time(entry["published"]) if entry.get("published") else None,
    )


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def store_poll(
    t: Tracker,
    clock: ManualClock,
    feed_url: str,
    items: list[ParsedItem],
    title: str | None = None,
) -> None:
    """What the pipeline does with a successfully parsed poll of a feed, at the clock's time."""
    feed = _feed(t, feed_url)
    now = clock()
    clean = tuple((normalise_item(p, feed.outlet_id, now), None) for p in items)
    meta = Meta(kind="rss20", title=title) if title else Meta()
    read = Read(meta, clean, (), body_hash="", at=now)
    fetched = FetchedFeed(feed.url, 200, {})
    record_read(t.context(), feed, fetched, read, t.context().profiles(), now, time.monotonic())
    # as after every cycle: new items join stories, and models grow with the coverage
    cluster_new_items(t.store, now)
    t.refresh_models()


def store_failure(t: Tracker, clock: ManualClock, feed_url: str, error: FeedError) -> None:
    """The pipeline's own failure path: fetch log, backoff, disabling after a 410."""
    _record_failure(t.context(), _feed(t, feed_url), error, clock(), time.monotonic())


def _feed(t: Tracker, url: str) -> FeedState:
    feed_id = next(f.id for f in t.feeds() if f.url == url)
    return t.store.feed_state(feed_id)


def handmade_polls() -> list[tuple[datetime, Callable[[Tracker, ManualClock], None]]]:
    sitemap = parse_feed((HANDMADE / "reuters-news-sitemap-handmade.xml").read_bytes())
    search = parse_feed((HANDMADE / "bing-news-search-reuters-handmade.xml").read_bytes())
    events: list[tuple[datetime, Callable[[Tracker, ManualClock], None]]] = []

    def poll(url: str, feed: ParsedFeed, until: datetime) -> Callable[..., None]:
        # a live feed lists what was published by the time of the poll
        listed = [i for i in feed.items if i.published is None or i.published <= until]
        return lambda t, clock: store_poll(t, clock, url, listed, feed.title)

    for hour in (9, 12, 18, 21):
        when = datetime(2025, 8, 19, hour, 30, tzinfo=UTC)
        events.append((when, poll(REUTERS_SITEMAP, sitemap, when)))
        events.append((when + timedelta(minutes=5), poll(REUTERS_SEARCH, search, when)))
    for line in (DATA / "digest" / "revisions-handmade.jsonl").read_text().splitlines():
        revision = json.loads(line)
        item = _parsed(revision)
        events.append(
            (
                _time(revision["seen"]),
                lambda t, clock, url=revision["feed"], item=item: store_poll(t, clock, url, [item]),
            )
        )
    return events


def failures() -> list[tuple[datetime, Callable[[Tracker, ManualClock], None]]]:
    events: list[tuple[datetime, Callable[[Tracker, ManualClock], None]]] = []
    gone = HTTPStatusError("HTTP 410 Gone", 410)
    events.append(
        (datetime(2025, 8, 18, 8, 0, tzinfo=UTC), lambda t, c: store_failure(t, c, EURONEWS, gone))
    )
    for hour in (4, 10, 16, 22):
        when = datetime(2025, 8, 19, hour, 0, tzinfo=UTC)
        timeout = FetchTimeoutError("feed took longer than the 60s deadline")
        events.append((when, lambda t, c, e=timeout: store_failure(t, c, DW_WORLD, e)))
    events.append(
        (datetime(2025, 8, 20, 4, 0, tzinfo=UTC), lambda t, c: store_poll(t, c, DW_WORLD, []))
    )
    for day in range(15, 25):
        when = datetime(2025, 8, day, 6, 0, tzinfo=UTC)
        events.append((when, lambda t, c: store_poll(t, c, DW_ALL, [])))
    return events


def build(workdir: Path) -> Tracker:
    """The golden database in ``workdir``, with the clock left at NOW."""
    clock = ManualClock(STARTED)
    t = Tracker(load_config(write_config(workdir)), clock=clock)
    t.init()
    events: list[tuple[datetime, Callable[[Tracker, ManualClock], None]]] = [
        (when, lambda t, c, url=url, items=items: store_poll(t, c, url, items))
        for when, url, items in polls_of(archived_entries())
    ]
    events += handmade_polls() + failures()
    for when, event in sorted(events, key=lambda e: e[0]):
        clock.set(when)
        event(t, clock)
    clock.set(NOW)
    return t


@contextmanager
def golden_tracker() -> Iterator[Tracker]:
    with TemporaryDirectory(prefix="tracker-digest-") as tmp:
        t = build(Path(tmp))
        try:
            yield t
        finally:
            t.close()


def writing_to(t: Tracker, directory: Path, **digest: Any) -> Tracker:
    """Another tracker on the same database and clock, writing digests to ``directory``."""
    settings = replace(t.config.digest, directory=directory, **digest)
    return Tracker(replace(t.config, digest=settings), clock=t.clock)


def golden_files(t: Tracker) -> dict[str, str]:
    """File name -> expected text, for every golden file."""
    files = {}
    for day in GOLDEN_DAYS:
        out = t.digest(day, formats=("md", "html"), write=False)
        files[f"{day}.md"] = out.texts["md"]
        files[f"{day}.html"] = out.texts["html"]
    with TemporaryDirectory(prefix="tracker-digests-") as tmp, writing_to(t, Path(tmp)) as w:
        for day in ATOM_DAYS:
            w.write_digest(day)
        files["digests.atom"] = (Path(tmp) / "digests.atom").read_text("utf-8")
    return files


def main() -> None:
    EXPECTED.mkdir(exist_ok=True)
    with golden_tracker() as t:
        for name, text in golden_files(t).items():
            (EXPECTED / name).write_bytes(text.encode("utf-8"))
            print(EXPECTED / name)


if __name__ == "__main__":
    main()
