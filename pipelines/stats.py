"""`winnow stats PATH`: what is in a documents directory or a token-shards directory.

Reads Parquet row group by row group (only the columns it needs), so memory stays flat as outputs grow.
A documents directory (written by `curate`) gives counts and characters by source and language, length
quantiles, the filter funnel from report.json, dedup cluster sizes, top domains and code languages. A
shards directory gives totals from the manifest, checked against the files' own metadata, padding and
truncation, segment lengths in tokens and the most frequent tokens (decoded when a tokenizer is found).
"""
from __future__ import annotations

import argparse
import collections
import html
import json
import os
import sys
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import urlsplit

import numpy as np
import pyarrow.parquet as pq

from schemas.io import document_files
from schemas import (CODE_LANGUAGE, DEDUP_CLUSTER_SIZE, DOC_LENGTHS, LANGUAGE, MANIFEST_NAME, SOURCE, TEXT, TOKENS,
                     URL, Manifest, Report)

QUANTILES = (0.1, 0.5, 0.9, 0.99)


def iter_batches(files: List[str], columns: List[str]) -> Iterator[Any]:
    for f in files:
        pf = pq.ParquetFile(f)
        present = [c for c in columns if c in pf.schema_arrow.names]
        for i in range(pf.num_row_groups):
            yield pf.read_row_group(i, columns=present)


class _Reservoir:
    """Bounded sample of values for quantiles (deterministic: a fixed-seed reservoir)."""

    def __init__(self, size: int = 100_000, seed: int = 0):
        self.size, self.seen, self.values = size, 0, []
        self.rng = np.random.default_rng(seed)

    def extend(self, values) -> None:
        for v in values:
            self.seen += 1
            if len(self.values) < self.size:
                self.values.append(v)
            else:
                j = int(self.rng.integers(0, self.seen))
                if j < self.size:
                    self.values[j] = v

    def quantiles(self) -> Dict[str, float]:
        if not self.values:
            return {}
        arr = np.asarray(self.values)
        out = {f"p{int(q * 100)}": float(np.quantile(arr, q)) for q in QUANTILES}
        out.update(min=float(arr.min()), max=float(arr.max()), mean=float(arr.mean()))
        return out


def _cluster_bucket(size: int) -> str:
    for hi, label in ((1, "1"), (2, "2"), (5, "3-5"), (10, "6-10"), (100, "11-100")):
        if size <= hi:
            return label
    return ">100"


def documents_stats(path: str, top: int = 10) -> Dict[str, Any]:
    files = [f for f in document_files(path) if f.endswith(".parquet")]
    if not files:
        raise FileNotFoundError(f"no documents Parquet files under {path} (expected {path}/documents/*.parquet)")
    by_source: Dict[str, Dict[str, int]] = collections.defaultdict(lambda: {"documents": 0, "characters": 0})
    by_language: Dict[str, Dict[str, int]] = collections.defaultdict(lambda: {"documents": 0, "characters": 0})
    domains: collections.Counter = collections.Counter()
    code_languages: collections.Counter = collections.Counter()
    clusters: collections.Counter = collections.Counter()
    lengths = _Reservoir()
    total_docs = total_chars = 0
    import pyarrow.compute as pc

    for batch in iter_batches(files, [TEXT, SOURCE, LANGUAGE, URL, CODE_LANGUAGE, DEDUP_CLUSTER_SIZE]):
        n_chars = pc.utf8_length(batch.column(TEXT)).to_numpy(zero_copy_only=False)
        sources = batch.column(SOURCE).to_pylist()
        languages = batch.column(LANGUAGE).to_pylist() if LANGUAGE in batch.column_names else [None] * batch.num_rows
        for src, lang, nc in zip(sources, languages, n_chars):
            by_source[src]["documents"] += 1
            by_source[src]["characters"] += int(nc)
            key = lang or "unknown"
            by_language[key]["documents"] += 1
            by_language[key]["characters"] += int(nc)
        lengths.extend(n_chars.tolist())
        total_docs += batch.num_rows
        total_chars += int(n_chars.sum())
        if URL in batch.column_names:
            for url in batch.column(URL).to_pylist():
                if url:
                    domains[urlsplit(url).hostname or "?"] += 1
        if CODE_LANGUAGE in batch.column_names:
            code_languages.update(c for c in batch.column(CODE_LANGUAGE).to_pylist() if c)
        if DEDUP_CLUSTER_SIZE in batch.column_names:
            clusters.update(_cluster_bucket(int(s or 1)) for s in batch.column(DEDUP_CLUSTER_SIZE).to_pylist())
    stats: Dict[str, Any] = {
        "kind": "documents", "path": path, "files": len(files), "documents": total_docs, "characters": total_chars,
        "by_source": dict(sorted(by_source.items())), "by_language": dict(sorted(by_language.items(),
                                                                                  key=lambda kv: -kv[1]["documents"])),
        "length_chars": lengths.quantiles(),
        "dedup_cluster_sizes": {k: clusters[k] for k in ("1", "2", "3-5", "6-10", "11-100", ">100") if clusters[k]},
        "top_domains": domains.most_common(top), "top_code_languages": code_languages.most_common(top),
    }
    report_path = os.path.join(path, "report.json") if os.path.isdir(path) else None
    if report_path and os.path.exists(report_path):
        report = Report.load(report_path)
        stats["funnel"] = [s.to_json() for s in report.stages]
        stats["funnel_balanced"] = all(s.balanced for s in report.stages)
    return stats


