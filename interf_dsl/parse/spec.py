"""Parse stage, output value: the `Spec`, a frozen pydantic model of one experiment file (YAML or `.interf`).

Input: plain data (from `_source.load_yaml` or the DSL front end `dsl.py`). Output: `Spec`. Fields marked
*preset* are `None` here and get their value from the preset in `resolve/` (`paper` = the authors' protocol,
`rigorous` = the fixes of docs/method.md §8); an explicit value always wins. Keys follow ARCHITECTURE.md's spec contract.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, PrivateAttr

from interf_dsl.foci import FOCI
from interf_dsl.lang.model import Model
from interf_dsl.lang.sections import (  # noqa: F401 - re-exported: parse.spec names every section
    PAPER_BINS,
    Atlas,
    Embedding,
    Execute,
    Experiment,
    Explanations,
    Map,
    Metrics,
    Prompts,
    Report,
    SaeGroup,
    SaeRelease,
    Source,
    Stats,
    Target,
    Transfer,
)

FOCUS_MODELS: dict[str, type[Model]] = {entry.name: entry.params for entry in FOCI}
"""Each registered focus's block model (`interf_dsl/foci/`), by focus name: the one list of foci."""
Focus = Annotated[Union[tuple(FOCUS_MODELS.values())], Field(discriminator="focus")]  # noqa: UP007 - built at runtime


class Spec(Model):
    """One experiment, as written (presets not yet applied)."""

    experiment: Experiment
    """Name, seed and preset."""
    sources: dict[str, Source] = Field(min_length=1)
    """Named source models with their SAEs."""
    atlas: Atlas = Atlas()
    """Feature atlas settings."""
    map: Map = Map()
    """Interference map and pair selection."""
    interventions: tuple[Focus, ...] = ()
    """Intervention focus blocks."""
    prompts: Prompts = Prompts()
    """Test sentences."""
    metrics: Metrics = Metrics()
    """Output metrics."""
    stats: Stats = Stats()
    """Statistics."""
    transfer: Transfer | None = None
    """Black-box transfer (optional)."""
    report: Report = Report()
    """Report outputs."""
    execute: Execute = Execute()
    """Where the steps run (local or a Ray cluster): execution only, outside every hash."""

    _source: Any = PrivateAttr(default=None)

    @property
    def source(self) -> Any:
        """The `SourceMap` of the file this spec was loaded from (None when built in code)."""
        return self._source

    def __eq__(self, other: object) -> bool:
        # two spellings of one spec are equal: positions (private) do not take part
        return type(self) is type(other) and self.__dict__ == other.__dict__  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"Spec({self.experiment.name}, preset={self.experiment.preset}, sources={list(self.sources)})"


SECTION_MODELS: dict[str, type[Model]] = {
    "experiment": Experiment, "atlas": Atlas, "map": Map, "prompts": Prompts, "metrics": Metrics, "stats": Stats,
    "transfer": Transfer, "report": Report, "execute": Execute,
}
