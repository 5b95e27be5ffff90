"""Transfer kind: external token sets and prompt sets (`transfer.sets`, `transfer.prompt_sets`).

Input: a file path. Output: `{type: {condition: [token strings]}}` or `{type: [sentences]}`, each list without its
repeats (`read_token_sets` / `read_prompt_sets` also count what was left out). Every malformed file is a
`SpecError` located at `file:line:col` with what was expected (docs/data-formats.md has every format).

Token sets: the format and reader live in `interference/sets_file.py` (the `select` step reads the same file for
the sources), re-exported here.

Prompt sets, JSON: `{"location": ["The treasure is buried somewhere in", ...], ...}` (optionally under `types`, or
the prompts-file shape `{"type": {...}, "vocab": {...}}`, whose `type` part is read); types are token types.
Prompt sets, text (`.txt`): a `[type]` header line starts a section; each following non-empty line is one
incomplete sentence (trailing newline and the line's final line break removed, other spaces kept); lines starting
with `#` are comments. Repeated sentences (`interventions.sentences.sentence_key`) are kept once and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from interf_dsl.errors import Span, SpecError
from interf_dsl.interference.sets_file import (
    IMPORT_SENTENCES,
    LEVEL_ALIASES,
    REQUIRED_LEVELS,
    TokenSetsFile,
    load_token_sets,
    read_token_sets,
    strings_of,
    types_of,
)
from interf_dsl.interventions.sentences import dedupe_sentences
from interf_dsl.jsonfile import load_json, read_text
from interf_dsl.zoo.catalog import TOKEN_TYPES

_HEADER = re.compile(r"^\[([A-Za-z0-9_.-]+)\]\s*$")
PROMPT_NOUN = "type-sentences file"
__all__ = ["LEVEL_ALIASES", "REQUIRED_LEVELS", "PromptSetsFile", "TokenSetsFile", "load_prompt_sets",
           "load_token_sets", "read_prompt_sets", "read_token_sets"]


@dataclass(frozen=True)
class PromptSetsFile:
    """An external type-sentences file as the run uses it."""

    by_type: dict[str, list[str]]
    """type -> sentences (repeats left out)."""
    removed: dict[str, int]
    """type -> repeated sentences left out (only where some were)."""


def load_prompt_sets(path: str | Path) -> dict[str, list[str]]:
    """Read external type sentences from a JSON or text file (formats in the module docstring)."""
    return read_prompt_sets(path).by_type


def read_prompt_sets(path: str | Path) -> PromptSetsFile:
    """Read external type sentences, with the repeats they held."""
    p = Path(path)
    if p.suffix.lower() != ".json":
        raw = _load_prompt_text(p)
    else:
        text, data = load_json(p, PROMPT_NOUN, hint=IMPORT_SENTENCES)
        if isinstance(data, dict) and isinstance(data.get("type"), dict) and set(data) <= {"type", "vocab"}:
            data = data["type"]  # the prompts-file shape: its type sentences
        raw = {typ: strings_of(p, text, typ, typ, vals) for typ, vals in types_of(p, text, data, PROMPT_NOUN).items()}
    by_type, removed = {}, {}
    for typ, texts in raw.items():
        by_type[typ], n = dedupe_sentences(texts)
        if n:
            removed[typ] = n
    return PromptSetsFile(by_type, removed)


def _load_prompt_text(p: Path) -> dict[str, list[str]]:
    text = read_text(p, PROMPT_NOUN)
    out: dict[str, list[str]] = {}
    current: str | None = None
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _HEADER.match(line.strip())
        if m:
            current = m.group(1)
            if current not in TOKEN_TYPES:
                raise SpecError(f"{PROMPT_NOUN}: unknown token type [{current}]",
                                span=Span(str(p), i, line.index(current) + 1, len(current)), name=current,
                                choices=tuple(TOKEN_TYPES), hint=f"or rename the header; {IMPORT_SENTENCES}")
            out.setdefault(current, [])
        elif current is None:
            raise SpecError("a sentence before any [type] header", span=Span(str(p), i, 1, len(line)),
                            hint="start the file with a header line such as [location]")
        else:
            out[current].append(line.rstrip("\r\n"))
    if not any(out.values()):
        raise SpecError(f"prompt set {p} has no sentences", span=Span(str(p), 1, 1))
    return out



