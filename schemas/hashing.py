"""Vectorised 64-bit hashing shared by the packages: powers of a base mod 2^64, polynomial sums over segments of
an array, and MurmurHash3's fmix64 finaliser. numpy's uint64 arithmetic wraps, which is the mod 2^64.

Used by MinHash's word hashes (filters/minhash.py, over code points), the id tally of shard checks
(schemas/shard_files.py, over UTF-8 bytes) and decontamination's n-gram windows (filters/decontam.py, powers)."""
from __future__ import annotations

import numpy as np

FMIX64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(33), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33))


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser of each value (uint64)."""
    s1, m1, s2, m2, s3 = FMIX64
    with np.errstate(over="ignore"):
        h = h ^ (h >> s1)
        h = h * m1
        h = h ^ (h >> s2)
        h = h * m2
        return h ^ (h >> s3)


def powers64(base: int, count: int) -> np.ndarray:
    """base^i mod 2^64 for i < count (uint64)."""
    pw = np.full(max(count, 1), base, dtype=np.uint64)
    pw[0] = 1
    with np.errstate(over="ignore"):
        return np.multiply.accumulate(pw)[:count]


def polynomial_sums(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """For each segment values[start:start + length], sum_k (value_k + 1) * powers[k] mod 2^64 (uint64; 0 for an
    empty segment). Segments lie back to back in `values` (starts ascending, each the previous one's end);
    `powers` holds at least max(lengths) entries."""
    sums = np.zeros(len(starts), dtype=np.uint64)
    if len(values) == 0:
        return sums
    position = np.arange(len(values), dtype=np.int64) - np.repeat(starts, lengths)
    with np.errstate(over="ignore"):
        terms = (values.astype(np.uint64) + np.uint64(1)) * powers[position]
    filled = lengths > 0
    sums[filled] = np.add.reduceat(terms, starts[filled])
    return sums
