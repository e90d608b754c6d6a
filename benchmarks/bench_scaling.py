"""`winnow curate --workers 1` against `--workers 2` on extraction-heavy input: every WARC/ARC file under
../shared/data/warc (web_crawls/, common_crawl/ and edge_cases/: *.warc, *.warc.gz, *.arc, *.arc.gz; the one
`*.warc.gz.bad` file is not an archive name and is left out). Peer: the same command with 1 worker.

Two recipes: the default (extraction by the `cascade` engine, resiliparse first, which leaves extraction a
small part of this job) and the default with `extract: {engine: trafilatura}` (the previous default extractor,
~10x slower per page: the extraction-heavy case), and that extraction-heavy job again with every file given
`COPIES` times (symbolic links under distinct names: the job reads, extracts and filters every copy; exact
dedup then keeps one), so that the job's fixed cost outside the read pass -- start-up, building the job, the
dedup phase's ~65 small bundles, ~4 s -- weighs as it does in a job of real size. Each run is the CLI as a
subprocess of this checkout (PYTHONPATH is this repository), so wall seconds include the job's start-up; an
untimed warm-up run on the smallest web crawl comes first (disk cache, compiled files), and its wall time is
given as the fixed cost of a small job. `REPEATS` pairs per recipe (`COPIES_REPEATS` for the copies) run in
the order 1-2, 2-1, 1-2 (`benchmarks.bench_workers._order`) so that drift in the machine's load favours
neither. Before each pair, `cores` is `benchmarks.bench_workers.cores_probe`: how many cores this session
could get at that moment (two spinning processes against one; the machine is shared).

Two throughputs: records/s of the whole job (read stage input records over the wall time), and records/s of
the read pass, over its `span_seconds` in report.json (first read bundle's start to the last one's end on any
worker: the fused read -> extract -> per-document filters -> phase files pass, which is where `--workers`
shares files; a big archive is shared record by record, each worker taking the next record nobody has taken,
pipelines/ingest/readers.py `RecordClaims`).
What the machine itself gives two processes: after each pair, two independent `--workers 1` runs of the same
job at the same time (`_run_concurrent`, not for the copies case, whose runs are long). With no contention each
takes as long as the job alone; shared caches, memory bandwidth, a host's other tenants and frequency limits make
them slower, and 2 x (the job alone) / (the two at once) is the speed-up two uncoordinated processes get here: the
ceiling for `--workers 2`, which the measured speed-up is set against (whole job and read pass).
Checks: the documents, rejected and error rows of every run (`bench_workers._curate_digest`: all columns,
sorted, part-file names ignored) must be equal across runs and worker counts of a recipe. Extract timeouts:
pages dropped because extraction passed the per-page wall limit (extract `max_seconds`, 20 s by default): on a
loaded machine some pages pass it in one run and not in another, which makes the outputs differ. Peak tree RSS:
`benchmarks.bench_memory.watch` (sum of each process's VmHWM).
"""
from __future__ import annotations

import glob
import json
import os
import statistics
import tempfile
import time

from benchmarks.bench_memory import MIB, curate_tree
from benchmarks.bench_workers import _curate_digest, _order, cores_probe

REPEATS = 3
COPIES = 3         # the steady-state case: every file read this many times in one job (under distinct names)
COPIES_REPEATS = 2  # pairs of that case (each 1-worker run takes ~100 s here)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARC = os.path.join(ROOT, "..", "shared", "data", "warc")
SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


def inputs() -> list:
    return sorted(p for p in glob.glob(os.path.join(WARC, "**", "*"), recursive=True)
                  if os.path.isfile(p) and p.endswith(SUFFIXES))


def _recipes(root: str) -> list:
    """(name, recipe path or None) per measured recipe: the default, and the default extracting with trafilatura."""
    with open(os.path.join(ROOT, "recipes", "default.yaml"), encoding="utf-8") as f:
        default = f.read()
    assert "\nextract: {}\n" in default, "recipes/default.yaml's extract line changed: update bench_scaling"
    heavy = os.path.join(root, "default-trafilatura.yaml")
    with open(heavy, "w", encoding="utf-8") as f:
        f.write(default.replace("\nextract: {}\n", "\nextract: {engine: trafilatura}\n")
                .replace("\nname: default\n", "\nname: default-trafilatura\n"))
    return [("default (cascade)", None), ("default, engine trafilatura", heavy)]


