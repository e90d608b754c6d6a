"""The tokenize Beam job end to end, and `winnow verify` on its output (and on damaged copies of it)."""
from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.jobs.tokenize import main as tokenize_main
from pipelines.jobs.tokenize import run_tokenize_job
from pipelines.tools.verify import VerifyError, main as verify_main, verify_shards
from schemas import DOC_IDS, DOC_LENGTHS, DOCUMENTS_SCHEMA, MANIFEST_NAME, TOKENS, Manifest, empty_document
from tokenizer.encode import load_tokenizer
from tokenizer.pack import split_long, unpack_segments
from tokenizer.train import train_tokenizer

SEQ_LEN = 64
ROW_LEN = SEQ_LEN + 1
WORDS = ("the of and to in a is that it was for on are with as his they be at one have this from or had by "
         "ein der die und zu den mit nicht von sie ist des sich dem le la les de des et en un une est pour "
         "numbers 1234567 3.14 2024-05-17 def return self if else for while x = y + 1 {} () [] ; : "
         "日本語 中文 한국어 русский ελληνικά 😀 🎉 \t \n").split(" ")


def make_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(11)
    root = tmp_path_factory.mktemp("corpus")
    docs = []
    for i in range(90):
        n = int(rng.lognormvariate(3.0, 0.9)) + 1
        docs.append(empty_document(f"doc-{i:03d}", ["web", "code", "books"][i % 3], make_text(rng, n)))
    docs.append(empty_document("long", "books", make_text(rng, 600)))  # several rows long: split, not cut
    docs.append(empty_document("special", "web", "a document that mentions <|endoftext|> and <|pad|> in its text"))
    docs.append(empty_document("empty", "web", ""))
    (root / "documents").mkdir()
    for part, chunk in enumerate((docs[:50], docs[50:])):
        pq.write_table(pa.Table.from_pylist(chunk, schema=DOCUMENTS_SCHEMA),
                       root / "documents" / f"part-{part:05d}.parquet", compression="zstd")
    tok_dir = root / "tokenizer"
    train_tokenizer(str(root), vocab_size=500, output_dir=str(tok_dir), seed=0)
    return root, tok_dir, docs


@pytest.fixture(scope="module")
def best_fit_run(corpus, tmp_path_factory):
    root, tok_dir, _ = corpus
    out = tmp_path_factory.mktemp("shards")
    result = run_tokenize_job(str(root), str(tok_dir), str(out), SEQ_LEN, rows_per_shard=12, doc_ids=True)
    return out, result


def read_rows(out: Path, manifest: Manifest):
    rows = []
    for shard in manifest.shards:
        path = out / shard.path
        if manifest.file_format == "arrow":
            table = pa.ipc.open_file(pa.OSFile(str(path))).read_all()
        else:
            table = pq.read_table(path)
        for row in table.to_pylist():
            rows.append(row)
    return rows


def expected_pieces(corpus):
    _, tok_dir, docs = corpus
    tok = load_tokenizer(str(tok_dir))
    return tok, {d["id"]: tok.encode(d["text"]) + [tok.eot_id] for d in docs if d["text"]}


