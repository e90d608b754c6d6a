"""`word_tokens` hands spaCy the uncached chunks of a text together: the tokens are still those spaCy gives each
whitespace-free chunk on its own, and a text of many distinct chunks costs a few spaCy calls, not one a chunk.
Assertions are on tokens and on what spaCy is handed, never on timings."""
from __future__ import annotations

import random

import pytest

SPECIAL = ["can't", "U.S.", "won't", "I'm", "gonna", "cannot", ":)", ":-)", "(._.)", "<3", "^_^", "o.O", "a.m.",
           "10a.m.", "e.g.", "Mr.", "'s", "''", "``", "...", "—", "«quote»", "(hello,", "$5.00", "1,000.50$",
           'key":"value', "\\in", "http://example.com/a?b=c&d=e", "https://x.org/path/(foo).", "www.test.co.uk",
           "user@mail.com", "naïve", "Ünïcödé", "日本語のテキスト", "emoji😀!", "x(._.", ")", "w123",
           "id-3.0"]


class _CountingTokenizer:
    """spaCy's tokenizer, with every text it is handed recorded."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self.rules = tokenizer.rules
        self.vocab = tokenizer.vocab
        self.texts = []

    def __call__(self, text):
        self.texts.append(text)
        return self._tokenizer(text)


@pytest.fixture
def counting_tokenizer(monkeypatch):
    import filters.text as text_module

    counter = _CountingTokenizer(text_module._spacy_tokenizer())
    monkeypatch.setattr(text_module, "_SPACY_TOKENIZER", counter)
    monkeypatch.setattr(text_module, "_CHUNK_TOKENS", {})
    return counter


@pytest.fixture(scope="module")
def pristine_tokenizer():
    """spaCy's blank English tokenizer as spaCy makes it, its lexeme attributes computed (`word_tokens`' own
    computes none: filters/text.py `_spacy_tokenizer`), the reference the tokens are checked against."""
    from filters.text import _import_spacy

    return _import_spacy().blank("en").tokenizer


def _spacy_chunk_by_chunk(tokenizer, text):
    return [t.text for chunk in text.split() for t in tokenizer(chunk) if not t.is_space]


def _varied_text(seed: int, chunks: int) -> str:
    rng = random.Random(seed)
    pieces = SPECIAL + list("()[]{}'\".,:;!?-$%") + [f"w{i}" for i in range(40)] + ["the", "harbour"]
    words = ["".join(rng.choices(pieces, k=rng.randint(1, 3))) for _ in range(chunks)]
    spaces = [" ", " ", " ", "\n", "\t", "  ", "\u00a0", "\u2003", " \n "]
    return "".join(word + rng.choice(spaces) for word in words)


def test_tokens_are_spacys_chunk_by_chunk(counting_tokenizer, pristine_tokenizer):
    from filters.text import word_count, word_tokens

    spacy_tokenizer = pristine_tokenizer
    for seed in range(3):
        text = _varied_text(seed, 3_000)
        expected = _spacy_chunk_by_chunk(spacy_tokenizer, text)
        assert word_tokens(text) == expected  # uncached: through the batches
        assert word_tokens(text) == expected  # cached
        assert word_count(text) == len(expected)
    assert word_tokens("can't U.S. :-) naïve") == ["ca", "n't", "U.S.", ":-)", "naïve"]


def test_a_special_case_across_two_chunks_does_not_change_their_tokens(counting_tokenizer):
    from filters.text import word_tokens

    # spaCy matches its multi-token special cases over a whole Doc: in one call on "x(._. )" the span "(._. )"
    # matches "(._.)" and keeps "._." (a special case of its own) from being one token
    spacy_tokenizer = counting_tokenizer._tokenizer
    assert [t.text for t in spacy_tokenizer("x(._. )")] == ["x", "(", ".", "_", ".", ")"]
    assert word_tokens("x(._. )") == ["x", "(", "._.", ")"] == _spacy_chunk_by_chunk(spacy_tokenizer, "x(._. )")
    assert len(counting_tokenizer.texts) == 1  # both chunks in one call all the same


def test_distinct_uncached_chunks_reach_spacy_in_a_few_calls(counting_tokenizer):
    from filters.text import word_count, word_tokens

    # before: one spaCy call per uncached chunk (~16 us each, most of it fixed cost): 5,000 calls here
    text = " ".join(f"w{i}" for i in range(5_000))
    assert word_tokens(text) == text.split()
    assert len(counting_tokenizer.texts) <= 5
    from filters.text import BATCH_CHARS, MAX_CACHED_CHUNK
    assert max(map(len, counting_tokenizer.texts)) <= BATCH_CHARS + MAX_CACHED_CHUNK + 1
    assert sum(text.count("w") for text in counting_tokenizer.texts) == 5_000  # each distinct chunk once
    counting_tokenizer.texts.clear()
    assert word_count(text + " w1 w2") == 5_002  # all cached now
    assert counting_tokenizer.texts == []


def test_repeated_uncached_chunks_reach_spacy_once(counting_tokenizer):
    from filters.text import word_tokens

    text = " ".join(f"w{i % 50}." for i in range(2_000))
    assert word_tokens(text) == [t for i in range(2_000) for t in (f"w{i % 50}", ".")]
    assert len(counting_tokenizer.texts) == 1
    assert counting_tokenizer.texts[0].split() == [f"w{i}." for i in range(50)]


def test_long_and_affix_heavy_chunks_still_go_alone_between_batches(counting_tokenizer):
    from filters.text import AFFIX_PIECE_CHARS, MAX_CHUNK_CHARS, word_tokens

    spacy_tokenizer = counting_tokenizer._tokenizer
    blob = "{" + ",".join(f'"k{i}":"value-{i}"' for i in range(100)) + "}"  # a real length: one call, whole
    text = " ".join(["w1.", "$" * 4_000, "w2,", "a." * 6_000, "w3;", blob, "w4!"])
    tokens = word_tokens(text)
    assert "".join(tokens) == "".join(text.split())
    calls = counting_tokenizer.texts
    assert blob in calls
    assert max(len(c) for c in calls if c != blob) <= MAX_CHUNK_CHARS
    assert sum(1 for c in calls if set(c) == {"$"}) == 4_000 // AFFIX_PIECE_CHARS
    assert tokens[:2] == ["w1", "."] and tokens[-2:] == ["w4", "!"]
    assert tokens[tokens.index("w3"):] == ["w3", ";"] + [t.text for t in spacy_tokenizer(blob)] + ["w4", "!"]


def test_a_cache_cleared_during_a_text_loses_no_tokens(counting_tokenizer, monkeypatch):
    import filters.text as text_module
    from filters.text import word_tokens

    text = _varied_text(7, 4_000)
    expected = word_tokens(text)
    monkeypatch.setattr(text_module, "CHUNK_CACHE_SIZE", 20)
    monkeypatch.setattr(text_module, "_CHUNK_TOKENS", {})
    assert word_tokens(text) == expected
    assert word_tokens(text) == expected
    assert len(text_module._CHUNK_TOKENS) <= 20


def test_book_tokens_are_spacys_chunk_by_chunk(shared_data, counting_tokenizer, pristine_tokenizer):
    from filters.text import word_tokens

    book = (shared_data / "text" / "gutenberg" / "pg11__Alice-s-Adventures-in-Wonderland.txt")
    if not book.is_file():
        pytest.skip(f"{book} not found")
    text = book.read_text(encoding="utf-8")[:200_000]
    expected = _spacy_chunk_by_chunk(pristine_tokenizer, text)
    counting_tokenizer.texts.clear()
    assert word_tokens(text) == expected
    assert len(counting_tokenizer.texts) < len(set(text.split())) / 50


def test_no_lexeme_attribute_is_computed_and_spaces_are_what_spacy_calls_spaces(pristine_tokenizer):
    """spaCy computes a lexeme's attributes (norm, shape, like_num, ...) in Python for every token text it has not
    met, ~35 % of the cost of new text; `word_tokens` reads only the tokens' texts, and tells the whitespace tokens
    by `str.isspace`, which is spaCy's own `is_space` (checked on every kind of space, joined as the batches join)."""
    import filters.text as text_module

    assert text_module._spacy_tokenizer().vocab.lex_attr_getters == {}
    spaces = ["\n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u1680", "\u2003", "\u2028", "\u3000",
              "\n\n", " \n "]
    text = "".join(f"word{i}{space}" for i, space in enumerate(spaces))
    doc = pristine_tokenizer(text)
    assert [t.is_space for t in doc] == [t.text.isspace() for t in doc]
    assert any(t.is_space for t in doc)
    assert text_module.word_tokens(text) == [t.text for t in doc if not t.is_space]
