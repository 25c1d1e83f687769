"""Keeping the relevance models current: a bounded window of the newest items, rebuilds when the
coverage has grown, and rescoring in bounded steps that end where a full rescore does."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tracker.app import Tracker
from tracker.errors import ArticleError
from tracker.score.background import Background
from tracker.score.text import Doc
from tracker.update.upkeep import CHUNK

from .conftest import DATA, REPLAY


def _links(t: Tracker) -> set[tuple[int, int, str]]:
    return {
        (r["article_id"], r["item_id"], r["tier"])
        for r in t.store.db.query("SELECT article_id, item_id, tier FROM article_items")
    }


def test_the_window_counts_exactly_its_newest_items() -> None:
    texts = [
        (line.split('"title": "')[1].split('"')[0], "")
        for path in sorted((DATA / "archive-2025").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()[:40]
    ]
    window = Background(size=50)
    for item_id, (title, summary) in enumerate(texts, start=1):
        window.add(item_id, Doc.of(title, summary), summary, outlet=item_id % 3)
    newest = [Doc.of(title, summary) for title, summary in texts[-50:]]
    assert len(window) == 50 and window.newest == len(texts)
    assert +window.df == Counter(term for doc in newest for term in doc.text)
    assert [d.text for d in window.docs] == [d.text for d in newest]
    # the outlet of each item, for telling one outlet's furniture from content
    assert window.outlets == [n % 3 for n in range(len(texts) - 49, len(texts) + 1)]


def test_a_rescore_in_steps_ends_where_a_full_rescore_does(server, make_tracker, clock) -> None:
    urls = [
        server.add(f"/{p.name}", p.read_bytes()) for p in sorted(REPLAY.glob("*-2025082[01].xml"))
    ]
    t = make_tracker({"Replay": urls})
    t.poll(all_feeds=True)
    full = _links(t)
    assert len(full) > 20
    stored = t.store.item_count()
    assert stored > 2 * CHUNK // 5
    # a rebuilt model that scores differently: every stored item waits to be rescored
    t.store.db.execute("DELETE FROM article_items")
    t.store.db.execute("UPDATE articles SET rescore_cursor = (SELECT max(id) FROM items)")
    steps = 0
    while not t.upkeep.rescore(items=100):
        steps += 1
        assert _links(t) <= full  # each step is a consistent, partial rescore
    assert steps >= stored // 100 - 1
    assert _links(t) == full
    assert all(a.rescore_cursor is None for a in t.articles())


def test_an_article_without_text_is_a_clear_error(make_tracker, tmp_path: Path) -> None:
    t = make_tracker({})
    t.store.db.execute("UPDATE articles SET text = NULL")
    with pytest.raises(ArticleError, match="no text to learn from"):
        t.rescore()


def test_a_model_is_rebuilt_only_once_coverage_has_grown(server, make_tracker) -> None:
    days = sorted(REPLAY.glob("guardian-world-*.xml"))
    url = server.add("/g.xml", days[0].read_bytes())
    t = make_tracker({"The Guardian": [url]})
    t.poll(all_feeds=True)
    model = t.articles()[0].model
    assert model["built_upto"] == t.store.newest_item_id() and t.upkeep.stale() == []
    # a few more items (fewer than 20): not enough to teach the model anything new
    t.store.db.execute(
        "UPDATE articles SET model = json_set(model, '$.built_upto', ?)", (model["built_upto"] - 5,)
    )
    assert t.upkeep.stale() == []
    new = 0
    for day in days[1:4]:
        server.add("/g.xml", day.read_bytes())
        new += t.poll(all_feeds=True).items_new
    assert new > max(20, model["background"] * 0.25)
    rebuilt = t.articles()[0].model
    assert rebuilt["built_upto"] == t.store.newest_item_id() > model["built_upto"]
    assert rebuilt["background"] == t.store.item_count()
