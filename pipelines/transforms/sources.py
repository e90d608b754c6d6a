"""Reading inputs: web archives (WARC/ARC/WET), JSONL, Parquet and source-code trees -> raw records.

An input SPEC (a path, glob or URI that Beam FileSystems can open, or `code:PATH`) expands to
`InputFile`s whose kind comes from the extension or prefix. Each kind has a pure generator that yields
read outcomes, one per archive record / line / row / file seen:

    ("kept", RawRecord)        a record for the extract stage
    ("dropped", reason)        counted only (request/metadata/warcinfo -> `record_type`, revisit -> `revisit`,
                               binary or huge code files, ...); read-level drops write no rejected rows
    ("error", error_row)       the rest of a file that could not be parsed, with the offset it stopped at

Archive reading goes record by record through pipelines/ingest/archives.py (our lenient WARC/ARC reader: zlib
across gzip members, repaired Content-Lengths, CR CR LF headers, ARC v1/v2; see its docstring for why not
warcio or FastWARC), so memory is bounded by one record (capped by `max_record_bytes`), and every record
keeps a (file, offset) pointer: the offset of its gzip member (or byte offset in a plain file). Damage that
leaves the rest unreadable yields every good record before it and then one error row for the rest;
garbage between two readable records is one error row and reading goes on; a payload with an unknown
Content-Encoding is one error row for that record.

Whole-file inputs must be regular files (or object-store URIs): a named pipe or a link to a device matched
by a glob is one error row naming it, never opened. JSONL lines are read in chunks with a cap per line
(`iter_bounded_lines`, shared with `winnow tokenize`): a longer line is an error row and reading resumes at
its newline. A Parquet column of the wrong type (`text` not a string column; `id`/`url` neither strings
nor integers) is one error row naming the column. Tarballs and zips are streamed member by member with a
per-member and a per-archive cap on decompressed bytes; a broken member is an error row pointing at it
(`ARCHIVE!member`, header offset) and the intact ones are all read. A code tree whose `.git` points at
another repository (a `gitdir:` file, a link, alternates) is read as a plain directory.

Record ids are stable across runs: WARC-Record-ID for WARC records, sha1(file name, offset) for ARC
records (warcio's ARC->WARC conversion invents random ids), the `id` field or sha1(file name, line/row)
for JSONL/Parquet, and `code:<tree name>/<relative path>` for code files.

The Beam shell `ReadInputs` expands the specs inside the job (building a job lists no bucket) and fans
the work out per file (Create(specs) -> expand on a worker -> distinct files -> Reshuffle -> FlatMap(read)
-> Reshuffle), and a code tree is first split into one item per file so that a big tree spreads over workers.
At Common Crawl scale (~90k WARC files of ~1 GB) the per-file read is the unit of parallelism; the
Reshuffle after it breaks fusion so that extraction of one file's records spreads over all workers.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import re
import stat
import struct
import subprocess
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput

from pipelines.ingest.archives import (DAMAGED, ArchiveDamage, ArchiveRecord, ArchiveStream, PayloadTooLarge, iter_archive,
                                parse_http_response)
from pipelines.ingest.codelang import language_of
from pipelines.ingest.licenses import find_license_file, spdx_of_text
from pipelines.transforms.stages import ERRORS, StageCounters
from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, METADATA, SOURCE, TEXT, URL, to_error_row

log = logging.getLogger(__name__)

READ_STAGE = "read"
RECORDS = "records"

# RawRecord fields (beyond the document column names ID, SOURCE, URL, TEXT, CODE_LANGUAGE, INPUT_PATH,
# INPUT_OFFSET imported from schemas).
RECORD_TYPE = "record_type"      # WARC record type: response, resource, conversion (None for text/code)
CONTENT_TYPE = "content_type"    # HTTP Content-Type (or the WARC Content-Type of resource/conversion records)
HTTP_STATUS = "http_status"      # int, None when the record carries no HTTP response
BODY = "body"                    # bytes: the HTTP payload (transfer and content encodings undone)
CODE_METADATA = METADATA         # code files: {"repo", "path", "language", "license"}
WARC_DATE = "warc_date"          # ISO 8601 capture date from WARC-Date / the ARC date, None when malformed
RAW_RECORD_FIELDS = (ID, SOURCE, URL, INPUT_PATH, INPUT_OFFSET, RECORD_TYPE, CONTENT_TYPE, HTTP_STATUS,
                     BODY, TEXT, CODE_LANGUAGE, WARC_DATE)

SOURCE_WEB = "web"
SOURCE_TEXT = "text"
SOURCE_CODE = "code"

# Input kinds.
ARCHIVE = "archive"
JSONL = "jsonl"
PARQUET = "parquet"
CODE = "code"            # a directory tree (or git checkout) or a tarball, read whole
CODE_FILE = "code_file"  # one file of a code tree (what ReadInputs fans a tree out into)

ARCHIVE_EXTENSIONS = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet.gz")
JSONL_EXTENSIONS = (".jsonl", ".jsonl.gz", ".jsonl.zst")
PARQUET_EXTENSIONS = (".parquet",)
TARBALL_EXTENSIONS = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
# `warc:` forces archive reading of a file whose name does not say what it is.
PREFIXES = ("code:", "warc:")
ACCEPTED_KINDS = ", ".join(ARCHIVE_EXTENSIONS + JSONL_EXTENSIONS + PARQUET_EXTENSIONS) + \
    ", code:PATH (directory or tarball), warc:PATH (force archive)"

# WARC record types that carry a document, and those that are bookkeeping.
CONTENT_RECORD_TYPES = frozenset({"response", "resource", "conversion"})

# Directories that hold no authored source (VCS state, caches, virtualenvs): never listed.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".tox", ".venv", "venv", ".mypy_cache",
                       ".pytest_cache", ".idea", ".gradle"})
# Vendored, installed or built code: dropped as `vendored` (The Stack and StarCoder drop these too).
VENDORED_DIRS = frozenset({"node_modules", "vendor", "vendors", "third_party", "third-party", "thirdparty",
                           "external", "bower_components", "dist", "build", "site-packages", "Pods",
                           "Carthage", "jspm_packages", ".yarn", "target", "out", "_build", "deps"})
LOCK_FILES = frozenset({"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock",
                        "Gemfile.lock", "composer.lock", "go.sum", "Pipfile.lock", "uv.lock", "pdm.lock",
                        "mix.lock", "flake.lock", "packages.lock.json", "npm-shrinkwrap.json", "bun.lockb"})
MINIFIED_SUFFIXES = (".min.js", ".min.css", ".min.mjs", ".bundle.js", ".pack.js", "-min.js")
MINIFIED_MEAN_LINE = 500   # bytes per line above which a .js/.css file is a bundle (authored code is ~40)
GENERATED_MARKER = re.compile(rb"@generated\b|DO NOT EDIT|Code generated by|Autogenerated by|"
                              rb"automatically generated by|This file was generated by", re.I)
# The Stack v1 drops files above ~1 MB (mostly generated or data); we cap lower than a web page cap.
MAX_CODE_BYTES = 1 << 20
# Archive records over this are counted as `too_large` at read and never held (their bytes are skipped, and
# a Content-Encoding is inflated only this far). It is the page cap of the stages after it (extract's
# `max_html_bytes` and the crawler's `max_bytes`, 5 MiB) plus 1 MiB for HTTP headers and chunk framing: a
# bigger record would be dropped there anyway, after Beam had held it (a 1.5 MB .warc.gz of 100 records of
# 15 MiB peaked at 6.35 GB when this was 16 MiB).
MAX_RECORD_BYTES = (5 << 20) + (1 << 20)


def record_cap(page_cap: Optional[int]) -> int:
    """The archive read cap for a recipe whose extract stage keeps pages up to `page_cap` bytes (None: the
    default): a recipe that raises `max_html_bytes` raises it at read too, never below the default."""
    return max(MAX_RECORD_BYTES, (page_cap or 0) + (1 << 20))


# Decompressed bytes read from one tarball or zip. An archive is read by one worker in one call and the
# runner holds what it yields several times over (measured: 256 MiB of text read from a zip peaked at 2.1 GB
# in a curate run), so without a cap a 4 MB zip of 1,500 compressible 1 MiB files peaked at 6.3 GB. Most
# source trees are far below 64 MiB of text; a larger one is read file by file as a directory (code:DIR),
# which spreads over workers.
MAX_ARCHIVE_BYTES = 64 << 20
LICENSE_MAX_BYTES = 200_000   # a license text is a few KB; more is not a license file

Outcome = Tuple[str, Any]


@dataclass(frozen=True)
class InputFile:
    """One unit of reading: `kind` (archive, jsonl, parquet, code, code_file), the path, and for a code
    file the tree it belongs to (`root`) so that its id and language are relative to the tree."""
    kind: str
    path: str
    root: Optional[str] = None
    license: Optional[str] = None   # SPDX id of the tree's license, for a code file
    git_object: Optional[str] = None  # a file of a git repository: its blob at HEAD (read with `git cat-file`)
    size: Optional[int] = None        # ... and the blob's size from `git ls-tree --long`


def stable_id(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) or path


def _has_glob(spec: str) -> bool:
    return any(ch in spec for ch in "*?[")


def kind_of_path(path: str) -> Optional[str]:
    """The input kind a file name implies, or None when it names no known kind."""
    lower = path.lower()
    if lower.endswith(ARCHIVE_EXTENSIONS):
        return ARCHIVE
    if lower.endswith(JSONL_EXTENSIONS):
        return JSONL
    if lower.endswith(PARQUET_EXTENSIONS):
        return PARQUET
    return None


def expand_input_specs(specs: Sequence[str]) -> List[InputFile]:
    """Turn input SPECs into InputFiles (sorted, de-duplicated). Raises ValueError naming the spec for a
    spec of unknown kind or one that matches nothing: a bad input list stops a job before it starts."""
    if isinstance(specs, str):
        specs = [specs]
    files: List[InputFile] = []
    for spec in specs:
        if spec.startswith("code:"):
            path = spec[len("code:"):]
            if not path:
                raise ValueError(f"input {spec!r}: code: needs a directory or tarball path")
            if os.path.isdir(path) or (os.path.isfile(path) and path.lower().endswith(TARBALL_EXTENSIONS)):
                files.append(InputFile(CODE, os.path.abspath(path)))
                continue
            raise ValueError(f"input {spec!r}: code:PATH must name a directory or a tarball "
                             f"({', '.join(TARBALL_EXTENSIONS)}); {path!r} is neither")
        forced = None
        path = spec
        if spec.startswith("warc:"):
            forced, path = ARCHIVE, spec[len("warc:"):]
        matched = _match(path)
        if not matched:
            raise ValueError(f"input {spec!r} matches no file")
        known = []
        for p in matched:
            kind = forced or kind_of_path(p)
            if kind is not None:
                known.append(InputFile(kind, p))
            elif not _has_glob(path):
                raise ValueError(f"input {spec!r}: unknown input kind; accepted kinds are {ACCEPTED_KINDS}")
            else:
                log.warning("input %s: skipping %s (not a known input kind)", spec, p)
        if not known:
            raise ValueError(f"input {spec!r} matches no file of a known kind; accepted kinds are {ACCEPTED_KINDS}")
        files.extend(known)
    return sorted(set(files), key=lambda f: (f.path, f.kind))


def _match(pattern: str) -> List[str]:
    try:
        result = FileSystems.match([pattern])[0]
    except Exception as exc:  # Beam raises BeamIOError for a missing non-glob path on some filesystems
        log.debug("match %s failed: %s", pattern, exc)
        return []
    return sorted(m.path for m in result.metadata_list)


# --- archives ----------------------------------------------------------------------------------------

def _open_raw(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_archive(path: str, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Outcome]:
    """Read outcomes of one WARC/ARC/WET file, record by record (pipelines/ingest/archives.py does the parsing).

    A record whose payload cannot be decoded (an unknown Content-Encoding) is one error row and reading
    goes on; damage that leaves the rest of the file unreadable (a truncated gzip member, garbage where a
    header should be, an unsupported file compression) is one error row for the rest of the file."""
    name = _basename(path)
    is_arc = path.lower().endswith((".arc", ".arc.gz"))
    with _open_raw(path) as fh:
        try:
            stream = ArchiveStream(fh)
            for rec in iter_archive(stream, max_record_bytes):
                if rec.rec_type == DAMAGED:  # garbage or a record with a wrong length: one error row, read on
                    yield ("error", to_error_row(READ_STAGE, rec.extra["error"], source=SOURCE_WEB, url=rec.target_uri,
                                                 input_path=path, input_offset=rec.pointer))
                elif rec.rec_type == "revisit":  # a byte-identical payload seen before: a duplicate
                    yield ("dropped", "revisit")
                elif rec.rec_type not in CONTENT_RECORD_TYPES:
                    yield ("dropped", "record_type")
                elif rec.block is None:  # over the record cap, or past the file's cap (`archive_cap`)
                    yield ("dropped", rec.extra.get("dropped", "too_large"))
                else:
                    try:
                        yield ("kept", _archive_raw_record(rec, path, name, is_arc or rec.version.startswith("ARC"),
                                                           max_record_bytes))
                    except PayloadTooLarge:  # a small encoded payload that inflates past the cap
                        yield ("dropped", "too_large")
                    except Exception as exc:  # this record only: the next one starts at a known offset
                        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_WEB, url=rec.target_uri,
                                                     input_path=path, input_offset=rec.pointer))
        except ArchiveDamage as exc:  # the rest of the file: everything good before it has been yielded
            yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_WEB, input_path=path,
                                         input_offset=exc.offset))


def _archive_raw_record(rec: ArchiveRecord, path: str, name: str, is_arc: bool,
                        max_record_bytes: int = MAX_RECORD_BYTES) -> Dict[str, Any]:
    headers = rec.headers
    uri = rec.target_uri
    record_id = None if is_arc else headers.get("warc-record-id")
    warc_type = (headers.get("content-type") or "").lower()
    status = None
    if rec.rec_type == "response" and (is_arc or "application/http" in warc_type or rec.block[:5].upper() == b"HTTP/"):
        http = parse_http_response(rec.block, max_record_bytes)
        status, content_type, body = http.status, http.headers.get("content-type"), http.body
        if status is None and not http.headers:  # an ARC record of a non-HTTP fetch (dns:, ftp:)
            content_type = headers.get("content-type")
    else:
        content_type, body = headers.get("content-type"), rec.block
    if content_type is None and is_arc:
        content_type = headers.get("content-type")
    # ARC records have no id: (file, offset) is stable; a WARC record's own id survives re-packing.
    return {
        ID: stable_id("warc", record_id) if record_id else stable_id("archive", name, rec.offset),
        SOURCE: SOURCE_WEB, URL: uri, INPUT_PATH: path, INPUT_OFFSET: rec.pointer,
        RECORD_TYPE: rec.rec_type, CONTENT_TYPE: content_type, HTTP_STATUS: status,
        BODY: body, TEXT: None, CODE_LANGUAGE: None, WARC_DATE: rec.date,
    }


# --- JSONL and Parquet -------------------------------------------------------------------------------

def _text_record(doc_id: str, text: str, url: Optional[str], path: str, offset: int) -> Dict[str, Any]:
    return {ID: doc_id, SOURCE: SOURCE_TEXT, URL: url, INPUT_PATH: path, INPUT_OFFSET: offset,
            RECORD_TYPE: None, CONTENT_TYPE: None, HTTP_STATUS: None, BODY: None, TEXT: text, CODE_LANGUAGE: None,
            WARC_DATE: None}


def _valid_utf8(value: str) -> str:
    """`value` with lone surrogates (JSON allows the escape `\\ud800`) replaced by U+FFFD: they cannot be
    encoded as UTF-8, so one would fail the job where the record is next serialised."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


