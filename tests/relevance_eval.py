"""Relevance evaluation on labelled coverage of a story (tests/data/relevance/labels.csv).

Two ways of holding data out, so no figure is the scorer remembering its labels:

* **days** — thresholds tuned on one half of the days and measured on the other (15–19 Aug vs
  20–24 Aug, both ways);
* **outlets** — leave-outlets-out folds: the outlets are split into five fixed folds; for each,
  the thresholds are tuned on the other four folds' outlets only and measured on the held-out
  ones. Per outlet, per fold and pooled (every item judged while its outlet was held out).

One set of the scorer's parameters (``Tuning``) serves every fold; only the two thresholds are
fitted, on training outlets. The model learns from every item as its unlabelled background, as a
tracker polling these feeds would store them. Two keyword baselines a person would type into an
alerting service are measured on the same items.

``corrections`` measures the analyst's marks (``score.judged``): in each fold the ten items of
the first two days the scorer is most wrong about are marked with their labels, and the held-out
outlets' later days are measured before and after the model learns from them.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tracker.config import load_config
from tracker.ingest.clean import html_to_text
from tracker.score.judged import DEFAULT_LESSONS, Lessons, learn
from tracker.score.model import DEFAULT_TUNING, ArticleModel, Tuning, build_model
from tracker.score.relevance import breakdown, squash
from tracker.score.text import Doc

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"

Match = Callable[[str], bool]


@dataclass(frozen=True, eq=False)
class Story:
    """A tracked article with its labelled coverage and the keyword queries it is compared with."""

    name: str
    article: Path
    archive: Path
    labels: Path
    #: feed file stem -> outlet (folds hold whole outlets out)
    outlets: dict[str, str]
    folds: tuple[tuple[str, ...], ...]
    #: outlets the article cites: sources, not topics
    cited: tuple[str, ...]
    include_terms: tuple[str, ...]
    #: the broad query (judged against "related") and the narrow one (against the story tier)
    broad: Match
    narrow: Match
    broad_query: str
    narrow_query: str
    #: the two halves of the days (first, last day of each) for the day split
    halves: tuple[tuple[str, str], tuple[str, str]]


_BROAD = re.compile(r"\b(ukrain\w*|zelensk\w*|kyiv|putin)\b", re.I)
_NARROW_TOPIC = re.compile(r"\bukrain\w*", re.I)
_NARROW_STORY = re.compile(
    r"\btroops?\b|security guarantees?|coalition of the willing|peacekeep\w*", re.I
)

UKRAINE = Story(
    name="ukraine-guarantees",
    article=ROOT / "articles" / "shifting-sands-of-support.txt",
    archive=DATA / "archive-2025",
    labels=DATA / "relevance" / "labels.csv",
    outlets={
        "guardian-world": "The Guardian",
        "bloomberg-politics": "Bloomberg",
        "ft-world": "Financial Times",
        "lemonde-en": "Le Monde",
        "nbc-world": "NBC News",
        "bbc-world-europe": "BBC News",
        "bbc-news-top": "BBC News",
        "bbc-us-canada": "BBC News",
        "npr-news": "NPR",
        "npr-1002": "NPR",
        "wapo-world": "The Washington Post",
        "elpais-en": "El País",
        "japantoday": "Japan Today",
        "epochtimes-world": "The Epoch Times",
        "foxnews-latest": "Fox News",
        "dailymail-news": "Daily Mail",
    },
    # fixed, balanced on related and story items (about 90 and 15 per fold), each mixing outlets
    # the scorer was first built on with outlets added later
    folds=(
        ("Daily Mail", "NBC News"),
        ("Fox News", "The Guardian"),
        ("Bloomberg", "NPR", "El País"),
        ("The Epoch Times", "Le Monde"),
        ("BBC News", "Financial Times", "The Washington Post", "Japan Today"),
    ),
    cited=("Reuters", "The Guardian", "Guardian", "DW", "Bloomberg", "Bloomberg.com", "Euronews"),
    # the include_terms config.yaml ships for the article (read from it, so the test follows it)
    include_terms=tuple(next(a.include_terms for a in load_config(ROOT / "config.yaml").articles)),
    broad=lambda text: bool(_BROAD.search(text)),
    narrow=lambda text: bool(_NARROW_TOPIC.search(text) and _NARROW_STORY.search(text)),
    broad_query="ukraine OR zelensky OR kyiv OR putin",
    narrow_query=(
        'ukraine AND (troops OR "security guarantee" OR "coalition of the willing" OR peacekeep*)'
    ),
    halves=(("2025-08-15", "2025-08-19"), ("2025-08-20", "2025-08-24")),
)

# the queries tests/data/relevance-tech/README.md gives, written before any item was labelled
_TECH_BROAD = re.compile(r"iphone|\bapple\b|macrumors", re.I)
_TECH_NARROW = re.compile(r"\biphones?\s*(17|air)\b", re.I)

TECH = Story(
    name="iphone-lineup",
    article=DATA / "relevance-tech" / "article.txt",
    archive=DATA / "relevance-tech" / "archive",
    labels=DATA / "relevance-tech" / "labels.csv",
    outlets={
        "cnet-news": "CNET",
        "ars-technica": "Ars Technica",
        "wapo-tech": "The Washington Post",
        "zdnet-news": "ZDNet",
        "android-authority": "Android Authority",
        "computerworld": "Computerworld",
    },
    # six outlets: the two large ones alone, the four smaller together
    folds=(
        ("ZDNet",),
        ("CNET",),
        ("Android Authority", "Ars Technica", "The Washington Post", "Computerworld"),
    ),
    # the post quotes MacRumors: its source, not its topic
    cited=("MacRumors",),
    # not in config.yaml: the narrow query's names, as a user would declare them
    include_terms=("iPhone 17", "iPhone Air"),
    broad=lambda text: bool(_TECH_BROAD.search(text)),
    narrow=lambda text: bool(_TECH_NARROW.search(text)),
    broad_query=_TECH_BROAD.pattern,
    narrow_query=_TECH_NARROW.pattern,
    halves=(("2025-09-08", "2025-09-12"), ("2025-09-13", "2025-09-17")),
)

STORIES = (UKRAINE, TECH)
SHIPPED_INCLUDE_TERMS = UKRAINE.include_terms


@dataclass(frozen=True)
class Item:
    day: str
    title: str
    summary: str
    label: int
    link: str
    outlet: str = ""

    @property
    def text(self) -> str:
        return f"{self.title} {self.summary}"


@dataclass(frozen=True)
class Scores:
    prf: tuple[float, float, float]  # precision, recall, F1

    def __str__(self) -> str:
        return "  ".join(f"{x:.3f}" for x in self.prf)


@cache
def load_items(story: Story = UKRAINE) -> tuple[Item, ...]:
    """Every labelled item of the story's archive, in file order."""
    with open(story.labels, encoding="utf-8") as f:
        labels = {r["link"]: int(r["label"]) for r in csv.DictReader(f)}
    items = []
    for path in sorted(story.archive.glob("*.jsonl")):
        # lines end at "\n" only: a title may hold a raw U+2028, which splitlines() splits at
        for line in filter(None, path.read_text(encoding="utf-8").split("\n")):
            entry = json.loads(line)
            items.append(
                Item(
                    entry["published"][:10],
                    html_to_text(entry["title"]),
                    html_to_text(entry["summary_html"] or ""),
                    labels[entry["link"]],
                    entry["link"],
                    story.outlets[path.stem],
                )
            )
    return tuple(items)


