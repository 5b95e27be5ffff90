"""Interference kind, token-type label files (`sources.<name>.token_types`): the format, read by the `select` step and
checked by `interf validate`.

Format: one JSON object `{token_string: type}`, token strings exactly as the model decodes them (leading space
included), each type one of the 15 token types of docs/method.md §4.2 (`interf list`, token_type). Light on purpose (json
only): resolve imports it to check a spec's files.
"""

from __future__ import annotations

import json
from pathlib import Path

from interf_dsl.errors import SpecError
from interf_dsl.zoo.catalog import TOKEN_TYPES

FORMAT_HINT = 'a token-type file is one JSON object {token_string: type}, e.g. {" Paris": "location", " 7": "number"}'


def read_labels(path: str | Path) -> dict[str, str]:
    """Token string -> type, from a label file.

    Raises:
        SpecError: the file does not exist, is not UTF-8 JSON, is not an object of strings, or names an unknown type
            (the message says where in the file).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"token-type file {p} does not exist") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"token-type file {p} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SpecError(f"token-type file {p} cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"token-type file {p}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})", hint=FORMAT_HINT) \
            from None
    if not isinstance(data, dict) or not data:
        raise SpecError(f"token-type file {p}: expected a non-empty JSON object, got {type(data).__name__}",
                        hint=FORMAT_HINT)
    for token, label in data.items():
        if not isinstance(label, str):
            raise SpecError(f"token-type file {p}: the type of {token!r} is {type(label).__name__}, not a string",
                            hint=FORMAT_HINT)
        if label not in TOKEN_TYPES:
            raise SpecError(f"token-type file {p}: unknown type {label!r} (token {token!r})", name=label,
                            choices=tuple(TOKEN_TYPES))
    return data
