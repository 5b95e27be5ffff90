"""Report stage: the "Answers" section — the paper's three questions for this run, each as one figure and one
small table with intervals and the statistics mode (docs/method.md §5, §6.2, §7.5).

Input: a `RunData`. Output: `Section`s (an `Answers` heading and one sub-section per question) and the figures
they show, drawn at render time into `figures/answers_*.png` (so `interf report RUN` renders them for any run).

1. Does steering along a partner's direction move the output more at higher interference? (the steering effect by
   interference bin, per focus and source, with the regression slope on I);
2. The Table-1 grid: success rates per token set (target / high / medium / random / matched) for sources and
   targets side by side;
3. Does the effect transfer? (target effect / source effect per type and set, with the reason wherever there is
   no ratio).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.report import answer_figures
from interf_dsl.report.sections import ANSWER_PREFIX, Section, TableView

if TYPE_CHECKING:
    import polars as pl

    from interf_dsl.report.io import RunData

STEER_FOCI = ("feature", "token")
WIDE = 4.0
"""A ratio interval wider than this says nothing (1 = full transfer, 0 = none); its row says why."""
CONDITIONS = ("target", "high", "medium", "random", "random_matched")
STAR_LEGEND = ("stars: Welch t-test on trials against RANDOM (paper mode), * p < 0.05, ** p < 0.01, "
               "*** p < 0.001; the test is two-sided, so ↓ marks a starred rate below RANDOM's")


def num(value: Any, digits: int = 3) -> str:
    """A number as text; empty for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}"


def interval(est: Any, lo: Any, hi: Any, digits: int = 3) -> str:
    """`est [lo, hi]`, or only what is known."""
    text = num(est, digits)
    if num(lo) and num(hi):
        text += f" [{num(lo, digits)}, {num(hi, digits)}]"
    return text


def bin_labels(run: dict[str, Any]) -> dict[str, str]:
    """Bin index (as text) -> its I range, from the resolved spec's `map.bins`."""
    bins = (run.get("resolved") or {}).get("map", {}).get("bins") or []
    labels = {}
    for i, b in enumerate(bins):
        try:
            lo, hi, closed = b[0], b[1], bool(b[2]) if len(b) > 2 else False
        except (TypeError, IndexError, KeyError):
            continue
        labels[str(i)] = f"[{lo:g}, {hi:g}{']' if closed else ')'}"
    return labels


def _answer_mode(df: pl.DataFrame) -> str:
    modes = set(df["mode"].drop_nulls().to_list()) if "mode" in df.columns else set()
    return "rigorous" if "rigorous" in modes else "paper"


def _steering_rows(data: RunData) -> tuple[pl.DataFrame | None, str, str]:
    """Per focus × source × τ × bin effect rows of the primary metric in the answer mode."""
    import polars as pl

    need = {"focus", "level", "metric", "mode", "estimator", "source", "estimate", "ci_lo", "ci_hi"}
    if "effects" not in data.table_names or not need <= set(data.columns("effects")):
        return None, "", ""
    df = data.table("effects").filter(pl.col("focus").is_in(STEER_FOCI))
    if df.height == 0:
        return None, "", ""
    mode = _answer_mode(df)
    metrics = df.filter(pl.col("primary")) if "primary" in df.columns else df
    metric = str((metrics if metrics.height else df)["metric"].drop_nulls().first())
    estimator = "heldout_alpha_mean" if mode == "rigorous" else "best_alpha_mean"
    rows = df.filter((pl.col("mode") == mode) & (pl.col("metric") == metric)
                     & (pl.col("estimator") == estimator) & pl.col("level").str.contains(r"^\d+$"))
    return rows, mode, f"{metric}, {estimator}"


def _slopes(data: RunData, metric: str, mode: str) -> dict[tuple[str, str], str]:
    """(focus, source) -> slope of Model B on I, `coef [lo, hi], p` (docs/method.md §5.1)."""
    import polars as pl

    if "regressions" not in data.table_names or not {"term", "model", "mode", "metric", "coef", "ci_lo", "ci_hi",
                                                       "p", "step"} <= set(data.columns("regressions")):
        return {}
    reg = data.table("regressions").filter((pl.col("term") == "I") & (pl.col("model") == "B")
                                           & (pl.col("mode") == mode)
                                           & (pl.col("metric") == metric.split("_", 1)[0]))
    out = {}
    for r in reg.to_dicts():
        parts = str(r["step"]).split(":")
        if len(parts) == 3:
            out[(parts[1], parts[2])] = f"{interval(r['coef'], r['ci_lo'], r['ci_hi'])}, p {num(r['p'], 2)}"
    return out


