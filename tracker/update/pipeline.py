"""The polling flow, top to bottom: fetch → parse → normalise → dedup/store → score → link,
then, once per cycle that stored new items, story clustering (``cluster_new_items``, called by
``Tracker.after_cycle`` for ``tracker poll`` and for the service's cycles alike).

Network I/O happens outside any database transaction; everything one poll of a feed writes (items,
sightings, versions, links, the fetch record and the feed's new state) is one transaction, so an
interrupted poll leaves no trace but the previous state. A feed's failure is recorded against it
and never stops the cycle.
"""

from __future__ import annotations

import hashlib
import random
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from ..config import Config
from ..errors import FeedError, HTTPStatusError, InternalError, StorageError
from ..ingest.fetch import safe_get
from ..ingest.hosts import HostGate
from ..ingest.identity import unshare_keys
from ..ingest.normalise import normalise_item
from ..ingest.parse import parse_feed
from ..models import (
    CleanItem,
    Clock,
    CycleSummary,
    FeedResult,
    FeedState,
    FetchedFeed,
    ParsedFeed,
)
from ..score import cluster
from ..score.relevance import ArticleModel, ArticleProfile, Doc, score_doc
from ..storage import Store, StoredArticle, to_db
from .policy import PollInputs, disable_decision, next_poll_at

#: how far back term weights for story clustering are learned
IDF_PERIOD = timedelta(days=7)
#: weight of the latest poll in a feed's running average of new items per poll
RATE_SMOOTHING = 0.3


@dataclass(frozen=True)
class Seen:
    """What one poll of a feed brought, ready to store."""

    fetched: FetchedFeed
    parsed: ParsedFeed
    items: Sequence[CleanItem]
    body_hash: str
    #: when it was read: the items' first-seen time
    at: datetime


@dataclass
class Context:
    """Everything a cycle needs, passed in (no globals): config, store, HTTP client, clock."""

    config: Config
    store: Store
    client: httpx.Client
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    hosts: HostGate | None = None

    def __post_init__(self) -> None:
        if self.hosts is None:
            fetch = self.config.fetch
            self.hosts = HostGate(fetch.per_host_concurrency, fetch.per_host_gap)

    def profiles(self) -> list[ArticleProfile]:
        return article_profiles(self.config, self.store.articles())


def article_profiles(config: Config, articles: Sequence[StoredArticle]) -> list[ArticleProfile]:
    """Stored articles with their thresholds: per-article values from config, else the defaults."""
    profiles = []
    for article in articles:
        source = config.article_source(article.location)
        threshold = source.threshold if source and source.threshold is not None else None
        story = source.story_threshold if source and source.story_threshold is not None else None
        profiles.append(
            ArticleProfile(
                id=article.id,
                model=ArticleModel.from_json(article.model),
                threshold=config.relevance.threshold if threshold is None else threshold,
                story_threshold=config.relevance.story_threshold if story is None else story,
                exclude_terms=source.exclude_terms if source else (),
            )
        )
    return profiles


