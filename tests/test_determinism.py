"""Determinism end to end (issue #11): the chain `winnow run` runs on its embedded default (crawl -> curate with
the default recipe plus the held-out docstrings' decontaminate stage -> tokenizer -> tokenize of the two-source
mixture), once with --workers 1 and once with --workers 2, gives the same documents (ids and texts), the same
rejections (and which copy a duplicate lost to), the same tokenizer and byte-identical token shards and manifest
(which must not name the chain's own directory: the two chains write to different ones).

The same steps as pipelines/demo/run.py's run_chain, with its helpers (held-out docstrings, decontamination,
DEMO_MIXTURE), on a smaller embedded default: a few pydoc pages served on loopback and a slice of the standard
library that keeps a real near-duplicate population (codec tables, for MinHash) and gains one planted exact copy
(for exact dedup's choice of the kept copy); the mixture's budget is scaled to it so that, as in `winnow run`,
the docs repeat and the code is subsampled. Each chain crawls, curates, trains and tokenizes on its own; only
the site and the code directory are shared, so URLs and code ids cannot differ for reasons other than the chain.
The CPU training run at the end of `winnow run` reads the shards and writes nothing these compare; the whole
`winnow run` is checked by tests/test_run.py."""
from __future__ import annotations

import glob
import os
import shutil
import sysconfig
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.demo.docsite import render_python_docs, serve_directory
from pipelines.demo.run import DEMO_MIXTURE, HELD_OUT_MODULES, with_decontamination, write_held_out_docstrings
from pipelines.jobs.crawl import run_crawl
from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import load_recipe
from pipelines.jobs.tokenize import run_tokenize
from tokenizer.train import train_tokenizer

pytestmark = pytest.mark.slow  # ~25-60 s (idle-loaded 2 cores): two small chains, the second on two forked workers

PAGES = ("textwrap", "heapq", "bisect", "colorsys", "fnmatch")
TOP_LEVEL = ("heapq.py", "bisect.py") + tuple(m + ".py" for m in HELD_OUT_MODULES)  # held-out docstrings' modules
CODEC_TABLES = 30  # encodings/cp*.py: near-identical codec tables, the near-duplicates MinHash clusters
# DEMO_MIXTURE's shares, on a budget for ~5k tokens of docs and ~200k of code: docs ~4 epochs, code ~0.15
MIXTURE_TOKENS = 50_000


@pytest.fixture(scope="module")
def sources(tmp_path_factory, lid_model_file):
    """(site URL, code directory): pydoc pages served on loopback for the module, and the code corpus."""
    root = tmp_path_factory.mktemp("determinism")
    render_python_docs(str(root / "site"), PAGES)
    stdlib = sysconfig.get_paths()["stdlib"]
    code = root / "code"
    files = [os.path.join(stdlib, f) for f in TOP_LEVEL] + sorted(glob.glob(os.path.join(stdlib, "encodings", "cp*.py")))[:CODEC_TABLES]
    for f in files:
        target = code / os.path.relpath(f, stdlib)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    (code / "vendored").mkdir()
    shutil.copyfile(code / "heapq.py", code / "vendored" / "heapq.py")  # exact dedup keeps one of the two
    base_url, stop = serve_directory(str(root / "site"))
    yield base_url, code
    stop()


def _parquet_rows(directory: str, columns):
    return sorted(tuple(r[c] for c in columns) for f in sorted(glob.glob(os.path.join(directory, "*.parquet")))
                  for r in pq.read_table(f, columns=list(columns)).to_pylist())