def article_model(
    items: Sequence[Item],
    include_terms: Iterable[str] = (),
    story: Story = UKRAINE,
    tuning: Tuning = DEFAULT_TUNING,
) -> ArticleModel:
    text = story.article.read_text(encoding="utf-8")
    return build_model(
        text.splitlines()[0],
        text,
        [Doc.of(i.title, i.summary) for i in items],
        include_terms=include_terms,
        ignore_names=story.cited,
        summaries=[i.summary for i in items],
        outlets=[i.outlet for i in items],
        tuning=tuning,
    )


def raw_scores(model: ArticleModel, items: Sequence[Item]) -> list[tuple[float, float]]:
    out = []
    for item in items:
        b = breakdown(model, Doc.of(item.title, item.summary))
        out.append(
            (squash(b.topic, model.tuning.topic_scale), squash(b.story, model.tuning.story_scale))
        )
    return out


def prf(predicted: Sequence[bool], actual: Sequence[bool]) -> Scores:
    tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
    fp = sum(p and not a for p, a in zip(predicted, actual, strict=True))
    fn = sum(a and not p for p, a in zip(predicted, actual, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores((precision, recall, f1))


def in_days(items: Sequence[Item], days: tuple[str, str]) -> list[int]:
    return [n for n, i in enumerate(items) if days[0] <= i.day <= days[1]]


def in_outlets(items: Sequence[Item], outlets: Iterable[str]) -> list[int]:
    wanted = set(outlets)
    return [n for n, i in enumerate(items) if i.outlet in wanted]


GRID = [round(x * 0.01, 2) for x in range(1, 100)]
#: thresholds are chosen on F1 averaged over this many grid steps either side: the middle of a
#: plateau carries over to unseen days better than a lucky peak at its edge
SMOOTHING = 4


def tune(
    scores: Sequence[tuple[float, float]], items: Sequence[Item], idx: Sequence[int]
) -> tuple[float, float]:
    """Thresholds with the best smoothed F1 on the given items: topic (label >= 1), then story."""
    related = [items[n].label >= 1 for n in idx]
    topic_f1 = [prf([scores[n][0] >= t for n in idx], related).prf[2] for t in GRID]
    best_t = GRID[_best(topic_f1)]
    story = [items[n].label == 2 for n in idx]
    story_f1 = [
        prf([scores[n][0] >= best_t and scores[n][1] >= s for n in idx], story).prf[2] for s in GRID
    ]
    return best_t, GRID[_best(story_f1)]


def _best(curve: Sequence[float]) -> int:
    def smoothed(i: int) -> float:
        window = curve[max(0, i - SMOOTHING) : i + SMOOTHING + 1]
        return sum(window) / len(window)

    return max(range(len(curve)), key=lambda i: (smoothed(i), curve[i]))


def predict(
    scores: Sequence[tuple[float, float]], thresholds: tuple[float, float]
) -> list[tuple[bool, bool]]:
    """(related, story tier) for every item at the given thresholds."""
    t, s = thresholds
    return [(topic >= t, topic >= t and story >= s) for topic, story in scores]


def counts(items: Sequence[Item], idx: Sequence[int]) -> tuple[int, int, int]:
    """How many items, related or story, and story, among ``idx``."""
    chosen = [items[n] for n in idx]
    return len(chosen), sum(i.label >= 1 for i in chosen), sum(i.label == 2 for i in chosen)


def judge(
    predicted: Sequence[tuple[bool, bool]], items: Sequence[Item], idx: Sequence[int]
) -> tuple[Scores, Scores]:
    """Related (label >= 1) and story-tier (label 2) P/R/F1 of the predictions on ``idx``."""
    return (
        prf([predicted[n][0] for n in idx], [items[n].label >= 1 for n in idx]),
        prf([predicted[n][1] for n in idx], [items[n].label == 2 for n in idx]),
    )


def keyword_predictions(items: Sequence[Item], match: Match) -> list[tuple[bool, bool]]:
    """A keyword query as an alert: a hit is both 'related' and 'story'."""
    hits = [match(item.text) for item in items]
    return [(hit, hit) for hit in hits]


@dataclass(frozen=True)
class Row:
    name: str
    tuned_on: str
    tested_on: str
    thresholds: tuple[float, float] | None
    related: Scores
    story: Scores


@cache
def _scores(story: Story, include_terms: tuple[str, ...]) -> list[tuple[float, float]]:
    items = load_items(story)
    return raw_scores(article_model(items, include_terms, story), items)


def run(include_terms: Iterable[str] = (), story: Story = UKRAINE) -> list[Row]:
    """The day split: tuned on one half of the days, measured on the other, both ways."""
    items = load_items(story)
    scores = _scores(story, tuple(include_terms))
    broad = keyword_predictions(items, story.broad)
    narrow = keyword_predictions(items, story.narrow)
    rows = []
    first, second = story.halves
    for tune_days, test_days in ((first, second), (second, first)):
        tuned = tune(scores, items, in_days(items, tune_days))
        test = in_days(items, test_days)
        label = f"{test_days[0][5:]}..{test_days[1][5:]}"
        trained = f"{tune_days[0][5:]}..{tune_days[1][5:]}"
        rows.append(
            Row("scorer", trained, label, tuned, *judge(predict(scores, tuned), items, test))
        )
        rows.append(Row("broad keywords", "-", label, None, *judge(broad, items, test)))
        rows.append(Row("narrow keywords", "-", label, None, *judge(narrow, items, test)))
    return rows


METHODS = ("scorer", "broad keywords", "narrow keywords")


@dataclass(frozen=True)
class HeldOut:
    """The leave-outlets-out evaluation of one story, with or without include_terms."""

    #: per fold: (held-out outlets, thresholds tuned on the other outlets)
    folds: tuple[tuple[tuple[str, ...], tuple[float, float]], ...]
    #: (method, scope) -> (related, story) for every method of ``METHODS`` and every scope:
    #: "pooled", "fold N" and each outlet's name
    results: dict[tuple[str, str], tuple[Scores, Scores]]
    #: (items, related items, story items) in each scope: outlets with few are noisy
    support: dict[str, tuple[int, int, int]]

    def scorer(self, scope: str = "pooled") -> tuple[Scores, Scores]:
        return self.results["scorer", scope]


def held_out(
    include_terms: Iterable[str] = (), story: Story = UKRAINE, *, unseen_background: bool = False
) -> HeldOut:
    """Each fold's outlets judged with thresholds tuned on the other folds' outlets.

    The model learns from every item as unlabelled background, as a tracker polling all these
    feeds would; with ``unseen_background`` it learns, for each fold, only from the other folds'
    items, so the held-out outlets' wording is new to it as well.
    """
    items = load_items(story)
    include = tuple(include_terms)
    shared = None if unseen_background else _scores(story, include)
    scorer: list[tuple[bool, bool]] = [(False, False)] * len(items)
    folds = []
    for outlets in story.folds:
        train = [n for n, i in enumerate(items) if i.outlet not in outlets]
        scores = shared or raw_scores(
            article_model([items[n] for n in train], include, story), items
        )
        thresholds = tune(scores, items, train)
        folds.append((outlets, thresholds))
        test = in_outlets(items, outlets)
        for n, p in zip(test, predict([scores[n] for n in test], thresholds), strict=True):
            scorer[n] = p
    predictions = {
        "scorer": scorer,
        "broad keywords": keyword_predictions(items, story.broad),
        "narrow keywords": keyword_predictions(items, story.narrow),
    }
    scopes = {"pooled": list(range(len(items)))}
    for number, (outlets, _) in enumerate(folds, start=1):
        scopes[f"fold {number}"] = in_outlets(items, outlets)
    for outlets, _ in folds:
        for outlet in outlets:
            scopes[outlet] = in_outlets(items, [outlet])
    results = {
        (method, scope): judge(predictions[method], items, idx)
        for method in METHODS
        for scope, idx in scopes.items()
    }
    support = {scope: counts(items, idx) for scope, idx in scopes.items()}
    return HeldOut(tuple(folds), results, support)


# --- the analyst corrects the worst items of the first days --------------------------------------

LABEL_NAMES = ("unrelated", "related", "story")


def _tier(prediction: tuple[bool, bool]) -> int:
    return 2 if prediction[1] else 1 if prediction[0] else 0


def gap(score: tuple[float, float], thresholds: tuple[float, float], label: int) -> float:
    """How far the scorer's verdict is from the label: 0 when it agrees, else the tiers apart
    plus how far the score is beyond the threshold it should not have crossed (or short of the
    one it should have): the highest-scored unrelated items, the lowest-scored story items."""
    (topic, story), (t, s) = score, thresholds
    tier = _tier(predict([score], thresholds)[0])
    if tier == label:
        return 0.0
    margin = 0.0
    if label == 0:
        margin = topic - t
    elif tier == 0:
        margin = t - topic + (max(0.0, s - story) if label == 2 else 0.0)
    elif label == 2:
        margin = s - story
    else:
        margin = story - s
    return abs(tier - label) + margin


def worst(
    scores: Sequence[tuple[float, float]],
    thresholds: tuple[float, float],
    items: Sequence[Item],
    idx: Iterable[int],
    count: int,
) -> list[int]:
    """The ``count`` items of ``idx`` the scorer is most wrong about (fewer if fewer are)."""
    gaps = {n: gap(scores[n], thresholds, items[n].label) for n in idx}
    wrong = sorted((n for n, g in gaps.items() if g > 0), key=lambda n: (-gaps[n], n))
    return wrong[:count]


@dataclass(frozen=True)
class Corrections:
    """Held-out outlets, later days, before and after the analyst marks the worst early items."""

    #: per fold: (held-out outlets, thresholds, the marked items as (title, label))
    folds: tuple[tuple[tuple[str, ...], tuple[float, float], tuple[tuple[str, int], ...]], ...]
    #: (scope, "before" | "after") -> (related, story); scopes "pooled" and "fold N"
    results: dict[tuple[str, str], tuple[Scores, Scores]]
    support: dict[str, tuple[int, int, int]]


def corrections(
    story: Story = UKRAINE,
    include_terms: Iterable[str] = (),
    *,
    marks: int = 10,
    days: int = 2,
    from_all_outlets: bool = False,
    lessons: Lessons = DEFAULT_LESSONS,
) -> Corrections:
    """Each fold: thresholds tuned on the other folds' outlets; the analyst marks the ``marks``
    items of the first ``days`` days the scorer is most wrong about (among the training outlets'
    items, or every outlet's with ``from_all_outlets``), with their labels; the model learns
    from the marks (``score.judged.learn``) and the thresholds stay. Measured on the held-out
    outlets' items of the later days, before and after."""
    items = load_items(story)
    include = tuple(include_terms)
    model = article_model(items, include, story)
    scores = _scores(story, include)
    all_days = sorted({i.day for i in items})
    early, late = set(all_days[:days]), set(all_days[days:])
    before: list[tuple[bool, bool]] = [(False, False)] * len(items)
    after: list[tuple[bool, bool]] = [(False, False)] * len(items)
    folds = []
    scopes: dict[str, list[int]] = {"pooled": []}
    for number, outlets in enumerate(story.folds, start=1):
        train = [n for n, i in enumerate(items) if i.outlet not in outlets]
        thresholds = tune(scores, items, train)
        pool = range(len(items)) if from_all_outlets else train
        marked = worst(scores, thresholds, items, (n for n in pool if items[n].day in early), marks)
        judged = [
            (Doc.of(items[n].title, items[n].summary), LABEL_NAMES[items[n].label]) for n in marked
        ]
        test = [n for n in in_outlets(items, outlets) if items[n].day in late]
        learned = learn(model, judged, lessons)
        new = raw_scores(learned, [items[n] for n in test])
        for n, p, q in zip(
            test,
            predict([scores[n] for n in test], thresholds),
            predict(new, thresholds),
            strict=True,
        ):
            before[n], after[n] = p, q
        folds.append((outlets, thresholds, tuple((items[n].title, items[n].label) for n in marked)))
        scopes[f"fold {number}"] = test
        scopes["pooled"].extend(test)
    results = {
        (scope, when): judge(predicted, items, idx)
        for scope, idx in scopes.items()
        for when, predicted in (("before", before), ("after", after))
    }
    support = {scope: counts(items, idx) for scope, idx in scopes.items()}
    return Corrections(tuple(folds), results, support)
