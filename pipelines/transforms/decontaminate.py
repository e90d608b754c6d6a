"""The `decontaminate` stage: remove or mark documents that share an n-gram with an evaluation set.

The evaluation n-grams are read and hashed once, when the stage is built (before the job starts: a missing
file or field fails there), into a `filters.decontam.DecontIndex`, a sorted uint64 array plus a uint16 set id
per n-gram (10 bytes per n-gram). The index travels to the workers inside the DoFn, as its constructor payload
(numpy arrays pickle as their raw bytes), so each worker holds one copy and checks documents with no shuffle:
the stage is one ParDo and scales with the corpus like any filter. Evaluation sets are small (all of MMLU's
~14k questions give ~1M n-grams, 10 MB); an index past a few hundred MB belongs in a file the workers read in
`setup()`, not in the job graph.

Actions (`action`):
- `drop`: a document with a matching n-gram becomes a rejected row, stage `decontaminate`, reason
  `contaminated`, detail `{"set": NAME, "ngram": "the matched words"}` (the first match in document order).
- `drop_lines`: every line a matching n-gram touches is removed; the document is kept (its text shortened,
  metadata `contaminated_set`, `contaminated_lines`) unless no word is left, then it is rejected as above.
- `mark`: the document is kept with metadata `contaminated_set` and `contaminated_ngram` and score
  `contaminated` = 1.0, so a later step (or a re-run with `drop`) can decide.

Counters (namespace `winnow.decontaminate`): the fixed `in`, `kept`, `dropped_contaminated`, `errors`, and per
evaluation set `contaminated_by_set:NAME` (documents found contaminated, attributed to the set of their first
match: for `drop` these sum to `dropped_contaminated`), `lines_removed_by_set:NAME` (drop_lines: lines removed, each
to the set of the first match touching it) and `marked`. report.json shows the per-set counts under the stage's
`contaminated_by_set` and `lines_removed_by_set` (pipelines/transforms/counters.py `breakdowns_by_stage`).
"""
from __future__ import annotations

import time
from typing import Annotated, Any, Dict, Iterable, List, Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from filters.decontam import (ACTIONS, MAX_NGRAM, REASON, DecontIndex, find_matches, load_index, normalize_words,
                              parse_eval_sets, remove_matched_lines)
from filters.stage_options import OneOf, OptionError, Range, checked_options
from pipelines.transforms.stages import ERRORS, REJECTED, StageCounters, error_output, metrics_namespace
from schemas import METADATA, SCORES, TEXT, to_rejected_row

STAGE = "decontaminate"
BY_SET = "contaminated_by_set"
LINES_BY_SET = "lines_removed_by_set"


class _DecontaminateFn(beam.DoFn):
    def __init__(self, index: DecontIndex, action: str):
        self._index = index
        self._action = action

    def setup(self):
        normalize_words("")  # builds the Unicode tables once per worker (~1 s), outside the stage's timing
        ns = metrics_namespace(STAGE)
        self._c = StageCounters(STAGE)
        self._by_set = {name: Metrics.counter(ns, f"{BY_SET}:{name}") for name in self._index.set_names}
        self._lines_by_set = {name: Metrics.counter(ns, f"{LINES_BY_SET}:{name}") for name in self._index.set_names}
        self._marked = Metrics.counter(ns, "marked")

    def _reject(self, doc: Dict[str, Any], set_name: str, ngram: str):
        self._c.dropped(REASON)
        return TaggedOutput(REJECTED, to_rejected_row(doc, STAGE, REASON, detail={"set": set_name, "ngram": ngram}))

    def _decide(self, doc: Dict[str, Any]) -> List[Any]:
        text = doc[TEXT]
        if not isinstance(text, str):
            raise TypeError(f"document text is {type(text).__name__}, not a string")
        if self._action == "drop_lines":
            new_text, removed, matches = remove_matched_lines(text, self._index)
        else:
            matches = find_matches(text, self._index, first_only=True)
        if not matches:
            self._c.kept.inc()
            return [doc]
        first = matches[0]
        self._by_set[first.set_name].inc()
        if self._action == "drop":
            return [self._reject(doc, first.set_name, first.ngram)]
        doc = dict(doc)  # a new element: Beam's inputs are not to be changed in place
        metadata = dict(doc.get(METADATA) or {})
        metadata["contaminated_set"] = first.set_name
        if self._action == "mark":
            self._marked.inc()
            metadata["contaminated_ngram"] = first.ngram
            scores = dict(doc.get(SCORES) or {})
            scores["contaminated"] = 1.0
            doc[SCORES] = scores
        else:  # drop_lines
            for set_name, lines in removed.items():
                self._lines_by_set[set_name].inc(lines)
            if not normalize_words(new_text):  # only punctuation left ("----"): no word, as the README says
                return [self._reject(doc, first.set_name, first.ngram)]
            metadata["contaminated_lines"] = str(sum(removed.values()))
            doc[TEXT] = new_text
        doc[METADATA] = metadata
        self._c.kept.inc()
        return [doc]

    def process(self, doc: Dict[str, Any]) -> Iterable[Any]:
        self._c.in_.inc()
        start = time.perf_counter()
        try:
            out = self._decide(doc)
        except Exception as exc:  # a bad record never kills the job: it becomes an error row
            out = [error_output(self._c, STAGE, doc, exc)]
        finally:
            self._c.micros.inc(int((time.perf_counter() - start) * 1e6))
        yield from out


@checked_options
class Decontaminate(beam.PTransform):
    """Drop, trim or mark documents sharing an `ngram`-word n-gram with an evaluation set; outputs main (kept),
    `rejected`, `errors`. `sets`: [{name, path, fields}] (filters.decontam.parse_eval_sets)."""

    def __init__(self, sets: List[Mapping[str, Any]],
                 ngram: Annotated[int, Range(1, MAX_NGRAM)] = 13,
                 action: Annotated[str, OneOf(*ACTIONS)] = "drop"):
        super().__init__()
        eval_sets = parse_eval_sets(sets)
        try:
            self._index = load_index(eval_sets, ngram)
        except (OSError, ValueError) as exc:
            raise OptionError("sets", f"could not be read: {exc}") from None
        index = self._index
        empty = {name: items for name, items, count in zip(index.set_names, index.items, index.ngrams) if not count}
        if empty:  # one set that gives nothing was accepted when another did: it checked nothing
            raise OptionError("sets", f"{', '.join(map(repr, empty))} hold{'s' if len(empty) == 1 else ''} no item "
                                      f"of {ngram} words or more (items read per set: {empty}); check the path, "
                                      f"the fields or lower ngram")
        self._action = action

    @property
    def index(self) -> DecontIndex:
        return self._index

    def expand(self, docs):
        out = docs | "Decontaminate" >> beam.ParDo(_DecontaminateFn(self._index, self._action)).with_outputs(
            REJECTED, ERRORS, main="kept")
        return {"kept": out.kept, REJECTED: out[REJECTED], ERRORS: out[ERRORS]}
