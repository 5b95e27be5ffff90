"""Helpers for the interventions unit tests: a fake step context over hand-built tables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

VOCAB = ["a", "b", "c", " x", " y", " z", " London", " Paris", " cat", " dog", " is", " in", "The", " the", ".", "**", "(", ")"]
HOOK = "blocks.0.hook_resid_post"


class MemUnits:
    def __init__(self):
        self.data: dict[str, pl.DataFrame] = {}

    def done(self, key):
        return key in self.data

    def save(self, key, table):
        self.data[key] = table

    def load_all(self):
        parts = [t for t in self.data.values() if t.height]
        return pl.concat(parts, how="diagonal_relaxed") if parts else None

    def keys(self):
        return list(self.data)

    def load(self, key):
        return self.data[key]


@dataclass
class FakeCtx:
    params: dict
    tables: dict
    sae_obj: object
    work_dir: Path
    counters: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(forward_passes=0, gradient_passes=0))
    stores: dict = field(default_factory=dict)
    logs: list = field(default_factory=list)
    device: str = "cpu"
    memory_budget_mb: int = 1024

    def __post_init__(self):
        self.step = SimpleNamespace(id="intervene:test", inputs=("select",))

    def input(self, step_id):
        return SimpleNamespace(tables=self.tables)

    def sae(self, source, hook):
        return self.sae_obj

    def units(self, name="units"):
        return self.stores.setdefault(name, MemUnits())

    def progress(self, total, description=""):
        return SimpleNamespace(advance=lambda n=1: None)

    def rng(self, stream=""):
        return np.random.default_rng(abs(hash(stream)) % 2**32)

    def log(self, message):
        self.logs.append(message)


def make_sae(d_sae: int, d: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(cfg=SimpleNamespace(metadata=SimpleNamespace(hook_name=HOOK)),
                           W_dec=torch.randn(d_sae, d, generator=g), W_enc=torch.randn(d, d_sae, generator=g))


def make_tables(n_targets: int = 3, d_sae: int = 12) -> dict:
    feats = []
    for f in range(d_sae):
        feats.append({"source": "s", "hook": HOOK, "feature": f, "frequency": 0.01 * (f + 1), "max_act": 2.0,
                      "active": True, "top_tokens": [VOCAB[6 + f % 4], VOCAB[3 + f % 3]],
                      "top_token_ids": [6 + f % 4, 3 + f % 3], "top_token_acts": [2.0, 1.7],
                      "neuron_idx": [f % 8, (f + 1) % 8, (f + 2) % 8], "neuron_val": [0.5, 0.3, 0.1]})
    targets = [{"source": "s", "hook": HOOK, "tau": 0.3, "target": t} for t in range(n_targets)]
    partners = []
    for t in range(n_targets):
        for b, label in enumerate(["[0,.1)", "[.4,1]"]):
            partners.append({"source": "s", "hook": HOOK, "tau": 0.3, "target": t, "bin": label,
                             "partner": 5 + t + b, "I": 0.05 + 0.5 * b + 0.01 * t, "S": 0.1 + 0.05 * t + 0.02 * b, "rank": 0})
    sentences = []
    for i, tok in enumerate([" London", " Paris", " cat", " dog"] * 3):
        sentences.append({"sentence_id": i, "kind": "vocab", "token_str": tok, "type": None,
                          "text": "The cat is in the" if i % 2 else "The dog is in", "split": "eval" if i < 4 else
                          ("select" if i % 2 else "eval"), "name": tok})
    contexts = [{"source": "s", "hook": HOOK, "feature": f, "rank": r, "token_ids": [12, 8, 10, 11],
                 "tokens": ["The", " cat", " is", " in"], "acts": [0.1, 2.0, 1.9, 0.0], "max_pos": 1, "max_act": 2.0}
                for f in range(d_sae) for r in range(2)]
    return {"features": pl.DataFrame(feats), "targets": pl.DataFrame(targets), "partners": pl.DataFrame(partners),
            "sentences": pl.DataFrame(sentences), "contexts": pl.DataFrame(contexts)}
