"""Benchmark: transfer requests through litellm against a server with injected latency (not a test).

Sends TRIALS distinct one-token logprob requests (one per trial) through interf's `TransferClient` (litellm, retries,
limits, cache, accounting) with concurrency C to a server that answers after LATENCY ms, then sends them again (all
from the response cache). Ideal throughput is C / latency; the goal is >= 80 %. Side by side, on the same server in
the same run, the same number of requests is sent by bare `litellm.atext_completion` calls and by bare httpx
posts with the same concurrency: the three fractions show what interf's engine costs on top of litellm, and what
litellm costs on top of HTTP, on this machine.

Servers (`--server`): `serve` is `interf serve` on zoo:target-tiny (the zoo's target; the tests' tiny random model
when the zoo is not built), a real forward pass per batch; `stub` answers every request with the same fixed
completion (no model), which isolates the client side. Both run in a child process.
`--sweep 1,2,4,8,16` adds one interf-client run per concurrency (`--sweep-trials` each). `--workers N` sets the
target's `workers` (litellm calls in N client processes; the bare baselines stay in one process). `--batch B`
adds a run with the target's `batch: B` (prompt arrays of B trials per request; concurrency still counts requests),
reported separately: the headline `throughput_fraction` is one trial per request.
Last line: one JSON object (throughput_fraction, trials, concurrency, rerun_requests, ...).

    python benchmarks/bench_transfer.py [--trials 10000] [--concurrency 8] [--workers 2] [--latency-ms 50]
                                        [--server stub|serve] [--sweep 1,2,4,8,16]

Defaults: the stub server (the issue's "interf serve (or a stub server)": it measures the client, not the model's
forward pass, which `--server serve` adds to every request's latency) and `workers: 2`.
"""

from __future__ import annotations

import argparse
import asyncio
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
PROMPT = "({i})The treasure is buried somewhere in"


def serve(port: int, latency_ms: float) -> None:
    """Child mode: `interf serve` of the zoo target (or the tests' tiny model) on 127.0.0.1:port."""
    import uvicorn

    from interf_dsl.transfer.serve import create_app

    try:
        from interf_dsl.backends.loading import load_model

        model = load_model("zoo:target-tiny")
    except Exception:  # noqa: BLE001 - zoo not built: the tests' tiny model
        sys.path.insert(0, str(ROOT / "tests"))
        from transfer_server import tiny_model

        model = tiny_model()
    app = create_app(model, name="bench", latency_ms=latency_ms, threads=1, max_batch=64, batch_wait_ms=1.0)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def stub(port: int, latency_ms: float) -> None:
    """Child mode: a minimal HTTP/1.1 keep-alive server giving fixed 10-logprob completions after the latency (one
    choice per prompt of a prompt array)."""
    import functools

    @functools.cache
    def response(n: int) -> bytes:
        body = json.dumps({
            "id": "cmpl-stub", "object": "text_completion", "created": 0, "model": "bench",
            "choices": [{"text": " the", "index": i, "finish_reason": "length", "logprobs": {
                "tokens": [" the"], "token_logprobs": [-1.0], "text_offset": [0],
                "top_logprobs": [{f" t{j}": -1.0 - j for j in range(10)}]}} for i in range(n)],
            "usage": {"prompt_tokens": 10 * n, "completion_tokens": n, "total_tokens": 11 * n}}).encode()
        return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body

    models = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()
    models_head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(models)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")  # request line + headers in one read
                at = request.lower().find(b"content-length:")
                body = b""
                if at >= 0:
                    body = await reader.readexactly(int(request[at + 15:request.index(b"\r\n", at)]))
                if request.startswith(b"GET"):
                    writer.write(models_head + models)
                else:
                    n = len(json.loads(body)["prompt"]) if b'"prompt": [' in body or b'"prompt":[' in body else 1
                    await asyncio.sleep(latency_ms / 1000.0)
                    writer.write(response(n))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    try:  # uvloop (installed with uvicorn[standard]) keeps the stub's own overhead per request small
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


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


def interf_run(target, base: str, n: int, tag: str):
    """(seconds, client, queries) for n distinct queries through a fresh TransferClient with a fresh cache.

    Worker processes (if any) are started and warmed before the clock starts, as a long run amortises them.
    """
    from interf_dsl.transfer.answers import Query
    from interf_dsl.transfer.client import TransferClient
    from interf_dsl.transfer.session import run_sync

    client = TransferClient(target, Path(tempfile.mkdtemp(prefix="interf-bench-")), api_base=base)
    run_sync(client.ask_all([Query(PROMPT.format(i=f"warm-{tag}{i}"), k=10) for i in range(4 * target.workers)]))
    client.acct.requests = 0
    queries = [Query(PROMPT.format(i=f"{tag}{i}"), k=10) for i in range(n)]
    t0 = time.monotonic()
    run_sync(client.ask_all(queries))
    elapsed = time.monotonic() - t0
    client.close()
    return elapsed, client, queries


def bare_litellm(base: str, n: int, c: int) -> float:
    """Seconds for n bare litellm.atext_completion calls with concurrency c (same pooled session as interf)."""
    from interf_dsl.transfer.session import import_litellm, run_sync

    litellm = import_litellm()

    async def go() -> float:
        sem = asyncio.Semaphore(c)

        async def one(i: int) -> None:
            async with sem:
                await litellm.atext_completion(model="openai/bench", api_base=base, api_key="sk-bench",
                                               prompt=PROMPT.format(i=f"L{i}"), max_tokens=1, logprobs=10,
                                               temperature=0.0, num_retries=0, timeout=30)

        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.monotonic() - t0

    return run_sync(go())


