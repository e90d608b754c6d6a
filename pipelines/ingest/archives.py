"""A lenient, streaming WARC/ARC record reader: real archives are messier than the specifications.

Why our own record layer (measured in benchmarks/bench_warc.py, see README "Ingest"): warcio fails on a
whole file compressed as one gzip member and on gzip members that do not align with records; FastWARC
(several times faster) rejects ARC files and header lines ending in CR CR LF, and stops at the first record
whose Content-Length is wrong; both return a truncated gzip member's partial record as if it were whole.
Here decompression is zlib (C) and the record layer is a few header lines of Python per record, so the
reader runs at warcio's speed or better while handling every class of damage below.

Layers:
- `ArchiveStream`: the file's bytes as one uncompressed stream. Gzip is read member after member with zlib,
  so records may span members or share one (whole-file gzip); the compressed offset of every member start
  is kept so that a record's pointer is the member to seek to. A member cut short raises `ArchiveDamage`
  (never a silently short record). A member that does not inflate (corrupt data, a bad CRC, cut short by
  the next one) or bytes between members that are not gzip cost that member's record only: `iter_archive`
  yields one `DAMAGED` record and reading goes on at the next member that inflates (`CorruptMember`).
  bzip2/xz/zstd files raise `ArchiveDamage("unsupported compression")`.
- `iter_archive(stream)`: records (`ArchiveRecord`) of WARC 0.17/0.18/1.0/1.1 and ARC v1/v2. Header lines
  may end in LF, CRLF or CR CR LF. A wrong Content-Length is detected (the block must be followed by blank
  lines and the next header, or the end) and repaired by resynchronising on the next `WARC/x.y` header
  line; the record is marked `length_repaired`; a Content-Length that is not a number (`-5`, `abc`, empty)
  costs that record only, resynchronised the same way, and so does a header that never ends (past
  `_MAX_HEADER_LINES`). ARC the same: a block must be followed by the next ARC header line (strictly: a URL
  with a scheme, an IP address, a 12-20 digit date) or the end, else its length is repaired by reading on to
  the next one; a length that is missing or not a number (`-1`, `abc`) runs to the next header line. ARC header
  lines with spaces inside the URL are parsed from the right. Garbage where a header should be is skipped to
  the next header line as one `DAMAGED` record. Anything that cannot be parsed, with no next header to go on
  at, raises `ArchiveDamage` with the offset of the damage. A header line met while a length is repaired starts the
  next record only when its own declared length checks out (`_HeaderCheck`): one inside the payload (an archive or
  a listing of one, served as a page) is payload; when none checks out, the first is taken, as before the check.
  A WARC-Block-Digest (sha1, sha256; base32, hex or base64) settles it where it matches: the bytes up to a header
  line, less the CRLF CRLF ending a record, that hash to the digest of the record being repaired or of one passed
  over are that record's block (two wrong lengths in a row); a digest that does not match proves nothing.
- Memory is one record at most, capped by `max_block_bytes`, plus up to as much again looked at ahead while a
  length is repaired (where a header line's declared length ends): a longer block is counted and skipped a chunk
  at a time, never held (`block` None: the caller's `too_large`). A declared length that cannot be right
  (more than the rest of the file could inflate to, e.g. 2^40 or 2^63, or one that runs into a gzip member
  opening the next record, or past the next header line) costs that record only: reading resumes at the
  next record (seeking back to it when the skip passed it) and the record comes out as `DAMAGED`.
  Per gzip file, the blocks handed on are capped at `MAX_EXPANSION` x the compressed bytes read (64 MiB at
  least): a small file of compressible records cannot fill a worker; the records past it are `archive_cap`.
- `parse_http_response(block, max_bytes)`: status (reason phrase optional), headers, body with
  Transfer-Encoding chunked and Content-Encoding gzip/x-gzip/deflate/br undone, each layer inflating at most
  `max_bytes` + 1 bytes; a body over `max_bytes` raises `PayloadTooLarge` (the caller's `too_large`), an
  unknown encoding `UnsupportedEncoding`, which the caller turns into an error row for that record only.
"""
from __future__ import annotations

import base64
import binascii
import bisect
import datetime
import hashlib
import re
import zlib
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Tuple

_READ_CHUNK = 1 << 20
_MAX_HEADER_LINE = 1 << 16
_MAX_HEADER_LINES = 512
# A WARC header line: `WARC/` then a version (0.17, 0.18, 1.0, 1.1 seen in the wild).
_WARC_VERSION = re.compile(rb"WARC/\d+\.\d+[ \t]*\r*\n")
_WARC_RESYNC = re.compile(rb"(?:\A|\n)(WARC/\d+\.\d+[ \t]*\r*\nWARC-)")
# Where a record starts: used to resume after a Content-Length that proved wrong. A WARC header is its version
# line then a `WARC-` field; an ARC header is URL IP DATE MIME ... LENGTH on one line.
_WARC_HEAD = re.compile(rb"WARC/\d+\.\d+[ \t]*\r*\nWARC-")
_ARC_HEAD = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*:\S+ \S+ \d{12,20} \S+ [^\n]{0,4096}\d\r?\n")
# The same after a newline; a literal first byte lets the regex engine scan for it at memchr speed.
_WARC_NEXT = re.compile(rb"\n(" + _WARC_HEAD.pattern + rb")")
_ARC_NEXT = re.compile(rb"\n(" + _ARC_HEAD.pattern + rb")")
_ARC_SLACK = 64  # bytes an ARC record's last block may fall short of its declared length (warcio's tolerance)
_ARC_FIELDS = {1: 5, 2: 10}  # URL IP DATE MIME LENGTH (v1); + STATUS CHECKSUM LOCATION OFFSET FILENAME (v2)
_ARC_DATE = re.compile(rb"^\d{4,20}$")  # 14 digits by the spec; 18 seen in the wild
# What an ARC header line must also have where a record boundary is in doubt (after a block, or looked for in
# bytes that a wrong length left unread): a URL with a scheme, an IP address (or `-`), a 12-20 digit date.
_ARC_URL = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*:")
_ARC_IP = re.compile(rb"(?:[0-9A-Fa-f.:]+|-)\Z")
# Where a record may start, after a newline: the lines `_read_on` puts to the strict checks (a literal first byte
# lets the regex engine scan for it at memchr speed).
_WARC_START = re.compile(rb"\n(?=WARC/)")
_ARC_START = re.compile(rb"\n(?=WARC/|" + _ARC_URL.pattern + rb")")
# Magic numbers of compressions we do not read.
_UNSUPPORTED_MAGIC = ((b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
                      (b"\x04\x22\x4d\x18", "lz4"), (b"PK\x03\x04", "zip"))


DAMAGED = "damaged"  # rec_type of the bytes skipped between two readable records


class ArchiveDamage(Exception):
    """The file cannot be read past this point; `offset` is where the damage was found."""

    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} (at offset {offset})")
        self.offset = offset


class CorruptMember(ArchiveDamage):
    """A gzip member that does not inflate (corrupt deflate data, a wrong CRC, a member cut short by the next
    one) or bytes between members that are not gzip. The records of the other members are still readable:
    `ArchiveStream.resume_at_next_member` goes on at the next member that inflates, from `resume_from`."""

    def __init__(self, message: str, offset: int, resume_from: int):
        super().__init__(message, offset)
        self.resume_from = resume_from


class UnsupportedEncoding(ValueError):
    """A payload Content-Encoding this reader does not decode (the record becomes an error row)."""


class PayloadTooLarge(ValueError):
    """A payload over the size cap once its Content-Encoding is undone: the caller drops it as `too_large`
    (a few KB of gzip or brotli can stand for gigabytes, so the cap holds on the decoded bytes)."""


_MAGIC_BYTES = 8  # enough of a file's first bytes to tell gzip and the unsupported compressions apart


def _read_at_least(raw: BinaryIO, n: int) -> bytes:
    """One read of up to _READ_CHUNK bytes, then more until `n` bytes or the end (a source may read short)."""
    data = raw.read(_READ_CHUNK)
    while data and len(data) < n:
        more = raw.read(_READ_CHUNK)
        if not more:
            break
        data += more
    return data


