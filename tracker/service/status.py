"""What ``tracker status`` reports, as plain data: the CLI prints it, ``--json`` dumps it.

Whether the service runs comes from its lock (held only by a live process, whatever happened to
it), how it is doing from its heartbeat and last cycle in the database, and each feed's health
from the feeds table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from ..models import FeedRow, ServiceCycle, ServiceDigest, ServiceRun
from ..storage import Store, from_db, to_db
from .instance import LockState, probe

#: a running service whose heartbeat is older than this many intervals (plus the margin) is stuck
STALE_BEATS = 3
STALE_MARGIN = 30.0

#: `tracker status` exit codes, as systemctl and LSB init scripts use them
EXIT_CODES = {
    "running": 0,
    "starting": 0,
    "stopping": 0,
    "unresponsive": 1,
    "stopped": 3,
    "never-started": 3,
}
#: the status cannot be told (no usable config or database): LSB's "status unknown"
UNKNOWN_EXIT_CODE = 4


@dataclass(frozen=True)
class ServiceState:
    """Whether the service runs, and its latest run as the database and its lock show it."""

    #: running | starting | stopping | unresponsive | stopped | never-started
    state: str
    pid: int | None
    #: the fields below are None when the service never ran on this database
    run_id: int | None = None
    host: str | None = None
    version: str | None = None
    config: str | None = None
    started_at: str | None = None
    heartbeat_at: str | None = None
    heartbeat_age_s: int | None = None
    uptime_s: int | None = None
    in_flight: int | None = None
    stopped_at: str | None = None
    stop_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """State and pid, and the run's fields when there was a run."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        return shown if self.run_id is not None else {"state": self.state, "pid": self.pid}


@dataclass(frozen=True)
class FeedHealth:
    """A feed as ``tracker status`` shows it."""

    id: int
    outlet: str
    url: str
    enabled: bool
    disabled_reason: str | None
    last_success_at: str | None
    last_fetch_at: str | None
    last_result: str | None
    last_error: str | None
    consecutive_errors: int
    #: None for a disabled feed: it is not polled, whatever the row kept
    next_poll_at: str | None
    #: enabled and its next poll has come
    due: bool
    items: int


@dataclass(frozen=True)
class StatusTotals:
    feeds: int
    enabled: int
    disabled: int
    failing: int
    due: int
    #: the soonest next poll of an enabled feed
    next_poll_at: str | None
    #: items stored, each once: a feed's ``items`` counts what it listed, and one item listed
    #: by two feeds is in both
    items: int


@dataclass(frozen=True)
class StatusReport:
    service: ServiceState
    last_cycle: ServiceCycle | None
    #: the latest digests the service wrote or tried to, latest day first
    digests: tuple[ServiceDigest, ...]
    totals: StatusTotals
    feeds: tuple[FeedHealth, ...]
    checked_at: str


def service_status(store: Store, lock_path: Path, now: datetime) -> StatusReport:
    runs = store.service_runs(limit=1)
    cycles = store.service_cycles(limit=1)
    feeds = tuple(_feed(row, now) for row in store.feeds())
    enabled = [f for f in feeds if f.enabled]
    upcoming = sorted(f.next_poll_at for f in enabled if f.next_poll_at)
    return StatusReport(
        service=_service(probe(lock_path), runs[0] if runs else None, now),
        last_cycle=cycles[0] if cycles else None,
        digests=tuple(store.service_digests(limit=3)),
        totals=StatusTotals(
            feeds=len(feeds),
            enabled=len(enabled),
            disabled=len(feeds) - len(enabled),
            failing=sum(1 for f in enabled if f.consecutive_errors),
            due=sum(1 for f in enabled if f.due),
            next_poll_at=upcoming[0] if upcoming else None,
            items=store.item_count(),
        ),
        feeds=feeds,
        checked_at=to_db(now),
    )


def _service(lock: LockState, run: ServiceRun | None, now: datetime) -> ServiceState:
    state = _state(lock, run, now)
    if run is None:
        return ServiceState(state, lock.pid if lock.held else None)
    beat = from_db(run.heartbeat_at)
    # killed or crashed when not held and never stopped: the next start records this too
    crashed = not lock.held and run.stopped_at is None
    return ServiceState(
        state=state,
        pid=lock.pid if lock.held else run.pid,
        run_id=run.id,
        host=run.host,
        version=run.version,
        config=run.config,
        started_at=run.started_at,
        heartbeat_at=run.heartbeat_at,
        heartbeat_age_s=round((now - beat).total_seconds()) if beat else None,
        uptime_s=round((now - (from_db(run.started_at) or now)).total_seconds()),
        in_flight=run.in_flight,
        stopped_at=run.heartbeat_at if crashed else run.stopped_at,
        stop_reason="not stopped cleanly (killed or crashed)" if crashed else run.stop_reason,
    )


def _state(lock: LockState, run: ServiceRun | None, now: datetime) -> str:
    if not lock.held:
        return "stopped" if run else "never-started"
    if run is None or (lock.pid is not None and run.pid != lock.pid):
        return "starting"  # the lock is taken, the run not recorded yet
    if run.stopped_at is not None:
        return "stopping"
    beat = from_db(run.heartbeat_at)
    limit = STALE_BEATS * (run.heartbeat_every or 60) + STALE_MARGIN
    if beat is None or (now - beat).total_seconds() > limit:
        return "unresponsive"
    return "running"


def _feed(row: FeedRow, now: datetime) -> FeedHealth:
    due_at = from_db(row.next_poll_at)
    return FeedHealth(
        id=row.id,
        outlet=row.outlet,
        url=row.url,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        last_success_at=row.last_success_at,
        last_fetch_at=row.last_fetch_at,
        last_result=row.last_result,
        last_error=row.last_error,
        consecutive_errors=row.consecutive_errors,
        next_poll_at=row.next_poll_at if row.enabled else None,
        due=row.enabled and (due_at is None or due_at <= now),
        items=row.items,
    )
