"""Plain-text output for the CLI: aligned tables on a terminal, tab-separated when piped.

One form of a time per kind of output: on a terminal, local time in the configured zone with
the zone's name (``local_time``: 2025-08-19 09:26 BST); in JSON, JSONL, CSV and tab-separated
output, the stored ISO 8601 form in UTC with its offset (2025-08-19T08:26:00Z), as ``query``
and ``export`` give it.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import itertools
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any, TextIO


def local_time(stamp: str | None, tz: tzinfo) -> str:
    """A stored UTC time as a terminal shows it: local, to the minute, with the zone's name
    (a value that is no time, such as a bare date, as it is)."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        return stamp
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def shown_time(stamp: str | None, tz: tzinfo, *, tty: bool) -> str:
    """``local_time`` on a terminal; the stored ISO 8601 UTC form otherwise (tab-separated)."""
    return local_time(stamp, tz) if tty else stamp or ""


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 feed', '2 feeds', '0 feeds' ('1 fetch', '2 fetches' with ``many``)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def table(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    *,
    tty: bool,
    widths: dict[str, int] | None = None,
) -> str:
    """Rows as text. On a terminal columns are aligned and long cells cut; otherwise TSV."""
    rows = list(rows)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if not tty:
        return "\n".join(
            "\t".join(c.replace("\t", " ") for c in line) for line in [list(columns), *cells]
        )
    limits = dict(widths or {})
    sizes = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    sizes = [min(size, limits.get(c, size)) for size, c in zip(sizes, columns, strict=True)]
    budget = shutil.get_terminal_size((140, 20)).columns
    # narrow the widest column a character at a time until the table fits the terminal (or
    # every column is down to 10), so one long column never pushes the others off the line
    while sizes and sum(sizes) + 2 * len(sizes) > budget and max(sizes) > 10:
        sizes[sizes.index(max(sizes))] -= 1
    lines = [list(columns), ["-" * s for s in sizes], *cells]
    return "\n".join(
        "  ".join(_fit(cell, size) for cell, size in zip(line, sizes, strict=True)).rstrip()
        for line in lines
    )


def as_json(value: Any) -> str:
    """JSON for people and scripts: the library's typed rows (dataclasses) as objects of
    their fields, in order (or as their ``to_json`` gives them), anything else unknown as text."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=_plain)


def fields_of(row: Any) -> dict[str, Any]:
    """A typed row's fields as a dict, in order (not recursively: values stay as they are)."""
    return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}


def _plain(value: Any) -> Any:
    """What json cannot write itself: a row's fields (its values go through json again)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_json = getattr(value, "to_json", None)
        if callable(to_json):
            return to_json()
        return fields_of(value)
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return " ".join(str(value).split())


def _fit(text: str, size: int) -> str:
    return text.ljust(size) if len(text) <= size else text[: max(size - 1, 0)] + "…"


# --- streaming output: query, search and export ---------------------------------------------

#: ``table``: aligned on a terminal, tab-separated when piped (the same rule as ``table()``)
FORMATS = ("table", "csv", "json", "jsonl")


def write_rows(
    out: TextIO,
    columns: Sequence[str],
    rows: Iterable[dict[str, Any]],
    fmt: str = "table",
    *,
    tty: bool = False,
    json_columns: Sequence[str] = (),
    max_table_rows: int = 1000,
    widths: dict[str, int] | None = None,
) -> int:
    """Write rows as they come (constant memory, except an on-screen table); returns the count.

    ``json_columns`` hold JSON text that JSON and JSONL output embed as values (a list, not a
    string); CSV and TSV keep the text. An infinite float (SQLite's ``1e400``) is null in JSON,
    which has no such number, and so an empty cell in CSV and TSV too. An on-screen table
    stops at ``max_table_rows`` and says so, since nobody reads more on a terminal.
    """
    if fmt == "table" and tty:
        return _write_screen_table(out, columns, rows, max_table_rows, widths)
    writer = {"table": _write_tsv, "csv": _write_csv, "json": _write_json, "jsonl": _write_jsonl}
    if fmt not in writer:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt in ("json", "jsonl") and json_columns:
        rows = (_decoded(row, json_columns) for row in rows)
    return writer[fmt](out, columns, rows)


def _write_screen_table(
    out: TextIO,
    columns: Sequence[str],
    rows: Iterable[dict[str, Any]],
    limit: int,
    widths: dict[str, int] | None,
) -> int:
    shown = list(itertools.islice(rows, limit + 1))
    more = len(shown) > limit
    out.write(table(shown[:limit], columns, tty=True, widths=widths) + "\n")
    if more:
        out.write(
            f"… only the first {limit} rows are shown on a terminal; add a LIMIT, or use "
            "--csv, --json or --jsonl\n"
        )
    return min(len(shown), limit)


def _write_tsv(out: TextIO, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> int:
    out.write("\t".join(columns) + "\n")
    count = 0
    for row in rows:
        out.write("\t".join(_tsv_cell(row.get(c)) for c in columns) + "\n")
        count += 1
    return count


def _write_csv(out: TextIO, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        values = [row.get(c) for c in columns]
        # inline rather than a call per cell: an export writes millions of cells
        writer.writerow(
            [
                "" if v is None or (v.__class__ is float and not math.isfinite(v)) else v
                for v in values
            ]
        )
        count += 1
    return count


def _write_json(out: TextIO, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    for count, row in enumerate(rows, start=1):
        out.write("[\n" if count == 1 else ",\n")
        out.write(_json_line(row))
    out.write("\n]\n" if count else "[]\n")
    return count


def _write_jsonl(out: TextIO, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    for row in rows:
        out.write(_json_line(row) + "\n")
        count += 1
    return count


def _json_line(row: dict[str, Any]) -> str:
    try:
        return json.dumps(row, ensure_ascii=False, default=_json_default, allow_nan=False)
    except ValueError:  # inf (SQLite's 1e400): JSON has no such number, and Infinity is invalid
        return json.dumps(_finite(row), ensure_ascii=False, default=_json_default)


def _finite(value: Any) -> Any:
    """``value`` with every infinite or NaN float, however deep, as None (null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _decoded(row: dict[str, Any], json_columns: Sequence[str]) -> dict[str, Any]:
    for column in json_columns:
        value = row.get(column)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not JSON after all: keep the text
                row[column] = json.loads(value)
    return row


def _tsv_cell(value: Any) -> str:
    """Exact values (no rounding), on one line: tabs and newlines become spaces; no value, or
    an infinite float, is an empty cell (as in CSV and, as null, in JSON)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")
