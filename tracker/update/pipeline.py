"""One poll of one feed, top to bottom, and a cycle of polls.

    fetch ─ 304, or the same bytes as last time ──────────────────────────▶ quiet: record it
      │
    split the body into raw items; leave out those this feed sent before, byte for byte
      │
    parse the rest (feedparser) → normalise → identity keys → score against every article
      │
    one short transaction: read what the poll's keys name, decide (``decide.py``), write

Network I/O, parsing and scoring happen outside any transaction; everything one poll writes
(items, sightings, versions, links, the fetch record and the feed's new state) is one
transaction, so an interrupted poll leaves no trace but the previous state. A feed's failure is
recorded against it and never stops the cycle.
"""

from __future__ import annotations

import hashlib
import random
import time
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from ..config import Config
from ..errors import FeedError, HTTPStatusError, InternalError, StorageError
from ..ingest.fetch import safe_get
from ..ingest.hosts import HostGate
from ..ingest.identity import unshare_keys
from ..ingest.normalise import normalise_item
from ..ingest.parse import parse_feed
from ..ingest.split import SPLIT_HEADERS, split_feed
from ..models import (
    CleanItem,
    Clock,
    FeedResult,
    FeedState,
    FeedUpdate,
    FetchedFeed,
    Incoming,
    Links,
    Meta,
)
from ..score import cluster
from ..score.background import DocCache
from ..score.judged import learn
from ..score.model import ArticleModel
from ..score.relevance import ArticleProfile, score_doc
from ..score.text import Doc
from ..storage import JudgedText, Store, StoredArticle
from .decide import Polled, decide_failure, decide_items, decide_quiet, decide_success

#: how far back term weights for story clustering are learned
IDF_PERIOD = timedelta(days=7)


@dataclass
class Context:
    """Everything a cycle needs, passed in (no globals): config, store, HTTP client, clock."""

    config: Config
    store: Store
    client: httpx.Client
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    hosts: HostGate | None = None
    #: where the items a poll tokenised are kept for the models' upkeep (optional)
    docs: DocCache | None = None

    def __post_init__(self) -> None:
        if self.hosts is None:
            fetch = self.config.fetch
            self.hosts = HostGate(fetch.per_host_concurrency, fetch.per_host_gap)

    def profiles(self) -> list[ArticleProfile]:
        return stored_profiles(self.config, self.store, self.store.articles())


def article_profiles(
    config: Config,
    articles: Sequence[StoredArticle],
    judged: Mapping[int, Sequence[JudgedText]] | None = None,
) -> list[ArticleProfile]:
    """Stored articles with their thresholds: per-article values from config, else the defaults.
    Each model has learned from its article's ``judged`` items (``score.judged``), if any."""
    profiles = []
    for article in articles:
        source = config.article_source(article.location)
        threshold = source.threshold if source and source.threshold is not None else None
        story = source.story_threshold if source and source.story_threshold is not None else None
        model = ArticleModel.from_json(article.model)
        marks = judged.get(article.id) if judged else None
        if marks:
            model = learn(model, [(Doc.of(m.title, m.summary), m.label) for m in marks])
        profiles.append(
            ArticleProfile(
                id=article.id,
                model=model,
                threshold=config.relevance.threshold if threshold is None else threshold,
                story_threshold=config.relevance.story_threshold if story is None else story,
                exclude_terms=source.exclude_terms if source else (),
            )
        )
    return profiles


def stored_profiles(
    config: Config, store: Store, articles: Sequence[StoredArticle], leave_out: int | None = None
) -> list[ArticleProfile]:
    """``article_profiles`` with the articles' judgements read from the store, so a mark takes
    effect at the next cycle; ``leave_out`` is an item whose own mark is not learned from (what
    the score alone says of a marked item)."""
    judged = store.judged_texts([a.id for a in articles])
    if leave_out is not None:
        judged = {a: [m for m in ms if m.item_id != leave_out] for a, ms in judged.items()}
    return article_profiles(config, articles, judged)


