"""The library API: one ``Tracker`` per config, with a method for each CLI command.

``cli.py`` parses arguments, calls one of these methods and prints the result; anything a user can
do from the command line can be done from Python the same way::

    from tracker import Tracker
    with Tracker.from_config_file("config.yaml") as t:
        t.init()
        t.poll()
        for row in t.coverage():
            print(row.outlet, row.title)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import httpx

from .alerts import AlertReport, run_alerts
from .config import Config, article_location, load_config, renamed_outlets
from .digest.build import FORMATS, DigestOutput, check_day, local_today, render_day, write_digest
from .errors import (
    Argument,
    ArticleError,
    ArticleNeededError,
    ConflictError,
    DigestError,
    FeedCheckError,
    FeedError,
    NotAFeedError,
    NotFoundError,
    OPMLError,
    OutputError,
    QueryError,
    TrackerError,
)
from .files import atomic_text_file
from .ingest.articles import ArticleDraft, Citation, cited_outlets, read_article
from .ingest.fetch import make_client, safe_get
from .ingest.hosts import HostGate
from .ingest.parse import discover_feed_links, parse_feed
from .models import (
    Clock,
    CoverageRow,
    CycleSummary,
    FeedRow,
    FeedSource,
    Judgement,
    ParsedFeed,
    Relevance,
    SearchHit,
    StoryRow,
    system_clock,
)
from .opml import ExportedFeed, PlannedFeed, plan_import, read_opml, write_opml
from .outputs import stories
from .query import ago, literal_match, naming, parse_when, timezone_spans
from .score.background import Background, DocCache
from .score.relevance import ArticleModel, Breakdown, Doc, breakdown, score_doc
from .service.status import StatusReport, service_status
from .storage import (
    PRUNED_TABLES,
    ReadOnlyStore,
    Rows,
    Store,
    StoredArticle,
    check_label,
    judged,
    to_db,
)
from .textout import write_rows
from .update.engine import Dispatcher
from .update.pipeline import Context, article_profiles, cluster_new_items
from .update.upkeep import ITEMS_PER_STEP, Upkeep
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
    #: what the check found at the URL (None when it was not checked)
    checked: ParsedFeed | None = None


@dataclass(frozen=True)
class Explanation:
    article_id: int
    relevance: Relevance
    breakdown: Breakdown
    title: str
    #: the article's thresholds: topic score for a link at all, story score for the story tier
    threshold: float
    story_threshold: float
    #: the analyst's judgement of the item for this article, which overrides the score
    judgement: Judgement | None = None

    @property
    def tier(self) -> str:
        """The tier the item has: the judgement's when it is judged, else the score's."""
        return judged(self.relevance, self.judgement.label if self.judgement else None).tier


@dataclass(frozen=True)
class Marked:
    """What ``mark`` or ``unmark`` did to an item's link to an article."""

    #: the judgement made (mark) or dropped (unmark)
    judgement: Judgement
    title: str
    #: what the scorer says of the item now, on its own
    scorer: Relevance
    #: the item's tier now: the judgement's after mark, the scorer's after unmark
    tier: str
    #: the judgement a mark replaced
    replaced: Judgement | None = None


