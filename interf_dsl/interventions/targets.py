"""Interventions kind: target token sets T_f of a feature (docs/method.md §3.1).

Input: one row of the atlas `features` table (top_tokens, top_token_ids, top_token_acts, max_act). Output: up to n
unique tokens whose activation is ≥ r × the feature's max, ranked by activation, each mapped to the first token id
of its tokenisation (paper r = 0.8; the authors' steering code used 0.5 and n = 5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interf_dsl.errors import SpecError


def target_tokens(row: dict[str, Any], ratio: float, n: int,
                  first_id: Callable[[str], int] | None = None) -> list[tuple[str, int]]:
    """T_f as (token string, first sub-token id) pairs, strongest first.

    Args:
        row: one `features` row with `top_tokens`, `top_token_acts`, `max_act` and optionally `top_token_ids`.
        ratio: r, keep tokens with activation ≥ r × max_act (`metrics.target_ratio`).
        n: keep at most n tokens (`metrics.target_tokens`).
        first_id: maps a token string to the first id of its tokenisation; when None, `top_token_ids` is used.
    """
    if not 0 < ratio <= 1:
        raise SpecError(f"metrics.target_ratio must be in (0, 1], got {ratio!r}")
    toks = list(row.get("top_tokens") or [])
    acts = list(row.get("top_token_acts") or [])
    ids = list(row.get("top_token_ids") or [None] * len(toks))
    max_act = float(row.get("max_act") or (max(acts) if acts else 0.0))
    order = sorted(range(len(toks)), key=lambda i: -float(acts[i]))
    out: list[tuple[str, int]] = []
    seen: set[int] = set()
    for i in order:
        if max_act <= 0 or float(acts[i]) < ratio * max_act:
            break
        tid = first_id(toks[i]) if first_id is not None else ids[i]
        if tid is None or int(tid) in seen:
            continue
        seen.add(int(tid))
        out.append((toks[i], int(tid)))
        if len(out) >= n:
            break
    return out
