"""Plan stage, output values: the `Plan` is a DAG of typed `Step`s compiled from a `ResolvedSpec`.

Every step carries its parameters (JSON values only: every name resolved, every default applied, every sweep
expanded), the ids of the steps it consumes, a content hash over its own parameters and its inputs' hashes, and an
estimate of its work. The run engine (`execute/`) keys its cache on `Step.hash`; nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from interf_dsl.canonical import canonical_json
from interf_dsl.steps import STEP_KIND_SUMMARIES

STEP_KINDS = tuple(STEP_KIND_SUMMARIES)
"""The plan's step kinds (one list: `interf_dsl.steps.STEP_KIND_SUMMARIES`)."""


class WorkEstimate(BaseModel):
    """How much work a step will do, estimated before anything runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forward_passes: int = 0
    """Model forward passes (one per prompt batch row)."""
    gradient_passes: int = 0
    """Backward passes (token-gradient focus)."""
    api_requests: int = 0
    """Requests sent to black-box targets."""
    api_tokens: int = 0
    """Prompt plus completion tokens sent to black-box targets."""
    cost_usd: float | None = None
    """Estimated API cost from litellm's local cost map, when the model is priced there."""
    units: int = 1
    """Checkpoint units (targets, sentence batches, trial batches) the step is split into."""


class Step(BaseModel):
    """One node of the plan DAG."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    """Unique, human-readable id, e.g. `map:gpt2/L1.resid_post`."""
    kind: str
    """One of STEP_KINDS; the run engine looks up the runner registered under this name."""
    params: dict[str, Any] = Field(default_factory=dict)
    """JSON-serialisable parameters, fully resolved."""
    inputs: tuple[str, ...] = ()
    """Ids of the steps whose outputs this step reads."""
    hash: str = ""
    """sha256 over kind, params (less `EXECUTION_ONLY`), input hashes and the interf version (`seal_steps`): the
    key of the step's cache entry."""
    data_hash: str = ""
    """sha256 over the data-defining params only (less `STATISTICS_ONLY` too) and the inputs' data hashes: the key
    of the step's raw unit checkpoints and the seed of its random draws."""
    estimate: WorkEstimate = WorkEstimate()
    """Estimated work."""


class Plan(BaseModel):
    """The compiled experiment: steps in topological order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str
    """Experiment name (the run directory is reports/<experiment>/<run_id>/)."""
    preset: str
    """Preset the spec was resolved with (`paper` or `rigorous`)."""
    seed: int
    """Master seed."""
    spec_sha256: str
    """sha256 of the spec file as written."""
    steps: tuple[Step, ...]
    """Steps, inputs always before consumers."""

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), stable across runs."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2)

    def __str__(self) -> str:
        return f"Plan({self.experiment}, {len(self.steps)} steps, preset={self.preset})"


EXECUTION_ONLY: tuple[str, ...] = (
    "target.concurrency", "target.workers", "target.batch", "target.rpm", "target.tpm", "target.timeout_s",
    "target.max_retries", "target.backoff_s", "target.api_base", "target.api_key_env",
    "explanations.api_base", "explanations.api_key_env", "embedding.api_base", "embedding.api_key_env",
    "atlas.batch_size", "map.memory_budget_mb",
    "atlas.corpus", "explanations.path", "prompts.path", "transfer.sets", "transfer.prompt_sets",
    "token_sets.sets", "token_sets.labels",
)
"""Dotted params paths (in any step kind) that change how a step runs, never what it computes: where to send
requests (the endpoint URL, the key's variable), how fast, how many at once, in what memory, and where a local
file sits (its content fingerprint is in the params instead). They are left out of both hashes, so raising a
target's concurrency, respelling its `api_base` or moving the checkout recomputes nothing."""

STATISTICS_ONLY: tuple[str, ...] = ("stats", "report")
"""Params keys that only summarise raw rows (estimators, intervals, reporting). They are in a step's `hash` (its
tables change) but not in its `data_hash`: raw rows, unit checkpoints and random draws are keyed by `data_hash`,
so a statistics change re-aggregates without a forward pass or an API request."""


def _drop(params: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    out = dict(params)
    for path in paths:
        head, _, tail = path.partition(".")
        if head not in out:
            continue
        if not tail:
            del out[head]
        elif isinstance(out[head], dict):
            out[head] = _drop(out[head], (tail,))
    return out


def hashed_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params that go into a step's `hash` (all but `EXECUTION_ONLY`)."""
    del kind  # the paths are the same in every kind
    return _drop(params, EXECUTION_ONLY)


def data_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params that define a step's raw data, its `data_hash` (neither `EXECUTION_ONLY` nor `STATISTICS_ONLY`)."""
    return _drop(hashed_params(kind, params), STATISTICS_ONLY)


def summarises(step: Step) -> bool:
    """Whether the step has statistics-only params: its raw unit checkpoints outlive its cache entry, so a
    statistics change re-aggregates them instead of recomputing."""
    return data_params(step.kind, step.params) != hashed_params(step.kind, step.params)


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def seal_steps(steps: list[Step], version: str) -> tuple[Step, ...]:
    """Fill each step's `hash` and `data_hash` from its kind, params, version and its inputs' hashes (steps in
    topological order)."""
    by_id: dict[str, Step] = {}
    out: list[Step] = []
    for s in steps:
        missing = [i for i in s.inputs if i not in by_id]
        if missing:
            raise ValueError(f"step {s.id} consumes {missing} before they are defined")
        full = {"kind": s.kind, "params": hashed_params(s.kind, s.params),
                "inputs": [by_id[i].hash for i in s.inputs], "v": version}
        data = {"kind": s.kind, "params": data_params(s.kind, s.params),
                "inputs": [by_id[i].data_hash for i in s.inputs], "v": version}
        sealed = s.model_copy(update={"hash": _digest(full), "data_hash": _digest(data)})
        by_id[s.id] = sealed
        out.append(sealed)
    return tuple(out)
