"""The pure parts of benchmarks/bench_memory.py: the process-tree memory sampler on a real tree of processes
(a child that holds 60 MiB and a grandchild that holds 40 MiB), the line fit and the ceiling, the sizes variable."""
import os
import subprocess
import sys

import pytest

from benchmarks import bench_memory as bm

MIB = 2 ** 20

# A child that fills 60 MiB, starts a grandchild that fills 40 MiB, and both hold it ~1.5 s before exiting.
_CHILD = """
import subprocess, sys, time
held = b"\\x01" * (60 * 2 ** 20)
grandchild = subprocess.Popen([sys.executable, "-c",
                               "import time; held = b'\\\\x02' * (40 * 2 ** 20); time.sleep(1.5)"])
time.sleep(1.5)
grandchild.wait()
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_tree_memory_sums_every_descendants_own_peak():
    process = subprocess.Popen([sys.executable, "-c", _CHILD])
    tree = bm.watch(process, interval=0.05)
    assert process.returncode == 0
    pids = {pid for pid, _start in tree.hwm_kb}
    assert process.pid in pids and os.getpid() not in pids
    assert tree.processes >= 2                       # the grandchild was found through its parent
    assert tree.peak_bytes >= 100 * MIB              # both processes' own peaks are in the sum
    assert tree.peak_bytes < 400 * MIB               # and nothing beyond the tree (this test process)
    assert 100 * MIB <= tree.max_rss_sum_bytes <= tree.peak_bytes  # held at the same time; sum of peaks bounds it


def test_descendants_of_a_process_without_children_is_itself():
    assert [pid for pid, _ in bm.descendants(os.getpid())][:1] == [os.getpid()]
    assert bm.descendants(2 ** 22 + 12345) == []     # no such pid (above the kernel's pid_max)


def test_fit_line_and_ceiling():
    xs = [17.5e6, 70e6, 280e6]
    base, slope = bm.fit_line(xs, [500e6 + 17 * x for x in xs])
    assert base == pytest.approx(500e6) and slope == pytest.approx(17)
    assert bm.ceiling_bytes(base, slope, 24 * 2 ** 30) == pytest.approx((24 * 2 ** 30 - 500e6) / 17)
    assert bm.fit_line([1.0], [2.0]) is None and bm.fit_line([1.0, 1.0], [2.0, 3.0]) is None
    assert bm.ceiling_bytes(1e9, 0.0, 24 * 2 ** 30) == float("inf")
    base, slope = bm.fit_line([1, 2, 3], [2, 4, 5])  # least squares, not a line through two points
    assert slope == pytest.approx(1.5) and base == pytest.approx(2 / 3)


def test_sizes_from_the_environment(monkeypatch):
    monkeypatch.delenv(bm.SIZES_ENV, raising=False)
    assert bm.sizes() == [20000, 100000, 400000]
    monkeypatch.setenv(bm.SIZES_ENV, "5000, 20000")
    assert bm.sizes() == [5000, 20000]
    monkeypatch.setenv(bm.SIZES_ENV, "20k")
    with pytest.raises(SystemExit, match="document counts"):
        bm.sizes()
