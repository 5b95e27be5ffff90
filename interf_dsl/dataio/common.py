"""Import, shared pieces: the change report, explicit type renaming, reading the common source shapes, writing.

Input: a source path in one of the shapes docs/data-formats.md lists (a JSON file, JSONL / CSV / TSV rows, a text
file, a folder with one file per type) and the user's explicit tables (`--map LABEL=TYPE`, `--other TYPE|drop`).
Output: plain Python values for the converters, and an `ImportResult` that says every change made, with counts.
Nothing is renamed, dropped or merged without a line in the result; what cannot be converted unambiguously is a
`SpecError` located in the source file.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interf_dsl.errors import Span, SpecError, did_you_mean
from interf_dsl.jsonfile import load_json, read_text
from interf_dsl.zoo.catalog import TOKEN_TYPES, artifacts_dir, model_info

DROP = "drop"
"""A `--map`/`--other` target: leave those entries out (said in the result)."""
ROW_SUFFIXES = (".jsonl", ".csv", ".tsv")
LIST_SUFFIXES = (".txt", ".json", ".jsonl", ".csv", ".tsv")
"""Files a one-file-per-type folder may hold (their stem is the type)."""


@dataclass
class ImportResult:
    """What one import read, wrote and changed."""

    kind: str
    source: str
    out: str = ""
    changes: list[str] = field(default_factory=list)
    """Every change made to the data, one line each, with counts (empty: already in interf's format)."""
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per type (or SAE): the numbers written (entries, levels, sentences, records, vocabulary coverage)."""
    warnings: list[str] = field(default_factory=list)
    """What the data lacks for a study (few usable tokens, ...); the file is written all the same."""

    def note(self, line: str) -> None:
        self.changes.append(line)

    def render(self) -> str:
        """The report `interf import` prints."""
        out = [f"wrote {self.out} ({self.kind}) from {self.source}"]
        out += [f"  changed: {c}" for c in self.changes] or ["  changed: nothing (already in interf's format)"]
        for name, nums in self.summary.items():
            out.append(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in nums.items()))
        out += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "out": self.out, "changes": self.changes,
                "summary": self.summary, "warnings": self.warnings}


def parse_pairs(items: Iterable[str], option: str) -> dict[str, str]:
    """`A=B` options as {A: B}; a malformed or repeated one is a SpecError."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SpecError(f"{option} {item!r}: expected FROM=TO", hint=f"e.g. {option} NOUN=object")
        if key in out and out[key] != value:
            raise SpecError(f"{option} maps {key!r} twice ({out[key]!r} and {value!r})")
        out[key] = value
    return out


class TypeMap:
    """Source labels -> token types, by explicit tables only: a token type (letter case and spaces aside) is kept,
    `aliases` rename (`--map`), `other` takes every remaining label (`--other`); anything else is refused."""

    def __init__(self, aliases: dict[str, str], other: str | None, allowed: tuple[str, ...] = ()) -> None:
        valid = (*TOKEN_TYPES, DROP, *allowed)
        for target in [*aliases.values(), *([other] if other else [])]:
            if target not in valid:
                raise SpecError(f"unknown token type {target!r} as a --map/--other target", name=target,
                                choices=valid)
        self.aliases, self.other = aliases, other
        self._folded = {k.strip().casefold(): v for k, v in aliases.items()}

    def apply(self, counts: Counter, result: ImportResult, what: str = "labels",
              where: dict[str, Span] | None = None) -> dict[str, str | None]:
        """Each distinct label -> its type (None: dropped); every change is noted in `result`; `where` locates a
        label's first use for the error.

        Raises:
            SpecError: labels that are no token type and are named by no table (listed with their counts).
        """
        out: dict[str, str | None] = {}
        renamed: Counter = Counter()
        unknown = []
        for label, n in counts.most_common():
            key = str(label).strip()
            if key in TOKEN_TYPES:
                out[label] = key
                if key != label:
                    renamed[(label, key, "spaces trimmed")] += n
            elif label in self.aliases or key.casefold() in self._folded:
                out[label] = self.aliases.get(label) or self._folded[key.casefold()]
                renamed[(label, out[label], "--map")] += n
            elif key.casefold() in TOKEN_TYPES:
                out[label] = key.casefold()
                renamed[(label, out[label], "letter case")] += n
            elif self.other is not None:
                out[label] = self.other
                renamed[(label, self.other, "--other")] += n
            else:
                unknown.append((label, n))
        if unknown:
            shown = ", ".join(f"{lab!r} x{n}" for lab, n in unknown[:8]) + (", ..." if len(unknown) > 8 else "")
            guess = did_you_mean(str(unknown[0][0]).casefold(), TOKEN_TYPES)
            raise SpecError(f"{what} that are no token types ({len(unknown)}): {shown}",
                            span=(where or {}).get(unknown[0][0]), hint=(f"did you mean '{guess}'? " if guess else "")
                            + "name each in an explicit table: --map LABEL=TYPE (repeatable; TYPE may be 'drop') "
                            f"and/or --other TYPE|drop for all the rest; token types: {', '.join(TOKEN_TYPES)}")
        by_reason: dict[str, list[str]] = {}
        for (label, target, reason), n in sorted(renamed.items(), key=lambda kv: (kv[0][2], -kv[1])):
            by_reason.setdefault(reason, []).append(f"{label!r} -> {target or DROP} ({n})")
        for reason, items in by_reason.items():
            result.note(f"{what} renamed ({reason}): " + ", ".join(items[:12]) + (", ..." if len(items) > 12 else ""))
        return {k: (None if v == DROP else v) for k, v in out.items()}


def read_json(path: Path, noun: str) -> tuple[str, Any]:
    """(text, value) with objects as `Pairs` (repeated keys kept for the converter to merge or refuse)."""
    return load_json(path, noun, pairs=True)


def read_rows(path: Path, noun: str) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) of a JSONL, CSV or TSV file (CSV/TSV: the first line names the columns)."""
    text = read_text(path, noun)
    if path.suffix.lower() == ".jsonl":
        rows = []
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SpecError(f"{noun}: line {i} is not JSON ({exc.msg})", span=Span(str(path), i, exc.colno)) \
                    from None
            if not isinstance(row, dict):
                raise SpecError(f"{noun}: line {i} is not a JSON object", span=Span(str(path), i, 1))
            rows.append((i, row))
        return rows
    reader = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    return [(reader.line_num, dict(row)) for row in reader]


def column(row: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The first of `names` the row has (compared without letter case), or None."""
    folded = {str(k).strip().casefold(): k for k in row}
    return next((folded[n] for n in names if n in folded), None)


