"""A minimal StepContext for driving registered step runners directly in tests (no engine, no cache).

Models and SAEs come from `objects` ({"model": ..., "sae": ...}) or, when given, from `model_for(source)` /
`sae_for(source, hook_name)`; inputs are {step id: (kind, StepResult)}; log lines are kept in `logs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interf_dsl.steps import Counters


class _Progress:
    def advance(self, n: int = 1) -> None:
        pass


@dataclass
class StubContext:
    params: dict
    work_dir: Path
    inputs: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    step: Any = None
    model_for: Callable[[str], Any] | None = None
    sae_for: Callable[[str, str], Any] | None = None
    logs: list[str] = field(default_factory=list)
    device: str = "cpu"
    memory_budget_mb: int = 1024

    def input(self, step_id: str) -> Any:
        return self.inputs[step_id][1]

    def inputs_of_kind(self, kind: str):
        return iter([(k, r) for k, (kd, r) in self.inputs.items() if kd == kind])

    def model(self, source: str) -> Any:
        return self.model_for(source) if self.model_for else self.objects["model"]

    def sae(self, source: str, hook_name: str) -> Any:
        return self.sae_for(source, hook_name) if self.sae_for else self.objects["sae"]

    def units(self, name: str = "units"):
        from interf_dsl.execute.units import DirUnitStore

        return DirUnitStore(self.work_dir / "units", name)

    def progress(self, total: int, description: str = "") -> _Progress:
        return _Progress()

    def rng(self, stream: str = "") -> np.random.Generator:
        return np.random.default_rng(0)

    def log(self, message: str) -> None:
        self.logs.append(message)
