"""An article's relevance model, learned from its text and the stored items (pure).

What the model holds and how each part is found: ``score.relevance``'s docstring;
``score.terms`` says how terms behave in the background they are learned from.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from . import terms
from .text import (
    Doc,
    canonical_doc,
    capitals,
    has_term,
    is_content_word,
    is_heading,
    mid_sentence_words,
    normalise_term,
    numbered_names,
    phrases,
    raw_term,
    same_family,
    tokens,
    written_as_name,
)


@dataclass(frozen=True)
class Tuning:
    """The scorer's few numbers, one set for every article (see bench/relevance.py)."""

    title_boost: float = 1.3
    #: a match only in the summary counts less: names met in passing there are common
    summary_factor: float = 0.8
    expansion_weight: float = 0.35
    common_word_factor: float = 0.5
    seed_weight: float = 2.0
    #: a seed's words both in the item but apart, or in other forms
    loose_seed_factor: float = 0.6
    story_term_weight: float = 0.5
    topic_scale: float = 3.0
    story_scale: float = 3.0
    #: a term must be this many times more common in on-topic items to expand the topic
    min_lift: float = 4.0
    min_story_lift: float = 2.5
    #: a phrase of the article is a seed only if on-topic items use it this much more than others
    min_seed_lift: float = 2.0
    min_support: int = 5
    #: an entity family weighing at least this share of the strongest one defines the topic
    core_share: float = 0.4
    #: terms learned from the background must be used by this many outlets (once it holds 3+)
    min_outlets: int = 2
    #: two spellings are one name when the words around them are this alike (cosine)
    variant_similarity: float = 0.3
    #: a word's share of on-topic items is smoothed with this many pseudo-items at the base rate
    sense_prior: float = 5.0
    #: items a word needs to tell the item's sense
    sense_support: int = 3
    #: how hard an off-topic sense discounts the topic: the sum times exp(weight * mean sense)
    sense_weight: float = 1.0
    #: the mean sense of an item's words is taken over this many neutral words more
    sense_shrink: float = 3.0
    #: of two expansions, one found with the other this often counts only once (a first name)
    together: float = 0.8


DEFAULT_TUNING = Tuning()


@dataclass(frozen=True)
class ArticleModel:
    """Everything the scorer knows about one article; JSON-serialisable via ``to_json``."""

    entities: dict[str, float]
    families: dict[str, str]
    expansions: dict[str, float]
    seeds: tuple[str, ...]
    story_terms: dict[str, float]
    background: int = 0
    #: other spellings of its names and other forms of its words -> the model's word
    aliases: dict[str, str] = field(default_factory=dict)
    #: its names, for spellings not met before (an item's new spelling still counts)
    names: tuple[str, ...] = ()
    #: near spellings of its names that are other names (Carey is not Carney)
    others: tuple[str, ...] = ()
    #: expansions that count once with another (a first name with the surname) -> that one
    groups: dict[str, str] = field(default_factory=dict)
    #: words with how much more (or less) on-topic items use them: the sense of an item
    sense: dict[str, float] = field(default_factory=dict)
    tuning: Tuning = field(default=DEFAULT_TUNING)

    def to_json(self) -> dict[str, object]:
        return {
            "entities": self.entities,
            "families": self.families,
            "expansions": self.expansions,
            "seeds": list(self.seeds),
            "story_terms": self.story_terms,
            "background": self.background,
            "aliases": self.aliases,
            "names": list(self.names),
            "others": list(self.others),
            "groups": self.groups,
            "sense": self.sense,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object], tuning: Tuning = DEFAULT_TUNING) -> ArticleModel:
        """A stored model; keys a model stored by an older version lacks are empty."""
        return cls(
            entities=_floats(data.get("entities")),
            families=_strings(data.get("families")),
            expansions=_floats(data.get("expansions")),
            seeds=_words(data.get("seeds")),
            story_terms=_floats(data.get("story_terms")),
            background=int(data.get("background", 0)),  # type: ignore[call-overload]
            aliases=_strings(data.get("aliases")),
            names=_words(data.get("names")),
            others=_words(data.get("others")),
            groups=_strings(data.get("groups")),
            sense=_floats(data.get("sense")),
            tuning=tuning,
        )

    def key_terms(self) -> dict[str, float]:
        """A flat view for people: strongest terms of every part, 0–1."""
        merged: dict[str, float] = {}
        for part in (self.entities, self.expansions, self.story_terms):
            top = max(part.values(), default=1.0)
            for term, weight in part.items():
                merged[term] = max(merged.get(term, 0.0), round(weight / top, 4))
        for seed in self.seeds:
            merged[seed] = 1.0
        return merged

    @cached_property
    def _alias_keys(self) -> frozenset[str]:
        return frozenset(self.aliases)

    @cached_property
    def _name_index(self) -> dict[str, tuple[str, ...]]:
        """Names by their first two letters: where an unknown spelling looks for its name."""
        index: dict[str, list[str]] = {}
        for name in self.names:
            index.setdefault(name[:2], []).append(name)
        return {start: tuple(names) for start, names in index.items()}

    @cached_property
    def _others(self) -> frozenset[str]:
        return frozenset(self.others)


