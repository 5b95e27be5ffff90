"""Zoo build: the orchestrator behind `interf zoo build --out DIR`.

Input: the Debian text packages (see `corpus.SOURCES`) and a minutes budget per stage. Output, under DIR:
`corpus/` (full corpus, not shipped), `tokenizer/`, `models/<name>/`, `saes/<model>/<L1.resid_post>/`,
`heldout.jsonl.gz`, `token_types.json`, `zoo.json` and `README.md` (the card). The committed artifacts in
`interf_dsl/zoo/artifacts/` are one such build copied with `copy_artifacts`.

Stages run in order and each records its wall time in `build_state.json`; a stage whose outputs exist is skipped,
so an interrupted build resumes (`--fresh` ignores earlier outputs).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

from interf_dsl.errors import SpecError
from interf_dsl.zoo import card, catalog, corpus, models, saes, token_types, tokenizer, tokens

DEFAULT_MINUTES = {"gpt2-tiny": 8.0, "pythia-tiny": 9.0, "target-tiny": 12.0, "sae": 0.75}
SHIPPED = ("tokenizer", "models", "saes", "heldout.jsonl.gz", "token_types.json", "zoo.json", "README.md")


class _State:
    """The build's progress file: per-stage timings and results, written after every stage."""

    def __init__(self, out: Path, fresh: bool) -> None:
        self.path = out / "build_state.json"
        self.data = {} if fresh or not self.path.exists() else json.loads(self.path.read_text())

    def done(self, key: str) -> bool:
        return key in self.data

    def record(self, key: str, seconds: float, result: dict | None = None) -> None:
        self.data[key] = {"seconds": round(seconds, 1), **(result or {})}
        self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True))


def build_zoo(out: Path, minutes: dict[str, float] | None = None, fresh: bool = False, log=print,
              device: str = "cpu", batch: int = 32, reuse_tokenizer: bool = False, until: str | None = None) -> dict:
    """Run every build stage into `out` (resuming finished stages) and return the build state.

    Models and SAEs train on `device` (`batch` sequences of 256 tokens per model step); measurements run on the
    CPU. `reuse_tokenizer`: the tokenizer and token-type stages copy the shipped ones (a retrain keeps every token
    id, and needs no WordNet). `until`: stop after that stage key (`stage_keys`), e.g. `token_types` to carry a
    prepared build (its encoded token stream) to a GPU machine, and `sae_train:pythia-tiny` there (the training
    stages need neither sae_lens nor WordNet; wrapping, measuring and the card follow on any machine).
    """
    keys = stage_keys()
    if until is not None and until not in keys:
        raise SpecError(f"--until: unknown stage '{until}'", name=until, choices=keys)
    minutes = {**DEFAULT_MINUTES, **(minutes or {})}
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out, fresh)
    tok_dir = out / "tokenizer"

    class Stop(Exception):
        pass

    def stage(key: str, fn):
        if state.done(key):
            log(f"skip {key} (done in an earlier run)")
        else:
            log(f"stage {key} ...")
            t0 = time.time()
            result = fn()
            state.record(key, time.time() - t0, result)
            log(f"stage {key} done in {time.time() - t0:.0f}s")
        if key == until:
            raise Stop

    def shipped(name: str) -> dict:
        src = catalog.artifacts_dir() / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, out / name)
        if name != "token_types.json":
            return {"reused": f"the shipped {name}"}
        counts = Counter(r["type"] for r in json.loads(src.read_text(encoding="utf-8")))
        return {"reused": f"the shipped {name}", "token_type_counts": dict(counts.most_common())}

    try:
        stage("corpus", lambda: {"sources": corpus.build_corpus(out)})
        stage("tokenizer", (lambda: shipped("tokenizer")) if reuse_tokenizer else
              (lambda: (tokenizer.train_tokenizer(out / "corpus" / "train.txt", tok_dir), {})[1]))
        if reuse_tokenizer:  # before the models: a prepared build carries it, and the device needs no WordNet
            stage("token_types", lambda: shipped("token_types.json"))
        stream = tokens.train_stream(out, tok_dir)
        _train_stages(stage, state, out, tok_dir, stream, minutes, log, device, batch)
    except Stop:
        if state.done("tokenizer"):  # a prepared build carries its encoded token stream (corpus/tokens_train.npy)
            tokens.train_stream(out, tok_dir)
        log(f"stopped after {until}")
    return state.data


def set_process_numerics(device: str) -> None:
    """Process-wide torch settings of a build, set by the `interf zoo build` process (not by `build_zoo`, which
    tests call in a shared process): one intra-op thread on a CPU build (on a shared 2-core machine two OpenMP
    threads wait on each other, 2-3x slower measured; a GPU build keeps torch's default for its CPU-side
    measurements) and flushed denormals (tiny gradients late in training hit x87-slow denormal paths otherwise)."""
    import torch

    threads = os.environ.get("INTERF_ZOO_THREADS", "1" if torch.device(device).type == "cpu" else "")
    if threads:
        torch.set_num_threads(int(threads))
    torch.set_flush_denormal(True)


def stage_keys() -> list[str]:
    """Every build stage key, in order."""
    return (["corpus", "tokenizer"] + [f"model:{m}" for m in models.MODEL_SPECS] + ["token_types"]
            + [f"sae_train:{m}" for m in saes.SAE_MODELS] + [f"saes:{m}" for m in saes.SAE_MODELS] + ["card"])


def _train_stages(stage, state: _State, out: Path, tok_dir: Path, stream, minutes: dict, log, device: str,
                  batch: int) -> None:
    """The model, token-type, SAE and card stages."""
    for name in models.MODEL_SPECS:
        def _train(name=name):
            res = models.train_model(name, stream, tok_dir, minutes[name], log=log, batch=batch, device=device)
            models.save_model(res["model"], name, tok_dir, out / "models" / name)
            return {"train": res["stats"], "train_tokens_available": len(stream)}
        stage(f"model:{name}", _train)
    stage("token_types", lambda: token_types.build_token_types(tok_dir, out / "token_types.json"))
    for model_name in saes.SAE_MODELS:
        stage(f"sae_train:{model_name}", lambda m=model_name: saes.train_saes(out, m, minutes["sae"], log=log,
                                                                              device=device))
    for model_name in saes.SAE_MODELS:
        stage(f"saes:{model_name}", lambda m=model_name: saes.build_saes(
            out, m, state.data[f"sae_train:{m}"]["train"], log=log))
    stage("card", lambda: card.write_card(out, state.data))


def copy_artifacts(build_dir: Path, artifacts: Path) -> None:
    """Copy the shipped part of a finished build into `artifacts/`, and its card to the package's README.md."""
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copy(build_dir / "README.md", artifacts.parent / "README.md")
    for name in SHIPPED:
        src, dst = build_dir / name, artifacts / name
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
