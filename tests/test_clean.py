from __future__ import annotations

from pathlib import Path

import pytest

from tracker.ingest.clean import canonical_url, html_to_text, item_link, safe_html
from tracker.ingest.identity import content_hash, identity_keys
from tracker.models import CleanItem
from tracker.urls import feed_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://WWW.TheGuardian.com/world/2025/aug/19/x#comments",
            "https://www.theguardian.com/world/2025/aug/19/x",
        ),
        (
            "https://www.bbc.com/news/articles/crm4ln2ekg1o?at_medium=RSS&at_campaign=rss",
            "https://www.bbc.com/news/articles/crm4ln2ekg1o",
        ),
        (
            "https://www.ft.com/content/abc?utm_source=rss&utm_medium=feed&page=2",
            "https://www.ft.com/content/abc?page=2",
        ),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        # an IPv6 host keeps its brackets, or its port could not be told from its address
        ("http://[2001:db8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
        ("HTTPS://Example.COM.:443/a#top", "https://example.com/a"),
        (
            "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=1&url=https%3a%2f%2f"
            "www.reuters.com%2fworld%2feurope%2fstory-2025-08-19%2f&c=1",
            "https://www.reuters.com/world/europe/story-2025-08-19/",
        ),
        ("javascript:alert(1)", None),
        ("ftp://example.com/feed", None),
        ("", None),
        (None, None),
        ("http://[::1", None),
        # a user name and password are never stored; a control character is no part of a link
        ("http://user:pass@example.com/x", "http://example.com/x"),
        ("https://user@example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com/a\nb", "https://example.com/ab"),
        ("https://example.com/a\x00b\x07c\x7f\x85", "https://example.com/abc"),
        ("https://example.com/x\u202egnp.exe", "https://example.com/xgnp.exe"),
    ],
)
def test_canonical_url(url: str | None, expected: str | None) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Feeds.Example.COM/News/RSS", "http://feeds.example.com/News/RSS"),
        ("https://example.com/rss#top", "https://example.com/rss"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        # unlike canonical_url, the query selects the feed and stays, tracking names too
        (
            "https://www.bing.com/news/search?q=a&format=rss",
            "https://www.bing.com/news/search?q=a&format=rss",
        ),
        ("https://example.com/x?rss=1&utm_source=a", "https://example.com/x?rss=1&utm_source=a"),
        ("http://[::1]:80/f", "http://[::1]/f"),
    ],
)
def test_feed_url_is_one_spelling_of_a_feed(url: str, expected: str) -> None:
    assert feed_url(url) == expected


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        # as given, tracking parameters and fragment too: only what must not be stored goes
        (
            "https://example.com/x?utm_source=rss#top",
            "https://example.com/x?utm_source=rss#top",
        ),
        ("http://user:secret@example.com/x?a=1", "http://example.com/x?a=1"),
        ("https://user@example.com:8443/x", "https://example.com:8443/x"),
        (" https://example.com/a\nb\r\n", "https://example.com/ab"),
        ("https://example.com/a\x00b\x1b[31m\x9b", "https://example.com/ab[31m"),
        ("https://example.com/\u202egnp.exe", "https://example.com/gnp.exe"),
        ("\x00\n", None),
        (None, None),
    ],
)
def test_item_links_drop_credentials_and_control_characters(
    link: str | None, expected: str | None
) -> None:
    assert item_link(link) == expected


@pytest.mark.parametrize(
    "control",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
)
def test_bidirectional_controls_are_stripped_from_text_and_html(control: str) -> None:
    assert html_to_text(f"<b>Ukraine</b> exe.{control}gnp") == "Ukraine exe.gnp"
    assert control not in safe_html(f"<p>exe.{control}gnp</p>")


def test_right_to_left_text_and_its_marks_are_kept() -> None:
    arabic = "\u0623\u0648\u0643\u0631\u0627\u0646\u064a\u0627 \u200fUkraine\u200e"
    assert html_to_text(arabic) == arabic


