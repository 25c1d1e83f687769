"""The background service's records, written through the facade: its runs and heartbeats, its
cycles and the digests it wrote (``tracker status`` reads them back)."""

from __future__ import annotations

from datetime import date, datetime

from ..update.engine import CycleReport
from .base import TrackerBase


class ServiceLogMixin(TrackerBase):
    def start_service_run(
        self, *, pid: int, host: str, version: str, heartbeat_every: float
    ) -> int:
        """Record that the service started (and that an earlier run left without a stop
        record was killed or crashed); returns the run's id."""
        return self.store.start_service_run(
            pid=pid,
            host=host,
            version=version,
            config=str(self.config.path),
            heartbeat_every=heartbeat_every,
            now=self.clock(),
        )

    def service_heartbeat(self, run_id: int, in_flight: int) -> None:
        self.store.service_heartbeat(run_id, self.clock(), in_flight)

    def finish_service_run(self, run_id: int, reason: str) -> None:
        self.store.finish_service_run(run_id, self.clock(), reason)

    def record_cycle(self, run_id: int, report: CycleReport) -> int:
        """Store the summary of one dispatch cycle; returns its id (the cycle number in logs)."""
        return self.store.record_cycle(
            run_id,
            started_at=report.started_at,
            finished_at=report.finished_at,
            due=report.due,
            cancelled=report.cancelled,
            summary=report.summary,
        )

    def first_service_start(self) -> datetime | None:
        """When the service first ran on this database."""
        return self.store.first_service_start()

    def digest_days_written(self, since: date) -> set[date]:
        """Days from ``since`` on whose digest the service wrote successfully."""
        return self.store.digest_days_written(since)

    def record_digest(
        self, day: date, *, run_id: int, trigger: str, error: str | None = None
    ) -> None:
        """Record that the service wrote a day's digest, or (``error``) failed to."""
        self.store.record_digest(day, run_id=run_id, trigger=trigger, now=self.clock(), error=error)

    def database_problem(self) -> str | None:
        """Why the database file opened is no longer the one at its path (deleted or replaced),
        or None."""
        return self.store.file_problem()

    def keep_to_this_thread(self) -> None:
        """From now on only the calling thread may use the database; what other threads still
        write is rolled back (the service's stop, after its grace period)."""
        self.store.keep_to_this_thread()
