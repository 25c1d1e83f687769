"""Story clustering: edge cases on real titles, and pairwise quality on the labelled pairs."""

from __future__ import annotations

import copy
import json
import math
import pickle
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracker.demo.run import run_demo
from tracker.ingest.clean import html_to_text
from tracker.ingest.normalise import normalise_item
from tracker.models import FeedSource, Incoming, ParsedItem
from tracker.score import cluster
from tracker.storage import Store, from_db
from tracker.update.decide import decide_items
from tracker.update.pipeline import cluster_new_items

from .cluster_eval import (
    DATA,
    HALVES,
    in_half,
    largest_story,
    load_pairs,
    quality,
    replay,
    stored_items,
    stored_stories,
    tune,
)

DAY = datetime(2025, 8, 19, 9, 0, tzinfo=UTC)


def store_with_feeds(*outlets: str) -> tuple[Store, list]:
    store = Store.memory()
    store.sync_config_feeds(
        [FeedSource(url=f"https://{o.lower()}.example/rss", outlet=o) for o in outlets], DAY
    )
    return store, store.due_feeds(DAY)


def add(store: Store, feed, title: str, summary: str, when: datetime, link: str) -> int:
    item = normalise_item(
        ParsedItem(None, link, title, summary, published=when), feed.outlet_id, when
    )
    with store.transaction():
        intents = decide_items(feed, [Incoming(item)], store.known_items(feed.id, item.keys))
        new_ids = store.write_items(feed.id, feed.outlet_id, intents, when)
    cluster_new_items(store, when)
    return new_ids[0] if new_ids else (intents.changed or intents.seen)[0].item_id


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


# --- the similarity's discounts (pure) ------------------------------------------------------------


def story_of_one(title: str, summary: str, outlet: int) -> tuple[cluster.Story, cluster.Vector]:
    corpus = cluster.Corpus.of([cluster.terms(*GUARANTEES), cluster.terms("Other", "news")])
    vector = corpus.vector(cluster.terms(title, summary))
    index = cluster.StoryIndex()
    return index.add(1, DAY, vector, outlet), vector


def test_similarity_decays_with_time_since_the_latest_item() -> None:
    story, vector = story_of_one(*GUARANTEES, outlet=1)
    params = cluster.Params()
    now = story.similarity(vector, DAY, 2, params)
    later = story.similarity(vector, DAY + params.decay, 2, params)
    assert now == pytest.approx(1.0)
    assert later == pytest.approx(math.exp(-1))
    story.add(vector, DAY + params.decay)  # a later member moves the reference time
    assert story.similarity(vector, DAY + params.decay, 2, params) == pytest.approx(1.0)


def test_an_outlets_second_item_must_be_closer() -> None:
    story, vector = story_of_one(*GUARANTEES, outlet=1)
    params = cluster.Params()
    assert story.similarity(vector, DAY, 1, params) == pytest.approx(1 / params.same_outlet)
    assert story.similarity(vector, DAY, 2, params) == pytest.approx(1.0)


def member(id_: int, outlet: int, title: str, summary: str, when: datetime) -> cluster.Member:
    return cluster.Member(id_, id_, outlet, cluster.terms(title, summary), when, when)


def test_assign_moves_only_new_items_and_respects_the_window() -> None:
    params = cluster.Params()
    old = member(1, 1, *GUARANTEES, DAY)
    copy = member(2, 2, *GUARANTEES, DAY + timedelta(hours=3))
    late = member(3, 3, *GUARANTEES, DAY + params.window + timedelta(hours=1))
    background = [member(10 + n, 4, f"Unrelated story {n}", "elsewhere", DAY) for n in range(5)]
    moves = cluster.assign([old, *background, copy, late], DAY + timedelta(hours=1), params)
    assert moves == [(2, 1)]  # the old item stays, the copy joins, the late one starts anew


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("replay")
    run_demo(lambda line: None, workdir)
    return workdir / "tracker.db"


def test_pairwise_quality_on_labelled_pairs(replayed: Path) -> None:
    """Measured on the demo's replay of the real snapshots (bench/cluster.py): P 0.839,
    R 0.764, F1 0.800 on all 255 pairs; F1 0.795 on 15–19 Aug and 0.818 on 20–24 Aug (words
    only: 0.797, 0.795, 0.812). The issue's target of 0.85 held out is not reached: see
    docs/relevance.md for why."""
    stories, pairs = stored_stories(replayed), load_pairs()
    overall = quality(stories, pairs)
    assert overall.precision >= 0.83 and overall.f1 >= 0.79, overall
    for half in HALVES:
        assert quality(stories, [p for p in pairs if in_half(p, half)]).f1 >= 0.79, half
    # centroid linking does not chain the whole war into one story
    assert largest_story(stories) <= 20


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 3 minutes on an idle machine here, over the default 120 s
def test_held_out_quality_on_labelled_pairs(replayed: Path) -> None:
    """The grid tuned on one half of the days and measured on the other, both ways (as
    bench/cluster.py prints it; about 3 minutes): F1 0.795 on 20–24 Aug and 0.758 on 15–19 Aug
    (words only: 0.784 and 0.753)."""
    held_out = {row.tested_on: row.test.f1 for row in tune(stored_items(replayed), load_pairs())}
    assert held_out["20-24 Aug"] >= 0.79 and held_out["15-19 Aug"] >= 0.755, held_out


