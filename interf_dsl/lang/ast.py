"""Parse stage, expression values: the nodes the lark facade (`expr.py`) builds from expression strings.

Input: nothing (plain values). Output: frozen values that `str()` back to a canonical text which parses to an equal
value: grid values (sorted floats), `Bin`, `DegreeBin`, `HookItem`, and the filter AST (`Num`, `Name`, `Str`,
`Bool`, `Unary`, `Binary`, `Call`), which `evaluate_filter` in `expr.py` evaluates against a dict of names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


def fmt_number(x: float) -> str:
    """Shortest text that parses back to the same float (`3` for 3.0, `0.5`, `1e-08`)."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


class Bin(NamedTuple):
    """One interference bin: `[lo, hi)` (hi_closed False) or `[lo, hi]` (hi_closed True)."""

    lo: float
    hi: float
    hi_closed: bool

    def contains(self, x: float) -> bool:
        return self.lo <= x and (x <= self.hi if self.hi_closed else x < self.hi)

    def __str__(self) -> str:
        return f"[{fmt_number(self.lo)},{fmt_number(self.hi)}{']' if self.hi_closed else ')'}"


def format_bins(bins: tuple[Bin, ...] | list) -> str:
    """Canonical bins text: `[0,0.1) [0.1,0.2) ... [0.4,1]`."""
    return " ".join(str(Bin(*b)) for b in bins)


class DegreeBin(NamedTuple):
    """A neuron polysemanticity degree bin: `lo..hi` inclusive; hi None means open (`501+`)."""

    lo: int
    hi: int | None

    def __str__(self) -> str:
        if self.hi is None:
            return f"{self.lo}+"
        return str(self.lo) if self.hi == self.lo else f"{self.lo}-{self.hi}"


def format_degree_bins(bins) -> str:
    return ", ".join(str(DegreeBin(*b)) for b in bins)


def format_grid(values) -> str:
    """Canonical grid text. Symmetric grids print as `±{...}`, runs of 3+ consecutive integers as `a..b`."""
    vals = sorted({float(v) for v in values})
    pos = [v for v in vals if v > 0]
    symmetric = bool(pos) and all(-v in vals for v in pos) and all(v > 0 or -v in pos or v == 0 for v in vals)
    groups: list[str] = []
    if symmetric:
        if 0.0 in vals:
            groups.append("{0}")
        groups.append("±{" + _compress(pos) + "}")
    else:
        groups.append("{" + _compress(vals) + "}")
    return " ".join(groups)


def _compress(vals: list[float]) -> str:
    out: list[str] = []
    i = 0
    while i < len(vals):
        j = i
        while (j + 1 < len(vals) and vals[j].is_integer() and vals[j + 1] == vals[j] + 1):
            j += 1
        if j - i >= 2 and vals[i].is_integer():
            out.append(f"{fmt_number(vals[i])}..{fmt_number(vals[j])}")
            i = j + 1
        else:
            out.append(fmt_number(vals[i]))
            i += 1
    return ", ".join(out)


@dataclass(frozen=True)
class HookItem:
    """One hook written in a hook expression: shorthand (layer + site) or a canonical TransformerLens name."""

    canonical: str
    """TransformerLens hook name, e.g. `blocks.4.hook_resid_post`."""
    layer: int | None
    site: str | None
    """Shorthand site (`resid_post`), or None for a canonical name that has no shorthand."""
    col: int = field(default=0, compare=False)
    """0-based offset of the item's text inside the expression string."""
    length: int = field(default=1, compare=False)


# ---------------------------------------------------------------- filter AST

@dataclass(frozen=True)
class Node:
    """Base of filter nodes; `col` is the 0-based offset in the filter text (not compared)."""

    col: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class Num(Node):
    value: float

    def __str__(self) -> str:
        return fmt_number(self.value)


