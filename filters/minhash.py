"""MinHash signatures and LSH band keys for near-duplicate detection, value-identical to datasketch.

A document becomes the set of its word n-grams (`shingles`: `ngram` consecutive words of the
`normalize_for_dedup` text, joined by one space; a text shorter than `ngram` words is one shingle). Words
(`dedup_words`) are split at whitespace, and with `words: scripts` (the default) each letter of a script written
without spaces (Chinese, Japanese, Thai, ...: `SOLO_RANGES`) is a word, so such texts are shingled by characters.
A text longer than `_BATCH_CHARS` code points is hashed a step at a time with the same result (bounded memory
for a 40M-character token). Each
shingle gets one 64-bit hash (`hashfunc`), then all `num_perm` permutations are applied in one numpy
operation over a (shingles x permutations) block and the minimum is taken per permutation.

Shingle hashes (`hashfunc`):

- "words64" (default): computed for a whole batch of documents at once in numpy, with no Python loop per
  shingle or word (`batch_shingle_hashes`). A word's hash is fmix64 of the polynomial sum of its code points
  (odd base, mod 2^64) plus its length times a constant; a shingle's hash is fmix64(sum_k word_hash_k * R_k)
  with a fixed odd constant per position. `shingle_hash64(shingle_bytes)` is the same function for one
  shingle in plain Python: given to datasketch as `hashfunc`, datasketch's MinHash is value-identical to ours
  (tested). Polynomial hashes mod 2^64 admit crafted collisions (Thue-Morse strings of thousands of
  characters); the fmix64 per word makes accidental ones ~2^-64, and a crafted collision only merges two
  shingles, it does not break a signature.
- "sha1": datasketch's default (`sha1_hash32` / `sha1_hash64`: first 4 or 8 bytes of SHA-1, little-endian), one
  hashlib call per shingle. Use it to compare signatures with tools that hash with SHA-1 (FineWeb, datasketch
  defaults); ~5x slower.

Permutation schemes are datasketch's, with its parameters drawn from `np.random.RandomState(seed)`:

- "affine64" (default here, FineWeb-style 64-bit): h = fmix64(hash), a*h + b mod 2^64, a odd. A bijection,
  so no collisions are added, and 64 bits do not saturate at Common Crawl scale.
- "affine32" (datasketch >= 2.0 default): the same over 32 bits from the low 32 bits of the hash and fmix32.
- "legacy" (datasketch < 2.0, and datatrove's 32-bit mode): ((a*h + b) mod (2^61 - 1)) & (2^32 - 1), with the
  uint64 product wrapping exactly as datasketch's does.

Signatures are returned as uint64 whatever the scheme. With b bands of r rows, two documents of Jaccard
similarity s share at least one band with probability 1 - (1 - s^r)^b; the default 14 x 8 over 5-grams
(FineWeb's) sits at ~0.75 similarity; `MinHashParams.for_threshold` derives bands and rows from a target
threshold with datasketch's optimiser. A band key is the 2-byte band index followed by an 8-byte BLAKE2b of the
band's values, so keys of different bands never meet in a group-by. Permutations are built once per process
and parameter set (cached), i.e. in `DoFn.setup()`, not per document.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from filters.stage_options import NonNegative, OneOf, PositiveInt, Range, checked_options
from filters.text import is_unspaced_letter, normalize_for_dedup, split_unspaced_scripts
from schemas.hashing import fmix64, polynomial_sums, powers64

SCHEMES = ("affine64", "affine32", "legacy")
HASHFUNCS = ("words64", "sha1")
WORDS = ("scripts", "whitespace")
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH_32 = np.uint64((1 << 32) - 1)
_MASK64 = (1 << 64) - 1
# Rows of the (shingles x permutations) block per numpy op: ~2048 * 112 * 8 bytes = 1.8 MB stays in cache.
_CHUNK = 2048
# The most permutations a signature may have: a batch's signatures are _SIGN_BATCH x num_perm uint64 values
# (num_perm 1,000,000 held ~2 GB per batch of 256 documents, and its permutations took minutes to draw). Published
# setups use 112 (FineWeb: 14 bands x 8 rows) to 256; 8,192 leaves room to experiment at 16 MB per batch.
MAX_NUM_PERM = 8192
_BLOCK_VALUES = 1 << 20  # caps the block for large num_perm (rows = _CHUNK up to num_perm 512)
_FMIX = {  # MurmurHash3's fmix32 (64: schemas.hashing.fmix64)
    32: (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16)),
}
# words64 constants: an odd polynomial base, an odd length multiplier, and odd per-position shingle weights
# (the first 64 bits of the fractional parts of square roots of primes, as SHA-512 takes its constants).
_BASE = 0x9E3779B97F4A7C15
_LEN_MULT = 0xC2B2AE3D27D4EB4F
_POSITION_WEIGHTS = (0x6A09E667F3BCC909, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
                     0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179)


@checked_options
@dataclass(frozen=True)
class MinHashParams:
    num_perm: Annotated[int, Range(1, MAX_NUM_PERM)] = 112
    bands: PositiveInt = 14
    rows: PositiveInt = 8
    ngram: PositiveInt = 5
    seed: Annotated[int, Range(0, 2 ** 32 - 1)] = 1  # np.random.RandomState's seed range
    scheme: Annotated[str, OneOf(*SCHEMES)] = "affine64"
    hashfunc: Annotated[str, OneOf(*HASHFUNCS)] = "words64"
    # "scripts": words split at whitespace, and each letter of a script written without spaces (Chinese,
    # Japanese, Thai, ...; `SOLO_RANGES`) a word. "whitespace": split at whitespace only (indexes built before
    # this option; such texts are then one word).
    words: Annotated[str, OneOf(*WORDS)] = "scripts"

    def __post_init__(self):
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.hashfunc == "words64" and self.ngram > len(_POSITION_WEIGHTS):
            raise ValueError(f"hashfunc words64 supports ngram <= {len(_POSITION_WEIGHTS)}, got {self.ngram}")

    @classmethod
    @checked_options
    def for_threshold(cls, threshold: Annotated[float, Range(0, 1, low_open=True, high_open=True)],
                      num_perm: Annotated[int, Range(1, MAX_NUM_PERM)] = 112, false_positive_weight: NonNegative = 0.5,
                      false_negative_weight: NonNegative = 0.5, **kwargs) -> "MinHashParams":
        """Parameters whose bands x rows datasketch's optimiser picks for `threshold` and `num_perm`."""
        bands, rows = optimal_bands_rows(threshold, num_perm, false_positive_weight, false_negative_weight)
        return cls(num_perm=num_perm, bands=bands, rows=rows, **kwargs)


