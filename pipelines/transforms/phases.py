"""Hand-over files between curate's phases: documents go to Parquet once and are read back where needed, so no
document rides through a shuffle.

The curate job (pipelines/jobs/curate.py) streams read -> extract -> filters into phase files
(`OUT/.phases/<n>/part-*.parquet`, the documents schema). The dedup stages that follow read them back with
`ReadPhaseFiles` and carry only *lean* documents (every column but the text, plus the row's pointer `_ptr` =
(file name, row)) through their joins; what needs a text again -- the next dedup stage's signatures, the
shingle-hash sets of the documents that have a candidate edge, the kept documents and the rejected rows at the
end -- gets it from the file by pointer with `AttachText`, which groups lean documents by (file, chunk of
`CHUNK_ROWS` rows) and reads only the row groups that hold them, only the `text` column.

A runner that keeps every collection in memory (Beam's in-process runner) then holds lean documents and keys,
never texts, between stages; on Dataflow the shuffles carry ids, keys and pointers.
"""
from __future__ import annotations

import bisect
import posixpath
from typing import Any, Dict, List, Sequence, Tuple

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.transforms.tables import WriteParquetParts
from schemas import DOCUMENTS_SCHEMA, TEXT

PTR = "_ptr"  # (phase file name, row): where a lean document's text is; never written to an output table
PHASES_DIR = ".phases"
CHUNK_ROWS = 4096  # rows per AttachText group: bounds what one worker holds while it reads a file back
_MAP_COLUMNS = tuple(f.name for f in DOCUMENTS_SCHEMA if str(f.type).startswith("map"))
_READ_BATCH = 1024


def phase_dir(output_dir: str, n: int) -> str:
    return FileSystems.join(output_dir, PHASES_DIR, f"{n:02d}")


def lean(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The document without its text (what a dedup join carries); `_ptr` says where the text is."""
    out = dict(doc)
    out.pop(TEXT, None)
    return out


def _as_dicts(row: Dict[str, Any]) -> Dict[str, Any]:
    # pyarrow returns a map column as [(key, value), ...]; the stages and the writers take dicts
    for name in _MAP_COLUMNS:
        value = row.get(name)
        if value is not None and not isinstance(value, dict):
            row[name] = dict(value)
    return row


class WritePhase(beam.PTransform):
    """Documents -> the names of the phase files written under `directory` (available once all are written)."""

    def __init__(self, directory: str, row_group_bytes: int, record_batch: int):
        super().__init__()
        self._directory, self._group, self._batch = directory, row_group_bytes, record_batch

    def expand(self, docs):
        # written by the bundles that make the documents, named by them (no finalize: the job reads its own
        # output, and a failed bundle's file is never in it; the directory goes at the end of the job)
        return docs | "WritePhaseFiles" >> WriteParquetParts(FileSystems.join(self._directory, "part"),
                                                             DOCUMENTS_SCHEMA, self._group, self._batch)


class _ReadPhaseFile(beam.DoFn):
    """A phase file -> its documents, each with `_ptr`; one row group at a time."""

    def process(self, path: str):
        name = posixpath.basename(path)
        with FileSystems.open(path) as f:
            parquet = pq.ParquetFile(f)
            row = 0
            for batch in parquet.iter_batches(batch_size=_READ_BATCH):
                for doc in batch.to_pylist():
                    doc = _as_dicts(doc)
                    doc[PTR] = (name, row)
                    row += 1
                    yield doc


class ReadPhaseFiles(beam.PTransform):
    """Phase file names (a `WritePhase` output) -> their documents with `_ptr`. The files are spread over the
    workers first (a Reshuffle of names)."""

    def expand(self, files):
        return files | "SpreadPhaseFiles" >> beam.Reshuffle() | "ReadPhaseFile" >> beam.ParDo(_ReadPhaseFile())


def chunk_key(doc: Dict[str, Any]) -> Tuple[Tuple[str, int], Dict[str, Any]]:
    name, row = doc[PTR]
    return (name, row // CHUNK_ROWS), doc


def row_group_spans(metadata) -> List[int]:
    """First row of each row group, and the total row count last."""
    starts = [0]
    for i in range(metadata.num_row_groups):
        starts.append(starts[-1] + metadata.row_group(i).num_rows)
    return starts


def read_texts(path: str, rows: Sequence[int]) -> Dict[int, str]:
    """row -> text for the given rows of one phase file, reading only the row groups that hold them."""
    wanted = sorted(set(rows))
    out: Dict[int, str] = {}
    if not wanted:
        return out
    with FileSystems.open(path) as f:
        parquet = pq.ParquetFile(f)
        starts = row_group_spans(parquet.metadata)
        groups = sorted({bisect.bisect_right(starts, r) - 1 for r in wanted})
        for g in groups:
            first, last = starts[g], starts[g + 1]
            texts = parquet.read_row_group(g, columns=[TEXT]).column(0)
            lo = bisect.bisect_left(wanted, first)
            hi = bisect.bisect_left(wanted, last)
            for r in wanted[lo:hi]:
                out[r] = texts[r - first].as_py()
    return out


class _AttachTextFn(beam.DoFn):
    def __init__(self, directory: str):
        self._directory = directory

    def process(self, kv):
        (name, _chunk), docs = kv
        docs = list(docs)
        texts = read_texts(FileSystems.join(self._directory, name), [d[PTR][1] for d in docs])
        for doc in docs:
            doc = dict(doc)
            doc[TEXT] = texts[doc[PTR][1]]
            yield doc


class AttachText(beam.PTransform):
    """Lean documents (or rejected rows) with `_ptr` into the phase files of `directory` -> the same with their
    text again. Grouped by (file, chunk of CHUNK_ROWS rows): a group is at most CHUNK_ROWS lean rows."""

    def __init__(self, directory: str):
        super().__init__()
        self._directory = directory

    def expand(self, lean_docs):
        return (lean_docs | "ByChunk" >> beam.Map(chunk_key) | "GroupByChunk" >> beam.GroupByKey()
                | "ReadTexts" >> beam.ParDo(_AttachTextFn(self._directory)))
