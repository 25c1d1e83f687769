"""Story clustering: edge cases on real titles, and pairwise quality on the labelled pairs."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracker.clean import canonical_url
from tracker.demo import run_demo
from tracker.models import FeedSource, ParsedItem
from tracker.normalise import normalise_item
from tracker.pipeline import cluster_new_items
from tracker.store import Store

from .conftest import DATA

DAY = datetime(2025, 8, 19, 9, 0, tzinfo=UTC)


def store_with_feeds(*outlets: str) -> tuple[Store, list]:
    store = Store.memory()
    store.sync_config_feeds(
        [FeedSource(url=f"https://{o.lower()}.example/rss", outlet=o) for o in outlets], DAY
    )
    return store, store.due_feeds(DAY)


def add(store: Store, feed, title: str, summary: str, when: datetime, link: str) -> int:
    item = normalise_item(ParsedItem(None, link, title, summary, published=when), feed.outlet, when)
    with store.transaction():
        outcome = store.upsert_items(feed, [item], when)[0]
    cluster_new_items(store, when)
    return outcome.item_id


def story_of(store: Store, item_id: int) -> int:
    return store.db.execute("SELECT story_id FROM items WHERE id = ?", (item_id,)).fetchone()[0]


GUARANTEES = (
    "Europe races to firm up Ukraine security guarantees as Trump backs troop plan",
    "European leaders are racing to turn Trump's backing for a troop plan into guarantees",
)


def test_wire_copy_with_an_outlet_suffix_joins_the_story() -> None:
    store, (a, b) = store_with_feeds("Bloomberg", "Reuters")
    first = add(store, a, *GUARANTEES, DAY, "https://a.example/1")
    copy = add(
        store,
        b,
        GUARANTEES[0] + " - Reuters",
        GUARANTEES[1],
        DAY + timedelta(hours=2),
        "https://b.example/1",
    )
    assert story_of(store, copy) == story_of(store, first)
    assert store.db.execute("SELECT count(*) FROM stories").fetchone()[0] == 1


def test_same_title_on_another_day_is_another_story() -> None:
    store, (a, _) = store_with_feeds("Bloomberg", "Reuters")
    monday = add(
        store,
        a,
        "FirstFT: the day's news",
        "Also in today's newsletter",
        DAY,
        "https://a.example/1",
    )
    friday = add(
        store,
        a,
        "FirstFT: the day's news",
        "Also in today's newsletter",
        DAY + timedelta(days=4),
        "https://a.example/2",
    )
    assert story_of(store, monday) != story_of(store, friday)


def test_different_events_on_the_same_day_stay_apart() -> None:
    store, (a, b) = store_with_feeds("Bloomberg", "Reuters")
    one = add(store, a, *GUARANTEES, DAY, "https://a.example/1")
    other = add(
        store,
        b,
        "Firefighters in race to save Oregon’s tallest tree after it ignites",
        "Crews are working to douse blaze on the 325-ft Doerner fir",
        DAY,
        "https://b.example/2",
    )
    assert story_of(store, one) != story_of(store, other)


def test_updated_title_keeps_its_item_and_story() -> None:
    store, (a, _) = store_with_feeds("Bloomberg", "Reuters")
    first = add(store, a, *GUARANTEES, DAY, "https://a.example/1")
    again = add(
        store,
        a,
        GUARANTEES[0].replace("races", "rushes"),
        GUARANTEES[1],
        DAY + timedelta(hours=1),
        "https://a.example/1",
    )
    assert again == first
    assert store.db.execute("SELECT count(*) FROM stories").fetchone()[0] == 1


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("replay")
    run_demo(lambda line: None, workdir)
    return workdir / "tracker.db"


def test_pairwise_quality_on_labelled_pairs(replayed: Path) -> None:
    """Measured on the replay of the real snapshots: P 0.817, R 0.618, F1 0.704 (target 0.9
    not reached: the pairs are deliberately hard; see the closing notes of issue 9)."""
    store = Store.open(replayed)
    story = dict(store.db.execute("SELECT canonical_url, story_id FROM items").fetchall())
    links = {}
    for path in (DATA / "archive-2025").glob("*.jsonl"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            links[(path.name, number)] = canonical_url(json.loads(line)["link"])
    tp = fp = fn = 0
    with open(DATA / "relevance" / "pairs.csv", encoding="utf-8") as f:
        for pair in csv.DictReader(f):
            a = story[links[(pair["a_file"], int(pair["a_line"]))]]
            b = story[links[(pair["b_file"], int(pair["b_line"]))]]
            same, truth = a == b, pair["same_event"] == "1"
            tp += same and truth
            fp += same and not truth
            fn += truth and not same
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)
    assert precision >= 0.77 and f1 >= 0.69, (precision, recall, f1)
    largest = store.db.execute(
        "SELECT count(*) FROM items GROUP BY story_id ORDER BY 1 DESC LIMIT 1"
    ).fetchone()[0]
    assert largest <= 20  # centroid linking does not chain the whole war into one story
