"""The library API: one ``Tracker`` per config, with a method for each CLI command.

``cli.py`` parses arguments, calls one of these methods and prints the result; anything a user can
do from the command line can be done from Python the same way::

    from tracker import Tracker
    with Tracker.from_config_file("config.yaml") as t:
        t.init()
        t.poll()
        for row in t.coverage():
            print(row.outlet, row.title)
"""

from __future__ import annotations

from .reads import ReadsMixin
from .results import (
    AddedFeed,
    Explanation,
    InitReport,
    Marked,
    PruneReport,
    Registered,
    Removal,
)
from .service_log import ServiceLogMixin
from .sources import SourcesMixin


class Tracker(SourcesMixin, ReadsMixin, ServiceLogMixin):
    """The library API: one per config.yaml, a method for each CLI command (see the parts:
    ``sources``, ``updates``, ``reads``, ``service_log`` over ``base``)."""


__all__ = [
    "AddedFeed",
    "Explanation",
    "InitReport",
    "Marked",
    "PruneReport",
    "Registered",
    "Removal",
    "Tracker",
]
