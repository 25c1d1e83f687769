"""tracker feeds import / export: OPML in and out, round trip, hostile files.

No real OPML export is in tests/data or the shared corpus, so the file read here is hand-made
in the shape of feed readers' exports (see its header). Nothing here fetches a feed: importing
does not, and no test polls the imported (public) URLs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from tracker.app import Tracker
from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.localserver import FeedServer
from tracker.errors import OPMLError
from tracker.models import ManualClock
from tracker.opml import read_opml

from .conftest import ARTICLE, DATA

SUBSCRIPTIONS = DATA / "handmade" / "feed-reader-subscriptions-handmade.opml"

#: outlets with domains, as config.yaml gives them; the Guardian's feed is also in the file
CONFIG = f"""\
database: {{db}}
articles:
  - path: {ARTICLE}
outlets:
  - name: DW
    domains: [dw.com]
    homepage: https://www.dw.com/en/
  - name: The Guardian
    domains: [theguardian.com]
    homepage: https://www.theguardian.com/
    feeds:
      - https://www.theguardian.com/world/ukraine/rss
  - name: Bloomberg
    domains: [bloomberg.com]
  - name: Reuters
    domains: [reuters.com]
    feeds:
      - url: https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml
        kind: sitemap
        note: news sitemap (no public RSS)
