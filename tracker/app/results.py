"""What the library's commands return, beyond the rows the store reads (``tracker.models``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..ingest.articles import ArticleDraft, Citation
from ..models import (
    Judgement,
    ParsedFeed,
    Relevance,
)
from ..score.relevance import Breakdown
from ..storage import (
    PRUNED_TABLES,
    judged,
)


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