def shingles(text: str, n: int, words: str = "scripts") -> List[str]:
    """Distinct word n-grams (words: `dedup_words`) joined by one space, in first-seen order."""
    words = dedup_words(text, words)
    if not words:
        return []
    if len(words) <= n:
        return [" ".join(words)]
    return list(dict.fromkeys(" ".join(words[i:i + n]) for i in range(len(words) - n + 1)))


def _fmix(hv: np.ndarray, width: int) -> np.ndarray:
    if width == 64:
        return fmix64(hv)
    s1, m1, s2, m2, s3 = _FMIX[32]
    hv = hv ^ (hv >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    return hv ^ (hv >> s3)


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def _word_hash64_int(word: str) -> int:
    acc, power = 0, 1
    for ch in word:
        acc = (acc + (ord(ch) + 1) * power) & _MASK64
        power = (power * _BASE) & _MASK64
    return _fmix64_int((acc + len(word) * _LEN_MULT) & _MASK64)


def shingle_hash64(shingle: bytes) -> int:
    """The words64 hash of one shingle (utf-8 words joined by single spaces), as a Python int.

    Pass it to datasketch as `MinHash(hashfunc=shingle_hash64, scheme="affine64")` to reproduce our default
    signatures; `shingle_hash32` for the 32-bit schemes.
    """
    acc = 0
    words = shingle.decode("utf-8", "surrogatepass").split(" ")
    for weight, word in zip(_POSITION_WEIGHTS, words):
        acc = (acc + _word_hash64_int(word) * weight) & _MASK64
    return _fmix64_int(acc)


def shingle_hash32(shingle: bytes) -> int:
    return shingle_hash64(shingle) & 0xFFFFFFFF


@lru_cache(maxsize=4)
def _powers(length: int) -> np.ndarray:
    """_BASE^i mod 2^64 for i < length."""
    return powers64(_BASE, length)


def _powers_at_least(length: int) -> np.ndarray:
    size = 1 << 12
    while size < length:
        size <<= 1
    return _powers(size)


_KEEP, _DROP, _DIGIT, _SPACE, _SOLO, _UNSEEN = 0, 1, 2, 3, 4, 255
_class_table = None  # this process's per-code-point classes, filled as code points are first seen

def _char_class(cp: int) -> int:
    """What `normalize_for_dedup` does to one code point after NFKC and lower-casing: Unicode punctuation
    (category P*) is deleted, decimal digits (Nd, re's \\d) become "0", whitespace (str.isspace, what str.split
    splits on) separates words; a letter of a script in `SOLO_RANGES` is a word by itself (words "scripts")."""
    import unicodedata

    ch = chr(cp)
    if ch.isspace():
        return _SPACE
    if ch.isdecimal():
        return _DIGIT
    if unicodedata.category(ch)[0] == "P":
        return _DROP
    return _SOLO if is_unspaced_letter(ch) else _KEEP


def _char_classes(cps: np.ndarray) -> np.ndarray:
    """The class of each code point of `cps` (uint32), by lookup in a per-process table of every code point
    (1.1 MB) that is filled as code points are first seen: texts use a few hundred distinct ones, and
    classifying all 1,114,112 up front cost each process 0.12 s (each worker and every short job)."""
    global _class_table
    table = _class_table
    if table is None:
        table = _class_table = np.full(0x110000, _UNSEEN, dtype=np.uint8)
    cls = table[cps]
    unseen = cls == _UNSEEN
    if unseen.any():
        for cp in np.unique(cps[unseen]).tolist():
            table[cp] = _char_class(cp)
        cls = table[cps]
    return cls


def dedup_words(text: str, words: str = "scripts") -> List[str]:
    """The words MinHash shingles: those of `normalize_for_dedup(text)` split at spaces, and with words
    "scripts" each letter of a script written without spaces (`SOLO_RANGES`) a word of its own."""
    norm = normalize_for_dedup(text)
    return (split_unspaced_scripts(norm) if words == "scripts" else norm).split()


@dataclass
class _Words:
    """The words of a run of code points: polynomial sums of their code points (before the length term and
    fmix64), their lengths and owners; `joins`: the run's first word continues a word left open before it;
    `open`: its last word may go on in the next run (a run of one long text hashed a batch at a time)."""
    sums: np.ndarray
    lengths: np.ndarray
    owner: np.ndarray
    joins: bool
    open: bool

    def hashes(self) -> np.ndarray:
        return _fmix(self.sums + self.lengths.astype(np.uint64) * np.uint64(_LEN_MULT), 64)


def _words_of(cps: np.ndarray, doc_of: np.ndarray, solo: bool) -> Optional[_Words]:
    """The words of code points `cps` (already NFKC-folded) owned by texts `doc_of`; None when every code point
    is punctuation (deleted; a word left open before goes on after them)."""
    cls = _char_classes(cps)
    keep = cls != _DROP
    cps, cls, doc_of = cps[keep], cls[keep], doc_of[keep]
    if len(cps) == 0:
        return None
    cps = np.where(cls == _DIGIT, np.uint32(ord("0")), cps)
    single = cls == _SOLO
    solo = solo and bool(single.any())
    is_char = cls != _SPACE
    joins = bool(is_char[0] and not (solo and single[0]))
    ends_open = bool(is_char[-1] and not (solo and single[-1]))
    pos = np.flatnonzero(is_char)
    cps, doc_of = cps[is_char], doc_of[is_char]
    if len(cps) == 0:
        return _Words(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64), False, False)
    # A word starts where a character follows a separator or starts a text (original positions tell), and
    # at each letter of a script without spaces and after it.
    brk = (np.diff(pos) > 1) | (doc_of[1:] != doc_of[:-1])
    if solo:
        single = single[is_char]
        brk |= single[1:] | single[:-1]
    starts = np.flatnonzero(np.concatenate(([True], brk)))
    lengths = np.diff(np.concatenate((starts, [len(cps)])))
    sums = polynomial_sums(cps, starts, lengths, _powers_at_least(int(lengths.max())))
    return _Words(sums, lengths, doc_of[starts], joins, ends_open)


