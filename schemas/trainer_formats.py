"""The shard formats other trainers read, and their `manifest.json` (format `winnow.trainer/1`).

Beam-free encoders (bytes of one file set from numpy arrays), parsers and the manifest checks that
`winnow verify` and `winnow stats` run. The byte layouts are those of the trainers' own writers:

- `megatron`: Megatron-LM / NeMo indexed dataset, `PREFIX.bin` (the tokens, back to back) + `PREFIX.idx`
  (megatron-core `indexed_dataset._IndexWriter`: `MMIDIDX\\x00\\x00`, version 1 (<Q), dtype code (<B), sequence
  count (<Q), document count (<Q), int32 sequence lengths, int64 byte pointers, int64 document indices).
  One sequence per document and document indices 0..n, as `tools/preprocess_data.py --append-eod` writes
  them (Winnow's documents already end with `<|endoftext|>`), so Megatron's GPTDataset does its own packing.
  Token dtype uint16 (code 8) when the vocabulary fits, else int32 (code 4: megatron has no uint32).
- `llmc`: nanoGPT / llm.c flat token file (`dev/data/data_common.py` write_datafile): 256 int32 header
  (magic 20240520, version 1, token count) then uint16 tokens; uint32 vocabularies get llm.c's llama-3
  header (magic 20240801, version 7) and uint32 tokens. Documents follow each other, each ending in eot.
- `mds`: MosaicML streaming MDS (`streaming.base.format.mds.writer.MDSWriter` joint shard: uint32 sample
  count, uint32 offsets (n + 1, from the file start), the JSON config, the samples; `index.json` version 2).
  One sample per Winnow row: `tokens` (ndarray:DTYPE:seq_len+1, fixed), `doc_lengths` (ndarray:int32) and,
  with doc ids, `doc_ids` (json), so `StreamingDataset` yields exactly the rows of the Parquet shards.

The manifest lists every file with bytes, sha256 and counts (tokens, documents; samples for MDS), the
totals, the tokenizer and, for an export, the source shards' manifest. `documents` are what the format
calls documents: Winnow documents when written by `winnow tokenize`, row segments when exported from
packed shards (a document longer than a row was already split by packing into row-sized pieces).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from schemas.errors import WinnowError
from schemas.shards import (
    EOT, MANIFEST_NAME, MAX_SEQ_LEN, ShardError, check_listed_files, check_token_ids, manifest_int, manifest_object,
    manifest_str, shown,
)

TRAINER_MANIFEST_FORMAT = "winnow.trainer/1"
TRAINER_FORMATS = ("megatron", "mds", "llmc")
WHOLE_DOCUMENT_FORMATS = ("megatron", "llmc")  # whole documents; mds holds packed rows of seq_len + 1 ids
MDS_INDEX = "index.json"

# -- Megatron indexed dataset -------------------------------------------------------------------------------

MEGATRON_HEADER = b"MMIDIDX\x00\x00"
# megatron.core.datasets.indexed_dataset.DType codes
MEGATRON_DTYPE_CODES = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "float64": 6, "float32": 7,
                        "uint16": 8}
MEGATRON_CODE_DTYPES = {v: k for k, v in MEGATRON_DTYPE_CODES.items()}
MEGATRON_INDEX_START = 34  # bytes before the sequence lengths: header, version, dtype code, the two counts

# Entries per numpy pass over an array with one entry per document or per token of a whole shard (`winnow
# export`, `winnow verify`): a pass's temporaries (int64 sums, masks) stay near 8 MB. Whole-array passes over
# a shard of one-token documents held several int64 copies of 8 bytes a document at once (3 GB of memory to
# export 67 MB of tokens).
ARRAY_CHUNK = 1 << 20


def file_dtype(file_format: str, dtype: str) -> str:
    """The token dtype a format stores for Winnow's shard dtype (megatron has no uint32: int32 holds ids < 2^31)."""
    if file_format == "megatron" and dtype == "uint32":
        return "int32"
    return dtype


