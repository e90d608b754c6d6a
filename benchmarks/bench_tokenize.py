"""Tokenize+pack+write throughput per core: `winnow tokenize` (read Parquet, encode, best-fit pack at seq_len
2048, shuffle, write zstd Parquet shards and the manifest; Beam in-process runner, 1 worker) with `--encoder hf`
and with the default encoder (`auto`: tiktoken when installed and it accepts the tokenizer -- same ids, same
shards byte for byte -- else HF), against raw HF `Tokenizer.encode_batch` (batches of 256, texts already in
memory, nothing packed or written) and datatrove's `DocumentTokenizer` (batches of 256 -> document-shuffled .ds
token files + index; its own virtualenv, 1 task, documents handed to it in memory since its venv lacks the
readers' dependencies; it does not pack), on the same real documents: all the text in ../shared/data -- the
16 Gutenberg books and tinyshakespeare split into documents of consecutive paragraphs (>= 8,000 characters
each), every Scrapinghub AEB article body, the WCXB dev-split main contents and the UTF-8 GitHub Linguist code
samples -- with a 16,384-token BPE trained (`winnow tokenizer train`) on every 4th of those documents.

What is timed: CPU seconds (user+sys of every thread of the process: "per core", robust to other jobs sharing
the machine) of the whole job as a caller sees it -- tokenizer load, pipeline construction, Beam start-up,
reading, encoding, packing, shuffling and writing shards + manifest; imports excluded. Raw HF: tokenizer load +
encode_batch only. datatrove: step construction + run (tokenize, shuffle, write). Every run is a fresh process
with RAYON_NUM_THREADS=1, methods interleaved, 3 repeats; MB/s = UTF-8 MB of input text / CPU s (best = min
CPU s, and median). "Start-up" is the same Winnow job on 20 of the documents (its fixed cost). Second table:
the shards themselves (Parquet vs Arrow IPC, with and without the `doc_ids` lineage column): bytes per token on
disk, raw pyarrow read throughput of the token column (page cache warm), and `find_rows_with_document` time."""
from __future__ import annotations

import glob
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
        from pipelines.jobs.tokenize import run_tokenize_job

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
    from pipelines.tools.lineage import find_rows_with_document
    from pipelines.jobs.tokenize import run_tokenize_job
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


def corpus_documents() -> list:
    """(id, source, text): all the text in ../shared/data; books split into documents of paragraphs."""
    import re

    from benchmarks.bench_packing import SHARED, real_documents

    docs = real_documents(books=False)  # AEB news, WCXB web, Linguist code
    paths = sorted(glob.glob(os.path.join(SHARED, "text", "gutenberg", "pg*.txt")))
    paths.append(os.path.join(SHARED, "text", "tinyshakespeare", "input.txt"))
    for path in paths:
        name = os.path.basename(path).split("__")[0].split(".")[0]
        text = open(path, encoding="utf-8").read()
        part, size, n = [], 0, 0
        for para in re.split(r"\n\s*\n", text):
            if not para.strip():
                continue
            part.append(para)
            size += len(para)
            if size >= 8000:
                docs.append((f"book-{name}-{n:05d}", "books", "\n\n".join(part)))
                part, size, n = [], 0, n + 1
        if part:
            docs.append((f"book-{name}-{n:05d}", "books", "\n\n".join(part)))
    return docs


