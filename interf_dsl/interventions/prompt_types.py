"""Interventions kind, prompt focus (b): token-type injection, the Table 1 protocol (METHOD.md §6.2).

Input: `token_sets` (source, type, level ∈ target/high/medium/random/random_matched, token_id, token_str), type
sentences, a backend. Output: one row per sentence × condition × trial with the top-k type count before and after
injection and success = strictly more (§3.4). `build_injection_prompt` and `sample_trial_tokens` are the pure
protocol functions the transfer step (issue 7) reuses for black-box targets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interf_dsl.errors import SpecError
from interf_dsl.interventions.sweep import softmax
from interf_dsl.metrics import top_k_ids, type_count, type_success

LEVELS = ("target", "high", "medium", "random", "random_matched")


def build_injection_prompt(tokens: list[str], sentence: str, fmt: str = "({tokens}){sentence}") -> str:
    """The injected prompt: token strings concatenated with no separator, placed by `fmt` (paper: "(" … ")" + s)."""
    if "{tokens}" not in fmt or "{sentence}" not in fmt:
        raise SpecError(f"prompt format {fmt!r} must contain {{tokens}} and {{sentence}}",
                        key_path="interventions[focus=prompt].format")
    return fmt.replace("{tokens}", "".join(tokens)).replace("{sentence}", sentence)


def sample_trial_tokens(token_set: list[str], k: int, rng: np.random.Generator) -> list[str]:
    """k token strings drawn without replacement (all of them, shuffled, when the set is smaller than k)."""
    if not token_set:
        raise SpecError("cannot sample injection tokens from an empty token set")
    idx = rng.choice(len(token_set), size=min(k, len(token_set)), replace=False)
    return [token_set[int(i)] for i in idx]


def type_injection_rows(backend: Any, sets: dict[str, list[str]], type_ids: list[int], sentences: list[dict],
                        params: dict, rng: np.random.Generator, batch: int = 64) -> list[dict]:
    """Run the trials of one (source, type) and return one row per trial.

    Args:
        backend: a `Backend`.
        sets: condition → token strings (levels of `token_sets`).
        type_ids: ids of the type's tokens (first sub-token ids), scored in the top-k.
        sentences: type sentences (dicts with sentence_id, text, split).
        params: the focus block (tokens_per_trial, top_k, trials, format).
    """
    k = int(params.get("tokens_per_trial", 30))
    top_k = int(params.get("top_k", 30))
    trials = int(params.get("trials", 100))
    fmt = params.get("format") or "({tokens}){sentence}"
    rows: list[dict] = []
    for s in sentences:
        base_seq = backend.tokenize(s["text"])
        base = int(type_count(top_k_ids(softmax(backend.last_logits([base_seq])), top_k), type_ids)[0])
        for cond, toks in sets.items():
            prompts = [build_injection_prompt(sample_trial_tokens(toks, k, rng), s["text"], fmt)
                       for _ in range(trials)]
            seqs = [backend.tokenize(p) for p in prompts]
            counts = []
            for i in range(0, len(seqs), batch):
                probs = softmax(backend.last_logits(seqs[i : i + batch]))
                counts.extend(type_count(top_k_ids(probs, top_k), type_ids).tolist())
            for t, c in enumerate(counts):
                rows.append({"sentence_id": s["sentence_id"], "split": s.get("split") or "eval",
                             "condition": cond, "trial": t, "count": int(c), "base_count": base,
                             "success": bool(type_success(c, base))})
    return rows
