"""Transfer kind: the capability probe run at the start of a transfer step, and the decision it leads to.

Input: a `TransferClient` (its target's declared mode and requested top_k). Output: `Capabilities` — for the
completion and the chat endpoint, whether it answers and how many top logprobs it returns — the `protocol` the
step then follows (the estimator: `logprobs` when the declared mode returns them, else `sampling`; the k used,
min(requested, offered), docs/method.md §8.10; or the number of samples), and a `ProbeDecision`: every probe request's
outcome (the evidence) and whether the decision may be kept.

Probe requests are ordinary requests: same response cache, same retries and backoff as the trials (`client.py`).
Only a consistent answer may make a sampling fallback persistent: 200 answers without the logprobs asked for (or a
4xx refusing them), on every probe request of the declared endpoint, and again when asked once more after the
trials (`confirm_fallback`). A decision resting on transient errors (5xx, 429, timeouts, dropped connections,
malformed bodies) is recorded with its evidence but marked transient: the step keeps no probe unit and the engine
does not cache the result, so a later run probes again. A 401/403 stops the probe at once (`AuthError`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from interf_dsl.errors import AuthError, BackendError
from interf_dsl.transfer.answers import Query
from interf_dsl.transfer.client import TransferClient
from interf_dsl.transfer.targets import protocol_k

PROBE_PROMPTS = ("The capital of France is", "One, two, three,", "She opened the door and")
OUTCOMES = ("logprobs", "missing_logprobs", "refused", "transient")
"""A probe request's outcome: logprobs returned; 200 answers without them; a non-transient refusal (4xx);
failed for good with transient errors (says nothing about what the endpoint offers)."""


@dataclass
class Capabilities:
    """What a target offered to the probe (per endpoint: answered? top logprobs returned?)."""

    completion: bool = False
    completion_top_logprobs: int = 0
    chat: bool = False
    chat_top_logprobs: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def offered(self, mode: str) -> int:
        return self.chat_top_logprobs if mode == "chat" else self.completion_top_logprobs

    def answers(self, mode: str) -> bool:
        return self.chat if mode == "chat" else self.completion


@dataclass
class ProbeDecision:
    """The evidence behind the protocol and whether it may be kept (persisted as a unit, cached as a result)."""

    evidence: list[dict[str, Any]] = field(default_factory=list)
    """One row per probe request: mode, prompt, outcome (`OUTCOMES`), attempts, error kinds, top logprobs offered."""
    fallback: dict[str, Any] | None = None
    """For a sampling fallback: which endpoint, how many requests, what was missing, the error kinds met."""
    transient: str | None = None
    """Why the decision must not be kept (it rests on transient errors), or None."""
    confirmed: bool | None = None
    """A fallback's end-of-step check: None until asked; True when logprobs were still missing."""

    @property
    def awaits_confirmation(self) -> bool:
        """A consistent fallback is kept only once the end-of-step check still finds no logprobs."""
        return self.fallback is not None and self.transient is None and self.confirmed is None

    @property
    def keep(self) -> bool:
        """Whether the protocol may be stored (probe unit, cached step result)."""
        return self.transient is None and not self.awaits_confirmation

    def to_json(self) -> dict[str, Any]:
        return {"evidence": self.evidence, "fallback": self.fallback, "transient": self.transient,
                "confirmed": self.confirmed}


async def probe(client: TransferClient) -> tuple[Capabilities, dict[str, Any], ProbeDecision]:
    """Probe both endpoints of the client's target; return the capabilities, the protocol and the decision.

    Raises:
        AuthError: an endpoint refused the credentials (not retried).
        BackendError: the declared endpoint gave no answer (of the last error's kind, e.g.
            `MalformedResponseError`, when every failure was transient).
    """
    target = client.target
    caps, decision = Capabilities(), ProbeDecision()
    last_error: dict[str, BackendError] = {}
    for mode in ("raw", "chat"):
        probe_client = client if mode == target.mode else client.with_mode(mode)
        best, ok = 0, False
        for prompt in PROBE_PROMPTS:
            row, exc = await _probe_one(probe_client, mode, prompt, target.top_k)
            decision.evidence.append(row)
            ok = ok or row["outcome"] == "logprobs" or row["answers_without_logprobs"]
            best = max(best, row["offered"])
            if exc is not None:
                last_error[mode] = exc
        if mode == "chat":
            caps.chat, caps.chat_top_logprobs = ok, best
        else:
            caps.completion, caps.completion_top_logprobs = ok, best
        if mode in last_error and not best:
            caps.errors[mode] = str(last_error[mode])[:300]
    rows = [r for r in decision.evidence if r["mode"] == target.mode]
    failed = [r for r in rows if r["outcome"] == "transient"]
    if not caps.answers(target.mode):
        _raise_no_answer(client, caps, rows, failed, last_error.get(target.mode))
    offered = caps.offered(target.mode)
    if failed:
        decision.transient = (f"{len(failed)} of {len(rows)} probe requests to the {_endpoint(target.mode)} "
                              f"endpoint failed with transient errors ({_kinds(failed)}); the decision is not kept "
                              "and the next run probes again")
    if offered > 0:
        protocol = {"estimator": "logprobs", "k": protocol_k(target.top_k, offered), "k_requested": target.top_k,
                    "k_offered": offered, "samples": None, "mode": target.mode}
    else:
        protocol = {"estimator": "sampling", "k": None, "k_requested": target.top_k, "k_offered": 0,
                    "samples": target.samples, "mode": target.mode}
        decision.fallback = _fallback(client, rows)
    return caps, protocol, decision


