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

import ctypes
import ctypes.util
import gc
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import feedparser
import lxml.html
import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent

from tracker.app import Tracker
from tracker.config import Config, load_config, parse_config
from tracker.demo.localserver import Document, FeedServer, serve_document
from tracker.digest.build import day_window
from tracker.models import ManualClock
from tracker.service.daily import DailyDigests, due_moment
from tracker.service.service import Service, digest_trigger

from ..conftest import REPLAY
from ..servicekit import Recorder, ServiceProcess, one, rows, service_config, wait_for
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
        # a short grace: the big transaction (a second or more) must outlast it to be abandoned
        polling={"grace_period": "0.2s", "workers": 2},
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
    # while its poll is not committed (the lock may also be the cycle's upkeep, after it)
    wait_for(
        lambda: (
            writing(db) and time.sleep(0.05) is None and writing(db) and not one(db, polled, (big,))
        ),
        "the big feed's write under way",
        120,
        service.log(),
    )
    service.send(signal.SIGTERM)
    stopping = time.monotonic()
    assert service.wait(60) == 0
    # 0.2 s of grace; the margin is for the interpreter's own exit on a loaded machine
    assert time.monotonic() - stopping < 0.2 + 4
    log = service.log()
    assert re.search(
        r"(?:was|were) abandoned \(nothing of those polls was stored; they stay due\)", log
    )
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
@pytest.mark.timeout(900)  # about 130 s on an idle machine here
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


# --- the database deleted or replaced under the service -------------------------------------------


@pytest.mark.parametrize("how", ["directory deleted", "directory made again", "file replaced"])
def test_the_database_deleted_under_the_service_stops_it_and_keeps_the_lock(
    tmp_path: Path, server: FeedServer, services, how: str
) -> None:
    """Issue 18: with the database's directory deleted under ``tracker run``, the service went
    on logging "20 new items" into the unlinked file, ``status`` found no database, and a new
    ``init`` + ``run`` started a second service (the lock file had gone with the directory).
    Now the service notices the file it holds is gone or replaced, and stops with one error
    line, exit 1; until it has, a second service is refused (the lock holds without its file).

    The first service is paused (SIGSTOP) while the database goes, so that the second start
    meets it still running, however fast it would notice."""
    url = server.add("/g.xml", (REPLAY / HEALTHY["The Guardian"]).read_bytes())
    data = tmp_path / "data"
    data.mkdir()
    config = service_config(data, {"The Guardian": [url]}, polling={"interval": "1h"})
    config = config.rename(tmp_path / "config.yaml")  # config.yaml stays; the data goes
    db = init(config)
    first = services(config).wait_started()
    first.wait_log("cycle 1:")
    items = one(db, "SELECT count(*) FROM items")
    assert items == 60
    first.send(signal.SIGSTOP)
    try:
        if how == "file replaced":
            replacement = tmp_path / "replacement.db"
            shutil.copy(db, replacement)
            replacement.replace(db)  # a restored backup put in place, say
            db.with_name(db.name + ".lock").unlink()
        else:
            shutil.rmtree(data)
        if how != "directory deleted":
            if how == "directory made again":
                init(config)  # a new, empty database at the same path
            second = services(config)
            assert second.wait(60) == 1, second.log()
            assert f"already running (pid {first.pid})" in second.log()
            status = run_cli(config, "status", "--json")
            assert f'"pid": {first.pid}' in status.stdout, status
    finally:
        first.send(signal.SIGCONT)
    assert first.wait(60) == 1
    log = first.log()
    assert "Traceback" not in log, log
    said = [line for line in log.splitlines() if "the database file was" in line]
    assert said and ("deleted" if how == "directory deleted" else "replaced") in said[0], log
    # the last word is the error (at --log-level debug the scheduler's thread may still log
    # that its last job returned)
    ours = [line for line in log.strip().splitlines() if "apscheduler.executors" not in line]
    assert ours[-1].startswith("Error: "), log
    if how == "directory deleted":
        assert not data.exists()  # nothing was written there again
        return
    # the lock went with the first service: a new one starts on the database now at the path
    third = services(config).wait_started()
    if how == "directory made again":
        third.wait_log("cycle 1:")  # the new database's feed is due; the copy's is not yet
    assert third.stop() == 0
    assert one(db, "SELECT count(*) FROM items") == items  # polled anew, or the copy's own
    check_database_file(db)