def _ngram_hashes(word_hash: np.ndarray, word_text: np.ndarray, n: int,
                  short_texts: bool) -> Tuple[np.ndarray, np.ndarray]:
    """The hash of every n-gram of consecutive words of one text, and the text of each; with `short_texts`,
    a text of fewer than n words gives one shingle of all its words."""
    n_words = len(word_hash)
    pad_text = np.concatenate((word_text, np.full(n, -1)))
    pad_hash = np.concatenate((word_hash, np.zeros(n, dtype=np.uint64)))
    acc = word_hash * np.uint64(_POSITION_WEIGHTS[0])
    for k in range(1, n):
        same = pad_text[k:k + n_words] == word_text
        acc += np.where(same, pad_hash[k:k + n_words], np.uint64(0)) * np.uint64(_POSITION_WEIGHTS[k])
    # A shingle starts at word j if its n-th word is in the same text, or if j starts a text shorter than n.
    full = pad_text[n - 1:n - 1 + n_words] == word_text
    text_start = np.concatenate(([True], word_text[1:] != word_text[:-1]))
    valid = full | (text_start & ~full) if short_texts else full
    return _fmix(acc[valid], 64), word_text[valid]


def batch_shingle_hashes(texts: Sequence[str], n: int, words: str = "scripts") -> Tuple[np.ndarray, np.ndarray]:
    """words64 hashes of every shingle position of every text, and the text index of each.

    The whole batch is one array of code points (NFKC and lower-casing per text, in C); the rest of
    `normalize_for_dedup` is a table lookup per code point (punctuation deleted, digits -> "0", whitespace
    runs separate words, letters of scripts without spaces are words), so the words are exactly those of
    `dedup_words(text, words)` (tested). Word hashes are per-character polynomial terms summed with
    `np.add.reduceat`; n-gram hashes are n shifted multiply-adds. No Python loop runs per word or shingle.
    Repeated shingles stay (a MinHash of a set ignores repeats). Its arrays peak near 60 bytes per code point:
    `_hash_parts` bounds what one call holds.
    """
    import unicodedata

    folded = [unicodedata.normalize("NFKC", t).lower() for t in texts]
    empty = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    if not any(folded):
        return empty
    cps = np.frombuffer("".join(folded).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    doc_of = np.repeat(np.arange(len(folded), dtype=np.int64), [len(t) for t in folded])
    found = _words_of(cps, doc_of, words == "scripts")
    if found is None or len(found.sums) == 0:
        return empty
    return _ngram_hashes(found.hashes(), found.owner, n, short_texts=True)


# Code points per batch_shingle_hashes call, and per step of a longer text: the arrays peak near 60 bytes per
# code point, so a batch of long texts, or one 50 MB document, took ~3 GB in one call; steps of at most this
# many hold ~60 MB.
_BATCH_CHARS = 1 << 20
_WORD_MOD = 1 << 64


def _long_text_hashes(text: str, n: int, words: str) -> np.ndarray:
    """The shingle hashes of one text longer than `_BATCH_CHARS`, equal to batch_shingle_hashes([text], n)'s,
    computed `_BATCH_CHARS` code points at a time: a word cut by a step boundary is carried over as its
    polynomial sum and length (the sum of the next part is scaled by _BASE^length), and the last n-1 words
    of each step start the next one's n-grams. Memory stays bounded by the step, whatever the text: one
    40M-character token (no whitespace to cut at) took 2.9 GB when hashed whole."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", text).lower()
    solo = words == "scripts"
    carry: Optional[Tuple[int, int]] = None     # (sum, length) of a word still open at a step's end
    tail = np.zeros(0, dtype=np.uint64)         # the last n-1 word hashes
    total, out = 0, []

    def emit(word_hash: np.ndarray) -> None:
        nonlocal tail, total
        seq = np.concatenate((tail, word_hash))
        total += len(word_hash)
        out.append(_ngram_hashes(seq, np.zeros(len(seq), dtype=np.int64), n, short_texts=False)[0])
        tail = seq[max(0, len(seq) - (n - 1)):] if n > 1 else seq[:0]

    def closed(sum_: int, length: int) -> np.ndarray:
        return _Words(np.array([sum_], np.uint64), np.array([length], np.int64), None, False, False).hashes()

    for start in range(0, len(folded), _BATCH_CHARS):
        cps = np.frombuffer(folded[start:start + _BATCH_CHARS].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        found = _words_of(cps, np.zeros(len(cps), dtype=np.int64), solo)
        if found is None:
            continue
        sums, lengths = found.sums, found.lengths
        if carry is not None:
            if found.joins and len(sums):
                sums, lengths = sums.copy(), lengths.copy()
                sums[0] = (carry[0] + pow(_BASE, carry[1], _WORD_MOD) * int(sums[0])) % _WORD_MOD
                lengths[0] += carry[1]
            else:
                emit(closed(*carry))
            carry = None
        if found.open and len(sums):
            carry = (int(sums[-1]), int(lengths[-1]))
            sums, lengths = sums[:-1], lengths[:-1]
        if len(sums):
            emit(_Words(sums, lengths, None, False, False).hashes())
    if carry is not None:
        emit(closed(*carry))
    if 0 < total < n:  # fewer than n words in all: one shingle of them (the tail holds them all)
        return _ngram_hashes(tail, np.zeros(len(tail), dtype=np.int64), n, short_texts=True)[0]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.uint64)


def _hash_parts(texts: Sequence[str], n: int, words: str = "scripts") -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """(shingle hashes, text index of each) of `texts`, in steps of about `_BATCH_CHARS` code points at most:
    short texts grouped into one batch_shingle_hashes call, a longer one hashed a step at a time
    (`_long_text_hashes`)."""
    group: List[int] = []
    size = 0

    def flush():
        hv, owner = batch_shingle_hashes([texts[j] for j in group], n, words)
        return hv, np.asarray(group, dtype=np.int64)[owner]

    for i, text in enumerate(texts):
        if len(text) > _BATCH_CHARS:
            if group:
                yield flush()
                group, size = [], 0
            hv = _long_text_hashes(text, n, words)
            yield hv, np.full(len(hv), i, dtype=np.int64)
            continue
        if group and size + len(text) > _BATCH_CHARS:
            yield flush()
            group, size = [], 0
        group.append(i)
        size += len(text)
    if group:
        yield flush()


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int, scheme: str) -> Tuple[np.ndarray, np.ndarray]:
    """(a, b) of datasketch's permutation functions for this scheme, drawn exactly as datasketch draws them."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array([(gen.randint(1, _MERSENNE_PRIME, dtype=np.uint64),
                        gen.randint(0, _MERSENNE_PRIME, dtype=np.uint64)) for _ in range(num_perm)],
                      dtype=np.uint64).T
        a, b = ab[0].copy(), ab[1].copy()
    else:
        width = 64 if scheme == "affine64" else 32
        dtype = np.uint64 if width == 64 else np.uint32
        a = gen.randint(0, 1 << (width - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
        b = gen.randint(0, 1 << width, num_perm, dtype=dtype)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def hash_shingles(items: Sequence[str], scheme: str, hashfunc: str = "sha1") -> np.ndarray:
    """Hash of each utf-8 shingle: sha1 (first 4 or 8 bytes little-endian) or words64 (its low 32 bits for
    the 32-bit schemes), as the dtype the scheme permutes."""
    if hashfunc == "words64":
        hv = np.array([shingle_hash64(s.encode("utf-8", "surrogatepass")) for s in items], dtype=np.uint64)
    else:
        sha1 = hashlib.sha1
        if scheme == "affine64":
            raw = b"".join([sha1(s.encode("utf-8")).digest()[:8] for s in items])
            return np.frombuffer(raw, dtype="<u8").astype(np.uint64)
        raw = b"".join([sha1(s.encode("utf-8")).digest()[:4] for s in items])
        hv = np.frombuffer(raw, dtype="<u4").astype(np.uint64)
    return _to_scheme_dtype(hv, scheme)


def _to_scheme_dtype(hv: np.ndarray, scheme: str) -> np.ndarray:
    if scheme == "affine64":
        return hv
    hv = hv & _MAX_HASH_32
    return hv if scheme == "legacy" else hv.astype(np.uint32)


def _empty_value(scheme: str, dtype) -> np.generic:
    if scheme == "affine64":
        return np.uint64(_MASK64)
    return dtype.type(_MAX_HASH_32)


def _permuted_min(hv: np.ndarray, owner: np.ndarray, n_docs: int, params: MinHashParams) -> np.ndarray:
    """(n_docs, num_perm) uint64 signatures from shingle hashes `hv` (scheme dtype) owned by sorted `owner`."""
    a, b = permutations(params.num_perm, params.seed, params.scheme)
    out = np.full((n_docs, params.num_perm), _empty_value(params.scheme, a.dtype), dtype=a.dtype)
    if len(hv) == 0:
        return out.astype(np.uint64)
    if params.scheme != "legacy":
        hv = _fmix(hv, 64 if params.scheme == "affine64" else 32)  # once per shingle, not per permutation
    # At most _BLOCK_VALUES values (8 MB) per block whatever num_perm is: at _CHUNK rows, num_perm 100,000 took a
    # 1.6 GB buffer to sign any batch (a 300-document curate peaked at 1.9 GB, 0.3 GB bounded).
    rows = max(1, min(_CHUNK, _BLOCK_VALUES // params.num_perm))
    buf = np.empty((rows, params.num_perm), dtype=a.dtype)
    for start in range(0, len(hv), rows):
        h = hv[start:start + rows, None]
        block = buf[:len(h)]
        np.multiply(h, a, out=block)
        block += b
        if params.scheme == "legacy":
            # uint64 a*h wraps mod 2^64 before the mod prime, exactly as in datasketch.
            np.remainder(block, _MERSENNE_PRIME, out=block)
            np.bitwise_and(block, _MAX_HASH_32, out=block)
        own = owner[start:start + rows]
        cut = np.flatnonzero(np.concatenate(([True], own[1:] != own[:-1])))
        docs = own[cut]
        out[docs] = np.minimum(out[docs], np.minimum.reduceat(block, cut, axis=0))
    return out.astype(np.uint64)


def signature_from_shingles(items: Sequence[str], params: MinHashParams = MinHashParams()) -> np.ndarray:
    """MinHash signature (uint64, length num_perm) of a set of shingles with `params.hashfunc`; all-max for
    an empty set."""
    hv = hash_shingles(items, params.scheme, params.hashfunc)
    return _permuted_min(hv, np.zeros(len(hv), dtype=np.int64), 1, params)[0]


def minhash_signatures(texts: Sequence[str], params: MinHashParams = MinHashParams()) -> np.ndarray:
    """(len(texts), num_perm) uint64 signatures of many documents in one vectorised pass (the fast path)."""
    if params.hashfunc == "words64":
        out = None
        for hv, owner in _hash_parts(texts, params.ngram, params.words):
            part = _permuted_min(_to_scheme_dtype(hv, params.scheme), owner, len(texts), params)
            out = part if out is None else np.minimum(out, part)
        return out if out is not None else _permuted_min(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64),
                                                         len(texts), params)
    if not len(texts):
        return np.zeros((0, params.num_perm), dtype=np.uint64)
    return np.stack([signature_from_shingles(shingles(t, params.ngram, params.words), params) for t in texts])


def minhash_signature(text: str, params: MinHashParams = MinHashParams()) -> np.ndarray:
    return minhash_signatures([text], params)[0]


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> List[bytes]:
    """One LSH key per band: 2-byte big-endian band index + 8-byte BLAKE2b of the band's uint64 values."""
    if bands * rows > len(signature):
        raise ValueError(f"bands * rows = {bands * rows} exceeds the signature length {len(signature)}")
    values = np.ascontiguousarray(signature, dtype="<u8")
    keys = []
    for i in range(bands):
        digest = hashlib.blake2b(values[i * rows:(i + 1) * rows].tobytes(), digest_size=8).digest()
        keys.append(struct.pack(">H", i) + digest)
    return keys


def optimal_bands_rows(threshold: float, num_perm: int,
                       false_positive_weight: float = 0.5, false_negative_weight: float = 0.5) -> Tuple[int, int]:
    """(bands, rows) minimising the weighted false positive/negative areas around `threshold` (datasketch's)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, false_positive_weight, false_negative_weight)


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """Exact Jaccard similarity of two shingle collections; two empty sets count as identical (1.0)."""
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    return len(sa & sb) / union if union else 1.0


def containment(part: Iterable[str], whole: Iterable[str]) -> float:
    """|part & whole| / |part|: how much of `part` lies in `whole` (1.0 for an empty part)."""
    sp, sw = set(part), set(whole)
    return len(sp & sw) / len(sp) if sp else 1.0


def shingle_hash_sets(texts: Sequence[str], params: MinHashParams = MinHashParams()) -> List[np.ndarray]:
    """Per text, the sorted distinct shingle hashes (uint64) with `params.hashfunc`: the set whose exact
    Jaccard `hash_set_jaccard` computes (exact up to 64-bit hash collisions)."""
    if params.hashfunc == "words64":
        found: List[List[np.ndarray]] = [[] for _ in texts]
        for hv, owner in _hash_parts(texts, params.ngram, params.words):
            cuts = np.searchsorted(owner, np.arange(len(texts) + 1))
            for i in np.unique(owner).tolist():
                found[i].append(hv[cuts[i]:cuts[i + 1]])
        return [np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64) for parts in found]
    return [np.unique(hash_shingles(shingles(t, params.ngram, params.words), "affine64", "sha1")) for t in texts]


def hash_set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted distinct hash arrays; two empty sets count as identical (1.0)."""
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0
