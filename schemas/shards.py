"""Token shards and their `manifest.json` (format `winnow.tokens/1`).

A shard is a Parquet (or Arrow IPC) file whose rows are packed sequences: `tokens` is a fixed-size list of
`seq_len + 1` ids (inputs are `tokens[:-1]`, targets `tokens[1:]`), `doc_lengths` the lengths of the
document segments in the row in order (padding excluded), and optionally `doc_ids` for row-level lineage.
The manifest ties the shards to the exact tokenizer (sha256 of tokenizer.json) and lists every shard with
its counts, size and sha256 so that `winnow verify` and the trainer can check them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import posixpath
from typing import Any, BinaryIO, Dict, List, Optional, Sequence, Tuple

import pyarrow as pa

from schemas.errors import WinnowError

MANIFEST_FORMAT = "winnow.tokens/1"
MANIFEST_NAME = "manifest.json"

TOKENS = "tokens"
DOC_LENGTHS = "doc_lengths"
DOC_IDS = "doc_ids"
# the special tokens packing writes (tokenize refuses a tokenizer without them): every document ends in EOT,
# every row is filled up with PAD
EOT = "<|endoftext|>"
PAD = "<|pad|>"

_DTYPES = {"uint16": pa.uint16(), "uint32": pa.uint32()}
# `winnow tokenize --seq-len` refuses more (pipelines.transforms.tokenize.MAX_SEQ_LEN; a test keeps them equal):
# a manifest past it was edited, and a reader would size its buffers by it
MAX_SEQ_LEN = 1 << 22


class ShardError(WinnowError):
    """A shard or its manifest does not hold what the trainer relies on (message names the file)."""


def token_dtype_for_vocab(vocab_size: int) -> str:
    """uint16 when every id fits (vocab_size <= 65,536), else uint32."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def shard_schema(seq_len: int, dtype: str, with_doc_ids: bool = False) -> pa.Schema:
    if dtype not in _DTYPES:
        raise ValueError(f"token dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    fields = [
        pa.field(TOKENS, pa.list_(pa.field("item", _DTYPES[dtype], nullable=False), seq_len + 1), nullable=False),
        pa.field(DOC_LENGTHS, pa.list_(pa.field("item", pa.int32(), nullable=False)), nullable=False),
    ]
    if with_doc_ids:
        fields.append(pa.field(DOC_IDS, pa.list_(pa.field("item", pa.string(), nullable=False)), nullable=False))
    return pa.schema(fields, metadata={b"format": MANIFEST_FORMAT.encode(), b"seq_len": str(seq_len).encode()})


@dataclasses.dataclass
class TokenizerInfo:
    sha256: str
    vocab_size: int
    special_ids: Dict[str, int]


@dataclasses.dataclass
class PackingStats:
    method: str
    pad_fraction: float
    truncated_fraction: float


@dataclasses.dataclass
class Totals:
    documents: int
    sequences: int
    tokens: int
    non_pad_tokens: int


@dataclasses.dataclass
class SourceTotals:
    documents: int
    tokens: int


@dataclasses.dataclass
class ShardInfo:
    path: str
    sequences: int
    tokens: int
    bytes: int
    sha256: str


