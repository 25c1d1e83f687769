"""The offline demo replays the real August 2025 snapshots and shows linked coverage."""

from __future__ import annotations

import re
import time
from pathlib import Path

from click.testing import CliRunner

from tracker.cli import cli


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
