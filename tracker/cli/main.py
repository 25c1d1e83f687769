"""The ``tracker`` command: parse arguments, call one library function, print the result."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from ..app import Registered, Tracker
from ..config import ENV_VAR, config_path, load_config
from ..digest.build import FORMATS as DIGEST_FORMATS
from ..digest.data import DayDigest
from ..errors import ConfigError, TrackerError
from ..models import CycleSummary
from ..service.logs import LEVELS, setup_logging
from ..service.service import Service
from ..service.status import EXIT_CODES as STATUS_EXIT_CODES
from ..service.status import UNKNOWN_EXIT_CODE
from ..textout import as_json, table, write_rows
from ..urls import redacted, url_problem

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


def limit_option(default: int, help: str) -> Callable[[F], F]:
    """--limit / -n N, where 0 means no limit in every command that takes one."""
    return click.option(
        "--limit", "-n", type=click.IntRange(min=0), default=default, show_default=True, help=help
    )


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
    with state.tracker() as t, _ProgressBar("polling feeds", enabled=not as_json_) as bar:
        summary = t.poll(all_feeds=all_feeds, progress=bar.show)
    if as_json_:
        click.echo(as_json([r.__dict__ for r in summary.results]))
        return
    _echo_cycle(summary)


@cli.command()
@click.option("--article", "article_id", type=int, help="Only this article (default: all).")
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
@click.argument("item_id", type=int, metavar="ITEM_ID")
@click.option("--article", "article_id", type=int, help="Only this article (default: all).")
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


@cli.command()
@click.option("--article", "article_id", type=int, help="Only this article (default: all).")
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
                f"(model learned from {models[aid].background} items)"
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
    are scored against it at once. Text may be UTF-8, Windows-1252, or UTF-16 with a byte-order
    mark; a binary file, or one with no text to take key terms from, is refused.

    Example: tracker article add articles/shifting-sands-of-support.txt
    """
    _check_article_location(location)
    with state.tracker() as t:
        _echo_registered(t.add_article(location))


def _check_article_location(location: str) -> None:
    """Refuse, as a usage error (exit 2), a location that names no readable file or usable URL."""
    hint = "'PATH|URL'"
    scheme = re.match(r"([a-z][a-z0-9+.-]*)://", location, re.I)
    if scheme and scheme[1].lower() in ("http", "https"):
        _check_url(location, hint)
        return
    if scheme:
        problem = f"only http:// and https:// URLs are fetched, not {scheme[1]}:"
    elif not location.strip():
        problem = "give a file or an http:// or https:// URL"
    elif not Path(location).exists():
        problem = f"no such file: {location}"
    elif Path(location).is_dir():
        problem = f"{location} is a directory, not a file"
    elif not os.access(location, os.R_OK):
        problem = f"{location} cannot be read (permission denied)"
    else:
        return
    raise click.BadParameter(problem, param_hint=hint)


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


def _check_url(url: str, param_hint: str = "'URL'") -> None:
    """Refuse a URL argument that config.yaml would refuse (tracker.urls.url_problem)."""
    problem = url_problem(url)
    if problem:
        raise click.BadParameter(f"{problem}, got {redacted(url)!r}", param_hint=param_hint)


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


def _keep_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    # Path("") is the current directory: an empty --keep is a mistake, not a request for "."
    if value is not None and not value.strip():
        raise click.BadParameter("give a directory (--keep . for the current one)")
    return None if value is None else Path(value)


@cli.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False),
    callback=_keep_dir,
    help="Keep the demo's config, database and digests in this directory: a new or empty "
    "one, or one an earlier demo kept (it refuses to overwrite files of your own).",
)
def demo(keep: Path | None) -> None:
    """Run the tracker offline on bundled real feeds, day by day (15-24 August 2025).

    Serves real snapshots of six outlets' feeds from a local HTTP server on 127.0.0.1, polls them
    once per replayed day, polls again to show conditional GET and zero duplicates, and prints the
    coverage linked to the shipped article. No network needed.

    Example: tracker demo --keep tracker-demo
    """
    from ..demo.run import run_demo

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
    """A row per feed (aligned on a terminal, TSV when piped), then the totals line, which
    goes to stderr when piped so that stdout stays one clean table."""
    rows = [
        {
            **r.__dict__,
            "new": r.items_new,
            "updated": r.items_updated,
            "seen": r.items_seen,
            "linked": r.items_linked,
            "error": f"{r.error_kind}: {r.error_message}" if r.result == "error" else "",
        }
        for r in summary.results
    ]
    columns = ["result", "outlet", "url", "new", "updated", "seen", "linked", "error"]
    if rows:
        click.echo(table(rows, columns, tty=_tty(), widths={"outlet": 18, "url": 60}))
    click.echo(
        f"{len(summary.results)} feeds polled: {summary.count('ok')} ok, "
        f"{summary.count('not-modified') + summary.count('unchanged')} not modified, "
        f"{summary.count('error')} failed; {summary.items_new} new items, "
        f"{summary.items_linked} linked; {summary.duration_ms} ms",
        err=not _tty(),
    )


