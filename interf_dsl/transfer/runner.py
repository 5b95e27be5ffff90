"""Transfer kind, step runner `transfer:<target>`: token-type injection into one black-box target (Table 1).

Input (params): `target` (one target mapping), `transfer` (types, sentences, trials, sets, prompt_sets), `metrics`,
`stats`; inputs: `select` (token_sets), `prompts` (sentences), the prompt-focus `intervene` steps (effects, for the
sources' rows and the transfer ratio). Output: tables `transfer_trials`, `transfer`, `transfer_grid`,
`transfer_ratio`; the grid figure; meta with the probe's capabilities, the protocol (estimator, k), the k at which
the sources' baselines must be recomputed and the k they were rescored at, and per-target accounting (requests,
tokens, cost, cache hits).

Order: readiness check (stops at once listing what is missing) → start `interf serve` for a `serve:` target →
capability probe (its decision kept as a unit only when no transient error shaped it, `probe.py`) → trials in
checkpointed units → for a sampling fallback, one more logprob request that confirms it → the sources rescored at the target's k when it is below theirs
(from their per-trial ranks, docs/method.md §8.10) → statistics → figure → stop the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import polars as pl

from interf_dsl.errors import BackendError, ErrorItem
from interf_dsl.lang.params import params_of
from interf_dsl.steps import StepResult, step_runner
from interf_dsl.transfer import inputs as tin
from interf_dsl.transfer.answers import Accounting
from interf_dsl.transfer.client import TransferClient
from interf_dsl.transfer.execute import TRIALS_SCHEMA, Unit, run_units
from interf_dsl.transfer.figures import draw_grid
from interf_dsl.transfer.probe import Capabilities, ProbeDecision, capabilities_json, confirm_fallback, probe
from interf_dsl.transfer.session import run_sync
from interf_dsl.transfer.summary import grid_rows, source_diffs, summarize, transfer_ratios
from interf_dsl.transfer.targets import TargetSpec, check_target_ready, source_recompute_k
from interf_dsl.transfer.trials import TypeLookup, build_sentence_trials, sample_prompt_sentences

if TYPE_CHECKING:
    from interf_dsl.lang.sections import Stats


@step_runner("transfer", summary="Token-type injection into one black-box target through litellm (Table 1).")
def run(ctx: Any) -> StepResult:
    """Run the transfer step of one target (see the module docstring)."""
    params = params_of("transfer", ctx.params)
    target = TargetSpec.from_params(params.target.model_dump(mode="json"))
    tr, stats = params.transfer, params.stats
    sets = tin.token_sets(ctx, tr)
    sentences = tin.type_sentences(ctx, tr, list(sets))
    effects = tin.source_effects(ctx)
    proto = tin.prompt_protocol(ctx, tr)
    store, probes = ctx.units("trials"), ctx.units("probe")
    saved = _saved_probe(probes)
    if saved is not None:
        units = _units(ctx, tr, sets, sentences, proto)
        if all(store.done(u.key(saved[1])) for u in units):
            # a statistics-only change: every trial is stored, so no endpoint, key or server is needed
            ctx.log(f"transfer {target.name}: every trial is stored; re-aggregating without requests")
            caps_json, protocol, decision = saved
            effects, sources = _sources_at_k(ctx, effects, proto, protocol, stats)
            meta = _meta(target, caps_json, protocol, Accounting(), sources, proto, len(units), 0, decision)
            return _result(ctx, store, units, protocol, stats, effects, {**meta, "reaggregated": True}, target)
    problems = check_target_ready(target)
    if problems:
        raise BackendError(items=[ErrorItem(p) for p in problems])
    lookup = TypeLookup({t: levels["target"] for t, levels in sets.items()})
    with _served(target) as api_base:
        client = TransferClient(target, ctx.work_dir / "responses", api_base=api_base,
                                on_request=lambda pt, ct, cost: _count(ctx, pt, ct, cost))
        try:
            caps, protocol, decision = run_sync(probe(client))
            _note_decision(ctx, target, protocol, decision, probes, caps)
            units = _units(ctx, tr, sets, sentences, proto)
            errors = run_sync(run_units(client, units, protocol, lookup, store,
                                           ctx.progress(len(units), f"transfer {target.name}")))
            if not errors and decision.awaits_confirmation:
                run_sync(confirm_fallback(client, decision))
                _note_decision(ctx, target, protocol, decision, probes, caps, after_trials=True)
        finally:
            client.close()
    if errors:
        raise BackendError(f"transfer to {target.name} stopped: {len(errors)} of {len(units)} sentence units failed "
                           f"after retries; {len(units) - len(errors)} finished units are kept (rerun to resume). "
                           f"First: {errors[0]}", hint="check the endpoint, or raise max_retries / timeout_s")
    effects, sources = _sources_at_k(ctx, effects, proto, protocol, stats)
    meta = _meta(target, capabilities_json(caps), protocol, client.acct, sources, proto, len(units), 0,
                 decision.to_json())
    return _result(ctx, store, units, protocol, stats, effects, meta, target)


def _note_decision(ctx: Any, target: TargetSpec, protocol: dict, decision: ProbeDecision, probes: Any,
                   caps: Capabilities, after_trials: bool = False) -> None:
    """Log the protocol and keep it as the probe unit only when the decision may be kept (see `probe.py`)."""
    if not after_trials:
        ctx.log(f"transfer {target.name}: {protocol['estimator']} estimator, k={protocol['k']} "
                f"(requested {target.top_k}, offered {protocol['k_offered']})")
        fb = decision.fallback
        if fb is not None:
            ctx.log(f"transfer {target.name}: sampling fallback: {fb['outcomes']} over {fb['probe_requests']} probe "
                    f"requests ({fb['attempts']} attempts, errors {fb['errors']}) at {fb['endpoint']}"
                    + ("; kept only if logprobs are still missing after the trials" if decision.awaits_confirmation
                       else ""))
    if decision.transient is not None:
        ctx.log(f"transfer {target.name}: WARNING {decision.transient}")
    elif decision.keep:
        probes.save(PROBE_KEY, pl.DataFrame({"capabilities": [json.dumps(capabilities_json(caps))],
                                             "protocol": [json.dumps(protocol)],
                                             "decision": [json.dumps(decision.to_json())]}))


PROBE_KEY = "probe"
"""The unit holding this step's capability probe (capabilities and protocol as JSON), kept with its trials."""


