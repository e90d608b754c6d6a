"""Tokenizer training: time and peak memory of `winnow tokenizer train` (two streamed passes over a documents
Parquet: sample plan, then the kept texts fed to the trainer; writes tokenizer.json, meta, HF config) against
raw HF tokenizers on the same sample (the texts read into a Python list, then `train_from_iterator` with the same
pre-tokenizer, trainer and byte alphabet), side by side, each in a fresh subprocess (peak RSS = its ru_maxrss).
Samples of 10, 50 and 100 MB; vocabulary 8192. The corpus: Project Gutenberg books and Linguist code samples
(../shared/data), grown past their ~20 MB by repeating them with letters rotated per copy (a Caesar shift), so
every copy brings new distinct words as real text would: a pessimistic model of vocabulary growth (real text
grows its distinct words sublinearly), so the memory figures are upper-bound-ish for prose."""
from __future__ import annotations

import gzip
import json
import os
import statistics
import string
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("WINNOW_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
VOCAB = 8192
DOC_CHARS = 5000
SIZES_MB = (10, 50, 100)
REPEATS = {10: 2, 50: 2, 100: 1}

WINNOW = """
import json, sys, tempfile, time
sys.path.insert(0, {root!r})
from benchmarks.harness import peak_rss_mb
from tokenizer.train import train_tokenizer
t = time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    meta = train_tokenizer({path!r}, {vocab}, out, max_chars=2_000_000_000)
print(json.dumps({{"seconds": time.perf_counter() - t, "rss_mb": peak_rss_mb(),
                  "sha256": meta["sha256"], "chars": meta["sample"]["chars"], "dup": meta["duplicate_merge_tokens"]}}))
"""

RAW = """
import hashlib, json, sys, time
sys.path.insert(0, {root!r})
from benchmarks.harness import peak_rss_mb
import pyarrow.parquet as pq
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from tokenizer.train import WINNOW_SPLIT_PATTERN
t = time.perf_counter()
texts = [x[:10_000] for x in pq.read_table({path!r}, columns=["text"]).column("text").to_pylist() if x]
read = time.perf_counter() - t
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(WINNOW_SPLIT_PATTERN), behavior="isolated"),
                                             pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size={vocab}, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              special_tokens=["<|endoftext|>", "<|pad|>"], show_progress=False)
tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
print(json.dumps({{"seconds": time.perf_counter() - t, "read_seconds": read,
                  "rss_mb": peak_rss_mb(),
                  "sha256": hashlib.sha256(tok.to_str().encode()).hexdigest()}}))
"""


def base_texts():
    texts = []
    gut = os.path.join(DATA, "text", "gutenberg")
    for name in sorted(os.listdir(gut)):
        if name.startswith("pg"):
            with open(os.path.join(gut, name), encoding="utf-8") as f:
                texts.append(f.read())
    with gzip.open(os.path.join(DATA, "code", "linguist_samples_dev.jsonl.gz"), "rt", encoding="utf-8") as f:
        texts += [r["content"] for r in map(json.loads, f) if r["encoding"] == "utf-8"]
    return texts


def rotated(text: str, k: int) -> str:
    if k == 0:
        return text
    lo, up = string.ascii_lowercase, string.ascii_uppercase
    return text.translate(str.maketrans(lo + up, lo[k:] + lo[:k] + up[k:] + up[:k]))


def write_corpus(path: str, mb: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import DOCUMENTS_SCHEMA, empty_document

    target, chars, rows, k = mb * 1_000_000, 0, [], 0
    base = base_texts()
    writer = pq.ParquetWriter(path, DOCUMENTS_SCHEMA, compression="zstd")
    while chars < target:
        for ti, text in enumerate(base):
            text = rotated(text, k % 26) if k < 26 else rotated(text, k % 26).swapcase()
            for i in range(0, len(text), DOC_CHARS):
                piece = text[i:i + DOC_CHARS][:target - chars]
                if not piece:
                    break
                rows.append(empty_document(f"r{k}-t{ti}-{i}", "mix", piece))
                chars += len(piece)
            if len(rows) >= 2000 or chars >= target:
                writer.write_table(pa.Table.from_pylist(rows, schema=DOCUMENTS_SCHEMA))
                rows = []
            if chars >= target:
                break
        k += 1
    if rows:
        writer.write_table(pa.Table.from_pylist(rows, schema=DOCUMENTS_SCHEMA))
    writer.close()
    return chars


def _child(code: str) -> dict:
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def run() -> str:
    lines = ["| sample MB | chars | repeat | Winnow s | raw HF s (read + train) | time ratio | Winnow peak RSS MB | "
             "raw HF peak RSS MB | RSS ratio | same tokenizer.json | duplicate-merge tokens |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = []
    with tempfile.TemporaryDirectory(prefix="winnow-bench-toktrain-") as tmp:
        for mb in SIZES_MB:
            path = os.path.join(tmp, f"corpus-{mb}.parquet")
            chars = write_corpus(path, mb)
            t_ratios, m_ratios = [], []
            for r in range(REPEATS[mb]):
                fmt = dict(root=ROOT, path=path, vocab=VOCAB)
                ours = _child(WINNOW.format(**fmt))
                raw = _child(RAW.format(**fmt))
                t_ratios.append(ours["seconds"] / raw["seconds"])
                m_ratios.append(ours["rss_mb"] / raw["rss_mb"])
                lines.append(f"| {mb} | {chars:,} | {r + 1} | {ours['seconds']:.1f} | {raw['seconds']:.1f} "
                             f"({raw['read_seconds']:.1f} + {raw['seconds'] - raw['read_seconds']:.1f}) | "
                             f"{t_ratios[-1]:.3f} | {ours['rss_mb']:.0f} | {raw['rss_mb']:.0f} | {m_ratios[-1]:.3f} | "
                             f"{ours['sha256'] == raw['sha256']} | {ours['dup']} |")
                print(lines[-1], flush=True)
            summary.append(f"{mb} MB: time ratio min {min(t_ratios):.3f} median {statistics.median(t_ratios):.3f}, "
                           f"peak RSS ratio min {min(m_ratios):.3f} median {statistics.median(m_ratios):.3f}")
            os.remove(path)
    return "\n".join(lines) + "\n\nWinnow / raw HF: " + "; ".join(summary) + "."
