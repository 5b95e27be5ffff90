"""Shared, data files: reading a user's JSON or text data file with located errors (`file:line:col`).

Input: a path and a noun for messages (`token-type file`). Output: the file's text and its JSON value; every
problem is a `SpecError` whose span points into the data file: not UTF-8, not JSON, and a key repeated inside one
object (the standard library keeps the last value silently; here it is refused). `locate` finds where a key or
value sits, so readers of the documented formats (`docs/data-formats.md`) can point at the entry they refuse.
Light on purpose (json only): `interf validate` reads every data file a spec names through these functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interf_dsl.errors import Span, SpecError


def read_text(path: str | Path, noun: str) -> str:
    """The file's UTF-8 text.

    Raises:
        SpecError: missing, a folder, unreadable or not UTF-8.
    """
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{noun} {p} does not exist") from None
    except IsADirectoryError:
        raise SpecError(f"{noun} {p} cannot be read: it is a folder, not a file",
                        hint="a folder with one file per type is converted by `interf import`") from None
    except UnicodeDecodeError as exc:
        raw = p.read_bytes()[: exc.start]
        line = raw.count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n") + 1) + 1
        raise SpecError(f"{noun} is not UTF-8 text (byte {exc.start})", span=Span(str(p), line, col)) from None
    except OSError as exc:
        raise SpecError(f"{noun} {p} cannot be read ({exc.strerror or exc})") from None


class Pairs(list):
    """A JSON object's (key, value) pairs in file order, repeated keys kept (`load_json(..., pairs=True)`)."""


def load_json(path: str | Path, noun: str, hint: str | None = None, *, pairs: bool = False) -> tuple[str, Any]:
    """(text, value) of a JSON file; objects are dicts and a key repeated inside one object is refused, or, with
    `pairs`, objects are `Pairs` (for converters that merge repeats themselves).

    Raises:
        SpecError: as `read_text`, invalid JSON, or a repeated key (located at its second occurrence).
    """
    text = read_text(path, noun)
    try:
        data = json.loads(text, object_pairs_hook=Pairs)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{noun} is not JSON (invalid JSON: {exc.msg})", span=Span(str(path), exc.lineno, exc.colno),
                        hint=hint) from None
    return text, data if pairs else _plain(data, str(path), text, noun)


def _plain(value: Any, path: str, text: str, noun: str) -> Any:
    if isinstance(value, Pairs):
        out: dict[str, Any] = {}
        for key, item in value:
            if key in out:
                raise SpecError(f"{noun}: key {key!r} appears twice in one object (JSON keeps only the last value)",
                                span=locate(path, text, key, nth=2),
                                hint="keep one entry per key; `interf import` merges or reports such entries")
            out[key] = _plain(item, path, text, noun)
        return out
    if isinstance(value, list):
        return [_plain(v, path, text, noun) for v in value]
    return value


def _needles(s: str) -> list[str]:
    return list(dict.fromkeys((json.dumps(s), json.dumps(s, ensure_ascii=False))))


def locate(path: str | Path, text: str, key: str, *, value: str | None = None, nth: int = 1,
           after: str | None = None) -> Span:
    """Where `"key"` (followed by `: "value"` when given) occurs the `nth` time in the JSON text, searching after
    the first occurrence of `"after"` when given; line 1 column 1 when it is not found."""
    start = 0
    if after is not None:
        at = min((i for n in _needles(after) if (i := text.find(n)) >= 0), default=-1)
        start = at + 1 if at >= 0 else 0
    hits: list[tuple[int, int]] = []
    for needle in _needles(key):
        i = text.find(needle, start)
        while i >= 0:
            end = i + len(needle)
            if value is None or _followed_by_value(text, end, value):
                hits.append((i, len(needle)))
            i = text.find(needle, end)
    hits = sorted(set(hits))
    if len(hits) < nth:
        return Span(str(path), 1, 1)
    idx, length = hits[nth - 1]
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return Span(str(path), line, col, length)


def _followed_by_value(text: str, end: int, value: str) -> bool:
    rest = text[end : end + 8 + len(value) * 6].lstrip()
    if not rest.startswith(":"):
        return False
    rest = rest[1:].lstrip()
    return any(rest.startswith(n) for n in _needles(value))