class ArchiveStream:
    """Uncompressed bytes of a plain or gzip file, read across gzip member boundaries."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._buf = b""
        self._pos = 0              # read position in _buf: bytes before it are consumed (compacted lazily,
                                   # so that reading many short lines costs O(n), not O(n * buffer))
        self._start = 0            # uncompressed offset of _buf[_pos]
        self._eof = False
        self._compressed_in = 0    # compressed bytes handed to zlib so far
        self._members: List[Tuple[int, int]] = []  # (uncompressed offset, compressed offset) of member starts
        self._size = _file_size(raw)  # None when the source cannot tell (a pipe)
        head = _read_at_least(raw, _MAGIC_BYTES)
        self.gzip = head[:2] == b"\x1f\x8b"
        for magic, name in _UNSUPPORTED_MAGIC:
            if head.startswith(magic):
                raise ArchiveDamage(f"unsupported compression: {name} (read .warc, .warc.gz, .arc, .arc.gz)", 0)
        self._pending = head       # compressed bytes not yet given to zlib
        self._inflater = None
        self._member_compressed = 0  # compressed offset of the member being inflated
        self._deferred: Optional[CorruptMember] = None  # damage found by a `peek`, raised by the next read
        if self.gzip:
            self._new_member()
        else:
            self._buf, self._pending = head, b""
            self._eof = not head

    # -- decompression --
    def _new_member(self) -> None:
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._members.append((self._start + len(self._buf) - self._pos, self._compressed_in))
        self._member_compressed = self._compressed_in
        self._member_fed = 0

    def _fill(self) -> bool:
        """Add at least one byte to the buffer; False at the end of the data. Each call adds at most
        _READ_CHUNK uncompressed bytes, so a gzip bomb (tiny file, huge expansion) never inflates at once."""
        if self._deferred is not None:
            damage, self._deferred = self._deferred, None
            raise damage
        if self._eof:
            return False
        if self._pos:
            self._buf, self._pos = self._buf[self._pos:], 0
        if not self.gzip:
            chunk = self._raw.read(_READ_CHUNK)
            if not chunk:
                self._eof = True
                return False
            self._buf += chunk
            return True
        while True:
            if not self._pending:
                self._pending = self._raw.read(_READ_CHUNK)
                if not self._pending:
                    self._eof = True
                    if self._member_fed and not self._inflater.eof:
                        # A member cut short, then more members appended: the inflater can read their bytes as
                        # more of this member's deflate data without an error, up to the end of the file (3.3 %
                        # of members cut at half, measured). Read on from the next member that inflates; with
                        # none, this is the end of the file, as before.
                        raise CorruptMember("truncated gzip member",
                                            self.member_offset(self._start + len(self._buf) - self._pos),
                                            self._member_compressed + 1)
                    return False
            data = self._pending
            try:
                out = self._inflater.decompress(data, _READ_CHUNK)
            except zlib.error as exc:
                self._eof = True
                raise CorruptMember(f"corrupt gzip data: {exc}", self._compressed_in, self._member_compressed + 1)
            # at a member's end the rest is unused_data (CPython may leave a stale copy in unconsumed_tail)
            rest = self._inflater.unused_data if self._inflater.eof else self._inflater.unconsumed_tail
            used = len(data) - len(rest)
            self._compressed_in += used
            self._member_fed += used
            self._pending = rest
            if self._inflater.eof:
                # NUL padding may follow a member; the next member's magic may straddle a read (a member that
                # ends one byte before a read boundary, or a source that returns short reads): read on until
                # two bytes past the padding, or the end, are in hand
                rest = self._pending.lstrip(b"\x00")
                skipped = len(self._pending) - len(rest)
                while len(rest) < 2:
                    more = self._raw.read(_READ_CHUNK)
                    if not more:
                        break
                    if rest:
                        rest += more
                    else:
                        rest = more.lstrip(b"\x00")
                        skipped += len(more) - len(rest)
                self._compressed_in += skipped
                self._pending = rest
                if rest and rest[:2] != b"\x1f\x8b":
                    self._eof = True
                    self._buf += out
                    raise CorruptMember("data after a gzip member is not gzip", self._compressed_in,
                                        self._compressed_in)
                if rest:
                    self._buf += out
                    self._new_member()
                    if out:
                        return True
                    continue
            if out:
                self._buf += out
                return True

    def member_offset(self, offset: int) -> int:
        """Where to seek to read the byte at uncompressed `offset`: the start of its gzip member (the
        offset itself for a plain file)."""
        if not self.gzip:
            return offset
        best = 0
        for uncompressed, compressed in self._members:
            if uncompressed > offset:
                break
            best = compressed
        if len(self._members) > 64:  # keep the table short: records are read in order (keep the member
            # that holds the read position: the next record may start inside it)
            keep = max((i for i, m in enumerate(self._members) if m[0] <= self._start), default=0)
            self._members = self._members[keep:]
        return best

    def member_at(self, offset: int) -> Tuple[int, int]:
        """(uncompressed, compressed) start of the gzip member that holds uncompressed `offset`; for a plain
        file the offset itself twice. What `rewind` needs to come back to `offset`."""
        if not self.gzip:
            return offset, offset
        best = self._members[0] if self._members else (0, 0)
        for member in self._members:
            if member[0] > offset:
                break
            best = member
        return best

    def members_between(self, start: int, end: int) -> List[int]:
        """Uncompressed offsets of the gzip members that start in (start, end). A bisection: a resync asks for every
        header line it finds, and the table grows with the members it reads past."""
        if not self.gzip:
            return []
        i = j = bisect.bisect_right(self._members, start, key=lambda m: m[0])
        while j < len(self._members) and self._members[j][0] < end:
            j += 1
        return [m[0] for m in self._members[i:j]]

    def remaining_bound(self) -> Optional[int]:
        """An upper bound on the uncompressed bytes left to read, or None when the file size is unknown.
        Deflate expands at most 1032:1, so a Content-Length beyond this cannot be the record's real length."""
        if self._size is None:
            return None
        if not self.gzip:
            return max(self._size - self._start, 0)
        left = max(self._size - self._compressed_in, 0) + 1
        return left * 1032 + self._available() + (1 << 20)

    def rewind(self, offset: int, member: Tuple[int, int]) -> bool:
        """Read again from uncompressed `offset` (`member` from `member_at(offset)`): seek the file to the
        member's start and inflate forward to the offset. False when the file cannot seek."""
        try:
            if not self._raw.seekable():
                return False
            self._raw.seek(member[1])
        except (OSError, ValueError):
            return False
        self._buf, self._pos, self._pending, self._eof = b"", 0, b"", False
        self._start = member[0]
        if self.gzip:
            self._compressed_in = member[1]
            self._members = [m for m in self._members if m[0] < member[0]]
            self._new_member()
        self.skip(offset - member[0])
        return True

    def jump(self, offset: int, member: Tuple[int, int]) -> bool:
        """Go on at uncompressed `offset`, a record start whose member is `member` (iter_archive's ResumePoint),
        ahead of or behind the read position: `rewind`, dropping any damage a look ahead found on the way."""
        self._deferred = None
        return self.rewind(offset, member)

    @property
    def damage_ahead(self) -> bool:
        """Whether a look ahead found damage that the next read raises."""
        return self._deferred is not None

    # -- reading --
    @property
    def tell(self) -> int:
        return self._start

    @property
    def compressed_tell(self) -> int:
        """Compressed bytes inflated so far (0 for a plain file)."""
        return self._compressed_in

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def _consume(self, n: int) -> bytes:
        out = self._buf[self._pos:self._pos + n]
        self._pos += len(out)
        self._start += len(out)
        return out

    def readline(self, limit: int = _MAX_HEADER_LINE) -> bytes:
        pos = self._pos
        while True:
            i = self._buf.find(b"\n", pos, self._pos + limit)
            if i >= 0:
                return self._consume(i + 1 - self._pos)
            if self._available() >= limit:
                return self._consume(limit)
            pos = len(self._buf)
            before = self._pos
            if not self._fill():
                return self._consume(self._available())
            pos -= before - self._pos  # _fill may compact the buffer

    def read(self, n: int) -> bytes:
        while self._available() < n and self._fill():
            pass
        return self._consume(n)

    def skip_blank(self) -> None:
        """Consume a run of blank lines and NUL padding (between records), in bulk: matched where it starts in
        the buffer, not sliced off it (a copy of up to a chunk for every record: a third of the reading time of
        a file of tiny records)."""
        while True:
            if self._pos >= len(self._buf) and not self._fill():
                return
            n = _BLANK_RUN.match(self._buf, self._pos).end() - self._pos
            self._pos += n
            self._start += n
            if self._pos < len(self._buf):
                return

    def skip(self, n: int) -> int:
        skipped = 0
        while skipped < n:
            got = len(self.read(min(n - skipped, _READ_CHUNK)))
            if not got:
                break
            skipped += got
        return skipped

    def peek(self, n: int) -> bytes:
        return self.peek_at(0, n)

    def peek_at(self, ahead: int, n: int) -> bytes:
        """`n` bytes from `ahead` bytes past the read position (fewer at the end), not consumed; only those `n` are
        copied, so many looks far ahead cost what they return."""
        try:
            while self._available() < ahead + n and self._fill():
                pass
        except CorruptMember as damage:  # a look past a whole record: the damage belongs to the next one
            self._deferred = damage
        return self._buf[self._pos + ahead:self._pos + ahead + n]

    def resume_at_next_member(self, damage: CorruptMember) -> Optional[int]:
        """After `damage`: drop what is buffered and go on at the first gzip member from `damage.resume_from`
        on that inflates (its magic number, then a trial inflation of its first bytes). Returns that member's
        compressed offset, or None when there is none (or the file cannot seek): the damage then ends the file.
        The scan reads the rest of the file once, a chunk at a time."""
        try:
            if not self.gzip or not self._raw.seekable():
                return None
            pos, tail = damage.resume_from, b""
            while True:
                self._raw.seek(pos)
                chunk = self._raw.read(_READ_CHUNK)
                if not chunk:
                    return None
                data, base = tail + chunk, pos - len(tail)
                i = data.find(_GZIP_MEMBER_MAGIC)
                while i >= 0:
                    if len(data) - i < _MEMBER_PROBE and len(chunk) == _READ_CHUNK:
                        break  # too little left to try it: it is tried again with the next chunk
                    if _inflates(memoryview(data)[i:i + _MEMBER_PROBE]):
                        self._raw.seek(base + i)
                        self._start += self._available()
                        self._buf, self._pos, self._pending = b"", 0, b""
                        self._compressed_in, self._eof, self._deferred = base + i, False, None
                        self._new_member()
                        return base + i
                    i = data.find(_GZIP_MEMBER_MAGIC, i + 1)
                if i < 0:
                    i = max(len(data) - len(_GZIP_MEMBER_MAGIC) + 1, 0)
                pos, tail = base + len(data), data[i:]
        except (OSError, ValueError):
            return None

    def unread(self, data: bytes) -> None:
        n = len(data)
        if n <= self._pos and self._buf[self._pos - n:self._pos] == data:
            self._pos -= n  # the bytes just consumed, still in the buffer: step back (a copy of the buffer for
            # every unread made scanning for the next record cost a MiB per record)
        else:
            self._buf = data + self._buf[self._pos:]
            self._pos = 0
        self._start -= n


