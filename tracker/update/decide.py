"""What one poll of a feed changes, decided from what was fetched and what is stored (pure).

The pipeline gathers the inputs (the fetch, the parsed and cleaned items with their relevance,
the stored facts about the items they name) and the store writes the result; everything in
between is here, with no I/O and the clock and random source passed in, as lemon24/reader's
update decider. The result is a set of *intents*:

* ``ItemIntents`` — items to insert, items to update (the old version kept), existing items to
  mark as seen by this feed, keys to add, raw item hashes the feed sent again byte for byte;
* ``FeedUpdate`` — the feed's whole state after the poll (validators, counters, next poll);
* ``FeedResult`` — the row of the fetch log.

Rules that keep data safe live here too: an item is updated only when the same feed changed what
it said about it (two feeds wording one item differently would otherwise take turns rewriting
it), and only by a feed of the item's own outlet (another outlet listing its link is a sighting,
not an edit); an item listed twice in one poll counts once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..config import PollingSettings
from ..errors import FeedError, HTTPStatusError
from ..models import (
    ChangedItem,
    CleanItem,
    FeedResult,
    FeedState,
    FeedUpdate,
    FetchedFeed,
    Incoming,
    ItemIntents,
    Known,
    Meta,
    NewItem,
    Seen,
    StoredItem,
)
from .policy import PollInputs, disable_decision, next_poll_at

#: weight of the latest poll in a feed's running average of new items per poll
RATE_SMOOTHING = 0.3


def decide_items(
    feed: FeedState, incoming: Sequence[Incoming], known: Known, resent: Sequence[str] = ()
) -> ItemIntents:
    """Which of the poll's items are new, changed or only seen again."""
    by_key: dict[str, int] = dict(known.by_key)
    #: keys of items new in this poll: their positions in ``new``, as negative ids (-1, -2, …)
    new: list[NewItem] = []
    changed: list[ChangedItem] = []
    seen: list[Seen] = []
    gained: list[tuple[str, int]] = []
    listed: set[int] = set()
    repeats = 0
    for entry in incoming:
        item_id = _match(entry.item, by_key, known, new)
        if item_id is not None and item_id in listed:
            # listed twice in one poll: the first listing counts, or the two would take turns
            # as the current version at every poll
            repeats += 1
            continue
        if item_id is None:
            keys = tuple(k for k in entry.item.keys if k not in by_key)
            new.append(NewItem(entry.item, entry.raw_hash, keys, entry.links))
            item_id = -len(new)
            by_key.update(dict.fromkeys(keys, item_id))
        else:
            stored = known.items[item_id]
            if _is_edit(feed, stored, entry.item):
                changed.append(ChangedItem(item_id, entry.item, entry.raw_hash, entry.links))
            else:
                seen.append(Seen(item_id, entry.item.content_hash, entry.raw_hash))
            for key in entry.item.keys:
                if key not in by_key:
                    by_key[key] = item_id
                    gained.append((key, item_id))
        listed.add(item_id)
    return ItemIntents(
        new=tuple(new),
        changed=tuple(changed),
        seen=tuple(seen),
        keys=tuple(gained),
        resent=tuple(dict.fromkeys(resent)),
        unchanged_listings=len(seen) + repeats + len(resent),
    )


def _match(
    item: CleanItem, by_key: Mapping[str, int], known: Known, new: Sequence[NewItem]
) -> int | None:
    """The stored (or, negative, new in this poll) item the strongest known key names.

    A match on a weaker key (the URL) is refused when the two carry different guids of one
    outlet: some feeds give every item the same link (a section front) but distinct guids.
    """
    for key in item.keys:
        if key not in by_key:
            continue
        item_id = by_key[key]
        if key == item.keys[0]:
            return item_id
        stored_keys = set(new[-item_id - 1].item.keys if item_id < 0 else known.items[item_id].keys)
        return item_id if item.is_same_as(key, stored_keys) else None
    return None


def _is_edit(feed: FeedState, stored: StoredItem, item: CleanItem) -> bool:
    """An update counts only when this feed, of the item's own outlet, changed what it said."""
    if stored.outlet_id != feed.outlet_id:
        return False
    if stored.said_before is None or stored.said_before == item.content_hash:
        return False
    return stored.content_hash != item.content_hash


# --- the feed's state ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Polled:
    """A poll's outcome as the decider needs it."""

    started_at: datetime
    duration_ms: int
    #: when the poll's results were known: first-seen time of its new items
    at: datetime


