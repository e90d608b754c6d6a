"""Packing tokenized documents into fixed-length rows.

A row holds `row_len = seq_len + 1` ids (inputs `tokens[:-1]`, targets `tokens[1:]`), the lengths of the
document segments it contains, in order, and their document ids. Padding (`pad_id`) fills the tail.

Packing is planned on lengths alone (`best_fit_layout`, `concat_layout`: which piece of which document goes
into which row) and only then are the tokens copied, one numpy slice per segment (`fill_rows`), so the cost
per token is a memcpy, never a Python loop.

- Best-fit decreasing, as in "Fewer Truncations Improve Language Modeling" (Ding et al., 2024). Documents
  longer than a row are first cut into row-sized pieces (`split_long`; every token is kept, only the context
  is broken). Pieces are sorted by length, longest first (ties by document index and piece index, so the
  input order the caller fixes decides ties), and each goes into the open row with the least remaining space
  that still fits it, found by bisection on a sorted list of (remaining, row) pairs; a new row opens when none
  fits. Only documents longer than a row are ever split, at the cost of a little padding (measured in
  benchmarks/RESULTS.md: about 0.01% at seq_len 2048 on real documents, groups of ~7k rows). O(n log n) plus
  list insertion per group.
- Concatenation (`concat`): documents in the given order, chunked every `row_len` tokens; no padding except
  the last row, but every document that straddles a row boundary is split.

`truncated_tokens` counts the tokens of every document that ends up in two or more rows (all its tokens,
whenever at least one split falls inside it). No method can do better than the floor: the tokens of the
documents longer than a row. Best-fit equals that floor exactly; concatenation adds every short document that
straddles a boundary. `truncated_fraction` = truncated_tokens / non-pad tokens; `pad_fraction` = pad tokens /
all tokens (rows x row_len). Both methods are deterministic: the same documents in the same order give the
same rows in the same order.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, List, NamedTuple, Sequence, Tuple

import numpy as np

Document = Tuple[str, Sequence[int]]  # (document id, token ids)
# One segment of a row: (document index, start offset in the document, length).
Placement = Tuple[int, int, int]
Layout = List[List[Placement]]
METHODS = ("best-fit", "concat")


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


def truncation_floor(lengths: Iterable[int], row_len: int) -> int:
    """Tokens that any packing must split: those of documents longer than a row."""
    return sum(n for n in lengths if n > row_len)


def _check(row_len: int) -> None:
    if row_len < 1:
        raise ValueError(f"row_len must be positive, got {row_len}")


def best_fit_layout(lengths: Sequence[int], row_len: int) -> Tuple[Layout, PackStats]:
    """Best-fit decreasing plan for documents of these lengths (in this order, which breaks ties)."""
    _check(row_len)
    stats = PackStats()
    layout: Layout = []
    pieces: List[Tuple[int, int, int, int]] = []  # (-length, doc index, start, length)
    for doc, n in enumerate(lengths):
        if n > row_len:
            stats.truncated_tokens += n
            full = n // row_len
            # full-row pieces go straight to rows of their own: nothing else can share them
            layout.extend([[(doc, k * row_len, row_len)] for k in range(full)])
            if n - full * row_len:
                pieces.append((-(n - full * row_len), doc, full * row_len, n - full * row_len))
        elif n == row_len:
            layout.append([(doc, 0, n)])
        elif n > 0:
            pieces.append((-n, doc, 0, n))
    pieces.sort()

    # (remaining capacity, row index), sorted: bisect finds the tightest row that fits (lowest index on ties).
    open_rows: List[Tuple[int, int]] = []
    for neg, doc, start, length in pieces:
        at = bisect.bisect_left(open_rows, (length, -1))
        if at < len(open_rows):
            remaining, row_index = open_rows.pop(at)
        else:
            remaining, row_index = row_len, len(layout)
            layout.append([])
        layout[row_index].append((doc, start, length))
        remaining -= length
        if remaining > 0:
            bisect.insort(open_rows, (remaining, row_index))
    stats.rows = len(layout)
    stats.tokens = len(layout) * row_len
    stats.pad_tokens = stats.tokens - sum(int(n) for n in lengths)
    return layout, stats


def concat_layout(lengths: Sequence[int], row_len: int) -> Tuple[Layout, PackStats]:
    """Concatenate-and-chunk plan for documents of these lengths, in this order; the last row is padded."""
    _check(row_len)
    stats = PackStats()
    layout: Layout = []
    current: List[Placement] = []
    used = 0
    for doc, n in enumerate(lengths):
        n = int(n)
        if n <= 0:
            continue
        if used + n > row_len:  # at least one boundary falls strictly inside this document
            stats.truncated_tokens += n
        offset = 0
        while offset < n:
            take = min(row_len - used, n - offset)
            current.append((doc, offset, take))
            offset += take
            used += take
            if used == row_len:
                layout.append(current)
                current, used = [], 0
    if current:
        stats.pad_tokens = row_len - used
        layout.append(current)
    stats.rows = len(layout)
    stats.tokens = len(layout) * row_len
    return layout, stats


def pack_layout(method: str, lengths: Sequence[int], row_len: int) -> Tuple[Layout, PackStats]:
    if method == "best-fit":
        return best_fit_layout(lengths, row_len)
    if method == "concat":
        return concat_layout(lengths, row_len)
    raise ValueError(f"packing method must be one of {METHODS}, got {method!r}")


def fill_rows(documents: Sequence[np.ndarray], layout: Layout, row_len: int, pad_id: int,
              dtype=np.uint32) -> Tuple[np.ndarray, List[List[int]]]:
    """The (rows, row_len) token matrix of a layout, padded with `pad_id`, and each row's doc_lengths."""
    out = np.full((len(layout), row_len), pad_id, dtype=dtype)
    doc_lengths: List[List[int]] = []
    for r, row in enumerate(layout):
        offset = 0
        lengths = []
        for doc, start, length in row:
            out[r, offset:offset + length] = documents[doc][start:start + length]
            offset += length
            lengths.append(length)
        doc_lengths.append(lengths)
    return out, doc_lengths