_BLANK_RUN = re.compile(rb"[\r\n\x00]*")  # blank lines and NUL padding between records
_GZIP_MEMBER_MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 and CM = deflate: how every gzip member starts
_MEMBER_PROBE = 1 << 14  # compressed bytes inflated to tell a real member from its magic by chance


def _inflates(probe) -> bool:
    """Whether `probe` starts a gzip member: its header parses and its first blocks inflate."""
    if len(probe) < 18 or probe[3] & 0xE0:  # shorter than an empty member, or reserved flag bits set
        return False
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return bool(inflater.decompress(probe, 1 << 16)) or inflater.eof
    except zlib.error:
        return False


def _file_size(raw: BinaryIO) -> Optional[int]:
    try:
        if not raw.seekable():
            return None
        here = raw.tell()
        size = raw.seek(0, 2)
        raw.seek(here)
        return size
    except (OSError, ValueError, AttributeError):
        return None


@dataclass
class ArchiveRecord:
    rec_type: str                      # warcinfo, response, request, revisit, resource, conversion, ...; "response" for ARC
    headers: dict                      # WARC (or ARC) header fields, names lower-cased
    block: Optional[bytes]             # None when the block was over the size cap (skipped, not read)
    offset: int                        # uncompressed offset of the record's first byte
    pointer: int                       # where to seek in the file: the record's gzip member (or offset)
    version: str = ""                  # "WARC/1.0", "ARC/1", ...
    length_repaired: bool = False
    declared_length: int = 0
    extra: dict = field(default_factory=dict)
    index: int = field(default=-1, compare=False)  # the record's number in its file, from 0 (iter_archive)
    # where a reader can start afresh at this record (iter_archive with `jump`), or None
    resume: Optional["ResumePoint"] = field(default=None, compare=False, repr=False)

    @property
    def target_uri(self) -> Optional[str]:
        return clean_uri(self.headers.get("warc-target-uri"))

    @property
    def date(self) -> Optional[str]:
        return parse_warc_date(self.headers.get("warc-date"))


def clean_uri(uri: Optional[str]) -> Optional[str]:
    """Strip wget's <...> wrapping and percent-encode spaces (seen in real WARC-Target-URIs)."""
    if not uri:
        return None
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1].strip()
    return uri.replace(" ", "%20") or None


_DATE_PARTS = re.compile(r"^(\d{4})(?:-?(\d{2})(?:-?(\d{2})(?:[T ]?(\d{2})(?::?(\d{2})(?::?(\d{2}))?)?)?)?)?")


def parse_warc_date(value: Optional[str]) -> Optional[str]:
    """An ISO 8601 UTC date from a WARC-Date or ARC date (full, truncated, or 14 digits); None when the
    value is not a date. Missing parts default to the start of the period; impossible dates give None."""
    if not value:
        return None
    m = _DATE_PARTS.match(value.strip())
    if not m:
        return None
    parts = [int(p) if p else d for p, d in zip(m.groups(), (None, 1, 1, 0, 0, 0))]
    try:
        return datetime.datetime(*parts).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def _header_lines(stream: ArchiveStream, offset: int) -> List[bytes]:
    """The header lines up to the blank one. Past _MAX_HEADER_LINES lines (a header that never ends; a long line
    counts a line per 64 KiB) the lines so far come back, more than _MAX_HEADER_LINES of them, with the stream at
    the start of the next line (the rest of a long line is skipped): the caller goes on at the next record."""
    lines = []
    while True:
        raw = stream.readline()
        if not raw:
            raise ArchiveDamage("archive ends inside a record header", offset)
        line = raw.rstrip(b"\r\n")
        if not line:
            return lines
        lines.append(line)
        if len(lines) > _MAX_HEADER_LINES:
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(_READ_CHUNK)
            return lines


def _parse_fields(lines: List[bytes]) -> dict:
    headers: dict = {}
    last = None
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        if line[:1] in (" ", "\t") and last:  # folded continuation line
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last = name.strip().lower()
        headers.setdefault(last, value.strip())
    return headers


def _content_length(headers: dict) -> int:
    """A WARC header's Content-Length, -1 when it is missing or not a number (`-5`, `abc`, empty)."""
    declared = headers.get("content-length", "").strip()
    return int(declared) if declared.isascii() and declared.isdigit() and len(declared) < 40 else -1


