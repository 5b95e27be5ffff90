"""Transfer kind, test server: `interf serve MODEL`, an OpenAI-compatible server over any local model.

Input: a local model (a zoo name or a transformer_lens name, loaded with `load_model`, or a model object in tests).
Output: an ASGI app answering `/v1/completions`, `/v1/chat/completions` and `/v1/models` with `logprobs` /
`top_logprobs`, batching concurrent requests (see `batching.py`), with optional injected latency and seeded faults
(see `faults.py`). `ServerThread` runs it with uvicorn on 127.0.0.1 in a background thread (tests, the `serve:` key
of a transfer target). fastapi is imported at module level (FastAPI resolves endpoint annotations from module
globals); only `interf serve` and a transfer step with `serve:` import this module.

Chat template: a model whose tokenizer has a `chat_template` uses it; otherwise the conversation is rendered as
`"<role>: <content>\\n"` per message followed by `"assistant:"` (the simple template, documented in the README).

Limits (`ServeLimits`; defaults are the constants below, `interf serve --max-...` sets them). A request is refused
with an OpenAI-style error `{"error": {"message", "type", "param", "code"}}` and never half-served:
  * a body over `MAX_BODY_BYTES`: 413 `request_too_large`, answered from the Content-Length header (or once that
    many bytes of a chunked body arrived) without reading further, and the connection is closed;
  * a field of the wrong type, NaN/inf, negative or out of range (`max_tokens` 1..`MAX_TOKENS`, `n` 1..`MAX_N`,
    `temperature` 0..2, `logprobs`/`top_logprobs` >= 0, `seed` an integer), a prompt that is not a string or a list
    of at most `MAX_PROMPTS` strings, `messages` that are not a list of {role, content}, `stream: true`: 400
    `invalid_request_error` naming the `param`;
  * prompt tokens + `max_tokens` over the model's n_ctx: 400 `context_length_exceeded` (never cut silently);
  * a `model` other than the one served: 404 `model_not_found`;
  * generation past `MAX_REQUEST_S`: stopped, 504 `request_timeout`.
Generation stops when the client disconnects. SIGTERM / SIGINT stop `interf serve` within `SHUTDOWN_GRACE_S` plus
a forward pass, in-flight generations included; the banner is printed once the port is bound (`serve_forever`).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from interf_dsl.backends.loading import load_model
from interf_dsl.errors import BackendError
from interf_dsl.transfer.batching import Batcher, generate
from interf_dsl.transfer.faults import FAULT_HEADER, FaultConfig

MAX_LOGPROBS = 100
"""The most top logprobs the server returns (OpenAI caps completions at 5 and chat at 20; vLLM at 20 by default)."""
MAX_BODY_BYTES = 2 * 1024 * 1024
"""The largest request body read (bytes): 256 prompts of a few kilobytes each."""
MAX_TOKENS = 1024
"""The most tokens one choice may generate (`max_tokens` / `max_completion_tokens`)."""
MAX_N = 128
"""The most choices per prompt (`n`; OpenAI's cap)."""
MAX_PROMPTS = 256
"""The most prompts in one completions request (a transfer target's `batch` is at most 256)."""
MAX_CHOICES = 1024
"""The most generations one request may start (prompts x n)."""
MAX_REQUEST_S = 120.0
"""How long one request may generate before it is stopped (504)."""
SHUTDOWN_GRACE_S = 1.0
"""On SIGTERM / SIGINT (or `ServerThread.stop`), how long in-flight requests may finish before they are cancelled."""
DISCONNECT_POLL_S = 0.1
"""How often a generating request checks whether its client is still connected."""
DEFAULT_MAX_TOKENS = 16
"""`max_tokens` when a request gives none (OpenAI's completions default)."""


@dataclass(frozen=True)
class ServeLimits:
    """The caps of one server (see the module docstring for what exceeding each one answers)."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_tokens: int = MAX_TOKENS
    max_n: int = MAX_N
    max_prompts: int = MAX_PROMPTS
    max_choices: int = MAX_CHOICES
    max_request_s: float = MAX_REQUEST_S


class _Refusal(Exception):
    """A request answered with an OpenAI-style error instead of a completion."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400,
                 kind: str = "invalid_request_error", close: bool = False) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code
        self.status, self.kind, self.close = status, kind, close

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers={"Connection": "close"} if self.close else None)


@dataclass(frozen=True)
class _Ask:
    """A validated request: prompts and how to answer them."""

    prompts: list[str]
    n: int
    max_tokens: int
    temperature: float
    seed: int | None
    k: int
    logprobs: bool


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


