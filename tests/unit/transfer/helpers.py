"""Transfer tests: a minimal StepContext over the engine's DirUnitStore, and hand-built inputs for the tiny model.

`make_ctx(work_dir, target, ...)` gives a context whose `select` input holds union token sets built from the tiny
vocabulary (target = the labelled type strings, high/medium/random = disjoint slices of the other single-token
words), whose `prompts` input holds a few type sentences, and (optionally) a source `effects` table.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from interf_dsl.execute.units import DirUnitStore  # noqa: E402
from interf_dsl.foci.prompt import PromptFocus  # noqa: E402
from interf_dsl.steps import Counters, StepResult  # noqa: E402

SENTENCES = {
    "location": ["we went to", "she lives near the", "they drove to the city of", "the road leads to"],
    "animal": ["we saw a", "the farmer fed the", "near the river sat a", "he found the"],
}


class _Progress:
    def __init__(self) -> None:
        self.n = 0

    def advance(self, n: int = 1) -> None:
        self.n += n


@dataclass
class Ctx:
    """A minimal StepContext: params, inputs by kind, DirUnitStore checkpoints, seeded streams."""

    params: dict[str, Any]
    work_dir: Path
    inputs: dict[str, tuple[str, StepResult]] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    logs: list[str] = field(default_factory=list)
    seed: int = 0

    def input(self, step_id: str) -> StepResult:
        return self.inputs[step_id][1]

    def inputs_of_kind(self, kind: str):
        for step_id, (k, res) in self.inputs.items():
            if k == kind:
                yield step_id, res

    def units(self, name: str = "units") -> DirUnitStore:
        return DirUnitStore(self.work_dir / "units", name)

    def progress(self, total: int, description: str = "") -> _Progress:
        return _Progress()

    def rng(self, stream: str = "") -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}:{stream}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def log(self, message: str) -> None:
        self.logs.append(message)


def tiny_token_sets() -> pl.DataFrame:
    """Union token sets over the tiny vocabulary for location and animal."""
    from transfer_server import TINY_TYPES, tiny_model, tiny_type_strings

    tok = tiny_model().tokenizer
    labelled = tiny_type_strings()
    taken = {s for v in TINY_TYPES.values() for s in v}
    words = sorted({tok.decode([i]) for i in range(len(tok))} - taken)
    words = [w for w in words if w.strip() and "\ufffd" not in w]
    rows = []
    for typ in ("location", "animal"):
        levels = {"target": labelled[typ], "high": words[0:40], "medium": words[40:80], "random": words[80:160]}
        for level, strs in levels.items():
            rows += [{"source": "union", "type": typ, "level": level, "token_id": i, "token_str": s}
                     for i, s in enumerate(strs)]
    return pl.DataFrame(rows)


def tiny_sentences() -> pl.DataFrame:
    rows = []
    for typ, texts in SENTENCES.items():
        for t in texts:
            rows.append({"sentence_id": len(rows), "kind": "type", "token_str": None, "type": typ, "text": t,
                         "split": "eval", "name": typ})
    return pl.DataFrame(rows)


def source_effects() -> pl.DataFrame:
    """A source's prompt-focus effects (paper rate rows and rigorous diff rows) for location and animal."""
    rows = []
    for typ in ("location", "animal"):
        for level, rate in (("target", 0.6), ("high", 0.3), ("medium", 0.28), ("random", 0.25)):
            rows.append({"source": "gpt2", "focus": "prompt", "type": typ, "level": level, "metric": "success_rate",
                         "mode": "paper", "estimator": "rate_welch_vs_random", "estimate": rate, "ci_lo": rate - .05,
                         "ci_hi": rate + .05, "n": 100, "stars": "*" if level != "random" else ""})
            if level != "random":
                d = rate - 0.25
                rows.append({"source": "gpt2", "focus": "prompt", "type": typ, "level": level,
                             "metric": "success_rate", "mode": "rigorous", "estimator": "diff_vs_random",
                             "estimate": d, "ci_lo": d - .04, "ci_hi": d + .04, "n": 200, "stars": None})
    return pl.DataFrame(rows)


def make_ctx(work_dir: Path, target: dict[str, Any], *, trials: int = 3, sentences: int = 4,
             stats: dict | None = None, with_effects: bool = True) -> Ctx:
    params = {"target": target,
              "transfer": {"types": ["location", "animal"], "sentences": sentences, "trials": trials,
                           "tokens_per_trial": 5},
              "metrics": {}, "stats": stats or {"mode": "both", "bootstrap": 200, "ci": 0.95}}
    inputs = {"select": ("select", StepResult(tables={"token_sets": tiny_token_sets()})),
              "prompts": ("prompts", StepResult(tables={"sentences": tiny_sentences()}))}
    if with_effects:
        inputs["intervene:prompt:gpt2"] = ("intervene", StepResult(tables={"effects": source_effects()}))
    return Ctx(params=params, work_dir=Path(work_dir), inputs=inputs)


def source_interventions(top_k: int, *, trials: int = 4, source: str = "tiny-src") -> pl.DataFrame:
    """A source's type-injection `interventions` rows on the tiny model at `top_k` (as `foci_neuron.type_units`).

    The source scores a broad id set (every 3rd vocabulary word plus the labelled strings) so its top-k holds
    several type tokens and the count depends on k.
    """
    from transfer_server import tiny_model

    from interf_dsl.backends.hooked import HookedBackend
    from interf_dsl.interventions.prompt_types import RANK_COLUMNS, type_injection_rows

    model = tiny_model()
    backend = HookedBackend(model, name=source)
    ts = tiny_token_sets()
    sents = tiny_sentences()
    broad = sorted({i for i in range(len(model.tokenizer)) if i % 3 == 0})
    parts = []
    for n, typ in enumerate(("location", "animal")):
        sets = {lv: ts.filter((pl.col("type") == typ) & (pl.col("level") == lv))["token_str"].to_list()
                for lv in ("target", "high", "medium", "random")}
        ids = broad + [model.tokenizer.encode(s, add_special_tokens=False)[0] for s in sets["target"]]
        rows = type_injection_rows(backend, sets, ids, sents.filter(pl.col("type") == typ).to_dicts(),
                                   PromptFocus(focus="prompt", tokens_per_trial=5, top_k=top_k, trials=trials),
                                   np.random.default_rng(n))
        parts.append(pl.DataFrame([dict(r, source=source, focus="prompt", type=typ, level=r["condition"],
                                        token_sets="union") for r in rows])
                     .with_columns([pl.col(c).cast(pl.List(pl.Int32)) for c in RANK_COLUMNS]))
    return pl.concat(parts)
