"""The bench's corpus and its loopback server, shared by the tracker's side and reader's.

Standard library only: bench/reader_side.py imports it from lemon24/reader's own virtual
environment, where the tracker is not installed.

Corpus: every bundled real feed file. Cold: tracker/demo_data/replay/*.xml (43 RSS snapshots of
six outlets, rebuilt from a public archive of August 2025) and tests/data/feeds/*.xml (23 real
snapshots, 2015-2022). Steady: the six replayed feeds served day by day, 15-24 August 2025, each
feed serving its newest snapshot up to that day (its first before it has one), with the day's
date as Last-Modified: consecutive snapshots overlap as a live feed's do, and a feed with no new
snapshot that day answers 304.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPLAY = ROOT / "tracker" / "demo_data" / "replay"
FEEDS = ROOT / "tests" / "data" / "feeds"


def cold_files() -> list[Path]:
    return sorted(REPLAY.glob("*.xml")) + sorted(FEEDS.glob("*.xml"))


def replay_days() -> list[tuple[datetime, dict[str, Path]]]:
    """Each replayed day with the snapshot every feed serves that day."""
    snapshots: dict[str, dict[str, Path]] = defaultdict(dict)
    for path in sorted(REPLAY.glob("*.xml")):
        feed, day = path.stem.rsplit("-", 1)
        snapshots[feed][day] = path
    days = sorted({day for by_day in snapshots.values() for day in by_day})
    served = []
    for day in days:
        today = {}
        for feed, by_day in snapshots.items():
            upto = [d for d in sorted(by_day) if d <= day]
            today[feed] = by_day[upto[-1] if upto else min(by_day)]
        served.append((datetime.strptime(day, "%Y%m%d").replace(hour=23, tzinfo=UTC), today))
    return served


def publish(directory: Path, name: str, source: Path, when: datetime) -> bool:
    """Serve ``source`` as ``name`` from now on, last modified ``when``; False when it was
    already served (the server then answers 304 as before)."""
    target = directory / name
    if target.exists() and target.read_bytes() == source.read_bytes():
        return False
    staging = directory / f".{name}.tmp"
    shutil.copyfile(source, staging)
    os.utime(staging, (when.timestamp(), when.timestamp()))
    staging.replace(target)
    return True


class _Handler(BaseHTTPRequestHandler):
    """Serves the directory's files as feeds: strong ETag, Last-Modified from the file's time,
    304 to a matching conditional request (as outlets' CDNs do), HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    directory = Path(".")

    def do_GET(self) -> None:
        path = self.directory / self.path.lstrip("/").split("?", 1)[0]
        try:
            body = path.read_bytes()
            modified = format_datetime(
                datetime.fromtimestamp(path.stat().st_mtime, UTC), usegmt=True
            )
        except OSError:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(directory: str, port: int) -> None:
    _Handler.directory = Path(directory)
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.serve_forever(poll_interval=0.05)


def start_server(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The server in a process of its own (as an outlet's server is), on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, __file__, str(directory), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the feed server did not start")


Client = Callable[[list[str]], Callable[[], object]]
COLD_DAY = datetime(2025, 8, 25, tzinfo=UTC)


def run_modes(directory: Path, base: str, client: Client) -> dict[str, float]:
    """Seconds a poller spends in each mode. ``client(urls)`` sets one up on a fresh database
    and returns its "poll every feed once" function."""
    cold = directory / "cold"
    cold.mkdir()
    names = []
    for n, path in enumerate(cold_files()):
        publish(cold, f"{n}-{path.name}", path, COLD_DAY)
        names.append(f"{base}/cold/{n}-{path.name}")
    poll = client(names)
    times = {"cold": _timed(poll), "no change": _timed(poll)}
    steady = directory / "steady"
    steady.mkdir()
    days = replay_days()
    (first, feeds), later = days[0], days[1:]
    for feed, path in feeds.items():
        publish(steady, f"{feed}.xml", path, first)
    poll = client([f"{base}/steady/{feed}.xml" for feed in sorted(feeds)])
    poll()  # the first day is a cold start, not the steady state
    times["steady"] = 0.0
    for day, feeds in later:
        for feed, path in feeds.items():
            publish(steady, f"{feed}.xml", path, day)
        times["steady"] += _timed(poll)
    return times


def steady_bodies() -> list[bytes]:
    """The bodies a poller receives in the steady state: each feed's snapshot on each day after
    the first that it changed."""
    days = replay_days()
    bodies, served = [], dict(days[0][1])
    for _, feeds in days[1:]:
        for feed, path in feeds.items():
            if served[feed] != path:
                bodies.append(path.read_bytes())
                served[feed] = path
    return bodies


def _timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
