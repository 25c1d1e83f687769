"""When to poll a feed next, and when to give up on it (pure functions, clock passed in).

One function decides the next poll, in the manner of Miniflux: the longest of the configured
interval (shortened for busy feeds), the feed's ``<ttl>``, ``Cache-Control: max-age``, ``Expires``
and ``Retry-After``, clamped to the configured bounds; after failures, exponential backoff with
jitter. ``Retry-After`` and backoff may exceed ``max_interval`` (up to ``backoff_max``): a server
that asks us to stay away longer is obeyed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from ..config import PollingSettings

#: header values are bytes read as Latin-1: only ASCII digits are a number ("²" passes
#: str.isdigit() and fails float(), which made a feed's poll fail with an internal error)
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?([0-9]+)", re.I)
_SECONDS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class PollInputs:
    """What the last poll of a feed tells the scheduler."""

    headers: Mapping[str, str]
    ttl_minutes: int | None = None
    #: consecutive failures including this one (0 after a success)
    consecutive_errors: int = 0
    #: new items per poll, averaged over recent polls
    new_items_per_poll: float = 0.0


def next_poll_at(
    now: datetime, inputs: PollInputs, settings: PollingSettings, rng: random.Random | None = None
) -> datetime:
    return now + timedelta(seconds=poll_delay(now, inputs, settings, rng))


def poll_delay(
    now: datetime, inputs: PollInputs, settings: PollingSettings, rng: random.Random | None = None
) -> float:
    asked = max(
        busy_interval(settings.interval, inputs.new_items_per_poll),
        (inputs.ttl_minutes or 0) * 60,
        max_age(inputs.headers),
        expires_in(now, inputs.headers),
    )
    delay = min(max(asked, settings.min_interval), settings.max_interval)
    wait = retry_after(now, inputs.headers)
    if inputs.consecutive_errors:
        wait = max(wait, backoff(inputs.consecutive_errors, settings, rng or random.Random()))
    return max(delay, min(wait, settings.backoff_max))


def busy_interval(interval: float, new_items_per_poll: float) -> float:
    """A feed that brings many new items each poll is polled more often (never below min)."""
    return interval / (1.0 + max(new_items_per_poll, 0.0) / 10.0)


def backoff(errors: int, settings: PollingSettings, rng: random.Random) -> float:
    """Exponential in the number of consecutive errors, with ±25% jitter so feeds spread out."""
    base = settings.backoff_base * 2.0 ** min(errors - 1, 30)
    return min(base, settings.backoff_max) * rng.uniform(0.75, 1.25)


def max_age(headers: Mapping[str, str]) -> float:
    m = _MAX_AGE.search(_header(headers, "cache-control"))
    return float(m.group(1)) if m else 0.0


def expires_in(now: datetime, headers: Mapping[str, str]) -> float:
    when = _http_date(_header(headers, "expires"))
    return max((when - now).total_seconds(), 0.0) if when else 0.0


def retry_after(now: datetime, headers: Mapping[str, str]) -> float:
    """Retry-After as seconds from now; it may be a number of seconds or an HTTP date."""
    value = _header(headers, "retry-after").strip()
    if _SECONDS.fullmatch(value):
        return float(value)
    when = _http_date(value)
    return max((when - now).total_seconds(), 0.0) if when else 0.0


@dataclass(frozen=True)
class Disable:
    reason: str


def disable_decision(
    status: int | None, hard: bool, consecutive_hard_errors: int, settings: PollingSettings
) -> Disable | None:
    """410 disables at once; other hard failures (404, not a feed) after N in a row."""
    if status == 410:
        return Disable("HTTP 410 Gone: the feed was removed")
    if hard and consecutive_hard_errors >= settings.disable_after:
        return Disable(f"{consecutive_hard_errors} consecutive hard failures")
    return None


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name) or headers.get(name.title()) or ""


def _http_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else None
