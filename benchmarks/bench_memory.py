"""Peak memory of `winnow curate` per byte of input text: the default recipe (pipelines/recipes/default.yaml),
`--workers 1`, on JSONL prose of ~600 words per document, at several corpus sizes. Peer: the same benchmark on
an earlier commit (74a550c, the data flow before the phases; the README's memory table keeps its figures).

Corpus: `benchmarks.bench_dedup_scale.corpus(n)` -- real Project Gutenberg sentences cut into documents of
log-normal length (median 480 words, ~600 on average), 30 % of them in near-duplicate clusters with a power-law
size law -- written as one JSONL file of {"id", "text"} lines (ids as `bench_dedup_scale` makes them).
Sizes: `SIZES` documents, or the comma-separated list in the environment variable WINNOW_BENCH_MEMORY_SIZES
(e.g. `WINNOW_BENCH_MEMORY_SIZES=20000,100000 python -m benchmarks memory`).

Each size runs `winnow curate --input FILE --output DIR --workers 1` as a subprocess (of this checkout:
PYTHONPATH is this repository) and polls /proc every 0.2 s for the whole process tree (the command and every
descendant, found through each process's parent id). Peak tree RSS = the sum over all processes ever seen of
each one's VmHWM (its own resident high-water mark, from /proc/PID/status, the largest value read before it
exited): an upper bound on the tree's true simultaneous peak (processes that peak at different moments are
added, and pages a forked child shares with its parent count in both), never an underestimate, except growth
in the last 0.2 s of a process's life. The second figure, max sum RSS, is the largest sum of the tree's VmRSS
at one poll (a lower bound: it can miss a peak between polls). Wall seconds include the job's start-up.

Fit (computed, not measured): least squares peak = base + slope x text bytes over the sizes run; slope is the
bytes of memory per byte of input text beyond a fixed base (the issue's target: slope <= 2), and the ceiling
is the text a `MACHINE_GIB` GiB machine could curate before the line reaches its memory: (memory - base) /
slope, also in documents at the corpus's mean bytes per document.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (20000, 100000, 400000)
SIZES_ENV = "WINNOW_BENCH_MEMORY_SIZES"
POLL_SECONDS = 0.2
MACHINE_GIB = 24
MIB = 2 ** 20


# ---------------------------------------------------------------------------------------------- process tree

def _stat(pid: int):
    """(parent pid, start time in clock ticks) of `pid` from /proc/PID/stat, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 (state) is fields[0]
    return int(fields[1]), int(fields[19])        # field 4 ppid, field 22 starttime


def _memory_kb(pid: int):
    """(VmHWM, VmRSS) of `pid` in kB, or None when it is gone or a zombie (no address space left)."""
    hwm = rss = None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        return None
    return None if hwm is None or rss is None else (hwm, rss)


def descendants(root: int) -> list:
    """`root` and every process below it, as (pid, start time) so that a reused pid is a new process."""
    children = defaultdict(list)
    started = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _stat(int(name))
            if stat is not None:
                children[stat[0]].append(int(name))
                started[int(name)] = stat[1]
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in started:
            out.append((pid, started[pid]))
        todo += children.get(pid, [])
    return out


class TreeMemory:
    """Memory of a process tree, sampled: each process's largest VmHWM and the largest sum of VmRSS at one poll."""

    def __init__(self, root: int):
        self.root = root
        self.hwm_kb = {}          # (pid, start) -> largest VmHWM read
        self.max_rss_sum_kb = 0

    def sample(self) -> None:
        rss_sum = 0
        for key in descendants(self.root):
            memory = _memory_kb(key[0])
            if memory is None:
                continue
            self.hwm_kb[key] = max(self.hwm_kb.get(key, 0), memory[0])
            rss_sum += memory[1]
        self.max_rss_sum_kb = max(self.max_rss_sum_kb, rss_sum)

    @property
    def peak_bytes(self) -> int:
        """Sum over the tree's processes of each one's own peak (VmHWM)."""
        return 1024 * sum(self.hwm_kb.values())

    @property
    def max_rss_sum_bytes(self) -> int:
        return 1024 * self.max_rss_sum_kb

    @property
    def processes(self) -> int:
        return len(self.hwm_kb)


def watch(process: subprocess.Popen, interval: float = POLL_SECONDS) -> TreeMemory:
    """Poll `process`'s tree every `interval` seconds until it exits; returns what was seen."""
    tree = TreeMemory(process.pid)
    while process.poll() is None:
        tree.sample()
        time.sleep(interval)
    return tree


# ---------------------------------------------------------------------------------------------- fit

def fit_line(xs, ys):
    """Least-squares (intercept, slope) of ys over xs; None with fewer than two distinct xs."""
    n = len(xs)
    if n < 2 or len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def ceiling_bytes(base: float, slope: float, memory_bytes: float) -> float:
    """Input text at which base + slope x text reaches `memory_bytes` (inf when memory does not grow)."""
    return float("inf") if slope <= 0 else max(0.0, (memory_bytes - base) / slope)


# ---------------------------------------------------------------------------------------------- runs

