"""benchmarks/RESULTS.md holds one current table per benchmark, benchmarks/HISTORY.md every run.

`benchmarks.results.record` on a temporary copy of both files: a run replaces its benchmark's marked section
(and only that one) and appends the same section to the history.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from benchmarks import results


def _section(name, stamp, table):
    return results.section_text(name, stamp, "2 cores (test), 1 GiB, Python 3, Linux", f"python -m benchmarks {name}",
                                "What it measures.", table)


def _sections_of(text, name):
    return re.findall(rf"<!-- bench:{name} -->\n(.*?)<!-- /bench:{name} -->", text, re.S)


def test_a_second_run_replaces_the_current_table_and_both_stay_in_the_history(tmp_path):
    res, hist = tmp_path / "RESULTS.md", tmp_path / "HISTORY.md"
    shutil.copy(results.RESULTS, res)
    shutil.copy(results.HISTORY, hist)
    before = res.read_text(encoding="utf-8")
    history_before = hist.read_text(encoding="utf-8")
    first = _section("fake", "2030-01-01 00:00", "| n | s |\n|---|---|\n| 1 | 1.0 |")
    second = _section("fake", "2030-01-02 00:00", "| n | s |\n|---|---|\n| 1 | 2.0 |")

    results.record("fake", first, str(res), str(hist))
    results.record("fake", second, str(res), str(hist))

    after = res.read_text(encoding="utf-8")
    assert _sections_of(after, "fake") == [second]
    # every other benchmark's section is untouched, in name order
    assert re.sub(r"<!-- bench:fake -->\n.*?<!-- /bench:fake -->\n\n?", "", after, flags=re.S) == before
    names = re.findall(r"<!-- bench:(\w+) -->", after)
    assert names == sorted(names)
    history = hist.read_text(encoding="utf-8")
    assert history.startswith(history_before)
    assert history[len(history_before):] == "\n" + first + "\n" + second


def test_first_run_of_a_new_results_file_starts_both_files(tmp_path):
    res, hist = tmp_path / "RESULTS.md", tmp_path / "HISTORY.md"
    results.record("b", _section("b", "2030-01-01 00:00", "| b |"), str(res), str(hist))
    results.record("a", _section("a", "2030-01-01 00:01", "| a |"), str(res), str(hist))
    text = res.read_text(encoding="utf-8")
    assert text.startswith(results.RESULTS_HEADER)
    assert re.findall(r"<!-- bench:(\w+) -->", text) == ["a", "b"]
    history = hist.read_text(encoding="utf-8")
    assert history.startswith(results.HISTORY_HEADER)
    assert re.findall(r"^## (\w+) ", history, re.M) == ["b", "a"]


def test_checked_in_results_hold_the_newest_section_of_each_benchmark_in_the_history():
    current = Path(results.RESULTS).read_text(encoding="utf-8")
    history = Path(results.HISTORY).read_text(encoding="utf-8")
    sections = re.split(r"\n(?=## \w+ \()", history)[1:]
    newest = {}
    for s in sections:
        newest[re.match(r"## (\w+) ", s).group(1)] = s.strip() + "\n"
    assert sorted(newest) == re.findall(r"<!-- bench:(\w+) -->", current)
    for name, s in newest.items():
        (section,) = _sections_of(current, name)
        # heading (name, date) and table rows; descriptions may since have been reworded (a module moved)
        assert _heading_and_rows(section) == _heading_and_rows(s)


def _heading_and_rows(section):
    lines = section.splitlines()
    return [lines[0]] + [line for line in lines if line.startswith("|")]
