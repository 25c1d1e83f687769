"""Story clustering quality on the labelled pairs, with parameters tuned on one half of the days
and measured on the other.

Corpus: the offline demo's replay of the real snapshots of 15–24 August 2025
(tracker/demo_data/replay), measured on tests/data/relevance/pairs.csv (255 labelled pairs of
real archive items: 123 same event, 132 hard different events). Prints the shipped parameters'
figures (the stories the demo itself stored), then the grid's best on each half, tested on the
other. Takes about five minutes (216 replays of 40 cycles).

    python bench/cluster.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster_eval import (
    HALVES,
    in_half,
    largest_story,
    load_pairs,
    pairwise_ceiling,
    quality,
    stored_items,
    stored_stories,
    tune,
)
from tracker.demo.run import run_demo
from tracker.score.cluster import Params


def describe(p: Params) -> str:
    hours = p.decay.total_seconds() / 3600
    decay = "none" if hours >= 1000 else f"{hours:g}h"
    return (
        f"threshold {p.threshold:g}, window {p.window.total_seconds() / 3600:g}h, "
        f"decay {decay}, same outlet ÷{p.same_outlet:g}"
    )


def main() -> None:
    pairs = load_pairs()
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(lambda line: None, Path(tmp))
        db = Path(tmp) / "tracker.db"
        stories, items = stored_stories(db), stored_items(db)
    print(f"shipped parameters: {describe(Params())}")
    print(f"{'pairs':12} precision  recall  F1")
    print(f"{'all':12} {quality(stories, pairs)}")
    for half in HALVES:
        print(f"{half:12} {quality(stories, [p for p in pairs if in_half(p, half)])}")
    print(f"largest story: {largest_story(stories)} items\n")
    ceiling, how = pairwise_ceiling(items, pairs)
    print(f"ceiling of this similarity, a threshold on each pair tuned on all pairs: {ceiling}")
    print(f"  ({how})\n")
    print("tuned on one half, tested on the other (precision  recall  F1):")
    for row in tune(items, pairs):
        print(f"tuned on {row.tuned_on}: {describe(row.params)}")
        print(f"  train {row.train}\n  test  {row.test}\n  largest story {row.largest} items")


if __name__ == "__main__":
    main()
