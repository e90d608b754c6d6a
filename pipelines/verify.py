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
import json
import sys
from typing import Any, Dict, List, Optional

import numpy as np
from apache_beam.io.filesystems import FileSystems

from pipelines.tokenize import read_bytes, tokenizer_json_path
from schemas import DOC_IDS, DOC_LENGTHS, MANIFEST_NAME, TOKENS, Manifest, shard_schema
from schemas.shards import (
    FIX_RETOKENIZE, ShardError, check_shard_digest, check_token_ids, local_shard_file, packing_problems,
)

# Verify's failures are shard errors: one class, so `winnow train` and `winnow verify` say the same thing.
VerifyError = ShardError

# Documents tracked by id to count the tokens of split ones exactly; beyond this the segment bounds are used.
MAX_TRACKED_DOC_IDS = 20_000_000


class _Tally:
    """What the shards hold, summed over all of them, for the totals and packing checks."""

    def __init__(self, row_len: int, track_ids: bool):
        self.sequences = self.tokens = self.non_pad = 0
        self.segments_by_length = np.zeros(row_len + 1, dtype=np.int64)
        self.doc_segments: Optional[Dict[str, List[int]]] = {} if track_ids else None  # id -> [segments, tokens]

    def add_ids(self, ids: List[str], lengths: List[int]) -> None:
        if self.doc_segments is None:
            return
        for doc_id, n in zip(ids, lengths):
            entry = self.doc_segments.setdefault(doc_id, [0, 0])
            entry[0] += 1
            entry[1] += n
        if len(self.doc_segments) > MAX_TRACKED_DOC_IDS:
            self.doc_segments = None

    def truncated_tokens(self, documents: int) -> Optional[int]:
        """Tokens of documents in two or more segments, when every document has its own id."""
        if self.doc_segments is None or len(self.doc_segments) != documents:
            return None
        return sum(tokens for segments, tokens in self.doc_segments.values() if segments > 1)


