"""The ``tracker`` command: parse arguments, call one library function, print the result."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from .app import Registered, Tracker
from .config import ENV_VAR, config_path, load_config
from .errors import ConfigError, TrackerError
from .models import CycleSummary
from .textout import as_json, table

F = TypeVar("F", bound=Callable[..., Any])


class TrackerCLIError(click.ClickException):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def reports_errors(func: F) -> F:
    """Turn tracker errors into one clear line on stderr: exit 2 for config, 1 otherwise."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise TrackerCLIError(str(exc), exit_code=2) from None
        except TrackerError as exc:
            raise TrackerCLIError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


class State:
    def __init__(self, config: str | None) -> None:
        self.config_option = config

    def tracker(self) -> Tracker:
        return Tracker(load_config(config_path(self.config_option)))


pass_state = click.make_pass_decorator(State)


def _tty() -> bool:
    return sys.stdout.isatty()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "-c",
    metavar="PATH",
    envvar=ENV_VAR,
    show_envvar=True,
    help="Configuration file (default: ./config.yaml).",
)
@click.version_option(package_name="tracker")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Track who else covers a news story.

    Polls the feeds of the outlets in config.yaml, deduplicates their items and stores them in
    SQLite, linked to the original article(s) they relate to, with the reasons why.

    \b
    Quick start:
      tracker init        # create db/tracker.db, load outlets, feeds and articles
      tracker poll        # fetch every due feed once
      tracker coverage    # what has been linked to the article, newest first
      tracker demo        # all of the above offline, on bundled real feeds
    """
    ctx.obj = State(config)


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
    with state.tracker() as t:
        summary = t.poll(all_feeds=all_feeds)
    if as_json_:
        click.echo(as_json([r.__dict__ for r in summary.results]))
        return
    _echo_cycle(summary)


@cli.command()
@click.option("--article", "article_id", type=int, help="Only this article (default: all).")
@click.option("--tier", type=click.Choice(["story", "related"]), help="Only items of this tier.")
@click.option("--limit", "-n", type=click.IntRange(min=1), help="At most N items.")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@reports_errors
def coverage(
    state: State, article_id: int | None, tier: str | None, limit: int | None, as_json_: bool
) -> None:
    """Items linked to the tracked article(s), newest first, with score and reasons.

    Example: tracker coverage --limit 20
    """
    with state.tracker() as t:
        rows = t.coverage(article_id, limit=limit, tier=tier)
    if as_json_:
        click.echo(as_json(rows))
        return
    if not rows:
        click.echo("No linked items yet. Run 'tracker poll' (or 'tracker demo' to try it offline).")
        return
    click.echo(_coverage_table(rows))


def _coverage_table(rows: list[dict[str, Any]]) -> str:
    shown = [
        {
            **r,
            "first_seen": (r["first_seen_at"] or "")[:16].replace("T", " "),
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


# --- articles ------------------------------------------------------------------------------------


@cli.group()
def article() -> None:
    """Register and inspect tracked articles."""


@article.command("add")
@click.argument("location", metavar="PATH|URL")
@pass_state
@reports_errors
def article_add(state: State, location: str) -> None:
    """Track an article: a plain-text file, a saved HTML page, or a URL.

    Extracts the title, the published date when given, the canonical URL and links (HTML), the
    configured outlets it cites, and the key terms used to score coverage. Items already stored
    are scored against it at once.

    Example: tracker article add articles/shifting-sands-of-support.txt
    """
    if not location.lower().startswith(("http://", "https://")) and not Path(location).exists():
        raise click.BadParameter(f"no such file: {location}", param_hint="PATH|URL")
    with state.tracker() as t:
        _echo_registered(t.add_article(location))


@article.command("list")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@reports_errors
def article_list(state: State, as_json_: bool) -> None:
    """List tracked articles.

    Example: tracker article list
    """
    with state.tracker() as t:
        rows = [
            {
                "id": a.id,
                "title": a.title,
                "published_at": a.published_at,
                "cited_outlets": list(a.cited_outlets),
                "location": a.location,
            }
            for a in t.articles()
        ]
    click.echo(
        as_json(rows)
        if as_json_
        else table(
            rows,
            ["id", "title", "published_at", "cited_outlets", "location"],
            tty=_tty(),
            widths={"title": 60, "location": 50},
        )
    )


@article.command("show")
@click.argument("article_id", type=int, metavar="ID")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON.")
@pass_state
@reports_errors
def article_show(state: State, article_id: int, as_json_: bool) -> None:
    """Show one article: title, date, cited outlets and key terms.

    Example: tracker article show 1
    """
    with state.tracker() as t:
        a = t.article(article_id)
    if as_json_:
        click.echo(as_json({**a.__dict__, "text": None}))
        return
    click.echo(f"#{a.id} {a.title}")
    click.echo(f"location: {a.location}")
    click.echo(f"url: {a.url or '-'}    published: {a.published_at or 'unknown'}")
    click.echo(f"cited outlets: {', '.join(a.cited_outlets) or 'none found'}")
    terms = sorted(a.key_terms.items(), key=lambda kv: -kv[1])
    click.echo("key terms: " + ", ".join(f"{term} ({weight:.2f})" for term, weight in terms))


# --- feeds ---------------------------------------------------------------------------------------


@cli.group()
def feeds() -> None:
    """List, add, discover and re-enable feeds."""


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

    Example: tracker feeds add https://rss.dw.com/rdf/rss-en-world --outlet DW
    """
    if not url.lower().startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="URL")
    with state.tracker() as t:
        feed_id = t.add_feed(url, outlet, kind)
    click.echo(f"feed {feed_id}: {url} ({outlet})")


