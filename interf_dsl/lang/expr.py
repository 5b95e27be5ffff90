"""Parse stage, the one lark facade: the only module that imports lark.

Input: text of an `.interf` file or of an expression string (grid, bins, hooks, degree bins, filter).
Output: lark trees (DSL, walked by `dsl.py` without importing lark) or values from `ast.py`.
The parser is built on first use from `grammar/interf.lark` (packaged as `interf_dsl/_grammar/interf.lark`) with one
start rule per language. lark errors become `ExprSyntaxError` carrying `line`, `column` (1-based, in the parsed
text), `length`, `expected` and `label` attributes so callers can shift the column into the file.
"""

from __future__ import annotations

import functools
import math
import operator
from importlib import resources
from pathlib import Path
from typing import Any

import lark

from interf_dsl.errors import ExprSyntaxError, did_you_mean
from interf_dsl.lang.ast import (
    HOOK_SITES,
    Bin,
    Binary,
    Bool,
    Call,
    DegreeBin,
    HookItem,
    Name,
    Node,
    Num,
    Str,
    Unary,
    hook_name,
    split_hook,
)
from interf_dsl.lang.limits import MAX_GRID_VALUES, MAX_LAYER, MAX_SCALE

STARTS = ("dsl", "filter", "grid", "bins", "hooks", "degree_bins", "selector")

_READABLE = {
    "NUMBER": "a number", "INT": "an integer", "NAME": "a name", "ESCAPED_STRING": "a quoted string",
    "LAYERS": "a layer selector like L4 or L0-5", "SITE": "a hook site like resid_post",
    "CANONICAL_HOOK": "a hook name like blocks.4.hook_resid_post", "PLUS_MINUS": "'±'", "COMP_OP": "a comparison",
    "LBRACE": "'{'", "RBRACE": "'}'", "LSQB": "'['", "RSQB": "']'", "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
    "EQUAL": "'='", "MINUS": "'-'", "PLUS": "'+'", "DOT": "'.'", "$END": "end of text",
}


