"""Resolve stage, limits: what a spec asks of its models and of the machine, checked before anything runs.

Input: the `Spec`, its bound sources (`ArchInfo`: layers, d_vocab, n_ctx; SAE widths) and the error `Context`.
Output: located errors for values the field bounds cannot judge alone (`lang/limits.py` holds those): windows and
prompts longer than a model's context, top-k above its vocabulary, feature ids beyond an SAE's width, templates
without their placeholders, repeated names, and a plan whose work estimate no machine finishes
(`lang.limits.MAX_FORWARD_PASSES` passes per focus block and source, `MAX_API_REQUESTS` per transfer target).
"""

from __future__ import annotations

from typing import Any

from interf_dsl._source import format_key_path
from interf_dsl.foci import FOCI
from interf_dsl.lang.limits import MAX_API_REQUESTS, MAX_FORWARD_PASSES
from interf_dsl.lang.selectors import parse_selector
from interf_dsl.resolve.context import Context
from interf_dsl.resolve.resolved import ResolvedSource

TEMPLATE_FIELDS = ("{tokens}", "{sentence}")
"""Placeholders an injection template (`format`) must hold: the run fills both (`interventions/prompt_types.py`)."""


def check_models(spec: Any, sources: dict[str, ResolvedSource], sections: dict[str, Any], ctx: Context) -> None:
    """Context lengths, vocabulary sizes and SAE widths of the bound sources against what the spec asks."""
    atlas = spec.atlas
    if atlas.max_tokens < atlas.context:
        ctx.error(f"atlas.max_tokens ({atlas.max_tokens}) is less than one window of atlas.context ({atlas.context})",
                  ("atlas", "max_tokens"), hint="the atlas cuts the corpus into windows of `context` tokens")
    for name, src in sources.items():
        arch = src.arch
        if arch is None:
            continue
        if arch.n_ctx is not None and atlas.context > arch.n_ctx:
            ctx.error(f"atlas.context {atlas.context} is longer than {arch.name} takes (n_ctx {arch.n_ctx}, source "
                      f"'{name}')", ("atlas", "context"), hint=f"use at most {arch.n_ctx}")
        if arch.d_vocab is not None:
            _vocab(name, arch.name, arch.d_vocab, spec, sections, ctx)
    _selectors(spec, sources, ctx)


def _vocab(source: str, model: str, d_vocab: int, spec: Any, sections: dict[str, Any], ctx: Context) -> None:
    """Vocabulary-sized counts the spec sets (defaults are left alone: the runners cap them at the vocabulary)."""
    asks = [(("atlas", key), getattr(spec.atlas, key)) for key in ("max_top_tokens", "logit_lens")
            if key in spec.atlas.model_fields_set]
    top_k = sections["metrics"].top_k
    if isinstance(top_k, int):
        asks.append((("metrics", "top_k"), top_k))
    for i, block in enumerate(spec.interventions):
        if (block.sources is None or source in block.sources) and "top_k" in block.model_fields_set:
            asks.append((("interventions", i, "top_k"), block.top_k))
    for kp, value in asks:
        if value > d_vocab:
            ctx.error(f"{format_key_path(kp)} = {value} is more than the vocabulary of {model} ({d_vocab} tokens, "
                      f"source '{source}')", kp, hint=f"use at most {d_vocab}"
                      + (", or `full`" if kp == ("metrics", "top_k") else ""))


def _selectors(spec: Any, sources: dict[str, ResolvedSource], ctx: Context) -> None:
    """map.targets: feature ids below the width of their SAE (where a catalog gives it)."""
    for j, text in enumerate(spec.map.targets or ()):
        sel = parse_selector(text)
        src = sources.get(sel.source)
        sae = next((s for s in src.saes if s.hook_name == sel.hook), None) if src is not None else None
        if sae is None or sae.d_sae is None:
            continue  # an unknown source or hook is reported by the target check
        beyond = [f for f in sel.features if f >= sae.d_sae]
        if beyond:
            ctx.error(f"feature {beyond[0]} does not exist in {sel.source}/{sae.short} (it has {sae.d_sae} features, "
                      f"0-{sae.d_sae - 1})", ("map", "targets", j), item=str(beyond[0]))


