"""Beam side of pipelines/runtime/progress.py: `CountProgress`, a pass-through step that feeds a local reporter.

Apart from progress.py so that the offline tools (`winnow stats`) import Progress without apache_beam.
"""
from __future__ import annotations

import apache_beam as beam

from pipelines.runtime.progress import reporter


class _CountFn(beam.DoFn):
    """Adds the elements of each bundle to a process-local reporter, if one is registered (in_memory runs)."""

    def __init__(self, name: str, counter: str):
        self._name, self._counter = name, counter
        self._pending = 0

    def start_bundle(self):
        self._pending = 0

    def process(self, element):
        self._pending += 1
        if self._pending >= 256:  # one registry lookup per 256 elements, not per element
            self._flush()
        yield element

    def finish_bundle(self):
        self._flush()

    def _flush(self) -> None:
        rep = reporter(self._name)
        if rep is not None and self._pending:
            rep.add(self._counter, self._pending)
        self._pending = 0


class CountProgress(beam.PTransform):
    """Pass-through step: `pcoll | "ProgressRead" >> CountProgress("curate", "read")`."""

    def __init__(self, name: str, counter: str):
        super().__init__()
        self._name, self._counter = name, counter

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_CountFn(self._name, self._counter))
