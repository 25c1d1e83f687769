"""The daily digest: golden files from the real archive, what a reader relies on, hostile input
coming out inert, a valid Atom feed, atomic writes, local day boundaries, and the command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
import pytest
from click.testing import CliRunner
from lxml import etree
from markdown_it import MarkdownIt

from tracker.app import Tracker
from tracker.cli import cli
from tracker.config import parse_config
from tracker.demo.localserver import FeedServer, send_status
from tracker.digest.build import atom_days, day_window
from tracker.errors import ConfigError, DigestError, OutputError
from tracker.models import ManualClock

from .conftest import DATA, REPLAY, write_config
from .digest_expected import ATOM_DAYS, EXPECTED, GOLDEN_DAYS, build, golden_files, writing_to

LONDON = ZoneInfo("Europe/London")
DAY = date(2025, 8, 19)
QUIET_DAY = date(2025, 8, 26)
HOSTILE = (EXPECTED / "hostile-handmade.xml").read_bytes()
GUARDIAN_19 = (REPLAY / "guardian-world-20250819.xml").read_bytes()


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracker]:
    t = build(tmp_path_factory.mktemp("golden"))
    yield t
    t.close()


@pytest.fixture(scope="module")
def golden_output(golden: Tracker) -> dict[str, str]:
    return golden_files(golden)


# --- reading the output the way a reader's software does ----------------------------------------


def markdown_to_html(text: str) -> str:
    """CommonMark with raw HTML allowed (as most viewers do) plus GitHub's tables."""
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)


def sections(html: str) -> dict[str, lxml.html.HtmlElement]:
    """h3 heading text (without its count) -> the list that follows it."""
    doc = lxml.html.fromstring(html)
    found = {}
    for h3 in doc.iter("h3"):
        name = h3.text_content().split("(")[0].strip().lower()
        following = h3.getnext()
        while following is not None and following.tag not in ("ul", "ol", "h3", "h2"):
            following = following.getnext()
        if following is not None and following.tag in ("ul", "ol"):
            found[name] = following
    return found


def story_titles(html: str, section: str) -> list[str]:
    """Titles of a section's stories in order: the first link (or title) of each entry."""
    listing = sections(html).get(section)
    if listing is None:
        return []
    titles = []
    for entry in listing.findall("li"):
        link = entry.find(".//a")
        titles.append(_words((link if link is not None else entry).text_content()))
    return titles


def all_titles(html: str, section: str) -> list[str]:
    """Every linked title of a section, story leads and the items listed under them."""
    listing = sections(html).get(section)
    return [] if listing is None else [_words(a.text_content()) for a in listing.iter("a")]


def _words(text: str) -> str:
    return " ".join(text.split())


def assert_inert(html: str, *, charts: int = 0) -> lxml.html.HtmlElement:
    """No script, no event handler, no embedded resource, links only to http(s)."""
    doc = lxml.html.fromstring(html)
    banned = {"script", "iframe", "object", "embed", "img", "link", "form", "base", "style"}
    svgs = 0
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        assert tag not in banned or (tag == "style" and el.getparent().tag == "head"), tag
        svgs += tag == "svg"
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (tag, name, value)
            assert name.lower() not in ("src", "srcdoc", "action", "formaction", "xlink:href")
            if name.lower() == "href":
                assert value.startswith(("https://", "http://")), value
    assert svgs == charts
    assert "javascript:" not in " ".join(a for el in doc.iter() for a in el.attrib.values())
    return doc


def linked_items_of(t: Tracker, day: date, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Linked items first seen on a local day, in the order they were reported (published,
    never later than first seen; then first seen, outlet, link, title, id), computed here
    without the digest's code."""
    rows = list(
        t.store.db.query(
            "SELECT items.id, items.title, article_items.tier, outlets.name AS outlet, "
            "items.first_seen_at, items.published_at, items.story_id, "
            "coalesce(items.canonical_url, items.url, '') AS link FROM article_items "
            "JOIN items ON items.id = article_items.item_id "
            "JOIN outlets ON outlets.id = items.outlet_id"
        )
    )
    for r in rows:
        r["reported_at"] = min(r["published_at"] or r["first_seen_at"], r["first_seen_at"])
    rows.sort(
        key=lambda r: (
            r["reported_at"],
            r["first_seen_at"],
            r["outlet"],
            r["link"],
            r["title"],
            r["id"],
        )
    )
    return [
        r for r in rows if datetime.fromisoformat(r["first_seen_at"]).astimezone(tz).date() == day
    ]


# --- golden files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", [f"{d}.{ext}" for d in GOLDEN_DAYS for ext in ("md", "html")] + ["digests.atom"]
)
def test_digest_matches_the_reviewed_golden_file(golden_output: dict[str, str], name: str) -> None:
    expected = (EXPECTED / name).read_bytes().decode("utf-8")
    assert golden_output[name] == expected, (
        f"{name} differs from tests/data/digest/{name}; after a deliberate change run "
        "'python tests/digest_expected.py' and review the diff"
    )


