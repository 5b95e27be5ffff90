"""Resolve stage, catalogs: package-data YAML tables loaded once (architectures, the paper's SAE releases), and the
names of the registered kinds, read from their registries.

Input: `interf_dsl/resolve/catalogs/*.yaml`. Output: plain dicts, cached for the process. The zoo's own catalog
(`interf_dsl.zoo.catalog`) is imported lazily by `zoo_model_info` / `zoo_saes`; its absence is a `ResolveError`.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from interf_dsl.atlas.explain import EXPLAINERS
from interf_dsl.errors import ResolveError
from interf_dsl.foci import FOCI
from interf_dsl.interference.metrics import INTERFERENCE_METRICS
from interf_dsl.metrics import METRICS
from interf_dsl.registry import Registry
from interf_dsl.zoo import catalog as zoo_catalog
from interf_dsl.zoo.catalog import TOKEN_TYPES


@functools.cache
def load_catalog(name: str) -> dict[str, Any]:
    """One catalog file (`architectures`, `saes`, `transformer_lens_models`) as a dict."""
    text = resources.files("interf_dsl.resolve").joinpath(f"catalogs/{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


_REGISTRIES: dict[str, Registry] = {
    "focus": FOCI, "metric": METRICS, "interference_metric": INTERFERENCE_METRICS, "explainer": EXPLAINERS,
}
"""Registries whose entries are the only list of their names (the modules are light: no torch, no litellm)."""

KINDS: tuple[str, ...] = ("focus", "metric", "interference_metric", "explainer", "token_type")


def kind_entries(kind: str) -> dict[str, str]:
    """name -> one-line summary of one registered kind, read from its registry (never from a second list)."""
    if kind in _REGISTRIES:
        return {e.name: e.summary for e in _REGISTRIES[kind]}
    if kind == "token_type":
        return dict(TOKEN_TYPES)
    raise ResolveError(f"unknown registry '{kind}'", name=kind, choices=KINDS)


def kind_names(kind: str) -> tuple[str, ...]:
    """Names of one registered kind (focus, metric, interference_metric, explainer, token_type)."""
    return tuple(kind_entries(kind))


@functools.cache
def _arch_aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, info in load_catalog("architectures").items():
        out[name] = name
        for alias in info.get("aliases", ()):
            out[alias] = name
    return out


def known_architecture(model: str) -> tuple[str, dict[str, Any]] | None:
    """(canonical name, info) of a transformer_lens model in the catalog, or None."""
    name = _arch_aliases().get(model)
    return (name, load_catalog("architectures")[name]) if name else None


def _zoo_catalog() -> Any:
    return zoo_catalog


def _get(info: Any, key: str) -> Any:
    if isinstance(info, dict):
        if key in info:
            return info[key]
        for nest in ("cfg", "config", "architecture"):
            if isinstance(info.get(nest), dict) and key in info[nest]:
                return info[nest][key]
        return None
    return getattr(info, key, None)


def zoo_model_info(name: str) -> dict[str, Any]:
    """n_layers, d_model, d_mlp, d_vocab, n_ctx, parallel_attn_mlp of a zoo model.

    Raises:
        ResolveError: the zoo catalog is missing, the zoo is not built, or it has no such model (with choices).
    """
    info = _zoo_catalog().model_info(name)
    out = {k: _get(info, k) for k in ("n_layers", "d_model", "d_mlp", "d_vocab", "n_ctx", "parallel_attn_mlp")}
    if out["parallel_attn_mlp"] is None:
        out["parallel_attn_mlp"] = _get(info, "family") == "pythia"
    return out


def zoo_saes() -> dict[str, Any]:
    """Zoo SAE refs (`zoo:gpt2-tiny/L1.resid_post`) -> their info (may hold d_sae)."""
    catalog = _zoo_catalog()
    out: dict[str, Any] = {}
    for entry in catalog.list_saes():
        if isinstance(entry, str):
            ref = entry
            info: Any = None
        elif isinstance(entry, dict):
            ref = str(entry.get("ref") or entry.get("name") or entry.get("id"))
            info = entry
        else:
            ref = str(getattr(entry, "ref", entry))
            info = entry
        ref = ref if ref.startswith("zoo:") else f"zoo:{ref}"
        out[ref] = info
    return out


def zoo_d_sae(ref: str, info: Any) -> int | None:
    """Feature count of a zoo SAE, from its listing or `sae_info`."""
    d = _get(info, "d_sae") if info is not None else None
    if d is None:
        catalog = _zoo_catalog()
        if hasattr(catalog, "sae_info"):
            try:
                d = _get(catalog.sae_info(ref), "d_sae")
            except Exception:  # noqa: BLE001 - d_sae only feeds work estimates
                d = None
    return int(d) if d is not None else None


@functools.cache
def transformer_lens_names() -> dict[str, str]:
    """Every transformer_lens pretrained name and alias, lower-cased -> its official name (from the catalog file
    `transformer_lens_models.yaml`, generated from the installed transformer_lens: no torch import)."""
    out: dict[str, str] = {}
    for official, aliases in load_catalog("transformer_lens_models")["models"].items():
        out[official.lower()] = official
        for alias in aliases:
            out[str(alias).lower()] = official
    return out


def official_model_name(name: str) -> str | None:
    """transformer_lens' official name of a pretrained model name or alias (case-insensitive, as it matches)."""
    return transformer_lens_names().get(name.lower())


def model_name_suggestions(name: str) -> tuple[str, ...]:
    """Close transformer_lens names for a mistyped one (the spelling as listed, not lower-cased)."""
    import difflib

    listed = {n for official, aliases in load_catalog("transformer_lens_models")["models"].items()
              for n in (official, *aliases)}
    lowered = {n.lower(): n for n in listed}
    return tuple(lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.75))
