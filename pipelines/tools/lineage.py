"""Row-level lineage of token shards: which rows hold a given document.

Shards written with `winnow tokenize --doc-ids` carry a `doc_ids` column (one id per document segment of a
row, in the order of `doc_lengths`). `find_rows_with_document` scans that column only: Parquet shards one
row group at a time (the token column is never decompressed), Arrow shards through a memory map (only the
pages of the `doc_ids` buffers are touched). The match is vectorised (`pyarrow.compute` on the flattened ids,
mapped back to rows by the list parent indices), so a lookup costs a sequential read of the id column of every
shard: measured in benchmarks/RESULTS.md (`tokenize`), together with the column's size in bytes per token.

A long document split across rows appears in every row that holds one of its pieces; rows come back in shard
order, then row order. Ids are matched as written: in a mixture's shards copy c >= 2 of a document is `ID#c`
and copy 1 is `ID`, or `ID#1` when the id itself ends in `#<n>` (`tokenizer.mixture.copy_id`).

Every row must hold one id per `doc_lengths` entry (verify's `check_shard_content` check), compared per batch:
with more ids a segment has no length (an IndexError), with fewer each later id is paired with the wrong
segment (a wrong or empty answer), so a mismatch is a LineageError naming the shard and the row.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
from apache_beam.io.filesystems import FileSystems

from schemas import DOC_IDS, DOC_LENGTHS, Manifest
from schemas.errors import reading
from schemas.progress import Progress, add_to
from schemas.shard_files import ShardFile, doc_ids_problem, read_manifest, shard_location
from schemas.shards import FIX_RETOKENIZE, ShardError


# One error class with the other shard readers: a missing manifest or a damaged shard says the same everywhere.
LineageError = ShardError


def _lineage_batches(path: str, file_format: str, columns: List[str]) -> Iterator:
    """Record batches of `columns` of one shard, in row order (a local Arrow shard is memory-mapped)."""
    with reading(path, FIX_RETOKENIZE):
        source = path if os.path.exists(path) else FileSystems.open(path).read()
        yield from ShardFile(source, file_format).iter_batches(columns)


def _load_manifest(shards_dir: str) -> Manifest:
    manifest = read_manifest(shards_dir, _read_existing)
    if not manifest.with_doc_ids:
        raise LineageError(f"the shards in {shards_dir} have no {DOC_IDS} column: rerun `winnow tokenize` with "
                           f"--doc-ids to trace rows back to documents")
    return manifest


def _read_existing(path: str) -> bytes:
    if not FileSystems.exists(path):  # Beam's open raises its own error type for a missing file
        raise FileNotFoundError(path)
    with FileSystems.open(path) as f:
        return f.read()


def find_document_segments(shards_dir: str, doc_id: str, progress: Optional[Progress] = None) -> List[Dict[str, Any]]:
    """Every segment of document `doc_id`: {shard (path), row, segment (index in the row), offset, length} in
    tokens, in shard then row order; [] when none. Raises LineageError without a manifest or `doc_ids`.
    `progress` counts the rows scanned (`rows`) and the segments found (`found`)."""
    import pyarrow.compute as pc

    manifest = _load_manifest(shards_dir)
    found: List[Dict[str, Any]] = []
    for shard in manifest.shards:
        path = FileSystems.join(shards_dir, shard.path)
        shard_location(shards_dir, shard.path)  # refuses a local shard that links outside the directory
        start = 0
        for batch in _lineage_batches(path, manifest.file_format, [DOC_IDS, DOC_LENGTHS]):
            missing = [c for c in (DOC_IDS, DOC_LENGTHS) if c not in batch.schema.names]
            if missing:
                raise LineageError(f"has no {' or '.join(missing)} column (its manifest lists shards with doc_ids)",
                                   path=path, fix=FIX_RETOKENIZE)
            ids = batch.column(batch.schema.get_field_index(DOC_IDS))
            lengths = batch.column(batch.schema.get_field_index(DOC_LENGTHS))
            problem = doc_ids_problem(path, ids, pc.list_value_length(lengths).to_numpy(zero_copy_only=False), start)
            if problem:
                raise LineageError(problem, fix=FIX_RETOKENIZE)
            match = pc.fill_null(pc.equal(pc.list_flatten(ids), doc_id), False)
            if pc.any(match).as_py():
                parents = pc.list_parent_indices(ids).to_numpy(zero_copy_only=False)
                offsets = ids.offsets.to_numpy(zero_copy_only=False)
                for j in np.nonzero(match.to_numpy(zero_copy_only=False))[0]:
                    row = int(parents[j])
                    seg = int(j - (offsets[row] - offsets[0]))
                    row_lengths = lengths[row].as_py()
                    found.append({"shard": path, "row": start + row, "segment": seg,
                                  "offset": int(sum(row_lengths[:seg])), "length": int(row_lengths[seg])})
                    add_to(progress, found=1)
            start += batch.num_rows
            add_to(progress, rows=batch.num_rows)
    return found


def find_rows_with_document(shards_dir: str, doc_id: str) -> List[Tuple[str, int]]:
    """Every (shard path, row index) whose row holds a segment of document `doc_id`; [] when none does.

    Raises LineageError when the directory has no manifest or its shards were written without `doc_ids`.
    """
    rows: List[Tuple[str, int]] = []
    for seg in find_document_segments(shards_dir, doc_id):
        key = (seg["shard"], seg["row"])
        if not rows or rows[-1] != key:
            rows.append(key)
    return rows
