"""Reading inputs without Beam: input SPECs -> `InputFile`s -> read outcomes (pipelines/ingest/inputs.py) of web
archives (WARC/ARC/WET), JSONL and Parquet; code trees are read by pipelines/ingest/code_trees.py.

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
nor integers) is one error row naming the column.

Files are opened and globs listed through Beam's file systems only, so that a path may be gs://.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import struct
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from pipelines.ingest.archives import (DAMAGED, ArchiveDamage, ArchiveRecord, ArchiveStream, PayloadTooLarge,
                                       ResumePoint, iter_archive, parse_http_response)
from pipelines.ingest.code_trees import list_code_tree, read_code_file, read_code_tarball, read_git_file
from pipelines.ingest.inputs import (ACCEPTED_KINDS, ARCHIVE, CODE, CODE_FILE, JSONL, MAX_RECORD_BYTES, PARQUET,
                                     READ_STAGE, REPLACED_INVALID_UTF8, SOURCE_CODE, SOURCE_TEXT, SOURCE_WEB,
                                     TARBALL_EXTENSIONS, InputFile, Outcome, basename, kind_of_path, not_a_regular_file,
                                     stable_id)
from pipelines.ingest.records import (BODY, CONTENT_TYPE, EMPTY_TEXT, HTTP_STATUS, RECORD_POSITION, RECORD_TYPE,
                                      TRUNCATED, WARC_DATE, lost_record)
from filters.dedup_index import PREVIOUS_PREFIX
from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL, to_error_row
from schemas.io import BOM_UTF8, CompressedFrames, holds_strings, valid_utf8

log = logging.getLogger(__name__)

# WARC record types that carry a document, and those that are bookkeeping.
CONTENT_RECORD_TYPES = frozenset({"response", "resource", "conversion"})


def expand_input_specs(specs: Sequence[str], warn_skipped: bool = True) -> List[InputFile]:
    """Turn input SPECs into InputFiles (sorted, de-duplicated). Raises ValueError naming the spec for a
    spec of unknown kind or one that matches nothing: a bad input list stops a job before it starts. A glob's
    files of no known kind are skipped, with a warning unless `warn_skipped` is false (the workers' second
    expansion of a spec the driver has already expanded and warned about)."""
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
        if not _has_glob(path) and os.path.isdir(path):
            raise ValueError(f"input {spec!r} is a directory: give its files as a glob, e.g. "
                             f"'{os.path.join(path, '*')}' (files of other kinds are skipped with a warning), "
                             f"or code:{path} for a source tree")
        matched = _match(path)
        if not matched and "://" not in path and not _has_glob(path) and os.path.islink(path):
            raise ValueError(f"input {spec!r} is a symbolic link to {os.readlink(path)!r}, which does not exist "
                             f"(or the links form a loop): fix the link or give the file itself")
        if not matched:
            raise ValueError(f"input {spec!r} matches no file")
        known = []
        for p in matched:
            kind = forced or kind_of_path(p)
            if kind is not None:  # a local file by its absolute, normalised path: the pointer in error rows and
                # renamed ids (`ID@path:offset`) is then the same whatever the spelling or working directory
                known.append(InputFile(kind, p if "://" in p else os.path.abspath(p)))
            elif not _has_glob(path):
                raise ValueError(f"input {spec!r}: unknown input kind; accepted kinds are {ACCEPTED_KINDS}")
            elif warn_skipped:
                log.warning("input %s: skipping %s (not a known input kind)", spec, p)
        if not known:
            raise ValueError(f"input {spec!r} matches no file of a known kind; accepted kinds are {ACCEPTED_KINDS}")
        files.extend(known)
    return distinct_files(files)


def same_file_key(item: InputFile) -> Tuple[str, str, Optional[str]]:
    """What makes two InputFiles one read: a local path is compared absolute and normalised (`d/a.jsonl`,
    `./d/a.jsonl` and its absolute form are one file), without resolving links (a link under another name is
    another input, as its name says). `expand_input_specs` already gives local files so; InputFiles made
    elsewhere may not be."""
    path = item.path if "://" in item.path else os.path.abspath(item.path)
    return item.kind, path, item.root


def distinct_files(files: Sequence[InputFile]) -> List[InputFile]:
    """Each file once (the first spelling in sorted order), sorted by path."""
    chosen: Dict[Tuple[str, str, Optional[str]], InputFile] = {}
    for item in sorted(set(files), key=lambda f: (f.path, f.kind)):
        chosen.setdefault(same_file_key(item), item)
    return sorted(chosen.values(), key=lambda f: (f.path, f.kind))


def _has_glob(spec: str) -> bool:
    return any(ch in spec for ch in "*?[")


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


class RecordClaims:
    """Records of one archive shared by the workers that read it, taken by whoever gets there first.

    The shards of the file read it record by record; at its n-th record a shard takes the record if the
    claim file (a counter: the next record nobody has taken) holds n, and skips it if the counter has passed
    n. A shard that is busy extracting falls behind and skips what a free one took meanwhile, so two workers
    share a file's extraction record by record, however the pages' costs fall (a fixed stride of the records
    left one worker 4 s of extraction to the other's 7 s on one archive here). Each record goes to exactly
    one shard: a shard's check at m leaves the counter above m, so at n the counter is n or more, and the
    shard that finds it at n moves it on under an exclusive `flock` of its own open file (which excludes
    other threads as well as processes); a shard remembers the counter it last read, so it skips the records
    below it without a lock.

    A shard does not parse what the others took: whoever takes a record that a reader can start afresh at (one
    that opens its gzip member, or any in a plain file: archives.ResumePoint) leaves its resume point in the
    claim file beside the counter, and a shard that finds a record taken goes on at the latest point left
    there, before each record it reads, when that point is ahead of it (`jump`): it parses the record there (taken)
    and then the next. So the shards together parse a file at most twice over (1.5-1.75 times in a random
    interleaving, tests/test_claims_jump.py; 1.05-1.24 times in a curate of the shared WARC files with 2-8 workers),
    where each shard used to parse the whole file (16 times over with 16 workers). A file that gives no resume points (one gzip member for the whole file) is still parsed whole by every
    shard.

    The file must be on a disk all the readers share (the local runner's workers; never used on Dataflow,
    where whole files are the unit). A bundle that ran again after a failure would find its records taken:
    the local runner does not retry bundles."""

    _POINT = struct.Struct("<7q")  # the record's index, then its ResumePoint; at offset 8, after the counter

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._path, self._fd = path, os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._seen = 0  # the counter as this reader last read it: it only grows, so records below it are taken

    def take(self, n: int, point: Optional[ResumePoint] = None) -> bool:
        """Whether this reader takes record n (see the class); `point`: where a reader can start afresh at it,
        left for the others when it is taken."""
        if n < self._seen:  # taken by another reader (known without touching the file)
            return False
        with self._locked():
            raw = os.pread(self._fd, 8, 0)
            counter = self._seen = int.from_bytes(raw, "little") if len(raw) == 8 else 0
            if counter > n:
                return False
            if counter < n:  # only a claim file left from another run can be behind a reader
                raise RuntimeError(f"claim file {self._path} says record {counter} is untaken at record {n}")
            os.pwrite(self._fd, (n + 1).to_bytes(8, "little"), 0)
            if point is not None:
                os.pwrite(self._fd, self._POINT.pack(n, point.offset, point.member[0], point.member[1], point.held,
                                                     point.arc_version, 1), 8)
            self._seen = n + 1
            return True

    def jump(self) -> Optional[Tuple[int, ResumePoint]]:
        """The latest resume point a reader left, `(index, point)`, or None when none is there yet."""
        with self._locked():
            raw = os.pread(self._fd, self._POINT.size, 8)
        if len(raw) < self._POINT.size:
            return None
        n, offset, member_offset, member_compressed, held, arc_version, valid = self._POINT.unpack(raw)
        return (n, ResumePoint(offset, (member_offset, member_compressed), held, arc_version)) if valid else None

    @contextlib.contextmanager
    def _locked(self):
        import fcntl  # POSIX only (the curate job shares files this way on POSIX systems only)

        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> "RecordClaims":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stride_of(n: int, count: int) -> int:
    """The shard of the file's n-th record: a hash of n, so that records in a fixed cycle (request, response,
    metadata) do not all fall to one shard as they would modulo `count`."""
    return (((n * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 40) % count


def read_archive(path: str, max_record_bytes: int = MAX_RECORD_BYTES,
                 shard: Optional[Tuple[int, int]] = None, claims: Optional[str] = None) -> Iterator[Outcome]:
    """Read outcomes of one WARC/ARC/WET file, record by record (pipelines/ingest/archives.py does the parsing).

    A record whose payload cannot be decoded (an unknown Content-Encoding) is one error row and reading
    goes on; damage that leaves the rest of the file unreadable (a truncated gzip member, garbage where a
    header should be, an unsupported file compression) is one error row for the rest of the file.

    `shard` (i, k): the outcomes of the records whose index n in the file has `_stride_of(n, k)` == i only (every shard
    parses the whole file, which costs little next to extraction, and sees the same records, caps and damage);
    the damage that ends the file is shard 0's row. The k shards together give the file's outcomes once each.
    With `claims` (a RecordClaims file), a shard takes the records it claims first instead of a fixed stride,
    skips what the others took by going on at the resume points they leave (so the shards parse the file at most
    twice over between them, not once each), and the damage that ends the file goes to whichever shard claims its
    position."""
    if claims is not None:
        with RecordClaims(claims) as taken:
            yield from _read_archive(path, max_record_bytes, None, taken.take, taken)
        return
    index, count = shard or (0, 1)
    if count == 1:
        yield from _read_archive(path, max_record_bytes, None, None)
    else:
        yield from _read_archive(path, max_record_bytes, lambda n: _stride_of(n, count) == index,
                                 lambda n: index == 0)


def _read_archive(path: str, max_record_bytes: int, mine: Optional[Callable[[int], bool]],
                  mine_end: Optional[Callable[[int], bool]], claims: Optional[RecordClaims] = None) -> Iterator[Outcome]:
    """read_archive's outcomes of the records n for which `mine(n)` (all when None; with `claims`, those this
    reader takes), and the damage that ends the file (found after n records) when `mine_end(n)`."""
    name = basename(path)
    is_arc = path.lower().endswith((".arc", ".arc.gz"))
    seen = 0
    with _open_raw(path) as fh:
        try:
            stream = ArchiveStream(fh)
            # before each record, a reader sharing the file goes on at the latest resume point left, when it is ahead
            for rec in iter_archive(stream, max_record_bytes, jump=claims.jump if claims is not None else None):
                n = rec.index
                seen = n + 1
                if claims is not None and not claims.take(n, rec.resume):
                    continue
                if mine is not None and not mine(n):
                    continue
                if rec.rec_type == DAMAGED:  # garbage or a record with a wrong length: one error row, read on
                    yield ("error", to_error_row(READ_STAGE, rec.extra["error"], source=SOURCE_WEB, url=rec.target_uri,
                                                 input_path=path, input_offset=rec.pointer))
                elif rec.rec_type == "revisit":  # a byte-identical payload seen before: a duplicate
                    yield ("dropped", "revisit")
                elif rec.rec_type not in CONTENT_RECORD_TYPES:
                    yield ("dropped", "record_type")
                elif rec.block is None:  # over the record cap, or past the file's cap (`archive_cap`)
                    reason = rec.extra.get("dropped", "too_large")
                    yield _lost_archive_record(rec, path, name, is_arc, reason, max_record_bytes)
                else:
                    try:
                        yield ("kept", _archive_raw_record(rec, path, name, is_arc or rec.version.startswith("ARC"),
                                                           max_record_bytes))
                    except PayloadTooLarge:  # a small encoded payload that inflates past the cap
                        yield _lost_archive_record(rec, path, name, is_arc, "too_large", max_record_bytes,
                                                   inflated=True)
                    except Exception as exc:  # this record only: the next one starts at a known offset
                        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_WEB, url=rec.target_uri,
                                                     input_path=path, input_offset=rec.pointer))
        except ArchiveDamage as exc:  # the rest of the file: everything good before it has been yielded
            if mine_end is not None and not mine_end(seen):
                return
            yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_WEB, input_path=path,
                                         input_offset=exc.offset))


def _archive_record_id(rec: ArchiveRecord, name: str, is_arc: bool) -> str:
    # ARC records have no id: (file, offset) is stable; a WARC record's own id survives re-packing.
    record_id = None if is_arc else rec.headers.get("warc-record-id")
    return stable_id("warc", record_id) if record_id else stable_id("archive", name, rec.offset)


def _lost_archive_record(rec: ArchiveRecord, path: str, name: str, is_arc: bool, reason: str,
                         max_record_bytes: int, inflated: bool = False) -> Outcome:
    """The `rejected` outcome of a content record whose block was let go: over the record cap (`too_large`;
    `inflated`: its Content-Encoding undone), or past the file's cap (`archive_cap`)."""
    arc = is_arc or rec.version.startswith("ARC")
    detail = {"declared_bytes": str(rec.declared_length)}
    if reason == "too_large":
        detail["cap_bytes"] = str(max_record_bytes)
        if inflated:
            detail["inflated"] = "true"
    return lost_record(_archive_record_id(rec, name, arc), SOURCE_WEB, reason, path, rec.pointer,
                       url=rec.target_uri, detail=detail)


