"""What every command shares: the root group, error reporting, output options and helpers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import tzinfo
from functools import wraps
from typing import Any, TypeVar

import click

from ..app import Registered, Tracker
from ..config import ENV_VAR, config_path, load_config
from ..errors import ConfigError, QueryError, TrackerError
from ..models import CycleSummary, FeedRow
from ..service.status import FeedHealth
from ..textout import plural, shown_time, table
from ..urls import redacted, url_problem

F = TypeVar("F", bound=Callable[..., Any])


class TrackerCLIError(click.ClickException):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        # click declares exit_code a class constant; this error's depends on what failed
        self.exit_code = exit_code  # type: ignore[misc]


def reports_errors(func: F) -> F:
    """Turn tracker errors into one clear line on stderr: exit 2 for config, 1 otherwise."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise TrackerCLIError(str(exc), exit_code=2) from None
        except QueryError as exc:
            raise TrackerCLIError(exc.worded(option_of)) from None
        except TrackerError as exc:
            raise TrackerCLIError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def option_of(argument: str) -> str:
    """The option that sets a library argument, as click names them: older_than is
    --older-than."""
    return "--" + argument.replace("_", "-")


class State:
    def __init__(self, config: str | None) -> None:
        self.config_option = config

    def tracker(self) -> Tracker:
        return Tracker(load_config(config_path(self.config_option)))


pass_state = click.make_pass_decorator(State)


def _tty() -> bool:
    return sys.stdout.isatty()


#: SQLite's integers are 64-bit: no stored id (nor any count) goes beyond
SQLITE_MAX_INT = 2**63 - 1


class _Id(click.ParamType):
    """A whole number that can be an id: one beyond SQLite's integers is a usage error
    naming the option, rather than an OverflowError where it reaches the database."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.INT.convert(value, param, ctx)
        if abs(number) > SQLITE_MAX_INT:
            self.fail(
                f"{value} is beyond SQLite's 64-bit integers: no id is that large", param, ctx
            )
        return number


ID = _Id()


def limit_option(default: int, help: str) -> Callable[[F], F]:
    """--limit / -n N, where 0 means no limit in every command that takes one (and so does a
    limit beyond what SQLite can count)."""
    return click.option(
        "--limit",
        "-n",
        type=click.IntRange(min=0),
        default=default,
        show_default=True,
        help=help,
        callback=lambda ctx, param, value: 0 if value > SQLITE_MAX_INT else value,
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
        f"{plural(len(summary.results), 'feed')} polled: {summary.count('ok')} ok, "
        f"{summary.count('not-modified') + summary.count('unchanged')} not modified, "
        f"{summary.count('error')} failed; {plural(summary.items_new, 'new item')}, "
        f"{summary.items_linked} linked; {summary.duration_ms} ms",
        err=not _tty(),
    )


# --- digest --------------------------------------------------------------------------------------


_SINCE_HELP = (
    "Reported (published, never later than first seen) at or after: an age (45min, 36h, 7d, "
    "2w), today, yesterday, 2025-08-18 (local midnight) or 2025-08-18T14:30."
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


def _check_url(url: str, param_hint: str = "'URL'") -> None:
    """Refuse a URL argument that config.yaml would refuse (tracker.urls.url_problem)."""
    problem = url_problem(url)
    if problem:
        raise click.BadParameter(f"{problem}, got {redacted(url)!r}", param_hint=param_hint)


#: the columns 'feeds list' and 'status' show of each feed, named as in their JSON
FEED_COLUMNS = (
    "id",
    "outlet",
    "state",
    "last_success_at",
    "last_result",
    "consecutive_errors",
    "next_poll_at",
    "items",
    "url",
    "last_error",
)


def feed_state(row: FeedRow | FeedHealth) -> str:
    return "enabled" if row.enabled else f"disabled: {row.disabled_reason or 'no reason'}"


def feed_table(rows: Sequence[FeedRow | FeedHealth], tz: tzinfo) -> str:
    """Feeds as 'feeds list' and 'status' print them: one set of columns, times local with
    the zone on a terminal (ISO in UTC when piped); a disabled feed has no next poll, and on a
    terminal a feed whose time has come is 'due'."""
    tty = _tty()

    def next_poll(row: FeedRow | FeedHealth) -> str:
        if not row.enabled:
            return ""
        due = isinstance(row, FeedHealth) and row.due
        return "due" if tty and due else shown_time(row.next_poll_at, tz, tty=tty)

    shown = [
        {
            **{column: getattr(r, column, None) for column in FEED_COLUMNS},
            "state": feed_state(r),
            "last_success_at": shown_time(r.last_success_at, tz, tty=tty),
            "next_poll_at": next_poll(r),
        }
        for r in rows
    ]
    return table(shown, FEED_COLUMNS, tty=tty, widths={"url": 60, "state": 30, "last_error": 60})


def main() -> None:
    cli(prog_name="tracker")