def folder_files(folder: Path, result: ImportResult) -> list[Path]:
    """The data files of a one-file-per-type folder, sorted; anything else is listed as skipped."""
    files, skipped = [], []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in LIST_SUFFIXES and not p.name.startswith("."):
            files.append(p)
        else:
            skipped.append(p.name)
    if skipped:
        result.note(f"skipped {len(skipped)} entries of {folder} that are no data file: {', '.join(skipped[:6])}")
    if not files:
        raise SpecError(f"{folder} holds no data file ({', '.join(LIST_SUFFIXES)})")
    return files


def read_list_file(path: Path, noun: str) -> list[str]:
    """The strings of one per-type file (`read_list_items` without line numbers)."""
    return [s for _, s in read_list_items(path, noun)]


def read_list_items(path: Path, noun: str) -> list[tuple[int, str]]:
    """(line, string) of one per-type file: a .txt file's lines (line breaks removed, spaces kept, blank lines and
    `#` comments left out) or a .json list of strings (line 1)."""
    if path.suffix.lower() == ".json":
        text, data = load_json(path, noun)
        if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
            raise SpecError(f"{noun} {path} must be a JSON list of strings", span=Span(str(path), 1, 1))
        return [(1, v) for v in data]
    lines = read_text(path, noun).splitlines()
    return [(i, line) for i, line in enumerate(lines, start=1) if line.strip() and not line.lstrip().startswith("#")]


def unmark(strings: Iterable[str], result: ImportResult) -> dict[str, str]:
    """Raw vocabulary spellings -> decoded token strings, when the source writes tokens as a tokenizer's vocabulary
    does (`Ġ` for a leading space, `Ċ` for a line break; `▁` in SentencePiece) and never with a real leading space;
    else the identity. Noted in `result`."""
    items = list(dict.fromkeys(strings))
    for marker, name in (("Ġ", "byte-level BPE"), ("▁", "SentencePiece")):
        if any(s.startswith(marker) for s in items) and not any(s.startswith(" ") for s in items):
            out = {s: s.replace(marker, " ").replace("Ċ", "\n") if marker == "Ġ" else s.replace(marker, " ")
                   for s in items}
            n = sum(a != b for a, b in out.items())
            result.note(f"{n} token strings written with {name} markers ({marker!r} for a space) decoded")
            return out
    return {s: s for s in items}


def model_vocab(ref: str) -> list[str]:
    """The decoded string of every token id of a model's tokenizer (as the atlas's `vocab` table shows them):
    `zoo:<name>`, a local model folder with tokenizer files, or a Hugging Face name in the local cache."""
    from transformers import AutoTokenizer  # lazy: heavy, only for an import that names --model

    where: str | Path = ref
    if ref.startswith("zoo:"):
        model_info(ref[4:])  # an unknown zoo name is a ResolveError with the choices
        where = artifacts_dir() / "models" / ref[4:]
    try:
        tok = AutoTokenizer.from_pretrained(str(where))
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot load the tokenizer of --model {ref!r} ({str(exc).splitlines()[0]})",
                        hint="name zoo:<model>, a local model folder, or a Hugging Face model in the local cache") \
            from None
    return [tok.decode([i]) for i in range(len(tok))]


def write_json(path: Path, data: Any) -> None:
    """Write JSON (UTF-8, keys as given) through a temporary file, so a failed import leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
