"""Atlas kind, `explain` step: feature explanations ("glosses") from a registered explainer.

Input: the atlas `features` and `contexts` tables and `atlas.explanations` ({kind, path?, model?, api_base?,
api_key_env?}). Output: the `explanations` table (feature, explanation, explainer). Explainers: `auto` (a
deterministic description from top tokens and logit-lens tokens, labelled "auto"), `neuronpedia` (a local export,
docs/method.md §1.3), `llm` (any litellm model with the docs/method.md §1.4 prompt; responses cached on disk by prompt hash).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.atlas.neuronpedia import read_export, sae_folder
from interf_dsl.errors import BackendError, SpecError
from interf_dsl.registry import Registry
from interf_dsl.steps import count_request

if TYPE_CHECKING:
    import polars as pl

    from interf_dsl.lang.sections import Explanations

EXPLAINERS: Registry[Callable[..., dict[int, str]]] = Registry("explainer")

SYSTEM_PROMPT = (
    "You describe what a neuron in a language model responds to. You are given short documents; the words on which "
    "the neuron activates are enclosed in « and ». Write one general sentence summarising what the neuron detects "
    "(list several points if the documents are not consistent). Do not merely repeat the activating words; take "
    "their capitalisation and punctuation into account where it matters. Use at most 32 words, without "
    "punctuation marks or formatting.")


def cache_dir() -> Path:
    return Path(os.environ.get("INTERF_CACHE_DIR", "~/.cache/interf")).expanduser()


LOCAL_API_KEY = "sk-interf-local"
"""The key sent to an `api_base` given without `api_key_env` (a local OpenAI-compatible server needs none, but
the OpenAI client refuses to send a request without one)."""

AUTO_TOKENS = 8
"""Top tokens and logit-lens tokens each read by the `auto` explainer."""


@EXPLAINERS.register("auto", summary="deterministic description from top tokens and logit-lens tokens")
def explain_auto(features: pl.DataFrame, contexts: pl.DataFrame, settings: Explanations, **_: Any) -> dict[int, str]:
    """The words among a feature's top tokens, then among its logit-lens tokens, deduplicated ("said so every …").

    Content only, no template: S is the cosine of embedded explanations, and a shared template ("auto: fires on
    …; promotes …", the first version) made every pair of the zoo's explanations similar (mean S 0.77, no pair
    below 0.4 in a 400-feature sample), so no pair passed the paper's τ and cluster exclusion saw one cluster. These
    word lists give mean S 0.22 with 78 % of pairs below 0.3 on the same sample. Features without word tokens
    fall back to their stripped tokens. The `explainer` column labels the text `auto`.
    """
    out = {}
    for f, tops, lens in features.select("feature", "top_tokens", "logit_tokens").iter_rows():
        tops, lens = list(tops or [])[:AUTO_TOKENS], list(lens or [])[:AUTO_TOKENS]
        words = _distinct(t.strip() for t in [*tops, *lens] if _WORD.fullmatch(t.strip()))
        if not words:
            words = _distinct(t.strip() for t in [*tops, *lens] if t.strip())
        out[int(f)] = " ".join(words) if words else "nothing on the corpus"
    return out


_WORD = re.compile(r"[^\W\d_][\w'-]*")


def _distinct(items: Any) -> list[str]:
    seen, out = set(), []
    for item in items:
        if item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out


@EXPLAINERS.register("neuronpedia", summary="explanations from a local Neuronpedia export folder")
def explain_neuronpedia(features: pl.DataFrame, contexts: pl.DataFrame, settings: Explanations, **_: Any) -> dict[int, str]:

    if not settings.path:
        raise SpecError("atlas.explanations.path is required for kind 'neuronpedia'")
    # one folder per SAE (<source>/<hook>/) when the export serves several, the folder itself when it is flat
    cols = features.columns
    folder = sae_folder(settings.path, features["source"][0] if "source" in cols and features.height else None,
                        features["hook"][0] if "hook" in cols and features.height else None)
    table = read_export(folder, n_features=features.height)["explanations"]
    return dict(zip(table["feature"].to_list(), table["explanation"].to_list(), strict=True))


def user_prompt(contexts: pl.DataFrame, feature: int, n_docs: int = 5) -> str:
    """The five top activating documents, activating tokens (act > 0) wrapped in « »."""
    import polars as pl

    docs = []
    rows = contexts.filter(pl.col("feature") == feature).sort("rank").head(n_docs)
    for k, (tokens, acts) in enumerate(rows.select("tokens", "acts").iter_rows(), 1):
        text = "".join(f"«{t}»" if a > 0 else t for t, a in zip(tokens, acts, strict=True))
        docs.append(f"{k}. {text}")
    return "\n".join(docs)


@EXPLAINERS.register("llm", summary="explanations written by a litellm model (docs/method.md §1.4 prompt, cached)")
def explain_llm(features: pl.DataFrame, contexts: pl.DataFrame, settings: Explanations, counters: Any = None,
                **_: Any) -> dict[int, str]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    model = settings.model
    if not model:
        raise SpecError("atlas.explanations.model is required for kind 'llm'")
    key_env = settings.api_key_env
    api_key = os.environ.get(key_env) if key_env else (LOCAL_API_KEY if settings.api_base else None)
    if key_env and api_key is None:
        raise BackendError(f"environment variable {key_env} (atlas.explanations.api_key_env) is not set")
    store = cache_dir() / "llm_explanations"
    store.mkdir(parents=True, exist_ok=True)
    out = {}
    active = features.filter(features["active"])["feature"].to_list()
    for f in active:
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": user_prompt(contexts, f)}]
        key = hashlib.sha256(json.dumps([model, settings.api_base, messages]).encode()).hexdigest()
        path = store / f"{key}.json"
        if path.exists():
            out[int(f)] = json.loads(path.read_text(encoding="utf-8"))["text"]
            continue
        try:
            resp = litellm.completion(model=model, messages=messages, api_base=settings.api_base,
                                      api_key=api_key, num_retries=2, timeout=60, temperature=0)
        except Exception as exc:  # litellm raises many provider-specific types
            raise BackendError(f"explainer llm ({model}) failed on feature {f}: {exc}") from None
        text = (resp.choices[0].message.content or "").strip()
        count_request(counters, resp)
        path.write_text(json.dumps({"text": text}), encoding="utf-8")
        out[int(f)] = text
    return out


def explain_features(features: pl.DataFrame, contexts: pl.DataFrame, settings: Explanations, counters: Any = None
                     ) -> pl.DataFrame:
    """The explanations table (feature, explanation, explainer) from `atlas.explanations`."""
    import polars as pl

    kind = settings.kind
    texts = EXPLAINERS.get(kind)(features, contexts, settings, counters=counters)
    return pl.DataFrame({"feature": list(texts), "explanation": list(texts.values())},
                        schema={"feature": pl.Int64, "explanation": pl.Utf8}).with_columns(
        pl.lit(kind).alias("explainer")).sort("feature")