# A JSONL line holds one document; past this it is a dump (or a file with no newline at all), not a
# document: an error row, skipped up to its newline without being held. Above the 40 MB single-line
# documents that the hostile-input tests keep whole.
MAX_LINE_BYTES = 64 << 20
LINE_CHUNK_BYTES = 1 << 20


def iter_bounded_lines(fh, start: int = 0, end: Optional[int] = None, max_line_bytes: int = MAX_LINE_BYTES,
                       chunk_bytes: int = LINE_CHUNK_BYTES) -> Iterator[Tuple[int, Optional[bytes], int]]:
    """(byte offset, line without its newline or None when longer than `max_line_bytes`, line length) of
    every line that starts in [start, end) of a binary file object, read in chunks of `chunk_bytes`.

    Memory is bounded by one line up to the cap plus one chunk: a longer line is only counted while the reader
    looks for its newline, where it resynchronises. Each chunk is searched once, so a 50 MB line costs what its
    bytes cost (Beam's text reader rescans its growing buffer, 234 s for one 50 MB line). With `start` > 0 the
    file is seeked to `start - 1` and the line in progress there belongs to the range before (the split of
    Beam's text ranges); if no newline is found before `end`, no line starts in the range."""
    pos = start
    chunk = b""
    i = 0
    if start > 0:
        fh.seek(start - 1)
        pos = start - 1
        while True:
            if end is not None and pos >= end:
                return
            chunk = fh.read(chunk_bytes if end is None else max(1, min(chunk_bytes, end - pos)))
            if not chunk:
                return
            nl = chunk.find(b"\n")
            if nl >= 0:
                i = nl + 1
                pos += i
                break
            pos += len(chunk)
    line_start = pos      # file offset of the line being read
    parts: List[bytes] = []
    size = 0              # bytes of the line so far (counted past the cap, not held)
    while True:
        if size == 0 and end is not None and line_start >= end:
            return
        if i >= len(chunk):
            chunk = fh.read(chunk_bytes)
            i = 0
            if not chunk:
                if size:
                    yield line_start, (b"".join(parts) if size <= max_line_bytes else None), size
                return
        nl = chunk.find(b"\n", i)
        stop = len(chunk) if nl < 0 else nl
        if size + (stop - i) <= max_line_bytes:
            parts.append(chunk[i:stop])
        elif parts:
            parts = []
        size += stop - i
        if nl < 0:
            i = len(chunk)
            continue
        yield line_start, (b"".join(parts) if size <= max_line_bytes else None), size
        line_start += size + 1
        parts, size, i = [], 0, nl + 1


