"""Token shards as files other tools read: shard and row-group sizing, pyarrow.dataset, Hugging Face datasets,
zero-copy memory-mapped Arrow IPC, Parquet/Arrow giving the same rows, and row-level lineage (doc_ids +
`find_rows_with_document`). Real documents: Scrapinghub AEB article bodies and GitHub Linguist code samples."""
from __future__ import annotations

import gc

import gzip
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines.tools.lineage import LineageError, find_rows_with_document
from pipelines.jobs.tokenize import main as tokenize_main
from pipelines.jobs.tokenize import run_tokenize_job
from pipelines.tools.verify import verify_shards
from schemas import DOC_IDS, DOC_LENGTHS, DOCUMENTS_SCHEMA, MANIFEST_NAME, TOKENS, Manifest, empty_document, shard_schema
from tokenizer.encode import load_tokenizer
from tokenizer.pack import unpack_segments
from tokenizer.train import train_tokenizer

SEQ_LEN = 256
ROW_BYTES = (SEQ_LEN + 1) * 2  # uint16
SHARD_MB = 0.1  # 204 rows of 514 bytes
ROW_GROUP_MB = 0.02  # 40 rows
SHARD_ROWS = int(SHARD_MB * 2 ** 20) // ROW_BYTES
GROUP_ROWS = int(ROW_GROUP_MB * 2 ** 20) // ROW_BYTES


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("real-docs")
    truth = json.loads((shared_data / "html" / "scrapinghub_aeb" / "ground-truth.json").read_text(encoding="utf-8"))
    docs = [empty_document(f"aeb-{k}", "news", v["articleBody"]) for k, v in sorted(truth.items())[:30]]
    with gzip.open(shared_data / "code" / "linguist_samples_dev.jsonl.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            sample = json.loads(line)
            if sample["encoding"] == "utf-8" and i % 100 == 0:
                docs.append(empty_document(f"code-{i:05d}", "code", sample["content"]))
    (root / "documents").mkdir()
    pq.write_table(pa.Table.from_pylist(docs, schema=DOCUMENTS_SCHEMA), root / "documents" / "part-00000.parquet")
    tok_dir = root / "tokenizer"
    train_tokenizer(str(root), vocab_size=500, output_dir=str(tok_dir), max_chars=300_000)
    return root, tok_dir, docs


@pytest.fixture(scope="module")
def parquet_run(corpus, tmp_path_factory):
    root, tok_dir, _ = corpus
    out = tmp_path_factory.mktemp("parquet")
    manifest = run_tokenize_job(str(root), str(tok_dir), str(out), SEQ_LEN, doc_ids=True, shard_mb=SHARD_MB,
                                row_group_mb=ROW_GROUP_MB).manifest
    return out, manifest


@pytest.fixture(scope="module")
def arrow_run(corpus, tmp_path_factory):
    """The same job through the CLI with --format arrow and the tiktoken encoder (a dependency of every install)."""
    root, tok_dir, _ = corpus
    out = tmp_path_factory.mktemp("arrow")
    assert tokenize_main(["--input", str(root), "--tokenizer", str(tok_dir), "--seq-len", str(SEQ_LEN),
                          "--output", str(out), "--format", "arrow", "--doc-ids", "--shard-mb", str(SHARD_MB),
                          "--row-group-mb", str(ROW_GROUP_MB), "--encoder", "tiktoken"]) == 0
    return out, Manifest.load(str(out / MANIFEST_NAME))


def shard_paths(out: Path, manifest: Manifest):
    return [str(out / s.path) for s in manifest.shards]


def test_shard_and_row_group_sizes(parquet_run):
    out, m = parquet_run
    assert m.totals.sequences > 2 * SHARD_ROWS  # the corpus spans several shards
    assert len(m.shards) == math.ceil(m.totals.sequences / SHARD_ROWS)
    # rows go to shards by hash: sizes scatter around the target, never far above it
    assert max(s.sequences for s in m.shards) <= 1.5 * SHARD_ROWS
    multi_group = 0
    for path in shard_paths(out, m):
        meta = pq.ParquetFile(path).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert max(sizes) <= GROUP_ROWS and sum(sizes) == meta.num_rows
        multi_group += meta.num_row_groups > 1
    assert multi_group == len(m.shards)
    verify_shards(str(out))


def test_pyarrow_dataset_and_hf_datasets_open_the_shards(parquet_run, tmp_path):
    from datasets import load_dataset

    out, m = parquet_run
    files = shard_paths(out, m)
    dataset = ds.dataset(files, format="parquet")
    assert dataset.count_rows() == m.totals.sequences
    assert dataset.schema.equals(shard_schema(SEQ_LEN, "uint16", True), check_metadata=False)
    table = dataset.to_table()
    tokens = table.column(TOKENS).combine_chunks().flatten().to_numpy().reshape(-1, SEQ_LEN + 1)
    assert int((tokens != m.tokenizer.special_ids["<|pad|>"]).sum()) >= m.totals.non_pad_tokens - tokens.size // 10

    hf = load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert len(hf) == m.totals.sequences
    assert hf.features[TOKENS].length == SEQ_LEN + 1
    for i in (0, len(hf) // 2, len(hf) - 1):
        assert hf[i][TOKENS] == tokens[i].tolist()
        assert hf[i][DOC_LENGTHS] == table.column(DOC_LENGTHS)[i].as_py()
        assert hf[i][DOC_IDS] == table.column(DOC_IDS)[i].as_py()


def test_arrow_shards_memory_map_without_copying(arrow_run, parquet_run):
    out, m = arrow_run
    pout, pm = parquet_run
    assert m.file_format == "arrow" and [s.path for s in m.shards] == [s.path.replace(".parquet", ".arrow")
                                                                          for s in pm.shards]
    for path, ppath in zip(shard_paths(out, m), shard_paths(pout, pm)):
        raw = Path(path).read_bytes()
        assert raw[:6] == b"ARROW1" and raw[-6:] == b"ARROW1"  # IPC file format (random access), not stream
        gc.collect()  # the counter is process-wide: settle earlier tests' garbage first
        before = pa.total_allocated_bytes()
        with pa.memory_map(path) as source:
            reader = pa.ipc.open_file(source)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
            table = pa.Table.from_batches(batches)
            # uncompressed and zero-copy: no Arrow allocation, the token buffer lies inside the file's map
            assert pa.total_allocated_bytes() <= before
            source.seek(0)
            mapped = source.read_buffer(source.size())  # the whole map, itself zero-copy
            for chunk in table.column(TOKENS).chunks:
                data = chunk.values.buffers()[1]
                assert mapped.address <= data.address and data.address + data.size <= mapped.address + mapped.size
            assert all(b.num_rows <= GROUP_ROWS for b in batches) and len(batches) > 1
            # same columns, same rows, same order as the Parquet shards (hf and tiktoken encoders agree)
            assert table.equals(pq.read_table(ppath, schema=shard_schema(SEQ_LEN, "uint16", True)))
            del table, batches, reader, mapped, data
    assert ds.dataset(shard_paths(out, m), format="arrow").count_rows() == m.totals.sequences
    assert m.totals == pm.totals and m.packing == pm.packing
    verify_shards(str(out))


def test_find_rows_with_document_traces_every_piece(parquet_run, arrow_run, corpus):
    _, tok_dir, docs = corpus
    tok = load_tokenizer(str(tok_dir))
    out, m = parquet_run
    encoded = {d["id"]: tok.encode(d["text"]) + [tok.eot_id] for d in docs if d["text"]}
    long_id = max(encoded, key=lambda k: len(encoded[k]))
    short_id = min(encoded, key=lambda k: len(encoded[k]))
    assert len(encoded[long_id]) > 2 * (SEQ_LEN + 1)
    tables = {p: pq.read_table(p) for p in shard_paths(out, m)}
    for doc_id in (long_id, short_id):
        hits = find_rows_with_document(str(out), doc_id)
        pieces = []
        for path, row in hits:
            r = tables[path].slice(row, 1).to_pylist()[0]
            segs = unpack_segments(r[TOKENS], r[DOC_LENGTHS])
            pieces += [seg for i, seg in zip(r[DOC_IDS], segs) if i == doc_id]
        # the pieces are the document's consecutive row-long cuts (the rows hold them in the shuffle's order)
        row = SEQ_LEN + 1
        cuts = [encoded[doc_id][i:i + row] for i in range(0, len(encoded[doc_id]), row)]
        assert len(hits) == len(cuts) == math.ceil(len(encoded[doc_id]) / row)
        assert sorted(map(list, pieces)) == sorted(cuts) and cuts[-1][-1] == tok.eot_id
        # the Arrow shards of the same job give the same rows
        aout, _ = arrow_run
        assert [(Path(p).stem, r) for p, r in find_rows_with_document(str(aout), doc_id)] == \
               [(Path(p).stem, r) for p, r in hits]
    assert find_rows_with_document(str(out), "no-such-document") == []


def test_lineage_needs_doc_ids(corpus, tmp_path):
    root, tok_dir, _ = corpus
    out = tmp_path / "plain"
    run_tokenize_job(str(root), str(tok_dir), str(out), SEQ_LEN * 8)
    with pytest.raises(LineageError, match="--doc-ids"):
        find_rows_with_document(str(out), "aeb-0001")
    with pytest.raises(LineageError, match="no manifest.json"):
        find_rows_with_document(str(tmp_path), "aeb-0001")


# ---------------------------------------------------------------------------------------------------------
# schemas.shard_files: the one writer, reader and set of checks (plain unit tests, no pipeline)
# ---------------------------------------------------------------------------------------------------------

def _synthetic_shard(rows: int = 100, seq_len: int = 15):
    import numpy as np

    from schemas.shard_files import shard_table

    tokens = (np.arange(rows * (seq_len + 1)) % 251).astype(np.uint16).reshape(rows, seq_len + 1)
    lengths = [[seq_len + 1] if i % 2 else [5, seq_len + 1 - 5] for i in range(rows)]
    ids = [[f"d{i}"] if i % 2 else [f"d{i}", f"e{i}"] for i in range(rows)]
    return shard_table(tokens, lengths, seq_len, "uint16", ids)


@pytest.mark.parametrize("file_format", ["parquet", "arrow"])
def test_shard_file_reads_what_encode_shard_wrote(tmp_path, file_format):
    from schemas.shard_files import ShardFile, encode_shard

    table = _synthetic_shard()
    data = encode_shard(table, file_format, row_group_rows=32)
    path = tmp_path / f"s.{file_format}"
    path.write_bytes(data)
    assert encode_shard(table, file_format, row_group_rows=32) == data  # deterministic
    for source in (str(path), data, open(path, "rb")):
        f = ShardFile(source, file_format)
        assert f.batch_rows == [32, 32, 32, 4] and f.num_rows == 100
        assert f.schema.equals(table.schema, check_metadata=False)
        batches = list(f.iter_batches([DOC_LENGTHS, "no-such-column"]))  # only the columns the file has
        assert [b.schema.names for b in batches] == [[DOC_LENGTHS]] * 4
        assert pa.Table.from_batches(batches).column(DOC_LENGTHS).to_pylist() == table.column(DOC_LENGTHS).to_pylist()
        assert f.read_all().equals(table)


def test_shard_file_maps_arrow_without_copying(tmp_path):
    from schemas.shard_files import ShardFile, encode_shard, flat_values

    path = tmp_path / "s.arrow"
    path.write_bytes(encode_shard(_synthetic_shard(), "arrow", row_group_rows=32))
    gc.collect()
    before = pa.total_allocated_bytes()
    f = ShardFile(str(path), "arrow")
    ids = flat_values(f.read_batch(1, [TOKENS]).column(TOKENS))
    assert pa.total_allocated_bytes() <= before  # a view of the memory map, not a copy
    assert ids[0] == (32 * 16) % 251 and ids.dtype.name == "uint16"


def test_stats_and_verify_report_a_manifest_with_the_same_check(parquet_run, tmp_path):
    """One set of manifest checks: `winnow stats` lists the disagreement `winnow verify` fails on, word for word."""
    import shutil

    from pipelines.tools.stats import compute_stats
    from schemas.shards import ShardError

    out, _ = parquet_run
    copy = tmp_path / "shards"
    shutil.copytree(out, copy)
    raw = json.loads((copy / MANIFEST_NAME).read_text())
    raw["totals"]["non_pad_tokens"] += 5
    (copy / MANIFEST_NAME).write_text(json.dumps(raw))
    with pytest.raises(ShardError) as failed:
        verify_shards(str(copy))
    checks = compute_stats(str(copy), progress=False)["manifest_checks"]
    assert checks[0] == ("manifest.json: non_pad_tokens add up to "
                         f"{raw['totals']['non_pad_tokens'] - 5} over the shards, totals say {raw['totals']['non_pad_tokens']}")
    assert checks[0] in str(failed.value)
