"""Alerts through Apprise, end to end: real feeds and a real webhook receiver on 127.0.0.1.

The receiver is a route of the tests' HTTP server that takes Apprise's ``json://`` POSTs; it can
fail (500) or hang, to show an alert is retried, sent once, and never holds up a poll.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tracker.alerts import (
    AlertReport,
    Candidate,
    compose,
    decide,
    run_alerts,
    send,
    target_key,
)
from tracker.app import Tracker
from tracker.config import load_config, parse_config
from tracker.demo.localserver import FeedServer, send_status
from tracker.errors import ConfigError
from tracker.models import ManualClock
from tracker.storage.rows import ClaimedAlert
from tracker.update.engine import Dispatcher
from tracker.update.pipeline import cluster_new_items

from .conftest import ARTICLE, REPLAY, write_config
from .servicekit import ServiceProcess, one, rows, service_config, start_services, wait_for

GUARDIAN_19 = (REPLAY / "guardian-world-20250819.xml").read_bytes()
GUARDIAN_20 = (REPLAY / "guardian-world-20250820.xml").read_bytes()
BLOOMBERG_19 = (REPLAY / "bloomberg-politics-20250819.xml").read_bytes()


class Receiver:
    """A JSON webhook on the tests' server: records each message; answers ``status``, or
    holds the request until released when ``hang`` is set."""

    def __init__(self, server: FeedServer, path: str = "/hook") -> None:
        self.messages: list[dict[str, Any]] = []
        self.refused = 0
        self.status = 200
        self.hang = False
        self.release = threading.Event()
        self._lock = threading.Lock()
        server.add(path, self._handle)
        self.target = f"json://127.0.0.1:{server.port}{path}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        if self.hang:
            self.release.wait(30)
        with self._lock:
            if self.status == 200:
                self.messages.append(json.loads(body))
            else:
                self.refused += 1
        send_status(handler, self.status)


@pytest.fixture
def receivers(server: FeedServer) -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.release.set()


def alerting_tracker(
    tmp_path: Path,
    clock: ManualClock,
    feeds: dict[str, list[str]],
    targets: list[str],
    settings: str = "",
) -> Tracker:
    listed = "".join(f"      - {target}\n" for target in targets)
    extra = f"articles:\n  - path: {ARTICLE}\n    alerts:\n{listed}{settings}"
    t = Tracker(load_config(write_config(tmp_path, feeds, extra, article=None)), clock=clock)
    t.init()
    return t


def expected_alerts(t: Tracker, since: str = "") -> dict[int, str]:
    """What the rule says, worked out from the stored links: every story-tier item, and each
    outlet's first linked item (by its date, no later than first seen; then first seen)."""
    rows = t.store.db.execute(
        "SELECT items.id, items.outlet_id, article_items.tier, items.first_seen_at, "
        "min(coalesce(items.published_at, items.first_seen_at), items.first_seen_at) "
        "FROM article_items JOIN items ON items.id = article_items.item_id "
        "ORDER BY 5, 4, 1"
    ).fetchall()
    firsts: dict[int, int] = {}
    for item_id, outlet_id, _, _, _ in rows:
        firsts.setdefault(outlet_id, item_id)
    expected = {}
    for item_id, _, tier, first_seen, _ in rows:
        if first_seen < since:
            continue
        reasons = (["story"] if tier == "story" else []) + (
            ["new outlet"] if item_id in firsts.values() else []
        )
        if reasons:
            expected[item_id] = ", ".join(reasons)
    return expected


def alert_rows(t: Tracker) -> list[dict[str, Any]]:
    return list(t.store.db.query("SELECT * FROM alerts ORDER BY id"))


# --- the rule, and the message ------------------------------------------------------------------


