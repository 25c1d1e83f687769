"""tracker: follow who else covers a news story, from the outlets' own feeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import TrackerError

if TYPE_CHECKING:
    from .app import Tracker

__all__ = ["Tracker", "TrackerError"]


def __getattr__(name: str) -> object:
    # loaded on first use, so importing one step (tracker.parse, tracker.errors) does not load
    # the whole application, its HTTP client and its store
    if name == "Tracker":
        from .app import Tracker

        return Tracker
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")
