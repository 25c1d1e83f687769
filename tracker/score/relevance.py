"""Score an item against an article, with reasons (pure).

An article is turned into an ``ArticleModel`` once, against the background of the items already
stored, and every item is then scored in two parts:

* **topic** — is the item about what the article is about? The article's named entities (words
  it capitalises mid-sentence, grouped into families such as Germany/German), weighted by how
  much the article uses them, plus *expansion* terms: words and phrases that are far more common
  in stored items mentioning the article's main entity than in the rest (pseudo-relevance
  feedback), so coverage naming a country's leader is found even when the article never names
  them. Named entities among the expansions count double a common word.
* **story** — is it the same story, not just the same topic? *Seed* phrases (two-word phrases the
  article repeats that also occur in on-topic coverage, plus the article's ``include_terms``) and
  the terms that stand out in on-topic items containing a seed, against the other on-topic items.

Both sums are squashed to 0–1 (``1 - exp(-x / scale)``). ``score`` is the topic part; an item is
``related`` at ``threshold`` and the ``story`` tier needs the story part at ``story_threshold``
as well. The reasons name every matched term and what it counted as. Nothing here knows any
particular story: the model is built from the article text and the stored items alone.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from ..models import Relevance

# hyphens split words: "Spain-Morocco talks" are about Spain and Morocco
_TOKEN = re.compile(r"[^\W\d_][\w'’]*", re.UNICODE)
_RAW_WORD = re.compile(r"[^\W\d_][\w'’.]*[^\W_]|[^\W\d_]", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")

STOPWORDS = frozenset(
    """
    a about above across after again against all almost also although always am among an and
    another any are aren't around as at away be became because been before being below beneath
    besides between beyond both but by can cannot could did do does doing done down during each
    either else enough even ever every few for from further had has have having he her here hers
    herself him himself his how however i if in into is isn't it its itself just least less like
    likely made make many may me might mine more most much must my myself near nearly neither
    never nevertheless no nor not now of off often on once one only onto or other others otherwise
    our ours ourselves out over own per perhaps rather said same say says several shall she should
    since so some still such than that the their theirs them themselves then there these they this
    those though through throughout thus to too toward towards under until up upon us very via was
    we were what whatever when where whether which while who whom whose why will with within
    without would yet you your yours yourself yourselves new news two three first last year years
    time times day days week weeks according told including include includes well way ways get
    gets got go goes going back take takes took come comes came see seen look looks looking want
    wants know known use used using need needs needed put puts set sets make makes making amid
    s t don't can't won't it's monday tuesday wednesday thursday friday saturday sunday today
    yesterday tomorrow january february march april june july august september october november
    december
    """.split()
)

#: words of page furniture that say nothing about a story
BOILERPLATE = frozenset(
    "share article comment comments leave reply email address published required fields marked "
    "read min minute minutes subscribe newsletter sign click advertisement photo image video "
    "getty copyright live briefing".split()
)


@dataclass(frozen=True)
class Tuning:
    """The scorer's few numbers, tuned on labelled days (see bench/relevance.py)."""

    title_boost: float = 1.3
    #: a match only in the summary counts less: names met in passing there are common
    summary_factor: float = 0.8
    expansion_weight: float = 0.35
    common_word_factor: float = 0.5
    seed_weight: float = 2.0
    story_term_weight: float = 0.5
    topic_scale: float = 3.0
    story_scale: float = 3.0
    #: a term must be this many times more common in on-topic items to expand the topic
    min_lift: float = 4.0
    min_story_lift: float = 2.5
    min_support: int = 5
    #: an entity family weighing at least this share of the strongest one defines the topic
    core_share: float = 0.4


DEFAULT_TUNING = Tuning()


