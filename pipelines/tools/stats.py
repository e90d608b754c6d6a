"""`winnow stats PATH`: what is in a documents directory or a token-shards directory.

Streaming: Parquet is read one row group at a time and only the columns a figure needs, so memory is bounded
by one row group plus fixed-size accumulators, whatever the size of the output:

- counts by source x language come from a vectorised `group_by` per row group, added into a dict whose size
  is the number of (source, language) pairs;
- length distributions are exact log2 histograms (`np.frexp` buckets) plus quantiles from a bottom-k sample
  of fixed size (each value gets a random priority from a seeded generator; the k lowest priorities are a
  uniform sample without replacement, kept in amortised O(1) per value);
- top domains and code languages use a bounded heavy-hitter counter (Misra-Gries style pruning at 10k keys:
  exact while there are fewer distinct keys, approximate and flagged beyond);
- token frequencies are one `np.bincount` per row group into a vocabulary-sized array.

Documents (Parquet and JSONL files alike, as every reader of documents takes them: `schemas.io`): totals and
characters by source and language, length histograms, the filter funnel from report.json (per stage in, kept,
dropped by reason, errors; the documents read and the rows of rejected/ and errors/, counted from Parquet
metadata, are checked against the report), dedup cluster sizes and the duplicates removed (within the run, from
the cluster sizes, and of earlier runs' indexes, `duplicate_of_previous`), top domains and code languages.
Trainer formats (`winnow export`, `winnow tokenize --format megatron|mds|llmc`): tokens and documents per file and
per source, recounted from the files, and the documents' lengths. Shards: totals and per-source tokens from the manifest, recomputed from the files (rows from metadata,
non-pad tokens from `doc_lengths`) and checked against the manifest, padding and truncation, segment lengths,
sequences' segment counts, the most frequent tokens decoded (only with the tokenizer the manifest names: a
`--tokenizer` that differs is refused, one found next to the shards that differs is not used). `--checksums`
adds sha256 of every shard (what `winnow verify` does, at disk speed). `--html` may not be written inside the
input it describes.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.runtime.progress import Progress
from pipelines.tools.inspect import shard_tokenizer
from pipelines.tools.report_html import render_report
from schemas import (CODE_LANGUAGE, DEDUP_CLUSTER_SIZE, DOC_IDS, DOC_LENGTHS, LANGUAGE, MANIFEST_NAME, SOURCE, TEXT, TOKENS,
                     URL, Report)
from schemas.errors import WinnowError, reading
from schemas.io import document_files, iter_documents, sha256_file, table_files
from schemas.shard_files import (
    ShardFile, ShardTally, flat_values, read_manifest, shard_problems, tally_packing_problems, totals_problems,
    unlisted_shards,
)
from schemas.shards import ShardError
from schemas.trainer_formats import (
    check_trainer_files, is_trainer_manifest, list_names as trainer_list_names, load_trainer_manifest,
    local_reader as trainer_local_reader,
)

STATS_FORMAT = "winnow.stats/1"
QUANTILES = (0.1, 0.5, 0.9, 0.99)
CLUSTER_BUCKETS = ((1, "1"), (2, "2"), (5, "3-5"), (10, "6-10"), (100, "11-100"), (None, ">100"))
HEAVY_HITTER_CAPACITY = 10_000
# pipelines.transforms.dedup.PREVIOUS_REASON (that module imports Beam, which `winnow stats` does not need)
PREVIOUS_REASON = "duplicate_of_previous"
# Exact per-document token lengths need one dict entry per document (doc_ids column): bounded by this cap.
MAX_DOC_IDS = 2_000_000
# scheme://[user@]host[:port]/... -> host; vectorised over a whole row group instead of urlsplit per row.
_HOST_PATTERN = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/?#]*@)?(?P<host>\[[^\]]*\]|[^/:?#]+)"


# ---------------------------------------------------------------------------------------------------------
# Bounded accumulators
# ---------------------------------------------------------------------------------------------------------

class Reservoir:
    """A uniform sample of at most `size` values (bottom-k of seeded random priorities), for quantiles."""

    def __init__(self, size: int = 100_000, seed: int = 0):
        self.size, self.seen = size, 0
        self.rng = np.random.default_rng(seed)
        self._values: List[np.ndarray] = []
        self._prios: List[np.ndarray] = []
        self._pending = 0
        self._threshold = np.inf

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.float64)
        if not values.size:
            return
        self.seen += values.size
        prios = self.rng.random(values.size)
        if np.isfinite(self._threshold):
            keep = prios < self._threshold
            values, prios = values[keep], prios[keep]
        self._values.append(values)
        self._prios.append(prios)
        self._pending += values.size
        if self._pending >= 2 * self.size:
            self._compact()

    def _compact(self) -> None:
        values = np.concatenate(self._values) if self._values else np.zeros(0)
        prios = np.concatenate(self._prios) if self._prios else np.zeros(0)
        if values.size > self.size:
            idx = np.argpartition(prios, self.size - 1)[: self.size]
            values, prios = values[idx], prios[idx]
            self._threshold = float(prios.max())
        self._values, self._prios, self._pending = [values], [prios], values.size

    def sample(self) -> np.ndarray:
        self._compact()
        return self._values[0]

    def quantiles(self) -> Dict[str, float]:
        arr = self.sample()
        if not arr.size:
            return {}
        out = {f"p{int(q * 100)}": float(np.quantile(arr, q)) for q in QUANTILES}
        return out


class LengthDistribution:
    """Exact count, sum, min, max and log2 histogram of non-negative integers, plus sampled quantiles."""

    BUCKETS = 64

    def __init__(self, seed: int = 0):
        self.counts = np.zeros(self.BUCKETS, dtype=np.int64)
        self.n, self.total, self.min, self.max = 0, 0, None, None
        self.reservoir = Reservoir(seed=seed)

    def extend(self, values) -> None:
        values = np.asarray(values)
        if not values.size:
            return
        # bucket b holds [2**(b-1), 2**b); 0 holds the value 0 (frexp(0) has exponent 0)
        self.counts += np.bincount(np.frexp(values.astype(np.float64))[1], minlength=self.BUCKETS)[: self.BUCKETS]
        self.n += int(values.size)
        self.total += int(values.sum(dtype=np.int64))
        lo, hi = int(values.min()), int(values.max())
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        self.reservoir.extend(values)

    def summary(self) -> Dict[str, Any]:
        if not self.n:
            return {}
        out: Dict[str, Any] = {"count": self.n, "min": float(self.min), "max": float(self.max),
                               "mean": self.total / self.n}
        out.update(self.reservoir.quantiles())
        return out

    def histogram(self) -> List[Dict[str, int]]:
        nz = np.nonzero(self.counts)[0]
        if not nz.size:
            return []
        bins = []
        for b in range(int(nz[0]), int(nz[-1]) + 1):
            lo, hi = (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)
            bins.append({"min": lo, "max": hi, "count": int(self.counts[b])})
        return bins


class HeavyHitters:
    """Counts of at most ~2x`capacity` keys: past that, keeps the top `capacity` (Misra-Gries style)."""

    def __init__(self, capacity: int = HEAVY_HITTER_CAPACITY):
        self.capacity, self.counts, self.exact = capacity, collections.Counter(), True

    def update(self, keys: Sequence[str], counts: Sequence[int]) -> None:
        for k, c in zip(keys, counts):
            self.counts[k] += int(c)
        if len(self.counts) > 2 * self.capacity:
            self.exact = False
            self.counts = collections.Counter(dict(self.counts.most_common(self.capacity)))

    def top(self, n: int) -> List[Dict[str, Any]]:
        return [{"name": k, "documents": v} for k, v in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _cluster_bucket_counts(sizes: np.ndarray) -> Dict[str, int]:
    out, lo = {}, 1
    for hi, label in CLUSTER_BUCKETS:
        mask = sizes >= lo if hi is None else (sizes >= lo) & (sizes <= hi)
        out[label] = int(mask.sum())
        lo = (hi or 0) + 1
    return out


def _value_counts(array) -> Tuple[List[Any], List[int]]:
    vc = pc.value_counts(array.drop_null() if hasattr(array, "drop_null") else array)
    return vc.field("values").to_pylist(), vc.field("counts").to_pylist()


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------

def parquet_rows(files: Sequence[str]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def iter_row_groups(files: Sequence[str], columns: Sequence[str]) -> Iterator[pa.Table]:
    """One row group at a time, only the `columns` that each file has."""
    for f in files:
        with reading(f):  # a damaged file fails naming itself, not with pyarrow's bare message
            pf = pq.ParquetFile(f)
            present = [c for c in columns if c in pf.schema_arrow.names]
            for i in range(pf.num_row_groups):
                yield pf.read_row_group(i, columns=present)


JSONL_BATCH_ROWS = 8192
_INT_COLUMNS = (DEDUP_CLUSTER_SIZE,)


def _jsonl_batch(rows: List[Dict[str, Any]], columns: Sequence[str]) -> pa.Table:
    """Rows of `iter_documents` as a table of the `columns` some row has (text always): strings, or int64."""
    arrays = {}
    for c in columns:
        values = [r.get(c) for r in rows]
        if c != TEXT and all(v is None for v in values):
            continue  # like a Parquet file without the column
        if c in _INT_COLUMNS:
            arrays[c] = pa.array(values, type=pa.int64())
        else:
            arrays[c] = pa.array([v if v is None or isinstance(v, str) else str(v) for v in values], type=pa.string())
    return pa.table(arrays)


def iter_document_batches(files: Sequence[str], columns: Sequence[str]) -> Iterator[pa.Table]:
    """`iter_row_groups` for a documents input: Parquet one row group at a time, JSONL (plain, .gz, .zst)
    `JSONL_BATCH_ROWS` lines at a time, read by `schemas.io.iter_documents` (a missing source is the file
    name, as every reader of documents has it)."""
    for f in files:
        if f.endswith(".parquet"):
            yield from iter_row_groups([f], columns)
            continue
        rows: List[Dict[str, Any]] = []
        try:
            with reading(f):
                for row in iter_documents(f, columns):
                    rows.append(row)
                    if len(rows) >= JSONL_BATCH_ROWS:
                        yield _jsonl_batch(rows, columns)
                        rows = []
            if rows:
                yield _jsonl_batch(rows, columns)
        except WinnowError:
            raise
        except (ValueError, TypeError, pa.ArrowException) as exc:  # bad JSON, or a value of the wrong type
            problem = " ".join(str(exc).split())
            problem = problem[len(f) + 1:].strip() if problem.startswith(f + ":") else problem  # named below
            raise WinnowError(f"cannot be read as JSONL documents ({problem})", path=f,
                              fix="give JSON objects with a string `text`, one per line") from exc


# ---------------------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------------------

def documents_stats(path: str, top: int = 10, progress: bool = True) -> Dict[str, Any]:
    files = document_files(path)  # Parquet and JSONL: what `winnow tokenize` and `tokenizer eval` read there
    if not files:
        raise FileNotFoundError(f"no documents files under {path} (expected {path}/documents/*.parquet)")
    parquet_files = [f for f in files if f.endswith(".parquet")]
    pairs: Dict[Tuple[str, str], List[int]] = collections.defaultdict(lambda: [0, 0])
    lengths = LengthDistribution()
    lengths_by_source: Dict[str, LengthDistribution] = {}
    domains, code_languages = HeavyHitters(), HeavyHitters()
    clusters: collections.Counter = collections.Counter()
    duplicates_removed = 0
    for f in parquet_files:  # documents not written by curate: say which file, not pyarrow's or numpy's bare message
        with reading(f):
            schema = pq.read_schema(f)
        if TEXT not in schema.names:
            raise WinnowError(f"no {TEXT!r} column (columns: {', '.join(schema.names[:12])})", path=f,
                              fix="give a documents directory (curate writes documents/*.parquet)")
        if not (pa.types.is_string(schema.field(TEXT).type) or pa.types.is_large_string(schema.field(TEXT).type)):
            raise WinnowError(f"column {TEXT!r} holds {schema.field(TEXT).type}, not strings", path=f,
                              fix="give a documents directory (curate writes documents/*.parquet)")
    # JSONL has no row count short of reading it: then the progress line has no total
    rows_total = parquet_rows(files) if len(parquet_files) == len(files) else None
    with Progress("stats", ("documents",), total=rows_total, unit="docs", tty=None if progress else False,
                  log_interval=60.0 if progress else float("inf")) as prog:
        for batch in iter_document_batches(files, [TEXT, SOURCE, LANGUAGE, URL, CODE_LANGUAGE, DEDUP_CLUSTER_SIZE]):
            n = batch.num_rows
            n_chars = pc.fill_null(pc.utf8_length(batch.column(TEXT)), 0)  # a null text: 0 characters
            language = (pc.fill_null(batch.column(LANGUAGE), "unknown") if LANGUAGE in batch.column_names
                        else pa.array(["unknown"] * n))
            source = (pc.fill_null(batch.column(SOURCE), "unknown") if SOURCE in batch.column_names
                      else pa.array(["unknown"] * n))
            keyed = pa.table({"s": source, "l": language, "c": n_chars})
            agg = keyed.group_by(["s", "l"]).aggregate([("c", "sum"), ("c", "count")]).to_pydict()
            for s, l, c, k in zip(agg["s"], agg["l"], agg["c_sum"], agg["c_count"]):
                pairs[(s, l)][0] += int(k)
                pairs[(s, l)][1] += int(c or 0)
            chars = n_chars.to_numpy(zero_copy_only=False)
            lengths.extend(chars)
            sources = source.to_numpy(zero_copy_only=False)
            for src in np.unique(sources):
                lengths_by_source.setdefault(str(src), LengthDistribution()).extend(chars[sources == src])
            if URL in batch.column_names:
                hosts = pc.utf8_lower(pc.struct_field(
                    pc.extract_regex(batch.column(URL), pattern=_HOST_PATTERN), "host"))
                domains.update(*_value_counts(hosts))
            if CODE_LANGUAGE in batch.column_names:
                code_languages.update(*_value_counts(batch.column(CODE_LANGUAGE)))
            if DEDUP_CLUSTER_SIZE in batch.column_names:
                sizes = pc.fill_null(batch.column(DEDUP_CLUSTER_SIZE), 1).to_numpy(zero_copy_only=False)
                sizes = np.maximum(sizes, 1)
                clusters.update(_cluster_bucket_counts(sizes))
                duplicates_removed += int((sizes - 1).sum())
            prog.add("documents", n)

    def totals(keyfn) -> Dict[str, Dict[str, int]]:
        out: Dict[str, Dict[str, int]] = collections.defaultdict(lambda: {"documents": 0, "characters": 0})
        for key, (docs, chars) in pairs.items():
            out[keyfn(key)]["documents"] += docs
            out[keyfn(key)]["characters"] += chars
        return dict(out)

    by_language = totals(lambda k: k[1])
    stats: Dict[str, Any] = {
        "format": STATS_FORMAT, "kind": "documents", "path": path, "files": len(files),
        "documents": lengths.n, "characters": lengths.total,
        "by_source": dict(sorted(totals(lambda k: k[0]).items())),
        "by_language": dict(sorted(by_language.items(), key=lambda kv: (-kv[1]["documents"], kv[0]))),
        "by_source_language": [{"source": s, "language": l, "documents": v[0], "characters": v[1]}
                               for (s, l), v in sorted(pairs.items(), key=lambda kv: (kv[0][0], -kv[1][0], kv[0][1]))],
        "length_chars": lengths.summary(),
        "length_histogram_chars": lengths.histogram(),
        "length_histogram_chars_by_source": {s: d.histogram() for s, d in sorted(lengths_by_source.items())},
        "dedup_cluster_sizes": {label: clusters[label] for _, label in CLUSTER_BUCKETS if clusters[label]},
        "dedup_duplicates_removed": duplicates_removed,
        "top_domains": domains.top(top), "top_domains_exact": domains.exact,
        "top_code_languages": code_languages.top(top),
    }
    stats.update(_funnel(path, lengths.n))
    # Duplicates of an earlier run's index (`against`) are rejected, not folded into a kept document's cluster
    # size: counted from report.json (complete when rejected/ is sampled), else from the rows of rejected/.
    if "funnel" in stats:
        previous = sum(s["dropped"].get(PREVIOUS_REASON, 0) for s in stats["funnel"])
    else:
        rejected = table_files(path, "rejected") if os.path.isdir(path) else []
        previous = sum(g["rows"] for g in _rejected_by_stage_reason(rejected) if g["reason"] == PREVIOUS_REASON)
    stats["dedup_duplicates_removed"] += previous
    return stats


def _funnel(path: str, documents: int) -> Dict[str, Any]:
    """The funnel of report.json, with the documents read (`documents`) and the rejected/errors row counts
    (Parquet metadata) checked against it."""
    report_path = os.path.join(path, "report.json") if os.path.isdir(path) else None
    if not report_path or not os.path.exists(report_path):
        return {}
    report = Report.load(report_path)
    out: Dict[str, Any] = {
        "funnel": [dict(s.to_json(), dropped_total=s.dropped_total, balanced=s.balanced) for s in report.stages],
        "funnel_balanced": all(s.balanced for s in report.stages),
        "report_outputs": dict(report.outputs),
    }
    # A recipe may keep only a sample of rejected rows per reason (counts stay complete in the report).
    sampled = report.recipe.get("rejected_sample_per_reason") is not None
    out["rejected_sampled"] = sampled
    checks = []
    expected = report.outputs.get("documents")
    if expected is not None and documents != expected:  # a part file added, lost or replaced since the run
        checks.append(f"documents/: {documents} documents, report.json outputs say {expected}")
    for table in ("rejected", "errors"):
        files = table_files(path, table)
        if not files:
            continue
        rows = parquet_rows(files)
        out[f"{table}_rows"] = rows
        expected = report.outputs.get(table)
        if expected is not None and (rows > expected if sampled and table == "rejected" else rows != expected):
            checks.append(f"{table}/: {rows} rows, report.json outputs say {expected}")
        if table == "rejected":
            out["rejected_by_stage_reason"] = groups = _rejected_by_stage_reason(files)
            dropped = {(s.name, r): c for s in report.stages for r, c in s.dropped.items()}
            for g in groups:
                want = dropped.get((g["stage"], g["reason"]), 0)
                if g["rows"] > want or (not sampled and g["rows"] != want):
                    checks.append(f"rejected/ has {g['rows']} rows of {g['stage']}/{g['reason']}, report.json says {want}")
    out["report_checks"] = checks or ["ok"]
    return out


def _rejected_by_stage_reason(files: Sequence[str]) -> List[Dict[str, Any]]:
    counts: collections.Counter = collections.Counter()
    for batch in iter_row_groups(files, ["stage", "reason"]):
        agg = batch.group_by(["stage", "reason"]).aggregate([("stage", "count")]).to_pydict()
        for s, r, c in zip(agg["stage"], agg["reason"], agg["stage_count"]):
            counts[(s, r)] += c
    return [{"stage": s, "reason": r, "rows": c} for (s, r), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


# ---------------------------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------------------------

def _reading_batches(path: str, shard_file: ShardFile, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    """The shard's batches; a damaged one fails naming the file."""
    with reading(path):
        yield from shard_file.iter_batches(columns)


