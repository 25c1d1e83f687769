"""Safe HTTP against a real server on 127.0.0.1: validators, redirects, limits, address policy."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from tracker.config import FetchSettings
from tracker.demo.localserver import FeedServer, send_status
from tracker.errors import (
    BlockedURLError,
    FetchTimeoutError,
    HTTPStatusError,
    TooLargeError,
    TooManyRedirectsError,
)
from tracker.ingest.fetch import check_url, make_client, non_public_reason, safe_get

from .conftest import REPLAY

FEED = (REPLAY / "guardian-world-20250819.xml").read_bytes()
LOCAL = FetchSettings(
    allow_private_networks=True,
    deadline=3,
    read_timeout=1,
    connect_timeout=1,
    max_body_bytes=1_000_000,
)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(LOCAL) as c:
        yield c


def redirect(to: str, status: int = 301):
    def behaviour(h: BaseHTTPRequestHandler) -> None:
        send_status(h, status, {"Location": to})

    return behaviour


def test_200_then_304_with_stored_validators(server: FeedServer, client: httpx.Client) -> None:
    url = server.add("/feed.xml", FEED, last_modified="Tue, 19 Aug 2025 23:37:18 GMT")
    first = safe_get(client, url, LOCAL)
    assert first.status == 200 and first.content == FEED
    assert first.headers["etag"] and first.headers["last-modified"]
    second = safe_get(
        client, url, LOCAL, etag=first.headers["etag"], last_modified=first.headers["last-modified"]
    )
    assert second.not_modified and second.content == b""
    assert server.requests[-1][1]["if-none-match"] == first.headers["etag"]


def test_user_agent_identifies_the_tracker(server: FeedServer, client: httpx.Client) -> None:
    safe_get(client, server.add("/feed.xml", FEED), LOCAL)
    assert server.requests[-1][1]["user-agent"].startswith("tracker/")


def test_permanent_redirect_chain_reports_new_url(server: FeedServer, client: httpx.Client) -> None:
    final = server.add("/new.xml", FEED)
    server.add("/mid", redirect("/new.xml", 308))
    result = safe_get(client, server.add("/old", redirect(server.url("/mid"))), LOCAL)
    assert result.content == FEED and result.permanent_url == final


def test_temporary_hop_means_no_permanent_url(server: FeedServer, client: httpx.Client) -> None:
    server.add("/new.xml", FEED)
    server.add("/mid", redirect("/new.xml", 302))
    result = safe_get(client, server.add("/old", redirect("/mid")), LOCAL)
    assert result.status == 200 and result.permanent_url is None


def test_redirect_loop_and_too_many_hops(server: FeedServer, client: httpx.Client) -> None:
    server.add("/a", redirect("/b"))
    server.add("/b", redirect("/a"))
    with pytest.raises(TooManyRedirectsError):
        safe_get(client, server.url("/a"), LOCAL)
    for i in range(6):
        server.add(f"/hop{i}", redirect(f"/hop{i + 1}", 302))
    server.add("/hop6", FEED)
    with pytest.raises(TooManyRedirectsError, match="more than 5"):
        safe_get(client, server.url("/hop0"), LOCAL)
    assert safe_get(client, server.url("/hop1"), LOCAL).content == FEED


@pytest.mark.parametrize("status", [404, 410, 500])
def test_error_statuses(server: FeedServer, client: httpx.Client, status: int) -> None:
    url = server.add("/x", lambda h: send_status(h, status))
    with pytest.raises(HTTPStatusError) as info:
        safe_get(client, url, LOCAL)
    assert info.value.status == status
    assert info.value.hard is (status in (404, 410))


def test_retry_after_is_kept(server: FeedServer, client: httpx.Client) -> None:
    url = server.add("/x", lambda h: send_status(h, 429, {"Retry-After": "120"}))
    with pytest.raises(HTTPStatusError) as info:
        safe_get(client, url, LOCAL)
    assert info.value.retry_after == "120"


def test_server_that_never_answers_is_cut_by_the_deadline(
    server: FeedServer, client: httpx.Client
) -> None:
    url = server.add("/hang", lambda h: time.sleep(10))
    started = time.monotonic()
    with pytest.raises(FetchTimeoutError):
        safe_get(client, url, LOCAL)
    # the read timeout (1 s) cuts it; the bound is loose for a loaded machine
    assert time.monotonic() - started < 5


def test_trickling_server_is_cut_by_the_overall_deadline(
    server: FeedServer, client: httpx.Client
) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100):
            try:
                h.wfile.write(b"<")
                h.wfile.flush()
            except OSError:
                return
            time.sleep(0.2)

    settings = FetchSettings(allow_private_networks=True, deadline=1.5, read_timeout=1)
    started = time.monotonic()
    with pytest.raises(FetchTimeoutError, match="deadline"):
        safe_get(client, server.add("/slow", trickle), settings)
    # the whole body would take 20 s; the 1.5 s deadline stops it (loose bound under load)
    assert time.monotonic() - started < 6


def test_oversize_body_is_refused(server: FeedServer, client: httpx.Client) -> None:
    url = server.add("/big", FEED * 40)
    with pytest.raises(TooLargeError):
        safe_get(client, url, LOCAL)


def test_gzip_bomb_is_stopped_at_the_decoded_cap(server: FeedServer, client: httpx.Client) -> None:
    bomb = gzip.compress(b"\0" * 200_000_000, compresslevel=9)
    assert len(bomb) < 300_000
    url = server.add("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(TooLargeError, match="decoded"):
        safe_get(client, url, LOCAL)


def test_private_address_refused_unless_allowed(server: FeedServer, client: httpx.Client) -> None:
    url = server.add("/feed.xml", FEED)
    with pytest.raises(BlockedURLError, match="loopback"):
        safe_get(client, url, FetchSettings())
    assert server.hits("/feed.xml") == 0


def test_redirect_to_a_private_address_is_refused(server: FeedServer, client: httpx.Client) -> None:
    server.add("/feed.xml", FEED)
    start = server.add("/start", redirect(server.url("/feed.xml"), 302))
    # the first host is made to look public to the policy; the redirect target is a loopback IP
    looks_public = start.replace("127.0.0.1", "localhost")
    with pytest.raises(BlockedURLError):
        safe_get(
            client, looks_public, FetchSettings(), resolver=lambda host, port: ["93.184.216.34"]
        )
    assert server.hits("/start") == 1 and server.hits("/feed.xml") == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/feed",  # decimal 127.0.0.1
        "http://0x7f000001/feed",
        "http://0177.0.0.1/feed",
        "http://127.1/feed",
        "http://[::1]/feed",
        "http://[::ffff:127.0.0.1]/feed",
        "http://[::ffff:10.0.0.1]/feed",
        "http://10.1.2.3/feed",
        "http://192.168.0.1/feed",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/feed",
        "http://0.0.0.0/feed",
        "file:///etc/passwd",
        "ftp://ftp.example.com/feed.xml",
        "gopher://x/",
    ],
)
def test_non_public_and_non_http_urls_are_blocked(url: str) -> None:
    with pytest.raises(BlockedURLError):
        check_url(url, allow_private=False, resolver=lambda host, port: ["93.184.216.34"])


def test_names_resolving_to_private_addresses_are_blocked() -> None:
    with pytest.raises(BlockedURLError, match="private"):
        check_url("https://intranet.example/", False, lambda host, port: ["10.0.0.8"])
    check_url("https://news.example/", False, lambda host, port: ["93.184.216.34"])


def test_public_addresses_pass() -> None:
    assert non_public_reason("93.184.216.34") is None
    assert non_public_reason("2606:2800:220:1:248:1893:25c8:1946") is None
    assert non_public_reason("::ffff:192.168.1.1") == "private"
