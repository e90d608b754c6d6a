"""What several benchmarks share: peers in their own virtualenvs, one-machine union-find, a process's peak memory.

`ensure_venv(name, requirements)` creates `.bench/<name>-venv` once (from the package registries only) and
returns its python; benchmarks then run a peer there as a subprocess on the same inputs (datatrove pins
trafilatura 1.11, which must not meet ours). `union_find` is the single-machine dedup the quality and scale
benchmarks compare against; `peak_rss_mb` is the memory figure the benchmarks and `tests/memory.py` report.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, ".bench")

# datatrove for parity and speed comparisons: its extras omit spacy, which its English word tokenizer needs.
DATATROVE_REQUIREMENTS = ["datatrove[processing]", "spacy", "fasttext-numpy2", "orjson", "pyarrow", "aiohttp"]


def ensure_venv(name: str, requirements: list) -> str:
    venv = os.path.join(BENCH_DIR, f"{name}-venv")
    python = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, ".requirements")
    wanted = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    if os.path.exists(python) and os.path.exists(stamp) and open(stamp).read() == wanted:
        return python
    os.makedirs(BENCH_DIR, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements], check=True)
    with open(stamp, "w") as f:
        f.write(wanted)
    return python


def union_find(n: int, pairs, key=None):
    """Connected components of `pairs` over 0..n-1, the way one dedups on one machine: each element's root is
    its component's smallest element (by `key`, default the index)."""
    key = key or (lambda i: i)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in pairs:
        a, b = find(i), find(j)
        if a != b:
            keep, drop = (a, b) if key(a) <= key(b) else (b, a)
            parent[drop] = keep
    return [find(i) for i in range(n)]


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB: VmHWM of its own address space. Not `ru_maxrss`: Linux
    carries that across exec from the forked copy of the parent, so a child started by a large process
    (one that already ran another benchmark) would report the parent's size as its own floor."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
