"""Train a byte-level BPE tokenizer (HF tokenizers) on a bounded, reproducible sample of documents.

The model follows the library idiom (as nanochat's `tok_train.py` does): `Tokenizer(models.BPE())`, a
GPT-4-style regex split followed by a byte-level mapping, a ByteLevel decoder and a `BpeTrainer` seeded with
the 256-symbol byte alphabet, so every string round-trips and no input is ever unknown.

Sampling is streaming and bounded. Documents are read one Parquet row group (or one JSONL line) at a time;
each document gets a 64-bit hash of (seed, id). A document is a candidate when its hash falls under
`sample_rate`; among candidates we keep the longest prefix in hash order whose characters (each document cut
to `max_doc_chars`) fit in `max_chars`. A heap of kept documents plus a rejection threshold keep that
prefix exactly while streaming, so memory is bounded by `max_chars` and the sample does not depend on the
order of files or rows: the same documents and seed give the same sample, fed to the trainer in hash order.

The HF trainer counts words in hash maps and merges in parallel with rayon; we measured tokenizer.json
byte-identical across repeated trainings on the same sample (ties between equally frequent pairs are broken
by the pair itself, not by map order), and `tests/test_tokenizer.py` keeps checking it.
"""
from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Tuple

from schemas import ID, SOURCE, TEXT
from schemas.io import iter_documents  # noqa: F401  (re-exported for callers)

# cl100k's split pattern with the possessive quantifiers removed: Oniguruma reads `\p{N}{1,3}+` as
# `(\p{N}{1,3})+`, which would let digit runs of any length through as one piece. Without possessives the
# other alternatives match the same spans (their greedy matches never need to backtrack).
GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)

EOT_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
FIM_TOKENS = ("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>")

TOKENIZER_FILE = "tokenizer.json"
META_FILE = "tokenizer_meta.json"
META_FORMAT = "winnow.tokenizer/1"

DEFAULT_MAX_CHARS = 50_000_000
DEFAULT_MAX_DOC_CHARS = 10_000


def special_tokens(fim: bool = False) -> List[str]:
    return [EOT_TOKEN, PAD_TOKEN] + (list(FIM_TOKENS) if fim else [])