def _chain(out: Path, workers: int, base_url: str, code: Path):
    """run_chain's steps on the small default: what each step wrote that the other chain must reproduce."""
    run_crawl([base_url + "index.html"], str(out / "crawl"), max_pages=len(PAGES) + 5, delay=0.02,
              workers=workers, allow_private=True)
    held_out = write_held_out_docstrings(str(code), str(out / "benchmark" / "stdlib_docstrings.jsonl"))
    report = run_curate([str(out / "crawl" / "*.warc.gz"), "code:" + str(code)], str(out / "curated"),
                        with_decontamination(load_recipe(None), held_out), workers=workers)
    train_tokenizer(str(out / "curated"), 1024, str(out / "tokenizer"), seed=0)
    mixture = out / "mixture.yaml"  # inputs relative to it, as write_demo_mixture writes them
    mixture.write_text(yaml.safe_dump({**DEMO_MIXTURE, "total_tokens": MIXTURE_TOKENS}, sort_keys=False))
    manifest = run_tokenize(None, str(out / "tokenizer"), str(out / "shards"), 128, seed=0, workers=workers,
                            mixture=str(mixture))
    shards = out / "shards"
    return {
        "documents": _parquet_rows(str(out / "curated" / "documents"), ("id", "text")),
        "rejected": _parquet_rows(str(out / "curated" / "rejected"), ("id", "stage", "reason", "duplicate_of")),
        "errors": sum(s.errors for s in report.stages),
        "tokenizer": (out / "tokenizer" / "tokenizer.json").read_bytes(),
        "mixture": manifest.mixture,
        "shards": {p.name: p.read_bytes() for p in sorted(shards.iterdir()) if p.name.startswith("shard-")},
        "manifest": (shards / "manifest.json").read_bytes(),
    }


def test_chain_is_deterministic_across_worker_counts(sources, tmp_path):
    base_url, code = sources
    one = _chain(tmp_path / "w1", 1, base_url, code)
    two = _chain(tmp_path / "w2", 2, base_url, code)
    # the small default still exercises what could differ: both sources kept, both dedups choosing a copy
    ids = [d[0] for d in one["documents"]]
    assert any(i.startswith("code:") for i in ids) and any(not i.startswith("code:") for i in ids), ids
    reasons = {(r[1], r[2]) for r in one["rejected"]}
    assert any(stage == "dedup_exact" for stage, _ in reasons), reasons
    assert any(stage == "dedup_minhash" for stage, _ in reasons), reasons
    assert any(stage == "decontaminate" for stage, _ in reasons), reasons
    epochs = {s["name"]: s["epochs"] for s in one["mixture"]["sources"]}
    assert epochs["docs"] > 1 > epochs["code"], epochs  # a repeated source and a subsampled one
    assert one["shards"] and b'"input": "curated"' in one["manifest"]  # as the mixture file names it

    assert ids == [d[0] for d in two["documents"]]
    assert one["documents"] == two["documents"]
    assert one["rejected"] == two["rejected"]
    assert one["errors"] == two["errors"] == 0
    assert one["tokenizer"] == two["tokenizer"]
    assert sorted(one["shards"]) == sorted(two["shards"])
    for name in one["shards"]:
        assert one["shards"][name] == two["shards"][name], name
    assert one["manifest"] == two["manifest"]


@pytest.mark.shared_data
def test_curate_shares_big_archives_between_workers(shared_data, tmp_path, monkeypatch):
    """Two big real archives read by two workers that claim records as they get free (readers.RecordClaims):
    the same documents, rejections and stage counts as one worker, and no claim file is left behind."""
    import json
    import tempfile

    from pipelines.ingest.readers import SHARD_MIN_BYTES

    crawls = shared_data / "warc" / "web_crawls"
    inputs = [str(crawls / "aut__IAH-archive.org-2008__example.warc.gz"), str(crawls / "pywb__iana.warc.gz")]
    assert all(os.path.getsize(p) >= SHARD_MIN_BYTES for p in inputs)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the claim files go
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        run_curate(inputs, str(out), load_recipe(None), workers=workers)
        report = json.loads((out / "report.json").read_text())
        runs[workers] = (_parquet_rows(str(out / "documents"), ("id", "text")),
                         _parquet_rows(str(out / "rejected"), ("id", "stage", "reason", "duplicate_of")),
                         [(s["name"], s["in"], s["kept"], s["dropped"], s["errors"]) for s in report["stages"]])
    assert len(runs[1][0]) > 20 and runs[1][2][0][1] > 600  # documents kept; records read
    assert runs[1] == runs[2]
    assert not list(scratch.glob("winnow-claims-*"))
