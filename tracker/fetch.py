"""Safe HTTP for feeds: one GET with conditional headers, redirects followed by hand.

Following redirects by hand lets every hop be checked (scheme, address, hop count) and lets the
caller learn whether the whole chain was permanent. The body is read as a stream, so the
decoded-size cap and the per-feed deadline hold even against a gzip bomb or a trickling server.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import httpx

from .config import FetchSettings
from .errors import (
    BlockedURLError,
    ConnectionFailedError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    TooLargeError,
    TooManyRedirectsError,
)
from .models import FetchedFeed

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}
#: host names that are numbers in some notation (decimal, octal, hex, short dotted forms)
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\.?$", re.I)

Resolver = Callable[[str, int], list[str]]


def make_client(settings: FetchSettings) -> httpx.Client:
    """One client per process: keeps connections to the outlets alive across feeds."""
    return httpx.Client(
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
        follow_redirects=False,
        # proxies or certificates from the environment must not redirect feed traffic
        trust_env=False,
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    )


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
    all_permanent = True
    for _hop in range(settings.max_redirects + 1):
        check_url(url, settings.allow_private_networks, resolver or resolve)
        try:
            with client.stream(
                "GET", url, headers=headers, timeout=_timeout(settings, deadline)
            ) as r:
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
                    permanent_url=url if all_permanent and _hop else None,
                    elapsed=time.monotonic() - started,
                )
        except httpx.TimeoutException as exc:
            raise FetchTimeoutError(_timeout_message(exc, settings, deadline)) from None
        except httpx.DecodingError as exc:
            raise FetchError(f"cannot decode response body: {exc}") from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise ConnectionFailedError(
                f"{type(exc).__name__}: {exc or 'connection failed'}"
            ) from None
    raise TooManyRedirectsError(f"more than {settings.max_redirects} redirects (last: {url})")


def _read_body(response: httpx.Response, settings: FetchSettings, deadline: float) -> bytes:
    cap = settings.max_body_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and "content-encoding" not in response.headers:
        raise TooLargeError(f"body of {int(declared):,} bytes exceeds the {cap:,}-byte cap")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise TooLargeError(f"decoded body exceeds the {cap:,}-byte cap")
        if time.monotonic() > deadline:
            raise FetchTimeoutError(f"feed took longer than the {settings.deadline:g}s deadline")
        chunks.append(chunk)
    return b"".join(chunks)


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
