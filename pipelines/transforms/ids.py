"""Unique document ids per run, by construction: `UniqueIds` renames every repeat of an id after its first.

Ids come from the inputs (a JSONL/Parquet `id`, a WARC-Record-ID, a code file's tree-relative path), so two
inputs can repeat one: two JSONL files numbered from 0, a WARC copied under two names, two code trees of the
same name, a tarball holding `x.py` twice. Every stage after read keys documents by id (the dedup joins route
a document by its id), so a repeated id would lose one document without a row. Renaming, not rejecting: the
repeat is a different record (another file, line or member), and dedup is the stage that decides whether its
text is a duplicate.

The algorithm, for R records of which r carry a repeated id (r is almost always 0):

1. `(id, 1)` per record, summed per id with a combiner (partial sums before the shuffle, so only ids and
   counts travel, never documents): the ids seen more than once, a side input that is normally empty.
2. Records whose id is repeated emit `(id, order key)`, the order key being the record's input pointer
   (path, offset) and a digest of its content (and, for an archive record, of its position in the file: the
   records of one gzip member share a pointer); grouped per repeated id, the keys are sorted and each distinct
   key gets its id: the first keeps the id, the others get `ID@path:offset` (plus `#digest` when the pointer
   itself repeats, as for a tar member appended twice). The plan is a side input of r entries.
3. Every record looks its id up in the plan: not there (the common case) -> passed on as it is, byte for byte;
   there -> renamed (counter `renamed_duplicate_id` of stage `read`). Copies identical in id, pointer and
   content cannot be told apart by any worker, so only they are grouped (by id and key, whole records, a
   handful) and numbered `#2`, `#3`, ... in arrival order, which cannot change the output since they are
   identical.

Cost at scale: step 1 shuffles one (id, count) pair per record (ids only, a small fraction of the documents'
bytes); steps 2-3 hold state in proportion to r, so an input that repeats one id a million times makes a plan
of a million small entries, still no document in memory.

The order comes from the pointers and the content alone, so the same inputs give the same ids whatever the
runner, bundle sizes or number of workers. A new name can be an id some input already holds (an input whose own
id is literally `ID@path:offset`, such as an earlier run's renamed document curated again): every name the plan
could give is looked up among the ids read (a filter of the id counts against the plan's names, a side input of
r entries: no more shuffling), and a name that is taken becomes `NAME~2`, `NAME~3`, ... , the first one free.
"""
from __future__ import annotations

import hashlib
from typing import Any, Container, Dict, Iterable, List, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, TaggedOutput

from pipelines.ingest.inputs import READ_STAGE
from pipelines.ingest.records import BODY, RECORD_POSITION
from pipelines.transforms.stages import metrics_namespace
from schemas import ID, INPUT_OFFSET, INPUT_PATH, TEXT, URL

RENAMED_COUNTER = "renamed_duplicate_id"
IDENTICAL = "identical"

OrderKey = Tuple[str, int, str]  # (input path, input offset or -1, content digest)


def content_digest(doc: Dict[str, Any]) -> str:
    """Digest of what a record says (text or payload, and its URL) and, for an archive record, where it sits in
    its file: tells apart two records of one pointer."""
    h = hashlib.blake2b(digest_size=8)
    text = doc.get(TEXT)
    if text is not None:
        h.update(b"t" + str(text).encode("utf-8", "surrogatepass"))
    else:
        body = doc.get(BODY)
        h.update(b"b" + (bytes(body) if body is not None else b""))
    url = doc.get(URL)
    h.update(b"\x00u" + (str(url).encode("utf-8", "surrogatepass") if url is not None else b""))
    position = doc.get(RECORD_POSITION)
    if position is not None:  # identical copies in one gzip member: told apart by where each sits in the file
        h.update(b"\x00p%d" % int(position))
    return h.hexdigest()


def order_key(doc: Dict[str, Any]) -> OrderKey:
    offset = doc.get(INPUT_OFFSET)
    return (str(doc.get(INPUT_PATH) or ""), int(offset) if offset is not None else -1, content_digest(doc))


def pointer_id(doc_id: str, key: OrderKey) -> str:
    path, offset, _digest = key
    return f"{doc_id}@{path}:{offset}" if offset >= 0 else f"{doc_id}@{path}"


