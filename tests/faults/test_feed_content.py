"""Fault suite, feed content (issue 10): what a feed's body can do wrong, served over real HTTP
beside three healthy feeds. Every test ends with the harness checks (see conftest.py): the cycle
goes on, the healthy feeds' items arrive, nothing stored is lost or duplicated, the database is
intact and memory stays bounded.

Already covered elsewhere and extended here: tests/test_parse.py (the corpus files parse to their
expected output), tests/test_pipeline.py (a broken feed beside a good one, a changed title, a
future date), tests/test_clean.py (sanitising single fragments).
"""

from __future__ import annotations

import re
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tracker.config import FetchSettings
from tracker.demo.localserver import FeedServer, send_status
from tracker.errors import ParseError, TooLargeError
from tracker.ingest.fetch import make_client, safe_get
from tracker.ingest.parse import parse_feed

from ..conftest import DATA, FEEDS, REPLAY
from .conftest import FaultRun

GUARDIAN = (REPLAY / "guardian-world-20250819.xml").read_bytes()
HANDMADE = DATA / "handmade"
#: what an HTML parser would take for the start of a tag
TAG = re.compile(r"<[a-zA-Z/!?]")


def items_of(run: FaultRun, url: str) -> list[dict]:
    return list(
        run.tracker.store.db.query(
            "SELECT items.* FROM items JOIN sightings ON sightings.item_id = items.id "
            "JOIN feeds ON feeds.id = sightings.feed_id WHERE feeds.url = ? ORDER BY items.id",
            (url,),
        )
    )


def with_doctype(feed: bytes, doctype: bytes, reference: bytes) -> bytes:
    """A real feed with a DOCTYPE added after its XML declaration and a reference in a title."""
    declaration_end = feed.index(b"?>") + 2
    body = feed[declaration_end:].replace(b"<title>", b"<title>" + reference + b" ", 2)
    return feed[:declaration_end] + b"\n" + doctype + body


# --- malformed, empty, not a feed ----------------------------------------------------------------


def test_malformed_real_feed_recovers_its_items_with_a_warning(server: FeedServer, faults) -> None:
    body = (FEEDS / "guardian-business-economics-20221119-0841-malformed.xml").read_bytes()
    url = server.add("/malformed.xml", body)
    run = faults({"The Guardian business": [url]})
    result = run.result(run.poll(), url)
    assert (result.result, result.items_new) == ("ok", 20)
    recorded = run.error(url)
    assert recorded.error_message.startswith("malformed feed, items recovered:")
    assert "not well-formed" in recorded.last_error
    run.later(hours=1)
    server.add("/malformed.xml", body + b"\n")  # a new body, so it is parsed again
    again = run.result(run.poll(), url)
    assert (again.items_new, again.items_seen) == (0, 20)


@pytest.mark.parametrize("body", [b"", b" \r\n\t "], ids=["empty", "whitespace"])
def test_empty_body_is_a_hard_error_then_disabled(server: FeedServer, faults, body: bytes) -> None:
    url = server.add("/empty.xml", body)
    run = faults({"Empty": [url]})
    for _ in range(3):  # polling.disable_after: 3 in the test config
        run.poll()
        run.later(days=1)
    recorded = run.assert_failed(url, "empty", "empty response body")
    assert not recorded.enabled
    assert recorded.disabled_reason == "3 consecutive hard failures"


def test_consent_wall_served_instead_of_the_feed(server: FeedServer, faults) -> None:
    server.add(
        "/consent",
        (HANDMADE / "consent-wall-handmade.html").read_bytes(),
        content_type="text/html; charset=utf-8",
    )
    wall = server.add("/world/rss", lambda h: send_status(h, 302, {"Location": "/consent"}))
    # a real article page, served with a feed's content type: the type is not trusted
    page = DATA / "pages" / "guardian-environment-maori-whale-strandings-20190103.html"
    lying = server.add("/lying.xml", page.read_bytes(), content_type="application/rss+xml")
    run = faults({"Consent": [wall], "Lying": [lying]})
    run.poll()
    run.assert_failed(wall, "not-a-feed", "HTML page", "Before you continue")
    run.assert_failed(lying, "not-a-feed", "HTML page")
    assert items_of(run, wall) == [] and items_of(run, lying) == []


