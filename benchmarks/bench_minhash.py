"""MinHash signatures per second per core: Winnow's vectorised batch path (`minhash_signatures`, words64 hash,
batches of 256 documents as the Beam DoFn signs them) against datasketch 2.x `MinHash.update_batch` (one
MinHash per document) and `MinHash.bulk` (all documents), both with datasketch's default SHA-1 hash, on the same
real documents (paragraphs of >= 20 words from the 14 English Project Gutenberg books in ../shared/data/text),
same parameters (112 permutations, affine64 scheme, seed 1, word 5-grams). Both sides include shingling
(datasketch is given `filters.minhash.shingles`, i.e. the same normalisation). Our SHA-1 path
(`hashfunc="sha1"`, per-shingle hashlib) is shown for reference. CPU seconds of this process
(`time.process_time`, one thread), so other load on the machine does not count; min and median over repeats.
Before timing, the signatures of the words64 path are checked identical to datasketch given
`hashfunc=shingle_hash64` on a sample."""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "gutenberg"
REPEATS = 5
BATCH = 256


def _documents(limit: int = 3000):
    docs = []
    for path in sorted(SHARED.glob("*.txt")):
        if "__" in path.name and path.name.split("__")[0] in ("pg2000", "pg22367"):  # the Spanish and German books
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        docs += [p for p in text.split("\n\n") if len(p.split()) >= 20]
    step = max(1, len(docs) // limit)
    return docs[::step][:limit]


def run() -> str:
    from datasketch import MinHash

    from filters.minhash import MinHashParams, minhash_signatures, shingle_hash64, shingles

    docs = _documents()
    params = MinHashParams()
    sha1_params = MinHashParams(hashfunc="sha1")
    sample = docs[:50]
    ours = minhash_signatures(sample, params)
    for text, sig in zip(sample, ours):
        m = MinHash(num_perm=112, seed=1, scheme="affine64", hashfunc=shingle_hash64)
        m.update_batch([s.encode("utf-8") for s in shingles(text, 5)])
        assert np.array_equal(m.hashvalues, sig)

    def winnow_batched():
        for i in range(0, len(docs), BATCH):
            minhash_signatures(docs[i:i + BATCH], params)

    def winnow_sha1():
        minhash_signatures(docs, sha1_params)

    def ds_update_batch():
        for text in docs:
            m = MinHash(num_perm=112, seed=1, scheme="affine64")
            m.update_batch([s.encode("utf-8") for s in shingles(text, 5)])

    def ds_bulk():
        MinHash.bulk([[s.encode("utf-8") for s in shingles(t, 5)] for t in docs], num_perm=112, seed=1,
                     scheme="affine64")

    runs = {"winnow minhash_signatures (words64, batch 256)": winnow_batched,
            "winnow, hashfunc=sha1": winnow_sha1,
            "datasketch MinHash.update_batch (sha1)": ds_update_batch,
            "datasketch MinHash.bulk (sha1)": ds_bulk}
    times = {name: [] for name in runs}
    for _ in range(REPEATS):
        for name, fn in runs.items():  # interleaved, so drifting load hits every contender alike
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    n = len(docs)
    words = sum(len(d.split()) for d in docs)
    base = "winnow minhash_signatures (words64, batch 256)"
    lines = [f"{n} documents, {words / n:.0f} words each on average, {REPEATS} repeats.", "",
             "| implementation | docs/s per core (median) | docs/s (best) | winnow speed-up, median | winnow speed-up, min over repeats |",
             "|---|---|---|---|---|"]
    for name, ts in times.items():
        med, best = statistics.median(ts), min(ts)
        ratios = [t / b for t, b in zip(ts, times[base])]
        lines.append(f"| {name} | {n / med:,.0f} | {n / best:,.0f} | {statistics.median(ratios):.2f}x | {min(ratios):.2f}x |")
    return "\n".join(lines)
