"""Dedup keys and content signatures (pure).

An item is known by up to three keys, strongest first: its guid, its canonical URL, and a hash of
its title and summary. The store keeps every key it has seen for an item, so an item that arrives
through a second feed with another guid but the same URL is still recognised.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace

from ..models import CleanItem
from .clean import canonical_url

_WORD = re.compile(r"\w+", re.UNICODE)


def content_hash(title: str, summary: str) -> str:
    """Hash of the words of title and summary: insensitive to markup, case and spacing."""
    words = " ".join(_WORD.findall(f"{title} {summary}".casefold()))
    return hashlib.sha256(words.encode("utf-8")).hexdigest()[:32]


def identity_keys(
    guid: str | None,
    canonical: str | None,
    title: str,
    summary: str,
    outlet_id: int,
    link: str | None = None,
) -> tuple[str, ...]:
    """Keys in priority order; the first that the store already knows identifies the item.

    A guid that is itself a URL is compared as a URL, so a permalink guid and the same link in
    another feed meet. Other guids are only unique within a publisher, so they are scoped to the
    outlet by its id: a name can change, and a renamed outlet's items must keep their keys. The
    content hash is a key only when there is neither guid nor link: two different articles may
    share a title ("Live: Ukraine war"), but a link-less item has nothing better.
    """
    keys: list[str] = []
    guid = (guid or "").strip()
    if guid and guid == (link or "").strip():
        guid_url = canonical  # a permalink guid: the link, made canonical already
    else:
        guid_url = canonical_url(guid) if re.match(r"^https?://", guid, re.I) else None
    if guid_url:
        keys.append(f"url:{guid_url}")
    elif guid:
        keys.append(f"{guid_scope(outlet_id)}{guid}")
    if canonical and f"url:{canonical}" not in keys:
        keys.append(f"url:{canonical}")
    if not keys:
        keys.append(f"hash:{content_hash(title, summary)}")
    return tuple(keys)


def guid_scope(outlet_id: int) -> str:
    """The prefix of an outlet's guid keys."""
    return f"guid:{outlet_id}:"


def unshare_keys(items: Sequence[CleanItem]) -> list[CleanItem]:
    """Drop the keys that items of one poll share while saying different things.

    A feed that gives every item the same guid would otherwise fold them all into one stored
    item, rewritten (and versioned) once per item at every poll; a live blog whose entries have
    their own guids but one link would fold the same way. Such a key identifies nothing, so the
    items keep their other keys; an item left with none (one link, no guid: a live page listed
    with several headlines) is known by its words, as an item with neither guid nor link is.
    """
    said: dict[str, set[str]] = {}
    for item in items:
        for key in item.keys:
            said.setdefault(key, set()).add(item.content_hash)
    shared = {key for key, hashes in said.items() if len(hashes) > 1}
    if not shared:
        return list(items)
    kept = [
        tuple(k for k in item.keys if k not in shared) or (f"hash:{item.content_hash}",)
        for item in items
    ]
    return [
        replace(item, keys=keys) if keys != item.keys else item
        for item, keys in zip(items, kept, strict=True)
    ]
