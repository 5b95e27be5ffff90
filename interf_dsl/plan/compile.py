"""Plan stage, entry point: `ResolvedSpec` -> `Plan`, the DAG of typed steps of ARCHITECTURE.md's step table.

Input: a `ResolvedSpec`. Output: a sealed `Plan` (steps in topological order, each with params, inputs, content
hash and work estimate). Step ids, kinds and params follow the "Step kinds and their params" table exactly; section
params are `ResolvedSpec.<section>.model_dump(mode="json")`. Nothing here loads a model: fingerprints come from
`interf_dsl.backends.loading` when it is importable (it does not import torch), else the reference string.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from interf_dsl import __version__
from interf_dsl.backends import loading
from interf_dsl.errors import InterfError
from interf_dsl.foci import FOCI
from interf_dsl.lang.params import step_params_json
from interf_dsl.lang.selectors import parse_selector
from interf_dsl.plan import estimate
from interf_dsl.plan.ir import Plan, Step, WorkEstimate, seal_steps
from interf_dsl.resolve.resolved import ResolvedSpec


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json") if model is not None else None


def _fingerprint(kind: str, ref: str) -> str:
    fn = loading.model_fingerprint if kind == "model" else loading.sae_fingerprint  # light: no torch
    try:
        return str(fn(ref))
    except (InterfError, OSError):
        # weights not present on this machine (a hub model offline, an unbuilt zoo): the plan still prints,
        # the fingerprint says so, and loading fails at run time with the backend's own message
        return f"unavailable:{ref}"


def corpus_fingerprint(corpus: str) -> str:
    """sha256 of a local file (or of a folder's relative file names and contents): a corpus, an export, a sentence or
    set file; the reference itself for zoo corpora."""
    if corpus.startswith("zoo:"):
        return corpus  # the zoo card pins its held-out sample (and the zoo fingerprint pins the card)
    path = Path(corpus).expanduser()
    if not path.exists():
        return f"missing:{corpus}"
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


def compile_plan(resolved: ResolvedSpec) -> Plan:
    """Compile the resolved spec into a sealed plan."""

    # every step's params through its kind's model (lang/params.py): a misfit is a plan-time error, and the JSON
    # stored (and hashed) is the model's
    steps = [s.model_copy(update={"params": step_params_json(s.kind, **s.params)}) for s in _steps(resolved)]
    return Plan(experiment=resolved.experiment.name, preset=resolved.preset, seed=resolved.seed,
                spec_sha256=resolved.spec_sha256, steps=seal_steps(steps, __version__))


def _target_params(targets: tuple[str, ...]) -> list[dict[str, Any]]:
    """map.targets selectors -> [{source, hook_name, features}] for the select step (explicit targets)."""

    nodes = [parse_selector(t) for t in targets]
    return [{"source": n.source, "hook_name": n.hook, "features": list(n.features)} for n in nodes]


def _steps(r: ResolvedSpec) -> list[Step]:
    steps: list[Step] = []
    atlas_sec, map_sec = _dump(r.atlas), _dump(r.map)
    # the atlas step computes statistics only: its explainer and embedder settings belong to explain and embed
    atlas_only = {k: v for k, v in atlas_sec.items() if k not in ("explanations", "embedding")}
    corpus_fp = corpus_fingerprint(r.atlas.corpus)
    # a local file's content identifies it, not where the checkout sits (its path is execution-only, plan/ir.py)
    export = r.atlas.explanations.path
    export_fp = {"export_fingerprint": corpus_fingerprint(export)} if export else {}
    maps: list[str] = []
    atlases: dict[str, list[str]] = {}
    for name, src in r.sources.items():
        model_id = f"model:{name}"
        steps.append(Step(id=model_id, kind="load_model",
                          params={"source": name, "model": src.model,
                                  "fingerprint": _fingerprint("model", src.model)}))
        for sae in src.saes:
            sae_id, tail = f"sae:{name}/{sae.short}", f"{name}/{sae.short}"
            steps.append(Step(id=sae_id, kind="load_sae", inputs=(model_id,),
                              params={"source": name, "sae": sae.ref, "hook_name": sae.hook_name,
                                      "fingerprint": _fingerprint("sae", sae.ref)}))
            base = {"source": name, "sae": sae.ref}
            steps.append(Step(id=f"atlas:{tail}", kind="atlas", inputs=(model_id, sae_id),
                              params={**base, "hook_name": sae.hook_name, "atlas": atlas_only,
                                      "corpus_fingerprint": corpus_fp},
                              estimate=estimate.atlas(r, sae.d_sae)))
            steps.append(Step(id=f"explain:{tail}", kind="explain", inputs=(f"atlas:{tail}",),
                              params={**base, "explanations": atlas_sec["explanations"], **export_fp},
                              estimate=estimate.explain(r, sae.d_sae)))
            steps.append(Step(id=f"embed:{tail}", kind="embed", inputs=(f"explain:{tail}",),
                              params={"embedding": atlas_sec["embedding"]}, estimate=estimate.embed(r, sae.d_sae)))
            steps.append(Step(id=f"map:{tail}", kind="map", inputs=(f"atlas:{tail}", f"embed:{tail}", sae_id),
                              params={**base, "hook_name": sae.hook_name, "map": map_sec}))
            maps.append(f"map:{tail}")
            atlases.setdefault(name, []).append(f"atlas:{tail}")
    select_params = {"map": map_sec, "seeds": {n: s.seed for n, s in r.sources.items()},
                     "token_sets": _token_set_params(r)}
    if r.map.targets:
        select_params["targets"] = _target_params(r.map.targets)
    steps.append(Step(id="select", kind="select", inputs=tuple(maps), params=select_params))
    all_atlases = tuple(a for ids in atlases.values() for a in ids)
    metrics, stats = _dump(r.metrics), _dump(r.stats)
    needs_prompts = bool(r.interventions) or r.transfer is not None
    if needs_prompts:
        steps.append(Step(id="prompts", kind="prompts", inputs=("select", *all_atlases),
                          params={"prompts": _dump(r.prompts), "metrics": metrics,
                                  **({"file_fingerprint": corpus_fingerprint(r.prompts.path)} if r.prompts.path
                                     else {})}))
    prompt_steps = _intervene_steps(r, steps, metrics, stats)
    if r.transfer is not None:
        rest = r.transfer.model_dump(mode="json", exclude={"targets"})
        sets_fp = {f"{k}_fingerprint": corpus_fingerprint(getattr(r.transfer, k)) for k in ("sets", "prompt_sets")
                   if getattr(r.transfer, k)}
        for target in r.transfer.targets:
            steps.append(Step(id=f"transfer:{target.name}", kind="transfer",
                              inputs=("select", "prompts", *prompt_steps),
                              params={"target": _dump(target), "transfer": rest, "metrics": metrics,
                                      "stats": stats, **sets_fp},
                              estimate=estimate.transfer(r, target)))
    steps.append(Step(id="report", kind="report", inputs=tuple(s.id for s in steps),
                      params={"report": _dump(r.report)}))
    return steps


def _token_set_params(r: ResolvedSpec) -> dict[str, Any] | None:
    """Table-1 token-set settings for `select` (docs/method.md §6.2): what the foci ask for (`Focus.select_params`),
    with the types of their blocks and of the transfer section; None when nothing injects types."""
    out: dict[str, Any] = {}
    for entry in FOCI:
        blocks = [b for b in r.interventions if b.focus == entry.name]
        if blocks:
            out |= entry.obj.select_params(blocks, r)
    types = list(out.pop("types", ())) + list(r.transfer.types if r.transfer is not None else ())
    if not types:
        return None
    out = {"types": sorted(set(types)), **out}
    labels = {n: s.token_types for n, s in r.sources.items() if getattr(s, "token_types", None)}
    if labels:  # locations are execution-only; their contents key the step
        out["labels"] = labels
        out["labels_fingerprint"] = {n: corpus_fingerprint(p) for n, p in labels.items()}
    if r.transfer is not None and r.transfer.sets:  # the sources inject the sets the targets get
        out["sets"] = r.transfer.sets
        out["sets_fingerprint"] = corpus_fingerprint(r.transfer.sets)
    return out


def _intervene_steps(r: ResolvedSpec, steps: list[Step], metrics: Any, stats: Any) -> list[str]:
    """One `intervene` step per focus block and source; returns the ids of the steps transfer compares to."""
    counts: dict[str, int] = {}
    prompt_steps: list[str] = []
    for block in r.interventions:
        counts[block.focus] = counts.get(block.focus, 0) + 1
        label = block.focus if counts[block.focus] == 1 else f"{block.focus}-{counts[block.focus]}"
        for source in block.sources or ():
            hooks = r.focus_hooks(block, source)
            if not hooks:
                continue
            shorts = [r.sae(source, h).short for h in hooks]
            inputs = ("select", "prompts", *(f"atlas:{source}/{s}" for s in shorts), f"model:{source}",
                      *(f"sae:{source}/{s}" for s in shorts))
            focus = FOCI.get(block.focus)
            if focus.needs_map:  # e.g. neuron degrees and feature clusters
                inputs += tuple(f"map:{source}/{s}" for s in shorts)
            params = {"focus": block.focus, "source": source,
                      "block": block.model_dump(mode="json") | {"sources": [source], "hooks": list(hooks)},
                      "metrics": metrics, "stats": stats}
            step_id = f"intervene:{label}:{source}"
            steps.append(Step(id=step_id, kind="intervene", inputs=inputs, params=params,
                              estimate=estimate.intervene(r, block, len(hooks))))
            if focus.feeds_transfer:
                prompt_steps.append(step_id)
    return prompt_steps


__all__ = ["compile_plan", "corpus_fingerprint", "WorkEstimate"]
