"""Whole small files (tokenizer.json, manifest.json) read and written, and patterns matched, through Beam's
FileSystems, so a path may be local or gs://. Only Beam's file-system layer is imported: the offline tools
(`winnow verify`) use these without loading a job.
"""
from __future__ import annotations

from apache_beam.io.filesystems import CompressionTypes, FileSystems


def path_matches(pattern: str) -> bool:
    """Whether a file pattern (a path or a glob, local or gs://) matches at least one file; unreadable
    storage counts as no match."""
    try:
        return bool(FileSystems.match([pattern])[0].metadata_list)
    except Exception:
        return False


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, mime_type="application/octet-stream",
                            compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
