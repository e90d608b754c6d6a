"""`winnow stats` on token shards of 1, 2 and 4 GB (on disk): throughput (MB of shard files per second) and peak
memory (peak RSS of a fresh process, minus its RSS after imports), against two peers computing the same figures
(token frequencies, non-pad tokens from `doc_lengths`, rows) in the same run: the naive whole-table approach
(`pyarrow.parquet.read_table` of every shard, then numpy) and streaming `pyarrow.dataset` scanning
(`to_batches` over the two columns). The shards are synthetic with the real schema (`schemas.shard_schema`,
seq_len 2048, uint16, skewed token ids, zstd, 1,024-row groups as `winnow tokenize` writes them) and a real
`Manifest`: four distinct ~256 MB files (1 GB) are written once and the 2 and 4 GB directories list them twice and
four times under other names (hard links), so every size is read from the page cache alike. The naive peer is
run at 1 GB only (its memory grows with the data and it is the slowest; its 1 GB row shows both).
Each cell: min and median over repeats; ratios are peer / winnow (time) and peer / winnow (memory)."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List

import numpy as np

from schemas.io import sha256_file

SEQ_LEN = 2048
VOCAB = 50_000
ROWS_PER_GROUP = 1024
TARGET_SHARD_BYTES = int(os.environ.get("WINNOW_BENCH_SHARD_MB", "256")) << 20
SIZES_GB = (1, 2, 4)
NAIVE_MAX_GB = 1
REPEATS = int(os.environ.get("WINNOW_BENCH_REPEATS", "2"))

CHILD = r"""
import json, sys, time
import numpy as np
import pyarrow.parquet as pq
import pyarrow.dataset as ds
from pipelines.tools.stats import flat_values, shards_stats
from benchmarks.harness import peak_rss_mb

def flat(column):  # zero-copy child values of a list column, as for winnow (to_numpy here is ~10x slower)
    return np.concatenate([flat_values(c) for c in column.chunks])

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

method, path = sys.argv[1], sys.argv[2]
import glob
files = sorted(glob.glob(path + "/*.parquet"))
base = rss_mb()
t = time.perf_counter()
if method == "winnow":
    s = shards_stats(path, progress=False)
    out = (s["files"]["sequences"], s["files"]["non_pad_tokens"], s["top_tokens"][0]["count"])
elif method == "naive":
    table = pq.read_table(files, columns=["tokens", "doc_lengths"])
    counts = np.bincount(flat(table.column("tokens")))
    non_pad = int(flat(table.column("doc_lengths")).sum())
    out = (table.num_rows, non_pad, int(np.sort(counts)[-2]))
else:
    counts = np.zeros(1 << 16, np.int64); rows = non_pad = 0
    for b in ds.dataset(files, format="parquet").to_batches(columns=["tokens", "doc_lengths"]):
        counts += np.bincount(flat_values(b.column(0)), minlength=1 << 16)
        non_pad += int(flat_values(b.column(1)).sum()); rows += b.num_rows
    out = (rows, non_pad, int(np.sort(counts)[-2]))
