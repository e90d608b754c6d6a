"""Local parallelism: `--workers 1` (the in-process runner) against `--workers 2` (two SDK worker processes,
forked from the driver by pipelines.runtime.local_runner) for the curate and tokenize jobs on this machine. Peer: the
same job with 1 worker.

curate: the default recipe over the web-crawl archives of ../shared/data/warc (web_crawls/* and the Common Crawl
excerpt; 7.3 MB of compressed WARC/ARC). tokenize: 16 Project Gutenberg books cut into ~8 KB documents, each
document `TOKENIZE_COPIES` times under distinct ids (60 MB of text in 4 Parquet files with row groups of ~8 MiB of
text, as curate writes them; 18.7M tokens: a job of ~8 s, where a single copy's 3 s job is mostly start-up), a
4096-token BPE trained once, seq_len 1024. Each
worker encodes on the threads `pipelines.runtime.options.threads_per_worker` gives it (2 with 1 worker, 1 each with 2);
a third run per repeat, 1 worker held to 1 encode thread, separates what the second process adds from what
the default single worker already gets from a second encode thread. One untimed warm-up run of each job first (imports, models), then
each job runs `CURATE_REPEATS` / `TOKENIZE_REPEATS` pairs, in the order 1-2, 2-1, 1-2, ... so that drift in the
machine's load favours neither. Checks: the tokenize shards and manifest of every run are hashed and must be
byte-identical; curate's documents, rejected and error rows (all columns, sorted by id) are hashed and must be
equal across runs and worker counts. `cores` is a probe run just before each pair: two processes spinning
against one (2 x t1 / t2), i.e. how many cores this session could get at that moment -- the machine is shared
and the kernel's autogroup scheduler shares CPU fairly between sessions, so while other sessions are busy a
second worker has no second core to run on, whatever the runner does.
Throughput per core (records/s and compressed input MB/s of the whole curate job with 1 worker, and the read
stage's own records) is the figure the README's Dataflow cost estimate is derived from.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import statistics
import tempfile
import time

CURATE_REPEATS = 3
TOKENIZE_REPEATS = 5
TOKENIZE_COPIES = 4
SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")


def _curate_inputs():
    return sorted(glob.glob(os.path.join(SHARED, "warc", "web_crawls", "*"))) + \
        [os.path.join(SHARED, "warc", "common_crawl", "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz")]


def _table_digest(paths) -> str:
    import pyarrow.parquet as pq

    rows = sorted(json.dumps(r, sort_keys=True, default=str) for p in paths for r in pq.read_table(p).to_pylist())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _curate_digest(out: str) -> str:
    """The curate outputs as content (part files are named and split by bundle, so they are not compared)."""
    digest = hashlib.sha256()
    for table in ("documents", "rejected", "errors"):
        digest.update(table.encode() + _table_digest(sorted(glob.glob(os.path.join(out, table, "*.parquet")))).encode())
    return digest.hexdigest()


def _run_curate(inputs, workers: int):
    from pipelines.jobs.curate import run_curate

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = run_curate(inputs, out, workers=workers)
        seconds = time.perf_counter() - start
        return seconds, report, _curate_digest(out)


def _tokenize_corpus(root: str) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.jobs.curate import ROW_GROUP_BYTES
    from schemas import DOCUMENTS_SCHEMA, empty_document
    from tokenizer.train import train_tokenizer

    docs = []
    for path in sorted(glob.glob(os.path.join(SHARED, "text", "gutenberg", "pg*.txt"))):
        text = open(path, encoding="utf-8").read()
        name = os.path.basename(path).split("__")[0]
        for copy in range(TOKENIZE_COPIES):
            for i in range(0, len(text), 8000):
                docs.append(empty_document(f"{name}-{copy}-{i // 8000:05d}", "books", text[i:i + 8000]))
    os.makedirs(os.path.join(root, "documents"))
    for part in range(4):  # row groups of ~ROW_GROUP_BYTES of text, as curate writes them
        pq.write_table(pa.Table.from_pylist(docs[part::4], schema=DOCUMENTS_SCHEMA),
                       os.path.join(root, "documents", f"part-{part:05d}.parquet"), compression="zstd",
                       row_group_size=ROW_GROUP_BYTES // 8000)
    train_tokenizer(root, vocab_size=4096, output_dir=os.path.join(root, "tokenizer"), seed=0)
    return root


def _run_tokenize(root: str, workers: int, encode_threads=None):
    from pipelines.jobs.tokenize import run_tokenize_job

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_tokenize_job(root, os.path.join(root, "tokenizer"), out, 1024, workers=workers, shard_mb=4,
                                  encode_threads=encode_threads)
        seconds = time.perf_counter() - start
        digest = hashlib.sha256()
        for path in sorted(os.listdir(out)):
            with open(os.path.join(out, path), "rb") as f:
                digest.update(path.encode() + b"\0" + f.read())
        return seconds, result.manifest, digest.hexdigest()


def _spin(seconds: float) -> float:
    """Busy-loop for `seconds` of this process's CPU time; returns the wall time it took."""
    start, cpu = time.perf_counter(), time.process_time()
    while time.process_time() - cpu < seconds:
        sum(range(10_000))
    return time.perf_counter() - start


