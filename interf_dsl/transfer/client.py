"""Transfer kind, execution: asynchronous litellm requests with limits, retries, a response cache and accounting.

Input: a `TargetSpec` and `Query`s (a prompt plus what to read: top-k logprobs of the next token, or n sampled first
tokens). Output: `Answer`s (token strings, best first, with their logprobs when the target gives them).

* bounded concurrency (`target.concurrency`), token-bucket limits on requests and tokens per minute (rpm, tpm);
* retries with exponential backoff that honour a server's Retry-After, on 429, 5xx, timeouts, connection errors,
  malformed bodies and answers missing the logprobs asked for; other errors (auth, bad request) stop at once; a
  request that fails for good raises `AuthError` (401/403), `MalformedResponseError` (bodies that are not JSON) or
  `BackendError`, each carrying `.failure` (`RequestFailure`: attempts, error kinds, transient or not);
* litellm is always called with `num_retries=0` (we retry) after `LITELLM_LOCAL_MODEL_COST_MAP=True` is set;
* a content-addressed cache on disk: one JSON file per (target identity, resolved params, prompt); only successful,
  complete answers are written (errors never are), atomically, so a killed run leaves no torn entry;
* per-target accounting: HTTP attempts, successes, retries, errors by kind, tokens, cost (local cost map), cache hits.
The API key is passed to litellm only; it is never logged, cached or put in an error message. Query / Answer
types, response parsing and error classification live in answers.py; `workers: N` moves the litellm calls into
worker processes (workers.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from interf_dsl.canonical import canonical_json
from interf_dsl.errors import AuthError, BackendError, MalformedResponseError
from interf_dsl.prices import cost_usd
from interf_dsl.transfer.answers import (
    MAX_BACKOFF_S,
    Accounting,
    Answer,
    Query,
    RequestFailure,
    classify_error,
    error_detail,
    parse_answers,
)
from interf_dsl.transfer.session import import_litellm
from interf_dsl.transfer.targets import TargetSpec
from interf_dsl.transfer.workers import RequestWorkers


class ResponseCache:
    """Content-addressed answers on disk: `<dir>/<sha[:2]>/<sha>.json`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def key(self, target: TargetSpec, query: Query) -> str:
        payload = {"target": target.cache_identity(), "params": query.params(target), "prompt": query.prompt}
        return hashlib.sha256(canonical_json(payload).encode()).hexdigest()

    def get(self, key: str) -> Answer | None:
        path = self.root / key[:2] / f"{key}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return Answer(**data, cached=True)

    def put(self, key: str, answer: Answer) -> None:
        path = self.root / key[:2] / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{random.getrandbits(32):x}.tmp")
        data = {k: v for k, v in asdict(answer).items() if k != "cached"}
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)


class TokenBucket:
    """A per-minute limit as a bucket holding one second of budget, refilled continuously."""

    def __init__(self, per_minute: float | None) -> None:
        self.rate = (per_minute or 0.0) / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, amount: float = 1.0) -> None:
        if self.rate <= 0:
            return
        amount = min(amount, self.capacity)
        async with self.lock:
            while True:
                now = time.monotonic()
                self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.level >= amount:
                    self.level -= amount
                    return
                await asyncio.sleep((amount - self.level) / self.rate)


