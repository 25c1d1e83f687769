"""Querying the database: the views, search, read-only SQL, exports and prune, on the real replay.

The database is the demo's: real feed snapshots of 15-24 August 2025 polled through a real HTTP
server on 127.0.0.1. Expected values are recomputed here in Python from the rows the pipeline
stored, independently of the SQL under test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import threading
import tracemalloc
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from tracker.app import Tracker
from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.localserver import FeedServer, send_status
from tracker.errors import NotFoundError, OutputError, QueryError, StorageError
from tracker.models import CycleSummary, ManualClock, Relevance, SearchHit
from tracker.query import literal_match, parse_age, parse_when, timezone_spans
from tracker.storage import ReadOnlyStore, Store, to_db
from tracker.storage.schema import MIGRATIONS

from .conftest import REPLAY, copy_replay

LONDON = ZoneInfo("Europe/London")
AFTER_REPLAY = datetime(2025, 8, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def replay(replay_db: Path) -> Any:
    t = Tracker(load_config(replay_db), clock=ManualClock(AFTER_REPLAY))
    yield t
    t.close()


def sql(t: Tracker, query: str, params: Any = ()) -> list[dict[str, Any]]:
    return list(t.store.db.query(query, params))


def reported(row: dict[str, Any]) -> str:
    """The outlet's published time, never later than first seen (first seen without one)."""
    return min(row["published_at"] or row["first_seen_at"], row["first_seen_at"])


def local_day(stamp: str, tz: ZoneInfo = LONDON) -> str:
    return datetime.fromisoformat(stamp).astimezone(tz).date().isoformat()


# --- views ---------------------------------------------------------------------------------------


def test_coverage_view_is_the_linked_items_with_their_scores(replay: Tracker) -> None:
    view = sql(replay, "SELECT * FROM coverage WHERE article_id = 1")
    api = replay.coverage(1)
    assert len(view) == len(api) > 100
    by_item = {r["item_id"]: r for r in view}
    for row in api:
        v = by_item[row.item_id]
        assert (v["outlet"], v["title"], v["url"], v["score"], v["tier"]) == (
            row.outlet,
            row.title,
            row.url,
            row.score,
            row.tier,
        )
        assert json.loads(v["reasons"]) == list(row.reasons)
        assert v["story_id"] is not None and v["article"].startswith("The Shifting Sands")


def test_daily_coverage_counts_local_days_across_midnight_utc(replay: Tracker) -> None:
    """Each item counts on the local day it was first seen, as in the digest and the demo."""
    coverage = sql(replay, "SELECT * FROM coverage WHERE article_id = 1")
    expected = Counter((local_day(r["first_seen_at"]), r["outlet"]) for r in coverage)
    view = sql(replay, "SELECT * FROM daily_coverage WHERE article_id = 1")
    assert {(r["day"], r["outlet"]): r["items"] for r in view} == expected
    assert {r["timezone"] for r in view} == {"Europe/London"}
    assert {r["day_rule"] for r in view} == {"first seen"}
    # the check means something: some items were first seen after 23:00 UTC, i.e. the next
    # day in London (BST), and a UTC day would count them on the wrong date
    late = [r for r in coverage if local_day(r["first_seen_at"]) != r["first_seen_at"][:10]]
    assert late
    story = Counter(local_day(r["first_seen_at"]) for r in coverage if r["tier"] == "story")
    per_day = Counter()
    for r in view:
        per_day[r["day"]] += r["story_items"]
    assert +per_day == story
    first: dict[tuple[str, str], str] = {}
    for r in coverage:
        key = (local_day(r["first_seen_at"]), r["outlet"])
        first[key] = min(first.get(key, reported(r)), reported(r))
        assert r["reported_at"] == reported(r)
    assert {(r["day"], r["outlet"]): r["first_reported_at"] for r in view} == first


@pytest.mark.parametrize(
    "zone", ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
def test_local_days_are_right_on_both_sides_of_every_dst_change(zone: str) -> None:
    tz = ZoneInfo(zone)
    store = Store.memory()
    spans = timezone_spans(tz)
    store.sync_timezone(
        zone, [(to_db(s.starts_at), to_db(s.ends_at), s.offset_minutes) for s in spans]
    )
    changes = [s.starts_at for s in spans[1:] if s.starts_at.year in (2024, 2025)]
    moments = [c + timedelta(minutes=m) for c in changes for m in range(-90, 91, 15)]
    moments += [
        datetime(2025, 8, 18, 23, 30, tzinfo=UTC),
        datetime(1989, 12, 31, 23, 0, tzinfo=UTC),
    ]
    for moment in moments:
        stamp = to_db(moment)
        got = store.db.execute(
            "SELECT datetime(:t, (SELECT offset_minutes FROM timezone_spans WHERE starts_at <= :t "
            "ORDER BY starts_at DESC LIMIT 1) || ' minutes')",
            {"t": stamp},
        ).fetchone()[0]
        assert got == moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), (zone, stamp)


def join_story(t: Tracker, item_id: int, story_id: int) -> None:
    """Move an item into an earlier story, as clustering does when it recognises the event."""
    with t.store.transaction():
        t.store.db.execute("UPDATE items SET story_id = ? WHERE id = ?", (story_id, item_id))