ALTERNATIVES = 16  # names tried for a new id that an input already holds: NAME, NAME~2, ..., NAME~16


def alternatives(name: str) -> List[str]:
    return [name] + [f"{name}~{n}" for n in range(2, ALTERNATIVES + 1)]


def _free(name: str, taken: Container[str]) -> str:
    for candidate in alternatives(name):
        if candidate not in taken:
            return candidate
    raise ValueError(f"the inputs hold every id from {name!r} to {name!r}~{ALTERNATIVES}, so a repeated id "
                     f"cannot be renamed without taking one of them: give the inputs' records ids of their own")


def plan_ids(doc_id: str, keys: Iterable[OrderKey], taken: Container[str] = ()) -> Dict[OrderKey, List[str]]:
    """The ids of the records that share `doc_id`, per order key: the first key (in sorted order) keeps the
    id, the others are named after their pointer (and their digest where the pointer repeats). A key held by
    m identical records maps to m ids (its own, then `#2` ... `#m`). A new name in `taken` (ids the inputs
    hold) is replaced by the first of its `alternatives` that is not."""
    multiplicity: Dict[OrderKey, int] = {}
    for key in keys:
        multiplicity[key] = multiplicity.get(key, 0) + 1
    ordered = sorted(multiplicity)
    pointers: Dict[Tuple[str, int], int] = {}
    for key in ordered:
        pointers[key[:2]] = pointers.get(key[:2], 0) + 1
    plan: Dict[OrderKey, List[str]] = {}
    for i, key in enumerate(ordered):
        if i == 0:
            base = doc_id
        else:
            base = pointer_id(doc_id, key)
            if pointers[key[:2]] > 1:
                base += "#" + key[2]
        names = [base] + [f"{base}#{n}" for n in range(2, multiplicity[key] + 1)]
        plan[key] = [name if name == doc_id else _free(name, taken) for name in names]
    return plan


def _candidate_names(kv: Tuple[str, List[OrderKey]]) -> Iterable[Tuple[str, None]]:
    """Every name the plan of one repeated id could give (each new name and its alternatives), keyed."""
    for names in plan_ids(kv[0], kv[1]).values():
        for name in names:
            if name != kv[0]:
                for candidate in alternatives(name):
                    yield candidate, None


def _is_named(kv: Tuple[str, int], names: Dict[str, None]) -> bool:
    return kv[0] in names


def _is_repeated(kv: Tuple[str, int]) -> bool:
    return kv[1] > 1


def _keys_of_group(kv: Tuple[str, Iterable[OrderKey]]) -> Tuple[str, List[OrderKey]]:
    return kv[0], list(kv[1])


def _plan_of_group(kv: Tuple[str, List[OrderKey]], taken: Dict[str, int]) -> Tuple[str, Dict[OrderKey, List[str]]]:
    return kv[0], plan_ids(kv[0], kv[1], taken)


def _renamed(doc: Dict[str, Any], new_id: str) -> Dict[str, Any]:
    out = dict(doc)
    out[ID] = new_id
    return out


class _ApplyPlanFn(beam.DoFn):
    """Renames by the plan. Identical copies (same id, pointer and content) go out tagged `IDENTICAL` to be
    numbered after a group-by, or, with `number_in_bundle`, are numbered here in arrival order: such copies come
    from one file that is read whole by one call of the reading DoFn within one bundle (a tarball's member
    appended twice; an archive, which the local runner may share between workers, tells its copies apart by
    position), and the count restarts with each bundle, so a retried bundle numbers them the same way."""

    def __init__(self, number_in_bundle: bool = False):
        self._in_bundle = number_in_bundle

    def setup(self):
        self._renamed = Metrics.counter(metrics_namespace(READ_STAGE), RENAMED_COUNTER)

    def start_bundle(self):
        self._seen: Dict[Tuple[str, OrderKey], int] = {}

    def process(self, doc: Dict[str, Any], plan: Dict[str, Dict[OrderKey, List[str]]]):
        ids = plan.get(doc[ID])
        if ids is None:  # the common case: an id seen once is left exactly as it was read
            yield doc
            return
        key = order_key(doc)
        new_ids = ids[key]
        if len(new_ids) > 1:
            if not self._in_bundle:
                yield TaggedOutput(IDENTICAL, ((doc[ID], key), (new_ids, doc)))
                return
            i = self._seen.get((doc[ID], key), 0)
            self._seen[(doc[ID], key)] = i + 1
            new_id = new_ids[i] if i < len(new_ids) else f"{new_ids[0]}#{i + 1}"
        else:
            new_id = new_ids[0]
        if new_id != doc[ID]:
            self._renamed.inc()
            doc = _renamed(doc, new_id)
        yield doc


