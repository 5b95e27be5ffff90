"""Backends, hooked models: the one code path that turns a model or SAE reference into a loaded object.

Input: a reference string. Models: `zoo:<name>` (the tiny zoo shipped in `interf_dsl/zoo/artifacts/`), a local
directory (the zoo's layout, or a Hugging Face `save_pretrained` checkpoint: `hf_load.py`), or a transformer_lens
pretrained name (`gpt2-small`, `pythia-70m-deduped`); a `#fold_ln=...` tail sets the weight processing
(`checkpoints.py`, docs/checkpoints.md). SAEs: `zoo:<model>/<L1.resid_post>`, a local sae_lens directory
(`cfg.json` + `sae_weights.safetensors`), or a sae_lens release as `release=<r>,id=<id>` or a `(release, id)` pair.
Output: a `transformer_lens.HookedTransformer` with `.tokenizer` set, or a `sae_lens.SAE` whose metadata names its
hook. Hub references are checked against the local Hugging Face cache and the offline flag *before* transformer_lens
or sae_lens is asked, so an offline machine fails in milliseconds with a `BackendError` that says what is missing
and how to point interf at a local copy (the libraries themselves retry for about 25 s).

`model_fingerprint` / `sae_fingerprint` give the run cache a content hash without importing torch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from interf_dsl.backends.checkpoints import (
    DEFAULT_PROCESSING,
    checkpoint_problem,
    read_hf_config,
    split_processing,
)
from interf_dsl.errors import BackendError, ResolveError
from interf_dsl.zoo import catalog

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer

ZOO_PREFIX = "zoo:"
# transformer_lens aliases of the paper's models -> Hugging Face repo ids (others: transformer_lens' own table)
HUB_REPOS = {
    "gpt2": "gpt2", "gpt2-small": "gpt2", "gpt2-medium": "gpt2-medium",
    "pythia-70m": "EleutherAI/pythia-70m", "pythia-70m-deduped": "EleutherAI/pythia-70m-deduped",
    "gemma-2-2b": "google/gemma-2-2b", "gemma-2-9b-it": "google/gemma-2-9b-it",
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
}
_IGNORED_BUFFERS = (".IGNORE", ".mask", "rotary_sin", "rotary_cos")
_LOCAL_HINT = ("download it on a machine with network (huggingface-cli download {repo}) and copy the cache to "
               "this one, or convert it to a local directory (config.json + model.safetensors + tokenizer.json) "
               "and pass that directory as the model reference")


# ---------------------------------------------------------------- hub checks (no heavy imports)

def _hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _in_cache(repo: str) -> bool:
    snaps = _hf_cache_dir() / f"models--{repo.replace('/', '--')}" / "snapshots"
    return snaps.is_dir() and any(snaps.iterdir())


def _hub_reachable(timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _require_hub(what: str, repo: str) -> None:
    """Raise BackendError unless `repo` is cached or the Hub is reachable and allowed."""
    if _in_cache(repo):
        return
    hint = _LOCAL_HINT.format(repo=repo)
    if _offline():
        raise BackendError(f"{what} needs Hugging Face repo '{repo}', which is not in the local cache "
                           f"({_hf_cache_dir()}) and HF_HUB_OFFLINE is set", hint=hint)
    if not _hub_reachable():
        raise BackendError(f"{what} needs Hugging Face repo '{repo}', which is not in the local cache "
                           f"({_hf_cache_dir()}) and the Hub cannot be reached", hint=hint)


def _model_repo(ref: str) -> str:
    if ref in HUB_REPOS:
        return HUB_REPOS[ref]
    if "/" in ref:
        return ref
    from transformer_lens.loading_from_pretrained import get_official_model_name

    try:
        return get_official_model_name(ref)
    except ValueError as exc:
        raise BackendError(f"unknown model reference '{ref}': not zoo:<name>, a local directory, or a "
                           "transformer_lens pretrained name", hint=str(exc).splitlines()[0]) from exc


# ---------------------------------------------------------------- models

def _zoo_dir(kind: str, name: str) -> Path:

    if kind == "model":
        catalog.model_info(name)
        return catalog.artifacts_dir() / "models" / name
    catalog.sae_info(name)
    model, key = name.split("/", 1)
    return catalog.artifacts_dir() / "saes" / model / key


def load_model_dir(path: Path | str, device: str = "cpu", dtype: str = "float32") -> HookedTransformer:
    """Load a model folder (config.json with HookedTransformerConfig fields, *.safetensors, tokenizer files)."""
    import torch
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    path = Path(path)
    cfg_file, weights = path / "config.json", sorted(path.glob("*.safetensors"))
    missing = [n for n, ok in (("config.json", cfg_file.exists()), ("*.safetensors", bool(weights)),
                               ("tokenizer.json", (path / "tokenizer.json").exists())) if not ok]
    if missing:
        raise BackendError(f"model directory {path} lacks {', '.join(missing)}",
                           hint="a local model directory holds config.json (HookedTransformerConfig fields), "
                                "model.safetensors and the tokenizer files (see interf_dsl/zoo/README.md)")
    raw = json.loads(cfg_file.read_text())
    fields = raw.get("hooked_transformer_config", raw)
    torch_dtype = getattr(torch, dtype)
    cfg = HookedTransformerConfig(**{**fields, "init_weights": False, "device": device, "dtype": torch_dtype,
                                     "tokenizer_name": str(path)})
    model = HookedTransformer(cfg)
    state: dict = {}
    for w in weights:
        state.update(load_file(str(w)))
    state = {k: v.to(torch_dtype) for k, v in state.items()}
    result = model.load_state_dict(state, strict=False)
    bad_missing = [k for k in result.missing_keys if not k.endswith(_IGNORED_BUFFERS)]
    if bad_missing or result.unexpected_keys:
        raise BackendError(f"weights in {path} do not match its config.json",
                           hint=f"missing {bad_missing[:5]}, unexpected {result.unexpected_keys[:5]}")
    model.to(device)
    model.eval()
    return model


def load_model(ref: str, device: str = "cpu", dtype: str = "float32") -> HookedTransformer:
    """Load `zoo:<name>`, a local model directory (the zoo's layout or a Hugging Face checkpoint), or a
    transformer_lens pretrained name; a `#fold_ln=...` tail (`checkpoints.with_processing`) sets the weight
    processing of the last two (default: transformer_lens' `from_pretrained` defaults).

    Raises:
        ResolveError: an unknown zoo name.
        BackendError: missing files, an unsupported architecture, or a hub model neither cached nor reachable.
    """
    ref, processing = split_processing(ref)
    if ref.startswith(ZOO_PREFIX):
        return load_model_dir(_zoo_dir("model", ref[len(ZOO_PREFIX):]), device, dtype)
    if Path(ref).is_dir():
        if read_hf_config(Path(ref)) is not None:
            from interf_dsl.backends.hf_load import load_hf_checkpoint  # lazy: imports torch and transformers

            return load_hf_checkpoint(ref, processing, device, dtype)
        return load_model_dir(ref, device, dtype)
    repo = _model_repo(ref)
    _require_hub(f"model '{ref}'", repo)
    import torch
    from transformer_lens import HookedTransformer

    applied = dict(processing or DEFAULT_PROCESSING)
    model = HookedTransformer.from_pretrained(ref, device=device, dtype=getattr(torch, dtype), **applied)
    model.interf_processing = applied  # type: ignore[attr-defined]
    return model


# ---------------------------------------------------------------- SAEs

def parse_sae_release(ref: str | tuple[str, str]) -> tuple[str, str] | None:
    """`(release, id)` from a pair or a `release=<r>,id=<id>` string; None for other references."""
    if isinstance(ref, tuple):
        return ref
    if not ref.startswith("release="):
        return None
    parts = dict(p.split("=", 1) for p in ref.split(",") if "=" in p)
    if set(parts) != {"release", "id"}:
        raise BackendError(f"malformed SAE reference '{ref}'", hint="write release=<release>,id=<sae id>")
    return parts["release"], parts["id"]


def _checked(sae: SAE, ref: str) -> SAE:
    hook = getattr(sae.cfg.metadata, "hook_name", None)
    if not hook:
        raise BackendError(f"SAE '{ref}' has no hook_name in its metadata; sae_lens would attach it nowhere",
                           hint="set metadata.hook_name in its cfg.json")
    return sae


def load_sae(ref: str | tuple[str, str], device: str = "cpu") -> SAE:
    """Load `zoo:<model>/<L1.resid_post>`, a local sae_lens directory, or a sae_lens release/id pair.

    Raises:
        ResolveError: an unknown zoo SAE.
        BackendError: missing files or metadata, or a release that is neither cached nor reachable.
    """
    release = parse_sae_release(ref)
    if release is not None:  # check the cache before paying for the sae_lens import
        _require_hub(f"SAE release '{release[0]}'", _release_repo(release[0]))
    from sae_lens import SAE

    if release is None:
        path = _zoo_dir("sae", ref[len(ZOO_PREFIX):]) if ref.startswith(ZOO_PREFIX) else Path(ref)
        if not (path / "cfg.json").exists():
            raise BackendError(f"SAE reference '{ref}' is not a sae_lens directory ({path} has no cfg.json)",
                               hint="use zoo:<model>/<L1.resid_post>, a folder written by SAE.save_model, "
                                    "or release=<release>,id=<id>")
        return _checked(SAE.load_from_disk(path, device=device, dtype="float32"), str(ref))
    rel, sae_id = release
    return _checked(SAE.from_pretrained(rel, sae_id, device=device), f"{rel}/{sae_id}")


@functools.cache
def release_entry(release: str) -> dict:
    """A sae_lens release's catalog entry (repo_id, config_overrides, ...), by a text scan of its catalog (a full
    YAML parse takes ~5 s) and a parse of that release's block only; the sae list is left out.

    Raises:
        BackendError: sae_lens is not installed, or it has no such release (with choices).
    """
    import re
    from importlib.util import find_spec

    import yaml

    spec = find_spec("sae_lens")  # locates the package without importing it (the import takes seconds)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("sae_lens is not installed", hint="pip install 'interf[hooked]'")
    text = (Path(spec.submodule_search_locations[0]) / "pretrained_saes.yaml").read_text(encoding="utf-8")
    releases = re.findall(r"^([^\s#][^:\n]*):", text, flags=re.M)
    if release not in releases:
        raise BackendError(f"unknown sae_lens release '{release}'", name=release, choices=releases)
    block = text[text.index(f"\n{release}:") + 1 :]
    nxt = re.search(r"^\S", block[len(release) + 1 :], flags=re.M)
    block = block[: len(release) + 1 + nxt.start()] if nxt else block
    saes = re.search(r"^  saes:", block, flags=re.M)
    entry = yaml.safe_load(block[: saes.start()] if saes else block)
    return entry.get(release) or {}


def _release_repo(release: str) -> str:
    """The Hugging Face repo of a sae_lens release."""
    repo = release_entry(release).get("repo_id")
    if not repo:
        raise BackendError(f"sae_lens release '{release}' names no repo_id in its catalog")
    return str(repo)


def sae_model_kwargs(ref: str) -> dict | None:
    """The `model_from_pretrained_kwargs` an SAE declares (its cfg.json, or its release's config_overrides),
    without torch; None when it declares none or cannot be read (loading reports that)."""
    release = parse_sae_release(ref)
    try:
        if release is not None:
            kwargs = (release_entry(release[0]).get("config_overrides") or {}).get("model_from_pretrained_kwargs")
        else:
            path = _zoo_dir("sae", ref[len(ZOO_PREFIX):]) if ref.startswith(ZOO_PREFIX) else Path(ref)
            cfg = json.loads((path / "cfg.json").read_text(encoding="utf-8"))
            kwargs = cfg.get("model_from_pretrained_kwargs") or (cfg.get("metadata") or {}).get(
                "model_from_pretrained_kwargs")
    except (BackendError, ResolveError, OSError, ValueError, AttributeError):
        return None
    return kwargs if isinstance(kwargs, dict) and kwargs else None


# ---------------------------------------------------------------- availability (no torch, no download)

def model_problem(ref: str) -> str | None:
    """Why `load_model(ref)` would fail before loading anything (missing zoo files, local dir, hub weights), or None."""
    ref = split_processing(ref)[0]
    try:
        if ref.startswith(ZOO_PREFIX):
            path = _zoo_dir("model", ref[len(ZOO_PREFIX):])
            return None if (path / "config.json").exists() else f"model {ref}: zoo weights missing in {path}"
        if Path(ref).is_dir():
            if not (Path(ref) / "config.json").exists():
                return f"model {ref}: {ref} has no config.json"
            problem = checkpoint_problem(Path(ref)) if read_hf_config(Path(ref)) is not None else None
            return None if problem is None else f"model {ref}: {problem}"
        _require_hub(f"model '{ref}'", _model_repo(ref))
    except (BackendError, ResolveError) as exc:
        return str(exc)
    return None


def sae_problem(ref: str) -> str | None:
    """Why `load_sae(ref)` would fail before loading anything, or None (one message per release, not per id)."""
    try:
        release = parse_sae_release(ref)
        if release is not None:
            _require_hub(f"SAE release '{release[0]}'", _release_repo(release[0]))
            return None
        path = _zoo_dir("sae", ref[len(ZOO_PREFIX):]) if ref.startswith(ZOO_PREFIX) else Path(ref)
        return None if (path / "cfg.json").exists() else f"SAE {ref}: no sae_lens cfg.json in {path}"
    except (BackendError, ResolveError) as exc:
        return str(exc)


LOCAL_COPY_HINT = ("download missing repos on a machine with network (huggingface-cli download <repo>) and copy the "
                   "Hugging Face cache here, or pass local directories (a model folder with config.json + "
                   "model.safetensors + tokenizer.json; a sae_lens folder with cfg.json)")


# ---------------------------------------------------------------- fingerprints (no torch)

def _hash_files(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


def model_fingerprint(ref: str) -> str:
    """A content hash of a model reference: sha256 of config + weights, or `hub:<name>@<revision>` (the weight
    processing is part of the reference itself)."""
    ref = split_processing(ref)[0]
    if ref.startswith(ZOO_PREFIX) or Path(ref).is_dir():
        path = _zoo_dir("model", ref[len(ZOO_PREFIX):]) if ref.startswith(ZOO_PREFIX) else Path(ref)
        return _hash_files([path / "config.json", *path.glob("*.safetensors")])
    return f"hub:{ref}@{os.environ.get('INTERF_HUB_REVISION', 'main')}"


def sae_fingerprint(ref: str | tuple[str, str]) -> str:
    """A content hash of an SAE reference: sha256 of cfg + weights, or `sae_lens:<release>/<id>`."""
    release = parse_sae_release(ref)
    if release is not None:
        return f"sae_lens:{release[0]}/{release[1]}"
    path = _zoo_dir("sae", ref[len(ZOO_PREFIX):]) if ref.startswith(ZOO_PREFIX) else Path(ref)
    return _hash_files([path / "cfg.json", *path.glob("*.safetensors")])
