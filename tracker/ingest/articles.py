"""Read an original article (plain text or an HTML page) and extract what tracking needs.

Pure: bytes in, ``ArticleDraft`` out. The title, a published date when the source gives one, the
canonical URL and outbound links (HTML), the outlets the article cites (by name, alias or linked
domain, matched against the configured outlets) and its key terms.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

from bs4 import BeautifulSoup

from ..errors import ArticleError
from ..models import Outlet, parse_iso
from .clean import canonical_url, host_matches, host_of, normalise_space

_DATE_META = (
    ("property", "article:published_time"),
    ("property", "og:published_time"),
    ("name", "article:published_time"),
    ("itemprop", "datePublished"),
    ("name", "date"),
    ("name", "dc.date"),
    ("name", "DC.date.issued"),
    ("name", "pubdate"),
    ("name", "publish-date"),
    ("name", "ptime"),
)
_TEXT_DATE = re.compile(
    r"\b(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?)\b"
)


@dataclass(frozen=True)
class ArticleDraft:
    title: str
    text: str
    url: str | None = None
    published_at: datetime | None = None
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Citation:
    outlet: str
    evidence: str


#: byte-order marks, UTF-32 first: its little-endian mark starts with UTF-16's
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: C0 controls other than tab, line breaks and form feed, and DEL: no text file holds them
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


def read_article(data: bytes, *, content_type: str = "", location: str = "") -> ArticleDraft:
    where = location or "article"
    text = _decode(data, where)
    if not text.strip():
        raise ArticleError(f"{where}: the article is empty")
    looks_html = "html" in content_type.lower() or re.match(
        r"\s*(<!doctype html|<html)", text, re.I
    )
    draft = _from_html(text, location) if looks_html else _from_text(text)
    if not draft.title:
        raise ArticleError(f"{where}: no title found")
    if not re.search(r"[^\W\d_]", draft.text):
        raise ArticleError(f"{where}: no text found to track the article by")
    return draft


def _decode(data: bytes, where: str) -> str:
    """The text of a file, or ArticleError: a binary file must not become a garbage title."""
    marked = [encoding for bom, encoding in _BOMS if data.startswith(bom)]
    for encoding in marked[:1] or ["utf-8", "cp1252"]:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # NUL is in every binary format and in UTF-16 without a mark; other controls are noise
        # a stray one may be, many are not
        if "\x00" not in text and len(_CONTROL.findall(text)) <= len(text) // 100:
            return text
        break
    raise ArticleError(
        f"{where}: not a text or HTML file (expected UTF-8, Windows-1252, or UTF-16 with a "
        "byte-order mark)"
    )


def _from_text(text: str) -> ArticleDraft:
    lines = [normalise_space(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    title = lines[0] if lines else ""
    match = _TEXT_DATE.search("\n".join(lines[:10]))
    return ArticleDraft(title=title, text="\n".join(lines), published_at=_date(match and match[1]))


def _from_html(html: str, location: str) -> ArticleDraft:
    soup = BeautifulSoup(html, "lxml")
    base = _meta(soup, ("property", "og:url")) or location
    canonical = soup.find("link", rel="canonical")
    href = canonical.get("href") if canonical else None
    # an attribute may hold several values (a list); a canonical link has one
    url = canonical_url(urljoin(base, str(href))) if href else canonical_url(base)
    title = (
        _meta(soup, ("property", "og:title"))
        or _meta(soup, ("name", "twitter:title"))
        or (soup.title.get_text() if soup.title else "")
        or (soup.h1.get_text() if soup.h1 else "")
    )
    links = tuple(
        dict.fromkeys(
            link
            for a in soup.find_all("a", href=True)
            if (link := canonical_url(urljoin(url or base, str(a["href"]))))
        )
    )
    published = _date(_published(soup))
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header", "aside", "form"]):
        tag.decompose()
    body = soup.find("article") or soup.find("main") or soup.body or soup
    paragraphs = [normalise_space(p.get_text(" ")) for p in body.find_all("p")]
    text = "\n".join(p for p in paragraphs if len(p) > 40) or normalise_space(body.get_text(" "))
    return ArticleDraft(
        title=normalise_space(title), text=text, url=url, published_at=published, links=links
    )


def _meta(soup: BeautifulSoup, attr: tuple[str, str]) -> str:
    tag = soup.find("meta", attrs={attr[0]: attr[1]})
    return str(tag.get("content") or "").strip() if tag else ""


def _published(soup: BeautifulSoup) -> str:
    for attr in _DATE_META:
        if value := _meta(soup, attr):
            return value
    for script in soup.find_all("script", type="application/ld+json"):
        found = _json_ld_date(script.string or "")
        if found:
            return found
    time_tag = soup.find("time", datetime=True)
    return str(time_tag["datetime"]) if time_tag else ""


def _json_ld_date(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            published = node.get("datePublished")
            if isinstance(published, str):
                return published
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return ""


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    value = value.strip().replace(" ", "T", 1)
    return parse_iso(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value))


def cited_outlets(draft: ArticleDraft, outlets: Iterable[Outlet]) -> list[Citation]:
    """Configured outlets the article names (name or alias, whole words) or links to."""
    found = []
    for outlet in outlets:
        evidence = _named(draft.text, outlet) or _linked(draft.links, outlet.domains)
        if evidence:
            found.append(Citation(outlet.name, evidence))
    return found


def _named(text: str, outlet: Outlet) -> str:
    names = sorted({outlet.name, *outlet.aliases}, key=len, reverse=True)
    for name in names:
        # "The Guardian’s reporting", "Bloomberg.com’s coverage": a name, perhaps with its web
        # suffix, that ends at a non-word character
        pattern = rf"(?<![\w.]){re.escape(name)}(?:\.(?:com|co\.uk|de|fr|net|org))?(?![\w]|\.\w)"
        if re.search(pattern, text, re.I):
            return f'named "{name}"'
    return ""


def _linked(links: Sequence[str], domains: Sequence[str]) -> str:
    for link in links:
        host = host_of(link)
        for domain in domains:
            if host_matches(host, domain):
                return f"links to {domain}"
    return ""
