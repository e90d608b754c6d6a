"""Document masking: attention stays inside each packed document and positions restart at each one.

The reference is the definition itself: an explicit dense boolean mask (token i may attend to token j iff
j <= i and both lie in the same document of the same row) through `F.scaled_dot_product_attention`, and a
model run on every document alone. The model's dense path and FlexAttention (forward only: torch 2.13 has
no flex backward on CPU) must agree with it, padding must never reach the loss, and the (B, T) mask inputs
must keep torch.compile from recompiling when the documents change.
"""
from __future__ import annotations

import warnings
from typing import List

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.data import document_layout, loss_mask_for
from training.model import GPT, GPTConfig, document_mask

torch.set_num_threads(1)  # see tests/test_training.py: two spinning threads are ~5x slower on a shared machine

T = 128
ROWS = [[40, 50, 38], [128], [10, 100], [1] * 20 + [60]]  # document lengths per row; rows 3 and 4 are padded


def layout(rows: List[List[int]], seq_len: int = T):
    lengths = np.concatenate([np.asarray(r, dtype=np.int32) for r in rows])
    offsets = np.cumsum([0] + [len(r) for r in rows])
    doc_ids, positions = document_layout(lengths, offsets, seq_len)
    return torch.from_numpy(doc_ids), torch.from_numpy(positions)


def explicit_mask(rows: List[List[int]], seq_len: int = T) -> torch.Tensor:
    """(B, 1, T, T) bool from the definition, with Python loops; padding is one more document."""
    mask = torch.zeros(len(rows), 1, seq_len, seq_len, dtype=torch.bool)
    for b, lengths in enumerate(rows):
        start = 0
        for n in list(lengths) + [max(0, seq_len - sum(lengths))]:
            end = min(start + n, seq_len)
            for i in range(start, end):
                mask[b, 0, i, start:i + 1] = True
            start = end
    return mask


def test_layout_ids_and_positions():
    doc_ids, positions = layout([[3, 2], [9], [4]], seq_len=8)
    assert doc_ids.shape == positions.shape == (3, 8) and doc_ids.dtype == torch.int32
    assert doc_ids.tolist() == [[0, 0, 0, 1, 1, 2, 2, 2], [0] * 8, [0, 0, 0, 0, 1, 1, 1, 1]]
    assert positions.tolist() == [[0, 1, 2, 0, 1, 0, 1, 2], list(range(8)), [0, 1, 2, 3, 0, 1, 2, 3]]
    # A row with more documents has the same shapes: nothing depends on the number of documents.
    assert layout([[1] * 8, [2, 2, 2, 2]], seq_len=8)[0].shape == (2, 8)


def test_dense_document_mask_equals_the_explicit_mask():
    doc_ids, _ = layout(ROWS)
    expected = explicit_mask(ROWS)
    assert torch.equal(document_mask(doc_ids, "dense"), expected)
    # Through SDPA: the model's mask and the explicit one give the same attention outputs, and these differ
    # from plain causal attention over the whole row (the mask changes something).
    torch.manual_seed(0)
    q, k, v = (torch.randn(len(ROWS), 2, T, 16) for _ in range(3))
    ours = F.scaled_dot_product_attention(q, k, v, attn_mask=document_mask(doc_ids, "dense"))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=expected)
    causal = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.equal(ours, ref)
    assert torch.allclose(ours[1], causal[1])  # row 2 is one document filling the row: plain causal
    assert not torch.allclose(ours[0, :, 40:], causal[0, :, 40:])  # later documents no longer see earlier ones
    assert torch.allclose(ours[0, :, :40], causal[0, :, :40])  # the first document is unaffected


def test_flex_attention_matches_the_explicit_mask_forward():
    doc_ids, _ = layout(ROWS)
    torch.manual_seed(1)
    q, k, v = (torch.randn(len(ROWS), 2, T, 16) for _ in range(3))
    from torch.nn.attention.flex_attention import flex_attention

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # "flex_attention called without torch.compile": intended on CPU
        out = flex_attention(q, k, v, block_mask=document_mask(doc_ids, "flex"))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=explicit_mask(ROWS))
    assert torch.allclose(out, ref, atol=1e-5), (out - ref).abs().max()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=97, seq_len=T, n_layer=2, n_head=2, n_embd=32)).eval()