class TransferClient:
    """Sends `Query`s to one target through litellm (see the module docstring for the guarantees)."""

    def __init__(self, target: TargetSpec, cache_dir: Path, *, api_base: str | None = None,
                 on_request: Any = None) -> None:
        self.target = target
        self.api_base = api_base or target.api_base
        self.cache = ResponseCache(cache_dir)
        self.acct = Accounting()
        self.on_request = on_request  # callback(prompt_tokens, completion_tokens) for the engine's counters
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list = [None]  # the RequestWorkers of `target.workers` > 1, made at the first send
        self._bind_loop()

    def with_mode(self, mode: str) -> TransferClient:
        """A client for the same target through the other endpoint, sharing cache and accounting."""

        other = TransferClient(self.target.model_copy(update={"mode": mode}), self.cache.root, api_base=self.api_base,
                               on_request=self.on_request)
        other.acct = self.acct
        other._workers = self._workers
        return other

    def close(self) -> None:
        """Stop the worker processes, if any (a client with `workers: 1` holds nothing)."""
        if self._workers[0] is not None:
            self._workers[0].close()
            self._workers[0] = None

    def _bind_loop(self) -> None:
        """(Re)create the asyncio primitives for the running loop (each `asyncio.run` has a new one)."""
        loop = _running_loop()
        if self._loop is loop and self._loop is not None:
            return
        self._loop = loop
        self._sem = asyncio.Semaphore(self.target.concurrency)
        self._rpm = TokenBucket(self.target.rpm)
        self._tpm = TokenBucket(self.target.tpm)

    async def ask(self, query: Query, *, max_retries: int | None = None) -> Answer:
        """The answer to one query: from the cache, or from the target with retries (then cached).

        `max_retries` overrides the target's (the probe's end-of-step check asks once).
        """
        key = self.cache.key(self.target, query)
        hit = self.cache.get(key)
        if hit is not None:
            self.acct.cache_hits += 1
            return hit
        (answer,) = await self._with_retries([query], max_retries)
        self.cache.put(key, answer)
        return answer

    async def ask_all(self, queries: list[Query]) -> list[Answer]:
        """Answers in query order; when a query fails for good, its error is raised once every other query of the
        call has finished (no orphaned task keeps retrying, none dies with an unretrieved exception).

        With `target.batch` > 1 (raw mode), uncached logprob queries with the same parameters go out as prompt
        arrays of up to `batch` prompts per request (the completions API's `prompt: [...]`); each answer is still
        cached under its own prompt, so cache keys do not depend on `batch`.
        """
        if self.target.batch > 1 and self.target.mode == "raw":
            return await self._ask_all_batched(queries)
        return await _gather_all([self.ask(q) for q in queries])

    async def _ask_all_batched(self, queries: list[Query]) -> list[Answer]:
        keys = [self.cache.key(self.target, q) for q in queries]
        answers: list[Answer | None] = [self.cache.get(k) for k in keys]
        self.acct.cache_hits += sum(a is not None for a in answers)
        groups: dict[str, list[int]] = {}
        for i, (q, a) in enumerate(zip(queries, answers, strict=True)):
            if a is None:  # logprob queries batch by their parameters; sampling queries go one by one
                groups.setdefault(canonical_json(q.params(self.target)) if q.k > 0 else f"single:{i}", []).append(i)
        size = self.target.batch

        async def run(idx: list[int]) -> None:
            got = await self._with_retries([queries[i] for i in idx])
            for i, a in zip(idx, got, strict=True):
                self.cache.put(keys[i], a)
                answers[i] = a

        await _gather_all([run(idx[j:j + size]) for idx in groups.values() for j in range(0, len(idx), size)])
        return answers  # type: ignore[return-value]  # every slot is filled, or an error was raised

    async def _with_retries(self, queries: list[Query], max_retries: int | None = None) -> list[Answer]:
        """One request (a prompt array when there are several queries), retried; its answers in query order.

        Raises:
            AuthError: a 401/403, at once. MalformedResponseError: every attempt got a body that is not JSON.
            BackendError: another refusal at once, or retries exhausted. Each carries `.failure` (`RequestFailure`).
        """
        self._bind_loop()
        retries = self.target.max_retries if max_retries is None else max_retries
        failure = RequestFailure()
        for attempt in range(retries + 1):
            await self._rpm.take(1)
            await self._tpm.take(sum(len(q.prompt) / 3 + q.n for q in queries))
            async with self._sem:
                try:
                    self.acct.requests += 1
                    answers = await asyncio.wait_for(self._send(queries), self.target.timeout_s + 5)
                except Exception as exc:  # noqa: BLE001 - classified below; never cached
                    kind, retryable, wait = classify_error(exc)
                    self.acct.errors[kind] += 1
                    failure.note(kind, retryable, self._scrub(error_detail(exc))[:300])
                    if not retryable:
                        raise self._failed(failure) from None
                else:
                    self._account(sum(a.prompt_tokens for a in answers), sum(a.completion_tokens for a in answers))
                    return answers
            if attempt < retries:
                self.acct.retries += 1
                backoff = min(MAX_BACKOFF_S, self.target.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
                await asyncio.sleep(wait if wait is not None else backoff)
        raise self._failed(failure)

    def endpoint(self) -> str:
        """The URL this client posts to (or the provider's endpoint, named, when litellm routes by model)."""
        path = "/chat/completions" if self.target.mode == "chat" else "/completions"
        if self.api_base:
            return self.api_base.rstrip("/") + path
        return f"{self.target.model} ({path.lstrip('/')} endpoint, routed by litellm)"

    def _failed(self, failure: RequestFailure) -> BackendError:
        """The error for a request that failed for good, of its own kind, carrying `failure`."""
        t, last = self.target, f"{failure.kind}: {failure.detail}"
        err: BackendError
        if failure.kind == "auth":
            hint = (f"check the key in ${t.api_key_env} (api_key_env of target {t.name}): set, valid for this "
                    f"endpoint, and allowed to use {t.model}") if t.api_key_env else \
                (f"target {t.name} has no api_key_env: set it to the environment variable holding the key")
            err = AuthError(f"target {t.name}: {self.endpoint()} refused the credentials (HTTP 401/403; "
                            f"{failure.detail})", hint=hint)
        elif failure.kind == "malformed" and failure.retryable:
            err = MalformedResponseError(
                f"target {t.name}: {self.endpoint()} answered {failure.attempts} attempt(s) with a body that is "
                f"not valid JSON; last: {failure.detail}",
                hint="check that api_base is the OpenAI-compatible endpoint (not a proxy's error page), "
                     "or raise max_retries")
        elif not failure.retryable:
            err = BackendError(f"target {t.name}: request failed ({last})")
        else:
            err = BackendError(f"target {t.name}: gave up after {failure.attempts} attempts (last error {last})",
                               hint="raise max_retries or timeout_s, or lower concurrency/rpm")
        err.failure = failure  # type: ignore[attr-defined]  # read by the probe: what the endpoint answered
        return err

    def _account(self, prompt_tokens: int, completion_tokens: int) -> None:
        """One successful request and its usage."""
        self.acct.succeeded += 1
        self.acct.prompt_tokens += prompt_tokens
        self.acct.completion_tokens += completion_tokens
        cost = None if self.target.serve else cost_usd(self.target.model, prompt_tokens, completion_tokens)
        if cost is not None:
            self.acct.cost_usd = (self.acct.cost_usd or 0.0) + cost
        if self.on_request is not None:
            self.on_request(prompt_tokens, completion_tokens, cost)

    def _scrub(self, text: str) -> str:
        key = self.target.api_key()
        return text.replace(key, "***") if key else text

    async def _send(self, queries: list[Query]) -> list[Answer]:
        chat = self.target.mode == "chat"
        kwargs = {"model": self.target.model, "api_base": self.api_base, "api_key": self.target.api_key(),
                  "num_retries": 0, "timeout": self.target.timeout_s, **queries[0].params(self.target)}
        if chat:
            kwargs["messages"] = [{"role": "user", "content": queries[0].prompt}]
        else:
            kwargs["prompt"] = queries[0].prompt if len(queries) == 1 else [q.prompt for q in queries]
        if self.target.workers > 1:
            if self._workers[0] is None:

                self._workers[0] = RequestWorkers(self.target.workers)
            got = await self._workers[0].call("chat" if chat else "text", kwargs, queries, chat)
            return [Answer(**a) for a in got]
        litellm = import_litellm()
        resp = await (litellm.acompletion if chat else litellm.atext_completion)(**kwargs)
        return parse_answers(resp, queries, chat=chat)


async def _gather_all(coros: list) -> list:
    """Run coroutines concurrently and wait for every one; then raise the first failure, if any.

    Waiting (not cancelling) keeps no orphaned task retrying after the caller gave up, and lets litellm finish the
    calls it started (cancelling one mid-call leaves a litellm coroutine that is never awaited).
    """
    results = await asyncio.gather(*coros, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
