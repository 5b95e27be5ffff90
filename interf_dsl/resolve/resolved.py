"""Resolve stage, output value: `ResolvedSpec`, the frozen hand-off to the plan compiler.

Every preset field holds a concrete value, every source is bound to a model reference and (where known without
loading weights) its architecture, every SAE hook to a canonical hook name and an SAE reference, and every focus
block to the sources it runs on. Sections reuse the spec models, so `ResolvedSpec.<section>.model_dump(mode="json")`
is exactly what a step's params carry.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from interf_dsl.parse.spec import (
    Atlas,
    Execute,
    Experiment,
    Focus,
    Map,
    Metrics,
    Model,
    Prompts,
    Report,
    Stats,
    Transfer,
)


class ArchInfo(Model):
    """Architecture facts known without loading weights."""

    name: str
    """Canonical model name (catalog or zoo)."""
    n_layers: int
    """Number of blocks."""
    d_model: int
    """Residual width."""
    d_mlp: int | None = None
    """MLP hidden width."""
    d_vocab: int | None = None
    """Vocabulary size."""
    n_ctx: int | None = None
    """Context length: the longest token sequence the model takes (positional embeddings)."""
    sites: tuple[str, ...]
    """Shorthand hook sites present in every block."""


class ResolvedSAE(Model):
    """One SAE bound to one hook of one source."""

    source: str
    """Source name."""
    hook_name: str
    """Canonical TransformerLens hook name, e.g. blocks.1.hook_resid_post."""
    short: str
    """Shorthand used in step ids, e.g. L1.resid_post."""
    layer: int | None
    """Block index (None for hooks outside blocks)."""
    site: str | None
    """Shorthand site (None for hooks without one)."""
    ref: str
    """SAE reference for the loaders: zoo:gpt2-tiny/L1.resid_post, release=...,id=..., or a local directory."""
    kind: Literal["zoo", "release", "local"]
    """How `ref` is loaded."""
    d_sae: int | None = None
    """Number of features when known from a catalog (feeds work estimates)."""


class ResolvedSource(Model):
    """A source model bound to its reference, architecture and SAEs."""

    name: str
    """Source name in the spec."""
    model: str
    """Model reference for the loaders (zoo:<name>, a transformer_lens name, or a local directory)."""
    kind: Literal["zoo", "transformer_lens", "local"]
    """How `model` is loaded."""
    seed: int
    """Selection seed."""
    arch: ArchInfo | None
    """Architecture (None when unknown without loading: then hooks are checked at load time)."""
    saes: tuple[ResolvedSAE, ...]
    """SAEs, sorted by layer and site."""
    token_types: str | None = None
    """Token-type label file ({token_string: type}); None for the zoo, which ships its labels."""

    def hooks(self) -> tuple[str, ...]:
        return tuple(s.hook_name for s in self.saes)


class ResolvedSpec(Model):
    """The spec with every name bound and every default applied."""

    experiment: Experiment
    """Experiment settings."""
    preset: Literal["paper", "rigorous"]
    """Preset applied."""
    seed: int
    """Master seed."""
    spec_path: str | None = None
    """Path of the spec file."""
    spec_sha256: str
    """sha256 of the spec text (of its canonical JSON when built in code)."""
    sources: dict[str, ResolvedSource]
    """Sources by name."""
    atlas: Atlas
    """Atlas settings (preset fields filled)."""
    map: Map
    """Map settings (preset fields filled)."""
    interventions: tuple[Focus, ...]
    """Focus blocks; `sources` always filled, `hooks` filled per block (union over its sources)."""
    prompts: Prompts
    """Prompt settings."""
    metrics: Metrics
    """Metrics (preset fields filled; top_k None = full vocabulary)."""
    stats: Stats
    """Statistics (preset fields filled)."""
    transfer: Transfer | None
    """Transfer settings."""
    report: Report
    """Report settings."""
    execute: Execute = Execute()
    """Where the steps run (execution only: no step's params carry it)."""
    preset_fields: dict[str, Literal["preset", "explicit"]] = Field(default_factory=dict)
    """For every preset field: whether the preset filled it or the spec set it."""

    def focus_hooks(self, block: Focus, source: str) -> tuple[str, ...]:
        """Hooks of `source` a focus block runs on (its hooks restricted to the source's SAE hooks)."""
        src = self.sources[source]
        return tuple(h for h in src.hooks() if block.hooks is None or h in block.hooks)

    def sae(self, source: str, hook_name: str) -> ResolvedSAE:
        for s in self.sources[source].saes:
            if s.hook_name == hook_name:
                return s
        raise KeyError((source, hook_name))

    def __str__(self) -> str:
        n = sum(len(s.saes) for s in self.sources.values())
        return f"ResolvedSpec({self.experiment.name}, preset={self.preset}, {len(self.sources)} sources, {n} SAEs)"
