"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A, table A1), as datatrove applies them.

Defaults are the published ones: 50 to 100,000 words; mean word length 3 to 10 characters; '#' and ellipsis
('...' or '…') each at most 0.1 per word; at most 90 % of lines starting with a bullet and at most 30 %
ending with an ellipsis; at least 80 % of words with an alphabetic character; at least 2 of the stop words
{the, be, to, of, and, that, have, with}. Any threshold set to None disables its rule. Rules are checked in
datatrove's order and the first one that fails names the drop reason (datatrove's reason strings).

Words are `filters.text.word_tokens` (spaCy-English-like tokens, punctuation included, which is what
datatrove and so FineWeb count). As in datatrove: the word-count and mean-length rules use the tokens that are
not pure punctuation; the hash, ellipsis and alphabetic ratios divide by all tokens; a bullet line starts with
'•' or '-'; the stop-word rule counts distinct stop words, matched exactly ("The" is not "the"), as datatrove's current
filter does (`stop_words.intersection(set(words))`; its first versions counted occurrences).

Every ratio is computed first and stored with `set_score` (`gopher_*`), so thresholds can be re-tuned from
the saved scores; `decide()` is a pure function of those scores. A text without words or lines cannot divide
by zero (its ratios are 0).
"""
from __future__ import annotations

from collections import Counter
from typing import Dict, List, Optional

from filters.base import Document, DocumentFilter
from filters.stage_options import Fraction, NonNegative, NonNegativeInt, OptionError, Sources, checked_options
from filters.text import CHUNK_CACHE_SIZE, GOPHER_PUNCTUATION, MAX_CACHED_CHUNK, word_tokens
from schemas import TEXT

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
DEFAULT_BULLETS = ("\u2022", "-")  # datatrove 0.10 (FineWeb's code) counts both
ELLIPSES = ("...", "\u2026")


def is_symbol_word(token: str) -> bool:
    return all(ch in GOPHER_PUNCTUATION for ch in token)


_TOKEN_KINDS: dict = {}  # token -> (is a symbol word, has a letter): the rules look at each distinct token once


def _token_kind(token: str) -> tuple:
    kind = _TOKEN_KINDS.get(token)
    if kind is None:
        kind = (is_symbol_word(token), any(c.isalpha() for c in token))
        if len(token) <= MAX_CACHED_CHUNK:  # the cache is bounded by count: long tokens would make it large
            if len(_TOKEN_KINDS) >= CHUNK_CACHE_SIZE:
                _TOKEN_KINDS.clear()
            _TOKEN_KINDS[token] = kind
    return kind


@checked_options
class GopherQualityFilter(DocumentFilter):
    name = "quality"

    def __init__(
        self,
        min_doc_words: Optional[NonNegativeInt] = 50,
        max_doc_words: Optional[NonNegativeInt] = 100_000,
        min_avg_word_length: Optional[NonNegative] = 3,
        max_avg_word_length: Optional[NonNegative] = 10,
        # '#' and ellipses per word: a page can hold more than one per word, so not capped at 1
        max_symbol_word_ratio: Optional[NonNegative] = 0.1,
        max_bullet_lines_ratio: Optional[Fraction] = 0.9,
        max_ellipsis_lines_ratio: Optional[Fraction] = 0.3,
        max_non_alpha_words_ratio: Optional[Fraction] = 0.8,
        min_stop_words: Optional[NonNegativeInt] = 2,
        stop_words: Optional[List[str]] = None,
        bullet_chars: Optional[List[str]] = None,
        sources: Sources = None,
    ):
        super().__init__(sources)
        # A minimum above its maximum (or above what can be reached) drops every document.
        for low, low_value, high, high_value in (
                ("min_doc_words", min_doc_words, "max_doc_words", max_doc_words),
                ("min_avg_word_length", min_avg_word_length, "max_avg_word_length", max_avg_word_length)):
            if low_value is not None and high_value is not None and low_value > high_value:
                raise OptionError(low, f"= {low_value!r} is not allowed: it is above {high} = {high_value!r}, so "
                                       f"every document would be dropped; write {low} <= {high_value!r} or raise "
                                       f"{high}")
        n_stop_words = len(set(STOP_WORDS if stop_words is None else stop_words))
        if min_stop_words is not None and min_stop_words > n_stop_words:
            raise OptionError("min_stop_words", f"= {min_stop_words!r} is not allowed: it is above the {n_stop_words} "
                                                f"distinct stop_words a document can contain, so every document "
                                                f"would be dropped; write min_stop_words <= {n_stop_words} (or null "
                                                f"to turn the rule off)")
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        # Named as in datatrove, where it is the minimum share of words that contain a letter.
        self.max_non_alpha_words_ratio = max_non_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(STOP_WORDS if stop_words is None else stop_words)
        self.bullet_chars = tuple(DEFAULT_BULLETS if bullet_chars is None else bullet_chars)

    def score(self, text: str, tokens: Optional[List[str]] = None) -> Dict[str, float]:
        words = word_tokens(text) if tokens is None else tokens
        n_words = len(words)
        denom = max(n_words, 1)
        # Per distinct token (a Counter is built in C): the same integer sums as a pass over every token.
        n_content = content_chars = n_alpha = 0
        for word, count in Counter(words).items():
            symbol, alpha = _token_kind(word)
            if not symbol:
                n_content += count
                content_chars += len(word) * count
            if alpha:
                n_alpha += count
        lines = text.splitlines()
        n_lines = max(len(lines), 1)
        return {
            "gopher_words": n_content,
            "gopher_mean_word_length": content_chars / n_content if n_content else 0.0,
            "gopher_hash_ratio": text.count("#") / denom,
            "gopher_ellipsis_ratio": (text.count("...") + text.count("\u2026")) / denom,
            "gopher_bullet_lines_ratio": sum(l.lstrip().startswith(self.bullet_chars) for l in lines) / n_lines,
            "gopher_end_ellipsis_lines_ratio": sum(l.rstrip().endswith(ELLIPSES) for l in lines) / n_lines,
            "gopher_alpha_words_ratio": n_alpha / denom,
            "gopher_stop_words": len(self.stop_words.intersection(words)),
        }

    def decide(self, s: Dict[str, float]) -> Optional[str]:
        if self.min_doc_words is not None and s["gopher_words"] < self.min_doc_words:
            return "gopher_short_doc"
        if self.max_doc_words is not None and s["gopher_words"] > self.max_doc_words:
            return "gopher_long_doc"
        if self.min_avg_word_length is not None and s["gopher_mean_word_length"] < self.min_avg_word_length:
            return "gopher_below_avg_threshold"
        if self.max_avg_word_length is not None and s["gopher_mean_word_length"] > self.max_avg_word_length:
            return "gopher_above_avg_threshold"
        if self.max_symbol_word_ratio is not None:
            if s["gopher_hash_ratio"] > self.max_symbol_word_ratio:
                return "gopher_too_many_hashes"
            if s["gopher_ellipsis_ratio"] > self.max_symbol_word_ratio:
                return "gopher_too_many_ellipsis"
        if self.max_bullet_lines_ratio is not None and s["gopher_bullet_lines_ratio"] > self.max_bullet_lines_ratio:
            return "gopher_too_many_bullets"
        if (self.max_ellipsis_lines_ratio is not None
                and s["gopher_end_ellipsis_lines_ratio"] > self.max_ellipsis_lines_ratio):
            return "gopher_too_many_end_ellipsis"
        if (self.max_non_alpha_words_ratio is not None
                and s["gopher_alpha_words_ratio"] < self.max_non_alpha_words_ratio):
            return "gopher_below_alpha_threshold"
        if self.min_stop_words is not None and s["gopher_stop_words"] < self.min_stop_words:
            return "gopher_enough_stop_words"  # datatrove's name for "not enough stop words"
        return None

    def apply(self, doc: Document, tokens: Optional[List[str]] = None) -> Optional[str]:
        scores = self.score(doc[TEXT], tokens)
        for key, value in scores.items():
            self.set_score(doc, key, value)
        return self.decide(scores)
