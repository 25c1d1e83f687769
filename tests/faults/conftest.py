"""The fault suite's harness: a faulty feed polled beside healthy real feeds, and the checks that
every fault must pass (issue 10).

``faults({"Outlet": [url, ...]})`` serves three healthy real feeds (the 19 August 2025 snapshots
of The Guardian, Le Monde and NBC News) from the same local server as the faulty ones and returns
a ``FaultRun``. Its ``poll()`` runs one cycle and checks the common ending: the cycle completes,
the healthy feeds' items arrive, no stored row is lost or duplicated, ``PRAGMA integrity_check``
is ok and peak memory stays under the issue's 1 GiB. ``error(url)`` gives what was recorded
against a feed: the fetches row, ``feeds.last_error`` and what ``tracker feeds list`` shows.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tracker.app import Tracker
from tracker.demo.localserver import FeedServer
from tracker.models import CycleSummary, FeedResult, ManualClock

from ..conftest import REPLAY
from ..servicekit import ServiceProcess, start_services

#: the issue's bound for the whole process
MEMORY_BOUND = 1 << 30
HEALTHY = {
    "The Guardian": ("/healthy/guardian.xml", "guardian-world-20250819.xml", 60),
    "Le Monde": ("/healthy/lemonde.xml", "lemonde-en-20250819.xml", 53),
    "NBC News": ("/healthy/nbc.xml", "nbc-world-20250819.xml", 10),
}


class PeakRSS:
    """Samples the resident set size in a thread: ``with PeakRSS() as peak: ...; peak.bytes``.

    RSS counts what tracemalloc cannot see (libxml2, zlib, SQLite) and costs nothing to the code
    measured; it may miss a spike shorter than the sampling interval, which the memory tests of
    single steps cover with tracemalloc.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRSS:
        self.bytes = current_rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.bytes = max(self.bytes, current_rss())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.bytes = max(self.bytes, current_rss())


def current_rss() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the lifetime peak is still an upper bound
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Recorded:
    """What the tracker recorded against a feed after its last poll."""

    result: str
    error_kind: str | None
    error_message: str | None
    http_status: int | None
    last_error: str | None
    enabled: bool
    disabled_reason: str | None
    next_poll_at: str | None
    consecutive_errors: int


@dataclass
class FaultRun:
    tracker: Tracker
    server: FeedServer
    clock: ManualClock
    #: healthy feed URL -> items it brings on the first poll
    healthy: dict[str, int]
    polls: int = 0
    peaks: list[int] = field(default_factory=list)

    def poll(self) -> CycleSummary:
        """One cycle over every enabled feed, with the common checks."""
        t = self.tracker
        before = self.rows()
        fetches_before = self.count("fetches")
        with PeakRSS() as peak:
            summary = t.poll(all_feeds=True)
        self.peaks.append(peak.bytes)
        self.polls += 1
        assert peak.bytes < MEMORY_BOUND, f"peak RSS {peak.bytes:,} bytes"
        assert self.count("fetches") == fetches_before + len(summary.results)
        self._check_healthy(summary)
        self.check_database(before)
        return summary

    def result(self, summary: CycleSummary, url: str) -> FeedResult:
        found = [r for r in summary.results if r.url == url]
        assert found, f"{url} was not polled"
        return found[0]

    def error(self, url: str) -> Recorded:
        """The last fetch of a feed as recorded in fetches and feeds (what feeds list shows)."""
        feed = next(f for f in self.tracker.feeds() if f.url == url)
        fetch = self.one(
            "SELECT result, error_kind, error_message, http_status FROM fetches "
            "WHERE feed_id = ? ORDER BY id DESC LIMIT 1",
            (feed.id,),
        )
        return Recorded(
            result=fetch["result"],
            error_kind=fetch["error_kind"],
            error_message=fetch["error_message"],
            http_status=fetch["http_status"],
            last_error=feed.last_error,
            enabled=feed.enabled,
            disabled_reason=feed.disabled_reason,
            next_poll_at=feed.next_poll_at,
            consecutive_errors=feed.consecutive_errors,
        )

    def assert_failed(self, url: str, kind: str, *words: str) -> Recorded:
        """The feed's last poll is an error of this kind whose message has these words."""
        recorded = self.error(url)
        assert (recorded.result, recorded.error_kind) == ("error", kind), recorded
        message = recorded.error_message or ""
        assert all(w.lower() in message.lower() for w in words), message
        assert recorded.last_error == f"{kind}: {message}"
        return recorded

    def check_database(self, before: dict[int, tuple[Any, ...]] | None = None) -> None:
        """Integrity ok, nothing duplicated, and every row seen before still there, unchanged
        in identity."""
        t = self.tracker
        assert t.store.integrity_check() == "ok"
        # one URL is one item, unless the feed told its items apart by guid (a live blog) or,
        # listing several under one link with no guid, by their words (then no item holds the URL
        # as its key)
        shared_url = self.one(
            "SELECT count(*) AS n FROM (SELECT canonical_url FROM items WHERE canonical_url IS "
            "NOT NULL AND EXISTS (SELECT 1 FROM item_keys WHERE item_keys.item_id = items.id "
            "AND item_keys.key LIKE 'url:%') "
            "GROUP BY canonical_url HAVING count(*) > 1 AND count(*) > count(DISTINCT guid))"
        )
        assert shared_url["n"] == 0, "items stored twice under one URL"
        hashes = self.one(
            "SELECT count(*) AS n FROM (SELECT content_hash FROM items WHERE canonical_url IS "
            "NULL AND guid IS NULL GROUP BY outlet_id, content_hash HAVING count(*) > 1)"
        )
        assert hashes["n"] == 0, "link-less items stored twice"
        orphans = self.one(
            "SELECT (SELECT count(*) FROM item_keys WHERE item_id NOT IN (SELECT id FROM items))"
            " + (SELECT count(*) FROM sightings WHERE item_id NOT IN (SELECT id FROM items))"
            " + (SELECT count(*) FROM items WHERE id NOT IN (SELECT item_id FROM sightings))"
            " AS n"
        )
        assert orphans["n"] == 0
        if before is not None:
            after = self.rows()
            lost = set(before) - set(after)
            assert not lost, f"committed items lost: {sorted(lost)[:5]}"
            changed = {i for i in before if before[i][:2] != after[i][:2]}
            assert not changed, f"items changed identity: {sorted(changed)[:5]}"

    def rows(self) -> dict[int, tuple[Any, ...]]:
        return {
            r["id"]: (r["first_seen_at"], r["outlet_id"], r["canonical_url"], r["content_hash"])
            for r in self.tracker.store.db.query(
                "SELECT id, first_seen_at, outlet_id, canonical_url, content_hash FROM items"
            )
        }

    def count(self, table: str) -> int:
        return self.tracker.store.counts()[table]

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any]:
        return next(iter(self.tracker.store.db.query(sql, params)))

    def set_fetch(self, **changes: Any) -> None:
        """Tighten the fetch settings (deadline, caps) for one test."""
        config = self.tracker.config
        self.tracker.config = replace(config, fetch=replace(config.fetch, **changes))

    def later(self, **delta: float) -> None:
        from datetime import timedelta

        self.clock.set(self.clock() + timedelta(**delta))

    def _check_healthy(self, summary: CycleSummary) -> None:
        """Each healthy feed succeeded and every one of its items is stored and seen by it
        (a faulty copy of the same feed may have stored them first)."""
        for url, expected in self.healthy.items():
            r = self.result(summary, url)
            assert r.result in ("ok", "not-modified", "unchanged"), r
            assert r.result == "ok" or self.polls > 1, r
            seen = self.one(
                "SELECT count(*) AS n FROM sightings JOIN feeds ON feeds.id = feed_id "
                "WHERE feeds.url = ?",
                (url,),
            )
            assert seen["n"] == expected, (url, seen["n"])


