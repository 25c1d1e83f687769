"""Feed bytes + response headers → ``ParsedFeed``. Never fetches anything itself.

RSS 0.9x/1.0/2.0, RDF and Atom go through feedparser (given bytes, so it cannot reach the network);
news sitemaps (``<urlset>`` with ``news:`` elements, Reuters' only public listing) through lxml with
entity resolution and network access switched off.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from bs4 import BeautifulSoup
from lxml import etree

from .clean import html_to_text
from .errors import EmptyFeedError, NotAFeedError, ParseError
from .models import ParsedFeed, ParsedItem

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
_SITEMAP_SNIFF = re.compile(rb"<(?:\w+:)?urlset[\s>]")


def parse_feed(
    content: bytes, headers: Mapping[str, str] | None = None, url: str = ""
) -> ParsedFeed:
    if not content.strip():
        raise EmptyFeedError("empty response body")
    if _SITEMAP_SNIFF.search(content[:4096]):
        return parse_sitemap(content)
    return _parse_syndication(content, dict(headers or {}), url)


def _parse_syndication(content: bytes, headers: dict[str, str], url: str) -> ParsedFeed:
    # feedparser treats a str as a URL or path; bytes are only ever parsed
    # No Content-Location: feedparser would join every URI of the document to it (a quarter of
    # its time); the few relative item links are resolved below instead.
    headers = {k.lower(): v for k, v in headers.items() if k.lower() != "content-location"}
    content_type = headers.get("content-type", "")
    if content_type.lower().startswith("text/") and "charset" not in content_type.lower():
        # RFC 7303: without a charset parameter the document's own declaration (or BOM) decides.
        # feedparser follows the older RFC 3023 (us-ascii) and would garble UTF-8 feeds.
        headers["content-type"] = "application/xml"
    # nh3 sanitises later and relative links are rare: feedparser's own passes are skipped
    parsed = feedparser.parse(
        content, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    if not parsed.version and not parsed.entries:
        raise NotAFeedError(_not_a_feed_message(content, parsed))
    items = tuple(item for e in parsed.entries if (item := _entry(e, url)) is not None)
    warning = None
    # a missing or odd Content-Type says nothing about the document itself
    if parsed.bozo and not isinstance(parsed.get("bozo_exception"), feedparser.NonXMLContentType):
        warning = f"malformed feed, items recovered: {parsed.get('bozo_exception')}"
    return ParsedFeed(
        kind=parsed.version or "unknown",
        title=html_to_text(parsed.feed.get("title", "")),
        items=items,
        ttl_minutes=_int(parsed.feed.get("ttl")),
        warning=warning,
    )


def _entry(e: Any, base_url: str) -> ParsedItem | None:
    link = (e.get("feedburner_origlink") or e.get("link") or "").strip() or None
    if link and base_url and not link.lower().startswith(("http://", "https://")):
        link = urljoin(base_url, link)
    summary = e.get("summary") or ""
    if not summary and e.get("content"):
        summary = e["content"][0].get("value", "")
    title = html_to_text(e.get("title", ""))
    if not (title or summary or link):
        return None
    return ParsedItem(
        guid=(e.get("id") or "").strip() or None,
        link=link,
        title=title,
        summary_html=summary,
        author=html_to_text(e.get("author", "")) or None,
        published=_struct_time(e.get("published_parsed")),
        # plain dict.get: FeedParserDict maps a missing updated_parsed to published_parsed, warning
        updated=_struct_time(dict.get(e, "updated_parsed")),
    )


def _not_a_feed_message(content: bytes, parsed: Any) -> str:
    head = content[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        title = re.search(rb"<title[^>]*>(.*?)</title>", content[:65536], re.I | re.S)
        name = html_to_text(title.group(1).decode("utf-8", "replace"))[:80] if title else ""
        return "got an HTML page, not a feed" + (f" (title: {name!r})" if name else "")
    reason = parsed.get("bozo_exception")
    return f"not a feed: {reason}" if reason else "not a feed: no RSS, Atom or sitemap found"


def parse_sitemap(content: bytes) -> ParsedFeed:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"malformed sitemap: {exc}") from None
    if etree.QName(root).localname != "urlset":
        raise NotAFeedError("not a sitemap: root element is not <urlset>")
    items = []
    for url in root.iter(f"{{{SITEMAP_NS}}}url"):
        loc = _text(url, f"{{{SITEMAP_NS}}}loc")
        if not loc:
            continue
        title = _text(url, f".//{{{NEWS_NS}}}title")
        published = _iso(_text(url, f".//{{{NEWS_NS}}}publication_date"))
        keywords = _text(url, f".//{{{NEWS_NS}}}keywords")
        items.append(
            ParsedItem(
                guid=None,
                link=loc,
                title=html_to_text(title) or _title_from_url(loc),
                summary_html=keywords,
                published=published or _iso(_text(url, f"{{{SITEMAP_NS}}}lastmod")),
            )
        )
    return ParsedFeed(kind="sitemap", title="", items=tuple(items))


def _text(element: Any, path: str) -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""


def _title_from_url(url: str) -> str:
    slug = url.rstrip("/").rsplit("/", 1)[-1]
    slug = re.sub(r"-(id)?[A-Z0-9]{10,}$|\.\w+$", "", slug)
    return slug.replace("-", " ").strip().capitalize()


def _iso(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _struct_time(value: time.struct_time | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


_FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/xml",
    "text/xml",
}


def discover_feed_links(html: bytes, base_url: str) -> list[tuple[str, str]]:
    """(url, title) of the feeds a page announces with ``<link rel="alternate">``."""
    soup = BeautifulSoup(html, "lxml")
    found: dict[str, str] = {}
    for link in soup.find_all("link", href=True):
        rel = {r.lower() for r in (link.get("rel") or [])}
        kind = str(link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" in rel and kind in _FEED_TYPES:
            found.setdefault(urljoin(base_url, str(link["href"])), str(link.get("title") or ""))
    return list(found.items())
