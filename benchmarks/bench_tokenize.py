"""`winnow tokenize` (read Parquet, encode, best-fit pack at seq_len 2048, shuffle, write zstd Parquet shards and
the manifest; Beam in-process runner, 1 worker) against raw HF `Tokenizer.encode_batch` (batches of 256, texts
already in memory, nothing written) and against datatrove's `DocumentTokenizer` (tokenize in
batches of 256 -> document-shuffled .ds token files + index; its own virtualenv, 1 task, documents handed to
it in memory since its venv lacks the readers' dependencies; it does not pack), side by side on the same real documents:
every Scrapinghub AEB article body and WCXB dev-split main content in ../shared/data (~8.5 MB, 1,058
documents), the same 16,384-token BPE (trained on them with `winnow tokenizer train`). Every run is a fresh
process with RAYON_NUM_THREADS=1; throughput is UTF-8 MB of input text per CPU second (user+sys of all the
process's threads: "per core", robust to the other jobs sharing this machine), imports excluded, tokenizer
load, pipeline construction and Beam start-up included. Winnow runs with both encoders (`--encoder hf`, the
default, and `--encoder tiktoken`: same ids, same shards byte for byte). "Start-up" is the same Winnow job
on 20 of the documents (fixed cost). Second table: the shards themselves (Parquet vs Arrow IPC, with and
without the `doc_ids` lineage column): bytes per token on disk, raw pyarrow read throughput of the token column
(page cache warm), and `find_rows_with_document` time."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ_LEN = 2048

_DATATROVE = r"""
import json, sys, time
docs, tok, out = sys.argv[1:4]
from datatrove.data import Document
from datatrove.pipeline.tokens import DocumentTokenizer
with open(docs, encoding="utf-8") as f:  # stdlib json: the peer venv has neither orjson nor pyarrow for its readers
    documents = [Document(text=d["text"], id=d["id"]) for d in map(json.loads, f)]
cpu, wall = time.process_time(), time.perf_counter()
step = DocumentTokenizer(out, tokenizer_name_or_path=tok, eos_token="<|endoftext|>", batch_size=256, seed=0)
result = step.run(iter(documents), rank=0, world_size=1)
if result is not None:
    for _ in result:
        pass
