"""Interference kind, external token-set files (`transfer.sets`): the format, read by `select` (the sources' sets,
when the study gives external ones), by `transfer` (the targets') and checked by `interf validate`.

Format (docs/data-formats.md)::

    {"format": "interf-token-sets/1",            # optional
     "types": {"location": {"target": [" Paris", " London"], "high": [...], "medium": [...], "random": [...],
                            "random_matched": [...]}}}      # random_matched optional

(the top-level `types` wrapper is optional: `{"location": {...}}` works too). Types are token types (`interf list`),
levels are `target`, `high`, `medium`, `random`, `random_matched`. Strings are token strings exactly as the model
decodes them, leading space included; `target` lists are also the type labels used for scoring. A string repeated in
one level is kept once and counted. Refused, located in the file: other level names (`high_interference`:
`interf import sets` renames the common aliases, `LEVEL_ALIASES`), the levels of one type without the type around
them, types outside the token types, a key repeated in one object. Light on purpose (json only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interf_dsl.errors import Span, SpecError
from interf_dsl.jsonfile import load_json, locate
from interf_dsl.zoo.catalog import TOKEN_TYPES

LEVELS = ("target", "high", "medium", "random", "random_matched")
"""The levels (transfer conditions) of a token set, in order."""
REQUIRED_LEVELS = ("target", "high", "medium", "random")
LEVEL_ALIASES: dict[str, str] = {
    "targets": "target", "target_tokens": "target", "type_tokens": "target", "type": "target",
    "high_interference": "high", "high_interference_tokens": "high", "hi": "high",
    "medium_interference": "medium", "medium_interference_tokens": "medium", "low_interference": "medium",
    "low": "medium", "med": "medium",
    "random_tokens": "random", "control": "random", "random_control": "random", "baseline": "random",
    "matched_random": "random_matched", "random_frequency_matched": "random_matched", "matched": "random_matched",
}
"""Level names other token-set files use -> interf's (`interf import sets` renames them and says so; the paper's
MEDIUM set is its low-interference set)."""
NOUN = "token-sets file"
IMPORT_SETS = "`interf import sets SRC --to FILE` converts other shapes (docs/data-formats.md)"
IMPORT_SENTENCES = "`interf import sentences SRC --to FILE` converts other shapes (docs/data-formats.md)"


@dataclass(frozen=True)
class TokenSetsFile:
    """An external token-sets file as the run uses it."""

    sets: dict[str, dict[str, list[str]]]
    """type -> level -> token strings (repeats left out)."""
    removed: dict[str, dict[str, int]]
    """type -> level -> repeated strings left out (only where some were)."""


def load_token_sets(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """Read an external token-sets JSON file (format in the module docstring)."""
    return read_token_sets(path).sets


def read_token_sets(path: str | Path) -> TokenSetsFile:
    """Read an external token-sets JSON file, with the repeats it held."""
    p = Path(path)
    text, data = load_json(p, NOUN, hint=IMPORT_SETS)
    top = [k for k in data if k != "format"] if isinstance(data, dict) else []
    as_levels = [k for k in top if k in LEVELS or k in LEVEL_ALIASES]
    if as_levels and "types" not in data and len(as_levels) == len(top):
        raise at_key(p, text, as_levels[0], f"{NOUN} holds the levels of one type ({', '.join(top)}) without the type "
                  "around them", hint='wrap them as {"location": {...}}, or run `interf import sets FILE --to FILE '
                  '--type location`')
    types = types_of(p, text, data, NOUN)
    out: dict[str, dict[str, list[str]]] = {}
    removed: dict[str, dict[str, int]] = {}
    for typ, levels in types.items():
        if not isinstance(levels, dict):
            raise at_key(p, text, typ, f"type '{typ}' must map levels to lists of token strings, got "
                      f"{type(levels).__name__}", hint=IMPORT_SETS)
        for lv in levels:
            if lv in LEVEL_ALIASES:
                raise at_key(p, text, lv, f"level '{lv}' in type '{typ}' is interf's '{LEVEL_ALIASES[lv]}' under "
                          "another name", after=typ, hint=f"rename it to '{LEVEL_ALIASES[lv]}'; {IMPORT_SETS}")
            if lv not in LEVELS:
                raise at_key(p, text, lv, f"unknown level '{lv}' in type '{typ}'", after=typ, name=lv,
                          choices=LEVELS)
        missing = [lv for lv in REQUIRED_LEVELS if lv not in levels]
        if missing:
            raise at_key(p, text, typ, f"type '{typ}' lacks the level(s) {', '.join(missing)}",
                      hint=f"every type needs {', '.join(REQUIRED_LEVELS)} (random_matched is optional)")
        out[typ] = {}
        for lv, vals in levels.items():
            kept, n = _unique(strings_of(p, text, f"{typ}.{lv}", lv, vals, after=typ))
            out[typ][lv] = kept
            if n:
                removed.setdefault(typ, {})[lv] = n
    return TokenSetsFile(out, removed)


def types_of(p: Path, text: str, data: Any, noun: str) -> dict[str, Any]:
    """The `{type: ...}` object of a token-sets or type-sentences file (under `types` or at the top), every type a
    token type."""
    if not isinstance(data, dict):
        raise SpecError(f"expected a JSON object of types, got {type(data).__name__}", span=Span(str(p), 1, 1),
                        hint=IMPORT_SETS if noun == NOUN else IMPORT_SENTENCES)
    types = data.get("types", data) if "types" in data else {k: v for k, v in data.items() if k != "format"}
    if not isinstance(types, dict) or not types:
        raise at_key(p, text, "types", "expected a non-empty object mapping type names")
    unknown = [t for t in types if t not in TOKEN_TYPES]
    if unknown:
        raise at_key(p, text, unknown[0], f"{noun}: unknown token type '{unknown[0]}'", name=unknown[0],
                  choices=tuple(TOKEN_TYPES), hint="or let `interf import` rename types (--map NAME=TYPE) or leave them "
                  "out (--other drop)")
    return types


def strings_of(p: Path, text: str, where: str, key: str, vals: Any, after: str | None = None) -> list[str]:
    """`vals` as a non-empty list of strings, or a SpecError at `"key"` (after `"after"`)."""
    if not isinstance(vals, list) or not vals:
        raise at_key(p, text, key, f"{where} must be a non-empty list of strings", after=after)
    bad = next((v for v in vals if not isinstance(v, str)), None)
    if bad is not None:
        raise at_key(p, text, key, f"{where} holds a non-string value {bad!r}", after=after)
    return list(vals)


def _unique(vals: list[str]) -> tuple[list[str], int]:
    kept = list(dict.fromkeys(vals))
    return kept, len(vals) - len(kept)


def at_key(p: Path, text: str, key: str, message: str, *, after: str | None = None, **kw: Any) -> SpecError:
    """A SpecError pointing at `"key"` in the file (after `"after"` when given; line 1 when not found)."""
    return SpecError(message, span=locate(p, text, key, after=after), **kw)
