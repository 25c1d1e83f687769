"""Safe HTTP for feeds: one GET with conditional headers, redirects followed by hand.

Following redirects by hand lets every hop be checked (scheme, address, hop count) and lets the
caller learn whether the whole chain was permanent. The body is read raw and decompressed here in
bounded pieces, so the decoded-size cap holds in memory too, even against a gzip bomb. Every socket
wait ends at the feed's overall deadline (see ``FeedClient``), so a server that trickles its
headers or body is cut on time.
"""

from __future__ import annotations

import http.cookiejar
import ipaddress
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from ..config import FetchSettings
from ..errors import (
    BlockedURLError,
    ConnectionFailedError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    TooLargeError,
    TooManyRedirectsError,
)
from ..models import FetchedFeed
from ..urls import feed_url, url_problem

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}
#: host names that are numbers in some notation (decimal, octal, hex, short dotted forms)
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\.?$", re.I)

#: encodings the body reader decompresses itself (and so the only ones offered)
ACCEPT_ENCODING = "gzip, deflate"
#: largest piece one compressed chunk may expand to at a time
_PIECE = 1 << 20
#: the most response header bytes (status line and header lines) taken from a server; real
#: servers send a few kB, and proxies in front of them refuse more than 8 to 32 kB. httpcore's
#: parser refuses 100 KiB that have not ended yet; between the two the tracker refuses them
MAX_HEADER_BYTES = 64 * 1024

Resolver = Callable[[str, int], list[str]]


def make_client(settings: FetchSettings) -> httpx.Client:
    """One client per process: keeps connections to the outlets alive across feeds."""
    return FeedClient(settings)


class Deadlines(threading.local):
    """The overall deadline (``time.monotonic()`` seconds) of the fetch running on each thread."""

    until: float | None = None

    def cap(self, timeout: float | None, error: type[Exception]) -> float | None:
        """A socket timeout shortened to what is left before the deadline."""
        if self.until is None:
            return timeout
        left = self.until - time.monotonic()
        if left <= 0:
            raise error("the feed's overall deadline has passed")
        return left if timeout is None else min(timeout, left)


class FeedClient(httpx.Client):
    """An httpx client whose every socket wait ends at the deadline of the feed being fetched.

    httpx applies its read timeout to each socket read, so a server that sends its status line
    and headers a byte every few seconds would hold a worker for hours. Here the connection pool
    runs on a network backend that caps each wait with the calling thread's ``deadlines.until``,
    which ``safe_get`` sets.
    """

    def __init__(self, settings: FetchSettings) -> None:
        self.deadlines = Deadlines()
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        transport = httpx.HTTPTransport(trust_env=False, limits=limits)
        # httpx has no option for the network backend; its httpcore pool is rebuilt with ours
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(self.deadlines),
        )
        super().__init__(
            headers={
                "User-Agent": settings.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            follow_redirects=False,
            # proxies or certificates from the environment must not redirect feed traffic
            trust_env=False,
            transport=transport,
            # no cookies kept: one feed's Set-Cookie would go out with every later request to
            # that host, for other feeds too (a 100 kB cookie made the server refuse them all)
            cookies=http.cookiejar.CookieJar(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
        )


class _DeadlineBackend(httpcore.SyncBackend):
    def __init__(self, deadlines: Deadlines) -> None:
        self.deadlines = deadlines

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = self.deadlines.cap(timeout, httpcore.ConnectTimeout)
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self.deadlines)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadlines: Deadlines) -> None:
        self._stream = stream
        self._deadlines = deadlines

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadlines.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadlines.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = self._deadlines.cap(timeout, httpcore.ConnectTimeout)
        stream = self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _DeadlineStream(stream, self._deadlines)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def safe_get(
    client: httpx.Client,
    url: str,
    settings: FetchSettings,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    resolver: Resolver | None = None,
) -> FetchedFeed:
    started = time.monotonic()
    deadline = started + settings.deadline
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    # only a FeedClient enforces the deadline while waiting on a socket; others time out per read
    deadlines = getattr(client, "deadlines", None)
    if deadlines is not None:
        deadlines.until = deadline
    try:
        return _get(client, url, settings, headers, resolver, started)
    finally:
        if deadlines is not None:
            deadlines.until = None