@dataclasses.dataclass
class Manifest:
    seq_len: int
    dtype: str
    tokenizer: TokenizerInfo
    packing: PackingStats
    totals: Totals
    sources: Dict[str, SourceTotals]
    shards: List[ShardInfo]
    file_format: str = "parquet"
    seed: int = 0
    with_doc_ids: bool = False
    versions: Dict[str, str] = dataclasses.field(default_factory=dict)
    format: str = MANIFEST_FORMAT
    # `winnow tokenize --mixture`: the sources' requested and written documents, tokens, epochs and shares
    # (tokenizer.mixture.mixture_manifest); absent from a single-input manifest, whose bytes stay as they were
    mixture: Optional[Dict[str, Any]] = None

    def to_json(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["shards"] = sorted(d["shards"], key=lambda s: s["path"])
        if d["mixture"] is None:
            del d["mixture"]
        return {"format": d.pop("format"), **d}

    def dumps(self) -> str:
        # sort_keys + fixed float rounding keep the manifest byte-identical across identical runs.
        return json.dumps(_round_floats(self.to_json()), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, d: Any) -> "Manifest":
        """The manifest of a parsed manifest.json; every field is checked by type and range first (a
        hand-edited `1e400`, `NaN`, `"4096"` or `-1` is a ValueError naming the field and its value, not a crash
        or a huge allocation in a reader)."""
        if not isinstance(d, dict):
            raise ValueError(f"the manifest is a JSON {json_type(d)}, not an object")
        if d.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"manifest format {d.get('format')!r} is not {MANIFEST_FORMAT!r}")
        seq_len = manifest_int(d, "seq_len", low=1, high=MAX_SEQ_LEN)
        dtype = d.get("dtype")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype is {shown(dtype)}, not one of {', '.join(_DTYPES)}")
        tok = manifest_object(d, "tokenizer")
        manifest_str(tok, "sha256", "tokenizer.")
        # every id must be storable in the shards' dtype, so a larger vocabulary cannot be theirs
        vocab = manifest_int(tok, "vocab_size", "tokenizer.", low=1, high=1 << _DTYPES[dtype].bit_width)
        special = manifest_object(tok, "special_ids", "tokenizer.")
        for name in special:
            manifest_int(special, name, "tokenizer.special_ids.", low=0, high=vocab - 1)
        for name in (EOT, PAD):
            if name not in special:
                raise ValueError(f"tokenizer.special_ids has no {name} (tokenize always writes it)")
        if special[EOT] == special[PAD]:
            raise ValueError(f"tokenizer.special_ids gives {EOT} and {PAD} the same id {special[EOT]}")
        packing = manifest_object(d, "packing")
        manifest_str(packing, "method", "packing.")
        for key in ("pad_fraction", "truncated_fraction"):  # their range: packing_problems, which verify reports
            value = packing.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"packing.{key} is {shown(value)}, not a number")
        totals = manifest_object(d, "totals")
        for key in ("documents", "sequences", "tokens", "non_pad_tokens"):
            manifest_int(totals, key, "totals.")
        sources = manifest_object(d, "sources") if "sources" in d else {}
        for name in sources:
            source = manifest_object(sources, name, "sources.")
            for key in ("documents", "tokens"):
                manifest_int(source, key, f"sources.{name}.")
        shards = check_listed_files(d, "shards", ("sequences", "tokens", "bytes"))
        file_format = d.get("file_format", "parquet")
        if not isinstance(file_format, str):
            raise ValueError(f"file_format is {shown(file_format)}, not a string")
        seed = manifest_int(d, "seed", low=None) if "seed" in d else 0
        with_doc_ids = d.get("with_doc_ids", False)
        if not isinstance(with_doc_ids, bool):
            raise ValueError(f"with_doc_ids is {shown(with_doc_ids)}, not true or false")
        versions = manifest_object(d, "versions") if "versions" in d else {}
        mixture = manifest_object(d, "mixture") if d.get("mixture") is not None else None
        return cls(
            seq_len=seq_len, dtype=dtype, tokenizer=TokenizerInfo(**tok),
            packing=PackingStats(**packing), totals=Totals(**totals),
            sources={k: SourceTotals(**v) for k, v in sources.items()},
            shards=[ShardInfo(**s) for s in shards],
            file_format=file_format, seed=seed, with_doc_ids=with_doc_ids, versions=versions, mixture=mixture,
        )

    @classmethod
    def load(cls, path: str) -> "Manifest":
        with open(path, encoding="utf-8") as f:
            try:
                return cls.from_json(json.load(f))
            except (ValueError, KeyError, TypeError) as exc:
                raise WinnowError(f"not a valid manifest: {exc}", path=path,
                                  fix="point at a directory `winnow tokenize` wrote, or re-run it") from exc


# -- a manifest's fields by type and range (this manifest and the trainer formats' one) -------------------------

def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


_MISSING = object()


def shown(value: Any, limit: int = 60) -> str:
    """A field's value for a message, as JSON writes it (`null`, `NaN`, `"4096"`), cut short (a hand-edited
    manifest may hold anything)."""
    text = "missing" if value is _MISSING else json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def manifest_int(d: Dict[str, Any], key: str, prefix: str = "", low: Optional[int] = 0,
                 high: Optional[int] = None) -> int:
    """`d[key]`, a whole number from `low` to `high` (either None: unbounded): not a bool, a float (1e400, NaN,
    4096.0) or a string; otherwise a ValueError naming the field (`prefix` + key) and its value."""
    value = d.get(key, _MISSING)
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) or \
            (high is not None and value > high):
        if low is None:
            want = "a whole number"
        elif high is None:
            want = f"a whole number >= {low}"
        else:
            want = f"a whole number from {low:,} to {high:,}"
        raise ValueError(f"{prefix}{key} is {shown(value)}, not {want}")
    return value


