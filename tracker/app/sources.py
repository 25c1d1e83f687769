"""What is tracked: the database's setup, articles, outlets and feeds (config.yaml's and the
ones added by hand or from OPML)."""

from __future__ import annotations

from pathlib import Path

from ..config import Config, article_location, renamed_outlets
from ..errors import (
    ArticleError,
    ConflictError,
    FeedCheckError,
    FeedError,
    NotAFeedError,
    OPMLError,
    OutputError,
    TrackerError,
)
from ..ingest.articles import ArticleDraft, cited_outlets, read_article
from ..ingest.fetch import safe_get
from ..ingest.hosts import HostGate
from ..ingest.parse import discover_feed_links, parse_feed
from ..models import (
    FeedRow,
    FeedSource,
    ParsedFeed,
)
from ..opml import ExportedFeed, PlannedFeed, plan_import, read_opml, write_opml
from ..score.background import Background
from ..storage import (
    StoredArticle,
)
from ..urls import feed_url
from .results import AddedFeed, InitReport, Registered, Removal
from .updates import UpdatesMixin


class SourcesMixin(UpdatesMixin):
    def init(self) -> InitReport:
        """Create the database and the digest directory if needed, load outlets and feeds,
        register configured articles.

        The directories exist once init has run: a sandboxed service (contrib/tracker.service)
        may write only to directories that exist when it starts."""
        self.open(create=True)
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
