"""Parse stage, feature selectors: `gpt2/L3.resid_post[12, 40, 100-120]` -> `FeatureSelector`.

Input: the compact string (parsed by the one lark grammar through `expr.parse_tree`, start rule `selector`) or the
expanded mapping `{source: gpt2, hook: L3.resid_post, features: [12, 40, "100-120"]}`. Output: a frozen
`FeatureSelector` (both spellings build equal nodes; `str(node)` is canonical and parses back). Syntax only: whether
the source and hook exist is checked by the resolver.
"""

from __future__ import annotations

from typing import Any

from interf_dsl.errors import ExprSyntaxError, did_you_mean
from interf_dsl.lang.ast import HOOK_SITES, FeatureSelector, hook_name
from interf_dsl.lang.limits import MAX_FEATURE_ID, MAX_SELECTED_FEATURES


def _error(message: str, col: int, length: int, label: str, hint: str | None = None) -> ExprSyntaxError:
    from interf_dsl.lang.expr import _syntax_error  # lazy: lark only when an expression is parsed

    err = _syntax_error(message, 1, col + 1, length, label=label)
    if hint:
        err.items[0].hint = hint
    return err


def _hook(tree: Any) -> tuple[str, int, int]:
    """(canonical hook, 0-based col, length) of the selector's hook; one layer and a known site only."""

    if tree.data == "sel_canonical":
        tok = tree.children[0]
        return str(tok), tok.start_pos, len(tok)
    layers, site = tree.children
    col, length = layers.start_pos, site.end_pos - layers.start_pos
    if not str(layers)[1:].isdigit():
        raise _error(f"a selector names one hook, not the layers '{layers}'", layers.start_pos, len(layers),
                     "one hook per selector", "write one selector per layer, e.g. gpt2/L3.resid_post[12]")
    if str(site) not in HOOK_SITES:
        guess = did_you_mean(str(site), HOOK_SITES)
        raise _error(f"unknown hook site '{site}'", site.start_pos, len(site), "site",
                     (f"did you mean '{guess}'? " if guess else "") + "valid: " + ", ".join(HOOK_SITES))
    return hook_name(int(str(layers)[1:]), str(site)), col, length


def _features(items: list[Any]) -> tuple[int, ...]:
    ids: set[int] = set()
    for it in items:
        a, b = int(it.children[0]), int(it.children[-1])
        where = (it.meta.start_pos, it.meta.end_pos - it.meta.start_pos)
        if b < a:
            raise _error(f"feature range {a}-{b} is empty (end below start)", *where, "feature range")
        if b > MAX_FEATURE_ID:
            raise _error(f"feature {b} is beyond any SAE (ids are at most {MAX_FEATURE_ID})", *where, "feature range")
        if len(ids) + b - a + 1 > MAX_SELECTED_FEATURES:
            raise _error(f"the selector names more than {MAX_SELECTED_FEATURES} features", *where, "feature range",
                         "name the features a study needs; the map samples targets by itself when none are listed")
        ids.update(range(a, b + 1))
    return tuple(sorted(ids))


def parse_selector(text: str) -> FeatureSelector:
    """`source/hook[ids]` -> `FeatureSelector`; syntax errors raise `ExprSyntaxError` with a column and label."""
    from interf_dsl.lang.expr import parse_tree  # lazy: lark only when an expression is parsed

    tree = parse_tree(text, "selector")
    source, hook_tree, *items = tree.children
    hook, col, length = _hook(hook_tree)
    return FeatureSelector(str(source), hook, _features(items), raw=text, hook_col=col,
                           hook_text=text[col:col + length])


def selector_from_mapping(value: dict[str, Any]) -> FeatureSelector:
    """`{source, hook, features}` -> the same node the compact string builds (features: ids or "a-b" strings)."""
    keys = {"source", "hook", "features"}
    if set(value) != keys:
        extra, missing = sorted(set(value) - keys), sorted(keys - set(value))
        what = f"unknown keys {extra}" if extra else f"missing keys {missing}"
        raise _error(f"a selector mapping has exactly source, hook, features ({what})", 0, 1, "selector mapping")
    feats = value["features"]
    if not isinstance(feats, list | tuple) or not feats or \
            not all(isinstance(f, int | str) and not isinstance(f, bool) for f in feats):
        raise _error("features are a non-empty list of ids or 'a-b' ranges", 0, 1, "selector mapping")
    text = f"{value['source']}/{value['hook']}[{', '.join(str(f) for f in feats)}]"
    node = parse_selector(text)
    canonical = str(node)
    return FeatureSelector(node.source, node.hook, node.features, raw=canonical,
                           hook_col=canonical.index("/") + 1, hook_text=canonical[canonical.index("/") + 1:
                                                                                  canonical.index("[")])
