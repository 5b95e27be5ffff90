"""Plan stage, work estimates: how many forward/gradient passes, API requests and tokens each step will cost.

Input: the resolved spec and one step's parameters. Output: `WorkEstimate`. Counts follow the protocols of
docs/method.md (§5 per focus, §6.2 for transfer); they are estimates for planning, not guarantees (the number of
qualifying targets is only known after the map). API cost is left to the transfer stage (`cost_usd=None`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from interf_dsl.atlas.embed import EMBED_BATCH
from interf_dsl.foci import FOCI
from interf_dsl.foci._base import Known
from interf_dsl.foci.prompt import PromptFocus, injection_protocol
from interf_dsl.interventions._common import TABLES, FocusInputs
from interf_dsl.lang.params import params_of
from interf_dsl.plan.ir import Plan, WorkEstimate
from interf_dsl.prices import cost_usd, estimate_transfer
from interf_dsl.resolve.resolved import ResolvedSpec
from interf_dsl.steps import stream_seed

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

DEFAULT_D_SAE = 2048
"""Feature count assumed when no catalog gives one (the zoo's SAEs: 8-16 x d_model 128)."""
SENTENCE_TOKENS = 24
"""Assumed length of a test sentence in tokens."""
TRANSFER_CONDITIONS = ("target", "high", "medium", "random")
"""Injection conditions of the transfer protocol (Table 1); `matched_random` adds one."""


def atlas(r: ResolvedSpec, d_sae: int | None) -> WorkEstimate:
    """One forward pass per corpus window (whole windows of `context` tokens, cut from at most max_tokens); the
    second pass re-encodes the top windows' activations kept from the first."""
    rows = r.atlas.max_tokens // r.atlas.context
    return WorkEstimate(forward_passes=rows, units=math.ceil(rows / r.atlas.batch_size))


def explain(r: ResolvedSpec, d_sae: int | None) -> WorkEstimate:
    n = d_sae or DEFAULT_D_SAE
    if r.atlas.explanations.kind == "llm":
        per = 5 * SENTENCE_TOKENS * 2 + 64  # five contexts + instructions + a 32-word answer
        answer = 48  # a 32-word explanation
        cost = None if r.atlas.explanations.api_base else cost_usd(r.atlas.explanations.model or "",
                                                                   n * (per - answer), n * answer)
        return WorkEstimate(api_requests=n, api_tokens=n * per, cost_usd=cost, units=math.ceil(n / 256))
    return WorkEstimate(units=1)


def embed(r: ResolvedSpec, d_sae: int | None) -> WorkEstimate:
    n = d_sae or DEFAULT_D_SAE
    if r.atlas.embedding.kind == "litellm":
        cost = None if r.atlas.embedding.api_base else cost_usd(r.atlas.embedding.model, n * 24, 0)
        batches = math.ceil(n / EMBED_BATCH)
        return WorkEstimate(api_requests=batches, api_tokens=n * 24, cost_usd=cost, units=batches)
    return WorkEstimate(units=1)


def intervene(r: ResolvedSpec, block: Any, n_hooks: int, known: Known | None = None) -> WorkEstimate:
    """Forward and gradient passes of one focus block on one source (the focus's own `estimate`), expected from the
    settings, or counted over the cases the runner will visit when `known` holds the step's input tables."""
    work = FOCI.get(block.focus).estimate(block, r, n_hooks, known)
    return WorkEstimate(forward_passes=work.forward_passes, gradient_passes=work.gradient_passes, units=work.units)


def counted(plan: Plan, r: ResolvedSpec, results: Callable[[str], dict[str, pl.DataFrame] | None]) -> Plan:
    """The plan with each intervene step's estimate counted from its inputs' tables, where `results(step_id)` has
    them (the cached select, prompts, atlas and map results): what the runner will visit, not what is expected."""
    import polars as pl

    steps = []
    for step in plan.steps:
        tables = [results(i) for i in step.inputs if not i.startswith(("model:", "sae:"))] \
            if step.kind == "intervene" else [None]
        if any(t is None for t in tables):
            steps.append(step)
            continue
        found: dict[str, list] = {}
        for t in tables:
            for name in TABLES:
                if name in t:
                    found.setdefault(name, []).append(t[name])
        inputs = FocusInputs(**{k: pl.concat(v, how="diagonal_relaxed") for k, v in found.items()})
        p = params_of("intervene", step.params)
        block = FOCI.get(p.focus).params.model_validate({**p.block, "focus": p.focus})
        known = Known(inputs, p.source, partial(_rng, plan.seed, step.id))
        est = intervene(r, block, len(block.hooks or ()), known)
        steps.append(step.model_copy(update={"estimate": est}))
    return plan.model_copy(update={"steps": tuple(steps)})


def _rng(seed: int, step_id: str, stream: str) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(stream_seed(seed, step_id, stream))


def transfer(r: ResolvedSpec, target: Any) -> WorkEstimate:
    """types x sentences x (conditions x trials + 1 baseline) requests, plus the capability probe, and the cost
    from litellm's local cost map (None for served or unpriced models); see `interf_dsl.prices`."""
    tr = r.transfer
    if tr is None:
        return WorkEstimate()
    blocks = [b for b in r.interventions if isinstance(b, PromptFocus) and b.mode == "type_injection"]
    per_trial, _, _ = injection_protocol(tr, blocks[0] if blocks else None)
    conditions = len(TRANSFER_CONDITIONS) + (1 if tr.matched_random else 0)
    requests, tokens, cost = estimate_transfer(target.model, trials=tr.trials, n_types=len(tr.types),
                                               n_sentences=tr.sentences, conditions=conditions,
                                               prompt_tokens=per_trial + SENTENCE_TOKENS + 2, batch=target.batch,
                                               raw=target.mode == "raw", served=target.serve is not None)
    return WorkEstimate(api_requests=requests, api_tokens=tokens, cost_usd=cost, units=len(tr.types) * tr.sentences)