def _archive_raw_record(rec: ArchiveRecord, path: str, name: str, is_arc: bool,
                        max_record_bytes: int = MAX_RECORD_BYTES) -> Dict[str, Any]:
    headers = rec.headers
    uri = rec.target_uri
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
    return {
        ID: _archive_record_id(rec, name, is_arc),
        SOURCE: SOURCE_WEB, URL: uri, INPUT_PATH: path, INPUT_OFFSET: rec.pointer,
        RECORD_TYPE: rec.rec_type, CONTENT_TYPE: content_type, HTTP_STATUS: status,
        BODY: body, TEXT: None, CODE_LANGUAGE: None, WARC_DATE: rec.date, RECORD_POSITION: rec.offset,
        TRUNCATED: (headers.get("warc-truncated") or None) if not is_arc else None,
    }


# --- JSONL and Parquet -------------------------------------------------------------------------------

def _text_record(doc_id: str, text: str, url: Optional[str], path: str, offset: int) -> Dict[str, Any]:
    return {ID: doc_id, SOURCE: SOURCE_TEXT, URL: url, INPUT_PATH: path, INPUT_OFFSET: offset,
            RECORD_TYPE: None, CONTENT_TYPE: None, HTTP_STATUS: None, BODY: None, TEXT: text, CODE_LANGUAGE: None,
            WARC_DATE: None, RECORD_POSITION: None, TRUNCATED: None}


