"""The library API: one ``Tracker`` per config, with a method for each CLI command.

``cli.py`` parses arguments, calls one of these methods and prints the result; anything a user can
do from the command line can be done from Python the same way::

    from tracker import Tracker
    with Tracker.from_config_file("config.yaml") as t:
        t.init()
        t.poll()
        for row in t.coverage():
            print(row["outlet"], row["title"])
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from .articles import ArticleDraft, Citation, article_terms, cited_outlets, read_article
from .config import Config, load_config
from .errors import ArticleError, NotFoundError, TrackerError
from .fetch import make_client, safe_get
from .hosts import HostGate
from .models import Clock, CycleSummary, FeedSource, system_clock
from .parse import discover_feed_links
from .pipeline import Context, link_relevant, run_cycle
from .status import service_status
from .store import Store, StoredArticle


@dataclass(frozen=True)
class Registered:
    article_id: int
    draft: ArticleDraft
    citations: tuple[Citation, ...]
    terms: dict[str, float]


@dataclass(frozen=True)
class InitReport:
    database: Path
    outlets: int
    feeds: int
    articles: tuple[Registered, ...]


class Tracker:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = system_clock,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._client = client
        self._store: Store | None = None
        self.rng = rng or random.Random()
        # one gate for the life of the tracker, so per-host gaps hold across cycles
        self.hosts = HostGate(config.fetch.per_host_concurrency, config.fetch.per_host_gap)

    @classmethod
    def from_config_file(cls, path: str | Path, **kwargs: Any) -> Tracker:
        return cls(load_config(Path(path)), **kwargs)

    # --- resources -------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = make_client(self.config.fetch)
        return self._client

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.config.database)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def context(self) -> Context:
        return Context(self.config, self.store, self.client, self.clock, self.rng, self.hosts)

    # --- commands --------------------------------------------------------------------------------

    def init(self) -> InitReport:
        """Create the database if needed, load outlets and feeds, register configured articles."""
        if self._store is None:
            self._store = Store.open(self.config.database, create=True)
        self.sync_config()
        registered = tuple(self.add_article(a.location) for a in self.config.articles)
        counts = self.store.counts()
        return InitReport(
            self.config.database, len(self.config.outlets), counts["feeds"], registered
        )

    def sync_config(self) -> None:
        self.store.sync_outlets(self.config.outlets)
        self.store.sync_config_feeds(self.config.feeds, self.clock())

    def poll(self, *, all_feeds: bool = False) -> CycleSummary:
        """One cycle: every due feed (or every enabled feed) fetched, parsed, stored, scored."""
        feeds = None
        if all_feeds:
            feeds = [self.store.feed_state(f["id"]) for f in self.store.feeds() if f["enabled"]]
        return run_cycle(self.context(), feeds)

    def coverage(
        self, article_id: int | None = None, *, limit: int | None = None, tier: str | None = None
    ) -> list[dict[str, Any]]:
        rows = []
        for article in self._articles(article_id):
            for row in self.store.coverage(article.id, limit=limit, tier=tier):
                rows.append({"article_id": article.id, **row})
        rows.sort(key=lambda r: (r["first_seen_at"], r["item_id"]), reverse=True)
        return rows[:limit] if limit else rows

    def add_article(self, location: str) -> Registered:
        draft = self._read_article(location)
        citations = tuple(cited_outlets(draft, self.store.outlets()))
        terms = article_terms(draft)
        article_id = self.store.save_article(
            location=location,
            url=draft.url,
            title=draft.title,
            published_at=draft.published_at,
            text=draft.text,
            key_terms=terms,
            cited=[(c.outlet, c.evidence) for c in citations],
            now=self.clock(),
        )
        self._link_stored_items(article_id)
        return Registered(article_id, draft, citations, terms)

    def articles(self) -> list[StoredArticle]:
        return self.store.articles()

    def article(self, article_id: int) -> StoredArticle:
        return self.store.article(article_id)

    def add_feed(self, url: str, outlet: str, kind: str = "auto") -> int:
        return self.store.add_feed(FeedSource(url=url, outlet=outlet, kind=kind), self.clock())

    def feeds(self) -> list[dict[str, Any]]:
        return self.store.feeds()

    def enable_feed(self, feed_id: int, enabled: bool = True) -> None:
        self.store.set_feed_enabled(feed_id, enabled, self.clock())

    def discover(self, url: str) -> list[tuple[str, str]]:
        """Feeds a web page announces with <link rel="alternate">."""
        page = safe_get(self.client, url, self.config.fetch)
        return discover_feed_links(page.content, page.url)

    # --- helpers ---------------------------------------------------------------------------------

    def _articles(self, article_id: int | None) -> Sequence[StoredArticle]:
        if article_id is not None:
            return [self.store.article(article_id)]
        articles = self.store.articles()
        if not articles:
            raise NotFoundError(
                "no articles are tracked yet; run 'tracker init' or 'tracker article add PATH|URL'"
            )
        return articles

    def _read_article(self, location: str) -> ArticleDraft:
        if location.lower().startswith(("http://", "https://")):
            try:
                page = safe_get(self.client, location, self.config.fetch)
            except TrackerError as exc:
                raise ArticleError(f"{location}: cannot fetch the article: {exc}") from None
            draft = read_article(
                page.content, content_type=page.headers.get("content-type", ""), location=page.url
            )
            return draft if draft.url else ArticleDraft(**{**draft.__dict__, "url": page.url})
        path = Path(location)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArticleError(f"{location}: cannot read the article: {exc.strerror}") from None
        content_type = "text/html" if path.suffix.lower() in (".html", ".htm") else ""
        return read_article(data, content_type=content_type, location=location)

    def _link_stored_items(self, article_id: int) -> None:
        """Score what is already stored against a newly added article."""
        profiles = [p for p in self.context().profiles() if p.id == article_id]
        with self.store.transaction():
            link_relevant(self.store, profiles, self.store.items_for_scoring(), self.clock())

    # --- service ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Whether the service runs (pid, up since, heartbeat), its last cycle, feed health."""
        return service_status(self.store, self.config.lock_path, self.clock())

    def use_config(self, config: Config) -> list[str]:
        """Switch to a (re)loaded config.yaml with the same database; return problems found.

        Outlets and feeds are synced (feeds dropped from the file are disabled, new ones are due
        at once) and articles not registered yet are added; an article that cannot be read is
        reported, not fatal. Politeness settings apply to requests started from now on.
        """
        self.store.sync_outlets(config.outlets)
        self.store.sync_config_feeds(config.feeds, self.clock())
        old, self.config = self.config, config
        fetch = config.fetch
        if (fetch.per_host_concurrency, fetch.per_host_gap) != (
            old.fetch.per_host_concurrency,
            old.fetch.per_host_gap,
        ):
            self.hosts = HostGate(fetch.per_host_concurrency, fetch.per_host_gap)
        known = {a.location for a in self.store.articles()}
        problems = []
        for source in config.articles:
            if source.location not in known:
                try:
                    self.add_article(source.location)
                except ArticleError as exc:
                    problems.append(str(exc))
        return problems
