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
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import compress
from typing import Dict, List, Optional, Sequence, Tuple

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


def top_ngram_chars(words: Sequence[str], n: int) -> int:
    """Characters covered by the most frequent n-gram: len(' '.join(gram)) x count; 0 without n-grams."""
    if len(words) < n:
        return 0
    counts = Counter(zip(*(words[i:] for i in range(n))))  # the n-grams in order, built in C
    # Counter.most_common keeps first-seen order among ties, like datatrove's.
    gram, count = counts.most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count


def duplicated_ngram_chars(words: Sequence[str], n: int) -> int:
    """Characters in repeated n-grams, greedily left to right (a repeat skips its n words).

    The walk stops only at positions whose gram occurs more than once: a gram that occurs once can neither be a
    repeat nor make a later gram one, so jumping over such positions gives the walk's exact count."""
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
        for n, _ in self.top_n_grams:
            s[f"gopher_rep_top_{n}_gram"] = top_ngram_chars(words, n) / length
        for n, _ in self.dup_n_grams:
            s[f"gopher_rep_dup_{n}_gram"] = duplicated_ngram_chars(words, n) / length
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