def run_cycle(
    ctx: Context,
    feeds: Sequence[FeedState] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CycleSummary:
    """Poll every due feed once (or the given feeds), through a bounded pool of workers.

    Workers overlap one feed's network wait with another's parsing; the per-host gate keeps
    each outlet's server to a few requests at a time, and each store transaction is short.
    ``progress(done, total)`` is called from this thread as each feed finishes.
    """
    started, cycle_start = time.monotonic(), ctx.clock()
    due = ctx.store.due_feeds(cycle_start) if feeds is None else feeds
    profiles = ctx.profiles()
    with ThreadPoolExecutor(max_workers=ctx.config.polling.workers) as pool:
        futures = [pool.submit(poll_feed, ctx, feed, profiles) for feed in due]
        try:
            if progress:
                progress(0, len(futures))
                for done, _ in enumerate(as_completed(futures), start=1):
                    progress(done, len(futures))
            results = tuple(f.result() for f in futures)
        except BaseException:
            # a storage error (disk full, database gone) ends the cycle: feeds not started stay
            for future in futures:
                future.cancel()
            raise
    return CycleSummary(results, int((time.monotonic() - started) * 1000))


def cluster_new_items(store: Store, since: datetime, params: cluster.Params | None = None) -> int:
    """Join the items first seen since ``since`` to earlier stories about the same event.

    Term weights come from the last week of items; stories are those begun within the window
    before the new items. Returns how many items joined an existing story.
    """
    members = [
        cluster.Member(
            r["id"],
            r["story_id"],
            r["outlet_id"],
            cluster.terms(r["title"], r["summary"] or ""),
            datetime.fromisoformat(r["first_seen_at"]),
            datetime.fromisoformat(r["happened_at"]),
        )
        for r in store.items_for_clustering(since - IDF_PERIOD)
    ]
    # times are stored to the second: an item stored in this cycle's first second is new
    moves = cluster.assign(members, since.replace(microsecond=0), params)
    store.move_to_story(moves)
    return len(moves)


def poll_feed(ctx: Context, feed: FeedState, profiles: Sequence[ArticleProfile]) -> FeedResult:
    started_at, t0 = ctx.clock(), time.monotonic()
    try:
        return _poll(ctx, feed, profiles, started_at, t0)
    except StorageError:
        raise
    except Exception as exc:  # a bug met on this feed's data must not stop the other feeds
        return _record_failure(ctx, feed, _internal_error(exc), started_at, t0)


def _poll(
    ctx: Context,
    feed: FeedState,
    profiles: Sequence[ArticleProfile],
    started_at: datetime,
    t0: float,
) -> FeedResult:
    try:
        with ctx.hosts.slot(feed.url):
            fetched = safe_get(
                ctx.client,
                feed.url,
                ctx.config.fetch,
                etag=feed.etag,
                last_modified=feed.last_modified,
            )
        if fetched.not_modified:
            return _record_quiet(ctx, feed, fetched, "not-modified", started_at, t0)
        body_hash = hashlib.sha256(fetched.content).hexdigest()
        if body_hash == feed.body_hash:
            # a server without conditional GET sent the same bytes: nothing to parse
            return _record_quiet(ctx, feed, fetched, "unchanged", started_at, t0)
        parsed = parse_feed(fetched.content, fetched.headers, fetched.url)
        now = ctx.clock()
        items = unshare_keys([normalise_item(p, feed.outlet, now) for p in parsed.items])
    except FeedError as error:
        return _record_failure(ctx, feed, error, started_at, t0)
    seen = Seen(fetched, parsed, items, body_hash, now)
    return _record_items(ctx, feed, profiles, seen, started_at, t0)


def _record_items(
    ctx: Context,
    feed: FeedState,
    profiles: Sequence[ArticleProfile],
    seen: Seen,
    started_at: datetime,
    t0: float,
) -> FeedResult:
    """Store a poll's items, link the new and changed ones, and log it: one transaction."""
    fetched, parsed, now = seen.fetched, seen.parsed, seen.at
    with ctx.store.transaction():
        outcomes = ctx.store.upsert_items(feed, seen.items, now)
        changed = [
            (o.item_id, o.item.title, o.item.summary) for o in outcomes if o.status != "seen"
        ]
        linked = link_relevant(ctx.store, profiles, changed, now)
        new = sum(o.status == "new" for o in outcomes)
        rate = (1 - RATE_SMOOTHING) * feed.new_items_rate + RATE_SMOOTHING * new
        result = _result(
            feed,
            "ok",
            started_at,
            t0,
            http_status=fetched.status,
            bytes=len(fetched.content),
            items_new=new,
            items_updated=sum(o.status == "updated" for o in outcomes),
            items_seen=sum(o.status == "seen" for o in outcomes),
            items_linked=sum(o.status == "new" and o.item_id in linked for o in outcomes),
            error_message=parsed.warning,
            next_poll_at=_next(ctx, now, fetched, parsed.ttl_minutes, 0, rate),
        )
        ctx.store.record_fetch(result)
        ctx.store.update_feed_after_poll(
            feed.id,
            now,
            etag=fetched.headers.get("etag"),
            last_modified=fetched.headers.get("last-modified"),
            body_hash=seen.body_hash,
            ttl_minutes=parsed.ttl_minutes,
            title=parsed.title or None,
            kind_detected=parsed.kind,
            new_items_rate=rate,
            **_success_state(result, now),
        )
        _follow_permanent_redirect(ctx, feed, fetched)
    return result


def _result(
    feed: FeedState, outcome: str, started_at: datetime, t0: float, **fields: Any
) -> FeedResult:
    return FeedResult(
        feed_id=feed.id,
        outlet=feed.outlet,
        url=feed.url,
        result=outcome,
        started_at=started_at,
        duration_ms=_ms(t0),
        **fields,
    )


def link_relevant(
    store: Store,
    profiles: Sequence[ArticleProfile],
    items: Sequence[tuple[int, str, str]],
    now: datetime,
) -> set[int]:
    """Score (id, title, summary) items against every article; link those that pass.

    Returns the ids of the items linked to at least one article.
    """
    linked = set()
    for item_id, title, summary in items:
        doc = Doc.of(title, summary)  # tokenised once for every article
        for profile in profiles:
            relevance = score_doc(profile, doc)
            if relevance.tier != "none":
                store.link_item(profile.id, item_id, relevance, now)
                linked.add(item_id)
    return linked


def _record_quiet(
    ctx: Context,
    feed: FeedState,
    fetched: FetchedFeed,
    outcome: str,
    started_at: datetime,
    t0: float,
) -> FeedResult:
    now = ctx.clock()
    result = _result(
        feed,
        outcome,
        started_at,
        t0,
        http_status=fetched.status,
        bytes=len(fetched.content),
        next_poll_at=_next(ctx, now, fetched, None, 0, feed.new_items_rate * (1 - RATE_SMOOTHING)),
    )
    with ctx.store.transaction():
        ctx.store.record_fetch(result)
        changes = _success_state(result, now)
        # a 304 may carry a fresh validator; keep the old one when it does not
        if fetched.headers.get("etag"):
            changes["etag"] = fetched.headers["etag"]
        if fetched.headers.get("last-modified"):
            changes["last_modified"] = fetched.headers["last-modified"]
        ctx.store.update_feed_after_poll(feed.id, now, **changes)
        _follow_permanent_redirect(ctx, feed, fetched)
    return result


def _record_failure(
    ctx: Context, feed: FeedState, error: FeedError, started_at: datetime, t0: float
) -> FeedResult:
    now = ctx.clock()
    status = error.status if isinstance(error, HTTPStatusError) else None
    errors = feed.consecutive_errors + 1
    hard_errors = feed.consecutive_hard_errors + 1 if error.hard else 0
    headers = {"retry-after": error.retry_after or ""} if isinstance(error, HTTPStatusError) else {}
    inputs = PollInputs(headers=headers, consecutive_errors=errors)
    result = _result(
        feed,
        "error",
        started_at,
        t0,
        http_status=status,
        error_kind=error.kind,
        error_message=str(error),
        next_poll_at=next_poll_at(now, inputs, ctx.config.polling, ctx.rng),
    )
    disable = disable_decision(status, error.hard, hard_errors, ctx.config.polling)
    with ctx.store.transaction():
        ctx.store.record_fetch(result)
        ctx.store.update_feed_after_poll(
            feed.id,
            now,
            consecutive_errors=errors,
            consecutive_hard_errors=hard_errors,
            last_result="error",
            last_error=f"{error.kind}: {error}",
            next_poll_at=to_db(result.next_poll_at),
            **({"enabled": 0, "disabled_reason": disable.reason} if disable else {}),
        )
    return result


def _internal_error(exc: Exception) -> InternalError:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" at {'/'.join(where.filename.split('/')[-2:])}:{where.lineno}" if where else ""
    return InternalError(f"{type(exc).__name__}: {exc}{place} (a tracker bug: please report it)")


def _success_state(result: FeedResult, now: datetime) -> dict[str, object]:
    return {
        "consecutive_errors": 0,
        "consecutive_hard_errors": 0,
        "last_success_at": to_db(now),
        "last_result": result.result,
        "last_error": result.error_message,
        "next_poll_at": to_db(result.next_poll_at),
    }


def _next(
    ctx: Context, now: datetime, fetched: FetchedFeed, ttl: int | None, errors: int, rate: float
) -> datetime:
    inputs = PollInputs(fetched.headers, ttl, errors, rate)
    return next_poll_at(now, inputs, ctx.config.polling, ctx.rng)


def _follow_permanent_redirect(ctx: Context, feed: FeedState, fetched: FetchedFeed) -> None:
    if fetched.permanent_url and fetched.permanent_url != feed.url:
        ctx.store.move_feed(feed.id, fetched.permanent_url)


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)
