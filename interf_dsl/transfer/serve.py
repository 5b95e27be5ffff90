"""Transfer kind, test server: `interf serve MODEL`, an OpenAI-compatible server over any local model.

Input: a local model (a zoo name or a transformer_lens name, loaded with `load_model`, or a model object in tests).
Output: an ASGI app answering `/v1/completions`, `/v1/chat/completions` and `/v1/models` with `logprobs` /
`top_logprobs`, batching concurrent requests (see `batching.py`), with optional injected latency and seeded faults
(see `faults.py`). `ServerThread` runs it with uvicorn on 127.0.0.1 in a background thread (tests, the `serve:` key
of a transfer target). fastapi is imported at module level (FastAPI resolves endpoint annotations from module
globals); only `interf serve` and a transfer step with `serve:` import this module.

Chat template: a model whose tokenizer has a `chat_template` uses it; otherwise the conversation is rendered as
`"<role>: <content>\\n"` per message followed by `"assistant:"` (the simple template, documented in the README).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from interf_dsl.backends.loading import load_model
from interf_dsl.errors import BackendError
from interf_dsl.transfer.batching import Batcher, generate
from interf_dsl.transfer.faults import FAULT_HEADER, FaultConfig

MAX_LOGPROBS = 100
"""The most top logprobs the server returns (OpenAI caps completions at 5 and chat at 20; vLLM at 20 by default)."""


def render_chat(tokenizer: Any, messages: list[dict[str, Any]]) -> str:
    """The prompt text of a chat conversation: the tokenizer's template, or the simple documented one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    parts = [f"{m.get('role', 'user')}: {_content_text(m.get('content', ''))}\n" for m in messages]
    return "".join(parts) + "assistant:"


