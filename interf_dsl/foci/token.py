"""Focus `token`: steer along input-embedding gradients of partners' top tokens (docs/method.md §5.2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from interf_dsl.foci._base import (
    PAPER_SCALES,
    Focus,
    Work,
    register,
    sentences_per_target,
    site_of,
    targets_of,
)
from interf_dsl.lang.ast import ALL_SITES
from interf_dsl.lang.fields import Grid, Hooks
from interf_dsl.lang.limits import MAX_COUNT
from interf_dsl.lang.model import Model


class TokenFocus(Model):
    """Token focus: steer along input-embedding gradients of partners' top tokens (docs/method.md §5.2)."""

    focus: Literal["token"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks this block runs on (default: the SAE hooks whose site is in layer_kinds)."""
    probe: Literal["ones", "encoder", "decoder"] = "ones"
    """Probe v of L = <a, v>: all-ones (paper), the SAE encoder row or decoder row."""
    position_ratio: float = Field(0.8, gt=0, le=1)
    """Gradient positions: activation >= ratio x the context's max."""
    layer_kinds: tuple[str, ...] = ("attn_out", "mlp_out")
    """Hook sites used (paper: attention and MLP outputs)."""
    scales: Grid = PAPER_SCALES
    """Steering scales alpha."""
    equal_candidates: bool | None = None
    """*preset* give every level the same number of candidate vectors (paper False, rigorous True)."""
    targets_per_layer: int = Field(4, gt=0, le=MAX_COUNT)
    """Targets per (source, hook)."""
    random_draws: int = Field(1, gt=0, le=MAX_COUNT)
    """Random directions (and random features) drawn per target, each its own candidate."""
    contexts_per_feature: int = Field(3, gt=0, le=MAX_COUNT)
    """Top contexts per feature whose gradients give its candidate vectors."""
    sentences_per_target: int | None = Field(None, gt=0, le=MAX_COUNT)
    """Most vocabulary sentences used per target (default: all mined, metrics.target_tokens x prompts.per_token)."""


@register
class Token(Focus):
    name = "token"
    params = TokenFocus

    def check(self, block: Any, key_path: tuple, sources: tuple[str, ...], error: Any) -> None:
        for j, site in enumerate(block.layer_kinds):
            if site not in ALL_SITES:
                error(f"unknown hook site '{site}'", key_path + ("layer_kinds", j), name=site, choices=ALL_SITES)
            elif site in block.layer_kinds[:j]:
                error(f"hook site '{site}' is listed twice", key_path + ("layer_kinds", j), hint="list each once")

    def uses_hook(self, block: Any, hook: str) -> bool:
        return site_of(hook) in block.layer_kinds

    def no_hook_hint(self, block: Any) -> str | None:
        return "token focus uses SAE hooks whose site is in layer_kinds"

    def estimate(self, block: Any, spec: Any, n_hooks: int) -> Work:
        targets = targets_of(spec, n_hooks, block.targets_per_layer)
        # a bin offers every partner's top-token gradients; the paper gives self and random one vector each,
        # equal_candidates gives them as many as a bin (docs/method.md §8.4)
        per_bin = spec.map.partners_per_bin * spec.metrics.target_tokens
        single = per_bin if block.equal_candidates else 1
        vectors = single + len(spec.map.bins) * per_bin + (per_bin if block.equal_candidates else block.random_draws)
        fwd = targets * sentences_per_target(spec, block) * (1 + vectors * len(block.scales))
        return Work(forward_passes=fwd, gradient_passes=targets * vectors, units=targets)

    def run(self, env: Any) -> Any:
        from interf_dsl.interventions import loops  # lazy: numpy only when a focus runs

        return loops.target_units(env, self.name, lambda e, t: loops.steer_unit(e, t, self.name, _candidates),
                                  kinds=list(env.block.layer_kinds))


def _candidates(env: Any, case: dict[str, Any]) -> list[Any]:
    """Input-embedding gradients of the target's, its partners' and the baselines' top contexts."""
    import polars as pl

    from interf_dsl.interventions.token import token_candidates  # lazy: numpy only when a focus runs

    contexts = env.inp.need("contexts", env.ctx.step.id).filter(
        (pl.col("source") == env.source) & (pl.col("hook") == case["hook"]))
    return token_candidates(env.backend, case["hook_name"], case["target"], case["partners"], contexts,
                            env.hook_features(case["hook"]), env.block, case["W_enc"], case["W_dec"], case["rng"])
