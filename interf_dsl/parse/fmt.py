"""Parse stage, printing: a `Spec` -> its canonical text in either spelling (YAML or `.interf`).

Input: `Spec`. Output: text such that `load_spec_text(format_spec(s, to), spelling=to) == s`. Canonical means:
fields in model order, values equal to their default left out, expressions (grids, bins, hooks, degree bins)
printed in their canonical compact form, strings always quoted in the DSL.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel, TypeAdapter

from interf_dsl.lang.ast import format_bins, format_degree_bins, format_grid, format_hooks
from interf_dsl.lang.fields import ExprKind
from interf_dsl.parse.spec import Spec

_FORMATTERS = {"grid": format_grid, "bins": format_bins, "hooks": format_hooks, "degree_bins": format_degree_bins,
               "filter": str, "selector": str}
_MISSING = object()


@functools.cache
def _default(model: type[BaseModel], name: str) -> Any:
    """The validated default of a field (so `"[0,.1) ..."` compares equal to its parsed bins)."""
    field = model.model_fields[name]
    if field.is_required():
        return _MISSING
    raw = field.get_default(call_default_factory=True)
    if raw is None:
        return None
    from typing import Annotated

    adapter = TypeAdapter(Annotated[field.annotation, *field.metadata]) if field.metadata else \
        TypeAdapter(field.annotation)
    return adapter.validate_python(raw)


def _expr_kind(model: type[BaseModel], name: str) -> str | None:
    field = model.model_fields[name]
    for meta in field.metadata:
        if isinstance(meta, ExprKind):
            return meta.kind
    import typing

    # Optional[Hooks]: the marker sits inside the union member
    for arg in typing.get_args(field.annotation):
        for meta in getattr(arg, "__metadata__", ()):
            if isinstance(meta, ExprKind):
                return meta.kind
    return None


def canonical_data(model: BaseModel) -> dict[str, Any]:
    """Plain data of a spec model with defaults dropped and expressions in canonical text."""
    cls = type(model)
    out: dict[str, Any] = {}
    for name in cls.model_fields:
        value = getattr(model, name)
        default = _default(cls, name)
        if default is not _MISSING and value == default and name != "focus":
            continue
        kind = _expr_kind(cls, name)
        out[name] = _FORMATTERS[kind](value) if kind and value is not None else _plain(value)
    return out


def key_default_text(model: type[BaseModel], name: str) -> str:
    """A field's default as the spec reference shows it: `**required**`, `(section defaults)` or `` `value` `` in
    the canonical spelling (expressions as `interf fmt` writes them, lists as `[a, b]`)."""
    default = _default(model, name)
    if default is _MISSING:
        return "**required**"
    if isinstance(default, BaseModel):
        return "(section defaults)"
    kind = _expr_kind(model, name)
    if kind and default is not None:
        return f"`{_FORMATTERS[kind](default)}`"
    value = _plain(default)
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    return f"`{value}`"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return canonical_data(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def format_spec(spec: Spec, to: str = "yaml") -> str:
    """Canonical text of `spec` in `yaml` or `interf`."""
    data = canonical_data(spec)
    if to == "yaml":
        import yaml

        return yaml.dump(data, Dumper=_yaml_dumper(), sort_keys=False, allow_unicode=True, default_flow_style=False,
                         width=110)
    return _dsl(data)


_YAML_BREAKS = ("\x85", "\u2028", "\u2029")


@functools.cache
def _yaml_dumper() -> type:
    """SafeDumper whose strings holding a Unicode line break (NEL, LS, PS) are double-quoted (escaped).

    With allow_unicode PyYAML writes them raw inside single quotes, and its loader folds them to a space: the spec
    would not round-trip (found by the hypothesis round-trip test with description "\x85").
    """
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = '"' if any(b in value for b in _YAML_BREAKS) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    return Dumper


# ---------------------------------------------------------------- DSL printer

_IDENT_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _key(k: str) -> str:
    return k if k and (k[0].isalpha() or k[0] == "_") and set(k) <= _IDENT_OK else json.dumps(k)


def _label(k: str) -> str:
    return _key(k)


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + " ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot print {type(v).__name__} in the DSL")  # pragma: no cover


def _body(data: dict[str, Any], indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for k, v in data.items():
        if k == "sources" and indent == 0:
            for name, src in v.items():
                lines += [f"{pad}source {_label(name)} {{", *_body(src, indent + 1), f"{pad}}}"]
        elif k == "interventions" and indent == 0:
            for block in v:
                rest = {kk: vv for kk, vv in block.items() if kk != "focus"}
                lines += [f"{pad}focus {_label(block['focus'])} {{", *_body(rest, indent + 1), f"{pad}}}"]
        elif k == "targets" and isinstance(v, list) and all(isinstance(t, dict) and "name" in t for t in v):
            for t in v:
                rest = {kk: vv for kk, vv in t.items() if kk != "name"}
                lines += [f"{pad}target {_label(t['name'])} {{", *_body(rest, indent + 1), f"{pad}}}"]
        elif k == "saes" and isinstance(v, list) and v and all(isinstance(g, dict) for g in v):
            for g in v:
                lines += [f"{pad}saes {{", *_body(g, indent + 1), f"{pad}}}"]
        elif isinstance(v, dict) and v:
            lines += [f"{pad}{_key(k)} {{", *_body(v, indent + 1), f"{pad}}}"]
        else:
            lines.append(f"{pad}{_key(k)} = {_scalar(v)}")
    return lines


def _dsl(data: dict[str, Any]) -> str:
    out: list[str] = []
    for k, v in data.items():
        block = _body({k: v}, 0)
        out += block + [""]
    return "\n".join(out).rstrip() + "\n"
