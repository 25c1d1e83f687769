"""Reading what was found: coverage, search, user SQL and export, the digest, retention and
the service's status."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from ..digest.build import FORMATS, DigestOutput, check_day, local_today, render_day, write_digest
from ..errors import (
    Argument,
    DigestError,
    QueryError,
)
from ..files import atomic_text_file
from ..models import (
    CoverageRow,
    SearchHit,
    StoryRow,
)
from ..outputs import stories
from ..query import ago, literal_match, naming, parse_when
from ..service.status import StatusReport, service_status
from ..storage import (
    ReadOnlyStore,
    Rows,
)
from ..textout import write_rows
from .base import TrackerBase
from .results import PruneReport


class ReadsMixin(TrackerBase):
    def coverage(
        self,
        article_id: int | None = None,
        *,
        limit: int | None = None,
        tier: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        outlet: str | None = None,
    ) -> list[CoverageRow]:
        """Items linked to one article (or every one), latest reported first.

        ``reported_at`` is the outlet's published time, never later than first seen; it orders
        the rows (ties: first seen, outlet, link) and is what ``since`` and ``until`` bound, as
        in search and export. ``outlet`` keeps one outlet's items."""
        start, end = self._window(since, until)
        return self.store.coverage(
            [a.id for a in self._articles(article_id)],
            limit=limit or None,
            tier=tier,
            since=start,
            until=end,
            outlet_id=self._outlet_id(outlet),
        )

    def story_coverage(
        self,
        article_id: int | None = None,
        *,
        limit: int | None = None,
        tier: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        outlet: str | None = None,
    ) -> list[StoryRow]:
        """Linked coverage one line per story, latest first: the outlet that reported it first
        (as in the digest and first_reports), every outlet in the order it reported, the best
        tier. The filters apply to the items, as in ``coverage``."""
        rows = self.coverage(article_id, tier=tier, since=since, until=until, outlet=outlet)
        return stories(rows, limit)

    def search(
        self,
        text: str,
        *,
        article_id: int | None = None,
        outlet: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = 20,
        literal: bool = False,
    ) -> list[SearchHit]:
        """Full-text search of item titles and summaries, best match first (bm25).

        ``text`` is an FTS5 query (words, "phrases", OR, NOT, prefix*), or with ``literal`` the
        words as typed. ``since``/``until`` bound when items were published (first seen when the
        feed gave no date); a ``limit`` of None or 0 returns every match.
        """
        match = literal_match(text) if literal else text.strip()
        if not match:
            raise QueryError("search: the query is empty")
        if article_id is not None:
            self.store.article(article_id)
        start, end = self._window(since, until)
        return self.store.search(
            match,
            article_id=article_id,
            outlet_id=self._outlet_id(outlet),
            since=start,
            until=end,
            limit=limit or None,
        )

    @contextmanager
    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] = (),
        *,
        timeout: float | None = None,
    ) -> Iterator[Rows]:
        """Run one read-only SQL statement; iterate the yielded rows (dicts) inside the block.

        The connection cannot write (see ``ReadOnlyStore``); the database is first opened
        normally so it is migrated and its time zone is current. A statement still running
        after ``timeout`` seconds is stopped with a QueryError.
        """
        with self._read_only(timeout) as reader:
            yield reader.rows(sql, params)

    def export(
        self,
        destination: TextIO | str | Path,
        fmt: str = "csv",
        *,
        article_id: int | None = None,
        tier: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> int:
        """Write the coverage view (one article, or all) as csv, json or jsonl; returns rows.

        Rows stream from the database to the destination, so memory stays flat however many
        there are. A path is written to a temporary file renamed into place at the end, so a
        failed export never leaves a truncated file behind. ``reasons`` is a JSON list in JSON
        and JSONL, JSON text in CSV.
        """
        if fmt not in ("csv", "json", "jsonl"):
            raise QueryError(f"export: unknown format {fmt!r}; expected csv, json or jsonl")
        if article_id is not None:
            self.store.article(article_id)
        start, end = self._window(since, until)
        with self._read_only() as reader:
            rows = reader.coverage(article_id, tier=tier, since=start, until=end)
            if not isinstance(destination, str | Path):
                return write_rows(destination, rows.columns, rows, fmt, json_columns=["reasons"])
            with atomic_text_file(Path(destination)) as out:
                return write_rows(out, rows.columns, rows, fmt, json_columns=["reasons"])

    def prune(
        self,
        older_than: timedelta | str,
        *,
        include_linked: bool = False,
        dry_run: bool = False,
        vacuum: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> PruneReport:
        """Delete items not seen for ``older_than`` (unlinked only, unless ``include_linked``)
        with their versions, keys and sightings, and older fetch and cycle log rows; then VACUUM.

        ``dry_run`` only counts. Linked items are the coverage, so they stay by default.
        """
        if isinstance(older_than, timedelta) and older_than <= timedelta(0):
            raise QueryError(
                "prune: ", Argument("older_than"), " must be a positive age such as 90d"
            )
        with naming("older_than"):
            cutoff = ago(older_than, self.clock())
        counts = self.store.prune(
            cutoff, include_linked=include_linked, dry_run=dry_run, progress=progress
        )
        before = after = self.store.file_size()
        if vacuum and not dry_run:
            before, after = self.store.reclaim_space()
        return PruneReport(cutoff, dry_run, counts, before, after)

    @contextmanager
    def _read_only(self, timeout: float | None = None) -> Iterator[ReadOnlyStore]:
        self.open()  # migrated, its time zone current, before the read-only connection reads it
        reader = ReadOnlyStore.open(self.config.database, timeout=timeout)
        try:
            yield reader
        finally:
            reader.close()

    def _window(
        self, since: datetime | str | None, until: datetime | str | None
    ) -> tuple[datetime | None, datetime | None]:
        """``since`` and ``until`` as times; a window that ends before it starts is an error,
        not a silent empty result."""
        start, end = self._when(since, "since"), self._when(until, "until")
        if start is not None and end is not None and start >= end:
            order = "after" if start > end else "the same time as"
            since_, until_ = Argument("since"), Argument("until")
            raise QueryError(
                *(since_, f" {_shown(since)} is {order} ", until_, f" {_shown(until)}: "),
                *("nothing can match (", since_, " is the start, ", until_, " the end)"),
            )
        return start, end

    def _outlet_id(self, outlet: str | None) -> int | None:
        if outlet is None:
            return None
        if not outlet.strip():
            raise QueryError(Argument("outlet"), ": the outlet name is empty")
        return self.store.outlet_id(outlet.strip())

    def _when(self, value: datetime | str | None, argument: str) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        with naming(argument):
            return parse_when(value, self.clock(), self.config.tz)

    def digest(
        self,
        day: date | None = None,
        *,
        formats: Sequence[str] = FORMATS,
        write: bool = True,
    ) -> DigestOutput:
        """The digest of one local day (default: today), rendered in ``formats``.

        With ``write`` the files are replaced atomically in ``digest.directory``:
        ``YYYY-MM-DD.md``, ``YYYY-MM-DD.html`` and ``digests.atom`` (the newest ``digest.keep``
        digests of the directory). Without it nothing is written (``tracker digest --stdout``).
        A day that has not started yet, or a format that is none of ``FORMATS``, raises
        ``DigestError``.
        """
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise DigestError(
                f"digest: formats are {', '.join(FORMATS)}; got {', '.join(formats) or 'none'}"
            )
        now = self.clock()
        today = local_today(now, self.config.tz)
        day = day or today
        check_day(day, today, self.config.tz)
        output = render_day(
            self.store, self.config.digest, day, tz=self.config.tz, now=now, formats=formats
        )
        return write_digest(output, self.config.digest.directory) if write else output

    def write_digest(self, day: date | None = None) -> list[Path]:
        """Write one day's digest files and refresh the Atom feed; return the paths written.

        The entry point for the background service's daily job. ``day`` is a local calendar
        day in the configured time zone (default: today, so far). A job that runs each morning
        at ``digest.time`` should usually pass the day just ended,
        ``t.local_today() - timedelta(days=1)``, whose digest is then complete; writing today's
        too is harmless. Calling it again for a day replaces that day's files.

        Every file is written atomically (temporary file in the same directory, fsync, rename):
        a reader never sees half a digest and a failure leaves the previous files intact.
        Raises ``OutputError`` when the directory cannot be written, ``StorageError`` when the
        database cannot be read and ``DigestError`` for a day not started yet; all are
        ``TrackerError``.
        """
        return list(self.digest(day).paths)

    def status(self) -> StatusReport:
        """Whether the service runs (pid, up since, heartbeat), its last cycle, feed health."""
        return service_status(self.store, self.config.lock_path, self.clock())


def _shown(value: datetime | str | None) -> str:
    return value.strip() if isinstance(value, str) else str(value)