def test_html_to_text_drops_markup_scripts_and_odd_spaces() -> None:
    html = "<p><strong>Exclusive:</strong>\u00a0PM says\u200b <script>alert(1)</script>it&amp;s<br>done</p>"
    assert html_to_text(html) == "Exclusive: PM says it&s done"


def test_html_to_text_keeps_plain_text_that_looks_like_a_path() -> None:
    assert html_to_text("index.html") == "index.html"


@pytest.mark.parametrize(
    "hostile",
    [
        '<script>alert("x")</script>',
        '<a href="javascript:alert(1)">click</a>',
        '<svg onload="alert(1)"><circle/></svg>',
        '<img src=x onerror="alert(1)">',
        '<p style="background:url(javascript:alert(1))">x</p>',
        '<iframe src="https://evil.example"></iframe>',
    ],
)
def test_safe_html_is_inert(hostile: str) -> None:
    cleaned = safe_html(hostile).lower()
    for marker in ("<script", "javascript:", "onload", "onerror", "<svg", "<iframe", "style="):
        assert marker not in cleaned


def test_safe_html_keeps_ordinary_links() -> None:
    assert 'href="https://example.com/a"' in safe_html('<a href="https://example.com/a">a</a>')


def test_identity_prefers_guid_then_url_and_scopes_plain_guids() -> None:
    keys = identity_keys("1.3231183", "https://www.ctvnews.ca/x", "T", "S", 7)
    assert keys == ("guid:7:1.3231183", "url:https://www.ctvnews.ca/x")


def test_permalink_guid_is_compared_as_a_url() -> None:
    keys = identity_keys(
        "https://www.bbc.co.uk/news/uk-1#0", "https://www.bbc.co.uk/news/uk-1", "T", "S", 3
    )
    assert keys == ("url:https://www.bbc.co.uk/news/uk-1",)


def test_content_hash_is_the_key_of_last_resort() -> None:
    keys = identity_keys(None, None, "Fire in Weiz", "Einsatzort: Weiz", 5)
    assert keys == (f"hash:{content_hash('Fire in Weiz', 'Einsatzort: Weiz')}",)
    assert content_hash("Fire  in WEIZ", "einsatzort:  weiz") == content_hash(
        "Fire in Weiz", "Einsatzort: Weiz"
    )


def test_same_link_with_different_guids_of_one_outlet_is_two_items() -> None:
    new = CleanItem(
        "2",
        "https://x.example/",
        "https://x.example/",
        "T",
        "",
        "",
        None,
        None,
        "h",
        keys=("guid:4:tag:x.example,2025:2", "url:https://x.example/"),
    )
    other = "guid:4:tag:x.example,2025:1"
    assert not new.is_same_as("url:https://x.example/", {other, "url:https://x.example/"})
    assert new.is_same_as("url:https://x.example/", {"url:https://x.example/"})
    assert new.is_same_as("url:https://x.example/", {"guid:5:tag:x.example,2025:1"})
    assert new.is_same_as("guid:4:tag:x.example,2025:2", {"guid:4:tag:x.example,2025:2", other})


def test_safe_html_skips_nh3_only_where_nh3_would_change_nothing() -> None:
    """Plain text is not handed to nh3 (a fifth of the cost of normalising an item): on every
    summary of the labelled archive the result is what nh3 itself gives."""
    import json

    import nh3

    from tracker.ingest.clean import SAFE_ATTRIBUTES, SAFE_SCHEMES, SAFE_TAGS, repair_text

    summaries = [
        json.loads(line)["summary_html"] or ""
        for path in sorted((Path(__file__).parent / "data" / "archive-2025").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    summaries += ["a\r\nb\rc", "x\u00a0y", "tab\there", "  spaced  "]
    plain = 0
    for html in summaries:
        expected = nh3.clean(
            repair_text(html),
            tags=SAFE_TAGS,
            attributes=SAFE_ATTRIBUTES,
            url_schemes=SAFE_SCHEMES,
            link_rel="noopener noreferrer nofollow",
            clean_content_tags={"script", "style"},
        ).strip()
        assert safe_html(html) == expected, html
        plain += not any(c in html for c in "<>&\u00a0")
    assert plain > 100  # the fast path is taken, and checked
