"""A feed body → its raw items, each known by a hash of its bytes (pure; no fetching).

Most of what a news feed sends at each poll are items it sent before, byte for byte. Splitting
the body into its item elements with lxml (a C parser, many times faster than feedparser) lets the
pipeline recognise those by hash and hand feedparser only the envelope and the items it has not
seen: feedparser stays the parser of everything that is parsed, it just parses less.

Only well-formed RSS 0.9x/2.0, RSS 1.0 (RDF) and Atom bodies are split, and only when the split
cannot change what feedparser would read: no DTD (entity declarations would not survive), items
only where the format puts them, a charset the HTTP header and the document agree on, and no
more items than the parser reads. Anything else is parsed whole, as before.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from lxml import etree

from .parse import MAX_ITEMS

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF"
ATOM = "{http://www.w3.org/2005/Atom}"
ATOM_03 = "{http://purl.org/atom/ns#}"
RSS_10_ITEMS = ("{http://purl.org/rss/1.0/}item", "{http://my.netscape.com/rdf/simple/0.9/}item")

#: the header a split document is parsed with: it is re-encoded as UTF-8 and says so itself
SPLIT_HEADERS = {"content-type": "application/xml"}


class SplitFeed:
    """A well-formed feed body as a tree, its item elements and their hashes, in document order.

    ``without`` rewrites the tree in place, so it is called at most once, by the poll that split
    the body.
    """

    def __init__(self, root: Any, items: list[Any]) -> None:
        self._root = root
        self._items = items
        self.hashes = tuple(
            hashlib.blake2b(etree.tostring(item, with_tail=False), digest_size=16).hexdigest()
            for item in items
        )

    def without(self, sent: Collection[str]) -> tuple[bytes, tuple[str, ...]]:
        """The document with only the items whose hash is not in ``sent`` (each hash once), and
        the hashes of the items it keeps, in document order."""
        kept: list[str] = []
        for item, digest in zip(self._items, self.hashes, strict=True):
            if digest in sent or digest in kept:
                item.getparent().remove(item)
            else:
                kept.append(digest)
        body = etree.tostring(self._root.getroottree(), xml_declaration=True, encoding="utf-8")
        return body, tuple(kept)


def split_feed(content: bytes, headers: Mapping[str, str]) -> SplitFeed | None:
    """The body's items with their hashes, or None when it must be parsed whole."""
    head = content[:4096]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in content:
        return None
    try:
        root = etree.fromstring(content, parser=_parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    items = _items(root)
    if items is None or len(items) > MAX_ITEMS or not _same_charset(root, headers):
        return None
    return SplitFeed(root, items)


def _parser() -> etree.XMLParser:
    """No entities resolved, nothing fetched, CDATA kept as it was (the split document must
    read as the body did)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=False,
        strip_cdata=False,
        remove_blank_text=False,
    )


def _items(root: Any) -> list[Any] | None:
    """The item elements where the format puts them; None for another format, or when items
    also stand elsewhere (feedparser would read those as entries too)."""
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag == "rss":
        channel = root.find("channel")
        if channel is None:
            return None
        items = channel.findall("item")
        anywhere = sum(1 for _ in root.iter("item"))
    elif tag == RDF:
        items = [child for child in root if child.tag in RSS_10_ITEMS]
        anywhere = sum(1 for _ in root.iter(*RSS_10_ITEMS))
    elif tag in (f"{ATOM}feed", f"{ATOM_03}feed"):
        entry = tag.removesuffix("feed") + "entry"
        items = root.findall(entry)
        anywhere = sum(1 for _ in root.iter(entry))
    else:
        return None
    return items if anywhere == len(items) else None


def _same_charset(root: Any, headers: Mapping[str, str]) -> bool:
    """feedparser lets an HTTP charset override the document's own; lxml read the document's.
    Both must agree, or the split document would read differently from the body."""
    content_type = headers.get("content-type", "")
    declared = (root.getroottree().docinfo.encoding or "utf-8").lower()
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
            return _codec(charset) == _codec(declared)
    return True


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name