def manifest_str(d: Dict[str, Any], key: str, prefix: str = "") -> str:
    value = d.get(key, _MISSING)
    if not isinstance(value, str):
        raise ValueError(f"{prefix}{key} is {shown(value)}, not a string")
    return value


def manifest_object(d: Any, key: Any, prefix: str = "") -> Dict[str, Any]:
    """`d[key]`, a JSON object (dict) -- `d` a dict or a list (`prefix` then names the list: `shards[3]`)."""
    value = d.get(key, _MISSING) if isinstance(d, dict) else d[key]
    if not isinstance(value, dict):
        name = f"{prefix}[{key}]" if isinstance(d, list) else f"{prefix}{key}"
        raise ValueError(f"{name} is {shown(value)}, not an object")
    return value


def check_listed_files(d: Dict[str, Any], key: str, counts: Sequence[str]) -> List[Dict[str, Any]]:
    """`d[key]`, a manifest's list of files (`shards`, or a trainer manifest's `files`): objects with a safe path
    listed once, non-negative whole `counts` and a sha256; otherwise a ValueError naming the entry and field."""
    entries = d.get(key, _MISSING)
    if not isinstance(entries, list):
        raise ValueError(f"{key} is {shown(entries)}, not a list of the files")
    seen = set()
    for i in range(len(entries)):
        entry = manifest_object(entries, i, key)
        path = safe_shard_path(entry.get("path"))
        if path in seen:
            raise ValueError(f"{key} lists {path!r} twice")
        seen.add(path)
        for count in counts:
            manifest_int(entry, count, f"{key}[{i}].")
        manifest_str(entry, "sha256", f"{key}[{i}].")
    return entries


