"""Parse stage, the `.interf` front end: DSL text -> the same plain data + `SourceMap` as the YAML loader.

Input: `.interf` text. Output: (data, SourceMap); `load.py` validates it into a `Spec` exactly like YAML data.
The lark tree comes from `expr.parse_tree(text, "dsl")`; this module walks it without importing lark.

Sugar (everything else is `key = value` and `key { ... }` for mappings):
    source gpt2 { ... }        -> sources.gpt2 = {...}
    focus feature { ... }      -> interventions += [{focus: feature, ...}]
    target gemma { ... }       -> targets += [{name: gemma, ...}]   (inside `transfer { }`)
    saes { ... }               -> saes += [{...}]                   (repeatable, inside a source)
"""

from __future__ import annotations

import json
import re
from typing import Any

from interf_dsl._source import KeyPath, Pos, SourceMap, format_key_path
from interf_dsl.errors import ErrorItem, ExprSyntaxError, Span, SpecError, did_you_mean

LABELLED = {"source": ("sources", None), "focus": ("interventions", "focus"), "target": ("targets", "name")}
"""Labelled block -> (key it fills, field the label sets; None = the label is a mapping key)."""
REPEATED = ("saes",)
"""Unlabelled blocks that append to a list each time they appear."""
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Builder:
    def __init__(self, smap: SourceMap) -> None:
        self.smap = smap
        self.errors: list[ErrorItem] = []

    def span(self, tok_or_meta: Any, length: int | None = None) -> Span:
        line = tok_or_meta.line
        col = tok_or_meta.column
        n = length if length is not None else len(str(tok_or_meta)) if hasattr(tok_or_meta, "type") else 1
        return Span(self.smap.path, line, col, max(1, n))

    def unquote(self, tok: Any) -> str:
        """A quoted string's text (JSON escapes); a bad escape or a lone surrogate is a located error."""
        try:
            text = json.loads(str(tok))
        except json.JSONDecodeError as exc:
            raise SpecError(f"bad string: {exc.msg.lower()}", span=Span(self.smap.path, tok.line, tok.column + exc.pos),
                            hint='escapes are \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX') from None
        lone = _SURROGATE.search(text)
        if lone:
            raise SpecError(f"bad string: a lone surrogate \\u{ord(lone.group()):04x}", span=self.span(tok),
                            hint="write the character itself, or both halves of its surrogate pair")
        return text

    def record(self, kp: KeyPath, value_node: Any, key_tok: Any = None) -> None:
        meta = value_node if hasattr(value_node, "type") else value_node.meta
        quote = 1 if getattr(value_node, "data", None) in ("string", "string_label") else 0
        length = (meta.end_pos - meta.start_pos) if hasattr(meta, "end_pos") else 1
        kl, kc, klen = (key_tok.line, key_tok.column, len(str(key_tok))) if key_tok is not None else (None, None, 1)
        raw = self.unquote(value_node.children[0]) if quote else None
        self.smap.positions[kp] = Pos(meta.line, meta.column, max(1, length), kl, kc, klen, quote,
                                      meta.line != getattr(meta, "end_line", meta.line), raw)

    def body(self, items: list, kp: KeyPath) -> dict:
        out: dict[str, Any] = {}
        for item in items:
            kind = item.data
            key_tok = item.children[0]
            key = self.unquote(key_tok) if key_tok.type == "ESCAPED_STRING" else str(key_tok)
            if kind == "assign":
                self.put(out, key, key_tok, self.value(item.children[1], kp + (key,)), item.children[1], kp)
            elif kind == "block":
                body = item.children[1]
                if key in REPEATED:
                    lst = out.setdefault(key, [])
                    if not isinstance(lst, list):
                        self.dup(key_tok, kp + (key,))
                        continue
                    if not lst:
                        self.record(kp + (key,), body, key_tok)
                    idx = len(lst)
                    lst.append(self.body(body.children, kp + (key, idx)))
                    self.record(kp + (key, idx), body, key_tok)
                else:
                    self.put(out, key, key_tok, self.body(body.children, kp + (key,)), body, kp)
            else:
                self.labelled(out, item, kp)
        return out

    def labelled(self, out: dict, item: Any, kp: KeyPath) -> None:
        key_tok, label_node, body = item.children
        key = str(key_tok)
        label_tok = label_node.children[0]
        label = self.unquote(label_tok) if label_node.data == "string_label" else str(label_tok)
        if key not in LABELLED:

            guess = did_you_mean(key, LABELLED)
            self.errors.append(ErrorItem(f"unknown labelled block '{key} {label}'", span=self.span(key_tok),
                                         name=key, choices=tuple(LABELLED),
                                         hint=None if guess else "a plain mapping is written `key { ... }`"))
            return
        target, field = LABELLED[key]
        if field is None:
            mapping = out.setdefault(target, {})
            if target not in self.smap.positions or not self.smap.has(kp + (target,)):
                self.record(kp + (target,), body, key_tok)
            if label in mapping:
                self.dup(label_tok, kp + (target, label))
                return
            mapping[label] = self.body(body.children, kp + (target, label))
            self.record(kp + (target, label), body, label_tok)
            return
        lst = out.setdefault(target, [])
        if not self.smap.has(kp + (target,)):
            self.record(kp + (target,), body, key_tok)
        idx = len(lst)
        entry = self.body(body.children, kp + (target, idx))
        if field in entry:
            self.errors.append(ErrorItem(f"'{field}' is already given by the block label '{label}'",
                                         span=self.span(label_tok), key_path=format_key_path(kp + (target, idx))))
        lst.append({field: label, **entry})
        self.record(kp + (target, idx), body, key_tok)
        self.record(kp + (target, idx, field), label_node if label_node.data == "string_label" else label_tok,
                    key_tok)

    def put(self, out: dict, key: str, key_tok: Any, value: Any, value_node: Any, kp: KeyPath) -> None:
        if key in out:
            self.dup(key_tok, kp + (key,))
            return
        out[key] = value
        self.record(kp + (key,), value_node, key_tok)

    def dup(self, tok: Any, kp: KeyPath) -> None:
        first = self.smap.positions.get(kp)
        where = f" (first at line {first.key_line or first.line})" if first else ""
        self.errors.append(ErrorItem(f"duplicate key '{kp[-1]}'{where}", span=self.span(tok),
                                     key_path=format_key_path(kp)))

    def value(self, node: Any, kp: KeyPath) -> Any:
        kind = node.data
        if kind == "string":
            return self.unquote(node.children[0])
        if kind == "dnumber":
            neg, num = node.children
            text = str(num)
            v: float | int = float(text) if any(c in text for c in ".eE") else int(text)
            return -v if neg is not None else v
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "null":
            return None
        if kind == "bare":
            return str(node.children[0])
        if kind == "list":
            items = [c for c in node.children if c is not None]
            out = []
            for i, c in enumerate(items):
                out.append(self.value(c, kp + (i,)))
                self.record(kp + (i,), c)
            return out
        if kind == "mapping":
            return self.body(node.children[0].children, kp)
        raise SpecError(f"unsupported DSL value {kind}")  # pragma: no cover


def load_dsl(text: str, path: str) -> tuple[dict, SourceMap]:
    """Parse `.interf` text into plain data and its source map; syntax and duplicate errors raise `SpecError`."""
    from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

    smap = SourceMap(path, text)
    try:
        tree = expr.parse_tree(text, "dsl")
    except ExprSyntaxError as exc:
        item = exc.items[0]
        expected = getattr(exc, "expected", ())
        hint = ("expected " + ", ".join(expected[:8])) if expected else None
        raise SpecError(item.message, span=Span(path, exc.line, exc.column, exc.length), hint=hint) from None
    b = _Builder(smap)
    data = b.body(tree.children, ())
    smap.positions[()] = Pos(1, 1)
    if b.errors:
        raise SpecError(items=b.errors)
    if not data:
        raise SpecError("the spec file is empty", span=Span(path, 1, 1), hint="start from `interf new`")
    return data, smap
