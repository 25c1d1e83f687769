"""tracker article: the articles whose coverage is tracked."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from ..textout import as_json, table
from .base import ID, State, _check_url, _echo_registered, _tty, cli, pass_state, reports_errors


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