def _get(
    client: httpx.Client,
    url: str,
    settings: FetchSettings,
    headers: dict[str, str],
    resolver: Resolver | None,
    started: float,
) -> FetchedFeed:
    deadline = started + settings.deadline
    all_permanent = True
    for _hop in range(settings.max_redirects + 1):
        check_url(url, settings.allow_private_networks, resolver or resolve)
        try:
            with closing(_send(client, url, headers, _timeout(settings, deadline))) as r:
                _check_header_size(r)
                if r.status_code in _REDIRECTS and r.headers.get("location"):
                    all_permanent = all_permanent and r.status_code in _PERMANENT
                    url = urljoin(url, r.headers["location"])
                    continue
                if r.status_code not in (200, 304):
                    raise HTTPStatusError(
                        f"HTTP {r.status_code} {r.reason_phrase}".strip(),
                        r.status_code,
                        r.headers.get("retry-after"),
                    )
                content = _read_body(r, settings, deadline) if r.status_code == 200 else b""
                return FetchedFeed(
                    url=url,
                    status=r.status_code,
                    headers={k.lower(): v for k, v in r.headers.items()},
                    content=content,
                    permanent_url=_movable(url) if all_permanent and _hop else None,
                    elapsed=time.monotonic() - started,
                )
        except httpx.TimeoutException as exc:
            raise FetchTimeoutError(_timeout_message(exc, settings, deadline)) from None
        except httpx.DecodingError as exc:
            raise FetchError(f"cannot decode response body: {exc}") from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            if "Receive buffer too long" in str(exc):  # the HTTP parser's limit (100 KiB)
                raise TooLargeError(_HEADERS_TOO_LARGE) from None
            raise ConnectionFailedError(
                f"{type(exc).__name__}: {exc or 'connection failed'}"
            ) from None
    raise TooManyRedirectsError(f"more than {settings.max_redirects} redirects (last: {url})")


def _movable(url: str) -> str | None:
    """Where a feed may move after a permanent redirect: the target in the form feeds are
    stored in (no fragment: two spellings of another feed's URL are that feed, and the store
    refuses a second one), or None when config.yaml would refuse it (a password)."""
    return None if url_problem(url) else feed_url(url)


_HEADERS_TOO_LARGE = f"the response's headers exceed the {MAX_HEADER_BYTES // 1024} KiB limit"


def _check_header_size(response: httpx.Response) -> None:
    # each line as sent: "Name: value" and CRLF, after the status line
    size = (
        len(response.reason_phrase)
        + 15
        + sum(len(name) + len(value) + 4 for name, value in response.headers.raw)
    )
    if size > MAX_HEADER_BYTES:
        raise TooLargeError(f"{_HEADERS_TOO_LARGE} ({size:,} bytes)")


def _send(
    client: httpx.Client, url: str, headers: dict[str, str], timeout: httpx.Timeout
) -> httpx.Response:
    """GET with the body left unread; one retry when the connection fails before a response.

    A kept-alive connection may have been closed by the server meanwhile, or poisoned by an
    earlier response that sent more bytes than its Content-Length said (the surplus would be read
    as the next status line). httpx discards a connection that failed, so the retry goes out on a
    fresh one and another feed's lying server does not fail this feed.
    """
    try:
        return client.send(
            client.build_request("GET", url, headers=headers, timeout=timeout), stream=True
        )
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        if "Receive buffer too long" in str(exc):
            raise  # the headers were too large: asking again would only read them again
        return client.send(
            client.build_request("GET", url, headers=headers, timeout=timeout), stream=True
        )


def _read_body(response: httpx.Response, settings: FetchSettings, deadline: float) -> bytes:
    cap = settings.max_body_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and "content-encoding" not in response.headers:
        raise TooLargeError(f"body of {int(declared):,} bytes exceeds the {cap:,}-byte cap")
    chunks: list[bytes] = []
    size = 0
    encoding = response.headers.get("content-encoding", "")
    for chunk in _decoded(response.iter_raw(), encoding):
        size += len(chunk)
        if size > cap:
            raise TooLargeError(f"decoded body exceeds the {cap:,}-byte cap")
        if time.monotonic() > deadline:
            raise FetchTimeoutError(f"feed took longer than the {settings.deadline:g}s deadline")
        chunks.append(chunk)
    return b"".join(chunks)