def bare_httpx(base: str, n: int, c: int) -> float:
    """Seconds for n bare httpx posts of the same request body with concurrency c (one pooled client)."""
    import httpx

    async def go() -> float:
        sem = asyncio.Semaphore(c)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=None)) as http:
            async def one(i: int) -> None:
                async with sem:
                    r = await http.post(f"{base}/completions", json={
                        "model": "bench", "prompt": PROMPT.format(i=f"H{i}"), "max_tokens": 1, "logprobs": 10,
                        "temperature": 0.0}, timeout=30)
                    r.raise_for_status()
                    r.json()

            t0 = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(n)))
            return time.monotonic() - t0

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="the target's `workers` (client processes)")
    ap.add_argument("--batch", type=int, default=8, help="prompts per request of the extra prompt-array run (0: skip)")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--server", choices=("serve", "stub"), default="stub")
    ap.add_argument("--compare-trials", type=int, default=2000, help="requests of each side-by-side baseline")
    ap.add_argument("--sweep", default="", help="comma-separated concurrencies for an extra interf-client sweep")
    ap.add_argument("--sweep-trials", type=int, default=1000)
    ap.add_argument("--child", choices=("serve", "stub"), help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return (serve if a.child == "serve" else stub)(a.port, a.latency_ms)

    from interf_dsl.transfer.client import TransferClient
    from interf_dsl.transfer.serve import free_port
    from interf_dsl.transfer.session import import_litellm, run_sync
    from interf_dsl.transfer.targets import TargetSpec

    import_litellm()
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    proc = subprocess.Popen([sys.executable, __file__, "--child", a.server, "--port", str(port),
                             "--latency-ms", str(a.latency_ms)])
    ideal = a.concurrency / (a.latency_ms / 1000.0)

    def target(c: int, batch: int = 1):
        return TargetSpec.from_params({"name": "bench", "model": "openai/bench", "serve": "bench", "top_k": 10,
                                       "concurrency": c, "timeout_s": 30, "workers": a.workers, "batch": batch})

    try:
        wait_up(base)
        interf_run(target(a.concurrency), base, 4 * a.concurrency, "warm")
        elapsed, client, queries = interf_run(target(a.concurrency), base, a.trials, "")
        rerun = TransferClient(target(a.concurrency), client.cache.root, api_base=base)
        t1 = time.monotonic()
        run_sync(rerun.ask_all(queries))
        rerun_s = time.monotonic() - t1
        rerun.close()
        batched = interf_run(target(a.concurrency, a.batch), base, a.trials, "B") if a.batch > 1 else None
        n_cmp = min(a.compare_trials, a.trials)
        litellm_s = bare_litellm(base, n_cmp, a.concurrency)
        httpx_s = bare_httpx(base, n_cmp, a.concurrency)
        sweep = {}
        for c in [int(x) for x in a.sweep.split(",") if x.strip()]:
            s, _, _ = interf_run(target(c), base, a.sweep_trials, f"s{c}-")
            sweep[c] = round(a.sweep_trials / s / (c / (a.latency_ms / 1000.0)), 3)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    throughput = a.trials / elapsed
    frac = {"interf": throughput / ideal, "litellm": n_cmp / litellm_s / ideal, "httpx": n_cmp / httpx_s / ideal}
    print(f"server {a.server}, concurrency {a.concurrency}, workers {a.workers}, latency {a.latency_ms:g} ms, "
          f"ideal {ideal:.0f}/s")
    print(f"  interf TransferClient: {a.trials} trials in {elapsed:.1f} s = {throughput:.1f}/s "
          f"(fraction {frac['interf']:.3f}); rerun {rerun_s:.2f} s, {rerun.acct.requests} requests")
    print(f"  bare litellm:          {n_cmp} requests, fraction {frac['litellm']:.3f}")
    print(f"  bare httpx:            {n_cmp} requests, fraction {frac['httpx']:.3f}")
    if batched is not None:
        frac["batched"] = a.trials / batched[0] / ideal
        print(f"  interf, batch {a.batch}:     {a.trials} trials in {batched[0]:.1f} s, {batched[1].acct.requests} requests "
              f"(fraction {frac['batched']:.3f} of c / latency in trials)")
    for c, f in sweep.items():
        print(f"  sweep c={c:<3d} interf fraction {f:.3f}")
    print(json.dumps({"throughput_fraction": round(frac["interf"], 3), "throughput_per_s": round(throughput, 1),
                      "ideal_per_s": ideal, "trials": a.trials, "concurrency": a.concurrency,
                      "latency_ms": a.latency_ms, "workers": a.workers, "server": a.server,
                      "requests": client.acct.requests,
                      "retries": client.acct.retries, "rerun_requests": rerun.acct.requests,
                      "rerun_cache_hits": rerun.acct.cache_hits, "rerun_s": round(rerun_s, 2),
                      "bare_litellm_fraction": round(frac["litellm"], 3),
                      "bare_httpx_fraction": round(frac["httpx"], 3),
                      "interf_over_litellm": round(frac["interf"] / frac["litellm"], 3),
                      "batch": a.batch, "batched_throughput_fraction": round(frac.get("batched", float("nan")), 3),
                      "batched_requests": batched[1].acct.requests if batched else None,
                      "sweep_fraction": sweep, "cpus": os.cpu_count(),
                      "load_avg": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
