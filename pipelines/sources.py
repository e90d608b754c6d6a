"""Reading inputs: web archives (WARC/ARC/WET), JSONL, Parquet and source-code trees -> raw records.

An input SPEC (a path, glob or URI that Beam FileSystems can open, or `code:PATH`) expands to
`InputFile`s whose kind comes from the extension or prefix. Each kind has a pure generator that yields
read outcomes, one per archive record / line / row / file seen:

    ("kept", RawRecord)        a record for the extract stage
    ("dropped", reason)        counted only (request/metadata/warcinfo -> `record_type`, revisit -> `revisit`,
                               binary or huge code files, ...); read-level drops write no rejected rows
    ("error", error_row)       the rest of a file that could not be parsed, with the offset it stopped at

Archive reading goes record by record through warcio's ArchiveIterator (which also reads ARC), so memory
is bounded by one record (capped by `max_record_bytes`), and every record keeps a (file, offset) pointer.
A parse failure mid-file yields every good record before it and then one error row for the rest: a
truncated or malformed archive costs its tail, never the job.

Record ids are stable across runs: WARC-Record-ID for WARC records, sha1(file name, offset) for ARC
records (warcio's ARC->WARC conversion invents random ids), the `id` field or sha1(file name, line/row)
for JSONL/Parquet, and `code:<tree name>/<relative path>` for code files.

The Beam shell `ReadInputs` fans the work out per file (Create -> Reshuffle -> FlatMap(read) ->
Reshuffle), and a code tree is first split into one item per file so that a big tree spreads over workers.
At Common Crawl scale (~90k WARC files of ~1 GB) the per-file read is the unit of parallelism; the
Reshuffle after it breaks fusion so that extraction of one file's records spreads over all workers.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import tarfile
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput

from pipelines.stages import ERRORS, StageCounters
from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL, to_error_row

log = logging.getLogger(__name__)

READ_STAGE = "read"
RECORDS = "records"

# RawRecord fields (beyond the document column names ID, SOURCE, URL, TEXT, CODE_LANGUAGE, INPUT_PATH,
# INPUT_OFFSET imported from schemas).
RECORD_TYPE = "record_type"      # WARC record type: response, resource, conversion (None for text/code)
CONTENT_TYPE = "content_type"    # HTTP Content-Type (or the WARC Content-Type of resource/conversion records)
HTTP_STATUS = "http_status"      # int, None when the record carries no HTTP response
BODY = "body"                    # bytes: the HTTP payload (transfer/content encodings undone by warcio)
RAW_RECORD_FIELDS = (ID, SOURCE, URL, INPUT_PATH, INPUT_OFFSET, RECORD_TYPE, CONTENT_TYPE, HTTP_STATUS,
                     BODY, TEXT, CODE_LANGUAGE)

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
TARBALL_EXTENSIONS = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
# `warc:` forces archive reading of a file whose name does not say what it is.
PREFIXES = ("code:", "warc:")
ACCEPTED_KINDS = ", ".join(ARCHIVE_EXTENSIONS + JSONL_EXTENSIONS + PARQUET_EXTENSIONS) + \
    ", code:PATH (directory or tarball), warc:PATH (force archive)"

# WARC record types that carry a document, and those that are bookkeeping.
CONTENT_RECORD_TYPES = frozenset({"response", "resource", "conversion"})

# A small map from file extension to programming language: the languages of the code corpus we expect.
CODE_EXTENSIONS = {
    ".py": "python", ".pyi": "python", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".java": "java", ".js": "javascript", ".mjs": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust", ".rb": "ruby", ".php": "php",
    ".cs": "csharp", ".swift": "swift", ".kt": "kotlin", ".scala": "scala", ".sh": "shell",
    ".bash": "shell", ".pl": "perl", ".pm": "perl", ".lua": "lua", ".r": "r", ".sql": "sql",
    ".html": "html", ".css": "css", ".md": "markdown", ".rst": "restructuredtext", ".toml": "toml",
    ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".m": "objective-c", ".hs": "haskell",
    ".ml": "ocaml", ".jl": "julia", ".zig": "zig", ".f90": "fortran",
}
# Directories that hold no authored source (VCS state, caches, vendored installs).
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".venv", "venv",
                       ".mypy_cache", ".pytest_cache"})
# The Stack v1 drops files above ~1 MB (mostly generated or data); we cap lower than a web page cap.
MAX_CODE_BYTES = 1 << 20
# Beyond this an archive payload is a video or a dump, not text: counted as `too_large`, never loaded.
MAX_RECORD_BYTES = 16 << 20

Outcome = Tuple[str, Any]


@dataclass(frozen=True)
class InputFile:
    """One unit of reading: `kind` (archive, jsonl, parquet, code, code_file), the path, and for a code
    file the tree it belongs to (`root`) so that its id and language are relative to the tree."""
    kind: str
    path: str
    root: Optional[str] = None


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
    """Read outcomes of one WARC/ARC/WET file, record by record."""
    from warcio.archiveiterator import ArchiveIterator

    is_arc = path.lower().endswith((".arc", ".arc.gz"))
    name = _basename(path)
    next_offset = 0  # where the next record starts: the error pointer if parsing fails
    with _open_raw(path) as fh:
        try:
            it = ArchiveIterator(fh, arc2warc=True)
            for record in it:
                rec_type = record.rec_type
                outcome: Outcome
                if rec_type in CONTENT_RECORD_TYPES:
                    body = record.content_stream().read(max_record_bytes + 1)
                    offset = it.get_record_offset()  # read after the body: asking first consumes it
                    if len(body) > max_record_bytes:
                        outcome = ("dropped", "too_large")
                    else:
                        outcome = ("kept", _archive_raw_record(record, body, path, name, offset, is_arc))
                else:
                    offset = it.get_record_offset()
                    outcome = ("dropped", "revisit" if rec_type == "revisit" else "record_type")
                # warcio reports odd lengths for a whole-file gzip; never point before this record
                next_offset = max(offset, offset + it.get_record_length())
                yield outcome
        except Exception as exc:  # a malformed tail: everything good before it has been yielded
            yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_WEB, input_path=path,
                                         input_offset=next_offset))


def _archive_raw_record(record, body: bytes, path: str, name: str, offset: int, is_arc: bool) -> Dict[str, Any]:
    headers = record.rec_headers
    uri = headers.get_header("WARC-Target-URI")
    if uri and uri.startswith("<") and uri.endswith(">"):  # wget wraps target URIs in <...>
        uri = uri[1:-1]
    record_id = None if is_arc else headers.get_header("WARC-Record-ID")
    http = record.http_headers
    status = None
    if http is not None and record.rec_type == "response":
        content_type = http.get_header("Content-Type")
        try:
            status = int(http.get_statuscode())
        except (TypeError, ValueError):
            status = None
    else:
        content_type = headers.get_header("Content-Type")
    return {
        ID: stable_id("warc", record_id) if record_id else stable_id("archive", name, offset),
        SOURCE: SOURCE_WEB, URL: uri, INPUT_PATH: path, INPUT_OFFSET: offset,
        RECORD_TYPE: record.rec_type, CONTENT_TYPE: content_type, HTTP_STATUS: status,
        BODY: body, TEXT: None, CODE_LANGUAGE: None,
    }


# --- JSONL and Parquet -------------------------------------------------------------------------------

def _text_record(doc_id: str, text: str, url: Optional[str], path: str, offset: int) -> Dict[str, Any]:
    return {ID: doc_id, SOURCE: SOURCE_TEXT, URL: url, INPUT_PATH: path, INPUT_OFFSET: offset,
            RECORD_TYPE: None, CONTENT_TYPE: None, HTTP_STATUS: None, BODY: None, TEXT: text, CODE_LANGUAGE: None}


def read_jsonl(path: str) -> Iterator[Outcome]:
    """One outcome per non-blank line; the offset is the 0-based line number. A line that is not a JSON
    object with a string `text` is an error row (the rest of the file still reads); a decompression failure
    ends the file with one error row."""
    name = _basename(path)
    lower = path.lower()
    compression = CompressionTypes.GZIP if lower.endswith(".gz") else (
        CompressionTypes.ZSTD if lower.endswith(".zst") else CompressionTypes.UNCOMPRESSED)
    line_no = -1
    try:
        with FileSystems.open(path, compression_type=compression) as fh:
            # Beam's CompressedFile is not a full io object (no TextIOWrapper); readline() bounds memory.
            for line_no, raw_line in enumerate(iter(fh.readline, b"")):
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
                yield ("kept", _text_record(str(doc_id) if doc_id is not None else stable_id("jsonl", name, line_no),
                                            text, str(url) if url is not None else None, path, line_no))
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_TEXT, input_path=path, input_offset=line_no + 1))


def read_parquet(path: str, batch_size: int = 1024) -> Iterator[Outcome]:
    """One outcome per row (column `text`, optional `id` and `url`); the offset is the row index."""
    import pyarrow.parquet as pq

    name = _basename(path)
    row = 0
    try:
        with _open_raw(path) as fh:
            pf = pq.ParquetFile(fh)
            names = set(pf.schema_arrow.names)
            if TEXT not in names:
                raise ValueError(f"Parquet file has no {TEXT!r} column (columns: {sorted(names)})")
            columns = [c for c in (TEXT, ID, URL) if c in names]
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
                                                    str(text), url, path, row))
                    row += 1
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_TEXT, input_path=path, input_offset=row))


# --- code --------------------------------------------------------------------------------------------

def code_language_for(path: str) -> Optional[str]:
    return CODE_EXTENSIONS.get(os.path.splitext(path)[1].lower())


def list_code_tree(root: str) -> Iterator[InputFile]:
    """Every file under a directory tree, as CODE_FILE items; never descends into symlinked directories
    or VCS/cache directories. Order is sorted, so the listing is deterministic."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for fn in sorted(filenames):
            yield InputFile(CODE_FILE, os.path.join(dirpath, fn), root)


