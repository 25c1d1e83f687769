"""Pipeline cost against bare feedparser, measured in the same run on the same files.

Corpus: every bundled real feed file — tracker/demo_data/replay/*.xml (43 rebuilt RSS snapshots
of six outlets, August 2025) and tests/data/feeds/*.xml (23 real snapshots, 2015–2022).

Prints three medians over repeated runs and two ratios:
  bare      feedparser.parse(bytes) on every file
  pipeline  one cycle over loopback HTTP: fetch + parse + normalise + dedup + score + store,
            into a fresh database. The files are served by tracker.localserver in another
            process (HTTP/1.1 keep-alive, ETag / Last-Modified, 304s), as a CDN would serve them.
  no-change a second cycle: every feed answers 304
Targets: pipeline / bare <= 1.3, no-change / bare <= 0.05.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
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


def pipeline_run(base: str, paths: list[str], workdir: Path, workers: int) -> tuple[float, float]:
    config = workdir / "config.yaml"
    feeds = "\n".join(f"      - {base}{p}" for p in paths)
    config.write_text(
        f"database: {workdir}/bench.db\narticles:\n  - path: {ROOT}/articles/"
        f"shifting-sands-of-support.txt\noutlets:\n  - name: Bench\n    feeds:\n{feeds}\n"
        "fetch:\n  allow_private_networks: true\n  per_host_gap: 0s\n  per_host_concurrency: 8\n"
        f"polling:\n  workers: {workers}\n"
    )
    clock = ManualClock(datetime(2025, 8, 25, tzinfo=UTC))
    with Tracker(load_config(config), clock=clock) as t:
        t.init()
        full = timed(lambda: t.poll(all_feeds=True))
        nochange = timed(lambda: t.poll(all_feeds=True))
    return full, nochange


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the feed server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4, help="polling.workers (default 4)")
    args = parser.parse_args()
    bodies = [f.read_bytes() for f in FILES]
    bare_times, full_times, nochange_times = [], [], []
    with tempfile.TemporaryDirectory() as served:
        paths = []
        for i, f in enumerate(FILES):
            shutil.copy(f, Path(served) / f"{i}-{f.name}")
            paths.append(f"/{i}-{f.name}")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tracker.demo.localserver", served, str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(port)
            bare(bodies)  # warm imports and caches once, for both sides
            for _ in range(args.repeat):
                bare_times.append(timed(lambda: bare(bodies)))
                with tempfile.TemporaryDirectory() as tmp:
                    full, nochange = pipeline_run(
                        f"http://127.0.0.1:{port}", paths, Path(tmp), args.workers
                    )
                full_times.append(full)
                nochange_times.append(nochange)
        finally:
            server.terminate()
            server.wait()
    b, p, n = (statistics.median(x) for x in (bare_times, full_times, nochange_times))
    size = sum(map(len, bodies))
    print(
        f"corpus: {len(FILES)} real feed files, {size / 1e6:.1f} MB "
        f"(tracker/demo_data/replay, tests/data/feeds); median of {args.repeat} runs, "
        f"{args.workers} workers"
    )
    print(f"bare feedparser.parse(bytes): {b * 1000:8.1f} ms")
    print(f"whole pipeline (loopback):    {p * 1000:8.1f} ms   ratio {p / b:.2f}  (target <= 1.3)")
    print(f"no-change cycle (all 304):    {n * 1000:8.1f} ms   ratio {n / b:.3f} (target <= 0.05)")


if __name__ == "__main__":
    main()