def _follows_header_or_end(peek) -> bool:
    """True when what follows a block is blank lines, then the next WARC header line or the end (`peek(n)`: the next
    `n` bytes, `stream.peek` after a block just read)."""
    probe = peek(64)
    stripped = probe.lstrip(b"\r\n\x00")
    if not stripped:
        return not peek(len(probe) + 1)[len(probe):] if len(probe) == 64 else True
    return bool(_WARC_VERSION.match(stripped)) or (len(stripped) < 12 and b"WARC/".startswith(stripped[:5]))


def _warc_block_ends(peek) -> bool:
    """Whether a WARC block ends here (`peek` as above): the next header line or the end follows, or the CRLF CRLF
    that ends a record (then whatever follows is garbage, reported on the next turn). What tells a right
    Content-Length from a wrong one, for a record read and for a header line met while another is repaired."""
    return _follows_header_or_end(peek) or peek(4) == b"\r\n\r\n"


_HEADER_OPENING = 24  # more than what `_WARC_RESYNC` needs to see of a header: `WARC/1.0`, its line end, `WARC-`


def _header_starts(block: bytes, ahead: bytes) -> Iterator[int]:
    """Where WARC header lines start in `block`, the bytes just read (`ahead`: those that follow, not read): after a
    newline, and also those the block's end cuts. A Content-Length too long by a few bytes (5 to 18 with CRLF line
    ends) ends the block inside the next record's `WARC/1.0` line, which then matched nowhere: reading on to the
    header after it made that record part of this one's block, lost without a row."""
    for m in _WARC_RESYNC.finditer(block, 1):
        yield m.start(1)
    base = max(0, len(block) - _HEADER_OPENING)
    for m in _WARC_RESYNC.finditer(block[base:] + ahead, 1):
        if base + m.start(1) < len(block) < base + m.end(1):  # starts in the block and runs on past its end
            yield base + m.start(1)


# WARC-Block-Digest algorithms, as writers name them, to hashlib's names. The WARC spec leaves the algorithm open;
# Common Crawl and most crawlers write sha1, some sha256; any other is not checked.
_DIGEST_ALGORITHMS = {"sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256",
                      "sha512": "sha512", "sha-512": "sha512", "md5": "md5"}
_RECORD_END = b"\r\n\r\n"  # what ends a WARC record after its block, by the spec


def _block_digest(value: str) -> Optional[Tuple[str, bytes]]:
    """(hashlib algorithm, digest) of a WARC-Block-Digest `algorithm:value`, the value in base32 (the spec's examples,
    Common Crawl), hex or base64 (as warcio reads them); None when it is missing, of an algorithm not known here, or
    does not decode to a digest of that algorithm's size."""
    name, sep, text = value.strip().partition(":")
    algorithm = _DIGEST_ALGORITHMS.get(name.strip().lower())
    text = text.strip()
    if not sep or algorithm is None or not text.isascii():
        return None
    size = hashlib.new(algorithm).digest_size
    b32, b64 = text.upper() + "=" * (-len(text) % 8), text + "=" * (-len(text) % 4)
    for decode in (partial(base64.b32decode, b32), partial(bytes.fromhex, text),
                   partial(base64.b64decode, b64, validate=True),
                   partial(base64.b64decode, b64, altchars=b"-_", validate=True)):
        try:
            digest = decode()
        except (binascii.Error, ValueError):
            continue
        if len(digest) == size:
            return algorithm, digest
    return None


def _declared_digest(headers: Dict[str, str]) -> Optional[Tuple[str, bytes]]:
    """The record's WARC-Block-Digest as `_block_digest` reads it (None when absent or unreadable)."""
    return _block_digest(headers.get("warc-block-digest", ""))


def _digest_matches(digest: Tuple[str, bytes], block) -> bool:
    return hashlib.new(digest[0], block).digest() == digest[1]


class _RunningDigest:
    """A record's block digest, checked at each header line met while its wrong length is repaired: whether the bytes
    read so far are its block then the CRLF CRLF that ends a record. The bytes are hashed as they come, the last 4
    held back (the record's end, when the next header follows), so that a repair that meets many header lines (an
    archive stored as a page) hashes what it reads once."""

    def __init__(self, digest: Tuple[str, bytes]):
        self._hash, self._expected, self._tail = hashlib.new(digest[0]), digest[1], b""

    def add(self, data) -> None:
        if len(data) >= len(_RECORD_END):
            self._hash.update(self._tail)
            self._hash.update(memoryview(data)[:-len(_RECORD_END)])
            self._tail = bytes(data[-len(_RECORD_END):])
        else:
            tail = self._tail + bytes(data)
            self._hash.update(tail[:-len(_RECORD_END)])
            self._tail = tail[-len(_RECORD_END):]

    def ends_block(self) -> bool:
        return self._tail == _RECORD_END and self._hash.digest() == self._expected


def _repair_length(stream: ArchiveStream, block: bytes, check: "_HeaderCheck",
                   digest: Optional[Tuple[str, bytes]] = None) -> Tuple[bytes, bool]:
    """The true block when Content-Length was wrong: the bytes up to the next WARC header that `check` takes (a
    `WARC/1.0` header inside the payload is not one). (None, False) when there is none within `check.max_bytes`.
    With the record's block `digest`, a header line (or the end) where the bytes before it are the block that
    hashes to it, then CRLF CRLF, is the next record whatever `check` says: the block comes back exactly, its own
    line ends included."""
    running = None if digest is None else _RunningDigest(digest)
    parts, hashed = [block], 0  # what has been read of this stretch; the bytes of `block` given to `running`
    check.begin(partial(b"".join, parts))
    for at in _header_starts(block, stream.peek(_HEADER_OPENING)):  # declared too long: the block swallowed the
        if running is not None and at >= hashed:                      # next record's header, or its first bytes
            running.add(memoryview(block)[hashed:at])
            hashed = at
            if running.ends_block():
                stream.unread(block[at:])
                return block[:at - len(_RECORD_END)], True
        cut = check.record_at(block, at, at)
        if cut is not None:
            stream.unread(block[cut:])
            return block[:cut].rstrip(b"\r\n"), True
    if running is not None:
        running.add(memoryview(block)[hashed:])
    # declared too short (or the block is cut): read on, line by line, to the next header
    size = len(block)
    while size <= check.max_bytes:
        line = stream.readline(_READ_CHUNK)
        if running is not None and (not line or _WARC_VERSION.match(line)) and running.ends_block():
            stream.unread(line)
            return b"".join(parts)[:size - len(_RECORD_END)], True
        if not line:
            break
        if _WARC_VERSION.match(line):
            cut = check.record_at(line, 0, size)
            if cut is not None:
                read = b"".join(parts)
                stream.unread(read[cut:] + line)
                return read[:cut].rstrip(b"\r\n"), True
        parts.append(line)
        size += len(line)
        if running is not None:
            running.add(line)
    cut = check.fall_back(stream.tell)
    if cut is not None:  # the end, or the cap, and no header taken: the first one passed over
        read = b"".join(parts)
        stream.unread(read[cut:])
        return read[:cut].rstrip(b"\r\n"), True
    stream.unread(b"".join(parts[1:]))  # no next header: leave the bytes for the caller to report
    return None, False


def _arc_fields(line: bytes, version: int) -> Optional[Tuple[bytes, List[bytes], int]]:
    """(URL, the fields after it, the length: -1 when missing or not a number) of an ARC header line, None when
    `line` is not one. URL IP DATE MIME LENGTH (v1; v2 has more fields) are parsed from the right (URLs with
    spaces are seen in the wild); a line without its length field (URL IP DATE MIME) needs a 12-20 digit date."""
    fields = line.split()
    n = _ARC_FIELDS[version] if len(fields) >= _ARC_FIELDS[version] else 5
    if len(fields) >= 5 and _ARC_DATE.match(fields[len(fields) - n + 2]):
        url, rest = b" ".join(fields[:len(fields) - n + 1]), fields[len(fields) - n + 1:]
        length = rest[-1]
    elif len(fields) >= 4 and _ARC_DATE.match(fields[-2]) and len(fields[-2]) >= 12:
        url, rest, length = b" ".join(fields[:-3]), fields[-3:], b""
    else:
        return None
    return url, rest, int(length) if length.isdigit() and len(length) < 40 else -1


