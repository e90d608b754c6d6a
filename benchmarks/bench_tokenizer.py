"""Tokenizer compression and encode speed: Winnow's byte-level BPE (its default `winnow` split, and GPT-4's own
cl100k split) against the plain HF GPT-2-style baseline (ByteLevel pre-tokenizer with GPT-2's regex), all trained
by `train_tokenizer` on the same sample with the same vocabulary size (4k, 8k, 16k, 32k). Training sample: 12 of
the 16 Project Gutenberg books (../shared/data/text/gutenberg, cut into 5,000-character documents) plus the
Linguist code samples whose path hashes to the training half (../shared/data/code). Held out: the other 4 books
(prose), 1,000 documents of the other half of the code samples (code), and number-heavy text (synthetic, seeded:
log lines, invoices, measurement tables, dates, phone numbers, decimals; nothing like it in the training sample).
Bytes per token = UTF-8 bytes / tokens (higher is better); ratio = tokenizer / baseline. Encode throughput on the
held-out prose and code (8k vocabulary): Winnow's TokenizerHandle.encode_batch (HF backend, and the tiktoken
backend built from the same vocabulary) against raw `tokenizers.Tokenizer.encode_batch`, same texts, interleaved
repeats; tiktoken's ids are checked identical to HF's."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import statistics
import tempfile
import time

from schemas import empty_document

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("WINNOW_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
VOCABS = (4096, 8192, 16384, 32768)
DOC_CHARS = 5000
REPEATS = 3


def _chunks(text: str):
    return [text[i:i + DOC_CHARS] for i in range(0, len(text), DOC_CHARS)]


def corpora():
    books = sorted(n for n in os.listdir(os.path.join(DATA, "text", "gutenberg")) if n.startswith("pg"))
    train, prose, code = [], [], []
    for i, name in enumerate(books):
        with open(os.path.join(DATA, "text", "gutenberg", name), encoding="utf-8") as f:
            docs = _chunks(f.read())
        (prose if i % 4 == 0 else train).extend(("prose", name, d) for d in docs)
    with gzip.open(os.path.join(DATA, "code", "linguist_samples_dev.jsonl.gz"), "rt", encoding="utf-8") as f:
        for rec in map(json.loads, f):
            if rec["encoding"] != "utf-8" or not rec["content"].strip():
                continue
            held = hashlib.blake2b(rec["path"].encode(), digest_size=8).digest()[0] % 2
            (code if held else train).extend(("code", rec["path"], d) for d in _chunks(rec["content"]))
    code.sort(key=lambda item: hashlib.blake2b(f"{item[1]}:{item[2][:50]}".encode(), digest_size=8).digest())
    return train, prose, code[:1000], number_text()


def number_text(n_docs: int = 300, seed: int = 7):
    rng = random.Random(seed)
    words = "order invoice total price qty item shipped received balance account temperature pressure reading".split()
    docs = []
    for d in range(n_docs):
        lines = []
        for _ in range(40):
            kind = rng.randrange(5)
            if kind == 0:
                lines.append(f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
                             f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} "
                             f"{rng.choice(words)} {rng.randint(1, 10 ** rng.randint(2, 9))}")
            elif kind == 1:
                lines.append(f"{rng.choice(words)} #{rng.randint(10000, 999999)}: {rng.randint(1, 500)} x "
                             f"${rng.randint(1, 99999) / 100:,.2f} = ${rng.randint(100, 99999999) / 100:,.2f}")
            elif kind == 2:
                lines.append(" | ".join(f"{rng.gauss(0, 10 ** rng.randint(0, 4)):.{rng.randint(1, 4)}f}" for _ in range(6)))
            elif kind == 3:
                lines.append(f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}")
            else:
                lines.append(f"{rng.choice(words)} {rng.randint(0, 10 ** 12)} ({rng.random() * 100:.1f}%)")
        docs.append(("numbers", f"n{d}", "\n".join(lines) + "\n"))
    return docs


def _docs(items):
    return [empty_document(f"{src}:{name}:{i}", src, text) for i, (src, name, text) in enumerate(items)]


def run() -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    from schemas import DOCUMENTS_SCHEMA
    from tokenizer.encode import load_tokenizer
    from tokenizer.evaluate import evaluate_documents
    from tokenizer.train import train_tokenizer

    train, prose, code, numbers = corpora()
    held = {"prose": _docs(prose), "code": _docs(code), "numbers": _docs(numbers)}
    rows = ["| vocab | set | Winnow B/token | cl100k split B/token | GPT-2 baseline B/token | Winnow / baseline "
            "| cl100k / baseline | whole-word share (Winnow / cl100k / baseline) | vocab use (Winnow / cl100k / baseline) |",
            "|---|---|---|---|---|---|---|---|---|"]
    speed_lines = []
    with tempfile.TemporaryDirectory(prefix="winnow-bench-tok-") as tmp:
        docs_path = os.path.join(tmp, "train.parquet")
        pq.write_table(pa.Table.from_pylist(_docs(train), schema=DOCUMENTS_SCHEMA), docs_path)
        sample_chars = sum(len(t) for _, _, t in train)
        for vocab in VOCABS:
            out, out_cl = os.path.join(tmp, f"tok{vocab}"), os.path.join(tmp, f"cl100k{vocab}")
            meta = train_tokenizer(docs_path, vocab, out, max_chars=100_000_000, max_doc_chars=DOC_CHARS, baseline=True)
            train_tokenizer(docs_path, vocab, out_cl, max_chars=100_000_000, max_doc_chars=DOC_CHARS, split="cl100k")
            toks = [load_tokenizer(out), load_tokenizer(out_cl), load_tokenizer(os.path.join(out, "baseline"))]
            for name, docs in held.items():
                w, c, b = (evaluate_documents(t, docs) for t in toks)
                rows.append(f"| {vocab} | {name} | {w['bytes_per_token']:.3f} | {c['bytes_per_token']:.3f} | "
                            f"{b['bytes_per_token']:.3f} | {w['bytes_per_token'] / b['bytes_per_token']:.4f} | "
                            f"{c['bytes_per_token'] / b['bytes_per_token']:.4f} | "
                            + " / ".join(f"{r['whole_word_share']:.3f}" for r in (w, c, b)) + " | "
                            + " / ".join(f"{r['vocab_utilisation']:.3f}" for r in (w, c, b)) + " |")
            print(rows[-3:], f"dup merges {meta['duplicate_merge_tokens']}", flush=True)
            if vocab == 8192:
                speed_lines = _encode_speed(out, [d["text"] for d in held["prose"] + held["code"]], Tokenizer)
    return (f"Training sample: {len(train):,} documents, {sample_chars:,} characters.\n\n" + "\n".join(rows) +
            "\n\n" + "\n".join(speed_lines))


def _encode_speed(tok_dir, texts, Tokenizer):
    from tokenizer.encode import load_tokenizer

    raw = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    ours = load_tokenizer(tok_dir)
    encoders = {"raw HF Tokenizer.encode_batch": lambda: [e.ids for e in raw.encode_batch(texts, add_special_tokens=False)],
                "Winnow TokenizerHandle (hf)": lambda: ours.encode_batch(texts)}
    try:
        fast = load_tokenizer(tok_dir, backend="tiktoken")
        encoders["Winnow TokenizerHandle (tiktoken)"] = lambda: fast.encode_batch(texts)
    except ImportError:
        fast = None
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    times = {k: [] for k in encoders}
    results = {}
    for _ in range(REPEATS):
        for name, fn in encoders.items():
            t = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t)
    ref = results["raw HF Tokenizer.encode_batch"]
    base = times["raw HF Tokenizer.encode_batch"]
    lines = [f"Encode throughput, {len(texts):,} held-out documents ({mb:.1f} MB), {REPEATS} interleaved repeats:", "",
             "| encoder | MB/s (median) | speed vs raw HF min | median | ids identical to raw HF |", "|---|---|---|---|---|"]
    for name, ts in times.items():
        ratios = [b / t for b, t in zip(base, ts)]
        lines.append(f"| {name} | {mb / statistics.median(ts):.2f} | {min(ratios):.2f}x | {statistics.median(ratios):.2f}x | "
                     f"{results[name] == ref} |")
    return lines