def _document_offsets(lengths: np.ndarray, itemsize: int) -> Iterator[Tuple[int, int, np.ndarray]]:
    """(a, b, byte offsets in the .bin of documents a..b-1) for documents of `lengths` tokens stored back to
    back, `ARRAY_CHUNK` documents at a time (no int64 copy of all the lengths)."""
    start = 0  # byte offset of the chunk's first document
    for a in range(0, lengths.size, ARRAY_CHUNK):
        part = lengths[a:a + ARRAY_CHUNK]
        ends = np.cumsum(part, dtype=np.int64)
        ends *= itemsize
        ends += start
        offsets = np.empty_like(ends)
        offsets[0] = start
        offsets[1:] = ends[:-1]
        yield a, a + part.size, offsets
        start = int(ends[-1])


def megatron_index_pieces(lengths: np.ndarray, dtype: str) -> Iterator[bytes]:
    """The `.idx` bytes for documents of `lengths` tokens (one sequence each) stored back to back as `dtype`,
    in pieces of at most `ARRAY_CHUNK` entries (8 MiB) to be written in turn: the header, the sequence lengths
    (int32), the pointers (int64 byte offsets in the .bin) and the document indices 0..n (int64). The file is
    20 bytes a document: held whole it was the largest part of exporting a shard of one-token documents (671 MB
    for 33.5M of them)."""
    lengths = np.asarray(lengths)
    n = int(lengths.size)
    yield MEGATRON_HEADER + struct.pack("<QBQQ", 1, MEGATRON_DTYPE_CODES[dtype], n, n + 1)
    for a in range(0, n, ARRAY_CHUNK):
        yield lengths[a:a + ARRAY_CHUNK].astype("<i4").tobytes()
    for _, _, offsets in _document_offsets(lengths, np.dtype(dtype).itemsize):
        yield offsets.astype("<i8", copy=False).tobytes()
    for a in range(0, n + 1, ARRAY_CHUNK):
        yield np.arange(a, min(a + ARRAY_CHUNK, n + 1), dtype="<i8").tobytes()


def megatron_index(lengths: np.ndarray, dtype: str) -> bytes:
    """The whole `.idx` of `megatron_index_pieces`."""
    return b"".join(megatron_index_pieces(lengths, dtype))


def megatron_index_consistent(lengths: np.ndarray, pointers: np.ndarray, documents: np.ndarray, dtype: str) -> bool:
    """Whether a read `.idx` holds what `megatron_index` writes for its `lengths`: the pointers of back-to-back
    documents and document indices 0..n, compared `ARRAY_CHUNK` documents at a time (not a second index)."""
    n = int(lengths.size)
    if pointers.size != n or documents.size != n + 1 or int(documents[n]) != n:
        return False
    return all(np.array_equal(pointers[a:b], offsets) and np.array_equal(documents[a:b], np.arange(a, b))
               for a, b, offsets in _document_offsets(lengths, np.dtype(dtype).itemsize))


