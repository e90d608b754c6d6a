"""A small GPT (decoder-only transformer) in the nanoGPT/nanochat mould.

Pre-norm blocks of RMSNorm -> causal self-attention with rotary position embeddings (RoPE) -> RMSNorm ->
MLP (4x, GELU). Attention goes through `F.scaled_dot_product_attention`, which picks flash/memory-efficient
kernels on GPU and a plain math kernel on CPU. RoPE instead of learned positions: no position table to size,
and it extrapolates a little past the training length. No biases anywhere (they add parameters, not quality).
The loss takes a mask from the caller so that targets inside a packed row's padding do not train the model.

Document masking (optional): given per-token document ids and in-document positions of a packed row, a token
attends only to earlier tokens of its own document and RoPE restarts at every document start, so a packed
row trains exactly like its documents would one by one. Two kernels give the same result:
- "flex": FlexAttention (`torch.nn.attention.flex_attention`) with a BlockMask built once per forward from
  the (B, T) document ids; blocks that lie wholly across documents are skipped, so the cost falls with the
  documents' length. It needs compilation to be fast (the whole model under --compile, or the attention op
  alone otherwise) and, in torch 2.13, has no backward on CPU.
- "dense": SDPA with an explicit (B, 1, T, T) boolean mask: B * T^2 bytes and no flash kernel, but it runs
  everywhere, which makes it the CPU path and the reference the flex path is tested against.
"auto" (the default) takes flex on CUDA and dense elsewhere. Every mask input is (B, T) whatever the number
of documents, so torch.compile sees one shape and compiles once.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclasses.dataclass
class GPTConfig:
    vocab_size: int = 50304
    seq_len: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    tie_embeddings: bool = True  # GPT-2 ties them; saves vocab_size * n_embd parameters (38M at 124M scale)
    rope_base: float = 10000.0
    init_std: float = 0.02  # GPT-2's initialisation
    attention: str = "auto"  # document-masking kernel: "auto", "flex" or "dense" (see the module docstring)


class RMSNorm(nn.Module):
    """Scale-only normalisation: cheaper than LayerNorm and as good in practice (LLaMA, nanochat)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32: bf16 sums of squares lose too much precision at n_embd=768.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).type_as(x)


