"""The command line: every command has help with an example; bad input gives clear errors."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.cli.base import FEED_COLUMNS
from tracker.demo.localserver import FeedServer

from .conftest import REPLAY, write_config
from .test_config import BAD_URLS


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [p for p, _ in all_commands()], ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    command = dict(all_commands())[path]
    if not isinstance(command, click.Group):
        assert "Example:" in result.output


def test_feeds_help_names_every_feeds_command() -> None:
    feeds = cli.commands["feeds"]
    assert isinstance(feeds, click.Group)
    # the line 'tracker --help' shows for the group, whole
    summary = feeds.get_short_help_str(limit=100).casefold()
    words = set(re.findall(r"[\w-]+", summary.replace("re-enable", "enable")))
    assert set(feeds.commands) <= words, sorted(set(feeds.commands) - words)


def test_init_poll_coverage_round_trip(tmp_path: Path, server: FeedServer) -> None:
    url = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    config = write_config(tmp_path, {"The Guardian": [url]})
    run = CliRunner().invoke
    init = run(cli, ["-c", str(config), "init"])
    assert init.exit_code == 0, init.output
    assert "cited outlets: The Guardian" in init.output
    poll = run(cli, ["-c", str(config), "poll"])
    assert poll.exit_code == 0, poll.output
    assert "1 feed polled: 1 ok" in poll.output
    coverage = run(cli, ["-c", str(config), "coverage", "--json"])
    rows = json.loads(coverage.output)
    assert rows and all(r["outlet"] == "The Guardian" for r in rows)
    # latest reported first (published, never later than first seen)
    times = [(r["reported_at"], r["first_seen_at"]) for r in rows]
    assert times == sorted(times, reverse=True) and len(set(times)) > 10
    assert all(r["reported_at"] == min(r["published_at"], r["first_seen_at"]) for r in rows)
    text = run(cli, ["-c", str(config), "coverage", "--limit", "3"])
    assert len(text.output.strip().splitlines()) == 4  # header + 3 rows (TSV when piped)
    feeds = run(cli, ["-c", str(config), "feeds", "list", "--json"])
    assert json.loads(feeds.output)[0]["last_result"] == "ok"
    show = run(cli, ["-c", str(config), "article", "show", "1"])
    assert "key terms:" in show.output


def test_feeds_list_and_status_share_columns_times_and_say_no_next_poll_when_disabled(
    tmp_path: Path, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: status said 'errors' where feeds list said 'consecutive_errors', times came
    in three forms, a disabled feed showed a next poll, and one feed was '1 feeds'."""
    guardian = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    config = write_config(tmp_path, {"The Guardian": [guardian]}, extra="timezone: Europe/London\n")
    run = CliRunner().invoke
    base = ["-c", str(config)]
    run(cli, [*base, "init"])
    polled = run(cli, [*base, "poll"])
    assert "1 feed polled: 1 ok" in polled.output and "1 feeds" not in polled.output
    other = server.add("/b.xml", (REPLAY / "bloomberg-politics-20250819.xml").read_bytes())
    run(cli, [*base, "feeds", "add", other, "--outlet", "Bloomberg"])
    run(cli, [*base, "poll"])
    assert run(cli, [*base, "feeds", "disable", "2"]).exit_code == 0
    listed = run(cli, [*base, "feeds", "list"]).stdout.splitlines()
    status = run(cli, [*base, "status"]).stdout.split("\n\n", 1)[1].splitlines()
    assert listed[0] == status[0] == "\t".join(FEED_COLUMNS)
    assert "consecutive_errors" in listed[0] and "next_poll_at" in listed[0]
    rows = {
        r.split("\t")[0]: dict(zip(FEED_COLUMNS, r.split("\t"), strict=True)) for r in listed[1:]
    }
    assert rows == {
        r.split("\t")[0]: dict(zip(FEED_COLUMNS, r.split("\t"), strict=True)) for r in status[1:]
    }
    assert rows["2"]["state"] == "disabled: disabled with 'tracker feeds disable'"
    assert rows["2"]["next_poll_at"] == ""
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # piped: ISO 8601 in UTC
    assert iso.match(rows["1"]["next_poll_at"]) and iso.match(rows["1"]["last_success_at"])
    for command in (["feeds", "list", "--json"], ["status", "--json"]):
        out = json.loads(run(cli, [*base, *command]).stdout)
        feeds = {f["id"]: f for f in (out if isinstance(out, list) else out["feeds"])}
        assert set(FEED_COLUMNS) - {"state"} <= set(feeds[1])
        assert feeds[2]["next_poll_at"] is None and iso.match(feeds[1]["next_poll_at"])
    # on a terminal: local time with its zone
    monkeypatch.setattr("tracker.cli.base._tty", lambda: True)
    monkeypatch.setenv("COLUMNS", "400")
    screen = run(cli, [*base, "feeds", "list"]).stdout
    assert len(re.findall(r"\b\d{4}-\d\d-\d\d \d\d:\d\d (?:GMT|BST)\b", screen)) == 3
    assert not re.search(r"\dZ\b", screen)
    assert "1 disabled; " in run(cli, [*base, "status"]).stdout


