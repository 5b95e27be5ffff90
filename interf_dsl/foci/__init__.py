"""Foci (a kind): the registered intervention foci, one module each, discovered in this folder.

`FOCI` is the only list of focus names: parse builds the spec's `interventions` union from the registered params
models, resolve, plan, the `intervene` runner (`runner.py`) and the report dispatch through it. Adding a focus is
one module here plus its test (README.md, "How to add a focus"). Modules load light (no torch, no polars).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

from interf_dsl.foci._base import FOCI, Focus, Work, register
from interf_dsl.lang.params import params_of

if TYPE_CHECKING:
    import polars as pl


def _discover() -> None:
    """Import every focus module of this package (not `_private` ones, not the step runner)."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name != "runner":
            importlib.import_module(f"{__name__}.{info.name}")


_discover()


def focus_of(params: Any) -> Focus:
    """The registered focus of an `intervene` step's params (a located error naming the choices if unknown)."""
    return FOCI.get(str(params["focus"] if isinstance(params, dict) else params.focus))


def run_focus(ctx: Any, backend: Any, inp: Any) -> pl.DataFrame:
    """The `interventions` table of this step's focus."""
    from interf_dsl.interventions.loops import Env  # lazy: numpy only when a focus runs

    focus = focus_of(ctx.params)
    return focus.run(Env(ctx, backend, inp, focus.params))


def aggregate(table: pl.DataFrame, params: Any, log: Any = print) -> tuple[pl.DataFrame, pl.DataFrame,
                                                                           pl.DataFrame]:
    """`effects`, `regressions` and `effect_cases` of one focus's `interventions` table (`params`: the intervene
    step's, as stored or as `InterveneParams`)."""
    from interf_dsl.interventions.loops import effect_tables  # lazy: numpy only when a focus runs

    params = params_of("intervene", params)
    rows: list[dict] = []
    regs: list[dict] = []
    if table.height == 0:
        log(f"intervene {params.focus}: no rows to aggregate (no targets with sentences)")
    else:
        rows, regs = focus_of(params).effect_rows(table, params, log)
    return effect_tables(rows, regs, params)


__all__ = ["FOCI", "Focus", "Work", "aggregate", "focus_of", "register", "run_focus"]
