"""report.json `timings`: where a curate's wall time went (start-up, setup, runner start, read pass, after it).

The read pass is clocked by `ClockPass` at its far end, after the phase files are written. Beam finishes a bundle's
steps from the first to the last, so the reader's own clock, used before, stopped before the steps after it had
flushed what they held (the language stage's batches): on one real WARC the read pass measured 0.3 s while the
quality stage alone had spent 1.6 s inside it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.transforms.counters import format_timings, job_timings

REPO = Path(__file__).resolve().parents[1]
PARTS = ("startup_seconds", "setup_seconds", "before_read_seconds", "read_pass_seconds", "after_read_seconds")


def test_job_timings_split_the_run_at_the_read_pass():
    t = job_timings(100.0, 102.0, 102.5, 110.0, (103.25, 108.0))
    assert t == {"startup_seconds": 2.0, "setup_seconds": 0.5, "run_seconds": 7.5, "before_read_seconds": 0.75,
                 "read_pass_seconds": 4.75, "after_read_seconds": 2.0}
    assert t["before_read_seconds"] + t["read_pass_seconds"] + t["after_read_seconds"] == t["run_seconds"]
    line = format_timings(t, 8.1)
    assert line.startswith("time: 10.1 s: start-up 2.0 (interpreter, imports), setup 0.5")
    assert "read pass 4.8 (read, extract, filters), after it 2.0 (dedup, tables)" in line


def test_job_timings_without_a_process_start_or_a_read_window():
    t = job_timings(None, 102.0, 102.5, 110.0, None)
    assert t["startup_seconds"] is None and t["read_pass_seconds"] is None and t["run_seconds"] == 7.5
    assert format_timings(t, 8.0) == "time: 8.0 s: setup 0.5 (inputs, building the job), run 7.5"


def test_a_read_window_outside_the_run_is_clipped_to_it():
    # a worker's clock that is not the driver's (Dataflow) can put the window before the build or after the end
    t = job_timings(None, 102.0, 102.5, 110.0, (101.0, 111.0))
    assert (t["before_read_seconds"], t["read_pass_seconds"], t["after_read_seconds"]) == (0.0, 7.5, 0.0)


def test_process_started_at_is_when_the_process_started():
    code = ("import time; time.sleep(0.6); from pipelines.cli import process_started_at; "
            "print(time.time() - process_started_at())")
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    elapsed = time.time() - start
    assert proc.returncode == 0, proc.stderr
    age = float(proc.stdout)
    assert 0.6 <= age <= elapsed + 0.05, (age, elapsed)


@pytest.mark.slow  # ~8 s: one curate of a real WARC file as the `winnow` command
@pytest.mark.shared_data
def test_curate_reports_where_its_time_went(shared_data, tmp_path):
    warc = shared_data / "warc" / "web_crawls" / "pywb__iana.warc.gz"
    out = tmp_path / "curated"
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "curate", "--input", str(warc), "--output", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    elapsed = time.time() - start
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((out / "report.json").read_text())
    t = report["timings"]
    assert all(isinstance(t[k], float) and t[k] >= 0 for k in PARTS), t
    assert t["startup_seconds"] > 0 and t["read_pass_seconds"] > 0
    # the parts follow each other: together no longer than the process ran, the job's part within its wall time
    assert t["startup_seconds"] + report["wall_seconds"] <= elapsed
    assert t["setup_seconds"] + t["run_seconds"] <= report["wall_seconds"] + 0.002
    assert abs(t["before_read_seconds"] + t["read_pass_seconds"] + t["after_read_seconds"] - t["run_seconds"]) < 0.005
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["read"]["span_seconds"] == t["read_pass_seconds"]
    # one worker: every stage fused into the read pass ran inside its window, one after another
    fused = sum(stages[name]["seconds"] for name in ("read", "extract", "language", "quality", "code", "pii"))
    assert stages["quality"]["seconds"] > 0.1 and t["read_pass_seconds"] >= fused - 0.01, (t, fused)
    assert f"time: {t['startup_seconds'] + report['wall_seconds']:.1f} s: start-up" in proc.stdout