def test_commands_before_init_explain_what_to_do(tmp_path: Path) -> None:
    config = write_config(tmp_path, {})
    result = CliRunner().invoke(cli, ["-c", str(config), "coverage"])
    assert result.exit_code == 1
    assert "run 'tracker init' first" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["article", "show", "99"], "no article with id 99"),
        (["article", "show", "abc"], "'abc' is not a valid integer"),
        (["article", "add", "/nonexistent/file.txt"], "no such file"),
        (["feeds", "add", "ftp://x/feed"], "Missing option '--outlet'"),
        (["feeds", "add", "ftp://x/feed", "--outlet", "X"], "must be an http:// or https:// URL"),
        (["feeds", "enable", "42"], "no feed with id 42"),
        (["coverage", "--limit", "-1"], "-1 is not in the range"),
        (["coverage", "--tier", "gold"], "'gold' is not one of"),
    ],
)
def test_bad_input_gives_one_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    config = write_config(tmp_path, {})
    CliRunner().invoke(cli, ["-c", str(config), "init"])
    result = CliRunner().invoke(cli, ["-c", str(config), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_feeds_add_and_discover(tmp_path: Path, server: FeedServer) -> None:
    page = server.add(
        "/",
        b'<html><head><link rel="alternate" type="application/rss+xml" '
        b'href="/world/rss" title="World"></head></html>',
        content_type="text/html",
    )
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    found = run(cli, ["-c", str(config), "feeds", "discover", page])
    assert found.output.strip() == f"{server.url('/world/rss')}\tWorld"
    server.add("/world/rss", (REPLAY / "bbc-world-europe-20250819.xml").read_bytes())
    added = run(
        cli, ["-c", str(config), "feeds", "add", server.url("/world/rss"), "--outlet", "DW"]
    )
    assert added.exit_code == 0 and "feed 1" in added.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "must not be empty: give an http:// or https:// URL, got ''"),
        (" ", "must not be empty: give an http:// or https:// URL, got ' '"),
        ("www.euronews.com", "must be an http:// or https:// URL, got 'www.euronews.com'"),
        *BAD_URLS,
    ],
)
def test_feeds_discover_refuses_bad_urls_as_feeds_add_does(
    tmp_path: Path, url: str, message: str
) -> None:
    config = write_config(tmp_path, {})
    CliRunner().invoke(cli, ["-c", str(config), "init"])
    result = CliRunner().invoke(cli, ["-c", str(config), "feeds", "discover", url])
    assert result.exit_code == 2, result.output
    assert f"Error: Invalid value for 'URL': {message}" in result.output.replace("\n", " ")


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "tracker", "--help"], capture_output=True, text=True, check=True
    )
    assert "Track who else covers a news story" in out.stdout