def test_packed_row_equals_its_documents_run_alone(model):
    doc_ids, positions = layout(ROWS)
    idx = torch.randint(0, 97, (len(ROWS), T), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        packed, _ = model(idx, doc_ids=doc_ids, positions=positions)
        unmasked, _ = model(idx)
        for b, lengths in enumerate(ROWS):
            start = 0
            for n in lengths:
                alone, _ = model(idx[b:b + 1, start:start + n])
                assert torch.allclose(packed[b, start:start + n], alone[0], atol=1e-5), (b, start)
                start += n
        assert not torch.allclose(packed[0, 40:], unmasked[0, 40:], atol=1e-3)
        model.config.attention = "flex"  # the flex path of the whole model, forward, on CPU
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                flex, _ = model(idx, doc_ids=doc_ids, positions=positions)
        finally:
            model.config.attention = "auto"
    assert torch.allclose(flex, packed, atol=1e-5)


def test_gradients_stay_inside_documents_and_loss_skips_padding(model):
    """The loss of document 2 of a row has no gradient with respect to the embeddings of document 1."""
    rows = [[40, 50, 30]]  # 120 tokens + 9 pad (row of T + 1 = 129)
    doc_ids, positions = layout(rows)
    idx = torch.randint(0, 97, (1, T), generator=torch.Generator().manual_seed(3))
    model.train()
    emb = model.wte(idx).detach().requires_grad_(True)
    # Run the blocks on given embeddings (the model's forward minus the lookup) to read input gradients.
    cos, sin = model.rope_cos[positions].unsqueeze(1), model.rope_sin[positions].unsqueeze(1)
    x, mask = emb, document_mask(doc_ids, "dense")
    for block in model.blocks:
        x = block(x, cos, sin, mask)
    logits = model.lm_head(model.norm_f(x))
    logits[0, 40:90].sum().backward()  # outputs of document 2 only
    grad = emb.grad[0].abs().sum(-1)
    assert float(grad[:40].max()) == 0.0 and float(grad[40:90].min()) > 0 and float(grad[90:].max()) == 0.0
    model.eval()
    # Loss mask: real targets are positions j < 120 - 1; padding targets never count.
    lm = loss_mask_for(T, np.array([120]))
    targets = idx.roll(-1, 1)
    _, loss = model(idx, targets, loss_mask=lm, doc_ids=doc_ids, positions=positions)
    changed = targets.clone()
    changed[~lm] = 0
    _, loss_changed = model(idx, changed, loss_mask=lm, doc_ids=doc_ids, positions=positions)
    assert lm.sum() == 119 and torch.equal(loss, loss_changed)


def test_compiled_model_does_not_recompile_when_documents_change():
    """Dynamo's guards decide recompilation, so the eager backend checks it without inductor's cost."""
    import torch._dynamo

    torch._dynamo.reset()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=97, seq_len=T, n_layer=1, n_head=2, n_embd=32))
    compiled = torch.compile(model, backend="eager")
    layouts = [ROWS, [[5, 5, 5, 5, 100], [64, 64], [129], [3, 3]], [[1] * 50 + [78], [100], [3, 3], [128]]]
    try:
        for i, rows in enumerate(layouts):
            doc_ids, positions = layout(rows)
            idx = torch.randint(0, 97, (4, T))
            _, loss = compiled(idx, idx, doc_ids=doc_ids, positions=positions)
            loss.backward()
            torch._dynamo.config.error_on_recompile = True  # from the second layout on, any recompile fails
        # Control: a different shape does force a recompile, so the check above was live.
        with pytest.raises(Exception, match="(?i)recompil"):
            compiled(idx[:2, :64], idx[:2, :64], doc_ids=doc_ids[:2, :64], positions=positions[:2, :64])
    finally:
        torch._dynamo.config.error_on_recompile = False
        torch._dynamo.reset()
