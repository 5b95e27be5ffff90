"""Test-only step kinds and plan builders for the run-engine tests (registered on import, once per process).

`test_count`: n units, each checkpointed; counts one forward pass per unit; optionally touches ctx.model(source).
Outside its params (so the step hash stays the same between a crashed run and its rerun) the environment controls
it: ENGINE_TEST_LOG (append `start k` / `done k` lines), ENGINE_TEST_SLEEP (seconds per unit), ENGINE_TEST_CRASH_AT.
`test_sum`: sums its test_count inputs. `test_effects`: paper/rigorous effects with per-case data and a PNG figure.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import polars as pl

from interf_dsl.plan.ir import Plan, Step, seal_steps
from interf_dsl.steps import STEP_RUNNERS, StepContext, StepResult, step_runner

for _k, _v in {"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}.items():
    os.environ.setdefault(_k, _v)


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A valid grey PNG, built by hand (no matplotlib in unit tests)."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _log(path: str | None, line: str) -> None:
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def run_count(ctx: StepContext) -> StepResult:
    p = ctx.params
    log, crash_at = os.environ.get("ENGINE_TEST_LOG"), os.environ.get("ENGINE_TEST_CRASH_AT")
    sleep = float(os.environ.get("ENGINE_TEST_SLEEP", "0"))
    if p.get("model_source"):
        ctx.model(p["model_source"])
    store = ctx.units()
    bar = ctx.progress(p["n"], ctx.step.id)
    for k in range(p["n"]):
        key = f"unit/{k}"
        if not store.done(key):
            _log(log, f"start {ctx.step.id} {k}")
            if crash_at is not None and int(crash_at) == k:
                raise RuntimeError(f"crash at unit {k}")
            time.sleep(sleep)
            noise = float(ctx.rng(key).normal())
            store.save(key, pl.DataFrame({"unit": [k], "value": [k * p.get("mult", 1) + 0.0], "noise": [noise]}))
            ctx.counters.forward_passes += 1
            _log(log, f"done {ctx.step.id} {k}")
        bar.advance()
    table = store.load_all()
    return StepResult(tables={"counts": table}, meta={"n": p["n"]})


def run_sum(ctx: StepContext) -> StepResult:
    total = sum(float(r.tables["counts"]["value"].sum()) for _, r in ctx.inputs_of_kind("test_count"))
    return StepResult(tables={"sums": pl.DataFrame({"total": [total]})})


def run_effects(ctx: StepContext) -> StepResult:
    rng = ctx.rng("cases")
    shift = ctx.params.get("shift", 0.0)
    cases, effects = [], []
    for cond, mean in (("self", 1.0), ("random", 0.0)):
        values = rng.normal(mean + (shift if cond == "random" else 0.0), 0.05, size=40)
        cases += [{"feature": 7, "condition": cond, "metric": "wcos", "case": f"s{i}", "value": float(v)}
                  for i, v in enumerate(values)]
        m, se = float(values.mean()), float(values.std(ddof=1) / len(values) ** 0.5)
        for mode, width in (("paper", 1.0), ("rigorous", 1.96)):
            effects.append({"feature": 7, "condition": cond, "metric": "wcos", "mode": mode, "estimate": m,
                            "ci_lo": m - width * se, "ci_hi": m + width * se, "n": 40})
    fig = ctx.work_dir / "effects.png"
    fig.write_bytes(tiny_png())
    if ctx.params.get("api_requests"):
        ctx.counters.api_requests += ctx.params["api_requests"]
        ctx.counters.api_tokens += 10 * ctx.params["api_requests"]
    return StepResult(tables={"effects": pl.DataFrame(effects), "interventions": pl.DataFrame(cases)},
                      files={"effects.png": Path("effects.png")},
                      meta={"api_usage": {"tgt": {"requests": ctx.params.get("api_requests", 0), "tokens": 0}}}
                      if ctx.params.get("api_requests") else {})


for _kind, _fn in (("test_count", run_count), ("test_sum", run_sum), ("test_effects", run_effects)):
    if _kind not in STEP_RUNNERS:
        step_runner(_kind)(_fn)


def make_plan(n: int = 6, *, seed: int = 0, shift: float = 0.0, experiment: str = "demo", model: bool = False,
              api_requests: int = 0, stats: dict | None = None) -> Plan:
    """A plan: load_model, two counts (the first optionally using the model, and carrying `stats`, a
    statistics-only section), their sum, and effects."""
    count_a = {"n": n, "mult": 1} | ({"stats": stats} if stats is not None else {})
    if model:
        count_a["model_source"] = "m"
    steps = [
        Step(id="model:m", kind="load_model", params={"source": "m", "model": "zoo:gpt2-tiny", "fingerprint": "f1"}),
        Step(id="count:a", kind="test_count", params=count_a, inputs=("model:m",)),
        Step(id="count:b", kind="test_count", params={"n": 3, "mult": 10}),
        Step(id="sum", kind="test_sum", params={}, inputs=("count:a", "count:b")),
        Step(id="intervene:feature:m", kind="test_effects", params={"shift": shift, "api_requests": api_requests}),
    ]
    return Plan(experiment=experiment, preset="paper", seed=seed, spec_sha256="0" * 64,
                steps=seal_steps(steps, "test"))