def _run(paths, workers: int, root: str, recipe) -> dict:
    out = tempfile.mkdtemp(dir=root)
    result = curate_tree(paths, out, out + ".log", workers, recipe=recipe)
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    read = report["stages"][0]
    extract = [s for s in report["stages"] if s["name"] == "extract"]
    result.update(records=read["in"], span=read.get("span_seconds") or float("nan"),
                  documents=report.get("outputs", {}).get("documents", 0),
                  timeouts=extract[0].get("dropped", {}).get("timeout", 0) if extract else 0,
                  digest=_curate_digest(out), timings=report.get("timings") or {})
    return result


def _run_concurrent(paths, root: str, recipe) -> dict:
    """Two independent 1-worker runs of the same job started together: the wall time until both are done, and
    the mean of their read-pass spans."""
    import threading

    results = [None, None]

    def one(i):
        results[i] = _run(paths, 1, root, recipe)

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if None in results:
        raise RuntimeError("a concurrent run failed (its error is above)")
    return {"seconds": time.perf_counter() - start, "span": statistics.mean(r["span"] for r in results),
            "digests": {r["digest"] for r in results}}


def _ratios(one, two) -> str:
    pairs = [a / b for a in one for b in two]
    return (f"min/min {min(one) / min(two):.2f}x, median of every pair {statistics.median(pairs):.2f}x "
            f"(range {min(pairs):.2f}-{max(pairs):.2f}x)")


def _copies(paths, root: str, copies: int) -> list:
    """Each input file `copies` times, as symbolic links under root/copy-K/ (distinct paths, so the job reads
    every copy; the records' ids repeat, and curate renames the repeats after their input pointer)."""
    linked = []
    for k in range(1, copies + 1):
        for path in paths:
            link = os.path.join(root, f"copy-{k}", os.path.relpath(path, WARC))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.abspath(path), link)
            linked.append(link)
    return linked


def _measure_recipe(name: str, recipe, paths, root: str, rows: list, probes: list, repeats: int = REPEATS,
                    concurrent: bool = True) -> list:
    times, spans = {1: [], 2: []}, {1: [], 2: []}
    timings = {1: [], 2: []}  # report.json `timings` of each run
    together = []  # (wall, mean span) of two independent 1-worker runs at once, per repeat
    digests, timeouts = set(), []
    records = documents = 0
    for repeat in range(1, repeats + 1):
        cores = cores_probe()
        probes.append(cores)
        for workers in _order(repeat):
            r = _run(paths, workers, root, recipe)
            print(f"scaling: {name}, repeat {repeat}, {workers} worker(s): {r['seconds']:.1f} s "
                  f"(read pass {r['span']:.1f} s)", flush=True)
            times[workers].append(r["seconds"])
            spans[workers].append(r["span"])
            timings[workers].append(r["timings"])
            digests.add(r["digest"])
            timeouts.append(r["timeouts"])
            records, documents = r["records"], r["documents"]
            rows.append(f"| {name} | {workers} | {repeat} | {cores:.2f} | {r['seconds']:.1f} | {r['span']:.1f} | "
                        f"{r['records']} | {r['documents']} | {r['records'] / r['seconds']:.1f} | "
                        f"{r['records'] / r['span']:.1f} | {r['timeouts']} | {r['peak'] / MIB:,.0f} | "
                        f"sha256 {r['digest'][:12]} |")
        if concurrent:
            c = _run_concurrent(paths, root, recipe)
            print(f"scaling: {name}, repeat {repeat}, two 1-worker runs at once: {c['seconds']:.1f} s "
                  f"(read pass {c['span']:.1f} s each)", flush=True)
            together.append((c["seconds"], c["span"]))
            digests.update(c["digests"])
            rows.append(f"| {name} | 2 x 1, at once | {repeat} | {cores:.2f} | {c['seconds']:.1f} | {c['span']:.1f} | "
                        f"2 x {records} | 2 x {documents} | | | | | {len(c['digests'])} digest(s) |")
    return [f"**{name}**: whole job, 1 worker min {min(times[1]):.1f} s / median {statistics.median(times[1]):.1f} s, "
            f"2 workers min {min(times[2]):.1f} s / median {statistics.median(times[2]):.1f} s: speed-up "
            f"{_ratios(times[1], times[2])}.  ",
            f"Read pass (read -> extract -> filters -> phase files): 1 worker min {min(spans[1]):.1f} s, 2 workers "
            f"min {min(spans[2]):.1f} s: speed-up {_ratios(spans[1], spans[2])}; "
            f"{records / min(spans[2]):.1f} records/s with 2 workers at the min.  ",
            *(_ceiling_lines(times, spans, together) if together else []),
            f"Fixed cost of this job outside the read pass (wall - span, 1 worker): median "
            f"{statistics.median(t - s for t, s in zip(times[1], spans[1])):.1f} s; {documents} documents kept.  ",
            _fixed_cost_line(timings),
            f"Outputs (documents, rejected, errors) equal across all {2 * repeats + 2 * len(together)} runs and both "
            f"worker counts: "
            f"{'yes' if len(digests) == 1 else 'NO (' + str(len(digests)) + ' distinct)'}"
            + (f"; pages dropped as extract `timeout` per run: {timeouts} (the per-page wall limit fires under "
               f"load, so outputs then differ with the machine's load)." if any(timeouts) else "."), ""]


