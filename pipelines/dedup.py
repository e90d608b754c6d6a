"""Deduplication as Beam composites: exact (normalised-text hash) and MinHash LSH near-duplicates.

Exact: documents are keyed by a hash of their normalised text; the smallest id per key is the kept
document (a combiner computes it, so the shuffle for the decision carries ids, not texts), then the
documents are joined with that choice and the others leave as `exact_duplicate` rows naming the kept id.

MinHash: each document's signature is cut into bands; documents sharing a band key are candidates. Every
bucket emits an edge from each member to its smallest member (not all pairs), so a bucket of n members
costs n edges. A document is dropped as `near_duplicate` when any bucket-mate has a smaller id, and points
at the smallest such id; documents with no smaller neighbour are kept. Kept documents carry
`dedup_cluster_id` (their own id) and `dedup_cluster_size` (the documents folded into them, exact
duplicates included). This is one round of min-label propagation: exact for cliques, the common shape of
near-duplicate sets; chains can keep more than one document per connected component.

Group-by keys and their bounds: exact dedup groups by text hash (a boilerplate page shared by a million
documents is one hot key; the values are iterated once, never held as a list here, and Dataflow pages
large groups); MinHash groups by (band, band hash), iterated twice to find the minimum and emit edges.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Iterable, Tuple

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from filters.dedup import exact_dedup_key
from filters.minhash import MinHashParams, band_hashes, minhash_signature
from pipelines.stages import ERRORS, REJECTED, StageCounters, error_row_for
from schemas import DEDUP_CLUSTER_ID, DEDUP_CLUSTER_SIZE, ID, TEXT, to_rejected_row

EXACT_STAGE = "dedup_exact"
MINHASH_STAGE = "dedup_minhash"


def _cluster_size(doc: Dict[str, Any]) -> int:
    return int(doc.get(DEDUP_CLUSTER_SIZE) or 1)


class _KeyByExactHash(beam.DoFn):
    def __init__(self, normalize: bool):
        self._normalize = normalize
        self._c = None

    def setup(self):
        self._c = StageCounters(EXACT_STAGE)

    def process(self, doc):
        self._c.in_.inc()
        start = time.perf_counter()
        try:
            key = exact_dedup_key(doc[TEXT], normalize=self._normalize)
        except Exception as exc:
            self._c.errors.inc()
            yield TaggedOutput(ERRORS, error_row_for(EXACT_STAGE, doc, exc))
            return
        finally:
            self._c.micros.inc(int((time.perf_counter() - start) * 1e6))
        yield key, doc


class _MinIdAndSize(beam.CombineFn):
    """(smallest id, total cluster size) over (id, size) pairs."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, acc, item):
        best, total = acc
        doc_id, size = item
        return (doc_id if best is None or doc_id < best else best), total + size

    def merge_accumulators(self, accs):
        best, total = None, 0
        for b, t in accs:
            if b is not None and (best is None or b < best):
                best = b
            total += t
        return best, total

    def extract_output(self, acc):
        return acc


def _id_and_size(kv):
    key, doc = kv
    return key, (doc[ID], _cluster_size(doc))


class _ResolveExact(beam.DoFn):
    def setup(self):
        self._c = StageCounters(EXACT_STAGE)

    def process(self, kv):
        _key, grouped = kv
        (kept_id, total), = grouped["choice"]
        for doc in grouped["docs"]:
            if doc[ID] == kept_id:
                self._c.kept.inc()
                doc[DEDUP_CLUSTER_ID] = kept_id
                doc[DEDUP_CLUSTER_SIZE] = total
                yield doc
            else:
                self._c.dropped("exact_duplicate")
                yield TaggedOutput(REJECTED, to_rejected_row(doc, EXACT_STAGE, "exact_duplicate", duplicate_of=kept_id))


