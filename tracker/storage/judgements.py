"""The analyst's judgements, and the one place where a link to an article is written.

An item marked ``story``, ``related`` or ``unrelated`` for an article keeps that label whatever
the scorer says. Every writer of links (a poll's ``link_item``, the models' ``rescore_chunk``,
``replace_links``, ``mark`` and ``unmark``) goes through ``_link`` here, which looks the
judgement up and applies it with ``judged``: a writer passes the scorer's verdict and cannot
forget the analyst's. A judged story or related item is linked with the judged tier and the
scorer's score and reasons, plus one saying it was marked; an item judged unrelated is not
linked. Judgements go with their item or article (ON DELETE CASCADE).

The scorer learns from an article's judgements (``score.judged``): ``judged_texts`` reads them
with their items' text, and ``mark`` and ``unmark`` start a rescore of the stored items (the
article's rescore cursor, which the models' upkeep works through) so items like a marked one
follow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from ..errors import JudgementError
from ..models import LABELS, Judgement, Relevance
from .base import StoreBase
from .rows import to_db

#: how the reason an analyst's judgement adds starts (the digest leaves it out of the terms)
MARKED = "marked "


class JudgedText(NamedTuple):
    """A judged item's text and label, as the scorer learns from it."""

    item_id: int
    title: str
    summary: str
    label: str


def judged(relevance: Relevance, label: str | None) -> Relevance:
    """The link the scorer's verdict makes under the analyst's label (None: not judged): the
    label's tier (``none`` for unrelated), the scorer's score and reasons, and a reason saying
    it was marked and what the score alone gives."""
    if label is None:
        return relevance
    tier = "none" if label == "unrelated" else label
    reasons = (*relevance.reasons, marked_reason(label, relevance.tier))
    return replace(relevance, tier=tier, reasons=reasons)


def marked_reason(label: str, scorer_tier: str) -> str:
    alone = "not linked" if scorer_tier == "none" else scorer_tier
    return f"{MARKED}{label} by you (the score alone: {alone})"


def is_marked_reason(reason: str) -> bool:
    return reason.startswith(MARKED) and " by you (the score alone: " in reason


def check_label(label: str) -> str:
    if label not in LABELS:
        raise JudgementError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
    return label


