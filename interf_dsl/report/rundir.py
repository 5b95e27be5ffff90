"""Report stage: write a run directory from a finished run.

Input: the Plan, the RunRecord and the step results (from the cache). Output, under
`reports/<experiment>/<run_id>/`: `tables/<table>.parquet` (one table merged over every step that produced it,
with a leading `step` column; see `schema.py`), `figures/<step>__<file>.png` (image files steps returned),
`run.json` (spec, resolved spec, plan with cache hits, provenance, timings, counters, storage; secrets scrubbed),
and the rendered `report.md` / `report.html` (`build.py`). Tables and figures are hard links of the caches' files
where the file systems allow (`links.py`), so a rerun adds only run.json and the report.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import ExecuteError
from interf_dsl.execute.atomic import atomic_write_bytes, atomic_write_text, check_name
from interf_dsl.execute.provenance import git_state, package_versions, platform_info, scrub, secret_values
from interf_dsl.lang.params import params_of
from interf_dsl.report.build import build_report
from interf_dsl.report.io import table_bytes
from interf_dsl.report.links import FilePlacer
from interf_dsl.report.schema import SCHEMA_VERSION, conform
from interf_dsl.report.tablecache import TableCache, table_key

if TYPE_CHECKING:
    import polars as pl

    from interf_dsl.execute.record import RunRecord
    from interf_dsl.plan.ir import Plan
    from interf_dsl.steps import StepResult

FIGURE_SUFFIXES = (".png", ".svg")


def figure_name(step_id: str, file_name: str) -> str:
    """`<step id with unsafe characters as _>__<file name>`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", step_id).strip("_") + "__" + file_name


def _producers(record: RunRecord, digest: Callable[[str, str], str] | None) -> dict[str, list[tuple[str, str]]]:
    """Table name -> [(step id, content digest of its table)] of every step that returned it, in plan order.

    The digest is the sha256 of the step's stored table (not the step hash, which does not cover the master seed);
    without a digest accessor the step hash is used and the merged-table cache must be off.
    """
    out: dict[str, list[tuple[str, str]]] = {}
    for rec in record.steps:
        for name in rec.tables:
            check_name(name, f"table name of step {rec.id}")
            out.setdefault(name, []).append((rec.id, digest(rec.id, name) if digest else rec.hash))
    return out


def _merge(name: str, steps: list[str], result: Callable[[str], StepResult]) -> pl.DataFrame:
    import polars as pl

    parts = []
    for step_id in steps:
        df = result(step_id).tables[name]
        if "step" in df.columns:
            raise ExecuteError(f"step {step_id} returned table {name!r} with a 'step' column, "
                               "which the run directory reserves for the producing step id")
        parts.append(df.with_columns(pl.lit(step_id).alias("step")).select(["step", *df.columns]))
    return pl.concat(parts, how="diagonal_relaxed")


def _write_tables(run_dir: Path, record: RunRecord, result: Callable[[str], StepResult],
                  cache: TableCache | None, digest: Callable[[str, str], str] | None, placer: FilePlacer) -> dict:
    info: dict[str, Any] = {}
    for name, producers in sorted(_producers(record, digest).items()):
        key = table_key(name, producers)
        dst = run_dir / "tables" / f"{name}.parquet"
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            placer.place(hit[0], dst)
            info[name] = hit[1]
            continue
        steps = [sid for sid, _ in producers]
        df, keys = conform(name, _merge(name, steps, result))
        data = table_bytes(df, name=name, keys=keys, schema_version=SCHEMA_VERSION)
        info[name] = {"schema_version": SCHEMA_VERSION, "keys": keys, "rows": df.height, "steps": steps,
                      "columns": {c: str(t) for c, t in df.schema.items()}}
        if cache is None:
            atomic_write_bytes(dst, data)
        else:  # stored once, in the cache; the run directory links it
            placer.place(cache.put(key, data, info[name]), dst)
    return info


def figure_suffix(file_name: str, path: Path) -> str | None:
    """The image suffix of a step's file: from its name, else from its first bytes (runners may name files
    without a suffix, e.g. `interference_hist`); None for files that are not figures."""
    suffix = Path(file_name).suffix.lower()
    if suffix in FIGURE_SUFFIXES:
        return suffix
    try:
        with path.open("rb") as fh:
            head = fh.read(256)
    except OSError:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    return ".svg" if b"<svg" in head else None


