"""config.yaml → frozen dataclasses.

Every bad value raises ``ConfigError`` with one line naming the file, line and dotted key, e.g.
``config.yaml:31: polling.interval: expected a duration such as 15m or 900, got 'soon'``.
Unknown keys are errors too, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .configfile import LineDict, LineLoader, Section, shown
from .errors import ConfigError
from .files import special_file_kind
from .models import FeedSource, Outlet
from .urls import feed_url, redacted, url_problem

DEFAULT_CONFIG = Path("config.yaml")
ENV_VAR = "TRACKER_CONFIG"
USER_AGENT = "tracker/0.1 (news coverage tracker; +https://github.com/tracker-news/tracker)"


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    #: overall wall-clock budget for one feed, redirects and body included
    deadline: float = 60.0
    max_body_bytes: int = 10_000_000
    max_redirects: int = 5
    allow_private_networks: bool = False
    user_agent: str = USER_AGENT
    per_host_concurrency: int = 2
    per_host_gap: float = 1.0


@dataclass(frozen=True)
class PollingSettings:
    interval: int = 900
    min_interval: int = 300
    max_interval: int = 6 * 3600
    backoff_base: int = 300
    backoff_max: int = 24 * 3600
    #: consecutive hard failures (404, not a feed) before a feed is disabled
    disable_after: int = 5
    dispatch_every: int = 60
    workers: int = 4
    grace_period: float = 10.0


@dataclass(frozen=True)
class RelevanceSettings:
    threshold: float = 0.3
    story_threshold: float = 0.35
    #: the newest items the models learn from, which the tracker also keeps tokenised in memory
    recent_items: int = 10_000


@dataclass(frozen=True)
class ArticleSource:
    """A tracked article: a local file or a URL, with optional per-article tuning."""

    location: str
    include_terms: tuple[str, ...] = ()
    exclude_terms: tuple[str, ...] = ()
    threshold: float | None = None
    story_threshold: float | None = None
    #: Apprise URLs to alert (one per target) when coverage of this article arrives
    alerts: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertSettings:
    """How alerts are sent; the targets are set per article."""

    #: the most one cycle's alerts may take; what has not gone by then is retried next cycle
    timeout: float = 10.0
    #: an alert still undelivered this long after it was due is given up (and logged)
    retry_for: float = 24 * 3600.0
    #: items listed in one message; more are counted, not listed
    max_items: int = 20


@dataclass(frozen=True)
class DigestSettings:
    directory: Path = Path("digests")
    time: str = "07:00"
    keep: int = 30
    #: where the digest directory is published, if anywhere: links and self link of the feed
    base_url: str | None = None


@dataclass(frozen=True)
class Config:
    path: Path
    database: Path
    timezone: str = "UTC"
    articles: tuple[ArticleSource, ...] = ()
    outlets: tuple[Outlet, ...] = ()
    feeds: tuple[FeedSource, ...] = ()
    fetch: FetchSettings = field(default_factory=FetchSettings)
    polling: PollingSettings = field(default_factory=PollingSettings)
    relevance: RelevanceSettings = field(default_factory=RelevanceSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    def article_source(self, location: str) -> ArticleSource | None:
        """The configured article stored at ``location``, whichever spelling of its path either
        has (rows stored before paths were resolved may be relative)."""
        wanted = article_location(location)
        return next((a for a in self.articles if article_location(a.location) == wanted), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def lock_path(self) -> Path:
        """The service's lock file, beside the database file itself: reached through a symlink
        or another spelling of its path, one database still has one lock."""
        database = self.database.resolve()
        return database.with_name(database.name + ".lock")


def renamed_outlets(
    outlets: Sequence[Outlet], feeds: Sequence[FeedSource], owners: Mapping[str, str]
) -> dict[str, str]:
    """Outlets the file renamed: {stored name: new name}.

    ``owners`` maps each stored feed URL to its outlet's stored name. An outlet of the file that
    is not stored under its name, whose feeds all stored ones belong to one stored outlet the file
    no longer names, is that outlet renamed: it keeps its id, and so its items and their keys.
    """
    named = {o.name.casefold() for o in outlets}
    stored = {name.casefold() for name in owners.values()}
    renames: dict[str, str] = {}
    for outlet in outlets:
        if outlet.name.casefold() in stored:
            continue
        before = {owners[f.url] for f in feeds if f.outlet == outlet.name and f.url in owners}
        if len(before) == 1:
            (old,) = before
            if old.casefold() not in named and old not in renames:
                renames[old] = outlet.name
    return renames


def article_location(location: str) -> str:
    """How an article is known: a URL as given, a local file by its absolute, resolved path
    (so "uk.txt", "./uk.txt" and a symlink to it are one article)."""
    if location.lower().startswith(("http://", "https://")):
        return location
    return str(Path(location).resolve())


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """--config wins, then $TRACKER_CONFIG, then ./config.yaml."""
    if explicit is not None and not str(explicit).strip():
        # an empty --config is a mistake (an unset shell variable), not a wish for the default
        raise ConfigError("--config: the path is empty")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_VAR) or DEFAULT_CONFIG)


def load_config(path: Path, *, empty_ok: bool = True) -> Config:
    """Read and check config.yaml. An empty file (no settings) means every default, except
    with ``empty_ok=False`` (the service: a file emptied by a failed save is an error there,
    not a reason to reset every setting)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (use --config or ${ENV_VAR})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    return parse_config(text, path, empty_ok=empty_ok)