def cores_probe(seconds: float = 0.5) -> float:
    """How many cores this session gets right now (1.0-2.0): one spinning process against two."""
    one = _spin(seconds)
    start = time.perf_counter()
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:  # the child only spins and leaves, touching nothing it inherited
            try:
                _spin(seconds)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    two = time.perf_counter() - start
    return max(1.0, min(2.0, 2 * one / two))


def _ratio_line(name: str, one, two) -> str:
    ratios = [a / b for a in one for b in two]
    return (f"{name}: 1 worker min {min(one):.1f} s, median {statistics.median(one):.1f} s; 2 workers min "
            f"{min(two):.1f} s, median {statistics.median(two):.1f} s; speed-up (1-worker time / 2-worker time, "
            f"every pair) min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, "
            f"min/min {min(one) / min(two):.2f}x.")


def _order(repeat: int):
    return (1, 2) if repeat % 2 else (2, 1)


def run() -> str:
    from pipelines.runtime.options import quiet_beam_logging

    quiet_beam_logging()
    inputs = _curate_inputs()
    input_mb = sum(os.path.getsize(p) for p in inputs) / 1e6
    rows = ["| job | workers | repeat | cores (probe) | seconds | records in (read) | documents out | check |",
            "|---|---|---|---|---|---|---|---|"]
    times = {("curate", 1): [], ("curate", 2): [], ("tokenize", 1): [], ("tokenize", 2): [], ("tokenize", "1t1"): []}
    probes = []
    read_in = docs_out = 0
    curate_digests = set()
    _run_curate([p for p in inputs if p.endswith("issue-493.warc")] or inputs[:1], 1)  # warm-up: imports, models
    for repeat in range(1, CURATE_REPEATS + 1):
        cores = cores_probe()
        probes.append(cores)
        for workers in _order(repeat):
            seconds, report, digest = _run_curate(inputs, workers)
            curate_digests.add(digest)
            read_in, docs_out = report.stages[0].in_, report.outputs["documents"]
            times[("curate", workers)].append(seconds)
            rows.append(f"| curate | {workers} | {repeat} | {cores:.2f} | {seconds:.1f} | {read_in} | {docs_out} | "
                        f"sha256 {digest[:12]} |")
    digests = set()
    with tempfile.TemporaryDirectory() as root:
        _tokenize_corpus(root)
        _run_tokenize(root, 1)  # warm-up
        for repeat in range(1, TOKENIZE_REPEATS + 1):
            cores = cores_probe()
            probes.append(cores)
            for workers in _order(repeat) + ("1t1",):
                if workers == "1t1":
                    seconds, manifest, digest = _run_tokenize(root, 1, encode_threads=1)
                else:
                    seconds, manifest, digest = _run_tokenize(root, workers)
                digests.add(digest)
                times[("tokenize", workers)].append(seconds)
                label = "1 (1 encode thread)" if workers == "1t1" else workers
                rows.append(f"| tokenize | {label} | {repeat} | {cores:.2f} | {seconds:.1f} | "
                            f"{manifest.totals.documents} | {manifest.totals.sequences} rows, "
                            f"{manifest.totals.non_pad_tokens:,} tokens | sha256 {digest[:12]} |")
    one = min(times[("curate", 1)])
    lines = ["\n".join(rows), "",
             _ratio_line("curate", times[("curate", 1)], times[("curate", 2)]) + "  ",
             _ratio_line("tokenize", times[("tokenize", 1)], times[("tokenize", 2)]) + "  ",
             _ratio_line("tokenize, both sides 1 encode thread per worker", times[("tokenize", "1t1")],
                         times[("tokenize", 2)]) + "  ",
             f"cores this session could get (probe before each pair): min {min(probes):.2f}, median "
             f"{statistics.median(probes):.2f}, max {max(probes):.2f}.  ",
             f"curate outputs (documents, rejected, errors) equal across all {2 * CURATE_REPEATS} runs and both "
             f"worker counts: {'yes' if len(curate_digests) == 1 else 'NO (' + str(len(curate_digests)) + ' distinct)'}.  ",
             f"tokenize outputs byte-identical across all {3 * TOKENIZE_REPEATS} runs and both worker counts: "
             f"{'yes' if len(digests) == 1 else 'NO (' + str(len(digests)) + ' distinct)'}.  ",
             f"curate throughput, 1 worker (one core), best run: {read_in / one:.1f} input records/s, "
             f"{input_mb / one:.3f} MB/s of compressed WARC/ARC ({input_mb:.1f} MB, {read_in} records, "
             f"{docs_out} documents kept); includes job start-up (~2-3 s on this machine)."]
    return "\n".join(lines)
