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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import httpx

from .config import Config, article_location, load_config
from .digest.build import FORMATS, DigestOutput, check_day, local_today, render_day, write_digest
from .errors import ArticleError, NotFoundError, OutputError, QueryError, TrackerError
from .files import atomic_text_file
from .ingest.articles import ArticleDraft, Citation, cited_outlets, read_article
from .ingest.fetch import make_client, safe_get
from .ingest.hosts import HostGate
from .ingest.parse import discover_feed_links
from .models import Clock, CycleSummary, FeedSource, Relevance, system_clock
from .query import ago, literal_match, naming, parse_when, timezone_spans
from .score.relevance import ArticleModel, Breakdown, Doc, breakdown, build_model, score_doc
from .service.status import service_status
from .storage import PRUNED_TABLES, ReadOnlyStore, Rows, Store, StoredArticle, to_db
from .textout import write_rows
from .update.pipeline import Context, cluster_new_items, run_cycle
from .urls import feed_url


@dataclass(frozen=True)
class Registered:
    article_id: int
    draft: ArticleDraft
    citations: tuple[Citation, ...]
    terms: dict[str, float]


@dataclass(frozen=True)
class AddedFeed:
    feed_id: int
    url: str
    outlet: str
    #: False when the outlet already had this feed (nothing changed)
    created: bool


@dataclass(frozen=True)
class Explanation:
    article_id: int
    relevance: Relevance
    breakdown: Breakdown
    title: str
    #: the article's thresholds: topic score for a link at all, story score for the story tier
    threshold: float
    story_threshold: float


@dataclass(frozen=True)
class InitReport:
    database: Path
    outlets: int
    feeds: int
    articles: tuple[Registered, ...]
    #: where the daily digests go (created by init)
    digests: Path


