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

`word_tokens` is what the published quality rules (Gopher, Gopher repetition, FineWeb) count as words: the
tokens of spaCy's blank English tokenizer (rules only, no model to download), which datatrove and so FineWeb
use, with whitespace tokens dropped as datatrove does. Using the library itself keeps the counts identical to
datatrove's: "don't" -> "do", "n't"; `key":"value"` is one token and `\\in` one. spaCy cuts a text at whitespace
first and tokenizes each whitespace-free chunk on its own (its `_tokenize_affixes`), so the tokens of a text are
the concatenation of its chunks' tokens (spaCy then matches its multi-token special cases over the whole text,
so a contrived text like "x(._. )" gets other tokens from one call: `_spacy_tokens`). `word_tokens` keeps each
chunk's tokens in a bounded per-process cache (spaCy's own cache skips words outside its vocabulary, i.e. nearly
all of them, and its affix regexes cost ~50 us a chunk) and hands spaCy the uncached chunks of a text together,
joined by newlines, up to `BATCH_CHARS` characters a call (each call has a fixed cost); a chunk of ASCII letters
that is not one of spaCy's special cases ("cannot", "gonna", "dont") is one token without asking. Measured: same
tokens as one spaCy call on every text and line of the parity set, 5-10x faster. `word_count` is
`len(word_tokens(text))` without the list.
spaCy's affix loop re-scans the rest of a chunk for every prefix or suffix it peels off, so a chunk that is a
long run of punctuation or symbols costs quadratic time in one uninterruptible C call (measured: 2,000 "$" take
1.3 s, 8,000 "'" 9 s, 100 KB hours; filters/deadline.py cannot stop it). A chunk over `MAX_CHUNK_CHARS` is
therefore tokenized in pieces of that many characters (the longest chunk in the web and book texts of
shared/data has 4,479 characters, so their tokens are unchanged), and only chunks of up to `MAX_CACHED_CHUNK`
characters are cached, so the cache holds words, not up to CHUNK_CACHE_SIZE copies of long runs.
`sentence_count` splits a line into sentences the way spaCy's rule-based sentencizer does: a
sentence ends at a terminal punctuation token that is followed by a token that is not punctuation.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Iterator, List


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


# Scripts written without spaces between words: each of these code points is taken for a word by itself where
# text is compared by words (MinHash's `words: scripts`, decontamination), so a Chinese, Japanese, Thai, Lao,
# Khmer, Myanmar or Tibetan text is compared by characters. Split at whitespace only, such a text is one "word"
# per run of script. Hangul is written with spaces and is not listed.
SOLO_RANGES = ((0x0E00, 0x0EFF),    # Thai, Lao
               (0x0F00, 0x0FFF),    # Tibetan
               (0x1000, 0x109F),    # Myanmar
               (0x1780, 0x17FF),    # Khmer
               (0x19E0, 0x19FF),    # Khmer symbols
               (0x3005, 0x3007),    # CJK iteration and closing marks, ideographic zero
               (0x3040, 0x30FF),    # Hiragana, Katakana
               (0x31F0, 0x31FF),    # Katakana phonetic extensions
               (0x3400, 0x4DBF),    # CJK Unified Ideographs extension A
               (0x4E00, 0x9FFF),    # CJK Unified Ideographs
               (0xA9E0, 0xA9FF),    # Myanmar extended-B
               (0xAA60, 0xAA7F),    # Myanmar extended-A
               (0xF900, 0xFAFF),    # CJK compatibility ideographs
               (0x20000, 0x3FFFF))  # CJK extensions B-I and compatibility supplement
_SOLO_RE = re.compile("([" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in SOLO_RANGES) + "])")


def is_unspaced_letter(char: str) -> bool:
    """Whether a character belongs to a script in `SOLO_RANGES`."""
    return _SOLO_RE.fullmatch(char) is not None


def split_unspaced_scripts(text: str) -> str:
    """`text` with a space on each side of every letter of a script in `SOLO_RANGES` (then split() gives them
    as words of one letter)."""
    return text if text.isascii() else _SOLO_RE.sub(r" \1 ", text)


