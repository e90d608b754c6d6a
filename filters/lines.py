"""Line-level boilerplate removal (CCNet / Dolma style): lines that recur across many documents are dropped.

A document is cut into units, lines (`"\\n"`) or paragraphs (blank-line separated); each unit's key is a
BLAKE2b-64 of its `normalize_for_dedup` text (so "Copyright 2019" and "copyright 2023." are one line).
Units whose normalised text is shorter than `min_unit_chars` are never keys (blank lines, "|", "-" must not
count as boilerplate). Beam counts, per key, the documents holding it (each document counts a key once);
keys held by more than `max_docs` documents are boilerplate and are removed from every document that has
them, the first copy included (CCNet removes all; keeping one arbitrary copy would not be deterministic
without another shuffle). A document whose remaining text has fewer than `min_words` words is dropped as
`too_short_after_line_dedup`. The pure pieces here are `unit_keys` and `remove_units`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Collection, List, Tuple

from filters.stage_options import NonNegativeInt, OneOf, PositiveInt, checked_options
from filters.text import normalize_for_dedup, split_words

UNITS = ("line", "paragraph")
_PARAGRAPH_RE = re.compile(r"\n[ \t\r\f\v]*\n")


@checked_options
@dataclass(frozen=True)
class LineDedupParams:
    max_docs: PositiveInt = 10
    unit: Annotated[str, OneOf(*UNITS)] = "line"
    min_unit_chars: PositiveInt = 10
    min_words: NonNegativeInt = 50


def split_units(text: str, unit: str) -> List[str]:
    return text.split("\n") if unit == "line" else _PARAGRAPH_RE.split(text)


def unit_key(unit_text: str, min_unit_chars: int) -> str | None:
    norm = normalize_for_dedup(unit_text)
    if len(norm) < min_unit_chars:
        return None
    return hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def unit_keys(text: str, params: LineDedupParams) -> List[str]:
    """Distinct keys of the document's units, in first-seen order (a document counts a key once)."""
    keys = (unit_key(u, params.min_unit_chars) for u in split_units(text, params.unit))
    return list(dict.fromkeys(k for k in keys if k is not None))


def remove_units(text: str, boilerplate: Collection[str], params: LineDedupParams) -> Tuple[str, int]:
    """The text without its boilerplate units, and how many units were removed."""
    units = split_units(text, params.unit)
    kept = [u for u in units if unit_key(u, params.min_unit_chars) not in boilerplate]
    joiner = "\n" if params.unit == "line" else "\n\n"
    return joiner.join(kept), len(units) - len(kept)


def too_short(text: str, params: LineDedupParams) -> bool:
    return len(split_words(text)) < params.min_words
