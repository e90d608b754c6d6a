"""`winnow run` end to end on the embedded default, wall time by step. Peers on the same data in the same run:
raw trafilatura (`trafilatura.extract` in a plain loop over the HTML responses of the crawl's WARC files) against
the curate job's extract stage time, and raw HF tokenizers (`BpeTrainer` over the curated texts in memory, same
vocabulary size, pre-tokenizer and per-document character cap as Winnow's sample) against `winnow tokenizer train`."""
from __future__ import annotations

import glob
import os
import statistics
import tempfile
import time

from pipelines.demo.run import run_chain
from schemas import Report
from schemas.io import iter_documents


def _raw_trafilatura_seconds(warc_glob: str) -> tuple:
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    for path in sorted(glob.glob(warc_glob)):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type == "response" and rec.http_headers and rec.http_headers.get_statuscode() == "200":
                    if "html" in (rec.http_headers.get_header("Content-Type") or ""):
                        pages.append(rec.content_stream().read().decode("utf-8", "replace"))
    start = time.perf_counter()
    for html in pages:
        trafilatura.extract(html, include_comments=False, include_tables=True)
    return time.perf_counter() - start, len(pages)


def _raw_hf_tokenizer_seconds(docs_dir: str, vocab_size: int) -> float:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    from tokenizer.train import DEFAULT_MAX_DOC_CHARS, WINNOW_SPLIT_PATTERN

    texts = [d["text"][:DEFAULT_MAX_DOC_CHARS] for d in iter_documents(docs_dir, ["text"])]
    start = time.perf_counter()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(WINNOW_SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>", "<|pad|>"], show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return time.perf_counter() - start


def run(repeats: int = 2) -> str:
    rows = []
    extract_ratios, tok_ratios = [], []
    for i in range(repeats):
        with tempfile.TemporaryDirectory(prefix="winnow-bench-run-") as out:
            summary = run_chain(out, quiet=True)
            report = Report.load(os.path.join(out, "curated", "report.json"))
            raw_extract, n_pages = _raw_trafilatura_seconds(os.path.join(out, "crawl", "*.warc.gz"))
            raw_tok = _raw_hf_tokenizer_seconds(os.path.join(out, "curated"), 4096)
        s = summary["seconds"]
        extract_ratios.append(report.stage("extract").seconds / raw_extract)
        tok_ratios.append(s["tokenizer"] / raw_tok)
        rows.append((i + 1, summary["wall_seconds"], s, report.stage("extract").seconds, raw_extract, n_pages, raw_tok,
                     summary["loss"]))
    steps = list(rows[0][2])
    lines = ["| repeat | total s | " + " | ".join(f"{k} s" for k in steps) +
             " | extract stage s (Winnow) | raw trafilatura s | pages | raw HF BPE s | loss first -> final |",
             "|" + "---|" * (len(steps) + 7)]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]:.1f} | " + " | ".join(f"{r[2][k]:.1f}" for k in steps) +
                     f" | {r[3]:.2f} | {r[4]:.2f} | {r[5]} | {r[6]:.2f} | {r[7]['first']:.2f} -> {r[7]['final']:.2f} |")
    lines.append("")
    lines.append(f"Winnow extract stage / raw trafilatura: min {min(extract_ratios):.2f}x, median "
                 f"{statistics.median(extract_ratios):.2f}x (stage time is per-record work summed inside the Beam DoFn).  ")
    lines.append(f"`winnow tokenizer train` (sampling + training + metadata) / raw HF BpeTrainer: min {min(tok_ratios):.2f}x, "
                 f"median {statistics.median(tok_ratios):.2f}x.")
    return "\n".join(lines)