def test_coverage_by_story_lists_outlets_and_who_was_first(
    tmp_path: Path, server: FeedServer
) -> None:
    guardian = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    lemonde = server.add("/l.xml", (REPLAY / "lemonde-en-20250819.xml").read_bytes())
    config = write_config(tmp_path, {"The Guardian": [guardian], "Le Monde": [lemonde]})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    run(cli, ["-c", str(config), "poll"])
    stories = json.loads(run(cli, ["-c", str(config), "coverage", "--stories", "--json"]).output)
    items = json.loads(run(cli, ["-c", str(config), "coverage", "--json"]).output)
    assert sum(s["items"] for s in stories) == len(items)
    for story in stories:
        assert story["first_outlet"] == story["outlets"][0]
        assert story["tier"] in ("story", "related")


def test_two_articles_are_tracked_side_by_side(tmp_path: Path, server: FeedServer) -> None:
    """The seed article and a second real article (a saved Guardian page about New Zealand):
    each gets its own coverage from the same items, and an item may link to both."""
    from tracker.models import Relevance
    from tracker.storage import Store

    from .conftest import DATA

    feeds = [
        server.add(f"/{n}.xml", (REPLAY / f"bloomberg-politics-202508{d}.xml").read_bytes())
        for n, d in (("a", "19"), ("b", "21"), ("c", "22"))
    ]
    config = write_config(tmp_path, {"Bloomberg": feeds})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    page = DATA / "pages" / "guardian-environment-maori-whale-strandings-20190103.html"
    added = run(cli, ["-c", str(config), "article", "add", str(page)])
    assert added.exit_code == 0, added.output
    assert "article 2: 'What is the sea telling us?'" in added.output
    run(cli, ["-c", str(config), "poll"])
    listed = json.loads(run(cli, ["-c", str(config), "article", "list", "--json"]).output)
    assert [a["id"] for a in listed] == [1, 2]
    first = json.loads(run(cli, ["-c", str(config), "coverage", "--article", "1", "--json"]).output)
    second = json.loads(
        run(cli, ["-c", str(config), "coverage", "--article", "2", "--json"]).output
    )
    assert first and second
    assert all("Zealand" in r["title"] or "Zealand" in (r["summary"] or "") for r in second)
    assert not {r["item_id"] for r in second} & {r["item_id"] for r in first}
    store = Store.open(tmp_path / "tracker.db")
    shared = first[0]["item_id"]
    store.link_item(2, shared, Relevance(0.5, ("test",), "related"), store_now())
    both = store.db.execute(
        "SELECT article_id FROM article_items WHERE item_id = ? ORDER BY 1", (shared,)
    ).fetchall()
    assert both == [(1,), (2,)]


def store_now():
    from datetime import UTC, datetime

    return datetime(2025, 8, 22, tzinfo=UTC)


def test_article_add_by_url_reads_the_page_over_http(tmp_path: Path, server: FeedServer) -> None:
    from .conftest import DATA

    page = (DATA / "pages" / "nyt-world-africa-sudan-sanctions-20170113.html").read_bytes()
    url = server.add("/2017/01/13/sudan.html", page, content_type="text/html; charset=utf-8")
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    added = run(cli, ["-c", str(config), "article", "add", url])
    assert added.exit_code == 0, added.output
    assert "United States to Lift Sudan Sanctions" in added.output
    assert "published: 2017-01-13" in added.output
    shown = json.loads(run(cli, ["-c", str(config), "article", "show", "2", "--json"]).output)
    assert shown["url"] == "https://www.nytimes.com/2017/01/13/world/africa/sudan-sanctions.html"
    missing = run(cli, ["-c", str(config), "article", "add", server.url("/nope.html")])
    assert missing.exit_code == 1 and "cannot fetch the article: HTTP 404" in missing.output


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("", "give a file or an http:// or https:// URL"),
        ("  ", "give a file or an http:// or https:// URL"),
        ("ftp://x/y", "only http:// and https:// URLs are fetched, not ftp:"),
        ("file:///etc/hostname", "only http:// and https:// URLs are fetched, not file:"),
        ("https://", "must name a host"),
        ("http://news.example/a b.html", "must not contain a space"),
        ("/nonexistent/file.txt", "no such file: /nonexistent/file.txt"),
        ("{tmp}", "{tmp} is a directory, not a file"),
        (".", ". is a directory, not a file"),
    ],
)
def test_article_add_bad_arguments_are_usage_errors(
    tmp_path: Path, location: str, message: str
) -> None:
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    location, message = location.format(tmp=tmp_path), message.format(tmp=tmp_path)
    result = run(cli, ["-c", str(config), "article", "add", location])
    assert result.exit_code == 2, result.output
    assert f"\nError: Invalid value for 'PATH|URL': {message}" in result.output
    listed = json.loads(run(cli, ["-c", str(config), "article", "list", "--json"]).output)
    assert [a["id"] for a in listed] == [1]


