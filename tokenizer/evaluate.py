"""How well a tokenizer compresses a corpus: UTF-8 bytes per token, per source and per language, against a baseline.

The documents evaluated are the `max_docs` with the smallest (seed, id) hashes (a bounded heap while
streaming), so the figure is reproducible and does not favour whichever file comes first; each is encoded up to
its first `max_doc_chars` characters. The report's `sample` says so: documents available and chosen, the caps,
the seed, and how many chosen documents were cut.

- bytes per token: UTF-8 bytes of the text over tokens, in total, per source and per language (higher is better).
- vocabulary utilisation: the fraction of the vocabulary's ids that occur at least once in the encoded sample; a
  low value on in-domain text means merges were spent on strings this corpus does not use.
- whole-word share: the fraction of tokens whose span is exactly one word (a maximal run of letters, optionally
  with the one space before it), i.e. words the vocabulary holds whole; the rest are pieces of words, numbers,
  punctuation and whitespace.

The baseline (`--baseline DIR`, by default DIR/baseline written by `winnow tokenizer train --baseline`) is the
plain HF byte-level setup (GPT-2's regex) trained on the same sample with the same vocabulary size; the report
adds its figures and `vs_baseline`, Winnow's bytes per token over the baseline's (above 1: Winnow compresses
better).
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from schemas import ID, LANGUAGE, SOURCE, TEXT
from schemas.arguments import positive_int, seed_number
from schemas.io import iter_documents
from schemas.progress import Progress, counted
from tokenizer.encode import TokenizerHandle, load_tokenizer, tokenizer_file
from tokenizer.train import BASELINE_DIR, sample_hash

DEFAULT_MAX_DOCS = 2000
DEFAULT_MAX_DOC_CHARS = 100_000

WORD_RE = re.compile(r"[^\W\d_]+")  # a maximal run of letters (Unicode \w minus digits and underscore)


def word_spans(text: str) -> Dict[int, int]:
    """start -> end of every word in `text`."""
    return {m.start(): m.end() for m in WORD_RE.finditer(text)}


def whole_word_tokens(text: str, offsets: Sequence[Tuple[int, int]]) -> int:
    """How many tokens span exactly one word of `text` (a leading space included in the token is allowed)."""
    words = word_spans(text)
    n = 0
    for start, end in offsets:
        if start < end and text[start] == " ":
            start += 1
        if words.get(start) == end:
            n += 1
    return n


def _ratio(entry: Dict[str, int]) -> Dict[str, Any]:
    out: Dict[str, Any] = dict(entry)
    out["bytes_per_token"] = entry["bytes"] / entry["tokens"] if entry["tokens"] else 0.0
    out["whole_word_share"] = entry["whole_word_tokens"] / entry["tokens"] if entry["tokens"] else 0.0
    return out


def choose_documents(docs_path: str, max_docs: int, seed: int,
                     progress: Optional[Progress] = None) -> Tuple[List[Dict[str, Any]], int]:
    """(the chosen documents, how many documents with text there were to choose from). Every document is read
    (the sample is the `max_docs` smallest hashes of the ids); `progress` counts them (`read`)."""
    available = [0]
    docs = iter_documents(docs_path)

    def keyed():
        for d in counted(docs, progress, "read"):
            if d[TEXT]:
                available[0] += 1
                yield sample_hash(d[ID], seed), d[ID], d

    chosen: List[Tuple[int, str, Dict[str, Any]]] = heapq.nsmallest(max_docs, keyed(), key=lambda k: (k[0], k[1]))
    return [d for _, _, d in chosen], available[0]


def evaluate_documents(tok: TokenizerHandle, docs: Sequence[Dict[str, Any]], max_doc_chars: int = DEFAULT_MAX_DOC_CHARS,
                       batch_size: int = 256) -> Dict[str, Any]:
    """The compression report of one tokenizer on already chosen documents."""
    zero = {"documents": 0, "bytes": 0, "tokens": 0, "whole_word_tokens": 0}
    totals = dict(zero)
    by_source: Dict[str, Dict[str, int]] = {}
    by_language: Dict[str, Dict[str, int]] = {}
    seen = set()
    for start in range(0, len(docs), batch_size):
        batch = docs[start:start + batch_size]
        texts = [d[TEXT][:max_doc_chars] for d in batch]
        for doc, text, (ids, offsets) in zip(batch, texts, tok.encode_batch_with_offsets(texts)):
            counts = {"documents": 1, "bytes": len(text.encode("utf-8", "surrogatepass")), "tokens": len(ids),
                      "whole_word_tokens": whole_word_tokens(text, offsets)}
            seen.update(ids)
            for entry in (totals, by_source.setdefault(doc[SOURCE], dict(zero)),
                          by_language.setdefault(doc.get(LANGUAGE) or "unknown", dict(zero))):
                for k, v in counts.items():
                    entry[k] += v
    return {
        "tokenizer": {"sha256": tok.sha256, "vocab_size": tok.vocab_size},
        **_ratio(totals),
        "vocab_utilisation": len(seen) / tok.vocab_size,
        "sources": {k: _ratio(by_source[k]) for k in sorted(by_source)},
        "languages": {k: _ratio(by_language[k]) for k in sorted(by_language)},
    }


def _vs(ours: Dict[str, Any], base: Dict[str, Any]) -> float:
    return ours["bytes_per_token"] / base["bytes_per_token"] if base["bytes_per_token"] else 0.0


def default_baseline(tokenizer_path: str) -> Optional[str]:
    base = os.path.join(os.path.dirname(tokenizer_file(tokenizer_path)), BASELINE_DIR)
    return base if os.path.isfile(tokenizer_file(base)) else None


def evaluate_tokenizer(tokenizer_path: str, docs_path: str, max_docs: int = DEFAULT_MAX_DOCS,
                       max_doc_chars: int = DEFAULT_MAX_DOC_CHARS, seed: int = 0, batch_size: int = 256,
                       baseline_path: Optional[str] = None, progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Report of `tokenizer_path` on the chosen documents; with a baseline, its report and the ratios too.
    `progress` counts the documents read to choose the sample (schemas/progress.py)."""
    docs, available = choose_documents(docs_path, max_docs, seed, progress)
    # no special token is required: eval encodes text only, and a baseline may be GPT-2's (no <|pad|>)
    report = evaluate_documents(load_tokenizer(tokenizer_path, required=()), docs, max_doc_chars, batch_size)
    # what the figures were measured on: a sample of the documents, each cut to its first max_doc_chars
    report["sample"] = {"documents_available": available, "documents": len(docs), "max_docs": max_docs,
                        "seed": seed, "max_doc_chars": max_doc_chars,
                        "documents_cut": sum(len(d[TEXT]) > max_doc_chars for d in docs)}
    if baseline_path:
        base = evaluate_documents(load_tokenizer(baseline_path, required=()), docs, max_doc_chars, batch_size)
        report["baseline"] = base
        report["vs_baseline"] = {
            "bytes_per_token": _vs(report, base),
            "sources": {k: _vs(report["sources"][k], base["sources"][k]) for k in report["sources"]},
            "languages": {k: _vs(report["languages"][k], base["languages"][k]) for k in report["languages"]},
        }
    return report


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--tokenizer", required=True, help="directory with tokenizer.json (or the file)")
    parser.add_argument("--input", required=True, help="documents: curate output dir, dir/file/glob of .parquet or .jsonl")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--baseline", help="tokenizer to compare with (default: TOKENIZER_DIR/baseline when "
                                          "`winnow tokenizer train --baseline` wrote one)")
    which.add_argument("--no-baseline", action="store_true", help="do not compare with a baseline")
    parser.add_argument("--max-docs", type=positive_int, default=DEFAULT_MAX_DOCS, help=f"documents evaluated (default {DEFAULT_MAX_DOCS}), each up to its "
                                                                                   f"first {DEFAULT_MAX_DOC_CHARS:,} characters")
    parser.add_argument("--seed", type=seed_number, default=0, help="which documents are sampled (default 0)")
    return parser


def main(args: Any = None) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args = configure_parser(argparse.ArgumentParser(prog="winnow tokenizer eval")).parse_args(args)
    baseline = None if args.no_baseline else (args.baseline or default_baseline(args.tokenizer))
    with Progress("tokenizer eval", ("read",), unit="docs") as progress:
        report = evaluate_tokenizer(args.tokenizer, args.input, max_docs=args.max_docs, seed=args.seed,
                                    baseline_path=baseline, progress=progress)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
