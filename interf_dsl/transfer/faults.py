"""Transfer kind, test server: seeded fault injection for `interf serve` (the reliability tests' adversary).

Input: per-fault rates (429 with Retry-After, 500, a stall past the client's timeout, malformed JSON, a response
without logprobs) and a seed. Output: for each request, the fault to inject or None. The draw is a hash of the seed,
the request body and how many times that body was seen, so the same request sequence meets the same faults however
the client's concurrency interleaves it, and a retried request eventually gets through.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field

from interf_dsl.errors import SpecError

FAULT_KINDS: tuple[str, ...] = ("429", "500", "stall", "malformed", "no_logprobs")
FAULT_HEADER = "x-interf-fault"
"""A request header that forces one fault (or `none`) for that request, for tests."""


@dataclass
class FaultConfig:
    """Rates in [0, 1] of each injected fault, drawn per request (their sum must be at most 1)."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    retry_after_s: float = 0.05
    """Value of the Retry-After header sent with a 429."""
    stall_s: float = 60.0
    """How long a stalled request sleeps before answering (meant to exceed the client's timeout)."""
    _seen: Counter = field(default_factory=Counter, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:

        for kind, rate in self.rates.items():
            if kind not in FAULT_KINDS:
                raise SpecError(f"unknown fault kind '{kind}'", name=kind, choices=FAULT_KINDS)
            if not 0.0 <= rate <= 1.0:
                raise SpecError(f"fault rate {kind}={rate} is outside [0, 1]")
        if sum(self.rates.values()) > 1.0:
            raise SpecError(f"fault rates sum to {sum(self.rates.values()):.3f} > 1")

    @property
    def active(self) -> bool:
        return any(r > 0 for r in self.rates.values())

    def draw(self, body: bytes) -> str | None:
        """The fault for this request (None for a normal answer)."""
        if not self.active:
            return None
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            nth = self._seen[digest]
            self._seen[digest] += 1
        h = hashlib.sha256(f"{self.seed}:{digest}:{nth}".encode()).digest()
        u = int.from_bytes(h[:8], "big") / 2**64
        acc = 0.0
        for kind in FAULT_KINDS:
            acc += self.rates.get(kind, 0.0)
            if u < acc:
                return kind
        return None


def parse_fault_args(items: list[str]) -> dict[str, float]:
    """Parse CLI `--fault KIND=RATE` items, e.g. `429=0.1`, into a rates mapping."""

    rates: dict[str, float] = {}
    for item in items:
        kind, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--fault '{item}' must be KIND=RATE", hint="e.g. --fault 429=0.1")
        try:
            rates[kind.strip()] = float(value)
        except ValueError:
            raise SpecError(f"--fault '{item}': rate '{value}' is not a number") from None
    return rates