def test_article_add_knows_a_file_by_its_resolved_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.storage import Store

    from .conftest import DATA

    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    pages = (DATA / "pages").resolve()
    name = "nyt-world-africa-sudan-sanctions-20170113.html"
    monkeypatch.chdir(pages)
    for spelling in (name, f"./{name}", str(pages / name), f"../pages/{name}"):
        added = run(cli, ["-c", str(config), "article", "add", spelling])
        assert added.output.startswith("article 2: United States"), added.output
    listed = json.loads(run(cli, ["-c", str(config), "article", "list", "--json"]).output)
    assert [a["location"] for a in listed][1:] == [str(pages / name)]
    # a row stored as the path was given (before paths were resolved) is the same article
    store = Store.open(tmp_path / "tracker.db")
    store.move_article(2, f"./{name}")
    store.close()
    again = run(cli, ["-c", str(config), "article", "add", name])
    assert again.output.startswith("article 2: United States"), again.output
    listed = json.loads(run(cli, ["-c", str(config), "article", "list", "--json"]).output)
    assert [a["location"] for a in listed][1:] == [str(pages / name)]


def test_relative_article_path_in_config_keeps_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import ARTICLE

    (tmp_path / "seed.txt").write_bytes(ARTICLE.read_bytes())
    (tmp_path / "config.yaml").write_text(
        "database: tracker.db\narticles:\n  - path: ./seed.txt\n"
        "    include_terms: [coalition of the willing]\n    exclude_terms: [football]\n"
    )
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke
    assert run(cli, ["-c", "config.yaml", "init"]).exit_code == 0
    assert run(cli, ["-c", "config.yaml", "article", "add", "seed.txt"]).exit_code == 0
    shown = json.loads(run(cli, ["-c", "config.yaml", "article", "show", "1", "--json"]).output)
    assert shown["location"] == str(tmp_path.resolve() / "seed.txt")
    assert shown["key_terms"]["coalition willing"] == 1.0  # the include_term, normalised
    listed = json.loads(run(cli, ["-c", "config.yaml", "article", "list", "--json"]).output)
    assert len(listed) == 1


def test_article_add_refuses_files_it_could_never_track(tmp_path: Path) -> None:
    from .conftest import ARTICLE, DATA

    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    compressed = tmp_path / "article.txt.gz"
    compressed.write_bytes(gzip.compress(ARTICLE.read_bytes()))
    cases = {
        compressed: "not a text or HTML file",
        tmp_path / "tracker.db": "not a text or HTML file",
        DATA / "handmade" / "script-app-shell-handmade.html": "no text found",
        # text, but nothing in it names anything a story could be about
        DATA / "handmade" / "consent-wall-handmade.html": "no key terms in the text",
    }
    for path, message in cases.items():
        result = run(cli, ["-c", str(config), "article", "add", str(path)])
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: {path}: {message}")
        assert result.output.count("\n") == 1
    listed = json.loads(run(cli, ["-c", str(config), "article", "list", "--json"]).output)
    assert [a["id"] for a in listed] == [1]


