"""Reading documents tables wherever they are: a curate output directory (its documents/ folder), a folder of
Parquet/JSONL files, one file, or a glob. JSONL may be plain, .gz or .zst, with a `text` field. Rows stream one
Parquet row group or one JSONL line at a time, so a reader never holds a whole corpus in memory. Missing ids
become a hash of the text (stable across runs); a missing source becomes the file name, a non-string one
its `str`, as ids are.
"""
from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.documents import ID, LANGUAGE, SOURCE, TEXT
from schemas.errors import WinnowError, reading

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


class TruncatedStream(OSError):
    """A compressed file that ends inside a gzip member or zstd frame: cut short in a copy or a download. An
    OSError without a file name, as zstandard's own read errors are, so that `schemas.errors.reading` names the
    file in the one line a command prints."""


class DamagedStream(OSError):
    """Compressed data that does not decompress (a flipped bit, garbage after the last member or frame, a file
    that is not compressed at all): raised where it starts, once what decompressed before it was handed out. An
    OSError without a file name, as TruncatedStream."""


class CompressedFrames(io.RawIOBase):
    """`read(n)` over the gzip members or zstd frames (`kind`: "gzip" or "zstd") of a binary file object (a file
    may hold several), raising TruncatedStream where the file ends inside one, or DamagedStream where its data
    stops decompressing, once the bytes before it have been handed out (zlib and zstandard raise from the call
    that met the damage, and what that call and the buffer held was lost with it: the lines of the members
    before trailing garbage).
    zstandard's stream_reader (and so Beam's ZSTD reading) returns what it has and stops, so a .zst file cut in
    half read as 0 lines; Beam's gzip reading stops quietly at a cut between lines; GzipFile raises, but drops
    what the failing read had inflated. Compressed bytes go in `FEED` at a time, which bounds one step's output
    (a zstd run-length block turns 3 bytes into 128 KiB: at most ~16 MiB per step; deflate ~0.5 MiB)."""

    FEED = 512

    def __init__(self, raw, kind: str):
        super().__init__()
        if kind == "zstd":
            import zstandard

            self._new, self._name = zstandard.ZstdDecompressor().decompressobj, "zstd stream ends inside a frame"
        else:
            import zlib

            self._new, self._name = (lambda: zlib.decompressobj(31)), "gzip stream ends inside a member"
        self._gzip = kind != "zstd"
        self._raw, self._frame, self._fed = raw, self._new(), False
        self._out, self._at = bytearray(), 0  # inflated bytes, and how many of them were handed out
        self._pending, self._done, self._failure = b"", False, None

    def _step(self) -> None:
        data = self._pending or self._raw.read(64 << 10)
        if not data:
            self._done = True
            if self._fed:
                self._failure = TruncatedStream(f"the {self._name}: the file is cut short; copy or download it "
                                                f"again")
            return
        if not self._fed and self._gzip:  # gzip files may be padded with zeros after their last member
            data = data.lstrip(b"\0")
            if not data:
                self._pending = b""
                return
        feed, self._pending = data[:self.FEED], data[self.FEED:]
        try:
            self._out += self._frame.decompress(feed)
        except Exception as exc:  # zlib.error, zstandard.ZstdError: nothing past this point can be read
            self._done, self._pending = True, b""
            self._failure = DamagedStream(f"the {'gzip' if self._gzip else 'zstd'} data is damaged "
                                          f"({type(exc).__name__}: {exc}); the lines before the damage were read")
            return
        self._fed = True
        if self._frame.eof:  # the next member or frame starts in what was fed after this one
            rest = self._frame.unused_data + self._pending
            self._frame, self._fed, self._pending = self._new(), False, rest

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._out) - self._at < n):
            self._step()
        left = len(self._out) - self._at
        if not left and self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        n = left if n < 0 else min(n, left)
        out = bytes(self._out[self._at:self._at + n])
        self._at += n
        if self._at > (1 << 20) and 2 * self._at > len(self._out):  # drop what was handed out, now and then
            del self._out[:self._at]
            self._at = 0
        return out

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # for io.BufferedReader / TextIOWrapper
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


BOM_UTF8 = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_utf8(value: str) -> str:
    """`value` with lone surrogates (JSON allows the escape `\\ud800`) replaced by U+FFFD: they cannot be
    encoded as UTF-8, so one would fail the job (or the tokenizer) where the text is next serialised."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:  # one U+FFFD for each (decoding the surrogatepass bytes would give three)
        return _SURROGATE.sub("\ufffd", value)


def _open_text(path: str):
    """A JSONL file as text (a leading byte-order mark skipped; a cut .gz/.zst raises TruncatedStream). Bytes that
    are not UTF-8 read as U+FFFD, as curate and tokenize read them (a Latin-1 é stopped stats, tokenizer train
    and classifier train with a bare UnicodeDecodeError naming no file)."""
    if path.endswith((".gz", ".zst")):
        frames = CompressedFrames(open(path, "rb"), "zstd" if path.endswith(".zst") else "gzip")
        return io.TextIOWrapper(io.BufferedReader(frames), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def holds_strings(dtype: pa.DataType) -> bool:
    """Whether an Arrow column of `dtype` reads as Python strings (or None): string, large_string and
    string_view, dictionary-encoded or not (pandas' categoricals, Spark's and DuckDB's dictionary pages), and a
    column of nulls only."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    return (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
            or getattr(pa.types, "is_string_view", lambda _t: False)(dtype) or pa.types.is_null(dtype))


def parquet_text_problem(path: str, schema: pa.Schema) -> Optional[str]:
    """Why a Parquet file's `text` column cannot be read as documents (None when it can): it must hold strings
    (an integer or binary column would only have Python reprs to encode)."""
    text_type = schema.field(TEXT).type
    if holds_strings(text_type):
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


def fallback_source_of(file_path: str) -> str:
    """The source of a document that has none (null or empty): its file's name (`part-0` for `part-0.parquet`)."""
    return os.path.basename(file_path).split(".")[0]


def iter_documents(path: str, columns: Sequence[str] = DEFAULT_COLUMNS) -> Iterator[Dict[str, Any]]:
    """Documents as dicts with exactly `columns` (text always present)."""
    for file_path in document_files(path):
        fallback_source = fallback_source_of(file_path)
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
            with reading(file_path), _open_text(file_path) as f:  # a cut .gz/.zst names itself
                for number, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            record = json.loads(line)
                        except ValueError as exc:  # json's own message counts lines within this one line
                            raise WinnowError(f"line {number} is not JSON ({exc})", path=file_path,
                                              fix="fix or remove the line (winnow curate reads such a file and "
                                                  "writes the line to errors/)") from None
                        if not isinstance(record, dict) or not isinstance(record.get(TEXT, ""), (str, type(None))):
                            raise ValueError(f"{file_path}: line {number} is not a JSON object with a string "
                                             f"{TEXT!r}")
                        row = {c: record.get(c) for c in columns}
                        if isinstance(row.get(TEXT), str):
                            row[TEXT] = valid_utf8(row[TEXT])  # a lone surrogate, as every other reader does
                        yield complete_document(row, columns, fallback_source)