TIMING_PARTS = (("startup_seconds", "start-up"), ("setup_seconds", "setup"), ("before_read_seconds", "runner start"),
                ("read_pass_seconds", "read pass"), ("after_read_seconds", "after it (dedup, tables)"))


def _fixed_cost_line(timings) -> str:
    """Where the wall time of the runs went, from report.json's `timings` (pipelines/transforms/counters.py
    `job_timings`), medians per worker count: the parts outside the read pass are the job's fixed cost."""
    cells = []
    for workers in (1, 2):
        runs = [t for t in timings[workers] if all(t.get(key) is not None for key, _ in TIMING_PARTS)]
        if runs:
            cells.append(f"{workers} worker(s): " + ", ".join(
                f"{label} {statistics.median(t[key] for t in runs):.1f}" for key, label in TIMING_PARTS))
    return (f"Where the time went (report.json `timings`, medians, seconds; start-up: interpreter and imports; "
            f"setup: inputs, building the job; runner start: workers, models, the id pass): {'; '.join(cells)}.  "
            if cells
            else "report.json gave no `timings` (older Winnow?).  ")


def _ceiling_lines(times, spans, together) -> list:
    """The speed-up two uncoordinated processes get from this machine (2 x the job alone / two at once, medians),
    and the measured `--workers 2` speed-up as a share of it."""
    one_wall, one_span = statistics.median(times[1]), statistics.median(spans[1])
    both_wall = statistics.median(w for w, _ in together)
    both_span = statistics.median(s for _, s in together)
    wall_ceiling, span_ceiling = 2 * one_wall / both_wall, 2 * one_span / both_span
    wall_got = one_wall / statistics.median(times[2])
    span_got = one_span / statistics.median(spans[2])
    return [f"What the machine gives two processes (two independent 1-worker runs at once, medians): whole job "
            f"{both_wall:.1f} s against {one_wall:.1f} s alone, a ceiling of {wall_ceiling:.2f}x; read pass "
            f"{both_span:.1f} s against {one_span:.1f} s, {span_ceiling:.2f}x. `--workers 2` reaches "
            f"{wall_got:.2f}x whole job ({100 * wall_got / wall_ceiling:.0f} % of that ceiling) and {span_got:.2f}x "
            f"read pass ({100 * span_got / span_ceiling:.0f} %).  "]


def run() -> str:
    paths = inputs()
    if not paths:
        raise SystemExit(f"no WARC/ARC files under {os.path.abspath(WARC)}")
    input_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    rows = ["| recipe | workers | repeat | cores (probe) | wall s | read pass s | records in (read) | documents out | "
            "records/s (wall) | records/s (read pass) | extract timeouts | peak tree RSS MiB | check |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    probes: list = []
    notes: list = []
    with tempfile.TemporaryDirectory(prefix="winnow-bench-scaling-") as root:
        small = [p for p in paths if p.endswith("issue-493.warc")] or paths[:1]
        warm = _run(small, 1, root, None)
        recipes = _recipes(root)
        for name, recipe in recipes:
            notes += _measure_recipe(name, recipe, paths, root, rows, probes)
        # the same extraction-heavy job on more input: the fixed cost outside the read pass (start-up, the dedup
        # phase's ~65 small bundles) is a smaller share, as in a job of real size
        name, recipe = recipes[-1]
        notes += _measure_recipe(f"{name}, every file {COPIES}x", recipe, _copies(paths, root, COPIES), root,
                                 rows, probes, repeats=COPIES_REPEATS, concurrent=False)
    lines = ["\n".join(rows), "",
             f"Input: {len(paths)} files, {input_mb:.1f} MB of WARC/ARC (the last recipe: each file {COPIES} times, "
             f"{COPIES * input_mb:.1f} MB). Warm-up ({os.path.basename(small[0])}, "
             f"{warm['records']} records, default recipe): {warm['seconds']:.1f} s, the fixed cost of a small job.  ",
             *notes,
             f"Cores this session could get (probe before each pair): min {min(probes):.2f}, median "
             f"{statistics.median(probes):.2f}, max {max(probes):.2f}."]
    return "\n".join(lines)
