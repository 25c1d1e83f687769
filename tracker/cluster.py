"""Group items about the same event into stories (pure).

Each item becomes a TF-IDF vector of its title (counted twice) and summary; an item joins the
story whose centroid is most similar to it, if that similarity reaches the threshold and the
story began within the time window; otherwise it starts a story of its own. Comparing with the
centroid, not with any single member, keeps one loose match from chaining unrelated stories.

Measured on tests/data/relevance/pairs.csv (255 real, deliberately hard pairs): see
bench/relevance.py and tests/test_cluster.py for the figures.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .relevance import is_content_word, tokens

Vector = dict[str, float]

THRESHOLD = 0.2
WINDOW = timedelta(hours=24)
TITLE_WEIGHT = 2
_ACCENTED = re.compile("[\u00c0-\u024f\u1e00-\u1eff]")
_INNER_HYPHEN = re.compile(r"(\w)-(\w)")
CANDIDATE_TERMS = 6


def fold(text: str) -> str:
    """Accents off and hyphens inside words dropped: "Ábrego" meets "Abrego", "run-off" "runoff"."""
    if _ACCENTED.search(text):
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return _INNER_HYPHEN.sub(r"\1\2", text)


def terms(title: str, summary: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for word in tokens(fold(title)):
        if is_content_word(word):
            counts[word] += TITLE_WEIGHT
    for word in tokens(fold(summary)):
        if is_content_word(word):
            counts[word] += 1
    return counts


@dataclass(frozen=True)
class Corpus:
    """Document frequencies that weigh terms: rare shared words say more than common ones."""

    df: Mapping[str, int]
    size: int

    @classmethod
    def of(cls, documents: Iterable[Counter[str]]) -> Corpus:
        df: Counter[str] = Counter()
        size = 0
        for doc in documents:
            df.update(doc.keys())
            size += 1
        return cls(df, size)

    def vector(self, counts: Counter[str]) -> Vector:
        weights = {
            term: (1 + math.log(n)) * math.log((self.size + 1) / (self.df.get(term, 0) + 0.5))
            for term, n in counts.items()
        }
        return _unit(weights)


def cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(weight * b.get(term, 0.0) for term, weight in a.items())


@dataclass
class Story:
    id: int
    started: datetime
    centroid: Vector
    size: int = 1
    members: list[int] = field(default_factory=list)

    def add(self, vector: Vector) -> None:
        merged: Counter[str] = Counter()
        for term, weight in self.centroid.items():
            merged[term] += weight * self.size
        for term, weight in vector.items():
            merged[term] += weight
        self.size += 1
        self.centroid = _unit(dict(merged))


class StoryIndex:
    """Stories by the terms of their members, so an item is compared only with the stories it
    shares a term with (a few dozen), not with every story of the week."""

    def __init__(self) -> None:
        self.stories: dict[int, Story] = {}
        self._by_term: dict[str, set[int]] = {}

    def add(self, story_id: int, when: datetime, vector: Vector) -> Story:
        story = self.stories.get(story_id)
        if story is None:
            story = self.stories[story_id] = Story(story_id, when, vector)
        else:
            story.add(vector)
        for term in vector:
            self._by_term.setdefault(term, set()).add(story_id)
        return story

    def best(
        self,
        vector: Vector,
        when: datetime,
        threshold: float = THRESHOLD,
        window: timedelta = WINDOW,
    ) -> Story | None:
        # a story that shares none of the item's heaviest terms cannot reach the threshold
        candidates: set[int] = set()
        for term in sorted(vector, key=vector.__getitem__, reverse=True)[:CANDIDATE_TERMS]:
            candidates |= self._by_term.get(term, set())
        best, best_score = None, threshold
        for story_id in candidates:
            story = self.stories[story_id]
            if abs(when - story.started) > window:
                continue
            score = cosine(vector, story.centroid)
            if score >= best_score:
                best, best_score = story, score
        return best


def _unit(weights: Mapping[str, float]) -> Vector:
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {term: w / norm for term, w in weights.items()}
