"""`winnow stats PATH`: what is in a documents directory or a token-shards directory.

Streaming: Parquet is read one row group at a time and only the columns a figure needs, so memory is bounded
by one row group plus fixed-size accumulators, whatever the size of the output:

- counts by source x language come from a vectorised `group_by` per row group, added into a dict whose size
  is the number of (source, language) pairs;
- length distributions are exact log2 histograms (`np.frexp` buckets) plus quantiles from a bottom-k sample
  of fixed size (each value gets a random priority from a seeded generator; the k lowest priorities are a
  uniform sample without replacement, kept in amortised O(1) per value);
- per-source length histograms come from one `group_by([source, bucket])` per row group into 64 counts a
  source, for the first `MAX_SOURCE_HISTOGRAMS` sources (a corpus whose source is a per-document path would
  otherwise grow without bound; `length_histogram_chars_by_source_capped` says when the cap was hit);
- top domains and code languages use a bounded heavy-hitter counter (Misra-Gries style pruning at 10k keys:
  exact while there are fewer distinct keys, approximate and flagged beyond);
- token frequencies are one `np.bincount` per row group into an array of vocab_size counts (the manifest's,
  bounded; never sized from the ids read: an id at or above vocab_size is a manifest check, not a 32 GB array).

Documents (Parquet and JSONL files alike, as every reader of documents takes them: `schemas.io`): totals and
characters by source and language, length histograms, the filter funnel from report.json (per stage in, kept,
dropped by reason, errors; the documents read and the rows of rejected/ and errors/, counted from Parquet
metadata, are checked against the report), dedup cluster sizes and the duplicates removed (within the run, from
the cluster sizes, and of earlier runs' indexes, `duplicate_of_previous`), top domains and code languages.
Trainer formats (`winnow export`, `winnow tokenize --format megatron|mds|llmc`): tokens and documents per file and
per source, recounted from the files, and the documents' lengths. Shards: totals and per-source tokens from the manifest, recomputed from the files (rows from metadata,
non-pad tokens from `doc_lengths`) and checked against the manifest, with `winnow verify`'s row checks (ids
below vocab_size, doc_lengths positive and within the row, padding after them, one doc_id per segment; a shard
whose schema is not the manifest's is reported and not read), padding and truncation, segment lengths,
sequences' segment counts, the most frequent tokens decoded (only with the tokenizer the manifest names: a
`--tokenizer` that differs is refused, one found next to the shards that differs is not used). `--checksums`
adds sha256 of every shard (what `winnow verify` does, at disk speed). `--html` may not be written inside the
input it describes.

A missing or empty `source` is the file's name (`schemas.io.iter_documents`: `part-0` for `part-0.parquet`),
for Parquet and JSONL alike. Terminal tables print data values through `inspect.printable` (a source or domain
is untrusted input); `--json` and the page's JSON are strict JSON (a NaN read from a damaged manifest or
report.json is null). Paths are local: a `scheme://` path is refused in one line.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import math
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.runtime.progress import Progress
from pipelines.tools.inspect import (UNKNOWN_LANGUAGE, printable, refuse_remote, shard_schema_problem,
                                     shard_tokenizer)
from pipelines.tools.report_html import SHOWN_SOURCES, dumps_stats, render_report, top_with_rest
from schemas import (CODE_LANGUAGE, DEDUP_CLUSTER_SIZE, DOC_IDS, DOC_LENGTHS, LANGUAGE, MANIFEST_NAME, SOURCE, TEXT, TOKENS,
                     URL, Report)
from schemas.errors import WinnowError, reading
from schemas.io import document_files, fallback_source_of, iter_documents, sha256_file, table_files, valid_utf8
from schemas.shard_files import (
    RowLengths, ShardFile, ShardTally, doc_ids_problem, flat_values, read_manifest, row_layout_problems,
    shard_problems,
    tally_packing_problems,
    totals_problems, unlisted_shards,
)
from schemas.shards import EOT, PAD, ShardError, check_token_ids
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
# Per-source length histograms: 64 counts (~0.6 KB with the key) for each of at most this many sources.
MAX_SOURCE_HISTOGRAMS = 10_000
# Token counts are dense (8 bytes an id) up to this vocab_size; a manifest may claim up to 2**32 (uint32).
DENSE_VOCAB = 1 << 22
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
        return log2_histogram(self.counts)


def log2_bucket(values: np.ndarray) -> np.ndarray:
    """The log2 histogram bucket of each value: b holds [2**(b-1), 2**b), 0 holds the value 0."""
    return np.frexp(np.asarray(values).astype(np.float64))[1]


def log2_histogram(counts: np.ndarray) -> List[Dict[str, int]]:
    """The buckets from the first to the last non-empty one, as {min, max, count}."""
    nz = np.nonzero(counts)[0]
    if not nz.size:
        return []
    bins = []
    for b in range(int(nz[0]), int(nz[-1]) + 1):
        lo, hi = (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)
        bins.append({"min": lo, "max": hi, "count": int(counts[b])})
    return bins


class TokenCounts:
    """Occurrences of every token id below `vocab_size` (the manifest's): dense up to DENSE_VOCAB ids, else
    sorted (id, count) arrays merged per row group. Ids at or above vocab_size are not counted (verify refuses
    such a shard, and stats reports it): growing the array to the largest id read took 7 GB for one id of
    300M, and a 2**32-1 id asked for 32 GiB."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.dense = np.zeros(vocab_size, np.int64) if vocab_size <= DENSE_VOCAB else None
        self._ids, self._counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        self._scratch = np.empty(0, np.intp)

    def add(self, ids: np.ndarray) -> int:
        """Counts `ids` (those below vocab_size); returns the largest id (>= vocab_size when one is out of range)."""
        if not ids.size:
            return -1
        hi = int(ids.max())
        if hi >= self.vocab_size:
            ids = ids[ids < self.vocab_size]
        if self.dense is not None:
            if self._scratch.size < ids.size:
                self._scratch = np.empty(ids.size, np.intp)
            # bincount casts to intp anyway; into a reused buffer it skips a fresh allocation per group
            np.copyto(self._scratch[: ids.size], ids, casting="safe")
            self.dense += np.bincount(self._scratch[: ids.size], minlength=self.vocab_size)
        elif ids.size:
            new_ids, new_counts = np.unique(ids, return_counts=True)
            keys, inverse = np.unique(np.concatenate([self._ids, new_ids.astype(np.int64)]), return_inverse=True)
            self._counts = np.bincount(inverse, weights=np.concatenate([self._counts, new_counts]),
                                       minlength=len(keys)).astype(np.int64)
            self._ids = keys
        return hi

    def pop(self, token_id: Optional[int]) -> int:
        """The count of `token_id` (0 for None or an id not counted), removed from the top tokens."""
        if token_id is None or not 0 <= token_id < self.vocab_size:
            return 0
        if self.dense is not None:
            count, self.dense[token_id] = int(self.dense[token_id]), 0
            return count
        at = np.searchsorted(self._ids, token_id)
        if at < len(self._ids) and self._ids[at] == token_id:
            count, self._counts[at] = int(self._counts[at]), 0
            return count
        return 0

    def top(self, n: int) -> List[Tuple[int, int]]:
        """The `n` most frequent (id, count), ties by id."""
        ids, counts = (np.arange(self.vocab_size), self.dense) if self.dense is not None else (self._ids, self._counts)
        order = np.argsort(-counts, kind="stable")[:n]
        return [(int(ids[i]), int(counts[i])) for i in order if counts[i] > 0]


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
    total = 0
    for f in files:
        with reading(f):  # a damaged rejected/ or errors/ part names itself
            total += pq.ParquetFile(f).metadata.num_rows
    return total


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
# The string columns whose values become Python strings (group keys, domains): checked as UTF-8 per row group.
_KEY_COLUMNS = (SOURCE, LANGUAGE, URL, CODE_LANGUAGE)


def _document_strings(batch: pa.Table, path: str) -> pa.Table:
    """A Parquet row group's key columns as valid strings, and its source completed as every reader of
    documents completes it (`schemas.io.complete_document`: a null or empty source is the file's name, an
    integer is written in decimal)."""
    for name in _KEY_COLUMNS:
        if name not in batch.column_names:
            continue
        column = batch.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            try:
                column = pc.cast(column, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise WinnowError(f"column {name!r} holds {column.type}, not strings", path=path,
                                  fix="give a documents directory (curate writes documents/*.parquet)") from exc
        with reading(path):  # bytes that are not UTF-8 would fail where they become Python strings, unnamed
            column.validate(full=True)
        batch = batch.set_column(batch.column_names.index(name), name, column)
    fallback = fallback_source_of(path)
    if SOURCE in batch.column_names:
        column = batch.column(SOURCE)
        source = pc.fill_null(pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column), fallback)
        return batch.set_column(batch.column_names.index(SOURCE), SOURCE, source)
    return batch.append_column(SOURCE, pc.fill_null(pa.nulls(batch.num_rows, pa.string()), fallback))


def _jsonl_batch(rows: List[Dict[str, Any]], columns: Sequence[str]) -> pa.Table:
    """Rows of `iter_documents` as a table of the `columns` some row has (text always): strings, or int64."""
    arrays = {}
    for c in columns:
        values = [r.get(c) for r in rows]
        if c != TEXT and all(v is None for v in values):
            continue  # like a Parquet file without the column
        if c in _INT_COLUMNS:
            arrays[c] = pa.array(values, type=pa.int64())
        else:  # a lone surrogate (the JSON escape \ud800) in a source or url is replaced, as in the text
            arrays[c] = pa.array([v if v is None else valid_utf8(v if isinstance(v, str) else str(v)) for v in values],
                                 type=pa.string())
    return pa.table(arrays)


def iter_document_batches(files: Sequence[str], columns: Sequence[str]) -> Iterator[pa.Table]:
    """`iter_row_groups` for a documents input: Parquet one row group at a time, JSONL (plain, .gz, .zst)
    `JSONL_BATCH_ROWS` lines at a time, read by `schemas.io.iter_documents` (a missing source is the file
    name, as every reader of documents has it: `_document_strings` does the same for Parquet). Every batch
    has a `source` column."""
    for f in files:
        if f.endswith(".parquet"):
            for batch in iter_row_groups([f], columns):
                yield _document_strings(batch, f)
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
    hist_by_source: Dict[str, np.ndarray] = {}  # log2 histogram counts, for the first MAX_SOURCE_HISTOGRAMS sources
    sources_capped = False
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
            language = (pc.fill_null(batch.column(LANGUAGE), UNKNOWN_LANGUAGE) if LANGUAGE in batch.column_names
                        else pa.array([UNKNOWN_LANGUAGE] * n))
            source = batch.column(SOURCE)  # completed by iter_document_batches
            keyed = pa.table({"s": source, "l": language, "c": n_chars})
            agg = keyed.group_by(["s", "l"]).aggregate([("c", "sum"), ("c", "count")]).to_pydict()
            for s, l, c, k in zip(agg["s"], agg["l"], agg["c_sum"], agg["c_count"]):
                pairs[(s, l)][0] += int(k)
                pairs[(s, l)][1] += int(c or 0)
            chars = n_chars.to_numpy(zero_copy_only=False)
            lengths.extend(chars)
            # one group_by per row group; a mask per source per row group was O(rows x sources)
            buckets = pa.table({"s": source, "b": log2_bucket(chars)}).group_by(["s", "b"]).aggregate(
                [("b", "count")]).to_pydict()
            for s, b, c in zip(buckets["s"], buckets["b"], buckets["b_count"]):
                hist = hist_by_source.get(s)
                if hist is None:
                    if len(hist_by_source) >= MAX_SOURCE_HISTOGRAMS:
                        sources_capped = True
                        continue
                    hist = hist_by_source[s] = np.zeros(LengthDistribution.BUCKETS, np.int64)
                if b < LengthDistribution.BUCKETS:
                    hist[b] += c
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
        "length_histogram_chars_by_source": {s: log2_histogram(h) for s, h in sorted(hist_by_source.items())},
        "dedup_cluster_sizes": {label: clusters[label] for _, label in CLUSTER_BUCKETS if clusters[label]},
        "dedup_duplicates_removed": duplicates_removed,
        "top_domains": domains.top(top), "top_domains_exact": domains.exact,
        "top_code_languages": code_languages.top(top),
    }
    if sources_capped:  # only then, so the keys of a usual output stay as documented
        stats["length_histogram_chars_by_source_capped"] = MAX_SOURCE_HISTOGRAMS
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
    try:
        report = Report.load(report_path)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # json's or the schema's bare message
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise WinnowError(f"not a valid curate report ({problem})", path=report_path,
                          fix="restore it from the run, or move it away to see the figures without the funnel") from exc
    out: Dict[str, Any] = {
        "funnel": [dict(s.to_json(), dropped_total=s.dropped_total, balanced=s.balanced) for s in report.stages],
        "funnel_balanced": all(s.balanced for s in report.stages),
        "report_outputs": dict(report.outputs),
    }
    # A recipe may keep only a sample of rejected rows per reason (counts stay complete in the report).
    sampled = report.recipe.get("rejected_sample_per_reason") is not None
    out["rejected_sampled"] = sampled
    checks = [f"report.json: {where} is {value!r}" for where, value in _non_finite(
        {"stages": {s.name: s.to_json() for s in report.stages}, "outputs": report.outputs,
         "wall_seconds": report.wall_seconds})]
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