def line_too_long(size: int, max_line_bytes: int = MAX_LINE_BYTES) -> str:
    return (f"line of {size} bytes is longer than the {max_line_bytes}-byte cap of a JSONL line: skipped to its "
            f"newline; split the document or fix the file")


def jsonl_compression(path: str) -> str:
    lower = path.lower()
    return CompressionTypes.GZIP if lower.endswith(".gz") else (
        CompressionTypes.ZSTD if lower.endswith(".zst") else CompressionTypes.UNCOMPRESSED)


def read_jsonl(path: str, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Outcome]:
    """One outcome per non-blank line; the offset is the 0-based line number. A line that is not a JSON
    object with a string `text`, or that is longer than `max_line_bytes`, is an error row (the rest of the
    file still reads); a decompression failure ends the file with one error row."""
    name = _basename(path)
    line_no = -1
    try:
        with FileSystems.open(path, compression_type=jsonl_compression(path)) as fh:
            for line_no, (_offset, raw_line, size) in enumerate(iter_bounded_lines(fh, max_line_bytes=max_line_bytes)):
                if raw_line is None:
                    yield ("error", to_error_row(READ_STAGE, line_too_long(size, max_line_bytes), source=SOURCE_TEXT,
                                                 input_path=path, input_offset=line_no))
                    continue
                line = raw_line.decode("utf-8", errors="replace")
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    text = obj[TEXT]
                    if not isinstance(text, str):
                        raise TypeError(f"field {TEXT!r} is {type(text).__name__}, not a string")
                except Exception as exc:
                    yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_TEXT, input_path=path,
                                                 input_offset=line_no))
                    continue
                doc_id = obj.get(ID)
                url = obj.get(URL)
                yield ("kept", _text_record(_valid_utf8(str(doc_id)) if doc_id is not None else stable_id("jsonl", name, line_no),
                                            _valid_utf8(text), _valid_utf8(str(url)) if url is not None else None,
                                            path, line_no))
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_TEXT, input_path=path, input_offset=line_no + 1))


