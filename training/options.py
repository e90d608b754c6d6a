"""`winnow train`'s presets and command line, without torch: `winnow train --help` and a refused option answer in
a fraction of a second, where importing training.train (torch) takes seconds."""
from __future__ import annotations

import argparse
from typing import Any, Dict

from schemas import MANIFEST_NAME
from schemas.arguments import fraction_over_zero, positive_int, seed_number

PRESETS: Dict[str, Dict[str, Any]] = {
    # Seconds on 2 CPU cores: ~0.4M parameters outside the embedding, 8 x 128-256 tokens per step.
    "tiny": dict(n_layer=2, n_head=2, n_embd=128, batch_size=8, grad_accum_steps=1, lr=3e-3,
                 warmup_steps=10, max_steps=100, log_interval=10),
    # GPT-2 small as in nanoGPT's OpenWebText run: 16 x 32 x 1024 = ~0.5M tokens per step, 6e-4 peak,
    # 700 warmup steps, ~10B tokens over 19,073 steps. Divide grad_accum_steps by the GPU count via torchrun.
    "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768, batch_size=16, grad_accum_steps=32, lr=6e-4,
                      warmup_steps=700, max_steps=19073, log_interval=10, ckpt_interval=1000),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="winnow train",
        description="Train the bundled GPT on a Winnow shards directory. Vocabulary size and sequence "
                    "length come from the shards' manifest.json; the preset sets the model size and "
                    "optimisation. Writes OUT/ckpt.pt and one JSON line per log interval to OUT/log.jsonl.")
    p.add_argument("--shards", required=True, help="shards directory (local path or fsspec URI) with "
                   + MANIFEST_NAME)
    p.add_argument("--tokenizer", help="tokenizer.json or its directory; training refuses shards made with "
                   "a different tokenizer (sha256). Without it the check is skipped (and said so).")
    p.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda when available, else cpu")
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                   help="tiny: 2x128 CPU smoke run; gpt2-124m: 12 layers x 768 (default: tiny)")
    p.add_argument("--max-steps", type=positive_int, help="optimizer steps (default: the preset's)")
    p.add_argument("--out", help="output directory (default: <shards>/../train for local shards, ./train for a URI)")
    p.add_argument("--batch-size", type=positive_int, help="sequences per micro-batch per GPU (default: the preset's)")
    p.add_argument("--grad-accum", type=positive_int, help="micro-batches per step over all GPUs (default: preset's)")
    # within (0, 1]: `--lr inf` trained NaN into log and checkpoint; AdamW moves each weight by about lr per step,
    # so above 1 nothing is learnt
    p.add_argument("--lr", type=fraction_over_zero, help="peak learning rate, in (0, 1] (default: the preset's)")
    p.add_argument("--seed", type=seed_number, help="seed of the initial weights and the data order (default 1337)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, fast steps)")
    p.add_argument("--doc-mask", action="store_true", help="document masking: attention stays inside each "
                   "packed document and positions restart at each one (FlexAttention on CUDA)")
    p.add_argument("--attention", choices=["auto", "flex", "dense"], help="document-masking kernel (default "
                   "auto: flex on CUDA, a dense SDPA mask on CPU, where flex has no backward)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt when it exists")
    p.add_argument("--log-interval", type=positive_int, help="steps between log lines (default: the preset's)")
    p.add_argument("--no-verify-checksums", dest="verify_checksums", action="store_false",
                   help="skip comparing every shard's sha256 with the manifest before training (the log says so)")
    return p
