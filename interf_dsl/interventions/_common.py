"""Interventions kind, helper: the inputs an `intervene` step reads, sentence lookup and checkpointed loops.

Input: a `StepContext` (select, prompts, atlas and map results). Output: `FocusInputs`, one polars table per name,
concatenated over every input step that produced it; and `run_units`, the per-unit checkpoint loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import ExecuteError
from interf_dsl.steps import ShardDone, unit_shard

if TYPE_CHECKING:
    import polars as pl

TABLES = ("features", "contexts", "targets", "partners", "token_sets", "sentences", "neurons", "clusters")


@dataclass
class FocusInputs:
    """Tables an intervention focus reads (None when no input step produced them)."""

    features: pl.DataFrame | None = None
    contexts: pl.DataFrame | None = None
    targets: pl.DataFrame | None = None
    partners: pl.DataFrame | None = None
    token_sets: pl.DataFrame | None = None
    sentences: pl.DataFrame | None = None
    neurons: pl.DataFrame | None = None
    clusters: pl.DataFrame | None = None

    def need(self, name: str, step_id: str) -> pl.DataFrame:
        """The table, or an ExecuteError naming the step that should have produced it."""
        df = getattr(self, name)
        if df is None:
            raise ExecuteError(f"step '{step_id}' needs the '{name}' table, but none of its inputs produced it",
                               hint="check the plan wires select, prompts, atlas (and map for the neuron focus)")
        return df


def load_inputs(ctx: Any) -> FocusInputs:
    """Concatenate every known table over all input steps of this step."""
    import polars as pl

    found: dict[str, list[pl.DataFrame]] = {}
    for step_id in ctx.step.inputs:
        res = ctx.input(step_id)
        if res is None:
            continue
        for name in TABLES:
            if name in res.tables:
                found.setdefault(name, []).append(res.tables[name])
    return FocusInputs(**{k: pl.concat(v, how="diagonal_relaxed") for k, v in found.items()})


def sentences_for_tokens(sentences: pl.DataFrame, tokens: Iterable[str], kind: str = "vocab") -> list[dict]:
    """Sentences whose next token is one of `tokens` (rows as dicts), in table order."""
    import polars as pl

    want = list(dict.fromkeys(tokens))
    sub = sentences.filter((pl.col("kind") == kind) & pl.col("token_str").is_in(want))
    return sub.to_dicts()


def run_units(ctx: Any, name: str, keys: list[str], compute: Callable[[str], pl.DataFrame],
              description: str = "") -> pl.DataFrame | None:
    """Compute one table per key, checkpointing each through `ctx.units(name)`; return all of them concatenated in
    `keys` order (not the order they were stored in, so units computed by parallel shards concatenate the same).

    A killed step resumes at the first key not yet stored; keys already stored are not recomputed. Under a fan-out
    shard (`ctx.unit_shard`, Ray) only the shard's keys are computed, then `ShardDone` ends the runner.
    """
    import polars as pl

    store = ctx.units(name)
    shard = unit_shard(ctx)
    mine = shard.mine(keys) if shard is not None else keys
    prog = ctx.progress(len(mine), f"{description or name}{f' (shard {shard.index + 1}/{shard.count})' if shard else ''}")
    for key in mine:
        if not store.done(key):
            store.save(key, compute(key))
        prog.advance()
    if shard is not None:
        raise ShardDone(name)
    out = pl.concat([store.load(k) for k in keys], how="diagonal_relaxed") if keys else None
    return out if out is not None and out.height else None


def level_of(condition: str, bin_label: str | None) -> str:
    """The figure/effects level of a row: the bin label for interference conditions, else the condition."""
    return bin_label if condition == "bin" and bin_label is not None else condition


def layer_type(hook: str) -> str:
    """`resid_post`, `attn_out`, `mlp_out`, … from a TransformerLens hook name."""
    return hook.rsplit(".", 1)[-1].removeprefix("hook_")


def shares_of(block: Any) -> tuple[str, ...]:
    """The token sets a type-injection block injects, in order, each once (a block as stored may be a dict)."""
    share = block.get("share") if isinstance(block, dict) else block.share
    share = (share,) if isinstance(share, str) else tuple(share or ("own",))
    return tuple(dict.fromkeys(share))


def share_sources(block: Any, source: str, sources: set[str]) -> dict[str, str]:
    """share -> the `source` value of its rows in select's token_sets (`own`: this source; union/intersection:
    those rows), each set once: with one source the combined sets are its own, so `own` stands for them."""
    out: dict[str, str] = {}
    for share in shares_of(block):
        src = source if share == "own" or len(sources) == 1 else share
        if src not in out.values():
            out[share] = src
    return out