def _saved_probe(probes: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None] | None:
    """(capabilities, protocol, decision) of an earlier computation of this step's data, or None. Only a decision
    that could be kept was saved (never one resting on transient errors)."""
    if not probes.done(PROBE_KEY):
        return None
    row = probes.load(PROBE_KEY).row(0, named=True)
    decision = json.loads(row["decision"]) if row.get("decision") else None
    return json.loads(row["capabilities"]), json.loads(row["protocol"]), decision


def _sources_at_k(ctx: Any, effects: pl.DataFrame, proto: dict, protocol: dict,
                  stats: Stats) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The sources' effects at the target's k when it is below theirs (rescored), else as they are; and what was done.

    Returns:
        (effects with a `k` column when the k is known, {source_top_k, recompute_k, rescored_k, k, note}).
    """
    source_k = proto.get("source_top_k") or tin.source_trials_top_k(ctx)
    need = source_recompute_k([{"protocol": protocol}], source_k) if source_k else None
    info: dict[str, Any] = {"source_top_k": source_k, "recompute_k": need, "rescored_k": None, "k": source_k}
    if protocol["estimator"] != "logprobs":
        info["note"] = (f"{protocol['estimator']} estimator: there is no k to match; the sources are kept at "
                        f"k={source_k}")
    elif need is None:
        info["note"] = _no_rescore_note(source_k, protocol["k"])
    else:
        rescored, info["note"] = tin.rescored_source_effects(ctx, need, stats)
        if rescored is not None:
            ctx.log(f"transfer: sources {info['note']}")
            return rescored, {**info, "rescored_k": need, "k": need}
        ctx.log(f"transfer: WARNING the sources stay at k={source_k}, not the target's k={need}: {info['note']}")
    if effects.height and source_k is not None:
        effects = effects.with_columns(pl.lit(int(source_k), dtype=pl.Int64).alias("k"))
    return effects, info


def _served(target: TargetSpec) -> Any:
    """A context yielding the target's api_base: its own, or that of a server interf starts and stops itself."""
    if not target.serve:
        return nullcontext(target.api_base)
    return _serving(target.serve)


@contextmanager
def _serving(ref: str) -> Iterator[str]:
    from interf_dsl.transfer.serve import serve_model  # lazy: fastapi only for serve: targets

    with serve_model(ref, threads=1) as server:
        yield server.api_base


