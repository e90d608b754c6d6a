"""ReadInputs: input SPECs -> RawRecords, rejected rows (content let go unread) and error rows, the composite
of stage `read`. It only wires; what it wires is Beam-free: SPECs and input kinds in pipelines/ingest/inputs.py,
the readers of web archives, JSONL and Parquet in pipelines/ingest/readers.py, code trees and tarballs in
pipelines/ingest/code_trees.py.

The specs are expanded inside the job (building a job lists no bucket) and the work fans out per file
(Create(specs) -> expand on a worker -> distinct files -> Reshuffle -> FlatMap(read) -> Reshuffle), and a code
tree is first split into one item per file so that a big tree spreads over workers. At Common Crawl scale
(~90k WARC files of ~1 GB) the per-file read is the unit of parallelism; the Reshuffle after it breaks fusion
so that extraction of one file's records spreads over all workers.
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from pipelines.ingest.inputs import MAX_RECORD_BYTES, READ_STAGE, InputFile
from pipelines.ingest.readers import (expand_input_specs, order_for_workers, read_input_file, same_file_key,
                                      split_input)
from pipelines.transforms.counters import BUNDLE_CLOCK
from pipelines.transforms.stages import ERRORS, REJECTED, StageCounters, metrics_namespace
from schemas import REASON, to_error_row

RECORDS = "records"


class ClockPass(beam.DoFn):
    """A step that passes its elements on and clocks its bundles into `stage`'s `BUNDLE_CLOCK`, placed at the far
    end of a fused pass: Beam starts a bundle's steps from the last to the first and finishes them from the first
    to the last, so this step's bundles start before any other step of the pass starts one and end after every step
    before it has flushed (the language stage's batches, the phase file's last row group). The min..max of the clock
    is then the wall span of the whole pass (counters.bundle_clocks; DoFn setup, such as loading a model, comes
    before the first bundle and is not in it)."""

    def __init__(self, stage: str = READ_STAGE):
        super().__init__()
        self._stage = stage

    def setup(self):
        self._clock = Metrics.distribution(metrics_namespace(self._stage), BUNDLE_CLOCK)

    def start_bundle(self):
        self._clock.update(int(time.time() * 1000))

    def process(self, element):
        yield element

    def finish_bundle(self):
        self._clock.update(int(time.time() * 1000))


class _ReadInputFn(beam.DoFn):
    def __init__(self, max_record_bytes: int = MAX_RECORD_BYTES, stage: str = READ_STAGE):
        super().__init__()
        self._max_record_bytes = max_record_bytes
        self._stage = stage

    def setup(self):
        # no clock of its own: Beam starts the reader last and finishes it first of the steps fused with it, so its
        # bundles would miss what those steps do at their ends; curate clocks the pass with `ClockPass`
        self._counters = StageCounters(self._stage)

    def process(self, item: InputFile):
        c = self._counters
        reading = [0.0]
        try:
            for status, value in _timed(iter(read_input_file(item, self._max_record_bytes)), reading):
                if status == "warned":  # about the next record, which is counted as it comes
                    c.count(value)
                    continue
                c.in_.inc()
                if status == "kept":
                    c.kept.inc()
                    yield value
                elif status == "dropped":
                    c.dropped(value)
                elif status == "rejected":  # content let go unread: counted under its reason, and a row
                    c.dropped(value[REASON])
                    yield TaggedOutput(REJECTED, value)
                else:
                    c.errors.inc()
                    yield TaggedOutput(ERRORS, value)
        except Exception as exc:  # a reader bug must not kill the job either
            c.in_.inc()
            c.errors.inc()
            yield TaggedOutput(ERRORS, to_error_row(self._stage, exc, input_path=item.path))
        finally:
            c.micros.inc(int(reading[0] * 1e6))


def _timed(items: Iterator, elapsed: List[float]) -> Iterator:
    """`items`, adding to elapsed[0] the time spent producing each one and not the time between: the stages fused
    after read (extract, the filters, the phase files) run while this waits at its yield, and their time is
    theirs (a 5,000-document JSONL curate gave read 6.9 s, the whole fused pass, for 0.07 s of reading)."""
    while True:
        start = time.perf_counter()
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            elapsed[0] += time.perf_counter() - start
        yield item


def expand_input_spec(spec: str) -> List[InputFile]:
    """The InputFiles of one SPEC (see expand_input_specs); the worker-side step of ReadInputs. The driver
    expanded the spec before the job started and warned there about files of unknown kind: no second warning
    from each worker."""
    return expand_input_specs([spec], warn_skipped=False)


def input_file_key(item: InputFile) -> Tuple[Tuple[str, str, Optional[str]], InputFile]:
    return same_file_key(item), item


def first_input_file(keyed: Tuple[Tuple[str, str, Optional[str]], Iterable[InputFile]]) -> InputFile:
    """One file named by several specs (or spellings) is read once, under its first spelling in sorted order."""
    return min(keyed[1], key=lambda f: f.path)


class _ExpandSpecFn(beam.DoFn):
    """SPEC -> InputFiles, on a worker. A spec that matches nothing here (the driver validates local specs
    before a local run; a remote glob is only listed by the job) is one error row of stage `read`."""

    def __init__(self, stage: str = READ_STAGE):
        super().__init__()
        self._stage = stage

    def setup(self):
        self._counters = StageCounters(self._stage)

    def process(self, spec: str):
        try:
            files = expand_input_spec(spec)
        except Exception as exc:
            self._counters.in_.inc()
            self._counters.errors.inc()
            yield TaggedOutput(ERRORS, to_error_row(self._stage, exc, input_path=spec))
            return
        yield from files


class ReadInputs(beam.PTransform):
    """Input SPECs -> RawRecords (main output `records`), rejected rows (`rejected`: records over the read caps,
    pipelines/ingest/inputs.py) and error rows (`errors`); counts stage `read`.

    The specs are expanded inside the job (Create(specs) -> expand on a worker -> one item per file, the
    same file named by two specs read once -> split code trees -> Reshuffle -> read), so building the job
    lists no bucket: a Dataflow job over gs:// globs is built on a machine with no network, and a glob over
    ~90k WARC files is listed by a worker, not by the driver."""

    def __init__(self, specs: Sequence[str], max_record_bytes: int = MAX_RECORD_BYTES, spread: bool = True,
                 stage: str = READ_STAGE, shards: int = 1, claims_dir: Optional[str] = None):
        super().__init__()
        self._specs = [specs] if isinstance(specs, str) else list(specs)
        self._max_record_bytes = max_record_bytes  # archive records over it are `too_large` (see record_cap)
        # spread=False: no Reshuffle of the records (the curate job extracts them where they are read, in one
        # fused pass per file, so that no page waits in a shuffle); stage: the counters' namespace (the curate
        # job's ids-only pass counts under another name, so `read` counts each record once)
        self._spread = spread
        self._stage = stage
        # shards: a big local web archive is read as this many strides of its records (readers.split_input), so
        # that `--workers N` on one machine share a few big files; 1 on Dataflow, where files are the unit
        self._shards = max(1, int(shards))
        # claims_dir: a local directory the workers share, where the shards of a file claim its records as they
        # get free (readers.RecordClaims) instead of each reading a fixed stride
        self._claims_dir = claims_dir

    def expand(self, pbegin):
        listed = (pbegin
                  | "ListSpecs" >> beam.Create(sorted(set(self._specs)))
                  | "ExpandSpecs" >> beam.ParDo(_ExpandSpecFn(self._stage)).with_outputs(ERRORS, main="files"))
        files = (listed["files"]
                 | "KeyByFile" >> beam.Map(input_file_key)
                 | "DistinctFiles" >> beam.GroupByKey()
                 | "FirstOfFile" >> beam.Map(first_input_file))
        items = files | "SplitTrees" >> beam.FlatMap(split_input, shards=self._shards, claims_dir=self._claims_dir)
        if self._shards > 1:  # the local runner's workers: deal the items out in an order that balances them
            items = (items | "AllItems" >> beam.combiners.ToList()
                     | "OrderForWorkers" >> beam.FlatMap(order_for_workers))
        result = (items
                  | "SpreadFiles" >> beam.Reshuffle()
                  | "ReadFiles" >> beam.ParDo(_ReadInputFn(self._max_record_bytes, self._stage))
                  .with_outputs(ERRORS, REJECTED, main=RECORDS))
        records = result[RECORDS] | "SpreadRecords" >> beam.Reshuffle() if self._spread else result[RECORDS]
        errors = (listed[ERRORS], result[ERRORS]) | "FlattenReadErrors" >> beam.Flatten()
        return {RECORDS: records, ERRORS: errors, REJECTED: result[REJECTED]}