def cluster_new_items(
    store: Store,
    since: datetime,
    params: cluster.Params | None = None,
    memo: dict[int, Counter[str]] | None = None,
    limit: int | None = None,
) -> int:
    """Join the items first seen since ``since`` to earlier stories about the same event.

    Term weights come from the last week of items, at most the newest ``limit`` of them (a
    week of a very busy tracker costs what ``limit`` items do); stories are those begun within
    the window before the new items. ``memo`` keeps each item's terms from one cycle to the next
    (an item's text is tokenised once, not at every cycle of its week); it holds the window's
    items only.
    Returns how many items joined an existing story.
    """
    memo = {} if memo is None else memo
    rows = store.items_for_clustering(since - IDF_PERIOD)
    if limit:
        rows = rows[-limit:]  # oldest first
    members = []
    for r in rows:
        terms = memo.get(r.id)
        if terms is None:
            terms = memo[r.id] = cluster.terms(r.title, r.summary or "")
        members.append(
            cluster.Member(r.id, r.story_id, r.outlet_id, terms, r.first_seen_at, r.happened_at)
        )
    for gone in memo.keys() - {r.id for r in rows}:
        del memo[gone]
    # times are stored to the second: an item stored in this cycle's first second is new
    moves = cluster.assign(members, since.replace(microsecond=0), params)
    store.move_to_story(moves)
    return len(moves)


# --- one feed ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """What the poll read from a 200's body: the envelope and the items it had to parse."""

    meta: Meta
    items: tuple[tuple[CleanItem, str | None], ...]
    #: raw hashes of the items the feed sent before, byte for byte (not parsed)
    resent: tuple[str, ...]
    body_hash: str
    #: when it was read: the new items' first-seen time
    at: datetime


class _Stale(Exception):
    """An item the feed resent was pruned between reading and writing: read the body again."""


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
        fetched = _fetch(ctx, feed)
        if fetched.not_modified:
            return _record_quiet(ctx, feed, fetched, "not-modified", started_at, t0)
        body_hash = hashlib.sha256(fetched.content).hexdigest()
        if body_hash == feed.body_hash:
            # a server without conditional GET sent the same bytes: nothing to parse
            return _record_quiet(ctx, feed, fetched, "unchanged", started_at, t0)
        read = read_body(ctx, feed, fetched, body_hash, trust_resent=True)
    except FeedError as error:
        return _record_failure(ctx, feed, error, started_at, t0)
    try:
        return record_read(ctx, feed, fetched, read, profiles, started_at, t0)
    except _Stale:
        read = read_body(ctx, feed, fetched, body_hash, trust_resent=False)
        return record_read(ctx, feed, fetched, read, profiles, started_at, t0)


def _fetch(ctx: Context, feed: FeedState) -> FetchedFeed:
    assert ctx.hosts is not None
    with ctx.hosts.slot(feed.url):
        fetched = safe_get(
            ctx.client, feed.url, ctx.config.fetch, etag=feed.etag, last_modified=feed.last_modified
        )
    if fetched.not_modified and not (feed.etag or feed.last_modified):
        # only an answer to a conditional request can say "not modified": this one says nothing
        raise HTTPStatusError(
            "HTTP 304 Not Modified to a request without validators (no ETag or Last-Modified "
            "was sent): the server sent no feed",
            304,
        )
    return fetched


def read_body(
    ctx: Context, feed: FeedState, fetched: FetchedFeed, body_hash: str, *, trust_resent: bool
) -> Read:
    """Parse what the feed has not sent before: the whole body when it cannot be split."""
    split = split_feed(fetched.content, fetched.headers)
    if split is None:
        parsed = parse_feed(fetched.content, fetched.headers, fetched.url)
        raw: Sequence[str | None] = ()
        resent: tuple[str, ...] = ()
    else:
        sent = ctx.store.resent(feed.id, split.hashes) if trust_resent else set()
        resent = tuple(h for h in split.hashes if h in sent)
        body, raw = split.without(sent)
        if not raw and split.hashes:
            # nothing new: the envelope alone would only repeat what the feed said before
            return Read(Meta(), (), resent, body_hash, ctx.clock())
        parsed = parse_feed(body, SPLIT_HEADERS, fetched.url)
    now = ctx.clock()
    clean = unshare_keys([normalise_item(p, feed.outlet_id, now) for p in parsed.items])
    hashes = [raw[p.position] if 0 <= p.position < len(raw) else None for p in parsed.items]
    meta = Meta(parsed.kind, parsed.title, parsed.ttl_minutes, parsed.warning)
    return Read(meta, tuple(zip(clean, hashes, strict=True)), resent, body_hash, now)


