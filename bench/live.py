"""The steady state of live feeds: each poll brings a few new items among many the feed sent
before, byte for byte (as a news feed polled every 15 minutes does).

Corpus: three real snapshots of tracker/demo_data/replay (The Guardian, Le Monde, NBC News, 19
Aug 2025), served over loopback; at every poll the first 5 items of each get new links and
guids, the rest are resent unchanged. After a first poll, --polls polls 15 simulated minutes
apart. Printed per poll (medians): the tracker's whole poll (``Tracker.poll``), split into the
poll itself (fetch, split, parse the new items, normalise, dedup, score, store) and the work
after the cycle (stories, model upkeep), against bare ``feedparser.parse`` of the same bodies.

    python bench/live.py [--polls 30] [--fresh 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.app import Tracker  # noqa: E402
from tracker.config import load_config  # noqa: E402
from tracker.demo.localserver import FeedServer, http_date  # noqa: E402
from tracker.models import ManualClock  # noqa: E402

REPLAY = ROOT / "tracker" / "demo_data" / "replay"
SNAPSHOTS = ("guardian-world-20250819.xml", "lemonde-en-20250819.xml", "nbc-world-20250819.xml")
ARTICLE = ROOT / "articles" / "shifting-sands-of-support.txt"
_ID = re.compile(rb"(<(?:link|guid)[^>]*>)([^<]+)(</(?:link|guid)>)")


def generation(body: bytes, gen: int, fresh: int) -> bytes:
    """The snapshot with its first ``fresh`` items made new (new link and guid)."""
    seen = {b"link": 0, b"guid": 0}

    def renew(match: re.Match[bytes]) -> bytes:
        tag = b"link" if match.group(1).startswith(b"<link") else b"guid"
        seen[tag] += 1
        if seen[tag] > fresh + (tag == b"link"):  # +1: the channel's own <link>
            return match.group(0)
        return match.group(1) + match.group(2) + b"?gen=%d" % gen + match.group(3)

    return _ID.sub(renew, body)


class TimedTracker(Tracker):
    """Records the time of the work after each cycle (stories, model upkeep)."""

    after = 0.0

    def after_cycle(self, started_at: datetime) -> None:
        started = time.perf_counter()
        super().after_cycle(started_at)
        self.after += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--fresh", type=int, default=5, help="new items per feed and poll")
    args = parser.parse_args()
    bodies = {name: (REPLAY / name).read_bytes() for name in SNAPSHOTS}
    whole, poll, after, bare = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="tracker-live-") as tmp, FeedServer() as server:
        home = Path(tmp)
        clock = ManualClock(datetime(2025, 8, 19, 12, tzinfo=UTC))

        def publish(gen: int) -> list[bytes]:
            served = [generation(body, gen, args.fresh) for body in bodies.values()]
            for name, body in zip(bodies, served, strict=True):
                server.add(f"/{name}", body, last_modified=http_date(clock()))
            return served

        publish(0)
        feeds = "\n".join(f"      - {server.url(f'/{name}')}" for name in bodies)
        (home / "config.yaml").write_text(
            f"database: {home}/tracker.db\narticles:\n  - path: {ARTICLE}\n"
            f"outlets:\n  - name: Live\n    feeds:\n{feeds}\n"
            "fetch:\n  allow_private_networks: true\n  per_host_gap: 0s\n"
            "  per_host_concurrency: 16\n",
            encoding="utf-8",
        )
        with TimedTracker(load_config(home / "config.yaml"), clock=clock) as t:
            t.init()
            t.poll(all_feeds=True)
            for gen in range(1, args.polls + 1):
                clock.set(clock() + timedelta(minutes=15))
                served = publish(gen)
                t.after = 0.0
                started = time.perf_counter()
                summary = t.poll(all_feeds=True)
                whole.append(time.perf_counter() - started)
                after.append(t.after)
                poll.append(whole[-1] - t.after)
                assert summary.items_new == args.fresh * len(bodies), summary
                started = time.perf_counter()
                for body in served:
                    feedparser.parse(body)
                bare.append(time.perf_counter() - started)
    b = statistics.median(bare)
    print(
        f"corpus: {len(bodies)} real snapshots of tracker/demo_data/replay, {args.fresh} new items "
        f"each per poll, the rest resent; median of {args.polls} polls"
    )
    print("| | per poll | / bare feedparser |")
    print("|---|---|---|")
    for name, times in (
        ("bare feedparser, whole bodies", bare),
        ("tracker, whole poll", whole),
        ("tracker, the poll itself", poll),
        ("tracker, after the cycle", after),
    ):
        m = statistics.median(times)
        print(f"| {name} | {m * 1000:.1f} ms | {m / b:.2f} |")


if __name__ == "__main__":
    main()
