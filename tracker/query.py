"""Pure helpers for querying: time expressions, time-zone spans, full-text query quoting.

No SQL here (that is ``store.py``'s job) and no I/O: these turn what a user types into values the
store takes, and the configured time zone into the UTC-offset spans the ``daily_coverage`` view
reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import QueryError
from .models import as_utc

#: the years timezone_spans covers with real transitions; items before 1990 are dropped on
#: ingest, and outside this range the nearest span's offset applies
SPAN_YEARS = (1990, 2100)

_AGE = re.compile(r"^\s*(\d+)\s*(min|h|d|w)\s*$", re.I)
_AGE_UNITS = {"min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: "6M" reads as six months as easily as six minutes, and prune deletes by it: no "m" unit
_AMBIGUOUS_AGE = re.compile(r"^\s*\d+\s*(m)\s*$", re.I)


@dataclass(frozen=True)
class TimeSpan:
    """UTC offset in force from ``starts_at`` (inclusive) to ``ends_at`` (exclusive)."""

    starts_at: datetime
    ends_at: datetime
    offset_minutes: int


def parse_age(text: str) -> timedelta:
    """``90d``, ``36h``, ``2w``, ``45min`` → a positive duration (units: min, h, d, w)."""
    age = _age(text)
    if age is None:
        raise QueryError(f"expected an age such as 90d, 36h, 2w or 45min, got {text!r}")
    return age


def ago(age: timedelta | str, now: datetime) -> datetime:
    """The moment ``age`` (a duration, or an age as users type it) before ``now``."""
    delta = parse_age(age) if isinstance(age, str) else age
    try:
        return now - delta
    except OverflowError:
        shown = age.strip() if isinstance(age, str) else str(age)
        raise QueryError(f"{shown} reaches before year 1") from None


def _age(text: str) -> timedelta | None:
    """``text`` as a positive age, or None when it is not one."""
    ambiguous = _AMBIGUOUS_AGE.match(text)
    if ambiguous:
        raise QueryError(
            f"{text.strip()!r}: '{ambiguous.group(1)}' could mean minutes or months; write "
            "45min for minutes, or days or weeks (180d, 26w) for longer"
        )
    match = _AGE.match(text)
    if not match or not match.group(1).strip("0"):
        return None
    try:
        return timedelta(seconds=int(match.group(1)) * _AGE_UNITS[match.group(2).lower()])
    except (OverflowError, ValueError):  # beyond timedelta, or too many digits for int()
        raise QueryError(f"{text.strip()} reaches before year 1") from None


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """A point in time as users type it, as an aware UTC datetime.

    ``7d`` / ``36h`` / ``45min`` (that long before now), ``today`` / ``yesterday`` (local midnight),
    ``2025-08-18`` (local midnight of that day), ``2025-08-18T14:30`` (local time) or a time
    with ``Z`` or an offset. Local means the configured time zone.
    """
    value = text.strip()
    if _age(value) is not None:
        return ago(value, now)
    today = now.astimezone(tz).date()
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    try:
        if value.lower() in named:
            return local_midnight(named[value.lower()], tz)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
        if len(value) == 10:  # a bare date: its local midnight
            return local_midnight(parsed.date(), tz)
        return as_utc(parsed, tz)
    except ValueError:
        raise QueryError(
            f"expected a time such as 7d, 36h, today, 2025-08-18 or 2025-08-18T14:30, got {text!r}"
        ) from None
    except OverflowError:  # in UTC the time falls before year 1 or after 9999
        raise QueryError(f"{value} is outside the calendar (years 1 to 9999 in UTC)") from None


@contextmanager
def naming(argument: str) -> Iterator[None]:
    """QueryErrors raised inside start with the argument whose value caused them."""
    try:
        yield
    except QueryError as exc:
        raise exc.about(argument) from None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def timezone_spans(tz: ZoneInfo, years: tuple[int, int] = SPAN_YEARS) -> list[TimeSpan]:
    """The zone's UTC offsets between its transitions, from ``years[0]`` to ``years[1]``.

    zoneinfo does not list transitions, so this steps through the range a day at a time and
    bisects each change of offset to the second. The first span starts at the year 1 and the
    last ends at 9999, so every timestamp falls in exactly one span.
    """
    start = datetime(years[0], 1, 1, tzinfo=UTC)
    end = datetime(years[1], 1, 1, tzinfo=UTC)
    changes: list[tuple[datetime, int]] = []
    current = _offset(start, tz)
    step = timedelta(days=1)
    when = start
    while when < end:
        later = min(when + step, end)
        if _offset(later, tz) != current:
            changes.append((_bisect(when, later, tz), _offset(later, tz)))
            current = _offset(later, tz)
        when = later
    bounds = [datetime(1, 1, 1, tzinfo=UTC)] + [c[0] for c in changes]
    offsets = [_offset(start, tz)] + [c[1] for c in changes]
    ends = [*bounds[1:], datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]
    return [TimeSpan(s, e, o) for s, e, o in zip(bounds, ends, offsets, strict=True)]


def _offset(when: datetime, tz: ZoneInfo) -> int:
    delta = when.astimezone(tz).utcoffset() or timedelta(0)
    return round(delta.total_seconds() / 60)


def _bisect(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The first second in (low, high] with ``high``'s offset."""
    target = _offset(high, tz)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if _offset(middle, tz) == target:
            high = middle
        else:
            low = middle
    return high


def literal_match(text: str) -> str:
    """Words as typed → an FTS5 query matching all of them, no operators or syntax."""
    words = text.split()
    if not words:
        raise QueryError("search: the query is empty")
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)