# --- querying: terminal output ---------------------------------------------------------------------


def test_poll_prints_tsv_when_piped_and_totals_on_stderr(
    tmp_path: Path, server: FeedServer
) -> None:
    good = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    config = write_config(tmp_path, {"The Guardian": [good, server.url("/missing")]})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    poll = run(cli, ["-c", str(config), "poll"])
    lines = poll.stdout.splitlines()
    assert lines[0] == "result\toutlet\turl\tnew\tupdated\tseen\tlinked\terror"
    rows = {line.split("\t")[2]: line.split("\t") for line in lines[1:]}
    assert rows[good][:4] == ["ok", "The Guardian", good, "60"]
    assert rows[server.url("/missing")][7].startswith("http-status: ")
    assert "2 feeds polled: 1 ok, 0 not modified, 1 failed" in poll.stderr


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_feeds_add_refuses_malformed_urls_as_config_does(
    tmp_path: Path, url: str, message: str
) -> None:
    config = write_config(tmp_path, {})
    CliRunner().invoke(cli, ["-c", str(config), "init"])
    result = CliRunner().invoke(cli, ["-c", str(config), "feeds", "add", url, "--outlet", "X"])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for 'URL': {message}" in result.output.replace("\n", " ")
    assert ":b@" not in result.output  # a password is not shown back
    listed = CliRunner().invoke(cli, ["-c", str(config), "feeds", "list", "--json"])
    assert json.loads(listed.output) == []


