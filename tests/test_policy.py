"""Each polling rule with a fixed clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tracker.config import PollingSettings
from tracker.update.policy import PollInputs, disable_decision, poll_delay

NOW = datetime(2025, 8, 19, 12, 0, tzinfo=UTC)
S = PollingSettings(
    interval=900,
    min_interval=300,
    max_interval=6 * 3600,
    backoff_base=300,
    backoff_max=86400,
    disable_after=3,
)


def delay(headers: dict[str, str] | None = None, **kwargs: object) -> float:
    return poll_delay(NOW, PollInputs(headers or {}, **kwargs), S, random.Random(1))


def test_default_interval() -> None:
    assert delay() == 900


def test_ttl_longer_than_interval_wins() -> None:
    assert delay(ttl_minutes=60) == 3600


def test_cache_control_max_age() -> None:
    assert delay({"cache-control": "public, max-age=1800"}) == 1800


def test_expires_header() -> None:
    expires = (NOW + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert delay({"expires": expires}) == 7200


def test_retry_after_seconds_and_http_date() -> None:
    assert delay({"retry-after": "7200"}) == 7200
    when = (NOW + timedelta(hours=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert delay({"retry-after": when}) == 3 * 3600


def test_retry_after_may_exceed_max_interval_up_to_backoff_max() -> None:
    assert delay({"retry-after": str(12 * 3600)}) == 12 * 3600
    assert delay({"retry-after": str(9 * 86400)}) == 86400


def test_clamped_to_bounds() -> None:
    assert delay(ttl_minutes=24 * 60) == 6 * 3600
    assert poll_delay(NOW, PollInputs({}), PollingSettings(interval=10, min_interval=300)) == 300


def test_busy_feed_polled_more_often_but_not_below_min() -> None:
    assert delay(new_items_per_poll=10) == 450
    assert delay(new_items_per_poll=1000) == 300


def test_backoff_grows_exponentially_with_jitter() -> None:
    delays = [delay(consecutive_errors=n) for n in (1, 2, 3, 4)]
    for n, d in enumerate(delays, start=1):
        assert 0.75 * 300 * 2 ** (n - 1) <= max(d, 0) <= max(900, 1.25 * 300 * 2 ** (n - 1))
    assert delays[3] > delays[2] > delays[1]
    assert delay(consecutive_errors=40) <= 86400 * 1.25


def test_jitter_spreads_feeds() -> None:
    rng = random.Random(7)
    values = {poll_delay(NOW, PollInputs({}, consecutive_errors=5), S, rng) for _ in range(20)}
    assert len(values) > 10


@pytest.mark.parametrize(
    ("status", "hard", "count", "disabled"),
    [(410, True, 1, True), (404, True, 2, False), (404, True, 3, True), (500, False, 9, False)],
)
def test_disable_decision(status: int, hard: bool, count: int, disabled: bool) -> None:
    assert (disable_decision(status, hard, count, S) is not None) is disabled
