"""tracker feeds remove and tracker article remove: what goes, what stays, and dry runs.

Two real Guardian snapshots a day apart share most of their items: served as two feeds of one
outlet, each carries items the other does not, so removing one shows every case at once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracker.app import Tracker
from tracker.cli import cli
from tracker.demo.localserver import FeedServer
from tracker.errors import ConflictError, NotFoundError

from .conftest import ARTICLE, REPLAY

TABLES = (
    "feeds",
    "outlets",
    "items",
    "item_keys",
    "item_versions",
    "sightings",
    "fetches",
    "stories",
    "articles",
    "article_items",
    "article_outlets",
)


def snapshot(t: Tracker) -> dict[str, list[Any]]:
    """Every row of the tables a removal may touch, to compare before and after."""
    return {
        table: [tuple(r) for r in t.store.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
        for table in TABLES
    }


def ids(t: Tracker, sql: str, *params: Any) -> set[int]:
    return {row[0] for row in t.store.db.execute(sql, params)}


@pytest.fixture
def two_feeds(make_tracker, server: FeedServer) -> tuple[Tracker, int, int]:
    """Two Guardian feeds added by hand (not in config.yaml), polled once, linked."""
    t = make_tracker({})
    one = server.add("/one.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    two = server.add("/two.xml", (REPLAY / "guardian-world-20250820.xml").read_bytes())
    first = t.add_feed(one, "The Guardian").feed_id
    second = t.add_feed(two, "The Guardian").feed_id
    t.poll()
    return t, first, second


def test_feeds_remove_deletes_only_what_no_other_feed_carried(two_feeds) -> None:
    t, one, two = two_feeds
    shared = ids(
        t,
        "SELECT item_id FROM sightings WHERE feed_id = ? INTERSECT "
        "SELECT item_id FROM sightings WHERE feed_id = ?",
        one,
        two,
    )
    # the feed whose poll stored the shared items first is removed: they must move
    marks = ",".join("?" * len(shared))
    (first,) = ids(t, f"SELECT feed_id FROM items WHERE id IN ({marks})", *shared)
    second = two if first == one else one
    only_first = ids(t, "SELECT item_id FROM sightings WHERE feed_id = ?", first) - shared
    only_second = ids(t, "SELECT item_id FROM sightings WHERE feed_id = ?", second) - shared
    assert only_first and shared and only_second
    links = t.store.db.execute("SELECT article_id, item_id, score, tier FROM article_items")
    links = {(a, i): (s, tier) for a, i, s, tier in links}
    dropped = {k for k in links if k[1] in only_first}
    assert dropped and len(dropped) < len(links)
    stories_before = ids(t, "SELECT id FROM stories")

    before = snapshot(t)
    dry = t.remove_feed(first, dry_run=True)
    assert snapshot(t) == before, "a dry run changed the database"
    removal = t.remove_feed(first)
    assert removal.counts == dry.counts
    assert removal.what.startswith(f"feed {first} (The Guardian) http://127.0.0.1:")
    assert removal.counts["feeds"] == 1
    assert removal.counts["items"] == len(only_first)
    assert removal.counts["items_kept"] == len(shared)
    assert removal.counts["article_items"] == len(dropped)

    # what only the removed feed carried is gone, with its links
    assert not ids(t, "SELECT id FROM items") & only_first
    assert not ids(t, "SELECT item_id FROM article_items") & only_first
    assert not ids(t, "SELECT item_id FROM item_keys") & only_first
    assert not ids(t, "SELECT feed_id FROM sightings") & {first}
    assert not ids(t, "SELECT feed_id FROM fetches") & {first}
    # what another feed carried too stays, with its links, now under that feed
    assert ids(t, "SELECT id FROM items") == shared | only_second
    after = {
        (a, i): (s, tier)
        for a, i, s, tier in t.store.db.execute(
            "SELECT article_id, item_id, score, tier FROM article_items"
        )
    }
    assert after == {k: v for k, v in links.items() if k not in dropped}
    assert ids(t, "SELECT DISTINCT feed_id FROM items") == {second}
    # stories left empty went; none of the kept items lost its story
    assert ids(t, "SELECT story_id FROM items") <= ids(t, "SELECT id FROM stories")
    assert len(stories_before) - len(ids(t, "SELECT id FROM stories")) == removal.counts["stories"]
    assert t.store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert t.store.integrity_check() == "ok"
    assert [o.name for o in t.store.outlets()] == ["The Guardian"]
    # and the remaining feed polls on as before
    assert t.poll(all_feeds=True).count("error") == 0


def test_feeds_remove_in_the_cli_says_what_happens_to_items_and_links(
    two_feeds, tmp_path: Path
) -> None:
    t, first, _ = two_feeds
    expected = t.remove_feed(first, dry_run=True).counts
    t.close()
    run = CliRunner().invoke
    config = str(tmp_path / "config.yaml")
    dry = run(cli, ["-c", config, "feeds", "remove", str(first), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    c = expected
    lines = dry.output.splitlines()
    assert lines[0].startswith(f"would remove feed {first} (The Guardian) http://127.0.0.1:")
    assert lines[1:] == [
        f"  {c['items']} items only this feed carried: would be deleted, with "
        f"{c['article_items']} links to articles, 0 alerts, {c['item_versions']} older "
        f"versions, {c['item_keys']} identity keys and {c['stories']} stories left empty",
        f"  {c['items_kept']} items other feeds carried too: would be kept, with their links "
        "to articles",
        f"  {c['sightings']} sightings and {c['fetches']} fetch log row of the feed: "
        "would be deleted; its outlet stays",
    ]
    done = run(cli, ["-c", config, "feeds", "remove", str(first), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["counts"] == expected
    again = run(cli, ["-c", config, "feeds", "remove", str(first)])
    assert again.exit_code == 1 and again.output == f"Error: no feed with id {first}\n"
    help_text = run(cli, ["feeds", "remove", "--help"]).output
    for promise in (
        "items no other feed carried are deleted, with their links to articles",
        "items another feed carried too stay, with their links to articles",
        "its outlet stays",
        "--dry-run",
    ):
        assert promise in help_text


def test_a_feed_config_yaml_lists_is_not_removed(make_tracker, server: FeedServer) -> None:
    url = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    t = make_tracker({"The Guardian": [url]})
    t.poll()
    before = snapshot(t)
    with pytest.raises(ConflictError, match=r"is listed in .*config\.yaml, so it would come back"):
        t.remove_feed(1)
    assert snapshot(t) == before
    with pytest.raises(NotFoundError, match="no feed with id 9"):
        t.remove_feed(9)


def test_article_remove_keeps_every_item_and_the_other_articles_links(
    make_tracker, server: FeedServer, tmp_path: Path
) -> None:
    url = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    t = make_tracker({"The Guardian": [url]})
    t.poll()
    copy = tmp_path / "second-article.txt"
    shutil.copy(ARTICLE, copy)
    second = t.add_article(str(copy)).article_id
    kept = {
        r[0]: tuple(r)
        for r in t.store.db.execute("SELECT item_id, * FROM article_items WHERE article_id = 1")
    }
    theirs = ids(t, "SELECT item_id FROM article_items WHERE article_id = ?", second)
    assert kept and theirs
    before = snapshot(t)
    dry = t.remove_article(second, dry_run=True)
    assert snapshot(t) == before
    removal = t.remove_article(second)
    assert (
        removal.counts
        == dry.counts
        == {
            "article_items": len(theirs),
            "article_outlets": 1,
            "alerts": 0,
            "articles": 1,
        }
    )
    after = snapshot(t)
    for table in ("items", "item_keys", "sightings", "stories", "feeds", "outlets"):
        assert after[table] == before[table], table
    assert {
        r[0]: tuple(r) for r in t.store.db.execute("SELECT item_id, * FROM article_items")
    } == kept
    assert [a.id for a in t.articles()] == [1]
    # the article of config.yaml is refused: it would be registered again at the next start
    with pytest.raises(ConflictError, match=r"article 1 .* is listed in .*config\.yaml"):
        t.remove_article(1)
    with pytest.raises(NotFoundError, match="no article with id 5"):
        t.remove_article(5)


def test_article_remove_in_the_cli(make_tracker, server: FeedServer, tmp_path: Path) -> None:
    url = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    t = make_tracker({"The Guardian": [url]})
    t.poll()
    copy = tmp_path / "second-article.txt"
    shutil.copy(ARTICLE, copy)
    second = t.add_article(str(copy))
    links = len(t.coverage(second.article_id))
    t.close()
    run = CliRunner().invoke
    config = str(tmp_path / "config.yaml")
    dry = run(cli, ["-c", config, "article", "remove", str(second.article_id), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        f"would remove article {second.article_id}: {second.draft.title}",
        f"  {links} links to items: would be deleted; every item stays, with its links to "
        "other articles",
        "  1 cited outlet: would be deleted (the outlets stay)",
        "  0 alerts (sent or pending): would be deleted",
    ]
    done = run(cli, ["-c", config, "article", "remove", str(second.article_id)])
    assert (
        done.output.splitlines()[0] == f"removed article {second.article_id}: {second.draft.title}"
    )
    refused = run(cli, ["-c", config, "article", "remove", "1"])
    assert refused.exit_code == 1
    assert "is listed in" in refused.output and "remove it there first" in refused.output
    help_text = run(cli, ["article", "remove", "--help"]).output
    for promise in ("every item stays", "links to items (its coverage) are deleted", "--dry-run"):
        assert promise in help_text
