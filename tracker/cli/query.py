"""Reading the database: search, query and export."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from ..models import SearchHit
from ..textout import fields_of, local_time, plural, write_rows
from .base import (
    _SINCE_HELP,
    _WIDTHS,
    ID,
    State,
    _one_format,
    _stdout,
    _tty,
    cli,
    limit_option,
    output_options,
    pass_state,
    reports_errors,
)

#: what ``tracker export`` writes (Tracker.export)
EXPORT_FORMATS = ("csv", "json", "jsonl")


@cli.command()
@click.argument("text", metavar="QUERY")
@click.option("--article", "article_id", type=ID, help="Only items linked to this article.")
@click.option("--outlet", metavar="NAME", help="Only items of this outlet.")
@click.option("--since", metavar="WHEN", help=_SINCE_HELP)
@click.option("--until", metavar="WHEN", help="Reported before: same forms as --since.")
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
    time zone; an item's time is when its outlet reported it (published, never later than first
    seen; first seen if the feed gave no date).

    Example: tracker search '"security guarantees" OR troops' --since 2025-08-18 --limit 10
    """
    with state.tracker() as t:
        hits = t.search(
            text,
            article_id=article_id,
            outlet=outlet,
            since=since,
            until=until,
            limit=limit,
            literal=literal,
        )
        tz = t.config.tz
    if not hits and fmt is None and _tty():
        click.echo("No matching items.")
        return
    shown = [fields_of(r) for r in hits]
    columns = list(_SEARCH_COLUMNS)
    if fmt is None and _tty():
        shown = [
            {**row, "reported": local_time(hit.reported_at, tz), "linked to": hit.articles}
            for row, hit in zip(shown, hits, strict=True)
        ]
        columns = ["item_id", "reported", "outlet", "title", "linked to"]
    write_rows(_stdout(), columns, shown, fmt or "table", tty=_tty(), widths=_WIDTHS)


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
    A value of the result may be at most 16 MiB; --timeout counts the time the rows take to
    be printed too.

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
@click.option("--article", "article_id", type=ID, help="Only this article (default: all).")
@click.option("--tier", type=click.Choice(["story", "related"]), help="Only items of this tier.")
@click.option("--since", metavar="WHEN", help=_SINCE_HELP)
@click.option("--until", metavar="WHEN", help="Reported before: same forms as --since.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    multiple=True,
    callback=_one_format,
    help="Output format (default: from the --output file's .csv, .json or .jsonl suffix; csv "
    "for a name without a suffix, or stdout).",
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
    reasons is a list; in CSV it is JSON text. Without --format the format is the --output
    file's suffix; any other suffix (.xlsx, .tsv ...) is refused rather than written as CSV
    under that name.

    Example: tracker export --article 1 --output coverage.csv
    """
    to_stdout = output is None or str(output) == "-"
    fmt = fmt or (_format_from_suffix(output) if not to_stdout else None) or "csv"
    with state.tracker() as t:
        count = t.export(
            _stdout() if to_stdout or output is None else output,
            fmt,
            article_id=article_id,
            tier=tier,
            since=since,
            until=until,
        )
    if not to_stdout:
        click.echo(f"exported {plural(count, 'row')} to {output}", err=True)


#: the columns of search's output: a SearchHit's fields
_SEARCH_COLUMNS = tuple(f.name for f in fields(SearchHit))


def _format_from_suffix(path: Path | None) -> str | None:
    """The format a file name asks for: its known suffix, None without one. Any other suffix
    is refused: a spreadsheet program would open CSV named .xlsx as a broken workbook."""
    suffix = path.suffix.lower().lstrip(".") if path else ""
    if not suffix or suffix in EXPORT_FORMATS:
        return suffix or None
    raise click.BadParameter(
        f"cannot write .{suffix}: export writes csv, json or jsonl; name the file .csv, .json "
        "or .jsonl, or give --format",
        param_hint="'--output'",
    )


# --- service -------------------------------------------------------------------------------------
