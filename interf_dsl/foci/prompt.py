"""Focus `prompt`: inject partners' snippets (§5.3) or interference token sets (Table 1, §6.2) into prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from interf_dsl.foci._base import Focus, Known, Work, register, sentences_per_target, targets_of
from interf_dsl.interventions._common import share_sources, shares_of
from interf_dsl.lang.fields import Hooks
from interf_dsl.lang.limits import MAX_COUNT, MAX_VOCAB_COUNT
from interf_dsl.lang.model import Model
from interf_dsl.zoo.catalog import TOKEN_TYPES

Share = Literal["own", "union", "intersection"]
"""Which token sets a type-injection trial injects."""

TABLE1_CONDITIONS = ("target", "high", "medium", "random")
"""Injection conditions of Table 1; `matched_random` adds `random_matched`."""


class PromptFocus(Model):
    """Prompt focus: inject partners' snippets or token sets into prompts (docs/method.md §5.3, §6.2)."""

    focus: Literal["prompt"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks whose features build the token sets (default: all SAE hooks)."""
    mode: Literal["snippets", "type_injection"] = "type_injection"
    """snippets (feature-level, §5.3a) or type_injection (Table 1, §6.2)."""
    wrap: str = "**"
    """Marker around injected snippets (snippets mode)."""
    position: Literal["prepend", "append"] = "prepend"
    """Where the injection goes."""
    types: tuple[str, ...] = ("location", "number", "science")
    """Token types tested (type_injection)."""
    high_threshold: float = Field(0.5, ge=0, le=1)
    """I_max for the HIGH set (paper: 0.5)."""
    high_thresholds: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}
    """Per-source override of high_threshold (the authors' GPT-2 small-model run: 0.3)."""
    medium_threshold: float = Field(0.2, ge=0, le=1)
    """I_max for the MEDIUM (low-interference) set."""
    interference_min: float = Field(0.2, ge=0, le=1)
    """Partners need I > this."""
    semantic_max: float = Field(0.3, ge=-1, le=1)
    """Partners need S < this."""
    tokens_per_feature: int = Field(10, gt=0, le=MAX_COUNT)
    """Top tokens taken per interference feature."""
    tokens_per_trial: int = Field(30, gt=0, le=MAX_COUNT)
    """Tokens sampled per injection."""
    top_k: int = Field(30, gt=0, le=MAX_VOCAB_COUNT)
    """Next tokens read per trial."""
    sentences: int = Field(100, gt=0, le=MAX_COUNT)
    """Type sentences per type."""
    trials: int = Field(100, gt=0, le=MAX_COUNT)
    """Trials per sentence and condition."""
    format: str = "({tokens}){sentence}"
    """Injection template."""
    dedup: bool = True
    """Remove tokens in both HIGH and MEDIUM from both."""
    share: Share | tuple[Share, ...] | None = None
    """*preset* token sets injected, one or a list: this source's `own` (the paper's small-model rows), or the sources'
    `union` / `intersection` (the large-model rows: built at the block's one `high_threshold`, docs/method.md §6.2);
    each is reported apart (`token_sets` column). The type's tokens are always scored by this source's own ids.
    Paper `own`; rigorous `[own, union]` (both protocols in one run)."""
    matched_random: bool | None = None
    """*preset* add a frequency/length-matched random set (paper False, rigorous True)."""
    contexts_per_feature: int = Field(3, gt=0, le=MAX_COUNT)
    """Top contexts per feature that give snippets (snippets mode)."""
    snippet_ratio: float = Field(0.5, gt=0, le=1)
    """A snippet keeps the tokens around the peak with activation >= ratio x the context's max (snippets mode)."""
    snippet_tokens: int = Field(8, gt=0, le=MAX_COUNT)
    """Longest snippet, in tokens (snippets mode)."""
    sentences_per_target: int | None = Field(None, gt=0, le=MAX_COUNT)
    """Most vocabulary sentences used per target (default: all mined, metrics.target_tokens x prompts.per_token)."""


def injection_protocol(transfer: Any, block: PromptFocus | None) -> tuple[int, str, int | None]:
    """Tokens per trial, template and the sources' top_k of black-box trials: the transfer section's own values,
    else the sources' type-injection block's, else that block's defaults (top_k None without a block)."""
    b = block or PromptFocus(focus="prompt")
    return transfer.tokens_per_trial or b.tokens_per_trial, transfer.format or b.format, block.top_k if block else None


def _types_estimate(block: Any, known: Known | None) -> Work:
    """Per token-set share, type and sentence: the baseline, then trials x each condition whose set is not empty."""
    conditions = len(TABLE1_CONDITIONS) + (1 if block.matched_random else 0)
    if known is None or known.inputs.token_sets is None or known.inputs.sentences is None:
        n_sets = len(shares_of(block))
        return Work(forward_passes=n_sets * len(block.types) * block.sentences * (1 + conditions * block.trials),
                    units=n_sets * len(block.types))
    import polars as pl

    ts, sents = known.inputs.token_sets, known.inputs.sentences
    set_sources = share_sources(block, known.source, set(ts["source"].unique().to_list()) - {"union", "intersection"})
    levels = [*TABLE1_CONDITIONS, "random_matched"] if block.matched_random else list(TABLE1_CONDITIONS)
    fwd = 0
    for src in set_sources.values():
        for typ in block.types:
            sets = ts.filter((pl.col("type") == typ) & (pl.col("source") == src) & pl.col("level").is_in(levels))
            n = min(sents.filter((pl.col("kind") == "type") & (pl.col("type") == typ)).height, block.sentences)
            fwd += n * (1 + sets["level"].n_unique() * block.trials)
    return Work(forward_passes=fwd, units=len(set_sources) * len(block.types))


def _types_mode(block: Any) -> bool:
    # a block as stored (a dict) takes the model's default mode when it names none
    mode = block.get("mode", PromptFocus.model_fields["mode"].default) if isinstance(block, dict) else block.mode
    return mode == "type_injection"


@register
class Prompt(Focus):
    name = "prompt"
    params = PromptFocus
    feeds_transfer = True

    def reports(self, block: Any) -> tuple[str, ...]:
        return ("type_success",) if _types_mode(block) else super().reports(block)

    def check(self, block: Any, key_path: tuple, sources: tuple[str, ...], error: Any) -> None:
        for s in block.high_thresholds:
            if s not in sources:
                error(f"unknown source '{s}'", key_path + ("high_thresholds", s), key=True, name=s, choices=sources)
        for j, t in enumerate(block.types):
            if t not in TOKEN_TYPES:
                error(f"unknown token type '{t}'", key_path + ("types", j), name=t, choices=tuple(TOKEN_TYPES))
            elif t in block.types[:j]:
                error(f"token type '{t}' is listed twice", key_path + ("types", j), hint="list each type once")
        if isinstance(block.share, tuple):
            if not block.share:
                error("share lists no token sets", key_path + ("share",), hint="e.g. [own, union]")
            for j, v in enumerate(block.share):
                if v in block.share[:j]:
                    error(f"share '{v}' is listed twice", key_path + ("share", j), hint="list each once")
        missing = [f for f in ("{tokens}", "{sentence}") if f not in block.format]
        if missing and _types_mode(block):
            error(f"format lacks {' and '.join(missing)}", key_path + ("format",),
                  hint="the injected tokens and the sentence both go into it, e.g. ({tokens}){sentence}")

    def estimate(self, block: Any, spec: Any, n_hooks: int, known: Known | None = None) -> Work:
        if _types_mode(block):
            return _types_estimate(block, known)
        if known is None:
            targets = targets_of(spec, n_hooks, spec.map.targets_per_layer)
            snippets = block.contexts_per_feature * (1 + len(spec.map.bins) * spec.map.partners_per_bin)
            return Work(forward_passes=round(targets * sentences_per_target(spec, block) * (1 + snippets)),
                        units=targets)
        from interf_dsl.interventions.counting import (  # lazy: polars only when counting
            hook_rows,
            steer_cases,
        )
        from interf_dsl.interventions.prompt_snippets import (  # lazy: numpy only when a focus runs
            feature_snippets,
        )

        fwd, cases = 0, steer_cases(known.inputs, known.source, block, spec.metrics)
        for c in cases:
            ctx = hook_rows(known.inputs.contexts, known.source, c.hook)
            n = len(feature_snippets(ctx, c.target, set(), block)) + sum(
                len(feature_snippets(ctx, int(p["partner"]), set(c.token_strs), block)) for p in c.partners)
            fwd += c.sentences * (1 + n) if n else 0  # the sentence's baseline, then every snippet in one batch
        return Work(forward_passes=fwd, units=len(cases))

    def select_params(self, blocks: list[Any], spec: Any) -> dict[str, Any]:
        """Table-1 token-set settings (docs/method.md §6.2) from the first type-injection block, and its types."""
        typed = [b for b in blocks if _types_mode(b)]
        if not typed:
            return {}
        first = typed[0]
        return {"types": [t for b in typed for t in b.types],
                # every source gets a threshold: its override, else the block's (one override must not drop it)
                "high_threshold": ({s: first.high_thresholds.get(s, first.high_threshold) for s in spec.sources}
                                   if first.high_thresholds else first.high_threshold),
                "medium_threshold": first.medium_threshold, "interference_min": first.interference_min,
                "semantic_max": first.semantic_max, "tokens_per_feature": first.tokens_per_feature,
                # union/intersection are built at the block's one threshold (the paper's large-model rows), not
                # from each source's own override
                **({"union_high_threshold": first.high_threshold} if first.high_thresholds else {})}

    def steers(self, block: dict[str, Any]) -> bool:
        return not _types_mode(block)

    def funnel(self, inp: Any, params: Any) -> list[tuple[str, int]]:
        from interf_dsl.interventions import diagnose  # lazy: numpy only when a focus runs

        types = _types_mode(params.block)
        return diagnose.type_funnel(inp, params) if types else diagnose.steer_funnel(inp, params)

    def run(self, env: Any) -> Any:
        from interf_dsl.interventions import loops  # lazy: numpy only when a focus runs
        from interf_dsl.interventions.loops_neuron import type_units  # lazy: numpy only when a focus runs

        return type_units(env) if _types_mode(env.block) else loops.target_units(env, self.name, loops.snippet_unit)

    def effect_rows(self, table: Any, params: Any, log: Any) -> tuple[list[dict], list[dict]]:
        from interf_dsl.interventions.effects_rates import type_effects  # lazy: numpy only when a focus runs

        if not _types_mode(params.block):
            return super().effect_rows(table, params, log)

        return type_effects(table, params.stats), []

    def figures(self, table: Any, effects: Any, work_dir: Path, bins: list[str] | None = None) -> dict[str, Path]:
        from interf_dsl.interventions.figures import type_grid  # lazy: numpy only when a focus runs

        if "success_rate" not in effects["metric"].to_list():
            return super().figures(table, effects, work_dir, bins)

        return {"type_grid.png": type_grid(effects, Path(work_dir) / "type_grid.png")}