def _question1(data: RunData, fig_dir: Path) -> Section:
    rows, mode, what = _steering_rows(data)
    sec = Section("1. Does a partner's direction steer more at higher interference?", level=3)
    if rows is None or rows.height == 0:
        sec.text.append("no steering focus (feature, token) with effects by interference bin in this run")
        return sec
    labels = bin_labels(data.run)
    metric = what.split(",")[0]
    slopes = _slopes(data, metric, mode)
    bins = sorted(set(rows["level"].to_list()), key=int)
    cells: dict[tuple, dict[str, str]] = {}
    for r in rows.to_dicts():
        cells.setdefault((r["focus"], r["source"], r.get("tau")), {})[r["level"]] = (
            interval(r["estimate"], r["ci_lo"], r["ci_hi"], 2) + f" (n {r.get('n') or '?'})")
    body = [[focus, source, num(tau)] + [cells[(focus, source, tau)].get(b, "") for b in bins]
            + [slopes.get((focus, source), "")]
            for focus, source, tau in sorted(cells, key=lambda k: (k[0], k[1], -(k[2] or 0)))]
    sec.text += [f"mode **{mode}**, metric {what}: the mean relative change of the target tokens' metric when "
                 "steering along the first partner of each interference bin; intervals are the run's CIs "
                 f"({_ci(data.run)})",
                 "slope on I: Model B (relative change ~ I + S + site) of the same mode and metric, "
                 "coefficient [CI], p (docs/method.md §5.1)"]
    sec.tables.append(TableView("steering effect by interference bin",
                                ["focus", "source", "τ", *(f"I in {labels.get(b, b)}" for b in bins),
                                 "slope on I [CI], p"],
                                body, len(body)))
    path = answer_figures.steering_figure(rows, labels, f"{metric} ({mode})", fig_dir / "answers_1_steering.png")
    sec.figures += [path] if path else []
    return sec


def _ci(run: dict[str, Any]) -> str:
    stats = (run.get("resolved") or {}).get("stats", {})
    return f"{int(100 * float(stats.get('ci', 0.95)))}%"


def _question2(data: RunData, fig_dir: Path) -> Section:
    import polars as pl

    sec = Section("2. The Table-1 grid: success rate by token set", level=3)
    if "transfer_grid" not in data.table_names or not {"model", "role", "type", "condition", "success_rate", "ci_lo",
                                                         "ci_hi", "k"} <= set(data.columns("transfer_grid")):
        sec.text.append("no transfer in this run (no Table-1 grid)")
        return sec
    grid = data.table("transfer_grid")
    models = list(dict.fromkeys(
        grid.sort(["role", "model"], descending=[False, False]).filter(pl.col("role") == "source")["model"].to_list()
        + grid.filter(pl.col("role") != "source")["model"].unique(maintain_order=True).to_list()))
    ks = sorted({int(k) for k in grid["k"].drop_nulls().to_list()})
    random_rate = {(r["model"], r["type"]): r["success_rate"]
                   for r in grid.filter(pl.col("condition") == "random").to_dicts()}
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for r in grid.to_dicts():
        text = interval(100 * r["success_rate"], _pct(r["ci_lo"]), _pct(r["ci_hi"]), 3)
        stars = r.get("stars") or ""
        base = random_rate.get((r["model"], r["type"]))
        if stars and base is not None and r["success_rate"] < base:
            stars += "↓"
        cells.setdefault((r["type"], r["condition"]), {})[r["model"]] = text + (f" {stars}" if stars else "")
    order = {c: i for i, c in enumerate(CONDITIONS)}
    body = [[typ, cond] + [cells[(typ, cond)].get(m, "") for m in models]
            for typ, cond in sorted(cells, key=lambda tc: (tc[0], order.get(tc[1], 99), tc[1]))]
    roles = {r["model"]: r["role"] for r in grid.to_dicts()}
    header = ["type", "token set"] + [f"{m} ({roles.get(m, '')})" for m in models]
    sec.text += [f"success rate in % [CI]: injected tokens raise the number of target-type tokens in the top-k "
                 f"(k = {', '.join(map(str, ks)) or '?'}) above the uninjected sentence (docs/method.md §3.4, §6.2)",
                 "sources (the small models) and targets (the transfer models) side by side; random_matched is the "
                 "frequency- and length-matched RANDOM set (docs/method.md §8.8)", STAR_LEGEND]
    own = _sources_own_k(data.run)
    src_k = {r["model"]: r["k"] for r in grid.filter(pl.col("role") == "source").to_dicts() if r["k"] is not None}
    differ = sorted(f"{m} at k = {src_k[m]} here, k = {own[m]} there" for m in src_k if m in own and own[m] != src_k[m])
    if differ:
        sec.text.append("the sources' rates are rescored at the targets' k, so they differ from the prompt-focus "
                        "section's, which counts each source's trials at its own top_k (" + "; ".join(differ)
                        + "): same trials, fewer top-k slots to hit")
    if "effects" in data.table_names and "token_sets" in data.columns("effects"):
        sets = data.table("effects").filter(pl.col("focus") == "prompt").select("source", "token_sets").unique()
        if sets.height > sets["source"].n_unique():
            sec.text.append("each source ran several token sets (share); its rows here are its trials on the sets the "
                            "target was given, and the prompt-focus section shows every set")
    sec.tables.append(TableView("Table-1 grid", header, body, len(body)))
    path = answer_figures.grid_figure(grid, models, fig_dir / "answers_2_grid.png")
    sec.figures += [path] if path else []
    return sec


