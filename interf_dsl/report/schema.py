"""Report stage: versioned schemas of the run-directory tables, and `conform()` for stable parquet output.

Every table in `tables/` is the concatenation of one named table over every step that produced it, with a leading
`step` column (the step id), so `tables/effects.parquet` holds the effects of all `intervene:*` steps. A table's
keys are `step` plus its declared keys; they identify a row across runs and are what `interf diff` aligns on.
Tables not declared here are allowed: their keys are `step` plus every non-float, non-list column.

Versioning (see README.md): adding a documented column with a default is a minor change; renaming, retyping or
dropping a column, or changing keys, bumps `SCHEMA_VERSION` and adds a migration in `report/migrate.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interf_dsl.errors import ReportError

if TYPE_CHECKING:
    import polars as pl

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class EffectSpec:
    """How to read effects (estimate with CI) from a table, and where its per-case data lives."""

    estimate: str = "estimate"
    ci_low: str = "ci_lo"
    ci_high: str = "ci_hi"
    cases: tuple[str, ...] = ()
    """Candidate tables holding one row per case (sentence, trial) of each effect, keyed by (some of) the effect's
    keys plus `case_key`, with `case_value`; the first one present with both columns gives a diff its paired
    bootstrap deltas."""
    case_key: str = "case"
    case_value: str = "value"


@dataclass(frozen=True)
class TableSchema:
    """One documented table."""

    name: str
    stage: str
    keys: tuple[str, ...]
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)
    """column -> (dtype: str|i64|f64|bool|cat|i32|f32|list, description); keys are documented here too."""
    effect: EffectSpec | None = None


def _t(name: str, stage: str, keys: tuple[str, ...], effect: EffectSpec | None = None,
       **cols: tuple[str, str]) -> TableSchema:
    return TableSchema(name, stage, keys, dict(cols), effect)


_S, _I, _F = "str", "i64", "f64"
_C, _I32, _F32 = "cat", "i32", "f32"  # narrow dtypes of the large map tables (pairs: ~2 M rows at 32k features)
_EFFECT_COLS = dict(
    mode=(_S, "statistics mode: paper (the authors' protocol) or rigorous (docs/method.md §8)"),
    token_sets=(_S, "type injection: the token sets injected (the source's own name for its own sets, union or "
                    "intersection of the sources' sets built at one HIGH threshold); null elsewhere"),
    metric=(_S, "metric name"), estimator=(_S, "how the estimate and CI were computed"),
    estimate=(_F, "effect estimate"), ci_lo=(_F, "lower CI bound"), ci_hi=(_F, "upper CI bound"),
    n=(_I, "sample size behind the estimate"), p=(_F, "p-value"),
    p_bh=(_F, "Benjamini-Hochberg adjusted p within its family (one statistics mode, primary or secondary metrics)"),
)
_CASE_COLS = dict(case=(_S, "case id (sentence, prompt or trial)"), value=(_F, "per-case value of the effect"))
_EFFECT_KEYS = ("source", "hook", "focus", "tau", "type", "target", "feature", "level", "token_sets", "condition",
                "scale", "metric", "mode", "estimator")
TABLES: dict[str, TableSchema] = {t.name: t for t in (
    _t("features", "atlas", ("source", "hook", "feature"), source=(_S, "source name"),
       hook=(_S, "hook name"), feature=(_I, "SAE feature index")),
    _t("contexts", "atlas", ("source", "hook", "feature", "rank"), rank=(_I, "rank of the context")),
    _t("top_tokens", "atlas", ("source", "hook", "feature")),
    _t("feature_tokens", "atlas", ("source", "hook", "feature")),
    _t("vocab", "atlas", ("token_id",)),
    _t("explanations", "atlas", ("source", "hook", "feature"), explanation=(_S, "feature explanation")),
    _t("embeddings", "atlas", ("source", "hook", "feature"), vector=("list", "embedding vector")),
    _t("pairs", "map", ("source", "hook", "metric", "set", "feature", "partner"),
       source=(_C, "source name"), hook=(_C, "hook name"), metric=(_C, "interference metric"),
       set=(_C, "bin: seeded sample of partners per (bin, τ); top: top partners by I"),
       feature=(_I32, "SAE feature index"), partner=(_I32, "partner feature index"),
       I=(_F32, "interference"), S=(_F32, "semantic similarity (null without glosses)"),
       bin=(_I32, "interference bin (-1 outside every bin)"),
       tau_min=(_F, "bin rows: in the sample at every map τ in [tau_min, tau_max] (contiguous); top: null"),
       tau_max=(_F, "bin rows: see tau_min; top: null"),
       order=(_I32, "bin rows: index among the stored pairs of its (feature, bin) in the seeded order; the rank at "
                    "τ is the index among those whose range holds τ; top: null"),
       rank=(_I32, "top rows: rank by I; bin: null")),
    _t("map_stats", "map", ("source", "hook", "metric", "stat", "threshold"),
       stat=(_S, "n_features, n_pairs, block_rows, frac_*_below (at threshold), ols_slope (I on S over unordered "
                 "pairs), ols_se (dyadic-robust: pairs sharing a feature are dependent; the CI uses it), "
                 "ols_se_pairs (pairs as independent), ols_ci_low/high"),
       value=(_F, "the statistic's value")),
    _t("partner_counts", "map", ("source", "hook", "metric", "feature", "tau", "bin")),
    _t("links", "map", ("source", "hook", "metric", "feature", "partner")),
    _t("link_vectors", "map", ("source", "hook", "feature"),
       vector=("list", "explanation embedding of a feature with links (select compares sources with it)")),
    _t("neurons", "map", ("source", "hook", "neuron")),
    _t("clusters", "map", ("source", "hook", "cutoff", "feature")),
    _t("targets", "select", ("source", "hook", "tau", "target")),
    _t("partners", "select", ("source", "hook", "tau", "target", "bin", "partner")),
    _t("token_sets", "select", ("source", "type", "level", "token_id")),
    _t("token_set_coverage", "select", ("source", "type"),
       source=(_S, "source name, or union / intersection of the sources' sets"), type=(_S, "token type"),
       origin=(_S, "where the sets came from: labels (a token_types file), zoo, external (transfer.sets), sources"),
       labels=(_I, "label strings of the type (null for external sets)"),
       labels_in_vocab=(_I, "of those, single tokens of the source's vocabulary"),
       target=(_I, "distinct TARGET strings"), target_scorable=(_I, "TARGET strings with a token id of the source"),
       high=(_I, "distinct HIGH strings"), medium=(_I, "distinct MEDIUM strings"),
       random=(_I, "distinct RANDOM strings"), random_matched=(_I, "distinct matched-RANDOM strings"),
       not_in_vocab=(_I, "strings of the type that are no single token of the source"),
       warning=(_S, "too few scorable TARGET tokens, or empty levels")),
    _t("shared", "select", ("source_a", "hook_a", "feature_a", "partner_a", "source_b", "hook_b", "feature_b",
                            "partner_b")),
    _t("sentences", "prompts", ("sentence_id",), sentence=(_S, "sentence text")),
    _t("interventions", "interventions", ("source", "hook", "focus", "tau", "type", "token_sets", "target", "feature",
                                          "coordinate",
                                          "sentence_id", "split", "level", "candidate", "alpha", "condition",
                                          "trial", "scale", "metric", "case"),
       **_CASE_COLS,
       top_k=(_I, "type injection: the k of the top-k the trial was scored at"),
       ranks=("list", "type injection: 0-based top-k positions of the type's tokens after injection (count at "
                      "k' ≤ top_k = ranks below k'); absent in runs before it (no rescoring then)"),
       base_ranks=("list", "type injection: the same for the original sentence (base_count at k')")),
    _t("effect_cases", "interventions", (*_EFFECT_KEYS, "case"), **_CASE_COLS),
    _t("effects", "interventions", _EFFECT_KEYS, EffectSpec(cases=("effect_cases", "interventions")),
       **_EFFECT_COLS, primary=("bool", "the row measures metrics.primary (its own multiplicity family)")),
    _t("regressions", "interventions", ("mode", "model", "metric", "term"), coef=(_F, "coefficient")),
    _t("transfer_trials", "transfer", ("target", "type", "condition", "case"),
       target=(_S, "black-box target name"), type=(_S, "token type"), **_CASE_COLS),
    _t("transfer", "transfer", ("target", "type", "condition", "metric", "mode", "estimator"),
       EffectSpec(cases=("transfer_trials",)), **_EFFECT_COLS),
    _t("transfer_grid", "transfer", ("model", "role", "type", "condition"),
       model=(_S, "source or target name"), role=(_S, "source or target"), type=(_S, "token type"),
       condition=(_S, "injected set: target, high, medium, random, random_matched"),
       success_rate=(_F, "share of trials whose top-k gained a token of the type"),
       ci_lo=(_F, "lower CI bound"), ci_hi=(_F, "upper CI bound"),
       stars=(_S, "paper significance stars vs random: * p<.05, ** p<.01, *** p<.001 (either direction)"),
       estimator=(_S, "logprobs (scored top-k) or sampling"),
       k=(_I, "the top-k the rate counts; a source's rate rescored at the target's k differs from its prompt-focus "
              "rate at its own k")),
    _t("transfer_ratio", "transfer", ("target", "type", "condition", "source"),
       target_effect=(_F, "target's success-rate difference vs random"),
       source_effect=(_F, "source's success-rate difference vs random"),
       ratio=(_F, "target_effect / source_effect (NaN where there is no ratio: see method)"),
       ratio_lo=(_F, "lower Fieller CI bound (NaN when unbounded: see method)"),
       ratio_hi=(_F, "upper Fieller CI bound"),
       method=(_S, "how the ratio and CI were computed, or why there is none"),
       estimator=(_S, "target estimator"), k=(_I, "target's top-k"), source_k=(_I, "the sources' top-k")),
)}

STAGES = ("atlas", "map", "select", "prompts", "interventions", "transfer", "other")
_DTYPES = {"str": "String", "i64": "Int64", "f64": "Float64", "bool": "Boolean", "cat": "Categorical",
           "i32": "Int32", "f32": "Float32"}


def stage_of(table: str) -> str:
    """The pipeline stage a table belongs to (`other` for undeclared tables)."""
    return TABLES[table].stage if table in TABLES else "other"


def generic_keys(df: pl.DataFrame) -> list[str]:
    """Keys of an undeclared table: every column that is not float or nested."""
    return [c for c, dt in df.schema.items() if not (dt.is_float() or dt.is_nested() or str(dt) == "Object")]


def table_keys(name: str, df: pl.DataFrame) -> list[str]:
    """The keys used for table `name`: `step` plus the declared keys it has, or generic keys.

    Declared keys missing from the frame are left out (recorded in run.json, so a diff states what it aligned on);
    if the remaining keys are not unique, the generic keys are used.
    """
    if name in TABLES:
        keys = ["step"] * ("step" in df.columns) + [k for k in TABLES[name].keys if k in df.columns]
        if keys and df.select(keys).is_unique().all():
            return keys
    return generic_keys(df)


def conform(name: str, df: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Cast documented columns, order columns (keys first) and sort rows by the keys, for stable parquet.

    Returns:
        The conformed frame and its keys.

    Raises:
        ReportError: a documented column cannot be cast to its declared type.
    """
    import polars as pl

    schema = TABLES.get(name)
    if schema is not None:
        casts = {}
        for col, (dtype, _doc) in schema.columns.items():
            if col in df.columns and dtype in _DTYPES and str(df.schema[col]) != _DTYPES[dtype]:
                casts[col] = getattr(pl, _DTYPES[dtype])
        try:
            df = df.cast(casts) if casts else df
        except pl.exceptions.PolarsError as exc:
            raise ReportError(f"table {name!r}: a column does not match its documented type ({exc})") from None
    keys = table_keys(name, df)
    df = df.select(keys + [c for c in df.columns if c not in keys])
    sortable = [k for k in keys if not df.schema[k].is_nested()]
    if sortable and df.height:
        df = df.sort(sortable, nulls_last=True, maintain_order=True)
    return df, keys
