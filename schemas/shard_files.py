"""Shard files on disk: the one writer, the one batch reader and the one set of content checks.

`winnow tokenize` writes shards with `shard_table` + `encode_shard`, names them `shard_name` and assembles
manifest.json with `build_manifest`; `verify`, `stats`, `lineage`, `inspect`
and the trainer read them with `ShardFile` and check them with `read_manifest`, `shard_location`,
`check_shard_content` and `check_totals`. Beam-free (numpy and pyarrow only) so that `training/` may import
it: callers that read `gs://` hand in bytes or an open file, a local path is opened here (Arrow IPC memory-mapped).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas.hashing import fmix64, polynomial_sums, powers64
from schemas.shards import (
    DOC_IDS, DOC_LENGTHS, EOT, FIX_RETOKENIZE, PAD, MANIFEST_NAME, TOKENS, Manifest, PackingStats, ShardError, ShardInfo,
    SourceTotals, TokenizerInfo, Totals, check_token_ids, local_shard_file, packing_problems, shard_schema, shown,
)
from schemas.trainer_formats import ARRAY_CHUNK, TRAINER_MANIFEST_FORMAT

FILE_FORMATS = {"parquet": "parquet", "arrow": "arrow"}  # --format -> file extension
DEFAULT_SHARD_MB = 64.0  # uncompressed token bytes per shard: 32M uint16 tokens, ~16k rows at seq_len 2048
# Rows per Parquet row group / Arrow record batch: a streaming reader holds one at a time, so a few MiB (512
# rows of 2049 uint16 at seq_len 2048) keeps its memory small while each read is still one large sequential
# range (zstd frames and page headers are amortised over MiBs, not KiBs).
DEFAULT_ROW_GROUP_MB = 4.0

FIX_TOKENIZE_DIR = "pass a directory `winnow tokenize` (or `winnow export`) wrote, and let that run finish (or re-run it)"


# -- writing -------------------------------------------------------------------------------------------------

def shard_table(tokens: np.ndarray, doc_lengths: Sequence[Sequence[int]], seq_len: int, dtype: str,
                doc_ids: Optional[Sequence[Sequence[str]]] = None) -> pa.Table:
    """The Table of one shard (explicit `shard_schema`): `tokens` holds the rows' ids, flat or (rows, seq_len + 1)."""
    schema = shard_schema(seq_len, dtype, doc_ids is not None)
    values = pa.array(np.ascontiguousarray(tokens, dtype=dtype).reshape(-1), type=schema.field(TOKENS).type.value_type)
    columns = [pa.FixedSizeListArray.from_arrays(values, type=schema.field(TOKENS).type),
               pa.array(doc_lengths, type=schema.field(DOC_LENGTHS).type)]
    if doc_ids is not None:
        columns.append(pa.array(doc_ids, type=schema.field(DOC_IDS).type))
    return pa.Table.from_arrays(columns, schema=schema)


def encode_shard(table: pa.Table, file_format: str, row_group_rows: int = 1024) -> bytes:
    """The bytes of one shard file (deterministic for the same table).

    Parquet: zstd, row groups of `row_group_rows`; no min/max statistics on the token column (useless for
    token ids, and they cost write time). Arrow: an uncompressed IPC *file* (random access footer) in record
    batches of `row_group_rows`, so `pa.memory_map` + `pa.ipc.open_file` reads it without copying.
    """
    if file_format not in FILE_FORMATS:
        raise ValueError(f"shard file format must be one of {sorted(FILE_FORMATS)}, got {file_format!r}")
    sink = io.BytesIO()
    if file_format == "arrow":
        with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=None)) as writer:
            writer.write_table(table, max_chunksize=row_group_rows)
    else:
        pq.write_table(table, sink, compression="zstd", row_group_size=row_group_rows,
                       write_statistics=[DOC_LENGTHS], use_dictionary=[DOC_IDS] if DOC_IDS in table.column_names else False)
    return sink.getvalue()


# Any shard file Winnow writes: token shards (Parquet, Arrow) and the trainer formats' files (.bin, .idx, .mds)
SHARD_FILE_NAME = re.compile(r"shard-\d+-of-\d+\.(?:parquet|arrow|bin|idx|mds)")