def test_golden_atom_covers_the_days_written(golden_output: dict[str, str]) -> None:
    feed = feedparser.parse(golden_output["digests.atom"].encode("utf-8"))
    assert [e.link for e in feed.entries] == [f"{d}.html" for d in sorted(ATOM_DAYS)[::-1]]


# --- what a reader relies on ---------------------------------------------------------------------


@pytest.mark.parametrize("day", [DAY, date(2025, 8, 18), date(2025, 8, 21)])
def test_every_item_of_the_local_day_is_listed_once_same_story_first(
    golden: Tracker, day: date
) -> None:
    expected = linked_items_of(golden, day, LONDON)
    assert expected, "the archive has coverage on these days"
    out = golden.digest(day, formats=("md", "html"), write=False)
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in expected:  # reported order: the first member leads its story
        groups.setdefault(row["story_id"], []).append(row)
    tier = {
        sid: "story" if any(r["tier"] == "story" for r in g) else "related"
        for sid, g in groups.items()
    }
    leads = [g[0] for g in groups.values()]
    for html in (markdown_to_html(out.texts["md"]), out.texts["html"]):
        story = story_titles(html, "same story")
        related = story_titles(html, "related coverage")
        assert story == [_words(r["title"]) for r in leads if tier[r["story_id"]] == "story"]
        assert related == [_words(r["title"]) for r in leads if tier[r["story_id"]] == "related"]
        listed = lxml.html.fromstring(html).text_content()
        assert all(_words(r["title"]) in _words(listed) for r in expected)
        text = lxml.html.fromstring(html).text_content()
        assert text.index("Same story") < text.index("Related coverage")


def test_headline_figures_agree_with_the_database(golden: Tracker) -> None:
    expected = linked_items_of(golden, DAY, LONDON)
    outlets = list(dict.fromkeys(r["outlet"] for r in expected))
    cited = golden.article(1).cited_outlets
    md = golden.digest(DAY, formats=("md",), write=False).texts["md"]
    stories = sum(r["tier"] == "story" for r in expected)
    assert (
        f"**{len(expected)} new items** ({stories} same story, {len(expected) - stories} "
        f"related) from **{len(outlets)} outlets**: {', '.join(outlets)}."
    ) in md
    # Euronews' only feed was disabled (410 Gone) on 18 August: not polled, so not "silent"
    enabled = {
        r["outlet"]
        for r in golden.store.db.query(
            "SELECT outlets.name AS outlet FROM feeds JOIN outlets ON outlets.id = feeds.outlet_id "
            "WHERE feeds.enabled"
        )
    }
    silent = [o for o in cited if o not in outlets and o in enabled]
    unpolled = [o for o in cited if o not in outlets and o not in enabled]
    assert (silent, unpolled) == (["DW"], ["Euronews"])
    # a past day: "that day", not "today"
    assert f"- Cited outlets silent that day: {', '.join(silent)}\n" in md
    assert f"- Cited outlets not polled (no enabled feed): {', '.join(unpolled)}\n" in md
    first = next(r for r in expected if r["tier"] == "story")
    assert f"- First that day: {first['outlet']} at " in md
    html = golden.digest(DAY, formats=("html",), write=False).texts["html"]
    assert f"<li>Outlets that day: {', '.join(outlets)}</li>" in html
    assert " today" not in md and "today:" not in html


def test_the_day_in_progress_is_today_in_the_digest(golden: Tracker) -> None:
    saved = golden.clock
    golden.clock = ManualClock(datetime(2025, 8, 19, 20, tzinfo=UTC))
    try:
        md = golden.digest(DAY, formats=("md",), write=False).texts["md"]
    finally:
        golden.clock = saved
    assert "Day in progress: as of 21:00" in md
    assert "- Cited outlets silent today: " in md and "- First today: " in md
    assert "that day" not in md


def test_an_empty_day_still_gets_a_digest_that_says_so(golden: Tracker) -> None:
    assert linked_items_of(golden, QUIET_DAY, LONDON) == []
    out = golden.digest(QUIET_DAY, formats=("md", "html"), write=False)
    for html in (markdown_to_html(out.texts["md"]), out.texts["html"]):
        text = " ".join(lxml.html.fromstring(html).text_content().split())
        assert (
            "No new coverage: no item linked to this article was first seen on Tuesday 26 August"
            in text
        )
        assert "Same story" not in text
        assert "Coverage timeline" in text and "Feed health" in text


