"""The service's parts in-process: digest days (fixed clocks), triggers, the instance lock, status
states, log lines, systemd notifications, and the dispatcher against a real local HTTP server."""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.config import parse_config
from tracker.demo.localserver import FeedServer, send_status
from tracker.errors import AlreadyRunningError, ConfigError
from tracker.models import ManualClock
from tracker.service.daily import days_owed, due_moment
from tracker.service.instance import InstanceLock, LockState, probe
from tracker.service.logs import setup_logging, writes_to_journal
from tracker.service.service import (
    cycle_line,
    digest_trigger,
    dispatch_trigger,
    heartbeat_interval,
    log_job_event,
)
from tracker.service.status import service_status
from tracker.service.systemd import notify, watchdog_interval
from tracker.storage import Store
from tracker.update.engine import CycleReport, Dispatcher

from .conftest import REPLAY, write_config
from .servicekit import Recorder, wait_for

LONDON = ZoneInfo("Europe/London")
GUARDIAN = sorted(REPLAY.glob("guardian-world-*.xml"))


def local(*args: int, tz: ZoneInfo = LONDON) -> datetime:
    return datetime(*args, tzinfo=tz)


# --- which digests are owed (fixed clocks) ----------------------------------------------------


def test_a_first_run_owes_nothing_until_the_next_digest_time() -> None:
    since = local(2025, 8, 19, 10, 0)
    assert days_owed(since, "07:00", LONDON, since, set(), 30) == []
    assert days_owed(local(2025, 8, 20, 6, 59), "07:00", LONDON, since, set(), 30) == []
    assert days_owed(local(2025, 8, 20, 7, 0), "07:00", LONDON, since, set(), 30) == [
        date(2025, 8, 19)
    ]


def test_a_run_started_before_the_digest_time_owes_the_day_before() -> None:
    since = local(2025, 8, 19, 6, 0)
    assert days_owed(local(2025, 8, 19, 7, 0), "07:00", LONDON, since, set(), 30) == [
        date(2025, 8, 18)
    ]


def test_days_missed_while_down_are_owed_unless_written() -> None:
    since = local(2025, 8, 15, 12, 0)
    now = local(2025, 8, 19, 9, 0)
    written = {date(2025, 8, 16)}
    assert days_owed(now, "07:00", LONDON, since, written, 30) == [
        date(2025, 8, 15),
        date(2025, 8, 17),
        date(2025, 8, 18),
    ]


def test_catch_up_goes_back_at_most_keep_days() -> None:
    since = local(2025, 1, 1, 12, 0)
    now = local(2025, 8, 19, 9, 0)
    assert days_owed(now, "07:00", LONDON, since, set(), 3) == [
        date(2025, 8, 16),
        date(2025, 8, 17),
        date(2025, 8, 18),
    ]


def test_days_follow_the_configured_time_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    # 23:30 UTC on the 19th is 08:30 on the 20th in Tokyo: the 19th's digest is due there
    now = datetime(2025, 8, 19, 23, 30, tzinfo=UTC)
    since = datetime(2025, 8, 19, 12, 0, tzinfo=UTC)
    assert days_owed(now, "07:00", tokyo, since, set(), 30) == [date(2025, 8, 19)]
    assert days_owed(now, "07:00", LONDON, since, set(), 30) == []


def test_daylight_saving_changes_neither_skip_nor_repeat_a_day() -> None:
    # London springs forward on 30 March 2025 (01:00 GMT -> 02:00 BST): 01:30 does not exist
    since = local(2025, 3, 28, 12, 0)
    now = local(2025, 4, 1, 12, 0)
    assert days_owed(now, "01:30", LONDON, since, set(), 30) == [
        date(2025, 3, 28),
        date(2025, 3, 29),
        date(2025, 3, 30),
        date(2025, 3, 31),
    ]
    # and falls back on 26 October (01:00-02:00 happens twice)
    since, now = local(2025, 10, 24, 12, 0), local(2025, 10, 28, 12, 0)
    assert len(days_owed(now, "01:30", LONDON, since, set(), 30)) == 4
    assert due_moment(date(2025, 10, 25), "01:30", LONDON).utcoffset() == timedelta(hours=1)


# --- triggers -----------------------------------------------------------------------------------


def config_text(tmp_path: Path, extra: str) -> str:
    return f"database: {tmp_path}/t.db\ntimezone: Europe/London\n{extra}"


