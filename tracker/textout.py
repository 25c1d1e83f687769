"""Plain-text output for the CLI: aligned tables on a terminal, tab-separated when piped."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from typing import Any


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
    if sum(sizes) + 2 * len(sizes) > budget and sizes:
        widest = sizes.index(max(sizes))
        sizes[widest] = max(10, sizes[widest] - (sum(sizes) + 2 * len(sizes) - budget))
    lines = [list(columns), ["-" * s for s in sizes], *cells]
    return "\n".join(
        "  ".join(_fit(cell, size) for cell, size in zip(line, sizes, strict=True)).rstrip()
        for line in lines
    )


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


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
