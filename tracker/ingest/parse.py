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

from ..errors import EmptyFeedError, NotAFeedError, ParseError
from ..models import ParsedFeed, ParsedItem, parse_iso
from .clean import html_to_text

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
_SITEMAP_SNIFF = re.compile(rb"<(?:\w+:)?urlset[\s>]")
#: an entity declared as one character reference (``&#160;``) cannot amplify anything
_HARMLESS_ENTITY = re.compile(rb"""<!ENTITY\s+[\w.:-]+\s+(?:"&#\w+;"|'&#\w+;')\s*>""")
#: "<?xm" in EBCDIC, which feedparser also decodes
_EBCDIC_XML = b"\x4c\x6f\xa7\x94"
#: a run of numeric character references, and one that may be a surrogate or out of range
_CHAR_REFS = re.compile(rb"(?:&#(?:[xX][0-9a-fA-F]+|[0-9]+);)+")
_ODD_CHAR_REF = re.compile(
    rb"&#(?:[xX]0*(?:[dD][89a-fA-F][0-9a-fA-F]{2}|1[1-9a-fA-F][0-9a-fA-F]{4}|[0-9a-fA-F]{7,})"
    rb"|0*(?:5[5-7][0-9]{3}|[0-9]{7,}));"
)
#: expat's messages for a document that stops before its end (a cut connection, a short body)
_TRUNCATED = ("no element found", "unclosed token", "unclosed CDATA section", "partial character")
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")
#: a <ttl> beyond a year is nonsense (and may not fit in an SQLite integer)
_MAX_TTL_MINUTES = 366 * 24 * 60
#: items read from one document: news feeds list tens to hundreds, news sitemaps up to 1,000.
#: 10 MB of bare <item>s would be 300,000 entries: 700 MB parsed, 60 s in one transaction.
MAX_ITEMS = 10_000


def parse_feed(
    content: bytes, headers: Mapping[str, str] | None = None, url: str = ""
) -> ParsedFeed:
    if not content.strip():
        raise EmptyFeedError("empty response body")
    refuse_entity_declarations(content)
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
    head = _first_items(content)
    # nh3 sanitises later and relative links are rare: feedparser's own passes are skipped
    parsed = feedparser.parse(
        repair_char_refs(head),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    if not parsed.version and not parsed.entries:
        raise NotAFeedError(_not_a_feed_message(content, parsed))
    entries, dropped = _finished_entries(head, parsed)
    items = tuple(
        item
        for position, e in enumerate(entries[:MAX_ITEMS])
        if (item := _entry(e, url, position)) is not None
    )
    warning = None
    reason = parsed.get("bozo_exception")
    # a missing or odd Content-Type says nothing about the document itself, nor does our own cut
    ours = head is not content and _truncated(reason)
    if parsed.bozo and not isinstance(reason, feedparser.NonXMLContentType) and not ours:
        warning = f"malformed feed, items recovered: {reason}"
    if dropped:
        warning = f"{warning}; the document is cut short: its unfinished last item was dropped"
    if head is not content or len(entries) > MAX_ITEMS:
        warning = _too_many(warning)
    ttl = _int(parsed.feed.get("ttl"))
    return ParsedFeed(
        kind=parsed.version or "unknown",
        title=html_to_text(parsed.feed.get("title", "")),
        items=items,
        ttl_minutes=ttl if ttl is not None and 0 <= ttl <= _MAX_TTL_MINUTES else None,
        warning=warning,
    )


def refuse_entity_declarations(content: bytes) -> None:
    """Refuse a document that declares XML entities (other than single character references).

    Entity declarations are how billion-laughs and quadratic blow-up attacks (and XXE) work;
    news feeds do not use them. feedparser re-declares "safe" entities for its fallback parser,
    which expands each reference without limit: 600 KB could grow to 600 MB. The whole document
    is searched, not just its prolog: a comment can hide where the prolog ends.
    """
    view = _ascii_view(content)
    declared = view.count(b"<!ENTITY")
    if declared and declared > len(_HARMLESS_ENTITY.findall(view)):
        raise ParseError(
            "the document declares XML entities (<!ENTITY …>): refused, as entity expansion "
            "(billion laughs) and external entities (XXE) are attacks and feeds need neither"
        )


def _ascii_view(content: bytes) -> bytes:
    """The document with its ASCII characters as ASCII bytes, whatever its encoding."""
    if content.startswith(_EBCDIC_XML):
        return content.decode("cp037", "replace").encode("ascii", "replace")
    if b"\0" in content[:4]:  # UTF-16 or UTF-32: NUL bytes between the ASCII characters
        return content.replace(b"\0", b"")
    return content


def repair_char_refs(content: bytes) -> bytes:
    """Join UTF-16 halves written as two references and replace impossible ones with U+FFFD.

    Some CMSs write an emoji as two references (``&#55357;&#56832;``), one per UTF-16 half;
    feedparser's fallback parser raises on such a half, or on a reference beyond U+10FFFF,
    instead of flagging the feed as malformed.
    """
    if not _ODD_CHAR_REF.search(content):
        return content
    return _CHAR_REFS.sub(_repair_ref_run, content)


def _repair_ref_run(match: re.Match[bytes]) -> bytes:
    values = [_ref_value(ref) for ref in match.group().split(b";")[:-1]]
    if all(v < 0xD800 or 0xDFFF < v <= 0x10FFFF for v in values):
        return match.group()
    units = "".join(chr(v) if v <= 0x10FFFF else "\ufffd" for v in values)
    text = units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return b"".join(b"&#x%X;" % ord(char) for char in text)


def _ref_value(ref: bytes) -> int:
    digits = ref[2:]  # after "&#"
    if len(digits.lstrip(b"xX0")) > 8:
        return 0x110000  # out of range, and too long to convert
    return int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)


