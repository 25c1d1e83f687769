"""Datasette on a tracker database with datasette/metadata.yaml: it starts, the canned queries run,
full-text search works on items and on the coverage view. Skipped when Datasette (an optional
extra, installed by the test extra) is missing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

datasette_app = pytest.importorskip("datasette.app")

METADATA = Path(__file__).parent.parent / "datasette" / "metadata.yaml"


def get(database: Path, *paths: str) -> list[Any]:
    """GET each path from a Datasette instance on the database, in process (no socket)."""
    metadata = yaml.safe_load(METADATA.read_text(encoding="utf-8"))

    async def fetch() -> list[Any]:
        ds = datasette_app.Datasette([str(database)], metadata=metadata)
        await ds.invoke_startup()
        responses = [await ds.client.get(path) for path in paths]
        assert all(r.status_code == 200 for r in responses), [r.text[:300] for r in responses]
        return [
            r.json() if ".json" in path else r.text
            for r, path in zip(responses, paths, strict=True)
        ]

    return asyncio.run(fetch())


def test_canned_queries_run_on_the_replay(replay_db: Path) -> None:
    database = replay_db.parent / "tracker.db"
    queries = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["tracker"][
        "queries"
    ]
    assert set(queries) == {
        "coverage_of_a_day",
        "first_to_report",
        "outlet_comparison_by_day",
        "failing_feeds",
    }
    today, day, first, by_day, failing = get(
        database,
        "/tracker/coverage_of_a_day.json?_shape=objects&article=&day=",
        "/tracker/coverage_of_a_day.json?_shape=objects&article=1&day=2025-08-19&_size=max",
        "/tracker/first_to_report.json?_shape=objects&article=1",
        "/tracker/outlet_comparison_by_day.json?_shape=objects&article=1&days=100000",
        "/tracker/failing_feeds.json?_shape=objects",
    )
    assert all(r["ok"] for r in (today, day, first, by_day, failing))
    assert today["rows"] == []  # the replay is from August 2025: nothing today
    # a given day: the items the digest and daily_coverage count on it (first seen that day)
    with sqlite3.connect(database) as db:
        counted = db.execute(
            "SELECT sum(items) FROM daily_coverage WHERE article_id = 1 AND day = '2025-08-19'"
        ).fetchone()[0]
    assert len(day["rows"]) == counted > 30
    assert first["rows"][0]["first_outlet"] == "Bloomberg"
    with sqlite3.connect(database) as db:
        stories = db.execute(
            "SELECT count(DISTINCT story_id) FROM coverage WHERE article_id = 1"
        ).fetchone()[0]
    assert sum(r["stories_first"] for r in first["rows"]) == stories
    days = {r["day"] for r in by_day["rows"]}
    assert {"2025-08-15", "2025-08-24"} <= days
    # the replay's feeds were last polled in 2025: nothing new for a week, so all are listed
    assert len(failing["rows"]) == 6 and {r["status"] for r in failing["rows"]} == {"ok"}


def test_search_and_metadata_are_applied(replay_db: Path) -> None:
    database = replay_db.parent / "tracker.db"
    items, coverage, page = get(
        database,
        "/tracker/items.json?_search=troops&_shape=objects&_col=title&_col=summary&_size=max",
        "/tracker/coverage.json?_search=%22security+guarantees%22&_shape=objects&_size=max",
        "/tracker/first_reports",
    )
    assert len(items["rows"]) > 10
    assert all("troop" in f"{r['title']} {r['summary']}".lower() for r in items["rows"])
    assert coverage["rows"] and all(
        "security guarantee" in f"{r['title']} {r['summary']}".lower() for r in coverage["rows"]
    )
    assert "the outlet that reported it first and how far ahead of the others" in page
    assert "minutes between the first and the second outlet" in page


def test_items_are_described_as_one_row_per_item(replay_db: Path) -> None:
    """The items table was described as "one row per story"."""
    tables = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["tracker"]["tables"]
    assert "one row per item" in tables["items"]["description"]
    assert "per story" not in tables["items"]["description"]
    with sqlite3.connect(replay_db.parent / "tracker.db") as db:
        items, distinct = db.execute("SELECT count(*), count(DISTINCT id) FROM items").fetchone()
        stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    assert items == distinct != stories


def test_datasette_starts_with_the_metadata_file(replay_db: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "datasette",
            str(replay_db.parent / "tracker.db"),
            "-m",
            str(METADATA),
            "--get",
            "/tracker.json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    views = {v["name"] for v in listing["views"]}
    assert {"coverage", "daily_coverage", "first_reports", "feed_health"} <= views
    assert any(q["name"] == "first_to_report" for q in listing["queries"])