# --- words -------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Lower-case word stems: possessives and plurals folded so 'elections' meets 'election'."""
    return [stem(t) for t in _TOKEN.findall(text.casefold().replace("’", "'"))]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    if not word.isascii():
        word = fold_accents(word)
    word = word.strip("'-.")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def fold_accents(word: str) -> str:
    """Accents folded ("Sánchez" -> "sanchez"): outlets spell one name with and without them."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def is_content_word(token: str) -> bool:
    return len(token) > 2 and token not in STOPWORDS and token not in BOILERPLATE


def grams(text: str) -> set[str]:
    """Stems of a text plus two-word phrases: neighbours once stopwords are taken out, so
    "coalition of the willing" gives "coalition willing"."""
    words = tokens(text)
    return set(words) | set(phrases(words))


def phrases(words: Sequence[str]) -> list[str]:
    content = [w for w in words if is_content_word(w)]
    return [f"{a} {b}" for a, b in pairwise(content)]


def normalise_term(term: str) -> str:
    """A user's term as the scorer sees it: content-word stems ("elections" -> "election")."""
    return " ".join(w for w in tokens(term) if is_content_word(w)) or " ".join(tokens(term))


@dataclass(frozen=True)
class Doc:
    """A stored item as the model sees it."""

    title: set[str]
    text: set[str]

    @classmethod
    def of(cls, title: str, summary: str) -> Doc:
        title_grams = grams(title)
        return cls(title_grams, title_grams | grams(summary))


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleModel:
    """Everything the scorer knows about one article; JSON-serialisable via ``to_json``."""

    entities: dict[str, float]
    families: dict[str, str]
    expansions: dict[str, float]
    seeds: tuple[str, ...]
    story_terms: dict[str, float]
    background: int = 0
    tuning: Tuning = field(default=DEFAULT_TUNING)

    def to_json(self) -> dict[str, object]:
        return {
            "entities": self.entities,
            "families": self.families,
            "expansions": self.expansions,
            "seeds": list(self.seeds),
            "story_terms": self.story_terms,
            "background": self.background,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object], tuning: Tuning = DEFAULT_TUNING) -> ArticleModel:
        return cls(
            entities=dict(data.get("entities", {})),  # type: ignore[arg-type]
            families=dict(data.get("families", {})),  # type: ignore[arg-type]
            expansions=dict(data.get("expansions", {})),  # type: ignore[arg-type]
            seeds=tuple(data.get("seeds", ())),  # type: ignore[arg-type]
            story_terms=dict(data.get("story_terms", {})),  # type: ignore[arg-type]
            background=int(data.get("background", 0)),  # type: ignore[arg-type]
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
) -> ArticleModel:
    """Learn an article's model from its text and the stored items (``background``).

    ``ignore_names`` are names that are not topics (the outlets an article cites);
    ``summaries`` are raw item summaries, used to tell names (mostly capitalised) from words.
    ``df`` (document frequencies of ``background``) and ``proper`` (the names among its words)
    are counted from it unless given: a ``score.background.Background`` keeps both as items
    arrive.
    """
    ignored = {stem(n.casefold()) for name in ignore_names for n in _TOKEN.findall(name)}
    entity_counts = _entities(text, ignored)
    families = _families(entity_counts)
    entities = _family_weights(entity_counts, families)
    if df is None:
        df = Counter(term for doc in background for term in doc.text)
    core = {e for e, w in entities.items() if w >= tuning.core_share}
    on_topic = [d for d in background if d.text & core]
    if proper is None:
        proper = _proper_nouns(summaries)
    expansions = {
        term: math.log(lift) * (1.0 if _is_name(term, proper) else tuning.common_word_factor)
        for term, lift in _lifts(on_topic, background, df, tuning.min_support).items()
        # a phrase holding an entity ("russian oil") would count that entity twice
        if lift >= tuning.min_lift and not set(term.split()) & entities.keys()
    }
    seeds = _seeds(title, text, on_topic, include_terms)
    story_terms = _story_terms(seeds, on_topic, entities, tuning)
    return ArticleModel(
        entities=entities,
        families=families,
        expansions=_rounded(expansions),
        seeds=seeds,
        story_terms=_rounded(story_terms),
        background=len(background),
        tuning=tuning,
    )


def _entities(text: str, ignored: set[str]) -> Counter[str]:
    """Words capitalised mid-sentence, outside headings (where every word is capitalised)."""
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        words = _RAW_WORD.findall(line)
        if not words or sum(w[0].isupper() for w in words) / len(words) > 0.6:
            continue
        for sentence in _SENTENCE.split(line):
            for word in _RAW_WORD.findall(sentence)[1:]:
                term = stem(word.casefold().replace("’", "'"))
                if word[0].isupper() and is_content_word(term) and term not in ignored:
                    counts[term] += 1
    return counts