def score_links(
    profiles: Sequence[ArticleProfile], item: CleanItem, docs: DocCache | None = None
) -> Links:
    """(article id, relevance) for every article the item passes."""
    doc = Doc.of(item.title, item.summary)  # tokenised once for every article
    if docs is not None:
        docs.put(item.content_hash, doc)
    scored = ((profile.id, score_doc(profile, doc)) for profile in profiles)
    return tuple((article_id, r) for article_id, r in scored if r.tier != "none")


def record_read(
    ctx: Context,
    feed: FeedState,
    fetched: FetchedFeed,
    read: Read,
    profiles: Sequence[ArticleProfile],
    started_at: datetime,
    t0: float,
) -> FeedResult:
    """Decide and write a poll's items, links, log and feed state: one short transaction."""
    incoming = [
        Incoming(item, raw, score_links(profiles, item, ctx.docs)) for item, raw in read.items
    ]
    store, now = ctx.store, read.at
    with store.transaction():
        if read.resent and store.resight(feed.id, read.resent, now) < len(set(read.resent)):
            raise _Stale()
        known = store.known_items(feed.id, {key for item, _ in read.items for key in item.keys})
        intents = decide_items(feed, incoming, known, read.resent)
        new_ids = store.write_items(feed.id, feed.outlet_id, intents, now)
        linked = [(i, n.links) for i, n in zip(new_ids, intents.new, strict=True) if n.links]
        for item_id, links in [*linked, *((c.item_id, c.links) for c in intents.changed)]:
            for article_id, relevance in links:
                store.link_item(article_id, item_id, relevance, now)
        polled = Polled(started_at, _ms(t0), now)
        update, result = decide_success(
            feed,
            fetched,
            read.meta,
            intents,
            read.body_hash,
            len(linked),
            polled,
            ctx.config.polling,
            ctx.rng,
        )
        _save(ctx, feed, fetched, update, result)
    return result


def _record_quiet(
    ctx: Context,
    feed: FeedState,
    fetched: FetchedFeed,
    outcome: str,
    started_at: datetime,
    t0: float,
) -> FeedResult:
    polled = Polled(started_at, _ms(t0), ctx.clock())
    update, result = decide_quiet(feed, fetched, outcome, polled, ctx.config.polling, ctx.rng)
    with ctx.store.transaction():
        _save(ctx, feed, fetched, update, result)
    return result


def _record_failure(
    ctx: Context, feed: FeedState, error: FeedError, started_at: datetime, t0: float
) -> FeedResult:
    polled = Polled(started_at, _ms(t0), ctx.clock())
    update, result = decide_failure(feed, error, polled, ctx.config.polling, ctx.rng)
    with ctx.store.transaction():
        _save(ctx, feed, None, update, result)
    return result


def _save(
    ctx: Context,
    feed: FeedState,
    fetched: FetchedFeed | None,
    update: FeedUpdate,
    result: FeedResult,
) -> None:
    ctx.store.record_fetch(result)
    ctx.store.save_feed_state(update)
    if fetched is not None:
        _follow_permanent_redirect(ctx, feed, fetched)


def _internal_error(exc: Exception) -> InternalError:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" at {'/'.join(where.filename.split('/')[-2:])}:{where.lineno}" if where else ""
    return InternalError(f"{type(exc).__name__}: {exc}{place} (a tracker bug: please report it)")


def _follow_permanent_redirect(ctx: Context, feed: FeedState, fetched: FetchedFeed) -> None:
    if fetched.permanent_url and fetched.permanent_url != feed.url:
        ctx.store.move_feed(feed.id, fetched.permanent_url)


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)
