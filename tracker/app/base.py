"""The tracker's resources (config, clock, HTTP client, database) and what every part of the
facade shares. ``Tracker`` (``tracker.app``) is assembled from one part per concern, over this."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from ..config import Config, load_config
from ..digest.build import local_today
from ..errors import (
    NotFoundError,
)
from ..ingest.fetch import make_client
from ..ingest.hosts import HostGate
from ..models import (
    Clock,
    system_clock,
)
from ..query import timezone_spans
from ..score.background import DocCache
from ..storage import (
    Store,
    StoredArticle,
    to_db,
)
from ..update.pipeline import Context
from ..update.upkeep import Upkeep


class TrackerBase:
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
        #: each recent item's clustering terms, kept across cycles (see cluster_new_items)
        self._cluster_terms: dict[int, Counter[str]] = {}
        self._upkeep: Upkeep | None = None
        #: items as the scorer read them at poll time, for the models' upkeep to reuse
        self.docs = DocCache(config.relevance.recent_items)

    @classmethod
    def from_config_file(cls, path: str | Path, **kwargs: Any) -> Self:
        return cls(load_config(Path(path)), **kwargs)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = make_client(self.config.fetch)
        return self._client

    def open(self, *, create: bool = False) -> Store:
        """Open the database: migrated to this version's schema (``create``: made when
        missing), with the configured time zone's offsets in it for the local days of SQL.
        Every command opens it when it first needs it; calling this first chooses when that
        happens (and when a StorageError says why it cannot). Opening again does nothing."""
        if self._store is None:
            self._store = Store.open(self.config.database, create=create)
            if self._store.timezone() != self.config.timezone:
                self.sync_timezone()
        return self._store

    @property
    def store(self) -> Store:
        """The database, opened (see ``open``) at its first use."""
        return self._store if self._store is not None else self.open()

    @property
    def upkeep(self) -> Upkeep:
        """Keeps the relevance models current (one per tracker: it keeps their background)."""
        if self._upkeep is None:
            size = self.config.relevance.recent_items
            self._upkeep = Upkeep(self.config, self.store, self.clock, size, docs=self.docs)
        return self._upkeep

    def close(self) -> None:
        self._upkeep = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def context(self) -> Context:
        return Context(
            self.config, self.store, self.client, self.clock, self.rng, self.hosts, self.docs
        )

    def sync_timezone(self) -> bool:
        """Write the configured zone's UTC offsets for daily_coverage; True when they changed."""
        spans = [
            (to_db(span.starts_at), to_db(span.ends_at), span.offset_minutes)
            for span in timezone_spans(self.config.tz)
        ]
        return self.store.sync_timezone(self.config.timezone, spans)

    def local_today(self) -> date:
        """Today in the configured time zone (``timezone`` in config.yaml)."""
        return local_today(self.clock(), self.config.tz)

    def _articles(self, article_id: int | None) -> Sequence[StoredArticle]:
        if article_id is not None:
            return [self.store.article(article_id)]
        articles = self.store.articles()
        if not articles:
            raise NotFoundError(
                "no articles are tracked yet; run 'tracker init' or 'tracker article add PATH|URL'"
            )
        return articles