def _parquet_column_problem(name: str, dtype, allow_integers: bool) -> Optional[str]:
    """Why a Parquet column cannot be read as document strings (None when it can): `text` must be a string
    column; `id` and `url` may also be integers, written in decimal as JSONL's numbers are. Anything else
    (binary, lists, structs, floats) would only have its Python repr to offer."""
    import pyarrow as pa

    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    string_types = (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
                    or getattr(pa.types, "is_string_view", lambda _t: False)(dtype) or pa.types.is_null(dtype))
    if string_types or (allow_integers and pa.types.is_integer(dtype)):
        return None
    wanted = "a string column" if not allow_integers else "a string or integer column"
    return (f"Parquet column {name!r} is {dtype}, not {wanted}: no row of this file is read; "
            f"rewrite the column as UTF-8 strings")


def read_parquet(path: str, batch_size: int = 1024) -> Iterator[Outcome]:
    """One outcome per row (column `text`, optional `id` and `url`); the offset is the row index. A column of
    the wrong type is a property of the file, not of a row: one error row naming it, and no row is read."""
    import pyarrow.parquet as pq

    name = _basename(path)
    row = 0
    try:
        with _open_raw(path) as fh:
            pf = pq.ParquetFile(fh)
            schema = pf.schema_arrow
            names = set(schema.names)
            if TEXT not in names:
                raise ValueError(f"Parquet file has no {TEXT!r} column (columns: {sorted(names)})")
            columns = [c for c in (TEXT, ID, URL) if c in names]
            for c in columns:
                problem = _parquet_column_problem(c, schema.field(c).type, allow_integers=c != TEXT)
                if problem:
                    yield ("error", to_error_row(READ_STAGE, problem, source=SOURCE_TEXT, input_path=path,
                                                 input_offset=0))
                    return
            for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
                cols = {c: batch.column(c).to_pylist() for c in columns}
                for i in range(batch.num_rows):
                    text = cols[TEXT][i]
                    if text is None:
                        yield ("dropped", "empty")
                    else:
                        doc_id = cols.get(ID, [None] * batch.num_rows)[i]
                        url = cols.get(URL, [None] * batch.num_rows)[i]
                        yield ("kept", _text_record(str(doc_id) if doc_id is not None else stable_id("parquet", name, row),
                                                    text, str(url) if url is not None else None, path, row))
                    row += 1
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_TEXT, input_path=path, input_offset=row))


# --- code --------------------------------------------------------------------------------------------
#
# A code tree is a directory, a git repository (the files of its HEAD commit), or a tarball or zip.
# Each file is one outcome: kept with its Linguist language (pipelines/ingest/codelang.py) and the tree's license
# (pipelines/ingest/licenses.py), or dropped with a reason: `vendored` (a whole vendored/generated directory, one
# outcome per directory), `lock_file`, `minified`, `generated` (a generator's marker in the head),
# `extension` (no known language), `binary` (NUL bytes or not UTF-8), `too_large`, `symlink`, `not_a_file`.

def code_language_for(path: str, head: bytes = b"") -> Optional[str]:
    return language_of(path, head)


def _tree_name(path: str) -> str:
    name = _basename(path)
    for ext in TARBALL_EXTENSIONS + (".zip",):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _skip_reason(rel: str, data: bytes) -> Optional[str]:
    """Why a file of a code tree is not authored source, from its path and first bytes; None to keep."""
    name = posixpath.basename(rel)
    lower = name.lower()
    if name in LOCK_FILES or lower.endswith(".lock"):
        return "lock_file"
    if lower.endswith(MINIFIED_SUFFIXES):
        return "minified"
    head = data[:8192]
    if b"\x00" in head:
        return "binary"
    if lower.endswith((".js", ".css", ".mjs", ".cjs")) and data:
        lines = data.count(b"\n") + 1
        if len(data) / lines > MINIFIED_MEAN_LINE:
            return "minified"
    if GENERATED_MARKER.search(head[:2048]):
        return "generated"
    return None


