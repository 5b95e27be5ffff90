"""interf: polysemantic-interference experiments as declarative specs.

Pipeline: parse (YAML / .interf text -> Spec) -> resolve (Spec -> ResolvedSpec) -> plan (ResolvedSpec -> Plan)
-> execute (Plan -> RunRecord) -> report (RunRecord -> tables, report.md/html; two runs -> diff).

The stage functions and values below are imported lazily (PEP 562), so `import interf_dsl` stays instant.
"""

from __future__ import annotations

import os
from typing import Any

# OpenMP threads that spin while waiting collapse on a shared, loaded CPU (atlas step 6 s → 25-85 s, embed 9 s → 20-70 s
# at load ~7 on 2 cores); sleeping waits cost nothing measurable. Read when torch loads, so it is set here, before.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.2.0"

_LAZY = {
    "load_spec": "interf_dsl.parse",
    "Spec": "interf_dsl.parse",
    "format_spec": "interf_dsl.parse",
    "parse_filter": "interf_dsl.parse",
    "evaluate_filter": "interf_dsl.parse",
    "resolve_spec": "interf_dsl.resolve",
    "ResolvedSpec": "interf_dsl.resolve",
    "compile_plan": "interf_dsl.plan",
    "Plan": "interf_dsl.plan",
    "Step": "interf_dsl.plan",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'interf_dsl' has no attribute {name!r}")
