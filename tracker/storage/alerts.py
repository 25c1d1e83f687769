"""Alerts: what coverage is new for them, what is due to be sent, and what became of it.

A row per (article, item, target) is queued once; sending claims rows for a while
(``claimed_until``) so two cycles, or a ``tracker poll`` beside the service, never send one
twice; the result is recorded after the sending, which happens outside any transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .base import StoreBase
from .rows import AlertCandidate, ClaimedAlert, ExpiredAlerts, to_db


class AlertsMixin(StoreBase):
    def alert_candidates(self, article_id: int, since: datetime) -> list[AlertCandidate]:
        """Items linked to an article and first seen at or after ``since``."""
        rows = self._rows(
            "SELECT items.id AS item_id, items.outlet_id, outlets.name AS outlet, "
            "article_items.tier, items.title, items.url, items.first_seen_at, "
            "items.published_at FROM article_items "
            "JOIN items ON items.id = article_items.item_id "
            "JOIN outlets ON outlets.id = items.outlet_id "
            "WHERE article_items.article_id = ? AND items.first_seen_at >= ?",
            (article_id, to_db(since)),
        )
        return [AlertCandidate(**r) for r in rows]

    def outlets_linked_before(self, article_id: int, since: datetime) -> set[int]:
        """Outlets with an item linked to the article first seen before ``since``."""
        rows = self._x(
            "SELECT DISTINCT items.outlet_id FROM article_items "
            "JOIN items ON items.id = article_items.item_id "
            "WHERE article_items.article_id = ? AND items.first_seen_at < ?",
            (article_id, to_db(since)),
        )
        return {row[0] for row in rows}

    def queue_alerts(
        self,
        article_id: int,
        items: Sequence[tuple[int, str]],
        targets: Sequence[tuple[str, str]],
        now: datetime,
    ) -> int:
        """Queue (item, reason) for each (target key, target shown); an alert queued before
        for the same item and target is not queued again. Returns the rows added."""
        rows = [
            (article_id, item_id, key, shown, reason, to_db(now))
            for item_id, reason in items
            for key, shown in targets
        ]
        with self.transaction():
            before = self.db.conn.total_changes
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO alerts (article_id, item_id, target, target_url, reason, "
                "queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return self.db.conn.total_changes - before

    def claim_alerts(
        self,
        wanted: set[tuple[int, str]],
        now: datetime,
        hold_until: datetime,
        expire_before: datetime,
    ) -> tuple[list[ClaimedAlert], list[ExpiredAlerts]]:
        """Give up pending alerts queued before ``expire_before``; then claim, until
        ``hold_until``, the pending ones of the (article, target key) pairs ``wanted`` that
        nobody holds. Returns (claimed rows with their item, outlet and article; given-up
        counts per target)."""
        with self.transaction():
            expired = self._rows(
                "SELECT article_id, target_url, count(*) AS alerts, max(last_error) AS last_error "
                "FROM alerts WHERE status = 'pending' AND queued_at < ? "
                "GROUP BY article_id, target_url",
                (to_db(expire_before),),
            )
            self._x(
                "UPDATE alerts SET status = 'expired', claimed_until = NULL "
                "WHERE status = 'pending' AND queued_at < ?",
                (to_db(expire_before),),
            )
            pending = self._rows(
                "SELECT alerts.id, alerts.article_id, articles.title AS article, alerts.target, "
                "alerts.target_url, alerts.reason, alerts.attempts, items.title, items.url, "
                "outlets.name AS outlet, items.first_seen_at, items.published_at "
                "FROM alerts JOIN articles ON articles.id = alerts.article_id "
                "JOIN items ON items.id = alerts.item_id "
                "JOIN outlets ON outlets.id = items.outlet_id "
                "WHERE alerts.status = 'pending' "
                "AND (alerts.claimed_until IS NULL OR alerts.claimed_until <= ?) "
                "ORDER BY alerts.article_id, alerts.target, alerts.id",
                (to_db(now),),
            )
            claimed = [
                ClaimedAlert(**r) for r in pending if (r["article_id"], r["target"]) in wanted
            ]
            self.db.conn.executemany(
                "UPDATE alerts SET claimed_until = ? WHERE id = ?",
                [(to_db(hold_until), r.id) for r in claimed],
            )
        return claimed, [ExpiredAlerts(**r) for r in expired]

    def record_alerts(
        self, sent: Sequence[int], failed: Sequence[tuple[int, str]], now: datetime
    ) -> None:
        """After a sending: alerts ``sent`` are done; ``failed`` (id, why) stay pending for
        the next cycle, one attempt more."""
        stamp = to_db(now)
        with self.transaction():
            self.db.conn.executemany(
                "UPDATE alerts SET status = 'sent', sent_at = ?, last_attempt_at = ?, "
                "attempts = attempts + 1, claimed_until = NULL WHERE id = ?",
                [(stamp, stamp, alert_id) for alert_id in sent],
            )
            self.db.conn.executemany(
                "UPDATE alerts SET last_error = ?, last_attempt_at = ?, "
                "attempts = attempts + 1, claimed_until = NULL WHERE id = ?",
                [(why, stamp, alert_id) for alert_id, why in failed],
            )