class JudgementsMixin(StoreBase):
    # --- reading ---------------------------------------------------------------------------------

    def judgement(self, article_id: int, item_id: int) -> Judgement | None:
        rows = self._rows(
            "SELECT * FROM judgements WHERE article_id = ? AND item_id = ?", (article_id, item_id)
        )
        return Judgement(**rows[0]) if rows else None

    def item_judgements(self, item_id: int) -> dict[int, Judgement]:
        """An item's judgements, by article id."""
        rows = self._rows("SELECT * FROM judgements WHERE item_id = ?", (item_id,))
        return {row["article_id"]: Judgement(**row) for row in rows}

    def judgements(self, article_id: int | None = None) -> list[Judgement]:
        """Every judgement (of one article), oldest first."""
        where, params = ("WHERE article_id = ?", (article_id,)) if article_id else ("", ())
        rows = self._rows(
            f"SELECT * FROM judgements {where} ORDER BY judged_at, article_id, item_id", params
        )
        return [Judgement(**row) for row in rows]

    def judged_texts(self, article_ids: Sequence[int]) -> dict[int, list[JudgedText]]:
        """The judged items of the given articles with their text, by article id, oldest
        judgement first: what the scorer learns from (``score.judged``). One query."""
        if not article_ids:
            return {}
        rows = self._x(
            "SELECT j.article_id, j.item_id, i.title, coalesce(i.summary, ''), j.label "
            "FROM judgements j JOIN items i ON i.id = j.item_id "
            f"WHERE j.article_id IN ({','.join('?' * len(article_ids))}) "
            "ORDER BY j.judged_at, j.item_id",
            list(article_ids),
        )
        out: dict[int, list[JudgedText]] = {}
        for article_id, item_id, title, summary, label in rows.fetchall():
            out.setdefault(article_id, []).append(JudgedText(item_id, title, summary, label))
        return out

    def _labels_between(self, article_id: int, low: int, high: int) -> dict[int, str]:
        """The labels of an article's judged items with ids ``low``..``high``."""
        rows = self._x(
            "SELECT item_id, label FROM judgements WHERE article_id = ? "
            "AND item_id BETWEEN ? AND ?",
            (article_id, low, high),
        )
        return dict(rows.fetchall())

    # --- marking ---------------------------------------------------------------------------------

    def mark(
        self,
        article_id: int,
        item_id: int,
        label: str,
        note: str | None,
        relevance: Relevance,
        now: datetime,
    ) -> Judgement | None:
        """Judge an item for an article (replacing an earlier judgement) and link it as the
        label says; ``relevance`` is the scorer's verdict now. Returns the earlier judgement."""
        check_label(label)
        with self.transaction():
            before = self.judgement(article_id, item_id)
            self._x(
                "INSERT INTO judgements (article_id, item_id, label, judged_at, note) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(article_id, item_id) DO UPDATE SET "
                "label = excluded.label, judged_at = excluded.judged_at, note = excluded.note",
                (article_id, item_id, label, to_db(now), note),
            )
            self._link(article_id, item_id, relevance, now)
            self._rescore_after_marks(article_id)
        return before

    def unmark(
        self, article_id: int, item_id: int, relevance: Relevance, now: datetime
    ) -> Judgement:
        """Drop an item's judgement for an article and link it as ``relevance`` (the scorer's
        verdict now) says. Returns the judgement dropped; JudgementError when there was none."""
        with self.transaction():
            before = self.judgement(article_id, item_id)
            if before is None:
                raise JudgementError(
                    f"item {item_id} is not marked for article {article_id}: nothing to undo"
                )
            self._x(
                "DELETE FROM judgements WHERE article_id = ? AND item_id = ?",
                (article_id, item_id),
            )
            self._link(article_id, item_id, relevance, now)
            self._rescore_after_marks(article_id)
        return before

    def _rescore_after_marks(self, article_id: int) -> None:
        """The scorer learns from the marks (``score.judged``): start a rescore of the stored
        items from the newest, as after a model change, so items like a marked one follow. The
        models' upkeep works through it a bounded step at a time."""
        self._x(
            "UPDATE articles SET rescore_cursor = (SELECT max(id) FROM items) WHERE id = ?",
            (article_id,),
        )

    # --- writing links: the only place -----------------------------------------------------------

    def _link(
        self,
        article_id: int,
        item_id: int,
        relevance: Relevance,
        now: datetime,
        labels: dict[int, str] | None = None,
    ) -> None:
        """Write the scorer's verdict on an item as the article's link, under the analyst's
        judgement: linked, updated or unlinked. ``labels`` are the judgements already read for
        a range of items (None: look this item's up)."""
        if labels is None:
            row = self._x(
                "SELECT label FROM judgements WHERE article_id = ? AND item_id = ?",
                (article_id, item_id),
            ).fetchone()
            label = row[0] if row else None
        else:
            label = labels.get(item_id)
        link = judged(relevance, label)
        if link.tier == "none":
            self._x(
                "DELETE FROM article_items WHERE article_id = ? AND item_id = ?",
                (article_id, item_id),
            )
            return
        self._x(
            "INSERT INTO article_items (article_id, item_id, score, story_score, tier, reasons, "
            "linked_at, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(article_id, item_id) DO UPDATE SET score = excluded.score, "
            "story_score = excluded.story_score, tier = excluded.tier, "
            "reasons = excluded.reasons, scored_at = excluded.scored_at",
            (
                article_id,
                item_id,
                round(link.score, 4),
                round(link.story_score, 4),
                link.tier,
                json.dumps(list(link.reasons), ensure_ascii=False),
                to_db(now),
                to_db(now),
            ),
        )


#: the items of an article its judgements link whatever the scorer says (for a writer's DELETE)
JUDGED_LINKED = "SELECT item_id FROM judgements WHERE article_id = ? AND label != 'unrelated'"
