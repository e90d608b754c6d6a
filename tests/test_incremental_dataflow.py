"""Incremental dedup on Dataflow (issue 20, item 5), proved without a cloud: a curate whose dedup stages run
`against` an earlier curate's index on gs:// builds its complete Dataflow job with `--dry_run=True --no_auth`,
with every socket to a non-loopback address refused (tests/test_dataflow.py's `no_network`). A dry run touches
no storage, so the index is neither listed nor read while the job is built: the job must carry the gs:// index
for its workers to read, look it up in a named step, and write this run's own index beside its documents.
"""
from __future__ import annotations

import pytest

from test_dataflow import BUCKET, DATAFLOW_OPTIONS, _step_blobs, _top_level_names, assert_job_is_portable
from test_dataflow import no_network  # noqa: F401  (the fixture)

PREVIOUS = f"{BUCKET}/curated-2026-10"
OUTPUT = f"{BUCKET}/curated-2026-11"


@pytest.mark.slow  # ~10 s: builds a curate job graph with both dedup stages
def test_curate_against_a_gs_index_dry_run_builds_offline(no_network, tmp_path):  # noqa: F811
    from pipelines.cli import main

    recipe = tmp_path / "incremental.yaml"
    recipe.write_text(f"dedup_exact:\n  against: [{PREVIOUS}]\n"
                      f"dedup_minhash:\n  against: [{PREVIOUS}/index]\n")
    job_file = tmp_path / "curate.job.json"
    rc = main(["curate", "--input", f"{BUCKET}/crawl-2026-11/*.jsonl.gz", "--output", OUTPUT,
               "--recipe", str(recipe)] + DATAFLOW_OPTIONS + [f"--dataflow_job_file={job_file}"])
    assert rc == 0
    assert not no_network, f"the dry run tried the network (listing or reading the index?): {no_network}"
    proto = assert_job_is_portable(job_file, recipe)
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert {"DedupExact", "DedupMinhash"} <= _top_level_names(proto)
    for stage in ("DedupExact", "DedupMinhash"):
        assert any(n.startswith(f"{stage}/LookupPrevious/") for n in names), f"{stage} has no index lookup step"
        assert any(n.startswith(f"{stage}WriteIndex") for n in names), f"{stage} writes no index of its own"
    blobs = b"".join(blob for _, blob in _step_blobs(proto))
    assert PREVIOUS.encode() in blobs, "the job does not carry the gs:// index its workers must read"
    assert f"{OUTPUT}/".encode() in blobs and b"/index/dedup_exact" in blobs, "this run's index is not on gs://"
