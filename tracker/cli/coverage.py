"""What was linked, and why: coverage and explain."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import click

from ..app import Explanation
from ..models import CoverageRow, StoryRow
from ..storage import is_marked_reason
from ..textout import as_json, fields_of, shown_time, table
from .base import (
    _SINCE_HELP,
    ID,
    State,
    _tty,
    cli,
    limit_option,
    pass_state,
    reports_errors,
)


@cli.command()
@click.option("--article", "article_id", type=ID, help="Only this article (default: all).")
@click.option("--tier", type=click.Choice(["story", "related"]), help="Only items of this tier.")
@click.option("--outlet", metavar="NAME", help="Only items of this outlet.")
@click.option("--since", metavar="WHEN", help=_SINCE_HELP)
@click.option("--until", metavar="WHEN", help="Reported before: same forms as --since.")
@limit_option(0, "At most N items (stories with --stories); 0 for all.")
@click.option(
    "--stories",
    "by_story",
    is_flag=True,
    help="One line per story: who reported it first, its other outlets in the order they did.",
)
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@reports_errors
def coverage(
    state: State,
    article_id: int | None,
    tier: str | None,
    outlet: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    by_story: bool,
    as_json_: bool,
) -> None:
    """Items linked to the tracked article(s), latest reported first, with their IDs (for
    'tracker explain ITEM_ID'), tier, score and reasons. The judgement column says "marked
    story by you" (or related) for an item you judged with 'tracker mark': its tier is yours.

    An item's reported time is when its outlet published it (the feed's date, never later than
    when the tracker first saw it); it orders the list and is what --since and --until bound.
    On a terminal times are local (config.yaml's timezone) with the zone; in JSON and
    tab-separated output they are ISO 8601 in UTC.

    Example: tracker coverage --outlet Bloomberg --since 2025-08-18 --tier story --stories
    """
    with state.tracker() as t:
        filters = {"tier": tier, "since": since, "until": until, "outlet": outlet}
        stories = t.story_coverage(article_id, limit=limit, **filters) if by_story else []
        items = [] if by_story else t.coverage(article_id, limit=limit, **filters)
        tz = t.config.tz
    if as_json_:
        click.echo(as_json(stories if by_story else items))
        return
    if not stories and not items:
        filtered = any(v is not None for v in filters.values()) or article_id is not None
        click.echo(
            "No linked items match."
            if filtered
            else "No linked items yet. Run 'tracker poll' (or 'tracker demo' to try it offline)."
        )
        return
    click.echo(_story_table(stories, tz) if by_story else _coverage_table(items, tz))


def _story_table(rows: list[StoryRow], tz: tzinfo) -> str:
    tty = _tty()
    shown = [
        {
            **fields_of(r),
            "first_reported": shown_time(r.first_reported_at, tz, tty=tty),
            "also": ", ".join(o for o in r.outlets if o != r.first_outlet),
        }
        for r in rows
    ]
    return table(
        shown,
        ["story_id", "item_id", "first_reported", "first_outlet", "tier", "items", "title", "also"],
        tty=tty,
        widths={"title": 70, "also": 40, "first_outlet": 18},
    )


def _coverage_table(rows: list[CoverageRow], tz: tzinfo) -> str:
    tty = _tty()
    shown = [
        {
            **fields_of(r),
            "reported": shown_time(r.reported_at, tz, tty=tty),
            "judgement": f"marked {r.judgement} by you" if r.judgement else "",
            "reasons": ", ".join([x for x in r.reasons if not is_marked_reason(x)][:4]),
        }
        for r in rows
    ]
    return table(
        shown,
        ["item_id", "reported", "outlet", "score", "tier", "judgement", "title", "reasons"],
        tty=tty,
        widths={"title": 70, "reasons": 60, "outlet": 18},
    )


@cli.command()
@click.argument("item_id", type=ID, metavar="ITEM_ID")
@click.option("--article", "article_id", type=ID, help="Only this article (default: all).")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON.")
@pass_state
@reports_errors
def explain(state: State, item_id: int, article_id: int | None, as_json_: bool) -> None:
    """Show why an item is or is not linked: every matched term, what it counted as, its
    weight, and the scores against the article's thresholds.

    An item is linked when its topic score reaches the threshold, and is of the story tier when
    its story score also reaches the story threshold (both set in config.yaml). An item you
    judged with 'tracker mark' has your label instead, and explain says so beside what the score
    alone gives. ITEM_ID is the first column of 'tracker coverage' and 'tracker search'.

    Example: tracker explain 42
    """
    with state.tracker() as t:
        explanations = t.explain(item_id, article_id)
        tz = t.config.tz
    if as_json_:
        click.echo(as_json([_explanation(e) for e in explanations]))
        return
    for e in explanations:
        r, b = e.relevance, e.breakdown
        click.echo(f"item {item_id}: {e.title}")
        marked = f" (marked by you; the score alone: {r.tier})" if e.judgement else ""
        click.echo(
            f"article {e.article_id}: tier {e.tier}{marked}, topic score {r.score:.2f} "
            f"(sum {b.topic:.2f}), story score {r.story_score:.2f} (sum {b.story:.2f})"
        )
        if e.judgement:
            j = e.judgement
            note = f" ({j.note})" if j.note else ""
            click.echo(
                f"  marked {j.label} by you on {shown_time(j.judged_at, tz, tty=_tty())}{note}: "
                f"this overrides the score until 'tracker unmark {item_id}'"
            )
        click.echo(f"  {verdict(e)}")
        if b.excluded:
            click.echo(f'  excluded by "{b.excluded}"')
        for kind, term, weight in b.parts:
            click.echo(f"  {weight:6.2f}  {kind:13} {term}")
        if not b.parts and not b.excluded:
            click.echo("  nothing in this item matches the article")


#: decimals of the numbers explain --json prints (scores are stored with four)
DECIMALS = 4


def _explanation(e: Explanation) -> dict[str, Any]:
    r, b = e.relevance, e.breakdown
    j = e.judgement
    return {
        "article_id": e.article_id,
        "tier": e.tier,
        "linked": e.tier != "none",
        "why": verdict(e),
        "judgement": {"label": j.label, "judged_at": j.judged_at, "note": j.note} if j else None,
        "score_tier": r.tier,
        "score": round(r.score, DECIMALS),
        "threshold": round(e.threshold, DECIMALS),
        "story_score": round(r.story_score, DECIMALS),
        "story_threshold": round(e.story_threshold, DECIMALS),
        "topic_sum": round(b.topic, DECIMALS),
        "story_sum": round(b.story, DECIMALS),
        "excluded": b.excluded,
        "parts": [
            {"kind": k, "term": term, "weight": round(w, DECIMALS)} for k, term, w in b.parts
        ],
    }


def verdict(e: Explanation) -> str:
    """Why the item has its tier, in one sentence: the analyst's judgement when there is one,
    and what the score alone gives against the article's thresholds."""
    scored = score_verdict(e)
    if e.judgement is None:
        return scored
    shown = "not linked" if e.tier == "none" else f"linked as {e.tier}"
    return f"{shown}: marked {e.judgement.label} by you, which overrides the score alone ({scored})"


def score_verdict(e: Explanation) -> str:
    """What the score alone gives, in one sentence, against the article's thresholds."""
    r, b = e.relevance, e.breakdown
    if b.excluded:
        return f'not linked: it contains "{b.excluded}", one of the article\'s exclude_terms'
    score, threshold = _two(r.score, e.threshold)
    if r.tier == "none":
        reason = "nothing in it matches the article" if not b.parts else "too little matches"
        return f"not linked: topic score {score} is below the threshold {threshold} ({reason})"
    linked = f"linked: topic score {score} reaches the threshold {threshold}"
    story, story_threshold = _two(r.story_score, e.story_threshold)
    if r.tier == "story":
        return (
            f"{linked}; story tier: story score {story} reaches the story threshold "
            f"{story_threshold}"
        )
    return (
        f"{linked}; related, not the story: story score {story} is below the story threshold "
        f"{story_threshold}"
    )


def _two(value: float, threshold: float) -> tuple[str, str]:
    """Both numbers to two decimals, or to four where two would show them equal (0.2996 is
    below 0.30; "0.30 is below 0.30" would not say why)."""
    for decimals in (2, DECIMALS):
        shown = f"{value:.{decimals}f}", f"{threshold:.{decimals}f}"
        if shown[0] != shown[1]:
            break
    return shown
