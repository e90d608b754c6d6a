"""Train the bundled GPT on a Winnow shards directory: `winnow train --shards DIR [--device] [--max-steps N]`.

One loop in the nanoGPT mould: AdamW with linear warmup then cosine decay to 10% of the peak rate, gradient
accumulation to reach the preset's tokens per step, gradient clipping at 1.0, bf16 autocast on CUDA only (CPU
bf16 is slow and changes results), optional `torch.compile`, DDP when launched by torchrun. The vocabulary
and sequence length come from the shards' manifest, never from the preset, so a model always matches its
data. A checkpoint (model, optimizer, reader position, step, config) lands in out_dir/ckpt.pt; a resumed run
continues with exactly the batches and learning rates an uninterrupted run would have used.

`--doc-mask` turns on document masking (attention stays inside each packed document, RoPE positions restart
at each one; FlexAttention on CUDA, a dense SDPA mask on CPU: see training/model.py). Every log line holds
the step, its loss, the learning rate, tokens/s and MFU averaged over the steps since the previous line. MFU
counts 6N + 12 L T C FLOPs per token (nanoGPT's formula), the same with or without document masking, so the
two are comparable as throughput; masked attention does less real work than the formula credits.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from typing import Any, Dict, List, Optional

import torch

from schemas import MANIFEST_NAME
from schemas.errors import WinnowError, check_writable_dir, report_errors
from training.data import ShardReader
from training.model import GPT, GPTConfig, attention_kind
from training.options import PRESETS, build_parser  # noqa: F401 -- build_parser: importable from here too


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    shards: str
    out_dir: str = ""  # "" means <shards>/../train
    tokenizer: Optional[str] = None  # tokenizer.json or its directory; None skips the hash check
    preset: str = "tiny"
    device: str = ""  # "" means cuda when available, else cpu
    # model (vocab_size and seq_len come from the manifest)
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 128
    tie_embeddings: bool = True
    document_masking: bool = False  # attention inside documents only, positions restart per document
    attention: str = "auto"  # masking kernel: auto (flex on CUDA, dense on CPU), flex, dense
    # optimisation
    max_steps: int = 100
    batch_size: int = 8  # sequences per micro-batch per rank
    grad_accum_steps: int = 1  # micro-batches per optimizer step, summed over all ranks
    lr: float = 3e-3
    min_lr_ratio: float = 0.1  # cosine decays to 10% of the peak (Chinchilla, nanoGPT)
    warmup_steps: int = 10
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    seed: int = 1337
    # runtime
    compile: bool = False
    resume: bool = False
    log_interval: int = 10
    ckpt_interval: int = 0  # 0: checkpoint only at the end
    prefetch: int = 2
    save_checkpoint: bool = True  # False: benchmarks that should not write 1.5 GB per run
    peak_flops: Optional[float] = None  # per device, for MFU; None: looked up for known GPUs
    verify_checksums: bool = True  # sha256 of every shard against the manifest before training (once per run)

    def __post_init__(self) -> None:
        """Optimisation numbers must be finite and in range (`lr=inf` once trained NaN into the log and the
        checkpoint and exited 0); the command line refuses them earlier, naming the option."""
        in_range = {"lr": 0 < self.lr <= 1, "min_lr_ratio": 0 <= self.min_lr_ratio <= 1,
                    "warmup_steps": self.warmup_steps >= 0, "weight_decay": self.weight_decay >= 0,
                    "beta1": 0 <= self.beta1 < 1, "beta2": 0 <= self.beta2 < 1, "grad_clip": self.grad_clip >= 0}
        for name, ok in in_range.items():
            value = getattr(self, name)
            if not (ok and math.isfinite(value)):  # NaN compares False: refused by `ok` too
                raise ValueError(f"TrainConfig {name}={value!r} is out of range")

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "TrainConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], "preset": name, **overrides})



# Dense bf16 peak FLOP/s per GPU model (vendor datasheets), for MFU.
_PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup, then cosine to min_lr_ratio * lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    min_lr = cfg.lr * cfg.min_lr_ratio
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - min_lr)


def default_out_dir(shards: str) -> str:
    if "://" in shards:  # checkpoints are written with torch.save to a local path
        return os.path.abspath("train")
    return os.path.join(os.path.dirname(os.path.abspath(shards.rstrip("/"))), "train")


def _peak_flops(cfg: TrainConfig, device: torch.device) -> Optional[float]:
    if cfg.peak_flops is not None:
        return cfg.peak_flops
    if device.type != "cuda":
        return None  # CPU peak depends on the machine; MFU is reported as null rather than guessed
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in _PEAK_BF16.items() if k in name), None)


# Document masking on CPU builds a dense (B, 1, T, T) mask for every micro-batch (training/model.py), which SDPA
# reads beside the bool tensors it is built from. Measured with the tiny preset (2 layers, 2 heads), peak RSS with
# masking minus without: 7.7 bytes per B x T^2 at B=4, T=4096 and 8.4 at B=2, T=8192, whatever the layer count
# (one mask per micro-batch). 9 bytes leaves a margin; at T=32,768 and the tiny preset's B=8 that is 77 GB.
DENSE_MASK_BYTES_PER_CELL = 9
# A step of more FLOPs than this on CPU (the tiny preset at the default seq_len is ~1e10) takes minutes on a few
# cores: said before the first step, whose log line comes only after --log-interval steps.
CPU_STEP_NOTICE_FLOPS = 1e12


def available_memory(meminfo: str = "/proc/meminfo", cgroup: str = "/sys/fs/cgroup") -> Optional[int]:
    """Bytes of memory the kernel says are available without swapping (MemAvailable), or less where the process's
    cgroup (v2: a container, a Kubernetes pod) has a limit: that limit less what the cgroup uses. None where
    neither can be read."""
    found = []
    try:
        with open(meminfo) as fh:
            found += [int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(os.path.join(cgroup, "memory.max")) as fh, open(os.path.join(cgroup, "memory.current")) as used:
            limit = fh.read().strip()
            if limit != "max":
                found.append(max(0, int(limit) - int(used.read().strip())))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_dense_mask_fits(batch_size: int, seq_len: int, available: Optional[int]) -> None:
    """Refuse, before the model is built, a document-masked run whose dense masks cannot fit in memory: past that
    point the process is killed by the kernel at the first step, with nothing said."""
    need = DENSE_MASK_BYTES_PER_CELL * batch_size * seq_len * seq_len
    if available is not None and need > available:
        per_sequence = DENSE_MASK_BYTES_PER_CELL * seq_len * seq_len
        raise WinnowError(
            f"--doc-mask with dense attention builds a {seq_len} x {seq_len} mask per sequence: about "
            f"{need / 1e9:.1f} GB for a micro-batch of {batch_size} ({per_sequence / 1e9:.2f} GB a sequence), and "
            f"{available / 1e9:.1f} GB of memory is available",
            fix=f"lower --batch-size to {max(1, available // per_sequence)} or less, train on CUDA (FlexAttention "
                f"keeps no dense mask), tokenize with a smaller --seq-len, or leave out --doc-mask")


FIX_CHECKPOINT = "remove it to train from step 0, or pass a new --out"


def load_checkpoint(path: str) -> Dict[str, Any]:
    """OUT/ckpt.pt for --resume; an empty, cut or foreign file is one line naming it (it was an EOFError,
    KeyError or "[Errno 22] Invalid argument" traceback naming nothing)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if isinstance(exc, OSError) and getattr(exc, "filename", None):
            raise  # unreadable (permissions): the message already names the file
        detail = ": ".join([type(exc).__name__, *(str(exc).strip().splitlines() or [])[:1]])[:200]
        problem = "is empty" if os.path.getsize(path) == 0 else f"cannot be read as a checkpoint ({detail})"
        raise WinnowError(problem, path=path, fix=FIX_CHECKPOINT) from exc
    keys = ("model", "optimizer", "reader", "step", "model_config", "tokenizer_sha256")
    missing = [k for k in keys if not isinstance(checkpoint, dict) or k not in checkpoint]
    if missing or not isinstance(checkpoint["model_config"], dict):
        raise WinnowError(f"is not a `winnow train` checkpoint (no {', '.join(missing) or 'model_config'})",
                          path=path, fix=FIX_CHECKPOINT)
    return checkpoint


