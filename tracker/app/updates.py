"""What changes the coverage: polling, rebuilding the models and rescoring, and the analyst's
judgements that override the scorer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..alerts import AlertReport, run_alerts
from ..errors import (
    ArticleNeededError,
)
from ..models import (
    CycleSummary,
    Judgement,
    Relevance,
)
from ..score.judged import explained
from ..score.model import ArticleModel
from ..score.relevance import breakdown, score_doc
from ..score.text import Doc
from ..storage import (
    StoredArticle,
    check_label,
    judged,
)
from ..update.engine import Dispatcher
from ..update.pipeline import cluster_new_items, stored_profiles
from ..update.upkeep import ITEMS_PER_STEP
from .base import TrackerBase
from .results import Explanation, Marked


class UpdatesMixin(TrackerBase):
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
        cluster_new_items(
            self.store,
            started_at,
            memo=self._cluster_terms,
            limit=self.config.relevance.recent_items,
        )
        self.refresh_models(ITEMS_PER_STEP)
        self.send_alerts(started_at)

    def send_alerts(self, started_at: datetime | None = None) -> AlertReport:
        """Queue the alerts of the cycle started at ``started_at`` (see tracker.alerts) and
        send every pending one; without it, only retry those that failed before. A target
        failing is logged and retried at the next cycle, never raised."""
        return run_alerts(self.store, self.config, self.clock, started_at)

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
                explained(profile.model, breakdown(profile.model, doc, profile.exclude_terms)),
                title,
                profile.threshold,
                profile.story_threshold,
                judgements.get(profile.id),
            )
            for profile in self.context().profiles()
            if profile.id in wanted
        ]

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
        # the scorer learns from the marks: items like this one follow, a bounded step now and
        # the rest at the next cycles
        self.upkeep.rescore(ITEMS_PER_STEP)
        judgement = self.store.judgement(article.id, item_id)
        assert judgement is not None
        return Marked(judgement, title, scorer, judged(scorer, label).tier, replaced)

    def unmark(self, item_id: int, article_id: int | None = None) -> Marked:
        """Undo ``mark``: drop the item's judgement for the article and link it exactly as the
        scorer says now (the item is scored again). JudgementError when it is not marked."""
        article = self._one_article(article_id, "unmarking an item")
        title, scorer = self._score_now(article, item_id)
        dropped = self.store.unmark(article.id, item_id, scorer, self.clock())
        self.upkeep.rescore(ITEMS_PER_STEP)
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
        """An item's title and what the scorer says of it for the article, with its model now
        (learned from the article's other marks: the item's own is not the score's)."""
        title, summary = self.store.item_text(item_id)
        profile = stored_profiles(self.config, self.store, [article], leave_out=item_id)[0]
        return title, score_doc(profile, Doc.of(title, summary))
