"""Transfer kind: reading a transfer step's inputs (token sets, type sentences, the sources' effects, protocol).

Input: the step context (its `select`, `prompts` and prompt-focus `intervene` inputs) and the `transfer` params.
Output: `{type: {condition: [token strings]}}` (the union, or intersection, sets of the sources, or an external
file), `{type: [(sentence_id, text)]}` (the prompts step's type sentences, or an external prompt set), the sources'
prompt-focus effects, the sources' effects rescored at a smaller k from their per-trial `interventions` rows
(`rescored_source_effects`: same estimator code as the intervene step, `foci.aggregate`), and the injection protocol
(tokens per trial, format) taken from the prompt focus block so the target sees prompts built exactly like the
sources'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from interf_dsl.errors import ExecuteError, SpecError
from interf_dsl.foci import aggregate
from interf_dsl.foci.prompt import PromptFocus, injection_protocol
from interf_dsl.interventions.prompt_types import can_rescore, rescore_rows
from interf_dsl.lang.params import params_of
from interf_dsl.lang.sections import TransferSettings
from interf_dsl.transfer.sets import load_prompt_sets, load_token_sets, read_prompt_sets, read_token_sets
from interf_dsl.transfer.trials import CONDITIONS

if TYPE_CHECKING:
    from interf_dsl.lang.sections import Stats


def token_sets(ctx: Any, tr: TransferSettings) -> dict[str, dict[str, list[str]]]:
    """Token sets per requested type and condition (`transfer.sets` file, or the select step's `share` rows)."""
    types = list(tr.types)
    if tr.sets:
        sets = load_token_sets(tr.sets)
    else:
        share = tr.share
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
    # random_matched is a condition only where transfer.matched_random asks for it (preset: paper no, rigorous yes)
    wanted = [c for c in CONDITIONS if c != "random_matched" or tr.matched_random]
    out = {t: {c: v for c, v in sets[t].items() if c in wanted and v} for t in (types or sorted(sets))}
    for t, levels in out.items():
        lacking = [c for c in ("target", "random") if c not in levels]
        if lacking:
            raise ExecuteError(f"type '{t}': the token sets lack the non-empty level(s) {', '.join(lacking)}")
    return out


def type_sentences(ctx: Any, tr: TransferSettings, types: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Type sentences per type as (sentence_id, text)."""
    if tr.prompt_sets:
        data = load_prompt_sets(tr.prompt_sets)
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


def prompt_protocol(ctx: Any, tr: TransferSettings) -> dict[str, Any]:
    """tokens_per_trial, format and the sources' top_k, from transfer params, else the prompt focus block."""
    block: PromptFocus | None = None
    plan = getattr(ctx, "plan", None)
    for step_id in getattr(getattr(ctx, "step", None), "inputs", ()) or ():
        step = plan.step(step_id) if plan is not None else None
        if step is not None and step.kind == "intervene" and params_of("intervene", step.params).focus == "prompt":
            b = PromptFocus.model_validate(step.params["block"])
            if b.mode == "type_injection":
                block = b
                break
    per_trial, fmt, top_k = injection_protocol(tr, block)
    return {"tokens_per_trial": per_trial, "format": fmt, "source_top_k": top_k}


def _type_trials(res: Any) -> pl.DataFrame | None:
    """The type-injection rows of one intervene result's `interventions` table (None when it has none)."""
    df = res.tables.get("interventions")
    if df is None or df.height == 0 or "base_count" not in df.columns or "focus" not in df.columns:
        return None
    df = df.filter((pl.col("focus") == "prompt") & pl.col("base_count").is_not_null())
    return df if df.height else None


def _intervene_params(ctx: Any, step_id: str, stats: Stats) -> dict[str, Any]:
    """The intervene step's own params (its stats settings), or the transfer step's stats without a plan."""
    plan = getattr(ctx, "plan", None)
    step = plan.step(step_id) if plan is not None else None
    params = dict(step.params) if step is not None else {"source": "sources", "metrics": {}, "stats": stats.model_dump(mode="json")}
    # Route `aggregate` to the type-injection estimators whatever else the block says.
    return {**params, "focus": "prompt", "block": {**(params.get("block") or {}), "mode": "type_injection"}}


def source_trials_top_k(ctx: Any) -> int | None:
    """The smallest top_k the sources' type-injection trials were scored at (None without such rows or column)."""
    ks = [int(df["top_k"].min()) for _, res in ctx.inputs_of_kind("intervene")
          if (df := _type_trials(res)) is not None and "top_k" in df.columns and df["top_k"].null_count() == 0]
    return min(ks) if ks else None


def rescored_source_effects(ctx: Any, k: int, stats: Stats) -> tuple[pl.DataFrame | None, str]:
    """The sources' prompt-focus effects recomputed with every trial rescored at top-k = `k`.

    Every intervene input's type-injection rows are rescored from their per-trial ranks
    (`prompt_types.rescore_rows`) and aggregated by the intervene step's own code and stats settings
    (`foci.aggregate`: paper and rigorous rows, CIs, sample sizes, BH). All sources or none: when any lacks the
    rank columns (a run from before them), nothing is rescored and the reason is returned.

    Returns:
        (effects with a `k` column, or None; a sentence saying what was done or why not).
    """

    found = [(step_id, df) for step_id, res in ctx.inputs_of_kind("intervene") if (df := _type_trials(res)) is not None]
    if not found:
        return None, "no type-injection interventions rows among the inputs: the sources cannot be rescored"
    for step_id, df in found:
        why = can_rescore(df)
        if why is not None:
            return None, f"{step_id}: {why}"
    parts = []
    for step_id, df in found:
        effects, _, _ = aggregate(rescore_rows(df, k), _intervene_params(ctx, step_id, stats), ctx.log)
        if effects.height:
            parts.append(effects.filter(pl.col("focus") == "prompt"))
    if not parts:
        return None, f"rescoring at k={k} left no effects rows"
    out = pl.concat(parts, how="diagonal_relaxed").with_columns(pl.lit(k, dtype=pl.Int64).alias("k"))
    return out, (f"rescored at k={k} from the per-trial ranks of {', '.join(s for s, _ in found)} "
                 f"({sum(df.height for _, df in found)} trials)")


def with_accounting(ctx: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The step meta with what the target was given (`data`: token sets and sentences, their origin, repeats left
    out, strings per level) and `sources_comparable` false, with the reason in `sources_sets`, when the sources
    injected other token sets than the target (docs/data-formats.md)."""
    params = params_of("transfer", ctx.params)
    tr = params.transfer
    sets = token_sets(ctx, tr)
    check = sources_sets(ctx, tr, params.sets_fingerprint)
    removed_sets = read_token_sets(tr.sets).removed if tr.sets else {}
    if tr.prompt_sets:
        prompt_file = read_prompt_sets(tr.prompt_sets)
        n_sentences = {t: len(prompt_file.by_type.get(t, ())) for t in sets}
        removed_sentences = prompt_file.removed
    else:
        n_sentences = {t: len(v) for t, v in type_sentences(ctx, tr, list(sets)).items()}
        removed_sentences = next((res.meta.get("duplicates_removed", {}).get("type", {})
                                  for _, res in ctx.inputs_of_kind("prompts")), {})
    coverage = [{"type": t, "level": lv, "strings": len(strs), "duplicates_removed": removed_sets.get(t, {}).get(lv, 0)}
                for t, levels in sorted(sets.items()) for lv, strs in levels.items()]
    sentences = {t: {"sentences": n, "duplicates_removed": int(removed_sentences.get(t, 0))}
                 for t, n in sorted(n_sentences.items())}
    comparable = bool(meta.get("sources_comparable")) and check["same_as_sources"] is not False
    return {**meta, "sources_comparable": comparable, "sources_sets": check,
            "data": {"token_sets": "external" if tr.sets else f"sources:{tr.share}",
                     "sentences": "external" if tr.prompt_sets else "prompts", "coverage": coverage,
                     "type_sentences": sentences}}


def comparable_effects(ctx: Any, tr: TransferSettings, effects: pl.DataFrame) -> pl.DataFrame:
    """The sources' effects on the token sets this target was given, when the sources ran several (`share: [own,
    union]`): the target's `union`/`intersection`, or each source's own rows for external sets and for one source (its
    own sets are then the union). Effects without a `token_sets` column, or with none that match, are returned as
    they are: `sources_sets` then says whether they are comparable."""
    if effects.height == 0 or "token_sets" not in effects.columns:
        return effects
    select = next((res for _, res in ctx.inputs_of_kind("select")), None)
    own = (set(select.tables["token_sets"]["source"].unique().to_list()) - {"union", "intersection"}
           if select is not None and "token_sets" in select.tables else set())
    if tr.sets or len(own) == 1:
        keep = pl.col("token_sets") == pl.col("source")
    else:
        keep = pl.col("token_sets") == tr.share
    matched = effects.filter(keep)
    return matched if matched.height else effects


def sources_sets(ctx: Any, tr: TransferSettings, sets_fingerprint: str | None) -> dict[str, Any]:
    """Whether the sources' type-injection trials injected the token sets this target is given.

    Returns:
        {target (external | union | intersection), sources (what their trials name: union, intersection, a source
        name for its own sets, external), same_as_sources (None without source trials), note}.
    """
    select = next((res for _, res in ctx.inputs_of_kind("select")), None)
    origin = (select.meta.get("token_sets_origin") or {}) if select is not None else {}
    used = sorted({v for _, res in ctx.inputs_of_kind("intervene") if (df := _type_trials(res)) is not None
                   and "token_sets" in df.columns for v in df["token_sets"].drop_nulls().unique().to_list()})
    external = origin.get("origin") == "external"
    share, sources = tr.share, ["external"] if used and external else used
    if select is not None and "token_sets" in select.tables and not external:
        own = set(select.tables["token_sets"]["source"].unique().to_list()) - {"union", "intersection"}
        if len(own) == 1:  # one source: its own sets are the union and the intersection
            sources = sorted({"union" if v in own | {"intersection"} else v for v in sources})
            share = "union"
    target = "external" if tr.sets else tr.share
    if not used:
        return {"target": target, "sources": [], "same_as_sources": None,
                "note": "no type-injection trials of the sources among the inputs: nothing to compare"}
    if tr.sets:
        same = external and origin.get("sets_fingerprint") == sets_fingerprint and sets_fingerprint is not None
        note = ("sources and target injected the external token sets of transfer.sets" if same else
                "the target injected the external token sets of transfer.sets, the sources "
                + ("another version of them" if external else "their own sets built from the token-type labels")
                + ": their rows are not comparable")
    else:
        same = not external and share in sources
        note = (f"sources and target injected the sources' {tr.share} sets" if same else
                f"the target injected the sources' {tr.share} sets, the sources {', '.join(sources)}: their rows are "
                "not comparable")
    return {"target": target, "sources": sources, "same_as_sources": same, "note": note}
