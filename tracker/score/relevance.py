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
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import pairwise

from ..models import Relevance
from . import terms

# hyphens split words: "Spain-Morocco talks" are about Spain and Morocco
_TOKEN = re.compile(r"[^\W\d_][\w'’]*", re.UNICODE)
_RAW_WORD = re.compile(r"[^\W\d_][\w'’.]*[^\W_]|[^\W\d_]", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# a number of up to three digits right after a word with a capital, not part of a longer number,
# a decimal, a time or a date
_DIGIT = re.compile(r"\d")
_NAME_NUMBER = re.compile(r"\b([^\W\d_]*[^\W\d_a-z][^\W_]*)\s+(\d{1,3})\b(?![.,:/%–-]?\d)")

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
    s t don't can't won't it's i'm i've i'd i'll you're you've we're we've they're they've he's
    she's that's there's what's let's isn't aren't wasn't weren't doesn't didn't haven't hasn't
    wouldn't couldn't shouldn't monday tuesday wednesday thursday friday saturday sunday today
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


# --- words -------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Lower-case word stems: possessives and plurals folded so 'elections' meets 'election'."""
    return [stem(t) for t in _TOKEN.findall(numbered_names(text).casefold().replace("’", "'"))]


def numbered_names(text: str) -> str:
    """A number written after a name is part of it: "Windows 11" -> "Windows11", so the model
    tells one version, edition or article from another (words are letters otherwise)."""
    if not _DIGIT.search(text):
        return text
    return _NAME_NUMBER.sub(_joined, text)


def _joined(match: re.Match[str]) -> str:
    name, number = match.groups()
    if name.casefold() in STOPWORDS:  # "August 15", "At 10"
        return match.group(0)
    return name + number


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
    ignored = {stem(n.casefold()) for name in ignore_names for n in _TOKEN.findall(name)}
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
        background = [_canonical_doc(doc, aliases) for doc in background]
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


def _canonical_doc(doc: Doc, aliases: Mapping[str, str]) -> Doc:
    if doc.text.isdisjoint(aliases):
        return doc
    return Doc({_canonical_term(t, aliases) for t in doc.title}, _canonical_set(doc.text, aliases))


def _canonical_set(grams_: set[str], aliases: Mapping[str, str]) -> set[str]:
    return {_canonical_term(t, aliases) for t in grams_}


def _canonical_term(term: str, aliases: Mapping[str, str]) -> str:
    if " " in term:
        return " ".join(aliases.get(w, w) for w in term.split(" "))
    return aliases.get(term, term)


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
        line = numbered_names(line)
        words = _RAW_WORD.findall(line)
        if not words or sum(w[0].isupper() for w in words) / len(words) > 0.6:
            continue
        for sentence in _SENTENCE.split(line):
            for word in _RAW_WORD.findall(sentence)[1:]:
                term = stem(word.casefold().replace("’", "'"))
                if _written_as_name(word) and is_content_word(term) and term not in ignored:
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
    words = [
        w
        for sentence in _SENTENCE.split(numbered_names(summary))
        for w in _RAW_WORD.findall(sentence)[1:]
    ]
    terms = [_raw_term(word) for word in words]
    capital = Counter(
        term for term, word in zip(terms, words, strict=True) if _written_as_name(word)
    )
    return capital, Counter(terms)


def _written_as_name(word: str) -> bool:
    """A capital anywhere marks a name: "Paris", "NATO", and "iPhone" or "eBay" too."""
    return not word.islower()


@lru_cache(maxsize=65536)
def _raw_term(word: str) -> str:
    return stem(word.casefold().replace("’", "'"))


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
        words = _RAW_WORD.findall(line)
        heading = number == 0 or (words and sum(w[0].isupper() for w in words) / len(words) > 0.6)
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
    # every word of a phrase of the item is among its words too
    if len(words) != 2 or words[0] not in grams_:
        return None
    for gram in grams_:
        parts = gram.split()
        if len(parts) == 2 and parts[0] == words[0] and _same_family(parts[1], words[1]):
            return gram
    return None


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


# --- scoring -------------------------------------------------------------------------------------


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
        if _has(doc.text, normalise_term(term)):
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
    turned = {g: _canonical_term(g, found) for g in doc.text}
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


def _boost(term: str, title: set[str], t: Tuning) -> float:
    return t.title_boost if _has(title, term) else t.summary_factor


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
