"""Resolve stage, entry point: `Spec` -> `ResolvedSpec` (preset defaults applied, names bound, meaning checked).

Input: a `Spec` (from `load_spec` or built in code). Output: a frozen `ResolvedSpec`. All independent problems are
collected and raised together as one `ResolveError`, each located in the spec file when the spec came from one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from interf_dsl.backends.checkpoints import DEFAULT_PROCESSING, split_processing
from interf_dsl.backends.device import CUDA_HINT, DEVICES, cuda_available
from interf_dsl.foci import FOCI
from interf_dsl.lang.ast import short_hook
from interf_dsl.lang.fields import hook_sort_key
from interf_dsl.lang.selectors import parse_selector
from interf_dsl.parse.spec import Spec
from interf_dsl.resolve import catalogs, limits
from interf_dsl.resolve.context import Context
from interf_dsl.resolve.files import absolute, check_files, local_paths, spec_folder
from interf_dsl.resolve.presets import PRESET_VALUES
from interf_dsl.resolve.resolved import ResolvedSpec
from interf_dsl.resolve.sources import resolve_sources


def resolve_spec(spec: Spec, *, require_data: bool = False) -> ResolvedSpec:
    """Apply the preset, bind sources/SAEs/focus blocks, check meaning; raise one `ResolveError` with every item.

    Local paths become absolute, relative ones taken from the spec file's folder (`files.py`). The study's own files
    must exist and parse; downloaded datasets (corpus, Neuronpedia export) are checked when present, and must be
    present with `require_data=True` (before a run).
    """
    ctx = Context(spec.source)
    base = spec_folder(ctx)
    preset = spec.experiment.preset
    sources = resolve_sources(spec.sources, spec.experiment.seed, ctx, base)
    marks: dict[str, str] = {}
    sections = {name: _fill(getattr(spec, name), name, preset, marks) for name in ("atlas", "map", "metrics", "stats")}
    metrics = sections["metrics"]
    if metrics.top_k == "full":
        metrics = metrics.model_copy(update={"top_k": None})
    blocks = tuple(_fill_block(b, i, spec, sources, preset, marks, ctx) for i, b in enumerate(spec.interventions))
    _check_kinds(spec, ctx)
    _check_targets(spec, sources, ctx)
    _check_transfer(spec, ctx)
    _check_token_labels(spec, blocks, ctx)
    _check_ones_probe(blocks, sources, ctx)
    check_device(spec.execute, ctx)
    _check_contradictions(spec, sections, ctx)
    check_files(spec, local_paths(spec, base), ctx, require_data)
    limits.check_models(spec, sources, sections, ctx)
    limits.check_prompt_lengths(spec, sources, ctx)
    limits.check_templates(spec, ctx)
    limits.check_repeats(spec, ctx)
    ctx.raise_if_any()
    transfer = _fill(spec.transfer, "transfer", preset, marks) if spec.transfer is not None else None
    resolved = ResolvedSpec(
        experiment=spec.experiment, preset=preset, seed=spec.experiment.seed,
        spec_path=spec.source.path if spec.source else None, spec_sha256=_sha(spec),
        sources=sources, atlas=_absolute(sections["atlas"], base), map=sections["map"], interventions=blocks,
        prompts=_absolute(spec.prompts, base), metrics=metrics, stats=sections["stats"],
        transfer=_absolute(transfer, base), report=spec.report, execute=spec.execute, preset_fields=marks,
    )
    limits.check_work(resolved, ctx)
    ctx.raise_if_any()
    return resolved


def _absolute(section: Any, base: Path) -> Any:
    """A section with its local paths absolute (atlas: corpus, explanations.path; prompts: path; transfer: sets,
    prompt_sets); zoo references and unset paths kept."""
    if section is None:
        return None
    update: dict[str, Any] = {}
    for key in ("corpus", "path", "sets", "prompt_sets"):
        value = getattr(section, key, None)
        if isinstance(value, str) and value and not value.startswith("zoo:"):
            update[key] = absolute(value, base)
    explanations = getattr(section, "explanations", None)
    if explanations is not None and explanations.path:
        update["explanations"] = explanations.model_copy(update={"path": absolute(explanations.path, base)})
    return section.model_copy(update=update) if update else section


def _sha(spec: Spec) -> str:
    if spec.source is not None:
        return hashlib.sha256(spec.source.text.encode("utf-8")).hexdigest()
    return hashlib.sha256(spec.model_dump_json().encode("utf-8")).hexdigest()


def _fill(section: Any, name: str, preset: str, marks: dict[str, str], prefix: str | None = None) -> Any:
    """Fill the `None` preset fields of one section model; record preset/explicit for each."""
    prefix = prefix or name
    update: dict[str, Any] = {}
    for path, values in PRESET_VALUES.items():
        head, _, fld = path.rpartition(".")
        if head != prefix:
            continue
        current = getattr(section, fld)
        if current is None:
            update[fld] = values[preset]
            marks[path if not prefix.startswith("focus.") else f"{path}"] = "preset"
        else:
            marks.setdefault(path, "explicit")
    return section.model_copy(update=update) if update else section


def _fill_block(block: Any, i: int, spec: Spec, sources: dict, preset: str, marks: dict[str, str],
                ctx: Context) -> Any:
    kp = ("interventions", i)
    block = _fill(block, "", preset, marks, prefix=f"focus.{block.focus}")
    names = block.sources if block.sources is not None else tuple(spec.sources)
    for j, s in enumerate(names):
        if s not in spec.sources:
            ctx.error(f"unknown source '{s}'", kp + ("sources", j), name=s, choices=tuple(spec.sources))
    names = tuple(s for s in names if s in sources)
    update: dict[str, Any] = {"sources": names}
    focus = FOCI.get(block.focus)
    focus.check(block, kp, tuple(spec.sources), ctx.error)
    reported = focus.reports(block)
    named = set(spec.metrics.names)
    if not set(reported) & named and named <= set(catalogs.kind_names("metric")):  # unknown names: already an error
        ctx.error(f"the {block.focus} focus reports none of metrics.names (it measures {', '.join(reported)})",
                  ("metrics", "names"), hint=f"add {reported[0]} to metrics.names, or drop this focus block")
    hooks: list[str] = []
    for s in names:
        available = sources[s].hooks()
        available = tuple(h for h in available if focus.uses_hook(block, h))
        if block.hooks is not None:
            for h in block.hooks:
                if h not in sources[s].hooks():
                    ctx.error(f"hook {h} has no SAE in source '{s}'", kp + ("hooks",), item=h,
                              choices=tuple(_short(x) for x in sources[s].hooks()))
            available = tuple(h for h in available if h in block.hooks)
        if not available:
            ctx.error(f"{block.focus} focus has no hook to run on in source '{s}'", kp, hint=focus.no_hook_hint(block))
        hooks.extend(h for h in available if h not in hooks)

    update["hooks"] = tuple(sorted(hooks, key=hook_sort_key))
    return block.model_copy(update=update)


def _short(hook: str) -> str:

    return short_hook(hook)


def _check_types(types: tuple[str, ...], kp: tuple, ctx: Context) -> None:
    valid = catalogs.kind_names("token_type")
    for j, t in enumerate(types):
        if t not in valid:
            ctx.error(f"unknown token type '{t}'", kp + (j,), name=t, choices=valid)


def _check_kinds(spec: Spec, ctx: Context) -> None:
    for j, m in enumerate(spec.map.metrics):
        if m not in catalogs.kind_names("interference_metric"):
            ctx.error(f"unknown interference metric '{m}'", ("map", "metrics", j), name=m,
                      choices=catalogs.kind_names("interference_metric"))
    for j, m in enumerate(spec.metrics.names):
        if m not in catalogs.kind_names("metric"):
            ctx.error(f"unknown metric '{m}'", ("metrics", "names", j), name=m, choices=catalogs.kind_names("metric"))
    ex = spec.atlas.explanations
    kp = ("atlas", "explanations")
    if ex.kind not in catalogs.kind_names("explainer"):
        ctx.error(f"unknown explainer '{ex.kind}'", kp + ("kind",), name=ex.kind,
                  choices=catalogs.kind_names("explainer"))
    elif ex.kind == "neuronpedia" and not ex.path:
        ctx.error("explanations of kind neuronpedia need `path` (the export folder)", kp + ("kind",))
    elif ex.kind == "llm" and not ex.model:
        ctx.error("explanations of kind llm need `model` (a litellm model string)", kp + ("kind",))
    if spec.atlas.embedding.kind == "litellm" and not (spec.atlas.embedding.api_key_env or
                                                       spec.atlas.embedding.api_base):
        ctx.error("an embedding API needs `api_key_env` (the name of the variable holding the key)",
                  ("atlas", "embedding", "kind"))
    if spec.prompts.source == "file" and not spec.prompts.path:
        ctx.error("prompts from a file need `path`", ("prompts", "source"))
    if spec.prompts.source == "llm" and not spec.prompts.model:
        ctx.error("prompts written by an LLM need `model` (a litellm model string)", ("prompts", "source"))
    if spec.atlas.corpus.startswith("zoo:") and spec.atlas.corpus != "zoo:heldout":
        ctx.error(f"unknown zoo corpus '{spec.atlas.corpus}'", ("atlas", "corpus"), name=spec.atlas.corpus,
                  choices=("zoo:heldout",))


def _check_targets(spec: Spec, sources: dict[str, Any], ctx: Context) -> None:
    """map.targets: each selector names a declared source and one of that source's SAE hooks."""

    for j, text in enumerate(spec.map.targets or ()):
        sel, kp = parse_selector(text), ("map", "targets", j)
        mapping = ctx.smap is not None and ctx.smap.has(kp + ("source",))
        if sel.source not in sources:
            ctx.error(f"unknown source '{sel.source}' in target selector", kp + (("source",) if mapping else ()),
                      item=None if mapping else sel.source, name=sel.source, choices=tuple(sources))
            continue
        hooks = [sae.hook_name for sae in sources[sel.source].saes]
        if sel.hook not in hooks:
            raw = ctx.smap.positions.get(kp) if ctx.smap is not None and not mapping else None
            written = parse_selector(raw.raw).hook_text if raw is not None and raw.raw else short_hook(sel.hook)
            ctx.error(f"source '{sel.source}' has no SAE at hook '{short_hook(sel.hook)}' (target selector)",
                      kp + (("hook",) if mapping else ()), item=None if mapping else written,
                      name=short_hook(sel.hook), choices=tuple(short_hook(h) for h in hooks))