def shards_stats(path: str, tokenizer: Optional[str] = None, top: int = 20, checksums: bool = False,
                 progress: bool = True) -> Dict[str, Any]:
    manifest = read_manifest(path)
    # before the scan: a --tokenizer the shards were not made with is refused at once
    tok_path = shard_tokenizer(path, tokenizer, manifest, "stats", "top tokens are shown as ids")
    row_len = manifest.seq_len + 1
    checks: List[str] = []
    counts = np.zeros(1 << 16 if manifest.dtype == "uint16" else max(manifest.tokenizer.vocab_size, 1), np.int64)
    segments = LengthDistribution()
    per_row = np.zeros(row_len + 1, dtype=np.int64)  # sequences by number of segments
    full_row_segments = 0
    files_bytes = 0
    # doc_ids give whole-document lengths (and the exact truncated_fraction check), up to MAX_DOC_IDS documents
    tally = ShardTally(row_len, manifest.with_doc_ids, max_ids=MAX_DOC_IDS)
    scratch = np.empty(0, np.intp)
    present = [s for s in manifest.shards if os.path.exists(os.path.join(path, s.path))]
    for shard in manifest.shards:
        if shard not in present:
            checks.append(f"missing shard {shard.path}")
    ext = ".arrow" if manifest.file_format == "arrow" else ".parquet"
    for name in unlisted_shards(manifest, [os.path.basename(f) for f in glob.glob(os.path.join(path, "*" + ext))]):
        checks.append(f"{name} is in the directory but not in the manifest")
    total_rows = sum(s.sequences for s in present)
    with Progress("stats", ("sequences",), total=total_rows, unit="seqs", tty=None if progress else False,
                  log_interval=60.0 if progress else float("inf")) as prog:
        for shard in present:
            f = os.path.join(path, shard.path)
            size = os.path.getsize(f)
            files_bytes += size
            if size != shard.bytes:
                checks.append(f"{shard.path}: {size} bytes on disk, manifest says {shard.bytes}")
            if checksums and sha256_file(f, 1 << 23) != shard.sha256:
                checks.append(f"{shard.path}: sha256 differs from the manifest")
            with reading(f):  # a damaged file fails naming itself, not with pyarrow's bare message
                shard_file = ShardFile(f, manifest.file_format)
            checks += shard_problems(manifest, shard, shard_file.num_rows, shard_file.schema)
            tally.sequences += shard_file.num_rows
            tally.tokens += shard_file.num_rows * row_len
            for rg in _reading_batches(f, shard_file, [TOKENS, DOC_LENGTHS, DOC_IDS]):
                if not rg.num_rows:
                    continue
                ids = flat_values(rg.column(TOKENS))
                if ids.size:
                    hi = int(ids.max())
                    if hi >= counts.size:
                        counts = np.concatenate([counts, np.zeros(hi + 1 - counts.size, np.int64)])
                    if scratch.size < ids.size:
                        scratch = np.empty(ids.size, np.intp)
                    # bincount casts to intp anyway; into a reused buffer it skips a fresh allocation per group
                    np.copyto(scratch[: ids.size], ids, casting="safe")
                    counts += np.bincount(scratch[: ids.size], minlength=counts.size)
                lengths = rg.column(DOC_LENGTHS)
                seg = flat_values(lengths)
                segments.extend(seg)
                tally.add_segments(seg)
                tally.non_pad += int(seg.sum(dtype=np.int64))
                full_row_segments += int((seg == row_len).sum())
                n_segs = np.diff(np.frombuffer(lengths.buffers()[1], np.int32, len(lengths) + 1, lengths.offset * 4))
                per_row += np.bincount(np.minimum(n_segs, row_len), minlength=row_len + 1)
                if DOC_IDS in rg.schema.names:
                    tally.add_ids(rg.column(DOC_IDS).flatten(), seg)
                prog.add("sequences", rg.num_rows)
    sequences, files_tokens, non_pad = tally.sequences, tally.tokens, tally.non_pad
    t = manifest.totals
    if not checks:  # the totals only mean something once every shard matches its entry
        checks += totals_problems(manifest, tally) or tally_packing_problems(manifest, tally)
    pad_id = manifest.tokenizer.special_ids.get("<|pad|>")
    pad_count = int(counts[pad_id]) if pad_id is not None and pad_id < counts.size else 0
    if pad_id is not None and pad_id < counts.size:
        counts[pad_id] = 0
    order = np.argsort(-counts, kind="stable")[:top]
    top_ids = [int(i) for i in order if counts[i] > 0]
    decoded: Dict[int, str] = {}
    if tok_path:
        from tokenizer.encode import read_tokenizer_file

        tok = read_tokenizer_file(tok_path)
        decoded = {i: tok.decode([i], skip_special_tokens=False) for i in top_ids}
    nz = np.nonzero(per_row)[0]
    doc_lengths = LengthDistribution()
    document_tokens = tally.document_tokens()
    if document_tokens is not None and len(document_tokens):
        doc_lengths.extend(document_tokens)
    stats = {
        "format": STATS_FORMAT, "kind": "shards", "path": path, "manifest_format": manifest.format,
        "file_format": manifest.file_format, "seq_len": manifest.seq_len, "dtype": manifest.dtype,
        "tokenizer_sha256": manifest.tokenizer.sha256, "vocab_size": manifest.tokenizer.vocab_size,
        "tokenizer_file": tok_path, "totals": vars(manifest.totals),
        "files": {"shards": len(present), "bytes": files_bytes, "sequences": sequences, "tokens": files_tokens,
                  "non_pad_tokens": non_pad, "pad_tokens": files_tokens - non_pad, "pad_id_tokens": pad_count,
                  "segments": segments.n},
        "by_source": {k: dict(vars(v), token_share=(v.tokens / t.non_pad_tokens if t.non_pad_tokens else 0.0))
                      for k, v in sorted(manifest.sources.items())},
        "packing": dict(vars(manifest.packing),
                        pad_fraction_measured=(1 - non_pad / files_tokens) if files_tokens else 0.0),
        "shards": len(manifest.shards),
        "segment_length_tokens": segments.summary(),
        "segment_length_histogram_tokens": segments.histogram(),
        "full_row_segments": full_row_segments,
        # Documents longer than a row are cut into several segments; their whole length needs doc_ids.
        "mean_document_tokens_by_source": {k: (v.tokens / v.documents if v.documents else 0.0)
                                           for k, v in sorted(manifest.sources.items())},
        "document_length_tokens": doc_lengths.summary(),
        "document_length_histogram_tokens": doc_lengths.histogram(),
        "segments_per_sequence": ({str(int(k)): int(per_row[k]) for k in range(int(nz[0]), int(nz[-1]) + 1)}
                                  if nz.size else {}),
        "top_tokens": [{"id": i, "count": int(counts[i]), "text": decoded.get(i)} for i in top_ids],
        "checksums_checked": checksums,
        "manifest_checks": checks or ["ok"],
    }
    return stats


