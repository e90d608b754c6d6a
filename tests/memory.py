"""Peak memory of a child process, for tests that bound it.

`resource.getrusage(...).ru_maxrss` cannot measure a child: Linux carries the high-water mark of the address
space an exec replaces into the new program's ru_maxrss, and a child started by pytest (fork, or vfork sharing
pytest's own memory) starts from pytest's peak, however little it uses itself. VmHWM in /proc/<pid>/status
belongs to the address space the exec created, so it is the child's own peak. `run_python` runs code in a fresh
interpreter that records its VmHWM at exit with the benchmarks' `peak_rss_mb` (one definition for both).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs argv[2] as __main__ with the rest of argv as its arguments, and writes its VmHWM (MiB) to argv[1] at
# exit, after everything the code did, teardown included.
_WRAPPER = r"""
import atexit, sys
from benchmarks.harness import peak_rss_mb
peak_file, code = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
def _record():
    with open(peak_file, "w") as f:
        f.write(repr(peak_rss_mb()))
atexit.register(_record)
exec(compile(code, "<child>", "exec"), sys.modules["__main__"].__dict__)
"""


def run_python(code: str, args: Sequence[str] = (), timeout: float = 300,
               cwd: Path = REPO) -> Tuple[subprocess.CompletedProcess, float]:
    """Run `code` with `args` in a new interpreter; returns the finished process and its own peak RSS in MiB.
    Fails the test (with the child's stderr) when the child did not exit normally."""
    if not os.path.exists(f"/proc/{os.getpid()}/status"):
        pytest.skip("peak memory is read from /proc/<pid>/status (VmHWM), which this system does not have")
    fd, peak_file = tempfile.mkstemp(prefix="winnow-peak-")
    os.close(fd)
    try:
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, peak_file, code, *map(str, args)], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"child exited {proc.returncode}:\n{proc.stderr[-4000:]}"
        with open(peak_file) as f:
            recorded = f.read()
        assert recorded, f"child exited without recording its peak memory:\n{proc.stderr[-2000:]}"
        return proc, float(recorded)
    finally:
        os.unlink(peak_file)