def _check_transfer(spec: Spec, ctx: Context) -> None:
    if spec.transfer is None:
        return
    _check_types(spec.transfer.types, ("transfer", "types"), ctx)
    seen: dict[str, int] = {}
    for i, t in enumerate(spec.transfer.targets):
        kp = ("transfer", "targets", i)
        if t.name in seen:
            ctx.error(f"duplicate target name '{t.name}' (also targets[{seen[t.name]}])", kp + ("name",))
        seen.setdefault(t.name, i)
        if t.serve is None and not t.api_key_env:
            ctx.error(f"target '{t.name}' declares no `api_key_env`", kp + ("model",),
                      hint="name the environment variable that holds the key (never the key itself), "
                           "or serve a local model with `serve: zoo:target-tiny`")
        if t.serve is not None and not t.serve.startswith("zoo:"):
            ctx.error(f"`serve` takes a zoo model, got '{t.serve}'", kp + ("serve",), name=t.serve,
                      choices=("zoo:target-tiny",))
        if t.batch > 1 and t.mode != "raw":
            ctx.error(f"target '{t.name}': `batch` ({t.batch}) needs mode raw (prompt arrays exist on the completions "
                      f"endpoint only)", kp + ("batch",), hint="drop `batch`, or use mode: raw")
        if t.api_key_env and not t.api_key_env.replace("_", "").isalnum():
            ctx.error(f"`api_key_env` is the NAME of an environment variable, got '{t.api_key_env}'",
                      kp + ("api_key_env",), hint="e.g. TOGETHER_API_KEY; never put the key in a spec")


