"""Interference kind, token-type label files (`sources.<name>.token_types`): the format, read by the `select` step and
checked by `interf validate`; and how many labels a model's vocabulary can use (coverage).

Format (docs/data-formats.md): one JSON object `{token_string: type}`, token strings exactly as the model decodes
them (leading space included), each type one of the 15 token types of docs/method.md §4.2 (`interf list`, token_type).
Refused, located in the file: a type outside the 15 (map it with `interf import token-types --map LABEL=TYPE`, or
`--other unknown`), a token string listed twice, a file keyed by token ids (`{"464": "person"}`: convert it with
`interf import token-types --model M`). Light on purpose (json only): resolve imports it to check a spec's files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from interf_dsl.errors import Span, SpecError
from interf_dsl.jsonfile import load_json, locate
from interf_dsl.zoo.catalog import TOKEN_TYPES

FORMAT_HINT = 'a token-type file is one JSON object {token_string: type}, e.g. {" Paris": "location", " 7": "number"}'
IMPORT_HINT = "`interf import token-types SRC --to FILE` converts other shapes (see docs/data-formats.md)"
NOUN = "token-type file"


def read_labels(path: str | Path) -> dict[str, str]:
    """Token string -> type, from a label file.

    Raises:
        SpecError: the file does not exist, is not UTF-8 JSON, is not an object of strings, repeats a token, is keyed
            by token ids, or names an unknown type (located inside the file).
    """
    p = str(path)
    text, data = load_json(p, NOUN, hint=FORMAT_HINT)
    if not isinstance(data, dict) or not data:
        raise SpecError(f"{NOUN} {p}: expected a non-empty JSON object, got {type(data).__name__}",
                        span=Span(p, 1, 1), hint=f"{FORMAT_HINT}; {IMPORT_HINT}")
    for token, label in data.items():
        if not isinstance(label, str):
            raise SpecError(f"{NOUN}: the type of {token!r} is {type(label).__name__}, not a string",
                            span=locate(p, text, token), hint=f"{FORMAT_HINT}; {IMPORT_HINT}")
    unknown = Counter(label for label in data.values() if label not in TOKEN_TYPES)
    if unknown:
        label, _ = unknown.most_common(1)[0]
        token = next(t for t, lab in data.items() if lab == label)
        listed = ", ".join(f"{lab!r} x{n}" for lab, n in unknown.most_common(6))
        raise SpecError(f"{NOUN}: unknown type {label!r} (token {token!r}; labels outside the token types: {listed}"
                        f"{', ...' if len(unknown) > 6 else ''})", span=locate(p, text, token, value=label),
                        name=label, choices=tuple(TOKEN_TYPES),
                        hint="or map such labels explicitly: `interf import token-types FILE --to FILE "
                             "--map LABEL=TYPE` (repeatable) or `--other unknown`")
    if id_keyed(data):
        first = next(iter(data))
        raise SpecError(f"{NOUN}: every key is a number ({first!r}, ...) but not every label is 'number': the file "
                        "looks keyed by token ids, and labels are keyed by token strings", span=locate(p, text, first),
                        hint="convert it with `interf import token-types FILE --to FILE --model MODEL` (ids read "
                             "through the model's tokenizer)")
    return data


def id_keyed(data: dict[str, str]) -> bool:
    """True when every key is a decimal number and some label is not `number` (a file keyed by token ids)."""
    return all(k.isdecimal() for k in data) and any(v != "number" for v in data.values())


def by_type(labels: dict[str, str]) -> dict[str, list[str]]:
    """Type -> its token strings, in file order."""
    out: dict[str, list[str]] = {}
    for token, typ in labels.items():
        out.setdefault(typ, []).append(token)
    return out


def label_coverage(labels: dict[str, str], vocab: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per type: `labels` (token strings labelled with it) and `in_vocab` (those that are single tokens of the
    model's vocabulary, i.e. usable: the others are never a next token and are left out of TARGET)."""
    known = set(vocab)
    out: dict[str, dict[str, int]] = {}
    for token, typ in labels.items():
        row = out.setdefault(typ, {"labels": 0, "in_vocab": 0})
        row["labels"] += 1
        row["in_vocab"] += token in known
    return out
