"""The parameters of each plan step kind, as frozen models of the spec's sections.

`plan/compile.py` builds every step's params through the model of its kind (`STEP_PARAMS`) and stores their JSON,
which the step hash is computed over: a step whose params do not fit its model is a plan-time error, never a
runner's surprise. `params_of(step)` reads a step's params back as its model. The `intervene` step's `block` is
validated by its focus's own model (`interf_dsl/foci/`), which this layer below the kinds cannot name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from interf_dsl.lang.sections import (
    AtlasStats,
    Embedding,
    Explanations,
    Map,
    Metrics,
    Prompts,
    Report,
    Stats,
    Target,
    TransferSettings,
)


class StepParams(BaseModel):
    """Base of the step params models: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LoadModelParams(StepParams):
    source: str
    model: str
    fingerprint: str


class LoadSaeParams(StepParams):
    source: str
    sae: str
    hook_name: str
    fingerprint: str


class AtlasParams(StepParams):
    source: str
    sae: str
    hook_name: str
    atlas: AtlasStats
    corpus_fingerprint: str


class ExplainParams(StepParams):
    source: str
    sae: str
    explanations: Explanations
    export_fingerprint: str | None = None
    """Content hash of a Neuronpedia export (`explanations.path`, whose location is execution-only)."""


class EmbedParams(StepParams):
    embedding: Embedding


class MapParams(StepParams):
    source: str
    sae: str
    hook_name: str
    map: Map


class SelectTokenSets(StepParams):
    """What `select` builds Table-1 token sets from (types of the type-injection blocks and the transfer section)."""

    types: tuple[str, ...] = ()
    high_threshold: float | dict[str, float] | None = None
    union_high_threshold: float | None = None
    """HIGH threshold of the sources' union/intersection sets when `high_threshold` differs per source (the paper's
    large-model rows: one threshold for every model)."""
    medium_threshold: float | None = None
    interference_min: float | None = None
    semantic_max: float | None = None
    tokens_per_feature: int | None = None
    labels: dict[str, str] | None = None
    labels_fingerprint: dict[str, str] | None = None
    """Content hash of each `labels` file (their locations are execution-only)."""
    sets: str | None = None
    """External token sets (`transfer.sets`): when set, every source takes these sets (their strings scored by the
    source's own ids) instead of building its own, so sources and targets inject the same tokens."""
    sets_fingerprint: str | None = None
    """Content hash of `sets` (its location is execution-only)."""


class TargetSelection(StepParams):
    """Explicit target features of one SAE (`map.targets`)."""

    source: str
    hook_name: str
    features: tuple[int, ...]


class SelectParams(StepParams):
    map: Map
    seeds: dict[str, int]
    token_sets: SelectTokenSets | None
    targets: tuple[TargetSelection, ...] | None = None


class PromptsParams(StepParams):
    prompts: Prompts
    metrics: Metrics
    file_fingerprint: str | None = None
    """Content hash of `prompts.path` (its location is execution-only)."""


class InterveneParams(StepParams):
    focus: str
    source: str
    block: dict[str, Any]
    metrics: Metrics
    stats: Stats


class TransferParams(StepParams):
    target: Target
    transfer: TransferSettings
    metrics: Metrics
    stats: Stats
    sets_fingerprint: str | None = None
    """Content hash of `transfer.sets` (its location is execution-only)."""
    prompt_sets_fingerprint: str | None = None
    """Content hash of `transfer.prompt_sets`."""


class ReportParams(StepParams):
    report: Report


STEP_PARAMS: dict[str, type[StepParams]] = {
    "load_model": LoadModelParams, "load_sae": LoadSaeParams, "atlas": AtlasParams, "explain": ExplainParams,
    "embed": EmbedParams, "map": MapParams, "select": SelectParams, "prompts": PromptsParams,
    "intervene": InterveneParams, "transfer": TransferParams, "report": ReportParams,
}
"""Step kind -> its params model (the step kinds of `interf_dsl.steps.STEP_KIND_SUMMARIES`)."""


def step_params_json(kind: str, **values: Any) -> dict[str, Any]:
    """The params of a step of `kind`, validated by its model, as the JSON the step hash covers.

    `values` are JSON values (section dumps); only the keys given appear in the result, so an optional key the
    plan leaves out stays out of the hash.
    """
    return STEP_PARAMS[kind].model_validate(values).model_dump(mode="json", exclude_unset=True)


def params_of(kind: str, params: dict[str, Any] | StepParams) -> Any:
    """A step's params as its kind's model: `ctx.params` (the stored JSON, or a model a caller built) read typed."""
    return params if isinstance(params, STEP_PARAMS[kind]) else STEP_PARAMS[kind].model_validate(params)
