"""Parse stage, overrides: `--set key.path=value` on `interf run`, `validate` and `plan`, applied to a spec's data
before it is validated, so an override is typed and checked exactly like the key written in the file.

Input: a spec file and override strings (`atlas.max_tokens=2000`, `sources.gpt2.saes[0].hooks=L8.resid_post`,
`map.thresholds=[0.4, 0.2]`). The key path is dotted names with `[i]` list indices; missing mappings on the way are
created, list indices must exist. The value is one YAML flow value (`2000` an int, `[1, 2]` a list, `L8.resid_post` a
string, `null` unset). Output: the `Spec`, whose source map points every error under an overridden key at the
override itself (`--set atlas.max_tokens=-5:1:18: error: ...`), never at the file's stale line.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interf_dsl._source import KeyPath, Pos, SourceMap, format_key_path, load_yaml
from interf_dsl.errors import OVERRIDE_LABEL, Span, SpecError
from interf_dsl.parse.bounds import check_dsl, check_yaml, read_spec_file
from interf_dsl.parse.dsl import load_dsl
from interf_dsl.parse.load import DSL_SUFFIXES, YAML_SUFFIXES, load_spec, validate_data
from interf_dsl.parse.spec import Spec

_NAME = r"[A-Za-z_][\w-]*"
_SEGMENT = re.compile(rf"({_NAME})((?:\[\d+\])*)")
_KEY = re.compile(rf"{_NAME}(?:\[\d+\])*(?:\.{_NAME}(?:\[\d+\])*)*")
_MAX_OVERRIDE = 2000


@dataclass(frozen=True)
class Override:
    """One `--set key=value`: its text, the key path it sets, the value, and where the value starts (1-based)."""

    text: str
    key_path: KeyPath
    value: Any
    value_col: int

    @property
    def label(self) -> str:
        """How errors name it: `--set <text>` stands in for a file path."""
        return f"{OVERRIDE_LABEL}{self.text}"


def _error(text: str, message: str, col: int = 1, length: int = 1, hint: str | None = None) -> SpecError:
    return SpecError(message, span=Span(f"{OVERRIDE_LABEL}{text}", 1, col, max(1, length)), hint=hint)


def parse_override(text: str) -> Override:
    """`key.path[0].name=value` -> Override.

    Raises:
        SpecError: no `=`, a malformed key path, or a value that is not one YAML flow value (located in the text).
    """
    if len(text) > _MAX_OVERRIDE or "\n" in text:
        raise _error(text[:80], f"an override is one line of at most {_MAX_OVERRIDE} characters")
    key, sep, raw = text.partition("=")
    if not sep:
        raise _error(text, "an override is key=value", len(text) + 1,
                     hint="e.g. --set atlas.max_tokens=2000 or --set 'sources.gpt2.saes[0].hooks=L8.resid_post'")
    key = key.strip()
    if not _KEY.fullmatch(key):
        raise _error(text, f"malformed key path '{key}'", 1, len(key) or 1,
                     hint="dotted names with [i] list indices, e.g. sources.gpt2.saes[0].hooks")
    path: list[str | int] = []
    for name, indices in _SEGMENT.findall(key):
        path.append(name)
        path.extend(int(i) for i in re.findall(r"\d+", indices))
    col = len(text) - len(raw) + 1 + (len(raw) - len(raw.lstrip()))
    try:
        value, _ = load_yaml(raw.strip(), f"--set {text}") if raw.strip() else (None, None)
    except SpecError as exc:
        raise _error(text, f"the value is not one YAML value ({exc.items[0].message})", col,
                     len(raw.strip())) from None
    return Override(text=text, key_path=tuple(path), value=value, value_col=col)


def _key_error(ov: Override, upto: int, message: str, hint: str) -> SpecError:
    """An error about `ov.key_path[:upto]`, underlining that part of the key when the text spells it plainly."""
    where = format_key_path(ov.key_path[:upto])
    return _error(ov.text, message, 1, len(where) if ov.text.startswith(where) else len(ov.text), hint=hint)


def _no_entry(ov: Override, i: int, node: Any) -> SpecError:
    """`ov.key_path[i]` indexes past the end of the list `node` (or `node` is not a list)."""
    where, parent = format_key_path(ov.key_path[: i + 1]), format_key_path(ov.key_path[:i])
    if not isinstance(node, list) or not node:
        return _key_error(ov, i + 1, f"{where} does not exist: {parent} is not a list with entries in the spec",
                          f"set the whole list, e.g. --set '{parent}=[...]'")
    n = len(node)
    return _key_error(ov, i + 1, f"{where} does not exist: the list has {n} entr{'y' if n == 1 else 'ies'}",
                      f"indices start at 0: {parent}[0]" + (f" to {parent}[{n - 1}]" if n > 1 else ""))


def _not_mapping(ov: Override, i: int) -> SpecError:
    """`ov.key_path[:i]` holds a value, so the key cannot go on below it."""
    where = format_key_path(ov.key_path[:i])
    return _key_error(ov, len(ov.key_path), f"{where} is not a mapping, so it has no key "
                      f"'{ov.key_path[i]}'", f"set {where} itself, e.g. --set {where}=<value>")


def _set(data: dict[str, Any], ov: Override) -> list[KeyPath]:
    """Set the override's value in `data`; returns the key paths of the mappings it created on the way."""
    created: list[KeyPath] = []
    node: Any = data
    for i, step in enumerate(ov.key_path):
        last = i == len(ov.key_path) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise _no_entry(ov, i, node)
        elif not isinstance(node, dict):
            raise _not_mapping(ov, i)
        elif not last and node.get(step) is None:
            if isinstance(ov.key_path[i + 1], int):
                raise _no_entry(ov, i + 1, None)
            node[step] = {}
            created.append(tuple(ov.key_path[: i + 1]))
        if last:
            node[step] = copy.deepcopy(ov.value)
        else:
            node = node[step]
    return created