# Sentence-final punctuation (Unicode Sentence_Terminal, the set datatrove's TERMINAL_PUNCTUATION and spaCy's
# sentencizer draw from), restricted to the marks that occur in the scripts lid.176 labels most often.
TERMINAL_PUNCTUATION = frozenset(
    "!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b\u1362\u1367\u1368"
    "\u166e\u1735\u1736\u17d4\u17d5\u1803\u1809\u1944\u1945\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c"
    "\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f"
    "\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61"
)

_PUNCT_TOKEN_RE = re.compile(r"[^\w\s]+|_+")


# What datatrove counts as punctuation when it tells words from symbols (Gopher's word count and mean length):
# ASCII punctuation, C0/C1 controls, typographic quotes and dashes, CJK brackets and full-width marks, and every
# sentence terminal. A token made only of these is a "symbol word".
GOPHER_PUNCTUATION = frozenset(
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    + "".join(map(chr, (*range(0, 9), *range(11, 32), *range(127, 160))))
    + "\u00ab\u00b4\u00bb\u2013\u2014\u2019\u201c\u201d\u201e\u2026\u2236\u2501\u25ba"
    + "\u3001\u3008\u3009\u300a\u300b\u300c\u300d\u3010\u3011\uff05\uff08\uff09\uff0c\uff11\uff1a\uff1b\uff5e"
) | TERMINAL_PUNCTUATION


_SPACY_TOKENIZER = None


def _import_spacy():
    """`import spacy` without torch. spaCy imports thinc, whose `compat` imports torch when it is installed (it is,
    for `winnow train`): 60 % of spaCy's import time (~1.5 s idle, ~12 s on a loaded 2-core machine, measured
    with -X importtime), paid by every curate worker process for a tokenizer that never touches torch. While
    spaCy loads, `sys.modules["torch"] = None` makes that optional import fail fast (thinc then records "no
    torch", which only its neural-network shims read); a process that already has torch keeps it, and if spaCy
    refuses to load this way it is imported normally."""
    import sys

    if "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import spacy
    except ImportError:
        for name in [m for m in sys.modules if m == "spacy" or m.startswith(("spacy.", "thinc"))]:
            del sys.modules[name]
        del sys.modules["torch"]
        import spacy
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]
    return spacy


# spaCy keeps every new token text its tokenizer meets in the tokenizer's vocab (a Lexeme and its string) for the
# life of the process: a worker grew by ~130 MB per 300,000 distinct tokens (numbers, URLs, typos: web text never
# runs out of them) and never gave it back. Past MAX_VOCAB_GROWTH entries more than it was loaded with (~110 MB),
# the tokenizer is loaded afresh (~0.25 s; it holds rules only, so its tokens are the same) and the old one freed.
# The WCXB pages add ~42 entries a document, so that is once per ~6,000 documents (~1 % of the quality stage).
MAX_VOCAB_GROWTH = 250_000
_VOCAB_LIMIT = 0


def _spacy_tokenizer():
    """spaCy's blank English tokenizer (rules only, no model), loaded once per process (and again when its vocab
    has grown past _VOCAB_LIMIT: `_spacy_tokens`)."""
    global _SPACY_TOKENIZER, _VOCAB_LIMIT
    if _SPACY_TOKENIZER is None:
        tokenizer = _import_spacy().blank("en").tokenizer
        # Only the tokens' texts are read here, never a lexeme attribute (norm, shape, prefix, suffix, like_num,
        # ...), which spaCy computes with Python functions for every token text it has not met before; its
        # tokenizer cuts by its rules and regexes alone, so the tokens are the same without them. Measured: 200,000
        # distinct new chunks 6.3-7.1 s -> 4.0-4.2 s.
        tokenizer.vocab.lex_attr_getters = {}
        _SPACY_TOKENIZER = tokenizer
        _VOCAB_LIMIT = len(tokenizer.vocab) + MAX_VOCAB_GROWTH
    return _SPACY_TOKENIZER


