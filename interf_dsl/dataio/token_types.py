"""Import, token-type labels: any common label file -> `{token_string: type}` (`sources.<name>.token_types`).

Input shapes (docs/data-formats.md): a JSON object `{token: label}` keyed by token strings or by token ids, a JSON
object `{label: [tokens]}`, a JSON list of rows or of `[token, label]` pairs, JSONL / CSV / TSV rows (columns
`token`/`token_str`, `token_id`/`id`, `type`/`label`), or a folder with one file per type (`location.txt`, one token
per line; or `location.json`, a list). Output: the label file, sorted by token string, and the `ImportResult`.

What is converted, each said in the result: ids read through `--model`'s tokenizer, tokenizer space markers
(`ĠParis`) decoded, label case and spaces, labels renamed by `--map` or `--other`, repeated entries merged,
conflicting entries resolved by `--conflict first|drop`. What is refused, located: labels no table names, ids
without `--model`, conflicts under `--conflict refuse` (the default).
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
    read_json,
    read_list_items,
    read_rows,
    unmark,
    write_json,
)
from interf_dsl.errors import Span, SpecError
from interf_dsl.interference.labels import label_coverage, read_labels
from interf_dsl.interference.token_sets import MIN_TARGET_TOKENS
from interf_dsl.jsonfile import Pairs, locate

NOUN = "label source"
TOKEN_COLUMNS = ("token_str", "token", "string", "text", "word")
ID_COLUMNS = ("token_id", "id")
LABEL_COLUMNS = ("type", "label", "category", "tag", "pos")
CONFLICTS = ("refuse", "first", "drop")

Entry = tuple[Any, Any, Span]
"""(token string or id, label, where in the source)."""


def import_token_types(src: str | Path, to: str | Path, *, model: str | None = None, key: str = "auto",
                       aliases: dict[str, str] | None = None, other: str | None = None,
                       conflict: str = "refuse") -> ImportResult:
    """Convert a label source into a token-type file at `to` (see the module docstring).

    Args:
        model: a model reference whose tokenizer reads token ids and measures coverage (`zoo:gpt2-tiny`, a folder).
        key: `auto`, `string` or `id`: what the keys of the source are.
        aliases: explicit label -> type table (`--map`); a target `drop` leaves those tokens out.
        other: the type (or `drop`) of every label neither a token type nor in `aliases` (`--other`).
        conflict: a token with two labels: `refuse`, keep the `first`, or `drop` it.

    Raises:
        SpecError: what cannot be converted unambiguously, located in the source where possible.
    """
    if key not in ("auto", "string", "id") or conflict not in CONFLICTS:
        raise SpecError(f"unknown --key {key!r} or --conflict {conflict!r}",
                        hint=f"--key auto|string|id, --conflict {'|'.join(CONFLICTS)}")
    src, to = Path(src), Path(to)
    result = ImportResult("token-types", str(src), str(to))
    table = TypeMap(aliases or {}, other)  # a bad table is refused before the source is read
    entries, keyed_by = _entries(src, key, result)
    vocab = model_vocab(model) if model else None
    if keyed_by == "id":
        entries = _decode_ids(entries, vocab, model, result)
    else:
        decoded = unmark([str(t) for t, _, _ in entries], result)
        entries = [(decoded[str(t)], lab, where) for t, lab, where in entries]
    first = {}
    for _, lab, where in entries:
        first.setdefault(str(lab), where)
    types = table.apply(Counter(str(lab) for _, lab, _ in entries), result, where=first)
    labels = _merge(entries, types, conflict, result)
    if not labels:
        raise SpecError(f"{src}: no token keeps a label after the tables (every label dropped)")
    write_json(to, dict(sorted(labels.items())))
    read_labels(to)  # what validate will read
    _summarise(labels, vocab, model, result)
    return result


def _entries(src: Path, key: str, result: ImportResult) -> tuple[list[Entry], str]:
    """Every (token, label, where) of the source, and whether tokens are `string`s or `id`s."""
    if src.is_dir():
        files = folder_files(src, result)
        result.note(f"read one file per type from {src} ({len(files)} files; the file name is the label)")
        entries = [(tok, f.stem, Span(str(f), line, 1, max(len(tok), 1))) for f in files
                   for line, tok in read_list_items(f, NOUN)]
        return entries, _key_mode(key, entries, "string")
    if src.suffix.lower() in ROW_SUFFIXES:
        return _from_rows([(Span(str(src), line, 1), row) for line, row in read_rows(src, NOUN)], key, src)
    text, data = read_json(src, NOUN)
    if isinstance(data, Pairs) and all(isinstance(v, str) for _, v in data):
        entries = [(k, v, locate(src, text, k)) for k, v in data]
        return entries, _key_mode(key, entries, "object")
    if isinstance(data, Pairs) and all(isinstance(v, list) for _, v in data):
        result.note("read {label: [tokens]} lists (one list per label)")
        entries = [(tok, lab, locate(src, text, lab)) for lab, toks in data for tok in toks]
        return entries, _key_mode(key, entries, "string")
    if isinstance(data, list) and data and all(isinstance(r, Pairs) for r in data):
        return _from_rows([(Span(str(src), 1, 1), dict(r)) for r in data], key, src)
    if isinstance(data, list) and data and all(isinstance(r, list) and len(r) == 2 for r in data):
        entries = [(r[0], r[1], Span(str(src), 1, 1)) for r in data]
        return entries, _key_mode(key, entries, "object")
    raise SpecError(f"{NOUN} {src}: not a shape interf reads (a {{token: label}} or {{label: [tokens]}} object, "
                    "a list of rows, JSONL/CSV/TSV rows, or a folder with one file per type)",
                    span=Span(str(src), 1, 1), hint="see docs/data-formats.md")


def _from_rows(rows: list[tuple[Span, dict]], key: str, src: Path) -> tuple[list[Entry], str]:
    if not rows:
        raise SpecError(f"{NOUN} {src} has no rows", span=Span(str(src), 1, 1))
    first = rows[0][1]
    tok_col, id_col, lab_col = (column(first, c) for c in (TOKEN_COLUMNS, ID_COLUMNS, LABEL_COLUMNS))
    if lab_col is None or (tok_col is None and id_col is None):
        raise SpecError(f"{NOUN} {src}: rows need a label column ({', '.join(LABEL_COLUMNS)}) and a token column "
                        f"({', '.join(TOKEN_COLUMNS)}) or an id column ({', '.join(ID_COLUMNS)}); got "
                        f"{', '.join(map(str, first))}", span=rows[0][0])
    use_id = key == "id" or (key == "auto" and tok_col is None)
    col = id_col if use_id else tok_col
    if col is None:
        raise SpecError(f"{NOUN} {src}: --key {key} but the rows have no such column", span=rows[0][0])
    return [(row.get(col), row.get(lab_col), where) for where, row in rows], "id" if use_id else "string"


def _key_mode(key: str, entries: list[Entry], shape: str) -> str:
    """`id` for keys that are token ids: asked for, or (auto) an object whose keys are all decimal numbers while
    not every label is a number type (`interference.labels.id_keyed`)."""
    if key != "auto":
        return key
    if shape == "object" and entries and all(str(t).isdecimal() for t, _, _ in entries) and \
            any(str(lab).strip().casefold() != "number" for _, lab, _ in entries):
        return "id"
    return "string"


def _decode_ids(entries: list[Entry], vocab: list[str] | None, model: str | None,
                result: ImportResult) -> list[Entry]:
    if vocab is None:
        raise SpecError("the source is keyed by token ids (every key a number, not every label 'number')",
                        span=entries[0][2], hint="name the model whose ids these are (--model zoo:gpt2-tiny, a "
                        "folder), or --key string if the keys are token strings")
    out = []
    for t, lab, where in entries:
        try:
            i = int(t)
        except (TypeError, ValueError):
            raise SpecError(f"token id {t!r} is not an integer", span=where) from None
        if not 0 <= i < len(vocab):
            raise SpecError(f"token id {i} is outside the vocabulary of {model} ({len(vocab)} ids)", span=where,
                            hint="is --model the model these ids belong to?")
        out.append((vocab[i], lab, where))
    result.note(f"{len(out)} token ids read as token strings through {model}'s tokenizer")
    return out


def _merge(entries: list[Entry], types: dict[str, str | None], conflict: str, result: ImportResult) -> dict[str, str]:
    labels: dict[str, str] = {}
    repeats, dropped, conflicts = 0, 0, []
    for tok, lab, where in entries:
        typ = types[str(lab)]
        if typ is None:
            dropped += 1
            continue
        if tok not in labels:
            labels[tok] = typ
        elif labels[tok] == typ:
            repeats += 1
        else:
            if conflict == "refuse":
                raise SpecError(f"token {tok!r} is labelled both {labels[tok]!r} and {typ!r} (from {lab!r})",
                                span=where, hint="keep one label per token, or pass --conflict first (keep the "
                                "first label) or --conflict drop (leave such tokens out)")
            conflicts.append(tok)
    if dropped:
        result.note(f"{dropped} entries left out (their label maps to 'drop')")
    if repeats:
        result.note(f"{repeats} repeated entries (same token, same type) merged")
    if conflicts:
        uniq = list(dict.fromkeys(conflicts))
        if conflict == "drop":
            for tok in uniq:
                labels.pop(tok, None)
        result.note(f"{len(uniq)} tokens with two labels: {'first label kept' if conflict == 'first' else 'left out'}"
                    f" (--conflict {conflict}): {', '.join(map(repr, uniq[:6]))}{', ...' if len(uniq) > 6 else ''}")
    return labels


def _summarise(labels: dict[str, str], vocab: list[str] | None, model: str | None, result: ImportResult) -> None:
    cov = label_coverage(labels, vocab if vocab is not None else labels)
    for typ in sorted(cov):
        nums: dict[str, Any] = {"labels": cov[typ]["labels"]}
        if vocab is not None:
            nums[f"single tokens of {model}"] = cov[typ]["in_vocab"]
            if cov[typ]["in_vocab"] < MIN_TARGET_TOKENS and typ != "unknown":
                result.warnings.append(f"type {typ!r}: {cov[typ]['in_vocab']} label(s) are single tokens of {model} "
                                       f"(< {MIN_TARGET_TOKENS}): too few TARGET tokens to test it")
        result.summary[typ] = nums
    if vocab is not None:
        outside = sum(c["labels"] - c["in_vocab"] for c in cov.values())
        if outside:
            result.warnings.append(f"{outside} of {len(labels)} label strings are no single token of {model}: they "
                                   "are never a next token and never count as TARGET tokens")
