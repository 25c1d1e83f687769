"""tracker feeds: the feeds polled and their state."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import click

from ..errors import FeedCheckError
from ..files import atomic_text_file
from ..textout import as_json, plural, table
from .base import (
    ID,
    State,
    TrackerCLIError,
    _check_url,
    _tty,
    cli,
    feed_state,
    feed_table,
    pass_state,
    reports_errors,
)


@cli.group()
def feeds() -> None:
    """List, add, discover, disable, re-enable, remove, import and export feeds."""


@feeds.command("list")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@reports_errors
def feeds_list(state: State, as_json_: bool) -> None:
    """List feeds with their state: last success and result, errors in a row, next poll (none
    for a disabled feed), items it listed, last error.

    The columns are those of 'tracker status'. Times are local with the zone on a terminal,
    ISO 8601 in UTC in JSON and when piped.

    Example: tracker feeds list
    """
    with state.tracker() as t:
        rows = t.feeds()
        tz = t.config.tz
    if not as_json_:
        click.echo(feed_table(rows, tz))
        return
    # a disabled feed has no next poll, whatever its row kept (as in 'tracker status')
    shown = [
        {
            **r.to_json(),
            "next_poll_at": r.next_poll_at if r.enabled else None,
            "state": feed_state(r),
        }
        for r in rows
    ]
    click.echo(as_json(shown))


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
@click.option(
    "--no-check",
    is_flag=True,
    help="Store the URL without fetching it first (a server that is down for now).",
)
@pass_state
@reports_errors
def feeds_add(state: State, url: str, outlet: str, kind: str, no_check: bool) -> None:
    """Add a feed to poll (kept in the database, beside the feeds of config.yaml).

    The URL is fetched once first and parsed as a poll would: an error status (404 …), a web
    page or anything else that is not a feed is refused with the reason, and for a web page
    the feeds it announces are listed (as 'tracker feeds discover' does). --no-check skips this.

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
        try:
            added = t.add_feed(url, outlet, kind, check=not no_check)
        except FeedCheckError as exc:
            raise _not_added(exc, outlet) from None
    exists = "" if added.created else " already exists"
    found = ""
    if added.checked is not None:
        count = len(added.checked.items)
        found = f"; checked: {added.checked.kind}, {count} item{'' if count == 1 else 's'}"
    click.echo(f"feed {added.feed_id}{exists}: {added.url} ({added.outlet}){found}")


def _not_added(exc: FeedCheckError, outlet: str) -> TrackerCLIError:
    """The reason on one line; for a web page, the feeds it announces below, one a line."""
    line = f"{exc.url}: not added: {exc.reason}"
    if not exc.announced:
        return TrackerCLIError(f"{line} (--no-check adds it without fetching it)")
    count = len(exc.announced)
    offers = "\n".join(f"  {u}\t{title}" if title else f"  {u}" for u, title in exc.announced)
    return TrackerCLIError(
        f"{line}\nthe page announces {count} feed{'' if count == 1 else 's'}; add one with: "
        f"tracker feeds add URL --outlet {shlex.quote(outlet)}\n{offers}"
    )


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


