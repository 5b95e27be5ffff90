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
from pathlib import Path
from typing import TYPE_CHECKING

from interf_dsl.atlas.explain import LOCAL_API_KEY
from interf_dsl.errors import BackendError, SpecError

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


def read_file(path: str) -> dict[str, dict[str, list[str]]]:
    """Sentences from a JSON file {"vocab": {token: [sentences]}, "type": {type: [sentences]}} (either key may be
    left out; `prompts.source: file`).

    Raises:
        SpecError: the file does not exist, is not UTF-8 JSON, or does not have that shape (naming where).
    """
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"prompts.path '{path}' does not exist", key_path="prompts.path")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(f"prompts.path '{path}' is not UTF-8 text (byte {exc.start})", key_path="prompts.path") \
            from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"prompts.path '{path}' is not valid JSON: {exc}", key_path="prompts.path") from None
    shape = 'must map "vocab" and/or "type" to {name: [sentences]}'
    if not isinstance(data, dict) or not data or not set(data) <= {"vocab", "type"}:
        raise SpecError(f"prompts file '{path}' {shape}", key_path="prompts.path",
                        hint='e.g. {"vocab": {" apple": ["She bit into a"]}, "type": {"food": ["For lunch I had"]}}')
    for kind, table in data.items():
        if not isinstance(table, dict):
            raise SpecError(f"prompts file '{path}': \"{kind}\" {shape}", key_path="prompts.path")
        for name, texts in table.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise SpecError(f"prompts file '{path}': {kind} \"{name}\" must be a list of sentences (strings)",
                                key_path="prompts.path")
    return {"vocab": data.get("vocab", {}), "type": data.get("type", {})}


VOCAB_SYSTEM = ("Write exactly {n} different incomplete English sentences after which the given target token would "
                "clearly be the next word. Each sentence must grammatically require the token, the contexts must "
                "vary, and you must keep exact formatting. Answer only with JSON whose only key is the exact target "
                'token (leading spaces and capitalisation preserved), e.g. {{" apple": ["She bit into a crisp, '
                'red", ...]}}.')


def llm_sentences(token: str, n: int, prompts: Prompts) -> list[str]:
    """The §4.1 protocol for one token, through litellm at `prompts.model` / `api_base` with the key named by
    `api_key_env` (the caller caches the answer)."""
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
                                  messages=[{"role": "system", "content": VOCAB_SYSTEM.format(n=n)},
                                            {"role": "user", "content": f"target_token={token}"}])
    except Exception as exc:  # litellm raises many provider-specific types
        raise BackendError(f"sentence model {model} failed on token {token!r}: {exc}") from None
    text = resp.choices[0].message.content or ""
    try:
        data = json.loads(text[text.find("{") : text.rfind("}") + 1])
        vals = data.get(token) or next(iter(data.values()))
        return [str(s) for s in vals][:n]
    except (ValueError, StopIteration, AttributeError):
        raise BackendError(f"model '{model}' did not return the sentence JSON for token {token!r}: {text[:200]!r}")\
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
