"""Interventions kind, step runner `prompts`: the sentences table (mined from the corpus, a file or an LLM).

The `intervene` runner lives with the focus registry (`interf_dsl/foci/runner.py`). LLM-written sentences are
checkpointed per token through `ctx.units`, so a killed run resumes.
"""

from __future__ import annotations

from typing import Any

from interf_dsl.interventions._common import load_inputs
from interf_dsl.interventions.sentences import (
    dedupe_sentences,
    llm_sentences,
    llm_type_sentences,
    mine_prefixes,
    read_file,
    sentence_rows,
)
from interf_dsl.interventions.targets import target_tokens
from interf_dsl.lang.params import params_of
from interf_dsl.steps import StepResult, step_runner
from interf_dsl.zoo.catalog import read_heldout


def _wanted(inp: Any, metrics: dict) -> tuple[list[str], dict[str, list[str]]]:
    """Vocabulary tokens (T_f of every target, max token of every active feature) and type token strings."""
    import polars as pl


    toks: list[str] = []
    if inp.features is not None:
        feats = inp.features
        if inp.targets is not None:
            tk = inp.targets.select("source", "hook", pl.col("target").alias("feature")).unique()
            for r in feats.join(tk, on=["source", "hook", "feature"]).to_dicts():
                toks += [t for t, _ in target_tokens(r, float(metrics["target_ratio"]), int(metrics["target_tokens"]))]
        act = feats.filter(pl.col("active")) if "active" in feats.columns else feats
        toks += [t[0] for t in act["top_tokens"].to_list() if t]
    types: dict[str, list[str]] = {}
    if inp.token_sets is not None:
        for r in inp.token_sets.filter(pl.col("level") == "target").to_dicts():
            types.setdefault(r["type"], []).append(r["token_str"])
    return list(dict.fromkeys(t for t in toks if t.strip())), types


@step_runner("prompts")
def run_prompts(ctx: Any) -> StepResult:
    """Build the sentences table from the held-out corpus, a file or an LLM."""
    import polars as pl

    params = params_of("prompts", ctx.params)
    p, metrics = params.prompts, params.metrics.model_dump(mode="json")
    per_token, per_type, heldout = p.per_token, p.per_type, p.heldout_fraction
    inp = load_inputs(ctx)
    tokens, types = _wanted(inp, metrics)
    kind = p.source
    vocab: dict[str, list[str]] = {}
    by_type: dict[str, list[str]] = {}
    removed: dict[str, dict[str, int]] = {"vocab": {}, "type": {}}
    if kind == "file":
        data = read_file(p.path)  # each list without repeated sentences (a repeat is one cluster, kept once)
        vocab, by_type, removed = data["vocab"], data["type"], data["removed"]
    elif kind == "llm":
        import json

        store = ctx.units("llm_sentences")
        for t in tokens:
            key = json.dumps(t)
            if not store.done(key):
                store.save(key, pl.DataFrame({"token": [t] * per_token,
                                              "text": llm_sentences(t, per_token, p, ctx.counters)[:per_token]}))
        cached = store.load_all()
        for r in (cached.to_dicts() if cached is not None else []):
            vocab.setdefault(r["token"], []).append(r["text"])
        type_store = ctx.units("llm_type_sentences")  # §4.3: the Table-1 types' sentences, from the same model
        for typ in sorted(types):
            if not type_store.done(typ):
                texts, _ = dedupe_sentences(llm_type_sentences(typ, per_type, p, ctx.counters))
                type_store.save(typ, pl.DataFrame({"type": [typ] * len(texts), "text": texts},
                                                  schema={"type": pl.Utf8, "text": pl.Utf8}))
        cached = type_store.load_all()
        for r in (cached.to_dicts() if cached is not None else []):
            by_type.setdefault(r["type"], []).append(r["text"])
    else:

        docs = ["\n".join(read_heldout("prompts"))]
        prog = ctx.progress(len(tokens) + len(types), "mining sentences")
        for t in tokens:
            vocab[t] = mine_prefixes(docs, t, per_token)
            prog.advance()
        for typ, strs in types.items():
            rng, out = ctx.rng(f"mine|{typ}"), []
            for i in rng.permutation(len(strs)):
                out += [s for s in mine_prefixes(docs, strs[int(i)], 2) if s not in out]
                if len(out) >= per_type:
                    break
            by_type[typ] = out[:per_type]
            prog.advance()
    rows: list[dict] = []
    for t, texts in vocab.items():
        rows += sentence_rows("vocab", t, texts[:per_token], t, None, len(rows), heldout)
    for typ, texts in by_type.items():
        rows += sentence_rows("type", typ, texts[:per_type], None, typ, len(rows), heldout)
    schema = {"sentence_id": pl.Int64, "kind": pl.Utf8, "token_str": pl.Utf8, "type": pl.Utf8, "text": pl.Utf8,
              "split": pl.Utf8, "name": pl.Utf8}
    df = pl.DataFrame(rows, schema=schema)
    missing = [t for t in tokens if not vocab.get(t)]
    return StepResult(tables={"sentences": df}, meta={"source": kind, "tokens": len(tokens),
                                                      "tokens_without_sentences": len(missing),
                                                      "types": sorted(by_type),
                                                      "types_without_sentences": sorted(t for t in types
                                                                                        if not by_type.get(t)),
                                                      "duplicates_removed": removed})
