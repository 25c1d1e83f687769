"""The real service process with a stand-in digest writer that leaves one marker per day.

The service needs only a callable ``writer(day)`` for its daily job (the digest issue provides
``Tracker.write_digest``). The digest tests run this script as the service process; a file
``fail-YYYY-MM-DD`` in MARKER_DIR makes the writer fail for that day.

    python tests/digest_standin.py CONFIG MARKER_DIR
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from tracker.service.logs import setup_logging
from tracker.service.service import Service


def main() -> int:
    config, markers = Path(sys.argv[1]), Path(sys.argv[2])
    markers.mkdir(parents=True, exist_ok=True)

    def write(day: date) -> None:
        if (markers / f"fail-{day.isoformat()}").exists():
            raise RuntimeError(f"stand-in told to fail for {day}")
        (markers / f"{day.isoformat()}.md").write_text(f"digest of {day}\n", encoding="utf-8")
        with (markers / "written.log").open("a", encoding="utf-8") as log:
            log.write(f"{day.isoformat()}\n")

    setup_logging("debug")
    return Service.from_config_file(config, digest_writer=write).run()


if __name__ == "__main__":
    sys.exit(main())