def test_times_are_local_and_items_listed_at_their_published_time(golden: Tracker) -> None:
    # Bloomberg's "US and Europe to Work Immediately on Ukraine Security Guarantees": first seen
    # 08:26 UTC, published 07:40 UTC: 09:26 and 08:40 in London (BST) on 19 August. Listed at
    # the time its outlet published it, which decides who reported first
    md = golden.digest(DAY, formats=("md",), write=False).texts["md"]
    line = next(i for i, s in enumerate(md.splitlines()) if "Work Immediately on Ukraine" in s)
    block = md.splitlines()[line : line + 3]
    assert block[0].startswith("- **08:40 · Bloomberg**")
    assert "first seen 09:26" in block[2]


def test_timeline_counts_items_per_outlet_per_local_day(golden: Tracker) -> None:
    html = golden.digest(DAY, formats=("md",), write=False).texts["md"]
    table = lxml.html.fromstring(markdown_to_html(html)).find(".//table")
    header = [c.text_content() for c in table.find(".//thead/tr")]
    assert header[0] == "Outlet" and header[-1] == "Total" and len(header) == 16
    assert header[1:-1] == [str((DAY - timedelta(days=13 - n)).day) for n in range(14)]
    rows = {
        r[0].text_content(): [c.text_content() for c in r[1:]] for r in table.findall(".//tbody/tr")
    }
    for outlet in ("The Guardian", "Bloomberg", "Le Monde"):
        per_day = [
            sum(
                r["outlet"] == outlet
                for r in linked_items_of(golden, DAY - timedelta(days=n), LONDON)
            )
            for n in range(13, -1, -1)
        ]
        assert rows[outlet][:-1] == [str(n) if n else "·" for n in per_day]
        assert rows[outlet][-1] == str(sum(per_day))


def test_feed_health_names_failing_disabled_and_silent_feeds(golden: Tracker) -> None:
    def health(day: date) -> list[str]:
        md = golden.digest(day, formats=("md",), write=False).texts["md"]
        return [
            line for line in md.split("## Feed health")[1].splitlines() if line.startswith("- **")
        ]

    on_the_day = health(DAY)
    assert any(
        line.startswith("- **failing** · DW")
        and "4 failed fetches in a row since 05:00" in line
        and "timeout" in line
        for line in on_the_day
    )
    assert any(
        line.startswith("- **disabled** · Euronews") and "410" in line for line in on_the_day
    )
    assert any(line.startswith("- **silent** · DW") for line in on_the_day)
    assert not any("The Guardian" in line or "Bloomberg" in line for line in on_the_day)
    # the next day the DW feed answers again: no longer failing
    assert not any(line.startswith("- **failing**") for line in health(date(2025, 8, 20)))


def test_changed_items_show_their_wording_before_and_after(golden: Tracker) -> None:
    md = golden.digest(DAY, formats=("md",), write=False).texts["md"]
    changed = md.split("### Changed since first seen")[1].split("###")[0]
    assert "[What security guarantees could Ukraine get in return for a peace deal?]" in changed
    assert "title was: What security guarantees might Ukraine get in return" in changed
    assert "summary was: Officials say UK not prepared to deploy troops" in changed
    assert "- Changed since first seen: 2 items" in md
    # the day before, nothing had changed yet
    assert (
        "### Changed since first seen"
        not in golden.digest(date(2025, 8, 18), formats=("md",), write=False).texts["md"]
    )


def test_a_story_in_two_feeds_is_shown_once_with_also_in(golden: Tracker) -> None:
    out = golden.digest(DAY, formats=("md",), write=False)
    md = out.texts["md"]
    title = "Europe races to firm up Ukraine security guarantees as Trump backs troop plan"
    assert md.count(f"[{title}]") == 1
    # the search feed's copy is not listed again, nor in "also in", which names other outlets
    # only (issue 17: a Bloomberg item was "also in: Bloomberg · Bloomberg Politics")
    (group,) = [g for g in out.digest.articles[0].stories if any(i.title == title for i in g.items)]
    assert "Reuters" in {i.outlet for i in group.items}
    assert [a.outlet for a in group.also_in] == ["Financial Times"]
    entry = md.split(f"[{title}]")[0].rsplit("\n- **", 1)[1] + md.split(f"[{title}]")[1]
    also = next(s for s in entry.splitlines() if s.startswith("  - also in: "))
    assert also == "  - also in: Financial Times (18 Aug 22:27)"
    groups = [*out.digest.articles[0].stories, *out.digest.articles[0].related]
    assert sum(bool(g.also_in) for g in groups) >= 2
    for g in groups:
        assert not {a.outlet for a in g.also_in} & {i.outlet for i in g.items}


