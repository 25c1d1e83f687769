"""tracker feeds: the feeds polled and their state."""

from __future__ import annotations

import click

from ..textout import as_json, table
from .base import ID, State, _check_url, _tty, cli, pass_state, reports_errors


@cli.group()
def feeds() -> None:
    """List, add, discover, disable and re-enable feeds."""


@feeds.command("list")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@reports_errors
def feeds_list(state: State, as_json_: bool) -> None:
    """List feeds with their state: last result, errors, next poll, items, last error.

    Example: tracker feeds list
    """
    with state.tracker() as t:
        rows = t.feeds()
    for r in rows:
        r["state"] = "enabled" if r["enabled"] else f"disabled: {r['disabled_reason']}"
    click.echo(
        as_json(rows)
        if as_json_
        else table(
            rows,
            [
                "id",
                "outlet",
                "url",
                "state",
                "last_result",
                "consecutive_errors",
                "next_poll_at",
                "items",
                "last_error",
            ],
            tty=_tty(),
            widths={"url": 60, "last_error": 60},
        )
    )


@feeds.command("add")
@click.argument("url")
@click.option("--outlet", required=True, help="Outlet the feed belongs to (created if new).")
@click.option(
    "--kind",
    type=click.Choice(["auto", "sitemap"]),
    default="auto",
    show_default=True,
    help="'sitemap' for a news sitemap; 'auto' detects RSS, RDF and Atom.",
)
@pass_state
@reports_errors
def feeds_add(state: State, url: str, outlet: str, kind: str) -> None:
    """Add a feed to poll (kept in the database, beside the feeds of config.yaml).

    A feed belongs to one outlet: a URL that is already another outlet's feed is refused, and
    adding a feed its outlet already has changes nothing. URLs compare with scheme and host in
    any case and without a #fragment.

    Example: tracker feeds add https://rss.dw.com/rdf/rss-en-world --outlet DW
    """
    _check_url(url)
    # as config.yaml does: names are trimmed, and an outlet needs one
    outlet = outlet.strip()
    if not outlet:
        raise click.BadParameter("give the outlet's name", param_hint="'--outlet'")
    with state.tracker() as t:
        added = t.add_feed(url, outlet, kind)
    exists = "" if added.created else " already exists"
    click.echo(f"feed {added.feed_id}{exists}: {added.url} ({added.outlet})")


@feeds.command("discover")
@click.argument("url")
@pass_state
@reports_errors
def feeds_discover(state: State, url: str) -> None:
    """List the feeds a web page announces (<link rel="alternate">).

    Example: tracker feeds discover https://www.euronews.com/
    """
    _check_url(url)
    with state.tracker() as t:
        found = t.discover(url)
    if not found:
        click.echo("no feeds announced on that page")
    for feed_url, title in found:
        click.echo(f"{feed_url}\t{title}" if title else feed_url)


@feeds.command("enable")
@click.argument("feed_id", type=ID, metavar="ID")
@pass_state
@reports_errors
def feeds_enable(state: State, feed_id: int) -> None:
    """Re-enable a disabled feed and poll it at the next cycle.

    Example: tracker feeds enable 3
    """
    with state.tracker() as t:
        t.enable_feed(feed_id, True)
    click.echo(f"feed {feed_id} enabled")


@feeds.command("disable")
@click.argument("feed_id", type=ID, metavar="ID")
@pass_state
@reports_errors
def feeds_disable(state: State, feed_id: int) -> None:
    """Stop polling a feed (its items stay).

    Example: tracker feeds disable 3
    """
    with state.tracker() as t:
        t.enable_feed(feed_id, False)
    click.echo(f"feed {feed_id} disabled")


# --- demo ----------------------------------------------------------------------------------------
