"""Benchmark of the Ray executor (`execute.executor: ray`): not a test.

Runs one zoo study of many independent units, on a local Ray cluster of 1 CPU and then of 2 CPUs (one worker per
CPU), each from an empty cache, and prints the speedup. The study: gpt2-tiny with six SAE hooks (six independent
atlas → explain → embed → map chains, one task each), then select and prompts, then the feature focus over
`--targets` targets per hook, whose units fan out to `max_width` = workers shard tasks. Before timing, every worker
imports torch, transformer_lens and sae_lens, and the study's upstream steps are not shared between the two runs
(each has its own cache), so both runs do the same work.

Scheduling overhead is measured three ways: a Ray round trip of an empty task (submit + get, one at a time, and
per task with 200 in flight); the same for interf's own task path with an empty runner (`load_model` steps: open
the cache, build the context, run, commit an entry); and, in the study, each task's time in the worker outside
its runner (reading the inputs' tables and committing the entry's parquet files: real I/O that a local run pays
too, so not scheduling overhead). The machine's load average is printed beside the numbers (a shared
machine's other processes take CPU from the workers). The last line is one JSON object.

    python benchmarks/bench_ray.py [--targets 6] [--workers 1,2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HOOKS = "L1,3.{attn_out,mlp_out,resid_post}"


def spec(targets: int) -> dict:
    return {
        "experiment": {"name": "benchray", "seed": 0, "preset": "paper"},
        "sources": {"gpt2": {"model": "zoo:gpt2-tiny", "saes": [{"hooks": HOOKS, "sae": "zoo"}]}},
        "atlas": {"max_tokens": 4000, "context": 32, "top_contexts": 5},
        "map": {"bins": "[0,.1) [.1,.2) [.2,1]", "thresholds": [0.4], "targets_per_layer": targets,
                "partners_per_bin": 1},
        "interventions": [{"focus": "feature", "scales": "{2, 4}"}],
        "prompts": {"per_token": 2, "per_type": 2},
        "stats": {"bootstrap": 200},
        "report": {"formats": ["md"], "figures": False},
    }


def warm(ray, workers: int) -> None:
    """Start every worker and import the heavy libraries in it (each task holds its CPU until all have started)."""

    @ray.remote(num_cpus=1)
    def imports(barrier: float) -> int:
        import sae_lens  # noqa: F401
        import torch  # noqa: F401
        import transformer_lens  # noqa: F401

        import interf_dsl.foci.runner  # noqa: F401
        while time.time() < barrier:
            time.sleep(0.05)
        return os.getpid()

    pids = ray.get([imports.remote(time.time() + 20) for _ in range(workers)])
    assert len(set(pids)) == workers, pids


def empty_task_ms(ray, n: int = 200) -> tuple[float, float]:
    """(mean round trip of one empty task in ms, submitted one at a time; ms per task when n are in flight)."""

    @ray.remote(num_cpus=1)
    def noop() -> None:
        return None

    ray.get(noop.remote())
    t0 = time.perf_counter()
    for _ in range(n):
        ray.get(noop.remote())
    serial = (time.perf_counter() - t0) / n * 1000
    t0 = time.perf_counter()
    ray.get([noop.remote() for _ in range(n)])
    return serial, (time.perf_counter() - t0) / n * 1000


def empty_steps_ms(ray, cache: Path, n: int = 200) -> tuple[float, float]:
    """interf's task path with an empty runner: `n` load_model steps (distinct fingerprints; each opens the cache,
    builds its context, runs a runner that records a reference, commits an entry) submitted as the executor does.
    Returns (ms round trip one at a time, ms per task with all in flight)."""
    from interf_dsl.execute.ray_executor import run_task
    from interf_dsl.plan.ir import Plan, Step, seal_steps

    steps = [Step(id=f"model:m{i}", kind="load_model",
                  params={"source": f"m{i}", "model": "zoo:gpt2-tiny", "fingerprint": f"bench{i}"})
             for i in range(2 * n + 1)]
    plan = Plan(experiment="bench", preset="paper", seed=0, spec_sha256="0", steps=seal_steps(steps, "bench"))
    remote, plan_ref, loaders = ray.remote(num_cpus=1)(run_task), ray.put(plan), ray.put((None, None))

    def submit(i: int):
        return remote.remote(plan_ref, f"model:m{i}", str(cache), {}, [], None, False, loaders)

    ray.get(submit(2 * n))  # warm: the worker opens the cache once
    t0 = time.perf_counter()
    for i in range(n):
        ray.get(submit(i))
    serial = (time.perf_counter() - t0) / n * 1000
    t0 = time.perf_counter()
    ray.get([submit(i) for i in range(n, 2 * n)])
    return serial, (time.perf_counter() - t0) / n * 1000


def run_study(plan, workers: int, cache: Path) -> dict:
    """Drive the plan on the connected cluster (no run directory); wall time of the drive and per-task numbers."""
    from interf_dsl.execute.cache import StepCache
    from interf_dsl.execute.progress import RunProgress
    from interf_dsl.execute.ray_executor import run_on_ray
    from interf_dsl.execute.resources import Resources
    from interf_dsl.execute.run import RunState
    from interf_dsl.lang.sections import Execute

    with RunProgress(quiet=True, out=open(os.devnull, "w")) as progress:  # noqa: SIM115
        run = RunState(plan, StepCache(cache), Resources(plan), progress, set())
        t0 = time.perf_counter()
        driver = run_on_ray(run, Execute(executor="ray", max_width=workers))
        wall = time.perf_counter() - t0
    over = [t["task_seconds"] - t["seconds"] for t in driver.timings]
    return {"wall_s": round(wall, 2), "tasks": len(driver.timings),
            "runner_s": round(sum(t["seconds"] for t in driver.timings), 2),
            "interf_task_overhead_ms": round(1000 * statistics.mean(over), 1),
            "forward_passes": sum(r.counters.get("forward_passes", 0) for r in run.records)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=6, help="feature-focus targets per hook (units fan out)")
    ap.add_argument("--workers", default="1,2", help="cluster sizes to compare (CPUs = workers)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds over the sizes (alternating); the fastest counts")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import ray

    from interf_dsl.parse import load_spec
    from interf_dsl.plan import compile_plan
    from interf_dsl.resolve import resolve_spec

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    (tmp / "spec.yaml").write_text(yaml.safe_dump(spec(args.targets), sort_keys=False), encoding="utf-8")
    plan = compile_plan(resolve_spec(load_spec(tmp / "spec.yaml")))
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out: dict = {"cpus": os.cpu_count(), "steps": len(plan.steps), "load_before": os.getloadavg()[0]}
    rounds = [(r, int(x)) for r in range(args.repeat) for x in args.workers.split(",")]
    for r, w in rounds:
        ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {
            "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}})
        try:
            warm(ray, w)
            serial_ms, inflight_ms = empty_task_ms(ray)
            step_serial_ms, step_inflight_ms = empty_steps_ms(ray, tmp / f"empty-{w}")
            res = run_study(plan, w, tmp / f"cache-{w}-{r}")
        finally:
            ray.shutdown()
        res.update(empty_task_roundtrip_ms=round(serial_ms, 2), empty_task_inflight_ms=round(inflight_ms, 2),
                   empty_step_roundtrip_ms=round(step_serial_ms, 2), empty_step_inflight_ms=round(step_inflight_ms, 2),
                   load=os.getloadavg()[0])
        best = out.get(f"workers_{w}")
        if best is None or res["wall_s"] < best["wall_s"]:
            out[f"workers_{w}"] = res
        out.setdefault(f"walls_{w}", []).append(res["wall_s"])
        print(f"{w} worker(s): {res['wall_s']} s for {res['tasks']} tasks ({res['runner_s']} s in runners, "
              f"{res['forward_passes']} forward passes); empty task {serial_ms:.1f} ms round trip, "
              f"{inflight_ms:.1f} ms/task in flight; empty interf step {step_serial_ms:.1f} ms round trip, "
              f"{step_inflight_ms:.1f} ms/task in flight; in-worker time outside runners (inputs, commit) "
              f"{res['interf_task_overhead_ms']} ms/task; load {res['load']:.1f}", flush=True)
    sizes = [int(x) for x in args.workers.split(",")]
    if len(sizes) >= 2:
        a, b = out[f"workers_{sizes[0]}"], out[f"workers_{sizes[-1]}"]
        out["speedup"] = round(a["wall_s"] / b["wall_s"], 2)
        out["same_work"] = a["forward_passes"] == b["forward_passes"]
        print(f"speedup {sizes[-1]} vs {sizes[0]} worker(s): {out['speedup']}x (goal >= 1.6x with 2); "
              f"load average {out['load_before']:.1f} before, {os.getloadavg()[0]:.1f} after, on {out['cpus']} CPUs")
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
