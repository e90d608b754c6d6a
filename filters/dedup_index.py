"""The dedup index a curate leaves beside its documents (`OUT/index/<stage>/`), and how a later run looks keys up in it.

What it holds: `dedup_exact` writes one row per kept document, (text hash, kept id); `dedup_minhash` writes one
row per LSH band key of every kept document, (band key, kept id = the cluster id). A later run with
`against: [DIR, ...]` treats every indexed kept document as an earlier member of the graph: a new document
whose text hash or band key is in an index joins that document's group, and since earlier runs win, it is
rejected as `duplicate_of_previous` (stage = the dedup stage, `duplicate_of` = the kept id, `detail` =
{"index": DIR}). Nodes of earlier runs are strings that sort before every document's representative key
(`previous_node`), so the existing minimum-based choice (filters/dedup.py, filters/components.py) makes the
earlier document the one kept without a second code path.

Layout: Parquet (zstd), columns `bucket` (uint16: the first 16 bits of a BLAKE2b of the key), `key`
(binary: 16 bytes of exact hash, or the 10-byte band key) and `kept_id` (string). Rows are split into
`partitions` files by bucket range (`part-PPPPP-of-NNNNN.parquet`, partition = bucket * partitions // 65536)
and sorted by (bucket, key) inside each file, in row groups of `ROW_GROUP_ROWS`, so the row groups' bucket
statistics tell a reader which groups can hold a bucket: a lookup reads the footer of the partitions its keys
touch and only their row groups that hold those buckets (`IndexReader`), never the whole index and never the
earlier documents. `index.json` describes it: format, stage, what it holds, the parameters that produced its
keys (compared before a job starts: `check_params`), document and row counts, and every file with its
partition, rows, bytes, bucket range and sha256.

MinHash with Jaccard verification also writes `sets/` (same layout, columns `bucket` of the kept id, `kept_id`,
`set`: the sorted uint64 shingle hashes), so a candidate pair across runs is verified exactly as one within a
run, reading the sets of the candidate documents only.
"""
from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import CompressionTypes, FileSystems

from schemas.errors import WinnowError, reading
from schemas.progress import Progress, add_to

INDEX_DIR = "index"
DESCRIPTION = "index.json"
FORMAT = "winnow.dedup_index/1"
BUCKET_BITS = 16
BUCKETS = 1 << BUCKET_BITS
ROW_GROUP_ROWS = 4096  # ~60 KB compressed: the unit a lookup reads
SETS_ROW_GROUP_ROWS = 64  # a set is ~8 bytes per shingle (~1.6 KB for 200 words): ~100 KB read per candidate
DEFAULT_PARTITIONS = 256  # write groups hold rows / partitions rows: raise it for indexes of > ~2e8 rows
MAX_PARTITIONS = BUCKETS
BUCKET, KEY, KEPT_ID, SET = "bucket", "key", "kept_id", "set"
INDEX_SCHEMA = pa.schema([(BUCKET, pa.uint16()), (KEY, pa.binary()), (KEPT_ID, pa.string())])
# MinHash with Jaccard verification also keeps each kept document's shingle-hash set (sorted uint64 bytes),
# bucketed by id, so a later run verifies a candidate pair across runs exactly as within one run, reading the
# sets of the candidates only.
SETS_DIR = "sets"
SETS_SCHEMA = pa.schema([(BUCKET, pa.uint16()), (KEPT_ID, pa.string()), (SET, pa.binary())])
SETS_HOLDS = "the shingle-hash set of every kept document, by id: a later run verifies candidate pairs with it"
FIX_DAMAGED_INDEX = ("the index file is damaged or truncated: restore it, or write the index again (curate that run "
                     "again, or merge its inputs again), or leave that index out of `against`")
HOLDS = {
    "dedup_exact": "text hash (BLAKE2b-128 of the normalised text) of every kept document, with its id",
    "dedup_minhash": "every LSH band key of every kept document, with its cluster id (the kept document's id)",
}
# A previous run's node: sorts before any representative key (ids, hex rank prefixes), so a group holding one
# keeps it; the 4 digits name the `against` entry, so the first listed index wins a tie.
PREVIOUS_PREFIX = "\x00"


def key_bytes(key) -> bytes:
    """An exact hash (hex string) or a band key (bytes) as the index's binary key."""
    return bytes.fromhex(key) if isinstance(key, str) else bytes(key)