def check_resumable(checkpoint: Dict[str, Any], manifest, shards: str, path: str) -> None:
    """The checkpoint's model was built for its shards' tokenizer, vocab_size and seq_len: other shards
    trained silently (or an IndexError traceback, for a larger vocabulary) before this check."""
    model_cfg = checkpoint["model_config"]
    theirs = {"tokenizer sha256": checkpoint["tokenizer_sha256"], "vocab_size": model_cfg.get("vocab_size"),
              "seq_len": model_cfg.get("seq_len")}
    mine = {"tokenizer sha256": manifest.tokenizer.sha256, "vocab_size": manifest.tokenizer.vocab_size,
            "seq_len": manifest.seq_len}
    differ = [k for k in mine if theirs[k] != mine[k]]
    if differ:
        def show(d):
            return ", ".join(f"{k} {str(d[k])[:12] if k == 'tokenizer sha256' else d[k]}" for k in differ)
        raise WinnowError(f"was trained on shards with {show(theirs)}, but --shards {shards} has {show(mine)}",
                          path=path, fix="resume with the --shards it was trained on, or pass a new --out to "
                                         "train these from step 0")


def check_same_order(saved: Dict[str, Any], mine: Dict[str, int], path: str) -> None:
    """The checkpoint's reader position means the same rows in this run: same seed, micro-batch size and number
    of ranks (the reader's own refusal named none of the options, nor the file)."""
    names = {"seed": "--seed", "batch_size": "--batch-size", "world_size": "ranks"}
    differ = [k for k in names if saved.get(k) != mine[k]]
    if differ:
        def show(d):
            return ", ".join(f"{names[k]} {d.get(k)}" for k in differ)
        raise WinnowError(f"was saved with {show(saved)}, but this run has {show(mine)}", path=path,
                          fix="resume with the same --seed, --batch-size and number of ranks (its data order "
                              "depends on them), or pass a new --out to train from step 0")