# --- digest --------------------------------------------------------------------------------------


class DayParam(click.ParamType):
    """YYYY-MM-DD, or 'today' / 'yesterday' in the configured time zone (resolved later)."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, date) or value in ("today", "yesterday"):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date such as 2025-08-20 (or today, yesterday)", param)


@cli.command()
@click.option(
    "--date",
    "day",
    type=DayParam(),
    help="The local day to digest: YYYY-MM-DD, today or yesterday (default: today, so far); "
    "not a day still to come.",
)
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the digest; write no file.")
@click.option(
    "--format",
    "formats",
    type=click.Choice(DIGEST_FORMATS),
    multiple=True,
    help="md, html or atom (repeatable). With --stdout one format, default md; "
    "otherwise the files to write, default all three.",
)
@pass_state
@reports_errors
def digest(state: State, day: date | str | None, to_stdout: bool, formats: tuple[str, ...]) -> None:
    """Write the daily digest: what is new about the tracked story, by outlet and by story.

    Writes YYYY-MM-DD.md and YYYY-MM-DD.html to digest.directory (config.yaml) and refreshes
    digests.atom, a feed of the newest digest.keep digests. Days run midnight to midnight in
    the configured time zone; an item belongs to the day it was first seen. Each file is
    replaced atomically, so a reader never sees half a digest.

    \b
    Example: tracker digest --date 2025-08-20
             tracker digest --stdout --format md | less
    """
    if to_stdout and len(formats) > 1:
        raise click.BadParameter("give one format with --stdout", param_hint="--format")
    with state.tracker() as t:
        when = _resolve_day(day, t.local_today())
        if to_stdout:
            fmt = formats[0] if formats else "md"
            click.echo(t.digest(when, formats=(fmt,), write=False).texts[fmt], nl=False)
            return
        output = t.digest(when, formats=formats or DIGEST_FORMATS)
    for path in output.paths:
        click.echo(str(path))
    click.echo(_digest_line(output.digest))


def _resolve_day(day: date | str | None, today: date) -> date:
    if day == "yesterday":
        return today - timedelta(days=1)
    return day if isinstance(day, date) else today


def _digest_line(d: DayDigest) -> str:
    def count(n: int, one: str, many: str) -> str:
        return f"{n} {one if n == 1 else many}"

    news = (
        f"{count(d.new_items, 'new linked item', 'new linked items')} from "
        f"{count(len(d.outlets), 'outlet', 'outlets')}"
        if d.new_items
        else "no new coverage"
    )
    state = "" if d.complete else " (day in progress)"
    health = f"; {count(len(d.health), 'feed needs', 'feeds need')} attention" if d.health else ""
    return f"{d.day}{state}: {news}{health}"


# --- querying ------------------------------------------------------------------------------------


#: ages take the units min, h, d and w; "m" is refused as ambiguous (minutes or months?)
_SINCE_HELP = (
    "Published at or after: an age (45min, 36h, 7d, 2w), today, yesterday, 2025-08-18 (local "
    "midnight) or 2025-08-18T14:30."
)


def output_options(func: F) -> F:
    """--csv / --json / --jsonl, at most one, passed on as ``fmt`` (None without one: a table
    on a terminal, tab-separated when piped)."""
    # one flag each: flags sharing one variable let the last one given win in silence
    flags = (
        ("--csv", "csv", "CSV with a header row."),
        ("--json", "json", "A JSON array of objects."),
        ("--jsonl", "jsonl", "One JSON object per line."),
    )

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = [flag for flag, fmt, _ in flags if kwargs.pop(f"fmt_{fmt}")]
        if len(given) > 1:
            names = ", ".join(given[:-1]) + " and " + given[-1]
            raise click.UsageError(f"{names} cannot be combined: give one format")
        return func(*args, fmt=given[0].lstrip("-") if given else None, **kwargs)

    for flag, fmt, text in reversed(flags):
        wrapper = click.option(flag, f"fmt_{fmt}", is_flag=True, help=text)(wrapper)
    return wrapper  # type: ignore[return-value]


def _one_format(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    """A --format given twice is an error, not the last one winning."""
    if len(set(value)) > 1:
        raise click.BadParameter(f"give one format, not {' and '.join(dict.fromkeys(value))}")
    return value[0] if value else None


@cli.command()
@click.argument("text", metavar="QUERY")
@click.option("--article", "article_id", type=int, help="Only items linked to this article.")
@click.option("--outlet", metavar="NAME", help="Only items of this outlet.")
@click.option("--since", metavar="WHEN", help=_SINCE_HELP)
@click.option("--until", metavar="WHEN", help="Published before: same forms as --since.")
@limit_option(20, "At most N results; 0 for all.")
@click.option("--literal", is_flag=True, help="Match the words as typed, ignoring FTS syntax.")
@output_options
@pass_state
@reports_errors
def search(
    state: State,
    text: str,
    article_id: int | None,
    outlet: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    literal: bool,
    fmt: str | None,
) -> None:
    """Full-text search of every stored item's title and summary, best match first.

    QUERY is an SQLite FTS5 query: words (all must match), "a phrase", OR, NOT, prefix*,
    NEAR(a b). Ranked by bm25, a title match counting double. Dates are in the configured
    time zone; an item's time is when it was published (first seen if the feed gave none).

    Example: tracker search '"security guarantees" OR troops' --since 2025-08-18 --limit 10
    """
    with state.tracker() as t:
        rows = t.search(
            text,
            article_id=article_id,
            outlet=outlet,
            since=since,
            until=until,
            limit=limit,
            literal=literal,
        )
        tz = t.config.tz
    if not rows and fmt is None and _tty():
        click.echo("No matching items.")
        return
    columns = list(rows[0]) if rows else list(_SEARCH_COLUMNS)
    if fmt is None and _tty():
        rows = [
            {
                **r,
                "published": _local(r["published_at"] or r["first_seen_at"], tz),
                "linked to": r["articles"],
            }
            for r in rows
        ]
        columns = ["item_id", "published", "outlet", "title", "linked to"]
    write_rows(_stdout(), columns, rows, fmt or "table", tty=_tty(), widths=_WIDTHS)


@cli.command()
@click.argument("sql")
@click.option(
    "-p",
    "--param",
    "params",
    type=(str, str),
    multiple=True,
    metavar="NAME VALUE",
    help="A value for :NAME in the SQL (repeatable).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop the query if it runs longer than this.",
)
@output_options
@pass_state
@reports_errors
def query(
    state: State,
    sql: str,
    params: tuple[tuple[str, str], ...],
    timeout: float | None,
    fmt: str | None,
) -> None:
    """Run one read-only SQL statement against the database and print its rows.

    SELECT (also WITH ... SELECT, VALUES, EXPLAIN SELECT) runs, one statement at a time.
    Views for the common questions: coverage, daily_coverage, first_reports, feed_health (see
    docs/schema.md). Rows stream, so --csv and --jsonl handle any size.

    The connection cannot change anything. Refused: writes (INSERT, REPLACE, UPDATE, DELETE),
    schema changes (CREATE, DROP, ALTER, REINDEX, ANALYZE, VACUUM), ATTACH and DETACH, BEGIN
    and SAVEPOINT, load_extension() and fts3_tokenizer(), and every PRAGMA except these, which
    only read the schema or the build: table_info, table_xinfo, table_list, index_list, index_info,
    index_xinfo, foreign_key_list, database_list, collation_list, function_list, module_list,
    pragma_list, compile_options and data_version. Those work as a statement, PRAGMA
    table_info(items), or as a table, SELECT name FROM pragma_table_info('items').

    Each result column needs a name of its own: two of the same name (SELECT items.id,
    feeds.id ...) are an error; rename one with AS. An infinite float (1e400) is written as
    null in JSON and JSONL, which have no such number, and as an empty cell in CSV and TSV.

    Example: tracker query "SELECT outlet, count(*) FROM coverage GROUP BY outlet" --csv
    """
    with state.tracker() as t, t.query(sql, dict(params), timeout=timeout) as rows:
        write_rows(_stdout(), rows.columns, rows, fmt or "table", tty=_tty(), widths=_WIDTHS)


class _OutputPath(click.Path):
    """A file to write; an empty name is a usage error (as a path it would mean the current
    directory)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("the file name is empty: give a path, or - for standard output", param, ctx)
        return super().convert(value, param, ctx)


