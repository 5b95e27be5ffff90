"""Interventions kind: the building blocks the registered foci (`interf_dsl/foci/`) run with.

Input: a `StepContext`, a backend, `FocusInputs` (as `Env`). Output: `interventions` rows per unit (`steer_unit`,
`snippet_unit`; `target_units` loops them over the selected targets, checkpointed), effect rows of steering tables
(`steering_rows`) and the `effects` / `regressions` / `effect_cases` tables (`effect_tables`). A killed run resumes
at the first unit not stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interf_dsl.backends.hooked import sae_hook_name
from interf_dsl.errors import BackendError, SpecError
from interf_dsl.interventions._common import layer_type, level_of, run_units, sentences_for_tokens
from interf_dsl.interventions.effects import bh_adjust, regressions, split_cases, steering_effects
from interf_dsl.interventions.feature import steer_target
from interf_dsl.interventions.prompt_snippets import feature_snippets, snippet_rows
from interf_dsl.interventions.sweep import MetricConfig, Probe
from interf_dsl.interventions.targets import target_tokens
from interf_dsl.lang.params import params_of
from interf_dsl.metrics import metric_of_effect, nearest_target_cosine

if TYPE_CHECKING:
    import polars as pl

    from interf_dsl.lang.sections import Stats

CASE_COLUMNS = {"source": "String", "focus": "String", "tau": "Float64", "type": "String", "level": "String",
                "metric": "String", "mode": "String", "estimator": "String", "case": "String", "value": "Float64"}


def frame(rows: list[dict], meta: dict) -> pl.DataFrame:
    import polars as pl

    out = [dict(meta, **r) for r in rows]
    for r in out:
        r["level"] = level_of(r.get("condition"), r.get("bin"))
    return pl.DataFrame(out, infer_schema_length=None) if out else pl.DataFrame()


def _sae_arrays(ctx: Any, source: str, hook: str) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(hook name from the SAE's metadata, W_dec [d_sae, d], W_enc [d, d_sae])."""
    sae = ctx.sae(source, hook)
    name = sae_hook_name(sae)
    if name != hook and not hook.endswith(name) and not name.endswith(hook):
        raise BackendError(f"SAE for '{hook}' was trained on '{name}'; refusing to intervene at a different hook")
    W_dec = sae.W_dec.detach().float().cpu().numpy()
    W_enc = sae.W_enc.detach().float().cpu().numpy() if hasattr(sae, "W_enc") else None
    return name, W_dec, W_enc


def _targets(inp: Any, source: str, block: Any, ctx: Any, kinds: list[str] | None = None) -> list[dict]:
    return select_targets(inp.need("targets", ctx.step.id), source, block, kinds)


def select_targets(targets: pl.DataFrame, source: str, block: Any, kinds: list[str] | None = None) -> list[dict]:
    """The `targets` rows a steering block visits on `source` (its hooks, hook sites and targets per layer)."""
    import polars as pl

    t = targets.filter(pl.col("source") == source)
    if block.hooks:
        t = t.filter(pl.col("hook").is_in(list(block.hooks)))
    if kinds:
        t = t.filter(pl.col("hook").map_elements(layer_type, return_dtype=pl.Utf8).is_in(kinds))
    n = getattr(block, "targets_per_layer", None)  # a focus without the setting takes every selected target
    if n:
        t = t.sort("target").group_by(["hook", "tau"], maintain_order=True).head(int(n))
    return t.sort(["hook", "tau", "target"]).to_dicts()


