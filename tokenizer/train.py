"""Train a byte-level BPE tokenizer (HF tokenizers) on a bounded, reproducible sample of documents.

The model follows the library idiom (as nanochat's `tok_train.py` does): `Tokenizer(models.BPE())`, a
GPT-4-style regex split (`pre_tokenizers.Split(Regex(...))`) followed by `ByteLevel(use_regex=False)`, a
ByteLevel decoder and a `BpeTrainer` seeded with the 256-symbol byte alphabet, so every string round-trips and
no input is ever unknown.

Sampling streams twice over the input and never holds the corpus (nor the sample) in memory. Pass 1 reads
(id, source, text length) one Parquet row group or JSONL line at a time; each document gets a 64-bit hash of
(seed, id). A document is a candidate when its hash falls under `sample_rate`. Candidates are grouped by
source weight (`--source-weight web=3 --source-weight code=1`: a source's share of `max_chars`; `*` names every
source not listed; without weights one group holds all sources), and each group keeps the longest prefix in
hash order whose characters (each document cut to `max_doc_chars`) fit in its budget: a heap of
(hash, id, text digest, length) plus a rejection threshold keep that prefix exactly while streaming. Rows that
share an id (two files both numbering from 0) are ordered by a digest of their source and text, so only
identical rows tie and which of them is kept cannot matter. Pass 2 streams the documents again and feeds the
kept ones, cut, to the trainer: exactly the rows counted in the statistics. The sample depends only on the
multiset of documents, the seed and the caps, never on the order of files or rows. Memory is the trainer's (its word counts), measured in
the README.

Determinism. The trainer counts words in hash maps with randomised hashers and in parallel (rayon), but every
quantity it derives from them is a sum (word counts, pair counts), the byte alphabet is sorted before ids are
given, and the merge queue orders pairs by (count, then smaller pair ids): with distinct keys the order in which
entries were pushed cannot matter. So the result depends on the multiset of pre-tokenized words only, not on
feeding order, thread count or map order; `tests/test_tokenizer.py` checks byte-identical tokenizer.json across
processes, RAYON_NUM_THREADS 1/2/4, reversed feeding order and a corpus built of equal-frequency ties. The one
path where two queue entries can share a key (a token produced by two different merges, after which stale and
fresh entries of one pair coexist) is counted in tokenizer_meta.json as `duplicate_merge_tokens`. The trainer
counts pairs in i32: samples are capped below 2**31 characters.
"""
from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from schemas import ID, SOURCE, TEXT
from schemas.arguments import fraction_over_zero, seed_number
from schemas.io import iter_documents
from schemas.progress import Progress, counted, hand_over_terminal

# cl100k's split pattern with the possessive quantifiers removed: Oniguruma reads `\p{N}{1,3}+` as
# `(\p{N}{1,3})+`, which would let digit runs of any length through as one piece. Without possessives the
# other alternatives match the same spans (their greedy matches never need to backtrack).
CL100K_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)

# Winnow's default: cl100k's pattern with two changes, each measured against the GPT-2-style baseline on held-out
# code (benchmarks/bench_tokenizer.py, 8k vocabulary): (1) a digit group may take the space before it
# (` ?\p{N}{1,3}`, as GPT-2's ` ?\p{N}+` does), so `x = 10` or `[1, 2, 3]` do not spend a token per lone space;
# digits still split in groups of at most three; (2) a line break keeps the indentation that follows it, less the
# one space that goes with the next word (`\n` + `   ` + ` return` becomes `\n   ` + ` return`, as GPT-2's
# `\s+(?!\S)` does; `{\n` + `   ` becomes `{\n   `), so an indented line costs one whitespace token, not two.
# Letters split as with cl100k.
_H = r"[^\S\r\n]"  # horizontal whitespace
_INDENT = _H + r"*?(?=" + _H + r"?\S)"  # the indentation after a line break, less one space before a word
WINNOW_SPLIT_PATTERN = (
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+| ?\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+(?:[\r\n]+" + _INDENT + r"|[\r\n]*)"
    r"|\s*[\r\n]" + _INDENT + r"|\s*[\r\n]|\s+(?!\S)|\s+"
)

SPLIT_PATTERNS = {"winnow": WINNOW_SPLIT_PATTERN, "cl100k": CL100K_SPLIT_PATTERN}
DEFAULT_SPLIT = "winnow"

