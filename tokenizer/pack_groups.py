"""The tokenize job's packing groups: which group a document packs in, how many groups and shards there are,
and one group packed into keyed rows. Plain functions of ids, lengths and token bytes; the Beam composite
(`pipelines.transforms.tokenize.PackSequences`) only routes documents and rows between them.

Every document goes to a packing group by a hash of (seed, id) -- the global document shuffle. The number of
groups comes from an estimate of the corpus's tokens (`estimated_tokens` of the input's text bytes, known
before encoding) so that a group holds about `rows_per_group` rows, which bounds the memory of one group
whatever the corpus size. Inside a group documents are put in a total order (`packing_order`: by id for
best-fit, by hash of (seed, id) for concat) and laid out with `tokenizer.pack.pack_layout`. The same layout is
first made on (id, length) pairs alone (`plan_group`): its row count gives the shard count (`shard_count`)
before any token is packed, so `pack_group` can key each row for its shard at once. Rows are keyed
`group:index`; a row goes to shard `sample_hash(key, seed) % shards` (`row_shard`), the global row shuffle.
Nothing depends on arrival order, so the rows are the same whatever the worker count or bundle boundaries.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from tokenizer.pack import fill_rows, pack_layout
from tokenizer.train import sample_hash

# Input text bytes per token assumed when the packing groups are sized before encoding (byte-level BPE on
# English prose gives 3.5-4.5; a wrong guess only makes the groups larger or smaller than rows_per_group).
TEXT_BYTES_PER_TOKEN = 4

# One packed row: (row key `group:index`, token bytes in the shard dtype, doc_lengths, doc_ids or None).
KeyedRow = Tuple[str, bytes, List[int], Optional[List[str]]]


def estimated_tokens(text_bytes: int) -> int:
    return text_bytes // TEXT_BYTES_PER_TOKEN


def groups_for(total_tokens: int, row_len: int, rows_per_group: int) -> int:
    """Packing groups for `total_tokens`: about `rows_per_group` rows of `row_len` each, at least one."""
    return max(1, math.ceil(total_tokens / (row_len * rows_per_group)))


def packing_group(doc_id: str, total_tokens: int, row_len: int, rows_per_group: int, seed: int) -> int:
    """The group a document packs in: a hash of (seed, id) over `groups_for` groups."""
    return sample_hash(doc_id, seed) % groups_for(total_tokens, row_len, rows_per_group)


def packing_order(method: str, seed: int) -> Callable[[tuple], tuple]:
    """A total order on a group's documents ((id, length, ...) tuples), independent of arrival order: concat
    shuffles them by hash, best-fit sorts by id (its layout then sorts by length, ties in this order). Ids are
    unique after curate; should duplicates slip through, the length and then the tokens break the tie, so the
    order of the lengths alone -- all that the plan sees -- is the same as the packer's."""
    if method == "concat":
        return lambda d: (sample_hash(d[0], seed), d[0]) + tuple(d[1:])
    return lambda d: tuple(d)


def plan_group(element: Tuple[int, Iterable[Tuple[str, int]]], method: str, row_len: int,
               seed: int) -> Tuple[int, int, int, int]:
    """(group, [(id, length)]) -> the group's (rows, tokens, pad, truncated tokens): the packer's layout made on
    lengths alone, so the row count (and from it the shard count) is known before any token is packed."""
    _, docs = element
    docs = sorted(docs, key=packing_order(method, seed))
    _, stats = pack_layout(method, [length for _, length in docs], row_len)
    return stats.rows, stats.tokens, stats.pad_tokens, stats.truncated_tokens


def sum_counts(values: Iterable[Sequence[int]]) -> Tuple[int, ...]:
    """Element-wise sum of equal-length count tuples (the groups' plans, the sources' counts); () for none."""
    total: Optional[List[int]] = None
    for v in values:
        total = list(v) if total is None else [a + b for a, b in zip(total, v)]
    return tuple(total) if total is not None else ()


def shard_count(rows: int, rows_per_shard: int) -> int:
    return math.ceil(rows / rows_per_shard)


def row_shard(key: str, seed: int, n_shards: int) -> int:
    """The shard a row goes to, by a hash of (seed, row key): the global row shuffle."""
    return sample_hash(key, seed) % n_shards


def pack_group(group: int, docs: Iterable[Tuple[str, bytes]], method: str, row_len: int, pad_id: int, seed: int,
               dtype: str, with_doc_ids: bool) -> Iterator[KeyedRow]:
    """(group, [(id, token bytes)]) -> its rows, keyed `group:index`: the layout is made on lengths (as
    `plan_group` made it) and each row is filled, with one numpy copy per segment, as it is yielded (a matrix
    of the whole group would be one more copy of its tokens)."""
    itemsize = np.dtype(dtype).itemsize
    docs = sorted(((doc_id, len(data) // itemsize, data) for doc_id, data in docs), key=packing_order(method, seed))
    arrays = [np.frombuffer(data, dtype=dtype) for _, _, data in docs]
    layout, _ = pack_layout(method, [len(a) for a in arrays], row_len)
    for index, row in enumerate(layout):
        tokens, doc_lengths = fill_rows(arrays, [row], row_len, pad_id, dtype)
        ids = [docs[doc][0] for doc, _, _ in row] if with_doc_ids else None
        yield f"{group}:{index}", tokens.tobytes(), doc_lengths[0], ids
