"""Resolve stage, sources: bind each source to a model reference, its architecture and its SAEs.

Input: `Spec.sources` and the error `Context`. Output: `ResolvedSource`s. Checks, without loading weights: the zoo
model exists, every hook's layer is in range and its site exists in the architecture (known models and the zoo),
`sae: zoo` has an SAE at that hook, `sae: paper` has a release for that model and site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interf_dsl.backends import checkpoints, loading
from interf_dsl.errors import ResolveError
from interf_dsl.lang.ast import ALL_SITES, short_hook, split_hook
from interf_dsl.lang.limits import PATH_NAME_RULE, path_name_problem
from interf_dsl.parse.spec import SaeGroup, SaeRelease, Source
from interf_dsl.resolve import catalogs
from interf_dsl.resolve.context import Context
from interf_dsl.resolve.files import absolute, shown
from interf_dsl.resolve.resolved import ArchInfo, ResolvedSAE, ResolvedSource


def _arch_from_info(name: str, info: dict[str, Any]) -> ArchInfo:
    sites = tuple(s for s in ALL_SITES if not (s == "resid_mid" and info.get("parallel_attn_mlp")))
    n_ctx = info.get("n_ctx")
    return ArchInfo(name=name, n_layers=int(info["n_layers"]), d_model=int(info["d_model"]),
                    d_mlp=info.get("d_mlp"), d_vocab=info.get("d_vocab"), n_ctx=int(n_ctx) if n_ctx else None,
                    sites=tuple(info.get("sites") or sites))


def bind_model(name: str, src: Source, ctx: Context, base: Path) -> tuple[str, str, ArchInfo | None] | None:
    """(kind, reference, architecture) of a source's model, or None after recording an error.

    A local directory is taken relative to `base` (the spec's folder) and returned absolute.
    """
    kp = ("sources", name, "model")
    model = src.model
    if model.startswith("zoo:"):
        zoo_name = model.removeprefix("zoo:")
        try:
            info = catalogs.zoo_model_info(zoo_name)
        except ResolveError as exc:
            item = exc.items[0]
            ctx.error(item.message, kp, name=item.name, choices=item.choices, hint=item.hint)
            return None
        return "zoo", model, _arch_from_info(model, info)
    known = catalogs.known_architecture(model)
    if known is not None:
        canon, info = known
        return "transformer_lens", canon, _arch_from_info(canon, info)
    path = Path(absolute(model, base))
    if model.startswith(("./", "/", "~", "..")) or path.exists():
        return _bind_local(path, kp, ctx)
    if catalogs.official_model_name(model) is None:
        close = catalogs.model_name_suggestions(model)
        ctx.error(f"unknown model '{model}': not a transformer_lens pretrained name, a zoo: model or a local "
                  "directory", kp, name=model, choices=close,
                  hint=None if close else "names are transformer_lens' official list (or its aliases); a local "
                  "checkpoint is a path such as ./checkpoints/gpt2 (docs/checkpoints.md)")
        return None
    return "transformer_lens", model, None


def _bind_local(path: Path, kp: tuple, ctx: Context) -> tuple[str, str, ArchInfo | None] | None:
    """A local model directory: the zoo's layout (HookedTransformerConfig fields) or a Hugging Face checkpoint."""
    cfg = path / "config.json"
    hf = checkpoints.read_hf_config(path) if cfg.is_file() else None
    if hf is not None:
        problem = checkpoints.checkpoint_problem(path)
        if problem is not None:
            ctx.error(f"the model directory {shown(str(path))} cannot be loaded: {problem}", kp,
                      hint="a standard checkpoint is save_pretrained output: config.json, model.safetensors and "
                           "the tokenizer files (docs/checkpoints.md)")
            return None
        return "local", str(path), _arch_from_info(str(path), checkpoints.hf_shape(hf))
    info = _local_config(cfg, kp, ctx) if cfg.is_file() else None
    if info is not None:
        info = info.get("hooked_transformer_config", info) if isinstance(info, dict) else info
    if info is not None and "n_layers" in info and "d_model" in info:
        return "local", str(path), _arch_from_info(str(path), info)
    return "local", str(path), None


def _local_config(cfg: Path, kp: tuple, ctx: Context) -> dict[str, Any] | None:
    """A local model's config.json as a dict, or None after recording why it cannot be read."""
    import json

    try:
        info = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        ctx.error(f"the model directory's {shown(str(cfg))} cannot be read as JSON ({exc})", kp,
                  hint="a local model directory holds config.json (HookedTransformerConfig fields) and its weights")
        return None
    if not isinstance(info, dict):
        ctx.error(f"the model directory's {shown(str(cfg))} is not a JSON object", kp)
        return None
    for key in ("n_layers", "d_model", "d_mlp", "d_vocab", "n_ctx"):
        if key in info and not (isinstance(info[key], int) and not isinstance(info[key], bool) and info[key] > 0):
            ctx.error(f"the model directory's {shown(str(cfg))} has {key} = {info[key]!r}, not a positive integer",
                      kp)
            return None
    return info


def _check_hook(hook: str, arch: ArchInfo | None, model: str, kp: tuple, ctx: Context,
                too_deep: frozenset[int] = frozenset()) -> bool:
    """Whether a hook exists in the architecture; errors go to `ctx`. Of the group's layers beyond the model,
    `too_deep`, only the first is reported (with how many more there are)."""
    layer, site = split_hook(hook)
    if arch is None:
        return True
    if layer is None:
        if hook in ("hook_embed", "hook_pos_embed"):
            return True
        ctx.error(f"hook '{hook}' is not a block hook of {model}", kp, item=hook,
                  hint="write blocks.<layer>.hook_<site> or L<layer>.<site>")
        return False
    if layer >= arch.n_layers:
        if not too_deep or layer == min(too_deep):
            more = max(len(too_deep) - 1, 0)
            ctx.error(f"layer {layer} out of range: {model} has {arch.n_layers} layers (0-{arch.n_layers - 1})"
                      + (f"; {more} more layers of this group are too" if more else ""), kp, item=hook)
        return False
    if site is None or site not in arch.sites:
        suffix = hook.split(".", 2)[2]
        what = f"site '{site}'" if site else f"hook '{suffix}'"
        extra = " (parallel attention and MLP: no resid_mid)" if site == "resid_mid" else ""
        ctx.error(f"{what} does not exist in {model}{extra}", kp, item=hook, name=site or suffix,
                  choices=arch.sites)
        return False
    return True


def bind_saes(name: str, src: Source, kind: str, model: str, arch: ArchInfo | None,
              ctx: Context, base: Path) -> tuple[ResolvedSAE, ...]:
    """Every (hook, SAE) of a source; errors are recorded, not raised."""
    out: list[ResolvedSAE] = []
    seen: dict[str, int] = {}
    zoo_index: dict[str, Any] | None = None
    for gi, group in enumerate(src.saes):
        kp = ("sources", name, "saes", gi, "hooks")
        layers = {split_hook(h)[0] for h in group.hooks} - {None}
        too_deep = frozenset(x for x in layers if arch is not None and x >= arch.n_layers)  # type: ignore[operator]
        for hook in group.hooks:
            if hook in seen:
                ctx.error(f"hook {hook} has SAEs in two groups (saes[{seen[hook]}] and saes[{gi}])", kp, item=hook)
                continue
            seen[hook] = gi
            if not _check_hook(hook, arch, model, kp, ctx, too_deep):
                continue
            if group.sae == "zoo" and zoo_index is None:
                try:
                    zoo_index = catalogs.zoo_saes()
                except ResolveError as exc:
                    ctx.error(exc.items[0].message, ("sources", name, "saes", gi, "sae"), hint=exc.items[0].hint)
                    return tuple(out)
            sae = _bind_sae(name, hook, group, kind, model, zoo_index or {}, ctx, ("sources", name, "saes", gi),
                            base)
            if sae is not None:
                out.append(sae)
    return tuple(out)


def _bind_sae(source: str, hook: str, group: SaeGroup, kind: str, model: str, zoo_index: dict[str, Any],
              ctx: Context, kp: tuple, folder: Path) -> ResolvedSAE | None:
    layer, site = split_hook(hook)
    short = short_hook(hook)
    base = {"source": source, "hook_name": hook, "short": short, "layer": layer, "site": site}
    sae = group.sae
    if isinstance(sae, SaeRelease):
        sae_id = sae.id.format(layer=layer, site=site, hook=hook)
        return ResolvedSAE(**base, ref=f"release={sae.release},id={sae_id}", kind="release")
    if sae == "zoo":
        if kind != "zoo":
            ctx.error(f"`sae: zoo` needs a zoo model, but this source is {model}", kp + ("sae",),
                      hint="use `sae: paper`, a sae_lens {release, id}, or a local directory")
            return None
        ref = f"{model}/{short}"
        if ref not in zoo_index:
            mine = sorted(r.split("/", 1)[1] for r in zoo_index if r.startswith(model + "/"))
            ctx.error(f"the zoo has no SAE at {short} of {model}", kp + ("hooks",), item=hook, name=short,
                      choices=mine)
            return None
        return ResolvedSAE(**base, ref=ref, kind="zoo", d_sae=catalogs.zoo_d_sae(ref, zoo_index[ref]))
    if sae == "paper":
        table = catalogs.load_catalog("saes").get(model)
        if table is None:
            ctx.error(f"the paper has no SAE release for {model}", kp + ("sae",),
                      choices=tuple(catalogs.load_catalog("saes")))
            return None
        entry = table.get(site or "")
        if entry is None or layer is None or not entry["layers"][0] <= layer <= entry["layers"][1]:
            ctx.error(f"the paper's SAEs of {model} do not cover {short}", kp + ("hooks",), item=hook,
                      name=site, choices=tuple(table))
            return None
        sae_id = entry["id"].format(layer=layer)
        return ResolvedSAE(**base, ref=f"release={entry['release']},id={sae_id}", kind="release",
                           d_sae=entry.get("d_sae"))
    if "/" not in sae and not sae.startswith((".", "~")):
        ctx.error(f"unknown SAE source '{sae}'", kp + ("sae",), name=sae, choices=("zoo", "paper"),
                  hint="or a sae_lens {release, id}, or a local directory such as ./saes/{layer}")
        return None
    path = sae.format(layer=layer, site=site, hook=hook, short=short)
    return ResolvedSAE(**base, ref=absolute(path, folder), kind="local")


def _with_processing(source: str, model: str, kind: str, saes: tuple[ResolvedSAE, ...], ctx: Context) -> str:
    """The model reference with the weight processing its SAEs were trained with (`checkpoints.with_processing`).

    An SAE's `model_from_pretrained_kwargs` decides; SAEs that declare different processing are an error. A local
    checkpoint always records its processing; a hub name only when it differs from transformer_lens' defaults
    (its reference, and so its plan, stays as it was otherwise).
    """
    declared: list[tuple[ResolvedSAE, dict[str, bool]]] = []
    for sae in saes:
        kwargs = loading.sae_model_kwargs(sae.ref)
        if kwargs is not None:
            declared.append((sae, checkpoints.processing_from_sae(kwargs)))
    processing = declared[0][1] if declared else dict(checkpoints.DEFAULT_PROCESSING)
    for sae, other in declared[1:]:
        if other != processing:
            diff = ", ".join(f"{k}={other[k]}" for k in other if other[k] != processing[k])
            ctx.error(f"the SAE at {sae.short} was trained on {source}'s model with other weight processing ({diff}) "
                      f"than the SAE at {declared[0][0].short}", ("sources", source, "saes"),
                      hint="one model is loaded per source: give SAEs trained with other processing their own source")
            break
    if kind == "local" and checkpoints.read_hf_config(Path(model)) is None:
        return model  # the zoo's layout: weights as stored, nothing to process
    if kind == "local" or processing != checkpoints.DEFAULT_PROCESSING:
        return checkpoints.with_processing(model, processing)
    return model


def resolve_sources(spec_sources: dict[str, Source], default_seed: int, ctx: Context,
                    base: Path | None = None) -> dict[str, ResolvedSource]:
    """Bind every source (local paths relative to `base`, default the working directory); errors go to `ctx`."""
    base = base or Path.cwd()
    out: dict[str, ResolvedSource] = {}
    for name, src in spec_sources.items():
        problem = path_name_problem(name)
        if problem is not None:
            ctx.error(f"source name '{name[:40]}' {problem[0]}: it becomes part of step ids and file names",
                      ("sources", name), key=True, hint=f"a name is {PATH_NAME_RULE}")
            continue
        bound = bind_model(name, src, ctx, base)
        if bound is None:
            continue
        kind, model, arch = bound
        saes = bind_saes(name, src, kind, model, arch, ctx, base)
        if kind != "zoo":
            model = _with_processing(name, model, kind, saes, ctx)
        seed = default_seed if src.seed is None else src.seed
        labels = absolute(src.token_types, base) if src.token_types else None
        out[name] = ResolvedSource(name=name, model=model, kind=kind, seed=seed, arch=arch, saes=saes,
                                   token_types=labels)  # type: ignore[arg-type]
    return out