async def confirm_fallback(client: TransferClient, decision: ProbeDecision) -> None:
    """Ask the declared endpoint for logprobs once more (after the trials) and settle whether a fallback is kept.

    Logprobs now, or a transient failure, mean the first answers did not show what the endpoint offers: the
    fallback is then marked transient (not kept). Still none: the fallback is confirmed and may be kept.
    """
    if not decision.awaits_confirmation:
        return
    row, _ = await _probe_one(client, client.target.mode, PROBE_PROMPTS[0], client.target.top_k, check=True)
    decision.evidence.append(row)
    decision.confirmed = row["outcome"] in ("missing_logprobs", "refused")
    if decision.fallback is not None:
        decision.fallback["confirmed"] = decision.confirmed
    if not decision.confirmed:
        seen = "returned logprobs" if row["outcome"] == "logprobs" else f"failed ({_kinds([row])})"
        decision.transient = (f"the sampling fallback was not confirmed: asked again after the trials, the "
                              f"{_endpoint(client.target.mode)} endpoint {seen}; the fallback is not kept and the "
                              "next run probes again")


async def _probe_one(client: TransferClient, mode: str, prompt: str, k: int,
                     check: bool = False) -> tuple[dict[str, Any], BackendError | None]:
    """One probe request (with the client's retries) and, when it brings no logprobs, one without logprobs."""
    requests, errors = client.acct.requests, Counter(client.acct.errors)
    row: dict[str, Any] = {"mode": mode, "prompt": prompt, "k": k, "offered": 0, "answers_without_logprobs": None}
    if check:
        row["check"] = "after the trials"
    err: BackendError | None = None
    try:
        ans = await client.ask(Query(prompt, k=k))
    except AuthError:
        raise
    except BackendError as exc:
        err = exc
        failure = getattr(exc, "failure", None)  # None: not an HTTP answer at all (a worker process died)
        if failure is None or failure.transient:
            row["outcome"] = "transient"
        else:
            row["outcome"] = "missing_logprobs" if failure.kind == "missing_logprobs" else "refused"
        row["error"] = str(exc)[:300]
        if not check:
            row["answers_without_logprobs"] = await _answers_without_logprobs(client, prompt)
    else:
        row.update(outcome="logprobs", offered=len(ans.tokens), cached=ans.cached)
    row["attempts"] = client.acct.requests - requests
    row["errors"] = dict(Counter(client.acct.errors) - errors)
    return row, err


def _raise_no_answer(client: TransferClient, caps: Capabilities, rows: list[dict], failed: list[dict],
                     last: BackendError | None) -> None:
    """The declared endpoint gave no answer: say why, keeping the kind of the last error."""
    target = client.target
    other = "chat" if target.mode == "raw" else "raw"
    if failed and len(failed) == len(rows):
        attempts = sum(r["attempts"] for r in rows)
        cls = type(last) if last is not None else BackendError
        raise cls(f"target {target.name}: the probe of {client.endpoint()} got no answer: "
                  f"{attempts} attempts failed with transient errors ({_kinds(failed)}); nothing is kept. "
                  f"Last: {last}", hint="the endpoint may be overloaded or down: rerun later (the probe runs again), "
                                        "or raise max_retries / timeout_s")
    raise BackendError(f"target {target.name}: the {_endpoint(target.mode)} endpoint does not answer "
                       f"({caps.errors.get(target.mode, 'no answer')})",
                       hint=f"set mode: {other}" if caps.answers(other) else "check model and api_base")


def _fallback(client: TransferClient, rows: list[dict]) -> dict[str, Any]:
    """The evidence of a sampling fallback, summarised: which requests, what was missing, how many."""
    by = Counter(r["outcome"] for r in rows)
    kinds: Counter = Counter()
    for r in rows:
        kinds.update(r["errors"])
    return {
        "estimator": "sampling", "endpoint": client.endpoint(), "missing": f"top {client.target.top_k} logprobs",
        "probe_requests": len(rows), "attempts": sum(r["attempts"] for r in rows),
        "answered_without_logprobs": kinds.get("missing_logprobs", 0),
        "outcomes": {o: by[o] for o in OUTCOMES if by[o]}, "errors": dict(kinds),
        "prompts": [r["prompt"] for r in rows], "confirmed": None,
    }


def _kinds(rows: list[dict]) -> str:
    kinds: Counter = Counter()
    for r in rows:
        kinds.update(r["errors"])
    return ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) or "no HTTP answer"


async def _answers_without_logprobs(client: TransferClient, prompt: str) -> bool:
    try:
        await client.ask(Query(prompt, n=1))
    except AuthError:
        raise
    except BackendError:
        return False
    return True


def _endpoint(mode: str) -> str:
    return "chat completions" if mode == "chat" else "completions"


def capabilities_json(caps: Capabilities) -> dict[str, Any]:
    return dataclasses.asdict(caps)
