"""Reading documents tables wherever they are: a curate output directory, a folder of Parquet files, one
Parquet file, or JSONL (plain, .gz or .zst) with a `text` field. Streams batches of rows (Parquet row groups,
or bounded JSONL chunks), so a reader never holds a whole corpus in memory.
"""
from __future__ import annotations

import glob
import gzip
import io
import json
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence

import pyarrow.parquet as pq

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz")


def document_files(path: str) -> List[str]:
    """Parquet/JSONL files of a documents input; a curate output directory means its documents/ folder."""
    if os.path.isfile(path):
        return [path]
    if any(ch in path for ch in "*?["):
        return sorted(glob.glob(path))
    for folder in (os.path.join(path, "documents"), path):
        files = sorted(f for f in glob.glob(os.path.join(folder, "*"))
                       if f.endswith(".parquet") or f.endswith(JSONL_SUFFIXES))
        if files:
            return files
    return []


def _open_text(path: str):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    if path.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")), encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_document_batches(path: str, columns: Optional[Sequence[str]] = None,
                          batch_rows: int = 4096) -> Iterator[List[Dict[str, Any]]]:
    files = document_files(path)
    if not files:
        raise FileNotFoundError(f"no documents found at {path} (expected Parquet or JSONL files, or a curate "
                                f"output directory with documents/)")
    for f in files:
        if f.endswith(".parquet"):
            pf = pq.ParquetFile(f)
            present = [c for c in columns if c in pf.schema_arrow.names] if columns else None
            for i in range(pf.num_row_groups):
                table = pf.read_row_group(i, columns=present)
                for start in range(0, table.num_rows, batch_rows):
                    yield table.slice(start, batch_rows).to_pylist()
        else:
            batch: List[Dict[str, Any]] = []
            with _open_text(f) as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    batch.append({c: row.get(c) for c in columns} if columns else row)
                    if len(batch) >= batch_rows:
                        yield batch
                        batch = []
            if batch:
                yield batch


def iter_documents(path: str, columns: Optional[Sequence[str]] = None) -> Iterator[Dict[str, Any]]:
    for batch in iter_document_batches(path, columns):
        yield from batch
