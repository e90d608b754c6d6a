"""Text normalisation and word splitting shared by the quality rules and deduplication.

`normalize_for_dedup` maps texts that differ only in presentation to one string, so exact dedup and MinHash
see through re-formatting: Unicode NFKC (full-width letters, ligatures and compatibility forms fold to their
plain form; chosen over NFC because web text is full of them), lower-case, Unicode punctuation deleted (like
datatrove's `simplify_text`: "don't" -> "dont", "a, b" -> "a b"), every decimal digit -> "0" (dates, prices
and counters stop making copies look different), whitespace runs -> one space, ends stripped. Symbols
(currency, maths, emoji) are kept: they carry content.

`split_words` is a deterministic, dependency-free word splitter: a word runs from the first to the last word
character (letter, digit, underscore) of a whitespace-delimited chunk, so leading/trailing punctuation is
dropped ("(hello," -> "hello") while inner punctuation stays ("e-mail", "3.14", "don't"); chunks with no word
character ("...", "#", "-") are not words. It differs from datatrove's Gopher filter, which uses NLTK/spaCy's
English tokenizer: those split clitics ("don't" -> "do", "n't") and count punctuation tokens separately, so
mean word lengths and word counts differ slightly. It does not segment scripts written without spaces
(Chinese, Japanese, Thai): a whole run counts as one word there.
"""
from __future__ import annotations

import re
import unicodedata
from typing import List

_WORD_RE = re.compile(r"\w(?:\S*\w)?")


_DIGITS_RE = re.compile(r"\d")  # str patterns: \d is every Unicode decimal digit (category Nd)
# Runs that may hold punctuation: neither word characters nor spaces (punctuation and symbols), plus "_"
# (a word character in `re` but Unicode punctuation, Pc). Testing only these runs is as fast as
# str.translate with a table of all Unicode punctuation (measured), without building that table.
_PUNCT_CANDIDATES_RE = re.compile(r"[^\w\s]+|_+")


def _drop_punctuation(match: "re.Match[str]") -> str:
    return "".join(c for c in match.group() if unicodedata.category(c)[0] != "P")


def normalize_for_dedup(text: str) -> str:
    """NFKC, lower-case, delete punctuation, digits -> 0, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIGITS_RE.sub("0", _PUNCT_CANDIDATES_RE.sub(_drop_punctuation, text))
    return " ".join(text.split())


def split_words(text: str) -> List[str]:
    """Words of `text` in order, without surrounding punctuation (see module docstring)."""
    return _WORD_RE.findall(text)
