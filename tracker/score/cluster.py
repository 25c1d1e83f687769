"""Group items about the same event into stories (pure).

Each item becomes a TF-IDF vector of its title (counted twice) and summary; an item joins the
story it is most similar to, if that similarity reaches the threshold and the story began within
the time window; otherwise it starts a story of its own. The similarity is the cosine with the
story's centroid (comparing with the centroid, not with any single member, keeps one loose match
from chaining unrelated stories), discounted by two things the labelled pairs teach:

- time: the same words a day apart are more often the next event (a reply, a vote after the
  debate) than the same one, so similarity decays with the hours since the story's latest item;
- outlet: an outlet updates its own report of an event rather than writing a second one, so an
  item from an outlet the story already has is more often a follow-up and must be closer.

Measured on tests/data/relevance/pairs.csv (255 real, deliberately hard pairs), parameters tuned
on one half of the days and tested on the other: ``python bench/cluster.py``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .text import is_content_word, tokens

Vector = dict[str, float]
Move = tuple[int, int]

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


@dataclass(frozen=True)
class Params:
    """How close an item must be to a story to join it (see the module docstring)."""

    #: discounted centroid cosine an item needs to join a story
    threshold: float = 0.12
    #: stories begun longer ago than this (before or after the item) take no new members
    window: timedelta = timedelta(hours=36)
    #: similarity falls by a factor e per this much time from the story's latest item
    decay: timedelta = timedelta(hours=24)
    #: similarity is divided by this when the story already has an item of the item's outlet
    same_outlet: float = 1.5


@dataclass
class Story:
    id: int
    started: datetime
    centroid: Vector
    latest: datetime
    outlets: set[int] = field(default_factory=set)
    size: int = 1

    def add(self, vector: Vector, when: datetime) -> None:
        merged = {term: weight * self.size for term, weight in self.centroid.items()}
        for term, weight in vector.items():
            merged[term] = merged.get(term, 0.0) + weight
        self.size += 1
        self.centroid = _unit(merged)
        self.started, self.latest = min(self.started, when), max(self.latest, when)

    def similarity(self, vector: Vector, when: datetime, outlet: int | None, p: Params) -> float:
        apart = abs(when - self.latest) / p.decay
        score = cosine(vector, self.centroid) * math.exp(-apart)
        return score / p.same_outlet if outlet in self.outlets else score


class StoryIndex:
    """Stories by the terms of their members, so an item is compared only with the stories it
    shares a term with (a few dozen), not with every story of the week."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Params()
        self.stories: dict[int, Story] = {}
        self._by_term: dict[str, set[int]] = {}

    def add(self, story_id: int, when: datetime, vector: Vector, outlet: int | None) -> Story:
        story = self.stories.get(story_id)
        if story is None:
            story = self.stories[story_id] = Story(story_id, when, vector, when)
        else:
            story.add(vector, when)
        if outlet is not None:
            story.outlets.add(outlet)
        for term in vector:
            self._by_term.setdefault(term, set()).add(story_id)
        return story

    def best(self, vector: Vector, when: datetime, outlet: int | None = None) -> Story | None:
        p = self.params
        # a story that shares none of the item's heaviest terms cannot reach the threshold
        candidates: set[int] = set()
        for term in sorted(vector, key=vector.__getitem__, reverse=True)[:CANDIDATE_TERMS]:
            candidates |= self._by_term.get(term, set())
        best, best_score = None, p.threshold
        for story_id in sorted(candidates):
            story = self.stories[story_id]
            if abs(when - story.started) > p.window:
                continue
            score = story.similarity(vector, when, outlet, p)
            if score >= best_score:
                best, best_score = story, score
        return best


@dataclass(frozen=True)
class Member:
    """An item as clustering sees it."""

    id: int
    story_id: int
    outlet_id: int | None
    #: ``terms(title, summary)``
    terms: Counter[str]
    first_seen: datetime
    #: when the event was reported: the published time, else first seen
    happened: datetime


def assign(members: Sequence[Member], since: datetime, params: Params | None = None) -> list[Move]:
    """Where the items first seen since ``since`` go: ``(item id, story id)`` for each that joins
    an earlier story. ``members`` come oldest first; the earlier ones only weigh terms and make
    up the stories, and those that happened long before ``since`` are not compared at all."""
    corpus = Corpus.of(m.terms for m in members)
    index = StoryIndex(params)
    recent = since - 2 * index.params.window
    moves = []
    for member in members:
        new = member.first_seen >= since
        if not new and member.happened < recent:
            continue
        vector = corpus.vector(member.terms)
        match = index.best(vector, member.happened, member.outlet_id) if new else None
        story_id = member.story_id if match is None else match.id
        if story_id != member.story_id:
            moves.append((member.id, story_id))
        index.add(story_id, member.happened, vector, member.outlet_id)
    return moves


def _unit(weights: Mapping[str, float]) -> Vector:
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {term: w / norm for term, w in weights.items()}
