"""Query cost at 10,000 and 1,000,000 items, measured in the same run on the same row shapes.

Corpus: the real feed items of the story's first six feeds in tests/data/archive-2025 (1,072
items, 15-24 August 2025; the ten feeds added later are left out so that a period, below, holds
about 10,000 items and a 10,000-item database is one period), normalised and scored against the
shipped article by the tracker's own code (its relevance model learned on those items, as
``tracker rescore`` does).
Each database repeats them: copy k belongs to outlet group k % 10 ("The Guardian 3", ...) and to
a period of ten copies (10 days), the periods filled from the newest back so that the newest is
complete at any size, with unique URLs and guids. Each period has its own
tracked article, linked to the copies of the items the real article links (real score, tier
and reasons). So one article's coverage, and a week's items, are the same size at both scales
while the database around it grows 100 times, as a long-running tracker's does. Tables the
timed queries never read (item_keys, item_versions, fetches) are left empty.

Timed through the library API (what the CLI runs): median of --repeat runs after a warm-up,
runs alternating between the two databases so both see the same background load:
  coverage   SELECT * FROM coverage WHERE article_id = ? ORDER BY first_seen_at DESC
  search     Tracker.search("troops"): bm25 over every match, top 20
  daily      SELECT * FROM daily_coverage WHERE article_id = ? AND day over 14 days
  export     Tracker.export(csv) of one article's coverage, and jsonl of every article's
             (median of 3; its peak Python memory measured in a separate run)
Targets: each <= 50 ms at 1M (exports excluded); per-row cost at 1M <= 1.2x at 10k (per row
returned; per matching row for search, whose work is ranking every match).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.app import Tracker  # noqa: E402
from tracker.config import load_config  # noqa: E402
from tracker.ingest.articles import read_article  # noqa: E402
from tracker.ingest.normalise import normalise_item  # noqa: E402
from tracker.models import ParsedItem  # noqa: E402
from tracker.score.model import build_model  # noqa: E402
from tracker.score.relevance import ArticleProfile, score_doc  # noqa: E402
from tracker.score.text import Doc  # noqa: E402
from tracker.storage import Store, to_db  # noqa: E402
from tracker.storage.schema import _m9_index_only_text_changes  # noqa: E402

ARCHIVE = ROOT / "tests" / "data" / "archive-2025"
#: the story's first six feeds (see the docstring)
FEEDS = (
    "bbc-world-europe",
    "bloomberg-politics",
    "ft-world",
    "guardian-world",
    "lemonde-en",
    "nbc-world",
)
ARTICLE = ROOT / "articles" / "shifting-sands-of-support.txt"
GROUPS = 10
PERIOD = timedelta(days=10)
SEARCH = "troops"


@dataclass(frozen=True)
class Shape:
    """One real item, normalised and scored: the template every synthetic row copies."""

    outlet: str
    feed: str
    url: str
    title: str
    summary: str
    summary_html: str
    author: str | None
    published: datetime | None
    first_seen: datetime
    content_hash: str
    link: tuple[float, str, str] | None  # score, tier, reasons when the real article links it


def real_shapes() -> list[Shape]:
    """The archive items as the pipeline stores them, scored as ``tracker rescore`` would."""
    raw_items, cleaned = [], []
    for path in (ARCHIVE / f"{feed}.jsonl" for feed in FEEDS):
        for line in path.read_text(encoding="utf-8").splitlines():
            raw = json.loads(line)
            first_seen = datetime.fromisoformat(raw["first_seen"]).astimezone(UTC)
            parsed = ParsedItem(
                guid=raw["link"],
                link=raw["link"],
                title=raw["title"],
                summary_html=raw["summary_html"] or "",
                author=raw["author"],
                published=datetime.fromisoformat(raw["published"]) if raw["published"] else None,
            )
            raw_items.append((path.stem, raw, first_seen))
            cleaned.append(normalise_item(parsed, 1, first_seen))
    profile = _article_profile(cleaned)
    shapes = []
    for (outlet, raw, first_seen), item in zip(raw_items, cleaned, strict=True):
        score = score_doc(profile, Doc.of(item.title, item.summary))
        link = None
        if score.tier != "none":
            reasons = json.dumps(list(score.reasons), ensure_ascii=False)
            link = (score.score, score.tier, reasons)
        shapes.append(
            Shape(
                outlet=outlet,
                feed=raw["feed"],
                url=item.url or raw["link"],
                title=item.title,
                summary=item.summary,
                summary_html=item.summary_html,
                author=item.author,
                published=item.published_at,
                first_seen=first_seen,
                content_hash=item.content_hash,
                link=link,
            )
        )
    shapes.sort(key=lambda s: s.first_seen)
    return shapes


def _article_profile(items: list[Any]) -> ArticleProfile:
    draft = read_article(ARTICLE.read_bytes(), location=str(ARTICLE))
    config = load_config(ROOT / "config.yaml")
    names = [n for o in config.outlets for n in (o.name, *o.aliases)]
    model = build_model(
        draft.title,
        draft.text,
        [Doc.of(i.title, i.summary) for i in items],
        summaries=[i.summary for i in items],
        ignore_names=names,
    )
    r = config.relevance
    return ArticleProfile(1, model, r.threshold, r.story_threshold)


def build(path: Path, shapes: list[Shape], size: int) -> None:
    """A tracker database of ``size`` items copied from the real shapes (see the docstring)."""
    store = Store.open(path, create=True)
    db = store.db
    conn = db.conn
    # the FTS index is built once at the end rather than row by row through its triggers
    for trigger in ("items_ai", "items_ad", "items_au"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    outlets = sorted({s.outlet for s in shapes})
    # items and stories point at each other; the bulk load writes both sides consistently
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("BEGIN")
    outlet_ids, feed_ids = {}, {}
    for group in range(GROUPS):
        for name in outlets:
            key = (group, name)
            cursor = conn.execute("INSERT INTO outlets (name) VALUES (?)", (f"{name} {group}",))
            outlet_ids[key] = cursor.lastrowid
            feed = conn.execute(
                "INSERT INTO feeds (url, outlet_id, enabled, added_at) VALUES (?, ?, 1, ?)",
                (f"https://feeds.example/{group}/{name}", cursor.lastrowid, "2025-08-01T00:00:00Z"),
            )
            feed_ids[key] = feed.lastrowid
    made = 0
    copies = (size + len(shapes) - 1) // len(shapes)
    for copy in range(copies):
        # periods are filled from the newest back: the newest is complete at any size (a
        # tracker's last week is as busy in a large store as in a small one)
        group, period = copy % GROUPS, (copies - 1) // GROUPS - copy // GROUPS
        if copy % GROUPS == 0:
            conn.execute(
                "INSERT INTO articles (id, location, title, key_terms, added_at) "
                "VALUES (?, ?, ?, '{}', ?)",
                (period + 1, f"period-{period}", f"Story of period {period}", "2025-08-01"),
            )
        batch = shapes[: size - made]
        _insert_copy(conn, batch, copy, group, period, outlet_ids, feed_ids)
        made += len(batch)
    conn.execute("COMMIT")
    db["items"].enable_fts(["title", "summary"], create_triggers=True, replace=True)
    _m9_index_only_text_changes(db)  # the update trigger as the schema has it now
    store.close()


def _insert_copy(
    conn: Any,
    shapes: list[Shape],
    copy: int,
    group: int,
    period: int,
    outlet_ids: dict[tuple[int, str], int],
    feed_ids: dict[tuple[int, str], int],
) -> None:
    shift = PERIOD * period
    first_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0]
    items, stories, sightings, links = [], [], [], []
    for offset, s in enumerate(shapes):
        item_id = first_id + offset
        seen = to_db(s.first_seen + shift)
        key = (group, s.outlet)
        url = f"{s.url}?copy={copy}"
        published = to_db(s.published + shift) if s.published else None
        where = (item_id, outlet_ids[key], feed_ids[key])
        text = (s.title, s.summary, s.summary_html, s.author)
        items.append((*where, url, url, url, *text, published, seen, seen, s.content_hash, item_id))
        stories.append((item_id, s.title, seen, item_id, outlet_ids[key]))
        sightings.append((item_id, feed_ids[key], seen, seen, s.content_hash))
        if s.link:
            links.append((period + 1, item_id, *s.link, seen, seen))
    conn.executemany(
        "INSERT INTO stories (id, title, first_seen_at, first_item_id, first_outlet_id) "
        "VALUES (?, ?, ?, ?, ?)",
        stories,
    )
    conn.executemany(
        "INSERT INTO items (id, outlet_id, feed_id, guid, url, canonical_url, title, summary, "
        "summary_html, author, published_at, first_seen_at, last_seen_at, content_hash, "
        "version, story_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
        items,
    )
    conn.executemany(
        "INSERT INTO sightings (item_id, feed_id, first_seen_at, last_seen_at, times_seen, "
        "content_hash) VALUES (?, ?, ?, ?, 1, ?)",
        sightings,
    )
    conn.executemany(
        "INSERT INTO article_items (article_id, item_id, score, tier, reasons, linked_at, "
        "scored_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        links,
    )


class Discard(io.TextIOBase):
    """An export destination that keeps nothing, so only the exporter's work is timed."""

    def write(self, text: str) -> int:
        return len(text)


