"""How `DedupMinhash` grows with the corpus: the real Beam composite (FnApiRunner, one in-process worker, the
default recipe's parameters: word 5-grams, 112 permutations as 14 bands x 8 rows, exact-Jaccard verification
at 0.75, 8 component rounds) on seeded corpora of several sizes with a web-like near-duplicate structure, against
datasketch's `MinHashLSH` (same 14 x 8 bands, SHA-1) + exact-Jaccard verification of every candidate pair at
0.75 + union-find on one machine, on the same documents.

Corpus (seeded, `corpus(n)`): real prose from the 14 English Project Gutenberg books in ../shared/data/text,
cut into sentences; a document is runs of 1-6 consecutive sentences taken from random places until it reaches
its length (log-normal words, median 480, sigma 0.65, ~600 on average), so two unrelated documents share
almost no 5-gram. 30 % of the documents are in near-duplicate clusters whose sizes follow a power law
P(s) ~ s^-2.2 (s >= 2, at most n/20), taken at evenly spaced quantiles so that the tail is the expected one,
not one draw's: ~40 % of the clusters are pairs, and the largest grows as ~n^0.85 (703 copies at 30k documents,
~12 million at 3e9). Clusters of >= 50 documents are boilerplate pages (a short page with 1-3 slots of 1-2 words
that every copy fills differently: product, place, date); the others are copies of one document with light
edits (a header or footer, dropped, replaced or swapped sentences, a few substituted words; strong edits push
some copies below the threshold) or, one cluster in four, chains of versions (each version edits the previous
one: a component whose diameter grows with its length). Document ids are 40-hex SHA-1 strings, as the readers
make them, in random order.

Measured per size, from two runs in fresh processes: a plain run (wall and CPU seconds of the pipeline, peak
RSS of the process: the FnApiRunner holds every collection in memory, so this is a one-machine figure, with
the corpus itself counted as "corpus RSS"), and a run with `measure_shuffle=True` (pipelines/transforms/dedup.py: the
bytes of every element entering each GroupByKey / CoGroupByKey / CombinePerKey, encoded with the group-by's
coders, and the bytes and values of the largest group of each), which must remove as many documents as the
plain run.
Candidate edges: the distinct member -> bucket-hub edges (each member to the bucket's smallest and, when larger,
second smallest member: the edges the verifying composite checks; before verification) and those that pass the
exact Jaccard (after). Rounds: the first round whose `cc_round_<i>_changed` counter is 0, i.e. the number of
large-star / small-star rounds the graph needed. Diameter: of the verified edge graph, recomputed with the
pure functions (signatures, buckets, verification, BFS double sweep; its edge count is checked against the
composite's). Signing memory: tracemalloc peak of signing one 256-document batch (as the `Sign` DoFn does).
The rounds needed against the diameter are also measured beyond the corpora, on paths of shuffled ids, and
the candidate edges per member of one boilerplate cluster beyond the corpora's largest, up to 6,400 copies.

Extrapolation (computed from the measured figures, not measured): shuffle bytes split into streams with one
element per document (band keys, the two shingle-hash-set streams, the decision join's documents, sizes) and
streams that grow with the candidate edges (edges, hub sets sent per edge, every component round, labels);
the per-document bytes are taken at the largest n, the bytes per candidate edge likewise, the word-proportional
streams (documents, shingle-hash sets) scaled to 600 words; candidate edges per document at 3e9 = the share of
documents in each cluster-size bin under the size law at 3e9 x the edges per document measured in that bin."""
from __future__ import annotations

import bisect
import gc
import hashlib
import itertools
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from pathlib import Path

from benchmarks.harness import peak_rss_mb, union_find

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "text" / "gutenberg"
SIZES = (3000, 10000, 30000)
PEER_SIZES = SIZES                     # datasketch fits one machine at every size here
SEED = 0
WORDS_MEDIAN, WORDS_SIGMA = 480, 0.65  # log-normal document length in words (mean ~590)
DUP_SHARE = 0.30                       # documents inside near-duplicate clusters (originals included)
ALPHA = 2.2                            # cluster sizes P(s) ~ s^-ALPHA, s >= 2
MAX_CLUSTER_SHARE = 1 / 20             # the largest cluster is at most n / 20 documents
TEMPLATE_MIN = 50                      # clusters this large are boilerplate pages with slots
CHAIN_SHARE = 0.25                     # smaller clusters that are chains of versions
CC_DOCS, CC_WORDS = 3e9, 600
ROUNDS = 8                             # DedupMinhash's default
VERIFY = 0.75
PATH_LENGTHS = (4, 16, 64, 256, 1024, 4096)
HUB_SIZES = (100, 400, 1600, 6400)
# Planted cluster sizes, binned to measure edges per document by cluster size ("unique": in no cluster).
SIZE_BINS = (("unique", 0, 1), ("2", 2, 2), ("3-9", 3, 9), ("10-49", 10, 49), ("50-199", 50, 199),
             ("200+", 200, 10 ** 12))

_SENT = re.compile(r"(?<=[.!?;:])\s+")


# ---------------------------------------------------------------------------------------------- corpus

