"""Parse stage: YAML / `.interf` text (+ expression strings through `grammar/interf.lark`) -> `Spec`.

Public: `load_spec`, `load_spec_text`, `Spec`, `parse_filter`, `evaluate_filter`, `format_spec`.
lark is imported only by `expr.py`, and only when an expression or a DSL file is parsed.
"""

from __future__ import annotations

from typing import Any

from interf_dsl.parse.fmt import format_spec as _format
from interf_dsl.parse.load import load_spec, load_spec_text
from interf_dsl.parse.spec import Spec


def parse_filter(text: str) -> Any:
    """`I >= 0.4 and S < 0.2` -> a filter node (see `lang/ast.py`); `str(node)` is canonical."""
    from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

    return expr.parse_filter(text)


def evaluate_filter(node: Any, env: dict[str, Any]) -> Any:
    """Evaluate a filter node against a dict of names (and/or/not, comparisons, arithmetic, abs/min/max)."""
    from interf_dsl.lang import expr  # lazy: lark only when an expression is parsed

    return expr.evaluate_filter(node, env)


def format_spec(spec: Spec, to: str = "yaml") -> str:
    """The canonical text of a spec in one spelling (`yaml` or `interf`)."""
    return _format(spec, to)


__all__ = ["Spec", "evaluate_filter", "format_spec", "load_spec", "load_spec_text", "parse_filter"]
