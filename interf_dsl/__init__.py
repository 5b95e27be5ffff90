"""interf: polysemantic-interference experiments as declarative specs.

Pipeline: parse (YAML / .interf text -> Spec) -> resolve (Spec -> ResolvedSpec) -> plan (ResolvedSpec -> Plan)
-> execute (Plan -> RunRecord) -> report (RunRecord -> tables, report.md/html; two runs -> diff).
"""

__version__ = "0.1.0"
