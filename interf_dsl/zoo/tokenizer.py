"""Zoo build, step 2: the shared byte-level BPE tokenizer of every zoo model.

Input: `corpus/train.txt` from `corpus.build_corpus`. Output: a folder with `tokenizer.json`,
`tokenizer_config.json` and `special_tokens_map.json`, loadable with `transformers.AutoTokenizer.from_pretrained`
(transformer_lens must get a tokenizer that it can reload from a folder; an in-memory object crashes it).
`<|endoftext|>` is BOS, EOS, PAD and UNK, as in GPT-2.
"""

from __future__ import annotations

import json
from pathlib import Path

EOT = "<|endoftext|>"
VOCAB_SIZE = 4096
_TRAIN_CHARS = 16_000_000  # BPE merges converge long before the full 48 MB; this keeps the step under a minute


def _iter_docs(path: Path, max_chars: int):
    seen = 0
    buf: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip() == EOT:
                yield "".join(buf)
                seen += sum(map(len, buf))
                buf = []
                if seen > max_chars:
                    return
            else:
                buf.append(line)


def train_tokenizer(train_txt: Path, out_dir: Path, vocab_size: int = VOCAB_SIZE) -> Path:
    """Train the byte-level BPE on the start of the training text and save it as a transformers folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_iter_docs(train_txt, _TRAIN_CHARS), trainer=trainer)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    special = {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT, "pad_token": EOT}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1024,
              "add_prefix_space": False, "clean_up_tokenization_spaces": False, **special}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=1))
    return out_dir


def load_tokenizer(folder: Path):
    """The zoo tokenizer as a transformers fast tokenizer (from its folder)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))
