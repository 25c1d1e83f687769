"""The offline demo replays the real August 2025 snapshots and shows linked coverage."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.demo.localserver import FeedServer
from tracker.demo.run import CONFIG_TEMPLATE, DEMO_MARK, check_keep_dir
from tracker.demo.run import write_config as write_config_of_demo
from tracker.errors import OutputError

from .conftest import write_config


def test_demo_runs_offline_with_zero_duplicates(tmp_path: Path) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["demo", "--keep", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 30
    out = result.output
    assert "cites: Bloomberg, DW, Euronews, Reuters, The Guardian" in out
    assert re.search(
        r"Second poll of the last day: 6 feeds, 6 not modified \(HTTP 304\), "
        r"0 new items, 0 rows added",
        out,
    )
    assert " 0 duplicate URLs" in out
    assert (
        "What security guarantees might Ukraine get in return for a peace deal?"[:40] in out
        or "story" in out
    )
    assert (tmp_path / "tracker.db").exists() and (tmp_path / "config.yaml").exists()
    digests = tmp_path / "digests"
    assert sorted(p.name for p in digests.glob("*.md"))[0] == "2025-08-15.md"
    assert len(list(digests.glob("*.html"))) == 10 and (digests / "digests.atom").exists()
    assert "# Coverage digest:" in out
    again = CliRunner().invoke(cli, ["-c", str(tmp_path / "config.yaml"), "coverage", "--json"])
    assert again.exit_code == 0 and again.output.startswith("[")


def _user_dir(tmp_path: Path) -> dict[str, bytes]:
    """A directory with a user's own tracker set-up: config.yaml and the tracker.db it made."""
    config = write_config(tmp_path, {})
    assert CliRunner().invoke(cli, ["-c", str(config), "init"]).exit_code == 0
    return {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}


@pytest.mark.parametrize("keep", ["dir", "."])
def test_demo_keep_refuses_a_directory_with_the_users_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: str
) -> None:
    before = _user_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "--keep", str(tmp_path) if keep == "dir" else "."])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "would overwrite config.yaml, tracker.db" in result.output
    assert "'tracker demo' did not write" in result.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_demo_keep_refuses_a_database_without_a_demo_config(tmp_path: Path) -> None:
    before = _user_dir(tmp_path)
    (tmp_path / "config.yaml").unlink()
    with pytest.raises(OutputError, match=r"would overwrite tracker\.db"):
        check_keep_dir(tmp_path)
    assert (tmp_path / "tracker.db").read_bytes() == before["tracker.db"]


def test_demo_keep_may_reuse_an_earlier_demos_directory(tmp_path: Path) -> None:
    assert CONFIG_TEMPLATE.startswith(DEMO_MARK)
    with FeedServer() as server:
        write_config_of_demo(tmp_path, server)
    (tmp_path / "tracker.db").write_bytes(b"")
    check_keep_dir(tmp_path)  # no error
    check_keep_dir(tmp_path / "new")


@pytest.mark.parametrize("keep", ["", "  "])
def test_demo_keep_empty_is_a_usage_error(keep: str) -> None:
    result = CliRunner().invoke(cli, ["demo", "--keep", keep])
    assert result.exit_code == 2
    assert "Invalid value for '--keep': give a directory" in result.output
