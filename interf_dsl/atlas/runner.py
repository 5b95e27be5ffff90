"""Atlas kind: step runners `atlas`, `explain` and `embed` (registered in steps.py's STEP_RUNNERS).

`atlas` params: source, sae, hook_name, atlas (section); inputs: model, sae → tables `features`, `contexts`,
`vocab`; file `atlas_vectors` (safetensors: activation_sample, context_means). `explain` params: source, sae,
explanations; input: atlas → `explanations`. `embed` params: embedding; input: explain → `embeddings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interf_dsl.atlas.corpus import read_corpus, token_windows, vocab_strings
from interf_dsl.atlas.embed import embed_explanations
from interf_dsl.atlas.explain import explain_features
from interf_dsl.atlas.stats import compute_atlas
from interf_dsl.errors import ExecuteError
from interf_dsl.lang.params import params_of
from interf_dsl.steps import StepResult, step_runner

if TYPE_CHECKING:
    from interf_dsl.steps import StepContext


def only_input(ctx: StepContext, kind: str) -> StepResult:
    """The single input step of `kind` (an error when the plan wired none or several)."""
    found = list(ctx.inputs_of_kind(kind))
    if len(found) != 1:
        raise ExecuteError(f"step {ctx.step.id} needs exactly one '{kind}' input, found {len(found)}")
    return found[0][1]


def _tag(df, source: str, hook: str):
    import polars as pl

    return df.with_columns(pl.lit(source).alias("source"), pl.lit(hook).alias("hook")).select(
        "source", "hook", *[c for c in df.columns if c not in ("source", "hook")])


@step_runner("atlas")
def run_atlas(ctx: StepContext) -> StepResult:
    """Feature atlas of one SAE on the corpus."""
    import polars as pl
    from safetensors.torch import save_file


    p = params_of("atlas", ctx.params)
    source, hook = p.source, p.hook_name
    model, sae = ctx.model(source), ctx.sae(source, hook)
    docs = read_corpus(p.atlas.corpus)
    windows = token_windows(model.tokenizer, docs, p.atlas.context, p.atlas.max_tokens)
    prog = ctx.progress(windows.shape[0], f"atlas {source}/{hook}")
    atlas = compute_atlas(model, sae, hook, windows, p.atlas, counters=ctx.counters, progress=prog,
                          store=ctx.units("atlas_pass1"))
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    vec_path = ctx.work_dir / "atlas_vectors.safetensors"
    save_file({"activation_sample": atlas.activation_sample.contiguous(),
               "context_means": atlas.context_means.contiguous()}, str(vec_path))

    vocab = pl.DataFrame({"token_id": range(atlas.token_counts.numel()),
                          "token_str": vocab_strings(model.tokenizer, atlas.token_counts.numel()),
                          "count": atlas.token_counts.numpy()},
                         schema={"token_id": pl.Int64, "token_str": pl.Utf8, "count": pl.Int64})
    return StepResult(
        tables={"features": _tag(atlas.features, source, hook), "contexts": _tag(atlas.contexts, source, hook),
                "vocab": vocab},
        meta={"n_tokens": atlas.n_tokens, "n_windows": int(windows.shape[0]), "n_features": atlas.features.height,
              "n_active": int(atlas.features["active"].sum())},
        files={"atlas_vectors": vec_path})


@step_runner("explain")
def run_explain(ctx: StepContext) -> StepResult:
    """Explanations of one SAE's features."""

    atlas = only_input(ctx, "atlas")
    feats = atlas.tables["features"]
    source, hook = feats["source"][0], feats["hook"][0]
    settings = params_of("explain", ctx.params).explanations
    table = explain_features(feats, atlas.tables["contexts"], settings, ctx.counters)
    n = feats.height
    bad = table.filter((table["feature"] < 0) | (table["feature"] >= n))
    if bad.height:
        raise ExecuteError(f"explanations name features {bad['feature'].to_list()[:10]} outside this SAE (width {n})")
    return StepResult(tables={"explanations": _tag(table, source, hook)}, meta={"n_explained": table.height})


@step_runner("embed")
def run_embed(ctx: StepContext) -> StepResult:
    """Unit embeddings of one SAE's explanations."""

    expl = only_input(ctx, "explain").tables["explanations"]
    table = embed_explanations(expl, params_of("embed", ctx.params).embedding, ctx.counters)
    if expl.height:
        table = _tag(table, expl["source"][0], expl["hook"][0])
    return StepResult(tables={"embeddings": table}, meta={"n_embedded": table.height})