class Env:
    """What every unit needs: params, the focus block as its typed params model, backend, tables, embeddings."""

    def __init__(self, ctx: Any, backend: Any, inp: Any, block_model: Any) -> None:
        self.ctx, self.backend, self.inp = ctx, backend, inp
        self.params = params_of("intervene", ctx.params)
        # the block as its focus's params model: every setting typed, its defaults in one place (the model)
        self.block = block_model.model_validate({**self.params.block, "focus": self.params.focus})
        self.source = self.params.source
        self.metrics = self.params.metrics
        self.cfg = MetricConfig(top_k=self.metrics.top_k, epsilon=self.metrics.epsilon)
        if getattr(self.block, "top_k", None) is not None:  # the foci that read their own top-k
            self.cfg.top_k = int(self.block.top_k)
        # execute.memory_budget_mb: sentences batched per sweep on an accelerator; on a CPU one at a time (batching
        # measured 0.6x the per-sentence path there: the unembedding and metrics grow with the rows either way)
        self.memory_budget_mb = None if backend.on_cpu else ctx.memory_budget_mb
        self.W_E = backend.embedding()
        self._sae: dict[str, Any] = {}

    def sae(self, hook: str) -> tuple[str, np.ndarray, np.ndarray | None]:
        if hook not in self._sae:
            self._sae[hook] = _sae_arrays(self.ctx, self.source, hook)
        return self._sae[hook]

    def feature_row(self, hook: str, feature: int) -> dict:
        import polars as pl

        f = self.inp.need("features", self.ctx.step.id)
        rows = f.filter((pl.col("source") == self.source) & (pl.col("hook") == hook) & (pl.col("feature") == feature))
        if rows.height == 0:
            raise SpecError(f"feature {feature} of {self.source}/{hook} is not in the atlas")
        return rows.row(0, named=True)

    def hook_features(self, hook: str) -> pl.DataFrame:
        import polars as pl

        f = self.inp.need("features", self.ctx.step.id)
        return f.filter((pl.col("source") == self.source) & (pl.col("hook") == hook))

    def probe_for(self, hook: str, feature: int) -> tuple[Probe, list[str]]:

        tf = target_tokens(self.feature_row(hook, feature), float(self.metrics.target_ratio),
                           int(self.metrics.target_tokens))
        ids = [i for _, i in tf]
        return Probe(ids, nearest_target_cosine(self.W_E, ids)) if ids else Probe([], np.zeros(0)), [t for t, _ in tf]

    def partners(self, hook: str, tau: Any, target: int) -> list[dict]:
        import polars as pl

        p = self.inp.need("partners", self.ctx.step.id)
        return p.filter((pl.col("source") == self.source) & (pl.col("hook") == hook) & (pl.col("tau") == tau)
                        & (pl.col("target") == target)).to_dicts()

    def sentences(self, tokens: list[str]) -> list[dict]:
        s = sentences_for_tokens(self.inp.need("sentences", self.ctx.step.id), tokens)
        n = getattr(self.block, "sentences_per_target", None)
        return s[: int(n)] if n else s


def steer_unit(env: Env, t: dict, focus: str, candidates: Any) -> pl.DataFrame:
    """Steer one target (hook × τ × target) along the vectors `candidates(env, case)` returns, on its sentences.

    `case` holds hook, tau, target, hook_name (the SAE's own hook), W_dec, W_enc, partners and rng (seeded by what
    the draw is for: focus, hook, τ and target).
    """

    hook, tau, target = t["hook"], t["tau"], int(t["target"])
    name, W_dec, W_enc = env.sae(hook)
    probe, tokens = env.probe_for(hook, target)
    sents = env.sentences(tokens)
    meta = {"source": env.source, "hook": name, "layer_type": layer_type(name), "focus": focus, "tau": tau,
            "target": target}
    if not probe.target_ids or not sents:
        return frame([], meta)
    case = {"hook": hook, "tau": tau, "target": target, "hook_name": name, "W_dec": W_dec, "W_enc": W_enc,
            "partners": env.partners(hook, tau, target), "rng": env.ctx.rng(f"{focus}|{hook}|{tau}|{target}")}
    scales = [float(a) for a in env.block.scales]
    return frame(steer_target(env.backend, name, candidates(env, case), sents, probe, scales, env.cfg,
                              memory_budget_mb=env.memory_budget_mb), meta)


