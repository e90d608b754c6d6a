"""Reading documents tables wherever they are: a curate output directory (its documents/ folder), a folder of
Parquet/JSONL files, one file, or a glob. JSONL may be plain, .gz or .zst, with a `text` field. Rows stream one
Parquet row group or one JSONL line at a time, so a reader never holds a whole corpus in memory. Missing ids
become a hash of the text (stable across runs); a missing source becomes the file name, a non-string one
its `str`, as ids are.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.documents import ID, LANGUAGE, SOURCE, TEXT

DOCUMENT_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst")
DEFAULT_COLUMNS = (ID, SOURCE, TEXT, LANGUAGE)
GLOB_CHARS = "*?["


def sha256_file(path: "os.PathLike | str", chunk: int = 1 << 20) -> str:
    """Hex sha256 of a local file, read in chunks (manifests, tokenizer hashes, model checks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _local_matches(pattern: str) -> bool:
    return any(os.path.isfile(p) for p in _expand(pattern))


def _expand(pattern: str) -> List[str]:
    return [pattern] if os.path.isfile(pattern) else glob.glob(pattern)


def document_patterns(path: str, matches: Callable[[str], bool] = _local_matches) -> List[str]:
    """The file patterns of a documents input, the one resolver every reader of documents uses:

    - a glob, a file named with a document suffix (DOCUMENT_SUFFIXES) or any local file: itself;
    - a curate output directory: DIR/documents/*.parquet;
    - a directory of document files: DIR/*<suffix> for each suffix some file has.

    `matches(pattern)` says whether a pattern matches a file: local files by default; `winnow tokenize` passes
    Beam's FileSystems' (a path may be gs://), or one that is always true on a dry run, which lists nothing.
    Raises FileNotFoundError when nothing matches."""
    if any(c in path for c in GLOB_CHARS) or path.endswith(DOCUMENT_SUFFIXES) or os.path.isfile(path):
        if matches(path):
            return [path]
    else:
        curated = os.path.join(path, "documents", "*.parquet")
        if matches(curated):
            return [curated]
        found = [p for p in (os.path.join(path, "*" + ext) for ext in DOCUMENT_SUFFIXES) if matches(p)]
        if found:
            return found
    raise FileNotFoundError(f"no documents found at {path!r}: expected a documents dir (DIR/documents/*.parquet), "
                            f"a dir of .parquet/.jsonl files, a file or a glob")


def table_files(output_dir: str, table: str) -> List[str]:
    """The Parquet files of one table (documents, rejected, errors) of a curate output directory, sorted; none
    when the table is absent or empty."""
    return sorted(glob.glob(os.path.join(output_dir, table, "*.parquet")))


def document_files(path: str) -> List[str]:
    """The local files of a documents input (`document_patterns`), sorted."""
    return sorted({f for pattern in document_patterns(path) for f in _expand(pattern) if os.path.isfile(f)})


def _open_text(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    if path.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")), encoding="utf-8")
    return open(path, encoding="utf-8")


def parquet_text_problem(path: str, schema: pa.Schema) -> Optional[str]:
    """Why a Parquet file's `text` column cannot be read as documents (None when it can): it must hold strings
    (an integer or binary column would only have Python reprs to encode)."""
    text_type = schema.field(TEXT).type
    if pa.types.is_string(text_type) or pa.types.is_large_string(text_type):
        return None
    return f"{path}: column {TEXT!r} holds {text_type}, not strings"


def complete_document(row: Dict[str, Any], columns: Sequence[str], fallback_source: str) -> Dict[str, Any]:
    """`row` with exactly `columns`. A non-string id or source (`"source": 7`, a list) is written with `str`, as
    curate writes a JSONL or Parquet id (pipelines/ingest/readers.py `input_id`): every reader gets string ids and
    sources, which the manifest sorts and the per-source counts key on."""
    text = row.get(TEXT) or ""
    out = {c: row.get(c) for c in columns}
    out[TEXT] = text
    if ID in columns:
        if out.get(ID) is None or out.get(ID) == "":  # no id: one from the text (an id of 0 is an id)
            out[ID] = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        else:
            out[ID] = str(out[ID])  # integer ids in decimal, as curate writes them
    if SOURCE in columns:
        if out.get(SOURCE) is None or out.get(SOURCE) == "":
            out[SOURCE] = fallback_source
        elif not isinstance(out[SOURCE], str):
            out[SOURCE] = str(out[SOURCE])
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
            problem = parquet_text_problem(file_path, pf.schema_arrow)
            if problem:
                raise ValueError(problem)
            if TEXT not in present:
                present.append(TEXT)
            for rg in range(pf.num_row_groups):
                for row in pf.read_row_group(rg, columns=present).to_pylist():
                    yield complete_document(row, columns, fallback_source)
        else:
            with _open_text(file_path) as f:
                for number, line in enumerate(f, 1):
                    if line.strip():
                        record = json.loads(line)
                        if not isinstance(record, dict) or not isinstance(record.get(TEXT, ""), (str, type(None))):
                            raise ValueError(f"{file_path}: line {number} is not a JSON object with a string "
                                             f"{TEXT!r}")
                        yield complete_document({c: record.get(c) for c in columns}, columns, fallback_source)