def test_digest_job_fires_daily_at_the_local_digest_time(tmp_path: Path) -> None:
    config = parse_config(config_text(tmp_path, "digest:\n  time: '07:30'\n"), tmp_path / "c")
    trigger = digest_trigger(config)
    assert trigger.get_next_fire_time(None, local(2025, 8, 19, 8, 0)) == local(2025, 8, 20, 7, 30)
    # across the change to winter time it is still 07:30 on the wall clock
    fire = trigger.get_next_fire_time(None, local(2025, 10, 25, 12, 0))
    assert fire == local(2025, 10, 26, 7, 30) and fire.utcoffset() == timedelta(0)


def test_dispatch_and_heartbeat_intervals(tmp_path: Path, monkeypatch) -> None:
    config = parse_config(config_text(tmp_path, "polling:\n  dispatch_every: 2m\n"), tmp_path / "c")
    assert dispatch_trigger(config).interval == timedelta(minutes=2)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert heartbeat_interval(config) == 30
    monkeypatch.setenv("WATCHDOG_USEC", "15000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert heartbeat_interval(config) == 5  # systemd hears from us three times per watchdog period
    with pytest.raises(ConfigError, match=r"polling\.dispatch_every: must be at least 1s"):
        parse_config(config_text(tmp_path, "polling:\n  dispatch_every: 0.5s\n"), tmp_path / "c")


# --- the instance lock --------------------------------------------------------------------------


def test_one_lock_holder_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "t.db.lock"
    assert probe(path) == LockState(held=False)
    with InstanceLock(path, tmp_path / "t.db"):
        assert probe(path) == LockState(held=True, pid=os.getpid())
        with pytest.raises(AlreadyRunningError, match=rf"already running \(pid {os.getpid()}\)"):
            InstanceLock(path, tmp_path / "t.db").acquire()
    assert probe(path) == LockState(held=False)
    assert path.read_text() == ""
    with InstanceLock(path):
        pass


def test_a_killed_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    path = tmp_path / "t.db.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from tracker.service.instance import InstanceLock; "
            f"InstanceLock({str(path)!r}).acquire(); print('locked', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert probe(path) == LockState(held=True, pid=holder.pid)
    finally:
        holder.kill()
        holder.wait()
    assert probe(path).held is False  # the pid is still in the file; the lock is what counts
    with InstanceLock(path):
        assert probe(path).pid == os.getpid()


# --- status -------------------------------------------------------------------------------------

NOW = datetime(2025, 8, 19, 12, 0, tzinfo=UTC)


def test_status_states(tmp_path: Path) -> None:
    store, lock = Store.memory(), tmp_path / "t.db.lock"
    state = lambda now=NOW: service_status(store, lock, now).service  # noqa: E731
    assert state().state == "never-started"
    run = store.start_service_run(
        pid=os.getpid(), host="h", version="1", config="c", heartbeat_every=30, now=NOW
    )
    crashed = state()  # recorded, never stopped, no lock: it was killed
    assert (crashed.state, crashed.stop_reason) == (
        "stopped",
        "not stopped cleanly (killed or crashed)",
    )
    with InstanceLock(lock):
        assert state().state == "running"
        assert state().uptime_s == 0 and state().pid == os.getpid()
        assert state(NOW + timedelta(seconds=200)).state == "unresponsive"
        store.service_heartbeat(run, NOW + timedelta(seconds=190), 3)
        assert state(NOW + timedelta(seconds=200)).state == "running"
        assert state(NOW + timedelta(seconds=200)).in_flight == 3
    store.finish_service_run(run, NOW + timedelta(minutes=5), "SIGTERM")
    stopped = state()
    assert (stopped.state, stopped.stop_reason) == ("stopped", "SIGTERM")


def test_a_new_run_marks_an_unfinished_one_as_crashed() -> None:
    store = Store.memory()
    first = store.start_service_run(
        pid=1, host="h", version="1", config="c", heartbeat_every=30, now=NOW
    )
    store.service_heartbeat(first, NOW + timedelta(minutes=3), 0)
    store.start_service_run(
        pid=2, host="h", version="1", config="c", heartbeat_every=30, now=NOW + timedelta(hours=1)
    )
    old = store.service_runs(limit=2)[1]
    assert old.stopped_at == "2025-08-19T12:03:00Z"
    assert old.stop_reason == "not stopped cleanly (killed or crashed)"


def test_digest_records_count_attempts_and_only_successes_are_written() -> None:
    store = Store.memory()
    run = store.start_service_run(
        pid=1, host="h", version="1", config="c", heartbeat_every=30, now=NOW
    )
    day = date(2025, 8, 18)
    store.record_digest(day, run_id=run, trigger="schedule", now=NOW, error="NotFoundError: x")
    assert store.digest_days_written(date(2025, 8, 1)) == set()
    store.record_digest(day, run_id=run, trigger="catch-up", now=NOW)
    assert store.digest_days_written(date(2025, 8, 1)) == {day}
    record = store.service_digests()[0]
    assert (record.attempts, record.result, record.error) == (2, "ok", None)


def test_status_command_before_and_after_init(tmp_path: Path) -> None:
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    before = run(cli, ["-c", str(config), "status"])
    assert before.exit_code == 4 and "run 'tracker init' first" in before.output
    run(cli, ["-c", str(config), "init"])
    fresh = run(cli, ["-c", str(config), "status"])
    assert fresh.exit_code == 3
    assert "service: never started" in fresh.output


def test_status_counts_each_stored_item_once(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    """'tracker status' said 1264 items where items held 1070: it added up each feed's
    sightings, and an item two feeds list was counted twice."""
    body = GUARDIAN[0].read_bytes()
    t = make_tracker(
        {"The Guardian": [server.add("/g.xml", body)], "Syndicator": [server.add("/s.xml", body)]}
    )
    t.poll(all_feeds=True)
    stored = t.store.counts()
    assert stored["sightings"] == 2 * stored["items"] > 0
    report = t.status()
    assert report.totals.items == stored["items"]
    assert sorted(f.items for f in report.feeds) == [stored["items"]] * 2
    shown = CliRunner().invoke(cli, ["-c", str(t.config.path), "status"])
    assert f"; {stored['items']} items;" in shown.output


ROOT = Path(__file__).parent.parent


def unit_settings(path: Path, home: Path) -> dict[str, list[str]]:
    """The [Service] settings of a systemd unit, each with every value it is given, %h
    expanded to ``home``."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value.replace("%h", str(home)))
    return settings


def test_init_creates_every_path_the_systemd_unit_lets_the_service_write(tmp_path: Path) -> None:
    """ProtectSystem=strict and ProtectHome=read-only leave only ReadWritePaths writable, and
    only those that exist when the service starts ("-" skips a missing one in silence): 'tracker
    init' did not create digests/, so the first scheduled digest would have failed."""
    unit = unit_settings(ROOT / "contrib" / "tracker.service", tmp_path)
    clone = Path(unit["WorkingDirectory"][0])
    assert clone == tmp_path / "tracker"
    clone.mkdir()
    (clone / "config.yaml").write_bytes((ROOT / "config.yaml").read_bytes())
    (clone / "articles").mkdir()
    for article in (ROOT / "articles").iterdir():
        (clone / "articles" / article.name).write_bytes(article.read_bytes())
    start = unit["ExecStart"][0].split()
    assert start[0] == str(clone / ".venv" / "bin" / "tracker") and start[-1] == "run"
    config_file = Path(start[start.index("--config") + 1])
    result = CliRunner().invoke(cli, ["--config", str(config_file), "init"])
    assert result.exit_code == 0, result.output
    writable = [Path(p.lstrip("-")) for v in unit["ReadWritePaths"] for p in v.split()]
    assert all(p.is_dir() for p in writable), [p for p in writable if not p.is_dir()]
    config = parse_config(config_file.read_text(encoding="utf-8"), config_file)
    written = {
        "database": config.database.parent,
        "lock": config.lock_path.parent,
        "digests": config.digest.directory,
    }
    for what, directory in written.items():
        assert directory.is_dir(), what
        assert any(directory.resolve().is_relative_to(p.resolve()) for p in writable), what
    assert f"digests: {config.digest.directory}" in result.output


# --- logs ---------------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ("tracker", "apscheduler", "apscheduler.executors")
    saved = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names}
    handlers = {n: list(logging.getLogger(n).handlers) for n in names}
    yield
    for name in names:
        logger = logging.getLogger(name)
        logger.setLevel(saved[name][0])
        logger.propagate = saved[name][1]
        logger.handlers[:] = handlers[name]


def test_one_line_per_event_with_time_and_level(restore_logging) -> None:
    stream = io.StringIO()
    setup_logging("info", stream, journald=False)
    log = logging.getLogger("tracker.service.service")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("job failed")
    log.debug("not shown at info")
    logging.getLogger("apscheduler.executors.default").error("shown by the service itself")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ERROR service: job failed \| ", lines[0]
    )
    assert "Traceback (most recent call last):" in lines[0]
    assert lines[0].endswith("ValueError: boom | second line")


