"""End to end through a real HTTP server on 127.0.0.1: fetch, parse, dedup, score, store."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tracker.app import Tracker
from tracker.config import load_config
from tracker.demo.localserver import FeedServer, send_status
from tracker.models import ManualClock

from .conftest import DATA, FEEDS, REPLAY, write_config

GUARDIAN_19 = (REPLAY / "guardian-world-20250819.xml").read_bytes()


def rows(t: Tracker, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return list(t.store.db.query(sql, params))


def one(t: Tracker, sql: str, params: tuple[Any, ...] = ()) -> Any:
    return next(iter(rows(t, sql, params)[0].values()))


def test_second_poll_is_not_modified_and_stores_nothing_new(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    url = server.add("/g.xml", GUARDIAN_19, last_modified="Tue, 19 Aug 2025 23:37:18 GMT")
    t = make_tracker({"The Guardian": [url]})
    first = t.poll(all_feeds=True)
    assert first.results[0].result == "ok" and first.results[0].items_new == 60
    clock.set(clock() + timedelta(hours=1))
    second = t.poll(all_feeds=True)
    assert second.results[0].result == "not-modified"
    assert second.items_new == 0
    assert one(t, "SELECT count(*) FROM items") == 60
    fetches = rows(t, "SELECT result, http_status, items_new, bytes FROM fetches ORDER BY id")
    assert fetches == [
        {"result": "ok", "http_status": 200, "items_new": 60, "bytes": len(GUARDIAN_19)},
        {"result": "not-modified", "http_status": 304, "items_new": 0, "bytes": 0},
    ]


def test_same_body_without_validators_is_not_parsed_again(server: FeedServer, make_tracker) -> None:
    url = server.add("/g.xml", GUARDIAN_19, conditional=False)
    t = make_tracker({"The Guardian": [url]})
    t.poll(all_feeds=True)
    again = t.poll(all_feeds=True)
    assert again.results[0].result == "unchanged"
    assert "if-none-match" not in server.requests[-1][1]


def test_overlapping_real_snapshots_never_duplicate(server: FeedServer, make_tracker) -> None:
    snapshots = sorted(FEEDS.glob("bbc-news-home-*.xml"))
    url = server.add("/bbc.xml", b"")
    t = make_tracker({"BBC News": [url]})
    expected_links = set()
    for snapshot in snapshots:
        body = snapshot.read_bytes()
        expected_links |= {
            re.sub(rb"#.*", b"", guid) for guid in re.findall(rb"<guid[^>]*>([^<]+)</guid>", body)
        }
        server.add("/bbc.xml", body)
        t.poll(all_feeds=True)
    assert one(t, "SELECT count(*) FROM items") == len(expected_links)
    assert t.store.duplicate_urls() == 0
    seen_twice = one(t, "SELECT count(*) FROM sightings WHERE times_seen > 1")
    assert seen_twice > 0


def test_replay_of_a_week_stores_each_item_once(server: FeedServer, make_tracker) -> None:
    url = server.add("/g.xml", b"")
    t = make_tracker({"The Guardian": [url]})
    guids = set()
    for snapshot in sorted(REPLAY.glob("guardian-world-*.xml")):
        body = snapshot.read_bytes()
        guids |= set(re.findall(rb"<guid[^>]*>([^<]+)</guid>", body))
        server.add("/g.xml", body)
        t.poll(all_feeds=True)
    assert one(t, "SELECT count(*) FROM items") == len(guids)
    assert one(t, "SELECT count(*) FROM item_versions") == 0


def test_one_broken_feed_never_stops_the_others(server: FeedServer, make_tracker) -> None:
    good = server.add("/good.xml", GUARDIAN_19)
    feeds = {
        "Broken": [
            server.add(
                "/malformed.xml",
                (FEEDS / "guardian-business-economics-20221119-0841-malformed.xml").read_bytes(),
            ),
            server.add(
                "/html",
                (DATA / "pages" / "bbc-news-world-us-canada-33646704-2015.html").read_bytes(),
                content_type="text/html",
            ),
            server.add("/empty", b""),
            server.add("/gone", lambda h: send_status(h, 410)),
            server.add("/missing", lambda h: send_status(h, 404)),
            server.add("/error", lambda h: send_status(h, 500)),
            server.add("/hang", lambda h: time.sleep(8)),
            server.add("/huge", GUARDIAN_19 * 100),
        ],
        "The Guardian": [good],
    }
    t = make_tracker(feeds)
    summary = t.poll(all_feeds=True)
    by_url = {r.url.rsplit("/", 1)[1]: r for r in summary.results}
    assert by_url["good.xml"].result == "ok" and by_url["good.xml"].items_new == 60
    assert by_url["malformed.xml"].result == "ok" and by_url["malformed.xml"].items_new == 20
    assert "not well-formed" in by_url["malformed.xml"].error_message
    kinds = {name: r.error_kind for name, r in by_url.items() if r.result == "error"}
    assert kinds == {
        "html": "not-a-feed",
        "empty": "empty",
        "gone": "http-status",
        "missing": "http-status",
        "error": "http-status",
        "hang": "timeout",
        "huge": "too-large",
    }
    recorded = {
        r["url"].rsplit("/", 1)[1]: r
        for r in rows(t, "SELECT url, result, error_kind, error_message FROM fetches")
    }
    assert recorded["html"]["error_message"].startswith("got an HTML page")
    assert recorded["gone"]["error_message"] == "HTTP 410 Gone"


def test_410_disables_at_once_and_404_after_repeats(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    gone = server.add("/gone", lambda h: send_status(h, 410))
    missing = server.add("/missing", lambda h: send_status(h, 404))
    t = make_tracker({"X": [gone, missing]})
    for _ in range(3):
        t.poll(all_feeds=True)
        clock.set(clock() + timedelta(days=1))
    feeds = {f.url: f for f in t.feeds()}
    assert feeds[gone].enabled is False and "410" in (feeds[gone].disabled_reason or "")
    assert feeds[missing].enabled is False
    assert feeds[missing].disabled_reason == "3 consecutive hard failures"
    assert server.hits("/gone") == 1 and server.hits("/missing") == 3
    t.enable_feed(feeds[missing].id)
    assert t.store.feed_state(feeds[missing].id).enabled


def test_failure_backs_off_and_retry_after_is_obeyed(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    busy = server.add("/busy", lambda h: send_status(h, 503, {"Retry-After": "7200"}))
    t = make_tracker({"X": [busy]})
    t.poll()
    feed = t.feeds()[0]
    assert feed.next_poll_at == (clock() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert feed.consecutive_errors == 1 and feed.enabled is True
    assert t.poll().results == ()  # not due yet


def test_permanent_redirect_updates_the_stored_url(server: FeedServer, make_tracker) -> None:
    new = server.add("/new.xml", GUARDIAN_19)
    old = server.add("/old.xml", lambda h: send_status(h, 301, {"Location": new}))
    t = make_tracker({"The Guardian": [old]})
    t.poll(all_feeds=True)
    assert [f.url for f in t.feeds()] == [new]


def test_search_feed_copy_and_sitemap_are_one_item(server: FeedServer, make_tracker) -> None:
    sitemap = server.add(
        "/sitemap.xml",
        (DATA / "handmade" / "reuters-news-sitemap-handmade.xml").read_bytes(),
        content_type="application/xml",
    )
    search = server.add(
        "/bing.xml", (DATA / "handmade" / "bing-news-search-reuters-handmade.xml").read_bytes()
    )
    t = make_tracker({"Reuters": [sitemap, search]})
    t.poll(all_feeds=True)
    assert one(t, "SELECT count(*) FROM items") == 3
    shared = rows(
        t, "SELECT item_id, count(*) AS feeds FROM sightings GROUP BY item_id HAVING feeds = 2"
    )
    assert len(shared) == 2
    urls = {r["canonical_url"] for r in rows(t, "SELECT canonical_url FROM items")}
    assert all(u.startswith("https://www.reuters.com/") for u in urls)


def test_changed_title_updates_the_row_and_keeps_the_old_version(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    url = server.add("/g.xml", GUARDIAN_19)
    t = make_tracker({"The Guardian": [url]})
    t.poll(all_feeds=True)
    old = "What security guarantees might Ukraine get in return for a peace deal?"
    new = "What security guarantees could Ukraine get in return for a peace deal?"
    server.add("/g.xml", GUARDIAN_19.replace(old.encode(), new.encode()))
    clock.set(clock() + timedelta(hours=1))
    result = t.poll(all_feeds=True).results[0]
    assert (result.items_new, result.items_updated, result.items_seen) == (0, 1, 59)
    item = rows(t, "SELECT id, title, version FROM items WHERE title LIKE 'What security%'")
    assert [(i["title"], i["version"]) for i in item] == [(new, 2)]
    versions = rows(
        t, "SELECT title, version FROM item_versions WHERE item_id = ?", (item[0]["id"],)
    )
    assert versions == [{"title": old, "version": 1}]


def test_related_items_are_linked_with_reasons(server: FeedServer, make_tracker) -> None:
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN_19)]})
    t.poll(all_feeds=True)
    linked = {r.title: r for r in t.coverage()}
    story = linked["What security guarantees might Ukraine get in return for a peace deal?"]
    assert story.outlet == "The Guardian"
    assert any("security" in reason for reason in story.reasons)
    assert "Firefighters in race to save Oregon’s tallest tree after it ignites" not in linked
    assert one(t, "SELECT count(*) FROM items") > len(linked)


def test_private_address_is_refused_and_recorded(server: FeedServer, make_tracker) -> None:
    url = server.add("/g.xml", GUARDIAN_19)
    t = make_tracker({"The Guardian": [url]}, extra="")
    t.config = t.config.__class__(**{**t.config.__dict__, "fetch": t.config.fetch.__class__()})
    result = t.poll(all_feeds=True).results[0]
    assert (result.result, result.error_kind) == ("error", "blocked")
    assert server.hits("/g.xml") == 0


def test_future_dates_are_clamped_to_first_seen(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    body = GUARDIAN_19.replace(
        b"Tue, 19 Aug 2025 23:01:23 +0000", b"Fri, 19 Aug 2033 23:01:23 +0000"
    )
    t = make_tracker({"The Guardian": [server.add("/g.xml", body)]})
    t.poll(all_feeds=True)
    assert one(t, "SELECT max(published_at) FROM items") <= clock().strftime("%Y-%m-%dT%H:%M:%SZ")


def test_killed_mid_write_leaves_no_partial_poll(
    server: FeedServer, make_tracker, monkeypatch
) -> None:
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN_19)]})
    calls = {"n": 0}
    original = t.store.link_item

    def crash_after_some(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if interrupted half way through the transaction
        original(*args, **kwargs)

    monkeypatch.setattr(t.store, "link_item", crash_after_some)
    with pytest.raises(KeyboardInterrupt):
        t.poll(all_feeds=True)
    counts = t.store.counts()
    assert (counts["items"], counts["article_items"], counts["fetches"]) == (0, 0, 0)
    monkeypatch.setattr(t.store, "link_item", original)
    assert t.poll(all_feeds=True).items_new == 60


def _replay_week(workdir: Path, server: FeedServer, feed: str) -> tuple[list[Any], list[Any]]:
    """Every snapshot of one replayed feed, a day apart: the poll results and what was stored."""
    workdir.mkdir()
    url = server.add(f"/{feed}.xml", b"")
    clock = ManualClock(datetime(2025, 8, 14, 12, tzinfo=UTC))
    results = []
    with Tracker(load_config(write_config(workdir, {"The Guardian": [url]})), clock=clock) as t:
        t.init()
        for snapshot in sorted(REPLAY.glob(f"{feed}-*.xml")):
            server.add(f"/{feed}.xml", snapshot.read_bytes())
            clock.set(clock() + timedelta(days=1))
            results.extend(t.poll(all_feeds=True).results)
        stored = rows(
            t,
            "SELECT guid, url, title, summary, summary_html, published_at, items.first_seen_at, "
            "items.last_seen_at, version, times_seen, sightings.first_seen_at AS sighted, "
            "sightings.last_seen_at AS last_sighted, article_items.tier, article_items.score "
            "FROM items JOIN sightings ON sightings.item_id = items.id "
            "LEFT JOIN article_items ON article_items.item_id = items.id "
            "ORDER BY canonical_url",
        )
    return results, stored


def test_items_sent_again_byte_for_byte_are_not_parsed_and_nothing_changes(
    server: FeedServer, tmp_path: Path, monkeypatch
) -> None:
    """A week of The Guardian's overlapping snapshots: each poll hands feedparser only the items
    the feed had not sent before, yet stores, sights and links exactly what parsing every item
    of every snapshot does."""
    import tracker.update.pipeline as pipeline

    parsed: list[int] = []
    original = pipeline.parse_feed

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        parsed.append(len(result.items))
        return result

    monkeypatch.setattr(pipeline, "parse_feed", counting)
    results, stored = _replay_week(tmp_path / "split", server, "guardian-world")
    assert {r.result for r in results} == {"ok"}
    listed = sum(r.items_new + r.items_updated + r.items_seen for r in results)
    assert sum(parsed) == sum(r.items_new for r in results) < listed
    resent = [r for r in stored if r["times_seen"] > 1]
    assert resent and all(r["last_sighted"] > r["sighted"] for r in resent)

    monkeypatch.setattr(pipeline, "split_feed", lambda *args: None)
    parsed.clear()
    whole_results, whole = _replay_week(tmp_path / "whole", server, "guardian-world")
    assert sum(parsed) == listed
    assert stored == whole
    assert [(r.items_new, r.items_updated, r.items_seen, r.items_linked) for r in results] == [
        (r.items_new, r.items_updated, r.items_seen, r.items_linked) for r in whole_results
    ]
