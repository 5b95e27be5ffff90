"""Resolve stage, listing: the registries `interf list` shows, read from the registries themselves and the presets.

Input: the kinds' registries (`catalogs.kind_entries`: light modules, no torch), `presets.py`, `plan/ir.py`
STEP_KINDS. Output: plain text.
"""

from __future__ import annotations

from interf_dsl.errors import SpecError
from interf_dsl.resolve.catalogs import KINDS, kind_entries
from interf_dsl.resolve.presets import PRESET_SUMMARIES, PRESET_VALUES

STEP_SUMMARIES = {
    "load_model": "load a source model (resource)",
    "load_sae": "load one SAE at one hook (resource)",
    "atlas": "feature statistics: top contexts, top tokens, neuron alignments, logit lens",
    "explain": "feature explanations (auto, neuronpedia export, or an LLM)",
    "embed": "embed explanations for semantic similarity S",
    "map": "interference pairs, bins, clusters and neuron links of one SAE",
    "select": "targets, partners and token sets across sources",
    "prompts": "test sentences (mined, from a file, or written by an LLM)",
    "intervene": "one focus block on one source: interventions, effects, regressions",
    "transfer": "token-type injection into one black-box target",
    "report": "report.md, report.html and figures",
}

REGISTRIES = {
    "focus": "foci (intervention focus blocks)",
    "metric": "output metrics",
    "interference_metric": "interference metrics (map.metrics)",
    "explainer": "explainers (atlas.explanations.kind)",
    "token_type": "token types (prompt/transfer types)",
    "preset": "presets (experiment.preset)",
    "step": "plan step kinds",
}


def registry(kind: str) -> dict[str, str]:
    """name -> one-line summary of one registry."""
    if kind == "preset":
        out = dict(PRESET_SUMMARIES)
        for name in out:
            fields = ", ".join(f"{p}={v[name]!r}" for p, v in PRESET_VALUES.items())
            out[name] += f" [{fields}]"
        return out
    if kind == "step":
        from interf_dsl.plan.ir import STEP_KINDS

        return {k: STEP_SUMMARIES.get(k, "") for k in STEP_KINDS}
    if kind not in KINDS:
        raise SpecError(f"unknown registry '{kind}'", name=kind, choices=tuple(REGISTRIES))
    return kind_entries(kind)


def render_listing(kind: str | None = None) -> str:
    kinds = [kind] if kind else list(REGISTRIES)
    lines: list[str] = []
    for k in kinds:
        entries = registry(k)
        lines.append(f"{REGISTRIES.get(k, k)}:")
        width = max(len(n) for n in entries)
        lines += [f"  {n.ljust(width)}  {s}" for n, s in entries.items()]
        lines.append("")
    return "\n".join(lines)


def registered_names_markdown() -> str:
    """The "Registered names" block of specs/README.md, from the registries (a test keeps the README in step)."""
    from interf_dsl.resolve.catalogs import KINDS

    return "\n\n".join(f"**{k}**: " + ", ".join(f"`{n}`" for n in registry(k)) for k in KINDS) + "\n"
