"""Views the library builds from what the store reads, with no I/O of their own: coverage one
line per story (``tracker coverage --stories``, ``Tracker.story_coverage``)."""

from __future__ import annotations

from collections.abc import Sequence

from .models import CoverageRow, StoryRow


def stories(rows: Sequence[CoverageRow], limit: int | None = None) -> list[StoryRow]:
    """Coverage rows (latest reported first, as ``Store.coverage`` orders them) one per story,
    latest first: the outlet that reported it first (as in the digest and first_reports),
    every outlet in the order it reported, the best tier and score. ``limit`` of None or 0
    keeps every story."""
    grouped: dict[tuple[int, int | None], list[CoverageRow]] = {}
    for row in reversed(rows):  # first reported first
        grouped.setdefault((row.article_id, row.story_id), []).append(row)
    # stories in the order of their first reports, latest first
    latest = [_story(members) for members in reversed(grouped.values())]
    return latest[:limit] if limit else latest


def _story(members: Sequence[CoverageRow]) -> StoryRow:
    """One story from its rows, first reported first."""
    first = members[0]
    return StoryRow(
        article_id=first.article_id,
        story_id=first.story_id,
        item_id=first.item_id,
        first_reported_at=first.reported_at,
        first_seen_at=min(m.first_seen_at for m in members),
        first_outlet=first.outlet,
        title=first.title,
        url=first.url,
        outlets=tuple(dict.fromkeys(m.outlet for m in members)),
        items=len(members),
        tier="story" if any(m.tier == "story" for m in members) else "related",
        score=max(0.0, *(m.score for m in members)),
        reasons=first.reasons,
    )