#: a model is rebuilt when the stored items grew by this factor (and at least MODEL_MIN_GROWTH)
MODEL_GROWTH = 1.25
MODEL_MIN_GROWTH = 20


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
            if self._store.timezone() != self.config.timezone:
                self.sync_timezone()
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
        """Create the database and the digest directory if needed, load outlets and feeds,
        register configured articles.

        The directories exist once init has run: a sandboxed service (contrib/tracker.service)
        may write only to directories that exist when it starts."""
        if self._store is None:
            self._store = Store.open(self.config.database, create=True)
        self.sync_config()
        registered = tuple(self.add_article(a.location) for a in self.config.articles)
        counts = self.store.counts()
        # last: the database is complete even when the directory cannot be made
        digests = self.config.digest.directory
        try:
            digests.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"{digests}: cannot create the digest directory: {exc.strerror or exc}"
            ) from None
        return InitReport(
            self.config.database, len(self.config.outlets), counts["feeds"], registered, digests
        )

    def sync_config(self) -> None:
        self.store.sync_outlets(self.config.outlets)
        self.store.sync_config_feeds(self.config.feeds, self.clock())
        self.sync_timezone()

    def poll(
        self, *, all_feeds: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> CycleSummary:
        """One cycle: every due feed (or every enabled feed) fetched, parsed, stored, scored.

        Afterwards the articles' models are rebuilt and everything rescored if the stored items
        have grown enough to teach them something new. ``progress(done, total)`` is called as
        feeds finish (the CLI draws a bar with it).
        """
        feeds = None
        if all_feeds:
            feeds = [self.store.feed_state(f["id"]) for f in self.store.feeds() if f["enabled"]]
        started = self.clock()
        summary = run_cycle(self.context(), feeds, progress)
        if summary.items_new:
            self.after_cycle(started)
        return summary

    def after_cycle(self, started_at: datetime) -> None:
        """What follows a cycle that stored new items (the service's cycles call it; ``poll``
        does the same): they join their stories, and the models learn from the new coverage."""
        cluster_new_items(self.store, started_at)
        self.refresh_models()

    def coverage(
        self,
        article_id: int | None = None,
        *,
        limit: int | None = None,
        tier: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        outlet: str | None = None,
    ) -> list[dict[str, Any]]:
        """Items linked to one article (or every one), latest reported first.

        ``reported_at`` is the outlet's published time, never later than first seen; it orders
        the rows (ties: first seen, outlet, link) and is what ``since`` and ``until`` bound, as
        in search and export. ``outlet`` keeps one outlet's items."""
        start, end = self._window(since, until)
        return self.store.coverage(
            [a.id for a in self._articles(article_id)],
            limit=limit or None,
            tier=tier,
            since=start,
            until=end,
            outlet_id=self._outlet_id(outlet),
        )

    def story_coverage(
        self,
        article_id: int | None = None,
        *,
        limit: int | None = None,
        tier: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        outlet: str | None = None,
    ) -> list[dict[str, Any]]:
        """Linked coverage one line per story, latest first: the outlet that reported it first
        (as in the digest and first_reports), every outlet in the order it reported, the best
        tier. The filters apply to the items, as in ``coverage``."""
        rows = self.coverage(article_id, tier=tier, since=since, until=until, outlet=outlet)
        stories: dict[tuple[int, int], dict[str, Any]] = {}
        for row in reversed(rows):  # first reported first
            story = stories.setdefault(
                (row["article_id"], row["story_id"]),
                {
                    "article_id": row["article_id"],
                    "story_id": row["story_id"],
                    "item_id": row["item_id"],
                    "first_reported_at": row["reported_at"],
                    "first_seen_at": row["first_seen_at"],
                    "first_outlet": row["outlet"],
                    "title": row["title"],
                    "url": row["url"],
                    "outlets": [],
                    "items": 0,
                    "tier": "related",
                    "score": 0.0,
                    "reasons": row["reasons"],
                },
            )
            story["items"] += 1
            story["first_seen_at"] = min(story["first_seen_at"], row["first_seen_at"])
            if row["outlet"] not in story["outlets"]:
                story["outlets"].append(row["outlet"])
            if row["tier"] == "story":
                story["tier"] = "story"
            story["score"] = max(story["score"], row["score"])
        # stories in the order of their first reports, latest first
        latest = list(reversed(stories.values()))
        return latest[:limit] if limit else latest

    def add_article(self, location: str) -> Registered:
        """Register (or re-read) an article, learn its model and score everything stored.

        A local file is known by its resolved path, so "uk.txt", "./uk.txt" and its absolute
        path are one article."""
        location = article_location(location)
        self._adopt_other_spelling(location)
        draft = self._read_article(location)
        # every key term grows from the text's entities or the include_terms (expansions and
        # story terms need them), so a model learned from no items tells if there will be any
        if not self._model(location, draft.title, draft.text, []).key_terms():
            raise ArticleError(
                f"{location}: no key terms in the text (names of people, places, organisations "
                "or include_terms), so no coverage could ever be linked to it"
            )
        citations = tuple(cited_outlets(draft, self.store.outlets()))
        article_id = self.store.save_article(
            location=location,
            url=draft.url,
            title=draft.title,
            published_at=draft.published_at,
            text=draft.text,
            key_terms={},
            cited=[(c.outlet, c.evidence) for c in citations],
            now=self.clock(),
        )
        model = self.rescore(article_id)[article_id]
        return Registered(article_id, draft, citations, model.key_terms())

    def rescore(self, article_id: int | None = None) -> dict[int, ArticleModel]:
        """Rebuild the relevance model of one or every article against all stored items, then
        score every stored item again: links are added, updated or removed to match."""
        items = self.store.items_for_scoring()
        background = [Doc.of(title, summary) for _, title, summary in items]
        summaries = [summary for _, _, summary in items]
        models = {}
        for article in self._articles(article_id):
            model = self._model(
                article.location, article.title, article.text, background, summaries
            )
            self.store.save_article_model(article.id, model.to_json(), model.key_terms())
            models[article.id] = model
        now = self.clock()
        for profile in self.context().profiles():
            if profile.id in models:
                scored = (
                    (item_id, score_doc(profile, doc))
                    for (item_id, _, _), doc in zip(items, background, strict=True)
                )
                links = [(item_id, r) for item_id, r in scored if r.tier != "none"]
                self.store.replace_links(profile.id, links, now)
        return models

    def _model(
        self,
        location: str,
        title: str,
        text: str,
        background: Sequence[Doc],
        summaries: Sequence[str] = (),
    ) -> ArticleModel:
        """An article's model against ``background``, with its include_terms from config.yaml
        and the outlets' names ignored (they are sources, not topics)."""
        source = self.config.article_source(location)
        names = [n for o in self.config.outlets for n in (o.name, *o.aliases)]
        return build_model(
            title,
            text,
            background,
            summaries=summaries,
            include_terms=source.include_terms if source else (),
            ignore_names=[*names, *self.store.outlet_names()],
        )

    def refresh_models(self) -> bool:
        """Rescore when the stored items have grown enough to change what the models learn."""
        count = self.store.item_count()
        stale = any(
            count
            > max(
                a.model.get("background", 0) * MODEL_GROWTH,
                a.model.get("background", 0) + MODEL_MIN_GROWTH,
            )
            for a in self.store.articles()
        )
        if stale:
            self.rescore()
        return stale

    def explain(self, item_id: int, article_id: int | None = None) -> list[Explanation]:
        """Why an item is (or is not) linked to each article: every matched term and weight."""
        title, summary = self.store.item_text(item_id)
        doc = Doc.of(title, summary)
        wanted = {a.id for a in self._articles(article_id)}
        return [
            Explanation(
                profile.id,
                score_doc(profile, doc),
                breakdown(profile.model, doc, profile.exclude_terms),
                title,
                profile.threshold,
                profile.story_threshold,
            )
            for profile in self.context().profiles()
            if profile.id in wanted
        ]

    def articles(self) -> list[StoredArticle]:
        return self.store.articles()

    def article(self, article_id: int) -> StoredArticle:
        return self.store.article(article_id)

    def add_feed(self, url: str, outlet: str, kind: str = "auto") -> AddedFeed:
        """Poll another feed. Adding a feed its outlet already has changes nothing; a feed of
        another outlet raises ConflictError. URLs compare in their ``feed_url`` form."""
        source = FeedSource(url=feed_url(url), outlet=outlet, kind=kind)
        feed_id, created = self.store.add_feed(source, self.clock())
        return AddedFeed(feed_id, source.url, outlet, created)

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

    def _adopt_other_spelling(self, location: str) -> None:
        """Before paths were resolved, an article was stored under the path as given (often
        relative to the working directory): that row becomes this path's, not a duplicate."""
        stored = self.store.articles()
        if any(a.location == location for a in stored):
            return
        for article in stored:
            if article_location(article.location) == location:
                self.store.move_article(article.id, location)
                return

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

    # --- digest ----------------------------------------------------------------------------------

    def local_today(self) -> date:
        """Today in the configured time zone (``timezone`` in config.yaml)."""
        return local_today(self.clock(), self.config.tz)

    def digest(
        self,
        day: date | None = None,
        *,
        formats: Sequence[str] = FORMATS,
        write: bool = True,
    ) -> DigestOutput:
        """The digest of one local day (default: today), rendered in ``formats``.

        With ``write`` the files are replaced atomically in ``digest.directory``:
        ``YYYY-MM-DD.md``, ``YYYY-MM-DD.html`` and ``digests.atom`` (the newest ``digest.keep``
        digests of the directory). Without it nothing is written (``tracker digest --stdout``).
        A day that has not started yet raises ``DigestError``.
        """
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise ValueError(f"digest formats are {', '.join(FORMATS)}; got {list(formats)}")
        now = self.clock()
        today = local_today(now, self.config.tz)
        day = day or today
        check_day(day, today, self.config.tz)
        output = render_day(
            self.store, self.config.digest, day, tz=self.config.tz, now=now, formats=formats
        )
        return write_digest(output, self.config.digest.directory) if write else output

    def write_digest(self, day: date | None = None) -> list[Path]:
        """Write one day's digest files and refresh the Atom feed; return the paths written.

        The entry point for the background service's daily job. ``day`` is a local calendar
        day in the configured time zone (default: today, so far). A job that runs each morning
        at ``digest.time`` should usually pass the day just ended,
        ``t.local_today() - timedelta(days=1)``, whose digest is then complete; writing today's
        too is harmless. Calling it again for a day replaces that day's files.

        Every file is written atomically (temporary file in the same directory, fsync, rename):
        a reader never sees half a digest and a failure leaves the previous files intact.
        Raises ``OutputError`` when the directory cannot be written, ``StorageError`` when the
        database cannot be read and ``DigestError`` for a day not started yet; all are
        ``TrackerError``.
        """
        return list(self.digest(day).paths)

    # --- querying ------------------------------------------------------------------------------

    def sync_timezone(self) -> bool:
        """Write the configured zone's UTC offsets for daily_coverage; True when they changed."""
        spans = [
            (to_db(span.starts_at), to_db(span.ends_at), span.offset_minutes)
            for span in timezone_spans(self.config.tz)
        ]
        return self.store.sync_timezone(self.config.timezone, spans)

    @contextmanager
    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] = (),
        *,
        timeout: float | None = None,
    ) -> Iterator[Rows]:
        """Run one read-only SQL statement; iterate the yielded rows (dicts) inside the block.

        The connection cannot write (see ``ReadOnlyStore``); the database is first opened
        normally so it is migrated and its time zone is current. A statement still running
        after ``timeout`` seconds is stopped with a QueryError.
        """
        with self._read_only(timeout) as reader:
            yield reader.rows(sql, params)

    def search(
        self,
        text: str,
        *,
        article_id: int | None = None,
        outlet: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = 20,
        literal: bool = False,
    ) -> list[dict[str, Any]]:
        """Full-text search of item titles and summaries, best match first (bm25).

        ``text`` is an FTS5 query (words, "phrases", OR, NOT, prefix*), or with ``literal`` the
        words as typed. ``since``/``until`` bound when items were published (first seen when the
        feed gave no date); a ``limit`` of None or 0 returns every match.
        """
        match = literal_match(text) if literal else text.strip()
        if not match:
            raise QueryError("search: the query is empty")
        if article_id is not None:
            self.store.article(article_id)
        start, end = self._window(since, until)
        return self.store.search(
            match,
            article_id=article_id,
            outlet_id=self._outlet_id(outlet),
            since=start,
            until=end,
            limit=limit or None,
        )

    def export(
        self,
        destination: TextIO | str | Path,
        fmt: str = "csv",
        *,
        article_id: int | None = None,
        tier: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> int:
        """Write the coverage view (one article, or all) as csv, json or jsonl; returns rows.

        Rows stream from the database to the destination, so memory stays flat however many
        there are. A path is written to a temporary file renamed into place at the end, so a
        failed export never leaves a truncated file behind. ``reasons`` is a JSON list in JSON
        and JSONL, JSON text in CSV.
        """
        if fmt not in ("csv", "json", "jsonl"):
            raise QueryError(f"export: unknown format {fmt!r}; expected csv, json or jsonl")
        if article_id is not None:
            self.store.article(article_id)
        start, end = self._window(since, until)
        with self._read_only() as reader:
            rows = reader.coverage(article_id, tier=tier, since=start, until=end)
            if not isinstance(destination, str | Path):
                return write_rows(destination, rows.columns, rows, fmt, json_columns=["reasons"])
            with atomic_text_file(Path(destination)) as out:
                return write_rows(out, rows.columns, rows, fmt, json_columns=["reasons"])

    def prune(
        self,
        older_than: timedelta | str,
        *,
        include_linked: bool = False,
        dry_run: bool = False,
        vacuum: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> PruneReport:
        """Delete items not seen for ``older_than`` (unlinked only, unless ``include_linked``)
        with their versions, keys and sightings, and older fetch and cycle log rows; then VACUUM.

        ``dry_run`` only counts. Linked items are the coverage, so they stay by default.
        """
        if isinstance(older_than, timedelta) and older_than <= timedelta(0):
            raise QueryError("prune: --older-than must be a positive age such as 90d")
        with naming("--older-than"):
            cutoff = ago(older_than, self.clock())
        counts = self.store.prune(
            cutoff, include_linked=include_linked, dry_run=dry_run, progress=progress
        )
        before = after = self.store.file_size()
        if vacuum and not dry_run:
            before, after = self.store.reclaim_space()
        return PruneReport(cutoff, dry_run, counts, before, after)

    @contextmanager
    def _read_only(self, timeout: float | None = None) -> Iterator[ReadOnlyStore]:
        self.store  # noqa: B018 - opening migrates the database and syncs its time zone
        reader = ReadOnlyStore.open(self.config.database, timeout=timeout)
        try:
            yield reader
        finally:
            reader.close()

    def _window(
        self, since: datetime | str | None, until: datetime | str | None
    ) -> tuple[datetime | None, datetime | None]:
        """--since and --until as times; a window that ends before it starts is an error, not
        a silent empty result."""
        start, end = self._when(since, "--since"), self._when(until, "--until")
        if start is not None and end is not None and start >= end:
            order = "after" if start > end else "the same time as"
            raise QueryError(
                f"--since {_shown(since)} is {order} --until {_shown(until)}: nothing can match "
                "(--since is the start, --until the end)"
            )
        return start, end

    def _outlet_id(self, outlet: str | None) -> int | None:
        if outlet is None:
            return None
        if not outlet.strip():
            raise QueryError("--outlet: the outlet name is empty")
        return self.store.outlet_id(outlet.strip())

    def _when(self, value: datetime | str | None, option: str) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        with naming(option):
            return parse_when(value, self.clock(), self.config.tz)

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
        known = {article_location(a.location) for a in self.store.articles()}
        problems = []
        for source in config.articles:
            if article_location(source.location) not in known:
                try:
                    self.add_article(source.location)
                except ArticleError as exc:
                    problems.append(str(exc))
        return problems


@dataclass(frozen=True)
class PruneReport:
    cutoff: datetime
    dry_run: bool
    #: rows deleted (or, in a dry run, that would be) per table, in PRUNED_TABLES order
    counts: dict[str, int]
    bytes_before: int
    bytes_after: int

    def rows(self) -> list[dict[str, Any]]:
        return [{"table": t, "rows": self.counts.get(t, 0)} for t in PRUNED_TABLES]


def _shown(value: datetime | str | None) -> str:
    return value.strip() if isinstance(value, str) else str(value)
