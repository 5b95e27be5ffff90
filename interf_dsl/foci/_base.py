"""Foci, the contract: what one registered intervention focus provides to every stage.

A focus is one module in `interf_dsl/foci/` holding its parameters model (the spec block) and a `Focus` subclass,
registered with `@register`. Parse builds the `interventions` union from the registered models; resolve, plan, the
`intervene` runner and the report call the methods below, never `if focus == ...`. Everything heavy (torch,
polars, the interventions kind's loops) is imported inside the methods, so registering costs nothing at validate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from interf_dsl.lang.ast import split_hook
from interf_dsl.lang.model import Model
from interf_dsl.registry import Registry

if TYPE_CHECKING:
    import polars as pl


STEERING_METRICS = ("weighted_cosine", "weighted_overlap", "kl")
"""What a steering focus reports: toward-target change in both metrics, and disruption (KL) at the chosen α."""
PAPER_SCALES = "±{0.5, 1, 1.5, 2, 3..10, 12, 14, 17, 20}"
"""The paper's 32 steering scales α (docs/method.md §5.1)."""
SOURCES_DOC = "Sources this block runs on (default: all)."


SENTENCE_FILL = 0.4
"""Expected share of a target's sentence slots (metrics.target_tokens x prompts.per_token) that a run fills: T_f
keeps only tokens at >= target_ratio x the feature's max activation, and a token may be mined fewer times. Measured
on specs/demo.yaml: 193 sentences for 48 feature targets and 71 for 16 token targets, of 10 slots each (0.40,
0.44). Used only when the plan cannot read the select and prompts tables (`Known`)."""
GRADIENT_POSITIONS = 1.6
"""Expected positions per top context at activation >= position_ratio x its max (token focus; one gradient pass
each). Measured on specs/demo.yaml: 285 gradient passes over 180 contexts."""
NEURON_FILL = 0.4
"""Expected share of the neuron focus's (hook, degree bin, cluster, feature) draws that give a measured feature
(a bin with no neuron, a neuron with fewer clusters, a feature whose top token has no sentence). Measured on
specs/demo.yaml: 14 of 36."""


@dataclass(frozen=True)
class Known:
    """An intervene step's input tables when the plan can read them (its select, prompts, atlas and map steps are
    cached): `estimate` then counts the cases the runner will visit instead of expecting them."""

    inputs: Any
    """`interventions._common.FocusInputs` of the step."""
    source: str
    rng: Callable[[str], Any]
    """The step's `ctx.rng(stream)` (same seed as the run's), for foci whose sampling decides the cases."""


def targets_of(spec: Any, n_hooks: int, per_layer: int) -> int:
    """Targets a steering block visits on one source: per layer and hook, at every τ."""
    return per_layer * n_hooks * len(spec.map.thresholds)


def sentences_per_target(spec: Any, block: Any) -> float:
    """Vocabulary sentences one target is expected to be measured on (its filled share of T_f tokens x sentences
    each, `SENTENCE_FILL`, capped by the block)."""
    mined = spec.metrics.target_tokens * spec.prompts.per_token * SENTENCE_FILL
    cap = getattr(block, "sentences_per_target", None)
    return min(mined, cap) if cap else mined


def sweep_passes(sentences: float, candidates: float, scales: int) -> float:
    """Forward passes of one batched sweep per sentence: the baseline logits, the blocks up to the hook (run once,
    continued from per row) and one row per candidate x scale (`interventions.sweep.sweep_sentence`)."""
    return sentences * (2 + candidates * scales) if candidates else 0.0


@dataclass(frozen=True)
class Work:
    """A plan-time estimate of one focus block on one source (the plan turns it into a `WorkEstimate`)."""

    forward_passes: int = 0
    gradient_passes: int = 0
    units: int = 1


