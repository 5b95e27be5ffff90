"""Resolve stage, listing: the registries `interf list` shows, read from the registries themselves and the presets.

Input: the kinds' registries (`catalogs.kind_entries`: light modules, no torch), `presets.py`, `steps.py`
STEP_KIND_SUMMARIES. Output: plain text.
"""

from __future__ import annotations

from interf_dsl.errors import SpecError
from interf_dsl.resolve.catalogs import KINDS, kind_entries
from interf_dsl.resolve.presets import PRESET_SUMMARIES, PRESET_VALUES
from interf_dsl.steps import STEP_KIND_SUMMARIES

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
        return dict(STEP_KIND_SUMMARIES)
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

    return "\n\n".join(f"**{k}**: " + ", ".join(f"`{n}`" for n in registry(k)) for k in KINDS) + "\n"
