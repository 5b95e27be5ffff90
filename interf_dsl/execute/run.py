"""Execute stage entry point: `execute_plan(Plan) -> RunRecord`.

Steps run in the plan's topological order. For each step the engine takes the step's cache lock, recomputes it if
`--force` selected it, reuses its verified cache entry if there is one, and otherwise runs its registered runner
and commits the result atomically. Inputs are read from the cache lazily, so a fully cached run loads no model and
reads only the tables it writes into the run directory. The run directory itself (tables, run.json, figures,
report.md/html) is written by the report stage (`interf_dsl.report.rundir`), which `interf_dsl.pipeline` hands in.

Before any step computes, the step cache and the reports folder are checked writable and the run directory is
claimed (`storage.py`): it is written to a hidden sibling and renamed into place at the end, so a failure leaves
none half-written, and a second run given the same run id stops at once. A result its runner marks transient
(`StepResult.meta["transient"]`: a reason, e.g. a transfer probe shaped by transient errors) is used by this run and
recorded, but never cached; neither is anything computed from it, so the next run computes them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.backends.device import CUDA_HINT, cuda_available
from interf_dsl.errors import ExecuteError
from interf_dsl.execute.cache import CacheEntry, StepCache, default_cache_dir
from interf_dsl.execute.compute import compute_step
from interf_dsl.execute.preflight import check_plan_ready
from interf_dsl.execute.progress import RunProgress
from interf_dsl.execute.record import RunRecord, StepRecord
from interf_dsl.execute.resources import Resources
from interf_dsl.execute.selection import forced_steps, new_run_id, run_directory
from interf_dsl.execute.storage import RunDirClaim, check_writable, claim_run_dir, storage_error
from interf_dsl.lang.params import params_of
from interf_dsl.lang.sections import Execute
from interf_dsl.steps import Counters, StepResult

if TYPE_CHECKING:
    from filelock import FileLock

    from interf_dsl.plan.ir import Plan, Step

_COUNTER_FIELDS = tuple(Counters().__dict__)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class RunState:
    """The mutable state of one `execute_plan` call."""

    def __init__(self, plan: Plan, cache: StepCache, resources: Resources, progress: RunProgress,
                 forced: set[str]) -> None:
        self.plan, self.cache, self.resources, self.progress, self.forced = plan, cache, resources, progress, forced
        self.entries: dict[str, CacheEntry] = {}
        self.records: list[StepRecord] = []
        self._results: dict[str, StepResult] = {}
        self.compute_seconds = 0.0

    def result(self, step_id: str) -> StepResult:
        """A finished step's result, read from its cache entry once."""
        if step_id not in self._results:
            self._results[step_id] = self.entries[step_id].result()
        return self._results[step_id]

    def files(self, step_id: str) -> dict[str, Path]:
        """A finished step's stored files, without reading its tables."""
        entry = self.entries[step_id]
        return {f: entry.path / "files" / f for f in entry.record["files"]}

    def digest(self, step_id: str, table: str) -> str:
        """sha256 of a finished step's stored table (its content address, seed included)."""
        return self.entries[step_id].digest(f"tables/{table}.parquet")

    def run_step(self, index: int, step: Step) -> None:
        t0 = time.monotonic()
        lock = self.lock(step)
        try:
            lock.acquire(timeout=0.5)
        except TimeoutError:
            self.progress.log(f"  waiting for another run computing {step.id} (cache lock)")
            lock.acquire()
        try:
            entry = self.reuse(index, step)
            hit, counters = entry is not None, Counters()
            if entry is None:
                entry, counters = self.compute(index, step, self.tainted(step))
        finally:
            lock.release()
        self.finish(step, entry, counters, hit=hit, seconds=time.monotonic() - t0)

    def lock(self, step: Step) -> FileLock:
        """The cache lock of a step, held while it is looked up, computed and committed."""
        return self.cache.lock(step.data_hash or step.hash)  # runs differing only in statistics share raw units

    def tainted(self, step: Step) -> list[str]:
        """Inputs this run computed but could not keep: a cached result of this step may rest on another one."""
        return [i for i in step.inputs if self.entries[i].transient is not None]

    def reuse(self, index: int, step: Step) -> CacheEntry | None:
        """The step's verified cache entry (None: compute it); a forced step is forgotten first. Hold its lock."""
        if step.id in self.forced:
            self.cache.invalidate(step.hash, step.data_hash)
        # the step hash does not cover the master seed: results drawn under it are stored per seed
        entry = None if self.tainted(step) else self.cache.lookup(step, self.plan.seed)
        if entry is not None:
            self.progress.log(f"[{index}/{len(self.plan.steps)}] {step.id}: cached")
        return entry

    def finish(self, step: Step, entry: CacheEntry, counters: Counters, *, hit: bool, seconds: float) -> None:
        """Record a finished step (its entry is what later steps and the run directory read)."""
        self.entries[step.id] = entry
        self.records.append(StepRecord(
            id=step.id, kind=step.kind, hash=step.hash, cache_hit=hit,
            forced=step.id in self.forced, seconds=seconds, compute_seconds=entry.seconds,
            counters=dict(counters.__dict__), computed_counters=entry.counters,
            tables=tuple(entry.record["tables"]), files=tuple(entry.record["files"]), meta=entry.record["meta"],
            transient=entry.transient,
        ))

    def discard_transient(self) -> None:
        """Remove the entries of results that could not be kept (the run directory has what it needs)."""
        for entry in self.entries.values():
            self.cache.discard(entry)

    def compute(self, index: int, step: Step, tainted: list[str]) -> tuple[CacheEntry, Counters]:
        self.progress.log(f"[{index}/{len(self.plan.steps)}] {step.id}: computing")
        entry, counters, seconds = compute_step(self.plan, step, cache=self.cache, resources=self.resources,
                                                progress=self.progress, results=self.result, inputs=self.entries,
                                                tainted=tainted)
        self.compute_seconds += seconds
        note = f" (not cached: {entry.transient})" if entry.transient else ""
        self.progress.log(f"[{index}/{len(self.plan.steps)}] {step.id}: done in {seconds:.2f}s{note}")
        return entry, counters


