"""The scorer learns from the analyst's judgements of an article's items (pure).

``learn(model, judged)`` returns the article's model adjusted by the items the analyst marked
(``tracker mark``), through the model's own parts, so items like them follow:

* words of items marked **unrelated** that no item marked story or related uses, and that are
  not the article's names, get a negative *sense*: an item using them is discounted, as an item
  whose other words on-topic coverage does not use is (``tracker explain`` shows it on the
  ``off-topic words`` line, saying it comes from the marks);
* expansions and story terms met in items marked unrelated more often than in items marked
  story or related weigh less;
* terms that several items marked **story** share, and no item marked otherwise, become story
  terms.

The stored model (learned from the background) is left as it is: the marks are applied on top of
it whenever profiles are built for scoring, so a mark takes effect at the next poll and ``unmark``
restores the model exactly. Nothing here knows any story: only the marked items' words count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

from .model import ArticleModel
from .relevance import OFF_TOPIC, Breakdown
from .text import Doc, canonical_doc, is_content_word

#: the analyst's labels that say an item is about the article
POSITIVE = ("story", "related")


@dataclass(frozen=True)
class Lessons:
    """How much a mark teaches; one set for every article (see bench/relevance.py)."""

    #: the sense a word of unrelated-marked items gets, per such item using it
    unrelated_sense: float = -2.0
    #: the most negative sense a mark can give a word
    floor_sense: float = -4.0
    #: a word on-topic coverage uses more than this (its sense in the background) keeps it
    sense_ceiling: float = 0.0
    #: items marked unrelated, beyond those marked story or related, that make a term weaker
    down_margin: int = 1
    #: an expansion or story term is multiplied by this per unrelated-marked item more than
    #: positively marked items using it
    weaker: float = 0.5
    #: the least share of its weight a term keeps, however many marks it meets
    weakest: float = 0.25
    #: story-marked items that must share a term for it to become a story term
    story_support: int = 2
    #: a learned story term's weight (a background story term weighs log of its lift, ~1–2)
    story_weight: float = 1.0


DEFAULT_LESSONS = Lessons()


@dataclass(frozen=True)
class LearnedModel(ArticleModel):
    """An article's model with what the analyst's marks taught it, and which terms those are
    (for ``tracker explain``). Never stored: the marks are applied afresh each time."""

    #: words whose sense the items marked unrelated set
    marked_off: frozenset[str] = field(default_factory=frozenset)
    #: expansions and story terms that weigh less for being in items marked unrelated
    marked_down: frozenset[str] = field(default_factory=frozenset)
    #: story terms learned from items marked story
    marked_story: frozenset[str] = field(default_factory=frozenset)
    marks: int = 0


def learn(
    model: ArticleModel,
    judged: Sequence[tuple[Doc, str]],
    lessons: Lessons = DEFAULT_LESSONS,
) -> ArticleModel:
    """The model adjusted by the article's judged items (each a ``Doc`` and its label)."""
    if isinstance(model, LearnedModel):
        # marks are applied once, on the stored model: twice would count them twice
        raise TypeError("learn() takes the stored model, not one already learned")
    base = model
    if not judged:
        return base
    docs = [(canonical_doc(doc, base.aliases), label) for doc, label in judged]
    unrelated = [doc.text for doc, label in docs if label == "unrelated"]
    story = [doc.text for doc, label in docs if label == "story"]
    related = [doc.text for doc, label in docs if label == "related"]
    positive = story + related
    names = _names(base)
    u_df = Counter(t for text in unrelated for t in text)
    p_df = Counter(t for text in positive for t in text)

    sense = dict(base.sense)
    off: set[str] = set()
    for word, n in u_df.items():
        if " " in word or p_df[word] or word in names or not is_content_word(word):
            continue
        if word in base.expansions or word in base.story_terms:
            continue
        if base.sense.get(word, 0.0) > lessons.sense_ceiling:
            continue
        value = max(lessons.floor_sense, lessons.unrelated_sense * n)
        if value < sense.get(word, 0.0):
            sense[word] = value
            off.add(word)

    down: set[str] = set()
    expansions = _weaker(base.expansions, u_df, p_df, lessons, down)
    story_terms = _weaker(base.story_terms, u_df, p_df, lessons, down)

    learned_story = _story_terms(base, story, related, u_df, story_terms, lessons)
    story_terms.update(learned_story)

    kept = {f.name: getattr(base, f.name) for f in fields(ArticleModel)}
    kept.update(sense=sense, expansions=expansions, story_terms=story_terms)
    return LearnedModel(
        **kept,
        marked_off=frozenset(off),
        marked_down=frozenset(down),
        marked_story=frozenset(learned_story),
        marks=len(judged),
    )


def _story_terms(
    base: ArticleModel,
    story: Sequence[set[str]],
    related: Sequence[set[str]],
    u_df: Mapping[str, int],
    story_terms: Mapping[str, float],
    lessons: Lessons,
) -> dict[str, float]:
    """Terms several items marked story share, that no item marked unrelated uses and fewer
    items marked related do: what the story says beyond the topic. The article's names, its
    expansions (topic words) and its seeds' words are the topic or the story already."""
    s_df = Counter(t for text in story for t in text)
    r_df = Counter(t for text in related for t in text)
    names = _names(base)
    seed_words = {w for seed in base.seeds for w in seed.split()}
    learned = {}
    for term, n in s_df.items():
        if n < lessons.story_support or u_df.get(term, 0) or r_df[term] >= n:
            continue
        words = term.split()
        if not all(is_content_word(w) for w in words) or set(words) & names:
            continue
        if term in base.seeds or term in story_terms or set(words) <= seed_words:
            continue
        if any(w in base.expansions for w in [term, *words]):
            continue
        learned[term] = lessons.story_weight
    return learned


def _weaker(
    weights: Mapping[str, float],
    u_df: Mapping[str, int],
    p_df: Mapping[str, int],
    lessons: Lessons,
    down: set[str],
) -> dict[str, float]:
    out = dict(weights)
    for term, weight in weights.items():
        extra = u_df.get(term, 0) - p_df.get(term, 0)
        if extra >= lessons.down_margin:
            out[term] = round(weight * max(lessons.weakest, lessons.weaker**extra), 4)
            down.add(term)
    return out


def _names(model: ArticleModel) -> set[str]:
    """The article's own names: never made off-topic by a mark."""
    return {w for e in model.entities for w in e.split()} | set(model.families.values())


#: what explain adds to a term the marks changed
FROM_MARKS_OFF = "from your marks: in items you marked unrelated"
FROM_MARKS_DOWN = "weighs less: in items you marked unrelated"
FROM_MARKS_STORY = "from your marks: shared by items you marked story"


def explained(model: ArticleModel, b: Breakdown) -> Breakdown:
    """The breakdown with each part the analyst's marks set or changed saying so (for
    ``tracker explain``): off-topic words the marks made off-topic, terms that weigh less for
    being in items marked unrelated, story terms learned from items marked story."""
    if not isinstance(model, LearnedModel) or not model.marks:
        return b
    parts = []
    for kind, term, gain in b.parts:
        note = None
        if kind == OFF_TOPIC:
            if any(word in model.marked_off for word in term.split(", ")):
                note = FROM_MARKS_OFF
        elif term in model.marked_story:
            note = FROM_MARKS_STORY
        elif term in model.marked_down:
            note = FROM_MARKS_DOWN
        parts.append((kind, f"{term} ({note})" if note else term, gain))
    return replace(b, parts=tuple(parts))
