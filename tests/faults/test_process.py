"""Fault suite, process and schedule (issue 10): the real service process (``python -m tracker
run``) stopped, killed, started twice, reloaded with a broken config.yaml; digests across clock
changes and while the machine was off; 1,000 accelerated cycles.

The service runs against a real HTTP server on 127.0.0.1 serving real feed snapshots
(tracker/demo_data/replay), and its database is checked from outside as any other process would
(``check_database_file``: integrity, nothing duplicated, nothing committed lost).

Already covered elsewhere, referenced from docs/reliability.md: tests/test_service.py (SIGTERM
while feeds are being fetched, a second instance with the same config, a bad value on SIGHUP, a
missed digest with a stand-in writer), tests/test_service_parts.py (the days owed across clock
changes, the instance lock), tests/test_pipeline.py (one interrupted write, in-process).
"""

from __future__ import annotations

import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tracker.app import Tracker
from tracker.config import load_config
from tracker.localserver import Document, FeedServer, serve_document

from ..conftest import REPLAY
from ..servicekit import ServiceProcess, one, rows, service_config, wait_for
from .conftest import check_database_file

HEALTHY = {
    "The Guardian": "guardian-world-20250819.xml",
    "Le Monde": "lemonde-en-20250819.xml",
    "NBC News": "nbc-world-20250819.xml",
}


def init(config: Path) -> Path:
    with Tracker(load_config(config)) as t:
        t.init()
    return t.config.database


def writing(db: Path) -> bool:
    """True while another connection holds the database's write lock (a transaction under way).

    Taking the lock ourselves for an instant when it is free costs the service nothing: it
    waits up to its busy timeout."""
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return True
        raise
    finally:
        conn.close()


def real_items() -> list[bytes]:
    return [
        item
        for path in sorted(REPLAY.glob("*.xml"))
        for item in re.findall(rb"<item>.*?</item>", path.read_bytes(), re.S)
    ]


def big_feed(count: int) -> bytes:
    """``count`` real items made distinct in guid, link and title (as in the 10,000-item case)."""
    real = real_items()
    items = []
    for n in range(count):
        item = re.sub(
            rb"(<(?:guid|link)[^>]*>[^<?#]*)",
            lambda m, n=n: m.group(1) + b"-%d" % n,
            real[n % len(real)],
        )
        items.append(item.replace(b"<title>", b"<title>%d " % n, 1))
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Big</title>'
        + b"".join(items)
        + b"</channel></rss>"
    )


def generation(body: bytes, gen: int, fresh: int = 5) -> bytes:
    """A real snapshot whose first ``fresh`` items are new ones (new links and guids), as a live
    feed publishes: every generation brings items never seen before."""
    count = {"link": 0, "guid": 0}

    def renew(match: re.Match[bytes]) -> bytes:
        tag = "link" if match.group(1).startswith(b"<link") else "guid"
        count[tag] += 1
        if count[tag] > fresh + (tag == "link"):  # +1: the channel's own <link>
            return match.group(0)
        return match.group(1) + match.group(2) + b"?gen=%d" % gen + match.group(3)

    return re.sub(rb"(<(?:link|guid)[^>]*>)([^<]+)(</(?:link|guid)>)", renew, body)