def test_items_seen_in_another_outlets_feed_are_also_in_that_outlet(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN_19)]})
    t.poll(all_feeds=True)
    clock.set(clock() + timedelta(hours=1))
    t.add_feed(server.add("/s.xml", GUARDIAN_19), "Syndicator")
    t.poll(all_feeds=True)
    md = t.digest(DAY, formats=("md",), write=False).texts["md"]
    stories = {r.story_id for r in t.coverage()}
    also = [s for s in md.splitlines() if s.startswith("  - also in: ")]
    assert len(also) == len(stories)
    assert all("Syndicator (13:00)" in s for s in also)
    assert "from **1 outlet**: The Guardian." in md  # the copies are not new items


def test_each_tracked_article_gets_its_own_section(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN_19)]})
    other = t.add_article(str(DATA / "pages" / "telegraph-zimbabwe-mugabe-20171116.html"))
    t.poll(all_feeds=True)
    md = t.digest(DAY, formats=("md",), write=False).texts["md"]
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads[0].startswith("## The Shifting Sands of Support")
    assert heads[1] == f"## {other.draft.title}" or heads[1].startswith(f"## [{other.draft.title}]")
    assert heads[2:] == ["## Feed health"]
    second = md.split(heads[1])[1].split("## Feed health")[0]
    linked = [r for r in t.coverage() if r.article_id == other.article_id]
    assert ("No new coverage" in second) == (not linked)


