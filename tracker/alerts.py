"""Alerts: a message when a story-tier item arrives or a new outlet picks up the story.

After a cycle (``Tracker.after_cycle``) the items it linked are weighed for each article that
has alert targets in config.yaml (``alerts:`` under the article, one Apprise URL per target):

- an item in the story tier is alerted;
- so is an outlet's first item linked to the article: a new outlet has picked up the story.

Each alert is queued once per target in the ``alerts`` table, and a cycle's alerts go out as one
message per article and target. Sending happens after the cycle, outside any transaction, each
target in a thread of its own and all of them within ``alerts.timeout``: a target that is slow
or down never holds up a poll. A failure is logged and the alert stays pending for the next
cycle, until ``alerts.retry_for`` has passed; then it is given up, and that is logged too.

``decide`` and ``compose`` are pure; ``send`` is the only part that reaches the network.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from .config import Config
from .errors import TrackerError
from .models import Clock

if TYPE_CHECKING:
    from datetime import datetime

    from .storage import Store
    from .storage.rows import ClaimedAlert

log = logging.getLogger(__name__)

STORY = "story"
NEW_OUTLET = "new outlet"
#: a claim outlives the sending's timeout by this much, so a crash mid-send is retried later
CLAIM_MARGIN = 60.0


# --- deciding (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An item linked to the article, first seen in the cycle."""

    item_id: int
    outlet_id: int
    tier: str
    first_seen_at: str
    published_at: str | None = None

    @property
    def order(self) -> tuple[str, str, int]:
        """When the outlet reported it (its date, no later than first seen), then first seen."""
        reported = min(self.published_at or self.first_seen_at, self.first_seen_at)
        return reported, self.first_seen_at, self.item_id


def decide(candidates: Sequence[Candidate], outlets_before: set[int]) -> list[tuple[int, str]]:
    """(item id, reason) for each candidate worth an alert, in the order the outlets reported.

    ``outlets_before``: outlets with an item linked to the article before the cycle. A story
    tier item is alerted; so is the first item of an outlet not among them (only the first:
    an outlet picks up the story once)."""
    known = set(outlets_before)
    chosen = []
    for candidate in sorted(candidates, key=lambda c: c.order):
        reasons = [STORY] if candidate.tier == "story" else []
        if candidate.outlet_id not in known:
            known.add(candidate.outlet_id)
            reasons.append(NEW_OUTLET)
        if reasons:
            chosen.append((candidate.item_id, ", ".join(reasons)))
    return chosen


def compose(
    article_id: int, article: str, alerts: Sequence[ClaimedAlert], max_items: int
) -> tuple[str, str]:
    """The title and body of one message: up to ``max_items`` items, then how many more."""
    count = len(alerts)
    title = f"{count} new item{'' if count == 1 else 's'} on “{_clip(article, 80)}”"
    lines = []
    for alert in alerts[:max_items]:
        lines.append(f"[{alert.reason}] {alert.outlet}: {_clip(alert.title, 200)}")
        if alert.url:
            lines.append(f"  {alert.url}")
    if count > max_items:
        lines.append(
            f"… and {count - max_items} more: tracker coverage --article {article_id} "
            f"--limit {count}"
        )
    return title, "\n".join(lines)


def target_key(url: str) -> str:
    """How a target is known in the database: a hash of its URL, which may hold a secret."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def shown_target(url: str) -> str:
    """A target's URL with its secrets masked by Apprise and its options left out."""
    from apprise import Apprise

    plugin = Apprise.instantiate(url)
    return plugin.url(privacy=True).partition("?")[0] if plugin else url.partition("://")[0]


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One message to one target: a cycle's alerts for one article."""

    key: tuple[int, str]
    url: str
    title: str
    body: str


#: sends every delivery within the timeout (seconds); returns key → None (sent) or why not
Sender = Callable[[Sequence[Delivery], float], dict[tuple[int, str], str | None]]


def send(deliveries: Sequence[Delivery], timeout: float) -> dict[tuple[int, str], str | None]:
    """Send each delivery through Apprise in a thread of its own; wait at most ``timeout``.

    A delivery not done by then counts as failed (it is retried next cycle); its daemon thread
    is left to finish or die with the process, never to hold anything up."""
    results: dict[tuple[int, str], str | None] = {}
    deadline = time.monotonic() + timeout
    with _apprise_reasons() as reasons:
        threads = []
        for delivery in deliveries:
            thread = threading.Thread(
                target=_deliver,
                args=(delivery, timeout, results, reasons),
                name=f"alert-{delivery.key[1]}",
                daemon=True,
            )
            thread.start()
            threads.append((delivery, thread))
        for _, thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    late = f"no answer within {timeout:g}s (alerts.timeout)"
    return {d.key: results.get(d.key, late) for d, _ in threads}


