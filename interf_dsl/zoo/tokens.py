"""Zoo build and tests: turning documents into one token stream for training, evaluation and SAE activations.

Input: documents (strings) and the zoo tokenizer folder. Output: a 1-D `torch.long` tensor in which documents are
joined by the `<|endoftext|>` id (0), the layout every zoo model was trained on. The build caches the training
stream as `tokens_train.npy` (uint16) in the build folder.
"""

from __future__ import annotations

from pathlib import Path

from interf_dsl.zoo.corpus import DOC_SEP

EVAL_SLICE_WINDOWS = 48  # the fixed held-out slice whose loss the card records and the tests re-check


def encode_docs(docs: list[str], tokenizer_dir: Path):
    """Encode documents with the zoo tokenizer and join them with EOT; return a 1-D long tensor."""
    import numpy as np
    import torch
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    out: list[int] = []
    for enc in tok.encode_batch(docs):
        out.extend(enc.ids)
        out.append(0)
    return torch.from_numpy(np.asarray(out, dtype=np.int64))


def read_docs(path: Path) -> list[str]:
    """Documents of a corpus text file written by `corpus.build_corpus`."""
    text = path.read_text(encoding="utf-8")
    return [d for d in text.split(DOC_SEP) if d.strip()]


def train_stream(build_dir: Path, tokenizer_dir: Path):
    """The training token stream, encoded once and cached as uint16 next to the corpus."""
    import numpy as np
    import torch

    cache = build_dir / "corpus" / "tokens_train.npy"
    if not cache.exists():
        ids = encode_docs(read_docs(build_dir / "corpus" / "train.txt"), tokenizer_dir)
        np.save(cache, ids.numpy().astype(np.uint16))
    return torch.from_numpy(np.load(cache).astype(np.int64))


def heldout_stream(build_dir: Path, tokenizer_dir: Path):
    """The full held-out token stream (every source, shipped or not)."""
    return encode_docs(read_docs(build_dir / "corpus" / "heldout.txt"), tokenizer_dir)


def eval_slice(atlas_docs: list[str], tokenizer_dir: Path):
    """The fixed held-out slice: the shipped `atlas` documents, in order, as one stream (first windows used)."""
    return encode_docs(atlas_docs, tokenizer_dir)


def spread(stream, n_windows: int, width: int = 255):
    """`n_windows` evenly spaced `width`-token chunks of a stream, concatenated (every source, not just the first)."""
    import torch

    total = len(stream) // width
    picks = torch.linspace(0, total - 1, min(n_windows, total)).long()
    return torch.cat([stream[i * width : (i + 1) * width] for i in picks.tolist()])
