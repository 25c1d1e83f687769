"""Every bundled real feed parses to its expected-output file; odd inputs give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracker.errors import EmptyFeedError, NotAFeedError, ParseError
from tracker.ingest.parse import discover_feed_links, parse_feed

from .conftest import DATA, FEEDS
from .expected import expected_path, parsed_output

FEED_FILES = sorted(FEEDS.glob("*.xml"))


@pytest.mark.parametrize("feed", FEED_FILES, ids=[f.name for f in FEED_FILES])
def test_real_feed_matches_expected_output(feed: Path) -> None:
    expected = json.loads(expected_path(feed).read_text(encoding="utf-8"))
    assert parsed_output(feed) == expected


def test_expected_files_cover_every_feed() -> None:
    assert {p.name for p in (DATA / "expected").glob("*.json")} == {
        f.name + ".json" for f in FEED_FILES
    }


def test_rss091_in_latin1_is_decoded() -> None:
    parsed = parse_feed((FEEDS / "stadtfeuerwehr-weiz-rss091-20180819.xml").read_bytes())
    assert parsed.kind == "rss091u"
    assert len(parsed.items) == 15
    assert any("Straße" in item.summary_html for item in parsed.items)


def test_double_encoded_utf8_is_repaired() -> None:
    out = parsed_output(FEEDS / "lemonde-une-2017.xml")
    text = " ".join(i["summary"] + i["title"] for i in out["items"])
    assert "Ã" not in text and "â€™" not in text
    assert "éleveurs dénoncent" in text


def test_malformed_real_feed_recovers_items_with_a_warning() -> None:
    parsed = parse_feed(
        (FEEDS / "guardian-business-economics-20221119-0841-malformed.xml").read_bytes()
    )
    assert len(parsed.items) == 20
    assert parsed.warning and "not well-formed" in parsed.warning


def test_feedburner_original_link_is_preferred() -> None:
    parsed = parse_feed((FEEDS / "reuters-worldnews-feedburner-2017.xml").read_bytes())
    assert all("reuters.com" in (i.link or "") for i in parsed.items)
    assert not any("feedproxy" in (i.link or "") for i in parsed.items)


def test_zero_item_feed_is_not_an_error() -> None:
    parsed = parse_feed((FEEDS / "dailymail-worldnews-2017.xml").read_bytes())
    assert parsed.items == ()
    assert parsed.kind == "rss20"


@pytest.mark.parametrize("body", [b"", b"   \n\t"])
def test_empty_body_is_an_error(body: bytes) -> None:
    with pytest.raises(EmptyFeedError):
        parse_feed(body)


def test_html_page_is_not_a_feed() -> None:
    page = DATA / "pages" / "guardian-environment-maori-whale-strandings-20190103.html"
    with pytest.raises(NotAFeedError, match="HTML page"):
        parse_feed(page.read_bytes(), {"content-type": "text/html"})


def test_news_sitemap_is_a_feed_kind() -> None:
    body = (DATA / "handmade" / "reuters-news-sitemap-handmade.xml").read_bytes()
    parsed = parse_feed(body, {"content-type": "application/xml"})
    assert parsed.kind == "sitemap"
    assert [i.title for i in parsed.items][:1] == [
        "Europe races to firm up Ukraine security guarantees as Trump backs troop plan"
    ]
    assert all(i.link and i.link.startswith("https://www.reuters.com/") for i in parsed.items)
    assert parsed.items[0].published is not None


def test_sitemap_with_entities_is_not_expanded() -> None:
    body = (DATA / "handmade" / "reuters-news-sitemap-handmade.xml").read_bytes()
    hostile = body.replace(
        b"<urlset", b'<!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<urlset', 1
    ).replace(b"Europe races", b"&x; Europe races", 1)
    try:
        parsed = parse_feed(hostile)
    except ParseError:
        return
    assert all("root:" not in i.title for i in parsed.items)


def test_discover_reads_alternate_links() -> None:
    html = b"""<html><head>
      <link rel="alternate" type="application/rss+xml" title="World" href="/world/rss">
      <link rel="alternate" type="application/atom+xml" href="https://x.example/atom.xml">
      <link rel="stylesheet" href="/style.css">
    </head></html>"""
    assert discover_feed_links(html, "https://news.example/") == [
        ("https://news.example/world/rss", "World"),
        ("https://x.example/atom.xml", ""),
    ]