@feeds.command("discover")
@click.argument("url")
@pass_state
@reports_errors
def feeds_discover(state: State, url: str) -> None:
    """List the feeds a web page announces (<link rel="alternate">).

    Example: tracker feeds discover https://www.euronews.com/
    """
    with state.tracker() as t:
        found = t.discover(url)
    if not found:
        click.echo("no feeds announced on that page")
    for feed_url, title in found:
        click.echo(f"{feed_url}\t{title}" if title else feed_url)


@feeds.command("enable")
@click.argument("feed_id", type=int, metavar="ID")
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
@click.argument("feed_id", type=int, metavar="ID")
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


@cli.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's config and database in this directory.",
)
def demo(keep: Path | None) -> None:
    """Run the tracker offline on bundled real feeds, day by day (15-24 August 2025).

    Serves real snapshots of six outlets' feeds from a local HTTP server on 127.0.0.1, polls them
    once per replayed day, polls again to show conditional GET and zero duplicates, and prints the
    coverage linked to the shipped article. No network needed.

    Example: tracker demo --keep /tmp/tracker-demo
    """
    from .demo import run_demo

    try:
        run_demo(click.echo, keep)
    except TrackerError as exc:
        raise TrackerCLIError(str(exc)) from None


# --- shared printing -----------------------------------------------------------------------------


def _echo_registered(reg: Registered) -> None:
    d = reg.draft
    click.echo(f"article {reg.article_id}: {d.title}")
    click.echo(f"  published: {d.published_at.isoformat() if d.published_at else 'unknown'}")
    cited = ", ".join(f"{c.outlet} ({c.evidence})" for c in reg.citations)
    click.echo(f"  cited outlets: {cited or 'none of the configured outlets'}")
    top = sorted(reg.terms.items(), key=lambda kv: -kv[1])[:12]
    click.echo("  key terms: " + ", ".join(term for term, _ in top))


def _echo_cycle(summary: CycleSummary) -> None:
    for r in summary.results:
        detail = (
            f"{r.error_kind}: {r.error_message}"
            if r.result == "error"
            else f"{r.items_new} new, {r.items_updated} updated, {r.items_seen} seen, "
            f"{r.items_linked} linked"
        )
        click.echo(f"{r.result:12} {r.outlet[:18]:18} {r.url}  {detail}")
    click.echo(
        f"{len(summary.results)} feeds polled: {summary.count('ok')} ok, "
        f"{summary.count('not-modified') + summary.count('unchanged')} not modified, "
        f"{summary.count('error')} failed; {summary.items_new} new items, "
        f"{summary.items_linked} linked; {summary.duration_ms} ms"
    )


def main() -> None:
    cli(prog_name="tracker")