def _api_by_target(plan: Plan, records: list[StepRecord]) -> dict[str, dict[str, float]]:
    """API usage in this run per black-box target (transfer steps' counters, plus runners' `api_usage` meta)."""
    out: dict[str, dict[str, float]] = {}
    for rec in records:
        if rec.cache_hit:
            continue
        usage = rec.meta.get("api_usage") if isinstance(rec.meta.get("api_usage"), dict) else None
        if usage:
            for target, u in usage.items():
                agg = out.setdefault(str(target), {"requests": 0, "tokens": 0, "cost_usd": 0.0})
                agg["requests"] += u.get("requests", 0)
                agg["tokens"] += u.get("tokens", 0)
                agg["cost_usd"] += u.get("cost_usd", 0.0) or 0.0
        elif rec.counters.get("api_requests"):
            step = plan.step(rec.id)
            name = params_of("transfer", step.params).target.name if step.kind == "transfer" else rec.id
            agg = out.setdefault(str(name), {"requests": 0, "tokens": 0, "cost_usd": 0.0})
            agg["requests"] += rec.counters["api_requests"]
            agg["tokens"] += rec.counters.get("api_tokens", 0)
            agg["cost_usd"] += rec.counters.get("api_cost_usd", 0.0)
    return out


def execute_plan(plan: Plan, *, spec_path: str | Path, spec_text: str, resolved_json: str | dict[str, Any],
                 reports_root: str | Path = "reports", cache_dir: str | Path | None = None,
                 force: Iterable[str] = (), quiet: bool | None = None, run_id: str | None = None,
                 model_loader: Callable[[Any], Any] | None = None,
                 sae_loader: Callable[[Any], Any] | None = None,
                 write_run_dir: Callable[..., None] | None = None,
                 execution: Execute | None = None) -> RunRecord:
    """Run `plan`, reusing cached steps; hand the outcome to `write_run_dir` (finished or not).

    The engine never imports the report stage: `interf_dsl.pipeline.run_plan` (what the CLI calls) passes
    `report.rundir.write_run_directory` here, so the run directory is composed above both stages.

    Args:
        plan: the compiled plan.
        spec_path: the spec file (recorded in run.json; its checkout gives the git commit).
        spec_text: the spec as written.
        resolved_json: the resolved spec (JSON text or value).
        reports_root: folder of run directories; the run goes to `<reports_root>/<experiment>/<run_id>/`.
        cache_dir: the step cache (default `$INTERF_CACHE` or `.interf-cache`).
        force: step ids or globs to recompute (with everything downstream).
        quiet: line-oriented progress; None = automatic (quiet unless on a terminal).
        run_id: the run id (default: UTC timestamp plus random hex).
        model_loader: loads a model reference (default `backends.loading.load_model`; tests inject).
        sae_loader: loads an SAE reference (default `backends.loading.load_sae`).
        write_run_dir: writes the run directory (`report.rundir.write_run_directory`'s signature); None = none.
        execution: where steps run (the spec's `execute` section): None or `executor: local` = this process, in
            plan order; `executor: ray` = Ray tasks in dependency order (`ray_executor.py`), same cache, same
            results.

    Returns:
        The RunRecord (written, with provenance, to `run.json` by `write_run_dir`).

    Raises:
        ExecuteError: a refused path or name, an unknown step kind, an unmatched `--force` pattern, a run id
            another run is using or has used; `executor: ray` without ray installed (before anything runs).
        StorageError: the step cache or the reports folder is not writable (before any step computes), or a
            write failed (disk full); no half-written run directory is left.
    """
    t_start, started = time.monotonic(), _now()
    on_ray = execution is not None and execution.executor == "ray"
    if on_ray:
        from interf_dsl.execute.ray_executor import require_ray  # lazy: ray is an optional extra

        require_ray()
    execution = execution or Execute()
    if execution.device == "cuda" and not on_ray and not cuda_available():  # before anything is written
        raise ExecuteError("execute.device is cuda, but torch sees no CUDA device here", hint=CUDA_HINT)
    run_dir = run_directory(reports_root, plan.experiment, run_id or new_run_id())
    forced = forced_steps(plan, force)
    cache = _open_cache(cache_dir)

    def needs_run(s: Step) -> bool:
        return s.id in forced or not (cache.entry_dir(s.hash, plan.seed).exists() or cache.entry_dir(s.hash).exists())

    def needs_endpoint(s: Step) -> bool:  # a transfer whose probe is kept re-aggregates or resumes from its trials
        return needs_run(s) and (s.id in forced or not cache.kept_units(s, plan.seed, "probe"))

    check_plan_ready(plan, needs_run, check_weights=model_loader is None and sae_loader is None,
                     needs_endpoint=needs_endpoint)
    claim = claim_run_dir(run_dir) if write_run_dir is not None else None
    try:
        resources = Resources(plan, model_loader=model_loader, sae_loader=sae_loader, device=execution.device,
                              memory_budget_mb=execution.memory_budget_mb)
        status, error = "ok", None
        with RunProgress(quiet=quiet) as progress:
            run = RunState(plan, cache, resources, progress, forced)
            progress.log(f"run {plan.experiment}/{run_dir.name}: {len(plan.steps)} steps, cache {cache.root}")
            try:
                if on_ray:
                    from interf_dsl.execute.ray_executor import run_on_ray  # lazy: ray is an optional extra

                    run_on_ray(run, execution, model_loader=model_loader, sae_loader=sae_loader)
                else:
                    for i, step in enumerate(plan.steps, start=1):
                        run.run_step(i, step)
            except BaseException as exc:
                status, error = ("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"), f"{exc}"
                raise
            finally:
                record = _record(plan, run, run_dir, status, error, started, t_start, execution)
                try:
                    if claim is not None and write_run_dir is not None:
                        _publish(claim, status, progress.log, lambda path: write_run_dir(
                            path, plan=plan, record=record, result=run.result if status == "ok" else None,
                            spec_path=spec_path, spec_text=spec_text, resolved=resolved_json, files=run.files,
                            digest=run.digest, table_cache=cache.root / "tables", log=progress.log))
                finally:
                    run.discard_transient()
    finally:
        if claim is not None:
            claim.release()
    # One total: the record's (run.json and report.md say the same), measured when the steps ended; writing the
    # run directory (tables, figures, report) comes after it and is said apart.
    written = time.monotonic() - t_start - record.seconds
    progress.log(f"finished in {record.seconds:.2f}s ({record.cache_hits}/{len(plan.steps)} steps cached, "
                 f"engine overhead {record.engine_seconds:.2f}s); run directory written in {written:.2f}s")
    return record