@dataclass
class Result:
    name: str
    seconds: float  # the median
    rows: int
    peak_bytes: int = 0
    best: float = 0.0  # the fastest run: the cost with the least interference

    @property
    def per_row(self) -> float:
        return self.seconds / max(self.rows, 1)

    @property
    def best_per_row(self) -> float:
        return self.best / max(self.rows, 1)


Case = tuple[str, Callable[[], int]]


def interleaved(small: list[Case], large: list[Case], repeat: int) -> list[tuple[Result, Result]]:
    """Median times of each case at both sizes, runs alternating between the two databases so
    that both see the same background load (two shared cores are noisy)."""
    pairs = []
    for (name, at_small), (_, at_large) in zip(small, large, strict=True):
        rows = (at_small(), at_large())  # warm-up: page cache, statement cache
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeat):
            for func, series in ((at_small, times[0]), (at_large, times[1])):
                started = time.perf_counter()
                func()
                series.append(time.perf_counter() - started)
        pairs.append(
            (
                Result(name, statistics.median(times[0]), rows[0], best=min(times[0])),
                Result(name, statistics.median(times[1]), rows[1], best=min(times[1])),
            )
        )
    return pairs


def cases(t: Tracker, article: int, *, everything: bool) -> list[Case]:
    def rows_of(sql: str, params: tuple[Any, ...]) -> int:
        with t.query(sql, params) as rows:
            return sum(1 for _ in rows)

    with t.query(
        "SELECT date(min(coalesce(published_at, first_seen_at))) AS s FROM coverage "
        "WHERE article_id = ?",
        (article,),
    ) as rows:
        start = next(iter(rows))["s"]
    end = (datetime.fromisoformat(start) + timedelta(days=14)).date().isoformat()
    matches = len(t.search(SEARCH, limit=0))
    found: list[Case] = [
        (
            "coverage, one article",
            lambda: rows_of(
                "SELECT * FROM coverage WHERE article_id = ? ORDER BY first_seen_at DESC",
                (article,),
            ),
        ),
        (f"search {SEARCH!r}, top 20", lambda: len(t.search(SEARCH)) and matches),
        (
            "daily_coverage, 14 days",
            lambda: rows_of(
                "SELECT * FROM daily_coverage WHERE article_id = ? AND day >= ? AND day < ?",
                (article, start, end),
            ),
        ),
        ("export csv, one article", lambda: t.export(Discard(), "csv", article_id=article)),
    ]
    if everything:
        found.append(("export jsonl, everything", lambda: t.export(Discard(), "jsonl")))
    return found