def _code_outcome(data: bytes, tree: str, rel: str, path: str, license_id: Optional[str],
                  offset: Optional[int] = None) -> Outcome:
    rel = rel.replace(os.sep, "/")
    language = language_of(rel, data[:8192])
    if language is None:
        return ("dropped", "extension")
    reason = _skip_reason(rel, data)
    if reason:
        return ("dropped", reason)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ("dropped", "binary")
    return ("kept", {ID: f"code:{tree}/{rel}", SOURCE: SOURCE_CODE, URL: None, INPUT_PATH: path,
                     INPUT_OFFSET: offset, RECORD_TYPE: None, CONTENT_TYPE: None, HTTP_STATUS: None, BODY: None,
                     TEXT: text, CODE_LANGUAGE: language, WARC_DATE: None,
                     CODE_METADATA: {"repo": tree, "path": rel, "language": language,
                                     "license": license_id or "NOASSERTION"}})


def tree_license(root: str, names: Optional[Sequence[str]] = None) -> Optional[str]:
    """SPDX id of a directory tree's top-level license file (None when it has none)."""
    try:
        names = names if names is not None else os.listdir(root)
    except OSError:
        return None
    found = find_license_file(names)
    if not found:
        return None
    with open(os.path.join(root, found), "rb") as fh:
        return spdx_of_text(fh.read(LICENSE_MAX_BYTES).decode("utf-8", "replace"))


@dataclass(frozen=True)
class GitEntry:
    path: str           # relative to the repository root, '/'-separated
    mode: str           # 100644, 100755, 120000 (symlink), 160000 (submodule)
    object: str
    size: Optional[int]


def _git_env(root: str) -> Dict[str, str]:
    """git pinned to ROOT/.git: no GIT_* variable of ours (GIT_DIR, GIT_OBJECT_DIRECTORY, alternates) may
    send it to another repository, and it never searches the parent directories."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_DIR=os.path.join(root, ".git"), GIT_WORK_TREE=root, GIT_CEILING_DIRECTORIES=os.path.dirname(root))
    return env


def _git(root: str, *args: str) -> bytes:
    return subprocess.run(["git", "-C", root, *args], check=True, capture_output=True, timeout=300,
                          env=_git_env(root)).stdout


def foreign_git_dir(root: str) -> Optional[str]:
    """Why ROOT/.git would make git read outside the tree (None when it is the tree's own repository): a
    `.git` file (`gitdir: /elsewhere/.git`, as worktrees and submodules write), a `.git` link, or a git
    directory that borrows objects or refs from another one (`commondir`, `objects/info/alternates`)."""
    git_dir = os.path.join(root, ".git")
    if os.path.islink(git_dir):
        return f".git is a link to {os.readlink(git_dir)}"
    if not os.path.isdir(git_dir):
        return ".git is a file (a gitdir pointer to another repository)"
    for pointer in ("commondir", os.path.join("objects", "info", "alternates")):
        if os.path.exists(os.path.join(git_dir, pointer)):
            return f".git/{pointer} points at another repository"
    return None


def _git_files(root: str) -> Optional[List[GitEntry]]:
    """Files of a git repository's HEAD commit (`git ls-tree -r --long HEAD`), sorted; None when `root` is not
    a repository of its own or has no commit (then the directory is walked, with a warning)."""
    if not os.path.lexists(os.path.join(root, ".git")):
        return None
    foreign = foreign_git_dir(root)
    if foreign:
        log.warning("code tree %s: %s; reading the working tree as a plain directory, never the other "
                    "repository", root, foreign)
        return None
    try:
        out = _git(root, "ls-tree", "-r", "-z", "--long", "--full-tree", "HEAD")
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        log.warning("code tree %s: cannot list HEAD (%s%s); walking the directory instead", root, exc,
                    ": " + err.decode("utf-8", "replace").strip() if err else "")
        return None
    entries = []
    for line in out.decode("utf-8", "surrogateescape").split("\0"):
        if not line:
            continue
        meta, rel = line.split("\t", 1)
        mode, _type, obj, size = meta.split()
        entries.append(GitEntry(rel, mode, obj, int(size) if size.isdigit() else None))
    return sorted(entries, key=lambda e: e.path)


def _git_license(root: str, entries: Sequence[GitEntry]) -> Optional[str]:
    """SPDX id of the top-level license file at HEAD."""
    top = {e.path: e for e in entries if "/" not in e.path and e.mode.startswith("100")}
    found = find_license_file(sorted(top))
    if not found or (top[found].size or 0) > LICENSE_MAX_BYTES:
        return None
    return spdx_of_text(_git(root, "cat-file", "blob", top[found].object).decode("utf-8", "replace"))


def list_code_tree(root: str) -> Iterator[InputFile]:
    """Every file of a tree as CODE_FILE items (a git repository: the files of its HEAD commit, read from the
    object store, so uncommitted edits and untracked files are not read), and one item per vendored directory
    (dropped whole). Never descends into symlinked or VCS/cache directories. Sorted."""
    tracked = _git_files(root)
    if tracked is not None:
        license_id = _git_license(root, tracked)
        vendored_seen = set()
        for entry in tracked:
            parts = entry.path.split("/")
            hit = next((i for i, part in enumerate(parts[:-1]) if part in VENDORED_DIRS or part in SKIP_DIRS), None)
            if hit is not None:
                top = "/".join(parts[: hit + 1])
                if top not in vendored_seen:
                    vendored_seen.add(top)
                    yield InputFile(CODE_FILE, os.path.join(root, top), root, license_id, git_object="tree")
                continue
            yield InputFile(CODE_FILE, os.path.join(root, entry.path), root, license_id,
                            git_object=f"{entry.mode}:{entry.object}", size=entry.size)
        return
    license_id = tree_license(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        keep = []
        for d in sorted(dirnames):
            if d in SKIP_DIRS:
                continue
            if d in VENDORED_DIRS:
                yield InputFile(CODE_FILE, os.path.join(dirpath, d), root, license_id)
                continue
            keep.append(d)
        dirnames[:] = keep
        for fn in sorted(filenames):
            yield InputFile(CODE_FILE, os.path.join(dirpath, fn), root, license_id)


def read_git_file(item: InputFile, max_bytes: int = MAX_CODE_BYTES) -> Iterator[Outcome]:
    """One outcome for one file of a git repository's HEAD (item from list_code_tree)."""
    root = item.root or os.path.dirname(item.path)
    rel = os.path.relpath(item.path, root)
    tree = _basename(root)
    try:
        if item.git_object == "tree":
            yield ("dropped", "vendored")
            return
        mode, obj = item.git_object.split(":", 1)
        if mode == "120000":
            yield ("dropped", "symlink")
        elif not mode.startswith("100"):  # a submodule (160000) is a commit, not a file
            yield ("dropped", "not_a_file")
        elif item.size is not None and item.size > max_bytes:
            yield ("dropped", "too_large")
        else:
            yield _code_outcome(_git(root, "cat-file", "blob", obj), tree, rel, item.path, item.license)
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, doc_id=f"code:{tree}/{rel}",
                                     source=SOURCE_CODE, input_path=item.path))