def parse_config(text: str, path: Path, *, empty_ok: bool = True) -> Config:
    try:
        root = yaml.load(text, Loader=LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        # PyYAML reads nested lists and mappings recursively: 50,000 "[" exhaust the stack
        raise ConfigError(
            f"{path}: not valid YAML: lists or mappings nested too deeply to read"
        ) from None
    if root is None:
        if not empty_ok:
            raise ConfigError(f"{path}: the file is empty (no settings, at most comments)")
        root = LineDict()
    top = Section(root, "", path)
    base = path.parent
    outlets, feeds = top.get("outlets", lambda v, s: _outlets(v, s), ((), ()))
    config = Config(
        path=path,
        database=top.get("database", _database(base), base / "db" / "tracker.db"),
        timezone=top.get("timezone", _timezone, "UTC"),
        articles=top.get("articles", lambda v, s: _articles(v, s, base), ()),
        outlets=outlets,
        feeds=feeds,
        fetch=top.section("fetch", _fetch),
        polling=top.section("polling", _polling),
        relevance=top.section("relevance", _relevance),
        digest=top.section("digest", lambda s: _digest(s, base)),
        alerts=top.section("alerts", _alerts),
    )
    top.finish()
    return config


# --- sections -------------------------------------------------------------------------------


def _fetch(s: Section) -> FetchSettings:
    d = FetchSettings()
    return FetchSettings(
        connect_timeout=s.get("connect_timeout", _seconds, d.connect_timeout),
        read_timeout=s.get("read_timeout", _seconds, d.read_timeout),
        deadline=s.get("deadline", _seconds, d.deadline),
        max_body_bytes=s.get("max_body_bytes", _size, d.max_body_bytes),
        max_redirects=s.get("max_redirects", _int_range(0, 20), d.max_redirects),
        allow_private_networks=s.get("allow_private_networks", _bool, d.allow_private_networks),
        user_agent=s.get("user_agent", _text, d.user_agent),
        per_host_concurrency=s.get(
            "per_host_concurrency", _int_range(1, 16), d.per_host_concurrency
        ),
        per_host_gap=s.get("per_host_gap", _seconds, d.per_host_gap),
    )


def _polling(s: Section) -> PollingSettings:
    d = PollingSettings()
    p = PollingSettings(
        interval=int(s.get("interval", _seconds, d.interval)),
        min_interval=int(s.get("min_interval", _seconds, d.min_interval)),
        max_interval=int(s.get("max_interval", _seconds, d.max_interval)),
        backoff_base=int(s.get("backoff_base", _seconds, d.backoff_base)),
        backoff_max=int(s.get("backoff_max", _seconds, d.backoff_max)),
        disable_after=s.get("disable_after", _int_range(1, 1000), d.disable_after),
        dispatch_every=int(s.get("dispatch_every", _seconds, d.dispatch_every)),
        workers=s.get("workers", _int_range(1, 64), d.workers),
        grace_period=s.get("grace_period", _seconds, d.grace_period),
    )
    if p.min_interval > p.max_interval:
        s.fail("min_interval", "must not be greater than polling.max_interval")
    if p.dispatch_every < 1:
        s.fail("dispatch_every", "must be at least 1s")
    return p


def _relevance(s: Section) -> RelevanceSettings:
    d = RelevanceSettings()
    return RelevanceSettings(
        threshold=s.get("threshold", _fraction, d.threshold),
        story_threshold=s.get("story_threshold", _fraction, d.story_threshold),
        recent_items=s.get("recent_items", _int_range(10, 1_000_000), d.recent_items),
    )


def _digest(s: Section, base: Path) -> DigestSettings:
    d = DigestSettings()
    return DigestSettings(
        directory=s.get("directory", _path(base), base / d.directory),
        time=s.get("time", _clock_time, d.time),
        keep=s.get("keep", _int_range(1, 3650), d.keep),
        base_url=_base_url(s.get("base_url", _url, None)),
    )


def _alerts(s: Section) -> AlertSettings:
    d = AlertSettings()
    settings = AlertSettings(
        timeout=s.get("timeout", _seconds, d.timeout),
        retry_for=s.get("retry_for", _seconds, d.retry_for),
        max_items=s.get("max_items", _int_range(1, 1000), d.max_items),
    )
    if not 0 < settings.timeout <= 300:
        s.fail("timeout", f"must be more than 0s and at most 5m, got {settings.timeout:g}s")
    return settings


def _alert_urls(value: Any, s: Section) -> tuple[str, ...]:
    """Apprise URLs, each one Apprise can use; the URL is never repeated in an error (it may
    hold a token or a password)."""
    urls = _text_list(value, s)
    for number, url in enumerate(urls, start=1):
        problem = alert_url_problem(url)
        if problem:
            s.fail(None, f"URL {number} of {len(urls)}: {problem}")
    return tuple(dict.fromkeys(urls))


def alert_url_problem(url: str) -> str | None:
    """Why Apprise cannot send to ``url``, naming only its scheme, or None."""
    # only a config with alerts pays for loading Apprise and its plugins
    from apprise import Apprise
    from apprise.manager_plugins import NotificationManager

    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if not scheme:
        return "expected an Apprise URL such as mailto://…, slack://…, ntfy://… or json://…"
    if scheme not in NotificationManager().schemas():
        return (
            f"Apprise knows no {scheme}:// URLs (e-mail is mailto://, Slack slack://, Matrix "
            "matrix://, ntfy ntfy://, a JSON webhook json://; see Apprise's list of services)"
        )
    if Apprise.instantiate(url) is None:
        return f"Apprise cannot use this {scheme}:// URL (a token, host or target is missing)"
    return None


def _base_url(url: str | None) -> str | None:
    # a base URL names a directory: relative links resolve inside it only with a final slash
    return url if url is None or url.endswith("/") else url + "/"


def _articles(value: Any, s: Section, base: Path) -> tuple[ArticleSource, ...]:
    out = []
    for i, entry in enumerate(_list(value, s)):
        if isinstance(entry, str):
            entry = LineDict({"path": entry})
        sub = s.child(entry, f"[{i}]")
        location = sub.get("url", _url, None) or sub.get("path", _path(base), None)
        if location is None:
            sub.fail(None, "needs either 'path' or 'url'")
        out.append(
            ArticleSource(
                location=str(location),
                include_terms=sub.get("include_terms", _text_list, ()),
                exclude_terms=sub.get("exclude_terms", _text_list, ()),
                threshold=sub.get("threshold", _fraction, None),
                story_threshold=sub.get("story_threshold", _fraction, None),
                alerts=sub.get("alerts", _alert_urls, ()),
            )
        )
        sub.finish()
    return tuple(out)


def _outlets(value: Any, s: Section) -> tuple[tuple[Outlet, ...], tuple[FeedSource, ...]]:
    outlets: list[Outlet] = []
    feeds: list[FeedSource] = []
    for i, entry in enumerate(_list(value, s)):
        sub = s.child(entry, f"[{i}]")
        name = sub.get("name", _text, None) or sub.fail(None, "needs a 'name'")
        if any(o.name.casefold() == name.casefold() for o in outlets):
            sub.fail("name", f"outlet {name!r} is listed twice")
        outlets.append(
            Outlet(
                name=name,
                aliases=sub.get("aliases", _text_list, ()),
                domains=tuple(d.lower() for d in sub.get("domains", _text_list, ())),
                homepage=sub.get("homepage", _url, None),
            )
        )
        for j, feed in enumerate(sub.get("feeds", _list, [])):
            feeds.append(_feed(feed, sub, f"feeds[{j}]", name))
        sub.finish()
    return tuple(outlets), tuple(feeds)


def _feed(entry: Any, parent: Section, key: str, outlet: str) -> FeedSource:
    if isinstance(entry, str):
        entry = LineDict({"url": entry})
    sub = parent.child(entry, key)
    url = sub.get("url", _url, None) or sub.fail(None, "needs a 'url'")
    kind = sub.get("kind", _choice("auto", "sitemap"), "auto")
    note = sub.get("note", _text, "")
    feed = FeedSource(url=feed_url(url), outlet=outlet, kind=kind, note=note)
    sub.finish()
    return feed


# --- value converters: (value, section) -> converted, or section.fail(...) --------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _seconds(value: Any, s: Section) -> float:
    if isinstance(value, bool):
        s.fail_value("a duration such as 15m or 900", value)
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        s.fail_value("a duration such as 15m, 2h or 900 (seconds)", value)
    return float(m.group(1)) * _UNITS[m.group(2)]


_SIZE = re.compile(r"^\s*(\d+)\s*(k|kb|m|mb|g|gb)?\s*$", re.I)


def _size(value: Any, s: Section) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(str(value))
    if not m or isinstance(value, bool):
        s.fail_value("a size such as 10MB or 10000000 (bytes)", value)
    factor = {None: 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9}
    return int(m.group(1)) * factor[(m.group(2) or "").lower() or None]


def _int_range(lo: int, hi: int) -> Callable[[Any, Section], int]:
    def convert(value: Any, s: Section) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            s.fail_value(f"a whole number from {lo} to {hi}", value)
        return value

    return convert


def _fraction(value: Any, s: Section) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        s.fail_value("a number from 0 to 1", value)
    return float(value)


def _bool(value: Any, s: Section) -> bool:
    if not isinstance(value, bool):
        s.fail_value("true or false", value)
    return value


def _text(value: Any, s: Section) -> str:
    if not isinstance(value, str) or not value.strip():
        s.fail_value("a non-empty string", value)
    return value.strip()


def _text_list(value: Any, s: Section) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        s.fail_value("a list of strings", value)
    return tuple(v.strip() for v in value)


def _list(value: Any, s: Section) -> list[Any]:
    if not isinstance(value, list):
        s.fail_value("a list", value)
    return value


def _url(value: Any, s: Section) -> str:
    text = _text(value, s)
    problem = url_problem(text)
    if problem:
        s.fail(None, f"{problem}, got {shown(redacted(text))}")
    return text


def _path(base: Path) -> Callable[[Any, Section], Path]:
    def convert(value: Any, s: Section) -> Path:
        p = Path(_text(value, s)).expanduser()
        return p if p.is_absolute() else base / p

    return convert


def _database(base: Path) -> Callable[[Any, Section], Path]:
    to_path = _path(base)

    def convert(value: Any, s: Section) -> Path:
        path = to_path(value, s)
        kind = special_file_kind(path)
        if kind:
            # refused before anything opens it: SQLite would leave /dev/null-journal behind
            s.fail(None, f"{path} is {kind}, not a file: name a database file (or a new one)")
        return path

    return convert


def _timezone(value: Any, s: Section) -> str:
    name = _text(value, s)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        s.fail_value("an IANA time zone such as Europe/Berlin or UTC", value)
    return name


def _clock_time(value: Any, s: Section) -> str:
    # YAML 1.1 reads an unquoted 07:00 as the sexagesimal number 420
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        value = f"{value // 60:02d}:{value % 60:02d}"
    m = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", str(value).strip())
    if not m:
        s.fail_value("a local time such as 07:00", value)
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def _choice(*options: str) -> Callable[[Any, Section], str]:
    def convert(value: Any, s: Section) -> str:
        if value not in options:
            s.fail_value("one of " + ", ".join(options), value)
        return str(value)

    return convert
