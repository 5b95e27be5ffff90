"""Report stage: run directory -> `report.md`, `report.html`; two run directories -> a diff.

Public API: `build_report`, `read_run`, `diff_reports`, `conform`, `SCHEMA_VERSION`; see README.md.
"""

from interf_dsl.report.build import build_report
from interf_dsl.report.diff import diff_reports
from interf_dsl.report.io import read_run
from interf_dsl.report.schema import SCHEMA_VERSION, conform

__all__ = ["SCHEMA_VERSION", "build_report", "conform", "diff_reports", "read_run"]

