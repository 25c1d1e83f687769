"""Splitting a body into raw items: what feedparser reads of a split document is what it reads
of the whole body, on every real feed file that can be split, and a body that cannot be split
safely is left whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.ingest.parse import parse_feed
from tracker.ingest.split import SPLIT_HEADERS, split_feed

from .conftest import DATA, FEEDS, REPLAY

REAL = sorted(FEEDS.glob("*.xml")) + sorted(REPLAY.glob("*.xml"))


def _fields(feed_items):
    return [
        (i.guid, i.link, i.title, i.summary_html, i.author, i.published, i.updated)
        for i in feed_items
    ]


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_a_split_document_reads_as_the_whole_body(path: Path) -> None:
    body = path.read_bytes()
    whole = parse_feed(body, {}, "https://example.com/feed")
    split = split_feed(body, {})
    if split is None:
        pytest.skip("not split: parsed whole")
    assert len(split.hashes) == len(whole.items)
    document, kept = split.without(set())
    again = parse_feed(document, SPLIT_HEADERS, "https://example.com/feed")
    assert _fields(again.items) == _fields(whole.items)
    assert (again.kind, again.title, again.ttl_minutes) == (
        whole.kind,
        whole.title,
        whole.ttl_minutes,
    )
    assert kept == tuple(dict.fromkeys(split.hashes))


def test_most_real_feeds_split() -> None:
    split = [p.name for p in REAL if split_feed(p.read_bytes(), {}) is not None]
    # every rebuilt replay snapshot, and the real RSS, RDF and Atom snapshots that are well formed
    assert len(split) >= len(REAL) - 3, sorted({p.name for p in REAL} - set(split))


def test_only_the_items_not_sent_before_are_handed_to_the_parser() -> None:
    day19 = (REPLAY / "guardian-world-20250819.xml").read_bytes()
    day20 = (REPLAY / "guardian-world-20250820.xml").read_bytes()
    sent = set(split_feed(day19, {}).hashes)
    split = split_feed(day20, {})
    document, kept = split.without(sent)
    parsed = parse_feed(document, SPLIT_HEADERS, "")
    whole = parse_feed(day20, {}, "")
    again = [h not in sent for h in split.hashes]
    assert 0 < sum(again) < len(again)  # the snapshots overlap, as a live feed's do
    assert len(parsed.items) == len(kept) == sum(again)
    fresh = [item for item, new in zip(whole.items, again, strict=True) if new]
    assert _fields(parsed.items) == _fields(fresh)
    assert [i.position for i in parsed.items] == list(range(len(kept)))


def test_an_item_changed_by_one_byte_is_parsed_again() -> None:
    body = (REPLAY / "guardian-world-20250819.xml").read_bytes()
    first = split_feed(body, {})
    edited = body.replace(b"</title>", b" </title>", 3)  # the channel's title and two items'
    second = split_feed(edited, {})
    assert len(set(first.hashes) ^ set(second.hashes)) == 4


def test_a_malformed_real_body_is_parsed_whole() -> None:
    body = (FEEDS / "guardian-business-economics-20221119-0841-malformed.xml").read_bytes()
    assert split_feed(body, {}) is None
    assert len(parse_feed(body, {}, "").items) == 20  # feedparser still recovers its items


def test_a_charset_header_that_disagrees_with_the_document_is_parsed_whole() -> None:
    body = (FEEDS / "stadtfeuerwehr-weiz-rss091-20180819.xml").read_bytes()
    assert b"ISO-8859-1" in body[:100].upper()
    assert split_feed(body, {"content-type": "text/xml; charset=iso-8859-1"}) is not None
    assert split_feed(body, {"content-type": "text/xml; charset=utf-8"}) is None


def test_a_document_type_declaration_is_parsed_whole() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "x.dtd"><rss><channel><item><title>a</title></item></channel></rss>'
    assert split_feed(body, {}) is None


def test_items_outside_the_channel_are_parsed_whole() -> None:
    body = (
        b"<rss><channel><item><title>a</title></item></channel><item><title>b</title></item></rss>"
    )
    assert split_feed(body, {}) is None
    assert len(parse_feed(body, {}, "").items) == 2


def test_a_sitemap_is_not_split() -> None:
    sitemap = next((DATA / "feeds").glob("*sitemap*"), None)
    body = (
        sitemap.read_bytes()
        if sitemap
        else b"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'/>"
    )
    assert split_feed(body, {}) is None
