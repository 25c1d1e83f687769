"""Pipeline cost against bare feedparser, measured in the same run on the same files.

Corpus: every bundled real feed file — tracker/demo_data/replay/*.xml (43 rebuilt RSS snapshots
of six outlets, August 2025) and tests/data/feeds/*.xml (23 real snapshots, 2015–2022).

Prints three medians over repeated runs and two ratios:
  bare      feedparser.parse(bytes) on every file
  pipeline  one cycle over loopback HTTP: fetch + parse + normalise + dedup + score + store,
            into a fresh database
  no-change a second cycle: every feed answers 304
Targets: pipeline / bare <= 1.3, no-change / bare <= 0.05.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.app import Tracker  # noqa: E402
from tracker.config import load_config  # noqa: E402
from tracker.localserver import FeedServer  # noqa: E402
from tracker.models import ManualClock  # noqa: E402

FILES = sorted((ROOT / "tracker" / "demo_data" / "replay").glob("*.xml")) + sorted(
    (ROOT / "tests" / "data" / "feeds").glob("*.xml")
)


def bare(bodies: list[bytes]) -> None:
    for body in bodies:
        feedparser.parse(body)


def timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def pipeline_run(server: FeedServer, paths: list[str], workdir: Path) -> tuple[float, float]:
    config = workdir / "config.yaml"
    feeds = "\n".join(f"      - {server.url(p)}" for p in paths)
    config.write_text(
        f"database: {workdir}/bench.db\narticles:\n  - path: {ROOT}/articles/"
        f"shifting-sands-of-support.txt\noutlets:\n  - name: Bench\n    feeds:\n{feeds}\n"
        "fetch:\n  allow_private_networks: true\n"
    )
    clock = ManualClock(datetime(2025, 8, 25, tzinfo=UTC))
    with Tracker(load_config(config), clock=clock) as t:
        t.init()
        full = timed(lambda: t.poll(all_feeds=True))
        nochange = timed(lambda: t.poll(all_feeds=True))
    return full, nochange


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bodies = [f.read_bytes() for f in FILES]
    bare_times, full_times, nochange_times = [], [], []
    with FeedServer() as server:
        paths = [f"/{i}/{f.name}" for i, f in enumerate(FILES)]
        for path, body in zip(paths, bodies, strict=True):
            server.add(path, body, last_modified="Mon, 25 Aug 2025 00:00:00 GMT")
        bare(bodies)  # warm imports and caches once, for both sides
        for _ in range(args.repeat):
            bare_times.append(timed(lambda: bare(bodies)))
            with tempfile.TemporaryDirectory() as tmp:
                full, nochange = pipeline_run(server, paths, Path(tmp))
            full_times.append(full)
            nochange_times.append(nochange)
    b, p, n = (statistics.median(x) for x in (bare_times, full_times, nochange_times))
    size = sum(map(len, bodies))
    print(f"corpus: {len(FILES)} real feed files, {size / 1e6:.1f} MB "
          f"(tracker/demo_data/replay, tests/data/feeds); median of {args.repeat} runs")
    print(f"bare feedparser.parse(bytes): {b * 1000:8.1f} ms")
    print(f"whole pipeline (loopback):    {p * 1000:8.1f} ms   ratio {p / b:.2f}  (target <= 1.3)")
    print(f"no-change cycle (all 304):    {n * 1000:8.1f} ms   ratio {n / b:.3f} (target <= 0.05)")


if __name__ == "__main__":
    main()