# --- entity attacks --------------------------------------------------------------------------------

LAUGHS = (
    b'<!DOCTYPE rss [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>\n"
)
#: quadratic blow-up: one 10 kB entity referenced 10,000 times is 100 MB once expanded
QUADRATIC_ENTITY = b'<!DOCTYPE rss [\n<!ENTITY a "' + b"A" * 10_000 + b'">\n]>\n'


def test_billion_laughs_and_quadratic_blowup_are_refused(server: FeedServer, faults) -> None:
    laughs = server.add("/laughs.xml", with_doctype(GUARDIAN, LAUGHS, b"&lol9;"))
    quadratic = server.add(
        "/quadratic.xml", with_doctype(GUARDIAN, QUADRATIC_ENTITY, b"&a;" * 10_000)
    )
    # the same, with a comment that ends the prolog for a naive scanner (feedparser's)
    hidden = server.add(
        "/hidden.xml",
        with_doctype(GUARDIAN, b"<!-- <rss> -->\n" + QUADRATIC_ENTITY, b"&a;" * 10_000),
    )
    run = faults({"Attack": [laughs, quadratic, hidden]})
    run.poll()
    for url in (laughs, quadratic, hidden):
        run.assert_failed(url, "parse", "declares XML entities", "refused")
        assert items_of(run, url) == []
    assert (
        max(
            len(r["summary"] or "") for r in run.tracker.store.db.query("SELECT summary FROM items")
        )
        < 20_000
    )


