"""Identity and ownership faults (issue 18): items that only their words tell apart are all
kept, one outlet's feed cannot rewrite another outlet's item, and a 304 nobody asked for is an
error. Every case runs through the fault harness (real HTTP on 127.0.0.1, healthy feeds beside
the faulty one, the common checks after each poll)."""

from __future__ import annotations

from tracker.demo.localserver import FeedServer, send_status

from .conftest import FaultRun
from .test_feed_content import items_of

LIVE = b"<rss version='2.0'><channel><title>Live</title>%s</channel></rss>"
ENTRY = b"<item><title>%s</title><link>https://live.example/page</link></item>"


def test_items_sharing_one_link_without_guid_are_all_kept(server: FeedServer, faults) -> None:
    """Three headlines of a live page under one link, no guid: three items, not one item whose
    title changes at every poll while the other two are counted seen and never stored."""
    titles = [b"Minister resigns", b"Markets fall on the news", b"Opposition calls a vote"]
    url = server.add("/live.xml", LIVE % b"".join(ENTRY % t for t in titles))
    run = faults({"Live": [url]})
    summary = run.poll()
    assert run.result(summary, url).items_new == 3
    assert sorted(r["title"] for r in items_of(run, url)) == sorted(t.decode() for t in titles)
    for n in range(2):
        run.later(hours=1)
        # the same items in another order, and the envelope rebuilt: nothing is rewritten
        reordered = LIVE % b"".join(ENTRY % t for t in reversed(titles))
        server.add("/live.xml", reordered.replace(b"<title>Live", b"<title>Live " + b"!" * (n + 1)))
        again = run.result(run.poll(), url)
        assert (again.items_new, again.items_updated, again.items_seen) == (0, 0, 3)
    assert run.count("item_versions") == 0
    assert sorted(r["title"] for r in items_of(run, url)) == sorted(t.decode() for t in titles)


def test_ten_thousand_headlines_under_one_link_are_ten_thousand_items(
    server: FeedServer, faults
) -> None:
    body = LIVE % b"".join(ENTRY % b"Update number %d" % n for n in range(10_000))
    url = server.add("/many.xml", body)
    run = faults({"Live": [url]})
    result = run.result(run.poll(), url)
    assert (result.result, result.items_new, result.items_seen) == ("ok", 10_000, 0)
    assert len(items_of(run, url)) == 10_000


def _outlet_b_lists_a_link(server: FeedServer, title: bytes) -> bytes:
    return (
        b"<rss version='2.0'><channel><title>B</title><item><title>%s</title>"
        b"<link>https://a.example/story</link><guid>b-1</guid></item></channel></rss>" % title
    )


def test_another_outlets_feed_cannot_rewrite_an_item(server: FeedServer, faults) -> None:
    """Outlet B's feed lists outlet A's link under another title: a sighting of A's item, not an
    edit of it. A's own feed still updates it."""
    a_feed = (
        b"<rss version='2.0'><channel><title>A</title><item><title>%s</title>"
        b"<link>https://a.example/story</link></item></channel></rss>"
    )
    a_url = server.add("/a.xml", a_feed % b"Original headline")
    # B is down on the first poll, so A's feed is the one that first stores the item
    b_url = server.add("/b.xml", lambda handler: send_status(handler, 503))
    run: FaultRun = faults({"Outlet A": [a_url], "Outlet B": [b_url]})
    run.poll()
    for title in (b"Rewritten by B", b"Rewritten by B again"):
        run.later(hours=1)
        server.add("/b.xml", _outlet_b_lists_a_link(server, title))
        result = run.result(run.poll(), b_url)
        assert (result.result, result.items_new, result.items_updated) == ("ok", 0, 0)
        (item,) = items_of(run, a_url)
        assert (item["title"], item["version"]) == ("Original headline", 1)
    assert [r["title"] for r in items_of(run, b_url)] == ["Original headline"]
    assert run.count("item_versions") == 0
    run.later(hours=1)
    server.add("/a.xml", a_feed % b"Corrected headline")
    assert run.result(run.poll(), a_url).items_updated == 1
    (item,) = items_of(run, a_url)
    assert (item["title"], item["version"]) == ("Corrected headline", 2)


def test_a_304_to_a_request_without_validators_is_an_error(server: FeedServer, faults) -> None:
    """A server answering 304 when nothing was asked conditionally sends no feed: counting it as
    success would leave the feed empty and healthy-looking forever."""
    url = server.add("/always-304.xml", lambda handler: send_status(handler, 304))
    run = faults({"Broken": [url]})
    run.poll()
    recorded = run.error(url)
    assert (recorded.result, recorded.http_status, recorded.error_kind) == (
        "error",
        304,
        "http-status",
    )
    assert "without validators" in (recorded.error_message or "")
    assert recorded.consecutive_errors == 1
    run.later(hours=6)
    run.poll()
    assert run.error(url).consecutive_errors == 2


GUID_ONLY = (
    b"<rss version='2.0'><channel><title>Wire%s</title>"
    b"<item><title>Ceasefire talks resume</title><guid isPermaLink='false'>w-1</guid></item>"
    b"<item><title>Ministers meet in Geneva</title><guid isPermaLink='false'>w-2</guid>%s</item>"
    b"</channel></rss>"
)


def test_renaming_an_outlet_keeps_its_items(server: FeedServer, faults, tmp_path) -> None:
    """Guid-only items are known by their outlet's id, not its name: renamed in config.yaml, the
    outlet keeps its id and its items are not stored a second time."""
    from tracker.config import load_config

    from ..conftest import write_config

    url = server.add("/wire.xml", GUID_ONLY % (b"", b""))
    run = faults({"Wire": [url]})
    run.poll()
    before = {r["id"]: r["title"] for r in items_of(run, url)}
    outlet_id = run.one("SELECT id FROM outlets WHERE name = 'Wire'")["id"]
    feeds = {"Wire Service": [url], **{o: [u] for u, o in _healthy(run).items()}}
    run.tracker.use_config(load_config(write_config(tmp_path, feeds)))
    run.later(hours=1)
    # the items' bytes change (so they are parsed and matched by their guid keys)
    server.add("/wire.xml", GUID_ONLY % (b" (updated)", b"<description>Talks</description>"))
    result = run.result(run.poll(), url)
    assert (result.items_new, result.items_updated + result.items_seen) == (0, 2)
    assert {r["id"] for r in items_of(run, url)} == set(before)
    assert run.one("SELECT name FROM outlets WHERE id = ?", (outlet_id,))["name"] == "Wire Service"
    assert run.one("SELECT count(*) AS n FROM outlets WHERE name = 'Wire'")["n"] == 0


def _healthy(run: FaultRun) -> dict[str, str]:
    """The harness's healthy feeds: URL -> outlet."""
    return {f.url: f.outlet for f in run.tracker.feeds() if f.url in run.healthy}
