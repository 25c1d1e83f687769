"""What a polling cycle costs as the store grows: one cycle bringing 60 new items, with 10,000
and with 1,000,000 items stored, measured in the same run (issue 15: the 1M cycle must cost at
most 1.2x the 10k one).

Corpus: the databases of bench/query.py (1,072 real items of tests/data/archive-2025 copied into
10,000 and 1,000,000 item databases, about 1,400 of them linked to one tracked article, and as
many first seen in the week before the cycles at both sizes (printed): the shipped article, with
its model learned from the real items and settled, as a running tracker's is between rebuilds).
Each cycle polls one feed over loopback whose body brings 60 real items (from
tracker/demo_data/replay) never stored before, with a new
Last-Modified: fetch, split, parse, normalise, dedup against the whole store, score, store,
cluster the week's items, model upkeep (``Tracker.poll``). Cycles alternate between the two
databases; medians of --repeat. Also timed at each size: one model rebuild from the newest items
(``Upkeep.rebuild``) and one bounded rescore step (``Upkeep.rescore``, ITEMS_PER_STEP items).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from query import ARTICLE, _article_profile, build, real_shapes  # noqa: E402

from tracker.app import Tracker  # noqa: E402
from tracker.config import load_config  # noqa: E402
from tracker.demo.localserver import FeedServer, http_date  # noqa: E402
from tracker.models import ManualClock  # noqa: E402
from tracker.storage import Store, from_db, to_db  # noqa: E402
from tracker.update.upkeep import ITEMS_PER_STEP  # noqa: E402

REPLAY = ROOT / "tracker" / "demo_data" / "replay"
NEW_ITEMS = 60
_ITEM = re.compile(rb"<item>.*?</item>", re.S)


def fresh_items() -> list[bytes]:
    """Real items of the replay, each once: every cycle serves 60 of them with unique links."""
    seen, items = set(), []
    for path in sorted(REPLAY.glob("*.xml")):
        for item in _ITEM.findall(path.read_bytes()):
            if item not in seen:
                seen.add(item)
                items.append(item)
    return items


def body(items: list[bytes], cycle: int) -> bytes:
    marked = [
        re.sub(rb"(</?(?:link|guid)[^>]*>)([^<]+)(</)", rb"\1\2?cycle=%d\3" % cycle, item)
        for item in items
    ]
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Bench</title>'
        + b"".join(marked)
        + b"</channel></rss>"
    )


def settle(db: Path, shapes: list, feed_url: str) -> None:
    """One tracked article (the shipped one, its real model, nothing left to rescore) and one
    enabled feed, the bench's: the other bench feeds and period articles are set aside."""
    store = Store.open(db)
    conn = store.db.conn
    conn.execute("UPDATE feeds SET enabled = 0")
    keep = conn.execute("SELECT max(article_id) FROM article_items").fetchone()[0]
    conn.execute("DELETE FROM article_items WHERE article_id != ?", (keep,))
    conn.execute("DELETE FROM article_outlets WHERE article_id != ?", (keep,))
    conn.execute("DELETE FROM articles WHERE id != ?", (keep,))
    model = _article_profile(shapes).model  # learned from the real items, as rescore does
    newest = conn.execute("SELECT max(id) FROM items").fetchone()[0]
    conn.execute(
        "UPDATE articles SET location = ?, text = ?, title = ?, model = ?, rescore_cursor = NULL "
        "WHERE id = ?",
        (
            str(ARTICLE.resolve()),
            ARTICLE.read_text(encoding="utf-8"),
            ARTICLE.read_text(encoding="utf-8").splitlines()[0],
            json.dumps({**model.to_json(), "background": 10_000, "built_upto": newest}),
            keep,
        ),
    )
    store.close()