def _arc_header_length(line: bytes) -> Optional[int]:
    """The declared length of an ARC header line (v1 or v2), strictly: see _ARC_URL; -1 when the length field is
    missing or not a number (`-1` and `abc` are seen in the wild); None when `line` is not an ARC header line."""
    if len(line) > _MAX_HEADER_LINE or not _ARC_URL.match(line):
        return None
    for version in (2, 1):
        parsed = _arc_fields(line, version)
        if parsed and _ARC_IP.match(parsed[1][0]) and len(parsed[1][1]) >= 12:
            return parsed[2]
    return None


def _is_arc_header(line: bytes) -> bool:
    return _arc_header_length(line) is not None


def _is_arc_or_warc_header(line: bytes) -> bool:
    return _is_arc_header(line) or _WARC_VERSION.match(line) is not None


def _arc_header_in(block: bytes) -> bool:
    """Whether an ARC header line starts after a newline in `block`."""
    for m in _ARC_START.finditer(block):
        end = block.find(b"\n", m.end())
        if _is_arc_header(block[m.end():end + 1 if end >= 0 else len(block)]):
            return True
    return False


def _follows_arc_header_or_end(peek) -> bool:
    """True when what follows an ARC block is blank lines, then an ARC header line or the end (`peek`: as above)."""
    for size in (1024, _MAX_HEADER_LINE):  # the next line is short, most of the time
        probe = peek(size)
        stripped = probe.lstrip(b"\r\n\x00")
        eol = stripped.find(b"\n")
        if eol >= 0 or len(probe) < size:
            break
    if not stripped:
        return len(probe) < size
    return _is_arc_header(stripped if eol < 0 else stripped[:eol + 1])


def _at_line_start(peek, last: bytes) -> bool:
    """Whether what follows a block whose last byte is `last` starts a line: a length too long by a few bytes eats
    the start of the next header line, and `ttp://example.com/ ...` still parses as one (with the wrong URL)."""
    return peek(1) in b"\r\n\x00" or last == b"\n"


def _bytes_at(stream: ArchiveStream, data: bytes, at: int, n: int) -> bytes:
    """Bytes `at` to `at + n` of `data` (the bytes just read) and on into what the stream has not read yet."""
    if at + n <= len(data):
        return data[at:at + n]
    if at >= len(data):
        return stream.peek_at(at - len(data), n)
    return data[at:] + stream.peek_at(0, at + n - len(data))


_HEADER_END = re.compile(rb"\n\r*\n")


def _arc_block(stream: ArchiveStream, data: bytes, at: int) -> Optional[Tuple[int, Optional[int], None]]:
    """(start, end, digest) of the block of the ARC header line at `at` in `data` by its declared length (end None: no
    length to go by; an ARC header has no digest); None when the line is not an ARC header line."""
    eol = data.find(b"\n", at, at + _MAX_HEADER_LINE)
    line = data[at:eol + 1] if eol >= 0 else _bytes_at(stream, data, at, _MAX_HEADER_LINE)
    line = line[:line.find(b"\n") + 1] or line
    length = _arc_header_length(line)
    if length is None:
        return None
    return at + len(line), None if length < 0 else at + len(line) + length, None


def _warc_block(stream: ArchiveStream, data: bytes, at: int) -> Optional[Tuple[int, Optional[int], Optional[str]]]:
    """The same for the WARC header at `at` (end None: a Content-Length that is not a number; digest: its
    WARC-Block-Digest as written, decoded only where it is checked); None when the header does not end within 16 KiB
    or has no Content-Length."""
    for probe in (1 << 11, 1 << 14):  # a WARC header is a few hundred bytes, most of the time
        head = _bytes_at(stream, data, at, probe)
        m = _HEADER_END.search(head)
        if m:
            break
    else:
        return None
    headers = _parse_fields(head[:m.start()].split(b"\n"))
    if "content-length" not in headers:
        return None
    length = _content_length(headers)
    return at + m.end(), None if length < 0 else at + m.end() + length, headers.get("warc-block-digest")


def _warc_length_right(stream: ArchiveStream, data: bytes, at: int, end: int) -> bool:
    """Whether the WARC record at `at` in `data`, its block ending at `end`, is whole as `iter_archive` reads one: the
    block is followed by the next header line or the end, or by the CRLF CRLF that ends a record."""
    return _warc_block_ends(partial(_bytes_at, stream, data, end))


def _arc_length_right(stream: ArchiveStream, data: bytes, at: int, end: int) -> bool:
    """The same for an ARC record: the block is followed by the next header line (at the start of a line: a length
    that lands inside a payload line can leave `p://...` of a lookalike line, which parses as one) or the end, or by
    the newline that ends a record, with no record inside it (looked for in its first 64 KiB)."""
    after = partial(_bytes_at, stream, data, end)
    if _follows_arc_header_or_end(after):
        return _at_line_start(after, _bytes_at(stream, data, end - 1, 1))
    return after(1) == b"\n" and not _arc_header_in(_bytes_at(stream, data, at, min(end - at, 1 << 16)))


class _HeaderCheck:
    """While a wrong length is repaired by reading on to the next header line: whether a header line found there starts
    the next record, or is a line of the payload that only looks like one (an archive, or a listing of one, stored
    as a page). One per format and file; `begin` at each repair.

    A header line is taken when its declared length is right as `iter_archive` judges a block (`length_right`:
    followed by the next header line or the end, at most `max_bytes` ahead and not past the end, or by the end of a
    record and garbage), when it opens a gzip member, or when it declares no length to go by (ARC `-1`, a WARC
    Content-Length that is not a number). The header line passed over just before one taken starts a record too when
    its declared length is within a factor of two of the length it would then have: a wrong length, like the one
    being repaired (a lookalike line's length is that of another record, or a few bytes); so does one whose
    WARC-Block-Digest is that of the bytes from its block up to the line taken less the CRLF CRLF ending a record,
    whatever its length (two wrong lengths in a row, the second by more than a factor of two, made that record part
    of the block being repaired, lost without a row). A digest that does not match proves nothing: a lookalike's
    counts as none. Any other header line is passed over as payload. When none is taken within `max_bytes` or before
    the end, nothing tells a lookalike from a record and the repair falls back to the first line passed over, as
    before these checks (`fall_back`). Either way the lines judged record starts are remembered for the repairs that
    follow, so that a file whose every length is wrong is still read in one pass: each look is a few bytes at a
    declared end and no line is looked at twice, so a repair is linear in what it reads (digests are checked only
    when a line is taken, walking back over the bytes of this repair to the first line that is not a record start:
    each byte is hashed once at most)."""

    def __init__(self, stream: ArchiveStream, block, length_right, max_bytes: int):
        self.stream, self.block, self.length_right, self.max_bytes = stream, block, length_right, max_bytes
        # (offset, block start, block end, file offset, WARC-Block-Digest) of the header lines passed over
        self.passed: List[Tuple[int, int, int, int, Optional[str]]] = []
        self.judged_until, self.starts = 0, set()  # after a fall-back: before `judged_until`, `starts` start records
        self.held: Optional[Callable[[], bytes]] = None

    def forget(self) -> None:
        """After a jump to a ResumePoint (iter_archive): nothing judged before it holds after it."""
        self.passed, self.held, self.judged_until, self.starts = [], None, 0, set()

    def begin(self, held: Optional[Callable[[], bytes]] = None) -> None:
        """A new repair; `held`: the bytes it has read so far, from offset 0 as the offsets given to `record_at` count
        them (without them, as where a block over the cap is skipped, no digest is checked)."""
        self.passed, self.held = [], held

    def _digest_proves(self, value: Optional[str], start: int, cut: int, read: List[bytes]) -> bool:
        """Whether the bytes from offset `start` to the header line at `cut` are the block of the WARC-Block-Digest
        `value`, then the end of its record (`read`: the bytes of this repair, fetched once per line taken). Not an
        empty block: the digest of no bytes matches wherever a header is followed by CRLF CRLF, as a lookalike at the
        end of a payload is."""
        digest = None if value is None or self.held is None or start >= cut - len(_RECORD_END) else _block_digest(value)
        if digest is None:
            return False
        if not read:
            read.append(self.held())
        return read[0][cut - len(_RECORD_END):cut] == _RECORD_END and _digest_matches(
            digest, memoryview(read[0])[start:cut - len(_RECORD_END)])

    def record_at(self, data: bytes, at: int, offset: int) -> Optional[int]:
        """The offset (counted as `offset`, that of `at`) where the next record starts, when the header line at `at`
        in `data` (the bytes just read) settles it; None to read on."""
        here = self.stream.tell - len(data) + at
        if here < self.judged_until:
            return offset if here in self.starts else None
        block = self.block(self.stream, data, at)
        if block is None:
            return None
        start, end, digest = block
        if end is not None and not (end - at <= self.max_bytes and _bytes_at(self.stream, data, end - 1, 1)
                                    and self.length_right(self.stream, data, at, end)) \
                and not self.stream.members_between(here - 1, here + 1):
            self.passed.append((offset, offset + start - at, offset + end - at, here, digest))
            return None
        taken, chain, read = offset, [], []
        for passed, passed_start, passed_end, passed_here, digest in reversed(self.passed):  # back from the line taken,
            would = taken - passed_start - 4  # while the lengths passed over are wrong by less than a factor of two (4:
            if not (would <= 2 * (passed_end - passed_start) <= 4 * would  # the blank line ending a record, CRLF CRLF)
                    or self._digest_proves(digest, passed_start, taken, read)):  # or their digests say so
                break
            taken = passed
            chain.append(passed_here)
        if chain:  # the repairs of the records in the chain go straight to the next one
            self.judged_until, self.starts = here, set(chain)
        return taken

    def fall_back(self, judged_until: int) -> Optional[int]:
        """No header line taken up to file offset `judged_until`: the offset of the first one passed over (None when
        there is none); the others passed over are remembered as record starts for the repairs that follow."""
        if not self.passed:
            return None
        self.judged_until, self.starts = judged_until, {here for _, _, _, here, _ in self.passed}
        return self.passed[0][0]