def sizes() -> list:
    value = os.environ.get(SIZES_ENV, "").strip()
    if not value:
        return list(SIZES)
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"{SIZES_ENV}={value!r}: give document counts separated by commas, e.g. 20000,100000")
    if not out or min(out) < 1:
        raise SystemExit(f"{SIZES_ENV}={value!r}: give positive document counts, e.g. 20000,100000")
    return out


def write_corpus(n: int, path: str) -> int:
    """The `n`-document corpus as JSONL {"id", "text"} at `path`; returns its text bytes (UTF-8)."""
    from benchmarks.bench_dedup_scale import SEED, _doc_id, corpus

    texts = corpus(n)[0]
    text_bytes = 0
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            text_bytes += len(text.encode("utf-8"))
            f.write(json.dumps({"id": _doc_id(SEED, i), "text": text}) + "\n")
    del texts
    gc.collect()
    return text_bytes


def winnow() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "winnow")
    return beside if os.path.exists(beside) else os.path.join(ROOT, ".venv", "bin", "winnow")


def curate_tree(inputs, output_dir: str, log_path: str, workers: int = 1, recipe: Optional[str] = None) -> dict:
    """Run `winnow curate` on `inputs` (a path or a list of them) as a subprocess of this checkout; its wall
    time and tree memory. Its output goes to `log_path`, whose tail is in the error when it fails."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    paths = [inputs] if isinstance(inputs, str) else list(inputs)
    command = [winnow(), "curate", "--input", *paths, "--output", output_dir, "--workers", str(workers)]
    if recipe:
        command += ["--recipe", recipe]
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        tree = watch(process)
        seconds = time.perf_counter() - start
    if process.returncode != 0:
        with open(log_path, "rb") as f:
            tail = f.read()[-3000:].decode("utf-8", "replace")
        raise RuntimeError(f"{' '.join(command[:3])} ... exited {process.returncode}:\n{tail}")
    return {"seconds": seconds, "peak": tree.peak_bytes, "rss_sum": tree.max_rss_sum_bytes,
            "processes": tree.processes}


def _measure(n: int, root: str) -> dict:
    path = os.path.join(root, f"prose-{n}.jsonl")
    start = time.perf_counter()
    text_bytes = write_corpus(n, path)
    print(f"memory: {n} documents, {text_bytes / 1e6:.1f} MB of text written in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    out = os.path.join(root, f"out-{n}")
    result = curate_tree(path, out, os.path.join(root, f"curate-{n}.log"))
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    result.update(n=n, text_bytes=text_bytes, kept=report.get("outputs", {}).get("documents"))
    print(f"memory: {n} documents: {result['seconds']:.0f} s, peak tree {result['peak'] / MIB:.0f} MiB", flush=True)
    os.remove(path)
    shutil.rmtree(out, ignore_errors=True)
    return result


def run() -> str:
    rows = ["| documents | text MB | wall s | documents/s | peak tree RSS MiB (sum of VmHWM) | max sum RSS MiB | "
            "processes | memory / text | documents kept |", "|---|---|---|---|---|---|---|---|---|"]
    results = []
    with tempfile.TemporaryDirectory(prefix="winnow-bench-memory-") as root:
        for n in sizes():
            r = _measure(n, root)
            results.append(r)
            rows.append(f"| {n:,} | {r['text_bytes'] / 1e6:.1f} | {r['seconds']:.0f} | {n / r['seconds']:.0f} | "
                        f"{r['peak'] / MIB:,.0f} | {r['rss_sum'] / MIB:,.0f} | {r['processes']} | "
                        f"{r['peak'] / r['text_bytes']:.1f} | {r['kept']} |")
    lines = ["\n".join(rows), ""]
    fit = fit_line([r["text_bytes"] for r in results], [r["peak"] for r in results])
    if fit is None:
        lines.append("Fit: needs at least two sizes.")
    else:
        base, slope = fit
        memory = MACHINE_GIB * 2 ** 30
        ceiling = ceiling_bytes(base, slope, memory)
        per_doc = sum(r["text_bytes"] for r in results) / sum(r["n"] for r in results)
        rss_fit = fit_line([r["text_bytes"] for r in results], [r["rss_sum"] for r in results])
        lines.append(f"Fit over {len(results)} sizes: peak tree RSS = {base / MIB:,.0f} MiB + {slope:.2f} x text "
                     f"bytes (target slope <= 2: {'met' if slope <= 2 else 'MISSED'}); max sum RSS: "
                     f"{rss_fit[0] / MIB:,.0f} MiB + {rss_fit[1]:.2f} x text bytes.  ")
        lines.append(f"Ceiling of a {MACHINE_GIB} GiB machine (extrapolated from the fit): "
                     + ("no growth with input" if ceiling == float("inf") else
                        f"{ceiling / 1e9:,.1f} GB of text, ~{ceiling / per_doc / 1e6:,.2f} million documents of "
                        f"{per_doc / 1e3:.1f} KB") + ".")
        if len(results) > 2:
            steps = [f"{a['n']:,}->{b['n']:,}: {(b['peak'] - a['peak']) / (b['text_bytes'] - a['text_bytes']):.2f}"
                     for a, b in zip(results, results[1:])]
            lines[-1] += "  \nMarginal bytes of memory per byte of text between sizes: " + ", ".join(steps) + "."
    return "\n".join(lines)