_CACHE_HINT = "set INTERF_CACHE (or pass cache_dir) to a writable folder"


def _open_cache(cache_dir: str | Path | None) -> StepCache:
    """The step cache, checked writable in every folder a run writes, before anything is computed.

    Raises:
        StorageError: a folder of the cache cannot be created or written (names it).
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        cache = StepCache(root)
    except OSError as exc:
        raise storage_error(exc, "step cache", root, hint=_CACHE_HINT) from None
    for sub in ("steps", "work", "locks", "tmp", "tables"):
        check_writable(cache.root / sub, "step cache folder", hint=_CACHE_HINT)
    return cache


def _publish(claim: RunDirClaim, status: str, log: Callable[[str], None], write: Callable[[Path], None]) -> None:
    """Write the run directory into the claimed partial folder, then rename it into place.

    A write failure (disk full, permission) leaves no run directory and is raised as a `StorageError` naming the
    path; for a run that already failed it is logged instead, so the step's own error is the one reported.
    """
    try:
        write(claim.path)
        claim.publish()
    except OSError as exc:
        claim.release()
        err = storage_error(exc, "run directory", claim.final, hint=_REWRITE_HINT)
        if status != "ok":
            log(f"could not write the run directory of this {status} run: {err}")
            return
        raise err from None


_REWRITE_HINT = ("no run directory was left behind, and every computed step is in the step cache: rerun the same "
                 "command to write it without recomputing")


def _record(plan: Plan, run: RunState, run_dir: Path, status: str, error: str | None, started: str,
            t_start: float, execution: Execute) -> RunRecord:
    totals = {f: sum(r.counters.get(f, 0) for r in run.records) for f in _COUNTER_FIELDS}
    seconds = time.monotonic() - t_start
    return RunRecord(
        experiment=plan.experiment, run_id=run_dir.name, run_dir=str(run_dir), status=status, started=started,
        finished=_now(), seconds=seconds, engine_seconds=seconds - run.compute_seconds, steps=tuple(run.records),
        counters=totals, api=_api_by_target(plan, run.records), models_loaded=tuple(run.resources.loads),
        error=error, execution={**execution.model_dump(mode="json"), "device": run.resources.resolved_device,
                                "device_setting": execution.device,
                                "memory_budget_mb_used": run.resources.resolved_budget_mb},
    )
