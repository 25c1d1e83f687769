"""The query views' SQL as the migrations of ``schema`` released it (coverage, daily_coverage,
first_reports, feed_health …), and the open ends of ``timezone_spans``.

Released SQL is never edited: a later migration replaces a view with a new copy. The views carry
their own frozen copies of ``storage.reported``'s expressions; ``tests/test_query.py`` checks
that the views and those expressions agree.
"""

from __future__ import annotations

#: the open ends of timezone_spans: every stored timestamp falls inside one span
SPANS_START = "0001-01-01T00:00:00Z"
SPANS_END = "9999-12-31T23:59:59Z"

#: when an item was reported: the outlet's published time, or first-seen when the feed gave none
_M4_REPORTED_AT = "coalesce(items.published_at, items.first_seen_at)"

#: the views of migration 4, as released: never edit; a later migration replaces a view
QUERY_VIEWS = {
    "coverage": """
SELECT
  article_items.article_id,
  articles.title AS article,
  items.id AS item_id,
  items.story_id,
  stories.title AS story,
  items.outlet_id,
  outlets.name AS outlet,
  items.first_seen_at,
  items.published_at,
  items.title,
  items.url,
  article_items.score,
  article_items.tier,
  article_items.reasons,
  article_items.linked_at,
  items.summary
FROM article_items
JOIN articles ON articles.id = article_items.article_id
JOIN items ON items.id = article_items.item_id
JOIN outlets ON outlets.id = items.outlet_id
LEFT JOIN stories ON stories.id = items.story_id
""",
    "daily_coverage": f"""
SELECT
  article_id,
  day,
  outlet_id,
  outlets.name AS outlet,
  count(*) AS items,
  sum(tier = 'story') AS story_items,
  min(reported_at) AS first_reported_at,
  (SELECT timezone FROM timezone_spans LIMIT 1) AS timezone
FROM (
  SELECT
    article_items.article_id,
    article_items.tier,
    items.outlet_id,
    {_M4_REPORTED_AT} AS reported_at,
    date(
      {_M4_REPORTED_AT},
      (
        SELECT offset_minutes FROM timezone_spans
        WHERE starts_at <= {_M4_REPORTED_AT} ORDER BY starts_at DESC LIMIT 1
      ) || ' minutes'
    ) AS day
  FROM article_items
  JOIN items ON items.id = article_items.item_id
)
JOIN outlets ON outlets.id = outlet_id
GROUP BY article_id, day, outlet_id
""",
    "first_reports": f"""
WITH per_outlet AS (
  SELECT
    article_items.article_id,
    items.story_id,
    items.outlet_id,
    outlets.name AS outlet,
    min({_M4_REPORTED_AT}) AS reported_at,
    min(items.first_seen_at) AS first_seen_at,
    count(*) AS items
  FROM article_items
  JOIN items ON items.id = article_items.item_id
  JOIN outlets ON outlets.id = items.outlet_id
  GROUP BY article_items.article_id, items.story_id, items.outlet_id
),
placed AS (
  SELECT
    per_outlet.*,
    row_number() OVER by_time AS place,
    -- whole minutes, exact: integer seconds since the epoch, divided as integers
    (strftime('%s', reported_at) - strftime('%s', first_value(reported_at) OVER by_time)) / 60
      AS minutes_behind
  FROM per_outlet
  WINDOW by_time AS (
    PARTITION BY article_id, story_id ORDER BY reported_at, first_seen_at, outlet_id
  )
),
summed AS (
  SELECT
    placed.*,
    lead(outlet) OVER later AS next_outlet,
    lead(minutes_behind) OVER later AS lead_minutes,
    json_group_array(json_object('outlet', outlet, 'minutes_behind', minutes_behind))
      OVER (later ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS followers,
    count(*) OVER story AS outlets,
    sum(items) OVER story AS story_items,
    max(minutes_behind) OVER story AS spread_minutes,
    min(first_seen_at) OVER story AS story_first_seen_at
  FROM placed
  WINDOW
    later AS (PARTITION BY article_id, story_id ORDER BY place),
    story AS (PARTITION BY article_id, story_id)
)
-- window functions instead of a GROUP BY: a WHERE on article_id then reaches article_items' index
SELECT
  summed.article_id,
  summed.story_id,
  stories.title AS story,
  summed.outlet_id AS first_outlet_id,
  summed.outlet AS first_outlet,
  summed.reported_at AS first_reported_at,
  summed.story_first_seen_at AS first_seen_at,
  summed.outlets,
  summed.story_items AS items,
  summed.next_outlet,
  summed.lead_minutes,
  summed.spread_minutes,
  summed.followers
FROM summed
LEFT JOIN stories ON stories.id = summed.story_id
WHERE summed.place = 1
""",
    "feed_health": """
SELECT
  feeds.id AS feed_id,
  outlets.name AS outlet,
  feeds.url,
  CASE
    WHEN NOT feeds.enabled THEN 'disabled'
    WHEN feeds.last_fetch_at IS NULL THEN 'never polled'
    WHEN feeds.last_result = 'error' THEN 'failing'
    ELSE 'ok'
  END AS status,
  feeds.enabled,
  feeds.disabled_reason,
  feeds.last_success_at,
  feeds.last_fetch_at,
  feeds.last_result,
  feeds.consecutive_errors,
  feeds.last_error,
  feeds.next_poll_at,
  (
    SELECT count(*) FROM sightings WHERE sightings.feed_id = feeds.id
    AND sightings.first_seen_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')
  ) AS items_24h,
  (
    SELECT count(*) FROM sightings WHERE sightings.feed_id = feeds.id
    AND sightings.first_seen_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')
  ) AS items_7d,
  (
    SELECT count(*) FROM fetches WHERE fetches.feed_id = feeds.id AND fetches.result = 'error'
    AND fetches.started_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')
  ) AS errors_24h
FROM feeds
JOIN outlets ON outlets.id = feeds.outlet_id
""",
}