def test_first_reports_name_the_first_outlet_and_its_lead(replay: Tracker) -> None:
    """On the replay as clustered by the pipeline: stories with up to four outlets."""
    t = replay
    coverage = sql(t, "SELECT * FROM coverage WHERE article_id = 1")
    stories: dict[int, dict[str, tuple[str, str, int]]] = defaultdict(dict)
    for r in coverage:
        key = (reported(r), r["first_seen_at"], r["outlet"])
        stories[r["story_id"]][r["outlet"]] = min(stories[r["story_id"]].get(r["outlet"], key), key)
    view = {r["story_id"]: r for r in sql(t, "SELECT * FROM first_reports WHERE article_id = 1")}
    assert set(view) == set(stories)
    assert sum(r["outlets"] >= 2 for r in view.values()) >= 5
    assert any(r["outlets"] >= 3 for r in view.values())
    for story_id, outlets in stories.items():
        # reported, then first seen, then the outlet's name: never the order of storing
        order = sorted(outlets, key=outlets.get)
        first = datetime.fromisoformat(outlets[order[0]][0])
        behind = [
            int((datetime.fromisoformat(outlets[o][0]) - first).total_seconds() // 60)
            for o in order
        ]
        row = view[story_id]
        assert row["first_outlet"] == order[0]
        assert row["outlets"] == len(order)
        assert row["next_outlet"] == (order[1] if len(order) > 1 else None)
        assert row["lead_minutes"] == (behind[1] if len(order) > 1 else None)
        assert row["spread_minutes"] == behind[-1]
        assert json.loads(row["followers"]) == [
            {"outlet": o, "minutes_behind": m} for o, m in zip(order[1:], behind[1:], strict=True)
        ]


def linked_in_report_order(t: Tracker, before: str = "9999") -> list[dict[str, Any]]:
    """Article 1's linked items first seen before ``before``, sorted here by the rule: reported
    (published, never later than first seen), first seen, outlet, link, title, id."""
    rows = sql(
        t,
        "SELECT items.id, items.story_id, outlets.name AS outlet, items.published_at, "
        "items.first_seen_at, coalesce(items.canonical_url, items.url, '') AS link, items.title "
        "FROM article_items JOIN items ON items.id = article_items.item_id "
        "JOIN outlets ON outlets.id = items.outlet_id "
        "WHERE article_items.article_id = 1 AND items.first_seen_at < ?",
        (before,),
    )
    return sorted(
        rows,
        key=lambda r: (
            reported(r),
            r["first_seen_at"],
            r["outlet"],
            r["link"],
            r["title"],
            r["id"],
        ),
    )


def first_reporters(rows: list[dict[str, Any]]) -> dict[int, dict[str, str]]:
    """Story -> its outlets in the order they reported it, with their first reported time."""
    order: dict[int, dict[str, str]] = defaultdict(dict)
    for r in rows:
        order[r["story_id"]].setdefault(r["outlet"], reported(r))
    return order


def test_who_reported_first_is_the_same_in_every_output(replay: Tracker) -> None:
    """Issue 17: polled in the same cycle, items share their first-seen second, and who was
    first (and the order of outlets) followed the order the poll's workers stored them in, so
    identical runs disagreed. It goes by when the outlet published (never later than first
    seen), then first seen, then the outlet's name: in first_reports, coverage --stories, the
    digest and the outlets' order alike."""
    rows = linked_in_report_order(replay)
    expected = first_reporters(rows)
    # the check means something: outlets whose linked items one poll found in the same second
    assert sql(
        replay,
        "SELECT first_seen_at FROM items JOIN article_items ON article_items.item_id = items.id "
        "GROUP BY first_seen_at HAVING count(DISTINCT outlet_id) > 1",
    )
    view = {
        r["story_id"]: r for r in sql(replay, "SELECT * FROM first_reports WHERE article_id = 1")
    }
    stories = {r.story_id: r for r in replay.story_coverage(1)}
    assert set(view) == set(stories) == set(expected)
    for story_id, outlets in expected.items():
        first = next(iter(outlets.items()))
        row = view[story_id]
        assert (row["first_outlet"], row["first_reported_at"]) == first, story_id
        story = stories[story_id]
        assert (story.first_outlet, story.first_reported_at) == first
        assert list(story.outlets) == list(outlets)
    # the digest of every day: each story's first reporter as of the end of that day
    days = sorted({local_day(r["first_seen_at"]) for r in rows})
    for day in days:
        digest = replay.digest(date.fromisoformat(day), formats=("md",), write=False).digest
        by_then = first_reporters(linked_in_report_order(replay, to_db(digest.end)))
        article = digest.articles[0]
        for group in (*article.stories, *article.related):
            outlets = by_then[group.story_id]
            first = next(iter(outlets.items()))
            assert (group.first_outlet, to_db(group.first_reported_at)) == first
            shown = {i.outlet for i in group.items}
            assert [a.outlet for a in group.also_in] == sorted(
                (o for o in outlets if o not in shown), key=lambda o: (outlets[o], o)
            )
        assert article.outlets == tuple(
            dict.fromkeys(r["outlet"] for r in rows if local_day(r["first_seen_at"]) == day)
        )
    # the outlets in the order of their first linked item (the demo's summary)
    assert [m.outlet for m in replay.store.first_movers(1)] == list(
        dict.fromkeys(r["outlet"] for r in rows)
    )


def rss(*items: tuple[str, str, str | None]) -> bytes:
    """An RSS feed of (link, title, RFC 822 date or None) items."""
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        + (f"<pubDate>{date}</pubDate>" if date else "")
        + "</item>"
        for link, title, date in items
    )
    return f"<rss version='2.0'><channel><title>t</title>{entries}</channel></rss>".encode()


STORY = "Europe weighs security guarantees for Ukraine and troops of the coalition of the willing"


def first_of_the_story(t: Tracker) -> tuple[tuple[str, str, str, int], list[str], str]:
    """The one story's first reporter as first_reports, coverage --stories and the digest say."""
    items = sql(t, "SELECT id, story_id FROM items ORDER BY id")
    for item in items[1:]:
        join_story(t, item["id"], items[0]["story_id"])  # as clustering would, if it had not
    (row,) = sql(t, "SELECT * FROM first_reports WHERE article_id = 1")
    (story,) = t.story_coverage(1)
    md = t.digest(date(2025, 8, 19), formats=("md",), write=False).texts["md"]
    first = re.search(r"first reported by (.+)", md)
    assert first and story.first_outlet == row["first_outlet"]
    return (
        (row["first_outlet"], row["first_reported_at"], row["next_outlet"], row["lead_minutes"]),
        list(story.outlets),
        first.group(1),
    )


def test_outlets_that_reported_in_one_second_and_were_found_by_one_poll_go_by_name(
    server: FeedServer, make_tracker
) -> None:
    """They were told apart by outlet id: the order config.yaml listed them in."""
    zeta = server.add(
        "/z.xml", rss(("https://z.example/a", STORY, "Tue, 19 Aug 2025 11:00:00 GMT"))
    )
    alpha = server.add(
        "/a.xml", rss(("https://a.example/a", STORY, "Tue, 19 Aug 2025 11:00:00 GMT"))
    )
    t = make_tracker({"Zeta": [zeta], "Alpha": [alpha]})
    t.poll(all_feeds=True)
    assert first_of_the_story(t) == (
        ("Alpha", "2025-08-19T11:00:00Z", "Zeta", 0),
        ["Alpha", "Zeta"],
        "Alpha, 11:00",
    )


