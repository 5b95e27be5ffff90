"""Benchmark: transfer requests through litellm against `interf serve` with injected latency.

Sends TRIALS distinct one-token logprob requests (one per trial) with concurrency C to an `interf serve` subprocess
that adds LATENCY ms per request, then sends them again (all from the response cache). Ideal throughput is C /
latency; the target is >= 80 %. The served model is zoo:target-tiny when the zoo is built, else the tests' tiny
random model. Last line: one JSON object (throughput_fraction, trials, concurrency, rerun_requests, ...).

    python benchmarks/bench_transfer.py [--trials 10000] [--concurrency 8] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def serve(port: int, latency_ms: float) -> None:
    """Child mode: serve the model on 127.0.0.1:port."""
    import uvicorn

    from interf_dsl.transfer.serve import create_app

    try:
        from interf_dsl.execute.backends.loading import load_model

        model = load_model("zoo:target-tiny")
    except Exception:  # noqa: BLE001 - zoo not built: the tests' tiny model
        sys.path.insert(0, str(ROOT / "tests"))
        from transfer_server import tiny_model

        model = tiny_model()
    app = create_app(model, name="bench", latency_ms=latency_ms, threads=1, max_batch=64, batch_wait_ms=1.0)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def wait_up(base: str, timeout_s: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve is not None:
        return serve(a.serve, a.latency_ms)

    from interf_dsl.transfer.client import Query, TransferClient, import_litellm, run_sync
    from interf_dsl.transfer.serve import free_port
    from interf_dsl.transfer.targets import TargetSpec

    import_litellm()
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--latency-ms", str(a.latency_ms)])
    try:
        wait_up(base)
        target = TargetSpec.from_params({"name": "bench", "model": "openai/bench", "serve": "bench",
                                         "top_k": 10, "concurrency": a.concurrency, "timeout_s": 30})
        cache = Path(tempfile.mkdtemp(prefix="interf-bench-"))
        queries = [Query(f"({i})The treasure is buried somewhere in", k=10) for i in range(a.trials)]
        warm = TransferClient(target, Path(tempfile.mkdtemp()), api_base=base)
        run_sync(warm.ask_all([Query(f"warm {i}", k=10) for i in range(2 * a.concurrency)]))
        client = TransferClient(target, cache, api_base=base)
        t0 = time.monotonic()
        run_sync(client.ask_all(queries))
        elapsed = time.monotonic() - t0
        first = client.acct.requests
        rerun = TransferClient(target, cache, api_base=base)
        t1 = time.monotonic()
        run_sync(rerun.ask_all(queries))
        rerun_s = time.monotonic() - t1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    throughput = a.trials / elapsed
    ideal = a.concurrency / (a.latency_ms / 1000.0)
    print(f"first pass: {a.trials} trials in {elapsed:.1f} s = {throughput:.1f}/s (ideal {ideal:.0f}/s); "
          f"rerun {rerun_s:.1f} s, {rerun.acct.requests} requests")
    print(json.dumps({"throughput_fraction": round(throughput / ideal, 3), "throughput_per_s": round(throughput, 1),
                      "ideal_per_s": ideal, "trials": a.trials, "concurrency": a.concurrency,
                      "latency_ms": a.latency_ms, "requests": first, "retries": client.acct.retries,
                      "rerun_requests": rerun.acct.requests, "rerun_cache_hits": rerun.acct.cache_hits,
                      "rerun_s": round(rerun_s, 2), "cpus": os.cpu_count(),
                      "load_avg": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
