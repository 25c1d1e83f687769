"""The polling engine: due feeds → a bounded pool of workers → one summary per cycle.

One engine for the service and for ``tracker poll``. The service's scheduler calls
``Dispatcher.tick`` every ``polling.dispatch_every``: a tick asks the database which feeds are
due, leaves out those still queued or being polled, hands the rest to the worker pool and returns
at once. So a feed hanging until its deadline (``fetch.deadline``, enforced by the fetch itself)
holds one worker and delays nobody else, and the next tick goes on dispatching the other feeds.
``tracker poll`` calls ``Dispatcher.run_once``, which dispatches one cycle and waits for it. The
feeds one dispatch handed out form a cycle; when the last of them is done, the cycle's summary is
handed to ``on_cycle``.

The database failing (disk full, locked for too long, damaged) is no feed's fault: the cycle's
remaining feeds are dropped, and the service stops dispatching for a while that doubles at each
failure in a row (``storage_backoff``), saying so once, instead of fetching every due feed again at
every tick. ``run_once`` raises the ``StorageError``.

Workers are daemon threads: a worker stuck past its deadline anyway (a DNS lookup has no
timeout) cannot keep a stopping service alive after its grace period.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import StorageError
from ..models import Clock, CycleSummary, FeedResult, FeedState
from ..score.relevance import ArticleProfile
from .pipeline import Context, poll_feed

log = logging.getLogger(__name__)

#: a worker still busy this long after its fetch deadline is reported as stuck (waiting for a
#: per-host slot does not count towards the deadline, hence the margin)
STUCK_FACTOR = 2.0
STUCK_MARGIN = 30.0
#: the first pause of dispatching after the database failed, and the longest (it doubles)
STORAGE_BACKOFF = 30.0
STORAGE_BACKOFF_MAX = 30 * 60.0


@dataclass(frozen=True)
class CycleReport:
    started_at: datetime
    finished_at: datetime
    due: int
    #: feeds dropped because the service stopped before (or while) polling them
    cancelled: int
    summary: CycleSummary


@dataclass(eq=False)
class _Cycle:
    started_at: datetime
    t0: float
    due: int
    clock: Clock
    results: list[FeedResult] = field(default_factory=list)
    cancelled: int = 0
    closed: bool = False
    #: what ended the cycle early: a storage failure (or an interrupt) met by one of its polls
    failure: BaseException | None = None
    report: CycleReport | None = None

    @property
    def complete(self) -> bool:
        return len(self.results) + self.cancelled >= self.due


@dataclass(eq=False)
class _Job:
    feed: FeedState
    cycle: _Cycle
    context: Context
    profiles: Sequence[ArticleProfile]
    started: float | None = None
    reported_stuck: bool = False


class WorkerPool:
    """A fixed number of daemon threads taking jobs from a queue; resizable while running."""

    def __init__(self, size: int, name: str = "poll") -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._name = name
        self._size = 0
        self._serial = 0
        self._lock = threading.Lock()
        self.resize(size)

    @property
    def size(self) -> int:
        return self._size

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def resize(self, size: int) -> None:
        with self._lock:
            for _ in range(size - self._size):
                self._serial += 1
                threading.Thread(
                    target=self._work, name=f"{self._name}-{self._serial}", daemon=True
                ).start()
            for _ in range(self._size - size):
                self._jobs.put(None)  # one worker leaves after the jobs already queued
            self._size = size

    def shutdown(self) -> None:
        self.resize(0)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()


class Dispatcher:
    def __init__(
        self,
        context: Callable[[], Context],
        workers: int,
        on_cycle: Callable[[CycleReport], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._context = context
        self._on_cycle = on_cycle
        self._monotonic = monotonic
        self._pool = WorkerPool(workers)
        self._state = threading.Condition()
        self._queued: dict[int, _Job] = {}
        self._running: dict[int, _Job] = {}
        self._open: list[_Cycle] = []
        self._stopping = False
        #: after a storage failure: no dispatching before this (monotonic), and the next pause
        self._paused_until = 0.0
        self._backoff = STORAGE_BACKOFF

    @property
    def workers(self) -> int:
        return self._pool.size

    def in_flight(self) -> int:
        with self._state:
            return len(self._queued) + len(self._running)

    def resize(self, workers: int) -> None:
        if workers != self._pool.size:
            log.info("worker pool resized from %d to %d", self._pool.size, workers)
            self._pool.resize(workers)

    def tick(self) -> int:
        """Dispatch the due feeds that are not queued or being polled; returns how many."""
        if self._stopping or self._monotonic() < self._paused_until:
            return 0
        try:
            cycle = self._dispatch()
        except Exception:
            if self._stopping:
                return 0  # the store closed under a tick that raced the stop
            raise
        return cycle.due if cycle else 0

    def run_once(
        self,
        feeds: Sequence[FeedState] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CycleReport:
        """Poll the given feeds (default: the due ones) as one cycle and wait for it to end.

        ``progress(done, total)`` is called from this thread as feeds finish. A storage failure
        ends the cycle (the feeds not started yet are dropped) and is raised here.
        """
        cycle = self._dispatch(feeds)
        if cycle is None:
            ctx = self._context()
            return CycleReport(ctx.clock(), ctx.clock(), 0, 0, CycleSummary((), 0))
        shown = -1
        while True:
            with self._state:
                if not cycle.closed:
                    self._state.wait(0.1)
                done, closed = len(cycle.results) + cycle.cancelled, cycle.closed
            if progress and done != shown:
                progress(done, cycle.due)
                shown = done
            if closed:
                break
        if cycle.failure is not None:
            raise cycle.failure
        assert cycle.report is not None
        return cycle.report

    def _dispatch(self, feeds: Sequence[FeedState] | None = None) -> _Cycle | None:
        ctx = self._context()
        self._report_stuck(ctx.config.fetch.deadline)
        with self._state:
            busy = set(self._queued) | set(self._running)
        wanted = ctx.store.due_feeds(ctx.clock()) if feeds is None else feeds
        due = [feed for feed in wanted if feed.id not in busy]
        if not due:
            return None
        profiles = ctx.profiles()
        cycle = _Cycle(ctx.clock(), self._monotonic(), len(due), ctx.clock)
        jobs = [_Job(feed, cycle, ctx, profiles) for feed in due]
        with self._state:
            if self._stopping:
                return None
            self._open.append(cycle)
            self._queued.update((job.feed.id, job) for job in jobs)
        for job in jobs:
            self._pool.submit(functools.partial(self._run, job))
        log.debug("dispatched %d feeds", len(jobs))
        return cycle

    def shutdown(self) -> None:
        """Let the workers go (after the jobs already queued)."""
        self._pool.shutdown()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being polled; False on timeout."""
        end = self._monotonic() + timeout
        with self._state:
            while self._queued or self._running:
                remaining = end - self._monotonic()
                if remaining <= 0:
                    return False
                self._state.wait(min(remaining, 0.5))
        return True

    def stop(self, grace: float, hurry: Callable[[], bool] = lambda: False) -> list[FeedState]:
        """Stop dispatching, drop the queued feeds, give the running ones ``grace`` seconds.

        Returns the feeds still being polled after that (abandoned: their poll writes nothing,
        since a poll's writes are one transaction at its end, rolled back if it is under way;
        from then on only the calling thread uses the store). ``hurry`` cuts the wait short.
        """
        with self._state:
            self._stopping = True
            for job in self._queued.values():
                job.cycle.cancelled += 1
            self._queued.clear()
            end = self._monotonic() + grace
            while self._running and self._monotonic() < end and not hurry():
                self._state.wait(min(end - self._monotonic(), 0.2))
            abandoned = list(self._running.values())
            # forgotten here, so their workers, if they ever return, report nothing
            self._running.clear()
            for job in abandoned:
                job.cycle.cancelled += 1
            finished = [cycle for cycle in self._open if cycle.complete]
        if abandoned:
            # a transaction an abandoned poll has open is rolled back, not waited for
            self._context().store.keep_to_this_thread()
        for cycle in finished:
            self._close(cycle)
        self._pool.shutdown()
        return [job.feed for job in abandoned]

    # --- workers -------------------------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        with self._state:
            if self._queued.pop(job.feed.id, None) is not job:
                return  # cancelled by stop()
            job.started = self._monotonic()
            self._running[job.feed.id] = job
        try:
            result = self._poll(job)
            if not self._is_running(job):
                return  # abandoned by stop(): the service is closing the store
            # still listed as running, so a stopping service waits for the log and the summary
            self._log_result(job, result)
            with self._state:
                if self._running.get(job.feed.id) is not job:
                    return  # abandoned meanwhile: stop() counted it as cancelled
                job.cycle.results.append(result)
                done = job.cycle.complete
            if done:
                self._close(job.cycle)
        except Exception:
            if not self._stopping:
                log.exception("feed %d (%s): reporting the poll failed", job.feed.id, job.feed.url)
        finally:
            with self._state:
                if self._running.get(job.feed.id) is job:
                    del self._running[job.feed.id]
                self._state.notify_all()

    def _is_running(self, job: _Job) -> bool:
        with self._state:
            return self._running.get(job.feed.id) is job

    def _poll(self, job: _Job) -> FeedResult:
        try:
            result = poll_feed(job.context, job.feed, job.profiles)
        except StorageError as exc:
            self._storage_failed(job, exc)
            return self._unrecorded(job, "storage", str(exc))
        except Exception as exc:
            # a bug outside the feed's own flow (poll_feed records those against the feed): the
            # feed's state is unchanged, so it stays due and is tried again at the next tick
            if not self._stopping:
                log.exception("feed %d (%s): poll failed unexpectedly", job.feed.id, job.feed.url)
            return self._unrecorded(job, "internal", f"{type(exc).__name__}: {exc}")
        except BaseException as exc:
            # an interrupt raised in a worker: the poll's transaction was rolled back; the cycle
            # ends and run_once raises it, as it would have been raised without workers
            self._end_cycle(job, exc)
            return self._unrecorded(job, "interrupted", type(exc).__name__)
        self._backoff = STORAGE_BACKOFF
        return result

    def _unrecorded(self, job: _Job, kind: str, message: str) -> FeedResult:
        """The result of a poll that could not be recorded in the database."""
        return FeedResult(
            feed_id=job.feed.id,
            outlet=job.feed.outlet,
            url=job.feed.url,
            result="error",
            started_at=job.cycle.started_at,
            duration_ms=int((self._monotonic() - (job.started or job.cycle.t0)) * 1000),
            error_kind=kind,
            error_message=message,
        )

    def _storage_failed(self, job: _Job, exc: StorageError) -> None:
        """End the cycle and pause dispatching: every poll needs the database, and a feed
        fetched now could not even record that it was."""
        first = self._end_cycle(job, exc)
        with self._state:
            paused = self._monotonic() < self._paused_until
            if not paused:
                self._paused_until = self._monotonic() + self._backoff
                pause, self._backoff = self._backoff, min(self._backoff * 2, STORAGE_BACKOFF_MAX)
        if first and not paused and not self._stopping:
            log.error(
                "the database failed: %s; polling paused for %.0f s (feeds stay due and are "
                "polled when it works again)",
                exc,
                pause,
            )

    def _end_cycle(self, job: _Job, failure: BaseException) -> bool:
        """Drop the feeds of the job's cycle not started yet; True for its first failure."""
        with self._state:
            cycle = job.cycle
            first = cycle.failure is None
            if first:
                cycle.failure = failure
            for feed_id, queued in list(self._queued.items()):
                if queued.cycle is cycle:
                    del self._queued[feed_id]
                    cycle.cancelled += 1
        return first

    def _log_result(self, job: _Job, result: FeedResult) -> None:
        feed = job.feed
        if result.error_kind in ("storage", "interrupted"):
            return  # said once for the cycle (_storage_failed), or raised by run_once
        if result.result != "error":
            log.debug(
                "feed %d (%s) %s: %s, %d new, %d ms",
                feed.id,
                feed.outlet,
                feed.url,
                result.result,
                result.items_new,
                result.duration_ms,
            )
            return
        log.warning(
            "feed %d (%s) %s failed: %s: %s; next poll %s",
            feed.id,
            feed.outlet,
            feed.url,
            result.error_kind,
            result.error_message,
            result.next_poll_at.isoformat(timespec="seconds") if result.next_poll_at else "-",
        )
        if result.error_kind != "internal" and not job.context.store.feed_state(feed.id).enabled:
            log.warning(
                "feed %d (%s) %s is now disabled (see 'tracker feeds list'; "
                "'tracker feeds enable %d' resumes it)",
                feed.id,
                feed.outlet,
                feed.url,
                feed.id,
            )

    def _close(self, cycle: _Cycle) -> None:
        with self._state:
            if cycle.closed:
                return
            elapsed = int((self._monotonic() - cycle.t0) * 1000)
            summary = CycleSummary(tuple(cycle.results), elapsed)
            cycle.report = CycleReport(
                cycle.started_at, cycle.clock(), cycle.due, cycle.cancelled, summary
            )
            cycle.closed = True
            self._open.remove(cycle)
        self._on_cycle(cycle.report)

    def _report_stuck(self, deadline: float) -> None:
        now = self._monotonic()
        limit = deadline * STUCK_FACTOR + STUCK_MARGIN
        with self._state:
            stuck = [
                job
                for job in self._running.values()
                if job.started is not None and not job.reported_stuck and now - job.started > limit
            ]
            for job in stuck:
                job.reported_stuck = True
        for job in stuck:
            log.warning(
                "feed %d (%s) still being polled after %.0f s despite its %g s deadline; "
                "its worker is stuck (other feeds go on with the remaining workers)",
                job.feed.id,
                job.feed.url,
                now - (job.started or now),
                deadline,
            )
