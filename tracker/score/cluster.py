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

Words alone join events that share a topic but not their actors (one country's prisoner
exchange and "Venezuela frees a batch of political prisoners" meet on "prisoners"), so an item
whose title names someone (a country, a person, an organisation) cannot join a story whose titles
name others, unless one side names the other's anywhere in its title or summary. Which words are
names is learnt from the week's own items, by how outlets write them inside a sentence in
sentence case ("Venezuela" is capitalised there, "prisoners" is not), and one name's forms are
one (Israel/Israeli, Bolivia/Bolivian); no list of names is kept.

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
from itertools import chain

from .text import (
    is_content_word,
    is_heading,
    mid_sentence_words,
    raw_term,
    tokens,
    written_as_name,
)

Vector = dict[str, float]
Move = tuple[int, int]

TITLE_WEIGHT = 2
_ACCENTED = re.compile("[\u00c0-\u024f\u1e00-\u1eff]")
_INNER_HYPHEN = re.compile(r"(\w)-(\w)")
CANDIDATE_TERMS = 6
#: a term is a name when outlets capitalise it at least this share of the times its case tells
NAME_SHARE = 0.7


def fold(text: str) -> str:
    """Accents off and hyphens inside words dropped: "Ábrego" meets "Abrego", "run-off" "runoff"."""
    if _ACCENTED.search(text):
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return _INNER_HYPHEN.sub(r"\1\2", text)


class Terms(Counter[str]):
    """An item's terms, weighted (title words count twice), with what its text shows of them:
    which are in its title, and each time their case tells (inside a sentence in sentence
    case) the term (``cased``) and whether it was capitalised (``capital``), kept as plain
    sequences so a week of items is counted at C speed."""

    def __init__(
        self,
        counts: Mapping[str, int] | None = None,
        title: frozenset[str] = frozenset(),
        cased: tuple[str, ...] = (),
        capital: tuple[str, ...] = (),
    ) -> None:
        super().__init__(counts or {})
        self.title = title
        self.cased = cased
        self.capital = capital

    # a copy or a pickle keeps what the text showed, not only the counts
    def copy(self) -> Terms:
        return Terms(self, self.title, self.cased, self.capital)

    def __reduce__(self) -> tuple[type[Terms], tuple[object, ...]]:
        return Terms, (dict(self), self.title, self.cased, self.capital)


def terms(title: str, summary: str) -> Terms:
    counts = Terms()
    title, summary = fold(title), fold(summary)
    title_terms = [word for word in tokens(title) if is_content_word(word)]
    for word in title_terms:
        counts[word] += TITLE_WEIGHT
    for word in tokens(summary):
        if is_content_word(word):
            counts[word] += 1
    counts.title = frozenset(title_terms)
    cased: list[str] = []
    capital: list[str] = []
    for text in (title, summary):
        if is_heading(text):
            continue  # Every Word Capitalised: case tells nothing
        for word in mid_sentence_words(text):
            term = raw_term(word)
            if is_content_word(term):
                cased.append(term)
                if written_as_name(word):
                    capital.append(term)
    counts.cased, counts.capital = tuple(cased), tuple(capital)
    return counts


def names_of(documents: Sequence[Counter[str]]) -> frozenset[str]:
    """The terms the documents write as names: capitalised inside sentences (NAME_SHARE)."""
    items = [doc for doc in documents if isinstance(doc, Terms)]
    cased = Counter(chain.from_iterable(doc.cased for doc in items))
    capital = Counter(chain.from_iterable(doc.capital for doc in items))
    return frozenset(t for t, n in capital.items() if n >= NAME_SHARE * cased[t])


def same_name(a: str, b: str) -> bool:
    """One name in two forms: Israel/Israeli, China/Chinese, a name transliterated -ky, -kyy or
    -kiy (a common beginning of at least four letters and three quarters of the shorter; the
    scorer's ``text.same_family`` asks five, which misses China/Chinese and measured worse
    here)."""
    if a == b:
        return True
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n >= 4 and n >= 0.75 * min(len(a), len(b))


def _meet(a: Iterable[str], b: Iterable[str]) -> bool:
    b = tuple(b)
    return any(same_name(x, y) for x in a for y in b)


@dataclass(frozen=True)
class Names:
    """The names an item writes: in its title (where a headline says who acts) and anywhere."""

    title: frozenset[str] = frozenset()
    every: frozenset[str] = frozenset()

    @classmethod
    def of(cls, counts: Counter[str], names: frozenset[str]) -> Names:
        title = counts.title if isinstance(counts, Terms) else frozenset(counts)
        return cls(title & names, frozenset(counts) & names)