def _code_record(root: str, rel: str, text: str, path: str) -> Dict[str, Any]:
    rel = rel.replace(os.sep, "/")
    return {ID: f"code:{_basename(root)}/{rel}", SOURCE: SOURCE_CODE, URL: None, INPUT_PATH: path,
            INPUT_OFFSET: None, RECORD_TYPE: None, CONTENT_TYPE: None, HTTP_STATUS: None, BODY: None,
            TEXT: text, CODE_LANGUAGE: code_language_for(rel)}


def _code_outcome(data: bytes, root: str, rel: str, path: str) -> Outcome:
    if b"\x00" in data[:8192]:
        return ("dropped", "binary")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ("dropped", "binary")
    return ("kept", _code_record(root, rel, text, path))


def read_code_file(path: str, root: str, max_bytes: int = MAX_CODE_BYTES) -> Iterator[Outcome]:
    """One outcome for one file of a code tree: unknown extension -> `extension`, a symlink that leaves
    the tree -> `symlink`, over `max_bytes` -> `too_large`, NUL bytes or not UTF-8 -> `binary`."""
    rel = os.path.relpath(path, root)
    try:
        if code_language_for(path) is None:
            yield ("dropped", "extension")
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
        yield _code_outcome(data, root, rel, path)
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, doc_id=f"code:{_basename(root)}/{rel}",
                                     source=SOURCE_CODE, input_path=path))


