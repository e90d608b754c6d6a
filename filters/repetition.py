"""Gopher repetition rules (Rae et al. 2021, appendix A, table A1), as datatrove's GopherRepetitionFilter applies them.

Published thresholds (the defaults): duplicate paragraphs at most 30 % of paragraphs and 20 % of characters,
duplicate lines at most 30 % of lines and 20 % of characters; the most frequent 2-, 3-, 4-gram may cover at
most 20 %, 18 %, 16 % of the characters; duplicated 5- to 10-grams at most 15 %, 14 %, 13 %, 12 %, 11 %, 10 %.

Definitions follow datatrove so decisions agree: paragraphs split on two or more newlines, lines on one or more;
a paragraph or line is a duplicate from its second occurrence on (its characters count each time); n-grams are
over `filters.text.word_tokens` (punctuation tokens included); the top n-gram covers len(" ".join(gram)) x
count characters; duplicated n-grams are counted greedily left to right, skipping n words past each repeat, with
lengths of the joined words without spaces. Every fraction divides by len(text).

All fractions are computed and stored as scores (`gopher_rep_*`) before the rules run in datatrove's order; the
first that fails names the reason. Any threshold set to None (or a pair removed from a list) disables it.

N-grams of a document under ARRAY_MIN_WORDS words are counted as tuples and joined strings in a Counter; from it
on, as int32 class ids in numpy arrays (`_NgramClasses`: exact classes, hashes only ever proposing candidates
that are then compared), which keeps the peak to a few dozen bytes per word (10 MB of distinct words: ~45 MiB
instead of ~250 MiB) and gives the same numbers to the last bit.
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import chain, compress
from operator import eq
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from filters.base import Document, DocumentFilter
from filters.stage_options import Fraction, PositiveInt, Sources, checked_options
from filters.text import word_tokens
from schemas import TEXT

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
TOP_N_GRAMS = ((2, 0.20), (3, 0.18), (4, 0.16))
DUP_N_GRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


def duplicates(items: Sequence[str]) -> Tuple[int, int]:
    """(repeated items, their characters): every occurrence after the first counts."""
    seen = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


def _top_ngram_chars_counter(words: Sequence[str], n: int) -> int:
    """top_ngram_chars with a Counter of the n-gram tuples (short documents)."""
    if len(words) < n:
        return 0
    counts = Counter(zip(*(words[i:] for i in range(n))))  # the n-grams in order, built in C
    # Counter.most_common keeps first-seen order among ties, like datatrove's.
    gram, count = counts.most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count


def _duplicated_ngram_chars_strings(words: Sequence[str], n: int) -> int:
    """duplicated_ngram_chars with the joined strings of all n-grams in a list and a Counter (short documents)."""
    grams = list(map("".join, zip(*(words[i:] for i in range(n)))))  # gram i = "".join(words[i:i + n])
    counts = Counter(grams)
    if len(counts) == len(grams):
        return 0  # no gram occurs twice (most texts)
    repeated = compress(range(len(grams)), map((1).__lt__, map(counts.__getitem__, grams)))
    seen = set()
    chars = i = 0
    for p in repeated:
        if p < i:  # inside the n words skipped after a repeat
            continue
        gram = grams[p]
        if gram in seen:
            chars += len(gram)
            i = p + n
        else:
            seen.add(gram)
            i = p + 1
    return chars


# From this many words on, n-grams are counted as int32 ids in numpy arrays (~40-55 bytes per word at the peak)
# instead of as tuples and strings in a Counter (~150-220 bytes per word). The Counter is faster below ~800 words
# (an ordinary document), the arrays above (twice as fast from ~8,000).
ARRAY_MIN_WORDS = 1024
_CHUNK = 1 << 16  # array entries handled at a time where each becomes a Python object or a wide temporary


def _group(consumed: List[np.ndarray], items=None) -> Tuple[np.ndarray, np.ndarray]:
    """(ids, members): int32 class ids of the entries of the keys (an array, the one item of `consumed`: taken
    from it, so that it is freed once sorted), equal keys one class, and for each class the index (int32) of one
    of its entries.

    With `items` (a list of entry indices -> an iterable of the objects they stand for), keys are hashes of those
    objects: entries of equal key are compared, and a key shared by different objects is split into one class
    per object, so the classes are exactly the objects' equality classes whatever the hash."""
    keys = consumed.pop()
    size = len(keys)
    order = np.argsort(keys)
    new = np.empty(size, dtype=bool)  # the entry at this place in sorted order starts a class
    new[:1] = True
    for k in range(1, size, _CHUNK):
        sorted_keys = keys[order[k - 1:k + _CHUNK]]
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[k:k + _CHUNK])
    del keys
    rank = np.cumsum(new, dtype=np.int32)
    rank -= 1
    if items is not None:
        # each entry against the one before it in sorted order: equal keys and equal objects are one class
        collided = []
        for k in range(1, size, _CHUNK):
            tied = np.flatnonzero(~new[k:k + _CHUNK])
            tied += k
            same = np.fromiter(map(eq, items(order[tied - 1].tolist()), items(order[tied].tolist())),
                               dtype=bool, count=len(tied))
            collided.append(tied[~same])
        collided = np.concatenate(collided) if collided else np.empty(0, dtype=np.intp)
        if len(collided):
            starts = np.append(np.flatnonzero(new), size)
            sub = np.zeros(size, dtype=np.int64)  # the object's number among those of its key
            for g in np.unique(rank[collided]).tolist():
                numbers: dict = {}
                sub[starts[g]:starts[g + 1]] = [numbers.setdefault(item, len(numbers))
                                                for item in items(order[starts[g]:starts[g + 1]].tolist())]
            split = rank.astype(np.int64)
            split *= size
            split += sub
            exact = np.empty(size, dtype=np.int64)
            exact[order] = split
            del split, sub, order, new, rank
            return _group([exact])
    ids = np.empty(size, dtype=np.int32)
    ids[order] = rank
    members = np.empty(int(rank[-1]) + 1 if size else 0, dtype=np.int32)
    del rank
    done = 0
    for k in range(0, size, _CHUNK):
        starts = order[k:k + _CHUNK][new[k:k + _CHUNK]]
        members[done:done + len(starts)] = starts
        done += len(starts)
    return ids, members


