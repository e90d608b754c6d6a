"""Shard reader throughput on CPU, one process: tokens/s that `training.data.ShardReader` delivers as int64
(x, y, loss_mask) batch tensors from local shards, Parquet (zstd, row groups of 1024 rows, as `winnow tokenize`
writes) side by side with Arrow IPC (uncompressed, record batches of 1024, memory-mapped zero-copy), with and
without document masking (doc_ids/positions), against the named peer: nanoGPT's loader idiom (`np.memmap`
of a flat uint16 .bin, one (B, T + 1) window per row, `.astype(np.int64)` -> `torch.from_numpy`) over the
same tokens in the same shuffled row order. Synthetic corpus: 8,192 rows of 1,025 tokens (8.4M tokens),
ids drawn from a Zipf(1.2) law over a 50,304-token vocabulary (a token-frequency-like distribution, so zstd
sees realistic entropy), documents of log-normal length (median ~300 tokens) packed into rows; batch 16
x 1,024; no pinning (no GPU here), no prefetch thread (it would hide, not remove, the work). One full epoch
per measurement, 3 repeats; target >= 2 million tokens/s."""
from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time

import numpy as np

from schemas import MANIFEST_NAME, Manifest, PackingStats, ShardInfo, SourceTotals, TokenizerInfo, Totals
from schemas.shard_files import encode_shard, shard_table

SEQ_LEN, VOCAB, ROWS, ROWS_PER_SHARD, GROUP, BATCH = 1024, 50304, 8192, 2048, 1024, 16


def synthetic_rows(rows: int = ROWS, seed: int = 0):
    """(tokens (rows, SEQ_LEN + 1) uint16, doc_lengths per row)."""
    rng = np.random.default_rng(seed)
    tokens = (rng.zipf(1.2, size=(rows, SEQ_LEN + 1)) % VOCAB).astype(np.uint16)
    lengths = []
    for _ in range(rows):
        row, left = [], SEQ_LEN + 1
        while left > 0:
            n = int(min(left, max(1, rng.lognormal(np.log(300), 1.0))))
            row.append(n)
            left -= n
        lengths.append(row)
    return tokens, lengths


def write_shards(out: str, tokens: np.ndarray, lengths, file_format: str) -> str:
    os.makedirs(out, exist_ok=True)
    infos = []
    for s in range(0, len(tokens), ROWS_PER_SHARD):
        chunk = tokens[s:s + ROWS_PER_SHARD]
        # the writer `winnow tokenize` uses, so the reader is measured on the files it will meet
        data = encode_shard(shard_table(chunk, lengths[s:s + ROWS_PER_SHARD], SEQ_LEN, "uint16"), file_format, GROUP)
        name = f"shard-{s // ROWS_PER_SHARD:05d}.{file_format}"
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        infos.append(ShardInfo(path=name, sequences=len(chunk), tokens=chunk.size, bytes=len(data),
                               sha256=hashlib.sha256(data).hexdigest()))
    manifest = Manifest(seq_len=SEQ_LEN, dtype="uint16",
                        tokenizer=TokenizerInfo(sha256="0" * 64, vocab_size=VOCAB,
                                                special_ids={"<|endoftext|>": VOCAB - 2, "<|pad|>": VOCAB - 1}),
                        packing=PackingStats(method="best-fit", pad_fraction=0.0, truncated_fraction=0.0),
                        totals=Totals(documents=sum(map(len, lengths)), sequences=len(tokens), tokens=tokens.size,
                                      non_pad_tokens=tokens.size),
                        sources={"synthetic": SourceTotals(documents=sum(map(len, lengths)), tokens=tokens.size)},
                        shards=infos, file_format=file_format)
    with open(os.path.join(out, MANIFEST_NAME), "w") as f:
        f.write(manifest.dumps())
    return out


def winnow_epoch(shards: str, document_masking: bool) -> float:
    """Seconds for one epoch of batches, reader construction (manifest, footers) included."""
    from training.data import ShardReader

    start = time.perf_counter()
    reader = ShardReader(shards, BATCH, seed=1, pin_memory=False, document_masking=document_masking)
    it = iter(reader)
    for _ in range(reader.batches_per_epoch):
        next(it)
    it.close()
    return time.perf_counter() - start


def nanogpt_memmap_epoch(bin_path: str, order: np.ndarray) -> float:
    """nanoGPT's get_batch idiom over the same rows: memmap, window per row, astype(int64), from_numpy."""
    import torch

    start = time.perf_counter()
    data = np.memmap(bin_path, dtype=np.uint16, mode="r")
    row_len = SEQ_LEN + 1
    for b in range(len(order) // BATCH):
        ix = order[b * BATCH:(b + 1) * BATCH]
        x = torch.stack([torch.from_numpy(data[i * row_len:i * row_len + SEQ_LEN].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i * row_len + 1:(i + 1) * row_len].astype(np.int64)) for i in ix])
        del x, y
    return time.perf_counter() - start


def run(repeats: int = 3) -> str:
    import torch

    torch.set_num_threads(1)
    tokens, lengths = synthetic_rows()
    epoch_tokens = (ROWS // BATCH) * BATCH * SEQ_LEN  # input tokens delivered per epoch
    with tempfile.TemporaryDirectory(prefix="winnow-bench-reader-") as tmp:
        parquet = write_shards(os.path.join(tmp, "parquet"), tokens, lengths, "parquet")
        arrow = write_shards(os.path.join(tmp, "arrow"), tokens, lengths, "arrow")
        bin_path = os.path.join(tmp, "tokens.bin")
        tokens.tofile(bin_path)
        order = np.random.default_rng(1).permutation(ROWS)
        sizes = {name: sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f != MANIFEST_NAME)
                 for name, d in (("parquet", parquet), ("arrow", arrow))}
        variants = {
            "Parquet": lambda: winnow_epoch(parquet, False),
            "Arrow (mmap)": lambda: winnow_epoch(arrow, False),
            "Parquet + doc masking": lambda: winnow_epoch(parquet, True),
            "Arrow (mmap) + doc masking": lambda: winnow_epoch(arrow, True),
            "peer: nanoGPT np.memmap .bin": lambda: nanogpt_memmap_epoch(bin_path, order),
        }
        seconds = {name: [] for name in variants}
        for _ in range(repeats):  # interleaved, so machine load hits every variant alike
            for name, fn in variants.items():
                seconds[name].append(fn())
    peer = seconds["peer: nanoGPT np.memmap .bin"]
    lines = [f"Files: Parquet {sizes['parquet'] / 2**20:.1f} MiB, Arrow {sizes['arrow'] / 2**20:.1f} MiB, "
             f"raw uint16 {tokens.nbytes / 2**20:.1f} MiB; {epoch_tokens:,} input tokens per epoch.", "",
             "| reader | tokens/s (best) | tokens/s (median) | speed / nanoGPT memmap (min, median) | "
             "speed / Parquet (min, median) |", "|---|---|---|---|---|"]
    for name, s in seconds.items():
        tps = [epoch_tokens / t for t in s]
        vs_peer = [p / t for p, t in zip(peer, s)]
        vs_parquet = [p / t for p, t in zip(seconds["Parquet"], s)]
        lines.append(f"| {name} | {max(tps) / 1e6:.1f}M | {statistics.median(tps) / 1e6:.1f}M | "
                     f"{min(vs_peer):.2f}x, {statistics.median(vs_peer):.2f}x | "
                     f"{min(vs_parquet):.2f}x, {statistics.median(vs_parquet):.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