def shard_name(index: int, count: int, file_format: str) -> str:
    """`shard-00000-of-0000N.parquet`: the names of a shard set, which `-of-N` says is complete."""
    return f"shard-{index:05d}-of-{count:05d}.{FILE_FORMATS[file_format]}"


def shard_info(name: str, data: bytes, sequences: int, row_len: int) -> Dict[str, Any]:
    """The manifest entry (ShardInfo fields) of one shard file's bytes; `tokens` counts padding too."""
    return {"path": name, "sequences": sequences, "tokens": sequences * row_len, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def build_manifest(shard_infos: Iterable[Mapping[str, Any]], packing_totals: Sequence[int],
                   sources: Iterable[Tuple[str, Tuple[int, int]]], *, seq_len: int, dtype: str,
                   tokenizer: Mapping[str, Any], packing: str, file_format: str, seed: int, with_doc_ids: bool,
                   versions: Mapping[str, str], mixture: Optional[Mapping[str, Any]] = None) -> Manifest:
    """The Manifest of a finished shard set, from what the job counted: every shard's ShardInfo dict (any
    order; listed by path), the packing plan's (rows, tokens, pad, truncated tokens) totals (empty for no
    documents), and (source, (documents, tokens)) per source. `totals.non_pad_tokens` = tokens - pad, which
    equals the sum of the sources' tokens; `packing.pad_fraction` = pad / tokens, `truncated_fraction` =
    truncated / non-pad tokens (0.0 when there are none). `mixture`: the manifest's mixture entry, when the
    shards were made from a mixture (`tokenizer.mixture.mixture_manifest`)."""
    rows, tokens, pad, truncated = tuple(packing_totals or ()) or (0, 0, 0, 0)
    non_pad = tokens - pad
    source_totals = {name: SourceTotals(documents=c[0], tokens=c[1]) for name, c in sorted(sources)}
    return Manifest(
        seq_len=seq_len, dtype=dtype, tokenizer=TokenizerInfo(**tokenizer),
        packing=PackingStats(method=packing, pad_fraction=pad / tokens if tokens else 0.0,
                             truncated_fraction=truncated / non_pad if non_pad else 0.0),
        totals=Totals(documents=sum(s.documents for s in source_totals.values()), sequences=rows,
                      tokens=tokens, non_pad_tokens=non_pad),
        sources=source_totals, shards=[ShardInfo(**s) for s in sorted(shard_infos, key=lambda s: s["path"])],
        file_format=file_format, seed=seed, with_doc_ids=with_doc_ids, versions=dict(versions),
        mixture=dict(mixture) if mixture is not None else None,
    )


# -- reading -------------------------------------------------------------------------------------------------

Source = Union[str, bytes, bytearray, memoryview, pa.Buffer, BinaryIO]


class ShardFile:
    """One shard, read a batch (Parquet row group or Arrow record batch) at a time.

    `source` is a local path (an Arrow file is memory-mapped: its batches are zero-copy views of the page
    cache), the file's bytes, or an open binary file (Arrow: read into memory once; Parquet: read per group).
    """

    def __init__(self, source: Source, file_format: str):
        if file_format not in FILE_FORMATS:
            raise ValueError(f"shard file format {file_format!r} is not one of {sorted(FILE_FORMATS)}")
        self.file_format = file_format
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = pa.py_buffer(source)
        if file_format == "arrow":
            if isinstance(source, str):
                handle = pa.memory_map(source, "r")
            elif isinstance(source, pa.Buffer):
                handle = pa.BufferReader(source)
            else:
                handle = pa.BufferReader(pa.py_buffer(source.read()))
            self._ipc = pa.ipc.open_file(handle)
            self.schema = self._ipc.schema
            self.batch_rows: List[int] = [self._ipc.get_batch(i).num_rows for i in range(self._ipc.num_record_batches)]
        else:
            self._pf = pq.ParquetFile(pa.BufferReader(source) if isinstance(source, pa.Buffer) else source)
            self.schema = self._pf.schema_arrow
            md = self._pf.metadata
            self.batch_rows = [md.row_group(i).num_rows for i in range(md.num_row_groups)]

    @property
    def num_rows(self) -> int:
        return sum(self.batch_rows)

    def _present(self, columns: Optional[Sequence[str]]) -> List[str]:
        """The asked-for columns this file has (a column a shard lacks, e.g. doc_ids, is simply not read)."""
        return list(self.schema.names) if columns is None else [c for c in columns if c in self.schema.names]

    def read_batch(self, i: int, columns: Optional[Sequence[str]] = None) -> pa.RecordBatch:
        """Batch `i` (row group or record batch) with only `columns`, as one contiguous RecordBatch."""
        present = self._present(columns)
        if self.file_format == "arrow":
            return self._ipc.get_batch(i).select(present)
        return _one_batch(self._pf.read_row_group(i, columns=present))

    def iter_batches(self, columns: Optional[Sequence[str]] = None):
        for i in range(len(self.batch_rows)):
            yield self.read_batch(i, columns)

    def read_all(self, columns: Optional[Sequence[str]] = None) -> pa.Table:
        if self.file_format == "arrow":
            return self._ipc.read_all().select(self._present(columns))
        return self._pf.read(columns=self._present(columns))


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    # A row group reads as one chunk per column, so combine_chunks keeps the buffers (no copy).
    batches = table.combine_chunks().to_batches()
    if len(batches) == 1:
        return batches[0]
    return pa.RecordBatch.from_arrays([pa.concat_arrays(c.chunks) if c.num_chunks else pa.array([], c.type)
                                       for c in table.columns], schema=table.schema)


def flat_values(array: pa.Array) -> np.ndarray:
    """The child values of a (fixed-size) list array as a zero-copy numpy view (shards hold no nulls).

    `Array.to_numpy` on these children measured ~0.3 s per 2M uint16 values here; a view of the buffer is free.
    """
    values = array.flatten()
    dtype = np.dtype(values.type.to_pandas_dtype())
    if not len(values):
        return np.zeros(0, dtype)
    return np.frombuffer(values.buffers()[1], dtype=dtype, count=len(values), offset=values.offset * dtype.itemsize)


# -- the shards directory ------------------------------------------------------------------------------------

def shard_location(shards_dir: str, path: str) -> str:
    """Where to read shard `path`: a local file must resolve inside the directory (symbolic links included);
    a remote one (`scheme://`) is joined with `/`."""
    if "://" in shards_dir:
        return shards_dir.rstrip("/") + "/" + path
    return local_shard_file(shards_dir, path)


def read_manifest(shards_dir: str, read: Optional[Callable[[str], bytes]] = None) -> Manifest:
    """The manifest of `shards_dir`, read with `read(path) -> bytes` (default: a local file); a missing or
    malformed manifest raises ShardError naming it."""
    path = shards_dir.rstrip("/") + "/" + MANIFEST_NAME if "://" in shards_dir else os.path.join(shards_dir, MANIFEST_NAME)
    try:
        data = read(path) if read is not None else _read_local(path)
    except FileNotFoundError as exc:
        if "://" not in shards_dir and not os.path.isdir(shards_dir):
            raise ShardError("no such directory", path=shards_dir, fix=FIX_TOKENIZE_DIR) from exc
        raise ShardError(f"no {MANIFEST_NAME} in {shards_dir}: the run did not complete (or this is not a "
                         f"`winnow tokenize` or `winnow export` output directory)", path=shards_dir, fix=FIX_TOKENIZE_DIR) from exc
    try:
        raw = json.loads(data)
        if isinstance(raw, dict) and raw.get("format") == TRAINER_MANIFEST_FORMAT:
            raise ShardError(f"{shards_dir} holds a trainer's format ({raw.get('file_format')}), which this command "
                             f"does not read", path=path, fix="pass the token shards (Parquet or Arrow) `winnow "
                             "tokenize` wrote; `winnow verify` and `winnow stats` read both")
        manifest = Manifest.from_json(raw)
        if manifest.file_format not in FILE_FORMATS:
            raise ValueError(f"file_format is {shown(manifest.file_format)}, not one of {', '.join(FILE_FORMATS)}")
        return manifest
    except ShardError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise ShardError(f"not a valid manifest: {exc}", path=path, fix=FIX_TOKENIZE_DIR) from exc


def _read_local(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# -- content checks (`winnow verify`) --------------------------------------------------------------------------

# Documents tracked by id to count the tokens of split ones exactly; beyond this the segment bounds are used.
MAX_TRACKED_DOC_IDS = 20_000_000


_ID_BASE, _ID_LENGTH_MULT = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F  # odd constants (golden ratio, murmur's)


def string_hashes64(strings: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string of an Arrow string array (no nulls), computed over its UTF-8 buffer in numpy
    (a polynomial over the bytes, then fmix64): no Python object per string."""
    if strings.type != pa.large_string():
        strings = strings.cast(pa.large_string())
    n = len(strings)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[strings.offset:strings.offset + n + 1]
    data = strings.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    data = data[offsets[0]:offsets[-1]]
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    sums = polynomial_sums(data, starts, lengths, powers64(_ID_BASE, int(lengths.max())))
    with np.errstate(over="ignore"):
        return fmix64(sums + lengths.astype(np.uint64) * np.uint64(_ID_LENGTH_MULT))


class ShardTally:
    """What the shards hold, summed over all of them, for the totals and packing checks. Document ids (with
    `track_ids`) are tallied by a 64-bit hash of the id (`string_hashes64`; a collision among 20M ids has odds
    near 1e-5): sorted distinct hashes with their segment and token counts, ~24 bytes a document. A Python dict
    of id -> [segments, tokens] held ~170 bytes a document (2 GB for 8.2M documents in `winnow verify`, per
    worker with `--workers`)."""

    _COMPACT_EVERY = 1 << 22  # segments gathered before they are folded into the per-document counts

    def __init__(self, row_len: int, track_ids: bool, max_ids: int = MAX_TRACKED_DOC_IDS):
        self.row_len, self.max_ids = row_len, max_ids
        self.sequences = self.tokens = self.non_pad = 0
        self.document_ends = 0  # <|endoftext|> tokens: tokenize ends each document with one, and writes no other
        self.segments_by_length = np.zeros(row_len + 1, dtype=np.int64)
        self.tracking = track_ids
        empty = np.zeros(0, dtype=np.int64)
        self._docs = (np.zeros(0, dtype=np.uint64), empty, empty)  # distinct id hashes, segments, tokens
        self._pending: List[Tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_count = 0

    def add_segments(self, lengths: np.ndarray) -> None:
        """The doc_lengths of some rows, flat (clipped to the row: a damaged shard is reported, not a crash)."""
        self.segments_by_length += np.bincount(np.clip(np.asarray(lengths, dtype=np.int64), 0, self.row_len),
                                               minlength=self.row_len + 1)

    def add_ids(self, ids: Any, lengths: Any) -> None:
        """Segments' document ids (an Arrow string array, or a list) and their lengths in tokens."""
        if not self.tracking:
            return
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        if not isinstance(ids, pa.Array):
            ids = pa.array(list(ids), pa.large_string())
        hashes = string_hashes64(ids)
        self._add(hashes, np.ones(len(hashes), dtype=np.int64), np.asarray(lengths, dtype=np.int64))

    def _add(self, hashes: np.ndarray, segments: np.ndarray, tokens: np.ndarray) -> None:
        self._pending.append((hashes, segments, tokens))
        self._pending_count += len(hashes)
        if self._pending_count >= self._COMPACT_EVERY:
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        parts = [self._docs] + self._pending
        hashes = np.concatenate([p[0] for p in parts])
        keys, inverse = np.unique(hashes, return_inverse=True)
        segments = np.bincount(inverse, weights=np.concatenate([p[1] for p in parts]), minlength=len(keys))
        tokens = np.bincount(inverse, weights=np.concatenate([p[2] for p in parts]), minlength=len(keys))
        self._docs = (keys, segments.astype(np.int64), tokens.astype(np.int64))
        self._pending, self._pending_count = [], 0
        if len(keys) > self.max_ids:  # past the cap, documents are not counted by id
            self.tracking = False
            self._docs = (np.zeros(0, dtype=np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def merge(self, other: "ShardTally") -> None:
        """Adds what `other` counted (the tally of shards checked in another process: `winnow export --workers`)."""
        self.sequences += other.sequences
        self.tokens += other.tokens
        self.non_pad += other.non_pad
        self.document_ends += other.document_ends
        self.segments_by_length += other.segments_by_length
        if not (self.tracking and other.tracking):
            self.tracking = False
            return
        other._compact()
        if other.tracking:
            self._add(*other._docs)
        else:
            self.tracking = False

    def document_tokens(self) -> Optional[np.ndarray]:
        """Tokens of each distinct document id, or None when ids are not tracked."""
        self._compact()
        return self._docs[2] if self.tracking else None

    def truncated_tokens(self, documents: int) -> Optional[int]:
        """Tokens of documents in two or more segments, when every document has its own id."""
        self._compact()
        keys, segments, tokens = self._docs
        if not self.tracking or len(keys) != documents:
            return None
        return int(tokens[segments > 1].sum())


class RowLengths:
    """The doc_lengths of a shard's rows as flat numpy arrays: `flat` (every segment's length, row after row),
    `counts` (segments per row) and `sums` (tokens per row). A list of Python ints per row held ~100 bytes a
    segment (3.2 GB for one shard of 1-token documents in `winnow export`, again in its MDS samples); `views()`
    gives them per row, as views of `flat`, where a writer needs them (MDS samples). Only `flat` has an entry
    per segment, a view of the column's buffer."""

    def __init__(self, column: Optional[pa.Array] = None):
        if column is None or len(column) == 0:
            self.flat, self.counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            self.flat = flat_values(column)  # int32, a view of the column's buffer
            self.counts = pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
        ends = np.cumsum(self.counts)
        self.starts = ends - self.counts
        self.sums = np.diff(prefix_sums_at(self.flat, ends), prepend=0)

    def __len__(self) -> int:
        return len(self.counts)

    def row(self, i: int) -> List[int]:
        return self.flat[self.starts[i]:self.starts[i] + self.counts[i]].tolist()

    def views(self) -> List[np.ndarray]:
        """Each row's doc_lengths, a view of `flat` (the MDS writer's per-row arrays)."""
        return [self.flat[s:s + c] for s, c in zip(self.starts.tolist(), self.counts.tolist())]


def prefix_sums_at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`values[:p].sum()` (int64) for each of the sorted `positions`, summed `ARRAY_CHUNK` values at a time:
    a cumsum over a whole shard's doc_lengths was an int64 copy of 8 bytes a segment (twice, concatenated)."""
    out = np.zeros(len(positions), np.int64)
    total = 0
    for a in range(0, len(values), ARRAY_CHUNK):
        csum = np.cumsum(values[a:a + ARRAY_CHUNK], dtype=np.int64)
        csum += total
        lo, hi = np.searchsorted(positions, (a, a + len(csum)), side="right")
        out[lo:hi] = csum[positions[lo:hi] - a - 1]
        total = int(csum[-1])
    return out


def row_blocks(rows: int, row_len: int) -> Iterator[slice]:
    """Consecutive slices of `rows` rows of `row_len` tokens, each about `ARRAY_CHUNK` tokens (at least one
    row): the per-token masks of the checks, one block at a time instead of a byte a token of the whole shard."""
    step = max(1, ARRAY_CHUNK // row_len)
    return (slice(a, min(a + step, rows)) for a in range(0, rows, step))


def row_layout_problems(name: str, tokens: np.ndarray, lengths: "RowLengths", row_len: int, pad_id: Optional[int],
                        start: int = 0) -> Iterator[Tuple[str, str]]:
    """verify's checks of packed rows (`tokens`, rows x row_len) against their doc_lengths, lazily and in this
    order: ("lengths", ...) for the first row whose doc_lengths are not positive lengths summing to at most the
    row, ("padding", ...) for the first row with a non-pad token after its documents. `start` is the first
    row's number in the shard. verify raises the first; `winnow stats` reports the first of each kind."""
    sums = lengths.sums
    bad = (lengths.counts == 0) | (sums > row_len)
    if lengths.flat.size and lengths.flat.min() <= 0:  # the mask of the bad segments only when there is one
        bad[np.searchsorted(lengths.starts + lengths.counts, np.flatnonzero(lengths.flat <= 0), side="right")] = True
    if bad.any():
        i = int(np.argmax(bad))
        yield "lengths", (f"{name}: row {start + i} has doc_lengths {lengths.row(i)} (need positive lengths summing "
                          f"to at most {row_len})")
    if pad_id is not None and tokens.size:  # masks over blocks of rows, not a slice per row (export runs this too)
        rows = tokens.reshape(-1, row_len)
        for block in row_blocks(len(rows), row_len):
            tails = (np.arange(row_len)[None, :] >= sums[block, None]) & (rows[block] != pad_id)
            found = tails.any(axis=1)
            if found.any():
                i = block.start + int(np.argmax(found))
                yield "padding", f"{name}: row {start + i} has non-pad tokens after its documents end at {sums[i]}"
                return


def doc_ids_problem(name: str, doc_ids: Any, length_counts: np.ndarray, start: int = 0) -> Optional[str]:
    """Where rows of `doc_ids` (a list column) do not hold one id per doc_lengths entry (`length_counts`, per
    row): the first such row, in verify's words; None when they all do. `start` is the first row's number."""
    id_counts = pc.list_value_length(doc_ids).to_numpy(zero_copy_only=False)
    if np.array_equal(id_counts, length_counts):
        return None
    i = int(np.argmax(id_counts != length_counts))
    return f"{name}: row {start + i} has {id_counts[i]} doc_ids for {length_counts[i]} doc_lengths"


def check_shard_content(manifest: Manifest, shard: ShardInfo, data: bytes,
                        tally: ShardTally) -> Tuple[pa.Table, np.ndarray, RowLengths]:
    """One shard's bytes against the manifest: schema, row and token counts, token ids below vocab_size,
    doc_lengths positive and within the row, padding after them, doc_ids one per segment; adds to `tally`.
    Returns what it read, checked: the table, its tokens (rows x (seq_len + 1)) and its doc_lengths."""
    name = shard.path
    try:
        shard_file = ShardFile(data, manifest.file_format)
        # a row group (record batch) at a time, then one chunk per column: Parquet's read of the whole file at
        # once peaked at 6x the table in Arrow buffers (1.2 GB for a shard of 33M one-token documents)
        table = pa.Table.from_batches(list(shard_file.iter_batches()), shard_file.schema).combine_chunks()
    except Exception as exc:
        raise ShardError(f"cannot be read as {manifest.file_format} ({exc})", path=name, fix=FIX_RETOKENIZE) from exc
    pa.default_memory_pool().release_unused()  # the batches' pages, which the pool keeps for reuse otherwise
    problems = shard_problems(manifest, shard, table.num_rows, table.schema)
    if problems:
        raise ShardError(problems[0])
    row_len = manifest.seq_len + 1
    tally.sequences += shard.sequences
    tally.tokens += shard.tokens
    if table.num_rows == 0:
        return table, np.zeros((0, row_len), np.dtype(manifest.dtype)), RowLengths()
    # each column is one chunk now (combine_chunks on a column would copy it again)
    tokens = flat_values(table.column(TOKENS).chunk(0)).reshape(-1, row_len)
    top = int(tokens.max())
    if top >= manifest.tokenizer.vocab_size:
        check_token_ids(top, manifest.tokenizer.vocab_size, name,
                        row=int(np.argmax(tokens.max(axis=1) >= manifest.tokenizer.vocab_size)))
    pad_id = manifest.tokenizer.special_ids[PAD]
    lengths = RowLengths(table.column(DOC_LENGTHS).chunk(0))
    sums = lengths.sums
    for _kind, problem in row_layout_problems(name, tokens, lengths, row_len, pad_id):
        raise ShardError(problem)
    for a in range(0, lengths.flat.size, ARRAY_CHUNK):  # bincount's int64 copy of the lengths, a chunk at a time
        tally.add_segments(lengths.flat[a:a + ARRAY_CHUNK])
    if manifest.with_doc_ids:
        ids = table.column(DOC_IDS).chunk(0)
        problem = doc_ids_problem(name, ids, lengths.counts)
        if problem:
            raise ShardError(problem)
        tally.add_ids(ids.flatten(), lengths.flat)
    tally.non_pad += int(sums.sum())
    eot_id = manifest.tokenizer.special_ids.get(EOT)
    if eot_id is not None:
        tally.document_ends += sum(int(np.count_nonzero(tokens[block] == eot_id))
                                   for block in row_blocks(len(tokens), row_len))
    return table, tokens, lengths


def row_width_problem(width: Optional[int], seq_len: int) -> str:
    """What is wrong when a shard's rows hold `width` ids and its manifest says `seq_len` (a hand-edited one)."""
    return f"rows hold {width} token ids, and the manifest's seq_len {seq_len} needs {seq_len + 1}"


def shard_problems(manifest: Manifest, shard: ShardInfo, num_rows: int, schema: pa.Schema) -> List[str]:
    """What is wrong with one shard file's schema and row count, given the manifest's entry for it."""
    problems, name, row_len = [], shard.path, manifest.seq_len + 1
    expected = shard_schema(manifest.seq_len, manifest.dtype, manifest.with_doc_ids)
    if not schema.equals(expected, check_metadata=False):
        width = schema.field(TOKENS).type.list_size if TOKENS in schema.names and hasattr(
            schema.field(TOKENS).type, "list_size") else None
        if width is not None and width != row_len:  # the common case, said plainly
            problems.append(f"{name}: {row_width_problem(width, manifest.seq_len)}")
        else:
            def one_line(s: pa.Schema) -> str:
                return "; ".join(" ".join(line.split()) for line in s.to_string(show_schema_metadata=False).splitlines())

            problems.append(f"{name}: schema is {one_line(schema)!r}, expected {one_line(expected)!r} "
                            f"(seq_len {manifest.seq_len}, {manifest.dtype})")
    if num_rows != shard.sequences:
        problems.append(f"{name}: {num_rows} sequences, manifest says {shard.sequences}")
    if num_rows * row_len != shard.tokens:
        problems.append(f"{name}: {num_rows * row_len} tokens, manifest says {shard.tokens}")
    return problems


def totals_problems(manifest: Manifest, tally: ShardTally) -> List[str]:
    """What is wrong with the manifest's totals and per-source figures, given what the shards hold (`tally`).
    The documents are counted in the shards by their <|endoftext|>: tokenize ends every document with it and
    encodes no other (a document's text that spells it is encoded as text), so a raised `documents` or a wrong
    `special_ids` entry does not describe the shards."""
    t = manifest.totals
    eot_id = manifest.tokenizer.special_ids[EOT]
    return [f"{MANIFEST_NAME}: {what} add up to {got} over the shards, totals say {want}"
            for what, got, want in (("sequences", tally.sequences, t.sequences), ("tokens", tally.tokens, t.tokens),
                                    ("non_pad_tokens", tally.non_pad, t.non_pad_tokens),
                                    ("source tokens", sum(s.tokens for s in manifest.sources.values()), t.non_pad_tokens),
                                    ("source documents", sum(s.documents for s in manifest.sources.values()), t.documents),
                                    (f"documents (counted by their {EOT}, id {eot_id})", tally.document_ends, t.documents))
            if got != want]


def tally_packing_problems(manifest: Manifest, tally: ShardTally) -> List[str]:
    """`packing_problems` of the manifest, given what the shards hold (`tally`)."""
    return packing_problems(manifest, tally.segments_by_length.tolist(), tally.truncated_tokens(manifest.totals.documents))


def check_totals(manifest: Manifest, tally: ShardTally) -> None:
    """The manifest's totals, per-source figures and packing against what the shards hold (`tally`)."""
    problems = totals_problems(manifest, tally)
    if problems:
        raise ShardError(problems[0])
    problems = tally_packing_problems(manifest, tally)
    if problems:
        raise ShardError(f"{problems[0]}", path=MANIFEST_NAME,
                         fix="the manifest does not describe these shards: re-run `winnow tokenize`")


def unlisted_shards(manifest: Manifest, names: Sequence[str]) -> List[str]:
    """The shard file names in the directory that the manifest does not list (a stale or mixed run), sorted."""
    listed = {s.path for s in manifest.shards}
    return sorted(set(names) - listed)