def _chunks(a: np.ndarray):
    for k in range(0, len(a), _CHUNK):
        yield a[k:k + _CHUNK]


class _NgramClasses:
    """Exact classes of the n-grams of a word list, for n = 1, 2, ... in turn: an int32 id per position.

    Words are numbered by their str hashes, every pair of words of equal hash compared (`_group`). The n-grams'
    ids come from the pairs (id of the (n-1)-gram at i, id of word i+n-1), packed in one int64 and sorted, for
    the positions whose (n-1)-gram occurs more than once; any other n-gram occurs once and gets an id of its own.
    The characters of a gram's words come from prefix sums of the word lengths.
    """

    def __init__(self, words: Sequence[str]):
        self.words = words
        count = len(words)
        get = words.__getitem__
        self.word_ids, self.members = _group([np.fromiter(map(hash, words), dtype=np.int64, count=count)],
                                             lambda positions: map(get, positions))
        self.ids = self.word_ids  # the class of gram i = words[i:i + n]
        self.vocab = self.classes = len(self.members)  # members: a position of each class
        # int32 where the words' characters allow it (any document short of 2 GB)
        self.prefix = np.fromiter(chain((0,), map(len, words)), dtype=np.int64, count=count + 1)
        np.cumsum(self.prefix, out=self.prefix)
        if self.prefix[-1] < 1 << 31:
            self.prefix = self.prefix.astype(np.int32)
        self.n = 1

    def advance(self) -> None:
        """From the n-grams' classes to the (n+1)-grams'."""
        self.n += 1
        n, prev = self.n, self.ids
        size = len(prev) - 1
        last = self.word_ids[n - 1:]  # the word each (n+1)-gram adds
        # an n-gram whose (n-1)-gram occurs once occurs once itself: only the others are sorted
        repeated = (np.bincount(prev, minlength=self.classes) > 1)[prev[:-1]]
        self.ids = None
        sorted_count = int(np.count_nonzero(repeated))
        if sorted_count == size:
            keys = prev[:-1].astype(np.int64)
            del prev, repeated
            keys *= self.vocab
            keys += last
            consumed = [keys]
            del keys
            self.ids, self.members = _group(consumed)
        elif sorted_count == 0:
            del prev, repeated
            self.ids = np.arange(size, dtype=np.int32)
            self.members = self.ids
        else:
            sorted_at = np.flatnonzero(repeated)
            keys = prev[sorted_at].astype(np.int64)
            del prev
            keys *= self.vocab
            keys += last[sorted_at]
            consumed = [keys]
            del keys
            ids, members = _group(consumed)
            self.ids = np.empty(size, dtype=np.int32)
            self.ids[sorted_at] = ids
            del ids
            once = np.flatnonzero(~repeated)
            del repeated
            self.ids[once] = np.arange(len(members), len(members) + len(once), dtype=np.int32)
            self.members = np.concatenate([sorted_at[members], once]).astype(np.int32)
        self.classes = len(self.members)

    def lengths(self, positions: np.ndarray) -> np.ndarray:
        """Characters of the words of the grams at `positions`, without separators."""
        return self.prefix[positions + self.n] - self.prefix[positions]

    def top_chars(self) -> int:
        """top_ngram_chars(words, n)."""
        counts = np.bincount(self.ids, minlength=self.classes)
        if len(counts) == 0:
            return 0
        top = int(counts.max())
        # the first position of a most frequent gram: Counter.most_common's pick among ties (the first seen)
        for a in range(0, len(self.ids), _CHUNK):
            hits = np.flatnonzero(counts[self.ids[a:a + _CHUNK]] == top)
            if len(hits):
                p = a + int(hits[0])
                return (int(self.prefix[p + self.n] - self.prefix[p]) + self.n - 1) * top
        raise AssertionError("a most frequent gram occurs")

    def duplicated_chars(self) -> int:
        """duplicated_ngram_chars(words, n)."""
        n, words = self.n, self.words
        if len(self.ids) == 0:
            return 0
        if n == 1:
            cls, classes = self.ids, self.classes
        else:
            # Grams compare as joined strings: word tuples that join to one string ("ab c", "a bc") are one
            # gram. Classes are merged by their joined strings: by the hash of one gram's string per class (a
            # class's grams all join alike; each string made and dropped a chunk at a time), the strings compared
            # where hashes are equal.
            members = self.members

            def gram_strings(classes):  # the joined string of each class, from one of its grams
                starts = members[classes].tolist()
                return map("".join, map(words.__getitem__, map(slice, starts, [p + n for p in starts])))

            joined = np.empty(len(members), dtype=np.int64)
            for a in range(0, len(members), _CHUNK):
                part = range(a, min(a + _CHUNK, len(members)))
                joined[a:a + len(part)] = np.fromiter(map(hash, gram_strings(part)), dtype=np.int64,
                                                      count=len(part))
            consumed = [joined]
            del joined
            merged, kept = _group(consumed, gram_strings)
            cls, classes = merged[self.ids], len(kept)
            del merged, kept
        counts = np.bincount(cls, minlength=classes)
        if counts.max() <= 1:
            return 0  # no gram occurs twice (most texts)
        # The walk stops only at positions whose gram occurs more than once (see duplicated_ngram_chars).
        seen = bytearray(classes)
        chars = i = 0
        for a in range(0, len(cls), _CHUNK):
            part = cls[a:a + _CHUNK]
            at = np.flatnonzero(counts[part] > 1)
            for p, c, length in zip((at + a).tolist(), part[at].tolist(), self.lengths(at + a).tolist()):
                if p < i:  # inside the n words skipped after a repeat
                    continue
                if seen[c]:
                    chars += length
                    i = p + n
                else:
                    seen[c] = 1
                    i = p + 1
        return chars