# --- clock changes -------------------------------------------------------------------------------

#: zone, digest time: where APScheduler's CronTrigger went wrong, and the awkward cases
CLOCK_CHANGES = [
    # a daily job at midnight fired on the day of the change to summer time, then two days later
    ("America/New_York", "00:00"),
    # the change is at midnight: 00:30 does not exist on the first day of summer time
    ("America/Santiago", "00:30"),
    ("America/Sao_Paulo", "00:00"),
    # 01:30 does not exist in spring and happens twice in autumn
    ("Europe/London", "01:30"),
    # a half-hour change
    ("Australia/Lord_Howe", "02:15"),
    ("Asia/Tehran", "00:00"),
    ("UTC", "07:00"),
]


def zone_config(tmp_path: Path, zone: str, at: str) -> Config:
    return parse_config(
        f"database: {tmp_path}/t.db\ntimezone: {zone}\ndigest:\n  time: '{at}'\n",
        tmp_path / "config.yaml",
    )


@pytest.mark.parametrize(("zone", "at"), CLOCK_CHANGES)
def test_the_digest_job_fires_once_a_day_when_the_day_falls_due(
    tmp_path: Path, zone: str, at: str
) -> None:
    """Found by this suite: the service's daily job used APScheduler's CronTrigger, which skips
    a day after some clock changes (and then writes two digests a day late). Nine years of the
    job's times, as the scheduler asks for them, against the moments each day falls due."""
    config = zone_config(tmp_path, zone, at)
    tz, trigger = config.tz, digest_trigger(config)
    start, end = datetime(2017, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    fires, previous, now = [], None, start
    while (fire := trigger.get_next_fire_time(previous, now.astimezone(tz))) < end:
        fires.append(fire)
        # the scheduler asks again once the job has run, a little after its time
        previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)
    first = start.astimezone(tz).date() - timedelta(days=2)
    while due_moment(first, at, tz) < start:
        first += timedelta(days=1)
    days = [first + timedelta(days=n) for n in range(len(fires))]
    assert [f.astimezone(UTC) for f in fires] == [
        due_moment(day, at, tz).astimezone(UTC) for day in days
    ]
    # one run on each local date, at a time that exists there
    assert len({f.date() for f in fires}) == len(fires)
    assert all(f == f.astimezone(UTC).astimezone(tz) for f in fires)
    assert all(f.utcoffset() == f.astimezone(UTC).astimezone(tz).utcoffset() for f in fires)


def digest_items(html: str) -> dict[str, str]:
    """Item URL -> its time as shown, for every item a digest lists (same story and related)."""
    doc = lxml.html.fromstring(html)
    shown = {}
    for story in doc.xpath("//ol[@class='stories']/li"):
        for link, when in (
            *zip(
                story.xpath("p[@class='title']/a"),
                story.xpath("div[@class='meta'][1]/time"),
                strict=True,
            ),
            *(
                (line.find("a"), line.find("time"))
                for line in story.xpath("ul[@class='more']/li")
                if (line.text or "").startswith("then")
            ),
        ):
            shown[link.get("href")] = when
    return {url: f"{when.get('datetime')} {when.text_content()}" for url, when in shown.items()}


