"""One huge document through `winnow tokenize`: a text longer than `tokenizer.encode.LONG_TEXT_CHARS` is encoded
in pieces cut where the split regex ends a piece anyway, so its ids are those of the whole text and the shards
are byte for byte those of whole-text encoding, while the job's peak memory no longer grows by ~13 bytes per
byte of the document's text (a 212 MB document took 2.6 GB), nor by the copies of its token bytes that Beam's
local runner held between steps (~7.4 bytes a byte, now ~4.6)."""
from __future__ import annotations

import importlib.util
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tokenizer.encode as encode
from memory import run_python
from pipelines.jobs.tokenize import run_tokenize_job
from schemas import DOCUMENTS_SCHEMA, MANIFEST_NAME, Manifest, empty_document
from tokenizer.encode import TokenizerHandle, load_tokenizer, tokenizer_file
from tokenizer.train import train_tokenizer

# Pieces of text the generated documents are made of: words with and without a leading space, runs of spaces,
# tabs, line breaks (CRLF, blank lines, indentation), digit runs, punctuation, contractions in both cases,
# non-ASCII letters and numbers, emoji, combining marks, Unicode spaces, the control characters Python calls
# whitespace and the regexes do not (\x1c), and the special tokens' spellings, which stay text.
ALPHABET = ["the", "cat", "sat", "'s", "'S", "don't", "I'LL", "we've", " ", " ", " ", " ", "  ", "   ", "\t",
            " \t ", "\n", "\r\n", "\n\n", "\n    ", "  \n  ", "12", "1234567", "3.14", "2024-05-17", "!", "?!",
            "(", ")", "{", "}", "[", "]", "-", "--", "...", ";", ":", "=", "+", "_", "/", "\\", "\"", "'", "#",
            "日本語", "中文", "한국어", "русский", "ελληνικά", "😀", "🎉", "é", "ß", "e\u0301", "٣", "Ⅻ", "ſ",
            "\u00a0", "\u3000", "\u2028", "\x1c", "\x0b", "\x0c", "<|endoftext|>", "<|pad|>", "<|fim_prefix|>"]


def varied_text(rng: random.Random, pieces: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(pieces))


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    """Tokenizers trained as `winnow tokenizer train` trains them, on varied text: Winnow's split (with the
    GPT-2-style baseline beside it) and cl100k's split."""
    root = tmp_path_factory.mktemp("huge-doc-tokenizers")
    rng = random.Random(3)
    docs = [empty_document(f"d{i:03d}", "web", varied_text(rng, rng.randint(5, 200))) for i in range(300)]
    (root / "docs").mkdir()
    pq.write_table(pa.Table.from_pylist(docs, schema=DOCUMENTS_SCHEMA), root / "docs" / "part-00000.parquet")
    train_tokenizer(str(root / "docs"), vocab_size=600, output_dir=str(root / "winnow"), seed=0, baseline=True)
    train_tokenizer(str(root / "docs"), vocab_size=600, output_dir=str(root / "cl100k"), seed=0, split="cl100k")
    return {"winnow": root / "winnow", "cl100k": root / "cl100k", "gpt2": root / "winnow" / "baseline"}


def handles(tokenizers):
    """Every (name, backend) handle: HF for all three, tiktoken where it gives HF's ids (not GPT-2's regex)."""
    out = {}
    for name, path in tokenizers.items():
        for backend in ("hf", "tiktoken"):
            if backend == "tiktoken" and (name == "gpt2" or not _has_tiktoken()):
                continue
            out[name, backend] = load_tokenizer(str(path), backend=backend, required=())
    return out


def _has_tiktoken() -> bool:
    return importlib.util.find_spec("tiktoken") is not None


WHOLE = 10 ** 12  # long_chars past any text: the whole-text path


def whole_ids(handle: TokenizerHandle, text: str):
    return handle.encode_batch_arrays([text], threads=1, long_chars=WHOLE)[0].tolist()


# (a) ids ---------------------------------------------------------------------------------------------------