class Focus:
    """Base of a registered focus; subclasses set `name` and `params` and override what they need."""

    name: ClassVar[str]
    params: ClassVar[type[Model]]
    needs_map: ClassVar[bool] = False
    """The plan wires this SAE's `map` step in too (neuron degrees, feature clusters)."""
    feeds_transfer: ClassVar[bool] = False
    """Transfer steps compare their targets to this focus's steps (the sources' Table-1 rows)."""

    @property
    def summary(self) -> str:
        """One line for `interf list`: the params model's docstring after its `Name focus:` label."""
        doc = (self.params.__doc__ or "").strip().splitlines()
        return doc[0].split(": ", 1)[-1].rstrip(".") if doc else ""

    # resolve ---------------------------------------------------------------------------------------------------
    def check(self, block: Any, key_path: tuple, sources: tuple[str, ...], error: Any) -> None:
        """Checks beyond the params model (names a field can't know); `error(message, key_path, **kw)` reports."""

    def uses_hook(self, block: Any, hook: str) -> bool:
        """Whether the block runs on an SAE hook of its sources (before `hooks:` narrows them)."""
        return True

    def no_hook_hint(self, block: Any) -> str | None:
        """A hint for a block left with no hook to run on."""
        return None

    # plan ------------------------------------------------------------------------------------------------------
    def estimate(self, block: Any, spec: Any, n_hooks: int, known: Known | None = None) -> Work:
        """Forward and gradient passes of the block on one source with `n_hooks` hooks (`spec`: ResolvedSpec):
        expected from the settings, or, given `known` input tables, counted over the cases the runner visits."""
        raise NotImplementedError

    def select_params(self, blocks: list[Any], spec: Any) -> dict[str, Any]:
        """What the `select` step must build for this focus's blocks (merged into its params); usually nothing."""
        return {}

    def reports(self, block: Any) -> tuple[str, ...]:
        """The output metrics (METRICS names) this block's effects measure; `metrics.names` must list one."""
        return STEERING_METRICS

    # execute ---------------------------------------------------------------------------------------------------
    def steers(self, block: dict[str, Any]) -> bool:
        """A funnel stage at zero means no case at all (so the runner does not even load the model)."""
        return True

    def funnel(self, inp: Any, params: Any) -> list[tuple[str, int]]:
        """(stage, count) pairs saying how many cases survive each filter (`diagnose.py`)."""
        from interf_dsl.interventions.diagnose import steer_funnel  # lazy: numpy only when a focus runs

        return steer_funnel(inp, params)

    def run(self, env: Any) -> pl.DataFrame:
        """The `interventions` rows of one step (its unit loop, checkpointed through `ctx.units`)."""
        raise NotImplementedError

    def effect_rows(self, table: pl.DataFrame, params: Any, log: Any) -> tuple[list[dict], list[dict]]:
        """Effect rows (both statistics modes) and regression rows of a non-empty `interventions` table."""
        from interf_dsl.interventions.loops import steering_rows  # lazy: numpy only when a focus runs

        return steering_rows(table, params.stats, self.name, log)

    def figures(self, table: pl.DataFrame, effects: pl.DataFrame, work_dir: Path,
                bins: list[str] | None = None) -> dict[str, Path]:
        """Figure files of the step, named relative to its work dir; `bins` labels bin index k by its
        interference range (select's `bin_labels`)."""
        from interf_dsl.interventions.figures import effect_by_level  # lazy: numpy only when a focus runs

        name = f"{self.name}_by_level.png"
        return {name: effect_by_level(effects, self.name, Path(work_dir) / name, bins)}


def site_of(hook: str) -> str | None:
    """The site (`attn_out`, `resid_post`, ...) of a TransformerLens hook name."""
    return split_hook(hook)[1]


FOCI: Registry[Focus] = Registry("intervention focus")


def register(cls: type[Focus]) -> type[Focus]:
    """Class decorator: register one instance of a focus under its `name`, with its params model."""
    instance = cls()
    FOCI.add(cls.name, instance, summary=instance.summary, params=cls.params)
    return cls