@pytest.mark.parametrize(
    ("zone", "at", "start"),
    [
        # summer time from 02:00 on Sunday 9 March; the digest due at midnight on the 10th
        ("America/New_York", "00:00", datetime(2025, 3, 7, 17, tzinfo=UTC)),
        # winter time from 02:00 BST on Sunday 26 October: 01:00-02:00 happens twice
        ("Europe/London", "01:30", datetime(2025, 10, 24, 11, tzinfo=UTC)),
    ],
)
def test_digests_across_a_clock_change_cover_each_local_day_once(
    tmp_path: Path, server: FeedServer, make_tracker, clock, zone: str, at: str, start: datetime
) -> None:
    """Four days of polls every hour around a clock change, real feeds whose content moves on,
    and the service's digest job run at every time its trigger gives: each day's digest is
    written once, when the day falls due, and lists exactly the items first seen in that local
    day (computed here from the stored times), each at the local time its outlet reported it
    (published, never later than first seen)."""
    rec = Recorder()
    feeds = {
        outlet: server.add(
            f"/{name}.xml",
            rec.rotate(
                name, [p.read_bytes() for p in sorted(REPLAY.glob(f"{name}-*.xml"))], every=6
            ),
        )
        for outlet, name in (
            ("The Guardian", "guardian-world"),
            ("Le Monde", "lemonde-en"),
            ("NBC News", "nbc-world"),
        )
    }
    directory = tmp_path / "digests"
    t = make_tracker(
        {outlet: [url] for outlet, url in feeds.items()},
        extra=f"timezone: {zone}\ndigest:\n  directory: {directory}\n  time: '{at}'\n",
    )
    tz = t.config.tz
    clock.set(start)
    run = t.store.start_service_run(
        pid=1, host="test", version="test", config="c", heartbeat_every=60, now=start
    )
    digests = DailyDigests(t, t.write_digest, clock, lambda: t.config, run_id=run, since=start)
    trigger = digest_trigger(t.config)
    end = start + timedelta(days=4)
    fire = trigger.get_next_fire_time(None, start.astimezone(tz))
    poll = start
    written: dict[date, datetime] = {}
    while min(poll, fire) < end:
        if fire <= poll:
            clock.set(fire.astimezone(UTC))
            for day in digests.write_owed("schedule"):
                assert day not in written, f"{day} written twice"
                written[day] = fire
            fire = trigger.get_next_fire_time(fire, fire.astimezone(UTC) + timedelta(seconds=1))
        else:
            clock.set(poll)
            t.poll(all_feeds=True)
            poll += timedelta(hours=1)
    # each day once, at the moment it fell due: the day of the change included
    first = start.astimezone(tz).date()
    assert list(written) == [first + timedelta(days=n) for n in range(len(written))]
    assert len(written) == 4
    assert all(when == due_moment(day, at, tz) for day, when in written.items())
    assert [r.attempts for r in t.store.service_digests(10)] == [1] * 4

    linked = list(
        t.store.db.query(
            "SELECT items.url, items.first_seen_at, items.published_at, article_items.linked_at "
            "FROM article_items JOIN items ON items.id = article_items.item_id"
        )
    )
    # what each digest should list: the items first seen in its local day and linked to the
    # article by the time it was written (a later rescore may link more)
    by_day: dict[date, dict[str, tuple[str, str]]] = {}
    for row in linked:
        day = datetime.fromisoformat(row["first_seen_at"]).astimezone(tz).date()
        reported = min(row["published_at"] or row["first_seen_at"], row["first_seen_at"])
        local = datetime.fromisoformat(reported).astimezone(tz)
        label = local.strftime("%H:%M" if local.date() == day else f"{local.day} %b %H:%M")
        if day in written and datetime.fromisoformat(row["linked_at"]) <= written[day]:
            by_day.setdefault(day, {})[row["url"]] = (reported, label)
    listed: set[str] = set()
    for day in written:
        shown = digest_items((directory / f"{day}.html").read_text(encoding="utf-8"))
        expected = by_day.get(day, {})
        assert set(shown) == set(expected), day
        for url, label in shown.items():
            stamp, text = label.split(" ", 1)
            assert (stamp, text[: len(expected[url][1])]) == expected[url], (day, url, label)
        assert not listed & set(shown), "an item in two days' digests"
        listed |= set(shown)
    change_day = next(
        d for d in written if day_window(d, tz)[1] - day_window(d, tz)[0] != timedelta(days=1)
    )
    assert by_day.get(change_day), "no item first seen on the day of the change"
    assert len(listed) == sum(len(by_day.get(d, {})) for d in written) > 20


# --- the machine off (or asleep) across the digest time -------------------------------------------


