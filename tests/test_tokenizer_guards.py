"""Tokenizer guards: tiktoken gives HF's ids or is not used, the training sample is the multiset's, bad sampling
options are refused in one line that says what to give, and GPT-2-style files get true advice."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from pipelines.jobs.tokenize import run_tokenize_job
from schemas.io import iter_documents
from tokenizer.encode import TokenizerHandle, tiktoken_unsupported, tokenizer_handle
from tokenizer.evaluate import evaluate_tokenizer
from tokenizer.train import parse_source_weights, plan_sample, source_budgets, train_tokenizer

SEQ_LEN = 64
LONG_RUNS = ["start" + " " * 1_100_000 + "end", "table\n" + "-" * 1_100_000 + "\nend"]  # tiktoken's regex gives up


def write_jsonl(path: Path, docs) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def snapshot(out: Path):
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def word_docs(word_corpus: Path):
    return list(iter_documents(str(word_corpus / "documents")))


def cli(capsys, *args):
    from pipelines.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


# 1. tiktoken's backtracking limit -----------------------------------------------------------------------

def test_tiktoken_encodes_long_runs_of_spaces_and_dashes_as_hf_does(word_corpus, tmp_path):
    pytest.importorskip("tiktoken")
    data = (word_corpus / "tok" / "tokenizer.json").read_bytes()
    tik, hf = TokenizerHandle(data, backend="tiktoken"), TokenizerHandle(data, backend="hf")
    texts = ["a few words"] + LONG_RUNS + ["the end"]
    expected = hf.encode_batch(texts)
    for threads in (1, 2):
        assert [list(a) for a in tik.encode_batch_arrays(texts, threads=threads)] == expected
        assert tik.encode_batch(texts, threads=threads) == expected
    assert tik.encode(LONG_RUNS[0]) == expected[1]

    docs = [{"id": f"w{i}", "source": "web", "text": d["text"]} for i, d in enumerate(word_docs(word_corpus)[:20])]
    docs += [{"id": f"long{i}", "source": "web", "text": t} for i, t in enumerate(LONG_RUNS)]
    src = write_jsonl(tmp_path / "docs.jsonl", docs)
    tok_dir = word_corpus / "tok"
    run_tokenize_job(str(src), str(tok_dir), str(tmp_path / "tiktoken"), SEQ_LEN, doc_ids=True, encoder="tiktoken")
    run_tokenize_job(str(src), str(tok_dir), str(tmp_path / "hf"), SEQ_LEN, doc_ids=True, encoder="hf")
    assert not (tmp_path / "tiktoken" / "errors").exists()  # no document became an error row
    assert snapshot(tmp_path / "tiktoken") == snapshot(tmp_path / "hf")


# 2. auto picks tiktoken only where it gives HF's ids ----------------------------------------------------

@pytest.mark.parametrize("part,value,why", [
    ("normalizer", {"type": "Lowercase"}, "normalizer"),
    ("normalizer", {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}, "normalizer"),
    ("post_processor", {"type": "BertProcessing", "sep": ["<|endoftext|>", 0], "cls": ["<|pad|>", 1]},
     "post_processor"),
])
def test_auto_uses_hf_for_what_tiktoken_cannot_reproduce(word_corpus, tmp_path, part, value, why):
    pytest.importorskip("tiktoken")
    spec = json.loads((word_corpus / "tok" / "tokenizer.json").read_text())
    spec[part] = value
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    (tok_dir / "tokenizer.json").write_text(json.dumps(spec))
    data = (tok_dir / "tokenizer.json").read_bytes()
    auto = tokenizer_handle(data, "auto")
    assert auto.backend == "hf"
    text = "THE Of And To In A IS That"
    assert auto.encode(text) == TokenizerHandle(data, backend="hf").encode(text)

    with pytest.raises(ValueError) as err:  # an explicit --encoder tiktoken: refused in one line saying why
        run_tokenize_job(str(word_corpus / "documents"), str(tok_dir), str(tmp_path / "out"), SEQ_LEN,
                         encoder="tiktoken")
    assert why in str(err.value) and "\n" not in str(err.value) and "--encoder hf" in str(err.value)

    docs = [{"id": f"u{i}", "source": "web", "text": d["text"].upper()} for i, d in enumerate(word_docs(word_corpus))]
    src = write_jsonl(tmp_path / "upper.jsonl", docs)
    run_tokenize_job(str(src), str(tok_dir), str(tmp_path / "auto"), SEQ_LEN, doc_ids=True)
    run_tokenize_job(str(src), str(tok_dir), str(tmp_path / "hf"), SEQ_LEN, doc_ids=True, encoder="hf")
    assert snapshot(tmp_path / "auto") == snapshot(tmp_path / "hf")


def test_added_tokens_that_are_not_special_are_matched_as_hf_matches_them(word_corpus, tmp_path):
    """Vocabulary added to a tokenizer (`add_tokens`, special False) is matched in the text as HF matches it; the
    encoder dropped every added token and split these into BPE pieces (other ids than HF's). Special tokens in
    a document's text stay text, and auto leaves tiktoken (which cannot match added tokens) for HF."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(word_corpus / "tok" / "tokenizer.json"))
    base = tok.get_vocab_size()
    tok.add_tokens(["qzmarkerzq", "<fn_call>"])
    data = tok.to_str().encode()
    text = "the harbour qzmarkerzq kept <fn_call> its light <|endoftext|> too"
    handle = tokenizer_handle(data, "auto")
    assert handle.backend == "hf"
    ids = handle.encode(text)
    assert base in ids and base + 1 in ids
    expected = Tokenizer.from_str(data.decode())
    eot = expected.token_to_id("<|endoftext|>")
    assert eot not in ids  # the special token in the text is text
    plain = text.replace(" <|endoftext|>", "")
    assert handle.encode(plain) == expected.encode(plain, add_special_tokens=False).ids
    assert "not special" in (tiktoken_unsupported(json.loads(data)) or "")


# 3. the sample of rows that share ids -------------------------------------------------------------------

def test_repeated_ids_give_the_same_sample_in_any_order_and_exact_statistics(tmp_path):
    rng = random.Random(3)
    words = "the of and to in a is that it was for on are with as his they be at one".split()
    docs = [{"id": str(i), "source": "x", "text": " ".join(rng.choice(words) for _ in range(rng.randint(20, 400)))}
            for _ in range(2) for i in range(300)]  # two blocks both numbering 0..299
    fwd = write_jsonl(tmp_path / "fwd.jsonl", docs)
    rev = write_jsonl(tmp_path / "rev.jsonl", docs[::-1])
    for max_chars in range(20_000, 200_000, 7_919):
        plan_f, stats_f = plan_sample(iter_documents(str(fwd)), max_chars=max_chars)
        plan_r, stats_r = plan_sample(iter_documents(str(rev)), max_chars=max_chars)
        texts_f = sorted(plan_f.texts(iter_documents(str(fwd))))
        texts_r = sorted(plan_r.texts(iter_documents(str(rev))))
        assert texts_f == texts_r and stats_f.to_json() == stats_r.to_json(), max_chars
        assert sum(map(len, texts_f)) == stats_f.chars and len(texts_f) == stats_f.documents, max_chars
    meta_f = train_tokenizer(str(fwd), 400, str(tmp_path / "tok_fwd"), max_chars=60_000)
    meta_r = train_tokenizer(str(rev), 400, str(tmp_path / "tok_rev"), max_chars=60_000)
    assert meta_f["sha256"] == meta_r["sha256"] and meta_f["sample"] == meta_r["sample"]


# 4. weights that make the shares NaN ----------------------------------------------------------------------

@pytest.mark.parametrize("bad", [["en=inf"], ["en=nan"], ["en=1", "*=-inf"], ["a=1e308", "b=1e308"]])
def test_non_finite_source_weights_are_refused_naming_the_option(bad, word_corpus, tmp_path, capsys):
    with pytest.raises(ValueError, match="--source-weight"):
        parse_source_weights(bad)
    args = [a for w in bad for a in ("--source-weight", w)]
    code, err = cli(capsys, "tokenizer", "train", "--input", str(word_corpus / "documents"), "--vocab-size", "300",
                    "--output", str(tmp_path / "tok"), *args)
    assert code == 1 and "--source-weight" in err and "NaN" not in err, err


def test_a_huge_finite_weight_shares_the_budget():
    assert source_budgets(1000, parse_source_weights(["web=1e308"])) == {"web": 1000}
    assert source_budgets(1000, parse_source_weights(["web=1e308", "code=1e307"]))["web"] == 909


# 5. a budget smaller than every document ----------------------------------------------------------------

@pytest.mark.parametrize("weights", [None, {"web": 1.0, "books": 3.0}])
def test_max_chars_below_every_document_says_what_to_give(word_corpus, tmp_path, weights):
    docs = str(word_corpus / "documents")
    with pytest.raises(ValueError) as err:
        train_tokenizer(docs, 300, str(tmp_path / "a"), max_chars=5, source_weights=weights)
    message = str(err.value)
    assert "is smaller than every sampled document" in message and "non-empty" not in message, message
    assert "no document has" not in message
    fixed = re.search(r"give --max-chars ([\d,]+) or more, or --max-doc-chars ([\d,]+) or less", message)
    assert fixed, message
    more, less = (int(g.replace(",", "")) for g in fixed.groups())
    # each advice given is true: it samples something
    assert train_tokenizer(docs, 300, str(tmp_path / "b"), max_chars=more, source_weights=weights)["sample"]["documents"]
    assert train_tokenizer(docs, 300, str(tmp_path / "c"), max_chars=5, max_doc_chars=less,
                           source_weights=weights)["sample"]["documents"]


# 6. GPT-2-style tokenizer.json (only <|endoftext|>) -------------------------------------------------------

def gpt2_style(texts, path: Path, specials=("<|endoftext|>",)) -> Path:
    """As GPT-2's own file: ByteLevel BPE, GPT-2's regex, the special tokens appended after training."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens(list(specials))
    tok.save(str(path))
    return path


def test_a_gpt2_style_tokenizer_gets_advice_that_works(word_corpus, tmp_path):
    from tokenizers import Tokenizer

    texts = [d["text"] for d in word_docs(word_corpus)]
    gpt2 = gpt2_style(texts, tmp_path / "gpt2like.json")
    for encoder in ("auto", "hf"):
        with pytest.raises(ValueError) as err:
            run_tokenize_job(str(word_corpus / "documents"), str(gpt2), str(tmp_path / f"out-{encoder}"), SEQ_LEN,
                             encoder=encoder)
        message = str(err.value)
        assert str(gpt2) in message and "'<|pad|>'" in message and "`winnow tokenizer train`" in message, message
        assert "use --encoder hf" not in message and message.count("winnow tokenizer train") == 1 and "\n" not in message, message
    # the advice: add the special token, and tokenize works
    tok = Tokenizer.from_file(str(gpt2))
    tok.add_special_tokens(["<|pad|>"])
    tok.save(str(tmp_path / "gpt2pad.json"))
    result = run_tokenize_job(str(word_corpus / "documents"), str(tmp_path / "gpt2pad.json"), str(tmp_path / "out"),
                              SEQ_LEN)
    assert result.manifest.totals.documents == len(texts)


def test_eval_takes_a_gpt2_style_baseline_without_pad(word_corpus, tmp_path, capsys):
    texts = [d["text"] for d in word_docs(word_corpus)]
    gpt2 = gpt2_style(texts, tmp_path / "gpt2like.json")
    report = evaluate_tokenizer(str(word_corpus / "tok"), str(word_corpus / "documents"), baseline_path=str(gpt2))
    assert report["baseline"]["documents"] == report["documents"] == len(texts)
    assert report["baseline"]["tokenizer"]["vocab_size"] > 256
    code, err = cli(capsys, "tokenizer", "eval", "--tokenizer", str(gpt2), "--input", str(word_corpus / "documents"),
                    "--no-baseline")
    assert code == 0, err
