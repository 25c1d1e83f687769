"""Relevance quality on labelled real coverage, against two keyword baselines, and its cost.

Corpora: tests/data/archive-2025 (4,921 real items from sixteen feeds of thirteen outlets, 15–24
August 2025), labelled in tests/data/relevance/labels.csv (2 = same story, 1 = related,
0 = unrelated) against the shipped article, and tests/data/relevance-tech (1,138 items of six
technology feeds, 8–17 September 2025) against a technology story's. Two ways of holding labels
out (tests/relevance_eval.py):

* days: thresholds tuned on one half of the days, measured on the other, both ways;
* outlets: fixed folds of outlets (five, and three for the second story); each fold is measured
  with thresholds tuned on the other folds' outlets only. Per fold, per outlet and pooled; one
  set of the scorer's parameters for every fold and both stories.

Each with the article's text alone and with the include_terms config.yaml gives it. Then the
analyst's corrections (``score.judged``): in each fold of outlets, the analyst marks the ten items
of the first two days the scorer is most wrong about (on the training outlets, or with
``--marks-from-all-outlets`` on every outlet), the model learns from the marks, and the held-out
outlets' items of the later days are measured before and after, at the same thresholds. Then the
cost of scoring: ``Doc.of`` + ``score_doc`` per item and article, and of building a model.

    python bench/relevance.py [--unseen-background] [--include-terms TERM ...] [--marks N]
        [--marks-from-all-outlets]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.relevance_eval import (
    METHODS,
    STORIES,
    Story,
    article_model,
    corrections,
    held_out,
    load_items,
    run,
)
from tracker.score.relevance import ArticleProfile, score_doc
from tracker.score.text import Doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--include-terms",
        nargs="*",
        default=None,
        help="include_terms to measure instead of the ones config.yaml gives the article",
    )
    parser.add_argument(
        "--unseen-background",
        action="store_true",
        help="each fold's model learns only from the other folds' items (not just its labels)",
    )
    parser.add_argument(
        "--marks", type=int, default=10, help="items the analyst corrects in each fold"
    )
    parser.add_argument(
        "--marks-from-all-outlets",
        action="store_true",
        help="the analyst corrects items of every outlet, the held-out ones' first days too",
    )
    args = parser.parse_args()
    for story in STORIES:
        items = load_items(story)
        print(
            f"# {story.name}: {len(items)} items, {len(story.outlets)} feeds, "
            f"{len(set(story.outlets.values()))} outlets; "
            f"{sum(i.label >= 1 for i in items)} related, {sum(i.label == 2 for i in items)} story"
        )
        print(f"broad query:  {story.broad_query}")
        print(f"narrow query: {story.narrow_query}\n")
        declared = story.include_terms if args.include_terms is None else args.include_terms
        for include in ((), tuple(declared)):
            print(f"## include_terms: {', '.join(include) or 'none (article text only)'}\n")
            days(include, story)
            outlets(include, story, args.unseen_background)
            corrected(include, story, args.marks, args.marks_from_all_outlets)
        timing(story)


def days(include: tuple[str, ...], story: Story) -> None:
    print("days held out")
    print(f"{'method':16} {'tuned':12} {'tested':12} {'thresholds':11} {_HEAD}")
    for row in run(include, story):
        th = f"{row.thresholds[0]:.2f}/{row.thresholds[1]:.2f}" if row.thresholds else "-"
        print(
            f"{row.name:16} {row.tuned_on:12} {row.tested_on:12} {th:11} "
            f"{row.related!s:22} {row.story!s}"
        )
    print()


_HEAD = f"{'related P / R / F1':22} story P / R / F1"


def outlets(include: tuple[str, ...], story: Story, unseen: bool) -> None:
    result = held_out(include, story, unseen_background=unseen)
    learned = "other folds' items" if unseen else "every item, unlabelled"
    print(f"outlets held out (background: {learned})")
    print(f"{'fold':7} {'thresholds':11} {'items/rel/story':16} {_HEAD}   held-out outlets")
    for number, (held, thresholds) in enumerate(result.folds, start=1):
        scope = f"fold {number}"
        related, story_tier = result.scorer(scope)
        print(
            f"{scope:7} {thresholds[0]:.2f}/{thresholds[1]:.2f}   "
            f"{'/'.join(map(str, result.support[scope])):16} {related!s:22} {story_tier!s}   "
            f"{', '.join(held)}"
        )
    print()
    print(f"{'scope':20} {'items/rel/story':16} " + " | ".join(f"{m:30}" for m in METHODS))
    print(f"{'':20} {'':16} " + " | ".join(f"{'related F1  story F1':30}" for _ in METHODS))
    scopes = ["pooled", *(o for held, _ in result.folds for o in held)]
    for scope in scopes:
        cells = []
        for method in METHODS:
            related, story_tier = result.results[method, scope]
            cells.append(f"{related.prf[2]:.3f}       {story_tier.prf[2]:.3f}".ljust(30))
        print(f"{scope:20} {'/'.join(map(str, result.support[scope])):16} " + " | ".join(cells))
    pooled = {m: result.results[m, "pooled"] for m in METHODS}
    print("\npooled P / R / F1:")
    for method in METHODS:
        related, story_tier = pooled[method]
        print(f"  {method:16} related {related}   story {story_tier}")
    print()


def corrected(include: tuple[str, ...], story: Story, marks: int, from_all: bool) -> None:
    result = corrections(story, include, marks=marks, from_all_outlets=from_all)
    pool = "every outlet" if from_all else "the training outlets"
    print(
        f"the analyst corrects the {marks} worst items of the first two days (of {pool}); "
        "held-out outlets, later days, same thresholds"
    )
    print(f"{'scope':8} {'marked u/r/s':13} {'items/rel/story':16} {'':7} {_HEAD}")
    scopes = [f"fold {n}" for n in range(1, len(result.folds) + 1)] + ["pooled"]
    for scope in scopes:
        if scope == "pooled":
            labels = [label for _, _, marked in result.folds for _, label in marked]
        else:
            labels = [label for _, label in result.folds[int(scope[5:]) - 1][2]]
        counts = "/".join(str(labels.count(label)) for label in (0, 1, 2))
        for when in ("before", "after"):
            related, story_tier = result.results[scope, when]
            print(
                f"{scope if when == 'before' else '':8} {counts if when == 'before' else '':13} "
                f"{'/'.join(map(str, result.support[scope])) if when == 'before' else '':16} "
                f"{when:7} {related!s:22} {story_tier!s}"
            )
    print()


def timing(story: Story) -> None:
    items = load_items(story)
    started = time.perf_counter()
    model = article_model(items, story.include_terms, story)
    built = time.perf_counter() - started
    profile = ArticleProfile(1, model, 0.3, 0.35)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for item in items:
            score_doc(profile, Doc.of(item.title, item.summary))
        best = min(best, time.perf_counter() - started)
    print(
        f"cost: Doc.of + score_doc {best / len(items) * 1000:.3f} ms per item and article "
        f"(best of 3 over {len(items)} items); build_model {built:.2f} s from {len(items)} items\n"
    )


if __name__ == "__main__":
    main()