def ngram_chars(words: Sequence[str], top: Iterable[int] = (), duplicated: Iterable[int] = ()
                ) -> Tuple[Dict[int, int], Dict[int, int]]:
    """({n: top_ngram_chars(words, n) for n in top}, {n: duplicated_ngram_chars(words, n) for n in duplicated}),
    the n-grams of a long word list numbered once for all n."""
    top, duplicated = sorted(set(top)), sorted(set(duplicated))
    if len(words) < ARRAY_MIN_WORDS or len(words) >= 1 << 31:  # int32 ids; int64 (id, word id) pairs
        return ({n: _top_ngram_chars_counter(words, n) for n in top},
                {n: _duplicated_ngram_chars_strings(words, n) for n in duplicated})
    top_chars = {n: 0 for n in top if n > len(words)}
    dup_chars = {n: 0 for n in duplicated if n > len(words)}
    wanted = set(top + duplicated) - set(top_chars) - set(dup_chars)
    if wanted:
        grams = _NgramClasses(words)
        for n in range(1, max(wanted) + 1):
            if n > 1:
                grams.advance()
            if n in wanted:
                if n in top:
                    top_chars[n] = grams.top_chars()
                if n in duplicated:
                    dup_chars[n] = grams.duplicated_chars()
    return top_chars, dup_chars


