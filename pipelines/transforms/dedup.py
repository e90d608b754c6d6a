"""Deduplication as Beam composites: exact, MinHash LSH near-duplicates with distributed connected
components, and line-level boilerplate removal.

Exact (`DedupExact`): documents are keyed by a hash of their (optionally normalised) text; a combiner picks
the smallest `representative_key` per text (so the decision's shuffle carries keys, not texts); a join
routes the rest to `rejected` as `exact_duplicate` with the kept id in `duplicate_of`.

MinHash (`DedupMinhash`):
1. Sign: documents are batched (`BatchElements`, up to 256) and signed in one vectorised numpy pass per batch
   (`filters.minhash.minhash_signatures`); each document leaves one ((band, band hash), node) pair per band.
   A node is the document's `representative_key`, so "smallest node" means "the document to keep".
2. Buckets: `GroupByKey` on the band key, then filters/components.py's `edges_to_bucket_min`: a bucket is iterated
   twice, first for its smallest node, then to emit one edge from every other member to it: n - 1 edges per bucket,
   never n^2, and only the running minimum is held (Dataflow pages large groups, so a boilerplate bucket of a
   million members stays bounded).
3. Optional verification (`verify_threshold`): each candidate edge is joined with both endpoints' shingle-hash sets
   and kept only if their exact Jaccard reaches the threshold, removing LSH false positives. When verifying, a
   bucket emits edges from every member to its smallest node and from every larger member to its second smallest
   too (`edges_to_bucket_hubs`: 2n - 3, never n^2): a member unlike the minimum but like another member keeps a
   second chance to link. On the perturbed-prose benchmark (pure functions, 3 x 10 seeds, 11 x 10 bands) verified
   recall is 0.851 with the minimum alone, 0.853 with two hubs -- the same as checking every pair of every bucket,
   and 0.855 unverified -- at precision 0.93 instead of 0.78 unverified. The join is ordered so that no group holds
   more than a bounded number of sets: first by the hub v (its one set plus the ids of the members pointing at it;
   a hub lists ids only, as the components do), which sends (v, set_v) to each member u; then by u (its own set
   plus at most 2 x `bands` (v, set_v), since u has two edges per band at most), where the Jaccard is computed.
   Shuffle volume: one set per edge plus three per document (the third carries a kept document's set to the
   index, see below).
4. Connected components: `rounds` unrolled rounds of large-star then small-star (the steps: filters/components.py;
   Kiveris et al., "Connected Components in MapReduce and Beyond", 2014: O(log^2 n) rounds, in practice a handful);
   each round is one group-by on the node plus a `Distinct` of the emitted edges, and no worker ever holds more
   than one node's neighbour stream. Beam graphs are static, so the rounds are unrolled; the counter
   `cc_round_<i>_changed` (edges that round i's large-star and small-star re-linked to a smaller node) is the
   convergence signal: it is 0 exactly when every component is already a star around its minimum, so the first
   round with 0 is the number of rounds the graph needed (`cc_round_<i>_rewired` counts nodes that have a smaller
   neighbour in round i's large-star; it settles at the number of non-root nodes, never 0). After the last round
   `cc_unconverged` counts nodes whose parent is not a root. The result is safe even then: every removed document
   points at a smaller node of its component, and a component can only keep more than one document, never none.
5. Resolve: a node's label is its smallest neighbour (or itself); cluster sizes are summed per label by a
   combiner; one join by id sends the label's document to `kept` with `dedup_cluster_id` and
   `dedup_cluster_size` (exact duplicates folded in) and the others to `rejected` as `near_duplicate`.

Index and earlier runs (filters/dedup_index.py): both composites emit an `index` output, the rows a later run
looks up -- exact: (text hash, kept id) per kept document; MinHash: (band key, kept id) per band of every kept
document -- which the curate job writes with `WriteDedupIndex` (one group per partition: sort, one Parquet
file, then index.json). With `against: [DIR, ...]`, `LookupPrevious` groups the run's own keys by their 16-bit
bucket (group size: the run's keys / 65536), reads for each bucket only the row groups of the one partition
file that can hold it, and emits (key, previous node) for the keys found. A previous node sorts before every
document, so exact dedup adds it to the representative choice of its text hash and MinHash adds it as a
member of its band bucket; the usual minimum then rejects the new documents as `duplicate_of_previous`, with
the kept id and {"index": DIR}. When MinHash verifies, an edge to an earlier node is verified like any other:
the index also holds each kept document's shingle-hash set (bucketed by id), and the edges to earlier nodes,
grouped by the bucket of the kept id, read the sets of those documents only (`_ReadPreviousSets`) and join
the member's set in `JoinMemberSet`.
The index's parameters are checked against the recipe's before the job starts (`check_against`, called by the
curate job; a Dataflow dry run reads no storage, so it skips this) and again by the workers that read it.

Lines (`DedupLines`): see filters/lines.py; key counts by a combiner (hot-key fan-out), boilerplate keys joined
back to the ids holding them, the removed keys grouped per document and applied in one join by id.

Shuffle accounting (`measure_shuffle=True`, off by default; the outputs are the same either way): every
group-by of the composite (GroupByKey, CoGroupByKey, and the CombinePerKey inside Distinct and ClusterSize)
gets a pass-through step before it that encodes each element as the group-by's KV coder writes it
(Distribution `shuffle_bytes_<step>[_<tag>]`: sum = bytes, count = elements), and after each GroupByKey /
CoGroupByKey one that sizes every group (`group_bytes_<step>`, `group_values_<step>`: max = the largest group).
A CombinePerKey is counted at its input, before combiner lifting (an upper bound of what crosses the shuffle).

Every step is a function of sets of ids and keys, so results are identical across runs and worker counts.
"""
from __future__ import annotations

import hashlib

import time
import typing
from typing import Annotated, Any, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam import coders
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from filters import dedup_index as dix
from filters.components import edges_to_bucket_hubs, edges_to_bucket_min, large_star, small_star, star_minimum
from filters.dedup import (REPRESENTATIVES, SCORE_MISSING, check_representative, exact_dedup_key, id_of_key,
                           representative_key, score_missing)
from filters.lines import UNITS, LineDedupParams, remove_units, too_short, unit_keys
from filters.minhash import MinHashParams, band_hashes, hash_set_jaccard, minhash_signatures, shingle_hash_sets
from filters.stage_options import NonNegativeInt, OneOf, OptionError, PositiveInt, Range, checked_options
from pipelines.transforms.counters import BREAKDOWN_SEPARATOR
from pipelines.transforms.phases import CHUNK_ROWS, PTR, lean, read_texts
from pipelines.transforms.stages import (ERRORS, FAILED, REJECTED, StageCounters, batch_then_one_by_one, count_and_compute,
                             error_output, metrics_namespace)
from schemas import DEDUP_CLUSTER_ID, DEDUP_CLUSTER_SIZE, ID, TEXT, to_rejected_row
from schemas.errors import WinnowError

