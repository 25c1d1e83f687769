"""Which daily digests the service owes, and writing them each once.

The digest of local day D covers the items first seen on D, so it is written when D is over: at
``digest.time`` on D+1 (the morning briefing of yesterday). The service owes every day whose due
moment passed since it first ran on this database and that is not written yet: at start-up that
is the catch-up of the days missed while it was down (or that failed), at ``digest.time`` it is
yesterday. Nothing older than ``digest.keep`` days is written, and no day before the service
first ran. The digest writer itself is a plain callable ``writer(day)`` (the digest issue's
``Tracker.write_digest``), injected.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..config import Config
from ..errors import TrackerError
from ..models import Clock

if TYPE_CHECKING:
    from ..app import Tracker

log = logging.getLogger(__name__)

DigestWriter = Callable[[date], object]


def due_moment(day: date, at: str, tz: ZoneInfo) -> datetime:
    """When the digest of ``day`` is due: ``at`` (HH:MM) local time on the next day."""
    hour, minute = (int(part) for part in at.split(":"))
    return datetime.combine(day + timedelta(days=1), time(hour, minute), tzinfo=tz)


def days_owed(
    now: datetime, at: str, tz: ZoneInfo, since: datetime, written: set[date], keep: int
) -> list[date]:
    """Days whose digest fell due after ``since`` and by ``now``, not written, at most ``keep``."""
    latest = now.astimezone(tz).date()
    while due_moment(latest, at, tz) > now:
        latest -= timedelta(days=1)
    earliest = since.astimezone(tz).date() - timedelta(days=1)
    while due_moment(earliest, at, tz) <= since:
        earliest += timedelta(days=1)
    earliest = max(earliest, latest - timedelta(days=keep - 1))
    days = (earliest + timedelta(days=n) for n in range((latest - earliest).days + 1))
    return [day for day in days if day not in written]


class DailyDigests:
    """Writes the digests the service owes; called at start-up and by the daily job."""

    def __init__(
        self,
        tracker: Tracker,
        writer: DigestWriter,
        clock: Clock,
        config: Callable[[], Config],
        *,
        run_id: int,
        since: datetime,
    ) -> None:
        #: records which days were written, through the facade
        self.log = tracker
        self.writer = writer
        self.clock = clock
        self.config = config
        self.run_id = run_id
        self.since = since
        # the start-up catch-up and the daily job may overlap; a day is still written once
        self._lock = threading.Lock()

    def write_owed(self, trigger: str) -> list[date]:
        with self._lock:
            config, now = self.config(), self.clock()
            keep = config.digest.keep
            written = self.log.digest_days_written(now.date() - timedelta(days=keep + 2))
            owed = days_owed(now, config.digest.time, config.tz, self.since, written, keep)
            if not owed:
                log.debug("no digest owed (%s)", trigger)
            for day in owed:
                self._write(day, trigger)
            return owed

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no digest is being written; False on timeout."""
        if not self._lock.acquire(timeout=max(timeout, 0)):
            return False
        self._lock.release()
        return True

    def _write(self, day: date, trigger: str) -> None:
        try:
            self.writer(day)
        except TrackerError as exc:
            self._failed(day, trigger, str(exc))
            log.error("digest for %s not written (%s): %s", day, trigger, exc)
        except Exception as exc:  # a bug in the writer must not stop the service
            self._failed(day, trigger, f"{type(exc).__name__}: {exc}")
            log.exception("digest for %s failed (%s)", day, trigger)
        else:
            self.log.record_digest(day, run_id=self.run_id, trigger=trigger)
            log.info("digest for %s written (%s)", day, trigger)

    def _failed(self, day: date, trigger: str, error: str) -> None:
        self.log.record_digest(day, run_id=self.run_id, trigger=trigger, error=error)
