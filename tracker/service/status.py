"""What ``tracker status`` reports, as plain data: the CLI prints it, ``--json`` dumps it.

Whether the service runs comes from its lock (held only by a live process, whatever happened to
it), how it is doing from its heartbeat and last cycle in the database, and each feed's health
from the feeds table.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

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


def service_status(store: Store, lock_path: Path, now: datetime) -> dict[str, Any]:
    runs = store.service_runs(limit=1)
    cycles = store.service_cycles(limit=1)
    feeds = [_feed(row, now) for row in store.feeds()]
    enabled = [f for f in feeds if f["enabled"]]
    upcoming = sorted(f["next_poll_at"] for f in enabled if f["next_poll_at"])
    return {
        "service": _service(probe(lock_path), runs[0] if runs else None, now),
        "last_cycle": cycles[0] if cycles else None,
        "digests": store.service_digests(limit=3),
        "totals": {
            "feeds": len(feeds),
            "enabled": len(enabled),
            "disabled": len(feeds) - len(enabled),
            "failing": sum(1 for f in enabled if f["consecutive_errors"]),
            "due": sum(1 for f in enabled if f["due"]),
            "next_poll_at": upcoming[0] if upcoming else None,
            # items stored, each once: a feed's "items" counts what it listed, and one item
            # listed by two feeds is in both
            "items": store.item_count(),
        },
        "feeds": feeds,
        "checked_at": to_db(now),
    }


def _service(lock: LockState, run: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    info: dict[str, Any] = {"state": _state(lock, run, now), "pid": lock.pid if lock.held else None}
    if run is None:
        return info
    beat = from_db(run["heartbeat_at"])
    info.update(
        run_id=run["id"],
        host=run["host"],
        version=run["version"],
        config=run["config"],
        started_at=run["started_at"],
        heartbeat_at=run["heartbeat_at"],
        heartbeat_age_s=round((now - beat).total_seconds()) if beat else None,
        uptime_s=round((now - (from_db(run["started_at"]) or now)).total_seconds()),
        in_flight=run["in_flight"],
        stopped_at=run["stopped_at"],
        stop_reason=run["stop_reason"],
    )
    if not lock.held:
        info["pid"] = run["pid"]
        if run["stopped_at"] is None:
            # killed or crashed: the next start records this too
            info["stop_reason"] = "not stopped cleanly (killed or crashed)"
            info["stopped_at"] = run["heartbeat_at"]
    return info


def _state(lock: LockState, run: dict[str, Any] | None, now: datetime) -> str:
    if not lock.held:
        return "stopped" if run else "never-started"
    if run is None or (lock.pid is not None and run["pid"] != lock.pid):
        return "starting"  # the lock is taken, the run not recorded yet
    if run["stopped_at"] is not None:
        return "stopping"
    beat = from_db(run["heartbeat_at"])
    limit = STALE_BEATS * (run["heartbeat_every"] or 60) + STALE_MARGIN
    if beat is None or (now - beat).total_seconds() > limit:
        return "unresponsive"
    return "running"


def _feed(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    due_at = from_db(row["next_poll_at"])
    return {
        "id": row["id"],
        "outlet": row["outlet"],
        "url": row["url"],
        "enabled": bool(row["enabled"]),
        "disabled_reason": row["disabled_reason"],
        "last_success_at": row["last_success_at"],
        "last_fetch_at": row["last_fetch_at"],
        "last_result": row["last_result"],
        "last_error": row["last_error"],
        "consecutive_errors": row["consecutive_errors"],
        # a disabled feed is not polled: no next poll, whatever the row kept
        "next_poll_at": row["next_poll_at"] if row["enabled"] else None,
        "due": bool(row["enabled"]) and (due_at is None or due_at <= now),
        "items": row["items"],
    }
