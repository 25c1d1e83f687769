"""What was linked, and why: coverage and explain."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import click

from ..textout import as_json, table
from .base import ID, State, _local_zoned, _tty, cli, limit_option, pass_state, reports_errors


@cli.command()
@click.option("--article", "article_id", type=ID, help="Only this article (default: all).")
@click.option("--tier", type=click.Choice(["story", "related"]), help="Only items of this tier.")
@limit_option(0, "At most N items (stories with --stories); 0 for all.")
@click.option(
    "--stories",
    "by_story",
    is_flag=True,
    help="One line per story: its outlets and which had it first.",
)
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@reports_errors
def coverage(
    state: State,
    article_id: int | None,
    tier: str | None,
    limit: int | None,
    by_story: bool,
    as_json_: bool,
) -> None:
    """Items linked to the tracked article(s), newest first, with tier, score and reasons.

    Example: tracker coverage --tier story --stories --limit 20
    """
    with state.tracker() as t:
        if by_story:
            rows = t.story_coverage(article_id, limit=limit, tier=tier)
        else:
            rows = t.coverage(article_id, limit=limit, tier=tier)
        tz = t.config.tz
    if as_json_:
        click.echo(as_json(rows))
        return
    if not rows:
        click.echo("No linked items yet. Run 'tracker poll' (or 'tracker demo' to try it offline).")
        return
    click.echo(_story_table(rows, tz) if by_story else _coverage_table(rows, tz))


def _story_table(rows: list[dict[str, Any]], tz: tzinfo) -> str:
    shown = [
        {
            **r,
            "first_seen": _local_zoned(r["first_seen_at"], tz),
            "also": ", ".join(o for o in r["outlets"] if o != r["first_outlet"]),
        }
        for r in rows
    ]
    return table(
        shown,
        ["first_seen", "first_outlet", "tier", "items", "title", "also"],
        tty=_tty(),
        widths={"title": 70, "also": 40, "first_outlet": 18},
    )


def _coverage_table(rows: list[dict[str, Any]], tz: tzinfo) -> str:
    shown = [
        {
            **r,
            "first_seen": _local_zoned(r["first_seen_at"], tz),
            "reasons": ", ".join(r["reasons"][:4]),
        }
        for r in rows
    ]
    return table(
        shown,
        ["first_seen", "outlet", "score", "tier", "title", "reasons"],
        tty=_tty(),
        widths={"title": 70, "reasons": 60, "outlet": 18},
    )


@cli.command()
@click.argument("item_id", type=ID, metavar="ITEM_ID")
@click.option("--article", "article_id", type=ID, help="Only this article (default: all).")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON.")
@pass_state
@reports_errors
def explain(state: State, item_id: int, article_id: int | None, as_json_: bool) -> None:
    """Show why an item is or is not linked: every matched term, what it counted as, its weight.

    Example: tracker explain 42
    """
    with state.tracker() as t:
        explanations = t.explain(item_id, article_id)
    if as_json_:
        click.echo(
            as_json(
                [
                    {
                        "article_id": e.article_id,
                        "tier": e.relevance.tier,
                        "score": e.relevance.score,
                        "story_score": e.relevance.story_score,
                        "topic_sum": e.breakdown.topic,
                        "story_sum": e.breakdown.story,
                        "excluded": e.breakdown.excluded,
                        "parts": [
                            {"kind": k, "term": term, "weight": round(w, 4)}
                            for k, term, w in e.breakdown.parts
                        ],
                    }
                    for e in explanations
                ]
            )
        )
        return
    for e in explanations:
        r, b = e.relevance, e.breakdown
        click.echo(f"item {item_id}: {e.title}")
        click.echo(
            f"article {e.article_id}: tier {r.tier}, topic score {r.score:.2f} "
            f"(sum {b.topic:.2f}), story score {r.story_score:.2f} (sum {b.story:.2f})"
        )
        if b.excluded:
            click.echo(f'  excluded by "{b.excluded}"')
        for kind, term, weight in b.parts:
            click.echo(f"  {weight:6.2f}  {kind:13} {term}")
        if not b.parts and not b.excluded:
            click.echo("  nothing in this item matches the article")
