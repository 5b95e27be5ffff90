"""Import, type sentences: any common sentence file -> `{"type": {type: [sentences]}, "vocab": {...}}`.

The output is the prompts-file shape (`prompts.path` with `prompts.source: file`), which `transfer.prompt_sets` reads
too. Input shapes (docs/data-formats.md): JSON `{type: [sentences]}` (also under `types`), the prompts-file shape
itself, text with a `[type]` line before each type's sentences, JSONL / CSV / TSV rows (columns `type` and
`sentence`/`text`/`prompt`), or a folder with one file per type (`location.txt`, one sentence per line).

Converted, each said in the result: type names (case, `--map`, `--other`), repeated sentences (compared by
`interventions.sentences.sentence_key`) kept once, blank sentences left out. Refused, located: type names no table
names, a shape with no type to put the sentences under.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from interf_dsl.dataio.common import (
    ROW_SUFFIXES,
    ImportResult,
    TypeMap,
    column,
    folder_files,
    read_json,
    read_list_file,
    read_rows,
    write_json,
)
from interf_dsl.errors import Span, SpecError
from interf_dsl.interventions.sentences import dedupe_sentences, read_file
from interf_dsl.jsonfile import Pairs, locate, read_text

NOUN = "sentence source"
TYPE_COLUMNS = ("type", "label", "category")
TEXT_COLUMNS = ("sentence", "text", "prompt")
_HEADER = re.compile(r"^\[([^\]]+)\]\s*$")
MIN_SENTENCES = 2
"""Fewer sentences than this and a type gets a warning: its effects have no spread to estimate."""


def import_sentences(src: str | Path, to: str | Path, *, aliases: dict[str, str] | None = None,
                     other: str | None = None) -> ImportResult:
    """Convert a sentence source into a prompts file at `to` (see the module docstring).

    Raises:
        SpecError: what cannot be converted unambiguously, located in the source where possible.
    """
    src, to = Path(src), Path(to)
    result = ImportResult("sentences", str(src), str(to))
    table = TypeMap(aliases or {}, other)  # a bad table is refused before the source is read
    by_name, vocab, where = _read(src, result)
    names = table.apply(Counter({k: len(v) for k, v in by_name.items()}), result,
                                                "type names", where=where)
    out: dict[str, list[str]] = {}
    for name, texts in by_name.items():
        if names[name] is not None:
            out.setdefault(names[name], []).extend(texts)
    blank = {t: sum(not s.strip() for s in v) for t, v in out.items()}
    if sum(blank.values()):
        result.note(f"{sum(blank.values())} blank sentences left out")
    removed = {}
    for typ in list(out):
        out[typ], removed[typ] = dedupe_sentences([s for s in out[typ] if s.strip()])
        if not out[typ]:
            del out[typ]
    if sum(removed.values()):
        result.note("repeated sentences kept once: " + ", ".join(f"{t} {n}" for t, n in sorted(removed.items()) if n))
    if not out:
        raise SpecError(f"{src}: no type sentences left to write")
    data: dict[str, Any] = {"type": dict(sorted(out.items()))}
    if vocab:
        data["vocab"] = vocab
    write_json(to, data)
    read_file(str(to))  # what validate will read
    for typ, texts in sorted(out.items()):
        result.summary[typ] = {"sentences": len(texts), "repeats removed": removed.get(typ, 0)}
        if len(texts) < MIN_SENTENCES:
            result.warnings.append(f"type {typ!r} has {len(texts)} sentence(s): too few to estimate an effect")
    return result


def _read(src: Path, result: ImportResult) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, Span]]:
    """(name as written -> sentences, vocabulary sentences of a prompts file, where each name is)."""
    if src.is_dir():
        files = folder_files(src, result)
        result.note(f"read one file per type from {src} ({len(files)} files; the file name is the type)")
        out: dict[str, list[str]] = {}
        for f in files:
            out.setdefault(f.stem, []).extend(read_list_file(f, NOUN))
        return out, {}, {f.stem: Span(str(f), 1, 1) for f in files}
    if src.suffix.lower() in ROW_SUFFIXES:
        return _rows(src), {}, {}
    if src.suffix.lower() != ".json":
        return _text(src), {}, {}
    text, data = read_json(src, NOUN)
    if isinstance(data, Pairs):
        top = dict(data)
        if set(top) <= {"type", "vocab"} and isinstance(top.get("type", Pairs()), Pairs):
            lists, vocab = _lists(src, text, top.get("type", Pairs())), dict(top.get("vocab", Pairs()))
        elif set(top) == {"types"} and isinstance(top["types"], Pairs):
            lists, vocab = _lists(src, text, top["types"]), {}
        else:
            lists, vocab = _lists(src, text, data), {}
        return lists, vocab, {k: locate(src, text, k) for k in lists}
    raise SpecError(f"{NOUN} {src}: expected a JSON object of types", span=Span(str(src), 1, 1),
                    hint="see docs/data-formats.md")


def _lists(src: Path, text: str, pairs: Pairs) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, texts in pairs:
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise SpecError(f"{NOUN}: {name!r} must be a list of sentences", span=locate(src, text, name))
        out.setdefault(name, []).extend(texts)  # a type named twice: both lists, merged
    return out


def _rows(src: Path) -> dict[str, list[str]]:
    rows = read_rows(src, NOUN)
    if not rows:
        raise SpecError(f"{NOUN} {src} has no rows", span=Span(str(src), 1, 1))
    typ, txt = column(rows[0][1], TYPE_COLUMNS), column(rows[0][1], TEXT_COLUMNS)
    if typ is None or txt is None:
        raise SpecError(f"{NOUN} {src}: rows need a type column ({', '.join(TYPE_COLUMNS)}) and a sentence column "
                        f"({', '.join(TEXT_COLUMNS)})", span=Span(str(src), rows[0][0], 1))
    out: dict[str, list[str]] = {}
    for _, row in rows:
        out.setdefault(str(row.get(typ)), []).append(str(row.get(txt) or ""))
    return out


def _text(src: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for i, line in enumerate(read_text(src, NOUN).splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _HEADER.match(line.strip())
        if m:
            current = m.group(1).strip()
            out.setdefault(current, [])
        elif current is None:
            raise SpecError(f"{NOUN}: a sentence before any [type] header", span=Span(str(src), i, 1, len(line)),
                            hint="start each type's sentences with a line such as [location]")
        else:
            out[current].append(line.rstrip("\r\n"))
    return out
