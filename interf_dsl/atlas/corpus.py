"""Atlas kind, `atlas` step: the corpus the atlas is computed on, as fixed-length token windows.

Input: `atlas.corpus` (`zoo:heldout`, a .txt file, a .jsonl file with a "text" field, or a folder of such files)
and the model's tokenizer. Output: documents (strings), then a [windows, context] long tensor of token ids
(documents tokenised without BOS and joined by the EOS id, cut into windows, capped at `max_tokens`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import BackendError
from interf_dsl.zoo.catalog import read_heldout

if TYPE_CHECKING:
    import torch


CHECK_BYTES = 16 * 1024 * 1024
"""How much of a corpus `check_corpus` reads (validate time): the head of each file, cut at a line break."""


def _parse(path: Path, data: bytes) -> list[str]:
    """Documents of one corpus file's bytes: JSONL records' "text", or plain text split at blank lines."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BackendError(f"corpus file {path}:{line}: not UTF-8 text (byte {exc.start})",
                           hint="re-encode it as UTF-8") from None
    if path.suffix == ".jsonl":
        docs = []
        for k, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BackendError(f"corpus file {path}:{k}: not JSON ({exc.msg})",
                                   hint='a .jsonl corpus holds one {"text": "..."} object per line') from None
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                raise BackendError(f"corpus file {path}:{k}: expected an object with a string 'text' field",
                                   hint='a .jsonl corpus holds one {"text": "..."} object per line')
            docs.append(rec["text"])
        return docs
    return [d for d in text.split("\n\n") if d.strip()]


def _read_file(path: Path) -> list[str]:
    return _parse(path, path.read_bytes())


def corpus_files(spec: str) -> list[Path]:
    """The files `atlas.corpus` names: the file itself, or a folder's .txt and .jsonl files (sorted, recursive).

    Raises:
        BackendError: the path does not exist, or the folder holds no .txt or .jsonl file.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".txt", ".jsonl") and p.is_file())
        if not files:
            raise BackendError(f"corpus folder {path} holds no .txt or .jsonl file")
        return files
    if path.is_file():
        return [path]
    raise BackendError(f"corpus {spec!r} does not exist", hint="use zoo:heldout, a .txt/.jsonl file or a folder")


def read_corpus(spec: str) -> list[str]:
    """Documents of `atlas.corpus`.

    Raises:
        BackendError: missing path, unreadable or non-UTF-8 file, or no text at all.
    """
    if spec == "zoo:heldout":

        got = read_heldout("atlas")
        docs = [got] if isinstance(got, str) else list(got)
    else:
        docs = [d for f in corpus_files(spec) for d in _read_file(f)]
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise BackendError(f"corpus {spec!r} is empty")
    return docs


def check_corpus(spec: str, max_bytes: int = CHECK_BYTES) -> None:
    """What `read_corpus` would refuse, found by reading at most `max_bytes` (the head of each file, whole lines).

    A corpus read whole (all of it fits in `max_bytes`) is also checked for holding some text.

    Raises:
        BackendError: the same errors as `read_corpus`, for the part read.
    """
    budget, whole, found = max_bytes, True, False
    for f in corpus_files(spec):
        with f.open("rb") as fh:
            data = fh.read(budget + 1)
        if len(data) > budget:
            whole, data = False, data[:data.rfind(b"\n", 0, budget) + 1]
        budget -= len(data)
        found = found or any(d.strip() for d in _parse(f, data))
        if budget <= 0:
            whole = False
            break
    if whole and not found:
        raise BackendError(f"corpus {spec!r} is empty")


def token_windows(tokenizer: Any, docs: list[str], context: int, max_tokens: int) -> torch.Tensor:
    """Cut the tokenised documents into [windows, context] (the last partial window is dropped)."""
    import torch

    if tokenizer is None:
        raise BackendError("the model has no tokenizer; the atlas needs one to read the corpus")
    eos = getattr(tokenizer, "eos_token_id", None)
    ids: list[int] = []
    for doc in docs:
        ids.extend(tokenizer.encode(doc, add_special_tokens=False))
        if eos is not None:
            ids.append(int(eos))
        if len(ids) >= max_tokens:
            break
    ids = ids[:max_tokens]
    n = len(ids) // context
    if n == 0:
        raise BackendError(f"the corpus has {len(ids)} tokens, fewer than one window of atlas.context = {context}")
    return torch.tensor(ids[: n * context], dtype=torch.long).view(n, context)


def vocab_strings(tokenizer: Any, size: int) -> list[str]:
    """The decoded string of every token id (how the tables show tokens)."""
    return [tokenizer.decode([i]) for i in range(size)]
