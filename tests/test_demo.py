"""The offline demo replays the real August 2025 snapshots and shows linked coverage."""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.demo.localserver import FeedServer
from tracker.demo.run import CONFIG_TEMPLATE, DEMO_MARK, check_keep_dir
from tracker.demo.run import write_config as write_config_of_demo
from tracker.errors import OutputError

from .conftest import write_config


@dataclass(frozen=True)
class DemoRun:
    directory: Path
    output: str
    seconds: float

    def files(self) -> dict[str, str]:
        """The digests it wrote, with the local server's address (a free port) made the same."""
        return {
            p.name: normalised(p.read_text(encoding="utf-8"), self.directory)
            for p in sorted((self.directory / "digests").iterdir())
        }


def normalised(text: str, directory: Path) -> str:
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text).replace(str(directory), "DIR")


def run_kept_demo(directory: Path) -> DemoRun:
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["demo", "--keep", str(directory)])
    assert result.exit_code == 0, result.output
    return DemoRun(directory, result.output, time.monotonic() - started)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return run_kept_demo(tmp_path_factory.mktemp("demo"))


def test_demo_runs_offline_with_zero_duplicates(demo: DemoRun) -> None:
    assert demo.seconds < 30
    out, tmp_path = demo.output, demo.directory
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
    assert (digests / "digests.atom").exists()
    assert "# Coverage digest:" in out
    # the digests are where the output says, and stay there
    assert f"written to {digests} (open {digests}/2025-08-19.html in a browser)" in out
    assert (digests / "2025-08-19.html").is_file()
    again = CliRunner().invoke(cli, ["-c", str(tmp_path / "config.yaml"), "coverage", "--json"])
    assert again.exit_code == 0 and again.output.startswith("[")


def test_two_identical_demo_runs_give_identical_outputs(demo: DemoRun, tmp_path: Path) -> None:
    """Items one poll finds share their first-seen second, and who reported first, the order
    of outlets and of the listings followed the order the poll's workers stored them in: "First
    that day" named Le Monde in three runs and the FT in three."""
    second = run_kept_demo(tmp_path)
    assert normalised(second.output, second.directory) == normalised(demo.output, demo.directory)
    assert second.files() == demo.files()
    assert "First that day" in second.files()["2025-08-19.md"]


def demo_table(output: str) -> dict[str, dict[str, str]]:
    """The demo's day table: day -> column -> cell."""
    lines = output.split("\n\nday ", 1)[1].splitlines()
    header = ("day " + lines[0]).split()
    header[header.index("new") : header.index("new") + 2] = ["new items"]
    header[header.index("by") - 1 : header.index("by") + 2] = ["linked by outlet"]
    rows = {}
    for line in lines[2:]:
        if not line.strip() or not re.match(r"(\d{4}-\d\d-\d\d|total) ", line):
            break
        cells = line.split(None, 5)
        rows[cells[0]] = dict(zip(header, cells, strict=False))
    return rows


def test_every_output_counts_a_day_by_the_same_rule(demo: DemoRun) -> None:
    """For 19 Aug the demo's table said 30 linked, the digest 35, daily_coverage 30 and a
    first-seen count 31, and the table's days added up to 138 under a line saying 148: each
    counts an item on the local day it was first seen now, and says so."""
    table = demo_table(demo.output)
    total = table.pop("total")
    with sqlite3.connect(demo.directory / "tracker.db") as db:
        view = dict(
            db.execute(
                "SELECT day, sum(items) FROM daily_coverage WHERE article_id = 1 GROUP BY day"
            ).fetchall()
        )
        rules = {r[0] for r in db.execute("SELECT DISTINCT day_rule FROM daily_coverage")}
        linked = db.execute("SELECT count(*) FROM article_items").fetchone()[0]
    assert rules == {"first seen"}
    assert {day: int(row["linked"]) for day, row in table.items() if int(row["linked"])} == view
    assert sum(int(row["linked"]) for row in table.values()) == int(total["linked"]) == linked
    assert f"{linked} linked to the article" in demo.output
    assert "an item counts on the day the tracker first saw it" in demo.output
    for day, row in table.items():
        md = (demo.directory / "digests" / f"{day}.md").read_text(encoding="utf-8")
        assert "an item counts on the day the tracker first saw it" in md
        count = re.search(r"\*\*(\d+) new items?\*\*", md)
        assert (int(count.group(1)) if count else 0) == int(row["linked"]), day
        assert ("No new coverage" in md) == (not count)
    assert int(table["2025-08-19"]["linked"]) > 30  # items first seen after 23:00 UTC count


def test_outlets_the_demo_cannot_poll_are_said_to_be_so_not_silent(demo: DemoRun) -> None:
    """The demo serves no feed of DW, Euronews or Reuters, which the article cites; every
    digest called them silent."""
    assert "The demo has no feed snapshots of DW, Euronews and Reuters" in demo.output
    for day, md in demo.files().items():
        if day.endswith(".md"):
            assert "- Cited outlets not polled (no enabled feed): DW, Euronews, Reuters" in md
            silent = re.search(r"- Cited outlets silent (?:that day|today): (.+)", md)
            assert not silent or not {"DW", "Euronews", "Reuters"} & set(
                silent.group(1).split(", ")
            )


def test_without_keep_the_demo_says_its_files_are_temporary(monkeypatch) -> None:
    """'make demo' printed a digest directory that no longer existed when it ended."""
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    directory = re.search(
        r"written to (\S+), a temporary directory removed when the demo", result.output
    )
    assert directory and not Path(directory.group(1)).exists()
    assert "run 'tracker demo --keep DIR' (or 'make demo') to keep them" in result.output


def test_make_demo_keeps_its_output_where_the_user_can_open_it() -> None:
    makefile = (Path(__file__).parent.parent / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/tracker demo --keep " in recipe
    kept = recipe.split("--keep ", 1)[1].split()[0]
    ignored = (Path(__file__).parent.parent / ".gitignore").read_text(encoding="utf-8")
    assert f"/{kept}/" in ignored.splitlines()


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