def _read_table(data: bytes, file_format: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if file_format == "arrow":
        return pa.ipc.open_file(pa.BufferReader(data)).read_all()
    return pq.read_table(pa.BufferReader(data))


def _check_shard(manifest: Manifest, shard, data: bytes, pad_id: Optional[int], tally: _Tally) -> int:
    """Checks one shard's content; returns its non-pad token count."""
    name = shard.path
    try:
        table = _read_table(data, manifest.file_format)
    except Exception as exc:
        raise VerifyError(f"cannot be read as {manifest.file_format} ({exc})", path=name, fix=FIX_RETOKENIZE) from exc
    expected = shard_schema(manifest.seq_len, manifest.dtype, manifest.with_doc_ids)
    if not table.schema.equals(expected, check_metadata=False):
        raise VerifyError(f"{name}: schema is {table.schema.to_string(show_schema_metadata=False)!r}, expected "
                          f"{expected.to_string(show_schema_metadata=False)!r} (seq_len {manifest.seq_len}, {manifest.dtype})")
    row_len = manifest.seq_len + 1
    if table.num_rows != shard.sequences:
        raise VerifyError(f"{name}: {table.num_rows} sequences, manifest says {shard.sequences}")
    if table.num_rows * row_len != shard.tokens:
        raise VerifyError(f"{name}: {table.num_rows * row_len} tokens, manifest says {shard.tokens}")
    if table.num_rows == 0:
        return 0
    tokens = table.column(TOKENS).combine_chunks().flatten().to_numpy().reshape(-1, row_len)
    top = int(tokens.max())
    if top >= manifest.tokenizer.vocab_size:
        check_token_ids(top, manifest.tokenizer.vocab_size, name,
                        row=int(np.argmax(tokens.max(axis=1) >= manifest.tokenizer.vocab_size)))
    lengths = table.column(DOC_LENGTHS).to_pylist()
    sums = np.array([sum(x) for x in lengths])
    for i, row_lengths in enumerate(lengths):
        if not row_lengths or min(row_lengths) <= 0 or sums[i] > row_len:
            raise VerifyError(f"{name}: row {i} has doc_lengths {row_lengths} (need positive lengths summing to "
                              f"at most {row_len})")
        if pad_id is not None and sums[i] < row_len and not np.all(tokens[i, sums[i]:] == pad_id):
            raise VerifyError(f"{name}: row {i} has non-pad tokens after its documents end at {sums[i]}")
    tally.segments_by_length += np.bincount(np.concatenate([np.asarray(x, dtype=np.int64) for x in lengths]),
                                            minlength=row_len + 1)
    if manifest.with_doc_ids:
        for i, (ids, row_lengths) in enumerate(zip(table.column(DOC_IDS).to_pylist(), lengths)):
            if len(ids) != len(row_lengths):
                raise VerifyError(f"{name}: row {i} has {len(ids)} doc_ids for {len(row_lengths)} doc_lengths")
            tally.add_ids(ids, row_lengths)
    return int(sums.sum())


def _shard_location(shards_dir: str, path: str) -> str:
    """Where to read shard `path`: a local file must resolve inside the directory (symbolic links included)."""
    if "://" in shards_dir:
        return FileSystems.join(shards_dir, path)
    return local_shard_file(shards_dir, path)


def verify_shards(shards_dir: str, tokenizer_path: Optional[str] = None) -> Manifest:
    manifest_path = FileSystems.join(shards_dir, MANIFEST_NAME)
    if not FileSystems.exists(manifest_path):
        raise VerifyError(f"no {MANIFEST_NAME} in {shards_dir}: the run did not complete "
                          f"(or this is not a `winnow tokenize` output directory)")
    try:
        manifest = Manifest.from_json(json.loads(read_bytes(manifest_path)))
    except (ValueError, KeyError, TypeError) as exc:
        raise VerifyError(f"not a valid manifest: {exc}", path=manifest_path) from exc

    if tokenizer_path is not None:
        from tokenizer.encode import TokenizerHandle

        tok_file = tokenizer_json_path(tokenizer_path)
        tok = TokenizerHandle(read_bytes(tok_file), source=tok_file)
        if tok.sha256 != manifest.tokenizer.sha256:
            raise VerifyError(f"tokenizer mismatch: {tok_file} has sha256 {tok.sha256}, "
                              f"the shards were made with {manifest.tokenizer.sha256}")
        if tok.vocab_size != manifest.tokenizer.vocab_size:
            raise VerifyError(f"tokenizer vocab_size {tok.vocab_size} != manifest {manifest.tokenizer.vocab_size}")

    pad_id = manifest.tokenizer.special_ids.get("<|pad|>")
    listed = {s.path for s in manifest.shards}
    present = {m.path.rstrip("/").rsplit("/", 1)[-1]
               for r in FileSystems.match([FileSystems.join(shards_dir, "shard-*-of-*")]) for m in r.metadata_list}
    unlisted = sorted(present - listed)
    if unlisted:
        raise VerifyError(f"{unlisted[0]}: shard file not listed in {MANIFEST_NAME} ({len(unlisted)} such files; "
                          f"a stale or mixed run?)")
    row_len = manifest.seq_len + 1
    tally = _Tally(row_len, manifest.with_doc_ids)
    for shard in manifest.shards:
        path = _shard_location(shards_dir, shard.path)
        if not FileSystems.exists(path):
            raise VerifyError(f"{shard.path}: missing (listed in {MANIFEST_NAME})")
        data = read_bytes(path)
        check_shard_digest(shard, len(data), hashlib.sha256(data).hexdigest(), shard.path)
        tally.non_pad += _check_shard(manifest, shard, data, pad_id, tally)
        tally.sequences += shard.sequences
        tally.tokens += shard.tokens
    t = manifest.totals
    for what, got, want in (("sequences", tally.sequences, t.sequences), ("tokens", tally.tokens, t.tokens),
                            ("non_pad_tokens", tally.non_pad, t.non_pad_tokens),
                            ("source tokens", sum(s.tokens for s in manifest.sources.values()), t.non_pad_tokens),
                            ("source documents", sum(s.documents for s in manifest.sources.values()), t.documents)):
        if got != want:
            raise VerifyError(f"{MANIFEST_NAME}: {what} add up to {got} over the shards, totals say {want}")
    problems = packing_problems(manifest, tally.segments_by_length.tolist(), tally.truncated_tokens(t.documents))
    if problems:
        raise VerifyError(f"{problems[0]}", path=MANIFEST_NAME,
                          fix="the manifest does not describe these shards: re-run `winnow tokenize`")
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