def read_megatron_index(data: bytes, where: str) -> Tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(dtype, sequence lengths, pointers, document indices) of `.idx` bytes, as megatron-core reads them."""
    if data[:9] != MEGATRON_HEADER or len(data) < MEGATRON_INDEX_START:
        raise ShardError("not a Megatron index (bad header)", path=where)
    version, = struct.unpack_from("<Q", data, 9)
    code, = struct.unpack_from("<B", data, 17)
    n_seq, n_doc = struct.unpack_from("<QQ", data, 18)
    if version != 1 or code not in MEGATRON_CODE_DTYPES:
        raise ShardError(f"Megatron index version {version}, dtype code {code}: not what megatron-core reads",
                         path=where)
    need = MEGATRON_INDEX_START + 4 * n_seq + 8 * n_seq + 8 * n_doc
    if len(data) != need:
        raise ShardError(f"{len(data)} bytes for {n_seq} sequences and {n_doc} document indices ({need} expected)",
                         path=where)
    lengths = np.frombuffer(data, np.int32, n_seq, MEGATRON_INDEX_START)
    pointers = np.frombuffer(data, np.int64, n_seq, MEGATRON_INDEX_START + 4 * n_seq)
    docs = np.frombuffer(data, np.int64, n_doc, MEGATRON_INDEX_START + 12 * n_seq)
    return MEGATRON_CODE_DTYPES[code], lengths, pointers, docs


# -- llm.c / nanoGPT --------------------------------------------------------------------------------------------

LLMC_HEADER_INTS = 256
LLMC_HEADERS = {"uint16": (20240520, 1), "uint32": (20240801, 7)}  # llm.c HEADERS_INFO gpt-2, llama-3
LLMC_MAX_TOKENS = 2 ** 31 - 1  # header[2] is an int32


def llmc_header(n_tokens: int, dtype: str) -> bytes:
    if n_tokens > LLMC_MAX_TOKENS:
        raise ValueError(f"{n_tokens} tokens do not fit llm.c's int32 token count: use smaller shards")
    header = np.zeros(LLMC_HEADER_INTS, dtype=np.int32)
    header[0], header[1] = LLMC_HEADERS[dtype]
    header[2] = n_tokens
    return header.tobytes()


def read_llmc(data: bytes, where: str) -> Tuple[str, np.ndarray]:
    """(dtype, tokens) of an llm.c `.bin`, with the loader's checks (magic, version, count == payload)."""
    if len(data) < 4 * LLMC_HEADER_INTS:
        raise ShardError("shorter than llm.c's 256-int32 header", path=where)
    header = np.frombuffer(data, np.int32, LLMC_HEADER_INTS)
    dtype = next((d for d, mv in LLMC_HEADERS.items() if tuple(int(x) for x in header[:2]) == mv), None)
    if dtype is None:
        raise ShardError(f"llm.c header magic/version {int(header[0])}/{int(header[1])} is not one llm.c reads",
                         path=where)
    payload = len(data) - 4 * LLMC_HEADER_INTS
    itemsize = np.dtype(dtype).itemsize
    if payload % itemsize or payload // itemsize != int(header[2]):
        raise ShardError(f"header says {int(header[2])} tokens, the file holds {payload / itemsize:g}", path=where)
    return dtype, np.frombuffer(data, dtype, int(header[2]), 4 * LLMC_HEADER_INTS)


# -- MosaicML MDS ---------------------------------------------------------------------------------------------

_MDS_SHAPE_DTYPES = ((1 << 8, np.uint8, 0), (1 << 16, np.uint16, 1), (1 << 32, np.uint32, 2))


def mds_columns(seq_len: int, dtype: str, with_doc_ids: bool) -> Dict[str, str]:
    columns = {"tokens": f"ndarray:{dtype}:{seq_len + 1}", "doc_lengths": "ndarray:int32"}
    if with_doc_ids:
        columns["doc_ids"] = "json"
    return columns


def mds_config(columns: Mapping[str, str], row_bytes: int) -> Dict[str, Any]:
    """MDSWriter.get_config(): columns sorted by name, fixed sizes for the fixed ndarray, None otherwise."""
    names = sorted(columns)
    return {"version": 2, "format": "mds", "compression": None, "hashes": ["sha256"], "size_limit": None,
            "column_names": names, "column_encodings": [columns[n] for n in names],
            "column_sizes": [row_bytes if n == "tokens" else None for n in names]}


def _mds_int32_array(values: np.ndarray) -> bytes:
    """NDArray encoding with static dtype int32, dynamic 1-d shape: [ndim << 2 | shape dtype][shape][values]."""
    n = int(values.size)
    if n == 0:
        raise ValueError("MDS cannot encode an empty array (a row has at least one segment)")
    shape_dtype, code = next((d, c) for bound, d, c in _MDS_SHAPE_DTYPES if n < bound)
    return bytes([(1 << 2) | code]) + np.array([n], shape_dtype).tobytes() + values.astype(np.int32).tobytes()