def _check_token_labels(spec: Spec, blocks: tuple, ctx: Context) -> None:
    """Sources that build Table-1 token sets (a type-injection block runs on them, or transfer takes the sources'
    sets) need token-type labels: the zoo ships its own; any other model needs `token_types` (else select builds no
    sets and the run stops at the first step that needs them)."""
    if spec.transfer is not None and spec.transfer.sets:
        return  # every source and target injects the external sets
    need: set[str] = set(spec.sources) if spec.transfer is not None else set()
    for b in blocks:
        if b.focus == "prompt" and getattr(b, "mode", None) == "type_injection":
            need |= set(b.sources or spec.sources)
    for name in sorted(need & set(spec.sources)):
        src = spec.sources[name]
        if src.token_types is None and not str(src.model).startswith("zoo:"):
            ctx.error(f"source '{name}' ({src.model}) has no token-type labels, which the Table-1 token sets need",
                      ("sources", name, "model"),
                      hint=f"set sources.{name}.token_types to a JSON {{token: type}} file (interf import "
                           "token-types converts the common shapes), or give transfer.sets (docs/data-formats.md)")


def _check_ones_probe(blocks: tuple, sources: dict[str, Any], ctx: Context) -> None:
    """The token focus's `ones` probe needs activations that do not sum to 0 across coordinates. A model loaded with
    `center_writing_weights` (transformer_lens' default for hub models and checkpoints, unless an SAE records other
    processing) writes zero-mean vectors into the residual stream: at attn_out, mlp_out and resid_* the probe's
    gradient is float noise, which the run would refuse (docs/method.md §8.11)."""
    for i, b in enumerate(blocks):
        if b.focus != "token" or getattr(b, "probe", None) != "ones":
            continue
        for name in b.sources or ():
            src = sources.get(name)
            if src is None or src.kind == "zoo":
                continue
            processing = split_processing(src.model)[1]
            if processing is None and src.kind == "local":
                continue  # the zoo's own layout: loaded as saved, no processing
            if (processing or DEFAULT_PROCESSING).get("center_writing_weights"):
                ctx.error(f"probe 'ones' has no gradient on source '{name}': its model loads with "
                          "center_writing_weights (its SAEs record no other processing), so every attn_out, "
                          "mlp_out and residual vector sums to 0 across coordinates",
                          ("interventions", i, "probe"), name="ones", choices=("encoder", "decoder"),
                          hint="use probe: decoder (or encoder), the target feature's own direction "
                               "(docs/method.md §8.11)")


