"""Core: API prices and the plan-time work estimate of a transfer step (data, no heavy imports).

Input: a litellm model string and token counts. Output: its price from litellm's LOCAL cost map (the JSON file
shipped inside the litellm package, read with `json` without importing litellm, so `interf plan` stays fast and never
reaches the network), and `estimate_transfer` → (requests, tokens, cost_usd or None when the model is unpriced).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from typing import Any

COST_MAP_FILE = "model_prices_and_context_window_backup.json"
# Together AI prices most chat models by size tier, as litellm's together_ai cost calculator does:
# (largest size in billions of parameters, cost-map key)
TOGETHER_TIERS = ((4, "together-ai-up-to-4b"), (8, "together-ai-4.1b-8b"), (21, "together-ai-8.1b-21b"),
                  (41, "together-ai-21.1b-41b"), (80, "together-ai-41.1b-80b"), (110, "together-ai-81.1b-110b"))
PROBE_REQUESTS = 3


@functools.cache
def cost_map() -> dict[str, Any]:
    """litellm's bundled cost map (empty when litellm is not installed)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.origin:
        return {}
    path = os.path.join(os.path.dirname(spec.origin), COST_MAP_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError:
        return {}


def price_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token for a litellm model string, trying it with and without its provider prefix."""
    table = cost_map()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    size = re.search(r"(\d+(?:\.\d+)?)b\b", model.lower()) if model.startswith("together_ai/") else None
    if size is not None:  # after the exact names: a tier is the fallback for unlisted Together models
        candidates += [key for top, key in TOGETHER_TIERS if float(size.group(1)) <= top][:1]
    for name in candidates:
        entry = table.get(name)
        if entry and "input_cost_per_token" in entry:
            return float(entry["input_cost_per_token"]), float(entry.get("output_cost_per_token", 0.0))
    return None


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The cost of a request, or None when the model is not in the cost map."""
    price = price_per_token(model)
    if price is None:
        return None
    return prompt_tokens * price[0] + completion_tokens * price[1]


def estimate_transfer(model: str, *, trials: int, n_types: int, n_sentences: int, conditions: int = 4,
                      prompt_tokens: int = 60, batch: int = 1, raw: bool = True, served: bool = False,
                      sampling_samples: int | None = None) -> tuple[int, int, float | None]:
    """Estimated (requests, tokens, cost_usd) of one target's transfer step, before anything runs.

    Args:
        model: the target's litellm model string (priced from litellm's local cost map).
        trials: trials per sentence and condition (`transfer.trials`).
        n_types: number of token types.
        n_sentences: sentences per type (`transfer.sentences`, capped by what the prompts step has).
        conditions: conditions per sentence (4 in paper mode, 5 with random_matched).
        prompt_tokens: assumed prompt length in tokens (30 injected tokens plus a ~20-token sentence and wrappers).
        batch: prompts per request (`target.batch`; raw-mode logprob queries only).
        raw: raw completions (`target.mode: raw`) rather than chat.
        served: the target is served locally (`target.serve`): costs nothing (0.0).
        sampling_samples: for a target known to lack logprobs, the samples per request (`target.samples`);
            None = logprobs, one completion token per prompt.

    Returns:
        Requests (trials + one baseline per sentence, in prompt arrays of `batch` + the capability probe), prompt
        plus completion tokens, and
        the cost in USD, or None when litellm's cost map does not price the model (a served target costs 0.0).
    """
    prompts_per_unit = conditions * trials + 1  # one unit = a sentence: its baseline and its trials
    prompts = n_types * n_sentences * prompts_per_unit + PROBE_REQUESTS
    # Sampling returns n one-token choices per prompt; a logprob query one token.
    completion_per = sampling_samples if sampling_samples is not None else 1
    # prompt arrays (raw mode, logprob queries) put up to `batch` prompts of a unit in one request
    per_request = batch if raw and sampling_samples is None else 1
    requests = n_types * n_sentences * -(-prompts_per_unit // per_request) + PROBE_REQUESTS
    tokens = prompts * (prompt_tokens + completion_per)
    cost = 0.0 if served else cost_usd(model, prompts * prompt_tokens, prompts * completion_per)
    return requests, tokens, cost
