"""MinHash signatures and LSH band keys for near-duplicate detection, value-identical to datasketch.

A document becomes the set of its word n-grams (`shingles`: `ngram` consecutive words of the
`normalize_for_dedup` text, joined by one space; a text shorter than `ngram` words is one shingle). Each
shingle is hashed once with SHA-1 (the first 4 or 8 bytes, little-endian: datasketch's `sha1_hash32` /
`sha1_hash64`), then all `num_perm` permutations are applied in one numpy operation over a
(shingles x permutations) block and the minimum is taken per permutation. The three schemes are
datasketch's, with its permutation parameters drawn from `np.random.RandomState(seed)`:

- "affine64" (default here, FineWeb-style 64-bit): h = fmix64(sha1_64), a*h + b mod 2^64, a odd. A bijection,
  so no collisions are added, and 64 bits do not saturate at Common Crawl scale.
- "affine32" (datasketch >= 2.0 default): the same over 32 bits from sha1_32 and fmix32.
- "legacy" (datasketch < 2.0, and datatrove's 32-bit mode): ((a*h + b) mod (2^61 - 1)) & (2^32 - 1), with the
  uint64 product wrapping exactly as datasketch's does.

Signatures are returned as uint64 whatever the scheme. With b bands of r rows, two documents of Jaccard
similarity s share at least one band with probability 1 - (1 - s^r)^b; the default 14 x 8 over 5-grams
(FineWeb's) sits at ~0.75 similarity. A band key is the 2-byte band index followed by an 8-byte BLAKE2b of the
band's values, so keys of different bands never meet in a group-by. Permutations are built once per process
and parameter set (cached), i.e. in `DoFn.setup()`, not per document.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, List, Sequence, Tuple

import numpy as np

from filters.text import normalize_for_dedup

SCHEMES = ("affine64", "affine32", "legacy")
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH_32 = np.uint64((1 << 32) - 1)
# Rows of the (shingles x permutations) block per numpy op: bounds memory at ~4096 * num_perm * 8 bytes.
_CHUNK = 4096
_FMIX = {
    32: (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16)),
    64: (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(33), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33)),
}


@dataclass(frozen=True)
class MinHashParams:
    num_perm: int = 112
    bands: int = 14
    rows: int = 8
    ngram: int = 5
    seed: int = 1
    scheme: str = "affine64"

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"minhash scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if min(self.num_perm, self.bands, self.rows, self.ngram) < 1:
            raise ValueError("num_perm, bands, rows and ngram must be positive")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")


def shingles(text: str, n: int) -> List[str]:
    """Distinct word n-grams of the normalised text, in first-seen order."""
    words = normalize_for_dedup(text).split(" ")
    if not words or words == [""]:
        return []
    if len(words) <= n:
        return [" ".join(words)]
    return list(dict.fromkeys(" ".join(words[i:i + n]) for i in range(len(words) - n + 1)))


def _fmix(hv: np.ndarray, width: int) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX[width]
    hv = hv ^ (hv >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    return hv ^ (hv >> s3)


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


def hash_shingles(items: Sequence[str], scheme: str) -> np.ndarray:
    """SHA-1 of each utf-8 shingle, first 4 (32-bit schemes) or 8 bytes little-endian."""
    sha1 = hashlib.sha1
    if scheme == "affine64":
        raw = b"".join([sha1(s.encode("utf-8")).digest()[:8] for s in items])
        return np.frombuffer(raw, dtype="<u8").astype(np.uint64)
    raw = b"".join([sha1(s.encode("utf-8")).digest()[:4] for s in items])
    hv = np.frombuffer(raw, dtype="<u4")
    return hv.astype(np.uint64) if scheme == "legacy" else hv.astype(np.uint32)


def signature_from_shingles(items: Sequence[str], params: MinHashParams = MinHashParams()) -> np.ndarray:
    """MinHash signature (uint64, length num_perm) of a set of shingles; all-max for an empty set."""
    a, b = permutations(params.num_perm, params.seed, params.scheme)
    if params.scheme == "affine64":
        empty = np.uint64((1 << 64) - 1)
    elif params.scheme == "affine32":
        empty = np.uint32((1 << 32) - 1)
    else:
        empty = _MAX_HASH_32
    sig = np.full(params.num_perm, empty, dtype=a.dtype)
    if len(items) == 0:
        return sig.astype(np.uint64)
    hv_all = hash_shingles(items, params.scheme)
    for start in range(0, len(hv_all), _CHUNK):
        hv = hv_all[start:start + _CHUNK].reshape(-1, 1)
        if params.scheme == "legacy":
            # uint64 a*h wraps mod 2^64 before the mod prime, exactly as in datasketch.
            phv = np.bitwise_and((hv * a + b) % _MERSENNE_PRIME, _MAX_HASH_32)
        else:
            phv = _fmix(hv, 64 if params.scheme == "affine64" else 32) * a + b
        np.minimum(sig, phv.min(axis=0), out=sig)
    return sig.astype(np.uint64)


def minhash_signature(text: str, params: MinHashParams = MinHashParams()) -> np.ndarray:
    return signature_from_shingles(shingles(text, params.ngram), params)


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
