"""lemon24/reader's side of bench/pipeline.py, run in reader's own virtual environment.

Usage: reader_side.py BASE_URL DIRECTORY — polls the corpus the way bench/corpus.py describes,
through reader's own update path (``update_feeds(scheduled=False)``: every feed, one worker),
and prints the seconds of each mode as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from reader import make_reader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import run_modes


def main() -> None:
    base, directory = sys.argv[1], Path(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        made = []

        def client(urls: list[str]) -> Callable[[], object]:
            reader = make_reader(f"{tmp}/reader-{len(made)}.sqlite")
            made.append(reader)
            for url in urls:
                reader.add_feed(url)
            return lambda: reader.update_feeds(scheduled=False)

        times = run_modes(directory, base, client)
        entries = sum(reader.get_entry_counts().total for reader in made)
        for reader in made:
            reader.close()
    print(json.dumps({"times": times, "entries": entries}))


if __name__ == "__main__":
    main()
