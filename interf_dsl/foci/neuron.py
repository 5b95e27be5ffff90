"""Focus `neuron`: mask or amplify activation coordinates by polysemanticity degree (docs/method.md §5.4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from interf_dsl.foci._base import NEURON_FILL, Focus, Known, Work, register
from interf_dsl.lang.fields import DegreeBins, Grid, Hooks
from interf_dsl.lang.limits import MAX_COUNT, MAX_VOCAB_COUNT
from interf_dsl.lang.model import Model

NEURON_SCALES = "{0, .1, .2, .5, .75, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 18, 20}"
"""The paper's multipliers of a neuron's activation."""
DEGREE_BINS = "1, 2-5, 6-20, 21-50, 51-100, 101-200, 201-500, 501+"
"""The paper's polysemanticity degree bins."""


class NeuronFocus(Model):
    """Neuron focus: mask or amplify activation coordinates by polysemanticity degree (docs/method.md §5.4)."""

    focus: Literal["neuron"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks this block runs on (default: every SAE hook)."""
    variant: Literal["coordinate", "mlp_hidden"] = "coordinate"
    """coordinate of the hooked space (paper) or MLP hidden unit."""
    degree_bins: DegreeBins = DEGREE_BINS
    """Degree bins; one neuron is sampled per bin and hook."""
    scales: Grid = NEURON_SCALES
    """Multipliers of the neuron's activation ([0,1) masks, > 1 amplifies)."""
    link_threshold: float = Field(0.2, ge=0)
    """Feature -> neuron link: decoder component > this."""
    cluster_cutoff: float = Field(0.4, gt=0, le=1)
    """Clusters counted at this similarity cutoff."""
    clusters_per_neuron: int = Field(3, gt=0, le=MAX_COUNT)
    """Connected clusters sampled per neuron."""
    features_per_cluster: int = Field(3, gt=0, le=MAX_COUNT)
    """Features sampled per cluster."""
    random_control: bool | None = None
    """*preset* scale random coordinates with matched variance (paper False, rigorous True)."""
    neurons_per_bin: int = Field(1, gt=0, le=MAX_COUNT)
    """Neurons sampled per degree bin and hook."""
    top_k: int = Field(10, gt=0, le=MAX_VOCAB_COUNT)
    """Predictions the metric reads."""


@register
class Neuron(Focus):
    name = "neuron"
    params = NeuronFocus
    needs_map = True

    def reports(self, block: Any) -> tuple[str, ...]:
        return ("weighted_cosine",)  # Δ weighted cosine under masking and amplifying (docs/method.md §5.4)

    def estimate(self, block: Any, spec: Any, n_hooks: int, known: Known | None = None) -> Work:
        # one sweep (both coordinates), one pass reading the hook's width, and with the random control the
        # activations its matched coordinate is drawn from
        per_sentence = 3 + (2 if block.random_control else 1) * len(block.scales) + (1 if block.random_control else 0)
        if known is not None and block.variant == "coordinate":
            sentences = _counted_sentences(block, known)
            return Work(forward_passes=sum(sentences) * per_sentence, units=n_hooks)
        draws = n_hooks * len(block.degree_bins) * block.neurons_per_bin
        features = draws * block.clusters_per_neuron * block.features_per_cluster * NEURON_FILL
        return Work(forward_passes=round(features * spec.prompts.per_token * per_sentence), units=n_hooks)

    def steers(self, block: dict[str, Any]) -> bool:
        return False

    def funnel(self, inp: Any, params: Any) -> list[tuple[str, int]]:
        from interf_dsl.interventions.diagnose import neuron_funnel  # lazy: numpy only when a focus runs

        return neuron_funnel(inp, params)

    def run(self, env: Any) -> Any:
        from interf_dsl.interventions.loops_neuron import neuron_units  # lazy: numpy only when a focus runs

        return neuron_units(env)

    def effect_rows(self, table: Any, params: Any, log: Any) -> tuple[list[dict], list[dict]]:
        from interf_dsl.interventions import effects_rates  # lazy: numpy only when a focus runs

        return effects_rates.neuron_effects(table, params.stats, log), []

    def figures(self, table: Any, effects: Any, work_dir: Path, bins: list[str] | None = None) -> dict[str, Path]:
        from interf_dsl.interventions.figures import neuron_boxes  # lazy: numpy only when a focus runs

        return {"neuron_by_degree.png": neuron_boxes(table, Path(work_dir) / "neuron_by_degree.png")}


def _counted_sentences(block: Any, known: Known) -> list[int]:
    """Sentences of every feature the runner measures: its neurons drawn as the run draws them (same stream), each
    feature's top token looked up in the sentences table (`loops_neuron.neuron_units`)."""
    import polars as pl

    from interf_dsl.interventions._common import sentences_for_tokens  # lazy: numpy only when a focus runs
    from interf_dsl.interventions.counting import feature_row, hook_rows  # lazy: polars only when counting
    from interf_dsl.interventions.neuron import sample_neurons  # lazy: numpy only when a focus runs

    inp, source = known.inputs, known.source
    if inp.neurons is None or inp.features is None or inp.sentences is None:
        return []
    have = set(inp.sentences.filter(pl.col("kind") == "vocab")["token_str"].to_list())
    out = []
    for hook in sorted(block.hooks or ()):
        feats = hook_rows(inp.features, source, hook)
        ok = {int(f) for f, toks in feats.select("feature", "top_tokens").iter_rows() if toks and toks[0] in have}
        clusters = None if inp.clusters is None else hook_rows(inp.clusters, source, hook)
        for n in sample_neurons(hook_rows(inp.neurons, source, hook), feats, clusters, block,
                                known.rng(f"neuron|{hook}"), usable=ok.__contains__):
            for f in n["features"]:
                row = feature_row(inp.features, source, hook, f) or {}
                if row.get("top_tokens"):
                    out.append(len(sentences_for_tokens(inp.sentences, [row["top_tokens"][0]])))
    return out