@cli.command()
@click.option("--article", "article_id", type=int, help="Only this article (default: all).")
@click.option("--tier", type=click.Choice(["story", "related"]), help="Only items of this tier.")
@click.option("--since", metavar="WHEN", help=_SINCE_HELP)
@click.option("--until", metavar="WHEN", help="Published before: same forms as --since.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "jsonl"]),
    multiple=True,
    callback=_one_format,
    help="Output format (default: from the --output suffix, else csv).",
)
@click.option(
    "--output",
    "-o",
    type=_OutputPath(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
    help="File to write (default: stdout); it appears only once complete.",
)
@pass_state
@reports_errors
def export(
    state: State,
    article_id: int | None,
    tier: str | None,
    since: str | None,
    until: str | None,
    fmt: str | None,
    output: Path | None,
) -> None:
    """Export coverage (the coverage view) as CSV, JSON or JSONL, oldest first per article.

    Rows stream from the database, so memory stays flat at any size. In JSON and JSONL,
    reasons is a list; in CSV it is JSON text.

    Example: tracker export --article 1 --output coverage.csv
    """
    to_stdout = output is None or str(output) == "-"
    fmt = fmt or (_format_from_suffix(output) if not to_stdout else None) or "csv"
    with state.tracker() as t:
        count = t.export(
            _stdout() if to_stdout else output,
            fmt,
            article_id=article_id,
            tier=tier,
            since=since,
            until=until,
        )
    if not to_stdout:
        click.echo(f"exported {count} rows to {output}", err=True)


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
    click.echo(f"{verb} rows last seen before {report.cutoff:%Y-%m-%d %H:%M} UTC:")
    click.echo(table(report.rows(), ["table", "rows"], tty=_tty()))
    if not dry_run and not no_vacuum:
        click.echo(
            f"database: {report.bytes_before / 1e6:.1f} MB -> {report.bytes_after / 1e6:.1f} MB",
            err=not _tty(),
        )


#: what search prints when nothing matched (the columns of Store.search's rows)
_SEARCH_COLUMNS = (
    "item_id",
    "outlet",
    "published_at",
    "first_seen_at",
    "title",
    "url",
    "articles",
    "rank",
)
_WIDTHS = {"title": 70, "url": 60, "outlet": 18, "summary": 60, "reasons": 60, "article": 40}


class _ProgressBar:
    """A click progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, *, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._done = 0

    def show(self, done: int, total: int) -> None:
        if not self.enabled or total < 2:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self.show(self._done + count, self._bar.length)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def _stdout() -> Any:
    return sys.stdout


def _local(stamp: str | None, tz: Any) -> str:
    if not stamp:
        return ""
    return datetime.fromisoformat(stamp).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _format_from_suffix(path: Path | None) -> str | None:
    suffix = path.suffix.lower().lstrip(".") if path else ""
    return suffix if suffix in ("csv", "json", "jsonl") else None


# --- service -------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    envvar="TRACKER_LOG_LEVEL",
    show_envvar=True,
    help="Least severe events logged to stderr.",
)
@pass_state
@reports_errors
def run(state: State, log_level: str) -> None:
    """Run the background service in the foreground, until SIGTERM or Ctrl-C.

    Every polling.dispatch_every it polls the due feeds through polling.workers workers, each
    feed with its own deadline; at digest.time it writes yesterday's digest (and at start-up the
    days missed while it was down). It records a heartbeat and a summary of each cycle for
    'tracker status' and logs one line per event to stderr (journald-friendly).

    \b
    SIGTERM / SIGINT  stop: feeds being polled get polling.grace_period to finish; exit 0
    SIGHUP            reload config.yaml (a bad file is reported and the old one kept)

    Only one service runs per database (a second one exits with an error); every other command
    keeps working beside it. See contrib/tracker.service to run it under systemd.

    Example: tracker run --log-level debug
    """
    setup_logging(log_level.lower())
    Service.from_config_file(config_path(state.config_option)).run()


@cli.command()
@click.option("--json", "as_json_", is_flag=True, help="Print JSON (for scripts and monitoring).")
@pass_state
def status(state: State, as_json_: bool) -> None:
    """Show whether the service is running, its last cycle, and each feed's health.

    Per feed: outlet, last success, last result, consecutive errors, next poll, items stored.
    Exit code 0 when the service is running, 1 when it runs but its heartbeat stopped (stuck),
    3 when it is not running, 4 when that cannot be told (a bad config, no usable database),
    as LSB init scripts report status.

    Example: tracker status --json
    """
    try:
        with state.tracker() as t:
            report = t.status()
            tz = t.config.tz
    except TrackerError as exc:
        # not 1 or 2: a monitor must not read "stuck" or a config typo as a service state
        raise TrackerCLIError(str(exc), exit_code=UNKNOWN_EXIT_CODE) from None
    click.echo(as_json(report) if as_json_ else _status_text(report, tz))
    click.get_current_context().exit(STATUS_EXIT_CODES[report["service"]["state"]])


def _status_text(report: dict[str, Any], tz: tzinfo) -> str:
    lines = [_service_line(report["service"], tz)]
    cycle = report["last_cycle"]
    if cycle:
        lines.append(
            f"last cycle: #{cycle['id']} at {_local_zoned(cycle['started_at'], tz)}: "
            f"{cycle['feeds_polled']} feeds polled: {cycle['ok']} ok, "
            f"{cycle['not_modified']} not modified, {cycle['errors']} failed; "
            f"{cycle['items_new']} new items, {cycle['items_linked']} linked; "
            f"{(cycle['duration_ms'] or 0) / 1000:.2f} s"
        )
    for digest in report["digests"][:1]:
        outcome = "written" if digest["result"] == "ok" else f"FAILED: {digest['error']}"
        lines.append(f"last digest: {digest['day']} {outcome} ({digest['trigger']})")
    t = report["totals"]
    lines.append(
        f"feeds: {t['enabled']} enabled ({t['failing']} failing, {t['due']} due now), "
        f"{t['disabled']} disabled; {t['items']} items; "
        f"next poll {_local_zoned(t['next_poll_at'], tz) or '-'}"
    )
    rows = [
        {
            **f,
            "state": "enabled" if f["enabled"] else f"disabled: {f['disabled_reason']}",
            "last_success": _local_zoned(f["last_success_at"], tz),
            "next_poll": "due" if f["due"] else _local_zoned(f["next_poll_at"], tz),
            "errors": f["consecutive_errors"],
        }
        for f in report["feeds"]
    ]
    columns = ["id", "outlet", "state", "last_success", "last_result", "errors", "next_poll"]
    shown = table(
        rows,
        [*columns, "items", "url", "last_error"],
        tty=_tty(),
        widths={"url": 60, "state": 30, "last_error": 60},
    )
    return "\n".join([*lines, "", shown])


def _service_line(s: dict[str, Any], tz: tzinfo) -> str:
    state = s["state"]
    if state == "never-started":
        return "service: never started (start it with 'tracker run')"
    if state in ("stopped",):
        return (
            f"service: stopped at {_local_zoned(s['stopped_at'], tz)} ({s['stop_reason']}); "
            f"it ran from {_local_zoned(s['started_at'], tz)} as pid {s['pid']}"
        )
    head = f"service: {state} (pid {s['pid']}"
    if s.get("host"):
        head += f" on {s['host']}"
    if state in ("starting", "stopping") or "started_at" not in s:
        return head + ")"
    line = (
        f"{head}), up since {_local_zoned(s['started_at'], tz)} ({_span(s['uptime_s'])}), "
        f"last heartbeat {_span(s['heartbeat_age_s'])} ago, {s['in_flight']} feeds in flight"
    )
    if state == "unresponsive":
        line += "; it may be stuck: see its log (journalctl --user -u tracker)"
    return line


def _local_zoned(value: str | None, tz: tzinfo) -> str:
    """A stored UTC timestamp in the configured time zone, to the minute."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(max(int(seconds), 0), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def main() -> None:
    cli(prog_name="tracker")