def tracker_for(workdir: Path, db: Path, feed_url: str) -> tuple[Tracker, ManualClock]:
    config = workdir / f"{db.stem}.yaml"
    config.write_text(
        f"database: {db}\narticles:\n  - path: {ARTICLE}\noutlets:\n  - name: Bench\n"
        f"    feeds:\n      - {feed_url}\nfetch:\n  allow_private_networks: true\n"
        "  per_host_gap: 0s\n",
        encoding="utf-8",
    )
    store = Store.open(db)
    newest = from_db(store.db.execute("SELECT max(first_seen_at) FROM items").fetchone()[0])
    store.close()
    clock = ManualClock(newest + timedelta(hours=1))
    t = Tracker(load_config(config), clock=clock)
    t.sync_config()  # outlets and feeds; the article is in place already
    return t, clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the databases here and reuse them (the cycles run on copies)",
    )
    args = parser.parse_args()
    shapes = real_shapes()
    items = fresh_items()
    assert len(items) >= NEW_ITEMS * (2 * args.repeat + 2)
    print(
        f"corpus: {len(shapes)} real items (tests/data/archive-2025) copied into {args.small:,} "
        f"and {args.large:,} item databases (bench/query.py); each cycle brings {NEW_ITEMS} real "
        f"items never stored (tracker/demo_data/replay); median of {args.repeat} cycles"
    )
    with tempfile.TemporaryDirectory(prefix="tracker-scale-") as tmp, FeedServer() as server:
        workdir = Path(tmp)
        runs: dict[int, dict[str, list[float]]] = {}
        trackers = {}
        for size in (args.small, args.large):
            where = (args.keep or workdir) / f"scale-{size}"
            where.mkdir(parents=True, exist_ok=True)
            db = where / "tracker.db"
            url = server.add(f"/bench-{size}.xml", b"<rss/>")
            if not db.exists():
                started = time.perf_counter()
                build(db, shapes, size)
                settle(db, shapes, url)
                print(
                    f"  built {size:,} items in {time.perf_counter() - started:.0f} s", flush=True
                )
            # the cycles run on a copy: a kept database stays as built, for the next run
            copy = workdir / f"scale-{size}.db"
            shutil.copyfile(db, copy)
            trackers[size] = tracker_for(workdir, copy, url)
            t, clock = trackers[size]
            week = t.store.db.execute(
                "SELECT count(*) FROM items WHERE first_seen_at >= ?",
                (to_db(clock() - timedelta(days=7)),),
            ).fetchone()[0]
            print(f"  {size:,} items: {week:,} of them first seen in the last week", flush=True)
            runs[size] = {"cycle": [], "rebuild": [], "rescore step": []}
        cycle = 0
        for round_ in range(args.repeat + 1):
            for size, (t, clock) in trackers.items():
                cycle += 1
                batch = items[cycle * NEW_ITEMS : (cycle + 1) * NEW_ITEMS]
                clock.set(clock() + timedelta(minutes=15))
                server.add(
                    f"/bench-{size}.xml", body(batch, cycle), last_modified=http_date(clock())
                )
                started = time.perf_counter()
                summary = t.poll(all_feeds=True)
                elapsed = time.perf_counter() - started
                assert summary.items_new == NEW_ITEMS, summary
                if round_:  # the first cycle warms caches (and builds the models' window)
                    runs[size]["cycle"].append(elapsed)
        for size, (t, _) in trackers.items():
            article = t.articles()
            started = time.perf_counter()
            t.upkeep.rebuild(article)
            runs[size]["rebuild"].append(time.perf_counter() - started)
            t.store.db.execute("UPDATE articles SET rescore_cursor = (SELECT max(id) FROM items)")
            started = time.perf_counter()
            t.upkeep.rescore(ITEMS_PER_STEP)
            runs[size]["rescore step"].append(time.perf_counter() - started)
            t.close()
    small, large = (
        {k: statistics.median(v) for k, v in runs[s].items()} for s in (args.small, args.large)
    )
    print(f"| | {args.small:,} items | {args.large:,} items | ratio |")
    print("|---|---|---|---|")
    for name in ("cycle", "rebuild", "rescore step"):
        ratio = large[name] / small[name]
        print(
            f"| {name} | {small[name] * 1000:.0f} ms | {large[name] * 1000:.0f} ms | {ratio:.2f} |"
        )
    verdict = "ok" if large["cycle"] <= 1.2 * small["cycle"] else "OVER"
    print(f"a cycle of {NEW_ITEMS} new items at {args.large:,}: {verdict} (target <= 1.2x)")


if __name__ == "__main__":
    main()
