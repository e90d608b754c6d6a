"""Tokenizer training, encoding and evaluation: round trips, digit splitting, determinism, sampling."""
from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import DOCUMENTS_SCHEMA, empty_document
from schemas.io import iter_documents
from schemas.progress import Progress
from tokenizer.encode import load_tokenizer
from tokenizer.evaluate import choose_documents, evaluate_tokenizer, whole_word_tokens
from tokenizer.train import (
    CL100K_SPLIT_PATTERN, EOT_TOKEN, FIM_TOKENS, WINNOW_SPLIT_PATTERN, PAD_TOKEN, build_tokenizer,
    parse_source_weights, plan_sample, sample_documents, train_from_texts, train_tokenizer,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

PHRASES = [
    "The quick brown fox jumps over the lazy dog.", "Il était une fois une petite fille.",
    "Der schnelle braune Fuchs springt über den faulen Hund.", "¿Dónde está la biblioteca? ¡Aquí!",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.", "Γαζέες καὶ μυρτιὲς δὲν θὰ βρῶ πιὰ",
    "いろはにほへと ちりぬるを わかよたれそ", "我能吞下玻璃而不伤身体。", "나는 유리를 먹을 수 있어요.",
    "אני יכול לאכול זכוכית וזה לא מזיק לי.", "أنا قادر على أكل الزجاج و هذا لا يؤلمني.",
    "मैं काँच खा सकता हूँ और मुझे उससे कोई चोट नहीं पहुंचती.", "ฉันกินกระจกได้ แต่มันไม่ทำให้ฉันเจ็บ",
    "Emoji: 😀🎉👩‍👩‍👧‍👦🇫🇷 ok", "def f(x):\n\treturn x  \n", "    if (a && b) { return 42; }\n",
    "Numbers 3.14159 and 1234567890 and 2024-05-17.", "tabs\t\tand   spaces   ", "\n\n\n", "CamelCaseWords snake_case",
]

ROUND_TRIP = [
    "", " ", "hello world", "  leading and trailing  ", "\t\ttab\tseparated\t", "line\r\nwindows\rmac\n",
    " " * 200, "\n" * 50, "0" * 100, "12345678901234567890", "3.14159265358979", "-1e-10",
    "Съешь же ещё этих мягких французских булок", "我能吞下玻璃而不伤身体。", "🤖🧠👩🏽‍💻🏳️‍🌈", "\u200b\u200d\ufeff",
    "e\u0301 (combining) vs é", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙", "def main():\n\tprint('hi')   \n\n\n    return None\t\n",
    "<|endoftext|> inside text <|pad|>", "'s 're 've 'll 'd 'm 't", "\x00\x01 control \x7f",
    "mixed: Ελληνικά, עברית, العربية, हिन्दी, ไทย, 日本語, 한국어",
]


def varied_text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(PHRASES) for _ in range(n))


def write_docs(path: Path, docs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(docs, schema=DOCUMENTS_SCHEMA), path, compression="zstd")


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory) -> Path:
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("docs")
    docs = [empty_document(f"doc-{i:03d}", ["web", "code", "books"][i % 3], varied_text(rng, rng.randint(5, 60)),
                           language=["en", "de", "ja"][i % 3]) for i in range(150)]
    write_docs(root / "documents" / "part-00000.parquet", docs[:80])
    write_docs(root / "documents" / "part-00001.parquet", docs[80:])
    return root


