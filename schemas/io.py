"""Reading documents tables wherever they are: a curate output directory (its documents/ folder), a folder of
Parquet/JSONL files, one file, or a glob. JSONL may be plain, .gz or .zst, with a `text` field. Rows stream one
Parquet row group or one JSONL line at a time, so a reader never holds a whole corpus in memory. Missing ids
become a hash of the text (stable across runs); a missing source becomes the file name.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
from typing import Any, Dict, Iterator, List, Sequence

import pyarrow.parquet as pq

from schemas.documents import ID, LANGUAGE, SOURCE, TEXT

DOCUMENT_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst")
DEFAULT_COLUMNS = (ID, SOURCE, TEXT, LANGUAGE)


def sha256_file(path: "os.PathLike | str", chunk: int = 1 << 20) -> str:
    """Hex sha256 of a local file, read in chunks (manifests, tokenizer hashes, model checks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def document_files(path: str) -> List[str]:
    """Files of a documents input: a curate output dir (DIR/documents), a dir of Parquet/JSONL, a file or a glob."""
    if os.path.isdir(path):
        sub = os.path.join(path, "documents")
        base = sub if os.path.isdir(sub) else path
        files = [os.path.join(base, n) for n in os.listdir(base) if n.endswith(DOCUMENT_SUFFIXES)]
    elif os.path.isfile(path):
        files = [path]
    else:
        files = [p for p in glob.glob(path) if os.path.isfile(p)]
    files = sorted(files)
    if not files:
        raise FileNotFoundError(f"no documents found at {path!r}: expected a documents dir (DIR/documents/*.parquet), "
                                f"a dir of .parquet/.jsonl files, a file or a glob")
    return files


def _open_text(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    if path.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")), encoding="utf-8")
    return open(path, encoding="utf-8")


def complete_document(row: Dict[str, Any], columns: Sequence[str], fallback_source: str) -> Dict[str, Any]:
    text = row.get(TEXT) or ""
    out = {c: row.get(c) for c in columns}
    out[TEXT] = text
    if ID in columns and not out.get(ID):
        out[ID] = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    if SOURCE in columns and not out.get(SOURCE):
        out[SOURCE] = fallback_source
    return out


def iter_documents(path: str, columns: Sequence[str] = DEFAULT_COLUMNS) -> Iterator[Dict[str, Any]]:
    """Documents as dicts with exactly `columns` (text always present)."""
    for file_path in document_files(path):
        fallback_source = os.path.basename(file_path).split(".")[0]
        if file_path.endswith(".parquet"):
            pf = pq.ParquetFile(file_path)
            present = [c for c in columns if c in pf.schema_arrow.names]
            if TEXT not in pf.schema_arrow.names:
                raise ValueError(f"{file_path}: no {TEXT!r} column (columns are {pf.schema_arrow.names})")
            if TEXT not in present:
                present.append(TEXT)
            for rg in range(pf.num_row_groups):
                for row in pf.read_row_group(rg, columns=present).to_pylist():
                    yield complete_document(row, columns, fallback_source)
        else:
            with _open_text(file_path) as f:
                for line in f:
                    if line.strip():
                        record = json.loads(line)
                        yield complete_document({c: record.get(c) for c in columns}, columns, fallback_source)