_SPECIAL_CASES: frozenset = frozenset()
_CHUNK_TOKENS: dict = {}  # whitespace-free chunk -> its spaCy tokens (tuple)
CHUNK_CACHE_SIZE = 1 << 17  # ~20 MB at most; cleared when full (results never depend on it)
MAX_CACHED_CHUNK = 64  # longer chunks (and tokens) are not cached: they seldom repeat, and the bound above is by count
# Bounds spaCy's quadratic affix loop on one chunk (a run of this length of "$" or "%" alone took ~5-7 s, hence
# the affix bound below; real chunks of this length ~0.02 s); a 1 MB chunk is ~200 such pieces, which the quality
# stage's time limit cuts short.
MAX_CHUNK_CHARS = 5000
# The affix loop's cost is about (characters peeled at the ends) x (the chunk's length): 5,000 "$" took 5.2 s,
# "$" x 2,500 + "a" x 2,500 3.9 s, while a 5,000-character chunk with no run at its ends takes ~0.02 s. A chunk
# whose leading plus trailing run of characters that are not word characters, times its length, is over
# MAX_AFFIX_WORK is tokenized in pieces of AFFIX_PIECE_CHARS (at most ~0.2 s each: 1,000 "$" took 0.21 s). The
# largest such product among the chunks of over 300 characters in the texts of shared/data is 14,535, so their
# tokens are unchanged.
MAX_AFFIX_WORK = 1_000_000
AFFIX_PIECE_CHARS = 1000
_LEADING_RUN = re.compile(r"\W*")
# Uncached chunks of up to MAX_CACHED_CHUNK characters reach spaCy together, up to this many characters a call
# (measured on 10 MB of distinct chunks like "w123": 32 s one call each, 27 s batched; most of the rest is spaCy
# building a Lexeme for each new token). Longer chunks go alone, so a batch of the slowest short chunks, runs
# of 64 "$" (~1.2 ms each), is ~0.2 s in one uninterruptible C call.
BATCH_CHARS = 10_000


def _affix_work(chunk: str) -> int:
    """(leading + trailing run of non-word characters) x length: what spaCy's affix loop costs on `chunk`."""
    lead = _LEADING_RUN.match(chunk).end()
    if lead == len(chunk):
        return lead * lead
    trail = _LEADING_RUN.match(chunk[::-1]).end()  # from the end: a search for `\W*\Z` is quadratic
    return (lead + trail) * len(chunk)


def _is_plain_word(chunk: str) -> bool:
    """A chunk of ASCII letters that is not one of spaCy's special cases ("cannot", "gonna", "dont") is one token:
    no prefix, suffix or infix rule of spaCy's English applies to bare ASCII letters."""
    global _SPECIAL_CASES
    if not _SPECIAL_CASES:
        _SPECIAL_CASES = frozenset(_spacy_tokenizer().rules)
    return chunk.isascii() and chunk.isalpha() and chunk not in _SPECIAL_CASES


def _remember(chunk: str, tokens: tuple) -> None:
    if len(chunk) <= MAX_CACHED_CHUNK:
        if len(_CHUNK_TOKENS) >= CHUNK_CACHE_SIZE:
            _CHUNK_TOKENS.clear()
        _CHUNK_TOKENS[chunk] = tokens


def _spacy_tokens(chunks: List[str]) -> List[tuple]:
    """spaCy's tokens of each chunk, from one call on the chunks joined by newlines (then the vocab guard).

    spaCy tokenizes each whitespace-free span on its own, but then matches its multi-token special cases over the
    whole Doc, and a match across a space can displace one inside a chunk: "x(._." and ")" joined by a space hold
    "(._.)", which keeps "._." from being one token. A newline is a token of its own, which no special case
    spans, so each chunk's tokens are those it gets alone (checked on the books, the lingua test sets and the raw
    HTML pages of shared/data, and on 127,000 texts built from the special cases, where a space failed)."""
    global _SPACY_TOKENIZER
    tokenizer = _spacy_tokenizer()
    tokens: List[list] = [[] for _ in chunks]
    ends = list(itertools.accumulate(len(chunk) + 1 for chunk in chunks))  # each chunk's end, plus its newline
    i = 0
    for token in tokenizer("\n".join(chunks)):
        text = token.text
        if not text.isspace():  # spaCy's is_space, which the lexemes no longer carry (_spacy_tokenizer)
            while token.idx >= ends[i]:
                i += 1
            tokens[i].append(text)
    vocab = getattr(tokenizer, "vocab", None)
    if vocab is not None and len(vocab) > _VOCAB_LIMIT:
        _SPACY_TOKENIZER = None  # the next call loads a fresh one; this one and its vocab are let go
    return [tuple(t) for t in tokens]