@pytest.mark.parametrize("outlet", ["", "   ", "\t"])
def test_feeds_add_refuses_an_empty_outlet_name(tmp_path: Path, outlet: str) -> None:
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    url = "https://rss.dw.com/rdf/rss-en-world"
    result = run(cli, ["-c", str(config), "feeds", "add", url, "--outlet", outlet, "--no-check"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--outlet': give the outlet's name" in result.output
    assert json.loads(run(cli, ["-c", str(config), "feeds", "list", "--json"]).output) == []
    names = run(cli, ["-c", str(config), "query", "SELECT name FROM outlets WHERE trim(name) = ''"])
    assert names.output.split() == ["name"]
    trimmed = run(cli, ["-c", str(config), "feeds", "add", url, "--outlet", " DW ", "--no-check"])
    assert trimmed.output == f"feed 1: {url} (DW)\n"


# --- feeds add: the URL is fetched once before it is stored ----------------------------------------

PAGES = Path(__file__).parent / "data" / "pages"


def test_feeds_add_fetches_the_url_once_and_stores_only_a_feed(
    tmp_path: Path, server: FeedServer
) -> None:
    feed = server.add("/world/rss", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    added = run(cli, ["-c", str(config), "feeds", "add", feed, "--outlet", "The Guardian"])
    assert added.exit_code == 0, added.output
    assert added.output == f"feed 1: {feed} (The Guardian); checked: rss20, 60 items\n"
    assert server.hits("/world/rss") == 1
    # a feed already stored is not fetched again
    again = run(cli, ["-c", str(config), "feeds", "add", feed, "--outlet", "The Guardian"])
    assert again.output == f"feed 1 already exists: {feed} (The Guardian)\n"
    assert server.hits("/world/rss") == 1
    assert run(cli, ["-c", str(config), "poll"]).exit_code == 0
    assert server.hits("/world/rss") == 2


def test_feeds_add_refuses_a_url_that_serves_no_feed_with_the_reason(
    tmp_path: Path, server: FeedServer
) -> None:
    article = server.add(
        "/environment/whales",
        (PAGES / "guardian-environment-maori-whale-strandings-20190103.html").read_bytes(),
        content_type="text/html; charset=utf-8",
    )
    empty = server.add("/empty", b"", content_type="application/rss+xml")
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    cases = {
        server.url("/missing"): "not added: HTTP 404 Not Found (--no-check adds it",
        article: "not added: got an HTML page, not a feed (title: \"'What is the sea telling us?'",
        empty: "not added: empty response body (--no-check",
    }
    for url, reason in cases.items():
        result = run(cli, ["-c", str(config), "feeds", "add", url, "--outlet", "G"])
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: {url}: {reason}"), result.output
        assert "Traceback" not in result.output
    assert json.loads(run(cli, ["-c", str(config), "feeds", "list", "--json"]).output) == []
    assert [server.hits(u.split(str(server.port))[1]) for u in cases] == [1, 1, 1]


def test_feeds_add_offers_the_feeds_a_web_page_announces(
    tmp_path: Path, server: FeedServer
) -> None:
    page = server.add(
        "/",
        b"<html><head><title>DW</title>"
        b'<link rel="alternate" type="application/rss+xml" href="/rdf/rss-en-all" title="All">'
        b'<link rel="alternate" type="application/atom+xml" href="/atom/world"></head></html>',
        content_type="text/html",
    )
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    result = run(cli, ["-c", str(config), "feeds", "add", page, "--outlet", "Deutsche Welle"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        f"Error: {page}: not added: got an HTML page, not a feed (title: 'DW')",
        "the page announces 2 feeds; add one with: tracker feeds add URL --outlet 'Deutsche Welle'",
        f"  {server.url('/rdf/rss-en-all')}\tAll",
        f"  {server.url('/atom/world')}",
    ]
    # the same offer as feeds discover makes
    found = run(cli, ["-c", str(config), "feeds", "discover", page]).output.splitlines()
    assert found == [f"{server.url('/rdf/rss-en-all')}\tAll", server.url("/atom/world")]
    assert json.loads(run(cli, ["-c", str(config), "feeds", "list", "--json"]).output) == []


def test_feeds_add_no_check_stores_the_url_without_fetching_it(
    tmp_path: Path, server: FeedServer
) -> None:
    config = write_config(tmp_path, {})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    url = server.url("/not-yet")
    result = run(cli, ["-c", str(config), "feeds", "add", url, "--outlet", "DW", "--no-check"])
    assert result.exit_code == 0, result.output
    assert result.output == f"feed 1: {url} (DW)\n"
    assert server.hits("/not-yet") == 0
    listed = json.loads(run(cli, ["-c", str(config), "feeds", "list", "--json"]).output)
    assert [f["url"] for f in listed] == [url]


# --- feeds add: one feed, one outlet --------------------------------------------------------------


def test_feeds_add_refuses_a_feed_of_another_outlet(tmp_path: Path, server: FeedServer) -> None:
    url = server.add("/g.xml", (REPLAY / "guardian-world-20250819.xml").read_bytes())
    config = write_config(tmp_path, {"The Guardian": [url]})
    run = CliRunner().invoke
    run(cli, ["-c", str(config), "init"])
    assert run(cli, ["-c", str(config), "poll"]).exit_code == 0
    before = json.loads(run(cli, ["-c", str(config), "feeds", "list", "--json"]).output)
    host, path = url.split("/g.xml")[0], "/g.xml"
    # other spellings of the same feed: the scheme and host's case, a fragment
    for spelling in (url, host.upper() + path, url + "#latest"):
        moved = run(cli, ["-c", str(config), "feeds", "add", spelling, "--outlet", "DW"])
        assert moved.exit_code == 1, moved.output
        assert "feed 1 already exists, for The Guardian" in moved.output
    after = json.loads(run(cli, ["-c", str(config), "feeds", "list", "--json"]).output)
    assert after == before
    outlets = run(cli, ["-c", str(config), "query", "SELECT DISTINCT outlet FROM coverage"])
    assert outlets.output.split() == ["outlet", "The", "Guardian"]
    # the same feed for its own outlet stays a harmless no-op that says so
    again = run(cli, ["-c", str(config), "feeds", "add", url + "#x", "--outlet", "the guardian"])
    assert again.exit_code == 0, again.output
    assert again.output.startswith(f"feed 1 already exists: {url} ")
    assert json.loads(run(cli, ["-c", str(config), "feeds", "list", "--json"]).output) == before
