"""Focus `token`: steer along input-embedding gradients of partners' top tokens (docs/method.md §5.2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from interf_dsl.foci._base import (
    GRADIENT_POSITIONS,
    PAPER_SCALES,
    Focus,
    Known,
    Work,
    register,
    sentences_per_target,
    site_of,
    sweep_passes,
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

    def estimate(self, block: Any, spec: Any, n_hooks: int, known: Known | None = None) -> Work:
        scales, n_ctx = len(block.scales), block.contexts_per_feature
        if known is None:
            targets = targets_of(spec, n_hooks, block.targets_per_layer)
            per_bin = [spec.map.partners_per_bin * n_ctx] * len(spec.map.bins)
            grads = n_ctx + sum(per_bin)  # one forward per top context of the target and of each partner
            work = [(sentences_per_target(spec, block), _vectors(block, n_ctx, per_bin), 1 + grads,
                     grads * GRADIENT_POSITIONS)] * targets
        else:
            work = _counted(block, spec, known)
        fwd = sum(sweep_passes(s, v, scales) + g for s, v, g, _ in work)
        return Work(forward_passes=round(fwd), gradient_passes=round(sum(p for *_, p in work)), units=len(work))

    def run(self, env: Any) -> Any:
        from interf_dsl.interventions import loops  # lazy: numpy only when a focus runs

        return loops.target_units(env, self.name, lambda e, t: loops.steer_unit(e, t, self.name, _candidates),
                                  kinds=list(env.block.layer_kinds))


def _vectors(block: Any, n_self: int, per_bin: list[int]) -> int:
    """Candidate vectors of one target: the target's gradients, each bin's partners' (capped at the target's count
    under equal_candidates, docs/method.md §8.4) and the random directions (as many as the target's, or
    random_draws)."""
    if block.equal_candidates:
        budget = max(1, n_self)
        return n_self + sum(min(b, budget) for b in per_bin) + budget
    return n_self + sum(per_bin) + block.random_draws


def _counted(block: Any, spec: Any, known: Known) -> list[tuple[int, int, int, int]]:
    """(sentences, vectors, other forwards, gradient passes) of every target the runner visits: other forwards are
    one per gradient and one reading the hook's width."""
    import polars as pl

    from interf_dsl.interventions.counting import hook_rows, steer_cases  # lazy: polars only when counting
    from interf_dsl.interventions.token import top_positions  # lazy: numpy only when a focus runs

    inp, n_ctx, ratio = known.inputs, block.contexts_per_feature, block.position_ratio
    out = []
    for c in steer_cases(inp, known.source, block, spec.metrics, kinds=list(block.layer_kinds)):
        ctx = hook_rows(inp.contexts, known.source, c.hook)

        def positions(f: int, ctx: pl.DataFrame = ctx) -> list[int]:
            rows = ctx.filter(pl.col("feature") == f).sort("rank").head(n_ctx)["acts"].to_list()
            return [n for n in (len(top_positions(a, ratio)) for a in rows) if n]

        own = positions(c.target)
        bins: dict[str, int] = {}
        grads = list(own)
        for p in c.partners:
            pos = positions(int(p["partner"]))
            bins[str(p["bin"])] = bins.get(str(p["bin"]), 0) + len(pos)
            grads += pos
        out.append((c.sentences, _vectors(block, len(own), list(bins.values())), 1 + len(grads), sum(grads)))
    return out


def _candidates(env: Any, case: dict[str, Any]) -> list[Any]:
    """Input-embedding gradients of the target's, its partners' and the baselines' top contexts."""
    import polars as pl

    from interf_dsl.interventions.token import token_candidates  # lazy: numpy only when a focus runs

    contexts = env.inp.need("contexts", env.ctx.step.id).filter(
        (pl.col("source") == env.source) & (pl.col("hook") == case["hook"]))
    return token_candidates(env.backend, case["hook_name"], case["target"], case["partners"], contexts,
                            env.hook_features(case["hook"]), env.block, case["W_enc"], case["W_dec"], case["rng"])
