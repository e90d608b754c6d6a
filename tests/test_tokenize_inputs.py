"""What `winnow tokenize` and `winnow tokenizer train` make of document fields of the wrong type: a `source` that
is not a string is written with `str`, as curate writes an id of another type (both commands crashed after
the whole job, in the manifest's sort or in a set of sources); a Parquet `text` column that is not strings
stops tokenize before a row is read, with the line tokenizer train already gave (it crashed in the encoder)."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import cli
from pipelines.jobs.tokenize import run_tokenize_job
from schemas import MANIFEST_NAME, Manifest
from tokenizer.train import train_tokenizer

SEQ_LEN = 64
# curate reads every one of these lines (it ignores `source`); null and "" are the file's name, as before
SOURCES = ["web", 7, ["web"], True, {"a": 1}, 0, None, ""]


def write_jsonl(path, sources):
    words = "the cat sat on a mat while seven dogs ran past it in the rain".split()
    with open(path, "w", encoding="utf-8") as f:
        for i, source in enumerate(sources):
            f.write(json.dumps({"id": f"d{i}", "source": source, "text": " ".join(words[i:] + words[:i])}) + "\n")


def test_tokenize_writes_non_string_sources_as_strings(word_corpus, tmp_path):
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, SOURCES)
    result = run_tokenize_job(str(src), str(word_corpus / "tok"), str(tmp_path / "out"), SEQ_LEN)
    manifest = result.manifest
    assert {k: v.documents for k, v in manifest.sources.items()} == {
        "web": 1, "7": 1, "['web']": 1, "True": 1, "{'a': 1}": 1, "0": 1, "docs": 2}
    assert manifest.totals.documents == len(SOURCES) and not result.counters.get("errors")

    table = tmp_path / "ints" / "part-0.parquet"  # an integer `source` column of a Parquet input: the same
    table.parent.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "source": [3, 3], "text": ["one document", "another one"]}), table)
    manifest = run_tokenize_job(str(table), str(word_corpus / "tok"), str(tmp_path / "out2"), SEQ_LEN).manifest
    assert {k: v.documents for k, v in manifest.sources.items()} == {"3": 2}


def test_tokenizer_train_samples_non_string_sources_as_strings(tmp_path):
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, SOURCES)
    out = tmp_path / "tok"
    train_tokenizer(str(src), vocab_size=300, output_dir=str(out), source_weights={"7": 1, "*": 1})
    meta = json.loads((out / "tokenizer_meta.json").read_text())
    assert set(meta["sample"]["sources"]) == {"web", "7", "['web']", "True", "{'a': 1}", "0", "docs"}


def test_tokenize_refuses_a_parquet_text_column_that_is_not_strings(word_corpus, tmp_path, capsys):
    bad = tmp_path / "int_text.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": [1, 2]}), bad)
    out = tmp_path / "out"
    assert cli.main(["tokenize", "--input", str(bad), "--tokenizer", str(word_corpus / "tok"),
                     "--seq-len", str(SEQ_LEN), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "int_text.parquet: column 'text' holds int64, not strings" in err and "Traceback" not in err
    assert not (out / MANIFEST_NAME).exists()
    # the line tokenizer train gives for the same file: one check, in schemas.io
    assert cli.main(["tokenizer", "train", "--input", str(bad), "--vocab-size", "300",
                     "--output", str(tmp_path / "tok")]) == 1
    assert "int_text.parquet: column 'text' holds int64, not strings" in capsys.readouterr().err


def test_a_string_source_and_a_missing_one_are_unchanged(word_corpus, tmp_path):
    src = tmp_path / "plain.jsonl"
    write_jsonl(src, ["web", "books", None])
    run_tokenize_job(str(src), str(word_corpus / "tok"), str(tmp_path / "out"), SEQ_LEN)
    manifest = Manifest.load(str(tmp_path / "out" / MANIFEST_NAME))
    assert sorted(manifest.sources) == ["books", "plain", "web"]


def test_tokenize_reads_a_bom_and_says_when_a_compressed_file_is_cut(word_corpus, tmp_path):
    """tokenize reads JSONL as curate does: a byte-order mark costs no document, and a .zst cut short keeps its
    whole lines and ends with one error row (zstandard's reader stopped quietly: the file read as 0 lines)."""
    import zstandard

    lines = [json.dumps({"id": f"d{i}", "text": f"the cat sat on mat {i} " * 20}) for i in range(3000)]
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines[:3]).encode() + b"\n")
    result = run_tokenize_job(str(bom), str(word_corpus / "tok"), str(tmp_path / "out-bom"), SEQ_LEN)
    assert result.manifest.totals.documents == 3 and not result.counters.get("errors")

    packed = zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode())
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(packed[:len(packed) // 2])
    out = tmp_path / "out-cut"
    result = run_tokenize_job(str(cut), str(word_corpus / "tok"), str(out), SEQ_LEN)
    assert 0 < result.manifest.totals.documents < 3000 and result.counters.get("errors") == 1
    [row] = [r for f in sorted(out.glob("errors/*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert "cut short" in row["error"] and row["input_path"] == str(cut)


def test_tokenize_counts_what_did_not_reach_the_shards_in_report_json(word_corpus, tmp_path):
    # empty documents were only printed (`counters {... 'dropped_empty': 2}`): nothing in the output said that 5
    # documents went in and 1 came out; report.json now balances in = kept + dropped + errors, as curate's does
    src = tmp_path / "docs.jsonl"
    src.write_text('{"id": "a", "text": "the cat sat on a mat"}\n{"id": "b", "text": "   "}\nnot json\n'
                   '{"id": "c", "text": ""}\n{"id": "d"}\n')
    out = tmp_path / "out"
    run_tokenize_job(str(src), str(word_corpus / "tok"), str(out), SEQ_LEN)
    report = json.loads((out / "report.json").read_text())
    [stage] = report["stages"]
    assert (stage["name"], stage["in"], stage["kept"], stage["dropped"], stage["errors"]) == (
        "tokenize", 5, 1, {"empty": 2}, 2)
    error_rows = pq.read_table(out / "errors").num_rows
    assert report["outputs"] == {"documents": 1, "errors": error_rows}
    assert Manifest.from_json(json.loads((out / MANIFEST_NAME).read_text())).totals.documents == 1
    assert report["inputs"] == [str(src)] and report["recipe"]["seq_len"] == SEQ_LEN

    src.write_text('{"id": "a", "text": "the cat sat on a mat"}\n')  # a clean re-run replaces it
    run_tokenize_job(str(src), str(word_corpus / "tok"), str(out), SEQ_LEN)
    [stage] = json.loads((out / "report.json").read_text())["stages"]
    assert (stage["in"], stage["kept"], stage["dropped"], stage["errors"]) == (1, 1, {}, 0)
    assert not (out / "errors").exists()


def test_tokenize_counts_documents_kept_with_replaced_bytes_as_curate_does(word_corpus, tmp_path):
    # a Latin-1 byte and a lone surrogate escape become U+FFFD (as in curate); the report now says how many
    src = tmp_path / "latin1.jsonl"
    src.write_bytes(b'{"id": "l", "text": "caf\xe9 au lait"}\n{"id": "s", "text": "a \\ud800 b"}\n'
                    b'{"id": "e", "text": "pair \\ud83d\\ude00 and \xef\xbf\xbd written"}\n')
    out = tmp_path / "out"
    run_tokenize_job(str(src), str(word_corpus / "tok"), str(out), SEQ_LEN)
    [stage] = json.loads((out / "report.json").read_text())["stages"]
    assert (stage["in"], stage["kept"], stage.get("warnings")) == (3, 3, {"replaced_invalid_utf8": 2})


def test_no_report_when_the_runner_gives_no_metrics(word_corpus, tmp_path, monkeypatch):
    # a runner that reports no metrics would have made a report saying 0 documents went in, beside shards of 1
    import pipelines.jobs.tokenize as job

    def no_metrics(result):
        raise NotImplementedError("this runner reports no metrics")

    monkeypatch.setattr(job, "counters_by_stage", no_metrics)
    src = tmp_path / "docs.jsonl"
    src.write_text('{"id": "a", "text": "the cat sat on a mat"}\n')
    out = tmp_path / "out"
    assert run_tokenize_job(str(src), str(word_corpus / "tok"), str(out), SEQ_LEN).manifest.totals.documents == 1
    assert not (out / "report.json").exists()
