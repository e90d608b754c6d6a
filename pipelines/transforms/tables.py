"""Parquet tables written inside the stage that makes their rows, and named once, together, at the end.

Beam's `WriteToParquet` is five stages per table: a one-element start (it makes the temporary directory), the
write (fused into the stage that makes the rows), a group of the written files, a pre-finalize and a finalize,
the last three each waiting on side inputs. The curate job writes nine tables (documents, a rejected part per
stage, errors) and its phase files, and every stage is a bundle of 5-20 ms however few rows it holds: with
Beam's sink a curate of 32 records (default recipe, in-process runner) ran 119 bundles in 3.0 s, here 77 in
2.4 s, with the same rows in the tables.

Here a table is one DoFn, fused into the stage that makes its rows (`WriteParquetParts`): each bundle that holds
rows writes them to its own file in the table's temporary directory (`beam-temp-<prefix>-<token>`, under the
table's directory; pipelines/runtime/staging.py deletes such directories left by a killed run) in row groups cut
as Beam's writer cuts them (`record_batch` rows per batch, a group once the batches pass `row_group_bytes`),
and outputs (table prefix, file) once the file is closed. `FinalizeTables`, one step that reads every table's
files as side inputs (so it runs once they are all complete), gives them their final names, `<prefix>-SSSSS-of-NNNNN.parquet` (Beam's shard names, in the order
of the temporary names); a table no bundle wrote gets one file with its schema and no rows, as Beam's sink
writes; then the temporary directories go, with any file of a failed bundle (its output never reached the
side input, so it is never named). `WriteParquetParts` alone, without a finalize, serves files that are read back
within the job (the phase files): their names are its output.
"""
from __future__ import annotations

import itertools
import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.runtime.files import BEAM_TEMP_PREFIX, delete_tree, ensure_dir

SUFFIX = ".parquet"


def new_token() -> str:
    """A job's mark on its temporary directories (two jobs writing the same table never share one)."""
    return uuid.uuid4().hex[:12]


def temp_dir(prefix: str, token: str) -> str:
    """The temporary directory of the table whose final files are `<prefix>-SSSSS-of-NNNNN.parquet`."""
    directory, name = FileSystems.split(prefix)
    return FileSystems.join(directory, f"{BEAM_TEMP_PREFIX}{name}-{token}")


class ParquetPartWriter:
    """Rows (dicts; a nullable column a row lacks is null) -> one Parquet file at `path`: batches of
    `record_batch` rows, a row group written once the buffered batches pass `row_group_bytes` (uncompressed)."""

    def __init__(self, path: str, schema: pa.Schema, row_group_bytes: int, record_batch: int,
                 codec: str = "zstd"):
        self.path, self._schema = path, schema
        self._group_bytes, self._batch = int(row_group_bytes), max(1, int(record_batch))
        self._names = schema.names
        self._nullable = [schema.field(i).nullable for i in range(len(schema.names))]
        self._columns: List[List[Any]] = [[] for _ in self._names]
        self._batches: List[pa.RecordBatch] = []
        self._buffered = 0
        self._handle = FileSystems.create(path)
        self._writer = pq.ParquetWriter(self._handle, schema, compression=codec)

    def add(self, row: Mapping[str, Any]) -> None:
        if len(self._columns[0]) >= self._batch:
            self._flush_batch()
        if self._buffered >= self._group_bytes:
            self._write_group()
        for column, name, nullable in zip(self._columns, self._names, self._nullable):
            column.append(row.get(name) if nullable else row[name])

    def _flush_batch(self) -> None:
        arrays = [pa.array(column, type=self._schema.field(i).type) for i, column in enumerate(self._columns)]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        self._batches.append(batch)
        self._buffered += batch.nbytes
        self._columns = [[] for _ in self._names]

    def _write_group(self) -> None:
        self._writer.write_table(pa.Table.from_batches(self._batches, schema=self._schema))
        self._batches, self._buffered = [], 0

    def close(self) -> None:
        if self._columns[0]:
            self._flush_batch()
        if self._batches:
            self._write_group()
        self._writer.close()
        self._handle.close()


def write_empty(path: str, schema: pa.Schema, codec: str = "zstd") -> None:
    """A Parquet file with `schema` and no rows (what a reader of a table no row reached finds)."""
    with FileSystems.create(path) as handle:
        pq.ParquetWriter(handle, schema, compression=codec).close()


