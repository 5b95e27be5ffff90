"""Execute stage, before anything runs: check that every model, SAE and transfer target the plan needs is present.

Input: a `Plan`. Output: nothing, or one `BackendError` listing every missing piece at once (weights not on this
machine, an API key variable that is not set, an endpoint that does not answer), so a real-model spec run offline
stops in a second with the whole list instead of a traceback deep inside a step. Steps whose results are already
cached need nothing, so they are not checked.
"""

from __future__ import annotations

from collections.abc import Callable

from interf_dsl.backends.loading import LOCAL_COPY_HINT, model_problem, sae_problem
from interf_dsl.errors import BackendError, ErrorItem
from interf_dsl.lang.params import params_of
from interf_dsl.plan.ir import Plan, Step
from interf_dsl.transfer.targets import check_target_ready


def plan_problems(plan: Plan, needs_run: Callable[[Step], bool] = lambda step: True,
                  check_weights: bool = True, needs_endpoint: Callable[[Step], bool] | None = None) -> list[str]:
    """One line per missing model, SAE or target among the steps for which `needs_run(step)` is true.

    `check_weights=False` skips models and SAEs (a caller that injects its own loaders vouches for them).
    `needs_endpoint(step)` (default `needs_run`) says whether a transfer step will send requests: one that only
    re-aggregates its stored trials (a statistics change) needs neither its endpoint nor its key.
    """
    needs_endpoint = needs_endpoint or needs_run

    consumers: dict[str, list[Step]] = {}
    for step in plan.steps:
        for dep in step.inputs:
            consumers.setdefault(dep, []).append(step)
    counts: dict[str, int] = {}  # one line per distinct problem (a release serves many SAE ids)
    for step in plan.steps:
        found: list[str] = []
        if step.kind in ("load_model", "load_sae"):
            if check_weights and any(needs_run(c) for c in consumers.get(step.id, [])):
                check = model_problem if step.kind == "load_model" else sae_problem
                problem = check(step.params["model" if step.kind == "load_model" else "sae"])
                found = [problem] if problem else []
        elif step.kind == "transfer" and needs_endpoint(step):
            found = check_target_ready(step.params["target"])
        elif needs_run(step):
            found = _api_key_problems(step) + _data_problems(step)
        for problem in found:
            counts[problem] = counts.get(problem, 0) + 1
    return [p if n == 1 else f"{p} (needed by {n} steps)" for p, n in counts.items()]


def _data_problems(step: Step) -> list[str]:
    """A corpus or Neuronpedia export the spec names that is not on this machine (validate allows it, like weights:
    a spec of the paper's data validates anywhere, and a run that needs the data stops here)."""
    fingerprint = {"atlas": "corpus_fingerprint", "explain": "export_fingerprint"}.get(step.kind)
    value = step.params.get(fingerprint) if fingerprint else None
    if isinstance(value, str) and value.startswith("missing:"):
        what = "corpus (atlas.corpus)" if step.kind == "atlas" else "Neuronpedia export (atlas.explanations.path)"
        return [f"{what} {value.removeprefix('missing:')} is not on this machine"]
    return []


def _api_key_problems(step: Step) -> list[str]:
    """Explainers, embedders and sentence generators that call an API need their key variable set."""
    import os

    section = {"explain": "explanations", "embed": "embedding", "prompts": "prompts"}.get(step.kind)
    if section is None:
        return []
    cfg = getattr(params_of(step.kind, step.params), section)
    if cfg.api_key_env and not os.environ.get(cfg.api_key_env):
        return [f"{section} ({cfg.model}): environment variable {cfg.api_key_env} (the API key) is not set"]
    return []


def check_plan_ready(plan: Plan, needs_run: Callable[[Step], bool] = lambda step: True,
                     check_weights: bool = True, needs_endpoint: Callable[[Step], bool] | None = None) -> None:
    """Raise one BackendError naming everything the plan needs and this machine lacks."""

    problems = plan_problems(plan, needs_run, check_weights, needs_endpoint)
    if problems:
        hint = "nothing was run; provide what is listed and rerun the same command"
        if any("Hugging Face" in p for p in problems):
            hint = f"{LOCAL_COPY_HINT}; {hint}"
        raise BackendError(items=[ErrorItem(f"cannot run {plan.experiment}: {p}") for p in problems[:-1]]
                           + [ErrorItem(f"cannot run {plan.experiment}: {problems[-1]}", hint=hint)])
