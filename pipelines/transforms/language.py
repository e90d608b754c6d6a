"""The `language` stage: lid.176 over batches of documents, with the counters and outputs of `ApplyFilter`.

fastText's multi-line predict labels a list of lines in one C++ call; per-document calls pay the Python to C++
crossing and the result conversion each time. `FilterLanguage` groups documents with `beam.BatchElements`
(bounded batches: at most `max_batch` documents, so memory stays flat at any corpus size), runs
`LanguageFilter.apply_batch` once per batch and emits every document as kept, rejected (reason `language` or
`language_score`) or error, counted in `winnow.language` exactly as `pipelines.transforms.stages.ApplyFilter` counts. If a
batch call fails, its documents are retried one by one, so one bad document becomes one error row. The model
loads once per worker in `DoFn.setup()`.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Iterable, List

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from filters.language import LanguageFilter
from filters.stage_options import PositiveInt, checked_options
from pipelines.transforms.stages import ERRORS, REJECTED, ApplyFilterFn, batch_then_one_by_one, error_output
from schemas import to_rejected_row


class _LanguageBatchFn(ApplyFilterFn):
    """ApplyFilterFn over batches: one `apply_batch` call per batch."""

    def _emit(self, doc: Dict[str, Any], reason):
        c = self._counters
        if reason is None:
            c.kept.inc()
            return doc
        c.dropped(reason)
        return TaggedOutput(REJECTED, to_rejected_row(doc, self._stage, reason))

    def process(self, batch: List[Dict[str, Any]]) -> Iterable[Any]:
        c, f = self._counters, self._filter
        c.in_.inc(len(batch))
        start = time.perf_counter()
        todo = [d for d in batch if f.applies_to(d)]
        out = [self._emit(d, None) for d in batch if not f.applies_to(d)]
        for d, reason, exc in batch_then_one_by_one(todo, f.apply_batch, f.apply):
            out.append(self._emit(d, reason) if exc is None else error_output(c, self._stage, d, exc))
        c.micros.inc(int((time.perf_counter() - start) * 1e6))
        yield from out


@checked_options
class FilterLanguage(beam.PTransform):
    """lid.176 language filter over batches; outputs: main (kept), `rejected`, `errors`.

    Options are `filters.language.LanguageFilter`'s, plus `min_batch`/`max_batch` (documents per predict call).
    """

    # The stage its counters and rejected rows name: fixed, not an option (a recipe's `stage:` is refused as an
    # unknown option of LanguageFilter, which the other options go to).
    STAGE = "language"

    def __init__(self, min_batch: PositiveInt = 16, max_batch: PositiveInt = 512, **options: Any):
        super().__init__()
        if min_batch > max_batch:
            raise ValueError(f"need min_batch <= max_batch, got {min_batch}, {max_batch}")
        self._stage = self.STAGE
        self._filter = LanguageFilter(**options)
        self._min, self._max = int(min_batch), int(max_batch)

    def expand(self, docs):
        return (docs
                | "Batch" >> beam.BatchElements(min_batch_size=self._min, max_batch_size=self._max)
                | "Identify" >> beam.ParDo(_LanguageBatchFn(self._stage, self._filter)).with_outputs(
                    REJECTED, ERRORS, main="kept"))
