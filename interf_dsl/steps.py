"""Core, the step API: the contract between the run engine and step runners (below every kind and stage).

A step runner is a function `run(ctx: StepContext) -> StepResult`, registered for one plan step kind with
`@step_runner("map")`. Runners live with their kind (`atlas/`, `interference/`, `interventions/`, `transfer/`) in a
module named in `RUNNER_MODULES`; the engine imports those modules lazily, so registering costs nothing at
`interf --help` time. The engine owns caching, resume, progress and provenance; a runner only computes.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from interf_dsl.registry import Registry

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from interf_dsl.plan.ir import Step

STEP_KIND_SUMMARIES: dict[str, str] = {
    "load_model": "load a source model (resource)",
    "load_sae": "load one SAE at one hook (resource)",
    "atlas": "feature statistics: top contexts, top tokens, neuron alignments, logit lens",
    "explain": "feature explanations (auto, neuronpedia export, or an LLM)",
    "embed": "embed explanations for semantic similarity S",
    "map": "interference pairs, bins, clusters and neuron links of one SAE",
    "select": "targets, partners and token sets across sources",
    "prompts": "test sentences (mined, from a file, or written by an LLM)",
    "intervene": "one focus block on one source: interventions, effects, regressions",
    "transfer": "token-type injection into one black-box target",
    "report": "report.md, report.html and figures",
}
"""Every plan step kind, in plan order, with its one-line summary (`interf list step`); the only list of them."""

# kind -> module that registers its runner (imported on first use by `get_runner`).
RUNNER_MODULES: dict[str, str] = {
    "load_model": "interf_dsl.execute.resources",
    "load_sae": "interf_dsl.execute.resources",
    "atlas": "interf_dsl.atlas.runner",
    "explain": "interf_dsl.atlas.runner",
    "embed": "interf_dsl.atlas.runner",
    "map": "interf_dsl.interference.runner",
    "select": "interf_dsl.interference.runner",
    "prompts": "interf_dsl.interventions.runner",
    "intervene": "interf_dsl.foci.runner",
    "transfer": "interf_dsl.transfer.runner",
    "report": "interf_dsl.report.runner",
}

STEP_RUNNERS: Registry[Callable[[StepContext], StepResult]] = Registry("step runner")


def step_runner(kind: str, **kw: Any) -> Callable:
    """Register the runner of one plan step kind."""
    return STEP_RUNNERS.register(kind, **kw)


def get_runner(kind: str) -> Callable[[StepContext], StepResult]:
    """The runner for `kind`, importing its module on first use."""
    if kind not in STEP_RUNNERS and kind in RUNNER_MODULES:
        importlib.import_module(RUNNER_MODULES[kind])
    return STEP_RUNNERS.get(kind)


def stream_seed(plan_seed: int, step_id: str, stream: str) -> int:
    """A 64-bit seed from the plan seed, the step's id (what the step is: `intervene:feature:pythia`, named from the
    spec) and a stream naming what the draw is for (hook, target feature, type, trial, ...).

    Settings never enter the seed: changing statistics, reporting, execution or an endpoint URL cannot touch a draw,
    and neither can adding a metric, a scale or a new spec field. A draw whose size a setting shapes (more random
    controls, more trials) takes more values from the same stream, so the draws that both runs share match.
    """
    digest = hashlib.sha256(f"{plan_seed}:{step_id}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass
class StepResult:
    """What a step produces: named polars tables, small JSON metadata, named files (relative to the step's dir)."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class Counters:
    """Work actually done in this process; the rerun tests count these."""

    forward_passes: int = 0
    gradient_passes: int = 0
    api_requests: int = 0
    api_tokens: int = 0
    api_cost_usd: float = 0.0


def count_request(counters: Counters | None, resp: Any) -> None:
    """One API request and the tokens its response reports (`usage.total_tokens`, 0 when absent) into `counters`."""
    if counters is None:
        return
    counters.api_requests += 1
    usage = getattr(resp, "usage", None)
    counters.api_tokens += int(getattr(usage, "total_tokens", 0) or 0) if usage is not None else 0


@dataclass(frozen=True)
class UnitShard:
    """One of `count` fan-out tasks of a step's units (set as `ctx.unit_shard` by the Ray executor): unit keys are
    dealt round-robin, so shard `index` computes `keys[index::count]`."""

    index: int
    count: int

    def mine(self, keys: list[str]) -> list[str]:
        """This shard's keys, in their order."""
        return keys[self.index::self.count]


class ShardDone(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a unit loop once its shard's units are stored: a fan-out task computes units only, and the step's
    own task (no shard) then aggregates every stored unit."""


def unit_shard(ctx: Any) -> UnitShard | None:
    """The fan-out shard a runner's context computes, or None (the whole step: local runs and the step's own task)."""
    return getattr(ctx, "unit_shard", None)


class UnitStore(Protocol):
    """Per-unit checkpoints inside one step: a killed step resumes at the first unit not yet stored."""

    def done(self, key: str) -> bool: ...
    def save(self, key: str, table: pl.DataFrame) -> None: ...
    def load_all(self) -> pl.DataFrame | None: ...
    def keys(self) -> list[str]: ...
    def load(self, key: str) -> pl.DataFrame: ...


class Progress(Protocol):
    """A progress handle for one step (rich bar on a terminal, lines otherwise)."""

    def advance(self, n: int = 1) -> None: ...


class StepContext(Protocol):
    """What the engine hands a runner."""

    step: Step
    params: dict[str, Any]
    counters: Counters
    work_dir: Path
    device: str
    """Where models sit and the sweep and map run (`execute.device` resolved): cpu or cuda."""
    memory_budget_mb: float
    """`execute.memory_budget_mb` resolved on the run's device: the bound on one batched sweep's working set."""

    def input(self, step_id: str) -> StepResult: ...
    def inputs_of_kind(self, kind: str) -> Iterator[tuple[str, StepResult]]: ...
    def model(self, source: str) -> Any: ...
    def sae(self, source: str, hook_name: str) -> Any: ...
    def units(self, name: str = "units") -> UnitStore: ...
    def progress(self, total: int, description: str = "") -> Progress: ...
    def rng(self, stream: str = "") -> np.random.Generator: ...
    def log(self, message: str) -> None: ...