def read_code_file(path: str, root: str, max_bytes: int = MAX_CODE_BYTES,
                   license_id: Optional[str] = None) -> Iterator[Outcome]:
    """One outcome for one file (or vendored directory) of a code tree."""
    rel = os.path.relpath(path, root)
    tree = _basename(root)
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            yield ("dropped", "vendored")
            return
        if os.path.islink(path):
            real_root = os.path.realpath(root)
            target = os.path.realpath(path)
            if os.path.commonpath([real_root, target]) != real_root:
                yield ("dropped", "symlink")
                return
        if not os.path.isfile(path):
            yield ("dropped", "not_a_file")
            return
        if os.path.getsize(path) > max_bytes:
            yield ("dropped", "too_large")
            return
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
        yield _code_outcome(data, tree, rel, path, license_id)
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, doc_id=f"code:{tree}/{rel}",
                                     source=SOURCE_CODE, input_path=path))


def _member_rel(name: str) -> str:
    """A tarball/zip member's path inside the tree: its name without leading `./` segments, and otherwise as
    written, so that `../x.py` or `/x.py` never becomes the id of `x.py` (a character strip would also eat
    the dot of `.github/`)."""
    while name.startswith("./"):
        name = name[2:]
    return name


def _drain(reader, chunk: int = 1 << 20) -> int:
    """Read a member to its end without holding it (a truncated member raises here, at its own pointer)."""
    total = 0
    while True:
        data = reader.read(chunk)
        if not data:
            return total
        total += len(data)


@dataclass
class _Member:
    name: str
    offset: int             # tar: its header's offset in the (uncompressed) tar stream; zip: its local header
    size: Optional[int]     # declared bytes; None for a link, device or other non-file
    open: Any               # () -> a file object of its payload (read it bounded)
    problem: Optional[str] = None  # a defect seen before reading (declared size past the end of the file)
    stream_end: int = 0     # tar: where its payload ends in the uncompressed stream (all of it is inflated)


