"""The tiny zoo's catalog: what the shipped artifacts hold, read from `artifacts/zoo.json` (light: no torch).

Input: the files under `interf_dsl/zoo/artifacts/` (written by `interf zoo build`). Output: plain dicts and paths
for `resolve/` (names, hooks, shapes), the atlas (held-out text) and token-type analyses. Unknown names raise
`ResolveError` with the valid choices. Everything is loaded once per process.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

from interf_dsl.errors import ResolveError

ZOO_MODELS: tuple[str, ...] = ("gpt2-tiny", "pythia-tiny", "target-tiny")
HELDOUT_SPLITS = ("atlas", "prompts")
TOKEN_TYPES: dict[str, str] = {
    "person": "people and names", "location": "places", "time": "times and dates", "number": "numbers",
    "animal": "animals", "food": "food", "color": "colours", "emotion": "emotions", "body": "body parts",
    "transport": "transport", "science": "science", "abstract": "abstract notions", "object": "objects",
    "action": "actions", "unknown": "everything else",
}
"""The 15 token types of docs/method.md §4.2 (the labeller's output and the names specs may use), with summaries."""


def artifacts_dir() -> Path:
    """The folder of the committed zoo build (models/, saes/, tokenizer/, zoo.json, ...)."""
    return Path(__file__).parent / "artifacts"


@functools.cache
def zoo_card() -> dict:
    """The parsed `artifacts/zoo.json`: models, SAEs, corpus sources, token-type counts, build timings.

    Raises:
        ResolveError: the artifacts are missing (a checkout without the built zoo).
    """
    path = artifacts_dir() / "zoo.json"
    if not path.exists():
        raise ResolveError(f"the tiny zoo is not built: {path} is missing",
                           hint="run `interf zoo build --out zoo-build` and copy it into interf_dsl/zoo/artifacts")
    return json.loads(path.read_text(encoding="utf-8"))


def model_info(name: str) -> dict:
    """The card entry of one zoo model (family, n_layers, d_model, d_mlp, n_heads, d_vocab, n_ctx, losses)."""
    models = zoo_card()["models"]
    if name not in models:
        raise ResolveError(f"unknown zoo model '{name}'", name=name, choices=list(models))
    return models[name]


def sae_info(ref: str) -> dict:
    """The card entry of one zoo SAE, by reference `gpt2-tiny/L1.resid_post` (with or without `zoo:`)."""
    ref = ref.removeprefix("zoo:")
    saes = zoo_card()["saes"]
    if ref not in saes:
        raise ResolveError(f"unknown zoo SAE '{ref}'", name=ref, choices=list(saes))
    return saes[ref]


def list_saes(model: str | None = None) -> list[str]:
    """Zoo SAE references (without `zoo:`), optionally only those of one model."""
    saes = zoo_card()["saes"]
    if model is not None:
        model_info(model)
        return [k for k, v in saes.items() if v["model"] == model]
    return list(saes)


def heldout_text_path() -> Path:
    """The compressed held-out sample shipped with the zoo (JSON lines: source, split, text)."""
    return artifacts_dir() / "heldout.jsonl.gz"


def read_sample(path: Path, split: str) -> list[str]:
    """Documents of one split of a held-out sample file (the shipped one or a build folder's)."""
    if split not in HELDOUT_SPLITS:
        raise ResolveError(f"unknown held-out split '{split}'", name=split, choices=HELDOUT_SPLITS)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [r["text"] for r in rows if r["split"] == split]


@functools.cache
def _heldout(split: str) -> tuple[str, ...]:
    return tuple(read_sample(heldout_text_path(), split))


def read_heldout(split: str) -> list[str]:
    """Held-out documents: `atlas` (feature statistics) or `prompts` (prompt mining); the two are disjoint."""
    return list(_heldout(split))


def token_types_path() -> Path:
    """The token-type table of the zoo vocabulary (JSON list of {token_id, token_str, type})."""
    return artifacts_dir() / "token_types.json"


@functools.cache
def _token_types() -> dict[int, str]:
    rows = json.loads(token_types_path().read_text(encoding="utf-8"))
    return {int(r["token_id"]): r["type"] for r in rows}


def read_token_types() -> dict[int, str]:
    """token id -> one of the 15 token types of docs/method.md §4.2, for every zoo vocabulary entry."""
    return dict(_token_types())
