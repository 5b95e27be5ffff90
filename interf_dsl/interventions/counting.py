"""Interventions kind: the cases a focus's unit loop will visit, read from its input tables without a model.

Input: `FocusInputs` (select, prompts, atlas and map tables, as cached), the source and the focus block. Output:
per steering target the sentences and partners it runs on (`steer_cases`), and the forward passes of one sweep
(`sweep_passes`). The foci's `estimate` counts their passes from these when the plan can read the inputs
(`interf plan` against a cache holding them), with the same filters the loops apply (`loops.select_targets`,
`targets.target_tokens`, `_common.sentences_for_tokens`), so the count follows what a run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interf_dsl.interventions._common import sentences_for_tokens
from interf_dsl.interventions.loops import select_targets
from interf_dsl.interventions.targets import target_tokens

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Case:
    """One steering target that runs: its hook, τ, feature, sentences measured and partner rows."""

    hook: str
    tau: Any
    target: int
    sentences: int
    token_strs: tuple[str, ...]
    partners: tuple[dict, ...]


def hook_rows(df: pl.DataFrame, source: str, hook: str) -> pl.DataFrame:
    import polars as pl

    return df.filter((pl.col("source") == source) & (pl.col("hook") == hook))


def feature_row(features: pl.DataFrame, source: str, hook: str, feature: int) -> dict | None:
    import polars as pl

    rows = hook_rows(features, source, hook).filter(pl.col("feature") == feature)
    return rows.row(0, named=True) if rows.height else None


def steer_cases(inp: Any, source: str, block: Any, metrics: Any, kinds: list[str] | None = None) -> list[Case]:
    """The targets `loops.target_units` runs for this block (those with target tokens and sentences: the others
    return no row and do no forward pass)."""
    import polars as pl

    if inp.targets is None or inp.features is None or inp.sentences is None:
        return []
    out = []
    cap = getattr(block, "sentences_per_target", None)
    for t in select_targets(inp.targets, source, block, kinds):
        row = feature_row(inp.features, source, t["hook"], int(t["target"]))
        tf = target_tokens(row, float(metrics.target_ratio), int(metrics.target_tokens)) if row else []
        sents = sentences_for_tokens(inp.sentences, [s for s, _ in tf])
        n = min(len(sents), int(cap)) if cap else len(sents)
        if not tf or not n:
            continue
        partners = () if inp.partners is None else tuple(inp.partners.filter(
            (pl.col("source") == source) & (pl.col("hook") == t["hook"]) & (pl.col("tau") == t["tau"])
            & (pl.col("target") == int(t["target"]))).to_dicts())
        out.append(Case(t["hook"], t["tau"], int(t["target"]), n, tuple(s for s, _ in tf), partners))
    return out