def encode_mds_shard(tokens: np.ndarray, doc_lengths: Sequence[Sequence[int]],
                     doc_ids: Optional[Sequence[Sequence[str]]], columns: Mapping[str, str]) -> bytes:
    """One joint MDS shard of rows (`tokens` rows x row_len in the shard dtype), as MDSWriter encodes it."""
    config = mds_config(columns, tokens.shape[1] * tokens.itemsize if tokens.ndim == 2 else 0)
    config_data = json.dumps(config, sort_keys=True).encode("utf-8")
    samples = []
    for i in range(len(doc_lengths)):
        body = {"tokens": tokens[i].tobytes(), "doc_lengths": _mds_int32_array(np.asarray(doc_lengths[i]))}
        if doc_ids is not None:
            body["doc_ids"] = json.dumps(list(doc_ids[i])).encode("utf-8")
        names = config["column_names"]
        sizes = [len(body[n]) for n, s in zip(names, config["column_sizes"]) if s is None]
        samples.append(np.array(sizes, np.uint32).tobytes() + b"".join(body[n] for n in names))
    n = len(samples)
    offsets = np.array([0] + [len(s) for s in samples], dtype=np.int64).cumsum() + 4 + 4 * (n + 1) + len(config_data)
    if offsets[-1] >= 1 << 32:
        raise ValueError("an MDS shard must stay under 4 GiB (uint32 offsets): use smaller shards")
    return np.uint32(n).tobytes() + offsets.astype(np.uint32).tobytes() + config_data + b"".join(samples)


def mds_index_entry(name: str, data: bytes, samples: int, columns: Mapping[str, str], row_bytes: int) -> Dict[str, Any]:
    return {**mds_config(columns, row_bytes), "samples": samples, "zip_data": None,
            "raw_data": {"basename": name, "bytes": len(data), "hashes": {"sha256": hashlib.sha256(data).hexdigest()}}}


def mds_index(entries: Sequence[Mapping[str, Any]]) -> bytes:
    """index.json as MDSWriter writes it (version 2, shards in file order, keys sorted)."""
    return json.dumps({"version": 2, "shards": sorted(entries, key=lambda e: e["raw_data"]["basename"])},
                      sort_keys=True).encode("utf-8")


def read_mds_shard(data: bytes, where: str) -> Tuple[Dict[str, Any], List[bytes]]:
    """(config, raw samples) of one joint MDS shard; offsets must be increasing and end at the file's end."""
    try:
        n = int(np.frombuffer(data, np.uint32, 1)[0])
        offsets = np.frombuffer(data, np.uint32, n + 1, 4).astype(np.int64)
        config = json.loads(data[4 + 4 * (n + 1): int(offsets[0])])
    except Exception as exc:
        raise ShardError(f"not an MDS shard ({exc})", path=where) from exc
    if offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
        raise ShardError(f"MDS offsets end at {int(offsets[-1])} of {len(data)} bytes", path=where)
    return config, [data[int(a):int(b)] for a, b in zip(offsets[:-1], offsets[1:])]


def decode_mds_row(sample: bytes, config: Mapping[str, Any], dtype: str) -> Tuple[np.ndarray, np.ndarray]:
    """(tokens, doc_lengths) of one raw MDS sample written by `encode_mds_shard`."""
    names, sizes = config["column_names"], config["column_sizes"]
    n_var = sum(1 for s in sizes if s is None)
    var = iter(np.frombuffer(sample, np.uint32, n_var).tolist())
    pos, out = 4 * n_var, {}
    for name, size in zip(names, sizes):
        size = next(var) if size is None else size
        out[name] = sample[pos:pos + size]
        pos += size
    raw = out["doc_lengths"]
    code = raw[0] & 3
    shape_dtype = (np.uint8, np.uint16, np.uint32, np.uint64)[code]
    width = np.dtype(shape_dtype).itemsize
    return np.frombuffer(out["tokens"], dtype), np.frombuffer(raw, np.int32, offset=1 + width)


# -- one file set -------------------------------------------------------------------------------------------