def sample_hash(doc_id: str, seed: int) -> int:
    """A 64-bit hash of (seed, id): the only source of randomness in sampling, packing and shuffling."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{doc_id}".encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "big")


# ---------------------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------------------

@dataclass
class SampleStats:
    documents_seen: int = 0
    documents: int = 0
    chars: int = 0
    sources: Dict[str, Dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"documents_seen": self.documents_seen, "documents": self.documents, "chars": self.chars,
                "sources": {k: self.sources[k] for k in sorted(self.sources)}}


def sample_documents(docs: Iterator[Dict[str, Any]], seed: int = 0, max_chars: int = DEFAULT_MAX_CHARS,
                     max_doc_chars: int = DEFAULT_MAX_DOC_CHARS,
                     sample_rate: float = 1.0) -> Tuple[List[str], SampleStats]:
    """The longest prefix, in (seed, id)-hash order, of candidate documents that fits in `max_chars`.

    Returns the texts (each cut to `max_doc_chars`) in hash order, and what was taken per source.
    """
    if max_chars <= 0 or max_doc_chars <= 0:
        raise ValueError("max_chars and max_doc_chars must be positive")
    rate_cut = int(min(max(sample_rate, 0.0), 1.0) * (1 << 64))
    heap: List[Tuple[int, str, str, str]] = []  # (-hash, id, source, text): the max hash sits on top
    total = 0
    threshold = 1 << 64  # every document hashing at or above this is known not to fit
    seen = 0
    for doc in docs:
        seen += 1
        text = doc[TEXT]
        if not text:
            continue
        h = sample_hash(doc[ID], seed)
        if h >= rate_cut or h >= threshold:
            continue
        text = text[:max_doc_chars]
        heapq.heappush(heap, (-h, doc[ID], doc[SOURCE], text))
        total += len(text)
        while total > max_chars:
            neg_h, _, _, dropped = heapq.heappop(heap)
            total -= len(dropped)
            threshold = min(threshold, -neg_h)
    kept = sorted(heap, key=lambda item: (-item[0], item[1]))
    stats = SampleStats(documents_seen=seen, documents=len(kept), chars=total)
    for _, _, source, text in kept:
        s = stats.sources.setdefault(source, {"documents": 0, "chars": 0})
        s["documents"] += 1
        s["chars"] += len(text)
    return [item[3] for item in kept], stats


# ---------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------

def build_tokenizer():
    """An untrained byte-level BPE tokenizer with the split pattern and ByteLevel decoder."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4_SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_from_texts(texts: List[str], vocab_size: int, fim: bool = False):
    from tokenizers import pre_tokenizers, trainers

    specials = special_tokens(fim)
    min_vocab = 256 + len(specials)
    if vocab_size < min_vocab:
        raise ValueError(f"vocab_size must be at least {min_vocab} (256 bytes + {len(specials)} special tokens), "
                         f"got {vocab_size}")
    tok = build_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=specials, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def train_tokenizer(input_path: str, vocab_size: int, output_dir: str, seed: int = 0,
                    max_chars: int = DEFAULT_MAX_CHARS, max_doc_chars: int = DEFAULT_MAX_DOC_CHARS,
                    fim: bool = False, sample_rate: float = 1.0) -> Dict[str, Any]:
    """Train on a sample of the documents at `input_path`; write tokenizer.json and tokenizer_meta.json."""
    from filters.models import sha256_file

    texts, stats = sample_documents(iter_documents(input_path, (ID, SOURCE, TEXT)), seed=seed, max_chars=max_chars,
                                    max_doc_chars=max_doc_chars, sample_rate=sample_rate)
    if not texts:
        raise ValueError(f"no non-empty documents sampled from {input_path!r}")
    tok = train_from_texts(texts, vocab_size, fim=fim)
    os.makedirs(output_dir, exist_ok=True)
    tok_path = os.path.join(output_dir, TOKENIZER_FILE)
    tok.save(tok_path, pretty=False)
    import tokenizers

    meta = {
        "format": META_FORMAT,
        "sha256": sha256_file(tok_path),
        "vocab_size": tok.get_vocab_size(),
        "requested_vocab_size": vocab_size,
        "special_ids": {t: tok.token_to_id(t) for t in special_tokens(fim)},
        "split_pattern": GPT4_SPLIT_PATTERN,
        "seed": seed,
        "max_chars": max_chars,
        "max_doc_chars": max_doc_chars,
        "sample_rate": sample_rate,
        "sample": stats.to_json(),
        "versions": {"tokenizers": tokenizers.__version__},
    }
    with open(os.path.join(output_dir, META_FILE), "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


# ---------------------------------------------------------------------------------------------------------
# CLI: winnow tokenizer train
# ---------------------------------------------------------------------------------------------------------

def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--input", required=True, help="documents: curate output dir, dir/file/glob of .parquet or .jsonl")
    parser.add_argument("--vocab-size", type=int, required=True, help="vocabulary size including special tokens")
    parser.add_argument("--output", required=True, help="directory for tokenizer.json and tokenizer_meta.json")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                        help=f"characters of training text in total (default {DEFAULT_MAX_CHARS:,})")
    parser.add_argument("--max-doc-chars", type=int, default=DEFAULT_MAX_DOC_CHARS,
                        help=f"characters taken from each document (default {DEFAULT_MAX_DOC_CHARS:,})")
    parser.add_argument("--sample-rate", type=float, default=1.0, help="fraction of documents eligible (default 1)")
    parser.add_argument("--fim", action="store_true", help="add fill-in-the-middle special tokens")
    return parser


def main(args: Any = None) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args = configure_parser(argparse.ArgumentParser(prog="winnow tokenizer train")).parse_args(args)
    meta = train_tokenizer(args.input, args.vocab_size, args.output, seed=args.seed, max_chars=args.max_chars,
                           max_doc_chars=args.max_doc_chars, fim=args.fim, sample_rate=args.sample_rate)
    print(f"tokenizer: {os.path.join(args.output, TOKENIZER_FILE)} vocab_size={meta['vocab_size']} "
          f"sha256={meta['sha256'][:12]} sample={meta['sample']['documents']} docs / {meta['sample']['chars']:,} chars")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