def _log(record: Dict[str, Any], path: str) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def train(config: TrainConfig) -> Dict[str, Any]:
    """Run the training loop; returns per-step losses of this invocation and where the outputs went."""
    cfg = config
    # DDP when torchrun set the environment; one process per GPU.
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
    rank, world_size, local_rank = 0, 1, 0
    if ddp:
        import torch.distributed as dist

        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and cfg.device != "cpu"
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(device)
    else:
        device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    master = rank == 0
    if cfg.grad_accum_steps % world_size and cfg.grad_accum_steps > world_size:
        raise ValueError(f"grad_accum_steps={cfg.grad_accum_steps} is not divisible by {world_size} ranks")
    accum = max(1, cfg.grad_accum_steps // world_size)  # fewer micro-batches than ranks: one each

    out_dir = cfg.out_dir or default_out_dir(cfg.shards)
    check_writable_dir(out_dir, "--out")  # before hashing and reading the shards, not at the first log line
    os.makedirs(out_dir, exist_ok=True)
    ckpt_path, log_path = os.path.join(out_dir, "ckpt.pt"), os.path.join(out_dir, "log.jsonl")
    checkpoint = None
    if cfg.resume:
        if os.path.exists(ckpt_path):
            checkpoint = load_checkpoint(ckpt_path)
            if int(checkpoint["step"]) >= cfg.max_steps:  # no step to run: it was rewritten, first_loss null
                raise WinnowError(f"is at step {int(checkpoint['step'])} already, and --max-steps is "
                                  f"{cfg.max_steps}", path=ckpt_path,
                                  fix=f"pass a --max-steps above {int(checkpoint['step'])} to train further")
        elif master:
            print(f"no checkpoint at {ckpt_path}; starting from step 0", file=sys.stderr)
    if master and checkpoint is None and os.path.exists(log_path):
        os.remove(log_path)  # a fresh run starts a fresh log; a resumed one appends

    torch.manual_seed(cfg.seed)  # same seed, same initial weights: what makes resume comparable
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    reader = ShardReader(cfg.shards, cfg.batch_size, tokenizer=cfg.tokenizer, seed=cfg.seed, rank=rank,
                         world_size=world_size, prefetch=cfg.prefetch, pin_memory=device.type == "cuda",
                         document_masking=cfg.document_masking, verify_checksums=False)
    if checkpoint is not None:  # before hashing the shards: a wrong --shards is refused at once
        check_resumable(checkpoint, reader.manifest, cfg.shards, ckpt_path)
        check_same_order(checkpoint.get("reader") or {}, reader.identity(), ckpt_path)
    if cfg.verify_checksums:
        reader.check_checksums()
    if master:
        if reader.checksums is None:
            print(f"--no-verify-checksums: as asked, not checking the sha256 of the {len(reader.manifest.shards)} "
                  f"shards in {cfg.shards} against {MANIFEST_NAME}", file=sys.stderr)
        else:
            c = reader.checksums
            print(f"checked the sha256 of {c['verified']} shards ({c['bytes'] / 1e6:.1f} MB) against "
                  f"{MANIFEST_NAME} in {c['seconds']:.2f} s", file=sys.stderr)
    if cfg.tokenizer is None and master:
        print(f"no --tokenizer given: not checking the shards' tokenizer sha256 "
              f"{reader.manifest.tokenizer.sha256[:16]}...", file=sys.stderr)
    model_cfg = GPTConfig(vocab_size=reader.manifest.tokenizer.vocab_size, seq_len=reader.seq_len,
                          n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd,
                          tie_embeddings=cfg.tie_embeddings, attention=cfg.attention)
    if checkpoint is not None:  # its shape (checked against the manifest) wins over the preset; the kernel does not
        model_cfg = GPTConfig(**{**checkpoint["model_config"], "attention": cfg.attention})
    if cfg.document_masking and attention_kind(cfg.attention, device) == "dense":
        check_dense_mask_fits(cfg.batch_size, reader.seq_len, available_memory())
    model = GPT(model_cfg).to(device)
    optimizer = model.configure_optimizer(cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2),
                                          fused=device.type == "cuda")
    step = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        reader.load_state_dict(checkpoint["reader"])
        step = int(checkpoint["step"])
        checkpoint = None  # free the host copy

    raw_model = model
    if cfg.compile:
        model = torch.compile(model)
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None)
    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else nullcontext())

    flops_per_token = raw_model.estimate_flops_per_token()
    peak = _peak_flops(cfg, device)
    tokens_per_step = cfg.batch_size * reader.seq_len * accum * world_size
    if master and device.type == "cpu" and flops_per_token * tokens_per_step > CPU_STEP_NOTICE_FLOPS:
        print(f"training on CPU: a step is {tokens_per_step:,} tokens, about "
              f"{flops_per_token * tokens_per_step / 1e12:.1f} TFLOP, which takes minutes on a few cores; the first "
              f"log line comes after {cfg.log_interval} steps. "
              f"A GPU (--device cuda), a smaller --batch-size or --grad-accum, or shards with a smaller --seq-len "
              f"make steps shorter", file=sys.stderr)
    losses: List[float] = []
    records: List[Dict[str, Any]] = []
    interval_steps, interval_seconds = 0, 0.0

    def save_checkpoint() -> None:
        if not torch.stack([torch.isfinite(p).all() for p in raw_model.parameters()]).all():
            raise WinnowError(f"the weights are no longer finite after step {step} (learning rate "
                              f"{lr_at(step - 1, cfg):g})", fix=f"lower --lr; {kept_checkpoint()}")
        state = {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                 "reader": reader.state_dict(), "step": step, "config": dataclasses.asdict(cfg),
                 "model_config": dataclasses.asdict(model_cfg),
                 "tokenizer_sha256": reader.manifest.tokenizer.sha256}
        tmp = ckpt_path + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, ckpt_path)  # atomic: a crash mid-save leaves the previous checkpoint intact

    def kept_checkpoint() -> str:
        return f"{ckpt_path} was not overwritten" if os.path.exists(ckpt_path) else "no checkpoint was written"

    batches = iter(reader)
    model.train()
    while step < cfg.max_steps:
        t0 = time.perf_counter()
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)
        for micro in range(accum):
            batch = next(batches).to(device)
            if ddp:  # all-reduce gradients only on the last micro-batch
                model.require_backward_grad_sync = micro == accum - 1
            with autocast:
                _, loss = model(batch.x, batch.y, loss_mask=batch.loss_mask, doc_ids=batch.doc_ids,
                                positions=batch.positions)
            loss = loss / accum  # mean over micro-batches, so the gradient scale ignores accumulation
            loss.backward()
            loss_sum += loss.detach()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ddp:
            import torch.distributed as dist

            dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)
        step_loss = loss_sum.item()  # syncs with the device: dt below is the true step time
        dt = time.perf_counter() - t0
        if not math.isfinite(step_loss):  # stop before NaN reaches the log (invalid JSON) or the checkpoint
            batches.close()
            raise WinnowError(f"the loss became {step_loss} at step {step + 1} (learning rate {lr:g})",
                              fix=f"lower --lr; {kept_checkpoint()}")
        losses.append(step_loss)
        step += 1
        interval_steps, interval_seconds = interval_steps + 1, interval_seconds + dt
        if master and (step % cfg.log_interval == 0 or step == 1 or step == cfg.max_steps):
            tps = tokens_per_step * interval_steps / interval_seconds
            mfu = flops_per_token * tps / (peak * world_size) if peak else None
            interval_loss = sum(losses[-interval_steps:]) / interval_steps
            record = {"step": step, "loss": round(step_loss, 6), "loss_avg": round(interval_loss, 6), "lr": lr,
                      "tokens_per_s": round(tps, 1),
                      "mfu": None if mfu is None else round(mfu, 4)}
            records.append(record)
            _log(record, log_path)
            interval_steps, interval_seconds = 0, 0.0
        if master and cfg.ckpt_interval and step % cfg.ckpt_interval == 0:
            save_checkpoint()
    batches.close()  # stops the prefetch thread
    if master and cfg.save_checkpoint:
        save_checkpoint()
    if ddp:
        import torch.distributed as dist

        dist.destroy_process_group()
    return {"losses": losses, "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None, "steps": step, "steps_run": len(losses),
            "out_dir": out_dir, "log": log_path, "checkpoint": ckpt_path,
            "params": raw_model.num_params(), "device": str(device), "records": records,
            "flops_per_token": flops_per_token, "peak_flops": peak, "checksums": reader.checksums}


def main(argv: Optional[List[str]] = None) -> int:
    """`winnow train`: a problem with the shards, the tokenizer or --out is one line and exit status 2."""
    return report_errors("train", lambda: _main(argv), exit_code=2)


def _main(argv: Optional[List[str]]) -> int:
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in dict(
        shards=args.shards, tokenizer=args.tokenizer, device=args.device, max_steps=args.max_steps,
        out_dir=args.out, batch_size=args.batch_size, grad_accum_steps=args.grad_accum, lr=args.lr,
        seed=args.seed, compile=args.compile or None, resume=args.resume or None,
        log_interval=args.log_interval, document_masking=args.doc_mask or None,
        attention=args.attention, verify_checksums=args.verify_checksums).items() if v is not None}
    result = train(TrainConfig.from_preset(args.preset, **overrides))
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print(json.dumps({k: result[k] for k in ("steps", "first_loss", "final_loss", "out_dir", "log")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
