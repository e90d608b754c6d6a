"""Packing algorithms: nothing lost, rows full-length, padding counted, best-fit beats concat on padding."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from tokenizer.pack import best_fit_pack, concat_pack, split_long, unpack_segments

PAD = 0


def make_docs(lengths, start=0):
    """Documents whose token values encode (document, position), so every token is traceable."""
    return [(f"d{i:04d}", [1 + (i * 1000 + j) % 60000 for j in range(n)]) for i, n in enumerate(lengths, start)]


def skewed_lengths(n=400, seed=0):
    rng = random.Random(seed)
    # many short documents and a long tail, like web text (lognormal-ish)
    return [max(1, int(rng.lognormvariate(3.5, 1.0))) for _ in range(n)]


def reassemble(rows):
    """doc_id -> its tokens, concatenated from its segments in row order (pieces of a split doc stay in order)."""
    pieces = {}
    for row in rows:
        for doc_id, seg in zip(row.doc_ids, unpack_segments(row.tokens, row.doc_lengths)):
            pieces.setdefault(doc_id, []).append(seg)
    return pieces


@pytest.mark.parametrize("max_len", [1, 3, 7, 100])
def test_split_long_never_loses_tokens(max_len):
    tokens = list(range(23))
    pieces = split_long(tokens, max_len)
    assert [t for p in pieces for t in p] == tokens
    assert all(1 <= len(p) <= max_len for p in pieces)
    assert len(pieces) == -(-len(tokens) // max_len)
    assert split_long([], 5) == []
    with pytest.raises(ValueError):
        split_long(tokens, 0)


@pytest.mark.parametrize("pack", [best_fit_pack, concat_pack])
def test_every_token_exactly_once_and_rows_well_formed(pack):
    row_len = 129
    docs = make_docs(skewed_lengths() + [row_len, row_len + 1, 3 * row_len + 5])
    rows, stats = pack(docs, row_len, PAD)
    assert all(len(r.tokens) == row_len for r in rows)
    assert all(sum(r.doc_lengths) <= row_len and all(n > 0 for n in r.doc_lengths) for r in rows)
    assert all(len(r.doc_ids) == len(r.doc_lengths) for r in rows)
    pads = sum(row_len - sum(r.doc_lengths) for r in rows)
    assert all(all(t == PAD for t in r.tokens[sum(r.doc_lengths):]) for r in rows)
    assert stats.pad_tokens == pads and stats.rows == len(rows) and stats.tokens == len(rows) * row_len
    assert stats.non_pad_tokens == sum(len(t) for _, t in docs)
    # multiset of tokens preserved, and each document's pieces reassemble in order
    all_tokens = Counter(t for r in rows for t in r.tokens[:sum(r.doc_lengths)])
    assert all_tokens == Counter(t for _, toks in docs for t in toks)
    pieces = reassemble(rows)
    for doc_id, toks in docs:
        got = sorted(pieces[doc_id], key=lambda seg: toks.index(seg[0]))
        assert [t for seg in got for t in seg] == toks


def test_best_fit_splits_only_long_documents():
    row_len = 64
    docs = make_docs(skewed_lengths(300, seed=1))
    rows, stats = best_fit_pack(docs, row_len, PAD)
    long_docs = {d for d, t in docs if len(t) > row_len}
    pieces = reassemble(rows)
    for doc_id, toks in docs:
        assert (len(pieces[doc_id]) > 1) == (doc_id in long_docs)
        if doc_id not in long_docs:
            assert pieces[doc_id] == [toks]  # short documents land whole in one row
    assert stats.truncated_tokens == sum(len(t) for d, t in docs if d in long_docs)
    assert stats.truncated_fraction == pytest.approx(stats.truncated_tokens / stats.non_pad_tokens)


def test_best_fit_is_best_fit_and_deterministic():
    row_len = 10
    docs = [("a", [1] * 6), ("b", [2] * 5), ("c", [3] * 4), ("d", [4] * 4), ("e", [5] * 1)]
    rows, stats = best_fit_pack(docs, row_len, PAD)
    # decreasing: a(6) opens row0, b(5) opens row1, c(4) -> row0 (rem 4, tightest), d(4) -> row1 (rem 5),
    # e(1) -> row1 (rem 1)
    assert [r.doc_ids for r in rows] == [["a", "c"], ["b", "d", "e"]]
    assert stats.pad_tokens == 0
    shuffled = docs[:]
    random.Random(4).shuffle(shuffled)
    assert best_fit_pack(shuffled, row_len, PAD) == (rows, stats)


def test_best_fit_pads_less_than_concat_truncates_less():
    row_len = 257
    docs = make_docs(skewed_lengths(2000, seed=2))
    bf_rows, bf = best_fit_pack(docs, row_len, PAD)
    cc_rows, cc = concat_pack(docs, row_len, PAD)
    # concat pads only its last row; best-fit pays a little padding to split only over-long documents
    assert cc.pad_tokens < row_len
    assert bf.truncated_fraction < cc.truncated_fraction / 3
    assert bf.pad_fraction < 0.05
    assert bf.non_pad_tokens == cc.non_pad_tokens


def test_best_fit_pads_less_than_one_document_per_row():
    """On a skewed distribution best-fit packs far tighter than padding each document to a row."""
    row_len = 257
    docs = make_docs(skewed_lengths(1000, seed=3))
    _, bf = best_fit_pack(docs, row_len, PAD)
    naive_rows = sum(-(-len(t) // row_len) for _, t in docs)
    assert bf.rows < naive_rows / 3


def test_concat_straddling_documents_count_as_truncated():
    rows, stats = concat_pack([("a", [1] * 6), ("b", [2] * 6), ("c", [3] * 3)], 5, PAD)
    assert [r.doc_lengths for r in rows] == [[5], [1, 4], [2, 3]]
    assert [r.doc_ids for r in rows] == [["a"], ["a", "b"], ["b", "c"]]
    assert stats.truncated_tokens == 12 and stats.pad_tokens == 0  # a and b split; c fits exactly
    rows, stats = concat_pack([("a", [1] * 5), ("b", [2] * 2)], 5, PAD)
    assert stats.truncated_tokens == 0 and stats.pad_tokens == 3
    assert concat_pack([], 5, PAD)[0] == [] and best_fit_pack([], 5, PAD)[0] == []


@pytest.mark.parametrize("method", ["best-fit", "concat"])
def test_layout_fill_matches_rows_in_uint16(method):
    """The Beam path (lengths -> layout -> numpy fill in the shard dtype) gives the same rows as the list API."""
    import numpy as np

    from tokenizer.pack import fill_rows, pack_layout

    row_len = 129
    docs = sorted(make_docs(skewed_lengths(300, seed=5) + [3 * row_len + 7]), key=lambda d: d[0])
    layout, stats = pack_layout(method, [len(t) for _, t in docs], row_len)
    matrix, doc_lengths = fill_rows([np.asarray(t, dtype=np.uint16) for _, t in docs], layout, row_len, PAD, "uint16")
    rows, stats2 = (best_fit_pack if method == "best-fit" else concat_pack)(docs, row_len, PAD)
    assert matrix.dtype == np.uint16 and matrix.shape == (len(rows), row_len) and stats == stats2
    assert matrix.tolist() == [r.tokens for r in rows]
    assert doc_lengths == [r.doc_lengths for r in rows]
    assert [[docs[d][0] for d, _, _ in row] for row in layout] == [r.doc_ids for r in rows]


def test_truncation_floor_best_fit_meets_it_concat_exceeds_it():
    from tokenizer.pack import truncation_floor

    row_len = 257
    docs = make_docs(skewed_lengths(1500, seed=6))
    lengths = [len(t) for _, t in docs]
    floor = truncation_floor(lengths, row_len)
    assert floor == sum(n for n in lengths if n > row_len) > 0
    _, bf = best_fit_pack(docs, row_len, PAD)
    _, cc = concat_pack(docs, row_len, PAD)
    assert bf.truncated_tokens == floor
    assert cc.truncated_tokens > floor
    assert bf.rows <= cc.rows  # on this skewed mix best-fit needs no more rows than concat
