"""`winnow verify SHARDS`: re-check every shard against manifest.json, and what the trainer relies on.

The manifest's shard paths must be relative names inside the directory (no `..`, no absolute path, no
symbolic link out of it). For each listed shard: the file exists, its size and sha256 match, it reads back with
exactly the schema of `shard_schema(seq_len, dtype, doc_ids)`, its row count and token count match, every
row's `doc_lengths` are positive and sum to at most seq_len + 1, the tail after them is padding, and every
token id is below the manifest's vocab_size (the model's embedding size: a larger id crashes `winnow train`).
Then the totals: sequences, tokens and non-pad tokens over all shards equal `totals`, the per-source figures
add up, and `packing` matches the shards (pad_fraction exactly; truncated_fraction exactly with doc_ids, else
within the bounds the segment counts allow, see `schemas.shards.packing_problems`). Shard files in the
directory that the manifest does not list are an error too (a stale or mixed run). With `--tokenizer`, the
tokenizer's sha256 and vocabulary size must match. The first mismatch raises `VerifyError` naming the file
and what differs. Files are read through Beam FileSystems, so gs:// works.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from typing import Any, Optional

from apache_beam.io.filesystems import FileSystems

from pipelines.runtime.files import read_bytes
from schemas import MANIFEST_NAME, Manifest
from schemas.shard_files import (
    ShardTally, check_shard_content, check_totals, read_manifest, shard_location, unlisted_shards,
)
from schemas.shards import ShardError, check_shard_digest

# Verify's failures are shard errors: one class, so `winnow train` and `winnow verify` say the same thing.
VerifyError = ShardError


def _read_existing(path: str) -> bytes:
    if not FileSystems.exists(path):  # Beam's open raises its own error type for a missing file
        raise FileNotFoundError(path)
    return read_bytes(path)


def verify_shards(shards_dir: str, tokenizer_path: Optional[str] = None) -> Manifest:
    manifest = read_manifest(shards_dir, _read_existing)

    if tokenizer_path is not None:
        from tokenizer.encode import TokenizerHandle, tokenizer_file

        tok_file = tokenizer_file(tokenizer_path)
        tok = TokenizerHandle(read_bytes(tok_file), source=tok_file)
        if tok.sha256 != manifest.tokenizer.sha256:
            raise VerifyError(f"tokenizer mismatch: {tok_file} has sha256 {tok.sha256}, "
                              f"the shards were made with {manifest.tokenizer.sha256}")
        if tok.vocab_size != manifest.tokenizer.vocab_size:
            raise VerifyError(f"tokenizer vocab_size {tok.vocab_size} != manifest {manifest.tokenizer.vocab_size}")

    present = [m.path.rstrip("/").rsplit("/", 1)[-1]
               for r in FileSystems.match([FileSystems.join(shards_dir, "shard-*-of-*")]) for m in r.metadata_list]
    unlisted = unlisted_shards(manifest, present)
    if unlisted:
        raise VerifyError(f"{unlisted[0]}: shard file not listed in {MANIFEST_NAME} ({len(unlisted)} such files; "
                          f"a stale or mixed run?)")
    tally = ShardTally(manifest.seq_len + 1, manifest.with_doc_ids)
    for shard in manifest.shards:
        path = shard_location(shards_dir, shard.path)
        if not FileSystems.exists(path):
            raise VerifyError(f"{shard.path}: missing (listed in {MANIFEST_NAME})")
        data = read_bytes(path)
        check_shard_digest(shard, len(data), hashlib.sha256(data).hexdigest(), shard.path)
        check_shard_content(manifest, shard, data, tally)
    check_totals(manifest, tally)
    return manifest


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("shards", help="directory written by `winnow tokenize`")
    parser.add_argument("--tokenizer", default=None, help="also check the shards were made with this tokenizer")
    return parser


def main(args: Any = None) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args = configure_parser(argparse.ArgumentParser(prog="winnow verify")).parse_args(args)
    try:
        m = verify_shards(args.shards, args.tokenizer)
    except VerifyError as exc:
        # The verdict of the check, not a crash: one line, the file, what differs (other errors reach the CLI).
        print(f"winnow verify: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"verify: ok: {len(m.shards)} shards, {m.totals.sequences} sequences, {m.totals.tokens} tokens "
          f"({m.totals.non_pad_tokens} non-pad), seq_len {m.seq_len}, tokenizer {m.tokenizer.sha256[:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
