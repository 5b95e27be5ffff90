"""Interventions kind, prompt focus (b): token-type injection, the Table 1 protocol (docs/method.md §6.2).

Input: `token_sets` (source, type, level ∈ target/high/medium/random/random_matched, token_id, token_str), type
sentences, a backend. Output: one row per sentence × condition × trial with the top-k type count before and after
injection and success = strictly more (§3.4), plus the 0-based ranks within the top-k of the type's tokens (`ranks`,
`base_ranks`) and `top_k`, so `rescore_rows` recomputes count, base_count and success at any k' ≤ top_k without
rerunning the model (the transfer step matches a target's capped k this way, docs/method.md §8.10).
`build_injection_prompt` and `sample_trial_tokens` are the pure protocol functions the transfer step (issue 7) reuses
for black-box targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interf_dsl.errors import ExecuteError, SpecError
from interf_dsl.interventions.sweep import softmax
from interf_dsl.metrics import top_k_ids, type_count, type_success

if TYPE_CHECKING:
    import polars as pl

LEVELS = ("target", "high", "medium", "random", "random_matched")
RANK_COLUMNS = ("ranks", "base_ranks")
"""Per-trial lists of the 0-based top-k positions holding a type token (injected prompt, original sentence)."""


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
    k, top_k, trials, fmt = int(params.tokens_per_trial), int(params.top_k), int(params.trials), params.format
    rows: list[dict] = []
    for s in sentences:
        base_top = top_k_ids(softmax(backend.last_logits([backend.tokenize(s["text"])])), top_k)
        base, base_ranks = int(type_count(base_top, type_ids)[0]), type_ranks(base_top, type_ids)[0]
        for cond, toks in sets.items():
            prompts = [build_injection_prompt(sample_trial_tokens(toks, k, rng), s["text"], fmt)
                       for _ in range(trials)]
            seqs = [backend.tokenize(p) for p in prompts]
            counts, ranks = [], []
            for i in range(0, len(seqs), batch):
                top = top_k_ids(softmax(backend.last_logits(seqs[i : i + batch])), top_k)
                counts.extend(type_count(top, type_ids).tolist())
                ranks.extend(type_ranks(top, type_ids))  # len(ranks[j]) == counts[j]
            for t, (c, r) in enumerate(zip(counts, ranks, strict=True)):
                rows.append({"sentence_id": s["sentence_id"], "split": s.get("split") or "eval",
                             "condition": cond, "trial": t, "count": int(c), "base_count": base,
                             "success": bool(type_success(c, base)), "top_k": top_k,
                             "ranks": r, "base_ranks": base_ranks})
    return rows


def type_ranks(top_ids: np.ndarray, type_ids: list[int]) -> list[list[int]]:
    """Per row of `top_ids` [n, k], the 0-based positions whose id is one of the type's ids (ascending)."""
    hit = np.isin(np.asarray(top_ids), np.asarray(type_ids, dtype=np.int64))
    return [[int(j) for j in np.flatnonzero(row)] for row in np.atleast_2d(hit)]


def can_rescore(df: pl.DataFrame) -> str | None:
    """Why the type-injection rows `df` cannot be rescored at a smaller k (None when they can).

    Rows written before the rank columns existed (report schema v2, or checkpoints of an older run) lack them.
    """
    missing = [c for c in (*RANK_COLUMNS, "top_k") if c not in df.columns]
    if missing:
        return f"the interventions rows lack the column(s) {', '.join(missing)} (written before per-trial ranks)"
    nulls = sum(int(df[c].null_count()) for c in (*RANK_COLUMNS, "top_k"))
    if nulls:
        return f"{nulls} interventions cells of ranks/base_ranks/top_k are null (rows from an older checkpoint)"
    return None


def rescore_rows(df: pl.DataFrame, k: int) -> pl.DataFrame:
    """Type-injection rows rescored at top-k = `k`: count, base_count, success, top_k, ranks as if run at k.

    The top-k ids at k are the first k of the top-k ids at any larger k (ties broken by id either way, see
    `metrics.top_k_ids`), so the count at k is the number of recorded ranks below k.

    Raises:
        ExecuteError: the rows lack ranks (see `can_rescore`), or `k` is not in [1, the rows' top_k].
    """
    import polars as pl

    why = can_rescore(df)
    if why is not None:
        raise ExecuteError(f"cannot rescore the type-injection trials at k={k}: {why}")
    top = int(df["top_k"].min()) if df.height else k
    if not 1 <= k <= top:
        raise ExecuteError(f"cannot rescore type-injection trials scored at top_k={top} at k={k} (need 1 ≤ k ≤ "
                           f"{top})")
    out = df.with_columns([pl.col(c).list.eval(pl.element().filter(pl.element() < k)) for c in RANK_COLUMNS])
    out = out.with_columns(pl.col("ranks").list.len().cast(pl.Int64).alias("count"),
                           pl.col("base_ranks").list.len().cast(pl.Int64).alias("base_count"),
                           pl.lit(k, dtype=pl.Int64).alias("top_k"))
    return out.with_columns((pl.col("count") > pl.col("base_count")).alias("success"))
