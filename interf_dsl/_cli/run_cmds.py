"""CLI verbs that run and compare experiments: `run` (spec -> run directory), `report` (re-render a run directory),
`diff` (compare two run directories). Each is a few lines over the library functions the tests call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

RunArg = Annotated[Path, typer.Argument(help="A run directory (reports/<experiment>/<run_id>).", show_default=False)]


def run(spec: Annotated[Path, typer.Argument(help="Spec file (.yaml/.yml or .interf).", show_default=False)],
        force: Annotated[list[str], typer.Option("--force", help="Recompute this step (id or glob) and "
                                                 "everything downstream; repeatable.")] = [],  # noqa: B006
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Line-oriented progress (default when "
                                            "not on a terminal).")] = False,
        reports: Annotated[Path, typer.Option("--reports", help="Folder of run directories.")] = Path("reports"),
        run_id: Annotated[str | None, typer.Option("--run-id", help="Run id (default: UTC time + hex).")] = None,
        sets: Annotated[list[str], typer.Option("--set", help="Override a spec key, typed and checked like the "
                                                "spec: key.path=value; repeatable; recorded in run.json.")] = [],  # noqa: B006
        executor: Annotated[str | None, typer.Option("--executor", help="Where steps run: local or ray "
                                                     "(overrides the spec's execute.executor).")] = None,
        address: Annotated[str | None, typer.Option("--address", help="Ray cluster: auto or ray://host:10001 "
                                                    "(overrides execute.address; unset: a local Ray).")] = None,
        device: Annotated[str | None, typer.Option("--device", help="Where models, the sweep and the map run: auto, "
                                                   "cpu or cuda (overrides execute.device).")] = None,
        ) -> None:
    """Run a spec (reusing cached steps) and print the run directory as the last line."""
    from interf_dsl.backends.device import device_problem  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.execute.ray_executor import require_ray  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.parse import load_spec  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.parse.overrides import (  # lazy: a command loads its stages (--help 0.2 s)
        load_spec_with_overrides,
    )
    from interf_dsl.pipeline import run_plan  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.plan import compile_plan  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.resolve import resolve_spec  # lazy: a command loads its stages (--help 0.2 s)

    if executor is not None and executor not in ("local", "ray"):
        raise typer.BadParameter(f"{executor!r} is not an executor: local or ray", param_hint="--executor")
    if device is not None and (why := device_problem(device, check_cuda=False)):
        raise typer.BadParameter(why, param_hint="--device")
    if executor == "ray":
        require_ray()  # before any work: say how to install it
    resolved = resolve_spec(load_spec_with_overrides(spec, sets) if sets else load_spec(spec))
    execution = resolved.execute.model_copy(update={k: v for k, v in (("executor", executor), ("address", address),
                                                                      ("device", device)) if v is not None})
    if device is not None and execution.executor == "local" and (why := device_problem(device)):
        raise typer.BadParameter(why, param_hint="--device")  # under Ray the workers resolve it
    if address is not None and execution.executor != "ray":
        raise typer.BadParameter("--address names a Ray cluster: add --executor ray (or execute.executor: ray)",
                                 param_hint="--address")
    plan = compile_plan(resolved)
    resolved_json = resolved.model_dump_json()
    if sets:  # run.json records them beside the resolved spec they changed
        resolved_json = json.dumps({**json.loads(resolved_json), "overrides": list(sets)})
    record = run_plan(plan, spec_path=spec, spec_text=spec.read_text(encoding="utf-8"),
                      resolved_json=resolved_json, reports_root=reports, force=tuple(force),
                      quiet=True if quiet else None, run_id=run_id, execution=execution)
    typer.echo(record.run_dir)


def report(run_dir: RunArg) -> None:
    """Re-render report.md and report.html of a run directory from its tables."""
    from interf_dsl.report import build_report  # lazy: a command loads its stages (--help 0.2 s)

    for path in build_report(run_dir):
        typer.echo(str(path))


def diff(run_a: RunArg, run_b: RunArg,
         as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
         fail_on: Annotated[str | None, typer.Option("--fail-on", help="Filter expression over diff rows "
                            "(names: delta, a, b, table, column, change, ci_low, ci_high, flipped, "
                            "sign_change, n_pairs, key columns); exit 1 if any row matches, e.g. "
                            "'abs(delta) > 0.02'.")] = None,
         ) -> None:
    """Compare two run directories: provenance, then every table aligned on its keys, effects with delta CIs."""
    from interf_dsl.report import diff_render  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.report.diff import diff_reports  # lazy: a command loads its stages (--help 0.2 s)

    result = diff_reports(run_a, run_b)
    matched = diff_render.fail_on(result, fail_on) if fail_on else []
    if as_json:
        data = json.loads(result.to_json())
        if fail_on:
            data["fail_on"] = {"expression": fail_on, "matched": len(matched)}
        typer.echo(json.dumps(data, sort_keys=True, indent=1, default=str))
    else:
        typer.echo(diff_render.render_diff(result))
        if fail_on:
            typer.echo(f"--fail-on {fail_on!r}: {len(matched)} matching rows")
    if matched:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach `run`, `report` and `diff` to the main app."""
    app.command()(run)
    app.command()(report)
    app.command()(diff)
