"""The analyst corrects the tracker (``tracker mark`` / ``unmark``): a judged item keeps its label
through later polls, rebuilt models and rescores; unmark puts back exactly what the scorer says;
explain, coverage, export and the digest show it; mistakes are one clear line.

Real feeds (the replayed Guardian and Bloomberg snapshots) through a real HTTP server on
127.0.0.1, and the replay database of the demo."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracker.app import Tracker
from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.localserver import FeedServer
from tracker.errors import ArticleNeededError, JudgementError, NotFoundError
from tracker.models import CoverageRow, ManualClock, Relevance
from tracker.score.judged import FROM_MARKS_DOWN
from tracker.score.relevance import score_doc
from tracker.score.text import Doc
from tracker.storage import Store
from tracker.storage.schema import MIGRATIONS
from tracker.update.pipeline import article_profiles

from .conftest import ARTICLE, REPLAY, copy_replay

GUARDIAN = {day: (REPLAY / f"guardian-world-202508{day}.xml").read_bytes() for day in (19, 20, 21)}
# items of the Guardian's 19 August feed, by title (ids differ between databases)
OUTFIT = (
    "Zelenskyy’s new outfit was not a response to difficult first White House visit, says designer"
)
TROOPS = "UK to offer troops to defend Ukraine’s skies and ports in Pentagon talks"
LEADERS = "European leaders discuss Ukraine security guarantees after Trump talks"
DC = "DC residents question troops’ focus on low-crime areas amid Trump takeover"
#: what the analyst says of them, against the scorer's related, related, story and not linked
LABELS = {OUTFIT: "unrelated", TROOPS: "story", LEADERS: "related", DC: "related"}
AFTER_REPLAY = datetime(2025, 8, 25, 12, 0, tzinfo=UTC)


def item_id(t: Tracker, title: str) -> int:
    return t.store.db.execute("SELECT id FROM items WHERE title = ?", (title,)).fetchone()[0]


def link(t: Tracker, item: int, article: int = 1) -> dict[str, Any] | None:
    rows = list(
        t.store.db.query(
            "SELECT tier, score, story_score, reasons, linked_at FROM article_items "
            "WHERE article_id = ? AND item_id = ?",
            (article, item),
        )
    )
    return {**rows[0], "reasons": json.loads(rows[0]["reasons"])} if rows else None


def links(t: Tracker) -> dict[tuple[int, int], tuple[Any, ...]]:
    """Every link as the scorer and judgements made it (not when it was written)."""
    return {
        (r[0], r[1]): tuple(r[2:])
        for r in t.store.db.execute(
            "SELECT article_id, item_id, tier, score, story_score, reasons FROM article_items"
        )
    }


def scorer(t: Tracker, item: int) -> Relevance:
    """What the scorer says of an item now, on its own."""
    return t.explain(item, 1)[0].relevance


def assert_judged(t: Tracker, ids: dict[str, int], *, fresh: bool) -> None:
    """Every judged item has its label's tier (none for unrelated); with ``fresh`` its score
    and reasons are what the scorer says now, plus the marked reason."""
    for title, label in LABELS.items():
        row = link(t, ids[title])
        if label == "unrelated":
            assert row is None, title
            continue
        assert row is not None and row["tier"] == label, (title, row)
        said = scorer(t, ids[title])
        alone = "not linked" if said.tier == "none" else said.tier
        assert row["reasons"][-1] == f"marked {label} by you (the score alone: {alone})"
        if fresh:
            assert (row["score"], row["story_score"]) == (said.score, said.story_score), title
            assert row["reasons"][:-1] == list(said.reasons), title


def test_a_judged_item_keeps_its_label_through_polls_rebuilt_models_and_rescore(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    url = server.add("/g.xml", GUARDIAN[19])
    t = make_tracker({"The Guardian": [url]})
    t.poll(all_feeds=True)
    ids = {title: item_id(t, title) for title in LABELS}
    # the scorer's verdicts, which every judgement contradicts
    assert [link(t, ids[x])["tier"] for x in (OUTFIT, TROOPS, LEADERS)] == [  # type: ignore[index]
        "related",
        "related",
        "story",
    ]
    assert link(t, ids[DC]) is None and scorer(t, ids[DC]).tier == "none"
    for title, label in LABELS.items():
        done = t.mark(ids[title], label, note="read it" if label == "unrelated" else None)
        assert done.tier == ("none" if label == "unrelated" else label)
    assert_judged(t, ids, fresh=True)
    assert t.store.judgement(1, ids[OUTFIT]).note == "read it"  # type: ignore[union-attr]

    # a later poll changes two judged items' wording: the poll links them as the scorer says
    body = GUARDIAN[19]
    for title in (OUTFIT, TROOPS):
        body = body.replace(title.encode(), title.replace("’s", "’s own").encode())
    server.add("/g.xml", body)
    clock.set(clock() + timedelta(hours=1))
    assert t.poll(all_feeds=True).results[0].items_updated == 2
    # the scorer still says related of the item marked story (the one marked unrelated it
    # learned from: its words are off-topic now, see test_judged.py)
    assert scorer(t, ids[TROOPS]).tier == "related"
    assert_judged(t, ids, fresh=False)

    # new days: the model outgrows what it learned from and is rebuilt, stored items rescored
    built = t.articles()[0].model["built_upto"]
    for day in (20, 21):
        server.add("/g.xml", GUARDIAN[day])
        clock.set(clock() + timedelta(days=1))
        t.poll(all_feeds=True)
    assert t.articles()[0].model["built_upto"] > built
    assert_judged(t, ids, fresh=False)

    # a full rescore (what 'tracker rescore' runs)
    t.rescore()
    assert_judged(t, ids, fresh=True)
    assert len(t.judgements()) == len(LABELS)


def test_unmark_puts_back_exactly_what_the_scorer_says_now(
    server: FeedServer, make_tracker
) -> None:
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN[19])]})
    t.poll(all_feeds=True)
    t.rescore()
    never_judged = links(t)
    ids = {title: item_id(t, title) for title in LABELS}
    for title, label in LABELS.items():
        t.mark(ids[title], label)
    t.rescore()
    assert links(t) != never_judged
    for title in LABELS:
        done = t.unmark(ids[title])
        assert done.judgement.label == LABELS[title] and done.tier == scorer(t, ids[title]).tier
    assert links(t) == never_judged
    t.rescore()  # and the scorer agrees: nothing left to put back
    assert links(t) == never_judged and t.judgements() == []
    with pytest.raises(JudgementError, match=r"is not marked for article 1: nothing to undo"):
        t.unmark(ids[OUTFIT])


def test_no_writer_of_links_can_override_a_judgement(server: FeedServer, make_tracker) -> None:
    """The judgement is applied where links are written (storage), not by each caller."""
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN[19])]})
    t.poll(all_feeds=True)
    store, now = t.store, datetime(2025, 8, 20, tzinfo=UTC)
    ids = {title: item_id(t, title) for title in LABELS}
    for title, label in LABELS.items():
        t.mark(ids[title], label)
    judged_links = {k: v for k, v in links(t).items() if k[1] in ids.values()}
    passes = Relevance(0.9, ('story phrase: "security guarantee"',), "story", 0.9)
    with store.transaction():
        for item in ids.values():
            store.link_item(1, item, passes, now)
    assert link(t, ids[OUTFIT]) is None
    assert [link(t, ids[x])["tier"] for x in (TROOPS, LEADERS, DC)] == [  # type: ignore[index]
        "story",
        "related",
        "related",
    ]
    # a rescore step or a replacement that links none of them leaves the judged ones linked
    high = store.newest_item_id()
    store.rescore_chunk(1, high, 1, [], now)
    store.replace_links(1, [], now)
    assert {k[1] for k in links(t)} == {ids[x] for x in (TROOPS, LEADERS, DC)}
    t.rescore()
    assert {k: v for k, v in links(t).items() if k[1] in ids.values()} == judged_links


def test_judgements_go_with_their_item_or_article(
    server: FeedServer, make_tracker, clock: ManualClock, tmp_path: Path
) -> None:
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN[19])]})
    t.poll(all_feeds=True)
    copy = tmp_path / "second-article.txt"
    shutil.copy(ARTICLE, copy)
    second = t.add_article(str(copy)).article_id
    outfit, troops = item_id(t, OUTFIT), item_id(t, TROOPS)
    t.mark(outfit, "unrelated", article_id=1)
    t.mark(troops, "story", article_id=second)
    t.remove_article(second)
    assert [(j.article_id, j.item_id) for j in t.judgements()] == [(1, outfit)]
    # an item marked unrelated is not linked, so prune takes it like any unlinked item
    clock.set(clock() + timedelta(days=2))
    t.prune("1d", vacuum=False)
    assert t.judgements() == []
    gone = t.store.db.execute("SELECT count(*) FROM items WHERE id = ?", (outfit,)).fetchone()
    assert gone == (0,) and t.store.item_count() > 0


def test_an_older_database_gains_the_judgements_table(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "t.db", create=True)
    store.db.execute("DROP TABLE judgements")
    store.db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    store.close()
    again = Store.open(tmp_path / "t.db")
    assert again.schema_version == len(MIGRATIONS)
    assert {c.name for c in again.db["judgements"].columns} == {
        "article_id",
        "item_id",
        "label",
        "judged_at",
        "note",
    }
    assert "judgement" in {c.name for c in again.db["coverage"].columns}


# --- shown everywhere: explain, coverage, export, the digest (on the replayed story) ----------


@pytest.fixture
def replay(replay_db: Path, tmp_path: Path) -> Any:
    config = copy_replay(replay_db, tmp_path)
    t = Tracker(load_config(config), clock=ManualClock(AFTER_REPLAY))
    yield t, config
    t.close()


def first_of_day(t: Tracker, day: str, tier: str) -> CoverageRow:
    """The first item of a tier first seen on a (London) day."""
    rows = [r for r in t.coverage(1, tier=tier) if r.first_seen_at[:10] == day]
    assert rows
    return rows[-1]


def test_the_digest_says_marked_by_you_in_markdown_html_and_atom(replay: Any) -> None:
    t, _ = replay
    related = first_of_day(t, "2025-08-20", "related")
    story = first_of_day(t, "2025-08-20", "story")
    before = t.digest(date(2025, 8, 20), write=False).texts
    assert all("marked by you" not in text for text in before.values())
    t.mark(related.item_id, "story")
    t.mark(story.item_id, "unrelated")
    texts = t.digest(date(2025, 8, 20), write=False).texts
    for fmt in ("md", "html"):
        text = texts[fmt]
        assert text.count("marked by you: same story") == 1, fmt
        assert "marked story by you" not in text, fmt  # the stored reason is not a term
        assert story.url not in text, fmt  # unrelated: not in the digest at all
    assert "marked by you" in texts["atom"]
    digest = t.digest(date(2025, 8, 20), write=False).digest
    judged = [i for a in digest.articles for i in a.items if i.judgement]
    assert [(i.item_id, i.tier, i.judgement) for i in judged] == [
        (related.item_id, "story", "story")
    ]
    assert all(not term.startswith("marked") for i in judged for term in i.terms)


def test_coverage_export_and_explain_show_the_judgement(replay: Any, tmp_path: Path) -> None:
    t, config = replay
    run = CliRunner().invoke
    item = first_of_day(t, "2025-08-21", "related")
    marked = run(cli, ["-c", str(config), "mark", str(item.item_id), "story", "--note", "yes"])
    assert marked.exit_code == 0, marked.output
    assert f"item {item.item_id} marked story for article 1: {item.title}" in marked.stdout
    assert "the score alone: linked as related" in marked.stdout
    assert f"until 'tracker unmark {item.item_id}'" in marked.stdout

    rows = json.loads(run(cli, ["-c", str(config), "coverage", "--json"]).stdout)
    judged = [r for r in rows if r["judgement"]]
    assert [(r["item_id"], r["tier"], r["judgement"], r["judgement_note"]) for r in judged] == [
        (item.item_id, "story", "story", "yes")
    ]
    table = run(cli, ["-c", str(config), "coverage"]).stdout.splitlines()
    header = table[0].split("\t")
    assert header[:6] == ["item_id", "reported", "outlet", "score", "tier", "judgement"]
    shown = {line.split("\t")[0]: line.split("\t") for line in table[1:]}
    assert shown[str(item.item_id)][5] == "marked story by you"
    assert "marked" not in shown[str(item.item_id)][7]  # the reasons column: terms only

    t.export(tmp_path / "c.csv", "csv")
    with (tmp_path / "c.csv").open(encoding="utf-8", newline="") as f:
        exported = list(csv.DictReader(f))
    assert {r["item_id"]: r["judgement"] for r in exported if r["judgement"]} == {
        str(item.item_id): "story"
    }
    out = io.StringIO()
    t.export(out, "jsonl", tier="story")
    assert any(json.loads(x)["judgement"] == "story" for x in out.getvalue().splitlines())

    explained = run(cli, ["-c", str(config), "explain", str(item.item_id)]).stdout
    assert "tier story (marked by you; the score alone: related)" in explained
    judged_at = t.store.judgement(1, item.item_id).judged_at
    assert f"marked story by you on {judged_at} (yes): this overrides the score" in explained
    assert "linked as story: marked story by you, which overrides the score alone (linked:" in (
        explained
    )
    data = json.loads(run(cli, ["-c", str(config), "explain", str(item.item_id), "--json"]).stdout)[
        0
    ]
    assert (data["tier"], data["score_tier"], data["linked"]) == ("story", "related", True)
    assert data["judgement"] == {"label": "story", "judged_at": judged_at, "note": "yes"}

    undone = run(cli, ["-c", str(config), "unmark", str(item.item_id)])
    assert undone.exit_code == 0, undone.output
    assert "it was marked story; back to the score: linked as related" in undone.stdout
    rows = json.loads(run(cli, ["-c", str(config), "coverage", "--json"]).stdout)
    assert not any(r["judgement"] for r in rows)
    assert {r["item_id"]: r["tier"] for r in rows}[item.item_id] == "related"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mark", "999999", "story"], "Error: no item with id 999999"),
        (["mark", "{item}", "story", "--article", "9"], "Error: no article with id 9"),
        (["mark", "{item}", "gold"], "'gold' is not one of 'story', 'related', 'unrelated'"),
        (["mark", "abc", "story"], "'abc' is not a valid integer"),
        (["unmark", "{item}"], "Error: item {item} is not marked for article 1: nothing to undo"),
        (["unmark", "999999"], "Error: no item with id 999999"),
    ],
)
def test_mistakes_are_one_clear_line(replay: Any, args: list[str], message: str) -> None:
    t, config = replay
    item = str(first_of_day(t, "2025-08-21", "related").item_id)
    args = [a.replace("{item}", item) for a in args]
    result = CliRunner().invoke(cli, ["-c", str(config), *args])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message.replace("{item}", item) in result.output
    if message.startswith("Error: "):
        assert result.output.strip().count("\n") == 0, result.output


def test_with_several_articles_the_article_must_be_named(
    server: FeedServer, make_tracker, tmp_path: Path
) -> None:
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN[19])]})
    t.poll(all_feeds=True)
    copy = tmp_path / "second-article.txt"
    shutil.copy(ARTICLE, copy)
    second = t.add_article(str(copy)).article_id
    troops = item_id(t, TROOPS)
    with pytest.raises(ArticleNeededError, match=r"2 articles are tracked \(1, 2\)"):
        t.mark(troops, "story")
    with pytest.raises(NotFoundError, match="no item with id 999999"):
        t.mark(999999, "story", article_id=1)
    with pytest.raises(JudgementError, match="label must be one of story, related, unrelated"):
        t.mark(troops, "maybe", article_id=1)
    run = CliRunner().invoke
    config = str(t.config.path)
    refused = run(cli, ["-c", config, "mark", str(troops), "story"])
    assert refused.exit_code == 1 and refused.output == (
        "Error: 2 articles are tracked (1, 2): say which one with --article ID "
        "(see 'tracker article list')\n"
    )
    refused = run(cli, ["-c", config, "unmark", str(troops)])
    assert "say which one with --article ID" in refused.output
    done = run(cli, ["-c", config, "mark", str(troops), "story", "--article", str(second)])
    assert done.exit_code == 0, done.output
    assert f"until 'tracker unmark {troops} --article {second}'" in done.stdout
    again = run(cli, ["-c", config, "mark", str(troops), "related", "--article", str(second)])
    assert "; it was marked story; now linked as related whatever the score says" in again.stdout
    assert t.store.judgement(second, troops).label == "related"  # type: ignore[union-attr]
    t.mark(troops, "story", article_id=second)
    assert link(t, troops, second)["tier"] == "story"  # type: ignore[index]
    assert link(t, troops, 1)["tier"] == "related"  # type: ignore[index]


# --- the scorer learns from the marks -----------------------------------------------------------


def test_a_mark_teaches_the_scorer_at_once_and_unmark_restores(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    """Marking starts a rescore of the stored items (a bounded step at once, the rest at the
    next cycles), with the model learned from the marks on top of the stored one, which is not
    rebuilt; unmarking puts every link back."""
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN[19])]})
    t.poll(all_feeds=True)
    t.rescore()
    stored_model, before = t.articles()[0].model, links(t)
    outfit = item_id(t, OUTFIT)
    t.mark(outfit, "unrelated")
    assert t.articles()[0].model == stored_model and t.articles()[0].rescore_cursor is None
    after = links(t)
    moved = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} - {
        (1, outfit)
    }
    # items sharing its words score lower, some drop out: none scores higher
    assert moved and any(k not in after for k in moved)
    assert all(k not in after or after[k][1] < before[k][1] for k in moved)
    lower = next(k[1] for k in moved)
    parts = [term for _, term, _ in t.explain(lower, 1)[0].breakdown.parts]
    assert any(FROM_MARKS_DOWN in term for term in parts), parts
    t.unmark(outfit)
    assert links(t) == before

    # marked again, the next poll scores its new items with the model learned from the mark
    server.add("/g.xml", GUARDIAN[20])
    clock.set(clock() + timedelta(days=1))
    t.mark(outfit, "unrelated")
    t.poll(all_feeds=True)
    plain = article_profiles(t.config, t.articles())[0]  # the stored model, no marks
    new = {k[1]: v for k, v in links(t).items() if k[1] > max(i for _, i in before)}
    assert new
    for item, (_, score, *_) in new.items():
        assert score == scorer(t, item).score
    unlearned = {i: score_doc(plain, Doc.of(*t.store.item_text(i))).score for i in new}
    assert any(new[i][1] < unlearned[i] for i in new)

    t.unmark(outfit)
    assert all(v[1] == unlearned[k[1]] for k, v in links(t).items() if k[1] in new)