def _deliver(
    delivery: Delivery,
    timeout: float,
    results: dict[tuple[int, str], str | None],
    reasons: _Reasons,
) -> None:
    from apprise import Apprise, NotifyFormat

    try:
        plugin = Apprise.instantiate(delivery.url)
        if plugin is None:
            results[delivery.key] = "Apprise cannot use this URL"
            return
        # each request within the overall timeout, however the URL sets its own
        plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, timeout)
        plugin.socket_read_timeout = min(plugin.socket_read_timeout, timeout)
        # the plugin's own notify runs in this thread, so its warnings say why it failed
        ok = plugin.notify(body=delivery.body, title=delivery.title, body_format=NotifyFormat.TEXT)
        why = reasons.of(threading.get_ident()) or "not delivered (Apprise gave no reason)"
        results[delivery.key] = None if ok else why
    except Exception as exc:  # a plugin's bug is this target's failure, not the cycle's
        results[delivery.key] = f"{type(exc).__name__}: {exc}"


class _Reasons(logging.Handler):
    """The last warning Apprise logged in each thread: why its delivery failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._by_thread: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread is not None:
            self._by_thread[record.thread] = record.getMessage()

    def of(self, thread: int) -> str | None:
        return self._by_thread.get(thread)


@contextmanager
def _apprise_reasons() -> Iterator[_Reasons]:
    logger = logging.getLogger("apprise")
    handler = _Reasons()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# --- after a cycle --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertReport:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    expired: int = 0


def run_alerts(
    store: Store,
    config: Config,
    clock: Clock,
    started_at: datetime | None,
    sender: Sender = send,
) -> AlertReport:
    """Queue the alerts of the cycle that started at ``started_at`` (None: queue nothing),
    then send every pending alert of a configured target, one message per article and target;
    record what became of them.

    Never raises: alerts must not break the cycle they follow. A failure (the database busy
    past its timeout, a bug) is logged; what was not sent is sent at the next cycle."""
    try:
        return _run_alerts(store, config, clock, started_at, sender)
    except TrackerError as exc:
        log.warning("alerts not sent after this cycle: %s; retried at the next cycle", exc)
    except Exception:
        log.exception("alerts not sent after this cycle (a bug); retried at the next cycle")
    return AlertReport()


def _run_alerts(
    store: Store,
    config: Config,
    clock: Clock,
    started_at: datetime | None,
    sender: Sender,
) -> AlertReport:
    targets = _targets(store, config)
    if not targets:
        return AlertReport()
    now = clock()
    queued = 0
    if started_at is not None:
        for article_id, article_targets in targets.items():
            queued += _queue(store, article_id, article_targets, started_at, now)
    urls = {(aid, key): url for aid, pairs in targets.items() for key, url in pairs}
    settings = config.alerts
    claimed, expired = store.claim_alerts(
        set(urls),
        now,
        hold_until=now + timedelta(seconds=settings.timeout + CLAIM_MARGIN),
        expire_before=now - timedelta(seconds=settings.retry_for),
    )
    for row in expired:
        log.warning(
            "%d alert%s of article %d to %s given up: undelivered for %s (last error: %s)",
            row.alerts,
            "" if row.alerts == 1 else "s",
            row.article_id,
            row.target_url,
            _duration(settings.retry_for),
            row.last_error or "none",
        )
    batches: dict[tuple[int, str], list[ClaimedAlert]] = {}
    for alert in claimed:
        batches.setdefault((alert.article_id, alert.target), []).append(alert)
    deliveries = [
        Delivery(key, urls[key], *compose(key[0], rows[0].article, rows, settings.max_items))
        for key, rows in batches.items()
    ]
    results = sender(deliveries, settings.timeout) if deliveries else {}
    sent: list[int] = []
    failed: list[tuple[int, str]] = []
    for key, rows in batches.items():
        why = results.get(key, "not sent")
        if why is None:
            sent.extend(alert.id for alert in rows)
            continue
        failed.extend((alert.id, why) for alert in rows)
        log.warning(
            "alert of %d item%s on article %d to %s failed (attempt %d): %s; retried at the "
            "next cycle",
            len(rows),
            "" if len(rows) == 1 else "s",
            key[0],
            rows[0].target_url,
            max(alert.attempts for alert in rows) + 1,
            why,
        )
    if sent or failed:
        store.record_alerts(sent, failed, clock())
    report = AlertReport(queued, len(sent), len(failed), sum(r.alerts for r in expired))
    if deliveries:
        log.info(
            "alerts: %d queued, %d sent, %d failed in %d message%s",
            report.queued,
            report.sent,
            report.failed,
            len(deliveries),
            "" if len(deliveries) == 1 else "s",
        )
    return report


def _targets(store: Store, config: Config) -> dict[int, list[tuple[str, str]]]:
    """article id → (target key, URL) of each target config.yaml gives the article."""
    if not any(source.alerts for source in config.articles):
        return {}
    targets = {}
    for article in store.articles():
        source = config.article_source(article.location)
        if source is not None and source.alerts:
            targets[article.id] = [(target_key(url), url) for url in source.alerts]
    return targets


def _queue(
    store: Store,
    article_id: int,
    targets: Sequence[tuple[str, str]],
    started_at: datetime,
    now: datetime,
) -> int:
    rows = store.alert_candidates(article_id, started_at)
    if not rows:
        return 0
    candidates = [
        Candidate(r.item_id, r.outlet_id, r.tier, r.first_seen_at, r.published_at) for r in rows
    ]
    chosen = decide(candidates, store.outlets_linked_before(article_id, started_at))
    if not chosen:
        return 0
    shown = [(key, shown_target(url)) for key, url in targets]
    return store.queue_alerts(article_id, chosen, shown, now)


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g}d"
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}min"
