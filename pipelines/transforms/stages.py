"""The Beam shell around a pure decision: one counted, error-catching stage.

`ApplyFilter(stage, filter)` runs a `filters.base.DocumentFilter` over a PCollection of documents and
returns three outputs: kept documents (main), `rejected` rows (stage + reason) and `errors` rows (stage +
exception + input pointer). Every document that enters is counted once as `in` and once as exactly one of
`kept`, `dropped_<reason>` or `errors`, in the Beam metrics namespace `winnow.<stage>`; the time spent
in the stage accumulates in the `micros` counter. `pipelines.transforms.counters` reads those counters back
(`counters_by_stage`) and turns them into report.json entries (`stage_counts`). Stages that call a library
once per batch (language, MinHash signing, tokenize's encoder) use `batch_then_one_by_one` and
`error_output`, so they count and route exactly like `ApplyFilter`.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from schemas import ID, INPUT_OFFSET, INPUT_PATH, SOURCE, URL, to_error_row, to_rejected_row

REJECTED = "rejected"
ERRORS = "errors"
METRICS_PREFIX = "winnow."


def metrics_namespace(stage: str) -> str:
    return METRICS_PREFIX + stage


class StageCounters:
    """The fixed counter names of one stage: in, kept, dropped_<reason>, errors, micros."""

    def __init__(self, stage: str):
        self.namespace = metrics_namespace(stage)
        self.in_ = Metrics.counter(self.namespace, "in")
        self.kept = Metrics.counter(self.namespace, "kept")
        self.errors = Metrics.counter(self.namespace, "errors")
        self.micros = Metrics.counter(self.namespace, "micros")
        self._named: Dict[str, Any] = {}  # dropped_<reason> and other named counters

    def dropped(self, reason: str, n: int = 1) -> None:
        self.count("dropped_" + reason, n)

    def count(self, name: str, n: int = 1) -> None:
        """Counter `name` of this stage (made on first use)."""
        counter = self._named.get(name)
        if counter is None:
            counter = self._named[name] = Metrics.counter(self.namespace, name)
        counter.inc(n)


def error_row_for(stage: str, doc: Dict[str, Any], exc: BaseException) -> Dict[str, Any]:
    return to_error_row(stage, exc, doc_id=doc.get(ID), source=doc.get(SOURCE), url=doc.get(URL),
                        input_path=doc.get(INPUT_PATH), input_offset=doc.get(INPUT_OFFSET))


def error_output(counters: StageCounters, stage: str, doc: Dict[str, Any], exc: BaseException) -> TaggedOutput:
    """Count one failed record of `stage` and return its `errors` row as a tagged output."""
    counters.errors.inc()
    return TaggedOutput(ERRORS, error_row_for(stage, doc, exc))


def batch_then_one_by_one(items: Sequence[Any], call_batch: Callable[[Sequence[Any]], Sequence[Any]],
                          call_one: Optional[Callable[[Any], Any]] = None,
                          ) -> List[Tuple[Any, Any, Optional[Exception]]]:
    """(item, result, None) or (item, None, exception) for each item, in order.

    One `call_batch(items)` (one result per item) pays the per-call cost once; if it raises, each item is retried
    alone with `call_one(item)` (default `call_batch([item])[0]`), so one bad record fails alone and the others
    of its batch still go through."""
    if not items:
        return []
    try:
        results = list(call_batch(items))
        if len(results) != len(items):
            raise ValueError(f"a batch call returned {len(results)} results for {len(items)} records")
        return [(item, result, None) for item, result in zip(items, results)]
    except Exception:  # find the bad record(s) one by one below
        pass
    one = call_one if call_one is not None else (lambda item: call_batch([item])[0])
    out: List[Tuple[Any, Any, Optional[Exception]]] = []
    for item in items:
        try:
            out.append((item, one(item), None))
        except Exception as exc:  # a bad record never kills the job: the caller makes it an error row
            out.append((item, None, exc))
    return out


def route_decision(counters: StageCounters, stage: str, item: Any,
                   decide: Callable[[Any], Tuple[Dict[str, Any], Optional[str]]],
                   error_row: Callable[[BaseException], Dict[str, Any]]) -> Iterable[Any]:
    """Count `item` into `stage` and route what `decide(item)` returns: (doc, None) -> kept (main output),
    (doc, reason) -> a `rejected` row, an exception -> an `errors` row built by `error_row(exc)`."""
    counters.in_.inc()
    start = time.perf_counter()
    try:
        doc, reason = decide(item)
    except Exception as exc:  # a bad record never kills the job: it becomes an error row
        counters.errors.inc()
        yield TaggedOutput(ERRORS, error_row(exc))
        return
    finally:
        counters.micros.inc(int((time.perf_counter() - start) * 1e6))
    if reason is None:
        counters.kept.inc()
        yield doc
    else:
        counters.dropped(reason)
        yield TaggedOutput(REJECTED, to_rejected_row(doc, stage, reason))


FAILED = object()  # what count_and_compute returns after it has emitted an error row


def count_and_compute(counters: StageCounters, stage: str, doc: Dict[str, Any],
                      compute: Callable[[Dict[str, Any]], Any]) -> Iterable[Any]:
    """Count `doc` into `stage` and return `compute(doc)` (use as `value = yield from ...`); on an exception,
    emit the `errors` row, count it, and return FAILED. For stages that key documents before deciding."""
    counters.in_.inc()
    start = time.perf_counter()
    try:
        return compute(doc)
    except Exception as exc:  # a bad record never kills the job: it becomes an error row
        counters.errors.inc()
        yield TaggedOutput(ERRORS, error_row_for(stage, doc, exc))
        return FAILED
    finally:
        counters.micros.inc(int((time.perf_counter() - start) * 1e6))


class ApplyFilterFn(beam.DoFn):
    """Counted filter DoFn: one DocumentFilter per worker (set up once), kept / rejected / error outputs."""

    def __init__(self, stage: str, doc_filter):
        self._stage = stage
        self._filter = doc_filter
        self._counters = None

    def setup(self):
        self._counters = StageCounters(self._stage)
        self._filter.setup()

    def _decide(self, doc: Dict[str, Any]) -> Tuple[Dict[str, Any], Optional[str]]:
        return doc, (self._filter.apply(doc) if self._filter.applies_to(doc) else None)

    def process(self, doc: Dict[str, Any]) -> Iterable[Any]:
        yield from route_decision(self._counters, self._stage, doc, self._decide,
                                  lambda exc: error_row_for(self._stage, doc, exc))


class ApplyFilter(beam.PTransform):
    """Run one DocumentFilter as a counted stage; outputs: main (kept), `rejected`, `errors`."""

    def __init__(self, stage: str, doc_filter):
        super().__init__(label=None)
        self._stage = stage
        self._filter = doc_filter

    def expand(self, docs):
        return docs | "Apply" >> beam.ParDo(ApplyFilterFn(self._stage, self._filter)).with_outputs(
            REJECTED, ERRORS, main="kept")
