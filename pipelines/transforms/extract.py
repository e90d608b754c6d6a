"""Stage `extract`: the Beam shells around pipelines/ingest/html.py, which holds the extraction itself (what is
kept, what is dropped and why, the trafilatura settings, the caps and the per-page time limit) and
pipelines/ingest/engines.py, the extraction engines a recipe picks with `extract: {engine: NAME}` (default
`cascade`: resiliparse first, trafilatura as a second opinion).

`ExtractText` counts stage `extract` and routes `extract_record`'s decisions to its outputs main (`kept`
documents), `rejected` and `errors` (an exception becomes an error row; an engine's failure is a row whose `error` starts with the engine's name,
`resiliparse: ...`). Extraction is CPU-bound per record
with no shared state, so it scales linearly with workers (the read stage's Reshuffle spreads one file's
records over all of them). `AsDocuments` is the pass-through of recipes without an `extract` stage.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, Optional, Tuple

import apache_beam as beam

from pipelines.ingest.engines import EngineError
from pipelines.ingest.html import ExtractConfig, extract_record, record_as_document
from pipelines.transforms.stages import ERRORS, REJECTED, StageCounters, error_row_for, route_decision

EXTRACT_STAGE = "extract"


class _ExtractFn(beam.DoFn):
    def __init__(self, config: ExtractConfig):
        self._config = config

    def setup(self):
        import trafilatura  # noqa: F401  (load lxml and trafilatura's settings once per worker)

        if self._config.engine in ("cascade", "resiliparse"):
            import resiliparse.extract.html2text  # noqa: F401

        # trafilatura logs a page it cannot parse ("lxml parsing failed: Document is empty") as an ERROR; here
        # such a page is a counted `no_text` drop with its rejected row, so the line only clutters the terminal
        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
        self._counters = StageCounters(EXTRACT_STAGE)

    def _decide(self, raw: Dict[str, Any]) -> Tuple[Dict[str, Any], Optional[str]]:
        return extract_record(raw, self._config)

    def process(self, raw: Dict[str, Any]) -> Iterable[Any]:
        yield from route_decision(self._counters, EXTRACT_STAGE, raw, self._decide,
                                  lambda exc: error_row_for(EXTRACT_STAGE, raw, _named(exc)))


def _named(exc: BaseException):
    """An engine's failure as its own message (`resiliparse: TypeError: ...`), naming the engine first."""
    return str(exc) if isinstance(exc, EngineError) else exc


class ExtractText(beam.PTransform):
    """RawRecords -> documents (main `kept`), `rejected` rows and `errors` rows; counts stage `extract`.
    Keyword options are ExtractConfig's fields (the recipe's `extract:` mapping), `engine` among them: a name
    not among the engines, or an engine that cannot run here, fails when the recipe loads."""

    def __init__(self, **options: Any):
        super().__init__()
        self._config = ExtractConfig(**options)  # checks names, types and ranges (filters/stage_options.py)

    def expand(self, records):
        return records | "Extract" >> beam.ParDo(_ExtractFn(self._config)).with_outputs(
            REJECTED, ERRORS, main="kept")


class AsDocuments(beam.PTransform):
    """Records that already hold their text -> documents, one to one (recipes without `extract`): nothing is
    decided, so nothing is counted. `pipelines.jobs.recipe.check_inputs_need_no_extract` refuses web archive inputs
    to such a recipe before the job starts."""

    def expand(self, records):
        return records | "ToDocument" >> beam.Map(record_as_document)