def snippet_unit(env: Env, t: dict) -> pl.DataFrame:
    import polars as pl


    hook, tau, target = t["hook"], t["tau"], int(t["target"])
    probe, tokens = env.probe_for(hook, target)
    meta = {"source": env.source, "hook": hook, "layer_type": layer_type(hook), "focus": "prompt", "tau": tau,
            "target": target}
    ctxs = env.inp.need("contexts", env.ctx.step.id).filter((pl.col("source") == env.source)
                                                              & (pl.col("hook") == hook))
    cands: list[tuple[dict, str]] = []
    for k, sn in enumerate(feature_snippets(ctxs, target, set(), env.block)):
        cands.append(({"condition": "self", "candidate": k, "partner": target, "I": 1.0}, sn))
    counts: dict[str, int] = {}
    for p in sorted(env.partners(hook, tau, target), key=lambda r: (str(r["bin"]), r.get("rank") or 0)):
        for sn in feature_snippets(ctxs, int(p["partner"]), set(tokens), env.block):
            k = counts.get(str(p["bin"]), 0)
            counts[str(p["bin"])] = k + 1
            cands.append(({"condition": "bin", "candidate": k, "bin": str(p["bin"]), "partner": int(p["partner"]),
                           "I": float(p["I"]), "S": float(p["S"])}, sn))
    rows = []
    if probe.target_ids:
        for s in env.sentences(tokens):
            rows += snippet_rows(env.backend, cands, s, probe, env.cfg, env.block)
    return frame(rows, meta)


def target_units(env: Env, focus: str, unit: Any, kinds: list[str] | None = None) -> pl.DataFrame:
    """Run `unit(env, target_row)` for every selected target of this source (hook × τ × target), checkpointed."""
    import polars as pl

    targets = _targets(env.inp, env.source, env.block, env.ctx, kinds)
    by_key = {f"{t['hook']}|{t['tau']}|{t['target']}": t for t in targets}
    out = run_units(env.ctx, f"{focus}_targets", list(by_key), lambda key: unit(env, by_key[key]),
                    f"{focus} focus, {env.source}")
    return out if out is not None else pl.DataFrame()


def steering_rows(table: pl.DataFrame, stats: Stats, focus: str, log: Any) -> tuple[list[dict], list[dict]]:
    """Effect and regression rows of a steering table (feature, token and prompt-snippet foci)."""
    import polars as pl


    init = "zero" if focus == "feature" else "baseline"
    first = focus == "feature"
    levels = table["level"].unique().to_list()
    # Interference-bin levels are those of `bin` rows (select labels bins by index or by interval text).
    bins = sorted(table.filter(pl.col("condition") == "bin")["level"].unique().to_list())
    control = "random_direction" if "random_direction" in levels else (bins[0] if bins else "self")
    rows = steering_effects(table, stats, control, init, first, log)
    regs = regressions(table, stats, init, first, log) if stats.regression else []
    return rows, regs


def effect_tables(rows: list[dict], regs: list[dict], params: Any) -> tuple[pl.DataFrame, pl.DataFrame,
                                                                           pl.DataFrame]:
    """`effects` (BH within (mode, primary) families), `regressions` and `effect_cases` from a focus's rows.

    `effect_cases` holds, per effect row (its key columns), one row per case with the value the estimate averages.
    """
    import polars as pl


    # `metrics.names` says which output metrics are reported: rows of others are left out before BH families form.
    names = set(params.metrics.names)
    rows = [r for r in rows if metric_of_effect(str(r["metric"])) in names | {None}]
    regs = [r for r in regs if metric_of_effect(str(r["metric"])) in names | {None}]
    rows = bh_adjust(rows, float(params.stats.fdr), params.metrics.primary)
    cases = split_cases(rows)
    schema = {k: getattr(pl, v) for k, v in CASE_COLUMNS.items()}
    effects = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    # Key columns typed as in effect_cases even when all null, so the two tables join on them.
    effects = effects.with_columns([pl.col(k).cast(t) for k, t in schema.items() if k in effects.columns])
    case_df = pl.DataFrame(cases, schema=schema) if cases else pl.DataFrame(schema=schema)
    return effects, (pl.DataFrame(regs, infer_schema_length=None) if regs else pl.DataFrame()), case_df