def export_memory(t: Tracker) -> int:
    """Peak Python memory of a whole export (tracemalloc slows allocation: not timed)."""
    tracemalloc.start()
    t.export(Discard(), "jsonl")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def database(workdir: Path, shapes: list[Shape], size: int, keep: Path | None) -> Path:
    where = (keep or workdir) / f"items-{size}"
    where.mkdir(parents=True, exist_ok=True)
    db = where / "tracker.db"
    if not db.exists():
        started = time.perf_counter()
        build(db, shapes, size)
        print(f"  built {size:,} items in {time.perf_counter() - started:.0f} s: {db}", flush=True)
    config = where / "config.yaml"
    config.write_text(f"database: {db}\ntimezone: Europe/London\n", encoding="utf-8")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument(
        "--keep", type=Path, help="build the databases here and reuse them on the next run"
    )
    args = parser.parse_args()
    shapes = real_shapes()
    linked = sum(1 for s in shapes if s.link)
    print(
        f"corpus: {len(shapes)} real items of tests/data/archive-2025 ({linked} linked to the "
        f"shipped article), copied into {args.small:,} and {args.large:,} item databases; "
        f"median of {args.repeat} runs"
    )
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        small = Tracker(load_config(database(Path(tmp), shapes, args.small, args.keep)))
        large = Tracker(load_config(database(Path(tmp), shapes, args.large, args.keep)))
        with small, large:
            # the same article at both scales: a period complete in both
            middle = 1 + (args.large // len(shapes) // GROUPS) // 2
            pairs = interleaved(
                cases(small, 1, everything=False),
                cases(large, middle, everything=False),
                args.repeat,
            )
            pairs += interleaved(
                cases(small, 1, everything=True)[-1:], cases(large, middle, everything=True)[-1:], 3
            )
            pairs[-1][0].peak_bytes = export_memory(small)
            pairs[-1][1].peak_bytes = export_memory(large)
    report(args.small, args.large, [p[0] for p in pairs], [p[1] for p in pairs])


def report(small: int, large: int, at_small: list[Result], at_large: list[Result]) -> None:
    print(
        f"{'query':28} {'rows':>17} {f'{small:,} items':>14} {f'{large:,} items':>16} "
        f"{'per-row ratio (median, best)':>30}"
    )
    for s, big in zip(at_small, at_large, strict=True):
        ratio = big.per_row / s.per_row
        best = big.best_per_row / s.best_per_row
        verdict = "ok" if ratio <= 1.2 else "OVER"
        target = ""
        if not big.name.startswith("export"):
            target = f"  {'ok' if big.seconds <= 0.05 else 'OVER'} <= 50 ms"
        print(
            f"{s.name:28} {s.rows:>8,} {big.rows:>8,} {s.seconds * 1000:>11.2f} ms "
            f"{big.seconds * 1000:>13.2f} ms {ratio:>10.2f}x {best:>7.2f}x {verdict}{target}"
        )
        if big.peak_bytes:
            print(
                f"{'':28} peak Python memory while exporting: {s.peak_bytes / 1e6:.1f} MB at "
                f"{s.rows:,} rows, {big.peak_bytes / 1e6:.1f} MB at {big.rows:,} rows"
            )
    print("times: medians; rows: returned (search: matching rows, all ranked, the top 20 returned)")


if __name__ == "__main__":
    main()
