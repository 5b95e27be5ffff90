"""CLI verbs that convert data made elsewhere into interf's formats: `interf import token-types|sentences|sets|
neuronpedia SRC --to FILE`. Each prints what it wrote and every change it made (or `--json`); the library functions
are `interf_dsl.dataio.import_*` (docs/data-formats.md has the formats and the shapes each command reads).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

import_app = typer.Typer(name="import", no_args_is_help=True,
                         help="Convert token types, sentences, token sets or a Neuronpedia export made elsewhere "
                              "into interf's formats, saying every change.")

Src = Annotated[Path, typer.Argument(help="Source file or folder (one file per type).", show_default=False)]
To = Annotated[Path, typer.Option("--to", help="File to write (the folder, for neuronpedia).", show_default=False)]
Map = Annotated[list[str], typer.Option("--map", help="Rename a label or type: LABEL=TYPE (TYPE may be 'drop'); "
                                        "repeatable.")]
Other = Annotated[str | None, typer.Option("--other", help="Type (or 'drop') of every label neither a token type "
                                           "nor named by --map.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _show(result: Any, as_json: bool) -> None:
    typer.echo(json.dumps(result.to_json(), indent=1, ensure_ascii=False) if as_json else result.render())


def _pairs(items: list[str]) -> dict[str, str]:
    from interf_dsl.dataio.common import parse_pairs  # lazy: a command loads its stages (--help 0.2 s)

    return parse_pairs(items, "--map")


@import_app.command("token-types")
def token_types(src: Src, to: To, model: Annotated[str | None, typer.Option(
                    "--model", help="Model whose tokenizer reads token ids and counts single tokens "
                    "(zoo:gpt2-tiny, a model folder).")] = None,
                key: Annotated[str, typer.Option("--key", help="What the keys are: auto, string or id.")] = "auto",
                mapping: Map = [],  # noqa: B006 - typer reads the default
                other: Other = None,
                conflict: Annotated[str, typer.Option("--conflict", help="A token with two labels: refuse, first "
                                                      "or drop.")] = "refuse",
                as_json: Json = False) -> None:
    """Token-type labels -> {token_string: type} (sources.<name>.token_types)."""
    from interf_dsl.dataio import import_token_types  # lazy: a command loads its stages (--help 0.2 s)

    _show(import_token_types(src, to, model=model, key=key, aliases=_pairs(mapping), other=other,
                             conflict=conflict), as_json)


@import_app.command("sentences")
def sentences(src: Src, to: To, mapping: Map = [], other: Other = None,  # noqa: B006 - typer reads the default
              as_json: Json = False) -> None:
    """Type sentences -> {"type": {type: [sentences]}} (prompts.path, transfer.prompt_sets)."""
    from interf_dsl.dataio import import_sentences  # lazy: a command loads its stages (--help 0.2 s)

    _show(import_sentences(src, to, aliases=_pairs(mapping), other=other), as_json)


@import_app.command("sets")
def sets(src: Src, to: To,
         type_: Annotated[str | None, typer.Option("--type", help="The type of a file holding one type's "
                                                   "levels.")] = None,
         mapping: Map = [], other: Other = None,  # noqa: B006 - typer reads the default
         level_map: Annotated[list[str], typer.Option("--level-map", help="Rename a level: NAME=LEVEL "
                                                      "(repeatable; common aliases are built in).")] = [],  # noqa: B006
         dedup: Annotated[bool, typer.Option("--dedup", help="Leave strings in both HIGH and MEDIUM out of "
                                             "both.")] = False,
         model: Annotated[str | None, typer.Option("--model", help="Count the strings that are single tokens of "
                                                   "this model.")] = None,
         as_json: Json = False) -> None:
    """Token sets -> {"types": {type: {level: [tokens]}}} (transfer.sets)."""
    from interf_dsl.dataio import import_sets  # lazy: a command loads its stages (--help 0.2 s)

    _show(import_sets(src, to, type_=type_, aliases=_pairs(mapping), other=other, level_map=level_map,
                      dedup=dedup, model=model), as_json)


@import_app.command("neuronpedia")
def neuronpedia(src: Src, to: To,
                sae: Annotated[list[str], typer.Option("--sae", help="SOURCE/HOOK=SUBFOLDER of SRC ('.' for SRC "
                                                       "itself); repeatable.")] = [],  # noqa: B006
                as_json: Json = False) -> None:
    """Neuronpedia export folders -> one folder with <source>/<hook>/ per SAE (atlas.explanations.path)."""
    from interf_dsl.dataio import import_neuronpedia  # lazy: a command loads its stages (--help 0.2 s)

    _show(import_neuronpedia(src, to, sae), as_json)


def register(app: typer.Typer) -> None:
    """Attach the `import` sub-app to the main app."""
    app.add_typer(import_app, name="import")
