"""What the relevance models learn from: the newest stored items, kept as they arrive.

A model weighs terms by how they behave in stored coverage (``model.build_model``): document
frequencies, the items about the article's topic, the words summaries write with a capital, how
many outlets use a term.
Those come from a window of the newest items, at most ``size`` of them, whose counts are updated
as items are added and evicted, so rebuilding a model costs the same with ten thousand stored
items or a million.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

from .text import Doc, capitals

#: items a model learns from: the newest this many
DEFAULT_SIZE = 10_000


@dataclass(frozen=True)
class _Entry:
    item_id: int
    doc: Doc
    capital: Counter[str]
    total: Counter[str]
    outlet: int | None


class Background:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        #: the id of the newest item added (items are added in id order)
        self.newest = 0
        self.df: Counter[str] = Counter()
        self._capital: Counter[str] = Counter()
        self._total: Counter[str] = Counter()
        self._entries: deque[_Entry] = deque()
        self._by_id: dict[int, Doc] = {}
        self._added = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def docs(self) -> Sequence[Doc]:
        return [entry.doc for entry in self._entries]

    @property
    def outlets(self) -> Sequence[int | None]:
        """The outlet of each item of ``docs`` (None where it was not given)."""
        return [entry.outlet for entry in self._entries]

    def doc(self, item_id: int) -> Doc | None:
        """An item of the window as the scorer reads it (None when it is not in the window)."""
        return self._by_id.get(item_id)

    def add(self, item_id: int, doc: Doc, summary: str, outlet: int | None = None) -> None:
        capital, total = capitals(summary)
        entry = _Entry(item_id, doc, capital, total, outlet)
        self._entries.append(entry)
        self._by_id[item_id] = doc
        self.df.update(doc.text)
        self._capital.update(capital)
        self._total.update(total)
        self.newest = max(self.newest, item_id)
        if len(self._entries) > self.size:
            old = self._entries.popleft()
            self._by_id.pop(old.item_id, None)
            self.df.subtract(old.doc.text)
            self._capital.subtract(old.capital)
            self._total.subtract(old.total)
        self._added += 1
        if self._added % self.size == 0:
            # evicted terms leave zero counts behind; dropping them keeps memory to the window
            self.df, self._capital, self._total = +self.df, +self._capital, +self._total

    def proper_nouns(self) -> set[str]:
        """Stems written with a capital mid-sentence at least 70% of the time (3+ uses)."""
        return {t for t, n in self._total.items() if n >= 3 and self._capital[t] / n >= 0.7}


class DocCache:
    """Items as the scorer reads them, by their content hash, for a while: a poll tokenises each
    new item once to score it, and the background and a rescore can take it from here instead
    of tokenising it again. Bounded (oldest out first); safe to share between poll workers."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._docs: OrderedDict[str, Doc] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Doc | None:
        with self._lock:
            return self._docs.get(key)

    def put(self, key: str, doc: Doc) -> None:
        with self._lock:
            self._docs[key] = doc
            while len(self._docs) > self.size:
                self._docs.popitem(last=False)
