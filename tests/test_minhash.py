"""Pure tier: MinHash signatures (value-identical to datasketch), shingles, LSH band keys, real near-duplicates."""
from __future__ import annotations

import csv
import random

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from filters.minhash import (
    HASHFUNCS, SCHEMES, MinHashParams, band_hashes, containment, jaccard, minhash_signature, minhash_signatures,
    optimal_bands_rows, shingle_hash32, shingle_hash64, shingles, signature_from_shingles,
)

CLOUGH = ("neardup", "clough_stevenson_short_answers")


def _read_any(path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")  # the corpus mixes encodings


@pytest.fixture(scope="module")
def book_paragraphs(shared_data):
    book = (shared_data / "text" / "gutenberg" / "pg84__Frankenstein.txt").read_text(encoding="utf-8")
    return [p for p in book.split("\n\n") if len(p.split()) >= 60][10:50]


def _datasketch_hashfunc(params):
    """The hashfunc that makes datasketch hash shingles as `params.hashfunc` does (None: its SHA-1 default)."""
    if params.hashfunc == "sha1":
        return None
    return shingle_hash64 if params.scheme == "affine64" else shingle_hash32


def _datasketch(items, params):
    m = MinHash(num_perm=params.num_perm, seed=params.seed, scheme=params.scheme, hashfunc=_datasketch_hashfunc(params))
    m.update_batch([s.encode("utf-8") for s in items])
    return m.hashvalues


@pytest.mark.shared_data
@pytest.mark.parametrize("hashfunc", HASHFUNCS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_signature_identical_to_datasketch(book_paragraphs, scheme, hashfunc):
    params = MinHashParams(scheme=scheme, hashfunc=hashfunc)
    batch = minhash_signatures(book_paragraphs, params)  # the vectorised batch path
    assert batch.shape == (len(book_paragraphs), params.num_perm) and len(book_paragraphs) > 0
    for text, row in zip(book_paragraphs, batch):
        ours = minhash_signature(text, params)
        assert ours.dtype == np.uint64 and ours.shape == (params.num_perm,)
        expected = _datasketch(shingles(text, params.ngram), params)
        assert np.array_equal(ours, expected) and np.array_equal(row, expected)
    # Other sizes and seeds, the one-at-a-time `update` path and the empty set too.
    params = MinHashParams(num_perm=64, bands=8, rows=8, ngram=3, seed=42, scheme=scheme, hashfunc=hashfunc)
    items = shingles(" ".join(book_paragraphs), 2)
    assert len(items) > 4096  # crosses the chunk boundary
    assert np.array_equal(signature_from_shingles(items, params), _datasketch(items, params))
    m = MinHash(num_perm=64, seed=42, scheme=scheme, hashfunc=_datasketch_hashfunc(params))
    for s in items[:40]:
        m.update(s.encode("utf-8"))
    assert np.array_equal(signature_from_shingles(items[:40], params), m.hashvalues)
    assert np.array_equal(signature_from_shingles([], params), MinHash(num_perm=64, seed=42, scheme=scheme).hashvalues)


@pytest.mark.shared_data
def test_batch_path_sees_the_words_of_normalize_for_dedup_in_75_languages(shared_data):
    """The vectorised path re-implements normalisation as a code-point table: same shingles in every script."""
    texts = []
    for path in sorted((shared_data / "langid" / "lingua_testdata" / "sentences").glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()[:12]
        texts += [" ".join(lines[i:i + 4]) for i in range(0, 12, 4)]
    texts += ["Ａｂｃ ①②③ ﬁne ǅ ΣΑΣ Σίσυφος ٣٤ x_y a‿b \x1c z\u00a0q", "", " ... ", "one", "tab\tsep\x0bv 12.5% «q»"]
    assert len(texts) > 200
    for params in (MinHashParams(), MinHashParams(ngram=2, num_perm=16, bands=4, rows=4),
                   MinHashParams(words="whitespace")):
        batch = minhash_signatures(texts, params)
        assert batch.shape == (len(texts), params.num_perm)
        for text, row in zip(texts, batch):
            assert np.array_equal(row, _datasketch(shingles(text, params.ngram, params.words), params)), text[:80]


def test_code_point_classes_are_filled_as_seen_and_agree_with_normalize_for_dedup(monkeypatch):
    """The batch path classifies a code point the first time a process sees it (not all 1.1M up front); a
    fresh table and a filled one give the same signatures, equal to datasketch's over `shingles`."""
    import unicodedata

    import filters.minhash as mh

    texts = ["Ｆｉｎｅ ǅ ΣΑΣ  ٣٤, x_y a‿b!", "tab\tsep\x0bv 12.5% «q» 　 end.", "¿Qué? ¡Sí! 1,000"]
    monkeypatch.setattr(mh, "_class_table", None)
    params = MinHashParams(ngram=2, num_perm=16, bands=4, rows=4)
    fresh = minhash_signatures(texts, params)
    assert fresh.shape == (len(texts), params.num_perm)
    seen = {ord(c) for t in texts for c in unicodedata.normalize("NFKC", t).lower()}
    classified = np.flatnonzero(mh._class_table != mh._UNSEEN)
    assert set(classified.tolist()) == seen  # only what the texts hold
    assert np.array_equal(minhash_signatures(texts, params), fresh)  # the filled table answers the same
    for text, row in zip(texts, fresh):
        assert np.array_equal(row, _datasketch(shingles(text, params.ngram), params)), text
    classes = mh._class_table
    assert [classes[ord(c)] for c in "a!٣ _"] == [mh._KEEP, mh._DROP, mh._DIGIT, mh._SPACE, mh._DROP]


def test_for_threshold_uses_datasketch_optimiser():
    params = MinHashParams.for_threshold(0.8, num_perm=128)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert (params.bands, params.rows, params.num_perm) == (lsh.b, lsh.r, 128)
    with pytest.raises(ValueError, match="'hashfunc' = 'md5'"):
        MinHashParams(hashfunc="md5")


def test_shingles():
    assert shingles("One, two THREE four five six!", 5) == ["one two three four five", "two three four five six"]
    assert shingles("Short  text.", 5) == ["short text"]
    assert shingles(" ... ", 5) == [] and shingles("", 5) == []
    assert shingles("a b a b a b", 2) == ["a b", "b a"]  # a set, in first-seen order


def test_band_hashes_keys():
    sig = minhash_signature("the quick brown fox jumps over the lazy dog again and again")
    keys = band_hashes(sig, 14, 8)
    assert len(keys) == 14 and len(set(keys)) == 14
    assert [k[:2] for k in keys] == [i.to_bytes(2, "big") for i in range(14)]
    assert keys == band_hashes(sig.copy(), 14, 8)
    # The same band values in two different bands give different keys.
    same = np.zeros(16, dtype=np.uint64)
    k0, k1 = band_hashes(same, 2, 8)
    assert k0 != k1 and k0[2:] == k1[2:]
    with pytest.raises(ValueError, match="exceeds the signature length"):
        band_hashes(sig, 15, 8)


def test_params_validation():
    with pytest.raises(ValueError, match="'scheme' = 'md5'"):
        MinHashParams(scheme="md5")
    with pytest.raises(ValueError, match="exceeds num_perm = 100"):
        MinHashParams(num_perm=100, bands=14, rows=8)


def test_optimal_bands_rows_matches_datasketch():
    for threshold, num_perm in [(0.8, 128), (0.5, 112), (0.7, 256)]:
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        assert optimal_bands_rows(threshold, num_perm) == (lsh.b, lsh.r)


def test_jaccard_and_estimate():
    vocab = [a + b + c for a in "abcdefgh" for b in "ijklmnop" for c in "qrstuvw"]  # 448 words, no digits
    a = shingles(" ".join(vocab[:300]), 1)
    b = shingles(" ".join(vocab[100:400]), 1)
    assert jaccard(a, b) == pytest.approx(0.5)
    assert jaccard([], []) == 1.0 and jaccard(["x"], []) == 0.0
    assert containment(a[:10], a) == 1.0 and containment(["zz"], a) == 0.0
    p = MinHashParams(num_perm=256, bands=32, rows=8)
    estimate = np.mean(signature_from_shingles(a, p) == signature_from_shingles(b, p))
    assert abs(estimate - 0.5) < 0.1


@pytest.mark.shared_data
def test_default_bands_catch_edited_copies_not_unrelated_text(book_paragraphs):
    params = MinHashParams()  # FineWeb's 14 x 8 over 5-grams
    text = " ".join(book_paragraphs[:3])
    words = text.split()
    edited = " ".join("EDITED" if i % 60 == 30 else w for i, w in enumerate(words))  # ~1.7 % of words
    assert jaccard(shingles(text, 5), shingles(edited, 5)) > 0.8
    base_keys = set(band_hashes(minhash_signature(text, params), params.bands, params.rows))
    assert base_keys & set(band_hashes(minhash_signature(edited, params), params.bands, params.rows))
    assert base_keys & set(band_hashes(minhash_signature(text.upper().replace("\n", "  "), params), 14, 8)) == base_keys
    for other in book_paragraphs[3:]:
        assert not base_keys & set(band_hashes(minhash_signature(other, params), params.bands, params.rows))


@pytest.mark.shared_data
def test_cut_answers_share_bands_with_their_source_far_more_than_independent_ones(shared_data):
    folder = shared_data.joinpath(*CLOUGH)
    # The answers are short excerpts of a longer source (Jaccard ~0.1-0.5, high containment), so use a
    # low-threshold banding (56 x 2, ~0.13) to find them; independent answers have Jaccard ~0.
    params = MinHashParams(num_perm=112, bands=56, rows=2, ngram=5)

    def keys(name):
        return set(band_hashes(minhash_signature(_read_any(folder / "texts" / name), params), 56, 2))

    sources = {task: keys(f"orig_task{task}.txt") for task in "abcde"}
    shared = {"cut": [], "non": []}
    with open(folder / "file_information.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["Category"] in shared:
                shared[row["Category"]].append(bool(keys(row["File"]) & sources[row["Task"]]))
    assert len(shared["cut"]) == 19 and len(shared["non"]) == 38
    cut_rate = sum(shared["cut"]) / len(shared["cut"])
    non_rate = sum(shared["non"]) / len(shared["non"])
    assert cut_rate >= 0.6 and non_rate <= 0.05, (cut_rate, non_rate)


def _whole(texts, params):
    """Signatures and shingle sets from one batch_shingle_hashes call over all texts (no bound on its size)."""
    from filters.minhash import _permuted_min, _to_scheme_dtype, batch_shingle_hashes

    hv, owner = batch_shingle_hashes(texts, params.ngram)
    sigs = _permuted_min(_to_scheme_dtype(hv, params.scheme), owner, len(texts), params)
    cuts = np.searchsorted(owner, np.arange(len(texts) + 1))
    return sigs, [np.unique(hv[cuts[i]:cuts[i + 1]]) for i in range(len(texts))]


@pytest.mark.parametrize("batch_chars", [40, 333, 5000])
def test_bounded_batches_and_pieces_give_the_same_signatures_and_sets(monkeypatch, batch_chars):
    """Texts over the per-call bound are hashed piece by piece with an overlap of n-1 words: the same shingles
    as hashing each text whole, for texts with punctuation-only tokens, Unicode spaces, NFKC-splitting
    characters (U+00A8 becomes a space and a mark), digits, a text of fewer than n words over the bound, and
    one long token with no whitespace."""
    import filters.minhash as mh

    rng = random.Random(batch_chars)
    vocab = ["alpha", "beta", "gamma", "delta", "—", "...", "!!", "x¨y", "42", "Σίσυφος", "日本語", "a\u0301"]
    spaces = [" ", "  ", "\n", "\u00a0", "\u3000", "\t "]
    texts = ["".join(rng.choice(vocab) + rng.choice(spaces) for _ in range(rng.randint(0, 400)))
             for _ in range(30)]
    texts += ["one two three " + "z" * 600, "q" * 900, "", "— — — " * 80 + "end word here now too", "a b"]
    for params in (MinHashParams(), MinHashParams(ngram=1), MinHashParams(ngram=8, scheme="legacy")):
        expected_sigs, expected_sets = _whole(texts, params)
        monkeypatch.setattr(mh, "_BATCH_CHARS", batch_chars)
        sigs, sets = mh.minhash_signatures(texts, params), mh.shingle_hash_sets(texts, params)
        monkeypatch.undo()
        assert np.array_equal(sigs, expected_sigs), params
        assert all(np.array_equal(a, b) for a, b in zip(sets, expected_sets)), params


def _signed_with_peak(texts):
    """(signatures, peak bytes the signing allocated: numpy's arrays are traced)."""
    import tracemalloc

    tracemalloc.start()
    try:
        sig = minhash_signatures(texts)
        return sig, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_signing_one_long_document_holds_a_bounded_batch(tmp_path):
    """A 50 MB document: the signing arrays were ~58 bytes per byte of text at once (2.9 GB in curate); now
    they are held a piece of ~1 MiB code points at a time."""
    text = " ".join(f"w{i % 5000}" for i in range(2_000_000))  # ~13 MB
    sig, peak = _signed_with_peak([text, "a small doc"])
    assert sig.shape == (2, 112)
    assert peak < 200 << 20, peak >> 20  # the whole-text path peaked near 0.75 GB on this text


def test_a_long_wordless_stretch_and_a_long_token_give_the_sets_of_hashing_whole():
    """A document over a step with a long stretch of punctuation-only tokens (`- - -`; it once hung the cutting
    of texts at whitespace), and one whose 1.5 MB token has no whitespace at all: hashed a step at a time,
    the same shingles as hashed whole, and no text gives more than one part."""
    from filters.minhash import _hash_parts, batch_shingle_hashes

    texts = [("alpha beta gamma delta epsilon zeta eta theta " * 3000 + "- " * 550_000
              + "iota kappa lambda mu nu xi omicron " * 3000),
             "one two " + "ab-" * 500_000 + " three four five six",
             "日本語の文章です。" * 200_000]
    for words in ("scripts", "whitespace"):
        for text in texts:
            whole = np.unique(batch_shingle_hashes([text], 5, words)[0])
            parts = list(_hash_parts([text], 5, words))
            assert len(parts) == 1 and np.array_equal(whole, np.unique(parts[0][0])), (words, text[:20])


def test_one_token_of_30_million_characters_is_signed_in_bounded_memory(monkeypatch):
    """A 30M-character text with no whitespace (a base64 blob, a minified file): hashed whole it took ~55
    bytes of arrays per character (2.9 GB for 40M characters in curate); a step at a time it holds ~60 MB.
    Stepped, a token gives datasketch's signature of its one shingle (checked on a shorter one)."""
    import filters.minhash as mh

    short = "Zm9vYmFy" * 25_000
    monkeypatch.setattr(mh, "_BATCH_CHARS", 4096)
    assert np.array_equal(minhash_signatures([short])[0], _datasketch(shingles(short, 5), MinHashParams()))
    monkeypatch.undo()
    text = "Zm9vYmFy" * 3_750_000
    assert mh._BATCH_CHARS < len(text) // 10
    sig, peak = _signed_with_peak([text, "a small doc"])
    assert peak < 200 << 20, peak >> 20
    assert sig.shape == (2, 112) and len(set(sig[0].tolist())) == 112


def test_chinese_japanese_and_thai_near_duplicates_are_found_by_characters():
    """Texts of scripts written without spaces are shingled by characters (words "scripts"): an edited copy
    shares bands with its source and estimates a high Jaccard; with words "whitespace" (indexes built before
    the option) each such text is one word and the copy shares nothing."""
    from filters.minhash import band_hashes, dedup_words

    sources = {
        "zh": "今天早上我们在河边散步，看见很多人在钓鱼。天气很好，阳光照在水面上，孩子们在草地上跑来跑去。"
              "中午我们在一家小饭馆吃了面条，然后坐公共汽车回家。晚上大家一起看电影，聊到很晚才睡觉。",
        "ja": "昨日は朝から雨が降っていたので、家で本を読んで過ごしました。午後になると雨がやんで、"
              "近くの公園まで散歩に出かけました。夕方には友達から電話があり、来週の旅行の計画を話し合いました。",
        "th": "เมื่อวานนี้ฉันไปตลาดกับแม่ตั้งแต่เช้า เราซื้อผักและผลไม้หลายอย่าง หลังจากนั้นเราแวะกินก๋วยเตี๋ยวที่ร้านใกล้บ้าน"
              "ตอนบ่ายฝนตกหนักมาก เราจึงอยู่บ้านดูโทรทัศน์และคุยกันจนถึงเย็น",
    }
    params = MinHashParams()
    for lang, text in sources.items():
        edited = text.replace(text[20:23], "", 1) + text[:6]  # three characters gone, six appended
        assert dedup_words(text)[:3] == list(normalize_chars(text)[:3]), lang
        sigs = minhash_signatures([text, edited], params)
        estimate = float(np.mean(sigs[0] == sigs[1]))
        exact = jaccard(shingles(text, 5), shingles(edited, 5))
        assert exact > 0.8 and estimate > 0.7, (lang, exact, estimate)
        assert set(band_hashes(sigs[0], 14, 8)) & set(band_hashes(sigs[1], 14, 8)), lang
        old = MinHashParams(words="whitespace")
        sigs = minhash_signatures([text, edited], old)
        assert not set(band_hashes(sigs[0], 14, 8)) & set(band_hashes(sigs[1], 14, 8)), lang
        unrelated = minhash_signatures([text, sources["ja" if lang != "ja" else "zh"]], params)
        assert float(np.mean(unrelated[0] == unrelated[1])) < 0.1
    assert shingles("日本語の文, end", 2) == ["日 本", "本 語", "語 の", "の 文", "文 end"]
    assert shingles("日本語の文, end", 2, "whitespace") == ["日本語の文 end"]
    assert dedup_words("한국어 문장") == ["한국어", "문장"]  # Hangul is written with spaces: words stay


def normalize_chars(text):
    from filters.text import normalize_for_dedup

    return [c for c in normalize_for_dedup(text) if not c.isspace()]
