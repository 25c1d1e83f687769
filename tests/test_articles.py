"""Reading original articles: the plain-text seed and real saved HTML pages."""

from __future__ import annotations

import gzip
import random

import pytest

from tracker.config import load_config
from tracker.errors import ArticleError
from tracker.ingest.articles import cited_outlets, read_article

from .conftest import ARTICLE, DATA
from .test_config import ROOT

OUTLETS = load_config(ROOT / "config.yaml").outlets


def test_seed_article_title_outlets_and_terms() -> None:
    draft = read_article(ARTICLE.read_bytes(), location=str(ARTICLE))
    assert draft.title == (
        "The Shifting Sands of Support: Europe and the US Weigh Military Options for Ukraine"
    )
    assert draft.published_at is None  # the text gives no date
    cited = {c.outlet: c.evidence for c in cited_outlets(draft, OUTLETS)}
    assert cited == {
        "Reuters": 'named "Reuters"',
        "The Guardian": 'named "The Guardian"',
        "DW": 'named "DW"',
        "Bloomberg": 'named "Bloomberg.com"',
        "Euronews": 'named "Euronews.com"',
    }


def test_html_page_gives_title_date_canonical_url_and_links() -> None:
    page = DATA / "pages" / "nyt-world-africa-sudan-sanctions-20170113.html"
    draft = read_article(page.read_bytes(), content_type="text/html", location=str(page))
    assert draft.title == "United States to Lift Sudan Sanctions"
    assert draft.url == "https://www.nytimes.com/2017/01/13/world/africa/sudan-sanctions.html"
    assert draft.published_at is not None and draft.published_at.isoformat().startswith(
        "2017-01-13"
    )
    assert any("nytimes.com" in link for link in draft.links)
    assert "Sudan" in draft.text and "<" not in draft.text


def test_outlet_domains_in_links_count_as_citations() -> None:
    page = DATA / "pages" / "guardian-environment-maori-whale-strandings-20190103.html"
    draft = read_article(page.read_bytes(), content_type="text/html")
    cited = {c.outlet: c.evidence for c in cited_outlets(draft, OUTLETS)}
    assert cited.get("The Guardian", "").startswith(("named", "links to theguardian.com"))


def test_names_inside_other_words_are_not_citations() -> None:
    draft = read_article(b"Title\n\nThe DWELLING was built by a reutersville bloomberger.")
    assert cited_outlets(draft, OUTLETS) == []


@pytest.mark.parametrize("data", [b"", b"  \n  "])
def test_empty_article_is_an_error(data: bytes) -> None:
    with pytest.raises(ArticleError, match="empty"):
        read_article(data, location="x.txt")


SEED_TEXT = ARTICLE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "data",
    [
        random.Random(0).randbytes(4096),
        gzip.compress(ARTICLE.read_bytes()),  # the article, compressed
        SEED_TEXT.encode("utf-16-le"),  # UTF-16 without a byte-order mark
        (DATA / "pages" / "bbc-news-world-us-canada-33646704-2015.html")
        .read_text(encoding="utf-8")
        .encode("utf-32-be"),
    ],
    ids=["random", "gzip", "utf-16-unmarked", "utf-32-unmarked"],
)
def test_binary_or_undecodable_files_are_not_articles(data: bytes) -> None:
    with pytest.raises(ArticleError, match=r"x\.txt: not a text or HTML file"):
        read_article(data, location="x.txt")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_reads_as_utf8_does(encoding: str) -> None:
    data = SEED_TEXT.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    assert read_article(data) == read_article(SEED_TEXT.encode("utf-8"))


def test_page_with_no_text_is_an_error() -> None:
    page = DATA / "handmade" / "script-app-shell-handmade.html"
    with pytest.raises(ArticleError, match="no text found"):
        read_article(page.read_bytes(), content_type="text/html", location=str(page))
