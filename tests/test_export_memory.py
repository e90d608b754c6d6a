"""`winnow export` and `winnow verify` on shards of one-token documents: memory that grows with the documents
only by what the export writes, and the bytes the megatron and llm.c formats define.

A row of one-token documents (`<|endoftext|>` alone) holds as many documents as tokens. The export writes 20
bytes of `.idx` a document; it held ~38 bytes a document more in whole-shard int64 temporaries (3 GB peak to
export a 67 MB shard of 33M documents) and verify 16 (1.6 GB). The memory checks compare tracemalloc's peak
(numpy's arrays are traced) over shards of two and of four `ARRAY_CHUNK`s of documents: how much it grows per
added document is exact and machine-independent, where a bound on a process's RSS is neither. Arrow's buffers
are not traced; the decode of a shard is checked by the Arrow pool's own high-water mark in a fresh process.
"""
from __future__ import annotations

import re
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import pytest

from pipelines.tools.export import export_shards
from pipelines.tools.verify import VerifyError, verify_shards
from schemas import MANIFEST_NAME
from schemas.shard_files import build_manifest, encode_shard, shard_info, shard_name, shard_table
from schemas.trainer_formats import ARRAY_CHUNK

REPO = Path(__file__).resolve().parents[1]
EOT, PAD, VOCAB = 0, 1, 100
ROW_LEN = 2048  # seq_len 2047
# the row whose segments straddle the end of the first chunk (row 0 has ROW_LEN - 1 segments, the others ROW_LEN - 2)
STRADDLING_ROW = (ARRAY_CHUNK - (ROW_LEN - 1)) // (ROW_LEN - 2) + 1


def _rows_for(documents: int) -> int:
    """Rows of `_one_token_shard` holding at least `documents` documents (segments)."""
    return documents // (ROW_LEN - 2) + 1


