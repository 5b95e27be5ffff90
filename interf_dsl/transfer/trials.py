"""Transfer kind: the Table-1 trial protocol for black-box targets (docs/method.md §6.2, §3.4).

Input: token sets per type and condition (target / high / medium / random, plus random_matched in rigorous mode),
type sentences, the protocol (tokens per trial, prompt format, k or samples). Output: `Trial`s (one prompt each,
built with the prompt focus's own `build_injection_prompt` / `sample_trial_tokens`, so a source and a target see
byte-identical prompts for the same tokens) and their scores: the number of target-type tokens among the target's
top-k next tokens (logprob estimator) or among n sampled first tokens (sampling estimator, docs/method.md §8.10);
success iff the injected count is strictly above the original sentence's count.

Type lookup (`TypeLookup`): a target answers with decoded token strings, so types are looked up by string. The
labelled strings are the TARGET-level token set of each type (all vocabulary strings labelled with the type, union
over the sources). A string is matched exactly first; a string not labelled at all falls back to its stripped,
lower-cased form when that form is labelled (so a sentence-initial "Paris" counts like " Paris"). For a target
that shares the sources' tokenizer (the zoo's target-tiny) the exact match is the id-level lookup of the sources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interf_dsl.interventions.prompt_types import build_injection_prompt, sample_trial_tokens

if TYPE_CHECKING:
    import numpy as np

CONDITIONS: tuple[str, ...] = ("target", "high", "medium", "random", "random_matched")
"""Injection conditions in table order (the sets' levels; random_matched only in rigorous mode)."""
CONTROL = "random"


@dataclass(frozen=True)
class Trial:
    """One injected prompt of one (type, condition, sentence, trial)."""

    type: str
    condition: str
    sentence_id: int
    trial: int
    prompt: str


def build_sentence_trials(typ: str, sentence_id: int, sentence: str, sets: dict[str, list[str]], *, trials: int,
                          tokens_per_trial: int, fmt: str, rng_for: Callable[[str], np.random.Generator]) -> list[Trial]:
    """Every trial of one sentence, over the conditions present in `sets` (in `CONDITIONS` order).

    Each (type, condition, sentence) draws from its own generator stream, so a trial's tokens do not depend on
    which other sentences run, in which order, or on resume.
    """
    out: list[Trial] = []
    for cond in (c for c in CONDITIONS if c in sets):
        rng = rng_for(f"{typ}/{cond}/{sentence_id}")
        for t in range(trials):
            tokens = sample_trial_tokens(sets[cond], tokens_per_trial, rng)
            out.append(Trial(typ, cond, sentence_id, t, build_injection_prompt(tokens, sentence, fmt)))
    return out


class TypeLookup:
    """Decoded token string → token types (see the module docstring for the matching rule)."""

    def __init__(self, strings_by_type: dict[str, Iterable[str]]) -> None:
        self.exact: dict[str, set[str]] = {}
        self.loose: dict[str, set[str]] = {}
        for typ, strings in strings_by_type.items():
            for s in strings:
                self.exact.setdefault(s, set()).add(typ)
                key = s.strip().lower()
                if key:
                    self.loose.setdefault(key, set()).add(typ)

    def types_of(self, s: str) -> set[str]:
        hit = self.exact.get(s)
        if hit is not None:
            return hit
        return self.loose.get(s.strip().lower(), set())

    def count(self, tokens: Iterable[str], typ: str) -> int:
        """How many of `tokens` are of type `typ`."""
        return sum(1 for s in tokens if typ in self.types_of(s))


def score(tokens: list[str], typ: str, lookup: TypeLookup, k: int | None) -> int:
    """The type count of one answer: its top-k strings (logprobs) or all its samples (k None)."""
    return lookup.count(tokens[:k] if k is not None else tokens, typ)


def sample_prompt_sentences(sentences: list[tuple[int, str]], n: int, seed: int = 42) -> list[tuple[int, str]]:
    """`n` sentences of a type: all when there are fewer, else a seeded sample (paper, large models: seed 42)."""
    import numpy as np

    if len(sentences) <= n:
        return list(sentences)
    idx = sorted(np.random.default_rng(seed).choice(len(sentences), size=n, replace=False).tolist())
    return [sentences[i] for i in idx]