class _ArchiveEnd(Exception):
    """The rest of a tarball cannot be read (truncation, a damaged header); `offset` is where it stopped."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


ZIP_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


def _zip_members_from_local_headers(path: str, file_size: int) -> Iterator[_Member]:
    """The members of a zip without its central directory (a truncated download), walked from their local
    headers: each gives its name and sizes, so the intact members are read and the walk ends at the damage,
    with _ArchiveEnd saying where. A member whose sizes follow its data (a streamed zip) cannot be skipped
    safely without the directory, so the walk ends there too."""
    with open(path, "rb") as fh:
        offset = 0
        while True:
            fh.seek(offset)
            head = fh.read(ZIP_LOCAL_HEADER.size)
            if head[:4] in (b"PK\x01\x02", b"PK\x05\x06"):  # a directory after all: every member was read
                return
            if len(head) < ZIP_LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
                raise _ArchiveEnd("the zip has no central directory (truncated or damaged) and no member header "
                                  "here; the members before this offset were read from their local headers", offset)
            _sig, _ver, flags, method, _t, _d, crc, csize, usize, name_len, extra_len = ZIP_LOCAL_HEADER.unpack(head)
            name = fh.read(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace")
            data_start = offset + ZIP_LOCAL_HEADER.size + name_len + extra_len
            if flags & 0x08 or 0xFFFFFFFF in (csize, usize):
                raise _ArchiveEnd(f"member {name!r} gives its sizes after its data and the zip has no central "
                                  f"directory: the rest cannot be located; re-create or re-download it", offset)
            info = zipfile.ZipInfo(name)
            info.compress_type, info.compress_size, info.file_size, info.CRC, info.flag_bits = method, csize, usize, crc, flags
            info.header_offset = offset
            problem = None
            if data_start + csize > file_size:
                problem = (f"member declares {csize} compressed bytes at offset {offset}, past the end of the "
                           f"{file_size}-byte file: the zip is truncated")

            def open_member(info=info, data_start=data_start):
                fh.seek(data_start)
                return zipfile.ZipExtFile(fh, "r", info)

            if not name.endswith("/"):
                yield _Member(name, offset, usize, open_member, problem)
            if problem:
                return
            offset = data_start + csize


def _zip_members(path: str) -> Iterator[_Member]:
    file_size = os.path.getsize(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        with open(path, "rb") as fh:
            is_zip = fh.read(4) == b"PK\x03\x04"
        if not is_zip:
            raise
        yield from _zip_members_from_local_headers(path, file_size)
        return
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            problem = None
            if info.header_offset + info.compress_size > file_size:
                problem = (f"member declares {info.compress_size} compressed bytes at offset {info.header_offset}, "
                           f"past the end of the {file_size}-byte file: the archive is truncated or damaged")
            yield _Member(info.filename, info.header_offset, None if is_link else info.file_size,
                          lambda i=info: zf.open(i), problem)


def _tar_members(path: str) -> Iterator[_Member]:
    """Members in stream order (`r|*`: one sequential pass, nothing seeks back). Damage that stops the walk
    raises _ArchiveEnd after every member before it."""
    file_size = os.path.getsize(path)
    plain = not path.lower().endswith((".gz", ".tgz", ".bz2", ".xz"))
    with tarfile.open(path, "r|*") as tar:
        while True:
            offset = tar.offset
            try:
                member = tar.next()
            except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                raise _ArchiveEnd(f"{type(exc).__name__}: {exc} (the tarball is truncated or damaged here; "
                                  f"members before it were read)", offset) from exc
            if member is None:
                return
            if member.isdir():
                continue
            problem = None
            if plain and member.isfile() and member.offset_data + member.size > file_size:
                problem = (f"member declares {member.size} bytes but the file ends "
                           f"{max(0, file_size - member.offset_data)} bytes after its header: the tarball is truncated")
            yield _Member(member.name, member.offset, member.size if member.isfile() else None,
                          lambda m=member: tar.extractfile(m), problem, member.offset_data + member.size)


def archive_members(path: str) -> Iterator[_Member]:
    """Every non-directory member of a tarball or zip, in archive order, read in one pass."""
    if path.lower().endswith(".zip"):
        yield from _zip_members(path)
    else:
        yield from _tar_members(path)


def _archive_license(path: str, max_bytes: int) -> Optional[str]:
    """SPDX id of the archive's top-level license file (at the root or under one top directory). A zip names
    its members in the central directory, so only that file is read; a tarball is walked up to it (headers,
    payloads skipped), stopping without a license at the first damage or after `max_bytes` of the stream."""
    try:
        for member in archive_members(path):
            if max(member.offset, member.stream_end) > max_bytes:
                return None
            parts = _member_rel(member.name).split("/")
            if (len(parts) <= 2 and find_license_file([parts[-1]]) and member.size is not None
                    and member.size < LICENSE_MAX_BYTES and member.problem is None):
                with member.open() as fh:
                    return spdx_of_text(fh.read(LICENSE_MAX_BYTES).decode("utf-8", "replace"))
    except Exception as exc:  # the reading pass reports the damage, member by member
        log.debug("license pass over %s stopped: %s", path, exc)
    return None


def read_code_tarball(path: str, max_bytes: int = MAX_CODE_BYTES,
                      max_archive_bytes: int = MAX_ARCHIVE_BYTES) -> Iterator[Outcome]:
    """One outcome per member of a tarball or zip, streamed (links and devices dropped as `not_a_file`; files
    under a vendored directory as `vendored`, one outcome each since an archive is read in one pass).

    A member is read at most `max_bytes + 1` bytes (its declared size can lie), so an oversize payload is
    dropped as `too_large` without being held; a member that fails (a bad CRC, a truncated payload, a
    declared size past the end of the file) is one error row pointing at it (`ARCHIVE!member`, its header
    offset) and the next member is read; damage that ends the walk (a truncated tarball) is one error row at
    the offset where it stopped, after every member before it. Decompressed bytes are capped per archive
    (`max_archive_bytes`, payloads read plus, for a tarball, the stream walked): past it, one error row and
    the rest is not read, so a small archive of compressible members cannot fill memory."""
    tree = _tree_name(path)
    used = 0
    offset = 0
    try:
        license_id = _archive_license(path, max_archive_bytes)
        is_zip = path.lower().endswith(".zip")
        for member in archive_members(path):
            offset = member.offset
            rel = _member_rel(member.name)
            pointer = f"{path}!{rel}"
            if not is_zip:  # a tarball's stream is inflated through this payload, even one that is skipped
                used = member.stream_end
            if used > max_archive_bytes:
                yield ("error", to_error_row(
                    READ_STAGE, f"archive cap: more than {max_archive_bytes} decompressed bytes read from this "
                    f"archive; the members from here on are not read (unpack it and pass code:DIR, which is read "
                    f"file by file)", source=SOURCE_CODE, input_path=path, input_offset=member.offset))
                return
            parts = rel.split("/")
            if any(part in SKIP_DIRS for part in parts[:-1]):
                continue
            try:
                if member.problem:
                    raise ValueError(member.problem)
                if any(part in VENDORED_DIRS for part in parts[:-1]):
                    yield ("dropped", "vendored")
                elif member.size is None:
                    yield ("dropped", "not_a_file")
                elif member.size > max_bytes:
                    if not is_zip:  # walk it here, so that a truncated payload errs at this member
                        with member.open() as fh:
                            _drain(fh)
                    yield ("dropped", "too_large")
                else:
                    with member.open() as fh:  # a zip member's CRC is checked when the read reaches its end
                        data = fh.read(max_bytes + 1)
                    if is_zip:
                        used += len(data)
                    if len(data) > max_bytes:  # its declared size was smaller
                        yield ("dropped", "too_large")
                    else:
                        yield _code_outcome(data, tree, rel, pointer, license_id, offset=member.offset)
            except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                    NotImplementedError, RuntimeError) as exc:
                # a zip's members are independent (the central directory says where each starts); a tarball
                # is one stream, which a broken payload leaves at an unknown position
                after = ("the other members are read" if is_zip else
                         "the tarball cannot be read past it; re-create or re-download it")
                yield ("error", to_error_row(READ_STAGE, f"{type(exc).__name__}: {exc} (member unreadable: {after})",
                                             doc_id=f"code:{tree}/{rel}", source=SOURCE_CODE, input_path=pointer,
                                             input_offset=member.offset))
                if not is_zip:
                    return
    except _ArchiveEnd as exc:
        yield ("error", to_error_row(READ_STAGE, str(exc), source=SOURCE_CODE, input_path=path,
                                     input_offset=exc.offset))
    except Exception as exc:  # the archive itself cannot be opened (not a zip, not a tarball)
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_CODE, input_path=path, input_offset=offset))


# --- dispatch ----------------------------------------------------------------------------------------

def split_input(item: InputFile) -> Iterator[InputFile]:
    """Fan a code directory out into its files; every other input is read whole."""
    if item.kind == CODE and os.path.isdir(item.path):
        yield from list_code_tree(item.path)
    else:
        yield item


def not_a_regular_file(path: str) -> Optional[str]:
    """Why a local input path cannot be read as a file (None for a regular file or an object-store URI).
    stat() follows links, so a `.jsonl` linked to /dev/zero is a character device: read, it never ends; a
    named pipe blocks its reader forever."""
    if "://" in path:
        return None
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # the reader says what is wrong with it
    if stat.S_ISREG(mode):
        return None
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a directory" if stat.S_ISDIR(mode) else "not a regular file")
    return (f"{path} is {kind}, not a regular file: inputs must be regular files or object-store URIs; "
            f"remove it from the input or narrow the glob")


def read_input_file(item: InputFile, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Outcome]:
    """Read outcomes of one InputFile, whatever its kind. A whole-file input that is not a regular file is
    one error row naming it (code trees check their own files: a FIFO there is `not_a_file`)."""
    if item.kind in (ARCHIVE, JSONL, PARQUET) or (item.kind == CODE and not os.path.isdir(item.path)):
        problem = not_a_regular_file(item.path)
        if problem:
            yield ("error", to_error_row(READ_STAGE, problem, source=SOURCE_CODE if item.kind == CODE else None,
                                         input_path=item.path))
            return
    if item.kind == ARCHIVE:
        yield from read_archive(item.path, max_record_bytes)
    elif item.kind == JSONL:
        yield from read_jsonl(item.path)
    elif item.kind == PARQUET:
        yield from read_parquet(item.path)
    elif item.kind == CODE_FILE:
        if item.git_object:
            yield from read_git_file(item)
        else:
            yield from read_code_file(item.path, item.root or os.path.dirname(item.path), license_id=item.license)
    elif item.kind == CODE:
        if os.path.isdir(item.path):
            for f in list_code_tree(item.path):
                yield from read_input_file(f)
        else:
            yield from read_code_tarball(item.path)
    else:
        raise ValueError(f"unknown input kind {item.kind!r}")


def iter_raw_records(specs: Sequence[str]) -> Iterator[Dict[str, Any]]:
    """Every RawRecord of the inputs, in order, without Beam (drops and errors skipped)."""
    for item in expand_input_specs(specs):
        for status, value in read_input_file(item):
            if status == "kept":
                yield value


# --- Beam shell --------------------------------------------------------------------------------------

class _ReadInputFn(beam.DoFn):
    def __init__(self, max_record_bytes: int = MAX_RECORD_BYTES):
        super().__init__()
        self._max_record_bytes = max_record_bytes

    def setup(self):
        self._counters = StageCounters(READ_STAGE)

    def process(self, item: InputFile):
        c = self._counters
        start = time.perf_counter()
        try:
            for status, value in read_input_file(item, self._max_record_bytes):
                c.in_.inc()
                if status == "kept":
                    c.kept.inc()
                    yield value
                elif status == "dropped":
                    c.dropped(value)
                else:
                    c.errors.inc()
                    yield TaggedOutput(ERRORS, value)
        except Exception as exc:  # a reader bug must not kill the job either
            c.in_.inc()
            c.errors.inc()
            yield TaggedOutput(ERRORS, to_error_row(READ_STAGE, exc, input_path=item.path))
        finally:
            c.micros.inc(int((time.perf_counter() - start) * 1e6))


def expand_input_spec(spec: str) -> List[InputFile]:
    """The InputFiles of one SPEC (see expand_input_specs); the worker-side step of ReadInputs."""
    return expand_input_specs([spec])


def input_file_key(item: InputFile) -> Tuple[Tuple[str, str], InputFile]:
    return (item.kind, item.path), item


def first_input_file(keyed: Tuple[Tuple[str, str], Iterable[InputFile]]) -> InputFile:
    return next(iter(keyed[1]))


class _ExpandSpecFn(beam.DoFn):
    """SPEC -> InputFiles, on a worker. A spec that matches nothing here (the driver validates local specs
    before a local run; a remote glob is only listed by the job) is one error row of stage `read`."""

    def setup(self):
        self._counters = StageCounters(READ_STAGE)

    def process(self, spec: str):
        try:
            files = expand_input_spec(spec)
        except Exception as exc:
            self._counters.in_.inc()
            self._counters.errors.inc()
            yield TaggedOutput(ERRORS, to_error_row(READ_STAGE, exc, input_path=spec))
            return
        yield from files


class ReadInputs(beam.PTransform):
    """Input SPECs -> RawRecords (main output `records`) and error rows (`errors`); counts stage `read`.

    The specs are expanded inside the job (Create(specs) -> expand on a worker -> one item per file, the
    same file named by two specs read once -> split code trees -> Reshuffle -> read), so building the job
    lists no bucket: a Dataflow job over gs:// globs is built on a machine with no network, and a glob over
    ~90k WARC files is listed by a worker, not by the driver."""

    def __init__(self, specs: Sequence[str], max_record_bytes: int = MAX_RECORD_BYTES):
        super().__init__()
        self._specs = [specs] if isinstance(specs, str) else list(specs)
        self._max_record_bytes = max_record_bytes  # archive records over it are `too_large` (see record_cap)

    def expand(self, pbegin):
        listed = (pbegin
                  | "ListSpecs" >> beam.Create(sorted(set(self._specs)))
                  | "ExpandSpecs" >> beam.ParDo(_ExpandSpecFn()).with_outputs(ERRORS, main="files"))
        files = (listed["files"]
                 | "KeyByFile" >> beam.Map(input_file_key)
                 | "DistinctFiles" >> beam.GroupByKey()
                 | "FirstOfFile" >> beam.Map(first_input_file))
        result = (files
                  | "SplitTrees" >> beam.FlatMap(split_input)
                  | "SpreadFiles" >> beam.Reshuffle()
                  | "ReadFiles" >> beam.ParDo(_ReadInputFn(self._max_record_bytes)).with_outputs(ERRORS, main=RECORDS))
        records = result[RECORDS] | "SpreadRecords" >> beam.Reshuffle()
        errors = (listed[ERRORS], result[ERRORS]) | "FlattenReadErrors" >> beam.Flatten()
        return {RECORDS: records, ERRORS: errors}