EOT_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
FIM_TOKENS = ("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>")

TOKENIZER_FILE = "tokenizer.json"
META_FILE = "tokenizer_meta.json"
META_FORMAT = "winnow.tokenizer/1"
HF_CONFIG_FILE = "tokenizer_config.json"
HF_SPECIAL_TOKENS_FILE = "special_tokens_map.json"
BASELINE_DIR = "baseline"  # DIR/baseline/: the GPT-2-style tokenizer trained on the same sample (--baseline)

DEFAULT_MAX_CHARS = 50_000_000
DEFAULT_MAX_DOC_CHARS = 10_000
MAX_SAMPLE_CHARS = 2 ** 31 - 1  # the HF trainer counts pairs in i32
ALL_SOURCES = "*"


def special_tokens(fim: bool = False) -> List[str]:
    return [EOT_TOKEN, PAD_TOKEN] + (list(FIM_TOKENS) if fim else [])


def sample_hash(doc_id: str, seed: int) -> int:
    """A 64-bit hash of (seed, id): the only source of randomness in sampling, packing and shuffling."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{doc_id}".encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "big")


SampleKey = Tuple[int, str, bytes]


def sample_key(doc: Mapping[str, Any], seed: int, h: Optional[int] = None) -> SampleKey:
    """A document's place in sampling order: (hash of seed and id, id, digest of source and text). The digest
    orders rows that share an id, so the order, and the sample, do not depend on the input's row order."""
    digest = hashlib.blake2b(f"{doc[SOURCE]}\x00{doc[TEXT]}".encode("utf-8", "surrogatepass"), digest_size=16)
    return (sample_hash(doc[ID], seed) if h is None else h), doc[ID], digest.digest()


# ---------------------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------------------

@dataclass
class SampleStats:
    documents_seen: int = 0
    documents: int = 0
    chars: int = 0
    sources: Dict[str, Dict[str, int]] = field(default_factory=dict)
    budgets: Dict[str, int] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"documents_seen": self.documents_seen, "documents": self.documents, "chars": self.chars,
                "sources": {k: self.sources[k] for k in sorted(self.sources)},
                "budgets": {k: self.budgets[k] for k in sorted(self.budgets)}}


@dataclass(frozen=True)
class SamplePlan:
    """Which documents a sample holds: sample_key -> how many input rows with that key (identical rows) were kept."""
    seed: int
    max_doc_chars: int
    keys: Mapping[SampleKey, int]

    def texts(self, docs: Iterable[Dict[str, Any]]) -> Iterator[str]:
        """The kept documents' texts, cut to max_doc_chars, in input order (the trainer does not depend on it)."""
        left = dict(self.keys)
        hashes = {k[0] for k in left}  # the text digest only for rows whose id hash was kept
        for doc in docs:
            text = doc[TEXT]
            if not text:
                continue
            h = sample_hash(doc[ID], self.seed)
            if h not in hashes:
                continue
            key = sample_key(doc, self.seed, h)
            n = left.get(key)
            if n:
                left[key] = n - 1
                yield text[:self.max_doc_chars]


def parse_source_weights(items: Optional[Iterable[str]]) -> Dict[str, float]:
    """`["web=3", "code=1", "*=0.5"]` -> {"web": 3.0, ...}; a bad item stops before any reading. Weight 0
    excludes a source from `*`; inf, nan and weights whose sum overflows would make every share NaN."""
    weights: Dict[str, float] = {}
    for item in items or ():
        name, sep, value = item.rpartition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not name or weight < 0 or not math.isfinite(weight):
            raise ValueError(f"--source-weight: bad source weight {item!r}: write SOURCE=WEIGHT with a finite "
                             f"weight >= 0 (e.g. web=3, code=1, '*=1' for every other source)")
        if name in weights:
            raise ValueError(f"--source-weight: source {name!r} weighted twice")
        weights[name] = weight
    total = sum(weights.values())
    if weights and not math.isfinite(total):
        raise ValueError(f"--source-weight: the weights sum to {total} (too large to share --max-chars): give "
                         f"weights as ratios of small numbers (e.g. web=3, code=1)")
    if weights and total <= 0:
        raise ValueError("--source-weight: source weights sum to 0: nothing could be sampled")
    return weights