def zone_at_noon() -> str:
    """A time zone where it is about noon now, so no day boundary falls during a test."""
    offset = 12 - datetime.now(UTC).hour
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def test_the_machine_off_across_the_digest_time_gets_each_digest_once_at_start_up(
    tmp_path: Path, server: FeedServer, services
) -> None:
    """The service ran three days ago and wrote one digest; the machine was off since. At
    start-up the real digest writer writes the days missed, once each, and leaves the one written
    alone; a second start writes nothing."""
    snapshots = sorted(REPLAY.glob("guardian-world-*.xml"))
    url = server.add("/g.xml", snapshots[0].read_bytes())
    zone = zone_at_noon()
    config = service_config(
        tmp_path, {"The Guardian": [url]}, digest={"time": "'00:00'"}, timezone=zone
    )
    init(config)
    tz = load_config(config).tz
    today = datetime.now(tz).date()
    days = [today - timedelta(days=n) for n in (3, 2, 1)]
    clock = ManualClock(datetime.combine(days[0], dtime(9), tz).astimezone(UTC))
    with Tracker(load_config(config), clock=clock) as t:
        run = t.store.start_service_run(
            pid=1, host="h", version="0", config=str(config), heartbeat_every=30, now=clock()
        )
        for n, day in enumerate(days):  # it polled on each of the three days
            clock.set(datetime.combine(day, dtime(10), tz).astimezone(UTC))
            server.add("/g.xml", snapshots[n + 1].read_bytes())
            t.poll(all_feeds=True)
            if n == 1:  # and wrote the digest of the first day at 00:00 on the second
                t.write_digest(days[0])
                t.store.record_digest(days[0], run_id=run, trigger="schedule", now=clock())
        t.store.finish_service_run(run, clock(), "SIGTERM")
    directory = tmp_path / "digests"
    kept = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.glob(f"{days[0]}.*")}
    assert len(kept) == 2

    service = services(config).wait_started()
    for day in days[1:]:
        service.wait_log(f"digest for {day} written (catch-up)")
    assert service.stop() == 0
    assert {
        p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.glob(f"{days[0]}.*")
    } == kept
    for day in days:
        md = (directory / f"{day}.md").read_text(encoding="utf-8")
        assert md.startswith(f"# Coverage digest: {day:%A} {day.day} {day:%B %Y}\n")
        assert re.search(r"\*\*\d+ new items?\*\*", md), day  # the items seen that day
        assert (directory / f"{day}.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    atom = feedparser.parse((directory / "digests.atom").read_bytes())
    assert not atom.bozo and len(atom.entries) == 3
    recorded = rows(
        db := load_config(config).database,
        "SELECT day, trigger, result, attempts FROM service_digests ORDER BY day",
    )
    assert recorded == [
        {"day": str(days[0]), "trigger": "schedule", "result": "ok", "attempts": 1},
        *({"day": str(d), "trigger": "catch-up", "result": "ok", "attempts": 1} for d in days[1:]),
    ]
    written = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}

    again = services(config).wait_started()
    again.wait_log("no digest owed (catch-up)")
    assert again.stop() == 0
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == written
    assert one(db, "SELECT sum(attempts) FROM service_digests") == 3
    assert "Traceback" not in service.log() + again.log()


