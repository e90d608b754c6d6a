"""What an input is: the kinds a SPEC may name, the caps of reading, and `InputFile`, the unit of reading.

An input SPEC (a path, glob or URI that Beam FileSystems can open, or `code:PATH`) expands to `InputFile`s
(pipelines/ingest/readers.py `expand_input_specs`) whose kind comes from the extension or prefix here. Every
reader yields read outcomes (`Outcome`), one per archive record / line / row / file seen:

    ("kept", RawRecord)        a record for the extract stage (fields: pipelines/ingest/records.py)
    ("dropped", reason)        counted only: records that hold no document (request/metadata/warcinfo ->
                               `record_type`, revisit -> `revisit`, binary, vendored or generated code files, ...)
    ("rejected", rejected_row) a record whose content was let go unread (`too_large`, `archive_cap`): counted under
                               its reason and written as a rejected row of stage `read` (empty text, with its id,
                               URL, input pointer and sizes in `detail`), so that what was lost can be found
    ("error", error_row)       the rest of a file that could not be parsed, with the offset it stopped at
    ("warned", counter)        no record: says that the record after it was read, but not as its file spells it
                               (`REPLACED_INVALID_UTF8`); counted under that name, beside in/kept

Record ids are stable across runs: WARC-Record-ID for WARC records, sha1(file name, offset) for ARC
records (warcio's ARC->WARC conversion invents random ids), the `id` field or sha1(file name, line/row)
for JSONL/Parquet, and `code:<tree name>/<relative path>` for code files.

Loads nothing but the standard library, so that parsing a recipe (pipelines/jobs/recipe.py) can check input
kinds without loading Beam.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass
from typing import Any, Optional, Tuple

READ_STAGE = "read"
# a JSONL document whose line held bytes that are not UTF-8 (or whose text held a lone surrogate): kept, with U+FFFD
REPLACED_INVALID_UTF8 = "replaced_invalid_utf8"
REPLACED_INVALID_UTF8_MEANING = ("JSONL documents whose line held bytes that are not UTF-8 (or whose text held a lone "
                                 "surrogate escape such as \\ud800): each became U+FFFD in the text kept; convert "
                                 "the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`) to keep their characters")

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

Outcome = Tuple[str, Any]


@dataclass(frozen=True)
class InputFile:
    """One unit of reading: `kind` (archive, jsonl, parquet, code, code_file), the path, and for a code
    file the tree it belongs to (`root`) so that its id and language are relative to the tree. `shard` (i, k):
    of a web archive, only the records that `readers._stride_of` gives to shard i of k (pipelines/ingest/readers.py's
    `split_input`); with `claims` (a local file that the k shards share), the records this shard claims first
    instead (`readers.RecordClaims`: whichever worker is free takes the next record)."""
    kind: str
    path: str
    root: Optional[str] = None
    # a code file's license rule (pipelines/ingest/licenses.py `license_rule`): the tree's SPDX expression, or
    # what its REUSE.toml says of the file (`override=...`, `aggregate=...`)
    license: Optional[str] = None
    # a file of a git repository: `<mode>:<blob at HEAD>`, plus `:<blob>` of its `.license` sidecar when it has one
    # (read with `git cat-file`)
    git_object: Optional[str] = None
    size: Optional[int] = None        # ... and the blob's size from `git ls-tree --long`
    shard: Optional[Tuple[int, int]] = None
    claims: Optional[str] = None
    problem: Optional[str] = None     # what listing a code tree met here (an unreadable directory): one error row


def stable_id(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) or path


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