def encode_documents(file_format: str, stem: str, flat: np.ndarray, lengths: np.ndarray, dtype: str,
                     eot_id: Optional[int]) -> List[Tuple[str, Union[bytes, bytearray, memoryview], Dict[str, int]]]:
    """The files (name, bytes, counts) of documents given as their tokens back to back (`flat`, Winnow's
    shard dtype) and their `lengths` (any integer dtype: export's are the shards' int32 doc_lengths, not an
    int64 copy), in the order given: megatron `STEM.bin` + `STEM.idx`, llm.c `STEM.bin`. The bytes are
    bytes-like (written and hashed as they are: the megatron `.bin` is a view of `flat`'s own buffer), except
    the megatron `.idx`: an iterator of its pieces (`megatron_index_pieces`), to be written in turn
    (pipelines.runtime.files.write_pieces)."""
    lengths = np.asarray(lengths)
    total = int(lengths.sum(dtype=np.int64))
    if total != flat.size:
        raise ValueError(f"{flat.size} tokens for documents of {total}")
    if file_format == "megatron":
        fdtype = file_dtype("megatron", dtype)
        data = memoryview(np.ascontiguousarray(flat, dtype=fdtype)).cast("B")  # the tokens' own bytes, no copy
        return [(stem + ".bin", data, {"tokens": int(flat.size), "documents": int(lengths.size)}),
                (stem + ".idx", megatron_index_pieces(lengths, fdtype), {"documents": int(lengths.size)})]
    if file_format == "llmc":  # joined from the array's buffer: no tokens copy to concatenate
        data = b"".join((llmc_header(int(flat.size), dtype), np.ascontiguousarray(flat, dtype=dtype)))
        eots = int((flat == eot_id).sum()) if eot_id is not None else 0
        return [(stem + ".bin", data, {"tokens": int(flat.size), "documents": eots})]
    raise ValueError(f"encode_documents writes megatron or llmc, not {file_format!r} (MDS: encode_rows_mds)")


def encode_rows_mds(name: str, rows: np.ndarray, doc_lengths: Sequence[Sequence[int]],
                    doc_ids: Optional[Sequence[Sequence[str]]], seq_len: int,
                    dtype: str) -> Tuple[bytes, Dict[str, int], Dict[str, Any]]:
    """(shard bytes, counts, index.json entry) of one MDS shard holding Winnow rows (rows x (seq_len + 1))."""
    rows = np.asarray(rows, dtype=dtype).reshape(-1, seq_len + 1)
    columns = mds_columns(seq_len, dtype, doc_ids is not None)
    data = encode_mds_shard(rows, doc_lengths, doc_ids, columns)
    counts = {"tokens": int(rows.size), "documents": sum(len(d) for d in doc_lengths), "samples": len(doc_lengths),
              "non_pad_tokens": int(sum(int(np.sum(d)) for d in doc_lengths))}
    return data, counts, mds_index_entry(name, data, len(doc_lengths), columns, rows.shape[1] * rows.itemsize)


# -- manifest ---------------------------------------------------------------------------------------------------

