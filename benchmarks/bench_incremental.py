"""Incremental exact dedup (issue 20, item 4): what a curate of a new crawl B costs when it dedups against the
index of an earlier curate of A (`dedup_exact: {against: [A]}`), as A grows, and Dolma's Bloom filter on the
same task.

Corpus (real text, no copies but the planted ones): the 16 Project Gutenberg books and tiny-shakespeare in
../shared/data/text (header and licence trimmed: 5 % at each end), cut into documents of consecutive paragraphs
of at least 150 words, and the reference main text of every WCXB and AEB page in ../shared/data/html; texts
whose normalised hash repeats are dropped, and the rest shuffled by a fixed seed. A is a prefix of them (A 1x,
4x, 16x the size of B, each a prefix of the next); B is other documents of the pool plus planted duplicates,
labelled as such: byte-identical copies of documents of A 1x (found in every A) and of other documents of B.
A second B twice as large (B's documents and as many more, planted the same way) runs against A 16x, so that
B's growth shows beside A's. Exact truth: a document of B is a duplicate when its text (normalised as
`filters.dedup.exact_dedup_key`, byte-exact for Dolma's `$.text` key) is in A or repeats an earlier one of B.

Winnow: A is curated once per size with the recipe `dedup_exact: {}` (JSONL in, so no extract), which writes
A's index (`OUT/index/dedup_exact/`); B is curated with `dedup_exact: {against: [A]}` on the in-process runner
(`pipelines.jobs.curate.build_curate_pipeline`, one worker), REPEATS runs and then the measured run of each
case one after another in one fresh process. Per run: wall seconds of the job (pipeline build + run, imports
excluded), peak RSS of the process after its first run (VmHWM, `benchmarks.harness.peak_rss_mb`), the stage's
counters (`index_bytes_read`: footers and row groups the
lookups decoded; `index_partitions_opened`, `index_row_groups_read`), and, counted independently by wrapping
Beam's `FileSystems.open` in the process, the files the run opened and the bytes read from them under A's
index ("from storage": what pyarrow pulled, its speculative footer read of up to 64 KiB included) and under
A's documents (which must be none). A separate measured run (same inputs) adds beside every
GroupByKey of the job a step that encodes each element entering it with the group-by's coders, as
`measure_shuffle` does in pipelines/transforms/dedup.py (CombinePerKey counted at its input, before combiner
lifting): bytes shuffled by the whole job, by the dedup stage and by its index join
(`LookupPrevious/GroupByBucket`), and the largest group of that join.

Index lookups beyond the curated sizes (pure functions, no Beam): an exact index of 65,536, 262,144 and
1,048,576 rows (synthetic 16-byte keys, and B's planted keys) written by `filters.dedup_index.write_partition` in
16 partitions, so that one partition file holds 1, 4 and 16 row groups; B's text hashes are looked up by bucket
through one `filters.dedup_index.IndexReader` in a fresh process: the reader's counters, the bytes it read from
storage (`FileSystems.open` wrapped), wall seconds and peak RSS.

Dolma (`dolma dedupe` 1.2.1, in its own virtualenv, `benchmarks.harness.ensure_venv`): the same JSONL files
(gzip) under `documents/`; A's filter is built by one `dedupe` over A (`bloom_filter.read_only: false`, saved to
a file), then B runs against a copy of it, in a fresh process each (processes: 1), document key `$.text`.
A persistent filter is sized once, up front: three filters (`DOLMA_FILTERS`): Dolma's own sizing for
|A 16x| + |B2| documents at `desired_false_positive_rate` 1e-5 (its Common Crawl configs' rate; Dolma rounds
the size up to at least 1 MiB, far more than these documents need), and `size_in_bytes` by the Bloom formula
(m = -n ln p / ln^2 2 bits) for |A 16x| + |B2| documents at 1e-2, and for the first run only (|A 1x| + |B|) at
1e-5, as a filter sized for one snapshot that later snapshots keep filling. Per run: wall seconds of the
`dedupe` call, peak RSS of the process (VmHWM, children included), duplicates marked in B's attribute file
against the exact truth (false positives: marked beyond a text's true duplicates; misses: the reverse).
Winnow's removed documents (`duplicate_of_previous` and `exact_duplicate`) are checked against the same truth,
per text. Repeats: REPEATS runs of each, min and median.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.harness import ensure_venv, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SEED = 20
B_DOCS = 250            # documents of B (planted duplicates included)
B_CROSS = 35            # of them: copies of documents of A 1x
B_SELF = 15             # of them: copies of other documents of B
A_FACTORS = (1, 4, 16)
B2_FACTOR = 2           # the larger B, run against A 16x
REPEATS = 3
MIN_WORDS = 150
DOLMA_REQUIREMENTS = ["dolma==1.2.1", "aiobotocore==2.5.4", "botocore==1.31.17", "boto3==1.28.17"]
# Dolma filters: (label, rate, sized for "all" = |A 16x| + |B2| or "first" = |A 1x| + |B| documents, bytes given
# by the Bloom formula or None for Dolma's own sizing, which rounds up to at least 1 MiB).
DOLMA_FILTERS = (("dolma sizing", 1e-5, "all", False), ("formula", 1e-2, "all", True),
                 ("formula", 1e-5, "first", True))
CC_DOCS = 3e9           # for the computed Bloom filter size of a cross-snapshot filter
LOOKUP_ROWS = (65_536, 262_144, 1_048_576)  # index rows for the lookup-scale section (x1, x4, x16)
LOOKUP_PARTITIONS = 16  # so that a partition file holds 1, 4 and 16 row groups of 4,096

_BLANK = re.compile(r"\n\s*\n")


# ---------------------------------------------------------------------------------------------- corpus

def _book_documents(path: Path):
    text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
    lines = text.split("\n")
    body = "\n".join(lines[len(lines) // 20: -len(lines) // 20 or None])
    out, current, words = [], [], 0
    for para in _BLANK.split(body):
        para = para.strip()
        if not para:
            continue
        current.append(para)
        words += len(para.split())
        if words >= MIN_WORDS:
            out.append("\n\n".join(current))
            current, words = [], 0
    return out


def _web_documents():
    html = DATA / "html"
    out = []
    for gt in sorted((html / "wcxb_dev" / "ground-truth").glob("*.json")):
        text = (json.loads(gt.read_text(encoding="utf-8")).get("ground_truth") or {}).get("main_content") or ""
        out.append(text)
    aeb = html / "scrapinghub_aeb" / "ground-truth.json"
    if aeb.exists():
        out += [v.get("articleBody") or "" for _, v in sorted(json.loads(aeb.read_text(encoding="utf-8")).items())]
    return [t.strip() for t in out if len(t.split()) >= 20]


def pool():
    """(distinct real texts in a seeded order, texts dropped because their normalised hash repeated)."""
    from filters.dedup import exact_dedup_key

    texts = []
    books = sorted((DATA / "text" / "gutenberg").glob("pg*.txt")) + [DATA / "text" / "tinyshakespeare" / "input.txt"]
    for path in books:
        texts += _book_documents(path)
    texts += _web_documents()
    seen, distinct = set(), []
    for t in texts:
        k = exact_dedup_key(t, normalize=True)
        if k not in seen:
            seen.add(k)
            distinct.append(t)
    random.Random(SEED).shuffle(distinct)
    return distinct, len(texts) - len(distinct)


def _doc_id(split: str, i: int) -> str:
    return hashlib.sha1(f"incremental/{split}/{i}".encode()).hexdigest()


def corpora(pool_texts):
    """{"A1": [...], "A4": ..., "A16": ..., "B": [...], "B2": [...]} of (id, text, planted) rows."""
    largest_a = B_DOCS * max(A_FACTORS)
    fresh_b = B2_FACTOR * (B_DOCS - B_CROSS - B_SELF)
    need = largest_a + fresh_b
    if len(pool_texts) < need:
        raise SystemExit(f"the shared corpus has {len(pool_texts)} distinct documents, the benchmark needs {need}")
    a_texts, b_fresh = pool_texts[:largest_a], pool_texts[largest_a:need]
    out = {f"A{f}": [(_doc_id("A", i), t, "") for i, t in enumerate(a_texts[:B_DOCS * f])] for f in A_FACTORS}
    rng = random.Random(SEED + 1)
    b_rows = []
    per_part = B_DOCS - B_CROSS - B_SELF
    for part in range(B2_FACTOR):  # B2 = B + one more part planted the same way
        fresh = b_fresh[part * per_part:(part + 1) * per_part]
        rows = [(t, "") for t in fresh]
        rows += [(t, "copy_of_A") for t in rng.sample(a_texts[:B_DOCS], B_CROSS)]
        rows += [(t, "copy_within_B") for t in rng.sample(fresh, B_SELF)]
        rng.shuffle(rows)
        b_rows += rows
    b2 = [(_doc_id("B", i), t, planted) for i, (t, planted) in enumerate(b_rows)]
    out["B"], out["B2"] = b2[:B_DOCS], b2
    return out


def write_jsonl_gz(rows, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for doc_id, text, _planted in rows:
            f.write(json.dumps({"id": doc_id, "text": text, "source": "bench_incremental"}) + "\n")


def true_duplicates(a_rows, b_rows, key):
    """{key of a B text: how many of B's documents with it are true duplicates} (only keys with any)."""
    in_a = {key(t) for _, t, _ in a_rows}
    counts = Counter(key(t) for _, t, _ in b_rows)
    return {k: (n if k in in_a else n - 1) for k, n in counts.items() if (n if k in in_a else n - 1) > 0}


def score(marked_ids, a_rows, b_rows, key):
    """(marked, true duplicates, false positives, misses) of `marked_ids` among B's documents, per text."""
    truth = true_duplicates(a_rows, b_rows, key)
    by_id = {i: key(t) for i, t, _ in b_rows}
    marked = Counter(by_id[i] for i in marked_ids)
    fp = sum(max(0, n - truth.get(k, 0)) for k, n in marked.items())
    miss = sum(max(0, n - marked.get(k, 0)) for k, n in truth.items())
    return sum(marked.values()), sum(truth.values()), fp, miss


# ---------------------------------------------------------------------------------------------- Winnow runs

class _OpenedFiles:
    """Wraps Beam's `FileSystems.open` in this process: every path opened and the bytes read from it."""

    def __init__(self):
        self.read = Counter()

    def install(self):
        from apache_beam.io.filesystems import FileSystems

        real = FileSystems.open  # a staticmethod
        tracker = self

        class Counted:
            def __init__(self, f, path):
                self._f, self._path = f, path
                tracker.read[path] += 0

            def read(self, *args):
                data = self._f.read(*args)
                tracker.read[self._path] += len(data)
                return data

            def readinto(self, b):
                n = self._f.readinto(b)
                tracker.read[self._path] += n or 0
                return n

            def __getattr__(self, name):
                return getattr(self._f, name)

            def __iter__(self):
                return iter(self._f)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self._f.__exit__(*exc)

        def counted_open(path, *args, **kwargs):
            return Counted(real(path, *args, **kwargs), path)

        FileSystems.open = staticmethod(counted_open)


def _gbk_inputs(p):
    """(full label, input PCollection, output PCollection or None) of every GroupByKey of the pipeline; no
    output for one inside a CombinePerKey, which the runner replaces by a lifted combine (its groups never
    exist)."""
    import apache_beam as beam
    from apache_beam.pipeline import PipelineVisitor

    found = []

    class Visitor(PipelineVisitor):
        def visit_transform(self, node):
            if isinstance(node.transform, beam.GroupByKey):
                lifted = node.parent is not None and isinstance(node.parent.transform, beam.CombinePerKey)
                found.append((node.full_label, node.inputs[0], None if lifted else node.outputs[None]))

    p.visit(Visitor())
    return found


def _measure_shuffle(p):
    """Beside every GroupByKey, a step counting its input's encoded bytes (Distribution per group-by label)
    and, after it, the largest group (pipelines/transforms/dedup.py's `_ShuffleBytes` / `_GroupBytes`)."""
    import apache_beam as beam

    from pipelines.transforms.dedup import _GroupBytes, _kv_coders, _ShuffleBytes

    for n, (label, pcoll, grouped) in enumerate(_gbk_inputs(p)):
        kc, vc = _kv_coders(pcoll)
        _ = pcoll | f"BenchShuffle{n:03d}" >> beam.ParDo(_ShuffleBytes(f"bench_shuffle|{label}", kc, vc))
        if grouped is not None:
            _ = grouped | f"BenchGroups{n:03d}" >> beam.ParDo(_GroupBytes(f"bench|{label}"))


def _winnow_run(inputs, out_dir, against, measure, opened):
    from apache_beam.metrics.metric import MetricsFilter

    from pipelines.jobs.curate import build_curate_pipeline
    from pipelines.jobs.recipe import parse_recipe
    from pipelines.runtime.options import make_pipeline, quiet_beam_logging, run_pipeline
    from pipelines.transforms.counters import counters_by_stage

    quiet_beam_logging()
    opened.read = Counter()
    start = time.perf_counter()
    recipe = parse_recipe({"dedup_exact": {"against": [against]} if against else {}})
    p = make_pipeline()
    build_curate_pipeline(p, inputs, out_dir, recipe)
    if measure:
        _measure_shuffle(p)
    result = run_pipeline(p)
    result.wait_until_finish()
    wall = time.perf_counter() - start
    counters = counters_by_stage(result).get("dedup_exact", {})
    shuffle = {}
    for d in result.metrics().query(MetricsFilter())["distributions"]:
        name = d.key.metric.name
        value = d.committed if d.committed is not None else d.attempted
        if name.startswith("bench_shuffle|"):
            shuffle.setdefault(name.split("|", 1)[1], [0, 0, 0, 0])[:2] = [value.sum, value.count]
        elif name.startswith(("group_values_bench|", "group_bytes_bench|")):
            label = name.split("|", 1)[1]
            at = 2 if name.startswith("group_values_") else 3
            shuffle.setdefault(label, [0, 0, 0, 0])[at] = value.max
    return {"wall_s": wall, "peak_rss_mb": peak_rss_mb(), "counters": counters, "shuffle": shuffle,
            "opened": dict(opened.read)}


def _removed_ids(out_dir):
    import pyarrow.parquet as pq

    ids, reasons = [], Counter()
    for f in sorted(Path(out_dir, "rejected").glob("*.parquet")):
        t = pq.read_table(f, columns=["id", "reason"])
        ids += t.column("id").to_pylist()
        reasons.update(t.column("reason").to_pylist())
    return ids, dict(reasons)


# ---------------------------------------------------------------------------------------------- index lookups

def _build_index(directory: str, rows: int, hit_keys) -> None:
    """An exact-dedup index of `rows` rows: synthetic 16-byte keys (BLAKE2b of a counter) plus `hit_keys`,
    written as curate writes it (`filters.dedup_index.write_partition` per partition, then index.json)."""
    from filters import dedup_index as dix

    by_partition = {}
    keys = [bytes.fromhex(k) for k in hit_keys]
    keys += [hashlib.blake2b(f"index/{i}".encode(), digest_size=16).digest() for i in range(rows - len(keys))]
    for i, k in enumerate(keys):
        b = dix.bucket_of(k)
        by_partition.setdefault(dix.partition_of(b, LOOKUP_PARTITIONS), []).append((b, k, f"a{i:08d}"))
    files = [dix.write_partition(directory, p, LOOKUP_PARTITIONS, r) for p, r in sorted(by_partition.items())]
    dix.write_description(directory, dix.describe("dedup_exact", dix.exact_params(True), LOOKUP_PARTITIONS, files, 1))


def _lookup(directory: str, keys) -> dict:
    """B's keys looked up as `LookupPrevious` does (grouped by bucket, one `IndexReader` per worker)."""
    from filters import dedup_index as dix

    opened = _OpenedFiles()
    opened.install()
    start = time.perf_counter()
    _stage_dir, desc = dix.load_description(directory, "dedup_exact")
    reader = dix.IndexReader(directory, desc)
    by_bucket = {}
    for k in keys:
        kb = bytes.fromhex(k)
        by_bucket.setdefault(dix.bucket_of(kb), set()).add(kb)
    hits = sum(len(reader.lookup(b, ks)) for b, ks in sorted(by_bucket.items()))
    wall = time.perf_counter() - start
    storage = sum(n for p, n in opened.read.items() if p.endswith(".parquet"))
    return {"wall_s": wall, "hits": hits, "counter_bytes": reader.bytes_read, "row_groups": reader.row_groups_read,
            "partitions": reader.partitions_opened, "storage_bytes": storage, "peak_rss_mb": peak_rss_mb(),
            "index_bytes": desc["bytes"],
            "index_groups": sum(-(-f["rows"] // dix.ROW_GROUP_ROWS) for f in desc["files"])}


def _lookup_table(rows_results) -> list:
    lines = ["", f"Index lookups as A grows past what a curate here can build (pure functions, no Beam: "
             f"`filters.dedup_index.write_partition` writes an exact index of synthetic 16-byte keys plus B's "
             f"{B_CROSS} planted keys in {LOOKUP_PARTITIONS} partitions, so that a partition file holds 1, 4, 16 "
             f"row groups of 4,096 rows (`filters.dedup_index.ROW_GROUP_ROWS`); B's {B_DOCS} real text hashes are "
             "looked up as `LookupPrevious` does, by bucket, through one `IndexReader`, in a fresh process).", "",
             "| index rows | index bytes (row groups) | hits | partitions opened | row groups read | "
             "index bytes read: counter / from storage | share of the index read from storage | wall s | "
             "peak RSS MB |", "|---" * 9 + "|"]
    for rows, r in rows_results:
        lines.append(f"| {rows:,} | {_human(r['index_bytes'])} ({r['index_groups']}) | {r['hits']} | "
                     f"{r['partitions']} | {r['row_groups']} | {_human(r['counter_bytes'])} / "
                     f"{_human(r['storage_bytes'])} | {r['storage_bytes'] / r['index_bytes']:.0%} | "
                     f"{r['wall_s']:.2f} | {r['peak_rss_mb']:,.0f} |")
    xs = [rows for rows, _ in rows_results]
    lines += ["", f"Exponent b of bytes read ~ rows^b: counter (footers + row groups decoded) "
              f"{_fit(xs, [r['counter_bytes'] for _, r in rows_results]):+.2f}, from storage "
              f"{_fit(xs, [r['storage_bytes'] for _, r in rows_results]):+.2f}."]
    return lines


# ---------------------------------------------------------------------------------------------- Dolma runs

_DOLMA_WORKER = r"""
import json, os, resource, sys, time
from dolma.cli.__main__ import main
config = sys.argv[1]
start = time.perf_counter()
try:
    main(["-c", config, "dedupe"])
except SystemExit as e:
    if e.code not in (0, None):
        raise
wall = time.perf_counter() - start
hwm = 0.0
with open("/proc/self/status") as f:
    for line in f:
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_rss_mb": max(hwm, children)}))
"""


def bloom_bytes(n: int, rate: float) -> int:
    """Bytes of a Bloom filter for n elements at false-positive rate `rate`, by the formula."""
    return int(math.ceil(-n * math.log(rate) / math.log(2) ** 2 / 8))


def _dolma_config(work: Path, documents: Path, bloom: Path, count: int, fp_rate: float, formula: bool) -> Path:
    sizing = {"estimated_doc_count": count, "desired_false_positive_rate": fp_rate}
    if formula:
        sizing["size_in_bytes"] = bloom_bytes(count, fp_rate)
    config = {"documents": [str(documents)],
              "dedupe": {"name": "dups", "documents": {"attribute_name": "dup", "key": "$.text"},
                         "skip_empty": True},
              "bloom_filter": {"file": str(bloom), "read_only": False, **sizing},
              "processes": 1,
              "work_dir": {"input": str(work / "in"), "output": str(work / "out")}}
    path = work / "dedupe.json"
    path.write_text(json.dumps(config))
    return path


def _dolma_run(python: str, work: Path, documents: Path, bloom: Path, count: int, fp_rate: float, formula: bool):
    """One `dolma dedupe` in a fresh process; its timing, memory and the ids it marked as duplicates."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    attrs = Path(str(documents).replace("/documents/", "/attributes/dups/"))
    if attrs.exists():
        attrs.unlink()
    config = _dolma_config(work, documents, bloom, count, fp_rate, formula)
    proc = subprocess.run([python, "-c", _DOLMA_WORKER, str(config)], capture_output=True, text=True,
                          env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"})
    if proc.returncode != 0:
        raise RuntimeError(f"dolma dedupe failed: {proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    marked = []
    with gzip.open(attrs, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("attributes", {}).get("dup"):
                marked.append(row["id"])
    res["marked"] = marked
    return res


# ---------------------------------------------------------------------------------------------- driver

def _worker(argv):
    kind = argv[0]
    if kind == "winnow":  # several runs in one process: the first run's peak RSS is the fresh one
        inputs, against, runs = json.loads(argv[1])
        opened = _OpenedFiles()
        opened.install()
        out = []
        for out_dir, measure in runs:
            if Path(out_dir).exists():
                shutil.rmtree(out_dir)
            res = _winnow_run(inputs, out_dir, against, measure, opened)
            res["removed"], res["reasons"] = _removed_ids(out_dir)
            out.append(res)
        print(json.dumps(out))
    elif kind == "lookup":
        directory, keys = json.loads(argv[1])
        print(json.dumps(_lookup(directory, keys)))
    else:
        raise SystemExit(f"unknown worker {kind}")


def _in_fresh_process(*args):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_incremental", *args], capture_output=True,
                          text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args[:1]} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _winnow(inputs, runs, against=None):
    """[(output dir, measure shuffle)] curated from `inputs` one after another in one fresh process."""
    return _in_fresh_process("winnow", json.dumps([inputs, against, [[str(o), m] for o, m in runs]]))


def _stats(values):
    return min(values), statistics.median(values)


def _human(n):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000


def _fit(xs, ys):
    """Exponent b of y ~ x^b (least squares on logs)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def _index_bytes(opened, index_dir):
    files = {p: n for p, n in opened.items() if p.startswith(index_dir)}
    return len(files), sum(files.values())


def run() -> str:
    from filters.dedup import exact_dedup_key

    texts, dropped = pool()
    sets = corpora(texts)
    norm_key = lambda t: exact_dedup_key(t, normalize=True)  # noqa: E731
    raw_key = lambda t: t  # noqa: E731  Dolma's key is the text itself
    tmp = Path(tempfile.mkdtemp(prefix="bench_incremental_"))
    try:
        for name, rows in sets.items():
            write_jsonl_gz(rows, tmp / name / "documents" / f"{name}.jsonl.gz")
        # Winnow: A's indexes, then B against each.
        index_info = {}
        for f in A_FACTORS:
            a = f"A{f}"
            built, = _winnow([str(tmp / a / "documents" / f"{a}.jsonl.gz")], [(tmp / "winnow" / a, False)])
            desc = json.loads((tmp / "winnow" / a / "index" / "dedup_exact" / "index.json").read_text())
            index_info[a] = {"rows": desc["rows"], "bytes": desc["bytes"], "files": len(desc["files"]),
                             "build_s": built["wall_s"]}
        cases = [("B", f"A{f}") for f in A_FACTORS] + [("B2", f"A{max(A_FACTORS)}")]
        winnow, measured = {}, {}
        for b, a in cases:
            inputs = [str(tmp / b / "documents" / f"{b}.jsonl.gz")]
            against = str(tmp / "winnow" / a)
            out = tmp / "winnow" / f"{b}_against_{a}"
            *winnow[b, a], measured[b, a] = _winnow(inputs, [(out, False)] * REPEATS + [(out, True)], against)
        keys = [exact_dedup_key(t, normalize=True) for _, t, _ in sets["B"]]
        hits = [exact_dedup_key(t, normalize=True) for _, t, planted in sets["B"] if planted == "copy_of_A"]
        lookups = []
        for rows in LOOKUP_ROWS:
            directory = tmp / "lookup" / str(rows)
            _build_index(str(directory), rows, hits)
            lookups.append((rows, _in_fresh_process("lookup", json.dumps([str(directory), keys]))))
            shutil.rmtree(directory)
        # Dolma: A's filter once per size and rate, then B against a copy of it.
        python = ensure_venv("dolma", DOLMA_REQUIREMENTS)
        dolma = {}
        counts = {"all": len(sets[f"A{max(A_FACTORS)}"]) + len(sets["B2"]), "first": len(sets["A1"]) + len(sets["B"])}
        for b, a in cases:
            for n, (label, rate, sized_for, formula) in enumerate(DOLMA_FILTERS):
                count = counts[sized_for]
                base = tmp / "dolma" / f"{a}_{n}.bloom"
                if not base.exists():
                    base.parent.mkdir(parents=True, exist_ok=True)
                    _dolma_run(python, tmp / "dolma" / "work", tmp / a / "documents" / f"{a}.jsonl.gz",
                               base, count, rate, formula)
                runs = []
                for _ in range(REPEATS):
                    bloom = tmp / "dolma" / "b.bloom"
                    shutil.copyfile(base, bloom)
                    runs.append(_dolma_run(python, tmp / "dolma" / "work", tmp / b / "documents" / f"{b}.jsonl.gz",
                                           bloom, count, rate, formula))
                desc = f"{label}: {count:,} docs at {rate:g}"
                dolma[b, a, desc] = (runs, base.stat().st_size)
        return _table(sets, dropped, index_info, cases, winnow, measured, lookups, dolma, tmp, norm_key, raw_key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _table(sets, dropped, index_info, cases, winnow, measured, lookups, dolma, tmp, norm_key, raw_key) -> str:
    lines = [f"Pool: {sum(len(v) for k, v in sets.items() if k in ('A16', 'B2'))} documents used "
             f"({dropped} texts of the shared corpus dropped as repeats of a normalised hash); B = {B_DOCS} "
             f"documents ({B_CROSS} planted copies of A's, {B_SELF} planted copies within B), B2 = "
             f"{len(sets['B2'])}. Index of A (`OUT/index/dedup_exact/`, default partitions): "
             + "; ".join(f"{a}: {len(sets[a]):,} docs, {i['rows']:,} rows, {_human(i['bytes'])} in {i['files']} files"
                         for a, i in index_info.items()) + ".", ""]
    lines += ["Winnow, B run against A's index (wall: job seconds, min / median of "
              f"{REPEATS} runs; shuffle: the measured run).", "",
              "| B | A | B docs / A docs | wall s min / median | docs/s (median) | peak RSS MB (first run) | "
              "bytes shuffled: job / dedup_exact / index join | largest index-join group (B's keys in a bucket) | "
              "index partitions opened (counter) | index bytes read: counter / from storage | "
              "A's documents read | removed: previous / within B | false positives / misses |",
              "|---" * 13 + "|"]
    growth = []
    for b, a in cases:
        runs, m = winnow[b, a], measured[b, a]
        walls = [r["wall_s"] for r in runs]
        wmin, wmed = _stats(walls)
        rss = runs[0]["peak_rss_mb"]
        total = sum(v[0] for v in m["shuffle"].values())
        dedup = sum(v[0] for k, v in m["shuffle"].items() if k.startswith("DedupExact/"))
        join = sum(v[0] for k, v in m["shuffle"].items() if "LookupPrevious" in k)
        c = runs[0]["counters"]
        index_dir = str(tmp / "winnow" / a / "index")
        files, storage = _index_bytes(runs[0]["opened"], index_dir)
        docs_read = sum(n for p, n in runs[0]["opened"].items() if p.startswith(str(tmp / "winnow" / a / "documents")))
        docs_opened = sum(1 for p in runs[0]["opened"] if p.startswith(str(tmp / "winnow" / a / "documents")))
        reasons = runs[0]["reasons"]
        marked, truth, fp, miss = score(runs[0]["removed"], sets[a], sets[b], norm_key)
        same = all(sorted(r["removed"]) == sorted(runs[0]["removed"]) for r in runs + [m])
        lines.append(f"| {b} | {a} | {len(sets[b]):,} / {len(sets[a]):,} | {wmin:.2f} / {wmed:.2f} | "
                     f"{len(sets[b]) / wmed:,.0f} | {rss:,.0f} | {_human(total)} / {_human(dedup)} / {_human(join)} | "
                     f"{_largest_join_group(sets[b], norm_key)} | "
                     f"{c.get('index_partitions_opened', 0):,} of {index_info[a]['files']} "
                     f"({files} files opened) | {_human(c.get('index_bytes_read', 0))} / {_human(storage)} | "
                     f"{docs_opened} files, {_human(docs_read)} | "
                     f"{reasons.get('duplicate_of_previous', 0)} / {reasons.get('exact_duplicate', 0)} | "
                     f"{fp} / {miss}{'' if same else ' (runs differ!)'} |")
        growth.append((b, a, wmed, total, c.get("index_bytes_read", 0), storage))
    bs = [g for g in growth if g[0] == "B"]
    a_docs = [len(sets[g[1]]) for g in bs]
    if all(g[4] > 0 for g in bs) and all(g[5] > 0 for g in bs):
        lines += ["", f"Growth in A (B fixed, A = {', '.join(f'{x:,}' for x in a_docs)} documents): exponent b of "
                  f"y ~ |A|^b: wall {_fit(a_docs, [g[2] for g in bs]):+.2f}, bytes shuffled "
                  f"{_fit(a_docs, [g[3] for g in bs]):+.2f}, index bytes read (counter) "
                  f"{_fit(a_docs, [g[4] for g in bs]):+.2f}, index bytes read from storage "
                  f"{_fit(a_docs, [g[5] for g in bs]):+.2f} (1 = linear in A)."]
    big = [g for g in growth if g[1] == f"A{max(A_FACTORS)}"]
    if len(big) == 2:
        (_, _, w1, s1, _, _), (_, _, w2, s2, _, _) = big
        lines += [f"Growth in B (A = A{max(A_FACTORS)}, B doubled): wall x{w2 / w1:.2f}, bytes shuffled "
                  f"x{s2 / s1:.2f}."]
    lines += _lookup_table(lookups)
    lines += ["", "Dolma `dedupe` (Bloom filter over `$.text`), the same B against a filter of the same A, sized as "
              "the filter column says (Dolma's own sizing, or `size_in_bytes` by the Bloom formula).", "",
              "| B | A | filter | filter file | wall s min / median | docs/s (median) | peak RSS MB (median) | "
              "marked / true duplicates | false positives / misses |", "|---" * 9 + "|"]
    for (b, a, desc), (runs, size) in dolma.items():
        wmin, wmed = _stats([r["wall_s"] for r in runs])
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        marked, truth, fp, miss = score(runs[0]["marked"], sets[a], sets[b], raw_key)
        lines.append(f"| {b} | {a} | {desc} | {_human(size)} | {wmin:.2f} / {wmed:.2f} | {len(sets[b]) / wmed:,.0f} | "
                     f"{rss:,.0f} | {marked} / {truth} | {fp} / {miss} |")
    bits = -CC_DOCS * math.log(1e-5) / math.log(2) ** 2
    lines += ["", f"Computed, not measured: a Bloom filter that holds {CC_DOCS:.0e} documents (every snapshot so far) "
              f"at rate 1e-5 takes {_human(bits / 8)} of memory on the one machine that runs the dedup, and its false "
              f"positives grow as it fills beyond its size; Winnow's index join holds one bucket's keys of B per group "
              f"(B's keys / 65,536) and reads only the index row groups those buckets fall in."]
    return "\n".join(lines)


def _largest_join_group(b_rows, norm_key) -> str:
    """The index join's largest group: B's distinct text hashes in one 16-bit bucket (`LookupPrevious` combines
    them per bucket, so the group is never the index's rows), computed from B's keys."""
    from filters import dedup_index as dix

    keys = {norm_key(t) for _, t, _ in b_rows}
    per_bucket = Counter(dix.bucket_of(dix.key_bytes(k)) for k in keys)
    return f"{max(per_bucket.values())} of {len(keys):,} keys ({len(per_bucket):,} buckets)"


if __name__ == "__main__":
    _worker(sys.argv[1:])
