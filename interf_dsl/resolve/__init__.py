"""Resolve stage: `Spec` -> `ResolvedSpec` (preset defaults applied, shorthands expanded, names bound).

Public: `resolve_spec`, `ResolvedSpec`, `ResolvedSource`, `ResolvedSAE`, `ArchInfo`, `PRESET_VALUES`.
"""

from interf_dsl.resolve.presets import PRESET_NAMES, PRESET_VALUES
from interf_dsl.resolve.resolve import resolve_spec
from interf_dsl.resolve.resolved import ArchInfo, ResolvedSAE, ResolvedSource, ResolvedSpec

__all__ = ["PRESET_NAMES", "PRESET_VALUES", "ArchInfo", "ResolvedSAE", "ResolvedSource", "ResolvedSpec",
           "resolve_spec"]