def _tokens_alone(chunk: str) -> tuple:
    """spaCy's tokens of one chunk tokenized on its own; a long or affix-heavy one in pieces."""
    if _is_plain_word(chunk):
        return (chunk,)
    if len(chunk) > MAX_CHUNK_CHARS or (len(chunk) > AFFIX_PIECE_CHARS and _affix_work(chunk) > MAX_AFFIX_WORK):
        step = MAX_CHUNK_CHARS if len(chunk) > MAX_CHUNK_CHARS else AFFIX_PIECE_CHARS
        return tuple(t for i in range(0, len(chunk), step) for t in _tokens_alone(chunk[i:i + step]))
    return _spacy_tokens([chunk])[0]


def _token_windows(text: str) -> Iterator[List[tuple]]:
    """The tokens of `text`'s whitespace-free chunks in order (one tuple per chunk), a window of chunks at a time.

    Each chunk's tokens come from the cache, else itself for a plain word, else from `_tokens_alone` for one over
    MAX_CACHED_CHUNK characters (rare, seldom repeated), else from one spaCy call for all the window's distinct
    uncached chunks: a window ends when they reach BATCH_CHARS characters. A window holds tuples, so a cache cleared meanwhile
    loses nothing."""
    cache = _CHUNK_TOKENS
    window: list = []  # tuples, and the uncached chunks (str) that the batch fills in
    batch: dict = {}  # the window's uncached chunks, distinct, in order
    size = 0
    for chunk in text.split():  # str.split and spaCy cut at the same characters (str.isspace)
        tokens = cache.get(chunk)
        if tokens is None:
            if _is_plain_word(chunk):
                tokens = (chunk,)
            elif len(chunk) > MAX_CACHED_CHUNK:
                tokens = _tokens_alone(chunk)
            else:
                window.append(chunk)
                if chunk not in batch:
                    batch[chunk] = None
                    size += len(chunk) + 1
                    if size >= BATCH_CHARS:
                        yield _filled(window, batch)
                        window, batch, size = [], {}, 0
                continue
            _remember(chunk, tokens)
        window.append(tokens)
    yield _filled(window, batch)


def _filled(window: list, batch: dict) -> List[tuple]:
    if not batch:
        return window
    found = dict(zip(batch, _spacy_tokens(list(batch))))
    for chunk, tokens in found.items():
        _remember(chunk, tokens)
    return [found[t] if t.__class__ is str else t for t in window]


def word_tokens(text: str) -> List[str]:
    """Tokens of spaCy's blank English tokenizer, punctuation included, whitespace tokens dropped."""
    out: List[str] = []
    for window in _token_windows(text):
        for tokens in window:
            out += tokens
    return out


def word_count(text: str) -> int:
    """len(word_tokens(text))."""
    return sum(len(tokens) for window in _token_windows(text) for tokens in window)


_PUNCT_TOKENS: dict = {}


def is_punctuation_token(token: str) -> bool:
    """True when a token has no letter or digit (datatrove's 'symbol word')."""
    return _PUNCT_TOKEN_RE.fullmatch(token) is not None


def sentence_count(tokens: List[str]) -> int:
    """Sentences in a token list, by spaCy's sentencizer rule (a terminal mark followed by a token that is not
    punctuation). Punctuation is spaCy's `is_punct`: every character of Unicode category P*. A symbol or an emoji
    (`$`, `😀`, categories S*) after a full stop starts the next sentence, as in the sentencizer that datatrove's
    C4 filter counts with (they were taken for punctuation: "It works! 😀" was one sentence, not two)."""
    if not tokens:
        return 0
    n = 1
    seen_end = False
    punct = _PUNCT_TOKENS
    for tok in tokens:
        if seen_end:
            is_punct = punct.get(tok)
            if is_punct is None:
                is_punct = all(unicodedata.category(c)[0] == "P" for c in tok)
                if len(tok) <= MAX_CACHED_CHUNK:
                    if len(punct) >= CHUNK_CACHE_SIZE:
                        punct.clear()
                    punct[tok] = is_punct
            if not is_punct:
                n += 1
                seen_end = False
                continue
        if tok in TERMINAL_PUNCTUATION:  # a whole token: "..." does not end a sentence
            seen_end = True
    return n


def split_words(text: str) -> List[str]:
    """Words of `text` in order, without surrounding punctuation (see module docstring)."""
    return _WORD_RE.findall(text)
