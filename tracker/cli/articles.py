"""tracker article: the articles whose coverage is tracked."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

from ..textout import as_json, local_time, plural, shown_time, table
from .base import ID, State, _check_url, _echo_registered, _tty, cli, pass_state, reports_errors


@cli.group()
def article() -> None:
    """Register, inspect and remove tracked articles."""


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
        tz = t.config.tz
        rows: list[dict[str, Any]] = [
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
            [{**r, "published_at": shown_time(r["published_at"], tz, tty=_tty())} for r in rows],
            ["id", "title", "published_at", "cited_outlets", "location"],
            tty=_tty(),
            widths={"title": 60, "location": 50},
        )
    )


@article.command("show")
@click.argument("article_id", type=ID, metavar="ID")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON.")
@pass_state
@reports_errors
def article_show(state: State, article_id: int, as_json_: bool) -> None:
    """Show one article: title, date, cited outlets and key terms.

    Example: tracker article show 1
    """
    with state.tracker() as t:
        a = t.article(article_id)
        tz = t.config.tz
    if as_json_:
        click.echo(as_json({**a.__dict__, "text": None}))
        return
    click.echo(f"#{a.id} {a.title}")
    click.echo(f"location: {a.location}")
    click.echo(f"url: {a.url or '-'}    published: {local_time(a.published_at, tz) or 'unknown'}")
    click.echo(f"cited outlets: {', '.join(a.cited_outlets) or 'none found'}")
    terms = sorted(a.key_terms.items(), key=lambda kv: -kv[1])
    click.echo("key terms: " + ", ".join(f"{term} ({weight:.2f})" for term, weight in terms))


@article.command("remove")
@click.argument("article_id", type=int, metavar="ID")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted; change nothing.")
@click.option("--json", "as_json_", is_flag=True, help="Print the counts as JSON.")
@pass_state
@reports_errors
def article_remove(state: State, article_id: int, dry_run: bool, as_json_: bool) -> None:
    """Stop tracking an article. Exactly:

    \b
    - the article and its links to items (its coverage) are deleted,
      with the record of which outlets it cites and of its alerts;
    - every item stays, with its stories and its links to other articles;
    - feeds and outlets stay, and are polled as before.

    One transaction: all of it happens or none. An article config.yaml lists is refused (it
    would come back at the next start): remove it there first.

    Example: tracker article remove 2 --dry-run
    """
    with state.tracker() as t:
        removal = t.remove_article(article_id, dry_run=dry_run)
    if as_json_:
        click.echo(as_json(removal.__dict__))
        return
    c = removal.counts
    done = "would be deleted" if removal.dry_run else "deleted"
    click.echo(f"{'would remove' if removal.dry_run else 'removed'} {removal.what}")
    click.echo(
        f"  {plural(c['article_items'], 'link')} to items: {done}; every item stays, "
        "with its links to other articles"
    )
    click.echo(f"  {plural(c['article_outlets'], 'cited outlet')}: {done} (the outlets stay)")
    click.echo(f"  {plural(c['alerts'], 'alert')} (sent or pending): {done}")


# --- feeds ---------------------------------------------------------------------------------------
