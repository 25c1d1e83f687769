"""Politeness per host: at most N requests at once and a minimum gap between request starts.

Shared by the worker threads of a cycle, so an outlet's server sees a steady client however many
of its feeds are due at the same moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit


class HostGate:
    def __init__(
        self,
        concurrency: int,
        gap: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.concurrency = concurrency
        self.gap = gap
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(self.concurrency))
        with semaphore:
            self._wait_turn(host)
            yield

    def _wait_turn(self, host: str) -> None:
        # reserve the next start time under the lock, then sleep outside it
        with self._lock:
            now = self._monotonic()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + self.gap
        if start > now:
            self._sleep(start - now)
