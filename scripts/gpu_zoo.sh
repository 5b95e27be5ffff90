#!/usr/bin/env bash
# Retrain the zoo's models and SAEs on a lent GPU machine (issue 17), in three steps:
#   bash scripts/gpu_zoo.sh prepare     # here: corpus (Debian packages), token stream, shipped tokenizer -> zoo-carry/
#   device run, carry [.whl, zoo-carry], timeout_s 590:  bash scripts/gpu_zoo.sh train
#   bash scripts/gpu_zoo.sh finish DIR  # here, DIR = the run's files_at: wrap + measure the SAEs, write the card,
#                                       # install into interf_dsl/zoo/artifacts (then regenerate zoo-dependent goldens)
# The device stages need torch and transformer_lens only (no sae_lens, WordNet or polars). ZOO_MINUTES and
# ZOO_DEVICE override the budgets and the device (a dry run: ZOO_DEVICE=cpu ZOO_MINUTES=gpt2-tiny=0.05,...).
set -euo pipefail
MINUTES=${ZOO_MINUTES:-gpt2-tiny=1.8,pythia-tiny=1.8,target-tiny=2.2,sae=0.15}
case ${1:-} in
prepare)
  command -v apt-get >/dev/null && [ ! -d /usr/share/dictd ] && apt-get install -y -qq fortunes fortunes-min \
    wordnet-base dict-gcide dict-devil dict-jargon
  HF_HUB_OFFLINE=1 .venv/bin/interf zoo build --out zoo-build --reuse-tokenizer --until token_types
  rm -rf zoo-carry && mkdir -p zoo-carry/corpus
  cp -r zoo-build/build_state.json zoo-build/tokenizer zoo-build/token_types.json zoo-build/heldout.jsonl.gz zoo-carry/
  xz -T0 -6 -c zoo-build/corpus/tokens_train.npy > zoo-carry/corpus/tokens_train.npy.xz
  xz -T0 -6 -c zoo-build/corpus/heldout.txt > zoo-carry/corpus/heldout.txt.xz
  bash scripts/gpu_wheels.sh
  du -sh zoo-carry .whl ;;
train)
  OUT=${OUT:-/tmp/gpu_zoo}
  if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --target .site .whl/*.whl
    export PYTHONPATH=$PWD/.site:$PWD
  fi
  export HF_HUB_OFFLINE=1 WANDB_MODE=disabled
  rm -rf zoo-build && cp -r zoo-carry zoo-build
  xz -d zoo-build/corpus/tokens_train.npy.xz zoo-build/corpus/heldout.txt.xz
  python3 -m interf_dsl zoo build --out zoo-build --device "${ZOO_DEVICE:-cuda}" --batch 64 --minutes "$MINUTES" \
    --until sae_train:pythia-tiny 2>&1 | tee zoo-build/train.log
  mkdir -p "$OUT/zoo-build"
  cp -r zoo-build/models zoo-build/sae_weights zoo-build/build_state.json zoo-build/train.log "$OUT/zoo-build/" ;;
finish)
  src=${2:?usage: scripts/gpu_zoo.sh finish DIR, the folder of the device run files that holds zoo-build/}
  cp -r "$src/zoo-build/models" "$src/zoo-build/sae_weights" "$src/zoo-build/build_state.json" zoo-build/
  HF_HUB_OFFLINE=1 WANDB_MODE=disabled .venv/bin/interf zoo build --out zoo-build --reuse-tokenizer --install ;;
*)
  sed -n 2,9p "$0"; exit 2 ;;
esac