class LiveFeeds:
    """Routes serving real snapshots that change at every request (a new generation each time),
    counting requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits: dict[str, int] = {}

    def total(self) -> int:
        with self._lock:
            return sum(self.hits.values())

    def route(self, name: str, body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
        def serve(handler: BaseHTTPRequestHandler) -> None:
            with self._lock:
                self.hits[name] = self.hits.get(name, 0) + 1
                gen = self.hits[name]
            serve_document(handler, Document(generation(body, gen)))

        return serve


# --- SIGTERM mid-cycle ---------------------------------------------------------------------------


def test_sigterm_mid_write_stops_within_the_grace_period_and_stores_none_of_it(
    tmp_path: Path, server: FeedServer, services
) -> None:
    """Found by this suite: a poll still writing when the grace period ended was waited for
    (the stop took as long as its transaction) and then committed, while the log and the cycle
    record said it was abandoned with nothing stored. Now its transaction is rolled back."""
    healthy = {
        outlet: server.add(f"/{name}", (REPLAY / name).read_bytes())
        for outlet, name in HEALTHY.items()
    }
    big = server.add("/big.xml", big_feed(10_000))
    config = service_config(
        tmp_path,
        {**{outlet: [url] for outlet, url in healthy.items()}, "Big": [big]},
        fetch={"max_body_bytes": "20MB", "deadline": "120s", "read_timeout": "60s"},
        polling={"grace_period": "1s", "workers": 2},
    )
    db = init(config)
    service = services(config).wait_started()
    polled = "SELECT count(*) FROM fetches WHERE url = ? AND result = 'ok'"
    wait_for(
        lambda: all(one(db, polled, (url,)) for url in healthy.values()),
        "the healthy feeds polled",
        on_fail=service.log(),
    )
    # the big feed's transaction (10,000 items, ~1 s or more): the lock held over two probes
    wait_for(
        lambda: writing(db) and time.sleep(0.05) is None and writing(db),
        "the big feed's write under way",
        120,
        service.log(),
    )
    service.send(signal.SIGTERM)
    stopping = time.monotonic()
    assert service.wait(60) == 0
    # 1 s of grace; the margin is for the interpreter's own exit on a loaded machine
    assert time.monotonic() - stopping < 1 + 4
    log = service.log()
    assert "were abandoned (nothing of those polls was stored; they stay due)" in log
    assert "/big.xml" in log and "stopped (SIGTERM)" in log and "Traceback" not in log
    items = check_database_file(db)
    # ... and it is true: no trace of the abandoned poll, and every recorded poll is in a cycle
    assert one(db, "SELECT count(*) FROM fetches WHERE url = ?", (big,)) == 0
    assert (
        one(
            db,
            "SELECT count(*) FROM sightings JOIN feeds ON feeds.id = feed_id WHERE url = ?",
            (big,),
        )
        == 0
    )
    assert one(db, "SELECT sum(feeds_polled) FROM service_cycles") == one(
        db, "SELECT count(*) FROM fetches"
    )
    assert one(
        db, "SELECT next_poll_at <= heartbeat_at FROM feeds, service_runs WHERE url = ?", (big,)
    )

    # the next start polls it again and stores it once
    again = services(config).wait_started()
    wait_for(lambda: one(db, polled, (big,)), "the big feed polled", 180, again.log())
    assert again.stop() == 0
    after = check_database_file(db, items)
    assert len(after) == len(items) + 10_000
    assert one(db, "SELECT items_new FROM fetches WHERE url = ?", (big,)) == 10_000


# --- SIGKILL mid-poll, 100 times ------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_mid_poll_100_times(tmp_path: Path, server: FeedServer, services) -> None:
    """The service killed 100 times while polling feeds that change at every request: half the
    kills at a random moment after its first request (fetching, parsing or writing), half at
    once when a write transaction is seen under way. After each kill the database is opened as
    any process would: intact, nothing duplicated, every item committed before still there."""
    live = LiveFeeds()
    names = [*HEALTHY.values(), "bbc-world-europe-20250819.xml"]
    urls = [
        server.add(f"/{name}", live.route(name, (REPLAY / name).read_bytes())) for name in names
    ]
    config = service_config(tmp_path, {"Live": urls}, polling={"workers": 2})
    db = init(config)
    rng = random.Random(10)
    items = check_database_file(db)
    mid_write = 0
    for kill in range(100):
        served = live.total()
        service: ServiceProcess = services(config)
        wait_for(
            lambda served=served: live.total() > served,
            f"kill {kill}: a poll",
            on_fail=service.log(),
        )
        if kill % 2:
            end = time.monotonic() + 10
            while not writing(db) and time.monotonic() < end:
                pass
            caught = time.monotonic() < end
        else:
            time.sleep(rng.uniform(0, 0.6))
            caught = False
        service.kill()
        assert service.proc is not None and service.proc.returncode == -signal.SIGKILL
        mid_write += caught
        items = check_database_file(db, items)
    assert mid_write >= 25, mid_write

    # a clean run after all that: every feed polled again, everything stored once
    restarted = time.monotonic()
    final = services(config).wait_started()
    hits = dict(live.hits)
    wait_for(
        lambda: all(live.hits[n] >= hits[n] + 2 for n in names),
        "every feed polled twice",
        on_fail=final.log(),
    )
    assert final.stop() == 0
    assert time.monotonic() - restarted < 120
    assert "Traceback" not in final.log()
    after = check_database_file(db, items)
    assert len(after) > len(items)
    runs = rows(db, "SELECT stop_reason FROM service_runs ORDER BY id")
    assert len(runs) == 101 and runs[-1]["stop_reason"] == "SIGTERM"
    assert all(r["stop_reason"].startswith("not stopped cleanly") for r in runs[:-1])
    # each generation's fresh items are one item each, whatever poll stored them
    assert one(db, "SELECT count(*) FROM items WHERE url LIKE '%?gen=%'") == one(
        db, "SELECT count(DISTINCT url) FROM items WHERE url LIKE '%?gen=%'"
    )


# --- a second instance -----------------------------------------------------------------------------


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_second_instance_is_refused_however_it_names_the_database(
    tmp_path: Path, server: FeedServer, services
) -> None:
    url = server.add("/g.xml", (REPLAY / HEALTHY["The Guardian"]).read_bytes())
    first = service_config(tmp_path, {"The Guardian": [url]})
    db = init(first)
    text = first.read_text()
    (tmp_path / "alias.db").symlink_to(db)
    (tmp_path / "linked").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    names = {
        "a symlink to the file": tmp_path / "alias.db",
        "a symlinked directory": tmp_path / "linked" / "tracker.db",
        "a relative path from another directory": Path("../tracker.db"),
    }
    others = {}
    for n, (how, path) in enumerate(names.items()):
        other = (tmp_path if path.is_absolute() else tmp_path / "elsewhere") / f"other-{n}.yaml"
        other.write_text(text.replace(f"database: {db}", f"database: {path}"), encoding="utf-8")
        others[how] = other
    service = services(first).wait_started()
    for how, other in others.items():
        second = services(other)
        assert second.wait(60) == 1, how  # refused at once: it never starts
        assert f"already running (pid {service.pid})" in second.log(), how
        status = run_cli(other, "status", "--json")
        assert status.returncode == 0 and f'"pid": {service.pid}' in status.stdout, how
    assert service.stop() == 0
    # and the other way round
    alias = services(others["a symlink to the file"]).wait_started()
    again = services(first)
    assert again.wait(60) == 1 and f"already running (pid {alias.pid})" in again.log()
    assert alias.stop() == 0
    assert one(db, "SELECT count(*) FROM service_runs") == 2
    check_database_file(db)