def bucket_of(key: bytes) -> int:
    """16 bits of BLAKE2b of the key: uniform for any key shape (band keys start with their band index)."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=2).digest(), "big")


def id_bucket(kept_id: str) -> int:
    return bucket_of(kept_id.encode("utf-8", "surrogatepass"))


def partition_of(bucket: int, partitions: int) -> int:
    return bucket * partitions // BUCKETS


def partition_file(partition: int, partitions: int) -> str:
    return f"part-{partition:05d}-of-{partitions:05d}.parquet"


def check_partitions(partitions: int) -> int:
    partitions = int(partitions)
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"index_partitions must be between 1 and {MAX_PARTITIONS}, got {partitions}")
    return partitions


def previous_node(index_number: int, kept_id: str) -> str:
    return f"{PREVIOUS_PREFIX}{index_number:04d}{kept_id}"


def is_previous(node: str) -> bool:
    return isinstance(node, str) and node.startswith(PREVIOUS_PREFIX)


def parse_previous(node: str) -> Tuple[int, str]:
    """(index number, kept id) of a `previous_node`."""
    return int(node[1:5]), node[5:]


# ------------------------------------------------------------------------------------------ parameters

def exact_params(normalize: bool) -> Dict[str, Any]:
    return {"hash": "blake2b-128", "normalize": "normalize_for_dedup" if normalize else "none"}


def minhash_params(params) -> Dict[str, Any]:
    """The fields of a `filters.minhash.MinHashParams` that decide band keys, and how text is normalised."""
    return {"ngram": params.ngram, "num_perm": params.num_perm, "bands": params.bands, "rows": params.rows,
            "seed": params.seed, "scheme": params.scheme, "hash": params.hashfunc, "band_key": "blake2b-64",
            "normalize": "normalize_for_dedup", "words": params.words}


# Parameters that indexes built before them do not record, and the value those indexes were built with.
_UNRECORDED_BEFORE = {"words": "whitespace"}


def params_differences(index: Mapping[str, Any], run: Mapping[str, Any]) -> List[str]:
    index = {**{k: v for k, v in _UNRECORDED_BEFORE.items() if k in run}, **index}
    return [f"{k}: index {index.get(k)!r}, this recipe {run.get(k)!r}"
            for k in sorted(set(index) | set(run)) if index.get(k) != run.get(k)]


# ------------------------------------------------------------------------------------------ description

def read_description(path: str) -> Dict[str, Any]:
    """An index.json, checked for the fields the readers use: a cut, empty or hand-edited description was a
    traceback (a list: AttributeError; no `partitions`: KeyError mid-job) or json's message without the file."""
    try:
        with FileSystems.open(path) as f:
            desc = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # json's JSONDecodeError is a ValueError
        raise ValueError(f"{path}: cannot be read as an index description ({exc}); {FIX_DAMAGED_INDEX}") from None
    problem = _description_problem(desc)
    if problem:
        raise ValueError(f"{path}: {problem}; {FIX_DAMAGED_INDEX}")
    return desc


def _description_problem(desc: Any) -> Optional[str]:
    """What an index.json lacks of what the readers use (None when it has it all)."""
    if not isinstance(desc, dict):
        return f"is a JSON {type(desc).__name__}, not an index description (an object)"
    partitions = desc.get("partitions")
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        return f"'partitions' is {partitions!r}, not a whole number of at least 1"
    files = desc.get("files")
    if not isinstance(files, list):
        return f"'files' is {files!r:.80}, not a list"
    for f in files:
        if not (isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("partition"), int)
                and isinstance(f.get("rows"), int) and isinstance(f.get("buckets"), list) and len(f["buckets"]) == 2):
            return f"the file entry {f!r:.120} lacks a path, partition, rows or buckets"
        if isinstance(f["rows"], bool) or f["rows"] < 1:
            # a written part always has rows (empty partitions get no file); readers skip an entry of 0 rows, so
            # its file's keys would silently match nothing
            return f"the file entry {f!r:.120} has rows {f['rows']!r}, not a count of at least 1"
        if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < BUCKETS for b in f["buckets"]):
            # the merge compares them with bucket numbers: a None or a string was a TypeError traceback
            return f"the file entry {f!r:.120} has buckets that are not two bucket numbers (0 to {BUCKETS - 1})"
    if not isinstance(desc.get("params", {}), dict):
        return "'params' is not an object"
    return None