class DedupExact(beam.PTransform):
    """Keep one document per normalised text; outputs main (kept), `rejected`, `errors`."""

    def __init__(self, normalize: bool = True):
        super().__init__()
        self._normalize = bool(normalize)

    def expand(self, docs):
        keyed = docs | "KeyByTextHash" >> beam.ParDo(_KeyByExactHash(self._normalize)).with_outputs(ERRORS, main="keyed")
        choice = (keyed.keyed | "IdAndSize" >> beam.Map(_id_and_size)
                  | "ChooseSmallestId" >> beam.CombinePerKey(_MinIdAndSize()))
        resolved = ({"docs": keyed.keyed, "choice": choice} | "JoinChoice" >> beam.CoGroupByKey()
                    | "Resolve" >> beam.ParDo(_ResolveExact()).with_outputs(REJECTED, main="kept"))
        return {"kept": resolved.kept, REJECTED: resolved[REJECTED], ERRORS: keyed[ERRORS]}


class _Signature(beam.DoFn):
    """Signature and band keys of one document: emits (id, doc) and ((band, hash), id) pairs."""

    BANDS = "bands"

    def __init__(self, params: MinHashParams):
        self._params = params

    def setup(self):
        self._c = StageCounters(MINHASH_STAGE)

    def process(self, doc):
        self._c.in_.inc()
        start = time.perf_counter()
        try:
            signature = minhash_signature(doc[TEXT], self._params)
            keys = band_hashes(signature, self._params.bands, self._params.rows)
        except Exception as exc:
            self._c.errors.inc()
            yield TaggedOutput(ERRORS, error_row_for(MINHASH_STAGE, doc, exc))
            return
        finally:
            self._c.micros.inc(int((time.perf_counter() - start) * 1e6))
        doc_id = doc[ID]
        yield doc_id, doc
        for band, key in enumerate(keys):
            yield TaggedOutput(self.BANDS, ((band, key), doc_id))


def _edges_to_bucket_min(kv) -> Iterable[Tuple[str, str]]:
    _bucket, ids = kv
    smallest = None
    for doc_id in ids:  # first pass: the minimum, without materialising the bucket
        if smallest is None or doc_id < smallest:
            smallest = doc_id
    for doc_id in ids:
        if doc_id != smallest:
            yield doc_id, smallest


class _ResolveNearDuplicates(beam.DoFn):
    def setup(self):
        self._c = StageCounters(MINHASH_STAGE)

    def process(self, kv):
        doc_id, grouped = kv
        docs = list(grouped["doc"])
        if not docs:  # an id that only appears as an edge target cannot happen; guard anyway
            return
        doc = docs[0]
        reps = list(grouped["rep"])
        if reps:
            self._c.dropped("near_duplicate")
            yield TaggedOutput(REJECTED, to_rejected_row(doc, MINHASH_STAGE, "near_duplicate", duplicate_of=reps[0]))
            return
        folded = sum(grouped["folded"])
        doc[DEDUP_CLUSTER_ID] = doc_id
        doc[DEDUP_CLUSTER_SIZE] = _cluster_size(doc) + folded
        self._c.kept.inc()
        yield doc


def _size_to_rep(kv):
    doc_id, grouped = kv
    reps = list(grouped["rep"])
    docs = list(grouped["doc"])
    if reps and docs:
        yield reps[0], _cluster_size(docs[0])


class DedupMinhash(beam.PTransform):
    """MinHash LSH near-duplicate removal; outputs main (kept), `rejected`, `errors`."""

    def __init__(self, **params):
        super().__init__()
        self._params = MinHashParams(**params)

    def expand(self, docs):
        sig = docs | "Signature" >> beam.ParDo(_Signature(self._params)).with_outputs(_Signature.BANDS, ERRORS, main="docs")
        edges = (sig[_Signature.BANDS] | "GroupBuckets" >> beam.GroupByKey()
                 | "EdgesToBucketMin" >> beam.FlatMap(_edges_to_bucket_min))
        rep = edges | "SmallestNeighbour" >> beam.CombinePerKey(min)
        folded = ({"doc": sig.docs, "rep": rep} | "JoinRepForSize" >> beam.CoGroupByKey()
                  | "SizeToRep" >> beam.FlatMap(_size_to_rep) | "FoldedSize" >> beam.CombinePerKey(sum))
        resolved = ({"doc": sig.docs, "rep": rep, "folded": folded} | "JoinDecision" >> beam.CoGroupByKey()
                    | "Resolve" >> beam.ParDo(_ResolveNearDuplicates()).with_outputs(REJECTED, main="kept"))
        return {"kept": resolved.kept, REJECTED: resolved[REJECTED], ERRORS: sig[ERRORS]}