def test_quadratic_blowup_costs_no_memory() -> None:
    """Before the fix, feedparser's fallback parser expanded each reference: ~600 MB here."""
    body = with_doctype(GUARDIAN, QUADRATIC_ENTITY, b"&a;" * 60_000)
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match="declares XML entities"):
            parse_feed(body, {"content-type": "application/rss+xml"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_character_reference_entities_are_still_accepted() -> None:
    body = with_doctype(GUARDIAN, b'<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n]>\n', b"&nbsp;")
    parsed = parse_feed(body, {"content-type": "application/rss+xml"})
    assert len(parsed.items) == 60


def test_external_entities_are_never_resolved(server: FeedServer, faults, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("XXE-SENTINEL-7f3a\n", encoding="utf-8")
    server.add("/secret", b"XXE-SENTINEL-HTTP\n", content_type="text/plain")
    server.add("/evil.dtd", b'<!ENTITY remote "XXE-SENTINEL-DTD">', content_type="text/plain")
    system = b'<!DOCTYPE rss [\n<!ENTITY x SYSTEM "file://%s">\n]>\n' % str(secret).encode()
    http = b'<!DOCTYPE rss [<!ENTITY x SYSTEM "%s">]>\n' % server.url("/secret").encode()
    parameter = (
        b'<!DOCTYPE rss [\n<!ENTITY %% p SYSTEM "%s">\n%%p;\n]>\n'
        % server.url("/evil.dtd").encode()
    )
    external_dtd = b'<!DOCTYPE rss SYSTEM "%s">\n' % server.url("/evil.dtd").encode()
    urls = {
        "file": server.add("/xxe-file.xml", with_doctype(GUARDIAN, system, b"&x;")),
        "http": server.add("/xxe-http.xml", with_doctype(GUARDIAN, http, b"&x;")),
        "parameter": server.add("/xxe-param.xml", with_doctype(GUARDIAN, parameter, b"")),
        "dtd": server.add("/xxe-dtd.xml", with_doctype(GUARDIAN, external_dtd, b"&remote;")),
    }
    run = faults({"XXE": list(urls.values())})
    run.poll()
    for name in ("file", "http", "parameter"):
        run.assert_failed(urls[name], "parse", "declares XML entities")
    # an external DTD declares nothing here: the feed is read without it, its items kept
    assert run.error(urls["dtd"]).result == "ok" and len(items_of(run, urls["dtd"])) == 60
    assert server.hits("/secret") == 0 and server.hits("/evil.dtd") == 0
    dump = "\n".join(str(row) for row in run.tracker.store.db.query("SELECT * FROM items"))
    assert "XXE-SENTINEL" not in dump


def test_news_sitemap_entities_are_refused_too(server: FeedServer, faults, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("XXE-SENTINEL-SITEMAP\n", encoding="utf-8")
    sitemap = (HANDMADE / "reuters-news-sitemap-handmade.xml").read_bytes()
    doctype = b'<!DOCTYPE urlset [<!ENTITY x SYSTEM "file://%s">]>\n' % str(secret).encode()
    hostile = sitemap.replace(b"<urlset", doctype + b"<urlset", 1).replace(
        b"<news:title>", b"<news:title>&x;", 1
    )
    url = server.add("/sitemap.xml", hostile, content_type="application/xml")
    run = faults({"Reuters": [url]})
    run.poll()
    run.assert_failed(url, "parse", "declares XML entities")


# --- size ------------------------------------------------------------------------------------------

#: one MiB of zeros deflated after a full flush: every copy of it inflates to the same MiB
_ZEROS = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
_BLOCK = _ZEROS.compress(b"\0" * (1 << 20)) + _ZEROS.flush(zlib.Z_FULL_FLUSH)


def gzip_bomb(mebibytes: int) -> bytes:
    """A gzip body of about 1 kB per MiB it inflates to (its trailer is never reached)."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + _BLOCK * mebibytes + b"\x03\x00" + b"\0" * 8


def streamed(size: int, chunked: bool):
    """A feed-looking body of ``size`` bytes, written in 64 kB pieces."""

    def behaviour(h: BaseHTTPRequestHandler) -> None:
        block = b"<item><title>filler</title></item>".ljust(65536, b" ")
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(size))
        h.end_headers()
        try:
            for piece in [b"<rss version='2.0'><channel>"] + [block] * (size // len(block)):
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                h.wfile.write(b"0\r\n\r\n")
        except OSError:
            return  # the client hung up at its cap

    return behaviour


def test_50mb_feed_and_gzip_bomb_stop_at_the_cap(server: FeedServer, faults) -> None:
    bomb = gzip_bomb(1024)  # about 1 MB, inflating to 1 GiB
    assert len(bomb) < 1_200_000
    urls = {
        "declared": server.add("/50mb.xml", streamed(50_000_000, chunked=False)),
        "chunked": server.add("/50mb-chunked.xml", streamed(50_000_000, chunked=True)),
        "bomb": server.add(
            "/bomb.xml",
            bomb,
            headers={"Content-Encoding": "gzip"},
            content_type="application/rss+xml",
        ),
    }
    run = faults({"Huge": list(urls.values())})
    run.poll()
    run.assert_failed(
        urls["declared"], "too-large", "50,000,000 bytes exceeds the 2,000,000-byte cap"
    )
    run.assert_failed(urls["chunked"], "too-large", "decoded body exceeds the 2,000,000-byte cap")
    run.assert_failed(urls["bomb"], "too-large", "decoded body exceeds the 2,000,000-byte cap")
    assert run.peaks[-1] < 400 * 2**20


@pytest.mark.parametrize("kind", ["gzip-bomb", "chunked-50mb"])
def test_memory_stays_flat_while_the_cap_stops_a_body(server: FeedServer, kind: str) -> None:
    """Before the fix each 64 kB of a gzip bomb was inflated whole: 64 MB at once, 150 MB peak."""
    if kind == "gzip-bomb":
        url = server.add("/b", gzip_bomb(1024), headers={"Content-Encoding": "gzip"})
    else:
        url = server.add("/b", streamed(50_000_000, chunked=True))
    settings = FetchSettings(allow_private_networks=True, deadline=30, max_body_bytes=2_000_000)
    with make_client(settings) as client:
        tracemalloc.start()
        try:
            with pytest.raises(TooLargeError):
                safe_get(client, url, settings)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 8_000_000, f"{peak:,} bytes"


def test_10000_item_feed_stays_fast_and_small(server: FeedServer, faults) -> None:
    snapshots = sorted(REPLAY.glob("*.xml"))
    real = [
        i for path in snapshots for i in re.findall(rb"<item>.*?</item>", path.read_bytes(), re.S)
    ]
    items = []
    for n in range(10_000):  # real items, made distinct in guid, link (path) and title
        item = re.sub(
            rb"(<(?:guid|link)[^>]*>[^<?#]*)",
            lambda m, n=n: m.group(1) + b"-%d" % n,
            real[n % len(real)],
        )
        items.append(item.replace(b"<title>", b"<title>%d " % n, 1))
    head = (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Big</title>'
    )
    body = head + b"".join(items) + b"</channel></rss>"
    url = server.add("/big.xml", body)
    run = faults({"Big": [url]})
    run.set_fetch(max_body_bytes=20_000_000, deadline=60, read_timeout=30)
    started = time.monotonic()
    first = run.result(run.poll(), url)
    elapsed = time.monotonic() - started
    assert (first.result, first.items_new, first.error_message) == ("ok", 10_000, None)
    assert elapsed < 120, f"first poll took {elapsed:.1f} s"
    run.later(hours=1)
    server.add("/big.xml", body.replace(b"<title>Big</title>", b"<title>Big, rebuilt</title>"))
    started = time.monotonic()
    second = run.result(run.poll(), url)
    assert time.monotonic() - started < 120
    assert (second.items_new, second.items_seen) == (0, 10_000)
    assert run.count("item_versions") == 0
    assert max(run.peaks) < 600 * 2**20, run.peaks


def test_300000_bare_items_are_cut_at_10000(server: FeedServer, faults) -> None:
    """Found by this suite: 10 MB of bare <item>s (300,000 of them, within the size cap) took
    770 MB and a minute in one transaction. Only the first 10,000 items are read now."""
    items = b"".join(b"<item><title>Bare %d</title></item>" % n for n in range(300_000))
    body = b"<rss version='2.0'><channel><title>Bare</title>" + items + b"</channel></rss>"
    url = server.add("/bare.xml", body)
    run = faults({"Bare": [url]})
    run.set_fetch(max_body_bytes=12_000_000, deadline=60, read_timeout=30)
    started = time.monotonic()
    result = run.result(run.poll(), url)
    assert time.monotonic() - started < 60
    assert (result.result, result.items_new) == ("ok", 10_000)
    assert result.error_message == (
        "the document lists more than 10,000 items: only the first 10,000 were read"
    )
    assert run.peaks[-1] < 500 * 2**20, run.peaks


# --- encodings -------------------------------------------------------------------------------------

MOJIBAKE = re.compile("Ã.|â€|Â[\u00a0-\u00bf]")


def test_double_encoded_utf8_is_repaired(server: FeedServer, faults) -> None:
    lemonde = server.add("/lemonde.xml", (FEEDS / "lemonde-une-2017.xml").read_bytes())
    spiegel = server.add("/spiegel.xml", (FEEDS / "spiegel-nachrichten-20170107.xml").read_bytes())
    run = faults({"Le Monde 2017": [lemonde], "DER SPIEGEL": [spiegel]})
    run.poll()
    for url, word in ((lemonde, "éleveurs"), (spiegel, "Köln")):
        stored = items_of(run, url)
        text = " ".join(i["title"] + " " + i["summary"] for i in stored)
        assert stored and not MOJIBAKE.search(text), MOJIBAKE.search(text)
        assert word in text


def test_content_type_charset_contradicting_the_document(server: FeedServer, faults) -> None:
    # Latin-1 bytes served as UTF-8, and UTF-8 bytes served as Latin-1 (real corpus files)
    weiz = server.add(
        "/weiz.xml",
        (FEEDS / "stadtfeuerwehr-weiz-rss091-20180819.xml").read_bytes(),
        content_type="application/rss+xml; charset=utf-8",
    )
    guardian = server.add(
        "/guardian-us.xml",
        (FEEDS / "guardian-us-edition-20180131-2015.xml").read_bytes(),
        content_type="application/rss+xml; charset=iso-8859-1",
    )
    run = faults({"Weiz": [weiz], "The Guardian US": [guardian]})
    run.poll()
    weiz_text = " ".join(i["summary"] for i in items_of(run, weiz))
    assert "Straße" in weiz_text and not MOJIBAKE.search(weiz_text)
    assert "declared as utf-8" in run.error(weiz).last_error
    guardian_text = " ".join(i["title"] for i in items_of(run, guardian))
    assert "Trump’s" in guardian_text and not MOJIBAKE.search(guardian_text)


def test_rss091_latin1_bom_and_stylesheet_processing_instructions(
    server: FeedServer, faults
) -> None:
    files = {
        "stadtfeuerwehr-weiz-rss091-20180819.xml": 15,  # RSS 0.91, ISO-8859-1
        "breakingnews-ie-business-2017.xml": 10,  # UTF-8 BOM + two xml-stylesheet PIs
        "reuters-worldnews-feedburner-2017.xml": 10,  # xml-stylesheet PIs
        "ctvnews-topstories-20170107.xml": 10,  # UTF-8 BOM, CDATA with whitespace
    }
    urls = {
        server.add(f"/{name}", (FEEDS / name).read_bytes(), content_type="text/xml"): n
        for name, n in files.items()
    }
    run = faults({"Odd formats": list(urls)})
    summary = run.poll()
    for url, count in urls.items():
        result = run.result(summary, url)
        assert (result.result, result.items_new) == ("ok", count), result
        assert all(not i["title"].startswith("\ufeff") for i in items_of(run, url))


def test_zero_item_feed_is_quietly_ok(server: FeedServer, faults) -> None:
    url = server.add("/dailymail.xml", (FEEDS / "dailymail-worldnews-2017.xml").read_bytes())
    run = faults({"Daily Mail": [url]})
    result = run.result(run.poll(), url)
    assert (result.result, result.items_new, result.error_kind) == ("ok", 0, None)
    recorded = run.error(url)
    assert recorded.last_error is None and recorded.enabled


# --- identity --------------------------------------------------------------------------------------


def test_items_without_guid_link_or_date_are_stored_once(server: FeedServer, faults) -> None:
    body = (HANDMADE / "no-guid-link-date-handmade.xml").read_bytes()
    url = server.add("/identity.xml", body)
    run = faults({"News Example": [url]})
    first = run.result(run.poll(), url)
    assert first.items_new == 5  # six entries, one of them listed twice
    keys = {
        r["key"].split(":", 1)[0] for r in run.tracker.store.db.query("SELECT key FROM item_keys")
    }
    assert {"hash", "url", "guid"} <= keys
    dateless = run.one("SELECT count(*) AS n FROM items WHERE published_at IS NULL")["n"]
    assert dateless >= 3
    for n in range(3):  # re-polls with the same items in another order and a new build date
        run.later(hours=1)
        entries = re.findall(rb"<item>.*?</item>", body, re.S)
        shuffled = (
            body.split(b"<item>")[0] + b"".join(entries[n:] + entries[:n]) + b"</channel></rss>"
        )
        server.add("/identity.xml", shuffled.replace(b"12:00:00", b"1%d:00:00" % (n + 3)))
        again = run.result(run.poll(), url)
        assert (again.items_new, again.items_updated) == (0, 0), again
    assert len(items_of(run, url)) == 5


def test_same_guid_with_a_changed_title_and_link_is_one_row_with_a_version(
    server: FeedServer, faults
) -> None:
    """tests/test_pipeline.py covers a changed title; here the plain guid stays while the outlet
    rewrites both the headline and the slug of the link, as news sites do."""
    item = (
        b"<item><title>%s</title><link>https://news.example/%s</link>"
        b"<guid isPermaLink='false'>story-42</guid><description>Talks in Washington.</description></item>"
    )
    feed = b"<rss version='2.0'><channel><title>x</title>%s</channel></rss>"
    url = server.add("/s.xml", feed % (item % (b"Leaders meet", b"leaders-meet")))
    run = faults({"News Example": [url]})
    run.poll()
    run.later(hours=1)
    server.add("/s.xml", feed % (item % (b"Leaders agree on guarantees", b"leaders-agree")))
    second = run.result(run.poll(), url)
    assert (second.items_new, second.items_updated) == (0, 1)
    rows = items_of(run, url)
    assert [(r["title"], r["version"]) for r in rows] == [("Leaders agree on guarantees", 2)]
    versions = list(run.tracker.store.db.query("SELECT title FROM item_versions"))
    assert versions == [{"title": "Leaders meet"}]
    run.later(hours=1)
    server.add("/s.xml", feed % (item % (b"Leaders agree on guarantees", b"leaders-meet")))
    third = run.result(run.poll(), url)
    assert third.items_new == 0 and len(items_of(run, url)) == 1


def test_one_guid_for_every_item_keeps_the_items_apart(server: FeedServer, faults) -> None:
    """Found by this suite: 60 items sharing a guid were folded into one row, which was rewritten
    (and a version kept) 60 times per poll; the other 59 stories were never stored."""
    same = re.sub(
        rb"<guid[^>]*>[^<]+</guid>", b"<guid isPermaLink='false'>urn:feed:item</guid>", GUARDIAN
    )
    url = server.add("/same-guid.xml", same)
    run = faults({"Same guid": [url]})
    run.poll()
    assert len(items_of(run, url)) == 60  # the healthy copy of the feed may have stored them first
    for n in range(2):
        run.later(hours=1)
        server.add("/same-guid.xml", same.replace(b"</channel>", b"<!-- %d --></channel>" % n))
        again = run.result(run.poll(), url)
        assert (again.items_new, again.items_updated, again.items_seen) == (0, 0, 60)
    assert run.count("item_versions") == 0


def test_live_blog_entries_sharing_one_link(server: FeedServer, faults) -> None:
    """Entries with their own guids but one link are distinct items (the design of
    CleanItem.is_same_as, which did not hold within one poll: found by this suite). Entries
    with one link and no guid are told apart by their words (they were folded into one item,
    losing the others: issue 18), and none churns versions at later polls."""
    entry = b"<item><title>Update %d</title><link>https://news.example/live</link>%s</item>"
    feed = b"<rss version='2.0'><channel><title>Live</title>%s</channel></rss>"
    with_guids = feed % b"".join(
        entry % (n, b"<guid isPermaLink='false'>u%d</guid>" % n) for n in range(3)
    )
    without = feed % b"".join(entry % (n, b"") for n in range(3))
    urls = [
        server.add("/live.xml", with_guids),
        server.add("/live-no-guid.xml", without.replace(b"news.example", b"other.example")),
    ]
    run = faults({"Live": [urls[0]], "Live without guids": [urls[1]]})
    run.poll()
    assert sorted(r["title"] for r in items_of(run, urls[0])) == [
        "Update 0",
        "Update 1",
        "Update 2",
    ]
    assert sorted(r["title"] for r in items_of(run, urls[1])) == [
        "Update 0",
        "Update 1",
        "Update 2",
    ]
    for n in range(2):
        run.later(hours=1)
        server.add("/live.xml", with_guids + b" " * (n + 1))
        server.add(
            "/live-no-guid.xml", without.replace(b"news.example", b"other.example") + b" " * (n + 1)
        )
        summary = run.poll()
        assert [run.result(summary, u).items_updated for u in urls] == [0, 0]
    assert run.count("item_versions") == 0


def test_future_1970_and_unparsable_dates(server: FeedServer, faults, clock) -> None:
    dates = [
        b"Fri, 19 Aug 2033 23:01:23 +0000",
        b"Thu, 01 Jan 1970 00:00:00 +0000",
        b"0000-00-00T00:00:00Z",
        b"not a date",
        b"Tue, 31 Feb 2025 10:00:00 GMT",
        b"Tue, 19 Aug 99999 10:00:00 GMT",
        b"9999-12-31T23:59:59+14:00",
    ]
    body = (REPLAY / "ft-world-20250819.xml").read_bytes()  # no healthy feed shares its items
    found = re.findall(rb"<pubDate>[^<]*</pubDate>", body)
    for old, new in zip(found, dates, strict=False):
        body = body.replace(old, b"<pubDate>" + new + b"</pubDate>", 1)
    url = server.add("/dates.xml", body)
    run = faults({"Dates": [url]})
    run.later(days=1)  # after every real date of the snapshot
    assert run.result(run.poll(), url).items_new == 60
    now = clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    published = [r["published_at"] for r in items_of(run, url)]
    assert all(p is None or "1990" <= p <= now for p in published), published
    assert sum(p is None for p in published) == 5  # 1970, 0000, unparsable, 31 Feb, year 99999
    assert published.count(now) == 2  # 2033 and 9999 are clamped to first seen


# --- hostile markup --------------------------------------------------------------------------------


def test_hostile_titles_and_summaries_are_inert(server: FeedServer, faults) -> None:
    url = server.add("/hostile.xml", (HANDMADE / "hostile-content-handmade.xml").read_bytes())
    run = faults({"Hostile": [url]})
    assert run.result(run.poll(), url).items_new == 5
    rows = items_of(run, url)
    for row in rows:
        for column in ("title", "summary", "author"):
            text = row[column] or ""
            assert not TAG.search(text), (column, text)  # no markup in plain text
            assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text), (column, text)
        html = (row["summary_html"] or "").lower()
        tags = re.findall(r"<[^>]*>", html)  # escaped text (&lt;img …&gt;) is no tag
        assert {re.match(r"</?(\w+)", tag).group(1) for tag in tags} <= {"p", "a", "b"}, tags
        for tag in tags:
            assert not re.search(r"\son\w+\s*=|\sstyle\s*=", tag), tag
            for href in re.findall(r"""href\s*=\s*["']?([^"'\s>]*)""", tag):
                assert href.startswith(("https://", "http://")), tag
        assert row["url"] is None or row["url"].startswith("https://")
    feed = next(f for f in run.tracker.feeds() if f.url == url)
    assert feed.title == "Hostile feed"
    titles = [r["title"] for r in rows]
    # Markdown stays literal text: harmless here; the digest must escape it (pending, issue 5)
    assert any(t.startswith("[Ukraine talks: Markdown link](javascript:") for t in titles)
    assert "Ukraine talks: double-escaped script" in titles
    linked = {r.title for r in run.tracker.coverage()}
    assert not any(TAG.search(t) for t in linked)


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_bidi_controls_and_link_credentials_never_reach_the_database_or_the_digest(
    server: FeedServer, faults
) -> None:
    """Found by an independent probe (issue 17): bidirectional overrides in titles and summaries
    reached the digests and the terminal raw ("…gnp.exe" shown for "exe.png…"), and an item link
    kept its user name and password, or a line break, in items.url."""
    body = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        "<title>Spoof\u202e feed</title>"
        "<item><title>Ukraine troops: security guarantees \u202egnp.exe</title>"
        "<description>Peacekeeping \u2066troops\u2069 for Ukraine \u202dx</description>"
        "<author>a\u202eb@example.com</author>"
        "<link>https://user:secret@spoof.example/ukraine-troops?utm_source=rss</link>"
        "<guid>spoof-1</guid></item>"
        "<item><title>Ukraine security guarantees: coalition of the willing troops</title>"
        "<link>https://spoof.example/ukraine-\nguarantees</link><guid>spoof-2</guid></item>"
        "</channel></rss>"
    ).encode()
    url = server.add("/spoof.xml", body)
    run = faults({"Spoof": [url]})
    assert run.result(run.poll(), url).items_new == 2
    rows = items_of(run, url)
    feed = next(f for f in run.tracker.feeds() if f.url == url)
    texts = [feed.title or "", *(r[c] or "" for r in rows for c in ("title", "summary", "author"))]
    assert not [t for t in texts if set(t) & set(BIDI)]
    assert rows[0]["title"] == "Ukraine troops: security guarantees gnp.exe"
    assert {r["url"] for r in rows} == {
        "https://spoof.example/ukraine-troops?utm_source=rss",
        "https://spoof.example/ukraine-guarantees",
    }
    assert {r["canonical_url"] for r in rows} == {
        "https://spoof.example/ukraine-troops",
        "https://spoof.example/ukraine-guarantees",
    }
    linked = [r for r in run.tracker.coverage() if r.outlet == "Spoof"]
    assert linked, "the items are linked, so the digest shows them"
    for text in run.tracker.digest(formats=("md", "html", "atom"), write=False).texts.values():
        assert not set(text) & set(BIDI) and "secret" not in text


# --- feeds that used to crash the whole cycle ------------------------------------------------------


def test_feed_data_that_crashed_the_cycle(server: FeedServer, faults) -> None:
    """Found by this suite: each of these raised out of the cycle, so no feed after it was
    polled: surrogate halves and out-of-range character references (feedparser), a huge <ttl>
    (SQLite integer overflow), a relative link that is no URL (urljoin)."""
    emoji = (
        b"<rss version='2.0'><channel><title>x</title>"
        + b"".join(
            b"<item><title>&#55357;&#56832; &#x110000; &#99999999999; Story %d</title>"
            b"<link>https://emoji.example/%d</link></item>" % (n, n)
            for n in range(3)
        )
        + b"</channel></rss>"
    )
    ttl = GUARDIAN.replace(b"<channel>", b"<channel><ttl>99999999999999999999999</ttl>", 1)
    link = b"<rss version='2.0'><channel><title>x</title><item><title>Bad link</title><link>//[bad/x</link></item></channel></rss>"
    urls = [
        server.add("/emoji.xml", emoji),
        server.add("/ttl.xml", ttl),
        server.add("/link.xml", link),
    ]
    run = faults({"Crashers": urls})
    summary = run.poll()
    assert [run.result(summary, u).result for u in urls] == ["ok", "ok", "ok"]
    titles = [r["title"] for r in items_of(run, urls[0])]
    assert titles == [f"😀 \ufffd \ufffd Story {n}" for n in range(3)]
    assert next(f for f in run.tracker.feeds() if f.url == urls[1]).ttl_minutes is None
    assert [r["url"] for r in items_of(run, urls[2])] == [None]


def test_a_tracker_bug_on_one_feed_is_recorded_and_the_cycle_goes_on(
    server: FeedServer, faults, monkeypatch
) -> None:
    import tracker.update.pipeline

    original = tracker.update.pipeline.normalise_item
    buggy_outlet: list[int] = []

    def buggy(item, outlet_id, now):
        if outlet_id in buggy_outlet:
            raise RuntimeError("simulated bug")
        return original(item, outlet_id, now)

    monkeypatch.setattr(tracker.update.pipeline, "normalise_item", buggy)
    url = server.add("/buggy.xml", GUARDIAN.replace(b"<title>", b"<title>copy ", 1))
    run = faults({"Buggy": [url]})
    buggy_outlet.append(run.one("SELECT id FROM outlets WHERE name = 'Buggy'")["id"])
    run.poll()
    run.assert_failed(url, "internal", "RuntimeError: simulated bug", "please report it")
    assert items_of(run, url) == []


def test_feed_list_shows_the_error(server: FeedServer, faults) -> None:
    from click.testing import CliRunner

    from tracker.cli import cli

    url = server.add("/empty.xml", b"")
    run = faults({"Empty": [url]})
    run.poll()
    config = str(run.tracker.config.path)
    listing = CliRunner().invoke(cli, ["-c", config, "feeds", "list"])
    assert listing.exit_code == 0
    line = next(line for line in listing.output.splitlines() if url in line)
    assert "empty: empty response body" in line