def file_entry(path: str, data: bytes, **counts: int) -> Dict[str, Any]:
    return {"path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **counts}



def written_entry(path: str, written: Tuple[int, str], **counts: int) -> Dict[str, Any]:
    """The manifest entry of a file written in pieces: `written` = (bytes, sha256 hex) of what was written."""
    return {"path": path, "bytes": written[0], "sha256": written[1], **counts}


def trainer_manifest(file_format: str, dtype: str, tokenizer: Mapping[str, Any], files: Sequence[Mapping[str, Any]],
                     sources: Mapping[str, Mapping[str, int]], *, seed: int, seq_len: Optional[int],
                     documents_are: str, origin: Mapping[str, Any], versions: Mapping[str, str],
                     packing: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The manifest dict of a finished file set; `totals` are summed from the file entries."""
    if file_format not in TRAINER_FORMATS:
        raise ValueError(f"trainer format must be one of {TRAINER_FORMATS}, got {file_format!r}")
    data_files = [f for f in files if "tokens" in f]
    totals = {k: sum(int(f.get(k, 0)) for f in data_files) for k in ("tokens", "documents")}
    if file_format == "mds":
        totals["samples"] = sum(int(f.get("samples", 0)) for f in data_files)
    manifest = {"format": TRAINER_MANIFEST_FORMAT, "file_format": file_format, "dtype": dtype,
                "tokenizer": dict(tokenizer), "seed": seed, "seq_len": seq_len, "documents_are": documents_are,
                "origin": dict(origin), "versions": dict(versions), "totals": totals,
                "sources": {k: dict(v) for k, v in sorted(sources.items())},
                "files": sorted((dict(f) for f in files), key=lambda f: f["path"])}
    if packing is not None:
        manifest["packing"] = dict(packing)
    return manifest


def dumps_manifest(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def is_trainer_manifest(data: Mapping[str, Any]) -> bool:
    return isinstance(data, Mapping) and data.get("format") == TRAINER_MANIFEST_FORMAT


COUNTS = ("tokens", "documents", "samples", "non_pad_tokens")
# `winnow export` to megatron or llmc: the `<|endoftext|>` it appended to the pieces of documents that packing split
# (pipelines/tools/export.py `end_pieces`), counted in the files' tokens but in no source's
EOT_APPENDED = "eot_appended"  # a file entry's and the totals' counts


def check_trainer_manifest(manifest: Any) -> None:
    """The fields `winnow verify` and `winnow stats` rely on, by type and range: a hand-edited manifest (totals
    removed or `{}`, `Infinity`, `NaN`, `special_ids: null`, a file without `bytes`) is a ValueError naming
    the field and its value instead of a crash in the checks."""
    if not is_trainer_manifest(manifest) or manifest.get("file_format") not in TRAINER_FORMATS:
        got = (manifest.get("format"), manifest.get("file_format")) if isinstance(manifest, dict) else (manifest,)
        raise ValueError(f"format {'/'.join(shown(x) for x in got)} is not {TRAINER_MANIFEST_FORMAT!r} with a "
                         f"file_format of {', '.join(TRAINER_FORMATS)}")
    fmt = manifest["file_format"]
    dtypes = sorted({file_dtype(fmt, d) for d in LLMC_HEADERS})  # what each format stores (megatron: int32)
    dtype = manifest.get("dtype")
    if dtype not in dtypes:
        raise ValueError(f"dtype is {shown(dtype)}, not one of {', '.join(dtypes)} ({fmt})")
    tok = manifest_object(manifest, "tokenizer")
    manifest_str(tok, "sha256", "tokenizer.")
    vocab = manifest_int(tok, "vocab_size", "tokenizer.", low=1, high=int(np.iinfo(dtype).max) + 1)
    special = manifest_object(tok, "special_ids", "tokenizer.") if "special_ids" in tok else {}
    for name in special:
        manifest_int(special, name, "tokenizer.special_ids.", low=0, high=vocab - 1)
    if manifest.get("seq_len") is not None:
        manifest_int(manifest, "seq_len", low=1, high=MAX_SEQ_LEN)
    totals = manifest_object(manifest, "totals")
    for key in ("tokens", "documents") + (("samples",) if fmt == "mds" else ()):
        manifest_int(totals, key, "totals.")
    for key in totals:
        manifest_int(totals, key, "totals.")
    sources = manifest_object(manifest, "sources") if "sources" in manifest else {}
    for name in sources:
        source = manifest_object(sources, name, "sources.")
        for key in source:
            manifest_int(source, key, f"sources.{name}.")
    origin = manifest_object(manifest, "origin") if "origin" in manifest else {}
    if EOT_APPENDED in origin:
        manifest_int(origin, EOT_APPENDED, "origin.")
    for i, f in enumerate(check_listed_files(manifest, "files", ("bytes",))):
        for key in COUNTS:
            if key in f:
                manifest_int(f, key, f"files[{i}].")


def load_trainer_manifest(data: bytes, where: str) -> Dict[str, Any]:
    try:
        manifest = json.loads(data)
        check_trainer_manifest(manifest)
    except (ValueError, KeyError, TypeError) as exc:
        raise WinnowError(f"not a valid trainer-format manifest: {exc}", path=where,
                          fix="point at a directory `winnow export` or `winnow tokenize --format` wrote") from exc
    return manifest


def data_file_names(names: Sequence[str], file_format: str) -> List[str]:
    """The names in a directory that belong to a file set of `file_format` (for the unlisted-file check)."""
    ext = {"megatron": (".bin", ".idx"), "llmc": (".bin",), "mds": (".mds",)}[file_format]
    keep = [n for n in names if n.startswith("shard") and n.endswith(ext)]
    return keep + ([MDS_INDEX] if file_format == "mds" and MDS_INDEX in names else [])


def check_trainer_files(manifest: Mapping[str, Any], read, names_present: Sequence[str],
                        on_lengths: Optional[Callable[[np.ndarray], None]] = None) -> Dict[str, int]:
    """Every file of the manifest against its entry (bytes, sha256, then parsed: counts, token ids below
    vocab_size, the format's own consistency), and the totals. `read(path) -> bytes` reads a listed file; one
    data file (with its Megatron index) is held at a time, so memory is one shard's, whatever the file set.
    Raises ShardError on the first mismatch; returns the totals the files hold. `on_lengths` receives the
    documents' lengths file by file (for `winnow stats`)."""
    fmt, vocab = manifest["file_format"], int(manifest["tokenizer"]["vocab_size"])
    listed = {f["path"]: f for f in manifest["files"]}
    unlisted = sorted(set(data_file_names(names_present, fmt)) - set(listed))
    if unlisted:
        raise ShardError(f"{unlisted[0]}: not listed in {MANIFEST_NAME} ({len(unlisted)} such files; a stale or "
                         f"mixed run?)")
    eot = manifest["tokenizer"].get("special_ids", {}).get(EOT)
    found = {"tokens": 0, "documents": 0, "samples": 0}

    def checked(entry: Mapping[str, Any]) -> bytes:
        data = read(entry["path"])
        if len(data) != entry["bytes"]:
            raise ShardError(f"{len(data)} bytes, the manifest says {entry['bytes']}", path=entry["path"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ShardError("sha256 differs from the manifest's (the file changed after it was written)",
                             path=entry["path"])
        return data

    companions = {n for n in listed if n == MDS_INDEX or (fmt == "megatron" and n.endswith(".idx"))}
    for name in sorted(companions - {MDS_INDEX}):
        if name[:-4] + ".bin" not in listed:
            raise ShardError(f"no {name[:-4]}.bin is listed beside it", path=name)
    for name in sorted(set(listed) - companions):
        f = listed[name]
        data = checked(f)
        got: Dict[str, int] = {}
        if fmt == "megatron" and name.endswith(".bin"):
            idx_name = name[:-4] + ".idx"
            if idx_name not in listed:
                raise ShardError(f"{idx_name} is not listed beside it", path=name)
            idx = checked(listed[idx_name])
            dtype, seq_lengths, pointers, documents = read_megatron_index(idx, idx_name)
            itemsize = np.dtype(dtype).itemsize
            if int(seq_lengths.sum(dtype=np.int64)) * itemsize != len(data):
                raise ShardError(f"{len(data)} bytes, its index describes {int(seq_lengths.sum()) * itemsize}", path=name)
            if not megatron_index_consistent(seq_lengths, pointers, documents, dtype):
                raise ShardError("pointers or document indices are not those of back-to-back documents",
                                 path=idx_name)
            tokens = np.frombuffer(data, dtype)
            got = {"tokens": int(tokens.size), "documents": int(seq_lengths.size)}
            lengths = seq_lengths  # int32, read in place
        elif fmt == "llmc" and name.endswith(".bin"):
            _, tokens = read_llmc(data, name)
            got = {"tokens": int(tokens.size), "documents": int((tokens == eot).sum()) if eot is not None else 0}
            ends = np.flatnonzero(tokens == eot) if eot is not None else np.zeros(0, np.int64)
            lengths = np.diff(np.concatenate([[-1], ends])).astype(np.int64)
        elif fmt == "mds" and name.endswith(".mds"):
            config, samples = read_mds_shard(data, name)
            row_tokens, row_lengths = [], []
            for sample in samples:
                t, dl = decode_mds_row(sample, config, manifest["dtype"])
                if dl.size == 0 or dl.min() <= 0 or int(dl.sum()) > t.size:
                    raise ShardError(f"a sample has doc_lengths {dl.tolist()} for a row of {t.size}", path=name)
                row_tokens.append(t)
                row_lengths.append(dl.astype(np.int64))
            tokens = np.concatenate(row_tokens) if row_tokens else np.zeros(0, manifest["dtype"])
            lengths = np.concatenate(row_lengths) if row_lengths else np.zeros(0, np.int64)
            got = {"tokens": int(tokens.size), "documents": int(lengths.size), "samples": len(samples),
                   "non_pad_tokens": int(lengths.sum())}
        else:
            raise ShardError(f"is not a file of the {fmt} format", path=name)
        if tokens.size:
            check_token_ids(int(tokens.max()), vocab, name)
        for k, v in got.items():
            if k in f and int(f[k]) != v:
                raise ShardError(f"{k}: the file holds {v}, the manifest says {f[k]}", path=name)
        for k in found:
            found[k] += got.get(k, 0)
        if on_lengths is not None:
            on_lengths(lengths)
    if fmt == "mds":
        if MDS_INDEX not in listed:
            raise ShardError(f"{MDS_INDEX} is not listed in {MANIFEST_NAME}", path=MANIFEST_NAME)
        _check_mds_index(listed, checked(listed[MDS_INDEX]))
    for k, v in manifest["totals"].items():
        if k in found and int(v) != found[k]:
            raise ShardError(f"totals.{k} is {v}, the files hold {found[k]}", path=MANIFEST_NAME)
    src = manifest.get("sources") or {}
    src_tokens = sum(int(s.get("tokens", 0)) for s in src.values())
    appended = int((manifest.get("origin") or {}).get(EOT_APPENDED, 0))  # an export's ends of split pieces
    if src and fmt != "mds" and src_tokens + appended != found["tokens"]:
        plus = f" + {appended} {EOT} appended to pieces" if appended else ""
        raise ShardError(f"the sources' tokens{plus} add up to {src_tokens + appended}, the files hold "
                         f"{found['tokens']}", path=MANIFEST_NAME)
    return found


def _check_mds_index(listed: Mapping[str, Mapping[str, Any]], data: bytes) -> None:
    """index.json names exactly the listed shards, with their sample counts, sizes and sha256."""
    try:
        shards = {s["raw_data"]["basename"]: s for s in json.loads(data).get("shards", [])}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ShardError(f"not an MDS index ({exc})", path=MDS_INDEX) from exc
    mds = {n: f for n, f in listed.items() if n.endswith(".mds")}
    if set(shards) != set(mds):
        raise ShardError(f"lists {sorted(shards)}, the manifest {sorted(mds)}", path=MDS_INDEX)
    for name, s in shards.items():
        f = mds[name]
        if s.get("samples") != f.get("samples") or s["raw_data"].get("bytes") != f["bytes"] or \
                s["raw_data"].get("hashes", {}).get("sha256", f["sha256"]) != f["sha256"]:
            raise ShardError(f"entry of {name} does not match the file (samples, bytes or sha256)", path=MDS_INDEX)


def local_reader(directory: str):
    """`read(path)` for `check_trainer_files` over a local directory (paths stay inside it)."""
    from schemas.shards import local_shard_file

    def read(path: str) -> bytes:
        with open(local_shard_file(directory, path), "rb") as fh:
            return fh.read()
    return read


def list_names(directory: str) -> List[str]:
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []
