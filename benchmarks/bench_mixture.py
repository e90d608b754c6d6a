"""Mixtures (`winnow tokenize --mixture`): requested against achieved shares of the output tokens on real books,
code and web text from ../shared/data -- the 16 Gutenberg books in ~3,000-character passages (books), every
UTF-8 GitHub Linguist sample (code), the Scrapinghub AEB article bodies and the WCXB dev-split main content
(web) -- with an 8,192-token BPE trained on them, seq_len 512. First table: the real job (in-process runner),
three mixtures: shares without a budget (the scarcest source used once whole), shares of a budget twice the
corpus's natural size (sources repeat), and epochs (0.3 / 2.5 / 1); error = achieved - requested share in
percentage points; identical = every shard and manifest.json byte-identical between `--workers 1` and `2`
(first mixture).
Second table: the selection alone (pure functions, the same documents and lengths, first mixture, 20 seeds):
the job's bucket fill, a plain threshold on the bucket order, and per-document coin flips with the same
expected share."""
from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from typing import Dict, List, Tuple

SHARED = os.environ.get("WINNOW_SHARED_DATA",
                        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data"))
SEQ_LEN = 512

MIXTURES = {
    "shares 0.6/0.25/0.15": ("web: {weight: 0.6}", "code: {weight: 0.25}", "books: {weight: 0.15}", None),
    "budget 2x, same shares": ("web: {weight: 0.6}", "code: {weight: 0.25}", "books: {weight: 0.15}", "2x"),
    "epochs 1/2.5/0.3": ("web: {epochs: 1}", "code: {epochs: 2.5}", "books: {epochs: 0.3}", None),
}


def real_sources() -> Dict[str, List[dict]]:
    books = []
    for path in sorted(glob.glob(os.path.join(SHARED, "text", "gutenberg", "pg*.txt"))):
        cur, n = "", 0
        for para in open(path, encoding="utf-8").read().split("\n\n"):
            cur += para + "\n\n"
            if len(cur) > 3000:
                books.append({"id": f"{os.path.basename(path)[:8]}-{n:05d}", "source": "books", "text": cur})
                cur, n = "", n + 1
    code = []
    with gzip.open(os.path.join(SHARED, "code", "linguist_samples_dev.jsonl.gz"), "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            s = json.loads(line)
            if s["encoding"] == "utf-8" and s["content"].strip():
                code.append({"id": f"code-{i:05d}", "source": "code", "text": s["content"]})
    truth = json.load(open(os.path.join(SHARED, "html", "scrapinghub_aeb", "ground-truth.json"), encoding="utf-8"))
    web = [{"id": f"aeb-{k}", "source": "web", "text": v["articleBody"]} for k, v in sorted(truth.items())
           if v.get("articleBody")]
    for path in sorted(glob.glob(os.path.join(SHARED, "html", "wcxb_dev", "ground-truth", "*.json"))):
        text = (json.load(open(path, encoding="utf-8")).get("ground_truth") or {}).get("main_content")
        if text:
            web.append({"id": f"wcxb-{os.path.basename(path)[:-5]}", "source": "web", "text": text})
    return {"web": web, "code": code, "books": books}


def write_mixture(root: str, entries: Tuple[str, str, str, object], total: int) -> str:
    lines = ["sources:"]
    for entry in entries[:3]:
        name, rest = entry.split(": ", 1)
        lines.append(f"  - {{name: {name}, input: {name}.jsonl, {rest[1:-1]}}}")
    if entries[3]:
        lines.append(f"total_tokens: {total}")
    path = os.path.join(root, "mixture.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def digest(directory: str) -> str:
    h = hashlib.sha256()
    for name in sorted(os.listdir(directory)):
        if os.path.isfile(os.path.join(directory, name)):
            h.update(name.encode() + open(os.path.join(directory, name), "rb").read())
    return h.hexdigest()


def selection_table(lengths: Dict[str, List[Tuple[str, int]]], seeds: int = 20) -> List[str]:
    """Bucket fill (the plan's), a plain bucket threshold and per-document coin flips, for the first mixture's
    shares (pure functions, no Beam): the largest share error of the three sources, over seeds."""
    import numpy as np

    from tokenizer.mixture import (
        BUCKETS, add_entry, histogram_entry, parse_mixture, plan_mixture, prefix_buckets,
    )
    from tokenizer.train import sample_hash

    spec = parse_mixture("sources: [{name: web, input: a, weight: 0.6}, {name: code, input: b, weight: 0.25}, "
                         "{name: books, input: c, weight: 0.15}]")
    errors = {"bucket fill (the job's)": [], "bucket threshold": [], "coin flip per document": []}
    for seed in range(seeds):
        hist: dict = {}
        for name, docs in lengths.items():
            for doc_id, n in docs:
                add_entry(hist, histogram_entry(name, doc_id, n, seed))
        plan = plan_mixture(spec, hist)
        for method in errors:
            tokens = {}
            for name, docs in lengths.items():
                p = plan.source(name)
                target = p.requested_tokens - p.full_copies * p.available_tokens
                if method.startswith("bucket fill"):
                    extra = p.planned_tokens - p.full_copies * p.available_tokens
                elif method == "bucket threshold":
                    dense = np.zeros(BUCKETS, dtype=np.int64)
                    for bucket, (_, t) in hist[name].items():
                        dense[bucket] = t
                    extra = int(dense[prefix_buckets(dense, target)].sum())
                else:  # keep each document with probability = the fractional epochs, by hash of (seed, id)
                    frac = target / p.available_tokens
                    extra = sum(n for doc_id, n in docs if sample_hash(f"coin\x00{doc_id}", seed) / 2 ** 64 < frac)
                tokens[name] = p.full_copies * p.available_tokens + extra
            total = sum(tokens.values())
            errors[method].append(max(abs(tokens[s.name] / total - s.weight) for s in spec.sources))
    lines = ["| selection | max share error, mean over seeds (pp) | worst seed (pp) |", "|---|---:|---:|"]
    for method, errs in errors.items():
        lines.append(f"| {method} | {100 * statistics.mean(errs):.4f} | {100 * max(errs):.4f} |")
    return lines


def run() -> str:
    from pipelines.jobs.tokenize import run_tokenize_job
    from tokenizer.encode import load_tokenizer
    from tokenizer.train import train_tokenizer

    sources = real_sources()
    lines = ["| mixture | source | documents (of) | tokens | epochs | requested share | achieved share | error (pp) "
             "| identical w1/w2 | seconds |", "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    with tempfile.TemporaryDirectory() as root:
        for name, docs in sources.items():
            with open(os.path.join(root, f"{name}.jsonl"), "w", encoding="utf-8") as f:
                f.writelines(json.dumps(d) + "\n" for d in docs)
        tok_dir = os.path.join(root, "tok")
        train_tokenizer(root, vocab_size=8192, output_dir=tok_dir, seed=0)
        tok = load_tokenizer(tok_dir)
        lengths = {name: [(d["id"], len(ids) + 1) for d, ids in
                          zip(docs, tok.encode_batch_arrays([d["text"] for d in docs]))]
                   for name, docs in sources.items()}
        natural = sum(sum(n for _, n in v) for v in lengths.values())
        digests_checked = False
        for label, entries in MIXTURES.items():
            mix = write_mixture(root, entries, 2 * natural)
            digests, seconds, manifest = [], 0.0, None
            for workers in ((1, 2) if not digests_checked else (1,)):
                out = os.path.join(root, f"out-{workers}")
                start = time.perf_counter()
                manifest = run_tokenize_job(None, tok_dir, out, SEQ_LEN, mixture=mix, workers=workers).manifest
                seconds = seconds or time.perf_counter() - start
                digests.append(digest(out))
            identical = str(digests[0] == digests[1]) if len(digests) == 2 else "-"
            digests_checked = True
            for s in manifest.mixture["sources"]:
                lines.append(f"| {label} | {s['name']} | {s['documents']:,} ({s['available_documents']:,}) | "
                             f"{s['tokens']:,} | {s['epochs']:.3f} | {s['requested_share']:.4%} | {s['share']:.4%} | "
                             f"{100 * (s['share'] - s['requested_share']):+.3f} | {identical} | "
                             f"{seconds:.1f} |")
        lines += [""] + selection_table(lengths)
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
