"""Benchmark of `interf diff` (`report.diff.diff_reports`): the streamed comparison against the whole-table one.

Builds run directories with tables of the demo's size (pairs 1.7 M rows, contexts 330 k rows of text, embeddings
and link vectors 18 k rows of 384 floats, plus small tables): run A, run B1 = a byte copy of A (not a link, so
the byte comparison is exercised), and run B2 = A with 100 changed values in `pairs` and `contexts` rewritten with
other parquet settings (same rows, other bytes: the bucketed row comparison runs on both). Each (pair, mode)
diff runs in its own process forked from a small parent, so each peak RSS (ru_maxrss, interpreter and imports
included) is that diff's own;
both modes must give the same `RunDiff` JSON. With `--runs A B` it diffs two existing run directories instead
(e.g. two demo runs: `interf run specs/demo.yaml` twice). The last line is one JSON object.

    python benchmarks/bench_diff.py [--runs RUN_A RUN_B] [--scale 1.0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_ROWS = {"pairs": 1_708_079, "contexts": 330_318, "embeddings": 18_432, "link_vectors": 18_145,
             "links": 340_824, "effects": 668}


def child(run_a: str, run_b: str, mode: str) -> None:
    """Run one diff; print {seconds, peak_rss_mb, sha256 of the RunDiff JSON, data differences}."""
    sys.path.insert(0, str(ROOT))
    from interf_dsl.report.diff import diff_reports

    t0 = time.perf_counter()
    d = diff_reports(run_a, run_b, stream=mode == "stream")
    seconds = time.perf_counter() - t0
    text = d.to_json()
    print(json.dumps({"seconds": round(seconds, 3),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "sha256": hashlib.sha256(text.encode()).hexdigest(), "rows": len(d.rows)}))


def _frames(scale: float, seed: int):
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    n = {k: max(10, int(v * scale)) for k, v in DEMO_ROWS.items()}
    hooks = np.array([f"blocks.{i}.hook_{h}" for i in range(4) for h in ("resid_post", "mlp_out", "attn_out")])
    pairs = pl.DataFrame({
        "step": "map:gpt2", "source": rng.choice(["gpt2", "pythia"], n["pairs"]),
        "hook": rng.choice(hooks, n["pairs"]), "metric": "decoder_cos", "set": rng.choice(["bin", "top"], n["pairs"]),
        "feature": np.arange(n["pairs"]) // 97, "partner": np.arange(n["pairs"]) % 97,
        "I": rng.random(n["pairs"], dtype=np.float32), "S": rng.random(n["pairs"], dtype=np.float32),
        "bin": rng.integers(0, 5, n["pairs"], dtype=np.int8)})
    words = np.array([f"w{i}" for i in range(5000)])
    contexts = pl.DataFrame({
        "step": "atlas", "source": "gpt2", "hook": rng.choice(hooks, n["contexts"]),
        "feature": np.arange(n["contexts"]) // 18, "rank": np.arange(n["contexts"]) % 18,
        "text": [" ".join(rng.choice(words, 12)) for _ in range(n["contexts"])],
        "act": rng.random(n["contexts"], dtype=np.float32)})

    def vectors(rows: int) -> pl.DataFrame:
        return pl.DataFrame({"step": "embed", "feature": np.arange(rows),
                             "vector": rng.standard_normal((rows, 384), dtype=np.float32)})

    links = pl.DataFrame({"step": "map", "feature": np.arange(n["links"]) // 20, "partner": np.arange(n["links"]) % 20,
                          "I": rng.random(n["links"])})
    effects = pl.DataFrame({"step": "intervene", "level": np.arange(n["effects"]), "estimate": rng.normal(size=n["effects"]),
                            "ci_low": -1.0, "ci_high": 1.0})
    return {"pairs": (pairs, ["step", "source", "hook", "metric", "set", "feature", "partner"]),
            "contexts": (contexts, ["step", "source", "hook", "feature", "rank"]),
            "embeddings": (vectors(n["embeddings"]), ["step", "feature"]),
            "link_vectors": (vectors(n["link_vectors"]), ["step", "feature"]),
            "links": (links, ["step", "feature", "partner"]), "effects": (effects, ["step", "level"])}


def build(root: Path, scale: float) -> None:
    """Runs A, B1 (byte copy of A), B2 (changed `pairs` values, `contexts` rewritten with other bytes)."""
    sys.path.insert(0, str(ROOT))
    import polars as pl

    from interf_dsl.report.io import write_table
    from interf_dsl.report.schema import SCHEMA_VERSION

    frames = _frames(scale, seed=0)
    a = root / "a"
    for name, (df, keys) in frames.items():
        write_table(a / "tables" / f"{name}.parquet", df, name=name, keys=keys, schema_version=SCHEMA_VERSION)
    run = {"schema_version": SCHEMA_VERSION, "experiment": "bench", "run_id": "a",
           "tables": {name: {"keys": keys} for name, (_, keys) in frames.items()}}
    (a / "run.json").write_text(json.dumps(run))
    b1 = root / "b1"
    shutil.copytree(a, b1)
    b2 = root / "b2"
    shutil.copytree(a, b2)
    pairs, keys = frames["pairs"]
    changed = pairs.with_columns(pl.when(pl.int_range(pl.len()) % (pairs.height // 100 + 1) == 0)
                                 .then(pl.col("I") + 0.5).otherwise(pl.col("I")).alias("I"))
    write_table(b2 / "tables" / "pairs.parquet", changed, name="pairs", keys=keys, schema_version=SCHEMA_VERSION)
    contexts, keys = frames["contexts"]
    contexts.write_parquet(b2 / "tables" / "contexts.parquet", compression="lz4")  # same rows, other bytes


def measure(run_a: Path, run_b: Path, mode: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", str(run_a), str(run_b), mode],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"diff ({mode}) failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs=2, metavar=("RUN_A", "RUN_B"), help="diff these run directories instead")
    ap.add_argument("--scale", type=float, default=1.0, help="row counts relative to the demo's (synthetic runs)")
    ap.add_argument("--keep", type=Path, help="build the synthetic runs here and keep them")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.build:
        build(args.build, args.scale)
        return
    tmp = None
    if args.runs:
        cases = {"given": tuple(Path(r) for r in args.runs)}
    else:
        root = args.keep or Path(tmp := tempfile.mkdtemp(prefix="interf-bench-diff-"))
        t0 = time.perf_counter()
        # built in another process: a child forked from a big parent would report the parent's RSS as its peak
        subprocess.run([sys.executable, __file__, "--build", str(root), "--scale", str(args.scale)], check=True)
        print(f"built synthetic runs in {time.perf_counter() - t0:.1f}s under {root}")
        cases = {"identical": (root / "a", root / "b1"), "changed": (root / "a", root / "b2")}
    result: dict = {}
    print(f"{'case':<10} {'mode':<7} {'seconds':>8} {'peak RSS MB':>12} {'rows':>6}")
    try:
        for case, (ra, rb) in cases.items():
            got = {mode: measure(ra, rb, mode) for mode in ("whole", "stream")}
            for mode, m in got.items():
                print(f"{case:<10} {mode:<7} {m['seconds']:>8.2f} {m['peak_rss_mb']:>12.0f} {m['rows']:>6}")
            if got["whole"]["sha256"] != got["stream"]["sha256"]:
                raise SystemExit(f"{case}: the streamed diff differs from the whole-table diff")
            result[case] = {"whole_seconds": got["whole"]["seconds"], "stream_seconds": got["stream"]["seconds"],
                            "whole_peak_rss_mb": got["whole"]["peak_rss_mb"],
                            "stream_peak_rss_mb": got["stream"]["peak_rss_mb"],
                            "rss_ratio": round(got["whole"]["peak_rss_mb"] / got["stream"]["peak_rss_mb"], 2),
                            "rows": got["stream"]["rows"], "same_output": True}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
