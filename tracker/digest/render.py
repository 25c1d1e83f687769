"""Render a day's digest as Markdown, HTML or Atom (pure: data in, text out).

Item titles and summaries are whatever feeds sent, so every template escapes by default:

- HTML and Atom use Jinja2 autoescaping; the HTML carries a Content-Security-Policy that allows
  no script and only its own inline style (by hash), and every link is checked to be http(s).
- Markdown has no autoescape in Jinja2, so the Markdown environment escapes every value it
  prints (``finalize``) unless a filter built it from escaped parts (``MdSafe``).
- Characters XML cannot carry (C0 controls, lone surrogates, U+FFFE/U+FFFF) are dropped from
  every value, so the Atom file always parses.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from .data import DayDigest, DigestItem, FeedIssue, StoryGroup, Timeline

SUMMARY_LIMIT = 220
MAX_TERMS = 6
OUTLET_LABEL = 15
#: characters XML 1.0 cannot hold, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
#: characters that are markup anywhere in a Markdown line (CommonMark and GitHub's tables)
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~])")
#: an HTML entity or character reference, which Markdown would decode
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
#: markup only at the start of a line: heading, quote, bullet; an ordered item is below
_MD_LEADING = re.compile(r"^(\s*)([#>]|[-+*](?=\s|$))")
#: "1. " or "1) " at the start of a line would start an ordered list: its dot is escaped
_MD_ORDERED = re.compile(r"^(\s*\d+)([.)])(?=\s|$)")
#: characters kept as they are in a link; everything else is percent-encoded
_URL_SAFE = "/:?#[]@!$&'*+,;=%~-._"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# --- safe values -----------------------------------------------------------------------------


def http_url(url: str | None) -> str | None:
    """The URL fit for a link: absolute http(s) with a host, unsafe characters percent-encoded.

    Anything else (``javascript:``, ``data:``, relative, malformed) gives None: no link at all.
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=_URL_SAFE + "()")


def xml_clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def one_line(text: str | None, limit: int = SUMMARY_LIMIT) -> str:
    """Whitespace collapsed; cut at a word boundary with an ellipsis when longer than limit."""
    text = _SPACE.sub(" ", text or "").strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:.-–—") + "…"


class MdSafe(str):
    """Markdown built from escaped parts; printed as it is."""


def md_escape(value: object) -> str:
    """Plain text as Markdown that displays the same text: no links, HTML, emphasis or blocks."""
    text = xml_clean(_SPACE.sub(" ", str(value)))
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_ENTITY.sub(r"\\&", text)
    text = _MD_LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
    return _MD_ORDERED.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def md_link(text: str, url: str | None) -> MdSafe:
    """``[text](url)`` with the text escaped, or the escaped text alone without a usable URL."""
    href = http_url(url)
    label = md_escape(text).strip() or md_escape(url or "").strip()
    if href is None:
        return MdSafe(label)
    return MdSafe(f"[{label}]({href.replace('(', '%28').replace(')', '%29')})")


def md_code(text: str) -> MdSafe:
    """A code span showing ``text`` literally, fenced by more backticks than it contains."""
    text = xml_clean(_SPACE.sub(" ", text)).strip()
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return MdSafe(f"{fence}{pad}{text}{pad}{fence}")


def _md_finalize(value: Any) -> Any:
    if isinstance(value, MdSafe):
        return str(value)
    if value is None:
        return ""
    return md_escape(value)


def _markup_finalize(value: Any) -> Any:
    # Markup was built by the templates themselves from values that passed through here
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return xml_clean(value)


# --- formatting --------------------------------------------------------------------------------


