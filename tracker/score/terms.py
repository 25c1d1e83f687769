"""How terms behave in the stored background: the evidence a relevance model is built from (pure).

* **lift** — how many times more common a term is in a subset of items than in all of them, on
  a cautious estimate: the subset's count is taken one standard deviation low (a Poisson count
  ``k`` is known to about ``sqrt(k)``), so a term seen five times by chance does not outweigh one
  seen fifty times.
* **spread** — how many outlets use a term. A term only one outlet uses (its newsletter's name,
  its page furniture) says more about the outlet than about any story.
* **name variants** — one name spelt several ways (Tchaikovsky, Tchaikovskiy): names of the
  background within a small edit distance of each other (rapidfuzz) that also keep the same
  company, so Carney (Canada's prime minister) and Carey (a singer) stay apart.
* **word families** — the forms of a word that share its Snowball stem ("secure", "securing",
  "security"), so a story phrase is recognised in another form of its words.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Protocol

import snowballstemmer  # type: ignore[import-untyped]
from rapidfuzz.distance import Levenshtein


class HasText(Protocol):
    @property
    def text(self) -> set[str]: ...


def cautious_lift(count: int, size: int, df: int, total: int) -> float:
    """``count`` of ``size`` items in a subset against ``df`` of ``total`` overall, with the
    subset's count taken one standard deviation low."""
    if not size or not df or not total:
        return 0.0
    low = max(count - math.sqrt(count), 0.0)
    return (low / size) / (df / total)


def plain_lift(count: int, size: int, df: int, total: int) -> float:
    if not size or not df or not total:
        return 0.0
    return (count / size) / (df / total)


def lifts(
    subset: Sequence[HasText],
    everything_df: Mapping[str, int],
    total: int,
    min_support: float,
    keep: Iterable[str] | None = None,
    *,
    cautious: bool = True,
) -> dict[str, float]:
    """The lift (cautious unless told) of every term used by at least ``min_support`` items of
    ``subset`` (only terms in ``keep``, when given)."""
    sub_df = Counter(term for doc in subset for term in doc.text)
    wanted = None if keep is None else set(keep)
    lift = cautious_lift if cautious else plain_lift
    return {
        term: lift(count, len(subset), everything_df[term], total)
        for term, count in sub_df.items()
        if count >= min_support and (wanted is None or term in wanted) and everything_df[term]
    }


def outlets_per_term(
    docs: Sequence[HasText], outlets: Sequence[object], terms: Iterable[str]
) -> dict[str, int]:
    """How many distinct outlets use each of ``terms`` in ``docs``."""
    wanted = set(terms)
    seen: dict[str, set[object]] = defaultdict(set)
    for doc, outlet in zip(docs, outlets, strict=True):
        for term in doc.text & wanted:
            seen[term].add(outlet)
    return {term: len(seen.get(term, ())) for term in wanted}


# --- names spelt several ways ------------------------------------------------------------------


def variant_distance(a: str, b: str) -> int:
    """The edit distance two spellings of one name may be apart: one letter for a short name,
    two for a long one (transliterations add or swap letters: Tchaikovskiy, Tchaikovsky)."""
    return 1 if min(len(a), len(b)) < 9 else 2


def near_names(a: str, b: str) -> bool:
    """Whether two names are close enough in spelling to be one name spelt two ways. Their
    numbers must agree: Windows10 and Windows11 are two versions, not two spellings."""
    if a == b or a[0] != b[0] or min(len(a), len(b)) < 5:
        return False
    if _digits(a) != _digits(b):
        return False
    limit = variant_distance(a, b)
    return Levenshtein.distance(a, b, score_cutoff=limit) <= limit


def _digits(word: str) -> str:
    return "".join(c for c in word if c.isdigit())


def name_variants(
    names: Iterable[str],
    df: Mapping[str, int],
    docs: Sequence[HasText],
    min_similarity: float,
) -> tuple[dict[str, str], set[str]]:
    """Spellings of one name in the background, each mapped to the most used one, and the near
    spellings found to be other names (their company differs).

    Candidates share a first letter and are within ``variant_distance``; they are one name when
    the words of the items using them are alike (cosine of their counts ≥ ``min_similarity``).
    """
    by_start: dict[str, list[str]] = defaultdict(list)
    for name in sorted(n for n in names if " " not in n and len(n) >= 5):
        by_start[name[:2]].append(name)
    pairs = [
        (a, b)
        for group in by_start.values()
        for i, a in enumerate(group)
        for b in group[i + 1 :]
        if near_names(a, b)
    ]
    if not pairs:
        return {}, set()
    company = _company({n for pair in pairs for n in pair}, docs, df)
    parent: dict[str, str] = {}

    def head(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    rejected: set[str] = set()
    for a, b in pairs:
        if cosine(company[a], company[b]) >= min_similarity:
            ha, hb = head(a), head(b)
            if ha != hb:
                # the most used spelling names the family
                keep, drop = sorted((ha, hb), key=lambda n: (-df.get(n, 0), n))
                parent[drop] = keep
        else:
            rejected.update((a, b))
    aliases = {name: head(name) for name in parent}
    return aliases, rejected - aliases.keys() - set(aliases.values())


def _company(
    names: set[str], docs: Sequence[HasText], df: Mapping[str, int]
) -> dict[str, dict[str, float]]:
    """The single words of the items using each name (the name itself left out), each weighted
    by how rare it is in the background (log N/df), so "the" and "said" say nothing."""
    total = max(len(docs), 1)
    company: dict[str, dict[str, float]] = {name: defaultdict(float) for name in names}
    for doc in docs:
        found = doc.text & names
        if found:
            words = [(t, math.log(total / max(df.get(t, 1), 1))) for t in doc.text if " " not in t]
            for name in found:
                row = company[name]
                for word, weight in words:
                    if word != name:
                        row[word] += weight
    return company


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(count * b.get(term, 0) for term, count in a.items())
    norm = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


# --- forms of one word --------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def word_stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a word: "securing", "secure", "security" -> "secur"."""
    return str(_stemmer().stemWord(word))


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


def word_forms(words: Iterable[str], vocabulary: Iterable[str]) -> dict[str, str]:
    """Other forms of ``words`` in ``vocabulary`` (single words sharing a Snowball stem), each
    mapped to the word it is a form of."""
    by_stem: dict[str, str] = {}
    wanted = set(words)
    for word in sorted(wanted):
        by_stem.setdefault(word_stem(word), word)
    # forms of a word begin as it does: only those are stemmed (the stemmer is slow in Python)
    starts = {word[:3] for word in wanted}
    candidates = (
        form for form in vocabulary if form[:3] in starts and " " not in form and form not in wanted
    )
    return {
        form: by_stem[stemmed]
        for form in candidates
        if (stemmed := str(_stemmer().stemWord(form))) in by_stem
    }
