"""The scorer's parts on the real story: entities, expansions, story phrases, tiers, reasons, and
its quality on days and outlets it was not tuned on (tests/relevance_eval.py)."""

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

from .relevance_eval import SHIPPED_INCLUDE_TERMS, article_model, held_out, load_items, run


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


def test_tokens_split_hyphens_and_fold_accents() -> None:
    assert tokens("Russia-Ukraine talks") == ["russia", "ukraine", "talk"]
    assert tokens("Sánchez and Sanchez, Zürich") == ["sanchez", "and", "sanchez", "zurich"]


def test_a_hyphenated_pair_of_names_counts_each_name(model) -> None:
    relevance = score_item(
        profile(model),
        "Stephen A Smith praises Trump for handling of Russia-Ukraine negotiations",
        "",
    )
    assert relevance.tier == "related"
    assert 'entity: "ukraine"' in relevance.reasons


def test_model_learns_entities_expansions_and_story_phrases(model, items) -> None:
    assert model.entities["ukraine"] == 1.0
    assert model.families["ukrainian"] == "ukraine"  # a demonym joins its country
    assert "reuter" not in model.entities  # cited outlets are sources, not topics
    # names the article never uses, learned from stored coverage of its main entity
    for name in ("putin", "zelenskyy", "zelenskiy"):
        assert name in model.expansions, name
    assert "security guarantee" in model.seeds
    assert model.background == len(items)


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
    # with all sixteen feeds stored, the phrase "putin alaska" is learned and matched instead
    assert 'expansion: "putin alaska"' in relevance.reasons
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


def test_held_out_days_do_not_regress() -> None:
    """Thresholds tuned on one half of the days, measured on the other (bench/relevance.py),
    on all sixteen feeds. Floors sit a little under the measured figures. Article text only:
    related F1 0.866 / 0.950, story F1 0.877 / 0.721."""
    rows = [r for r in run() if r.name == "scorer"]
    assert len(rows) == 2
    for row in rows:
        assert row.related.prf[1] >= 0.93 and row.related.prf[2] >= 0.85, row
        assert row.story.prf[2] >= 0.7, row


def test_held_out_outlets_do_not_regress() -> None:
    """Five folds of outlets, each judged with thresholds tuned on the others (pooled).
    Measured, article text only: related P 0.922 R 0.960 F1 0.941 (broad query 0.948), story
    F1 0.797 (narrow query 0.831); with the shipped include_terms story F1 0.821. Floors sit a
    little under."""
    plain = held_out()
    related, story = plain.scorer()
    assert related.prf[0] >= 0.9 and related.prf[1] >= 0.94 and related.prf[2] >= 0.93
    assert story.prf[2] >= 0.77
    declared = held_out(SHIPPED_INCLUDE_TERMS)
    assert declared.scorer()[1].prf[2] >= 0.8
