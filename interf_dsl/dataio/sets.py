"""Import, token sets: any common token-set file -> `{"format": "interf-token-sets/1", "types": {type: {level:
[strings]}}}` (`transfer.sets`; the sources take the same sets, docs/data-formats.md).

Input shapes: JSON `{type: {level: [tokens]}}` (also under `types`), the levels of one type with `--type T`, a
folder with one file per type (`location.json` holding its levels), or JSONL / CSV / TSV rows (columns `type`,
`level`, `token`). Converted, each said in the result: level names other files use (`high_interference` -> `high`,
`sets_file.LEVEL_ALIASES`, plus explicit `--level-map`), type names (case, `--map`, `--other`), tokenizer space
markers (`ĠParis`), repeated strings in a level kept once, with `--dedup` the strings in both HIGH and MEDIUM left
out of both (the `select` step's rule). Refused, located: unknown level names, a missing or empty level, one type's
levels without `--type`. With `--model`, the strings that are single tokens of that model are counted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from interf_dsl.dataio.common import (
    ROW_SUFFIXES,
    ImportResult,
    TypeMap,
    column,
    folder_files,
    model_vocab,
    parse_pairs,
    read_json,
    read_rows,
    unmark,
    write_json,
)
from interf_dsl.errors import Span, SpecError
from interf_dsl.interference.sets_file import LEVEL_ALIASES, LEVELS, REQUIRED_LEVELS, read_token_sets
from interf_dsl.interference.token_sets import MIN_TARGET_TOKENS
from interf_dsl.jsonfile import Pairs, locate

NOUN = "token-set source"
FORMAT = "interf-token-sets/1"

Levels = dict[str, list[str]]


def import_sets(src: str | Path, to: str | Path, *, type_: str | None = None, aliases: dict[str, str] | None = None,
                other: str | None = None, level_map: list[str] | None = None, dedup: bool = False,
                model: str | None = None) -> ImportResult:
    """Convert a token-set source into a token-sets file at `to` (see the module docstring).

    Raises:
        SpecError: what cannot be converted unambiguously, located in the source where possible.
    """
    src, to = Path(src), Path(to)
    result = ImportResult("sets", str(src), str(to))
    levels_map = {**LEVEL_ALIASES, **parse_pairs(level_map or (), "--level-map")}
    table = TypeMap(aliases or {}, other)  # a bad table is refused before the source is read
    raw = _read(src, type_, result)
    names = table.apply(Counter({k: 1 for k in raw}), result, "type names",
                                                where={k: v[2] for k, v in raw.items()})
    decoded = unmark([s for _, levels, _ in raw.values() for _, vals, _ in levels for s in vals], result)
    out: dict[str, Levels] = {}
    renamed: Counter = Counter()
    repeats = 0
    for name, (_, levels, where) in raw.items():
        typ = names[name]
        if typ is None:
            continue
        cur = out.setdefault(typ, {})
        for level, vals, at in levels:
            lv = _level(level, levels_map, at)
            if lv != level:
                renamed[(level, lv)] += 1
            cur.setdefault(lv, []).extend(decoded[s] for s in vals)
        for lv in cur:
            before = len(cur[lv])
            cur[lv] = list(dict.fromkeys(cur[lv]))
            repeats += before - len(cur[lv])
        _complete(typ, cur, where)
    if renamed:
        result.note("levels renamed: " + ", ".join(f"{a!r} -> {b!r} ({n} types)" for (a, b), n in renamed.items()))
    if repeats:
        result.note(f"{repeats} repeated strings within a level kept once")
    _overlaps(out, dedup, result)
    write_json(to, {"format": FORMAT, "types": dict(sorted(out.items()))})
    read_token_sets(to)  # what validate will read
    _summarise(out, model, result)
    return result


def _read(src: Path, type_: str | None, result: ImportResult) -> dict[str, tuple[Path, list, Span]]:
    """type name -> (file, [(level, strings, where)], where the type is)."""
    if src.is_dir():
        files = folder_files(src, result)
        result.note(f"read one file per type from {src} ({len(files)} files; the file name is the type)")
        out = {}
        for f in files:
            text, data = read_json(f, NOUN)
            out[f.stem] = (f, _levels(f, text, data, f.stem), Span(str(f), 1, 1))
        return out
    if src.suffix.lower() in ROW_SUFFIXES:
        return _rows(src)
    text, data = read_json(src, NOUN)
    if not isinstance(data, Pairs):
        raise SpecError(f"{NOUN} {src}: expected a JSON object", span=Span(str(src), 1, 1))
    top = [(k, v) for k, v in data if k != "format"]
    if len(top) == 1 and top[0][0] == "types" and isinstance(top[0][1], Pairs):
        top = list(top[0][1])
    one_type = all(k in LEVELS or k in LEVEL_ALIASES for k, _ in top)
    if one_type:
        if not type_:
            raise SpecError(f"{NOUN} {src} holds the levels of one type ({', '.join(k for k, _ in top)}) without "
                            "the type", span=locate(src, text, top[0][0]), hint="name it: --type location")
        result.note(f"read the levels of one type, named by --type {type_}")
        return {type_: (src, _levels(src, text, Pairs(top), type_), Span(str(src), 1, 1))}
    if type_:
        raise SpecError(f"--type {type_} names the type of a one-type file, but {src} holds several types")
    return {k: (src, _levels(src, text, v, k), locate(src, text, k)) for k, v in top}


def _levels(path: Path, text: str, data: Any, typ: str) -> list[tuple[str, list[str], Span]]:
    if not isinstance(data, Pairs):
        raise SpecError(f"{NOUN}: type {typ!r} must map levels to lists of token strings",
                        span=locate(path, text, typ))
    out = []
    for level, vals in data:
        at = locate(path, text, level, after=typ)
        if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
            raise SpecError(f"{NOUN}: {typ}.{level} must be a list of token strings", span=at)
        out.append((level, vals, at))
    return out


def _rows(src: Path) -> dict[str, tuple[Path, list, Span]]:
    rows = read_rows(src, NOUN)
    if not rows:
        raise SpecError(f"{NOUN} {src} has no rows", span=Span(str(src), 1, 1))
    cols = [column(rows[0][1], c) for c in (("type",), ("level", "condition", "set"), ("token_str", "token"))]
    if None in cols:
        raise SpecError(f"{NOUN} {src}: rows need the columns type, level and token", span=Span(str(src), 1, 1))
    grouped: dict[str, dict[str, list[str]]] = {}
    first: dict[tuple[str, str], int] = {}
    for line, row in rows:
        typ, level, tok = (str(row.get(c) or "") for c in cols)
        grouped.setdefault(typ, {}).setdefault(level, []).append(tok)
        first.setdefault((typ, level), line)
    return {typ: (src, [(lv, vals, Span(str(src), first[(typ, lv)], 1)) for lv, vals in levels.items()],
                  Span(str(src), first[(typ, next(iter(levels)))], 1)) for typ, levels in grouped.items()}


def _level(level: str, levels_map: dict[str, str], at: Span) -> str:
    if level in LEVELS:
        return level
    key = level.strip().casefold()
    for name in (level, key):
        if name in levels_map:
            return levels_map[name]
    if key in LEVELS:
        return key
    raise SpecError(f"unknown level {level!r}", span=at, name=level, choices=LEVELS,
                    hint="or name it: --level-map LEVEL=high (repeatable)")


def _complete(typ: str, levels: Levels, where: Span) -> None:
    missing = [lv for lv in REQUIRED_LEVELS if lv not in levels]
    empty = [lv for lv, vals in levels.items() if not vals]
    if missing or empty:
        what = ", ".join([*(f"{lv} (missing)" for lv in missing), *(f"{lv} (empty)" for lv in empty)])
        raise SpecError(f"type {typ!r} lacks level(s) {what}", span=where,
                        hint=f"every type needs non-empty {', '.join(REQUIRED_LEVELS)} (random_matched optional)")


def _overlaps(out: dict[str, Levels], dedup: bool, result: ImportResult) -> None:
    both = {t: set(lv["high"]) & set(lv["medium"]) for t, lv in out.items()}
    n = sum(map(len, both.values()))
    if n and dedup:
        for t, strs in both.items():
            out[t]["high"] = [s for s in out[t]["high"] if s not in strs]
            out[t]["medium"] = [s for s in out[t]["medium"] if s not in strs]
            _complete(t, out[t], Span("<after --dedup>", 1, 1))
        result.note(f"{n} strings in both HIGH and MEDIUM left out of both (--dedup)")
    elif n:
        result.warnings.append(f"{n} strings are in both HIGH and MEDIUM (kept; --dedup leaves them out of both, "
                               "as the select step does with its own sets)")
    target = sum(len(set(lv["target"]) & set(s for k in ("high", "medium", "random") for s in lv[k]))
                 for lv in out.values())
    if target:
        result.warnings.append(f"{target} TARGET strings also sit in HIGH, MEDIUM or RANDOM")


def _summarise(out: dict[str, Levels], model: str | None, result: ImportResult) -> None:
    vocab = set(model_vocab(model)) if model else None
    for typ, levels in sorted(out.items()):
        nums: dict[str, Any] = {lv: len(levels[lv]) for lv in LEVELS if lv in levels}
        if vocab is not None:
            scorable = sum(s in vocab for s in levels["target"])
            nums[f"target single tokens of {model}"] = scorable
            outside = sum(s not in vocab for vals in levels.values() for s in vals)
            nums[f"strings no single token of {model}"] = outside
            if scorable < MIN_TARGET_TOKENS:
                result.warnings.append(f"type {typ!r}: {scorable} TARGET string(s) are single tokens of {model} "
                                       f"(< {MIN_TARGET_TOKENS}): too few to score")
        result.summary[typ] = nums
