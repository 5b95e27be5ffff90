"""CLI verbs of the tiny zoo: `interf zoo build --out DIR` and `interf zoo info`.

`info` is light (it renders the card from `artifacts/zoo.json`); `build` imports torch inside its body. Both call
the same library functions the tests call (`interf_dsl.zoo.build`, `interf_dsl.zoo.card`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

zoo_app = typer.Typer(name="zoo", help="The tiny offline zoo: models, SAEs and target that interf trains itself.",
                      no_args_is_help=True)


def _parse_minutes(text: str | None) -> dict[str, float]:
    from interf_dsl.errors import SpecError  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.zoo.build import DEFAULT_MINUTES  # lazy: a command loads its stages (--help 0.2 s)

    out: dict[str, float] = {}
    for part in filter(None, (text or "").split(",")):
        key, _, value = part.partition("=")
        if key not in DEFAULT_MINUTES or not value:
            raise SpecError(f"bad --minutes entry '{part}'", name=key, choices=list(DEFAULT_MINUTES),
                            hint="write e.g. --minutes gpt2-tiny=8,sae=0.75")
        out[key] = float(value)
    return out


def _device(setting: str) -> str:
    """--device: cpu, cuda or auto (cuda where torch sees one); an unknown name, or cuda without CUDA, is refused."""
    from interf_dsl.backends.device import (  # lazy: a command loads its stages (--help 0.2 s)
        device_problem,
        resolve_device,
    )

    if why := device_problem(setting):
        raise typer.BadParameter(why, param_hint="--device")
    return resolve_device(setting)


@zoo_app.command("build")
def build(out: Annotated[Path, typer.Option("--out", help="Build folder (resumable; git-ignored zoo-build/).")],
          minutes: Annotated[str | None, typer.Option(
              "--minutes", help="Per-stage budgets, e.g. gpt2-tiny=8,pythia-tiny=9,target-tiny=12,sae=0.75.")] = None,
          fresh: Annotated[bool, typer.Option("--fresh", help="Ignore finished stages of an earlier run.")] = False,
          install: Annotated[bool, typer.Option(
              "--install", help="Copy the finished build into interf_dsl/zoo/artifacts and the card README.")] = False,
          device: Annotated[str, typer.Option(
              "--device", help="Where models and SAEs train: cpu, cuda or auto (cuda when torch sees one).")] = "cpu",
          batch: Annotated[int, typer.Option("--batch", min=1, help="Sequences of 256 tokens per model step.")] = 32,
          reuse_tokenizer: Annotated[bool, typer.Option(
              "--reuse-tokenizer", help="Take the shipped tokenizer and token types instead of training them (a "
                                        "retrain keeps every token id; no WordNet needed).")] = False,
          until: Annotated[str | None, typer.Option(
              "--until", help="Stop after this stage (e.g. token_types: a build to carry to a GPU machine).")] = None,
          ) -> None:
    """Rebuild the zoo from Debian text packages (~45 min on 2 cores), seeded and time-budgeted."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    from interf_dsl.zoo.build import (  # lazy: a command loads its stages (--help 0.2 s)
        build_zoo,
        copy_artifacts,
        set_process_numerics,
    )
    from interf_dsl.zoo.catalog import artifacts_dir  # lazy: a command loads its stages (--help 0.2 s)

    device = _device(device)
    set_process_numerics(device)
    state = build_zoo(out, _parse_minutes(minutes), fresh=fresh, log=typer.echo, device=device,
                      batch=batch, reuse_tokenizer=reuse_tokenizer, until=until)
    typer.echo(f"built {out} in {sum(v['seconds'] for v in state.values()) / 60:.1f} min of stage time")
    if install:
        copy_artifacts(out, artifacts_dir())
        typer.echo(f"installed into {artifacts_dir()}")


@zoo_app.command("info")
def info(as_json: Annotated[bool, typer.Option("--json", help="Print zoo.json instead of the card.")] = False,
         ) -> None:
    """Print the zoo card: sources, architectures, losses, SAE metrics, token types."""
    import json

    from interf_dsl.zoo.card import render_card  # lazy: a command loads its stages (--help 0.2 s)
    from interf_dsl.zoo.catalog import zoo_card  # lazy: a command loads its stages (--help 0.2 s)

    card = zoo_card()
    typer.echo(json.dumps(card, indent=1, sort_keys=True) if as_json else render_card(card))


def register(app: typer.Typer) -> None:
    """Attach the `zoo` sub-app to the main app."""
    app.add_typer(zoo_app, name="zoo")
