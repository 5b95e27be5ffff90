"""Focus `feature`: steer along SAE decoder directions of targets, partners and baselines (docs/method.md §5.1)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from interf_dsl.foci._base import (
    PAPER_SCALES,
    Focus,
    Known,
    Work,
    register,
    sentences_per_target,
    sweep_passes,
    targets_of,
)
from interf_dsl.lang.fields import Grid, Hooks
from interf_dsl.lang.limits import MAX_COUNT
from interf_dsl.lang.model import Model


class FeatureFocus(Model):
    """Feature focus: steer along SAE decoder directions of targets, partners and baselines (docs/method.md §5.1)."""

    focus: Literal["feature"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks this block runs on (default: every SAE hook of its sources)."""
    scales: Grid = PAPER_SCALES
    """Steering scales alpha (the paper: 32 values)."""
    conditions: tuple[Literal["self", "bins", "random_direction", "random_feature", "matched_feature"], ...] | None\
        = None
    """*preset* levels compared (paper: self, bins, random_direction; rigorous adds random_feature,
    matched_feature)."""
    targets_per_layer: int | None = Field(None, gt=0, le=MAX_COUNT)
    """Targets per (source, hook); default: map.targets_per_layer."""
    random_draws: int = Field(1, gt=0, le=MAX_COUNT)
    """Random directions (and random features) drawn per target, each its own candidate."""
    sentences_per_target: int | None = Field(None, gt=0, le=MAX_COUNT)
    """Most vocabulary sentences used per target (default: all mined, metrics.target_tokens x prompts.per_token)."""


@register
class Feature(Focus):
    name = "feature"
    params = FeatureFocus

    def check(self, block: Any, key_path: tuple, sources: tuple[str, ...], error: Any) -> None:
        for j, c in enumerate(block.conditions or ()):
            if c in block.conditions[:j]:
                error(f"condition '{c}' is listed twice", key_path + ("conditions", j), hint="list each once")

    def estimate(self, block: Any, spec: Any, n_hooks: int, known: Known | None = None) -> Work:
        scales = len(block.scales)
        if known is None:
            targets = targets_of(spec, n_hooks, block.targets_per_layer or spec.map.targets_per_layer)
            cands = _candidate_count(block, len(spec.map.bins) * spec.map.partners_per_bin)
            return Work(forward_passes=round(targets * sweep_passes(sentences_per_target(spec, block), cands, scales)),
                        units=targets)
        from interf_dsl.interventions.counting import steer_cases  # lazy: polars only when counting

        cases = steer_cases(known.inputs, known.source, block, spec.metrics)
        fwd = sum(sweep_passes(c.sentences, _candidate_count(block, len(c.partners)), scales) for c in cases)
        return Work(forward_passes=round(fwd), units=len(cases))

    def run(self, env: Any) -> Any:
        from interf_dsl.interventions import loops  # lazy: numpy only when a focus runs

        return loops.target_units(env, self.name, lambda e, t: loops.steer_unit(e, t, self.name, _candidates))


def _candidate_count(block: Any, partners: int) -> int:
    """Steering vectors of one target: self, one per partner, `random_draws` per random control, one matched (a
    resolved block carries its preset's conditions)."""
    per = {"self": 1, "bins": partners, "random_direction": block.random_draws, "random_feature": block.random_draws,
           "matched_feature": 1}
    return sum(per[c] for c in block.conditions or ())


def _candidates(env: Any, case: dict[str, Any]) -> list[Any]:
    """Decoder directions of the target, its partners per bin and the block's baseline conditions."""
    from interf_dsl.interventions import feature  # lazy: numpy only when a focus runs

    conds = list(env.block.conditions or feature.CONDITIONS)  # an unresolved block compares every condition
    return feature.feature_candidates(case["W_dec"], case["target"], case["partners"],
                                      env.hook_features(case["hook"]), conds, case["rng"], env.block.random_draws)
