"""Expected-output files for the bundled real feeds (reader style: feed.xml -> feed.xml.json).

``python tests/expected.py`` rewrites them after a deliberate change; review the diff before
committing. The tests compare against the committed files.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

from tracker.ingest.normalise import normalise_item
from tracker.ingest.parse import parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
EXPECTED = Path(__file__).parent / "data" / "expected"
#: the fixed "now" used for clamping future dates, so the output never depends on the day
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def parsed_output(path: Path) -> dict[str, Any]:
    parsed = parse_feed(path.read_bytes(), {"content-type": "application/xml"}, path.name)
    items = [normalise_item(item, 1, NOW) for item in parsed.items]
    return {
        "kind": parsed.kind,
        "title": parsed.title,
        "ttl_minutes": parsed.ttl_minutes,
        "warning": parsed.warning,
        "items": [
            {
                "keys": list(i.keys),
                "url": i.url,
                "canonical_url": i.canonical_url,
                "title": i.title,
                "summary": i.summary,
                "summary_html": i.summary_html,
                "author": i.author,
                "published_at": i.published_at.isoformat() if i.published_at else None,
            }
            for i in items
        ],
    }


def expected_path(feed: Path) -> Path:
    return EXPECTED / (feed.name + ".json")


def main() -> None:
    EXPECTED.mkdir(exist_ok=True)
    for feed in sorted(FEEDS.glob("*.xml")):
        text = json.dumps(parsed_output(feed), indent=1, ensure_ascii=False) + "\n"
        expected_path(feed).write_text(text, encoding="utf-8")
        print(expected_path(feed))


if __name__ == "__main__":
    main()
