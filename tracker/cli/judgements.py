"""The analyst corrects the tracker: mark and unmark."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from ..app import Marked
from ..errors import ArticleNeededError
from ..models import LABELS
from .base import State, TrackerCLIError, cli, pass_state, reports_errors

_ARTICLE_HELP = "The article the judgement is for (needed when more than one is tracked)."


@contextmanager
def _article_flag() -> Iterator[None]:
    """Several articles and none named: say so in the CLI's words."""
    try:
        yield
    except ArticleNeededError as exc:
        ids = ", ".join(map(str, exc.article_ids))
        raise TrackerCLIError(
            f"{len(exc.article_ids)} articles are tracked ({ids}): say which one with "
            "--article ID (see 'tracker article list')"
        ) from None


@cli.command()
@click.argument("item_id", type=int, metavar="ITEM_ID")
@click.argument("label", type=click.Choice(LABELS), metavar="story|related|unrelated")
@click.option("--article", "article_id", type=int, metavar="ID", help=_ARTICLE_HELP)
@click.option("--note", metavar="TEXT", help="Why, in your words: kept with the judgement.")
@pass_state
@reports_errors
def mark(state: State, item_id: int, label: str, article_id: int | None, note: str | None) -> None:
    """Correct the tracker: mark an item as the same story, related, or unrelated to the article.

    The item keeps that label whatever the scorer says, through later polls, rebuilt models and
    'tracker rescore', until 'tracker unmark ITEM_ID'. Marked story or related, it is linked
    with that tier (its score and reasons stay the scorer's, with one more saying you marked
    it); marked unrelated, it is not linked. Marking it again replaces the judgement. The
    scorer learns from your marks too: words of items marked unrelated count against items
    that use them, terms that items marked story share count for the story, and the stored
    items are scored again (the newest at once, the rest over the next polls). explain,
    coverage, export and the digest show it ("marked by you"). ITEM_ID is the first column of
    'tracker coverage' and 'tracker search'; --article may be left out when one article is
    tracked.

    Example: tracker mark 42 unrelated --note "a football fixture against Ukraine"
    """
    with state.tracker() as t, _article_flag():
        done = t.mark(item_id, label, article_id, note)
    j = done.judgement
    click.echo(f"item {j.item_id} marked {j.label} for article {j.article_id}: {done.title}")
    replaced = done.replaced
    was = f"; it was marked {replaced.label}" if replaced and replaced.label != j.label else ""
    again = f"tracker unmark {j.item_id}" + (f" --article {article_id}" if article_id else "")
    click.echo(
        f"  the score alone: {_verdict(done)}{was}; now {_tier(done.tier)} whatever the score "
        f"says, until '{again}'"
    )


@cli.command()
@click.argument("item_id", type=int, metavar="ITEM_ID")
@click.option("--article", "article_id", type=int, metavar="ID", help=_ARTICLE_HELP)
@pass_state
@reports_errors
def unmark(state: State, item_id: int, article_id: int | None) -> None:
    """Undo 'tracker mark': drop the item's judgement and put back what the scorer says now.

    The item is scored again with the article's current model and linked (or not) exactly as
    an item never marked would be; what the scorer learned from the mark is forgotten, and the
    stored items are scored again (the newest at once, the rest over the next polls).

    Example: tracker unmark 42
    """
    with state.tracker() as t, _article_flag():
        done = t.unmark(item_id, article_id)
    j = done.judgement
    click.echo(f"item {j.item_id} unmarked for article {j.article_id}: {done.title}")
    click.echo(f"  it was marked {j.label}; back to the score: {_verdict(done)}")


def _verdict(done: Marked) -> str:
    return f"{_tier(done.scorer.tier)} (topic score {done.scorer.score:.2f})"


def _tier(tier: str) -> str:
    return "not linked" if tier == "none" else f"linked as {tier}"