def _count(ctx: Any, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
    ctx.counters.api_requests += 1
    ctx.counters.api_tokens += prompt_tokens + completion_tokens
    if cost is not None:
        ctx.counters.api_cost_usd += cost


def _units(ctx: Any, tr: dict, sets: dict, sentences: dict, proto: dict) -> list[Unit]:
    units = []
    for typ in sorted(sets):
        chosen = sample_prompt_sentences(sentences[typ], tr.sentences)
        for sid, text in chosen:
            trials = build_sentence_trials(typ, sid, text, sets[typ], trials=tr.trials,
                                           tokens_per_trial=proto["tokens_per_trial"], fmt=proto["format"],
                                           rng_for=ctx.rng)
            units.append(Unit(typ, sid, text, tuple(trials)))
    return units


def _no_rescore_note(source_k: int | None, k: int) -> str:
    if source_k is None:
        return "the sources' top_k is unknown (no prompt-focus block or per-trial rows): not rescored"
    if source_k == k:
        return f"the target's k equals the sources' k={k}: no rescoring needed"
    return f"the target's k={k} is above the sources' k={source_k}: they cannot be rescored upwards"


def _meta(target: TargetSpec, caps: dict[str, Any], protocol: dict, acct: Accounting, sources: dict[str, Any],
          proto: dict, n_units: int, n_failed: int, decision: dict[str, Any] | None) -> dict[str, Any]:
    meta_protocol = {**protocol, **{k: v for k, v in proto.items() if k != "source_top_k"}}
    logprobs = protocol["estimator"] == "logprobs"
    transient = (decision or {}).get("transient")
    # `transient` (a reason) tells the engine not to cache this result: the next run probes again
    return {
        **({"transient": transient} if transient else {}),
        "probe": decision,
        "target": {k: v for k, v in target.to_json().items() if k != "api_key"},
        "capabilities": caps,
        "protocol": meta_protocol,
        "source_top_k": sources["source_top_k"],
        "sources_recompute_k": sources["recompute_k"],
        "sources_rescored_k": sources["rescored_k"],
        "sources_k": sources["k"],
        "sources_rescore": sources["note"],
        # Like for like: both scored at the same k (a source k unknown to the step is taken as matching, as before).
        "sources_comparable": logprobs and (sources["k"] is None or sources["k"] == protocol["k"]),
        "accounting": acct.to_json(),
        "units": n_units, "units_failed": n_failed,
        "ratio_method": "Fieller's interval on the paired cluster-bootstrap diff (target) and the sources' "
                        "cluster-robust diff (source), SEs from CI half-widths; none when the source's diff is "
                        "within z SEs of 0 (unbounded)",
    }


def _result(ctx: Any, store: Any, units: list[Unit], protocol: dict, stats: Stats, effects: pl.DataFrame,
            meta: dict, target: TargetSpec) -> StepResult:
    meta = tin.with_accounting(ctx, meta)  # what the target was given; comparable only with the sources' own sets
    if meta["sources_sets"]["same_as_sources"] is False:
        ctx.log(f"transfer {target.name}: WARNING {meta['sources_sets']['note']}")

    effects = tin.comparable_effects(ctx, params_of("transfer", ctx.params).transfer, effects)
    keys = {u.key(protocol) for u in units}
    parts = [store.load(k) for k in store.keys() if k in keys]
    trials = (pl.concat(parts) if parts else pl.DataFrame(schema=TRIALS_SCHEMA)).sort(
        ["type", "condition", "sentence_id", "trial"])
    summary = summarize(trials, stats) if trials.height else pl.DataFrame()
    ratio = transfer_ratios(summary, source_diffs(effects), stats.ci, meta["sources_k"]) \
        if trials.height else pl.DataFrame()
    grid = grid_rows(summary, effects, meta["sources_k"]) if trials.height else pl.DataFrame()
    files = {}
    samples = {target.name: protocol["samples"]} if protocol["estimator"] == "sampling" else {}
    fig = draw_grid(grid, ctx.work_dir / "transfer_grid.png", samples) if grid.height else None
    if fig is not None:
        files["transfer_grid"] = fig
    return StepResult(tables={"transfer_trials": trials, "transfer": summary, "transfer_grid": grid,
                              "transfer_ratio": ratio}, meta=meta, files=files)
