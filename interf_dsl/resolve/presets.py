"""Resolve stage, presets: the values of every *preset* field under `paper` and `rigorous`.

Input: a field path and a preset name. Output: the value the resolver fills in when the spec leaves it `None`.
`paper` is the authors' protocol (docs/method.md §1-§6, §10); `rigorous` applies the fixes of docs/method.md §8.
To add a preset field: make the spec field `T | None = None` with *preset* in its docstring, add a row here,
and document it in specs/README.md (a test checks every `None`-default field documented as preset has a row).
"""

from __future__ import annotations

from typing import Any

PRESET_NAMES: tuple[str, ...] = ("paper", "rigorous")
PRESET_SUMMARIES: dict[str, str] = {
    "paper": "the authors' protocol and defaults (docs/method.md §10): best-of-scales, pairwise selection, r = 0.8",
    "rigorous": "docs/method.md §8 fixes: held-out alpha, equal search budgets, matched baselines, clustered statistics",
}

# path -> {preset: value}. Paths: "<section>.<field>" or "focus.<kind>.<field>" for focus blocks.
PRESET_VALUES: dict[str, dict[str, Any]] = {
    "atlas.top_token_ratio": {"paper": 0.8, "rigorous": 0.8},  # paper text 0.8 (authors' code 0.5), §8.2
    "map.selection": {"paper": "pairwise", "rigorous": "pairwise"},  # authors' code; §8.1 reports both
    "metrics.primary": {"paper": "weighted_cosine", "rigorous": "weighted_overlap"},  # §8.12
    "metrics.top_k": {"paper": None, "rigorous": None},  # None = full vocabulary (v3 steering code)
    "metrics.target_ratio": {"paper": 0.8, "rigorous": 0.8},
    "stats.mode": {"paper": "paper", "rigorous": "both"},
    "stats.alpha_selection": {"paper": "best", "rigorous": "heldout"},  # §8.4
    "focus.feature.conditions": {
        "paper": ("self", "bins", "random_direction"),
        "rigorous": ("self", "bins", "random_direction", "random_feature", "matched_feature"),  # §8.3
    },
    "focus.token.equal_candidates": {"paper": False, "rigorous": True},  # §8.4
    "focus.prompt.matched_random": {"paper": False, "rigorous": True},  # §8.8
    "focus.prompt.share": {"paper": ("own",), "rigorous": ("own", "union")},  # §6.2: both protocols
    "transfer.matched_random": {"paper": False, "rigorous": True},  # §8.8
    "focus.neuron.random_control": {"paper": False, "rigorous": True},  # §8.15
}


def preset_value(path: str, preset: str) -> Any:
    """The value of a preset field under a preset."""
    return PRESET_VALUES[path][preset]
