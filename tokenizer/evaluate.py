"""How well a tokenizer compresses a corpus: UTF-8 bytes per token, per source and per language.

The documents evaluated are the `max_docs` with the smallest (seed, id) hashes (a bounded heap while
streaming), so the figure is reproducible and does not favour whichever file comes first. Vocabulary
utilisation is the fraction of the vocabulary's ids that occur at least once in the encoded sample: a low
value on in-domain text means merges were spent on strings this corpus does not use.
"""
from __future__ import annotations

import argparse
import heapq
import json
from typing import Any, Dict, List, Tuple

from schemas import ID, LANGUAGE, SOURCE, TEXT
from tokenizer.encode import load_tokenizer
from tokenizer.train import iter_documents, sample_hash

DEFAULT_MAX_DOCS = 2000
DEFAULT_MAX_DOC_CHARS = 100_000


def _ratio(entry: Dict[str, int]) -> Dict[str, Any]:
    return {**entry, "bytes_per_token": entry["bytes"] / entry["tokens"] if entry["tokens"] else 0.0}


def evaluate_tokenizer(tokenizer_path: str, docs_path: str, max_docs: int = DEFAULT_MAX_DOCS,
                       max_doc_chars: int = DEFAULT_MAX_DOC_CHARS, seed: int = 0, batch_size: int = 256) -> Dict[str, Any]:
    tok = load_tokenizer(tokenizer_path)
    keyed = ((sample_hash(d[ID], seed), d[ID], d) for d in iter_documents(docs_path) if d[TEXT])
    chosen: List[Tuple[int, str, Dict[str, Any]]] = heapq.nsmallest(max_docs, keyed, key=lambda k: (k[0], k[1]))
    docs = [d for _, _, d in chosen]
    totals = {"documents": 0, "bytes": 0, "tokens": 0}
    by_source: Dict[str, Dict[str, int]] = {}
    by_language: Dict[str, Dict[str, int]] = {}
    seen = set()
    for start in range(0, len(docs), batch_size):
        batch = docs[start:start + batch_size]
        texts = [d[TEXT][:max_doc_chars] for d in batch]
        for doc, text, ids in zip(batch, texts, tok.encode_batch(texts)):
            n_bytes = len(text.encode("utf-8", "surrogatepass"))
            seen.update(ids)
            for table, key in ((by_source, doc[SOURCE]), (by_language, doc.get(LANGUAGE) or "unknown")):
                entry = table.setdefault(key, {"documents": 0, "bytes": 0, "tokens": 0})
                entry["documents"] += 1
                entry["bytes"] += n_bytes
                entry["tokens"] += len(ids)
            totals["documents"] += 1
            totals["bytes"] += n_bytes
            totals["tokens"] += len(ids)
    return {
        "tokenizer": {"sha256": tok.sha256, "vocab_size": tok.vocab_size},
        **_ratio(totals),
        "vocab_utilisation": len(seen) / tok.vocab_size,
        "sources": {k: _ratio(by_source[k]) for k in sorted(by_source)},
        "languages": {k: _ratio(by_language[k]) for k in sorted(by_language)},
    }


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--tokenizer", required=True, help="directory with tokenizer.json (or the file)")
    parser.add_argument("--input", required=True, help="documents: curate output dir, dir/file/glob of .parquet or .jsonl")
    parser.add_argument("--max-docs", type=int, default=DEFAULT_MAX_DOCS, help=f"documents evaluated (default {DEFAULT_MAX_DOCS})")
    parser.add_argument("--seed", type=int, default=0, help="which documents are sampled (default 0)")
    return parser


def main(args: Any = None) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args = configure_parser(argparse.ArgumentParser(prog="winnow tokenizer eval")).parse_args(args)
    report = evaluate_tokenizer(args.tokenizer, args.input, max_docs=args.max_docs, seed=args.seed)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
