"""Hostile inputs of `winnow tokenize` found by an audit of the tokenize path (the cases already covered live in
test_hostile_inputs.py, test_tokenize_inputs.py and test_jsonl_inputs.py): a damaged compressed JSONL file
failed the whole job (a zlib traceback, or a ZstdError line) instead of one error row; a tokenizer.json whose
ids run past its number of entries had its ids wrapped into uint16 without a word; one whose vocabulary gives
two tokens one id made tiktoken panic past every `except` under `--encoder auto`; a gzip bomb of newlines (a
billion blank lines) read one Python yield per line, a 20-minute hang."""
from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pyarrow.parquet as pq
import zstandard

from pipelines import cli
from pipelines.ingest.readers import iter_bounded_lines, open_jsonl
from pipelines.jobs.tokenize import run_tokenize_job
from schemas import MANIFEST_NAME
from tokenizer.encode import TokenizerHandle, tiktoken_encoding, tokenizer_handle

SEQ_LEN = 64


def _lines(prefix: str, count: int) -> bytes:
    return b"".join(json.dumps({"id": f"{prefix}{i}", "text": f"the cat sat on the mat {i}"}).encode() + b"\n"
                    for i in range(count))


def _error_rows(out):
    return [r for f in sorted(out.glob("errors/*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_damaged_compressed_files_are_one_error_row_each_and_the_job_goes_on(word_corpus, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.jsonl").write_bytes(_lines("g", 20))
    flipped = bytearray(gzip.compress(_lines("f", 200)))
    flipped[40] ^= 0xFF  # a flipped bit inside the deflate data
    (inputs / "flipped.jsonl.gz").write_bytes(bytes(flipped))
    (inputs / "not-gzip.jsonl.gz").write_bytes(_lines("n", 3))  # named .gz, plain text
    (inputs / "garbage.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_lines("z", 3)) + b"GARBAGE!" * 4)
    out = tmp_path / "out"
    result = run_tokenize_job(str(inputs / "*"), str(word_corpus / "tok"), str(out), SEQ_LEN)
    # before: the job failed (zlib.error: Error -3 while decompressing data / ZstdError) and wrote nothing
    assert result.counters["errors"] == 3
    assert result.counters["in"] == result.counters["kept"] + result.counters["errors"]
    assert result.manifest.totals.documents == result.counters["kept"] >= 20
    rows = _error_rows(out)
    assert sorted(r["input_path"].rsplit("/", 1)[1] for r in rows) == [
        "flipped.jsonl.gz", "garbage.jsonl.zst", "not-gzip.jsonl.gz"]
    assert all(("Error -3 while decompressing" in r["error"] or "ZstdError" in r["error"]) and r["stage"] == "tokenize"
               for r in rows)


def test_damaged_gzip_via_cli_is_exit_0_with_the_error_row(word_corpus, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(_lines("n", 2))
    out = tmp_path / "out"
    assert cli.main(["tokenize", "--input", str(bad), "--tokenizer", str(word_corpus / "tok"), "--seq-len",
                     str(SEQ_LEN), "--output", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err  # before: exit 1 with zlib's traceback
    assert (out / MANIFEST_NAME).exists() and len(_error_rows(out)) == 1


def _tokenizer_json(word_corpus) -> dict:
    return json.loads((word_corpus / "tok" / "tokenizer.json").read_text(encoding="utf-8"))


def test_ids_past_the_number_of_entries_are_written_whole_and_verify_accepts_them(word_corpus, tmp_path):
    spec = _tokenizer_json(word_corpus)
    text = "the cat sat on the mat " * 30
    base = TokenizerHandle(json.dumps(spec).encode(), backend="hf")
    used = int(max(base.encode(text)))  # a merged token the text uses
    token = base.id_to_token(used)
    spec["model"]["vocab"][token] = 70000  # an id past the vocabulary's 300 entries (a gap before it)
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    (tok_dir / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    handle = TokenizerHandle((tok_dir / "tokenizer.json").read_bytes(), backend="hf")
    assert handle.vocab_size == 70001  # before: 300, so uint16 shards and a manifest its ids exceed
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": text}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    manifest = run_tokenize_job(str(docs), str(tok_dir), str(out), SEQ_LEN, encoder="hf").manifest
    assert manifest.dtype == "uint32" and manifest.tokenizer.vocab_size == 70001
    tokens = np.concatenate([np.asarray(r, dtype=np.int64) for f in sorted(out.glob("shard-*.parquet"))
                             for r in pq.read_table(f).column("tokens").to_pylist()])
    assert 70000 in tokens and (70000 & 0xFFFF) not in tokens  # before: 70000 written as 4464
    assert cli.main(["verify", str(out), "--tokenizer", str(tok_dir)]) == 0


def test_two_tokens_with_one_id_fall_back_to_hf_instead_of_a_tiktoken_panic(word_corpus, tmp_path):
    spec = _tokenizer_json(word_corpus)
    spec["model"]["vocab"]["shared"] = 5  # another token's id
    data = json.dumps(spec).encode()
    try:
        tiktoken_encoding(spec)
    except ValueError as exc:
        assert "one token per id" in str(exc)
    else:
        raise AssertionError("tiktoken_encoding accepted two tokens with one id")
    # before: pyo3_runtime.PanicException (a BaseException) out of `auto`, a traceback for the user
    assert tokenizer_handle(data, "auto").backend == "hf"


def test_a_vocabulary_outside_the_byte_alphabet_is_refused_by_tiktoken_with_a_value_error(word_corpus):
    spec = _tokenizer_json(word_corpus)
    spec["model"]["vocab"]["\u4e2d"] = len(spec["model"]["vocab"]) + 10
    try:
        tiktoken_encoding(spec)
    except ValueError as exc:  # before: KeyError, past `auto`'s fallback
        assert "byte-level" in str(exc)
    else:
        raise AssertionError("tiktoken_encoding accepted a token outside the byte-level alphabet")


def test_blank_lines_are_skipped_in_runs_with_their_offsets_kept():
    data = b'{"a":1}\n' + b"\n" * 5000 + b"  \t\r\n" * 300 + b' {"b":2}\n\n' + b"   " + b'{"c":3}'
    got = [(o, r) for o, r, _, _ in iter_bounded_lines(io.BytesIO(data), chunk_bytes=4096, skip_blank=True)]
    assert [r for _, r in got if r.strip()] == [b'{"a":1}', b' {"b":2}', b'   {"c":3}']
    assert all(data[o:o + len(r)] == r for o, r in got)
    assert len(got) < 10  # not one yield per blank line
    # ranges: every non-blank line once, in the range it starts in
    cuts = [0, 3000, 6100, 6900, len(data)]
    ranged = [r for a, b in zip(cuts, cuts[1:])
              for _, r, _, _ in iter_bounded_lines(io.BytesIO(data), a, b, chunk_bytes=512, skip_blank=True)
              if r.strip()]
    assert ranged == [b'{"a":1}', b' {"b":2}', b'   {"c":3}']


def test_a_gzip_bomb_of_newlines_is_read_a_run_at_a_time_not_a_line_at_a_time(word_corpus, tmp_path):
    bomb = tmp_path / "bomb.jsonl.gz"
    body = _lines("a", 1) + b"\n" * (128 << 20) + _lines("b", 1)  # 128 Mi blank lines from ~130 KB
    bomb.write_bytes(gzip.compress(body, compresslevel=6))
    with open_jsonl(str(bomb)) as fh:  # what tokenize's reader iterates
        yielded = sum(1 for _ in iter_bounded_lines(fh, skip_blank=True))
    assert yielded < 1000, yielded  # before: a yield (~1 us of Python) for each of the 128 Mi lines, minutes
    result = run_tokenize_job(str(bomb), str(word_corpus / "tok"), str(tmp_path / "out"), SEQ_LEN, doc_ids=True)
    assert result.manifest.totals.documents == 2 and not result.counters.get("errors")


def test_dictionary_and_string_view_text_columns_are_read_as_curate_reads_them(word_corpus, tmp_path):
    """pandas' categoricals and Spark's/DuckDB's dictionary pages give a dictionary<string> `text` column, newer
    writers string_view: curate read both, tokenize refused the file ("holds dictionary<...>, not strings")."""
    import pyarrow as pa

    texts = ["the cat sat on the mat", "the dog sat on the log", "the cat sat on the mat"]
    columns = {"dict": pa.array(texts).dictionary_encode(), "nulls": pa.nulls(3)}
    if hasattr(pa, "string_view"):
        columns["view"] = pa.array(texts, type=pa.string_view())
    for name, column in columns.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"id": [f"{name}{i}" for i in range(3)], "text": column}), path)
        result = run_tokenize_job(str(path), str(word_corpus / "tok"), str(tmp_path / f"out-{name}"), SEQ_LEN)
        read = 0 if name == "nulls" else 3
        assert result.manifest.totals.documents == read, name
        assert result.counters["in"] == 3 and result.counters.get("dropped_empty", 0) == 3 - read, result.counters


def test_jsonl_ids_are_taken_as_curate_takes_them(word_corpus, tmp_path):
    """A string or an integer id is the document's; a boolean, a fraction, a list or an object is an error row,
    as in curate (pipelines/ingest/readers.py `input_id`): tokenize wrote `True`, `1.0` and `['x']` as ids."""
    lines = [{"id": 7, "text": "the cat"}, {"id": "s", "text": "the dog"}, {"id": None, "text": "no id given"},
             {"id": 1.5, "text": "a"}, {"id": True, "text": "b"}, {"id": ["x"], "text": "c"}, {"id": {"k": 1}, "text": "d"}]
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    result = run_tokenize_job(str(path), str(word_corpus / "tok"), str(out), SEQ_LEN, doc_ids=True)
    assert result.counters["in"] == 7 and result.counters["kept"] == 3 and result.counters["errors"] == 4
    ids = {i for f in out.glob("*.parquet") for row in pq.read_table(f).column("doc_ids").to_pylist() for i in row}
    assert {"7", "s"} <= ids and len(ids) == 3  # the third made from the text
    assert sorted(r["error"].split(" is a JSON ")[1].split(" ")[0] for r in _error_rows(out)) == [
        "array", "boolean", "number", "object"]
