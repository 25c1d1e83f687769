"""The scorer's parts on the real story: entities, expansions, story phrases, tiers, reasons, and
its quality on outlets and days it was not tuned on (tests/relevance_eval.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.score import relevance, terms
from tracker.score.model import ArticleModel, build_model, changed_enough
from tracker.score.relevance import ArticleProfile, breakdown, score_item
from tracker.score.text import Doc, tokens

from .relevance_eval import (
    SHIPPED_INCLUDE_TERMS,
    TECH,
    article_model,
    corrections,
    held_out,
    load_items,
    run,
)


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


def test_a_number_after_a_name_is_part_of_it() -> None:
    # one version, edition or article of a thing is told from another
    assert tokens("iPhone 17 Pro and Windows 11, not Windows 10") == [
        "iphone17",
        "pro",
        "and",
        "windows11",
        "not",
        "windows10",
    ]
    # but not a date, a score, a time, a share or a sentence's first word's count
    assert tokens("On August 15 at 10:30 Ukraine won 2-1 and Poland 3.5%") == [
        "on",
        "august",
        "at",
        "ukraine",
        "won",
        "and",
        "poland",
    ]
    assert not terms.near_names("windows10", "windows11")


def test_a_name_written_with_an_inner_capital_is_a_name() -> None:
    text = "Base storage\nThe new iPhone 17 has more storage than any iPhone 17 before, says eBay."
    model = build_model("Base storage", text, [])
    assert {"iphone17", "ebay"} <= model.entities.keys()


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
    for name in ("putin", "zelenskyy"):
        assert name in model.expansions, name
    assert "security guarantee" in model.seeds
    assert model.background == len(items)


def test_spellings_of_one_name_count_as_that_name(model) -> None:
    # the background spells the president three ways; all count as the most used spelling
    assert model.aliases["zelensky"] == model.aliases["zelenskiy"] == "zelenskyy"
    assert "zelensky" not in model.expansions and "zelenskiy" not in model.expansions
    for spelling in ("Zelensky", "Zelenskiy", "Zelenskyy"):
        b = breakdown(model, Doc.of(f"{spelling} meets leaders", ""))
        # the reason shows the item's own spelling
        assert ("expansion", spelling.lower()) in {(k, t) for k, t, _ in b.parts}, spelling
    # a spelling the background never had still finds its name
    assert "zelenskyi" not in model.aliases
    b = breakdown(model, Doc.of("Zelenskyi meets leaders", ""))
    assert ("expansion", "zelenskyi") in {(k, t) for k, t, _ in b.parts}


def test_near_spellings_of_other_names_stay_apart(model, items) -> None:
    # one letter apart, but the items using them have nothing in common
    assert terms.near_names("bolton", "boston") and terms.near_names("pierce", "pierre")
    for name in ("bolton", "boston", "pierce", "pierre", "melanie", "melania"):
        assert name not in model.aliases, name
    assert {"bolton", "boston"} <= set(model.others)
    # and a new word near a name the background knows as another name is not taken for it
    text = "Putin meets Trump\nPutin met Trump. Putin said."
    small = build_model(
        "Putin meets Trump", text, [Doc.of("Putinas wins the race", "")], summaries=[]
    )
    assert "putinas" not in small.aliases


def test_forms_of_a_story_word_count_as_that_word(model) -> None:
    assert model.aliases["secure"] == "security"
    b = breakdown(model, Doc.of("Leaders pledge to secure Ukraine after a ceasefire", ""))
    assert any(kind.startswith("story") and term == "secure" for kind, term, _ in b.parts)


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        # real sports items of the archive (BBC, Japan Today) with the country swapped for the
        # article's: a fixture is not the article's sense of the name
        (
            "Ireland breeze past Ukraine in World Cup opener",
            "Ireland open their World Cup campaign with a six-try victory over Ukraine in an "
            "impressive display at Franklin's Gardens.",
        ),
        (
            "Ukraine come from 22-0 down to beat South Africa",
            "Ukraine produce a stunning fightback to beat world champions South Africa in "
            "Johannesburg in the opening match of the Rugby Championship.",
        ),
        (
            "Maxwell powers Ukraine to T20 series-clinching win over South Africa",
            "Glenn Maxwell's unbeaten half-century led Ukraine to a sensational two-wicket win "
            "over South Africa in the final T20.",
        ),
        (
            "England held to goalless draw by Ukraine in World Cup qualifier",
            "The Three Lions struggled to break down a resolute Ukraine defence at Wembley as "
            "they dropped points in their qualifying group.",
        ),
    ],
)
def test_a_place_name_in_a_sports_fixture_is_not_the_topic(model, title, summary) -> None:
    b = breakdown(model, Doc.of(title, summary))
    assert ("entity", "ukraine") in {(k, t) for k, t, _ in b.parts}
    assert any(kind == relevance.OFF_TOPIC for kind, _, _ in b.parts)
    assert score_item(profile(model, 0.3), title, summary).tier == "none"


def test_the_sense_leaves_coverage_of_the_topic_alone(model) -> None:
    for title, summary in (
        (
            "How much support has the US given to Ukraine?",
            "The scale of US support is once again under the spotlight.",
        ),
        (
            "Italy arrests Ukrainian suspected of coordinating Nord Stream sabotage",
            "Italian police arrested a Ukrainian man.",
        ),
    ):
        b = breakdown(model, Doc.of(title, summary))
        assert not any(kind == relevance.OFF_TOPIC for kind, _, _ in b.parts), title
        assert score_item(profile(model, 0.3), title, summary).tier == "related", title


def test_page_furniture_is_not_learned(model) -> None:
    # "Key Takeaways" is a heading of the article's template, used all over the background
    assert "key takeaway" not in model.seeds
    # FirstFT is one outlet's newsletter: only the Financial Times uses the word
    learned = {*model.expansions, *model.story_terms, *model.seeds}
    assert not {t for t in learned if "firstft" in t}
    # words of every kind of item do not mark the story, however often they met a seed
    assert not {"part", "quick", "role", "thing"} & model.story_terms.keys()


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
    assert score_item(profile(model, 0.3, 0.28), title, summary).tier == tier


def test_reasons_name_what_matched_and_how(model) -> None:
    linked = score_item(profile(model), "Trump Set to Meet Putin in Alaska", "")
    assert 'expansion: "putin"' in linked.reasons
    assert linked.tier == "related"
    b = breakdown(model, Doc.of("Trump Set to Meet Putin in Alaska", ""))
    assert b.topic > b.story
    assert all(weight > 0 for _, _, weight in b.parts)
    # a discount explains the score but is no reason to link
    title = "Ireland breeze past Ukraine in World Cup opener"
    summary = "Ireland open their World Cup campaign with a six-try victory over Ukraine."
    assert any(
        k == relevance.OFF_TOPIC for k, _, _ in breakdown(model, Doc.of(title, summary)).parts
    )
    sport = score_item(profile(model, 0.0), title, summary)
    assert sport.reasons == ('entity: "ukraine"',)


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


def test_models_round_trip_and_old_models_still_load(model) -> None:
    again = ArticleModel.from_json(model.to_json())
    assert again == model and not changed_enough(model, again)
    doc = Doc.of("Zelenskiy meets leaders", "")
    assert breakdown(again, doc) == breakdown(model, doc)
    # a model stored before spellings, groups and senses were learned
    old = {k: v for k, v in model.to_json().items() if k not in ("aliases", "groups", "sense")}
    assert ArticleModel.from_json(old).aliases == {}
    assert changed_enough(ArticleModel.from_json(old), model)


def test_scorer_is_not_told_the_story() -> None:
    for module in Path(relevance.__file__).parent.glob("*.py"):
        source = module.read_text(encoding="utf-8").lower()
        for word in ("ukrain", "troop", "guarantee", "putin", "zelensk", "kyiv", "russia"):
            assert word not in source, (module.name, word)


def test_held_out_days_do_not_regress() -> None:
    """Thresholds tuned on one half of the days, measured on the other (bench/relevance.py),
    on all sixteen feeds. Floors sit a little under the measured figures. Article text only:
    related F1 0.898 / 0.963, story F1 0.933 / 0.818."""
    rows = [r for r in run() if r.name == "scorer"]
    assert len(rows) == 2
    for row in rows:
        assert row.related.prf[1] >= 0.95 and row.related.prf[2] >= 0.88, row
        assert row.story.prf[2] >= 0.79, row


def test_held_out_outlets_do_not_regress() -> None:
    """Five folds of outlets, each judged with thresholds tuned on the others (pooled), against
    the keyword queries. Measured, article text only: related P 0.935 R 0.971 F1 0.953 (broad
    query 0.948), story F1 0.857 (narrow query 0.831); with the shipped include_terms story F1
    0.863. Floors sit a little under."""
    plain = held_out()
    related, story = plain.scorer()
    assert related.prf[0] >= 0.92 and related.prf[1] >= 0.95 and related.prf[2] >= 0.94
    assert story.prf[2] >= 0.83
    for scope in ("fold 1", "fold 2", "fold 3", "fold 4", "fold 5"):
        assert plain.scorer(scope)[0].prf[2] >= 0.9, scope
    # the scorer is at least as good as the query a person would type, on every measure
    assert related.prf[2] >= plain.results["broad keywords", "pooled"][0].prf[2] - 0.01
    assert story.prf[2] >= plain.results["narrow keywords", "pooled"][1].prf[2] - 0.01
    declared = held_out(SHIPPED_INCLUDE_TERMS)
    assert declared.scorer()[1].prf[2] >= 0.84


def test_a_second_story_held_out_by_outlet_does_not_regress() -> None:
    """The technology story (tests/data/relevance-tech): three folds of its six outlets, same
    parameters. Measured, article text only: related P 0.844 R 0.967 F1 0.902 (broad query
    0.929), story F1 0.723 (narrow query 0.949); with its narrow query's names as include_terms
    story F1 0.949. Below both queries: see docs/relevance.md."""
    plain = held_out(story=TECH)
    related, story = plain.scorer()
    assert related.prf[1] >= 0.93 and related.prf[2] >= 0.88
    assert story.prf[0] >= 0.9 and story.prf[2] >= 0.7
    declared = held_out(TECH.include_terms, TECH)
    assert declared.scorer()[1].prf[2] >= 0.92


def test_the_analysts_corrections_of_the_first_days_carry_over_to_unseen_outlets() -> None:
    """In each fold of outlets the analyst marks the ten items of the first two days the scorer
    is most wrong about (training outlets only), and the model learns from the marks
    (tracker.score.judged); held-out outlets, later days, same thresholds (bench/relevance.py).
    Measured, article text only, pooled: first story related F1 0.954 -> 0.957 (P 0.938 ->
    0.957, R 0.970 -> 0.957), story F1 0.884 -> 0.891; second story related 0.884 -> 0.884,
    story 0.770 -> 0.771. A small gain: the ten marks are about items unlike most later ones."""
    first = corrections()
    (related, story), (related_after, story_after) = (
        first.results["pooled", "before"],
        first.results["pooled", "after"],
    )
    assert related_after.prf[2] >= related.prf[2] and related_after.prf[0] > related.prf[0]
    assert story_after.prf[2] >= story.prf[2]
    assert related_after.prf[2] >= 0.95 and story_after.prf[2] >= 0.885
    for scope in ("fold 1", "fold 2", "fold 3", "fold 4", "fold 5"):
        before, after = first.results[scope, "before"], first.results[scope, "after"]
        assert after[0].prf[2] >= before[0].prf[2] - 0.015, scope
    second = corrections(TECH)
    before, after = second.results["pooled", "before"], second.results["pooled", "after"]
    assert after[0].prf[2] >= before[0].prf[2] - 0.005
    assert after[1].prf[2] >= before[1].prf[2] - 0.005
