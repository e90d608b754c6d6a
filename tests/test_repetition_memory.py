"""Gopher repetition n-gram measures: the same numbers as the straightforward algorithm (below as the reference: a
Counter of n-gram tuples, a greedy walk over the joined strings) for every text, on both the Counter path and the
array path of `filters.repetition`, and memory of a few dozen bytes per word on a long text.

The array path counts long word lists as int32 ids in numpy arrays; the Counter algorithm that every length
went through before took ~245 MiB to score 10 MB of distinct words (~220 bytes per word).
"""
from __future__ import annotations

import json
import random
import textwrap
from collections import Counter

import pytest

import filters.repetition as repetition
from filters.repetition import GopherRepetitionFilter, duplicated_ngram_chars, top_ngram_chars
from memory import run_python


# ---------------------------------------------------------------- the reference: the Counter algorithm

def reference_top_ngram_chars(words, n):
    if len(words) < n:
        return 0
    counts = Counter(zip(*(words[i:] for i in range(n))))
    gram, count = counts.most_common(1)[0]  # among ties, the first seen
    return (sum(map(len, gram)) + n - 1) * count


def reference_duplicated_ngram_chars(words, n):
    grams = ["".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    seen = set()
    chars = i = 0
    while i < len(grams):
        if grams[i] in seen:
            chars += len(grams[i])
            i += n
        else:
            seen.add(grams[i])
            i += 1
    return chars


def reference_scores(text, words):
    length = max(len(text), 1)
    s = {}
    for n in range(2, 5):
        s[f"gopher_rep_top_{n}_gram"] = reference_top_ngram_chars(words, n) / length
    for n in range(5, 11):
        s[f"gopher_rep_dup_{n}_gram"] = reference_duplicated_ngram_chars(words, n) / length
    return s


# ---------------------------------------------------------------- texts

# Short pieces over few letters, a NUL and a surrogate among them: words that join to the same string
# ("ab" "c" / "a" "bc"), words that differ by a NUL alone ("\0a" / "a"), many repeats and ties.
PIECES = ["a", "b", "ab", "ba", "c", "bc", "abc", "\0", "\0a", "\ud800", "é", "😀"]


def random_words(rng, count, vocab_size):
    vocab = ["".join(rng.choices(PIECES, k=rng.randint(1, 3))) for _ in range(vocab_size)]
    words = [rng.choice(vocab) for _ in range(count)]
    # a run copied from earlier on: long duplicated n-grams
    if count > 40 and rng.random() < 0.5:
        start, span = rng.randrange(count // 2), rng.randint(5, 30)
        at = rng.randrange(count // 2, count - span)
        words[at:at + span] = words[start:start + span]
    return words


def both_paths(monkeypatch, words, n):
    """(top, duplicated) characters from the Counter path and from the array path."""
    results = []
    for threshold in (1 << 40, 0):
        monkeypatch.setattr(repetition, "ARRAY_MIN_WORDS", threshold)
        results.append((top_ngram_chars(words, n), duplicated_ngram_chars(words, n)))
    return results


# ---------------------------------------------------------------- equivalence

def test_joined_strings_that_coincide_are_one_gram(monkeypatch):
    # ("ab", "c", "x", "y", "z") and ("a", "bc", "x", "y", "z") join to one string: the second is a repeat
    words = ["ab", "c", "x", "y", "z", "q", "a", "bc", "x", "y", "z", "r"]
    assert reference_duplicated_ngram_chars(words, 5) == len("abcxyz")
    for top, dup in both_paths(monkeypatch, words, 5):
        assert dup == len("abcxyz")
        assert top == reference_top_ngram_chars(words, 5)
    # a leading NUL, invisible when printed: "\0a" and "a" must stay different grams
    words = ["\0a", "b"] + ["k"] * 3 + ["a", "b"]
    for _, dup in both_paths(monkeypatch, words, 2):
        assert dup == reference_duplicated_ngram_chars(words, 2) == 2  # only the second "k k" repeats


def test_ties_for_the_most_frequent_gram_take_the_first_seen(monkeypatch):
    # "yy z", "z a" and "a b" occur twice each; "yy z" is seen first, and is the longest
    words = ["yy", "z", "a", "b", "q", "yy", "z", "a", "b"]
    expected = reference_top_ngram_chars(words, 2)
    assert expected == len("yy z") * 2
    for top, _ in both_paths(monkeypatch, words, 2):
        assert top == expected
    words = ["long", "gram", "a", "b", "a", "b", "long", "gram"]  # "long gram" first, tied with "a b"
    for top, _ in both_paths(monkeypatch, words, 2):
        assert top == reference_top_ngram_chars(words, 2) == len("long gram") * 2


@pytest.mark.parametrize("seed", range(12))
def test_random_texts_match_the_reference_on_both_paths(monkeypatch, seed):
    rng = random.Random(seed)
    for _ in range(6):
        words = random_words(rng, rng.choice([0, 1, 2, 7, 30, 200, 1500]), rng.randint(1, 40))
        for n in range(1, 12):
            expected = (reference_top_ngram_chars(words, n), reference_duplicated_ngram_chars(words, n))
            assert both_paths(monkeypatch, words, n) == [expected, expected], (seed, n, words[:40])


def test_hash_collisions_keep_the_classes_exact(monkeypatch):
    # every word hash and every joined-string hash made to collide often: the classes must still be exact
    monkeypatch.setattr(repetition, "hash", lambda s: len(s) % 3, raising=False)
    rng = random.Random(99)
    for _ in range(20):
        words = random_words(rng, rng.choice([3, 50, 400]), rng.randint(1, 30))
        for n in range(1, 11):
            expected = (reference_top_ngram_chars(words, n), reference_duplicated_ngram_chars(words, n))
            assert both_paths(monkeypatch, words, n) == [expected, expected], (n, words[:40])


def test_long_texts_score_exactly_as_the_reference(monkeypatch):
    # above ARRAY_MIN_WORDS without patching: prose-like text with repeated phrases, and one of distinct words
    rng = random.Random(5)
    vocab = [w for w in "the of and a to in is was that for it with as his on be at by had are but from".split()]
    vocab += ["".join(rng.choices("abcdefghij", k=rng.randint(2, 7))) for _ in range(400)]
    prose = [rng.choice(vocab) for _ in range(6000)]
    prose[4000:4100] = prose[1000:1100]
    distinct = [f"{i * 2654435761 % (1 << 32):08x}" for i in range(5000)]
    f = GopherRepetitionFilter()
    for words in (prose, distinct, distinct + distinct[:60]):
        assert len(words) >= repetition.ARRAY_MIN_WORDS
        text = " ".join(words)
        scores = f.score(text, words)
        expected = reference_scores(text, words)
        assert {k: scores[k] for k in expected} == expected
    top, dup = repetition.ngram_chars(prose, [1, 2, 3], [1, 5, 10, 7000])
    assert top == {n: reference_top_ngram_chars(prose, n) for n in (1, 2, 3)}
    assert dup == {n: reference_duplicated_ngram_chars(prose, n) for n in (1, 5, 10, 7000)}


# ---------------------------------------------------------------- memory

PEAK_GROWTH_BOUND_MB = 160  # measured 42 MiB; 244 MiB when every length went through the Counter algorithm

CHILD = textwrap.dedent("""
    import json
    from benchmarks.harness import peak_rss_mb
    from filters.repetition import GopherRepetitionFilter

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

    # ~10 MB of distinct words (8 hex digits each: i -> i * 2654435761 mod 2^32 is one to one)
    words = [f"{i * 2654435761 % (1 << 32):08x}" for i in range(1_100_000)]
    text = " ".join(words)
    f = GopherRepetitionFilter()
    warm = "warm up " * 2000
    f.score(warm, warm.split())
    before = rss_mb()
    scores = f.score(text, words)
    print(json.dumps({"chars": len(text), "before": before, "peak": peak_rss_mb(),
                      "dup_5": scores["gopher_rep_dup_5_gram"], "top_2": scores["gopher_rep_top_2_gram"]}))
""")


def test_scoring_ten_megabytes_of_distinct_words_stays_in_bounded_memory():
    proc, peak_mb = run_python(CHILD, timeout=240)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["chars"] > 9_000_000
    assert out["dup_5"] == 0 and out["top_2"] == 17 / out["chars"]  # every gram occurs once: the first one
    growth = peak_mb - out["before"]
    print(f"repetition scores of {out['chars']:,} characters: peak RSS growth {growth:.0f} MiB")
    assert growth < PEAK_GROWTH_BOUND_MB, out
