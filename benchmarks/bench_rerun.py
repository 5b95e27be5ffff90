"""Benchmark: run the demo spec twice through the CLI (fresh reports and cache dirs) and report the cost of a rerun.

The first run computes every step; the second must take every step from the cache: 0 forward passes, 0 API
requests, and (issue 4) under 3 s including interpreter start-up. The last line of output is one JSON object:
first_seconds, rerun_seconds, rerun_forwards, rerun_requests, plus the first run's engine overhead
(first_engine_seconds = wall time outside step runners) and step compute time, and the rerun's cache hits.

Usage: python benchmarks/bench_rerun.py [--spec specs/demo.yaml] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(spec: Path, work: Path, run_id: str) -> tuple[float, dict]:
    """Run `interf run` in a subprocess; returns (wall seconds, run.json)."""
    env = {**os.environ, "INTERF_CACHE": str(work / "cache"), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    cmd = [sys.executable, "-m", "interf_dsl", "run", str(spec), "--reports", str(work / "reports"),
           "--run-id", run_id, "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"interf run failed with exit code {proc.returncode}")
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    return seconds, json.loads((run_dir / "run.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "specs" / "demo.yaml")
    ap.add_argument("--keep", type=Path, default=None, help="keep reports and cache in this folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="interf-bench-") as tmp:
        work = args.keep or Path(tmp)
        first_s, first = run_once(args.spec.resolve(), work, "first")
        rerun_s, rerun = run_once(args.spec.resolve(), work, "rerun")
    rec1, rec2 = first["record"], rerun["record"]
    compute = sum(s["compute_seconds"] for s in rec1["steps"] if not s["cache_hit"])
    result = {
        "spec": str(args.spec), "steps": len(rec2["steps"]),
        "first_seconds": round(first_s, 3), "rerun_seconds": round(rerun_s, 3),
        "rerun_forwards": int(rec2["counters"]["forward_passes"] + rec2["counters"]["gradient_passes"]),
        "rerun_requests": int(rec2["counters"]["api_requests"]),
        "rerun_cache_hits": sum(s["cache_hit"] for s in rec2["steps"]),
        "rerun_models_loaded": len(rec2["models_loaded"]),
        "first_forwards": int(rec1["counters"]["forward_passes"]),
        "first_requests": int(rec1["counters"]["api_requests"]),
        "first_compute_seconds": round(compute, 3),
        "first_engine_seconds": round(rec1["engine_seconds"], 3),
        "rerun_engine_seconds": round(rec2["engine_seconds"], 3),
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
