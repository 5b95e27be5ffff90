#!/usr/bin/env bash
# Set up interf on a fresh machine: a venv in .venv, torch (CPU build, from local disk) first, then the rest.
# `--test` also installs the Debian packages the test suite needs (scripts/test_deps.sh: chromium, wordnet-base)
# where apt can run; where it cannot, it warns which tests will skip and goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--test" ]; then bash scripts/test_deps.sh; fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first: a bare 'torch' would pull a multi-GB CUDA build.
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev]"
# the JSON Schema YAML editors read (specs' first line); generated from the registered models, not committed
python -m interf_dsl schema -o specs/interf.schema.json
echo "interf set up in .venv"