@pytest.fixture(scope="session")
def trained(docs_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    meta = train_tokenizer(str(docs_dir), vocab_size=600, output_dir=str(out), seed=1, baseline=True)
    return out, meta


def test_split_pattern_caps_digit_runs_at_three():
    assert not re.search(r"\{\d+(,\d*)?\}\+|[+*?]\+", WINNOW_SPLIT_PATTERN)  # no possessive quantifiers
    pre = build_tokenizer().pre_tokenizer
    pieces = [p for p, _ in pre.pre_tokenize_str("1234567")]
    assert pieces == ["123", "456", "7"]
    pieces = [p for p, _ in pre.pre_tokenize_str("year 20245 x")]
    assert pieces == ["year", "\u0120202", "45", "\u0120x"]  # \u0120 = ByteLevel's space: a space leads a group
    assert all(len(p.lstrip("\u0120")) <= 3 for p in pieces if p.lstrip("\u0120").isdigit())


WHITESPACE_CASES = [
    "def f(x):\n    if x:\n        return 1\n    return 2\n", "{\n\tfoo();\n\t\tbar();\n}\n", "a\r\n    b\r\n",
    "x = [1, 2, 3]  # 10 20\n", "\n\n    \n  \n", "end  \n", "   ", "\u3000indent\u3000\u00a0nbsp \u2003x\n\u2003y",
    "line\n \n  \n   z", ":\n\n\n        deep", "a  1  22  333  4444", "\t\t\n\t\t", "f(\n    1,\n    2)\n",
]


def test_winnow_split_keeps_indentation_with_the_line_break():
    from tokenizers import Regex, pre_tokenizers

    winnow, cl100k = (pre_tokenizers.Split(Regex(p), behavior="isolated")
                      for p in (WINNOW_SPLIT_PATTERN, CL100K_SPLIT_PATTERN))

    def pieces(pre, text):
        return [p for p, _ in pre.pre_tokenize_str(text)]

    assert pieces(winnow, "if x:\n    return y") == ["if", " x", ":\n   ", " return", " y"]
    assert pieces(winnow, "a\n    b") == ["a", "\n   ", " b"]
    assert pieces(cl100k, "a\n    b") == ["a", "\n", "   ", " b"]
    assert pieces(winnow, "x = 10, 2024") == ["x", " =", " 10", ",", " 202", "4"]
    assert pieces(cl100k, "x = 10") == ["x", " =", " ", "10"]
    assert pieces(winnow, "one.\n\nTwo words") == pieces(cl100k, "one.\n\nTwo words")
    for text in WHITESPACE_CASES:  # the split covers every character, in order
        assert "".join(pieces(winnow, text)) == text, repr(text)
    with pytest.raises(ValueError, match="unknown split"):
        build_tokenizer("gpt5")


def test_round_trip_many_scripts(trained):
    out, _ = trained
    tok = load_tokenizer(str(out))
    for text in ROUND_TRIP + PHRASES:
        ids = tok.encode(text)
        assert tok.decode(ids) == text, repr(text)
    batch = tok.encode_batch(ROUND_TRIP)
    assert [tok.decode(ids) for ids in batch] == ROUND_TRIP


def test_special_token_strings_in_text_are_ordinary_text(trained):
    out, meta = trained
    tok = load_tokenizer(str(out / "tokenizer.json"))
    ids = tok.encode("a <|endoftext|> b <|pad|>")
    assert tok.eot_id not in ids and tok.pad_id not in ids
    assert tok.decode(ids) == "a <|endoftext|> b <|pad|>"
    assert tok.decode([tok.eot_id]) == EOT_TOKEN


def test_meta_and_sample_statistics(trained, docs_dir):
    out, meta = trained
    assert json.loads((out / "tokenizer_meta.json").read_text()) == meta
    tok = load_tokenizer(str(out))
    assert meta["sha256"] == tok.sha256 and meta["vocab_size"] == tok.vocab_size == 600
    assert meta["special_ids"] == {EOT_TOKEN: tok.eot_id, PAD_TOKEN: tok.pad_id}
    assert meta["split_pattern"] == WINNOW_SPLIT_PATTERN
    sample = meta["sample"]
    assert sample["documents"] == sample["documents_seen"] == 150
    assert set(sample["sources"]) == {"web", "code", "books"}
    assert sum(s["chars"] for s in sample["sources"].values()) == sample["chars"]
    assert sample["chars"] == sum(len(d["text"][:meta["max_doc_chars"]]) for d in iter_documents(str(docs_dir)))


def test_fim_tokens_behind_flag(docs_dir, tmp_path):
    meta = train_tokenizer(str(docs_dir), vocab_size=400, output_dir=str(tmp_path), fim=True, max_chars=20_000)
    assert set(meta["special_ids"]) == {EOT_TOKEN, PAD_TOKEN, *FIM_TOKENS}
    assert len(set(meta["special_ids"].values())) == 5


def test_sampling_is_bounded_order_independent_and_seeded():
    rng = random.Random(3)
    docs = [{"id": f"d{i}", "source": "s", "text": "x" * rng.randint(1, 500)} for i in range(300)]
    texts, stats = sample_documents(iter(docs), seed=5, max_chars=10_000, max_doc_chars=200)
    assert stats.chars <= 10_000 and all(len(t) <= 200 for t in texts)
    assert stats.chars > 10_000 - 200  # the hash-order prefix stops only when the next document does not fit
    shuffled = docs[:]
    random.Random(9).shuffle(shuffled)
    assert sample_documents(iter(shuffled), seed=5, max_chars=10_000, max_doc_chars=200)[0] == texts
    other, _ = sample_documents(iter(docs), seed=6, max_chars=10_000, max_doc_chars=200)
    assert other != texts


def _train_hash(docs: str, out: Path, env=None) -> str:
    code = ("import sys; from tokenizer.train import train_tokenizer; "
            f"print(train_tokenizer({docs!r}, 1000, {str(out)!r}, max_chars=1_500_000)['sha256'])")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         check=True)
    return res.stdout.strip()