@dataclass
class OverriddenSourceMap(SourceMap):
    """A spec's source map in which every node under an overridden key, and every mapping an override created
    (`--set sources.new.model=x` creates `sources.new`), is located in its override."""

    overrides: list[Override] = field(default_factory=list)
    created: dict[KeyPath, Override] = field(default_factory=dict)

    def _override(self, key_path: KeyPath) -> Override | None:
        kp = tuple(key_path)
        if kp in self.created:
            return self.created[kp]
        for ov in reversed(self.overrides):  # the last override of a key wins, as it does for the value
            if kp[: len(ov.key_path)] == ov.key_path:
                return ov
        return None

    def span(self, key_path: KeyPath, *, key: bool = False, offset: int | None = None, length: int = 1) -> Span:
        ov = self._override(key_path)
        if ov is None:
            return super().span(key_path, key=key, offset=offset, length=length)
        value_len = len(ov.text) - ov.value_col + 1
        if tuple(key_path) in self.created:  # the part of the key that names the created mapping
            prefix = format_key_path(key_path)
            return Span(ov.label, 1, 1, len(prefix) if ov.text.startswith(prefix) else max(1, ov.value_col - 2))
        if key and tuple(key_path) == ov.key_path:
            return Span(ov.label, 1, 1, max(1, ov.value_col - 2))
        if offset is not None and len(key_path) == len(ov.key_path) and isinstance(ov.value, str):
            return Span(ov.label, 1, ov.value_col + offset, max(1, length))
        return Span(ov.label, 1, ov.value_col, max(1, value_len))


def _mark(positions: dict[KeyPath, Pos], kp: KeyPath, value: Any, ov: Override) -> None:
    raw = value if isinstance(value, str) else None
    positions[kp] = Pos(line=1, col=ov.value_col, length=max(1, len(ov.text) - ov.value_col + 1), raw=raw)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        _mark(positions, kp + (k,), v, ov)


def apply_overrides(data: Any, smap: SourceMap, overrides: Sequence[str]) -> tuple[Any, SourceMap]:
    """The spec data with every override set (a copy) and a source map that locates them.

    Raises:
        SpecError: a malformed override, or a key path through a missing list entry or a scalar.
    """
    if not overrides:
        return data, smap
    if not isinstance(data, dict):
        return data, smap  # validate_data refuses a non-mapping spec, located in the file
    parsed = [parse_override(text) for text in overrides]
    data = copy.deepcopy(data)
    positions = dict(smap.positions)
    created: dict[KeyPath, Override] = {}
    for ov in parsed:
        created.update(dict.fromkeys(_set(data, ov), ov))
        positions = {kp: p for kp, p in positions.items() if kp[: len(ov.key_path)] != ov.key_path}
        _mark(positions, ov.key_path, ov.value, ov)
    return data, OverriddenSourceMap(path=smap.path, text=smap.text, positions=positions, overrides=parsed,
                                     created=created)


def load_spec_with_overrides(path: str | Path, overrides: Sequence[str] = ()) -> Spec:
    """`load_spec(path)` with `--set` overrides applied before validation (no overrides: the same Spec)."""
    p = Path(path)
    if not overrides or p.suffix not in YAML_SUFFIXES + DSL_SUFFIXES:
        return load_spec(p)
    text = read_spec_file(p)
    if p.suffix in DSL_SUFFIXES:
        check_dsl(text, str(path))
        data, smap = load_dsl(text, str(path))
    else:
        check_yaml(text, str(path))
        data, smap = load_yaml(text, str(path))
    data, smap = apply_overrides(data, smap, overrides)
    return validate_data(data, smap)