@dataclass(frozen=True)
class Corpus:
    """Document frequencies that weigh terms: rare shared words say more than common ones."""

    df: Mapping[str, int]
    size: int
    #: each term's weight once computed: a week of items repeats its terms many times over
    _idf: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, documents: Iterable[Counter[str]]) -> Corpus:
        docs = list(documents)
        return cls(Counter(chain.from_iterable(docs)), len(docs))

    def vector(self, counts: Counter[str]) -> Vector:
        idf = self._idf
        for term in counts:
            if term not in idf:
                idf[term] = math.log((self.size + 1) / (self.df.get(term, 0) + 0.5))
        return _unit(
            {
                term: idf[term] if n == 1 else (1 + math.log(n)) * idf[term]
                for term, n in counts.items()
            }
        )


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
    #: the centroid times ``norm``: kept unnormalised so that an item joining changes it in the
    #: item's own terms only, not in every term of the story
    weights: Vector
    latest: datetime
    norm: float = 1.0
    outlets: set[int] = field(default_factory=set)
    size: int = 1
    #: the names its members' titles write, and those they write anywhere
    title_names: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)

    @classmethod
    def begin(cls, story_id: int, when: datetime, vector: Vector) -> Story:
        return cls(story_id, when, dict(vector), when, _norm(vector))

    def add(self, vector: Vector, when: datetime) -> None:
        """The centroid becomes the unit vector of (size x centroid + vector), the mean
        direction of its members so far: in the unnormalised weights, that is adding the
        vector scaled by norm / size (and the norm follows from the dot product)."""
        scale = self.norm / self.size
        weights = self.weights
        dot = sum(weights.get(term, 0.0) * w for term, w in vector.items())
        square = sum(w * w for w in vector.values())
        for term, w in vector.items():
            weights[term] = weights.get(term, 0.0) + scale * w
        self.norm = math.sqrt(max(self.norm**2 + 2 * scale * dot + scale**2 * square, 0.0))
        self.size += 1
        self.started, self.latest = min(self.started, when), max(self.latest, when)

    def similarity(self, vector: Vector, when: datetime, outlet: int | None, p: Params) -> float:
        apart = abs(when - self.latest) / p.decay
        weights = self.weights
        shared = sum(w * weights.get(term, 0.0) for term, w in vector.items())
        score = (shared / self.norm if self.norm else 0.0) * math.exp(-apart)
        return score / p.same_outlet if outlet in self.outlets else score

    def other_actors(self, names: Names) -> bool:
        """Do the item's title and the story's titles name different actors: neither side
        names, anywhere, whom the other's titles name?"""
        if not names.title or not self.title_names:
            return False
        return not _meet(names.title, self.names) and not _meet(self.title_names, names.every)


class StoryIndex:
    """Stories by the terms of their members, so an item is compared only with the stories it
    shares a term with (a few dozen), not with every story of the week."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Params()
        self.stories: dict[int, Story] = {}
        self._by_term: dict[str, set[int]] = {}

    def add(
        self,
        story_id: int,
        when: datetime,
        vector: Vector,
        outlet: int | None,
        names: Names = Names(),
    ) -> Story:
        story = self.stories.get(story_id)
        if story is None:
            story = self.stories[story_id] = Story.begin(story_id, when, vector)
        else:
            story.add(vector, when)
        if outlet is not None:
            story.outlets.add(outlet)
        story.title_names |= names.title
        story.names |= names.every
        for term in vector:
            self._by_term.setdefault(term, set()).add(story_id)
        return story

    def best(
        self,
        vector: Vector,
        when: datetime,
        outlet: int | None = None,
        names: Names = Names(),
    ) -> Story | None:
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
            if score >= best_score and not story.other_actors(names):
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
    an earlier story. ``members`` come oldest first; the earlier ones only weigh terms, tell
    names and make up the stories, and those that happened long before ``since`` are not
    compared at all."""
    corpus = Corpus.of(m.terms for m in members)
    names = names_of([m.terms for m in members])
    index = StoryIndex(params)
    recent = since - 2 * index.params.window
    moves = []
    for member in members:
        new = member.first_seen >= since
        if not new and member.happened < recent:
            continue
        vector = corpus.vector(member.terms)
        own = Names.of(member.terms, names)
        match = index.best(vector, member.happened, member.outlet_id, own) if new else None
        story_id = member.story_id if match is None else match.id
        if story_id != member.story_id:
            moves.append((member.id, story_id))
        index.add(story_id, member.happened, vector, member.outlet_id, own)
    return moves


def _norm(weights: Mapping[str, float]) -> float:
    return math.sqrt(sum(w * w for w in weights.values()))


def _unit(weights: Mapping[str, float]) -> Vector:
    norm = _norm(weights) or 1.0
    return {term: w / norm for term, w in weights.items()}