def _floats(value: object) -> dict[str, float]:
    return {str(k): float(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _words(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def build_model(
    title: str,
    text: str,
    background: Sequence[Doc],
    *,
    include_terms: Iterable[str] = (),
    ignore_names: Iterable[str] = (),
    summaries: Iterable[str] = (),
    tuning: Tuning = DEFAULT_TUNING,
    df: Mapping[str, int] | None = None,
    proper: set[str] | None = None,
    outlets: Sequence[object] | None = None,
) -> ArticleModel:
    """Learn an article's model from its text and the stored items (``background``).

    ``ignore_names`` are names that are not topics (the outlets an article cites);
    ``summaries`` are raw item summaries, used to tell names (mostly capitalised) from words.
    ``df`` (document frequencies of ``background``) and ``proper`` (the names among its words)
    are counted from it unless given: a ``score.background.Background`` keeps both as items
    arrive. ``outlets`` (the outlet of each background item, when known) lets terms only one
    outlet uses be told from content.
    """
    ignored = {word for name in ignore_names for word in tokens(name)}
    if df is None:
        df = Counter(term for doc in background for term in doc.text)
    if proper is None:
        proper = _proper_nouns(summaries)
    entity_counts = _entities(text, ignored)
    # one name spelt several ways is counted under its most used spelling, everywhere
    aliases, others = terms.name_variants(
        proper | entity_counts.keys(), df, background, tuning.variant_similarity
    )
    if aliases:
        background = [canonical_doc(doc, aliases) for doc in background]
        df = _canonical_counts(df, aliases)
        entity_counts = _canonical_counts(entity_counts, aliases)
        proper = {aliases.get(name, name) for name in proper}
    families = _families(entity_counts)
    entities = _family_weights(entity_counts, families)
    core = {e for e, w in entities.items() if w >= tuning.core_share}
    on_topic = [d for d in background if d.text & core]
    spread = _Spread(background, outlets, tuning.min_outlets)
    expansions = _expansions(on_topic, background, df, entities, proper, spread, tuning)
    seeds = _seeds(
        title,
        text,
        on_topic,
        df,
        len(background),
        entities,
        proper | entities.keys(),
        include_terms,
        spread,
        tuning,
    )
    story_terms = _story_terms(seeds, on_topic, entities, df, len(background), spread, tuning)
    words = {w for term in (*expansions, *story_terms, *seeds) for w in term.split()}
    forms = terms.word_forms(
        (w for w in words if w not in proper), (t for t in df if t not in proper and t not in words)
    )
    names = sorted(
        n for n in {*entities, *(t for t in expansions if _is_name(t, proper))} if " " not in n
    )
    # spellings of names the model does not use change none of its scores
    used = words | {w for term in entities for w in term.split()}
    aliases = {variant: name for variant, name in aliases.items() if name in used}
    return ArticleModel(
        entities=entities,
        families=families,
        expansions=_rounded(expansions),
        seeds=seeds,
        story_terms=_rounded(story_terms),
        background=len(background),
        aliases=dict(sorted({**forms, **aliases}.items())),
        names=tuple(names),
        others=tuple(sorted(others)),
        groups=_groups(expansions, on_topic, proper, tuning),
        sense=_sense_weights(on_topic, background, df, {*entities, *expansions}, tuning),
        tuning=tuning,
    )


def _canonical_counts(counts: Mapping[str, int], aliases: Mapping[str, str]) -> Counter[str]:
    """Counts with every spelling's added to its name's (items using two spellings are rare)."""
    merged = Counter(counts)
    for term, count in counts.items():
        words = term.split(" ")
        if any(w in aliases for w in words):
            del merged[term]
            merged[" ".join(aliases.get(w, w) for w in words)] += count
    return merged


class _Spread:
    """How many outlets use a term, when the background's outlets are known (3 or more)."""

    def __init__(self, docs: Sequence[Doc], outlets: Sequence[object] | None, needed: int) -> None:
        known = outlets is not None and len({o for o in outlets if o is not None}) >= 3
        self._docs = docs
        self._outlets = outlets if known else None
        self._needed = needed

    def keep(self, candidates: Iterable[str]) -> set[str]:
        """The candidates used by enough outlets (all of them when outlets are unknown)."""
        wanted = set(candidates)
        if self._outlets is None or not wanted:
            return wanted
        counts = terms.outlets_per_term(self._docs, self._outlets, wanted)
        return {t for t in wanted if counts[t] >= self._needed}


def _expansions(
    on_topic: Sequence[Doc],
    background: Sequence[Doc],
    df: Mapping[str, int],
    entities: Mapping[str, float],
    proper: set[str],
    spread: _Spread,
    tuning: Tuning,
) -> dict[str, float]:
    if not on_topic:
        return {}
    floor = max(tuning.min_support, 0.03 * len(on_topic))
    # no term is more than N/n times more common in n of N items: when the topic fills a large
    # share of the background (a feed about one industry), a name needs half of that
    name_lift = min(tuning.min_lift, 0.5 * len(background) / len(on_topic))
    lifted = {
        term: lift
        for term, lift in terms.lifts(on_topic, df, len(background), floor).items()
        # a phrase holding an entity ("french wine") would count that entity twice
        if lift >= (name_lift if _is_name(term, proper) else tuning.min_lift)
        and _is_term(term)
        and not set(term.split()) & entities.keys()
    }
    kept = spread.keep(lifted)
    return {
        term: math.log(lift) * (1.0 if _is_name(term, proper) else tuning.common_word_factor)
        for term, lift in lifted.items()
        if term in kept
    }


def _groups(
    expansions: Mapping[str, float], on_topic: Sequence[Doc], proper: set[str], tuning: Tuning
) -> dict[str, str]:
    """Expansions that count once with another: a name nearly always written next to another
    name (a first name before the surname) joins it, and a phrase joins its strongest word."""
    names = {t for t in expansions if " " not in t and _is_name(t, proper)}
    df: Counter[str] = Counter()
    for doc in on_topic:
        df.update(t for t in doc.text if t in names or (" " in t and t.split()[0] in names))
    groups: dict[str, str] = {}
    for a in sorted(names):
        partners = [
            b
            for b in names
            if b != a
            and df[b] >= df[a]
            and df[f"{a} {b}"] + df[f"{b} {a}"] >= tuning.together * df[a]
        ]
        if partners:
            groups[a] = max(partners, key=lambda b: (df[f"{a} {b}"] + df[f"{b} {a}"], b))
    for term in expansions:
        words = [w for w in term.split() if w in expansions] if " " in term else []
        if words:
            strongest = max(words, key=lambda w: (expansions[w], w))
            groups[term] = groups.get(strongest, strongest)
    return dict(sorted(groups.items()))


def _sense_weights(
    on_topic: Sequence[Doc],
    background: Sequence[Doc],
    df: Mapping[str, int],
    topic_terms: set[str],
    tuning: Tuning,
) -> dict[str, float]:
    """For each word the background uses enough, log of how much more often than the base rate
    an item using it is on the topic (negative: less often), smoothed toward the base rate."""
    if not on_topic or len(on_topic) == len(background):
        return {}
    base = len(on_topic) / len(background)
    topic_df = Counter(t for doc in on_topic for t in doc.text if " " not in t)
    prior = tuning.sense_prior
    weights = {}
    for term, count in df.items():
        if count < tuning.sense_support or " " in term or term in topic_terms:
            continue
        if not is_content_word(term):
            continue
        share = (topic_df[term] + prior * base) / (count + prior)
        weight = math.log(share / base)
        if abs(weight) >= 0.3:
            weights[term] = round(weight, 2)
    return dict(sorted(weights.items()))


def _entities(text: str, ignored: set[str]) -> Counter[str]:
    """Words capitalised mid-sentence, outside headings (where every word is capitalised)."""
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if is_heading(numbered_names(line)):
            continue
        for word in mid_sentence_words(line):
            term = raw_term(word)
            if written_as_name(word) and is_content_word(term) and term not in ignored:
                counts[term] += 1
    return counts


def _families(counts: Counter[str]) -> dict[str, str]:
    """Group variants of one name (Germany, German) under the most frequent of them."""
    families: dict[str, str] = {}
    for term, _ in counts.most_common():
        families[term] = next(
            (r for r in sorted(set(families.values())) if same_family(r, term)), term
        )
    return families


def _family_weights(counts: Counter[str], families: dict[str, str]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for term, count in counts.items():
        totals[families[term]] += count
    strongest = max(totals.values(), default=1)
    return {term: round(totals[families[term]] / strongest, 4) for term in counts}


def _is_term(term: str) -> bool:
    return all(is_content_word(word) for word in term.split())


def _proper_nouns(summaries: Iterable[str]) -> set[str]:
    """Stems written with a capital mid-sentence at least 70% of the time (3+ uses)."""
    capital: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for summary in summaries:
        more_capital, more_total = capitals(summary)
        capital.update(more_capital)
        total.update(more_total)
    return {t for t, n in total.items() if n >= 3 and capital[t] / n >= 0.7}


def _is_name(term: str, proper: set[str]) -> bool:
    return all(word in proper for word in term.split())


def _seeds(
    title: str,
    text: str,
    on_topic: Sequence[Doc],
    df: Mapping[str, int],
    total: int,
    entities: Mapping[str, float],
    names: set[str],
    include_terms: Iterable[str],
    spread: _Spread,
    tuning: Tuning,
) -> tuple[str, ...]:
    """Phrases the article repeats (title and headings count more) that coverage also uses, and
    uses more on the topic than off it (a heading such as "Key Takeaways" is all over the
    background), naming something other than the topic's own entities."""
    counts: Counter[str] = Counter()
    in_prose: set[str] = set()
    for number, line in enumerate([title, *text.splitlines()]):
        heading = number == 0 or is_heading(line)
        for phrase in phrases(tokens(line)):
            counts[phrase] += 2 if heading else 1
            if not heading:
                in_prose.add(phrase)
    used = Counter(term for doc in on_topic for term in doc.text if " " in term)
    # with little coverage stored yet, one on-topic use is evidence enough
    support = max(1, min(3, len(on_topic) // 10))
    candidates = {
        phrase
        for phrase, n in counts.items()
        # a phrase met only in headings is the template's ("Key Takeaways"), not the story's
        if n >= 2
        and phrase in in_prose
        and used[phrase] >= support
        and (used[phrase] / len(on_topic)) / (df[phrase] / total) >= tuning.min_seed_lift
        # the topic's own name with a common word ("support France") is the topic's coverage
        # at large; a phrase of names ("Galaxy Fold") names one thing, one of common words
        # ("border security") one matter
        and (not set(phrase.split()) & entities.keys() or _is_name(phrase, names))
    }
    found = spread.keep(candidates)
    declared = {normalise_term(term) for term in include_terms}
    return tuple(sorted(found | {d for d in declared if d}))


def _story_terms(
    seeds: Sequence[str],
    on_topic: Sequence[Doc],
    entities: Mapping[str, float],
    df: Mapping[str, int],
    total: int,
    spread: _Spread,
    tuning: Tuning,
) -> dict[str, float]:
    """Terms that stand out in on-topic items containing a seed, against other on-topic items,
    and are more common on the topic than off it. A seed's own word counts (it finds the seed's
    idea when the other word is missing); a phrase of seed words is the seed itself."""
    with_seed = [d for d in on_topic if _matches_any(d.text, seeds)]
    if len(with_seed) < 3:
        return {}
    topic_df = Counter(term for doc in on_topic for term in doc.text)
    lifted = terms.lifts(with_seed, topic_df, len(on_topic), 3)
    seed_words = {word for seed in seeds for word in seed.split()}
    candidates = {
        term: lift
        for term, lift in lifted.items()
        if lift >= tuning.min_story_lift
        and _is_term(term)
        and term not in seeds
        and term not in entities
        and not (" " in term and set(term.split()) <= seed_words)
        # clearly more common on the topic than off it: not a word of every kind of item
        and terms.cautious_lift(topic_df[term], len(on_topic), df[term], total)
        >= tuning.min_seed_lift
    }
    kept = spread.keep(candidates)
    return {term: math.log(lift) for term, lift in candidates.items() if term in kept}


def _matches_any(grams_: set[str], terms: Iterable[str]) -> bool:
    return any(has_term(grams_, term) for term in terms)


def _rounded(weights: Mapping[str, float]) -> dict[str, float]:
    return {term: round(weight, 4) for term, weight in sorted(weights.items())}


def changed_enough(old: ArticleModel, new: ArticleModel, tolerance: float = 0.05) -> bool:
    """Whether scores under ``new`` may differ from those under ``old``: a term, seed, spelling
    or group gained or lost, a weight moved by more than ``tolerance`` (of the strongest of its
    kind), or the sense of more than ``tolerance`` of the words moved by half a unit or more."""
    if set(old.seeds) != set(new.seeds) or old.families != new.families:
        return True
    if old.aliases != new.aliases or old.groups != new.groups or old.names != new.names:
        return True
    for before, after in (
        (old.entities, new.entities),
        (old.expansions, new.expansions),
        (old.story_terms, new.story_terms),
    ):
        if before.keys() != after.keys():
            return True
        top = max(after.values(), default=1.0) or 1.0
        if any(abs(before[t] - after[t]) > tolerance * top for t in after):
            return True
    words = old.sense.keys() | new.sense.keys()
    moved = sum(abs(old.sense.get(w, 0.0) - new.sense.get(w, 0.0)) >= 0.5 for w in words)
    return moved > tolerance * len(words)