def test_a_date_an_item_gains_after_it_was_first_seen_does_not_make_its_outlet_late(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    """Zeta's item was seen at 12:00 without a date and dated 12:50 when it changed at 13:00;
    Alpha's, published 12:30, came in at 13:00. Zeta had it first: the stored 12:50 counted."""
    zeta = server.add("/z.xml", rss(("https://z.example/a", STORY, None)))
    alpha = server.add("/a.xml", rss())
    t = make_tracker({"Zeta": [zeta], "Alpha": [alpha]})
    t.poll(all_feeds=True)
    clock.set(clock() + timedelta(hours=1))
    server.add(
        "/z.xml",
        rss(("https://z.example/a", STORY + " (updated)", "Tue, 19 Aug 2025 12:50:00 GMT")),
    )
    server.add("/a.xml", rss(("https://a.example/a", STORY, "Tue, 19 Aug 2025 12:30:00 GMT")))
    t.poll(all_feeds=True)
    zeta_item = sql(t, "SELECT published_at, first_seen_at FROM items WHERE url LIKE '%z.example%'")
    assert zeta_item == [
        {"published_at": "2025-08-19T12:50:00Z", "first_seen_at": "2025-08-19T12:00:00Z"}
    ]
    assert first_of_the_story(t) == (
        ("Zeta", "2025-08-19T12:00:00Z", "Alpha", 30),
        ["Zeta", "Alpha"],
        "Zeta, 12:00",
    )


def test_feed_health_shows_failing_feeds_and_recent_items(
    server: FeedServer, make_tracker, clock
) -> None:
    clock.set(datetime.now(UTC) - timedelta(days=3))
    good = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    fresh = server.add("/b.xml", (REPLAY / "bloomberg-politics-20250819.xml").read_bytes())
    missing = server.add("/missing", lambda h: send_status(h, 404))
    t = make_tracker({"The Guardian": [good, fresh], "Gone": [missing]})
    t.poll(all_feeds=True)
    clock.set(datetime.now(UTC) - timedelta(hours=2))
    server.add("/b.xml", (REPLAY / "bloomberg-politics-20250820.xml").read_bytes())
    t.poll(all_feeds=True)
    health = {r["url"]: r for r in sql(t, "SELECT * FROM feed_health")}
    new_today = sql(
        t,
        "SELECT count(*) AS n FROM sightings WHERE feed_id = (SELECT id FROM feeds WHERE url = ?) "
        "AND first_seen_at = ?",
        (fresh, to_db(clock())),
    )[0]["n"]
    assert new_today > 0
    assert health[good]["status"] == "ok"
    assert (health[good]["items_24h"], health[good]["items_7d"]) == (0, 60)
    assert health[fresh]["items_24h"] == new_today
    assert health[fresh]["items_7d"] > new_today
    assert health[missing]["status"] == "failing"
    assert health[missing]["consecutive_errors"] == 2 and health[missing]["errors_24h"] == 1
    assert health[missing]["last_error"].startswith("http-status")
    t.enable_feed(int(health[missing]["feed_id"]), False)
    assert sql(t, "SELECT status FROM feed_health WHERE url = ?", (missing,)) == [
        {"status": "disabled"}
    ]


@pytest.mark.parametrize(
    "command", [["coverage"], ["coverage", "--stories"], ["search", "ukraine"]]
)
def test_limit_zero_means_no_limit_everywhere(replay_db: Path, command: list[str]) -> None:
    """coverage refused --limit 0 (x>=1) while for search 0 meant all: 0 means all in both."""
    run = CliRunner().invoke
    base = ["-c", str(replay_db), *command, "--json"]
    everything = json.loads(run(cli, [*base, "--limit", "0"]).stdout)
    assert len(everything) > 20  # more than search's default limit
    assert len(json.loads(run(cli, [*base, "--limit", "3"]).stdout)) == 3
    if command[0] == "coverage":  # without --limit coverage shows everything too
        assert json.loads(run(cli, base).stdout) == everything
    help_text = " ".join(run(cli, [*command[:1], "--help"]).output.split())
    assert "; 0 for all." in help_text and "x>=0" in help_text


def test_coverage_shows_item_ids_and_filters_by_outlet_and_reported_time(replay_db: Path) -> None:
    """coverage showed no IDs to go on to 'explain' with, and had no --since, --until or
    --outlet: they bound the reported time, as in search and export."""
    run = CliRunner().invoke
    base = ["-c", str(replay_db), "coverage"]
    everything = json.loads(run(cli, [*base, "--json"]).stdout)
    chosen = [*base, "--outlet", "bloomberg", "--since", "2025-08-20", "--until", "2025-08-21"]
    rows = json.loads(run(cli, [*chosen, "--json"]).stdout)
    expected = [
        r
        for r in everything
        if r["outlet"] == "Bloomberg" and local_day(r["reported_at"]) == "2025-08-20"
    ]
    assert rows == expected and len(rows) >= 2
    text = run(cli, chosen).stdout.splitlines()  # tab-separated: not a terminal
    assert text[0].split("\t")[:3] == ["item_id", "reported", "outlet"]
    assert [line.split("\t")[:2] for line in text[1:]] == [
        [str(r["item_id"]), r["reported_at"]] for r in rows
    ]
    explained = run(cli, ["-c", str(replay_db), "explain", text[1].split("\t")[0]])
    assert explained.exit_code == 0 and f"item {rows[0]['item_id']}: " in explained.stdout
    stories = json.loads(run(cli, [*chosen, "--stories", "--json"]).stdout)
    assert sum(s["items"] for s in stories) == len(rows)
    header = run(cli, [*chosen, "--stories"]).stdout.splitlines()[0].split("\t")
    assert header[:4] == ["story_id", "item_id", "first_reported", "first_outlet"]
    for args, message in (
        (["--outlet", " "], "--outlet: the outlet name is empty"),
        (["--outlet", "Nobody"], "no outlet named 'Nobody'; outlets: BBC News"),
        (["--since", "2025-08-21", "--until", "2025-08-20"], "--since 2025-08-21 is after --until"),
        (["--since", "someday"], "--since"),
    ):
        refused = run(cli, [*base, *args])
        assert refused.exit_code == 1 and message in refused.output, (args, refused.output)
    nothing = run(cli, [*base, "--since", "2030-01-01"])
    assert nothing.exit_code == 0 and nothing.stdout == "No linked items match.\n"


def test_explain_says_the_thresholds_and_why_an_item_is_or_is_not_linked(
    replay_db: Path,
) -> None:
    """explain gave scores without the thresholds they are held against, so an unlinked item
    did not say why, and its JSON held sums like 1.2111705."""
    with sqlite3.connect(replay_db.parent / "tracker.db") as db:
        one = {
            tier: db.execute(
                "SELECT min(item_id) FROM article_items WHERE tier = ?", (tier,)
            ).fetchone()[0]
            for tier in ("story", "related")
        }
        one["none"] = db.execute(
            "SELECT min(id) FROM items WHERE id NOT IN (SELECT item_id FROM article_items) "
            "AND (title LIKE '%Russia%' OR title LIKE '%Putin%')"
        ).fetchone()[0]
    config = load_config(replay_db)
    threshold = config.relevance.threshold
    story_threshold = config.relevance.story_threshold
    run = CliRunner().invoke
    for tier, item in one.items():
        (e,) = json.loads(run(cli, ["-c", str(replay_db), "explain", str(item), "--json"]).stdout)
        assert (e["tier"], e["linked"]) == (tier, tier != "none")
        assert (e["threshold"], e["story_threshold"]) == (threshold, story_threshold)
        numbers = [e[k] for k in ("score", "story_score", "topic_sum", "story_sum")]
        numbers += [p["weight"] for p in e["parts"]]
        assert all(round(n, 4) == n for n in numbers), numbers
        text = run(cli, ["-c", str(replay_db), "explain", str(item)]).stdout.splitlines()
        assert text[2] == f"  {e['why']}"
        said = re.match(
            r"(not linked|linked): topic score ([\d.]+) (is below|reaches) "
            r"the threshold ([\d.]+)",
            e["why"],
        )
        assert said, e["why"]
        shown, against = float(said.group(2)), float(said.group(4))
        assert against == threshold and (shown < against) == (tier == "none")
        assert abs(shown - e["score"]) < 0.005
        if tier == "related":
            assert f"is below the story threshold {story_threshold:.2f}" in e["why"]
        if tier == "story":
            assert f"reaches the story threshold {story_threshold:.2f}" in e["why"]


def test_schema_doc_examples_return_rows_on_the_replay(replay: Tracker) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "schema.md").read_text(encoding="utf-8")
    examples = doc.split("## Views", 1)[1]
    queries = re.findall(r"```sql\n(.*?)```", examples, re.S)
    assert len(queries) >= 5
    for query in queries:
        if "date('now'" in query:  # relative to today, and the replay is from 2025
            query = query.replace("date('now', '-14 days')", "'2025-08-11'")
        with replay.query(query) as rows:
            assert list(rows), query


def test_timezone_follows_the_config(replay_db: Path, tmp_path: Path) -> None:
    config = copy_replay(replay_db, tmp_path)
    config.write_text(config.read_text().replace("Europe/London", "America/New_York"))
    new_york = ZoneInfo("America/New_York")
    with Tracker(load_config(config)) as t:
        coverage = sql(t, "SELECT * FROM coverage WHERE article_id = 1")
        expected = Counter((local_day(r["first_seen_at"], new_york), r["outlet"]) for r in coverage)
        view = sql(t, "SELECT * FROM daily_coverage WHERE article_id = 1")
        assert {(r["day"], r["outlet"]): r["items"] for r in view} == expected
        assert {r["timezone"] for r in view} == {"America/New_York"}
        # New York's days differ from London's for items first seen at 23:59:59 UTC
        assert expected != Counter((local_day(r["first_seen_at"]), r["outlet"]) for r in coverage)