def source_budgets(max_chars: int, weights: Optional[Mapping[str, float]]) -> Dict[str, int]:
    """Characters per sampling group: the weights' shares of max_chars (one group `*` without weights)."""
    if not weights:
        return {ALL_SOURCES: max_chars}
    total = sum(weights.values())
    return {name: int(max_chars * (w / total)) for name, w in weights.items() if w > 0}  # w/total first: no inf


def plan_sample(docs: Iterable[Dict[str, Any]], seed: int = 0, max_chars: int = DEFAULT_MAX_CHARS,
                max_doc_chars: int = DEFAULT_MAX_DOC_CHARS, sample_rate: float = 1.0,
                source_weights: Optional[Mapping[str, float]] = None) -> Tuple[SamplePlan, SampleStats]:
    """Pass 1: per sampling group, the longest prefix in sample_key order that fits the group's budget.

    Holds (key, source, length) of the kept documents only, never their text. When every group's first
    document is over its budget, ValueError says which --max-chars or --max-doc-chars would sample one.
    """
    if max_chars <= 0 or max_doc_chars <= 0:
        raise ValueError("max_chars and max_doc_chars must be positive")
    if max_chars > MAX_SAMPLE_CHARS:
        raise ValueError(f"max_chars must be below 2**31 (the HF trainer counts pairs in i32), got {max_chars:,}")
    budgets = source_budgets(max_chars, source_weights)
    listed = {name for name in (source_weights or {}) if name != ALL_SOURCES}
    rate_cut = int(min(max(sample_rate, 0.0), 1.0) * (1 << 64))
    heaps: Dict[str, List[_Kept]] = {g: [] for g in budgets}  # the largest key on top
    totals = {g: 0 for g in budgets}
    # every document whose key is at or above this is known not to fit (a key's hash is below 2**64)
    thresholds: Dict[str, SampleKey] = {g: (1 << 64, "", b"") for g in budgets}
    first: Dict[str, Tuple[SampleKey, int]] = {}  # per group, the candidate first in key order, and its length
    seen = 0
    present = set()  # the sources of the non-empty documents
    for doc in docs:
        seen += 1
        text = doc[TEXT]
        if not text:
            continue
        source = doc[SOURCE]
        present.add(source)
        group = source if source in listed else ALL_SOURCES
        if group not in budgets:
            continue  # weighted away (not listed, no `*`, or weight 0)
        h = sample_hash(doc[ID], seed)
        if h >= rate_cut or h > thresholds[group][0]:
            continue
        key = sample_key(doc, seed, h)
        if key >= thresholds[group]:
            continue
        length = min(len(text), max_doc_chars)
        if group not in first or key < first[group][0]:
            first[group] = (key, length)
        heap = heaps[group]
        heapq.heappush(heap, _Kept(key, source, length))
        totals[group] += length
        while totals[group] > budgets[group]:
            dropped = heapq.heappop(heap)
            totals[group] -= dropped.length
            thresholds[group] = min(thresholds[group], dropped.key)
    absent = sorted(name for name in listed if source_weights[name] > 0 and name not in present)
    if absent and present:  # a misspelt source (`Web=3`) took its share from the budget and gave it to nothing
        raise ValueError(f"--source-weight names {', '.join(absent)}, which no document has: the documents' sources "
                         f"are {', '.join(sorted(map(str, present)))}")
    if first and not any(heaps.values()):
        raise ValueError(_budget_too_small(first, budgets, max_chars, max_doc_chars, source_weights))
    keys: Dict[SampleKey, int] = {}
    stats = SampleStats(documents_seen=seen, budgets=dict(budgets))
    for group in sorted(heaps):
        for kept in heaps[group]:
            keys[kept.key] = keys.get(kept.key, 0) + 1
            s = stats.sources.setdefault(kept.source, {"documents": 0, "chars": 0})
            s["documents"] += 1
            s["chars"] += kept.length
            stats.documents += 1
            stats.chars += kept.length
    return SamplePlan(seed=seed, max_doc_chars=max_doc_chars, keys=keys), stats


class _Kept:
    """A kept document in a sampling heap, ordered by sample_key reversed: heapq pops the largest key first."""
    __slots__ = ("key", "source", "length")

    def __init__(self, key: SampleKey, source: str, length: int):
        self.key, self.source, self.length = key, source, length

    def __lt__(self, other: "_Kept") -> bool:
        return other.key < self.key