def _sentences():
    out = []
    for path in sorted(SHARED.glob("pg*.txt")):
        if path.name.startswith(("pg2000__", "pg22367__")):  # the Spanish and German books
            continue
        words = path.read_text(encoding="utf-8", errors="replace").split()
        body = " ".join(words[len(words) // 20: -len(words) // 20])  # no Gutenberg header or licence
        out += [s for s in _SENT.split(body) if 4 <= len(s.split()) <= 60]
    return out


def cluster_sizes(n: int, dup_share: float = DUP_SHARE, alpha: float = ALPHA) -> list:
    """Cluster sizes at evenly spaced quantiles of P(s) ~ s^-alpha on [2, n * MAX_CLUSTER_SHARE], largest
    first, adding up to dup_share * n documents."""
    smax = max(2, int(n * MAX_CLUSTER_SHARE))
    support = range(2, smax + 1)
    weights = [s ** -alpha for s in support]
    total = sum(weights)
    cdf = list(itertools.accumulate(w / total for w in weights))
    mean = sum(s * w for s, w in zip(support, weights)) / total
    k = max(1, round(dup_share * n / mean))
    sizes = sorted((2 + min(bisect.bisect_left(cdf, (i + 0.5) / k), smax - 2) for i in range(k)), reverse=True)
    return sizes


def largest_cluster(n: float, dup_share: float = DUP_SHARE, alpha: float = ALPHA) -> int:
    """`cluster_sizes(n)[0]` for any n: the discrete sums up to 10^6, beyond that their integrals."""
    import numpy as np

    smax = max(2, int(n * MAX_CLUSTER_SHARE))
    cut = min(smax, 10 ** 6)
    s = np.arange(2, cut + 1, dtype=np.float64)
    w = s ** -alpha

    def tail(lo, power):  # integral of x^-power from lo to smax + 0.5
        hi = smax + 0.5
        return 0.0 if lo >= hi else (lo ** (1 - power) - hi ** (1 - power)) / (power - 1)

    z = w.sum() + tail(cut + 0.5, alpha)
    mean = ((s * w).sum() + tail(cut + 0.5, alpha - 1)) / z
    k = max(1, round(dup_share * n / mean))
    above = 0.5 / k  # the largest quantile taken is 1 - 0.5 / k
    if tail(cut + 0.5, alpha) / z < above:  # inside the discrete part
        cdf = np.cumsum(w) / z
        return int(2 + min(np.searchsorted(cdf, 1 - above), smax - 2))
    # P(S > x) = tail(x + 0.5) / z = above
    x = ((above * z) * (alpha - 1) + (smax + 0.5) ** (1 - alpha)) ** (1 / (1 - alpha)) - 0.5
    return int(math.ceil(x))


def bin_shares(n: float, dup_share: float = DUP_SHARE, alpha: float = ALPHA) -> dict:
    """Share of the documents in each SIZE_BINS bin under the size law (the expectation `cluster_sizes`
    samples by quantiles): sums up to 10^6, integrals beyond."""
    import numpy as np

    smax = max(2, int(n * MAX_CLUSTER_SHARE))
    cut = min(smax, 10 ** 6)
    s = np.arange(2, cut + 1, dtype=np.float64)
    mass = s ** (1 - alpha)  # documents in clusters of size s, up to a constant

    def tail(lo, hi):  # integral of x^(1 - alpha) over [lo, hi]
        return 0.0 if lo >= hi else (lo ** (2 - alpha) - hi ** (2 - alpha)) / (alpha - 2)

    total = mass.sum() + tail(cut + 0.5, smax + 0.5)
    out = {"unique": 1 - dup_share}
    for label, lo, hi in SIZE_BINS[1:]:
        inside = mass[max(lo, 2) - 2: min(hi, cut) - 1].sum() if lo <= cut else 0.0
        inside += tail(max(lo - 0.5, cut + 0.5), min(hi, smax) + 0.5)
        out[label] = dup_share * inside / total
    return out


def _doc_id(seed, i):
    return hashlib.sha1(f"dedup_scale/{seed}/{i}".encode()).hexdigest()


class _Maker:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.pool = _sentences()

    def length(self, median=WORDS_MEDIAN):
        return int(min(4000, max(40, self.rng.lognormvariate(math.log(median), WORDS_SIGMA))))

    def sentences(self, words):
        out, count = [], 0
        while count < words:
            start = self.rng.randrange(len(self.pool))
            for s in self.pool[start:start + self.rng.randint(1, 6)]:
                out.append(s)
                count += len(s.split())
        return out

    def token(self):
        r = self.rng.random()
        if r < 0.3:
            return str(self.rng.randrange(1, 10 ** self.rng.randint(1, 5)))
        return self.rng.choice(self.rng.choice(self.pool).split())

    def light_edit(self, sents):
        """A copy: 1-3 of header/footer, dropped / replaced / swapped sentences, substituted words."""
        rng, sents = self.rng, list(sents)
        strength = rng.random() ** 3  # mostly light; a few copies fall below the threshold
        for op in rng.sample(["boiler", "drop", "replace", "swap", "words"], rng.randint(1, 3)):
            if op == "drop" and len(sents) > 3:
                for _ in range(1 + int(3 * strength)):
                    sents.pop(rng.randrange(len(sents)))
            elif op == "replace":
                for _ in range(1 + int(3 * strength)):
                    sents[rng.randrange(len(sents))] = rng.choice(self.pool)
            elif op == "swap" and len(sents) > 2:
                i, j = rng.randrange(len(sents)), rng.randrange(len(sents))
                sents[i], sents[j] = sents[j], sents[i]
            elif op == "words":
                sents = [" ".join(self.token() if rng.random() < 0.03 * strength else w for w in s.split())
                         for s in sents]
            elif op == "boiler":
                sents = ([f"Home | News | Contact | Posted {rng.randint(1, 28)} May {rng.randint(2005, 2024)}"]
                         + sents + ["Share this page. Copyright all rights reserved. Privacy policy."])
        return sents

    def template(self, size):
        """A boilerplate page: ~300 words with 1-3 slots of 1-2 words that every copy fills differently."""
        rng = self.rng
        words = " ".join(self.sentences(self.length(300))).split()
        slots = sorted(rng.sample(range(len(words)), rng.randint(1, 3)))
        spans = [rng.randint(1, 2) for _ in slots]
        out = []
        for _ in range(size):
            copy, last = [], 0
            for at, span in zip(slots, spans):
                copy += words[last:at] + [self.token() for _ in range(span)]
                last = at + span
            out.append(" ".join(copy + words[last:]))
        return out

    def version(self, sents):
        """The next version in a chain: one sentence replaced, inserted or removed."""
        rng, sents = self.rng, list(sents)
        op = rng.random()
        if op < 0.5:
            sents[rng.randrange(len(sents))] = rng.choice(self.pool)
        elif op < 0.8 or len(sents) < 4:
            sents.insert(rng.randrange(len(sents) + 1), rng.choice(self.pool))
        else:
            sents.pop(rng.randrange(len(sents)))
        return sents


def corpus(n: int, seed: int = SEED):
    """(texts, cluster label per document, [(kind, size)] of the clusters); shuffled, ids from `_doc_id`."""
    make = _Maker(seed)
    rng = make.rng
    texts, labels, clusters = [], [], []
    for c, size in enumerate(cluster_sizes(n)):
        if size >= TEMPLATE_MIN:
            kind = "template"
            texts += make.template(size)
        elif rng.random() < CHAIN_SHARE and size >= 3:
            kind = "chain"
            sents = make.sentences(make.length())
            for _ in range(size):
                texts.append(" ".join(sents))
                sents = make.version(sents)
        else:
            kind = "copies"
            base = make.sentences(make.length())
            texts.append(" ".join(base))
            texts += [" ".join(make.light_edit(base)) for _ in range(size - 1)]
        labels += [c] * size
        clusters.append((kind, size))
    while len(texts) < n:
        texts.append(" ".join(make.sentences(make.length())))
        labels.append(-1 - len(texts))
    order = list(range(n))
    rng.shuffle(order)
    return [texts[i] for i in order], [labels[i] for i in order], clusters


def documents(texts):
    from schemas import empty_document
    return [empty_document(_doc_id(SEED, i), "web", t, url=f"https://site{i % 997}.example.org/page/{i}",
                           language="en", language_score=0.95) for i, t in enumerate(texts)]


# ---------------------------------------------------------------------------------------------- measured runs

def _peak_rss_mb():
    return peak_rss_mb()


def _current_rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _write_phase_file(docs, directory: str) -> str:
    """The documents as one phase file (what curate's first phase writes), row groups of ~8 MiB of text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import DOCUMENTS_SCHEMA

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "part-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(docs, schema=DOCUMENTS_SCHEMA), path, row_group_size=2048,
                   compression="zstd")
    return path


def _winnow(n: int, measure: bool, lean_docs: bool = False) -> dict:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    from pipelines.transforms.dedup import DedupMinhash
    from pipelines.runtime.options import make_pipeline, quiet_beam_logging
    from pipelines.transforms.counters import counters_by_stage
    from pipelines.transforms.stages import REJECTED
    from schemas import ID

    quiet_beam_logging()
    texts, labels, clusters = corpus(n)
    docs = documents(texts)
    words = sum(len(t.split()) for t in texts)
    del texts
    gc.collect()
    corpus_rss = _current_rss_mb()
    tmp = tempfile.mkdtemp(prefix="dedup_scale_")
    p = make_pipeline()
    stage = DedupMinhash(ngram=5, num_perm=112, bands=14, rows=8, seed=1, verify_threshold=VERIFY, rounds=ROUNDS,
                         measure_shuffle=measure)
    if lean_docs:  # as in curate's phases: the documents in a phase file, lean documents through the joins
        from pipelines.transforms.phases import ReadPhaseFiles

        phase = os.path.join(tmp, "phase")
        path = _write_phase_file(docs, phase)
        stage.lean_documents(phase)
        out = p | beam.Create([path]) | ReadPhaseFiles() | stage
    else:
        out = p | beam.Create(docs, reshuffle=False) | stage
    if measure:
        _ = out[REJECTED] | beam.Map(lambda r: r[ID]) | beam.io.WriteToText(os.path.join(tmp, "removed"))
    wall, cpu = time.perf_counter(), time.process_time()
    result = p.run()
    result.wait_until_finish()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    counters = counters_by_stage(result).get("dedup_minhash", {})
    res = {"n": n, "words": words, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": _peak_rss_mb(),
           "corpus_rss_mb": corpus_rss, "counters": counters}
    if measure:
        dist = {}
        for d in result.metrics().query(MetricsFilter())["distributions"]:
            if d.key.metric.namespace == "winnow.dedup_minhash":
                c = d.committed
                dist[d.key.metric.name] = {"sum": c.sum, "count": c.count, "max": c.max}
        res["dist"] = dist
        removed = []
        for f in sorted(Path(tmp).glob("removed*")):
            removed += f.read_text().split()
        res["removed"] = sorted(removed)
    if measure and lean_docs:
        res["lean_row_bytes"] = _lean_row_bytes(docs)
        return res
    if measure:
        res["graph"] = _graph(docs, labels, clusters)
        res["sign_batch_peak_mb"] = _sign_memory(docs)
        res["listed_id_bytes"] = _listed_id_bytes(docs)
        kinds = defaultdict(int)
        for kind, size in clusters:
            kinds["pairs" if size == 2 and kind == "copies" else kind] += 1
        res["meta"] = {"clusters": len(clusters), "largest": max(size for _, size in clusters),
                       "in_clusters": sum(size for _, size in clusters), **kinds}
    return res


def _lean_row_bytes(docs) -> float:
    """Mean encoded bytes of a lean document keyed by its phase-file chunk: what curate's `AttachText` shuffles per
    kept document or rejected row, outside the composite."""
    from apache_beam import coders

    from pipelines.transforms.phases import PTR, chunk_key, lean

    coder = coders.FastPrimitivesCoder()
    total = 0
    for row, doc in enumerate(docs):
        item = lean(doc)
        item[PTR] = ("part-00000-of-00001.parquet", row)
        key, value = chunk_key(item)
        total += len(coder.encode(key)) + len(coder.encode(value))
    return total / len(docs)


def _listed_id_bytes(docs) -> tuple:
    """(encoded, in memory) bytes per document id in a CoGroupByKey's list: FastPrimitivesCoder bytes of
    ("member", id), and the tracemalloc size of a list of ids decoded from those bytes, as a group lists them."""
    import tracemalloc

    from apache_beam.coders import FastPrimitivesCoder

    coder = FastPrimitivesCoder()
    encoded = [coder.encode(("member", d["id"])) for d in docs[:20000]]
    tracemalloc.start()
    listed = [coder.decode(e)[1] for e in encoded]
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return sum(map(len, encoded)) / len(encoded), size / len(listed)


def _bin_of(size):
    return next(label for label, lo, hi in SIZE_BINS if lo <= size <= hi)


def _hub_pairs(members, key) -> set:
    """A bucket's candidate edges as the verifying composite emits them (filters/components.py's
    `edges_to_bucket_hubs`): every member to the smallest member, every larger member to the second smallest too
    (members ordered by `key`)."""
    if len(members) < 2:
        return set()
    first, second = sorted(members, key=key)[:2]
    return ({(i, first) for i in members if i != first}
            | {(i, second) for i in members if i not in (first, second) and key(i) > key(second)})


def _graph(docs, labels, clusters) -> dict:
    """The verified edge graph with the pure functions, as the composite builds it: edges from every bucket
    member to the bucket's two smallest members, kept at exact Jaccard >= VERIFY; components, their sizes and diameters; per
    bin of planted cluster size: [documents, candidate edges, verified edges] leaving its documents."""

    from filters.minhash import MinHashParams, band_hashes, hash_set_jaccard, minhash_signatures, shingle_hash_sets

    params = MinHashParams(ngram=5, num_perm=112, bands=14, rows=8, seed=1)
    ids = [d["id"] for d in docs]
    buckets = defaultdict(list)
    for start in range(0, len(docs), 2048):
        sigs = minhash_signatures([d["text"] for d in docs[start:start + 2048]], params)
        for i, sig in enumerate(sigs, start):
            for key in band_hashes(sig, 14, 8):
                buckets[key].append(i)
    candidates = set()
    for members in buckets.values():
        candidates |= _hub_pairs(members, ids.__getitem__)
    del buckets
    need = sorted({x for e in candidates for x in e})
    sets = dict(zip(need, shingle_hash_sets([docs[i]["text"] for i in need], params)))
    edges = [(u, v) for u, v in candidates if hash_set_jaccard(sets[u], sets[v]) >= VERIFY]
    adj = defaultdict(set)
    for u, v in edges:
        adj[u].add(v)
        adj[v].add(u)

    def bfs(src):
        dist = {src: 0}
        q = deque([src])
        while q:
            x = q.popleft()
            for y in adj[x]:
                if y not in dist:
                    dist[y] = dist[x] + 1
                    q.append(y)
        far = max(dist, key=dist.get)
        return dist, far

    seen, comps = set(), []
    for node in list(adj):
        if node in seen:
            continue
        dist, far = bfs(node)
        seen.update(dist)
        d2, _ = bfs(far)
        comps.append((len(dist), max(d2.values())))
    comps.sort(reverse=True)
    bins = {label: [0, 0, 0] for label, _, _ in SIZE_BINS}
    bin_of_doc = [_bin_of(clusters[lab][1]) if lab >= 0 else "unique" for lab in labels]
    for b in bin_of_doc:
        bins[b][0] += 1
    for u, _ in candidates:
        bins[bin_of_doc[u]][1] += 1
    for u, _ in edges:
        bins[bin_of_doc[u]][2] += 1
    return {"bins": bins, "candidates": len(candidates), "verified": len(edges), "components": len(comps),
            "largest": comps[0][0] if comps else 0, "largest_diameter": comps[0][1] if comps else 0,
            "max_diameter": max((c[1] for c in comps), default=0)}


def _sign_memory(docs) -> float:
    """tracemalloc peak (MB) of signing one 256-document batch as the Sign DoFn does (signatures, shingle-hash
    sets, band keys), the per-process tables already built."""
    import tracemalloc

    from filters.minhash import MinHashParams, band_hashes, minhash_signatures, shingle_hash_sets

    params = MinHashParams(ngram=5, num_perm=112, bands=14, rows=8, seed=1)
    minhash_signatures(["warm up"], params)
    batch = [d["text"] for d in docs[:256]]
    tracemalloc.start()
    sigs = minhash_signatures(batch, params)
    sets = [s.tobytes() for s in shingle_hash_sets(batch, params)]
    keys = [band_hashes(s, 14, 8) for s in sigs]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del sets, keys
    return peak / 2 ** 20


def _datasketch(n: int) -> dict:
    from datasketch import MinHash, MinHashLSH

    from filters.minhash import shingles

    texts, _, _ = corpus(n)
    ids = [_doc_id(SEED, i) for i in range(n)]
    gc.collect()
    corpus_rss = _current_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    shingle_sets = [set(shingles(t, 5)) for t in texts]
    sigs = MinHash.bulk([[s.encode("utf-8") for s in ss] for ss in shingle_sets], num_perm=112, seed=1,
                        scheme="affine64")
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    for i, m in enumerate(sigs):
        lsh.insert(i, m)
    checked = kept_pairs = 0
    pairs = []
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j <= i:
                continue
            checked += 1
            a, b = shingle_sets[i], shingle_sets[j]
            if len(a & b) / len(a | b) >= VERIFY:
                kept_pairs += 1
                pairs.append((i, j))
    roots = union_find(n, pairs, key=ids.__getitem__)
    removed = sorted(ids[i] for i in range(n) if roots[i] != i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"n": n, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": _peak_rss_mb(), "corpus_rss_mb": corpus_rss,
            "pairs_checked": checked, "pairs_kept": kept_pairs, "removed": removed}


def _paths() -> list:
    """(path length, diameter, rounds needed) for paths of shuffled 40-hex ids through ConnectedComponents."""
    import apache_beam as beam

    from pipelines.transforms.dedup import ConnectedComponents
    from pipelines.runtime.options import make_pipeline, quiet_beam_logging
    from pipelines.transforms.counters import counters_by_stage

    quiet_beam_logging()
    out = []
    for length in PATH_LENGTHS:
        rng = random.Random(length)
        nodes = [_doc_id(1, i) for i in range(length)]
        rng.shuffle(nodes)
        p = make_pipeline()
        _ = p | beam.Create(list(zip(nodes, nodes[1:]))) | ConnectedComponents(rounds=16)
        result = p.run()
        result.wait_until_finish()
        c = counters_by_stage(result).get("dedup_minhash", {})
        changed = [c.get(f"cc_round_{i}_changed", 0) for i in range(16)]
        out.append((length, length - 1, changed.index(0) if 0 in changed else None, c.get("cc_unconverged", 0)))
    return out


def _hub_edges() -> list:
    """Candidate edges per member of one boilerplate cluster (pure functions: signatures, band buckets, edges to
    each bucket's two smallest members) as the cluster grows: [(copies, edges per member)], three seeded templates pooled."""
    from filters.minhash import MinHashParams, band_hashes, minhash_signatures

    params = MinHashParams(ngram=5, num_perm=112, bands=14, rows=8, seed=1)
    out = defaultdict(lambda: [0, 0])
    for seed in (1, 2, 3):
        make = _Maker(seed)
        texts = make.template(max(HUB_SIZES))
        ids = [_doc_id(100 + seed, i) for i in range(len(texts))]
        keys = []
        for start in range(0, len(texts), 256):
            keys += [band_hashes(sig, 14, 8) for sig in minhash_signatures(texts[start:start + 256], params)]
        for size in HUB_SIZES:
            buckets = defaultdict(list)
            for i in range(size):
                for key in keys[i]:
                    buckets[key].append(i)
            edges = set()
            for m in buckets.values():
                edges |= _hub_pairs(m, ids.__getitem__)
            out[size][0] += size
            out[size][1] += len(edges)
    return [(size, e / d) for size, (d, e) in sorted(out.items())]


def _child(kind: str, *args) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_dedup_scale", kind, *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{kind} {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- report

PHASES = (("bands: GroupBuckets, DistinctEdges", ("GroupBuckets", "DistinctEdges")),
          ("verification: JoinMinimumSet, JoinMemberSet", ("JoinMinimumSet", "JoinMemberSet")),
          ("components: DistinctInput, 8 rounds x 4, GroupFinal, JoinParentRoot",
           ("DistinctInput", "R", "GroupFinal", "JoinParentRoot")),
          ("resolve: JoinLabelSize, ClusterSize", ("JoinLabelSize", "ClusterSize")),
          ("decision join: JoinDecision (whole documents)", ("JoinDecision",)))


PHASES_LEAN = (("bands: GroupBuckets, DistinctEdges", ("GroupBuckets", "DistinctEdges")),
               ("candidate texts: JoinCandidatePointer, GroupCandidateChunks",
                ("JoinCandidatePointer", "GroupCandidateChunks")),
               ("verification: JoinMinimumSet, JoinMemberSet", ("JoinMinimumSet", "JoinMemberSet")),
               ("components", ("DistinctInput", "R", "GroupFinal", "JoinParentRoot")),
               ("resolve: JoinLabelSize, ClusterSize", ("JoinLabelSize", "ClusterSize")),
               ("decision join: JoinDecision (lean documents)", ("JoinDecision",)))
# Lean streams with one element per document; every other stream grows with the candidate edges.
LEAN_DOC_STREAMS = ("GroupBuckets", "JoinCandidatePointer_pointer", "JoinLabelSize_size", "ClusterSize",
                    "JoinDecision_doc", "JoinDecision_total", "JoinDecision_keys")


def _step_of(name):
    return name[len("shuffle_bytes_"):]


def _phase_bytes(dist, prefixes):
    total = 0
    for name, d in dist.items():
        if not name.startswith("shuffle_bytes_"):
            continue
        step = _step_of(name)
        if any(step.startswith(p) if p != "R" else re.match(r"R\d+", step) for p in prefixes):
            total += d["sum"]
    return total


# Streams with one element per document (CoGroupByKey inputs named step_tag); the rest grow with the edges.
DOC_STREAMS = ("GroupBuckets", "JoinMinimumSet_set", "JoinMemberSet_set", "JoinLabelSize_size", "ClusterSize",
               "JoinDecision_doc", "JoinDecision_total")
WORD_STREAMS = ("JoinMinimumSet_set", "JoinMemberSet_set", "JoinMemberSet_hub", "JoinDecision_doc")


def _edge_bytes(res):
    """(bytes of the edge-proportional streams, of which word-proportional: the hub sets)."""
    d = res["dist"]
    total = sum(v["sum"] for k, v in d.items() if k.startswith("shuffle_bytes_") and _step_of(k) not in DOC_STREAMS)
    return total, d["shuffle_bytes_JoinMemberSet_hub"]["sum"]


def _fit(xs, ys):
    """Least-squares slope and intercept of log y on log x (the growth exponent)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.mean(lx), statistics.mean(ly)
    b = sum((a - mx) * (c - my) for a, c in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
    return b, my - b * mx


def _linear(xs, ys):
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((a - mx) * (c - my) for a, c in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)
    return b, my - b * mx


def _rounds(counters):
    changed = [counters.get(f"cc_round_{i}_changed", 0) for i in range(ROUNDS)]
    return (changed.index(0) if 0 in changed else None), changed


def _human(b):
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if b >= scale:
            return f"{b / scale:.1f} {unit}"
    return f"{b:.0f} B"


def run() -> str:
    plain = {n: _child("winnow", n, 0) for n in SIZES}
    measured = {n: _child("winnow", n, 1) for n in SIZES}
    lean_runs = {n: _child("winnow", n, 1, 1) for n in SIZES}
    peer = {n: _child("datasketch", n) for n in PEER_SIZES}
    paths = _child("paths")["paths"]
    hub = _child("hub")["hub"]
    meta = {n: measured[n]["meta"] for n in SIZES}

    lines = []
    lines += ["Corpora (seeded): documents, words per document (mean), clusters by kind, largest cluster, documents "
              "in clusters.", "",
              "| documents | words/doc | clusters (pairs / copies >= 3 / chains / boilerplate) | largest cluster "
              "| in clusters |", "|---|---|---|---|---|"]
    for n in SIZES:
        m, r = meta[n], measured[n]
        lines.append(f"| {n:,} | {r['words'] / n:.0f} | {m['clusters']:,} ({m.get('pairs', 0)} / "
                     f"{m.get('copies', 0)} / {m.get('chain', 0)} / {m.get('template', 0)}) | {m['largest']:,} | "
                     f"{m['in_clusters'] / n:.1%} |")

    lines += ["", "Winnow `DedupMinhash` (default recipe parameters), per size. Edges are directed member -> hub "
              "edges (the bucket's two smallest members); rounds = first round with `cc_round_<i>_changed` = 0 (changed edges per round in brackets); "
              "time and RSS from the plain run, bytes and groups from the measured run.", "",
              "| documents | candidate edges / doc (before verify) | verified edges / doc | components, largest, "
              "its diameter, max diameter | rounds needed (changed per round) | cc_unconverged | wall s (CPU s) "
              "| CPU µs / doc | peak RSS (corpus RSS) | removed | same count removed in both runs |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in SIZES:
        pr, mr = plain[n], measured[n]
        c, d, g = mr["counters"], mr["dist"], mr["graph"]
        before = d["shuffle_bytes_JoinMinimumSet_member"]["count"]
        after = c.get("pairs_verified", 0) - c.get("pairs_rejected_by_jaccard", 0)
        assert after == g["verified"] and before == g["candidates"], (n, before, after, g)
        rounds, changed = _rounds(pr["counters"])
        same = pr["counters"].get("dropped_near_duplicate") == len(mr["removed"]) == c.get("dropped_near_duplicate")
        lines.append(f"| {n:,} | {before / n:.3f} | {after / n:.3f} | {g['components']:,}, {g['largest']:,}, "
                     f"{g['largest_diameter']}, {g['max_diameter']} | "
                     f"{rounds if rounds is not None else f'> {ROUNDS}'} ({', '.join(map(str, changed))}) | "
                     f"{pr['counters'].get('cc_unconverged', 0)} | {pr['wall_s']:.1f} ({pr['cpu_s']:.1f}) | "
                     f"{pr['cpu_s'] / n * 1e6:,.0f} | {pr['peak_rss_mb']:,.0f} MB ({pr['corpus_rss_mb']:,.0f} MB) | "
                     f"{len(mr['removed']):,} | {'yes' if same else 'NO'} |")

    lines += ["", "Shuffle bytes per document by phase (encoded with each group-by's coders; CombinePerKey inputs "
              "before combiner lifting), and the largest group.", "",
              "| documents | " + " | ".join(p for p, _ in PHASES) + " | total / doc | total | component round 0 "
              "(the largest) / doc |", "|---" * (len(PHASES) + 4) + "|"]
    totals = {}
    for n in SIZES:
        d = measured[n]["dist"]
        per = [_phase_bytes(d, prefixes) / n for _, prefixes in PHASES]
        total = sum(v["sum"] for k, v in d.items() if k.startswith("shuffle_bytes_"))
        one_round = sum(v["sum"] for k, v in d.items() if re.match(r"shuffle_bytes_R0[A-Z]", k)) / n
        totals[n] = (total, per, one_round)
        lines.append(f"| {n:,} | " + " | ".join(f"{v:,.0f} B" for v in per) +
                     f" | {total / n:,.0f} B | {_human(total)} | {one_round:,.0f} B |")

    lines += ["", "Lean documents, as the curate job runs the stage (pipelines/transforms/phases.py): the documents "
              "are read from a phase file, the joins carry every column but the text, and only the documents with "
              "a candidate edge have their shingle-hash set computed (their text read back from the file by "
              "pointer). Same documents, same measured run kind; bytes per document by phase.", "",
              "| documents | " + " | ".join(p for p, _ in PHASES_LEAN) + " | total / doc (lean) | total / doc "
              "(whole documents) | lean / whole | removed: lean / whole, same ids | outside the composite: "
              "AttachText per kept or rejected row |", "|---" * (len(PHASES_LEAN) + 6) + "|"]
    for n in SIZES:
        d = lean_runs[n]["dist"]
        per = [_phase_bytes(d, prefixes) / n for _, prefixes in PHASES_LEAN]
        total = sum(v["sum"] for k, v in d.items() if k.startswith("shuffle_bytes_"))
        same = lean_runs[n]["removed"] == measured[n]["removed"]
        lines.append(f"| {n:,} | " + " | ".join(f"{v:,.0f} B" for v in per) +
                     f" | {total / n:,.0f} B | {totals[n][0] / n:,.0f} B | {total / totals[n][0]:.2f} | "
                     f"{len(lean_runs[n]['removed']):,} / {len(measured[n]['removed']):,}, "
                     f"{'yes' if same else 'NO'} | {lean_runs[n]['lean_row_bytes']:,.0f} B |")

    lines += ["", "Largest group per group-by (values, encoded bytes); CoGroupByKey lists its groups in memory, "
              "GroupByKey groups stream on Dataflow.", "",
              "| documents | GroupBuckets | JoinMinimumSet | JoinMemberSet | R0GroupLarge | JoinParentRoot | "
              "JoinDecision | signing one 256-doc batch (tracemalloc) |", "|---|---|---|---|---|---|---|---|"]
    for n in SIZES:
        d = measured[n]["dist"]
        cells = [f"{d[f'group_values_{s}']['max']:,} / {_human(d[f'group_bytes_{s}']['max'])}"
                 for s in ("GroupBuckets", "JoinMinimumSet", "JoinMemberSet", "R0GroupLarge", "JoinParentRoot",
                           "JoinDecision")]
        lines.append(f"| {n:,} | " + " | ".join(cells) + f" | {measured[n]['sign_batch_peak_mb']:.1f} MB |")

    lines += ["", "Peer, same documents: datasketch `MinHashLSH(params=(14, 8))` (SHA-1 MinHash.bulk, affine64), "
              "exact Jaccard >= 0.75 of every candidate pair (Python sets of the same shingles), union-find, one "
              "process. Agreement: documents whose removed / kept decision is the same in both.", "",
              "| documents | winnow wall s (CPU s) | datasketch wall s (CPU s) | winnow peak RSS | datasketch peak RSS "
              "(corpus RSS) | removed: winnow / datasketch | same decision |", "|---|---|---|---|---|---|---|"]
    for n in PEER_SIZES:
        pr, ds, mr = plain[n], peer[n], measured[n]
        agree = n - len(set(mr["removed"]) ^ set(ds["removed"]))
        lines.append(f"| {n:,} | {pr['wall_s']:.1f} ({pr['cpu_s']:.1f}) | {ds['wall_s']:.1f} ({ds['cpu_s']:.1f}) | "
                     f"{pr['peak_rss_mb']:,.0f} MB | {ds['peak_rss_mb']:,.0f} MB ({ds['corpus_rss_mb']:,.0f} MB) | "
                     f"{len(mr['removed']):,} / {len(ds['removed']):,} | {agree / n:.2%} |")

    lines += ["", "Rounds needed against diameter: paths of shuffled 40-hex ids through `ConnectedComponents` "
              "(16 rounds allowed).", "", "| path nodes | diameter | rounds needed | cc_unconverged |",
              "|---|---|---|---|"]
    for length, diam, rounds, unconv in paths:
        lines.append(f"| {length:,} | {diam:,} | {rounds} | {unconv} |")

    # Growth with n and the extrapolation to one Common Crawl snapshot.
    ns, big = list(SIZES), max(SIZES)
    growth = {
        "total shuffle bytes / doc": [totals[n][0] / n for n in ns],
        "candidate edges / doc": [measured[n]["graph"]["candidates"] / n for n in ns],
        "verified edges / doc": [measured[n]["graph"]["verified"] / n for n in ns],
        "edge-stream bytes / candidate edge": [_edge_bytes(measured[n])[0] / measured[n]["graph"]["candidates"]
                                               for n in ns],
        "largest component": [measured[n]["graph"]["largest"] for n in ns],
        "max diameter": [measured[n]["graph"]["max_diameter"] for n in ns],
        "rounds needed": [_rounds(plain[n]["counters"])[0] or ROUNDS + 1 for n in ns],
        "largest CoGroupByKey group (JoinMinimumSet values)": [measured[n]["dist"]["group_values_JoinMinimumSet"]["max"]
                                                              for n in ns],
        "CPU s / doc (winnow)": [plain[n]["cpu_s"] / n for n in ns],
        "CPU s / doc (datasketch)": [peer[n]["cpu_s"] / n for n in PEER_SIZES],
    }
    lines += ["", "Growth with n: exponent b of a least-squares fit y ~ n^b over the sizes above (0 = constant per "
              "document / size-independent).", "", "| figure | " + " | ".join(f"{n:,}" for n in ns) + " | b |",
              "|---" * (len(ns) + 2) + "|"]
    for name, ys in growth.items():
        b = f"{_fit(ns, ys)[0]:+.2f}" if all(y > 0 for y in ys) else "-"
        lines.append(f"| {name} | " + " | ".join(f"{y:.3g}" for y in ys) + f" | {b} |")

    shares = {n: bin_shares(n) for n in (*ns, CC_DOCS)}
    lines += ["", "Candidate / verified edges per document by planted cluster size (edges leaving the bin's "
              "documents), "
              "and the bin's share of the documents under the size law.", "",
              "| bin | " + " | ".join(f"{n:,}: edges / doc (share)" for n in ns) + f" | share at {CC_DOCS:.0e} |",
              "|---" * (len(ns) + 2) + "|"]
    per_bin, last, borrowed = {}, 0.0, []
    for label, _, _ in SIZE_BINS:
        cells = []
        for n in ns:
            docs_in, cand, ver = measured[n]["graph"]["bins"][label]
            cells.append(f"{cand / docs_in:.3f} / {ver / docs_in:.3f} ({shares[n][label]:.1%})" if docs_in else "-")
        docs_in, cand, _ = measured[big]["graph"]["bins"][label]
        if docs_in:
            last = cand / docs_in
        else:
            borrowed.append(label)
        per_bin[label] = last  # an empty bin (clusters larger than any at this n) takes the largest measured rate
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {shares[CC_DOCS][label]:.1%} |")
    edges_cc = sum(shares[CC_DOCS][label] * per_bin[label] for label, _, _ in SIZE_BINS)
    h_slope, h_icpt = _linear([math.log2(sz) for sz, _ in hub], [e for _, e in hub])
    hub_at_largest = h_icpt + h_slope * math.log2(largest_cluster(CC_DOCS))
    top = SIZE_BINS[-1][0]
    edges_high = edges_cc + shares[CC_DOCS][top] * max(0.0, hub_at_largest - per_bin[top])
    lines += ["", "Candidate edges per member of one boilerplate cluster as it grows (pure functions, three seeded "
              "templates pooled): " + "; ".join(f"{sz:,} copies {e:.2f}" for sz, e in hub)
              + f"; fit {h_icpt:.2f} + {h_slope:.3f} log2(copies), {hub_at_largest:.2f} at "
              f"{largest_cluster(CC_DOCS):,} copies."]
    edges_max = DUP_SHARE * 14  # at most one edge per band for every document in a cluster
    if borrowed:
        lines += ["", f"No document at {big:,} is in bin {', '.join(borrowed)}; the extrapolation gives it the "
                  "rate of the largest bin measured."]

    rss_slope, rss_icpt = _linear(ns, [plain[n]["peak_rss_mb"] for n in ns])
    ds_rss_slope, ds_rss_icpt = _linear(list(PEER_SIZES), [peer[n]["peak_rss_mb"] for n in PEER_SIZES])
    pr_x = [math.log2(d) for _, d, r, _ in paths if r]
    pr_y = [r for _, d, r, _ in paths if r]
    r_slope, r_icpt = _linear(pr_x, pr_y)
    words = measured[big]["words"] / big
    scale = CC_WORDS / words
    d_big = measured[big]["dist"]
    doc_b = {k: d_big[f"shuffle_bytes_{k}"]["sum"] / big * (scale if k in WORD_STREAMS else 1) for k in DOC_STREAMS}
    edge_total, edge_words = _edge_bytes(measured[big])
    cand_big = measured[big]["graph"]["candidates"]
    per_edge = (edge_total - edge_words + edge_words * scale) / cand_big
    cc_doc = sum(doc_b.values()) + edges_cc * per_edge
    largest_cc = largest_cluster(CC_DOCS)
    enc_id, mem_id = measured[big]["listed_id_bytes"]
    max_diam = max(measured[n]["graph"]["max_diameter"] for n in ns)
    sets = doc_b["JoinMinimumSet_set"] + doc_b["JoinMemberSet_set"]
    hub = d_big["shuffle_bytes_JoinMemberSet_hub"]["sum"] * scale / cand_big
    comp = sum(v["sum"] for k, v in d_big.items()
               if re.match(r"shuffle_bytes_(R\d|DistinctInput|GroupFinal|JoinParentRoot)", k))
    lines += ["", f"One process (FnApiRunner, everything in memory): peak RSS = {rss_icpt:,.0f} MB + "
              f"{rss_slope * 1e3:,.1f} MB per 1,000 documents (datasketch + verification: {ds_rss_icpt:,.0f} MB + "
              f"{ds_rss_slope * 1e3:,.1f} MB per 1,000). Rounds needed on paths = {r_icpt:.2f} + {r_slope:.2f} "
              f"log2(diameter), so {ROUNDS} rounds cover a path of diameter "
              f"~{2 ** ((ROUNDS - r_icpt) / r_slope):,.0f}.",
              "", f"Extrapolation to {CC_DOCS:.0e} documents of {CC_WORDS} words under the same structure (computed "
              f"from the figures above, not measured): per document {sum(doc_b.values()):,.0f} B of one-per-document "
              f"streams (band keys {doc_b['GroupBuckets']:,.0f} B, the two shingle-hash-set streams {sets:,.0f} B, "
              f"the decision join's document {doc_b['JoinDecision_doc']:,.0f} B) plus {edges_cc:.3f} candidate edges "
              f"(per-bin rates at {big:,} x the bin shares at {CC_DOCS:.0e}; {cand_big / big:.3f} at {big:,}) x "
              f"{per_edge:,.0f} B per edge (of which the hub's set {hub:,.0f} B, the {ROUNDS} component rounds and "
              f"their joins {comp / cand_big:,.0f} B) = {cc_doc:,.0f} B per document, "
              f"{_human(cc_doc * CC_DOCS)} shuffled in all ({_human(sets * CC_DOCS)} of it the shingle-hash sets "
              f"sent once per document to each verification join). The per-bin rates assume that clusters larger "
              f"than those measured have no more edges per document than the largest measured; giving the "
              f"{top} bin the boilerplate fit's rate at the largest cluster instead ({hub_at_largest:.2f}) makes it "
              f"{edges_high:.3f} edges, {sum(doc_b.values()) + edges_high * per_edge:,.0f} B per document, "
              f"{_human((sum(doc_b.values()) + edges_high * per_edge) * CC_DOCS)}; the bound (14 "
              f"band edges for each of the {DUP_SHARE:.0%} clustered documents, {edges_max:.1f} per document) "
              f"gives {sum(doc_b.values()) + edges_max * per_edge:,.0f} B per document, "
              f"{_human((sum(doc_b.values()) + edges_max * per_edge) * CC_DOCS)} in all.",
              "", f"Largest cluster at {CC_DOCS:.0e} under the size law: {largest_cc:,} documents; a CoGroupByKey "
              f"lists its member ids (JoinMinimumSet, JoinParentRoot) at {enc_id:.0f} B encoded and {mem_id:.0f} B "
              f"in memory per id (tracemalloc): {_human(largest_cc * enc_id)} encoded, {_human(largest_cc * mem_id)} "
              f"in memory on one worker, besides the signing batch. Chains have fewer than {TEMPLATE_MIN} versions "
              f"at every n, so the diameter is bounded whatever n (largest measured: {max_diam}; paths of that "
              f"diameter need {r_icpt + r_slope * math.log2(max(max_diam, 2)):.1f} rounds by the fit)."]
    dl = lean_runs[big]["dist"]
    set_streams = ("JoinMinimumSet_set", "JoinMemberSet_set", "JoinMemberSet_hub")
    lean_b = {_step_of(k): v["sum"] * (scale if _step_of(k) in set_streams else 1)
              for k, v in dl.items() if k.startswith("shuffle_bytes_")}
    lean_doc = sum(b for k, b in lean_b.items() if k in LEAN_DOC_STREAMS) / big
    lean_edge = sum(b for k, b in lean_b.items() if k not in LEAN_DOC_STREAMS) / cand_big
    lean_cc = lean_doc + edges_cc * lean_edge
    lines += ["", f"Lean (as curate runs it), same extrapolation: {lean_doc:,.0f} B of one-per-document streams (band "
              f"keys, the pointer, the lean decision join) plus {edges_cc:.3f} candidate edges x {lean_edge:,.0f} B "
              f"(the edge streams and, now per candidate rather than per document, the shingle-hash sets and their "
              f"pointers) = {lean_cc:,.0f} B per document, {_human(lean_cc * CC_DOCS)} in all, "
              f"{lean_cc / cc_doc:.2f}x the whole-document figure; with the boilerplate rate "
              f"{lean_doc + edges_high * lean_edge:,.0f} B. Outside the composite the curate job's final pass "
              f"shuffles one lean row per kept document or rejected row to read its text back "
              f"({lean_runs[big]['lean_row_bytes']:,.0f} B here; pointer-keyed, no text)."]
    return "\n".join(lines)


def _main(argv):
    kind = argv[0]
    if kind == "winnow":
        res = _winnow(int(argv[1]), bool(int(argv[2])), len(argv) > 3 and bool(int(argv[3])))
    elif kind == "datasketch":
        res = _datasketch(int(argv[1]))
    elif kind == "paths":
        res = {"paths": _paths()}
    elif kind == "hub":
        res = {"hub": _hub_edges()}
    else:
        raise SystemExit(f"unknown worker {kind}")
    print(json.dumps(res))


if __name__ == "__main__":
    _main(sys.argv[1:])
