"""Service logs: one line per event on stderr, for journald or a terminal.

Under systemd (stderr is the journal stream named by ``$JOURNAL_STREAM``) a line starts with a
syslog priority such as ``<4>``, so journald records the level and ``journalctl -p warning``
works, and carries no timestamp because journald adds its own. Elsewhere a line starts with the
local time and the level. A traceback is folded onto its event's line: one event, one entry.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")

_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class LineFormatter(logging.Formatter):
    def __init__(self, journald: bool) -> None:
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        message = " | ".join(line.rstrip() for line in message.splitlines() if line.strip())
        # the module's own name ("service", "dispatch"), as the lines read before the package split
        name = record.name.rsplit(".", 1)[-1] if record.name.startswith("tracker.") else record.name
        if self.journald:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{name}: {message}"
        stamp = datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")
        return f"{stamp} {record.levelname} {name}: {message}"


def setup_logging(
    level: str = "info", stream: TextIO | None = None, *, journald: bool | None = None
) -> logging.Handler:
    """Send the tracker's logs (and APScheduler's warnings) to ``stream`` (stderr)."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LineFormatter(writes_to_journal(stream) if journald is None else journald))
    numeric = getattr(logging, level.upper())
    for name, threshold in (
        ("tracker", numeric),
        # the service reports job errors and missed runs itself (one line each), so APScheduler's
        # executors, which log the same events with a traceback, speak only at debug level
        ("apscheduler", max(numeric, logging.WARNING)),
        ("apscheduler.executors", numeric if numeric <= logging.DEBUG else logging.CRITICAL),
    ):
        logger = logging.getLogger(name)
        logger.setLevel(threshold)
        if name != "apscheduler.executors":
            for old in [h for h in logger.handlers if isinstance(h.formatter, LineFormatter)]:
                logger.removeHandler(old)
            logger.addHandler(handler)
            logger.propagate = False
    return handler


def writes_to_journal(stream: TextIO) -> bool:
    """True when ``stream`` is the journald stream systemd connected (``$JOURNAL_STREAM``)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"
