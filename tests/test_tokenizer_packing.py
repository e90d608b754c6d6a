"""Plain unit tests (no pipeline) of the tokenize job's Beam-free parts: the packing groups and plan
(`tokenizer.pack_groups`), the manifest assembly (`schemas.shard_files.build_manifest`) and the two input
resolvers every command shares (`schemas.io.document_patterns` / `document_files`, `tokenizer.encode.tokenizer_file`
/ `find_tokenizer`). The row algorithms themselves (`tokenizer.pack`) are tested in test_pack.py."""
from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import DOCUMENTS_SCHEMA, MANIFEST_NAME, Manifest, empty_document
from schemas.io import document_files, document_patterns, iter_documents, table_files
from schemas.shard_files import build_manifest, shard_info, shard_name
from tokenizer.encode import find_tokenizer, tokenizer_file
from tokenizer.pack import pack_layout, unpack_segments
from tokenizer.pack_groups import (
    TEXT_BYTES_PER_TOKEN, estimated_tokens, groups_for, pack_group, packing_group, packing_order, plan_group,
    row_shard, shard_count, sum_counts,
)

PAD = 0


def encoded_docs(n: int, seed: int, row_len: int, dtype: str = "uint16"):
    """(id, token bytes) pairs: lengths from 1 to three rows, token values that say which document they are from."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        length = rng.choice([rng.randint(1, row_len // 3), rng.randint(1, row_len), rng.randint(row_len, 3 * row_len)])
        docs.append((f"doc-{i:04d}", np.full(length, i + 1, dtype=dtype).tobytes()))
    return docs


# -- groups and plan -----------------------------------------------------------------------------------------

def test_group_sizing_and_estimate():
    assert estimated_tokens(4001) == 4001 // TEXT_BYTES_PER_TOKEN
    assert groups_for(0, 65, 100) == 1  # never zero groups
    assert groups_for(65 * 100, 65, 100) == 1
    assert groups_for(65 * 100 + 1, 65, 100) == 2
    groups = [packing_group(f"d{i}", 65 * 100 * 8, 65, 100, seed=3) for i in range(2000)]
    assert set(groups) == set(range(8))  # every group gets documents
    assert groups == [packing_group(f"d{i}", 65 * 100 * 8, 65, 100, seed=3) for i in range(2000)]
    assert groups != [packing_group(f"d{i}", 65 * 100 * 8, 65, 100, seed=4) for i in range(2000)]


@pytest.mark.parametrize("method", ["best-fit", "concat"])
def test_plan_on_lengths_equals_the_packed_rows_whatever_the_arrival_order(method):
    """The plan (ids and lengths only) gives the row count the packer then fills; neither depends on the order
    the documents arrive in, and every token of every document comes out once, in order."""
    row_len, dtype = 65, "uint16"
    docs = encoded_docs(120, seed=1, row_len=row_len)
    lengths = [(doc_id, len(data) // 2) for doc_id, data in docs]
    rows, tokens, pad, truncated = plan_group((7, lengths), method, row_len, seed=5)
    packed = list(pack_group(7, docs, method, row_len, PAD, 5, dtype, with_doc_ids=True))
    assert len(packed) == rows and tokens == rows * row_len
    assert [key for key, _, _, _ in packed] == [f"7:{i}" for i in range(rows)]
    assert pad == sum(row_len - sum(lengths_) for _, _, lengths_, _ in packed)
    assert plan_group((7, list(reversed(lengths))), method, row_len, seed=5) == (rows, tokens, pad, truncated)
    assert list(pack_group(7, list(reversed(docs)), method, row_len, PAD, 5, dtype, True)) == packed

    pieces = {}
    for _, data, doc_lengths, ids in packed:
        row = np.frombuffer(data, dtype=dtype)
        assert len(row) == row_len and len(ids) == len(doc_lengths)
        for doc_id, piece in zip(ids, unpack_segments(row.tolist(), doc_lengths)):
            pieces.setdefault(doc_id, []).extend(piece)
    assert pieces == {doc_id: np.frombuffer(data, dtype=dtype).tolist() for doc_id, data in docs}
    no_ids = list(pack_group(7, docs, method, row_len, PAD, 5, dtype, with_doc_ids=False))
    assert [r[:3] for r in no_ids] == [r[:3] for r in packed] and all(r[3] is None for r in no_ids)


def test_packing_order_is_total_and_by_method():
    docs = [("b", 3), ("a", 5), ("c", 1)]
    assert sorted(docs, key=packing_order("best-fit", 0)) == [("a", 5), ("b", 3), ("c", 1)]
    shuffled = [sorted(docs, key=packing_order("concat", seed)) for seed in range(20)]
    assert len({tuple(s) for s in shuffled}) > 1  # the seed shuffles concat's order
    assert sorted(docs, key=packing_order("concat", 4)) == sorted(reversed(docs), key=packing_order("concat", 4))
    # a duplicated id: the length breaks the tie, the same way in the plan and the packer
    assert sorted([("a", 5), ("a", 2)], key=packing_order("best-fit", 0)) == [("a", 2), ("a", 5)]


def test_plan_matches_pack_layout_stats():
    lengths = [("x", 100), ("y", 30), ("z", 40)]
    _, stats = pack_layout("best-fit", [100, 30, 40], 65)
    assert plan_group((0, lengths), "best-fit", 65, 0) == (stats.rows, stats.tokens, stats.pad_tokens,
                                                          stats.truncated_tokens)


def test_counts_and_shards():
    assert sum_counts([]) == ()
    assert sum_counts([(1, 2, 3, 4), (10, 20, 30, 40)]) == (11, 22, 33, 44)
    assert shard_count(0, 10) == 0 and shard_count(10, 10) == 1 and shard_count(11, 10) == 2
    shards = [row_shard(f"{g}:{i}", 0, 5) for g in range(3) for i in range(200)]
    assert set(shards) == set(range(5)) and shards == [row_shard(f"{g}:{i}", 0, 5) for g in range(3) for i in range(200)]


# -- manifest ------------------------------------------------------------------------------------------------

TOKENIZER = {"sha256": "ab" * 32, "vocab_size": 512, "special_ids": {"<|endoftext|>": 0, "<|pad|>": 1}}


def test_build_manifest_fields_and_totals():
    infos = [shard_info(shard_name(i, 2, "parquet"), f"shard {i}".encode(), sequences=3 - i, row_len=65)
             for i in (1, 0)]
    assert infos[1] == {"path": "shard-00000-of-00002.parquet", "sequences": 3, "tokens": 195, "bytes": 7,
                        "sha256": hashlib.sha256(b"shard 0").hexdigest()}
    m = build_manifest(infos, (5, 325, 25, 60), [("web", (4, 200)), ("code", (2, 100))], seq_len=64,
                       dtype="uint16", tokenizer=TOKENIZER, packing="best-fit", file_format="parquet", seed=3,
                       with_doc_ids=True, versions={"pyarrow": "x"})
    assert isinstance(m, Manifest)
    assert [s.path for s in m.shards] == ["shard-00000-of-00002.parquet", "shard-00001-of-00002.parquet"]
    assert (m.totals.documents, m.totals.sequences, m.totals.tokens, m.totals.non_pad_tokens) == (6, 5, 325, 300)
    assert m.totals.non_pad_tokens == sum(s.tokens for s in m.sources.values())
    assert list(m.sources) == ["code", "web"]
    assert m.packing.method == "best-fit"
    assert m.packing.pad_fraction == 25 / 325 and m.packing.truncated_fraction == 60 / 300
    assert (m.seq_len, m.dtype, m.seed, m.with_doc_ids, m.file_format) == (64, "uint16", 3, True, "parquet")
    assert m.tokenizer.sha256 == TOKENIZER["sha256"] and m.versions == {"pyarrow": "x"}
    assert Manifest.from_json(json.loads(m.dumps())).dumps() == m.dumps()  # what the job writes reads back the same


def test_build_manifest_of_no_documents_and_its_bytes_are_deterministic():
    kw = dict(seq_len=8, dtype="uint16", tokenizer=TOKENIZER, packing="concat", file_format="arrow", seed=0,
              with_doc_ids=False, versions={})
    empty = build_manifest([], (), [], **kw)
    assert (empty.totals.sequences, empty.totals.tokens, empty.packing.pad_fraction,
            empty.packing.truncated_fraction) == (0, 0, 0.0, 0.0)
    infos = [shard_info(shard_name(i, 3, "arrow"), bytes([i]) * 10, 2, 9) for i in range(3)]
    a = build_manifest(infos, (6, 54, 4, 0), [("b", (1, 20)), ("a", (2, 30))], **kw).dumps()
    b = build_manifest(list(reversed(infos)), (6, 54, 4, 0), [("a", (2, 30)), ("b", (1, 20))], **kw).dumps()
    assert a == b
    assert shard_name(12, 300, "arrow") == "shard-00012-of-00300.arrow" and MANIFEST_NAME == "manifest.json"


# -- resolvers -----------------------------------------------------------------------------------------------

def write_docs(path, ids):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([empty_document(i, "web", f"text {i}") for i in ids], schema=DOCUMENTS_SCHEMA),
                   path)


def test_documents_resolver_curate_dir_plain_dir_file_and_glob(tmp_path):
    curated = tmp_path / "curated"
    write_docs(curated / "documents" / "part-1.parquet", ["b"])
    write_docs(curated / "documents" / "part-0.parquet", ["a"])
    write_docs(curated / "rejected" / "part-0.parquet", ["r"])  # never read as documents
    assert document_patterns(str(curated)) == [str(curated / "documents" / "*.parquet")]
    assert document_files(str(curated)) == [str(curated / "documents" / f"part-{i}.parquet") for i in (0, 1)]
    assert [d["id"] for d in iter_documents(str(curated))] == ["a", "b"]
    assert table_files(str(curated), "documents") == document_files(str(curated))
    assert table_files(str(curated), "rejected") == [str(curated / "rejected" / "part-0.parquet")]
    assert table_files(str(curated), "errors") == []

    plain = tmp_path / "plain"
    write_docs(plain / "x.parquet", ["p"])
    (plain / "y.jsonl").write_text(json.dumps({"id": "j", "text": "t"}) + "\n", encoding="utf-8")
    (plain / "notes.txt").write_text("not a document", encoding="utf-8")
    assert document_patterns(str(plain)) == [str(plain / "*.parquet"), str(plain / "*.jsonl")]
    assert document_files(str(plain)) == [str(plain / "x.parquet"), str(plain / "y.jsonl")]

    assert document_files(str(plain / "y.jsonl")) == [str(plain / "y.jsonl")]
    assert document_files(str(tmp_path / "*" / "documents" / "*.parquet")) == document_files(str(curated))
    odd = plain / "extra.ndjson"  # a file named outright is read whatever its suffix
    odd.write_text(json.dumps({"text": "t"}) + "\n", encoding="utf-8")
    assert document_patterns(str(odd)) == [str(odd)]


def test_documents_resolver_errors_and_injected_matcher(tmp_path):
    (tmp_path / "empty").mkdir()
    for missing in (tmp_path / "empty", tmp_path / "nowhere", tmp_path / "nowhere.parquet", tmp_path / "*.jsonl"):
        with pytest.raises(FileNotFoundError, match="no documents found at"):
            document_patterns(str(missing))
    # the job's dry run lists nothing: every pattern is taken as present
    assert document_patterns("gs://bucket/curated", lambda p: True) == ["gs://bucket/curated/documents/*.parquet"]
    assert document_patterns("gs://bucket/in/*.jsonl.gz", lambda p: True) == ["gs://bucket/in/*.jsonl.gz"]
    seen = []
    assert document_patterns("gs://b/dir", lambda p: seen.append(p) or p.endswith(".jsonl")) == ["gs://b/dir/*.jsonl"]
    assert seen[0] == "gs://b/dir/documents/*.parquet"


def test_tokenizer_resolver(tmp_path):
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    (tok_dir / "tokenizer.json").write_text("{}", encoding="utf-8")
    assert tokenizer_file(str(tok_dir)) == str(tok_dir / "tokenizer.json")
    assert tokenizer_file(str(tok_dir / "tokenizer.json")) == str(tok_dir / "tokenizer.json")
    other = tmp_path / "renamed.tok"  # a local file, whatever its name
    other.write_text("{}", encoding="utf-8")
    assert tokenizer_file(str(other)) == str(other)
    assert tokenizer_file(str(tmp_path / "missing")) == str(tmp_path / "missing" / "tokenizer.json")
    assert tokenizer_file("gs://bucket/tok") == "gs://bucket/tok/tokenizer.json"
    assert tokenizer_file("gs://bucket/tok/") == "gs://bucket/tok/tokenizer.json"
    assert tokenizer_file("gs://bucket/tok/v2.json") == "gs://bucket/tok/v2.json"


def test_find_tokenizer_beside_or_inside_the_shards(tmp_path):
    shards = tmp_path / "run" / "shards"
    shards.mkdir(parents=True)
    assert find_tokenizer(str(shards), None) is None
    (shards / "tokenizer.json").write_text("{}", encoding="utf-8")
    assert find_tokenizer(str(shards), None) == str(shards / "tokenizer.json")
    (tmp_path / "run" / "tokenizer").mkdir()
    (tmp_path / "run" / "tokenizer" / "tokenizer.json").write_text("{}", encoding="utf-8")
    assert find_tokenizer(str(shards), None) == str(shards / ".." / "tokenizer" / "tokenizer.json")
    assert find_tokenizer(str(shards), str(shards)) == str(shards / "tokenizer.json")
    assert find_tokenizer(str(shards), str(tmp_path / "nothing")) is None


def test_documents_whose_text_is_not_a_string_are_one_line_naming_the_file(tmp_path):
    # tokenizer train, tokenizer eval and classifier train read documents here: a text of numbers was a traceback
    (tmp_path / "ints").mkdir()
    pq.write_table(pa.table({"id": ["a"], "text": [7]}), tmp_path / "ints" / "p.parquet")
    with pytest.raises(ValueError, match=r"ints/p.parquet: column 'text' holds int64, not strings"):
        list(iter_documents(str(tmp_path / "ints")))
    (tmp_path / "lines").mkdir()
    (tmp_path / "lines" / "x.jsonl").write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": 5}\n')
    with pytest.raises(ValueError, match=r"x.jsonl: line 2 is not a JSON object with a string 'text'"):
        list(iter_documents(str(tmp_path / "lines")))


def test_an_id_of_zero_is_an_id(tmp_path):
    # a falsy id (JSONL numbered from 0) was replaced by a hash of the text, so two equal texts shared one id
    (tmp_path / "d.jsonl").write_text('{"id": 0, "text": "same"}\n{"id": 1, "text": "same"}\n{"text": "other"}\n')
    ids = [d["id"] for d in iter_documents(str(tmp_path / "d.jsonl"))]
    assert ids[:2] == ["0", "1"] and len(ids[2]) == 32
