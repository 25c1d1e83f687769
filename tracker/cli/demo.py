"""tracker demo: the offline replay."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import TrackerError
from .base import TrackerCLIError, cli


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