def check_prompt_lengths(spec: Any, sources: dict[str, ResolvedSource], ctx: Context) -> None:
    """Injected tokens alone must fit a source model's context (each token string is at least one token)."""
    for i, block in enumerate(spec.interventions):
        per_trial = getattr(block, "tokens_per_trial", None)
        if per_trial is None or getattr(block, "mode", None) != "type_injection":
            continue
        for name in block.sources or tuple(sources):
            arch = sources[name].arch if name in sources else None
            if arch is not None and arch.n_ctx is not None and per_trial >= arch.n_ctx:
                ctx.error(f"tokens_per_trial {per_trial} leaves no room for the sentence in {arch.name} (n_ctx "
                          f"{arch.n_ctx}, source '{name}')", ("interventions", i, "tokens_per_trial"),
                          hint=f"inject fewer than {arch.n_ctx} tokens")


def check_templates(spec: Any, ctx: Context) -> None:
    """The transfer section's injection template holds `{tokens}` and `{sentence}` (focus blocks: `Prompt.check`)."""
    fmt = spec.transfer.format if spec.transfer is not None else None
    if fmt is not None:
        missing = [f for f in TEMPLATE_FIELDS if f not in fmt]
        if missing:
            ctx.error(f"transfer.format lacks {' and '.join(missing)}", ("transfer", "format"),
                      hint="the injected tokens and the sentence both go into it, e.g. ({tokens}){sentence}")


def check_repeats(spec: Any, ctx: Context) -> None:
    """Lists of names and thresholds hold each value once (a repeat counts twice in the work and the tables)."""
    lists = [(("map", "metrics"), spec.map.metrics), (("map", "thresholds"), spec.map.thresholds),
             (("metrics", "names"), spec.metrics.names), (("report", "formats"), spec.report.formats)]
    if spec.transfer is not None:
        lists.append((("transfer", "types"), spec.transfer.types))
    for kp, values in lists:
        repeat(values, kp, ctx.error)


def repeat(values: Any, kp: tuple, error: Any) -> None:
    """Report the second occurrence of any value of `values` (a list at key path `kp`)."""
    seen: set = set()
    for j, v in enumerate(values):
        if v in seen:
            error(f"{v!r} is listed twice", kp + (j,), hint="list each value once")
        seen.add(v)


def check_work(resolved: Any, ctx: Context) -> None:
    """The plan's work stays within what a machine can finish (the counts the plan would print)."""
    for i, block in enumerate(resolved.interventions):
        focus = FOCI.get(block.focus)
        for source in block.sources or ():
            hooks = resolved.focus_hooks(block, source)
            if not hooks:
                continue
            work = focus.estimate(block, resolved, len(hooks))
            passes = work.forward_passes + work.gradient_passes
            if passes > MAX_FORWARD_PASSES:
                ctx.error(f"the {block.focus} focus would take {passes:.3g} forward passes on source '{source}' (at "
                          f"most {MAX_FORWARD_PASSES:.0e})", ("interventions", i),
                          hint="lower its counts (targets, sentences, scales, draws, trials) or its hooks")
    tr = resolved.transfer
    if tr is not None:
        conditions = 4 + (1 if tr.matched_random else 0)
        prompts = len(tr.types) * tr.sentences * (conditions * tr.trials + 1)
        if prompts > MAX_API_REQUESTS:
            ctx.error(f"transfer would send {prompts:.3g} prompts to each target (at most {MAX_API_REQUESTS:.0e})",
                      ("transfer", "trials"), hint="lower transfer.sentences or transfer.trials")