def _families(counts: Counter[str]) -> dict[str, str]:
    """Group variants of one name (Germany, German) under the most frequent of them."""
    families: dict[str, str] = {}
    for term, _ in counts.most_common():
        families[term] = next(
            (r for r in sorted(set(families.values())) if _same_family(r, term)), term
        )
    return families


def _same_family(a: str, b: str) -> bool:
    shared = len(_common_prefix(a, b))
    return shared >= 5 and shared >= 0.7 * min(len(a), len(b))


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _family_weights(counts: Counter[str], families: dict[str, str]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for term, count in counts.items():
        totals[families[term]] += count
    strongest = max(totals.values(), default=1)
    return {term: round(totals[families[term]] / strongest, 4) for term in counts}


def _lifts(
    subset: Sequence[Doc], everything: Sequence[Doc], df: Mapping[str, int], min_support: int
) -> dict[str, float]:
    """How many times more common each term is in ``subset`` than in ``everything``."""
    if not subset:
        return {}
    sub_df = Counter(term for doc in subset for term in doc.text)
    floor = max(min_support, 0.03 * len(subset))
    return {
        term: (count / len(subset)) / (df[term] / len(everything))
        for term, count in sub_df.items()
        if count >= floor and _is_term(term)
    }


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


def capitals(summary: str) -> tuple[Counter[str], Counter[str]]:
    """How often each stem of a summary is written with a capital mid-sentence, and at all."""
    # the first word of a sentence is capitalised whatever it is: it says nothing
    words = [w for sentence in _SENTENCE.split(summary) for w in _RAW_WORD.findall(sentence)[1:]]
    terms = [_raw_term(word) for word in words]
    capital = Counter(term for term, word in zip(terms, words, strict=True) if word[0].isupper())
    return capital, Counter(terms)


@lru_cache(maxsize=65536)
def _raw_term(word: str) -> str:
    return stem(word.casefold().replace("’", "'"))


def _is_name(term: str, proper: set[str]) -> bool:
    return all(word in proper for word in term.split())


def _seeds(
    title: str, text: str, on_topic: Sequence[Doc], include_terms: Iterable[str]
) -> tuple[str, ...]:
    """Phrases the article repeats (title and headings count more) that coverage also uses."""
    counts: Counter[str] = Counter()
    for number, line in enumerate([title, *text.splitlines()]):
        words = _RAW_WORD.findall(line)
        heading = number == 0 or (words and sum(w[0].isupper() for w in words) / len(words) > 0.6)
        for phrase in phrases(tokens(line)):
            counts[phrase] += 2 if heading else 1
    used = Counter(term for doc in on_topic for term in doc.text if " " in term)
    # with little coverage stored yet, one on-topic use is evidence enough
    support = max(1, min(3, len(on_topic) // 10))
    found = {phrase for phrase, n in counts.items() if n >= 2 and used[phrase] >= support}
    declared = {normalise_term(term) for term in include_terms}
    return tuple(sorted(found | {d for d in declared if d}))


def _story_terms(
    seeds: Sequence[str], on_topic: Sequence[Doc], entities: Mapping[str, float], tuning: Tuning
) -> dict[str, float]:
    """Terms that stand out in on-topic items containing a seed, against other on-topic items."""
    with_seed = [d for d in on_topic if _matches_any(d.text, seeds)]
    if len(with_seed) < 3:
        return {}
    topic_df = Counter(term for doc in on_topic for term in doc.text)
    lifts = _lifts(with_seed, on_topic, topic_df, 3)
    seed_words = {word for seed in seeds for word in seed.split()}
    return {
        term: math.log(lift)
        for term, lift in lifts.items()
        if lift >= tuning.min_story_lift
        and term not in seeds
        and term not in entities
        and not set(term.split()) <= seed_words
    }


def _matches_any(grams_: set[str], terms: Iterable[str]) -> bool:
    return any(_has(grams_, term) for term in terms)


def _has(grams_: set[str], term: str) -> bool:
    """A declared term of any length: single words and pairs are looked up, longer ones chained."""
    words = term.split()
    if len(words) <= 2:
        return term in grams_
    return all(f"{a} {b}" in grams_ for a, b in pairwise(words))


def _variant(grams_: set[str], phrase: str) -> str | None:
    """The phrase, or a variant of its last word ("trade negotiator" for "trade negotiation")."""
    if _has(grams_, phrase):
        return phrase
    words = phrase.split()
    if len(words) != 2:
        return None
    for gram in grams_:
        parts = gram.split()
        if len(parts) == 2 and parts[0] == words[0] and _same_family(parts[1], words[1]):
            return gram
    return None


def _rounded(weights: Mapping[str, float]) -> dict[str, float]:
    return {term: round(weight, 4) for term, weight in sorted(weights.items())}


def changed_enough(old: ArticleModel, new: ArticleModel, tolerance: float = 0.05) -> bool:
    """Whether scores under ``new`` may differ from those under ``old``: a term or seed gained or
    lost, or a weight moved by more than ``tolerance`` (of the strongest of its kind)."""
    if set(old.seeds) != set(new.seeds) or old.families != new.families:
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
    return False


# --- scoring -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleProfile:
    """A tracked article ready for scoring: its model and its thresholds."""

    id: int
    model: ArticleModel
    threshold: float
    story_threshold: float
    exclude_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Breakdown:
    """Every matched term with what it counted as and how much: the explanation of a score."""

    topic: float
    story: float
    parts: tuple[tuple[str, str, float], ...]  # (kind, term, contribution)
    excluded: str | None = None


def breakdown(model: ArticleModel, doc: Doc, exclude_terms: Iterable[str] = ()) -> Breakdown:
    for term in exclude_terms:
        if _has(doc.text, normalise_term(term)):
            return Breakdown(0.0, 0.0, (), excluded=term)
    t = model.tuning
    parts: list[tuple[str, str, float]] = []
    families: dict[str, float] = {}
    for entity, weight in model.entities.items():
        if entity in doc.text:
            family = model.families.get(entity, entity)
            gain = weight * (t.title_boost if entity in doc.title else t.summary_factor)
            if gain > families.get(family, 0.0):
                families[family] = gain
                parts = [p for p in parts if not (p[0] == "entity" and p[1].startswith(family))]
                parts.append(("entity", entity, gain))
    for term, weight in _matched(model.expansions, doc):
        parts.append(("expansion", term, weight * t.expansion_weight * _boost(term, doc, t)))
    for seed in model.seeds:
        found = _variant(doc.text, seed)
        if found:
            parts.append(("story phrase", found, t.seed_weight * _boost(found, doc, t)))
    seed_words = {word for seed in model.seeds for word in seed.split()}
    for term, weight in _matched(model.story_terms, doc):
        if term not in seed_words:
            parts.append(("story term", term, weight * t.story_term_weight * _boost(term, doc, t)))
    topic = sum(w for kind, _, w in parts if kind in ("entity", "expansion"))
    story = sum(w for kind, _, w in parts if kind.startswith("story"))
    # ties broken by term: set iteration order changes from one process to the next
    parts.sort(key=lambda p: (-p[2], p[1]))
    return Breakdown(topic, story, tuple(parts))


def _matched(weights: Mapping[str, float], doc: Doc) -> list[tuple[str, float]]:
    """Matched terms, without a word whose phrase also matched (it would count twice)."""
    hits = sorted(term for term in doc.text if term in weights)
    inside = {word for term in hits if " " in term for word in term.split()}
    return [(term, weights[term]) for term in hits if term not in inside]


def _boost(term: str, doc: Doc, t: Tuning) -> float:
    return t.title_boost if _has(doc.title, term) else t.summary_factor


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
    reasons = tuple(f'{kind}: "{term}"' for kind, term, _ in b.parts)
    return Relevance(round(topic, 4), reasons, tier, story_score=round(story, 4))


def score_item(profile: ArticleProfile, title: str, summary: str) -> Relevance:
    return score_doc(profile, Doc.of(title, summary))