def grammar_text() -> str:
    """The grammar: the packaged copy if installed from a wheel, else the checkout's `grammar/interf.lark`."""
    packaged = resources.files("interf_dsl").joinpath("_grammar/interf.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "grammar" / "interf.lark").read_text(encoding="utf-8")


def _bad_corpus_text() -> str:
    """The labelled bad-example corpus (`start<TAB>text<TAB>label` lines), packaged or from the checkout."""
    packaged = resources.files("interf_dsl").joinpath("_grammar/bad.txt")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    path = Path(__file__).resolve().parents[2] / "grammar" / "corpus" / "bad.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


@functools.cache
def _label_examples() -> dict[str, dict[str, list[str]]]:
    """{start: {label: [bad texts]}} from the corpus lines that carry a label."""
    out: dict[str, dict[str, list[str]]] = {}
    for line in _bad_corpus_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip():
            out.setdefault(parts[0], {}).setdefault(parts[2].strip(), []).append(parts[1])
    return out


def _human_label(exc: lark.exceptions.UnexpectedInput, text: str, start: str) -> str | None:
    """The corpus label whose bad example fails in the same parser state as `exc` (lark `match_examples`)."""
    examples = _label_examples().get(start)
    if not examples:
        return None
    try:
        return exc.match_examples(lambda t: _parser().parse(t, start=start), examples, use_accepts=True)
    except Exception:  # noqa: BLE001 - a label is a courtesy; never let it hide the real syntax error
        return None


def _cache_path() -> str | bool:
    """Where lark keeps the compiled LALR tables (building them costs ~0.3 s on a busy 2-core machine).

    lark keys the cache on the grammar text and options, so a changed grammar never reuses stale tables.
    """
    import os
    import tempfile

    folder = os.environ.get("INTERF_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "interf-lark")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    import hashlib

    digest = hashlib.sha256(grammar_text().encode("utf-8") + lark.__version__.encode()).hexdigest()[:16]
    return os.path.join(folder, f"interf-{digest}.lark.cache")


@functools.cache
def _parser() -> lark.Lark:
    return lark.Lark(grammar_text(), parser="lalr", lexer="contextual", start=list(STARTS),
                     propagate_positions=True, maybe_placeholders=True, cache=_cache_path())


def _syntax_error(message: str, line: int, column: int, length: int = 1, expected: tuple[str, ...] = (),
                  label: str = "syntax") -> ExprSyntaxError:
    err = ExprSyntaxError(message)
    err.line, err.column, err.length, err.expected, err.label = line, column, length, expected, label
    return err


def _describe(expected) -> tuple[str, ...]:
    names = sorted({_READABLE.get(e, f"'{e.lower()}'" if e.isupper() and len(e) < 12 else e) for e in expected})
    return tuple(names)


def parse_tree(text: str, start: str) -> Any:
    """Parse `text` with start rule `start`; lark errors become `ExprSyntaxError` with a column and a label.

    The label is a human name for the mistake ("unclosed bracket in grid") chosen by `match_examples` over the
    labelled examples of `grammar/corpus/bad.txt`; it prefixes the message ("syntax" when no example matches).
    """
    try:
        return _parser().parse(text, start=start)
    except lark.exceptions.UnexpectedInput as exc:
        raise _from_lark(exc, text, _human_label(exc, text, start)) from None


def _from_lark(exc: lark.exceptions.UnexpectedInput, text: str, label: str | None) -> ExprSyntaxError:
    lines = text.splitlines() or [""]
    end = (len(lines), len(lines[-1]) + 1)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        bad = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "end of text"
        msg, line, col, length, exp = f"unexpected character '{bad}'", exc.line, exc.column, 1, exc.allowed
    elif isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type != "$END":
        tok = exc.token
        msg, line, col, length, exp = f"unexpected '{tok}'", tok.line, tok.column, len(str(tok)), exc.expected
    else:
        msg, (line, col), length, exp = "unexpected end of text", end, 1, getattr(exc, "expected", ())
    if label:
        msg = f"{label}: {msg}"
    return _syntax_error(msg, line, col, length, _describe(exp or ()), label=label or "syntax")


# ---------------------------------------------------------------- grids, bins, degree bins

def _gnum(tree) -> float:
    """A possibly negative number node (`[MINUS] NUMBER`)."""
    value = float(tree.children[-1])
    return -value if tree.children[0] is not None else value


def parse_grid(text: str) -> tuple[float, ...]:
    """`±{0.5, 1, 3..10}` -> sorted, de-duplicated floats. Ranges step 1 unless `step s` is given.

    Every value is finite with |value| <= `limits.MAX_SCALE`, and the grid holds at most `limits.MAX_GRID_VALUES`
    values (a range is counted before it is expanded).
    """
    tree = parse_tree(text, "grid")
    values: set[float] = set()
    for group in tree.children:
        sign = group.children[0] is not None
        for item in group.children[1:]:
            pos, length = item.meta.start_pos, item.meta.end_pos - item.meta.start_pos
            nums = [_gnum(c) for c in item.children if c is not None]
            bad = next((v for v in nums if not (math.isfinite(v) and abs(v) <= MAX_SCALE)), None)
            if bad is not None:
                raise _syntax_error(f"grid value {bad:g} is {'not finite' if not math.isfinite(bad) else 'too large'}"
                                    f" (|value| <= {MAX_SCALE:g})", 1, pos + 1, length, label="grid")
            if item.data == "grid_value":
                got = [nums[0]]
            else:
                lo, hi = nums[0], nums[1]
                step = nums[2] if len(nums) > 2 else 1.0
                if step <= 0:
                    raise _syntax_error(f"range step must be positive, got {step:g}", 1, pos + 1, 1, label="range")
                if hi < lo:
                    raise _syntax_error(f"range {lo:g}..{hi:g} is empty (end below start)", 1, pos + 1, length,
                                        label="range")
                n = int(math.floor((hi - lo) / step + 1e-9))
                if len(values) + n + 1 > MAX_GRID_VALUES:
                    raise _syntax_error(f"range {lo:g}..{hi:g} step {step:g} has {n + 1} values; a grid holds at most "
                                        f"{MAX_GRID_VALUES}", 1, pos + 1, length, label="range")
                got = [round(lo + k * step, 12) for k in range(n + 1)]
            for v in got:
                values.add(float(v))
                if sign:
                    values.add(-float(v))
            if len(values) > MAX_GRID_VALUES:
                raise _syntax_error(f"the grid has more than {MAX_GRID_VALUES} values", 1, pos + 1, length,
                                    label="grid")
    return tuple(sorted(values))


def parse_bins(text: str) -> tuple[Bin, ...]:
    """`[0,.1) [.1,.2) [.4,1]` -> ordered, non-overlapping `Bin`s (a bad order or overlap raises with a column)."""
    tree = parse_tree(text, "bins")
    out: list[Bin] = []
    for b in tree.children:
        lo, hi = _gnum(b.children[0]), _gnum(b.children[1])
        col, length = b.meta.start_pos + 1, b.meta.end_pos - b.meta.start_pos
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise _syntax_error(f"bin {text[b.meta.start_pos:b.meta.end_pos]} has an edge that is not finite", 1,
                                col, length, label="bins")
        if not lo < hi:
            raise _syntax_error(f"bin {text[b.meta.start_pos:b.meta.end_pos]} is empty: its start must be below "
                                "its end", 1, col, length, label="bins")
        cur = Bin(lo, hi, b.data == "bin_closed")
        if out:
            prev = out[-1]
            if cur.lo < prev.lo:
                raise _syntax_error(f"bins are not in increasing order: {cur} after {prev}", 1, col, length,
                                    label="bins")
            if cur.lo < prev.hi or (cur.lo == prev.hi and prev.hi_closed):
                raise _syntax_error(f"bin {cur} overlaps {prev}", 1, col, length, label="bins")
        out.append(cur)
    return tuple(out)


def parse_degree_bins(text: str) -> tuple[DegreeBin, ...]:
    """`1, 2-5, 6-20, 501+` -> ordered, non-overlapping `DegreeBin`s."""
    tree = parse_tree(text, "degree_bins")
    out: list[DegreeBin] = []
    for d in tree.children:
        ints = [int(c) for c in d.children]
        cur = DegreeBin(ints[0], None) if d.data == "degree_open" else DegreeBin(ints[0], ints[-1])
        col, length = d.meta.start_pos + 1, d.meta.end_pos - d.meta.start_pos
        if cur.hi is not None and cur.hi < cur.lo:
            raise _syntax_error(f"degree bin {cur.lo}-{cur.hi} is empty", 1, col, length, label="degree_bins")
        if out:
            prev = out[-1]
            if prev.hi is None or cur.lo <= prev.hi:
                raise _syntax_error(f"degree bin {cur} overlaps or precedes {prev}", 1, col, length,
                                    label="degree_bins")
        out.append(cur)
    return tuple(out)


# ---------------------------------------------------------------- hooks

def _layers(sel: str, col: int) -> list[int]:
    out: list[int] = []
    for part in sel[1:].split(","):
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if max(a, b) > MAX_LAYER:
            raise _syntax_error(f"layer {max(a, b)} is beyond any model (at most {MAX_LAYER})", 1, col + 1, len(sel),
                                label="hooks")
        if b < a:
            raise _syntax_error(f"layer range {part} is empty (end below start)", 1, col + 1, len(sel),
                                label="hooks")
        out.extend(range(a, b + 1))
    return out


def parse_hooks(text: str) -> list[HookItem]:
    """`L0-5.{attn_out,mlp_out} blocks.4.hook_resid_post` -> `HookItem`s (layers outer, sites inner).

    Unknown shorthand sites raise with a did-you-mean; canonical names are kept as written (the resolver checks
    them against the model's architecture).
    """

    tree = parse_tree(text, "hooks")
    items: list[HookItem] = []
    for g in tree.children:
        if g.data == "hook_canonical":
            tok = g.children[0]
            layer, site = split_hook(str(tok))
            items.append(HookItem(str(tok), layer, site, tok.start_pos, len(tok)))
            continue
        sel_tok, site_set = g.children
        sites = [t for t in site_set.children]
        for s in sites:
            if str(s) not in HOOK_SITES:
                guess = did_you_mean(str(s), HOOK_SITES)
                hint = f"did you mean '{guess}'? " if guess else ""
                err = _syntax_error(f"unknown hook site '{s}'", 1, s.start_pos + 1, len(s), label="site")
                err.items[0].hint = hint + "valid: " + ", ".join(HOOK_SITES)
                raise err
        for layer in _layers(str(sel_tok), sel_tok.start_pos):
            for s in sites:
                items.append(HookItem(hook_name(layer, str(s)), layer, str(s), g.meta.start_pos,
                                      g.meta.end_pos - g.meta.start_pos))
    return items


# ---------------------------------------------------------------- filters

_BIN = {"or_": "or", "and_": "and", "add": "+", "sub": "-", "mul": "*", "div": "/"}


def _to_node(t) -> Node:
    if isinstance(t, lark.Token):  # pragma: no cover - atoms always arrive wrapped in an aliased rule
        return Name(str(t), col=t.start_pos)
    col = t.meta.start_pos if not t.meta.empty else 0
    kind = t.data
    if kind == "number":
        return Num(float(t.children[0]), col=col)
    if kind == "name":
        return Name(str(t.children[0]), col=col)
    if kind == "fstring":
        import json

        return Str(json.loads(str(t.children[0])), col=col)
    if kind in ("true", "false"):
        return Bool(kind == "true", col=col)
    if kind == "neg":
        return Unary("-", _to_node(t.children[0]), col=col)
    if kind == "not_":
        return Unary("not", _to_node(t.children[0]), col=col)
    if kind in _BIN:
        return Binary(_BIN[kind], _to_node(t.children[0]), _to_node(t.children[1]), col=col)
    if kind == "compare":
        return Binary(str(t.children[1]), _to_node(t.children[0]), _to_node(t.children[2]), col=col)
    if kind == "call":
        args = tuple(_to_node(a) for a in t.children[1:] if a is not None)
        return Call(str(t.children[0]), args, col=col)
    raise _syntax_error(f"unsupported expression '{kind}'", 1, col + 1)  # pragma: no cover


FILTER_FUNCTIONS = {"abs": abs, "min": min, "max": max}


def parse_filter(text: str) -> Node:
    """`I >= 0.4 and S < 0.2` -> filter AST. Function names are checked here (abs, min, max)."""
    node = _to_node(parse_tree(text, "filter"))
    _check_calls(node)
    return node


_KEYWORDS = ("and", "or", "not", "true", "false")


def _check_calls(node: Node) -> None:

    if isinstance(node, Name) and node.name in _KEYWORDS:
        raise _syntax_error(f"'{node.name}' is a keyword, not a value", 1, node.col + 1, len(node.name),
                            label="keyword")

    if isinstance(node, Call):
        if node.fn not in FILTER_FUNCTIONS:
            guess = did_you_mean(node.fn, FILTER_FUNCTIONS)
            err = _syntax_error(f"unknown function '{node.fn}'", 1, node.col + 1, len(node.fn), label="function")
            err.items[0].hint = (f"did you mean '{guess}'? " if guess else "") + "valid: " + ", ".join(FILTER_FUNCTIONS)
            raise err
        for a in node.args:
            _check_calls(a)
    for child in (getattr(node, "operand", None), getattr(node, "left", None), getattr(node, "right", None)):
        if child is not None:
            _check_calls(child)


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "<": operator.lt,
        "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def evaluate_filter(node: Node, env: dict[str, Any]) -> Any:
    """Evaluate a filter AST against `env` (names -> values); the top level of a filter is usually a bool.

    An unknown name raises `ExprSyntaxError` listing the names `env` offers.
    """
    if isinstance(node, Num | Str | Bool):
        return node.value
    if isinstance(node, Name):
        if node.name not in env:

            guess = did_you_mean(node.name, env)
            err = _syntax_error(f"unknown name '{node.name}' in filter", 1, node.col + 1, len(node.name),
                                label="name")
            err.items[0].hint = (f"did you mean '{guess}'? " if guess else "") + "valid: " + ", ".join(sorted(env))
            raise err
        return env[node.name]
    if isinstance(node, Unary):
        v = evaluate_filter(node.operand, env)
        return (not v) if node.op == "not" else -v
    if isinstance(node, Binary):
        left = evaluate_filter(node.left, env)
        if node.op == "and":
            return bool(left) and bool(evaluate_filter(node.right, env))
        if node.op == "or":
            return bool(left) or bool(evaluate_filter(node.right, env))
        return _OPS[node.op](left, evaluate_filter(node.right, env))
    if isinstance(node, Call):
        return FILTER_FUNCTIONS[node.fn](*(evaluate_filter(a, env) for a in node.args))
    raise TypeError(f"not a filter node: {node!r}")  # pragma: no cover


def filter_names(node: Node) -> set[str]:
    """Every variable name a filter reads."""
    if isinstance(node, Name):
        return {node.name}
    out: set[str] = set()
    for child in (getattr(node, "operand", None), getattr(node, "left", None), getattr(node, "right", None),
                  *getattr(node, "args", ())):
        if child is not None:
            out |= filter_names(child)
    return out