def read_code_tarball(path: str, max_bytes: int = MAX_CODE_BYTES) -> Iterator[Outcome]:
    """One outcome per member of a tarball (links and devices dropped as `not_a_file`)."""
    root = _basename(path)
    for ext in TARBALL_EXTENSIONS:
        if root.lower().endswith(ext):
            root = root[: -len(ext)]
            break
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if any(part in SKIP_DIRS for part in member.name.split("/")[:-1]):
                    continue
                if not member.isfile():
                    yield ("dropped", "not_a_file")
                elif code_language_for(member.name) is None:
                    yield ("dropped", "extension")
                elif member.size > max_bytes:
                    yield ("dropped", "too_large")
                else:
                    data = tar.extractfile(member).read()
                    yield _code_outcome(data, root, member.name.lstrip("./"), f"{path}!{member.name}")
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_CODE, input_path=path))


# --- dispatch ----------------------------------------------------------------------------------------

def split_input(item: InputFile) -> Iterator[InputFile]:
    """Fan a code directory out into its files; every other input is read whole."""
    if item.kind == CODE and os.path.isdir(item.path):
        yield from list_code_tree(item.path)
    else:
        yield item


def read_input_file(item: InputFile) -> Iterator[Outcome]:
    """Read outcomes of one InputFile, whatever its kind."""
    if item.kind == ARCHIVE:
        yield from read_archive(item.path)
    elif item.kind == JSONL:
        yield from read_jsonl(item.path)
    elif item.kind == PARQUET:
        yield from read_parquet(item.path)
    elif item.kind == CODE_FILE:
        yield from read_code_file(item.path, item.root or os.path.dirname(item.path))
    elif item.kind == CODE:
        if os.path.isdir(item.path):
            for f in list_code_tree(item.path):
                yield from read_code_file(f.path, f.root)
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
    def setup(self):
        self._counters = StageCounters(READ_STAGE)

    def process(self, item: InputFile):
        c = self._counters
        start = time.perf_counter()
        try:
            for status, value in read_input_file(item):
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


class ReadInputs(beam.PTransform):
    """Input SPECs -> RawRecords (main output `records`) and error rows (`errors`); counts stage `read`."""

    def __init__(self, specs: Sequence[str]):
        super().__init__()
        self._specs = [specs] if isinstance(specs, str) else list(specs)

    def expand(self, pbegin):
        files = expand_input_specs(self._specs)
        result = (pbegin
                  | "ListInputs" >> beam.Create(files)
                  | "SplitTrees" >> beam.FlatMap(split_input)
                  | "SpreadFiles" >> beam.Reshuffle()
                  | "ReadFiles" >> beam.ParDo(_ReadInputFn()).with_outputs(ERRORS, main=RECORDS))
        records = result[RECORDS] | "SpreadRecords" >> beam.Reshuffle()
        return {RECORDS: records, ERRORS: result[ERRORS]}
