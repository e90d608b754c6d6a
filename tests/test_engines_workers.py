"""Hostile pages through every extraction engine (the default cascade, trafilatura, resiliparse, rs_trafilatura where
it installs) under `winnow curate --workers 2` (issue 17, item 5).

tests/test_engines.py feeds the hostile pages to the extract decision in this process; here a real curate
run (the CLI, two forked SDK workers, Beam's FnApiRunner) reads them from a WARC written by the test, with the
size and tag caps raised so that every engine itself sees every page and only the per-page time limit
stands between it and a hang. Each page must come out as a kept document, a rejected row or an error row that
names the engine, with report.json balanced: no crash, no lost record, no hang (pytest-timeout below).
"""
from __future__ import annotations

import glob
import io
import json

import pyarrow.parquet as pq
import pytest

from pipelines.ingest.engines import ENGINE_NAMES
from engines_available import require_engine
from test_engines import HOSTILE

# The engine sees every page: caps above the 40 MB line and the 200k-deep nesting, the time limit kept.
RAISED_CAPS = {"max_html_bytes": 64 << 20, "max_tags": 1 << 30, "max_seconds": 10.0}
PLAIN = (b"<html><head><title>Plain</title></head><body><article><p>"
         + b"A plain page that says something readable about rivers and their bridges. " * 8
         + b"</p></article></body></html>")


def _write_warc(path, pages):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, body in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                          http_headers=http))


def _rows(out, folder):
    return [r for f in sorted(glob.glob(str(out / folder / "*.parquet"))) for r in pq.read_table(f).to_pylist()]


@pytest.mark.slow  # ~10 s an engine: a --workers 2 curate over 40 MB of hostile HTML
@pytest.mark.timeout(180)  # a hang fails here instead of holding CI
@pytest.mark.parametrize("engine", ENGINE_NAMES)  # every engine (the default cascade too)
def test_hostile_pages_under_two_workers(engine, tmp_path):
    require_engine(engine)
    from pipelines.cli import main

    pages = [(f"https://example.com/{case}", body) for case, body in sorted(HOSTILE.items())]
    pages.append(("https://example.com/plain", PLAIN))
    warc = tmp_path / "hostile.warc.gz"
    _write_warc(warc, pages)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(json.dumps({"extract": dict(RAISED_CAPS, engine=engine)}))  # JSON is YAML
    out = tmp_path / "out"
    assert main(["curate", "--input", str(warc), "--output", str(out), "--recipe", str(recipe),
                 "--workers", "2"]) == 0

    report = json.loads((out / "report.json").read_text())
    stages = {s["name"]: s for s in report["stages"]}
    for s in report["stages"]:
        assert s["in"] == s["kept"] + sum(s["dropped"].values()) + s["errors"], s
    assert stages["read"]["in"] == len(pages), stages["read"]
    assert stages["extract"]["in"] == stages["read"]["kept"]

    docs, rejected, errors = _rows(out, "documents"), _rows(out, "rejected"), _rows(out, "errors")
    assert len(docs) == stages["extract"]["kept"]
    outcome = {}
    for kind, rows in (("kept", docs), ("rejected", rejected), ("error", errors)):
        for row in rows:
            assert row["url"] not in outcome, f"{row['url']} is both {outcome[row['url']]} and {kind}"
            outcome[row["url"]] = kind
            if kind == "error":
                assert row["error"].startswith(f"{engine}: "), row["error"]
            if kind == "kept":
                assert row["text"].strip()
    assert set(outcome) == {url for url, _ in pages}, f"records not accounted for: {outcome}"
    assert outcome["https://example.com/plain"] == "kept"
    assert sum(1 for k in outcome.values() if k == "rejected") == sum(stages[n]["dropped"].get(r, 0) for n in stages
                                                                     for r in stages[n]["dropped"])