def test_replaying_the_cycles_gives_the_stories_the_pipeline_stored(replayed: Path) -> None:
    """bench/cluster.py tunes on an in-memory replay: it must be the pipeline's clustering."""

    def partition(story_of: dict[str, int]) -> set[frozenset[str]]:
        groups: dict[int, set[str]] = {}
        for url, story in story_of.items():
            groups.setdefault(story, set()).add(url)
        return {frozenset(g) for g in groups.values()}

    replayed_stories = replay(stored_items(replayed), cluster.Params())
    assert partition(replayed_stories) == partition(stored_stories(replayed))


# --- events whose actors differ (issue 17, items 2 and 9) ------------------------------------------


#: the feeds the offline demo replays, one outlet each
DEMO_FEEDS = (
    "guardian-world",
    "bloomberg-politics",
    "ft-world",
    "lemonde-en",
    "nbc-world",
    "bbc-world-europe",
)


def archive_members(first: str, last: str) -> dict[str, cluster.Member]:
    """The archive's real items published from ``first`` to ``last`` (ISO times), by title, each
    in a story of its own and first seen when published, oldest first; one outlet per feed."""
    rows = []
    for outlet, name in enumerate(DEMO_FEEDS, start=1):
        path = DATA / "archive-2025" / f"{name}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            when = datetime.fromisoformat(entry["published"])
            if first <= entry["published"] <= last:
                rows.append((when, outlet, entry["title"], html_to_text(entry["summary_html"])))
    rows.sort()
    return {
        title: cluster.Member(n, n, outlet, cluster.terms(title, summary), when, when)
        for n, (when, outlet, title, summary) in enumerate(rows, start=1)
    }


RUSSIA = "Russia Reports Exchange of 146 Prisoners of War With Ukraine"
VENEZUELA = "Venezuela Frees a Batch of Political Prisoners Amid US Threats"


def test_events_whose_actors_differ_are_different_stories() -> None:
    """Bloomberg, 24 Aug 2025, two hours apart: a prisoner exchange reported by Russia and a
    release of prisoners by Venezuela. Their words meet ("prisoners") but neither names the
    country that acts in the other; the digest showed them as one story."""
    members = archive_members("2025-08-17T12:00", "2025-08-24T23:59")
    russia, venezuela = members[RUSSIA], members[VENEZUELA]
    moves = dict(cluster.assign(list(members.values()), russia.first_seen, cluster.Params()))
    assert moves.get(russia.id, russia.id) != moves.get(venezuela.id, venezuela.id)


def test_the_demo_keeps_events_whose_actors_differ_apart(replayed: Path) -> None:
    with sqlite3.connect(replayed) as conn:
        stories = dict(
            conn.execute(
                "SELECT title, story_id FROM items WHERE title IN (?, ?)", (RUSSIA, VENEZUELA)
            )
        )
    assert len(stories) == 2 and stories[RUSSIA] != stories[VENEZUELA]


def test_names_are_learnt_from_how_outlets_write_them() -> None:
    russia = cluster.terms(
        RUSSIA,
        "The armed forces of Russia and Ukraine each exchanged 146 service members on Sunday, "
        "Russia’s Defense Ministry said on Telegram, the latest in a series of prisoner swaps.",
    )
    headline = cluster.terms("Prisoners Freed As Talks Go On", "")  # Headline Case tells nothing
    names = cluster.names_of([russia, headline])
    assert {"russia", "ukraine", "telegram"} <= names
    assert not {"prisoner", "exchange", "armed", "freed"} & names


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("israel", "israeli", True),
        ("zelensky", "zelenskyy", True),
        ("zelenskiy", "zelenskyy", True),
        ("china", "chinese", True),
        ("austria", "australia", False),
        ("iran", "iraq", False),
        ("lyle", "erik", False),
    ],
)
def test_one_name_in_its_forms(a: str, b: str, same: bool) -> None:
    assert cluster.same_name(a, b) is same


def test_terms_keep_what_the_text_showed_when_copied() -> None:
    terms = cluster.terms(RUSSIA, "Russia’s Defense Ministry said on Telegram.")
    for again in (terms.copy(), copy.deepcopy(terms), pickle.loads(pickle.dumps(terms))):
        assert isinstance(again, cluster.Terms) and again == terms
        assert (again.title, again.cased, again.capital) == (
            terms.title,
            terms.cased,
            terms.capital,
        )


def test_a_week_larger_than_recent_items_is_not_tokenised_again_at_every_cycle(
    replayed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by bench/scale.py: with more items in the week than the memo kept, the oldest were
    dropped from it and tokenised again at every cycle (1,200 items a cycle at 1M stored). The
    window is now the week's newest ``limit`` items, and the memo holds exactly them."""
    db = tmp_path / "tracker.db"
    with sqlite3.connect(replayed) as source, sqlite3.connect(db) as copy_:
        source.backup(copy_)
    store = Store.open(db)
    newest = from_db(store.db.execute("SELECT max(first_seen_at) FROM items").fetchone()[0])
    tokenised: list[str] = []
    real_terms = cluster.terms

    def counted(title: str, summary: str) -> Counter[str]:
        tokenised.append(title)
        return real_terms(title, summary)

    monkeypatch.setattr(cluster, "terms", counted)
    memo: dict[int, Counter[str]] = {}
    try:
        week = len(store.items_for_clustering(newest - timedelta(days=7)))
        assert week > 200  # the replay's last week holds more than the limit below
        cluster_new_items(store, newest, memo=memo, limit=200)
        assert len(tokenised) == len(memo) == 200
        tokenised.clear()
        cluster_new_items(store, newest, memo=memo, limit=200)
        assert tokenised == [] and len(memo) == 200
    finally:
        store.close()
