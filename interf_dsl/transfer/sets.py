"""Transfer kind: external token sets and prompt sets (`transfer.sets`, `transfer.prompt_sets`).

Input: a file path. Output: `{type: {condition: [token strings]}}` or `{type: [sentences]}`. Every malformed file
is a `SpecError` located at `file:line:col` with what was expected.

Token sets, JSON::

    {"format": "interf-token-sets/1",            # optional
     "types": {"location": {"target": [" Paris", " London"], "high": [...], "medium": [...], "random": [...],
                            "random_matched": [...]}}}      # random_matched optional

(the top-level `types` wrapper is optional: `{"location": {...}}` works too). Strings are token strings exactly as
the target decodes them, leading space included; `target` lists are also the type labels used for scoring.

Prompt sets, JSON: `{"location": ["The treasure is buried somewhere in", ...], ...}` (optionally under `types`).
Prompt sets, text (`.txt`): a `[type]` header line starts a section; each following non-empty line is one
incomplete sentence (trailing newline and the line's final line break removed, other spaces kept); lines starting
with `#` are comments.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from interf_dsl.errors import Span, SpecError
from interf_dsl.transfer.trials import CONDITIONS

REQUIRED_LEVELS = ("target", "high", "medium", "random")
_HEADER = re.compile(r"^\[([A-Za-z0-9_.-]+)\]\s*$")


def load_token_sets(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """Read an external token-sets JSON file (format in the module docstring)."""
    p, text, data = _load_json(path)
    types = _types_of(p, text, data)
    out: dict[str, dict[str, list[str]]] = {}
    for typ, levels in types.items():
        if not isinstance(levels, dict):
            raise _at(p, text, typ, f"type '{typ}' must map levels to lists of token strings, got "
                      f"{type(levels).__name__}")
        unknown = [lv for lv in levels if lv not in CONDITIONS]
        if unknown:
            raise _at(p, text, unknown[0], f"unknown level '{unknown[0]}' in type '{typ}'", name=unknown[0],
                      choices=CONDITIONS)
        missing = [lv for lv in REQUIRED_LEVELS if lv not in levels]
        if missing:
            raise _at(p, text, typ, f"type '{typ}' lacks the level(s) {', '.join(missing)}")
        out[typ] = {lv: _strings(p, text, f"{typ}.{lv}", lv, vals) for lv, vals in levels.items()}
    return out


def load_prompt_sets(path: str | Path) -> dict[str, list[str]]:
    """Read external type sentences from a JSON or text file (formats in the module docstring)."""
    p = Path(path)
    if p.suffix.lower() != ".json":
        return _load_prompt_text(p)
    p, text, data = _load_json(p)
    return {typ: _strings(p, text, typ, typ, vals) for typ, vals in _types_of(p, text, data).items()}


def _load_prompt_text(p: Path) -> dict[str, list[str]]:
    text = _read(p)
    out: dict[str, list[str]] = {}
    current: str | None = None
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _HEADER.match(line.strip())
        if m:
            current = m.group(1)
            out.setdefault(current, [])
        elif current is None:
            raise SpecError("a sentence before any [type] header", span=Span(str(p), i, 1, len(line)),
                            hint="start the file with a header line such as [location]")
        else:
            out[current].append(line.rstrip("\r\n"))
    if not any(out.values()):
        raise SpecError(f"prompt set {p} has no sentences", span=Span(str(p), 1, 1))
    return out


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {p}: {exc}") from None


def _load_json(path: str | Path) -> tuple[Path, str, Any]:
    p = Path(path)
    text = _read(p)
    try:
        return p, text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"invalid JSON: {exc.msg}", span=Span(str(p), exc.lineno, exc.colno)) from None


def _types_of(p: Path, text: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SpecError(f"expected a JSON object of types, got {type(data).__name__}", span=Span(str(p), 1, 1))
    types = data.get("types", data) if "types" in data else {k: v for k, v in data.items() if k != "format"}
    if not isinstance(types, dict) or not types:
        raise _at(p, text, "types", "expected a non-empty object mapping type names")
    return types


def _strings(p: Path, text: str, where: str, key: str, vals: Any) -> list[str]:
    if not isinstance(vals, list) or not vals:
        raise _at(p, text, key, f"{where} must be a non-empty list of strings")
    bad = next((v for v in vals if not isinstance(v, str)), None)
    if bad is not None:
        raise _at(p, text, key, f"{where} holds a non-string value {bad!r}")
    return list(vals)


def _at(p: Path, text: str, key: str, message: str, **kw: Any) -> SpecError:
    """A SpecError pointing at the first occurrence of `"key"` in the file (line 1 when not found)."""
    needle = json.dumps(key)
    idx = text.find(needle)
    if idx < 0:
        return SpecError(message, span=Span(str(p), 1, 1), **kw)
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return SpecError(message, span=Span(str(p), line, col, len(needle)), **kw)
