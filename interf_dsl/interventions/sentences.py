"""Interventions kind, the `prompts` step: vocabulary sentences and type sentences (docs/method.md §4.1, §4.3).

Input: wanted token strings (T_f of every target, max tokens of features) and types (`token_sets`), and a source:
`mine` (the held-out prompts corpus `zoo.catalog.read_heldout("prompts")`, disjoint from the atlas corpus),
`file` (JSON {"vocab": {token: [sentences]}, "type": {type: [sentences]}}) or `llm` (any litellm model with the
§4.1 protocol, cached per token). Output: the `sentences` table (sentence_id, kind ∈ vocab/type, token_str, type,
text, split ∈ select/eval); splits alternate per token/type so every token keeps sentences on both sides.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from interf_dsl.atlas.explain import LOCAL_API_KEY
from interf_dsl.errors import BackendError, Span, SpecError
from interf_dsl.jsonfile import load_json, locate
from interf_dsl.steps import count_request
from interf_dsl.zoo.catalog import TOKEN_TYPES

if TYPE_CHECKING:
    from interf_dsl.lang.sections import Prompts

_WORD_END = re.compile(r"[A-Za-z0-9]")


def mine_prefixes(docs: list[str], token: str, n: int, max_chars: int = 160, min_chars: int = 20) -> list[str]:
    """Up to n text prefixes after which `token` (a whole-word occurrence) is the next string.

    A prefix starts at a sentence or word boundary at most `max_chars` before the occurrence.
    """
    if not token.strip():
        return []
    out: list[str] = []
    for doc in docs:
        start = 0
        while len(out) < n:
            i = doc.find(token, start)
            if i < 0:
                break
            start = i + 1
            j = i + len(token)
            if j < len(doc) and _WORD_END.match(doc[j]) and _WORD_END.match(token[-1]):
                continue  # the token is a prefix of a longer word
            if not token.startswith(" ") and i > 0 and _WORD_END.match(doc[i - 1]):
                continue
            lo = max(0, i - max_chars)
            cut = doc.rfind(". ", lo, i)
            lo = cut + 2 if cut >= 0 and i - (cut + 2) >= min_chars else lo
            if lo > 0 and doc[lo - 1] not in " .\n":
                sp = doc.find(" ", lo, i)
                lo = sp + 1 if sp >= 0 else lo
            prefix = doc[lo:i].replace("\n", " ")
            if len(prefix.strip()) >= min_chars and prefix not in out:
                out.append(prefix.rstrip() if token.startswith(" ") else prefix)
        if len(out) >= n:
            break
    return out


FILE_HINT = ('e.g. {"vocab": {" apple": ["She bit into a"]}, "type": {"food": ["For lunch I had"]}}; '
             "`interf import sentences SRC --to FILE` converts other shapes (docs/data-formats.md)")


def read_file(path: str) -> dict[str, dict]:
    """Sentences from a JSON file {"vocab": {token: [sentences]}, "type": {type: [sentences]}} (either key may be
    left out; `prompts.source: file`), each list without its repeated sentences.

    Returns:
        {"vocab": {token: [sentences]}, "type": {type: [sentences]}, "removed": {"vocab": {token: n},
        "type": {type: n}}}: `removed` counts the repeated sentences left out (compared with `sentence_key`).

    Raises:
        SpecError: the file does not exist, is not UTF-8 JSON, does not have that shape, names a type outside the
            token types or holds an empty sentence (located inside the file).
    """
    text, data = load_json(path, "prompts file", hint=FILE_HINT)
    shape = 'must map "vocab" and/or "type" to {name: [sentences]}'
    if not isinstance(data, dict) or not data or not set(data) <= {"vocab", "type"}:
        odd = next((k for k in data if k not in ("vocab", "type")), None) if isinstance(data, dict) else None
        plain = isinstance(data, dict) and all(isinstance(v, list) for v in data.values())
        raise SpecError(f"prompts file {shape}" + (f", not {odd!r}" if odd else "")
                        + (" (this looks like {type: [sentences]}: put it under \"type\")" if plain and data else ""),
                        span=locate(path, text, odd) if odd else Span(path, 1, 1), hint=FILE_HINT)
    out: dict[str, dict] = {"vocab": {}, "type": {}, "removed": {"vocab": {}, "type": {}}}
    for kind, table in data.items():
        if not isinstance(table, dict):
            raise SpecError(f'prompts file: "{kind}" {shape}', span=locate(path, text, kind), hint=FILE_HINT)
        for name, texts in table.items():
            if kind == "type" and name not in TOKEN_TYPES:
                raise SpecError(f"prompts file: unknown token type {name!r} under \"type\"",
                                span=locate(path, text, name, after="type"), name=name, choices=tuple(TOKEN_TYPES),
                                hint="or rename it: `interf import sentences SRC --to FILE --map NAME=TYPE`")
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise SpecError(f'prompts file: {kind} "{name}" must be a list of sentences (strings)',
                                span=locate(path, text, name), hint=FILE_HINT)
            if any(not t.strip() for t in texts):
                raise SpecError(f'prompts file: {kind} "{name}" holds an empty sentence',
                                span=locate(path, text, name), hint="leave blank sentences out")
            kept, removed = dedupe_sentences(texts)
            out[kind][name] = kept
            if removed:
                out["removed"][kind][name] = removed
    return out


def sentence_key(text: str) -> str:
    """What two sentences are compared by: their words, whitespace runs folded (a repeated sentence is one cluster,
    so it is kept once)."""
    return " ".join(text.split())


def dedupe_sentences(texts: list[str]) -> tuple[list[str], int]:
    """(the sentences without repeats, first occurrence kept in order; how many repeats were left out)."""
    seen: set[str] = set()
    kept = []
    for t in texts:
        key = sentence_key(t)
        if key not in seen:
            seen.add(key)
            kept.append(t)
    return kept, len(texts) - len(kept)


VOCAB_SYSTEM = ("Write exactly {n} different incomplete English sentences after which the given target token would "
                "clearly be the next word. Each sentence must grammatically require the token, the contexts must "
                "vary, and you must keep exact formatting. Answer only with JSON whose only key is the exact target "
                'token (leading spaces and capitalisation preserved), e.g. {{" apple": ["She bit into a crisp, '
                'red", ...]}}.')


TYPE_SYSTEM = ("Write exactly {n} different incomplete English sentences of about 20 tokens whose next word would "
               "very likely be a word of the given type (for example a {example}). The contexts must vary. Answer "
               'only with JSON whose only key is the type name, e.g. {{"location": ["After a long flight we finally '
               'landed in", ...]}}.')
TYPE_EXAMPLES = {"location": "city or country", "number": "number", "science": "scientific term",
                 "person": "person's name or role", "animal": "animal", "emotion": "feeling", "color": "colour",
                 "time": "day, month or time of day"}
"""docs/method.md §4.3: what a word of each Table-1 type is, for the type-sentence request."""


def llm_sentences(token: str, n: int, prompts: Prompts, counters: Any = None) -> list[str]:
    """The §4.1 protocol for one token, through litellm at `prompts.model` / `api_base` with the key named by
    `api_key_env` (the caller caches the answer)."""
    return _ask_json(VOCAB_SYSTEM.format(n=n), f"target_token={token}", token, n, prompts, f"token {token!r}",
                     counters)


def llm_type_sentences(type_: str, n: int, prompts: Prompts, counters: Any = None) -> list[str]:
    """The §4.3 protocol for one token type: `n` unfinished sentences whose next word is likely of `type_`."""
    system = TYPE_SYSTEM.format(n=n, example=TYPE_EXAMPLES.get(type_, type_))
    return _ask_json(system, f"type={type_}", type_, n, prompts, f"type {type_!r}", counters)


def _ask_json(system: str, user: str, key: str, n: int, prompts: Prompts, what: str, counters: Any = None) -> list[str]:
    """One chat request whose answer is JSON {key: [sentences]}; the first `n` sentences (the request counted in
    `counters`)."""
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    model, key_env = prompts.model, prompts.api_key_env
    if not model:
        raise SpecError("prompts.model is required for source 'llm'")
    api_key = os.environ.get(key_env) if key_env else (LOCAL_API_KEY if prompts.api_base else None)
    if key_env and api_key is None:
        raise BackendError(f"environment variable {key_env} (prompts.api_key_env) is not set")
    try:
        resp = litellm.completion(model=model, api_base=prompts.api_base, api_key=api_key, num_retries=2, timeout=60,
                                  messages=[{"role": "system", "content": system}, {"role": "user", "content": user}])
    except Exception as exc:  # litellm raises many provider-specific types
        raise BackendError(f"sentence model {model} failed on {what}: {exc}") from None
    count_request(counters, resp)
    text = resp.choices[0].message.content or ""
    try:
        data = json.loads(text[text.find("{") : text.rfind("}") + 1])
        vals = data.get(key) or next(iter(data.values()))
        return [str(s) for s in vals][:n]
    except (ValueError, StopIteration, AttributeError):
        raise BackendError(f"model '{model}' did not return the sentence JSON for {what}: {text[:200]!r}")\
            from None


def split_of(i: int, heldout_fraction: float) -> str:
    """`select` (held out for choosing α) or `eval` for the i-th sentence of a token or type.

    Spread evenly: among the first n sentences, floor(n × fraction) are `select`, so every token keeps sentences
    on both sides whenever it has enough (0.5 alternates eval, select, eval, ...).
    """
    return "select" if int((i + 1) * heldout_fraction) > int(i * heldout_fraction) else "eval"


def sentence_rows(kind: str, name: str, texts: list[str], token_str: str | None, type_: str | None,
                  start_id: int, heldout_fraction: float = 0.5) -> list[dict]:
    """Rows of the sentences table, each with its split (see `split_of`)."""
    return [{"sentence_id": start_id + i, "kind": kind, "token_str": token_str, "type": type_, "text": t,
             "split": split_of(i, heldout_fraction), "name": name} for i, t in enumerate(texts)]