def test_journald_lines_carry_the_priority_and_no_time(restore_logging) -> None:
    stream = io.StringIO()
    setup_logging("debug", stream, journald=True)
    logging.getLogger("tracker.service.dispatch").warning("feed 3 failed")
    logging.getLogger("tracker.service.service").debug("tick")
    assert stream.getvalue().splitlines() == ["<4>dispatch: feed 3 failed", "<7>service: tick"]


def test_journal_stream_is_recognised_by_device_and_inode(tmp_path: Path, monkeypatch) -> None:
    with (tmp_path / "log").open("w") as stream:
        info = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        assert writes_to_journal(stream)
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino + 1}")
        assert not writes_to_journal(stream)
        monkeypatch.delenv("JOURNAL_STREAM")
        assert not writes_to_journal(stream)


# --- systemd ------------------------------------------------------------------------------------


def test_notify_sends_to_the_notify_socket(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    address = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        monkeypatch.setenv("NOTIFY_SOCKET", str(address))
        assert notify("READY=1", "STATUS=ok") is True
        assert sock.recv(100) == b"READY=1\nSTATUS=ok"
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None  # meant for another process


# --- the dispatcher against a real local server ------------------------------------------------


def poll_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("poll-") and t.is_alive())


def test_a_cycle_is_reported_when_its_last_feed_is_done(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    urls = [server.add(f"/g{i}.xml", GUARDIAN[i].read_bytes()) for i in range(2)]
    t = make_tracker({"The Guardian": urls})
    reports: list[CycleReport] = []
    threads = poll_threads()
    d = Dispatcher(t.context, 2, reports.append)
    assert d.tick() == 2
    assert d.wait_idle(60)
    assert len(reports) == 1
    report = reports[0]
    assert (report.due, report.cancelled, report.summary.count("ok")) == (2, 0, 2)
    assert report.summary.items_new > 0
    assert re.match(
        r"cycle 7: 2 feeds polled: 2 ok, 0 not modified, 0 failed; \d+ new", cycle_line(7, report)
    )
    assert d.tick() == 0  # nothing is due until the clock moves
    clock.set(clock() + timedelta(hours=1))
    assert d.tick() == 2 and d.wait_idle(60)
    assert reports[1].summary.count("not-modified") == 2
    d.resize(4)
    wait_for(lambda: poll_threads() == threads + 4, "4 workers")
    d.resize(1)
    wait_for(lambda: poll_threads() == threads + 1, "1 worker")
    assert d.stop(1.0) == []
    wait_for(lambda: poll_threads() == threads, "no worker left")


def test_a_feed_is_never_polled_twice_at_once_and_stop_cancels_the_queue(
    server: FeedServer, make_tracker, caplog
) -> None:
    rec, release = Recorder(), threading.Event()
    threads = poll_threads()
    hang = server.add("/hang.xml", rec.hang("hang", release))
    others = [server.add(f"/g{i}.xml", GUARDIAN[i].read_bytes()) for i in range(3)]
    t = make_tracker({"X": [hang, *others]})
    reports: list[CycleReport] = []
    d = Dispatcher(t.context, 1, reports.append)
    try:
        assert d.tick() == 4  # the hanging feed first; the others wait for the only worker
        wait_for(lambda: rec.count("hang"), "the hanging request")
        assert d.tick() == 0  # every due feed is queued or in flight already
        assert d.in_flight() == 4
        abandoned = d.stop(0.3)
    finally:
        release.set()
    assert [f.url for f in abandoned] == [hang]
    assert len(reports) == 1
    assert (reports[0].due, reports[0].cancelled, reports[0].summary.results) == (4, 4, ())
    assert d.tick() == 0  # stopped
    assert rec.count("hang") == 1
    # the abandoned worker returns once the server lets go, and reports nothing
    with caplog.at_level(logging.DEBUG, logger="tracker"):
        t.store.close()
        wait_for(lambda: poll_threads() == threads, "the abandoned worker gone")
    assert len(reports) == 1 and caplog.records == []


def test_an_unexpected_error_is_logged_and_the_feed_stays_due(
    server: FeedServer, make_tracker, monkeypatch, caplog
) -> None:
    url = server.add("/g.xml", GUARDIAN[0].read_bytes())
    t = make_tracker({"The Guardian": [url]})

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("tracker.update.engine.poll_feed", broken)
    reports: list[CycleReport] = []
    d = Dispatcher(t.context, 1, reports.append)
    with caplog.at_level(logging.ERROR, logger="tracker"):
        assert d.tick() == 1 and d.wait_idle(30)
    result = reports[0].summary.results[0]
    assert (result.result, result.error_kind) == ("error", "internal")
    assert "poll failed unexpectedly" in caplog.text and "RuntimeError: a bug" in caplog.text
    assert [f.id for f in t.store.due_feeds(t.clock())] == [result.feed_id]
    d.stop(1)


def test_a_full_disk_pauses_dispatching_with_one_line_and_backs_off(
    server: FeedServer, make_tracker, caplog
) -> None:
    """The database refusing writes is no feed's fault: the service says so once, and stops
    fetching feeds it could not even record, for a pause that doubles while it lasts (issue 18:
    each tick fetched every due feed again, logged as a tracker bug)."""
    urls = [server.add(f"/g{i}.xml", GUARDIAN[i].read_bytes()) for i in range(3)]
    t = make_tracker({"The Guardian": urls})
    conn = t.store.db.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # SQLite's limit stands in for the disk
    now = [1000.0]
    reports: list[CycleReport] = []
    d = Dispatcher(t.context, 1, reports.append, monotonic=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="tracker"):
        assert d.tick() == 3 and d.wait_idle(60)
        fetched = sum(server.hits(f"/g{i}.xml") for i in range(3))
        assert fetched == 1  # the first poll failed to store; the cycle's other feeds dropped
        report = reports[-1]
        assert (report.cancelled, report.summary.results[0].error_kind) == (2, "storage")
        now[0] += 29
        assert d.tick() == 0  # paused 30 s
        now[0] += 2
        assert d.tick() == 3 and d.wait_idle(60)  # tried again, and failed again
        now[0] += 59
        assert d.tick() == 0  # now paused 60 s
    failures = [r.getMessage() for r in caplog.records if "the database failed" in r.getMessage()]
    assert len(failures) == 2 and "disk is full" in failures[0]
    assert "paused for 30 s" in failures[0] and "paused for 60 s" in failures[1]
    assert "poll failed unexpectedly" not in caplog.text
    assert sum(server.hits(f"/g{i}.xml") for i in range(3)) == 2
    conn.execute("PRAGMA max_page_count = 1073741823")
    now[0] += 2
    assert d.tick() == 3 and d.wait_idle(60)
    assert reports[-1].summary.count("ok") == 3
    d.stop(1)


def test_run_before_init_or_with_a_bad_config_says_what_is_wrong(tmp_path: Path) -> None:
    config = write_config(tmp_path, {})
    before = subprocess.run(
        [sys.executable, "-m", "tracker", "-c", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert before.returncode == 1
    assert "run 'tracker init' first" in before.stderr
    assert "Traceback" not in before.stderr
    config.write_text(config.read_text().replace("disable_after: 3", "disable_after: many"))
    bad = CliRunner().invoke(cli, ["-c", str(config), "run"])
    assert bad.exit_code == 2
    assert re.search(
        r"config\.yaml:\d+: polling\.disable_after: expected a whole number", bad.output
    )


# --- redirects move a feed only when permanent --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "moved"), [(301, True), (308, True), (302, False), (307, False)]
)
def test_only_permanent_redirects_move_the_stored_feed_url(
    server: FeedServer, make_tracker, status: int, moved: bool
) -> None:
    new = server.add("/new.xml", GUARDIAN[0].read_bytes())
    old = server.add("/old.xml", lambda h: send_status(h, status, {"Location": new}))
    t = make_tracker({"The Guardian": [old]})
    assert t.poll(all_feeds=True).results[0].result == "ok"
    assert [f.url for f in t.feeds()] == [new if moved else old]


# --- the scheduler's job listener ----------------------------------------------------------------


def test_failed_and_missed_jobs_are_logged_one_line_each(caplog) -> None:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler

    def boom() -> None:
        raise RuntimeError("the database went away")

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_listener(log_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.start()
    try:
        with caplog.at_level(logging.WARNING, logger="tracker"):
            scheduler.add_job(boom, id="dispatch")
            past = datetime.now(UTC) - timedelta(minutes=10)
            scheduler.add_job(print, "date", run_date=past, id="digest", misfire_grace_time=1)
            wait_for(lambda: len(caplog.records) >= 2, "both events logged")
    finally:
        scheduler.shutdown(wait=True)
    messages = {r.levelname: r.getMessage() for r in caplog.records}
    assert messages["ERROR"].startswith("job dispatch failed (run of ")
    assert messages["ERROR"].endswith("RuntimeError: the database went away")
    assert "job digest missed its run of" in messages["WARNING"]
