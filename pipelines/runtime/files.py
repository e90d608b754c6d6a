"""Whole small files (tokenizer.json, manifest.json) read and written through Beam's FileSystems, so a path may be
local or gs://. Only Beam's file-system layer is imported: the offline tools (`winnow verify`) use these without
loading a job.
"""
from __future__ import annotations

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from tokenizer.train import TOKENIZER_FILE


def tokenizer_json_path(path: str) -> str:
    """The tokenizer.json of `path`, a .json file or the directory holding one (local or gs://)."""
    return path if path.endswith(".json") else FileSystems.join(path, TOKENIZER_FILE)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, mime_type="application/octet-stream",
                            compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