def _wants_figures(plan: Plan) -> bool:
    """`report.figures` of the plan's report step (true when the plan has none): false keeps every step's figures
    out of the run directory and the report, not only the report step's own."""
    steps = [s for s in plan.steps if s.kind == "report"]
    return params_of("report", steps[0].params).report.figures if steps else True


def _place_figures(run_dir: Path, record: RunRecord, files: Callable[[str], dict[str, Path]],
                   placer: FilePlacer) -> list[str]:
    names = []
    for rec in record.steps:
        for fname in rec.files:
            src = files(rec.id)[fname]
            suffix = figure_suffix(fname, src)
            if suffix is None:
                continue
            stem = fname if Path(fname).suffix.lower() == suffix else fname + suffix
            name = figure_name(rec.id, stem)
            placer.place(src, run_dir / "figures" / name)
            names.append(name)
    return sorted(names)


def _plan_json(plan: Plan, record: RunRecord) -> dict[str, Any]:
    hits = {s.id: s.cache_hit for s in record.steps}
    data = plan.model_dump(mode="json")
    for s in data["steps"]:
        s["cache_hit"] = hits.get(s["id"])
    return data


def write_run_directory(run_dir: Path, *, plan: Plan, record: RunRecord,
                        result: Callable[[str], StepResult] | None, spec_path: str | Path, spec_text: str,
                        resolved: str | dict[str, Any], files: Callable[[str], dict[str, Path]] | None = None,
                        digest: Callable[[str, str], str] | None = None, table_cache: Path | None = None,
                        log: Callable[[str], None] = print) -> None:
    """Write tables, figures, run.json and the report of a run (only run.json when the run did not finish).

    The engine hands in the hidden partial directory it claimed (`execute.storage`) and renames it into place
    afterwards, so the log line names the final path, `record.run_dir`.

    Args:
        run_dir: the folder to write (new, or empty).
        plan: the plan run.
        record: what the run did.
        result: step id -> its StepResult (read from the cache on demand); None for a run that did not finish.
        spec_path: the spec file.
        spec_text: the spec as written.
        resolved: the resolved spec (JSON text or value).
        files: step id -> {file name: path} of its stored files (default: from `result`).
        digest: (step id, table) -> sha256 of the stored table; required for the merged-table cache.
        table_cache: folder of the merged-table cache (`tablecache.py`); None (or no `digest`) disables it.
        log: where to say what was written.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved_value = json.loads(resolved) if isinstance(resolved, str) else resolved
    cache = TableCache(table_cache) if table_cache is not None and digest is not None else None
    placer = FilePlacer()
    tables = _write_tables(run_dir, record, result, cache, digest, placer) if result else {}
    if result is not None and files is None:
        files = lambda step_id: result(step_id).files  # noqa: E731 - fallback when no cache accessor is given
    figures = _place_figures(run_dir, record, files, placer) if result and _wants_figures(plan) else []
    secrets = secret_values(resolved_value, plan.model_dump(mode="json"))
    run = {
        "schema_version": SCHEMA_VERSION,
        "experiment": plan.experiment, "run_id": record.run_id, "status": record.status, "error": record.error,
        "spec": {"path": str(spec_path), "sha256": hashlib.sha256(spec_text.encode()).hexdigest(),
                 "text": spec_text},
        "resolved": resolved_value,
        "plan": _plan_json(plan, record),
        "seeds": {"plan": plan.seed, "preset": plan.preset},
        "versions": package_versions(), "git": git_state(Path(spec_path).resolve().parent),
        "platform": platform_info(),
        "record": record.model_dump(mode="json"),
        "tables": tables, "figures": figures, "storage": placer.summary(),
    }
    if (note := placer.note()) is not None:
        log(note)
    atomic_write_text(run_dir / "run.json", json.dumps(scrub(run, secrets), sort_keys=True, indent=1))
    if result is not None:

        formats = _report_formats(plan)
        build_report(run_dir, formats=formats)
        log(f"wrote {record.run_dir} ({len(tables)} tables, {len(figures)} figures, {', '.join(formats)})")


def _report_formats(plan: Plan) -> tuple[str, ...]:
    for s in plan.steps:
        if s.kind == "report":
            section = s.params.get("report", s.params)
            return tuple(section.get("formats") or ("md", "html"))
    return ("md", "html")
