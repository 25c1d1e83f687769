"""The command line: thin wrappers over ``tracker.app.Tracker``, one module per group of commands.

``base`` holds the root group and what the commands share; importing a module registers its
commands on the group.
"""

from . import articles, collect, coverage, demo, digest, feeds, judgements, query, service
from .base import cli, main

__all__ = [
    "articles",
    "cli",
    "collect",
    "coverage",
    "demo",
    "digest",
    "feeds",
    "judgements",
    "main",
    "query",
    "service",
]
