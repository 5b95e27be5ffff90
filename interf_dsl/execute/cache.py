"""Execute stage: the content-addressed step cache (`.interf-cache/` by default, env `INTERF_CACHE`).

Layout under the cache root:

    steps/<hash>[.s<seed>]/        one entry (`.s<seed>` when the result depends on the master seed):
    steps/<hash>/manifest.json     written last; sha256 and size of every file of the entry
    steps/<hash>/result.json       the StepResult's meta, table and file names, counters and seconds
    steps/<hash>/tables/<t>.parquet
    steps/<hash>/files/<name>      files a runner returned (figures, tensors)
    work/<data_hash>.s<seed>/      the runner's work_dir and its per-unit checkpoints: removed once the entry is
                                   committed, except for steps that summarise (`plan.ir.summarises`), whose raw
                                   units a statistics-only change re-aggregates
    locks/<hash>.lock              held while a step is looked up, computed and committed
    tmp/                           entries being assembled; renamed into steps/ in one atomic rename
    tmp/transient.<hash>.*/        results a runner marked transient (`meta["transient"]`): complete, verified
                                   entries that only the run that made them reads; removed at its end

An entry exists only once its directory has been renamed into `steps/`, so a killed run never leaves a half entry.
A damaged entry (missing file, truncated parquet, checksum mismatch) is reported with a `CacheWarning`, removed, and
the step recomputed. Two runs sharing a cache serialise on the per-step lock, so the second one reuses the first's
entry instead of writing over it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import ExecuteError
from interf_dsl.execute.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    check_name,
    fsync_dir,
    parquet_bytes,
    sha256_bytes,
    sha256_file,
)
from interf_dsl.execute.storage import storage_error
from interf_dsl.plan.ir import summarises
from interf_dsl.steps import Counters, StepResult

if TYPE_CHECKING:
    from filelock import FileLock

    from interf_dsl.plan.ir import Step

CACHE_FORMAT = 1
DEFAULT_CACHE_DIR = ".interf-cache"


class CacheWarning(UserWarning):
    """A cache entry was damaged (checksum mismatch, missing or truncated file) and is being recomputed."""


def default_cache_dir() -> Path:
    """`$INTERF_CACHE` if set, else `.interf-cache` in the current directory."""
    return Path(os.environ.get("INTERF_CACHE") or DEFAULT_CACHE_DIR)


def json_default(value: Any) -> Any:
    """JSON fallback for numpy scalars/arrays and paths found in step metadata."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass
class CacheEntry:
    """A verified, complete cache entry of one step."""

    step_hash: str
    path: Path
    record: dict[str, Any]
    manifest: dict[str, Any]

    def digest(self, rel: str) -> str:
        """sha256 of one stored file (from the verified manifest), e.g. `tables/pairs.parquet`."""
        return self.manifest["files"][rel]["sha256"]

    def result(self) -> StepResult:
        """The stored StepResult: tables read from parquet, files pointing into the entry."""
        import polars as pl

        tables = {t: pl.read_parquet(self.path / "tables" / f"{t}.parquet") for t in self.record["tables"]}
        files = {f: self.path / "files" / f for f in self.record["files"]}
        return StepResult(tables=tables, meta=dict(self.record["meta"]), files=files)

    @property
    def transient(self) -> str | None:
        """Why this result is not kept in the cache (it rests on a transient condition), or None."""
        return self.record.get("transient")

    @property
    def counters(self) -> dict[str, Any]:
        """Work the step did when it was computed (not in this run)."""
        return dict(self.record.get("counters", {}))

    @property
    def seconds(self) -> float:
        """Wall time the step took when it was computed."""
        return float(self.record.get("seconds", 0.0))


STEP_STATUSES = ("cached", "re-aggregate", "compute")
"""What a run would do with a step: reuse its entry, re-aggregate its kept raw units (a statistics-only change), or
compute it (possibly resuming unit checkpoints of a killed run)."""


def step_status(root: Path | str | None, step: Step, seed: int) -> str:
    """One of `STEP_STATUSES` for `step` under master seed `seed`, from the cache at `root` (read only: creates
    nothing, verifies no checksum)."""
    base = Path(root) if root is not None else default_cache_dir()
    steps = base / "steps"
    if (steps / f"{step.hash}.s{seed}").is_dir() or (steps / step.hash).is_dir():
        return "cached"
    work = base / "work" / f"{step.data_hash}.s{seed}"
    if summarises(step) and any(work.glob("units/*/*.json")):
        return "re-aggregate"
    return "compute"


