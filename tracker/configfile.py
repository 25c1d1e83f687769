"""Reading config.yaml: YAML that remembers each key's line, refuses alias bombs and repeated
keys, and ``Section``, which reads one mapping with typed getters and error lines naming the
file, line and key (``config`` builds the settings with it)."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from .errors import ConfigError

T = TypeVar("T")
D = TypeVar("D")


class LineDict(dict[str, Any]):
    """A mapping that remembers the line of each key (1-based)."""

    line = 0
    key_lines: dict[str, int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.key_lines = {}


#: values a config.yaml may hold once its aliases are expanded: a real one holds hundreds; an
#: "alias bomb" of nine levels of nine holds 387 million (5.5 GB when printed in an error)
MAX_EXPANDED_VALUES = 100_000
#: the most of a value an error line shows
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 6
_SHOWN.maxlevel = 3
_SHOWN.repr_LineDict = _SHOWN.repr_dict  # type: ignore[attr-defined]


def shown(value: Any, width: int = 120) -> str:
    """``repr(value)`` cut short: an error line stays one readable line, and a value made of
    many aliases is never printed whole (reprlib stops early; the width bounds the rest)."""
    text = _SHOWN.repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


class LineLoader(yaml.SafeLoader):
    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand beyond ``MAX_EXPANDED_VALUES`` values, or that
    contains itself, before any of it is built: PyYAML builds an alias as a shared object, but
    anything that reads or prints the value walks every expanded copy.

    Counted over the node graph, each node once (depth first, without recursion): the size of
    a node is one plus the sizes of its children, however many aliases share them.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [(root, iter(_children(root)))]
    open_nodes.add(id(root))
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            open_nodes.discard(id(node))
            size = 1 + sum(sizes[id(c)] for c in _children(node))
            if size > MAX_EXPANDED_VALUES:
                raise _expansion_error(
                    node, f"aliases expand to more than {MAX_EXPANDED_VALUES:,} values"
                )
            sizes[id(node)] = size
        elif id(child) in open_nodes:
            raise _expansion_error(child, "an alias refers to itself (the value would be endless)")
        elif id(child) not in sizes:
            open_nodes.add(id(child))
            stack.append((child, iter(_children(child))))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _expansion_error(node: yaml.Node, problem: str) -> yaml.YAMLError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> LineDict:
    _refuse_repeated_keys(node)
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[str(key)] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


def _refuse_repeated_keys(node: yaml.MappingNode) -> None:
    """YAML lets the last of two equal keys win silently; a setting written twice is a mistake
    (an edit that added a key without removing the old one), so it is an error here. Keys merged
    in with ``<<`` may still be overridden, as YAML means them to be."""
    first: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in first:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{key_node.value!r} is set twice (first on line {first[key_node.value]})",
                key_node.start_mark,
            )
        first[key_node.value] = line


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class Section:
    """Reads one mapping: typed getters, error lines naming the key, unknown-key detection."""

    def __init__(self, mapping: Any, prefix: str, path: Path, line: int = 0) -> None:
        self.path = path
        self.prefix = prefix
        self.line = getattr(mapping, "line", 0) or line
        if not isinstance(mapping, dict):
            self._raise(prefix.rstrip("."), self.line, f"expected a mapping, got {shown(mapping)}")
        self.mapping = mapping
        self.used: set[str] = set()
        self._current: str | None = None

    def get(self, key: str, convert: Callable[[Any, Section], T], default: D) -> T | D:
        self.used.add(key)
        if key not in self.mapping or self.mapping[key] is None:
            return default
        self._current = key
        try:
            return convert(self.mapping[key], self)
        finally:
            self._current = None

    def section(self, key: str, build: Callable[[Section], T]) -> T:
        self.used.add(key)
        value = self.mapping.get(key)
        sub = self.child(LineDict() if value is None else value, key)
        result = build(sub)
        sub.finish()
        return result

    def child(self, mapping: Any, key: str) -> Section:
        # list elements ("[0]") are named after the key being converted: outlets[0]
        name = (self._current or "") + key if key.startswith("[") else key
        lines = getattr(self.mapping, "key_lines", {})
        line = lines.get(self._current or key.split("[")[0], self.line)
        return Section(mapping, f"{self.prefix}{name}.", self.path, line)

    def finish(self) -> None:
        for key in self.mapping:
            if key not in self.used:
                near = difflib.get_close_matches(key, sorted(self.used), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                self._raise(self.prefix + key, self._line_of(key), f"unknown key{hint}")

    def fail(self, key: str | None, message: str) -> NoReturn:
        key = key or self._current
        name = self.prefix + key if key else self.prefix.rstrip(".")
        self._raise(name, self._line_of(key), message)

    def fail_value(self, expected: str, value: Any) -> NoReturn:
        self.fail(None, f"expected {expected}, got {shown(value)}")

    def _line_of(self, key: str | None) -> int:
        lines = getattr(self.mapping, "key_lines", {})
        return lines.get(key, self.line) if key else self.line

    def _raise(self, name: str, line: int, message: str) -> NoReturn:
        where = f"{self.path}:{line}" if line else str(self.path)
        raise ConfigError(f"{where}: {name or '(top level)'}: {message}")
