"""Filling the database: init, poll, rescore and prune."""

from __future__ import annotations

import click

from ..storage import to_db
from ..textout import as_json, local_time, plural, table
from .base import (
    ID,
    State,
    _echo_cycle,
    _echo_registered,
    _ProgressBar,
    _tty,
    cli,
    pass_state,
    reports_errors,
)


@cli.command()
@pass_state
@reports_errors
def init(state: State) -> None:
    """Create the database and register the outlets, feeds and articles of config.yaml.

    Safe to run again: it updates outlets and feeds from the config and re-reads the articles.

    Example: tracker --config config.yaml init
    """
    with state.tracker() as t:
        report = t.init()
    click.echo(f"database: {report.database}")
    click.echo(f"digests: {report.digests}")
    click.echo(f"outlets: {report.outlets}, feeds: {report.feeds}")
    for reg in report.articles:
        _echo_registered(reg)


@cli.command()
@click.option("--all", "all_feeds", is_flag=True, help="Poll every enabled feed, due or not.")
@click.option("--json", "as_json_", is_flag=True, help="Print the per-feed results as JSON.")
@pass_state
@reports_errors
def poll(state: State, all_feeds: bool, as_json_: bool) -> None:
    """Run one polling cycle: fetch every due feed, parse, dedup, score and store.

    Exits 0 even when some feeds fail: each failure is recorded against its feed (see the
    fetches table) and printed here.

    Example: tracker poll --all
    """
    with state.tracker() as t, _ProgressBar("polling feeds", enabled=not as_json_) as bar:
        summary = t.poll(all_feeds=all_feeds, progress=bar.show)
    if as_json_:
        click.echo(as_json([r.__dict__ for r in summary.results]))
        return
    _echo_cycle(summary)


@cli.command()
@click.option("--article", "article_id", type=ID, help="Only this article (default: all).")
@pass_state
@reports_errors
def rescore(state: State, article_id: int | None) -> None:
    """Rebuild the relevance model(s) from the stored items and score every item again.

    Run it after changing an article's include_terms, exclude_terms or thresholds in
    config.yaml. Links are added, updated or removed to match; items are never deleted.

    Example: tracker rescore --article 1
    """
    with state.tracker() as t:
        models = t.rescore(article_id)
        for aid in models:
            counts = {tier: len(t.coverage(aid, tier=tier)) for tier in ("story", "related")}
            click.echo(
                f"article {aid}: {counts['story']} story, {counts['related']} related "
                f"(model learned from {plural(models[aid].background, 'item')})"
            )


# --- articles ------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--older-than",
    metavar="AGE",
    required=True,
    help="Items not seen in any feed for this long, and log rows (fetches, service cycles) "
    "this old: 90d, 12w, 36h or 45min (units min, h, d, w; no month unit).",
)
@click.option("--include-linked", is_flag=True, help="Remove old linked items (coverage) too.")
@click.option("--dry-run", is_flag=True, help="Only print what would be removed.")
@click.option("--no-vacuum", is_flag=True, help="Skip VACUUM (it locks the database meanwhile).")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON.")
@pass_state
@reports_errors
def prune(
    state: State,
    older_than: str,
    include_linked: bool,
    dry_run: bool,
    no_vacuum: bool,
    as_json_: bool,
) -> None:
    """Remove old unlinked items and old log rows, then VACUUM.

    An item is old when no feed has listed it for AGE; it goes with its versions, keys and
    sightings. Linked items (the coverage) stay unless --include-linked. Deletes go in small
    transactions, so a running service keeps polling.

    Example: tracker prune --older-than 90d --dry-run
    """
    with state.tracker() as t, _ProgressBar("pruning items", enabled=not as_json_) as bar:
        tz = t.config.tz
        if not dry_run and bar.enabled:
            total = t.prune(older_than, include_linked=include_linked, dry_run=True).counts
            bar.show(0, total["items"])
        report = t.prune(
            older_than,
            include_linked=include_linked,
            dry_run=dry_run,
            vacuum=not no_vacuum,
            progress=bar.advance,
        )
    if as_json_:
        click.echo(as_json({**report.__dict__, "cutoff": report.cutoff.isoformat()}))
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} rows last seen before {local_time(to_db(report.cutoff), tz)}:")
    click.echo(table(report.rows(), ["table", "rows"], tty=_tty()))
    if not dry_run and not no_vacuum:
        click.echo(
            f"database: {report.bytes_before / 1e6:.1f} MB -> {report.bytes_after / 1e6:.1f} MB",
            err=not _tty(),
        )


#: what search prints when nothing matched (the columns of Store.search's rows)