def _round_floats(obj: Any, ndigits: int = 8) -> Any:
    if isinstance(obj, float):
        return round(obj, ndigits)
    if isinstance(obj, dict):
        return {k: _round_floats(v, ndigits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round_floats(v, ndigits) for v in obj]
    return obj


def read_manifest_optional(path: str) -> Optional[Manifest]:
    try:
        return Manifest.load(path)
    except FileNotFoundError:
        return None


# -- checks shared by `winnow verify` and the trainer --------------------------------------------------------

FIX_RETOKENIZE = "run `winnow verify` on the directory, then restore the file or re-run `winnow tokenize`"


def safe_shard_path(path: Any) -> str:
    """A manifest's shard `path`, refused unless it is a relative name that stays inside the shards directory.

    Every reader resolves `path` against the shards directory, so `../../etc/passwd` or `/etc/passwd` in a
    manifest from elsewhere would make `verify`, `stats` or the trainer open files outside it.
    """
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise ValueError(f"shard path {path!r} is not a relative file name inside the shards directory")
    norm = posixpath.normpath(path)
    if path.startswith("/") or "://" in path or (len(path) > 1 and path[1] == ":") or norm == "." or \
            norm == ".." or norm.startswith("../"):
        raise ValueError(f"shard path {path!r} leaves the shards directory: a manifest may only name files "
                         f"inside it (relative paths without '..')")
    return path


def local_shard_file(shards_dir: str, path: str) -> str:
    """The local file of shard `path`, refused when it resolves (through symbolic links) outside `shards_dir`."""
    root = os.path.realpath(shards_dir)
    full = os.path.realpath(os.path.join(root, safe_shard_path(path)))
    if os.path.commonpath([root, full]) != root:
        raise ShardError(f"resolves to {full}, outside the shards directory {root}",
                         path=os.path.join(shards_dir, path), fix="shards must be files inside their directory")
    return full


def sha256_stream(f: BinaryIO, chunk: int = 1 << 22) -> Tuple[int, str]:
    """(bytes, hex sha256) of a binary file object, read in chunks (hashlib releases the GIL on big updates,
    so several files hash in parallel threads)."""
    h, n = hashlib.sha256(), 0
    for block in iter(lambda: f.read(chunk), b""):
        h.update(block)
        n += len(block)
    return n, h.hexdigest()


def check_shard_digest(shard: ShardInfo, size: int, digest: str, where: str) -> None:
    """The shard's bytes are those the manifest lists (size, then sha256): a flipped bit fails here."""
    if size != shard.bytes:
        raise ShardError(f"{size} bytes, the manifest says {shard.bytes}", path=where, fix=FIX_RETOKENIZE)
    if digest != shard.sha256:
        raise ShardError(f"sha256 {digest} does not match the manifest's {shard.sha256} (the file changed after "
                         f"`winnow tokenize` wrote it)", path=where, fix=FIX_RETOKENIZE)


def check_token_ids(max_id: int, vocab_size: int, where: str, row: Optional[int] = None) -> None:
    """Every id must index the model's embedding, whose size is the manifest's vocab_size."""
    if max_id >= vocab_size:
        at = f"row {row} has" if row is not None else "has"
        raise ShardError(f"{at} token id {max_id} >= vocab_size {vocab_size} of the manifest's tokenizer "
                         f"(`winnow train` would fail on it)",
                         path=where, fix="re-run `winnow tokenize` with the tokenizer the manifest names")


def packing_problems(manifest: Manifest, segments_by_length: Sequence[int],
                     truncated_tokens: Optional[int] = None) -> List[str]:
    """What is wrong with `manifest.packing`, given the segments of all shards by length
    (`segments_by_length[n]`: how many `doc_lengths` entries equal n; a row bounds n, so this stays small) and,
    when doc_ids made it countable, the tokens of documents split across rows.

    pad_fraction is recomputed exactly (pad / all tokens). truncated_fraction (tokens of split documents /
    non-pad tokens) is compared exactly when `truncated_tokens` is given. Without doc_ids the segments still
    bound it: every document has at least one segment, so `segments - documents` = k extra segments; no
    document is split iff k = 0, and the split documents' s + k segments (1 <= s <= k) hold at least the
    k + 1 shortest and at most the 2k longest segment lengths.
    """
    problems: List[str] = []
    p, t = manifest.packing, manifest.totals
    for name, value in (("pad_fraction", p.pad_fraction), ("truncated_fraction", p.truncated_fraction)):
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            problems.append(f"packing.{name} is {value!r}, not a fraction in [0, 1]")
    if problems:
        return problems
    pad = 1.0 - t.non_pad_tokens / t.tokens if t.tokens else 0.0
    if abs(pad - p.pad_fraction) > 1e-6:  # the manifest rounds floats to 8 digits
        problems.append(f"packing.pad_fraction is {p.pad_fraction}, the shards have {pad:.8f} "
                        f"({t.tokens - t.non_pad_tokens} pad of {t.tokens} tokens)")
    counts = [int(c) for c in segments_by_length]
    n_segments = sum(counts)
    stated = p.truncated_fraction * t.non_pad_tokens
    slack = 1e-8 * t.non_pad_tokens + 0.5
    if truncated_tokens is not None:
        real = truncated_tokens / t.non_pad_tokens if t.non_pad_tokens else 0.0
        if abs(stated - truncated_tokens) > slack:
            problems.append(f"packing.truncated_fraction is {p.truncated_fraction}, the shards have {real:.8f} "
                            f"({truncated_tokens} tokens of documents split across rows, counted by doc_ids)")
        return problems
    extra = n_segments - t.documents
    if extra < 0:
        problems.append(f"{n_segments} document segments in the shards for totals.documents {t.documents}: "
                        f"every document has at least one")
    elif extra == 0 and stated > slack:
        problems.append(f"packing.truncated_fraction is {p.truncated_fraction} but no document is split: "
                        f"{n_segments} segments for {t.documents} documents")
    elif extra > 0:
        low, high = _sum_extreme(counts, extra + 1, shortest=True), _sum_extreme(counts, 2 * extra, shortest=False)
        if not low - slack <= stated <= high + slack:
            problems.append(f"packing.truncated_fraction is {p.truncated_fraction} ({stated:.0f} tokens), but "
                            f"{extra} extra segments over {t.documents} documents put the split documents' "
                            f"tokens between {low} and {high}")
    return problems


def _sum_extreme(counts: Sequence[int], k: int, shortest: bool) -> int:
    """Sum of the k shortest (or longest) lengths, given how many segments have each length."""
    total, left = 0, k
    for n in (range(len(counts)) if shortest else range(len(counts) - 1, -1, -1)):
        take = min(left, counts[n])
        total, left = total + take * n, left - take
        if not left:
            break
    return total