"""


def tracker_at(directory: Path, clock: ManualClock, text: str = CONFIG) -> Tracker:
    directory.mkdir(exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(text.format(db=directory / "tracker.db"), encoding="utf-8")
    t = Tracker(load_config(path), clock=clock)
    t.init()
    return t


def stored_feeds(t: Tracker) -> list[tuple[str, str, str, str]]:
    return sorted((f.url, f.outlet, f.kind, f.note or "") for f in t.feeds())


def test_every_feed_outline_is_read_at_any_depth() -> None:
    feeds = read_opml(SUBSCRIPTIONS.read_bytes())
    assert [(f.name, f.url) for f in feeds] == [
        ("DW News", "https://rss.dw.com/rdf/rss-en-all"),
        ("Ukraine | The Guardian", "https://www.theguardian.com/world/ukraine/rss"),
        ("Le Monde in English", "https://www.lemonde.fr/en/rss/une.xml"),
        ("Süddeutsche Zeitung – Politik", "https://rss.sueddeutsche.de/rss/Politik"),
        ("BBC News - Europe", "https://feeds.bbci.co.uk/news/world/europe/rss.xml"),
        # an escaped ampersand, and an exporter writing xmlurl in lower case
        ("World | Financial Times", "https://www.ft.com/world?format=rss&edition=international"),
        ("Bloomberg Politics", "https://feeds.bloomberg.com/politics/news.rss"),
        ("DW News", "https://rss.dw.com/rdf/rss-en-all"),
        ("AP Top News", "https://apnews.com/index.rss"),
        ("Old podcast", "feed://feeds.example.org/podcast.xml"),
    ]
    assert feeds[6].html_url == "https://www.bloomberg.com/politics"


def test_import_puts_feeds_under_their_outlets_and_reports_each(
    tmp_path: Path, clock: ManualClock
) -> None:
    t = tracker_at(tmp_path / "a", clock)
    before = stored_feeds(t)
    dry = t.import_opml(SUBSCRIPTIONS, dry_run=True)
    assert stored_feeds(t) == before
    plan = t.import_opml(SUBSCRIPTIONS)
    assert plan == dry
    assert [(p.action, p.outlet, p.url, p.reason) for p in plan] == [
        # the outlets of config.yaml take the feeds of their domains, whatever the file calls them
        ("add", "DW", "https://rss.dw.com/rdf/rss-en-all", ""),
        ("exists", "The Guardian", "https://www.theguardian.com/world/ukraine/rss", ""),
        ("add", "Le Monde in English", "https://www.lemonde.fr/en/rss/une.xml", ""),
        ("add", "Süddeutsche Zeitung – Politik", "https://rss.sueddeutsche.de/rss/Politik", ""),
        ("add", "BBC News - Europe", "https://feeds.bbci.co.uk/news/world/europe/rss.xml", ""),
        (
            "add",
            "World | Financial Times",
            "https://www.ft.com/world?format=rss&edition=international",
            "",
        ),
        ("add", "Bloomberg", "https://feeds.bloomberg.com/politics/news.rss", ""),
        # DW News is listed twice in the file: added once
        ("add", "AP Top News", "https://apnews.com/index.rss", ""),
        (
            "skip",
            "Old podcast",
            "feed://feeds.example.org/podcast.xml",
            "URL must be an http:// or https:// URL",
        ),
    ]
    after = stored_feeds(t)
    assert len(after) == len(before) + 7
    assert {f.origin for f in t.feeds() if f.url not in {u for u, *_ in before}} == {"opml"}
    # again: nothing changes, and every feed says so
    again = t.import_opml(SUBSCRIPTIONS)
    assert [p.action for p in again] == ["exists"] * 8 + ["skip"]
    assert stored_feeds(t) == after
    # --outlet puts them all under one outlet; a feed another outlet has is skipped, not moved
    other = tracker_at(tmp_path / "b", clock)
    plan = other.import_opml(SUBSCRIPTIONS, outlet="Press review")
    assert {p.outlet for p in plan if p.action == "add"} == {"Press review"}
    guardian = next(p for p in plan if "theguardian" in p.url)
    assert (guardian.action, guardian.reason) == ("skip", "already a feed of The Guardian")
    t.close()
    other.close()


def test_export_then_import_gives_the_same_outlets_and_feeds(
    tmp_path: Path, clock: ManualClock
) -> None:
    source = tracker_at(tmp_path / "source", clock)
    source.import_opml(SUBSCRIPTIONS)
    exported = source.export_opml()
    # into a database whose config.yaml has no outlets at all
    target = tracker_at(tmp_path / "target", clock, f"database: {{db}}\narticles:\n  - {ARTICLE}\n")
    plan = target.import_opml(exported)
    assert {p.action for p in plan} == {"add"}
    assert stored_feeds(target) == stored_feeds(source)
    # the sitemap stays a sitemap and keeps its note
    assert (
        "https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml",
        "Reuters",
        "sitemap",
        "news sitemap (no public RSS)",
    ) in stored_feeds(target)
    # and its export is the same document
    assert target.export_opml() == exported
    source.close()
    target.close()


def test_export_is_opml_2_with_outlets_as_outlines(tmp_path: Path, clock: ManualClock) -> None:
    t = tracker_at(tmp_path / "a", clock)
    t.import_opml(SUBSCRIPTIONS)
    t.enable_feed(next(f.id for f in t.feeds() if "apnews" in f.url), False)
    root = etree.fromstring(t.export_opml())
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/dateCreated") == "Tue, 19 Aug 2025 12:00:00 GMT"
    outlets = root.findall("body/outline")
    # one outline per outlet, in the order feeds list shows them
    enabled = [f.outlet for f in t.feeds() if f.enabled]
    assert [o.get("text") for o in outlets] == list(dict.fromkeys(enabled))
    dw = next(o for o in outlets if o.get("text") == "DW")
    assert dw.get("htmlUrl") == "https://www.dw.com/en/"
    (feed,) = dw.findall("outline")
    assert dict(feed.attrib) == {
        "type": "rss",
        "text": "DW",
        "title": "DW",
        "xmlUrl": "https://rss.dw.com/rdf/rss-en-all",
        "htmlUrl": "https://www.dw.com/en/",
    }
    reuters = next(o for o in outlets if o.get("text") == "Reuters")
    assert reuters.find("outline").get("type") == "sitemap"
    exported = {o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")}
    assert "https://apnews.com/index.rss" not in exported  # disabled
    everything = etree.fromstring(t.export_opml(include_disabled=True))
    assert "https://apnews.com/index.rss" in {o.get("xmlUrl") for o in everything.iter("outline")}
    t.close()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"", "not an OPML file: not well-formed XML"),
        (b"name,url\nDW,https://rss.dw.com/rdf/rss-en-all\n", "not well-formed XML"),
        (
            (
                DATA.parent.parent / "tracker/demo_data/replay/guardian-world-20250819.xml"
            ).read_bytes(),
            "not an OPML file: its root element is <rss>, not <opml>",
        ),
        (b'<opml version="2.0"><head/><body/></opml>', "no feeds in it"),
        (
            b'<opml><body><outline text="Bookmarks" url="https://example.org/"/></body></opml>',
            "no feeds in it (no <outline> with an xmlUrl)",
        ),
        # billion laughs, in an attribute, where libxml2 would expand it
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><opml><body>'
            b'<outline text="&b;" xmlUrl="https://example.org/rss"/></body></opml>',
            "refused: it declares XML entities",
        ),
        # an external entity reading a local file
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<opml><body><outline text="&x;" xmlUrl="https://example.org/rss"/></body></opml>',
            "refused: it declares XML entities",
        ),
    ],
    ids=["empty", "csv", "rss", "no-body-feeds", "bookmarks-only", "laughs", "xxe"],
)
def test_a_file_that_is_no_opml_is_refused_with_one_line(document: bytes, message: str) -> None:
    with pytest.raises(OPMLError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        read_opml(document, "subs.opml")
    assert str(info.value).startswith("subs.opml: ")
    assert "\n" not in str(info.value)


def test_opml_parsing_reaches_no_server(server: FeedServer) -> None:
    dtd = server.add("/evil.dtd", b'<!ENTITY x "pwned">', content_type="application/xml-dtd")
    document = (
        f'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "{dtd}">'
        '<opml version="2.0"><body><outline text="DW" xmlUrl="https://rss.dw.com/rdf/rss-en-all"/>'
        "</body></opml>"
    ).encode()
    (feed,) = read_opml(document)
    assert feed.name == "DW"
    assert server.hits("/evil.dtd") == 0


def test_feeds_import_and_export_in_the_cli(tmp_path: Path, clock: ManualClock) -> None:
    tracker_at(tmp_path, clock).close()
    config = str(tmp_path / "config.yaml")
    run = CliRunner().invoke
    dry = run(cli, ["-c", config, "feeds", "import", str(SUBSCRIPTIONS), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert lines[0] == "result\toutlet\turl\treason"
    assert lines[1] == "would add\tDW\thttps://rss.dw.com/rdf/rss-en-all\t"
    assert lines[-1] == (
        "skipped\tOld podcast\tfeed://feeds.example.org/podcast.xml\t"
        "URL must be an http:// or https:// URL"
    )
    assert dry.stderr == f"9 feeds in {SUBSCRIPTIONS}: 7 would add, 1 already there, 1 skipped\n"
    assert len(json.loads(run(cli, ["-c", config, "feeds", "list", "--json"]).output)) == 2
    done = run(cli, ["-c", config, "feeds", "import", "-"], input=SUBSCRIPTIONS.read_bytes())
    assert done.exit_code == 0, done.output
    assert done.stderr == "9 feeds in -: 7 added, 1 already there, 1 skipped\n"
    assert len(json.loads(run(cli, ["-c", config, "feeds", "list", "--json"]).output)) == 9
    # export to stdout and to a file: the same document
    out = run(cli, ["-c", config, "feeds", "export"])
    assert out.exit_code == 0 and out.stdout_bytes.startswith(b"<?xml version='1.0' encoding")
    written = run(cli, ["-c", config, "feeds", "export", "-o", str(tmp_path / "feeds.opml")])
    assert written.exit_code == 0, written.output
    # the same but for the time each was made (the CLI's clock is the system's)
    created = re.compile(rb"<dateCreated>[^<]*</dateCreated>")
    assert created.sub(b"", (tmp_path / "feeds.opml").read_bytes()) == created.sub(
        b"", out.stdout_bytes
    )
    assert len(read_opml(out.stdout_bytes)) == 9
    # errors are one line
    bad = run(cli, ["-c", config, "feeds", "import", str(ARTICLE)])
    assert bad.exit_code == 1
    assert bad.output.startswith(f"Error: {ARTICLE}: not an OPML file: not well-formed XML (")
    assert bad.output.count("\n") == 1
    missing = run(cli, ["-c", config, "feeds", "import", str(tmp_path / "none.opml")])
    assert missing.exit_code == 1
    assert (
        missing.output
        == f"Error: {tmp_path / 'none.opml'}: cannot read it: No such file or directory\n"
    )