#: as released with migration 12: never edit (a copy of storage.reported's expressions)
_M7_REPORTED_AT = "min(coalesce(items.published_at, items.first_seen_at), items.first_seen_at)"
_M7_LINK = "coalesce(items.canonical_url, items.url, '')"

#: the views migration 12 replaces, as released: never edit; a later migration replaces a view
QUERY_VIEWS_7 = {
    "coverage": f"""
SELECT
  article_items.article_id,
  articles.title AS article,
  items.id AS item_id,
  items.story_id,
  stories.title AS story,
  items.outlet_id,
  outlets.name AS outlet,
  items.first_seen_at,
  items.published_at,
  items.title,
  items.url,
  article_items.score,
  article_items.tier,
  article_items.reasons,
  article_items.linked_at,
  items.summary,
  {_M7_REPORTED_AT} AS reported_at
FROM article_items
JOIN articles ON articles.id = article_items.article_id
JOIN items ON items.id = article_items.item_id
JOIN outlets ON outlets.id = items.outlet_id
LEFT JOIN stories ON stories.id = items.story_id
""",
    "daily_coverage": f"""
SELECT
  article_id,
  day,
  outlet_id,
  outlets.name AS outlet,
  count(*) AS items,
  sum(tier = 'story') AS story_items,
  min(reported_at) AS first_reported_at,
  min(first_seen_at) AS first_seen_at,
  (SELECT timezone FROM timezone_spans LIMIT 1) AS timezone,
  'first seen' AS day_rule
FROM (
  SELECT
    article_items.article_id,
    article_items.tier,
    items.outlet_id,
    items.first_seen_at,
    {_M7_REPORTED_AT} AS reported_at,
    date(
      items.first_seen_at,
      (
        SELECT offset_minutes FROM timezone_spans
        WHERE starts_at <= items.first_seen_at ORDER BY starts_at DESC LIMIT 1
      ) || ' minutes'
    ) AS day
  FROM article_items
  JOIN items ON items.id = article_items.item_id
)
JOIN outlets ON outlets.id = outlet_id
GROUP BY article_id, day, outlet_id
""",
    "first_reports": f"""
WITH linked AS (
  SELECT
    article_items.article_id,
    items.story_id,
    items.outlet_id,
    outlets.name AS outlet,
    {_M7_REPORTED_AT} AS reported_at,
    items.first_seen_at,
    -- each outlet's first item: the same order as between outlets, then its link, title and id
    row_number() OVER (
      PARTITION BY article_items.article_id, items.story_id, items.outlet_id
      ORDER BY {_M7_REPORTED_AT}, items.first_seen_at, {_M7_LINK}, items.title, items.id
    ) AS nth,
    count(*) OVER outlet_items AS items,
    min(items.first_seen_at) OVER outlet_items AS outlet_first_seen_at
  FROM article_items
  JOIN items ON items.id = article_items.item_id
  JOIN outlets ON outlets.id = items.outlet_id
  WINDOW outlet_items AS (PARTITION BY article_items.article_id, items.story_id, items.outlet_id)
),
placed AS (
  SELECT
    linked.*,
    row_number() OVER by_time AS place,
    -- whole minutes, exact: integer seconds since the epoch, divided as integers
    (strftime('%s', reported_at) - strftime('%s', first_value(reported_at) OVER by_time)) / 60
      AS minutes_behind
  FROM linked
  WHERE nth = 1
  WINDOW by_time AS (
    PARTITION BY article_id, story_id ORDER BY reported_at, first_seen_at, outlet
  )
),
summed AS (
  SELECT
    placed.*,
    lead(outlet) OVER later AS next_outlet,
    lead(minutes_behind) OVER later AS lead_minutes,
    json_group_array(json_object('outlet', outlet, 'minutes_behind', minutes_behind))
      OVER (later ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS followers,
    count(*) OVER story AS outlets,
    sum(items) OVER story AS story_items,
    max(minutes_behind) OVER story AS spread_minutes,
    min(outlet_first_seen_at) OVER story AS story_first_seen_at
  FROM placed
  WINDOW
    later AS (PARTITION BY article_id, story_id ORDER BY place),
    story AS (PARTITION BY article_id, story_id)
)
-- window functions instead of a GROUP BY: a WHERE on article_id then reaches article_items' index
SELECT
  summed.article_id,
  summed.story_id,
  stories.title AS story,
  summed.outlet_id AS first_outlet_id,
  summed.outlet AS first_outlet,
  summed.reported_at AS first_reported_at,
  summed.story_first_seen_at AS first_seen_at,
  summed.outlets,
  summed.story_items AS items,
  summed.next_outlet,
  summed.lead_minutes,
  summed.spread_minutes,
  summed.followers
FROM summed
LEFT JOIN stories ON stories.id = summed.story_id
WHERE summed.place = 1
""",
}


#: the views migration 13 replaces, as released: never edit; a later migration replaces a view
QUERY_VIEWS_13 = {
    "coverage": f"""
SELECT
  article_items.article_id,
  articles.title AS article,
  items.id AS item_id,
  items.story_id,
  stories.title AS story,
  items.outlet_id,
  outlets.name AS outlet,
  items.first_seen_at,
  items.published_at,
  items.title,
  items.url,
  article_items.score,
  article_items.tier,
  article_items.reasons,
  article_items.linked_at,
  items.summary,
  {_M7_REPORTED_AT} AS reported_at,
  judgements.label AS judgement,
  judgements.note AS judgement_note
FROM article_items
JOIN articles ON articles.id = article_items.article_id
JOIN items ON items.id = article_items.item_id
JOIN outlets ON outlets.id = items.outlet_id
LEFT JOIN stories ON stories.id = items.story_id
LEFT JOIN judgements ON judgements.article_id = article_items.article_id
  AND judgements.item_id = article_items.item_id
""",
}
