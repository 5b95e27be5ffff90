"""Shared registries: one `Registry` per extension kind (focus, metric, interference metric, explainer, step,
backend, preset). Duplicates raise; a failed lookup lists known names and the closest match. The registries feed
`interf list` and the docs, so every entry carries a one-line summary and, optionally, its params model.

Registering must stay cheap: entries are light callables or classes whose heavy imports happen inside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from interf_dsl.errors import InternalError, SpecError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered implementation."""

    name: str
    obj: T
    summary: str
    params: type | None = None
    capabilities: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A named collection of implementations of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, obj: T, *, summary: str = "", params: type | None = None,
            capabilities: tuple[str, ...] = (), **extra: Any) -> T:
        if name in self._entries:
            raise InternalError(f"duplicate {self.kind} '{name}'")
        doc = summary or ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
        self._entries[name] = Entry(name, obj, doc, params, capabilities, dict(extra))
        return obj

    def register(self, name: str, **kw: Any) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def deco(obj: T) -> T:
            return self.add(name, obj, **kw)

        return deco

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise SpecError(f"unknown {self.kind} '{name}'", name=name, choices=tuple(self._entries)) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[k] for k in sorted(self._entries))
