"""Interference kind, `map` step: neurons and their polysemanticity degree (docs/method.md §5.4).

Input: the atlas `features` table (neuron_idx, neuron_val: each feature's top decoder components in the hook's
basis) and the feature clusters at cutoff 0.4. Output: the `neurons` table (source, hook, neuron, degree,
n_features, super, degree_bin): a feature links to a neuron when that component exceeds `link_threshold` (0.2);
degree = number of distinct clusters among the linked features; super-neuron = degree > `super_degree` (500).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interf_dsl.errors import SpecError

if TYPE_CHECKING:
    import polars as pl

PAPER_DEGREE_BINS = "1, 2-5, 6-20, 21-50, 51-100, 101-200, 201-500, 501+"


def parse_degree_bins(text: str) -> list[tuple[int, int | None, str]]:
    """Degree bins "1, 2-5, ..., 501+" as (lo, hi or None, label)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if part.endswith("+"):
                out.append((int(part[:-1]), None, part))
            elif "-" in part:
                lo, hi = part.split("-")
                out.append((int(lo), int(hi), part))
            else:
                out.append((int(part), int(part), part))
        except ValueError:
            raise SpecError(f"degree_bins: cannot parse {part!r} in {text!r}",
                            hint='write e.g. "1, 2-5, 6-20, 501+"') from None
    return out


def degree_bin(degree: int, bins: list[tuple[int, int | None, str]]) -> str | None:
    for lo, hi, label in bins:
        if degree >= lo and (hi is None or degree <= hi):
            return label
    return None


def neuron_table(features: pl.DataFrame, clusters: dict[int, int], *, source: str, hook: str,
                 link_threshold: float = 0.2, super_degree: int = 500,
                 degree_bins: str = PAPER_DEGREE_BINS) -> pl.DataFrame:
    """The neurons table from feature→neuron links and cluster labels (feature -> cluster at cutoff 0.4)."""
    import polars as pl

    links = (features.select("feature", "neuron_idx", "neuron_val").explode(["neuron_idx", "neuron_val"])
             .drop_nulls("neuron_idx").filter(pl.col("neuron_val") > link_threshold)
             .filter(pl.col("feature").is_in(list(clusters))))
    links = links.with_columns(pl.col("feature").replace_strict(clusters, return_dtype=pl.Int64).alias("cluster"))
    bins = parse_degree_bins(degree_bins)
    out = (links.group_by(pl.col("neuron_idx").alias("neuron"))
           .agg(pl.col("cluster").n_unique().alias("degree"), pl.col("feature").n_unique().alias("n_features"))
           .with_columns(pl.col("degree").cast(pl.Int64), pl.col("n_features").cast(pl.Int64)))
    out = out.with_columns((pl.col("degree") > super_degree).alias("super"),
                           pl.col("degree").map_elements(lambda d: degree_bin(d, bins), return_dtype=pl.Utf8)
                           .alias("degree_bin"))
    return (out.with_columns(pl.lit(source).alias("source"), pl.lit(hook).alias("hook"))
            .select("source", "hook", pl.col("neuron").cast(pl.Int64), "degree", "n_features", "super",
                    "degree_bin").sort("neuron"))
