"""tracker digest: the daily digest."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import click

from ..digest.build import FORMATS as DIGEST_FORMATS
from ..digest.data import DayDigest
from .base import State, cli, pass_state, reports_errors


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