def _sources_own_k(run: dict[str, Any]) -> dict[str, int]:
    """Each source's type-injection top_k, from the plan's prompt-focus steps (blocks may be stored by reference)."""
    plan = run.get("plan", {})
    shared = plan.get("shared", {})
    out: dict[str, int] = {}
    for step in plan.get("steps", []):
        params = step.get("params", {})
        block = params.get("block")
        block = shared.get(block, block) if isinstance(block, str) else block
        if step.get("kind") == "intervene" and params.get("focus") == "prompt" and isinstance(block, dict) \
                and block.get("mode", "type_injection") == "type_injection" and block.get("top_k") is not None:
            out[str(params.get("source"))] = int(block["top_k"])
    return out


def _pct(value: Any) -> Any:
    return None if value is None else 100 * value


def ratio_reason(r: dict[str, Any]) -> str:
    """Why a transfer ratio or its interval is missing (empty when both are there)."""
    s, t = r.get("source_effect"), r.get("target_effect")
    if not num(r.get("ratio")):
        if s is None:
            return "no source effect for this type and set"
        if s == 0:
            return ("no ratio: the source's difference from RANDOM is 0, nothing to transfer"
                    + (" (the target's is 0 too)" if t == 0 else ""))
        return "no ratio"
    if not num(r.get("ratio_lo")):
        method = str(r.get("method") or "")
        return method.split(":", 1)[1].strip() if ":" in method else "no interval"
    if r["ratio_hi"] - r["ratio_lo"] > WIDE:
        return f"interval too wide to read: the source's difference ({num(s)}) is close to 0"
    return ""


def _question3(data: RunData, fig_dir: Path) -> Section:
    sec = Section("3. Does the effect transfer? Target effect / source effect", level=3)
    if "transfer_ratio" not in data.table_names or not {"target", "type", "condition", "source", "ratio", "ratio_lo",
                                                          "ratio_hi", "target_effect", "source_effect"} <= set(
            data.columns("transfer_ratio")):
        sec.text.append("no transfer ratio in this run")
        return sec
    ratios = data.table("transfer_ratio")
    body, missing = [], 0
    for r in ratios.sort(["target", "type", "condition", "source"]).to_dicts():
        reason = ratio_reason(r)
        missing += not num(r.get("ratio"))
        body.append([r["target"], r["type"], r["condition"], r["source"], num(r["target_effect"]),
                     num(r["source_effect"]), interval(r["ratio"], r["ratio_lo"], r["ratio_hi"]) or "—", reason])
    sec.text += ["ratio = (target rate − target RANDOM rate) / (source rate − source RANDOM rate), per source, with a "
                 f"Fieller {_ci(data.run)} interval (none where the source's difference is within its CI of 0); 1 means "
                 "the effect carries over whole, 0 not at all",
                 f"{ratios.height - missing} of {ratios.height} rows have a ratio; the last column says why the others "
                 "(or their intervals) are missing"]
    sec.tables.append(TableView("transfer ratios", ["target", "type", "set", "source", "target effect",
                                                    "source effect", "ratio [CI]", "reason"], body, len(body)))
    path = answer_figures.ratio_figure(ratios, fig_dir / "answers_3_transfer.png")
    sec.figures += [path] if path else []
    return sec


def answer_sections(data: RunData) -> list[Section]:
    """The `Answers` heading and its three questions; figures are (re)drawn into the run's `figures/`."""
    fig_dir = data.path / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob(f"{ANSWER_PREFIX}*.png"):
        old.unlink()
    head = Section("Answers", text=["the paper's three questions for this run; every number carries its interval "
                                    "and the statistics mode it was computed in (docs/method.md §8)"])
    return [head, _question1(data, fig_dir), _question2(data, fig_dir), _question3(data, fig_dir)]
