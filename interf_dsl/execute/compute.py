"""Execute stage: compute one step and commit its result, the part every executor shares.

The local engine (`run.py`) calls `compute_step` in its own process; the Ray executor (`ray_executor.py`) calls the
same function inside a Ray worker, against the same cache root. So both run the same runner with the same context
(params, inputs read from their cache entries, `ctx.rng` seeded from plan seed + step id + stream) and commit
through the same atomic `StepCache.commit`: results do not depend on where a step ran.

`compute_shard` runs a runner under a `UnitShard` (Ray fan-out): the runner's unit loop stores its shard's units in
the step's unit store and stops (`ShardDone`); nothing is committed. The step's own task then finds every unit
stored and only aggregates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from interf_dsl.errors import ExecuteError, SpecError
from interf_dsl.execute.context import RunStepContext
from interf_dsl.execute.storage import FULL_ERRNOS, storage_error
from interf_dsl.steps import (
    RUNNER_MODULES,
    STEP_RUNNERS,
    Counters,
    ShardDone,
    StepResult,
    UnitShard,
    get_runner,
)

if TYPE_CHECKING:
    from interf_dsl.execute.cache import CacheEntry, StepCache
    from interf_dsl.execute.progress import RunProgress
    from interf_dsl.execute.resources import Resources
    from interf_dsl.plan.ir import Plan, Step


def _runner(step: Step) -> Callable:
    try:
        return get_runner(step.kind)
    except SpecError:
        raise ExecuteError(f"no runner is registered for step kind {step.kind!r} (step {step.id})",
                           name=step.kind, choices=STEP_RUNNERS.names()) from None
    except ImportError as exc:
        raise ExecuteError(f"the runner of step kind {step.kind!r} (step {step.id}) cannot be imported from "
                           f"{RUNNER_MODULES.get(step.kind)}: {exc}") from exc


def _context(plan: Plan, step: Step, cache: StepCache, resources: Resources, progress: RunProgress,
             results: Callable[[str], StepResult]) -> RunStepContext:
    work_dir = cache.work_dir(step.data_hash or step.hash, plan.seed)
    return RunStepContext(plan=plan, step=step, work_dir=work_dir, resources=resources, results=results,
                          progress=progress)


def _call(runner: Callable, ctx: RunStepContext, step: Step) -> StepResult:
    try:
        return runner(ctx)
    except OSError as exc:
        if exc.errno not in FULL_ERRNOS:
            raise
        raise storage_error(exc, f"files of step {step.id} under", ctx.work_dir,
                            hint="finished units are kept; rerun once there is room") from None


def compute_step(plan: Plan, step: Step, *, cache: StepCache, resources: Resources, progress: RunProgress,
                 results: Callable[[str], StepResult], inputs: Mapping[str, CacheEntry],
                 tainted: list[str], units_seeded: bool = False) -> tuple[CacheEntry, Counters, float]:
    """Run `step`'s runner and commit its result; return (entry, counters of this computation, runner seconds).

    Args:
        inputs: the finished entries of the step's inputs (their `rng_seed` decides whether this result is seeded).
        tainted: inputs whose results are transient: this result is then transient too (never kept).
        units_seeded: fan-out shards drew from `ctx.rng` for units this runner now only loads.

    Raises:
        ExecuteError: no runner for the kind, or it returned something other than a StepResult.
        StorageError: a write failed (disk full): finished units are kept.
    """
    runner = _runner(step)
    ctx = _context(plan, step, cache, resources, progress, results)
    t0 = time.monotonic()
    result = _call(runner, ctx, step)
    seconds = time.monotonic() - t0
    if not isinstance(result, StepResult):
        raise ExecuteError(f"the runner of step {step.id} returned {type(result).__name__}, not a StepResult")
    transient = result.meta.get("transient") or (
        f"computed from transient input(s) {', '.join(tainted)}" if tainted else None)
    # the step hash does not cover the master seed: a result drawn under it (or from inputs that were) is per seed
    seeded = ctx.rng_used or units_seeded or any(inputs[i].record.get("rng_seed") is not None for i in step.inputs)
    entry = cache.commit(step, result, work_dir=ctx.work_dir, counters=ctx.counters, seconds=seconds,
                         rng_seed=plan.seed if seeded else None, transient=str(transient) if transient else None)
    return entry, ctx.counters, seconds


def compute_shard(plan: Plan, step: Step, shard: UnitShard, *, cache: StepCache, resources: Resources,
                  progress: RunProgress, results: Callable[[str], StepResult]) -> tuple[Counters, float, bool, bool]:
    """Store the units of one fan-out shard of `step` (nothing is committed).

    Returns:
        (counters, runner seconds, whether the runner reached a unit loop, whether it drew from `ctx.rng`); a
        runner that returned without a unit loop (nothing to fan out, e.g. no targets) did all its work here, and
        the step's own task repeats it.
    """
    runner = _runner(step)
    ctx = _context(plan, step, cache, resources, progress, results)
    ctx.unit_shard = shard
    t0 = time.monotonic()
    try:
        _call(runner, ctx, step)
        sharded = False
    except ShardDone:
        sharded = True
    return ctx.counters, time.monotonic() - t0, sharded, ctx.rng_used
