"""tracker: follow who else covers a news story, from the outlets' own feeds."""

from .app import Tracker
from .errors import TrackerError

__all__ = ["Tracker", "TrackerError"]
