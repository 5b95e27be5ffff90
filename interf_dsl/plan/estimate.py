"""Plan stage, work estimates: how many forward/gradient passes, API requests and tokens each step will cost.

Input: the resolved spec and one step's parameters. Output: `WorkEstimate`. Counts follow the protocols of
METHOD.md (§5 per focus, §6.2 for transfer); they are estimates for planning, not guarantees (the number of
qualifying targets is only known after the map). API cost is left to the transfer stage (`cost_usd=None`).
"""

from __future__ import annotations

import math
from typing import Any

from interf_dsl.plan.ir import WorkEstimate
from interf_dsl.prices import estimate_transfer
from interf_dsl.resolve.resolved import ResolvedSpec

DEFAULT_D_SAE = 2048
"""Feature count assumed when no catalog gives one (the zoo's SAEs: 8-16 x d_model 128)."""
SENTENCE_TOKENS = 24
"""Assumed length of a test sentence in tokens."""
TRANSFER_CONDITIONS = ("original", "high", "low", "random")
"""Injection conditions of the transfer protocol (Table 1); `matched_random` adds one."""


def atlas(r: ResolvedSpec, d_sae: int | None) -> WorkEstimate:
    rows = math.ceil(r.atlas.max_tokens / r.atlas.context)
    return WorkEstimate(forward_passes=rows, units=math.ceil(rows / r.atlas.batch_size))


def explain(r: ResolvedSpec, d_sae: int | None) -> WorkEstimate:
    n = d_sae or DEFAULT_D_SAE
    if r.atlas.explanations.kind == "llm":
        per = 5 * SENTENCE_TOKENS * 2 + 64  # five contexts + instructions + a 32-word answer
        return WorkEstimate(api_requests=n, api_tokens=n * per, units=math.ceil(n / 256))
    return WorkEstimate(units=1)


def embed(r: ResolvedSpec, d_sae: int | None) -> WorkEstimate:
    n = d_sae or DEFAULT_D_SAE
    if r.atlas.embedding.kind == "litellm":
        return WorkEstimate(api_requests=math.ceil(n / 256), api_tokens=n * 24, units=math.ceil(n / 256))
    return WorkEstimate(units=1)


def _targets(r: ResolvedSpec, n_hooks: int, per_layer: int) -> int:
    return per_layer * n_hooks * len(r.map.thresholds)


def _sentences_per_target(r: ResolvedSpec, block: Any = None) -> int:
    mined = r.metrics.target_tokens * r.prompts.per_token
    cap = getattr(block, "sentences_per_target", None)
    return min(mined, cap) if cap else mined


def intervene(r: ResolvedSpec, block: Any, n_hooks: int) -> WorkEstimate:
    """Forward and gradient passes of one focus block on one source."""
    n_bins = len(r.map.bins)
    scales = len(getattr(block, "scales", ()) or ())
    if block.focus == "feature":
        targets = _targets(r, n_hooks, block.targets_per_layer or r.map.targets_per_layer)
        levels = sum(n_bins if c == "bins" else block.random_draws if c.startswith("random") else 1
                     for c in block.conditions)
        fwd = targets * _sentences_per_target(r, block) * (1 + levels * scales)
        return WorkEstimate(forward_passes=fwd, units=targets)
    if block.focus == "token":
        targets = _targets(r, n_hooks, block.targets_per_layer)
        # a bin offers every partner's top-token gradients; the paper gives self and random one vector each,
        # equal_candidates gives them as many as a bin (METHOD.md §8.4)
        per_bin = r.map.partners_per_bin * r.metrics.target_tokens
        single = per_bin if block.equal_candidates else 1
        vectors = single + n_bins * per_bin + (per_bin if block.equal_candidates else block.random_draws)
        fwd = targets * _sentences_per_target(r, block) * (1 + vectors * scales)
        return WorkEstimate(forward_passes=fwd, gradient_passes=targets * vectors, units=targets)
    if block.focus == "prompt":
        conditions = len(TRANSFER_CONDITIONS) + (1 if block.matched_random else 0)
        if block.mode == "type_injection":
            fwd = len(block.types) * block.sentences * (1 + conditions * block.trials)
            return WorkEstimate(forward_passes=fwd, units=len(block.types))
        targets = _targets(r, n_hooks, r.map.targets_per_layer)
        fwd = targets * _sentences_per_target(r, block) * (1 + n_bins * r.map.partners_per_bin)
        return WorkEstimate(forward_passes=fwd, units=targets)
    if block.focus == "neuron":
        neurons = n_hooks * len(block.degree_bins) * block.neurons_per_bin * (2 if block.random_control else 1)
        features = neurons * block.clusters_per_neuron * block.features_per_cluster
        fwd = features * r.prompts.per_token * (1 + scales)
        return WorkEstimate(forward_passes=fwd, units=neurons)
    return WorkEstimate()  # pragma: no cover - every focus kind is handled above


def transfer(r: ResolvedSpec, target: Any) -> WorkEstimate:
    """types x sentences x (conditions x trials + 1 baseline) requests, plus the capability probe, and the cost
    from litellm's local cost map (None for served or unpriced models); see `interf_dsl.prices`."""
    tr = r.transfer
    if tr is None:
        return WorkEstimate()
    prompt_blocks = [b for b in r.interventions if b.focus == "prompt"]
    per_trial = prompt_blocks[0].tokens_per_trial if prompt_blocks else 30
    conditions = len(TRANSFER_CONDITIONS) + (1 if tr.matched_random else 0)
    requests, tokens, cost = estimate_transfer(target.model_dump(mode="json"), tr.model_dump(mode="json"),
                                               len(tr.types), tr.sentences, conditions=conditions,
                                               prompt_tokens=per_trial + SENTENCE_TOKENS + 2)
    return WorkEstimate(api_requests=requests, api_tokens=tokens, cost_usd=cost, units=len(tr.types) * tr.sentences)
