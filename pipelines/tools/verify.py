"""`winnow verify SHARDS`: re-check every shard against manifest.json, and what the trainer relies on.

The manifest is checked field by field first, by type and range (`Manifest.from_json`,
`schemas.trainer_formats.check_trainer_manifest`). Its shard paths must be relative names inside the directory
(no `..`, no absolute path, no symbolic link out of it). For each listed shard: the file exists, its size and sha256 match, it reads back with
exactly the schema of `shard_schema(seq_len, dtype, doc_ids)`, its row count and token count match, every
row's `doc_lengths` are positive and sum to at most seq_len + 1, the tail after them is padding, and every
token id is below the manifest's vocab_size (the model's embedding size: a larger id crashes `winnow train`).
A directory in a trainer's format (`winnow export`, `winnow tokenize --format megatron|mds|llmc`; manifest
format `winnow.trainer/1`) is checked file by file the same way, with that format's structure instead of the
Parquet schema (`schemas.trainer_formats.check_trainer_files`). Then the totals: sequences, tokens and non-pad tokens over all shards equal `totals`, the per-source figures
add up, and `packing` matches the shards (pad_fraction exactly; truncated_fraction exactly with doc_ids, else
within the bounds the segment counts allow, see `schemas.shards.packing_problems`). Shard files in the
directory that the manifest does not list are an error too (a stale or mixed run). With `--tokenizer`, the
tokenizer's sha256 and vocabulary size must match. The first mismatch raises `VerifyError` naming the file
and what differs. Files are read through Beam FileSystems, so gs:// works.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from typing import Any, Dict, Optional, Union

from apache_beam.io.filesystems import FileSystems

from pipelines.runtime.files import read_bytes
from schemas import MANIFEST_NAME, Manifest
from schemas.shard_files import (
    ShardTally, check_shard_content, check_totals, read_manifest, shard_location, unlisted_shards,
)
from schemas.shards import ShardError, ShardInfo, check_shard_digest
from schemas.trainer_formats import check_trainer_files, is_trainer_manifest, load_trainer_manifest
from schemas.progress import Progress, add_to

# Verify's failures are shard errors: one class, so `winnow train` and `winnow verify` say the same thing.
VerifyError = ShardError


def _read_existing(path: str) -> bytes:
    if not FileSystems.exists(path):  # Beam's open raises its own error type for a missing file
        raise FileNotFoundError(path)
    return read_bytes(path)


def _check_tokenizer(tokenizer_path: str, sha256: str, vocab_size: int) -> None:
    from tokenizer.encode import tokenizer_file, tokenizer_mismatch

    tok_file = tokenizer_file(tokenizer_path)
    problem = tokenizer_mismatch(read_bytes(tok_file), tok_file, sha256, vocab_size)
    if problem:
        raise VerifyError(problem)


def trainer_manifest_of(shards_dir: str) -> Optional[Dict[str, Any]]:
    """The manifest of a trainer-format directory (`winnow export`, `winnow tokenize --format megatron|mds|llmc`),
    None for any other directory (whose manifest `read_manifest` then reads or reports)."""
    path = FileSystems.join(shards_dir, MANIFEST_NAME)
    if not FileSystems.exists(path):
        return None
    data = read_bytes(path)
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return load_trainer_manifest(data, path) if is_trainer_manifest(doc) else None


def verify_trainer_files(shards_dir: str, manifest: Dict[str, Any], tokenizer_path: Optional[str] = None,
                         progress: Optional[Progress] = None) -> Dict[str, Any]:
    """A trainer-format directory: every listed file's size and sha256, then its parsed content (counts, token
    ids below vocab_size, the format's own structure: Megatron index pointers, llm.c header, MDS offsets and
    index.json), unlisted files and the totals (`schemas.trainer_formats.check_trainer_files`). `progress`
    counts the files read (`files`) and their bytes."""
    if tokenizer_path is not None:
        _check_tokenizer(tokenizer_path, manifest["tokenizer"]["sha256"], manifest["tokenizer"]["vocab_size"])
    names = [m.path.rstrip("/").rsplit("/", 1)[-1]
             for r in FileSystems.match([FileSystems.join(shards_dir, "*")]) for m in r.metadata_list]

    def read(path: str) -> bytes:
        full = shard_location(shards_dir, path)
        if not FileSystems.exists(full):
            raise VerifyError(f"{path}: missing (listed in {MANIFEST_NAME})")
        data = read_bytes(full)
        add_to(progress, files=1, bytes=len(data))
        return data

    if progress is not None:
        progress.total = len(manifest["files"])
    check_trainer_files(manifest, read, names)
    return manifest


def read_listed_shard(shards_dir: str, shard: ShardInfo) -> bytes:
    """The bytes of a listed shard, which must exist and have the size and sha256 the manifest lists."""
    path = shard_location(shards_dir, shard.path)
    if not FileSystems.exists(path):
        raise VerifyError(f"{shard.path}: missing (listed in {MANIFEST_NAME})")
    data = read_bytes(path)
    check_shard_digest(shard, len(data), hashlib.sha256(data).hexdigest(), shard.path)
    return data


def check_listed(shards_dir: str, manifest: Manifest) -> None:
    """Shard files in the directory that the manifest does not list are an error (a stale or mixed run): one
    listing, no shard read (`winnow export` runs it before reading any shard)."""
    present = [m.path.rstrip("/").rsplit("/", 1)[-1]
               for r in FileSystems.match([FileSystems.join(shards_dir, "shard-*-of-*")]) for m in r.metadata_list]
    unlisted = unlisted_shards(manifest, present)
    if unlisted:
        raise VerifyError(f"{unlisted[0]}: shard file not listed in {MANIFEST_NAME} ({len(unlisted)} such files; "
                          f"a stale or mixed run?)")


def verify_shards(shards_dir: str, tokenizer_path: Optional[str] = None,
                  progress: Optional[Progress] = None) -> Union[Manifest, Dict[str, Any]]:
    """Every shard of `shards_dir` against its manifest (`winnow verify`); `progress` (schemas/progress.py)
    counts the files read (`files`, of the manifest's list) and their `bytes`."""
    trainer = trainer_manifest_of(shards_dir)
    if trainer is not None:
        return verify_trainer_files(shards_dir, trainer, tokenizer_path, progress)
    manifest = read_manifest(shards_dir, _read_existing)

    if tokenizer_path is not None:
        _check_tokenizer(tokenizer_path, manifest.tokenizer.sha256, manifest.tokenizer.vocab_size)

    check_listed(shards_dir, manifest)
    tally = ShardTally(manifest.seq_len + 1, manifest.with_doc_ids)
    if progress is not None:
        progress.total = len(manifest.shards)
    for shard in manifest.shards:
        check_shard_content(manifest, shard, read_listed_shard(shards_dir, shard), tally)
        add_to(progress, files=1, bytes=shard.bytes)
    check_totals(manifest, tally)
    return manifest


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("shards", help="directory written by `winnow tokenize` (any --format) or `winnow export`")
    parser.add_argument("--tokenizer", default=None, help="also check the shards were made with this tokenizer")
    return parser


def main(args: Any = None) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args = configure_parser(argparse.ArgumentParser(prog="winnow verify")).parse_args(args)
    try:
        with Progress("verify", ("files", "bytes"), unit="files") as progress:
            m = verify_shards(args.shards, args.tokenizer, progress)
    except VerifyError as exc:
        # The verdict of the check, not a crash: one line, the file, what differs (other errors reach the CLI).
        print(f"winnow verify: FAILED: {exc}", file=sys.stderr)
        return 1
    if isinstance(m, dict):
        t = m["totals"]
        print(f"verify: ok: {m['file_format']}: {len(m['files'])} files, {t['tokens']} tokens, {t['documents']} "
              f"documents{', %d samples' % t['samples'] if 'samples' in t else ''}, "
              f"tokenizer {m['tokenizer']['sha256'][:12]}")
        return 0
    print(f"verify: ok: {len(m.shards)} shards, {m.totals.sequences} sequences, {m.totals.tokens} tokens "
          f"({m.totals.non_pad_tokens} non-pad), seq_len {m.seq_len}, tokenizer {m.tokenizer.sha256[:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