def test_the_projects_tokenizers_may_be_encoded_in_pieces_and_others_are_not(tokenizers):
    for path in tokenizers.values():
        spec = json.loads(Path(tokenizer_file(str(path))).read_text(encoding="utf-8"))
        assert encode.piecewise_unsupported(spec) is None
        assert load_tokenizer(str(path), required=()).piecewise
    spec = json.loads(Path(tokenizer_file(str(tokenizers["winnow"]))).read_text(encoding="utf-8"))
    changed = [
        dict(spec, normalizer={"type": "Lowercase"}),
        dict(spec, added_tokens=spec["added_tokens"] + [
            {"id": 599, "content": "the cat", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": False}]),
        dict(spec, pre_tokenizer={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                                  "use_regex": True}),
        dict(spec, pre_tokenizer={"type": "Whitespace"}),
        dict(spec, truncation={"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0}),
        dict(spec, model=dict(spec["model"], dropout=0.1)),
    ]
    for other in changed:
        assert encode.piecewise_unsupported(other) is not None, other
    handle = TokenizerHandle(json.dumps(changed[0]).encode(), backend="hf")
    text = varied_text(random.Random(0), 400)
    assert not handle.piecewise
    assert handle.encode_batch_arrays([text], threads=1, long_chars=1, piece_chars=5)[0].tolist() == \
        handle.encode(text)  # the whole-text path, whatever the sizes


def test_the_regexes_whitespace_is_whitespace_to_python():
    """The cut rule reads `\\S` as Python does (a character that is not `str.isspace()`); every character the
    split patterns' `\\s` matches, in tiktoken's engine and in HF's, is `isspace()` (Python adds \\x1c-\\x1f)."""
    from tokenizers import Regex, pre_tokenizers

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    text = "".join(chars)
    python = {c for c in chars if c.isspace()}
    kept = pre_tokenizers.Split(Regex(r"\s"), behavior="removed").pre_tokenize_str(text)
    hf = set(chars) - {c for piece, _ in kept for c in piece}
    assert hf and hf <= python
    if _has_tiktoken():
        import tiktoken

        enc = tiktoken.Encoding(name="ws", pat_str=r"\s", special_tokens={},
                                mergeable_ranks={bytes([i]): i for i in range(256)})
        tik = set(enc.decode_bytes(enc.encode_ordinary(text)).decode("utf-8"))
        assert tik == hf


def test_every_cut_gives_the_ids_of_the_whole_text_and_other_cuts_do_not(tokenizers):
    """At every position the cut rule accepts, ids(text[:i]) + ids(text[i:]) == ids(text), for each split
    pattern and encoder; at the positions it refuses they often differ (the check can fail)."""
    rng = random.Random(7)
    checked, refused_differ = Counter(), 0
    all_handles = handles(tokenizers)
    for _ in range(120):
        text = varied_text(rng, rng.randint(2, 50))
        cuts = set(encode.piece_cuts(text, 1))
        for key, handle in all_handles.items():
            whole = whole_ids(handle, text)
            for i in range(1, len(text)):
                left, right = handle.encode_batch_arrays([text[:i], text[i:]], threads=1, long_chars=WHOLE)
                joined = left.tolist() + right.tolist()
                if i in cuts:
                    assert joined == whole, (key, text, i)
                    checked[key] += 1
                else:
                    refused_differ += joined != whole
    assert min(checked.values()) > 20 and len(checked) == len(all_handles), checked
    assert refused_differ > 1000


def test_piece_cuts():
    assert encode.piece_cuts("a b c d", 10) == []
    assert encode.piece_cuts("a b c d", 1) == [1, 3, 5]
    assert encode.piece_cuts("a b c d", 2) == [3, 5]  # each cut at least 2 past the previous
    assert encode.piece_cuts("ab  cd\tef \ngh i", 1) == [13]  # double spaces, tabs, a space before a line break: none
    assert encode.piece_cuts("日本語" * 1000, 10) == []
    with pytest.raises(ValueError):
        encode.piece_cuts("a b", 0)


@pytest.mark.parametrize("piece_chars", [1, 7, 64, 1000])
def test_long_texts_in_pieces_have_the_ids_and_bytes_of_the_whole_text(tokenizers, piece_chars):
    rng = random.Random(piece_chars)
    texts = [varied_text(rng, 3000), varied_text(rng, 40), "x " * 2500 + "y",
             "日本語中文" * 800 + " a b " + "한국어" * 500,  # one cut among thousands of characters
             "a  " * 2000,                                  # spaces, none of them single: one piece
             " leading and trailing spaces " * 100 + " ", "<|endoftext|> <|pad|> " * 300]
    for key, handle in handles(tokenizers).items():
        expected = [handle.encode(t) for t in texts]
        assert [whole_ids(handle, t) for t in texts] == expected
        got = handle.encode_batch_arrays(texts, threads=1, long_chars=200, piece_chars=piece_chars)
        assert [a.dtype for a in got] == [np.uint32] * len(texts)
        assert [a.tolist() for a in got] == expected, key
        for dtype in ("uint16", "uint32"):
            data = handle.encode_batch_bytes(texts, dtype, 598, threads=2, long_chars=200, piece_chars=piece_chars)
            assert data == [np.array(ids + [598], dtype=dtype).tobytes() for ids in expected], (key, dtype)
            assert handle.encode_batch_bytes(texts, dtype, threads=1, long_chars=200, piece_chars=piece_chars) == \
                [np.array(ids, dtype=dtype).tobytes() for ids in expected]
    assert len(encode.piece_cuts(texts[0], piece_chars)) > 1


def test_a_piece_tiktoken_gives_up_on_is_encoded_by_hf(tokenizers):
    """tiktoken raises on a run of ~1M spaces (no cut falls inside it): that piece alone is HF's."""
    if not _has_tiktoken():
        pytest.skip("tiktoken is not installed")
    data = Path(tokenizer_file(str(tokenizers["winnow"]))).read_bytes()
    tik, hf = TokenizerHandle(data, backend="tiktoken"), TokenizerHandle(data, backend="hf")
    text = "some words here " * 50 + " " * 1_100_000 + "end of it " * 50
    expected = hf.encode(text)
    got = tik.encode_batch_arrays([text], threads=1, long_chars=100, piece_chars=100)[0]
    assert got.tolist() == expected


# (b) shards ------------------------------------------------------------------------------------------------

def _corpus(root: Path) -> Path:
    rng = random.Random(5)
    docs = [empty_document(f"doc-{i:03d}", ["web", "books"][i % 2], varied_text(rng, rng.randint(1, 120)))
            for i in range(40)]
    docs += [empty_document(f"long-{i}", "books", varied_text(rng, n)) for i, n in enumerate((2500, 4000, 9000))]
    docs += [empty_document("no-cut", "web", "日本語中文" * 700),
             empty_document("double-spaces", "web", "word  " * 800),
             empty_document("specials", "web", "text <|endoftext|> more <|pad|> " * 200)]
    (root / "docs").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(docs, schema=DOCUMENTS_SCHEMA), root / "docs" / "part-00000.parquet")
    return root / "docs"


def _files(out: Path):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("encoder, options", [
    ("auto", dict(doc_ids=True)),
    ("hf", dict(doc_ids=True, packing="concat", file_format="arrow")),
    ("auto", dict(file_format="megatron")),
])
def test_the_shards_are_those_of_whole_text_encoding(tokenizers, tmp_path, monkeypatch, encoder, options):
    """The job with pieces of 97 characters (documents past 1,000) writes the files the job writes with every
    text encoded whole -- the path every document took before pieces, which is also the path of every
    document shorter than LONG_TEXT_CHARS."""
    docs = _corpus(tmp_path)
    tok = str(tokenizers["winnow"])
    pieces = []
    real = TokenizerHandle._pieces

    def counting(self, text, piece_chars, dtype="uint32"):
        out = real(self, text, piece_chars, dtype)
        pieces.append(len(out))
        return out

    monkeypatch.setattr(TokenizerHandle, "_pieces", counting)
    monkeypatch.setattr(encode, "LONG_TEXT_CHARS", WHOLE)
    run_tokenize_job(str(docs), tok, str(tmp_path / "whole"), 64, rows_per_shard=8, encoder=encoder, **options)
    assert pieces == []
    monkeypatch.setattr(encode, "LONG_TEXT_CHARS", 1000)
    monkeypatch.setattr(encode, "PIECE_CHARS", 97)
    run_tokenize_job(str(docs), tok, str(tmp_path / "pieces"), 64, rows_per_shard=8, encoder=encoder, **options)
    assert len(pieces) == 6 and max(pieces) > 50 and min(pieces) == 1  # long docs cut, no-cut ones whole
    whole, cut = _files(tmp_path / "whole"), _files(tmp_path / "pieces")
    assert len(whole) > 3 and whole == cut

    if options.get("file_format") == "megatron":
        return
    manifest = Manifest.load(str(tmp_path / "pieces" / MANIFEST_NAME))  # every document's ids, eot appended
    handle = load_tokenizer(tok)
    tokens, lengths = defaultdict(Counter), Counter()
    for shard in manifest.shards:
        path = tmp_path / "pieces" / shard.path
        table = (pa.ipc.open_file(pa.OSFile(str(path))).read_all() if manifest.file_format == "arrow"
                 else pq.read_table(path))
        for row in table.to_pylist():
            offset = 0
            for doc_id, n in zip(row["doc_ids"], row["doc_lengths"]):
                tokens[doc_id] += Counter(row["tokens"][offset:offset + n])
                lengths[doc_id] += n
                offset += n
    source = pq.read_table(docs / "part-00000.parquet").to_pylist()
    expected = {d["id"]: handle.encode(d["text"]) + [handle.eot_id] for d in source}
    assert {k: len(v) for k, v in expected.items()} == dict(lengths)
    assert {k: Counter(v) for k, v in expected.items()} == dict(tokens)


# (c) memory ------------------------------------------------------------------------------------------------

# (encoder, UTF-8 megabytes of the one big document, its words -- `all` of ALPHABET's, emoji and other scripts
# among them, so that its str takes 4 bytes a character, or `ascii`, 1 byte a character -- and the peak memory it
# may add over a tiny document, in bytes per byte of its text). Measured on 2 cores (the figure before Beam's
# local runner stopped holding extra copies of the token bytes, 2026-12, in brackets; the auto ones fail these
# bounds):
# - auto, all: 4.6 (7.4). The peak is the encoding, the str (3.3 a byte) beside its token bytes twice (0.74 a
#   byte each: the pieces and the bytes they are joined into); reading it (str + Arrow's table) comes close. The
#   steps after it hold fewer copies: the str goes before the tokens leave the encoder, and the runner, its data
#   channel and its group-by keep one or two copies of a huge element at a time instead of three to six.
# - auto, ascii: 4.8 (9.4). The str is 1 a byte, the tokens 0.93 a copy: the peak is the packer's input (the
#   grouped element, its decoded copy, one more copy that Beam's invoker keeps of the encoder's last output, and
#   the encoder's freed pieces that the C allocator has not handed back).
# - hf, all: 12 (17), of which a few tens of MB are the allocator's whatever the document's size (HF encodes in
#   pieces of 64K characters; it took ~200 encoding the whole text: its Encoding, a Python int per token).
#   tiktoken took ~13 a byte encoding the whole text (its UTF-8 copy, uint32 ids, a uint16 copy, the bytes).
MEMORY_CASES = [("auto", 40, "all", 6), ("auto", 40, "ascii", 6), ("hf", 4, "all", 40)]

_CHILD = r"""
import sys
from pipelines.jobs.tokenize import run_tokenize_job
run_tokenize_job(sys.argv[1], sys.argv[2], sys.argv[3], 2048, rows_per_shard=256, encoder=sys.argv[4])
"""


def _one_document(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([empty_document("the-one", "web", text)], schema=DOCUMENTS_SCHEMA),
                   directory / "part-00000.parquet", compression="zstd")
    return directory


@pytest.mark.parametrize("encoder, doc_mb, words, max_bytes_per_byte", MEMORY_CASES)
def test_one_huge_document_raises_the_peak_by_a_bounded_multiple_of_its_text(tokenizers, tmp_path, encoder, doc_mb,
                                                                            words, max_bytes_per_byte):
    rng = random.Random(11)
    words = [w for w in ALPHABET if w.strip() and w not in ("\x1c", "\x0b", "\x0c")
             and (words == "all" or w.isascii())]
    block = "".join(rng.choice(words) + rng.choice((" ", " ", " ", " ", " ", "  ", "\n", "\t"))
                    for _ in range(150_000))
    text = block * (doc_mb * 2 ** 20 // len(block.encode("utf-8")) + 1)
    text_bytes = len(text.encode("utf-8"))
    big = _one_document(tmp_path / "big", text)
    small = _one_document(tmp_path / "small", block[:10_000])
    del text, block
    tok = str(tokenizers["winnow"])
    _, small_peak = run_python(_CHILD, [small, tok, tmp_path / "out-small", encoder])
    _, big_peak = run_python(_CHILD, [big, tok, tmp_path / "out-big", encoder])
    growth = (big_peak - small_peak) * 2 ** 20
    assert (tmp_path / "out-big" / "manifest.json").is_file()
    assert growth < max_bytes_per_byte * text_bytes, (
        f"one document of {text_bytes / 2 ** 20:.0f} MiB of text raised the job's peak by "
        f"{growth / 2 ** 20:.0f} MiB ({growth / text_bytes:.1f} bytes per byte of text; small document "
        f"{small_peak:.0f} MiB, big {big_peak:.0f} MiB)")
