"""Packing at seq_len 2048 on real documents: best-fit decreasing against concat-and-chunk, side by side on the
same token streams. Documents: every Scrapinghub AEB article body, every WCXB dev-split main content, every
UTF-8 GitHub Linguist code sample, the 16 Gutenberg books and tiny-shakespeare from ../shared/data (~45 MB,
3,441 documents); a 16,384-token BPE trained on them with `winnow tokenizer train`. Two corpora: all of it (the
books make most tokens belong to documents longer than a row) and the web+news+code part without books.
First table: the real `winnow tokenize` job (manifest figures, default packing groups of 8,192 rows). Second:
the pure packing functions over the job's hash-assigned groups at smaller group sizes, to show what bounding a
group costs in padding. Truncated = tokens of documents that land in two or more rows; the floor is the tokens
of documents longer than a row (no packing can do better). Pack seconds: min and median over repeats."""
from __future__ import annotations

import glob
import gzip
import json
import os
import statistics
import tempfile
import time
from typing import List, Tuple


SHARED = os.environ.get("WINNOW_SHARED_DATA",
                        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data"))
SEQ_LEN = 2048


def real_documents(books: bool = True) -> List[Tuple[str, str, str]]:
    """(id, source, text) of real documents from ../shared/data, in a fixed order."""
    docs = []
    truth = json.load(open(os.path.join(SHARED, "html", "scrapinghub_aeb", "ground-truth.json"), encoding="utf-8"))
    docs += [(f"aeb-{k}", "news", v["articleBody"]) for k, v in sorted(truth.items()) if v.get("articleBody")]
    for path in sorted(glob.glob(os.path.join(SHARED, "html", "wcxb_dev", "ground-truth", "*.json"))):
        text = (json.load(open(path, encoding="utf-8")).get("ground_truth") or {}).get("main_content")
        if text:
            docs.append((f"wcxb-{os.path.basename(path)[:-5]}", "web", text))
    with gzip.open(os.path.join(SHARED, "code", "linguist_samples_dev.jsonl.gz"), "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            sample = json.loads(line)
            if sample["encoding"] == "utf-8" and sample["content"]:
                docs.append((f"code-{i:05d}", "code", sample["content"]))
    if books:
        paths = sorted(glob.glob(os.path.join(SHARED, "text", "gutenberg", "pg*.txt")))
        paths.append(os.path.join(SHARED, "text", "tinyshakespeare", "input.txt"))
        for path in paths:
            docs.append((f"book-{os.path.basename(path)}", "books", open(path, encoding="utf-8").read()))
    return docs


def write_documents(docs, directory: str) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import DOCUMENTS_SCHEMA, empty_document

    os.makedirs(os.path.join(directory, "documents"), exist_ok=True)
    rows = [empty_document(i, s, t) for i, s, t in docs]
    pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENTS_SCHEMA),
                   os.path.join(directory, "documents", "part-00000.parquet"), compression="zstd")
    return directory


def _group_of(ids, lengths, rows_per_group, seed=0):
    from tokenizer.pack_groups import groups_for
    from tokenizer.train import sample_hash

    n_groups = groups_for(int(sum(lengths)), SEQ_LEN + 1, rows_per_group)
    return [sample_hash(i, seed) % n_groups for i in ids], n_groups


def _pack_groups(method, ids, lengths, rows_per_group):
    from tokenizer.pack import PackStats, pack_layout
    from tokenizer.train import sample_hash

    groups, n_groups = _group_of(ids, lengths, rows_per_group)
    members = [[] for _ in range(n_groups)]
    for doc, g in enumerate(groups):
        members[g].append(doc)
    total = PackStats()
    start = time.perf_counter()
    for docs in members:  # the job's order inside a group: by id (best-fit), by hash of id (concat)
        key = (lambda d: ids[d]) if method == "best-fit" else (lambda d: (sample_hash(ids[d], 0), ids[d]))
        docs = sorted(docs, key=key)
        _, stats = pack_layout(method, [lengths[d] for d in docs], SEQ_LEN + 1)
        total = total + stats
    return total, time.perf_counter() - start, n_groups


def run(repeats: int = 3) -> str:
    from pipelines.jobs.tokenize import run_tokenize_job
    from tokenizer.encode import load_tokenizer
    from tokenizer.pack import truncation_floor
    from tokenizer.train import train_tokenizer

    row_len = SEQ_LEN + 1
    lines = ["| corpus | documents | tokens | method | rows | pad % | truncated % | floor % | truncated - floor (points) | job CPU s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    group_lines = ["| corpus | rows per group | groups | method | pad % | truncated - floor (points) | pack s min | pack s median | best-fit / concat time (median) |",
                   "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="winnow-bench-pack-") as tmp:
        all_docs = real_documents(books=True)
        write_documents(all_docs, os.path.join(tmp, "all"))
        write_documents([d for d in all_docs if d[1] != "books"], os.path.join(tmp, "nobooks"))
        tok_dir = os.path.join(tmp, "tok")
        train_tokenizer(os.path.join(tmp, "all"), vocab_size=16384, output_dir=tok_dir, seed=0)
        # the tiktoken encoder gives the same ids as HF (the handle checks the vocabulary; tests compare ids)
        # at a fraction of the CPU; the job below uses it too.
        try:
            tok = load_tokenizer(tok_dir, backend="tiktoken")
            encoder = "tiktoken"
        except (ImportError, ValueError):
            tok, encoder = load_tokenizer(tok_dir), "hf"
        for corpus in ("all", "nobooks"):
            docs = all_docs if corpus == "all" else [d for d in all_docs if d[1] != "books"]
            ids = [d[0] for d in docs]
            lengths = [len(t) + 1 for t in tok.encode_batch([d[2] for d in docs])]
            floor = truncation_floor(lengths, row_len) / sum(lengths)
            for method in ("best-fit", "concat"):
                out = os.path.join(tmp, f"shards-{corpus}-{method}")
                cpu = time.process_time()
                m = run_tokenize_job(os.path.join(tmp, corpus), tok_dir, out, SEQ_LEN, packing=method, encoder=encoder).manifest
                cpu = time.process_time() - cpu
                assert m.totals.non_pad_tokens == sum(lengths)
                p = m.packing
                lines.append(f"| {corpus} | {m.totals.documents:,} | {m.totals.non_pad_tokens:,} | {method} | "
                             f"{m.totals.sequences:,} | {100 * p.pad_fraction:.3f} | {100 * p.truncated_fraction:.2f} | "
                             f"{100 * floor:.2f} | {round(100 * (p.truncated_fraction - floor), 2) + 0.0:+.2f} | {cpu:.1f} |")
            for rows_per_group in (64, 512, 8192):
                times = {}
                for method in ("best-fit", "concat"):
                    runs = [_pack_groups(method, ids, lengths, rows_per_group) for _ in range(repeats)]
                    stats, n_groups = runs[0][0], runs[0][2]
                    times[method] = [r[1] for r in runs]
                    group_lines.append(
                        f"| {corpus} | {rows_per_group:,} | {n_groups} | {method} | {100 * stats.pad_fraction:.3f} | "
                        f"{round(100 * (stats.truncated_fraction - floor), 2) + 0.0:+.2f} | {min(times[method]):.3f} | "
                        f"{statistics.median(times[method]):.3f} | " +
                        (f"{statistics.median(times['best-fit']) / statistics.median(times['concat']):.2f}x |"
                         if method == "concat" else " |"))
    return "\n".join(lines + ["", f"Packing groups (pure `tokenizer.pack` over the job's hash groups, {repeats} repeats, "
                              f"tokens from the {encoder} encoder):", ""] + group_lines)