def run(repeats: int = 3) -> str:
    from benchmarks.bench_packing import write_documents
    from benchmarks.harness import DATATROVE_REQUIREMENTS, ensure_venv
    from schemas import Manifest
    from tokenizer.train import train_tokenizer

    docs = corpus_documents()
    mb = sum(len(t.encode("utf-8")) for _, _, t in docs) / 1e6
    by_source = {}
    for _, source, text in docs:
        n, size = by_source.get(source, (0, 0))
        by_source[source] = (n + 1, size + len(text.encode("utf-8")))
    try:
        dt_python = ensure_venv("datatrove", DATATROVE_REQUIREMENTS)
    except Exception as exc:  # the peer is optional: say so in the table rather than fail the whole benchmark
        dt_python, dt_error = None, str(exc)[:200]
    with tempfile.TemporaryDirectory(prefix="winnow-bench-tokenize-") as tmp:
        docs_dir = write_documents(docs, os.path.join(tmp, "docs"))
        tiny_dir = write_documents(docs[:20], os.path.join(tmp, "tiny"))
        train_dir = write_documents(docs[::4], os.path.join(tmp, "train"))
        os.makedirs(os.path.join(tmp, "jsonl"))
        with open(os.path.join(tmp, "jsonl", "docs.jsonl"), "w", encoding="utf-8") as f:
            for doc_id, source, text in docs:
                f.write(json.dumps({"id": doc_id, "source": source, "text": text}) + "\n")
        tok = os.path.join(tmp, "tok")
        train_tokenizer(train_dir, vocab_size=16384, output_dir=tok, seed=0)
        from tokenizer.encode import tokenizer_handle

        auto = tokenizer_handle(open(os.path.join(tok, "tokenizer.json"), "rb").read(), "auto").backend
        me = [sys.executable, "-m", "benchmarks.bench_tokenize"]
        kinds = {
            "raw HF encode_batch": lambda i: me + ["raw-hf", docs_dir, tok, "-"],
            "winnow tokenize --encoder hf": lambda i: me + ["winnow-hf", docs_dir, tok, os.path.join(tmp, f"w-hf-{i}")],
            f"winnow tokenize (default: auto -> {auto})": lambda i: me + ["winnow-auto", docs_dir, tok,
                                                                        os.path.join(tmp, f"w-auto-{i}")],
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
                print(f"  {name} #{i}: {results[name][-1]}", file=sys.stderr, flush=True)
        same = all(open(os.path.join(tmp, "w-hf-0", s), "rb").read() == open(os.path.join(tmp, "w-auto-0", s), "rb").read()
                   for s in os.listdir(os.path.join(tmp, "w-hf-0")))
        m = Manifest.load(os.path.join(tmp, "w-hf-0", "manifest.json"))
        raw_cpu = [r["cpu"] for r in results["raw HF encode_batch"]]
        sources = ", ".join(f"{s} {n:,} docs / {size / 1e6:.1f} MB" for s, (n, size) in sorted(by_source.items()))
        lines = [f"Corpus: {len(docs):,} documents, {mb:.2f} MB of text ({sources}), {m.totals.non_pad_tokens:,} tokens -> "
                 f"{m.totals.sequences:,} rows of {SEQ_LEN + 1}, best-fit pad {100 * m.packing.pad_fraction:.3f}%, "
                 f"truncated {100 * m.packing.truncated_fraction:.2f}% (floor: same tokens, documents longer than a row). "
                 f"hf and default ({auto}) runs byte-identical (shards and manifest): {same}.", "",
                 "| method | CPU s min | CPU s median | MB/s per core (best) | MB/s per core (median) | wall s median | "
                 "CPU / raw HF (min) | CPU / raw HF (median) |",
                 "|---|---|---|---|---|---|---|---|"]
        for name, rs in results.items():
            cpu = [r["cpu"] for r in rs]
            ratios = [c / r for c, r in zip(cpu, raw_cpu)]
            best, med = ("-", "-") if "start-up" in name else (f"{mb / min(cpu):.2f}", f"{mb / statistics.median(cpu):.2f}")
            lines.append(f"| {name} | {min(cpu):.2f} | {statistics.median(cpu):.2f} | {best} | {med} | "
                         f"{statistics.median(r['wall'] for r in rs):.2f} | {min(ratios):.2f}x | {statistics.median(ratios):.2f}x |")
        if not dt_python:
            lines.append(f"| datatrove DocumentTokenizer | not run: {dt_error} | | | | | | |")
        startup = statistics.median(r["cpu"] for r in results["winnow start-up (20 docs, hf)"])
        lines.append("")
        for name in ("winnow tokenize --encoder hf", f"winnow tokenize (default: auto -> {auto})"):
            cpu = [r["cpu"] for r in results[name]]
            end_to_end = [c / r for c, r in zip(cpu, raw_cpu)]
            marginal = [(c - startup) / r for c, r in zip(cpu, raw_cpu)]
            lines.append(f"{name}: CPU over raw encode_batch {100 * (statistics.median(end_to_end) - 1):+.0f}% median "
                         f"({100 * (min(end_to_end) - 1):+.0f}% best run) end to end; "
                         f"{100 * (statistics.median(marginal) - 1):+.0f}% median once the fixed start-up "
                         f"({startup:.2f} CPU s) is taken out. Target: at most +25%.  ")
        lines += ["", "Shards (tiktoken encoder, same corpus):", ""]
        print("\n".join(lines), file=sys.stderr, flush=True)
        lines += _shards_table(tmp, docs_dir, tok, repeats, docs[0][0])
    return "\n".join(lines)


if __name__ == "__main__":
    _worker(*sys.argv[1:5])
