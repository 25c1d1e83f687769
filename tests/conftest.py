"""Shared fixtures: a real HTTP server on 127.0.0.1, configs pointing at it, a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker.app import Tracker
from tracker.config import load_config
from tracker.demo.localserver import FeedServer
from tracker.models import ManualClock

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "feeds"
REPLAY = Path(__file__).parent.parent / "tracker" / "demo_data" / "replay"
ARTICLE = Path(__file__).parent.parent / "articles" / "shifting-sands-of-support.txt"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 8, 19, 12, 0, tzinfo=UTC))


def write_config(
    tmp_path: Path, feeds: dict[str, list[str]], extra: str = "", article: Path | None = ARTICLE
) -> Path:
    """A config with the given outlet -> feed URLs, private networks allowed (tests use 127.0.0.1)."""
    outlets = "\n".join(
        f"  - name: {outlet}\n    feeds:\n" + "\n".join(f"      - {u}" for u in urls)
        for outlet, urls in feeds.items()
    )
    articles = f"articles:\n  - path: {article}\n" if article else ""
    text = (
        f"database: {tmp_path}/tracker.db\n{articles}outlets:\n{outlets or '  []'}\n"
        "fetch:\n  allow_private_networks: true\n  deadline: 5s\n  read_timeout: 2s\n"
        "  per_host_gap: 0s\n  per_host_concurrency: 8\n"
        "  connect_timeout: 2s\n  max_body_bytes: 2MB\n"
        "polling:\n  disable_after: 3\n" + extra
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def make_tracker(tmp_path: Path, clock: ManualClock) -> Iterator:
    made: list[Tracker] = []

    def make(
        feeds: dict[str, list[str]], extra: str = "", article: Path | None = ARTICLE
    ) -> Tracker:
        t = Tracker(load_config(write_config(tmp_path, feeds, extra, article)), clock=clock)
        t.init()
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


# --- querying: a database of the replayed story ---------------------------------------------------


@pytest.fixture(scope="session")
def replay_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database: real snapshots of six feeds, 15-24 Aug 2025, polled four times a
    day through a real HTTP server on 127.0.0.1. Built once; copy it before writing to it."""
    from tracker.demo.run import run_demo

    workdir = tmp_path_factory.mktemp("replay")
    run_demo(lambda line: None, workdir)
    return workdir / "config.yaml"


def copy_replay(config: Path, tmp_path: Path) -> Path:
    """A private copy of the replay database and its config, for tests that write."""
    import shutil

    shutil.copy(config.parent / "tracker.db", tmp_path / "tracker.db")
    text = config.read_text(encoding="utf-8").replace(str(config.parent), str(tmp_path))
    copy = tmp_path / "config.yaml"
    copy.write_text(text, encoding="utf-8")
    return copy