_ARC_CHECK = (_arc_block, _arc_length_right)
_WARC_CHECK = (_warc_block, _warc_length_right)


_FIRST_STEP = 1 << 12  # `_read_on` reads 4 KiB first, then twice as much each time up to _READ_CHUNK


def _read_on(stream: ArchiveStream, start: "re.Pattern", is_head, max_bytes: int,
             head: bytes = b"", check: Optional[_HeaderCheck] = None) -> Tuple[Optional[bytes], int, bool]:
    """Read from here (`head`: bytes of the same stretch already read) to the next line that starts a record, or
    the end: (the bytes less one trailing newline, None past `max_bytes`: counted, not held; their length; True
    when a record follows). A chunk at a time, the first ones short (a record read on to is often short, and a chunk
    read and given back per record made a file of small records cost a MiB each): the lines that `start` finds
    (after a newline) go to `is_head`, then to `check` when a wrong length is being repaired."""
    parts, size, at_start, found = [head], len(head), not head or head.endswith(b"\n"), False
    step = _FIRST_STEP
    if check is not None:
        check.begin()
    while not found:
        chunk = stream.read(step)
        end_of_data = not chunk
        if len(chunk) == step:  # a line cut by the chunk: read again from its start, in the next (longer) chunk
            whole = chunk.rfind(b"\n") + 1
            if whole < len(chunk) and (whole or step < _READ_CHUNK):
                stream.unread(chunk[whole:])
                chunk = chunk[:whole]
        step = min(2 * step, _READ_CHUNK)
        cut, lead = None, b"\n" if at_start else b""
        for m in start.finditer(lead + chunk) if chunk else ():
            p = m.end() - len(lead)
            end = chunk.find(b"\n", p)
            if is_head(chunk[p:] if end < 0 else chunk[p:end + 1]):
                cut = size + p if check is None else check.record_at(chunk, p, size + p)
                if cut is not None:
                    break
        if cut is None and check is not None and parts is not None and (end_of_data or size + len(chunk) > max_bytes):
            cut = check.fall_back(stream.tell)  # the end, or the cap, and no header line taken: see _HeaderCheck
        if cut is not None:
            found = True
            if cut < size and parts is not None:  # the record starts in a chunk read before: give back from there
                held = b"".join(parts)
                stream.unread(held[cut:] + chunk)
                parts, size, chunk = [held[:cut]], cut, b""
            else:
                cut = cut - size if cut >= size else p  # (a start that is no longer held: this header line instead)
                stream.unread(chunk[cut:])
                chunk = chunk[:cut]
        elif end_of_data:
            break
        elif not chunk:
            continue
        at_start = chunk.endswith(b"\n")
        size += len(chunk)
        parts = parts if parts is not None and size <= max_bytes else None
        if parts is not None:
            parts.append(chunk)
    if parts is None:
        return None, size, found
    block = b"".join(parts)
    return (block[:-1] if block.endswith(b"\n") else block), size, found


def _skip_claimed_block(stream: ArchiveStream, length: int, head: "re.Pattern", after_newline: "re.Pattern",
                        impossible: bool,
                        check: _HeaderCheck) -> Tuple[int, Optional[Tuple[int, Tuple[int, int]]], bool]:
    """Skip a block over the size cap without holding it (one chunk at a time), watching for the next
    record in case the declared length is wrong. Returns (bytes skipped, the first record start seen inside
    the block as (offset, member) for `rewind`, True when it stopped at a record start).

    It stops at a gzip member that opens with a record header (a block never runs on into a member that
    starts a record: that is how per-record gzip files are written) and, when the length is `impossible`
    (more than the rest of the file), at the first record header line that `check` takes."""
    skipped, first, prev = 0, None, b""
    check.begin()
    while skipped < length:
        start = stream.tell
        chunk = stream.read(min(length - skipped, _READ_CHUNK))
        if not chunk:
            break
        window = prev + chunk + stream.peek(4096 + 256)
        base = start - len(prev)
        for member in stream.members_between(start - 1, start + len(chunk)):
            if head.match(window, member - base):
                stream.unread(chunk[member - start:])
                return skipped + member - start, None, True
        if first is None or impossible:
            end = len(prev) + len(chunk)  # a header may run on into the lookahead, but must start in the chunk
            found = base if not skipped and head.match(window) else None  # the block itself opens a record
            for m in after_newline.finditer(window) if found is None else ():
                if m.start(1) >= end:
                    break
                found = check.record_at(prev + chunk, m.start(1), base + m.start(1))
                if found is not None:
                    break
            if found is not None:
                if impossible and found >= start:
                    stream.unread(chunk[found - start:])
                    return skipped + found - start, None, True
                first = (found, stream.member_at(found))
                if impossible:  # taken back to a header line of a chunk before
                    return skipped, first, False
        skipped += len(chunk)
        prev = chunk[-1:]
    if first is None:
        found = check.fall_back(stream.tell)
        first = None if found is None else (found, stream.member_at(found))
    return skipped, first, False


def _resync_after_wrong_length(stream: ArchiveStream, first: Optional[Tuple[int, Tuple[int, int]]],
                               at_record: bool) -> bool:
    """After `_skip_claimed_block` found the declared length wrong: position the stream at the next record
    (where the skip stopped, or back at the first record start it passed). False when there is none."""
    if at_record:
        return True
    return first is not None and stream.rewind(*first)


# Per file: the blocks a gzip file hands on may add up to this many times the compressed bytes read (or
# ARCHIVE_FLOOR_BYTES, whichever is more). Web archives inflate ~5x (Common Crawl: ~1 GB -> ~5 GB) and
# per-record gzip cannot exploit repeats across records; past 64x a small file is a bomb of compressible
# records (each under the record cap) that would otherwise fill a worker: the rest are `archive_cap`.
MAX_EXPANSION = 64
ARCHIVE_FLOOR_BYTES = 64 << 20
ARCHIVE_CAP = "archive_cap"  # the reason a record's block was let go (`extra["dropped"]`)