class _WriteParts(beam.DoFn):
    def __init__(self, prefix: str, schema: pa.Schema, row_group_bytes: int, record_batch: int,
                 directory: str, with_prefix: bool):
        self._prefix, self._schema = prefix, schema
        self._group, self._batch = row_group_bytes, record_batch
        self._directory, self._with_prefix = directory, with_prefix
        self._writer: Optional[ParquetPartWriter] = None
        self._made_dir = False

    def start_bundle(self):
        self._writer = None

    def process(self, row):
        if self._writer is None:
            if not self._made_dir:
                ensure_dir(self._directory)
                self._made_dir = True
            name = f"{FileSystems.split(self._prefix)[1]}-{uuid.uuid4().hex}{SUFFIX}"
            self._writer = ParquetPartWriter(FileSystems.join(self._directory, name), self._schema,
                                             self._group, self._batch)
        self._writer.add(row)

    def finish_bundle(self):
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        writer.close()
        value = (self._prefix, writer.path) if self._with_prefix else writer.path
        yield WindowedValue(value, GlobalWindow().max_timestamp(), (GlobalWindow(),))


class WriteParquetParts(beam.PTransform):
    """Rows -> one Parquet file per bundle that held rows, written by that bundle (no stage of its own).

    With `token` (a table to finalize): the files go to the table's temporary directory and the output is
    (prefix, file) for `FinalizeTables`. Without: the files go beside `prefix` as `<prefix>-<random>.parquet`
    and the output is their names (files the job reads back itself)."""

    def __init__(self, prefix: str, schema: pa.Schema, row_group_bytes: int, record_batch: int,
                 token: Optional[str] = None):
        super().__init__()
        self._prefix, self._schema, self._group, self._batch = prefix, schema, row_group_bytes, record_batch
        self._token = token

    def expand(self, rows):
        if self._token is None:
            directory, with_prefix = FileSystems.split(self._prefix)[0], False
        else:
            directory, with_prefix = temp_dir(self._prefix, self._token), True
        return rows | "WriteParts" >> beam.ParDo(_WriteParts(self._prefix, self._schema, self._group, self._batch,
                                                             directory, with_prefix))


def final_names(prefix: str, count: int) -> List[str]:
    return [f"{prefix}-{i:05d}-of-{count:05d}{SUFFIX}" for i in range(count)]


def finalize_tables(written: Iterable[Tuple[str, str]], tables: Mapping[str, pa.Schema],
                    token: str) -> List[str]:
    """Name every table's files (`<prefix>-SSSSS-of-NNNNN.parquet`, in the order of their temporary names), give
    a table without files one empty file, delete the temporary directories; the final names. Run again after a
    failure part way (a retried bundle), it names what is left and keeps what was already named."""
    by_prefix: Dict[str, List[str]] = {prefix: [] for prefix in tables}
    for prefix, path in written:
        by_prefix[prefix].append(path)
    out: List[str] = []
    for prefix, schema in tables.items():
        paths = sorted(by_prefix[prefix])
        targets = final_names(prefix, max(1, len(paths)))
        if not paths:
            if not FileSystems.exists(targets[0]):
                write_empty(targets[0], schema)
        else:
            todo = [(s, t) for s, t in zip(paths, targets) if FileSystems.exists(s) or not FileSystems.exists(t)]
            if todo:
                FileSystems.rename([s for s, _ in todo], [t for _, t in todo])
        out.extend(targets)
        delete_tree(temp_dir(prefix, token))
    return out


def _finalize_once(_, tables: Mapping[str, pa.Schema], token: str, *written: List[Tuple[str, str]]) -> List[str]:
    return finalize_tables(itertools.chain.from_iterable(written), tables, token)


class FinalizeTables(beam.PTransform):
    """Applied to the pipeline: the (prefix, file) outputs of a job's `WriteParquetParts` (`written`, read as side
    inputs, so the step runs once all of them are complete) -> the tables' final file names, in one bundle for
    all tables. `tables`: prefix -> schema of every table the job writes, so that a table no row reached still
    gets its (empty) file."""

    def __init__(self, tables: Mapping[str, pa.Schema], token: str, written: Sequence[beam.PCollection]):
        super().__init__()
        self._tables, self._token = dict(tables), token
        self._written = [beam.pvalue.AsList(pcoll) for pcoll in written]

    def expand(self, pbegin):
        return (pbegin | "Once" >> beam.Create([None])
                | "Name" >> beam.FlatMap(_finalize_once, self._tables, self._token, *self._written))


def write_tables(tables: Sequence[Tuple[str, beam.PCollection, str, pa.Schema]], row_group_bytes: int,
                 record_batch: int, label: str = "FinalizeTables") -> beam.PCollection:
    """Write each (label, rows, prefix, schema) as a table, then finalize them all together; the final names."""
    token = new_token()
    written = [rows | name >> WriteParquetParts(prefix, schema, row_group_bytes, record_batch, token=token)
               for name, rows, prefix, schema in tables]
    pipeline = tables[0][1].pipeline
    return pipeline | label >> FinalizeTables({prefix: schema for _, _, prefix, schema in tables}, token, written)