def _finished_entries(content: bytes, parsed: Any) -> tuple[list[Any], int]:
    """The entries of a document cut short, without the last one if it never closed.

    The fallback parser returns the item that was being read when the document stopped, with
    whatever fields it had reached (a title without its link, say). Stored, it would be a
    separate item from the whole one seen at the next poll.
    """
    entries = list(parsed.entries)
    if not parsed.bozo or not _truncated(parsed.get("bozo_exception")):
        return entries, 0
    finished = len(_ENTRY_END.findall(_ascii_view(content)))
    if finished >= len(entries):
        return entries, 0
    return entries[:finished], len(entries) - finished


def _truncated(reason: Any) -> bool:
    return any(message in str(reason or "") for message in _TRUNCATED)


def _entry(e: Any, base_url: str, position: int) -> ParsedItem | None:
    link = (e.get("feedburner_origlink") or e.get("link") or "").strip() or None
    if link and base_url and not link.lower().startswith(("http://", "https://")):
        try:
            link = urljoin(base_url, link)
        except ValueError:  # e.g. "//[bad": not a URL; the item keeps its other keys
            link = None
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
        position=position,
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
        published = parse_iso(_text(url, f".//{{{NEWS_NS}}}publication_date"))
        keywords = _text(url, f".//{{{NEWS_NS}}}keywords")
        items.append(
            ParsedItem(
                guid=None,
                link=loc,
                title=html_to_text(title) or _title_from_url(loc),
                summary_html=keywords,
                published=published or parse_iso(_text(url, f"{{{SITEMAP_NS}}}lastmod")),
            )
        )
    warning = _too_many(None) if len(items) > MAX_ITEMS else None
    return ParsedFeed(kind="sitemap", title="", items=tuple(items[:MAX_ITEMS]), warning=warning)


def _first_items(content: bytes) -> bytes:
    """The document up to the end of its MAX_ITEMS-th item, so a huge one is never parsed whole.

    The cut document ends early, which the parser reports as a truncation (not a warning worth
    keeping); every item before the cut is whole.
    """
    cut = 0
    for count, end in enumerate(_ENTRY_END.finditer(content), start=1):
        if count == MAX_ITEMS:
            cut = end.end()
        elif count > MAX_ITEMS:
            return content[:cut]
    return content


def _too_many(warning: str | None) -> str:
    note = (
        f"the document lists more than {MAX_ITEMS:,} items: only the first {MAX_ITEMS:,} were read"
    )
    return f"{warning}; {note}" if warning else note


def _text(element: Any, path: str) -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""


def _title_from_url(url: str) -> str:
    slug = url.rstrip("/").rsplit("/", 1)[-1]
    slug = re.sub(r"-(id)?[A-Z0-9]{10,}$|\.\w+$", "", slug)
    return slug.replace("-", " ").strip().capitalize()


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