# --- read-only query -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        ("INSERT INTO outlets (name) VALUES ('x')", "INSERT is not allowed"),
        ("DROP TABLE items", "DROP TABLE is not allowed"),
        ("DELETE FROM items", "DELETE is not allowed"),
        ("UPDATE items SET title = ''", "UPDATE is not allowed"),
        ("WITH x AS (SELECT 1) DELETE FROM fetches", "DELETE is not allowed"),
        ("ATTACH DATABASE '/tmp/other.db' AS other", "ATTACH is not allowed"),
        ("CREATE TEMP TABLE t (x)", "CREATE TABLE is not allowed"),
        ("PRAGMA user_version = 99", "PRAGMA user_version is not allowed"),
        ("PRAGMA writable_schema = 1", "PRAGMA writable_schema is not allowed"),
        ("SELECT load_extension('/tmp/evil')", "load_extension() is not allowed"),
        ("VACUUM", "VACUUM is not allowed"),
        ("SELECT 1; DROP TABLE items", "one SQL statement at a time"),
    ],
)
def test_query_refuses_writes_with_a_clear_error(
    replay: Tracker, statement: str, refused: str
) -> None:
    before = replay.store.counts()
    with (
        pytest.raises(QueryError, match=re.escape(refused)),
        replay.query(statement) as rows,
    ):
        list(rows)
    assert replay.store.counts() == before
    assert replay.store.schema_version == len(MIGRATIONS)


def test_read_only_connection_cannot_write_even_without_its_authorizer(replay_db: Path) -> None:
    reader = ReadOnlyStore.open(replay_db.parent / "tracker.db")
    reader.conn.set_authorizer(None)
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
        reader.conn.execute("DELETE FROM fetches")
    reader.conn.execute("PRAGMA query_only = 0")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.conn.execute("DELETE FROM fetches")
    reader.close()