def input_id(value: Any) -> str:
    """A document id from an input's own `id` field (JSONL, Parquet), as a string: a string, or an integer
    written in decimal. Any other JSON value (a boolean, a number with a fraction, an array or object) is
    refused (an error row): its Python spelling (`True`, `1.0`, `{'a': 1}`) is no id a user gave. One that
    starts with NUL is refused too: the dedup indexes mark an earlier run's documents with that prefix
    (filters/dedup_index.py `previous_node`), so such an id would be taken for one."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"field {ID!r} is a JSON {_json_kind(value)} ({json.dumps(value)[:40]}), not a string or "
                        f"an integer: give the document a string id, or leave `id` out to have one made")
    doc_id = valid_utf8(str(value))
    if doc_id.startswith(PREVIOUS_PREFIX):
        raise ValueError(f"id {doc_id[:40]!r} starts with a NUL character, which marks an earlier run's documents "
                         f"in the dedup indexes: give the document another id")
    return doc_id


# A JSONL line holds one document; past this it is a dump (or a file with no newline at all), not a
# document: an error row, skipped up to its newline without being held. Above the 40 MB single-line
# documents that the hostile-input tests keep whole.
MAX_LINE_BYTES = 64 << 20
LINE_CHUNK_BYTES = 1 << 20
_NOT_BLANK = re.compile(rb"[^ \t\r\n\f\v]")  # what makes a line more than blank


def iter_bounded_lines(fh, start: int = 0, end: Optional[int] = None, max_line_bytes: int = MAX_LINE_BYTES,
                       chunk_bytes: int = LINE_CHUNK_BYTES,
                       skip_blank: bool = False) -> Iterator[Tuple[int, Optional[bytes], int, int]]:
    """(byte offset, line without its newline or None when longer than `max_line_bytes`, line length, line
    number counted from the range's first line) of every line that starts in [start, end) of a binary file
    object, read in chunks of `chunk_bytes`.

    Memory is bounded by one line up to the cap plus one chunk: a longer line is only counted while the reader
    looks for its newline, where it resynchronises. Each chunk is searched once, so a 50 MB line costs what its
    bytes cost (Beam's text reader rescans its growing buffer, 234 s for one 50 MB line). With `start` > 0 the
    file is seeked to `start - 1` and the line in progress there belongs to the range before (the split of
    Beam's text ranges); if no newline is found before `end`, no line starts in the range.

    `skip_blank`: whole lines of ASCII whitespace within a chunk are passed over in one regex search and
    counted in C instead of one yield each (the line numbers stay those of every line). A gzip bomb of newlines
    (1 GiB from 1 MiB) is a billion lines of ~1 us each, a hang of 20 minutes; skipped, it costs its
    inflation."""
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
    line_no = 0           # its number, from the range's first line
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
                    yield line_start, (b"".join(parts) if size <= max_line_bytes else None), size, line_no
                return
        if skip_blank and size == 0:
            text = _NOT_BLANK.search(chunk, i)
            last_nl = chunk.rfind(b"\n", i, len(chunk) if text is None else text.start())
            if last_nl >= 0:  # the blank lines from i up to that newline: none is a document
                line_no += chunk.count(b"\n", i, last_nl + 1)
                line_start += last_nl + 1 - i
                i = last_nl + 1
                continue
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
        yield line_start, (b"".join(parts) if size <= max_line_bytes else None), size, line_no
        line_start += size + 1
        line_no += 1
        parts, size, i = [], 0, nl + 1


def line_too_long(size: int, max_line_bytes: int = MAX_LINE_BYTES) -> str:
    return (f"line of {size} bytes is longer than the {max_line_bytes}-byte cap of a JSONL line: skipped to its "
            f"newline; split the document or fix the file")


def jsonl_compression(path: str) -> str:
    lower = path.lower()
    return CompressionTypes.GZIP if lower.endswith(".gz") else (
        CompressionTypes.ZSTD if lower.endswith(".zst") else CompressionTypes.UNCOMPRESSED)


def open_jsonl(path: str):
    """A JSONL file (`.gz`, `.zst` or plain) for reading with `read(n)`, as a context manager. A compressed
    file that ends inside a gzip member or zstd frame raises TruncatedStream where its bytes end (Beam's
    readers stop there without a word; schemas/io.py `CompressedFrames`)."""
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    kind = jsonl_compression(path)
    if kind == CompressionTypes.UNCOMPRESSED:
        return raw
    return CompressedFrames(raw, "zstd" if kind == CompressionTypes.ZSTD else "gzip")


def decode_jsonl_line(raw_line: bytes, first: bool) -> Tuple[str, bool]:
    """A JSONL line's text, UTF-8 with bad bytes as U+FFFD, without the byte-order mark an editor may put at the
    start of the file (`first`: the file's first line; json.loads refuses it, which lost the first document); and
    whether some bytes were not UTF-8."""
    if first and raw_line.startswith(BOM_UTF8):
        raw_line = raw_line[3:]
    try:
        return raw_line.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw_line.decode("utf-8", errors="replace"), True


def jsonl_object(line: str) -> Dict[str, Any]:
    """The JSON object of a JSONL document line; a line that is not one raises, saying what it is."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise TypeError(f"the line is a JSON {_json_kind(obj)}, not an object with a {TEXT!r} field")
    return obj


def jsonl_text(obj: Dict[str, Any]) -> Optional[str]:
    """The `text` of a JSONL document object, as every reader of JSONL documents (curate, tokenize) takes it: a
    string, or None for `"text": null` (an empty document, as a Parquet null is); a missing field or a value of
    another type raises (an error row, not an empty document)."""
    if TEXT not in obj:
        raise ValueError(f"no {TEXT!r} field (fields: {', '.join(sorted(obj)[:8]) or 'none'})")
    text = obj[TEXT]
    if text is not None and not isinstance(text, str):
        raise TypeError(f"field {TEXT!r} is a JSON {_json_kind(text)}, not a string")
    return text


def read_jsonl(path: str, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Outcome]:
    """One outcome per non-blank line; the offset is the 0-based line number. A line that is not a JSON
    object with a string `text`, or that is longer than `max_line_bytes`, is an error row (with the line's id
    when it has a valid one; the rest of the file still reads); `"text": null` is a rejected row of stage read,
    reason `empty`, as a Parquet null is; a decompression failure ends the file with one error row."""
    name = basename(path)
    line_no = -1
    try:
        with open_jsonl(path) as fh:
            for _offset, raw_line, size, line_no in iter_bounded_lines(fh, max_line_bytes=max_line_bytes,
                                                                      skip_blank=True):
                if raw_line is None:
                    yield ("error", to_error_row(READ_STAGE, line_too_long(size, max_line_bytes), source=SOURCE_TEXT,
                                                 input_path=path, input_offset=line_no))
                    continue
                line, replaced = decode_jsonl_line(raw_line, line_no == 0)
                if not line.strip():
                    continue
                doc_id = None
                try:
                    obj = jsonl_object(line)
                    doc_id = input_id(obj[ID]) if obj.get(ID) is not None else stable_id("jsonl", name, line_no)
                    text = jsonl_text(obj)
                except Exception as exc:
                    yield ("error", to_error_row(READ_STAGE, exc, doc_id=doc_id, source=SOURCE_TEXT, input_path=path,
                                                 input_offset=line_no))
                    continue
                url = obj.get(URL)
                url = valid_utf8(str(url)) if url is not None else None
                if text is None:  # `"text": null`, as a Parquet null: a rejected row, reason empty
                    yield lost_record(doc_id, SOURCE_TEXT, EMPTY_TEXT, path, line_no, url=url)
                    continue
                valid = valid_utf8(text)
                if replaced or valid is not text:  # kept, but not as the file spells it: counted, not silent
                    yield ("warned", REPLACED_INVALID_UTF8)
                yield ("kept", _text_record(doc_id, valid, url, path, line_no))
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_TEXT, input_path=path, input_offset=line_no + 1))


def _json_kind(value) -> str:
    for kind, types in (("array", list), ("object", dict), ("string", str), ("boolean", bool),
                        ("number", (int, float))):
        if isinstance(value, types):
            return kind
    return "null" if value is None else type(value).__name__


def _parquet_column_problem(name: str, dtype, allow_integers: bool) -> Optional[str]:
    """Why a Parquet column cannot be read as document strings (None when it can): `text` must be a string
    column; `id` and `url` may also be integers, written in decimal as JSONL's numbers are. Anything else
    (binary, lists, structs, floats) would only have its Python repr to offer."""
    import pyarrow as pa

    values = dtype.value_type if pa.types.is_dictionary(dtype) else dtype
    if holds_strings(values) or (allow_integers and pa.types.is_integer(values)):
        return None
    wanted = "a string column" if not allow_integers else "a string or integer column"
    return (f"Parquet column {name!r} is {values}, not {wanted}: no row of this file is read; "
            f"rewrite the column as UTF-8 strings")


def read_parquet(path: str, batch_size: int = 1024) -> Iterator[Outcome]:
    """One outcome per row (column `text`, optional `id` and `url`); the offset is the row index. A column of
    the wrong type is a property of the file, not of a row: one error row naming it, and no row is read."""
    import pyarrow.parquet as pq

    name = basename(path)
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
                    doc_id = cols.get(ID, [None] * batch.num_rows)[i]
                    url = cols.get(URL, [None] * batch.num_rows)[i]
                    url = str(url) if url is not None else None
                    try:
                        doc_id = input_id(doc_id) if doc_id is not None else stable_id("parquet", name, row)
                    except ValueError as exc:  # this row only: the rest of the file is read on
                        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_TEXT, url=url, input_path=path,
                                                     input_offset=row))
                    else:
                        if text is None:  # a null text: a rejected row (reason empty) that names the row
                            yield lost_record(doc_id, SOURCE_TEXT, EMPTY_TEXT, path, row, url=url)
                        else:
                            yield ("kept", _text_record(doc_id, text, url, path, row))
                    row += 1
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_TEXT, input_path=path, input_offset=row))