@dataclass(frozen=True)
class ResumePoint:
    """Where a reader can start afresh at a record and read on exactly as one that came from the file's start: the
    record's uncompressed offset, the (uncompressed, compressed) start of its gzip member (the offset twice in a
    plain file), the block bytes handed on before it (the file's cap, `max_expansion`) and the ARC version read so
    far (0: none yet)."""
    offset: int
    member: Tuple[int, int]
    held: int
    arc_version: int


Jump = Callable[[], Optional[Tuple[int, ResumePoint]]]


def iter_archive(stream: ArchiveStream, max_block_bytes: int = 16 << 20, max_expansion: int = MAX_EXPANSION,
                 floor_bytes: int = ARCHIVE_FLOOR_BYTES, jump: Optional[Jump] = None) -> Iterator[ArchiveRecord]:
    """Every record of a WARC or ARC stream; raises ArchiveDamage where the rest cannot be read. A record
    whose block would take a gzip file's blocks past `max_expansion` x its compressed bytes read (and past
    `floor_bytes`) comes with `block` None and `extra["dropped"] = "archive_cap"`.

    Records are numbered from 0 (`index`). With `jump`, every record that a reader could start afresh at (one that
    opens its gzip member, or any in a plain file, with no damage or repair in flight: `resume`) carries its
    ResumePoint, and before each record `jump()` may name a later one, `(index, point)`, to go on at instead:
    the stream seeks there (`ArchiveStream.jump`) and reads on as if it had come through the records between
    (readers.RecordClaims: the workers that share a file skip the records the others took without parsing them)."""
    at = {"index": 0, "resume": None}
    for rec in _archive_records(stream, max_block_bytes, max_expansion, floor_bytes, jump, at):
        rec.index = at["index"]
        at["index"] += 1
        if at["resume"] is not None and rec.rec_type != DAMAGED and not rec.length_repaired:
            rec.resume = at["resume"]
        yield rec


def _archive_records(stream: ArchiveStream, max_block_bytes: int, max_expansion: int, floor_bytes: int,
                     jump: Optional[Jump], at: dict) -> Iterator[ArchiveRecord]:
    """iter_archive's records; `at["index"]` is the index of the next one (set here on a jump), `at["resume"]`
    the ResumePoint of the record about to be yielded, when it has one."""
    arc_version = None
    held = 0
    arc_check = _HeaderCheck(stream, *_ARC_CHECK, max_block_bytes)  # see _HeaderCheck: a wrong length is
    warc_check = _HeaderCheck(stream, *_WARC_CHECK, max_block_bytes)  # repaired up to a header line checked

    def within_budget(rec: ArchiveRecord) -> ArchiveRecord:
        nonlocal held
        if rec.block is not None and stream.gzip:
            if held + len(rec.block) > max(floor_bytes, max_expansion * stream.compressed_tell):
                rec.block = None
                rec.extra["dropped"] = ARCHIVE_CAP
            else:
                held += len(rec.block)
        return rec

    while True:
        offset = pointer = at["resume"] = None
        if jump is not None:
            target = jump()
            if target is not None and target[0] > at["index"] and stream.jump(target[1].offset, target[1].member):
                at["index"], held, arc_version = target[0], target[1].held, target[1].arc_version or None
                arc_check.forget()
                warc_check.forget()
        try:
            stream.skip_blank()
            offset = stream.tell
            pointer = stream.member_offset(offset)
            if jump is not None and not stream.damage_ahead and max(arc_check.judged_until,
                                                                    warc_check.judged_until) <= offset:
                member = stream.member_at(offset)
                if not stream.gzip or member[0] == offset:
                    at["resume"] = ResumePoint(offset, member, held, arc_version or 0)
            first = stream.readline()
            if not first:
                return
            line = first.rstrip(b"\r\n")
            arc = (_arc_fields(line, arc_version or 1)
                   if arc_version is not None or line.startswith(b"filedesc://") else None)
            if line.startswith(b"WARC/"):
                lines = _header_lines(stream, pointer)
                if len(lines) > _MAX_HEADER_LINES:  # a header that never ends: that record only
                    if not _read_on(stream, _WARC_START, _WARC_VERSION.match, 0)[2]:
                        raise ArchiveDamage("record header too long", pointer)
                    yield ArchiveRecord(DAMAGED, _parse_fields(lines[:64]), None, offset, pointer, extra={
                        "error": f"record header too long (no end within {_MAX_HEADER_LINES} lines); "
                                 f"{stream.tell - offset} bytes skipped to the next record"})
                    continue
                headers = _parse_fields(lines)
                declared = headers.get("content-length", "").strip()
                length = _content_length(headers)
                if length < 0:  # that record only: its block runs to the next WARC header line
                    skipped, found = _repair_length(stream, b"", warc_check, _declared_digest(headers))
                    if not found:
                        raise ArchiveDamage("WARC record without a valid Content-Length", pointer)
                    yield ArchiveRecord(DAMAGED, headers, None, offset, pointer, extra={
                        "error": f"WARC record without a valid Content-Length ({declared[:40]!r}); "
                                 f"{len(skipped)} bytes skipped to the next record"})
                    continue
                rec = ArchiveRecord(headers.get("warc-type", "").strip().lower(), headers, None, offset, pointer,
                                    version=line.decode("ascii", "replace").strip(), declared_length=length)
                if length > max_block_bytes:
                    # Over the cap: counted and skipped, never held. A length the file cannot hold (2^40, 2^63), or
                    # one that runs past the next record, is damage to this record only: reading resumes at the
                    # next record and this one becomes a damaged record (an error row with its pointer).
                    bound = stream.remaining_bound()
                    impossible = bound is not None and length > bound
                    block_start = stream.tell
                    skipped, first, at_record = _skip_claimed_block(stream, length, _WARC_HEAD, _WARC_NEXT, impossible,
                                                                    warc_check)
                    whole = not at_record and skipped == length
                    if whole and _warc_block_ends(stream.peek):
                        yield rec
                        continue
                    if _resync_after_wrong_length(stream, first, at_record):
                        why = "more than the rest of the file" if impossible else "the next record starts inside it"
                        yield ArchiveRecord(DAMAGED, headers, None, offset, pointer, version=rec.version,
                                            declared_length=length,
                                            extra={"error": f"WARC record declares Content-Length {length} ({why}); "
                                                            f"{stream.tell - block_start} bytes skipped to the next record"})
                        continue
                    if not whole:
                        raise ArchiveDamage("archive ends inside a record block", pointer)
                    yield rec  # the whole block is there and garbage follows: the next turn reports the garbage
                    continue
                block = stream.read(length)
                # A whole block followed by the CRLF CRLF trailer has a right length (what follows is then
                # garbage, reported on the next turn); otherwise the length is wrong and is repaired.
                if len(block) < length or not _warc_block_ends(stream.peek):
                    repaired, ok = _repair_length(stream, block, warc_check, _declared_digest(headers))
                    if ok:
                        block, rec.length_repaired = repaired, True
                    elif len(block) < length:
                        raise ArchiveDamage("archive ends inside a record block", pointer)
                    # else: the block is whole and garbage follows it; the next turn reports the garbage
                rec.block = block
                yield within_budget(rec)
            elif arc is not None:
                url, rest, length = arc
                if line.startswith(b"filedesc://"):
                    arc_version = 1
                version = f"ARC/{arc_version}"
                repaired = False
                if length < 0:  # no length (`-1` is seen in the wild), or not a number: the block runs to the next record
                    block, size, _ = _read_on(stream, _ARC_START, _is_arc_header, max_block_bytes, check=arc_check)
                    length = size if block is None else len(block)
                elif length > max_block_bytes:  # counted and skipped, never held; a wrong length: see WARC above
                    bound = stream.remaining_bound()
                    impossible = bound is not None and length > bound
                    block_start = stream.tell
                    skipped, first, at_record = _skip_claimed_block(stream, length, _ARC_HEAD, _ARC_NEXT, impossible,
                                                                    arc_check)
                    # ARC lengths are often miscounted by the tools that wrote them (no digests to check): a last
                    # block short by up to 64 bytes at the end of the file is whole, as warcio has it.
                    whole = not at_record and skipped >= length - _ARC_SLACK
                    if whole and _follows_arc_header_or_end(stream.peek):
                        block = None
                    elif _resync_after_wrong_length(stream, first, at_record):
                        why = "more than the rest of the file" if impossible else "the next record starts inside it"
                        yield ArchiveRecord(DAMAGED, {"warc-target-uri": url.decode("utf-8", "replace")}, None, offset, pointer,
                                            version=version, declared_length=length,
                                            extra={"error": f"ARC record declares length {length} ({why}); "
                                                            f"{stream.tell - block_start} bytes skipped to the next record"})
                        continue
                    elif whole:
                        block = None  # garbage follows the block: the next turn reports it
                    else:
                        raise ArchiveDamage("archive ends inside an ARC record", pointer)
                else:
                    block = stream.read(length)
                    cut = len(block) < length - _ARC_SLACK  # see above: a short last block is whole, more is a cut file
                    # Not followed by the next record: the length is wrong (read on to the next record), unless
                    # the block ends as a record does (its newline) with no record inside: garbage follows it,
                    # reported on the next turn.
                    header_next = _follows_arc_header_or_end(stream.peek) and _at_line_start(stream.peek, block[-1:])
                    if cut or not header_next and (stream.peek(1) != b"\n" or _arc_header_in(block)):
                        stream.unread(block)
                        block, _, found = _read_on(stream, _ARC_START, _is_arc_header, max_block_bytes,
                                                   check=arc_check)
                        if cut and not found:
                            raise ArchiveDamage("archive ends inside an ARC record", pointer)
                        repaired = True
                headers = {"arc-url": url.decode("utf-8", "replace"), "arc-ip": rest[0].decode("ascii", "replace"),
                           "arc-date": rest[1].decode("ascii", "replace"), "content-type": rest[2].decode("latin-1")}
                if url.startswith(b"filedesc://"):
                    version_line = (block or b"").split(b"\n", 1)[0].split()
                    if version_line[:1] == [b"2"]:
                        arc_version = 2
                    yield within_budget(ArchiveRecord("warcinfo", headers, block, offset, pointer,
                                                      version=f"ARC/{arc_version}", length_repaired=repaired))
                    continue
                headers["warc-target-uri"] = headers["arc-url"]
                headers["warc-date"] = headers["arc-date"]
                yield within_budget(ArchiveRecord("response", headers, block, offset, pointer, version=version,
                                                  length_repaired=repaired, declared_length=length))
            else:
                # Garbage where a header should be: skip to the next header line (WARC; in an ARC file, ARC or
                # WARC) and report the skipped bytes as one damaged record; with no next header, the rest of the
                # file is the damage.
                start, is_head = ((_WARC_START, _WARC_VERSION.match) if arc_version is None
                                  else (_ARC_START, _is_arc_or_warc_header))
                _, size, ok = _read_on(stream, start, is_head, 0, first)
                if not ok:
                    raise ArchiveDamage(f"not a WARC or ARC record header: {line[:80]!r}", pointer)
                yield ArchiveRecord(DAMAGED, {}, None, offset, pointer, version="",
                                    extra={"error": f"not a WARC or ARC record header: {line[:80]!r}; "
                                                    f"{size} bytes skipped to the next record"})
        except CorruptMember as damage:  # that member only: the records of the next ones are read on
            resumed = stream.resume_at_next_member(damage)
            if resumed is None:
                raise
            yield ArchiveRecord(DAMAGED, {}, None, stream.tell if offset is None else offset,
                                damage.offset if pointer is None else pointer, version="",
                                extra={"error": f"{damage}; skipped to the next gzip member, at offset {resumed}"})


