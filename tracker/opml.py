"""OPML, the file feed readers exchange subscriptions in: read one, write the tracker's feeds.

Pure functions over bytes. A file to import is untrusted: lxml parses it with entity expansion,
DTD loading and network access off, so it cannot reach a file or a server or blow up in memory.

The tracker writes outlets as outlines holding their feeds::

    <outline text="DW" title="DW" htmlUrl="https://www.dw.com/en/">
      <outline type="rss" text="DW" title="DW – World" xmlUrl="https://rss.dw.com/…"/>
    </outline>

A feed's own ``text`` is its outlet's name, so feed readers show the outlet and the file reads
back into the same outlets. A news sitemap is written with ``type="sitemap"``: feed readers
cannot poll one and skip it; the tracker reads it back as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from lxml import etree

from .errors import OPMLError
from .urls import feed_url, redacted, url_problem


@dataclass(frozen=True)
class OPMLFeed:
    """An outline with an ``xmlUrl``: a feed, as the file gives it (nothing checked yet)."""

    url: str
    #: the outline's text (or title): the site's name in feed readers' files
    name: str
    kind: str = "auto"
    html_url: str = ""
    note: str = ""


@dataclass(frozen=True)
class ExportedFeed:
    url: str
    outlet: str
    kind: str = "auto"
    title: str = ""
    note: str = ""
    homepage: str = ""


def read_opml(data: bytes, source: str = "OPML file") -> list[OPMLFeed]:
    """Every feed outline of an OPML document, in document order, at any depth of groups.

    Raises OPMLError when the document is not XML, not OPML, or lists no feed at all."""
    # libxml2 expands internal entities in attribute values even with resolve_entities off
    # (up to its amplification limit): a document declaring any is refused outright
    if b"<!ENTITY" in data.replace(b"\0", b""):
        raise OPMLError(
            f"{source}: refused: it declares XML entities (<!ENTITY …>), which OPML files never "
            "need and entity attacks (billion laughs, external entities) are made of"
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise OPMLError(f"{source}: not an OPML file: not well-formed XML ({exc})") from None
    if root is None or _local(root) != "opml":
        found = _local(root) if root is not None else "nothing"
        raise OPMLError(f"{source}: not an OPML file: its root element is <{found}>, not <opml>")
    body = next((child for child in root if _local(child) == "body"), None)
    feeds = list(_feeds(body)) if body is not None else []
    if not feeds:
        raise OPMLError(f"{source}: no feeds in it (no <outline> with an xmlUrl)")
    return feeds


def _feeds(parent: etree._Element) -> Iterator[OPMLFeed]:
    for outline in parent:
        if _local(outline) != "outline":
            continue
        attributes = {str(k).lower(): str(v).strip() for k, v in outline.attrib.items()}
        url = attributes.get("xmlurl", "")
        if url:
            yield OPMLFeed(
                url=url,
                name=_one_line(attributes.get("text") or attributes.get("title") or ""),
                kind="sitemap" if attributes.get("type", "").lower() == "sitemap" else "auto",
                html_url=attributes.get("htmlurl", ""),
                note=_one_line(attributes.get("description", "")),
            )
        # groups (categories, folders, our outlets) hold feeds; a feed holding more is odd but
        # harmless, so its children are read as well
        yield from _feeds(outline)


def outlet_for(
    feed: OPMLFeed, domains: Sequence[tuple[str, Sequence[str]]], outlet: str | None = None
) -> str:
    """The outlet a feed of a file belongs to: ``outlet`` when given; else the stored outlet
    whose domains hold the feed's host (or its site's), so rss.dw.com joins DW; else the
    outline's name; else the site's host."""
    if outlet:
        return outlet
    hosts = [h for h in (_host(feed.url), _host(feed.html_url)) if h]
    for name, names in domains:
        for domain in names:
            if any(host == domain or host.endswith("." + domain) for host in hosts):
                return name
    if feed.name:
        return feed.name
    host = _host(feed.html_url) or _host(feed.url)
    return host.removeprefix("www.")


@dataclass(frozen=True)
class PlannedFeed:
    """What importing one feed of a file does: ``add``, ``exists`` (its outlet has it) or
    ``skip`` (with the reason)."""

    url: str
    outlet: str
    action: str
    kind: str = "auto"
    note: str = ""
    reason: str = ""
    #: the site the file names for it: the home page of an outlet the import creates
    homepage: str = ""


def plan_import(
    feeds: Iterable[OPMLFeed],
    stored: dict[str, str],
    domains: Sequence[tuple[str, Sequence[str]]],
    outlet: str | None = None,
) -> list[PlannedFeed]:
    """What importing ``feeds`` would do, given the stored feeds (URL → outlet name) and the
    stored outlets' domains; nothing is written. A feed listed twice counts once; a URL that
    is another outlet's feed, or no usable http(s) URL, is skipped with the reason."""
    planned: list[PlannedFeed] = []
    seen: set[str] = set()
    for feed in feeds:
        name = outlet_for(feed, domains, outlet)
        problem = url_problem(feed.url)
        if problem:
            planned.append(PlannedFeed(redacted(feed.url), name, "skip", reason=f"URL {problem}"))
            continue
        url = feed_url(feed.url)
        if url in seen:
            continue
        seen.add(url)
        owner = stored.get(url)
        if owner is None:
            homepage = feed.html_url if feed.html_url and not url_problem(feed.html_url) else ""
            planned.append(PlannedFeed(url, name, "add", feed.kind, feed.note, homepage=homepage))
        elif owner.casefold() == name.casefold():
            planned.append(PlannedFeed(url, owner, "exists", feed.kind))
        else:
            reason = f"already a feed of {owner}"
            planned.append(PlannedFeed(url, name, "skip", feed.kind, reason=reason))
    return planned


def write_opml(feeds: Iterable[ExportedFeed], *, title: str, created: datetime) -> bytes:
    """An OPML 2.0 document: one outline per outlet (in the order first met) with its feeds."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_text(title)
    etree.SubElement(head, "dateCreated").text = format_datetime(created, usegmt=True)
    body = etree.SubElement(root, "body")
    outlets: dict[str, etree._Element] = {}
    for feed in feeds:
        group = outlets.get(feed.outlet)
        if group is None:
            group = etree.SubElement(
                body,
                "outline",
                _attributes(text=feed.outlet, title=feed.outlet, htmlUrl=feed.homepage),
            )
            outlets[feed.outlet] = group
        etree.SubElement(
            group,
            "outline",
            _attributes(
                type="sitemap" if feed.kind == "sitemap" else "rss",
                text=feed.outlet,
                title=feed.title or feed.outlet,
                xmlUrl=feed.url,
                htmlUrl=feed.homepage,
                description=feed.note,
            ),
        )
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _attributes(**values: str) -> dict[str, str]:
    """Attributes with a value, as XML can hold them (no control characters)."""
    return {name: _xml_text(value) for name, value in values.items() if value}


#: characters XML 1.0 cannot hold at all (lxml refuses them)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""
