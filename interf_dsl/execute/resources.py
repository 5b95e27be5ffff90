"""Execute stage, step kinds `load_model` and `load_sae`: models and SAEs as lazy resources.

The plan lists one `load_model` step per source and one `load_sae` step per (source, hook). Their runners load
nothing: they record the reference and fingerprint (so the step hash, and every consumer's hash, changes when the
weights do). The weights are loaded only when a step that is actually computed calls `ctx.model(source)` or
`ctx.sae(source, hook_name)`; a fully cached run therefore never imports torch or touches a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from interf_dsl.backends.device import CUDA_HINT, cuda_available, device_budget_mb, resolve_device
from interf_dsl.backends.loading import load_model, load_sae
from interf_dsl.errors import ExecuteError
from interf_dsl.lang.params import params_of
from interf_dsl.lang.sections import Execute
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


def _default_model_loader(ref: Any, device: str = "cpu") -> Any:
    return load_model(ref, device=device)


def _default_sae_loader(ref: Any, device: str = "cpu") -> Any:
    # (release, id) pairs come back from JSON as lists
    return load_sae(tuple(ref) if isinstance(ref, list) else ref, device=device)


class Resources:
    """Models and SAEs of one run, loaded on first use and shared by every step of the run."""

    def __init__(self, plan: Plan, *, model_loader: Callable[[Any], Any] | None = None,
                 sae_loader: Callable[[Any], Any] | None = None, device: str = "auto",
                 memory_budget_mb: int | str = Execute.model_fields["memory_budget_mb"].default) -> None:
        self._models = {params_of("load_model", s.params).source: s for s in plan.steps if s.kind == "load_model"}
        self._saes = {(p.source, p.hook_name): s for s in plan.steps if s.kind == "load_sae"
                      for p in [params_of("load_sae", s.params)]}
        # the default loaders place the weights on the run's device; injected loaders (tests) place their own
        self._model_loader = model_loader or (lambda ref: _default_model_loader(ref, self.device))
        self._sae_loader = sae_loader or (lambda ref: _default_sae_loader(ref, self.device))
        self.device_setting = device
        """`execute.device` as set: auto, cpu or cuda."""
        self._device: str | None = None
        self.memory_budget_setting = memory_budget_mb
        """`execute.memory_budget_mb` as set: MB, or `auto`."""
        self._loaded: dict[Any, Any] = {}
        self.loads: list[str] = []
        """Ids of the load steps whose weights were actually loaded in this run (the rerun tests read it)."""

    @property
    def device(self) -> str:
        """The device models and SAEs are placed on (`execute.device` resolved on first use: torch stays unimported
        in a run that loads no weights).

        Raises:
            ExecuteError: `cuda` where torch sees no CUDA device.
        """
        if self._device is None:
            dev = resolve_device(self.device_setting)
            if dev == "cuda" and not cuda_available():
                raise ExecuteError("execute.device is cuda, but torch sees no CUDA device here", hint=CUDA_HINT)
            self._device = dev
        return self._device

    @property
    def memory_budget_mb(self) -> float:
        """`execute.memory_budget_mb` resolved on this run's device (`auto`: `backends.device.device_budget_mb`)."""
        if self.memory_budget_setting == "auto":
            return device_budget_mb(self.device)
        return float(self.memory_budget_setting)

    @property
    def resolved_budget_mb(self) -> float | None:
        """The sweep budget used (MB), or None when no weights were loaded (nothing was swept)."""
        return None if self._device is None else self.memory_budget_mb

    @property
    def resolved_device(self) -> str | None:
        """The device used, or None when nothing asked for it (no weights loaded)."""
        return self._device

    def model(self, source: str) -> Any:
        """The model of `source`, loading it on first use."""
        step = self._models.get(source)
        if step is None:
            raise ExecuteError(f"no load_model step for source {source!r} in the plan", name=source,
                               choices=tuple(str(k) for k in self._models))
        if ("model", source) not in self._loaded:
            _ = self.device  # resolved (and `cuda` checked) before any weights load
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
            _ = self.device
            self._loaded[("sae", source, hook_name)] = self._sae_loader(step.params["sae"])
            self.loads.append(step.id)
        return self._loaded[("sae", source, hook_name)]
