#!/usr/bin/env bash
# Wheels the lent GPU machine lacks (its image has torch, numpy, transformers), for benchmarks/gpu_check.sh.
# Run here, in the project root, before the device call; `.whl/` is git-excluded and travels as `carry: [.whl]`.
# polars (54 MB) does not fit the 64 MB that travels, so the compute paths and their benchmarks run without it.
set -euo pipefail
mkdir -p .git/info
grep -qxF /.whl/ .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  transformer-lens==3.9.0 better-abc fancy-einsum datasets dill multiprocess pydantic pydantic_core \
  annotated-types typing-inspection lark pyyaml typer rich shellingham markdown-it-py mdurl pygments \
  pytest pluggy iniconfig
du -sh .whl