def test_a_past_day_shows_the_wording_it_ended_with(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    first = "What security guarantees might Ukraine get in return for a peace deal?"
    second = "What security guarantees could Ukraine get in return for a peace deal?"
    third = "What security guarantees can Ukraine expect in return for a peace deal?"
    url = server.add("/g.xml", GUARDIAN_19)
    t = make_tracker({"The Guardian": [url]})
    t.poll(all_feeds=True)
    for when, title in ((timedelta(hours=3), second), (timedelta(days=1), third)):
        clock.set(clock() + when)
        server.add("/g.xml", GUARDIAN_19.replace(first.encode(), title.encode()))
        t.poll(all_feeds=True)
    day1 = t.digest(DAY, formats=("md",), write=False).texts["md"]
    day2 = t.digest(DAY + timedelta(days=1), formats=("md",), write=False).texts["md"]
    assert f"[{second}]" in day1.split("### Changed")[1] and f"title was: {first}" in day1
    assert f"[{third}]" in day2.split("### Changed")[1] and f"title was: {second}" in day2


def test_feed_health_from_real_fetches(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    feeds = {
        "The Guardian": [server.add("/g.xml", GUARDIAN_19)],
        "Bloomberg": [
            server.add("/b.xml", (REPLAY / "bloomberg-politics-20250819.xml").read_bytes())
        ],
        "Broken": [server.add("/broken", lambda h: send_status(h, 500))],
        "Gone": [server.add("/gone", lambda h: send_status(h, 410))],
    }
    t = make_tracker(feeds, extra="digest:\n  keep: 5\n")
    for hours in (0, 30, 60):
        clock.set(datetime(2025, 8, 19, 12, tzinfo=UTC) + timedelta(hours=hours))
        if hours == 60:  # The Guardian publishes again; Bloomberg's feed stays the same
            server.add("/g.xml", (REPLAY / "guardian-world-20250821.xml").read_bytes())
        t.poll(all_feeds=True)
    md = t.digest(formats=("md",), write=False).texts["md"]
    health = md.split("## Feed health")[1].split("---")[0]
    assert "**failing** · Broken: 3 failed fetches in a row since 19 Aug 12:00" in health
    assert "last error: http-status: HTTP 500" in health
    assert "**disabled** · Gone: HTTP 410 Gone" in health
    assert "**silent** · Bloomberg" in health and "no new items since 19 Aug 12:00" in health
    assert "The Guardian" not in health
    assert "Day in progress: as of 00:00. Times are UTC;" in md


# --- hostile input -----------------------------------------------------------------------------


RAW_TITLE = (
    '<script>alert("t")</script> [injected](javascript:alert(1)) **bold** <svg onload=alert(2)> '
    "<img src=x onerror=alert(3)> | a | b | `tick` &amp; &#60;b&#62; \x00\x0b ]]> Ukraine troops"
)
RAW_URL = "javascript:alert(document.domain)//https://example.com/"


@pytest.fixture
def hostile(server: FeedServer, make_tracker, clock: ManualClock) -> Tracker:
    """Hostile items through the pipeline, then a row edited to hold raw hostile values."""
    t = make_tracker({"Hostile <b>outlet</b> | x": [server.add("/h.xml", HOSTILE)]})
    t.poll(all_feeds=True)
    db = t.store.db
    assert db.execute("SELECT count(*) FROM article_items").fetchone()[0] == 3
    item = db.execute("SELECT min(item_id) FROM article_items").fetchone()[0]
    db.execute(
        "UPDATE items SET title = ?, summary = ?, url = ?, canonical_url = ? WHERE id = ?",
        (RAW_TITLE, RAW_TITLE, RAW_URL, RAW_URL, item),
    )
    db.execute(
        "UPDATE feeds SET title = ?, last_result = 'error'", ('<script>alert("feed")</script>',)
    )
    clock.set(clock() + timedelta(minutes=1))
    db.execute(
        "INSERT INTO fetches (feed_id, url, started_at, result, error_kind, error_message) "
        "VALUES (1, 'x', ?, 'error', 'parse', ?)",
        (clock().strftime("%Y-%m-%dT%H:%M:%SZ"), "<iframe src=javascript:alert(4)>"),
    )
    clock.set(clock() + timedelta(minutes=1))
    return t


def test_hostile_titles_summaries_and_links_are_inert_in_html(hostile: Tracker) -> None:
    html = hostile.digest(DAY, formats=("html",), write=False).texts["html"]
    doc = assert_inert(html, charts=1)
    text = doc.text_content()
    assert '<script>alert("t")</script> [injected](javascript:alert(1)) **bold**' in text
    assert "<iframe src=javascript:alert(4)>" in text
    assert "\x00" not in html and "\x0b" not in html
    # the title whose link is javascript: is shown without a link
    links = {a.text_content() for a in doc.iter("a")}
    assert not any("injected" in link for link in links)


def test_hostile_titles_are_inert_in_markdown(hostile: Tracker) -> None:
    md = hostile.digest(DAY, formats=("md",), write=False).texts["md"]
    html = markdown_to_html(md)
    doc = assert_inert(html)
    text = doc.text_content()
    assert '<script>alert("t")</script> [injected](javascript:alert(1)) **bold**' in text
    assert "&amp; &#60;b&#62;" in text  # entities shown as written, not decoded
    assert not any("bold" in el.text_content() for el in doc.iter("strong", "em"))
    assert all(a.get("href").startswith("https://hostile.example/") for a in doc.iter("a"))
    # table cells stay put whatever an outlet's name holds
    for row in doc.iter("tr"):
        assert len(row) == 16
    assert any("Hostile <b>outlet</b> | x" in row[0].text_content() for row in doc.iter("tr"))


def test_hostile_input_keeps_the_atom_feed_valid_and_inert(
    hostile: Tracker, tmp_path: Path
) -> None:
    with writing_to(hostile, tmp_path) as t:
        t.write_digest(DAY)
    raw = (tmp_path / "digests.atom").read_bytes()
    etree.fromstring(raw)  # well-formed XML, strictly
    feed = feedparser.parse(raw)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.entries[0].title == "Tuesday 19 August 2025: 3 new items from 1 outlet"
    # the entry's HTML as the file carries it, not as feedparser's own sanitiser leaves it
    ns = {"a": "http://www.w3.org/2005/Atom"}
    content = etree.fromstring(raw).find("a:entry/a:content", ns).text
    assert_inert(content)
    assert "[injected](javascript:alert(1))" in lxml.html.fromstring(content).text_content()


def test_markdown_escaping_keeps_text_as_written() -> None:
    from tracker.digest.render import md_escape

    render = MarkdownIt("commonmark").enable("table")
    for text in (
        "1. Ukraine",
        "2) Kyiv",
        "# not a heading",
        "> not a quote",
        "- not a list",
        "+ neither",
        "a_b_c *x* __y__ ~~z~~ `c` <b> &amp; &#60; [l](u) ![i](s) | \\",
    ):
        html = render.render(f"{md_escape(text)}\n")
        assert html.startswith("<p>") and html.count("<") == 2, (text, html)
        assert lxml.html.fromstring(html).text_content().strip() == text


def test_only_http_links_are_rendered() -> None:
    from tracker.digest.render import http_url, md_link

    assert http_url("javascript:alert(1)") is None
    assert http_url(" JavaScript:alert(1)") is None
    assert http_url("data:text/html,<script>") is None
    assert http_url("//example.com/x") is None
    assert http_url("https://example.com/a b<c>") == "https://example.com/a%20b%3Cc%3E"
    assert (
        md_link("x](javascript:y)", "https://e.com/(a)")
        == r"[x\](javascript:y)](https://e.com/%28a%29)"
    )


# --- Atom --------------------------------------------------------------------------------------


def test_atom_feed_validates_and_keeps_the_newest_digests(golden: Tracker, tmp_path: Path) -> None:
    days = [date(2025, 8, d) for d in (15, 16, 17, 18, 19)]
    with writing_to(golden, tmp_path, keep=3) as t:
        for day in days:
            t.write_digest(day)
        first = (tmp_path / "digests.atom").read_bytes()
        # rewritten later, complete days look the same: a feed reader sees nothing new
        t.clock = ManualClock(datetime(2025, 9, 1, tzinfo=UTC))
        t.write_digest(date(2025, 8, 17))
    assert (tmp_path / "digests.atom").read_bytes() == first
    root = etree.fromstring(first)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    for path in ("a:id", "a:title", "a:updated", "a:author/a:name"):
        assert root.find(path, ns) is not None, path
    feed = feedparser.parse(first)
    assert not feed.bozo and feed.version == "atom10"
    assert [e.link for e in feed.entries] == [
        "2025-08-19.html",
        "2025-08-18.html",
        "2025-08-17.html",
    ]
    assert len({e.id for e in feed.entries}) == 3
    for entry, day in zip(feed.entries, ("Tuesday 19", "Monday 18", "Sunday 17"), strict=True):
        assert entry.title.startswith(f"{day} August 2025: ") and "new items from" in entry.title
        assert entry.updated_parsed and entry.summary and entry.content[0].type == "text/html"
    # every day file is still there: the feed only limits its own entries
    assert sorted(p.name for p in tmp_path.glob("*.md")) == [f"{d}.md" for d in days]


def test_atom_links_are_absolute_with_a_base_url(golden: Tracker, tmp_path: Path) -> None:
    with writing_to(golden, tmp_path, base_url="https://news.example/digests/") as t:
        t.write_digest(DAY)
    feed = feedparser.parse((tmp_path / "digests.atom").read_bytes())
    assert not feed.bozo
    assert feed.entries[0].link == "https://news.example/digests/2025-08-19.html"
    assert feed.feed.links[0].href == "https://news.example/digests/digests.atom"


def test_base_url_must_be_http_and_names_a_directory(tmp_path: Path) -> None:
    config = parse_config("digest:\n  base_url: https://x.example/d\n", tmp_path / "c.yaml")
    assert config.digest.base_url == "https://x.example/d/"
    with pytest.raises(ConfigError, match=r"digest\.base_url: must be an http"):
        parse_config("digest:\n  base_url: javascript:alert(1)\n", tmp_path / "c.yaml")


# --- writing -------------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_previous_digest_intact(
    golden: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with writing_to(golden, tmp_path) as t:
        paths = t.write_digest(DAY)
        before = {p: p.read_bytes() for p in paths}
        t.clock = ManualClock(datetime(2025, 8, 28, 6, tzinfo=UTC))  # a new generation time

        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("tracker.files.os.fsync", disk_full)
        with pytest.raises(OutputError, match=r"2025-08-19\.md: cannot write: No space left"):
            t.write_digest(DAY)
    assert {p: p.read_bytes() for p in paths} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


KILL_SCRIPT = """
import os, signal, sys
from datetime import date, datetime, UTC
from pathlib import Path
from tracker.app import Tracker
from tracker.config import load_config
from tracker.models import ManualClock

written = []
real_fsync = os.fsync
def fsync_then_die(fd):
    real_fsync(fd)
    written.append(fd)
    # the three files are on disk under their temporary names, none renamed yet, when the
    # power goes
    if len(written) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
os.fsync = fsync_then_die
clock = ManualClock(datetime(2025, 8, 28, 6, tzinfo=UTC))
Tracker(load_config(Path(sys.argv[1])), clock=clock).write_digest(date(2025, 8, 19))
"""


def test_a_killed_write_leaves_the_previous_digest_intact(golden: Tracker, tmp_path: Path) -> None:
    with writing_to(golden, tmp_path) as t:
        paths = t.write_digest(DAY)
    before = {p: p.read_bytes() for p in paths}
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {golden.config.database}\ntimezone: Europe/London\n"
        f"digest:\n  directory: {tmp_path}\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(config)], capture_output=True, timeout=60
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert {p: p.read_bytes() for p in paths} == before
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    assert [name.split(".")[1] for name in leftovers] == ["2025-08-19", "2025-08-19", "digests"]
    # a leftover temporary file is never taken for a digest
    assert atom_days(tmp_path, DAY, 30) == [DAY]


def test_unwritable_digest_directory_is_one_clear_error(tmp_path: Path, server: FeedServer) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    config = write_config(
        tmp_path,
        {"The Guardian": [server.add("/g.xml", GUARDIAN_19)]},
        extra=f"digest:\n  directory: {blocker}/digests\n",
    )
    run = CliRunner().invoke
    init = run(cli, ["-c", str(config), "init"])
    assert init.exit_code == 1  # the database and feeds are set up; the directory cannot be
    assert init.output == (
        f"Error: {blocker}/digests: cannot create the digest directory: Not a directory\n"
    )
    assert run(cli, ["-c", str(config), "feeds", "list", "--json"]).exit_code == 0
    result = run(cli, ["-c", str(config), "digest", "--date", "2025-08-19"])
    assert result.exit_code == 1
    assert "digests/2025-08-19.md: cannot write" in result.output
    assert "Traceback" not in result.output


# --- day boundaries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone", ["Europe/London", "America/Santiago", "America/Sao_Paulo", "Australia/Lord_Howe", "UTC"]
)
def test_local_days_tile_time_across_clock_changes(zone: str) -> None:
    tz = ZoneInfo(zone)
    day = date(2018, 1, 1)
    while day.year < 2019:
        start, end = day_window(day, tz)
        assert end == day_window(day + timedelta(days=1), tz)[0]
        assert start.astimezone(tz).date() == day
        assert (start - timedelta(seconds=1)).astimezone(tz).date() == day - timedelta(days=1)
        assert timedelta(hours=22.5) <= end - start <= timedelta(hours=25.5)
        day += timedelta(days=1)


def test_dst_day_boundaries_put_items_on_their_local_day(
    server: FeedServer, make_tracker, clock: ManualClock
) -> None:
    # 26 October 2025 in London is 25 hours long: 23:00 UTC on the 25th to 00:00 UTC on the 27th
    url = server.add("/g.xml", b"")
    t = make_tracker({"The Guardian": [url]}, extra="timezone: Europe/London\n")
    polls = {
        datetime(2025, 10, 25, 22, 30, tzinfo=UTC): "20250819",  # 23:30 BST on the 25th
        datetime(2025, 10, 25, 23, 30, tzinfo=UTC): "20250820",  # 00:30 BST on the 26th
        datetime(2025, 10, 26, 23, 30, tzinfo=UTC): "20250821",  # 23:30 GMT on the 26th
        datetime(2025, 10, 27, 0, 10, tzinfo=UTC): "20250822",  # 00:10 GMT on the 27th
    }
    for when, snapshot in polls.items():
        clock.set(when)
        server.add("/g.xml", (REPLAY / f"guardian-world-{snapshot}.xml").read_bytes())
        t.poll(all_feeds=True)
    # the links as they stand after the last poll (later polls rebuild the model and rescore)
    found = {
        when: [
            r.title for r in t.coverage() if r.first_seen_at == when.strftime("%Y-%m-%dT%H:%M:%SZ")
        ]
        for when in polls
    }
    assert all(found.values())
    clock.set(datetime(2025, 10, 28, 8, tzinfo=UTC))
    md = t.digest(date(2025, 10, 26), formats=("md",), write=False).texts["md"]
    shown = set(all_titles(markdown_to_html(md), "same story")) | set(
        all_titles(markdown_to_html(md), "related coverage")
    )
    times = list(polls)
    assert shown == set(found[times[1]]) | set(found[times[2]])
    assert "Times are Europe/London (BST/GMT)" in md
    # listed at their published times; when first seen is said beside each, in its zone
    assert "first seen 00:30 BST" in md and "first seen 23:30 GMT" in md
    timeline = {
        r[0].text_content(): [c.text_content() for c in r[1:]]
        for r in lxml.html.fromstring(markdown_to_html(md)).findall(".//tbody/tr")
    }
    assert timeline["The Guardian"][-3:-1] == [str(len(found[times[0]])), str(len(shown))]


# --- the command -------------------------------------------------------------------------------


@pytest.fixture
def cli_config(tmp_path: Path, server: FeedServer, make_tracker) -> Path:
    t = make_tracker({"The Guardian": [server.add("/g.xml", GUARDIAN_19)]})
    t.poll(all_feeds=True)
    return t.config.path


def test_digest_command_writes_the_three_files(cli_config: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["-c", str(cli_config), "digest", "--date", "2025-08-19"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    digests = tmp_path / "digests"
    assert lines[:3] == [
        str(digests / n) for n in ("2025-08-19.md", "2025-08-19.html", "digests.atom")
    ]
    assert lines[3].startswith("2025-08-19: ") and "new linked items from 1 outlet" in lines[3]
    assert (
        (digests / "2025-08-19.md").read_text().startswith("# Coverage digest: Tuesday 19 August")
    )
    assert (digests / "2025-08-19.html").read_text().startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("fmt", "start"),
    [
        (None, "# Coverage digest: Tuesday 19 August 2025\n"),
        ("html", "<!doctype html>"),
        ("atom", "<?xml"),
    ],
)
def test_digest_stdout_prints_one_format_and_writes_nothing(
    cli_config: Path, tmp_path: Path, fmt: str | None, start: str
) -> None:
    args = ["-c", str(cli_config), "digest", "--date", "2025-08-19", "--stdout"]
    result = CliRunner().invoke(cli, args + (["--format", fmt] if fmt else []))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(start)
    assert list((tmp_path / "digests").iterdir()) == []  # init made it; nothing is written


def test_digest_format_limits_the_files_written(cli_config: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-c", str(cli_config), "digest", "--date", "2025-08-19", "--format", "md"]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "digests").iterdir()] == ["2025-08-19.md"]


def test_digest_defaults_to_today_in_the_configured_zone(cli_config: Path, tmp_path: Path) -> None:
    before = datetime.now(UTC).astimezone(ZoneInfo("UTC")).date()
    result = CliRunner().invoke(cli, ["-c", str(cli_config), "digest", "--stdout"])
    after = datetime.now(UTC).date()
    assert result.exit_code == 0
    title = result.output.splitlines()[0]
    assert any(f"{d.day} " in title and str(d.year) in title for d in (before, after))
    assert "Day in progress" in result.output
    yesterday = CliRunner().invoke(cli, ["-c", str(cli_config), "digest", "--date", "yesterday"])
    assert yesterday.exit_code == 0
    names = [p.name for p in (tmp_path / "digests").glob("*.md")]
    assert names in ([f"{before - timedelta(days=1)}.md"], [f"{after - timedelta(days=1)}.md"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2025-13-01"], "'2025-13-01' is not a date such as 2025-08-20"),
        (["--date", "19/08/2025"], "is not a date such as"),
        (["--stdout", "--format", "md", "--format", "html"], "give one format with --stdout"),
        (["--format", "pdf"], "'pdf' is not one of"),
    ],
)
def test_digest_bad_input_gives_one_clear_error(
    cli_config: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, ["-c", str(cli_config), "digest", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("9999-12-31", "9999-12-31 has not started yet in"),
        ("2030-01-01", "2030-01-01 has not started yet in"),
        ("0001-01-01", "0001-01-01 is beyond the calendar for a digest"),
        ("0001-01-13", "0001-01-13 is beyond the calendar for a digest"),
    ],
)
@pytest.mark.parametrize("stdout", [True, False])
def test_digest_of_a_day_it_cannot_show_is_one_clear_error(
    cli_config: Path, tmp_path: Path, when: str, message: str, stdout: bool
) -> None:
    args = ["-c", str(cli_config), "digest", "--date", when, *(["--stdout"] * stdout)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {message}") and result.output.count("\n") == 1
    assert list((tmp_path / "digests").iterdir()) == []


def test_tomorrow_has_not_started_but_today_has(golden: Tracker) -> None:
    today = golden.local_today()
    with pytest.raises(
        DigestError,
        match=rf"{today + timedelta(days=1)} has not started yet in "
        rf"Europe/London \(today is {today}\)",
    ):
        golden.digest(today + timedelta(days=1), write=False)
    assert golden.digest(today, formats=("md",), write=False).texts["md"]


@pytest.mark.parametrize("formats", [("pdf",), ("md", "txt"), ()])
def test_an_unknown_digest_format_is_a_digest_error(golden: Tracker, formats) -> None:
    """It was a bare ValueError, outside the TrackerError family every caller catches."""
    with pytest.raises(DigestError, match=r"^digest: formats are md, html, atom; got "):
        golden.digest(golden.local_today(), formats=formats, write=False)


def test_digest_before_init_explains_what_to_do(tmp_path: Path) -> None:
    config = write_config(tmp_path, {})
    result = CliRunner().invoke(cli, ["-c", str(config), "digest"])
    assert result.exit_code == 1 and "run 'tracker init' first" in result.output


def test_write_digest_is_the_service_entry_point(golden: Tracker, tmp_path: Path) -> None:
    with writing_to(golden, tmp_path) as t:
        paths = t.write_digest(t.local_today() - timedelta(days=1))
    assert [p.name for p in paths] == ["2025-08-26.md", "2025-08-26.html", "digests.atom"]
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in paths)
    assert json.dumps([str(p) for p in paths])  # plain paths, easy to log