# --- dispatch ----------------------------------------------------------------------------------------

SHARD_MIN_BYTES = 256 << 10  # a local web archive at least this big is read as `shards` strides (split_input)


def split_input(item: InputFile, shards: int = 1, claims_dir: Optional[str] = None) -> Iterator[InputFile]:
    """Fan a code directory out into its files; with `shards` > 1, a local web archive of at least
    SHARD_MIN_BYTES into `shards` strides of its records (`InputFile.shard`), so that a few big files spread
    over a machine's workers (the local runner's `--workers`); every other input is read whole. With
    `claims_dir` (a local directory the workers share), the shards of a file share one claim file there and
    take its records as they get free (RecordClaims) instead of a fixed stride each."""
    if item.kind == CODE and os.path.isdir(item.path):
        try:
            yield from list_code_tree(item.path)
        except Exception as exc:  # noqa: BLE001 -- whatever stops a listing is one error row, not a failed job
            yield InputFile(CODE_FILE, item.path, item.path, problem=f"listing the tree stopped here: "
                                                                     f"{type(exc).__name__}: {exc}")
    elif (shards > 1 and item.kind == ARCHIVE and item.shard is None and "://" not in item.path
          and os.path.isfile(item.path) and os.path.getsize(item.path) >= SHARD_MIN_BYTES):
        claims = None
        if claims_dir is not None:
            digest = hashlib.sha1(os.path.abspath(item.path).encode("utf-8", "surrogatepass")).hexdigest()
            claims = os.path.join(claims_dir, digest + ".claims")
        for i in range(shards):
            yield dataclasses.replace(item, shard=(i, shards), claims=claims)
    else:
        yield item


