"""Transfer kind: reading a transfer step's inputs (token sets, type sentences, the sources' effects, protocol).

Input: the step context (its `select`, `prompts` and prompt-focus `intervene` inputs) and the `transfer` params.
Output: `{type: {condition: [token strings]}}` (the union, or intersection, sets of the sources, or an external
file), `{type: [(sentence_id, text)]}` (the prompts step's type sentences, or an external prompt set), the sources'
prompt-focus effects, and the injection protocol (tokens per trial, format) taken from the prompt focus block so
the target sees prompts built exactly like the sources'.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from interf_dsl.errors import ExecuteError, SpecError
from interf_dsl.transfer.trials import CONDITIONS, DEFAULT_FORMAT

PAPER_TOKENS_PER_TRIAL = 30


def token_sets(ctx: Any, tr: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Token sets per requested type and condition (`transfer.sets` file, or the select step's `share` rows)."""
    types = list(tr.get("types") or [])
    if tr.get("sets"):
        from interf_dsl.transfer.sets import load_token_sets

        sets = load_token_sets(tr["sets"])
    else:
        share = str(tr.get("share") or "union")
        tables = [res.tables["token_sets"] for _, res in ctx.inputs_of_kind("select") if "token_sets" in res.tables]
        if not tables:
            raise ExecuteError("the transfer step found no token_sets table in its select input")
        df = pl.concat(tables, how="diagonal_relaxed").filter(pl.col("source") == share)
        sets = {}
        for (typ, level), part in df.group_by(["type", "level"]):
            sets.setdefault(typ, {})[level] = list(dict.fromkeys(part.sort("token_id")["token_str"].to_list()))
    missing = [t for t in types if t not in sets]
    if missing:
        raise SpecError(f"no token sets for type(s) {', '.join(missing)}", key_path="transfer.types",
                        name=missing[0], choices=sorted(sets))
    out = {t: {c: v for c, v in sets[t].items() if c in CONDITIONS and v} for t in (types or sorted(sets))}
    for t, levels in out.items():
        lacking = [c for c in ("target", "random") if c not in levels]
        if lacking:
            raise ExecuteError(f"type '{t}': the token sets lack the non-empty level(s) {', '.join(lacking)}")
    return out


def type_sentences(ctx: Any, tr: dict[str, Any], types: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Type sentences per type as (sentence_id, text)."""
    if tr.get("prompt_sets"):
        from interf_dsl.transfer.sets import load_prompt_sets

        data = load_prompt_sets(tr["prompt_sets"])
        by_type = {t: list(enumerate(v)) for t, v in data.items()}
    else:
        tables = [res.tables["sentences"] for _, res in ctx.inputs_of_kind("prompts") if "sentences" in res.tables]
        if not tables:
            raise ExecuteError("the transfer step found no sentences table in its prompts input")
        df = pl.concat(tables, how="diagonal_relaxed")
        text = "text" if "text" in df.columns else "sentence"
        key = "type" if "type" in df.columns else "key"
        df = df.filter(pl.col("kind") == "type").sort("sentence_id")
        by_type = {}
        for r in df.select("sentence_id", key, text).to_dicts():
            by_type.setdefault(r[key], []).append((int(r["sentence_id"]), r[text]))
    missing = [t for t in types if not by_type.get(t)]
    if missing:
        raise ExecuteError(f"no type sentences for type(s) {', '.join(missing)}",
                           hint="add them to the prompt set, or raise prompts.per_type")
    return {t: by_type[t] for t in types}


def source_effects(ctx: Any) -> pl.DataFrame:
    """The prompt-focus `effects` rows of every intervene input (empty when there are none)."""
    tables = [res.tables["effects"] for _, res in ctx.inputs_of_kind("intervene")
              if "effects" in res.tables and res.tables["effects"].height]
    if not tables:
        return pl.DataFrame()
    df = pl.concat(tables, how="diagonal_relaxed")
    return df.filter(pl.col("focus") == "prompt") if "focus" in df.columns else pl.DataFrame()


def prompt_protocol(ctx: Any, tr: dict[str, Any]) -> dict[str, Any]:
    """tokens_per_trial, format and the sources' top_k, from transfer params, else the prompt focus block."""
    block: dict[str, Any] = {}
    plan = getattr(ctx, "plan", None)
    for step_id in getattr(getattr(ctx, "step", None), "inputs", ()) or ():
        step = plan.step(step_id) if plan is not None else None
        if step is not None and step.kind == "intervene" and step.params.get("focus") == "prompt":
            b = step.params.get("block", {})
            if (b.get("mode") or "type_injection") == "type_injection":
                block = b
                break
    return {
        "tokens_per_trial": int(tr.get("tokens_per_trial") or block.get("tokens_per_trial") or PAPER_TOKENS_PER_TRIAL),
        "format": str(tr.get("format") or block.get("format") or DEFAULT_FORMAT),
        "source_top_k": int(block["top_k"]) if block.get("top_k") else None,
    }