def _find_tokenizer(shards_dir: str, explicit: Optional[str]) -> Optional[str]:
    candidates = [explicit] if explicit else [os.path.join(shards_dir, "..", "tokenizer", "tokenizer.json"),
                                              os.path.join(shards_dir, "tokenizer.json")]
    for c in candidates:
        if c and os.path.isdir(c):
            c = os.path.join(c, "tokenizer.json")
        if c and os.path.isfile(c):
            return c
    return None


def shards_stats(path: str, tokenizer: Optional[str] = None, top: int = 20) -> Dict[str, Any]:
    manifest = Manifest.load(os.path.join(path, MANIFEST_NAME))
    checks: List[str] = []
    counts = np.zeros(1 << 16 if manifest.dtype == "uint16" else 1 << 20, dtype=np.int64)
    seg_lengths = _Reservoir()
    sequences = 0
    for shard in manifest.shards:
        f = os.path.join(path, shard.path)
        if not os.path.exists(f):
            checks.append(f"missing shard {shard.path}")
            continue
        size = os.path.getsize(f)
        if size != shard.bytes:
            checks.append(f"{shard.path}: {size} bytes on disk, manifest says {shard.bytes}")
        if manifest.file_format != "parquet":
            continue
        pf = pq.ParquetFile(f)
        if pf.metadata.num_rows != shard.sequences:
            checks.append(f"{shard.path}: {pf.metadata.num_rows} rows, manifest says {shard.sequences}")
        sequences += pf.metadata.num_rows
        for i in range(pf.num_row_groups):
            rg = pf.read_row_group(i, columns=[TOKENS, DOC_LENGTHS])
            flat = rg.column(TOKENS).combine_chunks().values.to_numpy(zero_copy_only=False)
            ids = flat.astype(np.int64)
            if ids.size and ids.max() >= counts.size:
                counts = np.concatenate([counts, np.zeros(int(ids.max()) + 1 - counts.size, np.int64)])
            counts += np.bincount(ids, minlength=counts.size)[: counts.size]
            seg_lengths.extend(rg.column(DOC_LENGTHS).combine_chunks().values.to_numpy(zero_copy_only=False).tolist())
    pad_id = manifest.tokenizer.special_ids.get("<|pad|>")
    if pad_id is not None and pad_id < counts.size:
        counts[pad_id] = 0
    top_ids = [int(i) for i in np.argsort(-counts, kind="stable")[:top] if counts[i] > 0]
    tok_path = _find_tokenizer(path, tokenizer)
    decoded = {}
    if tok_path:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(tok_path)
        decoded = {i: tok.decode([i]) for i in top_ids}
    stats = {
        "kind": "shards", "path": path, "format": manifest.format, "seq_len": manifest.seq_len,
        "dtype": manifest.dtype, "tokenizer_sha256": manifest.tokenizer.sha256,
        "vocab_size": manifest.tokenizer.vocab_size, "totals": vars(manifest.totals),
        "by_source": {k: vars(v) for k, v in sorted(manifest.sources.items())},
        "packing": vars(manifest.packing), "shards": len(manifest.shards),
        "segment_length_tokens": seg_lengths.quantiles(),
        "top_tokens": [{"id": i, "count": int(counts[i]), "text": decoded.get(i)} for i in top_ids],
        "manifest_checks": checks or ["ok"],
    }
    if not checks and sequences != manifest.totals.sequences and manifest.file_format == "parquet":
        stats["manifest_checks"] = [f"{sequences} rows in files, manifest totals say {manifest.totals.sequences}"]
    return stats


