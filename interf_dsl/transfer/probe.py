"""Transfer kind: the capability probe run at the start of a transfer step.

Input: a `TransferClient` (its target's declared mode and requested top_k). Output: `Capabilities` — for the
completion and the chat endpoint, whether it answers and how many top logprobs it returns — and the `protocol` the
step then follows: the estimator (`logprobs` when the declared mode returns them, else `sampling`), the k used
(min(requested, offered), METHOD.md §8.10) or the number of samples. Probe requests go through the response cache
like every other request, so a rerun probes for free and reaches the same protocol.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from interf_dsl.errors import BackendError
from interf_dsl.transfer.answers import Query
from interf_dsl.transfer.client import TransferClient
from interf_dsl.transfer.targets import protocol_k

PROBE_PROMPTS = ("The capital of France is", "One, two, three,", "She opened the door and")


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


async def probe(client: TransferClient) -> tuple[Capabilities, dict[str, Any]]:
    """Probe both endpoints of the client's target; return the capabilities and the protocol to follow."""
    target = client.target
    caps = Capabilities()
    for mode in ("raw", "chat"):
        probe_client = client if mode == target.mode else client.with_mode(mode)
        best, ok, error = 0, False, None
        for prompt in PROBE_PROMPTS:
            try:
                ans = await probe_client.ask(Query(prompt, k=target.top_k))
            except BackendError as exc:  # the endpoint refuses logprobs or is absent: try without logprobs
                error = str(exc)
                if await _answers_without_logprobs(probe_client, prompt):
                    ok = True
                continue
            ok, best = True, max(best, len(ans.tokens))
        if mode == "chat":
            caps.chat, caps.chat_top_logprobs = ok, best
        else:
            caps.completion, caps.completion_top_logprobs = ok, best
        if error and not best:
            caps.errors[mode] = error[:300]
    if not caps.answers(target.mode):
        other = "chat" if target.mode == "raw" else "raw"
        raise BackendError(f"target {target.name}: the {_endpoint(target.mode)} endpoint does not answer "
                           f"({caps.errors.get(target.mode, 'no answer')})",
                           hint=f"set mode: {other}" if caps.answers(other) else "check model and api_base")
    offered = caps.offered(target.mode)
    if offered > 0:
        protocol = {"estimator": "logprobs", "k": protocol_k(target.top_k, offered), "k_requested": target.top_k,
                    "k_offered": offered, "samples": None, "mode": target.mode}
    else:
        protocol = {"estimator": "sampling", "k": None, "k_requested": target.top_k, "k_offered": 0,
                    "samples": target.samples, "mode": target.mode}
    return caps, protocol


async def _answers_without_logprobs(client: TransferClient, prompt: str) -> bool:
    try:
        await client.ask(Query(prompt, n=1))
    except BackendError:
        return False
    return True


def _endpoint(mode: str) -> str:
    return "chat completions" if mode == "chat" else "completions"


def capabilities_json(caps: Capabilities) -> dict[str, Any]:
    return dataclasses.asdict(caps)
