"""Atlas kind, `atlas` step: the `features` and `contexts` tables from the streamed statistics.

Input: context columns (feature, rank, token ids, per-token activations, max position, max activation), the
frequency and max activation per feature, the SAE (decoder) and model (unembedding), the token strings and the
atlas settings. Output: polars tables whose columns atlas/README.md documents. Top tokens come from the top
contexts (as Neuronpedia's activation records do): unique tokens ranked by their max activation, kept when
≥ r × the feature's max (r = `top_token_ratio`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl
    import torch

    from interf_dsl.lang.sections import AtlasStats

def contexts_table(cols: dict[str, torch.Tensor], strings: list[str]) -> pl.DataFrame:
    """Contexts, one row per (feature, rank), with token strings, built column-wise from pass-2 arrays.

    Args:
        cols: feature, rank, max_pos [m] (long), max_act [m], token_ids [m, T] (long), acts [m, T].
        strings: the decoded string of every token id.
    """
    import polars as pl

    ids, acts = cols["token_ids"], cols["acts"]
    m, t_len = ids.shape
    # fixed-width 2-D arrays → Array columns → List columns: no per-row Python objects
    tokens = pl.Series(strings, dtype=pl.Utf8).gather(ids.reshape(-1).numpy())
    df = pl.DataFrame({
        "feature": pl.Series(cols["feature"].numpy(), dtype=pl.Int64),
        "rank": pl.Series(cols["rank"].numpy(), dtype=pl.Int64),
        "token_ids": pl.Series(ids.numpy().astype("int64")).reshape((m, t_len)).cast(pl.List(pl.Int64)),
        "tokens": tokens.reshape((m, t_len)).cast(pl.List(pl.Utf8)),
        "acts": pl.Series(acts.double().numpy()).reshape((m, t_len)).cast(pl.List(pl.Float64)),
        "max_pos": pl.Series(cols["max_pos"].numpy(), dtype=pl.Int64),
        "max_act": pl.Series(cols["max_act"].double().numpy(), dtype=pl.Float64),
    })
    return df.sort("feature", "rank")


def top_tokens(contexts: pl.DataFrame, max_act: torch.Tensor, ratio: float, limit: int) -> pl.DataFrame:
    """Per feature: unique tokens with activation ≥ ratio × max, by activation (feature, ids, acts)."""
    import polars as pl

    mx = pl.DataFrame({"feature": range(max_act.numel()), "fmax": max_act.double().tolist()},
                      schema={"feature": pl.Int64, "fmax": pl.Float64})
    tok = (contexts.select("feature", "token_ids", "acts").explode(["token_ids", "acts"])
           .group_by("feature", "token_ids").agg(pl.col("acts").max())
           .join(mx, on="feature").filter((pl.col("acts") >= ratio * pl.col("fmax")) & (pl.col("acts") > 0))
           .sort(["feature", "acts", "token_ids"], descending=[False, True, False]))
    return tok.group_by("feature", maintain_order=True).agg(
        pl.col("token_ids").head(limit).alias("top_token_ids"), pl.col("acts").head(limit).alias("top_token_acts"))


def neuron_alignments(sae: Any, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k largest components of each unit decoder direction in the hook's basis (values, indices)."""
    import torch

    w = sae.W_dec.detach().float()
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return torch.topk(w, min(k, w.shape[1]), dim=1)


def logit_lens(sae: Any, model: Any, k: int, chunk: int = 1024) -> torch.Tensor:
    """Top-k token ids of decoder direction @ W_U per feature (in row chunks: never [n, vocab] at once)."""
    import torch

    w_dec, w_u = sae.W_dec.detach().float(), model.W_U.detach().float()
    out = []
    for r0 in range(0, w_dec.shape[0], chunk):
        out.append(torch.topk(w_dec[r0:r0 + chunk] @ w_u, min(k, w_u.shape[1]), dim=1).indices)
    return torch.cat(out)


def features_table(contexts: pl.DataFrame, frequency: torch.Tensor, max_act: torch.Tensor, sae: Any, model: Any,
                   strings: list[str], settings: AtlasStats) -> pl.DataFrame:
    """The `features` table (without source/hook; the runner adds them)."""
    import polars as pl
    import torch

    if settings.top_token_ratio is None:
        raise ValueError("atlas.top_token_ratio is unset: the spec's preset resolves it before the plan is built")
    ratio, limit = settings.top_token_ratio, settings.max_top_tokens
    with torch.no_grad():
        n_val, n_idx = neuron_alignments(sae, settings.neuron_alignments)
        lens = logit_lens(sae, model, settings.logit_lens)
    base = pl.DataFrame({
        "feature": pl.Series(range(frequency.numel()), dtype=pl.Int64),
        "frequency": frequency.double().numpy(), "max_act": max_act.double().numpy(),
        "active": (frequency > 0).numpy(),
        "neuron_idx": pl.Series(n_idx.tolist(), dtype=pl.List(pl.Int64)),
        "neuron_val": pl.Series(n_val.double().tolist(), dtype=pl.List(pl.Float64)),
        "logit_tokens": [[strings[i] for i in row] for row in lens.tolist()],
    })
    tops = top_tokens(contexts, max_act, ratio, limit)
    df = base.join(tops, on="feature", how="left").with_columns(
        pl.col("top_token_ids").fill_null(pl.lit([], dtype=pl.List(pl.Int64))),
        pl.col("top_token_acts").fill_null(pl.lit([], dtype=pl.List(pl.Float64))))
    df = df.with_columns(pl.col("top_token_ids").map_elements(
        lambda ids: [strings[i] for i in ids], return_dtype=pl.List(pl.Utf8)).alias("top_tokens"))
    return df.select("feature", "frequency", "max_act", "active", "top_tokens", "top_token_ids", "top_token_acts",
                     "neuron_idx", "neuron_val", "logit_tokens").sort("feature")