def compute_stats(path: str, tokenizer: Optional[str] = None) -> Dict[str, Any]:
    if os.path.exists(os.path.join(path, MANIFEST_NAME)):
        return shards_stats(path, tokenizer)
    return documents_stats(path)


def _table(rows: List[List[Any]], headers: List[str]) -> str:
    cells = [headers] + [[f"{c:,}" if isinstance(c, int) else (f"{c:.4f}" if isinstance(c, float) else str(c))
                          for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_stats(stats: Dict[str, Any]) -> str:
    out = [f"{stats['kind']}: {stats['path']}"]
    if stats["kind"] == "documents":
        out.append(f"{stats['documents']:,} documents, {stats['characters']:,} characters in {stats['files']} files")
        out.append("\nby source\n" + _table([[k, v["documents"], v["characters"]] for k, v in stats["by_source"].items()],
                                            ["source", "documents", "characters"]))
        out.append("\nby language (top 15)\n" + _table(
            [[k, v["documents"], v["characters"]] for k, v in list(stats["by_language"].items())[:15]],
            ["language", "documents", "characters"]))
        out.append("\nlength in characters: " + ", ".join(f"{k}={v:,.0f}" for k, v in stats["length_chars"].items()))
        if stats.get("funnel"):
            out.append("\nfilter funnel (report.json)\n" + _table(
                [[s["name"], s["in"], s["kept"], sum(s["dropped"].values()), s["errors"],
                  ", ".join(f"{k}={v}" for k, v in sorted(s["dropped"].items(), key=lambda kv: -kv[1])[:3])]
                 for s in stats["funnel"]], ["stage", "in", "kept", "dropped", "errors", "top reasons"]))
        out.append("\ndedup cluster sizes: " + ", ".join(f"{k}: {v:,}" for k, v in stats["dedup_cluster_sizes"].items()))
        if stats["top_domains"]:
            out.append("top domains: " + ", ".join(f"{d} ({n})" for d, n in stats["top_domains"]))
        if stats["top_code_languages"]:
            out.append("top code languages: " + ", ".join(f"{d} ({n})" for d, n in stats["top_code_languages"]))
    else:
        t = stats["totals"]
        out.append(f"{t['sequences']:,} sequences of {stats['seq_len']}+1 {stats['dtype']} tokens in {stats['shards']} shards; "
                   f"{t['documents']:,} documents, {t['non_pad_tokens']:,} non-pad of {t['tokens']:,} tokens")
        p = stats["packing"]
        out.append(f"packing {p['method']}: pad {p['pad_fraction']:.2%}, truncated {p['truncated_fraction']:.2%}")
        out.append("\nby source\n" + _table([[k, v["documents"], v["tokens"]] for k, v in stats["by_source"].items()],
                                            ["source", "documents", "tokens"]))
        out.append("\nsegment length in tokens: " + ", ".join(f"{k}={v:,.0f}" for k, v in stats["segment_length_tokens"].items()))
        out.append("top tokens: " + ", ".join(f"{t['text']!r}" if t["text"] is not None else str(t["id"])
                                              for t in stats["top_tokens"][:15]))
        out.append("manifest checks: " + "; ".join(stats["manifest_checks"]))
    return "\n".join(out)


def format_html(stats: Dict[str, Any]) -> str:
    body = html.escape(format_stats(stats))
    data = html.escape(json.dumps(stats, indent=2, default=str))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Winnow stats: {html.escape(stats['path'])}</title>"
            f"</head><body><h1>Winnow stats</h1><pre>{body}</pre><details><summary>JSON</summary><pre>{data}</pre>"
            f"</details></body></html>\n")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a documents directory (from curate) or a shards directory (with manifest.json)")
    parser.add_argument("--json", action="store_true", help="print JSON (stable keys) instead of tables")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report to FILE")
    parser.add_argument("--tokenizer", help="tokenizer.json or its directory, to decode top tokens of shards")


def main(args: argparse.Namespace) -> int:
    stats = compute_stats(args.path, args.tokenizer)
    if args.json:
        json.dump(stats, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(format_stats(stats))
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(format_html(stats))
        print(f"HTML report: {args.html}", file=sys.stderr)
    return 0
