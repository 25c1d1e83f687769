"""The scorer learning from the analyst's marks (tracker.score.judged), on the real story: items
like those marked unrelated score lower, items like those marked story higher, and taking the
marks away gives the model back as it was."""

from __future__ import annotations

import pytest

from tracker.score.judged import (
    FROM_MARKS_DOWN,
    FROM_MARKS_OFF,
    FROM_MARKS_STORY,
    LearnedModel,
    explained,
    learn,
)
from tracker.score.model import ArticleModel
from tracker.score.relevance import OFF_TOPIC, breakdown
from tracker.score.text import Doc

from .relevance_eval import Item, article_model, load_items


@pytest.fixture(scope="module")
def items() -> tuple[Item, ...]:
    return load_items()


@pytest.fixture(scope="module")
def model(items: tuple[Item, ...]) -> ArticleModel:
    return article_model(items)


def real(items: tuple[Item, ...], title_start: str) -> Item:
    return next(i for i in items if i.title.startswith(title_start))


def marked(item: Item, label: str) -> tuple[Doc, str]:
    return Doc.of(item.title, item.summary), label


# a real Bloomberg item of 15 Aug 2025 (labelled unrelated: Russia's wine trade, not the story)
WINE = "Putin’s Push for ‘Patriotic’ Wines"
# a similar item: the same words, another day
LIKE_WINE = Doc.of(
    "Russia's patriotic wine production grows in Black Sea vineyards",
    "Putin's push for Russian wines has sparked growth in production since the invasion of "
    "Ukraine.",
)
ON_TOPIC = Doc.of(
    "Europe weighs security guarantees for Ukraine",
    "European leaders discussed troops to secure Ukraine after a ceasefire with Russia.",
)


def test_words_of_an_item_marked_unrelated_lower_a_similar_item(model, items) -> None:
    learned = learn(model, [marked(real(items, WINE), "unrelated")])
    before, after = breakdown(model, LIKE_WINE), breakdown(learned, LIKE_WINE)
    assert after.topic < before.topic * 0.8
    off = [term for kind, term, _ in explained(learned, after).parts if kind == OFF_TOPIC]
    assert off and off[0].endswith(f"({FROM_MARKS_OFF})")
    # coverage of the article shares none of those words: it scores as before
    assert breakdown(learned, ON_TOPIC) == breakdown(model, ON_TOPIC)


def test_the_articles_names_and_words_of_positive_marks_are_never_made_off_topic(
    model, items
) -> None:
    wine = real(items, WINE)
    learned = learn(model, [marked(wine, "unrelated")])
    assert isinstance(learned, LearnedModel)
    assert learned.marked_off and not learned.marked_off & {"putin", "russia", "ukraine"}
    # the same words in an item marked related are the topic's as well: not off-topic
    both = learn(model, [marked(wine, "unrelated"), (LIKE_WINE, "related")])
    assert isinstance(both, LearnedModel)
    assert not both.marked_off & {"production", "growth", "sea"}


def test_terms_met_in_items_marked_unrelated_and_in_no_positive_one_weigh_less(
    model, items
) -> None:
    # real items of 15-16 Aug about Putin but not about Ukraine (labelled unrelated)
    unrelated = [
        real(items, "Will Putin protect his dirty secrets in Alaska?"),
        real(items, "The 8 key signs 'puffy-faced' Putin"),
        real(items, "Trump says Putin agrees with him"),
    ]
    learned = learn(model, [marked(i, "unrelated") for i in unrelated])
    assert isinstance(learned, LearnedModel)
    weaker = {t for t in learned.marked_down if t in model.expansions}
    assert weaker
    for term in weaker:
        # never below a quarter of its weight, whatever the marks
        assert model.expansions[term] * 0.25 - 1e-4 <= learned.expansions[term]
        assert learned.expansions[term] < model.expansions[term]
    item = Doc.of("Putin lands in Alaska for the summit", "Vladimir Putin arrived in Anchorage.")
    b = breakdown(learned, item)
    assert b.topic < breakdown(model, item).topic
    notes = [term for kind, term, _ in explained(learned, b).parts if FROM_MARKS_DOWN in term]
    assert notes


def test_terms_items_marked_story_share_raise_a_similar_item(model, items) -> None:
    story = [
        real(items, "Trump’s Peace-Deal Demands Leave Zelenskiy With Only Bad Options"),
        real(items, "JD Vance Says Russia Wants Territory"),
    ]
    learned = learn(model, [marked(i, "story") for i in story])
    assert isinstance(learned, LearnedModel)
    assert "territory" in learned.marked_story and "territory" not in model.story_terms
    item = Doc.of("Moscow insists on territory in talks over Ukraine", "")
    b = breakdown(learned, item)
    assert b.story > breakdown(model, item).story
    assert any(
        kind == "story term" and term == f"territory ({FROM_MARKS_STORY})"
        for kind, term, _ in explained(learned, b).parts
    )
    # a term an item marked unrelated uses as well is not the story's
    mixed = learn(model, [*(marked(i, "story") for i in story), (item, "unrelated")])
    assert isinstance(mixed, LearnedModel)
    assert "territory" not in mixed.marked_story


def test_unmarking_restores_the_model(model, items) -> None:
    wine = marked(real(items, WINE), "unrelated")
    story = marked(real(items, "JD Vance Says Russia Wants Territory"), "story")
    both = learn(model, [wine, story])
    assert breakdown(both, LIKE_WINE).topic < breakdown(model, LIKE_WINE).topic
    # the marks are applied afresh to the stored model each time: once the wine item is
    # unmarked, its words count as they did before it was marked
    unmarked = learn(model, [story])
    assert breakdown(unmarked, LIKE_WINE) == breakdown(model, LIKE_WINE)
    assert unmarked.sense == model.sense and unmarked.expansions == model.expansions
    assert learn(model, []) is model
    with pytest.raises(TypeError):
        learn(learn(model, [wine]), [story])


def test_a_model_without_marks_explains_as_before(model) -> None:
    b = breakdown(model, LIKE_WINE)
    assert explained(model, b) is b
