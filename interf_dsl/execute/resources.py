"""Execute stage, step kinds `load_model` and `load_sae`: models and SAEs as lazy resources.

The plan lists one `load_model` step per source and one `load_sae` step per (source, hook). Their runners load
nothing: they record the reference and fingerprint (so the step hash, and every consumer's hash, changes when the
weights do). The weights are loaded only when a step that is actually computed calls `ctx.model(source)` or
`ctx.sae(source, hook_name)`; a fully cached run therefore never imports torch or touches a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from interf_dsl.backends.loading import load_model, load_sae
from interf_dsl.errors import ExecuteError
from interf_dsl.lang.params import params_of
from interf_dsl.steps import StepContext, StepResult, step_runner

if TYPE_CHECKING:
    from interf_dsl.plan.ir import Plan


@step_runner("load_model", summary="record a model reference and fingerprint (weights load lazily)")
def run_load_model(ctx: StepContext) -> StepResult:
    """Record the model reference; the model itself loads on first `ctx.model(source)`."""
    p = params_of("load_model", ctx.params)
    return StepResult(meta={"source": p.source, "model": p.model, "fingerprint": p.fingerprint})


@step_runner("load_sae", summary="record an SAE reference and fingerprint (weights load lazily)")
def run_load_sae(ctx: StepContext) -> StepResult:
    """Record the SAE reference; the SAE itself loads on first `ctx.sae(source, hook_name)`."""
    p = params_of("load_sae", ctx.params)
    return StepResult(meta={"source": p.source, "sae": p.sae, "hook_name": p.hook_name, "fingerprint": p.fingerprint})


def _default_model_loader(ref: Any) -> Any:

    return load_model(ref)


def _default_sae_loader(ref: Any) -> Any:

    return load_sae(tuple(ref) if isinstance(ref, list) else ref)  # (release, id) pairs come back from JSON as lists


class Resources:
    """Models and SAEs of one run, loaded on first use and shared by every step of the run."""

    def __init__(self, plan: Plan, *, model_loader: Callable[[Any], Any] | None = None,
                 sae_loader: Callable[[Any], Any] | None = None) -> None:
        self._models = {params_of("load_model", s.params).source: s for s in plan.steps if s.kind == "load_model"}
        self._saes = {(p.source, p.hook_name): s for s in plan.steps if s.kind == "load_sae"
                      for p in [params_of("load_sae", s.params)]}
        self._model_loader = model_loader or _default_model_loader
        self._sae_loader = sae_loader or _default_sae_loader
        self._loaded: dict[Any, Any] = {}
        self.loads: list[str] = []
        """Ids of the load steps whose weights were actually loaded in this run (the rerun tests read it)."""

    def model(self, source: str) -> Any:
        """The model of `source`, loading it on first use."""
        step = self._models.get(source)
        if step is None:
            raise ExecuteError(f"no load_model step for source {source!r} in the plan", name=source,
                               choices=tuple(str(k) for k in self._models))
        if ("model", source) not in self._loaded:
            self._loaded[("model", source)] = self._model_loader(step.params["model"])
            self.loads.append(step.id)
        return self._loaded[("model", source)]

    def sae(self, source: str, hook_name: str) -> Any:
        """The SAE of (`source`, `hook_name`), loading it on first use."""
        step = self._saes.get((source, hook_name))
        if step is None:
            choices = tuple(f"{s}/{h}" for s, h in self._saes)
            raise ExecuteError(f"no load_sae step for {source}/{hook_name} in the plan",
                               name=f"{source}/{hook_name}", choices=choices)
        if ("sae", source, hook_name) not in self._loaded:
            self._loaded[("sae", source, hook_name)] = self._sae_loader(step.params["sae"])
            self.loads.append(step.id)
        return self._loaded[("sae", source, hook_name)]