def cached_tables(root: Path | str | None, step: Step, seed: int) -> dict[str, Any] | None:
    """The tables of `step`'s cache entry under `root` (read only, unverified: what `interf plan` counts its
    estimates from), or None when the step is not cached."""
    import polars as pl

    base = (Path(root) if root is not None else default_cache_dir()) / "steps"
    for path in (base / f"{step.hash}.s{seed}", base / step.hash):
        if (path / "manifest.json").is_file():
            names = json.loads((path / "result.json").read_text(encoding="utf-8"))["tables"]
            return {t: pl.read_parquet(path / "tables" / f"{t}.parquet") for t in names}
    return None


class StepCache:
    """Content-addressed storage of step results, keyed by `Step.hash`."""

    def __init__(self, root: Path | str | None = None) -> None:
        # absolute, so the work dirs handed to runners (and the file paths they return) do not depend on the cwd
        self.root = (Path(root) if root is not None else default_cache_dir()).resolve()
        for sub in ("steps", "work", "locks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._sweep_tmp()

    def _sweep_tmp(self, max_age_s: float = 3600.0, transient_age_s: float = 24 * 3600.0) -> None:
        """Remove half-assembled entries a killed run left in tmp/ (a live commit takes seconds, not an hour), and
        transient entries of killed runs (a live run reads its own for as long as it runs: a day)."""
        now = time.time()
        for path in (self.root / "tmp").iterdir():
            try:
                age = transient_age_s if path.name.startswith("transient.") else max_age_s
                if now - path.stat().st_mtime > age:
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
            except OSError:
                continue

    def entry_dir(self, step_hash: str, seed: int | None = None) -> Path:
        """`steps/<hash>` for a seed-free result, `steps/<hash>.s<seed>` for one that depends on the master seed."""
        return self.root / "steps" / (step_hash if seed is None else f"{step_hash}.s{seed}")

    def work_dir(self, data_hash: str, seed: int = 0) -> Path:
        """The runner's scratch directory, keyed by the step's data hash; it survives a kill so unit checkpoints
        can resume, and a statistics-only change (same data hash) reuses them.

        It is per plan seed too: units drawn with `ctx.rng` under another master seed must not be resumed.
        """
        path = self.root / "work" / f"{data_hash}.s{seed}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def kept_units(self, step: Step, seed: int, store: str) -> bool:
        """Whether the unit store `store` of `step`'s data (under master seed `seed`) holds a finished unit."""
        return any((self.root / "work" / f"{step.data_hash}.s{seed}" / "units" / store).glob("*.json"))

    def lock(self, step_hash: str) -> FileLock:
        """An inter-process lock for one step hash."""
        from filelock import FileLock

        return FileLock(str(self.root / "locks" / f"{step_hash}.lock"))

    def lookup(self, step: Step, seed: int = 0) -> CacheEntry | None:
        """The verified entry of `step` under master seed `seed`, or None. A damaged entry is warned about and
        removed.

        A result that depends on the seed is stored per seed (`steps/<hash>.s<seed>`), so runs alternating between
        seeds each keep their results; a seed-free result (`steps/<hash>`) serves every seed.
        """
        path = self.entry_dir(step.hash, seed)
        if not path.exists():
            path = self.entry_dir(step.hash)
            if not path.exists():
                return None
        problem = self._verify(path, step.hash)
        if problem is None:
            entry = self._entry(step.hash, path)
            # a seed-dependent result can only be served to its own seed (guards entries of older layouts)
            return entry if entry.record.get("rng_seed") in (None, seed) else None
        warnings.warn(
            f"cache entry of step {step.id} ({path}) is damaged: {problem}; recomputing it",
            CacheWarning,
            stacklevel=2,
        )
        self._remove(path)
        return None

    def _verify(self, path: Path, step_hash: str) -> str | None:
        manifest_path = path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return f"unreadable manifest.json ({exc})"
        if manifest.get("hash") != step_hash or manifest.get("format") != CACHE_FORMAT:
            return "manifest belongs to another step hash or cache format"
        for rel, info in manifest.get("files", {}).items():
            f = path / rel
            if not f.is_file():
                return f"missing file {rel}"
            if f.stat().st_size != info["bytes"]:
                return f"{rel} has {f.stat().st_size} bytes, the manifest says {info['bytes']} (truncated?)"
            if sha256_file(f) != info["sha256"]:
                return f"checksum mismatch in {rel}"
        return None

    def commit(self, step: Step, result: StepResult, *, work_dir: Path, counters: Counters,
               seconds: float, rng_seed: int | None = None, transient: str | None = None) -> CacheEntry:
        """Store `result` as the entry of `step` atomically and return it (verified).

        Args:
            step: the step computed.
            result: what its runner returned.
            work_dir: the runner's work_dir, against which relative file paths are resolved.
            counters: work done computing it.
            seconds: wall time of the runner.
            rng_seed: the plan seed, when the result depends on it (it or an input drew from `ctx.rng`).
            transient: why the result must not be kept (see `StepResult.meta["transient"]`): it is then stored
                under `tmp/` for this run only, never in `steps/`, and its work dir is kept for the next run.

        Raises:
            StorageError: a write failed (disk full, permission); nothing of the entry is left behind.
        """
        tmp = self.root / "tmp" / f"{step.hash}.{os.getpid()}.{time.monotonic_ns()}"
        try:
            return self._commit(step, result, tmp, work_dir=work_dir, counters=counters, seconds=seconds,
                                rng_seed=rng_seed, transient=transient)
        except OSError as exc:
            raise storage_error(exc, "step cache", self.root,
                                hint=f"nothing of step {step.id} was stored; the cache stays consistent") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _commit(self, step: Step, result: StepResult, tmp: Path, *, work_dir: Path, counters: Counters,
                seconds: float, rng_seed: int | None, transient: str | None) -> CacheEntry:
        files: dict[str, dict[str, Any]] = {}

        def put(rel: str, data: bytes) -> None:
            atomic_write_bytes(tmp / rel, data)
            files[rel] = {"sha256": sha256_bytes(data), "bytes": len(data)}

        for name, table in result.tables.items():
            check_name(name, f"table name of step {step.id}")
            put(f"tables/{name}.parquet", parquet_bytes(table))
        for name, src in result.files.items():
            check_name(name, f"file name of step {step.id}")
            src_path = Path(src) if Path(src).is_absolute() else work_dir / src
            if not src_path.is_file():
                raise ExecuteError(f"step {step.id} returned file {name!r} -> {src_path}, which does not exist")
            put(f"files/{name}", src_path.read_bytes())
        record = {
            "step_id": step.id, "kind": step.kind, "hash": step.hash,
            "tables": sorted(result.tables), "files": sorted(result.files),
            "meta": result.meta, "counters": counters.__dict__, "seconds": seconds,
            "rng_seed": rng_seed,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **({"transient": transient} if transient else {}),
        }
        try:
            text = json.dumps(record, sort_keys=True, indent=1, default=json_default)
        except TypeError as exc:
            raise ExecuteError(f"step {step.id} returned metadata that is not JSON: {exc}") from None
        put("result.json", text.encode("utf-8"))
        manifest = {"format": CACHE_FORMAT, "hash": step.hash, "step_id": step.id, "files": files}
        atomic_write_text(tmp / "manifest.json", json.dumps(manifest, sort_keys=True, indent=1))
        if transient:
            final = self.root / "tmp" / f"transient.{tmp.name}"
            os.replace(tmp, final)
            return self._entry(step.hash, final)
        final = self.entry_dir(step.hash, rng_seed)
        if final.exists():  # only reachable when the lock was bypassed; keep the first, complete entry
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, final)
            fsync_dir(final.parent)
        if not summarises(step):
            for work in (self.root / "work").glob(f"{step.data_hash}.s*"):
                shutil.rmtree(work, ignore_errors=True)
        return self._entry(step.hash, final)

    def discard(self, entry: CacheEntry) -> None:
        """Remove a transient entry once its run is done with it (kept entries are never discarded here)."""
        if entry.transient is not None:
            self._remove(entry.path)

    def open_entry(self, step_hash: str, rel: str) -> CacheEntry:
        """The entry another process (a Ray worker, which may mount the cache elsewhere) committed at `rel`, its
        path relative to the cache root: `steps/<hash>[.s<seed>]` or a transient one under `tmp/`."""
        path = self.root / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute() or not path.is_dir():
            raise ExecuteError(f"no cache entry at {rel!r} under {self.root}",
                               hint="every worker must mount the same cache (docs/ray.md)")
        return self._entry(step_hash, path)

    def _entry(self, step_hash: str, path: Path) -> CacheEntry:
        record = json.loads((path / "result.json").read_text(encoding="utf-8"))
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        return CacheEntry(step_hash, path, record, manifest)

    def invalidate(self, step_hash: str, data_hash: str | None = None) -> None:
        """Forget a step completely (entries for every seed and, given its data hash, its unit checkpoints), e.g.
        for `--force`."""
        self._remove(self.entry_dir(step_hash))
        work = [*(self.root / "work").glob(f"{data_hash}.s*")] if data_hash else []
        for path in [*(self.root / "steps").glob(f"{step_hash}.s*"), *work]:
            self._remove(path)

    def _remove(self, path: Path) -> None:
        if not path.exists():
            return
        # rename first so a concurrent reader never sees a half-deleted entry
        trash = self.root / "tmp" / f"trash.{path.name}.{os.getpid()}.{time.monotonic_ns()}"
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