def trainer_stats(path: str, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """A trainer-format directory (`winnow export`, `winnow tokenize --format megatron|mds|llmc`): tokens and
    documents from the manifest, recounted from the files (which are read whole, with their sha256 checked:
    `schemas.trainer_formats.check_trainer_files`), per source and per file, and the documents' lengths."""
    checks = ["ok"]
    found: Dict[str, int] = {}
    lengths = LengthDistribution()
    try:
        found = check_trainer_files(manifest, trainer_local_reader(path), trainer_list_names(path),
                                    on_lengths=lengths.extend)
    except ShardError as exc:
        checks = [str(exc)]
    t = manifest["totals"]
    return {
        "format": STATS_FORMAT, "kind": "trainer", "path": path, "manifest_format": manifest["format"],
        "file_format": manifest["file_format"], "dtype": manifest["dtype"], "seq_len": manifest.get("seq_len"),
        "tokenizer_sha256": manifest["tokenizer"]["sha256"], "vocab_size": manifest["tokenizer"]["vocab_size"],
        "documents_are": manifest.get("documents_are"), "totals": t, "files_totals": found,
        "files": [{k: f.get(k) for k in ("path", "bytes", "tokens", "documents", "samples") if k in f}
                  for f in manifest["files"]],
        "bytes": sum(int(f["bytes"]) for f in manifest["files"]),
        "by_source": {k: dict(v, token_share=(v.get("tokens", 0) / t["tokens"] if t.get("tokens") else 0.0))
                      for k, v in sorted(manifest.get("sources", {}).items())},
        "document_length_tokens": lengths.summary(),
        "document_length_histogram_tokens": lengths.histogram(),
        "checksums_checked": True,
        "manifest_checks": checks,
    }


def compute_stats(path: str, tokenizer: Optional[str] = None, checksums: bool = False,
                  progress: bool = True) -> Dict[str, Any]:
    manifest_path = os.path.join(path, MANIFEST_NAME)
    if os.path.exists(manifest_path):
        with open(manifest_path, "rb") as f:
            raw = f.read()
        try:
            is_trainer = is_trainer_manifest(json.loads(raw))
        except ValueError:
            is_trainer = False
        if is_trainer:
            return trainer_stats(path, load_trainer_manifest(raw, manifest_path))
        return shards_stats(path, tokenizer, checksums=checksums, progress=progress)
    return documents_stats(path, progress=progress)


# ---------------------------------------------------------------------------------------------------------
# Terminal
# ---------------------------------------------------------------------------------------------------------

def _cell(c: Any) -> str:
    if isinstance(c, bool):
        return str(c)
    if isinstance(c, int):
        return f"{c:,}"
    if isinstance(c, float):
        return f"{c:.2%}" if 0 <= c <= 1 else f"{c:,.1f}"
    return str(c)


def table(rows: List[List[Any]], headers: List[str]) -> str:
    """Columns padded to width: the first and any with an empty header (bars) left-aligned, numbers right."""
    cells = [headers] + [[_cell(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    left = [i == 0 or not h for i, h in enumerate(headers)]
    lines = ["  ".join(c.ljust(w) if left[i] else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)



def _quantiles(q) -> str:
    """`min=…, p10=…, …, mean=…` of a quantile summary, for the terminal tables."""
    return ", ".join(f"{k}={q[k]:,.0f}" for k in ("min", "p10", "p50", "p90", "p99", "max", "mean") if k in q)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _hist_rows(hist: List[Dict[str, int]]) -> List[List[Any]]:
    total = sum(b["count"] for b in hist) or 1
    width = 30
    return [[f"{b['min']:,}-{b['max']:,}", b["count"], "#" * max(1 if b["count"] else 0, round(width * b["count"] / total))]
            for b in hist]


def format_stats(stats: Dict[str, Any]) -> str:
    out = [f"{stats['kind']}: {stats['path']}"]
    if stats["kind"] == "documents":
        docs, chars = stats["documents"], stats["characters"]
        out.append(f"{docs:,} documents, {chars:,} characters in {stats['files']} files")
        out.append("\nby source\n" + table([[k, v["documents"], _share(v["documents"], docs), v["characters"],
                                             _share(v["characters"], chars)] for k, v in stats["by_source"].items()],
                                           ["source", "documents", "share", "characters", "share"]))
        out.append("\nby language (top 15)\n" + table(
            [[k, v["documents"], _share(v["documents"], docs), v["characters"]]
             for k, v in list(stats["by_language"].items())[:15]], ["language", "documents", "share", "characters"]))
        if len(stats["by_source_language"]) > 1:
            out.append("\nby source and language (top 20)\n" + table(
                [[r["source"], r["language"], r["documents"], r["characters"]] for r in stats["by_source_language"][:20]],
                ["source", "language", "documents", "characters"]))
        q = stats["length_chars"]
        if q:
            out.append("\nlength in characters: " + _quantiles(q))
            out.append(table(_hist_rows(stats["length_histogram_chars"]), ["characters", "documents", ""]))
        if stats.get("funnel"):
            out.append("\nfilter funnel (report.json)" + ("" if stats["funnel_balanced"] else "  NOT BALANCED") + "\n" + table(
                [[s["name"], s["in"], s["kept"], s["dropped_total"], s["errors"],
                  ", ".join(f"{k}={v}" for k, v in sorted(s["dropped"].items(), key=lambda kv: -kv[1])[:3])]
                 for s in stats["funnel"]], ["stage", "in", "kept", "dropped", "errors", "top reasons"]))
            out.append("report checks: " + "; ".join(stats["report_checks"]))
        if stats["dedup_cluster_sizes"]:
            out.append("\ndedup cluster sizes (kept documents)\n" + table(
                [[k, v] for k, v in stats["dedup_cluster_sizes"].items()], ["cluster size", "documents"]))
        previous = sum(s["dropped"].get(PREVIOUS_REASON, 0) for s in stats.get("funnel", ()))
        if stats["dedup_cluster_sizes"] or stats["dedup_duplicates_removed"]:
            out.append(f"duplicates removed: {stats['dedup_duplicates_removed']:,}" +
                       (f" ({previous:,} of them duplicates of an earlier run's index)" if previous else ""))
        if stats["top_domains"]:
            out.append("\ntop domains" + ("" if stats["top_domains_exact"] else " (approximate)") + "\n" +
                       table([[d["name"], d["documents"]] for d in stats["top_domains"]], ["domain", "documents"]))
        if stats["top_code_languages"]:
            out.append("\ntop code languages\n" + table([[d["name"], d["documents"]] for d in stats["top_code_languages"]],
                                                         ["code language", "documents"]))
    elif stats["kind"] == "trainer":
        t = stats["totals"]
        out.append(f"{stats['file_format']}: {t.get('tokens', 0):,} {stats['dtype']} tokens, {t.get('documents', 0):,} "
                   f"documents" + (f", {t['samples']:,} samples of {stats['seq_len']}+1" if "samples" in t else "")
                   + f" in {len(stats['files'])} files ({stats['bytes']:,} bytes)")
        out.append(f"documents are: {stats['documents_are']}")
        if stats["by_source"]:
            out.append("\nby source (of the shards exported or written)\n" + table(
                [[k, v.get("documents", 0), v.get("tokens", 0)] for k, v in stats["by_source"].items()],
                ["source", "documents", "tokens"]))
        out.append("\nfiles\n" + table([[f["path"], f["bytes"], f.get("tokens", ""), f.get("documents", ""),
                                           f.get("samples", "")] for f in stats["files"]],
                                         ["file", "bytes", "tokens", "documents", "samples"]))
        q = stats["document_length_tokens"]
        if q:
            out.append("\ndocument length in tokens (from the files): " + _quantiles(q))
            out.append(table(_hist_rows(stats["document_length_histogram_tokens"]), ["tokens", "documents", ""]))
        out.append("\nmanifest checks (with sha256): " + "; ".join(stats["manifest_checks"]))
    else:
        t, fs = stats["totals"], stats["files"]
        out.append(f"{t['sequences']:,} sequences of {stats['seq_len']}+1 {stats['dtype']} tokens in {stats['shards']} "
                   f"{stats['file_format']} shards ({fs['bytes']:,} bytes); {t['documents']:,} documents, "
                   f"{t['non_pad_tokens']:,} non-pad of {t['tokens']:,} tokens")
        p = stats["packing"]
        out.append(f"packing {p['method']}: pad {p['pad_fraction']:.2%} (measured in files {p['pad_fraction_measured']:.2%}), "
                   f"truncated {p['truncated_fraction']:.2%}; {stats['full_row_segments']:,} segments fill a whole row")
        out.append("\nby source\n" + table([[k, v["documents"], v["tokens"], v["token_share"]]
                                            for k, v in stats["by_source"].items()],
                                           ["source", "documents", "tokens", "share"]))
        q = stats["segment_length_tokens"]
        if q:
            out.append("\ndocument segment length in tokens: " + _quantiles(q))
            out.append(table(_hist_rows(stats["segment_length_histogram_tokens"]), ["tokens", "segments", ""]))
        if stats["document_length_tokens"]:
            q = stats["document_length_tokens"]
            out.append("\ndocument length in tokens (from doc_ids): " + _quantiles(q))
            out.append(table(_hist_rows(stats["document_length_histogram_tokens"]), ["tokens", "documents", ""]))
        else:
            out.append("\nmean document length in tokens (manifest; per-document lengths need --doc-ids shards): " +
                       ", ".join(f"{k} {v:,.0f}" for k, v in stats["mean_document_tokens_by_source"].items()))
        out.append("\nsegments per sequence: " + ", ".join(f"{k}: {v:,}" for k, v in stats["segments_per_sequence"].items()))
        out.append("\ntop tokens\n" + table([[repr(x["text"]) if x["text"] is not None else "?", x["id"], x["count"]]
                                              for x in stats["top_tokens"]], ["token", "id", "count"]))
        out.append("\nmanifest checks" + (" (with sha256)" if stats["checksums_checked"] else "") + ": "
                   + "; ".join(stats["manifest_checks"]))
    return "\n".join(out)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a documents directory (from curate) or a shards directory (with manifest.json)")
    parser.add_argument("--json", action="store_true", help="print JSON (stable keys, see the README) instead of tables")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots to FILE")
    parser.add_argument("--tokenizer", help="tokenizer.json or its directory, to decode top tokens of shards")
    parser.add_argument("--checksums", action="store_true", help="shards: also check every shard's sha256")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")


def html_inside_input(html_path: str, path: str) -> bool:
    """Whether writing `html_path` would replace what `path` is (a directory, a file or a glob of files)."""
    target = os.path.realpath(html_path)
    if os.path.isdir(path):
        root = os.path.realpath(path)
        return target == root or target.startswith(root.rstrip(os.sep) + os.sep)
    if os.path.exists(path):
        return target == os.path.realpath(path)
    return any(target == os.path.realpath(f) for f in glob.glob(path))


def main(args: argparse.Namespace) -> int:
    if args.html and html_inside_input(args.html, args.path):  # it replaced manifest.json with the report
        raise WinnowError(f"--html {args.html} is inside {args.path}, the input being analysed",
                          fix="write the report outside it")
    given = [o for o, v in (("--tokenizer", args.tokenizer), ("--checksums", getattr(args, "checksums", False))) if v]
    if given and not os.path.exists(os.path.join(args.path, MANIFEST_NAME)):  # else silently ignored
        raise WinnowError(f"{', '.join(given)} apply to shards, and {args.path} is not a shards directory (no "
                          f"{MANIFEST_NAME})", fix="drop them, or give a shards directory")
    stats = compute_stats(args.path, args.tokenizer, checksums=getattr(args, "checksums", False),
                          progress=not getattr(args, "no_progress", False))
    if args.json:
        json.dump(stats, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(format_stats(stats))
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            if stats["kind"] == "trainer":  # no plots for a trainer's file set: its tables, escaped
                import html

                f.write(f"<!doctype html><meta charset='utf-8'><title>Winnow stats: {html.escape(stats['path'])}"
                        f"</title><pre>{html.escape(format_stats(stats))}</pre>\n")
            else:
                f.write(render_report(stats, format_stats(stats)))
        print(f"HTML report: {args.html}", file=sys.stderr)
    problems = [c for c in stats.get("manifest_checks", ["ok"]) if c != "ok"]
    if problems:  # the figures above are printed, but the shards are not what their manifest says
        print(f"winnow stats: manifest checks failed ({len(problems)}): {problems[0]}"
              f"{' ...' if len(problems) > 1 else ''}; `winnow verify {args.path}` checks every shard", file=sys.stderr)
        return 1
    return 0
