"""Interventions kind, helper: why an `intervene` step has fewer cases than planned (or none at all).

Input: the step's params (`InterveneParams`) and its `FocusInputs`. Output: a funnel of counts (targets of this source → on the
block's hooks → of the focus's layer kinds → with target tokens → with vocabulary sentences; or the neuron and
type-injection equivalents) and, when the step ends with no cases, one sentence naming the stage that emptied it.
The runner logs it, records it in `StepResult.meta` and returns it as the `intervene_warnings` table, so an
intervention with nothing to do never succeeds silently.
"""

from __future__ import annotations

from typing import Any

from interf_dsl.interventions._common import layer_type, sentences_for_tokens
from interf_dsl.interventions.targets import target_tokens


def steer_funnel(inp: Any, params: Any) -> list[tuple[str, int]]:
    import polars as pl


    block, metrics, source = params.block, params.metrics, params.source
    if inp.targets is None:
        return [("select produced a targets table", 0)]
    t = inp.targets.filter(pl.col("source") == source)
    out = [(f"targets of source '{source}' in the select step", t.height)]
    if block.get("hooks"):
        t = t.filter(pl.col("hook").is_in(list(block["hooks"])))
        out.append(("of them on the block's hooks", t.height))
    kinds = block.get("layer_kinds")  # the token focus's sites (other foci have none)
    if kinds:
        t = t.filter(pl.col("hook").map_elements(layer_type, return_dtype=pl.Utf8).is_in(list(kinds)))
        out.append((f"of them at layer kinds {list(kinds)}", t.height))
    if t.height == 0 or inp.features is None:
        return out
    feats = inp.features.join(t.select("source", "hook", pl.col("target").alias("feature")).unique(),
                              on=["source", "hook", "feature"])
    ratio, n_tok = float(metrics.target_ratio), int(metrics.target_tokens)
    with_tokens, with_sents = 0, 0
    for r in feats.to_dicts():
        toks = [s for s, _ in target_tokens(r, ratio, n_tok)]
        with_tokens += bool(toks)
        with_sents += bool(toks and inp.sentences is not None and sentences_for_tokens(inp.sentences, toks))
    out += [("of them with target tokens T_f", with_tokens), ("of them with vocabulary sentences", with_sents)]
    return out


def type_funnel(inp: Any, params: Any) -> list[tuple[str, int]]:
    import polars as pl

    source = params.source
    if inp.token_sets is None:
        return [("select produced a token_sets table", 0)]
    ts = inp.token_sets.filter(pl.col("source") == source)
    n_sent = 0 if inp.sentences is None else inp.sentences.filter(pl.col("kind") == "type").height
    return [(f"token-set rows of source '{source}'", ts.height), ("type sentences", n_sent)]


def neuron_funnel(inp: Any, params: Any) -> list[tuple[str, int]]:
    import polars as pl

    source = params.source
    if inp.neurons is None:
        return [("map produced a neurons table", 0)]
    n = inp.neurons.filter((pl.col("source") == source) & (pl.col("degree") > 0))
    n_sent = 0 if inp.sentences is None else inp.sentences.filter(pl.col("kind") == "vocab").height
    return [(f"neurons of source '{source}' with degree > 0", n.height), ("vocabulary sentences", n_sent)]


def empty_reason(steps: list[tuple[str, int]], step_id: str) -> str:
    """One sentence: the first stage of the funnel that has no items (or the whole funnel when none is zero)."""
    chain = "; ".join(f"{d}: {n}" for d, n in steps)
    zero = next((d for d, n in steps if n == 0), None)
    head = f"step '{step_id}' produced no intervention cases"
    return f"{head}: none left at '{zero}' ({chain})" if zero else f"{head} ({chain})"
