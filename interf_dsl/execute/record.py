"""Execute stage, output value: `RunRecord`, what a run did (per step: cache hit, timings, counters)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StepRecord(BaseModel):
    """One step of one run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: str
    hash: str
    cache_hit: bool
    """True when the step's result came from the cache (no work done in this run)."""
    forced: bool = False
    """True when `--force` selected the step (or one of its inputs)."""
    seconds: float = 0.0
    """Wall time of the step in this run (lookup, compute and commit)."""
    compute_seconds: float = 0.0
    """Runner wall time when the result was computed (possibly in an earlier run)."""
    counters: dict[str, float] = Field(default_factory=dict)
    """Work done in this run (all zero on a cache hit)."""
    computed_counters: dict[str, float] = Field(default_factory=dict)
    """Work the result cost when it was computed."""
    tables: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    meta: dict[str, Any] = Field(default_factory=dict)
    transient: str | None = None
    """Why this result was not cached (its runner marked it transient, or it was computed from such a result):
    the next run computes it again. None for a result that is (or was) cached."""


class RunRecord(BaseModel):
    """The hand-off from execute to report: which steps ran, what they cost, where the run directory is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str
    run_id: str
    run_dir: str
    status: str
    """`ok` or `failed`."""
    started: str
    finished: str
    seconds: float
    """Wall time of the whole run."""
    engine_seconds: float
    """Wall time not spent inside runners (cache lookups, checksums, commits, run directory, report)."""
    steps: tuple[StepRecord, ...]
    counters: dict[str, float]
    """Work done in this run, summed over steps."""
    api: dict[str, dict[str, float]] = Field(default_factory=dict)
    """API requests, tokens and cost per black-box target, for work done in this run."""
    models_loaded: tuple[str, ...] = ()
    """Ids of load_model / load_sae steps whose weights were loaded in this run."""
    execution: dict[str, Any] = Field(default_factory=dict)
    """How the run ran (outside every hash): the `execute` section, with `device` the device models and SAEs were
    placed on (`execute.device` resolved; None when the run loaded no weights), `device_setting` as written and
    `memory_budget_mb_used` (`execute.memory_budget_mb` resolved on that device; None without weights)."""
    error: str | None = None

    @property
    def cache_hits(self) -> int:
        return sum(s.cache_hit for s in self.steps)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2)

    def __str__(self) -> str:
        return (f"RunRecord({self.experiment}/{self.run_id}, {self.status}, {len(self.steps)} steps, "
                f"{self.cache_hits} cached, {self.seconds:.2f}s)")
