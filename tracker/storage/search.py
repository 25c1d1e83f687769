"""The configured time zone's offsets (for local days in SQL) and full-text search."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ..errors import Argument, QueryError
from ..models import SearchHit
from .base import StoreBase
from .reported import REPORTED_AT
from .rows import to_db


class SearchMixin(StoreBase):
    def timezone(self) -> str:
        """The zone timezone_spans holds (what daily_coverage's local days are in)."""
        row = self._x("SELECT timezone FROM timezone_spans ORDER BY starts_at LIMIT 1").fetchone()
        return row[0] if row else "UTC"

    def sync_timezone(self, name: str, spans: Sequence[tuple[str, str, int]]) -> bool:
        """Replace timezone_spans with the given (starts_at, ends_at, offset_minutes) spans."""
        stored = self._x(
            "SELECT starts_at, ends_at, offset_minutes, timezone FROM timezone_spans "
            "ORDER BY starts_at"
        ).fetchall()
        wanted = [(*span, name) for span in spans]
        if stored == wanted:
            return False
        with self.transaction():
            self._x("DELETE FROM timezone_spans")
            self.db.conn.executemany(
                "INSERT INTO timezone_spans (starts_at, ends_at, offset_minutes, timezone) "
                "VALUES (?, ?, ?, ?)",
                wanted,
            )
        return True

    def search(
        self,
        match: str,
        *,
        article_id: int | None = None,
        outlet_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 20,
    ) -> list[SearchHit]:
        """Items matching an FTS5 query, best first (bm25; a title match counts double).

        Matches are ranked inside the full-text index and only the best ``limit`` are joined
        to their items, so a common word costs microseconds per match, not an item read each.
        """
        where = ["items_fts MATCH :match"]
        params: dict[str, str | int] = {"match": match}
        if article_id is not None:
            where.append(
                "items_fts.rowid IN (SELECT item_id FROM article_items WHERE article_id = :article)"
            )
            params["article"] = article_id
        for clause, name, value in (
            ("items.outlet_id = :outlet", "outlet", outlet_id),
            (f"{REPORTED_AT} >= :since", "since", to_db(since)),
            (f"{REPORTED_AT} < :until", "until", to_db(until)),
        ):
            if value is not None:
                where.append(clause)
                params[name] = value
        # outlet and time filters read the item; without them the index alone ranks
        needs_items = any(name in params for name in ("outlet", "since", "until"))
        sql = SEARCH_SQL.format(
            reported_at=REPORTED_AT,
            join="JOIN items ON items.id = items_fts.rowid" if needs_items else "",
            where=" AND ".join(where),
            limit="LIMIT :limit" if limit else "",
        )
        params["limit"] = limit or -1
        try:
            return [SearchHit(**r) for r in self._rows(sql, params)]
        except sqlite3.OperationalError as exc:
            raise QueryError(
                f"search: {match!r} is not a valid full-text query ({exc}); ",
                *_fts_hint(match, str(exc)),
            ) from None


def _fts_hint(match: str, error: str) -> tuple[str, ...]:
    """What to write instead, for the FTS5 mistakes people make most (in pieces: the
    ``literal`` argument is named as the caller names it)."""
    literal = Argument("literal")
    if "no such column" in error and "-" in match:
        # FTS5 reads "-russia" (and "ukraine-russia") as a column filter, not as negation
        return (
            "a '-' is not negation in this syntax: write 'ukraine NOT russia' to leave a word "
            'out, put hyphenated words in double quotes ("ukraine-russia"), or use ',
            literal,
        )
    if "no such column" in error:
        return (
            "'word:' filters on a column (title or summary): put the text in double quotes, or "
            "use ",
            literal,
        )
    return (
        'put phrases in double quotes ("security guarantees"), or use ',
        literal,
        " to match the words as typed",
    )


SEARCH_SQL = """
WITH best AS (
  SELECT items_fts.rowid AS id, bm25(items_fts, 2.0, 1.0) AS rank
  FROM items_fts {join}
  WHERE {where}
  ORDER BY rank, items_fts.rowid DESC
  {limit}
)
SELECT
  items.id AS item_id,
  outlets.name AS outlet,
  items.published_at,
  items.first_seen_at,
  {reported_at} AS reported_at,
  items.title,
  items.url,
  (SELECT group_concat(article_id) FROM article_items WHERE item_id = items.id) AS articles,
  round(best.rank, 3) AS rank
FROM best
JOIN items ON items.id = best.id
JOIN outlets ON outlets.id = items.outlet_id
ORDER BY best.rank, best.id DESC
"""