class Formatter:
    """Local times, dates, counts and sentences for one digest (plain text, escaped later)."""

    def __init__(self, digest: DayDigest) -> None:
        self.digest = digest
        self.tz = ZoneInfo(digest.timezone)
        first = digest.start.astimezone(self.tz)
        last = (digest.end - timedelta(seconds=1)).astimezone(self.tz)
        #: on a day the clocks change, a bare 01:30 is ambiguous: times carry their zone
        self.zone_changes = first.utcoffset() != last.utcoffset()
        self.zones = tuple(dict.fromkeys(t.tzname() or "" for t in (first, last)))

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def time(self, moment: datetime) -> str:
        local = self.local(moment)
        text = f"{local:%H:%M}"
        return f"{text} {local.tzname()}" if self.zone_changes else text

    def when(self, moment: datetime) -> str:
        """A time of the digest's day as 09:12; of another day as 18 Aug 21:03."""
        local = self.local(moment)
        if local.date() == self.digest.day:
            return self.time(moment)
        return f"{self.short_date(local.date())} {self.time(moment)}"

    def dated(self, moment: datetime) -> str:
        """Always with its date: 19 Aug 10:30."""
        return f"{self.short_date(self.local(moment).date())} {self.time(moment)}"

    def stamp(self, moment: datetime) -> str:
        local = self.local(moment)
        text = f"{self.long_date(local.date())} {local:%H:%M} {local.tzname()}"
        return text if local.tzname() == "UTC" else f"{text} ({moment.astimezone(UTC):%H:%M} UTC)"

    def long_date(self, day: date) -> str:
        return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"

    def short_date(self, day: date) -> str:
        same_year = day.year == self.digest.day.year
        return f"{day.day} {MONTHS[day.month - 1][:3]}" + ("" if same_year else f" {day.year}")

    def iso(self, moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def zone(self) -> str:
        names = "/".join(z for z in self.zones if z)
        return (
            self.digest.timezone
            if names in ("", self.digest.timezone)
            else (f"{self.digest.timezone} ({names})")
        )

    @property
    def the_day(self) -> str:
        """How the digest names its day: "today" while the day runs, "that day" once it ended."""
        return "that day" if self.digest.complete else "today"

    @property
    def status(self) -> str:
        d = self.digest
        rules = (
            f"Times are {self.zone}; an item counts on the day the tracker first saw it, and is "
            "listed at the time its outlet published it (never later than first seen), which "
            "decides who reported first."
        )
        if d.complete:
            return rules
        return f"Day in progress: as of {self.time(d.generated_at)}. {rules}"

    @staticmethod
    def count(n: int, word: str, plural: str | None = None) -> str:
        return f"{n:,} {word if n == 1 else plural or word + 's'}"

    @staticmethod
    def number(n: int) -> str:
        return f"{n:,}"

    @staticmethod
    def score(value: float) -> str:
        return f"{value:.2f}"

    @staticmethod
    def summary(item: DigestItem) -> str:
        """The item's summary on one line, or nothing when it only repeats the title."""
        text = one_line(item.summary)
        return "" if text.casefold() == one_line(item.title, 10_000).casefold() else text

    @staticmethod
    def marked(item: DigestItem) -> str:
        """The analyst's judgement of an item, or nothing when it was not judged."""
        if item.judgement is None:
            return ""
        return f"marked by you: {'same story' if item.judgement == 'story' else item.judgement}"

    @staticmethod
    def terms(item: DigestItem) -> str:
        return ", ".join(item.terms[:MAX_TERMS])

    def seen(self, item: DigestItem) -> str:
        """When the tracker first saw an item, where that shows another time than the one it
        is listed at (published a few seconds before it was seen is the same minute)."""
        seen = self.when(item.first_seen_at)
        return "" if seen == self.when(item.reported_at) else f"first seen {seen}"

    def also_in(self, group: StoryGroup) -> str:
        """The other outlets that carried the story, each with its first time."""
        return "; ".join(f"{place.outlet} ({self.when(place.at)})" for place in group.also_in)

    def first_reported(self, group: StoryGroup) -> str:
        return f"first reported by {group.first_outlet}, {self.when(group.first_reported_at)}"

    def health(self, issue: FeedIssue) -> str:
        if issue.state == "failing":
            fetches = self.count(issue.errors, "failed fetch", "failed fetches")
            since = f" since {self.when(issue.since)}" if issue.since else ""
            return f"{fetches} in a row{since}; last error: {issue.error or 'unknown'}"
        if issue.state == "disabled":
            return issue.reason or "no reason recorded"
        if not issue.had_items:
            return f"no items since it was added {self.when(issue.since)}" if issue.since else ""
        return f"no new items since {self.when(issue.since)}" if issue.since else ""

    def timeline_span(self, timeline: Timeline) -> str:
        first, last = timeline.days[0], timeline.days[-1]
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}–{last.day} {MONTHS[last.month - 1]} {last.year}"
        return f"{self.short_date(first)} – {self.short_date(last)} {last.year}"

    @staticmethod
    def day_label(day: date) -> str:
        return str(day.day)

    def headline(self) -> str:
        """The day in one line: for the Atom entry title and summary."""
        d = self.digest
        date_text = self.long_date(d.day)
        if not d.new_items:
            return f"{date_text}: no new coverage"
        items = self.count(d.new_items, "new item")
        return f"{date_text}: {items} from {self.count(len(d.outlets), 'outlet')}"

    def summary_line(self) -> str:
        """The day in a sentence: for the Atom entry summary."""
        d = self.digest
        parts = []
        for a in d.articles:
            if a.items:
                outlets = ", ".join(a.outlets)
                items = self.count(len(a.items), "new item")
                parts.append(f"{items} ({a.story_items} same story) from {outlets}")
            else:
                parts.append("no new coverage")
            if a.cited_silent:
                parts.append("cited outlets silent: " + ", ".join(a.cited_silent))
            if a.cited_unpolled:
                parts.append("cited outlets not polled: " + ", ".join(a.cited_unpolled))
        if d.health:
            parts.append(self.count(len(d.health), "feed needs", "feeds need") + " attention")
        return "; ".join(parts) + "." if parts else "No article is tracked yet."


# --- the coverage chart ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartCell:
    x: float
    y: float
    count: int
    opacity: float
    strong: bool
    title: str


@dataclass(frozen=True)
class ChartRow:
    y: float
    label: str
    full_label: str
    total: int
    cells: tuple[ChartCell, ...]


