"""The composites of `winnow tokenize` (the job that puts them together: `pipelines.jobs.tokenize`): documents ->
token ids -> packed rows -> shuffled shards + manifest.json.

Steps (each a composite named as a verb; the work they wire is Beam-free: `tokenizer.encode`,
`tokenizer.pack`, `tokenizer.pack_groups`, `schemas.shard_files`):

- `ReadDocuments`: Parquet (columns id, source, text) row group by row group, the groups listed from the
  footers and spread over the workers, or JSONL in byte ranges (plain files; a compressed file is one range)
  read by curate's bounded line reader (`pipelines.ingest.readers.iter_bounded_lines`), so gs:// works and every
  worker reads its share; a line over the cap or one that is not a JSON object is counted as an error and
  becomes an error row with its file and byte offset. The footers and listings also give the input's text bytes.
- `EncodeDocuments`: batches of documents (`BatchElements`) encoded by a tokenizer loaded once per worker
  process in `setup()` (`tokenizer.encode.tokenizer_handle`): `--encoder auto` (default) is tiktoken built from the same vocabulary when the package
  is importable and the tokenizer is one it encodes with identical ids (checked, else the handle refuses it),
  HF tokenizers otherwise; `hf` and `tiktoken` force one. Same ids, so the same shards and manifest byte for
  byte whichever runs (the encoder used is logged, not recorded); tiktoken costs several times less CPU. Each document's ids get `<|endoftext|>` appended and travel
  on as bytes of the shard dtype (uint16 when the vocabulary fits). Counters `winnow.tokenize/{in,kept,errors,
  dropped_empty}`; a batch the tokenizer fails on is retried one document at a time
  (`pipelines.transforms.stages.batch_then_one_by_one`), so a document that fails to encode is one counted error and one
  row of `errors/` (ERRORS_SCHEMA, beside the shards, written only when some record failed), never a failed job.
- `PackSequences`: every document goes to a packing group by a hash of (seed, id) -- the global document
  shuffle; the number of groups comes from the input's text bytes at `TEXT_BYTES_PER_TOKEN` (a side input
  known before encoding, so encoded documents go straight to their group) so that a group holds about
  `rows_per_group` rows, which bounds the memory of one GroupByKey value whatever the corpus size. Inside a
  group documents are put in a total order (by id for best-fit, by hash of (seed, id) for concat), planned on
  lengths (`tokenizer.pack_groups` over `tokenizer.pack`: best-fit decreasing, or concatenate-and-chunk) and copied into a numpy row matrix
  one segment at a time. Documents longer than a row are split into row-sized pieces, never cut. Rows are
  keyed `group:index`. The same plan is first made on (id, length) pairs alone: its row count gives the shard
  count ceil(rows / rows per shard) (`--rows-per-shard`, or `--shard-mb` MiB of uncompressed tokens, default
  64) before any token is packed, so the packer sends each row straight to its shard, by a hash of (seed, row
  key) -- the global row shuffle.
- `WriteShards`: one group-by on the shard; inside a shard rows are sorted by that hash. Each shard is built in
  memory, hashed, and written through Beam FileSystems as `shard-00000-of-0000N.parquet` (zstd, explicit
  `shard_schema`, row groups of `--row-group-mb`, default 4 MiB = 1,023 uint16 rows at seq_len 2048) or `.arrow`
  (uncompressed Arrow IPC *file*, record batches of the same size, memory-mappable without copying).
- `WriteManifest`: waits for every shard's ShardInfo (combiners.ToList), writes the shards no row hashed to
  (empty, so that the names `-of-N` always form a full set), then `manifest.json` (`schemas.shard_files.build_manifest`); a run that did not finish has
  no manifest, which `winnow verify` reports.

Nothing depends on bundle boundaries, worker count or timing, so shards and manifest are byte-identical
across runs and `--workers`. A shard's `tokens` in the manifest is sequences x (seq_len + 1), padding included;
`totals.non_pad_tokens` equals the sum of `sources[*].tokens` (document tokens plus one eot each).
`packing.truncated_fraction` = tokens of documents that end up in two or more rows / non-pad tokens. Its floor
is the tokens of documents longer than a row (every method must split those): best-fit reaches it exactly,
concat adds every short document that straddles a row boundary. `packing.pad_fraction` = pad / all tokens.

Scaling: encoding is embarrassingly parallel; the group-bys of tokens are bounded by rows_per_group and
rows per shard, the plan's by the ids and lengths of one group (a 3-billion-document snapshot of ~1.5T tokens
at seq_len 2048 gives ~90k groups and ~23k shards of 32M tokens); only the shard infos (one small dict per
shard) meet in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import AsList, AsSingleton, TaggedOutput

from pipelines.runtime.files import read_bytes, write_bytes
from pipelines.ingest.inputs import JSONL_EXTENSIONS, PARQUET_EXTENSIONS, REPLACED_INVALID_UTF8, not_a_regular_file
from pipelines.ingest.readers import (MAX_LINE_BYTES, decode_jsonl_line, input_id, iter_bounded_lines, jsonl_compression,
                                      jsonl_object, jsonl_text, line_too_long, open_jsonl, valid_utf8)
from pipelines.transforms.stages import ERRORS, StageCounters, batch_then_one_by_one, error_output, metrics_namespace
from schemas import ID, INPUT_OFFSET, INPUT_PATH, MANIFEST_NAME, SOURCE, TEXT
from schemas import shard_files
from schemas.io import GLOB_CHARS, complete_document, fallback_source_of, parquet_text_problem
from schemas.shard_files import (
    DEFAULT_ROW_GROUP_MB, DEFAULT_SHARD_MB, FILE_FORMATS, build_manifest, shard_info, shard_name,
)
from schemas.trainer_formats import TRAINER_FORMATS
from tokenizer.encode import ENCODERS, tokenizer_file, tokenizer_handle
from tokenizer.pack import METHODS
from tokenizer.pack_groups import (
    pack_group, packing_group, plan_group, row_shard, shard_count, sum_counts,
)
from tokenizer.mixture import (
    MixtureSpec, add_entry, copy_id, histogram_entry, merge_histograms, mixture_manifest, plan_mixture,
    selection_bucket,
)
from tokenizer.train import sample_hash

log = logging.getLogger(__name__)

STAGE = "tokenize"
NAMESPACE = metrics_namespace(STAGE)
MAX_SEQ_LEN = 1 << 22  # 4,194,304 tokens a row: past the longest contexts trained; a typo beyond it took gigabytes
ERRORS_DIR = ERRORS  # <output>/errors/*.parquet: the documents and lines that failed, one row each
DEFAULT_ROWS_PER_GROUP = 8192
STATS = "stats"
DUPLICATE_IDS = "duplicate_ids"  # counter: documents packed under an id another input document has
# JSONL files are read in ranges of at most this many bytes, the unit that workers share (Parquet files are
# shared by row group). On the local runner, where the input is listed before the job starts, ranges are made
# smaller still so that each of the `--workers` gets about RANGES_PER_WORKER of them: the runner hands whole
# ranges to workers, so a few large ones leave a worker idle.
READ_BUNDLE_BYTES = 16 * 2 ** 20
MIN_READ_BUNDLE_BYTES = 256 * 2 ** 10
RANGES_PER_WORKER = 8


@dataclass(frozen=True)
class TokenizeConfig:
    output_dir: str
    seq_len: int
    packing: str = "best-fit"
    seed: int = 0
    file_format: str = "parquet"
    doc_ids: bool = False
    rows_per_group: int = DEFAULT_ROWS_PER_GROUP
    rows_per_shard: Optional[int] = None
    shard_mb: float = DEFAULT_SHARD_MB
    row_group_mb: float = DEFAULT_ROW_GROUP_MB
    batch_size: int = 256
    encoder: str = "auto"
    encode_threads: int = 1

    @property
    def row_len(self) -> int:
        return self.seq_len + 1

    def row_bytes(self, dtype: str) -> int:
        return self.row_len * np.dtype(dtype).itemsize

    def shard_rows(self, dtype: str) -> int:
        """Rows per shard: `rows_per_shard` when given, else as many rows as fit in `shard_mb` (uncompressed)."""
        return self.rows_per_shard or max(1, int(self.shard_mb * 2 ** 20) // self.row_bytes(dtype))

    def row_group_rows(self, dtype: str) -> int:
        return max(1, int(self.row_group_mb * 2 ** 20) // self.row_bytes(dtype))

    def validate(self) -> None:
        if self.seq_len < 1:
            raise ValueError(f"--seq-len must be positive, got {self.seq_len}")
        if self.seq_len > MAX_SEQ_LEN:  # every row holds seq_len + 1 tokens, padding included, in memory
            raise ValueError(f"--seq-len {self.seq_len:,} is over {MAX_SEQ_LEN:,} tokens a row: choose the "
                             f"training context length (e.g. 2048 or 8192)")
        if self.packing not in METHODS:
            raise ValueError(f"--packing must be one of {METHODS}, got {self.packing!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"--encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.encode_threads < 1:
            raise ValueError(f"--encode-threads must be at least 1, got {self.encode_threads}")
        if self.file_format not in FILE_FORMATS and self.file_format not in TRAINER_FORMATS:
            raise ValueError(f"--format must be one of {sorted(FILE_FORMATS) + list(TRAINER_FORMATS)}, "
                             f"got {self.file_format!r}")
        if self.rows_per_group < 1 or (self.rows_per_shard is not None and self.rows_per_shard < 1):
            raise ValueError("rows_per_group and rows_per_shard must be positive")
        if self.shard_mb <= 0 or self.row_group_mb <= 0:
            raise ValueError(f"--shard-mb and --row-group-mb must be positive, got {self.shard_mb}, {self.row_group_mb}")


def read_bundle_bytes(total_bytes: int, workers: int) -> int:
    """Range size for `total_bytes` of input shared by `workers`: about RANGES_PER_WORKER ranges each, between
    MIN_READ_BUNDLE_BYTES (a range is a file open and a footer read) and READ_BUNDLE_BYTES."""
    if total_bytes <= 0:
        return READ_BUNDLE_BYTES
    share = total_bytes // (RANGES_PER_WORKER * max(1, int(workers)))
    return int(min(READ_BUNDLE_BYTES, max(MIN_READ_BUNDLE_BYTES, share)))


def parse_jsonl_document(file_name: str, line: str) -> Optional[Tuple[Dict[str, Any], bool]]:
    """The document of one JSONL line (None for a blank line) and whether its text held a lone surrogate escape,
    replaced by U+FFFD; a line that is no document raises, naming why."""
    if not line.strip():
        return None
    record = jsonl_object(line)  # checked as curate reads it: no `text` is an error row, `"text": null` an
    jsonl_text(record)            # empty document (dropped, reason empty), as a Parquet null is
    fallback_source = fallback_source_of(file_name.rstrip("/"))
    # a lone surrogate (the JSON escape \ud800) cannot be serialised between steps and would fail the whole job:
    # U+FFFD instead, as curate's JSONL reader does
    values = {c: valid_utf8(v) if isinstance(v, str) else v
              for c, v in ((c, record.get(c)) for c in (ID, SOURCE, TEXT))}
    if values[ID] is not None and values[ID] != "":  # a string or an integer, as curate takes it: `True`, `1.0`
        values[ID] = input_id(values[ID])            # or `['x']` written with str() was no id the user gave
    return complete_document(values, (ID, SOURCE, TEXT), fallback_source), values[TEXT] is not record[TEXT]


def jsonl_ranges(pattern: str, bundle_bytes: int) -> Iterable[Tuple[str, int, Optional[int]]]:
    """(path, start, end) byte ranges of the JSONL files a pattern matches: plain files in ranges of
    `bundle_bytes` (a line belongs to the range it starts in), a compressed file whole (end None)."""
    for result in FileSystems.match([pattern]):
        for meta in sorted(result.metadata_list, key=lambda m: m.path):
            if meta.path.endswith(PARQUET_EXTENSIONS):  # a glob's Parquet files are the Parquet reader's
                continue
            problem = not_a_regular_file(meta.path)
            if problem:
                raise ValueError(problem)
            if jsonl_compression(meta.path) != CompressionTypes.UNCOMPRESSED:
                yield meta.path, 0, None
                continue
            for start in range(0, meta.size_in_bytes, max(1, int(bundle_bytes))):
                yield meta.path, start, min(start + bundle_bytes, meta.size_in_bytes)


class _ReadJsonlRangeFn(beam.DoFn):
    """The documents of one JSONL range, read as curate reads JSONL: chunked line splitting with a per-line
    cap, so one long line costs its bytes, not a rescan of a growing buffer per chunk. An unreadable line
    counts as `in` and `errors` (the identity of the stage's counters holds) and becomes an `errors` row with its
    file and byte offset."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES):
        self._max_line_bytes = max_line_bytes

    def setup(self):
        self._counters = StageCounters(STAGE)

    def process(self, unit: Tuple[str, int, Optional[int]]):
        path, start, end = unit
        offset = start
        try:
            with open_jsonl(path) as fh:
                for offset, raw, size, _ in iter_bounded_lines(fh, start, end, self._max_line_bytes,
                                                                skip_blank=True):
                    try:
                        if raw is None:
                            raise ValueError(line_too_long(size, self._max_line_bytes))
                        line, replaced = decode_jsonl_line(raw, offset == 0)
                        parsed = parse_jsonl_document(path, line)
                        if parsed is None:
                            continue
                        if replaced or parsed[1]:  # kept, with U+FFFD where the file had no character: counted
                            self._counters.count(REPLACED_INVALID_UTF8)
                        yield parsed[0]
                    except Exception as exc:  # one bad line is one error row, never a failed job
                        self._counters.in_.inc()
                        yield error_output(self._counters, STAGE, {INPUT_PATH: path, INPUT_OFFSET: offset}, exc)
        except Exception as exc:  # noqa: BLE001 -- the file, not a line: cut short (TruncatedStream), damaged
            # (zlib.error, ZstdError: a flipped bit, garbage after the last member, a .gz that is no gzip) or
            # unreadable. Its lines before that point were read; one row says where reading stopped, as curate's
            # reader does, instead of the whole job failing on one file
            self._counters.in_.inc()
            yield error_output(self._counters, STAGE, {INPUT_PATH: path, INPUT_OFFSET: offset}, exc)


def _open_parquet(path: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = FileSystems.open(path, mime_type="application/octet-stream",
                              compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        return pq.ParquetFile(handle)
    except (pa.ArrowException, OSError) as exc:
        handle.close()
        raise ValueError(f"{path} is not a readable Parquet file ({exc}): remove it from --input or rewrite it "
                         f"(curate writes documents/*.parquet)") from exc


def parquet_row_groups(pattern: str) -> Iterable[Tuple[str, int, int]]:
    """(path, row group index, uncompressed bytes of its text column) of every row group of the files a
    pattern matches (footers only); of a glob's matches, those named .parquet (the others are JSONL's). A file
    with no `text` column, or one that does not hold strings, stops the job before any row is read."""
    for result in FileSystems.match([pattern]):
        for meta in sorted(result.metadata_list, key=lambda m: m.path):
            if not pattern.endswith(PARQUET_EXTENSIONS) and not meta.path.endswith(PARQUET_EXTENSIONS):
                continue
            problem = not_a_regular_file(meta.path)
            if problem:  # a named pipe would block the open below forever
                raise ValueError(problem)
            parquet = _open_parquet(meta.path)
            try:
                footer = parquet.metadata
                names = [footer.schema.column(i).name for i in range(footer.num_columns)]
                if TEXT not in names:  # not a documents file: every row would pass as an empty document
                    raise ValueError(f"{meta.path}: Parquet file has no {TEXT!r} column (columns: "
                                     f"{', '.join(names[:12])}): remove it from --input (curate writes "
                                     f"documents/*.parquet)")
                problem = parquet_text_problem(meta.path, parquet.schema_arrow)
                if problem:  # an integer `text` would reach the encoder, one traceback per batch
                    raise ValueError(problem)
                text = names.index(TEXT)
                for index in range(footer.num_row_groups):
                    group = footer.row_group(index)
                    yield meta.path, index, group.column(text).total_uncompressed_size
            finally:
                parquet.close()


def read_row_group(unit: Tuple[str, int, int]) -> Iterable[Dict[str, Any]]:
    """The documents of one row group: id, source and text where the file has them, the rest filled in.

    Decoding a text column takes Arrow about three times its size, which Arrow's allocator keeps once freed:
    it is handed back to the system before the Python strings are made, and the table's own memory after, or a
    row group of one 100 MB document kept ~340 MB beside its text while it was encoded. The row group is decoded
    in this thread: buffers that Arrow's decoding threads free are not always free yet when this thread hands
    memory back, and one 200 MB document then kept ~400 MB more while its str was made."""
    import pyarrow as pa

    path, index = unit[0], unit[1]
    parquet = _open_parquet(path)
    try:
        columns = [c for c in (ID, SOURCE, TEXT) if c in parquet.schema_arrow.names]
        table = parquet.read_row_group(index, columns=columns, use_threads=False)
        pa.default_memory_pool().release_unused()
        rows = table.to_pylist()
        del table
    finally:
        parquet.close()
    pa.default_memory_pool().release_unused()
    fallback_source = fallback_source_of(path)  # the file's name, as for JSONL and in `winnow stats`
    for row in rows:
        yield complete_document(row, (ID, SOURCE, TEXT), fallback_source)


# Compression assumed for the size of a gzip JSONL file's text, when the packing groups are sized from the
# input's bytes (`tokenizer.pack_groups.estimated_tokens`).
GZIP_TEXT_RATIO = 4


def row_group_text_bytes(unit: Tuple[str, int, int]) -> int:
    return unit[2]


def jsonl_text_bytes(pattern: str) -> Iterable[int]:
    """The bytes of the JSONL files a pattern matches (gzip ones times GZIP_TEXT_RATIO)."""
    for result in FileSystems.match([pattern]):
        for meta in result.metadata_list:
            if not meta.path.endswith(PARQUET_EXTENSIONS):
                yield meta.size_in_bytes * (GZIP_TEXT_RATIO if meta.path.endswith(".gz") else 1)


class ReadDocuments(beam.PTransform):
    """Documents from Parquet or JSONL patterns. The patterns are matched by the runner on workers, so
    building a job over gs:// globs needs no network, and units of work -- not documents -- are what is
    redistributed, so every worker reads and encodes its own share of the files (one `ReadFrom*` source would
    be read, and its documents encoded, by whichever worker got the single impulse). Parquet: every row group
    is a unit (listed from the footers, reshuffled, read), so workers get equal counts of non-empty units;
    Beam's byte ranges split a file at row groups too, but ranges that hold no row group's start are empty and
    a worker could get most of the full ones. JSONL: ranges of `bundle_bytes` (reshuffled, then read by the
    bounded line reader; lines longer than `max_line_bytes` are counted errors).
    run_tokenize_job checks first that every pattern matches something.

    With `with_text_bytes`, returns (documents, a singleton of the input's text bytes read from the footers
    and listings -- known before a document is read, so what depends on it does not wait for the documents).
    With `with_errors`, the `errors` rows of unreadable lines (ERRORS_SCHEMA) come last in the tuple.
    """

    def __init__(self, patterns: Sequence[str], bundle_bytes: int = READ_BUNDLE_BYTES, with_text_bytes: bool = False,
                 max_line_bytes: int = MAX_LINE_BYTES, with_errors: bool = False):
        super().__init__()
        self._with_errors = with_errors
        self._patterns = list(patterns)
        self._bundle_bytes = int(bundle_bytes)
        self._with_text_bytes = with_text_bytes
        self._max_line_bytes = int(max_line_bytes)

    def expand(self, pbegin):
        # each file is read by the reader its name says: a pattern named .parquet goes to the Parquet reader,
        # one named .jsonl* to the JSONL reader, and a glob named neither (`docs/part-*`) to both, each reading
        # the files it matches of its own kind (a file named outright with another suffix is JSONL)
        parquet = [p for p in self._patterns if p.endswith(PARQUET_EXTENSIONS) or
                   (any(c in p for c in GLOB_CHARS) and not p.endswith(JSONL_EXTENSIONS))]
        jsonl = [p for p in self._patterns if not p.endswith(PARQUET_EXTENSIONS)]
        parts, sizes, errors = [], [], None
        if parquet:
            units = (pbegin | "ParquetPatterns" >> beam.Create(parquet)
                     | "ListRowGroups" >> beam.FlatMap(parquet_row_groups))
            parts.append(units | "SpreadRowGroups" >> beam.Reshuffle()
                         | "ReadRowGroups" >> beam.FlatMap(read_row_group))
            sizes.append(units | "RowGroupTextBytes" >> beam.Map(row_group_text_bytes))
        if jsonl:
            patterns = pbegin | "JsonlPatterns" >> beam.Create(jsonl)
            read = (patterns
                    | "ListJsonlRanges" >> beam.FlatMap(jsonl_ranges, self._bundle_bytes)
                    | "SpreadJsonlRanges" >> beam.Reshuffle()
                    | "ReadJsonlRanges" >> beam.ParDo(_ReadJsonlRangeFn(self._max_line_bytes)).with_outputs(
                        ERRORS, main="docs"))
            parts.append(read.docs)
            errors = read[ERRORS]
            sizes.append(patterns | "JsonlTextBytes" >> beam.FlatMap(jsonl_text_bytes))
        docs = parts[0] if len(parts) == 1 else tuple(parts) | "FlattenInputs" >> beam.Flatten()
        out = [docs]
        if self._with_text_bytes:
            sizes = sizes[0] if len(sizes) == 1 else tuple(sizes) | "FlattenSizes" >> beam.Flatten()
            out.append(sizes | "SumTextBytes" >> beam.CombineGlobally(sum))
        if self._with_errors:  # Parquet row groups are read whole or fail the job: no line-level errors
            out.append(errors if errors is not None else pbegin | "NoReadErrors" >> beam.Create([]))
        return out[0] if len(out) == 1 else tuple(out)


# ---------------------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------------------

class _EncodeBatchFn(beam.DoFn):
    """(list of documents) -> (id, source, token count, token bytes in the shard dtype, eot appended).

    Tokens travel between steps as bytes of the final dtype (2 bytes a token for uint16): Beam's coder copies
    bytes without pickling, and packing reads them back with `np.frombuffer`, no per-token Python work. The
    handle makes those bytes itself (`TokenizerHandle.encode_batch_bytes`): a document of hundreds of MB is
    encoded in pieces, one piece's ids in uint32 at a time, and its ids are held in the shard dtype twice at
    most (the pieces, then the bytes they are joined into).
    """

    def __init__(self, tokenizer_path: str, dtype: str, encoder: str = "auto", threads: int = 1):
        self._tokenizer_path = tokenizer_path
        self._dtype = dtype
        self._encoder = encoder
        self._threads = threads
        self._tok = None

    def setup(self):
        self._tok = tokenizer_handle(read_bytes(tokenizer_file(self._tokenizer_path)), self._encoder)
        self._counters = StageCounters(STAGE)

    def _encode_batch(self, docs: List[Dict[str, Any]]):
        return self._tok.encode_batch_bytes([d[TEXT] for d in docs], self._dtype, self._tok.eot_id,
                                            threads=self._threads)

    def _encode_one(self, doc: Dict[str, Any]):
        return self._tok.encode_batch_bytes([doc[TEXT]], self._dtype, self._tok.eot_id, threads=1)[0]

    def process(self, batch: List[Dict[str, Any]]):
        c = self._counters
        # whitespace alone is empty, as in curate (isspace: no copy of the text, unlike strip)
        docs = [doc for doc in batch if doc.get(TEXT) and not doc[TEXT].isspace()]
        c.in_.inc(len(batch))
        if len(docs) < len(batch):
            c.dropped("empty", len(batch) - len(docs))
        itemsize = np.dtype(self._dtype).itemsize
        outputs = [(doc[ID], doc[SOURCE], len(data) // itemsize, data) if exc is None
                   else error_output(c, STAGE, doc, exc)
                   for doc, data, exc in batch_then_one_by_one(docs, self._encode_batch, self._encode_one)]
        if docs:
            c.kept.inc(sum(not isinstance(out, TaggedOutput) for out in outputs))
        # The texts go before the first output does: the steps after this one run inside the yield, where a huge
        # document's str (4 bytes a character once it holds one emoji) would otherwise sit beside its token bytes
        # and their copies. `batch` is BatchElements' own list, made for this call and read by no other step.
        del docs
        batch.clear()
        outputs.reverse()
        while outputs:  # popped: a document's bytes are not held here once downstream has had them
            yield outputs.pop()


class EncodeDocuments(beam.PTransform):
    """Documents -> `encoded` (id, source, n_tokens, token bytes) and `errors` rows (documents the tokenizer
    failed on, ERRORS_SCHEMA): batches encoded by a tokenizer loaded once per worker."""

    def __init__(self, tokenizer_path: str, dtype: str, batch_size: int = 256, encoder: str = "auto",
                 threads: int = 1):
        super().__init__()
        self._tokenizer_path = tokenizer_path
        self._dtype = dtype
        self._batch_size = batch_size
        self._encoder = encoder
        self._threads = threads

    def expand(self, docs):
        return (docs
                | "Batch" >> beam.BatchElements(min_batch_size=min(16, self._batch_size),
                                                max_batch_size=self._batch_size)
                | "Encode" >> beam.ParDo(_EncodeBatchFn(self._tokenizer_path, self._dtype, self._encoder,
                                                               self._threads)).with_outputs(ERRORS, main="encoded"))


# ---------------------------------------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------------------------------------

def token_count(encoded: Tuple[str, str, int, bytes]) -> int:
    return encoded[2]


def assign_group(encoded: Tuple[str, str, int, bytes], total_tokens: int, row_len: int, rows_per_group: int,
                 seed: int, group_of=packing_group) -> Tuple[int, Tuple[str, bytes]]:
    doc_id, _, _, data = encoded
    return group_of(doc_id, total_tokens, row_len, rows_per_group, seed), (doc_id, data)


def document_length(encoded: Tuple[str, str, int, bytes]) -> Tuple[str, int]:
    return encoded[0], encoded[2]


def assign_group_length(id_length: Tuple[str, int], total_tokens: int, row_len: int, rows_per_group: int,
                        seed: int, group_of=packing_group) -> Tuple[int, Tuple[str, int]]:
    """The group `assign_group` gives the document, with its length instead of its tokens."""
    return group_of(id_length[0], total_tokens, row_len, rows_per_group, seed), id_length


def stats_shards(stats: Tuple[int, ...], rows_per_shard: int) -> int:
    return shard_count(stats[0] if stats else 0, rows_per_shard)


class _PackGroupFn(beam.DoFn):
    """(group, [(id, token bytes)]) -> (shard, row) with row = (row key, token bytes, doc_lengths, doc_ids):
    the group packed by `tokenizer.pack_groups.pack_group`, each row sent straight to its shard (`row_shard`)."""

    def __init__(self, method: str, row_len: int, pad_id: int, seed: int, dtype: str, with_doc_ids: bool):
        self._method, self._row_len, self._pad_id, self._seed = method, row_len, pad_id, seed
        self._dtype, self._with_doc_ids = dtype, with_doc_ids
        # documents whose id an earlier document of the input already has (one id lands in one group, so a
        # group sees all of its holders): row lineage (`doc_ids`, `winnow lineage`) cannot tell them apart
        self._duplicate_ids = beam.metrics.Metrics.counter(NAMESPACE, DUPLICATE_IDS)

    def process(self, element, n_shards: int):
        group, docs = element
        docs = list(docs)
        repeated = len(docs) - len({doc_id for doc_id, _ in docs})
        if repeated:
            self._duplicate_ids.inc(repeated)
        for row in pack_group(group, docs, self._method, self._row_len, self._pad_id, self._seed, self._dtype,
                              self._with_doc_ids):
            yield row_shard(row[0], self._seed, n_shards), row


class PackSequences(beam.PTransform):
    """Encoded documents -> {"rows": (shard, row) pairs, "stats": the (rows, tokens, pad, truncated) singleton,
    "shards": the shard-count singleton}.

    Two passes over the same groups: the plan (ids and lengths only, a few bytes a document) sizes the output,
    then the packer, which already knows the shard count, keys every row by its shard. The rows thus cross one
    shuffle on their way to the shard files and never wait, materialised, for a count.

    `token_estimate` (a singleton) sizes the packing groups. It must not be computed from `encoded` itself:
    the documents would then wait, materialised, for their own count before being grouped (one more round
    trip of every token through the shuffle). `tokenizer.pack_groups.estimated_tokens` of the input's text bytes is what the job
    passes; counting the tokens (`CountTokens` below) is the fallback when no estimate is given.

    `group_of` (a module-level function of (id, total_tokens, row_len, rows_per_group, seed)) picks a document's
    group: `packing_group` by default, `tokenizer.mixture.mixture_group` for a mixture's repeated copies.
    """

    def __init__(self, method: str, row_len: int, pad_id: int, seed: int, rows_per_group: int, rows_per_shard: int,
                 dtype: str = "uint32", with_doc_ids: bool = True, token_estimate=None, group_of=packing_group):
        super().__init__()
        self._method, self._row_len, self._pad_id = method, row_len, pad_id
        self._seed, self._rows_per_group, self._rows_per_shard = seed, rows_per_group, rows_per_shard
        self._dtype, self._with_doc_ids = dtype, with_doc_ids
        self._token_estimate = token_estimate
        self._group_of = group_of

    def expand(self, encoded):
        total_tokens = self._token_estimate
        if total_tokens is None:
            total_tokens = (encoded | "CountTokens" >> beam.Map(token_count)
                            | "SumTokens" >> beam.CombineGlobally(sum))
        grouping = dict(total_tokens=AsSingleton(total_tokens), row_len=self._row_len,
                        rows_per_group=self._rows_per_group, seed=self._seed)
        if self._group_of is not packing_group:  # the default path's step arguments stay as they were
            grouping["group_of"] = self._group_of
        # (id, length) is taken before the group count is known, in the encoding stage, so that the plan's own
        # stage reads a few bytes a document instead of a second copy of every token
        stats = (encoded | "Lengths" >> beam.Map(document_length)
                 | "AssignGroupLengths" >> beam.Map(assign_group_length, **grouping)
                 | "GroupLengths" >> beam.GroupByKey()
                 | "Plan" >> beam.Map(plan_group, method=self._method, row_len=self._row_len, seed=self._seed)
                 | "SumPlans" >> beam.CombineGlobally(sum_counts))
        n_shards = stats | "ShardCount" >> beam.Map(stats_shards, rows_per_shard=self._rows_per_shard)
        rows = (encoded | "AssignGroup" >> beam.Map(assign_group, **grouping)
                | "GroupDocuments" >> beam.GroupByKey()
                | "Pack" >> beam.ParDo(_PackGroupFn(self._method, self._row_len, self._pad_id, self._seed,
                                                    self._dtype, self._with_doc_ids), n_shards=AsSingleton(n_shards)))
        return {"rows": rows, STATS: stats, "shards": n_shards}


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------

def shard_table(rows: Sequence[Tuple[str, bytes, List[int], Optional[List[str]]]], seq_len: int, dtype: str,
                with_doc_ids: bool):
    """The pyarrow Table of one shard's (hash key, token bytes, doc_lengths, doc_ids) rows (tokens copied once)."""
    flat = np.frombuffer(b"".join(r[1] for r in rows), dtype=dtype)
    return shard_files.shard_table(flat, [r[2] for r in rows], seq_len, dtype,
                                   [r[3] for r in rows] if with_doc_ids else None)


def encode_shard(rows: Sequence[Tuple[str, bytes, List[int], Optional[List[str]]]], seq_len: int, dtype: str,
                 file_format: str, with_doc_ids: bool, row_group_rows: int = 1024) -> bytes:
    """The bytes of one shard file (deterministic for the same rows in the same order), see
    `schemas.shard_files.encode_shard`."""
    return shard_files.encode_shard(shard_table(rows, seq_len, dtype, with_doc_ids), file_format, row_group_rows)


def write_shard(config: TokenizeConfig, dtype: str, index: int, n_shards: int, rows) -> Dict[str, Any]:
    """Writes shard `index` of `n_shards` (its rows sorted by their hash) and returns its ShardInfo dict."""
    rows = sorted(rows, key=lambda r: (sample_hash(r[0], config.seed), r[0]))
    data = encode_shard(rows, config.seq_len, dtype, config.file_format, config.doc_ids, config.row_group_rows(dtype))
    name = shard_name(index, n_shards, config.file_format)
    write_bytes(FileSystems.join(config.output_dir, name), data)
    return shard_info(name, data, len(rows), config.row_len)


class _WriteShardFn(beam.DoFn):
    def __init__(self, config: TokenizeConfig, dtype: str):
        self._config, self._dtype = config, dtype

    def process(self, element, n_shards: int):
        index, rows = element
        yield write_shard(self._config, self._dtype, index, n_shards, rows)


class WriteShards(beam.PTransform):
    """(shard, row) pairs -> shard files; emits one ShardInfo dict per shard that received rows (the manifest
    step writes the others, empty, so that names `-of-N` always form a full set)."""

    def __init__(self, config: TokenizeConfig, dtype: str, n_shards):
        super().__init__()
        self._config, self._dtype = config, dtype
        self._n_shards = n_shards  # the shard-count singleton PackSequences made

    def expand(self, keyed_rows):
        return (keyed_rows | "GroupShards" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteShardFn(self._config, self._dtype), n_shards=AsSingleton(self._n_shards)))


class _WriteManifestFn(beam.DoFn):
    def __init__(self, config: TokenizeConfig, dtype: str, tokenizer: Dict[str, Any], versions: Dict[str, str],
                 mixture: Optional[MixtureSpec] = None):
        self._config, self._dtype, self._tokenizer, self._versions = config, dtype, tokenizer, versions
        self._mixture = mixture

    def process(self, shard_infos: List[Dict[str, Any]], stats: Tuple[int, ...], sources: List[Tuple[str, Tuple[int, int]]],
                n_shards: int, mixture_plan=None):
        config = self._config
        written = {info["path"] for info in shard_infos}
        shard_infos = list(shard_infos) + [
            write_shard(config, self._dtype, i, n_shards, []) for i in range(n_shards)
            if shard_name(i, n_shards, config.file_format) not in written]  # no row hashed to it
        manifest = build_manifest(shard_infos, stats, sources, seq_len=config.seq_len, dtype=self._dtype,
                                  tokenizer=self._tokenizer, packing=config.packing, file_format=config.file_format,
                                  seed=config.seed, with_doc_ids=config.doc_ids, versions=self._versions,
                                  mixture=None if mixture_plan is None else
                                  mixture_manifest(self._mixture, mixture_plan, sources))
        write_bytes(FileSystems.join(config.output_dir, MANIFEST_NAME), manifest.dumps().encode("utf-8"))
        yield manifest.to_json()


class WriteManifest(beam.PTransform):
    """ShardInfo dicts -> manifest.json, once every shard is written: the shards no row hashed to are written
    (empty) first, then the manifest (`schemas.shard_files.build_manifest`) from the packing plan's totals
    (`stats`), the per-source counts (`sources`) and the shard count (`n_shards`), all side inputs. Emits the
    manifest's JSON dict. With a mixture (its spec and the plan singleton of `SelectMixture`), the manifest's
    `mixture` entry too."""

    def __init__(self, config: TokenizeConfig, dtype: str, tokenizer: Dict[str, Any], versions: Dict[str, str],
                 stats, sources, n_shards, mixture: Optional[MixtureSpec] = None, mixture_plan=None):
        super().__init__()
        self._config, self._dtype, self._tokenizer, self._versions = config, dtype, tokenizer, versions
        self._stats, self._sources, self._n_shards = stats, sources, n_shards
        self._mixture, self._mixture_plan = mixture, mixture_plan

    def expand(self, shard_infos):
        side = dict(stats=AsSingleton(self._stats), sources=AsList(self._sources), n_shards=AsSingleton(self._n_shards))
        if self._mixture_plan is not None:
            side["mixture_plan"] = AsSingleton(self._mixture_plan)
        return (shard_infos | "CollectShards" >> beam.combiners.ToList()
                | "Write" >> beam.ParDo(_WriteManifestFn(self._config, self._dtype, self._tokenizer, self._versions,
                                                         self._mixture), **side))


def source_counts(encoded: Tuple[str, str, int, bytes]) -> Tuple[str, Tuple[int, int]]:
    return encoded[1], (1, encoded[2])


# ---------------------------------------------------------------------------------------------------------
# Mixtures (`winnow tokenize --mixture`; the decisions: tokenizer.mixture)
# ---------------------------------------------------------------------------------------------------------

class _TagMixtureSourceFn(beam.DoFn):
    """A document of a mixture source's input -> itself with `source` set to the mixture source's name; a
    document whose own source differs from the entry's `source:` selector is left out and counted
    (`winnow.tokenize/mixture_not_selected`; it never enters the encoding stage, whose identity is unchanged)."""

    def __init__(self, name: str, selector: Optional[str]):
        self._name, self._selector = name, selector

    def setup(self):
        self._not_selected = beam.metrics.Metrics.counter(NAMESPACE, "mixture_not_selected")

    def process(self, doc: Dict[str, Any]):
        if self._selector is not None and doc.get(SOURCE) != self._selector:
            self._not_selected.inc()
            return
        yield {**doc, SOURCE: self._name}


class ReadMixture(beam.PTransform):
    """The documents of every mixture source (`ReadDocuments` of its patterns, `source` set to its name) and
    the error rows of unreadable lines. `patterns` is one list per source, in the spec's order."""

    def __init__(self, spec: MixtureSpec, patterns: Sequence[Sequence[str]], bundle_bytes: int = READ_BUNDLE_BYTES):
        super().__init__()
        self._spec, self._patterns, self._bundle_bytes = spec, [list(p) for p in patterns], bundle_bytes

    def expand(self, pbegin):
        docs, errors = [], []
        for index, (source, patterns) in enumerate(zip(self._spec.sources, self._patterns)):
            label = f"Source{index}"  # names may hold any character; labels stay stable by position
            read, read_errors = pbegin | f"Read{label}" >> ReadDocuments(patterns, self._bundle_bytes,
                                                                         with_errors=True)
            docs.append(read | f"Tag{label}" >> beam.ParDo(_TagMixtureSourceFn(source.name, source.source)))
            errors.append(read_errors)
        return (tuple(docs) | "FlattenSources" >> beam.Flatten(),
                tuple(errors) | "FlattenReadErrors" >> beam.Flatten())


class _HistogramFn(beam.CombineFn):
    """Documents and tokens per (source, bucket): at most BUCKETS cells a source (`tokenizer.mixture`)."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, entry):
        return add_entry(acc, entry)

    def merge_accumulators(self, accs):
        return merge_histograms(accs)

    def extract_output(self, acc):
        return acc


def _histogram_entry(encoded: Tuple[str, str, int, bytes], seed: int):
    return histogram_entry(encoded[1], encoded[0], encoded[2], seed)


def _plan(histogram, spec: MixtureSpec):
    return plan_mixture(spec, histogram)


def _select_copies(encoded: Tuple[str, str, int, bytes], plan, seed: int):
    """An encoded document -> its copies for the output (none when it is not selected), copy c >= 2 as `ID#c`."""
    doc_id, name, n_tokens, data = encoded
    for copy in range(1, plan.source(name).copies(selection_bucket(name, doc_id, seed)) + 1):
        yield copy_id(doc_id, copy), name, n_tokens, data


def _group_tokens(plan, row_len: int, rows_per_group: int) -> int:
    return plan.group_tokens(row_len, rows_per_group)


class SelectMixture(beam.PTransform):
    """Encoded documents of all sources -> {"selected": the copies to pack (id, source name, n_tokens, token
    bytes), "plan": the MixturePlan singleton, "group_tokens": the singleton that sizes the packing groups}.

    The plan needs every source's token count before a document is selected: a histogram of documents and
    tokens over hash buckets (a CombineGlobally of at most BUCKETS cells a source) is its one global step, so
    the encoded documents wait for it (materialised by the runner) -- the price of an exact token budget.
    """

    def __init__(self, spec: MixtureSpec, seed: int, row_len: int, rows_per_group: int):
        super().__init__()
        self._spec, self._seed, self._row_len, self._rows_per_group = spec, seed, row_len, rows_per_group

    def expand(self, encoded):
        histogram = (encoded | "HistogramEntries" >> beam.Map(_histogram_entry, seed=self._seed)
                     | "Histogram" >> beam.CombineGlobally(_HistogramFn()))
        plan = histogram | "Plan" >> beam.Map(_plan, spec=self._spec)
        selected = encoded | "Select" >> beam.FlatMap(_select_copies, plan=AsSingleton(plan), seed=self._seed)
        group_tokens = plan | "GroupTokens" >> beam.Map(_group_tokens, row_len=self._row_len,
                                                        rows_per_group=self._rows_per_group)
        return {"selected": selected, "plan": plan, "group_tokens": group_tokens}
