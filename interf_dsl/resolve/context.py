"""Resolve stage, shared helper: collects located errors so every independent problem is reported in one pass.

Input: the spec's `SourceMap` (or None for specs built in code). Output: `ErrorItem`s with spans; `raise_if_any`
raises them together as one `ResolveError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from interf_dsl._source import KeyPath, SourceMap, format_key_path
from interf_dsl.errors import ErrorItem, ExprSyntaxError, ResolveError, Span


@dataclass
class Context:
    """Error sink of one resolution."""

    smap: SourceMap | None
    errors: list[ErrorItem] = field(default_factory=list)
    _hooks: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict, repr=False)
    """Per hook expression: canonical hook -> (column, length) of its first occurrence."""

    def span(self, kp: KeyPath, *, key: bool = False, item: str | None = None) -> Span | None:
        """Span of a node; with `item`, the span of that hook/word inside the node's string expression."""
        if self.smap is None:
            return None
        if item is not None:
            located = self._locate_item(kp, item)
            if located is not None:
                return located
        return self.smap.span(kp, key=key)

    def _locate_item(self, kp: KeyPath, item: str) -> Span | None:
        if self.smap is None:
            return None
        pos = self.smap.positions.get(tuple(kp))
        if pos is None:
            # a list of strings: find the element that produced the item
            i = 0
            while self.smap.has(tuple(kp) + (i,)):
                found = self._locate_item(tuple(kp) + (i,), item)
                if found is not None:
                    return found
                i += 1
            return None
        if pos.raw is None:
            return None
        from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

        if pos.raw not in self._hooks:  # one parse per expression: a group may report thousands of hooks
            try:
                self._hooks[pos.raw] = {it.canonical: (it.col, it.length) for it in reversed(expr.parse_hooks(pos.raw))}
            except ExprSyntaxError:
                self._hooks[pos.raw] = {}  # not a hook expression (e.g. a feature selector): find the item as written
        if item in self._hooks[pos.raw]:
            col, length = self._hooks[pos.raw][item]
            return self.smap.span(kp, offset=col, length=length)
        idx = pos.raw.find(item)
        return self.smap.span(kp, offset=idx, length=len(item)) if idx >= 0 else None

    def error(self, message: str, kp: KeyPath, *, key: bool = False, item: str | None = None,
              name: str | None = None, choices: Sequence[str] = (), hint: str | None = None) -> None:
        self.errors.append(ErrorItem(message, span=self.span(kp, key=key, item=item),
                                     key_path=format_key_path(kp) or None, name=name, choices=tuple(choices),
                                     hint=hint))

    def raise_if_any(self) -> None:
        if self.errors:
            unique = {(e.message, e.span, e.key_path): e for e in self.errors}  # one per hook site, same text
            items = sorted(unique.values(), key=lambda e: (e.span.line, e.span.col) if e.span else (0, 0))
            raise ResolveError(items=items)
