"""Argument types shared by the commands' parsers (in schemas, the lowest package: filters, tokenizer and the
pipelines all parse arguments)."""
from __future__ import annotations

import argparse
import math
import os
from typing import Optional


def positive_int(value: str, alternative: str = "") -> int:
    """argparse type of a count that must be at least 1 (`--seq-len 0` is a usage error, not a default);
    `alternative`: what else the option takes, said when the value is not a number."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number{alternative}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not at least 1")
    return number


AUTO = "auto"
# `--workers auto` starts at most one worker per this much available memory: a curate worker on the shared WARC
# files peaks at 0.6-0.9 GiB beside the driver (benchmarks/RESULTS.md `scaling`: 1 worker 441-614 MiB for the
# whole tree, 2 workers 1,124-1,513 MiB).
AUTO_WORKER_BYTES = 1 << 30


class AutoWorkers(int):
    """The worker count `--workers auto` came to; says so where it is printed (`auto (4)`; `{n:d}` gives 4)."""

    def __str__(self) -> str:
        return f"{AUTO} ({int(self)})"


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> Optional[float]:
    """The CPUs a cgroup quota gives this process (a container's `--cpus`): cgroup v2's `cpu.max` or v1's
    `cpu.cfs_quota_us` / `cpu.cfs_period_us` under `root`; None without a quota or where there is none to read."""
    candidates = [("cpu.max", None), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us"),
                  ("cpu,cpuacct/cpu.cfs_quota_us", "cpu,cpuacct/cpu.cfs_period_us")]
    for quota_file, period_file in candidates:
        try:
            with open(os.path.join(root, quota_file), encoding="ascii") as f:
                fields = f.read().split()
            if period_file is not None:
                with open(os.path.join(root, period_file), encoding="ascii") as f:
                    fields = fields[:1] + f.read().split()[:1]
        except OSError:
            continue
        try:
            quota, period = (None if fields[0] == "max" else int(fields[0])), int(fields[1])
        except (IndexError, ValueError):
            continue
        if quota is None or quota <= 0 or period <= 0:  # "max" (v2) or -1 (v1): no quota
            return None
        return quota / period
    return None


def available_memory_bytes() -> Optional[int]:
    """MemAvailable of /proc/meminfo (Linux), None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def usable_cores(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """The cores this process may run on: its CPU affinity (taskset, a cpuset), lowered to a cgroup CPU quota
    rounded up; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


def workers_for(cores: int, memory: Optional[int]) -> AutoWorkers:
    """One worker per core, at most one per AUTO_WORKER_BYTES of `memory` (None: unknown, no bound); at least 1."""
    if memory is not None:
        cores = min(cores, memory // AUTO_WORKER_BYTES)
    return AutoWorkers(max(1, cores))


def auto_workers() -> AutoWorkers:
    """What `--workers auto` comes to here: workers_for(usable cores, available memory)."""
    return workers_for(usable_cores(), available_memory_bytes())


def worker_count(value: str) -> int:
    """argparse type of `--workers`: a count of at least 1, or `auto` (auto_workers())."""
    if value.strip().lower() == AUTO:
        return auto_workers()
    return positive_int(value, alternative=f" (or {AUTO})")


def fraction_over_zero(value: str) -> float:
    """argparse type of a share in (0, 1] (`--sample-rate 50` is a usage error, not 1)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not within (0, 1]")
    return number


def port_number(value: str) -> int:
    """argparse type of a TCP port, 0 (any free port) to 65535 (`--docs-port 70000` failed at bind)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port (0 to 65535)")
    return number


SEED_MAX = 2 ** 63 - 1
FASTTEXT_SEED_MAX = 2 ** 31 - 1  # fastText's seed is a C int


def _seed(value: str, maximum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 0 <= number <= maximum:
        raise argparse.ArgumentTypeError(f"{number} is not a seed (0 to {maximum:,})")
    return number


def seed_number(value: str) -> int:
    """argparse type of a seed, 0 to 2**63-1: numpy's generators refuse a negative seed, which `train --seed -1`
    reached only after loading the shards, with numpy's words and no option named."""
    return _seed(value, SEED_MAX)


def fasttext_seed(value: str) -> int:
    """argparse type of a fastText seed, 0 to 2**31-1 (a larger one was a TypeError traceback from fastText)."""
    return _seed(value, FASTTEXT_SEED_MAX)
