"""The background service's own records: runs, heartbeats, cycles and digests written."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime

from ..models import CycleSummary, ServiceCycle, ServiceDigest, ServiceRun
from .base import StoreBase
from .rows import from_db, to_db


class ServiceLogMixin(StoreBase):
    def start_service_run(
        self,
        *,
        pid: int,
        host: str,
        version: str,
        config: str,
        heartbeat_every: float,
        now: datetime,
    ) -> int:
        """Record a service start; an earlier run without a stop record was killed or crashed."""
        with self.transaction():
            self._x(
                "UPDATE service_runs SET stopped_at = heartbeat_at, "
                "stop_reason = 'not stopped cleanly (killed or crashed)' WHERE stopped_at IS NULL"
            )
            cursor = self._x(
                "INSERT INTO service_runs (pid, host, version, config, started_at, heartbeat_at, "
                "heartbeat_every, in_flight) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (pid, host, version, config, to_db(now), to_db(now), heartbeat_every),
            )
        return int(cursor.lastrowid or 0)

    def service_heartbeat(self, run_id: int, now: datetime, in_flight: int) -> None:
        with self.transaction():
            self._x(
                "UPDATE service_runs SET heartbeat_at = ?, in_flight = ? WHERE id = ?",
                (to_db(now), in_flight, run_id),
            )

    def finish_service_run(self, run_id: int, now: datetime, reason: str) -> None:
        with self.transaction():
            self._x(
                "UPDATE service_runs SET heartbeat_at = ?, stopped_at = ?, stop_reason = ?, "
                "in_flight = 0 WHERE id = ?",
                (to_db(now), to_db(now), reason, run_id),
            )

    def service_runs(self, limit: int = 1) -> list[ServiceRun]:
        """The latest runs of the service, newest first."""
        rows = self._rows(
            f"SELECT {_columns(ServiceRun)} FROM service_runs ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [ServiceRun(**r) for r in rows]

    def first_service_start(self) -> datetime | None:
        """When the service first ran on this database."""
        return from_db(self._x("SELECT min(started_at) FROM service_runs").fetchone()[0])

    def record_cycle(
        self,
        run_id: int,
        *,
        started_at: datetime,
        finished_at: datetime,
        due: int,
        cancelled: int,
        summary: CycleSummary,
    ) -> int:
        """Store the summary of one dispatch cycle; returns its id (the cycle number in logs)."""
        with self.transaction():
            cursor = self._x(
                "INSERT INTO service_cycles (run_id, started_at, finished_at, duration_ms, "
                "feeds_due, feeds_polled, ok, not_modified, errors, cancelled, items_new, "
                "items_updated, items_linked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    to_db(started_at),
                    to_db(finished_at),
                    summary.duration_ms,
                    due,
                    len(summary.results),
                    summary.count("ok"),
                    summary.count("not-modified") + summary.count("unchanged"),
                    summary.count("error"),
                    cancelled,
                    summary.items_new,
                    sum(r.items_updated for r in summary.results),
                    summary.items_linked,
                ),
            )
        return int(cursor.lastrowid or 0)

    def service_cycles(self, limit: int = 1) -> list[ServiceCycle]:
        """The latest dispatch cycles, newest first."""
        rows = self._rows(
            f"SELECT {_columns(ServiceCycle)} FROM service_cycles ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [ServiceCycle(**r) for r in rows]

    def digest_days_written(self, since: date) -> set[date]:
        """Days from ``since`` on whose digest the service wrote successfully."""
        rows = self._rows(
            "SELECT day FROM service_digests WHERE result = 'ok' AND day >= ?",
            (since.isoformat(),),
        )
        return {date.fromisoformat(r["day"]) for r in rows}

    def record_digest(
        self, day: date, *, run_id: int, trigger: str, now: datetime, error: str | None = None
    ) -> None:
        with self.transaction():
            self._x(
                "INSERT INTO service_digests (day, run_id, trigger, attempted_at, result, error, "
                "attempts) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT(day) DO UPDATE SET "
                "run_id = excluded.run_id, trigger = excluded.trigger, "
                "attempted_at = excluded.attempted_at, result = excluded.result, "
                "error = excluded.error, attempts = attempts + 1",
                (day.isoformat(), run_id, trigger, to_db(now), "error" if error else "ok", error),
            )

    def service_digests(self, limit: int = 3) -> list[ServiceDigest]:
        """The digests the service wrote or tried to, latest day first."""
        rows = self._rows(
            f"SELECT {_columns(ServiceDigest)} FROM service_digests ORDER BY day DESC LIMIT ?",
            (limit,),
        )
        return [ServiceDigest(**r) for r in rows]


def _columns(row: type[ServiceRun | ServiceCycle | ServiceDigest]) -> str:
    """The columns of a row type, which are its table's (named, not ``*``: a row holds exactly
    these whatever order migrations left the table's columns in)."""
    return ", ".join(f.name for f in fields(row))