def test_story_tier_items_and_each_new_outlets_first_item_are_alerted() -> None:
    def c(item: int, outlet: int, tier: str, seen: str, published: str | None = None) -> Candidate:
        return Candidate(item, outlet, tier, f"2025-08-19T{seen}Z", published)

    candidates = [
        c(1, 10, "related", "12:00:00"),  # an outlet already covering it, related: no
        c(2, 10, "story", "12:00:00"),  # story tier: yes
        c(3, 20, "related", "12:00:00", "2025-08-19T09:00:00Z"),  # a new outlet: yes
        c(4, 20, "related", "12:00:00", "2025-08-19T10:00:00Z"),  # its second item: no
        c(5, 20, "story", "12:00:00"),  # story tier, same new outlet: yes, as story only
        c(6, 30, "story", "12:00:00", "2025-08-19T08:00:00Z"),  # both at once
        # reported first, though listed last: the outlet's first item is the earlier one
        c(8, 40, "related", "12:00:00", "2025-08-19T11:00:00Z"),
        c(7, 40, "related", "12:00:00", "2025-08-19T11:30:00Z"),
        # a date after first seen counts as first seen
        c(9, 50, "related", "11:00:00", "2025-08-20T00:00:00Z"),
        c(10, 50, "related", "11:30:00"),
    ]
    chosen = decide(candidates, outlets_before={10})
    assert chosen == [
        (6, "story, new outlet"),
        (3, "new outlet"),
        (9, "new outlet"),
        (8, "new outlet"),
        (2, "story"),
        (5, "story"),
    ]
    assert decide(candidates, outlets_before={10, 20, 30, 40, 50}) == [
        (6, "story"),
        (2, "story"),
        (5, "story"),
    ]


def claimed(reason: str, outlet: str, title: str, url: str) -> ClaimedAlert:
    """An alert as sending claims it; only what a message shows matters here."""
    return ClaimedAlert(
        id=1,
        article_id=1,
        article="A",
        target="key",
        target_url="json://127.0.0.1/",
        reason=reason,
        attempts=0,
        title=title,
        url=url,
        outlet=outlet,
        first_seen_at="2025-08-19T09:00:00Z",
        published_at=None,
    )


def test_a_message_lists_at_most_max_items() -> None:
    alerts = [claimed("story", "DW", f"Item  {n}\n", f"https://x/{n}") for n in range(5)]
    title, body = compose(1, "The Shifting Sands of Support", alerts, max_items=3)
    assert title == "5 new items on “The Shifting Sands of Support”"
    assert body.splitlines() == [
        "[story] DW: Item 0",
        "  https://x/0",
        "[story] DW: Item 1",
        "  https://x/1",
        "[story] DW: Item 2",
        "  https://x/2",
        "… and 2 more: tracker coverage --article 1 --limit 5",
    ]
    assert compose(1, "A", alerts[:1], 3)[0] == "1 new item on “A”"


# --- end to end: poll, the receiver, the database -------------------------------------------------


