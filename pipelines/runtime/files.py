"""Whole small files (tokenizer.json, manifest.json) read and written, and patterns matched, through Beam's
FileSystems, so a path may be local or gs://. Only Beam's file-system layer is imported: the offline tools
(`winnow verify`) use these without loading a job.
"""
from __future__ import annotations

import hashlib
import logging
import os
from typing import Iterable, List, Optional, Tuple, Union

from apache_beam.io.filesystems import CompressionTypes, FileSystems

log = logging.getLogger(__name__)

# Temporary directories of a table being written (Beam's file sinks and pipelines/transforms/tables.py): never an
# output; pipelines/runtime/staging.py deletes those a killed run left.
BEAM_TEMP_PREFIX = "beam-temp-"


def path_matches(pattern: str) -> bool:
    """Whether a file pattern (a path or a glob, local or gs://) matches at least one file; unreadable
    storage counts as no match."""
    try:
        return bool(FileSystems.match([pattern])[0].metadata_list)
    except Exception:
        return False


def read_bytes(path: str, max_bytes: Optional[int] = None) -> bytes:
    """The bytes of a file (local or gs://). A local path that is not a regular file is refused (a FIFO blocked
    the read, /dev/zero never ended it), and so is a file over `max_bytes` when given (ValueError)."""
    if "://" not in path and os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError(f"{path} is over {max_bytes:,} bytes")
    return data


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, mime_type="application/octet-stream",
                            compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def write_pieces(path: str, data: Union[bytes, bytearray, memoryview, Iterable[bytes]]) -> Tuple[int, str]:
    """Writes `data` (bytes-like, or an iterable of bytes-like pieces written in turn, never held together);
    returns (bytes written, their sha256 hex)."""
    digest, size = hashlib.sha256(), 0
    with FileSystems.create(path, mime_type="application/octet-stream",
                            compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for piece in (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data:
            f.write(piece)
            digest.update(piece)
            size += memoryview(piece).nbytes
    return size, digest.hexdigest()


def files_under(directory: str) -> List[str]:
    """Every file under a directory (or object prefix), sorted; a missing directory is no files."""
    pattern = FileSystems.join(directory, "**")
    try:
        return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    except Exception as exc:  # a missing directory is no files (Beam raises on some filesystems)
        log.debug("listing %s: %s", pattern, exc)
        return []


def delete_tree(path: str) -> None:
    """Delete a directory (or the objects under a prefix) and everything in it; nothing there is not an error."""
    if FileSystems.get_filesystem(path).has_dirs():
        if FileSystems.exists(path):
            FileSystems.delete([path])
        return
    files = files_under(path)
    if files:
        FileSystems.delete(files)


def ensure_dir(path: str) -> None:
    """Make a directory where the filesystem has directories (object stores have none); one another writer made
    meanwhile is not an error."""
    if FileSystems.get_filesystem(path).has_dirs() and not FileSystems.exists(path):
        try:
            FileSystems.mkdirs(path)
        except IOError:  # made meanwhile by another writer
            if not FileSystems.exists(path):
                raise
