"""Score an item against an article, with reasons (pure).

First version: the article's key terms (words and two-word phrases, weighted by how often and how
prominently the article uses them) are matched against an item's title and summary. Title matches
count more. The score is the matched weight over the weight of the article's strongest terms,
capped at 1, and the reasons list every matched term so a person can see why an item was linked.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise

from .models import ArticleProfile, Relevance

_TOKEN = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)

STOPWORDS = frozenset(
    """
    a about above across after again against all almost also although always am among an and
    another any are aren't around as at away be became because been before being below beneath
    besides between beyond both but by can cannot could did do does doing done down during
    each either else enough even ever every few for from further had has have having he her
    here hers herself him himself his how however i if in into is isn't it its itself just
    least less like likely made make many may me might mine more most much must my myself near
    nearly neither never nevertheless no nor not now of off often on once one only onto or
    other others otherwise our ours ourselves out over own per perhaps rather said same say
    says several shall she should since so some still such than that the their theirs them
    themselves then there these they this those though through throughout thus to too toward
    towards under until up upon us very via was we were what whatever when where whether which
    while who whom whose why will with within without would yet you your yours yourself
    yourselves new news two three first last year years time times day days week weeks
    according told including include includes well way ways get gets got go goes going back
    take takes took come comes came see seen look looks looking want wants know known use used
    using need needs needed put puts set sets make makes making amid s t don't can't won't
    it's
    """.split()
)

#: words of page furniture that say nothing about a story
BOILERPLATE = frozenset(
    """
    share article comment comments leave reply email address published required fields marked
    read min minute minutes subscribe newsletter sign click advertisement photo image video
    getty copyright
    """.split()
)

TITLE_WEIGHT = 1.5
MAX_UNIGRAMS = 30
MAX_PHRASES = 15


def tokens(text: str) -> list[str]:
    """Lower-case word stems: possessives and plurals folded so 'troops' meets 'troop'."""
    return [stem(t) for t in _TOKEN.findall(text.casefold().replace("’", "'"))]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    word = word.strip("'-")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def is_content_word(token: str) -> bool:
    return len(token) > 2 and token not in STOPWORDS and token not in BOILERPLATE


def extract_terms(title: str, text: str) -> dict[str, float]:
    """Key terms of an article: term -> weight in (0, 1], strongest 1.0.

    Words and phrases the article repeats, and those in its title, weigh most. Phrases are pairs
    of adjacent content words seen at least twice ("security guarantee", "military option").
    """
    body = tokens(text)
    head = tokens(title)
    unigrams = Counter(t for t in body if is_content_word(t))
    for t in head:
        if is_content_word(t):
            unigrams[t] += 3
    phrases = Counter(_pairs(body)) + Counter({p: 3 for p in _pairs(head)})
    scored: dict[str, float] = {}
    for term, count in unigrams.most_common(MAX_UNIGRAMS):
        if count >= 2:
            scored[term] = 1 + math.log(count)
    for phrase, count in phrases.most_common(MAX_PHRASES):
        if count >= 2:
            scored[phrase] = 1.5 * (1 + math.log(count))
    top = max(scored.values(), default=1.0)
    return {term: round(weight / top, 4) for term, weight in scored.items()}


def _pairs(words: list[str]) -> Iterable[str]:
    for a, b in pairwise(words):
        if is_content_word(a) and is_content_word(b):
            yield f"{a} {b}"


def score_item(profile: ArticleProfile, title: str, summary: str) -> Relevance:
    """How strongly an item matches an article, in [0, 1], with the matched terms as reasons."""
    title_tokens = tokens(title)
    summary_tokens = tokens(summary)
    text = " ".join(title_tokens + summary_tokens)
    if any(_contains(text, tokens(term)) for term in profile.exclude_terms):
        return Relevance(0.0, ("excluded term",), tier="none")
    where = {"title": _grams(title_tokens), "summary": _grams(summary_tokens)}
    matched: list[tuple[float, str]] = []
    total = 0.0
    for term, weight in profile.terms.items():
        if term in where["title"]:
            gain, place = weight * TITLE_WEIGHT, "title"
        elif term in where["summary"]:
            gain, place = weight, "summary"
        else:
            continue
        total += gain
        matched.append((gain, f'{place}: "{term}"'))
    for term in profile.include_terms:
        if _contains(text, tokens(term)):
            total += 1.0
            matched.append((1.0, f'include: "{term}"'))
    score = min(total / _norm(profile), 1.0)
    reasons = tuple(r for _, r in sorted(matched, key=lambda m: -m[0]))
    tier = "story" if score >= profile.story_threshold else "related"
    return Relevance(round(score, 4), reasons, tier if score >= profile.threshold else "none")


def _grams(words: list[str]) -> set[str]:
    return set(words) | {f"{a} {b}" for a, b in pairwise(words)}


def _contains(text: str, words: list[str]) -> bool:
    return bool(words) and f" {' '.join(words)} " in f" {text} "


def _norm(profile: ArticleProfile) -> float:
    """The weight an item would collect by matching the article's five strongest terms."""
    return sum(sorted(profile.terms.values(), reverse=True)[:5]) or 1.0
