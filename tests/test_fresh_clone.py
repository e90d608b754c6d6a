"""A newcomer's first command: `bash dev.sh run` is `winnow run` with its default, relative `--output out`,
started from wherever the user stands. The other end-to-end tests pass absolute temporary paths, which hid a
docs-site render that wrote to out/site/out/site/ when the path was relative."""
from __future__ import annotations

import os
from pathlib import Path

from pipelines.demo.docsite import render_python_docs


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

# The run itself from a fresh directory with no options is tests/test_run.py's shared `fresh_run` (one whole chain
# for all the end-to-end checks).
