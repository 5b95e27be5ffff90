"""Atlas kind, `explain` step (explainer `neuronpedia`) and atlas import: a local Neuronpedia export.

Input: a folder in the export layout of docs/method.md §1.3: `features/`, `activations/`, `explanations/`, each with
`batch-<k>.jsonl.gz` files (batches numbered from 0 without gaps). Output: polars tables `features`
(feature, neuron_idx, neuron_val), `contexts` (feature, rank, tokens, acts, max_pos, max_act) and `explanations`
(feature, explanation, embedding or null; several explanations of one feature keep the first text and average the
embeddings, as the authors' implementation does).
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from interf_dsl.errors import BackendError
from interf_dsl.lang.ast import short_hook

if TYPE_CHECKING:
    import polars as pl

PARTS = ("features", "activations", "explanations")
"""The three parts of one SAE's export. A folder holding them at the top serves one SAE (a flat export); a folder
serving several sources and hooks holds one such folder per SAE, `<source>/<hook>/` with the spec's source name and
the short hook name (`gpt2/L1.resid_post/features/batch-0.jsonl.gz`; docs/data-formats.md)."""
_BATCH = re.compile(r"batch-(\d+)\.jsonl\.gz$")


def sae_folder(root: str | Path, source: str | None, hook: str | None) -> Path:
    """The export folder of one SAE: `root` for a flat export (or without a source and hook), else
    `root/<source>/<short hook>`."""
    root = Path(root)
    if (root / "features").is_dir() or not source or not hook:
        return root
    return root / source / short_hook(hook)


def _batches(folder: Path, part: str) -> list[Path]:
    """The batch files of one part of an export, in order (the layout checked: folder, batches 0..n-1)."""
    sub = folder / part
    if not sub.is_dir():
        raise BackendError(f"Neuronpedia export {folder}: missing folder '{part}/'",
                           hint=f"an export folder holds {', '.join(p + '/' for p in PARTS)} with batch-<k>.jsonl.gz")
    files = {int(m.group(1)): p for p in sub.iterdir() if (m := _BATCH.search(p.name))}
    if not files:
        raise BackendError(f"Neuronpedia export {sub}: no batch-*.jsonl.gz files")
    missing = sorted(set(range(max(files) + 1)) - set(files))
    if missing:
        raise BackendError(f"Neuronpedia export {sub}: missing batches {missing}",
                           hint="re-download the export; batches are numbered from 0 without gaps")
    return [files[k] for k in sorted(files)]


def _records(folder: Path, part: str, first_only: bool = False) -> list[dict]:
    out = []
    for path in _batches(folder, part):
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        out.append(json.loads(line))
                        if first_only:
                            return out
        except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BackendError(f"Neuronpedia export {path}: unreadable ({exc})") from None
    return out


def check_export(folder: str | Path) -> None:
    """What `read_export` would refuse in the export's layout, found without reading it whole: the three folders,
    batches numbered from 0 without gaps, and a first record with an integer 'index' in each part.

    Raises:
        BackendError: as `read_export`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BackendError(f"Neuronpedia export {folder} is not a folder",
                           hint=f"an export folder holds {', '.join(p + '/' for p in PARTS)}")
    for part in PARTS:
        for rec in _records(folder, part, first_only=True):
            _index(rec, f"{folder}/{part}")


def _index(rec: dict, where: str) -> int:
    try:
        return int(rec["index"])
    except (KeyError, TypeError, ValueError):
        raise BackendError(f"Neuronpedia export {where}: a record has no integer 'index'") from None


def read_export(folder: str | Path, n_features: int | None = None) -> dict[str, pl.DataFrame]:
    """Read a Neuronpedia export folder.

    Args:
        folder: the export folder.
        n_features: the SAE width; records for features outside [0, n) are an error.

    Raises:
        BackendError: missing folder or batches, unreadable files, or features that do not exist.
    """
    import polars as pl

    folder = Path(folder)
    feats, ctx, expl = [], [], {}
    for rec in _records(folder, "features"):
        feats.append((_index(rec, "features"), [int(i) for i in rec.get("neuron_alignment_indices") or []],
                      [float(v) for v in rec.get("neuron_alignment_values") or []]))
    for rec in _records(folder, "activations"):
        f = _index(rec, "activations")
        for rank, act in enumerate(rec.get("activations") or [rec]):
            vals = [float(v) for v in act.get("values", [])]
            pos = int(act.get("maxValueTokenIndex", max(range(len(vals)), key=vals.__getitem__) if vals else 0))
            ctx.append((f, rank, list(act.get("tokens", [])), vals, pos, vals[pos] if vals else 0.0))
    for rec in _records(folder, "explanations"):
        f = _index(rec, "explanations")
        text, emb = rec.get("description") or "", rec.get("embedding")
        cur = expl.setdefault(f, [text, [], 0])
        if emb:
            cur[1] = [a + float(b) for a, b in zip(cur[1], emb, strict=True)] if cur[1] else [float(x) for x in emb]
            cur[2] += 1
    if n_features is not None:
        bad = sorted({f for f, *_ in feats} | {c[0] for c in ctx} | set(expl))
        bad = [f for f in bad if not 0 <= f < n_features]
        if bad:
            raise BackendError(f"Neuronpedia export {folder}: features {bad[:10]} do not exist in an SAE of "
                               f"width {n_features}")
    return {
        "features": pl.DataFrame(feats, orient="row", schema={"feature": pl.Int64, "neuron_idx": pl.List(pl.Int64),
                                                              "neuron_val": pl.List(pl.Float64)}).sort("feature"),
        "contexts": pl.DataFrame(ctx, orient="row", schema={
            "feature": pl.Int64, "rank": pl.Int64, "tokens": pl.List(pl.Utf8), "acts": pl.List(pl.Float64),
            "max_pos": pl.Int64, "max_act": pl.Float64}).sort("feature", "rank"),
        "explanations": pl.DataFrame(
            [(f, t, [x / c for x in e] if c else None) for f, (t, e, c) in sorted(expl.items())], orient="row",
            schema={"feature": pl.Int64, "explanation": pl.Utf8, "embedding": pl.List(pl.Float64)}),
    }
