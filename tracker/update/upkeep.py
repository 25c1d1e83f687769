"""Keeping the tracked articles' relevance models current, between polls.

A model learns from stored coverage (``score.model``). As coverage grows it is rebuilt, from
the newest items only (``score.background``: the same cost with ten thousand stored items or a
million), once the items stored since it was built reach a quarter of what it learned from.
When the new model would score differently (``model.changed_enough``), the stored items are
rescored with it, newest first, a chunk at a time, each chunk one short transaction; a step does
at most ``ITEMS_PER_STEP`` items, so no poll waits on it for long, and the next step (after the
next cycle, or the service's upkeep job) goes on where it stopped. Items polled meanwhile are
scored with the new model already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..errors import ArticleError
from ..models import Clock
from ..score.background import DEFAULT_SIZE, Background, DocCache
from ..score.model import ArticleModel, build_model, changed_enough
from ..score.relevance import ArticleProfile, score_doc
from ..score.text import Doc
from ..storage import Store, StoredArticle
from .pipeline import stored_profiles

#: a model is rebuilt when the items stored since it was built reach this share of what it
#: learned from (and at least MODEL_MIN_GROWTH items)
MODEL_GROWTH = 0.25
MODEL_MIN_GROWTH = 20
#: items rescored per transaction, and per step
CHUNK = 500
ITEMS_PER_STEP = 2_000


@dataclass
class Upkeep:
    config: Config
    store: Store
    clock: Clock
    background_size: int = DEFAULT_SIZE
    #: items the polls tokenised already (score_links), so they are not tokenised again here
    docs: DocCache | None = None
    _background: Background | None = field(default=None, repr=False)

    def step(self, items: int | None = ITEMS_PER_STEP) -> bool:
        """Rebuild the stale models and rescore up to ``items`` stored items (None: all).
        Returns True when no rescoring is left."""
        stale = self.stale()
        if stale:
            self.rebuild(stale)
        return self.rescore(items)

    def stale(self) -> list[StoredArticle]:
        newest = self.store.newest_item_id()
        return [a for a in self.store.articles() if _grown(a.model, newest)]

    def rebuild(
        self, articles: Sequence[StoredArticle], *, rescore_all: bool = False
    ) -> dict[int, ArticleModel]:
        """New models from the newest stored items; a model that scores differently (or, with
        ``rescore_all``, every one) starts a rescore of the stored items."""
        background = self.background()
        models = {}
        for article in articles:
            model = self.model_for(article.location, article.title, article.text, background)
            old = ArticleModel.from_json(article.model) if article.model.get("entities") else None
            rescore = rescore_all or old is None or changed_enough(old, model)
            self.store.save_article_model(
                article.id,
                {**model.to_json(), "built_upto": background.newest},
                model.key_terms(),
                rescore_from=self.store.newest_item_id() if rescore else None,
            )
            models[article.id] = model
        return models

    def model_for(
        self, location: str, title: str, text: str | None, background: Background
    ) -> ArticleModel:
        """An article's model against the background, with its include_terms from config.yaml
        and the outlets' names ignored (they are sources, not topics)."""
        if not text:
            raise ArticleError(
                f"{location}: the stored article has no text to learn from; add it again with "
                "'tracker article add'"
            )
        source = self.config.article_source(location)
        names = [n for o in self.config.outlets for n in (o.name, *o.aliases)]
        return build_model(
            title,
            text,
            background.docs,
            include_terms=source.include_terms if source else (),
            ignore_names=[*names, *self.store.outlet_names()],
            df=background.df,
            proper=background.proper_nouns(),
            outlets=background.outlets,
        )

    def background(self) -> Background:
        """The window of newest items, brought up to the newest stored one."""
        if self._background is None:
            self._background = Background(self.background_size)
        background = self._background
        newest = self.store.newest_items(background.size, after=background.newest)
        for item_id, title, summary, digest, outlet_id in newest:
            doc = self._doc(item_id, title, summary, digest)
            background.add(item_id, doc, summary, outlet_id)
        return background

    def _doc(self, item_id: int, title: str, summary: str, digest: str) -> Doc:
        """An item as the scorer reads it: from the window or the polls' cache if it is there."""
        doc = self._background.doc(item_id) if self._background else None
        doc = doc or (self.docs.get(digest) if self.docs else None)
        return doc or Doc.of(title, summary)

    def rescore(self, items: int | None = ITEMS_PER_STEP) -> bool:
        """Rescore stored items with the current models, newest first, a chunk per transaction,
        up to ``items`` of them (None: all). Returns True when none is left."""
        left = items
        for profile, article in self._pending():
            cursor = article.rescore_cursor
            while cursor is not None and (left is None or left > 0):
                rows = self.store.items_up_to(cursor, CHUNK if left is None else min(CHUNK, left))
                low = rows[-1][0] if rows else 0
                # every verdict, "none" too: an item the analyst judged is linked with its score
                scored = [(row[0], score_doc(profile, self._doc(*row))) for row in rows]
                self.store.rescore_chunk(article.id, cursor, low, scored, self.clock())
                cursor = self.store.article(article.id).rescore_cursor
                if left is not None:
                    left -= len(rows)
            if left is not None and left <= 0:
                break
        return not self._pending()

    def _pending(self) -> list[tuple[ArticleProfile, StoredArticle]]:
        articles = [a for a in self.store.articles() if a.rescore_cursor is not None]
        profiles = {p.id: p for p in stored_profiles(self.config, self.store, articles)}
        return [(profiles[a.id], a) for a in articles]


def _grown(model: dict[str, Any], newest: int) -> bool:
    """Whether the items stored since a model was built are enough to teach it something."""
    if not model.get("entities"):
        return True
    learned = int(model.get("background", 0))
    added = newest - int(model.get("built_upto", 0))
    return bool(added > max(MODEL_MIN_GROWTH, MODEL_GROWTH * learned))
