"""Normalise what feeds give: HTML → plain text and safe HTML, URLs → canonical form.

Pure functions; no I/O.
"""

from __future__ import annotations

import re
import warnings
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ftfy
import nh3
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

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

_SPACE = re.compile(r"\s+")
#: repair mojibake (UTF-8 read as Latin-1, as some feeds are double-encoded) and nothing else
_FTFY = ftfy.TextFixerConfig(
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    normalization="NFC",
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed (nbsp and zero-width spaces too)."""
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return normalise_space(html)
    with warnings.catch_warnings():
        # a summary that looks like a file name or URL is still just text
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "svg", "math"]):
        tag.decompose()
    return normalise_space(soup.get_text(" "))


def repair_text(text: str) -> str:
    """Undo mojibake and drop zero-width characters; markup is left as it is."""
    return ftfy.fix_text(text.translate(_INVISIBLE), _FTFY)


def normalise_space(text: str) -> str:
    text = repair_text(text)
    text = _SPACE.sub(" ", text).strip()
    # get_text(" ") leaves a space before punctuation that followed an inline tag
    return re.sub(r" ([,.;:!?)])", r"\1", text)


def safe_html(html: str) -> str:
    """A sanitised copy of summary HTML: a small allow-list, http(s) links only, no scripts."""
    if not html:
        return ""
    return nh3.clean(
        repair_text(html),
        tags=SAFE_TAGS,
        attributes=SAFE_ATTRIBUTES,
        url_schemes=SAFE_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        clean_content_tags={"script", "style"},
    ).strip()


def canonical_url(url: str | None) -> str | None:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters.

    Links from news-search services are unwrapped to the publisher URL they carry, so the same
    story found by search and by the outlet's own feed has one canonical URL. Returns None for
    anything that is not an absolute http(s) URL.
    """
    if not url:
        return None
    url = unwrap_search_link(url.strip())
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in SAFE_SCHEMES or not host:
        return None
    default_port = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not TRACKING_PARAMS.match(k)
        ],
        doseq=True,
    )
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