sec = time.perf_counter() - t
peak = peak_rss_mb()
print(json.dumps({"seconds": sec, "peak_mb": peak - base, "result": out}))
"""


def _write_shard(path: str, rng: np.random.Generator, pad_id: int) -> Dict[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import DOC_LENGTHS, TOKENS, shard_schema

    schema = shard_schema(SEQ_LEN, "uint16")
    row_len = SEQ_LEN + 1
    rows = non_pad = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        while True:
            n = ROWS_PER_GROUP
            ids = (rng.random(n * row_len) ** 4 * (VOCAB - 2)).astype(np.uint16) + 2  # skewed, like text
            seg_lengths, used = [], np.zeros(n, np.int64)
            for r in range(n):
                parts, left = [], row_len - int(rng.integers(0, 8))  # a few pad tokens per row
                while left > 0:
                    take = int(min(left, rng.integers(50, 3000)))
                    parts.append(take)
                    left -= take
                seg_lengths.append(parts)
                used[r] = sum(parts)
            grid = ids.reshape(n, row_len)
            grid[np.arange(row_len)[None, :] >= used[:, None]] = pad_id
            tokens = pa.FixedSizeListArray.from_arrays(pa.array(grid.ravel(), pa.uint16()), type=schema.field(TOKENS).type)
            table = pa.Table.from_arrays([tokens, pa.array(seg_lengths, type=schema.field(DOC_LENGTHS).type)], schema=schema)
            writer.write_table(table, row_group_size=ROWS_PER_GROUP)
            rows += n
            non_pad += int(used.sum())
            if os.path.getsize(path) >= TARGET_SHARD_BYTES:  # row groups reach the file as they are written
                break
    return {"rows": rows, "non_pad": non_pad}


def _make_dirs(root: str) -> Dict[int, str]:
    from schemas import MANIFEST_NAME, Manifest, PackingStats, ShardInfo, SourceTotals, TokenizerInfo, Totals

    rng = np.random.default_rng(0)
    pad_id, row_len = 1, SEQ_LEN + 1
    base = os.path.join(root, "distinct")
    os.makedirs(base)
    infos = []
    for i in range(4):
        p = os.path.join(base, f"s{i}.parquet")
        meta = _write_shard(p, rng, pad_id)
        infos.append((p, meta, os.path.getsize(p), sha256_file(p, 1 << 23)))
    dirs = {}
    for gb in SIZES_GB:
        d = os.path.join(root, f"{gb}gb")
        os.makedirs(d)
        shards, rows, non_pad = [], 0, 0
        copies = gb * 4 // len(infos)
        n = copies * len(infos)
        for k in range(n):
            src, meta, size, sha = infos[k % len(infos)]
            name = f"shard-{k:05d}-of-{n:05d}.parquet"
            os.link(src, os.path.join(d, name))
            shards.append(ShardInfo(path=name, sequences=meta["rows"], tokens=meta["rows"] * row_len, bytes=size, sha256=sha))
            rows += meta["rows"]
            non_pad += meta["non_pad"]
        manifest = Manifest(
            seq_len=SEQ_LEN, dtype="uint16",
            tokenizer=TokenizerInfo(sha256="0" * 64, vocab_size=VOCAB, special_ids={"<|endoftext|>": 0, "<|pad|>": pad_id}),
            packing=PackingStats(method="best-fit", pad_fraction=1 - non_pad / (rows * row_len), truncated_fraction=0.0),
            totals=Totals(documents=0, sequences=rows, tokens=rows * row_len, non_pad_tokens=non_pad),
            sources={"synthetic": SourceTotals(documents=0, tokens=non_pad)}, shards=shards)
        with open(os.path.join(d, MANIFEST_NAME), "w") as f:
            f.write(manifest.dumps())
        dirs[gb] = d
    return dirs


def _measure(method: str, path: str) -> Dict:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", CHILD, method, path], capture_output=True, text=True, cwd=here)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} on {path} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if f.endswith(".parquet"))


def run() -> str:
    root = tempfile.mkdtemp(prefix="winnow-bench-stats-", dir="/tmp")
    try:
        dirs = _make_dirs(root)
        rows: List[str] = []
        header = ("| shards on disk | method | MB/s min | MB/s median | seconds median | peak MB min | peak MB median "
                  "| time ratio vs winnow (median) | memory ratio vs winnow (median) |\n|---|---|---|---|---|---|---|---|---|")
        for gb, d in dirs.items():
            size_mb = _dir_bytes(d) / 2 ** 20
            methods = ["winnow", "dataset"] + (["naive"] if gb <= NAIVE_MAX_GB else [])
            results = {m: [] for m in methods}
            for _ in range(REPEATS):
                for m in methods:  # interleaved, so a noisy neighbour hits every method alike
                    results[m].append(_measure(m, d))
            answers = {m: tuple(r[0]["result"][:2]) for m, r in results.items()}
            assert len(set(answers.values())) == 1, f"methods disagree on rows/non-pad tokens: {answers}"
            w_sec = statistics.median(r["seconds"] for r in results["winnow"])
            w_mem = statistics.median(r["peak_mb"] for r in results["winnow"])
            for m in methods:
                secs = [r["seconds"] for r in results[m]]
                mems = [r["peak_mb"] for r in results[m]]
                label = {"winnow": "winnow stats (shards_stats)", "dataset": "pyarrow.dataset to_batches + numpy",
                         "naive": "pyarrow.parquet.read_table + numpy"}[m]
                rows.append(f"| {size_mb:,.0f} MB | {label} | {size_mb / max(secs):,.0f} | {size_mb / statistics.median(secs):,.0f} "
                            f"| {statistics.median(secs):.1f} | {min(mems):,.0f} | {statistics.median(mems):,.0f} "
                            f"| {statistics.median(secs) / w_sec:.2f} | {statistics.median(mems) / max(w_mem, 1):.2f} |")
            if gb > NAIVE_MAX_GB:
                rows.append(f"| {size_mb:,.0f} MB | pyarrow.parquet.read_table + numpy | not run (memory grows with the data) "
                            f"| | | | | | |")
        return header + "\n" + "\n".join(rows) + f"\n\nRepeats: {REPEATS} per cell. MB/s min is over the slowest repeat.\n"
    finally:
        shutil.rmtree(root, ignore_errors=True)
