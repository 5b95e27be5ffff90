"""`interf serve` over HTTP through litellm: logprobs, chat, batching, faults, retries, cache, limits, key hygiene."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest
from transfer_server import served, tiny_model

from interf_dsl.errors import BackendError
from interf_dsl.transfer.answers import Query
from interf_dsl.transfer.client import TransferClient
from interf_dsl.transfer.faults import FaultConfig
from interf_dsl.transfer.targets import TargetSpec


def _target(base, **kw):
    return TargetSpec.from_params({"name": "tiny", "model": "openai/tiny", "api_base": base, "backoff_s": 0.01,
                                   "timeout_s": 5, **kw})


def test_endpoints_and_batching():
    model = tiny_model()
    with served(model, threads=1, batch_wait_ms=20) as base:
        r = httpx.get(f"{base}/models").json()
        assert r["data"][0]["id"] == "tiny"
        body = {"model": "tiny", "prompt": "we went to", "logprobs": 5, "max_tokens": 1, "temperature": 0}
        c = httpx.post(f"{base}/completions", json=body).json()
        top = c["choices"][0]["logprobs"]["top_logprobs"][0]
        assert 1 <= len(top) <= 5 and all(v <= 0 for v in top.values())
        # greedy token = the best of the top logprobs, and it matches the model run locally
        import torch
        with torch.no_grad():
            lp = torch.log_softmax(model(model.to_tokens("we went to"))[0, -1], -1)
        assert c["choices"][0]["logprobs"]["token_logprobs"][0] == pytest.approx(float(lp.max()), abs=1e-4)
        chat = httpx.post(f"{base}/chat/completions", json={"model": "tiny", "max_tokens": 1, "logprobs": True,
                          "top_logprobs": 3, "messages": [{"role": "user", "content": "hi"}]}).json()
        assert len(chat["choices"][0]["logprobs"]["content"][0]["top_logprobs"]) == 3

        async def many():
            async with httpx.AsyncClient() as cl:
                return await asyncio.gather(*(cl.post(f"{base}/completions", json={**body, "prompt": f"{i} a"})
                                              for i in range(12)))
        assert all(r.status_code == 200 for r in asyncio.run(many()))


def test_fault_header_and_no_logprobs():
    with served(threads=1) as base:
        body = {"model": "tiny", "prompt": "x", "logprobs": 3, "max_tokens": 1}
        r = httpx.post(f"{base}/completions", json=body, headers={"x-interf-fault": "429"})
        assert r.status_code == 429 and float(r.headers["retry-after"]) > 0
        assert httpx.post(f"{base}/completions", json=body, headers={"x-interf-fault": "500"}).status_code == 500
        r = httpx.post(f"{base}/completions", json=body, headers={"x-interf-fault": "no_logprobs"})
        assert r.json()["choices"][0]["logprobs"] is None


def test_malformed_request_is_a_400_not_a_traceback():
    with served(threads=1) as base:
        for endpoint in ("completions", "chat/completions"):
            r = httpx.post(f"{base}/{endpoint}", content=b"{not json", headers={"content-type": "application/json"})
            assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]
            r = httpx.post(f"{base}/{endpoint}", json=[1, 2])
            assert r.status_code == 400 and "JSON object" in r.json()["error"]["message"]


def test_retries_through_every_fault_then_cache(tmp_path):
    faults = FaultConfig({"429": 0.15, "500": 0.1, "malformed": 0.1, "no_logprobs": 0.1, "stall": 0.05},
                         seed=3, stall_s=3.0, retry_after_s=0.02)
    with served(threads=1, faults=faults) as base:
        client = TransferClient(_target(base, timeout_s=1.0, max_retries=12, concurrency=8), tmp_path, api_base=base)
        queries = [Query(f"({i}) we went to", k=5) for i in range(40)]
        answers = asyncio.run(client.ask_all(queries))
        acct = client.acct
        assert all(a.tokens and a.logprobs for a in answers)
        assert acct.succeeded == 40 and acct.retries == acct.requests - 40 > 0
        assert {"429", "missing_logprobs"} <= set(acct.errors)
        again = asyncio.run(client.ask_all(queries))
        assert client.acct.requests == acct.requests and client.acct.cache_hits == 40
        assert [a.tokens for a in again] == [a.tokens for a in answers]


def test_errors_are_never_cached_and_give_up_cleanly(tmp_path):
    with served(threads=1, faults=FaultConfig({"500": 1.0})) as base:
        client = TransferClient(_target(base, max_retries=2), tmp_path, api_base=base)
        with pytest.raises(BackendError, match="gave up after 3 attempts"):
            asyncio.run(client.ask(Query("x", k=3)))
        assert client.acct.requests == 3
    assert not list(tmp_path.rglob("*.json"))


def test_retry_after_is_honoured(tmp_path):
    faults = FaultConfig({"429": 1.0}, retry_after_s=0.4)
    with served(threads=1, faults=faults) as base:
        client = TransferClient(_target(base, max_retries=1), tmp_path, api_base=base)
        t0 = time.monotonic()
        with pytest.raises(BackendError):
            asyncio.run(client.ask(Query("x", k=3)))
        assert time.monotonic() - t0 >= 0.4


def test_rpm_limit_spaces_requests(tmp_path):
    with served(threads=1) as base:
        client = TransferClient(_target(base, rpm=600, concurrency=8), tmp_path, api_base=base)
        t0 = time.monotonic()
        asyncio.run(client.ask_all([Query(f"{i}", k=2) for i in range(25)]))
        # a bucket of 10 (one second of budget) then 10 per second: 15 more take >= 1.5 s
        assert time.monotonic() - t0 >= 1.4


def test_key_never_written(tmp_path, monkeypatch):
    secret = "sk-FAKE-SECRET-value-123"
    monkeypatch.setenv("INTERF_TEST_KEY", secret)
    with served(threads=1, faults=FaultConfig({"500": 0.3}, seed=1)) as base:
        target = _target(base, api_key_env="INTERF_TEST_KEY", max_retries=8)
        client = TransferClient(target, tmp_path, api_base=base)
        asyncio.run(client.ask_all([Query(f"{i}", k=2) for i in range(10)]))
        assert target.api_key() == secret
    assert secret not in str(client.acct.to_json()) + str(target.to_json())
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes()


def test_connections_are_pooled_across_requests(tmp_path):
    """litellm opens a TCP connection per text completion unless given a session; run_sync gives it one."""
    from interf_dsl.transfer.serve import ServerThread, create_app
    from interf_dsl.transfer.session import run_sync

    app = create_app(tiny_model(), name="tiny", threads=1)
    with ServerThread(app) as server:
        client = TransferClient(_target(server.api_base, concurrency=4), tmp_path, api_base=server.api_base)
        answers = run_sync(client.ask_all([Query(f"({i}) we went to", k=3) for i in range(40)]))
    assert len(answers) == 40 and app.state.requests == 40
    assert len(app.state.peers) <= 4  # one connection per concurrent slot, not one per request


def test_worker_processes_give_the_same_answers_and_retry(tmp_path):
    """`workers: 2`: calls run in two spawned processes; answers, retries and accounting are as in-process."""
    from interf_dsl.transfer.session import run_sync

    faults = FaultConfig({"429": 0.2, "500": 0.1}, seed=5, retry_after_s=0.02)
    queries = [Query(f"({i}) we went to", k=4) for i in range(24)]
    with served(threads=1, faults=faults) as base:
        inproc = TransferClient(_target(base, concurrency=4, max_retries=12), tmp_path / "a", api_base=base)
        want = run_sync(inproc.ask_all(queries))
        pooled = TransferClient(_target(base, concurrency=4, max_retries=12, workers=2), tmp_path / "b",
                                api_base=base)
        try:
            got = run_sync(pooled.ask_all(queries))
            again = run_sync(pooled.ask_all(queries))  # a new event loop: the same workers, all from the cache
            pids = pooled._workers[0].pids
        finally:
            pooled.close()
    assert [a.tokens for a in got] == [a.tokens for a in want]
    for a, b in zip(got, want, strict=True):  # the server batches differently: float noise only
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
    assert len(pids) == 2 and os.getpid() not in pids
    assert pooled.acct.succeeded == 24 and pooled.acct.retries > 0 and "429" in pooled.acct.errors
    assert pooled.acct.cache_hits == 24 and all(a.cached for a in again)


def test_a_killed_worker_stops_the_requests_cleanly(tmp_path):
    """A worker process that dies fails its requests at once (a BackendError the step reports), never a hang."""
    import signal

    from interf_dsl.transfer.session import run_sync

    with served(threads=1, latency_ms=300) as base:
        client = TransferClient(_target(base, concurrency=4, max_retries=2, workers=2), tmp_path, api_base=base)
        try:
            run_sync(client.ask_all([Query("warm up", k=2)]))
            victim = client._workers[0]._procs[0].pid

            async def kill_midway():
                asyncio.get_running_loop().call_later(0.15, os.kill, victim, signal.SIGKILL)
                return await client.ask_all([Query(f"({i}) x", k=2) for i in range(20)])

            t0 = time.monotonic()
            with pytest.raises(BackendError, match="worker process exited"):
                run_sync(kill_midway())
            assert time.monotonic() - t0 < 5
        finally:
            client.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_prompt_arrays_answer_like_single_requests(tmp_path, workers):
    """`batch: 4`: logprob queries go out as prompt arrays, 4 per request, through faults; same answers and cache."""
    from interf_dsl.transfer.session import run_sync

    faults = FaultConfig({"429": 0.15, "malformed": 0.1, "no_logprobs": 0.1}, seed=9, retry_after_s=0.02)
    queries = [Query(f"({i}) we went to", k=4) for i in range(10)] + [Query(f"({i}) a", k=2) for i in range(3)]
    with served(threads=1, faults=faults) as base:
        single = TransferClient(_target(base, max_retries=12), tmp_path / "a", api_base=base)
        want = run_sync(single.ask_all(queries))
        arrays = TransferClient(_target(base, max_retries=12, batch=4, workers=workers), tmp_path / "b",
                                api_base=base)
        try:
            got = run_sync(arrays.ask_all(queries))
        finally:
            arrays.close()
        # k=4: 10 queries in 3 arrays, k=2: 3 in 1; every retry is one more request
        assert arrays.acct.succeeded == 4 and arrays.acct.requests == 4 + arrays.acct.retries
        assert arrays.acct.retries > 0 and set(arrays.acct.errors) & {"429", "malformed", "missing_logprobs"}
        # each answer is cached under its own prompt: a one-per-request client finds them all
        again = TransferClient(_target(base), tmp_path / "b", api_base=base)
        cached = run_sync(again.ask_all(queries))
    assert again.acct.requests == 0 and again.acct.cache_hits == len(queries)
    for a, b, c in zip(got, want, cached, strict=True):
        assert a.tokens == b.tokens == c.tokens
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
