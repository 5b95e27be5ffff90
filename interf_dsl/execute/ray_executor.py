"""Execute stage, `execute.executor: ray`: the plan's steps as Ray tasks, in dependency order, on one shared cache.

The driver (the `interf run` process) walks the DAG: a step is started once every input has an entry. Starting a
step is what the local engine does, on the driver: take the step's cache lock (held until its entry is committed,
so another run sharing the cache waits for it), forget it if `--force` chose it, reuse its verified entry if there
is one. Only a step that must compute becomes a Ray task (`load_model` / `load_sae` record a reference and run
inline). The task calls `compute.compute_step` in the worker against the same cache root: the same runner, the
same seeds, the same atomic commit, so the tables equal a local run's. It returns the entry's path relative to the
cache root; the driver opens it there.

Fan-out: an `intervene` step whose plan estimate has several units first runs as `min(max_width, units)` shard
tasks; each computes its round-robin share of the unit loop into the step's unit store (`ctx.unit_shard`,
`ShardDone`), then the step's own task finds every unit stored and aggregates. Units concatenate in key order, so
the result does not depend on which shard stored what. Other kinds (atlas, map, explain, embed per hook; one
transfer task per target, so its rpm/tpm limiter stays one per target) are one task each.

Failures: a task whose worker died (killed, out of memory, node lost) is submitted again up to `max_retries`
times; the units it had stored are kept, so it resumes. An exception raised by a runner fails the run as locally
(retrying a deterministic error gives the same error). Progress: the driver logs each step's start and end and
keeps a bar of finished steps; workers' own progress lines reach the driver's stderr through Ray's log forwarding.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import ExecuteError
from interf_dsl.execute.cache import StepCache
from interf_dsl.execute.compute import compute_shard, compute_step
from interf_dsl.execute.progress import RunProgress
from interf_dsl.execute.resources import Resources
from interf_dsl.lang.params import params_of
from interf_dsl.lang.sections import Execute
from interf_dsl.steps import Counters, UnitShard

if TYPE_CHECKING:
    from filelock import FileLock

    from interf_dsl.execute.run import RunState
    from interf_dsl.plan.ir import Plan, Step

INSTALL_HINT = 'pip install -e ".[ray]"  (or pip install "ray==2.*")'
DRIVER_KINDS = ("load_model", "load_sae")
"""Kinds whose runners only record a reference: run inline on the driver, never worth a task."""
FAN_OUT_KINDS = ("intervene",)
"""Kinds whose runners loop over units through `run_units` (so `ctx.unit_shard` splits them)."""


def require_ray() -> Any:
    """The `ray` module, or an `ExecuteError` saying how to install it (before anything runs)."""
    try:
        import ray  # lazy: an optional extra
    except ImportError as exc:
        raise ExecuteError(f"the ray executor needs the ray package, which cannot be imported ({exc})",
                           hint=INSTALL_HINT) from None
    return ray


def task_resources(step: Step) -> dict[str, Any]:
    """What one task of `step` asks the Ray scheduler for.

    One CPU per task (the runners set torch to one thread for small models; a bigger model's intra-op threads
    share that CPU); a transfer target's `workers` client processes get a CPU each; a map step's memory budget
    (`map.memory_budget_mb`, the plan's only memory figure) is requested as memory. No step asks for a GPU: models
    load on the CPU (`backends.loading`, device "cpu"), so there is no cuda step to place.
    """
    res: dict[str, Any] = {"num_cpus": 1}
    if step.kind == "transfer":
        res["num_cpus"] = params_of("transfer", step.params).target.workers
    elif step.kind == "map":
        res["memory"] = int(params_of("map", step.params).map.memory_budget_mb) * 2**20
    return res


def fan_out_width(step: Step, max_width: int) -> int:
    """How many shard tasks `step`'s units fan out to (1 = none): at most `max_width` and the plan's unit estimate."""
    if step.kind not in FAN_OUT_KINDS or max_width < 2:
        return 1
    return max(1, min(max_width, step.estimate.units))


# ---- worker side ---------------------------------------------------------------------------------------------


_WORKER: dict[str, Any] = {}
"""Per worker process: the last plan's `Resources` (models and SAEs stay loaded across that plan's tasks) and the
open cache."""


def _worker_resources(plan: Plan, loaders: tuple[Any, Any], device: str = "auto",
                      memory_budget_mb: int | str = Execute.model_fields["memory_budget_mb"].default) -> Any:
    key = "|".join(s.hash for s in plan.steps if s.kind in DRIVER_KINDS) + f"|{loaders!r}|{device}|{memory_budget_mb}"
    if _WORKER.get("key") != key:  # another plan (or loaders): drop the old models, load this plan's on use
        _WORKER.update(key=key, resources=Resources(plan, model_loader=loaders[0], sae_loader=loaders[1],
                                                    device=device, memory_budget_mb=memory_budget_mb))
    return _WORKER["resources"]


def run_task(plan: Plan, step_id: str, cache_root: str, inputs: dict[str, str], tainted: list[str],
             shard: tuple[int, int] | None, units_seeded: bool, loaders: tuple[Any, Any], device: str = "auto",
             memory_budget_mb: int | str = Execute.model_fields["memory_budget_mb"].default) -> dict[str, Any]:
    """One Ray task: compute a step (or one fan-out shard of its units) in this worker, against the shared cache.

    Args:
        inputs: each input step's entry path relative to the cache root.
        shard: (index, count) of a fan-out shard; None = the step itself (commits its entry).
        device, memory_budget_mb: `execute.device` (resolved in the worker, which places the models) and
            `execute.memory_budget_mb` (MB or `auto`, resolved in the worker).

    Returns:
        `entry` (relative path; absent for a shard), `counters`, `seconds` (runner), `start`/`end` (wall clock),
        `rng` (a shard drew from ctx.rng), `sharded`, `pid`.
    """
    start = time.time()
    if _WORKER.get("cache_root") != cache_root:  # opened (and its tmp/ swept) once per worker process
        _WORKER.update(cache_root=cache_root, cache=StepCache(cache_root))
    cache = _WORKER["cache"]
    step = plan.step(step_id)
    entries = {i: cache.open_entry(plan.step(i).hash, rel) for i, rel in inputs.items()}
    read: dict[str, Any] = {}

    def results(sid: str) -> Any:
        if sid not in read:
            read[sid] = entries[sid].result()
        return read[sid]

    resources = _worker_resources(plan, loaders, device, memory_budget_mb)
    out: dict[str, Any] = {"pid": os.getpid()}
    with RunProgress(quiet=True, out=sys.stderr) as progress:
        if shard is not None:
            counters, seconds, sharded, rng = compute_shard(plan, step, UnitShard(*shard), cache=cache,
                                                            resources=resources, progress=progress, results=results)
            out.update(sharded=sharded, rng=rng)
        else:
            entry, counters, seconds = compute_step(plan, step, cache=cache, resources=resources, progress=progress,
                                                    results=results, inputs=entries, tainted=tainted,
                                                    units_seeded=units_seeded)
            out["entry"] = str(entry.path.relative_to(cache.root))
    return {**out, "counters": dict(counters.__dict__), "seconds": seconds, "start": start, "end": time.time()}


# ---- driver side ---------------------------------------------------------------------------------------------


@dataclass
class _Active:
    """A step the driver holds the lock of while its tasks run."""

    index: int
    step: Step
    lock: FileLock
    t0: float
    shards_left: int = 0
    attempts: dict[Any, int] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    units_seeded: bool = False


class RayDriver:
    """Walks the plan's DAG, submitting tasks as inputs finish; retries tasks whose worker died."""

    def __init__(self, run: RunState, execution: Execute, loaders: tuple[Any, Any]) -> None:
        import ray  # lazy: an optional extra

        self.ray, self.run, self.execution = ray, run, execution
        self.plan = run.plan
        self.order = {s.id: i for i, s in enumerate(self.plan.steps, start=1)}
        self.waiting = [s for s in self.plan.steps]
        self.tasks: dict[Any, tuple[_Active, tuple[int, int] | None]] = {}
        self.active: dict[str, _Active] = {}
        self.intervals: list[tuple[float, float]] = []
        self.timings: list[dict[str, Any]] = []
        """Per finished task: step, shard, runner seconds, task seconds (in the worker, runner included)."""
        self.retries = 0
        self._remote = ray.remote(run_task)
        self._plan_ref = ray.put(self.plan)
        self._loaders_ref = ray.put(loaders)
        self._bar = run.progress.task(len(self.plan.steps), "steps (ray)")
        self._waiting_logged: set[str] = set()

    def _log(self, index: int, step: Step, what: str) -> None:
        self.run.progress.log(f"[{index}/{len(self.plan.steps)}] {step.id}: {what}")

    def drive(self) -> None:
        try:
            while self.waiting or self.active:
                self._start_ready()
                if not self.tasks:
                    if self.active or self.waiting:
                        time.sleep(0.2)  # steps wait on another run's cache lock
                    continue
                done, _ = self.ray.wait(list(self.tasks), num_returns=1, timeout=1.0)
                for ref in done:
                    self._collect(ref)
        except BaseException:
            self._abort()
            raise
        self.run.records.sort(key=lambda r: self.order[r.id])

    def _start_ready(self) -> None:
        finished = self.run.entries
        for step in list(self.waiting):
            if all(i in finished for i in step.inputs):
                self._start(step)

    def _start(self, step: Step) -> None:
        index = self.order[step.id]
        lock = self.run.lock(step)
        try:
            lock.acquire(timeout=0)
        except TimeoutError:
            if step.id not in self._waiting_logged:
                self._waiting_logged.add(step.id)
                self.run.progress.log(f"  waiting for another run computing {step.id} (cache lock)")
            return
        self.waiting.remove(step)
        act = _Active(index, step, lock, time.monotonic())
        try:
            entry = self.run.reuse(index, step)
            if entry is None and step.kind in DRIVER_KINDS:
                entry, counters = self.run.compute(index, step, self.run.tainted(step))
                self._finish(act, entry, counters, hit=False)
                return
        except BaseException:
            lock.release()
            raise
        if entry is not None:
            self._finish(act, entry, Counters(), hit=True)
            return
        self.active[step.id] = act
        width = fan_out_width(step, self.execution.max_width)
        if width > 1:
            self._log(index, step, f"computing on ray, units fanned out to {width} tasks")
            act.shards_left = width
            for k in range(width):
                self._submit(act, (k, width))
        else:
            self._log(index, step, "computing on ray")
            self._submit(act, None)

    def _submit(self, act: _Active, shard: tuple[int, int] | None, attempt: int = 0) -> None:
        step = act.step
        inputs = {i: str(self.run.entries[i].path.relative_to(self.run.cache.root)) for i in step.inputs}
        name = step.id if shard is None else f"{step.id}#{shard[0] + 1}/{shard[1]}"
        ref = self._remote.options(name=name, max_retries=0, retry_exceptions=False, **task_resources(step)).remote(
            self._plan_ref, step.id, str(self.run.cache.root), inputs, self.run.tainted(step), shard,
            act.units_seeded, self._loaders_ref, self.execution.device, self.execution.memory_budget_mb)
        act.attempts[ref] = attempt
        self.tasks[ref] = (act, shard)

    def _collect(self, ref: Any) -> None:
        act, shard = self.tasks.pop(ref)
        attempt = act.attempts.pop(ref)
        try:
            out = self.ray.get(ref)
        except self._system_errors() as exc:
            if attempt >= self.execution.max_retries:
                raise ExecuteError(f"step {act.step.id}: its Ray worker died {attempt + 1} times "
                                   f"({type(exc).__name__})", hint="finished units are kept: rerun to resume, or "
                                   "raise execute.max_retries") from None
            self.retries += 1
            self.run.progress.log(f"  {act.step.id}: worker died ({type(exc).__name__}); submitting again "
                                  f"(retry {attempt + 1}/{self.execution.max_retries}, stored units are kept)")
            self._submit(act, shard, attempt + 1)
            return
        except self.ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)  # the runner's own exception, as the local engine would raise it
            raise (cause if isinstance(cause, BaseException) else exc) from None
        self.intervals.append((out["start"], out["end"]))
        self.timings.append({"step": act.step.id, "shard": shard, "seconds": out["seconds"],
                             "task_seconds": out["end"] - out["start"]})
        for k, v in out["counters"].items():
            setattr(act.counters, k, getattr(act.counters, k) + v)
        if shard is not None:
            act.units_seeded |= bool(out["rng"])
            act.shards_left -= 1
            if act.shards_left == 0:
                self._submit(act, None)
            return
        entry = self.run.cache.open_entry(act.step.hash, out["entry"])
        note = f" (not cached: {entry.transient})" if entry.transient else ""
        self._log(act.index, act.step, f"done in {out['seconds']:.2f}s on pid {out['pid']}{note}")
        del self.active[act.step.id]
        self._finish(act, entry, act.counters, hit=False)

    def _finish(self, act: _Active, entry: Any, counters: Counters, *, hit: bool) -> None:
        act.lock.release()
        self.run.finish(act.step, entry, counters, hit=hit, seconds=time.monotonic() - act.t0)
        self._bar.advance()

    def _system_errors(self) -> tuple[type[BaseException], ...]:
        exc = self.ray.exceptions
        return tuple(getattr(exc, n) for n in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError",
                                               "LocalRayletDiedError", "TaskUnschedulableError")
                     if hasattr(exc, n))

    def _abort(self) -> None:
        """Cancel tasks in flight and release every held lock (their stored units stay for a rerun)."""
        for ref in list(self.tasks):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort: the task may have just finished
                pass
        self.tasks.clear()
        for act in self.active.values():
            act.lock.release()
        self.active.clear()

    def busy_seconds(self) -> float:
        """Wall time during which at least one task's runner was running (the union of their intervals)."""
        total, end = 0.0, float("-inf")
        for a, b in sorted(self.intervals):
            if b > end:
                total += b - max(a, end)
                end = b
        return total


