"""Focus `embedding`: steer along the input embeddings of the target's and its partners' top tokens.

A gradient-free control for the token focus (docs/method.md §5.2, §8.11): the token focus adds input-embedding
*gradients* at layer ℓ without transporting them; this focus adds the (unit) mean input embedding of a feature's
top tokens at the same hook. If interference bins order the same way here, the gradient adds nothing the raw
embedding geometry does not already carry. Conditions: `self` (the target's own top tokens), `bin` (each selected
partner's), `random_direction` (random unit vectors, `random_draws` of them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from interf_dsl.foci._base import (
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
from interf_dsl.lang.fields import Grid, Hooks
from interf_dsl.lang.limits import MAX_COUNT
from interf_dsl.lang.model import Model

if TYPE_CHECKING:
    import numpy as np

MODEL_WIDTH_SITES = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")
"""Hook sites of width d_model, where an input embedding can be added."""


class EmbeddingFocus(Model):
    """Embedding focus: steer along input embeddings of the target's and partners' top tokens (token-focus control)."""

    focus: Literal["embedding"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks this block runs on (default: every SAE hook of width d_model)."""
    scales: Grid = PAPER_SCALES
    """Steering scales alpha."""
    top_tokens: int = Field(5, gt=0, le=MAX_COUNT)
    """Top tokens of a feature whose input embeddings are averaged into its direction."""
    random_draws: int = Field(1, gt=0, le=MAX_COUNT)
    """Random unit directions drawn per target."""
    targets_per_layer: int = Field(4, gt=0, le=MAX_COUNT)
    """Targets per (source, hook)."""
    sentences_per_target: int | None = Field(None, gt=0, le=MAX_COUNT)
    """Most vocabulary sentences used per target (default: all mined, metrics.target_tokens x prompts.per_token)."""


@register
class Embedding(Focus):
    name = "embedding"
    params = EmbeddingFocus

    def uses_hook(self, block: Any, hook: str) -> bool:
        return site_of(hook) in MODEL_WIDTH_SITES

    def no_hook_hint(self, block: Any) -> str | None:
        return f"embedding focus adds d_model-wide vectors: SAE hooks at {', '.join(MODEL_WIDTH_SITES)}"

    def estimate(self, block: Any, spec: Any, n_hooks: int, known: Known | None = None) -> Work:
        scales = len(block.scales)
        if known is None:
            targets = targets_of(spec, n_hooks, block.targets_per_layer)
            vectors = 1 + len(spec.map.bins) * spec.map.partners_per_bin + block.random_draws
            return Work(forward_passes=round(targets * sweep_passes(sentences_per_target(spec, block), vectors, scales)),
                        units=targets)
        from interf_dsl.interventions.counting import (  # lazy: polars only when counting
            feature_row,
            steer_cases,
        )

        def has_tokens(hook: str, f: int) -> bool:
            row = feature_row(known.inputs.features, known.source, hook, f)
            return bool(row and (row.get("top_token_ids") or [])[: block.top_tokens])

        fwd, cases = 0, steer_cases(known.inputs, known.source, block, spec.metrics)
        for c in cases:
            own = [c.target] + [int(p["partner"]) for p in c.partners]
            fwd += sweep_passes(c.sentences, sum(has_tokens(c.hook, f) for f in own) + block.random_draws, scales)
        return Work(forward_passes=round(fwd), units=len(cases))

    def run(self, env: Any) -> Any:
        from interf_dsl.interventions import loops  # lazy: numpy only when a focus runs

        return loops.target_units(env, self.name, lambda e, t: loops.steer_unit(e, t, self.name, candidates))


def direction(W_E: np.ndarray, token_ids: list[int]) -> np.ndarray | None:
    """Unit mean of the input embeddings of `token_ids` (None when there are none)."""
    import numpy as np

    if not token_ids:
        return None
    v = W_E[np.asarray(token_ids, dtype=int)].mean(axis=0)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else None


def candidates(env: Any, case: dict[str, Any]) -> list[Any]:
    """`self`, one `bin` candidate per selected partner, and `random_draws` random directions."""
    import numpy as np

    from interf_dsl.interventions.sweep import Candidate  # lazy: numpy only when a focus runs

    k = env.block.top_tokens

    def ids(feature: int) -> list[int]:
        return [int(i) for i in (env.feature_row(case["hook"], feature).get("top_token_ids") or [])[:k]]

    out = []
    own = direction(env.W_E, ids(case["target"]))
    if own is not None:
        out.append(Candidate("self", 0, own, partner=case["target"]))
    counts: dict[str, int] = {}
    for p in sorted(case["partners"], key=lambda r: (str(r["bin"]), r.get("rank") or 0)):
        v = direction(env.W_E, ids(int(p["partner"])))
        if v is not None:
            n = counts[str(p["bin"])] = counts.get(str(p["bin"]), 0) + 1
            out.append(Candidate("bin", n - 1, v, bin=str(p["bin"]), partner=int(p["partner"]), I=float(p["I"]),
                                 S=float(p["S"])))
    dim = env.W_E.shape[1]
    for j in range(env.block.random_draws):
        r = case["rng"].normal(size=dim)
        out.append(Candidate("random_direction", j, r / np.linalg.norm(r)))
    return out
