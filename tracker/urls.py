"""The http(s) URLs a user gives: what makes one unusable, and the form feeds are known by.

config.yaml (``config._url``) and the command line check URLs with the same ``url_problem``, so
the two accept the same URLs. Pure functions, standard library only (config loading imports
this module).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be polled or fetched, as a phrase ("must name a host"), or None.

    Besides the scheme and a host: no whitespace or control characters anywhere, a port from 1
    to 65535, and no user name or password, which would be stored in the database and shown in
    plain text by ``feeds list``, logs and digests.
    """
    if not url.strip():
        return "must not be empty: give an http:// or https:// URL"
    if not url.lower().startswith(("http://", "https://")):
        return "must be an http:// or https:// URL"
    for char in url:
        if char.isspace() or not char.isprintable():
            return f"must not contain {_char_name(char)}"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [IPv6 address
        return f"is not a valid URL ({exc})"
    if not parts.hostname:
        return "must name a host"
    try:
        port = parts.port
    except ValueError:
        port = -1  # not a number, or out of range
    if port is not None and not 0 < port < 65536:
        # urlsplit's own words ("Port out of range 0-65535") name neither the port nor the fix
        given = parts.netloc.rpartition(":")[2]
        return f"must have a port from 1 to 65535, not {given!r}"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password (it would be stored and shown as text)"
    return None


def redacted(url: str) -> str:
    """``url`` for an error message, which may end up in a log: any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}{rest[len(authority) :]}"


def _char_name(char: str) -> str:
    names = {"\t": "a tab", "\n": "a line break", "\r": "a line break"}
    return names.get(char) or ("a space" if char.isspace() else "a control character")


def feed_url(url: str) -> str:
    """The form a feed is stored and known by: two spellings of one feed are one feed.

    Scheme and host lower-case, no default port, no fragment (never sent to the server), "/" for
    an empty path. Unlike ``canonical_url`` the query stays as given: a feed's parameters
    (format=rss, a search) select the feed. A URL that does not parse is returned as it is.
    """
    try:
        parts = urlsplit(url)
        scheme, netloc = normal_authority(parts)
    except ValueError:
        return url
    userinfo, at, _ = parts.netloc.rpartition("@")
    return urlunsplit((scheme, userinfo + at + netloc, parts.path or "/", parts.query, ""))


def normal_authority(parts: SplitResult) -> tuple[str, str]:
    """Scheme and host:port of a split URL in one form: lower case, no trailing dot on the
    host, no default port, IPv6 in brackets. Raises ValueError for a port that is no number."""
    scheme = parts.scheme.lower()
    port = parts.port
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"  # IPv6: hostname drops the brackets
    default_port = {"http": 80, "https": 443}.get(scheme)
    return scheme, host if port in (None, default_port) else f"{host}:{port}"