def _pack(method: str, segments: Iterable[Document], row_len: int, pad_id: int) -> Tuple[List[PackedRow], PackStats]:
    docs = [(doc_id, np.asarray(tokens, dtype=np.int64)) for doc_id, tokens in segments if len(tokens)]
    if method == "best-fit":  # the result does not depend on the input order (ids break length ties)
        docs.sort(key=lambda d: d[0])
    layout, stats = pack_layout(method, [len(t) for _, t in docs], row_len)
    matrix, doc_lengths = fill_rows([t for _, t in docs], layout, row_len, pad_id, np.int64)
    rows = [PackedRow(matrix[r].tolist(), doc_lengths[r], [docs[doc][0] for doc, _, _ in layout[r]])
            for r in range(len(layout))]
    return rows, stats


def best_fit_pack(segments: Iterable[Document], row_len: int, pad_id: int) -> Tuple[List[PackedRow], PackStats]:
    """Best-fit decreasing packing of documents (split first when longer than `row_len`), as Python rows."""
    return _pack("best-fit", segments, row_len, pad_id)


def concat_pack(segments: Iterable[Document], row_len: int, pad_id: int) -> Tuple[List[PackedRow], PackStats]:
    """Concatenate documents in order and cut into rows; the last row is padded."""
    return _pack("concat", segments, row_len, pad_id)


def unpack_segments(row_tokens: Sequence[int], doc_lengths: Sequence[int]) -> List[List[int]]:
    """The document segments of a row, in order (the inverse of packing, padding dropped)."""
    out, offset = [], 0
    for length in doc_lengths:
        out.append(list(row_tokens[offset:offset + length]))
        offset += length
    return out
