"""The http(s) URLs a user gives: the form feeds are known by.

Pure functions, standard library only (config loading imports this module).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def feed_url(url: str) -> str:
    """The form a feed is stored and known by: two spellings of one feed are one feed.

    Scheme and host lower-case, no default port, no fragment (never sent to the server), "/" for
    an empty path. Unlike ``canonical_url`` the query stays as given: a feed's parameters
    (format=rss, a search) select the feed. A URL that does not parse is returned as it is.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"  # IPv6: hostname drops the brackets
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    return urlunsplit((scheme, userinfo + at + netloc, parts.path or "/", parts.query, ""))
