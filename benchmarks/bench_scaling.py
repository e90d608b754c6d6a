"""`winnow curate --workers 1` against `--workers 2` on extraction-heavy input: every WARC/ARC file under
../shared/data/warc (web_crawls/, common_crawl/ and edge_cases/: *.warc, *.warc.gz, *.arc, *.arc.gz; the one
`*.warc.gz.bad` file is not an archive name and is left out), default recipe. Peer: the same command with 1 worker.

Each run is the CLI as a subprocess of this checkout (PYTHONPATH is this repository), so wall seconds include
the job's start-up; an untimed warm-up run on the smallest web crawl comes first (disk cache, compiled files),
and its wall time is given as the fixed cost of a small job. `REPEATS` pairs run in the order 1-2, 2-1, 1-2
(`benchmarks.bench_workers._order`) so that drift in the machine's load favours neither. Before each pair,
`cores` is `benchmarks.bench_workers.cores_probe`: how many cores this session could get at that moment (two
spinning processes against one; the machine is shared). Checks: the documents, rejected and error rows of every
run (`bench_workers._curate_digest`: all columns, sorted, part-file names ignored) must be equal across runs
and worker counts. Records/s is the read stage's input records (report.json) over the wall time; documents/s
the documents kept over it. Extract timeouts: pages dropped because extraction passed the per-page wall limit
(extract `max_seconds`, 20 s by default): on a loaded machine some pages pass it in one run and not in another,
which makes the outputs differ (seen: a page of the archive.org 2008 crawl at load ~12 on 2 cores). Peak tree
RSS: `benchmarks.bench_memory.watch` (sum of each process's VmHWM).
"""
from __future__ import annotations

import glob
import json
import os
import statistics
import tempfile

from benchmarks.bench_memory import MIB, curate_tree
from benchmarks.bench_workers import _curate_digest, _order, cores_probe

REPEATS = 3
WARC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "warc")
SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


def inputs() -> list:
    return sorted(p for p in glob.glob(os.path.join(WARC, "**", "*"), recursive=True)
                  if os.path.isfile(p) and p.endswith(SUFFIXES))


def _run(paths, workers: int, root: str) -> dict:
    out = tempfile.mkdtemp(dir=root)
    result = curate_tree(paths, out, out + ".log", workers)
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    extract = [s for s in report["stages"] if s["name"] == "extract"]
    result.update(records=report["stages"][0]["in"], documents=report.get("outputs", {}).get("documents", 0),
                  timeouts=extract[0].get("dropped", {}).get("timeout", 0) if extract else 0,
                  digest=_curate_digest(out))
    return result


def _summary(name, times, records, documents) -> str:
    return (f"{name}: min {min(times):.1f} s, median {statistics.median(times):.1f} s; "
            f"{records / min(times):.1f} records/s and {documents / min(times):.2f} documents/s at the min, "
            f"{records / statistics.median(times):.1f} and {documents / statistics.median(times):.2f} at the median")


def run() -> str:
    paths = inputs()
    if not paths:
        raise SystemExit(f"no WARC/ARC files under {os.path.abspath(WARC)}")
    input_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    rows = ["| workers | repeat | cores (probe) | wall s | records in (read) | documents out | records/s | "
            "extract timeouts | peak tree RSS MiB | check |", "|---|---|---|---|---|---|---|---|---|---|"]
    times = {1: [], 2: []}
    digests, probes, timeouts = set(), [], []
    records = documents = 0
    with tempfile.TemporaryDirectory(prefix="winnow-bench-scaling-") as root:
        small = [p for p in paths if p.endswith("issue-493.warc")] or paths[:1]
        warm = _run(small, 1, root)
        for repeat in range(1, REPEATS + 1):
            cores = cores_probe()
            probes.append(cores)
            for workers in _order(repeat):
                r = _run(paths, workers, root)
                print(f"scaling: repeat {repeat}, {workers} worker(s): {r['seconds']:.1f} s", flush=True)
                times[workers].append(r["seconds"])
                digests.add(r["digest"])
                timeouts.append(r["timeouts"])
                records, documents = r["records"], r["documents"]
                rows.append(f"| {workers} | {repeat} | {cores:.2f} | {r['seconds']:.1f} | {r['records']} | "
                            f"{r['documents']} | {r['records'] / r['seconds']:.1f} | {r['timeouts']} | "
                            f"{r['peak'] / MIB:,.0f} | sha256 {r['digest'][:12]} |")
    ratios = [a / b for a in times[1] for b in times[2]]
    lines = ["\n".join(rows), "",
             f"Input: {len(paths)} files, {input_mb:.1f} MB of WARC/ARC, {records} records, {documents} documents "
             f"kept. Warm-up ({os.path.basename(small[0])}, {warm['records']} records): {warm['seconds']:.1f} s, "
             f"the fixed cost of a small job.  ",
             _summary("1 worker", times[1], records, documents) + ".  ",
             _summary("2 workers", times[2], records, documents) + ".  ",
             f"Speed-up (1-worker time / 2-worker time): min/min {min(times[1]) / min(times[2]):.2f}x, median of "
             f"every pair {statistics.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}x).  ",
             f"Cores this session could get (probe before each pair): min {min(probes):.2f}, median "
             f"{statistics.median(probes):.2f}, max {max(probes):.2f}.  ",
             f"Outputs (documents, rejected, errors) equal across all {2 * REPEATS} runs and both worker counts: "
             f"{'yes' if len(digests) == 1 else 'NO (' + str(len(digests)) + ' distinct)'}"
             + (f"; pages dropped as extract `timeout` per run: {timeouts} (the per-page wall limit, extract "
                f"max_seconds, fires under load, so outputs then differ with the machine's load)." if any(timeouts)
                else ".")]
    return "\n".join(lines)