@dataclass(frozen=True)
class InitReport:
    database: Path
    outlets: int
    feeds: int
    articles: tuple[Registered, ...]
    #: where the daily digests go (created by init)
    digests: Path


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
        #: each recent item's clustering terms, kept across cycles (see cluster_new_items)
        self._cluster_terms: dict[int, Counter[str]] = {}
        self._upkeep: Upkeep | None = None
        #: items as the scorer read them at poll time, for the models' upkeep to reuse
        self.docs = DocCache()

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

    @property
    def upkeep(self) -> Upkeep:
        """Keeps the relevance models current (one per tracker: it keeps their background)."""
        if self._upkeep is None:
            self._upkeep = Upkeep(self.config, self.store, self.clock, docs=self.docs)
        return self._upkeep

    def close(self) -> None:
        self._upkeep = None
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
        return Context(
            self.config, self.store, self.client, self.clock, self.rng, self.hosts, self.docs
        )

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
        self._sync_sources(self.config)
        self.sync_timezone()

    def _sync_sources(self, config: Config) -> None:
        """Outlets and feeds as config.yaml has them; an outlet it renamed keeps its id."""
        renames = renamed_outlets(config.outlets, config.feeds, self.store.feed_owners())
        for old, new in renames.items():
            self.store.rename_outlet(old, new)
        self.store.sync_outlets(config.outlets)
        self.store.sync_config_feeds(config.feeds, self.clock())

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
            feeds = [self.store.feed_state(f.id) for f in self.store.feeds() if f.enabled]
        started = self.clock()
        engine = Dispatcher(self.context, self.config.polling.workers, lambda report: None)
        try:
            summary = engine.run_once(feeds, progress).summary
        finally:
            engine.shutdown()
        if summary.items_new:
            self.after_cycle(started)
        else:
            self.send_alerts()
        return summary

    def after_cycle(self, started_at: datetime) -> None:
        """What follows a cycle that stored new items (the service's cycles call it; ``poll``
        does the same): they join their stories, the models learn from the new coverage, and
        alerts go out."""
        cluster_new_items(self.store, started_at, memo=self._cluster_terms)
        self.refresh_models(ITEMS_PER_STEP)
        self.send_alerts(started_at)

    def send_alerts(self, started_at: datetime | None = None) -> AlertReport:
        """Queue the alerts of the cycle started at ``started_at`` (see tracker.alerts) and
        send every pending one; without it, only retry those that failed before. A target
        failing is logged and retried at the next cycle, never raised."""
        return run_alerts(self.store, self.config, self.clock, started_at)

    def coverage(
        self,
        article_id: int | None = None,
        *,
        limit: int | None = None,
        tier: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        outlet: str | None = None,
    ) -> list[CoverageRow]:
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
    ) -> list[StoryRow]:
        """Linked coverage one line per story, latest first: the outlet that reported it first
        (as in the digest and first_reports), every outlet in the order it reported, the best
        tier. The filters apply to the items, as in ``coverage``."""
        rows = self.coverage(article_id, tier=tier, since=since, until=until, outlet=outlet)
        return stories(rows, limit)

    def add_article(self, location: str) -> Registered:
        """Register (or re-read) an article, learn its model and score everything stored.

        A local file is known by its resolved path, so "uk.txt", "./uk.txt" and its absolute
        path are one article."""
        location = article_location(location)
        self._adopt_other_spelling(location)
        draft = self._read_article(location)
        # every key term grows from the text's entities or the include_terms (expansions and
        # story terms need them), so a model learned from no items tells if there will be any
        if not self.upkeep.model_for(location, draft.title, draft.text, Background()).key_terms():
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
        """Rebuild the relevance model of one or every article from the newest stored items,
        then score every stored item again: links are added, updated or removed to match."""
        models = self.upkeep.rebuild(self._articles(article_id), rescore_all=True)
        self.upkeep.rescore(None)
        return models

    def refresh_models(self, items: int | None = None) -> bool:
        """Rebuild the models the stored items have outgrown, and rescore up to ``items`` stored
        items with them (None: all). True when a model was rebuilt. ``tracker poll`` and the
        service do one bounded step after each cycle; what is left waits for the next."""
        stale = self.upkeep.stale()
        if stale:
            self.upkeep.rebuild(stale)
        self.upkeep.rescore(items)
        return bool(stale)

    def explain(self, item_id: int, article_id: int | None = None) -> list[Explanation]:
        """Why an item is (or is not) linked to each article: every matched term and weight."""
        title, summary = self.store.item_text(item_id)
        doc = Doc.of(title, summary)
        wanted = {a.id for a in self._articles(article_id)}
        judgements = self.store.item_judgements(item_id)
        return [
            Explanation(
                profile.id,
                score_doc(profile, doc),
                breakdown(profile.model, doc, profile.exclude_terms),
                title,
                profile.threshold,
                profile.story_threshold,
                judgements.get(profile.id),
            )
            for profile in self.context().profiles()
            if profile.id in wanted
        ]

    # --- the analyst's judgements ----------------------------------------------------------------

    def mark(
        self, item_id: int, label: str, article_id: int | None = None, note: str | None = None
    ) -> Marked:
        """Mark an item ``story``, ``related`` or ``unrelated`` for an article: it keeps that
        label whatever the scorer says (later polls, rebuilt models, ``rescore``) until
        ``unmark``. A story or related item is linked with that tier, keeping the scorer's
        score and reasons; an unrelated one is not linked. Marking it again replaces the
        judgement (and its note). ``article_id`` may be left out when one article is tracked."""
        check_label(label)
        article = self._one_article(article_id, "marking an item")
        title, scorer = self._score_now(article, item_id)
        note = note.strip() if note and note.strip() else None
        replaced = self.store.mark(article.id, item_id, label, note, scorer, self.clock())
        judgement = self.store.judgement(article.id, item_id)
        assert judgement is not None
        return Marked(judgement, title, scorer, judged(scorer, label).tier, replaced)

    def unmark(self, item_id: int, article_id: int | None = None) -> Marked:
        """Undo ``mark``: drop the item's judgement for the article and link it exactly as the
        scorer says now (the item is scored again). JudgementError when it is not marked."""
        article = self._one_article(article_id, "unmarking an item")
        title, scorer = self._score_now(article, item_id)
        dropped = self.store.unmark(article.id, item_id, scorer, self.clock())
        return Marked(dropped, title, scorer, scorer.tier)

    def judgements(self, article_id: int | None = None) -> list[Judgement]:
        """The analyst's judgements (of one article), oldest first."""
        if article_id is not None:
            self.store.article(article_id)
        return self.store.judgements(article_id)

    def _one_article(self, article_id: int | None, what: str) -> StoredArticle:
        """The article asked for; without one, the only tracked article (ArticleNeededError
        when there are several)."""
        articles = self._articles(article_id)
        if len(articles) > 1:
            raise ArticleNeededError(tuple(a.id for a in articles), what)
        return articles[0]

    def _score_now(self, article: StoredArticle, item_id: int) -> tuple[str, Relevance]:
        """An item's title and what the scorer says of it for the article, with its model now."""
        title, summary = self.store.item_text(item_id)
        profile = article_profiles(self.config, [article])[0]
        return title, score_doc(profile, Doc.of(title, summary))

    def articles(self) -> list[StoredArticle]:
        return self.store.articles()

    def article(self, article_id: int) -> StoredArticle:
        return self.store.article(article_id)

    def remove_article(self, article_id: int, *, dry_run: bool = False) -> Removal:
        """Stop tracking an article: delete it, its links to items and the outlets it cites.
        Every item stays, and so do other articles' links. An article config.yaml lists raises
        ConflictError: it would come back at the next start. ``dry_run`` changes nothing."""
        article = self.store.article(article_id)
        if self.config.article_source(article.location) is not None:
            raise ConflictError(
                f"article {article_id} ({article.location}) is listed in {self.config.path}, "
                "so it would come back at the next start: remove it there first"
            )
        counts = self.store.remove_article(article_id, dry_run=dry_run)
        return Removal(f"article {article_id}: {article.title}", dry_run, counts)

    def add_feed(
        self, url: str, outlet: str, kind: str = "auto", *, check: bool = True
    ) -> AddedFeed:
        """Poll another feed. Adding a feed its outlet already has changes nothing; a feed of
        another outlet raises ConflictError. URLs compare in their ``feed_url`` form.

        With ``check`` a URL not stored yet is first fetched once and parsed as a poll would:
        one that fails (a 404, a web page, not a feed) raises FeedCheckError with the reason,
        and for a web page the feeds it announces. ``check=False`` stores it unseen."""
        source = FeedSource(url=feed_url(url), outlet=outlet, kind=kind)
        checked = None
        if check and not any(f.url == source.url for f in self.store.feeds()):
            checked = self.check_feed(source.url)
        feed_id, created = self.store.add_feed(source, self.clock())
        return AddedFeed(feed_id, source.url, outlet, created, checked)

    def check_feed(self, url: str) -> ParsedFeed:
        """Fetch a URL once and parse it as a poll would, storing nothing; FeedCheckError
        says why it is not a feed (and, for a web page, which feeds it announces)."""
        try:
            page = safe_get(self.client, url, self.config.fetch)
        except FeedError as exc:
            raise FeedCheckError(url, str(exc)) from None
        try:
            return parse_feed(page.content, page.headers, page.url)
        except NotAFeedError as exc:
            raise FeedCheckError(
                url, str(exc), tuple(discover_feed_links(page.content, page.url))
            ) from None
        except FeedError as exc:
            raise FeedCheckError(url, str(exc)) from None

    def feeds(self) -> list[FeedRow]:
        return self.store.feeds()

    def import_opml(
        self, source: Path | bytes, *, outlet: str | None = None, dry_run: bool = False
    ) -> list[PlannedFeed]:
        """Add the feeds an OPML file lists (a path, or its bytes); return what became of each.

        A feed's outlet is ``outlet`` when given, else the stored outlet whose domains hold its
        host (rss.dw.com joins DW), else the name the file gives it. Feeds already stored, and
        URLs that are another outlet's feed or not http(s), change nothing and are reported.
        The feeds are not fetched: the next poll tries them. ``dry_run`` writes nothing."""
        name = str(source) if isinstance(source, Path) else "OPML file"
        if isinstance(source, Path):
            try:
                source = source.read_bytes()
            except OSError as exc:
                raise OPMLError(f"{name}: cannot read it: {exc.strerror or exc}") from None
        listed = read_opml(source, name)
        stored = {f.url: f.outlet for f in self.store.feeds()}
        domains = [(o.name, o.domains) for o in self.store.outlets()]
        plan = plan_import(listed, stored, domains, outlet.strip() if outlet else None)
        if not dry_run:
            for feed in plan:
                if feed.action == "add":
                    source_ = FeedSource(feed.url, feed.outlet, feed.kind, feed.note)
                    self.store.add_feed(
                        source_, self.clock(), origin="opml", homepage=feed.homepage or None
                    )
        return plan

    def export_opml(self, *, include_disabled: bool = False) -> bytes:
        """The feeds (enabled ones, or all) as an OPML 2.0 document, one outline per outlet."""
        homepages = {o.name: o.homepage or "" for o in self.store.outlets()}
        feeds = [
            ExportedFeed(
                url=f.url,
                outlet=f.outlet,
                kind=f.kind or "auto",
                title=f.title or "",
                note=f.note or "",
                homepage=homepages.get(f.outlet, ""),
            )
            for f in self.store.feeds()
            if f.enabled or include_disabled
        ]
        title = f"tracker feeds ({self.config.path.name})"
        return write_opml(feeds, title=title, created=self.clock())

    def remove_feed(self, feed_id: int, *, dry_run: bool = False) -> Removal:
        """Delete a feed with its fetch log and sightings, and the items no other feed carried
        (with their links to articles, versions, keys and the stories they leave empty).

        Items another feed also carried stay, links and all (those stored under this feed move
        to the other feed); the outlet stays. A feed config.yaml lists raises ConflictError:
        it would come back at the next start. ``dry_run`` counts and changes nothing."""
        feed = self.store.feed_state(feed_id)
        if any(f.url == feed.url for f in self.config.feeds):
            raise ConflictError(
                f"feed {feed_id} ({feed.outlet}) {feed.url} is listed in {self.config.path}, so "
                "it would come back at the next start: remove it there first, or disable it"
            )
        counts = self.store.remove_feed(feed_id, dry_run=dry_run)
        return Removal(f"feed {feed_id} ({feed.outlet}) {feed.url}", dry_run, counts)

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
        A day that has not started yet, or a format that is none of ``FORMATS``, raises
        ``DigestError``.
        """
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise DigestError(
                f"digest: formats are {', '.join(FORMATS)}; got {', '.join(formats) or 'none'}"
            )
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
    ) -> list[SearchHit]:
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
            raise QueryError(
                "prune: ", Argument("older_than"), " must be a positive age such as 90d"
            )
        with naming("older_than"):
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
        """``since`` and ``until`` as times; a window that ends before it starts is an error,
        not a silent empty result."""
        start, end = self._when(since, "since"), self._when(until, "until")
        if start is not None and end is not None and start >= end:
            order = "after" if start > end else "the same time as"
            since_, until_ = Argument("since"), Argument("until")
            raise QueryError(
                *(since_, f" {_shown(since)} is {order} ", until_, f" {_shown(until)}: "),
                *("nothing can match (", since_, " is the start, ", until_, " the end)"),
            )
        return start, end

    def _outlet_id(self, outlet: str | None) -> int | None:
        if outlet is None:
            return None
        if not outlet.strip():
            raise QueryError(Argument("outlet"), ": the outlet name is empty")
        return self.store.outlet_id(outlet.strip())

    def _when(self, value: datetime | str | None, argument: str) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        with naming(argument):
            return parse_when(value, self.clock(), self.config.tz)

    # --- service ---------------------------------------------------------------------------------

    def status(self) -> StatusReport:
        """Whether the service runs (pid, up since, heartbeat), its last cycle, feed health."""
        return service_status(self.store, self.config.lock_path, self.clock())

    def use_config(self, config: Config) -> list[str]:
        """Switch to a (re)loaded config.yaml with the same database; return problems found.

        Outlets and feeds are synced (feeds dropped from the file are disabled, new ones are due
        at once) and articles not registered yet are added; an article that cannot be read is
        reported, not fatal. Politeness settings apply to requests started from now on.
        """
        self._sync_sources(config)
        old, self.config = self.config, config
        if self._upkeep is not None:
            self._upkeep.config = config
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
class Removal:
    """What removing a feed or an article deleted (or, in a dry run, would delete)."""

    #: the feed or article, named for a person: "feed 3 (DW) https://…"
    what: str
    dry_run: bool
    #: rows per table (see FEED_REMOVAL_COUNTS and ARTICLE_REMOVAL_COUNTS)
    counts: dict[str, int]


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