def _budget_too_small(first: Mapping[str, Tuple[SampleKey, int]], budgets: Mapping[str, int], max_chars: int,
                      max_doc_chars: int, weights: Optional[Mapping[str, float]]) -> str:
    """Why nothing was sampled when every group's first document in key order is over the group's budget, and
    the --max-chars (the least that samples some group's first document) or --max-doc-chars that would do."""
    total = sum(weights.values()) if weights else 1.0
    needed = []
    for group, (_, length) in first.items():
        share = (weights[group] / total) if weights else 1.0
        n = math.ceil(length / share)
        while int(n * share) < length:  # source_budgets rounds down
            n += 1
        needed.append((n, group, length))
    n, group, length = min(needed)
    budget = (f"--max-chars {max_chars:,}" if not weights else
              f"each source's share of --max-chars {max_chars:,} ({group!r}: {budgets[group]:,})")
    fix = f"give --max-chars {n:,} or more"
    if max(budgets.values()) > 0:
        fix += f", or --max-doc-chars {max(budgets.values()):,} or less"
    return (f"no documents sampled: {budget} is smaller than every sampled document (the first in sampling order "
            f"has {length:,} characters, at most --max-doc-chars {max_doc_chars:,}): {fix}")


def sample_documents(docs: Iterable[Dict[str, Any]], seed: int = 0, max_chars: int = DEFAULT_MAX_CHARS,
                     max_doc_chars: int = DEFAULT_MAX_DOC_CHARS, sample_rate: float = 1.0,
                     source_weights: Optional[Mapping[str, float]] = None) -> Tuple[List[str], SampleStats]:
    """In-memory convenience over `plan_sample`: the sampled texts in sample_key order, and the statistics."""
    docs = list(docs)
    plan, stats = plan_sample(iter(docs), seed, max_chars, max_doc_chars, sample_rate, source_weights)
    keyed = ((sample_key(d, seed), i) for i, d in enumerate(docs) if d[TEXT])
    kept = sorted((key, i) for key, i in keyed if key in plan.keys)
    return list(plan.texts(docs[i] for _, i in kept)), stats


# ---------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------

def split_pattern(split: str = DEFAULT_SPLIT) -> str:
    """The regex of a named split (`winnow`, `cl100k`)."""
    try:
        return SPLIT_PATTERNS[split]
    except KeyError:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLIT_PATTERNS)}") from None


def build_tokenizer(split: str = DEFAULT_SPLIT):
    """An untrained byte-level BPE tokenizer with a GPT-4-style split pattern and ByteLevel decoder."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split_pattern(split)), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def build_gpt2_baseline():
    """The plain HF byte-level setup (GPT-2's own regex inside ByteLevel), the baseline of every comparison.

    add_prefix_space=False as GPT-2 itself encodes (HF's default True would add a byte and break round trips).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_from_texts(texts: Iterable[str], vocab_size: int, fim: bool = False, length: Optional[int] = None,
                     build: Callable[[], Any] = build_tokenizer, show_progress: bool = False):
    """Train `build()` on `texts` (any iterable; streamed into the trainer) with the byte alphabet and specials;
    `show_progress`: HF tokenizers' own bars on stderr (reading the texts, counting pairs, computing merges)."""
    from tokenizers import pre_tokenizers, trainers

    specials = special_tokens(fim)
    min_vocab = 256 + len(specials)
    if vocab_size < min_vocab:
        raise ValueError(f"vocab_size must be at least {min_vocab} (256 bytes + {len(specials)} special tokens), "
                         f"got {vocab_size}")
    tok = build()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=specials, show_progress=show_progress)
    if length is None and hasattr(texts, "__len__"):
        length = len(texts)  # type: ignore[arg-type]
    tok.train_from_iterator(texts, trainer=trainer, length=length)
    return tok


def duplicate_merge_tokens(tokenizer_json: str) -> int:
    """How many merges produce a token an earlier merge already produced (see the module docstring)."""
    merges = json.loads(tokenizer_json)["model"]["merges"]
    made = [("".join(m) if isinstance(m, list) else m.replace(" ", "", 1)) for m in merges]
    return len(made) - len(set(made))


