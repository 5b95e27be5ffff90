"""The `interf` command line: a thin typer app. Each verb lives in `interf_dsl/_cli/<area>.py` and calls the same
library functions the tests call. Heavy libraries are imported inside command bodies only, so `interf --help`
stays fast.

Error handling: an `InterfError` is rendered as `path:line:col: error: ...` and exits with its code (2 for spec,
resolve and plan errors; 1 at run time). Anything else is an internal error; `--debug` shows the traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from interf_dsl import __version__
from interf_dsl._cli import import_cmds, run_cmds, serve_cmds, spec_cmds, zoo_cmds
from interf_dsl.errors import InterfError, render_error

app = typer.Typer(
    name="interf",
    help="Declarative experiments on polysemantic interference in SAE features, with black-box transfer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: typer's rich panels print `<bool>` after every flag
)



@app.command()
def version() -> None:
    """Print the interf version."""

    print(__version__)


for _module in (spec_cmds, run_cmds, zoo_cmds, serve_cmds, import_cmds):
    _module.register(app)


def main() -> None:
    """Console-script entry point: run the app, render user errors, hide tracebacks unless --debug."""

    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("WANDB_MODE", "disabled")
    try:
        app(standalone_mode=False)
    except InterfError as err:
        print(render_error(err), file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("interrupted; finished units are kept, rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last-resort guard: our own bug
        # usage errors of the CLI library (typer's own exceptions, or click's where typer still uses click)
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        if isinstance(exc, typer.Abort) or type(exc).__name__ == "Abort":
            sys.exit(1)
        if debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n  rerun with --debug for the traceback", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
