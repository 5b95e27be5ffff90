"""Parse stage, entry point: a spec file (YAML or `.interf`) -> `Spec`, with every error located in the file.

Input: a path (or text + a display path). Output: a frozen `Spec` whose `.source` is the file's `SourceMap`.
All pydantic errors of one file are reported together; each is mapped from its `loc` to file:line:col (inside an
expression string, to the offending character), with did-you-mean hints for unknown keys and choices.
Hostile text (too large, too deep, an alias bomb, YAML tags, control characters) is refused first, located, by
`bounds.py`; its limits are named constants there.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from interf_dsl._source import KeyPath, SourceMap, format_key_path, load_yaml
from interf_dsl.errors import ErrorItem, SpecError
from interf_dsl.parse.bounds import check_dsl, check_yaml, read_spec_file
from interf_dsl.parse.dsl import load_dsl
from interf_dsl.parse.spec import FOCUS_MODELS, Spec

YAML_SUFFIXES = (".yaml", ".yml")
DSL_SUFFIXES = (".interf",)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; the spelling is chosen by extension (.yaml/.yml or .interf)."""
    p = Path(path)
    if p.suffix not in YAML_SUFFIXES + DSL_SUFFIXES:
        raise SpecError(f"cannot tell the spelling of '{p}' from its extension", name=p.suffix,
                        choices=YAML_SUFFIXES + DSL_SUFFIXES)
    text = read_spec_file(p)
    return load_spec_text(text, str(path), "interf" if p.suffix in DSL_SUFFIXES else "yaml")


def load_spec_text(text: str, path: str = "<spec>", spelling: str = "yaml") -> Spec:
    """Validate spec text of one spelling (`yaml` or `interf`); `path` is only used in error locations."""
    if spelling == "interf":
        check_dsl(text, path)
        data, smap = load_dsl(text, path)
    else:
        check_yaml(text, path)
        data, smap = load_yaml(text, path)
    return validate_data(data, smap)


def validate_data(data: Any, smap: SourceMap) -> Spec:
    """Validate plain data into a `Spec`, mapping pydantic errors to located `ErrorItem`s."""
    if not isinstance(data, dict):
        raise SpecError("a spec is a mapping of sections (experiment, sources, ...)", span=smap.span(()),
                        choices=tuple(Spec.model_fields))
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(items=_items(exc, data, smap)) from None
    spec._source = smap
    return spec


def _data_path(loc: tuple, data: Any) -> tuple[KeyPath, list]:
    """The key path into `data` of a pydantic `loc` (union member / tag names dropped) and the leftover parts."""
    kp: list[str | int] = []
    rest: list = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            kp.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            kp.append(part)
            cur = cur[part]
        else:
            rest.append(part)
    return tuple(kp), rest


def _unwrap(ann: Any, value: Any) -> Any:
    """The model class an annotation leads to for this value (through Optional, unions, Annotated)."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0], value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if isinstance(value, dict) and "focus" in value and value.get("focus") in FOCUS_MODELS:
            return FOCUS_MODELS[value["focus"]]
        for a in args:
            inner = _unwrap(a, value)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        return args[0] if args else ann
    return ann


def model_at(kp: KeyPath, data: Any) -> type[BaseModel] | None:
    """The spec model class that validates the mapping at key path `kp` (for did-you-mean on unknown keys)."""
    model: Any = Spec
    cur = data
    i = 0
    while i < len(kp):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(kp[i])  # type: ignore[arg-type]
        if field is None:
            return None
        cur = cur[kp[i]]
        ann = field.annotation
        i += 1
        ann = _unwrap(ann, cur)
        origin = typing.get_origin(ann)
        if origin is dict and i < len(kp):
            cur = cur[kp[i]]
            ann = _unwrap(typing.get_args(ann)[1], cur)
            i += 1
        elif origin in (tuple, list) and i < len(kp):
            cur = cur[kp[i]]
            ann = _unwrap(typing.get_args(ann)[0], cur)
            i += 1
        model = ann
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


_QUOTED = re.compile(r"'([^']*)'")


def _items(exc: ValidationError, data: Any, smap: SourceMap) -> list[ErrorItem]:
    raw = exc.errors(include_url=False)
    by_path: dict[KeyPath, list[dict]] = {}
    for err in raw:
        kp, rest = _data_path(err["loc"], data)
        err["_kp"], err["_rest"] = kp, rest
        by_path.setdefault(kp, []).append(err)
    out: list[ErrorItem] = []
    seen: set[tuple] = set()
    for err in raw:
        siblings = by_path[err["_kp"]]
        # a union (str | {release, id}) reports one error per member: keep the informative ones
        if len(siblings) > 1 and err["type"] in ("string_type", "model_type", "dict_type", "model_attributes_type"):
            continue
        # a list whose only item failed also reports "too short": the item's own error says it all
        if err["type"] == "too_short" and any(len(kp) > len(err["_kp"]) and kp[:len(err["_kp"])] == err["_kp"]
                                              for kp in by_path):
            continue
        item = _item(err, data, smap)
        key = (item.span, item.message)
        if key not in seen:
            seen.add(key)
            out.append(item)
    out.sort(key=lambda it: (it.span.line, it.span.col) if it.span else (0, 0))
    return out


def _item(err: dict, data: Any, smap: SourceMap) -> ErrorItem:
    kp, rest, typ, ctx = err["_kp"], err["_rest"], err["type"], err.get("ctx") or {}
    where = format_key_path(kp) or None
    if typ == "extra_forbidden":
        model = model_at(kp[:-1], data)
        choices = tuple(model.model_fields) if model else ()
        focus = next((n for n, m in FOCUS_MODELS.items() if m is model), None)
        what = f"{focus} focus " if focus else f"{model.__name__.lower()} " if model else ""
        return ErrorItem(f"unknown {what}key '{kp[-1]}'", span=smap.span(kp, key=True),
                         key_path=format_key_path(kp[:-1]) or None, name=str(kp[-1]), choices=choices)
    if typ == "missing":
        missing = rest[-1] if rest else kp[-1]
        model = model_at(kp, data)
        doc = model.model_fields[missing].description if model and missing in model.model_fields else None
        return ErrorItem(f"missing required key '{missing}'", span=smap.span(kp, key=True), key_path=where,
                         hint=doc)
    if typ == "interf_expr":
        pos = smap.nearest(kp)
        offset = int(ctx.get("column", 1)) - 1
        span = smap.span(kp, offset=offset, length=int(ctx.get("length", 1)))
        if pos is not None and pos.multiline:
            span = smap.span(kp)
        return ErrorItem(str(ctx.get("message", err["msg"])), span=span, key_path=where,
                         hint=ctx.get("hint") or None)
    if typ in ("union_tag_invalid", "union_tag_not_found"):
        tags = tuple(_QUOTED.findall(str(ctx.get("expected_tags", ""))))
        if typ == "union_tag_not_found":
            return ErrorItem("focus block without `focus:`", span=smap.span(kp), key_path=where, choices=tags)
        tag = str(ctx.get("tag", ""))
        return ErrorItem(f"unknown focus '{tag}'", span=smap.span(kp + ("focus",)), key_path=where,
                         name=tag, choices=tags)
    if typ in ("literal_error", "enum"):
        choices = tuple(_QUOTED.findall(str(ctx.get("expected", ""))))
        value = err.get("input")
        return ErrorItem(f"invalid value '{value}' for '{kp[-1] if kp else ''}'", span=smap.span(kp),
                         key_path=where, name=str(value), choices=choices)
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return ErrorItem(f"{msg[:1].lower()}{msg[1:]}", span=smap.span(kp), key_path=where)
