"""Helpers to drive the real service process (``python -m tracker run``) from tests.

Everything is polled for with generous timeouts instead of sleeping fixed amounts, so the tests
hold on a loaded 2-core machine; a condition that never comes fails with the service's log.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar

from tracker.demo.localserver import Document, serve_document

from .conftest import ARTICLE

T = TypeVar("T")
TIMEOUT = 60.0


def service_config(
    tmp_path: Path,
    feeds: dict[str, list[str]],
    *,
    polling: dict[str, Any] | None = None,
    fetch: dict[str, Any] | None = None,
    digest: dict[str, Any] | None = None,
    relevance: dict[str, Any] | None = None,
    timezone: str = "UTC",
    name: str = "config.yaml",
) -> Path:
    """A config for a service on 127.0.0.1 with intervals of seconds (each section overridable)."""
    fetch = {
        "allow_private_networks": "true",
        "deadline": "10s",
        "connect_timeout": "2s",
        "read_timeout": "5s",
        "per_host_gap": "0s",
        "per_host_concurrency": 8,
        **(fetch or {}),
    }
    polling = {
        "interval": "1s",
        "min_interval": "1s",
        "dispatch_every": "1s",
        "workers": 2,
        "grace_period": "5s",
        "backoff_base": "2s",
        **(polling or {}),
    }
    digest = {"directory": str(tmp_path / "digests"), "time": "'07:00'", **(digest or {})}
    outlets = "\n".join(
        f"  - name: {outlet}\n    feeds:\n" + "\n".join(f"      - {url}" for url in urls)
        for outlet, urls in feeds.items()
    )
    text = (
        f"database: {tmp_path}/tracker.db\ntimezone: {timezone}\n"
        f"articles:\n  - path: {ARTICLE}\noutlets:\n{outlets or '  []'}\n"
        + "".join(
            f"{section}:\n" + "".join(f"  {k}: {v}\n" for k, v in values.items())
            for section, values in (
                ("fetch", fetch),
                ("polling", polling),
                ("digest", digest),
                ("relevance", relevance or {}),
            )
            if values
        )
    )
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def wait_for(
    condition: Callable[[], T], what: str, timeout: float = TIMEOUT, on_fail: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{on_fail}")
        time.sleep(0.1)


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Read the service's database from outside, as any other process would (WAL)."""
    conn = sqlite3.connect(db, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []  # the service has not migrated the database yet
        raise
    finally:
        conn.close()


def one(db: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    result = rows(db, sql, params)
    return next(iter(result[0].values())) if result else None


class ServiceProcess:
    """The real service in a subprocess, its stderr in a file."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log_path = log
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def tracker_run(cls, config: Path, log: Path, **kwargs: Any) -> ServiceProcess:
        argv = [sys.executable, "-m", "tracker", "-c", str(config), "run", "--log-level", "debug"]
        return cls(argv, log, **kwargs)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServiceProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=subprocess.DEVNULL, stderr=log, env=self.env
            )
        return self

    def log(self) -> str:
        return (
            self.log_path.read_text(encoding="utf-8", errors="replace")
            if self.log_path.exists()
            else ""
        )

    def wait_log(self, text: str, timeout: float = TIMEOUT) -> str:
        def seen() -> str | None:
            self._fail_if_exited(text)
            return self.log() if text in self.log() else None

        try:
            return wait_for(seen, f"{text!r} in the service log", timeout)
        except AssertionError as failed:
            # the log as it is when the wait gives up, not as it was when it began
            raise AssertionError(f"{failed}\n{self.log()}") from None

    def wait_started(self) -> ServiceProcess:
        self.wait_log("started: pid")
        return self

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = TIMEOUT) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the service did not exit within {timeout}s\n{self.log()}"
            ) from None

    def stop(self, timeout: float = TIMEOUT) -> int:
        self.send(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _fail_if_exited(self, waiting_for: str) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"the service exited ({self.proc.returncode}) while waiting for {waiting_for!r}"
                f"\n{self.log()}"
            )


class Recorder:
    """Routes for FeedServer that record when each request came (monotonic time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.times: dict[str, list[float]] = {}

    def mark(self, name: str) -> None:
        with self._lock:
            self.times.setdefault(name, []).append(time.monotonic())

    def count(self, name: str, since: float = 0.0, until: float = float("inf")) -> int:
        with self._lock:
            return sum(1 for t in self.times.get(name, []) if since <= t <= until)

    def serve(self, name: str, body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
        document = Document(body)

        def route(handler: BaseHTTPRequestHandler) -> None:
            self.mark(name)
            serve_document(handler, document)

        return route

    def rotate(self, name: str, bodies: list[bytes], every: int = 2) -> Callable[..., None]:
        """A feed whose content moves to the next snapshot every ``every`` requests."""
        documents = [Document(body) for body in bodies]

        def route(handler: BaseHTTPRequestHandler) -> None:
            self.mark(name)
            index = min((self.count(name) - 1) // every, len(documents) - 1)
            serve_document(handler, documents[index])

        return route

    def hang(self, name: str, release: threading.Event) -> Callable[..., None]:
        """A server that accepts the request and never answers (until released)."""

        def route(handler: BaseHTTPRequestHandler) -> None:
            self.mark(name)
            release.wait(120)

        return route


def start_services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """The body of a ``services`` fixture: ``services(config)`` starts ``tracker run`` (or
    ``argv``) with its log in tmp_path; every process still running is killed at teardown."""
    started: list[ServiceProcess] = []

    def start(
        config: Path, *, argv: list[str] | None = None, env: dict[str, str] | None = None
    ) -> ServiceProcess:
        log = tmp_path / f"service-{len(started) + 1}.log"
        process = (
            ServiceProcess(argv, log, env)
            if argv
            else ServiceProcess.tracker_run(config, log, env=env)
        )
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.kill()
