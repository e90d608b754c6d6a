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
    with pytest.raises(ValueError, match="max_len must be positive"):
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


def reference_best_fit(docs, row_len):
    """Best-fit decreasing written the plain way, independently of tokenizer.pack (no bisection, no layout, no
    numpy): documents in id order; each whole row-sized piece of a long document takes a row of its own, in
    document order; the remaining pieces, longest first (ties: earlier document), each go to the row with the
    least free space that still holds it (ties: the earliest row), else to a new row. Returns
    [(doc_ids, doc_lengths, tokens)] and (pad_tokens, truncated_tokens)."""
    docs = sorted(((d, list(t)) for d, t in docs if len(t)), key=lambda d: d[0])
    rows = []  # each row: list of (doc_id, segment)
    pieces = []
    for index, (doc_id, toks) in enumerate(docs):
        whole = len(toks) // row_len
        rows += [[(doc_id, toks[k * row_len:(k + 1) * row_len])] for k in range(whole)]
        if len(toks) % row_len:
            pieces.append((index, doc_id, toks[whole * row_len:]))
    pieces.sort(key=lambda p: (-len(p[2]), p[0]))
    for _, doc_id, seg in pieces:
        free = [(row_len - sum(len(s) for _, s in row), r) for r, row in enumerate(rows)]
        fits = [(room, r) for room, r in free if room >= len(seg)]
        if fits:
            rows[min(fits)[1]].append((doc_id, seg))
        else:
            rows.append([(doc_id, seg)])
    return _as_rows(rows, row_len), _reference_stats(docs, rows, row_len)


def reference_concat(docs, row_len):
    """Concatenate every token, tagged with its document, and cut every row_len tokens."""
    tagged = [(doc_id, t) for doc_id, toks in docs for t in toks]
    rows = []
    for start in range(0, len(tagged), row_len):
        row = []
        for doc_id, t in tagged[start:start + row_len]:
            if row and row[-1][0] == doc_id:
                row[-1][1].append(t)
            else:
                row.append((doc_id, [t]))
        rows.append(row)
    return _as_rows(rows, row_len), _reference_stats([d for d in docs if len(d[1])], rows, row_len)


def _as_rows(rows, row_len):
    out = []
    for row in rows:
        tokens = [t for _, seg in row for t in seg]
        assert len(tokens) <= row_len
        out.append(([d for d, _ in row], [len(seg) for _, seg in row], tokens + [PAD] * (row_len - len(tokens))))
    return out


def _reference_stats(docs, rows, row_len):
    rows_of = Counter(d for row in rows for d, _ in row)
    truncated = sum(len(t) for d, t in docs if rows_of[d] > 1)
    return len(rows) * row_len - sum(len(t) for _, t in docs), truncated


REFERENCES = {"best-fit": (best_fit_pack, reference_best_fit), "concat": (concat_pack, reference_concat)}


@pytest.mark.parametrize("method", ["best-fit", "concat"])
@pytest.mark.parametrize("seed", range(6))
def test_packing_equals_the_plain_reference(method, seed):
    rng = random.Random(seed)
    row_len = rng.choice([5, 16, 64, 129])
    # lengths around the row length (equal, multiples, one over) and duplicates, so every tie rule is exercised
    choices = [0, 1, 2, 3, row_len - 1, row_len, row_len + 1, 2 * row_len, 3 * row_len + 2]
    lengths = [rng.choice(choices) if rng.random() < 0.4 else max(1, int(rng.lognormvariate(2.5, 1.2)))
               for _ in range(rng.randint(1, 150))]
    docs = make_docs(lengths)
    rng.shuffle(docs)
    pack, reference = REFERENCES[method]
    rows, stats = pack(docs, row_len, PAD)
    expected, (pad_tokens, truncated_tokens) = reference(docs, row_len)
    assert [(r.doc_ids, r.doc_lengths, r.tokens) for r in rows] == expected
    assert (stats.rows, stats.pad_tokens, stats.truncated_tokens) == (len(expected), pad_tokens, truncated_tokens)


def test_best_fit_hand_computed_packing_with_long_documents():
    row_len = 8
    docs = [("a", [1] * 19), ("b", [2] * 8), ("c", [3] * 5), ("d", [4] * 3), ("e", [5] * 3), ("f", [6] * 2)]
    rows, stats = best_fit_pack(docs, row_len, PAD)
    # a: two whole rows, then its 3-token tail; b: a row of its own. Pieces longest first: c(5) opens a row
    # (free 3), a-tail(3) fills it; d(3) opens a row (free 5), e(3) goes there (free 2), f(2) fills it.
    assert [(r.doc_ids, r.doc_lengths) for r in rows] == [
        (["a"], [8]), (["a"], [8]), (["b"], [8]), (["c", "a"], [5, 3]), (["d", "e", "f"], [3, 3, 2])]
    assert rows[3].tokens == [3] * 5 + [1] * 3
    assert stats.rows == 5 and stats.pad_tokens == 0 and stats.truncated_tokens == 19
    rows, stats = best_fit_pack([("x", [7] * 3), ("y", [8] * 2)], 4, PAD)
    assert [r.tokens for r in rows] == [[7, 7, 7, PAD], [8, 8, PAD, PAD]] and stats.pad_tokens == 3


@pytest.mark.parametrize("method", ["best-fit", "concat"])
def test_layout_fill_matches_reference_rows_in_uint16(method):
    """The Beam path (lengths -> layout -> numpy fill in the shard dtype) gives the reference rows."""
    import numpy as np

    from tokenizer.pack import fill_rows, pack_layout

    row_len = 129
    docs = sorted(make_docs(skewed_lengths(300, seed=5) + [3 * row_len + 7]), key=lambda d: d[0])
    layout, stats = pack_layout(method, [len(t) for _, t in docs], row_len)
    matrix, doc_lengths = fill_rows([np.asarray(t, dtype=np.uint16) for _, t in docs], layout, row_len, PAD, "uint16")
    expected, (pad_tokens, truncated_tokens) = REFERENCES[method][1](docs, row_len)
    assert matrix.dtype == np.uint16 and matrix.shape == (len(expected), row_len)
    assert matrix.tolist() == [tokens for _, _, tokens in expected]
    assert doc_lengths == [lengths for _, lengths, _ in expected]
    assert [[docs[d][0] for d, _, _ in row] for row in layout] == [ids for ids, _, _ in expected]
    assert (stats.pad_tokens, stats.truncated_tokens) == (pad_tokens, truncated_tokens)


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