print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}))
"""


def _worker(kind: str, docs: str, tok: str, out: str) -> None:
    """Runs in a fresh process; prints {"cpu", "wall"} of the measured work only."""
    if kind == "raw-hf":
        import pyarrow.parquet as pq
        from tokenizers import Tokenizer

        texts = pq.read_table(os.path.join(docs, "documents"), columns=["text"]).column("text").to_pylist()
        cpu, wall = time.process_time(), time.perf_counter()
        t = Tokenizer.from_file(os.path.join(tok, "tokenizer.json"))
        for i in range(0, len(texts), 256):
            t.encode_batch(texts[i:i + 256])
    else:
        from pipelines.tokenize import run_tokenize_job

        cpu, wall = time.process_time(), time.perf_counter()
        run_tokenize_job(docs, tok, out, SEQ_LEN, encoder=kind.split("-", 1)[1])
    print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}))


def _measure(cmd) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS="1", RAYON_RS_NUM_CPUS="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=ROOT)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _read_tokens(paths, file_format: str) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        if file_format == "arrow":
            with pa.memory_map(path) as source:
                table = pa.ipc.open_file(source).read_all()
                for chunk in table.column("tokens").chunks:
                    total += int(np.asarray(chunk.values).sum(dtype=np.uint64))  # touch every token
        else:
            table = pq.read_table(path, columns=["tokens"])
            for chunk in table.column("tokens").chunks:
                total += int(np.asarray(chunk.values).sum(dtype=np.uint64))
    return total


def _shards_table(tmp: str, docs: str, tok: str, repeats: int, doc_id: str) -> list:
    from pipelines.lineage import find_rows_with_document
    from pipelines.tokenize import run_tokenize_job
    from schemas import Manifest

    runs = {}
    for fmt in ("parquet", "arrow"):
        for lineage in (False, True):
            out = os.path.join(tmp, f"shards-{fmt}-{int(lineage)}")
            run_tokenize_job(docs, tok, out, SEQ_LEN, file_format=fmt, doc_ids=lineage, encoder="tiktoken")
            runs[fmt, lineage] = (out, Manifest.load(os.path.join(out, "manifest.json")))
    lines = ["| format | doc_ids | shards | bytes on disk | bytes / token | lineage cost (bytes / token) | "
             "read MB/s min | read MB/s median | read vs Parquet (median) | find_rows_with_document ms (median) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    read_median = {}
    for (fmt, lineage), (out, m) in runs.items():
        size = sum(s.bytes for s in m.shards)
        base = sum(s.bytes for s in runs[fmt, False][1].shards)
        paths = [os.path.join(out, s.path) for s in m.shards]
        mb = m.totals.tokens * (2 if m.dtype == "uint16" else 4) / 1e6
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            _read_tokens(paths, fmt)
            rates.append(mb / (time.perf_counter() - start))
        read_median[fmt, lineage] = statistics.median(rates)
        lookup = "-"
        if lineage:
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                hits = find_rows_with_document(out, doc_id)
                times.append(1000 * (time.perf_counter() - start))
            assert hits, f"{doc_id} should be in the shards"
            lookup = f"{statistics.median(times):.1f}"
        lines.append(f"| {fmt} | {'yes' if lineage else 'no'} | {len(m.shards)} | {size:,} | "
                     f"{size / m.totals.non_pad_tokens:.3f} | "
                     f"{(size - base) / m.totals.non_pad_tokens:.3f} | {min(rates):,.0f} | {statistics.median(rates):,.0f} | "
                     f"{read_median[fmt, lineage] / read_median['parquet', lineage]:.2f}x | {lookup} |")
    return lines


def run(repeats: int = 3) -> str:
    from benchmarks.bench_packing import real_documents, write_documents
    from benchmarks.peers import DATATROVE_REQUIREMENTS, ensure_venv
    from schemas import Manifest
    from tokenizer.train import train_tokenizer

    docs = [d for d in real_documents(books=False) if d[1] in ("news", "web")]
    mb = sum(len(t.encode("utf-8")) for _, _, t in docs) / 1e6
    try:
        dt_python = ensure_venv("datatrove", DATATROVE_REQUIREMENTS)
    except Exception as exc:  # the peer is optional: say so in the table rather than fail the whole benchmark
        dt_python, dt_error = None, str(exc)[:200]
    with tempfile.TemporaryDirectory(prefix="winnow-bench-tokenize-") as tmp:
        docs_dir = write_documents(docs, os.path.join(tmp, "docs"))
        tiny_dir = write_documents(docs[:20], os.path.join(tmp, "tiny"))
        os.makedirs(os.path.join(tmp, "jsonl"))
        with open(os.path.join(tmp, "jsonl", "docs.jsonl"), "w", encoding="utf-8") as f:
            for doc_id, source, text in docs:
                f.write(json.dumps({"id": doc_id, "source": source, "text": text}) + "\n")
        tok = os.path.join(tmp, "tok")
        train_tokenizer(docs_dir, vocab_size=16384, output_dir=tok, seed=0)
        me = [sys.executable, "-m", "benchmarks.bench_tokenize"]
        kinds = {
            "raw HF encode_batch": lambda i: me + ["raw-hf", docs_dir, tok, "-"],
            "winnow tokenize (hf)": lambda i: me + ["winnow-hf", docs_dir, tok, os.path.join(tmp, f"w-hf-{i}")],
            "winnow tokenize (tiktoken)": lambda i: me + ["winnow-tiktoken", docs_dir, tok, os.path.join(tmp, f"w-tt-{i}")],
            "winnow start-up (20 docs, hf)": lambda i: me + ["winnow-hf", tiny_dir, tok, os.path.join(tmp, f"w-tiny-{i}")],
        }
        if dt_python:
            kinds["datatrove DocumentTokenizer"] = lambda i: [dt_python, "-c", _DATATROVE, os.path.join(tmp, "jsonl", "docs.jsonl"),
                                                              os.path.join(tok, "tokenizer.json"),
                                                              os.path.join(tmp, f"dt-{i}")]
        results = {k: [] for k in kinds}
        for i in range(repeats):  # interleaved, so load from other jobs on the machine hits every method alike
            for name, cmd in kinds.items():
                results[name].append(_measure(cmd(i)))
        same = all(open(os.path.join(tmp, "w-hf-0", s), "rb").read() == open(os.path.join(tmp, "w-tt-0", s), "rb").read()
                   for s in os.listdir(os.path.join(tmp, "w-hf-0")))
        m = Manifest.load(os.path.join(tmp, "w-hf-0", "manifest.json"))
        raw_cpu = [r["cpu"] for r in results["raw HF encode_batch"]]
        lines = [f"Corpus: {len(docs):,} documents, {mb:.2f} MB of text, {m.totals.non_pad_tokens:,} tokens -> "
                 f"{m.totals.sequences:,} rows of {SEQ_LEN + 1}, best-fit pad {100 * m.packing.pad_fraction:.3f}%, "
                 f"truncated {100 * m.packing.truncated_fraction:.2f}% (floor: same tokens, documents longer than a row). "
                 f"hf and tiktoken runs byte-identical: {same}.", "",
                 "| method | CPU s min | CPU s median | MB/s per core (median) | wall s median | CPU / raw HF (min) | CPU / raw HF (median) |",
                 "|---|---|---|---|---|---|---|"]
        for name, rs in results.items():
            cpu = [r["cpu"] for r in rs]
            ratios = [c / r for c, r in zip(cpu, raw_cpu)]
            rate = "-" if "start-up" in name else f"{mb / statistics.median(cpu):.2f}"
            lines.append(f"| {name} | {min(cpu):.2f} | {statistics.median(cpu):.2f} | {rate} | "
                         f"{statistics.median(r['wall'] for r in rs):.2f} | {min(ratios):.2f}x | {statistics.median(ratios):.2f}x |")
        if not dt_python:
            lines.append(f"| datatrove DocumentTokenizer | not run: {dt_error} | | | | | |")
        startup = statistics.median(r["cpu"] for r in results["winnow start-up (20 docs, hf)"])
        marginal = [(r["cpu"] - startup) / c for r, c in zip(results["winnow tokenize (hf)"], raw_cpu)]
        lines += ["", f"Winnow (hf) overhead over raw encode_batch: median {100 * (statistics.median([r['cpu'] for r in results['winnow tokenize (hf)']]) / statistics.median(raw_cpu) - 1):+.0f}% "
                  f"end to end; {100 * (statistics.median(marginal) - 1):+.0f}% (min {100 * (min(marginal) - 1):+.0f}%) once the "
                  f"fixed start-up ({startup:.2f} CPU s) is taken out.", "", "Shards (tiktoken encoder, same corpus):", ""]
        print("\n".join(lines), file=sys.stderr, flush=True)
        lines += _shards_table(tmp, docs_dir, tok, repeats, docs[0][0])
    return "\n".join(lines)


if __name__ == "__main__":
    _worker(*sys.argv[1:5])
