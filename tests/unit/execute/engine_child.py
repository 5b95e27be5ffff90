"""Child process for the kill -9 and shared-cache tests: run the engine-test plan once.

Usage: python engine_child.py REPORTS CACHE RUN_ID N
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from engine_kinds import make_plan  # noqa: E402

from interf_dsl.pipeline import run_plan as execute_plan  # noqa: E402

if __name__ == "__main__":
    reports, cache, run_id, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rec = execute_plan(make_plan(n), spec_path="spec.yaml", spec_text="x", resolved_json="{}", reports_root=reports,
                       cache_dir=cache, run_id=run_id, quiet=True)
    print(rec.run_dir)
