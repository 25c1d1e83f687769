"""``tracker run``: the background service. All of the APScheduler wiring lives in this module.

Jobs live in a memory job store, rebuilt from config.yaml at every start: the database, not a
store of pickled jobs, is the source of truth for feeds and their due times, so nothing breaks
when the code moves between versions.

``dispatch``   every ``polling.dispatch_every``: hands the due feeds to the worker pool
               (dispatch.py), each feed with its own fetch deadline
``heartbeat``  proves liveness in the database (``tracker status``) and to systemd's watchdog
``digest``     daily at ``digest.time`` local time: writes the digest of the day before (daily.py)
``catch-up``   once at start-up: the digests that fell due while the service was down
``watch``      every few seconds: is the database file still the one opened? Deleted (with its
               directory) or replaced, the service stops with an error rather than go on
               writing into a file nobody will read

The main thread starts the jobs and then only waits for control messages. Signal handlers just
queue a message (``SimpleQueue.put`` is safe in a signal handler), so a stop or a reload always
runs in the main thread, never in the middle of a job or a store transaction.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..app import Tracker
from ..config import Config, load_config
from ..errors import ConfigError, StorageError
from ..models import Clock, system_clock
from ..textout import plural
from ..update.engine import CycleReport, Dispatcher
from .daily import DailyDigests, DigestWriter, due_moment
from .instance import InstanceLock
from .systemd import notify, watchdog_interval

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 30.0
#: how often the service looks whether its database file is still there (one stat call)
WATCH_EVERY = 2.0
#: a digest due while the machine slept or the service was busy is still wanted, however late
#: (the run then writes every day owed, once each)
DIGEST_MISFIRE_GRACE = None
#: threads for the scheduler's own jobs (dispatch, heartbeat, digest); polls use the worker pool
SCHEDULER_THREADS = 3
STOP_MESSAGES = ("SIGTERM", "SIGINT", "stop")
RELOAD_MESSAGES = ("SIGHUP", "reload")
LOST_MESSAGE = "database lost"


class Service:
    """Run with ``Service(config).run()`` from the main thread; returns 0 after a clean stop."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = system_clock,
        digest_writer: DigestWriter | None = None,
        handle_signals: bool = True,
    ) -> None:
        self.tracker = Tracker(config, clock=clock)
        self.clock = clock
        self.run_id: int | None = None
        self._digest_writer = digest_writer
        self._handle_signals = handle_signals
        self._control: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._scheduler: BackgroundScheduler | None = None
        self._dispatcher: Dispatcher | None = None
        self._digests: DailyDigests | None = None
        self._stopping = False
        #: why the database cannot be used any more (its file deleted or replaced), if so
        self._lost: str | None = None

    @classmethod
    def from_config_file(cls, path: str | Path, **kwargs: Any) -> Service:
        return cls(load_config(Path(path), empty_ok=False), **kwargs)

    @property
    def config(self) -> Config:
        return self.tracker.config

    # --- control (thread-safe and signal-safe) ---------------------------------------------------

    def stop(self) -> None:
        self._control.put("stop")

    def reload(self) -> None:
        self._control.put("reload")

    # --- life cycle ------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM, SIGINT or ``stop()``; raise ``AlreadyRunningError`` at once when
        another service holds this database."""
        with self._signals(), InstanceLock(self.config.lock_path, self.config.database):
            try:
                self._start()
                reason = self._serve()
            except BaseException as exc:
                self._shutdown(f"error: {type(exc).__name__}: {exc}")
                raise
            self._shutdown(reason)
        if self._lost:
            raise StorageError(f"{self._lost}; the service stopped")
        return 0

    def _start(self) -> None:
        config = self.config
        self.tracker.open()  # StorageError before 'tracker init'
        self._use_config(config)
        heartbeat = heartbeat_interval(config)
        self.run_id = self.tracker.start_service_run(
            pid=os.getpid(),
            host=socket.gethostname(),
            version=_version(),
            heartbeat_every=heartbeat,
        )
        self._dispatcher = Dispatcher(
            self.tracker.context, config.polling.workers, self._cycle_done
        )
        self._digests = self._daily_digests()
        self._scheduler = self._build_scheduler(config, heartbeat)
        self._scheduler.start()
        log.info(
            "started: pid %d, database %s, %s enabled, %s, dispatch every %g s, %s",
            os.getpid(),
            config.database,
            plural(sum(1 for f in self.tracker.feeds() if f.enabled), "feed"),
            plural(config.polling.workers, "worker"),
            config.polling.dispatch_every,
            f"digest daily at {config.digest.time} {config.timezone}"
            if self._digests
            else "no digest",
        )
        notify("READY=1", "STATUS=started, waiting for the first cycle")

    def _daily_digests(self) -> DailyDigests | None:
        writer = self._digest_writer or getattr(self.tracker, "write_digest", None)
        if writer is None:
            log.warning("this tracker has no digest writer: the daily digest job is off")
            return None
        assert self.run_id is not None
        # owed: the days due since the service first ran here (a failed day is retried too)
        since = self.tracker.first_service_start() or self.clock()
        return DailyDigests(
            self.tracker, writer, self.clock, lambda: self.config, run_id=self.run_id, since=since
        )

    def _serve(self) -> str:
        while True:
            try:
                message = self._control.get(timeout=1.0)
            except queue.Empty:
                continue
            if message in RELOAD_MESSAGES:
                self._reload()
            elif message in STOP_MESSAGES:
                return message
            elif message == LOST_MESSAGE:
                return "error: the database file was deleted or replaced"

    def _shutdown(self, reason: str) -> None:
        self._stopping = True
        notify("STOPPING=1", f"STATUS=stopping ({reason})")
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        grace = self.config.polling.grace_period
        ends = time.monotonic() + grace
        if self._dispatcher is not None:
            log.info(
                "stopping (%s): %s in flight get up to %g s to finish",
                reason,
                plural(self._dispatcher.in_flight(), "feed"),
                grace,
            )
            abandoned = self._dispatcher.stop(grace, hurry=self._hurry)
            if abandoned:
                log.warning(
                    "%s still being polled after the grace period %s abandoned "
                    "(nothing of those polls was stored; they stay due): %s",
                    plural(len(abandoned), "feed"),
                    "was" if len(abandoned) == 1 else "were",
                    ", ".join(f"{f.id} {f.url}" for f in abandoned),
                )
        if self._digests is not None and not self._digests.wait_idle(ends - time.monotonic()):
            log.warning("the digest being written was abandoned; it is written at the next start")
        if self.run_id is not None:
            # the grace period is over: what other threads still write is rolled back, so an
            # abandoned poll stores nothing and the stop does not wait for its transaction
            self.tracker.keep_to_this_thread()
        if self.run_id is not None and not self._lost:  # a lost file takes no more writes
            try:
                self.tracker.finish_service_run(self.run_id, reason)
            except Exception:
                log.exception("could not record the stop in the database")
        # closing takes the store's lock: a transaction still open in a worker commits first
        self.tracker.close()
        if self.run_id is not None:  # not when it failed to start (before 'tracker init', …)
            log.info("stopped (%s)", reason)

    def _hurry(self) -> bool:
        """A second SIGTERM/SIGINT while stopping: stop waiting for the feeds in flight."""
        try:
            message = self._control.get_nowait()
        except queue.Empty:
            return False
        if message in STOP_MESSAGES:
            log.warning("%s again: not waiting for the feeds in flight", message)
            return True
        return False

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if not self._handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        wanted = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in wanted}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # runs in the main thread between two bytecodes: only queue a message
        self._control.put(signal.Signals(signum).name)

    # --- jobs ------------------------------------------------------------------------------------

    def _build_scheduler(self, config: Config, heartbeat: float) -> BackgroundScheduler:
        assert self._dispatcher is not None
        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(SCHEDULER_THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=config.tz,
        )
        scheduler.add_listener(log_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        scheduler.add_job(
            self._dispatch,
            dispatch_trigger(config),
            id="dispatch",
            name="dispatch due feeds",
            next_run_time=datetime.now(config.tz),
            misfire_grace_time=max(1, config.polling.dispatch_every),
        )
        scheduler.add_job(
            self._heartbeat,
            IntervalTrigger(seconds=heartbeat, timezone=config.tz),
            id="heartbeat",
            name="heartbeat",
            misfire_grace_time=max(1, int(heartbeat)),
        )
        scheduler.add_job(
            self._watch_database,
            IntervalTrigger(seconds=WATCH_EVERY, timezone=config.tz),
            id="watch",
            name="watch the database file",
            misfire_grace_time=None,
        )
        if self._digests is not None:
            scheduler.add_job(
                self._digests.write_owed,
                digest_trigger(config),
                kwargs={"trigger": "schedule"},
                id="digest",
                name="daily digest",
                misfire_grace_time=DIGEST_MISFIRE_GRACE,
            )
            scheduler.add_job(
                self._digests.write_owed,
                kwargs={"trigger": "catch-up"},
                id="digest-catch-up",
                name="digest catch-up at start-up",
                misfire_grace_time=None,
            )
        return scheduler

    def _dispatch(self) -> None:
        assert self._dispatcher is not None
        self._watch_database()  # no poll starts on a file that is gone
        if self._lost is None:
            self._dispatcher.tick()

    def _watch_database(self) -> None:
        """Stop the service, with an error, once its database file is deleted or replaced.

        SQLite keeps the file it opened: the polls would go on being stored into a deleted file
        (lost at exit), 'tracker status' would find no database, and a new database made at the
        path would be polled by nobody, or by a second service. The store refuses every write
        from then on; this notices it even when nothing is written.
        """
        problem = self.tracker.database_problem()
        if problem and self._lost is None and not self._stopping:
            self._lost = problem
            log.error("%s; the service stops (nothing more is written to it)", problem)
            self._control.put(LOST_MESSAGE)

    def _heartbeat(self) -> None:
        assert self.run_id is not None and self._dispatcher is not None
        self._watch_database()
        if self._stopping or self._lost:
            return  # the stop records the last heartbeat itself (unless the file is gone)
        try:
            self.tracker.service_heartbeat(self.run_id, self._dispatcher.in_flight())
        except StorageError:
            if self._stopping:
                return  # a stop began while this heartbeat waited for a poll's transaction
            raise
        notify("WATCHDOG=1")

    def _cycle_done(self, report: CycleReport) -> None:
        assert self.run_id is not None
        if report.summary.items_new and not self._stopping:
            self.tracker.after_cycle(report.started_at)
        elif not self._stopping:
            self.tracker.send_alerts()  # retry the alerts that failed before
        cycle_id = self.tracker.record_cycle(self.run_id, report)
        line = cycle_line(cycle_id, report)
        log.info("%s", line)
        notify(f"STATUS={line}")

    # --- reload ----------------------------------------------------------------------------------

    def _reload(self) -> None:
        notify("RELOADING=1")
        try:
            new = load_config(self.config.path, empty_ok=False)
            if new.database != self.config.database:
                raise ConfigError(
                    f"{new.path}: database: changed from {self.config.database} to "
                    f"{new.database}; restart the service to switch databases"
                )
            self._apply(new)
        except ConfigError as exc:
            log.error("reload failed, the running configuration is kept: %s", exc)
        except Exception:
            log.exception("reload failed, the running configuration is kept")
        finally:
            notify("READY=1")

    def _apply(self, new: Config) -> None:
        assert self._scheduler is not None and self._dispatcher is not None
        old = self.config
        before = {f.url for f in self.tracker.feeds() if f.enabled}
        self._use_config(new)
        after = {f.url for f in self.tracker.feeds() if f.enabled}
        self._dispatcher.resize(new.polling.workers)
        if new.polling.dispatch_every != old.polling.dispatch_every:
            self._scheduler.reschedule_job("dispatch", trigger=dispatch_trigger(new))
        if self._digests is not None and (new.digest.time, new.timezone) != (
            old.digest.time,
            old.timezone,
        ):
            self._scheduler.reschedule_job("digest", trigger=digest_trigger(new))
        # feeds added to the file are due now: poll them without waiting for the next tick
        self._scheduler.modify_job("dispatch", next_run_time=datetime.now(new.tz))
        log.info(
            "configuration reloaded from %s: %s enabled (%d added, %d removed)",
            new.path,
            plural(len(after), "feed"),
            len(after - before),
            len(before - after),
        )

    def _use_config(self, config: Config) -> None:
        for problem in self.tracker.use_config(config):
            log.error("%s", problem)


def log_job_event(event: JobExecutionEvent) -> None:
    """APScheduler listener: one log line for a job that failed or missed its run."""
    when = event.scheduled_run_time.isoformat(timespec="seconds")
    if event.code == EVENT_JOB_MISSED:
        log.warning(
            "job %s missed its run of %s (the service was busy or suspended, or the clock "
            "jumped); it runs again at its next time",
            event.job_id,
            when,
        )
        return
    exc = event.exception
    log.error(
        "job %s failed (run of %s): %s: %s",
        event.job_id,
        when,
        type(exc).__name__,
        exc,
        exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
    )


def dispatch_trigger(config: Config) -> IntervalTrigger:
    return IntervalTrigger(seconds=max(1, config.polling.dispatch_every), timezone=config.tz)


def digest_trigger(config: Config) -> DigestTrigger:
    return DigestTrigger(config.digest.time, config.tz)


class DigestTrigger(BaseTrigger):
    """Daily at ``at`` (HH:MM) local time: each moment a day's digest falls due.

    The moments come from ``daily.due_moment``, the function that decides which days are owed,
    so the job and the days it writes agree across clock changes. APScheduler 3's CronTrigger
    does not: a daily job at 00:00 in New York fired on 12 March 2017 and next on the 14th,
    skipping a day after the change to summer time (agronholm/apscheduler#606). A time the
    clock skips that day fires once the clock has moved on (02:30 is 03:30 when 02:00 becomes
    03:00); a time that happens twice fires the first time.
    """

    __slots__ = ("at", "timezone")

    def __init__(self, at: str, timezone: ZoneInfo) -> None:
        self.at = at
        self.timezone = timezone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # after the previous run (however late it was), else from now on; compared in UTC,
        # since aware times in one zone compare by their wall clocks
        strictly = previous_fire_time is not None
        after = (previous_fire_time or now).astimezone(UTC)
        day = after.astimezone(self.timezone).date() - timedelta(days=2)
        while True:
            moment = due_moment(day, self.at, self.timezone).astimezone(UTC)
            if moment > after or (moment == after and not strictly):
                # a valid local time: due_moment may name one the clock skipped that day
                return moment.astimezone(self.timezone)
            day += timedelta(days=1)

    def __str__(self) -> str:
        return f"daily at {self.at} {self.timezone.key}"

    def __repr__(self) -> str:
        return f"<DigestTrigger at={self.at!r} timezone={self.timezone.key!r}>"


def heartbeat_interval(config: Config) -> float:
    """Often enough for status (a tick's interval at most) and for systemd's watchdog."""
    every = min(HEARTBEAT_EVERY, float(max(1, config.polling.dispatch_every)))
    watchdog = watchdog_interval()
    if watchdog:
        every = min(every, watchdog / 3)
    return max(every, 1.0)


def cycle_line(cycle_id: int, report: CycleReport) -> str:
    s = report.summary
    cancelled = f", {report.cancelled} cancelled by the stop" if report.cancelled else ""
    return (
        f"cycle {cycle_id}: {plural(len(s.results), 'feed')} polled{cancelled}: "
        f"{s.count('ok')} ok, {s.count('not-modified') + s.count('unchanged')} not modified, "
        f"{s.count('error')} failed; {plural(s.items_new, 'new item')}, {s.items_linked} linked; "
        f"{s.duration_ms / 1000:.2f} s"
    )


def _version() -> str:
    try:
        return version("tracker")
    except PackageNotFoundError:
        return "unknown"