def _check_listed_files(stage_dir: str, desc: Mapping[str, Any]) -> None:
    """ValueError naming the listed files with rows that are not there (a deleted part file failed mid-job)."""
    missing = [f["path"] for f in desc["files"] if f["rows"] and not _exists(FileSystems.join(stage_dir, f["path"]))]
    if missing:
        raise ValueError(f"{stage_dir}: {len(missing)} of the files its {DESCRIPTION} lists are missing "
                         f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); {FIX_DAMAGED_INDEX}")


def _exists(path: str) -> bool:
    try:
        return FileSystems.exists(path)
    except Exception:  # a bucket the caller may not read is not an index
        return False


def stage_index_dir(directory: str, stage: str) -> str:
    """The index directory of `stage` for DIR = a curate output, its `index/`, or the stage's index itself."""
    directory = directory.rstrip("/")
    for candidate in (FileSystems.join(directory, INDEX_DIR, stage), FileSystems.join(directory, stage), directory):
        if _exists(FileSystems.join(candidate, DESCRIPTION)):
            return candidate
    raise ValueError(f"against: {directory!r} holds no {stage} index (looked for {INDEX_DIR}/{stage}/{DESCRIPTION}, "
                     f"{stage}/{DESCRIPTION} and {DESCRIPTION}): give a curate output that ran {stage}, or its "
                     f"{INDEX_DIR}/ directory")


def load_description(directory: str, stage: str) -> Tuple[str, Dict[str, Any]]:
    """(the stage's index directory, its index.json), checked for format and stage."""
    stage_dir = stage_index_dir(directory, stage)
    desc = read_description(FileSystems.join(stage_dir, DESCRIPTION))
    if desc.get("format") != FORMAT:
        raise ValueError(f"against: {stage_dir} is not a {FORMAT} index (format {desc.get('format')!r})")
    if desc.get("stage") != stage:
        raise ValueError(f"against: {stage_dir} is a {desc.get('stage')} index, not a {stage} one")
    _check_listed_files(stage_dir, desc)
    return stage_dir, desc


