"""Parse stage, typed expression fields: `Grid`, `Bins`, `Hooks`, `DegreeBins`, `FilterText`, `Selector` for the spec models.

Input: a YAML/DSL value, either the expression string or its expanded list form. Output: the parsed value (sorted
floats, `Bin`s, canonical hook names, `DegreeBin`s). A syntax error becomes a `PydanticCustomError` of type
`interf_expr` whose context carries the column inside the string; `load.py` adds it to the scalar's file column.
Each type carries an `ExprKind` marker that `fmt.py` reads to print the canonical expression text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from interf_dsl.errors import ExprSyntaxError
from interf_dsl.lang.ast import Bin, DegreeBin, format_bins, split_hook
from interf_dsl.lang.limits import MAX_GRID_VALUES, MAX_SCALE
from interf_dsl.lang.selectors import parse_selector, selector_from_mapping

_SITE_ORDER = ("resid_pre", "attn_out", "resid_mid", "mlp_pre", "mlp_post", "mlp_out", "resid_post")


@dataclass(frozen=True)
class ExprKind:
    """Marks a spec field as an expression of one kind (grid, bins, hooks, degree_bins, filter)."""

    kind: str


def _raise(exc: ExprSyntaxError, text: str) -> None:
    item = exc.items[0]
    raise PydanticCustomError(
        "interf_expr", "{message}",
        {"message": item.message, "column": getattr(exc, "column", 1), "length": getattr(exc, "length", 1),
         "line": getattr(exc, "line", 1), "hint": item.hint or "", "text": text},
    ) from None


def _value_error(message: str, column: int = 1, length: int = 1, hint: str = "") -> PydanticCustomError:
    return PydanticCustomError("interf_expr", "{message}", {"message": message, "column": column,
                                                             "length": length, "line": 1, "hint": hint})


def _grid(value: Any) -> Any:
    from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

    if isinstance(value, str):
        try:
            value = expr.parse_grid(value)
        except ExprSyntaxError as exc:
            _raise(exc, value)
    if isinstance(value, list | tuple):
        if not value:
            raise _value_error("empty grid: give at least one value", hint="e.g. ±{0.5, 1, 2}")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise _value_error("a grid is a grid expression or a list of numbers", hint="e.g. ±{0.5, 1, 2}")
        bad = next((v for v in value if not (math.isfinite(v) and abs(v) <= MAX_SCALE)), None)
        if bad is not None:
            raise _value_error(f"grid value {bad} is {'not finite' if not math.isfinite(bad) else 'too large'} "
                               f"(|value| <= {MAX_SCALE:g})")
        if len(value) > MAX_GRID_VALUES:
            raise _value_error(f"a grid holds at most {MAX_GRID_VALUES} values, got {len(value)}")
        return tuple(sorted({float(v) for v in value}))
    return value


def _bins(value: Any) -> Any:
    from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

    if isinstance(value, list | tuple):
        try:
            value = format_bins([_bin_item(b) for b in value])
        except (TypeError, ValueError):
            raise _value_error("bins are a bins expression like `[0,.1) [.1,1]` or a list of [lo, hi, hi_closed]")\
                from None
    if isinstance(value, str):
        try:
            out = expr.parse_bins(value)
        except ExprSyntaxError as exc:
            _raise(exc, value)
        if not out:
            raise _value_error("empty bins")
        return out
    return value


def _bin_item(b: Any) -> Bin:
    if isinstance(b, str):
        from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

        return expr.parse_bins(b)[0]
    lo, hi, closed = b
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        raise ValueError("a bin edge is not finite")
    return Bin(float(lo), float(hi), bool(closed))


def _degree_bins(value: Any) -> Any:
    from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

    if isinstance(value, list | tuple):
        value = ", ".join(_degree_text(v) for v in value)
    if isinstance(value, str):
        try:
            return expr.parse_degree_bins(value)
        except ExprSyntaxError as exc:
            _raise(exc, value)
    return value


def _degree_text(item: Any) -> str:
    """One degree bin as written: `3`, `2-5` or `6+`, also from its JSON form `[lo, hi]` (`hi` null = open)."""
    if isinstance(item, list | tuple) and len(item) == 2:
        lo, hi = item
        return f"{lo}+" if hi is None else f"{lo}" if lo == hi else f"{lo}-{hi}"
    return str(item)


def hook_sort_key(name: str) -> tuple:
    layer, site = split_hook(name)
    return (-1 if layer is None else layer, _SITE_ORDER.index(site) if site in _SITE_ORDER else 99, name)


def _hooks(value: Any) -> Any:
    from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list | tuple) or not all(isinstance(t, str) for t in texts):
        return value
    names: list[str] = []
    for t in texts:
        try:
            items = expr.parse_hooks(t)
        except ExprSyntaxError as exc:
            _raise(exc, t)
        for it in items:
            if it.canonical in names:
                raise _value_error(f"hook {it.canonical} is listed twice", it.col + 1, it.length)
            names.append(it.canonical)
    if not names:
        raise _value_error("no hooks given", hint="e.g. L1,3.{attn_out,mlp_out,resid_post}")
    return tuple(sorted(names, key=hook_sort_key))


def _filter(value: Any) -> Any:
    from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

    if isinstance(value, str):
        try:
            return str(expr.parse_filter(value))
        except ExprSyntaxError as exc:
            _raise(exc, value)
    return value


def _selector(value: Any) -> Any:
    """Compact string or expanded mapping -> canonical selector text (the resolver re-parses it into a node)."""

    try:
        if isinstance(value, str):
            return str(parse_selector(value))
        if isinstance(value, dict):
            return str(selector_from_mapping(value))
    except ExprSyntaxError as exc:
        _raise(exc, value if isinstance(value, str) else "")
    raise _value_error("a feature selector is `source/hook[ids]` or a mapping {source, hook, features}",
                       hint="e.g. gpt2/L3.resid_post[12, 40, 100-120]")


_GRID_SCHEMA = {"anyOf": [{"type": "string", "description": "grid expression, e.g. ±{0.5, 1, 3..10}"},
                          {"type": "array", "items": {"type": "number"}}]}
_BINS_SCHEMA = {"anyOf": [{"type": "string", "description": "bins expression, e.g. [0,.1) [.1,.2) [.4,1]"},
                          {"type": "array", "items": {"type": "array"}}]}
_HOOKS_SCHEMA = {"anyOf": [{"type": "string", "description": "hooks, e.g. L1,3.{attn_out,mlp_out,resid_post}"},
                           {"type": "array", "items": {"type": "string"}}]}
_DEG_SCHEMA = {"anyOf": [{"type": "string", "description": "degree bins, e.g. 1, 2-5, 6-20, 501+"},
                         {"type": "array", "items": {"type": ["string", "integer"]}}]}

_SELECTOR_SCHEMA = {"anyOf": [
    {"type": "string", "description": "feature selector, e.g. gpt2/L3.resid_post[12, 40, 100-120]"},
    {"type": "object", "properties": {"source": {"type": "string"}, "hook": {"type": "string"},
                                      "features": {"type": "array", "items": {"type": ["integer", "string"]}}},
     "required": ["source", "hook", "features"], "additionalProperties": False}]}

Grid = Annotated[tuple[float, ...], BeforeValidator(_grid), WithJsonSchema(_GRID_SCHEMA), ExprKind("grid")]
"""Sorted, de-duplicated scale values; written `±{0.5, 1, 3..10}` or as a list of numbers."""
Bins = Annotated[tuple[Bin, ...], BeforeValidator(_bins), WithJsonSchema(_BINS_SCHEMA), ExprKind("bins")]
"""Ordered, non-overlapping interference bins; written `[0,.1) [.1,.2) [.4,1]`."""
Hooks = Annotated[tuple[str, ...], BeforeValidator(_hooks), WithJsonSchema(_HOOKS_SCHEMA), ExprKind("hooks")]
"""Canonical TransformerLens hook names (sorted by layer, then site); written in shorthand or canonically."""
DegreeBins = Annotated[tuple[DegreeBin, ...], BeforeValidator(_degree_bins), WithJsonSchema(_DEG_SCHEMA),
                       ExprKind("degree_bins")]
"""Neuron degree bins; written `1, 2-5, 6-20, 501+`."""
FilterText = Annotated[str, BeforeValidator(_filter), ExprKind("filter")]
"""A filter expression, stored in canonical text (`I >= 0.4 and S < 0.2`)."""
Selector = Annotated[str, BeforeValidator(_selector), WithJsonSchema(_SELECTOR_SCHEMA), ExprKind("selector")]
"""Explicit SAE features, stored as canonical text (`gpt2/L3.resid_post[12, 40, 100-120]`); written compactly or as
a mapping {source, hook, features}."""
