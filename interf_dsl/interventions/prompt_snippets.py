"""Interventions kind, prompt focus (a): high-activation snippets of partner features (docs/method.md §5.3a).

Input: the atlas `contexts` (token_ids, tokens, acts, max_pos) of the target's partners, the target's T_f and a
sentence. Output: candidate snippets (the contiguous run of tokens around the context's max whose activation is
≥ ratio × max, at most `snippet_tokens` long, never containing a T_f token), wrapped (paper: "**") and placed
before (paper) or after the sentence; `snippet_rows` scores every snippet against the unmodified sentence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interf_dsl.errors import SpecError
from interf_dsl.interventions.sweep import MetricConfig, Probe, score_rows

if TYPE_CHECKING:
    import polars as pl


def snippet_of(tokens: list[str], acts: list[float], ratio: float, max_len: int) -> str:
    """The contiguous high-activation run around the context's max, at most max_len tokens."""
    a = np.asarray(acts, np.float64)
    if a.size == 0 or a.max() <= 0:
        return ""
    m = int(a.argmax())
    lo = hi = m
    while lo > 0 and a[lo - 1] >= ratio * a[m] and hi - lo + 1 < max_len:
        lo -= 1
    while hi + 1 < a.size and a[hi + 1] >= ratio * a[m] and hi - lo + 1 < max_len:
        hi += 1
    return "".join(tokens[lo : hi + 1])


def place(snippet: str, sentence: str, wrap: str = "**", position: str = "prepend") -> str:
    """The injected text: wrapped snippet before (paper) or after the sentence."""
    if position not in ("prepend", "append"):
        raise SpecError(f"unknown snippet position '{position}'", name=position, choices=("prepend", "append"),
                        key_path="interventions[focus=prompt].position")
    w = f"{wrap}{snippet}{wrap}"
    return w + sentence if position == "prepend" else sentence + w


def feature_snippets(contexts: pl.DataFrame, feature: int, target_strs: set[str], params: dict) -> list[str]:
    """Snippets of the first contexts of `feature`, dropping those that contain a target token."""
    import polars as pl

    n, ratio, max_len = int(params.contexts_per_feature), float(params.snippet_ratio), int(params.snippet_tokens)
    out = []
    for r in contexts.filter(pl.col("feature") == feature).sort("rank").head(n).to_dicts():
        toks = list(r["tokens"])
        sn = snippet_of(toks, list(r["acts"]), ratio, max_len)
        if sn and not any(t.strip() and t.strip() in sn for t in target_strs):
            out.append(sn)
    return out


def snippet_rows(backend: Any, candidates: list[tuple[dict, str]], sentence: dict, probe: Probe,
                 cfg: MetricConfig, params: dict) -> list[dict]:
    """Score each (candidate metadata, snippet) injected into one sentence; alpha is recorded as 1."""
    if not candidates:
        return []
    base = backend.last_logits([backend.tokenize(sentence["text"])])[0]
    texts = [place(sn, sentence["text"], params.wrap, params.position)
             for _, sn in candidates]
    logits = backend.last_logits([backend.tokenize(t) for t in texts])
    scores = score_rows(base, logits, probe, cfg)
    rows = []
    for r, (meta, sn) in enumerate(candidates):
        row = dict(meta, alpha=1.0, snippet=sn, sentence_id=sentence["sentence_id"],
                   split=sentence.get("split") or "eval", token_str=sentence.get("token_str"))
        row.update({k: float(v[r]) for k, v in scores.items()})
        rows.append(row)
    return rows