@dataclass(frozen=True)
class Chart:
    """Geometry of the timeline heat map: one row per outlet, one column per day."""

    width: float
    height: float
    cell_width: float
    cell_height: float
    label_width: float
    rows: tuple[ChartRow, ...]
    #: (x, text, month) per day column; month is set where a month starts
    columns: tuple[tuple[float, str, str], ...]
    axis_y: float
    today_x: float
    total_x: float


#: sized so that on a phone (about 380 px of text width) the chart's text stays readable
CELL_W, CELL_H, GAP, LABEL_W, TOTAL_W, AXIS_H = 20.0, 20.0, 2.0, 100.0, 32.0, 30.0


def chart(timeline: Timeline, fmt: Formatter) -> Chart:
    """Lay out the heat map; the last row is every outlet together."""
    rows = [(r.outlet, r.counts) for r in timeline.rows]
    rows.append(("All outlets", timeline.totals))
    outlet_peak = max(timeline.peak, 1)
    total_peak = max(max(timeline.totals, default=0), 1)
    laid = []
    for n, (label, counts) in enumerate(rows):
        is_total = n == len(rows) - 1
        y = n * (CELL_H + GAP) + (GAP * 3 if is_total else 0)
        peak = total_peak if is_total else outlet_peak
        cells = tuple(
            _cell(LABEL_W + i * (CELL_W + GAP), y, count, peak, label, day, fmt)
            for i, (day, count) in enumerate(zip(timeline.days, counts, strict=True))
        )
        short = label if len(label) <= OUTLET_LABEL else label[: OUTLET_LABEL - 1] + "…"
        laid.append(ChartRow(y, short, label, sum(counts), cells))
    grid_w = len(timeline.days) * (CELL_W + GAP)
    axis_y = laid[-1].y + CELL_H + 14
    columns = tuple(
        (
            LABEL_W + i * (CELL_W + GAP) + CELL_W / 2,
            fmt.day_label(day),
            MONTHS[day.month - 1][:3] if i == 0 or day.day == 1 else "",
        )
        for i, day in enumerate(timeline.days)
    )
    return Chart(
        width=LABEL_W + grid_w + TOTAL_W,
        height=axis_y + AXIS_H - 12,
        cell_width=CELL_W,
        cell_height=CELL_H,
        label_width=LABEL_W,
        rows=tuple(laid),
        columns=columns,
        axis_y=axis_y,
        today_x=LABEL_W + (len(timeline.days) - 1) * (CELL_W + GAP),
        total_x=LABEL_W + grid_w + TOTAL_W - 4,
    )


def _cell(
    x: float, y: float, count: int, peak: int, label: str, day: date, fmt: Formatter
) -> ChartCell:
    share = count / peak
    opacity = round(0.18 + 0.82 * share, 2) if count else 1.0
    title = f"{label}, {fmt.short_date(day)}: {fmt.count(count, 'item')}"
    return ChartCell(x, y, count, opacity, count > 0 and opacity >= 0.6, title)


# --- rendering ---------------------------------------------------------------------------------


def render_markdown(digest: DayDigest) -> str:
    env = _environment(autoescape=False, finalize=_md_finalize)
    env.filters["md_link"] = md_link
    env.filters["md_code"] = md_code
    return env.get_template("digest.md.j2").render(d=digest, fmt=Formatter(digest))


def render_html(digest: DayDigest) -> str:
    env = _environment(autoescape=True, finalize=_markup_finalize)
    css = _stylesheet(env)
    fmt = Formatter(digest)
    return env.get_template("digest.html.j2").render(
        d=digest,
        fmt=fmt,
        css=Markup(css),
        csp=content_security_policy(css),
        charts={
            a.article_id: chart(a.timeline, fmt) for a in digest.articles if a.timeline is not None
        },
    )


def render_atom(digests: Sequence[DayDigest], *, base_url: str | None = None) -> str:
    """The Atom feed of the given day digests, newest first (at least one digest)."""
    html = _environment(autoescape=True, finalize=_markup_finalize)
    entry_template = html.get_template("digest_entry.html.j2")
    newest = sorted(digests, key=lambda d: d.day, reverse=True)
    entries = [
        {
            "d": d,
            "fmt": (fmt := Formatter(d)),
            "content": str(entry_template.render(d=d, fmt=fmt)),
        }
        for d in newest
    ]
    atom = _environment(autoescape=True, finalize=_markup_finalize)
    return atom.get_template("digests.atom.j2").render(
        entries=entries,
        latest=newest[0],
        updated=max(d.updated for d in newest),
        base_url=http_url(base_url),
    )


def content_security_policy(css: str) -> str:
    """No scripts, no fetches of any kind; only this page's own stylesheet, named by hash."""
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
        "script-src 'none'; base-uri 'none'; form-action 'none'"
    )


def _stylesheet(env: Environment) -> str:
    loader = env.loader
    assert loader is not None
    source, _, _ = loader.get_source(env, "digest.css")
    return source


def _environment(*, autoescape: bool, finalize: Callable[[Any], Any]) -> Environment:
    env = Environment(
        loader=PackageLoader("tracker", "templates"),
        autoescape=autoescape,
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["href"] = http_url
    env.filters["one_line"] = one_line
    return env
