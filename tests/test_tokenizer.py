"""Tokenizer training, encoding and evaluation: round trips, digit splitting, determinism, sampling."""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import DOCUMENTS_SCHEMA, empty_document
from tokenizer.encode import load_tokenizer
from tokenizer.evaluate import evaluate_tokenizer
from tokenizer.train import (
    EOT_TOKEN, FIM_TOKENS, GPT4_SPLIT_PATTERN, PAD_TOKEN, build_tokenizer, iter_documents, sample_documents,
    train_tokenizer,
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
    meta = train_tokenizer(str(docs_dir), vocab_size=600, output_dir=str(out), seed=1)
    return out, meta


def test_split_pattern_caps_digit_runs_at_three():
    assert not re.search(r"\{\d+(,\d*)?\}\+|[+*?]\+", GPT4_SPLIT_PATTERN)  # no possessive quantifiers
    pre = build_tokenizer().pre_tokenizer
    pieces = [p for p, _ in pre.pre_tokenize_str("1234567")]
    assert pieces == ["123", "456", "7"]
    pieces = [p for p, _ in pre.pre_tokenize_str("year 20245 x")]
    assert "202" in pieces and "45" in pieces and all(len(p) <= 3 for p in pieces if p.isdigit())


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
    assert meta["split_pattern"] == GPT4_SPLIT_PATTERN
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
    from tokenizer.evaluate import main

    assert main(["--tokenizer", str(out), "--input", str(jsonl)]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == report["tokens"]


def test_tokenizer_package_never_imports_beam():
    code = ("import sys, tokenizer.train, tokenizer.encode, tokenizer.pack, tokenizer.evaluate; "
            "sys.exit('apache_beam' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT).returncode == 0
