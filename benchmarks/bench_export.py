"""`winnow export` throughput per core: the same token shards rewritten as Megatron indexed datasets, MosaicML
MDS shards and llm.c `.bin` files, side by side with rewriting them as Parquet shards (the same rows through
`schemas.shard_files.encode_shard`, zstd, as `winnow tokenize` writes them) in one run. Input: a real
`winnow tokenize` output at seq_len 2048, 8 MiB shards, over the documents of `bench_packing` (AEB article
bodies, WCXB dev main content, UTF-8 Linguist code samples, 16 Gutenberg books, tiny-shakespeare from
../shared/data) with an 8,192-token BPE trained on them. Every variant reads each shard, checks its sha256,
decodes it and writes its own files into a fresh directory; one process, so CPU seconds are per core.
MB/s = MB (10^6 bytes) of document tokens (non-pad, uint16) per CPU second; min and median over repeats."""
from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time

SEQ_LEN = 2048


def parquet_rewrite(shards_dir: str, output_dir: str) -> None:
    """The baseline: every shard read and checked as `winnow export` reads it, then written as Parquet."""
    from schemas.shard_files import ShardFile, encode_shard, read_manifest
    from schemas.shards import check_shard_digest

    m = read_manifest(shards_dir)
    os.makedirs(output_dir, exist_ok=True)
    row_group_rows = max(1, (4 << 20) // ((m.seq_len + 1) * 2))
    for s in m.shards:
        with open(os.path.join(shards_dir, s.path), "rb") as f:
            data = f.read()
        check_shard_digest(s, len(data), hashlib.sha256(data).hexdigest(), s.path)
        table = ShardFile(data, m.file_format).read_all()
        with open(os.path.join(output_dir, s.path), "wb") as f:
            f.write(encode_shard(table, "parquet", row_group_rows))


def run(repeats: int = 3) -> str:
    from benchmarks.bench_packing import real_documents, write_documents
    from pipelines.jobs.tokenize import run_tokenize_job
    from pipelines.tools.export import export_shards
    from pipelines.tools.verify import verify_shards
    from tokenizer.train import train_tokenizer

    with tempfile.TemporaryDirectory(prefix="winnow-bench-export-") as tmp:
        write_documents(real_documents(books=True), os.path.join(tmp, "docs"))
        tok_dir = os.path.join(tmp, "tok")
        train_tokenizer(os.path.join(tmp, "docs"), vocab_size=8192, output_dir=tok_dir, seed=0)
        shards = os.path.join(tmp, "shards")
        m = run_tokenize_job(os.path.join(tmp, "docs"), tok_dir, shards, SEQ_LEN, shard_mb=8.0).manifest
        mb = m.totals.non_pad_tokens * 2 / 1e6
        variants = [("parquet (baseline)", lambda out: parquet_rewrite(shards, out))] + [
            (fmt, lambda out, fmt=fmt: export_shards(shards, fmt, out)) for fmt in ("megatron", "mds", "llmc")]
        times = {name: [] for name, _ in variants}
        sizes = {}
        for r in range(repeats):
            for name, fn in variants:  # interleaved, so a busy moment of the machine hits every variant alike
                out = os.path.join(tmp, f"out-{r}-{name.split()[0]}")
                start = time.process_time()
                fn(out)
                times[name].append(time.process_time() - start)
                sizes[name] = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        for fmt in ("megatron", "mds", "llmc"):
            verify_shards(os.path.join(tmp, f"out-0-{fmt}"))  # what was timed is a valid export
        lines = [f"{len(m.shards)} input shards (Parquet, zstd), {m.totals.sequences:,} rows, {m.totals.documents:,} "
                 f"documents, {m.totals.non_pad_tokens:,} document tokens ({mb:.1f} MB as uint16)", "",
                 "| output | files MB | CPU s min | CPU s median | MB of tokens/s per core (min time) | (median) | vs Parquet (median) |",
                 "|---|---|---|---|---|---|---|"]
        base = statistics.median(times["parquet (baseline)"])
        for name, _ in variants:
            t = times[name]
            lines.append(f"| {name} | {sizes[name] / 1e6:.1f} | {min(t):.2f} | {statistics.median(t):.2f} | "
                         f"{mb / min(t):.0f} | {mb / statistics.median(t):.0f} | {base / statistics.median(t):.2f}x |")
        return "\n".join(lines)


if __name__ == "__main__":
    print(run())
