#!/usr/bin/env bash
# Issue 17's GPU checks as ONE device call (15 minutes of device time in all; step timeouts sum to 540 s):
#   bash scripts/gpu_wheels.sh                      # here, once: the wheels the device image lacks
#   device run, carry [.whl], timeout_s 580:  bash benchmarks/gpu_check.sh
# Each step has its own timeout and writes its output under $OUT (or /tmp/gpu_check): a step that fails or runs
# out of time does not stop the others. summary.json collects the last JSON line of every benchmark.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --target .site .whl/*.whl
export PYTHONPATH=$PWD/.site:$PWD HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True WANDB_MODE=disabled
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>&1
python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))" \
  > "$OUT/torch.txt" 2>&1

step() {  # name, seconds, command...
  local name=$1 secs=$2; shift 2
  local t0=$SECONDS
  timeout "$secs" "$@" > "$OUT/$name.txt" 2>&1
  echo "$name rc=$? $((SECONDS - t0)) s" | tee -a "$OUT/steps.txt"
}

# the device path against the CPU reference numbers (skipped on a CPU; run here on CUDA)
step tests 90 python3 -m pytest -q -p no:cacheprovider -m "gpu or not slow" tests/unit/test_cuda_paths.py \
  tests/unit/metrics/test_device_scores.py tests/unit/interference/test_blocked.py
# sweep: >= 30x the per-call loop, max_abs_diff <= 1e-5
step sweep 110 python3 benchmarks/bench_sweep.py --device cuda --batched --sentences 16 --tokens 64
# map: 32k <= 1 s in a fresh process, >= 0.6 of GEMM at 65k and at 262k (each case its own process)
step map_65k 100 python3 benchmarks/bench_map.py --device cuda --big-features 65536
step map_262k 120 python3 benchmarks/bench_map.py --device cuda --big-features 262144
# the paper's feature and token studies extrapolated from measured units: feature < 1 h
step paper_scale 120 python3 benchmarks/bench_paper_scale.py --device cuda --sentences 4 --tokens 24

python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
summary = {}
for name in ("sweep", "map_65k", "map_262k", "paper_scale"):
    f = out / f"{name}.txt"
    lines = [ln for ln in f.read_text().splitlines() if ln.startswith("{")] if f.exists() else []
    summary[name] = json.loads(lines[-1]) if lines else None
(out / "summary.json").write_text(json.dumps(summary, indent=1))
PY
cat "$OUT/steps.txt"
