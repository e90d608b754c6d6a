"""Per-document filters on hostile text: work bounded by structure (what spaCy is handed, what the URL filter looks
up, what the word caches keep), and the quality stage's per-document time limit turning a slow page into a counted
rejected row. Assertions are on structure and outcomes, never on timings."""
from __future__ import annotations

import pytest

from schemas import ID, SOURCE, TEXT

PROSE = ("The museum by the harbour opens every morning at nine, and the guides say that the old ships with their "
         "tall masts have been restored to the state they were in when they sailed. ") * 4


class _RecordingTokenizer:
    """spaCy's tokenizer, with the length of every text it is handed recorded; a text far longer than any word
    is refused at once (spaCy's affix loop is quadratic on such a run: a 1 MB one would run for hours)."""

    def __init__(self, tokenizer, refuse_over: int):
        self._tokenizer, self._refuse_over = tokenizer, refuse_over
        self.rules = tokenizer.rules
        self.lengths = []

    def __call__(self, text):
        self.lengths.append(len(text))
        if len(text) > self._refuse_over:
            raise AssertionError(f"spaCy was handed a {len(text):,}-character chunk")
        return self._tokenizer(text)


@pytest.fixture
def recording_tokenizer(monkeypatch):
    import filters.text as text_module

    recorder = _RecordingTokenizer(text_module._spacy_tokenizer(), refuse_over=20_000)
    monkeypatch.setattr(text_module, "_SPACY_TOKENIZER", recorder)
    monkeypatch.setattr(text_module, "_CHUNK_TOKENS", {})
    return recorder


def test_a_long_whitespace_free_run_reaches_spacy_in_bounded_pieces(recording_tokenizer):
    from filters.text import word_tokens

    # 200 KB without a space (cheap for spaCy at any length, so the old whole-chunk call would also finish)
    run = "a." * 100_000
    tokens = word_tokens("Some words before " + run + " and after.")
    assert max(recording_tokenizer.lengths) <= 20_000
    assert "".join(tokens) == "Somewordsbefore" + run + "andafter."  # every character still in some token
    assert tokens[:3] == ["Some", "words", "before"] and tokens[-3:] == ["and", "after", "."]


def test_a_chunk_with_a_long_symbol_run_at_an_end_reaches_spacy_in_small_pieces(recording_tokenizer):
    from filters.text import AFFIX_PIECE_CHARS, word_tokens

    # before: handed whole up to 5,000 characters, where spaCy peels the run one character at a time and re-scans
    # the rest each time (5,000 "$": 5.2 s in one uninterruptible call; 1,000: 0.2 s)
    for run in ("$" * 4_900, "'" * 3_000 + "word", "word" + "%" * 3_000):
        recording_tokenizer.lengths.clear()
        tokens = word_tokens(f"Before {run} after")
        assert max(recording_tokenizer.lengths) <= AFFIX_PIECE_CHARS, (run[:8], recording_tokenizer.lengths)
        assert "".join(tokens) == "Before" + run + "after"
    # a long chunk with no run at its ends is one call, as spaCy would tokenize it
    recording_tokenizer.lengths.clear()
    chunk = "a" + "-b" * 2_000 + "c"
    assert word_tokens(chunk) == [t.text for t in recording_tokenizer._tokenizer(chunk)]
    assert recording_tokenizer.lengths == [len(chunk)]


def test_chunks_of_real_lengths_are_tokenized_whole(recording_tokenizer):
    from filters.text import word_tokens

    # a minified JSON blob of ~4,500 characters, as in a product page of WCXB: spaCy's own tokens, uncut
    blob = "{" + ",".join(f'"k{i}":"value-{i}"' for i in range(250)) + "}"
    assert 4_000 < len(blob) < 5_000
    assert word_tokens(blob) == [t.text for t in recording_tokenizer._tokenizer(blob)]
    assert recording_tokenizer.lengths == [len(blob)]


def test_word_caches_keep_words_not_long_runs(recording_tokenizer, monkeypatch):
    import filters.gopher as gopher
    import filters.text as text_module
    from filters.gopher import GopherQualityFilter
    from filters.text import sentence_count, word_tokens

    monkeypatch.setattr(gopher, "_TOKEN_KINDS", {})
    monkeypatch.setattr(text_module, "_PUNCT_TOKENS", {})
    # distinct long runs: each a chunk and a token; bounded by count alone, the caches would keep every one
    # (131,072 chunks of 5,000 characters: ~1.3 GB kept by a worker after the documents are gone)
    long_runs = [f"x{i:04d}" + "y" * 3_000 + "." for i in range(50)]
    text = PROSE + " ".join(long_runs) + ". " + " ".join(f".{r}" for r in long_runs)
    tokens = word_tokens(text)
    GopherQualityFilter().score(text, tokens)
    sentence_count(tokens)
    for cache in (text_module._CHUNK_TOKENS, gopher._TOKEN_KINDS, text_module._PUNCT_TOKENS):
        assert cache, "the caches still serve ordinary words"
        assert max(map(len, cache)) <= 64
    assert "museum" in text_module._CHUNK_TOKENS


