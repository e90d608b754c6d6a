"""Token shards and their `manifest.json` (format `winnow.tokens/1`).

A shard is a Parquet (or Arrow IPC) file whose rows are packed sequences: `tokens` is a fixed-size list of
`seq_len + 1` ids (inputs are `tokens[:-1]`, targets `tokens[1:]`), `doc_lengths` the lengths of the
document segments in the row in order (padding excluded), and optionally `doc_ids` for row-level lineage.
The manifest ties the shards to the exact tokenizer (sha256 of tokenizer.json) and lists every shard with
its counts, size and sha256 so that `winnow verify` and the trainer can check them.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Optional

import pyarrow as pa

MANIFEST_FORMAT = "winnow.tokens/1"
MANIFEST_NAME = "manifest.json"

TOKENS = "tokens"
DOC_LENGTHS = "doc_lengths"
DOC_IDS = "doc_ids"

_DTYPES = {"uint16": pa.uint16(), "uint32": pa.uint32()}


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

    def to_json(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["shards"] = sorted(d["shards"], key=lambda s: s["path"])
        return {"format": d.pop("format"), **d}

    def dumps(self) -> str:
        # sort_keys + fixed float rounding keep the manifest byte-identical across identical runs.
        return json.dumps(_round_floats(self.to_json()), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Manifest":
        if d.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"manifest format {d.get('format')!r} is not {MANIFEST_FORMAT!r}")
        return cls(
            seq_len=int(d["seq_len"]), dtype=d["dtype"], tokenizer=TokenizerInfo(**d["tokenizer"]),
            packing=PackingStats(**d["packing"]), totals=Totals(**d["totals"]),
            sources={k: SourceTotals(**v) for k, v in d.get("sources", {}).items()},
            shards=[ShardInfo(**s) for s in d["shards"]], file_format=d.get("file_format", "parquet"),
            seed=d.get("seed", 0), with_doc_ids=d.get("with_doc_ids", False), versions=d.get("versions", {}),
        )

    @classmethod
    def load(cls, path: str) -> "Manifest":
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))


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