def check_params(directory: str, stage: str, run_params: Mapping[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """Load an `against` index and refuse it (ValueError naming each difference) when other parameters built it:
    its keys could never match this run's, and every document would silently pass."""
    stage_dir, desc = load_description(directory, stage)
    diff = params_differences(desc.get("params", {}), run_params)
    if diff:
        raise ValueError(f"against: the {stage} index {stage_dir} was built with other parameters ({'; '.join(diff)}): "
                         f"set this recipe's {stage} options to the index's, or build a new index")
    return stage_dir, desc


def load_sets(stage_dir: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(directory, description) of an index's shingle-hash sets, or None when it was built without them."""
    sets_dir = FileSystems.join(stage_dir, SETS_DIR)
    if not _exists(FileSystems.join(sets_dir, DESCRIPTION)):
        return None
    desc = read_description(FileSystems.join(sets_dir, DESCRIPTION))
    _check_listed_files(sets_dir, desc)
    return sets_dir, desc


def describe(stage: str, params: Mapping[str, Any], partitions: int, files: Sequence[Mapping[str, Any]],
             keys_per_document: int, sources: Sequence[str] = (), holds: Optional[str] = None) -> Dict[str, Any]:
    """index.json: what the index holds, what built it, counts and checksums (files sorted by partition)."""
    files = sorted((dict(f) for f in files), key=lambda f: f["partition"])
    rows = sum(f["rows"] for f in files)
    return {"format": FORMAT, "stage": stage, "holds": holds or HOLDS[stage], "params": dict(params),
            "partitions": partitions, "bucket_bits": BUCKET_BITS, "partition_of": "bucket * partitions // 65536",
            "bucket_of": "first 16 bits of BLAKE2b(key), big-endian", "documents": rows // max(1, keys_per_document),
            "rows": rows, "bytes": sum(f["bytes"] for f in files), "files": files, "sources": list(sources)}


def summary(desc: Mapping[str, Any]) -> Dict[str, Any]:
    """The description without its file list, for report.json."""
    return {k: v for k, v in desc.items() if k != "files"} | {"files": len(desc.get("files", []))}


# ------------------------------------------------------------------------------------------ write

def write_partition(directory: str, partition: int, partitions: int, rows: Iterable[Tuple[int, Any, Any]],
                    schema: pa.Schema = INDEX_SCHEMA) -> Dict[str, Any]:
    """Sort one partition's rows (bucket, key, kept id; or bucket, kept id, set) and write its file; returns its
    index.json entry. Deterministic bytes for the same rows (sorted, duplicates dropped), so a retried write is
    the same file."""
    unique = sorted(set((int(r[0]), r[1], r[2]) for r in rows))
    table = pa.Table.from_arrays([pa.array([r[c] for r in unique], schema.field(c).type) for c in range(3)],
                                 schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True,
                   row_group_size=SETS_ROW_GROUP_ROWS if schema.equals(SETS_SCHEMA) else ROW_GROUP_ROWS)
    data = buf.getvalue()
    name = partition_file(partition, partitions)
    with FileSystems.create(FileSystems.join(directory, name)) as f:
        f.write(data)
    return {"path": name, "partition": partition, "rows": len(unique), "bytes": len(data),
            "buckets": [unique[0][0], unique[-1][0]] if unique else None,
            "sha256": hashlib.sha256(data).hexdigest()}


def write_description(directory: str, desc: Mapping[str, Any]) -> None:
    with FileSystems.create(FileSystems.join(directory, DESCRIPTION)) as f:
        f.write((json.dumps(desc, indent=2) + "\n").encode("utf-8"))


# ------------------------------------------------------------------------------------------ read

def check_part_schema(path: str, found: pa.Schema, expected: pa.Schema) -> None:
    """WinnowError naming a part file whose columns are not the index's (names, order and types): a key column of
    strings matched no key, so every document passed as new, and other shapes failed as `int('x')` naming no file."""
    if [(f.name, f.type) for f in found] != [(f.name, f.type) for f in expected]:
        have = ", ".join(f"{f.name}: {f.type}" for f in found)
        want = ", ".join(f"{f.name}: {f.type}" for f in expected)
        raise WinnowError(f"holds columns ({have:.200}), not a dedup index part's ({want})", path=path,
                          fix=FIX_DAMAGED_INDEX)


def _open_seekable(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class IndexReader:
    """Looks keys up in one index, reading only the row groups that can hold their buckets.

    Row groups are cached (at most `cache_groups`, least recently used goes), so the keys of neighbouring
    buckets that one worker sees share a read. `bytes_read`, `row_groups_read` and `partitions_opened` say
    what the lookups cost."""

    def __init__(self, stage_dir: str, desc: Mapping[str, Any], cache_groups: int = 64,
                 key_column: str = KEY, value_column: str = KEPT_ID):
        self.directory, self._columns = stage_dir, [key_column, value_column]
        self._schema = SETS_SCHEMA if value_column == SET else INDEX_SCHEMA
        self._partitions = int(desc["partitions"])
        self._files = {int(f["partition"]): f["path"] for f in desc.get("files", ()) if f.get("rows")}
        self._rows = {int(f["partition"]): f["rows"] for f in desc.get("files", ()) if f.get("rows")}
        self._meta: Dict[int, Tuple[Any, List[Tuple[int, int, int]]]] = {}
        self._groups: "OrderedDict[Tuple[int, int], Dict[bytes, List[str]]]" = OrderedDict()
        self._cache = cache_groups
        self.bytes_read = self.row_groups_read = self.partitions_opened = 0

    def _open(self, partition: int):
        if partition not in self._meta:
            path = self._path(partition)
            with reading(path, FIX_DAMAGED_INDEX), _open_seekable(path) as f:  # reads the footer only
                meta = pq.ParquetFile(f).metadata
            check_part_schema(path, meta.schema.to_arrow_schema(), self._schema)
            if meta.num_rows != self._rows[partition]:  # a replaced or truncated part, or an edited count
                raise WinnowError(f"has {meta.num_rows} rows where {DESCRIPTION} lists {self._rows[partition]}",
                                  path=path, fix=FIX_DAMAGED_INDEX)
            ranges = []
            for g in range(meta.num_row_groups):
                rg = meta.row_group(g)
                stats = rg.column(0).statistics
                if stats is None or not stats.has_min_max:  # row groups are found by these statistics alone
                    raise WinnowError(f"row group {g} has no {BUCKET} statistics", path=path, fix=FIX_DAMAGED_INDEX)
                ranges.append((int(stats.min), int(stats.max),
                               sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))))
            self._meta[partition] = (meta, ranges)
            self.partitions_opened += 1
            self.bytes_read += meta.serialized_size
        return self._meta[partition]

    def _path(self, partition: int) -> str:
        return FileSystems.join(self.directory, self._files[partition])

    def _group(self, partition: int, g: int) -> Dict[bytes, List[str]]:
        cached = self._groups.get((partition, g))
        if cached is not None:
            self._groups.move_to_end((partition, g))
            return cached
        meta, ranges = self._open(partition)
        path = self._path(partition)
        with reading(path, FIX_DAMAGED_INDEX), _open_seekable(path) as f:  # seeks to the group's column chunks
            table = pq.ParquetFile(f, metadata=meta).read_row_group(g, columns=self._columns)
        out: Dict[Any, List[Any]] = {}
        for k, i in zip(table.column(0).to_pylist(), table.column(1).to_pylist()):
            out.setdefault(k, []).append(i)
        self.row_groups_read += 1
        self.bytes_read += ranges[g][2]
        self._groups[(partition, g)] = out
        if len(self._groups) > self._cache:
            self._groups.popitem(last=False)
        return out

    def lookup(self, bucket: int, keys: Iterable[Any]) -> List[Tuple[Any, Any]]:
        """(key, kept id) for every indexed row of `bucket` whose key is among `keys` ((kept id, set) for sets)."""
        partition = partition_of(bucket, self._partitions)
        if partition not in self._files:
            return []
        _pf, ranges = self._open(partition)
        wanted = set(keys)
        hits = []
        for g, (lo, hi, _size) in enumerate(ranges):
            if lo <= bucket <= hi:
                group = self._group(partition, g)
                hits.extend((k, i) for k in wanted for i in group.get(k, ()))
        return sorted(hits)


# ------------------------------------------------------------------------------------------ merge

def merge_indexes(inputs: Sequence[str], output: str, stage: str, partitions: Optional[int] = None,
                  progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Merge indexes of one stage built with the same parameters into `output` (the union of their rows, and of
    their shingle-hash sets when every input has them); one output partition at a time, reading only the input
    row groups of its bucket range. `progress` (schemas/progress.py) counts the output partitions done
    (`partitions`: of the index, then of the sets when they are merged) and the rows they hold (`rows`)."""
    loaded = [load_description(d, stage) for d in inputs]
    first_dir, first = loaded[0]
    for stage_dir, desc in loaded[1:]:
        diff = params_differences(first["params"], desc["params"])
        if diff:
            raise ValueError(f"cannot merge {stage_dir} into {first_dir}: built with other parameters ({'; '.join(diff)})")
    partitions = check_partitions(partitions or max(int(d["partitions"]) for _, d in loaded))
    sets = [load_sets(d) for d, _ in loaded]
    if progress is not None:
        progress.total = partitions * (2 if all(sets) else 1)
    desc = _merge_tables(loaded, output, stage, first["params"], partitions, int(first["params"].get("bands", 1)),
                         INDEX_SCHEMA, None, progress)
    if all(sets):
        _merge_tables(sets, FileSystems.join(output, SETS_DIR), stage, first["params"], partitions, 1, SETS_SCHEMA,
                      SETS_HOLDS, progress)
    return desc


def _merge_tables(loaded, output: str, stage: str, params, partitions: int, keys_per_doc: int, schema,
                  holds: Optional[str], progress: Optional[Progress] = None) -> Dict[str, Any]:
    columns = schema.names
    files = []
    for p in range(partitions):
        lo, hi = -(-p * BUCKETS // partitions), -(-(p + 1) * BUCKETS // partitions) - 1  # buckets of partition p
        rows: List[Tuple[int, bytes, str]] = []
        for stage_dir, desc in loaded:
            for f in desc["files"]:
                b = f.get("buckets")
                if not f.get("rows") or b[1] < lo or b[0] > hi:
                    continue
                path = FileSystems.join(stage_dir, f["path"])
                with reading(path, FIX_DAMAGED_INDEX), FileSystems.open(path) as fh:
                    table = pq.read_table(fh, filters=[(BUCKET, ">=", lo), (BUCKET, "<=", hi)])
                check_part_schema(path, table.schema, schema)  # the part as read: no second open per range
                rows.extend(zip(*(table.column(c).to_pylist() for c in columns)))
        if rows:
            files.append(write_partition(output, p, partitions, rows, schema))
        add_to(progress, partitions=1, rows=len(rows))
    desc = describe(stage, params, partitions, files, keys_per_doc, sources=[d for d, _ in loaded], holds=holds)
    write_description(output, desc)
    return desc
