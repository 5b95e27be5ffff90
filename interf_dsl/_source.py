"""Shared, parse stage: source positions. YAML text -> plain data plus a `SourceMap` (key path -> file:line:col).

The YAML loader composes nodes (so it sees every mark), rejects duplicate keys (PyYAML silently keeps the last),
disables implicit timestamps (a date-like string stays a string) and records, for every node, where its key and its
value start. The `.interf` DSL front end fills the same `SourceMap`, so both spellings locate errors identically.
A key path is a tuple of mapping keys (str) and list indices (int), the same shape as a pydantic error `loc`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from interf_dsl.errors import ErrorItem, Span, SpecError

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Pos:
    """Where one node sits: its value's start, its key's start (mapping values), and expression offsets."""

    line: int
    col: int
    length: int = 1
    key_line: int | None = None
    key_col: int | None = None
    key_length: int = 1
    quote: int = 0
    """Characters between the value's start and the first character of its text (1 after an opening quote)."""
    multiline: bool = False
    """Block scalars: expression columns cannot be mapped, so errors point at the scalar's first line."""
    raw: str | None = None
    """The text of a string scalar (to re-locate items of an expression after validation)."""


@dataclass
class SourceMap:
    """Positions of every node of one spec file, keyed by key path."""

    path: str
    text: str = ""
    positions: dict[KeyPath, Pos] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return self.text.splitlines()

    def span(self, key_path: KeyPath, *, key: bool = False, offset: int | None = None, length: int = 1) -> Span:
        """The span of a node (its key with `key=True`; a character inside a string expression with `offset`)."""
        pos = self.nearest(key_path)
        if pos is None:
            return Span(self.path, 1, 1, 1)
        if key and pos.key_line is not None and pos.key_col is not None:
            return Span(self.path, pos.key_line, pos.key_col, pos.key_length)
        if offset is not None and not pos.multiline:
            return Span(self.path, pos.line, pos.col + pos.quote + offset, max(1, length))
        return Span(self.path, pos.line, pos.col, pos.length)

    def nearest(self, key_path: KeyPath) -> Pos | None:
        """The position of the node, or of its closest recorded ancestor."""
        kp = tuple(key_path)
        while True:
            if kp in self.positions:
                return self.positions[kp]
            if not kp:
                return None
            kp = kp[:-1]

    def has(self, key_path: KeyPath) -> bool:
        return tuple(key_path) in self.positions


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader (libyaml when available: 5x faster) without the implicit timestamp resolver."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _scalar_pos(node: yaml.Node) -> Pos:
    start, end = node.start_mark, node.end_mark
    style = getattr(node, "style", None)
    multiline = style in ("|", ">") or end.line != start.line
    length = max(1, end.column - start.column) if end.line == start.line else 1
    return Pos(start.line + 1, start.column + 1, length, quote=1 if style in ("'", '"') else 0, multiline=multiline)


def _build(node: yaml.Node, loader: _Loader, kp: KeyPath, smap: SourceMap, errors: list[ErrorItem]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                errors.append(ErrorItem("mapping keys must be plain names", span=_span(smap, key_node)))
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                first = smap.positions.get(kp + (key,))
                where = f" (first at line {first.key_line})" if first and first.key_line else ""
                errors.append(ErrorItem(f"duplicate key '{key}'{where}", span=_span(smap, key_node),
                                        key_path=_fmt_path(kp + (key,)),
                                        hint="YAML would silently keep the last one; remove one of them"))
                continue
            kpos = _scalar_pos(key_node)
            out[key] = _build(value_node, loader, kp + (key,), smap, errors)
            vpos = smap.positions[kp + (key,)]
            smap.positions[kp + (key,)] = Pos(vpos.line, vpos.col, vpos.length, kpos.line, kpos.col, kpos.length,
                                              vpos.quote, vpos.multiline, vpos.raw)
        smap.positions[kp] = Pos(node.start_mark.line + 1, node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = [_build(child, loader, kp + (i,), smap, errors) for i, child in enumerate(node.value)]
        smap.positions[kp] = Pos(node.start_mark.line + 1, node.start_mark.column + 1)
        return items
    value = loader.construct_object(node, deep=True)
    pos = _scalar_pos(node)
    smap.positions[kp] = Pos(pos.line, pos.col, pos.length, quote=pos.quote, multiline=pos.multiline,
                             raw=value if isinstance(value, str) else None)
    return value


def _span(smap: SourceMap, node: yaml.Node) -> Span:
    return Span(smap.path, node.start_mark.line + 1, node.start_mark.column + 1)


def _fmt_path(kp: KeyPath) -> str:
    out = ""
    for part in kp:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_key_path(kp: KeyPath) -> str:
    """`sources.gpt2.saes[0].hooks` for ('sources', 'gpt2', 'saes', 0, 'hooks')."""
    return _fmt_path(kp)


def load_yaml(text: str, path: str) -> tuple[Any, SourceMap]:
    """Parse YAML text into plain data and its source map; duplicate keys and syntax errors raise `SpecError`."""
    smap = SourceMap(path, text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(path, mark.line + 1, mark.column + 1) if mark else None
        raise SpecError(f"YAML syntax: {exc.problem or exc}", span=span) from None
    finally:
        loader.dispose()
    if node is None:
        raise SpecError("the spec file is empty", span=Span(path, 1, 1), hint="start from `interf new`")
    errors: list[ErrorItem] = []
    data = _build(node, loader, (), smap, errors)
    if errors:
        raise SpecError(items=errors)
    return data, smap