def rope_tables(seq_len: int, head_dim: int, base: float, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables of shape (seq_len, head_dim/2) for the rotate-half form of RoPE."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, T, D); cos, sin: (T, D/2) or (B, 1, T, D/2). Rotates pairs (x[..., :D/2], x[..., D/2:]) by
    position-dependent angles."""
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


_compiled_flex = None


def _flex_attention(device: torch.device):
    """flex_attention; on CUDA outside a compiled region, compiled once per process (eager flex materialises
    the full score matrix, the compiled one is a fused kernel). On CPU flex serves only forward checks
    (no backward there in torch 2.13), so it stays eager rather than pay a minute of compilation."""
    global _compiled_flex
    from torch.nn.attention.flex_attention import flex_attention

    if torch.compiler.is_compiling() or device.type != "cuda":
        return flex_attention
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex


def document_mask(doc_ids: torch.Tensor, kind: str):
    """The attention mask of causal attention inside documents, from (B, T) document ids.

    kind "dense": a (B, 1, T, T) bool tensor for SDPA (True = may attend). kind "flex": a BlockMask.
    """
    if kind == "dense":
        T = doc_ids.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
        return (causal & (doc_ids.unsqueeze(2) == doc_ids.unsqueeze(1))).unsqueeze(1)
    return document_block_mask(doc_ids)


@torch.compiler.disable
def document_block_mask(doc_ids: torch.Tensor):
    """FlexAttention BlockMask of causal attention inside documents.

    Built outside any compiled graph (a graph break under --compile), the way torchtitan builds its
    per-batch document masks: the compiled model then receives the BlockMask as an input of fixed shape
    (B, 1, T/128, ...) every step instead of tracing mask construction. On CUDA the construction itself is
    compiled (create_block_mask(_compile=True): milliseconds instead of a dense T x T evaluation).
    """
    from torch.nn.attention.flex_attention import create_block_mask

    B, T = doc_ids.shape

    def same_document_causal(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (doc_ids[b, q_idx] == doc_ids[b, kv_idx])

    return create_block_mask(same_document_causal, B, None, T, T, device=doc_ids.device,
                             _compile=doc_ids.is_cuda)


def attention_kind(cfg_attention: str, device: torch.device) -> str:
    if cfg_attention not in ("auto", "flex", "dense"):
        raise ValueError(f"attention must be auto, flex or dense, got {cfg_attention!r}")
    if cfg_attention == "auto":
        return "flex" if device.type == "cuda" else "dense"
    return cfg_attention


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask=None) -> torch.Tensor:
        """mask: None (plain causal), a (B, 1, T, T) bool tensor (SDPA) or a flex BlockMask."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif isinstance(mask, torch.Tensor):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            y = _flex_attention(q.device)(q, k, v, block_mask=mask)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm1, self.attn = RMSNorm(cfg.n_embd), CausalSelfAttention(cfg)
        self.norm2, self.mlp = RMSNorm(cfg.n_embd), MLP(cfg)

    def forward(self, x, cos, sin, mask=None):
        x = x + self.attn(self.norm1(x), cos, sin, mask)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_f = RMSNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        cos, sin = rope_tables(cfg.seq_len, cfg.n_embd // cfg.n_head, cfg.rope_base)
        # Buffers (not parameters) so .to(device) moves them; not persistent: recomputed, never checkpointed.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2: scale residual output projections by 1/sqrt(2*n_layer) so the residual stream's variance
        # does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def _init_weights(self, m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=self.config.init_std)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights are counted once by parameters()

    def forward(self, idx: torch.Tensor, targets: Optional[torch.Tensor] = None,
                loss_mask: Optional[torch.Tensor] = None, doc_ids: Optional[torch.Tensor] = None,
                positions: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """idx, targets: (B, T) int64; loss_mask: (B, T) bool, True where the target counts.
        doc_ids, positions: (B, T) ints for document masking (attention inside each document, RoPE
        positions restarting at each document), or None for plain causal attention over the row.

        Returns (logits (B, T, vocab), mean cross-entropy over counted targets or None without targets).
        """
        T = idx.shape[1]
        if T > self.config.seq_len:
            raise ValueError(f"sequence length {T} exceeds the model's seq_len {self.config.seq_len}")
        if positions is None:
            cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        else:  # (B, 1, T, D/2): one angle per token, broadcast over heads
            cos, sin = self.rope_cos[positions].unsqueeze(1), self.rope_sin[positions].unsqueeze(1)
        mask = None
        if doc_ids is not None:  # built once per forward, shared by every layer
            mask = document_mask(doc_ids, attention_kind(self.config.attention, idx.device))
        x = self.wte(idx)
        for block in self.blocks:
            x = block(x, cos, sin, mask)
        logits = self.lm_head(self.norm_f(x))
        if targets is None:
            return logits, None
        # Cross-entropy in float32 even under bf16 autocast: the softmax over 50k classes needs the range.
        per_token = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1),
                                    reduction="none")
        if loss_mask is None:
            return logits, per_token.mean()
        mask = loss_mask.reshape(-1).to(per_token.dtype)
        # clamp: a batch made only of padding gives loss 0 instead of NaN.
        return logits, (per_token * mask).sum() / mask.sum().clamp(min=1.0)

    def estimate_flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward = 3x forward), PaLM appendix B / nanoGPT.

        6 * N for the matmuls over the non-embedding parameters (the input embedding is a lookup, the tied
        head is a matmul and counts), plus 12 * L * T * C for attention scores and their weighted sums.
        """
        cfg = self.config
        n = self.num_params()
        if not cfg.tie_embeddings:
            n -= self.wte.weight.numel()
        return 6.0 * n + 12.0 * cfg.n_layer * cfg.seq_len * cfg.n_embd

    def configure_optimizer(self, lr: float, weight_decay: float, betas: Tuple[float, float],
                            fused: bool) -> torch.optim.AdamW:
        """AdamW that decays only matrices (>= 2-D); norms' gains are not decayed (nanoGPT)."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)
