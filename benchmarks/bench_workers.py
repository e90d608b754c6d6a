"""Local parallelism: `--workers 1` against `--workers 2` (the FnApiRunner's multi-process mode, N SDK worker
processes) for the curate and tokenize jobs on this machine. Peer: the same job with 1 worker.

curate: the default recipe over the web-crawl archives of ../shared/data/warc (web_crawls/* and the Common Crawl
excerpt; 7.3 MB of compressed WARC/ARC). tokenize: 16 Project Gutenberg books cut into ~8 KB documents, a
4096-token BPE trained once, seq_len 1024. Each setting runs `REPEATS` times (alternating 1 and 2 workers);
the tokenize shards and manifest of every run are hashed and must be byte-identical across worker counts.
Throughput per core (records/s and compressed input MB/s of the whole curate job with 1 worker, and the read
stage's own records) is the figure the README's Dataflow cost estimate is derived from.
"""
from __future__ import annotations

import glob
import hashlib
import os
import statistics
import tempfile
import time

REPEATS = 3
SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")


def _curate_inputs():
    return sorted(glob.glob(os.path.join(SHARED, "warc", "web_crawls", "*"))) + \
        [os.path.join(SHARED, "warc", "common_crawl", "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz")]


def _run_curate(inputs, workers: int):
    from pipelines.curate import run_curate

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = run_curate(inputs, out, workers=workers)
        return time.perf_counter() - start, report


def _tokenize_corpus(root: str) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import DOCUMENTS_SCHEMA, empty_document
    from tokenizer.train import train_tokenizer

    docs = []
    for path in sorted(glob.glob(os.path.join(SHARED, "text", "gutenberg", "pg*.txt"))):
        text = open(path, encoding="utf-8").read()
        name = os.path.basename(path).split("__")[0]
        for i in range(0, len(text), 8000):
            docs.append(empty_document(f"{name}-{i // 8000:05d}", "books", text[i:i + 8000]))
    os.makedirs(os.path.join(root, "documents"))
    for part in range(4):
        pq.write_table(pa.Table.from_pylist(docs[part::4], schema=DOCUMENTS_SCHEMA),
                       os.path.join(root, "documents", f"part-{part:05d}.parquet"), compression="zstd")
    train_tokenizer(root, vocab_size=4096, output_dir=os.path.join(root, "tokenizer"), seed=0)
    return root


def _run_tokenize(root: str, workers: int):
    from pipelines.tokenize import run_tokenize_job

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_tokenize_job(root, os.path.join(root, "tokenizer"), out, 1024, workers=workers, shard_mb=4)
        seconds = time.perf_counter() - start
        digest = hashlib.sha256()
        for path in sorted(os.listdir(out)):
            with open(os.path.join(out, path), "rb") as f:
                digest.update(path.encode() + b"\0" + f.read())
        return seconds, result.manifest, digest.hexdigest()


def _ratio_line(name: str, one, two) -> str:
    ratios = [a / b for a in one for b in two]
    return (f"{name}: 1 worker min {min(one):.1f} s, median {statistics.median(one):.1f} s; 2 workers min "
            f"{min(two):.1f} s, median {statistics.median(two):.1f} s; speed-up (1-worker time / 2-worker time, "
            f"every pair) min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, "
            f"min/min {min(one) / min(two):.2f}x.")


def run() -> str:
    from pipelines.options import quiet_beam_logging

    quiet_beam_logging()
    inputs = _curate_inputs()
    input_mb = sum(os.path.getsize(p) for p in inputs) / 1e6
    rows = ["| job | workers | repeat | seconds | records in (read) | documents out | check |", "|---|---|---|---|---|---|---|"]
    times = {("curate", 1): [], ("curate", 2): [], ("tokenize", 1): [], ("tokenize", 2): []}
    read_in = docs_out = 0
    for repeat in range(1, REPEATS + 1):
        for workers in (1, 2):
            seconds, report = _run_curate(inputs, workers)
            read_in, docs_out = report.stages[0].in_, report.outputs["documents"]
            times[("curate", workers)].append(seconds)
            rows.append(f"| curate | {workers} | {repeat} | {seconds:.1f} | {read_in} | {docs_out} | |")
    digests = set()
    with tempfile.TemporaryDirectory() as root:
        _tokenize_corpus(root)
        for repeat in range(1, REPEATS + 1):
            for workers in (1, 2):
                seconds, manifest, digest = _run_tokenize(root, workers)
                digests.add(digest)
                times[("tokenize", workers)].append(seconds)
                rows.append(f"| tokenize | {workers} | {repeat} | {seconds:.1f} | {manifest.totals.documents} | "
                            f"{manifest.totals.sequences} rows, {manifest.totals.non_pad_tokens:,} tokens | "
                            f"sha256 {digest[:12]} |")
    one = min(times[("curate", 1)])
    lines = ["\n".join(rows), "",
             _ratio_line("curate", times[("curate", 1)], times[("curate", 2)]) + "  ",
             _ratio_line("tokenize", times[("tokenize", 1)], times[("tokenize", 2)]) + "  ",
             f"tokenize outputs byte-identical across all {2 * REPEATS} runs and both worker counts: "
             f"{'yes' if len(digests) == 1 else 'NO (' + str(len(digests)) + ' distinct)'}.  ",
             f"curate throughput, 1 worker (one core), best run: {read_in / one:.1f} input records/s, "
             f"{input_mb / one:.3f} MB/s of compressed WARC/ARC ({input_mb:.1f} MB, {read_in} records, "
             f"{docs_out} documents kept); includes job start-up (~2-3 s on this machine)."]
    return "\n".join(lines)
