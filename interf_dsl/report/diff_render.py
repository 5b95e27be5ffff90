"""Report stage: rendering a `RunDiff` for people (text) and checking it against a `--fail-on` expression."""

from __future__ import annotations

from typing import Any

from interf_dsl.parse import evaluate_filter, parse_filter
from interf_dsl.report.diff import RunDiff
from interf_dsl.report.sections import fmt

MAX_LINES = 20


def _key(key: dict[str, Any]) -> str:
    return " ".join(f"{k}={fmt(v)}" for k, v in key.items())


def render_diff(d: RunDiff) -> str:
    """Human-readable diff: provenance, tables, effects with delta CIs, flipped conclusions, a summary line."""
    out = [f"interf diff\n  A: {d.a}\n  B: {d.b}"]
    for note in d.migrations:
        out.append(f"  migrated {note}")
    out.append("provenance:" if d.provenance else "provenance: same")
    out += [f"  {p['field']}: {fmt(p['a'])} -> {fmt(p['b'])}" for p in d.provenance]
    out.append("tables:")
    for t in d.tables:
        state = "same" if not (t.added or t.removed or t.changed) else (
            f"{t.added} added, {t.removed} removed, {t.changed} changed")
        out.append(f"  {t.table} ({t.rows_a} -> {t.rows_b} rows; keys {', '.join(t.keys)}): {state}"
                   + (f" [{t.note}]" if t.note else ""))
        rows = [r for r in d.rows if r["table"] == t.table]
        for r in rows[:MAX_LINES]:
            if r["change"] == "changed":
                delta = f" (delta {fmt(r['delta'])})" if r["delta"] is not None else ""
                out.append(f"    ~ {_key(r['key'])} {r['column']}: {fmt(r['a'])} -> {fmt(r['b'])}{delta}")
            else:
                out.append(f"    {'+' if r['change'] == 'added' else '-'} {_key(r['key'])}")
        if len(rows) > MAX_LINES:
            out.append(f"    ... {len(rows) - MAX_LINES} more (use --json for all)")
    if d.effects:
        out.append("effects (delta = B - A):")
    for e in d.effects:
        ci = (f"[{fmt(e['delta_ci_low'])}, {fmt(e['delta_ci_high'])}], n={e['n_pairs']} paired cases"
              if e["n_pairs"] else "no CI (no per-case data in both runs)")
        flags = (" FLIPPED (CI excluded zero: " + f"{e['excluded_zero_a']} -> {e['excluded_zero_b']})"
                 if e["flipped"] else "") + (" SIGN CHANGE" if e["sign_change"] else "")
        out.append(f"  {e['table']} {_key(e['key'])}: {fmt(e['a'])} -> {fmt(e['b'])}, delta {fmt(e['delta'])} "
                   f"{ci}{flags}")
    flipped = sum(e["flipped"] for e in d.effects)
    out.append(f"summary: {len(d.provenance)} provenance differences, {len(d.rows)} data differences, "
               f"{flipped} flipped conclusions" if d.differs else "summary: no differences")
    return "\n".join(out)


def diff_rows(d: RunDiff) -> list[dict[str, Any]]:
    """Flat rows a `--fail-on` expression is evaluated on: every data change and every changed effect.

    Names: table, change (added|removed|changed|effect), column, a, b, delta, ci_low, ci_high (the delta's CI, effects
    only), flipped, sign_change, n_pairs, and each key column (when it does not clash with these).
    """
    rows = []
    for r in d.rows:
        rows.append({"table": r["table"], "change": r["change"], "column": r["column"], "a": r["a"], "b": r["b"],
                     "delta": r["delta"], "ci_low": None, "ci_high": None, "flipped": False,
                     "sign_change": False, "n_pairs": 0, **{k: v for k, v in r["key"].items() if k not in r}})
    for e in d.effects:
        rows.append({"table": e["table"], "change": "effect", "column": "estimate", "a": e["a"], "b": e["b"],
                     "delta": e["delta"], "ci_low": e["delta_ci_low"], "ci_high": e["delta_ci_high"],
                     "flipped": e["flipped"], "sign_change": e["sign_change"], "n_pairs": e["n_pairs"],
                     **{k: v for k, v in e["key"].items() if k not in e and k not in ("ci_low", "ci_high")}})
    return rows


def fail_on(d: RunDiff, expression: str) -> list[dict[str, Any]]:
    """The diff rows matching `expression` (spec filter grammar, e.g. `abs(delta) > 0.02`).

    A row on which a name the expression reads is null (e.g. `delta` of an added row, or of a text column), or on
    which the expression compares text with a number, does not match; write `change == "added"` to gate on added
    rows.

    Raises:
        ExprSyntaxError: the expression does not parse or names something no diff row has.
    """
    from interf_dsl.lang.expr import filter_names  # lazy: lark only when an expression is parsed

    node = parse_filter(expression)
    names = filter_names(node)
    base = dict.fromkeys(("table", "change", "column", "a", "b", "delta", "ci_low", "ci_high", "flipped",
                          "sign_change", "n_pairs"))
    rows = diff_rows(d)
    for name in names:  # an unknown name is an error even when there are no rows to evaluate
        if not any(name in r for r in rows) and name not in base:
            evaluate_filter(node, base)
    return [r for r in rows if all(r.get(n) is not None for n in names) and _matches(node, {**base, **r})]


def _matches(node: Any, env: dict[str, Any]) -> bool:

    try:
        return bool(evaluate_filter(node, env))
    except TypeError:  # e.g. `a > 0.5` on a changed text cell: the comparison does not apply to this row
        return False