class _NumberIdenticalFn(beam.DoFn):
    def setup(self):
        self._renamed = Metrics.counter(metrics_namespace(READ_STAGE), RENAMED_COUNTER)

    def process(self, kv):
        (doc_id, _key), copies = kv
        for i, (new_ids, doc) in enumerate(copies):
            # the plan counted the copies; more can only come from a runner that replays elements
            new_id = new_ids[i] if i < len(new_ids) else f"{new_ids[0]}#{i + 1}"
            if new_id != doc_id:
                self._renamed.inc()
                doc = _renamed(doc, new_id)
            yield doc


def id_and_order_key(doc: Dict[str, Any]) -> Tuple[str, OrderKey]:
    return doc[ID], order_key(doc)


def _pair_id_one(pair: Tuple[str, OrderKey]) -> Tuple[str, int]:
    return pair[0], 1


def _repeated_pair(pair: Tuple[str, OrderKey], repeated: Dict[str, int]):
    if pair[0] in repeated:
        yield pair


class IdPlan(beam.PTransform):
    """(id, order key) per record -> (id, plan) for the ids that repeat (steps 1 and 2): a small collection,
    normally empty, that `ApplyIdPlan` takes as a side input."""

    def expand(self, pairs):
        counts = (pairs
                  | "IdOne" >> beam.Map(_pair_id_one)
                  | "CountIds" >> beam.CombinePerKey(sum))
        repeated = counts | "Repeated" >> beam.Filter(_is_repeated)
        groups = (pairs
                  | "RepeatedKeys" >> beam.FlatMap(_repeated_pair, repeated=AsDict(repeated))
                  | "GroupRepeats" >> beam.GroupByKey()
                  | "KeysOfGroup" >> beam.Map(_keys_of_group))
        # the ids read that a new name (or an alternative of it) would repeat: normally none
        names = groups | "CandidateNames" >> beam.FlatMap(_candidate_names)
        taken = counts | "TakenNames" >> beam.Filter(_is_named, names=AsDict(names))
        return groups | "Plan" >> beam.Map(_plan_of_group, taken=AsDict(taken))


class ApplyIdPlan(beam.PTransform):
    """Records -> the same records renamed by `plan` (step 3; `IdPlan`'s output). `number_in_bundle`: number
    identical copies where they are read (one ParDo, fused with the read: no record waits for a group-by or a
    Flatten, which the in-process runner would hold in memory) -- right when each input file is read whole by one
    call of the reading DoFn, as the curate job's reads are."""

    def __init__(self, plan, number_in_bundle: bool = False):
        super().__init__()
        self._plan, self._in_bundle = plan, number_in_bundle

    def expand(self, records):
        apply = beam.ParDo(_ApplyPlanFn(self._in_bundle), plan=AsDict(self._plan))
        if self._in_bundle:
            return records | "ApplyPlan" >> apply
        applied = records | "ApplyPlan" >> apply.with_outputs(IDENTICAL, main="records")
        numbered = (applied[IDENTICAL]
                    | "GroupIdentical" >> beam.GroupByKey()
                    | "NumberIdentical" >> beam.ParDo(_NumberIdenticalFn()))
        return (applied.records, numbered) | "Merge" >> beam.Flatten()


class UniqueIds(beam.PTransform):
    """Records -> the same records, every id unique: repeats after the first renamed from their input pointer.

    The records feed both the plan and its application, so a runner that keeps collections in memory holds
    them all until the plan is known; the curate job instead reads its inputs twice (`IdPlan` over a pass that
    keeps only ids and order keys, `ApplyIdPlan` on the pass that extracts), and no record waits."""

    def expand(self, records):
        plan = records | "IdsAndKeys" >> beam.Map(id_and_order_key) | "IdPlan" >> IdPlan()
        return records | "Apply" >> ApplyIdPlan(plan)
