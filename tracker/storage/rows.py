"""Rows as they cross the store's boundary, and the one text form of a time in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload


@overload
def to_db(value: datetime) -> str: ...
@overload
def to_db(value: None) -> None: ...
@overload
def to_db(value: datetime | None) -> str | None: ...
def to_db(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, in seconds: sorts as text, and SQLite's date functions read it."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class StoredArticle:
    id: int
    location: str
    url: str | None
    title: str
    published_at: str | None
    text: str
    key_terms: dict[str, float]
    cited_outlets: tuple[str, ...]
    added_at: str
    #: the relevance model (JSON), built against the items stored when it was made
    model: dict[str, Any]
    #: stored items with an id up to this one still wait to be rescored with the model
    rescore_cursor: int | None = None