def test_a_digest_due_while_the_machine_slept_is_written_when_it_wakes(tmp_path: Path) -> None:
    """Found by this suite: the daily job ran only within 6 hours of its time, so after a night
    asleep (the scheduler wakes to find the run hours late) the digest waited a whole day. It now
    runs however late; the days owed are still written once each."""
    config = service_config(tmp_path, {}, digest={"time": "'00:00'"}, timezone=zone_at_noon())
    init(config)
    calls: list[date] = []
    service = Service(load_config(config), digest_writer=calls.append, handle_signals=False)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        scheduler = wait_for(lambda: service._scheduler, "the scheduler")
        ran = threading.Event()
        outcome: list[str] = []

        def seen(event: JobEvent) -> None:
            if event.job_id == "digest":
                outcome.append("missed" if event.code == EVENT_JOB_MISSED else "ran")
                ran.set()

        scheduler.add_listener(seen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
        # what the scheduler finds when the machine wakes: the run it waited for, 8 hours ago
        scheduler.modify_job("digest", next_run_time=datetime.now(UTC) - timedelta(hours=8))
        assert ran.wait(60)
        assert outcome == ["ran"]
        job = scheduler.get_job("digest")
        assert job.next_run_time > datetime.now(UTC)  # and tomorrow as usual
    finally:
        service.stop()
        runner.join(60)
    assert not runner.is_alive()


# --- config.yaml that expands without bound ------------------------------------------------------


def alias_bomb(levels: int) -> str:
    """Nine values, then each level nine aliases of the one before: ``levels`` levels expand to
    9**(levels + 1) values from a file of a few hundred bytes."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, levels + 1)]
    return "\n".join(lines) + f"\ntimezone: *l{levels}\n"


UNBOUNDED_CONFIGS = {
    "an alias bomb": (alias_bomb(8), "aliases expand to more than 100,000 values"),
    "an alias bomb one level less": (alias_bomb(7), "aliases expand to more than 100,000 values"),
    "nesting 50,000 deep": ("relevance: " + "[" * 50_000 + "\n", "nested too deeply"),
    "an alias to itself": ("relevance: &a [*a]\n", "refers to itself"),
}

#: the tracker's own command under a 2 GiB address-space limit (the bomb took 5.5 GB), its
#: peak resident memory (kB) written on stderr as it exits
BOUNDED = """
import atexit, resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
atexit.register(
    # VmHWM, not getrusage's ru_maxrss: Linux carries that one over from the forked test runner
    # through exec, so a runner that had grown to 400 MB made every child seem that large
    lambda: sys.stderr.write(
        "maxrss " + open("/proc/self/status").read().split("VmHWM:")[1].split()[0] + "\\n"
    )
)
sys.argv[0] = "tracker"
runpy.run_module("tracker", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("how", UNBOUNDED_CONFIGS)
def test_a_config_that_expands_without_bound_is_one_error_line(tmp_path: Path, how: str) -> None:
    """Issue 18: a YAML alias bomb (``timezone: *l8``, nine levels) took 50 s and 5.5 GB before
    a MemoryError traceback, one level less printed a 300 MB error line (the whole value), and
    50,000 nested ``[`` gave a RecursionError traceback. Each is one bounded error line naming
    the file, exit 2, at once, for ``tracker run`` as for any command."""
    text, problem = UNBOUNDED_CONFIGS[how]
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    for command in (["run"], ["status"]):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", BOUNDED, "-c", str(config), *command],
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - started
        lines = result.stderr.strip().splitlines()
        assert result.returncode == (4 if command == ["status"] else 2), result.stderr[-3000:]
        assert len(lines) == 2 and lines[0].startswith(f"Error: {config}"), lines[:3]
        assert problem in lines[0] and len(lines[0]) < 500, lines[0][:1000]
        assert elapsed < 20 and int(lines[1].split()[1]) < 300 * 1024, (elapsed, lines[1])


# --- SIGHUP with a broken config.yaml --------------------------------------------------------------


def test_sighup_with_a_broken_config_keeps_the_running_one(
    tmp_path: Path, server: FeedServer, services
) -> None:
    """Each way config.yaml can be broken when the service is told to reload it: one error line
    naming the problem, the running configuration kept (every feed still polled, none disabled),
    and a good file still taken afterwards. The database is the default one beside the file (as
    in contrib/tracker.service), so a file that names none still points at it."""
    rec = Recorder()
    urls = [
        server.add(f"/{name}", rec.serve(name, (REPLAY / name).read_bytes()))
        for name in HEALTHY.values()
    ]
    config = service_config(tmp_path, {"Outlet": urls})
    good = config.read_text(encoding="utf-8").replace(f"database: {tmp_path}/tracker.db\n", "")
    config.write_text(good, encoding="utf-8")
    db = init(config)
    assert db == tmp_path / "db" / "tracker.db"
    service = services(config).wait_started()
    wait_for(
        lambda: all(rec.count(n) for n in HEALTHY.values()),
        "every feed polled",
        on_fail=service.log(),
    )
    broken = {
        "not YAML": (good + "outlets: [unclosed\n", "not valid YAML"),
        "an unknown setting": (good.replace("polling:", "pollng:"), "pollng"),
        "an ftp: feed": (
            good.replace(urls[0], "ftp://127.0.0.1/feed.xml"),
            "ftp://127.0.0.1/feed.xml",
        ),
        "another database": (
            f"database: {tmp_path}/other.db\n" + good,
            "restart the service to switch databases",
        ),
        "not UTF-8": (good.encode("utf-8") + b"# caf\xe9\n", "cannot read config"),
        "a list, not a mapping": ("- outlets\n- polling\n", "config.yaml"),
        "empty (a failed save)": ("", "empty"),
        **{
            how: (good.replace("timezone: UTC\n", "") + text, problem)
            for how, (text, problem) in UNBOUNDED_CONFIGS.items()
            if "one level less" not in how
        },
        "deleted": (None, "config file not found"),
    }
    for n, (how, (content, problem)) in enumerate(broken.items(), start=1):
        if content is None:
            config.unlink()
        elif isinstance(content, bytes):
            config.write_bytes(content)
        else:
            config.write_text(content, encoding="utf-8")
        service.send(signal.SIGHUP)
        log = wait_for(
            lambda n=n: (
                service.log().count("reload failed, the running configuration is kept") >= n
                and service.log()
            ),
            f"the reload of {how} refused",
            on_fail=service.log(),
        )
        failure = [line for line in log.splitlines() if "reload failed" in line][-1]
        assert problem in failure, (how, failure)
        polls = {name: rec.count(name) for name in HEALTHY.values()}
        wait_for(
            lambda polls=polls: all(rec.count(name) > count for name, count in polls.items()),
            f"every feed still polled after {how}",
            on_fail=service.log(),
        )
        assert one(db, "SELECT count(*) FROM feeds WHERE enabled = 1") == len(urls), how
    # a good file is still taken: one feed removed, then (found by this suite: it disabled
    # nothing) every outlet removed
    config.write_text(good.replace(f"      - {urls[2]}\n", ""), encoding="utf-8")
    service.send(signal.SIGHUP)
    service.wait_log("(0 added, 1 removed)")
    assert one(db, "SELECT count(*) FROM feeds WHERE enabled = 1") == len(urls) - 1
    outlets = good[good.index("outlets:") : good.index("fetch:")]
    config.write_text(good.replace(outlets, "outlets: []\n"), encoding="utf-8")
    service.send(signal.SIGHUP)
    service.wait_log("0 feeds enabled (0 added, 2 removed)")
    assert service.stop() == 0
    log = service.log()
    assert log.count("reload failed") == len(broken) and "Traceback" not in log
    assert one(db, "SELECT count(*) FROM feeds WHERE enabled = 1") == 0


def test_the_service_does_not_start_on_an_empty_config(tmp_path: Path, services) -> None:
    config = service_config(tmp_path, {})
    init(config)
    config.write_text("# emptied by a failed save\n", encoding="utf-8")
    service = services(config)
    assert service.wait(60) == 2  # a bad config.yaml: systemd does not restart it
    assert "config.yaml: the file is empty" in service.log()


# --- 1,000 accelerated cycles ---------------------------------------------------------------------

BENCH = Path(__file__).parents[2] / "bench" / "service.py"


def process_status() -> dict[str, int]:
    """This process's resident memory, open file descriptors and threads (from /proc), and the
    memory its Python objects and SQLite hold.

    Freed memory is first handed back to the system (``gc.collect``, glibc's ``malloc_trim``):
    without that, RSS swings by tens of MB from one sample to the next with what the allocator
    happens to keep, which says nothing about a leak."""
    gc.collect()
    libc = ctypes.CDLL(None)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {
        "rss": int(status["VmRSS"].split()[0]) * 1024,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": int(status["Threads"]),
        "python_blocks": sys.getallocatedblocks(),
        "sqlite": sqlite_memory_used(),
    }


def sqlite_memory_used() -> int:
    """Bytes SQLite has allocated in this process (-1 if its library cannot be found)."""
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return -1
    used = ctypes.CDLL(name).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return int(used())


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_1000_accelerated_cycles_keep_memory_files_and_threads_flat(tmp_path: Path) -> None:
    """The service (in this process, its scheduler running) with a virtual clock moved on 15
    minutes per cycle, so 1,000 cycles are ten days of service: its dispatcher polls four local
    feeds whose content keeps changing (real snapshots whose first items become new ones every
    sixth request, served by bench/service.py in another process, so its memory and threads do
    not count here), each cycle is recorded, new items cluster and the models refresh, and each
    day's digest is written. From the 100th cycle to the 1,000th: the same threads and open
    files, Python objects and SQLite's memory flat, RSS within what the allocator's
    fragmentation takes: the same loop with six feeds, measured to its 2,250th cycle, grew
    12 MB by the 1,000th and no more after, while its database grew from 4 to 33 MB.

    The tracker keeps the newest items tokenised in memory, up to ``relevance.recent_items``
    (10,000 by default: the models' window, the polls' cache, the week's clustering terms):
    bounded, but growing until full. Here it is 50, full long before the 100th cycle, so what
    is measured from then on is everything else.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(BENCH), "--serve", str(port), "--feeds", "4", "--change-every", "6"]
    )
    try:
        wait_for(lambda: _accepts(port), "the feed server")
        urls = [f"http://127.0.0.1:{port}/feed/{i}.xml" for i in range(4)]
        config = service_config(
            tmp_path,
            {"Live": urls},
            polling={
                "interval": "15m",
                "min_interval": "15m",
                "max_interval": "15m",
                "dispatch_every": "1h",
            },
            relevance={"recent_items": 50},
        )
        db = init(config)
        clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
        service = Service(load_config(config), clock=clock, handle_signals=False)
        runner = threading.Thread(target=service.run, name="service")
        runner.start()
        samples: dict[int, dict[str, int]] = {}
        try:
            # the service's own parts, driven as its scheduler would, without the waits
            dispatcher = wait_for(lambda: service._dispatcher, "the service started")
            digests = wait_for(lambda: service._digests, "the digest job")
            # the scheduler's own first tick may come after the dispatcher exists: wait for its
            # cycle to be recorded, or it races the first tick below
            wait_for(
                lambda: one(db, "SELECT count(*) FROM service_cycles"),
                "the scheduler's first cycle",
            )
            assert dispatcher.wait_idle(60)
            started = time.monotonic()
            for cycle in range(1, 1001):
                clock.set(clock() + timedelta(minutes=15))
                assert dispatcher.tick() == len(urls), cycle
                assert dispatcher.wait_idle(120), cycle
                digests.write_owed("schedule")
                if cycle % 100 == 0:
                    samples[cycle] = process_status()
            elapsed = time.monotonic() - started
        finally:
            service.stop()
            runner.join(120)
        assert not runner.is_alive()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    print(
        f"\n1,000 cycles in {elapsed:.0f} s: " + "; ".join(f"{c}: {s}" for c, s in samples.items())
    )
    assert one(db, "SELECT count(*) FROM service_cycles") == 1001  # the first, then ours
    assert one(db, "SELECT count(*) FROM fetches WHERE result = 'error'") == 0
    assert one(db, "SELECT count(*) FROM service_digests WHERE result = 'ok'") >= 9
    assert one(db, "SELECT count(*) FROM items") > 1000
    check_database_file(db)
    warm, final = samples[100], samples[1000]
    assert {s["threads"] for s in samples.values()} == {warm["threads"]}, samples
    assert max(s["fds"] for s in samples.values()) <= warm["fds"] + 2, samples
    assert final["python_blocks"] < warm["python_blocks"] * 1.02, samples
    assert final["sqlite"] < warm["sqlite"] * 1.25 + (1 << 20), samples
    assert final["rss"] - warm["rss"] < 24 << 20, samples


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
