"""A deliberately hot key: tens of thousands of identical documents, so that exact dedup has one text key
shared by all and every MinHash band bucket holds every document. The job must finish with one kept
document per stage and everything else rejected, and its peak memory (the child process's own VmHWM, measured
by tests/memory.py; not ru_maxrss, which a child inherits from pytest) must stay bounded.

The bound is generous on purpose: the in-process runner holds whole PCollections between stages, so its
memory grows with the input anyway (~N documents x a few copies). What this test guards is that nothing
becomes quadratic in the size of one key (n^2 edges in a bucket, a group copied per member) and that a
hot key neither crashes nor stalls the job.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from memory import run_python

N_DOCS = 20_000
PEAK_RSS_BOUND_MB = 1024  # measured: 472 MiB (its own VmHWM); the 1536 before had to absorb pytest's size too

CHILD = textwrap.dedent("""
    import json, sys, time
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from pipelines.transforms.dedup import DedupExact, DedupMinhash
    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.stages import REJECTED, metrics_namespace
    from schemas import empty_document

    n = int(sys.argv[1])
    text = "the same short boilerplate page, copied onto every site of a hosting provider, word for word"
    start = time.perf_counter()
    p = make_pipeline()
    docs = p | beam.Create([empty_document(f"doc-{i:06d}", "web", text) for i in range(n)])
    exact = docs | "DedupExact" >> DedupExact()
    near = docs | "DedupMinhash" >> DedupMinhash(ngram=5, num_perm=112, bands=14, rows=8, seed=1)
    result = p.run()
    result.wait_until_finish()
    counts = {}
    for stage in ("dedup_exact", "dedup_minhash"):
        for c in result.metrics().query(MetricsFilter().with_namespace(metrics_namespace(stage)))["counters"]:
            counts[f"{stage}/{c.key.metric.name}"] = counts.get(f"{stage}/{c.key.metric.name}", 0) + c.committed
    print(json.dumps({"counts": counts, "seconds": time.perf_counter() - start}))
""")


@pytest.mark.slow  # ~70 s: 20,000 identical documents through both dedups in a child process
def test_hot_key_identical_documents_bounded_memory():
    proc, peak_mb = run_python(CHILD, [N_DOCS], timeout=300)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    counts = out["counts"]
    for stage, reason in (("dedup_exact", "exact_duplicate"), ("dedup_minhash", "near_duplicate")):
        assert counts[f"{stage}/in"] == N_DOCS
        assert counts[f"{stage}/kept"] == 1, counts
        assert counts[f"{stage}/dropped_{reason}"] == N_DOCS - 1, counts
    print(f"hot key: {N_DOCS} identical documents, peak RSS {peak_mb:.0f} MiB, {out['seconds']:.1f} s")
    assert peak_mb < PEAK_RSS_BOUND_MB, (peak_mb, out)