def test_query_cli_outputs_and_errors(replay_db: Path) -> None:
    run = CliRunner().invoke
    base = ["-c", str(replay_db), "query"]
    statement = "SELECT outlet, count(*) AS items FROM coverage WHERE article_id = :a GROUP BY outlet ORDER BY items DESC, outlet"
    as_json = run(cli, [*base, statement, "-p", "a", "1", "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert rows[0]["outlet"] == "Bloomberg" and sum(r["items"] for r in rows) > 100
    as_csv = run(cli, [*base, statement, "-p", "a", "1", "--csv"])
    assert list(csv.DictReader(io.StringIO(as_csv.stdout))) == [
        {k: str(v) for k, v in r.items()} for r in rows
    ]
    as_jsonl = run(cli, [*base, statement, "-p", "a", "1", "--jsonl"])
    assert [json.loads(line) for line in as_jsonl.stdout.splitlines()] == rows
    piped = run(cli, [*base, statement, "-p", "a", "1"])
    lines = piped.stdout.splitlines()
    assert lines[0] == "outlet\titems" and lines[1] == f"Bloomberg\t{rows[0]['items']}"
    refused = run(cli, [*base, "DROP TABLE items"])
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        "Error: the query connection is read-only: DROP TABLE is not allowed; only SELECT "
        "statements (WITH … SELECT, pragma_table_info() and the like) run here"
    )
    for bad, message in (
        ("SELEC 1", 'SQL error: near "SELEC": syntax error'),
        ("SELECT * FROM nowhere", "no such table: nowhere"),
        ("SELECT :missing", "parameter :missing has no value: pass one with -p missing VALUE"),
    ):
        result = run(cli, [*base, bad])
        assert (
            result.exit_code == 1 and message in result.output and "Traceback" not in result.output
        )


@pytest.mark.parametrize("statement", ["", "   ", ";", "/* nothing */", "-- nothing\n;"])
def test_empty_sql_is_an_error(replay_db: Path, statement: str) -> None:
    result = CliRunner().invoke(cli, ["-c", str(replay_db), "query", "--json", "--", statement])
    assert result.exit_code == 1 and result.output == "Error: the SQL statement is empty\n"


def test_a_parameter_without_a_value_says_how_to_give_one(replay_db: Path) -> None:
    run = CliRunner().invoke
    base = ["-c", str(replay_db), "query"]
    unnamed = run(cli, [*base, "SELECT ?"])
    assert unnamed.exit_code == 1 and unnamed.output == (
        "Error: the statement has a parameter with no name (?), and values are given by name: "
        "write :name in the SQL (WHERE article_id = :article) and pass it with -p article VALUE\n"
    )
    named = run(cli, [*base, "SELECT count(*) AS n FROM coverage WHERE article_id = :article"])
    assert named.exit_code == 1 and named.output == (
        "Error: the statement's parameter :article has no value: pass one with -p article VALUE\n"
    )
    given = run(cli, [*base, "SELECT :article AS a", "-p", "article", "1", "--json"])
    assert json.loads(given.stdout) == [{"a": "1"}]


def test_infinite_floats_are_null_in_every_output(replay_db: Path) -> None:
    """JSON has no Infinity (json.dumps wrote it anyway): 1e400 is null, and empty in CSV/TSV."""
    run = CliRunner().invoke
    base = ["-c", str(replay_db), "query", "SELECT 1e400 AS big, -1e400 AS small, 1.5 AS x"]
    as_json = run(cli, [*base, "--json"])
    assert json.loads(as_json.stdout, parse_constant=pytest.fail) == [
        {"big": None, "small": None, "x": 1.5}
    ]
    as_jsonl = run(cli, [*base, "--jsonl"])
    assert json.loads(as_jsonl.stdout, parse_constant=pytest.fail) == {
        "big": None,
        "small": None,
        "x": 1.5,
    }
    assert run(cli, [*base, "--csv"]).stdout == "big,small,x\n,,1.5\n"
    assert run(cli, base).stdout == "big\tsmall\tx\n\t\t1.5\n"


def test_json_columns_decoded_from_text_stay_valid_json() -> None:
    from tracker.textout import write_rows

    out = io.StringIO()
    write_rows(
        out,
        ["reasons"],
        [{"reasons": '[1, Infinity, {"a": -Infinity}]'}],
        "jsonl",
        json_columns=["reasons"],
    )
    assert json.loads(out.getvalue(), parse_constant=pytest.fail) == {
        "reasons": [1, None, {"a": None}]
    }


def test_two_result_columns_of_one_name_are_an_error(replay_db: Path) -> None:
    run = CliRunner().invoke
    base = ["-c", str(replay_db), "query"]
    join = "SELECT i.id, f.id FROM items i JOIN feeds f ON f.id = i.feed_id LIMIT 1"
    for fmt in ("--json", "--csv", "--jsonl"):
        result = run(cli, [*base, join, fmt])
        assert result.exit_code == 1 and result.stdout == ""
        assert result.output == (
            "Error: the result has two columns named 'id': give each its own name with AS "
            "(SELECT items.id AS item_id, feeds.id AS feed_id ...)\n"
        )
    aliased = run(cli, [*base, join.replace("f.id FROM", "f.id AS feed_id FROM"), "--json"])
    assert aliased.exit_code == 0 and set(json.loads(aliased.stdout)[0]) == {"id", "feed_id"}


def test_query_help_names_exactly_the_pragmas_that_run(replay_db: Path) -> None:
    """The help said PRAGMA was refused while PRAGMA table_info(items) ran: it now lists the
    pragmas the authorizer lets through, and each of them runs while another is refused."""
    from tracker.storage.readonly import _READ_PRAGMAS

    run = CliRunner().invoke
    help_text = " ".join(run(cli, ["query", "--help"]).output.split())
    listed = help_text.split("only read the schema or the build: ")[1].split(". ")[0]
    names = set(re.split(r", | and ", listed))
    assert names == _READ_PRAGMAS
    assert "Refused: writes (INSERT, REPLACE, UPDATE, DELETE)" in help_text
    base = ["-c", str(replay_db), "query"]
    argument = {"table_info": "items", "table_xinfo": "items", "index_list": "items"}
    argument |= {"foreign_key_list": "items", "index_info": "x", "index_xinfo": "x"}
    for name in sorted(names):
        statement = f"PRAGMA {name}({argument[name]})" if name in argument else f"PRAGMA {name}"
        result = run(cli, [*base, statement])
        assert result.exit_code == 0, (statement, result.output)
    for statement in ("PRAGMA table_info(items)", "SELECT name FROM pragma_table_info('items')"):
        assert "title" in run(cli, [*base, statement]).stdout
    refused = run(cli, [*base, "PRAGMA user_version"])
    assert refused.exit_code == 1 and "PRAGMA user_version is not allowed" in refused.output


def test_query_migrates_an_older_database_before_reading(replay_db: Path, tmp_path: Path) -> None:
    config = copy_replay(replay_db, tmp_path)
    db = sqlite3.connect(tmp_path / "tracker.db")
    db.execute("DROP VIEW daily_coverage")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    result = CliRunner().invoke(
        cli, ["-c", str(config), "query", "SELECT count(*) AS n FROM daily_coverage", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["n"] > 10


def test_opening_is_a_step_of_its_own(replay_db: Path, tmp_path: Path) -> None:
    """Reading ``Tracker.store`` migrated the database and synced its time zone as a side
    effect; ``open`` is that step, and every command takes it when it first needs to."""
    config = copy_replay(replay_db, tmp_path)
    db = sqlite3.connect(tmp_path / "tracker.db")
    db.execute("DROP VIEW daily_coverage")
    db.execute("UPDATE timezone_spans SET timezone = 'Asia/Tokyo'")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    t = Tracker(load_config(config))
    store = t.open()
    assert t.open() is store and t.store is store
    assert store.timezone() == t.config.timezone
    assert sql(t, "SELECT count(*) AS n FROM daily_coverage")[0]["n"] > 10
    t.close()
    missing = Tracker(load_config(config))
    missing.config = missing.config.__class__(
        **{**missing.config.__dict__, "database": tmp_path / "none.db"}
    )
    with pytest.raises(StorageError, match="run 'tracker init' first"):
        missing.open()


# --- search --------------------------------------------------------------------------------------


def test_search_ranks_matches_and_filters(replay: Tracker) -> None:
    hits = replay.search("troops", limit=0)
    assert len(hits) > 10
    assert all("troop" in (h.title + " " + summary(replay, h)).lower() for h in hits)
    assert [h.rank for h in hits] == sorted(h.rank for h in hits)
    assert "troops" in hits[0].title.lower()  # a title match ranks first
    guardian = replay.search("troops", outlet="the guardian", limit=0)
    assert guardian and {h.outlet for h in guardian} == {"The Guardian"}
    linked = {r.item_id for r in replay.coverage(1)}
    on_article = replay.search("troops", article_id=1, limit=0)
    assert on_article and {h.item_id for h in on_article} == {h.item_id for h in hits} & linked
    window = replay.search("troops", since="2025-08-19", until="2025-08-20", limit=0)
    assert window and all(
        local_day(h.published_at or h.first_seen_at) == "2025-08-19" for h in window
    )
    assert len(replay.search("troops", limit=3)) == 3
    phrase = replay.search('"security guarantees"', limit=0)
    assert phrase and all(
        "security guarantee" in (h.title + summary(replay, h)).lower() for h in phrase
    )


def summary(t: Tracker, hit: SearchHit) -> str:
    return sql(t, "SELECT summary FROM items WHERE id = ?", (hit.item_id,))[0]["summary"] or ""


@pytest.mark.parametrize("query", ["troops AND", '"unclosed', "NEAR(", "title:", "*", "AND OR"])
def test_bad_fts_syntax_is_a_clear_error(replay_db: Path, query: str) -> None:
    result = CliRunner().invoke(cli, ["-c", str(replay_db), "search", query])
    assert result.exit_code == 1
    assert "is not a valid full-text query" in result.output and "--literal" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("query", "column"),
    [("ukraine -russia", "russia"), ("ukraine-russia", "russia"), ('kyiv -"peace deal"', "peace")],
)
def test_a_minus_that_fts_reads_as_a_column_gets_a_hint(
    replay_db: Path, query: str, column: str
) -> None:
    result = CliRunner().invoke(cli, ["-c", str(replay_db), "search", query])
    assert result.exit_code == 1 and f"(no such column: {column}" in result.output
    assert "a '-' is not negation in this syntax: write 'ukraine NOT russia'" in result.output
    assert "--literal" in result.output
    assert (
        CliRunner().invoke(cli, ["-c", str(replay_db), "search", "ukraine NOT russia"]).exit_code
        == 0
    )


def test_a_column_filter_on_no_column_gets_a_hint(replay_db: Path) -> None:
    result = CliRunner().invoke(cli, ["-c", str(replay_db), "search", "nato:troops"])
    assert result.exit_code == 1 and "(no such column: nato)" in result.output
    assert "'word:' filters on a column (title or summary)" in result.output


def test_literal_search_matches_words_as_typed(replay: Tracker) -> None:
    assert literal_match('troops AND "x') == '"troops" "AND" """x"'
    assert replay.search("Ukraine AND", literal=True, limit=0)
    with pytest.raises(QueryError, match="empty"):
        replay.search("   ")


def test_search_cli(replay_db: Path) -> None:
    run = CliRunner().invoke
    result = run(cli, ["-c", str(replay_db), "search", "troops", "--limit", "5", "--json"])
    hits = json.loads(result.stdout)
    assert len(hits) == 5 and {"item_id", "outlet", "title", "url", "rank"} <= set(hits[0])
    none = run(cli, ["-c", str(replay_db), "search", "zzyzx", "--csv"])
    assert none.exit_code == 0 and none.stdout.splitlines() == [",".join(hits[0])]
    tsv = run(cli, ["-c", str(replay_db), "search", "troops", "-n", "2"])
    assert len(tsv.stdout.splitlines()) == 3 and tsv.stdout.startswith("item_id\toutlet\t")
    unknown = run(cli, ["-c", str(replay_db), "search", "troops", "--outlet", "Pravda"])
    assert (
        unknown.exit_code == 1 and "no outlet named 'Pravda'; outlets: BBC News" in unknown.output
    )
    when = run(cli, ["-c", str(replay_db), "search", "troops", "--since", "last tuesday"])
    assert when.exit_code == 1 and "expected a time such as 7d" in when.output


@pytest.mark.parametrize("command", [["search", "troops"], ["export"]])
def test_a_window_that_ends_before_it_starts_is_an_error(
    replay_db: Path, command: list[str]
) -> None:
    run = CliRunner().invoke
    base = ["-c", str(replay_db), *command]
    reversed_ = run(cli, [*base, "--since", "2025-08-20", "--until", "2025-08-18"])
    assert reversed_.exit_code == 1 and reversed_.output == (
        "Error: --since 2025-08-20 is after --until 2025-08-18: nothing can match "
        "(--since is the start, --until the end)\n"
    )
    same = run(cli, [*base, "--since", "2025-08-20", "--until", "2025-08-20"])
    assert same.exit_code == 1 and "is the same time as --until 2025-08-20" in same.output
    ordered = run(cli, [*base, "--since", "2025-08-18", "--until", "2025-08-20"])
    assert ordered.exit_code == 0 and len(ordered.stdout.splitlines()) > 2


@pytest.mark.parametrize("outlet", ["", "   "])
def test_an_empty_outlet_name_is_refused_not_ignored(replay_db: Path, outlet: str) -> None:
    result = CliRunner().invoke(cli, ["-c", str(replay_db), "search", "troops", "--outlet", outlet])
    assert result.exit_code == 1 and result.output == "Error: --outlet: the outlet name is empty\n"


def test_an_outlet_name_may_carry_spaces_around_it(replay: Tracker) -> None:
    hits = replay.search("troops", outlet=" The Guardian ", limit=0)
    assert hits and {h.outlet for h in hits} == {"The Guardian"}


def test_library_errors_name_arguments_and_the_cli_maps_them_to_options(replay: Tracker) -> None:
    """The library's messages named the CLI's flags (--since, --older-than) to Python callers;
    the CLI's lines stay as they were (see the tests above)."""
    with pytest.raises(QueryError) as reversed_:
        replay.coverage(since="2025-08-20", until="2025-08-18")
    assert str(reversed_.value) == (
        "since 2025-08-20 is after until 2025-08-18: nothing can match "
        "(since is the start, until the end)"
    )
    assert reversed_.value.worded(lambda a: f"--{a}").startswith("--since 2025-08-20 is after")
    with pytest.raises(QueryError, match=r"^since: expected a time such as 7d"):
        replay.search("troops", since="soon")
    with pytest.raises(QueryError, match=r"^outlet: the outlet name is empty$"):
        replay.coverage(outlet="  ")
    with pytest.raises(QueryError, match=r"^older_than: expected an age such as 90d"):
        replay.prune("soon", dry_run=True)
    with pytest.raises(QueryError) as fts:
        replay.search("-russia")
    assert str(fts.value).endswith("or use literal") and "--" not in str(fts.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "troops", "--csv", "--json"], "--csv and --json cannot be combined"),
        (["search", "troops", "--jsonl", "--json", "--csv"], "--csv, --json and --jsonl cannot"),
        (["query", "SELECT 1", "--json", "--jsonl"], "--json and --jsonl cannot be combined"),
        (["export", "--format", "csv", "--format", "json"], "give one format, not csv and json"),
    ],
)
def test_two_output_formats_are_a_usage_error(
    replay_db: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, ["-c", str(replay_db), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.stdout == ""


def test_one_output_format_flag_still_chooses_the_format(replay_db: Path) -> None:
    run = CliRunner().invoke
    base = ["-c", str(replay_db)]
    assert json.loads(run(cli, [*base, "query", "SELECT 1 AS a", "--json"]).stdout) == [{"a": 1}]
    assert run(cli, [*base, "query", "SELECT 1 AS a", "--jsonl", "--jsonl"]).stdout == '{"a": 1}\n'
    assert run(cli, [*base, "query", "SELECT 1 AS a", "--csv"]).stdout == "a\n1\n"
    assert run(cli, [*base, "query", "SELECT 1 AS a"]).stdout == "a\n1\n"
    same = run(
        cli, [*base, "export", "--format", "json", "--format", "json", "--since", "2030-01-01"]
    )
    assert same.exit_code == 0 and same.stdout == "[]\n"


# --- export --------------------------------------------------------------------------------------


def view_rows(t: Tracker, where: str = "") -> list[dict[str, Any]]:
    return sql(t, f"SELECT * FROM coverage {where} ORDER BY article_id, first_seen_at, item_id")


def test_exports_round_trip_to_the_view(replay: Tracker, tmp_path: Path) -> None:
    expected = view_rows(replay)
    assert replay.export(tmp_path / "c.csv", "csv") == len(expected)
    with (tmp_path / "c.csv").open(encoding="utf-8", newline="") as f:
        assert list(csv.DictReader(f)) == [
            {k: "" if v is None else str(v) for k, v in r.items()} for r in expected
        ]
    decoded = [{**r, "reasons": json.loads(r["reasons"])} for r in expected]
    replay.export(tmp_path / "c.json", "json")
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8")) == decoded
    out = io.StringIO()
    replay.export(out, "jsonl", article_id=1, tier="story")
    story = [r for r in decoded if r["tier"] == "story"]
    assert story and [json.loads(line) for line in out.getvalue().splitlines()] == story


def test_export_cli_streams_to_stdout_or_a_file(replay_db: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke
    base = ["-c", str(replay_db), "export"]
    stdout = run(cli, [*base, "--article", "1", "--since", "2025-08-20", "--until", "2025-08-21"])
    rows = list(csv.DictReader(io.StringIO(stdout.stdout)))
    assert rows and {local_day(r["published_at"] or r["first_seen_at"]) for r in rows} == {
        "2025-08-20"
    }
    target = tmp_path / "coverage.jsonl"
    to_file = run(cli, [*base, "-o", str(target)])
    with sqlite3.connect(replay_db.parent / "tracker.db") as db:
        linked = db.execute("SELECT count(*) FROM coverage").fetchone()[0]
    assert to_file.exit_code == 0 and f"exported {linked} rows to {target}" in to_file.stderr
    assert len(target.read_text(encoding="utf-8").splitlines()) == linked  # format from the suffix
    empty = run(cli, [*base, "--format", "json", "--since", "2030-01-01"])
    assert empty.stdout == "[]\n"
    missing = tmp_path / "nothing.csv"
    failed = run(cli, [*base, "--article", "9", "-o", str(missing)])
    assert failed.exit_code == 1 and "no article with id 9" in failed.output
    assert not missing.exists() and list(tmp_path.glob(".nothing*")) == []


@pytest.mark.parametrize("name", ["coverage.xlsx", "coverage.tsv", "coverage.JSONL.gz"])
def test_export_refuses_a_file_name_whose_format_it_does_not_write(
    replay_db: Path, tmp_path: Path, name: str
) -> None:
    """-o coverage.xlsx wrote CSV under an .xlsx name: only known suffixes give the format."""
    result = CliRunner().invoke(cli, ["-c", str(replay_db), "export", "-o", str(tmp_path / name)])
    assert result.exit_code == 2, result.output
    suffix = name.rsplit(".", 1)[1].lower()
    assert (
        f"Invalid value for '--output': cannot write .{suffix}: export writes csv" in result.output
    )
    assert "give --format" in result.output and list(tmp_path.iterdir()) == []
    chosen = CliRunner().invoke(
        cli, ["-c", str(replay_db), "export", "--format", "json", "-o", str(tmp_path / name)]
    )
    assert chosen.exit_code == 0 and json.loads((tmp_path / name).read_text(encoding="utf-8"))
    for known, first in (("c.CSV", "article_id,"), ("c.json", "["), ("plain", "article_id,")):
        done = CliRunner().invoke(
            cli, ["-c", str(replay_db), "export", "-o", str(tmp_path / known)]
        )
        assert done.exit_code == 0
        assert (tmp_path / known).read_text(encoding="utf-8").startswith(first)


def test_export_to_a_path_it_cannot_write_is_one_clear_error(
    replay_db: Path, tmp_path: Path
) -> None:
    run = CliRunner().invoke
    base = ["-c", str(replay_db), "export"]
    missing = run(cli, [*base, "-o", str(tmp_path / "nope" / "x.csv")])
    assert missing.exit_code == 1
    assert missing.output == f"Error: {tmp_path}/nope/x.csv: cannot write: no such directory\n"
    for empty in ("", "  "):
        result = run(cli, [*base, "-o", empty])
        assert result.exit_code == 2 and "the file name is empty" in result.output
        assert "Traceback" not in result.output
    if Path("/proc/version").is_file():  # a directory that takes no new file
        proc = run(cli, [*base, "-o", "/proc/version"])
        assert proc.exit_code == 1 and proc.output.startswith(
            "Error: /proc/version: cannot write: cannot create a file in /proc"
        )
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_no_temporary_file_and_the_old_file_whole(
    replay: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    target = tmp_path / "coverage.csv"
    target.write_text("the previous export\n", encoding="utf-8")

    def disk_full(out: Any, *args: Any, **kwargs: Any) -> int:
        out.write("item_id,outlet\n" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tracker.app.reads.write_rows", disk_full)
    with pytest.raises(OutputError, match=r"coverage\.csv: cannot write: No space left on device"):
        replay.export(target)
    assert target.read_text(encoding="utf-8") == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["coverage.csv"]


def test_export_follows_a_link_and_writes_a_pipe_in_place(replay: Tracker, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "coverage.csv"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    rows = replay.export(link)
    assert link.is_symlink() and len(real.read_text(encoding="utf-8").splitlines()) == rows + 1
    # a pipe (like a terminal's /dev/stdout) is written, not renamed over
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[str] = []
    reader = threading.Thread(
        target=lambda: received.append(pipe.read_text(encoding="utf-8")), daemon=True
    )
    reader.start()
    assert replay.export(pipe) == rows
    reader.join(30)
    assert received and received[0] == real.read_text(encoding="utf-8")
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == ["coverage.csv", "data", "latest.csv", "pipe"]


class Discard(io.TextIOBase):
    """An output that keeps nothing, so memory measured is the exporter's own."""

    def write(self, text: str) -> int:
        return len(text)


def test_export_memory_stays_flat_as_rows_grow(replay_db: Path, tmp_path: Path) -> None:
    t = Tracker(load_config(copy_replay(replay_db, tmp_path)), clock=ManualClock(AFTER_REPLAY))
    ids = [r["id"] for r in sql(t, "SELECT id FROM items")]

    def peak_after_linking(articles: int) -> tuple[int, int]:
        with t.store.transaction():
            for n in range(2, articles + 1):
                t.store.db.execute(
                    "INSERT OR IGNORE INTO articles (id, location, title, added_at) VALUES (?, ?, ?, ?)",
                    (n, f"copy-{n}", f"Article {n}", to_db(AFTER_REPLAY)),
                )
                for item_id in ids:
                    t.store.link_item(
                        n, item_id, Relevance(0.5, ('title: "x"',), "related"), AFTER_REPLAY
                    )
        sink = Discard()
        tracemalloc.start()
        count = t.export(sink, "jsonl")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return count, peak

    small_rows, small_peak = peak_after_linking(2)
    big_rows, big_peak = peak_after_linking(9)
    assert big_rows > 4 * small_rows > 4000
    assert big_peak < 1.5 * small_peak  # materialising would take ~4x
    t.close()


# --- prune ---------------------------------------------------------------------------------------


def integrity(t: Tracker) -> None:
    db = t.store.db
    assert t.store.integrity_check() == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.execute("INSERT INTO items_fts (items_fts) VALUES ('integrity-check')")
    assert db.execute("SELECT count(*) FROM items_fts").fetchone()[0] == t.store.counts()["items"]


def test_prune_keeps_linked_items_and_leaves_a_sound_database(
    replay_db: Path, tmp_path: Path
) -> None:
    config = copy_replay(replay_db, tmp_path)
    t = Tracker(load_config(config), clock=ManualClock(AFTER_REPLAY))
    cutoff = to_db(AFTER_REPLAY - timedelta(days=4))
    linked_before = sql(t, "SELECT * FROM coverage ORDER BY item_id")
    old_unlinked = {
        r["id"]
        for r in sql(
            t,
            "SELECT id FROM items WHERE last_seen_at < ? AND id NOT IN (SELECT item_id FROM article_items)",
            (cutoff,),
        )
    }
    fetches_old = sql(t, "SELECT count(*) AS n FROM fetches WHERE started_at < ?", (cutoff,))[0][
        "n"
    ]
    counts_before = t.store.counts()
    plan = t.prune("4d", dry_run=True)
    assert t.store.counts() == counts_before
    assert plan.counts["items"] == len(old_unlinked) > 100
    assert plan.counts["fetches"] == fetches_old > 0
    done = t.prune("4d")
    assert done.counts == plan.counts
    assert done.bytes_after < done.bytes_before
    remaining = {r["id"] for r in sql(t, "SELECT id FROM items")}
    assert not remaining & old_unlinked
    assert len(remaining) == counts_before["items"] - len(old_unlinked)
    assert sql(t, "SELECT * FROM coverage ORDER BY item_id") == linked_before
    assert t.store.counts()["sightings"] == counts_before["sightings"] - plan.counts["sightings"]
    integrity(t)
    gone_title = sql(
        Tracker(load_config(replay_db)),
        "SELECT title FROM items WHERE id = ?",
        (min(old_unlinked),),
    )[0]["title"]
    assert all(h.item_id not in old_unlinked for h in t.search(gone_title, literal=True, limit=0))
    t.close()


def test_prune_removes_old_service_cycles_and_keeps_the_latest(
    replay_db: Path, tmp_path: Path
) -> None:
    """A service polling every minute records 525,600 cycles a year: they age out with the
    fetch log, and the status still finds the latest cycle."""
    config = copy_replay(replay_db, tmp_path)
    t = Tracker(load_config(config), clock=ManualClock(AFTER_REPLAY))
    run = t.store.start_service_run(
        pid=1, host="h", version="v", config=str(config), heartbeat_every=30, now=AFTER_REPLAY
    )
    starts = [AFTER_REPLAY - timedelta(days=d) for d in (9, 6, 5, 1, 0)]
    for start in starts:
        t.store.record_cycle(
            run,
            started_at=start,
            finished_at=start + timedelta(seconds=2),
            due=1,
            cancelled=0,
            summary=CycleSummary((), 2000),
        )
    assert t.prune("4d", dry_run=True).counts["service_cycles"] == 3
    assert t.prune("4d", vacuum=False).counts["service_cycles"] == 3
    kept = [r["started_at"] for r in sql(t, "SELECT started_at FROM service_cycles ORDER BY id")]
    assert kept == [to_db(s) for s in starts[3:]]
    assert t.store.service_cycles()[0].started_at == to_db(AFTER_REPLAY)
    integrity(t)
    t.close()


def test_prune_include_linked_and_stories_that_outlive_their_first_item(
    replay_db: Path, tmp_path: Path
) -> None:
    t = Tracker(load_config(copy_replay(replay_db, tmp_path)), clock=ManualClock(AFTER_REPLAY))
    cutoff = to_db(AFTER_REPLAY - timedelta(days=4))
    # a story started by an old unlinked item, which a later linked item then joined
    old = sql(
        t,
        "SELECT items.id, items.story_id FROM items JOIN stories ON stories.first_item_id = items.id "
        "WHERE items.last_seen_at < ? AND items.id NOT IN (SELECT item_id FROM article_items) "
        "ORDER BY items.id LIMIT 1",
        (cutoff,),
    )[0]
    later = sql(
        t, "SELECT item_id FROM coverage WHERE item_id > ? ORDER BY item_id LIMIT 1", (old["id"],)
    )
    join_story(t, later[0]["item_id"], old["story_id"])
    story = {"id": old["story_id"], "first_item_id": old["id"]}
    t.prune("4d", vacuum=False)
    after = sql(t, "SELECT * FROM stories WHERE id = ?", (story["id"],))[0]
    assert after["first_item_id"] != story["first_item_id"]
    assert sql(t, "SELECT story_id FROM items WHERE id = ?", (after["first_item_id"],)) == [
        {"story_id": story["id"]}
    ]
    integrity(t)
    linked_old = sql(
        t,
        "SELECT count(*) AS n FROM article_items JOIN items ON items.id = item_id "
        "WHERE items.last_seen_at < ?",
        (cutoff,),
    )[0]["n"]
    assert linked_old > 0
    report = t.prune("4d", include_linked=True)
    assert report.counts["article_items"] == linked_old
    assert sql(t, "SELECT count(*) AS n FROM items WHERE last_seen_at < ?", (cutoff,)) == [{"n": 0}]
    integrity(t)
    t.close()


def test_prune_cli(replay_db: Path, tmp_path: Path) -> None:
    config = copy_replay(replay_db, tmp_path)
    run = CliRunner().invoke
    dry = run(cli, ["-c", str(config), "prune", "--older-than", "9000d", "--dry-run"])
    assert dry.exit_code == 0 and dry.stdout.startswith("would remove rows last seen before")
    assert "items\t0" in dry.stdout
    bad = run(cli, ["-c", str(config), "prune", "--older-than", "soon"])
    assert bad.exit_code == 1 and "expected an age such as 90d" in bad.output
    real = run(cli, ["-c", str(config), "prune", "--older-than", "1d", "--json"])
    assert real.exit_code == 0, real.output
    assert json.loads(real.stdout)["counts"]["items"] > 0


# --- parsing what users type ---------------------------------------------------------------------


def test_times_and_ages_as_users_type_them() -> None:
    now = datetime(2025, 8, 19, 12, 0, tzinfo=UTC)
    assert parse_age("90d") == timedelta(days=90) and parse_age("2W") == timedelta(weeks=2)
    assert parse_when("36h", now, LONDON) == now - timedelta(hours=36)
    assert parse_when("2025-08-18", now, LONDON) == datetime(2025, 8, 17, 23, 0, tzinfo=UTC)
    assert parse_when("today", now, LONDON) == datetime(2025, 8, 18, 23, 0, tzinfo=UTC)
    assert parse_when("2025-08-18T14:30", now, LONDON) == datetime(2025, 8, 18, 13, 30, tzinfo=UTC)
    assert parse_when("2025-08-18T14:30Z", now, LONDON) == datetime(2025, 8, 18, 14, 30, tzinfo=UTC)
    for bad in ("0d", "soon", "-3d", "90"):
        with pytest.raises(QueryError):
            parse_age(bad)
    with pytest.raises(NotFoundError):
        Store.memory().outlet_id("Nobody")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "troops", "--since", "99999999d"], "--since: 99999999d reaches before year 1"),
        (["search", "troops", "--until", "9" * 30 + "h"], f"--until: {'9' * 30}h reaches before"),
        (["search", "troops", "--since", "9" * 5000 + "d"], "reaches before year 1"),
        (["export", "--since", "99999999d"], "--since: 99999999d reaches before year 1"),
        (["export", "--until", "9999-12-31T23:59-05:00"], "--until: 9999-12-31T23:59-05:00 is"),
        (["prune", "--older-than", "99999999d"], "--older-than: 99999999d reaches before year 1"),
        (["prune", "--older-than", "99999999999w"], "--older-than: 99999999999w reaches before"),
    ],
)
def test_ages_and_times_beyond_the_calendar_are_one_clear_error(
    replay_db: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(
        cli, ["-c", str(replay_db), *args, *(["--dry-run"] * (args[0] == "prune"))]
    )
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert message in result.output


def test_age_units_are_unambiguous() -> None:
    """There is no month unit, so "6M" (six months to many readers) is refused, not read as six
    minutes: prune would delete nearly everything. Minutes are "min"."""
    assert parse_age("45min") == parse_age("45 MIN") == timedelta(minutes=45)
    now = datetime(2025, 8, 19, 12, 0, tzinfo=UTC)
    assert parse_when("90min", now, LONDON) == now - timedelta(minutes=90)
    for ambiguous in ("6M", "6m", "45 m"):
        with pytest.raises(QueryError, match=r"could mean minutes or months; write 45min"):
            parse_age(ambiguous)
        with pytest.raises(QueryError, match=r"could mean minutes or months"):
            parse_when(ambiguous, now, LONDON)


def test_prune_refuses_an_ambiguous_age(replay_db: Path, tmp_path: Path) -> None:
    config = copy_replay(replay_db, tmp_path)
    result = CliRunner().invoke(cli, ["-c", str(config), "prune", "--older-than", "6M"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: --older-than: '6M': 'M' could mean minutes or months; write 45min for minutes, "
        "or days or weeks (180d, 26w) for longer\n"
    )
    with sqlite3.connect(tmp_path / "tracker.db") as db:
        assert db.execute("SELECT count(*) FROM items").fetchone()[0] > 100


@pytest.mark.parametrize("value", ["0d", "0h", "last tuesday", "2025-13-01", "-3d"])
def test_every_bad_since_gets_the_same_message(replay_db: Path, value: str) -> None:
    result = CliRunner().invoke(cli, ["-c", str(replay_db), "search", "troops", "--since", value])
    assert result.exit_code == 1
    assert result.output == (
        "Error: --since: expected a time such as 7d, 36h, today, 2025-08-18 or "
        f"2025-08-18T14:30, got {value!r}\n"
    )


RUNAWAY = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"


def test_a_runaway_query_stops_at_its_timeout(replay_db: Path) -> None:
    result = CliRunner().invoke(cli, ["-c", str(replay_db), "query", RUNAWAY, "--timeout", "0.3"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: the query ran longer than 0.3 s and was stopped"


def test_ctrl_c_stops_a_runaway_query(replay_db: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "tracker", "-c", str(replay_db), "query", RUNAWAY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell starting the tests in the background (``make test &``)
        # has them ignore SIGINT, and Python then installs no Ctrl-C handler at all
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # past start-up, inside the query: its read-only connection is the second handle on the
    # file (a fixed sleep was not enough on a loaded machine, where imports alone took longer)
    db = (replay_db.parent / "tracker.db").resolve()

    def handles() -> int:
        fds = Path(f"/proc/{process.pid}/fd")
        try:
            return sum(1 for fd in fds.iterdir() if fd.resolve() == db)
        except (FileNotFoundError, ProcessLookupError):
            return 0

    deadline = time.monotonic() + 60
    while handles() < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 1
    assert err.strip() == "Error: the query was interrupted"


# --- terminal output -----------------------------------------------------------------------------


def test_screen_tables_fit_the_terminal_and_stop_at_a_limit(
    replay: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.textout import write_rows

    monkeypatch.setenv("COLUMNS", "100")
    with replay.query("SELECT item_id, outlet, title, url, summary FROM coverage") as rows:
        out = io.StringIO()
        shown = write_rows(out, rows.columns, rows, tty=True, max_table_rows=25)
    lines = out.getvalue().splitlines()
    assert shown == 25 and len(lines) == 2 + 25 + 1
    assert lines[-1].startswith("… only the first 25 rows are shown on a terminal")
    assert max(len(line) for line in lines[:-1]) <= 100
    header = lines[0].split()
    assert header == ["item_id", "outlet", "title", "url", "summary"]
