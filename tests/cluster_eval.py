"""Story clustering measured on the labelled pairs (tests/data/relevance/pairs.csv).

The stories come from the offline demo: the real pipeline replaying the real snapshots of 15–24
August 2025 (``tracker demo``). To tune the clustering parameters, the same cycles are replayed
in memory with other parameters (``replay``): the items the demo stored, in the order and cycles
it first saw them, through ``cluster.assign`` as ``pipeline.cluster_new_items`` runs it.
Parameters are tuned on the pairs of one half of the days and measured on the other, both ways,
so the figures are not the parameters remembering their labels.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from tracker.ingest.clean import canonical_url
from tracker.score import cluster
from tracker.update.pipeline import IDF_PERIOD

DATA = Path(__file__).parent / "data"
HALVES = {"15-19 Aug": ("2025-08-15", "2025-08-19"), "20-24 Aug": ("2025-08-20", "2025-08-24")}


@dataclass(frozen=True)
class Pair:
    a: str  # canonical URLs, as the items are stored
    b: str
    same: bool
    days: tuple[str, str]  # the published days of both items


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    f1: float
    pairs: int

    def __str__(self) -> str:
        return f"{self.precision:.3f}  {self.recall:.3f}  {self.f1:.3f}  ({self.pairs} pairs)"


def load_pairs() -> list[Pair]:
    entries = {}
    for path in (DATA / "archive-2025").glob("*.jsonl"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            entry = json.loads(line)
            entries[(path.name, number)] = (canonical_url(entry["link"]), entry["published"][:10])
    pairs = []
    with open(DATA / "relevance" / "pairs.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            a, day_a = entries[(row["a_file"], int(row["a_line"]))]
            b, day_b = entries[(row["b_file"], int(row["b_line"]))]
            pairs.append(Pair(a, b, row["same_event"] == "1", (day_a, day_b)))
    return pairs


def in_half(pair: Pair, half: str) -> bool:
    first, last = HALVES[half]
    return all(first <= day <= last for day in pair.days)


def quality(story_of: Mapping[str, int], pairs: Sequence[Pair]) -> Quality:
    """Pairwise precision, recall and F1: a pair is predicted same when its items share a story."""
    return judged(pairs, [story_of[pair.a] == story_of[pair.b] for pair in pairs])


def judged(pairs: Sequence[Pair], joined: Sequence[bool]) -> Quality:
    tp = sum(j and p.same for p, j in zip(pairs, joined, strict=True))
    fp = sum(j and not p.same for p, j in zip(pairs, joined, strict=True))
    fn = sum(p.same and not j for p, j in zip(pairs, joined, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(precision, recall, f1, len(pairs))


def stored_stories(db: Path) -> dict[str, int]:
    """Canonical URL → story, as the database holds them."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT canonical_url, story_id FROM items"))


def largest_story(story_of: Mapping[str, int]) -> int:
    sizes: dict[int, int] = {}
    for story in story_of.values():
        sizes[story] = sizes.get(story, 0) + 1
    return max(sizes.values())


# --- replaying the demo's cycles with other parameters --------------------------------------------


@dataclass(frozen=True)
class Stored:
    url: str
    member: cluster.Member


def stored_items(db: Path) -> list[Stored]:
    """The items as clustering reads them, each in a story of its own, oldest first."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, outlet_id, title, coalesce(summary, ''), first_seen_at, "
            "coalesce(published_at, first_seen_at), canonical_url FROM items "
            "ORDER BY first_seen_at, coalesce(published_at, first_seen_at), canonical_url, id"
        ).fetchall()
    return [
        Stored(
            url,
            cluster.Member(
                id_,
                id_,
                outlet,
                cluster.terms(title, summary),
                datetime.fromisoformat(seen),
                datetime.fromisoformat(happened),
            ),
        )
        for id_, outlet, title, summary, seen, happened, url in rows
    ]


def replay(items: Sequence[Stored], params: cluster.Params) -> dict[str, int]:
    """Cluster the items cycle by cycle (one cycle per first-seen time), as the demo did."""
    members = [s.member for s in items]
    story = {m.id: m.story_id for m in members}
    for cycle in sorted({m.first_seen for m in members}):
        known = [
            replace(m, story_id=story[m.id])
            for m in members
            if m.first_seen <= cycle
            and (m.first_seen >= cycle - IDF_PERIOD or m.happened >= cycle - IDF_PERIOD)
        ]
        story.update(cluster.assign(known, cycle, params))
    return {s.url: story[s.member.id] for s in items}


GRID = {
    "threshold": (0.06, 0.08, 0.1, 0.12, 0.15, 0.2),
    "window": tuple(timedelta(hours=h) for h in (24, 36, 48)),
    "decay": tuple(timedelta(hours=h) for h in (12, 24, 48, 10_000)),
    "same_outlet": (1.0, 1.5, 2.0),
}


def grid() -> Iterator[cluster.Params]:
    for values in itertools.product(*GRID.values()):
        yield cluster.Params(**dict(zip(GRID, values, strict=True)))


@dataclass(frozen=True)
class Tuned:
    tuned_on: str
    tested_on: str
    params: cluster.Params
    train: Quality
    test: Quality
    largest: int


def tune(items: Sequence[Stored], pairs: Sequence[Pair]) -> list[Tuned]:
    """The grid's best parameters on each half of the days, measured on the other half."""
    results = [(params, replay(items, params)) for params in grid()]
    tuned = []
    for train_half, test_half in itertools.permutations(HALVES):
        train = [p for p in pairs if in_half(p, train_half)]
        test = [p for p in pairs if in_half(p, test_half)]
        params, stories = max(results, key=lambda r: quality(r[1], train).f1)
        tuned.append(
            Tuned(
                train_half,
                test_half,
                params,
                quality(stories, train),
                quality(stories, test),
                largest_story(stories),
            )
        )
    return tuned


def pairwise_ceiling(items: Sequence[Stored], pairs: Sequence[Pair]) -> tuple[Quality, str]:
    """The best F1 any threshold reaches on the pairs' own discounted similarity, with the
    decay and outlet factor of the grid: what a clustering with this similarity could reach at
    most, had it the labels to pick its threshold (an optimistic bound: it is tuned on all pairs
    and ignores that stories must be consistent)."""
    by_url = {s.url: s.member for s in items}
    corpus = cluster.Corpus.of(m.terms for m in by_url.values())
    best: tuple[Quality, str] = (Quality(0, 0, 0, len(pairs)), "")
    for decay, same_outlet in itertools.product(GRID["decay"], GRID["same_outlet"]):
        scored = []
        for pair in pairs:
            a, b = by_url[pair.a], by_url[pair.b]
            score = cluster.cosine(corpus.vector(a.terms), corpus.vector(b.terms))
            score *= math.exp(-abs(a.happened - b.happened) / decay)
            scored.append(score / same_outlet if a.outlet_id == b.outlet_id else score)
        for threshold in sorted(set(scored)):
            q = judged(pairs, [score >= threshold for score in scored])
            if q.f1 > best[0].f1:
                hours = decay.total_seconds() / 3600
                how = f"decay {hours:g}h, same outlet ÷{same_outlet:g}, threshold {threshold:.3f}"
                best = (q, how)
    return best