@pytest.fixture
def faults(
    server: FeedServer, make_tracker: Callable[..., Tracker], clock: ManualClock
) -> Callable[..., FaultRun]:
    def start(feeds: dict[str, list[str]], extra: str = "", host: str = "127.0.0.1") -> FaultRun:
        healthy = {}
        for outlet, (path, name, items) in HEALTHY.items():
            url = server.add(path, (REPLAY / name).read_bytes()).replace("127.0.0.1", host)
            healthy[url] = items
            feeds = {**feeds, outlet: [*feeds.get(outlet, []), url]}
        return FaultRun(make_tracker(feeds, extra), server, clock, healthy)

    return start


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown: lets handlers that hang on purpose return, so no thread outlives a test."""
    event = threading.Event()
    yield event
    event.set()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll a condition (never a fixed sleep as an assertion); fail after a generous timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """``services(config)`` starts the real service process (see tests/servicekit.py)."""
    yield from start_services(tmp_path)


# --- a database another process writes (the service), checked from outside ---------------------

#: one URL is one item, unless the feed told its items apart by guid (a live blog)
SHARED_URL = (
    "SELECT count(*) FROM (SELECT canonical_url FROM items WHERE canonical_url IS NOT NULL "
    "GROUP BY canonical_url HAVING count(*) > 1 AND count(*) > count(DISTINCT guid))"
)
LINKLESS_TWICE = (
    "SELECT count(*) FROM (SELECT content_hash FROM items WHERE canonical_url IS NULL AND guid "
    "IS NULL GROUP BY outlet_id, content_hash HAVING count(*) > 1)"
)
ORPHANS = (
    "SELECT (SELECT count(*) FROM item_keys WHERE item_id NOT IN (SELECT id FROM items))"
    " + (SELECT count(*) FROM sightings WHERE item_id NOT IN (SELECT id FROM items))"
    " + (SELECT count(*) FROM items WHERE id NOT IN (SELECT item_id FROM sightings))"
)


def check_database_file(
    db: Path, before: dict[int, tuple[Any, ...]] | None = None
) -> dict[int, tuple[Any, ...]]:
    """The common checks on a database file, opened as any other process would (after a kill,
    this open is what recovers it): integrity ok, nothing duplicated or orphaned, and every item
    of ``before`` still there with the same identity. Returns id -> identity of every item."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute(SHARED_URL).fetchone()[0] == 0, "items stored twice under one URL"
        assert conn.execute(LINKLESS_TWICE).fetchone()[0] == 0, "link-less items stored twice"
        assert conn.execute(ORPHANS).fetchone()[0] == 0, "orphaned keys or sightings"
        items = {
            row[0]: tuple(row[1:])
            for row in conn.execute("SELECT id, first_seen_at, outlet_id FROM items")
        }
    finally:
        conn.close()
    if before is not None:
        lost = set(before) - set(items)
        assert not lost, f"committed items lost: {sorted(lost)[:5]}"
        changed = [i for i in before if before[i] != items[i]]
        assert not changed, f"items changed identity: {changed[:5]}"
    return items
