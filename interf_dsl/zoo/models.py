"""Zoo build, step 3: the three tiny transformer LMs (two sources, one transfer target).

Input: the tokenized corpus (`tokens.py`). Output: one folder per model with `config.json` (the
`HookedTransformerConfig` fields), `model.safetensors` (fp16) and the shared tokenizer files, the layout that
`interf_dsl.backends.loading.load_model` reads for `zoo:` references and for local directories.

Training is time-budgeted: the learning rate follows warm-up then cosine decay over the wall-clock budget, so a run
keeps to its minutes on a shared machine; the number of steps actually taken is recorded in the card.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

N_CTX = 256
_BASE = {"d_vocab": 4096, "n_ctx": N_CTX, "d_head": 32, "default_prepend_bos": True, "init_weights": True}

MODEL_SPECS: dict[str, dict] = {
    "gpt2-tiny": {
        "family": "gpt2", "seed": 11,
        "cfg": {**_BASE, "n_layers": 4, "d_model": 128, "n_heads": 4, "d_mlp": 512, "act_fn": "gelu_new",
                "normalization_type": "LN", "positional_embedding_type": "standard",
                "original_architecture": "GPT2LMHeadModel"},
    },
    "pythia-tiny": {
        "family": "pythia", "seed": 23,
        "cfg": {**_BASE, "n_layers": 4, "d_model": 128, "n_heads": 4, "d_mlp": 512, "act_fn": "gelu",
                "normalization_type": "LN", "positional_embedding_type": "rotary", "rotary_dim": 8,
                "parallel_attn_mlp": True, "original_architecture": "GPTNeoXForCausalLM"},
    },
    "target-tiny": {
        "family": "llama", "seed": 37,
        "cfg": {**_BASE, "n_layers": 6, "d_model": 192, "n_heads": 6, "d_mlp": 512, "act_fn": "silu",
                "gated_mlp": True, "normalization_type": "RMS", "final_rms": True,
                "positional_embedding_type": "rotary", "rotary_dim": 32, "original_architecture": "LlamaForCausalLM"},
    },
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def make_model(name: str, tokenizer_dir: Path):
    """A freshly initialised `HookedTransformer` of the named zoo architecture (seeded)."""
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    spec = MODEL_SPECS[name]
    torch.manual_seed(spec["seed"])
    cfg = HookedTransformerConfig(**spec["cfg"], seed=spec["seed"], tokenizer_name=str(tokenizer_dir))
    return HookedTransformer(cfg)


def _lr_at(frac: float, peak: float, warmup: float = 0.03) -> float:
    if frac < warmup:
        return peak * frac / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - warmup) / (1 - warmup)))))


def train_model(name: str, train_tokens, tokenizer_dir: Path, minutes: float, log=print,
                batch: int = 32, peak_lr: float = 2e-3, device: str = "cpu") -> dict:
    """Train one zoo model for `minutes` of wall clock in bf16 autocast on `device`; return the model (on the CPU)
    and training stats. The batches are drawn on the CPU with the model's seed, so every device sees the same
    token windows in the same order (a faster device just sees more of them)."""
    import torch

    model = make_model(name, tokenizer_dir).to(device)
    dev_type = torch.device(device).type
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=peak_lr, betas=(0.9, 0.95), weight_decay=0.1)
    gen = torch.Generator().manual_seed(MODEL_SPECS[name]["seed"])
    bos = torch.zeros(batch, 1, dtype=torch.long)
    n = len(train_tokens) - N_CTX
    budget = minutes * 60.0
    t0 = time.time()
    step, ema = 0, None
    while (elapsed := time.time() - t0) < budget:
        lr = _lr_at(elapsed / budget, peak_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, n, (batch,), generator=gen)
        idx = starts[:, None] + torch.arange(N_CTX - 1)[None, :]
        tokens = torch.cat([bos, train_tokens[idx]], dim=1).to(device, non_blocking=True)
        with torch.autocast(dev_type, dtype=torch.bfloat16):
            loss = model(tokens, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0:
            log(f"[{name}] step {step} {elapsed:.0f}s lr {lr:.2e} loss {ema:.3f} "
                f"({step * batch * N_CTX / max(elapsed, 1e-6):.0f} tok/s)")
    stats = {"steps": step, "batch": batch, "n_ctx": N_CTX, "tokens_seen": step * batch * N_CTX,
             "minutes": round((time.time() - t0) / 60, 2), "peak_lr": peak_lr, "final_train_loss_ema": ema,
             "optimizer": "AdamW(0.9, 0.95), wd 0.1, warm-up + cosine by wall clock, bf16 autocast",
             "device": device_name(device)}
    return {"model": model.to("cpu"), "stats": stats}


def device_name(device: str) -> str:
    """The device as the card states it: `cpu`, or `cuda (<GPU name>)`."""
    import torch

    dev = torch.device(device)
    return f"cuda ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else dev.type


def save_model(model, name: str, tokenizer_dir: Path, out_dir: Path) -> Path:
    """Write config.json, fp16 model.safetensors and the tokenizer files into `out_dir`."""
    import torch
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = dict(MODEL_SPECS[name]["cfg"], seed=MODEL_SPECS[name]["seed"])
    (out_dir / "config.json").write_text(json.dumps({"interf_zoo_model": name, "family": MODEL_SPECS[name]["family"],
                                                     "hooked_transformer_config": cfg}, indent=1, sort_keys=True))
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
             if not k.endswith((".IGNORE", ".mask", "rotary_sin", "rotary_cos"))}
    save_file(state, str(out_dir / "model.safetensors"))
    for f in TOKENIZER_FILES:
        shutil.copy(tokenizer_dir / f, out_dir / f)
    return out_dir


def eval_loss(model, tokens, n_windows: int | None = None, batch: int = 16) -> float:
    """Mean next-token loss (nats) on non-overlapping `[BOS] + 255`-token windows of a 1-D token tensor."""
    import torch

    width = N_CTX - 1
    total = (len(tokens) // width) if n_windows is None else min(n_windows, len(tokens) // width)
    windows = tokens[: total * width].view(total, width)
    windows = torch.cat([torch.zeros(total, 1, dtype=torch.long), windows], dim=1)
    model.eval()
    losses = []
    with torch.no_grad():
        for i in range(0, total, batch):
            chunk = windows[i : i + batch]
            losses.append(model(chunk, return_type="loss").item() * len(chunk))
    return sum(losses) / total
