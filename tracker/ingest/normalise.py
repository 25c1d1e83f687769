"""ParsedItem → CleanItem: text and safe HTML, canonical URL, sane UTC dates, identity keys."""

from __future__ import annotations

from datetime import UTC, datetime

from ..models import CleanItem, ParsedItem
from .clean import canonical_url, html_to_text, item_link, safe_html
from .identity import content_hash, identity_keys

#: dates before this are placeholders (a zero Unix time, "0001-01-01"), not real publication dates
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
MAX_TITLE = 1_000
MAX_SUMMARY = 20_000


def normalise_item(item: ParsedItem, outlet_id: int, now: datetime) -> CleanItem:
    summary = html_to_text(item.summary_html)[:MAX_SUMMARY]
    title = (item.title or summary[:120] or item.link or "(untitled)")[:MAX_TITLE]
    canonical = canonical_url(item.link)
    return CleanItem(
        guid=item.guid,
        url=item_link(item.link) if canonical else None,
        canonical_url=canonical,
        title=title,
        summary=summary,
        summary_html=safe_html(item.summary_html[: MAX_SUMMARY * 4]),
        author=item.author,
        published_at=plausible_date(item.published or item.updated, now),
        content_hash=content_hash(title, summary),
        keys=identity_keys(item.guid, canonical, title, summary, outlet_id, item.link),
    )


def plausible_date(value: datetime | None, now: datetime) -> datetime | None:
    """A date in the future is clamped to first-seen; a placeholder date is dropped."""
    if value is None or value < EARLIEST_PLAUSIBLE:
        return None
    return min(value, now)
