"""CLI verbs that need no model: validate, plan, fmt, schema, list, new (parse -> resolve -> plan only).

Each verb is a few lines over the library functions the tests call; none imports torch, transformer_lens,
sae_lens or litellm. User errors propagate as `InterfError` to `interf_dsl.cli.main`, which renders them and
exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SpecArg = Annotated[Path, typer.Argument(help="Spec file (.yaml/.yml or .interf).", show_default=False)]
SetOpt = Annotated[list[str], typer.Option("--set", help="Override a spec key, typed and checked like the spec: "
                                           "key.path=value, e.g. atlas.max_tokens=2000; repeatable.")]


def validate(specs: Annotated[list[Path], typer.Argument(help="Spec files to check.")],
             sets: SetOpt = []) -> None:  # noqa: B006
    """Parse and resolve specs; print `ok` per file or every error, located (exit 2)."""
    from interf_dsl.errors import InterfError  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.parse import load_spec  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.parse.overrides import (  # lazy: a command loads its stages (--help 0.2 s)
        load_spec_with_overrides,
    )
    from interf_dsl.resolve import resolve_spec  # lazy: a command loads its stages (--help 0.2 s)

    failed: list[InterfError] = []
    for path in specs:
        try:
            resolved = resolve_spec(load_spec_with_overrides(path, sets) if sets else load_spec(path))
        except InterfError as err:
            failed.append(err)
            continue
        n = sum(len(s.saes) for s in resolved.sources.values())
        typer.echo(f"ok {path}: {len(resolved.sources)} sources, {n} SAEs, "
                   f"{len(resolved.interventions)} focus blocks, preset {resolved.preset}")
    if failed:
        # one error carrying every file's items: cli.main renders them all and exits with its code (2)
        first = failed[0]
        raise type(first)(items=[item for err in failed for item in err.items])


def plan(spec: SpecArg,
         as_json: Annotated[bool, typer.Option("--json", help="Emit the plan as canonical JSON.")] = False,
         table: Annotated[bool, typer.Option("--table/--tree", help="Table of steps instead of a tree.")] = False,
         cache: Annotated[Path | None, typer.Option(
             "--cache", help="Step cache to compare with (default $INTERF_CACHE or .interf-cache, when it exists): "
                             "marks each step cached, re-aggregate (a statistics-only change) or compute.")] = None,
         sets: SetOpt = [],  # noqa: B006
         ) -> None:
    """Compile a spec into its plan and print it (tree, table or --json); loads no model."""
    from interf_dsl.execute.cache import (  # lazy: a command loads its stages (--help 0.2 s)
        cached_tables,
        default_cache_dir,
        step_status,
    )
    from interf_dsl.parse import load_spec  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.parse.overrides import (  # lazy: a command loads its stages (--help 0.2 s)
        load_spec_with_overrides,
    )
    from interf_dsl.plan import compile_plan  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.plan.render import (  # lazy: a command loads its stages (--help 0.2 s)
        render_table,
        render_tree,
    )
    from interf_dsl.resolve import resolve_spec  # lazy: a command loads its stages (--help 0.2 s)

    resolved = resolve_spec(load_spec_with_overrides(spec, sets) if sets else load_spec(spec))
    compiled = compile_plan(resolved)
    if as_json:
        typer.echo(compiled.to_json())
        return
    root = cache if cache is not None else default_cache_dir()
    status = {s.id: step_status(root, s, compiled.seed) for s in compiled.steps} if root.is_dir() else None
    if status:  # intervene steps whose inputs are cached: count the cases they will visit
        from interf_dsl.plan.estimate import counted  # lazy: a command loads its stages (--help 0.2 s)

        by_id = {s.id: s for s in compiled.steps}
        compiled = counted(compiled, resolved, lambda i: cached_tables(root, by_id[i], compiled.seed)
                           if status.get(i) == "cached" else None)
    typer.echo(render_table(compiled, status) if table else render_tree(compiled, status))
    from interf_dsl.plan.data import data_coverage, render_data  # lazy: reads the imported files only here

    data = render_data(data_coverage(compiled))
    if data:
        typer.echo("\n" + data)


def fmt(spec: SpecArg,
        to: Annotated[str, typer.Option("--to", help="Output spelling: yaml or interf.")] = "yaml",
        write: Annotated[Path | None, typer.Option("--write", "-o", help="Write to this file.")] = None) -> None:
    """Print the canonical form of a spec in either spelling (parse(fmt(s)) == s)."""
    from interf_dsl.errors import SpecError  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.parse import format_spec, load_spec  # lazy: a command loads its stages (--help 0.2 s)

    if to not in ("yaml", "interf"):
        raise SpecError(f"unknown spelling '{to}'", name=to, choices=("yaml", "interf"))
    text = format_spec(load_spec(spec), to)
    if write is None:
        typer.echo(text, nl=False)
    else:
        write.write_text(text, encoding="utf-8")


def schema(out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None) -> None:
    """Print the JSON Schema of the spec (for `# yaml-language-server: $schema=...`)."""
    import json

    from interf_dsl.parse.spec import Spec  # lazy: a command loads its stages (--help 0.2 s)

    text = json.dumps(Spec.model_json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def list_(kind: Annotated[str | None, typer.Argument(help="Only this registry.")] = None) -> None:
    """List the registries: foci, metrics, interference metrics, explainers, presets, step kinds."""
    from interf_dsl.resolve.listing import render_listing  # lazy: a command loads its stages (--help 0.2 s)

    typer.echo(render_listing(kind))


def new(out: Annotated[Path | None, typer.Argument(
            help="File to write (.yaml or .interf); without it the spec is printed (YAML).", metavar="OUT",
            show_default=False)] = None,
        preset: Annotated[str, typer.Option("--preset", help="paper or rigorous.", metavar="NAME")] = "rigorous",
        force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False) -> None:
    """Write (or print) a commented starter spec for the tiny zoo from a preset (default: rigorous)."""
    from interf_dsl.errors import SpecError  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.parse.starter import starter_spec  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.resolve.presets import PRESET_NAMES  # lazy: a command loads its stages (--help 0.2 s)

    if preset not in PRESET_NAMES:
        raise SpecError(f"unknown preset '{preset}'", name=preset, choices=PRESET_NAMES)
    if out is None:
        typer.echo(starter_spec(preset, "yaml", "starter"), nl=False)
        return
    if out.exists() and not force:
        raise SpecError(f"{out} exists", hint="pass --force to overwrite it")
    out.write_text(starter_spec(preset, "interf" if out.suffix == ".interf" else "yaml", out.stem),
                   encoding="utf-8")
    typer.echo(f"wrote {out} (preset {preset}); check it with `interf validate {out}`")


def register(app: typer.Typer) -> None:
    """Attach this area's verbs to the main app."""
    app.command()(validate)
    app.command()(plan)
    app.command()(fmt)
    app.command()(schema)
    app.command("list")(list_)
    app.command()(new)
