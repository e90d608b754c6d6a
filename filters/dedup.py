"""Exact deduplication: a content key per document and a deterministic choice of the copy to keep.

The key is a BLAKE2b-128 digest of the text after `normalize_for_dedup` (so whitespace, case, punctuation and
digit variants collide on purpose); 128 bits keep the chance of an accidental collision negligible at
Common Crawl scale (~3e9 documents: ~1e-20) while staying short as a group-by key. The representative of a
group is its smallest id, so the kept copy does not depend on runner, worker count or arrival order.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

from filters.text import normalize_for_dedup


def exact_dedup_key(text: str, normalize: bool = True) -> str:
    """Hex BLAKE2b-128 of `text` (normalised with `normalize_for_dedup` unless normalize=False)."""
    if normalize:
        text = normalize_for_dedup(text)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def choose_representative(ids: Iterable[str]) -> str:
    """The id kept for a duplicate group: the smallest, whatever order the ids arrive in."""
    try:
        return min(ids)
    except ValueError:
        raise ValueError("choose_representative needs at least one id") from None