def check_device(execute: Any, ctx: Context, kp: tuple = ("execute", "device")) -> None:
    """`execute.device: cuda` where torch sees no CUDA device is refused (what the run would refuse). Under the Ray
    executor the workers place the models, so the driver's own devices say nothing and the check is theirs."""
    if execute.device == "cuda" and execute.executor == "local" and not cuda_available():
        ctx.error("execute.device is cuda, but torch sees no CUDA device on this machine", kp,
                  name="cuda", choices=DEVICES, hint=CUDA_HINT)


def _check_contradictions(spec: Spec, sections: dict[str, Any], ctx: Context) -> None:
    stats, metrics = sections["stats"], sections["metrics"]
    if spec.experiment.preset == "rigorous" and spec.stats.mode == "paper":
        ctx.error("stats.mode 'paper' contradicts preset 'rigorous' (it exists to add the rigorous statistics)",
                  ("stats", "mode"), hint="use mode rigorous or both, or preset paper")
    if stats.alpha_selection == "heldout" and spec.prompts.heldout_fraction == 0:
        ctx.error("alpha_selection 'heldout' needs held-out sentences, but prompts.heldout_fraction is 0",
                  ("prompts", "heldout_fraction"))
    atlas = sections["atlas"]
    if metrics.target_ratio is not None and atlas.top_token_ratio is not None \
            and metrics.target_ratio < atlas.top_token_ratio:
        # the atlas keeps only tokens >= top_token_ratio x max: T_f would silently be cut at the atlas's ratio
        kp = ("metrics", "target_ratio") if spec.metrics.target_ratio is not None else ("atlas", "top_token_ratio")
        ctx.error(f"metrics.target_ratio {metrics.target_ratio} is below atlas.top_token_ratio "
                  f"{atlas.top_token_ratio}: the atlas keeps only tokens at >= {atlas.top_token_ratio} x a feature's "
                  f"max, so T_f would be cut there, not at {metrics.target_ratio}", kp,
                  hint=f"set atlas.top_token_ratio to {metrics.target_ratio} or less (docs/method.md §8.2)")
    known = catalogs.kind_names("metric")
    if metrics.primary not in metrics.names and all(n in known for n in metrics.names):
        kp = ("metrics", "primary") if spec.metrics.primary is not None else ("metrics", "names")
        ctx.error(f"primary metric '{metrics.primary}' is not among metrics.names", kp, name=metrics.primary,
                  choices=metrics.names, hint="set metrics.primary to one of the names, or add it to names")