def _request_json(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or an OpenAI-style 400 error (never a 500 with a traceback)."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _Refusal(f"invalid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise _Refusal("the body must be a JSON object", code="invalid_json")
    return body


async def _read_body(request: Request, cap: int) -> bytes:
    """The body, read only while it stays within `cap` bytes (413 from the Content-Length header when it can)."""
    too_large = _Refusal(f"the request body is larger than the server's limit of {cap:,} bytes",
                         code="request_too_large", status=413, close=True)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise too_large if declared.isdigit() else _Refusal("invalid Content-Length header", close=True)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _int(body: dict, key: str, default: int | None, lo: int, hi: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refusal(f"'{key}' must be an integer, not {json.dumps(value)[:40]}", key, "invalid_type")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise _Refusal(f"'{key}' must be {bound}, not {str(value)[:40]}", key, "invalid_value")
    return value


def _temperature(body: dict) -> float:
    value = body.get("temperature")
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refusal(f"'temperature' must be a number, not {json.dumps(value)[:40]}", "temperature", "invalid_type")
    if not math.isfinite(value) or not 0 <= value <= 2:
        raise _Refusal(f"'temperature' must be a finite number between 0 and 2, not {value}", "temperature",
                       "invalid_value")
    return float(value)


def _prompts(body: dict, limits: ServeLimits) -> list[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if (not isinstance(prompt, list) or not prompt or len(prompt) > limits.max_prompts
            or not all(isinstance(p, str) for p in prompt)):
        raise _Refusal(f"'prompt' must be a string or a list of 1 to {limits.max_prompts} strings", "prompt",
                       "invalid_type" if not isinstance(prompt, list) else "invalid_value")
    return prompt


def _messages(body: dict) -> list[dict[str, Any]]:
    messages = body.get("messages")
    ok = isinstance(messages, list) and messages and all(
        isinstance(m, dict) and isinstance(m.get("role"), str)
        and (isinstance(m.get("content"), str) or (isinstance(m.get("content"), list) and all(
            isinstance(part, dict) and isinstance(part.get("text", ""), str) for part in m["content"])))
        for m in messages)
    if not ok:
        raise _Refusal("'messages' must be a non-empty list of {role, content} objects", "messages", "invalid_type")
    return messages


def _parse(body: dict, *, chat: bool, name: str, tokenizer: Any, limits: ServeLimits, max_logprobs: int) -> _Ask:
    """Check every field of a request against its type and the server's caps; an error names the first bad one."""
    model = body.get("model")
    if not isinstance(model, str):
        raise _Refusal("you must provide a model parameter (a string)", "model", "missing_required_parameter")
    if model != name:
        raise _Refusal(f"the model '{model[:100]}' does not exist; this server serves '{name}'", "model",
                       "model_not_found", status=404)
    if body.get("stream"):
        raise _Refusal("streaming is not supported by interf serve", "stream", "unsupported_value")
    key = "max_completion_tokens" if chat and body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _int(body, key, DEFAULT_MAX_TOKENS, 1, limits.max_tokens)
    n = _int(body, "n", 1, 1, limits.max_n)
    temperature, seed = _temperature(body), _int(body, "seed", None, -(2**63), 2**63 - 1)
    if chat:
        prompts = [render_chat(tokenizer, _messages(body))]
        flag = body.get("logprobs")
        if flag is not None and not isinstance(flag, bool):
            raise _Refusal("'logprobs' must be true or false", "logprobs", "invalid_type")
        top = _int(body, "top_logprobs", 0, 0)
        logprobs, k = bool(flag), min(top, max_logprobs) if flag else 0
    else:
        prompts = _prompts(body, limits)
        asked = _int(body, "logprobs", 0, 0)
        logprobs, k = asked > 0, min(asked, max_logprobs)
    if len(prompts) * n > limits.max_choices:
        raise _Refusal(f"{len(prompts)} prompts x n={n} is more than the server's {limits.max_choices} generations "
                       "per request", "n", "invalid_value")
    return _Ask(prompts, n, max_tokens, temperature, seed, k, logprobs)


def _encode(batcher: Any, ask: _Ask, chat: bool) -> list[list[int]]:
    """Token ids of every prompt, whole; a prompt that does not fit with its completion is refused."""
    n_ctx = int(batcher.model.cfg.n_ctx)
    out = []
    for prompt in ask.prompts:
        ids = [int(t) for t in batcher.model.to_tokens(prompt, truncate=False)[0].tolist()]
        if len(ids) + ask.max_tokens > n_ctx:
            raise _Refusal(f"this model's maximum context length is {n_ctx} tokens; the request asks for "
                           f"{len(ids) + ask.max_tokens} ({len(ids)} in the prompt, {ask.max_tokens} for the "
                           "completion)", "messages" if chat else "prompt", "context_length_exceeded")
        out.append(ids)
    return out


_DISCONNECTED, _TIMED_OUT = object(), object()


async def _guarded(request: Request, work: Any, deadline: float) -> Any:
    """Await `work`, cancelling it when the client disconnects or the deadline (loop time) passes."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=min(DISCONNECT_POLL_S, max(0.0, deadline - loop.time())))
            if done:
                return task.result()
            if await request.is_disconnected():
                return _DISCONNECTED
            if loop.time() >= deadline:
                return _TIMED_OUT
    finally:
        if not task.done():
            task.cancel()


def create_app(model: Any, *, name: str, max_batch: int = 32, batch_wait_ms: float = 5.0,
               latency_ms: float = 0.0, faults: FaultConfig | None = None, threads: int | None = None,
               max_logprobs: int = MAX_LOGPROBS, limits: ServeLimits | None = None) -> FastAPI:
    """Build the ASGI app serving `model` under the model id `name`.

    `max_logprobs` caps the top logprobs returned per token, like a provider's cap (OpenAI completions: 5), so tests
    can drive the k = min(requested, offered) protocol and the sources' rescoring. `limits` caps requests.
    """

    faults = faults or FaultConfig()
    limits = limits or ServeLimits()
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

    async def _answer(request: Request, chat: bool) -> tuple[list, dict, _Ask, str | None] | Response:
        """Read, check and generate one request: (choices, usage, the request, the fault) or the error to send."""
        deadline = asyncio.get_running_loop().time() + limits.max_request_s
        try:
            raw = await _read_body(request, limits.max_body_bytes)
            early = await _faulted(request, raw)
            if isinstance(early, Response):
                return early
            ask = _parse(_request_json(raw), chat=chat, name=name, tokenizer=batcher.tokenizer, limits=limits,
                         max_logprobs=max_logprobs)
            ids = _encode(batcher, ask, chat)
        except _Refusal as refusal:
            return refusal.response()
        outcome = await _guarded(request, _run(batcher, ids, ask), deadline)
        if outcome is _DISCONNECTED:
            return Response(status_code=499)  # nobody reads it; the generation was stopped
        if outcome is _TIMED_OUT:
            return _Refusal(f"the request generated for longer than the server's limit of {limits.max_request_s:g} s",
                            None, "request_timeout", status=504, kind="timeout_error").response()
        return (*outcome, ask, early)

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "interf"}]}

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        answered = await _answer(request, chat=False)
        if isinstance(answered, Response):
            return answered
        choices, usage, ask, early = answered
        out = []
        for i, (steps, _) in enumerate(choices):
            choice: dict[str, Any] = {"text": "".join(s.token for s in steps), "index": i,
                                      "finish_reason": "length", "logprobs": None}
            if ask.k > 0 and early != "no_logprobs":
                choice["logprobs"] = {"tokens": [s.token for s in steps],
                                      "token_logprobs": [s.logprob for s in steps],
                                      "top_logprobs": [_top_dict(s.top) for s in steps],
                                      "text_offset": _offsets(steps)}
            out.append(choice)
        return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": int(time.time()),
                "model": name, "choices": out, "usage": usage}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        answered = await _answer(request, chat=True)
        if isinstance(answered, Response):
            return answered
        choices, usage, ask, early = answered
        out = []
        for i, (steps, _) in enumerate(choices):
            choice = {"index": i, "finish_reason": "length", "logprobs": None,
                      "message": {"role": "assistant", "content": "".join(s.token for s in steps)}}
            if ask.logprobs and early != "no_logprobs":
                choice["logprobs"] = {"content": [
                    {"token": s.token, "logprob": s.logprob, "bytes": list(s.token.encode()),
                     "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in s.top]}
                    for s in steps]}
            out.append(choice)
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": name, "choices": out, "usage": usage}

    return app


async def _run(batcher: Any, prompt_ids: list[list[int]], ask: _Ask) -> tuple[list, dict]:
    """Generate `ask.n` choices per prompt; returns ([(steps, n_prompt_tokens)], usage)."""
    import torch

    jobs, meta = [], []
    for p_i, ids in enumerate(prompt_ids):
        for c in range(ask.n):
            gen = None
            if ask.temperature > 0:  # greedy needs no generator (torch.seed() costs ~1 ms a request under load)
                seed = (ask.seed * 1000 + p_i * 100 + c) % 2**63 if ask.seed is not None else random.getrandbits(63)
                gen = torch.Generator().manual_seed(seed)
            jobs.append(generate(batcher, ids, max_tokens=ask.max_tokens, temperature=ask.temperature,
                                 top_logprobs=ask.k, generator=gen))
            meta.append(len(ids))
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        results = await asyncio.gather(*tasks)
    finally:  # cancelled (client gone, deadline, shutdown): stop every generation, not only the one awaited
        for task in tasks:
            task.cancel()
    n_prompt = sum(len(ids) for ids in prompt_ids)
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
                                access_log=False, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
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


def serve_forever(app: Any, host: str, port: int, on_bound: Callable[[], None]) -> None:
    """Bind HOST:PORT, call `on_bound` (the banner: the port already takes connections), serve until a signal.

    uvicorn handles SIGTERM / SIGINT: in-flight requests get `SHUTDOWN_GRACE_S`, then they are cancelled (their
    generations with them), and the signal is raised again once the server is down.
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise BackendError(f"interf serve cannot listen on {host}:{port}: {exc.strerror or exc}",
                           hint="choose another --port, or stop the process that holds this one") from None
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    try:
        on_bound()
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        batcher = getattr(getattr(app, "state", None), "batcher", None)
        if batcher is not None:
            batcher.close()


def serve_model(ref: str, **kw: Any) -> ServerThread:
    """Load a local model by reference (zoo name or transformer_lens name) and serve it in a thread."""

    model = load_model(ref)
    return ServerThread(create_app(model, name=ref.split(":")[-1], **kw))