class _CountingSet(set):
    def __init__(self, *args):
        super().__init__(*args)
        self.lookups = 0

    def __contains__(self, item):
        self.lookups += 1
        return super().__contains__(item)


def test_url_parent_domains_of_a_host_with_many_labels_are_not_all_tried():
    from filters.url import UrlFilter

    f = UrlFilter(domains=["example.com", "blocked.org"])
    f.domains = _CountingSet(f.domains)
    # a JSONL `url` field of 200 KB: 100,000 labels; each tried parent domain was a fresh join of the rest
    host = "a." * 100_000
    assert f.decide(f"http://{host}example.com/x") == "url_parent_domain"
    assert f.domains.lookups <= 5
    f.domains.lookups = 0
    assert f.decide(f"http://{host}example.net/x") is None
    assert f.domains.lookups <= 5
    # the ordinary cases decide as before
    assert f.decide("http://ads.example.com/") == "url_parent_domain"
    assert f.decide("http://www.example.com/") == "url_domain"
    assert f.decide("http://a.b.blocked.org:80/p") == "url_parent_domain"
    assert f.decide("http://example.com.evil.net/") is None


def _slow_punctuation_page(chunks: int = 300) -> str:
    # distinct runs of apostrophes: spaCy peels them one by one (~0.1 s each here), so the page takes ~30 s
    return PROSE + " ".join("'" * (1_500 + i) for i in range(chunks))


def test_quality_over_its_time_limit_is_dropped_with_its_text_unchanged():
    from filters.quality import QualityFilter

    f = QualityFilter(max_seconds=0.5)
    text = _slow_punctuation_page()
    doc = {ID: "slow", SOURCE: "web", TEXT: text}
    assert f.apply(doc) == "quality_timeout"
    assert doc[TEXT] == text
    ok = {ID: "prose", SOURCE: "web", TEXT: PROSE}
    assert f.apply(ok) != "quality_timeout"


def test_quality_time_limit_is_checked_at_recipe_load():
    from filters.quality import QualityFilter
    from filters.stage_options import OptionError

    for bad in (0, -1, "60", float("nan")):
        with pytest.raises(OptionError, match="max_seconds"):
            QualityFilter(max_seconds=bad)
    assert QualityFilter(max_seconds=None).max_seconds is None


def test_quality_stage_counts_a_slow_page_as_rejected_within_its_limit():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from filters.quality import QualityFilter
    from pipelines.transforms.stages import ERRORS, REJECTED, ApplyFilter
    from schemas import REASON

    docs = [{ID: "slow", SOURCE: "web", TEXT: _slow_punctuation_page()},
            {ID: "prose", SOURCE: "web", TEXT: PROSE},
            {ID: "code", SOURCE: "code", TEXT: "'" * 50_000}]  # not a quality source: passes untouched
    rules = QualityFilter(gopher_repetition=None, c4=None, fineweb=None, max_seconds=0.5)
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(docs) | ApplyFilter("quality", rules)
        assert_that(out["kept"] | "K" >> beam.Map(lambda d: d[ID]), equal_to(["prose", "code"]), label="kept")
        assert_that(out[REJECTED] | "R" >> beam.Map(lambda r: (r[ID], r[REASON])),
                    equal_to([("slow", "quality_timeout")]), label="rejected")
        assert_that(out[ERRORS] | "E" >> beam.Map(lambda r: r[ID]), equal_to([]), label="errors")
    counters = {c.key.metric.name: c.committed for c in p.result.metrics().query()["counters"]
                if c.key.metric.namespace == "winnow.quality"}
    assert counters["in"] == 3 and counters["kept"] == 2 and counters["dropped_quality_timeout"] == 1
    assert counters.get("errors", 0) == 0


def test_spacy_vocab_growth_is_bounded_across_documents(monkeypatch):
    import filters.text as text_module
    from filters.text import word_tokens

    # before: every new token text stayed in spaCy's vocab for the life of the worker (~130 MB per 300,000
    # distinct tokens, never given back)
    monkeypatch.setattr(text_module, "MAX_VOCAB_GROWTH", 1_000, raising=False)
    monkeypatch.setattr(text_module, "_VOCAB_LIMIT", 0, raising=False)
    monkeypatch.setattr(text_module, "_SPACY_TOKENIZER", None)
    monkeypatch.setattr(text_module, "_CHUNK_TOKENS", {})
    base = len(text_module._spacy_tokenizer().vocab)
    documents = [" ".join(f"id-{d}.{i}" for i in range(500)) for d in range(8)]  # 4,000 new tokens, 2 each
    tokens = [word_tokens(doc) for doc in documents]
    assert len(text_module._spacy_tokenizer().vocab) <= base + 1_000 + 10
    # a fresh tokenizer's tokens, as if the vocab had never been let go
    monkeypatch.setattr(text_module, "MAX_VOCAB_GROWTH", 10 ** 9)
    monkeypatch.setattr(text_module, "_SPACY_TOKENIZER", None)
    monkeypatch.setattr(text_module, "_CHUNK_TOKENS", {})
    assert tokens == [word_tokens(doc) for doc in documents]
    assert tokens[3][:2] == ["id-3.0", "id-3.1"] and len(tokens[3]) == 500