def _non_finite(value: Any, where: str = "") -> Iterator[Tuple[str, float]]:
    """(dotted key, value) of every NaN or infinite float in nested dicts and lists."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _non_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _non_finite(v, f"{where}[{i}]")


def _rejected_by_stage_reason(files: Sequence[str]) -> List[Dict[str, Any]]:
    counts: collections.Counter = collections.Counter()
    for batch in iter_row_groups(files, ["stage", "reason"]):
        for name in ("stage", "reason"):  # a file without the column: its rows count under null
            if name not in batch.column_names:
                batch = batch.append_column(name, pa.nulls(batch.num_rows, pa.string()))
        agg = batch.group_by(["stage", "reason"]).aggregate([([], "count_all")]).to_pydict()
        for s, r, c in zip(agg["stage"], agg["reason"], agg["count_all"]):
            counts[(s, r)] += c
    # a null stage or reason sorts as "": comparing None with a str raised TypeError on a tie
    return [{"stage": s, "reason": r, "rows": c}
            for (s, r), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0] or "", kv[0][1] or ""))]


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
    vocab_size = manifest.tokenizer.vocab_size
    pad_id, eot_id = manifest.tokenizer.special_ids[PAD], manifest.tokenizer.special_ids[EOT]
    checks: List[str] = []
    counts = TokenCounts(vocab_size)
    segments = LengthDistribution()
    per_row = np.zeros(row_len + 1, dtype=np.int64)  # sequences by number of segments
    full_row_segments = 0
    files_bytes = 0
    # doc_ids give whole-document lengths (and the exact truncated_fraction check), up to MAX_DOC_IDS documents
    tally = ShardTally(row_len, manifest.with_doc_ids, max_ids=MAX_DOC_IDS)
    ids_unusable: Optional[str] = None  # why the doc_ids give no document lengths, though the shards have them
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
            if shard_schema_problem(manifest, shard, shard_file):  # reported above; its rows cannot be counted
                tally.tracking = False  # nor its documents' lengths
                if manifest.with_doc_ids:
                    ids_unusable = "a shard's schema is not the manifest's"
                prog.add("sequences", shard_file.num_rows)
                continue
            problems: Dict[str, str] = {}  # the first of each kind in this shard, in verify's words
            start = 0
            for rg in _reading_batches(f, shard_file, [TOKENS, DOC_LENGTHS, DOC_IDS]):
                if not rg.num_rows:
                    continue
                ids = flat_values(rg.column(TOKENS))
                hi = counts.add(ids)
                tally.document_ends += int(np.count_nonzero(ids == eot_id))
                lengths = RowLengths(rg.column(DOC_LENGTHS))
                seg = lengths.flat
                row_problems(problems, shard.path, start, ids, hi, lengths, row_len, vocab_size, pad_id)
                segments.extend(seg)
                tally.add_segments(seg)
                tally.non_pad += int(seg.sum(dtype=np.int64))
                full_row_segments += int((seg == row_len).sum())
                per_row += np.bincount(np.minimum(lengths.counts, row_len), minlength=row_len + 1)
                if DOC_IDS in rg.schema.names and tally.tracking:
                    doc_ids = rg.column(DOC_IDS)
                    problem = doc_ids_problem(shard.path, doc_ids, lengths.counts, start)
                    if problem is None:
                        tally.add_ids(doc_ids.flatten(), seg)
                    else:  # no id can be paired with its segment's length (verify refuses the shard)
                        problems.setdefault("doc_ids", problem)
                        tally.tracking, ids_unusable = False, "doc_ids do not match doc_lengths"
                start += rg.num_rows
                prog.add("sequences", rg.num_rows)
            checks += problems.values()
    sequences, files_tokens, non_pad = tally.sequences, tally.tokens, tally.non_pad
    t = manifest.totals
    if not checks:  # the totals only mean something once every shard matches its entry
        checks += totals_problems(manifest, tally) or tally_packing_problems(manifest, tally)
    pad_count = counts.pop(pad_id)
    top_counts = counts.top(top)
    top_ids = [i for i, _ in top_counts]
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
    elif manifest.with_doc_ids and document_tokens is None and ids_unusable is None:
        ids_unusable = f"more than {MAX_DOC_IDS:,} documents (the cap on documents tracked by id)"
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
        "top_tokens": [{"id": i, "count": c, "text": decoded.get(i)} for i, c in top_counts],
        "checksums_checked": checksums,
        "manifest_checks": checks or ["ok"],
    }
    if ids_unusable:  # only then, so the keys of a usual output stay as documented
        stats["document_length_tokens_unavailable"] = ids_unusable
    return stats


def row_problems(problems: Dict[str, str], name: str, start: int, ids: np.ndarray, hi: int, lengths: RowLengths,
                 row_len: int, vocab_size: int, pad_id: Optional[int]) -> None:
    """`winnow verify`'s row checks (schemas.shard_files.check_shard_content) on one batch of shard `name`
    whose first row is row `start`: the first problem of each kind goes into `problems`. Stats used to count
    such rows into its figures and say "manifest checks: ok" for shards verify refuses."""
    if hi >= vocab_size and "ids" not in problems:
        row = start + int(np.argmax(ids.reshape(-1, row_len).max(axis=1) >= vocab_size))
        try:
            check_token_ids(hi, vocab_size, name, row=row)
        except ShardError as exc:  # verify's wording
            problems["ids"] = str(exc)
    if "lengths" not in problems or "padding" not in problems:
        for kind, problem in row_layout_problems(name, ids, lengths, row_len, pad_id, start):
            problems.setdefault(kind, problem)


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
    return printable(c)  # a source, language, domain or file name: data, which may hold terminal controls


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
    out = [f"{stats['kind']}: {printable(stats['path'])}"]
    if stats["kind"] == "documents":
        docs, chars = stats["documents"], stats["characters"]
        out.append(f"{docs:,} documents, {chars:,} characters in {stats['files']} files")
        out.append("\nby source\n" + table([[k, v["documents"], _share(v["documents"], docs), v["characters"],
                                             _share(v["characters"], chars)]
                                            for k, v in top_with_rest(stats["by_source"], SHOWN_SOURCES,
                                                                      ("documents", "characters"))],
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
            out.append("report checks: " + printable("; ".join(stats["report_checks"])))
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
        out.append(f"documents are: {printable(stats['documents_are'])}")
        if stats["by_source"]:
            out.append("\nby source (of the shards exported or written)\n" + table(
                [[k, v.get("documents", 0), v.get("tokens", 0)]
                 for k, v in top_with_rest(stats["by_source"], SHOWN_SOURCES, ("documents", "tokens"))],
                ["source", "documents", "tokens"]))
        out.append("\nfiles\n" + table([[f["path"], f["bytes"], f.get("tokens", ""), f.get("documents", ""),
                                           f.get("samples", "")] for f in stats["files"]],
                                         ["file", "bytes", "tokens", "documents", "samples"]))
        q = stats["document_length_tokens"]
        if q:
            out.append("\ndocument length in tokens (from the files): " + _quantiles(q))
            out.append(table(_hist_rows(stats["document_length_histogram_tokens"]), ["tokens", "documents", ""]))
        out.append("\nmanifest checks (with sha256): " + printable("; ".join(stats["manifest_checks"])))
    else:
        t, fs = stats["totals"], stats["files"]
        out.append(f"{t['sequences']:,} sequences of {stats['seq_len']}+1 {stats['dtype']} tokens in {stats['shards']} "
                   f"{stats['file_format']} shards ({fs['bytes']:,} bytes); {t['documents']:,} documents, "
                   f"{t['non_pad_tokens']:,} non-pad of {t['tokens']:,} tokens")
        p = stats["packing"]
        out.append(f"packing {p['method']}: pad {p['pad_fraction']:.2%} (measured in files {p['pad_fraction_measured']:.2%}), "
                   f"truncated {p['truncated_fraction']:.2%} (tokens of documents split across rows, none dropped); "
                   f"{stats['full_row_segments']:,} segments fill a whole row")
        out.append("\nby source\n" + table([[k, v["documents"], v["tokens"], v["token_share"]]
                                            for k, v in top_with_rest(stats["by_source"], SHOWN_SOURCES,
                                                                      ("documents", "tokens", "token_share"))],
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
            why = (f"per-document lengths not counted: {stats['document_length_tokens_unavailable']}"
                   if stats.get("document_length_tokens_unavailable") else "per-document lengths need --doc-ids shards")
            means = stats["mean_document_tokens_by_source"]
            shown = [k for k, _ in top_with_rest(stats["by_source"], SHOWN_SOURCES, ("documents",)) if k in means]
            out.append(f"\nmean document length in tokens (manifest; {why}): " +
                       ", ".join(f"{printable(k)} {means[k]:,.0f}" for k in shown) +
                       (f" (and {len(means) - len(shown):,} other sources)" if len(shown) < len(means) else ""))
        out.append("\nsegments per sequence: " + ", ".join(f"{k}: {v:,}" for k, v in stats["segments_per_sequence"].items()))
        out.append("\ntop tokens\n" + table([[repr(x["text"]) if x["text"] is not None else "?", x["id"], x["count"]]
                                              for x in stats["top_tokens"]], ["token", "id", "count"]))
        out.append("\nmanifest checks" + (" (with sha256)" if stats["checksums_checked"] else "") + ": "
                   + printable("; ".join(stats["manifest_checks"])))
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
    refuse_remote(args.path, "stats")
    if args.html and html_inside_input(args.html, args.path):  # it replaced manifest.json with the report
        raise WinnowError(f"--html {args.html} is inside {args.path}, the input being analysed",
                          fix="write the report outside it")
    given = [o for o, v in (("--tokenizer", args.tokenizer), ("--checksums", getattr(args, "checksums", False))) if v]
    if given and not os.path.exists(os.path.join(args.path, MANIFEST_NAME)):  # else silently ignored
        raise WinnowError(f"{', '.join(given)} apply to shards, and {args.path} is not a shards directory (no "
                          f"{MANIFEST_NAME})", fix="drop them, or give a shards directory")
    stats = compute_stats(args.path, args.tokenizer, checksums=getattr(args, "checksums", False),
                          progress=not getattr(args, "no_progress", False))
    if args.json:  # strict JSON: a NaN from a damaged manifest or report.json is null
        sys.stdout.write(dumps_stats(stats, indent=2) + "\n")
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
        print(f"winnow stats: manifest checks failed ({len(problems)}): {printable(problems[0])}"
              f"{' ...' if len(problems) > 1 else ''}; `winnow verify {args.path}` checks every shard", file=sys.stderr)
        return 1
    return 0
