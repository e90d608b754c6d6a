"""Packing tokenized documents into fixed-length rows.

A row holds `row_len = seq_len + 1` ids (inputs `tokens[:-1]`, targets `tokens[1:]`), the lengths of the
document segments it contains, in order, and their document ids. Padding (`pad_id`) fills the tail.

- `best_fit_pack`: best-fit decreasing, as in "Fewer Truncations Improve Language Modeling" (Ding et al.,
  2024). Documents longer than a row are first cut into row-sized pieces (`split_long`; the tokens are all
  kept, only the context is broken). Segments are sorted by length, longest first (ties by document id and
  piece index), and each goes into the open row with the least remaining space that still fits it, found by
  bisection on a sorted list of remaining capacities; a new row opens when none fits. Only documents longer
  than a row are ever split, at the cost of some padding. O(n log n) per group, plus list insertion.
- `concat_pack`: concatenate in the given order and chunk; no padding except the last row, but every document
  that straddles a row boundary is split.

`truncated_fraction` = (tokens of documents that had to be split across two or more rows) / (all non-pad
tokens). A document counts with all its tokens whenever at least one split falls inside it. `pad_fraction` =
pad tokens / all tokens (rows x row_len). Both functions are deterministic: the same segments give the same
rows in the same order.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, List, NamedTuple, Sequence, Tuple

Document = Tuple[str, Sequence[int]]  # (document id, token ids)


class PackedRow(NamedTuple):
    tokens: List[int]
    doc_lengths: List[int]
    doc_ids: List[str]


@dataclass
class PackStats:
    rows: int = 0
    tokens: int = 0  # rows * row_len
    pad_tokens: int = 0
    truncated_tokens: int = 0  # tokens of documents split across rows

    @property
    def non_pad_tokens(self) -> int:
        return self.tokens - self.pad_tokens

    @property
    def pad_fraction(self) -> float:
        return self.pad_tokens / self.tokens if self.tokens else 0.0

    @property
    def truncated_fraction(self) -> float:
        return self.truncated_tokens / self.non_pad_tokens if self.non_pad_tokens else 0.0

    def __add__(self, other: "PackStats") -> "PackStats":
        return PackStats(self.rows + other.rows, self.tokens + other.tokens, self.pad_tokens + other.pad_tokens,
                         self.truncated_tokens + other.truncated_tokens)


def split_long(tokens: Sequence[int], max_len: int) -> List[List[int]]:
    """`tokens` cut into consecutive pieces of at most `max_len` (all tokens kept, in order)."""
    if max_len < 1:
        raise ValueError(f"max_len must be positive, got {max_len}")
    return [list(tokens[i:i + max_len]) for i in range(0, len(tokens), max_len)]


def _check(row_len: int) -> None:
    if row_len < 1:
        raise ValueError(f"row_len must be positive, got {row_len}")


def best_fit_pack(segments: Iterable[Document], row_len: int, pad_id: int) -> Tuple[List[PackedRow], PackStats]:
    """Best-fit decreasing packing of documents (split first when longer than `row_len`)."""
    _check(row_len)
    stats = PackStats()
    pieces: List[Tuple[int, str, int, List[int]]] = []
    for doc_id, tokens in segments:
        if not len(tokens):
            continue
        if len(tokens) > row_len:
            stats.truncated_tokens += len(tokens)
        for index, piece in enumerate(split_long(tokens, row_len)):
            pieces.append((len(piece), doc_id, index, piece))
    pieces.sort(key=lambda p: (-p[0], p[1], p[2]))

    rows: List[PackedRow] = []
    # (remaining capacity, row index), sorted: bisect finds the tightest row that fits.
    open_rows: List[Tuple[int, int]] = []
    for length, doc_id, _, piece in pieces:
        at = bisect.bisect_left(open_rows, (length, -1))
        if at < len(open_rows):
            remaining, row_index = open_rows.pop(at)
        else:
            remaining, row_index = row_len, len(rows)
            rows.append(PackedRow([], [], []))
        row = rows[row_index]
        row.tokens.extend(piece)
        row.doc_lengths.append(length)
        row.doc_ids.append(doc_id)
        remaining -= length
        if remaining > 0:
            bisect.insort(open_rows, (remaining, row_index))
    for row in rows:
        pad = row_len - len(row.tokens)
        row.tokens.extend([pad_id] * pad)
        stats.pad_tokens += pad
    stats.rows = len(rows)
    stats.tokens = len(rows) * row_len
    return rows, stats


def concat_pack(segments: Iterable[Document], row_len: int, pad_id: int) -> Tuple[List[PackedRow], PackStats]:
    """Concatenate documents in order and cut into rows; the last row is padded."""
    _check(row_len)
    stats = PackStats()
    rows: List[PackedRow] = []
    current = PackedRow([], [], [])
    for doc_id, tokens in segments:
        n = len(tokens)
        if not n:
            continue
        start_row = len(rows)
        offset = 0
        while offset < n:
            take = min(row_len - len(current.tokens), n - offset)
            current.tokens.extend(tokens[offset:offset + take])
            current.doc_lengths.append(take)
            current.doc_ids.append(doc_id)
            offset += take
            if len(current.tokens) == row_len:
                rows.append(current)
                current = PackedRow([], [], [])
        # the document spans more than one row when a row boundary fell strictly inside it
        last_row = len(rows) if current.tokens else len(rows) - 1
        if last_row > start_row:
            stats.truncated_tokens += n
    if current.tokens:
        pad = row_len - len(current.tokens)
        current.tokens.extend([pad_id] * pad)
        stats.pad_tokens += pad
        rows.append(current)
    stats.rows = len(rows)
    stats.tokens = len(rows) * row_len
    return rows, stats


def unpack_segments(row_tokens: Sequence[int], doc_lengths: Sequence[int]) -> List[List[int]]:
    """The document segments of a row, in order (the inverse of packing, padding dropped)."""
    out, offset = [], 0
    for length in doc_lengths:
        out.append(list(row_tokens[offset:offset + length]))
        offset += length
    return out