def order_for_workers(items: Sequence[InputFile]) -> List[InputFile]:
    """The items of a local multi-worker read in the order that balances the workers when they are dealt out
    in turn (Beam's in-process runner deals a shuffle's groups to its workers round-robin): files read whole
    first, biggest first, then each shared file's shards side by side, so that k consecutive shards land on k
    different workers and the files shared record by record (RecordClaims) fill in whatever time the whole
    files left uneven. Any order gives the same outcomes; only the balance depends on it."""
    def size(item: InputFile) -> int:
        try:
            return item.size if item.size is not None else os.path.getsize(item.path)
        except OSError:
            return 0

    whole = sorted((i for i in items if i.claims is None), key=lambda i: (-size(i), i.path, i.shard or (0, 1)))
    shared = sorted((i for i in items if i.claims is not None), key=lambda i: (-size(i), i.path, i.shard))
    return whole + shared


def read_input_file(item: InputFile, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Outcome]:
    """Read outcomes of one InputFile, whatever its kind. A whole-file input that is not a regular file is
    one error row naming it (code trees check their own files: a FIFO there is `not_a_file`)."""
    if item.problem:  # a code tree's directory that could not be listed (code_trees.list_code_tree)
        yield ("error", to_error_row(READ_STAGE, item.problem, source=SOURCE_CODE, input_path=item.path))
        return
    if item.kind in (ARCHIVE, JSONL, PARQUET) or (item.kind == CODE and not os.path.isdir(item.path)):
        problem = not_a_regular_file(item.path)
        if problem and item.shard is not None and item.shard[0] != 0:  # one error row for the file
            return
        if problem:
            yield ("error", to_error_row(READ_STAGE, problem, source=SOURCE_CODE if item.kind == CODE else None,
                                         input_path=item.path))
            return
    if item.kind == ARCHIVE:
        yield from read_archive(item.path, max_record_bytes, item.shard, item.claims)
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
            for f in split_input(item):
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
