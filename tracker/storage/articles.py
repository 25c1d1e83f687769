"""Tracked articles and their links to items (written under the analyst's judgements:
``storage.judgements``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..errors import NotFoundError
from ..models import CoverageRow, Relevance
from .judgements import JUDGED_LINKED, JudgementsMixin
from .reported import REPORT_ORDER_DESC, REPORTED_AT
from .rows import StoredArticle, to_db


class ArticlesMixin(JudgementsMixin):
    def link_item(self, article_id: int, item_id: int, relevance: Relevance, now: datetime) -> None:
        """Link an item as the scorer's verdict ``relevance`` says, unless the analyst judged
        it (``storage.judgements``): then as the judgement says."""
        self._link(article_id, item_id, relevance, now)

    def save_article(
        self,
        *,
        location: str,
        url: str | None,
        title: str,
        published_at: datetime | None,
        text: str,
        key_terms: dict[str, float],
        cited: Sequence[tuple[str, str]],
        now: datetime,
    ) -> int:
        """Insert or refresh an article (matched by location); ``cited`` is (outlet, evidence)."""
        with self.transaction():
            self._x(
                "INSERT INTO articles (location, url, title, published_at, text, key_terms, "
                "added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(location) DO "
                "UPDATE SET url = excluded.url, title = excluded.title, "
                "published_at = excluded.published_at, text = excluded.text, "
                "key_terms = excluded.key_terms, updated_at = excluded.updated_at",
                (
                    location,
                    url,
                    title,
                    to_db(published_at),
                    text,
                    json.dumps(key_terms, ensure_ascii=False),
                    to_db(now),
                    to_db(now),
                ),
            )
            article_id = self._x(
                "SELECT id FROM articles WHERE location = ?", (location,)
            ).fetchone()[0]
            self._x("DELETE FROM article_outlets WHERE article_id = ?", (article_id,))
            for outlet, evidence in cited:
                self._x(
                    "INSERT OR IGNORE INTO article_outlets (article_id, outlet_id, evidence) "
                    "VALUES (?, ?, ?)",
                    (article_id, self._outlet_id(outlet), evidence),
                )
        return int(article_id)

    def move_article(self, article_id: int, location: str) -> None:
        """Store an article under another spelling of its location (its resolved path)."""
        with self.transaction():
            self._x("UPDATE articles SET location = ? WHERE id = ?", (location, article_id))

    def articles(self) -> list[StoredArticle]:
        return [self._article(r) for r in self._rows("SELECT * FROM articles ORDER BY id")]

    def article(self, article_id: int) -> StoredArticle:
        rows = self._rows("SELECT * FROM articles WHERE id = ?", (article_id,))
        if not rows:
            raise NotFoundError(f"no article with id {article_id} (see 'tracker article list')")
        return self._article(rows[0])

    def _article(self, row: dict[str, Any]) -> StoredArticle:
        cited = self._rows(
            "SELECT outlets.name FROM article_outlets JOIN outlets ON outlets.id = outlet_id "
            "WHERE article_id = ? ORDER BY outlets.name",
            (row["id"],),
        )
        return StoredArticle(
            id=row["id"],
            location=row["location"],
            url=row["url"],
            title=row["title"],
            published_at=row["published_at"],
            text=row["text"],
            key_terms=json.loads(row["key_terms"]),
            cited_outlets=tuple(r["name"] for r in cited),
            added_at=row["added_at"],
            model=json.loads(row["model"] or "{}"),
            rescore_cursor=row["rescore_cursor"],
        )

    def coverage(
        self,
        article_ids: Sequence[int],
        *,
        limit: int | None = None,
        tier: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outlet_id: int | None = None,
    ) -> list[CoverageRow]:
        """Items linked to the articles, latest reported first (``storage.reported``), with the
        analyst's judgement (``judgement``: story or related, or None) and its note.

        ``since`` and ``until`` bound the reported time, as search and export do."""
        for article_id in article_ids:
            self.article(article_id)
        if not article_ids:
            return []
        where = [f"article_items.article_id IN ({','.join('?' * len(article_ids))})"]
        params: list[Any] = list(article_ids)
        for clause, value in (
            ("article_items.tier = ?", tier),
            (f"{REPORTED_AT} >= ?", to_db(since)),
            (f"{REPORTED_AT} < ?", to_db(until)),
            ("items.outlet_id = ?", outlet_id),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = (
            "SELECT article_items.article_id, items.id AS item_id, outlets.name AS outlet, "
            f"{REPORTED_AT} AS reported_at, items.first_seen_at, items.published_at, "
            "items.title, items.url, items.summary, article_items.score, "
            "article_items.story_score, article_items.tier, article_items.reasons, "
            "items.story_id, judgements.label AS judgement, judgements.note AS judgement_note "
            "FROM article_items JOIN items ON items.id = article_items.item_id "
            "JOIN outlets ON outlets.id = items.outlet_id "
            "LEFT JOIN judgements ON judgements.article_id = article_items.article_id "
            f"AND judgements.item_id = article_items.item_id WHERE {' AND '.join(where)} "
            f"ORDER BY {REPORT_ORDER_DESC}, article_items.article_id"
        )
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [
            CoverageRow(**{**row, "reasons": tuple(json.loads(row["reasons"]))})
            for row in self._rows(sql, params)
        ]

    def save_article_model(
        self,
        article_id: int,
        model: dict[str, Any],
        key_terms: dict[str, float],
        rescore_from: int | None = None,
    ) -> None:
        """Store an article's new model; ``rescore_from`` (an item id) starts a rescore of the
        items up to it, which ``rescore_chunk`` then works through."""
        with self.transaction():
            self._x(
                "UPDATE articles SET model = ?, key_terms = ?, "
                "rescore_cursor = coalesce(?, rescore_cursor) WHERE id = ?",
                (
                    json.dumps(model, ensure_ascii=False),
                    json.dumps(key_terms, ensure_ascii=False),
                    rescore_from,
                    article_id,
                ),
            )

    def rescore_chunk(
        self,
        article_id: int,
        high: int,
        low: int,
        scored: Sequence[tuple[int, Relevance]],
        now: datetime,
    ) -> None:
        """Make an article's links among items ``low``..``high`` what the scorer's verdicts
        ``scored`` say (an item left out, or of tier ``none``, is not linked) under the analyst's
        judgements, and move its rescore cursor below them (NULL when no item is left): one
        short transaction. An item judged story or related stays linked whatever ``scored``
        says; one judged unrelated is never linked."""
        with self.transaction():
            labels = self._labels_between(article_id, low, high)
            links = [(i, r) for i, r in scored if r.tier != "none" or i in labels]
            kept = [item_id for item_id, _ in links]
            self._x(
                f"DELETE FROM article_items WHERE article_id = ? AND item_id BETWEEN ? AND ? "
                f"AND item_id NOT IN ({','.join('?' * len(kept))}) "
                f"AND item_id NOT IN ({JUDGED_LINKED})",
                [article_id, low, high, *kept, article_id],
            )
            for item_id, relevance in links:
                self._link(article_id, item_id, relevance, now, labels)
            self._x(
                "UPDATE articles SET rescore_cursor = "
                "(SELECT max(id) FROM items WHERE id < ?) WHERE id = ?",
                (low, article_id),
            )

    def replace_links(
        self, article_id: int, links: Sequence[tuple[int, Relevance]], now: datetime
    ) -> None:
        """Make an article's links exactly ``links`` (after a rescore), under the analyst's
        judgements (as ``rescore_chunk``); kept ones keep linked_at."""
        with self.transaction():
            self._x("CREATE TEMP TABLE IF NOT EXISTS keep_links (item_id INTEGER PRIMARY KEY)")
            self._x("DELETE FROM keep_links")
            self.db.conn.executemany(
                "INSERT INTO keep_links VALUES (?)", [(item_id,) for item_id, _ in links]
            )
            self._x(
                "DELETE FROM article_items WHERE article_id = ? "
                "AND item_id NOT IN (SELECT item_id FROM keep_links) "
                f"AND item_id NOT IN ({JUDGED_LINKED})",
                (article_id, article_id),
            )
            for item_id, relevance in links:
                self._link(article_id, item_id, relevance, now)