EXACT_STAGE = "dedup_exact"
MINHASH_STAGE = "dedup_minhash"
LINES_STAGE = "dedup_lines"
_SIGN_BATCH = 256
INDEX = "index"
INDEX_SETS = "index_sets"  # MinHash with verification: (id bucket, kept id, shingle-hash set) of kept documents
PREVIOUS_REASON = "duplicate_of_previous"


def _cluster_size(doc: Dict[str, Any]) -> int:
    return int(doc.get(DEDUP_CLUSTER_SIZE) or 1)


# ---------------------------------------------------------------------------------------------- earlier runs

def against_dirs(against: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """The `against` DIRs as given. Nothing is read here: a Dataflow dry run builds the job without touching
    storage; `check_against` (called by the curate job before it starts) and the workers read the indexes."""
    if against is None:
        return ()
    if not against:
        raise ValueError("against: give at least one DIR (a previous curate output or its index/), or leave it out")
    return tuple(str(d) for d in against)


def load_against(stage: str, dirs: Sequence[str], run_params: Dict[str, Any],
                 sets: bool = False) -> List[Tuple[str, Dict[str, Any]]]:
    """(index directory, index.json) per DIR -- of its shingle-hash sets when `sets` -- ValueError for a DIR without
    an index of `stage`, one built with other parameters, or (sets) one without sets."""
    out = []
    for given in dirs:
        stage_dir, desc = dix.check_params(given, stage, run_params)
        if sets:
            found = dix.load_sets(stage_dir)
            if found is None:
                why, again = (("it was merged from an index without them", "merge only indexes that have sets")
                              if desc.get("sources") else
                              ("its run had verify_threshold: null", f"curate the run of {given} again with "
                                                                     f"verification"))
                raise ValueError(f"against: the {stage} index {stage_dir} holds no shingle-hash sets ({why}), so "
                                 f"candidate pairs with it cannot be verified: set verify_threshold: null here "
                                 f"too, or {again}")
            stage_dir, desc = found
        out.append((stage_dir, desc))
    return out


def rejected_row(doc: Dict[str, Any], stage: str, reason: str, duplicate_of: Optional[str] = None,
                 detail: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """`to_rejected_row`, keeping a lean document's `_ptr` (the curate job reads its text back by it)."""
    row = to_rejected_row(doc, stage, reason, duplicate_of=duplicate_of, detail=detail)
    if PTR in doc:
        row[PTR] = doc[PTR]
    return row


def previous_rejection(doc: Dict[str, Any], stage: str, node: str, against_dirs: Sequence[str]) -> Dict[str, Any]:
    number, kept_id = dix.parse_previous(node)
    return rejected_row(doc, stage, PREVIOUS_REASON, duplicate_of=kept_id, detail={"index": against_dirs[number]})


def _bucket_and_key(key):
    kb = dix.key_bytes(key)
    return dix.bucket_of(kb), kb


class _LookupBucket(beam.DoFn):
    """Bucket b: the run's keys of b -> (key, previous node) for each of them found in an index."""

    def __init__(self, stage: str, dirs: Sequence[str], run_params: Dict[str, Any], hex_keys: bool):
        self._stage, self._dirs, self._params, self._hex = stage, tuple(dirs), dict(run_params), hex_keys

    def setup(self):
        self._readers = [dix.IndexReader(d, desc) for d, desc in load_against(self._stage, self._dirs, self._params)]
        ns = metrics_namespace(self._stage)
        self._hits = Metrics.counter(ns, "index_hits")
        self._bytes = Metrics.counter(ns, "index_bytes_read")
        self._groups = Metrics.counter(ns, "index_row_groups_read")
        self._parts = Metrics.counter(ns, "index_partitions_opened")

    def process(self, kv):
        bucket, keys = kv
        wanted = set(keys)
        for number, reader in enumerate(self._readers):
            before = (reader.bytes_read, reader.row_groups_read, reader.partitions_opened)
            for key, kept_id in reader.lookup(bucket, wanted):
                self._hits.inc()
                yield (key.hex() if self._hex else key), dix.previous_node(number, kept_id)
            self._bytes.inc(reader.bytes_read - before[0])
            self._groups.inc(reader.row_groups_read - before[1])
            self._parts.inc(reader.partitions_opened - before[2])


class _KeySet(beam.CombineFn):
    """The distinct keys of a bucket. A combiner, so the copies of a hot key (a boilerplate text a million
    documents share) collapse before the shuffle: a bucket's group is its distinct keys, never its copies."""

    def create_accumulator(self):
        return set()

    def add_input(self, acc, key):
        acc.add(key)
        return acc

    def merge_accumulators(self, accs):
        out = set()
        for acc in accs:
            out |= acc
        return out

    def extract_output(self, acc):
        return sorted(acc)


class LookupPrevious(beam.PTransform):
    """The run's keys (exact hex hashes or band keys) -> (key, previous node) for those found in the indexes.

    Combined by 16-bit bucket, so one group holds the run's distinct keys of one bucket (never the index's:
    the run's keys / 65536), and each group reads only the row groups of one partition file that cover it."""

    def __init__(self, stage: str, dirs: Sequence[str], run_params: Dict[str, Any], hex_keys: bool):
        super().__init__()
        self._stage, self._dirs, self._params, self._hex = stage, tuple(dirs), dict(run_params), hex_keys

    def expand(self, keys):
        return (keys | "BucketOfKey" >> beam.Map(_bucket_and_key)
                | "GroupByBucket" >> beam.CombinePerKey(_KeySet())
                | "ReadIndex" >> beam.ParDo(_LookupBucket(self._stage, self._dirs, self._params, self._hex)))


def _index_partition(row, partitions: int):
    bucket, _key, _kept = row
    return dix.partition_of(bucket, partitions), row


class _WritePartition(beam.DoFn):
    def __init__(self, directory: str, partitions: int, sets: bool):
        self._dir, self._partitions, self._sets = directory, partitions, sets

    def process(self, kv):
        partition, rows = kv
        yield dix.write_partition(self._dir, partition, self._partitions, rows,
                                  dix.SETS_SCHEMA if self._sets else dix.INDEX_SCHEMA)


class _WriteDescription(beam.DoFn):
    def __init__(self, directory: str, stage: str, params: Dict[str, Any], partitions: int, keys_per_document: int,
                 sets: bool):
        self._dir, self._stage, self._params = directory, stage, params
        self._partitions, self._keys, self._sets = partitions, keys_per_document, sets

    def process(self, unused_once, files):
        desc = dix.describe(self._stage, self._params, self._partitions, files, self._keys,
                            holds=dix.SETS_HOLDS if self._sets else None)
        dix.write_description(self._dir, desc)
        yield desc


class WriteDedupIndex(beam.PTransform):
    """(bucket, key bytes, kept id) rows -> `directory`/part-*.parquet + index.json (filters/dedup_index.py).

    One group per partition (rows / `partitions` rows: sorted in memory, written as one file); the description
    is one step that reads the file entries (one per partition) as a side input, so it runs once they are all
    written (a side input instead of a global combine: one bundle instead of two)."""

    def __init__(self, directory: str, stage: str, params: Dict[str, Any], partitions: int, keys_per_document: int,
                 sets: bool = False):
        super().__init__()
        self._dir, self._stage, self._params = directory, stage, dict(params)
        self._partitions, self._keys, self._sets = int(partitions), int(keys_per_document), bool(sets)

    def expand(self, rows):
        files = (rows | "ByPartition" >> beam.Map(_index_partition, self._partitions)
                 | "GroupPartition" >> beam.GroupByKey()
                 | "WritePartition" >> beam.ParDo(_WritePartition(self._dir, self._partitions, self._sets)))
        return (rows.pipeline | "Once" >> beam.Create([None])
                | "WriteDescription" >> beam.ParDo(_WriteDescription(self._dir, self._stage, self._params,
                                                                     self._partitions, self._keys, self._sets),
                                                   beam.pvalue.AsList(files)))


def _previous_set_request(edge):
    """(u, v) with v an earlier run's node -> (bucket of v's kept id, (v, u))."""
    u, v = edge
    return dix.id_bucket(dix.parse_previous(v)[1]), (v, u)


class _ReadPreviousSets(beam.DoFn):
    """Bucket of kept ids: the (v, u) edges to earlier nodes -> (u, (v, set_v)) from the index's sets."""

    def __init__(self, dirs: Sequence[str], run_params: Dict[str, Any]):
        self._dirs, self._params = tuple(dirs), dict(run_params)

    def setup(self):
        self._readers = [dix.IndexReader(d, desc, key_column=dix.KEPT_ID, value_column=dix.SET)
                         for d, desc in load_against(MINHASH_STAGE, self._dirs, self._params, sets=True)]
        self._bytes = Metrics.counter(metrics_namespace(MINHASH_STAGE), "index_set_bytes_read")

    def process(self, kv):
        bucket, pairs = kv
        members: Dict[str, List[str]] = {}
        for v, u in pairs:
            members.setdefault(v, []).append(u)
        for v in sorted(members):
            number, kept_id = dix.parse_previous(v)
            reader = self._readers[number]
            before = reader.bytes_read
            found = reader.lookup(bucket, [kept_id])
            self._bytes.inc(reader.bytes_read - before)
            if not found:
                # every kept id of a verified index has its set (merges keep sets only when all inputs have them):
                # one missing means a damaged sets/ part, and the pair could not be verified either way
                raise WinnowError(f"holds no shingle-hash set for {kept_id!r}, which its index lists as kept",
                                  path=reader.directory, fix=dix.FIX_DAMAGED_INDEX)
            for u in members[v]:
                yield u, (v, found[0][1])


# ---------------------------------------------------------------------------------------------- exact

class _KeyByExactHash(beam.DoFn):
    def __init__(self, normalize: bool):
        self._normalize = normalize
        self._c = None

    def setup(self):
        self._c = StageCounters(EXACT_STAGE)

    def _key(self, doc):
        return exact_dedup_key(doc[TEXT], normalize=self._normalize)

    def process(self, doc):
        key = yield from count_and_compute(self._c, EXACT_STAGE, doc, self._key)
        if key is not FAILED:
            yield key, doc


class _MinKeyAndSize(beam.CombineFn):
    """(smallest representative key, total cluster size, bit mask of the fan-out slots that hold documents) over
    (key, size, slot) items (slot None: an earlier run's node, which has no document here)."""

    def create_accumulator(self):
        return None, 0, 0

    def add_input(self, acc, item):
        best, total, mask = acc
        key, size, slot = item
        return ((key if best is None or key < best else best), total + size,
                mask if slot is None else mask | (1 << slot))

    def merge_accumulators(self, accs):
        best, total, mask = None, 0, 0
        for b, t, m in accs:
            if b is not None and (best is None or b < best):
                best = b
            total += t
            mask |= m
        return best, total, mask

    def extract_output(self, acc):
        return acc


def _score_missing_counter(stage: str, representative: str, score: Optional[str]):
    """The counter of documents without the `quality` representative's score (None for other criteria): in
    report.json as the stage's `score_missing: {SCORE: documents}`."""
    if representative != "quality":
        return None
    return Metrics.counter(metrics_namespace(stage), f"{SCORE_MISSING}{BREAKDOWN_SEPARATOR}{score}")


class _RankAndSize(beam.DoFn):
    def __init__(self, representative: str, score: Optional[str]):
        self._representative, self._score = representative, score

    def setup(self):
        self._missing = _score_missing_counter(EXACT_STAGE, self._representative, self._score)

    def process(self, kv):
        key, doc = kv
        if self._missing is not None and score_missing(doc, self._representative, self._score):
            self._missing.inc()
        yield key, (representative_key(doc, self._representative, self._score), _cluster_size(doc),
                    _fanout_slot(doc[ID]))


class _ResolveExact(beam.DoFn):
    def __init__(self, representative: str, against_dirs: Sequence[str] = ()):
        self._representative, self._against = representative, tuple(against_dirs)

    def setup(self):
        self._c = StageCounters(EXACT_STAGE)

    def process(self, kv):
        (key, _slot), grouped = kv
        (best, total, _mask), = grouped["choice"]
        if dix.is_previous(best):  # an earlier run kept this text
            for doc in grouped["docs"]:
                self._c.dropped(PREVIOUS_REASON)
                yield TaggedOutput(REJECTED, previous_rejection(doc, EXACT_STAGE, best, self._against))
            return
        kept_id = id_of_key(best, self._representative)
        for doc in grouped["docs"]:  # one fan-out slot's copies of the text
            if doc[ID] == kept_id:
                self._c.kept.inc()
                doc[DEDUP_CLUSTER_ID] = kept_id
                doc[DEDUP_CLUSTER_SIZE] = total
                kb = dix.key_bytes(key)
                yield TaggedOutput(INDEX, (dix.bucket_of(kb), kb, kept_id))
                yield doc
            else:
                self._c.dropped("exact_duplicate")
                yield TaggedOutput(REJECTED, rejected_row(doc, EXACT_STAGE, "exact_duplicate", duplicate_of=kept_id))


# Beam Python's CoGroupByKey collects each key's values into lists, so the join that routes documents is
# keyed by (text hash, fan-out slot): all copies of one hot text (a boilerplate page shared by millions of
# documents) are spread over JOIN_FANOUT groups, and the (small) choice is sent to every slot.
JOIN_FANOUT = 64


def _fanout_slot(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(str(doc_id).encode("utf-8", "surrogatepass"), digest_size=4).digest(),
                          "little") % JOIN_FANOUT


def _doc_to_slot(kv):
    key, doc = kv
    return (key, _fanout_slot(doc[ID])), doc


def _lean_doc_to_slot(kv):
    key, doc = kv
    return (key, _fanout_slot(doc[ID])), lean(doc)


def _text_hash(kv):
    return kv[0]


def _previous_choice(kv):
    key, node = kv
    return key, (node, 0, None)


def _choice_to_slots(kv):
    """The choice goes to the fan-out slots that hold a copy of the text only (one for a text seen once, not all
    64: sent to every slot it was 64 elements per distinct text, which the in-process runner holds in memory)."""
    key, choice = kv
    mask = choice[2]
    for slot in range(JOIN_FANOUT):
        if mask >> slot & 1:
            yield (key, slot), choice


Representative = Annotated[str, OneOf(*REPRESENTATIVES)]


@checked_options
class DedupExact(beam.PTransform):
    """Keep one document per (normalised) text; outputs main (kept), `rejected`, `errors`, `index` (the kept
    documents' text hashes); `against`: earlier curate outputs whose indexed texts this run rejects."""

    def __init__(self, normalize: bool = True, representative: Representative = "smallest_id",
                 score: Optional[str] = None, against: Optional[List[str]] = None,
                 index_partitions: Annotated[int, Range(1, dix.MAX_PARTITIONS)] = dix.DEFAULT_PARTITIONS):
        super().__init__()
        check_representative(representative, score)
        self._normalize = bool(normalize)
        self._representative, self._score = representative, score
        self._partitions = int(index_partitions)
        self._against = against_dirs(against)
        self._lean = False

    def lean_documents(self, phase_dir: str) -> None:
        """Carry documents through the join without their text (the curate job's phases; `phase_dir` holds the
        phase files their `_ptr` point into): kept and rejected come out lean."""
        self._lean = True

    @property
    def index_params(self) -> Dict[str, Any]:
        """The parameters an index of this stage must share with it (index.json `params`)."""
        return dix.exact_params(self._normalize)

    def check_against(self) -> None:
        """Read the `against` indexes' descriptions: ValueError, naming the difference, for one that cannot serve."""
        load_against(EXACT_STAGE, self._against, self.index_params)

    def write_index(self, outputs, directory: str, label: str) -> None:
        """Write the outputs' index rows (filters/dedup_index.py) under `directory`."""
        _ = outputs[INDEX] | f"{label}WriteIndex" >> WriteDedupIndex(directory, EXACT_STAGE, self.index_params,
                                                                    self._partitions, 1)

    def expand(self, docs):
        keyed = docs | "KeyByTextHash" >> beam.ParDo(_KeyByExactHash(self._normalize)).with_outputs(ERRORS, main="keyed")
        ranks = keyed.keyed | "RankAndSize" >> beam.ParDo(_RankAndSize(self._representative, self._score))
        if self._against:
            previous = (keyed.keyed | "TextHashes" >> beam.Map(_text_hash)
                        | "LookupPrevious" >> LookupPrevious(EXACT_STAGE, self._against, self.index_params, hex_keys=True)
                        | "PreviousChoice" >> beam.Map(_previous_choice))
            ranks = (ranks, previous) | "WithPrevious" >> beam.Flatten()
        choice = ranks | "ChooseRepresentative" >> beam.CombinePerKey(_MinKeyAndSize())
        docs_by_slot = keyed.keyed | "SpreadCopies" >> beam.Map(_lean_doc_to_slot if self._lean else _doc_to_slot)
        choice_by_slot = choice | "ChoiceToSlots" >> beam.FlatMap(_choice_to_slots)
        resolved = ({"docs": docs_by_slot, "choice": choice_by_slot} | "JoinChoice" >> beam.CoGroupByKey()
                    | "Resolve" >> beam.ParDo(_ResolveExact(self._representative, self._against))
                    .with_outputs(REJECTED, INDEX, main="kept"))
        return {"kept": resolved.kept, REJECTED: resolved[REJECTED], ERRORS: keyed[ERRORS], INDEX: resolved[INDEX]}


# ---------------------------------------------------------------------------------------------- minhash

class _SignBatch(beam.DoFn):
    """Signs a batch of documents in one numpy pass; emits (id, doc), ((band, key), node) and, when
    verifying, (node, shingle-hash set bytes). A batch that fails is retried one document at a time so a
    bad document becomes one error row.

    Lean (the curate job's phases): (id, lean doc) instead of the document, no sets here (the documents with a
    candidate edge get theirs from the phase files later, `_CandidateSets`), and (node, `_ptr`) per document."""

    BANDS = "bands"
    SETS = "sets"
    KEYS = "keys"  # (id, the document's band keys): what the index holds for a kept document
    POINTERS = "pointers"  # lean: (node, (phase file, row))

    def __init__(self, params: MinHashParams, representative: str, score: Optional[str], verify: bool,
                 lean_docs: bool = False):
        self._params, self._representative, self._score, self._verify = params, representative, score, verify
        self._lean = lean_docs

    def setup(self):
        self._c = StageCounters(MINHASH_STAGE)
        self._missing = _score_missing_counter(MINHASH_STAGE, self._representative, self._score)
        minhash_signatures(["warm up the per-process tables"], self._params)

    def _sign(self, docs: List[Dict[str, Any]]) -> List[Tuple[Any, Any, str]]:
        """(signature, shingle-hash set or None, node) per document, in one numpy pass."""
        texts = [d[TEXT] for d in docs]
        sigs = minhash_signatures(texts, self._params)
        sets = (shingle_hash_sets(texts, self._params) if self._verify and not self._lean
                else [None] * len(docs))
        nodes = [representative_key(d, self._representative, self._score) for d in docs]
        return list(zip(sigs, sets, nodes))

    def process(self, batch):
        start = time.perf_counter()
        self._c.in_.inc(len(batch))
        for doc, signed, exc in batch_then_one_by_one(batch, self._sign):
            if exc is not None:
                yield error_output(self._c, MINHASH_STAGE, doc, exc)
                continue
            sig, hset, node = signed
            if self._missing is not None and score_missing(doc, self._representative, self._score):
                self._missing.inc()
            if self._lean:
                yield doc[ID], lean(doc)
                yield TaggedOutput(self.POINTERS, (node, doc[PTR]))
            else:
                yield doc[ID], doc
            keys = band_hashes(sig, self._params.bands, self._params.rows)
            for key in keys:
                yield TaggedOutput(self.BANDS, (key, node))
            hset_bytes = None if hset is None else hset.tobytes()
            yield TaggedOutput(self.KEYS, (doc[ID], (keys, hset_bytes)))
            if hset_bytes is not None:
                yield TaggedOutput(self.SETS, (node, hset_bytes))
        self._c.micros.inc(int((time.perf_counter() - start) * 1e6))


_MEMBER, _HUB = 1, 2  # a candidate's roles: the u of an edge u -> v needs its set in JoinMemberSet, the v in
# JoinMinimumSet; a document that is only ever a member sends its set once, not to both joins


def _endpoints(edge):
    u, v = edge
    yield u, _MEMBER
    yield v, _HUB


def _candidate_chunk(kv):
    """(node, {edge: roles, pointer}) -> ((phase file, chunk), (row, node, roles)) for a node that has an edge and
    a pointer (an earlier run's node has no pointer: its set comes from the index)."""
    node, grouped = kv
    pointers = list(grouped["pointer"])
    roles = 0
    for role in grouped["edge"]:
        roles |= role
    if not pointers or not roles:
        return
    name, row = pointers[0]
    yield (name, row // CHUNK_ROWS), (row, node, roles)


class _ChunkSets(beam.DoFn):
    """((phase file, chunk), [(row, node, roles)]) -> (node, shingle-hash set bytes) for members (main output) and
    for hubs (`HUBS`), reading those rows' texts only."""

    HUBS = "hub_sets"

    def __init__(self, directory: str, params: MinHashParams):
        self._directory, self._params = directory, params

    def setup(self):
        self._failed = Metrics.counter(metrics_namespace(MINHASH_STAGE), "candidate_sets_failed")

    def process(self, kv):
        (name, _chunk), members = kv
        members = sorted(members)
        texts = read_texts(FileSystems.join(self._directory, name), [row for row, _, _ in members])
        for start in range(0, len(members), _SIGN_BATCH):
            part = members[start:start + _SIGN_BATCH]
            try:
                sets = shingle_hash_sets([texts[row] for row, _, _ in part], self._params)
            except Exception:  # signed already, so unexpected: the node's edges then stay unverified (dropped)
                self._failed.inc(len(part))
                continue
            for (_row, node, roles), hset in zip(part, sets):
                data = hset.tobytes()
                if roles & _MEMBER:
                    yield node, data
                if roles & _HUB:
                    yield TaggedOutput(self.HUBS, (node, data))


class _IndexSets(beam.DoFn):
    """A batch of kept documents with their text -> (id bucket, id, shingle-hash set) rows of the index."""

    def __init__(self, params: MinHashParams):
        self._params = params

    def process(self, batch):
        for doc, hset in zip(batch, shingle_hash_sets([d[TEXT] for d in batch], self._params)):
            yield dix.id_bucket(doc[ID]), doc[ID], hset.tobytes()


def _bucket_edges(kv, edges_of) -> Iterable[Tuple[str, str]]:
    """(band key, members) -> the bucket's candidate edges, `edges_of` one of filters/components.py's."""
    _bucket, members = kv
    return edges_of(members)


def _send_hub_set(kv):
    """Key v (a bucket minimum): (ids u of the members with an edge u -> v, v's set) -> (u, (v, set_v)).

    The group holds ids and one set, so a hub bucket of a million members costs ids, not a million sets."""
    v, grouped = kv
    sets = grouped["set"]
    if not sets:
        return
    for u in grouped["member"]:
        yield u, (v, sets[0])


class _VerifyJaccard(beam.DoFn):
    """Key u: (u's set, at most 2 x `bands` (v, set_v)) -> the edges u -> v whose exact Jaccard reaches the threshold."""

    def __init__(self, threshold: float):
        self._threshold = threshold

    def setup(self):
        ns = metrics_namespace(MINHASH_STAGE)
        self._checked = Metrics.counter(ns, "pairs_verified")
        self._false = Metrics.counter(ns, "pairs_rejected_by_jaccard")

    def process(self, kv):
        u, grouped = kv
        sets = grouped["set"]
        if not sets:
            return
        set_u = np.frombuffer(sets[0], dtype=np.uint64)
        for v, set_v in grouped["hub"]:
            self._checked.inc()
            if hash_set_jaccard(set_u, np.frombuffer(set_v, dtype=np.uint64)) >= self._threshold:
                yield u, v
            else:
                self._false.inc()


def _both_directions(edge):
    u, v = edge
    yield u, v
    yield v, u


class _LargeStar(beam.DoFn):
    """Node u with neighbours N: `large_star`, every link in both directions; counts round i's signals."""

    def __init__(self, round_index: int):
        self._round = round_index

    def setup(self):
        ns = metrics_namespace(MINHASH_STAGE)
        self._rewired = Metrics.counter(ns, f"cc_round_{self._round}_rewired")
        self._changed = Metrics.counter(ns, f"cc_round_{self._round}_changed")

    def process(self, kv):
        u, neighbours = kv
        m = star_minimum(u, neighbours)
        if m != u:
            self._rewired.inc()
        links = 0
        for v, w in large_star(u, neighbours, m):
            links += 1
            yield v, w
            yield w, v
        if links and m != u:  # each link replaced u -- v by m -- v
            self._changed.inc(links)


class _SmallStar(beam.DoFn):
    """Node u with neighbours N: `small_star`, every link in both directions; counts round i's changes."""

    def __init__(self, round_index: int):
        self._round = round_index

    def setup(self):
        self._changed = Metrics.counter(metrics_namespace(MINHASH_STAGE), f"cc_round_{self._round}_changed")

    def process(self, kv):
        u, neighbours = kv
        changed = 0
        for v, w in small_star(u, neighbours):
            changed += v != u  # u -- v became m -- v (u's own link to m is not a change)
            yield v, w
            yield w, v
        if changed:
            self._changed.inc(changed)


def _parent(kv):
    u, neighbours = kv
    yield u, star_minimum(u, neighbours)


def _swap(kv):
    return kv[1], kv[0]


def _band_key(kv):
    return kv[0]


def _split_previous_edges(edge):
    """Edges to an earlier run's node get the node's set from the index, not from this run's documents."""
    if dix.is_previous(edge[1]):
        yield TaggedOutput(PREVIOUS_REASON, edge)
    else:
        yield edge


def _is_root_flag(kv):
    u, parent = kv
    yield u, u == parent


class _CountUnconverged(beam.DoFn):
    """Key p: (children of p, p's own parent) -> counts children whose parent p is not a root."""

    def setup(self):
        self._c = Metrics.counter(metrics_namespace(MINHASH_STAGE), "cc_unconverged")

    def process(self, kv):
        _p, grouped = kv
        roots = list(grouped["root"])
        if roots and not roots[0]:
            self._c.inc(sum(1 for _ in grouped["child"]))
        return iter(())


class _NodeAndLabelToIds(beam.DoFn):
    """(node, its label node) -> (document id, the label's document id): representative keys back to ids."""

    def __init__(self, representative: str):
        self._representative = representative

    def process(self, kv):
        node, parent = kv
        if dix.is_previous(node):  # an earlier run's node: no document of this run to label
            return
        yield id_of_key(node, self._representative), (parent if dix.is_previous(parent)
                                                      else id_of_key(parent, self._representative))


def _label_size(kv):
    doc_id, grouped = kv
    labels = list(grouped["label"])
    for size in grouped["size"]:
        yield (labels[0] if labels else doc_id), size


class _ResolveNearDuplicates(beam.DoFn):
    def __init__(self, against_dirs: Sequence[str] = ()):
        self._against = tuple(against_dirs)

    def setup(self):
        self._c = StageCounters(MINHASH_STAGE)

    def process(self, kv):
        doc_id, grouped = kv
        docs = list(grouped["doc"])
        if not docs:
            return
        doc = docs[0]
        labels = list(grouped["label"])
        label = labels[0] if labels else doc_id
        if dix.is_previous(label):  # its component holds a document an earlier run kept
            self._c.dropped(PREVIOUS_REASON)
            yield TaggedOutput(REJECTED, previous_rejection(doc, MINHASH_STAGE, label, self._against))
            return
        if label != doc_id:
            self._c.dropped("near_duplicate")
            yield TaggedOutput(REJECTED, rejected_row(doc, MINHASH_STAGE, "near_duplicate", duplicate_of=label))
            return
        totals = list(grouped["total"])
        doc[DEDUP_CLUSTER_ID] = doc_id
        doc[DEDUP_CLUSTER_SIZE] = totals[0] if totals else _cluster_size(doc)
        self._c.kept.inc()
        for keys, hset in grouped["keys"]:
            for key in keys:
                yield TaggedOutput(INDEX, (dix.bucket_of(key), key, doc_id))
            if hset is not None:
                yield TaggedOutput(INDEX_SETS, (dix.id_bucket(doc_id), doc_id, hset))
        yield doc


def _doc_size(kv):
    doc_id, doc = kv
    yield doc_id, _cluster_size(doc)


# ------------------------------------------------------------------------------ shuffle accounting (optional)

def _kv_coders(pcoll) -> Tuple[coders.Coder, coders.Coder]:
    """The key and value coders a group-by of `pcoll` writes with (FastPrimitivesCoder for untyped values)."""
    hint = pcoll.element_type
    key_type = value_type = typing.Any
    tuple_types = getattr(hint, "tuple_types", None)  # a Tuple[K, V] hint
    if tuple_types is not None and len(tuple_types) == 2:
        key_type, value_type = tuple_types
    return coders.registry.get_coder(key_type), coders.registry.get_coder(value_type)


class _ShuffleBytes(beam.DoFn):
    """Pass-through: the encoded size of each element entering a group-by, as (key, value) bytes; `tag` for a
    CoGroupByKey input (its value travels as (tag, value)), `distinct` for a Distinct (the element is the key)."""

    def __init__(self, name: str, key_coder, value_coder, tag: Optional[str] = None, distinct: bool = False):
        self._name, self._kc, self._vc, self._tag, self._distinct = name, key_coder, value_coder, tag, distinct

    def setup(self):
        self._bytes = Metrics.distribution(metrics_namespace(MINHASH_STAGE), self._name)
        self._tag_coder = coders.FastPrimitivesCoder()

    def process(self, element):
        if self._distinct:
            size = len(self._kc.encode(element)) + len(self._tag_coder.encode(None))
        elif self._tag is not None:
            size = len(self._kc.encode(element[0])) + len(self._tag_coder.encode((self._tag, element[1])))
        else:
            size = len(self._kc.encode(element[0])) + len(self._vc.encode(element[1]))
        self._bytes.update(size)
        yield element


class _GroupBytes(beam.DoFn):
    """Pass-through after a group-by: each group's encoded bytes and number of values (max = largest group)."""

    def __init__(self, step: str):
        self._step = step

    def setup(self):
        ns = metrics_namespace(MINHASH_STAGE)
        self._bytes = Metrics.distribution(ns, f"group_bytes_{self._step}")
        self._values = Metrics.distribution(ns, f"group_values_{self._step}")
        self._coder = coders.FastPrimitivesCoder()

    def process(self, kv):
        key, grouped = kv
        streams = grouped.items() if isinstance(grouped, dict) else [(None, grouped)]
        size, count = len(self._coder.encode(key)), 0
        for tag, values in streams:
            for v in values:
                size += len(self._coder.encode(v if tag is None else (tag, v)))
                count += 1
        self._bytes.update(size)
        self._values.update(count)
        yield kv


def _group_by_key(pcoll, step: str, measure: bool):
    if not measure:
        return pcoll | step >> beam.GroupByKey()
    kc, vc = _kv_coders(pcoll)
    return (pcoll | f"{step}ShuffleBytes" >> beam.ParDo(_ShuffleBytes(f"shuffle_bytes_{step}", kc, vc))
            | step >> beam.GroupByKey() | f"{step}GroupBytes" >> beam.ParDo(_GroupBytes(step)))


def _co_group_by_key(pcolls: Dict[str, Any], step: str, measure: bool):
    if not measure:
        return pcolls | step >> beam.CoGroupByKey()
    tagged = {}
    for tag, pcoll in pcolls.items():
        kc, vc = _kv_coders(pcoll)
        tagged[tag] = pcoll | f"{step}ShuffleBytes_{tag}" >> beam.ParDo(
            _ShuffleBytes(f"shuffle_bytes_{step}_{tag}", kc, vc, tag=tag))
    return tagged | step >> beam.CoGroupByKey() | f"{step}GroupBytes" >> beam.ParDo(_GroupBytes(step))


def _distinct(pcoll, step: str, measure: bool):
    if measure:
        kc = coders.registry.get_coder(pcoll.element_type)
        pcoll = pcoll | f"{step}ShuffleBytes" >> beam.ParDo(
            _ShuffleBytes(f"shuffle_bytes_{step}", kc, None, distinct=True))
    return pcoll | step >> beam.Distinct()


def _combine_per_key(pcoll, step: str, fn, measure: bool):
    if measure:
        kc, vc = _kv_coders(pcoll)
        pcoll = pcoll | f"{step}ShuffleBytes" >> beam.ParDo(_ShuffleBytes(f"shuffle_bytes_{step}", kc, vc))
    return pcoll | step >> beam.CombinePerKey(fn)


class ConnectedComponents(beam.PTransform):
    """(u, v) edges -> (node, smallest node of its component) for every node that has an edge.

    `rounds` unrolled large-star + small-star rounds; see the module docstring for the convergence signal
    and for `measure_shuffle`.
    """

    def __init__(self, rounds: int = 8, measure_shuffle: bool = False):
        super().__init__()
        self._rounds, self._measure = rounds, bool(measure_shuffle)

    def expand(self, edges):
        m = self._measure
        current = _distinct(edges | "Undirected" >> beam.FlatMap(_both_directions), "DistinctInput", m)
        for i in range(self._rounds):
            current = _group_by_key(current, f"R{i}GroupLarge", m) | f"R{i}LargeStar" >> beam.ParDo(_LargeStar(i))
            current = _group_by_key(_distinct(current, f"R{i}DistinctLarge", m), f"R{i}GroupSmall", m)
            current = _distinct(current | f"R{i}SmallStar" >> beam.ParDo(_SmallStar(i)), f"R{i}DistinctSmall", m)
        parents = _group_by_key(current, "GroupFinal", m) | "Parent" >> beam.FlatMap(_parent)
        by_parent = parents | "ByParent" >> beam.Map(_swap)
        root_flags = parents | "RootFlag" >> beam.FlatMap(_is_root_flag)
        _ = (_co_group_by_key({"child": by_parent, "root": root_flags}, "JoinParentRoot", m)
             | "CountUnconverged" >> beam.ParDo(_CountUnconverged()))
        return parents


class _DefaultVerify(float):
    """The type of `verify_threshold`'s default: a float equal to 0.75 that the constructor can tell from a
    recipe's explicit 0.75 (with `threshold` given and `verify_threshold` not, verification uses `threshold`)."""


DEFAULT_VERIFY_THRESHOLD = _DefaultVerify(0.75)


@checked_options
class DedupMinhash(beam.PTransform):
    """MinHash LSH near-duplicate removal; outputs main (kept), `rejected`, `errors`.

    Options: the `MinHashParams` fields (ngram, num_perm, bands, rows, seed, scheme, hashfunc); `threshold`
    to derive bands x rows with datasketch's optimiser instead; `verify_threshold` for exact Jaccard
    verification of candidate pairs (default 0.75, or `threshold` when that is given; never above `threshold`,
    which would drop the pairs between the two unreported); `representative` (smallest_id, longest, quality +
    `score`); `rounds` of connected components; `measure_shuffle` to count the bytes entering every group-by
    (module docstring); `against` (earlier curate outputs or their index/) and `index_partitions` (files of this
    run's index).
    """

    def __init__(self, threshold: Optional[Annotated[float, Range(0, 1, low_open=True, high_open=True)]] = None,
                 # FineWeb's target similarity, checked exactly: 14 x 8 bands also pair documents well below it
                 # (Jaccard 0.6 with probability 0.21), so without it `{}` keeps precision at ~0.7. null: off.
                 # With `threshold` given (and no verify_threshold), verification is at `threshold` instead.
                 verify_threshold: Optional[Annotated[float, Range(0, 1, low_open=True)]] = DEFAULT_VERIFY_THRESHOLD,
                 representative: Representative = "smallest_id", score: Optional[str] = None,
                 rounds: Annotated[int, Range(1, 64)] = 8, measure_shuffle: bool = False,
                 against: Optional[List[str]] = None,
                 index_partitions: Annotated[int, Range(1, dix.MAX_PARTITIONS)] = dix.DEFAULT_PARTITIONS, **params):
        super().__init__()
        check_representative(representative, score)
        if threshold is not None:
            if "bands" in params or "rows" in params:
                raise ValueError("give either threshold or bands and rows, not both")
            self._params = MinHashParams.for_threshold(float(threshold), **params)
            if verify_threshold is DEFAULT_VERIFY_THRESHOLD:
                verify_threshold = threshold
            elif verify_threshold is not None and verify_threshold > threshold:
                raise OptionError("verify_threshold", f"= {verify_threshold!r} is above threshold {threshold!r}: "
                                  f"the candidate pairs between the two would be dropped unreported; lower "
                                  f"verify_threshold to at most {threshold!r}, or set it to null (no verification)")
        else:
            self._params = MinHashParams(**params)
        self._verify = None if verify_threshold is None else float(verify_threshold)
        self._representative, self._score, self._rounds = representative, score, int(rounds)
        self._measure = bool(measure_shuffle)
        self._partitions = int(index_partitions)
        self._against = against_dirs(against)
        self._phase_dir: Optional[str] = None

    def lean_documents(self, phase_dir: str) -> None:
        """Carry documents through the joins without their text (the curate job's phases): kept and rejected
        come out lean, and only the documents with a candidate edge have their shingle-hash set computed, from
        their text in the phase files under `phase_dir`. The index's sets then come from `index_sets`."""
        self._phase_dir = phase_dir

    def index_sets(self, kept_docs):
        """Lean mode, verifying: the kept documents (with their text again) -> the index's set rows."""
        return (kept_docs | "IndexSetBatches" >> beam.BatchElements(min_batch_size=8, max_batch_size=_SIGN_BATCH)
                | "IndexSets" >> beam.ParDo(_IndexSets(self._params)))

    @property
    def verifies(self) -> bool:
        return self._verify is not None

    @property
    def params(self) -> MinHashParams:
        return self._params

    @property
    def index_params(self) -> Dict[str, Any]:
        """The parameters an index of this stage must share with it (index.json `params`)."""
        return dix.minhash_params(self._params)

    def check_against(self) -> None:
        """Read the `against` indexes' descriptions (and, when verifying, their sets' ones): ValueError, naming
        the difference, for one that cannot serve."""
        load_against(MINHASH_STAGE, self._against, self.index_params, sets=self._verify is not None)

    def write_index(self, outputs, directory: str, label: str) -> None:
        """Write the outputs' index rows (and, when verifying, the kept documents' sets) under `directory`."""
        _ = outputs[INDEX] | f"{label}WriteIndex" >> WriteDedupIndex(directory, MINHASH_STAGE, self.index_params,
                                                                    self._partitions, self._params.bands)
        if self._verify is not None:
            _ = outputs[INDEX_SETS] | f"{label}WriteIndexSets" >> WriteDedupIndex(
                FileSystems.join(directory, dix.SETS_DIR), MINHASH_STAGE, self.index_params, self._partitions, 1,
                sets=True)

    def expand(self, docs):
        m = self._measure
        signed = (docs | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=_SIGN_BATCH)
                  | "Sign" >> beam.ParDo(_SignBatch(self._params, self._representative, self._score,
                                                    self._verify is not None, self._phase_dir is not None))
                  .with_outputs(_SignBatch.BANDS, _SignBatch.SETS, _SignBatch.KEYS, _SignBatch.POINTERS, ERRORS,
                                main="docs"))
        bands = signed[_SignBatch.BANDS]
        if self._against:
            previous = (bands | "BandKeys" >> beam.Map(_band_key)
                        | "LookupPrevious" >> LookupPrevious(MINHASH_STAGE, self._against, self.index_params,
                                                           hex_keys=False))
            bands = (bands, previous) | "WithPrevious" >> beam.Flatten()
        to_hubs = (("EdgesToBucketHubs", edges_to_bucket_hubs) if self._verify is not None
                   else ("EdgesToBucketMin", edges_to_bucket_min))
        edges = _distinct(_group_by_key(bands, "GroupBuckets", m)
                          | to_hubs[0] >> beam.FlatMap(_bucket_edges, to_hubs[1]), "DistinctEdges", m)
        if self._verify is not None:
            sets = signed[_SignBatch.SETS]
            own_edges = edges
            if self._against:
                split = edges | "SplitPrevious" >> beam.FlatMap(_split_previous_edges).with_outputs(
                    PREVIOUS_REASON, main="own")
                own_edges = split.own
            if self._phase_dir is not None:  # sets only for the documents with a candidate edge
                candidates = _co_group_by_key({"edge": edges | "Endpoints" >> beam.FlatMap(_endpoints),
                                               "pointer": signed[_SignBatch.POINTERS]}, "JoinCandidatePointer", m)
                chunk_sets = (_group_by_key(candidates | "CandidateChunks" >> beam.FlatMap(_candidate_chunk),
                                            "GroupCandidateChunks", m)
                              | "CandidateSets" >> beam.ParDo(_ChunkSets(self._phase_dir, self._params))
                              .with_outputs(_ChunkSets.HUBS, main="members"))
                sets, minimum_sets = chunk_sets.members, chunk_sets[_ChunkSets.HUBS]
            else:
                minimum_sets = sets
            hub_sets = (_co_group_by_key({"member": own_edges | "ByMinimum" >> beam.Map(_swap), "set": minimum_sets},
                                         "JoinMinimumSet", m)
                        | "SendMinimumSet" >> beam.FlatMap(_send_hub_set))
            if self._against:
                previous_sets = (split[PREVIOUS_REASON] | "ByKeptIdBucket" >> beam.Map(_previous_set_request)
                                 | "GroupKeptIds" >> beam.GroupByKey()
                                 | "ReadPreviousSets" >> beam.ParDo(_ReadPreviousSets(self._against, self.index_params)))
                hub_sets = (hub_sets, previous_sets) | "WithPreviousSets" >> beam.Flatten()
            edges = (_co_group_by_key({"hub": hub_sets, "set": sets}, "JoinMemberSet", m)
                     | "VerifyJaccard" >> beam.ParDo(_VerifyJaccard(self._verify)))
        labels = (edges | "Components" >> ConnectedComponents(self._rounds, measure_shuffle=m)
                  | "NodeToId" >> beam.ParDo(_NodeAndLabelToIds(self._representative)))
        sizes = signed.docs | "DocSize" >> beam.FlatMap(_doc_size)
        totals = _combine_per_key(_co_group_by_key({"label": labels, "size": sizes}, "JoinLabelSize", m)
                                  | "LabelSize" >> beam.FlatMap(_label_size), "ClusterSize", sum, m)
        resolved = (_co_group_by_key({"doc": signed.docs, "label": labels, "total": totals,
                                      "keys": signed[_SignBatch.KEYS]}, "JoinDecision", m)
                    | "Resolve" >> beam.ParDo(_ResolveNearDuplicates(self._against))
                    .with_outputs(REJECTED, INDEX, INDEX_SETS, main="kept"))
        return {"kept": resolved.kept, REJECTED: resolved[REJECTED], ERRORS: signed[ERRORS], INDEX: resolved[INDEX],
                INDEX_SETS: resolved[INDEX_SETS]}


# ---------------------------------------------------------------------------------------------- lines

class _UnitKeys(beam.DoFn):
    KEYS = "keys"

    def __init__(self, params: LineDedupParams):
        self._params = params

    def setup(self):
        self._c = StageCounters(LINES_STAGE)

    def _keys(self, doc):
        return unit_keys(doc[TEXT], self._params)

    def process(self, doc):
        keys = yield from count_and_compute(self._c, LINES_STAGE, doc, self._keys)
        if keys is FAILED:
            return
        yield doc[ID], doc
        for key in keys:
            yield TaggedOutput(self.KEYS, (key, doc[ID]))


def _key_one(kv):
    return kv[0], 1


class _BoilerplateHolders(beam.DoFn):
    """Key: (its document count, the ids holding it) -> (id, key) for keys held by > max_docs documents."""

    def __init__(self, max_docs: int):
        self._max_docs = max_docs

    def setup(self):
        self._keys = Metrics.counter(metrics_namespace(LINES_STAGE), "boilerplate_units")

    def process(self, kv):
        key, grouped = kv
        counts = list(grouped["count"])
        if not counts or counts[0] <= self._max_docs:
            return
        self._keys.inc()
        for doc_id in grouped["ids"]:
            yield doc_id, key


class _RemoveBoilerplate(beam.DoFn):
    def __init__(self, params: LineDedupParams):
        self._params = params

    def setup(self):
        self._c = StageCounters(LINES_STAGE)
        self._removed = Metrics.counter(metrics_namespace(LINES_STAGE), "units_removed")

    def process(self, kv):
        _id, grouped = kv
        docs = list(grouped["doc"])
        if not docs:
            return
        doc = docs[0]
        boilerplate = set(grouped["remove"])
        if boilerplate:
            text, removed = remove_units(doc[TEXT], boilerplate, self._params)
            self._removed.inc(removed)
            if too_short(text, self._params):
                # the rejected row holds the document as it came in (what was dropped, to inspect), and what
                # the removal left of it in `detail`
                self._c.dropped("too_short_after_line_dedup")
                detail = {"units_removed": str(removed), "text_left": text[:2000]}
                yield TaggedOutput(REJECTED, to_rejected_row(doc, LINES_STAGE, "too_short_after_line_dedup",
                                                             detail=detail))
                return
            doc = {**doc, TEXT: text}
        self._c.kept.inc()
        yield doc


@checked_options
class DedupLines(beam.PTransform):
    """Remove lines (or paragraphs) found in more than `max_docs` documents; outputs kept, rejected, errors."""

    def __init__(self, max_docs: PositiveInt = 10, unit: Annotated[str, OneOf(*UNITS)] = "line",
                 min_unit_chars: PositiveInt = 10, min_words: NonNegativeInt = 50):
        super().__init__()
        self._params = LineDedupParams(max_docs=int(max_docs), unit=unit, min_unit_chars=int(min_unit_chars),
                                       min_words=int(min_words))

    def expand(self, docs):
        keyed = docs | "UnitKeys" >> beam.ParDo(_UnitKeys(self._params)).with_outputs(_UnitKeys.KEYS, ERRORS, main="docs")
        holders = keyed[_UnitKeys.KEYS]
        counts = (holders | "One" >> beam.Map(_key_one)
                  | "CountDocs" >> beam.CombinePerKey(sum).with_hot_key_fanout(16))
        remove = ({"count": counts, "ids": holders} | "JoinCounts" >> beam.CoGroupByKey()
                  | "Boilerplate" >> beam.ParDo(_BoilerplateHolders(self._params.max_docs)))
        resolved = ({"doc": keyed.docs, "remove": remove} | "JoinRemovals" >> beam.CoGroupByKey()
                    | "Remove" >> beam.ParDo(_RemoveBoilerplate(self._params)).with_outputs(REJECTED, main="kept"))
        return {"kept": resolved.kept, REJECTED: resolved[REJECTED], ERRORS: keyed[ERRORS]}