@dataclass(frozen=True)
class Name(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Str(Node):
    value: str

    def __str__(self) -> str:
        import json

        return json.dumps(self.value)


@dataclass(frozen=True)
class Bool(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "not" | "-"
    operand: Node

    def __str__(self) -> str:
        return f"not {_paren(self.operand, 3)}" if self.op == "not" else f"-{_paren(self.operand, 7)}"


@dataclass(frozen=True)
class Binary(Node):
    op: str  # or and < <= > >= == != + - * /
    left: Node
    right: Node

    def __str__(self) -> str:
        prec = PRECEDENCE[self.op]
        # left-associative: the right operand needs parentheses at equal precedence; comparisons do not chain
        left_need = prec + 1 if prec == 4 else prec
        return f"{_paren(self.left, left_need)} {self.op} {_paren(self.right, prec + 1)}"


@dataclass(frozen=True)
class Call(Node):
    fn: str
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return f"{self.fn}(" + ", ".join(str(a) for a in self.args) + ")"


PRECEDENCE = {"or": 1, "and": 2, "<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4, "+": 5, "-": 5, "*": 6, "/": 6}


def _prec(node: Node) -> int:
    if isinstance(node, Binary):
        return PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return 3 if node.op == "not" else 7
    return 9


def _paren(node: Node, need: int) -> str:
    return f"({node})" if _prec(node) < need else str(node)


# ---------------------------------------------------------------- hook sites

ALL_SITES = ("resid_pre", "attn_out", "resid_mid", "mlp_pre", "mlp_post", "mlp_out", "resid_post")
"""Every hook site shorthand, in residual-stream order."""
HOOK_SITES: dict[str, str] = {
    "resid_pre": "hook_resid_pre",
    "resid_mid": "hook_resid_mid",
    "resid_post": "hook_resid_post",
    "attn_out": "hook_attn_out",
    "mlp_out": "hook_mlp_out",
    "mlp_pre": "mlp.hook_pre",
    "mlp_post": "mlp.hook_post",
}
"""Shorthand site -> TransformerLens hook suffix (the `get_act_name` table, for the sites interf uses)."""

_SUFFIX_TO_SITE = {v: k for k, v in HOOK_SITES.items()}


def hook_name(layer: int, site: str) -> str:
    """`blocks.{layer}.{suffix}` for a shorthand site."""
    return f"blocks.{layer}.{HOOK_SITES[site]}"


def split_hook(canonical: str) -> tuple[int | None, str | None]:
    """(layer, shorthand site) of a canonical hook name; None parts when it has no shorthand."""
    parts = canonical.split(".", 2)
    if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit():
        return int(parts[1]), _SUFFIX_TO_SITE.get(parts[2])
    return None, None


def short_hook(canonical: str) -> str:
    """`L4.resid_post` for `blocks.4.hook_resid_post`; the canonical name when there is no shorthand."""
    layer, site = split_hook(canonical)
    return f"L{layer}.{site}" if layer is not None and site else canonical


def format_hooks(names) -> str:
    """Canonical hook expression: groups hooks with the same site set as `L1,3.{attn_out,mlp_out}`."""
    by_layer: dict[int, list[str]] = {}
    loose: list[str] = []
    for n in names:
        layer, site = split_hook(n)
        if layer is None or site is None:
            loose.append(n)
        else:
            by_layer.setdefault(layer, []).append(site)
    groups: dict[tuple[str, ...], list[int]] = {}
    for layer, sites in by_layer.items():
        groups.setdefault(tuple(sites), []).append(layer)
    out = []
    for sites, layers in groups.items():
        site_txt = sites[0] if len(sites) == 1 else "{" + ",".join(sites) + "}"
        out.append(f"L{_layer_ranges(layers)}.{site_txt}")
    return " ".join(out + loose)


def _layer_ranges(layers: list[int]) -> str:
    parts, i = [], 0
    while i < len(layers):
        j = i
        while j + 1 < len(layers) and layers[j + 1] == layers[j] + 1:
            j += 1
        parts.append(f"{layers[i]}-{layers[j]}" if j - i >= 2 else ",".join(map(str, layers[i:j + 1])))
        i = j + 1
    return ",".join(parts)


# ---------------------------------------------------------------- feature selectors

@dataclass(frozen=True)
class FeatureSelector:
    """Explicit SAE features: `source/hook[ids and ranges]`, e.g. `gpt2/L3.resid_post[12, 40, 100-120]`.

    Built by `expr.parse_selector` from the compact string or by `fields` from the expanded mapping
    `{source, hook, features}`; both give equal nodes. `str()` is canonical (shorthand hook, sorted ids, runs of three
    or more as `a-b`) and parses back to an equal node.
    """

    source: str
    hook: str
    """Canonical TransformerLens hook name."""
    features: tuple[int, ...]
    """Sorted, de-duplicated feature ids."""
    raw: str = field(default="", compare=False)
    """The text as written (the canonical text for the mapping form)."""
    hook_col: int = field(default=0, compare=False)
    """0-based offset of the hook inside `raw`."""
    hook_text: str = field(default="", compare=False)
    """The hook as written."""

    def __str__(self) -> str:
        return f"{self.source}/{short_hook(self.hook)}[{format_feature_ids(self.features)}]"


def format_feature_ids(ids) -> str:
    """`12, 40, 100-120`: sorted ids, runs of three or more consecutive ids as `a-b`."""
    vals = sorted(set(int(i) for i in ids))
    out: list[str] = []
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{vals[i]}-{vals[j]}")
        else:
            out.extend(str(v) for v in vals[i:j + 1])
        i = j + 1
    return ", ".join(out)
