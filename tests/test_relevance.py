"""The scorer's parts on the real story: entities, expansions, story phrases, tiers, reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.score import relevance
from tracker.score.relevance import (
    ArticleProfile,
    Doc,
    breakdown,
    build_model,
    score_item,
    tokens,
)

from .relevance_eval import SHIPPED_INCLUDE_TERMS, article_model, load_items, run


@pytest.fixture(scope="module")
def items():
    return load_items()


@pytest.fixture(scope="module")
def model(items):
    return article_model(items)


def profile(model, threshold: float = 0.3, story: float = 0.4) -> ArticleProfile:
    return ArticleProfile(1, model, threshold, story)


def test_tokens_fold_plurals_and_possessives() -> None:
    assert tokens("Ukraine’s troops and security guarantees") == [
        "ukraine",
        "troop",
        "and",
        "security",
        "guarantee",
    ]


def test_model_learns_entities_expansions_and_story_phrases(model) -> None:
    assert model.entities["ukraine"] == 1.0
    assert model.families["ukrainian"] == "ukraine"  # a demonym joins its country
    assert "reuter" not in model.entities  # cited outlets are sources, not topics
    # names the article never uses, learned from stored coverage of its main entity
    for name in ("putin", "zelenskyy", "zelenskiy"):
        assert name in model.expansions, name
    assert "security guarantee" in model.seeds
    assert model.background == 1072


def test_model_without_background_still_scores_on_entities() -> None:
    text = "Headline about Ukraine\nTalks on Ukraine continued. Ukraine said Russia was wrong."
    model = build_model("Headline about Ukraine", text, [])
    assert model.expansions == {} and model.seeds == ()
    relevance = score_item(profile(model, 0.2), "Ukraine war: talks resume", "")
    assert relevance.tier == "related"
    assert relevance.reasons[0] == 'entity: "ukraine"'


@pytest.mark.parametrize(
    ("title", "summary", "tier"),
    [
        (
            "What security guarantees might Ukraine get in return for a peace deal?",
            "As western leaders meet, questions remain about the steps they could take",
            "story",
        ),
        ("Trump Set to Meet Putin in Alaska", "US President Donald Trump", "related"),
        (
            "Firefighters in race to save Oregon’s tallest tree after it ignites",
            "Crews are working to douse blaze on the 325-ft Doerner fir",
            "none",
        ),
        (
            "Zelenskiy Rules Out China as One of Postwar Security Guarantors",
            "Ukrainian president Volodymyr Zelenskiy pushed back against Russia’s idea",
            "story",
        ),
    ],
)
def test_tiers_on_real_items(model, title: str, summary: str, tier: str) -> None:
    assert score_item(profile(model), title, summary).tier == tier


def test_reasons_name_what_matched_and_how(model) -> None:
    relevance = score_item(profile(model), "Trump Set to Meet Putin in Alaska", "")
    assert 'expansion: "putin"' in relevance.reasons
    assert relevance.tier == "related"
    b = breakdown(model, Doc.of("Trump Set to Meet Putin in Alaska", ""))
    assert b.topic > b.story
    assert all(weight > 0 for _, _, weight in b.parts)


def test_title_match_counts_more_than_summary_match(model) -> None:
    in_title = score_item(profile(model), "Ukraine talks", "Leaders met")
    in_summary = score_item(profile(model), "Leaders met", "Ukraine talks")
    assert in_title.score > in_summary.score


def test_exclude_terms_unlink(model) -> None:
    p = ArticleProfile(1, model, 0.3, 0.4, exclude_terms=("peace deal",))
    relevance = score_item(p, "Ukraine peace deal talks", "")
    assert relevance.tier == "none" and relevance.reasons == ('excluded: "peace deal"',)


def test_include_terms_become_story_phrases(items) -> None:
    plain = article_model(items)
    declared = article_model(items, include_terms=["coalition of the willing"])
    assert "coalition willing" in declared.seeds and "coalition willing" not in plain.seeds
    title = "European leaders from ‘coalition of the willing’ to hold conference call"
    assert breakdown(declared, Doc.of(title, "")).story > breakdown(plain, Doc.of(title, "")).story


def test_scorer_is_not_told_the_story() -> None:
    source = Path(relevance.__file__).read_text(encoding="utf-8")
    for word in ("ukrain", "troop", "guarantee", "putin", "zelensk", "kyiv"):
        assert word not in source.lower()


def test_held_out_quality_does_not_regress() -> None:
    """Thresholds tuned on one half of the days, measured on the other (bench/relevance.py).

    Floors sit a little under the measured figures. Article text only: related F1 0.976 /
    0.967, story F1 0.903 / 0.971. With the shipped include_terms: story F1 0.970 / 1.000.
    """
    rows = [r for r in run() if r.name == "scorer"]
    assert len(rows) == 2
    for row in rows:
        precision, recall, f1 = row.related.prf
        assert precision >= 0.92 and recall >= 0.92 and f1 >= 0.95, row
        assert row.story.prf[2] >= 0.88, row
    declared = [r for r in run(SHIPPED_INCLUDE_TERMS) if r.name == "scorer"]
    for row in declared:
        assert row.story.prf[2] >= 0.95, row
