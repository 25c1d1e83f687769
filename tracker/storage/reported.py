"""Two rules every output shares, as SQL: when an outlet reported an item and who reported first,
and which local day an item counts on.

- **Reported** is the outlet's published time from its feed, kept no later than first-seen (a
  date in the future, or a later edit's date, cannot make an outlet look late), or first-seen
  when the feed gave no date.
- **Who reported first** is the order by reported time, then first-seen, then the outlet's name,
  the item's link, its title and finally its id. Items found by one poll share their first-seen
  time to the second, so without the name and the link the order would be the order in which
  the poll's workers happened to store them, and change from one run to the next.
- **A day's count** takes each item on the local day (the configured ``timezone``) on which the
  tracker first saw it. So every item is counted once, on a day that has ended by the time its
  digest is written, and a day's figures never move afterwards.

``rows.StoryReportRow.order`` is the same order in Python, for rows read in pieces. The query
views of the schema carry their own frozen copies of these expressions (a released
migration is never edited); ``tests/test_query.py`` checks the views and these agree.
"""

from __future__ import annotations

#: an item's reported time; needs ``items`` in the query
REPORTED_AT = "min(coalesce(items.published_at, items.first_seen_at), items.first_seen_at)"

_ORDER_TERMS = (
    REPORTED_AT,
    "items.first_seen_at",
    "outlets.name",
    "coalesce(items.canonical_url, items.url, '')",
    "items.title",
    "items.id",
)
#: who reported first, earliest first; needs ``items`` and ``outlets`` (the item's outlet)
REPORT_ORDER = ", ".join(_ORDER_TERMS)
#: the same order, latest first
REPORT_ORDER_DESC = ", ".join(f"{term} DESC" for term in _ORDER_TERMS)


#: the rule of a day's count, in words, for outputs that print it
DAY_RULE = "first seen"


def local_day(stamp: str) -> str:
    """SQL for the local date of a stored UTC time (``stamp`` is a column or expression),
    through timezone_spans: one index seek per row, right on both sides of a DST change."""
    return (
        f"date({stamp}, (SELECT offset_minutes FROM timezone_spans WHERE starts_at <= {stamp} "
        "ORDER BY starts_at DESC LIMIT 1) || ' minutes')"
    )