def _one_token_shard(root: Path, rows: int, damage: Optional[Tuple[str, int]] = None,
                     row_group_rows: int = 1024) -> Tuple[np.ndarray, np.ndarray]:
    """One Parquet shard (seq_len 2047, Winnow's writer) and its manifest. Every row but the last ends in the
    first piece [5, 6] of a document that packing split, whose last piece [7, <|endoftext|>] opens the next
    row; between them one-token documents. The last row ends in padding. `damage` (kind, row): "sum" makes the
    row's doc_lengths sum past the row, "zero" gives it a zero length, "tail" drops its last segment (the
    piece's tokens are then a non-pad tail). Returns what the megatron and llm.c files hold: the documents'
    lengths and their tokens back to back, each split piece ending in an appended <|endoftext|>."""
    root.mkdir(parents=True)
    tokens = np.full((rows, ROW_LEN), EOT, np.uint16)
    lengths, sizes, documents = [], [], []
    for r in range(rows):
        head = [2] if r else []
        if r:
            tokens[r, :2] = (7, EOT)
        if r < rows - 1:
            row = head + [1] * (ROW_LEN - 2 - 2 * len(head)) + [2]
            tokens[r, -2:] = (5, 6)
            sizes.append(row[:-1] + [3])
            documents += [tokens[r], np.array([EOT], np.uint16)]
        else:
            row = head + [1] * (ROW_LEN // 2)
            tokens[r, sum(row):] = PAD
            sizes.append(row)
            documents.append(tokens[r, :sum(row)])
        lengths.append(row)
    if damage is not None:
        kind, r = damage
        if kind == "sum":
            lengths[r][0] += 1
        elif kind == "zero":
            lengths[r][5] = 0
        else:
            lengths[r] = lengths[r][:-1]
    data = encode_shard(shard_table(tokens, lengths, ROW_LEN - 1, "uint16"), "parquet", row_group_rows)
    name = shard_name(0, 1, "parquet")
    (root / name).write_bytes(data)
    segments, non_pad = sum(len(row) for row in lengths), sum(sum(row) for row in lengths)
    manifest = build_manifest(
        [shard_info(name, data, rows, ROW_LEN)], (rows, rows * ROW_LEN, rows * ROW_LEN - non_pad, 4 * (rows - 1)),
        [("web", (segments - (rows - 1), non_pad))], seq_len=ROW_LEN - 1, dtype="uint16",
        tokenizer={"sha256": "0" * 64, "vocab_size": VOCAB, "special_ids": {"<|endoftext|>": EOT, "<|pad|>": PAD}},
        packing="best-fit", file_format="parquet", seed=0, with_doc_ids=False, versions={})
    (root / MANIFEST_NAME).write_text(manifest.dumps())
    return np.array([n for row in sizes for n in row], np.int64), np.concatenate(documents)


def _megatron_files(sizes: np.ndarray, tokens: np.ndarray) -> Tuple[bytes, bytes]:
    """(.bin, .idx) as megatron-core's IndexedDatasetBuilder writes uint16 documents: the tokens; header,
    version 1, dtype code 8, sequence and document counts, int32 sizes, int64 byte pointers, int64 0..n."""
    n = len(sizes)
    pointers = np.zeros(n, "<i8")
    pointers[1:] = np.cumsum(sizes[:-1]) * 2
    idx = (b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + struct.pack("<B", 8) + struct.pack("<Q", n)
           + struct.pack("<Q", n + 1) + sizes.astype("<i4").tobytes() + pointers.tobytes()
           + np.arange(n + 1, dtype="<i8").tobytes())
    return tokens.astype("<u2").tobytes(), idx


def _traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def one_token_shards(tmp_path_factory) -> Dict[int, Tuple[Path, np.ndarray, np.ndarray]]:
    """Shard directories of two and of four ARRAY_CHUNKs of documents, with the documents they hold."""
    root = tmp_path_factory.mktemp("one-token")
    return {k: (root / f"chunks{k}", *_one_token_shard(root / f"chunks{k}", _rows_for(k * ARRAY_CHUNK)))
            for k in (2, 4)}


def test_export_writes_the_bytes_megatron_and_llmc_define(one_token_shards, tmp_path):
    """Across several chunks of documents, with a split piece in every row: the files are those the formats
    define for the row segments, each piece ended by an appended <|endoftext|>, and verify accepts them."""
    shards, sizes, tokens = one_token_shards[2]
    stem = shard_name(0, 1, "parquet")[:-len(".parquet")]
    bin_bytes, idx_bytes = _megatron_files(sizes, tokens)
    m = export_shards(str(shards), "megatron", str(tmp_path / "megatron"))
    assert (tmp_path / "megatron" / f"{stem}.bin").read_bytes() == bin_bytes
    assert (tmp_path / "megatron" / f"{stem}.idx").read_bytes() == idx_bytes
    assert m["origin"]["eot_appended"] == _rows_for(2 * ARRAY_CHUNK) - 1  # one a split piece, one a row but the last
    export_shards(str(shards), "llmc", str(tmp_path / "llmc"))
    header = np.zeros(256, "<i4")
    header[:3] = (20240520, 1, tokens.size)
    assert (tmp_path / "llmc" / f"{stem}.bin").read_bytes() == header.tobytes() + bin_bytes
    for fmt in ("megatron", "llmc"):
        verify_shards(str(tmp_path / fmt))


def test_export_holds_its_tokens_and_under_8_bytes_a_document_more(one_token_shards, tmp_path):
    """Beyond the .bin it writes (a view of the shard's tokens), the export's peak grows by the int32 lengths of
    the pieces it ends (4 bytes a document): not by the .idx (20 bytes a document, written in pieces), nor by
    int64 copies of every document's length, pointer and index (~38 bytes more before)."""
    export_shards(str(one_token_shards[2][0]), "megatron", str(tmp_path / "warm"))  # first-call imports and caches
    beyond = {}
    for k, (shards, sizes, _) in one_token_shards.items():
        out = tmp_path / f"chunks{k}"
        peak = _traced_peak(lambda: export_shards(str(shards), "megatron", str(out)))
        tokens = sum(f.stat().st_size for f in out.iterdir() if f.suffix == ".bin")
        beyond[k] = (len(sizes), peak - tokens)
    (n2, extra2), (n4, extra4) = beyond[2], beyond[4]
    assert (extra4 - extra2) / (n4 - n2) < 8, beyond


def test_verify_memory_does_not_grow_with_the_documents(one_token_shards):
    """verify's numpy work over a shard's doc_lengths and tokens goes a chunk (a block of rows) at a time: its
    peak is the same for twice the documents (16 bytes a document more before: int64 cumsums and copies)."""
    verify_shards(str(one_token_shards[2][0]))
    peaks = {k: (len(sizes), _traced_peak(lambda: verify_shards(str(shards))))
             for k, (shards, sizes, _) in one_token_shards.items()}
    (n2, peak2), (n4, peak4) = peaks[2], peaks[4]
    assert (peak4 - peak2) / (n4 - n2) < 1, peaks


def test_a_shard_is_decoded_a_row_group_at_a_time(tmp_path):
    """The checks read a Parquet shard a row group at a time and combine the groups once: Arrow's pool peaks
    under 3x the table (the groups and their combination). Reading the whole file at once peaked at 6 to 8x
    (1.2 GB of Arrow buffers for a 192 MB table of 33M doc_lengths)."""
    rows = _rows_for(2 * ARRAY_CHUNK)
    sizes, _ = _one_token_shard(tmp_path / "shards", rows, row_group_rows=128)
    code = ("import sys, pyarrow as pa\n"
            "from schemas.shard_files import ShardTally, check_shard_content, read_manifest\n"
            "m = read_manifest(sys.argv[1])\n"
            "data = open(sys.argv[1] + '/' + m.shards[0].path, 'rb').read()\n"
            "check_shard_content(m, m.shards[0], data, ShardTally(m.seq_len + 1, False))\n"
            "print(pa.default_memory_pool().max_memory())\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "shards")], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = rows * ROW_LEN * 2 + 4 * len(sizes) + 4 * (rows + 1)  # tokens, doc_lengths (one a segment), offsets
    assert int(done.stdout) < 3 * table, (int(done.stdout), table)


@pytest.mark.parametrize("damage, message", [
    (("sum", STRADDLING_ROW), f"row {STRADDLING_ROW} has doc_lengths [3, 1, 1, "),  # summed over two chunks
    (("zero", 700), "row 700 has doc_lengths [2, 1, 1, 1, 1, 0, "),  # in the second chunk
    (("tail", 1000), "row 1000 has non-pad tokens after its documents end at 2046"),  # past the first row block
])
def test_verify_names_the_damaged_row_past_the_first_chunk(tmp_path, damage, message):
    _one_token_shard(tmp_path / "shards", _rows_for(2 * ARRAY_CHUNK), damage)
    with pytest.raises(VerifyError, match=re.escape(message)):
        verify_shards(str(tmp_path / "shards"))


def test_verify_of_a_megatron_export_reads_its_index_in_place(one_token_shards, tmp_path):
    """verify of a megatron export holds the files it reads (22 bytes a one-token document: .idx and .bin), not
    a second index built to compare with (20 bytes more) nor an int64 copy of the lengths (8 more); a pointer
    or document index off by one, past the first chunk, is still found."""
    from schemas.trainer_formats import megatron_index_consistent, read_megatron_index

    peaks = {}
    for k, (shards, sizes, _) in one_token_shards.items():
        export_shards(str(shards), "megatron", str(tmp_path / f"m{k}"))
        verify_shards(str(tmp_path / f"m{k}"))
        peaks[k] = (len(sizes), _traced_peak(lambda: verify_shards(str(tmp_path / f"m{k}"))))
    (n2, peak2), (n4, peak4) = peaks[2], peaks[4]
    assert (peak4 - peak2) / (n4 - n2) < 24, peaks
    idx = next((tmp_path / "m2").glob("*.idx")).read_bytes()
    dtype, lengths, pointers, documents = read_megatron_index(idx, "x.idx")
    assert megatron_index_consistent(lengths, pointers, documents, dtype)
    for array in (pointers, documents):
        bad = array.copy()
        bad[ARRAY_CHUNK + 5] += 1
        arrays = (bad, documents) if array is pointers else (pointers, bad)
        assert not megatron_index_consistent(lengths, *arrays, dtype)


def test_mds_export_writes_rows_from_views_of_the_lengths(one_token_shards, tmp_path):
    """MDS samples take each row's doc_lengths as a view of the shard's column, not a list of Python ints per
    row: the export's peak grows by ~3 times the 6 bytes a document it writes (26 bytes a document with the
    lists), and the samples decode to the rows' tokens and segments."""
    from schemas.trainer_formats import decode_mds_row, read_mds_shard

    peaks = {}
    for k, (shards, sizes, _) in one_token_shards.items():
        export_shards(str(shards), "mds", str(tmp_path / f"warm{k}"))
        peaks[k] = (len(sizes), _traced_peak(lambda: export_shards(str(shards), "mds", str(tmp_path / f"m{k}"))))
    (n2, peak2), (n4, peak4) = peaks[2], peaks[4]
    assert (peak4 - peak2) / (n4 - n2) < 20, peaks
    config, samples = read_mds_shard(next((tmp_path / "m2").glob("*.mds")).read_bytes(), "x.mds")
    rows = [decode_mds_row(sample, config, "uint16") for sample in samples]
    assert len(rows) == _rows_for(2 * ARRAY_CHUNK)
    assert rows[0][1].tolist() == [1] * (ROW_LEN - 2) + [2] and rows[1][1][:2].tolist() == [2, 1]
    assert rows[1][0][:2].tolist() == [7, EOT] and rows[-1][0][-1] == PAD