def _content_text(content: Any) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _request_json(raw: bytes) -> dict[str, Any] | Response:
    """The request body as a JSON object, or an OpenAI-style 400 error (never a 500 with a traceback)."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        body = exc
    if isinstance(body, dict):
        return body
    reason = f"invalid JSON: {body}" if isinstance(body, Exception) else "the body must be a JSON object"
    return JSONResponse({"error": {"message": reason, "type": "invalid_request_error"}}, status_code=400)


def create_app(model: Any, *, name: str, max_batch: int = 32, batch_wait_ms: float = 5.0,
               latency_ms: float = 0.0, faults: FaultConfig | None = None, threads: int | None = None,
               max_logprobs: int = MAX_LOGPROBS) -> FastAPI:
    """Build the ASGI app serving `model` under the model id `name`.

    `max_logprobs` caps the top logprobs returned per token, like a provider's cap (OpenAI completions: 5), so tests
    can drive the k = min(requested, offered) protocol and the sources' rescoring.
    """

    faults = faults or FaultConfig()
    batcher = Batcher(model, max_batch=max_batch, wait_ms=batch_wait_ms, threads=threads)
    app = FastAPI(title=f"interf serve {name}")
    app.state.batcher = batcher
    app.state.requests = 0
    app.state.peers = set()  # client (host, port)s seen: one per TCP connection, so tests can check pooling

    async def _faulted(request: Request, body: bytes) -> Response | str | None:
        app.state.requests += 1
        if request.client is not None:
            app.state.peers.add((request.client.host, request.client.port))
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000.0)
        forced = request.headers.get(FAULT_HEADER)
        fault = (None if forced == "none" else forced) if forced else faults.draw(body)
        if fault == "429":
            return JSONResponse({"error": {"message": "rate limited (injected)", "type": "rate_limit_error"}},
                                status_code=429, headers={"Retry-After": f"{faults.retry_after_s:g}"})
        if fault == "500":
            return JSONResponse({"error": {"message": "server error (injected)", "type": "server_error"}},
                                status_code=500)
        if fault == "stall":
            await asyncio.sleep(faults.stall_s)
        if fault == "malformed":
            return Response(content=b'{"id": "x", "choices": [{"text": ', media_type="application/json")
        return fault  # None, "stall" (answered late) or "no_logprobs"

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "interf"}]}

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        raw = await request.body()
        early = await _faulted(request, raw)
        if isinstance(early, Response):
            return early
        body = _request_json(raw)
        if isinstance(body, Response):
            return body
        prompts = body.get("prompt", "")
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        k = min(int(body.get("logprobs") or 0), max_logprobs)
        choices, usage = await _run(batcher, prompts, body, k)
        out = []
        for i, (steps, _) in enumerate(choices):
            choice: dict[str, Any] = {"text": "".join(s.token for s in steps), "index": i,
                                      "finish_reason": "length", "logprobs": None}
            if k > 0 and early != "no_logprobs":
                choice["logprobs"] = {"tokens": [s.token for s in steps],
                                      "token_logprobs": [s.logprob for s in steps],
                                      "top_logprobs": [_top_dict(s.top) for s in steps],
                                      "text_offset": _offsets(steps)}
            out.append(choice)
        return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": int(time.time()),
                "model": name, "choices": out, "usage": usage}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        raw = await request.body()
        early = await _faulted(request, raw)
        if isinstance(early, Response):
            return early
        body = _request_json(raw)
        if isinstance(body, Response):
            return body
        prompt = render_chat(batcher.tokenizer, body.get("messages", []))
        want = bool(body.get("logprobs"))
        k = min(int(body.get("top_logprobs") or 0), max_logprobs) if want else 0
        choices, usage = await _run(batcher, [prompt], body, k, n=int(body.get("n") or 1))
        out = []
        for i, (steps, _) in enumerate(choices):
            choice = {"index": i, "finish_reason": "length", "logprobs": None,
                      "message": {"role": "assistant", "content": "".join(s.token for s in steps)}}
            if want and early != "no_logprobs":
                choice["logprobs"] = {"content": [
                    {"token": s.token, "logprob": s.logprob, "bytes": list(s.token.encode()),
                     "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in s.top]}
                    for s in steps]}
            out.append(choice)
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": name, "choices": out, "usage": usage}

    return app


async def _run(batcher: Any, prompts: list[str], body: dict, k: int, n: int | None = None) -> tuple[list, dict]:
    """Generate `n` choices per prompt; returns ([(steps, n_prompt_tokens)], usage)."""
    import torch


    n = n if n is not None else int(body.get("n") or 1)
    max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
    temperature = float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0)
    seed = body.get("seed")
    jobs, meta = [], []
    n_prompt = 0
    for p_i, prompt in enumerate(prompts):
        ids = batcher.encode(prompt)
        n_prompt += len(ids)
        for c in range(n):
            gen = None
            if temperature > 0:  # greedy needs no generator (torch.seed() costs ~1 ms a request under load)
                gen = torch.Generator().manual_seed(int(seed) * 1000 + p_i * 100 + c if seed is not None
                                                    else random.getrandbits(63))
            jobs.append(generate(batcher, ids, max_tokens=max_tokens, temperature=temperature,
                                 top_logprobs=k, generator=gen))
            meta.append(len(ids))
    results = await asyncio.gather(*jobs)
    n_completion = sum(len(r) for r in results)
    usage = {"prompt_tokens": n_prompt, "completion_tokens": n_completion, "total_tokens": n_prompt + n_completion}
    return list(zip(results, meta, strict=True)), usage


def _top_dict(top: list[tuple[str, float]]) -> dict[str, float]:
    # The completions format is a dict: two ids decoding to the same string collapse onto the first (higher) one.
    out: dict[str, float] = {}
    for tok, lp in top:
        out.setdefault(tok, lp)
    return out


def _offsets(steps: list) -> list[int]:
    offs, pos = [], 0
    for s in steps:
        offs.append(pos)
        pos += len(s.token)
    return offs


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread; `api_base` is its `/v1` URL."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"interf-serve-{self.port}", daemon=True)
        self.api_base = f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 30.0) -> ServerThread:

        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise BackendError(f"interf serve did not start on 127.0.0.1:{self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        batcher = getattr(getattr(self.server.config.app, "state", None), "batcher", None)
        if batcher is not None:
            batcher.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_model(ref: str, **kw: Any) -> ServerThread:
    """Load a local model by reference (zoo name or transformer_lens name) and serve it in a thread."""

    model = load_model(ref)
    return ServerThread(create_app(model, name=ref.split(":")[-1], **kw))
