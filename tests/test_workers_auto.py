"""`--workers auto`: one worker per core this process may use (CPU affinity, cgroup quota), at most one per GiB of
available memory; refused with another runner as a number above 1 is."""
from __future__ import annotations

import json
import os

import pytest

from schemas.arguments import (AUTO_WORKER_BYTES, AutoWorkers, auto_workers, cgroup_cpu_limit, usable_cores,
                               worker_count, workers_for)
from tests.clirun import winnow


def winnow_in_process(capsys, *args):
    """(exit status, stdout, stderr) of `winnow ARGS` in this process, argparse's usage errors included."""
    try:
        return winnow(capsys, *args)
    except SystemExit as exc:
        return exc.code, "", capsys.readouterr().err


def _cgroup(root, **files):
    for name, text in files.items():
        path = root / name.replace("__", "/").replace("_comma_", ",")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


def test_cgroup_quota_v2_and_v1(tmp_path):
    assert cgroup_cpu_limit(_cgroup(tmp_path / "v2", **{"cpu.max": "150000 100000\n"})) == 1.5
    assert cgroup_cpu_limit(_cgroup(tmp_path / "v2max", **{"cpu.max": "max 100000\n"})) is None
    assert cgroup_cpu_limit(_cgroup(tmp_path / "v1", **{"cpu__cpu.cfs_quota_us": "50000\n",
                                                        "cpu__cpu.cfs_period_us": "100000\n"})) == 0.5
    assert cgroup_cpu_limit(_cgroup(tmp_path / "v1none", **{"cpu__cpu.cfs_quota_us": "-1\n",
                                                            "cpu__cpu.cfs_period_us": "100000\n"})) is None
    assert cgroup_cpu_limit(_cgroup(tmp_path / "v1acct", **{"cpu_comma_cpuacct__cpu.cfs_quota_us": "300000\n",
                                                            "cpu_comma_cpuacct__cpu.cfs_period_us": "100000\n"})) == 3
    assert cgroup_cpu_limit(_cgroup(tmp_path / "junk", **{"cpu.max": "lots\n"})) is None
    assert cgroup_cpu_limit(str(tmp_path / "absent")) is None


def test_usable_cores_is_the_affinity_lowered_to_the_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(str(tmp_path / "absent")) == affinity
    assert usable_cores(_cgroup(tmp_path / "half", **{"cpu.max": "50000 100000"})) == 1  # 0.5 CPU: one core
    assert usable_cores(_cgroup(tmp_path / "big", **{"cpu.max": "6400000 100000"})) == affinity  # 64 CPUs: affinity
    assert usable_cores(_cgroup(tmp_path / "some", **{"cpu.max": "150000 100000"})) == min(affinity, 2)


def test_auto_workers_are_cores_bounded_by_memory():
    assert workers_for(8, 3 * AUTO_WORKER_BYTES + 1) == 3
    assert workers_for(2, 64 * AUTO_WORKER_BYTES) == 2
    assert workers_for(8, AUTO_WORKER_BYTES // 2) == 1  # always at least one
    assert workers_for(4, None) == 4  # memory unknown (not Linux): cores alone
    count = worker_count("auto")
    assert isinstance(count, AutoWorkers) and count == auto_workers() >= 1
    assert str(count) == f"auto ({int(count)})" and f"{count:d}" == str(int(count))
    assert json.dumps({"workers": count}) == f'{{"workers": {int(count)}}}'
    assert worker_count("3") == 3 and not isinstance(worker_count("3"), AutoWorkers)


@pytest.mark.parametrize("command", [["curate", "-i", "x.jsonl", "-o", "o"],
                                     ["export", "shards", "--format", "llmc", "--output", "o"]])
def test_auto_is_the_only_word_workers_take(capsys, command):
    code, _, err = winnow_in_process(capsys, *command, "--workers", "all")
    assert code == 2 and "--workers: 'all' is not a whole number (or auto)" in err, err


def test_auto_with_another_runner_is_refused_whatever_it_comes_to(tmp_path, capsys):
    docs = tmp_path / "in.jsonl"
    docs.write_text('{"text": "one document"}\n')
    code, _, err = winnow_in_process(capsys, "curate", "--input", str(docs), "--output", str(tmp_path / "out"),
                                     "--workers", "auto", "--runner", "DirectRunner")
    assert code == 1 and "--workers auto (" in err and "does nothing with --runner DirectRunner" in err, err
    assert not (tmp_path / "out").exists()


def test_curate_with_auto_workers_writes_what_one_worker_writes(tmp_path, capsys):
    from benchmarks.bench_workers import _curate_digest

    docs = tmp_path / "in.jsonl"
    words = "the quick brown fox jumps over the lazy dog while a careful reader counts every word of it".split()
    with docs.open("w") as f:
        for i in range(120):
            f.write(json.dumps({"id": f"d{i}", "text": " ".join(words[(i + j) % len(words)] for j in range(80)) +
                                f". Document number {i} ends here."}) + "\n")
    outs = {}
    for workers in ("1", "auto"):
        out = tmp_path / f"out-{workers}"
        code, _, err = winnow_in_process(capsys, "curate", "--input", str(docs), "--output", str(out),
                                         "--workers", workers)
        assert code == 0, err
        outs[workers] = _curate_digest(str(out))
        report = json.loads((out / "report.json").read_text())
        assert report["stages"][0]["in"] == 120
    assert outs["auto"] == outs["1"]
