"""Score an item against an article, with reasons (pure).

An article is turned into an ``ArticleModel`` once, against the background of the items already
stored (``score.terms`` says how terms behave there), and every item is then scored in two parts:

* **topic** — is the item about what the article is about? The article's named entities (words
  it capitalises mid-sentence, grouped into families such as Germany/German), weighted by how
  much the article uses them, plus *expansion* terms: words and phrases that are far more common
  in stored items mentioning the article's main entities than in the rest (pseudo-relevance
  feedback), so coverage naming a country's leader is found even when the article never names
  them. Named entities among the expansions count double a common word; words that come as a
  pair (a first name and a surname) count once. A name spelt several ways (Tchaikovsky,
  Tchaikovskiy; Sánchez, Sanchez) counts as one. The sum is then discounted by the item's
  *sense*: when the rest of its words are ones that stored coverage of the topic does not use
  (a country named in a football fixture), the name is not being used in the article's sense.
* **story** — is it the same story, not just the same topic? *Seed* phrases (two-word phrases the
  article repeats, outside its headings, that on-topic coverage also uses, plus the article's
  ``include_terms``), met word for word, or for less with both words apart or in another form
  ("a deal to secure the border" for "border security"), and the terms that stand out in
  on-topic items containing a seed, against the other on-topic items (forms of one word counting
  once; a seed's own word counts when the seed is not met).

Terms learned from the background must behave like content: used by two outlets or more (a term
only one outlet uses is its page furniture or a newsletter's name) and more common on the topic
than off it, on a cautious estimate. Both sums are squashed to 0–1 (``1 - exp(-x / scale)``).
``score`` is the topic part; an item is ``related`` at ``threshold`` and the ``story`` tier
needs the story part at ``story_threshold`` as well. The reasons name every matched term as the
item spells it and what it counted as. Nothing here knows any particular story: the model is
built from the article text and the stored items alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..models import Relevance
from . import terms
from .model import ArticleModel, Tuning
from .text import Doc, canonical_term, has_term, normalise_term, same_family


@dataclass(frozen=True)
class ArticleProfile:
    """A tracked article ready for scoring: its model and its thresholds."""

    id: int
    model: ArticleModel
    threshold: float
    story_threshold: float
    exclude_terms: tuple[str, ...] = ()


#: kinds of part that are evidence for a link (the others explain a discount)
EVIDENCE = ("entity", "expansion", "story phrase", "story words", "story term")
#: the kind of part recording the discount of an off-topic sense
OFF_TOPIC = "off-topic words"


@dataclass(frozen=True)
class Breakdown:
    """Every matched term with what it counted as and how much: the explanation of a score.
    An ``off-topic words`` part names the words that discounted the topic, and by how much."""

    topic: float
    story: float
    parts: tuple[tuple[str, str, float], ...]  # (kind, term, contribution)
    excluded: str | None = None


def breakdown(model: ArticleModel, doc: Doc, exclude_terms: Iterable[str] = ()) -> Breakdown:
    for term in exclude_terms:
        if has_term(doc.text, normalise_term(term)):
            return Breakdown(0.0, 0.0, (), excluded=term)
    t = model.tuning
    title, text, spelt = _as_model_reads(model, doc)
    parts: list[tuple[str, str, float]] = []
    used: set[str] = set()
    for kind, term, gain in _topic_parts(model, title, text, t):
        parts.append((kind, spelt.get(term, term), gain))
        used.update(term.split())
    topic = sum(gain for _, _, gain in parts)
    factor, off_words = _sense(model, text, used, t)
    if factor < 1.0 and topic:
        parts.append((OFF_TOPIC, ", ".join(off_words), topic * (1.0 - factor)))
        topic *= factor
    story_parts = _story_parts(model, title, text, t)
    parts.extend((kind, spelt.get(term, term), gain) for kind, term, gain in story_parts)
    story = sum(gain for _, _, gain in story_parts)
    # ties broken by term: set iteration order changes from one process to the next
    parts.sort(key=lambda p: (-p[2], p[1]))
    return Breakdown(topic, story, tuple(parts))


def _as_model_reads(model: ArticleModel, doc: Doc) -> tuple[set[str], set[str], dict[str, str]]:
    """The item's title and text with other spellings and forms turned into the model's words,
    and how the item spelt each word it turned (reasons show the item's own spelling)."""
    found = {w: model.aliases[w] for w in doc.text & model._alias_keys}
    found.update(_new_spellings(model, doc.text))
    if not found:
        return doc.title, doc.text, {}
    turned = {g: canonical_term(g, found) for g in doc.text}
    spelt = {model_term: g for g, model_term in turned.items() if model_term != g}
    return {turned[g] for g in doc.title}, set(turned.values()), spelt


def _new_spellings(model: ArticleModel, grams_: set[str]) -> dict[str, str]:
    """Words of the item within a letter or two of one of the model's names, never met in the
    background (so not known as another name): a spelling the model has not seen yet."""
    index = model._name_index
    if not index:
        return {}
    found = {}
    for word in grams_:
        if len(word) < 6 or " " in word:
            continue
        names = index.get(word[:2])
        if not names or word in names or word in model.aliases or word in model._others:
            continue
        for name in names:
            if terms.near_names(word, name):
                found[word] = name
                break
    return found


def _topic_parts(
    model: ArticleModel, title: set[str], text: set[str], t: Tuning
) -> list[tuple[str, str, float]]:
    """Entities (the strongest of each family) and expansions (the strongest of each group)."""
    best: dict[str, tuple[str, str, float]] = {}
    for entity, weight in model.entities.items():
        if entity in text:
            family = "entity:" + model.families.get(entity, entity)
            gain = weight * (t.title_boost if entity in title else t.summary_factor)
            if gain > best.get(family, ("", "", 0.0))[2]:
                best[family] = ("entity", entity, gain)
    for term in text:
        expansion = model.expansions.get(term)
        if expansion:
            group = "expansion:" + model.groups.get(term, term)
            gain = expansion * t.expansion_weight * _boost(term, title, t)
            if gain > best.get(group, ("", "", 0.0))[2]:
                best[group] = ("expansion", term, gain)
    return list(best.values())


def _sense(
    model: ArticleModel, text: set[str], used: set[str], t: Tuning
) -> tuple[float, list[str]]:
    """The discount of an item whose other words are, on average, ones that on-topic coverage
    does not use, and the most telling of them."""
    values = [(model.sense[w], w) for w in text if w in model.sense and w not in used]
    # a mean of a few words is shrunk toward neutral: two odd words are not yet a sense
    mean = sum(v for v, _ in values) / (len(values) + t.sense_shrink)
    if mean >= 0:
        return 1.0, []
    return math.exp(t.sense_weight * mean), [w for _, w in sorted(values)[:3]]


def _story_parts(
    model: ArticleModel, title: set[str], text: set[str], t: Tuning
) -> list[tuple[str, str, float]]:
    """Seeds met word for word, or with their words apart or in other forms (for less), and
    story terms, each group of forms of a word once, but not the words of a seed that met."""
    parts: list[tuple[str, str, float]] = []
    met_words: set[str] = set()
    for seed in model.seeds:
        found = _variant(text, seed)
        if found:
            parts.append(("story phrase", found, t.seed_weight * _boost(found, title, t)))
            met_words.update(seed.split())
        elif " " in seed and all(word in text for word in seed.split()):
            boost = t.title_boost if all(w in title for w in seed.split()) else t.summary_factor
            parts.append(("story words", seed, t.seed_weight * t.loose_seed_factor * boost))
            met_words.update(seed.split())
    best: dict[str, tuple[str, float]] = {}
    for term in text:
        weight = model.story_terms.get(term)
        if weight and term not in met_words:
            group = " ".join(terms.word_stem(w) for w in term.split())
            gain = weight * t.story_term_weight * _boost(term, title, t)
            if gain > best.get(group, ("", 0.0))[1]:
                best[group] = (term, gain)
    parts.extend(("story term", term, gain) for term, gain in best.values())
    return parts


def _variant(grams_: set[str], phrase: str) -> str | None:
    """The phrase, or a variant of its last word ("trade negotiator" for "trade negotiation")."""
    if has_term(grams_, phrase):
        return phrase
    words = phrase.split()
    # every word of a phrase of the item is among its words too
    if len(words) != 2 or words[0] not in grams_:
        return None
    for gram in grams_:
        parts = gram.split()
        if len(parts) == 2 and parts[0] == words[0] and same_family(parts[1], words[1]):
            return gram
    return None


def _boost(term: str, title: set[str], t: Tuning) -> float:
    return t.title_boost if has_term(title, term) else t.summary_factor


def squash(value: float, scale: float) -> float:
    return 1.0 - math.exp(-value / scale)


def score_doc(profile: ArticleProfile, doc: Doc) -> Relevance:
    model = profile.model
    b = breakdown(model, doc, profile.exclude_terms)
    if b.excluded:
        return Relevance(0.0, (f'excluded: "{b.excluded}"',), tier="none")
    topic = squash(b.topic, model.tuning.topic_scale)
    story = squash(b.story, model.tuning.story_scale)
    tier = "none"
    if topic >= profile.threshold:
        tier = "story" if story >= profile.story_threshold else "related"
    reasons = tuple(f'{kind}: "{term}"' for kind, term, _ in b.parts if kind in EVIDENCE)
    return Relevance(round(topic, 4), reasons, tier, story_score=round(story, 4))


def score_item(profile: ArticleProfile, title: str, summary: str) -> Relevance:
    return score_doc(profile, Doc.of(title, summary))