def run_on_ray(run: RunState, execution: Execute, *, model_loader: Callable[[Any], Any] | None = None,
               sae_loader: Callable[[Any], Any] | None = None) -> RayDriver:
    """Run every step of `run.plan` on Ray (joining `execution.address`, or starting a local Ray that is shut down
    at the end); fills `run.entries` and `run.records` as the local loop does.

    Raises:
        ExecuteError: ray is not installed, the cluster cannot be joined, or a task's worker died more than
            `max_retries` times; a runner's own exception is raised as it is.
    """
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=execution.address, include_dashboard=False, log_to_driver=True,
                     logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = execution.address or "a local Ray"
            raise ExecuteError(f"could not start or join {where}: {exc}",
                               hint="check execute.address / --address (auto, ray://host:10001)") from None
        started = execution.address is None
    run.progress.log(f"ray: {_cluster_line(ray)}")
    driver = RayDriver(run, execution, (model_loader, sae_loader))
    try:
        driver.drive()
    finally:
        run.compute_seconds += driver.busy_seconds()
        if driver.retries:
            run.progress.log(f"ray: {driver.retries} task(s) submitted again after their worker died")
        if started:
            ray.shutdown()
    return driver


def _cluster_line(ray: Any) -> str:
    res = ray.cluster_resources()
    nodes = len([n for n in ray.nodes() if n.get("Alive")])
    return f"{nodes} node(s), {res.get('CPU', 0):g} CPU, {res.get('GPU', 0):g} GPU"
