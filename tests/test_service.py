"""The real service process (``python -m tracker run``) against a real HTTP server on 127.0.0.1.

Intervals are seconds; every wait polls for its condition with a generous timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tracker.app import Tracker
from tracker.config import load_config
from tracker.demo.localserver import FeedServer, send_status
from tracker.storage import Store, from_db

from .conftest import FEEDS, REPLAY
from .servicekit import (
    Recorder,
    ServiceProcess,
    one,
    rows,
    service_config,
    start_services,
    wait_for,
)

GUARDIAN = sorted(REPLAY.glob("guardian-world-*.xml"))
BBC = REPLAY / "bbc-world-europe-20250819.xml"
STANDIN = Path(__file__).parent / "digest_standin.py"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    yield from start_services(tmp_path)


def init(config: Path) -> Path:
    with Tracker(load_config(config)) as t:
        t.init()
    return t.config.database


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def guids(body: bytes) -> set[bytes]:
    return set(re.findall(rb"<guid[^>]*>([^<]+)</guid>", body))


def duplicates(db: Path) -> int:
    return one(
        db,
        "SELECT count(*) FROM (SELECT canonical_url FROM items WHERE canonical_url IS NOT NULL "
        "GROUP BY canonical_url HAVING count(*) > 1)",
    )


def test_service_polls_in_cycles_records_them_and_reports_status(
    tmp_path: Path, server: FeedServer, services
) -> None:
    rec = Recorder()
    bodies = [p.read_bytes() for p in GUARDIAN[:5]]
    guardian = server.add("/guardian.xml", rec.rotate("guardian", bodies, every=2))
    bbc = server.add("/bbc.xml", rec.serve("bbc", BBC.read_bytes()))
    config = service_config(tmp_path, {"The Guardian": [guardian], "BBC News": [bbc]})
    db = init(config)
    service = services(config).wait_started()
    expected = set().union(*(guids(body) for body in bodies))
    wait_for(
        lambda: one(db, "SELECT count(*) FROM sightings WHERE feed_id = 1") == len(expected),
        "every Guardian snapshot stored",
        on_fail=service.log(),
    )
    cycles_then = one(db, "SELECT count(*) FROM service_cycles")
    wait_for(lambda: one(db, "SELECT count(*) FROM service_cycles") >= cycles_then + 2, "2 cycles")

    status = cli(config, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["service"]["state"] == "running"
    assert report["service"]["pid"] == service.pid
    assert report["service"]["heartbeat_age_s"] < 60
    feeds = {f["url"]: f for f in report["feeds"]}
    assert feeds[guardian]["items"] == len(expected)
    assert feeds[guardian]["last_success_at"] and feeds[guardian]["consecutive_errors"] == 0
    assert feeds[guardian]["last_result"] in ("ok", "not-modified")
    assert report["last_cycle"]["feeds_polled"] >= 1
    text = cli(config, "status")
    assert text.returncode == 0
    assert f"service: running (pid {service.pid}" in text.stdout
    assert "last cycle: #" in text.stdout and guardian in text.stdout

    assert service.stop() == 0
    log = service.log()
    summary = re.compile(
        r"cycle \d+: \d+ feeds? polled: \d+ ok, \d+ not modified, 0 failed; "
        r"\d+ new items, \d+ linked; [\d.]+ s"
    )
    assert len(summary.findall(log)) >= 3
    assert "stopped (SIGTERM)" in log
    assert "Traceback" not in log
    assert one(db, "PRAGMA integrity_check") == "ok"
    assert duplicates(db) == 0
    assert one(db, "SELECT count(*) FROM items WHERE feed_id = 1") == len(expected)
    # every poll belongs to exactly one recorded cycle
    assert one(db, "SELECT sum(feeds_polled) FROM service_cycles") == one(
        db, "SELECT count(*) FROM fetches"
    )
    results = {r["result"] for r in rows(db, "SELECT DISTINCT result FROM fetches")}
    assert {"ok", "not-modified"} <= results
    run = rows(db, "SELECT * FROM service_runs")
    assert [(r["pid"], r["stop_reason"]) for r in run] == [(service.pid, "SIGTERM")]

    after = cli(config, "status", "--json")
    assert after.returncode == 3
    assert json.loads(after.stdout)["service"]["state"] == "stopped"


def test_a_hanging_feed_does_not_hold_up_the_others(
    tmp_path: Path, server: FeedServer, services
) -> None:
    rec, release = Recorder(), threading.Event()
    hang = server.add("/hang.xml", rec.hang("hang", release))
    others = {
        name: server.add(
            f"/{name}.xml", rec.serve(name, (REPLAY / f"{name}-20250819.xml").read_bytes())
        )
        for name in ("guardian-world", "nbc-world", "lemonde-en")
    }
    config = service_config(
        tmp_path,
        {"Hanging": [hang], "Others": list(others.values())},
        fetch={"deadline": "6s", "read_timeout": "60s"},
        polling={"workers": 2},
    )
    db = init(config)
    try:
        service = services(config).wait_started()
        wait_for(lambda: rec.count("hang"), "the hanging request", on_fail=service.log())
        hung_at = rec.times["hang"][0]
        wait_for(
            lambda: all(rec.count(name, since=hung_at) >= 2 for name in others),
            "the other feeds polled while one hangs",
            on_fail=service.log(),
        )
        # ... within the hanging feed's deadline, not after it
        assert all(rec.count(name, hung_at, hung_at + 6.0) >= 2 for name in others), rec.times
        fetch = wait_for(
            lambda: rows(db, "SELECT * FROM fetches WHERE url = ?", (hang,)),
            "the hanging feed's fetch record",
            on_fail=service.log(),
        )[0]
        assert fetch["error_kind"] == "timeout"
        assert 5_500 <= fetch["duration_ms"] <= 6_000 + 5_000
        assert "6s deadline" in fetch["error_message"]
        assert service.stop() == 0
    finally:
        release.set()


@pytest.mark.slow
def test_retry_after_and_backoff_move_next_poll_at(
    tmp_path: Path, server: FeedServer, services
) -> None:
    rec = Recorder()
    in_two_hours = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)

    def failing(name: str, status: int, headers: dict[str, str]) -> Callable[..., None]:
        def route(handler: BaseHTTPRequestHandler) -> None:
            rec.mark(name)
            send_status(handler, status, headers)

        return route

    busy = server.add("/busy", failing("busy", 503, {"Retry-After": "3600"}))
    dated = server.add("/dated", failing("dated", 429, {"Retry-After": in_two_hours}))
    down = server.add("/down", failing("down", 500, {}))
    steady = server.add("/steady.xml", rec.serve("steady", GUARDIAN[0].read_bytes()))
    config = service_config(
        tmp_path,
        {"X": [busy, dated, down, steady]},
        polling={"workers": 4, "backoff_base": "2s"},
    )
    db = init(config)
    service = services(config).wait_started()
    wait_for(lambda: rec.count("down") >= 4, "four polls of the failing feed", 120, service.log())

    # backoff: 2 s doubling per consecutive failure, ±25% jitter; stored times are whole seconds
    # (up to 1 s early) and the dispatcher looks every second (up to ~1 s late, more when loaded)
    times = rec.times["down"]
    for n, gap in enumerate((b - a for a, b in pairwise(times)), start=1):
        if n > 3:
            break
        base = 2 * 2 ** (n - 1)
        assert 0.75 * base - 1 <= gap <= 1.25 * base + 5, (n, times)
    feeds = {f["url"]: f for f in rows(db, "SELECT * FROM feeds")}

    def wait(feed: dict[str, Any]) -> float:
        return (from_db(feed["next_poll_at"]) - from_db(feed["last_fetch_at"])).total_seconds()

    errors = feeds[down]["consecutive_errors"]
    assert errors >= 4 and feeds[down]["enabled"] == 1
    assert 0.75 * 2**errors - 1 <= wait(feeds[down]) <= 1.25 * 2**errors + 1
    # Retry-After, in seconds and as an HTTP date, is obeyed well beyond the polling interval
    assert abs(wait(feeds[busy]) - 3600) <= 2
    assert abs(wait(feeds[dated]) - 7200) <= 5
    assert rec.count("busy") == rec.count("dated") == 1
    assert rec.count("steady") >= 4
    assert service.stop() == 0


@pytest.mark.slow
def test_sigterm_mid_cycle_exits_0_and_leaves_a_consistent_database(
    tmp_path: Path, server: FeedServer, services
) -> None:
    rec, release = Recorder(), threading.Event()
    files = sorted(REPLAY.glob("*-20250819.xml")) + sorted(FEEDS.glob("bbc-news-home-*.xml"))[:3]

    def trickle(name: str, body: bytes) -> Callable[..., None]:
        """A slow server: the body comes in 20 pieces over about 2 s."""
        etag = f'"{abs(hash(body))}"'

        def route(handler: BaseHTTPRequestHandler) -> None:
            rec.mark(name)
            if handler.headers.get("If-None-Match") == etag:
                send_status(handler, 304, {"ETag": etag})
                return
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("ETag", etag)
            handler.end_headers()
            step = len(body) // 20 + 1
            for start in range(0, len(body), step):
                handler.wfile.write(body[start : start + step])
                handler.wfile.flush()
                time.sleep(0.1)

        return route

    urls = [server.add(f"/{p.name}", trickle(p.name, p.read_bytes())) for p in files]
    hang = server.add("/hang.xml", rec.hang("hang", release))
    config = service_config(
        tmp_path,
        {"Slow": urls, "Hanging": [hang]},
        fetch={"deadline": "60s", "read_timeout": "60s"},
        polling={"workers": 4, "grace_period": "6s"},
    )
    db = init(config)
    try:
        service = services(config).wait_started()
        wait_for(
            lambda: rec.count("hang") and one(db, "SELECT count(*) FROM fetches") >= 2,
            "a hanging poll and some finished ones",
            on_fail=service.log(),
        )
        service.send(signal.SIGTERM)
        stopping = time.monotonic()
        assert service.wait(60) == 0
        assert time.monotonic() - stopping < 6 + 20
    finally:
        release.set()
    log = service.log()
    in_flight = re.search(r"stopping \(SIGTERM\): (\d+) feeds? in flight", log)
    assert in_flight and int(in_flight.group(1)) >= 2, log  # the hung one and at least one more
    assert "stopped (SIGTERM)" in log
    assert re.search(r"\d+ feeds? still being polled .* (?:was|were) abandoned", log)
    assert "/hang.xml" in log
    assert one(db, "PRAGMA integrity_check") == "ok"
    assert duplicates(db) == 0
    # every poll that reached a server, under way at SIGTERM or before, finished and is stored;
    # the hung one was abandoned after the grace period and left no trace
    served = sum(rec.count(p.name) for p in files)
    assert one(db, "SELECT count(*) FROM fetches WHERE url != ?", (hang,)) == served
    assert one(db, "SELECT count(*) FROM fetches WHERE url = ?", (hang,)) == 0
    assert one(db, "SELECT stop_reason FROM service_runs") == "SIGTERM"
    items = one(db, "SELECT count(*) FROM items")

    # a restart carries on from the stored state: nothing is stored twice
    again = services(config).wait_started()
    wait_for(
        lambda: all(one(db, "SELECT count(*) FROM fetches WHERE url = ?", (u,)) for u in urls),
        "every feed polled",
        on_fail=again.log(),
    )
    release.set()
    assert again.stop() == 0
    assert one(db, "PRAGMA integrity_check") == "ok"
    assert duplicates(db) == 0
    assert one(db, "SELECT count(*) FROM items") >= items
    assert one(db, "SELECT count(*) FROM item_keys") == one(
        db, "SELECT count(DISTINCT key) FROM item_keys"
    )


def test_servers_see_a_steady_identifiable_client(
    tmp_path: Path, server: FeedServer, services
) -> None:
    lock, active, peak, starts, agents = threading.Lock(), [0], [0], [], set()

    def slow(body: bytes) -> Callable[..., None]:
        def route(handler: BaseHTTPRequestHandler) -> None:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                starts.append(time.monotonic())
                agents.add(handler.headers.get("User-Agent", ""))
            try:
                time.sleep(1.2)  # long enough that, uncapped, four requests would overlap
                send_status(handler, 200, {"Content-Type": "application/rss+xml"}, body)
            finally:
                with lock:
                    active[0] -= 1

        return route

    urls = [server.add(f"/f{i}.xml", slow(GUARDIAN[i].read_bytes())) for i in range(6)]
    config = service_config(
        tmp_path,
        {"The Guardian": urls},
        fetch={"per_host_concurrency": 2, "per_host_gap": "0.3s"},
        polling={"workers": 4},
    )
    init(config)
    service = services(config).wait_started()
    wait_for(lambda: len(starts) >= 12, "12 requests", on_fail=service.log())
    assert service.stop() == 0
    with lock:
        times = sorted(starts)
    # four workers, one host: never more than two requests at once, and starts spaced out
    assert peak[0] == 2
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= 0.1, gaps  # 0.3 s apart at the client; the server sees wake-up jitter
    assert times[-1] - times[0] >= 0.3 * (len(times) - 1) - 0.1
    assert len(agents) == 1 and agents.pop().startswith("tracker/")


def test_ctrl_c_twice_stops_without_waiting_for_the_grace_period(
    tmp_path: Path, server: FeedServer, services
) -> None:
    rec, release = Recorder(), threading.Event()
    hang = server.add("/hang.xml", rec.hang("hang", release))
    config = service_config(
        tmp_path,
        {"Hanging": [hang]},
        fetch={"deadline": "120s", "read_timeout": "120s"},
        polling={"grace_period": "120s"},
    )
    db = init(config)
    try:
        service = services(config).wait_started()
        wait_for(lambda: rec.count("hang"), "the hanging request", on_fail=service.log())
        service.send(signal.SIGINT)
        service.wait_log("stopping (SIGINT): 1 feed in flight get up to 120 s")
        service.send(signal.SIGINT)
        assert service.wait(60) == 0
    finally:
        release.set()
    assert "SIGINT again: not waiting for the feeds in flight" in service.log()
    assert one(db, "SELECT stop_reason FROM service_runs") == "SIGINT"
    assert one(db, "PRAGMA integrity_check") == "ok"


def test_a_second_instance_is_refused_and_other_commands_still_work(
    tmp_path: Path, server: FeedServer, services
) -> None:
    url = server.add("/g.xml", GUARDIAN[0].read_bytes())
    config = service_config(tmp_path, {"The Guardian": [url]})
    db = init(config)
    service = services(config).wait_started()
    started = time.monotonic()
    second = cli(config, "run")
    assert second.returncode == 1
    assert time.monotonic() - started < 30
    assert f"already running (pid {service.pid})" in second.stderr
    assert "tracker.db.lock" in second.stderr
    assert "Traceback" not in second.stderr
    # one-shot commands work beside the service (WAL, busy timeout, short transactions)
    poll = cli(config, "poll", "--all")
    assert poll.returncode == 0, poll.stderr
    assert cli(config, "coverage", "--limit", "3").returncode == 0
    cycles = one(db, "SELECT count(*) FROM service_cycles")
    wait_for(lambda: one(db, "SELECT count(*) FROM service_cycles") > cycles, "the first goes on")
    assert service.stop() == 0
    assert one(db, "SELECT count(*) FROM service_runs") == 1
    assert duplicates(db) == 0


def test_missed_digests_are_written_once_at_start_up(tmp_path: Path, services) -> None:
    # a time zone where it is about noon now, so no day boundary falls during the test
    offset = 12 - datetime.now(UTC).hour
    zone = "Etc/GMT" + (f"{-offset:+d}" if offset else "")
    config = service_config(tmp_path, {}, digest={"time": "'00:00'"}, timezone=zone)
    db = init(config)
    today = datetime.now(load_config(config).tz).date()
    days = {n: str(today - timedelta(days=n)) for n in (1, 2, 3)}
    store = Store.open(db)
    # the service last ran three days ago; the digest of two days ago was written then
    before = datetime.now(UTC) - timedelta(days=3)
    run = store.start_service_run(
        pid=1, host="h", version="0", config=str(config), heartbeat_every=30, now=before
    )
    store.finish_service_run(run, before + timedelta(hours=1), "SIGTERM")
    store.record_digest(today - timedelta(days=2), run_id=run, trigger="schedule", now=before)
    store.close()
    markers = tmp_path / "markers"
    markers.mkdir()
    (markers / f"fail-{days[1]}").touch()  # yesterday's digest fails this time
    argv = [sys.executable, str(STANDIN), str(config), str(markers)]

    service = services(config, argv=argv).wait_started()
    service.wait_log(f"digest for {days[3]} written (catch-up)")
    service.wait_log(f"digest for {days[1]} failed (catch-up)")
    assert service.stop() == 0
    assert (markers / "written.log").read_text().split() == [days[3]]
    failed = rows(db, "SELECT result, error FROM service_digests WHERE day = ?", (days[1],))
    assert failed == [
        {"result": "error", "error": f"RuntimeError: stand-in told to fail for {days[1]}"}
    ]

    (markers / f"fail-{days[1]}").unlink()
    again = services(config, argv=argv).wait_started()
    again.wait_log(f"digest for {days[1]} written (catch-up)")
    assert again.stop() == 0
    # each missing day written once: the one written before is not written again
    assert (markers / "written.log").read_text().split() == [days[3], days[1]]
    recorded = rows(db, "SELECT day, trigger, result, attempts FROM service_digests ORDER BY day")
    assert recorded == [
        {"day": days[3], "trigger": "catch-up", "result": "ok", "attempts": 1},
        {"day": days[2], "trigger": "schedule", "result": "ok", "attempts": 1},
        {"day": days[1], "trigger": "catch-up", "result": "ok", "attempts": 2},
    ]
    assert not (markers / f"{today}.md").exists()


def test_sighup_reloads_the_config_and_keeps_it_when_broken(
    tmp_path: Path, server: FeedServer, services
) -> None:
    rec = Recorder()
    first = server.add("/first.xml", rec.serve("first", GUARDIAN[0].read_bytes()))
    added = server.add("/added.xml", rec.serve("added", BBC.read_bytes()))
    config = service_config(tmp_path, {"The Guardian": [first]})
    db = init(config)
    service = services(config).wait_started()
    wait_for(lambda: rec.count("first"), "the first feed polled", on_fail=service.log())

    service_config(tmp_path, {"The Guardian": [first], "BBC News": [added]})
    service.send(signal.SIGHUP)
    service.wait_log("configuration reloaded")
    assert "(1 added, 0 removed)" in service.log()
    wait_for(lambda: rec.count("added") >= 2, "the added feed polled", on_fail=service.log())

    good = config.read_text()
    config.write_text(good.replace("interval: 1s\n", "interval: soon\n", 1))
    service.send(signal.SIGHUP)
    log = service.wait_log("reload failed, the running configuration is kept")
    assert re.search(r"config\.yaml:\d+: polling\.interval: expected a duration", log)
    polls = rec.count("first"), rec.count("added")
    wait_for(
        lambda: rec.count("first") > polls[0] and rec.count("added") > polls[1],
        "both feeds still polled with the old configuration",
        on_fail=service.log(),
    )

    service_config(tmp_path, {"BBC News": [added]})
    service.send(signal.SIGHUP)
    wait_for(lambda: "(0 added, 1 removed)" in service.log(), "the removal", on_fail=service.log())
    assert service.stop() == 0
    feeds = {f["url"]: f for f in rows(db, "SELECT url, enabled, disabled_reason FROM feeds")}
    assert feeds[first] == {"url": first, "enabled": 0, "disabled_reason": "removed from config"}
    assert feeds[added]["enabled"] == 1


def test_under_systemd_it_notifies_and_logs_with_priorities(
    tmp_path: Path, server: FeedServer, services
) -> None:
    url = server.add("/g.xml", GUARDIAN[0].read_bytes())
    config = service_config(tmp_path, {"The Guardian": [url]})
    init(config)
    address = tmp_path / "notify.sock"
    log = tmp_path / "service-1.log"
    log.touch()
    info = os.stat(log)
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(address),
        "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}",
    }
    received: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(0.2)

        def collect() -> bool:
            with contextlib.suppress(TimeoutError):
                received.extend(sock.recv(4096).decode().splitlines())
            return any(m.startswith("STATUS=cycle") for m in received) and (
                "WATCHDOG=1" in received
            )

        service = services(config, env=env)
        wait_for(collect, "READY, a cycle status and a heartbeat", on_fail=service.log())
        assert received[0] == "READY=1"
        service.send(signal.SIGTERM)
        wait_for(lambda: collect() and "STOPPING=1" in received, "STOPPING=1")
        assert service.wait() == 0
    lines = service.log().splitlines()
    assert lines and all(re.match(r"<[0-7]>[\w.]+: ", line) for line in lines), lines[:5]
    assert any(line.startswith("<6>service: cycle ") for line in lines)
