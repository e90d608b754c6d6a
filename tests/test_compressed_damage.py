"""Compressed JSONL whose data stops decompressing (garbage after the last gzip member or zstd frame, a flipped
bit, a file named .gz that is not gzip): the lines before the damage are read, then one error row says where
reading stopped. zlib and zstandard raise from the call that meets the damage, and what that call and the
reader's buffer held went with it: a .jsonl.gz of 1,000 documents followed by junk read as 0 documents and 1
error row (schemas/io.py `CompressedFrames`, used by curate's and tokenize's JSONL readers)."""
from __future__ import annotations

import gzip
import io
import json

import pyarrow.parquet as pq
import pytest
import zstandard

from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import parse_recipe
from pipelines.jobs.tokenize import run_tokenize_job
from schemas.io import CompressedFrames, DamagedStream

DOCS = 1000


def _lines(prefix: str, count: int = DOCS) -> bytes:
    return b"".join(json.dumps({"id": f"{prefix}{i}", "text": f"the cat sat on the mat number {i}."}).encode()
                    + b"\n" for i in range(count))


def _read_all(frames: CompressedFrames) -> bytes:
    out = []
    while True:
        piece = frames.read(4096)
        if not piece:
            return b"".join(out)
        out.append(piece)


@pytest.mark.parametrize("kind, data", [
    ("gzip", gzip.compress(_lines("a")) + b"GARBAGE!" * 8),
    ("gzip", gzip.compress(_lines("a")[:DOCS * 20]) + gzip.compress(_lines("a")[DOCS * 20:]) + b"\x1f\x8bjunk"),
    ("zstd", zstandard.ZstdCompressor().compress(_lines("a")) + b"GARBAGE!" * 8),
])
def test_every_byte_before_the_damage_is_handed_out_then_the_damage_raises(kind, data):
    frames = CompressedFrames(io.BytesIO(data), kind)
    with pytest.raises(DamagedStream, match=f"the {kind} data is damaged"):
        handed = []
        while True:
            piece = frames.read(4096)
            if not piece:
                break
            handed.append(piece)
    assert b"".join(handed) == _lines("a")


def test_a_file_that_is_not_compressed_at_all_is_damaged_from_its_first_byte():
    with pytest.raises(DamagedStream, match="incorrect header check"):
        _read_all(CompressedFrames(io.BytesIO(_lines("a", 3)), "gzip"))


def _error_rows(out):
    return [r for f in sorted(out.glob("errors/*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_tokenize_keeps_the_documents_before_trailing_garbage(word_corpus, tmp_path):
    bad = tmp_path / "in" / "trailing.jsonl.gz"
    bad.parent.mkdir()
    bad.write_bytes(gzip.compress(_lines("t")) + b"not gzip at all")
    out = tmp_path / "out"
    result = run_tokenize_job(str(bad), str(word_corpus / "tok"), str(out), 64)
    assert result.manifest.totals.documents == DOCS  # before: 0 (the member's lines went with the exception)
    assert result.counters["in"] == DOCS + 1 and result.counters["errors"] == 1
    [row] = _error_rows(out)
    assert "gzip data is damaged" in row["error"] and row["input_path"].endswith("trailing.jsonl.gz")


def test_curate_keeps_the_documents_before_trailing_garbage(tmp_path):
    bad = tmp_path / "trailing.jsonl.zst"
    bad.write_bytes(zstandard.ZstdCompressor().compress(_lines("c")) + b"GARBAGE!")
    out = tmp_path / "out"
    report = run_curate([str(bad)], str(out), parse_recipe({}))
    read = report.stage("read")
    assert read.kept == DOCS and read.errors == 1, read  # before: kept 0
    assert all(stage.balanced for stage in report.stages)
    [row] = _error_rows(out)
    assert "zstd data is damaged" in row["error"]