# --- HTTP payloads -----------------------------------------------------------------------------------

@dataclass
class HttpResponse:
    status: Optional[int]
    headers: dict                      # names lower-cased, first value wins
    body: bytes


def _dechunk(body: bytes) -> Optional[bytes]:
    """The de-chunked body, or None when `body` is not chunked (many archives store it de-chunked but
    keep the header). A chunked body cut short keeps the chunks that arrived."""
    out, pos = [], 0
    while True:
        eol = body.find(b"\n", pos)
        if eol < 0:
            return b"".join(out) if out else None
        size_text = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return b"".join(out) if out else None
        if size == 0:
            return b"".join(out)
        if size < 0:  # not a chunk size ('-4' would walk back to where it started, for ever)
            return b"".join(out) if out else None
        start = eol + 1
        out.append(body[start:start + size])
        if start + size >= len(body):
            return b"".join(out)
        pos = start + size
        while body[pos:pos + 1] in (b"\r", b"\n"):
            pos += 1


def decode_content(body: bytes, encoding: Optional[str], max_bytes: int = 64 << 20) -> bytes:
    """Undo a Content-Encoding (gzip, x-gzip, deflate raw or zlib, br, identity; a list is undone right
    to left). A body that is already decoded (the header kept, the bytes not) is returned as is. At most
    `max_bytes` come out, whatever the input expands to (see `_decode_layers`)."""
    return _decode_layers(body, encoding, max_bytes)[0][:max_bytes]


def _decode_layers(body: bytes, encoding: Optional[str], max_bytes: int) -> Tuple[bytes, bool]:
    """(decoded body, True when it went over `max_bytes`). Every layer inflates at most `max_bytes` + 1
    bytes, so a bomb never expands in memory: it is cut one byte past the cap and reported as over it."""
    limit = max_bytes + 1
    codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("identity", "none", "utf-8", "utf8", "text", "binary", "chunked"):
            continue
        if coding in ("gzip", "x-gzip"):
            if body[:2] != b"\x1f\x8b":
                continue
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = d.decompress(body, limit)  # a truncated gzip payload keeps what inflates
        elif coding == "deflate":
            for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
                try:
                    body = zlib.decompressobj(wbits).decompress(body, limit)
                    break
                except zlib.error:
                    continue
        elif coding == "br":
            try:
                import brotli
            except ImportError as exc:
                raise UnsupportedEncoding("Content-Encoding br needs the brotli package") from exc
            try:  # brotli's output limit may overshoot a little: cut at the limit
                body = brotli.Decompressor().process(body, output_buffer_limit=limit)[:limit]
            except brotli.error:
                if body.lstrip()[:1] == b"<":  # stored decoded
                    continue
                raise
        else:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {coding!r}")
        if len(body) > max_bytes:  # an inner layer of a cut body would decode short: stop here
            return body, True
    return body, False


def parse_http_response(block: bytes, max_bytes: int = 64 << 20) -> HttpResponse:
    """Status line (reason phrase optional), headers (any line ending) and the decoded body; raises
    PayloadTooLarge when the decoded body would exceed `max_bytes`."""
    end = -1
    pos = 0
    lines = []
    while True:
        nl = block.find(b"\n", pos)
        if nl < 0:
            lines.append(block[pos:])
            end = len(block)
            break
        line = block[pos:nl].rstrip(b"\r")
        pos = nl + 1
        if not line:
            end = pos
            break
        lines.append(line)
    status = None
    if lines and lines[0].upper().startswith(b"HTTP/"):
        parts = lines[0].split(None, 2)
        if len(parts) >= 2 and parts[1][:3].isdigit():
            status = int(parts[1][:3])
        headers = _parse_fields(lines[1:])
    else:  # no HTTP header at all: the block is the body
        return HttpResponse(None, {}, block)
    body = block[end:]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        dechunked = _dechunk(body)
        if dechunked is not None:
            body = dechunked
    body, over = _decode_layers(body, headers.get("content-encoding"), max_bytes)
    if over:
        raise PayloadTooLarge(f"payload over {max_bytes} bytes once its Content-Encoding "
                              f"{headers.get('content-encoding')!r} is undone")
    return HttpResponse(status, headers, body)
