"""Exact deduplication keys and the deterministic choice of the document a duplicate group keeps.

The key is a BLAKE2b-128 digest of the text after `normalize_for_dedup` (so whitespace, case, punctuation and
digit variants collide on purpose); 128 bits keep the chance of an accidental collision negligible at
Common Crawl scale (~3e9 documents: ~1e-20) while staying short as a group-by key.

Which copy a group keeps is the smallest `representative_key`: a string that sorts by the recipe's
criterion and then by id, so the choice does not depend on runner, worker count or arrival order, and a
plain `min` over strings (a Beam combiner, a group iterated once) makes it. Criteria: `smallest_id`,
`longest` (most characters), `quality` (highest value of one of the document's `scores`, missing = lowest;
the dedup stages count the documents without it, `SCORE_MISSING`). `score` without `quality` is refused.
"""
from __future__ import annotations

import hashlib
import math
import struct
from typing import Any, Dict, Iterable, Optional

from filters.stage_options import OptionError
from filters.text import normalize_for_dedup
from schemas import ID, SCORES, TEXT

REPRESENTATIVES = ("smallest_id", "longest", "quality")
_PREFIX_LEN = 16  # hex digits of the rank prefix for longest/quality


def exact_dedup_key(text: str, normalize: bool = True) -> str:
    """Hex BLAKE2b-128 of `text` (normalised with `normalize_for_dedup` unless normalize=False)."""
    if normalize:
        text = normalize_for_dedup(text)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def check_representative(representative: str, score: Optional[str]) -> None:
    if representative not in REPRESENTATIVES:
        raise ValueError(f"representative must be one of {REPRESENTATIVES}, got {representative!r}")
    if representative == "quality" and not score:
        raise ValueError("representative 'quality' needs `score`: the name of a document score (e.g. a classifier's)")
    if representative != "quality" and score is not None:
        # only `quality` reads a score: with any other criterion it would be ignored without a word
        raise OptionError("score", f"= {score!r} is used only with representative 'quality' (here "
                                   f"{representative!r}): add `representative: quality`, or remove `score`")


# A duplicate group's documents that lack the `score` the representative `quality` ranks by (a score name no
# stage of the recipe writes, or a document a scoring filter skipped) rank lowest: the stage counts them in
# report.json as `score_missing: {SCORE: documents}` (a breakdown counter, pipelines/transforms/counters.py).
SCORE_MISSING = "score_missing"


def score_missing(doc: Dict[str, Any], representative: str, score: Optional[str]) -> bool:
    """Whether `doc` has no usable value of `score` when the representative is `quality` (it ranks lowest)."""
    if representative != "quality":
        return False
    value = (doc.get(SCORES) or {}).get(score)
    return value is None or math.isnan(value)


def _descending_float_prefix(value: float) -> str:
    """16 hex digits that sort in descending order of `value` (IEEE-754 bits made order-preserving)."""
    bits = struct.unpack(">Q", struct.pack(">d", value))[0]
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)  # ascending order of value
    return f"{0xFFFFFFFFFFFFFFFF - bits:016x}"


def representative_key(doc: Dict[str, Any], representative: str = "smallest_id", score: Optional[str] = None) -> str:
    """A string whose minimum over a group is the document to keep (the id is its suffix)."""
    if representative == "smallest_id":
        return doc[ID]
    if representative == "longest":
        return f"{0xFFFFFFFFFFFFFFFF - len(doc[TEXT]):016x}{doc[ID]}"
    value = (doc.get(SCORES) or {}).get(score)
    if value is None or math.isnan(value):
        value = -math.inf
    return _descending_float_prefix(float(value)) + doc[ID]


def id_of_key(key: str, representative: str = "smallest_id") -> str:
    return key if representative == "smallest_id" else key[_PREFIX_LEN:]


def choose_representative(ids: Iterable[str]) -> str:
    """The key kept for a duplicate group: the smallest, whatever order the keys arrive in."""
    try:
        return min(ids)
    except ValueError:
        raise ValueError("choose_representative needs at least one id") from None