def _decoded(raw: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """The body decoded per Content-Encoding, in pieces of at most ``_PIECE`` bytes.

    httpx would inflate each network read whole: 64 KiB of a gzip bomb become 64 MiB at once.
    Inflating in bounded pieces lets the caller's size cap stop it with memory flat. A gzip body
    may hold several members one after the other (RFC 1952; ``cat a.gz b.gz``): each is decoded,
    and, as gzip(1) does, zero padding or other bytes after the last are ignored. Any corrupt
    data, also in the raw-deflate retry, is a ``FetchError``.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        yield from raw
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported Content-Encoding {encoding!r}")
    try:
        yield from _inflated(raw, gzip="gzip" in encoding)
    except zlib.error as exc:
        raise FetchError(f"cannot decode response body: {exc}") from None


_GZIP_MAGIC = b"\x1f\x8b"


def _inflated(raw: Iterable[bytes], *, gzip: bool) -> Iterator[bytes]:
    wbits = zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    first = True
    for data in raw:
        while data:
            if inflater.eof:
                # a member ended: another may follow (gzip only; a zlib stream has one end)
                data = data.lstrip(b"\0")
                if not gzip or not data:
                    break
                if not data.startswith(_GZIP_MAGIC[: len(data)]):
                    return  # trailing garbage after a complete member
                inflater = zlib.decompressobj(wbits)
            try:
                piece = inflater.decompress(data, _PIECE)
            except zlib.error:
                if not (first and not gzip):
                    raise
                # some servers send raw deflate without the zlib header HTTP asks for
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                piece = inflater.decompress(data, _PIECE)
            first = False
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            yield piece


def _timeout(settings: FetchSettings, deadline: float) -> httpx.Timeout:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchTimeoutError(f"feed took longer than the {settings.deadline:g}s deadline")
    return httpx.Timeout(
        connect=min(settings.connect_timeout, remaining),
        read=min(settings.read_timeout, remaining),
        write=min(settings.read_timeout, remaining),
        pool=min(settings.connect_timeout, remaining),
    )


def _timeout_message(exc: httpx.TimeoutException, settings: FetchSettings, deadline: float) -> str:
    if time.monotonic() >= deadline - 0.05:
        return f"feed took longer than the {settings.deadline:g}s deadline"
    phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
    return f"{phase} timeout"


# --- address policy ----------------------------------------------------------------------------


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectionFailedError(f"cannot resolve host {host!r}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def check_url(url: str, allow_private: bool, resolver: Resolver = resolve) -> None:
    """Raise BlockedURLError unless the URL is http(s) to a public address.

    Known limit: the name is resolved here and again by the HTTP client, so a DNS server that
    answers differently the second time (rebinding) is not caught.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedURLError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedURLError(f"only http and https URLs are fetched, not {parts.scheme or '?'}:")
    host = parts.hostname or ""
    if not host:
        raise BlockedURLError(f"URL has no host: {url!r}")
    if allow_private:
        return
    if _NUMERIC_HOST.match(host) and not _is_dotted_quad(host):
        raise BlockedURLError(f"numeric host name {host!r} refused")
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    addresses = [host] if _is_ip(host) else resolver(host, port)
    for address in addresses:
        reason = non_public_reason(address)
        if reason:
            raise BlockedURLError(
                f"{host} resolves to {reason} address {address} "
                "(set fetch.allow_private_networks: true to allow)"
            )


def non_public_reason(address: str) -> str | None:
    """Why an address is not public ("loopback", "private", …), or None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None:
            return non_public_reason(str(mapped)) or None
    for attribute in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{attribute}"):
            return attribute.replace("_", "-")
    if not ip.is_global:
        return "non-global (e.g. carrier-grade NAT)"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _is_dotted_quad(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True
