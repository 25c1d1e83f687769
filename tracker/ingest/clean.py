"""Normalise what feeds give: HTML → plain text and safe HTML, URLs → canonical form.

Pure functions; no I/O.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ftfy
import nh3

from ..urls import normal_authority

#: tags kept in stored summary HTML; everything else is stripped, scripts and styles with content
SAFE_TAGS = {"a", "p", "br", "b", "strong", "i", "em", "ul", "ol", "li", "blockquote", "q", "cite"}
SAFE_ATTRIBUTES = {"a": {"href", "title"}}
SAFE_SCHEMES = {"http", "https"}

TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|ocid|cmpid|icid|ito|"
    r"at_medium|at_campaign|at_custom\d*|at_link_id|at_ptr_name|at_bbc_team|"
    r"ns_mchannel|ns_source|ns_campaign|ns_linkname|ns_fee|"
    r"taid|ref_src|smid|smtyp|rss|rssfeed|feedtype|yptr|cmp|src|xtor|xtref|_ga|igshid|spm)$",
    re.IGNORECASE,
)

#: news-search services whose item links are redirects carrying the publisher URL in a parameter
SEARCH_REDIRECTS = {
    "www.bing.com": ("url",),
    "bing.com": ("url",),
    "news.google.com": ("url",),
    "www.google.com": ("url", "q"),
}

_SEARCH_PREFIXES = tuple(
    f"{scheme}://{host}/" for scheme in ("http", "https") for host in SEARCH_REDIRECTS
)
_SPACE = re.compile(r"\s+")
#: repair mojibake (UTF-8 read as Latin-1, as some feeds are double-encoded) and nothing else
_FTFY = ftfy.TextFixerConfig(
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    normalization="NFC",
)
_INVISIBLE_TAGS = {"script", "style", "noscript", "template", "svg", "math", "title", "head"}
#: a UTF-8 lead byte read as Latin-1/cp1252 followed by a continuation byte read the same way
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4][\u00a0-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
    "\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
# C0 controls (NUL from "&#0;", escape sequences) and DEL are no text; tab and newlines are spaces
_INVISIBLE.update(dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F], None))
#: the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they
#: turn text shown after them around, so a title could read "…gnp.exe" for "exe.png…" in the
#: digest, a terminal or a spreadsheet. Right-to-left text needs none of them (its letters carry
#: their direction); the marks U+200E/U+200F, which cannot reorder anything, stay
BIDI_CONTROLS = "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_INVISIBLE.update(dict.fromkeys(map(ord, BIDI_CONTROLS), None))
#: any character repair_text drops: most text has none, and searching is cheaper than translating
_HAS_INVISIBLE = re.compile("[" + re.escape("".join(map(chr, _INVISIBLE))) + "]")
#: the space put before a tag, left before closing punctuation
_SPACE_BEFORE_CLOSING = re.compile(r" ([,.;:!?)])")
#: what a link never keeps: control characters (C0, DEL, C1; a line break inside a link is a
#: broken feed, not part of the address) and the bidirectional controls
_NOT_IN_LINK = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
#: what nh3 rewrites in text: markup, and the characters it escapes (< > & and no-break space)
_MARKUP = re.compile("[<>&\u00a0]")
#: what an HTML parser would read as the start of a tag
_TAG_START = re.compile(r"<[a-zA-Z/!?]")


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed (nbsp and zero-width spaces too).

    nh3 (a real HTML5 parser) drops every tag and the content of scripts and styles; a space is
    put before each tag first so that "<p>a</p><p>b</p>" reads "a b". For whole pages, where
    structure matters, the tracker uses BeautifulSoup instead (articles.py); here, per item, nh3
    is ten times faster.
    """
    if not html:
        return ""
    if "<" in html:
        html = _strip_tags(html)
    if "&" in html:
        html = unescape(html)
        if _TAG_START.search(html):
            # markup escaped twice ("&amp;lt;script&amp;gt;"): one unescape revealed tags, which
            # must not reach the stored plain text either
            html = unescape(_strip_tags(html))
    return normalise_space(html)


def _strip_tags(html: str) -> str:
    return nh3.clean(html.replace("<", " <"), tags=set(), clean_content_tags=_INVISIBLE_TAGS)


def repair_text(text: str) -> str:
    """Undo mojibake and drop zero-width characters; markup is left as it is."""
    if _HAS_INVISIBLE.search(text):
        text = text.translate(_INVISIBLE)
    # ftfy is only worth its cost when the text shows the signature of UTF-8 read as cp1252
    return ftfy.fix_text(text, _FTFY) if _MOJIBAKE.search(text) else text


def normalise_space(text: str) -> str:
    text = _SPACE.sub(" ", repair_text(text)).strip()
    # a space was put before every tag; take it back before closing punctuation
    return _SPACE_BEFORE_CLOSING.sub(r"\1", text)


def safe_html(html: str) -> str:
    """A sanitised copy of summary HTML: a small allow-list, http(s) links only, no scripts."""
    if not html:
        return ""
    if not _MARKUP.search(html):
        # plain text: nothing to sanitise; nh3 would only turn its line ends into "\n"
        return repair_text(html).replace("\r\n", "\n").replace("\r", "\n").strip()
    return nh3.clean(
        repair_text(html),
        tags=SAFE_TAGS,
        attributes=SAFE_ATTRIBUTES,
        url_schemes=SAFE_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        clean_content_tags={"script", "style"},
    ).strip()


def item_link(url: str | None) -> str | None:
    """An item's link as stored in ``items.url``: as the feed gave it (tracking parameters and
    all), less what must never be stored or shown: a user name and password, control and
    bidirectional control characters, surrounding spaces. None when nothing is left."""
    if not url:
        return None
    url = _NOT_IN_LINK.sub("", url).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url or None
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url or None


def canonical_url(url: str | None) -> str | None:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters, no
    user name or password, no control characters.

    Links from news-search services are unwrapped to the publisher URL they carry, so the same
    story found by search and by the outlet's own feed has one canonical URL. Returns None for
    anything that is not an absolute http(s) URL.
    """
    if not url:
        return None
    url = _NOT_IN_LINK.sub("", url).strip()
    if url[:32].lower().startswith(_SEARCH_PREFIXES):
        url = unwrap_search_link(url)
    try:
        parts = urlsplit(url)
        scheme, netloc = normal_authority(parts)
    except ValueError:
        return None
    if scheme not in SAFE_SCHEMES or not parts.hostname:
        return None
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not TRACKING_PARAMS.match(k)]
        # re-encoding changes escapes; only do it when a parameter was dropped
        query = query if len(kept) == len(pairs) else urlencode(kept, doseq=True)
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def unwrap_search_link(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    names = SEARCH_REDIRECTS.get((parts.hostname or "").lower())
    if not names:
        return url
    params = dict(parse_qsl(parts.query))
    for name in names:
        target = params.get(name, "")
        if target.lower().startswith(("http://", "https://")):
            return target
    return url


def host_of(url: str | None) -> str:
    """The registrable-looking host of a URL without a leading www., for outlet matching."""
    if not url:
        return ""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host.removeprefix("www.")


def host_matches(host: str, domain: str) -> bool:
    domain = domain.lower().removeprefix("www.")
    return host == domain or host.endswith("." + domain)