def hf_config(fim: bool) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """tokenizer_config.json and special_tokens_map.json for `AutoTokenizer.from_pretrained(DIR)`."""
    special_map: Dict[str, Any] = {"eos_token": EOT_TOKEN, "pad_token": PAD_TOKEN}
    if fim:
        special_map["additional_special_tokens"] = list(FIM_TOKENS)
    # No bos/unk: documents are separated by <|endoftext|> and byte-level BPE has no unknown input. Cleaning up
    # "tokenization spaces" would change decoded text (" ." -> "."), so it is off.
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
              "add_bos_token": False, "add_eos_token": False, **special_map}
    return config, special_map


def _write_json(path: str, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _save_tokenizer(tok, output_dir: str) -> Tuple[str, str]:
    os.makedirs(output_dir, exist_ok=True)
    tok_path = os.path.join(output_dir, TOKENIZER_FILE)
    text = tok.to_str(pretty=False)
    with open(tok_path, "w", encoding="utf-8") as f:
        f.write(text)
    return tok_path, hashlib.sha256(text.encode("utf-8")).hexdigest()


def train_tokenizer(input_path: str, vocab_size: int, output_dir: str, seed: int = 0,
                    max_chars: int = DEFAULT_MAX_CHARS, max_doc_chars: int = DEFAULT_MAX_DOC_CHARS,
                    fim: bool = False, sample_rate: float = 1.0,
                    source_weights: Optional[Mapping[str, float]] = None, baseline: bool = False,
                    split: str = DEFAULT_SPLIT, progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Train on a sample of the documents at `input_path`; write tokenizer.json, tokenizer_meta.json and the
    transformers config files (plus `baseline/` trained on the same sample when `baseline`).

    `progress` (schemas/progress.py) counts the documents of pass 1 (`read`: every document, for the sample
    plan) and the sampled texts handed to the trainer (`fed`, for each tokenizer trained). On a terminal it
    is closed after pass 1 and HF tokenizers' own bars show the training instead (two reporters would draw
    over each other on one line)."""
    import tokenizers

    columns = (ID, SOURCE, TEXT)
    docs = iter_documents(input_path, columns)
    plan, stats = plan_sample(counted(docs, progress, "read"), seed=seed, max_chars=max_chars,
                              max_doc_chars=max_doc_chars, sample_rate=sample_rate, source_weights=source_weights)
    bars = hand_over_terminal(progress)  # then `counted` counts nothing: the reporter is closed

    def sampled_texts() -> Iterable[str]:
        return counted(plan.texts(iter_documents(input_path, columns)), progress, "fed")

    pattern = split_pattern(split)
    if not plan.keys:
        if source_weights:  # (the error path only) name the sources the documents do have
            present = sorted({str(d[SOURCE]) for d in iter_documents(input_path, columns) if d[TEXT]})
            raise ValueError(f"no documents sampled from {input_path!r}: --source-weight gives weight to "
                             f"{', '.join(f'{k}={v:g}' for k, v in sorted(source_weights.items()))}, and the "
                             f"documents' sources are {', '.join(present) or 'none (every text is empty)'}")
        raise ValueError(f"no non-empty documents sampled from {input_path!r}")
    tok = train_from_texts(sampled_texts(), vocab_size, fim=fim, length=stats.documents,
                           build=lambda: build_tokenizer(split), show_progress=bars)
    tok_path, sha = _save_tokenizer(tok, output_dir)
    config, special_map = hf_config(fim)
    _write_json(os.path.join(output_dir, HF_CONFIG_FILE), config)
    _write_json(os.path.join(output_dir, HF_SPECIAL_TOKENS_FILE), special_map)
    meta = {
        "format": META_FORMAT,
        "sha256": sha,
        "vocab_size": tok.get_vocab_size(),
        "requested_vocab_size": vocab_size,
        "special_ids": {t: tok.token_to_id(t) for t in special_tokens(fim)},
        "split": split,
        "split_pattern": pattern,
        "pre_tokenizer": "Split(split_pattern, isolated) + ByteLevel(add_prefix_space=False, use_regex=False)",
        "duplicate_merge_tokens": duplicate_merge_tokens(tok.to_str()),
        "seed": seed,
        "max_chars": max_chars,
        "max_doc_chars": max_doc_chars,
        "sample_rate": sample_rate,
        "source_weights": dict(sorted((source_weights or {}).items())),
        "sample": stats.to_json(),
        "versions": {"tokenizers": tokenizers.__version__},
    }
    if baseline:
        base = train_from_texts(sampled_texts(), vocab_size, fim=fim, length=stats.documents,
                                build=build_gpt2_baseline, show_progress=bars)
        base_dir = os.path.join(output_dir, BASELINE_DIR)
        _, base_sha = _save_tokenizer(base, base_dir)
        _write_json(os.path.join(base_dir, HF_CONFIG_FILE), config)
        _write_json(os.path.join(base_dir, HF_SPECIAL_TOKENS_FILE), special_map)
        meta["baseline"] = {"path": BASELINE_DIR, "sha256": base_sha, "vocab_size": base.get_vocab_size(),
                            "pre_tokenizer": "ByteLevel(add_prefix_space=False) with GPT-2's regex (HF default)"}
    else:  # an earlier run's baseline was trained on another sample: `tokenizer eval` would compare against it
        for name in (TOKENIZER_FILE, HF_CONFIG_FILE, HF_SPECIAL_TOKENS_FILE):
            stale = os.path.join(output_dir, BASELINE_DIR, name)
            if os.path.isfile(stale):
                os.remove(stale)
        try:
            os.rmdir(os.path.join(output_dir, BASELINE_DIR))
        except OSError:  # absent, or holding files that are not ours
            pass
    _write_json(os.path.join(output_dir, META_FILE), meta)
    return meta


# ---------------------------------------------------------------------------------------------------------
# CLI: winnow tokenizer train
# ---------------------------------------------------------------------------------------------------------

def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--input", required=True, help="documents: curate output dir, dir/file/glob of .parquet or .jsonl")
    parser.add_argument("--vocab-size", type=int, required=True, help="vocabulary size including special tokens")
    parser.add_argument("--output", required=True, help="directory for tokenizer.json and tokenizer_meta.json")
    parser.add_argument("--seed", type=seed_number, default=0, help="sampling seed (default 0)")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                        help=f"characters of training text in total (default {DEFAULT_MAX_CHARS:,})")
    parser.add_argument("--max-doc-chars", type=int, default=DEFAULT_MAX_DOC_CHARS,
                        help=f"characters taken from each document (default {DEFAULT_MAX_DOC_CHARS:,})")
    parser.add_argument("--sample-rate", type=fraction_over_zero, default=1.0,
                        help="fraction of documents eligible, in (0, 1] (default 1)")
    parser.add_argument("--source-weight", action="append", metavar="SOURCE=W", default=None,
                        help="share of --max-chars for a source (repeatable; '*=W' for every source not listed; "
                             "without any, all sources share one budget)")
    parser.add_argument("--fim", action="store_true", help="add fill-in-the-middle special tokens")
    parser.add_argument("--split", choices=sorted(SPLIT_PATTERNS), default=DEFAULT_SPLIT,
                        help="pre-tokenizer split pattern: 'winnow' (default; cl100k with space-led digit groups and "
                             "indentation kept with line breaks) or 'cl100k' (GPT-4's)")
    parser.add_argument("--baseline", action="store_true",
                        help="also train a GPT-2-style baseline (HF ByteLevel defaults) on the same sample into DIR/baseline")
    return parser


def main(args: Any = None) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args = configure_parser(argparse.ArgumentParser(prog="winnow tokenizer train")).parse_args(args)
    with Progress("tokenizer train", ("read", "fed"), unit="docs") as progress:
        meta = train_tokenizer(args.input, args.vocab_size, args.output, seed=args.seed, max_chars=args.max_chars,
                               max_doc_chars=args.max_doc_chars, fim=args.fim, sample_rate=args.sample_rate,
                               source_weights=parse_source_weights(args.source_weight), baseline=args.baseline,
                               split=args.split, progress=progress)
    print(f"tokenizer: {os.path.join(args.output, TOKENIZER_FILE)} vocab_size={meta['vocab_size']} "
          f"sha256={meta['sha256'][:12]} sample={meta['sample']['documents']} docs / {meta['sample']['chars']:,} chars")
    if meta["vocab_size"] < meta["requested_vocab_size"]:  # BPE stops when no pair occurs twice in the sample
        print(f"tokenizer train: the vocabulary has {meta['vocab_size']} entries, not the {args.vocab_size} asked "
              f"for: the sample ran out of pairs to merge; give more text (--input, --max-chars) or a smaller "
              f"--vocab-size", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