def test_a_cycle_sends_one_message_per_target_and_each_alert_once(
    tmp_path: Path, clock: ManualClock, server: FeedServer, receivers: list[Receiver]
) -> None:
    guardian = server.add("/guardian.xml", GUARDIAN_19)
    bloomberg = server.add("/bloomberg.xml", BLOOMBERG_19)
    receivers.extend([Receiver(server, "/one"), Receiver(server, "/two")])
    one, two = receivers
    t = alerting_tracker(
        tmp_path,
        clock,
        {"The Guardian": [guardian], "Bloomberg": [bloomberg]},
        [one.target, two.target],
        "alerts:\n  max_items: 500\n",
    )
    t.poll()
    expected = expected_alerts(t)
    assert any(r == "story" for r in expected.values())
    assert sum("new outlet" in r for r in expected.values()) == 2
    # one message per target, the whole cycle in it
    for receiver in receivers:
        (message,) = receiver.messages
        assert message["title"].startswith(f"{len(expected)} new items on “The Shifting Sands")
        listed = [line for line in message["message"].splitlines() if line.startswith("[")]
        assert len(listed) == len(expected)
    titles = dict(t.store.db.execute("SELECT id, title FROM items"))
    body = one.messages[0]["message"]
    for item_id, reason in expected.items():
        assert f"[{reason}] " in body and " ".join(titles[item_id].split())[:150] in body
    rows = alert_rows(t)
    assert {(r["item_id"], r["reason"]) for r in rows} == set(expected.items())
    assert {r["target"] for r in rows} == {target_key(one.target), target_key(two.target)}
    assert {r["target_url"] for r in rows} == {one.target, two.target}
    assert {(r["status"], r["attempts"], r["last_error"]) for r in rows} == {("sent", 1, None)}

    # nothing new: nothing sent
    clock.set(clock() + timedelta(hours=1))
    t.poll(all_feeds=True)
    assert len(one.messages) == len(two.messages) == 1
    # the next day: only the new alerts, in one message
    server.add("/guardian.xml", GUARDIAN_20)
    clock.set(clock() + timedelta(days=1))
    before = {r["id"] for r in alert_rows(t)}
    started = clock()
    t.poll(all_feeds=True)
    new = expected_alerts(t, since=started.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert new, "the next day's snapshot brings story-tier items"
    assert {(r["item_id"], r["reason"]) for r in alert_rows(t) if r["id"] not in before} == set(
        new.items()
    )
    assert len(one.messages) == 2
    second = [line for line in one.messages[1]["message"].splitlines() if line.startswith("[")]
    assert len(second) == len(new)
    assert len(alert_rows(t)) == 2 * (len(expected) + len(new))
    t.close()


def test_a_failing_target_is_retried_at_the_next_cycle_and_the_other_is_not_held_up(
    tmp_path: Path,
    clock: ManualClock,
    server: FeedServer,
    receivers: list[Receiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    guardian = server.add("/guardian.xml", GUARDIAN_19)
    receivers.extend([Receiver(server, "/good"), Receiver(server, "/down")])
    good, down = receivers
    down.status = 500
    t = alerting_tracker(tmp_path, clock, {"The Guardian": [guardian]}, [good.target, down.target])
    with caplog.at_level(logging.WARNING, logger="tracker.alerts"):
        summary = t.poll()
    assert summary.count("ok") == 1 and summary.items_new == 60
    assert len(good.messages) == 1 and down.refused == 1
    failed = [r for r in alert_rows(t) if r["target"] == target_key(down.target)]
    assert failed and {(r["status"], r["attempts"]) for r in failed} == {("pending", 1)}
    assert {r["last_error"] for r in failed} == {
        "Failed to send JSON POST notification: Internal server error., error=500."
    }
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "tracker.alerts"]
    assert warning.startswith(f"alert of {len(failed)} items on article 1 to {down.target} failed")
    assert warning.endswith("retried at the next cycle")

    # the next cycle brings nothing new (the feed answers 304), and the alert goes
    down.status = 200
    clock.set(clock() + timedelta(minutes=20))
    assert t.poll(all_feeds=True).items_new == 0
    assert len(down.messages) == 1 and len(good.messages) == 1
    listed = [line for line in down.messages[0]["message"].splitlines() if line.startswith("[")]
    assert len(listed) == len(failed)
    assert {(r["status"], r["attempts"]) for r in alert_rows(t)} == {("sent", 1), ("sent", 2)}
    # and never again
    clock.set(clock() + timedelta(minutes=20))
    t.poll(all_feeds=True)
    assert len(down.messages) == 1 and len(good.messages) == 1
    t.close()


def test_a_hanging_target_costs_at_most_the_timeout_and_is_retried(
    tmp_path: Path, clock: ManualClock, server: FeedServer, receivers: list[Receiver]
) -> None:
    guardian = server.add("/guardian.xml", GUARDIAN_19)
    receivers.append(Receiver(server, "/slow"))
    (slow,) = receivers
    slow.hang = True
    t = alerting_tracker(
        tmp_path, clock, {"The Guardian": [guardian]}, [slow.target], "alerts:\n  timeout: 1s\n"
    )
    began = time.monotonic()
    summary = t.poll()
    assert time.monotonic() - began < 10
    assert summary.items_new == 60
    rows = alert_rows(t)
    assert rows and {(r["status"], r["attempts"]) for r in rows} == {("pending", 1)}
    assert all(
        "no answer within 1s" in r["last_error"] or "onnection" in r["last_error"] for r in rows
    )
    # the receiver comes back: the next cycle sends them
    slow.hang = False
    slow.release.set()
    clock.set(clock() + timedelta(minutes=20))
    t.poll(all_feeds=True)
    assert {r["status"] for r in alert_rows(t)} == {"sent"}
    assert slow.messages
    t.close()


def test_an_alert_failing_for_retry_for_is_given_up_and_logged(
    tmp_path: Path,
    clock: ManualClock,
    server: FeedServer,
    receivers: list[Receiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    guardian = server.add("/guardian.xml", GUARDIAN_19)
    receivers.append(Receiver(server, "/down"))
    (down,) = receivers
    down.status = 503
    t = alerting_tracker(
        tmp_path, clock, {"The Guardian": [guardian]}, [down.target], "alerts:\n  retry_for: 2h\n"
    )
    t.poll()
    clock.set(clock() + timedelta(hours=1))
    t.poll(all_feeds=True)
    assert down.refused == 2
    down.status = 200
    clock.set(clock() + timedelta(hours=1, seconds=1))
    with caplog.at_level(logging.WARNING, logger="tracker.alerts"):
        t.poll(all_feeds=True)
    assert down.messages == []
    rows = alert_rows(t)
    assert {(r["status"], r["attempts"]) for r in rows} == {("expired", 2)}
    (warning,) = [r.getMessage() for r in caplog.records if "given up" in r.getMessage()]
    assert warning.startswith(f"{len(rows)} alerts of article 1 to {down.target} given up")
    assert "undelivered for 2h" in warning and "error=503" in warning
    t.close()


def test_a_sending_that_breaks_loses_nothing_and_is_retried_once_its_claim_lapses(
    tmp_path: Path,
    clock: ManualClock,
    server: FeedServer,
    receivers: list[Receiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    guardian = server.add("/guardian.xml", GUARDIAN_19)
    receivers.append(Receiver(server))
    (hook,) = receivers
    t = alerting_tracker(tmp_path, clock, {"The Guardian": [guardian]}, [hook.target])

    def broken(deliveries: Any, timeout: float) -> Any:
        raise RuntimeError("a bug in a plugin")

    started = clock()
    engine = Dispatcher(t.context, 1, lambda report: None)
    summary = engine.run_once().summary
    engine.shutdown()
    cluster_new_items(t.store, started)
    with caplog.at_level(logging.ERROR, logger="tracker.alerts"):
        assert run_alerts(t.store, t.config, t.clock, started, sender=broken) == AlertReport()
    assert summary.items_new == 60
    assert "alerts not sent after this cycle (a bug)" in caplog.text
    rows = alert_rows(t)
    assert rows and {(r["status"], r["attempts"]) for r in rows} == {("pending", 0)}
    # held by the claim of the sending that broke: not sent twice meanwhile
    t.send_alerts()
    assert hook.messages == []
    clock.set(clock() + timedelta(seconds=t.config.alerts.timeout + 61))
    t.send_alerts()
    assert len(hook.messages) == 1
    assert {(r["status"], r["attempts"]) for r in alert_rows(t)} == {("sent", 1)}
    t.close()


def test_without_alert_targets_nothing_is_queued(
    make_tracker, server: FeedServer, receivers: list[Receiver]
) -> None:
    receivers.append(Receiver(server))
    t = make_tracker({"The Guardian": [server.add("/guardian.xml", GUARDIAN_19)]})
    t.poll()
    assert t.coverage() and alert_rows(t) == []
    assert receivers[0].messages == []


def test_removing_an_article_or_its_items_takes_their_alerts(
    tmp_path: Path, clock: ManualClock, server: FeedServer, receivers: list[Receiver]
) -> None:
    receivers.append(Receiver(server))
    t = alerting_tracker(tmp_path, clock, {}, [receivers[0].target])
    t.add_feed(server.add("/guardian.xml", GUARDIAN_19), "The Guardian")
    t.poll()
    sent = len(alert_rows(t))
    assert sent
    removal = t.remove_feed(1)
    assert removal.counts["alerts"] == sent
    assert alert_rows(t) == []


def test_send_reports_each_target_on_its_own(server: FeedServer, receivers) -> None:
    from tracker.alerts import Delivery

    receivers.extend([Receiver(server, "/ok"), Receiver(server, "/no")])
    ok, no = receivers
    no.status = 404
    results = send(
        [
            Delivery((1, "ok"), ok.target, "t", "b"),
            Delivery((1, "no"), no.target, "t", "b"),
            Delivery((1, "closed"), "json://127.0.0.1:9/hook", "t", "b"),
        ],
        timeout=5,
    )
    assert results[(1, "ok")] is None
    assert (
        results[(1, "no")] == "Failed to send JSON POST notification: Page not found., error=404."
    )
    assert "onnection error" in results[(1, "closed")]
    assert ok.messages == [
        {"version": "1.0", "title": "t", "message": "b", "attachments": [], "type": "info"}
    ]


# --- in the service ------------------------------------------------------------------------------


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    yield from start_services(tmp_path)


def test_the_service_alerts_after_its_cycles_and_retries_while_it_polls_on(
    tmp_path: Path, server: FeedServer, receivers: list[Receiver], services
) -> None:
    receivers.append(Receiver(server))
    (hook,) = receivers
    hook.status = 500
    feed = server.add("/guardian.xml", GUARDIAN_19)
    config = service_config(tmp_path, {"The Guardian": [feed]})
    text = config.read_text(encoding="utf-8")
    article = f"articles:\n  - path: {ARTICLE}\n"
    config.write_text(text.replace(article, f"{article}    alerts: [{hook.target}]\n"))
    with Tracker(load_config(config)) as t:
        t.init()
    db = t.config.database
    service = services(config).wait_started()
    wait_for(lambda: hook.refused >= 1, "a first, failed alert", on_fail=service.log())
    cycles = one(db, "SELECT count(*) FROM service_cycles")
    # the target is down: polling goes on, and every cycle retries the alert
    wait_for(lambda: hook.refused >= 3, "retries at later cycles", on_fail=service.log())
    assert one(db, "SELECT count(*) FROM service_cycles") > cycles
    assert hook.messages == []
    hook.status = 200
    wait_for(lambda: hook.messages, "the alert delivered", on_fail=service.log())
    wait_for(
        lambda: one(db, "SELECT count(*) FROM alerts WHERE status != 'sent'") == 0,
        "every alert recorded as sent",
        on_fail=service.log(),
    )
    cycles = one(db, "SELECT count(*) FROM service_cycles")
    wait_for(lambda: one(db, "SELECT count(*) FROM service_cycles") >= cycles + 2, "2 cycles")
    assert service.stop() == 0
    (message,) = hook.messages  # sent once, however many cycles followed
    sent = rows(db, "SELECT item_id, attempts FROM alerts")
    listed = [line for line in message["message"].splitlines() if line.startswith("[")]
    assert sent and len(listed) == len(sent)
    assert min(r["attempts"] for r in sent) >= 3
    log = service.log()
    assert "failed (attempt 1): Failed to send JSON POST notification" in log
    assert "retried at the next cycle" in log
    assert "Traceback" not in log


# --- config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        (
            "[foo://secret-token@host/x]",
            "articles[0].alerts: URL 1 of 1: Apprise knows no foo:// URLs",
        ),
        ("[json://127.0.0.1/ok, slack://]", "URL 2 of 2: Apprise cannot use this slack:// URL"),
        ("[example.org/hook]", "URL 1 of 1: expected an Apprise URL such as mailto://"),
        ("42", "expected a list of strings, got 42"),
    ],
)
def test_alert_urls_apprise_cannot_use_are_refused_without_showing_them(
    tmp_path: Path, alerts: str, message: str
) -> None:
    text = f"articles:\n  - path: {ARTICLE}\n    alerts: {alerts}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "config.yaml")
    assert message in str(info.value)
    assert "secret-token" not in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'config.yaml'}:3: ")


def test_alert_settings_and_targets_are_read_per_article(tmp_path: Path) -> None:
    config = parse_config(
        f"articles:\n  - path: {ARTICLE}\n    alerts: json://127.0.0.1:8/x\n  - {ARTICLE}.2\n"
        "alerts:\n  timeout: 3s\n  retry_for: 6h\n  max_items: 5\n",
        tmp_path / "config.yaml",
    )
    assert [a.alerts for a in config.articles] == [("json://127.0.0.1:8/x",), ()]
    assert (config.alerts.timeout, config.alerts.retry_for, config.alerts.max_items) == (
        3.0,
        6 * 3600.0,
        5,
    )
    with pytest.raises(ConfigError, match=r"alerts\.timeout: must be more than 0s and at most 5m"):
        parse_config("alerts:\n  timeout: 0\n", tmp_path / "config.yaml")