def top_ngram_chars(words: Sequence[str], n: int) -> int:
    """Characters covered by the most frequent n-gram: len(' '.join(gram)) x count; 0 without n-grams. Among
    grams equally frequent, the first to occur (Counter.most_common's order, like datatrove's)."""
    return ngram_chars(words, top=(n,))[0][n]


def duplicated_ngram_chars(words: Sequence[str], n: int) -> int:
    """Characters in repeated n-grams, greedily left to right (a repeat skips its n words). A gram is the string
    "".join(words[i:i + n]), as in datatrove: two word tuples that join to one string are one gram.

    The walk stops only at positions whose gram occurs more than once: a gram that occurs once can neither be a
    repeat nor make a later gram one, so jumping over such positions gives the walk's exact count."""
    return ngram_chars(words, duplicated=(n,))[1][n]


@checked_options
class GopherRepetitionFilter(DocumentFilter):
    name = "quality"

    def __init__(
        self,
        dup_line_frac: Optional[Fraction] = 0.3,
        dup_para_frac: Optional[Fraction] = 0.3,
        dup_line_char_frac: Optional[Fraction] = 0.2,
        dup_para_char_frac: Optional[Fraction] = 0.2,
        # (n, largest fraction of the characters) pairs; null or [] turns the rule off
        top_n_grams: Optional[Sequence[Tuple[PositiveInt, Fraction]]] = TOP_N_GRAMS,
        dup_n_grams: Optional[Sequence[Tuple[PositiveInt, Fraction]]] = DUP_N_GRAMS,
        sources: Sources = None,
    ):
        super().__init__(sources)
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_n_grams = [(int(n), float(f)) for n, f in (top_n_grams or ())]
        self.dup_n_grams = [(int(n), float(f)) for n, f in (dup_n_grams or ())]

    def score(self, text: str, tokens: Optional[List[str]] = None) -> Dict[str, float]:
        length = max(len(text), 1)
        paragraphs = _PARAGRAPHS.split(text.strip())
        para_dups, para_chars = duplicates(paragraphs)
        lines = _LINES.split(text)
        line_dups, line_chars = duplicates(lines)
        s = {
            "gopher_rep_dup_para_frac": para_dups / len(paragraphs),
            "gopher_rep_dup_para_char_frac": para_chars / length,
            "gopher_rep_dup_line_frac": line_dups / len(lines),
            "gopher_rep_dup_line_char_frac": line_chars / length,
        }
        words = word_tokens(text) if tokens is None else tokens
        top, dup = ngram_chars(words, [n for n, _ in self.top_n_grams], [n for n, _ in self.dup_n_grams])
        for n, _ in self.top_n_grams:
            s[f"gopher_rep_top_{n}_gram"] = top[n] / length
        for n, _ in self.dup_n_grams:
            s[f"gopher_rep_dup_{n}_gram"] = dup[n] / length
        return s

    def decide(self, s: Dict[str, float]) -> Optional[str]:
        if self.dup_para_frac is not None and s["gopher_rep_dup_para_frac"] > self.dup_para_frac:
            return "gopher_rep_dup_para_frac"
        if self.dup_para_char_frac is not None and s["gopher_rep_dup_para_char_frac"] > self.dup_para_char_frac:
            return "gopher_rep_dup_para_char_frac"
        if self.dup_line_frac is not None and s["gopher_rep_dup_line_frac"] > self.dup_line_frac:
            return "gopher_rep_dup_line_frac"
        if self.dup_line_char_frac is not None and s["gopher_rep_dup_line_char_frac"] > self.dup_line_char_frac:
            return "gopher_rep_dup_line_char_frac"
        for n, frac in self.top_n_grams:
            if s[f"gopher_rep_top_{n}_gram"] > frac:
                return f"gopher_rep_top_{n}_gram"
        for n, frac in self.dup_n_grams:
            if s[f"gopher_rep_dup_{n}_gram"] > frac:
                return f"gopher_rep_dup_{n}_gram"
        return None

    def apply(self, doc: Document, tokens: Optional[List[str]] = None) -> Optional[str]:
        text = doc[TEXT]
        if not text:
            return "gopher_rep_empty"
        scores = self.score(text, tokens)
        self.set_scores(doc, scores)
        return self.decide(scores)