def test_manifest_fields_and_counters(best_fit_run, corpus):
    out, result = best_fit_run
    m = result.manifest
    tok, encoded = expected_pieces(corpus)
    assert result.counters["in"] == 93 and result.counters["kept"] == 92
    assert result.counters["dropped_empty"] == 1 and result.counters.get("errors", 0) == 0
    assert m.format == "winnow.tokens/1" and m.seq_len == SEQ_LEN and m.dtype == "uint16"
    assert m.tokenizer.sha256 == tok.sha256 and m.tokenizer.vocab_size == 500
    assert m.tokenizer.special_ids == {"<|endoftext|>": tok.eot_id, "<|pad|>": tok.pad_id}
    assert m.packing.method == "best-fit" and m.with_doc_ids and m.file_format == "parquet"
    assert m.totals.documents == 92
    assert m.totals.non_pad_tokens == sum(len(t) for t in encoded.values())
    assert m.totals.tokens == m.totals.sequences * ROW_LEN
    assert m.packing.pad_fraction == pytest.approx(1 - m.totals.non_pad_tokens / m.totals.tokens, abs=1e-7)
    long_tokens = sum(len(t) for t in encoded.values() if len(t) > ROW_LEN)
    assert long_tokens > 0
    assert m.packing.truncated_fraction == pytest.approx(long_tokens / m.totals.non_pad_tokens, abs=1e-7)
    assert set(m.sources) == {"web", "code", "books"}
    assert m.sources["web"].documents == 31  # 30 generated + "special"; "empty" dropped
    assert sum(s.tokens for s in m.sources.values()) == m.totals.non_pad_tokens
    assert len(m.shards) == -(-m.totals.sequences // 12) >= 3
    assert [s.path for s in m.shards] == [f"shard-{i:05d}-of-{len(m.shards):05d}.parquet" for i in range(len(m.shards))]
    assert json.loads((out / MANIFEST_NAME).read_text()) == json.loads(m.dumps())
    # a single-input run's manifest has no mixture entry (its bytes are as before mixtures existed)
    assert m.mixture is None and "mixture" not in json.loads((out / MANIFEST_NAME).read_text())


def test_every_document_appears_exactly_once(best_fit_run, corpus):
    out, result = best_fit_run
    tok, encoded = expected_pieces(corpus)
    rows = read_rows(out, result.manifest)
    schema = pq.read_schema(out / result.manifest.shards[0].path)
    assert schema.field(TOKENS).type == pa.list_(pa.field("item", pa.uint16(), nullable=False), ROW_LEN)
    segments, by_doc = Counter(), {}
    for row in rows:
        assert len(row[TOKENS]) == ROW_LEN and sum(row[DOC_LENGTHS]) <= ROW_LEN
        assert all(t == tok.pad_id for t in row[TOKENS][sum(row[DOC_LENGTHS]):])
        for doc_id, seg in zip(row[DOC_IDS], unpack_segments(row[TOKENS], row[DOC_LENGTHS])):
            segments[tuple(seg)] += 1
            by_doc.setdefault(doc_id, Counter())[tuple(seg)] += 1
    # multiset of segments (from doc_lengths alone) == every document's re-encoded tokens + eot, split by row
    want = Counter(tuple(p) for toks in encoded.values() for p in split_long(toks, ROW_LEN))
    assert segments == want
    assert set(by_doc) == set(encoded)
    for doc_id, toks in encoded.items():
        assert by_doc[doc_id] == Counter(tuple(p) for p in split_long(toks, ROW_LEN)), doc_id
    assert tok.decode(encoded["special"][:-1]) == "a document that mentions <|endoftext|> and <|pad|> in its text"
    assert encoded["special"].count(tok.eot_id) == 1


def snapshot(out: Path):
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_byte_identical_across_runs_and_workers(best_fit_run, corpus, tmp_path):
    root, tok_dir, _ = corpus
    out, _ = best_fit_run
    again = tmp_path / "again"
    run_tokenize_job(str(root), str(tok_dir), str(again), SEQ_LEN, rows_per_shard=12, doc_ids=True)
    assert snapshot(again) == snapshot(out)
    two = tmp_path / "two"
    run_tokenize_job(str(root), str(tok_dir), str(two), SEQ_LEN, rows_per_shard=12, doc_ids=True, workers=2)
    assert snapshot(two) == snapshot(out)


def test_concat_arrow_via_cli(corpus, tmp_path, capsys):
    root, tok_dir, _ = corpus
    tok, encoded = expected_pieces(corpus)
    out = tmp_path / "concat"
    rc = tokenize_main(["--input", str(root / "documents"), "--tokenizer", str(tok_dir), "--seq-len", str(SEQ_LEN),
                        "--output", str(out), "--packing", "concat", "--format", "arrow", "--seed", "3"])
    assert rc == 0 and "manifest:" in capsys.readouterr().out
    m = Manifest.load(str(out / MANIFEST_NAME))
    assert m.packing.method == "concat" and m.file_format == "arrow" and not m.with_doc_ids and m.seed == 3
    assert m.shards[0].path.endswith(".arrow")
    rows = read_rows(out, m)
    assert DOC_IDS not in rows[0]
    assert sum(r[TOKENS][:sum(r[DOC_LENGTHS])].count(tok.eot_id) for r in rows) == len(encoded)
    assert Counter(t for r in rows for t in r[TOKENS][:sum(r[DOC_LENGTHS])]) == \
        Counter(t for toks in encoded.values() for t in toks)
    assert m.packing.pad_fraction < 1 / m.totals.sequences  # only the last row of each group pads
    verify_shards(str(out), str(tok_dir))


def test_verify_passes_and_fails_clearly(best_fit_run, corpus, tmp_path, capsys):
    root, tok_dir, _ = corpus
    out, result = best_fit_run
    assert verify_shards(str(out), str(tok_dir)).totals == result.manifest.totals
    assert verify_main([str(out), "--tokenizer", str(tok_dir)]) == 0
    assert "ok:" in capsys.readouterr().out
    first = result.manifest.shards[0].path

    def damaged(name):
        copy = tmp_path / name
        shutil.copytree(out, copy)
        return copy

    flipped = damaged("flipped")
    data = bytearray((flipped / first).read_bytes())
    data[len(data) // 2] ^= 0x01
    (flipped / first).write_bytes(bytes(data))
    with pytest.raises(VerifyError, match=f"{first}: sha256"):
        verify_shards(str(flipped))

    missing = damaged("missing")
    (missing / first).unlink()
    with pytest.raises(VerifyError, match=f"{first}: missing"):
        verify_shards(str(missing))

    counts = damaged("counts")
    d = json.loads((counts / MANIFEST_NAME).read_text())
    d["shards"][0]["sequences"] += 1
    (counts / MANIFEST_NAME).write_text(json.dumps(d))
    with pytest.raises(VerifyError, match=f"{first}: .* sequences, manifest says"):
        verify_shards(str(counts))
    d["shards"][0]["sequences"] -= 1
    d["totals"]["non_pad_tokens"] += 5
    (counts / MANIFEST_NAME).write_text(json.dumps(d))
    with pytest.raises(VerifyError, match="non_pad_tokens add up to"):
        verify_shards(str(counts))

    other_tok = tmp_path / "other_tok"
    train_tokenizer(str(root), vocab_size=400, output_dir=str(other_tok), max_chars=20_000)
    with pytest.raises(VerifyError, match="tokenizer mismatch"):
        verify_shards(str(out), str(other_tok))

    incomplete = damaged("incomplete")
    (incomplete / MANIFEST_NAME).unlink()
    with pytest.raises(VerifyError, match="no manifest.json.*did not complete"):
        verify_shards(str(incomplete))
    assert verify_main([str(incomplete)]) == 1
    assert "did not complete" in capsys.readouterr().err


def test_default_encoder_is_tiktoken_when_available_and_shards_equal_hf(best_fit_run, corpus, tmp_path, caplog):
    """The default (`auto`) picks tiktoken when it is installed and accepts the tokenizer; the shards and the
    manifest are byte-identical to the `--encoder hf` run (nothing in them says which encoder ran)."""
    from tokenizer.encode import tokenizer_handle

    root, tok_dir, _ = corpus
    out, _ = best_fit_run  # default encoder
    assert tokenizer_handle((tok_dir / "tokenizer.json").read_bytes()).backend == "tiktoken"
    hf = tmp_path / "hf"
    with caplog.at_level("INFO", logger="pipelines.jobs.tokenize"):
        run_tokenize_job(str(root), str(tok_dir), str(hf), SEQ_LEN, rows_per_shard=12, doc_ids=True, encoder="hf")
    assert "encoder hf (requested)" in caplog.text
    assert snapshot(hf) == snapshot(out)


def test_auto_encoder_falls_back_to_hf_without_tiktoken(corpus, best_fit_run, tmp_path, monkeypatch, caplog):
    import sys

    import tokenizer.encode as encode

    root, tok_dir, _ = corpus
    out, _ = best_fit_run
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken -> ImportError
    monkeypatch.setattr(encode, "_HANDLES", {})
    assert encode.tokenizer_handle((tok_dir / "tokenizer.json").read_bytes(), "auto").backend == "hf"
    monkeypatch.setattr(encode, "_HANDLES", {})
    auto = tmp_path / "auto"
    with caplog.at_level("INFO", logger="pipelines.jobs.tokenize"), caplog.at_level("INFO", logger="tokenizer.encode"):
        run_tokenize_job(str(root), str(tok_dir), str(auto), SEQ_LEN, rows_per_shard=12, doc_ids=True)
    assert "encoder auto -> hf" in caplog.text and "encoder hf (chosen by auto)" in caplog.text
    assert snapshot(auto) == snapshot(out)


def test_read_documents_splits_files_into_ranges_without_losing_or_repeating_a_document(tmp_path):
    """Parquet in many row groups and JSONL (plain and gzip), read in 4 KiB ranges by a real pipeline on two
    worker processes: every document exactly once, JSONL rows without a source named after their file."""
    import gzip

    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.tokenize import ReadDocuments

    rng = random.Random(5)
    docs = [empty_document(f"p-{i:04d}", "web", make_text(rng, 40)) for i in range(400)]
    pq.write_table(pa.Table.from_pylist(docs, schema=DOCUMENTS_SCHEMA), tmp_path / "docs.parquet", row_group_size=16)
    lines = [json.dumps({"id": f"j-{i:04d}", "text": make_text(rng, 30)}) for i in range(300)]
    (tmp_path / "plain.jsonl").write_text("\n".join(lines[:200]) + "\n\n", encoding="utf-8")
    with gzip.open(tmp_path / "packed.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines[200:]) + "\n")
    assert (tmp_path / "docs.parquet").stat().st_size > 8 * 4096 and pq.ParquetFile(tmp_path / "docs.parquet").num_row_groups == 25

    expected = [(d["id"], d["source"], d["text"]) for d in docs]
    expected += [(f"j-{i:04d}", "plain" if i < 200 else "packed", json.loads(lines[i])["text"]) for i in range(300)]
    with make_pipeline(workers=2) as p:
        read = (p | ReadDocuments([str(tmp_path / "docs.parquet"), str(tmp_path / "*.jsonl*")], bundle_bytes=4096)
                | beam.Map(lambda d: (d["id"], d["source"], d["text"])))
        assert_that(read, equal_to(expected))



def test_curate_writes_bounded_row_groups_that_tokenize_reads_one_unit_each(tmp_path, monkeypatch):
    """curate's Parquet writer closes a row group at ROW_GROUP_BYTES (scaled down here to 256 KiB), so a corpus
    of one file still splits; the tokenize reader lists every group from the footers and reads each on its
    own, filling the columns a file lacks, every document once."""
    from pipelines.jobs import curate
    from pipelines.jobs.recipe import parse_recipe
    from pipelines.transforms.tokenize import parquet_row_groups, read_row_group

    monkeypatch.setattr(curate, "ROW_GROUP_BYTES", 256 * 2 ** 10)
    monkeypatch.setattr(curate, "ROW_GROUP_RECORD_BATCH", 4)
    rng = random.Random(11)
    docs = [{"id": f"d-{i:04d}", "text": make_text(rng, 9000)} for i in range(60)]  # ~3 MiB of text
    text_bytes = sum(len(d["text"].encode()) for d in docs)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "curated"
    report = curate.run_curate([str(source)], str(out), parse_recipe({"extract": {}}))  # no filter: all kept
    assert report.stages[-1].kept == len(docs)
    files = sorted((out / "documents").glob("*.parquet"))
    groups = list(parquet_row_groups(str(out / "documents" / "*.parquet")))
    assert len(groups) == sum(pq.ParquetFile(f).num_row_groups for f in files)
    assert len(groups) >= text_bytes // (2 * curate.ROW_GROUP_BYTES), (len(groups), text_bytes)  # ~1 per 256 KiB
    listed = sum(size for _, _, size in groups)  # the footers' uncompressed text bytes, which size the packing
    assert text_bytes <= listed <= 1.05 * text_bytes, (listed, text_bytes)
    read = [d for unit in groups for d in read_row_group(unit)]
    assert sorted((d["id"], d["text"]) for d in read) == sorted((d["id"], d["text"]) for d in docs)

    # a file without a source column: the source is its file's name (as for JSONL and in `winnow stats`)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["x", "y", "z"]}), tmp_path / "bare.parquet",
                   row_group_size=1)
    bare = list(parquet_row_groups(str(tmp_path / "bare.parquet")))
    assert [i for _, i, _ in bare] == [0, 1, 2] and all(size > 0 for _, _, size in bare)
    assert [(d["id"], d["source"], d["text"]) for u in bare for d in read_row_group(u)] == \
        [("a", "bare", "x"), ("b", "bare", "y"), ("c", "bare", "z")]

    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all" * 10)
    with pytest.raises(ValueError, match="broken.parquet is not a readable Parquet file"):
        list(parquet_row_groups(str(tmp_path / "broken.parquet")))



def test_packing_groups_are_sized_before_encoding_from_input_text_bytes(corpus, tmp_path):
    """The group count's side input comes from the footers and listings (EstimateTokens), not from the encoded
    documents: were it counted from them, every token would wait, materialised, for the count. JSONL sizes
    come from the listing (gzip files scaled by GZIP_TEXT_RATIO)."""
    import gzip

    import apache_beam as beam

    from pipelines.jobs.tokenize import build_tokenize_pipeline
    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.tokenize import GZIP_TEXT_RATIO, TokenizeConfig, jsonl_text_bytes
    from tokenizer.pack_groups import TEXT_BYTES_PER_TOKEN, estimated_tokens

    root, tok_dir, _ = corpus
    pipeline = make_pipeline()  # built to be inspected, never run: its temporary directory goes with it
    info = {"vocab_size": 500, "special_ids": {"<|pad|>": 1}, "sha256": "0" * 64}
    build_tokenize_pipeline(pipeline, [str(root / "documents" / "*.parquet")], str(tok_dir),
                            TokenizeConfig(output_dir=str(tmp_path), seq_len=SEQ_LEN), info, {})
    side_inputs = {}

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            side_inputs[node.full_label] = [si.pvalue.producer.full_label for si in node.side_inputs]

    pipeline.visit(Visitor())
    assert side_inputs["PackSequences/AssignGroup"] == ["EstimateTokens"]
    assert side_inputs["PackSequences/AssignGroupLengths"] == ["EstimateTokens"]
    assert not any(label.endswith("CountTokens") for label in side_inputs)
    assert estimated_tokens(4000) == 4000 // TEXT_BYTES_PER_TOKEN

    (tmp_path / "a.jsonl").write_text('{"id": "a", "text": "hello"}\n', encoding="utf-8")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write('{"id": "b", "text": "world"}\n')
    assert list(jsonl_text_bytes(str(tmp_path / "a.jsonl"))) == [(tmp_path / "a.jsonl").stat().st_size]
    assert list(jsonl_text_bytes(str(tmp_path / "b.jsonl.gz"))) == [GZIP_TEXT_RATIO * (tmp_path / "b.jsonl.gz").stat().st_size]

def test_read_bundle_bytes_gives_every_worker_several_ranges():
    from pipelines.transforms.tokenize import MIN_READ_BUNDLE_BYTES, RANGES_PER_WORKER, READ_BUNDLE_BYTES, read_bundle_bytes

    assert read_bundle_bytes(0, 2) == READ_BUNDLE_BYTES  # nothing listed: Beam's own splitting size
    assert read_bundle_bytes(64 * 2 ** 20, 2) == 64 * 2 ** 20 // (2 * RANGES_PER_WORKER)
    assert read_bundle_bytes(10 * 2 ** 30, 2) == READ_BUNDLE_BYTES
    assert read_bundle_bytes(1000, 4) == MIN_READ_BUNDLE_BYTES

def test_shards_no_row_hashes_to_are_written_empty(corpus, tmp_path):
    """One row per shard: the row hash leaves some of the N shards without a row; they still exist (written,
    empty, by the manifest step), so the names `-of-N` form a full set, and verify passes."""
    root, tok_dir, docs = corpus
    out = tmp_path / "one-row-shards"
    result = run_tokenize_job(str(root), str(tok_dir), str(out), SEQ_LEN, rows_per_shard=1)
    m = result.manifest
    n = m.totals.sequences
    assert len(m.shards) == n and sorted(p.name for p in out.glob("shard-*")) == [s.path for s in m.shards]
    assert [s.path for s in m.shards] == [f"shard-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    empty = [s for s in m.shards if s.sequences == 0]
    assert empty, "expected the hash to leave some of the one-row shards empty"
    for shard in empty:
        assert pq.read_table(out / shard.path).num_rows == 0 and shard.tokens == 0
    assert sum(s.sequences for s in m.shards) == n
    verify_shards(str(out), str(tok_dir))


def test_jsonl_is_read_by_curates_bounded_line_reader_in_ranges(tmp_path):
    """tokenize reads JSONL the way curate does (`pipelines.ingest.readers.iter_bounded_lines`, over byte ranges), not
    with Beam's text reader, which rescanned its growing buffer (234 s on one 50 MB line). A 3 MB line read in
    64 KiB ranges comes out once and whole, the same documents as curate's reader keeps; a line over the cap
    and lines that are no JSON object are counted errors, not a failed job."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.runtime.options import make_pipeline
    from pipelines.ingest.readers import read_jsonl
    from pipelines.transforms.tokenize import NAMESPACE, ReadDocuments

    cap = 4 * 2 ** 20
    rng = random.Random(3)
    records = [{"id": f"s-{i}", "text": make_text(rng, 20)} for i in range(40)]
    records.insert(20, {"id": "long", "text": "word " * (3 * 2 ** 20 // 5)})
    lines = [json.dumps(r) for r in records]
    lines.insert(10, json.dumps({"id": "too-long", "text": "x" * (cap + 10)}))
    lines.insert(30, "[1, 2, 3]")
    lines.insert(35, '{"text": "truncated')
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    p = make_pipeline()
    docs = p | ReadDocuments([str(path)], bundle_bytes=64 * 2 ** 10, max_line_bytes=cap)
    assert_that(docs | beam.Map(lambda d: (d["id"], d["text"])), equal_to([(r["id"], r["text"]) for r in records]))

    labels = []

    class Labels(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            labels.append(node.full_label)

        def enter_composite_transform(self, node):
            labels.append(node.full_label)

    p.visit(Labels())
    assert any(l.endswith("ReadJsonlRanges") for l in labels)
    assert not any("ReadAllFromText" in l or "ReadAllFiles" in l for l in labels), labels
    result = p.run()
    result.wait_until_finish()
    errors = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name("errors"))["counters"]
    assert sum(c.committed for c in errors) == 3
    curate_kept = [v["text"] for s, v in read_jsonl(str(path), max_line_bytes=cap) if s == "kept"]
    assert sorted(curate_kept) == sorted(r["text"] for r in records)


def test_a_glob_named_neither_parquet_nor_jsonl_reads_each_file_by_its_name(corpus, tmp_path):
    """`--input 'docs/part-*'` over Parquet and JSONL files: each file goes to the reader its name says (the
    Parquet one was read as JSONL lines: binary garbage as error rows, its documents lost)."""
    root, tok_dir, docs = corpus
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(root / "documents" / "part-00000.parquet", mixed / "part-0.parquet")
    (mixed / "part-1.jsonl").write_text("".join(json.dumps({"id": d["id"], "source": d["source"], "text": d["text"]})
                                                + "\n" for d in docs[50:]), encoding="utf-8")
    out = tmp_path / "out"
    run_tokenize_job(str(mixed / "part-*"), str(tok_dir), str(out), SEQ_LEN, doc_ids=True)
    manifest = Manifest.load(str(out / MANIFEST_NAME))
    assert manifest.totals.documents == sum(1 for d in docs if d["text"])  # every document, once
    assert not list((out / "errors").glob("*.parquet")) or all(
        pq.read_table(f).num_rows == 0 for f in (out / "errors").glob("*.parquet"))
    ids = {i for row in read_rows(out, manifest) for i in row[DOC_IDS]}
    assert ids == {d["id"] for d in docs if d["text"]}


def test_documents_without_text_are_errors_not_empty_documents(corpus, tmp_path):
    """A JSONL line with no `text` (or a non-string one) is an error row naming its line, as curate reads it,
    not an empty document counted `dropped_empty`; a Parquet file with no `text` column stops the job, naming
    the file, instead of passing every row as empty."""
    _, tok_dir, _ = corpus
    src = tmp_path / "docs.jsonl"
    lines = [json.dumps({"id": "a", "text": "one real document"}), json.dumps({"id": "b", "content": "x"}),
             json.dumps({"id": "c", "text": 7}), json.dumps({"id": "d", "text": "another one"})]
    src.write_text("\n".join(lines) + "\n")
    starts = [sum(len(l) + 1 for l in lines[:i]) for i in range(len(lines))]  # errors point at the line's byte
    out = tmp_path / "out"
    run_tokenize_job(str(src), str(tok_dir), str(out), SEQ_LEN, doc_ids=True)
    manifest = Manifest.load(str(out / MANIFEST_NAME))
    assert manifest.totals.documents == 2
    errors = [r for f in sorted((out / "errors").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert sorted((r["input_offset"], r["error"].split(":")[0]) for r in errors) == [(starts[1], "ValueError"),
                                                                                    (starts[2], "TypeError")]
    assert "no 'text' field" in next(r["error"] for r in errors if r["input_offset"] == starts[1])

    wrong = tmp_path / "wrong" / "part-0.parquet"
    wrong.parent.mkdir()
    pq.write_table(pa.table({"id": ["x"], "content": ["words"]}), wrong)
    with pytest.raises(Exception, match="has no 'text' column"):
        run_tokenize_job(str(wrong.parent), str(tok_dir), str(tmp_path / "out2"), SEQ_LEN)


def test_a_failed_run_leaves_the_previous_shards_and_an_output_holding_the_input_is_refused(corpus, tmp_path):
    """tokenize writes under OUT/.winnow-staging-<run> and moves the files in once the run is complete: a run
    that fails (here on a Parquet file with no text column, found while the job runs) leaves the previous run's
    shards and manifest as they were, and no staging directory. An --output that holds the input is refused
    before anything is written (the run replaces its files there, and would read them)."""
    root, tok_dir, _ = corpus
    out = tmp_path / "out"
    run_tokenize_job(str(root), str(tok_dir), str(out), SEQ_LEN, rows_per_shard=12)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert MANIFEST_NAME in before and any(n.startswith("shard-") for n in before)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    pq.write_table(pa.table({"id": ["x"], "content": ["words"]}), wrong / "part-0.parquet")
    with pytest.raises(Exception, match="has no 'text' column"):
        run_tokenize_job(str(wrong), str(tok_dir), str(out), SEQ_LEN)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".winnow-staging-")]
    # a second good run with fewer shards replaces the first's files, leaving none of them behind
    run_tokenize_job(str(root), str(tok_dir), str(out), SEQ_LEN, rows_per_shard=1000)
    manifest = Manifest.load(str(out / MANIFEST_NAME))
    assert sorted(p.name for p in out.glob("shard-*")) == sorted(s.path for s in manifest.shards)
    verify_shards(str(out))
    with pytest.raises(ValueError, match="is inside the output directory"):
        run_tokenize_job(str(root), str(tok_dir), str(root), SEQ_LEN)


def test_a_relative_glob_with_its_wildcard_in_the_first_part(corpus, tmp_path, monkeypatch):
    # Beam's local file system matched nothing for `in_*/*.parquet` (no documents found); `./in_*/...` worked
    root, tok_dir, docs = corpus
    (tmp_path / "in_a").mkdir()
    shutil.copy(root / "documents" / "part-00000.parquet", tmp_path / "in_a" / "p.parquet")
    monkeypatch.chdir(tmp_path)
    assert tokenize_main(["--input", "in_*/*.parquet", "--tokenizer", str(tok_dir), "--seq-len", str(SEQ_LEN),
                          "--output", "out"]) == 0
    assert Manifest.load(str(tmp_path / "out" / MANIFEST_NAME)).totals.documents == sum(
        1 for d in docs[:50] if d["text"])


def test_a_sequence_length_past_any_context_is_refused_before_the_job(corpus, tmp_path):
    # --seq-len 50000000 took 1.7 GB for one row of padding; 3e9 ran out of memory
    root, tok_dir, _ = corpus
    with pytest.raises(ValueError, match=r"--seq-len 50,000,000 is over 4,194,304 tokens a row"):
        run_tokenize_job(str(root), str(tok_dir), str(tmp_path / "out"), 50_000_000)
    assert not (tmp_path / "out").exists()


def test_whitespace_only_documents_are_empty(corpus, tmp_path):
    # they were tokenized (a few whitespace tokens and <|endoftext|>) while an empty text was dropped
    _, tok_dir, _ = corpus
    src = tmp_path / "d.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in
                             enumerate(["some words", " \n\t ", "", "more words"])) + "\n")
    result = run_tokenize_job(str(src), str(tok_dir), str(tmp_path / "out"), SEQ_LEN)
    assert result.counters == {"in": 4, "kept": 2, "dropped_empty": 2}
    assert result.manifest.totals.documents == 2


def test_documents_sharing_an_id_are_all_packed_and_counted(corpus, tmp_path, caplog):
    """Input with repeated ids (not curate's output, whose ids stage renames repeats): every document is packed,
    and the repeats are counted and named in a warning, since doc_ids and lineage cannot tell them apart."""
    import logging

    _, tok_dir, _ = corpus
    src = tmp_path / "d.jsonl"
    texts = [f"text number {i} of the input" for i in range(40)]
    src.write_text("".join(json.dumps({"id": f"d{i % 20}", "text": t}) + "\n" for i, t in enumerate(texts)))
    with caplog.at_level(logging.WARNING):
        result = run_tokenize_job(str(src), str(tok_dir), str(tmp_path / "out"), SEQ_LEN, doc_ids=True)
    assert result.counters["kept"] == 40 and result.counters["duplicate_ids"] == 20
    assert result.manifest.totals.documents == 40
    rows = read_rows(tmp_path / "out", result.manifest)
    assert Counter(i for r in rows for i in r[DOC_IDS]) == {f"d{i}": 2 for i in range(20)}
    assert "20 documents have an id that another document of the input has" in caplog.text
    unique = tmp_path / "u.jsonl"
    unique.write_text("".join(json.dumps({"id": f"u{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    assert "duplicate_ids" not in run_tokenize_job(str(unique), str(tok_dir), str(tmp_path / "out2"), SEQ_LEN).counters


def test_a_local_tokenize_counts_its_encoded_documents_live(corpus, tmp_path, live_progress):
    """Like curate, a tokenize on the in-process runner shows how many documents it has encoded while it runs
    (a line redrawn on a terminal, one a minute in a log); it showed nothing until the end before."""
    import pipelines.jobs.tokenize as tokenize_job

    root, tok_dir, docs = corpus
    shown = live_progress(tokenize_job)
    result = run_tokenize_job(str(root), str(tok_dir), str(tmp_path / "out"), SEQ_LEN)
    encoded = sum(1 for d in docs if d["text"])  # the empty document is dropped before encoding
    assert result.manifest.totals.documents == encoded
    (rep,) = shown
    assert rep.label == "tokenize" and rep.counts == {"encoded": encoded} and rep.closed
