"""A newcomer's first command: `bash dev.sh run` is `winnow run` with its default, relative `--output out`,
started from wherever the user stands. The other end-to-end tests pass absolute temporary paths, which hid a
docs-site render that wrote to out/site/out/site/ when the path was relative."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.demo.docsite import render_python_docs

WINNOW = Path(sys.executable).parent / "winnow"  # the console script of whichever venv runs the tests


def test_docs_site_renders_into_a_relative_directory_from_any_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A module named like a documented one, where the user stands, must not replace the stdlib's on the site.
    (tmp_path / "json.py").write_text("raise SystemExit('the working directory was on the render path')\n")
    written = render_python_docs(os.path.join("out", "site"), ("abc", "json"))
    site = tmp_path / "out" / "site"
    assert sorted(Path(p) for p in written) == sorted(
        site / name for name in ("abc.html", "json.html", "index.html", "robots.txt", "private/notes.html"))
    assert not (site / "out").exists()
    assert "JSONDecoder" in (site / "json.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_winnow_run_with_no_output_option_from_a_fresh_directory(tmp_path):
    # Exactly what `bash dev.sh run` does, from an empty directory outside the checkout: no options at all, so
    # the output is the default relative `out` (this one run covers both "relative --output" and "no --output").
    assert WINNOW.exists(), f"no winnow console script beside {sys.executable}: install with `bash dev.sh setup`"
    proc = subprocess.run([str(WINNOW), "run"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"winnow run exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = tmp_path / "out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "winnow run wrote outside its output directory"
    summary = json.loads((out / "run.json").read_text())
    assert summary["output"] == str(out)
    for name, path in summary["outputs"].items():
        assert path and Path(path).is_relative_to(out) and os.path.exists(path), (name, path)
        assert path in proc.stdout, f"{name} location not printed"
    assert (out / "site" / "index.html").is_file() and not (out / "site" / "out").exists()
    assert summary["documents"] > 0 and summary["sequences"] > 0
    assert summary["loss"]["final"] < summary["loss"]["first"]