@pytest.mark.slow
@pytest.mark.shared_data
def test_training_is_deterministic_on_real_prose(shared_data, tmp_path):
    """tokenizer.json is byte-identical across trainings, processes and rayon thread counts."""
    rows = []
    for path in sorted((shared_data / "text" / "gutenberg").glob("pg*.txt"))[:5]:
        text = path.read_text(encoding="utf-8")
        for i in range(0, min(len(text), 400_000), 4000):
            rows.append(empty_document(f"{path.stem}-{i}", path.stem, text[i:i + 4000]))
    docs = tmp_path / "docs" / "prose.parquet"
    write_docs(docs, rows)
    meta_a = train_tokenizer(str(docs), 1000, str(tmp_path / "a"), max_chars=1_500_000)
    meta_b = train_tokenizer(str(docs), 1000, str(tmp_path / "b"), max_chars=1_500_000)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    assert meta_a == meta_b
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    assert _train_hash(str(docs), tmp_path / "c", env) == meta_a["sha256"]
    tok = load_tokenizer(str(tmp_path / "a"))
    sample = rows[7]["text"]
    assert tok.decode(tok.encode(sample)) == sample
    assert len(sample.encode("utf-8")) / len(tok.encode(sample)) > 2.5  # it learned English merges


def test_jsonl_input_and_evaluate(trained, tmp_path, capsys):
    out, meta = trained
    jsonl = tmp_path / "docs.jsonl"
    with jsonl.open("w", encoding="utf-8") as f:
        for i, text in enumerate(PHRASES):
            f.write(json.dumps({"text": text, "source": ["a", "b"][i % 2], "language": ["en", "xx"][i % 2]}) + "\n")
    docs = list(iter_documents(str(jsonl)))
    assert len(docs) == len(PHRASES) and all(d["id"] for d in docs)
    report = evaluate_tokenizer(str(out), str(jsonl))
    assert report["documents"] == len(PHRASES)
    assert set(report["sources"]) == {"a", "b"} and set(report["languages"]) == {"en", "xx"}
    total_bytes = sum(len(p.encode("utf-8")) for p in PHRASES)
    assert report["bytes"] == total_bytes
    assert report["bytes_per_token"] == pytest.approx(total_bytes / report["tokens"])
    assert 0 < report["vocab_utilisation"] <= 1
    assert report["sample"] == {"documents_available": len(PHRASES), "documents": len(PHRASES), "max_docs": 2000,
                                "seed": 0, "max_doc_chars": 100_000, "documents_cut": 0}
    # the report says when its figures are of a sample, and of documents cut short
    small = evaluate_tokenizer(str(out), str(jsonl), max_docs=3, max_doc_chars=10)
    assert small["documents"] == 3 and small["sample"]["documents_available"] == len(PHRASES)
    chosen, available = choose_documents(str(jsonl), 3, 0)
    assert available == len(PHRASES)
    # every document is read to choose the sample: the progress line counts them (one empty-text line more)
    with jsonl.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"text": ""}) + "\n")
    with Progress("tokenizer eval", ("read",), stream=io.StringIO(), tty=False) as progress:
        assert evaluate_tokenizer(str(out), str(jsonl), max_docs=3, max_doc_chars=10, progress=progress) == small
    assert progress.counts == {"read": len(PHRASES) + 1}
    assert small["sample"]["documents_cut"] == sum(len(d["text"]) > 10 for d in chosen) > 0
    assert small["bytes"] == sum(len(d["text"][:10].encode("utf-8")) for d in chosen)
    from tokenizer.evaluate import main

    assert main(["--tokenizer", str(out), "--input", str(jsonl)]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == report["tokens"]


def test_tokenizer_package_never_imports_beam():
    code = ("import sys, tokenizer.train, tokenizer.encode, tokenizer.pack, tokenizer.evaluate; "
            "sys.exit('apache_beam' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT).returncode == 0


# --- per-source weights ----------------------------------------------------------------------------------

def _weighted_docs():
    rng = random.Random(4)
    return [{"id": f"{src}{i}", "source": src, "text": "y" * rng.randint(50, 150)}
            for src in ("web", "code", "books") for i in range(400)]


def test_source_weights_split_the_budget():
    docs = _weighted_docs()
    plan, stats = plan_sample(iter(docs), seed=1, max_chars=12_000, source_weights={"web": 3, "code": 1})
    assert stats.budgets == {"web": 9_000, "code": 3_000}
    assert set(stats.sources) == {"web", "code"}  # books: not listed, no '*'
    assert 9_000 - 150 < stats.sources["web"]["chars"] <= 9_000
    assert 3_000 - 150 < stats.sources["code"]["chars"] <= 3_000
    assert sum(plan.keys.values()) == stats.documents
    # '*' takes every source not listed; weight 0 excludes a source
    _, stats = plan_sample(iter(docs), seed=1, max_chars=12_000, source_weights={"web": 0, "code": 1, "*": 1})
    assert set(stats.sources) == {"code", "books"} and stats.budgets == {"code": 6_000, "*": 6_000}
    # a source with less text than its budget gives all it has
    _, stats = plan_sample(iter(docs), seed=1, max_chars=10_000_000, source_weights={"web": 1, "code": 1})
    assert stats.sources["web"]["documents"] == 400 and stats.sources["web"]["chars"] == sum(
        len(d["text"]) for d in docs if d["source"] == "web")
    # the weighted sample is seeded and order independent too
    texts, _ = sample_documents(iter(docs), seed=2, max_chars=6_000, source_weights={"web": 1, "*": 1})
    assert sample_documents(iter(docs[::-1]), seed=2, max_chars=6_000, source_weights={"web": 1, "*": 1})[0] == texts


@pytest.mark.parametrize("bad", [["web"], ["web=-1"], ["=3"], ["web=x"], ["web=1", "web=2"], ["web=0"]])
def test_bad_source_weights_stop_before_reading(bad):
    with pytest.raises(ValueError, match="source weight|weighted twice|sum to 0"):
        parse_source_weights(bad)


def test_cli_train_with_weights_and_baseline(docs_dir, tmp_path, capsys):
    from pipelines.cli import main as winnow

    out = tmp_path / "tok"
    assert winnow(["tokenizer", "train", "--input", str(docs_dir), "--vocab-size", "400", "--output", str(out),
                   "--source-weight", "web=1", "--source-weight", "*=1", "--max-chars", "20000", "--baseline"]) == 0
    meta = json.loads((out / "tokenizer_meta.json").read_text())
    assert meta["source_weights"] == {"*": 1.0, "web": 1.0}
    assert meta["sample"]["budgets"] == {"*": 10_000, "web": 10_000}
    assert meta["sample"]["sources"]["web"]["chars"] <= 10_000
    assert (out / "baseline" / "tokenizer.json").is_file() and meta["baseline"]["vocab_size"] == 400
    assert winnow(["tokenizer", "train", "--input", str(docs_dir), "--vocab-size", "400", "--output", str(out),
                   "--source-weight", "web"]) == 1
    assert "SOURCE=WEIGHT" in capsys.readouterr().err


def test_cli_train_says_when_the_vocabulary_falls_short(tmp_path, capsys):
    # BPE stops merging when the sample has no pair left: the file held fewer entries than asked, without a word
    from pipelines.cli import main as winnow

    docs = tmp_path / "tiny.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "abc abd abe " * 20}) + "\n")
    out = tmp_path / "tok"
    assert winnow(["tokenizer", "train", "--input", str(docs), "--vocab-size", "5000", "--output", str(out)]) == 0
    meta = json.loads((out / "tokenizer_meta.json").read_text())
    assert meta["requested_vocab_size"] == 5000 and meta["vocab_size"] < 300
    err = capsys.readouterr().err
    assert f"the vocabulary has {meta['vocab_size']} entries, not the 5000 asked for" in err


# --- determinism -----------------------------------------------------------------------------------------

def tie_corpus() -> list:
    """Every 3-letter word over 12 letters, each the same number of times: all pair counts tie at every step."""
    letters = "abcdefghijkl"
    words = [a + b + c for a in letters for b in letters for c in letters]
    rng = random.Random(0)
    docs = []
    for rep in range(4):
        shuffled = words[:]
        rng.shuffle(shuffled)
        docs += [" ".join(shuffled[i:i + 60]) for i in range(0, len(shuffled), 60)]
    return docs


TIE_TRAIN = ("import sys, json, hashlib; sys.path.insert(0, '.'); from tests.test_tokenizer import tie_corpus; "
             "from tokenizer.train import train_from_texts; t = train_from_texts(tie_corpus(){order}, 700); "
             "print(hashlib.sha256(t.to_str().encode()).hexdigest())")


def test_training_is_deterministic_under_ties_threads_and_feeding_order():
    """The HF trainer's maps are randomly seeded per process and merged in parallel; ties are broken by pair ids."""
    import hashlib

    docs = tie_corpus()
    ref = train_from_texts(docs, 700).to_str()
    assert json.loads(ref)["model"]["merges"][:1]  # it did merge
    assert train_from_texts(docs, 700).to_str() == ref
    assert train_from_texts(docs[::-1], 700).to_str() == ref  # feeding order does not matter (pass 2 streams)
    want = hashlib.sha256(ref.encode()).hexdigest()
    for threads, order in (("1", ""), ("2", "[::-1]"), ("4", "")):
        env = dict(os.environ, RAYON_NUM_THREADS=threads, PYTHONHASHSEED=threads)
        res = subprocess.run([sys.executable, "-c", TIE_TRAIN.format(order=order)], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, check=True)
        assert res.stdout.strip() == want, f"RAYON_NUM_THREADS={threads}"


# --- transformers and tiktoken ---------------------------------------------------------------------------

PLAIN = [t for t in ROUND_TRIP + PHRASES if "<|" not in t]


def test_loads_with_tokenizers_and_transformers(trained):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    out, meta = trained
    handle = load_tokenizer(str(out))
    raw = Tokenizer.from_file(str(out / "tokenizer.json"))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"), eos_token=EOT_TOKEN, pad_token=PAD_TOKEN)
    auto = AutoTokenizer.from_pretrained(str(out))
    assert auto.eos_token_id == fast.eos_token_id == handle.eot_id == meta["special_ids"][EOT_TOKEN]
    assert auto.pad_token_id == fast.pad_token_id == handle.pad_id == meta["special_ids"][PAD_TOKEN]
    for text in PLAIN:
        ids = handle.encode(text)
        assert raw.encode(text).ids == ids
        assert fast.encode(text) == auto.encode(text) == ids, repr(text)  # no bos/eos added
        assert auto.decode(ids) == fast.decode(ids) == text, repr(text)
    padded = auto(["a b", "a b c d e"], padding=True)["input_ids"]
    assert padded[0][-1] == handle.pad_id


def test_tiktoken_backend_gives_identical_ids(trained):
    out, _ = trained
    hf, tt = load_tokenizer(str(out)), load_tokenizer(str(out), backend="tiktoken")
    texts = ROUND_TRIP + PHRASES + WHITESPACE_CASES + [varied_text(random.Random(i), 80) for i in range(20)]
    expected = hf.encode_batch(texts)
    assert tt.encode_batch(texts) == expected
    assert [tt.encode(t) for t in texts] == [hf.encode(t) for t in texts]
    for handle in (tt, hf):  # the arrays the tokenize job packs: same ids, whatever the thread count
        for threads in (None, 1, 3):
            arrays = handle.encode_batch_arrays(texts, threads=threads)
            assert [a.dtype for a in arrays] == [np.uint32] * len(texts)
            assert [a.tolist() for a in arrays] == expected
    with pytest.raises(ValueError, match="split pattern"):
        load_tokenizer(str(out / "baseline"), backend="tiktoken")  # GPT-2 regex: not Winnow's encoder


@pytest.mark.slow
@pytest.mark.shared_data
def test_tiktoken_identical_on_real_prose_and_code(shared_data, tmp_path):
    import gzip

    texts = []
    for path in sorted((shared_data / "text" / "gutenberg").glob("pg*.txt"))[:3]:
        t = path.read_text(encoding="utf-8")
        texts += [t[i:i + 3000] for i in range(0, 300_000, 3000)]
    with gzip.open(shared_data / "code" / "linguist_samples_dev.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["encoding"] == "utf-8":
                texts.append(rec["content"][:3000])
            if len(texts) >= 600:
                break
    docs = tmp_path / "docs.parquet"
    write_docs(docs, [empty_document(f"d{i}", "mix", t) for i, t in enumerate(texts)])
    for split in ("winnow", "cl100k"):
        meta = train_tokenizer(str(docs), 2000, str(tmp_path / split), max_chars=2_000_000, split=split)
        assert meta["split"] == split and meta["split_pattern"] == {"winnow": WINNOW_SPLIT_PATTERN,
                                                                    "cl100k": CL100K_SPLIT_PATTERN}[split]
        hf, tt = load_tokenizer(str(tmp_path / split)), load_tokenizer(str(tmp_path / split), backend="tiktoken")
        assert tt.encode_batch(texts) == hf.encode_batch(texts)
        assert [a.tolist() for a in tt.encode_batch_arrays(texts, threads=1)] == hf.encode_batch(texts)


# --- evaluation against the baseline ---------------------------------------------------------------------

def test_whole_word_tokens():
    text = "the cat's 12 dogs"
    # spans: "the", " cat", "'s", " ", "12", " do", "gs"
    offsets = [(0, 3), (3, 7), (7, 9), (9, 10), (10, 12), (12, 15), (15, 17)]
    assert whole_word_tokens(text, offsets) == 2  # "the", " cat"; "s" after the apostrophe is a word, "'s" is not
    assert whole_word_tokens("día über", [(0, 3), (3, 8)]) == 2


def test_evaluate_against_the_baseline(trained, docs_dir, capsys):
    from tokenizer.evaluate import main

    out, _ = trained
    assert main(["--tokenizer", str(out), "--input", str(docs_dir)]) == 0  # DIR/baseline is picked up
    report = json.loads(capsys.readouterr().out)
    base = report["baseline"]
    assert base["tokenizer"]["sha256"] != report["tokenizer"]["sha256"]
    assert base["bytes"] == report["bytes"] and base["documents"] == report["documents"] == 150
    assert report["vs_baseline"]["bytes_per_token"] == pytest.approx(report["bytes_per_token"] / base["bytes_per_token"])
    assert set(report["vs_baseline"]["sources"]) == {"web", "code", "books"}
    for r in (report, base):
        assert 0 < r["whole_word_share"] < 1 and 0 < r["vocab_utilisation"] <= 1
        assert r["whole_word_tokens"] == sum(s["whole_word_tokens"] for s in r["sources"].values())
    assert main(["--tokenizer", str(out), "--input", str(docs_dir), "--no-baseline"]) == 0
    assert "baseline" not in json.loads(capsys.readouterr().out)


def test_a_run_without_baseline_removes_an_earlier_runs_baseline(word_corpus, tmp_path):
    # `tokenizer eval` compares with DIR/baseline by default: one trained on another run's sample misled it
    from tokenizer.train import BASELINE_DIR, train_tokenizer

    out = tmp_path / "tok"
    train_tokenizer(str(word_corpus / "documents"), vocab_size=300, output_dir=str(out), seed=0, baseline=True)
    assert (out / BASELINE_DIR / "tokenizer.json").is_file()
    meta = train_tokenizer(str(word_corpus / "documents"), vocab_size=300, output_dir=str(out), seed=1)
    assert "baseline" not in meta and not (out / BASELINE_DIR).exists()
    with pytest.raises(ValueError, match=r"--source-weight names nosuch, which no document has: the documents' "
                                         r"sources are books, web"):
        train_tokenizer(str(word_corpus / "documents"), vocab_size=300, output_dir=str(tmp_path / "t2"),
                        source_weights={"nosuch": 1.0})


def test_training_progress_counts_every_document_read_and_every_text_fed(docs_dir, tmp_path):
    """Pass 1 counts every document (the sample plan reads them all), pass 2 every sampled text handed to the
    trainer, once per tokenizer trained; the tokenizer is the one trained without a reporter. On a terminal the
    line ends after pass 1 (HF tokenizers' own bars show the training)."""
    plain = train_tokenizer(str(docs_dir), vocab_size=500, output_dir=str(tmp_path / "plain"), seed=3,
                            max_chars=20_000, baseline=True)
    log = io.StringIO()
    with Progress("tokenizer train", ("read", "fed"), unit="docs", stream=log, tty=False, log_interval=0.0) as p:
        meta = train_tokenizer(str(docs_dir), vocab_size=500, output_dir=str(tmp_path / "logged"), seed=3,
                               max_chars=20_000, baseline=True, progress=p)
    assert meta["sha256"] == plain["sha256"] and meta["baseline"]["sha256"] == plain["baseline"]["sha256"]
    sampled = meta["sample"]["documents"]
    assert 0 < sampled < 150 and meta["sample"]["documents_seen"] == 150
    assert p.counts == {"read": 150, "fed": 2 * sampled}
    lines = log.getvalue().splitlines()
    assert lines[-1].startswith(f"[tokenizer train] read 150, fed {2 * sampled};") and lines[-1].endswith("(done)")

    term = io.StringIO()
    with Progress("tokenizer train", ("read", "fed"), unit="docs", stream=term, tty=True, tty_interval=0.0) as p:
        meta = train_tokenizer(str(docs_dir), vocab_size=500, output_dir=str(tmp_path / "term"), seed=3,
                               max_chars=20_000, progress=p)
        assert p.closed and p.counts == {"read": 150, "fed": 0}
    assert meta["sha256"] == plain["sha256"]
    last = term.getvalue().split("\r")[-1]
    assert last.startswith("[tokenizer train] read 150, fed 0;") and last.endswith("\x1b[K\n")
