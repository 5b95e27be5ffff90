"""Execute stage: `RunStepContext`, the engine's implementation of the `StepContext` a runner receives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import ExecuteError
from interf_dsl.execute.units import DirUnitStore
from interf_dsl.lang.params import STEP_PARAMS, params_of
from interf_dsl.steps import Counters, StepResult, UnitShard, stream_seed

if TYPE_CHECKING:
    import numpy as np

    from interf_dsl.execute.progress import RunProgress
    from interf_dsl.execute.resources import Resources
    from interf_dsl.plan.ir import Plan, Step


class RunStepContext:
    """Everything one runner may touch: its params, its inputs' results, lazy resources, checkpoints, rng."""

    def __init__(self, *, plan: Plan, step: Step, work_dir: Path, resources: Resources,
                 results: Callable[[str], StepResult], progress: RunProgress) -> None:
        self.plan = plan
        self.step = step
        # Typed: the step kind's params model (lang/params.py); a kind without one (tests' toy kinds) keeps its JSON.
        self.params: Any = params_of(step.kind, step.params) if step.kind in STEP_PARAMS else step.params
        self.counters = Counters()
        self.work_dir = work_dir
        self._resources = resources
        self._results = results
        self._progress = progress
        self.rng_used = False
        """Set when the runner drew a generator: its result then depends on the plan seed (see run.py)."""
        self.unit_shard: UnitShard | None = None
        """The fan-out shard of this step's units this context computes (Ray executor), or None: the whole step."""

    @property
    def device(self) -> str:
        """The device this run places models on and runs the sweep and map on (`execute.device`, resolved)."""
        return self._resources.device

    @property
    def memory_budget_mb(self) -> float:
        """`execute.memory_budget_mb` resolved on the run's device: the bound on one batched sweep's working set."""
        return self._resources.memory_budget_mb

    def input(self, step_id: str) -> StepResult:
        """The result of one of this step's declared inputs."""
        if step_id not in self.step.inputs:
            raise ExecuteError(f"step {self.step.id} read {step_id!r}, which is not one of its inputs",
                               name=step_id, choices=self.step.inputs)
        return self._results(step_id)

    def inputs_of_kind(self, kind: str) -> Iterator[tuple[str, StepResult]]:
        """(id, result) of every declared input of `kind`, in plan order."""
        for step_id in self.step.inputs:
            if self.plan.step(step_id).kind == kind:
                yield step_id, self._results(step_id)

    def model(self, source: str) -> Any:
        """The (lazily loaded) model of `source`."""
        return self._resources.model(source)

    def sae(self, source: str, hook_name: str) -> Any:
        """The (lazily loaded) SAE at `hook_name` of `source`."""
        return self._resources.sae(source, hook_name)

    def units(self, name: str = "units") -> DirUnitStore:
        """The per-unit checkpoint store `name` of this step."""
        return DirUnitStore(self.work_dir / "units", name)

    def progress(self, total: int, description: str = "") -> Any:
        """A progress handle for `total` units of work."""
        return self._progress.task(total, description or self.step.id)

    def rng(self, stream: str = "") -> np.random.Generator:
        """A numpy Generator seeded from the plan seed, this step's id and `stream` (see `stream_seed`)."""
        import numpy as np

        self.rng_used = True
        return np.random.default_rng(stream_seed(self.plan.seed, self.step.id, stream))

    def log(self, message: str) -> None:
        """A log line, prefixed with the step id."""
        self._progress.log(f"  [{self.step.id}] {message}")