def decide_success(
    feed: FeedState,
    fetched: FetchedFeed,
    meta: Meta,
    items: ItemIntents,
    body_hash: str,
    linked: int,
    polled: Polled,
    settings: PollingSettings,
    rng: random.Random,
) -> tuple[FeedUpdate, FeedResult]:
    """A 200 whose body was read: new validators, counters reset, the rate of new items."""
    new, updated, seen = items.counts
    rate = (1 - RATE_SMOOTHING) * feed.new_items_rate + RATE_SMOOTHING * new
    ttl = meta.ttl_minutes if meta.kind is not None else feed.ttl_minutes
    when = next_poll_at(polled.at, PollInputs(fetched.headers, ttl, 0, rate), settings, rng)
    result = _result(
        feed,
        "ok",
        polled,
        http_status=fetched.status,
        bytes=len(fetched.content),
        items_new=new,
        items_updated=updated,
        items_seen=seen,
        items_linked=linked,
        error_message=meta.warning,
        next_poll_at=when,
    )
    update = _succeeded(feed, result, polled.at)
    update = replace(
        update,
        etag=fetched.headers.get("etag"),
        last_modified=fetched.headers.get("last-modified"),
        body_hash=body_hash,
        new_items_rate=rate,
        ttl_minutes=ttl,
        # what the envelope said, when it was parsed; otherwise what it said before
        title=(meta.title or None) if meta.kind is not None else feed.title,
        kind_detected=meta.kind if meta.kind is not None else feed.kind_detected,
    )
    return update, result


def decide_quiet(
    feed: FeedState,
    fetched: FetchedFeed,
    outcome: str,
    polled: Polled,
    settings: PollingSettings,
    rng: random.Random,
) -> tuple[FeedUpdate, FeedResult]:
    """A 304, or a 200 with the same bytes as last time: nothing to parse."""
    rate = feed.new_items_rate * (1 - RATE_SMOOTHING)
    inputs = PollInputs(fetched.headers, feed.ttl_minutes, 0, rate)
    result = _result(
        feed,
        outcome,
        polled,
        http_status=fetched.status,
        bytes=len(fetched.content),
        next_poll_at=next_poll_at(polled.at, inputs, settings, rng),
    )
    # a 304 may carry a fresh validator; the old one stays when it does not
    update = replace(
        _succeeded(feed, result, polled.at),
        etag=fetched.headers.get("etag") or feed.etag,
        last_modified=fetched.headers.get("last-modified") or feed.last_modified,
        new_items_rate=feed.new_items_rate,
    )
    return update, result


def decide_failure(
    feed: FeedState, error: FeedError, polled: Polled, settings: PollingSettings, rng: random.Random
) -> tuple[FeedUpdate, FeedResult]:
    """A failed poll: back off (or obey Retry-After), and disable a feed that keeps failing."""
    status = error.status if isinstance(error, HTTPStatusError) else None
    errors = feed.consecutive_errors + 1
    hard_errors = feed.consecutive_hard_errors + 1 if error.hard else 0
    headers = {"retry-after": error.retry_after or ""} if isinstance(error, HTTPStatusError) else {}
    when = next_poll_at(
        polled.at, PollInputs(headers=headers, consecutive_errors=errors), settings, rng
    )
    result = _result(
        feed,
        "error",
        polled,
        http_status=status,
        error_kind=error.kind,
        error_message=str(error),
        next_poll_at=when,
    )
    disable = disable_decision(status, error.hard, hard_errors, settings)
    update = replace(
        _state(feed),
        consecutive_errors=errors,
        consecutive_hard_errors=hard_errors,
        last_fetch_at=polled.at,
        last_result="error",
        last_error=f"{error.kind}: {error}",
        next_poll_at=when,
        enabled=feed.enabled and disable is None,
        disabled_reason=disable.reason if disable else feed.disabled_reason,
    )
    return update, result


def _state(feed: FeedState) -> FeedUpdate:
    """The feed's state as stored: the starting point every decision changes."""
    return FeedUpdate(
        feed_id=feed.id,
        etag=feed.etag,
        last_modified=feed.last_modified,
        body_hash=feed.body_hash,
        ttl_minutes=feed.ttl_minutes,
        title=feed.title,
        kind_detected=feed.kind_detected,
        new_items_rate=feed.new_items_rate,
        consecutive_errors=feed.consecutive_errors,
        consecutive_hard_errors=feed.consecutive_hard_errors,
        last_fetch_at=feed.last_fetch_at,
        last_success_at=feed.last_success_at,
        last_result=feed.last_result,
        last_error=feed.last_error,
        next_poll_at=feed.next_poll_at,
        enabled=feed.enabled,
        disabled_reason=feed.disabled_reason,
    )


def _succeeded(feed: FeedState, result: FeedResult, now: datetime) -> FeedUpdate:
    return replace(
        _state(feed),
        consecutive_errors=0,
        consecutive_hard_errors=0,
        last_fetch_at=now,
        last_success_at=now,
        last_result=result.result,
        last_error=result.error_message,
        next_poll_at=result.next_poll_at,
    )


def _result(feed: FeedState, outcome: str, polled: Polled, **fields: object) -> FeedResult:
    return FeedResult(
        feed_id=feed.id,
        outlet=feed.outlet,
        url=feed.url,
        result=outcome,
        started_at=polled.started_at,
        duration_ms=polled.duration_ms,
        **fields,  # type: ignore[arg-type]
    )
