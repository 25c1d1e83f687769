"""Relevance quality on the story's real coverage, against two keyword baselines.

Corpus: tests/data/archive-2025 (1,072 real items from six feeds, 15–24 August 2025), labelled in
tests/data/relevance/labels.csv (2 = same story, 1 = related, 0 = unrelated). The scorer's
thresholds are tuned on one half of the days and measured on the other, both ways.

    python bench/relevance.py [--include-terms "security guarantee" ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.relevance_eval import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--include-terms",
        nargs="*",
        default=[],
        help="per-article include_terms, as config.yaml would give them",
    )
    args = parser.parse_args()
    print(f"include_terms: {args.include_terms or 'none (article text only)'}")
    print(
        f"{'method':16} {'tuned':12} {'tested':12} {'thresholds':12} "
        f"{'related>=1: P      R      F1':30} {'story=2: P      R      F1'}"
    )
    for row in run(args.include_terms):
        th = f"{row.thresholds[0]:.2f}/{row.thresholds[1]:.2f}" if row.thresholds else "-"
        print(
            f"{row.name:16} {row.tuned_on:12} {row.tested_on:12} {th:12} "
            f"{row.related!s:30} {row.story!s}"
        )


if __name__ == "__main__":
    main()