@feeds.command("import")
@click.argument("file", metavar="FILE.opml", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--outlet", help="Put every feed of the file under this outlet.")
@click.option("--dry-run", is_flag=True, help="Only show what would be added; change nothing.")
@pass_state
@reports_errors
def feeds_import(state: State, file: str, outlet: str | None, dry_run: bool) -> None:
    """Add the feeds an OPML file lists (a feed reader's export; - reads stdin).

    Every outline with an xmlUrl is a feed, at any depth of folders. Its outlet is --outlet
    when given, else the outlet whose domains (config.yaml) hold the feed's host or its
    site's (rss.dw.com joins DW), else the name the file gives the feed. A feed already
    stored is left as it is; a URL that is another outlet's feed, or not http(s), is skipped
    and listed with the reason. Feeds are not fetched now: the next poll tries them, and
    'tracker feeds list' shows any that fail.

    Example: tracker feeds import subscriptions.opml --dry-run
    """
    if outlet is not None and not outlet.strip():
        raise click.BadParameter("give the outlet's name", param_hint="'--outlet'")
    source: Path | bytes = sys.stdin.buffer.read() if file == "-" else Path(file)
    with state.tracker() as t:
        plan = t.import_opml(source, outlet=outlet, dry_run=dry_run)
    done = {"add": "would add" if dry_run else "added", "exists": "exists", "skip": "skipped"}
    rows = [{**p.__dict__, "result": done[p.action]} for p in plan]
    click.echo(table(rows, ["result", "outlet", "url", "reason"], tty=_tty(), widths={"url": 70}))
    counts = {action: sum(p.action == action for p in plan) for action in done}
    click.echo(
        f"{plural(len(plan), 'feed')} in {file}: {counts['add']} {done['add']}, "
        f"{counts['exists']} already there, {counts['skip']} skipped",
        err=not _tty(),
    )


@feeds.command("export")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="Write to this file (replaced whole, atomically) instead of stdout.",
)
@click.option("--include-disabled", is_flag=True, help="Export disabled feeds too.")
@pass_state
@reports_errors
def feeds_export(state: State, output: str | None, include_disabled: bool) -> None:
    """Write the feeds as OPML, for a feed reader or another tracker.

    One outline per outlet, holding its feeds (enabled ones unless --include-disabled); a
    feed's text is its outlet's name, so 'tracker feeds import' reads the file back into the
    same outlets. A news sitemap is written with type="sitemap", which feed readers skip.

    Example: tracker feeds export -o feeds.opml
    """
    with state.tracker() as t:
        document = t.export_opml(include_disabled=include_disabled)
    if output is None:
        click.echo(document, nl=False)  # bytes: written as they are, UTF-8 and all
        return
    if not output.strip():
        raise click.BadParameter("give a file name", param_hint="'-o'")
    with atomic_text_file(Path(output)) as out:
        out.write(document.decode("utf-8"))
    click.echo(f"wrote {output}", err=True)


@feeds.command("remove")
@click.argument("feed_id", type=int, metavar="ID")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted; change nothing.")
@click.option("--json", "as_json_", is_flag=True, help="Print the counts as JSON.")
@pass_state
@reports_errors
def feeds_remove(state: State, feed_id: int, dry_run: bool, as_json_: bool) -> None:
    """Delete a feed and what only it brought. Exactly:

    \b
    - items no other feed carried are deleted, with their links to articles,
      their alerts, older versions, identity keys, and the stories they leave empty;
    - items another feed carried too stay, with their links to articles
      (those first stored under this feed now count as the other feed's);
    - the feed's sightings and its fetch log are deleted;
    - its outlet stays, with its other feeds, and so does every article.

    One transaction: all of it happens or none. A feed config.yaml lists is refused (it
    would come back at the next start): remove it there first. To stop polling a feed and
    keep everything, use 'tracker feeds disable ID'.

    Example: tracker feeds remove 7 --dry-run
    """
    with state.tracker() as t:
        removal = t.remove_feed(feed_id, dry_run=dry_run)
    if as_json_:
        click.echo(as_json(removal.__dict__))
        return
    c, done = removal.counts, _done(removal.dry_run)
    click.echo(f"{'would remove' if removal.dry_run else 'removed'} {removal.what}")
    click.echo(
        f"  {plural(c['items'], 'item')} only this feed carried: {done('deleted')}, with "
        f"{plural(c['article_items'], 'link')} to articles, {plural(c['alerts'], 'alert')}, "
        f"{plural(c['item_versions'], 'older version')}, "
        f"{plural(c['item_keys'], 'identity key')} and "
        f"{plural(c['stories'], 'story', 'stories')} left empty"
    )
    click.echo(
        f"  {plural(c['items_kept'], 'item')} other feeds carried too: {done('kept')}, with their "
        "links to articles"
    )
    click.echo(
        f"  {plural(c['sightings'], 'sighting')} and "
        f"{plural(c['fetches'], 'fetch log row')} of the feed: {done('deleted')}; its outlet stays"
    )


def _done(dry_run: bool) -> Callable[[str], str]:
    return (lambda verb: f"would be {verb}") if dry_run else (lambda verb: verb)


# --- demo ----------------------------------------------------------------------------------------
