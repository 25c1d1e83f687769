"""Words as the scorer reads them (pure): stems, phrases, names written with capitals, and the
matching of a term against an item's words. Nothing here knows any article."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

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


def capitals(summary: str) -> tuple[Counter[str], Counter[str]]:
    """How often each stem of a summary is written with a capital mid-sentence, and at all."""
    words = mid_sentence_words(summary)
    terms = [raw_term(word) for word in words]
    capital = Counter(
        term for term, word in zip(terms, words, strict=True) if written_as_name(word)
    )
    return capital, Counter(terms)


def written_as_name(word: str) -> bool:
    """A capital anywhere marks a name: "Paris", "NATO", and "iPhone" or "eBay" too."""
    return not word.islower()


@lru_cache(maxsize=65536)
def raw_term(word: str) -> str:
    return stem(word.casefold().replace("’", "'"))


def mid_sentence_words(text: str) -> list[str]:
    """The words of a text but the first of each sentence (capitalised whatever it is), as
    written, names with their numbers joined."""
    return [
        w
        for sentence in _SENTENCE.split(numbered_names(text))
        for w in _RAW_WORD.findall(sentence)[1:]
    ]


def is_heading(line: str) -> bool:
    """A line most of whose words are capitalised: a title or heading, where capitals say
    nothing about names."""
    words = _RAW_WORD.findall(line)
    return bool(words) and sum(w[0].isupper() for w in words) / len(words) > 0.6


def has_term(grams_: set[str], term: str) -> bool:
    """A declared term of any length: single words and pairs are looked up, longer ones chained."""
    words = term.split()
    if len(words) <= 2:
        return term in grams_
    return all(f"{a} {b}" in grams_ for a, b in pairwise(words))


def same_family(a: str, b: str) -> bool:
    """Two forms of one name or word: they share most of their beginning ("german", "germany")."""
    shared = len(_common_prefix(a, b))
    return shared >= 5 and shared >= 0.7 * min(len(a), len(b))


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def canonical_term(term: str, aliases: Mapping[str, str]) -> str:
    """A term (a word or a phrase) with each word turned into the one ``aliases`` maps it to."""
    if " " in term:
        return " ".join(aliases.get(w, w) for w in term.split(" "))
    return aliases.get(term, term)


def canonical_doc(doc: Doc, aliases: Mapping[str, str]) -> Doc:
    """The item with other spellings and forms of words turned into the ones ``aliases`` maps
    them to."""
    if doc.text.isdisjoint(aliases):
        return doc
    return Doc(
        {canonical_term(t, aliases) for t in doc.title},
        {canonical_term(t, aliases) for t in doc.text},
    )
