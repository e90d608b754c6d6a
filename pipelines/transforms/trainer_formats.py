"""`winnow tokenize --format megatron|mds|llmc`: the encoded documents written in a trainer's own format
(the byte layouts and the manifest: `schemas.trainer_formats`), instead of Parquet or Arrow shards.

`WriteTrainerFormat` takes what `EncodeDocuments` emits -- (id, source, n_tokens, token bytes in the shard
dtype, `<|endoftext|>` appended) -- and returns the manifest dict (one element) after writing:

- megatron, llmc: every document goes to shard `hash(seed, id) % N` (N from the token count and `--shard-mb`
  or `--rows-per-shard` x (seq_len + 1) tokens), one group-by on the shard; inside a shard documents are
  ordered by that hash (then id), so the document shuffle is global and the files are the same whatever the
  bundles, the runner or the number of workers. Megatron gets one sequence per whole document (its GPTDataset
  packs them itself, as after `preprocess_data.py --append-eod`); llm.c gets the documents back to back.
- mds: the rows of `PackSequences` (the same packing and row shuffle as the Parquet shards: `--packing`,
  `--seq-len`, `--doc-ids`), one MDS shard per shard key, rows sorted by hash of (seed, row key) as
  `WriteShards` sorts them, and `index.json` listing the shards; a sample is a row.

Then `manifest.json` (`winnow.trainer/1`: files with bytes, sha256 and counts; totals; sources; packing for
mds), written once every file is, so a run that did not finish has no manifest. A shard no document hashed
to gets no file. Memory: one shard's documents or rows in one worker (`--shard-mb`, default 64 MiB of tokens).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import AsList, AsSingleton

from pipelines.runtime.files import write_bytes, write_pieces
from pipelines.transforms.tokenize import STATS, PackSequences, TokenizeConfig, source_counts, token_count
from schemas import MANIFEST_NAME
from schemas.trainer_formats import (
    EOT, MDS_INDEX, TRAINER_FORMATS, dumps_manifest, encode_documents, encode_rows_mds, file_dtype, file_entry,
    mds_index, trainer_manifest, written_entry,
)
from tokenizer.pack_groups import sum_counts
from tokenizer.train import sample_hash

WHOLE_DOCUMENTS = "whole documents, one per Winnow document, each ending in <|endoftext|>"
ROWS = "MDS samples are Winnow's packed rows (tokens, doc_lengths, doc_ids with --doc-ids)"


def shard_tokens(config: TokenizeConfig, dtype: str) -> int:
    """Tokens per megatron/llm.c shard: `rows_per_shard` rows' worth when given, else `shard_mb` MiB."""
    if config.rows_per_shard:
        return config.rows_per_shard * config.row_len
    return max(1, int(config.shard_mb * 2 ** 20) // np.dtype(dtype).itemsize)


def document_shard_count(total_tokens: int, tokens_per_shard: int) -> int:
    return max(1, math.ceil(total_tokens / tokens_per_shard))


def document_shard(encoded: Tuple[str, str, int, bytes], seed: int, n_shards: int) -> Tuple[int, Tuple[str, bytes]]:
    """A document's shard, by a hash of (seed, id): the global document shuffle."""
    return sample_hash(encoded[0], seed) % n_shards, (encoded[0], encoded[3])


def shard_stem(index: int, n_shards: int) -> str:
    return f"shard-{index:05d}-of-{n_shards:05d}"


def write_document_shard(file_format: str, output_dir: str, dtype: str, eot_id: Optional[int], seed: int, index: int,
                         n_shards: int, docs: Sequence[Tuple[str, bytes]]) -> Dict[str, Any]:
    """Writes one megatron/llm.c file set of `docs` ((id, token bytes)), ordered by hash of (seed, id)."""
    docs = sorted(docs, key=lambda d: (sample_hash(d[0], seed), d[0]))
    flat = np.frombuffer(b"".join(d[1] for d in docs), dtype=dtype)
    lengths = np.array([len(d[1]) // np.dtype(dtype).itemsize for d in docs], dtype=np.int64)
    files = []
    for name, data, counts in encode_documents(file_format, shard_stem(index, n_shards), flat, lengths, dtype, eot_id):
        files.append(written_entry(name, write_pieces(FileSystems.join(output_dir, name), data), **counts))
    return {"files": files}


def write_mds_shard(config: TokenizeConfig, dtype: str, index: int, n_shards: int, rows) -> Dict[str, Any]:
    """Writes one MDS shard of packed rows ((row key, token bytes, doc_lengths, doc_ids)), sorted by hash of
    (seed, row key) as `WriteShards` sorts a Parquet shard's rows."""
    rows = sorted(rows, key=lambda r: (sample_hash(r[0], config.seed), r[0]))
    name = shard_stem(index, n_shards) + ".mds"
    tokens = np.frombuffer(b"".join(r[1] for r in rows), dtype=dtype).reshape(-1, config.row_len)
    data, counts, entry = encode_rows_mds(name, tokens, [r[2] for r in rows],
                                          [r[3] for r in rows] if config.doc_ids else None, config.seq_len, dtype)
    write_bytes(FileSystems.join(config.output_dir, name), data)
    return {"files": [file_entry(name, data, **counts)], "index": entry}


class _WriteDocumentShardFn(beam.DoFn):
    def __init__(self, file_format: str, output_dir: str, dtype: str, eot_id: Optional[int], seed: int):
        self._args = (file_format, output_dir, dtype, eot_id, seed)

    def process(self, element, n_shards: int):
        index, docs = element
        yield write_document_shard(*self._args, index, n_shards, list(docs))


class _WriteMdsShardFn(beam.DoFn):
    def __init__(self, config: TokenizeConfig, dtype: str):
        self._config, self._dtype = config, dtype

    def process(self, element, n_shards: int):
        index, rows = element
        yield write_mds_shard(self._config, self._dtype, index, n_shards, list(rows))


def packing_entry(method: str, stats: Sequence[int]) -> Dict[str, Any]:
    rows, tokens, pad, truncated = tuple(stats or ()) or (0, 0, 0, 0)
    non_pad = tokens - pad
    return {"method": method, "pad_fraction": round(pad / tokens, 8) if tokens else 0.0,
            "truncated_fraction": round(truncated / non_pad, 8) if non_pad else 0.0}


class _WriteTrainerManifestFn(beam.DoFn):
    def __init__(self, file_format: str, config: TokenizeConfig, dtype: str, tokenizer: Dict[str, Any],
                 versions: Dict[str, str]):
        self._format, self._config, self._dtype = file_format, config, dtype
        self._tokenizer, self._versions = tokenizer, versions

    def process(self, written: List[Dict[str, Any]], sources: List[Tuple[str, Tuple[int, int]]], stats=None,
                extra: Optional[Dict[str, Any]] = None):
        config, fmt = self._config, self._format
        files = [f for w in written for f in w["files"]]
        if fmt == "mds":
            index = mds_index([w["index"] for w in written])
            write_bytes(FileSystems.join(config.output_dir, MDS_INDEX), index)
            files.append(file_entry(MDS_INDEX, index))
        manifest = trainer_manifest(
            fmt, file_dtype(fmt, self._dtype), self._tokenizer, files,
            {name: {"documents": c[0], "tokens": c[1]} for name, c in sources}, seed=config.seed,
            seq_len=config.seq_len if fmt == "mds" else None, documents_are=ROWS if fmt == "mds" else WHOLE_DOCUMENTS,
            origin={"command": "winnow tokenize"}, versions=self._versions,
            packing=packing_entry(config.packing, stats) if fmt == "mds" else None)
        manifest.update(extra or {})
        write_bytes(FileSystems.join(config.output_dir, MANIFEST_NAME), dumps_manifest(manifest))
        yield manifest


class WriteTrainerFormat(beam.PTransform):
    """Encoded documents (id, source, n_tokens, token bytes) -> the `file_format` file set under
    `config.output_dir` and its manifest.json; emits the manifest dict.

    `token_estimate` (a singleton of the input's estimated tokens, as the job passes PackSequences) sizes the
    shards without waiting for the documents' own count; without it the tokens are counted first.
    `pack_options`: further keyword arguments of PackSequences for mds (a mixture's `group_of`).
    `manifest_extra`: a singleton dict merged into the manifest (a mixture's `{"mixture": ...}` entry).
    """

    def __init__(self, file_format: str, config: TokenizeConfig, dtype: str, tokenizer: Dict[str, Any],
                 versions: Dict[str, str], token_estimate=None, pack_options: Optional[Dict[str, Any]] = None,
                 manifest_extra=None):
        super().__init__()
        if file_format not in TRAINER_FORMATS:
            raise ValueError(f"--format {file_format!r} is not a trainer format ({', '.join(TRAINER_FORMATS)})")
        if "<|pad|>" not in tokenizer.get("special_ids", {}) and file_format == "mds":
            raise ValueError("--format mds packs rows and needs the tokenizer's <|pad|> id: use a tokenizer "
                             "`winnow tokenizer train` wrote")
        self._format, self._config, self._dtype = file_format, config, dtype
        self._tokenizer, self._versions, self._token_estimate = tokenizer, versions, token_estimate
        self._pack_options = dict(pack_options or {})
        self._manifest_extra = manifest_extra

    def expand(self, encoded):
        config, dtype = self._config, self._dtype
        sources = (encoded | "SourceCounts" >> beam.Map(source_counts)
                   | "SumSources" >> beam.CombinePerKey(sum_counts))
        side: Dict[str, Any] = {"sources": AsList(sources)}
        if self._manifest_extra is not None:
            side["extra"] = AsSingleton(self._manifest_extra)
        if self._format == "mds":
            packed = encoded | "PackSequences" >> PackSequences(
                config.packing, config.row_len, self._tokenizer["special_ids"]["<|pad|>"], config.seed,
                config.rows_per_group, config.shard_rows(dtype), dtype, config.doc_ids, self._token_estimate,
                **self._pack_options)
            written = (packed["rows"] | "GroupShards" >> beam.GroupByKey()
                       | "WriteMds" >> beam.ParDo(_WriteMdsShardFn(config, dtype),
                                                  n_shards=AsSingleton(packed["shards"])))
            side["stats"] = AsSingleton(packed[STATS])
        else:
            total = self._token_estimate
            if total is None:
                total = (encoded | "CountTokens" >> beam.Map(token_count)
                         | "SumTokens" >> beam.CombineGlobally(sum))
            n_shards = total | "ShardCount" >> beam.Map(document_shard_count,
                                                        tokens_per_shard=shard_tokens(config, dtype))
            eot_id = self._tokenizer.get("special_ids", {}).get(EOT)
            written = (encoded | "AssignShard" >> beam.Map(document_shard, seed=config.seed,
                                                           n_shards=AsSingleton(n_shards))
                       | "GroupShards" >> beam.GroupByKey()
                       | "WriteFiles" >> beam.ParDo(_WriteDocumentShardFn(self._format, config.output_dir, dtype,
                                                                          eot_id, config.seed),
                                                    n_shards=AsSingleton(n_shards)))
        return (written | "CollectFiles" >> beam.combiners.ToList()
                | "WriteManifest" >> beam.ParDo(_WriteTrainerManifestFn(self._format, config, dtype, self._tokenizer,
                                                                        self._versions), **side))
