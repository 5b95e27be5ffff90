"""Transfer kind, execution: what a request asks and what comes back — queries, answers, accounting, the parsing of
litellm responses and the classification of failed attempts (retryable or not, and the wait a server asks for).

Input: a `Query` (prompt; top-k logprobs or n samples) and a litellm response or exception. Output: an `Answer`
(token strings best first, with logprobs when given), or (error kind, retryable?, Retry-After seconds). Used by
`client.py` in-process and by `workers.py` in worker processes, so both parse and classify identically.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from interf_dsl.transfer.targets import TargetSpec

MAX_BACKOFF_S = 30.0


class RemoteRequestError(Exception):
    """A failed attempt in a worker process, already classified there (see `classify_error`)."""

    def __init__(self, kind: str, retryable: bool, wait: float | None, message: str) -> None:
        super().__init__(message)
        self.kind, self.retryable, self.wait = kind, retryable, wait


@dataclass(frozen=True)
class Query:
    """One request: `k` > 0 asks for the top-k next-token logprobs; otherwise `n` sampled one-token completions."""

    prompt: str
    k: int = 0
    n: int = 1

    def params(self, target: TargetSpec) -> dict[str, Any]:
        """The resolved request parameters (the cache key's params part)."""
        if self.k > 0:
            base = {"max_tokens": 1, "temperature": 0.0}
            if target.mode == "chat":
                return {**base, "logprobs": True, "top_logprobs": self.k}
            return {**base, "logprobs": self.k}
        # Sampling estimator: n first tokens at temperature 1, seeded where the provider honours a seed.
        return {"max_tokens": 1, "temperature": 1.0, "n": self.n, "seed": 0}


@dataclass
class Answer:
    """What a query returned: next-token strings best first (logprob mode) or the n sampled first tokens."""

    tokens: list[str]
    logprobs: list[float] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass
class Accounting:
    """Per-target work: HTTP attempts, successes, retries, errors, tokens, cost, cache hits."""

    requests: int = 0
    succeeded: int = 0
    retries: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    errors: Counter = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"] = dict(self.errors)
        d["tokens"] = self.prompt_tokens + self.completion_tokens
        return d


@dataclass
class RequestFailure:
    """How one request failed for good: its attempts, the error kinds they met, and the last one."""

    attempts: int = 0
    errors: Counter = field(default_factory=Counter)
    kind: str = ""
    detail: str = ""
    retryable: bool = True

    def note(self, kind: str, retryable: bool, detail: str) -> None:
        self.attempts += 1
        self.errors[kind] += 1
        self.kind, self.retryable, self.detail = kind, retryable, detail

    @property
    def transient(self) -> bool:
        """The last attempt failed for a reason a retry may cure (see `is_transient`)."""
        return is_transient(self.kind, self.retryable)

    def to_json(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "errors": dict(self.errors), "last": self.kind,
                "transient": self.transient}


class MissingLogprobsError(Exception):
    """The answer lacks the logprobs that were asked for (a faulty or capped response; retried)."""


def parse_response(resp: Any, query: Query, *, chat: bool) -> Answer:
    """Normalise a litellm completion / chat response into an `Answer` (raises on a missing or empty part)."""
    usage = getattr(resp, "usage", None)
    pt = int(getattr(usage, "prompt_tokens", 0) or 0)
    ct = int(getattr(usage, "completion_tokens", 0) or 0)
    choices = list(resp.choices or [])
    if not choices:
        raise MissingLogprobsError("no choices in the answer")
    if query.k <= 0:
        texts = [(c.message.content if chat else c.text) or "" for c in choices]
        return Answer(tokens=texts, prompt_tokens=pt, completion_tokens=ct)
    top = _top_logprobs(choices[0], chat)
    if not top:
        raise MissingLogprobsError("the answer has no top logprobs")
    top.sort(key=lambda t: -t[1])
    return Answer(tokens=[t for t, _ in top], logprobs=[lp for _, lp in top], prompt_tokens=pt, completion_tokens=ct)


def parse_answers(resp: Any, queries: list[Query], *, chat: bool) -> list[Answer]:
    """The answers of one request: one query, or a prompt array of logprob queries (choice i answers prompt i).

    For a prompt array the usage is the request's; each answer carries its share (the accounting uses the sum).
    """
    if len(queries) == 1:
        return [parse_response(resp, queries[0], chat=chat)]
    choices = sorted(resp.choices or [], key=lambda c: int(getattr(c, "index", 0) or 0))
    if len(choices) != len(queries):
        raise MissingLogprobsError(f"{len(choices)} choices for {len(queries)} prompts")
    usage = getattr(resp, "usage", None)
    pt = int(getattr(usage, "prompt_tokens", 0) or 0)
    ct = int(getattr(usage, "completion_tokens", 0) or 0)
    out = []
    for i, choice in enumerate(choices):
        top = _top_logprobs(choice, chat)
        if not top:
            raise MissingLogprobsError(f"prompt {i} of the array has no top logprobs")
        top.sort(key=lambda t: -t[1])
        out.append(Answer(tokens=[t for t, _ in top], logprobs=[lp for _, lp in top],
                          prompt_tokens=_share(pt, len(queries), i), completion_tokens=_share(ct, len(queries), i)))
    return out


def _share(total: int, n: int, i: int) -> int:
    return total // n + (1 if i < total % n else 0)


def _top_logprobs(choice: Any, chat: bool) -> list[tuple[str, float]]:
    lp = getattr(choice, "logprobs", None)
    if lp is None:
        return []
    if chat:
        content = lp.get("content") if isinstance(lp, dict) else getattr(lp, "content", None)
        if not content:
            return []
        first = content[0]
        items = first.get("top_logprobs") if isinstance(first, dict) else first.top_logprobs
        return [(_get(t, "token"), float(_get(t, "logprob"))) for t in items or []]
    tops = lp.get("top_logprobs") if isinstance(lp, dict) else getattr(lp, "top_logprobs", None)
    if not tops or not tops[0]:
        return []
    return [(str(t), float(v)) for t, v in dict(tops[0]).items()]


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


TRANSIENT_HINT = "HTTP 5xx, 429, timeouts, connection errors and malformed bodies"
"""The failures a retry may cure. An answer without the logprobs asked for is retried too, but it is a consistent
answer of the endpoint, not a transient failure (see `is_transient`)."""


def is_transient(kind: str, retryable: bool) -> bool:
    """Whether a failed attempt of this kind says nothing about what the endpoint offers (a 5xx, a 429, a timeout,
    a dropped connection, a truncated body), as opposed to a 200 without logprobs or a refusal."""
    return retryable and kind != "missing_logprobs"


def classify_error(exc: BaseException) -> tuple[str, bool, float | None]:
    """(error kind, retryable?, server-requested wait in seconds or None).

    Kinds: `auth` (401/403, never retried), `malformed` (a body that is not JSON: litellm reports it as a 500, so
    it is told apart by the JSON decoding error it wraps), `missing_logprobs`, `timeout`, `429`, the 5xx code or
    the connection error's class name, else the 4xx code or the exception's class name (not retried).
    """

    if isinstance(exc, RemoteRequestError):  # classified in the worker process that made the call
        return exc.kind, exc.retryable, exc.wait
    if isinstance(exc, MissingLogprobsError):
        return "missing_logprobs", True, None
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout", True, None
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if status in (401, 403) or name in ("AuthenticationError", "PermissionDeniedError"):
        return "auth", False, None
    if malformed_body(exc) is not None:
        return "malformed", True, None
    if name in ("Timeout", "APITimeoutError") or status == 408:
        return "timeout", True, None
    if status == 429 or name == "RateLimitError":
        return "429", True, _retry_after(exc)
    if name in ("APIConnectionError", "ServiceUnavailableError", "InternalServerError") or (status or 0) >= 500:
        return (str(status) if status else name), True, _retry_after(exc)
    if name == "APIError" and status is None:
        return "malformed", True, None
    return (str(status) if status else name), False, None


EXCERPT_CHARS = 120
"""How much of a malformed body an error message shows."""
_INVALID_BODY = "Empty or invalid response from LLM endpoint. Received: "


def malformed_body(exc: BaseException) -> str | None:
    """A short excerpt of the body when `exc` (or an exception it wraps) says the answer was not valid JSON."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, json.JSONDecodeError):
            return excerpt(cur.doc) + f" ({cur.msg} at char {cur.pos})"
        text = str(cur)
        if _INVALID_BODY in text:
            return excerpt(text.split(_INVALID_BODY, 1)[1].split(". Check the", 1)[0].strip("'"))
        cur = cur.__cause__ or cur.__context__
    return None


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` cut to `limit` characters and quoted with escapes, so control characters cannot garble a terminal."""
    cut = text[:limit]
    return repr(cut) + ("…" if len(text) > limit else "")


def error_detail(exc: BaseException) -> str:
    """The message of a failed attempt: for a malformed body, the excerpt instead of the decoder's position only."""
    body = malformed_body(exc)
    return f"the body is not valid JSON: {body}" if body is not None else str(exc)


def _retry_after(exc: BaseException) -> float | None:
    for headers in (getattr(exc, "litellm_response_headers", None),
                    getattr(getattr(exc, "response", None), "headers", None)):
        value = headers.get("retry-after") if headers is not None else None
        if value is not None:
            try:
                return min(MAX_BACKOFF_S, max(0.0, float(value)))
            except ValueError:
                return None
    return None
